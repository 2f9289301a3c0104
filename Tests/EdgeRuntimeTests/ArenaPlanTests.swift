import EdgeRuntime
import Testing

/// The greedy arena planner: buffers reuse memory once dead, live buffers never overlap, reshapes
/// share bytes, and validation rejects corrupted plans.
@Suite struct ArenaPlanTests {
    /// input [8, 16] -> linear 32 -> relu -> linear 16 -> reshape [128] (output), plus a side branch.
    static func chainGraph() throws -> Graph {
        let graph = Graph()
        let x = graph.input("x", shape: [8, 16])
        let w1 = try graph.constant("w1", shape: [32, 16], values: (0..<512).map { Float($0 % 7) * 0.01 })
        let b1 = try graph.constant("b1", shape: [32], values: Array(repeating: 0.1, count: 32))
        let w2 = try graph.constant("w2", shape: [16, 32], values: (0..<512).map { Float($0 % 5) * -0.02 })
        let b2 = try graph.constant("b2", shape: [16], values: Array(repeating: 0, count: 16))
        let h = try graph.add(.linear(activation: .none), [x, w1, b1], name: "fc1")
        let r = try graph.add(.unary(.relu), [h], name: "relu")
        let y = try graph.add(.linear(activation: .none), [r, w2, b2], name: "fc2")
        let s = try graph.add(.binary(.add), [y, x], name: "residual")
        let flat = try graph.add(.reshape([128]), [s], name: "flatten")
        graph.markOutput("out", flat)
        return graph
    }

    @Test func planIsValidAndReusesMemory() throws {
        let graph = try Self.chainGraph()
        let plan = ArenaPlanner.plan(graph)
        try ArenaPlanner.validate(plan, for: graph)
        let total = ArenaPlanner.buffers(of: graph).reduce(0) { $0 + $1.bytes }
        #expect(plan.size < total, "plan \(plan.size) bytes should reuse memory (sum of buffers \(total))")
        // The reshape shares the residual's bytes; constants are outside the arena.
        let residual = graph.values.firstIndex { $0.name == "residual" }!
        let flatten = graph.values.firstIndex { $0.name == "flatten" }!
        #expect(plan.offsets[residual] == plan.offsets[flatten])
        #expect(plan.offsets[graph.values.firstIndex { $0.name == "w1" }!] == -1)
        #expect(ArenaPlanner.describe(plan, for: graph).contains("fc1"))
    }

    @Test func overlappingLiveBuffersAreRejected() throws {
        let graph = try Self.chainGraph()
        var plan = ArenaPlanner.plan(graph)
        let fc1 = graph.values.firstIndex { $0.name == "fc1" }!
        let relu = graph.values.firstIndex { $0.name == "relu" }!
        plan.offsets[relu] = plan.offsets[fc1]  // alive together: relu reads fc1
        #expect(throws: ModelFileError.overlappingBuffers(first: "fc1", second: "relu")) {
            try ArenaPlanner.validate(plan, for: graph)
        }
    }

    @Test func outOfArenaAndMisalignedOffsetsAreRejected() throws {
        let graph = try Self.chainGraph()
        var plan = ArenaPlanner.plan(graph)
        let relu = graph.values.firstIndex { $0.name == "relu" }!
        plan.offsets[relu] = plan.size
        #expect(throws: ModelFileError.self) { try ArenaPlanner.validate(plan, for: graph) }
        plan = ArenaPlanner.plan(graph)
        plan.offsets[relu] += 4
        #expect(throws: ModelFileError.self) { try ArenaPlanner.validate(plan, for: graph) }
    }

    @Test func executorRunsFromTheArenaAndRepeatsExactly() throws {
        let graph = try Self.chainGraph()
        let input = (0..<128).map { Float($0) * 0.03 - 1 }
        let single = try GraphExecutor(graph: graph)
        let first = try single.run(input: input)
        let second = try single.run(input: input)
        #expect(first[0].values == second[0].values)
        let threaded = try GraphExecutor(graph: graph, threads: 3)
        #expect(try threaded.run(input: input)[0].values == first[0].values)
        // out = fc2(relu(fc1(x))) + x, checked against a direct evaluation.
        var expected = [Float](repeating: 0, count: 128)
        for row in 0..<8 {
            var hidden = [Float](repeating: 0, count: 32)
            for o in 0..<32 {
                var sum: Float = 0.1
                for i in 0..<16 { sum += input[row * 16 + i] * Float((o * 16 + i) % 7) * 0.01 }
                hidden[o] = max(sum, 0)
            }
            for o in 0..<16 {
                var sum: Float = 0
                for i in 0..<32 { sum += hidden[i] * Float((o * 32 + i) % 5) * -0.02 }
                expected[row * 16 + o] = sum + input[row * 16 + o]
            }
        }
        for (got, want) in zip(first[0].values, expected) { #expect(abs(got - want) <= 1e-5 * max(1, abs(want))) }
    }
}
