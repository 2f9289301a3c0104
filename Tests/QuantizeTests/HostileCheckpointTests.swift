import EdgeRuntime
import Foundation
import Testing
@testable import Quantize

/// Hostile checkpoint folders: every one must be refused with a one-line error naming the field or
/// tensor, never trap, never allocate without bound, never import into a silently different model.
/// Each folder is a bundled fixture (Tests/Fixtures/models) with one thing broken.
@Suite("Checkpoint: hostile inputs")
struct HostileCheckpointTests {
    private typealias Tensor = (name: String, shape: [Int], values: [Float], dtype: TensorDType)

    private static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/models")

    /// A copy of fixture `name` whose config.json, preprocessor_config.json and tensors went through
    /// the given edits. The caller removes it.
    private static func copy(
        _ name: String,
        config editConfig: (inout [String: Any]) -> Void = { _ in },
        preprocessor editPreprocessor: (inout [String: Any]) -> Void = { _ in },
        tensors editTensors: (inout [Tensor]) -> Void = { _ in }
    ) throws -> CheckpointTemporaryFolder {
        let source = fixtures.appendingPathComponent(name)
        let folder = try CheckpointTemporaryFolder()
        func json(_ file: String, _ edit: (inout [String: Any]) -> Void) throws {
            let data = try Data(contentsOf: source.appendingPathComponent(file))
            var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            edit(&object)
            try folder.write(file, JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        }
        try json("config.json", editConfig)
        try json("preprocessor_config.json", editPreprocessor)
        let weights = try SafetensorsFile(path: source.appendingPathComponent("model.safetensors").path)
        var tensors: [Tensor] = try weights.tensorNames.map { tensorName in
            let info = try #require(weights.info(tensorName))
            return (tensorName, info.shape, try weights.floats(tensorName), info.dtype)
        }
        editTensors(&tensors)
        var writer = SafetensorsWriter()
        for tensor in tensors {
            try writer.add(tensor.name, shape: tensor.shape, values: tensor.values, as: tensor.dtype)
        }
        try writer.write(to: folder.file("model.safetensors"))
        return folder
    }

    /// Imports the folder and builds its graph at the preprocessor's size for a 640x480 photo,
    /// returning the error's one-line description (nil when both succeed).
    private static func importAndBuild(_ folder: CheckpointTemporaryFolder) -> String? {
        do {
            let detector = try FloatDetector(folder: folder.path)
            let size = ModelExport.defaultInputSize(for: detector.preprocess)
            _ = try DetectorGraph.build(detector.checkpoint, height: size.height, width: size.width)
            return nil
        } catch let error as CheckpointError {
            return error.description
        } catch let error as BuildError {
            return error.description
        } catch {
            return "\(error)"
        }
    }

    /// Expects `folder` to fail import or build with a one-line message containing every fragment.
    private static func expectRefused(
        _ folder: CheckpointTemporaryFolder, mentioning fragments: String...,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let message = importAndBuild(folder) else {
            Issue.record("accepted, expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
            return
        }
        #expect(!message.contains("\n"), "spans lines: \(message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
        }
    }

    /// Expects config.json text to be refused with `unsupportedValue` naming `field`.
    private static func expectConfigRefused(
        _ json: String, field: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try DetectorConfig(jsonData: Data(json.utf8))
            Issue.record("accepted \(json)", sourceLocation: sourceLocation)
        } catch {
            guard case .unsupportedValue(_, let errorField, _, _) = error else {
                Issue.record("\(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(errorField == field, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("config.json: \(field) = "), "\(error)", sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    // MARK: 1. Numbers in tensor names

    @Test func backboneKeyIndicesAreBoundedDecimalNumbers() {
        let prefix = "encoder.stages."
        func name(_ rest: String) -> String? {
            BackboneKeyMapping.canonicalName(for: BackboneKeyMapping.huggingFacePrefix + prefix + rest,
                                             layout: .huggingFaceResNet, family: .deformableDETR)
        }
        #expect(name("1.layers.0.layer.2.convolution.weight") == "backbone.layer2.0.conv3.weight")
        #expect(name("3.layers.63.shortcut.normalization.bias") == "backbone.layer4.63.downsample.1.bias")
        // Used to trap on `stage + 1` / `convolution + 1`; now simply not backbone keys of this layout.
        #expect(name("9223372036854775807.layers.0.layer.0.convolution.weight") == nil)
        #expect(name("0.layers.0.layer.9223372036854775807.convolution.weight") == nil)
        #expect(name("0.layers.9223372036854775807.layer.0.convolution.weight") == nil)
        #expect(name("99999999999999999999999.layers.0.layer.0.convolution.weight") == nil)
        // Stages past layer4, convolutions past conv3 and blocks past the depth limit are never read.
        #expect(name("4.layers.0.layer.0.convolution.weight") == nil)
        #expect(name("0.layers.0.layer.3.convolution.weight") == nil)
        #expect(name("0.layers.64.layer.0.convolution.weight") == nil)
        // Other spellings of a number would alias a real key: "+1", "01", non-ASCII digits.
        #expect(name("+1.layers.0.layer.0.convolution.weight") == nil)
        #expect(name("0.layers.01.layer.0.convolution.weight") == nil)
        #expect(name("0.layers.0.layer.\u{0661}.convolution.weight") == nil)
    }

    @Test func hugeIndicesInTensorNamesImportAsUnknownKeys() throws {
        let stem = "model.backbone.conv_encoder.model.encoder.stages."
        let hostile = [
            stem + "9223372036854775807.layers.0.layer.0.convolution.weight",
            stem + "0.layers.0.layer.9223372036854775807.normalization.weight",
            stem + "0.layers.9223372036854775807.shortcut.convolution.weight",
            stem + "0.layers.00.layer.0.convolution.weight",
        ]
        let folder = try Self.copy("deformable_two_level_silu", tensors: { tensors in
            for name in hostile { tensors.append((name, [1], [0], .float32)) }
        })
        defer { folder.remove() }
        let checkpoint = try CheckpointFolder(path: folder.path)
        for name in hostile { #expect(checkpoint.contains(name)) }
        _ = try DetectorGraph.build(checkpoint, height: 96, width: 128)
        #expect(checkpoint.unusedTensorNames == hostile.sorted())

        // The timm layout only strips a prefix, so the name stays visible and unused.
        let timm = "model.backbone.conv_encoder.model.layer9223372036854775807.0.conv1.weight"
        let timmFolder = try Self.copy("conditional_detr", tensors: { $0.append((timm, [1], [0], .float32)) })
        defer { timmFolder.remove() }
        let timmCheckpoint = try CheckpointFolder(path: timmFolder.path)
        _ = try DetectorGraph.build(timmCheckpoint, height: 96, width: 128)
        #expect(timmCheckpoint.unusedTensorNames == ["backbone.layer9223372036854775807.0.conv1.weight"])
    }

    // MARK: 2. Sizes from config.json and preprocessor_config.json

    @Test func configSizesPastTheLimitsAreRefusedByName() {
        let cases: [(json: String, field: String)] = [
            (#"{"model_type": "conditional_detr", "d_model": 8192}"#, "d_model"),
            (#"{"model_type": "dab-detr", "hidden_size": 9223372036854775804}"#, "hidden_size"),
            (#"{"model_type": "conditional_detr", "encoder_layers": 65}"#, "encoder_layers"),
            (#"{"model_type": "conditional_detr", "decoder_layers": 1000000000000}"#, "decoder_layers"),
            (#"{"model_type": "conditional_detr", "d_model": 256, "encoder_attention_heads": 128}"#, "encoder_attention_heads"),
            (#"{"model_type": "conditional_detr", "decoder_ffn_dim": 1099511627776}"#, "decoder_ffn_dim"),
            (#"{"model_type": "conditional_detr", "num_queries": 10001}"#, "num_queries"),
            (#"{"model_type": "dab-detr", "num_patterns": 34}"#, "num_patterns"),  // 34 x 300 > 10000
            (#"{"model_type": "dab-detr", "num_patterns": 4611686018427387904, "num_queries": 4}"#, "num_patterns"),
            (#"{"model_type": "deformable_detr", "two_stage_num_proposals": 1000000}"#, "two_stage_num_proposals"),
            (#"{"model_type": "deformable_detr", "encoder_n_points": 4611686018427387904}"#, "encoder_n_points"),
            (#"{"model_type": "deformable_detr", "decoder_n_points": 65}"#, "decoder_n_points"),
            (#"{"model_type": "dab-detr", "temperature_height": 1000000000000}"#, "temperature_height"),
            (#"{"model_type": "dab-detr", "sine_position_embedding_scale": 1e300}"#, "sine_position_embedding_scale"),
            (#"{"model_type": "dab-detr", "sine_position_embedding_scale": -1}"#, "sine_position_embedding_scale"),
            (#"{"model_type": "conditional_detr", "num_labels": 1099511627776}"#, "num_labels"),
            (#"{"model_type": "conditional_detr", "use_timm_backbone": false, "backbone_config": {"model_type": "resnet", "depths": [3, 4, 9223372036854775807, 3]}}"#,
             "backbone_config.depths"),
        ]
        for (json, field) in cases {
            Self.expectConfigRefused(json, field: field)
        }
        // The bounds themselves are accepted.
        let largest = #"{"model_type": "dab-detr", "hidden_size": 4096, "encoder_attention_heads": 64, "decoder_attention_heads": 64, "encoder_layers": 64, "decoder_layers": 64, "encoder_ffn_dim": 65536, "num_queries": 2500, "num_patterns": 4, "num_labels": 100000, "temperature_height": 1000000}"#
        #expect((try? DetectorConfig(jsonData: Data(largest.utf8))) != nil)
    }

    /// Used to trap on `heads * levels * points` while building the sampling offsets.
    @Test func pointCountThatOverflowsIsRefusedAtImport() throws {
        let folder = try Self.copy("deformable_two_level_silu") { $0["encoder_n_points"] = 1 << 61 }
        defer { folder.remove() }
        Self.expectRefused(folder, mentioning: "config.json: encoder_n_points = 2305843009213693952", "at most 64")
    }

    /// A huge config over a small checkpoint fails on the first missing or mis-shaped tensor, before
    /// anything sized by the config is allocated.
    @Test func largestConfigOverSmallCheckpointFailsOnTheFirstTensor() throws {
        for fixture in ["deformable_two_level_silu", "dab_detr_patterns", "conditional_detr"] {
            let folder = try Self.copy(fixture) { config in
                let width = config["hidden_size"] != nil ? "hidden_size" : "d_model"
                config[width] = 4096
                for key in ["encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads"] {
                    config[key] = 64
                }
                config["encoder_ffn_dim"] = 65536
                config["decoder_ffn_dim"] = 65536
                config["num_queries"] = 2000
            }
            defer { folder.remove() }
            Self.expectRefused(folder, mentioning: "model.safetensors: tensor", "expected [4096")
        }
    }

    @Test func preprocessorSizesAndStatisticsAreBounded() throws {
        let cases: [(edit: (inout [String: Any]) -> Void, field: String)] = [
            ({ $0["size"] = ["shortest_edge": 16384, "longest_edge": 16384] }, "size.shortest_edge"),
            ({ $0["size"] = ["shortest_edge": 800, "longest_edge": 1 << 40] }, "size.longest_edge"),
            ({ $0["size"] = ["height": 0, "width": 100] }, "size.height"),
            ({ $0["size"] = ["height": 100, "width": -5] }, "size.width"),
            ({ $0["size"] = ["max_height": 5000, "max_width": 100] }, "size.max_height"),
            ({ $0["size"] = 1e300 }, "size"),
            ({ $0["image_mean"] = [0.5, 1e300, 0.5] }, "image_mean"),
            ({ $0["image_mean"] = 1e39 }, "image_mean"),
            ({ $0["image_mean"] = [0.5, true, 0.5] }, "image_mean"),
            ({ $0["image_std"] = [0.2, 0, 0.2] }, "image_std"),
            ({ $0["image_std"] = [0.2, 1e-300, 0.2] }, "image_std"),
            ({ $0["image_std"] = [0.2, -1, 0.2] }, "image_std"),
            ({ $0["rescale_factor"] = 1e300 }, "rescale_factor"),
            ({ $0["rescale_factor"] = 0 }, "rescale_factor"),
            ({ $0["resample"] = 2.5 }, "resample"),
        ]
        for (edit, field) in cases {
            var edited = try #require(try JSONSerialization.jsonObject(
                with: Data(contentsOf: Self.fixtures.appendingPathComponent("conditional_detr/preprocessor_config.json")))
                as? [String: Any])
            edit(&edited)
            // Through JSON text, so that numbers and booleans are what the checkpoint reader makes of them.
            let json = try JSONFields.object(JSONSerialization.data(withJSONObject: edited), file: "preprocessor_config.json")
            do {
                let parsed = try PreprocessorConfigParser.parse(json)
                Issue.record("\(field): accepted \(parsed)")
            } catch {
                guard case .unsupportedValue(let file, let errorField, _, _) = error else {
                    Issue.record("\(field): \(error)")
                    continue
                }
                #expect(file == "preprocessor_config.json" && errorField == field, "\(error)")
                #expect(!error.description.contains("\n"), "\(error)")
            }
        }
        // Through the folder: 16384 used to be accepted and build a 16384-px graph.
        let folder = try Self.copy("conditional_detr", preprocessor: { $0["size"] = ["height": 16384, "width": 16384] })
        defer { folder.remove() }
        Self.expectRefused(folder, mentioning: "preprocessor_config.json: size.height = 16384", "1 to 4096")
    }

    @Test func oversizedInputsAndJSONFilesAreRefused() throws {
        let folder = try Self.copy("conditional_detr")
        defer { folder.remove() }
        let checkpoint = try CheckpointFolder(path: folder.path)
        #expect(throws: BuildError.self) { try DetectorGraph.build(checkpoint, height: 100_000, width: 100_000) }

        // A config.json of 17 MiB (valid JSON padded with spaces) is not read.
        var config = try Data(contentsOf: URL(fileURLWithPath: folder.file("config.json")))
        config.append(Data(repeating: UInt8(ascii: " "), count: 17 << 20))
        try folder.write("config.json", config)
        Self.expectRefused(folder, mentioning: "config.json: file of", "exceeds the limit of 16777216 bytes")
    }

    // MARK: 3. id2label

    @Test func duplicateAndOutOfRangeLabelIdsAreRefused() {
        // "1" and "01" both parse to 1: transformers keeps one silently; here the count would be off.
        Self.expectConfigRefused(#"{"model_type": "conditional_detr", "id2label": {"0": "a", "1": "b", "01": "c"}}"#,
                                 field: "id2label")
        Self.expectConfigRefused(#"{"model_type": "conditional_detr", "id2label": {"0": "a", "+0": "b"}}"#,
                                 field: "id2label")
        // A gap: two labels, so two logits columns, but id 5 names neither.
        Self.expectConfigRefused(#"{"model_type": "conditional_detr", "id2label": {"0": "a", "5": "b"}}"#,
                                 field: "id2label.5")
        let config = try? DetectorConfig(jsonData: Data(#"{"model_type": "conditional_detr", "id2label": {"1": "b", "0": "a"}}"#.utf8))
        #expect(config?.labels == [0: "a", 1: "b"] && config?.numLabels == 2)
    }

    /// Keys and labels come from the checkpoint; a line break in one must not split the message.
    @Test func namesWithLineBreaksStayOnOneLine() {
        expectCheckpointError(.unsupportedValue(file: "config.json", field: "id2label.7", value: "\"x\ny\"",
                                                note: "id 7 is outside 0...0: ids must number the 1 classifier outputs"),
                              naming: "config.json", mentioning: "\"x\\ny\"") {
            _ = try DetectorConfig(jsonData: Data(#"{"model_type": "conditional_detr", "id2label": {"7": "x\ny"}}"#.utf8))
        }
        let header = #"{"a\u2028b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#
        var file = checkpointRawSafetensors(header: header, dataBytes: 0)
        file.append(contentsOf: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) })
        expectCheckpointError(.nonFiniteValue(file: "x", tensor: "a\u{2028}b", index: 0), naming: "x",
                              mentioning: "tensor 'a\\u{2028}b' holds a NaN") {
            _ = try SafetensorsFile(data: file, name: "x").finiteFloats("a\u{2028}b")
        }
    }

    // MARK: 4. Non-finite weights

    @Test func nonFiniteWeightsAreRefusedByTensorName() throws {
        let target = "model.input_projection.weight"
        for (dtype, value) in [(TensorDType.float32, Float.nan), (.float16, .infinity), (.bfloat16, -.infinity), (.float16, .nan)] {
            let folder = try Self.copy("conditional_detr", tensors: { tensors in
                let index = tensors.firstIndex { $0.name == target }!
                tensors[index].values[5] = value
                tensors[index].dtype = dtype
            })
            defer { folder.remove() }
            Self.expectRefused(folder, mentioning: "model.safetensors: tensor '\(target)' holds a NaN or infinite value (element 5)")
            let checkpoint = try CheckpointFolder(path: folder.path)
            expectCheckpointError(.nonFiniteValue(file: "model.safetensors", tensor: target, index: 5),
                                  naming: "model.safetensors", mentioning: target) {
                _ = try checkpoint.tensor(target)
            }
        }
        // A backbone tensor is named by its key in the file.
        let key = "model.backbone.conv_encoder.model.encoder.stages.0.layers.0.layer.0.normalization.running_var"
        let folder = try Self.copy("deformable_two_level_silu", tensors: { tensors in
            tensors[tensors.firstIndex { $0.name == key }!].values[0] = .infinity
        })
        defer { folder.remove() }
        Self.expectRefused(folder, mentioning: "tensor '\(key)' holds a NaN or infinite value (element 0)")
    }

    // MARK: 5. Shapes and values that used to trap or import wrong

    @Test func shapesWhoseNonZeroDimensionsOverflowAreRefused() {
        let header = #"{"empty": {"dtype": "F32", "shape": [0, 4611686018427387904, 4611686018427387904], "data_offsets": [0, 0]}}"#
        expectCheckpointError(.shapeOverflow(file: "x.safetensors", tensor: "empty",
                                             shape: [0, 4611686018427387904, 4611686018427387904]),
                              naming: "x.safetensors", mentioning: "'empty'") {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: header, dataBytes: 0), name: "x.safetensors")
        }
        let fine = #"{"empty": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}}"#
        #expect((try? SafetensorsFile(data: checkpointRawSafetensors(header: fine, dataBytes: 0), name: "x")) != nil)
    }

    /// A 5x5 stem used to import with the 7x7 stem's padding: a silently different model.
    @Test func convolutionKernelsMustBeTheArchitecturesOwn() throws {
        let stem = "model.backbone.conv_encoder.model.conv1.weight"
        let folder = try Self.copy("conditional_detr", tensors: { tensors in
            let index = tensors.firstIndex { $0.name == stem }!
            let outputs = tensors[index].shape[0]
            tensors[index].shape = [outputs, 3, 5, 5]
            tensors[index].values = [Float](repeating: 0.01, count: outputs * 3 * 25)
        })
        defer { folder.remove() }
        Self.expectRefused(folder, mentioning: "tensor '\(stem)' has shape [8, 3, 5, 5], expected [8, 3, 7, 7]")

        let empty = try Self.copy("conditional_detr", tensors: { tensors in
            let index = tensors.firstIndex { $0.name == stem }!
            tensors[index].shape = [0, 3, 1 << 40, 1 << 20]
            tensors[index].values = []
        })
        defer { empty.remove() }
        Self.expectRefused(empty, mentioning: "tensor 'backbone.conv1.weight' has shape [0, 3, 1099511627776, 1048576]",
                           "expected [outputs >= 1, 3, 7, 7]")
    }

    /// A negative running variance used to fold into NaN weights without a word.
    @Test func negativeRunningVarianceIsRefused() throws {
        let key = "model.backbone.conv_encoder.model.bn1.running_var"
        let folder = try Self.copy("conditional_detr", tensors: { tensors in
            tensors[tensors.firstIndex { $0.name == key }!].values[2] = -1
        })
        defer { folder.remove() }
        Self.expectRefused(folder, mentioning: "tensor 'backbone.bn1.running_var' has the negative value -1.0 (element 2)")

        let huge = try Self.copy("conditional_detr", tensors: { tensors in
            tensors[tensors.firstIndex { $0.name == "model.backbone.conv_encoder.model.bn1.weight" }!].values[1] = 3e38
            tensors[tensors.firstIndex { $0.name == key }!].values[1] = 0
        })
        defer { huge.remove() }
        Self.expectRefused(huge, mentioning: "folding 'backbone.bn1' into 'backbone.conv1.weight' overflows float32 (output channel 1)")
    }
}
