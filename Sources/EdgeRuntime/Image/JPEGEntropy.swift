/// The entropy-coding layer of baseline JPEG: the bit reader that removes byte stuffing and
/// stops at markers, and canonical Huffman tables (ITU T.81 annex C and F.2.2).

/// Reads entropy-coded bits most significant first, turning `FF 00` back into `FF` and stopping
/// at any other marker.
///
/// Past a marker or the end of input it supplies zero bits, as libjpeg does, so that lookahead
/// is always possible; but actually consuming one of those bits means the scan data is
/// incomplete, and that is reported instead of decoding zeros into the picture.
struct JPEGBitReader {
    private let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    private var buffer: UInt64 = 0
    private var bufferedBitCount = 0
    private var paddingBitCount = 0
    private var reachedMarker = false

    init(bytes: UnsafeRawBufferPointer, position: Int) {
        self.bytes = bytes
        self.position = position
    }

    private mutating func refill() {
        while bufferedBitCount <= 56 {
            var byte: UInt8 = 0
            if !reachedMarker && position < bytes.count {
                byte = bytes[position]
                if byte == 0xFF {
                    if position + 1 < bytes.count && bytes[position + 1] == 0x00 {
                        position += 2
                    } else {
                        reachedMarker = true
                        byte = 0
                    }
                } else {
                    position += 1
                }
            } else {
                reachedMarker = true
            }
            if reachedMarker { paddingBitCount += 8 }
            buffer = buffer << 8 | UInt64(byte)
            bufferedBitCount += 8
        }
    }

    /// The next `count` bits (1...16) without consuming them.
    mutating func peek(_ count: Int) -> Int {
        if bufferedBitCount < count { refill() }
        return Int(truncatingIfNeeded: (buffer >> UInt64(bufferedBitCount - count)) & ((1 << UInt64(count)) - 1))
    }

    mutating func consume(_ count: Int) throws(ImageError) {
        if bufferedBitCount < count { refill() }
        guard count <= bufferedBitCount - paddingBitCount else { throw .jpegEntropyDataEndsEarly }
        bufferedBitCount -= count
    }

    mutating func read(_ count: Int) throws(ImageError) -> Int {
        guard count > 0 else { return 0 }
        let value = peek(count)
        try consume(count)
        return value
    }

    /// Reads `count` bits as a signed coefficient (T.81 F.2.2.1 RECEIVE and EXTEND).
    mutating func receiveExtend(_ count: Int) throws(ImageError) -> Int {
        guard count > 0 else { return 0 }
        let value = try read(count)
        return value < 1 << (count - 1) ? value - (1 << count) + 1 : value
    }

    /// Discards the bits left before a restart marker and consumes `FF D0+expected`.
    mutating func readRestartMarker(expected: Int) throws(ImageError) {
        // Whole bytes still buffered were read ahead; everything up to the marker is consumed.
        buffer = 0
        bufferedBitCount = 0
        paddingBitCount = 0
        reachedMarker = false
        while position + 1 < bytes.count && bytes[position] == 0xFF && bytes[position + 1] == 0xFF {
            position += 1
        }
        guard position + 1 < bytes.count, bytes[position] == 0xFF, Int(bytes[position + 1]) == 0xD0 + expected else {
            throw .jpegRestartMarkerMissing(expected: expected)
        }
        position += 2
    }
}

/// A JPEG Huffman table from a DHT segment, ready for decoding.
struct JPEGHuffmanTable {
    /// Codes of at most this many bits decode with one lookup.
    private static let fastBits = 9
    /// Indexed by the next `fastBits` bits: `length << 8 | value`, or 0 for longer codes.
    private var fast: [UInt16]
    /// Largest code of each length 1...16, or -1 when there is none (T.81 F.2.2.3 MAXCODE).
    private var maximumCode: [Int]
    /// For each length, the index into `values` minus the first code of that length.
    private var valueOffset: [Int]
    private var values: [UInt8]

    /// Builds the table from the 16 code counts and the values of a DHT entry.
    init(counts: [Int], values: [UInt8], marker: UInt8) throws(ImageError) {
        var fast = [UInt16](repeating: 0, count: 1 << JPEGHuffmanTable.fastBits)
        var maximumCode = [Int](repeating: -1, count: 17)
        var valueOffset = [Int](repeating: 0, count: 17)
        var code = 0
        var index = 0
        for length in 1...16 {
            let count = counts[length - 1]
            valueOffset[length] = index - code
            if count > 0 {
                // A code that needs more bits than its length has means the counts are impossible.
                guard code + count <= 1 << length else {
                    throw .jpegInvalidSegment(marker: marker, reason: "Huffman code counts overflow at length \(length)")
                }
                for _ in 0..<count {
                    if length <= JPEGHuffmanTable.fastBits {
                        let shift = JPEGHuffmanTable.fastBits - length
                        let entry = UInt16(length << 8 | Int(values[index]))
                        for slot in (code << shift)..<((code + 1) << shift) { fast[slot] = entry }
                    }
                    code += 1
                    index += 1
                }
                maximumCode[length] = code - 1
            }
            code <<= 1
        }
        self.fast = fast
        self.maximumCode = maximumCode
        self.valueOffset = valueOffset
        self.values = values
    }

    func decode(_ bits: inout JPEGBitReader) throws(ImageError) -> Int {
        let entry = Int(fast[bits.peek(JPEGHuffmanTable.fastBits)])
        if entry != 0 {
            try bits.consume(entry >> 8)
            return entry & 0xFF
        }
        for length in (JPEGHuffmanTable.fastBits + 1)...16 {
            let code = bits.peek(length)
            if code <= maximumCode[length] {
                let index = valueOffset[length] + code
                guard index >= 0, index < values.count else { throw .jpegInvalidHuffmanCode }
                try bits.consume(length)
                return Int(values[index])
            }
        }
        // All-ones codes and unassigned patterns: bad data, unless the data simply ran out.
        try bits.consume(16)
        throw .jpegInvalidHuffmanCode
    }
}
