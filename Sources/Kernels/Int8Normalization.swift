/// Int8 LayerNorm (with an optional int8 residual) and GroupNorm, as docs/QUANTIZATION.md's table
/// has them: dequantize to fp32, statistics in fp32, requantize with the one rule. Every path
/// computes, per row (LayerNorm) or group (GroupNorm), these fp32 operations in this order:
///
///     v        = Float(q - zq) * sq  [+ Float(r - zr) * sr]      the residual is an int8 tensor of its own
///     mean     = blockedSum(v) / Float(n)
///     variance = blockedSum((v - mean) * (v - mean)) / Float(n)
///     inverse  = 1 / (variance + epsilon).squareRoot()
///     out      = requantize(((v - mean) * inverse * gamma[c] + beta[c]) * (1 / s_out))
///
/// The sums follow the blocked order of VectorMath.swift (value i of a segment into lane i % 8, the
/// lanes combined by a fixed tree): the SIMD8 paths accumulate one vector, the references eight
/// scalar lanes, so fast and reference outputs are equal bit for bit, on any pool size. A segment
/// is a row for LayerNorm and one pixel's channels of the group for GroupNorm. `epsilon` must be
/// positive (a constant row would otherwise give 0 * infinity).

/// An int8 operand: its values and what they mean.
public struct Int8Operand {
    public var values: UnsafePointer<Int8>
    public var quantization: Int8Quantization

    public init(values: UnsafePointer<Int8>, quantization: Int8Quantization) {
        self.values = values
        self.quantization = quantization
    }
}

/// Row-wise int8 LayerNorm over `columns`, of `input` or of (input + residual) in real values.
/// output: [rows, columns] int8 in `outputQuantization`; it may equal the input or the residual.
/// Rows are split over `pool` in blocks. The scalar level runs `int8LayerNormReference`.
public func int8LayerNorm(input: Int8Operand, residual: Int8Operand?, rows: Int, columns: Int,
                          gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                          outputQuantization: Int8Quantization, output: UnsafeMutablePointer<Int8>, pool: ThreadPool? = nil) {
    if rows <= 0 || columns <= 0 { return }
    if KernelDispatch.current == .scalar {
        int8LayerNormReference(input: input, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta,
                               epsilon: epsilon, outputQuantization: outputQuantization, output: output)
        return
    }
    let rowsPerTask = rowsPerNormalizationTask(columns: columns)
    runTasks((rows + rowsPerTask - 1) / rowsPerTask, pool: pool,
             Int8LayerNormJob(input: input, residual: residual, rows: rows, columns: columns, rowsPerTask: rowsPerTask,
                              gamma: gamma, beta: beta, epsilon: epsilon, output: Int8NormOutput(outputQuantization),
                              destination: output))
}

/// The requantization constants of a normalization's output, as SIMD8 vectors.
struct Int8NormOutput {
    let multiplier: SIMD8<Float>, lower: SIMD8<Float>, upper: SIMD8<Float>, zeroPoint: SIMD8<Int32>

    init(_ quantization: Int8Quantization) {
        let range = Int8OutputRange(zeroPoint: quantization.zeroPoint)
        multiplier = SIMD8(repeating: 1 / quantization.scale)
        lower = SIMD8(repeating: range.lowerBound)
        upper = SIMD8(repeating: range.upperBound)
        zeroPoint = SIMD8(repeating: range.zeroPoint)
    }

    /// Eight outputs: the requantization of `normalized` (real values) with the one rule.
    @inline(__always)
    func quantize(_ normalized: SIMD8<Float>) -> SIMD8<Int32> {
        requantize(normalized * multiplier, lower: lower, upper: upper, zeroPoint: zeroPoint)
    }
}

/// Eight dequantized values of `operand` from `first` (`count` of them valid), as Float(q - zp) * s.
@inline(__always)
func dequantizedBlock(_ operand: Int8Operand, _ first: Int, count: Int) -> SIMD8<Float> {
    let centred = loadInt8s(operand.values + first, count: count) &- SIMD8(repeating: operand.quantization.zeroPoint)
    return SIMD8<Float>(centred) * operand.quantization.scale
}

/// The tasks of one `int8LayerNorm` call: `rowsPerTask` rows each, eight columns at a time.
private struct Int8LayerNormJob: ParallelJob {
    let input: Int8Operand, residual: Int8Operand?, rows: Int, columns: Int, rowsPerTask: Int
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    let output: Int8NormOutput, destination: UnsafeMutablePointer<Int8>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8LayerNormJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        for row in task * rowsPerTask..<min(rows, (task + 1) * rowsPerTask) {
            let offset = row * columns
            @inline(__always) func block(_ first: Int) -> SIMD8<Float> {
                let values = dequantizedBlock(input, offset + first, count: columns - first)
                guard let residual else { return values }
                return values + dequantizedBlock(residual, offset + first, count: columns - first)
            }
            let mean = blockedSum(segments: 1, length: columns) { _, first in block(first) } / Float(columns)
            let squares = blockedSum(segments: 1, length: columns) { _, first in
                let centered = block(first) - mean
                return centered * centered
            }
            let inverseDeviation = 1 / (squares / Float(columns) + epsilon).squareRoot()
            var first = 0
            while first < columns {
                let count = columns - first
                let normalized = (block(first) - mean) * inverseDeviation * loadFloats(gamma + first, count: count)
                    + loadFloats(beta + first, count: count)
                storeInt8s(output.quantize(normalized), destination + offset + first, count: count)
                first += 8
            }
        }
    }
}

/// The scalar reference of `int8LayerNorm`: one element at a time, the sums in eight scalar lanes.
public func int8LayerNormReference(input: Int8Operand, residual: Int8Operand?, rows: Int, columns: Int,
                                   gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                                   outputQuantization: Int8Quantization, output: UnsafeMutablePointer<Int8>) {
    if rows <= 0 || columns <= 0 { return }
    let range = Int8OutputRange(zeroPoint: outputQuantization.zeroPoint)
    let outputMultiplier = 1 / outputQuantization.scale
    for row in 0..<rows {
        let offset = row * columns
        @inline(__always) func value(_ column: Int) -> Float {
            let value = input.quantization.dequantize(input.values[offset + column])
            guard let residual else { return value }
            return value + residual.quantization.dequantize(residual.values[offset + column])
        }
        let mean = blockedSumReference(segments: 1, length: columns) { _, column in value(column) } / Float(columns)
        let squares = blockedSumReference(segments: 1, length: columns) { _, column in
            let centered = value(column) - mean
            return centered * centered
        }
        let inverseDeviation = 1 / (squares / Float(columns) + epsilon).squareRoot()
        for column in 0..<columns {
            let normalized = (value(column) - mean) * inverseDeviation * gamma[column] + beta[column]
            output[offset + column] = requantize(normalized * outputMultiplier, range)
        }
    }
}

/// Int8 GroupNorm on an HWC map: `groups` groups of channels/groups consecutive channels,
/// statistics over every pixel of the group, as `groupNorm` (and split over `pool` as it is: up to
/// 32 groups' statistics in one walk, then the normalization by blocks of pixels). output:
/// [pixels, channels] int8 in `outputQuantization`; it may equal the input. The scalar level runs
/// `int8GroupNormReference`.
public func int8GroupNorm(input: Int8Operand, pixels: Int, channels: Int, groups: Int,
                          gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                          outputQuantization: Int8Quantization, output: UnsafeMutablePointer<Int8>, pool: ThreadPool? = nil) {
    if groups <= 0 || channels % groups != 0 || pixels <= 0 { return }
    if KernelDispatch.current == .scalar {
        int8GroupNormReference(input: input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                               epsilon: epsilon, outputQuantization: outputQuantization, output: output)
        return
    }
    let channelsPerGroup = channels / groups
    let requantization = Int8NormOutput(outputQuantization)
    withGroupStatistics { means, inverseDeviations in
        var firstGroup = 0
        while firstGroup < groups {
            let groupCount = min(groupNormGroupsPerWalk, groups - firstGroup)
            let firstChannel = firstGroup * channelsPerGroup
            groupNormStatistics(pixels: pixels, groupCount: groupCount, channelsPerGroup: channelsPerGroup, epsilon: epsilon,
                                means: means, inverseDeviations: inverseDeviations) { pixel, group, first in
                dequantizedBlock(input, pixel * channels + firstChannel + group * channelsPerGroup + first, count: channelsPerGroup - first)
            }
            let pixelsPerTask = rowsPerNormalizationTask(columns: groupCount * channelsPerGroup)
            runTasks((pixels + pixelsPerTask - 1) / pixelsPerTask, pool: pool,
                     Int8GroupNormJob(input: input, pixels: pixels, pixelsPerTask: pixelsPerTask, channels: channels,
                                      firstChannel: firstChannel, groupCount: groupCount, channelsPerGroup: channelsPerGroup,
                                      means: means, inverseDeviations: inverseDeviations, gamma: gamma, beta: beta,
                                      output: requantization, destination: output))
            firstGroup += groupCount
        }
    }
}

/// The normalization of one `int8GroupNorm` chunk of groups: `pixelsPerTask` pixels each.
private struct Int8GroupNormJob: ParallelJob {
    let input: Int8Operand, pixels: Int, pixelsPerTask: Int, channels: Int
    let firstChannel: Int, groupCount: Int, channelsPerGroup: Int
    let means: UnsafeMutablePointer<Float>, inverseDeviations: UnsafeMutablePointer<Float>
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    let output: Int8NormOutput, destination: UnsafeMutablePointer<Int8>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8GroupNormJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        for pixel in task * pixelsPerTask..<min(pixels, (task + 1) * pixelsPerTask) {
            for group in 0..<groupCount {
                let channel = firstChannel + group * channelsPerGroup
                var first = 0
                while first < channelsPerGroup {
                    let lanes = channelsPerGroup - first
                    let normalized = (dequantizedBlock(input, pixel * channels + channel + first, count: lanes) - means[group])
                        * inverseDeviations[group] * loadFloats(gamma + channel + first, count: lanes)
                        + loadFloats(beta + channel + first, count: lanes)
                    storeInt8s(output.quantize(normalized), destination + pixel * channels + channel + first, count: lanes)
                    first += 8
                }
            }
        }
    }
}

/// The scalar reference of `int8GroupNorm`: one element at a time, the sums in eight scalar lanes
/// (lane = channel within the group % 8, pixel by pixel).
public func int8GroupNormReference(input: Int8Operand, pixels: Int, channels: Int, groups: Int,
                                   gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                                   outputQuantization: Int8Quantization, output: UnsafeMutablePointer<Int8>) {
    if groups <= 0 || channels % groups != 0 || pixels <= 0 { return }
    let range = Int8OutputRange(zeroPoint: outputQuantization.zeroPoint)
    let outputMultiplier = 1 / outputQuantization.scale
    let channelsPerGroup = channels / groups
    let count = Float(pixels * channelsPerGroup)
    for group in 0..<groups {
        let firstChannel = group * channelsPerGroup
        @inline(__always) func value(_ pixel: Int, _ channel: Int) -> Float {
            input.quantization.dequantize(input.values[pixel * channels + firstChannel + channel])
        }
        let mean = blockedSumReference(segments: pixels, length: channelsPerGroup, value) / count
        let squares = blockedSumReference(segments: pixels, length: channelsPerGroup) { pixel, channel in
            let centered = value(pixel, channel) - mean
            return centered * centered
        }
        let inverseDeviation = 1 / (squares / count + epsilon).squareRoot()
        for pixel in 0..<pixels {
            for channel in 0..<channelsPerGroup {
                let affine = firstChannel + channel
                let normalized = (value(pixel, channel) - mean) * inverseDeviation * gamma[affine] + beta[affine]
                output[pixel * channels + affine] = requantize(normalized * outputMultiplier, range)
            }
        }
    }
}
