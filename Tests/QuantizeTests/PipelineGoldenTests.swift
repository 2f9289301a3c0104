import EdgeRuntime
import Foundation
import Quantize
import Testing

/// Pre- and post-processing against transformers' PIL image processors: the fixture PNGs decoded,
/// resized and normalized must give the processor's `pixel_values`, and the whole float pipeline must
/// give `post_process_object_detection`'s detections.
@Suite struct PipelineGoldenTests {
    static let images = ["oracle_rgb_64x48.png", "oracle_rgba_50x90.png", "oracle_gray_70x70.png"]

    static func loadImage(_ index: Int) throws -> RGBImage {
        let path = GoldenFixture.root.appendingPathComponent("images/\(images[index])").path
        guard let data = FileManager.default.contents(atPath: path) else { throw FixtureError("cannot read \(path)") }
        return try decodeImage([UInt8](data))
    }

    @Test(arguments: FloatGoldenTests.fixtures)
    func preprocessingMatchesTransformers(_ name: String) throws {
        let fixture = try GoldenFixture(name)
        let detector = try FloatDetector(folder: fixture.folder)
        for index in 0..<fixture.imageCount {
            let image = try Self.loadImage(index)
            let ours = try Preprocess.pixelValues(image, config: detector.preprocess)
            let golden = try fixture.pixelValues(image: index)
            #expect(ours.height == golden.height && ours.width == golden.width,
                    "\(name) image \(index): size \(ours.height)x\(ours.width), transformers \(golden.height)x\(golden.width)")
            guard ours.values.count == golden.values.count else { continue }
            let comparison = Comparison(got: ours.values, want: golden.values, absolute: 1e-6, relative: 1e-6)
            #expect(comparison.passes, "\(name) image \(index) pixel_values: \(comparison)")
        }
    }

    @Test(arguments: FloatGoldenTests.fixtures)
    func detectionsMatchTransformers(_ name: String) throws {
        let fixture = try GoldenFixture(name)
        let detector = try FloatDetector(folder: fixture.folder)
        for index in 0..<fixture.imageCount {
            let image = try Self.loadImage(index)
            let scores = try fixture.tensor("image\(index).scores").values
            let labels = try fixture.tensor("image\(index).labels").values
            let boxes = try fixture.tensor("image\(index).boxes").values
            let ours = try detector.detect(image, topK: scores.count, threshold: 0)
            #expect(ours.count == scores.count, "\(name) image \(index): \(ours.count) detections, transformers \(scores.count)")
            // Where the fixture states PyTorch's own float32 error (its float64 run), the engine may be four
            // times that from the exact answer (FloatGoldenTests), so five times from PyTorch's float32 one.
            func noise(_ key: String) throws -> Float {
                fixture.has("image\(index).\(key).float32_noise") ? try fixture.tensor("image\(index).\(key).float32_noise").values[0] : 0
            }
            let (logitNoise, boxNoise) = (try noise("logits"), try noise("pred_boxes"))
            let pixelTolerance = max(2e-5, 5 * boxNoise) * Float(max(image.width, image.height))
            for (rank, score) in scores.enumerated() where rank < ours.count {
                // The logits tolerance, 1e-4 * max(1, |logit|), carried through the sigmoid (slope <= 1/4).
                let logit = logf(score / (1 - score))
                let scoreTolerance = max(0.25e-4 * max(1, abs(logit)), 0.25 * 5 * logitNoise) + 1e-7
                #expect(abs(ours[rank].score - score) <= scoreTolerance,
                        "\(name) image \(index) rank \(rank): score \(ours[rank].score) vs \(score)")
                // Equal-scored pairs may come in either order; find the transformers detection among ours.
                let label = Int(labels[rank])
                let box = Array(boxes[rank * 4 ..< rank * 4 + 4])
                let found = ours.contains { detection in
                    detection.label == label && abs(detection.score - score) <= scoreTolerance
                        && abs(detection.x0 - box[0]) <= pixelTolerance && abs(detection.y0 - box[1]) <= pixelTolerance
                        && abs(detection.x1 - box[2]) <= pixelTolerance && abs(detection.y1 - box[3]) <= pixelTolerance
                }
                #expect(found, "\(name) image \(index) rank \(rank): label \(label) box \(box) not found")
            }
        }
    }
}
