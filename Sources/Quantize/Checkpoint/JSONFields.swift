import Foundation

/// Typed, error-reporting access to one JSON object of config.json (read by `JSONReader`).
///
/// These accessors decide once what counts as an integer (a number with an exact integer value that
/// fits in `Int`), a boolean or a number, and every wrong type becomes a
/// `CheckpointError.wrongFieldType` naming the field with its full path (`backbone_config.depths`).
struct JSONFields {
    let file: String
    /// Prefix for field names in errors, "" at top level or e.g. "backbone_config.".
    let path: String
    let object: [String: JSONValue]

    init(file: String, path: String = "", object: [String: JSONValue]) {
        self.file = file
        self.path = path
        self.object = object
    }

    /// Largest JSON file read (config.json, preprocessor_config.json): real ones are a few kilobytes,
    /// and an id2label of `DetectorConfig.Limits.labels` entries is a few megabytes.
    static let maximumFileSize = 16 << 20

    /// Reads a JSON file of at most `maximumFileSize` bytes; `path` names it in errors. A FIFO or a
    /// device, which could block or never end, is refused as unreadable.
    static func read(path: String) throws(CheckpointError) -> Data {
        do {
            return try FileReading.contents(of: path, limit: maximumFileSize)
        } catch {
            switch error {
            case .unreadable(let reason): throw .fileUnreadable(file: path, reason: reason)
            case .tooLarge(let size): throw .fileTooLarge(file: path, size: size, limit: maximumFileSize)
            }
        }
    }

    /// Parses `data` as a JSON object (`JSONReader`); anything else is `invalidJSON`.
    static func parse(_ data: Data, file: String) throws(CheckpointError) -> JSONFields {
        let parsed: JSONValue
        do {
            parsed = try JSONReader.parse(data)
        } catch {
            throw .invalidJSON(file: file, reason: error.description)
        }
        guard case .object(let object) = parsed else {
            throw .invalidJSON(file: file, reason: "top level is \(parsed.summary)")
        }
        return JSONFields(file: file, object: object)
    }

    /// Parses `data` as a JSON object (`JSONReader`) and returns its members, for the public
    /// `[String: JSONValue]` form of preprocessor_config.json that `PreprocessorConfigParser` reads.
    static func object(_ data: Data, file: String) throws(CheckpointError) -> [String: JSONValue] {
        try parse(data, file: file).object
    }

    func fieldName(_ key: String) -> String { path + key }

    /// Whether the key is present with a non-null value.
    func has(_ key: String) -> Bool { present(key) != nil }

    /// The value, or nil when absent or null: HF writes `null` for "use the default" in optional fields.
    private func present(_ key: String) -> JSONValue? {
        guard let value = object[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    private func mismatch(_ key: String, expected: String, value: JSONValue) -> CheckpointError {
        .wrongFieldType(file: file, field: fieldName(key), expected: expected, found: value.summary)
    }

    func int(_ key: String, default defaultValue: Int) throws(CheckpointError) -> Int {
        try optionalInt(key) ?? defaultValue
    }

    func optionalInt(_ key: String) throws(CheckpointError) -> Int? {
        guard let value = present(key) else { return nil }
        guard let integer = COCOFields.integer(value) else { throw mismatch(key, expected: "an integer", value: value) }
        return integer
    }

    func bool(_ key: String, default defaultValue: Bool) throws(CheckpointError) -> Bool {
        guard let value = present(key) else { return defaultValue }
        guard case .bool(let flag) = value else { throw mismatch(key, expected: "true or false", value: value) }
        return flag
    }

    func optionalDouble(_ key: String) throws(CheckpointError) -> Double? {
        guard let value = present(key) else { return nil }
        switch value {
        case .integer(let integer): return Double(integer)
        case .number(let number): return number
        default: throw mismatch(key, expected: "a number", value: value)
        }
    }

    func optionalString(_ key: String) throws(CheckpointError) -> String? {
        guard let value = present(key) else { return nil }
        guard case .string(let text) = value else { throw mismatch(key, expected: "a string", value: value) }
        return text
    }

    func string(_ key: String, default defaultValue: String) throws(CheckpointError) -> String {
        try optionalString(key) ?? defaultValue
    }

    func optionalIntArray(_ key: String) throws(CheckpointError) -> [Int]? {
        guard let value = present(key) else { return nil }
        guard case .array(let array) = value else { throw mismatch(key, expected: "an array of integers", value: value) }
        var result: [Int] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let integer = COCOFields.integer(element) else {
                throw mismatch(key, expected: "an array of integers", value: element)
            }
            result.append(integer)
        }
        return result
    }

    func optionalBoolArray(_ key: String) throws(CheckpointError) -> [Bool]? {
        guard let value = present(key) else { return nil }
        guard case .array(let array) = value else { throw mismatch(key, expected: "an array of true/false", value: value) }
        var result: [Bool] = []
        for element in array {
            guard case .bool(let flag) = element else { throw mismatch(key, expected: "an array of true/false", value: element) }
            result.append(flag)
        }
        return result
    }

    /// An integer or an array of integers (D-FINE's `decoder_n_points`: one count, or one per level).
    func optionalIntOrIntArray(_ key: String) throws(CheckpointError) -> [Int]? {
        guard let value = present(key) else { return nil }
        if case .array = value { return try optionalIntArray(key) }
        guard let integer = COCOFields.integer(value) else {
            throw mismatch(key, expected: "an integer or an array of integers", value: value)
        }
        return [integer]
    }

    func optionalStringArray(_ key: String) throws(CheckpointError) -> [String]? {
        guard let value = present(key) else { return nil }
        guard case .array(let array) = value else { throw mismatch(key, expected: "an array of strings", value: value) }
        var result: [String] = []
        for element in array {
            guard case .string(let text) = element else {
                throw mismatch(key, expected: "an array of strings", value: element)
            }
            result.append(text)
        }
        return result
    }

    func optionalObject(_ key: String) throws(CheckpointError) -> JSONFields? {
        guard let value = present(key) else { return nil }
        guard case .object(let nested) = value else { throw mismatch(key, expected: "an object", value: value) }
        return JSONFields(file: file, path: fieldName(key) + ".", object: nested)
    }
}
