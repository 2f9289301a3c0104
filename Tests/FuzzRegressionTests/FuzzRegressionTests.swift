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

    /// The generated stream seeds go through their harness (a trap fails the run), and each is a
    /// stream the reader takes to its end: the seeds exercise frames, not only header errors.
    func testGeneratedStreamSeedsAreReadToTheEnd() throws {
        let seeds = try FuzzSeeds.generated().filter { $0.name.hasPrefix("stream/") }
        XCTAssertEqual(seeds.count, 7)
        for (name, bytes) in seeds {
            bytes.withUnsafeBytes { FuzzTarget.stream.run($0) }
            XCTAssertGreaterThan(try StreamFuzzing.framesRead(bytes), 0, name)
        }
    }
}
