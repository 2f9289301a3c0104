import EdgeRuntime

/// Lowers a torchvision/timm-style ResNet (canonical names `backbone.conv1.weight`, `backbone.layer2.0.bn1.*`,
/// ...) with frozen BatchNorm folded into each convolution.
///
/// Widths are read from the weights, not the config: the config only names depth and block type, and a
/// fine-tuned checkpoint is the truth about its own shapes.
struct ResNetBackbone {
    let builder: GraphBuilder
    let config: BackboneConfig

    /// transformers' `DetrFrozenBatchNorm2d` epsilon.
    static let batchNormEpsilon: Float = 1e-5

    /// Runs the backbone on `image` ([H, W, 3]) and returns the feature map of every stage in
    /// `stages` (1-based: 1 = layer1 ... 4 = layer4), in order.
    func build(_ image: ValueID, stages: [Int]) throws(BuildError) -> [ValueID] {
        var x = try convBatchNorm(image, conv: "backbone.conv1", batchNorm: "backbone.bn1", kernel: 7, stride: 2, padding: 3,
                                  activation: .relu)
        x = try builder.add(.maxPool2d(kernel: 3, stride: 2, padding: 1), [x], name: "backbone.maxpool")
        var features: [ValueID] = []
        let lastStage = stages.max() ?? 4
        for stage in 1...lastStage {
            let depth = config.depths[stage - 1]
            for block in 0..<depth {
                let stride = (stage > 1 && block == 0) ? 2 : 1
                let prefix = "backbone.layer\(stage).\(block)"
                x = try self.block(x, prefix: prefix, stride: stride)
            }
            if stages.contains(stage) { features.append(x) }
        }
        return features
    }

    private func block(_ x: ValueID, prefix: String, stride: Int) throws(BuildError) -> ValueID {
        let shortcut: ValueID
        if builder.has("\(prefix).downsample.0.weight") {
            shortcut = try convBatchNorm(x, conv: "\(prefix).downsample.0", batchNorm: "\(prefix).downsample.1",
                                         kernel: 1, stride: stride, padding: 0, activation: .none)
        } else {
            shortcut = x
        }
        switch config.block {
        case .basic:
            let h = try convBatchNorm(x, conv: "\(prefix).conv1", batchNorm: "\(prefix).bn1", kernel: 3, stride: stride, padding: 1,
                                      activation: .relu)
            return try convBatchNorm(h, conv: "\(prefix).conv2", batchNorm: "\(prefix).bn2", kernel: 3, stride: 1, padding: 1,
                                     activation: .relu, residual: shortcut)
        case .bottleneck:
            var h = try convBatchNorm(x, conv: "\(prefix).conv1", batchNorm: "\(prefix).bn1", kernel: 1, stride: 1, padding: 0,
                                      activation: .relu)
            h = try convBatchNorm(h, conv: "\(prefix).conv2", batchNorm: "\(prefix).bn2", kernel: 3, stride: stride, padding: 1,
                                  activation: .relu)
            return try convBatchNorm(h, conv: "\(prefix).conv3", batchNorm: "\(prefix).bn3", kernel: 1, stride: 1, padding: 0,
                                     activation: .relu, residual: shortcut)
        }
    }

    /// A bias-free `kernel` x `kernel` convolution followed by frozen BatchNorm, folded: w' = w * s,
    /// b' = beta - mean * s with s = gamma / sqrt(var + eps). The kernel size is the architecture's (the
    /// padding depends on it): a checkpoint with another is refused, not run with the wrong padding.
    func convBatchNorm(_ x: ValueID, conv: String, batchNorm: String, kernel: Int, stride: Int, padding: Int,
                       activation: Activation, residual: ValueID? = nil) throws(BuildError) -> ValueID {
        let weightShape = try builder.shape(of: "\(conv).weight")
        // The output width is the one size read from the file; every other is the input's or the kernel's.
        guard weightShape.count == 4, weightShape[0] >= 1 else {
            throw .unsupported("\(builder.checkpoint.weights.name): tensor '\(conv).weight' has shape \(weightShape), "
                + "expected [outputs >= 1, \(builder.columns(x)), \(kernel), \(kernel)]")
        }
        let outputs = weightShape[0]
        let expectedShape = [outputs, builder.columns(x), kernel, kernel]
        var weight = try builder.values("\(conv).weight", shape: expectedShape)
        let gamma = try builder.values("\(batchNorm).weight", shape: [outputs])
        let beta = try builder.values("\(batchNorm).bias", shape: [outputs])
        let mean = try builder.values("\(batchNorm).running_mean", shape: [outputs])
        let variance = try builder.values("\(batchNorm).running_var", shape: [outputs])
        var bias = [Float](repeating: 0, count: outputs)
        let perOutput = weight.count / max(outputs, 1)
        let file = builder.checkpoint.weights.name
        for o in 0..<outputs {
            // A negative variance would fold into NaN weights; trained BatchNorm never has one.
            guard variance[o] >= 0 else {
                throw .unsupported("\(file): tensor '\(batchNorm).running_var' has the negative value \(variance[o]) (element \(o))")
            }
            let scale = gamma[o] * (1 / (variance[o] + Self.batchNormEpsilon).squareRoot())
            bias[o] = beta[o] - mean[o] * scale
            for i in 0..<perOutput { weight[o * perOutput + i] *= scale }
        }
        // Finite inputs can still fold past float32 (a huge gamma over a tiny variance).
        for o in 0..<outputs
        where !bias[o].isFinite || weight[(o * perOutput)..<((o + 1) * perOutput)].contains(where: { !$0.isFinite }) {
            throw .unsupported("\(file): folding '\(batchNorm)' into '\(conv).weight' overflows float32 (output channel \(o))")
        }
        let weightID = try builder.constant("\(conv).weight", shape: expectedShape, values: weight)
        let biasID = try builder.constant("\(batchNorm).folded_bias", shape: [outputs], values: bias)
        var inputs = [x, weightID, biasID]
        if let residual { inputs.append(residual) }
        return try builder.add(.conv2d(stride: stride, padding: padding, activation: activation), inputs, name: conv)
    }
}
