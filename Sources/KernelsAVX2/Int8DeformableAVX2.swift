#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The inner sum of Kernels' `int8DeformableAttention` for AVX2: for each channel d < headDim,
/// acc[d] = sum_j w[2j] * rows[2j][d] + w[2j+1] * rows[2j+1][d], exact int32.
///
/// Two taps at a time: their 8 channel bytes are interleaved (punpcklbw), sign-extended to int16
/// and multiplied by the broadcast Q14 weight pair with vpmaddwd, which adds each channel's two
/// products in int32 (|w| <= 2^14, |v| <= 128: no saturation anywhere). Channels in blocks of 32
/// (four accumulators) while they last, then blocks of 8, then one at a time.
@inline(never)
public func int8DeformablePairsAVX2(rows: UnsafePointer<UnsafePointer<Int8>>, weights: UnsafePointer<Int16>, pairCount: Int,
                                    headDim: Int, accumulators: UnsafeMutablePointer<Int32>) {
    let weightPairs = UnsafeRawPointer(weights)
    @inline(__always) func pair(_ first: UnsafePointer<Int8>, _ second: UnsafePointer<Int8>, _ offset: Int) -> __m256i {
        let a = _mm_cvtsi64_si128(UnsafeRawPointer(first + offset).loadUnaligned(as: Int64.self))
        let b = _mm_cvtsi64_si128(UnsafeRawPointer(second + offset).loadUnaligned(as: Int64.self))
        return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b))
    }
    var dimension = 0
    while dimension + 32 <= headDim {
        var s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0
        for j in 0..<pairCount {
            let first = rows[2 &* j], second = rows[2 &* j &+ 1]
            let w = _mm256_set1_epi32(weightPairs.loadUnaligned(fromByteOffset: 4 &* j, as: Int32.self))
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(pair(first, second, dimension), w))
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(pair(first, second, dimension &+ 8), w))
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(pair(first, second, dimension &+ 16), w))
            s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(pair(first, second, dimension &+ 24), w))
        }
        let out = UnsafeMutableRawPointer(accumulators + dimension)
        out.storeBytes(of: s0, as: __m256i.self)
        out.storeBytes(of: s1, toByteOffset: 32, as: __m256i.self)
        out.storeBytes(of: s2, toByteOffset: 64, as: __m256i.self)
        out.storeBytes(of: s3, toByteOffset: 96, as: __m256i.self)
        dimension &+= 32
    }
    while dimension + 8 <= headDim {
        var s0 = _mm256_setzero_si256()
        for j in 0..<pairCount {
            let w = _mm256_set1_epi32(weightPairs.loadUnaligned(fromByteOffset: 4 &* j, as: Int32.self))
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(pair(rows[2 &* j], rows[2 &* j &+ 1], dimension), w))
        }
        UnsafeMutableRawPointer(accumulators + dimension).storeBytes(of: s0, as: __m256i.self)
        dimension &+= 8
    }
    while dimension < headDim {
        var sum: Int32 = 0
        for tap in 0..<(2 &* pairCount) { sum &+= Int32(weights[tap]) &* Int32(rows[tap][dimension]) }
        accumulators[dimension] = sum
        dimension &+= 1
    }
}
#endif
