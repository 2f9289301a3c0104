import Kernels

// Convolution and pooling: conv2d (float), max-pool (float and int8). The int8 convolution shares
// `QuantizedGEMMOp` with the int8 linear layer (Linear.swift): both are one int8 GEMM.

/// conv2d: weights packed for the float conv kernel at prepare; bias, optional residual and ReLU fused.
struct Conv2DOp {
    let x: UnsafePointer<Float>
    let weights: PackedConv2DWeights
    let bias: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let activation: FloatActivation
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .conv2d(_, _, let activation) = node.operation, let shape = preparation.graph.convolutionShape(of: node) else {
            throw .malformedNode(node: node.name, detail: "not a convolution")
        }
        let weight = try preparation.constant(.weight, of: node)
        x = UnsafePointer(preparation.float(node.x))
        weights = PackedConv2DWeights(weights: weight.pointer, shape: shape)
        bias = UnsafePointer(preparation.float(try preparation.operand(.bias, of: node)))
        residual = node[.residual].map { UnsafePointer(preparation.float($0)) }
        self.activation = activation.kernelActivation
        output = preparation.float(node.output)
        preparation.needScratch(elements: shape.scratchElementCount, taskBytes: conv2dTaskScratchBytes(shape))
    }

    func run(_ context: RunContext) {
        conv2d(input: x, weights: weights, bias: bias, residual: residual, activation: activation, output: output,
               scratch: context.scratch, pool: context.pool, taskScratch: context.taskScratch)
    }
}

/// The geometry of a max-pool node: input `[H, W, C]`, kernel, stride, padding.
struct PoolGeometry {
    let height: Int, width: Int, channels: Int
    let kernel: Int, stride: Int, padding: Int

    init(_ node: Node, _ preparation: NodePreparation) throws(ExecutionError) {
        guard case .maxPool2d(let kernel, let stride, let padding) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a max-pool")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
    }
}

/// maxPool2d on float32 input (-infinity padding, PyTorch `MaxPool2d`).
struct MaxPool2DOp {
    let x: UnsafePointer<Float>
    let geometry: PoolGeometry
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        geometry = try PoolGeometry(node, preparation)
        x = UnsafePointer(preparation.float(node.x))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        maxPool2d(input: x, height: geometry.height, width: geometry.width, channels: geometry.channels,
                  kernel: geometry.kernel, stride: geometry.stride, padding: geometry.padding, output: output)
    }
}

/// maxPool2d on int8 input: the same op (max commutes with the monotone quantization), output keeps
/// the input's scale and zero point.
struct Int8MaxPool2DOp {
    let x: UnsafePointer<Int8>
    let geometry: PoolGeometry
    let output: UnsafeMutablePointer<Int8>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        geometry = try PoolGeometry(node, preparation)
        x = UnsafePointer(preparation.int8(node.x))
        output = preparation.int8(node.output)
    }

    func run(_ context: RunContext) {
        int8MaxPool2d(input: x, height: geometry.height, width: geometry.width, channels: geometry.channels,
                      kernel: geometry.kernel, stride: geometry.stride, padding: geometry.padding, output: output,
                      pool: context.pool)
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
