import Testing
import Kernels

/// Fast conv2d against the scalar reference. They sum the same K = kH·kW·inCh products in
/// different orders, so each output must agree within 2·K·ε·Σ|x·w| (plus bias and residual).
@Suite struct Conv2DTests {
    static let shapes: [Conv2DShape] = [
        // ResNet stem in miniature: 7x7, stride 2, padding 3, 3 input channels.
        Conv2DShape(inputHeight: 11, inputWidth: 9, inputChannels: 3, outputChannels: 20,
                    kernelHeight: 7, kernelWidth: 7, stride: 2, padding: 3),
        Conv2DShape(inputHeight: 6, inputWidth: 7, inputChannels: 5, outputChannels: 17,
                    kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Conv2DShape(inputHeight: 8, inputWidth: 5, inputChannels: 16, outputChannels: 32,
                    kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        Conv2DShape(inputHeight: 7, inputWidth: 7, inputChannels: 9, outputChannels: 33,
                    kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
        Conv2DShape(inputHeight: 9, inputWidth: 6, inputChannels: 8, outputChannels: 5,
                    kernelHeight: 1, kernelWidth: 1, stride: 2, padding: 0),
        Conv2DShape(inputHeight: 1, inputWidth: 1, inputChannels: 4, outputChannels: 3,
                    kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Conv2DShape(inputHeight: 5, inputWidth: 4, inputChannels: 2, outputChannels: 6,
                    kernelHeight: 2, kernelWidth: 3, stride: 1, padding: 0),
    ]

    @Test(arguments: shapes)
    func fastMatchesReference(_ shape: Conv2DShape) {
        var generator = SeededGenerator(seed: UInt64(shape.inputChannels * 131 + shape.outputChannels))
        let outputCount = shape.outputHeight * shape.outputWidth * shape.outputChannels
        let input = randomFloats(shape.inputHeight * shape.inputWidth * shape.inputChannels, using: &generator)
        let weights = randomFloats(shape.outputChannels * shape.inputChannels * shape.kernelHeight * shape.kernelWidth,
                                   using: &generator)
        let bias = randomFloats(shape.outputChannels, using: &generator)
        let residual = randomFloats(outputCount, using: &generator)
        let packed = PackedConv2DWeights(weights: weights, shape: shape)
        #expect(packed.shape == shape)
        var expected = [Float](repeating: 0, count: outputCount)
        conv2dReference(input: input, shape: shape, weights: weights, bias: bias, residual: residual,
                        activation: .relu, output: &expected)
        var results: [[Float]] = []
        eachPool([nil, 1, 3]) { pool in
            var actual = [Float](repeating: .nan, count: outputCount)
            conv2d(input: input, weights: packed, bias: bias, residual: residual, activation: .relu,
                   output: &actual, scratch: nil, pool: pool)
            results.append(actual)
        }
        #expect(results[0] == results[1] && results[0] == results[2], "result depends on the thread count")
        let depth = shape.inputChannels * shape.kernelHeight * shape.kernelWidth
        // |x|, |w| <= 1, so Σ|x·w| <= depth.
        let bound = 2 * Float(depth + 2) * Float.ulpOfOne * Float(depth + 2)
        for index in 0..<outputCount {
            #expect(abs(results[0][index] - expected[index]) <= bound, "\(shape) element \(index)")
        }
    }

    @Test func outputSizeFollowsPyTorchFloorRule() {
        let stem = Conv2DShape(inputHeight: 800, inputWidth: 1066, inputChannels: 3, outputChannels: 64,
                               kernelHeight: 7, kernelWidth: 7, stride: 2, padding: 3)
        #expect(stem.outputHeight == 400 && stem.outputWidth == 533)
        let tooSmall = Conv2DShape(inputHeight: 2, inputWidth: 2, inputChannels: 1, outputChannels: 1,
                                   kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0)
        #expect(tooSmall.outputHeight == 0)
        var output: [Float] = [7]
        conv2d(input: [1, 2, 3, 4], weights: PackedConv2DWeights(weights: [Float](repeating: 1, count: 9), shape: tooSmall),
               bias: nil, residual: nil, activation: .none, output: &output, scratch: nil, pool: nil)
        #expect(output == [7])
    }

    @Test func knownValuesWithPadding() {
        // 2x2 single-channel map, 3x3 all-ones kernel, padding 1: each output sums the whole map.
        let shape = Conv2DShape(inputHeight: 2, inputWidth: 2, inputChannels: 1, outputChannels: 1,
                                kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1)
        var output = [Float](repeating: 0, count: 4)
        conv2d(input: [1, 2, 3, 4], weights: PackedConv2DWeights(weights: [Float](repeating: 1, count: 9), shape: shape),
               bias: [0.5], residual: nil, activation: .none, output: &output, scratch: nil, pool: nil)
        #expect(output == [10.5, 10.5, 10.5, 10.5])
    }
}
