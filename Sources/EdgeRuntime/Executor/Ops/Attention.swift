import Kernels

// Multi-head attention: softmax(Q K^T * scale) V per head, in float32 (`attention`) or with both products on
// the int8 tiles (`dynamicQuantizedAttention`); both read and write float32 and differ only in the kernel.

/// attention, dynamicQuantizedAttention: q `[Nq, heads * dq]`, keys `[Nk, heads * dq]`, values `[Nk, heads * dv]`.
struct AttentionOp {
    let q: UnsafePointer<Float>, qStride: Int
    let k: UnsafePointer<Float>, kStride: Int
    let v: UnsafePointer<Float>, vStride: Int
    let queries: Int, keys: Int, heads: Int
    let queryHeadDim: Int, valueHeadDim: Int
    let scale: Float
    /// Both products on the int8 tiles, queries, keys and values quantized in the shared scratch.
    let dynamicInt8: Bool
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        switch node.operation {
        case .attention(let heads, let scale) where heads >= 1:
            (self.heads, self.scale, dynamicInt8) = (heads, scale, false)
        case .dynamicQuantizedAttention(let heads, let scale) where heads >= 1:
            (self.heads, self.scale, dynamicInt8) = (heads, scale, true)
        default:
            throw .malformedNode(node: node.name, detail: "not an attention with one or more heads")
        }
        let keysValue = try preparation.operand(.keys, of: node)
        let valuesValue = try preparation.operand(.values, of: node)
        let (qShape, kShape, vShape) = (preparation.shape(node.x), preparation.shape(keysValue), preparation.shape(valuesValue))
        (q, qStride) = (UnsafePointer(preparation.float(node.x)), qShape[1])
        (k, kStride) = (UnsafePointer(preparation.float(keysValue)), kShape[1])
        (v, vStride) = (UnsafePointer(preparation.float(valuesValue)), vShape[1])
        (queries, keys) = (qShape[0], kShape[0])
        (queryHeadDim, valueHeadDim) = (qShape[1] / heads, vShape[1] / heads)
        output = preparation.float(node.output)
        if dynamicInt8 {
            // The byte counts are sums of products of the input's element counts (validated shapes) and
            // small constants; the shared scratch is counted in floats.
            let bytes = dynamicInt8AttentionScratchBytes(queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                                         valueHeadDim: valueHeadDim)
            preparation.needScratch(elements: (bytes + 3) / 4,
                                    taskBytes: dynamicInt8AttentionTaskScratchBytes(keys: keys, queryHeadDim: queryHeadDim,
                                                                                    valueHeadDim: valueHeadDim))
        } else {
            preparation.needScratch(elements: attentionScratchCount(queries: queries, keys: keys, heads: heads,
                                                                    queryHeadDim: queryHeadDim, threads: preparation.threads))
        }
    }

    func run(_ context: RunContext) {
        if dynamicInt8 {
            dynamicInt8Attention(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride, queries: queries,
                                 keys: keys, heads: heads, queryHeadDim: queryHeadDim, valueHeadDim: valueHeadDim, scale: scale,
                                 output: output, scratch: UnsafeMutableRawPointer(context.scratch),
                                 taskScratch: context.taskScratch, pool: context.pool)
        } else {
            multiHeadAttention(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride, queries: queries, keys: keys,
                               heads: heads, queryHeadDim: queryHeadDim, valueHeadDim: valueHeadDim, scale: scale, output: output,
                               scratch: context.scratch, pool: context.pool)
        }
    }
}
