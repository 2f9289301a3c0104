import EdgeRuntime

/// Lowers transformers' `HGNetV2Backbone` (D-FINE's backbone; canonical names under `backbone.`, see
/// `BackboneKeyMapping`) with every BatchNorm folded into its convolution.
///
/// Stem: stem1 (3x3, stride 2); its output padded one pixel right and bottom feeds both a 2x2 stride-1
/// max-pool and stem2a/stem2b (2x2 convolutions, the second on a padded map too); the two are
/// concatenated into stem3 (3x3, stride 2) and stem4 (1x1). Stages: an optional depthwise 3x3
/// downsampling, then HG blocks: `layers` convolutions in a chain (kxk, or light: 1x1 then depthwise
/// kxk), the block input and every layer output concatenated, squeezed to half the output width and
/// excited back by two 1x1 convolutions; blocks after the first add their input. Widths come from the
/// tensors.
///
/// Learnable affine blocks (`use_learnable_affine_block`: y = s relu(z) + b after an activation) fold
/// into the convolution: s relu(z) + b is max(s z + b, b) for s >= 0 and min(s z + b, b) otherwise, so
/// the convolution takes weights x s and bias x s + b and a `clamp` at b replaces the ReLU.
struct HGNetV2Backbone {
    let builder: GraphBuilder
    let config: HGNetV2Config
    let outIndices: [Int]

    /// PyTorch's BatchNorm2d default (HGNetV2ConvLayer; D-FINE's frozen copies keep it).
    static let batchNormEpsilon: Float = 1e-5

    /// The maps of the stages in `outIndices` (1-based), in order.
    func build(_ image: ValueID) throws(BuildError) -> [ValueID] {
        let strides = config.stemStrides
        let stem1 = try convolution(image, "backbone.embedder.stem1", kernel: 3, stride: strides[0], activated: true)
        let padded = try builder.add(.pad2d(top: 0, left: 0, bottom: 1, right: 1), [stem1], name: "backbone.embedder.pad1")
        var branch = try convolution(padded, "backbone.embedder.stem2a", kernel: 2, stride: strides[1], activated: true)
        branch = try builder.add(.pad2d(top: 0, left: 0, bottom: 1, right: 1), [branch], name: "backbone.embedder.pad2")
        branch = try convolution(branch, "backbone.embedder.stem2b", kernel: 2, stride: strides[2], activated: true)
        let pooled = try builder.add(.maxPool2d(kernel: 2, stride: 1, padding: 0), [padded], name: "backbone.embedder.pool")
        var x = try builder.concatenateChannels([pooled, branch], name: "backbone.embedder.concat")
        x = try convolution(x, "backbone.embedder.stem3", kernel: 3, stride: strides[3], activated: true)
        x = try convolution(x, "backbone.embedder.stem4", kernel: 1, stride: strides[4], activated: true)
        var features: [ValueID] = []
        for (index, stage) in config.stages.enumerated() where index < (outIndices.max() ?? 0) {
            let prefix = "backbone.encoder.stages.\(index)"
            if let stride = stage.downsampleStride {
                x = try depthwise(x, "\(prefix).downsample", kernel: 3, stride: stride, activated: false)
            }
            for block in 0..<stage.blocks {
                x = try hgBlock(x, prefix: "\(prefix).blocks.\(block)", stage: stage, residual: block > 0)
            }
            if outIndices.contains(index + 1) { features.append(x) }
        }
        return features
    }

    /// HGNetV2BasicLayer: the chain of `layers` convolutions, everything concatenated, squeeze and excitation.
    private func hgBlock(_ input: ValueID, prefix: String, stage: HGNetV2Config.Stage, residual: Bool) throws(BuildError) -> ValueID {
        var outputs = [input]
        var h = input
        for layer in 0..<stage.layers {
            let layerPrefix = "\(prefix).layers.\(layer)"
            if stage.light {
                h = try convolution(h, "\(layerPrefix).conv1", kernel: 1, stride: 1, activated: false)
                h = try depthwise(h, "\(layerPrefix).conv2", kernel: stage.kernel, stride: 1, activated: true)
            } else {
                h = try convolution(h, layerPrefix, kernel: stage.kernel, stride: 1, activated: true)
            }
            outputs.append(h)
        }
        var y = try builder.concatenateChannels(outputs, name: "\(prefix).concat")
        y = try convolution(y, "\(prefix).aggregation.0", kernel: 1, stride: 1, activated: true)
        y = try convolution(y, "\(prefix).aggregation.1", kernel: 1, stride: 1, activated: true)
        return residual ? try builder.binary(.add, y, input, name: "\(prefix).residual") : y
    }

    /// HGNetV2ConvLayer at `prefix`: convolution, BatchNorm, ReLU when `activated` (then the affine block).
    private func convolution(_ x: ValueID, _ prefix: String, kernel: Int, stride: Int, activated: Bool) throws(BuildError) -> ValueID {
        var folded = try builder.foldedConvolution(weight: "\(prefix).convolution.weight", batchNorm: "\(prefix).normalization",
                                                   inputChannels: builder.columns(x), kernel: kernel, epsilon: Self.batchNormEpsilon)
        let bound = try affineBlock(prefix, activated: activated, weight: &folded.weight, bias: &folded.bias)
        let weight = try builder.constant("\(prefix).convolution.weight", shape: [folded.outputs, builder.columns(x), kernel, kernel],
                                          values: folded.weight)
        let bias = try builder.constant("\(prefix).normalization.folded_bias", shape: [folded.outputs], values: folded.bias)
        let activation: Activation = activated && bound == nil ? .relu : .none
        let conv = try builder.add(.conv2d(stride: stride, padding: (kernel - 1) / 2, activation: activation), [x, weight, bias],
                                   name: "\(prefix).convolution")
        return try clamp(conv, bound, prefix: prefix)
    }

    /// A depthwise HGNetV2ConvLayer (`groups` = channels).
    private func depthwise(_ x: ValueID, _ prefix: String, kernel: Int, stride: Int, activated: Bool) throws(BuildError) -> ValueID {
        var folded = try builder.foldedConvolution(weight: "\(prefix).convolution.weight", batchNorm: "\(prefix).normalization",
                                                   inputChannels: 1, kernel: kernel, outputs: builder.columns(x),
                                                   epsilon: Self.batchNormEpsilon)
        let bound = try affineBlock(prefix, activated: activated, weight: &folded.weight, bias: &folded.bias)
        let activation: Activation = activated && bound == nil ? .relu : .none
        let conv = try builder.depthwiseConvolution(
            x, weight: folded.weight, bias: folded.bias, weightName: "\(prefix).convolution.weight",
            biasName: "\(prefix).normalization.folded_bias", name: "\(prefix).convolution", kernel: kernel, stride: stride,
            padding: (kernel - 1) / 2, activation: activation)
        return try clamp(conv, bound, prefix: prefix)
    }

    /// Folds the affine block at `prefix.lab` (after an activation, when the config has them) into the
    /// folded convolution; returns the clamp that replaces the ReLU: (bound, whether it is a lower bound).
    private func affineBlock(_ prefix: String, activated: Bool, weight: inout [Float],
                             bias: inout [Float]) throws(BuildError) -> (Float, lower: Bool)? {
        guard activated, config.learnableAffineBlocks else { return nil }
        let scale = try builder.values("\(prefix).lab.scale", shape: [1])[0]
        let shift = try builder.values("\(prefix).lab.bias", shape: [1])[0]
        guard scale.isFinite, shift.isFinite else {
            throw .unsupported("\(builder.checkpoint.weights.name): '\(prefix).lab' has a non-finite scale or bias")
        }
        for index in weight.indices { weight[index] *= scale }
        for index in bias.indices { bias[index] = bias[index] * scale + shift }
        guard !weight.contains(where: { !$0.isFinite }), !bias.contains(where: { !$0.isFinite }) else {
            throw .unsupported("\(builder.checkpoint.weights.name): folding '\(prefix).lab' into its convolution overflows float32")
        }
        return (shift, lower: scale >= 0)
    }

    private func clamp(_ x: ValueID, _ bound: (Float, lower: Bool)?, prefix: String) throws(BuildError) -> ValueID {
        guard let (value, lower) = bound else { return x }
        let far = Float.greatestFiniteMagnitude
        return try builder.add(.clamp(minimum: lower ? value : -far, maximum: lower ? far : value), [x], name: "\(prefix).lab")
    }
}
