/// An 8-bit RGB picture, the one pixel format the rest of EdgeDETR sees.
///
/// Pixels are interleaved (R, G, B), rows top to bottom, no padding between rows, so
/// `pixels.count == width * height * 3`. Every decoder in this folder produces this layout, and it
/// is what Hugging Face's pipeline gets from PIL's `Image.open(path).convert("RGB")`.
public struct RGBImage: Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    /// The largest side any decoder accepts; larger images are refused before allocating.
    public static let maximumSide = 16384
    /// The largest pixel count any decoder accepts (2^27, 384 MiB of RGB).
    public static let maximumPixelCount = 1 << 27

    /// Wraps `pixels` after checking that the dimensions are within limits and that the buffer
    /// holds exactly `width * height * 3` bytes.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImageError) {
        let byteCount = try rgbByteCount(width: width, height: height)
        guard pixels.count == byteCount else {
            throw .pixelCountMismatch(width: width, height: height, byteCount: pixels.count)
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image of the given size.
    public init(width: Int, height: Int) throws(ImageError) {
        let byteCount = try rgbByteCount(width: width, height: height)
        self.width = width
        self.height = height
        self.pixels = [UInt8](repeating: 0, count: byteCount)
    }

    /// Builds an image from parts the caller has already validated.
    init(validatedWidth width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Whether the public fields still agree with each other. They can stop agreeing only when a
    /// caller mutates them after the validating initializer; drawing and encoding check this so
    /// that such an image is never read out of bounds.
    public var isConsistent: Bool {
        guard let byteCount = try? rgbByteCount(width: width, height: height) else { return false }
        return pixels.count == byteCount
    }
}

/// Checks `width` and `height` against the limits and returns `width * height * 3`.
///
/// Every decoder calls this as soon as it knows the dimensions, before allocating anything that
/// depends on them, so a header that claims 100000x100000 fails fast instead of exhausting memory.
func rgbByteCount(width: Int, height: Int) throws(ImageError) -> Int {
    guard width >= 1, height >= 1 else { throw .invalidDimensions(width: width, height: height) }
    guard width <= RGBImage.maximumSide, height <= RGBImage.maximumSide else {
        throw .imageTooLarge(width: width, height: height)
    }
    let (pixelCount, overflow) = width.multipliedReportingOverflow(by: height)
    guard !overflow, pixelCount <= RGBImage.maximumPixelCount else {
        throw .imageTooLarge(width: width, height: height)
    }
    return pixelCount * 3
}
