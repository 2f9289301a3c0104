import Kernels
import Foundation
import Testing
@testable import EdgeRuntime

/// Broken files must fail with the case that names their problem, and never crash.
@Suite struct ImageCorruptionTests {
    /// Checks the thrown case and that its description is one informative line.
    private func expectError(_ path: String, _ matches: (ImageError) -> Bool, containing fragment: String) {
        let bytes = ImageFixtures.bytes(path)
        #expect(!bytes.isEmpty, "fixture \(path) is missing")
        guard let error = decodingError(bytes) else {
            Issue.record("\(path) decoded without error")
            return
        }
        #expect(matches(error), "\(path): unexpected \(error)")
        #expect(error.description.contains(fragment), "\(path): \(error.description)")
        #expect(!error.description.contains("\n"))
    }

    @Test func pngContainerErrors() {
        expectError("corrupt/bad-crc.png", {
            if case .pngChunkCRCMismatch(chunk: "IDAT", let stored, let computed) = $0 { return stored != computed }
            return false
        }, containing: "PNG chunk 'IDAT' CRC mismatch (stored 0x")
        expectError("corrupt/unknown-critical.png", { $0 == .pngUnknownCriticalChunk(chunk: "CRIT") },
                    containing: "unknown critical chunk 'CRIT'")
        expectError("corrupt/missing-ihdr.png", { $0 == .pngMissingIHDR(firstChunk: "IDAT") },
                    containing: "missing its IHDR chunk (first chunk is 'IDAT')")
        expectError("corrupt/truncated-file.png", {
            if case .pngChunkTruncated(chunk: "IDAT", _, _) = $0 { return true }
            return false
        }, containing: "PNG chunk 'IDAT' is truncated")
        expectError("corrupt/bit-depth-3.png", { $0 == .pngUnsupportedBitDepth(bitDepth: 3, colorType: 2) },
                    containing: "unsupported PNG bit depth 3 for color type 2")
    }

    @Test func pngCompressedDataErrors() {
        expectError("corrupt/truncated-idat.png", { $0 == .pngDataEndsEarly },
                    containing: "PNG image data ends early (truncated IDAT stream)")
        expectError("corrupt/bad-zlib-header.png", { $0 == .zlibInvalidHeader(cmf: 0x79, flg: 0x9C) },
                    containing: "zlib header 79 9c is invalid")
        expectError("corrupt/bad-adler.png", {
            if case .zlibAdler32Mismatch(let stored, let computed) = $0 { return stored != computed }
            return false
        }, containing: "Adler-32 mismatch")
    }

    @Test func dimensionErrors() {
        expectError("corrupt/zero-width.png", { $0 == .invalidDimensions(width: 0, height: 5) },
                    containing: "image dimensions 0x5 are invalid")
        expectError("corrupt/huge.png", { $0 == .imageTooLarge(width: 100000, height: 100000) },
                    containing: "image 100000x100000 is too large (limit 16384 per side")
    }

    @Test func notAnImage() {
        expectError("corrupt/not-image.bin", { $0 == .unrecognizedFormat(leadingBytes: [0x7F, 0x45, 0x4C, 0x46]) },
                    containing: "not a PNG, PPM or JPEG file (starts with bytes 7f 45 4c 46)")
        #expect(decodingError([]) == .emptyInput)
        #expect(decodingError([0x42]) == .unrecognizedFormat(leadingBytes: [0x42]))
        #expect(decodingError(Array("P3\n1 1\n255\n0 0 0\n".utf8)) == .ppmUnsupportedVariant(magic: "P3"))
    }

    @Test func ppmErrors() {
        expectError("corrupt/truncated.ppm", { $0 == .ppmDataEndsEarly(expectedByteCount: 273, bytesAvailable: 263) },
                    containing: "PPM pixel data ends early (needs 273 bytes, 263 remain)")
        #expect(decodingError(Array("P6\n2 2\n0\n".utf8) + [UInt8](repeating: 0, count: 12)) == .ppmInvalidMaxval(maxval: 0))
        #expect(decodingError(Array("P5\n2 x\n255\n".utf8)) == .ppmInvalidHeaderField(field: "height"))
        #expect(decodingError(Array("P5\n2".utf8)) == .ppmInvalidHeaderField(field: "height"))
        #expect(decodingError(Array("P5 0 3 255\n".utf8)) == .invalidDimensions(width: 0, height: 3))
        #expect(decodingError(Array("P5 99999999999 3 255\n".utf8)) == .ppmInvalidHeaderField(field: "width"))
    }

    @Test func jpegErrors() {
        expectError("corrupt/truncated.jpg", { $0 == .jpegEntropyDataEndsEarly },
                    containing: "JPEG data ends early (truncated entropy-coded scan data)")
        expectError("jpeg/progressive.jpg", { $0 == .jpegUnsupportedProcess(process: "progressive DCT (SOF2)") },
                    containing: "unsupported JPEG coding process: progressive DCT (SOF2)")
        expectError("jpeg/cmyk.jpg", { $0 == .jpegUnsupportedComponentCount(count: 4) },
                    containing: "4 components (CMYK")
        // SOI, then a 12-bit SOF0 header.
        let twelveBit: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 12, 0, 8, 0, 8, 1, 1, 0x11, 0]
        #expect(decodingError(twelveBit) == .jpegUnsupportedPrecision(bits: 12))
        let arithmetic: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC9, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]
        #expect(decodingError(arithmetic) == .jpegUnsupportedProcess(process: "arithmetic coding (SOF9)"))
        #expect(decodingError([0xFF, 0xD8, 0xFF, 0xD9]) == .jpegMissingImageData)
        #expect(decodingError([0xFF, 0xD8, 0xFF, 0xDB, 0x00]) == .jpegSegmentTruncated(marker: 0xDB))
    }

    @Test func everyTruncationOfAJPEGReturns() {
        let good = ImageFixtures.bytes("jpeg/q75-420-restart.jpg")
        #expect(decodingError(good) == nil)
        var failures = 0
        for length in 0..<good.count where decodingError(Array(good.prefix(length))) != nil {
            failures += 1
        }
        // Only prefixes that still hold every scan byte (missing just EOI) may decode.
        #expect(failures >= good.count - 2)
    }

    @Test func everyTruncationOfAPNGFails() {
        let good = ImageFixtures.bytes("corrupt/good.png")
        #expect(decodingError(good) == nil)
        for length in 0..<good.count {
            #expect(decodingError(Array(good.prefix(length))) != nil, "prefix \(length)")
        }
    }

    @Test func everyTruncationOfAPPMFails() {
        let good = ImageFixtures.bytes("ppm/P6-max1000.ppm")
        for length in 0..<good.count {
            #expect(decodingError(Array(good.prefix(length))) != nil, "prefix \(length)")
        }
    }

    /// Random byte changes inside the compressed data, with the CRC fixed up so that the
    /// inflater and unfilter code (not the CRC check) see the damage.
    @Test func mutatedPNGImageDataNeverCrashes() throws {
        let good = ImageFixtures.bytes("png/ct6-d16-adam7.png")
        let idatType = try #require(firstIndex(of: Array("IDAT".utf8), in: good))
        let length = Int(good[idatType - 4]) << 24 | Int(good[idatType - 3]) << 16
            | Int(good[idatType - 2]) << 8 | Int(good[idatType - 1])
        var random = SplitMix64(seed: 42)
        var failures = 0
        for _ in 0..<2000 {
            var bytes = good
            for _ in 0..<(1 + random.next(below: 3)) {
                bytes[idatType + 4 + random.next(below: length)] ^= UInt8(1 + random.next(below: 255))
            }
            var crc = ChunkCRC32()
            crc.update(Array(bytes[idatType..<(idatType + 4 + length)]))
            let value = crc.value
            let crcIndex = idatType + 4 + length
            bytes[crcIndex] = UInt8(value >> 24)
            bytes[crcIndex + 1] = UInt8((value >> 16) & 0xFF)
            bytes[crcIndex + 2] = UInt8((value >> 8) & 0xFF)
            bytes[crcIndex + 3] = UInt8(value & 0xFF)
            if decodingError(bytes) != nil { failures += 1 }
        }
        // Almost every change breaks the Huffman data or the Adler-32; all of them must return.
        #expect(failures > 1900)
    }

    @Test func mutatedFilesNeverCrash() {
        var random = SplitMix64(seed: 7)
        for path in ["corrupt/good.png", "ppm/P5-max1000.pgm", "png/ct3-d4-trns.png", "jpeg/q75-420-restart.jpg",
                     "jpeg/q95-444.jpg", "jpeg/gray-q80.jpg"] {
            let good = ImageFixtures.bytes(path)
            for _ in 0..<1000 {
                var bytes = good
                bytes[random.next(below: bytes.count)] = UInt8(truncatingIfNeeded: random.next())
                _ = decodingError(bytes)
            }
        }
    }

    /// A PNG around `scanlines` (filter bytes included) stored uncompressed, with valid CRCs and
    /// Adler-32, so that only the pixel-level problem under test is wrong.
    private func storedPNG(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, palette: [UInt8]?, scanlines: [UInt8]) -> [UInt8] {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            var crc = ChunkCRC32()
            crc.update(Array(type.utf8) + data)
            return bigEndian(UInt32(data.count)) + Array(type.utf8) + data + bigEndian(crc.value)
        }
        func bigEndian(_ value: UInt32) -> [UInt8] {
            [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
        }
        var adler = ZlibAdler32()
        scanlines.withUnsafeBufferPointer { adler.update($0) }
        let length = UInt16(scanlines.count)
        let zlib: [UInt8] = [0x78, 0x01, 1, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            + scanlines + bigEndian(adler.value)
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        file += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [bitDepth, colorType, 0, 0, 0])
        if let palette { file += chunk("PLTE", palette) }
        return file + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    @Test func pixelLevelErrors() throws {
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0]
        let valid = storedPNG(width: 2, height: 1, bitDepth: 8, colorType: 3, palette: palette, scanlines: [0, 1, 0])
        #expect(try decodeImage(valid).pixels == [0, 255, 0, 255, 0, 0])
        let pastPalette = storedPNG(width: 2, height: 1, bitDepth: 8, colorType: 3, palette: palette, scanlines: [0, 1, 5])
        #expect(decodingError(pastPalette) == .pngPaletteIndexOutOfRange(index: 5, paletteCount: 2))
        let noPalette = storedPNG(width: 2, height: 1, bitDepth: 8, colorType: 3, palette: nil, scanlines: [0, 1, 0])
        #expect(decodingError(noPalette) == .pngMissingChunk(chunk: "PLTE"))
        let badFilter = storedPNG(width: 1, height: 2, bitDepth: 8, colorType: 0, palette: nil, scanlines: [0, 9, 7, 9])
        #expect(decodingError(badFilter) == .pngInvalidFilterType(row: 1, filterType: 7))
        let tooLong = storedPNG(width: 1, height: 1, bitDepth: 8, colorType: 0, palette: nil, scanlines: [0, 9, 9])
        #expect(decodingError(tooLong) == .pngDataTooLong(expectedByteCount: 2))
        let tooShort = storedPNG(width: 2, height: 1, bitDepth: 8, colorType: 0, palette: nil, scanlines: [0, 9])
        #expect(decodingError(tooShort) == .pngDataEndsEarly)
    }

    private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }
}
