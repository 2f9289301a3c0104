import Kernels
import Foundation
@testable import EdgeRuntime

/// Fixture access for the image tests: files written once by
/// Calibration/oracle/make_image_fixtures.py, each good image beside a `.rgb` file holding
/// PIL's `convert("RGB").tobytes()` for it.
enum ImageFixtures {
    static let directory: String = {
        // .../Tests/EdgeRuntimeTests/ImageTestSupport.swift -> .../Tests/Fixtures/images-codec
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(2)
        return components.joined(separator: "/") + "/Fixtures/images-codec"
    }()

    static func bytes(_ relativePath: String) -> [UInt8] {
        let path = directory + "/" + relativePath
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return [UInt8](data)
    }

    /// Relative paths of the images in `folder` that have an expected `.rgb` beside them.
    static func imagesWithExpectedPixels(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + folder)) ?? []
        return names.filter { !$0.hasSuffix(".rgb") }
            .filter { names.contains(($0 as NSString).deletingPathExtension + ".rgb") }
            .sorted()
            .map { folder + "/" + $0 }
    }

    static func expectedPixels(for relativePath: String) -> [UInt8] {
        bytes((relativePath as NSString).deletingPathExtension + ".rgb")
    }
}

/// The error `decodeImage` throws for `bytes`, or nil when it decodes.
func decodingError(_ bytes: [UInt8]) -> ImageError? {
    do {
        _ = try decodeImage(bytes)
        return nil
    } catch {
        return error
    }
}

extension SplitMix64 {
    /// An integer in 0..<bound (tests: mutation positions and values).
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
