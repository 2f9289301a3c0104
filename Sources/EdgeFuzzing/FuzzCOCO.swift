import Foundation
import Quantize

/// A COCO dataset (ground truth) and a results file, split at `fuzzPartSeparator`: parsed,
/// validated against each other and, when small, evaluated as `edgedetr eval` does.
enum COCOFuzzing {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let parts = splitParts(bytes, separator: fuzzPartSeparator, count: 2)
        guard let dataset = try? COCODataset(jsonData: parts[0], file: "dataset.json") else { return }
        guard let detections = try? COCODetection.parse(jsonData: parts[1], file: "results.json", dataset: dataset) else { return }
        guard dataset.images.count <= 64, dataset.annotations.count <= 512, detections.count <= 512 else { return }
        let stats = COCOEvaluation(dataset: dataset, detections: detections).stats
        for value in stats.values { precondition(value.isNaN == false, "COCO statistic is NaN") }
    }

    /// One fuzz input from a dataset and a results file (seed corpora).
    public static func seed(dataset: Data, results: Data) -> Data {
        dataset + Data(fuzzPartSeparator) + results
    }
}
