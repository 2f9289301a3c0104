import CLibc

/// Pixel formats of raw video frames, named as ffmpeg names them (`-f rawvideo -pix_fmt rgb24|gray`).
public enum RawPixelFormat: Sendable, Equatable {
    /// Three bytes per pixel, R G B.
    case rgb24
    /// One byte per pixel, replicated to R = G = B.
    case gray8

    /// `rgb24`, `gray` or `gray8`; nil for anything else.
    public init?(name: String) {
        switch name {
        case "rgb24": self = .rgb24
        case "gray", "gray8": self = .gray8
        default: return nil
        }
    }

    public var bytesPerPixel: Int { self == .rgb24 ? 3 : 1 }

    public var name: String { self == .rgb24 ? "rgb24" : "gray" }
}

/// A raw frame size as a user writes it: `WIDTHxHEIGHT`, e.g. `1280x720`, each side 1 to
/// `RGBImage.maximumSide`; nil for anything else (signs, spaces, zero, overflow).
public func parseFrameSize(_ text: String) -> (width: Int, height: Int)? {
    let parts = text.split(separator: "x", omittingEmptySubsequences: false)
    guard parts.count == 2 else { return nil }
    func side(_ part: Substring) -> Int? {
        guard !part.isEmpty, part.count <= 5, part.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let value = Int(part), (1...RGBImage.maximumSide).contains(value) else { return nil }
        return value
    }
    guard let width = side(parts[0]), let height = side(parts[1]) else { return nil }
    return (width, height)
}

/// Why a raw stream stopped before its end: one line naming the frame and the byte counts.
public enum StreamError: Error, CustomStringConvertible, Equatable {
    /// The stream ended inside frame `frame` (0-based): `got` of `expected` bytes.
    case shortFrame(frame: Int, got: Int, expected: Int)
    /// read(2) failed with `code` (errno) while reading frame `frame`.
    case readFailed(frame: Int, got: Int, expected: Int, code: Int32)

    public var description: String {
        switch self {
        case .shortFrame(let frame, let got, let expected):
            return "frame \(frame): the stream ended after \(got) of its \(expected) bytes (is the frame size or pixel format right?)"
        case .readFailed(let frame, let got, let expected, let code):
            return "frame \(frame): read failed after \(got) of its \(expected) bytes (errno \(code))"
        }
    }
}

/// Raw video frames of one size and pixel format, back to back and nothing else between them (what
/// `ffmpeg ... -f rawvideo -pix_fmt rgb24 -` writes), read from a file descriptor: standard input, a
/// FIFO or a file. Each frame lands in one `RGBImage` the caller keeps: after the first frame no
/// allocation happens, whatever the stream's length.
///
/// A stream that ends exactly between frames ends cleanly (`next` returns false); one that ends inside
/// a frame is an error naming the frame and how many of its bytes came, which is what a wrong `--raw`
/// size or pixel format usually looks like.
public struct RawFrameReader {
    public let width: Int
    public let height: Int
    public let format: RawPixelFormat
    /// Bytes of one frame in the stream.
    public let frameByteCount: Int
    /// Frames read so far.
    public private(set) var framesRead = 0
    private let fileDescriptor: Int32
    /// The gray frame before it is widened to RGB (empty for rgb24, read straight into the image).
    private var grayBytes: [UInt8] = []

    /// A reader of `width` x `height` frames in `format` from `fileDescriptor` (not closed here).
    /// Throws when the size is beyond what `RGBImage` takes.
    public init(fileDescriptor: Int32, width: Int, height: Int, format: RawPixelFormat) throws(ImageError) {
        let rgbBytes = try rgbByteCount(width: width, height: height)
        self.fileDescriptor = fileDescriptor
        self.width = width
        self.height = height
        self.format = format
        frameByteCount = rgbBytes / 3 * format.bytesPerPixel
        if format == .gray8 { grayBytes = [UInt8](repeating: 0, count: frameByteCount) }
    }

    /// Reads the next frame into `image` (made `width` x `height` on first use). Returns false when the
    /// stream ended before the frame's first byte.
    public mutating func next(into image: inout RGBImage) throws(StreamError) -> Bool {
        if image.width != width || image.height != height || image.pixels.count != width * height * 3 {
            image = RGBImage(validatedWidth: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
        }
        let read: (got: Int, errorCode: Int32?)
        let descriptor = fileDescriptor, count = frameByteCount
        switch format {
        case .rgb24:
            read = image.pixels.withUnsafeMutableBytes { Self.readFully(descriptor, into: $0.baseAddress!, count: count) }
        case .gray8:
            read = grayBytes.withUnsafeMutableBytes { Self.readFully(descriptor, into: $0.baseAddress!, count: count) }
            if read.got == frameByteCount {
                for index in 0..<frameByteCount {
                    let value = grayBytes[index]
                    image.pixels[3 * index] = value
                    image.pixels[3 * index + 1] = value
                    image.pixels[3 * index + 2] = value
                }
            }
        }
        let got = read.got
        if let code = read.errorCode {
            throw .readFailed(frame: framesRead, got: got, expected: frameByteCount, code: code)
        }
        if got == 0 { return false }
        guard got == frameByteCount else { throw .shortFrame(frame: framesRead, got: got, expected: frameByteCount) }
        framesRead += 1
        return true
    }

    /// Reads until `count` bytes, the end of the stream or an error (a pipe hands data over in pieces;
    /// EINTR is retried). Returns the bytes read and errno when read(2) failed.
    private static func readFully(_ fileDescriptor: Int32, into destination: UnsafeMutableRawPointer,
                                  count: Int) -> (got: Int, errorCode: Int32?) {
        var got = 0
        while got < count {
            let result = CLibc.read(fileDescriptor, destination + got, count - got)
            if result > 0 {
                got += result
            } else if result == 0 {
                break
            } else {
                let code = edgedetr_errno()
                if code == EINTR { continue }
                return (got, code)
            }
        }
        return (got, nil)
    }
}
