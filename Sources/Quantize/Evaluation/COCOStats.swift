import Foundation

/// The 12 numbers of pycocotools' `COCOeval.summarize()` for boxes, in its order; -1 where no
/// category has the ground truth to define one.
public struct COCOStats: Equatable, Sendable {
    /// `stats[0...11]`: AP, AP50, AP75, AP small, AP medium, AP large, AR@1, AR@10, AR@100,
    /// AR small, AR medium, AR large.
    public let values: [Double]

    public var averagePrecision: Double { values[0] }
    public var averagePrecision50: Double { values[1] }
    public var averagePrecision75: Double { values[2] }
    public var averagePrecisionSmall: Double { values[3] }
    public var averagePrecisionMedium: Double { values[4] }
    public var averagePrecisionLarge: Double { values[5] }
    public var averageRecall1: Double { values[6] }
    public var averageRecall10: Double { values[7] }
    public var averageRecall100: Double { values[8] }
    public var averageRecallSmall: Double { values[9] }
    public var averageRecallMedium: Double { values[10] }
    public var averageRecallLarge: Double { values[11] }

    /// Short names for JSON output and tables, in `values` order.
    public static let names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]

    /// What each number averages: (is precision, IoU threshold index or nil for all, area index,
    /// detection-limit index).
    static let definitions: [(precision: Bool, iou: Int?, area: Int, limit: Int)] = [
        (true, nil, 0, 2), (true, 0, 0, 2), (true, 5, 0, 2), (true, nil, 1, 2), (true, nil, 2, 2), (true, nil, 3, 2),
        (false, nil, 0, 0), (false, nil, 0, 1), (false, nil, 0, 2), (false, nil, 1, 2), (false, nil, 2, 2), (false, nil, 3, 2),
    ]

    public init(values: [Double]) {
        precondition(values.count == 12, "COCO box evaluation has 12 numbers")
        self.values = values
    }

    init(precision: [Double], recall: [Double], categoryCount: Int) {
        values = Self.definitions.map { definition in
            definition.precision
                ? Self.meanPrecision(precision, categoryCount: categoryCount, iouThreshold: definition.iou, area: definition.area, maximumDetections: definition.limit)
                : Self.meanRecall(recall, categoryCount: categoryCount, iouThreshold: definition.iou, area: definition.area, maximumDetections: definition.limit)
        }
    }

    /// `_summarize(ap=1)`: the mean of the defined (> -1) precisions over IoU thresholds (or one),
    /// recall thresholds and categories (or one), in numpy's element order and summation.
    static func meanPrecision(_ precision: [Double], categoryCount K: Int, iouThreshold: Int?, area a: Int, maximumDetections m: Int, category: Int? = nil) -> Double {
        let T = COCOEvaluationParameters.iouThresholds.count, R = COCOEvaluationParameters.recallThresholds.count
        let A = COCOEvaluationParameters.areaRanges.count, M = COCOEvaluationParameters.maximumDetections.count
        var selected: [Double] = []
        for t in iouThreshold.map({ [$0] }) ?? Array(0..<T) {
            for r in 0..<R {
                for k in category.map({ [$0] }) ?? Array(0..<K) {
                    let value = precision[(((t * R + r) * K + k) * A + a) * M + m]
                    if value > -1 { selected.append(value) }
                }
            }
        }
        return numpyMean(selected)
    }

    /// `_summarize(ap=0)`: the mean of the defined recalls over IoU thresholds and categories.
    static func meanRecall(_ recall: [Double], categoryCount K: Int, iouThreshold: Int?, area a: Int, maximumDetections m: Int) -> Double {
        let T = COCOEvaluationParameters.iouThresholds.count
        let A = COCOEvaluationParameters.areaRanges.count, M = COCOEvaluationParameters.maximumDetections.count
        var selected: [Double] = []
        for t in iouThreshold.map({ [$0] }) ?? Array(0..<T) {
            for k in 0..<K {
                let value = recall[((t * K + k) * A + a) * M + m]
                if value > -1 { selected.append(value) }
            }
        }
        return numpyMean(selected)
    }

    /// `np.mean`, or -1 for no values: numpy's pairwise sum divided by the count.
    static func numpyMean(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return -1 }
        return values.withUnsafeBufferPointer { 0.0 + numpyPairwiseSum($0[...]) } / Double(values.count)
    }

    /// numpy's `pairwise_sum` for float64 (loops_utils.h): plain below 8 values, eight running sums
    /// up to 128, halves (at a multiple of 8) above.
    static func numpyPairwiseSum(_ values: Slice<UnsafeBufferPointer<Double>>) -> Double {
        let n = values.count, start = values.startIndex
        if n < 8 {
            var sum = 0.0
            for value in values { sum += value }
            return sum
        }
        if n <= 128 {
            var partial = (0..<8).map { values[start + $0] }
            var i = 8
            while i < n - n % 8 {
                for lane in 0..<8 { partial[lane] += values[start + i + lane] }
                i += 8
            }
            var sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]))
            while i < n {
                sum += values[start + i]
                i += 1
            }
            return sum
        }
        var half = n / 2
        half -= half % 8
        return numpyPairwiseSum(values[start..<(start + half)]) + numpyPairwiseSum(values[(start + half)...])
    }

    /// The 12 lines `COCOeval.summarize()` prints, in its layout.
    public var summary: String {
        let lines = Self.definitions.enumerated().map { index, definition -> String in
            let title = definition.precision ? "Average Precision" : "Average Recall"
            let kind = definition.precision ? "(AP)" : "(AR)"
            let iou = definition.iou.map { $0 == 0 ? "0.50" : "0.75" } ?? "0.50:0.95"
            let area = COCOEvaluationParameters.areaRanges[definition.area].label
            let limit = COCOEvaluationParameters.maximumDetections[definition.limit]
            return " " + pad(title, 18) + " \(kind) @[ IoU=" + pad(iou, 9) + " | area=" + leftPad(area, 6)
                + " | maxDets=" + leftPad("\(limit)", 3) + " ] = " + formatFixed3(values[index])
        }
        return lines.joined(separator: "\n")
    }
}

private func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
private func leftPad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }

/// Python's `'{:0.3f}'.format(x)`: glibc's and CPython's `%.3f` both round the exact binary value.
func formatFixed3(_ value: Double) -> String { String(format: "%.3f", value) }
