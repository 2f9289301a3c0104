/// PNG writing for `--draw` output: 8-bit RGB, no interlace, filter type 0 on every row, and the
/// zlib stream made of stored (uncompressed) deflate blocks.
///
/// Stored blocks keep the encoder short and obviously correct; the files are larger than they
/// need to be (about the raw pixel size), which is acceptable for debug pictures.

/// Encodes `image` as a PNG file.
///
/// An image whose fields disagree (possible only by mutating them after the validating
/// initializer, see `RGBImage.isConsistent`) is still written without crashing: its dimensions are
/// clamped into the decoder's limits and pixels the buffer lacks are written black.
public func encodePNG(_ image: RGBImage) -> [UInt8] {
    let width = min(max(image.width, 1), RGBImage.maximumSide)
    var height = min(max(image.height, 1), RGBImage.maximumSide)
    height = min(height, RGBImage.maximumPixelCount / width)
    let rowBytes = width * 3

    // Filtered image data: a 0 filter byte and the row's RGB bytes, for every row.
    var raw = [UInt8](repeating: 0, count: height * (1 + rowBytes))
    let sourceRowBytes = max(image.width, 0) * 3
    for y in 0..<height {
        let target = y * (1 + rowBytes) + 1
        let source = y * sourceRowBytes
        let copyCount = min(rowBytes, sourceRowBytes, max(0, image.pixels.count - source))
        for index in 0..<max(copyCount, 0) { raw[target + index] = image.pixels[source + index] }
    }

    var file = pngSignature
    var header = [UInt8]()
    appendBigEndian32(UInt32(width), to: &header)
    appendBigEndian32(UInt32(height), to: &header)
    header += [8, 2, 0, 0, 0]  // bit depth 8, color type RGB, deflate, adaptive filters, no interlace
    appendChunk("IHDR", header, to: &file)
    appendChunk("IDAT", zlibStored(raw), to: &file)
    appendChunk("IEND", [], to: &file)
    return file
}

/// Wraps `data` in a zlib stream of stored deflate blocks (at most 65535 bytes each).
private func zlibStored(_ data: [UInt8]) -> [UInt8] {
    var stream: [UInt8] = [0x78, 0x01]  // deflate, 32 KiB window, fastest level; 0x7801 % 31 == 0
    stream.reserveCapacity(data.count + data.count / 65535 * 5 + 16)
    var start = 0
    repeat {
        let length = min(65535, data.count - start)
        let isFinal = start + length == data.count
        stream.append(isFinal ? 1 : 0)
        stream.append(UInt8(length & 0xFF))
        stream.append(UInt8(length >> 8))
        stream.append(UInt8(~length & 0xFF))
        stream.append(UInt8((~length >> 8) & 0xFF))
        stream.append(contentsOf: data[start..<(start + length)])
        start += length
    } while start < data.count
    var adler = ZlibAdler32()
    data.withUnsafeBufferPointer { adler.update($0) }
    appendBigEndian32(adler.value, to: &stream)
    return stream
}

private func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
    appendBigEndian32(UInt32(data.count), to: &file)
    let typeBytes = Array(type.utf8)
    var crc = ChunkCRC32()
    crc.update(typeBytes)
    crc.update(data)
    file += typeBytes
    file += data
    appendBigEndian32(crc.value, to: &file)
}

private func appendBigEndian32(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes.append(UInt8(value >> 24))
    bytes.append(UInt8((value >> 16) & 0xFF))
    bytes.append(UInt8((value >> 8) & 0xFF))
    bytes.append(UInt8(value & 0xFF))
}
