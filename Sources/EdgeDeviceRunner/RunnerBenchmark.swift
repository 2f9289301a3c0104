/// The `--bench N` harness: each stage runs N times on the monotonic clock; the report gives the
/// median (the number to quote), the minimum (the machine's best case) and the maximum (the
/// first run's cold caches, throttling or another process), then the process's peak RSS.
struct BenchmarkStage {
    var name: String
    var runs: Int
    var medianMilliseconds: Double
    var minimumMilliseconds: Double
    var maximumMilliseconds: Double
}

/// Runs `body` `runs` times and summarizes the wall-clock durations.
func measure(_ name: String, runs: Int, _ body: () -> Void) -> BenchmarkStage {
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
    var peakResidentKiB = 0

    init(threads: Int) {
        self.threads = threads
    }

    mutating func append(_ stage: BenchmarkStage) {
        stages.append(stage)
    }

    /// One line per stage, then the memory line:
    /// `bench decode: 10 runs, median 1.234 ms, min 1.200 ms, max 1.402 ms (1 thread)`.
    var text: String {
        var lines: [String] = []
        for stage in stages {
            lines.append("bench \(stage.name): \(stage.runs) runs, median \(formatFixed(stage.medianMilliseconds, decimals: 3)) ms, "
                + "min \(formatFixed(stage.minimumMilliseconds, decimals: 3)) ms, max \(formatFixed(stage.maximumMilliseconds, decimals: 3)) ms "
                + "(\(threads) thread\(threads == 1 ? "" : "s"))")
        }
        lines.append("peak RSS: \(formatFixed(Double(peakResidentKiB) / 1024, decimals: 1)) MiB (\(peakResidentKiB) KiB)")
        var joined = ""
        for (index, line) in lines.enumerated() {
            if index > 0 { joined += "\n" }
            joined += line
        }
        return joined
    }

    /// One JSON object: {"threads":4,"peak_rss_kib":9120,"stages":[{"name":"decode","runs":10,...}]}.
    var json: String {
        var text = "{\"threads\":\(threads),\"peak_rss_kib\":\(peakResidentKiB),\"stages\":["
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
