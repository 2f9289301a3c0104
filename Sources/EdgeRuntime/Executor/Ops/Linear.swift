import Kernels

// Linear layers: float `linear`, and the int8 GEMM behind `quantizedLinear` and `quantizedConv2d`.

/// linear: `activation(x W^T + bias + residual)`, weights packed for the float GEMM at prepare.
struct LinearOp {
    let x: UnsafePointer<Float>
    let rows: Int
    let inputStride: Int
    let weights: PackedLinearWeights
    let bias: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let activation: FloatActivation
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .linear(let activation) = node.operation else { throw .malformedNode(node: node.name, detail: "not a linear layer") }
        let weight = try preparation.constant(.weight, of: node)
        let weightShape = preparation.shape(try preparation.operand(.weight, of: node))
        let inputShape = preparation.shape(node.x)
        x = UnsafePointer(preparation.float(node.x))
        (rows, inputStride) = (inputShape[0], inputShape[1])
        weights = PackedLinearWeights(weights: weight.pointer, outputs: weightShape[0], inputs: weightShape[1])
        bias = UnsafePointer(preparation.float(try preparation.operand(.bias, of: node)))
        residual = node[.residual].map { UnsafePointer(preparation.float($0)) }
        self.activation = activation.kernelActivation
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        linear(input: x, rows: rows, inputStride: inputStride, weights: weights, bias: bias, residual: residual,
               activation: activation, output: output, pool: context.pool)
    }
}

/// quantizedLinear and quantizedConv2d: one int8 GEMM (a convolution gathers HWC patches into its
/// rows) with the requantization epilogue of Requantize.swift. Weights come as
/// `QuantizedLayerWeights.placement` says: in place, repacked or packed here.
struct QuantizedGEMMOp {
    enum Weights {
        case linear(PackedInt8Weights, rows: Int, inputStride: Int)
        case convolution(PackedInt8Conv2DWeights)
    }

    let x: UnsafePointer<Int8>
    let weights: Weights
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
        guard let layer = QuantizedLayerWeights(node: node, in: preparation.graph) else { throw .weightNotConstant(node: node.name) }
        switch layer.placement {
        case .inPlace: preparation.inPlaceWeightBytes += layer.storedByteCount
        case .repacked: preparation.repackedWeightBytes += layer.storedByteCount
        case .packedAtLoad: break
        }
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
