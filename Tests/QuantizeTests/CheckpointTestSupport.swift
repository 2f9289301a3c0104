import Foundation
import Testing
@testable import Quantize

/// A fresh folder under the system temporary directory, removed by `remove()`.
struct CheckpointTemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "edgedetr-checkpoint-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ data: Data) throws {
        try data.write(to: URL(fileURLWithPath: file(name)))
    }

    func write(_ name: String, json: String) throws {
        try write(name, Data(json.utf8))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A safetensors file assembled by hand, for corrupt inputs the writer refuses to make.
func checkpointRawSafetensors(header: String, dataBytes: Int, declaredHeaderLength: UInt64? = nil) -> Data {
    let json = Data(header.utf8)
    let length = declaredHeaderLength ?? UInt64(json.count)
    var file = Data()
    for index in 0..<8 {
        file.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(index))))
    }
    file.append(json)
    file.append(Data(count: dataBytes))
    return file
}

/// Runs `body`, expects exactly `expected`, and checks that its description is one line that starts
/// with the file (or folder) it names and contains `mentioning`.
func expectCheckpointError(
    _ expected: CheckpointError, naming file: String, mentioning fragment: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    // Closures do not infer typed throws without the FullTypedThrows feature, so `body` throws
    // `any Error` and the type is checked here.
    do {
        try body()
        Issue.record("expected \(expected), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
        #expect(error == expected, sourceLocation: sourceLocation)
        let description = error.description
        #expect(!description.contains("\n"), "description spans lines: \(description)", sourceLocation: sourceLocation)
        #expect(description.hasPrefix(file + ": "), "\(description)", sourceLocation: sourceLocation)
        #expect(description.contains(fragment), "\(description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}
