// MARK: - The blocked summation order

/// Sums that SIMD and scalar code compute bit for bit alike. The values come in segments (a row of
/// LayerNorm; one pixel's channels of a GroupNorm group); value `index` of a segment goes to lane
/// `index % 8`, each lane adds its values in the order they come (segment by segment, then by
/// index), starting from +0, and the eight lanes are combined by `blockedTotal`. A SIMD8 loop
/// does this with one vector accumulator; the references (`blockedSumReference`) with eight
/// scalar ones. Float addition is not associative, so this fixed order is what lets the int8
/// normalizations' fast paths equal their references exactly; the float ones use it too.
@inline(__always)
func blockedTotal(_ lanes: SIMD8<Float>) -> Float {
    // The halving tree of an 8-wide vector: lanes (0+4, 1+5, 2+6, 3+7), then (0+2, 1+3), then 0+1.
    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
}

/// The blocked sum with SIMD8: `block(segment, first)` returns values first..<first+8 of a segment
/// of `length`; lanes past the segment's end are ignored.
@inline(__always)
func blockedSum(segments: Int, length: Int, _ block: (_ segment: Int, _ first: Int) -> SIMD8<Float>) -> Float {
    var lanes = SIMD8<Float>()
    for segment in 0..<segments {
        accumulateBlocked(&lanes, length: length) { first in block(segment, first) }
    }
    return blockedTotal(lanes)
}

/// Adds one segment of `length` values to `lanes` in the blocked order, eight at a time; the lanes
/// of a partial last block past the end are replaced by +0, which leaves a lane unchanged (a lane
/// that starts at +0 is never -0).
@inline(__always)
func accumulateBlocked(_ lanes: inout SIMD8<Float>, length: Int, _ block: (_ first: Int) -> SIMD8<Float>) {
    var first = 0
    while first + 8 <= length {
        lanes += block(first)
        first += 8
    }
    if first < length {
        lanes += block(first).replacing(with: 0, where: laneIndices .>= SIMD8(repeating: Int32(length - first)))
    }
}

/// The blocked sum one value at a time, as the references write it: `value(segment, index)`.
@inline(__always)
func blockedSumReference(segments: Int, length: Int, _ value: (_ segment: Int, _ index: Int) -> Float) -> Float {
    var lanes = SIMD8<Float>()  // eight scalar accumulators
    for segment in 0..<segments {
        for index in 0..<length {
            lanes[index % 8] += value(segment, index)
        }
    }
    return blockedTotal(lanes)
}

/// The largest lane, by compare and select on halves (the stdlib's `max()` goes lane by lane).
@inline(__always)
func horizontalMaximum(_ values: SIMD8<Float>) -> Float {
    let quarters = values.lowHalf.replacing(with: values.highHalf, where: values.highHalf .> values.lowHalf)
    let halves = quarters.lowHalf.replacing(with: quarters.highHalf, where: quarters.highHalf .> quarters.lowHalf)
    return halves[1] > halves[0] ? halves[1] : halves[0]
}

/// 0, 1, ..., 7: compared with a count to mask the lanes of a partial block.
@inline(__always)
var laneIndices: SIMD8<Int32> { SIMD8(0, 1, 2, 3, 4, 5, 6, 7) }

// MARK: - Partial blocks

/// Eight floats from `pointer`, or the first `count` (< 8) and zeros.
@inline(__always)
func loadFloats(_ pointer: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
    if count >= 8 { return UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self) }
    var values = SIMD8<Float>()
    for lane in 0..<count { values[lane] = pointer[lane] }
    return values
}

/// Stores eight floats, or the first `count` (< 8).
@inline(__always)
func storeFloats(_ values: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 8 {
        UnsafeMutableRawPointer(pointer).storeBytes(of: values, as: SIMD8<Float>.self)
        return
    }
    for lane in 0..<count { pointer[lane] = values[lane] }
}

/// Eight int8 values from `pointer` widened to Int32, or the first `count` (< 8) and zeros.
@inline(__always)
func loadInt8s(_ pointer: UnsafePointer<Int8>, count: Int) -> SIMD8<Int32> {
    if count >= 8 { return SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Int8>.self)) }
    var values = SIMD8<Int32>()
    for lane in 0..<count { values[lane] = Int32(pointer[lane]) }
    return values
}

/// Eight values already in [-128, 127] as bytes (RowSoftmax.swift's narrowing; KernelsAVX2 has its own).
@inline(__always)
func narrowedToBytes(_ values: SIMD8<Int32>) -> SIMD8<Int8> {
    SIMD8<Int8>(truncatingIfNeeded: values)
}

/// Stores eight int8 values (already in [-128, 127]), or the first `count` (< 8).
@inline(__always)
func storeInt8s(_ values: SIMD8<Int32>, _ pointer: UnsafeMutablePointer<Int8>, count: Int) {
    if count >= 8 {
        UnsafeMutableRawPointer(pointer).storeBytes(of: SIMD8<Int8>(truncatingIfNeeded: values), as: SIMD8<Int8>.self)
        return
    }
    for lane in 0..<count { pointer[lane] = Int8(truncatingIfNeeded: values[lane]) }
}
