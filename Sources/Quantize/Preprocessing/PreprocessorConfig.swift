import EdgeRuntime
import Foundation

/// Reads a checkpoint's preprocessor_config.json into `PreprocessConfig`, with transformers' defaults
/// for every missing field. Unsupported settings (a resample filter other than bilinear) are refused.
public enum PreprocessorConfigParser {
    public static func parse(_ json: [String: Any]?, file: String = "preprocessor_config.json") throws(CheckpointError) -> PreprocessConfig {
        guard let json else { return .transformersDefault }
        func error(_ field: String, _ detail: String) -> CheckpointError {
            .unsupportedValue(file: file, field: field, value: json[field].map { "\($0)" } ?? "(nested)", note: detail)
        }
        func bool(_ key: String, default value: Bool) throws(CheckpointError) -> Bool {
            guard let raw = json[key], !(raw is NSNull) else { return value }
            guard let number = raw as? NSNumber, JSONFields.isBoolean(number) else {
                throw error(key, "expected true or false")
            }
            return number.boolValue
        }
        func positiveInt(_ dictionary: [String: Any], _ key: String, field: String) throws(CheckpointError) -> Int? {
            guard let raw = dictionary[key], !(raw is NSNull) else { return nil }
            guard let number = raw as? NSNumber, !JSONFields.isBoolean(number),
                  let value = Int(exactly: number.doubleValue), value >= 1, value <= 16384 else {
                throw error(field, "expected a whole number of pixels from 1 to 16384, got \(raw)")
            }
            return value
        }
        func triple(_ key: String, default value: [Float]) throws(CheckpointError) -> [Float] {
            guard let raw = json[key], !(raw is NSNull) else { return value }
            if let number = raw as? NSNumber { return Array(repeating: number.floatValue, count: 3) }
            guard let list = raw as? [NSNumber], list.count == 3 else { throw error(key, "expected 3 numbers") }
            return list.map(\.floatValue)
        }

        if let resample = json["resample"], !(resample is NSNull) {
            guard let code = resample as? NSNumber, code.intValue == 2 else {
                throw error("resample", "only bilinear (2) is supported, got \(resample)")
            }
        }
        var resize = PreprocessConfig.Resize.none
        if try bool("do_resize", default: true) {
            resize = PreprocessConfig.transformersDefault.resize
            if let raw = json["size"], !(raw is NSNull) {
                if let edge = raw as? NSNumber {
                    resize = .shortestEdge(shortest: try positiveInt(["s": edge], "s", field: "size")!, longest: 1333)
                } else if let size = raw as? [String: Any] {
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
                } else {
                    throw error("size", "expected an object or a number")
                }
            }
        }
        var rescale: Double? = nil
        if try bool("do_rescale", default: true) {
            rescale = 1.0 / 255.0
            if let raw = json["rescale_factor"], !(raw is NSNull) {
                guard let number = raw as? NSNumber, number.doubleValue > 0, number.doubleValue.isFinite else {
                    throw error("rescale_factor", "expected a positive number")
                }
                rescale = number.doubleValue
            }
        }
        var mean: [Float]? = nil
        var deviation: [Float]? = nil
        if try bool("do_normalize", default: true) {
            mean = try triple("image_mean", default: PreprocessConfig.transformersDefault.mean!)
            deviation = try triple("image_std", default: PreprocessConfig.transformersDefault.standardDeviation!)
            if deviation!.contains(where: { !($0 > 0) || !$0.isFinite }) { throw error("image_std", "must be positive") }
        }
        return PreprocessConfig(resize: resize, rescaleFactor: rescale, mean: mean, standardDeviation: deviation)
    }
}
