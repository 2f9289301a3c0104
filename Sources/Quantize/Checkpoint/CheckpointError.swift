/// Everything that can go wrong while importing a Hugging Face checkpoint folder.
///
/// Each case carries the file (or folder) it is about and the offending thing, so that `description`
/// is one line a user can act on without a debugger, e.g.
/// `model.safetensors: tensor 'x' has shape [3, 4], expected [4, 4]`.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    // MARK: Paths

    /// The path given by the user does not exist.
    case pathNotFound(path: String)
    /// The path exists but is a file, where a checkpoint folder was expected.
    case notAFolder(path: String)
    /// The folder has no `config.json`, so the model family cannot be known.
    case missingConfig(folder: String)
    /// The folder has neither `model.safetensors` nor `pytorch_model.bin`.
    case missingWeights(folder: String)
    /// The folder has only the pickle-based `pytorch_model.bin`, which this tool does not read.
    case pickleWeightsOnly(folder: String)
    /// The operating system refused to read or write the file.
    case fileUnreadable(file: String, reason: String)
    case fileUnwritable(file: String, reason: String)
    /// A JSON file larger than the limit (real ones are a few kilobytes), or not a regular file.
    case fileTooLarge(file: String, size: Int, limit: Int)

    // MARK: Safetensors container

    /// The file is shorter than the 8-byte header length prefix.
    case fileTooShort(file: String, size: Int)
    /// The header length prefix points past the end of the file.
    case headerPastEndOfFile(file: String, headerLength: UInt64, fileSize: Int)
    /// The header is larger than the limit; real headers are a few hundred kilobytes.
    case headerTooLarge(file: String, headerLength: UInt64, limit: Int)
    /// The header is not UTF-8 JSON, or not a JSON object.
    case headerNotJSON(file: String, reason: String)
    /// A tensor entry lacks a field or has one of the wrong JSON type.
    case invalidTensorEntry(file: String, tensor: String, field: String, problem: String)
    /// The dtype string is not one of the safetensors dtypes this reader knows.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// A shape whose element or byte count, or the product of its non-zero dimensions, does not fit in `Int`.
    case shapeOverflow(file: String, tensor: String, shape: [Int])
    /// `data_offsets` has begin > end or end past the data section.
    case dataOffsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// `end - begin` disagrees with `product(shape) * itemsize`.
    case byteCountMismatch(file: String, tensor: String, byteCount: Int, expected: Int)
    /// Two tensors share bytes of the data section.
    case overlappingTensors(file: String, first: String, second: String)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(file: String, key: String)

    // MARK: Tensor access

    case missingTensor(file: String, tensor: String)
    /// The tensor exists but holds integers or doubles, which the importer does not convert.
    case unsupportedDType(file: String, tensor: String, dtype: TensorDType)
    case shapeMismatch(file: String, tensor: String, shape: [Int], expected: [Int])
    /// The tensor holds a NaN or an infinity (at row-major element `index`), which no trained weight
    /// does: importing it would turn every output it reaches into NaN.
    case nonFiniteValue(file: String, tensor: String, index: Int)
    /// Two file keys map to the same canonical name (e.g. both backbone layouts present under one name).
    case conflictingTensorNames(file: String, canonical: String, first: String, second: String)
    /// The backbone tensors are in one key layout and config.json describes the other.
    case backboneLayoutMismatch(file: String, tensorLayout: BackboneKeyLayout, configLayout: BackboneKeyLayout)

    // MARK: Writing

    case duplicateTensor(file: String, tensor: String)
    case valueCountMismatch(file: String, tensor: String, count: Int, expected: Int)
    case unwritableDType(file: String, tensor: String, dtype: TensorDType)

    // MARK: JSON configuration

    /// A JSON file (config.json, preprocessor_config.json) is not a JSON object.
    case invalidJSON(file: String, reason: String)
    /// A field has the wrong JSON type; `expected` and `found` are phrases like "an integer", "a string".
    case wrongFieldType(file: String, field: String, expected: String, found: String)
    /// `model_type` names a model this importer does not build.
    case unsupportedModelType(file: String, modelType: String)
    /// A field has a value this importer does not support; `note` says what is supported or why.
    case unsupportedValue(file: String, field: String, value: String, note: String)

    /// One line whatever the names in it hold: tensor names, JSON keys and labels come from the
    /// checkpoint and may contain line breaks, which are shown escaped.
    public var description: String {
        var line = ""
        for character in text.unicodeScalars {
            switch character {
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            default:
                if character.properties.generalCategory == .lineSeparator
                    || character.properties.generalCategory == .paragraphSeparator
                    || character == "\u{0B}" || character == "\u{0C}" || character == "\u{85}" {
                    line += "\\u{\(String(character.value, radix: 16))}"
                } else {
                    line.unicodeScalars.append(character)
                }
            }
        }
        return line
    }

    private var text: String {
        switch self {
        case .pathNotFound(let path):
            return "\(path): no such file or folder"
        case .notAFolder(let path):
            return "\(path): not a folder (expected a checkpoint folder with config.json and model.safetensors)"
        case .missingConfig(let folder):
            return "\(folder): no config.json in folder"
        case .missingWeights(let folder):
            return "\(folder): no model.safetensors in folder (sharded checkpoints are not supported)"
        case .pickleWeightsOnly(let folder):
            return "\(folder): only pytorch_model.bin found; convert it with "
                + "model.save_pretrained(folder, safe_serialization=True)"
        case .fileUnreadable(let file, let reason):
            return "\(file): cannot read file: \(reason)"
        case .fileUnwritable(let file, let reason):
            return "\(file): cannot write file: \(reason)"
        case .fileTooLarge(let file, let size, let limit):
            return "\(file): file of \(size) bytes exceeds the limit of \(limit) bytes"
        case .fileTooShort(let file, let size):
            return "\(file): file of \(size) bytes is too short for the 8-byte header length"
        case .headerPastEndOfFile(let file, let headerLength, let fileSize):
            return "\(file): header length \(headerLength) past end of file (\(fileSize) bytes)"
        case .headerTooLarge(let file, let headerLength, let limit):
            return "\(file): header length \(headerLength) exceeds the limit of \(limit) bytes"
        case .headerNotJSON(let file, let reason):
            return "\(file): header is not a JSON object: \(oneLine(reason))"
        case .invalidTensorEntry(let file, let tensor, let field, let problem):
            return "\(file): tensor '\(tensor)' field '\(field)' \(problem)"
        case .unknownDType(let file, let tensor, let dtype):
            return "\(file): tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case .shapeOverflow(let file, let tensor, let shape):
            return "\(file): tensor '\(tensor)' shape \(shape) is too large (size overflows)"
        case .dataOffsetsOutOfRange(let file, let tensor, let begin, let end, let dataSize):
            return "\(file): tensor '\(tensor)' data_offsets [\(begin), \(end)] outside the data section "
                + "(\(dataSize) bytes)"
        case .byteCountMismatch(let file, let tensor, let byteCount, let expected):
            return "\(file): tensor '\(tensor)' has \(byteCount) bytes, its dtype and shape need \(expected)"
        case .overlappingTensors(let file, let first, let second):
            return "\(file): tensors '\(first)' and '\(second)' overlap"
        case .invalidMetadata(let file, let key):
            return "\(file): __metadata__ entry '\(key)' is not a string"
        case .missingTensor(let file, let tensor):
            return "\(file): missing tensor '\(tensor)'"
        case .unsupportedDType(let file, let tensor, let dtype):
            return "\(file): tensor '\(tensor)' has dtype \(dtype.rawValue), expected F32, F16 or BF16"
        case .shapeMismatch(let file, let tensor, let shape, let expected):
            return "\(file): tensor '\(tensor)' has shape \(shape), expected \(expected)"
        case .nonFiniteValue(let file, let tensor, let index):
            return "\(file): tensor '\(tensor)' holds a NaN or infinite value (element \(index))"
        case .conflictingTensorNames(let file, let canonical, let first, let second):
            return "\(file): tensors '\(first)' and '\(second)' both map to '\(canonical)'"
        case .backboneLayoutMismatch(let file, let tensorLayout, let configLayout):
            return "\(file): backbone tensors use the \(tensorLayout.displayName) key layout "
                + "but config.json describes a \(configLayout.displayName) backbone"
        case .duplicateTensor(let file, let tensor):
            return "\(file): tensor '\(tensor)' added twice"
        case .valueCountMismatch(let file, let tensor, let count, let expected):
            return "\(file): tensor '\(tensor)' has \(count) values, its shape needs \(expected)"
        case .unwritableDType(let file, let tensor, let dtype):
            return "\(file): tensor '\(tensor)' cannot be written as \(dtype.rawValue) (expected F32, F16 or BF16)"
        case .invalidJSON(let file, let reason):
            return "\(file): not a JSON object: \(oneLine(reason))"
        case .wrongFieldType(let file, let field, let expected, let found):
            return "\(file): field '\(field)' must be \(expected), found \(found)"
        case .unsupportedModelType(let file, let modelType):
            return "\(file): model_type '\(modelType)' is not supported "
                + "(expected " + DetectorFamily.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case .unsupportedValue(let file, let field, let value, let note):
            return "\(file): \(field) = \(value) is not supported (\(note))"
        }
    }
}

/// Foundation's JSON errors can span lines; a `CheckpointError` description must stay on one.
private func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).joined(separator: " ")
}
