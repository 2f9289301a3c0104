/// The `backbone_config` of a D-FINE checkpoint: transformers' `HGNetV2Config` (`model_type` "hgnet_v2"),
/// the backbone of every D-FINE and of DEIMv2's small sizes.
///
/// Widths (`stem_channels`, `stage_*_channels`) are read from the tensors, as for the ResNets, so only the
/// fields that shape the computation are kept. Defaults are HGNetV2Config's (transformers 5.23).
public struct HGNetV2Config: Sendable, Equatable {
    /// `stem_strides`: stem1, stem2a, stem2b, stem3, stem4.
    public var stemStrides: [Int]
    /// Per stage: whether it starts with a depthwise 3x3 downsampling (`stage_downsample`) and its stride
    /// (`stage_downsample_strides`), its blocks (`stage_num_blocks`), the convolutions of each block
    /// (`stage_numb_of_layers`), whether they are light (a 1x1 then a depthwise kxk: `stage_light_block`)
    /// and their kernel size (`stage_kernel_size`).
    public var stages: [Stage]
    /// `use_learnable_affine_block`: a scalar scale and bias after every activation.
    public var learnableAffineBlocks: Bool

    public struct Stage: Sendable, Equatable {
        public var downsampleStride: Int?
        public var blocks: Int
        public var layers: Int
        public var light: Bool
        public var kernel: Int
    }

    /// Each stage's stride from the input: the stem's stride 1 and 4 strides, times the downsamplings so far.
    public var stageStrides: [Int] {
        var stride = stemStrides[0] * stemStrides[3] * stemStrides[4]
        return stages.map { stage in
            stride *= stage.downsampleStride ?? 1
            return stride
        }
    }

    /// Reads `backbone_config` (absent: HGNetV2Config's defaults, which D-FINE builds with out_indices
    /// [2, 3, 4]); returns the configuration and the 1-based stages the detector reads.
    static func parse(_ json: JSONFields) throws(CheckpointError) -> (HGNetV2Config, outIndices: [Int]) {
        let fields = try json.optionalObject("backbone_config")
            ?? JSONFields(file: json.file, path: "backbone_config.", object: [:])
        func refuse(_ key: String, _ value: Any, _ note: String) -> CheckpointError {
            .unsupportedValue(file: json.file, field: fields.fieldName(key), value: "\(value)", note: note)
        }
        let modelType = try fields.string("model_type", default: "hgnet_v2")
        guard modelType == "hgnet_v2" else {
            throw refuse("model_type", modelType, "expected hgnet_v2 (DINOv3 backbones are not implemented)")
        }
        let activation = try fields.string("hidden_act", default: "relu")
        guard activation == "relu" else { throw refuse("hidden_act", activation, "expected relu") }
        let channels = try fields.int("num_channels", default: 3)
        guard channels == 3 else { throw refuse("num_channels", channels, "expected 3 (RGB)") }
        let stemStrides = try fields.optionalIntArray("stem_strides") ?? [2, 1, 1, 2, 1]
        guard stemStrides.count == 5, stemStrides.allSatisfy({ (1...4).contains($0) }) else {
            throw refuse("stem_strides", stemStrides, "expected five strides in 1...4")
        }
        // HGNetV2Embeddings pads stem1's output by one pixel for the 2x2 stem2a and the pooling, whose
        // output then matches stem2b's only when both stride 1.
        guard stemStrides[1] == 1, stemStrides[2] == 1 else {
            throw refuse("stem_strides", stemStrides, "stem2a and stem2b must stride 1 (transformers concatenates their output with a stride-1 pooling)")
        }
        let blocks = try fields.optionalIntArray("stage_num_blocks") ?? [1, 1, 3, 1]
        let stageCount = blocks.count
        guard (1...8).contains(stageCount) else { throw refuse("stage_num_blocks", blocks, "expected 1 to 8 stages") }
        func list<T>(_ key: String, _ values: [T]?, _ defaults: [T]) throws(CheckpointError) -> [T] {
            let result = values ?? defaults
            guard result.count == stageCount else {
                throw refuse(key, result, "expected \(stageCount) entries, one per stage (stage_num_blocks has \(stageCount))")
            }
            return result
        }
        let downsample = try list("stage_downsample", try fields.optionalBoolArray("stage_downsample"), [false, true, true, true])
        // transformers checks every stage list's length but this one's: a longer list (the four-stage default
        // with fewer stages) is read as far as the stages go.
        var strides = try fields.optionalIntArray("stage_downsample_strides") ?? [2, 2, 2, 2]
        guard strides.count >= stageCount else {
            throw refuse("stage_downsample_strides", strides, "expected at least \(stageCount) entries, one per stage")
        }
        strides = Array(strides.prefix(stageCount))
        let light = try list("stage_light_block", try fields.optionalBoolArray("stage_light_block"), [false, false, true, true])
        let kernels = try list("stage_kernel_size", try fields.optionalIntArray("stage_kernel_size"), [3, 3, 5, 5])
        let layers = try list("stage_numb_of_layers", try fields.optionalIntArray("stage_numb_of_layers"), [6, 6, 6, 6])
        // The stage width lists must agree in length too (transformers checks it); their values come from the tensors.
        for key in ["stage_in_channels", "stage_mid_channels", "stage_out_channels"] {
            if let widths = try fields.optionalIntArray(key), widths.count != stageCount {
                throw refuse(key, widths, "expected \(stageCount) entries, one per stage")
            }
        }
        var stages: [Stage] = []
        for index in 0..<stageCount {
            guard (1...BackboneConfig.maximumDepth).contains(blocks[index]) else {
                throw refuse("stage_num_blocks", blocks, "expected 1...\(BackboneConfig.maximumDepth) blocks per stage")
            }
            guard (1...64).contains(layers[index]) else { throw refuse("stage_numb_of_layers", layers, "expected 1...64") }
            guard (1...15).contains(kernels[index]), kernels[index] % 2 == 1 else {
                throw refuse("stage_kernel_size", kernels, "expected odd sizes in 1...15")
            }
            guard (1...4).contains(strides[index]) else { throw refuse("stage_downsample_strides", strides, "expected 1...4") }
            stages.append(Stage(downsampleStride: downsample[index] ? strides[index] : nil, blocks: blocks[index],
                                layers: layers[index], light: light[index], kernel: kernels[index]))
        }
        let outIndices = try fields.optionalIntArray("out_indices") ?? [2, 3, 4]
        let increasing = zip(outIndices, outIndices.dropFirst()).allSatisfy { $0 < $1 }
        guard !outIndices.isEmpty, increasing, outIndices.allSatisfy({ (1...stageCount).contains($0) }) else {
            throw refuse("out_indices", outIndices, "expected increasing stage numbers in 1...\(stageCount) (0, the stem, is not implemented)")
        }
        let config = HGNetV2Config(stemStrides: stemStrides, stages: stages,
                                   learnableAffineBlocks: try fields.bool("use_learnable_affine_block", default: false))
        return (config, outIndices)
    }
}
