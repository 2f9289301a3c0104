import CLibc
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

/// Queries one attention task handles: one 16-wide GEMM panel of them.
let attentionQueryBlock = floatTileColumns

/// Float elements of scratch `multiHeadAttention` needs when run with a pool of `threads`
/// threads (pass the pool's threadCount, or 1 without a pool): each thread keeps the
/// probabilities of one block of 16 queries against every key and those queries transposed.
public func attentionScratchCount(queries: Int, keys: Int, heads: Int, queryHeadDim: Int, threads: Int) -> Int {
    max(threads, 1) * attentionThreadScratchCount(keys: keys, queryHeadDim: queryHeadDim)
}

/// One thread's part of the attention scratch: 16 x keys probabilities, then Q_h^T as a
/// queryHeadDim x 16 panel.
private func attentionThreadScratchCount(keys: Int, queryHeadDim: Int) -> Int {
    attentionQueryBlock * (max(keys, 1) + max(queryHeadDim, 1))
}

/// Multi-head scaled dot-product attention, batch 1, no mask: out_h = softmax(scale * Q_h K_h^T) V_h.
/// q: [queries, heads*queryHeadDim] with row stride qStride; k: [keys, heads*queryHeadDim] with
/// row stride kStride; v: [keys, heads*valueHeadDim] with row stride vStride; output:
/// [queries, heads*valueHeadDim] contiguous. queryHeadDim may differ from valueHeadDim
/// (DAB-DETR and Conditional DETR concatenate content and position: 64 against 32).
/// `scratch` holds `attentionScratchCount(queries:keys:heads:queryHeadDim:threads:)` floats for a
/// `threads` of at least the pool's threadCount.
///
/// Each task takes one head and 16 queries and runs both products on the 6x16 GEMM tile: the
/// scores transposed, S^T = K_h Q_h^T (16 queries across the tile, keys down it), a vectorized
/// softmax down each column, then out = P V_h reading P^T by columns and V_h in place.
public func multiHeadAttention(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                               v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                               queryHeadDim: Int, valueHeadDim: Int, scale: Float,
                               output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
    if attentionIsTrivial(queries: queries, keys: keys, heads: heads, valueHeadDim: valueHeadDim, output: output) { return }
    let outputStride = heads * valueHeadDim
    let level = KernelDispatch.current
    if level == .scalar {
        multiHeadAttentionReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                    queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                    valueHeadDim: valueHeadDim, scale: scale, output: output, scores: scratch)
        return
    }
    let queryDepth = max(queryHeadDim, 0)
    let blocks = (queries + attentionQueryBlock - 1) / attentionQueryBlock
    let taskCount = heads * blocks
    runTasks(taskCount, pool: pool,
             AttentionJob(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride, queries: queries,
                          keys: keys, blocks: blocks, queryDepth: queryDepth, valueHeadDim: valueHeadDim, scale: scale,
                          output: output, outputStride: outputStride, scratch: scratch, level: level))
}

/// Whether an attention is done without its kernel: nothing to write (no query, head or value column), or
/// no keys, where the output is zeros (an empty sum) rather than the NaN of softmax over nothing.
@inline(__always)
func attentionIsTrivial(queries: Int, keys: Int, heads: Int, valueHeadDim: Int, output: UnsafeMutablePointer<Float>) -> Bool {
    if queries <= 0 || heads <= 0 || valueHeadDim <= 0 { return true }
    if keys > 0 { return false }
    output.update(repeating: 0, count: queries * heads * valueHeadDim)
    return true
}

/// The tasks of one `multiHeadAttention` call: one head and 16 queries each.
private struct AttentionJob: ParallelJob {
    let q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int, v: UnsafePointer<Float>, vStride: Int
    let queries: Int, keys: Int, blocks: Int, queryDepth: Int, valueHeadDim: Int, scale: Float
    let output: UnsafeMutablePointer<Float>, outputStride: Int, scratch: UnsafeMutablePointer<Float>, level: KernelLevel

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: AttentionJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        let head = task / blocks
        let firstQuery = (task % blocks) * attentionQueryBlock
        let queryCount = min(attentionQueryBlock, queries - firstQuery)
        let probabilities = scratch + thread * attentionThreadScratchCount(keys: keys, queryHeadDim: queryDepth)
        let transposedQueries = probabilities + attentionQueryBlock * keys
        // Q_h^T as one 16-column panel, zero columns past the last query.
        for dimension in 0..<queryDepth {
            for column in 0..<attentionQueryBlock {
                transposedQueries[dimension * attentionQueryBlock + column] = column < queryCount
                    ? q[(firstQuery + column) * qStride + head * queryDepth + dimension] : 0
            }
        }
        var key = 0
        while key < keys {
            let rowCount = min(floatTileRows, keys - key)
            var tile = FloatTile6x16()
            tile.accumulate(FloatTileRowPointers(first: k + key * kStride + head * queryDepth, stride: kStride, count: rowCount),
                            aStep: 1, b: transposedQueries, bStep: attentionQueryBlock, depth: queryDepth, level: level)
            tile.store(rowCount: rowCount, columnCount: attentionQueryBlock,
                       output: probabilities + key * attentionQueryBlock, outputStride: attentionQueryBlock,
                       bias: nil, residual: nil, residualStride: 0, activation: .none)
            key += floatTileRows
        }
        #if arch(x86_64) && canImport(KernelsAVX2)
        if level >= .avx2 { softmaxColumnsAVX2(probabilities, keys: keys, scale: scale) } else { softmaxColumns(probabilities, keys: keys, scale: scale) }
        #else
        softmaxColumns(probabilities, keys: keys, scale: scale)
        #endif
        // P^T by columns: query q, key j at probabilities[j * 16 + q].
        weighValueRows(probabilities, queryStep: 1, keyStep: attentionQueryBlock, queryCount: queryCount, keys: keys,
                       values: v + head * valueHeadDim, vStride: vStride, valueHeadDim: valueHeadDim,
                       output: output + firstQuery * outputStride + head * valueHeadDim, outputStride: outputStride, level: level)
    }
}

/// out[q, :] = sum_j P[q, j] V[j, :] for `queryCount` rows on the float 6x16 tile, P[q, j] read at
/// `probabilities[q * queryStep + j * keyStep]` (`multiHeadAttention`'s transposed block, or
/// `dynamicInt8Attention`'s rows), V's rows `vStride` apart, the output's `outputStride` apart.
@inline(__always)
func weighValueRows(_ probabilities: UnsafePointer<Float>, queryStep: Int, keyStep: Int, queryCount: Int, keys: Int,
                    values: UnsafePointer<Float>, vStride: Int, valueHeadDim: Int, output: UnsafeMutablePointer<Float>,
                    outputStride: Int, level: KernelLevel) {
    for query in Swift.stride(from: 0, to: queryCount, by: floatTileRows) {
        let rowCount = min(floatTileRows, queryCount - query)
        let rows = FloatTileRowPointers(first: probabilities + query * queryStep, stride: queryStep, count: rowCount)
        let destination = output + query * outputStride
        var column = 0
        while column + floatTileColumns <= valueHeadDim {
            var tile = FloatTile6x16()
            tile.accumulate(rows, aStep: keyStep, b: values + column, bStep: vStride, depth: keys, level: level)
            tile.store(rowCount: rowCount, columnCount: floatTileColumns, output: destination + column,
                       outputStride: outputStride, bias: nil, residual: nil, residualStride: 0, activation: .none)
            column += floatTileColumns
        }
        // Value columns past the last whole panel: a 16-wide load would run past the head.
        for row in 0..<rowCount {
            for dimension in column..<valueHeadDim {
                var sum: Float = 0
                for key in 0..<keys {
                    sum += probabilities[(query + row) * queryStep + key * keyStep] * values[key * vStride + dimension]
                }
                destination[row * outputStride + dimension] = sum
            }
        }
    }
}

/// The scalar reference of `multiHeadAttention`; it allocates its own row of scores.
public func multiHeadAttentionReference(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                                        v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                                        queryHeadDim: Int, valueHeadDim: Int, scale: Float,
                                        output: UnsafeMutablePointer<Float>) {
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(keys, 1))
    defer { scores.deallocate() }
    multiHeadAttentionReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                valueHeadDim: valueHeadDim, scale: scale, output: output, scores: scores)
}

/// The reference with its row of scores (`keys` floats) supplied by the caller: the scalar dispatch
/// level passes the kernel's scratch.
func multiHeadAttentionReference(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                                 v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                                 queryHeadDim: Int, valueHeadDim: Int, scale: Float,
                                 output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
    if queries <= 0 || heads <= 0 || valueHeadDim <= 0 { return }
    for query in 0..<queries {
        for head in 0..<heads {
            attendOneRowReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                  query: query, head: head, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                  valueHeadDim: valueHeadDim, scale: scale, output: output, scores: scores)
        }
    }
}

/// One query row of one head: scores, softmax, weighted sum of values. With no keys the output
/// is zero (an empty sum) rather than NaN.
@inline(__always)
private func attendOneRowReference(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                                   v: UnsafePointer<Float>, vStride: Int, query: Int, head: Int, keys: Int, heads: Int,
                                   queryHeadDim: Int, valueHeadDim: Int, scale: Float,
                                   output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
    let queryRow = q + query * qStride + head * queryHeadDim
    let destination = output + query * heads * valueHeadDim + head * valueHeadDim
    for dimension in 0..<valueHeadDim { destination[dimension] = 0 }
    if keys <= 0 { return }
    for key in 0..<keys {
        let keyRow = k + key * kStride + head * queryHeadDim
        var dot: Float = 0
        for dimension in 0..<max(queryHeadDim, 0) { dot += queryRow[dimension] * keyRow[dimension] }
        scores[key] = scale * dot
    }
    softmaxReference(scores, groups: 1, groupSize: keys)
    for key in 0..<keys {
        let valueRow = v + key * vStride + head * valueHeadDim
        let probability = scores[key]
        for dimension in 0..<valueHeadDim { destination[dimension] += probability * valueRow[dimension] }
    }
}
