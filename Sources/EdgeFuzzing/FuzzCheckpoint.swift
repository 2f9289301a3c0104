import EdgeRuntime
import Foundation
import Quantize

/// config.json, preprocessor_config.json and model.safetensors, split from one fuzz input.
public enum CheckpointFuzzing {
    /// Inputs larger than this are skipped: the bundled checkpoints are about 1 MB, and a big input
    /// only makes every execution slow.
    public static let largestInput = 8 << 20
    /// Graphs are built only for model inputs of at most this many pixels (1024 x 1024, which holds
    /// transformers' default 800 x 1066 of a folder without preprocessor_config.json). Larger sizes
    /// are valid (up to `PreprocessorConfigParser.maximumSide` a side) but their generated constants,
    /// e.g. the sine position embedding of every encoder token, would make an execution slow; at this
    /// size and the largest `DetectorConfig.Limits.width` that embedding stays under 300 MB.
    public static let largestBuiltPixels = 1 << 20

    /// Splits `bytes` at the first two occurrences of the separator "\n--8<--\n" into config.json,
    /// preprocessor_config.json (absent when empty) and model.safetensors, imports them from memory
    /// (`CheckpointFolder(name:config:preprocessor:weights:)`, the same validation as a folder without
    /// three file writes per execution) and builds the float graph `edgedetr detect --model` would
    /// build before running; every error is expected, only a trap or a hang is a bug.
    public static func run(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= largestInput else { return }
        let parts = splitParts(bytes, separator: fuzzPartSeparator, count: 3)
        // Import: config.json, the safetensors header, preprocessor_config.json.
        guard let checkpoint = try? CheckpointFolder(
            name: "fuzz-input", config: parts[0], preprocessor: parts[1].isEmpty ? nil : parts[1], weights: parts[2]),
            let detector = try? FloatDetector(checkpoint: checkpoint, threads: 1)
        else { return }
        // The graph `detect` builds for a 640x480 photo (ModelExport's default input size).
        let size = ModelExport.defaultInputSize(for: detector.preprocess)
        guard size.height >= 1, size.width >= 1, size.height <= DetectorGraph.maximumInputSide,
              size.width <= DetectorGraph.maximumInputSide, size.height * size.width <= largestBuiltPixels else { return }
        _ = try? DetectorGraph.build(detector.checkpoint, height: size.height, width: size.width)
    }

    /// The fuzz input holding these three files (`preprocessor` nil: the folder has none), for seed
    /// corpora: `run` splits it back into the same files as long as config.json and
    /// preprocessor_config.json do not contain the separator.
    public static func seed(config: Data, preprocessor: Data?, safetensors: Data) -> Data {
        let separator = Data(fuzzPartSeparator)
        return config + separator + (preprocessor ?? Data()) + separator + safetensors
    }
}
