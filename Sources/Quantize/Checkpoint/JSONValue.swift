import Foundation

/// A JSON value as `JSONReader` reads it (and as `JSONDecoder` would: the `Decodable` conformance is
/// the reader's test oracle), with correctly rounded numbers: the one form of every JSON file EdgeDETR
/// reads (config.json, preprocessor_config.json, the safetensors header, COCO datasets and results).
///
/// `JSONSerialization` is not correctly rounded: on Linux it reads about one 17-digit double in six
/// one or two units in the last place off (`0.8999999999999999` among them), which would move IoUs
/// and scores away from the values pycocotools computes with.
public enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let integer = try? container.decode(Int.self) {
            self = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// A short phrase for error messages: "null", "true", "the string \"x\"", "2.5", "an array".
    public var summary: String {
        switch self {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .integer(let integer): return "\(integer)"
        case .number(let number): return "\(number)"
        case .string(let text): return "the string \"\(text.prefix(40))\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
