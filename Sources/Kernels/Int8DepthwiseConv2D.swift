#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

/// Int8 depthwise convolution over an HWC map: for each output pixel and channel c,
///
///     acc = bias[c] + sum over the taps on the map of (x - inputZeroPoint) * w[tap, c]
///     out = requantize(accumulator: acc, scale: scales[c], outputRange)
///
/// with weights `[k, k, channels]` tap-major, symmetric per channel (zero point 0), the bias at scale
/// s_in * s_w[c] and scales[c] = s_in * s_w[c] / s_out (docs/QUANTIZATION.md). Taps on the zero padding
/// are skipped: the padding is real 0, the input's zero point, and adds (zp - zp) * w = 0. A fused ReLU is
/// `outputRange.minimum = zero point`.
///
/// The accumulators are exact int32 (|acc| <= 255 * 127 * k^2 + |bias|), so the order of the sum does not
/// matter; the SIMD8 path (over channels, split over output rows on `pool`) then requantizes with the
/// scalar rule's operations and equals `int8DepthwiseConv2dReference` bit for bit. On AVX2 the pixels whose
/// taps all lie on the map take `int8DepthwiseInteriorAVX2` (vpmaddwd on tap pairs, whole 8-channel blocks),
/// equal to the reference too. Given `padded` (`int8DepthwisePaddedBytes`), the map is first copied into it
/// with a border of the zero point, so that every pixel is interior: a padding tap is real 0 and adds
/// (zp - zp) * w = 0, as the skipped tap does (small maps with 5x5 kernels are mostly border).
public func int8DepthwiseConv2d(input: UnsafePointer<Int8>, inputZeroPoint: Int32, height: Int, width: Int, channels: Int,
                                weight: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
                                kernel: Int, stride: Int, padding: Int, outputRange: Int8OutputRange,
                                output: UnsafeMutablePointer<Int8>, padded: UnsafeMutablePointer<Int8>? = nil, pool: ThreadPool?) {
    var geometry = DepthwiseGeometry(height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                                     padding: padding)
    guard geometry.outputHeight > 0, geometry.outputWidth > 0, channels > 0 else { return }
    let level = KernelDispatch.current
    if level == .scalar {
        int8DepthwiseConv2dReference(input: input, inputZeroPoint: inputZeroPoint, height: height, width: width,
                                     channels: channels, weight: weight, bias: bias, scales: scales, kernel: kernel,
                                     stride: stride, padding: padding, outputRange: outputRange, output: output)
        return
    }
    var source = input
    // The copy costs a pass over the map: worth it where the border pixels (the generic path) are over a tenth.
    let interior = geometry.interiorRows * geometry.interiorColumns
    if let padded, padding > 0, level >= .avx2, channels >= 8, 10 * interior < 9 * geometry.outputHeight * geometry.outputWidth {
        pad2d(input: input, height: height, width: width, channels: channels, elementSize: 1, top: padding, left: padding,
              bottom: padding, right: padding, fill: UInt8(bitPattern: Int8(truncatingIfNeeded: inputZeroPoint)), output: padded)
        source = UnsafePointer(padded)
        geometry = DepthwiseGeometry(height: height + 2 * padding, width: width + 2 * padding, channels: channels, kernel: kernel,
                                     stride: stride, padding: 0)
    }
    let input = source
    runTasks(geometry.outputHeight, pool: pool,
             Int8DepthwiseConv2DJob(geometry: geometry, input: input, inputZeroPoint: inputZeroPoint, weight: weight, bias: bias,
                                    scales: scales, outputRange: outputRange, output: output, level: level))
}

/// Bytes of the `padded` buffer `int8DepthwiseConv2d` takes: the map with its padding on every side.
public func int8DepthwisePaddedBytes(height: Int, width: Int, channels: Int, padding: Int) -> Int {
    (height + 2 * padding) * (width + 2 * padding) * channels
}

/// `int8DepthwiseConv2d`'s definition, one output element at a time.
public func int8DepthwiseConv2dReference(input: UnsafePointer<Int8>, inputZeroPoint: Int32, height: Int, width: Int,
                                         channels: Int, weight: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                                         scales: UnsafePointer<Float>, kernel: Int, stride: Int, padding: Int,
                                         outputRange: Int8OutputRange, output: UnsafeMutablePointer<Int8>) {
    let geometry = DepthwiseGeometry(height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                                     padding: padding)
    guard channels > 0 else { return }
    for outputY in 0..<geometry.outputHeight {
        for outputX in 0..<geometry.outputWidth {
            for channel in 0..<channels {
                var accumulator = bias[channel]
                geometry.forEachTap(outputY, outputX) { pixel, tap in
                    accumulator &+= (Int32(input[pixel * channels + channel]) - inputZeroPoint) * Int32(weight[tap * channels + channel])
                }
                output[(outputY * geometry.outputWidth + outputX) * channels + channel] =
                    requantize(accumulator: accumulator, scale: scales[channel], outputRange)
            }
        }
    }
}

/// One output row of `int8DepthwiseConv2d` per task.
private struct Int8DepthwiseConv2DJob: ParallelJob {
    let geometry: DepthwiseGeometry
    let input: UnsafePointer<Int8>, inputZeroPoint: Int32
    let weight: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>
    let outputRange: Int8OutputRange
    let output: UnsafeMutablePointer<Int8>
    let level: KernelLevel

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8DepthwiseConv2DJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task outputY: Int, thread: Int) {
        let g = geometry
        #if arch(x86_64) && canImport(KernelsAVX2)
        let top = outputY * g.stride - g.padding
        if level >= .avx2, g.channels >= 8, top >= 0, top + g.kernel <= g.height {
            // Columns whose taps all lie on the map: x * stride - padding >= 0 and ... + kernel <= width.
            let first = min((g.padding + g.stride - 1) / g.stride, g.outputWidth)
            let end = g.width - g.kernel + g.padding >= 0 ? min((g.width - g.kernel + g.padding) / g.stride + 1, g.outputWidth) : 0
            let blocks = g.channels / 8 * 8
            for outputX in 0..<first { pixel(outputY, outputX, from: 0) }
            if end > first {
                int8DepthwiseInteriorAVX2(
                    firstTap: input + (top * g.width + first * g.stride - g.padding) * g.channels, pixels: end - first,
                    pixelStride: g.stride * g.channels, rowStride: g.width * g.channels, channels: g.channels, kernel: g.kernel,
                    weight: weight, bias: bias, inputZeroPoint: inputZeroPoint, scales: scales, lower: outputRange.lowerBound,
                    upper: outputRange.upperBound, outputZeroPoint: outputRange.zeroPoint,
                    output: output + (outputY * g.outputWidth + first) * g.channels)
                if blocks < g.channels {
                    for outputX in first..<end { pixel(outputY, outputX, from: blocks) }
                }
            }
            for outputX in max(end, first)..<g.outputWidth { pixel(outputY, outputX, from: 0) }
            return
        }
        #endif
        for outputX in 0..<g.outputWidth { pixel(outputY, outputX, from: 0) }
    }

    /// One output pixel's channels from `firstChannel` on, eight at a time.
    @inline(__always)
    private func pixel(_ outputY: Int, _ outputX: Int, from firstChannel: Int) {
        let channels = geometry.channels
        let zeroPoint = SIMD8<Int32>(repeating: inputZeroPoint)
        let lower = SIMD8<Float>(repeating: outputRange.lowerBound), upper = SIMD8<Float>(repeating: outputRange.upperBound)
        let outputZeroPoint = SIMD8<Int32>(repeating: outputRange.zeroPoint)
        let destination = output + (outputY * geometry.outputWidth + outputX) * channels
        var channel = firstChannel
        while channel < channels {
            let lanes = min(8, channels - channel)
            var accumulator = loadInt32s(bias + channel, count: lanes)
            geometry.forEachTap(outputY, outputX) { pixel, tap in
                accumulator &+= (loadInt8s(input + pixel * channels + channel, count: lanes) &- zeroPoint)
                    &* loadInt8s(weight + tap * channels + channel, count: lanes)
            }
            let scaled = SIMD8<Float>(accumulator) * loadFloats(scales + channel, count: lanes)
            storeInt8s(requantize(scaled, lower: lower, upper: upper, zeroPoint: outputZeroPoint), destination + channel, count: lanes)
            channel += 8
        }
    }
}

/// Eight int32 values from `pointer`, or the first `count` (< 8) and zeros.
@inline(__always)
private func loadInt32s(_ pointer: UnsafePointer<Int32>, count: Int) -> SIMD8<Int32> {
    if count >= 8 { return UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Int32>.self) }
    var values = SIMD8<Int32>()
    for lane in 0..<count { values[lane] = pointer[lane] }
    return values
}
