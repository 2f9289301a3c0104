#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Register-only loops that measure this core's peak multiply-accumulate rates for
/// `edgedetr bench-kernels`; nothing here is used by a model.

/// int8 peak through the instructions the int8 GEMM uses: vpmaddwd (16 int16 MACs) + vpaddd into
/// eight accumulators. The multiplier vector changes every half iteration (one vpaddd) so the
/// products cannot be hoisted, and no product waits on an accumulator: throughput-bound, like the
/// GEMM tile; 15 of 16 YMM registers, no spills. 128 MACs per iteration. The two vpaddd that
/// step the multiplier make it 10 vpaddd per 8 vpmaddwd, a little more than the tile's 1:1, so
/// it reads ~10% below `int8MultiplyAccumulatePeakLoopAVX2` (the tile's own mix).
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

/// vpmaddwd alone: eight independent chains, each product the next multiplicand, so nothing
/// else competes for the vector pipes. The multiplier's own rate (Zen 3: two per cycle, 32 MACs);
/// no exact GEMM reaches it, since every product needs a vpaddd. 128 MACs per iteration.
@inline(never)
public func int8MultiplyPeakLoopAVX2(iterations: Int, seed: Int32) -> Int32 {
    let b = _mm256_set1_epi32(seed | 0x0001_0001)
    var c0 = _mm256_set1_epi32(seed), c1 = _mm256_set1_epi32(seed &+ 1), c2 = _mm256_set1_epi32(seed &+ 2)
    var c3 = _mm256_set1_epi32(seed &+ 3), c4 = c0, c5 = c1, c6 = c2, c7 = c3
    var remaining = iterations
    while remaining > 0 {
        c0 = _mm256_madd_epi16(c0, b); c1 = _mm256_madd_epi16(c1, b); c2 = _mm256_madd_epi16(c2, b)
        c3 = _mm256_madd_epi16(c3, b); c4 = _mm256_madd_epi16(c4, b); c5 = _mm256_madd_epi16(c5, b)
        c6 = _mm256_madd_epi16(c6, b); c7 = _mm256_madd_epi16(c7, b)
        remaining &-= 1
    }
    let sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                               _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)))
    return unsafeBitCast(sum, to: SIMD8<Int32>.self).wrappedSum()
}

/// The int8 GEMM tile's own mix: one vpmaddwd and one vpaddd per 16 MACs, the multiplier read
/// from a 4 KiB buffer in L1 as the tile reads its weights (loads do not use the vector pipes),
/// eight accumulators. The ceiling of any exact vpmaddwd GEMM on this core. 128 MACs per iteration.
@inline(never)
public func int8MultiplyAccumulatePeakLoopAVX2(iterations: Int, seed: Int32) -> Int32 {
    let bufferBytes = 4096
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferBytes, alignment: 64)
    defer { buffer.deallocate() }
    for offset in stride(from: 0, to: bufferBytes, by: 4) {
        buffer.storeBytes(of: seed &+ Int32(truncatingIfNeeded: offset), toByteOffset: offset, as: Int32.self)
    }
    let a0 = _mm256_set1_epi32(seed), a1 = _mm256_set1_epi32(seed &+ 1), a2 = _mm256_set1_epi32(seed &+ 2)
    let a3 = _mm256_set1_epi32(seed &+ 3)
    var c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
    var offset = 0
    var remaining = iterations
    while remaining > 0 {
        let b0 = buffer.load(fromByteOffset: offset, as: __m256i.self)
        let b1 = buffer.load(fromByteOffset: offset &+ 32, as: __m256i.self)
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(a0, b0)); c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(a1, b0))
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(a2, b0)); c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(a3, b0))
        c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(a0, b1)); c5 = _mm256_add_epi32(c5, _mm256_madd_epi16(a1, b1))
        c6 = _mm256_add_epi32(c6, _mm256_madd_epi16(a2, b1)); c7 = _mm256_add_epi32(c7, _mm256_madd_epi16(a3, b1))
        offset = (offset &+ 64) & (bufferBytes &- 1)
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
