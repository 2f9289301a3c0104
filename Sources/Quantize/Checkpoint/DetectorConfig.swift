import Foundation

/// The detector families this importer builds, by their transformers `model_type`.
public enum DetectorFamily: String, Sendable, CaseIterable {
    case deformableDETR = "deformable_detr"
    case dabDETR = "dab-detr"
    case conditionalDETR = "conditional_detr"
    case rtDETR = "rt_detr"
    case rtDETRv2 = "rt_detr_v2"
    case dFine = "d_fine"
    case deimv2 = "deimv2"

    /// RT-DETR and RT-DETRv2: one builder, v2 differing only in its decoder's sampling.
    public var isRTDETR: Bool { self == .rtDETR || self == .rtDETRv2 }
    /// The real-time families: RT-DETR's hybrid encoder, query selection and config fields (D-FINE
    /// builds on them with its own backbone, encoder blocks and box refinement).
    public var usesHybridEncoder: Bool { isRTDETR || self == .dFine || self == .deimv2 }
    /// D-FINE and DEIMv2: HGNetV2 and the fine-grained distribution refinement (`DFineConfig`).
    public var refinesDistributions: Bool { self == .dFine || self == .deimv2 }
}

/// The parts of a transformers `config.json` that change what the model computes at inference.
///
/// Fields missing from the JSON take the default of that family's transformers config class
/// (`DeformableDetrConfig`, `DabDetrConfig`, `ConditionalDetrConfig` in transformers 5.23).
/// Training-only fields (dropouts, loss weights, matcher costs, init scales, `random_refpoints_xy`,
/// `initializer_bias_prior_prob`) are ignored. Anything that would change the computation in a way
/// the builders do not implement is refused with `CheckpointError.unsupportedValue` naming the field,
/// rather than imported into a silently different model. Sizes are bounded by `Limits`.
public struct DetectorConfig: Sendable, Equatable {
    public var family: DetectorFamily
    public var backbone: BackboneConfig
    /// Transformer width: `d_model`, or `hidden_size` for DAB-DETR.
    public var dModel: Int
    public var encoderLayers: Int
    public var decoderLayers: Int
    /// `encoder_attention_heads`.
    public var encoderHeads: Int
    /// `decoder_attention_heads`.
    public var decoderHeads: Int
    /// `encoder_ffn_dim` (Deformable default 1024, others 2048).
    public var encoderFFNDim: Int
    /// `decoder_ffn_dim`.
    public var decoderFFNDim: Int
    /// `num_queries`: detection slots. A two-stage Deformable DETR uses `twoStageNumProposals` instead.
    public var numQueries: Int
    /// Classifier width: the number of `id2label` entries, else `num_labels`, else 2 (transformers'
    /// rule). The logits have no "no object" column in these families (sigmoid focal loss).
    public var numLabels: Int
    /// `id2label` with integer keys; `LABEL_<i>` names when the JSON has none, as transformers does.
    public var labels: [Int: String]
    /// `activation_function` of the encoder and decoder FFNs: one of `supportedActivations`.
    /// "prelu" (DAB-DETR) has a learned slope tensor `activation_fn.weight`.
    public var activation: String

    // MARK: Deformable DETR (other families: 1, 0, 0, false, false, 0)

    /// `num_feature_levels`: backbone levels plus extra stride-2 3x3 convolutions on C5, 1...4.
    public var numFeatureLevels: Int
    /// `encoder_n_points`: sampling points per head and level in the encoder.
    public var encoderPoints: Int
    /// `decoder_n_points`.
    public var decoderPoints: Int
    /// `with_box_refine`: per-layer box heads refine the reference boxes.
    public var withBoxRefine: Bool
    /// `two_stage`: encoder proposals choose the queries (requires `withBoxRefine`).
    public var twoStage: Bool
    /// `two_stage_num_proposals`: proposals kept (top-k by class-0 logit) in two-stage mode.
    public var twoStageNumProposals: Int

    // MARK: DAB-DETR (other families: 10000, 10000, 0, false, 4)

    /// `temperature_height`: temperature of the y half of the image sine embedding (DAB default 20;
    /// the anchor sine embedding always uses 10000).
    public var temperatureHeight: Int
    /// `temperature_width`: temperature of the x half.
    public var temperatureWidth: Int
    /// `num_patterns`: learned content patterns; queries become `numPatterns * numQueries` when > 0.
    public var numPatterns: Int
    /// `keep_query_pos`: whether every decoder layer (not only the first) adds the positional query
    /// projection in cross-attention.
    public var keepQueryPos: Bool
    /// `query_dim`: anchor size, always 4 (x, y, w, h).
    public var queryDim: Int

    // MARK: All families

    /// Scale applied to the normalized cumulative position before the image sine embedding:
    /// `sine_position_embedding_scale` for DAB-DETR (null means 2π), 2π for the others.
    public var sinePositionEmbeddingScale: Double
    /// `auxiliary_loss`. Training-only for Deformable and DAB, but HF Conditional DETR with `true` feeds
    /// the layer-normed hidden state to the next decoder layer (transformers' ConditionalDetrDecoder), so a
    /// Conditional DETR builder must reproduce it.
    public var auxiliaryLoss: Bool
    /// `position_embedding_type`: only "sine" (DAB-DETR has no such field and is always sine).
    public var positionEmbeddingType: String

    /// RT-DETR's hybrid encoder and query selection (RT-DETR, RT-DETRv2, D-FINE); nil for the other families.
    public var rtDETR: RTDETRConfig?
    /// D-FINE's backbone, encoder blocks and box refinement; nil for the other families.
    public var dFine: DFineConfig?

    /// Detections kept by post-processing, as the official post-processors do: DAB-DETR keeps 300,
    /// Deformable and Conditional DETR 100, RT-DETR all `num_queries` (top-k over queries x classes).
    public var defaultTopK: Int {
        switch family {
        case .dabDETR: 300
        case .deformableDETR, .conditionalDETR: 100
        case .rtDETR, .rtDETRv2, .dFine, .deimv2: numQueries
        }
    }

    /// Activations the builders lower; "swish" is transformers' alias of "silu" and is stored as "silu".
    public static let supportedActivations: Set<String> = ["relu", "prelu", "gelu", "silu"]

    /// Reads and validates `config.json` at `path`.
    public init(contentsOf path: String) throws(CheckpointError) {
        let data = try JSONFields.read(path: path)
        try self.init(jsonData: data, file: URL(fileURLWithPath: path).lastPathComponent)
    }

    /// Parses config.json contents; `file` names the file in errors.
    public init(jsonData: Data, file: String = "config.json") throws(CheckpointError) {
        try self.init(fields: JSONFields.parse(jsonData, file: file))
    }

    init(fields json: JSONFields) throws(CheckpointError) {
        let file = json.file
        guard let modelType = try json.optionalString("model_type") else {
            throw .wrongFieldType(file: file, field: "model_type", expected: "a string", found: "nothing")
        }
        guard let family = DetectorFamily(rawValue: modelType) else {
            throw .unsupportedModelType(file: file, modelType: modelType)
        }
        self.family = family
        func refuse(_ field: String, _ value: Any, _ note: String) -> CheckpointError {
            .unsupportedValue(file: file, field: field, value: "\(value)", note: note)
        }
        /// An integer in 1...limit (see `Limits`).
        func positive(_ key: String, default defaultValue: Int, limit: Int) throws(CheckpointError) -> Int {
            let value = try json.int(key, default: defaultValue)
            guard value > 0 else { throw refuse(key, value, "expected a positive integer") }
            guard value <= limit else { throw refuse(key, value, "expected at most \(limit)") }
            return value
        }

        // Transformer sizes.
        switch family {
        case .dabDETR:
            dModel = try positive("hidden_size", default: 256, limit: Limits.width)
        case .deformableDETR, .conditionalDETR, .rtDETR, .rtDETRv2, .dFine, .deimv2:
            // `hidden_size` is an attribute alias of `d_model` in these config classes.
            let widthKey = json.has("d_model") || !json.has("hidden_size") ? "d_model" : "hidden_size"
            dModel = try positive(widthKey, default: 256, limit: Limits.width)
        }
        let ffnDefault = family == .deformableDETR || family.usesHybridEncoder ? 1024 : 2048
        if family.usesHybridEncoder {
            // RT-DETR's encoder_layers counts AIFI layers: 1 by default, 0 (no AIFI) allowed.
            encoderLayers = try json.int("encoder_layers", default: 1)
            guard (0...Limits.layers).contains(encoderLayers) else {
                throw refuse("encoder_layers", encoderLayers, "expected 0...\(Limits.layers)")
            }
        } else {
            encoderLayers = try positive("encoder_layers", default: 6, limit: Limits.layers)
        }
        decoderLayers = try positive("decoder_layers", default: 6, limit: Limits.layers)
        encoderHeads = try positive("encoder_attention_heads", default: 8, limit: Limits.heads)
        decoderHeads = try positive("decoder_attention_heads", default: 8, limit: Limits.heads)
        encoderFFNDim = try positive("encoder_ffn_dim", default: ffnDefault, limit: Limits.ffnDim)
        decoderFFNDim = try positive("decoder_ffn_dim", default: ffnDefault, limit: Limits.ffnDim)
        numQueries = try positive("num_queries", default: 300, limit: Limits.queries)
        let widthField = family == .dabDETR ? "hidden_size" : "d_model"
        for (headsField, heads) in [("encoder_attention_heads", encoderHeads), ("decoder_attention_heads", decoderHeads)]
        where dModel % heads != 0 {
            throw refuse(headsField, heads, "\(widthField) \(dModel) is not divisible by it")
        }
        // The sine embeddings interleave sin/cos over dModel/2 features per axis.
        guard dModel % 4 == 0 else { throw refuse(widthField, dModel, "expected a multiple of 4") }

        (numLabels, labels) = try Self.parseLabels(json)

        let activationDefault = family == .dabDETR ? "prelu" : "relu"
        // RT-DETR's `activation_function` is its convolutions'; the decoder FFN has its own field.
        let activationKey = family.usesHybridEncoder ? "decoder_activation_function" : "activation_function"
        var activation = try json.string(activationKey, default: activationDefault)
        if activation == "swish" { activation = "silu" }
        guard Self.supportedActivations.contains(activation) else {
            throw refuse(activationKey, activation, family.usesHybridEncoder ? "expected relu, gelu or silu" : "expected relu, prelu, gelu or silu")
        }
        self.activation = activation

        if try json.bool("dilation", default: false) {
            throw refuse("dilation", true, "DC5 dilated backbones are not implemented")
        }
        let numChannels = try json.int("num_channels", default: 3)
        guard numChannels == 3 else { throw refuse("num_channels", numChannels, "expected 3 (RGB)") }
        auxiliaryLoss = try json.bool("auxiliary_loss", default: false)
        if family == .dabDETR {
            positionEmbeddingType = "sine"
        } else {
            positionEmbeddingType = try json.string("position_embedding_type", default: "sine")
            guard positionEmbeddingType == "sine" else {
                throw refuse("position_embedding_type", positionEmbeddingType, "only sine is implemented")
            }
        }

        // Deformable DETR and RT-DETR's decoder.
        if family.usesHybridEncoder {
            numFeatureLevels = try json.int("num_feature_levels", default: 3)
            guard (1...4).contains(numFeatureLevels) else {
                throw refuse("num_feature_levels", numFeatureLevels, "expected 1...4")
            }
            encoderPoints = 0
            // D-FINE may give each level its own count: `DFineConfig.decoderPoints`.
            decoderPoints = family.refinesDistributions ? 0 : try positive("decoder_n_points", default: 4, limit: Limits.points)
            withBoxRefine = true
            twoStage = false
            twoStageNumProposals = 0
        } else if family == .deformableDETR {
            numFeatureLevels = try json.int("num_feature_levels", default: 4)
            guard (1...4).contains(numFeatureLevels) else {
                throw refuse("num_feature_levels", numFeatureLevels, "expected 1...4")
            }
            encoderPoints = try positive("encoder_n_points", default: 4, limit: Limits.points)
            decoderPoints = try positive("decoder_n_points", default: 4, limit: Limits.points)
            withBoxRefine = try json.bool("with_box_refine", default: false)
            twoStage = try json.bool("two_stage", default: false)
            twoStageNumProposals = try positive("two_stage_num_proposals", default: 300, limit: Limits.queries)
            if twoStage && !withBoxRefine {
                throw refuse("two_stage", true, "transformers requires with_box_refine = true with it")
            }
            // input_proj's GroupNorm has 32 groups.
            guard dModel % 32 == 0 else { throw refuse("d_model", dModel, "expected a multiple of 32 (GroupNorm)") }
        } else {
            numFeatureLevels = 1
            encoderPoints = 0
            decoderPoints = 0
            withBoxRefine = false
            twoStage = false
            twoStageNumProposals = 0
        }

        // DAB-DETR.
        if family == .dabDETR {
            temperatureHeight = try positive("temperature_height", default: 20, limit: Limits.temperature)
            temperatureWidth = try positive("temperature_width", default: 20, limit: Limits.temperature)
            numPatterns = try json.int("num_patterns", default: 0)
            guard numPatterns >= 0 else { throw refuse("num_patterns", numPatterns, "expected 0 or more") }
            // Checked one at a time first, so that the product cannot overflow.
            guard numPatterns <= Limits.queries, numPatterns * numQueries <= Limits.queries else {
                throw refuse("num_patterns", numPatterns,
                             "num_patterns x num_queries (\(numQueries)) must be at most \(Limits.queries) queries")
            }
            keepQueryPos = try json.bool("keep_query_pos", default: false)
            queryDim = try json.int("query_dim", default: 4)
            guard queryDim == 4 else { throw refuse("query_dim", queryDim, "anchors are 4-d boxes") }
            if try json.bool("normalize_before", default: false) {
                throw refuse("normalize_before", true, "pre-norm DAB-DETR is not implemented")
            }
            sinePositionEmbeddingScale = try json.optionalDouble("sine_position_embedding_scale") ?? 2 * Double.pi
            guard sinePositionEmbeddingScale.isFinite, sinePositionEmbeddingScale > 0,
                  sinePositionEmbeddingScale <= Limits.sinePositionEmbeddingScale else {
                throw refuse("sine_position_embedding_scale", sinePositionEmbeddingScale,
                             "expected a number in (0, \(Int(Limits.sinePositionEmbeddingScale))]")
            }
        } else {
            temperatureHeight = 10000
            temperatureWidth = 10000
            numPatterns = 0
            keepQueryPos = false
            queryDim = 4
            sinePositionEmbeddingScale = 2 * Double.pi
        }

        if family.usesHybridEncoder {
            guard activation != "prelu" else { throw refuse(activationKey, activation, "expected relu, gelu or silu") }
            let vd: (Bool, Bool), strides: [Int]
            if family.refinesDistributions {
                let (hgnet, outIndices) = try HGNetV2Config.parse(json)
                backbone = BackboneConfig(layout: .hgNetV2, depths: hgnet.stages.map(\.blocks), block: .basic, outIndices: outIndices)
                (vd, strides) = ((false, false), outIndices.map { hgnet.stageStrides[$0 - 1] })
                let options = family == .deimv2 ? try DEIMv2Options(json, backboneMaps: outIndices.count) : nil
                let rt = try RTDETRConfig(json, family: family, backbone: backbone, backboneStrides: strides, vd: vd,
                                          numFeatureLevels: numFeatureLevels, liteEncoder: options?.liteEncoder ?? false)
                rtDETR = rt
                dFine = try DFineConfig(json, backbone: hgnet, decoderLayers: decoderLayers, numFeatureLevels: numFeatureLevels,
                                        encoderHiddenDim: rt.encoderHiddenDim, deimv2: options)
                return
            }
            (backbone, vd, strides) = try RTDETRConfig.backbone(json)
            rtDETR = try RTDETRConfig(json, family: family, backbone: backbone, backboneStrides: strides, vd: vd,
                                      numFeatureLevels: numFeatureLevels)
            dFine = nil
            return
        }
        rtDETR = nil
        dFine = nil
        backbone = try Self.parseBackbone(json, family: family, numFeatureLevels: numFeatureLevels)
        if family == .deformableDETR {
            let levels = backbone.outIndices.count
            if numFeatureLevels == 1 ? levels != 1 : levels > numFeatureLevels {
                throw refuse("num_feature_levels", numFeatureLevels, "backbone returns \(levels) stages")
            }
        }
    }

    // MARK: Labels

    private static func parseLabels(_ json: JSONFields) throws(CheckpointError) -> (Int, [Int: String]) {
        func refuse(_ field: String, _ value: String, _ note: String) -> CheckpointError {
            .unsupportedValue(file: json.file, field: field, value: value, note: note)
        }
        guard let id2label = try json.optionalObject("id2label") else {
            let count = try json.int("num_labels", default: 2)
            guard count > 0 else { throw refuse("num_labels", "\(count)", "expected a positive integer") }
            guard count <= Limits.labels else { throw refuse("num_labels", "\(count)", "expected at most \(Limits.labels)") }
            var labels: [Int: String] = [:]
            for id in 0..<count { labels[id] = "LABEL_\(id)" }
            return (count, labels)
        }
        let count = id2label.object.count
        guard count > 0 else { throw refuse("id2label", "{}", "expected at least one label") }
        guard count <= Limits.labels else {
            throw refuse("id2label", "(\(count) entries)", "expected at most \(Limits.labels) labels")
        }
        var labels: [Int: String] = [:]
        var keys: [Int: String] = [:]
        // Sorted so that which of two colliding keys is named first does not depend on hashing.
        for (key, value) in id2label.object.sorted(by: { $0.key < $1.key }) {
            guard let id = Int(key), id >= 0 else {
                throw .wrongFieldType(file: json.file, field: "id2label", expected: "non-negative integer keys",
                                      found: "the key \"\(key)\"")
            }
            guard case .string(let name) = value else {
                throw .wrongFieldType(file: json.file, field: "id2label.\(key)", expected: "a string",
                                      found: value.summary)
            }
            if let other = keys[id] {
                throw refuse("id2label", "{\"\(other)\", \"\(key)\"}", "both keys are id \(id)")
            }
            // Ids number the classifier outputs; a gap would give column i another column's name.
            guard id < count else {
                throw refuse("id2label.\(key)", "\"\(name.prefix(40))\"",
                             "id \(id) is outside 0...\(count - 1): ids must number the \(count) classifier outputs")
            }
            keys[id] = key
            labels[id] = name
        }
        return (count, labels)
    }

    // MARK: Backbone

    /// transformers' default `out_indices` for a timm backbone built from the legacy fields.
    private static func defaultTimmOutIndices(_ family: DetectorFamily, numFeatureLevels: Int) -> [Int] {
        switch family {
        case .deformableDETR: numFeatureLevels > 1 ? [2, 3, 4] : [4]
        case .dabDETR, .conditionalDETR: [1, 2, 3, 4]
        case .rtDETR, .rtDETRv2, .dFine, .deimv2: [2, 3, 4]
        }
    }

    /// Reads the backbone in either form transformers writes:
    /// - 5.x: `backbone_config` is an object with `model_type` "timm_backbone" (`backbone` names the
    ///   timm model) or "resnet" (an HF `ResNetConfig`);
    /// - 4.x hub checkpoints: `backbone_config` null, `use_timm_backbone` true, `backbone` "resnet50",
    ///   `backbone_kwargs` {"out_indices": [...], "in_chans": 3}.
    private static func parseBackbone(
        _ json: JSONFields, family: DetectorFamily, numFeatureLevels: Int
    ) throws(CheckpointError) -> BackboneConfig {
        if let nested = try json.optionalObject("backbone_config") {
            let modelType = try nested.string("model_type", default: "resnet")
            switch modelType {
            case "timm_backbone":
                let name = try nested.string("backbone", default: "resnet50")
                let outIndices = try nested.optionalIntArray("out_indices")
                    ?? defaultTimmOutIndices(family, numFeatureLevels: numFeatureLevels)
                try checkTimmOptions(nested, channelsKey: "num_channels")
                return try timmBackbone(name: name, field: nested.fieldName("backbone"), outIndices: outIndices,
                                        outIndicesField: nested.fieldName("out_indices"), file: json.file)
            case "resnet":
                return try huggingFaceResNet(nested)
            default:
                throw .unsupportedValue(file: json.file, field: nested.fieldName("model_type"), value: modelType,
                                        note: "expected a ResNet: timm_backbone or resnet")
            }
        }
        let backboneName = try json.optionalString("backbone")
        let kwargs = try json.optionalObject("backbone_kwargs")
        let hasKwargs = kwargs.map { !$0.object.isEmpty } ?? false
        guard try json.bool("use_timm_backbone", default: true) else {
            if let backboneName {
                throw .unsupportedValue(file: json.file, field: "backbone", value: backboneName,
                                        note: "an HF backbone must be given as backbone_config")
            }
            // transformers' default: ResNetConfig() returning stage4 only.
            return try huggingFaceResNet(JSONFields(file: json.file, path: "backbone_config.",
                                                    object: ["out_features": .array([.string("stage4")])]))
        }
        var outIndices = defaultTimmOutIndices(family, numFeatureLevels: numFeatureLevels)
        if let kwargs, hasKwargs {
            try checkTimmOptions(kwargs, channelsKey: "in_chans")
            // timm's own default with explicit kwargs is the last feature only.
            outIndices = try kwargs.optionalIntArray("out_indices") ?? [4]
        }
        return try timmBackbone(name: backboneName ?? "resnet50", field: "backbone", outIndices: outIndices,
                                outIndicesField: "backbone_kwargs.out_indices", file: json.file)
    }

    private static func checkTimmOptions(_ fields: JSONFields, channelsKey: String) throws(CheckpointError) {
        let channels = try fields.int(channelsKey, default: 3)
        guard channels == 3 else {
            throw .unsupportedValue(file: fields.file, field: fields.fieldName(channelsKey), value: "\(channels)",
                                    note: "expected 3 (RGB)")
        }
        if let stride = try fields.optionalInt("output_stride"), stride != 32 {
            throw .unsupportedValue(file: fields.file, field: fields.fieldName("output_stride"), value: "\(stride)",
                                    note: "dilated (DC5) backbones are not implemented")
        }
    }

    private static func timmBackbone(
        name: String, field: String, outIndices: [Int], outIndicesField: String, file: String
    ) throws(CheckpointError) -> BackboneConfig {
        guard let model = BackboneConfig.timmModels[BackboneConfig.timmBaseName(name)] else {
            throw .unsupportedValue(file: file, field: field, value: name,
                                    note: "expected resnet18, resnet34, resnet50 or resnet101")
        }
        try checkOutIndices(outIndices, field: outIndicesField, file: file)
        return BackboneConfig(layout: .timm, depths: model.depths, block: model.block, outIndices: outIndices)
    }

    /// An HF `ResNetConfig` object; defaults are ResNetConfig's (ResNet-50 layout, last stage out).
    private static func huggingFaceResNet(_ fields: JSONFields) throws(CheckpointError) -> BackboneConfig {
        func refuse(_ key: String, _ note: String) -> CheckpointError {
            .unsupportedValue(file: fields.file, field: fields.fieldName(key), value: "true", note: note)
        }
        let stages = try resNetStages(fields, defaultOutIndices: [4])
        if try fields.bool("downsample_in_first_stage", default: false) {
            throw refuse("downsample_in_first_stage", "torchvision ResNets do not downsample in layer1")
        }
        if try fields.bool("downsample_in_bottleneck", default: false) {
            throw refuse("downsample_in_bottleneck", "only the stride-on-3x3 (v1.5) bottleneck is implemented")
        }
        return BackboneConfig(layout: .huggingFaceResNet, depths: stages.depths, block: stages.block,
                              outIndices: stages.outIndices)
    }

    /// The stage fields every transformers ResNet config has (`resnet` and `rt_detr_resnet`): four
    /// `depths`, `layer_type`, `hidden_act` (relu), `num_channels` (3) and the stages read out
    /// (`out_indices`, else `out_features`; `defaultOutIndices` when neither is given).
    static func resNetStages(_ fields: JSONFields, defaultOutIndices: [Int])
        throws(CheckpointError) -> (depths: [Int], block: BackboneBlock, outIndices: [Int]) {
        let file = fields.file
        func refuse(_ key: String, _ value: Any, _ note: String) -> CheckpointError {
            .unsupportedValue(file: file, field: fields.fieldName(key), value: "\(value)", note: note)
        }
        let depths = try fields.optionalIntArray("depths") ?? [3, 4, 6, 3]
        guard depths.count == 4, depths.allSatisfy({ (1...BackboneConfig.maximumDepth).contains($0) }) else {
            throw refuse("depths", depths, "expected four stage depths in 1...\(BackboneConfig.maximumDepth)")
        }
        let layerType = try fields.string("layer_type", default: "bottleneck")
        guard let block = BackboneBlock(rawValue: layerType) else {
            throw refuse("layer_type", layerType, "expected basic or bottleneck")
        }
        let hiddenAct = try fields.string("hidden_act", default: "relu")
        guard hiddenAct == "relu" else { throw refuse("hidden_act", hiddenAct, "expected relu") }
        let channels = try fields.int("num_channels", default: 3)
        guard channels == 3 else { throw refuse("num_channels", channels, "expected 3 (RGB)") }

        // out_indices wins when both are present; transformers keeps them aligned on save.
        let stageNames = ["stem", "stage1", "stage2", "stage3", "stage4"]
        var outIndices = defaultOutIndices
        if let indices = try fields.optionalIntArray("out_indices") {
            outIndices = indices
        } else if let features = try fields.optionalStringArray("out_features") {
            outIndices = []
            for feature in features {
                guard let index = stageNames.firstIndex(of: feature) else {
                    throw refuse("out_features", features, "expected stage names stage1...stage4")
                }
                outIndices.append(index)
            }
        }
        try checkOutIndices(outIndices, field: fields.fieldName("out_indices"), file: file)
        return (depths, block, outIndices)
    }

    /// Stages 1...4 in increasing order; the stem (0) and negative (from-the-end) indices are not used
    /// by any released checkpoint and would need their own lowering.
    private static func checkOutIndices(_ indices: [Int], field: String, file: String) throws(CheckpointError) {
        let increasing = zip(indices, indices.dropFirst()).allSatisfy { $0 < $1 }
        guard !indices.isEmpty, indices.allSatisfy({ (1...4).contains($0) }), increasing else {
            throw .unsupportedValue(file: file, field: field, value: "\(indices)",
                                    note: "expected increasing stage numbers in 1...4")
        }
    }
}

extension DetectorConfig {
    /// Upper bounds on config.json sizes, sized to the real families with generous headroom. A value
    /// outside is refused with `CheckpointError.unsupportedValue` naming the field, so that every size
    /// the builders derive from the configuration fits in `Int` and allocations stay bounded.
    ///
    /// | Field                                          | Accepted                            | Released models |
    /// |------------------------------------------------|-------------------------------------|-----------------|
    /// | `d_model` (`hidden_size` for DAB-DETR)         | 4...4096, multiple of 4 (of 32 for Deformable) | 256  |
    /// | `encoder_layers`, `decoder_layers`             | 1...64                              | 6               |
    /// | `encoder_attention_heads`, `decoder_attention_heads` | 1...64, dividing `d_model`    | 8               |
    /// | `encoder_ffn_dim`, `decoder_ffn_dim`           | 1...65536                           | 1024, 2048      |
    /// | `num_queries`                                  | 1...10000                           | 300             |
    /// | DAB-DETR `num_patterns` x `num_queries`        | 0...10000                           | 0, 3 x 300      |
    /// | `two_stage_num_proposals`                      | 1...10000                           | 300             |
    /// | `num_labels`, or the entries of `id2label`     | 1...100000 (`id2label` ids 0...n-1, each once) | 91   |
    /// | `num_feature_levels`                           | 1...4                               | 4               |
    /// | `encoder_n_points`, `decoder_n_points`         | 1...64                              | 4               |
    /// | `temperature_height`, `temperature_width`      | 1...1000000                         | 20, 10000       |
    /// | `sine_position_embedding_scale`                | finite, > 0, at most 1000           | 2 pi            |
    /// | `backbone_config.depths`                       | four stages of 1...64 blocks        | 23 (ResNet-101) |
    ///
    /// preprocessor_config.json sizes are bounded by `PreprocessorConfigParser.maximumSide` (4096 px).
    /// With these bounds the largest derived products are far from overflow: the Deformable sampling
    /// width heads x levels x points x 2 is at most 32768, a DAB-DETR query table 10000 x 4096 values.
    public enum Limits {
        public static let width = 4096
        public static let layers = 64
        public static let heads = 64
        public static let ffnDim = 65536
        /// Decoder queries, DAB-DETR's patterns included, and two-stage proposals.
        public static let queries = 10000
        public static let labels = 100_000
        public static let points = 64
        public static let temperature = 1_000_000
        public static let sinePositionEmbeddingScale: Double = 1000
        public static let stageDepth = BackboneConfig.maximumDepth
    }
}
