import Foundation
import Testing
@testable import Quantize

@Suite("Checkpoint: folder and canonical names")
struct CheckpointFolderTests {
    /// A two-stage slice of a basic-block ResNet: (canonical name, transformers ResNet key suffix, shape).
    /// The HF suffixes are written out by hand from a model saved by transformers 5.23, not derived
    /// from the mapping under test.
    private static let backboneTensors: [(canonical: String, huggingFace: String, shape: [Int])] = {
        var tensors: [(String, String, [Int])] = [("conv1.weight", "embedder.embedder.convolution.weight", [4, 3, 7, 7])]
        for parameter in ["weight", "bias", "running_mean", "running_var"] {
            tensors.append(("bn1.\(parameter)", "embedder.embedder.normalization.\(parameter)", [4]))
            tensors.append(("layer1.0.bn1.\(parameter)", "encoder.stages.0.layers.0.layer.0.normalization.\(parameter)", [4]))
            tensors.append(("layer1.0.bn2.\(parameter)", "encoder.stages.0.layers.0.layer.1.normalization.\(parameter)", [4]))
            tensors.append(("layer2.0.bn1.\(parameter)", "encoder.stages.1.layers.0.layer.0.normalization.\(parameter)", [8]))
            tensors.append(("layer2.0.bn2.\(parameter)", "encoder.stages.1.layers.0.layer.1.normalization.\(parameter)", [8]))
            tensors.append(("layer2.0.downsample.1.\(parameter)", "encoder.stages.1.layers.0.shortcut.normalization.\(parameter)", [8]))
            tensors.append(("layer2.1.bn2.\(parameter)", "encoder.stages.1.layers.1.layer.1.normalization.\(parameter)", [8]))
        }
        tensors += [
            ("layer1.0.conv1.weight", "encoder.stages.0.layers.0.layer.0.convolution.weight", [4, 4, 3, 3]),
            ("layer1.0.conv2.weight", "encoder.stages.0.layers.0.layer.1.convolution.weight", [4, 4, 3, 3]),
            ("layer2.0.conv1.weight", "encoder.stages.1.layers.0.layer.0.convolution.weight", [8, 4, 3, 3]),
            ("layer2.0.conv2.weight", "encoder.stages.1.layers.0.layer.1.convolution.weight", [8, 8, 3, 3]),
            ("layer2.0.downsample.0.weight", "encoder.stages.1.layers.0.shortcut.convolution.weight", [8, 4, 1, 1]),
            ("layer2.1.conv2.weight", "encoder.stages.1.layers.1.layer.1.convolution.weight", [8, 8, 3, 3]),
        ]
        return tensors
    }()

    /// Tensors outside the backbone keep their checkpoint names.
    private static let headTensors: [(name: String, shape: [Int])] = [
        ("class_labels_classifier.weight", [3, 8]),
        ("model.input_projection.weight", [8, 8, 1, 1]),
    ]

    private static func config(_ family: DetectorFamily, layout: BackboneKeyLayout) -> String {
        let width = family == .dabDETR ? "hidden_size" : "d_model"
        let backbone = switch layout {
        case .timm: #""use_timm_backbone": true, "backbone": "resnet18""#
        case .huggingFaceResNet:
            #""use_timm_backbone": false, "backbone_config": {"model_type": "resnet", "depths": [2, 2, 2, 2], "layer_type": "basic", "out_features": ["stage2", "stage3", "stage4"]}"#
        case .rtDETRResNet:
            #""backbone_config": {"model_type": "rt_detr_resnet", "depths": [2, 2, 2, 2], "layer_type": "basic"}"#
        case .hgNetV2:
            #""backbone_config": {"model_type": "hgnet_v2"}"#
        }
        return #"{"model_type": "\#(family.rawValue)", "\#(width)": 32, "encoder_attention_heads": 2, "decoder_attention_heads": 2, \#(backbone)}"#
    }

    private static func fileKey(_ tensor: (canonical: String, huggingFace: String, shape: [Int]),
                                family: DetectorFamily, layout: BackboneKeyLayout) -> String {
        switch layout {
        case .timm:
            let wrapper = family == .dabDETR ? "_backbone." : ""
            return "model.backbone.conv_encoder.model.\(wrapper)\(tensor.canonical)"
        case .huggingFaceResNet:
            return "model.backbone.conv_encoder.model.\(tensor.huggingFace)"
        case .rtDETRResNet, .hgNetV2:
            return "model.backbone.model.\(tensor.huggingFace)"
        }
    }

    /// Writes a folder whose tensor values depend only on the canonical name, so that the two
    /// layouts must read back identically.
    private static func writeFolder(
        _ folder: CheckpointTemporaryFolder, family: DetectorFamily, layout: BackboneKeyLayout,
        configLayout: BackboneKeyLayout? = nil
    ) throws {
        try folder.write("config.json", json: config(family, layout: configLayout ?? layout))
        var writer = SafetensorsWriter()
        for (index, tensor) in backboneTensors.enumerated() {
            let count = tensor.shape.reduce(1, *)
            let values = (0..<count).map { Float(index * 1000 + $0) }
            try writer.add(fileKey(tensor, family: family, layout: layout), shape: tensor.shape, values: values)
        }
        for tensor in headTensors {
            try writer.add(tensor.name, shape: tensor.shape, values: [Float](repeating: 0.5, count: tensor.shape.reduce(1, *)),
                           as: .float16)
        }
        if layout == .timm {
            let prefix = family == .dabDETR ? "model.backbone.conv_encoder.model._backbone." : "model.backbone.conv_encoder.model."
            try writer.add(prefix + "bn1.num_batches_tracked", shape: [], values: [0])
        }
        try writer.write(to: folder.file("model.safetensors"))
    }

    // MARK: Canonical names

    /// The DETR families (RT-DETR's ResNet-vd has one layout of its own).
    @Test(arguments: [DetectorFamily.deformableDETR, .dabDETR, .conditionalDETR])
    func bothBackboneLayoutsGiveTheSameCanonicalTensors(family: DetectorFamily) throws {
        let timmFolder = try CheckpointTemporaryFolder()
        let huggingFaceFolder = try CheckpointTemporaryFolder()
        defer {
            timmFolder.remove()
            huggingFaceFolder.remove()
        }
        try Self.writeFolder(timmFolder, family: family, layout: .timm)
        try Self.writeFolder(huggingFaceFolder, family: family, layout: .huggingFaceResNet)
        let timm = try CheckpointFolder(path: timmFolder.path)
        let huggingFace = try CheckpointFolder(path: huggingFaceFolder.path)
        #expect(timm.config.backbone.layout == .timm)
        #expect(huggingFace.config.backbone.layout == .huggingFaceResNet)

        let expected = (Self.backboneTensors.map { "backbone." + $0.canonical } + Self.headTensors.map(\.name)).sorted()
        #expect(timm.tensorNames == expected)  // num_batches_tracked dropped
        #expect(huggingFace.tensorNames == expected)
        for tensor in Self.backboneTensors {
            let name = "backbone." + tensor.canonical
            let fromTimm = try timm.tensor(name, shape: tensor.shape)
            let fromHuggingFace = try huggingFace.tensor(name, shape: tensor.shape)
            #expect(fromTimm == fromHuggingFace, "\(name)")
        }
        #expect(timm.unusedTensorNames == Self.headTensors.map(\.name).sorted())
    }

    @Test func tensorAccessTracksUsageAndChecksShapes() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        try Self.writeFolder(folder, family: .conditionalDETR, layout: .timm)
        try folder.write("preprocessor_config.json", json: #"{"do_resize": true, "size": {"shortest_edge": 800}}"#)
        let checkpoint = try CheckpointFolder(path: folder.path)
        #expect(checkpoint.preprocessorConfig?["do_resize"] == .bool(true))
        #expect(checkpoint.contains("class_labels_classifier.weight"))
        #expect(!checkpoint.contains("backbone.bn1.num_batches_tracked"))
        #expect(checkpoint.shape(of: "backbone.conv1.weight") == [4, 3, 7, 7])

        let classifier = try checkpoint.tensor("class_labels_classifier.weight")
        #expect(classifier.shape == [3, 8] && classifier.values == [Float](repeating: 0.5, count: 24))
        #expect(!checkpoint.unusedTensorNames.contains("class_labels_classifier.weight"))
        #expect(checkpoint.unusedTensorNames.contains("model.input_projection.weight"))

        expectCheckpointError(
            .shapeMismatch(file: "model.safetensors", tensor: "model.input_projection.weight", shape: [8, 8, 1, 1],
                           expected: [8, 4, 1, 1]),
            naming: "model.safetensors",
            mentioning: "tensor 'model.input_projection.weight' has shape [8, 8, 1, 1], expected [8, 4, 1, 1]"
        ) {
            _ = try checkpoint.tensor("model.input_projection.weight", shape: [8, 4, 1, 1])
        }
        // A refused read does not count as a use.
        #expect(checkpoint.unusedTensorNames.contains("model.input_projection.weight"))
        expectCheckpointError(
            .missingTensor(file: "model.safetensors", tensor: "model.encoder.layers.0.fc1.weight"),
            naming: "model.safetensors", mentioning: "missing tensor 'model.encoder.layers.0.fc1.weight'"
        ) {
            _ = try checkpoint.tensor("model.encoder.layers.0.fc1.weight", shape: [8, 8])
        }
        // File keys of the backbone are not canonical names.
        #expect(!checkpoint.contains("model.backbone.conv_encoder.model.conv1.weight"))
    }

    @Test func backboneLayoutMustAgreeWithConfig() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        try Self.writeFolder(folder, family: .deformableDETR, layout: .huggingFaceResNet, configLayout: .timm)
        expectCheckpointError(
            .backboneLayoutMismatch(file: "model.safetensors", tensorLayout: .huggingFaceResNet, configLayout: .timm),
            naming: "model.safetensors", mentioning: "Hugging Face ResNet key layout"
        ) {
            _ = try CheckpointFolder(path: folder.path)
        }
    }

    @Test func dabTimmKeysNeedTheBackboneWrapper() throws {
        // Conditional-style timm keys (no `_backbone.`) in a DAB-DETR checkpoint: the stem is missing.
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        try Self.writeFolder(folder, family: .conditionalDETR, layout: .timm)
        try folder.write("config.json", json: Self.config(.dabDETR, layout: .timm))
        expectCheckpointError(
            .missingTensor(file: "model.safetensors", tensor: "model.backbone.conv_encoder.model._backbone.conv1.weight"),
            naming: "model.safetensors", mentioning: "_backbone.conv1.weight"
        ) {
            _ = try CheckpointFolder(path: folder.path)
        }
    }

    // MARK: Folder problems

    @Test func pathThatDoesNotExist() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("absent")
        expectCheckpointError(.pathNotFound(path: path), naming: path, mentioning: "no such file or folder") {
            _ = try CheckpointFolder(path: path)
        }
    }

    @Test func pathThatIsNotAFolder() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        try folder.write("model.safetensors", Data([0]))
        let path = folder.file("model.safetensors")
        expectCheckpointError(.notAFolder(path: path), naming: path, mentioning: "not a folder") {
            _ = try CheckpointFolder(path: path)
        }
    }

    @Test func folderWithoutConfig() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        expectCheckpointError(.missingConfig(folder: folder.path), naming: folder.path,
                              mentioning: "\(folder.path): no config.json in folder") {
            _ = try CheckpointFolder(path: folder.path)
        }
    }

    @Test func folderWithPickleWeightsOnlyOrNoWeights() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        try folder.write("config.json", json: #"{"model_type": "conditional_detr"}"#)
        expectCheckpointError(.missingWeights(folder: folder.path), naming: folder.path,
                              mentioning: "no model.safetensors") {
            _ = try CheckpointFolder(path: folder.path)
        }
        try folder.write("pytorch_model.bin", Data([0x80, 0x02]))
        expectCheckpointError(.pickleWeightsOnly(folder: folder.path), naming: folder.path,
                              mentioning: "save_pretrained(folder, safe_serialization=True)") {
            _ = try CheckpointFolder(path: folder.path)
        }
    }

    @Test func configOfAnotherModelInAFolder() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        try folder.write("config.json", json: #"{"model_type": "rf_detr"}"#)
        expectCheckpointError(.unsupportedModelType(file: "config.json", modelType: "rf_detr"), naming: "config.json",
                              mentioning: "model_type 'rf_detr' is not supported (expected deformable_detr, dab-detr, conditional_detr, rt_detr, rt_detr_v2, d_fine, deimv2)") {
            _ = try CheckpointFolder(path: folder.path)
        }
    }

    @Test func corruptPreprocessorConfig() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        try Self.writeFolder(folder, family: .dabDETR, layout: .timm)
        try folder.write("preprocessor_config.json", json: "{\"size\": ")
        do {
            _ = try CheckpointFolder(path: folder.path)
            Issue.record("corrupt preprocessor_config.json accepted")
        } catch {
            guard case .invalidJSON(let file, _) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(file == "preprocessor_config.json")
            #expect(!error.description.contains("\n"))
        }
    }

    /// The in-memory import (what the checkpoint fuzz harness uses) is the folder import without the
    /// file system: same config, tensors and preprocessing, and the same refusals.
    @Test func importFromMemoryEqualsImportFromTheFolder() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/deformable_two_level_silu")
        func contents(_ name: String) throws -> Data { try Data(contentsOf: fixture.appendingPathComponent(name)) }
        let fromFolder = try CheckpointFolder(path: fixture.path)
        let fromMemory = try CheckpointFolder(
            name: "memory", config: contents(CheckpointFolder.configFileName),
            preprocessor: contents(CheckpointFolder.preprocessorFileName), weights: contents(CheckpointFolder.weightsFileName))
        #expect(fromMemory.config == fromFolder.config)
        #expect(fromMemory.tensorNames == fromFolder.tensorNames)
        #expect(try FloatDetector(checkpoint: fromMemory).preprocess == FloatDetector(checkpoint: fromFolder).preprocess)
        for name in fromFolder.tensorNames {
            #expect(try fromMemory.tensor(name).values == fromFolder.tensor(name).values, "\(name)")
        }
        let weights = try contents(CheckpointFolder.weightsFileName)
        do {
            _ = try CheckpointFolder(name: "memory", config: Data("{\"model_type\": ".utf8), preprocessor: nil, weights: weights)
            Issue.record("a truncated config.json was accepted")
        } catch {
            guard case .invalidJSON(let file, _) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(file == "config.json")
        }
    }
}
