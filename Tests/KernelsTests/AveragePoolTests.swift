import Foundation
import Kernels
import Testing

@Suite("Average pooling")
struct AveragePoolTests {
    private struct Golden: Decodable {
        struct Case: Decodable {
            let kernel: Int, stride: Int, padding: Int
            let ceil_mode: Bool
            let input_shape: [Int], input: [Double]
            let output_shape: [Int], output: [Double]
        }
        let torch: String
        let cases: [Case]
    }

    private static func run(_ pool: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void, input: [Float], outputCount: Int) -> [Float] {
        var output = [Float](repeating: .nan, count: max(outputCount, 1))
        input.withUnsafeBufferPointer { source in output.withUnsafeMutableBufferPointer { pool(source.baseAddress!, $0.baseAddress!) } }
        return output
    }

    /// PyTorch's AvgPool2d on the committed cases (Calibration/oracle/make_pool_fixtures.py): same
    /// output shape, same float32 bits, on the fast path and on the reference.
    @Test func equalsPyTorchBitForBit() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pool/average_pool.json")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        #expect(golden.cases.count == 7)
        for (number, c) in golden.cases.enumerated() {
            let (height, width, channels) = (c.input_shape[0], c.input_shape[1], c.input_shape[2])
            let shape = [poolingOutputLength(height, kernel: c.kernel, stride: c.stride, padding: c.padding, ceilMode: c.ceil_mode),
                         poolingOutputLength(width, kernel: c.kernel, stride: c.stride, padding: c.padding, ceilMode: c.ceil_mode),
                         channels]
            #expect(shape == c.output_shape, "case \(number)")
            let input = c.input.map { Float($0) }
            let expected = c.output.map { Float($0) }
            for reference in [false, true] {
                let actual = Self.run({ x, y in
                    if reference {
                        averagePool2dReference(input: x, height: height, width: width, channels: channels, kernel: c.kernel,
                                               stride: c.stride, padding: c.padding, ceilMode: c.ceil_mode, output: y)
                    } else {
                        averagePool2d(input: x, height: height, width: width, channels: channels, kernel: c.kernel,
                                      stride: c.stride, padding: c.padding, ceilMode: c.ceil_mode, output: y)
                    }
                }, input: input, outputCount: expected.count)
                #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern), "case \(number), reference \(reference)")
            }
        }
    }

    /// The channel-vectorized kernel adds in the reference's order: equal bits for channel counts
    /// around the 8-lane vector (1, 7, 8, 9, 17), odd sizes, both modes, padding, forced scalar too.
    @Test(arguments: [1, 7, 8, 9, 17])
    func fastPathEqualsTheReference(channels: Int) {
        var generator = SplitMix64(seed: UInt64(channels))
        for (height, width) in [(1, 1), (2, 3), (5, 7), (8, 8)] {
            for (kernel, stride, padding) in [(1, 1, 0), (2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 1)] {
                for ceilMode in [false, true] {
                    let outputHeight = poolingOutputLength(height, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
                    let outputWidth = poolingOutputLength(width, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
                    let count = outputHeight * outputWidth * channels
                    let input = randomFloats(height * width * channels, in: -4...4, using: &generator)
                    let expected = Self.run({
                        averagePool2dReference(input: $0, height: height, width: width, channels: channels, kernel: kernel,
                                               stride: stride, padding: padding, ceilMode: ceilMode, output: $1)
                    }, input: input, outputCount: count)
                    for level in [KernelDispatch.best, .scalar] {
                        let actual = KernelDispatch.withLevel(level) {
                            Self.run({
                                averagePool2d(input: $0, height: height, width: width, channels: channels, kernel: kernel,
                                              stride: stride, padding: padding, ceilMode: ceilMode, output: $1)
                            }, input: input, outputCount: count)
                        }
                        #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern),
                                "\(height)x\(width)x\(channels) k\(kernel) s\(stride) p\(padding) ceil \(ceilMode) \(level)")
                    }
                }
            }
        }
    }

    /// PyTorch's output lengths, including ceil mode's dropped last window.
    @Test func outputLengthsFollowPyTorch() {
        #expect(poolingOutputLength(5, kernel: 2, stride: 2, padding: 0, ceilMode: true) == 3)
        #expect(poolingOutputLength(5, kernel: 2, stride: 2, padding: 0, ceilMode: false) == 2)
        #expect(poolingOutputLength(4, kernel: 2, stride: 2, padding: 0, ceilMode: true) == 2)
        #expect(poolingOutputLength(6, kernel: 3, stride: 3, padding: 1, ceilMode: true) == 3)
        // ceil((5 + 2 - 2) / 2) + 1 = 4, but the 4th window would start at 6 >= 5 + 1: dropped.
        #expect(poolingOutputLength(5, kernel: 2, stride: 2, padding: 1, ceilMode: true) == 3)
        #expect(poolingOutputLength(1, kernel: 2, stride: 2, padding: 0, ceilMode: true) == 1)
        #expect(poolingOutputLength(1, kernel: 2, stride: 2, padding: 0, ceilMode: false) == 0)
        #expect(poolingOutputLength(1, kernel: 3, stride: 2, padding: 0, ceilMode: true) == 0)
        #expect(poolingOutputLength(2, kernel: 2, stride: 2, padding: 0, ceilMode: true) == 1)
    }
}
