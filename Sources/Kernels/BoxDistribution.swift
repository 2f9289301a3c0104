// D-FINE's fine-grained distribution refinement (FDR): boxes are edge distances from a reference box,
// each edge a distribution over bins; its quality is estimated from the distributions' top values.

/// transformers' `distance2bbox` then `corners_to_center_format`, per row: reference (cx, cy, w, h),
/// distances (left, top, right, bottom) in units of w / regScale and h / regScale from the reference's
/// half-size edge at 0.5 regScale; the result is the box (cx, cy, w, h), in transformers' order of
/// float32 operations.
public func distanceToBox(reference: UnsafePointer<Float>, distances: UnsafePointer<Float>, rows: Int, regScale: Float,
                          output: UnsafeMutablePointer<Float>) {
    let scale = abs(regScale)
    let half = 0.5 * scale
    for row in 0..<max(rows, 0) {
        let r = reference + 4 * row, d = distances + 4 * row
        let left = r[0] - (half + d[0]) * (r[2] / scale)
        let top = r[1] - (half + d[1]) * (r[3] / scale)
        let right = r[0] + (half + d[2]) * (r[2] / scale)
        let bottom = r[1] + (half + d[3]) * (r[3] / scale)
        let box = output + 4 * row
        box[0] = (left + right) / 2
        box[1] = (top + bottom) / 2
        box[2] = right - left
        box[3] = bottom - top
    }
}

/// For each group of `groupSize` consecutive values of `input` (`groups` of them): its `count` largest
/// values in descending order, then their mean (D-FINE's LQE statistics: `prob.topk(count)` and
/// `cat([topk, topk.mean(-1)])`). Output `groups * (count + 1)` values. NaN ranks above every number, as
/// in PyTorch's topk. `count` must be in 1...groupSize.
public func topValuesWithMean(_ input: UnsafePointer<Float>, groups: Int, groupSize: Int, count: Int,
                              output: UnsafeMutablePointer<Float>) {
    guard count >= 1, count <= groupSize else { return }
    @inline(__always) func ranksAbove(_ a: Float, _ b: Float) -> Bool { a.isNaN ? !b.isNaN : !b.isNaN && a > b }
    for group in 0..<max(groups, 0) {
        let values = input + group * groupSize
        let best = output + group * (count + 1)
        // Insertion into the `count` best so far, kept in descending order (count is 4 in every release).
        var filled = 0
        for index in 0..<groupSize {
            let value = values[index]
            if filled == count && !ranksAbove(value, best[count - 1]) { continue }
            var position = min(filled, count - 1)
            while position > 0 && ranksAbove(value, best[position - 1]) {
                best[position] = best[position - 1]
                position -= 1
            }
            best[position] = value
            filled = min(filled + 1, count)
        }
        var sum: Float = 0
        for rank in 0..<count { sum += best[rank] }
        best[count] = sum / Float(count)
    }
}

/// For each group of `groupSize` consecutive values of `input` (`groups` of them): the sum of value x
/// weight over the group, in order (D-FINE's integral: each edge's bin probabilities dotted with the
/// weighting function W(n)).
public func groupWeightedSum(_ input: UnsafePointer<Float>, groups: Int, groupSize: Int, weights: UnsafePointer<Float>,
                             output: UnsafeMutablePointer<Float>) {
    for group in 0..<max(groups, 0) {
        let values = input + group * max(groupSize, 0)
        var sum: Float = 0
        for index in 0..<max(groupSize, 0) { sum += values[index] * weights[index] }
        output[group] = sum
    }
}
