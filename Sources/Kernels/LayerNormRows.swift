// Shared, as this one file, with KernelsAVX2 (Sources/KernelsAVX2/LayerNormRows.swift is a symbolic link
// to it), as ColumnSoftmax.swift is: the baseline x86-64 build runs it on SSE2 halves, KernelsAVX2 on YMM
// registers, with the same operations in the same order and so the same bits. Keep it self-contained: it
// may use no Kernels declaration (its sums follow VectorMath.swift's blocked order, written out here).

/// Rows `rows` of `layerNorm`'s SIMD8 path: per row the mean, then the biased variance of x - mean, each
/// a blocked sum (eight lanes over the blocks in order, a partial block's missing lanes adding +0, then
/// the lanes (0+4, 2+6), (1+5, 3+7) tree), then (x - mean) * (1 / sqrt(variance + epsilon)) * gamma + beta.
/// With `residual` the row is input + residual.
@inline(__always)
func layerNormRows(input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Range<Int>, columns: Int,
                   gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, output: UnsafeMutablePointer<Float>) {
    let whole = columns & ~7, partial = columns - whole
    var tailMask = SIMD8<Float>(repeating: 0)
    for lane in 0..<partial { tailMask[lane] = 1 }
    for row in rows {
        let source = input + row * columns
        let added = residual.map { $0 + row * columns }
        @inline(__always) func block(_ first: Int) -> SIMD8<Float> {
            guard let added else { return normLoad(source + first, count: columns - first) }
            return normLoad(source + first, count: columns - first) + normLoad(added + first, count: columns - first)
        }
        var lanes = SIMD8<Float>()
        var first = 0
        while first < whole {
            lanes += block(first)
            first += 8
        }
        if partial > 0 { lanes += block(whole).replacing(with: 0, where: tailMask .== 0) }
        let mean = normTotal(lanes) / Float(columns)
        lanes = SIMD8<Float>()
        first = 0
        while first < whole {
            let centered = block(first) - mean
            lanes += centered * centered
            first += 8
        }
        if partial > 0 {
            let centered = block(whole) - mean
            lanes += (centered * centered).replacing(with: 0, where: tailMask .== 0)
        }
        let inverseDeviation = 1 / (normTotal(lanes) / Float(columns) + epsilon).squareRoot()
        let destination = output + row * columns
        first = 0
        while first < columns {
            let count = columns - first
            let normalized = (block(first) - mean) * inverseDeviation * normLoad(gamma + first, count: count)
                + normLoad(beta + first, count: count)
            if count >= 8 {
                UnsafeMutableRawPointer(destination + first).storeBytes(of: normalized, as: SIMD8<Float>.self)
            } else {
                for lane in 0..<count { destination[first + lane] = normalized[lane] }
            }
            first += 8
        }
    }
}

/// VectorMath.swift's `blockedTotal`: ((0+4) + (2+6)) + ((1+5) + (3+7)).
@inline(__always)
private func normTotal(_ lanes: SIMD8<Float>) -> Float {
    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
}

/// Eight floats, or the first `count` (< 8) and zeros.
@inline(__always)
private func normLoad(_ pointer: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
    if count >= 8 { return UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self) }
    var values = SIMD8<Float>()
    for lane in 0..<count { values[lane] = pointer[lane] }
    return values
}
