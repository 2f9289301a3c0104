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
                occluded. Writes <output>/<split>.json and <output>/<split>/NNNNNN.png. The same seed, split and
                size give the same bytes; each split name is an independent stream.
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
        }

        func run() throws {
            let dataset: COCODataset
            do {
                dataset = try SyntheticDataset(seed: seed, split: split, size: size).write(count: count, to: output, threads: threads)
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
        abstract: "COCO box evaluation (AP@[.5:.95], AP50, ..., AR@100) of detections against ground truth.",
        discussion: """
            Prints pycocotools' 12 summary lines and a per-category AP table; -1 means undefined (no ground
            truth of that kind). The numbers equal pycocotools' COCOeval(iouType='bbox').
            """
    )

    @Option(name: .long, help: "COCO ground truth (images, annotations, categories).")
    var dataset: String

    @Option(name: .long, help: "COCO results: [{image_id, category_id, bbox: [x, y, w, h], score}].")
    var detections: String

    @Flag(name: .long, help: "Print the numbers as JSON instead.")
    var json = false

    func run() throws {
        let evaluation: COCOEvaluation
        do {
            let groundTruth = try COCODataset.load(path: dataset)
            let results = try COCODetection.load(path: detections, dataset: groundTruth, datasetFile: dataset)
            evaluation = COCOEvaluation(dataset: groundTruth, detections: results)
        } catch { throw CLIError(error.description) }
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
