#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The one signature of the x86-64 int8 GEMM microkernels (`int8GEMM6x16c2AVX2`,
/// `int8GEMM6x16c4AVXVNNI`, `int8GEMM8x16c4AVX512VNNI`), XNNPACK's contract: MR rows of the staged A
/// tile (`a`, rows `aStride` bytes apart) times one panel, `depthGroups` steps of the layout's depth
/// group; the int32 accumulators start from `bias` (16 entries) and end, still in registers, in the
/// epilogue of their register width (`Int8TileEpilogueAVX2` for YMM, KernelsAVX512VNNI's
/// `Int8TileEpilogueAVX512` for ZMM), which writes `rows` x `columns` (at most MR x 16) of `destination`.
public typealias Int8GEMMTileX86 = (_ a: UnsafeRawPointer, _ aStride: Int, _ depthGroups: Int, _ panel: UnsafeRawPointer,
                                    _ bias: UnsafePointer<Int32>, _ rows: Int, _ columns: Int,
                                    _ destination: UnsafePointer<Int8TileDestination>) -> Void

/// Where an x86-64 int8 tile writes and how it requantizes, passed to the tile by pointer: read only
/// after the multiply loop, so none of it holds a vector register during the loop (a Float argument
/// kept in YMM1 across the AVX-VNNI tile's loop made LLVM spill an accumulator, a third of its speed).
@frozen public struct Int8TileDestination {
    /// Element (0, 0) of the tile: Int8 or Float elements.
    public var output: UnsafeMutableRawPointer
    public var outputStride: Int
    public var floatOutput: Bool
    /// Element (0, 0) of the tile in the residual, or nil.
    public var residual: UnsafePointer<Int8>?
    public var residualStride: Int
    public var residualZeroPoint: Int32
    public var residualScale: Float
    public var lower: Float, upper: Float
    public var outputZeroPoint: Int32

    @inlinable
    public init(output: UnsafeMutableRawPointer, outputStride: Int, floatOutput: Bool, residual: UnsafePointer<Int8>?,
                residualStride: Int, residualZeroPoint: Int32, residualScale: Float, lower: Float, upper: Float,
                outputZeroPoint: Int32) {
        self.output = output
        self.outputStride = outputStride
        self.floatOutput = floatOutput
        self.residual = residual
        self.residualStride = residualStride
        self.residualZeroPoint = residualZeroPoint
        self.residualScale = residualScale
        self.lower = lower
        self.upper = upper
        self.outputZeroPoint = outputZeroPoint
    }
}

/// The requantization of 16 int32 accumulators of one tile row, in AVX2 registers: the epilogue of
/// the YMM int8 tiles (this module's AVX2 tile and KernelsAVXVNNI's). Inlinable so that each tile
/// keeps its accumulators in registers through it.
@frozen public struct Int8TileEpilogueAVX2 {
    @usableFromInline let scale0: __m256, scale1: __m256
    @usableFromInline let columns: Int
    @usableFromInline let output: UnsafeMutableRawPointer
    @usableFromInline let outputStride: Int
    @usableFromInline let floatOutput: Bool
    @usableFromInline let residual: UnsafePointer<Int8>?
    @usableFromInline let residualStride: Int
    @usableFromInline let residualZeroPoint: __m256i
    @usableFromInline let residualScale: __m256
    @usableFromInline let lower: __m256, upper: __m256
    @usableFromInline let outputZeroPoint: __m256i

    @inlinable
    public init(scales: UnsafeRawPointer, columns: Int, output: UnsafeMutableRawPointer, outputStride: Int, floatOutput: Bool,
                residual: UnsafePointer<Int8>?, residualStride: Int, residualZeroPoint: Int32, residualScale: Float,
                lower: Float, upper: Float, outputZeroPoint: Int32) {
        scale0 = scales.loadUnaligned(as: __m256.self)
        scale1 = scales.loadUnaligned(fromByteOffset: 32, as: __m256.self)
        self.columns = columns
        self.output = output
        self.outputStride = outputStride
        self.floatOutput = floatOutput
        self.residual = residual
        self.residualStride = residualStride
        self.residualZeroPoint = _mm256_set1_epi32(residualZeroPoint)
        self.residualScale = _mm256_set1_ps(residualScale)
        self.lower = _mm256_set1_ps(lower)
        self.upper = _mm256_set1_ps(upper)
        self.outputZeroPoint = _mm256_set1_epi32(outputZeroPoint)
    }

    @inlinable
    public init(scales: UnsafeRawPointer, columns: Int, destination: Int8TileDestination) {
        self.init(scales: scales, columns: columns, output: destination.output, outputStride: destination.outputStride,
                  floatOutput: destination.floatOutput, residual: destination.residual,
                  residualStride: destination.residualStride, residualZeroPoint: destination.residualZeroPoint,
                  residualScale: destination.residualScale, lower: destination.lower, upper: destination.upper,
                  outputZeroPoint: destination.outputZeroPoint)
    }

    /// Float(acc) * scale, plus Float(r - zr) * residualScale: two roundings, then one addition.
    @inlinable
    func real(_ accumulator: __m256i, scale: __m256, residualBytes: UnsafeRawPointer?) -> __m256 {
        let value = _mm256_mul_ps(_mm256_cvtepi32_ps(accumulator), scale)
        guard let residualBytes else { return value }
        let bytes = _mm_cvtsi64_si128(residualBytes.loadUnaligned(as: Int64.self))
        let centred = _mm256_sub_epi32(_mm256_cvtepi8_epi32(bytes), residualZeroPoint)
        return _mm256_add_ps(value, _mm256_mul_ps(_mm256_cvtepi32_ps(centred), residualScale))
    }

    /// clamp, round half to even by adding 1.5 * 2^23, add the zero point.
    @inlinable
    func quantize(_ value: __m256) -> __m256i {
        let clamped = _mm256_min_ps(_mm256_max_ps(value, lower), upper)
        let shifted = _mm256_add_ps(clamped, _mm256_set1_ps(12_582_912))
        let integer = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B40_0000))
        return _mm256_add_epi32(integer, outputZeroPoint)
    }

    @inlinable
    public func store(_ accumulator0: __m256i, _ accumulator1: __m256i, row: Int) {
        var residualRow: UnsafeRawPointer?
        if let residual { residualRow = UnsafeRawPointer(residual + row &* residualStride) }
        let full = columns == 16
        // A partial tile's residual is read through a zero-filled copy so no byte past the row is touched.
        var residualCopy = SIMD16<Int8>()
        if let row = residualRow, !full {
            for column in 0..<columns { residualCopy[column] = row.load(fromByteOffset: column, as: Int8.self) }
        }
        withUnsafeBytes(of: &residualCopy) { copy in
            let source: UnsafeRawPointer? = residualRow == nil ? nil : (full ? residualRow : copy.baseAddress)
            let value0 = real(accumulator0, scale: scale0, residualBytes: source)
            let value1 = real(accumulator1, scale: scale1, residualBytes: source.map { $0 + 8 })
            if floatOutput {
                let destination = output + (row &* outputStride) &* 4
                if full {
                    destination.storeBytes(of: value0, as: __m256.self)
                    destination.storeBytes(of: value1, toByteOffset: 32, as: __m256.self)
                } else {
                    let values = unsafeBitCast((value0, value1), to: SIMD16<Float>.self)
                    for column in 0..<columns { destination.storeBytes(of: values[column], toByteOffset: 4 &* column, as: Float.self) }
                }
            } else {
                // In [-128, 127] already (clamped before the zero point was added): truncation is exact.
                let low = SIMD8<Int8>(truncatingIfNeeded: unsafeBitCast(quantize(value0), to: SIMD8<Int32>.self))
                let high = SIMD8<Int8>(truncatingIfNeeded: unsafeBitCast(quantize(value1), to: SIMD8<Int32>.self))
                let destination = output + row &* outputStride
                if full {
                    destination.storeBytes(of: low, as: SIMD8<Int8>.self)
                    destination.storeBytes(of: high, toByteOffset: 8, as: SIMD8<Int8>.self)
                } else {
                    let values = SIMD16<Int8>(lowHalf: low, highHalf: high)
                    for column in 0..<columns { destination.storeBytes(of: values[column], toByteOffset: column, as: Int8.self) }
                }
            }
        }
    }
}
#endif
