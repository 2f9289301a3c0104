import Foundation
import Testing

/// `export`, `inspect` and `detect` on a model file, as a user runs them.
@Suite struct ModelFileCommandTests {
    typealias CLI = DetectCommandTests

    @Test func exportInspectAndDetectAgreeWithTheCheckpoint() throws {
        let file = try CLI.temporaryDirectory().appendingPathComponent("model.edq").path
        let export = try CLI.edgedetr(["export", "--model", CLI.fixture, "--input-size", "96x128", "-o", file])
        #expect(export.status == 0, "\(export.standardError)")
        let inspect = try CLI.edgedetr(["inspect", file, "--plan"])
        #expect(inspect.status == 0)
        #expect(inspect.standardOutput.contains("input 96x128"))
        #expect(inspect.standardOutput.contains("arena"))
        let json = try CLI.edgedetr(["inspect", file, "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        #expect((parsed?["arena_bytes"] as? Int ?? 0) > 0)
        // The 64x48 image resizes to 96x128 either way, so both paths run the same graph.
        let fromFile = try CLI.edgedetr(["detect", "--model", file, "--threshold", "0", "--top-k", "10", CLI.image])
        let fromFolder = try CLI.edgedetr(["detect", "--model", CLI.fixture, "--threshold", "0", "--top-k", "10", CLI.image])
        #expect(fromFile.status == 0 && fromFile.standardOutput == fromFolder.standardOutput)
    }

    @Test func corruptModelFileGivesOneLine() throws {
        let directory = try CLI.temporaryDirectory()
        let file = directory.appendingPathComponent("model.edq").path
        _ = try CLI.edgedetr(["export", "--model", CLI.fixture, "--input-size", "64x64", "-o", file])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: file))
        CLI.expectOneLineError(try CLI.edgedetr(["detect", "--model", file, CLI.image]), contains: "checksum mismatch")
        let notModel = directory.appendingPathComponent("notes.edq").path
        try "not a model".write(toFile: notModel, atomically: true, encoding: .utf8)
        CLI.expectOneLineError(try CLI.edgedetr(["inspect", notModel]), contains: "not an EdgeDETR model file")
        let badSize = try CLI.edgedetr(["export", "--model", CLI.fixture, "--input-size", "9x9", "-o", file])
        #expect(badSize.status != 0 && badSize.status < 128 && badSize.standardError.contains("--input-size"))
    }
}
