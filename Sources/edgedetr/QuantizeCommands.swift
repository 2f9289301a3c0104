import ArgumentParser
import EdgeRuntime
import Kernels
import Foundation
import Quantize

/// Images for calibration or comparison: every PNG/JPEG/PPM in a folder (sorted by name), or the
/// images a COCO JSON lists (file_name, relative to --images or to the JSON's folder).
enum ImageSet {
    static let extensions: Set<String> = ["png", "jpg", "jpeg", "ppm", "pgm"]

    static func load(_ path: String, imagesFolder: String? = nil, limit: Int? = nil) throws -> [RGBImage] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw CLIError("\(path): no such file or folder")
        }
        var files: [String]
        if isFolder.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { extensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }.sorted()
                .map { path + "/" + $0 }
        } else {
            guard let data = FileManager.default.contents(atPath: path),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let images = json["images"] as? [[String: Any]] else {
                throw CLIError("\(path): not a folder of images nor a COCO JSON with an 'images' list")
            }
            let base = imagesFolder ?? URL(fileURLWithPath: path).deletingLastPathComponent().path
            files = try images.enumerated().map { index, entry in
                guard let name = entry["file_name"] as? String else {
                    throw CLIError("\(path): images[\(index)] has no 'file_name'")
                }
                return base + "/" + name
            }
        }
        if let limit { files = Array(files.prefix(limit)) }
        guard !files.isEmpty else { throw CLIError("\(path): no images found (PNG, JPEG, PPM)") }
        return try files.map { try ImageFile.load($0) }
    }
}

/// A progress bar with ETA on a terminal, plain lines otherwise (CI logs, files).
struct Progress {
    let label: String
    let start = Date()
    let terminal = isatty(STDERR_FILENO) != 0

    func update(_ done: Int, _ total: Int) {
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        if terminal {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            FileHandle.standardError.write(Data(String(format: "\r%@ [%@] %d/%d  ETA %.0fs", label, bar, done, total, eta).utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if done == total || done % max(total / 10, 1) == 0 {
            FileHandle.standardError.write(Data(String(format: "%@: %d/%d (%.0fs)\n", label, done, total, elapsed).utf8))
        }
    }
}

struct QuantizeOptionsGroup: ParsableArguments {
    @Option(name: .long, help: "Calibration observer: minmax, percentile, entropy (KL) or mse.")
    var method: String = QuantizationOptions().method.rawValue

    @Option(name: .long, help: "Fraction of each tail the percentile observer clips.")
    var percentileTail: Double = 1e-4

    @Option(name: .long, parsing: .singleValue, help: "Keep ops whose name contains this in float32 (repeatable; adds to the defaults).")
    var keepFloat: [String] = []

    @Flag(name: .long, help: "Drop the default float32 layers (sampling offsets, attention weights, heads).")
    var noDefaultFloat = false

    @Flag(name: .long, inversion: .prefixedNo,
          help: "Store the weights of the layers kept float32 as int8 per output channel (weight-only: dequantized at load, the layers still run float32).")
    var weightOnlyInt8 = QuantizationOptions().weightOnlyInt8

    @Flag(name: .long, inversion: .prefixedNo,
          help: "Run the linear layers kept float32 by name on the int8 GEMM, each input row quantized at run time at its own scale (dynamicQuantizedLinear); --no-dynamic-int8 keeps them float32.")
    var dynamicInt8 = QuantizationOptions().dynamicInt8

    @Flag(name: .long, inversion: .prefixedNo,
          help: "Run attention's Q K^T and P V on the int8 GEMM, each head's queries and keys quantized per row, its values per channel and its probabilities as two int8 codes at run time (dynamicQuantizedAttention); --no-dynamic-attention keeps attention float32.")
    var dynamicAttention = QuantizationOptions().dynamicInt8Attention

    @Flag(name: .long, inversion: .prefixedNo, help: "Keep more layers float32 by measurement, on top of the named ones, until the output drift on the calibration images meets the targets below (searched only when missed).")
    var autoPrecision = true

    @Option(name: .long, help: "--auto-precision: calibration images the search runs on.")
    var searchImages: Int = AutomaticPrecision().images

    @Option(name: .long, help: "--auto-precision target: mean |score drift| on the float top-10 detections per image.")
    var targetScoreDrift: Double = AutomaticPrecision.defaultTarget.score

    @Option(name: .long, help: "--auto-precision target: mean |box coordinate drift| (normalized) of those detections.")
    var targetBoxDrift: Double = AutomaticPrecision.defaultTarget.box

    @Option(name: .long, help: "--auto-precision: at most this fraction of the quantizable layers stays float32.")
    var maxFloatFraction: Double = AutomaticPrecision().maximumFloatFraction

    @Option(name: .long, help: "Model input size HxW; default: what the preprocessing makes of a 640x480 photo.")
    var inputSize: InputSize?

    @Option(name: .long, help: "Use at most this many calibration images.")
    var limit: Int?

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 2

    func options() throws -> QuantizationOptions {
        // QuantizationOptions.recommended when every flag keeps its default.
        var options = QuantizationOptions()
        guard let method = CalibrationMethod(rawValue: method) else {
            throw ValidationError("--method must be one of \(CalibrationMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(method)'")
        }
        guard percentileTail >= 0, percentileTail < 0.1 else { throw ValidationError("--percentile-tail must be in [0, 0.1)") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be from 1 to 64") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        options.method = method
        options.percentileTail = percentileTail
        options.keepFloat = (noDefaultFloat ? [] : QuantizationOptions.sensitiveLayers) + keepFloat
        options.weightOnlyInt8 = weightOnlyInt8
        options.dynamicInt8 = dynamicInt8
        options.dynamicInt8Attention = dynamicAttention
        if autoPrecision {
            guard targetScoreDrift >= 0, targetScoreDrift.isFinite, targetBoxDrift >= 0, targetBoxDrift.isFinite else {
                throw ValidationError("--target-score-drift and --target-box-drift must be finite and >= 0")
            }
            guard (0...1).contains(maxFloatFraction) else { throw ValidationError("--max-float-fraction must be in [0, 1]") }
            guard (1...10_000).contains(searchImages) else { throw ValidationError("--search-images must be from 1 to 10000") }
            options.automaticPrecision = AutomaticPrecision(
                target: OutputDrift(score: targetScoreDrift, box: targetBoxDrift), maximumFloatFraction: maxFloatFraction,
                images: searchImages)
        }
        return options
    }
}

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Calibrate a checkpoint on images and write an int8 model file.",
        discussion: "Convolutions and linear layers run int8 (per-channel weights, per-tensor activations); the layers known to be sensitive stay float32 (see --keep-float). Same inputs and options give a byte-identical file."
    )

    @Option(name: .long, help: "A Hugging Face checkpoint folder.")
    var model: String

    @Option(name: .long, help: "Calibration images: a folder, or a COCO JSON.")
    var calib: String

    @Option(name: .long, help: "With a COCO JSON: the folder its file_names are relative to.")
    var images: String?

    @Option(name: [.customShort("o"), .long], help: "The model file to write.")
    var output: String

    @Option(name: .long, help: "The CPU the int8 weights are packed for, used in place there (other CPUs repack them at load): host, x86-64 (AVX2), x86-64-vnni (AVX-VNNI: the dot-product panels rpi5 also reads), rpi4 (Cortex-A72 NEON), rpi5 (Cortex-A76 dot product), or raw (PyTorch layout, packed at load everywhere).")
    var target: String = "host"

    @OptionGroup var settings: QuantizeOptionsGroup

    /// The weight layout `--target` names (nil: raw).
    static func weightLayout(target: String) throws -> Int8WeightLayout? {
        switch target {
        case "host": return .native
        case "x86-64": return .avx2
        case "x86-64-vnni": return .dotProduct
        case "rpi4": return .neon
        case "rpi5": return .dotProduct
        case "raw": return nil
        default: throw ValidationError("--target must be one of host, x86-64, x86-64-vnni, rpi4, rpi5, raw; got '\(target)'")
        }
    }

    func run() throws {
        let options = try settings.options()
        let layout = try Self.weightLayout(target: target)
        let quantizer: Quantizer
        do {
            quantizer = try Quantizer(folder: model, height: settings.inputSize?.height, width: settings.inputSize?.width)
        } catch { throw CLIError(error.description) }
        let calibration = try ImageSet.load(calib, imagesFolder: images, limit: settings.limit)
        let progress = Progress(label: "calibrating")
        let result: Quantizer.Result
        do {
            result = try quantizer.quantize(images: calibration, options: options, threads: settings.threads,
                                            progress: progress.update, searchProgress: Progress(label: "layer sensitivity").update)
        } catch { throw CLIError(error.description) }
        if let search = result.search { print(search.table(limit: 15)) }
        var metadata = result.metadata
        metadata.notes.append("int8 weights: " + (layout.map { "packed for \(target) (\($0.name) panels)" } ?? "raw (packed at load)"))
        do {
            try ModelFileWriter.write(graph: result.graph, plan: result.plan, metadata: metadata, weightLayout: layout, to: output)
        } catch {
            throw CLIError(error.description)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print("wrote \(output): \(size) bytes, input \(quantizer.height)x\(quantizer.width), arena \(result.plan.size) bytes")
        for note in metadata.notes { print("  \(note)") }
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Per-layer error of an int8 quantization against float (SQNR and cosine, worst first) and the final score and box drift.",
        discussion: "With --int8: the given model file, its layers paired with the float ones by name. Without: the checkpoint is quantized here with the options below (calibrated on --calib, or on the comparison images)."
    )

    @Option(name: .long, help: "The Hugging Face checkpoint folder (float reference).")
    var float: String

    @Option(name: .long, help: "An int8 model file written by `quantize` from that checkpoint.")
    var int8: String?

    @Option(name: .long, help: "Images to compare on: a folder, or a COCO JSON.")
    var images: String

    @Option(name: .long, help: "Calibration images when quantizing here (default: the comparison images).")
    var calib: String?

    @Option(name: .long, help: "Rows of the table.")
    var rows: Int = 30

    @OptionGroup var settings: QuantizeOptionsGroup

    func validate() throws {
        guard rows >= 1 else { throw ValidationError("--rows must be at least 1") }
        if int8 != nil, calib != nil || settings.inputSize != nil {
            throw ValidationError("--int8 compares the given file: --calib and --input-size apply only when quantizing here")
        }
    }

    func run() throws {
        if let int8 {
            try compareFile(int8)
            return
        }
        let options = try settings.options()
        let quantizer: Quantizer
        do {
            quantizer = try Quantizer(folder: float, height: settings.inputSize?.height, width: settings.inputSize?.width)
        } catch { throw CLIError(error.description) }
        let evaluation = try ImageSet.load(images, limit: settings.limit)
        let calibration = try calib.map { try ImageSet.load($0, limit: settings.limit) } ?? evaluation
        let progress = Progress(label: "calibrating")
        do {
            let result = try quantizer.quantize(images: calibration, options: options, threads: settings.threads,
                                                progress: progress.update, searchProgress: Progress(label: "layer sensitivity").update)
            if let search = result.search { print(search.table(limit: rows)) }
            let comparison = try LayerComparison.measure(
                float: quantizer.floatGraph, quantized: result.graph, counterpart: result.counterpart,
                inputs: try quantizer.inputs(evaluation), threads: settings.threads)
            print(comparison.table(limit: rows))
        } catch let error as QuantizationError {
            throw CLIError(error.description)
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// Compares a model file with the checkpoint it was quantized from, at the file's input size.
    private func compareFile(_ path: String) throws {
        let model: ModelFile
        do { model = try ModelFile(path: path) } catch { throw CLIError("\(path): \(error.description)") }
        let quantizer: Quantizer
        do {
            quantizer = try Quantizer(folder: float, height: model.metadata.inputHeight, width: model.metadata.inputWidth)
        } catch { throw CLIError(error.description) }
        let counterpart = LayerComparison.counterparts(float: quantizer.floatGraph, quantized: model.graph)
        guard quantizer.floatGraph.outputs.map(\.name) == model.graph.outputs.map(\.name),
              counterpart.compactMap({ $0 }).count > quantizer.floatGraph.nodes.count / 2 else {
            throw CLIError("\(path): its layers do not match \(float) (a file quantized from another checkpoint?)")
        }
        let evaluation = try ImageSet.load(images, limit: settings.limit)
        do {
            let comparison = try LayerComparison.measure(
                float: quantizer.floatGraph, quantized: model.graph, counterpart: counterpart,
                inputs: try quantizer.inputs(evaluation), threads: settings.threads)
            print(comparison.table(limit: rows))
        } catch {
            throw CLIError("\(error)")
        }
    }
}
