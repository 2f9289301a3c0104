import ArgumentParser
import EdgeRuntime
import Foundation
import Quantize

/// The main job on bundled data. Until the int8 pipeline lands, it runs the float engine on every
/// bundled fixture model (small random-weight checkpoints of each family, saved by transformers) and
/// shows that it reproduces transformers: the largest deviation of logits and boxes from the outputs
/// transformers itself produced for the same images, and the detections drawn on one image.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the float engine on the bundled models and images and compare it with transformers."
    )

    @Option(name: .long, help: "The folder holding models/ and images/ (the repository's Tests/Fixtures).")
    var fixtures: String = "Tests/Fixtures"

    @Option(name: .long, help: "Where to write the image with drawn detections.")
    var draw: String = "demo-detections.png"

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 2

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be from 1 to 64, got \(threads)") }
    }

    func run() throws {
        let modelsFolder = fixtures + "/models"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: modelsFolder).sorted(), !names.isEmpty else {
            throw CLIError("\(modelsFolder): no bundled models (run from the repository root or pass --fixtures)")
        }
        print("model                         family             images  max |logit-HF|  max |box-HF|  ms/image")
        var drawn = false
        for name in names {
            let folder = modelsFolder + "/" + name
            let golden: SafetensorsFile
            do { golden = try SafetensorsFile(path: folder + "/golden.safetensors") } catch { continue }
            let detector: FloatDetector
            do { detector = try FloatDetector(folder: folder, threads: threads) } catch { throw CLIError(error.description) }
            var logitError: Float = 0
            var boxError: Float = 0
            var images = 0
            var milliseconds = 0.0
            while let info = golden.info("image\(images).pixel_values") {
                let chw = try golden.floats("image\(images).pixel_values")
                let (height, width) = (info.shape[1], info.shape[2])
                var hwc = [Float](repeating: 0, count: chw.count)
                for c in 0..<3 { for p in 0..<(height * width) { hwc[p * 3 + c] = chw[c * height * width + p] } }
                let start = DispatchTime.now().uptimeNanoseconds
                let outputs: [FloatTensor]
                do { outputs = try detector.run(pixelValues: hwc, height: height, width: width) } catch {
                    throw CLIError("\(name): \(error.description)")
                }
                milliseconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                logitError = max(logitError, maxDifference(outputs, "logits", try golden.floats("image\(images).logits")))
                boxError = max(boxError, maxDifference(outputs, "pred_boxes", try golden.floats("image\(images).pred_boxes")))
                images += 1
            }
            let family = detector.config.family.rawValue
            print(name.padding(toLength: 30, withPad: " ", startingAt: 0)
                  + family.padding(toLength: 19, withPad: " ", startingAt: 0)
                  + String(format: "%6d  %14.2e  %12.2e  %8.1f", images, logitError, boxError, milliseconds / Double(max(images, 1))))
            if !drawn, let imagePath = firstImage() {
                let image = try ImageFile.load(imagePath)
                let detections = try detector.detect(image, topK: 5, threshold: 0)
                var canvas = image
                DetectionDrawing.draw(detections, on: &canvas, label: detector.labelName)
                try ImageFile.writePNG(canvas, to: draw)
                drawn = true
                print("  top detections of \(name) on \(imagePath) (random weights: the boxes mean nothing), drawn to \(draw):")
                for detection in detections {
                    print(String(format: "    %-10@ %.3f  (%.1f, %.1f, %.1f, %.1f)", detector.labelName(detection.label) as NSString,
                                 detection.score, detection.x0, detection.y0, detection.x1, detection.y1))
                }
            }
        }
        print("Tolerances the tests enforce: logits 1e-4 * max(1, |HF|), boxes 1e-5.")
    }

    private func firstImage() -> String? {
        let folder = fixtures + "/images"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        return names.sorted().first { $0.hasSuffix(".png") }.map { folder + "/" + $0 }
    }

    private func maxDifference(_ outputs: [FloatTensor], _ name: String, _ reference: [Float]) -> Float {
        guard let tensor = outputs.first(where: { $0.name == name }), tensor.values.count == reference.count else {
            return .infinity
        }
        var worst: Float = 0
        for (a, b) in zip(tensor.values, reference) { worst = max(worst, abs(a - b)) }
        return worst
    }
}
