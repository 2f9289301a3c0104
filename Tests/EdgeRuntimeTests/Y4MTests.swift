import EdgeRuntime
import Glibc
import Testing

/// Y4M streams (`edgedetr detect --y4m`, `edgedetr-run --y4m`): the header's fields, its one-line
/// refusals, and the BT.601 conversion of each chroma layout, through `RawFrameReader` on a pipe.
@Suite struct Y4MTests {
    @Test func headerFieldsAndDefaults() throws {
        let header = try Y4MHeader(line: Array("YUV4MPEG2 W1280 H720 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG".utf8))
        #expect(header.width == 1280 && header.height == 720 && header.chroma == .yuv420 && !header.fullRange)
        #expect(header.frameByteCount == 1280 * 720 * 3 / 2)
        let odd = try Y4MHeader(line: Array("YUV4MPEG2 W5 H3 C422 XCOLORRANGE=FULL".utf8))
        #expect(odd.chromaSize == (3, 3) && odd.fullRange && odd.frameByteCount == 15 + 18)
        #expect(try Y4MHeader(line: Array("YUV4MPEG2 H2 W2".utf8)).chroma == .yuv420)
        #expect(try Y4MHeader(line: Array("YUV4MPEG2 W2 H2 Cmono".utf8)).frameByteCount == 4)
    }

    @Test(arguments: [
        ("P6 640 480", "not a YUV4MPEG2 stream"), ("YUV4MPEG2 H8", "no W (width)"), ("YUV4MPEG2 W8", "no H (height)"),
        ("YUV4MPEG2 W0 H8", "frame width '0'"), ("YUV4MPEG2 W8 H-1", "frame height '-1'"),
        ("YUV4MPEG2 W99999999999999999999 H8", "frame width"), ("YUV4MPEG2 W16384 H16384", "exceed"),
        ("YUV4MPEG2 W8 H8 C411", "colourspace C411 is not supported"),
    ])
    func badHeadersAreNamed(_ line: String, _ reason: String) {
        #expect(throws: StreamError.self) { try Y4MHeader(line: Array(line.utf8)) }
        do { _ = try Y4MHeader(line: Array(line.utf8)) } catch { #expect(error.description.contains(reason), "\(error)") }
    }

    /// Full-range 4:4:4 from known RGB by the exact BT.601 inverse comes back within one step; mono is
    /// its luma; limited 4:2:0 of a flat colour is that colour.
    @Test func conversionFollowsBT601() throws {
        let rgb: [(Float, Float, Float)] = [(0, 0, 0), (255, 255, 255), (200, 30, 90), (12, 250, 40), (128, 128, 128), (77, 3, 201)]
        var y: [UInt8] = [], u: [UInt8] = [], v: [UInt8] = []
        for (r, g, b) in rgb {
            let luma = 0.299 * r + 0.587 * g + 0.114 * b
            y.append(UInt8(min(max(luma.rounded(), 0), 255)))
            u.append(UInt8(min(max(((b - luma) / 1.772 + 128).rounded(), 0), 255)))
            v.append(UInt8(min(max(((r - luma) / 1.402 + 128).rounded(), 0), 255)))
        }
        let full = try frames(header: "YUV4MPEG2 W3 H2 C444 XCOLORRANGE=FULL", planes: y + u + v, count: 1)
        for (index, (r, g, b)) in rgb.enumerated() {
            for (channel, expected) in [r, g, b].enumerated() {
                #expect(abs(Int(full[0].pixels[3 * index + channel]) - Int(expected)) <= 2, "pixel \(index) channel \(channel)")
            }
        }
        let mono = try frames(header: "YUV4MPEG2 W3 H2 Cmono XCOLORRANGE=FULL", planes: y, count: 1)
        #expect(mono[0].pixels == y.flatMap { [$0, $0, $0] })
        // Limited range: Y 16...235 and chroma 16...240 map to 0...255; (Y, U, V) = (81, 90, 240) is red.
        let red = try frames(header: "YUV4MPEG2 W3 H3 C420", planes: [UInt8](repeating: 81, count: 9) + [UInt8](repeating: 90, count: 4)
                                 + [UInt8](repeating: 240, count: 4), count: 1)
        for pixel in 0..<9 {
            #expect(abs(Int(red[0].pixels[3 * pixel]) - 255) <= 1 && red[0].pixels[3 * pixel + 1] <= 1 && red[0].pixels[3 * pixel + 2] <= 1)
        }
    }

    @Test func framesNeedTheirFrameLineAndAllTheirBytes() throws {
        let planes = [UInt8](repeating: 100, count: 4)
        #expect(try frames(header: "YUV4MPEG2 W2 H2 Cmono", planes: planes, count: 3).count == 3)
        #expect(throws: StreamError.badFrameHeader(frame: 1, "expected a FRAME line, got 'FRAMX' (is the previous frame's size right?)")) {
            try read(Array("YUV4MPEG2 W2 H2 Cmono\nFRAME\n".utf8) + planes + Array("FRAMX\n".utf8) + planes)
        }
        #expect(throws: StreamError.shortFrame(frame: 1, got: 2, expected: 4)) {
            try read(Array("YUV4MPEG2 W2 H2 Cmono\nFRAME\n".utf8) + planes + Array("FRAME Ixyz\n".utf8) + planes.prefix(2))
        }
        #expect(throws: StreamError.badY4M("the stream is empty")) { try read([]) }
    }

    /// `count` frames of `planes` after `header`, read back through a pipe.
    func frames(header: String, planes: [UInt8], count: Int) throws -> [RGBImage] {
        var bytes = Array((header + "\n").utf8)
        for _ in 0..<count { bytes += Array("FRAME\n".utf8) + planes }
        return try read(bytes)
    }

    /// Every frame of the stream `bytes`, written to a pipe and read with `RawFrameReader.y4m`.
    func read(_ bytes: [UInt8]) throws(StreamError) -> [RGBImage] {
        var descriptors: [Int32] = [0, 0]
        precondition(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        // Small test streams fit the pipe's buffer: written whole before reading.
        precondition(bytes.count < 60_000)
        _ = bytes.withUnsafeBytes { write(descriptors[1], $0.baseAddress!, $0.count) }
        close(descriptors[1])
        var reader = try RawFrameReader.y4m(fileDescriptor: descriptors[0])
        var images: [RGBImage] = []
        var image = try! RGBImage(width: 1, height: 1)
        while try reader.next(into: &image) { images.append(image) }
        return images
    }
}
