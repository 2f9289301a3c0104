import EdgeRuntime
import Foundation

/// Reads a checkpoint's preprocessor_config.json into `PreprocessConfig`, with transformers' defaults
/// for every missing field. Unsupported settings (a resample filter other than bilinear) are refused,
/// and so are sizes past `maximumSide` and statistics that are not finite float32 numbers.
public enum PreprocessorConfigParser {
    /// Largest accepted `size` field (shortest/longest edge, height, width, max height/width), in
    /// pixels: `RuntimeLimits.maximumInputSide` (the largest real use is 1333, R101 at 1333x1333).
    public static let maximumSide = RuntimeLimits.maximumInputSide

    public static func parse(_ json: [String: JSONValue]?, file: String = "preprocessor_config.json") throws(CheckpointError) -> PreprocessConfig {
        guard let json else { return .transformersDefault }
        /// The value, or nil when absent or null (transformers writes null for "the default").
        func present(_ dictionary: [String: JSONValue], _ key: String) -> JSONValue? {
            guard let value = dictionary[key] else { return nil }
            if case .null = value { return nil }
            return value
        }
        func error(_ field: String, _ detail: String, value: JSONValue? = nil) -> CheckpointError {
            let shown = value ?? json[field]
            return .unsupportedValue(file: file, field: field, value: shown.map(display) ?? "(nested)", note: detail)
        }
        func bool(_ key: String, default value: Bool) throws(CheckpointError) -> Bool {
            guard let raw = present(json, key) else { return value }
            guard case .bool(let flag) = raw else { throw error(key, "expected true or false") }
            return flag
        }
        func positiveInt(_ dictionary: [String: JSONValue], _ key: String, field: String) throws(CheckpointError) -> Int? {
            guard let raw = present(dictionary, key) else { return nil }
            guard let value = COCOFields.integer(raw), value >= 1, value <= maximumSide else {
                throw error(field, "expected a whole number of pixels from 1 to \(maximumSide)", value: raw)
            }
            return value
        }
        /// A JSON number in `range` (so finite: 1e300 must not become a float32 infinity).
        func number(_ raw: JSONValue, in range: ClosedRange<Double>) -> Double? {
            let value: Double
            switch raw {
            case .integer(let integer): value = Double(integer)
            case .number(let number): value = number
            default: return nil
            }
            return range.contains(value) ? value : nil
        }
        func triple(_ key: String, default value: [Float], range bounds: ClosedRange<Double>) throws(CheckpointError) -> [Float] {
            guard let raw = present(json, key) else { return value }
            let note = "expected 3 numbers (or one) in \(bounds.lowerBound)...\(bounds.upperBound)"
            var list = [raw, raw, raw]
            if case .array(let elements) = raw { list = elements }
            guard list.count == 3 else { throw error(key, note) }
            var values: [Float] = []
            for element in list {
                guard let value = number(element, in: bounds) else { throw error(key, note) }
                values.append(Float(value))
            }
            return values
        }

        if let resample = present(json, "resample") {
            guard COCOFields.integer(resample) == 2 else {
                throw error("resample", "only bilinear (2) is supported")
            }
        }
        var resize = PreprocessConfig.Resize.none
        if try bool("do_resize", default: true) {
            resize = PreprocessConfig.transformersDefault.resize
            if let raw = present(json, "size") {
                switch raw {
                case .integer, .number, .bool:
                    resize = .shortestEdge(shortest: try positiveInt(["s": raw], "s", field: "size")!, longest: 1333)
                case .object(let size):
                    if let shortest = try positiveInt(size, "shortest_edge", field: "size.shortest_edge") {
                        resize = .shortestEdge(shortest: shortest, longest: try positiveInt(size, "longest_edge", field: "size.longest_edge"))
                    } else if let height = try positiveInt(size, "height", field: "size.height"),
                              let width = try positiveInt(size, "width", field: "size.width") {
                        resize = .fixed(height: height, width: width)
                    } else if let height = try positiveInt(size, "max_height", field: "size.max_height"),
                              let width = try positiveInt(size, "max_width", field: "size.max_width") {
                        resize = .maxHeightWidth(height: height, width: width)
                    } else {
                        throw error("size", "expected shortest_edge(+longest_edge), height+width or max_height+max_width")
                    }
                default:
                    throw error("size", "expected an object or a number")
                }
            }
        }
        var rescale: Double? = nil
        if try bool("do_rescale", default: true) {
            rescale = 1.0 / 255.0
            if let raw = present(json, "rescale_factor") {
                let range = PreprocessConfig.rescaleRange
                guard let value = number(raw, in: range) else {
                    throw error("rescale_factor", "expected a number in \(range.lowerBound)...\(range.upperBound)")
                }
                rescale = value
            }
        }
        var mean: [Float]? = nil
        var deviation: [Float]? = nil
        if try bool("do_normalize", default: true) {
            mean = try triple("image_mean", default: PreprocessConfig.transformersDefault.mean!,
                              range: PreprocessConfig.meanRange)
            deviation = try triple("image_std", default: PreprocessConfig.transformersDefault.standardDeviation!,
                                   range: PreprocessConfig.standardDeviationRange)
        }
        return PreprocessConfig(resize: resize, rescaleFactor: rescale, mean: mean, standardDeviation: deviation)
    }

    /// A JSON value on one line for an error message: a list's first eight elements, else its summary.
    private static func display(_ value: JSONValue) -> String {
        if case .array(let list) = value {
            return "[" + list.prefix(8).map(display).joined(separator: ", ") + (list.count > 8 ? ", ...]" : "]")
        }
        return value.summary
    }
}
