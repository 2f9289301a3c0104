import EdgeRuntime
import Foundation
import Quantize
import Testing

/// D-FINE through the CLI: the bundled D-FINE-N-layout checkpoint detects, quantizes to a model file that
/// loads, inspects and detects, and damaged configs or weights give one line naming the problem.
@Suite struct DFineCommandTests {
    static let fixture = DetectCommandTests.repository.appendingPathComponent("Tests/Fixtures/models/d_fine_n").path

    static func copyOfFixture() throws -> URL {
        let folder = try DetectCommandTests.temporaryDirectory().appendingPathComponent("model")
        try FileManager.default.copyItem(atPath: fixture, toPath: folder.path)
        return folder
    }

    @Test func detectQuantizeInspect() throws {
        let float = try DetectCommandTests.edgedetr(["detect", "--model", Self.fixture, "--threshold", "0", "--top-k", "3",
                                                     DetectCommandTests.image])
        #expect(float.status == 0, "\(float.standardError)")
        #expect(float.standardOutput.split(separator: "\n").count == 3)
        let directory = try DetectCommandTests.temporaryDirectory()
        let model = directory.appendingPathComponent("dfine.edq").path
        let images = DetectCommandTests.repository.appendingPathComponent("Tests/Fixtures/images").path
        let quantized = try DetectCommandTests.edgedetr(["quantize", "--model", Self.fixture, "--calib", images, "--output", model])
        #expect(quantized.status == 0, "\(quantized.standardError)")
        let int8 = try DetectCommandTests.edgedetr(["detect", "--model", model, "--threshold", "0", "--top-k", "3",
                                                    DetectCommandTests.image])
        #expect(int8.status == 0, "\(int8.standardError)")
        #expect(int8.standardOutput.split(separator: "\n").count == 3)
        let inspect = try DetectCommandTests.edgedetr(["inspect", model])
        #expect(inspect.status == 0 && inspect.standardOutput.contains("d_fine, input 96x128"), "\(inspect.standardError)")
    }

    /// DEIMv2's lite layout (one backbone map, RMSNorm and SwiGLU decoder layers) through the same commands.
    @Test func deimv2DetectsAndQuantizes() throws {
        let fixture = DetectCommandTests.repository.appendingPathComponent("Tests/Fixtures/models/deimv2_lite").path
        let directory = try DetectCommandTests.temporaryDirectory()
        let model = directory.appendingPathComponent("deimv2.edq").path
        let images = DetectCommandTests.repository.appendingPathComponent("Tests/Fixtures/images").path
        let quantized = try DetectCommandTests.edgedetr(["quantize", "--model", fixture, "--calib", images, "--output", model])
        #expect(quantized.status == 0, "\(quantized.standardError)")
        for path in [fixture, model] {
            let run = try DetectCommandTests.edgedetr(["detect", "--model", path, "--threshold", "0", "--top-k", "2", DetectCommandTests.image])
            #expect(run.status == 0 && run.standardOutput.split(separator: "\n").count == 2, "\(run.standardError)")
        }
    }

    /// DEIMv2's share_bbox_head: transformers 5.23 saves the one head under the last layer's name only; the
    /// import reads it from there for every layer, and names the first layer's head when there is none.
    @Test func sharedBoxHeadIsReadFromWhereverItWasSaved() throws {
        let folder = try DetectCommandTests.temporaryDirectory().appendingPathComponent("model")
        try FileManager.default.copyItem(atPath: DetectCommandTests.repository.appendingPathComponent("Tests/Fixtures/models/deimv2_lite").path,
                                         toPath: folder.path)
        let path = folder.appendingPathComponent("config.json")
        let config = try String(contentsOf: path, encoding: .utf8)
            .replacingOccurrences(of: "\"share_bbox_head\": false", with: "\"share_bbox_head\": true")
        try config.write(to: path, atomically: true, encoding: .utf8)
        try DetectCommandTests.rewriteWeights(folder) { tensors in tensors.removeAll { $0.0.hasPrefix("model.decoder.bbox_embed.0.") } }
        let run = try DetectCommandTests.edgedetr(["detect", "--model", folder.path, "--threshold", "0", "--top-k", "2", DetectCommandTests.image])
        #expect(run.status == 0 && run.standardOutput.split(separator: "\n").count == 2, "\(run.standardError)")
        try DetectCommandTests.rewriteWeights(folder) { tensors in tensors.removeAll { $0.0.hasPrefix("model.decoder.bbox_embed.") } }
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: "model.decoder.bbox_embed.0.layers.0.weight")
    }

    @Test func backboneFieldItCannotRunIsNamed() throws {
        let folder = try Self.copyOfFixture()
        let path = folder.appendingPathComponent("config.json")
        var config = try String(contentsOf: path, encoding: .utf8)
        config = config.replacingOccurrences(of: "\"hidden_act\": \"relu\"", with: "\"hidden_act\": \"hardswish\"")
        try config.write(to: path, atomically: true, encoding: .utf8)
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: "backbone_config.hidden_act = hardswish is not supported")
    }

    @Test func missingAffineBlockIsNamed() throws {
        let folder = try Self.copyOfFixture()
        let name = "model.backbone.model.encoder.stages.2.blocks.0.layers.1.conv2.lab.scale"
        try DetectCommandTests.rewriteWeights(folder) { tensors in tensors.removeAll { $0.0 == name } }
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: "encoder.stages.2.blocks.0.layers.1.conv2.lab.scale")
    }

    /// A depthwise kernel of another size than stage_kernel_size says is refused with the standard shape message.
    @Test func depthwiseKernelOfTheWrongSizeIsNamed() throws {
        let folder = try Self.copyOfFixture()
        let path = folder.appendingPathComponent("config.json")
        var config = try String(contentsOf: path, encoding: .utf8)
        config = config.replacingOccurrences(of: "\"stage_kernel_size\": [\n      3,\n      3,\n      5,", with: "\"stage_kernel_size\": [\n      3,\n      3,\n      3,")
        try config.write(to: path, atomically: true, encoding: .utf8)
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: "conv2.convolution.weight' has shape [16, 1, 5, 5], expected [16, 1, 3, 3]")
    }
}
