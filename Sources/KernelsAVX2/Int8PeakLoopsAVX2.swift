#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Register-only loops that measure this core's peak multiply-accumulate rates for
/// `edgedetr bench-kernels`; nothing here is used by a model.

/// int8 peak through the instructions the int8 GEMM uses: vpmaddwd (16 int16 MACs) + vpaddd into
/// eight accumulators. The multiplier vector changes every half iteration (one vpaddd) so the
/// products cannot be hoisted, and no product waits on an accumulator: throughput-bound, like the
/// GEMM tile; 15 of 16 YMM registers, no spills. 128 MACs per iteration.
@inline(never)
public func int8PeakLoopAVX2(iterations: Int, seed: Int32) -> Int32 {
    var b = _mm256_set1_epi32(seed | 0x0001_0001)
    let step = _mm256_set1_epi32(0x0001_0001)
    let a0 = _mm256_set1_epi32(seed), a1 = _mm256_set1_epi32(seed &+ 1), a2 = _mm256_set1_epi32(seed &+ 2)
    let a3 = _mm256_set1_epi32(seed &+ 3)
    var c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
    var remaining = iterations
    while remaining > 0 {
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(a0, b)); c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(a1, b))
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(a2, b)); c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(a3, b))
        let b1 = _mm256_add_epi32(b, step)
        c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(a0, b1)); c5 = _mm256_add_epi32(c5, _mm256_madd_epi16(a1, b1))
        c6 = _mm256_add_epi32(c6, _mm256_madd_epi16(a2, b1)); c7 = _mm256_add_epi32(c7, _mm256_madd_epi16(a3, b1))
        b = _mm256_add_epi32(b1, step)
        remaining &-= 1
    }
    let sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                               _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)))
    return unsafeBitCast(sum, to: SIMD8<Int32>.self).wrappedSum()
}

/// fp32 peak: ten independent vfmadd231ps chains (8 MACs each). 80 MACs per iteration.
@inline(never)
public func floatPeakLoopAVX2(iterations: Int, seed: Float) -> Float {
    let b = SIMD8<Float>(repeating: 0.999_9), d = SIMD8<Float>(repeating: seed * 1e-4)
    var c0 = SIMD8<Float>(repeating: seed), c1 = c0 + 1, c2 = c0 + 2, c3 = c0 + 3, c4 = c0 + 4
    var c5 = c0 + 5, c6 = c0 + 6, c7 = c0 + 7, c8 = c0 + 8, c9 = c0 + 9
    var remaining = iterations
    while remaining > 0 {
        c0 = d.addingProduct(c0, b); c1 = d.addingProduct(c1, b); c2 = d.addingProduct(c2, b)
        c3 = d.addingProduct(c3, b); c4 = d.addingProduct(c4, b); c5 = d.addingProduct(c5, b)
        c6 = d.addingProduct(c6, b); c7 = d.addingProduct(c7, b); c8 = d.addingProduct(c8, b)
        c9 = d.addingProduct(c9, b)
        remaining &-= 1
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9).sum()
}
#endif
