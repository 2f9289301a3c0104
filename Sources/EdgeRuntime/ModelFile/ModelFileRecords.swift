/// The model file's fixed-layout records (docs/FORMAT.md), each described once: a record's `code`
/// lists its fields in file order, and the same list writes it (`ModelFileEncoder`, through
/// `ByteWriter`) and reads it (`ModelFile`, through `ByteReader`, every field bounds-checked), as
/// GGUF keeps its reader and writer over one description. A field added, moved or resized changes
/// both directions at once. What the fields mean, and every check of their values, stays with the
/// reader; these types only move bytes.
protocol RecordCoder {
    /// `Never` for the writer, `ModelFileError` (truncation) for the reader.
    associatedtype Failure: Error
    /// Writes `value`, or reads the next field into it.
    mutating func code(_ value: inout UInt8) throws(Failure)
    mutating func code(_ value: inout UInt32) throws(Failure)
    mutating func code(_ value: inout UInt64) throws(Failure)
    /// Four reserved bytes: written as zero, skipped when read.
    mutating func reserved32() throws(Failure)
}

extension ByteWriter: RecordCoder {
    typealias Failure = Never
    mutating func code(_ value: inout UInt8) { u8(value) }
    mutating func code(_ value: inout UInt32) { u32(value) }
    mutating func code(_ value: inout UInt64) { u64(value) }
    mutating func reserved32() { u32(0) }
}

extension ByteReader: RecordCoder {
    typealias Failure = ModelFileError
    mutating func code(_ value: inout UInt8) throws(ModelFileError) { value = try u8() }
    mutating func code(_ value: inout UInt32) throws(ModelFileError) { value = try u32() }
    mutating func code(_ value: inout UInt64) throws(ModelFileError) { value = try u64() }
    mutating func reserved32() throws(ModelFileError) { try skip(4) }
}

/// A record of the model file: its fields in order, for both directions.
protocol ModelFileRecord {
    init()
    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure)
}

extension ModelFileRecord {
    /// The next record of `reader`.
    static func read(from reader: inout ByteReader) throws(ModelFileError) -> Self {
        var record = Self()
        try record.code(&reader)
        return record
    }

    /// Appends the record to `writer`.
    func write(to writer: inout ByteWriter) {
        var record = self
        record.code(&writer)
    }
}

/// A string: (offset, length) of its UTF-8 bytes in the strings section.
struct StringReference: ModelFileRecord {
    var offset: UInt32 = 0, length: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try coder.code(&offset); try coder.code(&length)
    }
}

/// The 64-byte header after the 8-byte magic: version, byte-order mark, header size, section count,
/// section table offset, file size, 8 + 12 reserved bytes, and the CRC-32 of bytes 0..<60.
struct FileHeaderRecord: ModelFileRecord {
    var version: UInt32 = 0, byteOrderMark: UInt32 = 0, headerSize: UInt32 = 0, sectionCount: UInt32 = 0
    var tableOffset: UInt64 = 0, fileSize: UInt64 = 0
    var crc: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try coder.code(&version); try coder.code(&byteOrderMark); try coder.code(&headerSize)
        try coder.code(&sectionCount); try coder.code(&tableOffset); try coder.code(&fileSize)
        for _ in 0..<5 { try coder.reserved32() }
        try coder.code(&crc)
    }
}

/// One entry of the section table (`ModelFileFormat.sectionEntrySize` bytes).
struct SectionEntryRecord: ModelFileRecord {
    var kind: UInt32 = 0
    var offset: UInt64 = 0, size: UInt64 = 0
    var crc: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try coder.code(&kind); try coder.reserved32(); try coder.code(&offset); try coder.code(&size)
        try coder.code(&crc); try coder.reserved32()
    }
}

/// The first 8 bytes of the metadata and values sections: a count and a reserved u32 (0); of the
/// nodes section: the node count and the graph output count.
struct SectionCountsRecord: ModelFileRecord {
    var count: UInt32 = 0, second: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try coder.code(&count); try coder.code(&second)
    }
}

/// One metadata entry's head: key, `ModelFileFormat.MetadataType`, item count; the items follow
/// (8 bytes each: Int64, Double bits, or a string reference).
struct MetadataEntryRecord: ModelFileRecord {
    var key = StringReference()
    var type: UInt32 = 0
    var items: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try key.code(&coder); try coder.code(&type); try coder.code(&items)
    }
}

/// One value (`ModelFileFormat.valueRecordSize` bytes): name, source, element type, rank, constant
/// encoding, int8 zero point, four dimensions, int8 scale, 4 reserved, constant data offset and size
/// in the data section, 8 reserved.
struct ValueRecordFields: ModelFileRecord {
    var name = StringReference()
    var source: UInt8 = 0, elementType: UInt8 = 0, rank: UInt8 = 0, encoding: UInt8 = 0
    var zeroPoint: UInt32 = 0
    var dimensions: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    var scaleBits: UInt32 = 0
    var dataOffset: UInt64 = 0, dataSize: UInt64 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try name.code(&coder); try coder.code(&source); try coder.code(&elementType); try coder.code(&rank)
        try coder.code(&encoding); try coder.code(&zeroPoint); try coder.code(&dimensions.0)
        try coder.code(&dimensions.1); try coder.code(&dimensions.2); try coder.code(&dimensions.3)
        try coder.code(&scaleBits); try coder.reserved32(); try coder.code(&dataOffset); try coder.code(&dataSize)
        try coder.reserved32(); try coder.reserved32()
    }

    /// The stored dimensions, `ModelFileFormat.maximumRank` of them (zero past the rank).
    var storedDimensions: [UInt32] { [dimensions.0, dimensions.1, dimensions.2, dimensions.3] }
}

/// One node's head: name, opcode, input count, attribute word count, the value it writes; then the
/// input value indices (4 bytes each) and the attribute words (8 bytes each).
struct NodeRecordHead: ModelFileRecord {
    var name = StringReference()
    var opcode: UInt32 = 0, inputCount: UInt32 = 0, wordCount: UInt32 = 0, output: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try name.code(&coder); try coder.code(&opcode); try coder.code(&inputCount); try coder.code(&wordCount)
        try coder.code(&output)
    }
}

/// One named graph output, after the nodes: name, value index, 4 reserved.
struct GraphOutputRecord: ModelFileRecord {
    var name = StringReference()
    var value: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try name.code(&coder); try coder.code(&value); try coder.reserved32()
    }
}

/// The arena plan's head: arena bytes, offset count, 4 reserved; then one Int64 offset per value
/// (-1: the value has no arena bytes).
struct PlanRecordHead: ModelFileRecord {
    var size: UInt64 = 0
    var count: UInt32 = 0

    mutating func code<Coder: RecordCoder>(_ coder: inout Coder) throws(Coder.Failure) {
        try coder.code(&size); try coder.code(&count); try coder.reserved32()
    }
}
