/// The entry point for turning a user's image file into RGB8 pixels.

/// Decodes a PNG, binary PPM/PGM or baseline JPEG file, chosen by its leading bytes (never by the
/// file name), to the RGB8 pixels PIL's `Image.open(path).convert("RGB")` produces.
public func decodeImage(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> RGBImage {
    guard bytes.count > 0 else { throw .emptyInput }
    if bytes.count >= pngSignature.count && bytes.prefix(pngSignature.count).elementsEqual(pngSignature) {
        return try decodePNG(bytes)
    }
    if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
        return try decodeJPEG(bytes)
    }
    if bytes.count >= 2 && bytes[0] == UInt8(ascii: "P") && isNetpbmVariant(bytes[1]) {
        return try decodePPM(bytes)
    }
    throw .unrecognizedFormat(leadingBytes: Array(bytes.prefix(4)))
}

/// Decodes an image held in an array; see `decodeImage(_: UnsafeRawBufferPointer)`.
public func decodeImage(_ bytes: [UInt8]) throws(ImageError) -> RGBImage {
    let result: Result<RGBImage, ImageError> = bytes.withUnsafeBytes { buffer in
        do throws(ImageError) {
            return .success(try decodeImage(buffer))
        } catch {
            return .failure(error)
        }
    }
    return try result.get()
}

/// The second byte of every Netpbm magic number (P1...P7, Pf, PF), so that the unsupported ones
/// get a message naming them rather than "not an image".
private func isNetpbmVariant(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "1") && byte <= UInt8(ascii: "7")) || byte == UInt8(ascii: "f") || byte == UInt8(ascii: "F")
}
