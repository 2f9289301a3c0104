import Foundation
import Testing
@testable import Quantize

/// RT-DETR's config.json: transformers' defaults, the bundled fixtures, and one-line refusals naming the
/// field for everything the builder does not implement.
@Suite("Checkpoint: RT-DETR config.json")
struct RTDETRConfigTests {
    private func parse(_ json: String) throws(CheckpointError) -> DetectorConfig {
        try DetectorConfig(jsonData: Data(json.utf8))
    }

    private func expectRefused(_ fields: String, field: String, value: String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        let json = "{\"model_type\": \"rt_detr\", " + fields + "}"
        do {
            _ = try parse(json)
            Issue.record("accepted \(json)", sourceLocation: sourceLocation)
        } catch {
            guard case .unsupportedValue(_, let errorField, let errorValue, _) = error else {
                Issue.record("\(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(errorField == field && errorValue == value, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("config.json: \(field) = \(value) is not supported ("),
                    sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    /// `RTDetrConfig()` in transformers 5.23: R50vd backbone (stages 2-4), 256 wide, one AIFI layer, six
    /// decoder layers, 300 queries, GELU/SiLU/ReLU.
    @Test func defaultsMatchTransformers() throws {
        let config = try parse(#"{"model_type": "rt_detr"}"#)
        let rt = try #require(config.rtDETR)
        #expect(config.family == .rtDETR && config.dModel == 256 && config.encoderLayers == 1 && config.decoderLayers == 6)
        #expect(config.encoderHeads == 8 && config.decoderHeads == 8 && config.encoderFFNDim == 1024 && config.decoderFFNDim == 1024)
        #expect(config.numQueries == 300 && config.defaultTopK == 300 && config.numFeatureLevels == 3 && config.decoderPoints == 4)
        #expect(config.activation == "relu" && rt.encoderActivation == "gelu" && rt.convolutionActivation == "silu")
        #expect(config.backbone.layout == .rtDETRResNet && config.backbone.depths == [3, 4, 6, 3]
                && config.backbone.block == .bottleneck && config.backbone.outIndices == [2, 3, 4])
        #expect(rt.encoderHiddenDim == 256 && rt.cspHiddenChannels == 256 && rt.encodeProjLayers == [2])
        #expect(rt.aifiPositionEmbedding && !rt.normalizeBefore && rt.anchorImageSize == nil)
        #expect(rt.featStrides == [8, 16, 32] && rt.positionalEncodingTemperature == 10000)
    }

    /// RTDetrV2Config: v1's fields plus the decoder's sampling method and offset scale.
    @Test func version2() throws {
        let defaults = try parse(#"{"model_type": "rt_detr_v2"}"#)
        #expect(defaults.family == .rtDETRv2 && defaults.rtDETR?.samplingMethod == .bilinear && defaults.rtDETR?.offsetScale == 0.5)
        let discrete = try parse(#"{"model_type": "rt_detr_v2", "decoder_method": "discrete", "decoder_offset_scale": 0.7}"#)
        #expect(discrete.rtDETR?.samplingMethod == .discrete && discrete.rtDETR?.offsetScale == Float(0.7))
        // v1 has no such fields: they are not read.
        #expect(try parse(#"{"model_type": "rt_detr", "decoder_method": "discrete"}"#).rtDETR?.samplingMethod == .bilinear)
        for (fields, field, value) in [(#""decoder_method": "nearest""#, "decoder_method", "nearest"),
                                       (#""decoder_n_levels": 4"#, "decoder_n_levels", "4")] {
            do {
                _ = try parse("{\"model_type\": \"rt_detr_v2\", " + fields + "}")
                Issue.record("accepted \(fields)")
            } catch {
                #expect(error.description.hasPrefix("config.json: \(field) = \(value) is not supported ("), "\(error)")
            }
        }
    }

    @Test func bundledFixtures() throws {
        let r18 = try CheckpointFolder(path: GoldenFixture.root.appendingPathComponent("models/rt_detr_r18vd").path).config
        #expect(r18.backbone.block == .basic && r18.backbone.depths == [2, 2, 2, 2] && r18.rtDETR?.anchorImageSize == [96, 128])
        let r50 = try CheckpointFolder(path: GoldenFixture.root.appendingPathComponent("models/rt_detr_r50vd").path).config
        let rt = try #require(r50.rtDETR)
        #expect(r50.backbone.block == .bottleneck && r50.numFeatureLevels == 4 && r50.activation == "gelu")
        #expect(rt.cspHiddenChannels == 16 && !rt.aifiPositionEmbedding)  // hidden_expansion 0.5; eval_size set
    }

    @Test func unsupportedFieldsAreRefusedByName() {
        expectRefused(#""encoder_in_channels": [512, 1024]"#, field: "encoder_in_channels", value: "[512, 1024]")
        expectRefused(#""decoder_in_channels": [256]"#, field: "decoder_in_channels", value: "[256]")
        expectRefused(#""feat_strides": [8, 16, 64]"#, field: "feat_strides", value: "[8, 16, 64]")
        expectRefused(#""encode_proj_layers": [3]"#, field: "encode_proj_layers", value: "[3]")
        expectRefused(#""activation_function": "tanh""#, field: "activation_function", value: "tanh")
        expectRefused(#""encoder_activation_function": "prelu""#, field: "encoder_activation_function", value: "prelu")
        expectRefused(#""decoder_activation_function": "prelu""#, field: "decoder_activation_function", value: "prelu")
        expectRefused(#""hidden_expansion": 0"#, field: "hidden_expansion", value: "0.0")
        expectRefused(#""hidden_expansion": 0.001"#, field: "hidden_expansion", value: "0.001")
        expectRefused(#""num_feature_levels": 2"#, field: "num_feature_levels", value: "2")
        expectRefused(#""num_feature_levels": 4, "anchor_image_size": [640, 640]"#, field: "anchor_image_size", value: "[640, 640]")
        expectRefused(#""anchor_image_size": [640]"#, field: "anchor_image_size", value: "[640]")
        expectRefused(#""encoder_layers": -1"#, field: "encoder_layers", value: "-1")
        expectRefused(#""learn_initial_query": true"#, field: "learn_initial_query", value: "true")
        expectRefused(#""encoder_hidden_dim": 30"#, field: "encoder_hidden_dim", value: "30")
        expectRefused(#""layer_norm_eps": 0"#, field: "layer_norm_eps", value: "0.0")
        expectRefused(#""backbone_config": {"model_type": "resnet"}"#, field: "backbone_config.model_type", value: "resnet")
        expectRefused(#""backbone_config": {"model_type": "rt_detr_resnet", "hidden_act": "gelu"}"#,
                      field: "backbone_config.hidden_act", value: "gelu")
        expectRefused(#""backbone_config": {"model_type": "rt_detr_resnet", "depths": [2, 2, 2]}"#,
                      field: "backbone_config.depths", value: "[2, 2, 2]")
        expectRefused(#""backbone_config": {"model_type": "rt_detr_resnet", "out_indices": [3, 2, 4]}"#,
                      field: "backbone_config.out_indices", value: "[3, 2, 4]")
    }

    /// Sizes the graph cannot be built for: not a multiple of 32, other than anchor_image_size's, or
    /// with fewer tokens than queries.
    @Test func inputSizesTheModelCannotRunAreRefused() throws {
        let r18 = try CheckpointFolder(path: GoldenFixture.root.appendingPathComponent("models/rt_detr_r18vd").path)
        let r50 = try CheckpointFolder(path: GoldenFixture.root.appendingPathComponent("models/rt_detr_r50vd").path)
        for (checkpoint, height, width, fragment) in [
            (r18, 100, 128, "multiples of 32"), (r18, 128, 128, "anchor_image_size [96, 128] gives anchors for levels 12x16, 6x8"),
            (r50, 32, 32, "num_queries 24 exceeds the 22 encoder tokens"),
        ] {
            do {
                _ = try DetectorGraph.build(checkpoint, height: height, width: width)
                Issue.record("built at \(height)x\(width)")
            } catch {
                #expect(error.description.contains(fragment), "\(height)x\(width): \(error)")
                #expect(!error.description.contains("\n"))
            }
        }
    }
}
