#if arch(x86_64)
import _Builtin_intrinsics.intel

/// `quantizeTensor` (Kernels/QuantizeTensor.swift) on ZMM, sixteen values per step, the tail masked:
/// x / scale (a true division, as `Int8Quantization.quantize`), NaN to +0, clamp to
/// [-128 - zp, 127 - zp], round half to even by adding 1.5 * 2^23, add the zero point, VPMOVDB to
/// bytes. Equal to the reference bit for bit: the clamp is VMAXPS/VMINPS where the SIMD8 path compares
/// and selects; they differ only in the sign of a zero, which the rounding addition removes, and the
/// NaN lanes are cleared before it (found from the bits: |x| above +infinity's pattern; clang's
/// compare intrinsics are macros Swift cannot call). Runs at the avx512vnni level.
@inline(never)
public func quantizeTensorAVX512(_ input: UnsafePointer<Float>, count: Int, scale: Float, zeroPoint: Int32,
                                 output: UnsafeMutablePointer<Int8>) {
    let divisor = _mm512_set1_ps(scale)
    let lower = _mm512_set1_ps(Float(-128 - zeroPoint)), upper = _mm512_set1_ps(Float(127 - zeroPoint))
    let magnitude = _mm512_set1_epi32(0x7FFF_FFFF), infinity = _mm512_set1_epi32(0x7F80_0000)
    let magic = _mm512_set1_ps(12_582_912), magicBits = _mm512_set1_epi32(0x4B40_0000)
    let zero = _mm512_set1_epi32(zeroPoint)
    var index = 0
    while index < count {
        let lanes = min(16, count &- index)
        let mask: UInt16 = lanes == 16 ? 0xFFFF : UInt16((1 << lanes) - 1)
        let bits = _mm512_castps_si512(_mm512_div_ps(_mm512_maskz_loadu_ps(mask, input + index), divisor))
        // All ones where |x| > +infinity's bits (a NaN): infinity - |x| is negative there.
        let isNaN = _mm512_srai_epi32(_mm512_sub_epi32(infinity, _mm512_and_si512(bits, magnitude)), 31)
        let scaled = _mm512_castsi512_ps(_mm512_andnot_si512(isNaN, bits))
        let clamped = _mm512_min_ps(_mm512_max_ps(scaled, lower), upper)
        let integer = _mm512_sub_epi32(_mm512_castps_si512(_mm512_add_ps(clamped, magic)), magicBits)
        _mm_mask_storeu_epi8(output + index, mask, _mm512_cvtepi32_epi8(_mm512_add_epi32(integer, zero)))
        index &+= 16
    }
}
#endif

#if arch(x86_64)
/// x + 128 for `count` int8 as unsigned bytes (x XOR 0x80), 64 bytes a step, the tail masked: how the
/// VNNI tiles' rows are staged (Kernels' `shiftToUnsigned` at the avx512vnni level; the same bytes).
@inline(never)
public func shiftToUnsignedAVX512(_ source: UnsafePointer<Int8>, count: Int, into destination: UnsafeMutablePointer<UInt8>) {
    let flip = _mm512_set1_epi8(-128)
    var index = 0
    while index &+ 64 <= count {
        let bytes = _mm512_loadu_si512(source + index)
        _mm512_storeu_si512(destination + index, _mm512_xor_si512(bytes, flip))
        index &+= 64
    }
    if index < count {
        let mask: UInt64 = (1 << UInt64(count &- index)) &- 1
        let bytes = _mm512_maskz_loadu_epi8(mask, source + index)
        _mm512_mask_storeu_epi8(destination + index, mask, _mm512_xor_si512(bytes, flip))
    }
}
#endif

#if arch(x86_64)
/// `runs` runs of `runLength` int8 plus 128 as unsigned bytes (x XOR 0x80): run r read at
/// `source + r * sourceStride`, written at `destination + r * runLength`. One call stages a whole patch of an
/// interior pixel (a kernel row a run), where a call per run cost more than the bytes on short runs (the
/// 7x7 stem's 21-byte rows).
@inline(never)
public func shiftRunsToUnsignedAVX512(_ source: UnsafePointer<Int8>, sourceStride: Int, runs: Int, runLength: Int,
                                      into destination: UnsafeMutablePointer<UInt8>) {
    let flip = _mm512_set1_epi8(-128)
    let tail = runLength & 63
    let tailMask: UInt64 = tail == 0 ? 0 : (1 << UInt64(tail)) &- 1
    for run in 0..<runs {
        let from = source + run &* sourceStride, to = destination + run &* runLength
        var index = 0
        while index &+ 64 <= runLength {
            _mm512_storeu_si512(to + index, _mm512_xor_si512(_mm512_loadu_si512(from + index), flip))
            index &+= 64
        }
        if tail > 0 {
            _mm512_mask_storeu_epi8(to + index, tailMask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tailMask, from + index), flip))
        }
    }
}
#endif
