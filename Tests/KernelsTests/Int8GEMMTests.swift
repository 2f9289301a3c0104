import Testing
import Kernels

/// `count` int8 uniform in `range` (at least one element).
func randomInt8(_ count: Int, in range: ClosedRange<Int8> = -128...127, using generator: inout SeededGenerator) -> [Int8] {
    (0..<max(count, 1)).map { _ in Int8.random(in: range, using: &generator) }
}

/// Every kernel level the tests run (levels above the CPU's best are clamped by the kernels).
let int8Levels: [KernelLevel] = [.scalar, .simd, .avx2, .avxVNNI, .avx512VNNI]

/// One randomized linear problem and its reference result.
struct Int8LinearCase {
    let rows, outputs, inputs: Int
    let input: [Int8]
    let weights: [Int8]
    let bias: [Int32]
    let scales: [Float]
    let inputZeroPoint: Int32
    let residualValues: [Int8]

    init(rows: Int, outputs: Int, inputs: Int, seed: UInt64, saturating: Bool = false) {
        var generator = SeededGenerator(seed: seed)
        self.rows = rows
        self.outputs = outputs
        self.inputs = inputs
        if saturating {
            input = [Int8](repeating: -128, count: max(rows * inputs, 1))
            weights = (0..<max(outputs * inputs, 1)).map { $0 % 3 == 0 ? 127 : -128 }
            inputZeroPoint = 127
        } else {
            input = randomInt8(rows * inputs, using: &generator)
            weights = randomInt8(outputs * inputs, using: &generator)
            inputZeroPoint = Int32.random(in: -128...127, using: &generator)
        }
        bias = (0..<max(outputs, 1)).map { _ in Int32.random(in: -50_000...50_000, using: &generator) }
        // Scales that put outputs across the whole int8 range and past it (saturation).
        let typical = 1 / (Float(max(inputs, 1)).squareRoot() * 60)
        scales = (0..<max(outputs, 1)).map { _ in Float.random(in: 0.2...3, using: &generator) * typical }
        residualValues = randomInt8(rows * outputs, using: &generator)
    }

    func packed(_ layout: Int8WeightLayout) -> PackedInt8Weights {
        PackedInt8Weights(weights: weights, outputs: outputs, inputs: inputs, bias: bias, scales: scales,
                          inputZeroPoint: inputZeroPoint, layout: layout)
    }
}

@Suite struct Int8GEMMTests {
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 16, 32), (7, 17, 33), (13, 40, 9), (6, 16, 64), (25, 8, 3), (2, 31, 100), (0, 5, 5), (5, 0, 5),
        (4, 5, 0), (37, 48, 130),
        // The AVX-512 tile pairs panels: two whole ones, two pairs, a pair and an odd one out.
        (9, 32, 20), (11, 64, 7), (17, 80, 4),
    ]

    @Test(arguments: shapes)
    func everyLayoutAndLevelEqualsTheReference(rows: Int, outputs: Int, inputs: Int) {
        let problem = Int8LinearCase(rows: rows, outputs: outputs, inputs: inputs, seed: UInt64(rows * 10_007 + outputs * 101 + inputs))
        check(problem)
    }

    @Test func saturatingValuesAreExact() {
        check(Int8LinearCase(rows: 7, outputs: 19, inputs: 515, seed: 3, saturating: true))
        check(Int8LinearCase(rows: 1, outputs: 16, inputs: 4096, seed: 4, saturating: true))
    }

    /// Runs every layout x level x pool and every output mode against the reference.
    func check(_ problem: Int8LinearCase) {
        let count = max(problem.rows * problem.outputs, 1)
        let residual = problem.residualValues.withUnsafeBufferPointer {
            Int8Residual(values: $0.baseAddress!, stride: problem.outputs, zeroPoint: -3, scale: 0.7)
        }
        let ranges = [Int8OutputRange(zeroPoint: 5), Int8OutputRange(zeroPoint: -20, relu: true)]
        for range in ranges {
            for withResidual in [false, true] {
                var expected = [Int8](repeating: 0x55, count: count)
                var expectedFloat = [Float](repeating: .nan, count: count)
                expected.withUnsafeMutableBufferPointer { destination in
                    int8LinearReference(input: problem.input, rows: problem.rows, inputStride: problem.inputs,
                                        inputZeroPoint: problem.inputZeroPoint, weights: problem.weights,
                                        outputs: problem.outputs, inputs: problem.inputs, bias: problem.bias,
                                        scales: problem.scales, residual: withResidual ? residual : nil,
                                        output: .int8(destination.baseAddress!, range))
                }
                expectedFloat.withUnsafeMutableBufferPointer { destination in
                    int8LinearReference(input: problem.input, rows: problem.rows, inputStride: problem.inputs,
                                        inputZeroPoint: problem.inputZeroPoint, weights: problem.weights,
                                        outputs: problem.outputs, inputs: problem.inputs, bias: problem.bias,
                                        scales: problem.scales, residual: withResidual ? residual : nil,
                                        output: .float(destination.baseAddress!))
                }
                for layout in Int8WeightLayout.allCases {
                    let packed = problem.packed(layout)
                    for level in int8Levels {
                        eachPool([nil, 3]) { pool in
                            var actual = [Int8](repeating: 0x55, count: count)
                            var actualFloat = [Float](repeating: .nan, count: count)
                            KernelDispatch.withLevel(level) {
                                actual.withUnsafeMutableBufferPointer { destination in
                                    int8Linear(input: problem.input, rows: problem.rows, inputStride: problem.inputs,
                                               weights: packed, residual: withResidual ? residual : nil,
                                               output: .int8(destination.baseAddress!, range), pool: pool)
                                }
                                actualFloat.withUnsafeMutableBufferPointer { destination in
                                    int8Linear(input: problem.input, rows: problem.rows, inputStride: problem.inputs,
                                               weights: packed, residual: withResidual ? residual : nil,
                                               output: .float(destination.baseAddress!), pool: pool)
                                }
                            }
                            #expect(actual == expected, "\(layout) \(level) pool \(pool?.threadCount ?? 0) residual \(withResidual)")
                            #expect(actualFloat.elementsEqual(expectedFloat) { $0.bitPattern == $1.bitPattern },
                                    "float output \(layout) \(level)")
                        }
                    }
                }
            }
        }
    }

    @Test func packedBytesFollowTheDocumentedLayout() throws {
        // W[n, k] = n * 10 + k for 3 outputs, 5 inputs; zero point 2 folds -2 * sum_k W[n, k].
        let weights: [Int8] = (0..<15).map { Int8(($0 / 5) * 10 + $0 % 5) }
        let packed = PackedInt8Weights(weights: weights, outputs: 3, inputs: 5, bias: [100, 200, 300],
                                       scales: [0.5, 0.25, 0.125], inputZeroPoint: 2, layout: .dotProduct)
        #expect(packed.panelCount == 1)
        #expect(packed.byteCount == 128 + 128)  // header 16*8, two groups of 16x4 bytes
        let bytes = UnsafeRawBufferPointer(start: packed.bytes, count: packed.byteCount)
        #expect(bytes.load(fromByteOffset: 4, as: Int32.self) == 200 - 2 * (10 + 11 + 12 + 13 + 14))
        #expect(bytes.load(fromByteOffset: 64 + 8, as: Float.self) == 0.125)
        // Group 0, column 1: W[1, 0..<4]; group 1, column 2: W[2, 4], then zero padding.
        #expect(Array(bytes[(128 + 4)..<(128 + 8)]) == [10, 11, 12, 13])
        #expect(Array(bytes[(128 + 64 + 8)..<(128 + 64 + 12)]) == [24, 0, 0, 0])
        // Borrowed in place (a model file's panels): same bytes, not a copy, checked.
        let borrowed = try #require(PackedInt8Weights(borrowing: bytes, outputs: 3, inputs: 5, layout: .dotProduct))
        #expect(UnsafeRawPointer(borrowed.bytes) == UnsafeRawPointer(packed.bytes) && !borrowed.owned && packed.owned)
        #expect(borrowed.panelProblem() == nil)
        #expect(borrowed.foldingProblem(bias: [100, 200, 300], scales: [0.5, 0.25, 0.125], inputZeroPoint: 2) == nil)
        #expect(borrowed.foldingProblem(bias: [100, 201, 300], scales: [0.5, 0.25, 0.125], inputZeroPoint: 2)?.contains("output 1: folded bias") == true)
        #expect(borrowed.foldingProblem(bias: [100, 200, 300], scales: [0.5, 0.25, 0.5], inputZeroPoint: 2)?.contains("output 2: requantization scale") == true)
        #expect(PackedInt8Weights(borrowing: bytes, outputs: 3, inputs: 9, layout: .dotProduct) == nil)
        #expect(PackedInt8Weights(borrowing: bytes, outputs: 3, inputs: 5, layout: .neon) == nil)  // 192 bytes there
        // Padding (column 3, depth 5) and -128 are refused.
        packed.bytes.storeBytes(of: 1, toByteOffset: 128 + 64 + 8 + 1, as: Int8.self)
        #expect(borrowed.panelProblem() == "panel 0: padding byte 73 is not zero")
        packed.bytes.storeBytes(of: 0, toByteOffset: 128 + 64 + 8 + 1, as: Int8.self)
        packed.bytes.storeBytes(of: -128, toByteOffset: 128 + 4, as: Int8.self)
        #expect(borrowed.panelProblem()?.contains("weight [1, 0] is -128") == true)
        packed.bytes.storeBytes(of: 10, toByteOffset: 128 + 4, as: Int8.self)
        packed.bytes.storeBytes(of: 1, toByteOffset: 4 * 3, as: Int32.self)
        #expect(borrowed.panelProblem() == "panel 0: header padding word 3 is not zero")
    }

    /// Repacking between layouts keeps every weight, folded bias and scale; the GEMM gives the same
    /// integers from any of them (the file's layout need not be the CPU's).
    @Test(arguments: [(1, 1), (3, 5), (17, 9), (33, 70), (8, 16)])
    func repackingBetweenLayoutsKeepsEverything(_ shape: (Int, Int)) {
        let (outputs, inputs) = shape
        var generator = SplitMix64(seed: UInt64(outputs * 131 + inputs))
        let weights = (0..<(outputs * inputs)).map { _ in Int8(truncatingIfNeeded: Int(generator.next() % 255) - 127) }
        let bias = (0..<outputs).map { _ in Int32(truncatingIfNeeded: Int(generator.next() % 20_000) - 10_000) }
        let scales = (0..<outputs).map { Float($0 + 1) / 1024 }
        for from in Int8WeightLayout.allCases {
            let source = PackedInt8Weights(weights: weights, outputs: outputs, inputs: inputs, bias: bias, scales: scales,
                                           inputZeroPoint: -7, layout: from)
            for to in Int8WeightLayout.allCases {
                let direct = PackedInt8Weights(weights: weights, outputs: outputs, inputs: inputs, bias: bias, scales: scales,
                                               inputZeroPoint: -7, layout: to)
                let repacked = PackedInt8Weights(repacking: source, layout: to)
                #expect(repacked.byteCount == direct.byteCount)
                #expect(UnsafeRawBufferPointer(start: repacked.bytes, count: repacked.byteCount)
                            .elementsEqual(UnsafeRawBufferPointer(start: direct.bytes, count: direct.byteCount)), "\(from) -> \(to) \(shape)")
                #expect(repacked.panelProblem() == nil)
            }
        }
    }

    @Test func requantizeRoundsHalfToEvenAndClamps() {
        let range = Int8OutputRange(zeroPoint: 10)
        #expect(requantize(2.5, range) == 12)
        #expect(requantize(3.5, range) == 14)
        #expect(requantize(-2.5, range) == 8)
        #expect(requantize(1e9, range) == 127)
        #expect(requantize(-1e9, range) == -128)
        #expect(requantize(-5, Int8OutputRange(zeroPoint: 10, relu: true)) == 10)
        #expect(roundedToNearestEvenSmall(-254.5) == -254)
        #expect(roundedToNearestEvenSmall(255.5) == 256)
        let quantization = Int8Quantization.covering(minimum: 0, maximum: 5.1)
        #expect(quantization.zeroPoint == -128)
        #expect(quantization.quantize(0) == -128)
        #expect(quantization.quantize(.nan) == -128)
    }
}
