#if arch(x86_64)
/// Attention's column softmax (Kernels' ColumnSoftmax.swift, compiled into this module from the same file)
/// on AVX2: one YMM register per SIMD8 where the baseline build uses two SSE halves. Same operations in the
/// same order, so the same bits as Kernels' `softmaxColumns`; `multiHeadAttention` calls this at `.avx2`
/// and above.
@inline(never)
public func softmaxColumnsAVX2(_ scores: UnsafeMutablePointer<Float>, keys: Int, scale: Float) {
    softmaxColumns(scores, keys: keys, scale: scale)
}
#endif

#if arch(x86_64)
/// `exponentiateRows` (Kernels' RowSoftmax.swift, compiled into this module from the same file) on AVX2:
/// the same bits as the baseline build's; `dynamicInt8Attention` calls this at `.avx2` and above.
@inline(never)
public func exponentiateRowsAVX2(_ scores: UnsafeMutablePointer<Float>, rows: Int, columns: Int, multipliers: UnsafePointer<Float>,
                                 multiplierStride: Int, inverseSums: UnsafeMutablePointer<Float>) {
    exponentiateRows(scores, rows: rows, columns: columns, multipliers: multipliers, multiplierStride: multiplierStride,
                     inverseSums: inverseSums)
}
#endif
