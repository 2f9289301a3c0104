import Foundation

/// Typed access to one JSON object of a COCO file, every failure a `COCOError` naming the file and
/// the field's full path (`annotations[3].bbox`).
///
struct COCOFields {
    let file: String
    /// The object's own path, e.g. "annotations[3]" or "[17]"; fields are named `path.key`.
    let path: String
    let object: [String: JSONValue]

    /// Reads and parses `path` as JSON.
    /// Largest dataset or results file read (COCO train2017's instances file is 450 MB).
    static let maximumFileSize = 1 << 30

    static func readJSON(path: String) throws(COCOError) -> JSONValue {
        let data: Data
        do { data = try FileReading.contents(of: path, limit: maximumFileSize) } catch {
            switch error {
            case .unreadable(let reason): throw .fileUnreadable(file: path, reason: reason)
            case .tooLarge(let size): throw .fileUnreadable(file: path, reason: "\(size) bytes, more than the \(maximumFileSize) a dataset file may have")
            }
        }
        return try parseJSON(data, file: path)
    }

    static func parseJSON(_ data: Data, file: String) throws(COCOError) -> JSONValue {
        do {
            return try JSONReader.parse(data)
        } catch {
            throw .invalidJSON(file: file, reason: error.description)
        }
    }

    /// The elements of `value`, which must be an array of objects; `name` is its path.
    static func objects(_ value: JSONValue, file: String, name: String) throws(COCOError) -> [COCOFields] {
        guard case .array(let array) = value else {
            throw .wrongType(file: file, field: name.isEmpty ? "top level" : name, expected: "an array", found: describe(value))
        }
        var result: [COCOFields] = []
        result.reserveCapacity(array.count)
        for (index, element) in array.enumerated() {
            let elementPath = "\(name)[\(index)]"
            guard case .object(let object) = element else {
                throw .wrongType(file: file, field: elementPath, expected: "an object", found: describe(element))
            }
            result.append(COCOFields(file: file, path: elementPath, object: object))
        }
        return result
    }

    func fieldName(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool {
        guard let value = object[key] else { return false }
        if case .null = value { return false }
        return true
    }

    func value(_ key: String) throws(COCOError) -> JSONValue {
        guard let value = object[key] else { throw .missingField(file: file, field: fieldName(key)) }
        if case .null = value { throw .missingField(file: file, field: fieldName(key)) }
        return value
    }

    func int(_ key: String) throws(COCOError) -> Int {
        let value = try value(key)
        guard let integer = COCOFields.integer(value) else {
            throw .wrongType(file: file, field: fieldName(key), expected: "an integer", found: COCOFields.describe(value))
        }
        return integer
    }

    /// A finite number (JSON has no NaN, but some writers emit it and some readers accept it).
    func number(_ key: String) throws(COCOError) -> Double {
        try COCOFields.finiteNumber(try value(key), file: file, field: fieldName(key))
    }

    func string(_ key: String) throws(COCOError) -> String {
        let value = try value(key)
        guard case .string(let text) = value else {
            throw .wrongType(file: file, field: fieldName(key), expected: "a string", found: COCOFields.describe(value))
        }
        return text
    }

    func optionalString(_ key: String) throws(COCOError) -> String? {
        has(key) ? try string(key) : nil
    }

    /// COCO's `iscrowd`: 0 or 1 (pycocotools also takes `false`/`true`).
    func crowdFlag(_ key: String) throws(COCOError) -> Bool {
        let value = try value(key)
        if case .bool(let flag) = value { return flag }
        guard let integer = COCOFields.integer(value) else {
            throw .wrongType(file: file, field: fieldName(key), expected: "0 or 1", found: COCOFields.describe(value))
        }
        guard integer == 0 || integer == 1 else {
            throw .invalidValue(file: file, field: fieldName(key), value: "\(integer)", expected: "0 or 1")
        }
        return integer == 1
    }

    /// A COCO box `[x, y, width, height]`: four finite numbers, width and height at least 0.
    func box(_ key: String) throws(COCOError) -> COCOBox {
        let value = try value(key)
        let name = fieldName(key)
        guard case .array(let array) = value else {
            throw .wrongType(file: file, field: name, expected: "an array [x, y, width, height]", found: COCOFields.describe(value))
        }
        guard array.count == 4 else {
            throw .invalidValue(file: file, field: name, value: "\(array.count) numbers", expected: "4 numbers [x, y, width, height]")
        }
        var numbers: [Double] = []
        for (index, element) in array.enumerated() {
            numbers.append(try COCOFields.finiteNumber(element, file: file, field: "\(name)[\(index)]"))
        }
        for (index, side) in [(2, "width"), (3, "height")] where numbers[index] < 0 {
            throw .invalidValue(file: file, field: "\(name)[\(index)] (\(side))", value: "\(numbers[index])", expected: "at least 0")
        }
        return COCOBox(x: numbers[0], y: numbers[1], width: numbers[2], height: numbers[3])
    }

    static func finiteNumber(_ value: JSONValue, file: String, field: String) throws(COCOError) -> Double {
        let double: Double
        switch value {
        case .integer(let integer): double = Double(integer)
        case .number(let number): double = number
        default: throw .wrongType(file: file, field: field, expected: "a number", found: describe(value))
        }
        guard double.isFinite else { throw .invalidValue(file: file, field: field, value: "\(double)", expected: "a finite number") }
        return double
    }

    /// An integer, or a number with an exact integer value (`3.0`).
    static func integer(_ value: JSONValue) -> Int? {
        switch value {
        case .integer(let integer): return integer
        case .number(let number): return Int(exactly: number)
        default: return nil
        }
    }

    static func describe(_ value: JSONValue) -> String { value.summary }
}
