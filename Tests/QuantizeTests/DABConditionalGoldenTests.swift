import Foundation
import Testing
import EdgeRuntime
import Quantize

/// DAB-DETR and Conditional DETR float graphs against transformers' outputs (golden.safetensors,
/// written by Calibration/oracle/make_fixtures.py): logits within 1e-4 * max(1, |HF|), boxes within
/// 1e-5, and the same relative bound for the encoder output and decoder layer 0's output.
///
/// Fixtures live in Tests/Fixtures/models; `EDGEDETR_FIXTURES_DIR` points the suite at another
/// models folder (one generated with the oracle script, say). Fixtures that are not there are not run.
/// `conditional_detr_aux` (Conditional DETR with `auxiliary_loss` true, whose decoder LayerNorm feeds the
/// next layer) is run when a models folder has it.
@Suite("DAB / Conditional DETR golden")
struct DABConditionalGoldenTests {
    static let fixtures = ["dab_detr", "dab_detr_patterns", "conditional_detr", "conditional_detr_aux"]
    static var availableFixtures: [String] { fixtures.filter { folder($0) != nil } }

    static var modelsFolder: URL {
        if let folder = ProcessInfo.processInfo.environment["EDGEDETR_FIXTURES_DIR"] {
            return URL(fileURLWithPath: folder, isDirectory: true)
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models", isDirectory: true)
    }

    static func folder(_ fixture: String) -> URL? {
        let folder = modelsFolder.appendingPathComponent(fixture, isDirectory: true)
        let golden = folder.appendingPathComponent("golden.safetensors").path
        return FileManager.default.fileExists(atPath: golden) ? folder : nil
    }

    /// The largest error, and where it is: |actual - expected| / max(1, |expected|) when `relative`,
    /// else |actual - expected|. NaN counts as infinitely wrong.
    static func maximumError(_ actual: [Float], _ expected: [Float], relative: Bool) -> (error: Float, index: Int) {
        var worst: (error: Float, index: Int) = (0, -1)
        for i in 0..<min(actual.count, expected.count) {
            var error = abs(actual[i] - expected[i])
            if relative { error /= max(1, abs(expected[i])) }
            if !(error <= worst.error) { worst = (error.isNaN ? .infinity : error, i) }
        }
        return worst
    }

    @Test("float graph matches transformers", arguments: availableFixtures)
    func matchesTransformers(_ fixture: String) throws {
        let folder = try #require(Self.folder(fixture))
        let checkpoint = try CheckpointFolder(path: folder.path)
        let golden = try SafetensorsFile(path: folder.appendingPathComponent("golden.safetensors").path)
        var image = 0
        while let info = golden.info("image\(image).pixel_values") {
            let (channels, height, width) = (info.shape[0], info.shape[1], info.shape[2])
            let planar = try golden.floats("image\(image).pixel_values")
            var pixels = [Float](repeating: 0, count: planar.count)
            for c in 0..<channels {
                for p in 0..<(height * width) { pixels[p * channels + c] = planar[c * height * width + p] }
            }
            let graph = try DetectorGraph.build(checkpoint, height: height, width: width)
            let outputs = try GraphExecutor(graph: graph).run(input: pixels)
            if image == 0 {
                #expect(checkpoint.unusedTensorNames.isEmpty, "\(fixture): weights never read: \(checkpoint.unusedTensorNames)")
            }
            // Logits and hidden states relative to max(1, |HF|); boxes absolute.
            let checks: [(name: String, relative: Bool, tolerance: Float)] = [
                ("logits", true, 1e-4), ("pred_boxes", false, 1e-5),
                ("encoder_last_hidden_state", true, 1e-4), ("decoder_layer0", true, 1e-4),
            ]
            for check in checks {
                let key = "image\(image).\(check.name)"
                guard let output = outputs.first(where: { $0.name == check.name }) else {
                    Issue.record("\(fixture): graph has no output '\(check.name)'")
                    continue
                }
                let expected = try golden.floats(key)
                let expectedShape = golden.info(key)?.shape ?? []
                #expect(output.shape == expectedShape, "\(fixture) \(key): shape \(output.shape), HF \(expectedShape)")
                let (error, index) = Self.maximumError(output.values, expected, relative: check.relative)
                print("\(fixture) \(key) [\(height)x\(width)]: max error \(error) at \(index)")
                #expect(error <= check.tolerance, "\(fixture) \(key): error \(error) at \(index) exceeds \(check.tolerance)")
            }
            image += 1
        }
        #expect(image > 0, "\(fixture): golden.safetensors has no images")
    }
}
