import EdgeRuntime
import Kernels

/// How an activation's int8 range is chosen from what calibration saw.
public enum CalibrationMethod: String, CaseIterable, Sendable {
    /// The observed minimum and maximum (every value representable, coarser steps).
    case minMax = "minmax"
    /// Clip the rarest tails: the range holding all but `percentileTail` of the values on each side.
    case percentile
}

/// Per-value statistics of the float graph's activations over the calibration images.
public struct ActivationStatistics: Sendable {
    public static let histogramBins = 2048

    public var minimum: [Float]
    public var maximum: [Float]
    /// Histograms over [minimum, maximum] (second pass; empty until filled).
    public var histograms: [[UInt64]]

    /// Runs the float graph over `inputs` (preprocessed [H, W, 3] images) and records every node
    /// output's range, then (for percentile) a histogram of each over that range.
    public static func collect(graph: Graph, inputs: [[Float]], method: CalibrationMethod, threads: Int,
                               progress: (Int, Int) -> Void = { _, _ in }) throws(ExecutionError) -> ActivationStatistics {
        let executor = try GraphExecutor(graph: graph, threads: threads)
        var statistics = ActivationStatistics(
            minimum: Array(repeating: .infinity, count: graph.values.count),
            maximum: Array(repeating: -.infinity, count: graph.values.count),
            histograms: Array(repeating: [], count: graph.values.count))
        let passes = method == .percentile ? 2 : 1
        for pass in 0..<passes {
            for (index, input) in inputs.enumerated() {
                // The graph input is quantized too (by the first convolution's quantize node).
                for value in graph.inputs {
                    if pass == 0 { statistics.observeRange(input, value: value.index) } else { statistics.observeHistogram(input, value: value.index) }
                }
                _ = try executor.run(input: input) { nodeIndex in
                    let value = graph.nodes[nodeIndex].output
                    if case .reshape = graph.nodes[nodeIndex].operation { return }
                    let data = executor.floatValues(of: value)
                    if pass == 0 {
                        statistics.observeRange(data, value: value.index)
                    } else {
                        statistics.observeHistogram(data, value: value.index)
                    }
                }
                progress(pass * inputs.count + index + 1, passes * inputs.count)
            }
        }
        return statistics
    }

    mutating func observeRange(_ data: [Float], value: Int) {
        var low = minimum[value], high = maximum[value]
        for x in data where x.isFinite {
            if x < low { low = x }
            if x > high { high = x }
        }
        minimum[value] = low
        maximum[value] = high
    }

    mutating func observeHistogram(_ data: [Float], value: Int) {
        let low = minimum[value], high = maximum[value]
        guard high > low else { return }
        if histograms[value].isEmpty { histograms[value] = Array(repeating: 0, count: Self.histogramBins) }
        let scale = Float(Self.histogramBins) / (high - low)
        for x in data where x.isFinite {
            let bin = min(max(Int((x - low) * scale), 0), Self.histogramBins - 1)
            histograms[value][bin] += 1
        }
    }

    /// The int8 quantization of value `index` by `method` (`tail` of the values clipped on each side
    /// for percentile). The range always contains 0 so zero is exact.
    public func quantization(of index: Int, method: CalibrationMethod, tail: Double) -> Int8Quantization {
        var low = minimum[index], high = maximum[index]
        if !(low <= high) { return Int8Quantization(scale: 1, zeroPoint: 0) }
        if method == .percentile, !histograms[index].isEmpty {
            let counts = histograms[index]
            let total = counts.reduce(0, +)
            let clip = UInt64(Double(total) * tail)
            let width = (high - low) / Float(Self.histogramBins)
            var seen: UInt64 = 0
            var lowBin = 0
            while lowBin < counts.count - 1, seen + counts[lowBin] <= clip { seen += counts[lowBin]; lowBin += 1 }
            seen = 0
            var highBin = counts.count - 1
            while highBin > 0, seen + counts[highBin] <= clip { seen += counts[highBin]; highBin -= 1 }
            let clippedLow = low + Float(lowBin) * width
            let clippedHigh = low + Float(highBin + 1) * width
            if clippedLow < clippedHigh {
                low = clippedLow
                high = clippedHigh
            }
        }
        return Int8Quantization.covering(minimum: low, maximum: high)
    }
}
