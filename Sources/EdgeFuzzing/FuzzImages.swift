import EdgeRuntime

/// Image decoders, then preprocessing to a small model input (so odd shapes reach the resize: a
/// 2100x8 image once resized to a height of 0).
enum ImageFuzzing {
    static let preprocess = PreprocessConfig(resize: .shortestEdge(shortest: 32, longest: 64), rescaleFactor: 1.0 / 255.0,
                                             mean: [0.485, 0.456, 0.406], standardDeviation: [0.229, 0.224, 0.225])

    static func run(_ bytes: UnsafeRawBufferPointer, magic: [UInt8]) {
        var input = magic
        if bytes.count >= magic.count, bytes.prefix(magic.count).elementsEqual(magic) {
            input = Array(bytes)
        } else {
            input.append(contentsOf: bytes)
        }
        guard let image = try? decodeImage(input) else { return }
        precondition(image.pixels.count == image.width * image.height * 3, "decoder returned \(image.pixels.count) bytes for \(image.width)x\(image.height)")
        // Preprocessing cost grows with the pixels; a fuzz input has no business being a photograph.
        guard image.width * image.height <= 1 << 20 else { return }
        _ = try? Preprocess.pixelValues(image, config: preprocess)
    }
}
