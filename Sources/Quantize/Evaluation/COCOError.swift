/// Everything that can go wrong while reading or writing COCO ground truth and results files.
///
/// Each case names the file and the field by its JSON path (`annotations[3].bbox[2]`,
/// `[17].score`), so that `description` is one line a user can act on, e.g.
/// `val.json: annotations[3].bbox[2] (width) must be at least 0, found -4`.
public enum COCOError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The operating system refused to read or write the file.
    case fileUnreadable(file: String, reason: String)
    case fileUnwritable(file: String, reason: String)
    /// The bytes are not JSON.
    case invalidJSON(file: String, reason: String)
    /// A value (the top level or a field) has the wrong JSON type; `expected` and `found` are phrases
    /// like "an integer", "a string", "an array".
    case wrongType(file: String, field: String, expected: String, found: String)
    /// A required field is absent or null.
    case missingField(file: String, field: String)
    /// A field has the right type but an impossible value (NaN, a negative width, iscrowd 2).
    case invalidValue(file: String, field: String, value: String, expected: String)
    /// Two entries share an id; `firstField` is where it appeared first.
    case duplicateID(file: String, field: String, id: Int, firstField: String)
    /// An id refers to nothing; `target` says where it was looked up ("images of val.json").
    case unknownReference(file: String, field: String, id: Int, target: String)

    public var description: String {
        switch self {
        case .fileUnreadable(let file, let reason):
            return "\(file): cannot read file: \(oneLine(reason))"
        case .fileUnwritable(let file, let reason):
            return "\(file): cannot write file: \(oneLine(reason))"
        case .invalidJSON(let file, let reason):
            return "\(file): not valid JSON: \(oneLine(reason))"
        case .wrongType(let file, let field, let expected, let found):
            return "\(file): \(field) must be \(expected), found \(found)"
        case .missingField(let file, let field):
            return "\(file): missing field \(field)"
        case .invalidValue(let file, let field, let value, let expected):
            return "\(file): \(field) must be \(expected), found \(value)"
        case .duplicateID(let file, let field, let id, let firstField):
            return "\(file): \(field) \(id) repeats the id of \(firstField)"
        case .unknownReference(let file, let field, let id, let target):
            return "\(file): \(field) \(id) is not among the \(target)"
        }
    }
}

/// Foundation's JSON errors can span lines; a `COCOError` description must stay on one.
private func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).joined(separator: " ")
}
