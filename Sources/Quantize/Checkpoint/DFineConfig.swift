/// What a D-FINE `config.json` (`model_type` "d_fine", transformers' `DFineConfig`) adds to RT-DETR's
/// fields (`RTDETRConfig`, which D-FINE shares): the HGNetV2 backbone, the per-level sampling points, the
/// ELAN encoder blocks and the fine-grained distribution refinement (FDR) of the decoder.
///
/// Defaults are DFineConfig's (transformers 5.23). Training-only fields (denoising, loss weights, matcher)
/// are ignored; `layer_scale` only widens decoder layers after `eval_idx`, which inference never runs
/// (transformers cannot run them either: it has one box head per decoder layer).
public struct DFineConfig: Sendable, Equatable {
    public var backbone: HGNetV2Config
    /// `decoder_n_points`: sampling points per head at each level (one number means every level).
    public var decoderPoints: [Int]
    /// `max_num_bins`: each box edge is a distribution over max_num_bins + 1 bins.
    public var maxNumBins: Int
    /// `reg_scale` and `up`: the weighting function's curvature and range. The checkpoint's
    /// `model.decoder.reg_scale` and `model.decoder.up` tensors, which transformers loads over these, win.
    public var regScale: Float
    public var up: Float
    /// `top_prob_values`, `lqe_hidden_dim`, `lqe_layers`: the location quality estimator.
    public var topProbValues: Int
    public var lqeHiddenDim: Int
    public var lqeLayers: Int
    /// `round(3 * depth_mult)` (Python's round, half to even): RepVGG blocks in each CSP of an ELAN block.
    public var elanBlocks: Int
    /// `round(hidden_expansion * encoder_hidden_dim // 2)`: an ELAN block's branch width.
    public var elanBranchChannels: Int
    /// DEIMv2's options (`model_type` deimv2); nil for D-FINE.
    public var deimv2: DEIMv2Options?

    init(_ json: JSONFields, backbone: HGNetV2Config, decoderLayers: Int, numFeatureLevels: Int,
         encoderHiddenDim: Int, deimv2: DEIMv2Options? = nil) throws(CheckpointError) {
        self.deimv2 = deimv2
        let file = json.file
        func refuse(_ field: String, _ value: Any, _ note: String) -> CheckpointError {
            .unsupportedValue(file: file, field: field, value: "\(value)", note: note)
        }
        self.backbone = backbone
        let limit = DetectorConfig.Limits.points
        var points = try json.optionalIntOrIntArray("decoder_n_points") ?? [4]
        if points.count == 1 { points = Array(repeating: points[0], count: numFeatureLevels) }
        guard points.count == numFeatureLevels, points.allSatisfy({ (1...limit).contains($0) }) else {
            throw refuse("decoder_n_points", points, "expected one count in 1...\(limit), or one per level (\(numFeatureLevels))")
        }
        decoderPoints = points
        let evalIndex = try json.int("eval_idx", default: -1)
        guard evalIndex == -1 || evalIndex == decoderLayers - 1 else {
            throw refuse("eval_idx", evalIndex, "expected -1 or \(decoderLayers - 1), the last decoder layer (transformers 5.23 "
                         + "cannot run an earlier one: it has one box head per layer)")
        }
        maxNumBins = try json.int("max_num_bins", default: 32)
        // The weighting function divides by max_num_bins - 2 and has max_num_bins + 1 values only when even.
        guard (4...1024).contains(maxNumBins), maxNumBins % 2 == 0 else {
            throw refuse("max_num_bins", maxNumBins, "expected an even number in 4...1024")
        }
        func number(_ key: String, default value: Double) throws(CheckpointError) -> Float {
            let result = try json.optionalDouble(key) ?? value
            guard result.isFinite, result != 0, abs(result) <= 1000 else { throw refuse(key, result, "expected a non-zero number in [-1000, 1000]") }
            return Float(result)
        }
        regScale = try number("reg_scale", default: 4)
        up = try number("up", default: 0.5)
        topProbValues = try json.int("top_prob_values", default: 4)
        guard (1...(maxNumBins + 1)).contains(topProbValues) else {
            throw refuse("top_prob_values", topProbValues, "expected 1...\(maxNumBins + 1) (max_num_bins + 1)")
        }
        lqeHiddenDim = try json.int("lqe_hidden_dim", default: 64)
        guard (1...DetectorConfig.Limits.width).contains(lqeHiddenDim) else {
            throw refuse("lqe_hidden_dim", lqeHiddenDim, "expected 1...\(DetectorConfig.Limits.width)")
        }
        lqeLayers = try json.int("lqe_layers", default: 2)
        guard (1...16).contains(lqeLayers) else { throw refuse("lqe_layers", lqeLayers, "expected 1...16") }
        let depthMultiplier = try json.optionalDouble("depth_mult") ?? 1
        guard depthMultiplier.isFinite, depthMultiplier > 0, depthMultiplier <= 16 else {
            throw refuse("depth_mult", depthMultiplier, "expected a number in (0, 16]")
        }
        elanBlocks = Int((3 * depthMultiplier).rounded(.toNearestOrEven))
        guard elanBlocks >= 1 else { throw refuse("depth_mult", depthMultiplier, "round(3 x depth_mult) is no block") }
        let expansion = try json.optionalDouble("hidden_expansion") ?? 1
        guard expansion.isFinite, expansion > 0, expansion <= 16 else {
            throw refuse("hidden_expansion", expansion, "expected a number in (0, 16]")
        }
        // Python: round(hidden_expansion * encoder_hidden_dim // 2), a float floor division then round.
        elanBranchChannels = Int(((expansion * Double(encoderHiddenDim)) / 2).rounded(.down).rounded(.toNearestOrEven))
        guard elanBranchChannels >= 1 else {
            throw refuse("hidden_expansion", expansion, "hidden_expansion x encoder_hidden_dim // 2 is below one channel")
        }
    }
}

/// What DEIMv2 (`model_type` deimv2, transformers' `Deimv2Config`) changes in D-FINE: RMSNorm and SwiGLU
/// decoder layers (always), and these choices. Only the HGNetV2 sizes are imported: DINOv3 backbones
/// (`backbone_config.model_type` dinov3_vit) are refused.
public struct DEIMv2Options: Sendable, Equatable {
    /// `encoder_type` "lite" (Atto, Femto, Pico): no AIFI, one backbone map and an average-pooled one
    /// fused by FPN/PAN blocks; "hybrid": D-FINE's encoder with DEIMv2's blocks.
    public var liteEncoder: Bool
    /// `encoder_fuse_op` "sum" (DEIMv2's) or "cat" (D-FINE's): how the hybrid encoder joins two maps.
    public var fuseBySum: Bool
    /// `use_gateway`: the gate after cross-attention; otherwise a residual RMSNorm.
    public var gateway: Bool
    /// `share_bbox_head`: one box head for every decoder layer.
    public var sharedBoxHead: Bool
    /// `encoder_has_trailing_conv`: the CSP layers end with a 3x3 convolution.
    public var trailingConvolution: Bool

    init(_ json: JSONFields, backboneMaps: Int) throws(CheckpointError) {
        func refuse(_ field: String, _ value: Any, _ note: String) -> CheckpointError {
            .unsupportedValue(file: json.file, field: field, value: "\(value)", note: note)
        }
        let encoder = try json.string("encoder_type", default: "hybrid")
        guard encoder == "hybrid" || encoder == "lite" else { throw refuse("encoder_type", encoder, "expected hybrid or lite") }
        liteEncoder = encoder == "lite"
        if liteEncoder && backboneMaps != 1 {
            throw refuse("backbone_config.out_indices", backboneMaps, "the lite encoder reads one backbone map")
        }
        let fuse = try json.string("encoder_fuse_op", default: "sum")
        guard fuse == "sum" || fuse == "cat" else { throw refuse("encoder_fuse_op", fuse, "expected sum or cat") }
        fuseBySum = fuse == "sum"
        gateway = try json.bool("use_gateway", default: true)
        sharedBoxHead = try json.bool("share_bbox_head", default: false)
        trailingConvolution = try json.bool("encoder_has_trailing_conv", default: true)
    }
}
