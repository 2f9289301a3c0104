/// Everything that can go wrong while decoding an image, one case per problem.
///
/// Each description is one line that names the format, the part of the file and the values
/// involved, so a user handed a bad photo can tell what is wrong with it without a hex editor.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    // MARK: Any format
    /// The input holds no bytes at all.
    case emptyInput
    /// The leading bytes match none of the supported signatures (the first few are kept).
    case unrecognizedFormat(leadingBytes: [UInt8])
    /// A width or height is zero or negative.
    case invalidDimensions(width: Int, height: Int)
    /// A side is over 16384 or the pixel count over 2^27.
    case imageTooLarge(width: Int, height: Int)
    /// An `RGBImage` was built from a buffer whose size is not `width * height * 3`.
    case pixelCountMismatch(width: Int, height: Int, byteCount: Int)

    // MARK: PNG container
    /// The file ends inside a chunk's length, type, data or CRC.
    case pngChunkTruncated(chunk: String, declaredLength: Int, bytesAvailable: Int)
    /// A chunk's stored CRC-32 disagrees with the one computed over its type and data.
    case pngChunkCRCMismatch(chunk: String, stored: UInt32, computed: UInt32)
    /// The first chunk is not IHDR (`firstChunk` is empty when there is no chunk at all).
    case pngMissingIHDR(firstChunk: String)
    /// A required chunk never appeared (IDAT, IEND, or PLTE for a palette image).
    case pngMissingChunk(chunk: String)
    /// A chunk appears twice or in a position the PNG specification forbids.
    case pngChunkOutOfOrder(chunk: String)
    /// A chunk's length is impossible for its type (IHDR not 13, PLTE not a multiple of 3, ...).
    case pngInvalidChunkLength(chunk: String, length: Int)
    /// A critical chunk this decoder does not know; it cannot be skipped safely.
    case pngUnknownCriticalChunk(chunk: String)
    /// IHDR names a color type outside 0, 2, 3, 4, 6.
    case pngUnsupportedColorType(colorType: Int)
    /// IHDR names a bit depth that is not legal for its color type.
    case pngUnsupportedBitDepth(bitDepth: Int, colorType: Int)
    /// IHDR names a compression method other than 0 (deflate).
    case pngUnsupportedCompressionMethod(method: Int)
    /// IHDR names a filter method other than 0 (adaptive, five filter types).
    case pngUnsupportedFilterMethod(method: Int)
    /// IHDR names an interlace method other than 0 (none) or 1 (Adam7).
    case pngUnsupportedInterlaceMethod(method: Int)
    /// A scanline starts with a filter type byte above 4.
    case pngInvalidFilterType(row: Int, filterType: Int)
    /// A palette image refers past the end of its PLTE chunk.
    case pngPaletteIndexOutOfRange(index: Int, paletteCount: Int)
    /// The image data stream stops before IHDR's size is reached.
    case pngDataEndsEarly
    /// The image data stream decompresses to more bytes than IHDR implies.
    case pngDataTooLong(expectedByteCount: Int)

    // MARK: zlib and deflate (PNG image data)
    /// The two zlib header bytes are not a valid deflate header.
    case zlibInvalidHeader(cmf: UInt8, flg: UInt8)
    /// The zlib header asks for a preset dictionary, which PNG forbids.
    case zlibPresetDictionary
    /// The Adler-32 after the deflate stream disagrees with the decompressed data.
    case zlibAdler32Mismatch(stored: UInt32, computed: UInt32)
    /// A deflate block header uses the reserved block type 3.
    case deflateReservedBlockType
    /// A stored block's LEN and NLEN are not complements.
    case deflateStoredLengthMismatch(length: Int, complement: Int)
    /// A dynamic block's code lengths do not form a usable Huffman code.
    case deflateInvalidHuffmanCode(table: String)
    /// A decoded length or distance symbol is one of the reserved values.
    case deflateInvalidSymbol(table: String, symbol: Int)
    /// A back-reference points before the first byte of output.
    case deflateDistanceTooFar(distance: Int, bytesWritten: Int)

    // MARK: PPM / PGM
    /// A Netpbm variant other than binary P5 (gray) and P6 (RGB).
    case ppmUnsupportedVariant(magic: String)
    /// A header field is missing, not a decimal number, or longer than 10 characters.
    case ppmInvalidHeaderField(field: String)
    /// The maxval is outside 1...65535.
    case ppmInvalidMaxval(maxval: Int)
    /// The pixel data is shorter than width * height * samples * bytes per sample.
    case ppmDataEndsEarly(expectedByteCount: Int, bytesAvailable: Int)

    // MARK: JPEG
    /// A JPEG coding process this baseline decoder refuses (progressive, arithmetic, lossless...).
    case jpegUnsupportedProcess(process: String)
    /// A sample precision other than 8 bits.
    case jpegUnsupportedPrecision(bits: Int)
    /// A component count other than 1 (gray) or 3 (YCbCr or RGB), e.g. 4 for CMYK.
    case jpegUnsupportedComponentCount(count: Int)
    /// A sampling factor outside 1...2, or one that is not an integer fraction of the largest.
    case jpegUnsupportedSampling(component: Int, horizontal: Int, vertical: Int)
    /// The file ends inside a marker segment.
    case jpegSegmentTruncated(marker: UInt8)
    /// A marker segment's contents are inconsistent (the reason names the field).
    case jpegInvalidSegment(marker: UInt8, reason: String)
    /// A scan or frame needs something the file never provided (SOF, a table, a component).
    case jpegMissing(what: String)
    /// The entropy-coded data stops before every block of the scan has been decoded.
    case jpegEntropyDataEndsEarly
    /// A bit pattern that is not a code of the Huffman table in use.
    case jpegInvalidHuffmanCode
    /// A coefficient run walks past the 64 coefficients of a block.
    case jpegCoefficientOverrun
    /// The restart marker expected after a restart interval is absent or out of sequence.
    case jpegRestartMarkerMissing(expected: Int)
    /// The file ends without a frame and scan having produced an image.
    case jpegMissingImageData

    public var description: String {
        switch self {
        case .emptyInput:
            return "image data is empty (0 bytes)"
        case .unrecognizedFormat(let leadingBytes):
            return "not a PNG, PPM or JPEG file (starts with bytes \(hexBytes(leadingBytes)))"
        case .invalidDimensions(let width, let height):
            return "image dimensions \(width)x\(height) are invalid"
        case .imageTooLarge(let width, let height):
            return "image \(width)x\(height) is too large (limit \(RGBImage.maximumSide) per side "
                + "and \(RGBImage.maximumPixelCount) pixels)"
        case .pixelCountMismatch(let width, let height, let byteCount):
            return "RGB buffer has \(byteCount) bytes but a \(width)x\(height) image needs width*height*3"
        case .pngChunkTruncated(let chunk, let declaredLength, let bytesAvailable):
            if chunk.isEmpty { return "PNG ends inside a chunk header" }
            return "PNG chunk '\(chunk)' is truncated (declares \(declaredLength) data bytes, "
                + "\(bytesAvailable) bytes remain in the file)"
        case .pngChunkCRCMismatch(let chunk, let stored, let computed):
            return "PNG chunk '\(chunk)' CRC mismatch (stored \(hex32(stored)), computed \(hex32(computed)))"
        case .pngMissingIHDR(let firstChunk):
            return firstChunk.isEmpty
                ? "PNG has no IHDR chunk (file ends after the signature)"
                : "PNG is missing its IHDR chunk (first chunk is '\(firstChunk)')"
        case .pngMissingChunk(let chunk):
            return "PNG has no '\(chunk)' chunk"
        case .pngChunkOutOfOrder(let chunk):
            return "PNG chunk '\(chunk)' is repeated or out of order"
        case .pngInvalidChunkLength(let chunk, let length):
            return "PNG chunk '\(chunk)' has invalid length \(length)"
        case .pngUnknownCriticalChunk(let chunk):
            return "PNG has unknown critical chunk '\(chunk)'"
        case .pngUnsupportedColorType(let colorType):
            return "unsupported PNG color type \(colorType)"
        case .pngUnsupportedBitDepth(let bitDepth, let colorType):
            return "unsupported PNG bit depth \(bitDepth) for color type \(colorType)"
        case .pngUnsupportedCompressionMethod(let method):
            return "unsupported PNG compression method \(method)"
        case .pngUnsupportedFilterMethod(let method):
            return "unsupported PNG filter method \(method)"
        case .pngUnsupportedInterlaceMethod(let method):
            return "unsupported PNG interlace method \(method)"
        case .pngInvalidFilterType(let row, let filterType):
            return "PNG scanline \(row) uses unknown filter type \(filterType)"
        case .pngPaletteIndexOutOfRange(let index, let paletteCount):
            return "PNG pixel uses palette index \(index) but PLTE has \(paletteCount) entries"
        case .pngDataEndsEarly:
            return "PNG image data ends early (truncated IDAT stream)"
        case .pngDataTooLong(let expectedByteCount):
            return "PNG image data is longer than the \(expectedByteCount) bytes IHDR implies"
        case .zlibInvalidHeader(let cmf, let flg):
            return "PNG zlib header \(hexBytes([cmf, flg])) is invalid "
                + "(needs method 8, window <= 32 KiB, check bits multiple of 31)"
        case .zlibPresetDictionary:
            return "PNG zlib stream asks for a preset dictionary, which PNG forbids"
        case .zlibAdler32Mismatch(let stored, let computed):
            return "PNG zlib Adler-32 mismatch (stored \(hex32(stored)), computed \(hex32(computed)))"
        case .deflateReservedBlockType:
            return "PNG deflate stream uses reserved block type 3"
        case .deflateStoredLengthMismatch(let length, let complement):
            return "PNG deflate stored block length \(length) does not match its complement \(complement)"
        case .deflateInvalidHuffmanCode(let table):
            return "PNG deflate block has an invalid \(table) Huffman code"
        case .deflateInvalidSymbol(let table, let symbol):
            return "PNG deflate stream uses reserved \(table) symbol \(symbol)"
        case .deflateDistanceTooFar(let distance, let bytesWritten):
            return "PNG deflate back-reference distance \(distance) reaches before the start "
                + "of the output (\(bytesWritten) bytes written)"
        case .ppmUnsupportedVariant(let magic):
            return "unsupported Netpbm variant '\(magic)' (only binary P5 and P6 are read)"
        case .ppmInvalidHeaderField(let field):
            return "PPM header field '\(field)' is missing or not a decimal number"
        case .ppmInvalidMaxval(let maxval):
            return "PPM maxval \(maxval) is outside 1...65535"
        case .ppmDataEndsEarly(let expectedByteCount, let bytesAvailable):
            return "PPM pixel data ends early (needs \(expectedByteCount) bytes, "
                + "\(bytesAvailable) remain)"
        case .jpegUnsupportedProcess(let process):
            return "unsupported JPEG coding process: \(process) (only baseline and extended "
                + "sequential Huffman are decoded)"
        case .jpegUnsupportedPrecision(let bits):
            return "unsupported JPEG sample precision \(bits) bits (only 8)"
        case .jpegUnsupportedComponentCount(let count):
            return count == 4
                ? "unsupported JPEG with 4 components (CMYK/YCCK)"
                : "unsupported JPEG with \(count) components (only 1 or 3)"
        case .jpegUnsupportedSampling(let component, let horizontal, let vertical):
            return "unsupported JPEG sampling factors \(horizontal)x\(vertical) for component "
                + "\(component) (each must be 1 or 2)"
        case .jpegSegmentTruncated(let marker):
            return "JPEG data ends early (inside marker segment \(markerName(marker)))"
        case .jpegInvalidSegment(let marker, let reason):
            return "JPEG marker segment \(markerName(marker)) is invalid: \(reason)"
        case .jpegMissing(let what):
            return "JPEG is missing \(what)"
        case .jpegEntropyDataEndsEarly:
            return "JPEG data ends early (truncated entropy-coded scan data)"
        case .jpegInvalidHuffmanCode:
            return "JPEG scan data contains a bit pattern that is not a Huffman code"
        case .jpegCoefficientOverrun:
            return "JPEG scan data runs past the 64 coefficients of a block"
        case .jpegRestartMarkerMissing(let expected):
            return "JPEG restart marker RST\(expected) is missing or out of sequence"
        case .jpegMissingImageData:
            return "JPEG ends before a frame and scan produced an image"
        }
    }
}

/// Bytes as lowercase two-digit hex separated by spaces, e.g. `7f 45 4c 46`.
private func hexBytes(_ bytes: [UInt8]) -> String {
    var text = ""
    for (index, byte) in bytes.enumerated() {
        if index > 0 { text += " " }
        text += hexDigits(UInt32(byte), count: 2)
    }
    return text
}

/// A 32-bit value as `0x` and eight lowercase hex digits, the way CRCs are usually printed.
private func hex32(_ value: UInt32) -> String {
    "0x" + hexDigits(value, count: 8)
}

/// A JPEG marker as `0xffc2`-style text for error messages.
private func markerName(_ marker: UInt8) -> String {
    "0xff" + hexDigits(UInt32(marker), count: 2)
}

private func hexDigits(_ value: UInt32, count: Int) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var characters = [UInt8]()
    for position in stride(from: count - 1, through: 0, by: -1) {
        characters.append(digits[Int((value >> UInt32(position * 4)) & 0xF)])
    }
    return String(decoding: characters, as: UTF8.self)
}
