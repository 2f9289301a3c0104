import CLibc
import Kernels

// The float GEMM kernels (linear, conv2d, attention) at the machine's best level against their
// scalar references, within the error that a different summation order with fused multiply-adds
// can make; the same kernels at the forced scalar level must equal the references bit for bit,
// and every pool size must give the same bits. Deformable sampling is exact at every level.

func checkLinear(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "linear")
    var fast = KernelCheck("linear", path: floatGEMMPath(KernelDispatch.best), criterion: "FMA-order bound")
    var scalar = KernelCheck("linear forced scalar", path: floatGEMMPath(.scalar), criterion: "exact")
    var shapes: [(rows: Int, inputs: Int, outputs: Int)] = []
    for (rowIndex, rows) in tileEdgeRows.enumerated() {
        for (columnIndex, outputs) in tileEdgeColumns.enumerated() {
            shapes.append((rows, oddDepths[(rowIndex + columnIndex) % oddDepths.count], outputs))
        }
    }
    for _ in 0..<10 {
        shapes.append((generator.int(in: 1...80), generator.int(in: 1...300), generator.int(in: 1...200)))
    }
    for (number, shape) in shapes.enumerated() {
        let stride = shape.inputs + number % 3
        let name = "rows \(shape.rows) inputs \(shape.inputs) outputs \(shape.outputs) stride \(stride)"
        let input = generator.floats(shape.rows * stride)
        let weights = generator.floats(shape.outputs * shape.inputs)
        let bias = generator.floats(shape.outputs)
        let residual = generator.floats(shape.rows * shape.outputs)
        let activation: FloatActivation = number % 2 == 0 ? .relu : .none
        let count = max(shape.rows * shape.outputs, 1)
        var expected = [Float](repeating: .nan, count: count)
        linearReference(input: input, rows: shape.rows, inputStride: stride, weights: weights, outputs: shape.outputs,
                        inputs: shape.inputs, bias: bias, residual: residual, activation: activation, output: &expected)
        // |x|, |w|, |b|, |r| <= 1: 2(K+2)·eps·(Σ|x·w| + 2) + 2·eps·|reference| (Tests/KernelsTests/DispatchTests).
        var bounds = [Float](repeating: 0, count: count)
        for row in 0..<shape.rows {
            for output in 0..<shape.outputs {
                var magnitude: Float = 0
                for k in 0..<shape.inputs { magnitude += (input[row * stride + k] * weights[output * shape.inputs + k]).magnitude }
                let index = row * shape.outputs + output
                bounds[index] = 2 * Float(shape.inputs + 2) * Float.ulpOfOne * (magnitude + 2) + 2 * Float.ulpOfOne * expected[index].magnitude
            }
        }
        let packed = PackedLinearWeights(weights: weights, outputs: shape.outputs, inputs: shape.inputs)
        var first: [Float]?
        for pool in selfTestPools {
            var actual = [Float](repeating: .nan, count: count)
            KernelDispatch.withLevel(KernelDispatch.best) {
                linear(input: input, rows: shape.rows, inputStride: stride, weights: packed, bias: bias, residual: residual,
                       activation: activation, output: &actual, pool: pool)
            }
            fast.compare(expected, actual, shape: name) { bounds[$0] }
            if let first, first != actual, !(first.allSatisfy { $0.isNaN }) {
                fast.fail("\(name): result depends on the thread count")
            }
            first = actual
        }
        var forced = [Float](repeating: .nan, count: count)
        KernelDispatch.withLevel(.scalar) {
            linear(input: input, rows: shape.rows, inputStride: stride, weights: packed, bias: bias, residual: residual,
                   activation: activation, output: &forced, pool: selfTestPools[2])
        }
        scalar.compare(expected, forced, shape: name) { _ in 0 }
    }
    suite.report(fast)
    suite.report(scalar)
}

func checkConv2D(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "conv2d")
    var fast = KernelCheck("conv2d", path: floatGEMMPath(KernelDispatch.best), criterion: "FMA-order bound")
    var scalar = KernelCheck("conv2d forced scalar", path: floatGEMMPath(.scalar), criterion: "exact")
    // (height, width, in, out, kernel height, kernel width, stride, padding)
    var shapes: [Conv2DShape] = [
        Conv2DShape(inputHeight: 7, inputWidth: 5, inputChannels: 3, outputChannels: 17, kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
        Conv2DShape(inputHeight: 6, inputWidth: 7, inputChannels: 5, outputChannels: 16, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Conv2DShape(inputHeight: 9, inputWidth: 8, inputChannels: 4, outputChannels: 15, kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        Conv2DShape(inputHeight: 13, inputWidth: 11, inputChannels: 3, outputChannels: 8, kernelHeight: 7, kernelWidth: 7, stride: 2, padding: 3),
        Conv2DShape(inputHeight: 1, inputWidth: 1, inputChannels: 7, outputChannels: 33, kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
        Conv2DShape(inputHeight: 5, inputWidth: 9, inputChannels: 13, outputChannels: 6, kernelHeight: 3, kernelWidth: 1, stride: 1, padding: 1),
        // The kernel does not fit: an empty output.
        Conv2DShape(inputHeight: 2, inputWidth: 2, inputChannels: 3, outputChannels: 4, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0),
    ]
    for _ in 0..<6 {
        let kernel = [1, 3, 5][generator.int(in: 0...2)]
        shapes.append(Conv2DShape(inputHeight: generator.int(in: 1...14), inputWidth: generator.int(in: 1...14),
                                  inputChannels: generator.int(in: 1...24), outputChannels: generator.int(in: 1...40),
                                  kernelHeight: kernel, kernelWidth: kernel, stride: generator.int(in: 1...2),
                                  padding: kernel / 2))
    }
    for (number, shape) in shapes.enumerated() {
        let name = "\(shape.inputHeight)x\(shape.inputWidth)x\(shape.inputChannels) -> \(shape.outputChannels), "
            + "kernel \(shape.kernelHeight)x\(shape.kernelWidth) stride \(shape.stride) padding \(shape.padding)"
        let outputCount = shape.outputHeight * shape.outputWidth * shape.outputChannels
        let count = max(outputCount, 1)
        let input = generator.floats(shape.inputHeight * shape.inputWidth * shape.inputChannels)
        let weights = generator.floats(shape.outputChannels * shape.inputChannels * shape.kernelHeight * shape.kernelWidth)
        let bias = generator.floats(shape.outputChannels)
        let residual = generator.floats(outputCount)
        let activation: FloatActivation = number % 2 == 0 ? .relu : .none
        var expected = [Float](repeating: .nan, count: count)
        conv2dReference(input: input, shape: shape, weights: weights, bias: bias, residual: residual,
                        activation: activation, output: &expected)
        let depth = shape.inputChannels * shape.kernelHeight * shape.kernelWidth
        let bound = 2 * Float(depth + 2) * Float.ulpOfOne * Float(depth + 2)
        let packed = PackedConv2DWeights(weights: weights, shape: shape)
        var first: [Float]?
        for pool in selfTestPools {
            var actual = [Float](repeating: .nan, count: count)
            KernelDispatch.withLevel(KernelDispatch.best) {
                conv2d(input: input, weights: packed, bias: bias, residual: residual, activation: activation,
                       output: &actual, scratch: nil, pool: pool)
            }
            fast.compare(expected, actual, shape: name) { _ in outputCount == 0 ? 0 : bound }
            if let first, first != actual, outputCount > 0 { fast.fail("\(name): result depends on the thread count") }
            first = actual
        }
        var forced = [Float](repeating: .nan, count: count)
        KernelDispatch.withLevel(.scalar) {
            conv2d(input: input, weights: packed, bias: bias, residual: residual, activation: activation,
                   output: &forced, scratch: nil, pool: selfTestPools[2])
        }
        scalar.compare(expected, forced, shape: name) { _ in 0 }
    }
    suite.report(fast)
    suite.report(scalar)
}

func checkAttention(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "attention")
    var fast = KernelCheck("multiHeadAttention", path: floatGEMMPath(KernelDispatch.best), criterion: "1e-5 absolute")
    var scalar = KernelCheck("multiHeadAttention forced scalar", path: floatGEMMPath(.scalar), criterion: "exact")
    var shapes: [(queries: Int, keys: Int, heads: Int, queryHeadDim: Int, valueHeadDim: Int)] = [
        (1, 1, 1, 8, 8), (16, 7, 2, 16, 16), (17, 50, 2, 8, 17), (33, 13, 8, 5, 7), (15, 0, 1, 8, 8),
        (1, 64, 8, 32, 32), (20, 30, 1, 64, 32), (0, 5, 2, 8, 8),
    ]
    for _ in 0..<5 {
        shapes.append((generator.int(in: 1...40), generator.int(in: 1...60), generator.int(in: 1...8),
                       generator.int(in: 1...40), generator.int(in: 1...40)))
    }
    for shape in shapes {
        let name = "queries \(shape.queries) keys \(shape.keys) heads \(shape.heads) dims \(shape.queryHeadDim)/\(shape.valueHeadDim)"
        let qStride = shape.heads * shape.queryHeadDim + 3
        let kStride = shape.heads * shape.queryHeadDim + 1
        let vStride = shape.heads * shape.valueHeadDim + 5
        let q = generator.floats(shape.queries * qStride, in: -2...2)
        let k = generator.floats(shape.keys * kStride, in: -2...2)
        let v = generator.floats(shape.keys * vStride)
        let scale = 1 / Float(shape.queryHeadDim).squareRoot()
        let count = max(shape.queries * shape.heads * shape.valueHeadDim, 1)
        var expected = [Float](repeating: .nan, count: count)
        multiHeadAttentionReference(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                    queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                    queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim,
                                    scale: scale, output: &expected)
        var first: [Float]?
        for pool in selfTestPools {
            var actual = [Float](repeating: .nan, count: count)
            var scratch = [Float](repeating: .nan, count: attentionScratchCount(queries: shape.queries, keys: shape.keys,
                                                                                heads: shape.heads, queryHeadDim: shape.queryHeadDim,
                                                                                threads: pool?.threadCount ?? 1))
            KernelDispatch.withLevel(KernelDispatch.best) {
                multiHeadAttention(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                                   queries: shape.queries, keys: shape.keys, heads: shape.heads,
                                   queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim, scale: scale,
                                   output: &actual, scratch: &scratch, pool: pool)
            }
            fast.compare(expected, actual, shape: name) { _ in shape.queries == 0 ? 0 : 1e-5 }
            if let first, first != actual, shape.queries > 0 { fast.fail("\(name): result depends on the thread count") }
            first = actual
        }
        var forced = [Float](repeating: .nan, count: count)
        var scratch = [Float](repeating: .nan, count: attentionScratchCount(queries: shape.queries, keys: shape.keys,
                                                                            heads: shape.heads, queryHeadDim: shape.queryHeadDim,
                                                                            threads: 3))
        KernelDispatch.withLevel(.scalar) {
            multiHeadAttention(q: q, qStride: qStride, k: k, kStride: kStride, v: v, vStride: vStride,
                               queries: shape.queries, keys: shape.keys, heads: shape.heads,
                               queryHeadDim: shape.queryHeadDim, valueHeadDim: shape.valueHeadDim, scale: scale,
                               output: &forced, scratch: &scratch, pool: selfTestPools[2])
        }
        scalar.compare(expected, forced, shape: name) { _ in 0 }
    }
    suite.report(fast)
    suite.report(scalar)
}

func checkDeformableAttention(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "deformableAttention")
    var check = KernelCheck("deformableAttention", path: simd8Path, criterion: "exact")
    var shapes: [(levels: Int, heads: Int, headDim: Int, points: Int, queries: Int)] = [
        (1, 1, 8, 1, 1), (4, 8, 32, 4, 70), (2, 3, 13, 2, 33), (3, 2, 7, 3, 5), (1, 1, 1, 1, 0), (4, 1, 16, 4, 1),
    ]
    for _ in 0..<4 {
        shapes.append((generator.int(in: 1...4), generator.int(in: 1...8), generator.int(in: 1...40),
                       generator.int(in: 1...4), generator.int(in: 1...64)))
    }
    for shape in shapes {
        let name = "levels \(shape.levels) heads \(shape.heads) headDim \(shape.headDim) points \(shape.points) queries \(shape.queries)"
        var levelShapes: [Int] = []
        var levelStarts: [Int] = []
        var pixels = 0
        for _ in 0..<shape.levels {
            let height = generator.int(in: 1...9), width = generator.int(in: 1...9)
            levelShapes += [height, width]
            levelStarts.append(pixels)
            pixels += height * width
        }
        // Odd levels sample one point fewer, as D-FINE's per-level counts do.
        let levelPoints = (0..<shape.levels).map { max(shape.points - $0 % 2, 1) }
        let value = generator.floats(pixels * shape.heads * shape.headDim)
        let samples = shape.queries * shape.heads * levelPoints.reduce(0, +)
        var locations = generator.floats(2 * samples, in: -0.2...1.2)
        // Locations the kernel must skip without converting them to integers.
        if locations.count > 4 {
            locations[1] = .nan
            locations[2] = 2e30
            locations[4] = -.infinity
        }
        let weights = generator.floats(samples, in: 0...1)
        let count = max(shape.queries * shape.heads * shape.headDim, 1)
        var expected = [Float](repeating: .nan, count: count)
        deformableAttentionReference(value: value, levelShapes: levelShapes, levelStarts: levelStarts, levels: shape.levels,
                                     heads: shape.heads, headDim: shape.headDim, levelPoints: levelPoints, queries: shape.queries,
                                     locations: locations, weights: weights, output: &expected)
        for pool in selfTestPools {
            var actual = [Float](repeating: .nan, count: count)
            deformableAttention(value: value, levelShapes: levelShapes, levelStarts: levelStarts, levels: shape.levels,
                                heads: shape.heads, headDim: shape.headDim, levelPoints: levelPoints, queries: shape.queries,
                                locations: locations, weights: weights, output: &actual, pool: pool)
            check.compare(expected, actual, shape: name) { _ in 0 }
        }
    }
    suite.report(check)
}

/// Nearest upsampling copies bytes: equal to its element-by-element reference for float32 and int8
/// elements, odd sizes and factors 1 to 3.
func checkUpsampleNearest(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "upsampleNearest")
    var check = KernelCheck("upsampleNearest", path: "memcpy rows", criterion: "exact")
    for (height, width, channels) in [(1, 1, 1), (3, 5, 1), (2, 7, 3), (5, 3, 17), (4, 4, 8)] {
        for elementSize in [1, 4] {
            for factor in 1...3 {
                let name = "\(height)x\(width)x\(channels) element \(elementSize) factor \(factor)"
                let input = generator.floats(height * width * channels * elementSize / 4 + 1, in: -100...100)
                let count = height * width * factor * factor * channels * elementSize / 4 + 1
                var expected = [Float](repeating: 0, count: count)
                var actual = [Float](repeating: 0, count: count)
                input.withUnsafeBytes { source in
                    expected.withUnsafeMutableBytes {
                        upsampleNearestReference(input: source.baseAddress!, height: height, width: width, channels: channels,
                                                 elementSize: elementSize, factor: factor, output: $0.baseAddress!)
                    }
                    actual.withUnsafeMutableBytes {
                        upsampleNearest(input: source.baseAddress!, height: height, width: width, channels: channels,
                                        elementSize: elementSize, factor: factor, output: $0.baseAddress!)
                    }
                }
                check.compare(expected, actual, shape: name) { _ in 0 }
            }
        }
    }
    suite.report(check)
}

/// Average pooling: the channel-vectorized kernel adds in the reference's order, so it is exact, at
/// every level, in ceil and floor mode, with padding, around the 8-lane vector.
func checkAveragePool(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "averagePool2d")
    var check = KernelCheck("averagePool2d", path: KernelDispatch.best == .scalar ? "scalar reference" : "simd over channels",
                            criterion: "exact")
    for channels in [1, 7, 8, 9, 17] {
        for (height, width) in [(1, 1), (5, 7), (8, 8)] {
            for (kernel, stride, padding) in [(2, 2, 0), (3, 2, 1), (3, 1, 1)] {
                for ceilMode in [false, true] {
                    let name = "\(height)x\(width)x\(channels) k\(kernel) s\(stride) p\(padding) ceil \(ceilMode)"
                    let count = poolingOutputLength(height, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
                        * poolingOutputLength(width, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode) * channels
                    let input = generator.floats(height * width * channels, in: -4...4)
                    var expected = [Float](repeating: .nan, count: max(count, 1))
                    averagePool2dReference(input: input, height: height, width: width, channels: channels, kernel: kernel,
                                           stride: stride, padding: padding, ceilMode: ceilMode, output: &expected)
                    for level in [KernelDispatch.best, .scalar] {
                        var actual = [Float](repeating: .nan, count: max(count, 1))
                        KernelDispatch.withLevel(level) {
                            averagePool2d(input: input, height: height, width: width, channels: channels, kernel: kernel,
                                          stride: stride, padding: padding, ceilMode: ceilMode, output: &actual)
                        }
                        check.compare(expected, actual, shape: name) { _ in 0 }
                    }
                }
            }
        }
    }
    suite.report(check)
}
