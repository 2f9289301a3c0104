#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// The int8 GEMM tile of Kernels (Int8GEMM.swift) for AVX-512 VNNI: C[8, 16] = bias + A[8, K] * W^T[K, 16]
/// on VPDPBUSD over ZMM registers, then the same requantization on whole ZMM rows (`Int8TileEpilogueAVX512`).
///
/// The arithmetic is the AVX-VNNI tile's (KernelsAVXVNNI): activations staged as x + 128 (x XOR 0x80),
/// `bias` the folded bias minus 128 x sum_k W[n, k], four u8 x s8 products per int32 lane with no
/// rounding or saturation; so the integers equal the scalar reference's. One ZMM holds a whole
/// `.dotProduct` group (16 columns x 4 depths, 64 bytes): one weight load and one VPDPBUSD per row
/// and group, twice the work of a YMM instruction.
///
/// A: eight rows of shifted bytes, `aStride` apart, at least 4 * depthGroups long. Rows past `rows`
/// must be readable; their results are dropped.
/// panel: one `.dotProduct` panel of `PackedInt8Weights`; bias: its 16 `unsignedInputBias` entries.
/// Eight ZMM accumulators, one weight vector, one broadcast A quad.
@inline(never)
public func int8GEMM8x16c4AVX512VNNI(a: UnsafeRawPointer, aStride: Int, depthGroups: Int, panel: UnsafeRawPointer,
                                     bias: UnsafePointer<Int32>, rows: Int, columns: Int,
                                     destination: UnsafePointer<Int8TileDestination>) {
    let initial = UnsafeRawPointer(bias).loadUnaligned(as: __m512i.self)
    var c0 = initial, c1 = initial, c2 = initial, c3 = initial, c4 = initial, c5 = initial, c6 = initial, c7 = initial
    var p0 = a
    var p1 = p0 + aStride, p2 = p0 + 2 &* aStride, p3 = p0 + 3 &* aStride
    var p4 = p0 + 4 &* aStride, p5 = p0 + 5 &* aStride, p6 = p0 + 6 &* aStride, p7 = p0 + 7 &* aStride
    var w = panel + 128
    var remaining = depthGroups
    while remaining > 0 {
        let b = w.loadUnaligned(as: __m512i.self)
        c0 = _mm512_dpbusd_epi32(c0, _mm512_set1_epi32(p0.loadUnaligned(as: Int32.self)), b)
        c1 = _mm512_dpbusd_epi32(c1, _mm512_set1_epi32(p1.loadUnaligned(as: Int32.self)), b)
        c2 = _mm512_dpbusd_epi32(c2, _mm512_set1_epi32(p2.loadUnaligned(as: Int32.self)), b)
        c3 = _mm512_dpbusd_epi32(c3, _mm512_set1_epi32(p3.loadUnaligned(as: Int32.self)), b)
        c4 = _mm512_dpbusd_epi32(c4, _mm512_set1_epi32(p4.loadUnaligned(as: Int32.self)), b)
        c5 = _mm512_dpbusd_epi32(c5, _mm512_set1_epi32(p5.loadUnaligned(as: Int32.self)), b)
        c6 = _mm512_dpbusd_epi32(c6, _mm512_set1_epi32(p6.loadUnaligned(as: Int32.self)), b)
        c7 = _mm512_dpbusd_epi32(c7, _mm512_set1_epi32(p7.loadUnaligned(as: Int32.self)), b)
        p0 += 4; p1 += 4; p2 += 4; p3 += 4; p4 += 4; p5 += 4; p6 += 4; p7 += 4
        w += 64
        remaining &-= 1
    }
    let epilogue = Int8TileEpilogueAVX512(scales: panel + 64, columns: columns, destination: destination.pointee)
    @inline(__always) func store(_ accumulator: __m512i, row: Int) { epilogue.store(accumulator, row: row) }
    store(c0, row: 0)
    if rows > 1 { store(c1, row: 1) }
    if rows > 2 { store(c2, row: 2) }
    if rows > 3 { store(c3, row: 3) }
    if rows > 4 { store(c4, row: 4) }
    if rows > 5 { store(c5, row: 5) }
    if rows > 6 { store(c6, row: 6) }
    if rows > 7 { store(c7, row: 7) }
}

/// Two adjacent panels at once, C[8, 32]: the 8x16 tile's arithmetic with each broadcast A quad feeding two
/// VPDPBUSD, one per panel. A core with two 512-bit VNNI ports starves on the 8x16 tile: per depth group it
/// loads nine vectors (eight broadcasts and one weight group) for eight multiplies, and eight accumulator
/// chains of five cycles' latency cannot keep both ports busy. Here ten loads feed sixteen multiplies on
/// sixteen chains (16 + 2 + 1 of the 32 ZMM registers). The integers and the epilogue are the 8x16 tile's,
/// so the results are its bits.
///
/// panel: the first of two `.dotProduct` panels, `panelStride` bytes apart; the first is whole (16
/// columns), the second has `columns`. bias: their 32 `unsignedInputBias` entries. destination: the first
/// panel's tile; the second's starts 16 elements to the right (output and residual).
@inline(never)
public func int8GEMM8x32c4AVX512VNNI(a: UnsafeRawPointer, aStride: Int, depthGroups: Int, panel: UnsafeRawPointer, panelStride: Int,
                                     bias: UnsafePointer<Int32>, rows: Int, columns: Int,
                                     destination: UnsafePointer<Int8TileDestination>) {
    let initial0 = UnsafeRawPointer(bias).loadUnaligned(as: __m512i.self)
    let initial1 = UnsafeRawPointer(bias + 16).loadUnaligned(as: __m512i.self)
    var c0 = initial0, c1 = initial0, c2 = initial0, c3 = initial0, c4 = initial0, c5 = initial0, c6 = initial0, c7 = initial0
    var d0 = initial1, d1 = initial1, d2 = initial1, d3 = initial1, d4 = initial1, d5 = initial1, d6 = initial1, d7 = initial1
    var p0 = a
    var p1 = p0 + aStride, p2 = p0 + 2 &* aStride, p3 = p0 + 3 &* aStride
    var p4 = p0 + 4 &* aStride, p5 = p0 + 5 &* aStride, p6 = p0 + 6 &* aStride, p7 = p0 + 7 &* aStride
    var w0 = panel + 128
    var w1 = panel + panelStride + 128
    var remaining = depthGroups
    while remaining > 0 {
        let b0 = w0.loadUnaligned(as: __m512i.self), b1 = w1.loadUnaligned(as: __m512i.self)
        var x = _mm512_set1_epi32(p0.loadUnaligned(as: Int32.self))
        c0 = _mm512_dpbusd_epi32(c0, x, b0); d0 = _mm512_dpbusd_epi32(d0, x, b1)
        x = _mm512_set1_epi32(p1.loadUnaligned(as: Int32.self))
        c1 = _mm512_dpbusd_epi32(c1, x, b0); d1 = _mm512_dpbusd_epi32(d1, x, b1)
        x = _mm512_set1_epi32(p2.loadUnaligned(as: Int32.self))
        c2 = _mm512_dpbusd_epi32(c2, x, b0); d2 = _mm512_dpbusd_epi32(d2, x, b1)
        x = _mm512_set1_epi32(p3.loadUnaligned(as: Int32.self))
        c3 = _mm512_dpbusd_epi32(c3, x, b0); d3 = _mm512_dpbusd_epi32(d3, x, b1)
        x = _mm512_set1_epi32(p4.loadUnaligned(as: Int32.self))
        c4 = _mm512_dpbusd_epi32(c4, x, b0); d4 = _mm512_dpbusd_epi32(d4, x, b1)
        x = _mm512_set1_epi32(p5.loadUnaligned(as: Int32.self))
        c5 = _mm512_dpbusd_epi32(c5, x, b0); d5 = _mm512_dpbusd_epi32(d5, x, b1)
        x = _mm512_set1_epi32(p6.loadUnaligned(as: Int32.self))
        c6 = _mm512_dpbusd_epi32(c6, x, b0); d6 = _mm512_dpbusd_epi32(d6, x, b1)
        x = _mm512_set1_epi32(p7.loadUnaligned(as: Int32.self))
        c7 = _mm512_dpbusd_epi32(c7, x, b0); d7 = _mm512_dpbusd_epi32(d7, x, b1)
        p0 += 4; p1 += 4; p2 += 4; p3 += 4; p4 += 4; p5 += 4; p6 += 4; p7 += 4
        w0 += 64
        w1 += 64
        remaining &-= 1
    }
    let first = destination.pointee
    var second = first
    second.output = first.output + 16 &* (first.floatOutput ? 4 : 1)
    second.residual = first.residual.map { $0 + 16 }
    let left = Int8TileEpilogueAVX512(scales: panel + 64, columns: 16, destination: first)
    let right = Int8TileEpilogueAVX512(scales: panel + panelStride + 64, columns: columns, destination: second)
    left.store(c0, row: 0); right.store(d0, row: 0)
    if rows > 1 { left.store(c1, row: 1); right.store(d1, row: 1) }
    if rows > 2 { left.store(c2, row: 2); right.store(d2, row: 2) }
    if rows > 3 { left.store(c3, row: 3); right.store(d3, row: 3) }
    if rows > 4 { left.store(c4, row: 4); right.store(d4, row: 4) }
    if rows > 5 { left.store(c5, row: 5); right.store(d5, row: 5) }
    if rows > 6 { left.store(c6, row: 6); right.store(d6, row: 6) }
    if rows > 7 { left.store(c7, row: 7); right.store(d7, row: 7) }
}

/// The int8 peak of this core through VPDPBUSD on ZMM, for `edgedetr bench-kernels`: twelve independent
/// accumulator chains, register only. 768 MACs per iteration.
@inline(never)
public func int8PeakLoopAVX512VNNI(iterations: Int, seed: Int32) -> Int32 {
    let a = _mm512_set1_epi32(seed | 0x0101_0101), b = _mm512_set1_epi32(seed &+ 0x0102_0304)
    var c0 = _mm512_set1_epi32(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
    var c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
    var remaining = iterations
    while remaining > 0 {
        c0 = _mm512_dpbusd_epi32(c0, a, b); c1 = _mm512_dpbusd_epi32(c1, a, b)
        c2 = _mm512_dpbusd_epi32(c2, a, b); c3 = _mm512_dpbusd_epi32(c3, a, b)
        c4 = _mm512_dpbusd_epi32(c4, a, b); c5 = _mm512_dpbusd_epi32(c5, a, b)
        c6 = _mm512_dpbusd_epi32(c6, a, b); c7 = _mm512_dpbusd_epi32(c7, a, b)
        c8 = _mm512_dpbusd_epi32(c8, a, b); c9 = _mm512_dpbusd_epi32(c9, a, b)
        c10 = _mm512_dpbusd_epi32(c10, a, b); c11 = _mm512_dpbusd_epi32(c11, a, b)
        remaining &-= 1
    }
    let sum = _mm512_add_epi32(
        _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                         _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7))),
        _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)))
    return unsafeBitCast(sum, to: SIMD16<Int32>.self).wrappedSum()
}
#endif
