#if arch(x86_64)
import _Builtin_intrinsics.intel

/// `exponentiateRowsAsCodes` (Kernels' RowSoftmax.swift) on ZMM: sixteen keys a step, the tail masked, each
/// lane the same IEEE operations in the same order as the SIMD8 code and its `exponential` (no fused
/// multiply-adds), so the same codes and totals. The clamps are VMAXPS/VMINPS where the SIMD8 code compares
/// and selects, equal on the finite scores the int8 products give; the row maximum is exact in any order.
/// On YMM the exponential, the two roundings and the packing ran out of the sixteen registers (a move or a
/// spill for every third instruction); ZMM has 32 and twice the lanes. Runs at the avx512vnni level.
@inline(never)
public func exponentiateRowsAsCodesAVX512(_ scores: UnsafePointer<Float>, rows: Int, columns: Int, multipliers: UnsafePointer<Float>,
                                          multiplierStride: Int, codes: UnsafeMutablePointer<Int8>, codeStride: Int,
                                          totals: UnsafeMutablePointer<Int32>) {
    if columns <= 0 {
        for row in 0..<rows { totals[row] = 0 }
        return
    }
    let tailLanes = columns & 15, whole = columns &- tailLanes
    let tailMask = UInt16(truncatingIfNeeded: (1 << tailLanes) &- 1)
    for row in 0..<rows {
        let values = scores + row &* columns
        let high = codes + row &* codeStride, low = codes + (rows &+ row) &* codeStride
        let multiplier = multipliers[row &* multiplierStride]
        let scale = _mm512_set1_ps(multiplier)
        // The missing lanes of the tail hold values[0] scaled, which cannot change the maximum.
        var maximum = _mm512_set1_ps(values[0] * multiplier)
        var index = 0
        while index < whole {
            maximum = _mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(values + index), scale), maximum)
            index &+= 16
        }
        if tailLanes > 0 {
            maximum = _mm512_max_ps(_mm512_mul_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(values[0]), tailMask, values + whole), scale),
                                    maximum)
        }
        let shift = _mm512_set1_ps(largestLane(maximum))
        var total = _mm512_setzero_si512()
        index = 0
        while index < whole {
            let (hi, lo) = probabilityCodes16(exponential16(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(values + index), scale), shift)))
            UnsafeMutableRawPointer(high + index).storeBytes(of: _mm512_cvtepi32_epi8(hi), as: __m128i.self)
            UnsafeMutableRawPointer(low + index).storeBytes(of: _mm512_cvtepi32_epi8(lo), as: __m128i.self)
            total = _mm512_add_epi32(total, _mm512_add_epi32(_mm512_sub_epi32(_mm512_slli_epi32(hi, 7), hi), lo))
            index &+= 16
        }
        if tailLanes > 0 {
            let block = _mm512_maskz_loadu_ps(tailMask, values + whole)
            let (hi, lo) = probabilityCodes16(exponential16(_mm512_sub_ps(_mm512_mul_ps(block, scale), shift)))
            _mm_mask_storeu_epi8(high + whole, tailMask, _mm512_cvtepi32_epi8(hi))
            _mm_mask_storeu_epi8(low + whole, tailMask, _mm512_cvtepi32_epi8(lo))
            let sum = _mm512_add_epi32(_mm512_sub_epi32(_mm512_slli_epi32(hi, 7), hi), lo)
            total = _mm512_add_epi32(total, _mm512_maskz_mov_epi32(tailMask, sum))
        }
        totals[row] = laneSum(total)
    }
}

/// Kernels' `exponential` on sixteen lanes, operation for operation.
@inline(__always)
private func exponential16(_ x: __m512) -> __m512 {
    let clamped = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3)), _mm512_set1_ps(88.3))
    let roundingMagic = _mm512_set1_ps(12_582_912)
    let shifted = _mm512_add_ps(_mm512_mul_ps(clamped, _mm512_set1_ps(1.442_695_04)), roundingMagic)
    let n = _mm512_sub_ps(shifted, roundingMagic)
    let r = _mm512_sub_ps(_mm512_sub_ps(clamped, _mm512_mul_ps(n, _mm512_set1_ps(0.693_359_375))),
                          _mm512_mul_ps(n, _mm512_set1_ps(-2.121_944_4e-4)))
    var polynomial = _mm512_set1_ps(1.987_569_15e-4)
    polynomial = _mm512_add_ps(_mm512_mul_ps(polynomial, r), _mm512_set1_ps(1.398_199_95e-3))
    polynomial = _mm512_add_ps(_mm512_mul_ps(polynomial, r), _mm512_set1_ps(8.333_451_9e-3))
    polynomial = _mm512_add_ps(_mm512_mul_ps(polynomial, r), _mm512_set1_ps(4.166_579_59e-2))
    polynomial = _mm512_add_ps(_mm512_mul_ps(polynomial, r), _mm512_set1_ps(1.666_666_55e-1))
    polynomial = _mm512_add_ps(_mm512_mul_ps(polynomial, r), _mm512_set1_ps(5.000_000_12e-1))
    let expR = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(polynomial, r), r), r), _mm512_set1_ps(1))
    let integerN = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_castps_si512(roundingMagic))
    let exponentBits = _mm512_slli_epi32(_mm512_add_epi32(integerN, _mm512_set1_epi32(127)), 23)
    return _mm512_mul_ps(expR, _mm512_castsi512_ps(exponentBits))
}

/// Kernels' `probabilityCodes` on sixteen lanes: hi = round(127 e), lo = round(127 (127 e - hi)).
@inline(__always)
private func probabilityCodes16(_ e: __m512) -> (high: __m512i, low: __m512i) {
    let magic = _mm512_set1_ps(12_582_912), magicBits = _mm512_set1_epi32(0x4B40_0000)
    let scaled = _mm512_mul_ps(e, _mm512_set1_ps(127))
    let highSum = _mm512_add_ps(scaled, magic)
    let lowSum = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(scaled, _mm512_sub_ps(highSum, magic)), _mm512_set1_ps(127)), magic)
    return (_mm512_sub_epi32(_mm512_castps_si512(highSum), magicBits), _mm512_sub_epi32(_mm512_castps_si512(lowSum), magicBits))
}

@inline(__always)
private func largestLane(_ lanes: __m512) -> Float {
    var largest = lanes[0]
    for lane in 1..<16 where lanes[lane] > largest { largest = lanes[lane] }
    return largest
}

@inline(__always)
private func laneSum(_ vector: __m512i) -> Int32 {
    let lanes = unsafeBitCast(vector, to: SIMD16<Int32>.self)
    var sum: Int32 = 0
    for lane in 0..<16 { sum &+= lanes[lane] }
    return sum
}
#endif
