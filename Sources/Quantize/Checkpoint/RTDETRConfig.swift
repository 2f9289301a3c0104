import EdgeRuntime

/// The parts of an RT-DETR `config.json` (`model_type` "rt_detr", transformers' `RTDetrConfig`) that the
/// generic `DetectorConfig` fields do not cover: the hybrid encoder, query selection and the ResNet-vd
/// backbone's options. RT-DETRv2 and D-FINE share them (D-FINE's own fields are `DFineConfig`).
///
/// Defaults are RTDetrConfig's (transformers 5.23). Fields that only matter in training (denoising,
/// losses, matcher, init, `freeze_backbone_batch_norms`) are ignored; so is `with_box_refine`, which
/// transformers' RT-DETR never reads (it always refines). Anything the builder does not implement is
/// refused naming the field.
public struct RTDETRConfig: Sendable, Equatable {
    /// `encoder_hidden_dim`: width of the hybrid encoder's maps (FPN/PAN and AIFI).
    public var encoderHiddenDim: Int
    /// `encoder_in_channels`: one entry per backbone map (their widths are read from the weights; the
    /// count must equal the backbone's `out_indices` count).
    public var encoderInChannelCount: Int
    /// `encode_proj_layers`: indices of the maps AIFI runs on (stride 32 only, [2], in every release).
    public var encodeProjLayers: [Int]
    /// `positional_encoding_temperature` of AIFI's 2-D sine embedding.
    public var positionalEncodingTemperature: Int
    /// Whether AIFI adds its position embedding. transformers skips it in eval when `eval_size` is set
    /// (RTDetrAIFILayer), and the import reproduces what transformers computes.
    public var aifiPositionEmbedding: Bool
    /// `encoder_activation_function`: AIFI's FFN (gelu by default).
    public var encoderActivation: String
    /// `activation_function`: the CSP/RepVGG/lateral/downsample convolutions (silu by default).
    public var convolutionActivation: String
    /// `normalize_before`: pre-norm AIFI layers.
    public var normalizeBefore: Bool
    /// `int(encoder_hidden_dim * hidden_expansion)`: the CSP layers' hidden width.
    public var cspHiddenChannels: Int
    /// `decoder_in_channels` count: the PAN maps each get a 1x1 projection; further levels up to
    /// `num_feature_levels` are 3x3 stride-2 convolutions of the last PAN map.
    public var decoderInChannelCount: Int
    /// The last `decoder_in_channels` entry: D-FINE skips `decoder_input_proj` when d_model equals it.
    public var decoderInChannelsLast: Int
    /// `anchor_image_size` (height, width): transformers then takes the anchors of that size instead of the
    /// input's; the builder refuses inputs whose levels differ from it.
    public var anchorImageSize: [Int]?
    /// `feat_strides`: the strides of the backbone maps (8, 16, 32).
    public var featStrides: [Int]
    /// `layer_norm_eps` (transformer LayerNorms) and `batch_norm_eps` (encoder and decoder-projection
    /// BatchNorms; the backbone and `encoder_input_proj` use PyTorch's default 1e-5).
    public var layerNormEpsilon: Float
    public var batchNormEpsilon: Float
    /// RT-DETRv2's `decoder_method`: "default" samples bilinearly, "discrete" reads one pixel (v1: bilinear).
    public var samplingMethod: SamplingMethod
    /// RT-DETRv2's `decoder_offset_scale`: sampling offsets are scaled by it times the box size over the
    /// point count (v1: 0.5).
    public var offsetScale: Float
    /// ResNet-vd options of `backbone_config`: the stem width is read from the weights.
    public var downsampleInFirstStage: Bool
    public var downsampleInBottleneck: Bool

    /// Activations the RT-DETR builder lowers (transformers' ACT2FN names; "swish" is stored as "silu").
    static let activations: Set<String> = ["relu", "gelu", "silu"]

    /// `backboneStrides`: the stride of each map the backbone returns, which `feat_strides` must list.
    /// D-FINE reads these fields as RT-DETRv2 does, without `decoder_n_levels`.
    /// `liteEncoder`: DEIMv2's LiteEncoder, which has no AIFI and makes two maps of the backbone's one.
    init(_ json: JSONFields, family: DetectorFamily, backbone: BackboneConfig, backboneStrides: [Int], vd: (Bool, Bool),
         numFeatureLevels: Int, liteEncoder: Bool = false) throws(CheckpointError) {
        let file = json.file
        func refuse(_ field: String, _ value: Any, _ note: String) -> CheckpointError {
            .unsupportedValue(file: file, field: field, value: "\(value)", note: note)
        }
        func activation(_ key: String, default value: String) throws(CheckpointError) -> String {
            var name = try json.string(key, default: value)
            if name == "swish" { name = "silu" }
            guard Self.activations.contains(name) else { throw refuse(key, name, "expected relu, gelu or silu") }
            return name
        }
        let limits = DetectorConfig.Limits.self
        encoderHiddenDim = try json.int("encoder_hidden_dim", default: 256)
        guard (4...limits.width).contains(encoderHiddenDim), encoderHiddenDim % 4 == 0 else {
            throw refuse("encoder_hidden_dim", encoderHiddenDim, "expected a multiple of 4 in 4...\(limits.width)")
        }
        let mapCount = backbone.outIndices.count
        let inChannels = try json.optionalIntArray("encoder_in_channels") ?? [512, 1024, 2048]
        guard inChannels.count == mapCount else {
            throw refuse("encoder_in_channels", inChannels, "expected one entry per backbone out_indices stage (\(mapCount))")
        }
        encoderInChannelCount = inChannels.count
        featStrides = try json.optionalIntArray("feat_strides") ?? [8, 16, 32]
        guard featStrides == backboneStrides else {
            throw refuse("feat_strides", featStrides, "the backbone stages \(backbone.outIndices) have strides \(backboneStrides)")
        }
        encodeProjLayers = liteEncoder ? [] : try json.optionalIntArray("encode_proj_layers") ?? [2]
        let increasing = zip(encodeProjLayers, encodeProjLayers.dropFirst()).allSatisfy { $0 < $1 }
        guard encodeProjLayers.allSatisfy({ (0..<mapCount).contains($0) }), increasing else {
            throw refuse("encode_proj_layers", encodeProjLayers, "expected increasing map indices in 0...\(mapCount - 1)")
        }
        positionalEncodingTemperature = try json.int("positional_encoding_temperature", default: 10000)
        guard (1...limits.temperature).contains(positionalEncodingTemperature) else {
            throw refuse("positional_encoding_temperature", positionalEncodingTemperature, "expected 1...\(limits.temperature)")
        }
        if json.has("eval_size") { _ = try json.optionalInt("eval_size") }
        aifiPositionEmbedding = !json.has("eval_size")
        encoderActivation = try activation("encoder_activation_function", default: "gelu")
        convolutionActivation = try activation("activation_function", default: "silu")
        normalizeBefore = try json.bool("normalize_before", default: false)
        let expansion = try json.optionalDouble("hidden_expansion") ?? 1
        guard expansion.isFinite, expansion > 0, expansion <= 16 else {
            throw refuse("hidden_expansion", expansion, "expected a number in (0, 16]")
        }
        // Python's int(): truncation toward zero.
        cspHiddenChannels = Int((Double(encoderHiddenDim) * expansion).rounded(.towardZero))
        guard cspHiddenChannels >= 1 else {
            throw refuse("hidden_expansion", expansion, "encoder_hidden_dim x hidden_expansion is below one channel")
        }
        let decoderInChannels = try json.optionalIntArray("decoder_in_channels") ?? [256, 256, 256]
        let encoderMaps = liteEncoder ? 2 : mapCount
        guard decoderInChannels.count == encoderMaps else {
            throw refuse("decoder_in_channels", decoderInChannels, "expected one entry per encoder map (\(encoderMaps))")
        }
        guard numFeatureLevels >= encoderMaps else {
            throw refuse("num_feature_levels", numFeatureLevels, "below the \(encoderMaps) encoder maps")
        }
        decoderInChannelCount = decoderInChannels.count
        decoderInChannelsLast = decoderInChannels.last ?? 0
        // RTDetrModel calls `.tile` on the nn.Embedding it builds for this, so transformers 5.23 cannot run it.
        if try json.bool("learn_initial_query", default: false) {
            throw refuse("learn_initial_query", true, "transformers 5.23 cannot run it either (RTDetrModel tiles an nn.Embedding)")
        }
        if json.has("anchor_image_size") {
            let size = try json.optionalIntArray("anchor_image_size") ?? []
            guard size.count == 2, size.allSatisfy({ (1...RuntimeLimits.maximumInputSide).contains($0) }) else {
                throw refuse("anchor_image_size", size, "expected [height, width] in 1...\(RuntimeLimits.maximumInputSide) px")
            }
            // transformers builds anchors for the feat_strides levels only: more levels cannot run.
            guard numFeatureLevels == featStrides.count else {
                throw refuse("anchor_image_size", size, "transformers cannot use it with num_feature_levels "
                             + "\(numFeatureLevels) != \(featStrides.count) feat_strides")
            }
            anchorImageSize = size
        } else {
            anchorImageSize = nil
        }
        func epsilon(_ key: String) throws(CheckpointError) -> Float {
            let value = try json.optionalDouble(key) ?? 1e-5
            guard value.isFinite, value > 0, value <= 1 else { throw refuse(key, value, "expected a number in (0, 1]") }
            return Float(value)
        }
        layerNormEpsilon = try epsilon("layer_norm_eps")
        batchNormEpsilon = try epsilon("batch_norm_eps")
        (downsampleInFirstStage, downsampleInBottleneck) = vd
        samplingMethod = .bilinear
        offsetScale = 0.5
        if family == .rtDETRv2 || family == .dFine || family == .deimv2 {
            let method = try json.string("decoder_method", default: "default")
            switch method {
            case "default": samplingMethod = .bilinear
            case "discrete": samplingMethod = .discrete
            default: throw refuse("decoder_method", method, "expected default or discrete")
            }
            let scale = try json.optionalDouble("decoder_offset_scale") ?? 0.5
            guard scale.isFinite, abs(scale) <= 1000 else { throw refuse("decoder_offset_scale", scale, "expected a number in [-1000, 1000]") }
            offsetScale = Float(scale)
            // The decoder attention has decoder_n_levels levels of sampling points; transformers can only
            // run it when they are the num_feature_levels maps.
            if family == .rtDETRv2 {
                let decoderLevels = try json.int("decoder_n_levels", default: 3)
                guard decoderLevels == numFeatureLevels else {
                    throw refuse("decoder_n_levels", decoderLevels, "expected num_feature_levels (\(numFeatureLevels))")
                }
            }
        }
    }

    /// `backbone_config` of `model_type` "rt_detr_resnet" (RTDetrResNetConfig; absent or null: its defaults,
    /// ResNet-50-vd returning stages 2, 3 and 4), with its two downsampling options.
    static func backbone(_ json: JSONFields) throws(CheckpointError) -> (BackboneConfig, vd: (Bool, Bool), strides: [Int]) {
        let fields = try json.optionalObject("backbone_config")
            ?? JSONFields(file: json.file, path: "backbone_config.", object: [:])
        func refuse(_ key: String, _ value: Any, _ note: String) -> CheckpointError {
            .unsupportedValue(file: json.file, field: fields.fieldName(key), value: "\(value)", note: note)
        }
        let modelType = try fields.string("model_type", default: "rt_detr_resnet")
        guard modelType == "rt_detr_resnet" else { throw refuse("model_type", modelType, "expected rt_detr_resnet") }
        let stages = try DetectorConfig.resNetStages(fields, defaultOutIndices: [2, 3, 4])
        let vd = (try fields.bool("downsample_in_first_stage", default: false),
                  try fields.bool("downsample_in_bottleneck", default: false))
        let strides = stages.outIndices.map { (vd.0 ? 2 : 1) << ($0 + 1) }
        return (BackboneConfig(layout: .rtDETRResNet, depths: stages.depths, block: stages.block, outIndices: stages.outIndices),
                vd, strides)
    }
}
