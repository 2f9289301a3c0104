import Testing
import Kernels

/// `elementwiseBinary`: the SIMD8 path equals the scalar reference bit for bit for every operator and
/// broadcast, on shapes that end inside a vector (odd columns, one column, one row, empty), on every
/// pool size and level; in place too.
@Suite struct ElementwiseBinaryTests {
    struct Shape: CustomTestStringConvertible, Sendable {
        let rows: Int, columns: Int
        var testDescription: String { "\(rows)x\(columns)" }
    }

    static let shapes: [Shape] = [
        .init(rows: 0, columns: 8), .init(rows: 3, columns: 0), .init(rows: 1, columns: 1), .init(rows: 1, columns: 7),
        .init(rows: 5, columns: 1), .init(rows: 7, columns: 9), .init(rows: 33, columns: 16), .init(rows: 300, columns: 257),
        .init(rows: 5440, columns: 256),
    ]

    static let operators: [FloatBinaryOperator] = [.add, .subtract, .multiply, .divide]
    static let broadcasts: [BinaryBroadcast] = [.same, .row, .column, .scalar]

    static func operandCount(_ broadcast: BinaryBroadcast, _ shape: Shape) -> Int {
        switch broadcast {
        case .same: shape.rows * shape.columns
        case .row: shape.columns
        case .column: shape.rows
        case .scalar: 1
        }
    }

    @Test(arguments: shapes)
    func simdEqualsTheReference(_ shape: Shape) {
        var generator = SeededGenerator(seed: UInt64(shape.rows * 1000 + shape.columns))
        let count = shape.rows * shape.columns
        var a = randomFloats(count, in: -50...50, using: &generator)
        if count > 4 { (a[0], a[1], a[2], a[3]) = (.nan, .infinity, -0.0, 1e-40) }
        for broadcast in Self.broadcasts {
            // No zeros among the divisors but one, so most quotients are finite and one is not.
            var b = randomFloats(Self.operandCount(broadcast, shape), in: 0.5...4, using: &generator)
            if b.count > 2 { b[1] = 0; b[2] = -b[2] }
            for op in Self.operators {
                var expected = [Float](repeating: 0, count: max(count, 1))
                elementwiseBinaryReference(op, a: a, b: b, rows: shape.rows, columns: shape.columns, broadcast: broadcast,
                                           output: &expected)
                for level in [KernelLevel.scalar, .simd, .avx2] {
                    eachPool([nil, 1, 3]) { pool in
                        var actual = [Float](repeating: 7, count: max(count, 1))
                        KernelDispatch.withLevel(level) {
                            elementwiseBinary(op, a: a, b: b, rows: shape.rows, columns: shape.columns, broadcast: broadcast,
                                              output: &actual, pool: pool)
                        }
                        #expect(Self.bits(actual.prefix(count)) == Self.bits(expected.prefix(count)),
                                "\(shape) \(op) \(broadcast) at \(level.name), \(pool?.threadCount ?? 0) threads")
                        if count == 0 { #expect(actual == [7]) }
                    }
                }
            }
        }
    }

    @Test func inPlaceAndBroadcastValues() {
        // a [2, 3] += row [10, 20, 30], in place; then each row times its column value; then minus a scalar.
        var a: [Float] = [1, 2, 3, 4, 5, 6]
        a.withUnsafeMutableBufferPointer { buffer in
            let pointer = buffer.baseAddress!
            elementwiseBinary(.add, a: pointer, b: [10, 20, 30], rows: 2, columns: 3, broadcast: .row, output: pointer)
            elementwiseBinary(.multiply, a: pointer, b: [1, -2], rows: 2, columns: 3, broadcast: .column, output: pointer)
            elementwiseBinary(.subtract, a: pointer, b: [1], rows: 2, columns: 3, broadcast: .scalar, output: pointer,
                              pool: ThreadPool(threadCount: 2))
        }
        #expect(a == [10, 21, 32, -29, -51, -73])
    }

    static func bits(_ values: ArraySlice<Float>) -> [UInt32] { values.map(\.bitPattern) }
}
