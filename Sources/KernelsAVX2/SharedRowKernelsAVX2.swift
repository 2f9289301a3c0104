// The row kernels Kernels shares with this module as files (symbolic links: ColumnSoftmax.swift,
// RowSoftmax.swift, GroupSoftmax.swift, LayerNormRows.swift, Exponential.swift), compiled here for AVX2: one YMM register per
// SIMD8 where the baseline x86-64 build uses two SSE halves, the same operations in the same order, so the
// same bits. Kernels calls these entry points at `.avx2` and above.

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

#if arch(x86_64)
/// `layerNormRows` (Kernels' LayerNormRows.swift, compiled into this module from the same file) on AVX2:
/// the same bits as the baseline build's; `layerNorm` calls this at `.avx2` and above.
@inline(never)
public func layerNormRowsAVX2(input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Range<Int>, columns: Int,
                              gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                              output: UnsafeMutablePointer<Float>) {
    layerNormRows(input: input, residual: residual, rows: rows, columns: columns, gamma: gamma, beta: beta, epsilon: epsilon,
                  output: output)
}
#endif

#if arch(x86_64)
/// `softmaxGroups` (Kernels' GroupSoftmax.swift, compiled into this module from the same file) on AVX2: the
/// same bits as the baseline build's; `softmax` calls this at `.avx2` and above.
@inline(never)
public func softmaxGroupsAVX2(_ data: UnsafeMutablePointer<Float>, groups: Range<Int>, groupSize: Int) {
    softmaxGroups(data, groups: groups, groupSize: groupSize)
}
#endif
