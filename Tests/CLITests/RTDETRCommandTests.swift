import EdgeRuntime
import Foundation
import Quantize
import Testing

/// RT-DETR through the CLI: a bundled checkpoint detects, quantizes to a model file that detects the
/// same objects, and damaged configs or weights give one line naming the problem.
@Suite struct RTDETRCommandTests {
    static let fixture = DetectCommandTests.repository.appendingPathComponent("Tests/Fixtures/models/rt_detr_r18vd").path

    static func copyOfFixture() throws -> URL {
        let folder = try DetectCommandTests.temporaryDirectory().appendingPathComponent("model")
        try FileManager.default.copyItem(atPath: fixture, toPath: folder.path)
        return folder
    }

    @Test func detectAndQuantize() throws {
        let float = try DetectCommandTests.edgedetr(["detect", "--model", Self.fixture, "--threshold", "0", "--top-k", "3",
                                                     DetectCommandTests.image])
        #expect(float.status == 0, "\(float.standardError)")
        #expect(float.standardOutput.split(separator: "\n").count == 3)
        let directory = try DetectCommandTests.temporaryDirectory()
        let model = directory.appendingPathComponent("rt.edq").path
        let images = DetectCommandTests.repository.appendingPathComponent("Tests/Fixtures/images").path
        let quantized = try DetectCommandTests.edgedetr(["quantize", "--model", Self.fixture, "--calib", images, "--output", model])
        #expect(quantized.status == 0, "\(quantized.standardError)")
        let int8 = try DetectCommandTests.edgedetr(["detect", "--model", model, "--threshold", "0", "--top-k", "3",
                                                    DetectCommandTests.image])
        #expect(int8.status == 0, "\(int8.standardError)")
        #expect(int8.standardOutput.split(separator: "\n").count == 3)
    }

    @Test func configFieldItCannotRunIsNamed() throws {
        let folder = try Self.copyOfFixture()
        let path = folder.appendingPathComponent("config.json")
        var config = try String(contentsOf: path, encoding: .utf8)
        config = config.replacingOccurrences(of: "\"activation_function\": \"silu\"", with: "\"activation_function\": \"tanh\"")
        try config.write(to: path, atomically: true, encoding: .utf8)
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: "activation_function = tanh is not supported")
    }

    @Test func missingRepVGGBranchIsNamed() throws {
        let folder = try Self.copyOfFixture()
        let name = "model.encoder.fpn_blocks.0.bottlenecks.1.conv2.conv.weight"
        try DetectCommandTests.rewriteWeights(folder) { tensors in tensors.removeAll { $0.0 == name } }
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: name)
    }

    @Test func backboneWeightOfTheWrongShapeIsNamed() throws {
        let folder = try Self.copyOfFixture()
        let name = "model.backbone.model.encoder.stages.1.layers.0.shortcut.1.convolution.weight"
        try DetectCommandTests.rewriteWeights(folder) { tensors in
            let index = tensors.firstIndex { $0.0 == name }!
            let (key, shape, values) = tensors[index]
            tensors[index] = (key, [shape[0], shape[1] / 2, 1, 1], Array(values.prefix(shape[0] * (shape[1] / 2))))
        }
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: name)
    }

    /// The config's widths are checked against the tensors (transformers would fail to load such a
    /// checkpoint): `hidden_expansion` 0.5 makes the CSP blocks' hidden width 16, the tensors say 32.
    @Test func configWidthThatDisagreesWithTheTensorsIsNamed() throws {
        let folder = try Self.copyOfFixture()
        let path = folder.appendingPathComponent("config.json")
        var config = try String(contentsOf: path, encoding: .utf8)
        config = config.replacingOccurrences(of: "\"hidden_expansion\": 1.0", with: "\"hidden_expansion\": 0.5")
        try config.write(to: path, atomically: true, encoding: .utf8)
        DetectCommandTests.expectOneLineError(try DetectCommandTests.edgedetr(["detect", "--model", folder.path, DetectCommandTests.image]),
                                              contains: "tensor 'model.encoder.fpn_blocks.0.conv1.conv.weight' has shape [32, 64, 1, 1], expected [16, 64, 1, 1]")
    }
}
