// Shared, as this one file, with KernelsAVX2 (Sources/KernelsAVX2/ColumnSoftmax.swift is a symbolic link
// to it): attention's softmax takes as long as its two matrix products together, and the baseline
// x86-64 build runs it on SSE2, so KernelsAVX2 compiles the same code for AVX2 and gives the same bits.
// Keep it self-contained: it may use no Kernels declaration but `exponential` (Exponential.swift, shared
// the same way).

/// Softmax of scale·S down each of the 16 columns of S^T [keys, 16], in place, max-subtracted.
@inline(__always)
func softmaxColumns(_ scores: UnsafeMutablePointer<Float>, keys: Int, scale: Float) {
    var maximum0 = SIMD8<Float>(repeating: -.infinity), maximum1 = maximum0
    for key in 0..<keys {
        let row = scores + key * 16
        maximum0 = laneMaximum(maximum0, scale * loadLanes(row))
        maximum1 = laneMaximum(maximum1, scale * loadLanes(row + 8))
    }
    var sum0 = SIMD8<Float>(), sum1 = SIMD8<Float>()
    for key in 0..<keys {
        let row = scores + key * 16
        let exponential0 = exponential(scale * loadLanes(row) - maximum0)
        let exponential1 = exponential(scale * loadLanes(row + 8) - maximum1)
        storeLanes(exponential0, row)
        storeLanes(exponential1, row + 8)
        sum0 += exponential0
        sum1 += exponential1
    }
    let inverse0 = 1 / sum0, inverse1 = 1 / sum1
    for key in 0..<keys {
        let row = scores + key * 16
        storeLanes(loadLanes(row) * inverse0, row)
        storeLanes(loadLanes(row + 8) * inverse1, row + 8)
    }
}

/// Lane-wise maximum as one compare and select. The standard library's `pointwiseMax` orders NaNs lane
/// by lane and compiles to eight scalar compares and branches; scores here are finite.
@inline(__always)
private func laneMaximum(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    a.replacing(with: b, where: b .> a)
}

@inline(__always)
private func loadLanes(_ pointer: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func storeLanes(_ vector: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: SIMD8<Float>.self)
}
