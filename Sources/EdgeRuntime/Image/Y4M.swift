/// YUV4MPEG2 (Y4M), the self-describing raw video ffmpeg writes with `-f yuv4mpegpipe`: one header line
/// (`YUV4MPEG2 W1280 H720 F30:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED`), then per frame a `FRAME` line and
/// the planes Y, U, V. `RawFrameReader.y4m(fileDescriptor:)` reads it; this file parses the header and
/// converts a frame's planes to RGB.

/// What a Y4M header says: the frame size, the chroma layout and the value range.
public struct Y4MHeader: Equatable, Sendable {
    /// How the chroma planes are subsampled (Y4M's `C` parameter).
    public enum Chroma: Equatable, Sendable {
        /// `C420jpeg`, `C420paldv`, `C420mpeg2`, `C420` (and no `C`): half width, half height.
        case yuv420
        /// `C422`: half width, full height.
        case yuv422
        /// `C444`: full size.
        case yuv444
        /// `Cmono`: no chroma planes.
        case mono
    }

    public var width: Int
    public var height: Int
    public var chroma: Chroma
    /// `XCOLORRANGE=FULL`: Y and chroma in 0...255 (JPEG); else limited, Y in 16...235 (MPEG, the default).
    public var fullRange: Bool

    /// The longest header line or FRAME line accepted (ffmpeg's are under 100 bytes).
    public static let maximumLineLength = 1024

    /// Parses a header line (without its newline). Throws a one-line reason otherwise: not Y4M, a
    /// missing or bad size, an unsupported colourspace.
    public init(line: [UInt8]) throws(StreamError) {
        let text = String(decoding: line, as: UTF8.self)
        let tokens = text.split(separator: " ", omittingEmptySubsequences: true)
        guard tokens.first == "YUV4MPEG2" else { throw .badY4M("not a YUV4MPEG2 stream (the header starts with '\(text.prefix(12))')") }
        var width: Int?, height: Int?
        var chroma = Chroma.yuv420
        var fullRange = false
        for token in tokens.dropFirst() {
            let value = token.dropFirst()
            switch token.first {
            case "W": width = Self.side(value)
                guard width != nil else { throw .badY4M("frame width '\(value)' is not 1 to \(RGBImage.maximumSide)") }
            case "H": height = Self.side(value)
                guard height != nil else { throw .badY4M("frame height '\(value)' is not 1 to \(RGBImage.maximumSide)") }
            case "C":
                switch value {
                case "420jpeg", "420paldv", "420mpeg2", "420": chroma = .yuv420
                case "422": chroma = .yuv422
                case "444": chroma = .yuv444
                case "mono": chroma = .mono
                default:
                    throw .badY4M("colourspace C\(value) is not supported (C420jpeg, C420paldv, C420mpeg2, C420, C422, C444, Cmono; "
                                  + "ffmpeg -pix_fmt yuv420p writes C420jpeg)")
                }
            case "X":
                if value == "COLORRANGE=FULL" { fullRange = true } else if value == "COLORRANGE=LIMITED" { fullRange = false }
            default:
                break  // F (frame rate), I (interlacing), A (aspect) and other X fields do not change the pixels.
            }
        }
        guard let width, let height else { throw .badY4M("the header has no \(width == nil ? "W (width)" : "H (height)")") }
        guard (try? rgbByteCount(width: width, height: height)) != nil else {
            throw .badY4M("frames of \(width)x\(height) exceed \(RGBImage.maximumPixelCount) pixels")
        }
        self.width = width
        self.height = height
        self.chroma = chroma
        self.fullRange = fullRange
    }

    /// Width and height of each chroma plane (zero for mono).
    public var chromaSize: (width: Int, height: Int) {
        switch chroma {
        case .yuv420: return ((width + 1) / 2, (height + 1) / 2)
        case .yuv422: return ((width + 1) / 2, height)
        case .yuv444: return (width, height)
        case .mono: return (0, 0)
        }
    }

    /// Bytes of one frame's planes.
    public var frameByteCount: Int {
        let chroma = chromaSize
        return width * height + 2 * chroma.width * chroma.height
    }

    private static func side(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let value = Int(text), (1...RGBImage.maximumSide).contains(value) else { return nil }
        return value
    }

    /// Converts one frame's planes (`frameByteCount` bytes) to RGB in `pixels` (width * height * 3):
    /// BT.601, as ffmpeg's default conversion to rgb24 for video without colour tags; each pixel takes the
    /// chroma sample covering it (no interpolation); rounded to nearest and clamped.
    public func convert(planes: UnsafeRawBufferPointer, into pixels: UnsafeMutableRawBufferPointer) {
        let luma = planes.bindMemory(to: UInt8.self)
        let output = pixels.bindMemory(to: UInt8.self)
        let chroma = chromaSize
        let uStart = width * height, vStart = uStart + chroma.width * chroma.height
        let (yScale, yOffset): (Float, Float) = fullRange ? (1, 0) : (255 / 219, 16)
        let uvScale: Float = fullRange ? 1 : 255 / 224
        @inline(__always) func clamp(_ value: Float) -> UInt8 { UInt8(min(max(value + 0.5, 0), 255)) }
        for row in 0..<height {
            let chromaRow = chroma.height == height ? row : row / 2
            for column in 0..<width {
                let y = (Float(luma[row * width + column]) - yOffset) * yScale
                var red = y, green = y, blue = y
                if chroma.width > 0 {
                    let chromaColumn = chroma.width == width ? column : column / 2
                    let u = (Float(luma[uStart + chromaRow * chroma.width + chromaColumn]) - 128) * uvScale
                    let v = (Float(luma[vStart + chromaRow * chroma.width + chromaColumn]) - 128) * uvScale
                    red = y + 1.402 * v
                    green = y - 0.344136 * u - 0.714136 * v
                    blue = y + 1.772 * u
                }
                let offset = 3 * (row * width + column)
                output[offset] = clamp(red)
                output[offset + 1] = clamp(green)
                output[offset + 2] = clamp(blue)
            }
        }
    }
}
