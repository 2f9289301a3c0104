import EdgeRuntime
import Foundation
import Testing

/// Preprocessing against Pillow 13: bilinear resize byte for byte (both pass orders), transformers'
/// output-size rules, and the small-image guard.
@Suite struct PreprocessTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/resize")

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    @Test(arguments: [(80, 112), (20, 40), (13, 7), (96, 71), (41, 60), (17, 29), (100, 20), (30, 28), (9, 9)])
    func bilinearResizeMatchesPillow(_ size: (Int, Int)) throws {
        let source = try RGBImage(width: 29, height: 41, pixels: try Self.bytes("source_41x29.rgb"))
        let expected = try Self.bytes("bilinear_\(size.0)x\(size.1).rgb")
        let resized = Preprocess.resizeBilinear(source, height: size.0, width: size.1)
        #expect(resized.width == size.1 && resized.height == size.0)
        let differing = zip(resized.pixels, expected).filter { $0 != $1 }.count
        #expect(differing == 0 && resized.pixels.count == expected.count, "\(differing) bytes differ at \(size)")
    }

    @Test func outputSizeFollowsTransformers() {
        let config = PreprocessConfig(resize: .shortestEdge(shortest: 800, longest: 1333), rescaleFactor: 1 / 255,
                                      mean: nil, standardDeviation: nil)
        #expect(config.outputSize(height: 480, width: 640) == (800, 1066))
        #expect(config.outputSize(height: 100, width: 1000) == (133, 1333))
        #expect(config.outputSize(height: 800, width: 600) == (1066, 800))
        #expect(config.outputSize(height: 800, width: 800) == (800, 800))
        let fixed = PreprocessConfig(resize: .fixed(height: 80, width: 112), rescaleFactor: nil, mean: nil, standardDeviation: nil)
        #expect(fixed.outputSize(height: 5, width: 500) == (80, 112))
        let fit = PreprocessConfig(resize: .maxHeightWidth(height: 100, width: 100), rescaleFactor: nil, mean: nil, standardDeviation: nil)
        #expect(fit.outputSize(height: 50, width: 200) == (25, 100))
    }

    @Test func tinyImagesAreRefusedWithTheirSize() throws {
        let image = try RGBImage(width: 1, height: 1, pixels: [0, 0, 0])
        #expect(throws: PreprocessError.imageTooSmall(width: 1, height: 1, minimum: Preprocess.minimumSide)) {
            try Preprocess.pixelValues(image, config: .transformersDefault)
        }
    }
}
