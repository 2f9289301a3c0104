import Foundation
import Testing
@testable import Quantize

/// The Swift evaluator against pycocotools 2.0.11 on the cases of
/// Calibration/coco/make_coco_fixtures.py (Tests/Fixtures/coco/<case>).
@Suite("COCO evaluation: agreement with pycocotools")
struct COCOEvaluationTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/coco")
    static let cases = ["basic", "crowd", "ties", "many", "perfect", "edge"]
    /// The agreement asked for is 1e-4; the arithmetic is pycocotools', so expect far better (the
    /// stats are in fact bit-identical, see `bitIdentical`).
    static let tolerance = 1e-12

    /// expected.json, read with `JSONDecoder` (exact doubles; `JSONSerialization` is not).
    struct Expected: Decodable {
        struct Category: Decodable {
            let id: Int
            let ap: Double
            let ap50: Double
        }
        let stats: [Double]
        let perCategory: [Category]
        /// [T][K][A][M]
        let recall: [[[[Double]]]]
        let precisionMean: [[[[Double]]]]
        let summary: [String]

        enum CodingKeys: String, CodingKey {
            case stats, recall, summary
            case perCategory = "per_category"
            case precisionMean = "precision_mean"
        }
    }

    struct Parameters: Decodable {
        let iou_thresholds: [Double]
        let recall_thresholds: [Double]
        let area_ranges: [[Double]]
        let max_dets: [Int]
    }

    static func load(_ name: String) throws -> (COCODataset, [COCODetection], Expected) {
        let folder = root.appendingPathComponent(name)
        let groundTruthPath = folder.appendingPathComponent("ground_truth.json").path
        let dataset = try COCODataset.load(path: groundTruthPath)
        let detections = try COCODetection.load(path: folder.appendingPathComponent("detections.json").path, dataset: dataset, datasetFile: groundTruthPath)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
        return (dataset, detections, expected)
    }

    @Test("the 12 stats", arguments: cases)
    func stats(_ name: String) throws {
        let (dataset, detections, expected) = try Self.load(name)
        let evaluation = COCOEvaluation(dataset: dataset, detections: detections)
        let worst = zip(evaluation.stats.values, expected.stats).map { abs($0 - $1) }.max()!
        #expect(worst <= Self.tolerance, "\(name): stats \(evaluation.stats.values) vs pycocotools \(expected.stats)")
    }

    @Test("the 12 stats are bit-identical (same operations in the same order)", arguments: cases)
    func bitIdentical(_ name: String) throws {
        let (dataset, detections, expected) = try Self.load(name)
        let evaluation = COCOEvaluation(dataset: dataset, detections: detections)
        #expect(evaluation.stats.values.map(\.bitPattern) == expected.stats.map(\.bitPattern))
        #expect(evaluation.perCategory.map(\.averagePrecision.bitPattern) == expected.perCategory.map(\.ap.bitPattern))
    }

    @Test("summary printed in pycocotools' layout", arguments: cases)
    func summary(_ name: String) throws {
        let (dataset, detections, expected) = try Self.load(name)
        let lines = COCOEvaluation(dataset: dataset, detections: detections).stats.summary.split(separator: "\n").map(String.init)
        #expect(lines == expected.summary)
    }

    @Test("per-category AP and AP50", arguments: cases)
    func perCategory(_ name: String) throws {
        let (dataset, detections, expected) = try Self.load(name)
        let results = COCOEvaluation(dataset: dataset, detections: detections).perCategory
        #expect(results.map(\.categoryID) == expected.perCategory.map(\.id))
        for (result, want) in zip(results, expected.perCategory) {
            #expect(abs(result.averagePrecision - want.ap) <= Self.tolerance, "\(name) category \(want.id): AP \(result.averagePrecision) vs \(want.ap)")
            #expect(abs(result.averagePrecision50 - want.ap50) <= Self.tolerance, "\(name) category \(want.id): AP50 \(result.averagePrecision50) vs \(want.ap50)")
        }
    }

    @Test("recall and mean precision for every threshold, category, area and limit", arguments: cases)
    func arrays(_ name: String) throws {
        let (dataset, detections, expected) = try Self.load(name)
        let evaluation = COCOEvaluation(dataset: dataset, detections: detections)
        let T = expected.recall.count, K = expected.recall[0].count, A = expected.recall[0][0].count, M = expected.recall[0][0][0].count
        #expect(T == 10 && K == evaluation.categoryIDs.count && A == 4 && M == 3)
        var worstRecall = 0.0, worstPrecision = 0.0
        for t in 0..<T {
            for k in 0..<K {
                for a in 0..<A {
                    for m in 0..<M {
                        worstRecall = max(worstRecall, abs(evaluation.recall(t: t, k: k, a: a, m: m) - expected.recall[t][k][a][m]))
                        let points = (0..<101).map { evaluation.precision(t: t, r: $0, k: k, a: a, m: m) }
                        let mean = points.reduce(0, +) / 101
                        worstPrecision = max(worstPrecision, abs(mean - expected.precisionMean[t][k][a][m]))
                    }
                }
            }
        }
        #expect(worstRecall <= Self.tolerance, "\(name): recall differs by \(worstRecall)")
        #expect(worstPrecision <= Self.tolerance, "\(name): mean precision differs by \(worstPrecision)")
    }

    @Test("thresholds are numpy's linspace doubles")
    func thresholds() throws {
        let parameters = try JSONDecoder().decode(Parameters.self, from: Data(contentsOf: Self.root.appendingPathComponent("parameters.json")))
        #expect(COCOEvaluationParameters.iouThresholds.map(\.bitPattern) == parameters.iou_thresholds.map(\.bitPattern))
        #expect(COCOEvaluationParameters.recallThresholds.map(\.bitPattern) == parameters.recall_thresholds.map(\.bitPattern))
        #expect(COCOEvaluationParameters.iouThresholds[5] == 0.75)
        #expect(parameters.max_dets == COCOEvaluationParameters.maximumDetections)
        #expect(parameters.area_ranges == COCOEvaluationParameters.areaRanges.map { [$0.lower, $0.upper] })
    }

    // MARK: Hand-checked cases

    static func dataset(_ annotations: [COCOAnnotation], categories: [Int] = [1]) throws -> COCODataset {
        let images = Set(annotations.map(\.imageID)).union([1]).sorted().map { COCOImage(id: $0, fileName: "\($0).png", width: 100, height: 100) }
        return try COCODataset(images: images, categories: categories.map { COCOCategory(id: $0, name: "c\($0)") }, annotations: annotations)
    }

    @Test("one exact detection per object: AP 1; no detections: 0 (pycocotools refuses an empty list)")
    func perfectAndEmpty() throws {
        let box = COCOBox(x: 10, y: 10, width: 50, height: 50)
        let dataset = try Self.dataset([COCOAnnotation(id: 1, imageID: 1, categoryID: 1, box: box, area: 2500)])
        let perfect = COCOEvaluation(dataset: dataset, detections: [COCODetection(imageID: 1, categoryID: 1, box: box, score: 0.9)])
        // Precision is tp / (tp + fp + eps), as in pycocotools: one ulp or two short of 1.
        let want: [Double] = [1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1]
        #expect(zip(perfect.stats.values, want).allSatisfy { abs($0 - $1) < 1e-15 }, "\(perfect.stats.values)")
        let empty = COCOEvaluation(dataset: dataset, detections: [])
        #expect(empty.stats.values == [0, 0, 0, -1, 0, -1, 0, 0, 0, -1, 0, -1])
    }

    @Test("crowd IoU is intersection over the detection's area")
    func crowdIoU() {
        let crowd = COCOBox(x: 0, y: 0, width: 100, height: 100)
        let inside = COCOBox(x: 10, y: 10, width: 20, height: 20)
        #expect(boxIoU(detection: inside, truth: crowd, crowd: true) == 1)
        #expect(boxIoU(detection: inside, truth: crowd, crowd: false) == 400.0 / 10000.0)
        #expect(boxIoU(detection: COCOBox(x: 100, y: 0, width: 5, height: 5), truth: crowd, crowd: false) == 0)
    }

    @Test("stable order: equal scores keep file order")
    func stableOrder() {
        #expect(stableOrderByDescendingScore([0.5, 0.9, 0.5, 0.9, 0.1, 0.5]) == [1, 3, 0, 2, 5, 4])
    }

    @Test("numpy's pairwise summation order")
    func pairwiseSum() {
        // 1e16 then fifteen 1s (the spacing at 1e16 is 2): left to right loses every 1, numpy's eight
        // running sums lose only the one added to 1e16 (np.add.reduce gives 1.0000000000000014e16).
        let values = [1e16] + [Double](repeating: 1, count: 15)
        let sum = values.withUnsafeBufferPointer { COCOStats.numpyPairwiseSum($0[...]) }
        #expect(sum == 1e16 + 14)
    }
}
