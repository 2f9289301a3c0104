import EdgeRuntime
import Foundation
import Quantize
import Testing

/// A model fixture written by Calibration/oracle/make_fixtures.py: a Hugging Face checkpoint folder plus
/// `golden.safetensors` with transformers' inputs and outputs per image.
struct GoldenFixture {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    let name: String
    let folder: String
    let golden: SafetensorsFile

    init(_ name: String) throws {
        self.name = name
        folder = Self.root.appendingPathComponent("models/\(name)").path
        golden = try SafetensorsFile(path: folder + "/golden.safetensors")
    }

    var imageCount: Int {
        golden.tensorNames.filter { $0.hasSuffix(".pixel_values") }.count
    }

    func tensor(_ name: String) throws -> (shape: [Int], values: [Float]) {
        guard let info = golden.info(name) else { throw FixtureError("\(self.name): golden tensor '\(name)' missing") }
        return (info.shape, try golden.floats(name))
    }

    func has(_ name: String) -> Bool { golden.info(name) != nil }

    /// `image{i}.pixel_values` as the engine's [H, W, 3] input.
    func pixelValues(image: Int) throws -> (values: [Float], height: Int, width: Int) {
        let (shape, chw) = try tensor("image\(image).pixel_values")
        let (height, width) = (shape[1], shape[2])
        var hwc = [Float](repeating: 0, count: chw.count)
        for c in 0..<3 {
            for p in 0..<(height * width) { hwc[p * 3 + c] = chw[c * height * width + p] }
        }
        return (hwc, height, width)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Largest violation of |got - want| <= absolute + relative * |want|, as a ratio (<= 1 passes).
struct Comparison: CustomStringConvertible {
    var maxAbsoluteError: Float = 0
    var worstRatio: Float = 0
    var worstIndex = -1

    init(got: [Float], want: [Float], absolute: Float, relative: Float) {
        guard got.count == want.count else {
            worstRatio = .infinity
            return
        }
        for i in 0..<got.count {
            let error = abs(got[i] - want[i])
            let allowed = absolute + relative * abs(want[i])
            let ratio = error.isNaN ? Float.infinity : error / allowed
            maxAbsoluteError = max(maxAbsoluteError, error.isNaN ? .infinity : error)
            if ratio > worstRatio {
                worstRatio = ratio
                worstIndex = i
            }
        }
    }

    var passes: Bool { worstRatio <= 1 }
    var description: String { "max |error| \(maxAbsoluteError), worst ratio to tolerance \(worstRatio) at \(worstIndex)" }
}
