#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The float GEMM tile of Kernels (FloatGEMM.swift) on ZMM: C[6, 16] += A[6, depth] * B[depth, 16], one
/// ZMM accumulator per row, so one B load and six FMAs per k where AVX2 (`floatGEMM6x16AVX2`) needs two
/// loads and twelve. Each element is the same fused multiply-add chain in the same k order as the AVX2
/// tile's, so the results are bit for bit the AVX2 tile's; only the instruction count halves. Six
/// chains of FMA latency 4 on two ports keep the multipliers 6/8 busy at best (1.5x AVX2's ceiling), and
/// a taller tile would need every caller's six-row blocking changed.
///
/// Same contract as `floatGEMM6x16AVX2`: row r of A starts at `aR` and steps by `aStep` floats per k;
/// row k of B is the 16 floats at `b + k * bStep`; `tile` holds C as 6 rows of 16 floats, read first
/// and written back. Runs only at the `avx512vnni` level (AVX-512 F checked with the rest).
@inline(never)
public func floatGEMM6x16AVX512(_ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ a2: UnsafePointer<Float>,
                                _ a3: UnsafePointer<Float>, _ a4: UnsafePointer<Float>, _ a5: UnsafePointer<Float>,
                                aStep: Int, b: UnsafePointer<Float>, bStep: Int, depth: Int,
                                tile: UnsafeMutableRawPointer) {
    var c0 = tile.loadUnaligned(as: __m512.self), c1 = tile.loadUnaligned(fromByteOffset: 64, as: __m512.self)
    var c2 = tile.loadUnaligned(fromByteOffset: 128, as: __m512.self), c3 = tile.loadUnaligned(fromByteOffset: 192, as: __m512.self)
    var c4 = tile.loadUnaligned(fromByteOffset: 256, as: __m512.self), c5 = tile.loadUnaligned(fromByteOffset: 320, as: __m512.self)
    var p0 = a0, p1 = a1, p2 = a2, p3 = a3, p4 = a4, p5 = a5
    var bRow = UnsafeRawPointer(b)
    let bStepBytes = bStep &* 4
    var remaining = depth
    while remaining > 0 {
        let row = bRow.loadUnaligned(as: __m512.self)
        c0 = _mm512_fmadd_ps(_mm512_set1_ps(p0.pointee), row, c0)
        c1 = _mm512_fmadd_ps(_mm512_set1_ps(p1.pointee), row, c1)
        c2 = _mm512_fmadd_ps(_mm512_set1_ps(p2.pointee), row, c2)
        c3 = _mm512_fmadd_ps(_mm512_set1_ps(p3.pointee), row, c3)
        c4 = _mm512_fmadd_ps(_mm512_set1_ps(p4.pointee), row, c4)
        c5 = _mm512_fmadd_ps(_mm512_set1_ps(p5.pointee), row, c5)
        p0 += aStep; p1 += aStep; p2 += aStep; p3 += aStep; p4 += aStep; p5 += aStep
        bRow += bStepBytes
        remaining &-= 1
    }
    tile.storeBytes(of: c0, as: __m512.self); tile.storeBytes(of: c1, toByteOffset: 64, as: __m512.self)
    tile.storeBytes(of: c2, toByteOffset: 128, as: __m512.self); tile.storeBytes(of: c3, toByteOffset: 192, as: __m512.self)
    tile.storeBytes(of: c4, toByteOffset: 256, as: __m512.self); tile.storeBytes(of: c5, toByteOffset: 320, as: __m512.self)
}
#endif

#if arch(x86_64)
/// fp32 peak on ZMM, for `edgedetr bench-kernels` at the avx512vnni level: ten independent
/// vfmadd231ps chains of 16 lanes. 160 MACs per iteration.
@inline(never)
public func floatPeakLoopAVX512(iterations: Int, seed: Float) -> Float {
    let b = _mm512_set1_ps(0.999_9), d = _mm512_set1_ps(seed * 1e-4)
    var c0 = _mm512_set1_ps(seed), c1 = _mm512_set1_ps(seed + 1), c2 = _mm512_set1_ps(seed + 2), c3 = _mm512_set1_ps(seed + 3)
    var c4 = _mm512_set1_ps(seed + 4), c5 = _mm512_set1_ps(seed + 5), c6 = _mm512_set1_ps(seed + 6), c7 = _mm512_set1_ps(seed + 7)
    var c8 = _mm512_set1_ps(seed + 8), c9 = _mm512_set1_ps(seed + 9)
    var remaining = iterations
    while remaining > 0 {
        c0 = _mm512_fmadd_ps(c0, b, d); c1 = _mm512_fmadd_ps(c1, b, d); c2 = _mm512_fmadd_ps(c2, b, d)
        c3 = _mm512_fmadd_ps(c3, b, d); c4 = _mm512_fmadd_ps(c4, b, d); c5 = _mm512_fmadd_ps(c5, b, d)
        c6 = _mm512_fmadd_ps(c6, b, d); c7 = _mm512_fmadd_ps(c7, b, d); c8 = _mm512_fmadd_ps(c8, b, d)
        c9 = _mm512_fmadd_ps(c9, b, d)
        remaining &-= 1
    }
    let sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                                          _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7))),
                            _mm512_add_ps(c8, c9))
    return sum.sum()
}
#endif
