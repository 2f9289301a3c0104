import CLibc

/// How transformers' DETR-family image processors turn an RGB8 image into `pixel_values`; read from
/// a checkpoint's preprocessor_config.json (by Quantize) and stored in the model file.
public struct PreprocessConfig: Equatable, Sendable {
    public enum Resize: Equatable, Sendable {
        /// Keep aspect ratio: shortest edge to `shortest`, unless the longest would pass `longest`.
        case shortestEdge(shortest: Int, longest: Int?)
        /// Exactly this size (aspect ratio not kept).
        case fixed(height: Int, width: Int)
        /// Keep aspect ratio, fit inside `height` x `width`.
        case maxHeightWidth(height: Int, width: Int)
        case none
    }

    public var resize: Resize
    public var rescaleFactor: Double?
    public var mean: [Float]?
    public var standardDeviation: [Float]?

    public init(resize: Resize, rescaleFactor: Double?, mean: [Float]?, standardDeviation: [Float]?) {
        self.resize = resize
        self.rescaleFactor = rescaleFactor
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    /// Ranges of the rescale factor, mean and standard deviation that model files and
    /// preprocessor_config.json may hold: wide enough for any real processor (rescale 1/255 or 1,
    /// statistics of 0...1 or 0...255 pixels), narrow enough that every normalized pixel,
    /// `(pixel * rescale - mean) / std`, is a finite Float (a mean of 1e300 would run as infinity).
    public static let rescaleRange: ClosedRange<Double> = 1e-12...1
    public static let meanRange: ClosedRange<Double> = -10000...10000
    public static let standardDeviationRange: ClosedRange<Double> = 1e-6...10000

    /// transformers' defaults for DETR-family processors: shortest edge 800, longest 1333, ImageNet statistics.
    public static let transformersDefault = PreprocessConfig(
        resize: .shortestEdge(shortest: 800, longest: 1333), rescaleFactor: 1.0 / 255.0,
        mean: [0.485, 0.456, 0.406], standardDeviation: [0.229, 0.224, 0.225])

    /// Python's `int(x)` for a size: truncation, with non-finite and absurd values (from a side of 0)
    /// mapped to 0 and clamped instead of trapping; callers check the result's range.
    private func pixelCount(_ value: Double) -> Int {
        guard value.isFinite else { return 0 }
        return Int(min(max(value, -1e9), 1e9))
    }

    /// The model input size for an image of `height` x `width`, as transformers computes it.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        switch resize {
        case .none:
            return (height, width)
        case .fixed(let h, let w):
            return (h, w)
        case .maxHeightWidth(let maxHeight, let maxWidth):
            let scale = min(Double(maxHeight) / Double(height), Double(maxWidth) / Double(width))
            return (pixelCount(Double(height) * scale), pixelCount(Double(width) * scale))
        case .shortestEdge(let shortest, let longest):
            // transformers' get_size_with_aspect_ratio, in Python's double arithmetic.
            var size = shortest
            var rawSize: Double? = nil
            if let longest {
                let minSide = Double(min(height, width))
                let maxSide = Double(max(height, width))
                if maxSide / minSide * Double(size) > Double(longest) {
                    rawSize = Double(longest) * minSide / maxSide
                    size = pixelCount(rawSize!.rounded(.toNearestOrEven))
                }
            }
            if (height <= width && height == size) || (width <= height && width == size) {
                return (height, width)
            }
            if width < height {
                let outHeight = pixelCount((rawSize ?? Double(size)) * Double(height) / Double(width))
                return (outHeight, size)
            }
            let outWidth = pixelCount((rawSize ?? Double(size)) * Double(width) / Double(height))
            return (size, outWidth)
        }
    }
}

public enum PreprocessError: Error, Equatable, CustomStringConvertible {
    case imageTooSmall(width: Int, height: Int, minimum: Int)
    case inputSizeMismatch(expectedHeight: Int, expectedWidth: Int, height: Int, width: Int)
    /// The resize would make a side 0 (an extreme aspect ratio) or larger than the input limit.
    case resizeOutOfRange(width: Int, height: Int, resizedHeight: Int, resizedWidth: Int)

    public var description: String {
        switch self {
        case .resizeOutOfRange(let width, let height, let resizedHeight, let resizedWidth):
            return "image \(width)x\(height) px resizes to \(resizedWidth)x\(resizedHeight) px for this model; each side must be 1 to \(RuntimeLimits.maximumInputSide) (is its aspect ratio extreme?)"
        case .imageTooSmall(let width, let height, let minimum):
            return "image is \(width)x\(height) px; EdgeDETR needs at least \(minimum)x\(minimum) px"
        case .inputSizeMismatch(let expectedHeight, let expectedWidth, let height, let width):
            return "image resizes to \(height)x\(width) but the model was built for \(expectedHeight)x\(expectedWidth)"
        }
    }
}

public enum Preprocess {
    /// Smaller images carry no detectable object and make the resize degenerate.
    public static let minimumSide = 8

    /// Resize (PIL bilinear, as transformers' PIL processors do), rescale and normalize: `[H, W, 3]` float.
    public static func pixelValues(_ image: RGBImage, config: PreprocessConfig) throws(PreprocessError) -> (values: [Float], height: Int, width: Int) {
        guard image.width >= minimumSide, image.height >= minimumSide else {
            throw .imageTooSmall(width: image.width, height: image.height, minimum: minimumSide)
        }
        let size = try checkedOutputSize(image, config: config)
        let resized = (size.height == image.height && size.width == image.width)
            ? image : resizeBilinear(image, height: size.height, width: size.width)
        var values = [Float](repeating: 0, count: resized.pixels.count)
        let mean = config.mean ?? [0, 0, 0]
        let deviation = config.standardDeviation ?? [1, 1, 1]
        let normalize = config.mean != nil && config.standardDeviation != nil
        for index in 0..<resized.pixels.count {
            var value: Float
            if let factor = config.rescaleFactor {
                value = Float(Double(resized.pixels[index]) * factor)
            } else {
                value = Float(resized.pixels[index])
            }
            if normalize {
                let channel = index % 3
                value = (value - mean[channel]) / deviation[channel]
            }
            values[index] = value
        }
        return (values, size.height, size.width)
    }

    /// The model input size `config` makes of `image`, checked before anything is resized: a very
    /// thin image can resize to a side of 0 (transformers rounds 0.49 px down), which Pillow refuses.
    public static func checkedOutputSize(_ image: RGBImage, config: PreprocessConfig) throws(PreprocessError) -> (height: Int, width: Int) {
        guard image.width >= minimumSide, image.height >= minimumSide else {
            throw .imageTooSmall(width: image.width, height: image.height, minimum: minimumSide)
        }
        let size = config.outputSize(height: image.height, width: image.width)
        let sides = 1...RuntimeLimits.maximumInputSide
        guard sides.contains(size.height), sides.contains(size.width) else {
            throw .resizeOutOfRange(width: image.width, height: image.height, resizedHeight: size.height, resizedWidth: size.width)
        }
        return size
    }

    /// Pillow's `Image.resize(..., BILINEAR)` for 8-bit RGB, bit for bit: a separable triangle filter
    /// widened by the downscale factor (antialiasing), coefficients in 22-bit fixed point, two passes
    /// through an 8-bit intermediate. Pillow 13 runs the vertical pass first when the height shrinks
    /// by more than twice as many pixels as the width, else the horizontal pass first (on only the
    /// source rows the vertical pass will read); the order changes the rounding, so it is kept.
    public static func resizeBilinear(_ image: RGBImage, height: Int, width: Int) -> RGBImage {
        let horizontal = coefficients(inputSize: image.width, outputSize: width)
        let vertical = coefficients(inputSize: image.height, outputSize: height)
        let shrink = image.height - height
        let horizontalFirst = !(shrink > 0 && shrink > (image.width - width) * 2)
        if horizontalFirst {
            var source = image
            var rowOffset = 0
            if width != image.width {
                let first = vertical.bounds[0]
                let last = vertical.bounds[(height - 1) * 2] + vertical.bounds[(height - 1) * 2 + 1]
                source = resampleRows(image, rows: first..<last, width: width, coefficients: horizontal)
                rowOffset = first
            }
            guard height != image.height else { return source }
            return resampleColumns(source, height: height, rowOffset: rowOffset, coefficients: vertical)
        }
        let shorter = resampleColumns(image, height: height, rowOffset: 0, coefficients: vertical)
        guard width != image.width else { return shorter }
        return resampleRows(shorter, rows: 0..<height, width: width, coefficients: horizontal)
    }

    private typealias Coefficients = (bounds: [Int], weights: [Int32], kernelSize: Int)

    /// Horizontal pass over `rows` of the source: each output pixel a fixed-point sum along its row.
    private static func resampleRows(_ image: RGBImage, rows: Range<Int>, width: Int, coefficients: Coefficients) -> RGBImage {
        var output = [UInt8](repeating: 0, count: width * rows.count * 3)
        for (y, sourceRow) in rows.enumerated() {
            for x in 0..<width {
                let start = coefficients.bounds[x * 2]
                let count = coefficients.bounds[x * 2 + 1]
                for channel in 0..<3 {
                    var sum: Int32 = 1 << (precisionBits - 1)
                    for k in 0..<count {
                        let pixel = Int32(image.pixels[(sourceRow * image.width + start + k) * 3 + channel])
                        sum &+= pixel &* coefficients.weights[x * coefficients.kernelSize + k]
                    }
                    output[(y * width + x) * 3 + channel] = clip8(sum)
                }
            }
        }
        return RGBImage(validatedWidth: width, height: rows.count, pixels: output)
    }

    /// Vertical pass: each output pixel a fixed-point sum down its column; source row = bound - rowOffset.
    private static func resampleColumns(_ image: RGBImage, height: Int, rowOffset: Int, coefficients: Coefficients) -> RGBImage {
        let width = image.width
        var output = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let start = coefficients.bounds[y * 2] - rowOffset
            let count = coefficients.bounds[y * 2 + 1]
            for x in 0..<width {
                for channel in 0..<3 {
                    var sum: Int32 = 1 << (precisionBits - 1)
                    for k in 0..<count {
                        let pixel = Int32(image.pixels[((start + k) * width + x) * 3 + channel])
                        sum &+= pixel &* coefficients.weights[y * coefficients.kernelSize + k]
                    }
                    output[(y * width + x) * 3 + channel] = clip8(sum)
                }
            }
        }
        return RGBImage(validatedWidth: width, height: height, pixels: output)
    }

    private static let precisionBits: Int32 = 32 - 8 - 2

    @inline(__always) private static func clip8(_ value: Int32) -> UInt8 {
        let shifted = value >> precisionBits
        return UInt8(clamping: shifted)
    }

    /// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear (triangle) filter.
    private static func coefficients(inputSize: Int, outputSize: Int) -> Coefficients {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outputSize * 2)
        var weights = [Int32](repeating: 0, count: outputSize * kernelSize)
        var kernel = [Double](repeating: 0, count: kernelSize)
        for output in 0..<outputSize {
            let centre = (Double(output) + 0.5) * scale
            let inverse = 1.0 / filterScale
            var start = Int(centre - support + 0.5)
            if start < 0 { start = 0 }
            var end = Int(centre + support + 0.5)
            if end > inputSize { end = inputSize }
            let count = end - start
            var total = 0.0
            for k in 0..<count {
                var t = (Double(k + start) - centre + 0.5) * inverse
                if t < 0 { t = -t }
                let w = t < 1 ? 1 - t : 0
                kernel[k] = w
                total += w
            }
            for k in 0..<kernelSize {
                var w = k < count ? kernel[k] : 0
                if k < count && total != 0 { w /= total }
                let fixed = w * Double(1 << precisionBits)
                weights[output * kernelSize + k] = Int32(w < 0 ? -0.5 + fixed : 0.5 + fixed)
            }
            bounds[output * 2] = start
            bounds[output * 2 + 1] = count
        }
        return (bounds, weights, kernelSize)
    }
}
