@testable import EdgeRuntime
import Foundation
import Kernels
import Testing

/// Regression tests for the classes of hostile input the fuzzers and the review found in the runtime
/// (docs/FUZZING.md): each once trapped, allocated without bound or answered wrongly with success.
@Suite struct HostileInputTests {
    /// A valid 2100x8 image resized for a model whose shortest edge is 96 and longest 128: the short
    /// side rounds to 0 px, which once reached the resize as an infinite filter scale and trapped.
    @Test func extremeAspectRatioIsRefusedBeforeTheResize() throws {
        let config = PreprocessConfig(resize: .shortestEdge(shortest: 96, longest: 128), rescaleFactor: 1 / 255,
                                      mean: [0.485, 0.456, 0.406], standardDeviation: [0.229, 0.224, 0.225])
        let thin = try RGBImage(width: 2100, height: 8)
        #expect(throws: PreprocessError.resizeOutOfRange(width: 2100, height: 8, resizedHeight: 0, resizedWidth: 128)) {
            _ = try Preprocess.pixelValues(thin, config: config)
        }
        let tall = try RGBImage(width: 8, height: 2100)
        #expect(throws: PreprocessError.self) { _ = try Preprocess.pixelValues(tall, config: config) }
        // The size rule itself never traps, whatever it is given.
        for (height, width) in [(0, 0), (0, 100), (1, Int(Int32.max)), (Int(Int32.max), 1)] {
            _ = config.outputSize(height: height, width: width)
            _ = PreprocessConfig(resize: .maxHeightWidth(height: 4096, width: 4096), rescaleFactor: nil, mean: nil,
                                 standardDeviation: nil).outputSize(height: height, width: width)
        }
    }

    /// Boxes of a broken model (NaN, infinities, 1e30) drawn with `--draw`: `Int(Float)` trapped.
    @Test func drawingCoordinatesNeverTrap() {
        #expect(pixelCoordinate(.nan) == 0)
        #expect(pixelCoordinate(.infinity) == 1_000_000)
        #expect(pixelCoordinate(-.infinity) == -1_000_000)
        #expect(pixelCoordinate(1e30) == 1_000_000)
        #expect(pixelCoordinate(12.6) == 13)
    }

    /// Shape rules on dimensions from a file: a reshape to four dimensions of 2^30 overflowed Int in
    /// the element count and trapped.
    @Test func shapeArithmeticOverflowIsAnError() throws {
        let graph = Graph()
        let input = graph.input("x", shape: [8, 8, 3])
        #expect(throws: GraphError.self) { try graph.add(.reshape([1 << 30, 1 << 30, 1 << 30, 1 << 30]), [input], name: "huge") }
        #expect(throws: GraphError.self) { try graph.add(.reshape([1 << 31, 1 << 31, 0, 5]), [input], name: "zero") }
        #expect(try graph.add(.reshape([192, 1]), [input], name: "flat").index == 1)
        // 2^33 elements: within Int, over the per-value limit.
        #expect(checkedElementCount([1 << 32, 2]) == nil)
        #expect(checkedElementCount([192, 1]) == 192)
        #expect(checkedProduct([1 << 62, 4]) == nil)
        #expect(checkedProduct([3, -1]) == nil)
    }

    /// The model file fuzzer rewired a dequantize to read an int8 weight constant, which has no scale
    /// or zero point: the executor unwrapped nil. Ops that read int8 activations now refuse constants.
    @Test func int8ActivationInputsMustCarryAQuantization() throws {
        let graph = Graph()
        let weight = try graph.constant("w", shape: [2, 2], storage: ConstantStorage(int8: [1, 2, 3, 4]))
        #expect(throws: GraphError.self) { try graph.add(.dequantize, [weight], name: "dequantize") }
        let input = graph.input("x", shape: [2, 2, 3])
        let activation = try graph.add(.quantize, [input], name: "q", quantization: Int8Quantization(scale: 0.5, zeroPoint: 3))
        #expect(try graph.add(.dequantize, [activation], name: "ok").index == 3)
    }

    /// Generated constants and weight-only int8 weights are materialized at load: their sum is
    /// bounded before any is allocated (several values may share one recipe of a few bytes).
    @Test func materializedConstantsHaveOneBudget() {
        var used = 0
        #expect(ModelFile.reserveMaterialized([1 << 26, 2], used: &used, limit: 1 << 30))
        #expect(used == 1 << 29)
        #expect(ModelFile.reserveMaterialized([1 << 26, 2], used: &used, limit: 1 << 30))
        #expect(!ModelFile.reserveMaterialized([1], used: &used, limit: 1 << 30))
        #expect(used == 1 << 30)
        var fresh = 0
        #expect(!ModelFile.reserveMaterialized([1 << 40, 1 << 40], used: &fresh))
        #expect(fresh == 0)
    }

    /// A graph whose attention would need more than `RuntimeLimits.maximumWorkingBytes` of scratch
    /// (here 2^24 keys: 1 GiB of probabilities) is refused before the arena or scratch is allocated: the
    /// float attention by the executor's plan, the dynamic int8 one already by its shape rule (at most
    /// 2^16 keys, which its int32 sums hold).
    @Test(arguments: [GraphOperation.attention(heads: 1, scale: 1), .dynamicQuantizedAttention(heads: 1, scale: 1)])
    func workingMemoryIsBoundedBeforeAllocation(_ attention: GraphOperation) throws {
        let graph = Graph()
        let input = graph.input("x", shape: [4096, 4096, 3])
        let keys = try graph.add(.reshape([4096 * 4096, 3]), [input], name: "keys")
        let query = try graph.constant("q", shape: [16, 3], values: [Float](repeating: 0, count: 48))
        if case .dynamicQuantizedAttention = attention {
            #expect(throws: GraphError.self) { try graph.add(attention, [query, keys, keys], name: "out") }
            let fewer = try graph.add(.reshape([1 << 16, 768]), [input], name: "fewer")
            #expect(try graph.add(attention, [query, try graph.add(.sliceColumns(start: 0, count: 3), [fewer], name: "k"), fewer],
                                  name: "allowed").index > 0)
            return
        }
        let output = try graph.add(attention, [query, keys, keys], name: "out")
        graph.markOutput("out", output)
        #expect(throws: ExecutionError.self) { _ = try GraphExecutor(graph: graph) }
    }
}
