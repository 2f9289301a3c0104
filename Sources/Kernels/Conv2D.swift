/// The geometry of one 2-D convolution: HWC input, square-or-not kernel, one stride and one
/// zero padding for both axes (all the convolutions in ResNet-50 and the DETR input projections).
public struct Conv2DShape: Sendable, Equatable {
    public var inputHeight, inputWidth, inputChannels, outputChannels, kernelHeight, kernelWidth, stride, padding: Int

    public init(inputHeight: Int, inputWidth: Int, inputChannels: Int, outputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
    }

    /// (H + 2p - kH) / stride + 1, PyTorch's floor rule; 0 when the kernel does not fit.
    public var outputHeight: Int {
        stride <= 0 ? 0 : pooledLength(inputHeight, kernel: kernelHeight, stride: stride, padding: padding)
    }

    /// (W + 2p - kW) / stride + 1, PyTorch's floor rule; 0 when the kernel does not fit.
    public var outputWidth: Int {
        stride <= 0 ? 0 : pooledLength(inputWidth, kernel: kernelWidth, stride: stride, padding: padding)
    }

    /// Elements in one output pixel's receptive field: the GEMM depth of the convolution.
    var patchLength: Int { kernelHeight * kernelWidth * inputChannels }

    /// Float elements of scratch the fast conv2d needs (its im2col rows); 0 if none.
    public var scratchElementCount: Int { 0 }
}

/// Conv weights [outCh, inCh, kH, kW] (PyTorch layout), repacked once.
public final class PackedConv2DWeights {
    public let shape: Conv2DShape
    /// The weights in PyTorch layout; the reference path reads them.
    let pytorchLayout: UnsafeMutablePointer<Float>

    public init(weights: UnsafePointer<Float>, shape: Conv2DShape) {
        self.shape = shape
        let count = max(shape.outputChannels, 0) * max(shape.patchLength, 0)
        pytorchLayout = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        pytorchLayout.initialize(from: weights, count: count)
    }

    deinit {
        pytorchLayout.deallocate()
    }
}

/// HWC in, HWC out, zero padding: output = act(conv + bias (+ residual)), where `residual` is an
/// HWC map of the output's shape (ResNet's bottleneck shortcut). `scratch` must hold
/// `shape.scratchElementCount` floats (it may be nil when that is 0).
public func conv2d(input: UnsafePointer<Float>, weights: PackedConv2DWeights, bias: UnsafePointer<Float>?,
                   residual: UnsafePointer<Float>?, activation: FloatActivation,
                   output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?, pool: ThreadPool?) {
    conv2dReference(input: input, shape: weights.shape, weights: weights.pytorchLayout, bias: bias,
                    residual: residual, activation: activation, output: output)
}

/// The scalar reference of `conv2d`, read straight off the definition:
/// out[y, x, o] = act(bias[o] + sum_{c, i, j} in[y*s - p + i, x*s - p + j, c] * W[o, c, i, j] (+ residual)).
public func conv2dReference(input: UnsafePointer<Float>, shape: Conv2DShape, weights: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: FloatActivation,
                            output: UnsafeMutablePointer<Float>) {
    let outputHeight = shape.outputHeight
    let outputWidth = shape.outputWidth
    let channels = shape.inputChannels
    if outputHeight == 0 || outputWidth == 0 || shape.outputChannels <= 0 { return }
    for outputY in 0..<outputHeight {
        for outputX in 0..<outputWidth {
            let pixel = outputY * outputWidth + outputX
            for outputChannel in 0..<shape.outputChannels {
                var sum: Float = 0
                for inputChannel in 0..<max(channels, 0) {
                    for kernelY in 0..<shape.kernelHeight {
                        let inputY = outputY * shape.stride - shape.padding + kernelY
                        if inputY < 0 || inputY >= shape.inputHeight { continue }
                        for kernelX in 0..<shape.kernelWidth {
                            let inputX = outputX * shape.stride - shape.padding + kernelX
                            if inputX < 0 || inputX >= shape.inputWidth { continue }
                            let weightIndex = ((outputChannel * channels + inputChannel) * shape.kernelHeight + kernelY)
                                * shape.kernelWidth + kernelX
                            sum += input[(inputY * shape.inputWidth + inputX) * channels + inputChannel] * weights[weightIndex]
                        }
                    }
                }
                if let bias { sum += bias[outputChannel] }
                let outputIndex = pixel * shape.outputChannels + outputChannel
                if let residual { sum += residual[outputIndex] }
                output[outputIndex] = activation.apply(sum)
            }
        }
    }
}
