import EdgeRuntime

/// Lowers RT-DETR's ResNet-vd (transformers' `RTDetrResNetBackbone`, canonical names under `backbone.`,
/// see `BackboneKeyMapping`) with every BatchNorm folded into its convolution.
///
/// "vd" differs from torchvision's ResNet in two places: the stem is three 3x3 convolutions (stride 2,
/// 1, 1) before the max-pool, and a downsampling shortcut average-pools (2x2, stride 2, ceil mode) before
/// its 1x1 convolution instead of striding it. Widths come from the weights; depths, block type and the
/// two downsampling options from `backbone_config`.
struct RTDETRResNet {
    let builder: GraphBuilder
    let config: BackboneConfig
    /// `downsample_in_first_stage`: stage 1 strides too.
    let downsampleInFirstStage: Bool
    /// `downsample_in_bottleneck`: a bottleneck strides its first 1x1 convolution, not its 3x3.
    let downsampleInBottleneck: Bool

    /// PyTorch's BatchNorm2d default, which RT-DETR's backbone keeps (frozen or not).
    static let batchNormEpsilon: Float = 1e-5

    /// The feature maps of the stages in `config.outIndices` (1-based), in order.
    func build(_ image: ValueID) throws(BuildError) -> [ValueID] {
        var x = image
        for (index, stride) in [2, 1, 1].enumerated() {
            x = try convolution(x, "backbone.embedder.embedder.\(index)", kernel: 3, stride: stride, activation: .relu)
        }
        x = try builder.add(.maxPool2d(kernel: 3, stride: 2, padding: 1), [x], name: "backbone.embedder.pooler")
        var features: [ValueID] = []
        for stage in 1...(config.outIndices.max() ?? 4) {
            let stageStride = stage > 1 || downsampleInFirstStage ? 2 : 1
            for block in 0..<config.depths[stage - 1] {
                let prefix = "backbone.encoder.stages.\(stage - 1).layers.\(block)"
                x = try self.block(x, prefix: prefix, stride: block == 0 ? stageStride : 1, first: block == 0)
            }
            if config.outIndices.contains(stage) { features.append(x) }
        }
        return features
    }

    private func block(_ x: ValueID, prefix: String, stride: Int, first: Bool) throws(BuildError) -> ValueID {
        let inputs = builder.columns(x)
        switch config.block {
        case .basic:
            let h = try convolution(x, "\(prefix).layer.0", kernel: 3, stride: stride, activation: .relu)
            let outputs = builder.columns(h)
            // RTDetrResNetBasicLayer: the first block of a stage always has a shortcut convolution,
            // average-pooled when the width changes; later blocks add their input.
            var shortcut = x
            if first && inputs != outputs {
                guard stride == 2 else {
                    throw .unsupported("\(prefix): a basic block that widens \(inputs) -> \(outputs) channels without "
                        + "striding (transformers' RTDetrResNetBasicLayer cannot run it either: embedding_size must "
                        + "equal hidden_sizes[0])")
                }
                shortcut = try averagePool(x, name: "\(prefix).shortcut.0")
                shortcut = try convolution(shortcut, "\(prefix).shortcut.1", kernel: 1, stride: 1, activation: .none)
            } else if first {
                shortcut = try convolution(x, "\(prefix).shortcut", kernel: 1, stride: stride, activation: .none)
            }
            return try convolution(h, "\(prefix).layer.1", kernel: 3, stride: 1, activation: .relu, residual: shortcut)
        case .bottleneck:
            var h = try convolution(x, "\(prefix).layer.0", kernel: 1, stride: downsampleInBottleneck ? stride : 1,
                                    activation: .relu)
            h = try convolution(h, "\(prefix).layer.1", kernel: 3, stride: downsampleInBottleneck ? 1 : stride,
                                activation: .relu)
            let outputs = try builder.shape(of: "\(prefix).layer.2.convolution.weight").first ?? 0
            // RTDetrResNetBottleNeckLayer: a shortcut convolution when the width or the stride changes,
            // average-pooled first when the block strides.
            var shortcut = x
            if stride == 2 {
                shortcut = try averagePool(x, name: "\(prefix).shortcut.0")
                shortcut = try convolution(shortcut, "\(prefix).shortcut.1", kernel: 1, stride: 1, activation: .none)
            } else if inputs != outputs {
                shortcut = try convolution(x, "\(prefix).shortcut", kernel: 1, stride: stride, activation: .none)
            }
            return try convolution(h, "\(prefix).layer.2", kernel: 1, stride: 1, activation: .relu, residual: shortcut)
        }
    }

    /// `prefix.convolution` + `prefix.normalization`, folded; padding kernel / 2 (`RTDetrResNetConvLayer`).
    private func convolution(_ x: ValueID, _ prefix: String, kernel: Int, stride: Int, activation: Activation,
                             residual: ValueID? = nil) throws(BuildError) -> ValueID {
        try builder.convolutionBatchNorm(
            x, weight: "\(prefix).convolution.weight", batchNorm: "\(prefix).normalization", name: "\(prefix).convolution",
            kernel: kernel, stride: stride, padding: kernel / 2, activation: activation, residual: residual,
            epsilon: Self.batchNormEpsilon)
    }

    private func averagePool(_ x: ValueID, name: String) throws(BuildError) -> ValueID {
        try builder.add(.averagePool2d(kernel: 2, stride: 2, padding: 0, ceilMode: true), [x], name: name)
    }
}
