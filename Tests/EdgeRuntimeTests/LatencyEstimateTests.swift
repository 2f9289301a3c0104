@testable import EdgeRuntime
import Kernels
import Testing

/// `Graph.estimatedLatency` (LatencyEstimate.swift): the board model's arithmetic on graphs small
/// enough to work out by hand.
@Suite("Board latency estimate")
struct LatencyEstimateTests {
    /// A float linear [rows, depth] x [columns, depth]^T and its int8 twin, side by side.
    private static func linearPair(rows: Int, depth: Int, columns: Int) throws -> (Graph, float: Node, int8: Node) {
        let graph = Graph()
        let x = graph.input("x", shape: [rows, depth])
        let weight = try graph.constant("w", shape: [columns, depth], values: [Float](repeating: 0.5, count: columns * depth))
        let bias = try graph.constant("b", shape: [columns], values: [Float](repeating: 0, count: columns))
        let float = try graph.add(.linear(activation: .none), [x, weight, bias], name: "float")
        let q = try graph.add(.quantize, [x], name: "q", quantization: Int8Quantization(scale: 0.1, zeroPoint: 0))
        let int8Weight = try graph.constant("w8", shape: [columns, depth], storage: ConstantStorage(int8: [Int8](repeating: 1, count: columns * depth)))
        let int8Bias = try graph.constant("b8", shape: [columns], storage: ConstantStorage(int32: [Int32](repeating: 0, count: columns)))
        let scales = try graph.constant("s", shape: [columns], values: [Float](repeating: 0.01, count: columns))
        let int8 = try graph.add(.quantizedLinear(activation: .none), [q, int8Weight, int8Bias, scales], name: "int8")
        graph.markOutput("float", float)
        graph.markOutput("int8", int8)
        return (graph, graph.nodes[0], graph.nodes[2])
    }

    /// A GEMM whose rows and columns fill the tiles costs MACs / (MACs per cycle x efficiency) cycles
    /// split over the threads, plus the dispatch overhead.
    @Test func aTileAlignedGEMMCostsItsMACsAtTheKernelRate() throws {
        let (graph, float, int8) = try Self.linearPair(rows: 96, depth: 256, columns: 64)
        for board in BoardModel.all {
            let macs = Double(96 * 256 * 64)
            let int8Estimate = graph.estimatedLatency(of: int8, on: board, threads: 1)
            #expect(int8Estimate.estimateClass == .int8GEMM)
            let expected = macs / (board.int8MACsPerCycle * BoardModel.gemmEfficiency) / board.clockHz
            #expect(abs(int8Estimate.computeSeconds - expected) < 1e-12 * max(1, expected) + 1e-15)
            #expect(int8Estimate.seconds == max(int8Estimate.computeSeconds, int8Estimate.memorySeconds) + BoardModel.nodeSeconds)
            let floatEstimate = graph.estimatedLatency(of: float, on: board, threads: 1)
            #expect(floatEstimate.estimateClass == .floatGEMM)
            #expect(abs(floatEstimate.computeSeconds - macs / (board.floatMACsPerCycle * BoardModel.gemmEfficiency) / board.clockHz) < 1e-12)
            // The point of int8 on these cores: two to three times the float rate.
            #expect(floatEstimate.computeSeconds > 1.9 * int8Estimate.computeSeconds)
            // Four threads split the work four ways; more than the board's cores change nothing.
            let four = graph.estimatedLatency(of: int8, on: board, threads: 4)
            #expect(abs(four.computeSeconds * 4 - int8Estimate.computeSeconds) < 1e-12)
            #expect(graph.estimatedLatency(of: int8, on: board, threads: 64).computeSeconds == four.computeSeconds)
        }
    }

    /// Rows and columns are padded to the board's int8 tile: one row costs what a full tile row does.
    @Test func raggedShapesArePaddedToTheTile() throws {
        let (graph, _, int8) = try Self.linearPair(rows: 1, depth: 64, columns: 17)
        let full = try Self.linearPair(rows: BoardModel.rpi5.int8Tile.rows, depth: 64, columns: 32)
        #expect(graph.estimatedLatency(of: int8, on: .rpi5, threads: 1).computeSeconds
                == full.0.estimatedLatency(of: full.int8, on: .rpi5, threads: 1).computeSeconds)
    }

    /// Ops priced by their bytes: a large element-wise add is memory-bound at the board's bandwidth,
    /// a reshape is free, and the whole-graph estimate is the sum of its nodes.
    @Test func elementWiseOpsArePricedByTheirBytes() throws {
        let graph = Graph()
        let a = graph.input("a", shape: [1024, 1024])
        let b = graph.input("b", shape: [1024, 1024])
        let sum = try graph.add(.binary(.add), [a, b], name: "sum")
        let flat = try graph.add(.reshape([1024 * 1024]), [sum], name: "flat")
        graph.markOutput("flat", flat)
        let estimates = graph.estimatedLatency(on: .rpi4, threads: 4)
        let bytes = Double(3 * 1024 * 1024 * 4)
        #expect(estimates[0].estimateClass == .arithmetic)
        #expect(abs(estimates[0].memorySeconds - bytes / BoardModel.rpi4.memoryBytesPerSecond) < 1e-12)
        #expect(estimates[0].memorySeconds > estimates[0].computeSeconds)
        #expect(estimates[1].estimateClass == .free && estimates[1].seconds == 0)
        // A small one stays in the cache and runs at the cache's rate.
        let small = Graph()
        let c = small.input("c", shape: [16, 16])
        _ = try small.add(.binary(.add), [c, c], name: "double")
        let smallEstimate = small.estimatedLatency(on: .rpi4, threads: 1)[0]
        #expect(abs(smallEstimate.memorySeconds - Double(3 * 256 * 4) / BoardModel.rpi4.cacheBytesPerSecond) < 1e-15)
    }

    /// The constant subgraphs cost nothing: the executor runs them once at load.
    @Test func constantSubgraphsAreFree() throws {
        let graph = try ConstantSubgraphTests.graph()
        let estimates = graph.estimatedLatency(on: .rpi5, threads: 4)
        let folded = try GraphExecutor(graph: graph).foldedNodes
        #expect(!folded.isEmpty)
        for index in folded { #expect(estimates[index].estimateClass == .free && estimates[index].seconds == 0) }
        let fc3 = try #require(graph.nodes.firstIndex { $0.name == "fc3" })
        #expect(estimates[fc3].estimateClass == .floatGEMM && estimates[fc3].seconds > 0)
    }

    @Test func boardsAreFoundByName() {
        #expect(BoardModel.named("rpi4")?.cores == 4 && BoardModel.named("rpi5")?.int8Tile.columns == 16)
        #expect(BoardModel.named("rpi3") == nil)
    }
}
