import EdgeRuntime
import Foundation
import Quantize
import Testing

/// `edgedetr detect` as a new user runs it: good inputs print detections and write files; bad inputs
/// give one line on stderr naming the problem, a non-zero exit, and no crash.
@Suite struct DetectCommandTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixture = repository.appendingPathComponent("Tests/Fixtures/models/deformable_base").path
    static let image = repository.appendingPathComponent("Tests/Fixtures/images/oracle_rgb_64x48.png").path

    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// The `edgedetr` executable SwiftPM built next to the test bundle.
    static var executable: URL {
        get throws {
            var directory = Bundle.main.bundleURL
            while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("edgedetr").path) {
                let parent = directory.deletingLastPathComponent()
                guard parent != directory else { throw CLITestError("edgedetr executable not found") }
                directory = parent
            }
            return directory.appendingPathComponent("edgedetr")
        }
    }

    /// Runs `edgedetr` with `arguments` (standard input from the file `standardInput`, else inherited).
    static func edgedetr(_ arguments: [String], standardInput: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = try executable
        process.arguments = arguments
        if let standardInput {
            guard let input = FileHandle(forReadingAtPath: standardInput) else { throw CLITestError("\(standardInput): cannot open") }
            process.standardInput = input
        }
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      standardOutput: String(decoding: outData, as: UTF8.self),
                      standardError: String(decoding: errData, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("edgedetr-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A copy of the fixture folder whose model.safetensors (or other file) the test then damages.
    static func copyOfFixture() throws -> URL {
        let folder = try temporaryDirectory().appendingPathComponent("model")
        try FileManager.default.copyItem(atPath: fixture, toPath: folder.path)
        return folder
    }

    /// Expects exit status != 0 (and not a crash signal) and exactly one stderr line containing `needle`.
    static func expectOneLineError(_ result: Result, contains needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status != 0, "expected failure", sourceLocation: sourceLocation)
        #expect(result.status < 128, "crashed with status \(result.status)", sourceLocation: sourceLocation)
        let lines = result.standardError.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "stderr: \(result.standardError)", sourceLocation: sourceLocation)
        #expect(result.standardError.contains(needle), "stderr: \(result.standardError)", sourceLocation: sourceLocation)
    }

    /// The issue's reproduction: a valid 2100x8 PNG given to a bundled checkpoint (shortest edge 96,
    /// longest 128) resized to a height of 0 and trapped in the resize; now one line and exit 1.
    @Test func aThinImageIsRefusedNotCrashed() throws {
        let folder = try Self.temporaryDirectory()
        let thin = folder.appendingPathComponent("thin.png")
        FileManager.default.createFile(atPath: thin.path, contents: Data(encodePNG(try RGBImage(width: 2100, height: 8))))
        let model = Self.repository.appendingPathComponent("Tests/Fixtures/models/conditional_detr").path
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", model, thin.path]), contains: "resizes to 128x0 px")
    }

    @Test func detectPrintsDetectionsAndWritesJSONAndPNG() throws {
        let directory = try Self.temporaryDirectory()
        let json = directory.appendingPathComponent("out.json").path
        let png = directory.appendingPathComponent("out.png").path
        let result = try Self.edgedetr(["detect", "--model", Self.fixture, "--threshold", "0", "--top-k", "5",
                                        "--json", json, "--draw", png, Self.image])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == 5)
        let labels = ["square", "circle", "triangle", "star", "ring", "cross", "diamond", "hexagon"]
        #expect(lines.allSatisfy { line in labels.contains { line.contains("\t\($0)\t") } }, "\(lines)")
        let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]]
        #expect(parsed?.count == 5)
        #expect(parsed?.first?["bbox"] as? [Double] != nil)
        let drawn = try decodeImage([UInt8](Data(contentsOf: URL(fileURLWithPath: png))))
        #expect(drawn.width == 64 && drawn.height == 48)
    }

    @Test func folderWithoutConfig() throws {
        let folder = try Self.copyOfFixture()
        try FileManager.default.removeItem(at: folder.appendingPathComponent("config.json"))
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", folder.path, Self.image]), contains: "no config.json")
    }

    @Test func configOfAnotherModelType() throws {
        let folder = try Self.copyOfFixture()
        try #"{"model_type": "detr"}"#.write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", folder.path, Self.image]), contains: "model_type 'detr'")
    }

    @Test func truncatedSafetensors() throws {
        let folder = try Self.copyOfFixture()
        let weights = folder.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: weights)
        try data.prefix(data.count / 2).write(to: weights)
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", folder.path, Self.image]), contains: "model.safetensors")
    }

    @Test func headerLengthPastEndOfFile() throws {
        let folder = try Self.copyOfFixture()
        let weights = folder.appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: weights)
        data.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0x0F, 0, 0, 0, 0])
        try data.write(to: weights)
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", folder.path, Self.image]), contains: "header length")
    }

    /// Rewrites the fixture's weights with `edit` applied to the (name, shape, values) list.
    static func rewriteWeights(_ folder: URL, _ edit: (inout [(String, [Int], [Float])]) -> Void) throws {
        let path = folder.appendingPathComponent("model.safetensors").path
        let file = try SafetensorsFile(path: path)
        var tensors: [(String, [Int], [Float])] = []
        // BatchNorm's integer `num_batches_tracked` counters are not read by the importer: leave them out.
        for name in file.tensorNames where !name.hasSuffix("num_batches_tracked") {
            tensors.append((name, file.info(name)!.shape, try file.floats(name)))
        }
        edit(&tensors)
        var writer = SafetensorsWriter()
        for (name, shape, values) in tensors { try writer.add(name, shape: shape, values: values) }
        try writer.write(to: path)
    }

    @Test func tensorOfTheWrongShape() throws {
        let folder = try Self.copyOfFixture()
        try Self.rewriteWeights(folder) { tensors in
            let index = tensors.firstIndex { $0.0 == "model.encoder.layers.0.fc1.weight" }!
            let (name, shape, values) = tensors[index]
            tensors[index] = (name, [shape[0] - 1, shape[1]], Array(values.dropLast(shape[1])))
        }
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", folder.path, Self.image]),
                                contains: "model.encoder.layers.0.fc1.weight")
    }

    @Test func missingTensor() throws {
        let folder = try Self.copyOfFixture()
        try Self.rewriteWeights(folder) { tensors in tensors.removeAll { $0.0 == "model.level_embed" } }
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", folder.path, Self.image]), contains: "model.level_embed")
    }

    @Test func tensorOfTheWrongDType() throws {
        let folder = try Self.copyOfFixture()
        // A safetensors file holding one I64 tensor where a float weight is expected.
        let header = #"{"model.level_embed":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#
        var data = Data()
        var length = UInt64(header.utf8.count).littleEndian
        data.append(Data(bytes: &length, count: 8))
        data.append(Data(header.utf8))
        data.append(Data(count: 8))
        try data.write(to: folder.appendingPathComponent("model.safetensors"))
        let result = try Self.edgedetr(["detect", "--model", folder.path, Self.image])
        #expect(result.status != 0 && result.status < 128)
        #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
    }

    static func writeDamagedPNG(_ damage: (inout [UInt8]) -> Void) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: image)))
        damage(&bytes)
        let path = try temporaryDirectory().appendingPathComponent("damaged.png").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func pngWithBadCRC() throws {
        let path = try Self.writeDamagedPNG { bytes in bytes[29] ^= 0xFF }  // inside IHDR's CRC
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", Self.fixture, path]), contains: "CRC")
    }

    @Test func pngWithTruncatedData() throws {
        let path = try Self.writeDamagedPNG { bytes in bytes.removeLast(bytes.count / 3) }
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", Self.fixture, path]), contains: "damaged.png")
    }

    @Test func imageOfOnePixel() throws {
        let path = try Self.temporaryDirectory().appendingPathComponent("tiny.png").path
        try Data(encodePNG(try RGBImage(width: 1, height: 1, pixels: [1, 2, 3]))).write(to: URL(fileURLWithPath: path))
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", Self.fixture, path]), contains: "1x1")
    }

    @Test func fileThatIsNotAnImage() throws {
        let path = try Self.temporaryDirectory().appendingPathComponent("notes.txt").path
        try "hello, this is text".write(toFile: path, atomically: true, encoding: .utf8)
        Self.expectOneLineError(try Self.edgedetr(["detect", "--model", Self.fixture, path]), contains: "notes.txt")
    }

    @Test func invalidFlags() throws {
        let result = try Self.edgedetr(["detect", "--model", Self.fixture, "--threads", "0", Self.image])
        #expect(result.status != 0 && result.status < 128)
        #expect(result.standardError.contains("--threads"))
    }
}

struct CLITestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
