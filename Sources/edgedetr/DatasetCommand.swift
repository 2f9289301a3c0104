import ArgumentParser
import Foundation
import Quantize

/// `edgedetr dataset synth`: the synthetic shapes dataset (see `SyntheticDataset`).
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Make detection datasets.",
        subcommands: [SynthCommand.self]
    )

    struct SynthCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "synth",
            abstract: "Write a synthetic shapes dataset: PNG images and COCO annotations.",
            discussion: """
                Eight classes (square, circle, triangle, star, ring, cross, diamond, hexagon; category ids 0-7)
                on gradient, striped, checkered or noisy backgrounds, 0 to 8 per image, small to large, partly
                occluded. --difficulty easy: at most 4 shapes, no small ones, no low-contrast fills, no distractor
                lines, gradient backgrounds. Writes <output>/<split>.json and <output>/<split>/NNNNNN.png. The same
                seed, split, size and difficulty give the same bytes; each split name is an independent stream.
                """
        )

        @Option(name: .long, help: "Random seed (0 to 2^64-1).")
        var seed: UInt64

        @Option(name: .long, help: "Number of images.")
        var count: Int

        @Option(name: .long, help: "Image side in pixels (32 to 4096).")
        var size: Int = 256

        @Option(name: [.customLong("split"), .customLong("split-name")], help: "Split name (train, val, calib, ...): selects the random stream and names the files.")
        var split: String = "train"

        @Option(name: .long, help: "standard (COCO-like: small objects, clutter) or easy.")
        var difficulty: String = SyntheticDifficulty.standard.rawValue

        @Option(name: .shortAndLong, help: "Output folder (created if needed).")
        var output: String

        @Option(name: .long, help: "Worker threads (1 to 64).")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func validate() throws {
            guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be from 1 to 1000000, got \(count)") }
            guard SyntheticDataset.sizeRange.contains(size) else {
                throw ValidationError("--size must be from \(SyntheticDataset.sizeRange.lowerBound) to \(SyntheticDataset.sizeRange.upperBound), got \(size)")
            }
            guard SyntheticDataset.isValidSplitName(split) else {
                throw ValidationError("--split must be letters, digits, '-' or '_' (at most 64), got '\(split)'")
            }
            guard (1...64).contains(threads) else { throw ValidationError("--threads must be from 1 to 64, got \(threads)") }
            guard SyntheticDifficulty(rawValue: difficulty) != nil else {
                throw ValidationError("--difficulty must be one of \(SyntheticDifficulty.allCases.map(\.rawValue).joined(separator: ", ")), got '\(difficulty)'")
            }
        }

        func run() throws {
            let dataset: COCODataset
            do {
                dataset = try SyntheticDataset(seed: seed, split: split, size: size, difficulty: SyntheticDifficulty(rawValue: difficulty)!)
                    .write(count: count, to: output, threads: threads)
            } catch { throw CLIError(error.description) }
            var perClass = [Int](repeating: 0, count: SyntheticDataset.categories.count)
            for annotation in dataset.annotations { perClass[annotation.categoryID] += 1 }
            let sizes = dataset.annotations.map(\.area)
            let small = sizes.filter { $0 < 32 * 32 }.count, large = sizes.filter { $0 > 96 * 96 }.count
            print("\(output)/\(split).json: \(dataset.images.count) images, \(dataset.annotations.count) objects "
                  + "(\(small) small, \(sizes.count - small - large) medium, \(large) large)")
            print(SyntheticDataset.categories.map { "\($0.name) \(perClass[$0.id])" }.joined(separator: ", "))
        }
    }
}

/// `edgedetr eval`: COCO box AP of a results file against a ground-truth file, as pycocotools
/// computes it.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "COCO box evaluation (AP@[.5:.95], AP50, ..., AR@100) of a model or of detections against ground truth.",
        discussion: """
            With --detections: scores a COCO results file. With --model (a model file or a checkpoint folder):
            runs it on every dataset image (threshold 0, the model's top-k) and scores it. With --float and
            --int8: both in one run, AP side by side overall and per class, and their latency.
            Prints pycocotools' 12 summary lines and a per-category AP table; -1 means undefined (no ground
            truth of that kind). The numbers equal pycocotools' COCOeval(iouType='bbox').
            """
    )

    @Option(name: .long, help: "COCO ground truth (images, annotations, categories).")
    var dataset: String

    @Option(name: .long, help: "COCO results: [{image_id, category_id, bbox: [x, y, w, h], score}].")
    var detections: String?

    @Option(name: .long, help: "A model file (.edq) or checkpoint folder to run on the dataset's images.")
    var model: String?

    @Option(name: .long, help: "Float reference (checkpoint folder) for a side-by-side evaluation with --int8.")
    var float: String?

    @Option(name: .long, help: "Int8 model file for a side-by-side evaluation with --float.")
    var int8: String?

    @Option(name: .long, help: "The folder the dataset's file_names are relative to (default: the JSON's folder).")
    var images: String?

    @Option(name: .long, help: "Evaluate on the first N images only.")
    var limit: Int?

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 2

    @Flag(name: .long, help: "Print the numbers as JSON instead.")
    var json = false

    func validate() throws {
        let modes = [detections != nil, model != nil, float != nil || int8 != nil].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give exactly one of --detections, --model, or --float with --int8") }
        if (float != nil) != (int8 != nil) { throw ValidationError("--float and --int8 go together") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be from 1 to 64") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let groundTruth: COCODataset
        do { groundTruth = try COCODataset.load(path: dataset) } catch { throw CLIError(error.description) }
        let subset = limit.map { Array(groundTruth.images.prefix($0)) } ?? groundTruth.images
        if let detections {
            let evaluation: COCOEvaluation
            do {
                let results = try COCODetection.load(path: detections, dataset: groundTruth, datasetFile: dataset)
                evaluation = COCOEvaluation(dataset: groundTruth, detections: results)
            } catch { throw CLIError(error.description) }
            report(evaluation)
            return
        }
        if let model {
            let (results, milliseconds) = try ModelEvaluation.detect(model: model, dataset: groundTruth, images: subset,
                                                                     folder: imagesFolder, threads: threads)
            let evaluation = COCOEvaluation(dataset: try restricted(groundTruth, to: subset), detections: results)
            report(evaluation)
            if !json { print(String(format: "\nlatency %.1f ms/image (%d threads, preprocessing included)", milliseconds, threads)) }
            return
        }
        let (floatResults, floatTime) = try ModelEvaluation.detect(model: float!, dataset: groundTruth, images: subset,
                                                                   folder: imagesFolder, threads: threads)
        let (int8Results, int8Time) = try ModelEvaluation.detect(model: int8!, dataset: groundTruth, images: subset,
                                                                 folder: imagesFolder, threads: threads)
        let scored = try restricted(groundTruth, to: subset)
        let floatEvaluation = COCOEvaluation(dataset: scored, detections: floatResults)
        let int8Evaluation = COCOEvaluation(dataset: scored, detections: int8Results)
        if json {
            print("{\"float\": \(Self.jsonReport(floatEvaluation)),\n\"int8\": \(Self.jsonReport(int8Evaluation)),\n"
                  + "\"float_ms\": \(floatTime), \"int8_ms\": \(int8Time)}")
            return
        }
        print("            float     int8   int8-float")
        for (index, name) in COCOStats.names.enumerated() {
            let (a, b) = (floatEvaluation.stats.values[index], int8Evaluation.stats.values[index])
            print(name.padding(toLength: 8, withPad: " ", startingAt: 0) + String(format: "  %7.3f  %7.3f  %+8.3f", a, b, b - a))
        }
        print("")
        let width = max(8, floatEvaluation.perCategory.map(\.name.count).max() ?? 0)
        print("category".padding(toLength: width, withPad: " ", startingAt: 0) + "   float AP   int8 AP   int8-float")
        for (a, b) in zip(floatEvaluation.perCategory, int8Evaluation.perCategory) {
            print(a.name.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: "   %8.3f  %8.3f  %+10.3f", a.averagePrecision, b.averagePrecision, b.averagePrecision - a.averagePrecision))
        }
        print(String(format: "\nlatency: float %.1f ms/image, int8 %.1f ms/image (%d threads, %d images)",
                     floatTime, int8Time, threads, subset.count))
    }

    private var imagesFolder: String {
        images ?? URL(fileURLWithPath: dataset).deletingLastPathComponent().path
    }

    /// The dataset limited to `images` (annotations of the others dropped), for --limit.
    private func restricted(_ dataset: COCODataset, to images: [COCOImage]) throws -> COCODataset {
        guard images.count != dataset.images.count else { return dataset }
        let ids = Set(images.map(\.id))
        do {
            return try COCODataset(images: images, categories: dataset.categories,
                                   annotations: dataset.annotations.filter { ids.contains($0.imageID) }, file: self.dataset)
        } catch { throw CLIError(error.description) }
    }

    private func report(_ evaluation: COCOEvaluation) {
        if json {
            print(Self.jsonReport(evaluation))
            return
        }
        print(evaluation.stats.summary)
        print("")
        let width = max(8, evaluation.perCategory.map(\.name.count).max() ?? 0)
        print("category".padding(toLength: width, withPad: " ", startingAt: 0) + "      AP    AP50  objects")
        for category in evaluation.perCategory {
            print(category.name.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: "  %6.3f  %6.3f  %7d", category.averagePrecision, category.averagePrecision50, category.groundTruthCount))
        }
    }

    static func jsonReport(_ evaluation: COCOEvaluation) -> String {
        func number(_ value: Double) -> String { "\(value)" }
        let stats = zip(COCOStats.names, evaluation.stats.values).map { "\"\($0)\": \(number($1))" }.joined(separator: ", ")
        let categories = evaluation.perCategory.map { category in
            "{\"id\": \(category.categoryID), \"name\": \(jsonQuoted(category.name)), \"AP\": \(number(category.averagePrecision)), "
                + "\"AP50\": \(number(category.averagePrecision50)), \"objects\": \(category.groundTruthCount)}"
        }
        return "{\"stats\": {\(stats)},\n\"stats_array\": [\(evaluation.stats.values.map(number).joined(separator: ", "))],\n"
            + "\"per_category\": [\n" + categories.joined(separator: ",\n") + "\n]}"
    }

    private static func jsonQuoted(_ text: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])
        let array = data.flatMap { String(data: $0, encoding: .utf8) } ?? "[\"?\"]"
        return String(array.dropFirst().dropLast())
    }
}
