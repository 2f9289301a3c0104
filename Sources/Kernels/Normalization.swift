import CLibc
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

// LayerNorm and GroupNorm on float tensors: each a scalar reference that reads like PyTorch's
// formula (sequential sums) and a SIMD8 path (NEON on arm64, SSE2 on x86-64) that sums in the
// blocked order of VectorMath.swift, split over the pool. The scalar level runs the references.
//
// The two differ only in the order of the mean's and the variance's additions. Recursive summation
// of n terms errs by at most n·u·sum|x| (u = 2^-24), so both stay within
//     |fast - reference| <= 2·(n + 8)·u·|gamma|·(|x̂| + mean|x| / σ + 1) + 4 ulp(|y|)
// of each other (x̂ the normalized value, σ the deviation): the mean moves every x - mean by at most
// (n + 8)·u·mean|x|, the variance's relative error moves 1/σ by half of 2·(n + 8)·u. Tests check this
// bound. Measured on 5440x256: 12u·(|γ| + |y - β| + |β|) for layerNorm, 74u for groupNorm (43520 terms
// a group; against double precision the SIMD path errs by 9.5u there, the sequential reference by 74u).

/// Row-wise LayerNorm over `columns`. With `residual`, normalizes (input + residual), which is the
/// post-norm transformer's "add & norm" in one pass. `output` may equal `input` or `residual` (in
/// place): each element is read before it is written.
///
/// Statistics are in Float like PyTorch: the mean first, then the biased variance of (x - mean).
/// Rows are split over `pool` in blocks; a row is computed the same way on any thread.
public func layerNorm(input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, columns: Int,
                      gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                      output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
    if rows <= 0 || columns <= 0 { return }
    if KernelDispatch.current == .scalar {
        layerNormReference(input: input, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta,
                           epsilon: epsilon, output: output)
        return
    }
    let rowsPerTask = rowsPerNormalizationTask(columns: columns)
    runTasks((rows + rowsPerTask - 1) / rowsPerTask, pool: pool,
             LayerNormJob(input: input, residual: residual, rows: rows, columns: columns, rowsPerTask: rowsPerTask,
                          gamma: gamma, beta: beta, epsilon: epsilon, output: output, level: KernelDispatch.current))
}

/// Rows per task of the row-wise kernels: about 8192 elements, so a task outweighs the pool's lock.
@inline(__always)
func rowsPerNormalizationTask(columns: Int) -> Int {
    max(1, 8192 / max(columns, 1))
}

/// The tasks of one `layerNorm` call: `rowsPerTask` rows each, eight columns at a time (`layerNormRows`, on
/// YMM registers from `.avx2` up).
private struct LayerNormJob: ParallelJob {
    let input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, columns: Int, rowsPerTask: Int
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    let output: UnsafeMutablePointer<Float>, level: KernelLevel

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: LayerNormJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let taskRows = task * rowsPerTask..<min(rows, (task + 1) * rowsPerTask)
        #if arch(x86_64) && canImport(KernelsAVX2)
        if level >= .avx2 {
            layerNormRowsAVX2(input: input, residual: residual, rows: taskRows, columns: columns, gamma: gamma, beta: beta,
                              epsilon: epsilon, output: output)
            return
        }
        #endif
        layerNormRows(input: input, residual: residual, rows: taskRows, columns: columns, gamma: gamma, beta: beta,
                      epsilon: epsilon, output: output)
    }
}

/// The scalar reference of `layerNorm`: sequential sums, one element at a time.
public func layerNormReference(input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, columns: Int,
                               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                               output: UnsafeMutablePointer<Float>) {
    if columns <= 0 { return }
    for row in 0..<max(rows, 0) {
        let source = input + row * columns
        let added = residual.map { $0 + row * columns }
        let destination = output + row * columns
        @inline(__always) func value(_ column: Int) -> Float {
            if let added { return source[column] + added[column] }
            return source[column]
        }
        var sum: Float = 0
        for column in 0..<columns { sum += value(column) }
        let mean = sum / Float(columns)
        var squares: Float = 0
        for column in 0..<columns {
            let centered = value(column) - mean
            squares += centered * centered
        }
        let inverseDeviation = 1 / sqrtf(squares / Float(columns) + epsilon)
        for column in 0..<columns {
            destination[column] = (value(column) - mean) * inverseDeviation * gamma[column] + beta[column]
        }
    }
}

/// GroupNorm on an HWC map: `groups` groups of channels/groups consecutive channels, statistics
/// over every pixel of the group (Deformable DETR's input projections use 32 groups of 8).
/// `output` may equal `input`.
///
/// The SIMD8 path takes up to 32 groups at a time: their statistics in one walk over the pixels per task,
/// the groups split over `pool` (each pixel's channels of a task's groups are adjacent in memory, so the
/// walk streams; per-group walks down a column measured twice as slow), then the normalization split over
/// `pool` by blocks of pixels. Each statistic is computed the same way whatever the pool.
public func groupNorm(input: UnsafePointer<Float>, pixels: Int, channels: Int, groups: Int,
                      gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                      output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
    if groups <= 0 || channels % groups != 0 || pixels <= 0 { return }
    if KernelDispatch.current == .scalar {
        groupNormReference(input: input, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                           epsilon: epsilon, output: output)
        return
    }
    let channelsPerGroup = channels / groups
    withGroupStatistics { means, inverseDeviations in
        var firstGroup = 0
        while firstGroup < groups {
            let groupCount = min(groupNormGroupsPerWalk, groups - firstGroup)
            let firstChannel = firstGroup * channelsPerGroup
            // The statistics split by groups, one walk of the map per task (each group summed in its one order).
            let statisticsTasks = min(groupCount, pool?.threadCount ?? 1)
            let groupsPerTask = (groupCount + statisticsTasks - 1) / statisticsTasks
            runTasks((groupCount + groupsPerTask - 1) / groupsPerTask, pool: pool,
                     GroupNormStatisticsJob(input: input + firstChannel, pixels: pixels, channels: channels, groupCount: groupCount,
                                            groupsPerTask: groupsPerTask, channelsPerGroup: channelsPerGroup, epsilon: epsilon,
                                            means: means, inverseDeviations: inverseDeviations))
            let pixelsPerTask = rowsPerNormalizationTask(columns: groupCount * channelsPerGroup)
            runTasks((pixels + pixelsPerTask - 1) / pixelsPerTask, pool: pool,
                     GroupNormJob(input: input, pixels: pixels, pixelsPerTask: pixelsPerTask, channels: channels,
                                  firstChannel: firstChannel, groupCount: groupCount, channelsPerGroup: channelsPerGroup,
                                  means: means, inverseDeviations: inverseDeviations, gamma: gamma, beta: beta, output: output))
            firstGroup += groupCount
        }
    }
}

/// The statistics of one `groupNorm` chunk of groups: `groupsPerTask` groups each, every pixel walked for
/// them (`groupNormStatistics`, whose order per group does not depend on which groups share the walk).
private struct GroupNormStatisticsJob: ParallelJob {
    /// The chunk's first channel of pixel 0.
    let input: UnsafePointer<Float>
    let pixels: Int, channels: Int, groupCount: Int, groupsPerTask: Int, channelsPerGroup: Int, epsilon: Float
    let means: UnsafeMutablePointer<Float>, inverseDeviations: UnsafeMutablePointer<Float>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: GroupNormStatisticsJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let firstGroup = task * groupsPerTask
        let origin = input + firstGroup * channelsPerGroup
        groupNormStatistics(pixels: pixels, groupCount: min(groupsPerTask, groupCount - firstGroup), channelsPerGroup: channelsPerGroup,
                            epsilon: epsilon, means: means + firstGroup, inverseDeviations: inverseDeviations + firstGroup) { pixel, group, first in
            loadFloats(origin + pixel * channels + group * channelsPerGroup + first, count: channelsPerGroup - first)
        }
    }
}

/// The normalization of one `groupNorm` chunk of groups: `pixelsPerTask` pixels each.
private struct GroupNormJob: ParallelJob {
    let input: UnsafePointer<Float>, pixels: Int, pixelsPerTask: Int, channels: Int
    let firstChannel: Int, groupCount: Int, channelsPerGroup: Int
    let means: UnsafeMutablePointer<Float>, inverseDeviations: UnsafeMutablePointer<Float>
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: GroupNormJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        for pixel in task * pixelsPerTask..<min(pixels, (task + 1) * pixelsPerTask) {
            for group in 0..<groupCount {
                let channel = firstChannel + group * channelsPerGroup
                var first = 0
                while first < channelsPerGroup {
                    let lanes = channelsPerGroup - first
                    let normalized = (loadFloats(input + pixel * channels + channel + first, count: lanes) - means[group])
                        * inverseDeviations[group] * loadFloats(gamma + channel + first, count: lanes)
                        + loadFloats(beta + channel + first, count: lanes)
                    storeFloats(normalized, output + pixel * channels + channel + first, count: lanes)
                    first += 8
                }
            }
        }
    }
}

/// The scalar reference of `groupNorm`: sequential sums over the group's pixels and channels.
public func groupNormReference(input: UnsafePointer<Float>, pixels: Int, channels: Int, groups: Int,
                               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                               output: UnsafeMutablePointer<Float>) {
    if groups <= 0 || channels % groups != 0 || pixels <= 0 { return }
    let channelsPerGroup = channels / groups
    let count = Float(pixels * channelsPerGroup)
    for group in 0..<groups {
        let firstChannel = group * channelsPerGroup
        var sum: Float = 0
        for pixel in 0..<pixels {
            let source = input + pixel * channels + firstChannel
            for channel in 0..<channelsPerGroup { sum += source[channel] }
        }
        let mean = sum / count
        var squares: Float = 0
        for pixel in 0..<pixels {
            let source = input + pixel * channels + firstChannel
            for channel in 0..<channelsPerGroup {
                let centered = source[channel] - mean
                squares += centered * centered
            }
        }
        let inverseDeviation = 1 / sqrtf(squares / count + epsilon)
        for pixel in 0..<pixels {
            let source = input + pixel * channels + firstChannel
            let destination = output + pixel * channels + firstChannel
            for channel in 0..<channelsPerGroup {
                let affine = firstChannel + channel
                destination[channel] = (source[channel] - mean) * inverseDeviation * gamma[affine] + beta[affine]
            }
        }
    }
}

// MARK: - GroupNorm statistics, shared with int8GroupNorm

/// The most groups whose GroupNorm statistics are gathered in one walk: their accumulators and
/// statistics live on the stack.
let groupNormGroupsPerWalk = 32

/// Writes the mean and 1 / sqrt(variance + epsilon) of each of `groupCount` (<= 32) consecutive
/// groups of GroupNorm in the blocked order, a pixel's channels of a group being one segment. The
/// map is walked pixel by pixel (the groups' channels of a pixel are adjacent in memory), which keeps
/// every lane's order, pixel then channel, and so the result of a `blockedSum` per group.
/// `block(pixel, group, first)`: eight values of the group's channels from `first`.
@inline(__always)
func groupNormStatistics(pixels: Int, groupCount: Int, channelsPerGroup: Int, epsilon: Float,
                         means: UnsafeMutablePointer<Float>, inverseDeviations: UnsafeMutablePointer<Float>,
                         _ block: (_ pixel: Int, _ group: Int, _ first: Int) -> SIMD8<Float>) {
    let count = Float(pixels * channelsPerGroup)
    withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: groupNormGroupsPerWalk) { lanes in
        let lanes = lanes.baseAddress!
        lanes.initialize(repeating: SIMD8(), count: groupCount)
        for pixel in 0..<pixels {
            for group in 0..<groupCount {
                accumulateBlocked(&lanes[group], length: channelsPerGroup) { first in block(pixel, group, first) }
            }
        }
        for group in 0..<groupCount {
            means[group] = blockedTotal(lanes[group]) / count
            lanes[group] = SIMD8()
        }
        for pixel in 0..<pixels {
            for group in 0..<groupCount {
                let mean = means[group]
                accumulateBlocked(&lanes[group], length: channelsPerGroup) { first in
                    let centered = block(pixel, group, first) - mean
                    return centered * centered
                }
            }
        }
        for group in 0..<groupCount {
            inverseDeviations[group] = 1 / (blockedTotal(lanes[group]) / count + epsilon).squareRoot()
        }
    }
}

/// Runs `body` with room for the means and inverse deviations of `groupNormGroupsPerWalk`
/// groups, on the stack.
@inline(__always)
func withGroupStatistics(_ body: (_ means: UnsafeMutablePointer<Float>, _ inverseDeviations: UnsafeMutablePointer<Float>) -> Void) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * groupNormGroupsPerWalk) { buffer in
        body(buffer.baseAddress!, buffer.baseAddress! + groupNormGroupsPerWalk)
    }
}
