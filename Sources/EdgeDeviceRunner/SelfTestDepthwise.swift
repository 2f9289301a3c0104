import Kernels

// The depthwise convolutions (DepthwiseConv2D.swift, Int8DepthwiseConv2D.swift: HGNetV2's light blocks and
// downsampling, D-FINE's SCDown): the float kernel adds in the reference's order and the int8 kernel
// accumulates exact integers, so both equal their references bit for bit, at every dispatch level and pool
// size, on channel counts around the 8-lane vector, every kernel size and stride D-FINE uses, and maps
// smaller than the kernel.

func checkDepthwiseConvolution(_ suite: inout SelfTestSuite) {
    var generator = suite.generator(for: "depthwiseConv2d")
    var float = KernelCheck("depthwiseConv2d", path: simd8Path, criterion: "exact, every level and pool")
    var int8 = KernelCheck("int8DepthwiseConv2d", path: simd8Path, criterion: "exact, every level and pool")
    let levels: [KernelLevel] = [.scalar, .simd, .avx2]
    var shapes = [(1, 1, 1, 3, 1, 1), (5, 6, 7, 3, 2, 1), (9, 4, 8, 5, 1, 2), (6, 7, 9, 5, 2, 2), (8, 8, 33, 3, 1, 1), (2, 2, 16, 5, 1, 2)]
    for _ in 0..<4 {
        let kernel = [1, 3, 5][generator.int(in: 0...2)]
        shapes.append((generator.int(in: 1...12), generator.int(in: 1...12), generator.int(in: 1...40), kernel,
                       generator.int(in: 1...2), kernel / 2))
    }
    for (number, (height, width, channels, kernel, stride, padding)) in shapes.enumerated() {
        let outputs = convolutionOutputLength(height, kernel: kernel, stride: stride, padding: padding)
            * convolutionOutputLength(width, kernel: kernel, stride: stride, padding: padding) * channels
        let relu = number % 2 == 1
        let name = "\(height)x\(width)x\(channels) k\(kernel) s\(stride) p\(padding) relu \(relu)"
        let input = generator.floats(height * width * channels, in: -2...2)
        let weight = generator.floats(kernel * kernel * channels)
        let bias = generator.floats(channels)
        var expected = [Float](repeating: .nan, count: max(outputs, 1))
        depthwiseConv2dReference(input: input, height: height, width: width, channels: channels, weight: weight, bias: bias,
                                 kernel: kernel, stride: stride, padding: padding, relu: relu, output: &expected)
        for level in levels {
            for pool in selfTestPools {
                var actual = [Float](repeating: .nan, count: expected.count)
                KernelDispatch.withLevel(level) {
                    depthwiseConv2d(input: input, height: height, width: width, channels: channels, weight: weight, bias: bias,
                                    kernel: kernel, stride: stride, padding: padding, relu: relu, output: &actual, pool: pool)
                }
                float.compare(expected, actual, shape: "\(name), \(level.name)") { _ in 0 }
            }
        }

        let codes = saturatedInt8Values(height * width * channels, &generator)
        let weights = saturatedInt8Values(kernel * kernel * channels, &generator).map { $0 == -128 ? -127 : $0 }
        let biases = (0..<channels).map { _ in Int32(generator.int(in: 0...8000)) - 4000 }
        let scales = generator.floats(channels, in: 0.0001...0.02)
        let inputZeroPoint: Int32 = [-128, 127, 0, 17][number % 4]
        let range = Int8OutputRange(zeroPoint: [5, -128, 127, -9][number % 4], relu: relu)
        var expectedCodes = [Int8](repeating: 0x55, count: max(outputs, 1))
        int8DepthwiseConv2dReference(input: codes, inputZeroPoint: inputZeroPoint, height: height, width: width, channels: channels,
                                     weight: weights, bias: biases, scales: scales, kernel: kernel, stride: stride, padding: padding,
                                     outputRange: range, output: &expectedCodes)
        int8.compareExactlyAtEveryLevel(expectedCodes, levels: levels, shape: name) { actual, pool in
            int8DepthwiseConv2d(input: codes, inputZeroPoint: inputZeroPoint, height: height, width: width, channels: channels,
                                weight: weights, bias: biases, scales: scales, kernel: kernel, stride: stride, padding: padding,
                                outputRange: range, output: &actual, pool: pool)
        }
    }
    suite.report(float)
    suite.report(int8)
}
