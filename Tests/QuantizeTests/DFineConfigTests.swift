import Foundation
import Testing
@testable import Quantize

/// D-FINE's config.json (model_type d_fine, backbone hgnet_v2): transformers' defaults, the bundled
/// fixtures, and one-line refusals naming the field.
@Suite("Checkpoint: D-FINE config.json")
struct DFineConfigTests {
    private func parse(_ json: String) throws(CheckpointError) -> DetectorConfig {
        try DetectorConfig(jsonData: Data(json.utf8))
    }

    /// `DFineConfig()` in transformers 5.23: HGNetV2's defaults (stages 2-4 at strides 8/16/32), 256 wide,
    /// six decoder layers, 4 points per level, 32 bins, LQE 64 wide over the top 4, one ELAN CSP of 3 blocks.
    @Test func defaultsMatchTransformers() throws {
        let config = try parse(#"{"model_type": "d_fine"}"#)
        let rt = try #require(config.rtDETR)
        let dFine = try #require(config.dFine)
        #expect(config.family == .dFine && config.dModel == 256 && config.decoderLayers == 6 && config.defaultTopK == 300)
        #expect(config.backbone.layout == .hgNetV2 && config.backbone.outIndices == [2, 3, 4])
        #expect(rt.featStrides == [8, 16, 32] && rt.samplingMethod == .bilinear && rt.offsetScale == 0.5)
        #expect(dFine.decoderPoints == [4, 4, 4] && dFine.maxNumBins == 32 && dFine.regScale == 4 && dFine.up == 0.5)
        #expect(dFine.topProbValues == 4 && dFine.lqeHiddenDim == 64 && dFine.lqeLayers == 2)
        #expect(dFine.elanBlocks == 3 && dFine.elanBranchChannels == 128)
        #expect(dFine.backbone.stemStrides == [2, 1, 1, 2, 1] && dFine.backbone.stages.count == 4)
        #expect(dFine.backbone.stages.map(\.downsampleStride) == [nil, 2, 2, 2])
        #expect(dFine.backbone.stages.map(\.light) == [false, false, true, true])
        #expect(dFine.backbone.stages.map(\.kernel) == [3, 3, 5, 5] && !dFine.backbone.learnableAffineBlocks)
    }

    /// The fixtures: D-FINE-N's layout (two levels, [6, 6] points, affine blocks) and D-FINE-S's ([3, 6, 3]).
    @Test func fixtures() throws {
        let root = GoldenFixture.root.appendingPathComponent("models")
        let n = try DetectorConfig(contentsOf: root.appendingPathComponent("d_fine_n/config.json").path)
        #expect(n.dFine?.decoderPoints == [6, 6] && n.rtDETR?.featStrides == [16, 32] && n.backbone.outIndices == [3, 4])
        // round(3 x 0.5) = 2 (half to even); round(0.34 x 32 // 2) = 5.
        #expect(n.dFine?.elanBlocks == 2 && n.dFine?.elanBranchChannels == 5 && n.dFine?.backbone.learnableAffineBlocks == true)
        let s = try DetectorConfig(contentsOf: root.appendingPathComponent("d_fine_s/config.json").path)
        #expect(s.dFine?.decoderPoints == [3, 6, 3] && s.dFine?.elanBlocks == 1 && s.dFine?.maxNumBins == 16)
    }

    @Test(arguments: [
        (#""backbone_config": {"model_type": "dinov3_convnext"}"#, "backbone_config.model_type", "dinov3_convnext"),
        (#""backbone_config": {"hidden_act": "gelu"}"#, "backbone_config.hidden_act", "gelu"),
        (#""backbone_config": {"stem_strides": [2, 2, 1, 2, 1]}"#, "backbone_config.stem_strides", "[2, 2, 1, 2, 1]"),
        (#""backbone_config": {"stage_num_blocks": [1, 1, 3]}"#, "backbone_config.stage_downsample", "[false, true, true, true]"),
        (#""backbone_config": {"stage_kernel_size": [3, 3, 4, 5]}"#, "backbone_config.stage_kernel_size", "[3, 3, 4, 5]"),
        (#""backbone_config": {"out_indices": [0, 1]}"#, "backbone_config.out_indices", "[0, 1]"),
        (#""decoder_n_points": [3, 6]"#, "decoder_n_points", "[3, 6]"),
        (#""decoder_n_points": [3, 0, 3]"#, "decoder_n_points", "[3, 0, 3]"),
        (#""eval_idx": 2"#, "eval_idx", "2"),
        (#""max_num_bins": 7"#, "max_num_bins", "7"),
        (#""max_num_bins": 2"#, "max_num_bins", "2"),
        (#""top_prob_values": 40"#, "top_prob_values", "40"),
        (#""reg_scale": 0"#, "reg_scale", "0.0"),
        (#""depth_mult": 0.1"#, "depth_mult", "0.1"),
        (#""feat_strides": [4, 8, 16]"#, "feat_strides", "[4, 8, 16]"),
        (#""learn_initial_query": true"#, "learn_initial_query", "true"),
    ])
    func refusals(fields: String, field: String, value: String) {
        let json = "{\"model_type\": \"d_fine\", " + fields + "}"
        do {
            _ = try parse(json)
            Issue.record("accepted \(json)")
        } catch {
            guard case .unsupportedValue(_, let errorField, let errorValue, _) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(errorField == field && errorValue == value, "\(error)")
            #expect(error.description.hasPrefix("config.json: \(field) = \(value) is not supported ("), "\(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func wrongTypesNameTheField() {
        for fields in [#""decoder_n_points": "six""#, #""backbone_config": {"stage_downsample": [1, 0, 1, 1]}"#] {
            #expect(throws: CheckpointError.self) { _ = try parse("{\"model_type\": \"d_fine\", " + fields + "}") }
        }
    }

    /// DEIMv2 (model_type deimv2): D-FINE's fields plus its encoder, gate and head options; the lite
    /// encoder reads one backbone map and makes two; DINOv3 backbones are refused.
    @Test func deimv2() throws {
        let defaults = try parse(#"{"model_type": "deimv2"}"#)
        let options = try #require(defaults.dFine?.deimv2)
        #expect(defaults.family == .deimv2 && defaults.backbone.layout == .hgNetV2)
        #expect(!options.liteEncoder && options.fuseBySum && options.gateway && !options.sharedBoxHead && options.trailingConvolution)
        let root = GoldenFixture.root.appendingPathComponent("models")
        let lite = try DetectorConfig(contentsOf: root.appendingPathComponent("deimv2_lite/config.json").path)
        #expect(lite.dFine?.deimv2?.liteEncoder == true && lite.dFine?.deimv2?.gateway == false)
        #expect(lite.backbone.outIndices == [3] && lite.rtDETR?.decoderInChannelCount == 2 && lite.dFine?.decoderPoints == [4, 2])
        for (fields, field, value) in [
            (#""backbone_config": {"model_type": "dinov3_vit"}"#, "backbone_config.model_type", "dinov3_vit"),
            (#""encoder_type": "tiny""#, "encoder_type", "tiny"),
            (#""encoder_fuse_op": "max""#, "encoder_fuse_op", "max"),
            (#""encoder_type": "lite", "decoder_in_channels": [32, 32]"#, "backbone_config.out_indices", "3"),
        ] {
            do {
                _ = try parse("{\"model_type\": \"deimv2\", " + fields + "}")
                Issue.record("accepted \(fields)")
            } catch {
                guard case .unsupportedValue(_, let errorField, let errorValue, _) = error else { Issue.record("\(error)"); continue }
                #expect(errorField == field && errorValue == value, "\(error)")
            }
        }
    }
}
