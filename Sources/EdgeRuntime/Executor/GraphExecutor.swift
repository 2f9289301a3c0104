import CLibc
import Kernels

public enum ExecutionError: Error, Equatable, CustomStringConvertible {
    case inputShape(name: String, expected: Int, got: Int)
    case weightNotConstant(node: String)
    case packedWeightShape(node: String)
    case missingOutput(name: String)
    case nonFiniteOutput(name: String, index: Int, value: Float)
    case workingMemoryTooLarge(bytes: Int?)

    public var description: String {
        switch self {
        case .inputShape(let name, let expected, let got):
            return "input '\(name)' needs \(expected) values, got \(got)"
        case .weightNotConstant(let node):
            return "node '\(node)': weights must be constants"
        case .packedWeightShape(let node):
            return "node '\(node)': its packed weights do not have the layer's shape"
        case .missingOutput(let name):
            return "the graph has no float32 output '\(name)'"
        case .nonFiniteOutput(let name, let index, let value):
            return "the model produced \(value) at \(name)[\(index)] (overflow in the model's arithmetic): no detections reported"
        case .workingMemoryTooLarge(let bytes):
            return "a run would need \(bytes.map { "\($0) bytes" } ?? "more than Int.max bytes") of arena and scratch, over the limit of \(RuntimeLimits.maximumWorkingBytes)"
        }
    }
}

/// One named result of a run.
public struct FloatTensor: Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
}

/// Runs a graph: float32 ops on the float kernels, quantized ops on the int8 kernels. It is the float
/// reference the int8 path is measured against, the engine calibration drives, and the runtime of
/// model files. Everything is prepared at init: int8 weights a file stores packed for this CPU used in
/// place, others packed (or repacked) for the kernels, one arena holding every
/// activation at the offsets of an `ArenaPlan`, scratch for the kernels (the attention probabilities,
/// and per thread the largest task scratch any node's kernel asks for) and per-node tables. `run`
/// itself then allocates nothing, with or without a pool (Tests/QuantizeTests/NoAllocationTests.swift
/// counts): the kernels hand their parallel loops to the pool as `ParallelJob`s, a C function and
/// a pointer to arguments on the caller's stack.
public final class GraphExecutor {
    public let graph: Graph
    public let plan: ArenaPlan
    public let pool: ThreadPool?
    private let threads: Int
    private var packedLinear: [PackedLinearWeights?]
    private var packedConv: [PackedConv2DWeights?]
    /// Base of each value's data: its constant's memory, or its place in the arena.
    private var pointers: [UnsafeMutableRawPointer]
    private var packedInt8Linear: [PackedInt8Weights?]
    private var packedInt8Conv: [PackedInt8Conv2DWeights?]
    private let arena: UnsafeMutableRawPointer
    private let scratch: UnsafeMutablePointer<Float>
    /// Per-thread scratch of the kernels' tasks (conv edge rows, int8 GEMM staging, deformable taps).
    private let taskScratch: KernelScratch
    /// Per-node tables computed at init (deformable level shapes and starts, sine frequencies,
    /// top-k ordering space), so no node builds an array while running.
    private var nodeTables: [UnsafeMutableRawPointer?]

    /// Bytes of the activation arena plus the kernels' scratch: all the memory a run touches besides
    /// the weights.
    public var workingBytes: Int { plan.size + scratchCount * MemoryLayout<Float>.stride + taskScratch.byteCount }
    private let scratchCount: Int
    /// Bytes of int8 weights a model file stores packed for this CPU, used in place from the mapping.
    public private(set) var inPlaceWeightBytes = 0
    /// Bytes of int8 weights a model file stores packed for another CPU, repacked at init into
    /// memory the executor owns (weights stored raw are packed at init too; they are not counted).
    public private(set) var repackedWeightBytes = 0

    /// - Parameter plan: where activations live; planned here (greedy) when nil. A plan read from a
    ///   file must have passed `ArenaPlanner.validate`.
    public init(graph: Graph, plan: ArenaPlan? = nil, threads: Int = 1) throws(ExecutionError) {
        self.graph = graph
        self.plan = plan ?? ArenaPlanner.plan(graph)
        self.threads = max(threads, 1)
        pool = threads > 1 ? ThreadPool(threadCount: threads) : nil
        packedLinear = Array(repeating: nil, count: graph.nodes.count)
        packedConv = Array(repeating: nil, count: graph.nodes.count)
        packedInt8Linear = Array(repeating: nil, count: graph.nodes.count)
        packedInt8Conv = Array(repeating: nil, count: graph.nodes.count)
        nodeTables = Array(repeating: nil, count: graph.nodes.count)
        var needed = 0
        var taskBytes = 0
        // Per-node tables are raw allocations: freed here if a node is refused half way.
        do throws(ExecutionError) {
            for (index, node) in graph.nodes.enumerated() {
                switch node.operation {
                case .linear:
                    guard case .constant(let c) = graph.values[node.inputs[1].index].source else {
                        throw .weightNotConstant(node: node.name)
                    }
                    let shape = graph.shape(of: node.inputs[1])
                    packedLinear[index] = PackedLinearWeights(
                        weights: graph.constants[c].pointer, outputs: shape[0], inputs: shape[1])
                case .conv2d:
                    guard case .constant(let c) = graph.values[node.inputs[1].index].source,
                          let shape = graph.convolutionShape(of: node) else {
                        throw .weightNotConstant(node: node.name)
                    }
                    packedConv[index] = PackedConv2DWeights(weights: graph.constants[c].pointer, shape: shape)
                    needed = max(needed, shape.scratchElementCount)
                    taskBytes = max(taskBytes, conv2dTaskScratchBytes(shape))
                case .attention(let heads, _):
                    let q = graph.shape(of: node.inputs[0])
                    let k = graph.shape(of: node.inputs[1])
                    needed = max(needed, attentionScratchCount(queries: q[0], keys: k[0], heads: heads, queryHeadDim: q[1] / max(heads, 1),
                                                               threads: self.threads))
                case .quantizedLinear, .quantizedConv2d:
                    var constants: [ConstantStorage] = []
                    for position in 1...3 {
                        guard case .constant(let c) = graph.values[node.inputs[position].index].source else {
                            throw .weightNotConstant(node: node.name)
                        }
                        constants.append(graph.constants[c])
                    }
                    let inputZeroPoint = graph.values[node.inputs[0].index].quantization?.zeroPoint ?? 0
                    let weight = graph.shape(of: node.inputs[1])
                    // Weights a model file stores packed for this CPU's kernel are used in place; packed for
                    // another CPU, they are repacked; raw (PyTorch layout), they are packed here.
                    var stored: PackedInt8Weights? = nil
                    if let packed = constants[0].packedWeights {
                        if packed.weights.layout == .native {
                            stored = packed.weights
                            inPlaceWeightBytes += packed.weights.byteCount
                        } else {
                            stored = PackedInt8Weights(repacking: packed.weights, layout: .native)
                            repackedWeightBytes += packed.weights.byteCount
                        }
                    }
                    if let shape = graph.convolutionShape(of: node) {
                        let packed: PackedInt8Conv2DWeights
                        if let stored {
                            guard let adopted = PackedInt8Conv2DWeights(packed: stored, shape: shape, inputZeroPoint: inputZeroPoint) else {
                                throw .packedWeightShape(node: node.name)
                            }
                            packed = adopted
                        } else {
                            packed = PackedInt8Conv2DWeights(
                                weights: constants[0].int8Pointer, shape: shape, bias: constants[1].int32Pointer,
                                scales: constants[2].pointer, inputZeroPoint: inputZeroPoint, layout: .native)
                        }
                        packedInt8Conv[index] = packed
                        taskBytes = max(taskBytes, int8GEMMTaskScratchBytes(packed.packed))
                    } else {
                        let packed = stored ?? PackedInt8Weights(
                            weights: constants[0].int8Pointer, outputs: weight[0], inputs: weight[1], bias: constants[1].int32Pointer,
                            scales: constants[2].pointer, inputZeroPoint: inputZeroPoint, layout: .native)
                        guard packed.outputs == weight[0], packed.inputs == weight[1] else { throw .packedWeightShape(node: node.name) }
                        packedInt8Linear[index] = packed
                        taskBytes = max(taskBytes, int8GEMMTaskScratchBytes(packed))
                    }
                case .deformableSampling(let levels, let heads, let points),
                     .quantizedDeformableSampling(let levels, let heads, let points):
                    if case .quantizedDeformableSampling = node.operation {
                        let headDim = graph.shape(of: node.inputs[0])[1] / max(heads, 1)
                        taskBytes = max(taskBytes, int8DeformableAttentionTaskScratchBytes(
                            levels: levels.count, heads: heads, headDim: headDim, points: points))
                    }
                    let table = UnsafeMutablePointer<Int>.allocate(capacity: levels.count * 3)
                    var start = 0
                    for (level, shape) in levels.enumerated() {
                        table[level * 2] = shape.height
                        table[level * 2 + 1] = shape.width
                        table[levels.count * 2 + level] = start
                        start += shape.pixels
                    }
                    nodeTables[index] = UnsafeMutableRawPointer(table)
                case .sineEmbedding(let features, let temperature, _, _):
                    let table = UnsafeMutablePointer<Float>.allocate(capacity: features)
                    fillSineFrequencies(table, features: features, temperature: temperature)
                    nodeTables[index] = UnsafeMutableRawPointer(table)
                case .topRows:
                    let rows = graph.shape(of: node.inputs[0])[0]
                    nodeTables[index] = UnsafeMutableRawPointer(UnsafeMutablePointer<Int>.allocate(capacity: max(rows, 1)))
                default:
                    break
                }
            }
        } catch {
            for table in nodeTables { table?.deallocate() }
            throw error
        }
        // Everything a run works in, bounded before any of it is allocated (the sizes come from the
        // graph, which may come from a file).
        var total: Int? = self.plan.size >= 0 ? self.plan.size : nil
        for part in [checkedProduct(needed, MemoryLayout<Float>.stride), checkedProduct(taskBytes, self.threads)] {
            guard let sum = total, let part, !sum.addingReportingOverflow(part).overflow else { total = nil; break }
            total = sum + part
        }
        guard let total, total <= RuntimeLimits.maximumWorkingBytes else {
            for table in nodeTables { table?.deallocate() }
            throw .workingMemoryTooLarge(bytes: total)
        }
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(self.plan.size, ArenaPlanner.alignment),
                                                 alignment: ArenaPlanner.alignment)
        scratchCount = needed
        scratch = .allocate(capacity: max(needed, 1))
        taskScratch = KernelScratch(bytesPerThread: taskBytes, threads: self.threads)
        pointers = []
        pointers.reserveCapacity(graph.values.count)
        for (index, value) in graph.values.enumerated() {
            if case .constant(let c) = value.source {
                pointers.append(graph.constants[c].raw)
            } else {
                pointers.append(arena + self.plan.offsets[index])
            }
        }
    }

    deinit {
        scratch.deallocate()
        arena.deallocate()
        for table in nodeTables { table?.deallocate() }
    }

    /// Runs the graph on its input (`count` floats, the input value's element count) without
    /// allocating; read results with `output(named:)`. `afterNode`, when given, is called with each
    /// node's index once it has run (`edgedetr bench` times the nodes with it).
    public func run(input: UnsafePointer<Float>, count: Int, afterNode: ((_ index: Int) -> Void)? = nil) throws(ExecutionError) {
        guard let inputID = graph.inputs.first else { return }
        let inputInfo = graph.values[inputID.index]
        guard count == inputInfo.elementCount else {
            throw .inputShape(name: inputInfo.name, expected: inputInfo.elementCount, got: count)
        }
        float(inputID.index).update(from: input, count: count)
        for (index, node) in graph.nodes.enumerated() {
            execute(node: node, index: index)
            afterNode?(index)
        }
    }

    /// The data of any value as float32 (int8 dequantized) — only meaningful from inside an
    /// `afterNode` callback for values produced so far and still alive (the arena reuses memory), and
    /// for constants and graph outputs after a run. Calibration and `compare` read activations this way.
    public func floatValues(of value: ValueID) -> [Float] {
        let info = graph.values[value.index]
        switch info.elementType {
        case .float32:
            return Array(UnsafeBufferPointer(start: float(value.index), count: info.elementCount))
        case .int8:
            let quantization = info.quantization ?? Int8Quantization(scale: 1, zeroPoint: 0)
            if case .constant(let c) = info.source {
                return graph.constants[c].int8Values(shape: info.shape).map { quantization.dequantize($0) }
            }
            let data = int8(value.index)
            return (0..<info.elementCount).map { quantization.dequantize(data[$0]) }
        case .int32:
            let data = pointers[value.index].assumingMemoryBound(to: Int32.self)
            return (0..<info.elementCount).map { Float(data[$0]) }
        }
    }

    /// A graph output of the last run, valid until the next run.
    public func output(named name: String) -> UnsafeBufferPointer<Float>? {
        guard let value = graph.output(named: name) else { return nil }
        guard graph.values[value.index].elementType == .float32 else { return nil }
        return UnsafeBufferPointer(start: float(value.index), count: graph.values[value.index].elementCount)
    }

    /// Runs the graph and copies out every named output (convenient; allocates the result arrays).
    public func run(input: [Float], afterNode: ((_ index: Int) -> Void)? = nil) throws(ExecutionError) -> [FloatTensor] {
        try input.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<Float>) throws(ExecutionError) in
            guard let base = buffer.baseAddress else {
                throw ExecutionError.inputShape(name: graph.values[graph.inputs.first?.index ?? 0].name,
                                                expected: graph.values[graph.inputs.first?.index ?? 0].elementCount, got: 0)
            }
            try run(input: base, count: buffer.count, afterNode: afterNode)
        }
        var results: [FloatTensor] = []
        for output in graph.outputs {
            let info = graph.values[output.value.index]
            results.append(FloatTensor(
                name: output.name, shape: info.shape,
                values: Array(UnsafeBufferPointer(start: float(output.value.index), count: info.elementType == .float32 ? info.elementCount : 0))))
        }
        return results
    }

    @inline(__always) private func float(_ value: Int) -> UnsafeMutablePointer<Float> {
        pointers[value].assumingMemoryBound(to: Float.self)
    }

    @inline(__always) private func int8(_ value: Int) -> UnsafeMutablePointer<Int8> {
        pointers[value].assumingMemoryBound(to: Int8.self)
    }

    private func execute(node: Node, index: Int) {
        if case .reshape = node.operation { return }  // shares its source's bytes
        let outputShape = graph.shape(of: node.output)
        let inputShape = graph.shape(of: node.inputs[0])
        let outputCount = graph.values[node.output.index].elementCount
        let out = float(node.output.index)
        let x = UnsafePointer(float(node.inputs[0].index))
        @inline(__always) func operand(_ position: Int) -> UnsafeMutablePointer<Float> { float(node.inputs[position].index) }
        let optionalResidual = node.inputs.count > 3 ? UnsafePointer(operand(3)) : nil
        if executeQuantized(node: node, index: index, outputCount: outputCount, inputShape: inputShape) { return }

        switch node.operation {
        case .conv2d(_, _, let activation):
            conv2d(input: x, weights: packedConv[index]!, bias: operand(2), residual: optionalResidual,
                   activation: activation.kernelActivation, output: out, scratch: scratch, pool: pool,
                   taskScratch: taskScratch)

        case .maxPool2d(let kernel, let stride, let padding):
            maxPool2d(input: x, height: inputShape[0], width: inputShape[1], channels: inputShape[2],
                      kernel: kernel, stride: stride, padding: padding, output: out)

        case .linear(let activation):
            linear(input: x, rows: inputShape[0], inputStride: inputShape[1], weights: packedLinear[index]!,
                   bias: operand(2), residual: optionalResidual, activation: activation.kernelActivation,
                   output: out, pool: pool)

        case .layerNorm(let epsilon):
            layerNorm(input: x, residual: optionalResidual, rows: inputShape[0], columns: inputShape[1],
                      gamma: operand(1), beta: operand(2), epsilon: epsilon, output: out, pool: pool)

        case .groupNorm(let groups, let epsilon):
            groupNorm(input: x, pixels: inputShape[0] * inputShape[1], channels: inputShape[2], groups: groups,
                      gamma: operand(1), beta: operand(2), epsilon: epsilon, output: out, pool: pool)

        case .binary(let op):
            applyBinary(op, a: x, aShape: inputShape, b: operand(1),
                        bShape: graph.shape(of: node.inputs[1]), output: out)

        case .unary(let op):
            out.update(from: x, count: outputCount)
            switch op {
            case .relu: relu(out, count: outputCount)
            case .sigmoid: sigmoid(out, count: outputCount)
            case .prelu:
                prelu(out, count: outputCount, alpha: operand(1), channels: graph.values[node.inputs[1].index].elementCount)
            case .gelu:
                for i in 0..<outputCount { out[i] = 0.5 * out[i] * (1 + erff(out[i] * 0.70710678118654752)) }
            case .silu:
                for i in 0..<outputCount { out[i] = out[i] / (1 + expf(-out[i])) }
            }

        case .inverseSigmoid(let epsilon):
            applyInverseSigmoid(x, count: outputCount, epsilon: epsilon, output: out)

        case .softmax(let groupSize):
            out.update(from: x, count: outputCount)
            softmax(out, groups: outputCount / groupSize, groupSize: groupSize, pool: pool)

        case .attention(let heads, let scale):
            let q = graph.shape(of: node.inputs[0])
            let k = graph.shape(of: node.inputs[1])
            let v = graph.shape(of: node.inputs[2])
            multiHeadAttention(
                q: x, qStride: q[1], k: operand(1), kStride: k[1], v: operand(2), vStride: v[1],
                queries: q[0], keys: k[0], heads: heads, queryHeadDim: q[1] / heads, valueHeadDim: v[1] / heads,
                scale: scale, output: out, scratch: scratch, pool: pool)

        case .deformableSampling(let levels, let heads, let points):
            let table = nodeTables[index]!.assumingMemoryBound(to: Int.self)
            deformableAttention(
                value: x, levelShapes: table, levelStarts: table + levels.count * 2,
                levels: levels.count, heads: heads, headDim: inputShape[1] / heads, points: points,
                queries: graph.shape(of: node.inputs[1])[0], locations: operand(1), weights: operand(2),
                output: out, pool: pool)

        case .deformableLocations(let levels, let heads, let points):
            applyDeformableLocations(
                reference: x, referenceColumns: inputShape[1], offsets: operand(1),
                queries: inputShape[0], levels: levels, heads: heads, points: points, output: out)

        case .concatenateColumns:
            var column = 0
            let rows = outputShape[0]
            let columns = outputShape[1]
            for input in node.inputs {
                let width = graph.shape(of: input)[1]
                let source = float(input.index)
                for row in 0..<rows {
                    (out + row * columns + column).update(from: source + row * width, count: width)
                }
                column += width
            }

        case .concatenateRows:
            var offset = 0
            for input in node.inputs {
                let count = graph.values[input.index].elementCount
                (out + offset).update(from: float(input.index), count: count)
                offset += count
            }

        case .sliceColumns(let start, let count):
            for row in 0..<outputShape[0] {
                (out + row * count).update(from: x + row * inputShape[1] + start, count: count)
            }

        case .interleaveHeads(let heads):
            let aWidth = inputShape[1] / heads
            let bWidth = graph.shape(of: node.inputs[1])[1] / heads
            let b = operand(1)
            for row in 0..<outputShape[0] {
                var target = out + row * outputShape[1]
                for head in 0..<heads {
                    target.update(from: x + row * inputShape[1] + head * aWidth, count: aWidth)
                    target += aWidth
                    target.update(from: b + row * heads * bWidth + head * bWidth, count: bWidth)
                    target += bWidth
                }
            }

        case .sineEmbedding(let features, _, let scale, let order):
            applySineEmbedding(x, rows: inputShape[0], columns: inputShape[1], features: features,
                               frequencies: nodeTables[index]!.assumingMemoryBound(to: Float.self),
                               scale: scale, order: order, output: out)

        case .topRows(let count, let column):
            applyTopRows(scores: x, rows: inputShape[0], scoreColumns: inputShape[1], column: column,
                         values: operand(1), valueColumns: outputShape[1], count: count,
                         order: nodeTables[index]!.assumingMemoryBound(to: Int.self), output: out)

        case .reshape:
            break  // handled above
        case .quantize, .dequantize, .quantizedLinear, .quantizedConv2d, .quantizedDeformableSampling:
            break  // handled by executeQuantized
        }
    }

    /// The int8 ops (and max-pool on int8 input); false when the node is a float op.
    private func executeQuantized(node: Node, index: Int, outputCount: Int, inputShape: [Int]) -> Bool {
        let outputInfo = graph.values[node.output.index]
        let inputInfo = graph.values[node.inputs[0].index]
        switch node.operation {
        case .quantize:
            let quantization = outputInfo.quantization!
            let (x, out) = (float(node.inputs[0].index), int8(node.output.index))
            for i in 0..<outputCount { out[i] = quantization.quantize(x[i]) }
        case .dequantize:
            let quantization = inputInfo.quantization!
            let (x, out) = (int8(node.inputs[0].index), float(node.output.index))
            for i in 0..<outputCount { out[i] = quantization.dequantize(x[i]) }
        case .maxPool2d(let kernel, let stride, let padding) where inputInfo.elementType == .int8:
            int8MaxPool2d(input: int8(node.inputs[0].index), height: inputShape[0], width: inputShape[1], channels: inputShape[2],
                          kernel: kernel, stride: stride, padding: padding, output: int8(node.output.index), pool: pool)
        case .quantizedLinear(let activation), .quantizedConv2d(_, _, let activation):
            let output: Int8GEMMOutput
            var residual: Int8Residual? = nil
            if let quantization = outputInfo.quantization {
                output = .int8(int8(node.output.index), Int8OutputRange(zeroPoint: quantization.zeroPoint, relu: activation == .relu))
                if node.inputs.count == 5, let residualQuantization = graph.values[node.inputs[4].index].quantization {
                    residual = Int8Residual(values: int8(node.inputs[4].index), stride: graph.shape(of: node.output).last ?? 0,
                                            zeroPoint: residualQuantization.zeroPoint,
                                            scale: residualQuantization.scale / quantization.scale)
                }
            } else {
                output = .float(float(node.output.index))
            }
            if let weights = packedInt8Conv[index] {
                int8Conv2d(input: int8(node.inputs[0].index), weights: weights, residual: residual, output: output, pool: pool,
                           taskScratch: taskScratch)
            } else {
                int8Linear(input: int8(node.inputs[0].index), rows: inputShape[0], inputStride: inputShape[1],
                           weights: packedInt8Linear[index]!, residual: residual, output: output, pool: pool,
                           taskScratch: taskScratch)
            }
            if outputInfo.quantization == nil && activation == .relu { relu(float(node.output.index), count: outputCount) }
        case .quantizedDeformableSampling(let levels, let heads, let points):
            let table = nodeTables[index]!.assumingMemoryBound(to: Int.self)
            let valueQuantization = inputInfo.quantization!
            let outputQuantization = outputInfo.quantization!
            int8DeformableAttention(
                value: int8(node.inputs[0].index), valueZeroPoint: valueQuantization.zeroPoint, levelShapes: table,
                levelStarts: table + levels.count * 2, levels: levels.count, heads: heads, headDim: inputShape[1] / heads,
                points: points, queries: graph.shape(of: node.inputs[1])[0], locations: float(node.inputs[1].index),
                weights: float(node.inputs[2].index), outputScale: valueQuantization.scale / (outputQuantization.scale * q14One),
                outputRange: Int8OutputRange(zeroPoint: outputQuantization.zeroPoint), output: int8(node.output.index), pool: pool,
                taskScratch: taskScratch)
        default:
            return false
        }
        return true
    }
}

extension Activation {
    var kernelActivation: FloatActivation {
        switch self {
        case .none: .none
        case .relu: .relu
        }
    }
}
