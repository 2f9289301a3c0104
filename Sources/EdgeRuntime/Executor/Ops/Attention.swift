import Kernels

// Multi-head attention, float32: softmax(Q K^T * scale) V per head, probabilities in the shared scratch.

/// attention: q `[Nq, heads * dq]`, keys `[Nk, heads * dq]`, values `[Nk, heads * dv]`.
struct AttentionOp {
    let q: UnsafePointer<Float>, qStride: Int
    let k: UnsafePointer<Float>, kStride: Int
    let v: UnsafePointer<Float>, vStride: Int
    let queries: Int, keys: Int, heads: Int
    let queryHeadDim: Int, valueHeadDim: Int
    let scale: Float
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .attention(let heads, let scale) = node.operation, heads >= 1 else {
            throw .malformedNode(node: node.name, detail: "not an attention with one or more heads")
        }
        let keysValue = try preparation.operand(.keys, of: node)
        let valuesValue = try preparation.operand(.values, of: node)
        let (qShape, kShape, vShape) = (preparation.shape(node.x), preparation.shape(keysValue), preparation.shape(valuesValue))
        (q, qStride) = (UnsafePointer(preparation.float(node.x)), qShape[1])
        (k, kStride) = (UnsafePointer(preparation.float(keysValue)), kShape[1])
        (v, vStride) = (UnsafePointer(preparation.float(valuesValue)), vShape[1])
        (queries, keys, self.heads) = (qShape[0], kShape[0], heads)
        (queryHeadDim, valueHeadDim) = (qShape[1] / heads, vShape[1] / heads)
        self.scale = scale
        output = preparation.float(node.output)
        preparation.needScratch(elements: attentionScratchCount(queries: queries, keys: keys, heads: heads,
                                                                queryHeadDim: queryHeadDim, threads: preparation.threads))
    }

    func run(_ context: RunContext) {
        multiHeadAttention(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride, queries: queries, keys: keys,
                           heads: heads, queryHeadDim: queryHeadDim, valueHeadDim: valueHeadDim, scale: scale, output: output,
                           scratch: context.scratch, pool: context.pool)
    }
}
