import Testing
import Kernels

/// The depthwise convolution (HGNetV2, D-FINE): SIMD over channels equals the reference bit for bit on
/// channel counts around the 8-lane tile, every kernel size and stride D-FINE uses, and maps smaller
/// than the kernel; the reference equals a dense convolution with block-diagonal weights.
@Suite struct DepthwiseConv2DTests {
    @Test(arguments: [(1, 1, 0), (3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 2, 2), (2, 1, 0), (4, 3, 1)])
    func simdEqualsTheReferenceExactly(kernel: Int, stride: Int, padding: Int) {
        for (height, width, channels) in [(7, 9, 1), (5, 6, 7), (9, 4, 8), (6, 7, 9), (8, 8, 17), (2, 3, 13)] {
            var generator = SeededGenerator(seed: UInt64(kernel * 1000 + stride * 100 + channels))
            let input = randomFloats(height * width * channels, using: &generator)
            let weight = randomFloats(kernel * kernel * channels, using: &generator)
            let bias = randomFloats(channels, using: &generator)
            let outputHeight = convolutionOutputLength(height, kernel: kernel, stride: stride, padding: padding)
            let outputWidth = convolutionOutputLength(width, kernel: kernel, stride: stride, padding: padding)
            let count = outputHeight * outputWidth * channels
            for relu in [false, true] {
                var expected = [Float](repeating: .nan, count: count)
                depthwiseConv2dReference(input: input, height: height, width: width, channels: channels, weight: weight,
                                         bias: bias, kernel: kernel, stride: stride, padding: padding, relu: relu,
                                         output: &expected)
                #expect(!expected.contains { $0.isNaN })
                eachPool([nil, 1, 3]) { pool in
                    var actual = [Float](repeating: .nan, count: count)
                    depthwiseConv2d(input: input, height: height, width: width, channels: channels, weight: weight, bias: bias,
                                    kernel: kernel, stride: stride, padding: padding, relu: relu, output: &actual, pool: pool)
                    #expect(actual == expected, "\(height)x\(width)x\(channels) k\(kernel) s\(stride) p\(padding)")
                }
            }
        }
    }

    @Test func referenceEqualsADenseConvolutionWithBlockDiagonalWeights() {
        let (height, width, channels, kernel, stride, padding) = (7, 6, 5, 3, 2, 1)
        var generator = SeededGenerator(seed: 9)
        let input = randomFloats(height * width * channels, using: &generator)
        let weight = randomFloats(kernel * kernel * channels, using: &generator)
        let bias = randomFloats(channels, using: &generator)
        // PyTorch's [C, C, k, k], zero off the diagonal.
        var dense = [Float](repeating: 0, count: channels * channels * kernel * kernel)
        for channel in 0..<channels {
            for tap in 0..<(kernel * kernel) {
                dense[(channel * channels + channel) * kernel * kernel + tap] = weight[tap * channels + channel]
            }
        }
        let shape = Conv2DShape(inputHeight: height, inputWidth: width, inputChannels: channels, outputChannels: channels,
                                kernelHeight: kernel, kernelWidth: kernel, stride: stride, padding: padding)
        var expected = [Float](repeating: .nan, count: shape.outputHeight * shape.outputWidth * channels)
        conv2dReference(input: input, shape: shape, weights: dense, bias: bias, residual: nil, activation: .none, output: &expected)
        var actual = [Float](repeating: .nan, count: expected.count)
        depthwiseConv2dReference(input: input, height: height, width: width, channels: channels, weight: weight, bias: bias,
                                 kernel: kernel, stride: stride, padding: padding, relu: false, output: &actual)
        #expect(zip(actual, expected).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test func emptyAndTooSmallMapsWriteNothing() {
        var output: [Float] = [42]
        depthwiseConv2d(input: [1, 2], height: 1, width: 2, channels: 1, weight: Array(repeating: 1, count: 9), bias: [0],
                        kernel: 3, stride: 1, padding: 0, relu: false, output: &output, pool: nil)
        #expect(output == [42])
        #expect(convolutionOutputLength(1, kernel: 3, stride: 1, padding: 0) == 0)
        #expect(convolutionOutputLength(1, kernel: 3, stride: 2, padding: 1) == 1)
    }
}

/// HGNetV2's stem padding, D-FINE's LQE statistics, box decoding and clamp.
@Suite struct BoxDistributionKernelTests {
    @Test func padEqualsTheReferenceOnFloatAndInt8Maps() {
        var generator = SeededGenerator(seed: 3)
        let floats = randomFloats(3 * 4 * 5, using: &generator)
        for (top, left, bottom, right) in [(0, 0, 1, 1), (2, 1, 0, 3), (0, 0, 0, 0)] {
            let count = (3 + top + bottom) * (4 + left + right) * 5
            var expected = [Float](repeating: .nan, count: count), actual = expected
            pad2dReference(input: floats, height: 3, width: 4, channels: 5, elementSize: 4, top: top, left: left, bottom: bottom,
                           right: right, fill: 0, output: &expected)
            pad2d(input: floats, height: 3, width: 4, channels: 5, elementSize: 4, top: top, left: left, bottom: bottom,
                  right: right, fill: 0, output: &actual)
            #expect(actual == expected)
            #expect(expected.filter { $0 == 0 }.count == count - 60)
            let codes: [Int8] = (0..<60).map { Int8(truncatingIfNeeded: $0 * 7) }
            var expectedCodes = [Int8](repeating: 0, count: count), actualCodes = expectedCodes
            pad2dReference(input: codes, height: 3, width: 4, channels: 5, elementSize: 1, top: top, left: left, bottom: bottom,
                           right: right, fill: UInt8(bitPattern: -7), output: &expectedCodes)
            pad2d(input: codes, height: 3, width: 4, channels: 5, elementSize: 1, top: top, left: left, bottom: bottom,
                  right: right, fill: UInt8(bitPattern: -7), output: &actualCodes)
            #expect(actualCodes == expectedCodes)
            #expect(expectedCodes[0] == (top + left > 0 ? -7 : 0))
        }
    }

    @Test func topValuesAreTheSortedLargestAndTheirMean() {
        var generator = SeededGenerator(seed: 11)
        let (groups, groupSize) = (13, 9)
        let input = randomFloats(groups * groupSize, using: &generator)
        for count in [1, 4, 9] {
            var output = [Float](repeating: .nan, count: groups * (count + 1))
            topValuesWithMean(input, groups: groups, groupSize: groupSize, count: count, output: &output)
            for group in 0..<groups {
                let top = Array(input[group * groupSize..<(group + 1) * groupSize].sorted(by: >).prefix(count))
                let row = Array(output[group * (count + 1)..<(group + 1) * (count + 1)])
                #expect(Array(row.prefix(count)) == top)
                #expect(row[count] == top.reduce(0, +) / Float(count))
            }
        }
        // Ties and NaN (which PyTorch's topk ranks first).
        var output = [Float](repeating: 0, count: 3)
        topValuesWithMean([0.5, 0.25, 0.5, 0.125], groups: 1, groupSize: 4, count: 2, output: &output)
        #expect(output == [0.5, 0.5, 0.5])
        topValuesWithMean([0.5, .nan, 0.75], groups: 1, groupSize: 3, count: 2, output: &output)
        #expect(output[0].isNaN && output[1] == 0.75)
    }

    @Test func distancesDecodeToBoxes() {
        // Zero distances give the reference box itself (edges at 0.5 regScale x size / regScale).
        var output = [Float](repeating: .nan, count: 8)
        distanceToBox(reference: [0.5, 0.4, 0.2, 0.1, 0.3, 0.3, 0.4, 0.4], distances: [0, 0, 0, 0, 1, -1, 2, 0.5], rows: 2,
                      regScale: 4, output: &output)
        #expect(zip(output[0..<4], [0.5, 0.4, 0.2, 0.1]).allSatisfy { abs($0 - $1) < 1e-7 })
        // Left edge 0.3 - 3 x 0.1 = 0, right 0.3 + 4 x 0.1 = 0.7; top 0.3 - 1 x 0.1 = 0.2, bottom 0.3 + 2.5 x 0.1 = 0.55.
        #expect(zip(output[4..<8], [0.35, 0.375, 0.7, 0.35]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func groupWeightedSumDotsEachGroup() {
        var output = [Float](repeating: .nan, count: 3)
        groupWeightedSum([1, 2, 3, 0.5, 0.25, 0, -1, 4, 2], groups: 3, groupSize: 3, weights: [-2, 0, 2], output: &output)
        #expect(output == [4, -1, 6])
    }

    @Test func rmsNormScalesRowsToUnitRootMeanSquare() {
        var output = [Float](repeating: .nan, count: 4)
        rmsNorm(input: [3, 4, 1, 1], residual: [0, 0, 0, 0], rows: 2, columns: 2, gamma: [1, 2], epsilon: 0, output: &output)
        // Row 0: rms = sqrt(12.5); row 1: rms 1.
        let rms = Float(12.5).squareRoot()
        #expect(abs(output[0] - 3 / rms) < 1e-6 && abs(output[1] - 8 / rms) < 1e-6 && output[2] == 1 && output[3] == 2)
        var columns = [Float](repeating: .nan, count: 2)
        columnMeans([1, 2, 3, 4, 5, 9], rows: 3, columns: 2, output: &columns)
        #expect(columns == [3, 5])
    }

    @Test func clampBoundsEveryValueAndKeepsNaN() {
        var output = [Float](repeating: 0, count: 5)
        clamp([-20, -10, 3, 11, .nan], count: 5, minimum: -10, maximum: 10, output: &output)
        #expect(Array(output[0..<4]) == [-10, -10, 3, 10] && output[4].isNaN)
    }
}

/// The int8 depthwise convolution: every dispatch level equals the reference bit for bit (channel counts
/// around the 8-lane vector, kernels 1-5, strides 1-2, ReLU ranges, extreme zero points), and the
/// reference is within one output step of the float convolution on the dequantized values.
@Suite struct Int8DepthwiseConv2DTests {
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 2, 2), (1, 1, 0), (2, 1, 0)])
    func everyLevelEqualsTheReference(kernel: Int, stride: Int, padding: Int) {
        for (height, width, channels, inputZeroPoint, relu) in [(7, 9, 1, Int32(0), false), (5, 6, 7, -128, true), (9, 4, 8, 127, false),
                                                                 (6, 7, 9, 3, true), (8, 8, 33, -5, false), (2, 3, 13, 60, true)] {
            var generator = SeededGenerator(seed: UInt64(kernel * 1000 + stride * 100 + channels))
            let input = randomInt8(height * width * channels, using: &generator)
            let weight = randomInt8(kernel * kernel * channels, using: &generator).map { $0 == -128 ? -127 : $0 }
            let bias = (0..<channels).map { Int32($0 * 977 % 4001) - 2000 }
            let scales = randomFloats(channels, in: 0.0005...0.01, using: &generator)
            let range = Int8OutputRange(zeroPoint: -7, relu: relu)
            let count = convolutionOutputLength(height, kernel: kernel, stride: stride, padding: padding)
                * convolutionOutputLength(width, kernel: kernel, stride: stride, padding: padding) * channels
            var expected = [Int8](repeating: 0x55, count: count)
            int8DepthwiseConv2dReference(input: input, inputZeroPoint: inputZeroPoint, height: height, width: width, channels: channels,
                                         weight: weight, bias: bias, scales: scales, kernel: kernel, stride: stride, padding: padding,
                                         outputRange: range, output: &expected)
            if relu { #expect(expected.allSatisfy { $0 >= -7 }) }
            for level in int8Levels {
                eachPool([nil, 3]) { pool in
                    // Without the padded buffer (border pixels on the generic path) and with it (every pixel interior).
                    var padded = [Int8](repeating: 0x33, count: int8DepthwisePaddedBytes(height: height, width: width,
                                                                                         channels: channels, padding: padding))
                    for usePadded in [false, true] {
                        var actual = [Int8](repeating: 0x55, count: count)
                        KernelDispatch.withLevel(level) {
                            padded.withUnsafeMutableBufferPointer { buffer in
                                int8DepthwiseConv2d(input: input, inputZeroPoint: inputZeroPoint, height: height, width: width,
                                                    channels: channels, weight: weight, bias: bias, scales: scales, kernel: kernel,
                                                    stride: stride, padding: padding, outputRange: range, output: &actual,
                                                    padded: usePadded ? buffer.baseAddress : nil, pool: pool)
                            }
                        }
                        #expect(actual == expected, "\(level) \(height)x\(width)x\(channels) k\(kernel) s\(stride) padded \(usePadded)")
                    }
                }
            }
        }
    }

    @Test func referenceIsWithinOneStepOfTheFloatConvolution() {
        let (height, width, channels, kernel) = (6, 5, 11, 3)
        var generator = SeededGenerator(seed: 21)
        let input = randomInt8(height * width * channels, using: &generator)
        let weight = randomInt8(kernel * kernel * channels, using: &generator).map { $0 == -128 ? -127 : $0 }
        let bias = (0..<channels).map { Int32($0 * 31) - 150 }
        let (inputScale, inputZeroPoint, outputScale, outputZeroPoint) = (Float(0.02), Int32(9), Float(0.5), Int32(-3))
        let weightScales = (0..<channels).map { Float(0.001) * Float($0 + 1) }
        let scales = weightScales.map { inputScale * $0 / outputScale }
        var codes = [Int8](repeating: 0, count: height * width * channels)
        int8DepthwiseConv2dReference(input: input, inputZeroPoint: inputZeroPoint, height: height, width: width, channels: channels,
                                     weight: weight, bias: bias, scales: scales, kernel: kernel, stride: 1, padding: 1,
                                     outputRange: Int8OutputRange(zeroPoint: outputZeroPoint), output: &codes)
        let realInput = input.map { Float(Int32($0) - inputZeroPoint) * inputScale }
        var realWeight = [Float](repeating: 0, count: weight.count)
        for (index, value) in weight.enumerated() { realWeight[index] = Float(value) * weightScales[index % channels] }
        let realBias = (0..<channels).map { Float(bias[$0]) * inputScale * weightScales[$0] }
        var real = [Float](repeating: 0, count: codes.count)
        depthwiseConv2dReference(input: realInput, height: height, width: width, channels: channels, weight: realWeight, bias: realBias,
                                 kernel: kernel, stride: 1, padding: 1, relu: false, output: &real)
        for (code, value) in zip(codes, real) {
            #expect(abs(Float(Int32(code) - outputZeroPoint) * outputScale - value) <= outputScale * 0.5001)
        }
    }
}
