/// The two checksums PNG relies on: CRC-32 over every chunk and Adler-32 over the zlib payload.

/// CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected) as PNG specifies it for chunks.
struct ChunkCRC32 {
    /// Byte-at-a-time lookup table, built once; 1 KiB.
    private static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 {
                value = (value & 1) != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1
            }
            table[index] = value
        }
        return table
    }()

    private var state: UInt32 = 0xFFFF_FFFF

    init() {}

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let table = ChunkCRC32.table
        var crc = state
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        state = crc
    }

    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    var value: UInt32 { state ^ 0xFFFF_FFFF }
}

/// Adler-32 (RFC 1950) over the decompressed zlib data.
struct ZlibAdler32 {
    private var a: UInt32 = 1
    private var b: UInt32 = 0

    init() {}

    mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        // 5552 is the largest run after which `b` cannot overflow 32 bits (RFC 1950, zlib's NMAX).
        var start = 0
        while start < bytes.count {
            let end = min(start + 5552, bytes.count)
            for index in start..<end {
                a &+= UInt32(bytes[index])
                b &+= a
            }
            a %= 65521
            b %= 65521
            start = end
        }
    }

    var value: UInt32 { (b << 16) | a }
}
