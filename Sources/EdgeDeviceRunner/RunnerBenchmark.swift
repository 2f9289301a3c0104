import EdgeRuntime

/// The `--bench N` harness: each stage runs once to warm up (first touch of the arena, caches, the
/// thread pool's first wake-up), then N times on the monotonic clock; the report gives the median
/// (the number to quote), the minimum (the machine's best case) and the maximum (throttling or
/// another process), then the kernel paths taken and the memory: weights, arena and peak RSS.
struct BenchmarkStage {
    var name: String
    var runs: Int
    var medianMilliseconds: Double
    var minimumMilliseconds: Double
    var maximumMilliseconds: Double
}

/// Runs `body` once untimed, then `runs` times, and summarizes the wall-clock durations.
func measure(_ name: String, runs: Int, _ body: () -> Void) -> BenchmarkStage {
    body()
    var durations: [Double] = []
    for _ in 0..<max(runs, 1) {
        let start = monotonicNanoseconds()
        body()
        durations.append(Double(monotonicNanoseconds() &- start) / 1_000_000)
    }
    durations.sort()
    let middle = durations.count / 2
    let median = durations.count % 2 == 1 ? durations[middle] : (durations[middle - 1] + durations[middle]) / 2
    return BenchmarkStage(name: name, runs: durations.count, medianMilliseconds: median,
                          minimumMilliseconds: durations[0], maximumMilliseconds: durations[durations.count - 1])
}

/// Every stage measured in one run of the program, printed once at the end.
struct BenchmarkReport {
    var threads: Int
    var stages: [BenchmarkStage] = []
    /// The int8 and float GEMM kernels this process runs (DeviceKernelPaths.swift).
    var int8GEMMPath = ""
    var floatGEMMPath = ""
    /// The model file (mapped read-only), its constants (weights), and the arena plus kernel scratch
    /// a run works in (`Detector.workingBytes`).
    var modelFileBytes = 0
    var weightBytes = 0
    var workingBytes = 0
    /// Int8 weights the file stores packed for this CPU (used in place from the mapping) and packed
    /// for another (repacked at load into owned memory).
    var inPlaceWeightBytes = 0
    var repackedWeightBytes = 0
    var peakResidentKiB = 0

    init(threads: Int) {
        self.threads = threads
    }

    mutating func append(_ stage: BenchmarkStage) {
        stages.append(stage)
    }

    /// One line per stage, then the kernels, the model's memory and the peak RSS:
    /// `bench decode: 10 runs, median 1.234 ms, min 1.200 ms, max 1.402 ms (1 thread)`
    /// `kernels: int8 GEMM neonDot (SDOT 4x16), float GEMM simd (NEON FMA 6x16)`
    /// `memory: weights 2.1 MiB (2202112 bytes), arena + scratch 1.4 MiB (...), model file 2.2 MiB (...)`
    var text: String {
        var lines: [String] = []
        for stage in stages {
            lines.append("bench \(stage.name): \(stage.runs) run\(stage.runs == 1 ? "" : "s"), median \(formatFixed(stage.medianMilliseconds, decimals: 3)) ms, "
                + "min \(formatFixed(stage.minimumMilliseconds, decimals: 3)) ms, max \(formatFixed(stage.maximumMilliseconds, decimals: 3)) ms "
                + "(\(threads) thread\(threads == 1 ? "" : "s"))")
        }
        lines.append("kernels: int8 GEMM \(int8GEMMPath), float GEMM \(floatGEMMPath)")
        lines.append("memory: weights \(mebibytes(weightBytes)), arena + scratch \(mebibytes(workingBytes)), "
            + "model file \(mebibytes(modelFileBytes))")
        lines.append("int8 weights: \(mebibytes(inPlaceWeightBytes)) used in place, \(mebibytes(repackedWeightBytes)) repacked at load")
        lines.append("peak RSS: \(formatFixed(Double(peakResidentKiB) / 1024, decimals: 1)) MiB (\(peakResidentKiB) KiB)")
        var joined = ""
        for (index, line) in lines.enumerated() {
            if index > 0 { joined += "\n" }
            joined += line
        }
        return joined
    }

    /// One JSON object: {"threads":4,"int8_gemm":"neon (SMLAL 2x8)","float_gemm":"simd (NEON FMA 6x16)",
    /// "weight_bytes":...,"working_bytes":...,"model_file_bytes":...,"peak_rss_kib":9120,
    /// "stages":[{"name":"decode","runs":10,...}]}.
    var json: String {
        var text = "{\"threads\":\(threads),\"int8_gemm\":\(JSONText.string(int8GEMMPath)),\"float_gemm\":\(JSONText.string(floatGEMMPath)),"
            + "\"weight_bytes\":\(weightBytes),\"working_bytes\":\(workingBytes),\"model_file_bytes\":\(modelFileBytes),"
            + "\"int8_in_place_bytes\":\(inPlaceWeightBytes),\"int8_repacked_bytes\":\(repackedWeightBytes),"
            + "\"peak_rss_kib\":\(peakResidentKiB),\"stages\":["
        for (index, stage) in stages.enumerated() {
            if index > 0 { text += "," }
            text += "{\"name\":\"\(stage.name)\",\"runs\":\(stage.runs),"
                + "\"median_ms\":\(formatFixed(stage.medianMilliseconds, decimals: 4)),"
                + "\"min_ms\":\(formatFixed(stage.minimumMilliseconds, decimals: 4)),"
                + "\"max_ms\":\(formatFixed(stage.maximumMilliseconds, decimals: 4))}"
        }
        return text + "]}"
    }
}

/// `bytes` as "2.1 MiB (2202112 bytes)".
private func mebibytes(_ bytes: Int) -> String {
    "\(formatFixed(Double(bytes) / 1_048_576, decimals: 1)) MiB (\(bytes) bytes)"
}
