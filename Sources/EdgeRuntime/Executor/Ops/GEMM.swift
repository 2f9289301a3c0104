import Kernels

// The GEMM family: linear layers and convolutions, float32 (`linear`, `conv2d`) and int8
// (`quantizedLinear`, `quantizedConv2d`), and the linear layer quantized at run time
// (`dynamicQuantizedLinear`). A convolution is a GEMM over HWC patches, so each precision is one op
// with the weights telling which.

/// A GEMM node's packed weights: a linear layer's, with its input rows and row stride, or a
/// convolution's, which carry their kernel shape.
enum GEMMWeights<Linear, Convolution> {
    case linear(Linear, rows: Int, inputStride: Int)
    case convolution(Convolution)
}

/// linear and conv2d: `activation(x W^T + bias + residual)`, weights packed for the float kernels at
/// prepare; bias, optional residual and ReLU fused into the kernel.
struct FloatGEMMOp {
    let x: UnsafePointer<Float>
    let weights: GEMMWeights<PackedLinearWeights, PackedConv2DWeights>
    let bias: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let activation: FloatActivation
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        let weight = try preparation.constant(.weight, of: node)
        switch node.operation {
        case .linear(let activation):
            let weightShape = preparation.shape(try preparation.operand(.weight, of: node))
            let inputShape = preparation.shape(node.x)
            weights = .linear(PackedLinearWeights(weights: weight.pointer, outputs: weightShape[0], inputs: weightShape[1]),
                              rows: inputShape[0], inputStride: inputShape[1])
            self.activation = activation.kernelActivation
        case .conv2d(_, _, let activation):
            guard let shape = preparation.graph.convolutionShape(of: node) else { throw .weightNotConstant(node: node.name) }
            weights = .convolution(PackedConv2DWeights(weights: weight.pointer, shape: shape))
            preparation.needScratch(elements: shape.scratchElementCount, taskBytes: conv2dTaskScratchBytes(shape))
            self.activation = activation.kernelActivation
        default:
            throw .malformedNode(node: node.name, detail: "not a linear layer or convolution")
        }
        x = UnsafePointer(preparation.float(node.x))
        bias = UnsafePointer(preparation.float(try preparation.operand(.bias, of: node)))
        residual = node[.residual].map { UnsafePointer(preparation.float($0)) }
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        switch weights {
        case .linear(let packed, let rows, let inputStride):
            linear(input: x, rows: rows, inputStride: inputStride, weights: packed, bias: bias, residual: residual,
                   activation: activation, output: output, pool: context.pool)
        case .convolution(let packed):
            conv2d(input: x, weights: packed, bias: bias, residual: residual, activation: activation, output: output,
                   scratch: context.scratch, pool: context.pool, taskScratch: context.taskScratch)
        }
    }
}

/// quantizedLinear and quantizedConv2d: one int8 GEMM (a convolution gathers HWC patches into its
/// rows) with the requantization epilogue of Requantize.swift. Weights come as
/// `QuantizedLayerWeights.placement` says: in place, repacked or packed here.
struct QuantizedGEMMOp {
    let x: UnsafePointer<Int8>
    let weights: GEMMWeights<PackedInt8Weights, PackedInt8Conv2DWeights>
    let residual: Int8Residual?
    let output: Int8GEMMOutput
    /// A float output applies the ReLU after the GEMM (an int8 output clamps at the zero point instead).
    let floatReLU: (output: UnsafeMutablePointer<Float>, count: Int)?

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        let activation: Activation
        switch node.operation {
        case .quantizedLinear(let a), .quantizedConv2d(_, _, let a): activation = a
        default: throw .malformedNode(node: node.name, detail: "not a quantized linear layer or convolution")
        }
        let layer = try preparation.quantizedLayerWeights(of: node)
        let packed = layer.nativeWeights()
        if let shape = layer.convolution {
            guard let adopted = PackedInt8Conv2DWeights(packed: packed, shape: shape, inputZeroPoint: layer.inputZeroPoint) else {
                throw .packedWeightShape(node: node.name)
            }
            weights = .convolution(adopted)
        } else {
            guard packed.outputs == layer.weightShape[0], packed.inputs == layer.weightShape[1] else {
                throw .packedWeightShape(node: node.name)
            }
            let inputShape = preparation.shape(node.x)
            weights = .linear(packed, rows: inputShape[0], inputStride: inputShape[1])
        }
        preparation.needScratch(taskBytes: int8GEMMTaskScratchBytes(packed))
        x = UnsafePointer(preparation.int8(node.x))

        if let quantization = preparation.quantization(node.output) {
            output = .int8(preparation.int8(node.output), Int8OutputRange(zeroPoint: quantization.zeroPoint, relu: activation == .relu))
            floatReLU = nil
            if let value = node[.residual] {
                let residualQuantization = try preparation.requireQuantization(value, of: node)
                residual = Int8Residual(values: preparation.int8(value), stride: preparation.shape(node.output).last ?? 0,
                                        zeroPoint: residualQuantization.zeroPoint,
                                        scale: residualQuantization.scale / quantization.scale)
            } else {
                residual = nil
            }
        } else {
            // The quantizer adds a float residual after a float-output layer; an int8 one here would be dropped.
            guard node[.residual] == nil else {
                throw .malformedNode(node: node.name, detail: "an int8 residual needs an int8 output")
            }
            output = .float(preparation.float(node.output))
            floatReLU = activation == .relu ? (preparation.float(node.output), preparation.elementCount(node.output)) : nil
            residual = nil
        }
    }

    func run(_ context: RunContext) {
        switch weights {
        case .convolution(let packed):
            int8Conv2d(input: x, weights: packed, residual: residual, output: output, pool: context.pool,
                       taskScratch: context.taskScratch)
        case .linear(let packed, let rows, let inputStride):
            int8Linear(input: x, rows: rows, inputStride: inputStride, weights: packed, residual: residual, output: output,
                       pool: context.pool, taskScratch: context.taskScratch)
        }
        if let floatReLU { relu(floatReLU.output, count: floatReLU.count) }
    }
}

/// dynamicQuantizedLinear: each input row quantized at run time into the shared scratch (row scales
/// first, then the int8 codes), the int8 GEMM with its float epilogue, then the row scales, float bias,
/// residual and ReLU (`dynamicInt8Linear`).
struct DynamicQuantizedLinearOp {
    let x: UnsafePointer<Float>
    /// Added to x as its rows are quantized (`sumsInput`).
    let addend: UnsafePointer<Float>?
    let rows: Int
    let inputStride: Int
    let weights: PackedInt8Weights
    let bias: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let activation: FloatActivation
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .dynamicQuantizedLinear(let activation, _) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a dynamic quantized linear layer")
        }
        let layer = try preparation.quantizedLayerWeights(of: node)
        weights = layer.nativeWeights()
        guard weights.outputs == layer.weightShape[0], weights.inputs == layer.weightShape[1] else {
            throw .packedWeightShape(node: node.name)
        }
        let inputShape = preparation.shape(node.x)
        (rows, inputStride) = (inputShape[0], inputShape[1])
        // rows x K codes fit in the input's element count (the shape rule ties K to it), so no product
        // here can overflow; the scratch counts floats.
        let codeElements = (preparation.elementCount(node.x) + 3) / 4
        preparation.needScratch(elements: rows + codeElements,
                                taskBytes: max(int8GEMMTaskScratchBytes(weights), dynamicInt8LinearRowBytes(columns: weights.inputs)))
        x = UnsafePointer(preparation.float(node.x))
        addend = node[.addend].map { UnsafePointer(preparation.float($0)) }
        bias = UnsafePointer(preparation.float(try preparation.operand(.bias, of: node)))
        residual = node[.residual].map { UnsafePointer(preparation.float($0)) }
        self.activation = activation.kernelActivation
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        let codes = UnsafeMutableRawPointer(context.scratch + rows).assumingMemoryBound(to: Int8.self)
        dynamicInt8Linear(input: x, addend: addend, rows: rows, inputStride: inputStride, weights: weights, bias: bias, residual: residual,
                          activation: activation, output: output, codes: codes, rowScales: context.scratch,
                          pool: context.pool, taskScratch: context.taskScratch)
    }
}

extension NodePreparation {
    /// The int8 weights of a quantized or dynamic GEMM node, their stored bytes counted by placement.
    mutating func quantizedLayerWeights(of node: Node) throws(ExecutionError) -> QuantizedLayerWeights {
        guard let layer = QuantizedLayerWeights(node: node, in: graph) else { throw .weightNotConstant(node: node.name) }
        switch layer.placement {
        case .inPlace: inPlaceWeightBytes += layer.storedByteCount
        case .repacked: repackedWeightBytes += layer.storedByteCount
        case .packedAtLoad: break
        }
        return layer
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
