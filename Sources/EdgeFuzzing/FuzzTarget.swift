import EdgeRuntime
import Foundation

/// The libFuzzer harnesses (Fuzz/run.sh, docs/FUZZING.md): each takes one input of bytes and feeds it
/// to a parser as a user's file would reach it. Every error the parser throws is an expected answer;
/// a trap, a hang or a runaway allocation is the bug the fuzzer looks for. The same functions replay
/// the committed regression inputs in `swift test` (Tests/FuzzRegressionTests).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A model file (`.edq`) read, validated, built into a `Detector` and, when small, run once. The
    /// header and section checksums are recomputed first so that mutations reach the parsers behind
    /// them (`modelFileRaw` keeps them as given).
    case modelFile = "modelfile"
    case modelFileRaw = "modelfile-raw"
    /// Images, each with its format's leading bytes forced, decoded and preprocessed.
    case png, jpeg, ppm
    /// config.json + preprocessor_config.json + model.safetensors, imported and built into a graph.
    case checkpoint
    /// A COCO dataset and a results file, parsed, validated and evaluated.
    case coco
    /// A raw (rgb24, gray8) or Y4M frame stream read to its end (`StreamFuzzing`).
    case stream

    /// Feeds `bytes` to this harness.
    public func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .modelFile: ModelFileFuzzing.run(bytes, repairChecksums: true)
        case .modelFileRaw: ModelFileFuzzing.run(bytes, repairChecksums: false)
        case .png: ImageFuzzing.run(bytes, magic: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        case .jpeg: ImageFuzzing.run(bytes, magic: [0xFF, 0xD8, 0xFF])
        case .ppm: ImageFuzzing.run(bytes, magic: [UInt8(ascii: "P")])
        case .checkpoint: CheckpointFuzzing.run(bytes)
        case .coco: COCOFuzzing.run(bytes)
        case .stream: StreamFuzzing.run(bytes)
        }
    }

    /// Runs the harness on a file's contents (regression inputs, crash reproduction).
    public func run(file path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        data.withUnsafeBytes { run($0) }
    }
}

/// Splits `bytes` at the first `count - 1` occurrences of `separator` (missing parts are empty).
func splitParts(_ bytes: UnsafeRawBufferPointer, separator: [UInt8], count: Int) -> [Data] {
    var parts: [Data] = []
    var start = 0
    var index = 0
    while parts.count < count - 1, index + separator.count <= bytes.count {
        if bytes[index] == separator[0], bytes[index..<(index + separator.count)].elementsEqual(separator) {
            parts.append(Data(bytes[start..<index]))
            index += separator.count
            start = index
        } else {
            index += 1
        }
    }
    parts.append(Data(bytes[start..<bytes.count]))
    while parts.count < count { parts.append(Data()) }
    return parts
}

/// The separator between the parts of a multi-file fuzz input.
public let fuzzPartSeparator: [UInt8] = Array("\n--8<--\n".utf8)
