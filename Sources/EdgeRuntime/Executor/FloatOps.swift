import CLibc

// The small ops of the IR that are not worth a SIMD kernel: each runs on at most a few hundred
// thousand elements per image. Each follows PyTorch's float32 order of operations so that the float
// engine reproduces transformers to within rounding.

/// a (op) b with b broadcast as the shape rule allows: same shape, a row `[C]`, a column `[R, 1]`, or `[1]`.
func applyBinary(_ op: BinaryOperator, a: UnsafePointer<Float>, aShape: [Int],
                 b: UnsafePointer<Float>, bShape: [Int], output: UnsafeMutablePointer<Float>) {
    let count = aShape.reduce(1, *)
    let columns = aShape.last ?? 1
    let bCount = bShape.reduce(1, *)
    // Index of b for element i of a.
    let columnBroadcast = aShape.count == 2 && bShape == [aShape[0], 1] && aShape[1] != 1
    @inline(__always) func bIndex(_ i: Int) -> Int {
        if bCount == count { return i }
        if bCount == 1 { return 0 }
        if columnBroadcast { return i / columns }
        return i % columns
    }
    switch op {
    case .add: for i in 0..<count { output[i] = a[i] + b[bIndex(i)] }
    case .subtract: for i in 0..<count { output[i] = a[i] - b[bIndex(i)] }
    case .multiply: for i in 0..<count { output[i] = a[i] * b[bIndex(i)] }
    case .divide: for i in 0..<count { output[i] = a[i] / b[bIndex(i)] }
    }
}

/// transformers' `inverse_sigmoid`: clamp to [0, 1], then log(max(x, eps) / max(1 - x, eps)).
func applyInverseSigmoid(_ x: UnsafePointer<Float>, count: Int, epsilon: Float, output: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let clamped = min(max(x[i], 0), 1)
        let x1 = max(clamped, epsilon)
        let x2 = max(1 - clamped, epsilon)
        output[i] = logf(x1 / x2)
    }
}

/// MSDeformAttn's sampling locations, in transformers' order of operations.
/// 2-d reference: ref + offset / (W_l, H_l). 4-d: ref_xy + offset / points * ref_wh * 0.5.
func applyDeformableLocations(reference: UnsafePointer<Float>, referenceColumns: Int, offsets: UnsafePointer<Float>,
                              queries: Int, levels: [LevelShape], heads: Int, points: Int,
                              output: UnsafeMutablePointer<Float>) {
    let perQuery = heads * levels.count * points * 2
    let pointCount = Float(points)
    for query in 0..<queries {
        let ref = reference + query * referenceColumns
        var index = query * perQuery
        for _ in 0..<heads {
            for level in levels {
                let width = Float(level.width)
                let height = Float(level.height)
                for _ in 0..<points {
                    let dx = offsets[index]
                    let dy = offsets[index + 1]
                    if referenceColumns == 2 {
                        output[index] = ref[0] + dx / width
                        output[index + 1] = ref[1] + dy / height
                    } else {
                        output[index] = ref[0] + dx / pointCount * ref[2] * 0.5
                        output[index + 1] = ref[1] + dy / pointCount * ref[3] * 0.5
                    }
                    index += 2
                }
            }
        }
    }
}

/// The frequencies T^(2 floor(i / 2) / features) of a sine embedding, as transformers computes them.
func fillSineFrequencies(_ frequencies: UnsafeMutablePointer<Float>, features: Int, temperature: Float) {
    for i in 0..<features {
        frequencies[i] = powf(temperature, Float(2 * (i / 2)) / Float(features))
    }
}

/// Sine embedding of coordinates, as transformers computes it for DAB anchors, Conditional DETR's
/// reference points and two-stage proposals: for coordinate c (in `order`), value i of its block is
/// sin (i even) or cos (i odd) of (c * scale) / frequencies[i].
func applySineEmbedding(_ x: UnsafePointer<Float>, rows: Int, columns: Int, features: Int,
                        frequencies: UnsafePointer<Float>, scale: Float, order: [Int],
                        output: UnsafeMutablePointer<Float>) {
    let width = features * order.count
    for row in 0..<rows {
        for (block, coordinate) in order.enumerated() {
            let scaled = x[row * columns + coordinate] * scale
            let target = output + row * width + block * features
            var i = 0
            while i < features {
                target[i] = sinf(scaled / frequencies[i])
                if i + 1 < features { target[i + 1] = cosf(scaled / frequencies[i + 1]) }
                i += 2
            }
        }
    }
}

/// Rows of `values` with the `count` largest `scores[:, column]`, in descending score order; ties keep
/// the lower row first; NaN scores rank last. `order` is caller-provided space for `count` row
/// indices: an insertion-sorted top list, so nothing is allocated.
func applyTopRows(scores: UnsafePointer<Float>, rows: Int, scoreColumns: Int, column: Int,
                  values: UnsafePointer<Float>, valueColumns: Int, count: Int,
                  order: UnsafeMutablePointer<Int>, output: UnsafeMutablePointer<Float>) {
    @inline(__always) func key(_ row: Int) -> Float {
        let score = scores[row * scoreColumns + column]
        return score.isNaN ? -Float.infinity : score
    }
    var kept = 0
    for row in 0..<rows {
        let score = key(row)
        // Rows arrive in increasing order, so an equal score never displaces an earlier row.
        if kept == count && !(score > key(order[count - 1])) { continue }
        var position = kept < count ? kept : count - 1
        while position > 0 && score > key(order[position - 1]) {
            order[position] = order[position - 1]
            position -= 1
        }
        order[position] = row
        if kept < count { kept += 1 }
    }
    for rank in 0..<kept {
        (output + rank * valueColumns).update(from: values + order[rank] * valueColumns, count: valueColumns)
    }
}
