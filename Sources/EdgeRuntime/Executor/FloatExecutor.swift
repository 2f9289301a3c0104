import CLibc
import Kernels

/// Float32 data of one value during execution. Reshapes share their source's memory through `base`.
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let owned: Bool
    private let base: FloatBuffer?
    private let constant: ConstantStorage?

    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        owned = true
        base = nil
        constant = nil
    }

    init(constant: ConstantStorage) {
        count = constant.count
        pointer = constant.pointer
        owned = false
        base = nil
        self.constant = constant
    }

    init(aliasing base: FloatBuffer) {
        count = base.count
        pointer = base.pointer
        owned = false
        self.base = base
        constant = nil
    }

    deinit { if owned { pointer.deallocate() } }
}

public enum ExecutionError: Error, Equatable, CustomStringConvertible {
    case inputShape(name: String, expected: Int, got: Int)
    case weightNotConstant(node: String)

    public var description: String {
        switch self {
        case .inputShape(let name, let expected, let got):
            return "input '\(name)' needs \(expected) values, got \(got)"
        case .weightNotConstant(let node):
            return "node '\(node)': weights must be constants"
        }
    }
}

/// One named result of a run.
public struct FloatTensor: Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
}

/// Runs a graph in float32: the reference the int8 path is measured against, and the engine calibration
/// drives. Weights are packed for the kernels once, at init; buffers live from their producer to their
/// last reader.
public final class FloatExecutor {
    public let graph: Graph
    public let pool: ThreadPool?
    private var packedLinear: [PackedLinearWeights?]
    private var packedConv: [PackedConv2DWeights?]
    private var lastUse: [Int]
    private var scratch: UnsafeMutablePointer<Float>
    private var scratchCount: Int

    public init(graph: Graph, threads: Int = 1) throws(ExecutionError) {
        self.graph = graph
        pool = threads > 1 ? ThreadPool(threadCount: threads) : nil
        packedLinear = Array(repeating: nil, count: graph.nodes.count)
        packedConv = Array(repeating: nil, count: graph.nodes.count)
        lastUse = Array(repeating: -1, count: graph.values.count)
        var needed = 0
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs { lastUse[input.index] = index }
            switch node.operation {
            case .linear:
                guard case .constant(let c) = graph.values[node.inputs[1].index].source else {
                    throw .weightNotConstant(node: node.name)
                }
                let shape = graph.shape(of: node.inputs[1])
                packedLinear[index] = PackedLinearWeights(
                    weights: graph.constants[c].pointer, outputs: shape[0], inputs: shape[1])
            case .conv2d(let stride, let padding, _):
                guard case .constant(let c) = graph.values[node.inputs[1].index].source else {
                    throw .weightNotConstant(node: node.name)
                }
                let input = graph.shape(of: node.inputs[0])
                let weight = graph.shape(of: node.inputs[1])
                let shape = Conv2DShape(
                    inputHeight: input[0], inputWidth: input[1], inputChannels: input[2], outputChannels: weight[0],
                    kernelHeight: weight[2], kernelWidth: weight[3], stride: stride, padding: padding)
                packedConv[index] = PackedConv2DWeights(weights: graph.constants[c].pointer, shape: shape)
                needed = max(needed, shape.scratchElementCount)
            case .attention(let heads, _):
                let q = graph.shape(of: node.inputs[0])
                let k = graph.shape(of: node.inputs[1])
                needed = max(needed, attentionScratchCount(queries: q[0], keys: k[0], heads: heads, threads: threads))
            default:
                break
            }
        }
        for output in graph.outputs { lastUse[output.value.index] = Int.max }
        scratchCount = needed
        scratch = .allocate(capacity: max(needed, 1))
    }

    deinit { scratch.deallocate() }

    /// Runs the graph on its single input and returns the graph's named outputs. `afterNode`, when
    /// given, is called with each node's index once the node has run and its dead inputs are freed
    /// (`edgedetr bench` times the nodes with it).
    public func run(input: [Float], afterNode: ((_ index: Int) -> Void)? = nil) throws(ExecutionError) -> [FloatTensor] {
        var buffers: [FloatBuffer?] = Array(repeating: nil, count: graph.values.count)
        for (index, value) in graph.values.enumerated() {
            if case .constant(let c) = value.source { buffers[index] = FloatBuffer(constant: graph.constants[c]) }
        }
        guard let inputID = graph.inputs.first else { return [] }
        let inputInfo = graph.values[inputID.index]
        guard input.count == inputInfo.elementCount else {
            throw .inputShape(name: inputInfo.name, expected: inputInfo.elementCount, got: input.count)
        }
        let inputBuffer = FloatBuffer(count: input.count)
        input.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { inputBuffer.pointer.update(from: base, count: input.count) }
        }
        buffers[inputID.index] = inputBuffer

        for (index, node) in graph.nodes.enumerated() {
            var operands: [FloatBuffer] = []
            operands.reserveCapacity(node.inputs.count)
            for input in node.inputs {
                // Every value read was produced earlier: Graph.add guarantees topological order.
                operands.append(buffers[input.index]!)
            }
            buffers[node.output.index] = execute(node: node, index: index, operands: operands)
            for input in node.inputs where lastUse[input.index] == index {
                if case .constant = graph.values[input.index].source { continue }
                buffers[input.index] = nil
            }
            afterNode?(index)
        }

        var results: [FloatTensor] = []
        for output in graph.outputs {
            let info = graph.values[output.value.index]
            let buffer = buffers[output.value.index]!
            results.append(FloatTensor(
                name: output.name, shape: info.shape,
                values: Array(UnsafeBufferPointer(start: buffer.pointer, count: buffer.count))))
        }
        return results
    }

    private func execute(node: Node, index: Int, operands: [FloatBuffer]) -> FloatBuffer {
        let outputShape = graph.shape(of: node.output)
        let inputShape = graph.shape(of: node.inputs[0])
        if case .reshape = node.operation { return FloatBuffer(aliasing: operands[0]) }
        let output = FloatBuffer(count: outputShape.reduce(1, *))
        let out = output.pointer
        let x = operands[0].pointer
        let optionalResidual = operands.count > 3 ? UnsafePointer(operands[3].pointer) : nil

        switch node.operation {
        case .conv2d(_, _, let activation):
            conv2d(input: x, weights: packedConv[index]!, bias: operands[2].pointer, residual: optionalResidual,
                   activation: activation.kernelActivation, output: out, scratch: scratch, pool: pool)

        case .maxPool2d(let kernel, let stride, let padding):
            maxPool2d(input: x, height: inputShape[0], width: inputShape[1], channels: inputShape[2],
                      kernel: kernel, stride: stride, padding: padding, output: out)

        case .linear(let activation):
            linear(input: x, rows: inputShape[0], inputStride: inputShape[1], weights: packedLinear[index]!,
                   bias: operands[2].pointer, residual: optionalResidual, activation: activation.kernelActivation,
                   output: out, pool: pool)

        case .layerNorm(let epsilon):
            layerNorm(input: x, residual: optionalResidual, rows: inputShape[0], columns: inputShape[1],
                      gamma: operands[1].pointer, beta: operands[2].pointer, epsilon: epsilon, output: out)

        case .groupNorm(let groups, let epsilon):
            groupNorm(input: x, pixels: inputShape[0] * inputShape[1], channels: inputShape[2], groups: groups,
                      gamma: operands[1].pointer, beta: operands[2].pointer, epsilon: epsilon, output: out)

        case .binary(let op):
            applyBinary(op, a: x, aShape: inputShape, b: operands[1].pointer,
                        bShape: graph.shape(of: node.inputs[1]), output: out)

        case .unary(let op):
            out.update(from: x, count: output.count)
            switch op {
            case .relu: relu(out, count: output.count)
            case .sigmoid: sigmoid(out, count: output.count)
            case .prelu:
                prelu(out, count: output.count, alpha: operands[1].pointer, channels: operands[1].count)
            case .gelu:
                for i in 0..<output.count { out[i] = 0.5 * out[i] * (1 + erff(out[i] * 0.70710678118654752)) }
            case .silu:
                for i in 0..<output.count { out[i] = out[i] / (1 + expf(-out[i])) }
            }

        case .inverseSigmoid(let epsilon):
            applyInverseSigmoid(x, count: output.count, epsilon: epsilon, output: out)

        case .softmax(let groupSize):
            out.update(from: x, count: output.count)
            softmax(out, groups: output.count / groupSize, groupSize: groupSize)

        case .attention(let heads, let scale):
            let q = graph.shape(of: node.inputs[0])
            let k = graph.shape(of: node.inputs[1])
            let v = graph.shape(of: node.inputs[2])
            multiHeadAttention(
                q: x, qStride: q[1], k: operands[1].pointer, kStride: k[1], v: operands[2].pointer, vStride: v[1],
                queries: q[0], keys: k[0], heads: heads, queryHeadDim: q[1] / heads, valueHeadDim: v[1] / heads,
                scale: scale, output: out, scratch: scratch, pool: pool)

        case .deformableSampling(let levels, let heads, let points):
            var shapes: [Int] = []
            var starts: [Int] = []
            var start = 0
            for level in levels {
                shapes.append(level.height)
                shapes.append(level.width)
                starts.append(start)
                start += level.pixels
            }
            let queries = graph.shape(of: node.inputs[1])[0]
            shapes.withUnsafeBufferPointer { shapePointer in
                starts.withUnsafeBufferPointer { startPointer in
                    deformableAttention(
                        value: x, levelShapes: shapePointer.baseAddress!, levelStarts: startPointer.baseAddress!,
                        levels: levels.count, heads: heads, headDim: inputShape[1] / heads, points: points,
                        queries: queries, locations: operands[1].pointer, weights: operands[2].pointer,
                        output: out, pool: pool)
                }
            }

        case .deformableLocations(let levels, let heads, let points):
            applyDeformableLocations(
                reference: x, referenceColumns: inputShape[1], offsets: operands[1].pointer,
                queries: inputShape[0], levels: levels, heads: heads, points: points, output: out)

        case .concatenateColumns:
            var column = 0
            let rows = outputShape[0]
            let columns = outputShape[1]
            for (operandIndex, operand) in operands.enumerated() {
                let width = graph.shape(of: node.inputs[operandIndex])[1]
                for row in 0..<rows {
                    (out + row * columns + column).update(from: operand.pointer + row * width, count: width)
                }
                column += width
            }

        case .concatenateRows:
            var offset = 0
            for operand in operands {
                (out + offset).update(from: operand.pointer, count: operand.count)
                offset += operand.count
            }

        case .sliceColumns(let start, let count):
            for row in 0..<outputShape[0] {
                (out + row * count).update(from: x + row * inputShape[1] + start, count: count)
            }

        case .interleaveHeads(let heads):
            let aWidth = inputShape[1] / heads
            let bWidth = graph.shape(of: node.inputs[1])[1] / heads
            let b = operands[1].pointer
            for row in 0..<outputShape[0] {
                var target = out + row * outputShape[1]
                for head in 0..<heads {
                    target.update(from: x + row * inputShape[1] + head * aWidth, count: aWidth)
                    target += aWidth
                    target.update(from: b + row * heads * bWidth + head * bWidth, count: bWidth)
                    target += bWidth
                }
            }

        case .sineEmbedding(let features, let temperature, let scale, let order):
            applySineEmbedding(x, rows: inputShape[0], columns: inputShape[1], features: features,
                               temperature: temperature, scale: scale, order: order, output: out)

        case .topRows(let count, let column):
            applyTopRows(scores: x, rows: inputShape[0], scoreColumns: inputShape[1], column: column,
                         values: operands[1].pointer, valueColumns: outputShape[1], count: count, output: out)

        case .reshape:
            break  // handled above
        }
        return output
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
