/// PNG decoding to RGB8 with the conversions of PIL's `Image.open(path).convert("RGB")`.
///
/// The container is checked strictly (CRC on every chunk, IHDR first, known critical chunks
/// only) because a photo that fails a check is better reported than silently misread. The pixel
/// conversion follows PIL rather than the PNG specification's suggestions, since the models were
/// trained on what PIL produced:
/// - gray of 1, 2, 4 bits is scaled by 255, 85 and 17; 8-bit gray is copied to R, G and B;
/// - 16-bit gray becomes PIL's mode `I;16`, whose conversion to RGB clamps the value to 255
///   (so everything above 255 is white), not the high byte;
/// - 16-bit RGB, RGBA and gray+alpha keep the high byte of each sample;
/// - alpha and tRNS are dropped, as `convert("RGB")` drops them.

/// The eight signature bytes every PNG file starts with.
let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

/// What IHDR says about the image.
struct PNGHeader {
    var width: Int
    var height: Int
    var bitDepth: Int
    var colorType: Int
    var isInterlaced: Bool

    /// Samples per pixel for each color type: gray, -, RGB, palette, gray+alpha, -, RGBA.
    var channelCount: Int {
        switch colorType {
        case 2: return 3
        case 4: return 2
        case 6: return 4
        default: return 1
        }
    }

    var bitsPerPixel: Int { channelCount * bitDepth }

    /// The distance, in bytes, between a byte and the one the Sub/Average/Paeth filters use.
    var filterStride: Int { max(1, bitsPerPixel / 8) }

    /// Bytes in one scanline of `pixelCount` pixels, without the filter type byte.
    func rowByteCount(pixelCount: Int) -> Int { (pixelCount * bitsPerPixel + 7) / 8 }
}

/// The seven Adam7 passes: first column, first row, column step, row step.
private let adam7Passes: [(x: Int, y: Int, dx: Int, dy: Int)] = [
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
]

/// A rectangle of pixels stored as consecutive scanlines: the whole image, or one Adam7 pass.
private struct PNGSubimage {
    var firstX: Int, firstY: Int, stepX: Int, stepY: Int
    var width: Int, height: Int
}

func decodePNG(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> RGBImage {
    let chunks = try readPNGChunks(bytes)
    let header = chunks.header
    _ = try rgbByteCount(width: header.width, height: header.height)

    let subimages = pngSubimages(header)
    var expectedByteCount = 0
    for subimage in subimages {
        expectedByteCount += subimage.height * (1 + header.rowByteCount(pixelCount: subimage.width))
    }
    let filtered = try inflateZlib(chunks.imageData, expectedByteCount: expectedByteCount)

    var image = RGBImage(
        validatedWidth: header.width, height: header.height,
        pixels: [UInt8](repeating: 0, count: header.width * header.height * 3))
    var offset = 0
    var rowNumber = 0
    for subimage in subimages {
        let rowBytes = header.rowByteCount(pixelCount: subimage.width)
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var current = [UInt8](repeating: 0, count: rowBytes)
        for row in 0..<subimage.height {
            let filterType = Int(filtered[offset])
            for index in 0..<rowBytes { current[index] = filtered[offset + 1 + index] }
            try unfilter(&current, previous: previous, filterType: filterType, stride: header.filterStride, row: rowNumber)
            try storeRow(
                current, header: header, palette: chunks.palette, into: &image,
                y: subimage.firstY + row * subimage.stepY, firstX: subimage.firstX, stepX: subimage.stepX,
                count: subimage.width)
            swap(&previous, &current)
            offset += 1 + rowBytes
            rowNumber += 1
        }
    }
    return image
}

/// The whole image when not interlaced; otherwise the non-empty Adam7 passes, in file order.
private func pngSubimages(_ header: PNGHeader) -> [PNGSubimage] {
    guard header.isInterlaced else {
        return [PNGSubimage(firstX: 0, firstY: 0, stepX: 1, stepY: 1, width: header.width, height: header.height)]
    }
    var subimages = [PNGSubimage]()
    for pass in adam7Passes {
        let width = header.width > pass.x ? (header.width - pass.x + pass.dx - 1) / pass.dx : 0
        let height = header.height > pass.y ? (header.height - pass.y + pass.dy - 1) / pass.dy : 0
        // An empty pass has no scanlines and no filter bytes at all.
        if width > 0 && height > 0 {
            subimages.append(PNGSubimage(
                firstX: pass.x, firstY: pass.y, stepX: pass.dx, stepY: pass.dy, width: width, height: height))
        }
    }
    return subimages
}

/// The chunks that matter for decoding, checked for order and integrity.
private struct PNGChunks {
    var header: PNGHeader
    var palette: [UInt8]
    var imageData: [UInt8]
}

private func chunkName(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> String {
    var characters = [UInt8]()
    for index in offset..<min(offset + 4, bytes.count) {
        let byte = bytes[index]
        // Keep error messages printable even when the type bytes are garbage.
        characters.append((byte >= 0x20 && byte < 0x7F && byte != 0x27) ? byte : UInt8(ascii: "?"))
    }
    return String(decoding: characters, as: UTF8.self)
}

private func readBigEndian32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
        | UInt32(bytes[offset + 3])
}

private func readPNGChunks(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> PNGChunks {
    var offset = pngSignature.count
    var header: PNGHeader?
    var palette: [UInt8]?
    var imageData = [UInt8]()
    var sawImageData = false
    var imageDataEnded = false

    while true {
        let remaining = bytes.count - offset
        guard remaining > 0 else {
            if header == nil { throw .pngMissingIHDR(firstChunk: "") }
            throw .pngMissingChunk(chunk: "IEND")
        }
        guard remaining >= 12 else {
            // Too short for even an empty chunk: report whatever part of the type is there.
            throw .pngChunkTruncated(
                chunk: remaining > 4 ? chunkName(bytes, at: offset + 4) : "",
                declaredLength: remaining >= 4 ? Int(readBigEndian32(bytes, at: offset)) : 0,
                bytesAvailable: max(0, remaining - 8))
        }
        let length = Int(readBigEndian32(bytes, at: offset))
        let name = chunkName(bytes, at: offset + 4)
        // PNG caps chunk lengths at 2^31 - 1; check against the file before using it.
        guard length <= 0x7FFF_FFFF, length + 4 <= remaining - 8 else {
            throw .pngChunkTruncated(chunk: name, declaredLength: length, bytesAvailable: max(0, remaining - 8))
        }
        var crc = ChunkCRC32()
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 8 + length)]))
        let stored = readBigEndian32(bytes, at: offset + 8 + length)
        guard crc.value == stored else {
            throw .pngChunkCRCMismatch(chunk: name, stored: stored, computed: crc.value)
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<(offset + 8 + length)])
        // Bit 5 of the first type byte clear (upper case) marks a chunk needed to decode.
        let isCritical = bytes[offset + 4] & 0x20 == 0
        offset += 12 + length

        if header == nil && name != "IHDR" { throw .pngMissingIHDR(firstChunk: name) }
        if sawImageData && name != "IDAT" { imageDataEnded = true }
        switch name {
        case "IHDR":
            guard header == nil else { throw .pngChunkOutOfOrder(chunk: name) }
            header = try parseIHDR(data)
        case "PLTE":
            guard palette == nil, !sawImageData else { throw .pngChunkOutOfOrder(chunk: name) }
            guard length % 3 == 0, length >= 3, length <= 768 else {
                throw .pngInvalidChunkLength(chunk: name, length: length)
            }
            palette = Array(data)
        case "IDAT":
            // IDAT chunks must be consecutive; a split stream would be concatenated wrongly.
            guard !imageDataEnded else { throw .pngChunkOutOfOrder(chunk: name) }
            sawImageData = true
            imageData.append(contentsOf: data)
        case "IEND":
            guard let header else { throw .pngMissingIHDR(firstChunk: name) }
            guard sawImageData else { throw .pngMissingChunk(chunk: "IDAT") }
            if header.colorType == 3 && palette == nil { throw .pngMissingChunk(chunk: "PLTE") }
            return PNGChunks(header: header, palette: palette ?? [], imageData: imageData)
        default:
            // Ancillary chunks (tRNS, gAMA, text, ...) do not change PIL's RGB output.
            if isCritical { throw .pngUnknownCriticalChunk(chunk: name) }
        }
    }
}

private func parseIHDR(_ data: UnsafeRawBufferPointer) throws(ImageError) -> PNGHeader {
    guard data.count == 13 else { throw .pngInvalidChunkLength(chunk: "IHDR", length: data.count) }
    let width = Int(readBigEndian32(data, at: 0))
    let height = Int(readBigEndian32(data, at: 4))
    // Widths over 2^31 - 1 are illegal in PNG; they fail the size limit below either way.
    _ = try rgbByteCount(width: width, height: height)
    let bitDepth = Int(data[8])
    let colorType = Int(data[9])
    let allowedDepths: [Int]
    switch colorType {
    case 0: allowedDepths = [1, 2, 4, 8, 16]
    case 3: allowedDepths = [1, 2, 4, 8]
    case 2, 4, 6: allowedDepths = [8, 16]
    default: throw .pngUnsupportedColorType(colorType: colorType)
    }
    guard allowedDepths.contains(bitDepth) else {
        throw .pngUnsupportedBitDepth(bitDepth: bitDepth, colorType: colorType)
    }
    guard data[10] == 0 else { throw .pngUnsupportedCompressionMethod(method: Int(data[10])) }
    guard data[11] == 0 else { throw .pngUnsupportedFilterMethod(method: Int(data[11])) }
    guard data[12] <= 1 else { throw .pngUnsupportedInterlaceMethod(method: Int(data[12])) }
    return PNGHeader(width: width, height: height, bitDepth: bitDepth, colorType: colorType, isInterlaced: data[12] == 1)
}

/// Undoes one scanline's filter in place (PNG specification section 9).
private func unfilter(
    _ row: inout [UInt8], previous: [UInt8], filterType: Int, stride: Int, row rowNumber: Int
) throws(ImageError) {
    let count = row.count
    switch filterType {
    case 0:
        return
    case 1:
        guard count > stride else { return }
        for index in stride..<count { row[index] = row[index] &+ row[index - stride] }
    case 2:
        for index in 0..<count { row[index] = row[index] &+ previous[index] }
    case 3:
        for index in 0..<count {
            let left = index >= stride ? Int(row[index - stride]) : 0
            row[index] = row[index] &+ UInt8((left + Int(previous[index])) >> 1)
        }
    case 4:
        for index in 0..<count {
            let left = index >= stride ? Int(row[index - stride]) : 0
            let above = Int(previous[index])
            let upperLeft = index >= stride ? Int(previous[index - stride]) : 0
            row[index] = row[index] &+ UInt8(paethPredictor(left: left, above: above, upperLeft: upperLeft))
        }
    default:
        throw .pngInvalidFilterType(row: rowNumber, filterType: filterType)
    }
}

private func paethPredictor(left: Int, above: Int, upperLeft: Int) -> Int {
    let estimate = left + above - upperLeft
    let distanceLeft = abs(estimate - left)
    let distanceAbove = abs(estimate - above)
    let distanceUpperLeft = abs(estimate - upperLeft)
    if distanceLeft <= distanceAbove && distanceLeft <= distanceUpperLeft { return left }
    if distanceAbove <= distanceUpperLeft { return above }
    return upperLeft
}

/// Converts one unfiltered scanline to RGB and writes it at row `y`, columns
/// `firstX, firstX + stepX, ...` (`count` pixels).
private func storeRow(
    _ row: [UInt8], header: PNGHeader, palette: [UInt8], into image: inout RGBImage,
    y: Int, firstX: Int, stepX: Int, count: Int
) throws(ImageError) {
    let rowStart = y * image.width * 3
    let depth = header.bitDepth
    for column in 0..<count {
        let target = rowStart + (firstX + column * stepX) * 3
        var red: UInt8
        var green: UInt8
        var blue: UInt8
        switch (header.colorType, depth) {
        case (0, 16):
            // PIL reads 16-bit gray as mode I;16 and clamps it into 0...255 for RGB.
            let value = Int(row[column * 2]) << 8 | Int(row[column * 2 + 1])
            red = UInt8(min(value, 255))
            green = red
            blue = red
        case (0, _):
            let sample = packedSample(row, index: column, bitDepth: depth)
            red = UInt8(sample * (255 / ((1 << depth) - 1)))
            green = red
            blue = red
        case (3, _):
            let index = packedSample(row, index: column, bitDepth: depth)
            let paletteCount = palette.count / 3
            guard index < paletteCount else {
                throw .pngPaletteIndexOutOfRange(index: index, paletteCount: paletteCount)
            }
            red = palette[index * 3]
            green = palette[index * 3 + 1]
            blue = palette[index * 3 + 2]
        default:
            // RGB, gray+alpha and RGBA: the first byte of each sample is the 8-bit value or the
            // high byte of a 16-bit one; alpha is dropped.
            let sampleBytes = depth / 8
            let pixelStart = column * header.channelCount * sampleBytes
            red = row[pixelStart]
            if header.colorType == 4 {
                green = red
                blue = red
            } else {
                green = row[pixelStart + sampleBytes]
                blue = row[pixelStart + 2 * sampleBytes]
            }
        }
        image.pixels[target] = red
        image.pixels[target + 1] = green
        image.pixels[target + 2] = blue
    }
}

/// Sample `index` of a row packed at 1, 2, 4 or 8 bits per sample, most significant bits first.
private func packedSample(_ row: [UInt8], index: Int, bitDepth: Int) -> Int {
    if bitDepth == 8 { return Int(row[index]) }
    let bitOffset = index * bitDepth
    let byte = Int(row[bitOffset >> 3])
    let shift = 8 - bitDepth - (bitOffset & 7)
    return (byte >> shift) & ((1 << bitDepth) - 1)
}
