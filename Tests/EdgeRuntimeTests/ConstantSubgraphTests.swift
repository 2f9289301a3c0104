import EdgeRuntime
import Testing

/// Constant subgraphs (nodes whose inputs are all constants or their results) run once when the
/// executor is built: every run then gives the same bits as an executor that computes them each time,
/// even though the arena reuses the memory of everything else between runs.
@Suite struct ConstantSubgraphTests {
    /// query [6, 8] (constant) -> linear -> relu -> linear -> reshape [6, 8] (the folded part), added to the
    /// per-run input, then a linear that reuses the arena; the constant branch is also a graph output.
    static func graph() throws -> Graph {
        let graph = Graph()
        let x = graph.input("x", shape: [6, 8])
        let query = try graph.constant("query", shape: [6, 8], values: (0..<48).map { Float($0 % 11) * 0.1 - 0.4 })
        let w1 = try graph.constant("w1", shape: [16, 8], values: (0..<128).map { Float($0 % 7) * 0.05 - 0.1 })
        let b1 = try graph.constant("b1", shape: [16], values: (0..<16).map { Float($0) * 0.01 })
        let w2 = try graph.constant("w2", shape: [8, 16], values: (0..<128).map { Float($0 % 5) * -0.03 + 0.05 })
        let b2 = try graph.constant("b2", shape: [8], values: Array(repeating: 0.2, count: 8))
        let hidden = try graph.add(.linear(activation: .relu), [query, w1, b1], name: "position.fc1")
        let position = try graph.add(.linear(activation: .none), [hidden, w2, b2], name: "position.fc2")
        let flat = try graph.add(.reshape([48]), [position], name: "position.flat")
        let shaped = try graph.add(.reshape([6, 8]), [flat], name: "position.shaped")
        let sum = try graph.add(.binary(.add), [x, shaped], name: "sum")
        let wide = try graph.add(.linear(activation: .relu), [sum, w1, b1], name: "fc3")
        let mixed = try graph.add(.linear(activation: .none), [wide, w2, b2], name: "fc4")
        graph.markOutput("mixed", mixed)
        graph.markOutput("wide", wide)
        graph.markOutput("position", flat)
        return graph
    }

    @Test(arguments: [1, 3])
    func foldedRunsEqualUnfoldedOnes(threads: Int) throws {
        let graph = try Self.graph()
        let folding = try GraphExecutor(graph: graph, threads: threads)
        let plain = try GraphExecutor(graph: graph, threads: threads, foldsConstantSubgraphs: false)
        #expect(folding.foldedNodes.map { graph.nodes[$0].name } == ["position.fc1", "position.fc2", "position.flat", "position.shaped"])
        #expect(plain.foldedNodes.isEmpty)
        // The kept buffer (fc2 and its two reshapes share one: 48 floats) lives beside the arena.
        #expect(folding.workingBytes == plain.workingBytes + 192)
        for run in 0..<3 {
            let input = (0..<48).map { Float(($0 * 7 + run * 3) % 13) * 0.25 - 1 }
            let expected = try plain.run(input: input)
            var ran: [Int] = []
            let got = try folding.run(input: input) { ran.append($0) }
            #expect(ran.count == graph.nodes.count)
            for (a, b) in zip(expected, got) {
                #expect(a.name == b.name && a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "run \(run): \(a.name)")
            }
        }
    }

    @Test func aGraphWithoutConstantSubgraphsFoldsNothing() throws {
        let graph = try ArenaPlanTests.chainGraph()
        let executor = try GraphExecutor(graph: graph)
        #expect(executor.foldedNodes.isEmpty)
        #expect(executor.workingBytes == (try GraphExecutor(graph: graph, foldsConstantSubgraphs: false)).workingBytes)
    }
}
