// The row kernels Kernels shares with this module as files (symbolic links: ColumnSoftmax.swift,
// RowSoftmax.swift, GroupSoftmax.swift, LayerNormRows.swift, Exponential.swift), compiled here for AVX2: one YMM register per
// SIMD8 where the baseline x86-64 build uses two SSE halves, the same operations in the same order, so the
// same bits. Kernels calls these entry points at `.avx2` and above.

#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Eight values already in [-128, 127] as bytes, for the shared RowSoftmax.swift: two saturating packs
/// (vpackssdw, vpacksswb), equal to truncation in that range. The generic SIMD conversion the baseline
/// build uses is a call per block here (perf: 3% of a DAB-DETR run).
@inline(__always)
func narrowedToBytes(_ values: SIMD8<Int32>) -> SIMD8<Int8> {
    let words = _mm_packs_epi32(unsafeBitCast(values.lowHalf, to: __m128i.self), unsafeBitCast(values.highHalf, to: __m128i.self))
    return unsafeBitCast(_mm_cvtsi128_si64(_mm_packs_epi16(words, words)), to: SIMD8<Int8>.self)
}
#endif

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
/// `exponentiateRowsAsCodes` (Kernels' RowSoftmax.swift, compiled into this module from the same file) on
/// AVX2: the same codes as the baseline build's; `dynamicInt8Attention` calls this at `.avx2` and above.
@inline(never)
public func exponentiateRowsAsCodesAVX2(_ scores: UnsafePointer<Float>, rows: Int, columns: Int, multipliers: UnsafePointer<Float>,
                                        multiplierStride: Int, codes: UnsafeMutablePointer<Int8>, codeStride: Int,
                                        totals: UnsafeMutablePointer<Int32>) {
    exponentiateRowsAsCodes(scores, rows: rows, columns: columns, multipliers: multipliers, multiplierStride: multiplierStride,
                            codes: codes, codeStride: codeStride, totals: totals)
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
