import EdgeFuzzing
import Foundation
import XCTest

/// Replays every input under Fuzz/regressions/<harness>/ through its harness: each once crashed,
/// hung or ran away with memory (docs/FUZZING.md), so a trap here fails the run.
final class FuzzRegressionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/regressions").standardizedFileURL

    func testEveryRegressionInputIsHandled() throws {
        var replayed = 0
        for target in FuzzTarget.allCases {
            let folder = Self.root.appendingPathComponent(target.rawValue)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { continue }
            for name in names.sorted() where !name.hasPrefix(".") {
                try target.run(file: folder.appendingPathComponent(name).path)
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, 0, "no regression inputs found under \(Self.root.path)")
    }
}
