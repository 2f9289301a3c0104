/// Int8 multi-head attention, batch 1, no mask (the DETR encoder's ~1500 tokens, the decoder's
/// 300 queries; head dims 32 and 64, DAB/Conditional DETR's content+position concatenation).
///
/// Arithmetic (docs/QUANTIZATION.md), per query and head, everything order-independent so any
/// SIMD split or thread count gives the reference's bits:
///   s_k = sum_d (q_d - zq)(k_kd - zk)                         exact int32
///   e_k = exp(Float(s_k - max_k s) * scoreScale)              the kernels' `exponential`
///   E_k = round(e_k * 2^16)                                   int32 in [0, 65536]
///   p_k = round(Float(E_k) * (2^14 / Float(sum_k E_k)))       Q14 probability
///   acc_d = sum_k p_k * (v_kd - zv)                           exact int32
///   out_d = requantize(Float(acc_d) * outputScale)
/// scoreScale = s_q * s_k / sqrt(d) (the caller's scale), outputScale = s_v / (s_out * 2^14).
/// Softmax is float in the middle (exp of a real score), integer at both ends.
public struct Int8AttentionOperands {
    public var q: UnsafePointer<Int8>, qStride: Int, qZeroPoint: Int32
    public var k: UnsafePointer<Int8>, kStride: Int, kZeroPoint: Int32
    public var v: UnsafePointer<Int8>, vStride: Int, vZeroPoint: Int32

    public init(q: UnsafePointer<Int8>, qStride: Int, qZeroPoint: Int32, k: UnsafePointer<Int8>, kStride: Int, kZeroPoint: Int32,
                v: UnsafePointer<Int8>, vStride: Int, vZeroPoint: Int32) {
        self.q = q; self.qStride = qStride; self.qZeroPoint = qZeroPoint
        self.k = k; self.kStride = kStride; self.kZeroPoint = kZeroPoint
        self.v = v; self.vStride = vStride; self.vZeroPoint = vZeroPoint
    }
}

/// Bytes of scratch `int8MultiHeadAttention` shares among its tasks: K and V of every head centred
/// into int16, [head][key][depth] with the depth zero-padded to a multiple of 8.
public func int8AttentionScratchBytes(keys: Int, heads: Int, queryHeadDim: Int, valueHeadDim: Int) -> Int {
    let depths = roundedUp(max(queryHeadDim, 0), to: 8) + roundedUp(max(valueHeadDim, 0), to: 8)
    return MemoryLayout<Int16>.stride * max(heads, 0) * max(keys, 0) * depths
}

/// Bytes of `KernelScratch` each thread needs for `int8MultiHeadAttention`: one query's scores
/// (int32 per key), its int32 accumulators and its centred int16 row.
public func int8AttentionTaskScratchBytes(keys: Int, queryHeadDim: Int, valueHeadDim: Int) -> Int {
    4 * max(keys, 1) + 4 * roundedUp(max(valueHeadDim, 0), to: 8) + 2 * roundedUp(max(queryHeadDim, 0), to: 8) + 64
}

/// The fast int8 attention: K and V of every head centred once into int16, then per task (one
/// head, 16 queries) the scores, the integer softmax and P V vectorized eight lanes at a time.
/// output: [queries, heads*valueHeadDim] contiguous. `scratch` holds `int8AttentionScratchBytes`
/// and `taskScratch` `int8AttentionTaskScratchBytes` per thread; when nil the call allocates them.
public func int8MultiHeadAttention(_ operands: Int8AttentionOperands, queries: Int, keys: Int, heads: Int, queryHeadDim: Int,
                                   valueHeadDim: Int, scoreScale: Float, outputScale: Float, outputRange: Int8OutputRange,
                                   output: UnsafeMutablePointer<Int8>, pool: ThreadPool?,
                                   scratch: UnsafeMutableRawPointer? = nil, taskScratch: KernelScratch? = nil) {
    if queries <= 0 || heads <= 0 || valueHeadDim <= 0 { return }
    if KernelDispatch.current == .scalar || keys <= 0 || queryHeadDim <= 0 {
        withTaskScratch(taskScratch, thread: 0, bytes: 4 * max(keys, 1)) { memory in
            int8MultiHeadAttentionReference(operands, queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                            valueHeadDim: valueHeadDim, scoreScale: scoreScale, outputScale: outputScale,
                                            outputRange: outputRange, output: output,
                                            exponentials: memory.bindMemory(to: Int32.self, capacity: max(keys, 1)))
        }
        return
    }
    let queryDepth = roundedUp(queryHeadDim, to: 8), valueDepth = roundedUp(valueHeadDim, to: 8)
    let scratchBytes = int8AttentionScratchBytes(keys: keys, heads: heads, queryHeadDim: queryHeadDim, valueHeadDim: valueHeadDim)
    let shared = scratch ?? UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
    defer { if scratch == nil { shared.deallocate() } }
    let centredKeys = shared.bindMemory(to: Int16.self, capacity: heads * keys * queryDepth)
    let centredValues = centredKeys + heads * keys * queryDepth
    runTasks(heads, pool: pool,
             Int8AttentionCentringJob(operands: operands, keys: keys, queryHeadDim: queryHeadDim, queryDepth: queryDepth,
                                      valueHeadDim: valueHeadDim, valueDepth: valueDepth, centredKeys: centredKeys,
                                      centredValues: centredValues))
    let block = 16
    let blocks = (queries + block - 1) / block
    runTasks(heads * blocks, pool: pool,
             Int8AttentionJob(operands: operands, queries: queries, keys: keys, heads: heads, block: block, blocks: blocks,
                              queryHeadDim: queryHeadDim, queryDepth: queryDepth, valueHeadDim: valueHeadDim,
                              valueDepth: valueDepth, centredKeys: centredKeys, centredValues: centredValues,
                              scoreScale: scoreScale, outputScale: outputScale, outputRange: outputRange, output: output,
                              taskScratch: taskScratch))
}

/// The first loop of `int8MultiHeadAttention`: one head's keys and values centred each.
private struct Int8AttentionCentringJob: ParallelJob {
    let operands: Int8AttentionOperands, keys: Int
    let queryHeadDim: Int, queryDepth: Int, valueHeadDim: Int, valueDepth: Int
    let centredKeys: UnsafeMutablePointer<Int16>, centredValues: UnsafeMutablePointer<Int16>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8AttentionCentringJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task head: Int, thread: Int) {
        for key in 0..<keys {
            let keyRow = centredKeys + (head * keys + key) * queryDepth
            let valueRow = centredValues + (head * keys + key) * valueDepth
            for d in 0..<queryDepth {
                keyRow[d] = d < queryHeadDim ? Int16(Int32(operands.k[key * operands.kStride + head * queryHeadDim + d]) - operands.kZeroPoint) : 0
            }
            for d in 0..<valueDepth {
                valueRow[d] = d < valueHeadDim ? Int16(Int32(operands.v[key * operands.vStride + head * valueHeadDim + d]) - operands.vZeroPoint) : 0
            }
        }
    }
}

/// The second loop of `int8MultiHeadAttention`: one head and `block` queries each.
private struct Int8AttentionJob: ParallelJob {
    let operands: Int8AttentionOperands, queries: Int, keys: Int, heads: Int, block: Int, blocks: Int
    let queryHeadDim: Int, queryDepth: Int, valueHeadDim: Int, valueDepth: Int
    let centredKeys: UnsafeMutablePointer<Int16>, centredValues: UnsafeMutablePointer<Int16>
    let scoreScale: Float, outputScale: Float, outputRange: Int8OutputRange, output: UnsafeMutablePointer<Int8>
    let taskScratch: KernelScratch?

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8AttentionJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let head = task / blocks
        let firstQuery = (task % blocks) * block
        let outputStride = heads * valueHeadDim
        let bytes = int8AttentionTaskScratchBytes(keys: keys, queryHeadDim: queryHeadDim, valueHeadDim: valueHeadDim)
        withTaskScratch(taskScratch, thread: thread, bytes: bytes) { scratch in
            let scores = scratch.bindMemory(to: Int32.self, capacity: keys)
            let accumulators = (scratch + 4 * keys).bindMemory(to: Int32.self, capacity: valueDepth)
            let centredQuery = (scratch + 4 * keys + 4 * valueDepth).bindMemory(to: Int16.self, capacity: queryDepth)
            let keyBase = centredKeys + head * keys * queryDepth
            let valueBase = centredValues + head * keys * valueDepth
            for query in firstQuery..<min(queries, firstQuery + block) {
                for d in 0..<queryDepth {
                    centredQuery[d] = d < queryHeadDim ? Int16(Int32(operands.q[query * operands.qStride + head * queryHeadDim + d]) - operands.qZeroPoint) : 0
                }
                var maximum = Int32.min
                for key in 0..<keys {
                    var sum = SIMD8<Int32>()
                    let keyRow = keyBase + key * queryDepth
                    var d = 0
                    while d < queryDepth {
                        let a = SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(centredQuery + d).loadUnaligned(as: SIMD8<Int16>.self))
                        let b = SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(keyRow + d).loadUnaligned(as: SIMD8<Int16>.self))
                        sum &+= a &* b
                        d += 8
                    }
                    let score = sum.wrappedSum()
                    scores[key] = score
                    maximum = max(maximum, score)
                }
                _ = int8SoftmaxQ14(scores, count: keys, maximum: maximum, scoreScale: scoreScale)
                var d = 0
                while d < valueDepth {
                    var sum = SIMD8<Int32>()
                    for key in 0..<keys {
                        let values = SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(valueBase + key * valueDepth + d).loadUnaligned(as: SIMD8<Int16>.self))
                        sum &+= values &* SIMD8<Int32>(repeating: scores[key])
                    }
                    UnsafeMutableRawPointer(accumulators + d).storeBytes(of: sum, as: SIMD8<Int32>.self)
                    d += 8
                }
                let destination = output + query * outputStride + head * valueHeadDim
                for d in 0..<valueHeadDim {
                    destination[d] = requantize(accumulator: accumulators[d], scale: outputScale, outputRange)
                }
            }
        }
    }
}

/// Replaces `scores` (int32, with their maximum) by Q14 probabilities, the integer softmax of
/// the file comment; returns sum E_k. Elementwise float steps, integer sums: order-independent.
@inline(__always)
func int8SoftmaxQ14(_ scores: UnsafeMutablePointer<Int32>, count: Int, maximum: Int32, scoreScale: Float) -> Int32 {
    var total: Int32 = 0
    var index = 0
    let scale = SIMD8<Float>(repeating: scoreScale)
    while index + 8 <= count {
        let shifted = UnsafeRawPointer(scores + index).loadUnaligned(as: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: maximum)
        let e = exponential(SIMD8<Float>(shifted) * scale) * SIMD8<Float>(repeating: 65_536) + SIMD8<Float>(repeating: roundingMagic)
        let fixed = unsafeBitCast(e, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: roundingMagicBits)
        UnsafeMutableRawPointer(scores + index).storeBytes(of: fixed, as: SIMD8<Int32>.self)
        total &+= fixed.wrappedSum()
        index += 8
    }
    while index < count {
        scores[index] = int8ExponentialQ16(scores[index] &- maximum, scoreScale: scoreScale)
        total &+= scores[index]
        index += 1
    }
    let reciprocal = q14One / Float(total)
    index = 0
    while index + 8 <= count {
        let fixed = UnsafeRawPointer(scores + index).loadUnaligned(as: SIMD8<Int32>.self)
        let p = SIMD8<Float>(fixed) * SIMD8<Float>(repeating: reciprocal) + SIMD8<Float>(repeating: roundingMagic)
        UnsafeMutableRawPointer(scores + index).storeBytes(of: unsafeBitCast(p, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: roundingMagicBits),
                                                           as: SIMD8<Int32>.self)
        index += 8
    }
    while index < count {
        scores[index] = roundedToNearestEvenSmall(Float(scores[index]) * reciprocal)
        index += 1
    }
    return total
}

/// round(exp(Float(shifted) * scoreScale) * 2^16) for one score (shifted <= 0), with the same
/// `exponential` and operations as the vector lanes.
@inline(__always)
func int8ExponentialQ16(_ shifted: Int32, scoreScale: Float) -> Int32 {
    let e = exponential(SIMD8<Float>(repeating: Float(shifted) * scoreScale))[0]
    return roundedToNearestEvenSmall(e * 65_536)
}

/// The scalar reference of `int8MultiHeadAttention`, one query and head at a time, literally.
public func int8MultiHeadAttentionReference(_ operands: Int8AttentionOperands, queries: Int, keys: Int, heads: Int,
                                            queryHeadDim: Int, valueHeadDim: Int, scoreScale: Float, outputScale: Float,
                                            outputRange: Int8OutputRange, output: UnsafeMutablePointer<Int8>) {
    let exponentials = UnsafeMutablePointer<Int32>.allocate(capacity: max(keys, 1))
    defer { exponentials.deallocate() }
    int8MultiHeadAttentionReference(operands, queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                    valueHeadDim: valueHeadDim, scoreScale: scoreScale, outputScale: outputScale,
                                    outputRange: outputRange, output: output, exponentials: exponentials)
}

/// The reference with the row of exponentials (`keys` int32) supplied by the caller.
func int8MultiHeadAttentionReference(_ operands: Int8AttentionOperands, queries: Int, keys: Int, heads: Int,
                                     queryHeadDim: Int, valueHeadDim: Int, scoreScale: Float, outputScale: Float,
                                     outputRange: Int8OutputRange, output: UnsafeMutablePointer<Int8>,
                                     exponentials: UnsafeMutablePointer<Int32>) {
    if queries <= 0 || heads <= 0 || valueHeadDim <= 0 { return }
    let outputStride = heads * valueHeadDim
    for query in 0..<queries {
        for head in 0..<heads {
            let destination = output + query * outputStride + head * valueHeadDim
            if keys <= 0 {
                // An empty sum: real 0.
                for d in 0..<valueHeadDim { destination[d] = requantize(0, outputRange) }
                continue
            }
            var maximum = Int32.min
            for key in 0..<keys {
                var score: Int32 = 0
                for d in 0..<max(queryHeadDim, 0) {
                    let q = Int32(operands.q[query * operands.qStride + head * queryHeadDim + d]) - operands.qZeroPoint
                    let k = Int32(operands.k[key * operands.kStride + head * queryHeadDim + d]) - operands.kZeroPoint
                    score &+= q * k
                }
                exponentials[key] = score
                maximum = max(maximum, score)
            }
            var total: Int32 = 0
            for key in 0..<keys {
                exponentials[key] = int8ExponentialQ16(exponentials[key] &- maximum, scoreScale: scoreScale)
                total &+= exponentials[key]
            }
            let reciprocal = q14One / Float(total)
            for d in 0..<valueHeadDim {
                var accumulator: Int32 = 0
                for key in 0..<keys {
                    let probability = roundedToNearestEvenSmall(Float(exponentials[key]) * reciprocal)
                    let value = Int32(operands.v[key * operands.vStride + head * valueHeadDim + d]) - operands.vZeroPoint
                    accumulator &+= probability * value
                }
                destination[d] = requantize(accumulator: accumulator, scale: outputScale, outputRange)
            }
        }
    }
}
