#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The interior of Kernels' `int8DepthwiseConv2d` on AVX2: `pixels` output pixels of one output row whose
/// k x k taps all lie on the map, channels in blocks of 8 (`channels / 8` of them; the caller does the
/// rest), written as int8.
///
/// acc[c] = bias[c] - zp * sum_t w[t][c] + sum_t x[t][c] * w[t][c], the same exact int32 as the reference's
/// sum_t (x - zp) * w plus the bias: two taps at a time, their 8 channel bytes interleaved (punpcklbw),
/// sign-extended to int16 and multiplied by the interleaved weight pair with vpmaddwd, which adds each
/// channel's two products in int32 (|x w| <= 128 * 127: no saturation). Four pixels share each weight pair.
/// Then the one requantization rule with the epilogue's operations (cvtdq2ps, mulps, max/min, the
/// 1.5 * 2^23 rounding), so the bytes equal the reference's.
///
/// `firstTap` is the first pixel's top-left tap (channel 0); consecutive output pixels are `pixelStride`
/// bytes apart, tap rows `rowStride` bytes apart, tap columns `channels` bytes apart.
@inline(never)
public func int8DepthwiseInteriorAVX2(firstTap: UnsafePointer<Int8>, pixels: Int, pixelStride: Int, rowStride: Int,
                                      channels: Int, kernel: Int, weight: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                                      inputZeroPoint: Int32, scales: UnsafePointer<Float>, lower: Float, upper: Float,
                                      outputZeroPoint: Int32, output: UnsafeMutablePointer<Int8>) {
    let taps = kernel &* kernel
    let lowerBound = _mm256_set1_ps(lower), upperBound = _mm256_set1_ps(upper)
    let magic = _mm256_set1_ps(12_582_912), magicBits = _mm256_set1_epi32(0x4B40_0000)
    let zeroPoint = _mm256_set1_epi32(outputZeroPoint), inputZero = _mm256_set1_epi32(inputZeroPoint)
    @inline(__always) func bytes(_ pointer: UnsafePointer<Int8>) -> __m128i {
        _mm_cvtsi64_si128(UnsafeRawPointer(pointer).loadUnaligned(as: Int64.self))
    }
    @inline(__always) func store(_ accumulator: __m256i, _ scale: __m256, _ destination: UnsafeMutablePointer<Int8>) {
        let value = _mm256_mul_ps(_mm256_cvtepi32_ps(accumulator), scale)
        let clamped = _mm256_min_ps(_mm256_max_ps(value, lowerBound), upperBound)
        let integer = _mm256_sub_epi32(_mm256_castps_si256(_mm256_add_ps(clamped, magic)), magicBits)
        let codes = unsafeBitCast(_mm256_add_epi32(integer, zeroPoint), to: SIMD8<Int32>.self)
        UnsafeMutableRawPointer(destination).storeBytes(of: SIMD8<Int8>(truncatingIfNeeded: codes), as: SIMD8<Int8>.self)
    }
    var channel = 0
    while channel &+ 8 <= channels {
        // bias - zp * sum of the weights: the zero point taken out of the taps once per channel block.
        var weightSum = _mm256_setzero_si256()
        for tap in 0..<taps { weightSum = _mm256_add_epi32(weightSum, _mm256_cvtepi8_epi32(bytes(weight + (tap &* channels &+ channel)))) }
        let initial = _mm256_sub_epi32(UnsafeRawPointer(bias + channel).loadUnaligned(as: __m256i.self),
                                       _mm256_mullo_epi32(weightSum, inputZero))
        let scale = UnsafeRawPointer(scales + channel).loadUnaligned(as: __m256.self)
        var pixel = 0
        while pixel < pixels {
            let group = min(4, pixels &- pixel)
            let base = firstTap + (pixel &* pixelStride &+ channel)
            var s0 = initial, s1 = initial, s2 = initial, s3 = initial
            // The taps' offsets advance row by row without a division: (tapRow, tapColumn) follows `tap`.
            var tap = 0, tapRow = 0, tapColumn = 0
            @inline(__always) func nextOffset() -> Int {
                let offset = tapRow &* rowStride &+ tapColumn &* channels
                tapColumn &+= 1
                if tapColumn == kernel { tapColumn = 0; tapRow &+= 1 }
                return offset
            }
            while tap < taps {
                let second = tap &+ 1 < taps
                let firstOffset = nextOffset(), secondOffset = second ? nextOffset() : firstOffset
                let zero = _mm_setzero_si128()
                let w = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(bytes(weight + (tap &* channels &+ channel)),
                                                               second ? bytes(weight + ((tap &+ 1) &* channels &+ channel)) : zero))
                @inline(__always) func product(_ index: Int) -> __m256i {
                    let p = base + index &* pixelStride
                    let x = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(bytes(p + firstOffset), second ? bytes(p + secondOffset) : zero))
                    return _mm256_madd_epi16(x, w)
                }
                s0 = _mm256_add_epi32(s0, product(0))
                if group > 1 { s1 = _mm256_add_epi32(s1, product(1)) }
                if group > 2 { s2 = _mm256_add_epi32(s2, product(2)) }
                if group > 3 { s3 = _mm256_add_epi32(s3, product(3)) }
                tap &+= 2
            }
            let destination = output + (pixel &* channels &+ channel)
            store(s0, scale, destination)
            if group > 1 { store(s1, scale, destination + channels) }
            if group > 2 { store(s2, scale, destination + 2 &* channels) }
            if group > 3 { store(s3, scale, destination + 3 &* channels) }
            pixel &+= group
        }
        channel &+= 8
    }
}
#endif
