import EdgeRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Frame streams as `detect --raw/--y4m` and `edgedetr-run` read them from a pipe: the input is put in
/// an unlinked temporary file and read to its end through `RawFrameReader`. The first byte picks the stream:
/// even, Y4M (the rest is the stream, header line first); odd, raw frames, rgb24 or gray8 by bit 1,
/// `1 + byte[1] % 64` wide and `1 + byte[2] % 64` high, then the frames. A short frame, a bad header
/// or FRAME line is a `StreamError`; every frame read must be the reader's size.
public enum StreamFuzzing {
    /// Y4M frames larger than this are not read (a header line can ask for 16384x16384 in 20 bytes;
    /// the reader's limit is the image limit, and reaching it costs allocation, not coverage).
    static let maximumPixels = 1 << 20
    static let maximumFrames = 64

    static func run(_ bytes: UnsafeRawBufferPointer) {
        _ = try? read(bytes)
    }

    /// The frames `run` reads from `stream` (for the seeds' test); throws the stream's first error.
    public static func framesRead(_ stream: Data) throws -> Int {
        try stream.withUnsafeBytes { bytes throws(StreamError) in try read(bytes) }
    }

    /// What `run` does: at most `maximumFrames` frames of the stream `bytes` describes, each checked;
    /// 0 for an input it skips (empty, a raw header cut short, a Y4M frame past `maximumPixels`).
    static func read(_ bytes: UnsafeRawBufferPointer) throws(StreamError) -> Int {
        guard let mode = bytes.first, mode & 1 == 0 || bytes.count >= 3 else { return 0 }
        let isY4M = mode & 1 == 0
        let stream = UnsafeRawBufferPointer(rebasing: bytes[(isY4M ? 1 : 3)...])
        if isY4M, let end = stream.prefix(Y4MHeader.maximumLineLength + 1).firstIndex(of: UInt8(ascii: "\n")),
           let header = try? Y4MHeader(line: Array(stream[..<end])), header.width * header.height > maximumPixels {
            return 0
        }
        var result: Result<Int, StreamError> = .success(0)
        withMemoryFile(stream) { descriptor in
            result = Result { () throws(StreamError) in
                var reader = isY4M ? try RawFrameReader.y4m(fileDescriptor: descriptor) : try makeRawReader(descriptor, bytes)
                return try readFrames(&reader)
            }
        }
        return try result.get()
    }

    /// The raw reader a raw-mode input (first byte odd) describes.
    static func makeRawReader(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws(StreamError) -> RawFrameReader {
        let width = 1 + Int(bytes[1]) % 64, height = 1 + Int(bytes[2]) % 64
        do {
            return try RawFrameReader(fileDescriptor: descriptor, width: width, height: height,
                                      format: bytes[0] & 2 == 0 ? .rgb24 : .gray8)
        } catch {
            preconditionFailure("a \(width)x\(height) reader was refused")
        }
    }

    /// Reads frames until the end or `maximumFrames` (throwing the stream's error); each must have
    /// the reader's size. Returns the frames read.
    static func readFrames(_ reader: inout RawFrameReader) throws(StreamError) -> Int {
        guard var image = try? RGBImage(width: 1, height: 1) else { preconditionFailure("a 1x1 image was refused") }
        var frames = 0
        while frames < maximumFrames, try reader.next(into: &image) {
            precondition(image.width == reader.width && image.height == reader.height
                         && image.pixels.count == reader.width * reader.height * 3,
                         "frame \(reader.framesRead) is \(image.width)x\(image.height) with \(image.pixels.count) bytes")
            frames += 1
        }
        return frames
    }

    /// Runs `body` on a file descriptor reading `bytes` from the start: an unlinked temporary file
    /// (Swift's Glibc module does not export memfd_create; a pipe would block past its 64 KiB buffer).
    static func withMemoryFile(_ bytes: UnsafeRawBufferPointer, _ body: (Int32) -> Void) {
        var template = Array((NSTemporaryDirectory() + "/edgedetr-fuzz-stream-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(descriptor >= 0, "mkstemp failed")
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            precondition(result > 0, "writing the memory file failed")
            written += result
        }
        precondition(lseek(descriptor, 0, SEEK_SET) == 0, "lseek failed")
        body(descriptor)
    }
}
