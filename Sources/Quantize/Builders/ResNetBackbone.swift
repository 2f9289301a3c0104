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

    /// A bias-free convolution at `conv` followed by frozen BatchNorm at `batchNorm`, folded
    /// (`GraphBuilder.convolutionBatchNorm`).
    func convBatchNorm(_ x: ValueID, conv: String, batchNorm: String, kernel: Int, stride: Int, padding: Int,
                       activation: Activation, residual: ValueID? = nil) throws(BuildError) -> ValueID {
        try builder.convolutionBatchNorm(x, weight: "\(conv).weight", batchNorm: batchNorm, name: conv, kernel: kernel,
                                         stride: stride, padding: padding, activation: activation, residual: residual,
                                         epsilon: Self.batchNormEpsilon)
    }
}
