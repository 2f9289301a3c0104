import Kernels

/// depthwiseConv2d on a float32 map: the weights are used in place ([k, k, C] is the kernel's layout).
struct DepthwiseConv2DOp {
    let x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>
    let height: Int, width: Int, channels: Int
    let kernel: Int, stride: Int, padding: Int, relu: Bool
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .depthwiseConv2d(let stride, let padding, let activation) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a depthwise convolution")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        let weightValue = try preparation.operand(.weight, of: node)
        kernel = preparation.shape(weightValue)[0]
        (self.stride, self.padding, relu) = (stride, padding, activation == .relu)
        x = UnsafePointer(preparation.float(node.x))
        weight = UnsafePointer(preparation.float(weightValue))
        bias = UnsafePointer(preparation.float(try preparation.operand(.bias, of: node)))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        depthwiseConv2d(input: x, height: height, width: width, channels: channels, weight: weight, bias: bias, kernel: kernel,
                        stride: stride, padding: padding, relu: relu, output: output, pool: context.pool)
    }
}

/// quantizedDepthwiseConv2d: int8 map, int8 weights used in place, int8 output (ReLU as the output range).
struct QuantizedDepthwiseConv2DOp {
    let x: UnsafePointer<Int8>, inputZeroPoint: Int32
    let weight: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>
    let height: Int, width: Int, channels: Int
    let kernel: Int, stride: Int, padding: Int
    let outputRange: Int8OutputRange
    let output: UnsafeMutablePointer<Int8>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .quantizedDepthwiseConv2d(let stride, let padding, let activation) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a quantized depthwise convolution")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        let weightValue = try preparation.operand(.weight, of: node)
        kernel = preparation.shape(weightValue)[0]
        (self.stride, self.padding) = (stride, padding)
        inputZeroPoint = try preparation.requireQuantization(node.x, of: node).zeroPoint
        let outputQuantization = try preparation.requireQuantization(node.output, of: node)
        outputRange = Int8OutputRange(zeroPoint: outputQuantization.zeroPoint, relu: activation == .relu)
        x = UnsafePointer(preparation.int8(node.x))
        weight = UnsafePointer(preparation.int8(weightValue))
        bias = UnsafePointer(preparation.pointers[try preparation.operand(.bias, of: node).index].assumingMemoryBound(to: Int32.self))
        scales = UnsafePointer(preparation.float(try preparation.operand(.scales, of: node)))
        output = preparation.int8(node.output)
        // The padded copy of the map lives in the shared scratch (counted in floats).
        let paddedBytes = int8DepthwisePaddedBytes(height: height, width: width, channels: channels, padding: padding)
        preparation.needScratch(elements: (paddedBytes + 3) / 4)
    }

    func run(_ context: RunContext) {
        int8DepthwiseConv2d(input: x, inputZeroPoint: inputZeroPoint, height: height, width: width, channels: channels,
                            weight: weight, bias: bias, scales: scales, kernel: kernel, stride: stride, padding: padding,
                            outputRange: outputRange, output: output,
                            padded: UnsafeMutableRawPointer(context.scratch).assumingMemoryBound(to: Int8.self), pool: context.pool)
    }
}
