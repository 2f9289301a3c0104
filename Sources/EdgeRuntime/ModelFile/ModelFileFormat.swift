/// The constants of the EdgeDETR model file (`.edq`), as docs/FORMAT.md specifies them. The writer
/// (Quantize) and the reader (EdgeRuntime) both use these, so they cannot drift.
public enum ModelFileFormat {
    public static let magic: [UInt8] = Array("EDGEDETR".utf8)
    /// The version written. Version 2 added constant encodings (value record byte 11); a version 1
    /// file is a version 2 file whose constants are all raw, so both are read.
    public static let version: UInt32 = 2
    public static let oldestReadableVersion: UInt32 = 1
    /// Written little-endian; a file read with the wrong byte order sees 0x04030201.
    public static let byteOrderMark: UInt32 = 0x0102_0304
    public static let headerSize = 64
    public static let sectionEntrySize = 32
    /// Sections and constant data start at multiples of this, so mapped weights are SIMD-aligned.
    public static let alignment = 64
    public static let valueRecordSize = 64
    /// "Not applicable" for 32-bit indices and 64-bit offsets.
    public static let none32: UInt32 = 0xFFFF_FFFF
    public static let none64: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
    public static let maximumRank = 4
    /// Limits that bound every allocation the reader makes from counts in the file.
    public static let maximumValues = 1 << 20
    public static let maximumNodes = 1 << 20
    public static let maximumInputsPerNode = 64
    public static let maximumAttributeWords = 64
    public static let maximumMetadataEntries = 4096
    public static let maximumMetadataItems = 1 << 16

    public enum SectionKind: UInt32, CaseIterable, Sendable {
        case strings = 1, metadata = 2, values = 3, nodes = 4, plan = 5, data = 6

        public var name: String {
            switch self {
            case .strings: "strings"
            case .metadata: "metadata"
            case .values: "values"
            case .nodes: "nodes"
            case .plan: "plan"
            case .data: "data"
            }
        }
    }

    public enum ValueSourceCode: UInt8, Sendable { case input = 0, constant = 1, node = 2 }

    public enum MetadataType: UInt32, Sendable { case integers = 1, floats = 2, strings = 3 }
}

/// Everything that can be wrong with a model file. Each description is one line that names the
/// section, record or field and the offending number.
public enum ModelFileError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case truncated(what: String, needed: Int, available: Int)
    case badMagic
    case unsupportedVersion(UInt32)
    case wrongByteOrder
    case badHeader(detail: String)
    case headerChecksum(stored: UInt32, computed: UInt32)
    case fileSizeMismatch(header: UInt64, actual: Int)
    case sectionOutOfBounds(section: String, offset: UInt64, size: UInt64, fileSize: Int)
    case sectionMisaligned(section: String, offset: UInt64)
    case duplicateSection(String)
    case missingSection(String)
    case unknownSection(UInt32)
    case sectionChecksum(section: String, stored: UInt32, computed: UInt32)
    case countTooLarge(what: String, count: Int, limit: Int)
    case badString(offset: UInt32, length: UInt32, tableSize: Int)
    case invalidValue(index: Int, name: String, detail: String)
    case invalidNode(index: Int, name: String, detail: String)
    case unknownOpcode(node: String, opcode: UInt32)
    case invalidAttributes(node: String, detail: String)
    case graph(GraphError)
    case invalidPlan(detail: String)
    case overlappingBuffers(first: String, second: String)
    case invalidMetadata(key: String, detail: String)
    case missingMetadata(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "\(path): cannot open model file (\(reason))"
        case .truncated(let what, let needed, let available):
            return "model file truncated: \(what) needs \(needed) bytes, \(available) available"
        case .badMagic: return "not an EdgeDETR model file (bad magic; expected 'EDGEDETR')"
        case .unsupportedVersion(let version):
            return "model file version \(version) is not supported (this runtime reads versions \(ModelFileFormat.oldestReadableVersion) to \(ModelFileFormat.version))"
        case .wrongByteOrder: return "model file has the wrong byte order (written big-endian?)"
        case .badHeader(let detail): return "model file header: \(detail)"
        case .headerChecksum(let stored, let computed):
            return "model file header checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
        case .fileSizeMismatch(let header, let actual):
            return "model file is \(actual) bytes but its header says \(header)"
        case .sectionOutOfBounds(let section, let offset, let size, let fileSize):
            return "section '\(section)' at \(offset) of \(size) bytes is past the end of the file (\(fileSize) bytes)"
        case .sectionMisaligned(let section, let offset):
            return "section '\(section)' offset \(offset) is not a multiple of \(ModelFileFormat.alignment)"
        case .duplicateSection(let section): return "section '\(section)' appears twice"
        case .missingSection(let section): return "section '\(section)' is missing"
        case .unknownSection(let kind): return "unknown section kind \(kind)"
        case .sectionChecksum(let section, let stored, let computed):
            return "section '\(section)' checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
        case .countTooLarge(let what, let count, let limit): return "\(what) count \(count) exceeds the limit \(limit)"
        case .badString(let offset, let length, let tableSize):
            return "string at \(offset) of \(length) bytes is outside the string table (\(tableSize) bytes) or not UTF-8"
        case .invalidValue(let index, let name, let detail): return "value \(index) '\(name)': \(detail)"
        case .invalidNode(let index, let name, let detail): return "node \(index) '\(name)': \(detail)"
        case .unknownOpcode(let node, let opcode): return "node '\(node)': unknown op code \(opcode)"
        case .invalidAttributes(let node, let detail): return "node '\(node)': \(detail)"
        case .graph(let error): return error.description
        case .invalidPlan(let detail): return "arena plan: \(detail)"
        case .overlappingBuffers(let first, let second):
            return "arena plan: '\(first)' and '\(second)' are alive at the same time and overlap"
        case .invalidMetadata(let key, let detail): return "metadata '\(key)': \(detail)"
        case .missingMetadata(let key): return "metadata '\(key)' is missing"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    var text = "0x"
    for shift in stride(from: 28, through: 0, by: -4) { text.append(digits[Int((value >> UInt32(shift)) & 0xF)]) }
    return text
}

/// CRC-32 (the zlib/PNG polynomial) of a byte range: the model file's section and header checksums.
public func modelFileCRC32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc = ChunkCRC32()
    crc.update(bytes)
    return crc.value
}

/// A cursor over a byte range that checks every read against the end, so a corrupt count or
/// offset becomes `ModelFileError.truncated`, never an out-of-bounds read.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let what: String

    init(_ bytes: UnsafeRawBufferPointer, what: String, at position: Int = 0) {
        self.bytes = bytes
        self.position = position
        self.what = what
    }

    var remaining: Int { bytes.count - position }

    mutating func require(_ count: Int) throws(ModelFileError) {
        guard count >= 0, position >= 0, position <= bytes.count, count <= bytes.count - position else {
            throw .truncated(what: what, needed: count, available: max(0, bytes.count - position))
        }
    }

    mutating func u8() throws(ModelFileError) -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u32() throws(ModelFileError) -> UInt32 {
        try require(4)
        defer { position += 4 }
        return bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian
    }

    mutating func u64() throws(ModelFileError) -> UInt64 {
        try require(8)
        defer { position += 8 }
        return bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self).littleEndian
    }

    mutating func skip(_ count: Int) throws(ModelFileError) {
        try require(count)
        position += count
    }
}
