// Shared, as this one file, with KernelsAVX2 (Sources/KernelsAVX2/RowSoftmax.swift is a symbolic link to
// it), as ColumnSoftmax.swift is: the baseline x86-64 build runs it on SSE2 halves, KernelsAVX2 on YMM
// registers, with the same operations in the same order and so the same bits. Keep it self-contained: it
// may use no Kernels declaration but `exponential` (Exponential.swift, shared the same way).

/// The unnormalized softmax of each of `rows` rows of `columns` scores (row stride `columns`), in place:
/// x = multiplier[r] * score, then exp(x - max_row x), eight lanes at a time; `inverseSums[r]` gets 1 / the
/// row's sum, for the caller to apply after the product with V (on head-dim values instead of every key).
/// Row r's multiplier is `multipliers[r * multiplierStride]`. The sum runs in eight lanes over the
/// blocks in order, then a fixed tree (lanes i and i+4, then i and i+2, then the last two).
@inline(__always)
func exponentiateRows(_ scores: UnsafeMutablePointer<Float>, rows: Int, columns: Int, multipliers: UnsafePointer<Float>,
                      multiplierStride: Int, inverseSums: UnsafeMutablePointer<Float>) {
    if columns <= 0 { return }
    let whole = columns & ~7, partial = columns - whole
    for row in 0..<rows {
        let values = scores + row * columns
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
        var sum = SIMD8<Float>()
        index = 0
        while index < whole {
            let exponentials = exponential(loadRowLanes(values + index) * scale - shift)
            UnsafeMutableRawPointer(values + index).storeBytes(of: exponentials, as: SIMD8<Float>.self)
            sum += exponentials
            index += 8
        }
        if partial > 0 {
            var exponentials = exponential(scaledTail - shift)
            for lane in 0..<partial { values[whole + lane] = exponentials[lane] }
            for lane in partial..<8 { exponentials[lane] = 0 }
            sum += exponentials
        }
        let pairs = sum.lowHalf + sum.highHalf
        let two = pairs.lowHalf + pairs.highHalf
        inverseSums[row] = 1 / (two[0] + two[1])
    }
}

@inline(__always)
private func loadRowLanes(_ pointer: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
}
