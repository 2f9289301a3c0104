import Testing
import CLibc
@testable import Kernels
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif
#if arch(x86_64) && canImport(KernelsAVX512VNNI)
import KernelsAVX512VNNI
#endif

/// `dynamicInt8Attention`: every SIMD level, int8 tile and pool size gives the same bits (both products are
/// exact integers, every float step one fixed sequence); those agree with the scalar reference (libm `expf`
/// where the kernel has its vector exponential, so a probability code may differ by one) within 1e-4 on
/// outputs that are convex combinations of values in [-1, 1]; and the result stays close to float
/// attention, which it approximates. Shapes cover one key, keys past a
/// 16-column panel, odd head depths, value dims past the 16-wide float tile, strides wider than the heads.
@Suite struct DynamicInt8AttentionTests {
    typealias Case = AttentionTests.Case

    /// The float attention's shapes, and keys past a 16-column panel with an odd head depth.
    static let cases = AttentionTests.cases + [Case(queries: 40, keys: 300, heads: 2, queryHeadDim: 33, valueHeadDim: 8)]

    struct Inputs {
        var q, k, v: [Float]
        var qStride, kStride, vStride: Int
    }

    static func inputs(_ shape: Case) -> Inputs {
        var generator = SeededGenerator(seed: UInt64(shape.queries * 7919 + shape.keys * 31 + shape.heads))
        // Strides wider than heads*dim, as when q, k and v are column slices of one projection.
        let qStride = shape.heads * shape.queryHeadDim + 3
        let kStride = shape.heads * shape.queryHeadDim + 1
        let vStride = shape.heads * shape.valueHeadDim + 5
        return Inputs(q: randomFloats(shape.queries * qStride, in: -2...2, using: &generator),
                      k: randomFloats(shape.keys * kStride, in: -2...2, using: &generator),
                      v: randomFloats(shape.keys * vStride, using: &generator), qStride: qStride, kStride: kStride, vStride: vStride)
    }

    /// The kernel with scratch of exactly the advertised sizes, the shared part misaligned by 4 bytes and
    /// full of 0xFF (the packing must zero its own padding).
    static func run(_ shape: Case, _ inputs: Inputs, pool: ThreadPool?) -> [Float] {
        let sharedBytes = dynamicInt8AttentionScratchBytes(queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                                           queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim)
        let shared = UnsafeMutableRawPointer.allocate(byteCount: sharedBytes + 4, alignment: 64)
        defer { shared.deallocate() }
        shared.initializeMemory(as: UInt8.self, repeating: 0xFF, count: sharedBytes + 4)
        let taskBytes = dynamicInt8AttentionTaskScratchBytes(keys: shape.keys, queryHeadDim: shape.queryHeadDim,
                                                             valueHeadDim: shape.valueHeadDim)
        let taskScratch = KernelScratch(bytesPerThread: taskBytes, threads: pool?.threadCount ?? 1)
        var output = [Float](repeating: .nan, count: shape.queries * shape.heads * shape.valueHeadDim)
        dynamicInt8Attention(q: inputs.q, qStride: inputs.qStride, k: inputs.k, kStride: inputs.kStride, v: inputs.v,
                             vStride: inputs.vStride, queries: shape.queries, keys: shape.keys, heads: shape.heads,
                             queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim,
                             scale: 1 / Float(max(shape.queryHeadDim, 1)).squareRoot(), output: &output, scratch: shared + 4,
                             taskScratch: taskScratch, pool: pool)
        return output
    }

    @Test(arguments: cases)
    func everyLevelAndPoolGivesOneResultCloseToTheReference(_ shape: Case) {
        let inputs = Self.inputs(shape)
        let scale = 1 / Float(max(shape.queryHeadDim, 1)).squareRoot()
        let outputCount = shape.queries * shape.heads * shape.valueHeadDim
        var expected = [Float](repeating: .nan, count: outputCount)
        var scores = [Float](repeating: 0, count: shape.keys)
        dynamicInt8AttentionReference(q: inputs.q, qStride: inputs.qStride, k: inputs.k, kStride: inputs.kStride, v: inputs.v,
                                      vStride: inputs.vStride, queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                      queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim, scale: scale,
                                      output: &expected, scores: &scores)
        // The scalar level runs the reference itself.
        let scalar = KernelDispatch.withLevel(.scalar) { Self.run(shape, inputs, pool: nil) }
        #expect(scalar.map(\.bitPattern) == expected.map(\.bitPattern), "\(shape) at the scalar level")
        var first: [Float]?
        for level in [KernelLevel.simd, .avx2, .avxVNNI, .avx512VNNI] where level <= KernelDispatch.best {
            eachPool([nil, 1, 3]) { pool in
                let actual = KernelDispatch.withLevel(level) { Self.run(shape, inputs, pool: pool) }
                if let first {
                    let differing = zip(actual, first).filter { $0.bitPattern != $1.bitPattern }.count
                    #expect(differing == 0, "\(shape) at \(level.name), \(pool?.threadCount ?? 0) threads: \(differing) elements differ")
                } else {
                    first = actual
                }
            }
        }
        let fast = first!
        let fromReference = zip(fast, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(fromReference <= 1e-4, "\(shape): \(fromReference) from the reference")
        // Against float attention: codes of 1/127 of each row's largest value move scores of O(1) by a few
        // hundredths at these depths, and the outputs (averages of values in [-1, 1], each channel's values
        // in steps of 1/127 of its largest) by less.
        var float = [Float](repeating: .nan, count: outputCount)
        multiHeadAttentionReference(q: inputs.q, qStride: inputs.qStride, k: inputs.k, kStride: inputs.kStride, v: inputs.v,
                                    vStride: inputs.vStride, queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                    queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim, scale: scale,
                                    output: &float)
        let worst = zip(fast, float).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 0.02, "\(shape): \(worst) from float attention")
    }

    @Test func noKeysGivesZerosAndNoDepthAveragesTheValues() {
        var output = [Float](repeating: .nan, count: 2)
        let empty: [Float] = [0]
        let shared = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { shared.deallocate() }
        dynamicInt8Attention(q: empty, qStride: 1, k: empty, kStride: 1, v: empty, vStride: 1, queries: 2, keys: 0, heads: 1,
                             queryHeadDim: 1, valueHeadDim: 1, scale: 1, output: &output, scratch: shared, taskScratch: nil, pool: nil)
        #expect(output == [0, 0])
        // Depth 0: every score is 0, every key weighs 1/3: the mean value row.
        let values: [Float] = [3, 6, 9]
        for level in [KernelLevel.scalar, .avx2, .avx512VNNI] {
            var mean: [Float] = [.nan]
            KernelDispatch.withLevel(level) {
                dynamicInt8Attention(q: empty, qStride: 0, k: empty, kStride: 0, v: values, vStride: 1, queries: 1, keys: 3, heads: 1,
                                     queryHeadDim: 0, valueHeadDim: 1, scale: 1, output: &mean, scratch: shared, taskScratch: nil, pool: nil)
            }
            #expect(abs(mean[0] - 6) <= 1e-5, "\(level.name)")
        }
    }

    /// The two-level codes of each row's exponentials: hi = round(127 E) and lo = round(127 (127 E - hi)) of
    /// the vector exponential (checked against `expf`: (127 hi + lo) / 127^2 within 3.1e-5 and its 2 ulp),
    /// the row's largest hi exactly 127, the total the sum of 127 hi + lo; the AVX2 build gives the same
    /// bytes, and so does the AVX-512 one. Lengths below, at and past both vector widths; large scores of both signs.
    @Test func rowCodesAreTheExponentialsInTwoLevels() {
        var state: UInt64 = 91
        for columns in [1, 2, 7, 8, 9, 15, 16, 17, 31, 300] {
            let rows = 3, codeStride = columns + 5
            let scores = (0..<(rows * columns)).map { _ -> Float in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * 400
            }
            let multipliers: [Float] = [0.001, 1, 0.3, 7, 0.02, 0.75]
            var codes = [Int8](repeating: 99, count: 2 * rows * codeStride), totals = [Int32](repeating: -1, count: rows)
            exponentiateRowsAsCodes(scores, rows: rows, columns: columns, multipliers: multipliers, multiplierStride: 2,
                                    codes: &codes, codeStride: codeStride, totals: &totals)
            for row in 0..<rows {
                let scaled = (0..<columns).map { scores[row * columns + $0] * multipliers[2 * row] }
                let largest = scaled.max()!
                var total: Int32 = 0
                for column in 0..<columns {
                    let high = Int32(codes[row * codeStride + column]), low = Int32(codes[(rows + row) * codeStride + column])
                    #expect((0...127).contains(high) && (-64...64).contains(low))
                    total += 127 * high + low
                    let e = expf(scaled[column] - largest)
                    #expect(abs(Float(127 * high + low) / (127 * 127) - e) <= 3.1e-5 + 3e-7 * e, "\(columns) columns, row \(row)")
                }
                #expect(codes[(row * codeStride)..<(row * codeStride + columns)].max() == 127)
                #expect(totals[row] == total)
            }
            // The builds of the same file for wider registers: the same bytes.
            func expectBaselineCodes(needs level: KernelLevel,
                                     _ variant: (UnsafeMutablePointer<Int8>, UnsafeMutablePointer<Int32>) -> Void) {
                guard KernelDispatch.best >= level else { return }
                var other = [Int8](repeating: 99, count: 2 * rows * codeStride), otherTotals = [Int32](repeating: -1, count: rows)
                variant(&other, &otherTotals)
                #expect(other == codes && otherTotals == totals, "\(columns) columns at \(level.name)")
            }
            #if arch(x86_64) && canImport(KernelsAVX2)
            expectBaselineCodes(needs: .avx2) {
                exponentiateRowsAsCodesAVX2(scores, rows: rows, columns: columns, multipliers: multipliers, multiplierStride: 2,
                                            codes: $0, codeStride: codeStride, totals: $1)
            }
            #endif
            #if arch(x86_64) && canImport(KernelsAVX512VNNI)
            expectBaselineCodes(needs: .avx512VNNI) {
                exponentiateRowsAsCodesAVX512(scores, rows: rows, columns: columns, multipliers: multipliers, multiplierStride: 2,
                                              codes: $0, codeStride: codeStride, totals: $1)
            }
            #endif
        }
    }
}
