import Foundation

/// A read-only view of one `.safetensors` file, validated completely when opened.
///
/// Layout (https://github.com/huggingface/safetensors): an unsigned 64-bit little-endian header
/// length N, N bytes of UTF-8 JSON, then the data section. The JSON maps tensor names to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data section) plus an
/// optional `"__metadata__"` object of strings. Every offset, size and overlap is checked at `init`,
/// so the accessors never touch a byte outside the file.
public struct SafetensorsFile: Sendable {
    /// Headers of real checkpoints are a few hundred kilobytes; this bound keeps a corrupt length
    /// from making us parse gigabytes of garbage as JSON.
    public static let maximumHeaderLength = 100 * 1024 * 1024

    /// The file name used in error messages (the last path component when opened from a path).
    public let name: String
    /// The free-form `__metadata__` strings (transformers writes `{"format": "pt"}`).
    public let metadata: [String: String]
    private let bytes: Data
    private let dataStart: Int
    private let entries: [String: TensorInfo]

    /// Opens and validates the file at `path`. The file is memory-mapped, so opening a large
    /// checkpoint costs only the header parse.
    public init(path: String) throws(CheckpointError) {
        let url = URL(fileURLWithPath: path)
        // A FIFO or device would block or never end; only a regular file is mapped.
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let type = attributes?[.type] as? FileAttributeType
        guard type == nil || type == .typeRegular else {
            throw .fileUnreadable(file: path, reason: "not a regular file")
        }
        let contents: Data
        do {
            // Small files are read (Foundation's mapped read of an empty file leaks its 4 KiB buffer,
            // found by the checkpoint fuzzer); real checkpoints are mapped.
            if let size = attributes?[.size] as? Int, size < 1 << 16 {
                contents = try FileReading.contents(of: path, limit: 1 << 16)
            } else {
                contents = try Data(contentsOf: url, options: .alwaysMapped)
            }
        } catch let failure as FileReading.Failure {
            if case .unreadable(let reason) = failure { throw .fileUnreadable(file: path, reason: reason) }
            throw .fileUnreadable(file: path, reason: "the file grew while it was read")
        } catch {
            throw .fileUnreadable(file: path, reason: error.localizedDescription)
        }
        try self.init(data: contents, name: url.lastPathComponent)
    }

    /// Validates a whole safetensors file already in memory.
    public init(data: Data, name: String) throws(CheckpointError) {
        self.name = name
        // Rebase so that indices start at 0 whatever slice we were handed.
        let bytes = data.startIndex == 0 ? data : Data(data)
        self.bytes = bytes
        let fileSize = bytes.count
        guard fileSize >= 8 else {
            throw .fileTooShort(file: name, size: fileSize)
        }
        var headerLength: UInt64 = 0
        for index in 0..<8 {
            headerLength |= UInt64(bytes[index]) << (8 * UInt64(index))
        }
        guard headerLength <= UInt64(fileSize - 8) else {
            throw .headerPastEndOfFile(file: name, headerLength: headerLength, fileSize: fileSize)
        }
        guard headerLength <= UInt64(Self.maximumHeaderLength) else {
            throw .headerTooLarge(file: name, headerLength: headerLength, limit: Self.maximumHeaderLength)
        }
        let headerEnd = 8 + Int(headerLength)
        self.dataStart = headerEnd
        let header = try Self.parseHeader(bytes[8..<headerEnd], file: name)
        let dataSize = fileSize - headerEnd

        var metadata: [String: String] = [:]
        var entries: [String: TensorInfo] = [:]
        for (key, value) in header {
            if key == "__metadata__" {
                metadata = try Self.parseMetadata(value, file: name)
            } else {
                // A key given twice: the last one counts, as JSON readers (and safetensors' own) do.
                entries[key] = try Self.parseEntry(key, value, dataSize: dataSize, file: name)
            }
        }
        try Self.checkNoOverlap(entries, file: name)
        self.metadata = metadata
        self.entries = entries
    }

    /// All tensor names, sorted, without `__metadata__`.
    public var tensorNames: [String] { entries.keys.sorted() }

    /// The dtype and shape of a tensor, or nil if the file has no such tensor.
    public func info(_ name: String) -> TensorInfo? { entries[name] }

    /// The tensor's values widened to Float (row-major, as stored), refusing any NaN or infinity
    /// with `nonFiniteValue`: what an importer of trained weights wants.
    public func finiteFloats(_ tensorName: String) throws(CheckpointError) -> [Float] {
        let values = try floats(tensorName)
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteValue(file: name, tensor: tensorName, index: index)
        }
        return values
    }

    /// The tensor's values widened to Float (row-major, as stored). F16 and BF16 convert exactly,
    /// including subnormals, infinities and NaN (golden outputs may hold infinities; weights are read
    /// through `finiteFloats`).
    public func floats(_ tensorName: String) throws(CheckpointError) -> [Float] {
        guard let info = entries[tensorName] else {
            throw .missingTensor(file: name, tensor: tensorName)
        }
        guard info.dtype.isReadableAsFloat else {
            throw .unsupportedDType(file: name, tensor: tensorName, dtype: info.dtype)
        }
        let start = dataStart + info.dataRange.lowerBound
        let count = info.elementCount
        return bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Float] in
            let source = UnsafeRawBufferPointer(rebasing: raw[start..<(start + info.dataRange.count)])
            return [Float](unsafeUninitializedCapacity: count) { destination, initialized in
                switch info.dtype {
                case .float32:
                    for index in 0..<count {
                        let bits = source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
                        destination[index] = Float(bitPattern: UInt32(littleEndian: bits))
                    }
                case .float16:
                    for index in 0..<count {
                        let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                        destination[index] = HalfPrecision.float(fromHalfBits: bits)
                    }
                default:  // .bfloat16: the only other readable type, checked above.
                    for index in 0..<count {
                        let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                        destination[index] = HalfPrecision.float(fromBFloat16Bits: bits)
                    }
                }
                initialized = count
            }
        }
    }

    // MARK: Header validation

    /// The header's members in file order (`JSONReader`), so that of several bad entries the first one
    /// in the file is the one reported.
    private static func parseHeader(_ header: Data, file: String) throws(CheckpointError) -> [(key: String, value: JSONValue)] {
        do {
            return try JSONReader.parseObjectMembers(header)
        } catch {
            throw .headerNotJSON(file: file, reason: error.message == "not valid UTF-8" ? error.message : error.description)
        }
    }

    private static func parseMetadata(_ value: JSONValue, file: String) throws(CheckpointError) -> [String: String] {
        guard case .object(let object) = value else {
            throw .invalidMetadata(file: file, key: "__metadata__")
        }
        var metadata: [String: String] = [:]
        for key in object.keys.sorted() {
            guard case .string(let text) = object[key] else { throw .invalidMetadata(file: file, key: key) }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(
        _ tensor: String, _ value: JSONValue, dataSize: Int, file: String
    ) throws(CheckpointError) -> TensorInfo {
        func invalid(_ field: String, _ problem: String) -> CheckpointError {
            .invalidTensorEntry(file: file, tensor: tensor, field: field, problem: problem)
        }
        guard case .object(let entry) = value else {
            throw .invalidTensorEntry(file: file, tensor: tensor, field: "(entry)", problem: "is not a JSON object")
        }
        guard let dtypeName = entry["dtype"] else { throw invalid("dtype", "is missing") }
        guard case .string(let dtypeString) = dtypeName else { throw invalid("dtype", "is not a string") }
        guard let dtype = TensorDType(rawValue: dtypeString) else {
            throw .unknownDType(file: file, tensor: tensor, dtype: dtypeString)
        }

        guard let shapeValue = entry["shape"] else { throw invalid("shape", "is missing") }
        guard case .array(let shapeArray) = shapeValue else { throw invalid("shape", "is not an array") }
        var shape: [Int] = []
        for dimensionValue in shapeArray {
            guard let dimension = COCOFields.integer(dimensionValue), dimension >= 0 else {
                throw invalid("shape", "has \(dimensionValue.summary), expected a non-negative integer")
            }
            shape.append(dimension)
        }

        guard let offsetsValue = entry["data_offsets"] else { throw invalid("data_offsets", "is missing") }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
              let begin = COCOFields.integer(offsets[0]), let end = COCOFields.integer(offsets[1]),
              begin >= 0, end >= 0
        else {
            throw invalid("data_offsets", "is not a pair of non-negative integers")
        }
        guard begin <= end, end <= dataSize else {
            throw .dataOffsetsOutOfRange(file: file, tensor: tensor, begin: begin, end: end, dataSize: dataSize)
        }

        // The product of the non-zero dimensions must fit too: an empty tensor of shape
        // [0, 2^62, 2^62] has no bytes, but any consumer multiplying two of its dimensions would trap.
        var elementCount = 1
        var nonZeroProduct = 1
        for dimension in shape {
            let (product, overflow) = nonZeroProduct.multipliedReportingOverflow(by: max(dimension, 1))
            guard !overflow else { throw .shapeOverflow(file: file, tensor: tensor, shape: shape) }
            nonZeroProduct = product
            elementCount = dimension == 0 ? 0 : elementCount * dimension  // <= nonZeroProduct
        }
        let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow else { throw .shapeOverflow(file: file, tensor: tensor, shape: shape) }
        guard end - begin == byteCount else {
            throw .byteCountMismatch(file: file, tensor: tensor, byteCount: end - begin, expected: byteCount)
        }
        return TensorInfo(dtype: dtype, shape: shape, elementCount: elementCount, dataRange: begin..<end)
    }

    /// Sorting by start offset makes overlap a property of neighbours. Empty tensors own no bytes
    /// and cannot overlap anything.
    private static func checkNoOverlap(_ entries: [String: TensorInfo], file: String) throws(CheckpointError) {
        let ordered = entries
            .filter { !$0.value.dataRange.isEmpty }
            .sorted { ($0.value.dataRange.lowerBound, $0.key) < ($1.value.dataRange.lowerBound, $1.key) }
        for (previous, next) in zip(ordered, ordered.dropFirst())
        where next.value.dataRange.lowerBound < previous.value.dataRange.upperBound {
            throw .overlappingTensors(file: file, first: previous.key, second: next.key)
        }
    }
}
