import Testing
import Kernels

@Suite struct Int8Conv2DTests {
    /// ResNet's shapes, shrunk: 7x7/2 stem, 3x3 s1 and s2, 1x1 s1 and s2, odd sizes and channel counts.
    static let shapes: [Conv2DShape] = [
        Conv2DShape(inputHeight: 11, inputWidth: 9, inputChannels: 3, outputChannels: 8, kernelHeight: 7, kernelWidth: 7, stride: 2, padding: 3),
        Conv2DShape(inputHeight: 6, inputWidth: 7, inputChannels: 5, outputChannels: 17, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Conv2DShape(inputHeight: 7, inputWidth: 6, inputChannels: 16, outputChannels: 16, kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        Conv2DShape(inputHeight: 5, inputWidth: 5, inputChannels: 33, outputChannels: 9, kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
        Conv2DShape(inputHeight: 7, inputWidth: 7, inputChannels: 12, outputChannels: 20, kernelHeight: 1, kernelWidth: 1, stride: 2, padding: 0),
        Conv2DShape(inputHeight: 1, inputWidth: 1, inputChannels: 4, outputChannels: 3, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        // Interior patches staged a kernel row a run: 120-byte runs (a 64-byte step and a tail), 64-byte runs (no tail).
        Conv2DShape(inputHeight: 6, inputWidth: 5, inputChannels: 40, outputChannels: 33, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Conv2DShape(inputHeight: 5, inputWidth: 6, inputChannels: 32, outputChannels: 16, kernelHeight: 2, kernelWidth: 2, stride: 1, padding: 0),
    ]

    @Test(arguments: shapes)
    func everyLayoutAndLevelEqualsTheReference(shape: Conv2DShape) {
        var generator = SeededGenerator(seed: UInt64(shape.inputChannels * 1000 + shape.outputChannels * 10 + shape.kernelHeight))
        let input = randomInt8(shape.inputHeight * shape.inputWidth * shape.inputChannels, using: &generator)
        let weights = randomInt8(shape.outputChannels * shape.inputChannels * shape.kernelHeight * shape.kernelWidth, using: &generator)
        let bias = (0..<shape.outputChannels).map { _ in Int32.random(in: -9000...9000, using: &generator) }
        let depth = Float(shape.inputChannels * shape.kernelHeight * shape.kernelWidth)
        let scales = (0..<shape.outputChannels).map { _ in Float.random(in: 0.3...2, using: &generator) / (depth.squareRoot() * 60) }
        let count = shape.outputHeight * shape.outputWidth * shape.outputChannels
        let residualValues = randomInt8(count, using: &generator)
        let zeroPoint: Int32 = 37  // padding must read 37, not 0
        let residual = residualValues.withUnsafeBufferPointer {
            Int8Residual(values: $0.baseAddress!, stride: shape.outputChannels, zeroPoint: 4, scale: 0.5)
        }
        for withResidual in [false, true] {
            let range = Int8OutputRange(zeroPoint: -7, relu: withResidual)
            var expected = [Int8](repeating: 0x55, count: count)
            expected.withUnsafeMutableBufferPointer { destination in
                int8Conv2dReference(input: input, shape: shape, inputZeroPoint: zeroPoint, weights: weights, bias: bias,
                                    scales: scales, residual: withResidual ? residual : nil,
                                    output: .int8(destination.baseAddress!, range))
            }
            for layout in Int8WeightLayout.allCases {
                let packed = PackedInt8Conv2DWeights(weights: weights, shape: shape, bias: bias, scales: scales,
                                                     inputZeroPoint: zeroPoint, layout: layout)
                for level in int8Levels {
                    eachPool([nil, 3]) { pool in
                        var actual = [Int8](repeating: 0x55, count: count)
                        KernelDispatch.withLevel(level) {
                            actual.withUnsafeMutableBufferPointer { destination in
                                int8Conv2d(input: input, weights: packed, residual: withResidual ? residual : nil,
                                           output: .int8(destination.baseAddress!, range), pool: pool)
                            }
                        }
                        #expect(actual == expected, "\(layout) \(level) residual \(withResidual)")
                    }
                }
            }
        }
    }

    /// Dequantized int8 convolution against the float reference: within one output step plus
    /// the input and weight rounding (bounded here by 3 output steps).
    @Test func tracksTheFloatConvolution() {
        let shape = Self.shapes[1]
        var generator = SeededGenerator(seed: 99)
        let input = randomFloats(shape.inputHeight * shape.inputWidth * shape.inputChannels, in: 0...2, using: &generator)
        let weights = randomFloats(shape.outputChannels * shape.inputChannels * 9, in: -0.5...0.5, using: &generator)
        let count = shape.outputHeight * shape.outputWidth * shape.outputChannels
        var expected = [Float](repeating: 0, count: count)
        conv2dReference(input: input, shape: shape, weights: weights, bias: nil, residual: nil, activation: .none, output: &expected)
        let inputQuantization = Int8Quantization.covering(minimum: 0, maximum: 2)
        let outputQuantization = Int8Quantization.covering(minimum: expected.min()!, maximum: expected.max()!)
        var quantizedWeights = [Int8](repeating: 0, count: weights.count)
        var weightScales = [Float](repeating: 0, count: shape.outputChannels)
        quantizeWeightsPerChannel(weights, outputs: shape.outputChannels, inputs: shape.inputChannels * 9,
                                  quantized: &quantizedWeights, scales: &weightScales)
        let scales = weightScales.map { $0 * inputQuantization.scale / outputQuantization.scale }
        let packed = PackedInt8Conv2DWeights(weights: quantizedWeights, shape: shape, bias: nil, scales: scales,
                                             inputZeroPoint: inputQuantization.zeroPoint, layout: .native)
        let quantizedInput = input.map { inputQuantization.quantize($0) }
        var actual = [Int8](repeating: 0, count: count)
        actual.withUnsafeMutableBufferPointer { destination in
            int8Conv2d(input: quantizedInput, weights: packed, residual: nil,
                       output: .int8(destination.baseAddress!, Int8OutputRange(zeroPoint: outputQuantization.zeroPoint)), pool: nil)
        }
        let worst = zip(actual, expected).map { abs(outputQuantization.dequantize($0) - $1) }.max()!
        #expect(worst <= 3 * outputQuantization.scale)
    }

    @Test func maxPoolEqualsTheReference() {
        var generator = SeededGenerator(seed: 5)
        for (height, width, channels) in [(9, 7, 21), (4, 4, 64), (1, 1, 3)] {
            let input = randomInt8(height * width * channels, using: &generator)
            let outputHeight = (height + 2 - 3) / 2 + 1, outputWidth = (width + 2 - 3) / 2 + 1
            var expected = [Int8](repeating: 0, count: outputHeight * outputWidth * channels)
            int8MaxPool2dReference(input: input, height: height, width: width, channels: channels, kernel: 3, stride: 2,
                                   padding: 1, output: &expected)
            eachPool([nil, 2]) { pool in
                var actual = [Int8](repeating: 0x55, count: expected.count)
                int8MaxPool2d(input: input, height: height, width: width, channels: channels, kernel: 3, stride: 2,
                              padding: 1, output: &actual, pool: pool)
                #expect(actual == expected)
            }
        }
    }
}
