import Testing
import Kernels

/// `deformableLocations`: the SIMD8 path equals the scalar reference bit for bit, for 2-d and 4-d
/// reference points, rows that end inside a vector, one query and none, on every level and pool size;
/// and the reference follows transformers' formula on hand-made values.
@Suite struct DeformableLocationsTests {
    @Test(arguments: [(0, 256), (1, 2), (1, 6), (37, 10), (300, 256), (5440, 256), (9, 98)])
    func simdEqualsTheReference(queries: Int, columns: Int) {
        var generator = SeededGenerator(seed: UInt64(queries * 1000 + columns))
        let offsets = randomFloats(queries * columns, in: -40...40, using: &generator)
        let divisors = randomFloats(columns, in: 1...128, using: &generator).map { $0.rounded() }
        for referenceColumns in [2, 4] {
            let reference = randomFloats(queries * referenceColumns, in: 0...1, using: &generator)
            var expected = [Float](repeating: 0, count: max(queries * columns, 1))
            deformableLocationsReference(reference: reference, referenceColumns: referenceColumns, offsets: offsets, divisors: divisors,
                                         queries: queries, columns: columns, output: &expected)
            for level in [KernelLevel.scalar, .simd, .avx2] {
                eachPool([nil, 3]) { pool in
                    var actual = [Float](repeating: 0, count: max(queries * columns, 1))
                    KernelDispatch.withLevel(level) {
                        deformableLocations(reference: reference, referenceColumns: referenceColumns, offsets: offsets, divisors: divisors,
                                            queries: queries, columns: columns, output: &actual, pool: pool)
                    }
                    #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern),
                            "\(queries)x\(columns), \(referenceColumns)-d reference at \(level.name)")
                }
            }
        }
    }

    @Test func referenceFollowsTransformers() {
        // One query, one head, two levels (W x H = 4 x 2 and 2 x 1), one point each.
        var output = [Float](repeating: 0, count: 4)
        deformableLocationsReference(reference: [0.5, 0.25], referenceColumns: 2, offsets: [1, 1, -1, 0.5], divisors: [4, 2, 2, 1],
                                     queries: 1, columns: 4, output: &output)
        let expected2d: [Float] = [0.75, 0.75, 0, 0.75]
        #expect(output == expected2d)
        // A box reference (x, y, w, h) and two points on the level: ref + offset / 2 * wh * 0.5.
        deformableLocationsReference(reference: [0.5, 0.5, 0.2, 0.4], referenceColumns: 4, offsets: [1, -1, 2, 2],
                                     divisors: [2, 2, 2, 2], queries: 1, columns: 4, output: &output)
        let expected: [Float] = [0.5 + 0.05, 0.5 - 0.1, 0.5 + 0.1, 0.5 + 0.2]
        #expect(output == expected)
    }
}
