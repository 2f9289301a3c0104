@testable import EdgeRuntime
import Kernels
import Testing

/// Named operands (Operands.swift) and the prepared executor's handling of nodes the old positional
/// code got wrong silently.
@Suite("Operands and prepared nodes")
struct OperandTests {
    private static let levels = [LevelShape(height: 2, width: 2)]

    /// The table agrees with the input order each op documents in Operation.swift.
    @Test func namedOperandsFollowTheDocumentedOrder() {
        let layers: [(GraphOperation, [Operand?])] = [
            (.conv2d(stride: 1, padding: 0, activation: .none), [.x, .weight, .bias, .residual, nil]),
            (.linear(activation: .relu), [.x, .weight, .bias, .residual, nil]),
            (.quantizedLinear(activation: .none), [.x, .weight, .bias, .scales, .residual, nil]),
            (.dynamicQuantizedLinear(activation: .relu), [.x, .weight, .bias, .scales, .residual, nil]),
            (.dynamicQuantizedLinear(activation: .none, sumsInput: true), [.x, .addend, .weight, .bias, .scales, .residual, nil]),
            (.quantizedConv2d(stride: 2, padding: 1, activation: .relu), [.x, .weight, .bias, .scales, .residual, nil]),
            (.layerNorm(epsilon: 1e-5), [.x, .gamma, .beta, .residual, nil]),
            (.groupNorm(groups: 2, epsilon: 1e-5), [.x, .gamma, .beta, nil]),
            (.binary(.multiply), [.x, .other, nil]),
            (.unary(.prelu), [.x, .alpha, nil]),
            (.unary(.sigmoid), [.x, nil]),
            (.attention(heads: 2, scale: 1), [.x, .keys, .values, nil]),
            (.dynamicQuantizedAttention(heads: 8, scale: 0.125), [.x, .keys, .values, nil]),
            (.deformableSampling(levels: Self.levels, heads: 1, points: Array(repeating: 1, count: Self.levels.count), method: .bilinear), [.x, .locations, .samplingWeights, nil]),
            (.quantizedDeformableSampling(levels: Self.levels, heads: 1, points: Array(repeating: 1, count: Self.levels.count), method: .discrete, inputs: .weightLogits), [.x, .locations, .samplingWeights, nil]),
            (.quantizedDeformableSampling(levels: Self.levels, heads: 1, points: Array(repeating: 1, count: Self.levels.count), method: .bilinear, inputs: .locationOffsets), [.x, .reference, .offsets, .samplingWeights, nil]),
            (.quantizedUnary(.silu), [.x, nil]),
            (.quantizedUnary(.prelu), [.x, .alpha, nil]),
            (.deformableLocations(levels: Self.levels, heads: 1, points: Array(repeating: 1, count: Self.levels.count)), [.x, .offsets, nil]),
            (.interleaveHeads(heads: 2), [.x, .other, nil]),
            (.topRows(count: 1, score: .column(0)), [.x, .rows, nil]),
            (.concatenateRows, [.x, .x, .x]),
            (.quantize, [.x, nil]),
            (.dequantize, [.x, nil]),
            (.depthwiseConv2d(stride: 1, padding: 1, activation: .relu), [.x, .weight, .bias, nil]),
            (.quantizedDepthwiseConv2d(stride: 2, padding: 1, activation: .none), [.x, .weight, .bias, .scales, nil]),
            (.pad2d(top: 0, left: 0, bottom: 1, right: 1), [.x, nil]),
            (.clamp(minimum: -1, maximum: 1), [.x, nil]),
            (.distanceToBox(regScale: 4), [.x, .distances, nil]),
            (.groupWeightedSum(groupSize: 33), [.x, .weight, nil]),
            (.topValuesWithMean(groupSize: 33, count: 4), [.x, nil]),
            (.rmsNorm(epsilon: 1e-6), [.x, .gamma, .residual, nil]),
            (.columnMeans, [.x, nil]),
        ]
        for (operation, operands) in layers {
            for (position, operand) in operands.enumerated() {
                #expect(operation.operand(at: position) == operand, "\(operation.kindName) input \(position)")
            }
        }
    }

    @Test func nodesAnswerByOperandNameAndLeaveOutOptionalOnes() throws {
        let graph = Graph()
        let x = graph.input("x", shape: [2, 3])
        let weight = try graph.constant("w", shape: [4, 3], values: [Float](repeating: 0.5, count: 12))
        let bias = try graph.constant("b", shape: [4], values: [0, 1, 2, 3])
        let residual = try graph.constant("r", shape: [2, 4], values: [Float](repeating: 1, count: 8))
        let plain = try graph.add(.linear(activation: .none), [x, weight, bias], name: "plain")
        let summed = try graph.add(.linear(activation: .none), [x, weight, bias, residual], name: "summed")
        let nodes = graph.nodes
        #expect(nodes[0].x == x && nodes[0][.weight] == weight && nodes[0][.bias] == bias)
        #expect(nodes[0][.residual] == nil && nodes[0][.gamma] == nil)
        #expect(nodes[1][.residual] == residual)
        #expect(graph.multiplyAccumulates(of: nodes[0]) == 2 * 4 * 3)
        graph.markOutput("plain", plain)
        graph.markOutput("summed", summed)
        let results = try GraphExecutor(graph: graph).run(input: [Float](repeating: 1, count: 6))
        #expect(results[0].values == [1.5, 2.5, 3.5, 4.5, 1.5, 2.5, 3.5, 4.5])
        #expect(results[1].values == [2.5, 3.5, 4.5, 5.5, 2.5, 3.5, 4.5, 5.5])
    }

    /// A reshape of a constant used to run nothing and leave its arena bytes unwritten.
    @Test func aReshapeOfAConstantCopiesIt() throws {
        let graph = Graph()
        let x = graph.input("x", shape: [1, 6])
        let table = try graph.constant("table", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let flat = try graph.add(.reshape([1, 6]), [table], name: "flat")
        let sum = try graph.add(.binary(.add), [x, flat], name: "sum")
        graph.markOutput("sum", sum)
        let results = try GraphExecutor(graph: graph).run(input: [10, 20, 30, 40, 50, 60])
        #expect(results[0].values == [11, 22, 33, 44, 55, 66])
    }

    /// An int8 residual on a float-output int8 layer used to be dropped without a word.
    @Test func anInt8ResidualNeedsAnInt8Output() throws {
        let graph = Graph()
        let x = graph.input("x", shape: [2, 4])
        let quantization = Int8Quantization(scale: 0.1, zeroPoint: 0)
        let q = try graph.add(.quantize, [x], name: "q", quantization: quantization)
        let weight = try graph.constant("w", shape: [4, 4], storage: ConstantStorage(int8: [Int8](repeating: 1, count: 16)))
        let bias = try graph.constant("b", shape: [4], storage: ConstantStorage(int32: [0, 0, 0, 0]))
        let scales = try graph.constant("s", shape: [4], values: [0.01, 0.01, 0.01, 0.01])
        let output = try graph.add(.quantizedLinear(activation: .none), [q, weight, bias, scales, q], name: "layer")
        graph.markOutput("layer", output)
        do {
            _ = try GraphExecutor(graph: graph)
            Issue.record("a float-output int8 layer with an int8 residual was accepted")
        } catch {
            #expect(error == .malformedNode(node: "layer", detail: "an int8 residual needs an int8 output"))
        }
    }
}

/// `upsampleNearest`, the first op added through the prepared-node layout (docs/OPS.md): shape rule,
/// file encoding, float and int8 execution.
@Suite("Nearest upsampling op")
struct UpsampleNearestOpTests {
    @Test func shapeRuleAndRefusals() throws {
        #expect(try GraphOperation.upsampleNearest(factor: 2).outputShape(inputs: [[3, 5, 7]], node: "up") == [6, 10, 7])
        #expect(throws: GraphError.self) { try GraphOperation.upsampleNearest(factor: 0).outputShape(inputs: [[3, 5, 7]], node: "up") }
        #expect(throws: GraphError.self) { try GraphOperation.upsampleNearest(factor: 65).outputShape(inputs: [[3, 5, 7]], node: "up") }
        #expect(throws: GraphError.self) { try GraphOperation.upsampleNearest(factor: 2).outputShape(inputs: [[15, 7]], node: "up") }
        #expect(throws: GraphError.self) {
            try GraphOperation.upsampleNearest(factor: 2).outputShape(inputs: [[3, 5, 7], [3, 5, 7]], node: "up")
        }
        #expect(throws: GraphError.self) {
            try GraphOperation.upsampleNearest(factor: 2).outputType(inputs: [.int32], quantized: false, node: "up")
        }
    }


    @Test func fileEncodingRoundTripsAndBoundsTheFactor() throws {
        let (opcode, words) = OperationCoding.encode(.upsampleNearest(factor: 2))
        #expect(opcode.rawValue == 25 && words == [2])
        #expect(try OperationCoding.decode(opcode: opcode.rawValue, words: words, node: "up") == .upsampleNearest(factor: 2))
        #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: opcode.rawValue, words: [65], node: "up") }
        #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: opcode.rawValue, words: [], node: "up") }
    }

    @Test func runsOnFloatAndInt8MapsAsTheKernelDefines() throws {
        let graph = Graph()
        let x = graph.input("x", shape: [2, 3, 2])
        let float = try graph.add(.upsampleNearest(factor: 2), [x], name: "float")
        let quantization = Int8Quantization(scale: 0.5, zeroPoint: 3)
        let q = try graph.add(.quantize, [x], name: "q", quantization: quantization)
        let upsampled = try graph.add(.upsampleNearest(factor: 2), [q], name: "int8")
        #expect(graph.values[upsampled.index].quantization == quantization)
        let back = try graph.add(.dequantize, [upsampled], name: "back")
        graph.markOutput("float", float)
        graph.markOutput("back", back)
        let input: [Float] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        let results = try GraphExecutor(graph: graph).run(input: input)
        var expected = [Float](repeating: 0, count: 48)
        input.withUnsafeBytes { source in
            expected.withUnsafeMutableBytes {
                upsampleNearestReference(input: source.baseAddress!, height: 2, width: 3, channels: 2, elementSize: 4, factor: 2,
                                         output: $0.baseAddress!)
            }
        }
        #expect(results[0].shape == [4, 6, 2] && results[0].values == expected)
        #expect(results[1].values == expected.map { quantization.dequantize(quantization.quantize($0)) })
    }
}

/// `averagePool2d` (RT-DETR's ResNet-vd shortcut): shape rule, file encoding, a run equal to the
/// kernel's reference (the kernel itself is checked against PyTorch in AveragePoolTests).
@Suite("Average pooling op")
struct AveragePoolOpTests {
    @Test func shapeRuleEncodingAndRun() throws {
        let vd = GraphOperation.averagePool2d(kernel: 2, stride: 2, padding: 0, ceilMode: true)
        #expect(try vd.outputShape(inputs: [[5, 7, 3]], node: "pool") == [3, 4, 3])
        #expect(try GraphOperation.averagePool2d(kernel: 2, stride: 2, padding: 0, ceilMode: false)
            .outputShape(inputs: [[5, 7, 3]], node: "pool") == [2, 3, 3])
        #expect(throws: GraphError.self) {
            try GraphOperation.averagePool2d(kernel: 2, stride: 2, padding: 2, ceilMode: true).outputShape(inputs: [[5, 7, 3]], node: "p")
        }
        #expect(throws: GraphError.self) {
            try GraphOperation.averagePool2d(kernel: 3, stride: 2, padding: 0, ceilMode: false).outputShape(inputs: [[2, 7, 3]], node: "p")
        }
        #expect(throws: GraphError.self) { try vd.outputType(inputs: [.int8], quantized: false, node: "pool") }
        let (opcode, words) = OperationCoding.encode(vd)
        #expect(opcode.rawValue == 26 && words == [2, 2, 0, 1])
        #expect(try OperationCoding.decode(opcode: opcode.rawValue, words: words, node: "pool") == vd)
        #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: opcode.rawValue, words: [2, 2, 0, 2], node: "pool") }

        let graph = Graph()
        let x = graph.input("x", shape: [5, 7, 3])
        let pooled = try graph.add(vd, [x], name: "pool")
        graph.markOutput("pool", pooled)
        let input = (0..<105).map { Float($0) / 9 - 4 }
        let results = try GraphExecutor(graph: graph).run(input: input)
        var expected = [Float](repeating: 0, count: 36)
        averagePool2dReference(input: input, height: 5, width: 7, channels: 3, kernel: 2, stride: 2, padding: 0, ceilMode: true,
                               output: &expected)
        #expect(results[0].shape == [3, 4, 3] && results[0].values == expected)
    }
}

/// D-FINE gives each level of deformable sampling its own point count: file encoding and shape rule.
@Suite("Deformable sampling point counts") struct DeformablePointCountTests {
    /// Deformable sampling's point counts: one word when every level has the same (the layout files had
    /// before D-FINE), else a zero and one count per level after the levels; both decode to what was encoded.
    /// The two attention opcodes keep their heads and scale and stay apart; a missing scale is refused.
    @Test func attentionOpcodesRoundTrip() throws {
        for operation: GraphOperation in [.attention(heads: 8, scale: 0.125), .dynamicQuantizedAttention(heads: 8, scale: 0.125),
                                          .dynamicQuantizedAttention(heads: 1, scale: 1)] {
            let (opcode, words) = OperationCoding.encode(operation)
            #expect(try OperationCoding.decode(opcode: opcode.rawValue, words: words, node: "a") == operation)
            #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: opcode.rawValue, words: [words[0]], node: "a") }
        }
        #expect(OperationCoding.encode(.dynamicQuantizedAttention(heads: 8, scale: 1)).opcode.rawValue == 38)
    }

    /// A dynamic linear layer that sums its first two inputs writes a second word 1 (none otherwise, as files
    /// before it); any other second word or a third is refused. Its shape rule wants the addend of x's shape.
    @Test func dynamicLinearAddendRoundTrips() throws {
        for operation: GraphOperation in [.dynamicQuantizedLinear(activation: .relu), .dynamicQuantizedLinear(activation: .none, sumsInput: true)] {
            let (opcode, words) = OperationCoding.encode(operation)
            #expect(try OperationCoding.decode(opcode: opcode.rawValue, words: words, node: "d") == operation)
        }
        let opcode = OperationCoding.encode(.dynamicQuantizedLinear(activation: .none)).opcode.rawValue
        #expect(OperationCoding.encode(.dynamicQuantizedLinear(activation: .none, sumsInput: true)).words == [0, 1])
        for words: [UInt64] in [[0, 2], [0, 1, 1], []] {
            #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: opcode, words: words, node: "d") }
        }
        let graph = Graph()
        let x = graph.input("x", shape: [3, 4])
        let weight = try graph.constant("w", shape: [16, 4], storage: ConstantStorage(int8: [Int8](repeating: 1, count: 64)))
        let bias = try graph.constant("b", shape: [16], values: [Float](repeating: 0, count: 16))
        let scales = try graph.constant("s", shape: [16], values: [Float](repeating: 0.1, count: 16))
        let addend = graph.input("a", shape: [3, 4]), wrong = graph.input("w2", shape: [3, 5])
        let sum = try graph.add(.dynamicQuantizedLinear(activation: .none, sumsInput: true), [x, addend, weight, bias, scales], name: "sum")
        #expect(graph.shape(of: sum) == [3, 16])
        #expect(throws: GraphError.self) {
            try graph.add(.dynamicQuantizedLinear(activation: .none, sumsInput: true), [x, wrong, weight, bias, scales], name: "bad")
        }
    }

    @Test func deformablePointCountsRoundTrip() throws {
        let levels = [LevelShape(height: 4, width: 6), LevelShape(height: 2, width: 3), LevelShape(height: 1, width: 2)]
        let operations: [GraphOperation] = [
            .deformableSampling(levels: levels, heads: 4, points: [4, 4, 4], method: .bilinear),
            .deformableSampling(levels: levels, heads: 4, points: [3, 6, 3], method: .bilinear),
            .quantizedDeformableSampling(levels: levels, heads: 2, points: [3, 6, 3], method: .discrete, inputs: []),
            .quantizedDeformableSampling(levels: levels, heads: 2, points: [3, 6, 3], method: .bilinear, inputs: .weightLogits),
            .quantizedDeformableSampling(levels: levels, heads: 2, points: [4, 4, 4], method: .discrete, inputs: .weightLogits),
            .quantizedDeformableSampling(levels: levels, heads: 2, points: [4, 4, 4], method: .discrete, inputs: [.weightLogits, .locationOffsets]),
            .quantizedDeformableSampling(levels: levels, heads: 2, points: [3, 6, 3], method: .bilinear, inputs: .locationOffsets),
            .quantizedDeformableSampling(levels: Array(levels[0..<2]), heads: 2, points: [6, 6], method: .discrete, inputs: []),
            .deformableLocations(levels: levels, heads: 8, points: [1, 2, 3]),
        ]
        for operation in operations {
            let (opcode, words) = OperationCoding.encode(operation)
            #expect(try OperationCoding.decode(opcode: opcode.rawValue, words: words, node: "s") == operation)
        }
        #expect(OperationCoding.encode(operations[0]).words.count == 2 + 6)
        #expect(OperationCoding.encode(operations[1]).words.count == 2 + 9)
        // A level whose point count is missing, or a count of zero, is refused.
        let (opcode, words) = OperationCoding.encode(operations[1])
        #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: opcode.rawValue, words: Array(words.dropLast()), node: "s") }
        // The flag word: 1 discrete, 2 logits and 4 offsets (the quantized op only), or'd; absent when none; no other value.
        #expect(OperationCoding.encode(operations[4]).words.last == 3 && OperationCoding.encode(operations[4]).words.count == 2 + 6 + 1)
        #expect(OperationCoding.encode(operations[3]).words.last == 2)
        #expect(OperationCoding.encode(operations[5]).words.last == 7 && OperationCoding.encode(operations[6]).words.last == 4)
        let float = OperationCoding.encode(operations[0])
        #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: float.opcode.rawValue, words: float.words + [2], node: "s") }
        let quantized = OperationCoding.encode(operations[4])
        #expect(throws: ModelFileError.self) {
            try OperationCoding.decode(opcode: quantized.opcode.rawValue, words: Array(quantized.words.dropLast()) + [8], node: "s")
        }
        let graph = Graph()
        let value = graph.input("value", shape: [32, 8])
        let locations = graph.input("locations", shape: [5, 4 * 12 * 2])
        let weights = graph.input("weights", shape: [5, 4 * 12])
        #expect(throws: GraphError.self) {
            try graph.add(.deformableSampling(levels: levels, heads: 4, points: [3, 0, 9], method: .bilinear),
                          [value, locations, weights], name: "zero")
        }
        #expect(throws: GraphError.self) {
            try graph.add(.deformableSampling(levels: levels, heads: 4, points: [6, 6], method: .bilinear),
                          [value, locations, weights], name: "short")
        }
        #expect(try graph.shape(of: graph.add(.deformableSampling(levels: levels, heads: 4, points: [3, 6, 3], method: .bilinear),
                                              [value, locations, weights], name: "fine")) == [5, 8])
    }
}

/// D-FINE's ops (HGNetV2's depthwise convolutions, padding and folded affine blocks, the box refinement):
/// file encoding round trips, shape rules refuse what the kernels cannot run, and the int8 forms run as their
/// kernels define them.
@Suite("D-FINE ops") struct DFineOperationTests {
    @Test func encodingRoundTrips() throws {
        let operations: [GraphOperation] = [
            .depthwiseConv2d(stride: 2, padding: 1, activation: .relu), .quantizedDepthwiseConv2d(stride: 1, padding: 2, activation: .none),
            .pad2d(top: 0, left: 1, bottom: 2, right: 3), .clamp(minimum: -10, maximum: 10), .distanceToBox(regScale: 4),
            .groupWeightedSum(groupSize: 33), .topValuesWithMean(groupSize: 33, count: 4), .rmsNorm(epsilon: 1e-6), .columnMeans,
        ]
        for operation in operations {
            let (opcode, words) = OperationCoding.encode(operation)
            #expect(try OperationCoding.decode(opcode: opcode.rawValue, words: words, node: "n") == operation)
            #expect(throws: ModelFileError.self) { try OperationCoding.decode(opcode: opcode.rawValue, words: words + [1], node: "n") }
        }
        let (opcode, _) = OperationCoding.encode(.clamp(minimum: 0, maximum: 1))
        #expect(throws: ModelFileError.self) {
            try OperationCoding.decode(opcode: opcode.rawValue, words: [Double.nan.bitPattern, 0], node: "n")
        }
    }

    @Test func shapeRulesRefuseWhatTheKernelsCannotRun() throws {
        let graph = Graph()
        let map = graph.input("map", shape: [5, 6, 8])
        let rows = graph.input("rows", shape: [3, 8])
        let weight = try graph.constant("w", shape: [3, 3, 8], values: [Float](repeating: 0.1, count: 72))
        let bias = try graph.constant("b", shape: [8], values: [Float](repeating: 0, count: 8))
        #expect(try graph.shape(of: graph.add(.depthwiseConv2d(stride: 2, padding: 1, activation: .none), [map, weight, bias], name: "dw")) == [3, 3, 8])
        let narrow = try graph.constant("narrow", shape: [3, 3, 4], values: [Float](repeating: 0.1, count: 36))
        #expect(throws: GraphError.self) { try graph.add(.depthwiseConv2d(stride: 1, padding: 1, activation: .none), [map, narrow, bias], name: "c") }
        #expect(throws: GraphError.self) { try graph.add(.depthwiseConv2d(stride: 1, padding: 3, activation: .none), [map, weight, bias], name: "p") }
        #expect(try graph.shape(of: graph.add(.pad2d(top: 0, left: 0, bottom: 1, right: 1), [map], name: "pad")) == [6, 7, 8])
        #expect(throws: GraphError.self) { try graph.add(.clamp(minimum: 1, maximum: -1), [map], name: "clamp") }
        #expect(try graph.shape(of: graph.add(.topValuesWithMean(groupSize: 4, count: 2), [rows], name: "top")) == [3, 6])
        #expect(throws: GraphError.self) { try graph.add(.topValuesWithMean(groupSize: 4, count: 5), [rows], name: "t") }
        let project = try graph.constant("project", shape: [4], values: [-1, 0, 0, 1])
        #expect(try graph.shape(of: graph.add(.groupWeightedSum(groupSize: 4), [rows, project], name: "sum")) == [3, 2])
        let boxes = graph.input("boxes", shape: [3, 4])
        #expect(throws: GraphError.self) { try graph.add(.distanceToBox(regScale: 4), [boxes, rows], name: "d") }
        #expect(throws: GraphError.self) { try graph.add(.distanceToBox(regScale: 0), [boxes, boxes], name: "z") }
    }

    /// int8 padding fills with the zero point and int8 clamps clamp codes at the quantized bounds, both
    /// keeping the input's quantization; the depthwise op runs its kernel.
    @Test func int8FormsRunAsTheirKernelsDefine() throws {
        let graph = Graph()
        let x = graph.input("x", shape: [2, 2, 3])
        let quantization = Int8Quantization(scale: 0.1, zeroPoint: -20)
        let codes = try graph.add(.quantize, [x], name: "q", quantization: quantization)
        let padded = try graph.add(.pad2d(top: 1, left: 0, bottom: 0, right: 1), [codes], name: "pad")
        let clamped = try graph.add(.clamp(minimum: -0.5, maximum: 0.7), [padded], name: "clamp")
        let weight = try graph.constant("w", shape: [1, 1, 3], storage: ConstantStorage(int8: [2, -3, 127]))
        let bias = try graph.constant("b", shape: [3], storage: ConstantStorage(int32: [10, 0, -5]))
        let scales = try graph.constant("s", shape: [3], values: [0.5, 0.25, 0.01])
        let depthwise = try graph.add(.quantizedDepthwiseConv2d(stride: 1, padding: 0, activation: .relu), [clamped, weight, bias, scales],
                                      name: "dw", quantization: Int8Quantization(scale: 0.2, zeroPoint: 5))
        #expect(graph.values[padded.index].quantization == quantization && graph.values[clamped.index].quantization == quantization)
        for value in [padded, clamped, depthwise] { graph.markOutput(graph.values[value.index].name, try graph.add(.dequantize, [value], name: "\(graph.values[value.index].name).f")) }
        let input: [Float] = [-3, -0.4, 0.1, 0.3, 0.65, 0.8, 2, -0.55, 0.69, 0, 0.05, -1]
        let results = try GraphExecutor(graph: graph).run(input: input)
        let inputCodes = input.map { quantization.quantize($0) }
        var expectedPadded = [Int8](repeating: -20, count: 3 * 3 * 3)
        for y in 0..<2 { for x in 0..<2 { for c in 0..<3 { expectedPadded[((y + 1) * 3 + x) * 3 + c] = inputCodes[(y * 2 + x) * 3 + c] } } }
        #expect(results[0].values == expectedPadded.map { quantization.dequantize($0) })
        let (low, high) = (quantization.quantize(-0.5), quantization.quantize(0.7))
        let expectedClamped = expectedPadded.map { min(max($0, low), high) }
        #expect(results[1].values == expectedClamped.map { quantization.dequantize($0) })
        var expectedDepthwise = [Int8](repeating: 0, count: expectedClamped.count)
        int8DepthwiseConv2dReference(input: expectedClamped, inputZeroPoint: -20, height: 3, width: 3, channels: 3, weight: [2, -3, 127],
                                     bias: [10, 0, -5], scales: [0.5, 0.25, 0.01], kernel: 1, stride: 1, padding: 0,
                                     outputRange: Int8OutputRange(zeroPoint: 5, relu: true), output: &expectedDepthwise)
        #expect(results[2].values == expectedDepthwise.map { Int8Quantization(scale: 0.2, zeroPoint: 5).dequantize($0) })
    }
}
