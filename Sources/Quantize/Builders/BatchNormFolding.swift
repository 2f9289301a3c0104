import EdgeRuntime

extension GraphBuilder {
    /// A bias-free `kernel` x `kernel` convolution (`weight`, `[outputs, inputChannels, kernel, kernel]`)
    /// followed by inference-mode BatchNorm at `batchNorm` (`.weight`, `.bias`, `.running_mean`,
    /// `.running_var`), folded: w' = w * s, b' = beta - mean * s with s = gamma / sqrt(var + eps). The
    /// kernel size is the architecture's (the padding depends on it): a checkpoint with another is
    /// refused, not run with the wrong padding. The output width is `outputs` where the configuration
    /// states it (a tensor of another width is refused with the standard shape message), else the one
    /// size read from the file.
    func foldedConvolution(weight name: String, batchNorm: String, inputChannels: Int, kernel: Int, outputs expected: Int? = nil,
                           epsilon: Float) throws(BuildError) -> (weight: [Float], bias: [Float], outputs: Int) {
        let weightShape = try shape(of: name)
        guard weightShape.count == 4, weightShape[0] >= 1 else {
            throw .unsupported("\(checkpoint.weights.name): tensor '\(name)' has shape \(weightShape), "
                + "expected [\(expected.map(String.init) ?? "outputs >= 1"), \(inputChannels), \(kernel), \(kernel)]")
        }
        let outputs = expected ?? weightShape[0]
        var weight = try values(name, shape: [outputs, inputChannels, kernel, kernel])
        let gamma = try values("\(batchNorm).weight", shape: [outputs])
        let beta = try values("\(batchNorm).bias", shape: [outputs])
        let mean = try values("\(batchNorm).running_mean", shape: [outputs])
        let variance = try values("\(batchNorm).running_var", shape: [outputs])
        var bias = [Float](repeating: 0, count: outputs)
        let perOutput = weight.count / outputs
        let file = checkpoint.weights.name
        for o in 0..<outputs {
            // A negative variance would fold into NaN weights; trained BatchNorm never has one.
            guard variance[o] >= 0 else {
                throw .unsupported("\(file): tensor '\(batchNorm).running_var' has the negative value \(variance[o]) (element \(o))")
            }
            let scale = gamma[o] * (1 / (variance[o] + epsilon).squareRoot())
            bias[o] = beta[o] - mean[o] * scale
            for i in 0..<perOutput { weight[o * perOutput + i] *= scale }
        }
        // Finite inputs can still fold past float32 (a huge gamma over a tiny variance).
        for o in 0..<outputs
        where !bias[o].isFinite || weight[(o * perOutput)..<((o + 1) * perOutput)].contains(where: { !$0.isFinite }) {
            throw .unsupported("\(file): folding '\(batchNorm)' into '\(name)' overflows float32 (output channel \(o))")
        }
        return (weight, bias, outputs)
    }

    /// The folded convolution as a `conv2d` node named `name` (constants `weight` and
    /// `{batchNorm}.folded_bias`), with `activation` and `residual` fused.
    func convolutionBatchNorm(_ x: ValueID, weight name: String, batchNorm: String, name nodeName: String, kernel: Int,
                              stride: Int, padding: Int, activation: Activation, residual: ValueID? = nil,
                              outputs: Int? = nil, epsilon: Float) throws(BuildError) -> ValueID {
        let folded = try foldedConvolution(weight: name, batchNorm: batchNorm, inputChannels: columns(x), kernel: kernel,
                                           outputs: outputs, epsilon: epsilon)
        let weightID = try constant(name, shape: [folded.outputs, columns(x), kernel, kernel], values: folded.weight)
        let biasID = try constant("\(batchNorm).folded_bias", shape: [folded.outputs], values: folded.bias)
        var inputs = [x, weightID, biasID]
        if let residual { inputs.append(residual) }
        return try add(.conv2d(stride: stride, padding: padding, activation: activation), inputs, name: nodeName)
    }
}

extension GraphBuilder {
    /// A depthwise convolution (`weight` `[channels, 1, kernel, kernel]`, PyTorch `groups = channels`) with
    /// its BatchNorm folded, as a `depthwiseConv2d` node: the folded weights are stored tap-major,
    /// `[kernel, kernel, channels]`, the layout the kernel reads in place.
    func depthwiseConvolutionBatchNorm(_ x: ValueID, weight name: String, batchNorm: String, name nodeName: String,
                                       kernel: Int, stride: Int, padding: Int, activation: Activation,
                                       epsilon: Float) throws(BuildError) -> ValueID {
        let channels = columns(x)
        let folded = try foldedConvolution(weight: name, batchNorm: batchNorm, inputChannels: 1, kernel: kernel,
                                           outputs: channels, epsilon: epsilon)
        return try depthwiseConvolution(x, weight: folded.weight, bias: folded.bias, weightName: name, biasName: "\(batchNorm).folded_bias",
                                        name: nodeName, kernel: kernel, stride: stride, padding: padding, activation: activation)
    }

    /// A `depthwiseConv2d` node from PyTorch-ordered weights (`[channels, kernel * kernel]`), stored tap-major.
    func depthwiseConvolution(_ x: ValueID, weight: [Float], bias: [Float], weightName: String, biasName: String,
                              name nodeName: String, kernel: Int, stride: Int, padding: Int,
                              activation: Activation) throws(BuildError) -> ValueID {
        let channels = columns(x)
        let taps = kernel * kernel
        var tapMajor = [Float](repeating: 0, count: weight.count)
        for channel in 0..<channels {
            for tap in 0..<taps { tapMajor[tap * channels + channel] = weight[channel * taps + tap] }
        }
        let weightID = try constant(weightName, shape: [kernel, kernel, channels], values: tapMajor)
        let biasID = try constant(biasName, shape: [channels], values: bias)
        return try add(.depthwiseConv2d(stride: stride, padding: padding, activation: activation), [x, weightID, biasID],
                       name: nodeName)
    }
}
