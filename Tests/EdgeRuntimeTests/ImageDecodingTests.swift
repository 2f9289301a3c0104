import Foundation
import Testing
@testable import EdgeRuntime

/// Decoder output against PIL's `Image.open(path).convert("RGB")`, byte for byte.
@Suite struct ImageDecodingTests {
    @Test(arguments: ImageFixtures.imagesWithExpectedPixels(in: "png"))
    func pngMatchesPIL(_ path: String) throws {
        let image = try decodeImage(ImageFixtures.bytes(path))
        #expect(image.pixels.count == image.width * image.height * 3)
        #expect(image.pixels == ImageFixtures.expectedPixels(for: path), "\(path)")
    }

    @Test(arguments: ImageFixtures.imagesWithExpectedPixels(in: "ppm"))
    func ppmMatchesPIL(_ path: String) throws {
        let image = try decodeImage(ImageFixtures.bytes(path))
        #expect(image.width == 13 && image.height == 7)
        #expect(image.pixels == ImageFixtures.expectedPixels(for: path), "\(path)")
    }

    @Test func fixtureSetIsComplete() {
        // Guards against the fixture folder going missing, which would make the tests above vacuous.
        #expect(ImageFixtures.imagesWithExpectedPixels(in: "png").count >= 40)
        #expect(ImageFixtures.imagesWithExpectedPixels(in: "ppm").count >= 13)
        #expect(ImageFixtures.imagesWithExpectedPixels(in: "jpeg").count >= 13)
    }

    @Test func dimensionsComeFromTheHeader() throws {
        let interlaced = try decodeImage(ImageFixtures.bytes("png/ct6-d16-adam7.png"))
        #expect(interlaced.width == 33 && interlaced.height == 17)
        let tiny = try decodeImage(ImageFixtures.bytes("png/ct2-d8-adam7-3x2.png"))
        #expect(tiny.width == 3 && tiny.height == 2)
    }

    @Test func pointerAndArrayOverloadsAgree() throws {
        let bytes = ImageFixtures.bytes("png/ct3-d2.png")
        let fromArray = try decodeImage(bytes)
        let fromPointer = try bytes.withUnsafeBytes { buffer throws(ImageError) in try decodeImage(buffer) }
        #expect(fromArray == fromPointer)
    }

    @Test func ppmHeaderMinimalAndPillowScaling() throws {
        // maxval 100: Pillow computes round(v / 100 * 255) with half to even: 50 -> 127.5 -> 128.
        let header = Array("P5 3 1 100\n".utf8)
        let image = try decodeImage(header + [1, 50, 200])
        #expect(image.pixels == [3, 3, 3, 128, 128, 128, 255, 255, 255])
    }

    @Test func rgbImageInitValidates() throws {
        #expect(throws: ImageError.pixelCountMismatch(width: 2, height: 2, byteCount: 11)) {
            try RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 11))
        }
        #expect(throws: ImageError.invalidDimensions(width: -1, height: 2)) {
            try RGBImage(width: -1, height: 2, pixels: [])
        }
        #expect(throws: ImageError.imageTooLarge(width: 16384, height: 16384)) {
            try RGBImage(width: 16384, height: 16384)
        }
        let image = try RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        #expect(image.isConsistent)
    }
}

/// JPEG output against PIL (libjpeg-turbo: islow IDCT, fancy upsampling, fixed-point colour).
@Suite struct JPEGDecodingTests {
    @Test(arguments: ImageFixtures.imagesWithExpectedPixels(in: "jpeg"))
    func jpegMatchesPIL(_ path: String) throws {
        let image = try decodeImage(ImageFixtures.bytes(path))
        let expected = ImageFixtures.expectedPixels(for: path)
        #expect(image.pixels.count == expected.count, "\(path)")
        var largestDifference = 0
        for (decoded, reference) in zip(image.pixels, expected) {
            largestDifference = max(largestDifference, abs(Int(decoded) - Int(reference)))
        }
        #expect(largestDifference == 0, "\(path): max abs difference \(largestDifference)")
    }
}
