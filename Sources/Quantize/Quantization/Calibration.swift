import EdgeRuntime
import Foundation
import Kernels

/// How an activation's int8 range is chosen from what calibration saw.
public enum CalibrationMethod: String, CaseIterable, Sendable {
    /// The observed minimum and maximum (every value representable, coarser steps).
    case minMax = "minmax"
    /// Clip the rarest tails: the range holding all but `percentileTail` of the values on each side.
    case percentile
    /// The range whose int8 grid loses the least information (KL divergence between the observed
    /// histogram and its quantized version, clipped mass included), as TensorRT's entropy calibrator.
    case entropy
    /// The range with the smallest expected squared error (rounding inside, clipping outside),
    /// computed on the observed histogram through the exact int8 grid the runtime uses.
    case mse

    /// Whether the observer needs the second (histogram) pass over the calibration images.
    var needsHistogram: Bool { self != .minMax }
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
        let executor = try GraphExecutor(graph: graph, threads: threads, foldsConstantSubgraphs: false)
        var statistics = ActivationStatistics(
            minimum: Array(repeating: .infinity, count: graph.values.count),
            maximum: Array(repeating: -.infinity, count: graph.values.count),
            histograms: Array(repeating: [], count: graph.values.count))
        let passes = method.needsHistogram ? 2 : 1
        for pass in 0..<passes {
            for (index, input) in inputs.enumerated() {
                // The graph input is quantized too (by the first convolution's quantize node).
                for value in graph.inputs {
                    if pass == 0 { statistics.observeRange(input, value: value.index) } else { statistics.observeHistogram(input, value: value.index) }
                }
                _ = try executor.run(input: input) { nodeIndex in
                    // Reshapes too: an int8 layer may read a reshaped float value (D-FINE's channel halves, a
                    // concatenated map), and its quantize node needs that value's range.
                    let value = graph.nodes[nodeIndex].output
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
        let low = minimum[index], high = maximum[index]
        if !(low <= high) { return Int8Quantization(scale: 1, zeroPoint: 0) }
        let histogram = HistogramRange(counts: histograms[index], minimum: low, maximum: high)
        let range: (low: Float, high: Float)
        switch method {
        case .minMax: range = (low, high)
        case .percentile: range = histogram?.percentile(tail: tail) ?? (low, high)
        case .entropy: range = histogram?.minimumDivergence() ?? (low, high)
        case .mse: range = histogram?.minimumSquaredError() ?? (low, high)
        }
        return Int8Quantization.covering(minimum: range.low, maximum: range.high)
    }
}

/// Range choices made on one activation's histogram (`counts.count` equal bins over [minimum,
/// maximum]). The entropy and MSE searches shrink the zero-including range [min(minimum, 0),
/// max(maximum, 0)] by one factor on both sides (so the zero point stays put) from 1 down to 1/8,
/// in steps of 16 histogram bins, and keep the factor with the lowest cost; ties keep the widest.
struct HistogramRange {
    let counts: [UInt64]
    let minimum: Float
    let maximum: Float
    let binWidth: Float
    let total: UInt64

    /// Smallest shrink factor tried, as a number of histogram bins (the full range is `counts.count`).
    static let searchStep = 16

    init?(counts: [UInt64], minimum: Float, maximum: Float) {
        guard !counts.isEmpty, maximum > minimum else { return nil }
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        self.counts = counts
        self.minimum = minimum
        self.maximum = maximum
        self.binWidth = (maximum - minimum) / Float(counts.count)
        self.total = total
    }

    /// The range holding all but `tail` of the values on each side.
    func percentile(tail: Double) -> (low: Float, high: Float) {
        let clip = UInt64(Double(total) * tail)
        var seen: UInt64 = 0
        var lowBin = 0
        while lowBin < counts.count - 1, seen + counts[lowBin] <= clip { seen += counts[lowBin]; lowBin += 1 }
        seen = 0
        var highBin = counts.count - 1
        while highBin > 0, seen + counts[highBin] <= clip { seen += counts[highBin]; highBin -= 1 }
        let clippedLow = minimum + Float(lowBin) * binWidth
        let clippedHigh = minimum + Float(highBin + 1) * binWidth
        return clippedLow < clippedHigh ? (clippedLow, clippedHigh) : (minimum, maximum)
    }

    /// The candidate ranges: [low, high] x (bins / counts.count) for bins = counts.count, ... , counts.count / 8.
    private var candidates: [(low: Float, high: Float)] {
        let low = min(minimum, 0), high = max(maximum, 0)
        let full = counts.count
        return stride(from: full, through: max(full / 8, 1), by: -Self.searchStep).map { bins in
            let factor = Float(bins) / Float(full)
            return (low * factor, high * factor)
        }
    }

    /// Index of the bin holding `x`, clamped to the histogram.
    private func bin(of x: Float) -> Int {
        min(max(Int(((x - minimum) / binWidth).rounded(.down)), 0), counts.count - 1)
    }

    /// TensorRT-style entropy calibration: for each candidate range, P is the histogram with the
    /// mass outside the range added to its edge bins; Q spreads the mass of each int8 step (from
    /// the histogram without the outliers) evenly over that step's non-empty bins. Keeps the range
    /// with the smallest KL(P || Q).
    func minimumDivergence() -> (low: Float, high: Float) {
        var best = (low: minimum, high: maximum), bestCost = Double.infinity
        for range in candidates {
            let cost = divergence(range)
            if cost < bestCost { bestCost = cost; best = range }
        }
        return best
    }

    private func divergence(_ range: (low: Float, high: Float)) -> Double {
        let grid = Int8Quantization.covering(minimum: range.low, maximum: range.high)
        let first = bin(of: range.low), last = bin(of: range.high)
        guard last > first else { return .infinity }
        var p = [Double](repeating: 0, count: last - first + 1)
        for i in first...last { p[i - first] = Double(counts[i]) }
        // Q: the in-range mass of each int8 level, spread over the level's non-empty bins.
        var levelMass = [Double](repeating: 0, count: 256), levelBins = [Double](repeating: 0, count: 256)
        var levelOf = [Int](repeating: 0, count: p.count)
        for i in 0..<p.count {
            let centre = minimum + (Float(first + i) + 0.5) * binWidth
            let level = Int(grid.quantize(centre)) + 128
            levelOf[i] = level
            levelMass[level] += p[i]
            if p[i] > 0 { levelBins[level] += 1 }
        }
        // P: the outliers join the edge bins.
        var below: UInt64 = 0, above: UInt64 = 0
        for i in 0..<first { below += counts[i] }
        for i in (last + 1)..<counts.count { above += counts[i] }
        p[0] += Double(below)
        p[p.count - 1] += Double(above)
        let totalP = Double(total), totalQ = levelMass.reduce(0, +)
        guard totalQ > 0 else { return .infinity }
        var divergence = 0.0
        for i in 0..<p.count where p[i] > 0 {
            let level = levelOf[i]
            // A bin that is empty inside but holds outliers gets Q mass 0: infinitely bad, as in TensorRT
            // (which smooths it); use a tiny floor so such ranges lose to any finite one.
            let q = levelBins[level] > 0 && counts[first + i] > 0 ? levelMass[level] / levelBins[level] / totalQ : 1e-12
            let pi = p[i] / totalP
            divergence += pi * log(pi / q)
        }
        return divergence
    }

    /// MSE calibration: for each candidate range, the squared error of every bin centre through the
    /// exact int8 grid (rounding inside the range, clipping outside), weighted by the bin's count.
    func minimumSquaredError() -> (low: Float, high: Float) {
        var best = (low: minimum, high: maximum), bestCost = Double.infinity
        for range in candidates {
            let grid = Int8Quantization.covering(minimum: range.low, maximum: range.high)
            var cost = 0.0
            for i in 0..<counts.count where counts[i] > 0 {
                let centre = minimum + (Float(i) + 0.5) * binWidth
                let error = Double(centre - grid.dequantize(grid.quantize(centre)))
                cost += Double(counts[i]) * error * error
            }
            if cost < bestCost { bestCost = cost; best = range }
        }
        return best
    }
}
