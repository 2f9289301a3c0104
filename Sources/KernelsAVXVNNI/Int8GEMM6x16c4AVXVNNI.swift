#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// The int8 GEMM tile of Kernels (Int8GEMM.swift) for AVX-VNNI: C[6, 16] = bias + A[6, K] * W^T[K, 16]
/// on VPDPBUSD, then KernelsAVX2's requantization epilogue in registers.
///
/// Why activations are shifted by 128: VPDPBUSD multiplies four unsigned bytes by four signed bytes
/// and adds the four products to an int32 lane, with no intermediate rounding or saturation (unlike
/// VPMADDUBSW). The weights are signed; so the activations are staged as x + 128 (x XOR 0x80, a
/// byte in 0...255), and `bias` is the folded bias minus 128 x sum_k W[n, k]
/// (`PackedInt8Weights.unsignedInputBias`): sum_k (x + 128) W - 128 sum_k W = sum_k x W, exactly, in
/// wrapping int32 like the reference. One instruction does the work of AVX2's VPMADDWD + VPADDD on
/// twice the depth: four times the multiply-accumulates per instruction.
///
/// A: six rows of shifted bytes, `aStride` apart, at least 4 * depthGroups long. Rows past `rows`
/// must be readable; their results are dropped.
/// panel: one `.dotProduct` panel of `PackedInt8Weights` (16 Int32 folded biases, 16 Float scales,
/// then per group of four k the 16 columns' four bytes: 64 bytes, two YMM of eight columns).
/// bias: the panel's 16 `unsignedInputBias` entries.
/// Twelve YMM accumulators, two weight vectors and one broadcast A quad: 15 of 16 registers.
///
/// Output element (r, c) is at `output + (r * outputStride + c) * (floatOutput ? 4 : 1)` of
/// `destination`, written by `Int8TileEpilogueAVX2` exactly as the AVX2 tile writes it.
@inline(never)
public func int8GEMM6x16c4AVXVNNI(a: UnsafeRawPointer, aStride: Int, depthGroups: Int, panel: UnsafeRawPointer,
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
        let b0 = w.loadUnaligned(as: __m256i.self)
        let b1 = w.loadUnaligned(fromByteOffset: 32, as: __m256i.self)
        var x = _mm256_set1_epi32(p0.loadUnaligned(as: Int32.self))
        c00 = _mm256_dpbusd_avx_epi32(c00, x, b0); c01 = _mm256_dpbusd_avx_epi32(c01, x, b1)
        x = _mm256_set1_epi32(p1.loadUnaligned(as: Int32.self))
        c10 = _mm256_dpbusd_avx_epi32(c10, x, b0); c11 = _mm256_dpbusd_avx_epi32(c11, x, b1)
        x = _mm256_set1_epi32(p2.loadUnaligned(as: Int32.self))
        c20 = _mm256_dpbusd_avx_epi32(c20, x, b0); c21 = _mm256_dpbusd_avx_epi32(c21, x, b1)
        x = _mm256_set1_epi32(p3.loadUnaligned(as: Int32.self))
        c30 = _mm256_dpbusd_avx_epi32(c30, x, b0); c31 = _mm256_dpbusd_avx_epi32(c31, x, b1)
        x = _mm256_set1_epi32(p4.loadUnaligned(as: Int32.self))
        c40 = _mm256_dpbusd_avx_epi32(c40, x, b0); c41 = _mm256_dpbusd_avx_epi32(c41, x, b1)
        x = _mm256_set1_epi32(p5.loadUnaligned(as: Int32.self))
        c50 = _mm256_dpbusd_avx_epi32(c50, x, b0); c51 = _mm256_dpbusd_avx_epi32(c51, x, b1)
        p0 += 4; p1 += 4; p2 += 4; p3 += 4; p4 += 4; p5 += 4
        w += 64
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

#if arch(x86_64)
/// The int8 peak of this core through VPDPBUSD, for `edgedetr bench-kernels`: twelve independent
/// accumulator chains (enough to cover the instruction's latency at two per cycle), register only.
/// The AVX-VNNI tile's loop is this instruction plus loads, which do not use the vector pipes, so this
/// is also the tile's ceiling. 384 MACs per iteration.
@inline(never)
public func int8PeakLoopAVXVNNI(iterations: Int, seed: Int32) -> Int32 {
    let a = _mm256_set1_epi32(seed | 0x0101_0101), b = _mm256_set1_epi32(seed &+ 0x0102_0304)
    var c0 = _mm256_set1_epi32(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
    var c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
    var remaining = iterations
    while remaining > 0 {
        c0 = _mm256_dpbusd_avx_epi32(c0, a, b); c1 = _mm256_dpbusd_avx_epi32(c1, a, b)
        c2 = _mm256_dpbusd_avx_epi32(c2, a, b); c3 = _mm256_dpbusd_avx_epi32(c3, a, b)
        c4 = _mm256_dpbusd_avx_epi32(c4, a, b); c5 = _mm256_dpbusd_avx_epi32(c5, a, b)
        c6 = _mm256_dpbusd_avx_epi32(c6, a, b); c7 = _mm256_dpbusd_avx_epi32(c7, a, b)
        c8 = _mm256_dpbusd_avx_epi32(c8, a, b); c9 = _mm256_dpbusd_avx_epi32(c9, a, b)
        c10 = _mm256_dpbusd_avx_epi32(c10, a, b); c11 = _mm256_dpbusd_avx_epi32(c11, a, b)
        remaining &-= 1
    }
    let sum = _mm256_add_epi32(
        _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                         _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7))),
        _mm256_add_epi32(_mm256_add_epi32(c8, c9), _mm256_add_epi32(c10, c11)))
    return unsafeBitCast(sum, to: SIMD8<Int32>.self).wrappedSum()
}
#endif
