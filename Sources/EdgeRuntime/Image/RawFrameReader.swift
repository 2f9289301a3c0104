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
    /// The Y4M stream's header cannot be used (the reason).
    case badY4M(String)
    /// Frame `frame` of a Y4M stream does not start with a FRAME line (the reason).
    case badFrameHeader(frame: Int, String)
    /// No byte came for `milliseconds` (`--stall-timeout`) while reading frame `frame`.
    case stalled(frame: Int, got: Int, expected: Int, milliseconds: Int)

    public var description: String {
        switch self {
        case .shortFrame(let frame, let got, let expected):
            return "frame \(frame): the stream ended after \(got) of its \(expected) bytes (is the frame size or pixel format right?)"
        case .readFailed(let frame, let got, let expected, let code):
            return "frame \(frame): read failed after \(got) of its \(expected) bytes (errno \(code))"
        case .badY4M(let reason):
            return "Y4M header: \(reason)"
        case .badFrameHeader(let frame, let reason):
            return "frame \(frame): \(reason)"
        case .stalled(let frame, let got, let expected, let milliseconds):
            return "frame \(frame): no data for \(printfFixed(Float(milliseconds) / 1000, decimals: 1)) s after \(got) of its "
                + "\(expected) bytes (the input stalled; --stall-timeout)"
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
    /// Bytes of one frame in the stream (for Y4M, its planes after the FRAME line).
    public private(set) var frameByteCount: Int
    /// Frames read so far.
    public private(set) var framesRead = 0
    private let fileDescriptor: Int32
    /// The gray frame or the YUV planes before they become RGB (empty for rgb24, read straight into
    /// the image).
    private var grayBytes: [UInt8] = []
    /// A Y4M stream's header: each frame is a FRAME line and these planes.
    public private(set) var y4m: Y4MHeader?
    /// Milliseconds without a byte after which the stream counts as stalled (`StreamError.stalled`);
    /// nil waits for ever (a camera may pause; a file never stalls).
    public var stallTimeout: Int?

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

    /// A reader of the Y4M stream on `fileDescriptor`: reads and checks its header line now (waiting
    /// at most `stallTimeout` milliseconds for each byte).
    public static func y4m(fileDescriptor: Int32, stallTimeout: Int? = nil) throws(StreamError) -> RawFrameReader {
        guard let line = try readLine(fileDescriptor, frame: 0, timeout: stallTimeout) else { throw .badY4M("the stream is empty") }
        let header = try Y4MHeader(line: line)
        var reader: RawFrameReader
        do { reader = try RawFrameReader(fileDescriptor: fileDescriptor, width: header.width, height: header.height, format: .rgb24) }
        catch { throw .badY4M(error.description) }
        reader.y4m = header
        reader.stallTimeout = stallTimeout
        reader.frameByteCount = header.frameByteCount
        reader.grayBytes = [UInt8](repeating: 0, count: header.frameByteCount)
        return reader
    }

    /// One line of a Y4M stream without its newline, read a byte at a time (the frame data follows it
    /// directly); nil at the end of the stream before any byte. At most `Y4MHeader.maximumLineLength`.
    private static func readLine(_ fileDescriptor: Int32, frame: Int, timeout: Int?) throws(StreamError) -> [UInt8]? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let read = withUnsafeMutableBytes(of: &byte) { readFully(fileDescriptor, into: $0.baseAddress!, count: 1, timeout: timeout) }
            try read.check(frame: frame, expected: line.count + 1, timeout: timeout)
            if read.got == 0 {
                if line.isEmpty { return nil }
                throw .badFrameHeader(frame: frame, "the stream ended inside a header line")
            }
            if byte == UInt8(ascii: "\n") { return line }
            guard line.count < Y4MHeader.maximumLineLength else {
                throw .badFrameHeader(frame: frame, "a header line is longer than \(Y4MHeader.maximumLineLength) bytes")
            }
            line.append(byte)
        }
    }

    /// Reads the next frame into `image` (made `width` x `height` on first use). Returns false when the
    /// stream ended before the frame's first byte.
    public mutating func next(into image: inout RGBImage) throws(StreamError) -> Bool {
        if image.width != width || image.height != height || image.pixels.count != width * height * 3 {
            image = RGBImage(validatedWidth: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
        }
        if let y4m { return try nextY4M(y4m, into: &image) }
        let read: ReadResult
        let descriptor = fileDescriptor, count = frameByteCount, timeout = stallTimeout
        switch format {
        case .rgb24:
            read = image.pixels.withUnsafeMutableBytes { Self.readFully(descriptor, into: $0.baseAddress!, count: count, timeout: timeout) }
        case .gray8:
            read = grayBytes.withUnsafeMutableBytes { Self.readFully(descriptor, into: $0.baseAddress!, count: count, timeout: timeout) }
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
        try read.check(frame: framesRead, expected: frameByteCount, timeout: stallTimeout)
        if got == 0 { return false }
        guard got == frameByteCount else { throw .shortFrame(frame: framesRead, got: got, expected: frameByteCount) }
        framesRead += 1
        return true
    }

    /// A Y4M frame: its FRAME line, then its planes converted to RGB.
    private mutating func nextY4M(_ header: Y4MHeader, into image: inout RGBImage) throws(StreamError) -> Bool {
        guard let line = try Self.readLine(fileDescriptor, frame: framesRead, timeout: stallTimeout) else { return false }
        guard line.count >= 5, Array(line.prefix(5)) == Array("FRAME".utf8), line.count == 5 || line[5] == UInt8(ascii: " ") else {
            throw .badFrameHeader(frame: framesRead, "expected a FRAME line, got '\(String(decoding: line.prefix(16), as: UTF8.self))' "
                                  + "(is the previous frame's size right?)")
        }
        let descriptor = fileDescriptor, count = frameByteCount, timeout = stallTimeout
        let read = grayBytes.withUnsafeMutableBytes { Self.readFully(descriptor, into: $0.baseAddress!, count: count, timeout: timeout) }
        try read.check(frame: framesRead, expected: count, timeout: timeout)
        guard read.got == count else { throw .shortFrame(frame: framesRead, got: read.got, expected: count) }
        grayBytes.withUnsafeBytes { planes in
            image.pixels.withUnsafeMutableBytes { pixels in header.convert(planes: planes, into: pixels) }
        }
        framesRead += 1
        return true
    }

    /// Reads until `count` bytes, the end of the stream or an error (a pipe hands data over in pieces;
    /// EINTR is retried). Returns the bytes read and errno when read(2) failed.
    private static func readFully(_ fileDescriptor: Int32, into destination: UnsafeMutableRawPointer,
                                  count: Int, timeout: Int?) -> ReadResult {
        var got = 0
        while got < count {
            if let timeout {
                var request = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
                let ready = poll(&request, 1, Int32(clamping: timeout))
                if ready == 0 { return ReadResult(got: got, errorCode: nil, stalled: true) }
                if ready < 0 {
                    let code = edgedetr_errno()
                    if code == EINTR { continue }
                    return ReadResult(got: got, errorCode: code)
                }
            }
            let result = CLibc.read(fileDescriptor, destination + got, count - got)
            if result > 0 {
                got += result
            } else if result == 0 {
                break
            } else {
                let code = edgedetr_errno()
                if code == EINTR { continue }
                return ReadResult(got: got, errorCode: code)
            }
        }
        return ReadResult(got: got, errorCode: nil)
    }

    /// What one `readFully` did: the bytes read, and errno or a stall if it stopped early for them.
    private struct ReadResult {
        var got: Int
        var errorCode: Int32?
        var stalled = false

        /// Throws the read's failure (an error or a stall) for frame `frame` of `expected` bytes.
        func check(frame: Int, expected: Int, timeout: Int?) throws(StreamError) {
            if let errorCode { throw .readFailed(frame: frame, got: got, expected: expected, code: errorCode) }
            if stalled { throw .stalled(frame: frame, got: got, expected: expected, milliseconds: timeout ?? 0) }
        }
    }
}
