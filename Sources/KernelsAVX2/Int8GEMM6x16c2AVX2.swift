#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The int8 GEMM tile of Kernels (Int8GEMM.swift) for AVX2: C[6, 16] = bias + A[6, K] * W^T[K, 16]
/// on vpmaddwd, then the requantization of Kernels/Requantize.swift in registers.
///
/// Why vpmaddwd on int16 and not vpmaddubsw on bytes: vpmaddubsw sums two u8 x s8 products in
/// int16 with saturation (255*127*2 > 32767), so its result is not exact for all inputs; the
/// int16 route has no intermediate rounding or saturation at all (each pair sum fits int32).
///
/// The x86-64 microkernel contract (`Int8GEMMTileX86`, shared with the VNNI tiles): accumulators
/// start from `bias`, take `depthGroups` steps of the depth group (here 2: a k pair) and end in
/// `Int8TileEpilogueAVX2`, which writes `rows` x `columns` of `destination`.
///
/// a: six rows of int16 (the tile's int8 rows sign-extended by Kernels), `aStride` bytes apart,
/// at least 2 * depthGroups values long. Rows past `rows` must be readable; their results are dropped.
/// panel: one `.avx2` panel of `PackedInt8Weights` (16 Int32 folded biases, 16 Float scales,
/// then per k pair the 16 columns' (k, k+1) bytes), at least depthGroups pairs long.
/// bias: the panel's own 16 folded biases (its first 64 bytes).
/// Twelve YMM accumulators, two weight vectors and one broadcast A pair: 15 of 16 registers.
///
/// Output element (r, c) is at `output + (r * outputStride + c) * (floatOutput ? 4 : 1)` of
/// `destination`: Float(acc) * scale (+ residual term) for float output, else clamp to [lower, upper],
/// round half to even (magic-number addition), add the zero point; exactly `requantize`'s operations.
@inline(never)
public func int8GEMM6x16c2AVX2(a: UnsafeRawPointer, aStride: Int, depthGroups: Int, panel: UnsafeRawPointer,
                               bias: UnsafePointer<Int32>, rows: Int, columns: Int,
                               destination: UnsafePointer<Int8TileDestination>) {
    let bias0 = UnsafeRawPointer(bias).loadUnaligned(as: __m256i.self)
    let bias1 = UnsafeRawPointer(bias).loadUnaligned(fromByteOffset: 32, as: __m256i.self)
    var c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1, c20 = bias0, c21 = bias1
    var c30 = bias0, c31 = bias1, c40 = bias0, c41 = bias1, c50 = bias0, c51 = bias1
    var p0 = a
    var p1 = p0 + aStride, p2 = p0 + 2 &* aStride, p3 = p0 + 3 &* aStride
    var p4 = p0 + 4 &* aStride, p5 = p0 + 5 &* aStride
    var w = panel + 128
    var remaining = depthGroups
    while remaining > 0 {
        let b0 = _mm256_cvtepi8_epi16(w.loadUnaligned(as: __m128i.self))
        let b1 = _mm256_cvtepi8_epi16(w.loadUnaligned(fromByteOffset: 16, as: __m128i.self))
        var x = _mm256_set1_epi32(p0.loadUnaligned(as: Int32.self))
        c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, b0)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, b1))
        x = _mm256_set1_epi32(p1.loadUnaligned(as: Int32.self))
        c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, b0)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, b1))
        x = _mm256_set1_epi32(p2.loadUnaligned(as: Int32.self))
        c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, b0)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, b1))
        x = _mm256_set1_epi32(p3.loadUnaligned(as: Int32.self))
        c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, b0)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, b1))
        x = _mm256_set1_epi32(p4.loadUnaligned(as: Int32.self))
        c40 = _mm256_add_epi32(c40, _mm256_madd_epi16(x, b0)); c41 = _mm256_add_epi32(c41, _mm256_madd_epi16(x, b1))
        x = _mm256_set1_epi32(p5.loadUnaligned(as: Int32.self))
        c50 = _mm256_add_epi32(c50, _mm256_madd_epi16(x, b0)); c51 = _mm256_add_epi32(c51, _mm256_madd_epi16(x, b1))
        p0 += 4; p1 += 4; p2 += 4; p3 += 4; p4 += 4; p5 += 4
        w += 32
        remaining &-= 1
    }
    let epilogue = Int8TileEpilogueAVX2(scales: panel + 64, columns: columns, destination: destination.pointee)
    epilogue.store(c00, c01, row: 0)
    if rows > 1 { epilogue.store(c10, c11, row: 1) }
    if rows > 2 { epilogue.store(c20, c21, row: 2) }
    if rows > 3 { epilogue.store(c30, c31, row: 3) }
    if rows > 4 { epilogue.store(c40, c41, row: 4) }
    if rows > 5 { epilogue.store(c50, c51, row: 5) }
}
#endif
