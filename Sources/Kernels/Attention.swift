import CLibc

/// Float elements of scratch `multiHeadAttention` needs when run with a pool of `threads`
/// threads (pass the pool's threadCount, or 1 without a pool): each thread keeps one block of
/// score rows.
public func attentionScratchCount(queries: Int, keys: Int, heads: Int, threads: Int) -> Int {
    max(threads, 1) * max(keys, 1)
}

/// Multi-head scaled dot-product attention, batch 1, no mask: out_h = softmax(scale * Q_h K_h^T) V_h.
/// q: [queries, heads*queryHeadDim] with row stride qStride; k: [keys, heads*queryHeadDim] with
/// row stride kStride; v: [keys, heads*valueHeadDim] with row stride vStride; output:
/// [queries, heads*valueHeadDim] contiguous. queryHeadDim may differ from valueHeadDim
/// (DAB-DETR and Conditional DETR concatenate content and position: 64 against 32).
/// `scratch` holds `attentionScratchCount(queries:keys:heads:threads:)` floats for a
/// `threads` at least the pool's threadCount.
public func multiHeadAttention(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                               v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                               queryHeadDim: Int, valueHeadDim: Int, scale: Float,
                               output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
    if queries <= 0 || heads <= 0 || valueHeadDim <= 0 { return }
    for query in 0..<queries {
        for head in 0..<heads {
            attendOneRowReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                  query: query, head: head, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                  valueHeadDim: valueHeadDim, scale: scale, output: output, scores: scratch)
        }
    }
}

/// The scalar reference of `multiHeadAttention`; it allocates its own row of scores.
public func multiHeadAttentionReference(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                                        v: UnsafePointer<Float>, vStride: Int, queries: Int, keys: Int, heads: Int,
                                        queryHeadDim: Int, valueHeadDim: Int, scale: Float,
                                        output: UnsafeMutablePointer<Float>) {
    if queries <= 0 || heads <= 0 || valueHeadDim <= 0 { return }
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(keys, 1))
    defer { scores.deallocate() }
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
    softmax(scores, groups: 1, groupSize: keys)
    for key in 0..<keys {
        let valueRow = v + key * vStride + head * valueHeadDim
        let probability = scores[key]
        for dimension in 0..<valueHeadDim { destination[dimension] += probability * valueRow[dimension] }
    }
}
