import Kernels

/// The map and kernel sizes both depthwise forms read from their node.
struct DepthwiseGeometry {
    let height: Int, width: Int, channels: Int
    let kernel: Int, stride: Int, padding: Int, relu: Bool

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        let activation: Activation
        switch node.operation {
        case .depthwiseConv2d(let s, let p, let a), .quantizedDepthwiseConv2d(let s, let p, let a): (stride, padding, activation) = (s, p, a)
        default: throw .malformedNode(node: node.name, detail: "not a depthwise convolution")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        kernel = preparation.shape(try preparation.operand(.weight, of: node))[0]
        relu = activation == .relu
    }
}

/// depthwiseConv2d on a float32 map: the weights are used in place ([k, k, C] is the kernel's layout).
struct DepthwiseConv2DOp {
    let x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>
    let geometry: DepthwiseGeometry
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        geometry = try DepthwiseGeometry(node, &preparation)
        x = UnsafePointer(preparation.float(node.x))
        weight = UnsafePointer(preparation.float(try preparation.operand(.weight, of: node)))
        bias = UnsafePointer(preparation.float(try preparation.operand(.bias, of: node)))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        let g = geometry
        depthwiseConv2d(input: x, height: g.height, width: g.width, channels: g.channels, weight: weight, bias: bias, kernel: g.kernel,
                        stride: g.stride, padding: g.padding, relu: g.relu, output: output, pool: context.pool)
    }
}

/// quantizedDepthwiseConv2d: int8 map, int8 weights used in place, int8 output (ReLU as the output range).
struct QuantizedDepthwiseConv2DOp {
    let x: UnsafePointer<Int8>, inputZeroPoint: Int32
    let weight: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>
    let geometry: DepthwiseGeometry
    let outputRange: Int8OutputRange
    let output: UnsafeMutablePointer<Int8>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        geometry = try DepthwiseGeometry(node, &preparation)
        inputZeroPoint = try preparation.requireQuantization(node.x, of: node).zeroPoint
        let outputQuantization = try preparation.requireQuantization(node.output, of: node)
        outputRange = Int8OutputRange(zeroPoint: outputQuantization.zeroPoint, relu: geometry.relu)
        x = UnsafePointer(preparation.int8(node.x))
        weight = UnsafePointer(preparation.int8(try preparation.operand(.weight, of: node)))
        bias = UnsafePointer(preparation.pointers[try preparation.operand(.bias, of: node).index].assumingMemoryBound(to: Int32.self))
        scales = UnsafePointer(preparation.float(try preparation.operand(.scales, of: node)))
        output = preparation.int8(node.output)
        // The padded copy of the map lives in the shared scratch (counted in floats).
        let paddedBytes = int8DepthwisePaddedBytes(height: geometry.height, width: geometry.width, channels: geometry.channels,
                                                   padding: geometry.padding)
        preparation.needScratch(elements: (paddedBytes + 3) / 4)
    }

    func run(_ context: RunContext) {
        let g = geometry
        int8DepthwiseConv2d(input: x, inputZeroPoint: inputZeroPoint, height: g.height, width: g.width, channels: g.channels,
                            weight: weight, bias: bias, scales: scales, kernel: g.kernel, stride: g.stride, padding: g.padding,
                            outputRange: outputRange, output: output,
                            padded: UnsafeMutableRawPointer(context.scratch).assumingMemoryBound(to: Int8.self), pool: context.pool)
    }
}
