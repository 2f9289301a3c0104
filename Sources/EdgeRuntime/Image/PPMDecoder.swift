/// Binary PGM (P5) and PPM (P6) decoding, matching Pillow's `PpmImagePlugin` bit for bit.
///
/// Header rules follow Pillow: the magic number ends at the first whitespace; each of width,
/// height and maxval is a token of at most 10 characters separated by whitespace (space, tab,
/// CR, LF, VT, FF); `#` starts a comment that runs to the end of the line; exactly one whitespace
/// byte separates maxval from the pixel data.
///
/// Sample scaling also follows Pillow, including its quirks:
/// - maxval 255 is copied as is;
/// - otherwise a sample becomes `round(value / maxval * 255)` (Python's round, half to even,
///   computed in double precision), clamped to 255;
/// - a P5 file with maxval above 255 becomes Pillow's 32-bit mode `I` holding
///   `round(value / maxval * 65535)`, and that mode's conversion to RGB clamps to 255, so most
///   of such an image comes out white. It is odd, but it is what the pipeline sees.

private let netpbmWhitespace: [UInt8] = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]

/// Walks the header the way Pillow's `_read_magic` and `_read_token` do.
private struct NetpbmHeaderReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    mutating func readMagic() -> String {
        var magic = [UInt8]()
        while magic.count < 6 && position < bytes.count {
            let byte = bytes[position]
            position += 1
            if netpbmWhitespace.contains(byte) { break }
            magic.append(byte)
        }
        return String(decoding: magic, as: UTF8.self)
    }

    /// Reads one decimal field; `field` names it in the error.
    mutating func readNumber(field: String) throws(ImageError) -> Int {
        var token = [UInt8]()
        while token.count <= 10 && position < bytes.count {
            let byte = bytes[position]
            position += 1
            if netpbmWhitespace.contains(byte) {
                if token.isEmpty { continue }
                break
            }
            if byte == UInt8(ascii: "#") {
                // A comment runs to CR, LF or the end of the file, and does not end the token.
                while position < bytes.count {
                    let skipped = bytes[position]
                    position += 1
                    if skipped == 0x0A || skipped == 0x0D { break }
                }
                continue
            }
            token.append(byte)
        }
        guard !token.isEmpty, token.count <= 10 else { throw .ppmInvalidHeaderField(field: field) }
        var value = 0
        for digit in token {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else {
                throw .ppmInvalidHeaderField(field: field)
            }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }
}

func decodePPM(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> RGBImage {
    var header = NetpbmHeaderReader(bytes: bytes)
    let magic = header.readMagic()
    let isColor: Bool
    switch magic {
    case "P5": isColor = false
    case "P6": isColor = true
    default: throw .ppmUnsupportedVariant(magic: magic)
    }
    let width = try header.readNumber(field: "width")
    let height = try header.readNumber(field: "height")
    let maxval = try header.readNumber(field: "maxval")
    let byteCount = try rgbByteCount(width: width, height: height)
    guard maxval >= 1, maxval <= 65535 else { throw .ppmInvalidMaxval(maxval: maxval) }

    let samplesPerPixel = isColor ? 3 : 1
    let bytesPerSample = maxval < 256 ? 1 : 2
    let dataStart = header.position
    let expected = width * height * samplesPerPixel * bytesPerSample
    let available = bytes.count - dataStart
    guard available >= expected else {
        throw .ppmDataEndsEarly(expectedByteCount: expected, bytesAvailable: available)
    }

    let lookup = ppmScaleTable(maxval: maxval, bytesPerSample: bytesPerSample, isColor: isColor)
    var pixels = [UInt8](repeating: 0, count: byteCount)
    let sampleCount = width * height * samplesPerPixel
    for sample in 0..<sampleCount {
        let offset = dataStart + sample * bytesPerSample
        let value = bytesPerSample == 1 ? Int(bytes[offset]) : Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        let converted = lookup[value]
        if isColor {
            pixels[sample] = converted
        } else {
            pixels[sample * 3] = converted
            pixels[sample * 3 + 1] = converted
            pixels[sample * 3 + 2] = converted
        }
    }
    return RGBImage(validatedWidth: width, height: height, pixels: pixels)
}

/// The 8-bit RGB value Pillow ends up with for every possible stored sample value.
private func ppmScaleTable(maxval: Int, bytesPerSample: Int, isColor: Bool) -> [UInt8] {
    let valueCount = bytesPerSample == 1 ? 256 : 65536
    var table = [UInt8](repeating: 0, count: valueCount)
    // Pillow's intermediate range: 16 bits for the mode-I gray path, 8 bits otherwise.
    let intermediateMaximum = (!isColor && maxval > 255) ? 65535.0 : 255.0
    for value in 0..<valueCount {
        if maxval == 255 {
            table[value] = UInt8(value)
            continue
        }
        let scaled = (Double(value) / Double(maxval) * intermediateMaximum).rounded(.toNearestOrEven)
        table[value] = UInt8(min(scaled, 255))
    }
    return table
}
