import Kernels

// Spatial resampling: max-pool, nearest upsampling and padding, each on float32 or int8 maps (one op
// each: none needs arithmetic of its own for int8), and average pooling on float32 maps.

/// maxPool2d on float32 or int8 input (-infinity padding, PyTorch `MaxPool2d`). On int8 the output
/// keeps the input's scale and zero point: max commutes with the monotone quantization.
struct MaxPool2DOp {
    enum Data {
        case float(UnsafePointer<Float>, UnsafeMutablePointer<Float>)
        case int8(UnsafePointer<Int8>, UnsafeMutablePointer<Int8>)
    }

    let data: Data
    let height: Int, width: Int, channels: Int
    let kernel: Int, stride: Int, padding: Int

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .maxPool2d(let kernel, let stride, let padding) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a max-pool")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
        data = preparation.graph.values[node.x.index].elementType == .int8
            ? .int8(UnsafePointer(preparation.int8(node.x)), preparation.int8(node.output))
            : .float(UnsafePointer(preparation.float(node.x)), preparation.float(node.output))
    }

    func run(_ context: RunContext) {
        switch data {
        case .float(let x, let output):
            maxPool2d(input: x, height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                      padding: padding, output: output)
        case .int8(let x, let output):
            int8MaxPool2d(input: x, height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                          padding: padding, output: output, pool: context.pool)
        }
    }
}

/// upsampleNearest: each pixel repeated factor x factor times, float32 or int8 (bytes are copied, so
/// one kernel serves both; an int8 output keeps its input's quantization).
struct UpsampleNearestOp {
    let x: UnsafeRawPointer
    let height: Int, width: Int, channels: Int
    let elementSize: Int
    let factor: Int
    let output: UnsafeMutableRawPointer

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .upsampleNearest(let factor) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a nearest upsampling")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        elementSize = preparation.graph.values[node.x.index].elementType.byteSize
        self.factor = factor
        x = UnsafeRawPointer(preparation.pointers[node.x.index])
        output = preparation.pointers[node.output.index]
    }

    func run(_ context: RunContext) {
        upsampleNearest(input: x, height: height, width: width, channels: channels, elementSize: elementSize, factor: factor,
                        output: output)
    }
}

/// pad2d on float32 or int8 maps: bytes copied, the border 0.0 (an int8 map's zero point).
struct Pad2DOp {
    let x: UnsafeRawPointer
    let height: Int, width: Int, channels: Int
    let elementSize: Int
    let top: Int, left: Int, bottom: Int, right: Int
    let fill: UInt8
    let output: UnsafeMutableRawPointer

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .pad2d(let top, let left, let bottom, let right) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a padding")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        (self.top, self.left, self.bottom, self.right) = (top, left, bottom, right)
        if preparation.graph.values[node.x.index].elementType == .int8 {
            elementSize = 1
            fill = UInt8(bitPattern: Int8(truncatingIfNeeded: try preparation.requireQuantization(node.x, of: node).zeroPoint))
        } else {
            (elementSize, fill) = (4, 0)
        }
        x = UnsafeRawPointer(preparation.pointers[node.x.index])
        output = preparation.pointers[node.output.index]
    }

    func run(_ context: RunContext) {
        pad2d(input: x, height: height, width: width, channels: channels, elementSize: elementSize, top: top, left: left,
              bottom: bottom, right: right, fill: fill, output: output)
    }
}

/// averagePool2d on float32 maps (PyTorch `AvgPool2d`, count_include_pad=True).
struct AveragePool2DOp {
    let x: UnsafePointer<Float>
    let height: Int, width: Int, channels: Int
    let kernel: Int, stride: Int, padding: Int, ceilMode: Bool
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .averagePool2d(let kernel, let stride, let padding, let ceilMode) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not an average pooling")
        }
        let shape = preparation.shape(node.x)
        (height, width, channels) = (shape[0], shape[1], shape[2])
        (self.kernel, self.stride, self.padding, self.ceilMode) = (kernel, stride, padding, ceilMode)
        x = UnsafePointer(preparation.float(node.x))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        averagePool2d(input: x, height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                      padding: padding, ceilMode: ceilMode, output: output)
    }
}
