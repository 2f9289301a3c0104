#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

/// Multi-scale deformable attention core on int8 value maps:
/// out = requantize(sum_{l,p} A[q,h,l,p] * bilinear(V_l - zp, loc) * s_v / s_out), with
/// grid_sample's geometry (align_corners=False, zero padding: x_im = loc_x * W - 0.5, taps off
/// the map contribute nothing), as `deformableAttention` defines it for float maps.
///
/// Fixed point (docs/QUANTIZATION.md): each tap's combined weight c = A * w_bilinear (one float
/// multiply, the bilinear weights formed as PyTorch forms them) is carried as round(c * 2^14) in
/// int16, clamped to [-1, 1]; acc[d] = sum_taps c_q * (v[d] - zp) is exact int32 (|acc| <= 2^14 * 255
/// * taps), then out = requantize(Float(acc) * outputScale) with outputScale = s_v / (s_out * 2^14).
/// Every path computes these integers, so SIMD equals the reference bit for bit.
///
/// value: [sum_l H_l*W_l, heads*headDim] int8 with zero point `valueZeroPoint`; levelShapes,
/// levelStarts, levelPoints, locations [queries, heads, samples, 2] and weights [queries, heads, samples]
/// (float, softmaxed) as in `deformableAttention`; output [queries, heads*headDim]. With `weightsAreLogits`
/// the weights are their logits and each task first takes the softmax of its queries' heads (`softmax`'s
/// kernel on the same level, `softmaxReference` at the scalar one: the bits of a `softmax` node before).
/// With a `locationSource` the `locations` argument holds `deformableLocations`' offsets, and each task computes
/// its queries' locations as that op does (`deformableLocationsRow`, or its reference at the scalar level).
/// `discrete` samples RT-DETRv2's way (one pixel, full weight: `BilinearTaps(discreteX:y:width:height:)`).
/// `taskScratch` holds `int8DeformableAttentionTaskScratchBytes(...)` per thread; when nil each
/// task allocates its own.
public func int8DeformableAttention(value: UnsafePointer<Int8>, valueZeroPoint: Int32, levelShapes: UnsafePointer<Int>,
                                    levelStarts: UnsafePointer<Int>, levels: Int, heads: Int, headDim: Int,
                                    levelPoints: UnsafePointer<Int>, queries: Int, locations: UnsafePointer<Float>,
                                    locationSource: DeformableLocationSource? = nil, weights: UnsafePointer<Float>,
                                    weightsAreLogits: Bool = false, outputScale: Float, outputRange: Int8OutputRange,
                                    discrete: Bool = false, output: UnsafeMutablePointer<Int8>, pool: ThreadPool?,
                                    taskScratch: KernelScratch? = nil) {
    if queries <= 0 || heads <= 0 || headDim <= 0 { return }
    let level = KernelDispatch.current
    if level == .scalar {
        int8DeformableAttentionReference(value: value, valueZeroPoint: valueZeroPoint, levelShapes: levelShapes,
                                         levelStarts: levelStarts, levels: levels, heads: heads, headDim: headDim,
                                         levelPoints: levelPoints, queries: queries, locations: locations,
                                         locationSource: locationSource, weights: weights,
                                         weightsAreLogits: weightsAreLogits, outputScale: outputScale, outputRange: outputRange,
                                         discrete: discrete, output: output)
        return
    }
    let valueStride = heads * headDim
    let levelCount = max(levels, 0), samples = samplesPerHead(levelPoints, levels: levelCount)
    let queriesPerTask = 16
    let taskCount = (queries + queriesPerTask - 1) / queriesPerTask
    runTasks(taskCount, pool: pool,
             Int8DeformableAttentionJob(value: value, valueZeroPoint: valueZeroPoint, valueStride: valueStride, levelShapes: levelShapes,
                                        levelStarts: levelStarts, levelCount: levelCount, heads: heads, headDim: headDim,
                                        levelPoints: levelPoints, samplesPerHead: samples, queries: queries,
                                        queriesPerTask: queriesPerTask, locations: locations, locationSource: locationSource,
                                        weights: weights, weightsAreLogits: weightsAreLogits, outputScale: outputScale,
                                        outputRange: outputRange, discrete: discrete, output: output, level: level,
                                        taskScratch: taskScratch,
                                        work: Int8DeformableTaskScratch(samplesPerHead: samples, headDim: headDim, heads: heads,
                                                                        weightsAreLogits: weightsAreLogits,
                                                                        computesLocations: locationSource != nil)))
}

/// Where the parts of one task's scratch lie: the tap rows and Q14 weights of every sample of one query and
/// head (tap pairs (north-west, north-east) and (south-west, south-east)), one head's accumulators, a row of
/// zeros, with logits one query's probabilities (every head's samples), and when it computes its locations
/// one query's locations.
private struct Int8DeformableTaskScratch {
    let pairCapacity: Int, weightsOffset: Int, accumulatorsOffset: Int, zerosOffset: Int, probabilitiesOffset: Int
    let locationsOffset: Int
    let byteCount: Int

    init(samplesPerHead: Int, headDim: Int, heads: Int, weightsAreLogits: Bool, computesLocations: Bool) {
        let dimensions = max(headDim, 0), querySamples = max(heads, 0) * max(samplesPerHead, 0)
        pairCapacity = max(2 * max(samplesPerHead, 0), 1)
        weightsOffset = 2 * pairCapacity * MemoryLayout<UnsafePointer<Int8>>.stride
        accumulatorsOffset = weightsOffset + roundedUp(4 * pairCapacity, to: 8)
        zerosOffset = accumulatorsOffset + 4 * dimensions
        probabilitiesOffset = roundedUp(zerosOffset + dimensions, to: 64)
        locationsOffset = probabilitiesOffset + (weightsAreLogits ? roundedUp(4 * querySamples, to: 64) : 0)
        byteCount = locationsOffset + (computesLocations ? 8 * querySamples : 0) + 64
    }
}

/// The tasks of one `int8DeformableAttention` call: `queriesPerTask` queries each.
private struct Int8DeformableAttentionJob: ParallelJob {
    let value: UnsafePointer<Int8>, valueZeroPoint: Int32, valueStride: Int
    let levelShapes: UnsafePointer<Int>, levelStarts: UnsafePointer<Int>
    let levelCount: Int, heads: Int, headDim: Int, levelPoints: UnsafePointer<Int>, samplesPerHead: Int
    let queries: Int, queriesPerTask: Int
    let locations: UnsafePointer<Float>, locationSource: DeformableLocationSource?
    let weights: UnsafePointer<Float>, weightsAreLogits: Bool
    let outputScale: Float, outputRange: Int8OutputRange, discrete: Bool, output: UnsafeMutablePointer<Int8>
    let level: KernelLevel, taskScratch: KernelScratch?, work: Int8DeformableTaskScratch

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8DeformableAttentionJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        withTaskScratch(taskScratch, thread: thread, bytes: work.byteCount) { scratch in
            let pairRows = scratch.bindMemory(to: UnsafePointer<Int8>.self, capacity: 2 * work.pairCapacity)
            let pairWeights = (scratch + work.weightsOffset).bindMemory(to: Int16.self, capacity: 2 * work.pairCapacity)
            let accumulators = (scratch + work.accumulatorsOffset).bindMemory(to: Int32.self, capacity: headDim)
            let zeros = (scratch + work.zerosOffset).bindMemory(to: Int8.self, capacity: headDim)
            zeros.initialize(repeating: 0, count: headDim)
            let probabilities = (scratch + work.probabilitiesOffset).bindMemory(to: Float.self, capacity: heads * samplesPerHead)
            let computed = (scratch + work.locationsOffset).bindMemory(to: Float.self, capacity: 2 * heads * samplesPerHead)
            let firstQuery = task * queriesPerTask
            for query in firstQuery..<min(queries, firstQuery + queriesPerTask) {
                let queryWeights = sampleWeights(query: query, probabilities: probabilities)
                let queryLocations = sampleLocations(query: query, computed: computed)
                for head in 0..<heads {
                    var pairCount = 0
                    var weightSum: Int32 = 0
                    let firstSample = (query * heads + head) * samplesPerHead
                    var sample = firstSample
                    for levelIndex in 0..<levelCount {
                        let height = levelShapes[2 * levelIndex], width = levelShapes[2 * levelIndex + 1]
                        let levelValue = value + levelStarts[levelIndex] * valueStride + head * headDim
                        for _ in 0..<max(levelPoints[levelIndex], 0) {
                            defer { sample += 1 }
                            let local = head * samplesPerHead + sample - firstSample
                            guard let tap = BilinearTaps(x: queryLocations[2 * local], y: queryLocations[2 * local + 1],
                                                         width: width, height: height, discrete: discrete) else { continue }
                            let q = Int8SampleWeights(tap, attention: queryWeights[local])
                            let rows = Int8TapRows(tap, level: levelValue, stride: valueStride, width: width, height: height)
                            pairRows[2 * pairCount] = rows.northWest ?? UnsafePointer(zeros)
                            pairRows[2 * pairCount + 1] = rows.northEast ?? UnsafePointer(zeros)
                            pairRows[2 * pairCount + 2] = rows.southWest ?? UnsafePointer(zeros)
                            pairRows[2 * pairCount + 3] = rows.southEast ?? UnsafePointer(zeros)
                            let northWest = rows.northWest == nil ? 0 : q.northWest
                            let northEast = rows.northEast == nil ? 0 : q.northEast
                            let southWest = rows.southWest == nil ? 0 : q.southWest
                            let southEast = rows.southEast == nil ? 0 : q.southEast
                            pairWeights[2 * pairCount] = northWest
                            pairWeights[2 * pairCount + 1] = northEast
                            pairWeights[2 * pairCount + 2] = southWest
                            pairWeights[2 * pairCount + 3] = southEast
                            weightSum &+= Int32(northWest) + Int32(northEast) + Int32(southWest) + Int32(southEast)
                            pairCount += 2
                        }
                    }
                    accumulateTapPairs(level: level, rows: pairRows, weights: pairWeights, pairCount: pairCount,
                                       headDim: headDim, accumulators: accumulators)
                    storeDeformableHead(accumulators, correction: valueZeroPoint &* weightSum, headDim: headDim,
                                        outputScale: outputScale, range: outputRange,
                                        output: output + query * valueStride + head * headDim)
                }
            }
        }
    }

    /// Query `query`'s sample locations, every head's: the input's row, or computed from the reference points
    /// and offsets into `computed` as `deformableLocations` computes them.
    @inline(__always)
    func sampleLocations(query: Int, computed: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let columns = 2 * heads * samplesPerHead
        guard let source = locationSource else { return locations + query * columns }
        deformableLocationsRow(reference: source.reference + query * source.referenceColumns, referenceColumns: source.referenceColumns,
                               offsets: locations + query * columns, divisors: source.divisors, columns: columns, output: computed)
        return UnsafePointer(computed)
    }

    /// Query `query`'s sample weights, every head's: the input's row, or with logits its softmax per head,
    /// written to `probabilities` by the `softmax` op's kernel for this level.
    @inline(__always)
    func sampleWeights(query: Int, probabilities: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let row = weights + query * heads * samplesPerHead
        guard weightsAreLogits else { return row }
        probabilities.update(from: row, count: heads * samplesPerHead)
        softmaxGroups(probabilities, groups: 0..<heads, groupSize: samplesPerHead, level: level)
        return UnsafePointer(probabilities)
    }
}

/// Bytes of `KernelScratch` each thread needs for `int8DeformableAttention`: the tap rows and
/// weights of every sample of one query and head, one head's accumulators, a row of zeros, and with
/// logits one query's probabilities, and when it computes its locations one query's locations.
public func int8DeformableAttentionTaskScratchBytes(samplesPerHead: Int, headDim: Int, heads: Int = 1,
                                                   weightsAreLogits: Bool = false, computesLocations: Bool = false) -> Int {
    Int8DeformableTaskScratch(samplesPerHead: samplesPerHead, headDim: headDim, heads: heads, weightsAreLogits: weightsAreLogits,
                              computesLocations: computesLocations).byteCount
}

/// acc[d] = sum over pairs j of w[2j] * row[2j][d] + w[2j+1] * row[2j+1][d] (exact int32).
@inline(__always)
private func accumulateTapPairs(level: KernelLevel, rows: UnsafePointer<UnsafePointer<Int8>>, weights: UnsafePointer<Int16>,
                                pairCount: Int, headDim: Int, accumulators: UnsafeMutablePointer<Int32>) {
    #if arch(x86_64) && canImport(KernelsAVX2)
    if level >= .avx2 {
        int8DeformablePairsAVX2(rows: rows, weights: weights, pairCount: pairCount, headDim: headDim, accumulators: accumulators)
        return
    }
    #endif
    var dimension = 0
    while dimension + 8 <= headDim {
        var sum = SIMD8<Int32>()
        for tap in 0..<(2 * pairCount) {
            let values = SIMD8<Int16>(truncatingIfNeeded: UnsafeRawPointer(rows[tap] + dimension).loadUnaligned(as: SIMD8<Int8>.self))
            // int16 x int16 widened: SMULL/SMLAL on NEON.
            sum &+= SIMD8<Int32>(truncatingIfNeeded: values) &* SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int16>(repeating: weights[tap]))
        }
        UnsafeMutableRawPointer(accumulators + dimension).storeBytes(of: sum, as: SIMD8<Int32>.self)
        dimension += 8
    }
    while dimension < headDim {
        var sum: Int32 = 0
        for tap in 0..<(2 * pairCount) { sum &+= Int32(weights[tap]) * Int32(rows[tap][dimension]) }
        accumulators[dimension] = sum
        dimension += 1
    }
}

/// out[d] = requantize(Float(acc[d] - zp * sum(c_q)) * outputScale), eight at a time.
@inline(__always)
private func storeDeformableHead(_ accumulators: UnsafePointer<Int32>, correction: Int32, headDim: Int, outputScale: Float,
                                 range: Int8OutputRange, output: UnsafeMutablePointer<Int8>) {
    var dimension = 0
    let lower = SIMD8<Float>(repeating: range.lowerBound), upper = SIMD8<Float>(repeating: range.upperBound)
    let zeroPoint = SIMD8<Int32>(repeating: range.zeroPoint)
    while dimension + 8 <= headDim {
        let sums = UnsafeRawPointer(accumulators + dimension).loadUnaligned(as: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: correction)
        let quantized = requantize(SIMD8<Float>(sums) * SIMD8<Float>(repeating: outputScale), lower: lower, upper: upper,
                                   zeroPoint: zeroPoint)
        UnsafeMutableRawPointer(output + dimension).storeBytes(of: SIMD8<Int8>(truncatingIfNeeded: quantized), as: SIMD8<Int8>.self)
        dimension += 8
    }
    while dimension < headDim {
        output[dimension] = requantize(accumulator: accumulators[dimension] &- correction, scale: outputScale, range)
        dimension += 1
    }
}

/// The Q14 weights of one sample's four taps: round(clamp(A * w_tap, -1, 1) * 2^14).
struct Int8SampleWeights {
    var northWest: Int16, northEast: Int16, southWest: Int16, southEast: Int16

    @inline(__always)
    init(_ tap: BilinearTaps, attention: Float) {
        northWest = Int8SampleWeights.fixedPoint(attention * tap.northWest)
        northEast = Int8SampleWeights.fixedPoint(attention * tap.northEast)
        southWest = Int8SampleWeights.fixedPoint(attention * tap.southWest)
        southEast = Int8SampleWeights.fixedPoint(attention * tap.southEast)
    }

    /// round(clamp(c, -1, 1) * 2^14), half to even; NaN gives 0.
    @inline(__always)
    static func fixedPoint(_ weight: Float) -> Int16 {
        let clamped = weight >= -1 ? (weight <= 1 ? weight : 1) : (weight < -1 ? -1 : 0)
        return Int16(roundedToNearestEvenSmall(clamped * q14One))
    }
}

/// The value rows of one sample's four taps, nil for taps off the map.
struct Int8TapRows {
    var northWest, northEast, southWest, southEast: UnsafePointer<Int8>?

    @inline(__always)
    init(_ tap: BilinearTaps, level: UnsafePointer<Int8>, stride: Int, width: Int, height: Int) {
        let x0 = tap.x0, y0 = tap.y0, x1 = tap.x0 + 1, y1 = tap.y0 + 1
        northWest = y0 >= 0 && x0 >= 0 ? level + (y0 * width + x0) * stride : nil
        northEast = y0 >= 0 && x1 < width ? level + (y0 * width + x1) * stride : nil
        southWest = y1 < height && x0 >= 0 ? level + (y1 * width + x0) * stride : nil
        southEast = y1 < height && x1 < width ? level + (y1 * width + x1) * stride : nil
    }
}

/// The scalar reference of `int8DeformableAttention`: per channel, the sum over levels, points
/// and in-map taps of c_q * (v - zp), then `requantize`.
public func int8DeformableAttentionReference(value: UnsafePointer<Int8>, valueZeroPoint: Int32, levelShapes: UnsafePointer<Int>,
                                             levelStarts: UnsafePointer<Int>, levels: Int, heads: Int, headDim: Int,
                                             levelPoints: UnsafePointer<Int>, queries: Int, locations: UnsafePointer<Float>,
                                             locationSource: DeformableLocationSource? = nil,
                                             weights: UnsafePointer<Float>, weightsAreLogits: Bool = false, outputScale: Float,
                                             outputRange: Int8OutputRange, discrete: Bool = false,
                                             output: UnsafeMutablePointer<Int8>) {
    if queries <= 0 || heads <= 0 || headDim <= 0 { return }
    let valueStride = heads * headDim
    let samples = samplesPerHead(levelPoints, levels: levels)
    for query in 0..<queries {
        for head in 0..<heads {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(3 * samples, 1)) { buffer in
                let probabilities = buffer.baseAddress!, headLocations = probabilities + samples
                probabilities.update(from: weights + (query * heads + head) * samples, count: samples)
                if weightsAreLogits { softmaxReference(probabilities, groups: 1, groupSize: samples) }
                let columns = 2 * heads * samples, first = 2 * head * samples
                if let source = locationSource {
                    // This head's columns of the query's row (an even first column keeps x and y in place).
                    deformableLocationsReference(reference: source.reference + query * source.referenceColumns,
                                                 referenceColumns: source.referenceColumns, offsets: locations + query * columns + first,
                                                 divisors: source.divisors + first, queries: 1, columns: 2 * samples,
                                                 output: headLocations)
                } else {
                    headLocations.update(from: locations + query * columns + first, count: 2 * samples)
                }
                for dimension in 0..<headDim {
                    var accumulator: Int32 = 0
                    var sample = (query * heads + head) * samples
                    for level in 0..<max(levels, 0) {
                        let height = levelShapes[2 * level], width = levelShapes[2 * level + 1]
                        let levelValue = value + levelStarts[level] * valueStride + head * headDim
                        for _ in 0..<max(levelPoints[level], 0) {
                            defer { sample += 1 }
                            let local = sample - (query * heads + head) * samples
                            guard let tap = BilinearTaps(x: headLocations[2 * local], y: headLocations[2 * local + 1],
                                                         width: width, height: height, discrete: discrete) else { continue }
                            let q = Int8SampleWeights(tap, attention: probabilities[local])
                            let rows = Int8TapRows(tap, level: levelValue, stride: valueStride, width: width, height: height)
                            @inline(__always) func add(_ row: UnsafePointer<Int8>?, _ weight: Int16) {
                                guard let row else { return }
                                accumulator &+= Int32(weight) * (Int32(row[dimension]) - valueZeroPoint)
                            }
                            add(rows.northWest, q.northWest)
                            add(rows.northEast, q.northEast)
                            add(rows.southWest, q.southWest)
                            add(rows.southEast, q.southEast)
                        }
                    }
                    output[query * valueStride + head * headDim + dimension] =
                        requantize(accumulator: accumulator, scale: outputScale, outputRange)
                }
            }
        }
    }
}
