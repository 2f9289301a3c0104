import ArgumentParser
import EdgeRuntime
import Kernels
import Foundation
import Quantize

/// The main job on bundled data:
/// 1. the float engine against transformers' own outputs on the bundled random-weight checkpoints of
///    every family;
/// 2. each of them quantized to int8 (calibrated on the bundled images), written and read back as a
///    model file, and its drift from float;
/// 3. the bundled trained detectors (Tests/Fixtures/trained) quantized with the default options on the
///    bundled calibration split, and float vs int8 COCO AP on the synthetic val split (regenerated
///    here, deterministically, exactly as docs/ACCURACY.md's commands do); one val image's int8
///    detections are drawn.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Float vs transformers, int8 drift, and float vs int8 COCO AP of the bundled trained detectors."
    )

    @Option(name: .long, help: "The folder holding models/ and images/ (the repository's Tests/Fixtures).")
    var fixtures: String = "Tests/Fixtures"

    @Option(name: .long, help: "Where to write the image with drawn detections.")
    var draw: String = "demo-detections.png"

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 2

    @Option(name: .long, help: "Images of the synthetic val split to evaluate on (docs/ACCURACY.md uses 200).")
    var valImages: Int = 200

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be from 1 to 64, got \(threads)") }
        guard (1...10_000).contains(valImages) else { throw ValidationError("--val-images must be from 1 to 10000, got \(valImages)") }
    }

    func run() throws {
        let modelsFolder = fixtures + "/models"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: modelsFolder).sorted(), !names.isEmpty else {
            throw CLIError("\(modelsFolder): no bundled models (run from the repository root or pass --fixtures)")
        }
        print("float engine vs transformers 5.23 (same preprocessed inputs):")
        print("model                         family             images  max |logit-HF|  max |box-HF|  ms/image")
        var quantizedRows: [String] = []
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
                logitError = max(logitError, maxDifference(outputs, DetectorOutput.logits, try golden.floats("image\(images).logits")))
                boxError = max(boxError, maxDifference(outputs, DetectorOutput.boxes, try golden.floats("image\(images).pred_boxes")))
                images += 1
            }
            let family = detector.config.family.rawValue
            print(name.padding(toLength: 30, withPad: " ", startingAt: 0)
                  + family.padding(toLength: 19, withPad: " ", startingAt: 0)
                  + String(format: "%6d  %14.2e  %12.2e  %8.1f", images, logitError, boxError, milliseconds / Double(max(images, 1))))
            quantizedRows.append(try quantizeAndCompare(name: name, folder: folder))
        }
        print("Tolerances the tests enforce: logits 1e-4 * max(1, |HF|), boxes 1e-5; for RT-DETR against transformers' float64")
        print("answer, and at least 4x PyTorch's own float32 error (its deep random convolution stacks drift past 1e-4).")
        print("")
        print("int8 (calibrated on the bundled images, \(QuantizationOptions().method.rawValue)) vs float, through the written model file:")
        print("model                         int8 ops  file/safetensors  mean |score drift|  max |box drift|  ms/image")
        for row in quantizedRows { print(row) }
        print("Two-stage models and RT-DETR pick their queries by a top-k over proposal logits, so their per-query drift is large by construction.")
        print("")
        try trainedAccuracy()
    }

    /// Quantizes one bundled model at 96x128, writes and reloads the model file, and returns its table row.
    private func quantizeAndCompare(name: String, folder: String) throws -> String {
        let imagesFolder = fixtures + "/images"
        let images = try ImageSet.load(imagesFolder)
        let quantizer: Quantizer
        do { quantizer = try Quantizer(folder: folder, height: 96, width: 128) } catch { throw CLIError(error.description) }
        do {
            let result = try quantizer.quantize(images: images, options: QuantizationOptions(), threads: threads)
            let bytes = ModelFileWriter.encode(graph: result.graph, plan: result.plan, metadata: result.metadata,
                                               weightLayout: .native)
            let model = try ModelFile(bytes: bytes)
            let inputs = try quantizer.inputs(images)
            let comparison = try LayerComparison.measure(float: quantizer.floatGraph, quantized: model.graph,
                                                         counterpart: result.counterpart, inputs: inputs, threads: threads)
            let detector = try Detector(model: model, threads: threads)
            let start = DispatchTime.now().uptimeNanoseconds
            for image in images { _ = try detector.detect(image, topK: 5, threshold: 0) }
            let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(images.count)
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

    /// Section 3: every bundled trained detector, float vs int8 (default options) on the val split.
    private func trainedAccuracy() throws {
        let trainedFolder = fixtures + "/trained"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: trainedFolder)) ?? []).sorted()
            .filter { FileManager.default.fileExists(atPath: trainedFolder + "/" + $0 + "/config.json") }
        guard !names.isEmpty else { throw CLIError("\(trainedFolder): no trained models") }
        let calibration = try ImageSet.load(fixtures + "/datasets/synth128-easy/calib")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("edgedetr-demo-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let split = SyntheticDataset(seed: 1, split: "val", size: 128, difficulty: .easy)
        let truth: COCODataset
        do { truth = try split.write(count: valImages, to: work, threads: threads) } catch { throw CLIError(error.description) }
        let defaults = QuantizationOptions.recommended
        print("Trained detectors (\(trainedFolder)): int8 with `edgedetr quantize`'s defaults (\(defaults.method.rawValue) observer, "
              + "sensitive layers float32, automatic precision on top), calibrated on the \(calibration.count) bundled calib images;")
        print("COCO AP (x100) on the synthetic val split (\(valImages) images: edgedetr dataset synth --seed 1 --count \(valImages) --size 128 --split val --difficulty easy):")
        print("model                      family             float AP  int8 AP   loss  float AP50  int8 AP50  int8 file  float ms  int8 ms")
        var best: (name: String, file: String, ap: Double)?
        for name in names {
            let folder = trainedFolder + "/" + name
            let file = work + "/" + name + ".edq"
            let quantizer: Quantizer
            do { quantizer = try Quantizer(folder: folder) } catch { throw CLIError(error.description) }
            do {
                let result = try quantizer.quantize(images: calibration, options: defaults, threads: threads)
                try ModelFileWriter.write(graph: result.graph, plan: result.plan, metadata: result.metadata,
                                          weightLayout: .native, to: file)
            } catch let error as QuantizationError {
                throw CLIError("\(name): \(error.description)")
            } catch {
                throw CLIError("\(name): \(error)")
            }
            let float = try ModelEvaluation.detect(model: folder, dataset: truth, images: truth.images, folder: work, threads: threads)
            let int8 = try ModelEvaluation.detect(model: file, dataset: truth, images: truth.images, folder: work, threads: threads)
            let floatAP = COCOEvaluation(dataset: truth, detections: float.detections).stats.values
            let int8AP = COCOEvaluation(dataset: truth, detections: int8.detections).stats.values
            let bytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            print(name.padding(toLength: 27, withPad: " ", startingAt: 0)
                  + quantizer.checkpoint.config.family.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
                  + String(format: "%9.2f %8.2f %6.2f %11.1f %10.1f %8.2f MB %9.1f %8.1f",
                           floatAP[0] * 100, int8AP[0] * 100, (floatAP[0] - int8AP[0]) * 100, floatAP[1] * 100, int8AP[1] * 100,
                           Double(bytes) / 1e6, float.milliseconds, int8.milliseconds))
            if best == nil || floatAP[0] > best!.ap { best = (name, file, floatAP[0]) }
        }
        if let best {
            try drawMosaic(of: best, truth: truth, folder: work)
        }
        print("loss = float AP - int8 AP; docs/ACCURACY.md has the same comparison with ONNX Runtime's int8.")
    }

    /// The most accurate model's int8 detections at `detect`'s default threshold (0.5) on the first
    /// four val images, drawn side by side (2x2) to `draw`, and what they found against the truth.
    private func drawMosaic(of best: (name: String, file: String, ap: Double), truth: COCODataset, folder: String) throws {
        let detector = try AnyDetector(model: best.file, threads: threads)
        let category = ModelEvaluation.categories(of: detector, in: truth)
        /// Some detection of the right class at IoU >= 0.5 (COCO's AP50 criterion).
        func matches(_ detection: Detection, _ truth: COCOAnnotation) -> Bool {
            category(detection.label) == truth.categoryID
                && boxIoU(detection: ModelEvaluation.box(detection), truth: truth.box, crowd: false) >= 0.5
        }
        let shown = Array(truth.images.prefix(4))
        guard let first = shown.first else { return }
        let tile = try ImageFile.load(folder + "/" + first.fileName)
        var mosaic: RGBImage
        do { mosaic = try RGBImage(width: 2 * tile.width, height: 2 * tile.height) } catch { throw CLIError(error.description) }
        var objects = 0, found = 0, extra = 0
        for (position, image) in shown.enumerated() {
            var canvas = try ImageFile.load(folder + "/" + image.fileName)
            guard canvas.width == tile.width, canvas.height == tile.height else { continue }
            let detections = oneLabelPerBox(try detector.detect(canvas, nil, 0.5))
            drawDetections(detections, on: &canvas, label: detector.labelName)
            let boxes = truth.annotations.filter { $0.imageID == image.id }
            objects += boxes.count
            found += boxes.filter { box in detections.contains { matches($0, box) } }.count
            extra += detections.filter { detection in !boxes.contains { matches(detection, $0) } }.count
            let left = (position % 2) * tile.width, top = (position / 2) * tile.height
            for row in 0..<tile.height {
                let source = row * tile.width * 3, destination = ((top + row) * mosaic.width + left) * 3
                mosaic.pixels.replaceSubrange(destination..<(destination + tile.width * 3),
                                              with: canvas.pixels[source..<(source + tile.width * 3)])
            }
        }
        try ImageFile.writePNG(mosaic, to: draw)
        print("\(best.name) int8 on val images \(shown.map { $0.fileName }.joined(separator: ", ")) (score >= 0.5, one label per box): "
              + "\(found) of \(objects) objects found with the right class at IoU >= 0.5, \(extra) box\(extra == 1 ? "" : "es") wrong; drawn to \(draw)")
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
