// Shared, as this one file, with KernelsAVX2 (Sources/KernelsAVX2/GroupSoftmax.swift is a symbolic link to
// it), as ColumnSoftmax.swift is: the baseline x86-64 build runs it on SSE2 halves, KernelsAVX2 on YMM
// registers, with the same operations in the same order and so the same bits. Keep it self-contained: it
// may use no Kernels declaration but `exponential` (its sums follow VectorMath.swift's blocked order,
// written out here).

/// Groups `groups` of `softmax`'s SIMD8 path, in place on consecutive groups of `groupSize`: the group's
/// maximum (a partial block's missing lanes repeat values[0]; lanes reduced by halves), the blocked sum of
/// exp(x - maximum) (eight lanes over the blocks in order, missing lanes adding +0, then the
/// ((0+4) + (2+6)) + ((1+5) + (3+7)) tree), then each exponential times 1 / the sum.
@inline(__always)
func softmaxGroups(_ data: UnsafeMutablePointer<Float>, groups: Range<Int>, groupSize: Int) {
    let whole = groupSize & ~7, partial = groupSize - whole
    var tailMask = SIMD8<Float>(repeating: 0)
    for lane in 0..<partial { tailMask[lane] = 1 }
    for group in groups {
        let values = data + group * groupSize
        var maximum = SIMD8<Float>(repeating: values[0])
        var first = 0
        while first < whole {
            let block = groupLoad(values + first, count: 8)
            maximum = maximum.replacing(with: block, where: block .> maximum)
            first += 8
        }
        if partial > 0 {
            let block = groupLoad(values + whole, count: partial).replacing(with: values[0], where: tailMask .== 0)
            maximum = maximum.replacing(with: block, where: block .> maximum)
        }
        let quarters = maximum.lowHalf.replacing(with: maximum.highHalf, where: maximum.highHalf .> maximum.lowHalf)
        let halves = quarters.lowHalf.replacing(with: quarters.highHalf, where: quarters.highHalf .> quarters.lowHalf)
        let groupMaximum = halves[1] > halves[0] ? halves[1] : halves[0]
        var lanes = SIMD8<Float>()
        first = 0
        while first < whole {
            let exponentials = exponential(groupLoad(values + first, count: 8) - groupMaximum)
            groupStore(exponentials, values + first, count: 8)
            lanes += exponentials
            first += 8
        }
        if partial > 0 {
            let exponentials = exponential(groupLoad(values + whole, count: partial) - groupMaximum)
            groupStore(exponentials, values + whole, count: partial)
            lanes += exponentials.replacing(with: 0, where: tailMask .== 0)
        }
        let sum = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
        let inverseSum = 1 / sum
        first = 0
        while first < groupSize {
            let count = min(8, groupSize - first)
            groupStore(groupLoad(values + first, count: count) * inverseSum, values + first, count: count)
            first += 8
        }
    }
}

/// Eight floats, or the first `count` (< 8) and zeros.
@inline(__always)
private func groupLoad(_ pointer: UnsafeMutablePointer<Float>, count: Int) -> SIMD8<Float> {
    if count >= 8 { return UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self) }
    var values = SIMD8<Float>()
    for lane in 0..<count { values[lane] = pointer[lane] }
    return values
}

/// Stores eight floats, or the first `count` (< 8).
@inline(__always)
private func groupStore(_ values: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 8 {
        UnsafeMutableRawPointer(pointer).storeBytes(of: values, as: SIMD8<Float>.self)
        return
    }
    for lane in 0..<count { pointer[lane] = values[lane] }
}
