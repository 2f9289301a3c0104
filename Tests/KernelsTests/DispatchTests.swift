import Testing
import Kernels

/// Runtime ISA dispatch: what CPUFeatures finds, that each `KernelLevel` runs what it says (the scalar
/// level runs the references exactly; the AVX2 level matches them within the rounding bound of
/// LinearTests and Conv2DTests), and the `EDGEDETR_KERNELS` names. Levels are set per thread with
/// `KernelDispatch.withLevel`, so suites running in parallel are not affected.
@Suite struct DispatchTests {
    @Test func hostFeaturesAreSensible() {
        let features = CPUFeatures.host
        #expect(features == CPUFeatures.detect())
        #if arch(x86_64)
        // The build machines have AVX2, FMA and YMM state saved by Linux; some also AVX-VNNI.
        #expect(features.avx2 && features.fma && features.osSavesYMM && features.hasAVX2FMA)
        #expect(!features.asimd && !features.asimdDotProduct)
        #expect(KernelDispatch.best == (features.hasAVX512VNNI ? .avx512VNNI : features.hasAVXVNNI ? .avxVNNI : .avx2))
        #expect(Int8WeightLayout.native == (features.hasAVX512VNNI || features.hasAVXVNNI ? .dotProduct : .avx2))
        KernelDispatch.withLevel(.avx2) { #expect(Int8WeightLayout.native == .avx2) }
        // The two VNNI levels are not nested: a request falls to the highest level the CPU has below it.
        KernelDispatch.withLevel(.avxVNNI) { #expect(KernelDispatch.current == (features.hasAVXVNNI ? .avxVNNI : .avx2)) }
        #expect(KernelDispatch.supports(.avx512VNNI) == features.hasAVX512VNNI)
        #elseif arch(arm64)
        #expect(features.asimd && !features.hasAVX2FMA)
        #expect(KernelDispatch.best == .simd)
        #endif
    }

    @Test func levelNamesParseAndRequestsAreClamped() {
        for level in [KernelLevel.scalar, .simd, .avx2, .avxVNNI, .avx512VNNI] {
            let name = "\(level.name)"
            #expect(name.withCString { KernelLevel(cString: $0) } == level)
        }
        #expect("AVX2".withCString { KernelLevel(cString: $0) } == nil)
        #expect("".withCString { KernelLevel(cString: $0) } == nil)
        KernelDispatch.withLevel(.avx512VNNI) { #expect(KernelDispatch.current == KernelDispatch.best) }
        KernelDispatch.withLevel(.avx2) { #expect(KernelDispatch.current == min(.avx2, KernelDispatch.best)) }
        KernelDispatch.withLevel(.scalar) {
            #expect(KernelDispatch.current == .scalar)
            KernelDispatch.withLevel(.simd) { #expect(KernelDispatch.current == .simd) }
            #expect(KernelDispatch.current == .scalar)
        }
    }

    // MARK: linear

    static let linearCases: [LinearTests.Case] = LinearTests.cases + [
        LinearTests.Case(rows: 1, inputs: 7, outputs: 300, extraStride: 0),
        LinearTests.Case(rows: 12, inputs: 256, outputs: 32, extraStride: 0),
    ]

    /// (reference, output at `level`) for one shape with bias, residual and ReLU.
    static func linearOutputs(_ shape: LinearTests.Case, level: KernelLevel, pool: ThreadPool?) -> (reference: [Float], actual: [Float], bound: [Float]) {
        var generator = SeededGenerator(seed: UInt64(shape.rows * 1000 + shape.inputs * 10 + shape.outputs))
        let stride = shape.inputs + shape.extraStride
        let input = randomFloats(shape.rows * stride, using: &generator)
        let weights = randomFloats(shape.outputs * shape.inputs, using: &generator)
        let bias = randomFloats(shape.outputs, using: &generator)
        let residual = randomFloats(shape.rows * shape.outputs, using: &generator)
        let packed = PackedLinearWeights(weights: weights, outputs: shape.outputs, inputs: shape.inputs)
        var expected = [Float](repeating: 0, count: shape.rows * shape.outputs)
        var actual = [Float](repeating: .nan, count: shape.rows * shape.outputs)
        linearReference(input: input, rows: shape.rows, inputStride: stride, weights: weights, outputs: shape.outputs,
                        inputs: shape.inputs, bias: bias, residual: residual, activation: .relu, output: &expected)
        KernelDispatch.withLevel(level) {
            linear(input: input, rows: shape.rows, inputStride: stride, weights: packed, bias: bias, residual: residual,
                   activation: .relu, output: &actual, pool: pool)
        }
        var bound = [Float](repeating: 0, count: expected.count)
        for row in 0..<shape.rows {
            for output in 0..<shape.outputs {
                var magnitude: Float = 0
                for i in 0..<shape.inputs { magnitude += abs(input[row * stride + i] * weights[output * shape.inputs + i]) }
                let reference = expected[row * shape.outputs + output]
                bound[row * shape.outputs + output] = 2 * Float(shape.inputs + 2) * Float.ulpOfOne * (magnitude + 2)
                    + 2 * Float.ulpOfOne * abs(reference)
            }
        }
        return (expected, actual, bound)
    }

    @Test(arguments: linearCases)
    func linearAVX2MatchesReference(_ shape: LinearTests.Case) {
        for pool in [nil, ThreadPool(threadCount: 2)] {
            let (expected, actual, bound) = Self.linearOutputs(shape, level: .avx2, pool: pool)
            for index in expected.indices {
                #expect(abs(actual[index] - expected[index]) <= bound[index], "\(shape) element \(index)")
            }
        }
    }

    /// The float tile on ZMM (the avx512vnni level) runs the AVX2 tile's FMA chains in the same order:
    /// linear and convolution give the AVX2 level's bits. (On a CPU without AVX-512 both requests run
    /// the AVX2 tile.)
    @Test(arguments: linearCases)
    func floatTileOnZMMEqualsAVX2Bitwise(_ shape: LinearTests.Case) {
        let (_, avx2, _) = Self.linearOutputs(shape, level: .avx2, pool: ThreadPool(threadCount: 2))
        let (_, zmm, _) = Self.linearOutputs(shape, level: .avx512VNNI, pool: ThreadPool(threadCount: 2))
        #expect(zmm.map(\.bitPattern) == avx2.map(\.bitPattern), "\(shape)")
        for convolution in Conv2DTests.shapes.prefix(6) {
            #expect(Self.conv2dOutputs(convolution, level: .avx512VNNI).actual.map(\.bitPattern)
                    == Self.conv2dOutputs(convolution, level: .avx2).actual.map(\.bitPattern), "\(convolution)")
        }
    }

    @Test(arguments: linearCases)
    func linearForcedScalarIsTheReference(_ shape: LinearTests.Case) {
        let (expected, actual, _) = Self.linearOutputs(shape, level: .scalar, pool: ThreadPool(threadCount: 2))
        #expect(actual == expected, "\(shape)")
    }

    @Test func linearEmptyShapesAreNoOpsAtEveryLevel() {
        let weights: [Float] = [1, 2, 3, 4]
        for level in [KernelLevel.scalar, .simd, .avx2] {
            KernelDispatch.withLevel(level) {
                var output: [Float] = [42]
                linear(input: weights, rows: 1, inputStride: 4, weights: PackedLinearWeights(weights: weights, outputs: 0, inputs: 4),
                       bias: nil, residual: nil, activation: .relu, output: &output, pool: nil)
                linear(input: weights, rows: 0, inputStride: 4, weights: PackedLinearWeights(weights: weights, outputs: 1, inputs: 4),
                       bias: nil, residual: nil, activation: .relu, output: &output, pool: nil)
                #expect(output == [42], "\(level.name)")
                var zeroDepth: [Float] = [0, 0]
                linear(input: weights, rows: 1, inputStride: 0, weights: PackedLinearWeights(weights: weights, outputs: 2, inputs: 0),
                       bias: [1, -2], residual: [0.5, 0.5], activation: .relu, output: &zeroDepth, pool: nil)
                #expect(zeroDepth == [1.5, 0], "\(level.name)")
            }
        }
    }

    /// Sums of small integers are exact in every order and with or without fused multiply-adds, so
    /// all levels must agree bit for bit.
    @Test func linearLevelsAgreeExactlyOnIntegers() {
        let (rows, inputs, outputs) = (13, 37, 35)
        let input = (0..<rows * inputs).map { Float($0 % 7 - 3) }
        let weights = (0..<outputs * inputs).map { Float($0 % 5 - 2) }
        let packed = PackedLinearWeights(weights: weights, outputs: outputs, inputs: inputs)
        var results: [[Float]] = []
        for level in [KernelLevel.scalar, .simd, .avx2] {
            var output = [Float](repeating: .nan, count: rows * outputs)
            KernelDispatch.withLevel(level) {
                linear(input: input, rows: rows, inputStride: inputs, weights: packed, bias: nil, residual: nil,
                       activation: .none, output: &output, pool: ThreadPool(threadCount: 2))
            }
            results.append(output)
        }
        #expect(results[0] == results[1] && results[0] == results[2])
    }

    // MARK: conv2d

    static func conv2dOutputs(_ shape: Conv2DShape, level: KernelLevel) -> (reference: [Float], actual: [Float]) {
        var generator = SeededGenerator(seed: UInt64(shape.inputChannels * 131 + shape.outputChannels))
        let outputCount = shape.outputHeight * shape.outputWidth * shape.outputChannels
        let input = randomFloats(shape.inputHeight * shape.inputWidth * shape.inputChannels, using: &generator)
        let weights = randomFloats(shape.outputChannels * shape.inputChannels * shape.kernelHeight * shape.kernelWidth,
                                   using: &generator)
        let bias = randomFloats(shape.outputChannels, using: &generator)
        let residual = randomFloats(outputCount, using: &generator)
        let packed = PackedConv2DWeights(weights: weights, shape: shape)
        var expected = [Float](repeating: 0, count: outputCount)
        conv2dReference(input: input, shape: shape, weights: weights, bias: bias, residual: residual,
                        activation: .relu, output: &expected)
        var actual = [Float](repeating: .nan, count: outputCount)
        KernelDispatch.withLevel(level) {
            conv2d(input: input, weights: packed, bias: bias, residual: residual, activation: .relu,
                   output: &actual, scratch: nil, pool: ThreadPool(threadCount: 2))
        }
        return (expected, actual)
    }

    @Test(arguments: Conv2DTests.shapes)
    func conv2dAVX2MatchesReference(_ shape: Conv2DShape) {
        let (expected, actual) = Self.conv2dOutputs(shape, level: .avx2)
        let depth = shape.inputChannels * shape.kernelHeight * shape.kernelWidth
        let bound = 2 * Float(depth + 2) * Float.ulpOfOne * Float(depth + 2)
        for index in expected.indices {
            #expect(abs(actual[index] - expected[index]) <= bound, "\(shape) element \(index)")
        }
    }

    @Test(arguments: Conv2DTests.shapes)
    func conv2dForcedScalarIsTheReference(_ shape: Conv2DShape) {
        let (expected, actual) = Self.conv2dOutputs(shape, level: .scalar)
        #expect(actual == expected, "\(shape)")
    }

    // MARK: attention

    @Test(arguments: AttentionTests.cases)
    func attentionAtEachLevel(_ shape: AttentionTests.Case) {
        var generator = SeededGenerator(seed: UInt64(shape.queries * 7919 + shape.keys * 31 + shape.heads))
        let (qStride, kStride, vStride) = (shape.heads * shape.queryHeadDim + 3, shape.heads * shape.queryHeadDim + 1,
                                           shape.heads * shape.valueHeadDim + 5)
        let q = randomFloats(shape.queries * qStride, in: -2...2, using: &generator)
        let k = randomFloats(shape.keys * kStride, in: -2...2, using: &generator)
        let v = randomFloats(shape.keys * vStride, using: &generator)
        let scale = 1 / Float(shape.queryHeadDim).squareRoot()
        let outputCount = shape.queries * shape.heads * shape.valueHeadDim
        var expected = [Float](repeating: .nan, count: outputCount)
        multiHeadAttentionReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                    queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                    queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim,
                                    scale: scale, output: &expected)
        let pool = ThreadPool(threadCount: 2)
        for level in [KernelLevel.scalar, .avx2] {
            var scratch = [Float](repeating: .nan, count: attentionScratchCount(queries: shape.queries, keys: shape.keys,
                                                                                heads: shape.heads, queryHeadDim: shape.queryHeadDim,
                                                                                threads: 2))
            var actual = [Float](repeating: .nan, count: outputCount)
            KernelDispatch.withLevel(level) {
                multiHeadAttention(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                   queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                   queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim, scale: scale,
                                   output: &actual, scratch: &scratch, pool: pool)
            }
            if level == .scalar {
                #expect(actual == expected, "\(shape)")
            } else {
                for index in expected.indices {
                    #expect(abs(actual[index] - expected[index]) <= 1e-5, "\(shape) element \(index)")
                }
            }
        }
    }
}
