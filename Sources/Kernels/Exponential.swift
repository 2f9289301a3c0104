// Shared, as this one file, with KernelsAVX2 (Sources/KernelsAVX2/Exponential.swift is a symbolic link to
// it), so that the AVX2 softmax computes the same operations in the same order as the baseline one and
// gives the same bits. Keep it self-contained: nothing here may use another Kernels declaration.

/// Vectorized exp for the softmax inside attention, where a libm call per score would cost more
/// than the matrix products around it.
///
/// Cephes' expf: x = n·ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n by building
/// the exponent bits. Relative error about 2 ulp. Inputs are clamped to [-87.3, 88.3] so that
/// 2^n stays a normal float; very negative inputs therefore give ~1e-38 instead of 0. Only
/// additions, multiplications and integer bit operations, so it vectorizes on any SSE2/NEON target.
@inline(__always)
func exponential(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Compare and select rather than the stdlib's pointwiseMin/Max, which are not inlined and
    // clamp lane by lane (measured: they made the SIMD softmax slower than 16 calls of expf).
    let lower = SIMD8<Float>(repeating: -87.3), upper = SIMD8<Float>(repeating: 88.3)
    var clamped = x.replacing(with: lower, where: x .< lower)
    clamped = clamped.replacing(with: upper, where: clamped .> upper)
    // Round x·log2(e) to the nearest integer n by adding and removing 1.5·2^23; the sum's low
    // mantissa bits then hold n itself, so 2^n needs no float-to-int conversion.
    let roundingMagic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = clamped * 1.442_695_04 + roundingMagic
    let n = shifted - roundingMagic
    let r = (clamped - n * 0.693_359_375) - n * -2.121_944_4e-4
    var polynomial = SIMD8<Float>(repeating: 1.987_569_15e-4)
    polynomial = polynomial * r + 1.398_199_95e-3
    polynomial = polynomial * r + 8.333_451_9e-3
    polynomial = polynomial * r + 4.166_579_59e-2
    polynomial = polynomial * r + 1.666_666_55e-1
    polynomial = polynomial * r + 5.000_000_12e-1
    let expR = (polynomial * r * r + r) + 1
    let integerN = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(roundingMagic, to: SIMD8<Int32>.self)
    let exponentBits = (integerN &+ 127) &<< 23
    return expR * unsafeBitCast(exponentBits, to: SIMD8<Float>.self)
}
