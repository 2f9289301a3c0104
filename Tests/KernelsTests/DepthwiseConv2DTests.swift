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

    @Test func clampBoundsEveryValueAndKeepsNaN() {
        var output = [Float](repeating: 0, count: 5)
        clamp([-20, -10, 3, 11, .nan], count: 5, minimum: -10, maximum: 10, output: &output)
        #expect(Array(output[0..<4]) == [-10, -10, 3, 10] && output[4].isNaN)
    }
}
