/// The fixed settings of pycocotools' `Params(iouType='bbox')`, computed with the same arithmetic so
/// that every threshold is the same double.
public enum COCOEvaluationParameters {
    /// `np.linspace(.5, 0.95, 10)`: ten IoU thresholds 0.50, 0.55, ..., 0.95.
    public static let iouThresholds: [Double] = numpyLinspace(start: 0.5, stop: 0.95, count: Int((((0.95 - 0.5) / 0.05)).rounded(.toNearestOrEven)) + 1)
    /// `np.linspace(.0, 1.00, 101)`: the recall points at which precision is sampled.
    public static let recallThresholds: [Double] = numpyLinspace(start: 0.0, stop: 1.0, count: Int(((1.0 - 0.0) / 0.01).rounded(.toNearestOrEven)) + 1)
    /// Detections kept per image, in increasing order (pycocotools sorts them).
    public static let maximumDetections = [1, 10, 100]
    /// Object-size ranges on the annotation's `area` (detections: width * height), both ends included.
    public static let areaRanges: [AreaRange] = [
        AreaRange(label: "all", lower: 0, upper: 1e5 * 1e5),
        AreaRange(label: "small", lower: 0, upper: 32 * 32),
        AreaRange(label: "medium", lower: 32 * 32, upper: 96 * 96),
        AreaRange(label: "large", lower: 96 * 96, upper: 1e5 * 1e5),
    ]

    public struct AreaRange: Equatable, Sendable {
        public let label: String
        public let lower: Double
        public let upper: Double

        /// pycocotools' test `area < lower or area > upper`, negated.
        func contains(_ area: Double) -> Bool { !(area < lower || area > upper) }
    }

    /// numpy's `linspace(start, stop, count)` with `endpoint=True`: `i * step + start`, the last value
    /// set to `stop` exactly.
    static func numpyLinspace(start: Double, stop: Double, count: Int) -> [Double] {
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }
}
