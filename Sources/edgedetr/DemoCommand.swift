import ArgumentParser
import EdgeRuntime
import Foundation
import Quantize

/// The main job on bundled data, for every bundled model (small random-weight checkpoints of each
/// family, saved by transformers): the float engine against transformers' own outputs, then the model
/// quantized to int8 (calibrated on the bundled images), written and read back as a model file, and
/// its drift from float; one image's int8 detections are drawn.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Float vs transformers, then quantize to int8 and compare, on the bundled models and images."
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
        print("float engine vs transformers 5.23 (same preprocessed inputs):")
        print("model                         family             images  max |logit-HF|  max |box-HF|  ms/image")
        var quantizedRows: [String] = []
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
            quantizedRows.append(try quantizeAndCompare(name: name, folder: folder, drawn: &drawn))
        }
        print("Tolerances the tests enforce: logits 1e-4 * max(1, |HF|), boxes 1e-5.")
        print("")
        print("int8 (calibrated on the bundled images, percentile) vs float, through the written model file:")
        print("model                         int8 ops  file/safetensors  mean |score drift|  max |box drift|  ms/image")
        for row in quantizedRows { print(row) }
        print("Two-stage models pick their queries by a top-k over proposal logits, so their per-query drift is large by construction.")
        print("Accuracy on a labelled set (COCO mAP of float vs int8) needs trained models; edgedetr eval computes COCO mAP.")
    }

    /// Quantizes one bundled model at its first image's input size, writes and reloads the model file,
    /// and returns its table row.
    private func quantizeAndCompare(name: String, folder: String, drawn: inout Bool) throws -> String {
        let imagesFolder = fixtures + "/images"
        let images = try ImageSet.load(imagesFolder)
        let quantizer: Quantizer
        do { quantizer = try Quantizer(folder: folder, height: 96, width: 128) } catch { throw CLIError(error.description) }
        do {
            let result = try quantizer.quantize(images: images, options: QuantizationOptions(), threads: threads)
            let bytes = ModelFileWriter.encode(graph: result.graph, plan: result.plan, metadata: result.metadata)
            let model = try ModelFile(bytes: bytes)
            let inputs = try quantizer.inputs(images)
            let comparison = try LayerComparison.measure(float: quantizer.floatGraph, quantized: model.graph,
                                                         counterpart: result.counterpart, inputs: inputs, threads: threads)
            let detector = try Detector(model: model, threads: threads)
            let start = DispatchTime.now().uptimeNanoseconds
            var first: [Detection] = []
            for (index, image) in images.enumerated() {
                let detections = try detector.detect(image, topK: 5, threshold: 0)
                if index == 0 { first = detections }
            }
            let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(images.count)
            if !drawn, let image = images.first {
                var canvas = image
                DetectionDrawing.draw(first, on: &canvas, label: detector.labelName)
                try ImageFile.writePNG(canvas, to: draw)
                drawn = true
            }
            let int8Ops = result.graph.nodes.filter { $0.operation.kindName.hasPrefix("quantized") }.count
            let safetensors = (try? FileManager.default.attributesOfItem(atPath: folder + "/model.safetensors")[.size] as? Int) ?? 0
            let ratio = safetensors > 0 ? Double(bytes.count) / Double(safetensors) : 0
            return name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(format: "%8d  %16.2f  %18.4f  %15.4f  %8.1f", int8Ops, ratio, comparison.meanScoreDrift,
                         comparison.maxBoxDrift, milliseconds)
        } catch let error as QuantizationError {
            throw CLIError("\(name): \(error.description)")
        } catch {
            throw CLIError("\(name): \(error)")
        }
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
