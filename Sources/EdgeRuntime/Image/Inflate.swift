/// zlib (RFC 1950) and deflate (RFC 1951) decompression for PNG image data.
///
/// PNG tells us the exact decompressed size up front, so a stream that tries to write past it is
/// refused; that also bounds the work a malicious file can cause. The output grows (doubling) as
/// the stream delivers bytes rather than being allocated at that size up front: a 69-byte file whose
/// header claims 16384x8192 pixels costs kilobytes, not 400 MB, before it is found truncated. Huffman codes up to 9 bits are decoded with one table lookup; longer codes fall back to
/// walking the canonical code one bit at a time (the method of zlib's `puff.c`).

/// Decompresses a whole zlib stream and checks its header and Adler-32.
///
/// - Returns: exactly `expectedByteCount` bytes.
/// - Throws: `.pngDataEndsEarly` when the input runs out or the stream ends short of
///   `expectedByteCount`, `.pngDataTooLong` when it would produce more.
func inflateZlib(_ input: [UInt8], expectedByteCount: Int) throws(ImageError) -> [UInt8] {
    guard input.count >= 2 else { throw .pngDataEndsEarly }
    let cmf = input[0]
    let flg = input[1]
    guard cmf & 0x0F == 8, cmf >> 4 <= 7, (UInt32(cmf) << 8 | UInt32(flg)) % 31 == 0 else {
        throw .zlibInvalidHeader(cmf: cmf, flg: flg)
    }
    guard flg & 0x20 == 0 else { throw .zlibPresetDictionary }

    var inflater = Inflater(input: input, startIndex: 2, expectedByteCount: expectedByteCount)
    try inflater.run()
    guard inflater.outputCount == expectedByteCount else { throw .pngDataEndsEarly }

    let trailerStart = inflater.bits.byteAlignedPosition()
    guard trailerStart + 4 <= input.count else { throw .pngDataEndsEarly }
    let stored = UInt32(input[trailerStart]) << 24 | UInt32(input[trailerStart + 1]) << 16
        | UInt32(input[trailerStart + 2]) << 8 | UInt32(input[trailerStart + 3])
    var adler = ZlibAdler32()
    inflater.output.withUnsafeBufferPointer { adler.update($0) }
    guard adler.value == stored else { throw .zlibAdler32Mismatch(stored: stored, computed: adler.value) }
    return inflater.output
}

/// Least-significant-bit-first bit reader, as deflate packs its bits.
struct DeflateBitReader {
    private let bytes: [UInt8]
    private var position: Int
    private var buffer: UInt64 = 0
    private var bufferedBitCount = 0

    init(bytes: [UInt8], startIndex: Int) {
        self.bytes = bytes
        self.position = startIndex
    }

    private mutating func refill() {
        while bufferedBitCount <= 56 && position < bytes.count {
            buffer |= UInt64(bytes[position]) << UInt64(bufferedBitCount)
            position += 1
            bufferedBitCount += 8
        }
    }

    /// The next `count` bits (at most 16) without consuming them; zeros past the end of input.
    mutating func peek(_ count: Int) -> Int {
        if bufferedBitCount < count { refill() }
        return Int(truncatingIfNeeded: buffer & ((1 << UInt64(count)) - 1))
    }

    mutating func consume(_ count: Int) throws(ImageError) {
        if bufferedBitCount < count {
            refill()
            guard bufferedBitCount >= count else { throw .pngDataEndsEarly }
        }
        buffer >>= UInt64(count)
        bufferedBitCount -= count
    }

    mutating func read(_ count: Int) throws(ImageError) -> Int {
        let value = peek(count)
        try consume(count)
        return value
    }

    /// Drops the bits left in the current byte and hands back the buffered whole bytes, returning
    /// the index of the next unread byte. Stored blocks and the Adler-32 trailer start there.
    mutating func byteAlignedPosition() -> Int {
        position -= bufferedBitCount / 8
        buffer = 0
        bufferedBitCount = 0
        return position
    }

    /// Continues reading bits at `index` (used after copying a stored block).
    mutating func restart(at index: Int) {
        position = index
        buffer = 0
        bufferedBitCount = 0
    }

    var inputBytes: [UInt8] { bytes }
}

/// A canonical Huffman code as deflate defines it, ready for decoding.
struct DeflateHuffmanTable {
    /// Codes of at most this many bits decode with one lookup.
    static let fastBits = 9
    /// Indexed by the next `fastBits` input bits: `length << 9 | symbol`, or 0 for longer codes.
    private var fast: [UInt16]
    /// Number of codes of each length 0...15.
    private var lengthCounts: [Int]
    /// Symbols ordered by code (the canonical order).
    private var sortedSymbols: [Int]
    private let name: String

    /// Builds the table from per-symbol code lengths (0 = symbol unused).
    ///
    /// Over-subscribed codes are refused. Incomplete codes are refused too, except a code made of
    /// a single 1-bit code, which deflate allows for distances (zlib's `inflate_table` rule).
    init(codeLengths: [Int], name: String, allowIncomplete: Bool) throws(ImageError) {
        self.name = name
        var counts = [Int](repeating: 0, count: 16)
        for length in codeLengths { counts[length] += 1 }
        counts[0] = 0
        var left = 1
        var maximumLength = 0
        for length in 1...15 {
            left = left * 2 - counts[length]
            guard left >= 0 else { throw .deflateInvalidHuffmanCode(table: name) }
            if counts[length] > 0 { maximumLength = length }
        }
        if left > 0 && maximumLength > 0 && !(allowIncomplete && maximumLength == 1) {
            throw .deflateInvalidHuffmanCode(table: name)
        }

        var offsets = [Int](repeating: 0, count: 16)
        for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
        var symbols = [Int](repeating: 0, count: codeLengths.count)
        for (symbol, length) in codeLengths.enumerated() where length != 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
        }

        var fast = [UInt16](repeating: 0, count: 1 << DeflateHuffmanTable.fastBits)
        var code = 0
        var index = 0
        for length in 1...DeflateHuffmanTable.fastBits {
            for _ in 0..<counts[length] {
                var reversed = 0
                for bit in 0..<length where code & (1 << bit) != 0 { reversed |= 1 << (length - 1 - bit) }
                let entry = UInt16(length << 9 | symbols[index])
                var slot = reversed
                while slot < fast.count {
                    fast[slot] = entry
                    slot += 1 << length
                }
                code += 1
                index += 1
            }
            code <<= 1
        }
        self.fast = fast
        self.lengthCounts = counts
        self.sortedSymbols = symbols
    }

    func decode(_ bits: inout DeflateBitReader) throws(ImageError) -> Int {
        let entry = Int(fast[bits.peek(DeflateHuffmanTable.fastBits)])
        if entry != 0 {
            try bits.consume(entry >> 9)
            return entry & 0x1FF
        }
        let window = bits.peek(15)
        var code = 0
        var first = 0
        var index = 0
        for length in 1...15 {
            code |= (window >> (length - 1)) & 1
            let count = lengthCounts[length]
            if code - first < count {
                try bits.consume(length)
                return sortedSymbols[index + code - first]
            }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        // Only an incomplete code leaves bit patterns unassigned; reading one means bad data,
        // unless the stream simply ran out of bits.
        try bits.consume(16)
        throw .deflateInvalidHuffmanCode(table: name)
    }
}

private let lengthBases: [Int] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
]
private let lengthExtraBits: [Int] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
]
private let distanceBases: [Int] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
]
private let distanceExtraBits: [Int] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
]
/// The order in which a dynamic block lists the code-length code's lengths (RFC 1951 3.2.7).
private let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

/// The fixed literal/length and distance codes of block type 1 (RFC 1951 3.2.6), built once.
private let fixedTables: (literals: DeflateHuffmanTable, distances: DeflateHuffmanTable) = {
    var literalLengths = [Int](repeating: 8, count: 288)
    for symbol in 144..<256 { literalLengths[symbol] = 9 }
    for symbol in 256..<280 { literalLengths[symbol] = 7 }
    // Both tables are complete and valid by construction, so building them cannot fail.
    let literals = try? DeflateHuffmanTable(codeLengths: literalLengths, name: "literal/length", allowIncomplete: false)
    let distances = try? DeflateHuffmanTable(
        codeLengths: [Int](repeating: 5, count: 32), name: "distance", allowIncomplete: false)
    return (literals!, distances!)
}()

/// The state of one decompression: input bits and the output, grown as bytes arrive.
struct Inflater {
    var bits: DeflateBitReader
    /// Zero-filled storage; `outputCount` bytes of it are written. Never longer than `limit`.
    var output: [UInt8]
    var outputCount = 0
    /// The exact size the stream must produce.
    let limit: Int

    init(input: [UInt8], startIndex: Int, expectedByteCount: Int) {
        bits = DeflateBitReader(bytes: input, startIndex: startIndex)
        limit = expectedByteCount
        output = [UInt8](repeating: 0, count: min(expectedByteCount, 1 << 16))
    }

    /// Makes room for `count` more bytes, refusing a stream that would pass `limit`.
    @inline(__always)
    private mutating func makeRoom(_ count: Int) throws(ImageError) {
        guard count <= limit - outputCount else { throw .pngDataTooLong(expectedByteCount: limit) }
        if count > output.count - outputCount { grow(toHold: outputCount + count) }
    }

    private mutating func grow(toHold needed: Int) {
        let target = min(limit, max(needed, output.count * 2))
        output.append(contentsOf: repeatElement(0, count: target - output.count))
    }

    mutating func run() throws(ImageError) {
        var isFinal = false
        while !isFinal {
            isFinal = try bits.read(1) == 1
            switch try bits.read(2) {
            case 0: try copyStoredBlock()
            case 1: try decodeBlock(literals: fixedTables.literals, distances: fixedTables.distances)
            case 2:
                let (literals, distances) = try readDynamicTables()
                try decodeBlock(literals: literals, distances: distances)
            default: throw .deflateReservedBlockType
            }
        }
    }

    private mutating func copyStoredBlock() throws(ImageError) {
        let start = bits.byteAlignedPosition()
        let input = bits.inputBytes
        guard start + 4 <= input.count else { throw .pngDataEndsEarly }
        let length = Int(input[start]) | Int(input[start + 1]) << 8
        let complement = Int(input[start + 2]) | Int(input[start + 3]) << 8
        guard length == complement ^ 0xFFFF else {
            throw .deflateStoredLengthMismatch(length: length, complement: complement)
        }
        let dataStart = start + 4
        guard length <= input.count - dataStart else { throw .pngDataEndsEarly }
        try makeRoom(length)
        for offset in 0..<length { output[outputCount + offset] = input[dataStart + offset] }
        outputCount += length
        bits.restart(at: dataStart + length)
    }

    private mutating func readDynamicTables() throws(ImageError) -> (DeflateHuffmanTable, DeflateHuffmanTable) {
        let literalCount = try bits.read(5) + 257
        let distanceCount = try bits.read(5) + 1
        let codeLengthCount = try bits.read(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else {
            throw .deflateInvalidHuffmanCode(table: "literal/length")
        }
        var codeLengthLengths = [Int](repeating: 0, count: 19)
        for index in 0..<codeLengthCount { codeLengthLengths[codeLengthOrder[index]] = try bits.read(3) }
        let codeLengthTable = try DeflateHuffmanTable(
            codeLengths: codeLengthLengths, name: "code-length", allowIncomplete: false)

        var lengths = [Int]()
        lengths.reserveCapacity(literalCount + distanceCount)
        while lengths.count < literalCount + distanceCount {
            let symbol = try codeLengthTable.decode(&bits)
            var repeated = 0
            var repeatCount = 0
            switch symbol {
            case 0...15:
                lengths.append(symbol)
                continue
            case 16:
                guard let previous = lengths.last else { throw .deflateInvalidHuffmanCode(table: "code-length") }
                repeated = previous
                repeatCount = 3 + (try bits.read(2))
            case 17: repeatCount = 3 + (try bits.read(3))
            default: repeatCount = 11 + (try bits.read(7))
            }
            guard lengths.count + repeatCount <= literalCount + distanceCount else {
                throw .deflateInvalidHuffmanCode(table: "code-length")
            }
            for _ in 0..<repeatCount { lengths.append(repeated) }
        }
        // A block without an end-of-block code could never finish.
        guard lengths[256] != 0 else { throw .deflateInvalidHuffmanCode(table: "literal/length") }
        let literals = try DeflateHuffmanTable(
            codeLengths: Array(lengths[0..<literalCount]), name: "literal/length", allowIncomplete: true)
        let distances = try DeflateHuffmanTable(
            codeLengths: Array(lengths[literalCount...]), name: "distance", allowIncomplete: true)
        return (literals, distances)
    }

    private mutating func decodeBlock(literals: DeflateHuffmanTable, distances: DeflateHuffmanTable) throws(ImageError) {
        while true {
            let symbol = try literals.decode(&bits)
            if symbol < 256 {
                try makeRoom(1)
                output[outputCount] = UInt8(truncatingIfNeeded: symbol)
                outputCount += 1
                continue
            }
            if symbol == 256 { return }
            let lengthIndex = symbol - 257
            guard lengthIndex < lengthBases.count else {
                throw .deflateInvalidSymbol(table: "literal/length", symbol: symbol)
            }
            let length = lengthBases[lengthIndex] + (try bits.read(lengthExtraBits[lengthIndex]))
            let distanceSymbol = try distances.decode(&bits)
            guard distanceSymbol < distanceBases.count else {
                throw .deflateInvalidSymbol(table: "distance", symbol: distanceSymbol)
            }
            let distance = distanceBases[distanceSymbol] + (try bits.read(distanceExtraBits[distanceSymbol]))
            guard distance <= outputCount else {
                throw .deflateDistanceTooFar(distance: distance, bytesWritten: outputCount)
            }
            try makeRoom(length)
            // Byte by byte on purpose: a distance shorter than the length repeats recent output.
            var source = outputCount - distance
            for _ in 0..<length {
                output[outputCount] = output[source]
                outputCount += 1
                source += 1
            }
        }
    }
}
