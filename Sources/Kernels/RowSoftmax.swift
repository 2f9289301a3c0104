// Shared, as this one file, with KernelsAVX2 (Sources/KernelsAVX2/RowSoftmax.swift is a symbolic link to
// it), as ColumnSoftmax.swift is: the baseline x86-64 build runs it on SSE2 halves, KernelsAVX2 on YMM
// registers, with the same operations in the same order and so the same bits. Keep it self-contained: it
// may use no Kernels declaration but `exponential` (Exponential.swift, shared the same way) and
// `narrowedToBytes`, which each module defines for itself (KernelsAVX2 with two pack instructions, where the
// generic SIMD conversion is a call per block).

/// The unnormalized softmax of each of `rows` rows of `columns` scores (row stride `columns`) as two-level
/// int8 codes, the left operand of `dynamicInt8Attention`'s P V on the int8 tiles:
///
///     x = multiplier[r] * score,  E = exp(x - max_row x)            in (0, 1], eight lanes at a time
///     hi = round(127 E),  lo = round(127 (127 E - hi))             hi in [0, 127], lo in [-64, 64]
///     E ~ (127 hi + lo) / 127^2                                     within 0.5 / 127^2 = 3.1e-5
///
/// Row r's hi codes go to `codes + r * codeStride`, its lo codes `rows` rows further on, and
/// `totals[r]` = sum_j (127 hi + lo), the row's sum in the same units (exact: at most 16193 a key).
/// Row r's multiplier is `multipliers[r * multiplierStride]`. Why two levels: one 7-bit code drops every
/// key below 1/254 of the row's largest weight, and a peaked row of hundreds of keys keeps much of its
/// mass there; the second level keeps keys down to 1/32258 at twice the int8 multiplies.
@inline(__always)
func exponentiateRowsAsCodes(_ scores: UnsafePointer<Float>, rows: Int, columns: Int, multipliers: UnsafePointer<Float>,
                             multiplierStride: Int, codes: UnsafeMutablePointer<Int8>, codeStride: Int,
                             totals: UnsafeMutablePointer<Int32>) {
    if columns <= 0 {
        for row in 0..<rows { totals[row] = 0 }
        return
    }
    let whole = columns & ~7, partial = columns - whole
    for row in 0..<rows {
        let values = scores + row * columns
        let high = codes + row * codeStride, low = codes + (rows + row) * codeStride
        let scale = SIMD8<Float>(repeating: multipliers[row * multiplierStride])
        // A partial block repeats values[0] in its missing lanes, which cannot change the maximum.
        var tail = SIMD8<Float>(repeating: values[0])
        for lane in 0..<partial { tail[lane] = values[whole + lane] }
        let scaledTail = tail * scale
        var maximum = scaledTail
        var index = 0
        while index < whole {
            let block = loadRowLanes(values + index) * scale
            maximum = maximum.replacing(with: block, where: block .> maximum)
            index += 8
        }
        let quarters = maximum.lowHalf.replacing(with: maximum.highHalf, where: maximum.highHalf .> maximum.lowHalf)
        let halves = quarters.lowHalf.replacing(with: quarters.highHalf, where: quarters.highHalf .> quarters.lowHalf)
        let shift = SIMD8<Float>(repeating: halves[1] > halves[0] ? halves[1] : halves[0])
        var total = SIMD8<Int32>()
        index = 0
        while index < whole {
            let (hi, lo) = probabilityCodes(exponential(loadRowLanes(values + index) * scale - shift))
            UnsafeMutableRawPointer(high + index).storeBytes(of: narrowedToBytes(hi), as: SIMD8<Int8>.self)
            UnsafeMutableRawPointer(low + index).storeBytes(of: narrowedToBytes(lo), as: SIMD8<Int8>.self)
            total &+= (hi &<< 7) &- hi &+ lo
            index += 8
        }
        if partial > 0 {
            var (hi, lo) = probabilityCodes(exponential(scaledTail - shift))
            for lane in 0..<partial {
                high[whole + lane] = Int8(truncatingIfNeeded: hi[lane])
                low[whole + lane] = Int8(truncatingIfNeeded: lo[lane])
            }
            for lane in partial..<8 {
                hi[lane] = 0
                lo[lane] = 0
            }
            total &+= (hi &<< 7) &- hi &+ lo
        }
        totals[row] = total.wrappedSum()
    }
}

/// hi = round(127 e) and lo = round(127 (127 e - hi)) of e in [0, 1], rounded half to even by adding and
/// removing 1.5 * 2^23 (the sum's low mantissa bits then hold the integer). hi <= 127: `exponential` of a
/// non-positive x is at most 1 plus its 2 ulp, far below the 127.5 / 127 that would round to 128.
@inline(__always)
func probabilityCodes(_ e: SIMD8<Float>) -> (high: SIMD8<Int32>, low: SIMD8<Int32>) {
    let magic = SIMD8<Float>(repeating: 12_582_912), magicBits = SIMD8<Int32>(repeating: 0x4B40_0000)
    let scaled = e * 127
    let highSum = scaled + magic
    let lowSum = (scaled - (highSum - magic)) * 127 + magic
    return (unsafeBitCast(highSum, to: SIMD8<Int32>.self) &- magicBits, unsafeBitCast(lowSum, to: SIMD8<Int32>.self) &- magicBits)
}

@inline(__always)
private func loadRowLanes(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
}
