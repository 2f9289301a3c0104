import Foundation
import Testing
@testable import Quantize

@Suite("Checkpoint: config.json")
struct CheckpointConfigTests {
    private let file = "config.json"

    private func parse(_ json: String) throws(CheckpointError) -> DetectorConfig {
        try DetectorConfig(jsonData: Data(json.utf8))
    }

    /// Expects `json` to be refused with `unsupportedValue` on `field` with `value`.
    private func expectRefused(
        _ json: String, field: String, value: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try parse(json)
            Issue.record("accepted \(json)", sourceLocation: sourceLocation)
        } catch {
            guard case .unsupportedValue(let errorFile, let errorField, let errorValue, _) = error else {
                Issue.record("\(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(errorFile == file && errorField == field && errorValue == value, sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("config.json: \(field) = \(value) is not supported ("),
                    sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    // MARK: Accepted configurations

    @Test func deformableDefaultsMatchTransformers() throws {
        let config = try parse(#"{"model_type": "deformable_detr"}"#)
        #expect(config.family == .deformableDETR)
        #expect(config.dModel == 256)
        #expect(config.encoderLayers == 6 && config.decoderLayers == 6)
        #expect(config.encoderHeads == 8 && config.decoderHeads == 8)
        #expect(config.encoderFFNDim == 1024 && config.decoderFFNDim == 1024)
        #expect(config.numQueries == 300)
        #expect(config.numLabels == 2 && config.labels == [0: "LABEL_0", 1: "LABEL_1"])
        #expect(config.activation == "relu")
        #expect(config.numFeatureLevels == 4 && config.encoderPoints == 4 && config.decoderPoints == 4)
        #expect(!config.withBoxRefine && !config.twoStage && config.twoStageNumProposals == 300)
        #expect(config.positionEmbeddingType == "sine" && !config.auxiliaryLoss)
        #expect(config.backbone == BackboneConfig(layout: .timm, depths: [3, 4, 6, 3], block: .bottleneck,
                                                  outIndices: [2, 3, 4]))
    }

    /// The shape of SenseTime/deformable-detr-with-box-refine-two-stage's config (transformers 4.x).
    @Test func legacyHubDeformableConfig() throws {
        let config = try parse(#"""
        {"model_type": "deformable_detr", "architectures": ["DeformableDetrForObjectDetection"],
         "backbone": "resnet50", "backbone_config": null, "use_timm_backbone": true,
         "use_pretrained_backbone": true, "backbone_kwargs": {"in_chans": 3, "out_indices": [2, 3, 4]},
         "dilation": false, "d_model": 256, "encoder_ffn_dim": 1024, "decoder_ffn_dim": 1024,
         "num_feature_levels": 4, "with_box_refine": true, "two_stage": true, "two_stage_num_proposals": 300,
         "id2label": {"0": "N/A", "1": "person", "2": "bicycle"}, "label2id": {"N/A": 0},
         "dropout": 0.1, "init_std": 0.02, "disable_custom_kernels": false}
        """#)
        #expect(config.withBoxRefine && config.twoStage)
        #expect(config.numLabels == 3 && config.labels[1] == "person")
        #expect(config.backbone.layout == .timm && config.backbone.outIndices == [2, 3, 4])
    }

    @Test func dabConfigWithTransformers5TimmBackbone() throws {
        let config = try parse(#"""
        {"model_type": "dab-detr", "hidden_size": 64, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128,
         "encoder_attention_heads": 4, "decoder_attention_heads": 4, "temperature_height": 10,
         "temperature_width": 10, "num_patterns": 3, "keep_query_pos": false, "query_dim": 4,
         "normalize_before": false, "sine_position_embedding_scale": null, "initializer_bias_prior_prob": null,
         "backbone_config": {"model_type": "timm_backbone", "backbone": "resnet18", "num_channels": 3,
           "features_only": true, "out_indices": [1, 2, 3, 4], "output_stride": null},
         "use_timm_backbone": true}
        """#)
        #expect(config.family == .dabDETR)
        #expect(config.dModel == 64 && config.encoderFFNDim == 128 && config.encoderHeads == 4)
        #expect(config.activation == "prelu")
        #expect(config.temperatureHeight == 10 && config.temperatureWidth == 10)
        #expect(config.numPatterns == 3 && config.queryDim == 4 && !config.keepQueryPos)
        #expect(config.sinePositionEmbeddingScale == 2 * Double.pi)
        #expect(config.numFeatureLevels == 1)
        #expect(config.backbone == BackboneConfig(layout: .timm, depths: [2, 2, 2, 2], block: .basic,
                                                  outIndices: [1, 2, 3, 4]))
    }

    /// What transformers 5.23 save_pretrained writes for use_timm_backbone=False with a ResNetConfig.
    @Test func conditionalConfigWithHuggingFaceResNet() throws {
        let config = try parse(#"""
        {"model_type": "conditional_detr", "d_model": 32, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
         "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_layers": 1, "decoder_layers": 2,
         "num_queries": 5, "auxiliary_loss": true, "position_embedding_type": "sine", "backbone": null,
         "use_timm_backbone": false, "use_pretrained_backbone": false,
         "backbone_config": {"model_type": "resnet", "depths": [1, 2, 1, 1], "embedding_size": 16,
           "hidden_sizes": [16, 32, 64, 128], "layer_type": "bottleneck", "hidden_act": "relu",
           "downsample_in_bottleneck": false, "downsample_in_first_stage": false,
           "out_features": ["stage2", "stage3", "stage4"], "out_indices": [2, 3, 4],
           "stage_names": ["stem", "stage1", "stage2", "stage3", "stage4"]}}
        """#)
        #expect(config.family == .conditionalDETR)
        #expect(config.auxiliaryLoss)
        #expect(config.encoderLayers == 1 && config.decoderLayers == 2 && config.numQueries == 5)
        #expect(config.encoderFFNDim == 32)
        #expect(config.backbone == BackboneConfig(layout: .huggingFaceResNet, depths: [1, 2, 1, 1],
                                                  block: .bottleneck, outIndices: [2, 3, 4]))
        let fromFeatures = try parse(#"""
        {"model_type": "conditional_detr", "backbone_config": {"model_type": "resnet", "layer_type": "basic",
         "depths": [2, 2, 2, 2], "out_features": ["stage3", "stage4"]}}
        """#)
        #expect(fromFeatures.backbone.outIndices == [3, 4] && fromFeatures.backbone.block == .basic)
    }

    @Test func timmNamesWithHubPrefixAndTag() throws {
        let config = try parse(#"{"model_type": "conditional_detr", "backbone": "timm/resnet101.a1h_in1k"}"#)
        #expect(config.backbone.depths == [3, 4, 23, 3] && config.backbone.block == .bottleneck)
        #expect(config.backbone.outIndices == [1, 2, 3, 4])
        let single = try parse(#"{"model_type": "deformable_detr", "num_feature_levels": 1, "backbone": "resnet34"}"#)
        #expect(single.backbone.outIndices == [4] && single.backbone.block == .basic)
    }

    // MARK: Refused configurations

    @Test func anotherModelType() {
        expectCheckpointError(
            .unsupportedModelType(file: file, modelType: "detr"), naming: file,
            mentioning: "config.json: model_type 'detr' is not supported (expected deformable_detr, dab-detr, conditional_detr, rt_detr, rt_detr_v2, d_fine, deimv2)"
        ) {
            _ = try parse(#"{"model_type": "detr", "d_model": 256}"#)
        }
        expectCheckpointError(.wrongFieldType(file: file, field: "model_type", expected: "a string", found: "nothing"),
                              naming: file, mentioning: "'model_type'") {
            _ = try parse(#"{"d_model": 256}"#)
        }
    }

    @Test func wrongJSONTypesNameTheField() {
        expectCheckpointError(
            .wrongFieldType(file: file, field: "d_model", expected: "an integer", found: "the string \"256\""),
            naming: file, mentioning: "field 'd_model' must be an integer"
        ) {
            _ = try parse(#"{"model_type": "deformable_detr", "d_model": "256"}"#)
        }
        expectCheckpointError(.wrongFieldType(file: file, field: "two_stage", expected: "true or false", found: "1"),
                              naming: file, mentioning: "'two_stage'") {
            _ = try parse(#"{"model_type": "deformable_detr", "two_stage": 1}"#)
        }
        expectCheckpointError(.wrongFieldType(file: file, field: "num_queries", expected: "an integer", found: "true"),
                              naming: file, mentioning: "'num_queries'") {
            _ = try parse(#"{"model_type": "deformable_detr", "num_queries": true}"#)
        }
        expectCheckpointError(
            .wrongFieldType(file: file, field: "backbone_config.depths", expected: "an array of integers",
                            found: "the string \"3\""),
            naming: file, mentioning: "'backbone_config.depths'"
        ) {
            _ = try parse(#"{"model_type": "dab-detr", "backbone_config": {"model_type": "resnet", "depths": ["3"]}}"#)
        }
        expectCheckpointError(.wrongFieldType(file: file, field: "id2label.0", expected: "a string", found: "7"),
                              naming: file, mentioning: "'id2label.0'") {
            _ = try parse(#"{"model_type": "dab-detr", "id2label": {"0": 7}}"#)
        }
        expectCheckpointError(.invalidJSON(file: file, reason: "top level is an array"), naming: file,
                              mentioning: "not a JSON object") {
            _ = try parse("[1]")
        }
    }

    @Test func unsupportedFeaturesAreRefusedByName() {
        expectRefused(#"{"model_type": "deformable_detr", "dilation": true}"#, field: "dilation", value: "true")
        expectRefused(#"{"model_type": "conditional_detr", "position_embedding_type": "learned"}"#,
                      field: "position_embedding_type", value: "learned")
        expectRefused(#"{"model_type": "deformable_detr", "num_feature_levels": 5}"#,
                      field: "num_feature_levels", value: "5")
        expectRefused(#"{"model_type": "deformable_detr", "num_feature_levels": 0}"#,
                      field: "num_feature_levels", value: "0")
        expectRefused(#"{"model_type": "deformable_detr", "num_feature_levels": 2}"#,
                      field: "num_feature_levels", value: "2")  // three backbone levels into two
        expectRefused(#"{"model_type": "deformable_detr", "two_stage": true}"#, field: "two_stage", value: "true")
        expectRefused(#"{"model_type": "dab-detr", "query_dim": 2}"#, field: "query_dim", value: "2")
        expectRefused(#"{"model_type": "dab-detr", "normalize_before": true}"#, field: "normalize_before", value: "true")
        expectRefused(#"{"model_type": "dab-detr", "num_patterns": -1}"#, field: "num_patterns", value: "-1")
        expectRefused(#"{"model_type": "conditional_detr", "activation_function": "tanh"}"#,
                      field: "activation_function", value: "tanh")
        expectRefused(#"{"model_type": "conditional_detr", "d_model": 0}"#, field: "d_model", value: "0")
        expectRefused(#"{"model_type": "conditional_detr", "d_model": 96, "encoder_attention_heads": 7}"#,
                      field: "encoder_attention_heads", value: "7")
        expectRefused(#"{"model_type": "deformable_detr", "d_model": 48, "encoder_attention_heads": 4, "decoder_attention_heads": 4}"#,
                      field: "d_model", value: "48")  // GroupNorm(32)
    }

    @Test func unsupportedBackbonesAreRefusedByName() {
        expectRefused(#"{"model_type": "deformable_detr", "backbone": "resnet152"}"#, field: "backbone", value: "resnet152")
        expectRefused(#"{"model_type": "deformable_detr", "backbone": "resnet50d"}"#, field: "backbone", value: "resnet50d")
        expectRefused(#"{"model_type": "conditional_detr", "use_timm_backbone": false, "backbone": "microsoft/resnet-50"}"#,
                      field: "backbone", value: "microsoft/resnet-50")
        expectRefused(#"{"model_type": "conditional_detr", "backbone_config": {"model_type": "swin"}}"#,
                      field: "backbone_config.model_type", value: "swin")
        expectRefused(#"{"model_type": "conditional_detr", "backbone_config": {"model_type": "timm_backbone", "backbone": "convnext_tiny"}}"#,
                      field: "backbone_config.backbone", value: "convnext_tiny")
        expectRefused(#"{"model_type": "dab-detr", "backbone_config": {"model_type": "timm_backbone", "output_stride": 16}}"#,
                      field: "backbone_config.output_stride", value: "16")
        expectRefused(#"{"model_type": "dab-detr", "backbone_kwargs": {"out_indices": [4], "output_stride": 16}}"#,
                      field: "backbone_kwargs.output_stride", value: "16")
        expectRefused(#"{"model_type": "dab-detr", "backbone_config": {"model_type": "resnet", "downsample_in_bottleneck": true}}"#,
                      field: "backbone_config.downsample_in_bottleneck", value: "true")
        expectRefused(#"{"model_type": "dab-detr", "backbone_config": {"model_type": "resnet", "depths": [3, 4, 6]}}"#,
                      field: "backbone_config.depths", value: "[3, 4, 6]")
        expectRefused(#"{"model_type": "dab-detr", "backbone_config": {"model_type": "resnet", "layer_type": "preact"}}"#,
                      field: "backbone_config.layer_type", value: "preact")
        expectRefused(#"{"model_type": "dab-detr", "backbone_config": {"model_type": "resnet", "out_indices": [0, 4]}}"#,
                      field: "backbone_config.out_indices", value: "[0, 4]")
        expectRefused(#"{"model_type": "dab-detr", "backbone_kwargs": {"out_indices": [4, 3]}}"#,
                      field: "backbone_kwargs.out_indices", value: "[4, 3]")
    }
}
