import Testing
import Kernels

@Suite struct ElementwiseTests {
    @Test func softmaxNormalizesEachGroup() {
        var data: [Float] = [0, 0, 1000, 1000, 1, 2, 3, -5]
        softmax(&data, groups: 2, groupSize: 4)
        #expect(data[0] == 0 && data[1] == 0 && data[2] == 0.5 && data[3] == 0.5)
        let sum = data[4] + data[5] + data[6] + data[7]
        #expect(abs(sum - 1) <= 1e-6)
        #expect(abs(data[6] / data[5] - Float(M_E_VALUE)) <= 1e-5)
    }

    @Test func sigmoidReluPrelu() {
        var values: [Float] = [0, 100, -100, 2]
        sigmoid(&values, count: 4)
        #expect(values[0] == 0.5 && values[1] == 1 && values[2] < 1e-40)
        #expect(abs(values[3] - 1 / (1 + 0.135_335_28)) <= 1e-6)
        var mixed: [Float] = [-1, 2, -3, 0]
        relu(&mixed, count: 4)
        #expect(mixed == [0, 2, 0, 0])
        var perChannel: [Float] = [-1, -1, 4, -2]
        prelu(&perChannel, count: 4, alpha: [0.5, 0.25], channels: 2)
        #expect(perChannel == [-0.5, -0.25, 4, -0.5])
        var shared: [Float] = [-4, 3]
        prelu(&shared, count: 2, alpha: [0.25], channels: 1)
        #expect(shared == [-1, 3])
    }

    @Test func maxPoolPadsWithMinusInfinity() {
        // 2x2 map, 2 channels, all negative: padding must never win.
        let input: [Float] = [-1, -10, -2, -20, -3, -30, -4, -40]
        var output = [Float](repeating: 0, count: 2 * 2 * 2)
        maxPool2d(input: input, height: 2, width: 2, channels: 2, kernel: 3, stride: 2, padding: 1, output: &output)
        // (2 + 2 - 3) / 2 + 1 = 1 output per axis.
        #expect(output[0] == -1 && output[1] == -10)
        var strided = [Float](repeating: 0, count: 4)
        maxPool2d(input: [1, 5, 3, 2, 0, 9, 4, 6, 7], height: 3, width: 3, channels: 1, kernel: 2, stride: 1, padding: 0,
                  output: &strided)
        #expect(strided == [5, 9, 6, 9])
    }

    @Test func layerNormWithResidualInPlace() {
        var data: [Float] = [1, 2, 3, 4, 10, 10, 10, 10]
        let residual: [Float] = [1, 0, -1, 0, 0, 0, 0, 0]
        let gamma: [Float] = [1, 1, 2, 1]
        let beta: [Float] = [0, 0, 0, 1]
        data.withUnsafeMutableBufferPointer { buffer in
            layerNorm(input: buffer.baseAddress!, residual: residual, rows: 2, columns: 4, gamma: gamma, beta: beta,
                      epsilon: 1e-5, output: buffer.baseAddress!)
        }
        // Row 0 becomes [2, 2, 2, 4]: mean 2.5, variance 0.75.
        let deviation = (0.75 + 1e-5 as Float).squareRoot()
        #expect(abs(data[0] - -0.5 / deviation) <= 1e-5)
        #expect(abs(data[2] - -1.0 / deviation) <= 1e-5)
        #expect(abs(data[3] - (1.5 / deviation + 1)) <= 1e-5)
        // A constant row normalizes to beta.
        #expect(data[4] == 0 && data[7] == 1)
    }

    @Test func groupNormUsesEveryPixelOfTheGroup() {
        // 2 pixels, 4 channels, 2 groups of 2 channels.
        let input: [Float] = [1, 3, 5, 5, 3, 1, 7, 7]
        var output = [Float](repeating: 0, count: 8)
        groupNorm(input: input, pixels: 2, channels: 4, groups: 2, gamma: [1, 1, 1, 1], beta: [0, 0, 0, 0.5],
                  epsilon: 0, output: &output)
        // Group 0: {1, 3, 3, 1}, mean 2, variance 1. Group 1: {5, 5, 7, 7}, mean 6, variance 1.
        #expect(output == [-1, 1, -1, -0.5, 1, -1, 1, 1.5])
    }
}

private let M_E_VALUE = 2.718_281_828_459_045
