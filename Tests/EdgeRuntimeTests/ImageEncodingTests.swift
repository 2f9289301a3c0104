import Kernels
import Foundation
import Testing
@testable import EdgeRuntime

@Suite struct ImageEncodingTests {
    private func randomImage(width: Int, height: Int, seed: UInt64) throws -> RGBImage {
        var random = SplitMix64(seed: seed)
        let pixels = (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test(arguments: [(1, 1), (13, 7), (200, 150)])
    func encodeThenDecodeIsIdentity(_ size: (Int, Int)) throws {
        // 200x150 needs more than one 65535-byte stored block.
        let image = try randomImage(width: size.0, height: size.1, seed: UInt64(size.0 * 1000 + size.1))
        let file = encodePNG(image)
        #expect(Array(file.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(try decodeImage(file) == image)
    }

    @Test func inconsistentImageStillEncodes() throws {
        var image = try randomImage(width: 4, height: 3, seed: 7)
        image.pixels.removeLast(5)
        let decoded = try decodeImage(encodePNG(image))
        #expect(decoded.width == 4 && decoded.height == 3)
        #expect(Array(decoded.pixels.prefix(31)) == image.pixels)
        #expect(decoded.pixels.suffix(5).allSatisfy { $0 == 0 })
        image.width = -3
        #expect(try decodeImage(encodePNG(image)).width == 1)
    }
}
