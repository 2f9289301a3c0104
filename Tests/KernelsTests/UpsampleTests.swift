import Kernels
import Testing

@Suite("Nearest upsampling")
struct UpsampleTests {
    /// A 2x2 map with one channel doubled: each value fills a 2x2 block.
    @Test func eachPixelFillsAFactorByFactorBlock() {
        let input: [Float] = [1, 2, 3, 4]
        var output = [Float](repeating: 0, count: 16)
        input.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { target in
                upsampleNearest(input: source.baseAddress!, height: 2, width: 2, channels: 1, elementSize: 4, factor: 2,
                                output: target.baseAddress!)
            }
        }
        #expect(output == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    /// The row-copying kernel equals the element-by-element definition byte for byte: odd sizes,
    /// one and many channels, int8 and float32 elements, factors 1 to 3, and empty maps.
    @Test(arguments: [(1, 1, 1), (3, 5, 1), (2, 7, 3), (5, 3, 17), (4, 4, 8), (0, 3, 2), (3, 0, 2)])
    func fastPathEqualsTheReference(_ size: (Int, Int, Int)) {
        let (height, width, channels) = size
        var generator = SplitMix64(seed: 11)
        for elementSize in [1, 4] {
            for factor in 1...3 {
                let inputBytes = max(height * width * channels * elementSize, 1)
                let outputBytes = max(height * width * factor * factor * channels * elementSize, 1)
                let input = (0..<inputBytes).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                var fast = [UInt8](repeating: 0xAA, count: outputBytes)
                var reference = [UInt8](repeating: 0xAA, count: outputBytes)
                input.withUnsafeBytes { source in
                    fast.withUnsafeMutableBytes {
                        upsampleNearest(input: source.baseAddress!, height: height, width: width, channels: channels,
                                        elementSize: elementSize, factor: factor, output: $0.baseAddress!)
                    }
                    reference.withUnsafeMutableBytes {
                        upsampleNearestReference(input: source.baseAddress!, height: height, width: width, channels: channels,
                                                 elementSize: elementSize, factor: factor, output: $0.baseAddress!)
                    }
                }
                #expect(fast == reference, "\(size), element \(elementSize) bytes, factor \(factor)")
            }
        }
    }
}
