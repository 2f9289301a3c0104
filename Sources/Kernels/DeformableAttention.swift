import CLibc

/// Multi-scale deformable attention core (Deformable DETR), exactly
/// sum_{l,p} A[q,h,l,p] * grid_sample(V_l, 2*loc-1, mode=bilinear, padding_mode=zeros, align_corners=False).
///
/// value: [sum_l H_l*W_l, heads*headDim], levels concatenated in order, each level HWC (row = y*W_l + x).
/// levelShapes: [H_0, W_0, H_1, W_1, ...]; levelStarts: first row of each level in value.
/// levelPoints: the sampling points of each level (Deformable DETR and RT-DETR give every level the same
/// count, D-FINE its own); a head's samples are the levels' points one level after the other.
/// locations: [queries, heads, samples, 2] (samples = the sum of levelPoints), normalized (x, y), not clamped.
/// weights: [queries, heads, samples], already softmaxed. output: [queries, heads*headDim].
/// `discrete` (RT-DETRv2's "discrete" method) replaces the bilinear taps by the one pixel
/// (trunc(x * W + 0.5), trunc(y * H + 0.5)) clamped into the map (`BilinearTaps(discreteX:y:width:height:)`).
///
/// The fast version vectorizes over the head's channels (SIMD8) and splits queries over `pool`.
/// It performs the reference's operations in the reference's order without fused multiply-adds,
/// so its results equal the reference's exactly.
public func deformableAttention(value: UnsafePointer<Float>, levelShapes: UnsafePointer<Int>, levelStarts: UnsafePointer<Int>,
                                levels: Int, heads: Int, headDim: Int, levelPoints: UnsafePointer<Int>, queries: Int,
                                locations: UnsafePointer<Float>, weights: UnsafePointer<Float>, discrete: Bool = false,
                                output: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
    if queries <= 0 || heads <= 0 || headDim <= 0 { return }
    let valueStride = heads * headDim
    let levelCount = max(levels, 0)
    let queriesPerTask = 32
    let taskCount = (queries + queriesPerTask - 1) / queriesPerTask
    runTasks(taskCount, pool: pool,
             DeformableAttentionJob(value: value, valueStride: valueStride, levelShapes: levelShapes, levelStarts: levelStarts,
                                    levelCount: levelCount, heads: heads, headDim: headDim, levelPoints: levelPoints,
                                    samplesPerHead: samplesPerHead(levelPoints, levels: levelCount),
                                    queries: queries, queriesPerTask: queriesPerTask, locations: locations,
                                    weights: weights, discrete: discrete, output: output))
}

/// The tasks of one `deformableAttention` call: `queriesPerTask` queries each.
private struct DeformableAttentionJob: ParallelJob {
    let value: UnsafePointer<Float>, valueStride: Int, levelShapes: UnsafePointer<Int>, levelStarts: UnsafePointer<Int>
    let levelCount: Int, heads: Int, headDim: Int, levelPoints: UnsafePointer<Int>, samplesPerHead: Int
    let queries: Int, queriesPerTask: Int
    let locations: UnsafePointer<Float>, weights: UnsafePointer<Float>, discrete: Bool, output: UnsafeMutablePointer<Float>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: DeformableAttentionJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let firstQuery = task * queriesPerTask
        for query in firstQuery..<min(queries, firstQuery + queriesPerTask) {
            for head in 0..<heads {
                let destination = output + query * valueStride + head * headDim
                destination.update(repeating: 0, count: headDim)
                var sample = (query * heads + head) * samplesPerHead
                for level in 0..<levelCount {
                    let height = levelShapes[2 * level]
                    let width = levelShapes[2 * level + 1]
                    let levelValue = value + levelStarts[level] * valueStride + head * headDim
                    for _ in 0..<max(levelPoints[level], 0) {
                        defer { sample += 1 }
                        guard let tap = BilinearTaps(x: locations[2 * sample], y: locations[2 * sample + 1],
                                                     width: width, height: height, discrete: discrete) else { continue }
                        tap.accumulate(into: destination, weight: weights[sample], level: levelValue,
                                       stride: valueStride, width: width, height: height, count: headDim)
                    }
                }
            }
        }
    }
}

/// The scalar reference of `deformableAttention`, computed as PyTorch's grid_sample does:
/// g = 2*loc - 1, x_im = ((g + 1) * W - 1) / 2, bilinear over the 4 neighbours summed in the order
/// north-west, north-east, south-west, south-east; taps outside the map contribute zero.
public func deformableAttentionReference(value: UnsafePointer<Float>, levelShapes: UnsafePointer<Int>, levelStarts: UnsafePointer<Int>,
                                         levels: Int, heads: Int, headDim: Int, levelPoints: UnsafePointer<Int>,
                                         queries: Int, locations: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                         discrete: Bool = false, output: UnsafeMutablePointer<Float>) {
    if queries <= 0 || heads <= 0 || headDim <= 0 { return }
    let valueStride = heads * headDim
    let samples = samplesPerHead(levelPoints, levels: levels)
    for query in 0..<queries {
        for head in 0..<heads {
            let destination = output + query * valueStride + head * headDim
            for dimension in 0..<headDim { destination[dimension] = 0 }
            var sample = (query * heads + head) * samples
            for level in 0..<max(levels, 0) {
                let height = levelShapes[2 * level]
                let width = levelShapes[2 * level + 1]
                let levelValue = value + levelStarts[level] * valueStride + head * headDim
                for _ in 0..<max(levelPoints[level], 0) {
                    defer { sample += 1 }
                    guard let tap = BilinearTaps(x: locations[2 * sample], y: locations[2 * sample + 1],
                                                 width: width, height: height, discrete: discrete) else { continue }
                    let attention = weights[sample]
                    for dimension in 0..<headDim {
                        let sampled = tap.sample(levelValue, stride: valueStride, width: width, height: height,
                                                 dimension: dimension)
                        destination[dimension] += attention * sampled
                    }
                }
            }
        }
    }
}

/// The samples of one query and head: the levels' point counts summed (negative counts as none).
@inline(__always)
func samplesPerHead(_ levelPoints: UnsafePointer<Int>, levels: Int) -> Int {
    var total = 0
    for level in 0..<max(levels, 0) { total += max(levelPoints[level], 0) }
    return total
}

/// The four bilinear neighbours of one sampling location and their weights, in grid_sample's
/// pixel convention (align_corners=False).
struct BilinearTaps {
    var x0: Int, y0: Int
    var northWest: Float, northEast: Float, southWest: Float, southEast: Float

    /// Bilinear taps, or with `discrete` the one pixel `init(discreteX:y:width:height:)` picks.
    @inline(__always)
    init?(x: Float, y: Float, width: Int, height: Int, discrete: Bool) {
        if discrete {
            self.init(discreteX: x, y: y, width: width, height: height)
        } else {
            self.init(x: x, y: y, width: width, height: height)
        }
    }

    /// RT-DETRv2's discrete sampling as one full-weight tap: the pixel (trunc(x * W + 0.5),
    /// trunc(y * H + 0.5)) clamped into the map (PyTorch's `.to(int64)` truncates toward zero, then
    /// `clamp(0, W - 1)`). The coordinate is clamped as a float first, so NaN (which PyTorch turns into
    /// the most negative integer) lands on 0 and no value reaches an integer conversion unbounded.
    /// The other three taps weigh 0, so they add exact zeros.
    @inline(__always)
    init(discreteX normalizedX: Float, y normalizedY: Float, width: Int, height: Int) {
        @inline(__always) func pixel(_ location: Float, _ size: Int) -> Int {
            let position = location * Float(size) + 0.5
            guard position >= 1 else { return 0 }  // also NaN
            return position >= Float(size - 1) ? size - 1 : Int(position)
        }
        x0 = pixel(normalizedX, width)
        y0 = pixel(normalizedY, height)
        northWest = 1
        northEast = 0
        southWest = 0
        southEast = 0
    }

    /// nil when no neighbour lies inside the map (every tap would contribute zero), which also
    /// rejects NaN and huge locations before they are converted to integers.
    @inline(__always)
    init?(x normalizedX: Float, y normalizedY: Float, width: Int, height: Int) {
        let gridX = 2 * normalizedX - 1
        let gridY = 2 * normalizedY - 1
        let x = ((gridX + 1) * Float(width) - 1) / 2
        let y = ((gridY + 1) * Float(height) - 1) / 2
        guard x > -1, x < Float(width), y > -1, y < Float(height) else { return nil }
        let floorX = floorf(x)
        let floorY = floorf(y)
        x0 = Int(floorX)
        y0 = Int(floorY)
        // Distances to each side, formed as PyTorch's CPU grid_sample forms them, so the weights
        // round the same way: the north-west weight is (distance to south) * (distance to east).
        let toWest = x - floorX, toEast = 1 - toWest
        let toNorth = y - floorY, toSouth = 1 - toNorth
        northWest = toSouth * toEast
        northEast = toSouth * toWest
        southWest = toNorth * toEast
        southEast = toNorth * toWest
    }

    /// Bilinear value of channel `dimension` (row stride `stride`), zero for taps off the map.
    @inline(__always)
    func sample(_ level: UnsafePointer<Float>, stride: Int, width: Int, height: Int, dimension: Int) -> Float {
        let x1 = x0 + 1, y1 = y0 + 1
        var result: Float = 0
        if y0 >= 0 && x0 >= 0 { result += northWest * level[(y0 * width + x0) * stride + dimension] }
        if y0 >= 0 && x1 < width { result += northEast * level[(y0 * width + x1) * stride + dimension] }
        if y1 < height && x0 >= 0 { result += southWest * level[(y1 * width + x0) * stride + dimension] }
        if y1 < height && x1 < width { result += southEast * level[(y1 * width + x1) * stride + dimension] }
        return result
    }

    /// destination[d] += weight * sample(d) for d in 0..<count, eight channels at a time, with
    /// exactly the scalar `sample`'s operations (separate multiplies and adds, same order).
    @inline(__always)
    func accumulate(into destination: UnsafeMutablePointer<Float>, weight: Float, level: UnsafePointer<Float>,
                    stride: Int, width: Int, height: Int, count: Int) {
        let x1 = x0 + 1, y1 = y0 + 1
        let northWestRow: UnsafePointer<Float>? = y0 >= 0 && x0 >= 0 ? level + (y0 * width + x0) * stride : nil
        let northEastRow: UnsafePointer<Float>? = y0 >= 0 && x1 < width ? level + (y0 * width + x1) * stride : nil
        let southWestRow: UnsafePointer<Float>? = y1 < height && x0 >= 0 ? level + (y1 * width + x0) * stride : nil
        let southEastRow: UnsafePointer<Float>? = y1 < height && x1 < width ? level + (y1 * width + x1) * stride : nil
        var dimension = 0
        while dimension + 8 <= count {
            var sampled = SIMD8<Float>()
            if let northWestRow { sampled += northWest * loadVector(northWestRow + dimension) }
            if let northEastRow { sampled += northEast * loadVector(northEastRow + dimension) }
            if let southWestRow { sampled += southWest * loadVector(southWestRow + dimension) }
            if let southEastRow { sampled += southEast * loadVector(southEastRow + dimension) }
            storeVector(loadVector(destination + dimension) + weight * sampled, destination + dimension)
            dimension += 8
        }
        while dimension < count {
            destination[dimension] += weight * sample(level, stride: stride, width: width, height: height, dimension: dimension)
            dimension += 1
        }
    }
}
