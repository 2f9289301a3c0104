#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// The requantization of one tile row of 16 int32 accumulators held in one ZMM register: the operations
/// of `Int8TileEpilogueAVX2` (Requantize.swift's rule: Float(acc) * scale, plus Float(r - zr) * residual
/// scale, then clamp, round half to even by the 1.5 * 2^23 addition, zero point), on 16 lanes at once.
/// Why its own: fed the ZMM tile's two YMM halves, the AVX2 epilogue ran every instruction twice and
/// narrowed and stored partial rows byte by byte (8.7% of DAB-DETR's int8 run, perf); here a partial
/// row is a masked load and store, and VPMOVDB narrows the 16 lanes to bytes in one instruction.
/// The same IEEE operations in the same order, so the bytes equal the AVX2 epilogue's and the reference's.
struct Int8TileEpilogueAVX512 {
    /// Where the rows go (read after the tile's loop, like the AVX2 epilogue's).
    let destination: Int8TileDestination
    let scales: __m512
    /// Lanes 0..<columns.
    let mask: UInt16
    let residualZeroPoint: __m512i, residualScale: __m512
    let lower: __m512, upper: __m512, outputZeroPoint: __m512i

    /// `scales`: the panel's 16 Float scales (a partial panel's header is 16 wide too).
    @inline(__always)
    init(scales: UnsafeRawPointer, columns: Int, destination: Int8TileDestination) {
        self.destination = destination
        self.scales = _mm512_loadu_ps(scales)
        mask = columns >= 16 ? 0xFFFF : UInt16((1 << columns) - 1)
        residualZeroPoint = _mm512_set1_epi32(destination.residualZeroPoint)
        residualScale = _mm512_set1_ps(destination.residualScale)
        (lower, upper) = (_mm512_set1_ps(destination.lower), _mm512_set1_ps(destination.upper))
        outputZeroPoint = _mm512_set1_epi32(destination.outputZeroPoint)
    }

    @inline(__always)
    func store(_ accumulator: __m512i, row: Int) {
        var value = _mm512_mul_ps(_mm512_cvtepi32_ps(accumulator), scales)
        if let residual = destination.residual {
            // Masked: no byte past the row's columns is read (a masked-off lane does not fault).
            let bytes = _mm_maskz_loadu_epi8(mask, residual + row &* destination.residualStride)
            let centred = _mm512_sub_epi32(_mm512_cvtepi8_epi32(bytes), residualZeroPoint)
            value = _mm512_add_ps(value, _mm512_mul_ps(_mm512_cvtepi32_ps(centred), residualScale))
        }
        let output = destination.output, outputStride = destination.outputStride
        if destination.floatOutput {
            _mm512_mask_storeu_ps(output + (row &* outputStride) &* 4, mask, value)
        } else {
            let clamped = _mm512_min_ps(_mm512_max_ps(value, lower), upper)
            let shifted = _mm512_add_ps(clamped, _mm512_set1_ps(12_582_912))
            let integer = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B40_0000))
            // In [-128, 127] (clamped before the zero point was added): VPMOVDB's truncation is exact.
            _mm_mask_storeu_epi8(output + row &* outputStride, mask, _mm512_cvtepi32_epi8(_mm512_add_epi32(integer, outputZeroPoint)))
        }
    }
}
#endif
