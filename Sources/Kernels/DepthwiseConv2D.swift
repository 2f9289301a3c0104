/// The output length of a convolution along one axis: floor((length + 2 padding - kernel) / stride) + 1,
/// 0 where the padded input is shorter than the kernel.
public func convolutionOutputLength(_ length: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    guard stride > 0, kernel > 0, length + 2 * padding >= kernel else { return 0 }
    return (length + 2 * padding - kernel) / stride + 1
}

/// Depthwise convolution over an HWC map (PyTorch `Conv2d(C, C, k, stride, padding, groups=C)`, HGNetV2's
/// light blocks and downsampling, D-FINE's SCDown): each channel convolved with its own k x k kernel,
/// zero padding, plus its bias, then ReLU when `relu` is set.
///
/// weight: `[k, k, channels]`, tap-major (TFLite's depthwise layout): the weights of one tap for every
/// channel are contiguous like the map's pixels, so a vector of channels multiplies a vector of weights.
/// A depthwise layer has no reduction over channels, so the GEMM tiles do not serve it; it is memory-bound.
///
/// Vectorized over channels (SIMD8) and split over output rows on `pool`. Every lane adds the taps in the
/// reference's order (rows, then columns, then the bias) without fused multiply-adds, so the result equals
/// `depthwiseConv2dReference` bit for bit.
public func depthwiseConv2d(input: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                            weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, kernel: Int, stride: Int,
                            padding: Int, relu: Bool, output: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
    let geometry = DepthwiseGeometry(height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                                     padding: padding)
    guard geometry.outputHeight > 0, geometry.outputWidth > 0, channels > 0 else { return }
    if KernelDispatch.current == .scalar {
        depthwiseConv2dReference(input: input, height: height, width: width, channels: channels, weight: weight, bias: bias,
                                 kernel: kernel, stride: stride, padding: padding, relu: relu, output: output)
        return
    }
    runTasks(geometry.outputHeight, pool: pool,
             DepthwiseConv2DJob(geometry: geometry, input: input, weight: weight, bias: bias, relu: relu, output: output))
}

/// `depthwiseConv2d`'s definition, one output element at a time.
public func depthwiseConv2dReference(input: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                                     weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, kernel: Int, stride: Int,
                                     padding: Int, relu: Bool, output: UnsafeMutablePointer<Float>) {
    let geometry = DepthwiseGeometry(height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                                     padding: padding)
    guard channels > 0 else { return }
    for outputY in 0..<geometry.outputHeight {
        for outputX in 0..<geometry.outputWidth {
            for channel in 0..<channels {
                var sum: Float = 0
                geometry.forEachTap(outputY, outputX) { pixel, tap in
                    sum += input[pixel * channels + channel] * weight[tap * channels + channel]
                }
                sum += bias[channel]
                output[(outputY * geometry.outputWidth + outputX) * channels + channel] = relu && sum < 0 ? 0 : sum
            }
        }
    }
}

/// The sizes of one depthwise convolution and the taps of an output pixel that fall on the input.
struct DepthwiseGeometry {
    let height: Int, width: Int, channels: Int, kernel: Int, stride: Int, padding: Int
    let outputHeight: Int, outputWidth: Int

    init(height: Int, width: Int, channels: Int, kernel: Int, stride: Int, padding: Int) {
        (self.height, self.width, self.channels) = (height, width, channels)
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
        outputHeight = convolutionOutputLength(height, kernel: kernel, stride: stride, padding: padding)
        outputWidth = convolutionOutputLength(width, kernel: kernel, stride: stride, padding: padding)
    }

    /// Output rows (and columns) whose taps all lie on the map: top = y * stride - padding >= 0 and
    /// top + kernel <= height.
    var interiorRows: Int { interiorCount(outputHeight, length: height) }
    var interiorColumns: Int { interiorCount(outputWidth, length: width) }

    private func interiorCount(_ outputs: Int, length: Int) -> Int {
        guard stride > 0, length - kernel + padding >= 0 else { return 0 }
        let first = min((padding + stride - 1) / stride, outputs)
        let end = min((length - kernel + padding) / stride + 1, outputs)
        return max(end - first, 0)
    }

    /// Calls `body(input pixel, tap index)` for the in-map taps of output (y, x), rows then columns:
    /// the order both paths add in. Taps on the zero padding add nothing and are skipped.
    @inline(__always)
    func forEachTap(_ outputY: Int, _ outputX: Int, _ body: (Int, Int) -> Void) {
        for tapY in 0..<kernel {
            let y = outputY * stride - padding + tapY
            if y < 0 || y >= height { continue }
            for tapX in 0..<kernel {
                let x = outputX * stride - padding + tapX
                if x < 0 || x >= width { continue }
                body(y * width + x, tapY * kernel + tapX)
            }
        }
    }
}

/// One output row of `depthwiseConv2d` per task.
private struct DepthwiseConv2DJob: ParallelJob {
    let geometry: DepthwiseGeometry
    let input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>
    let relu: Bool
    let output: UnsafeMutablePointer<Float>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: DepthwiseConv2DJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task outputY: Int, thread: Int) {
        let channels = geometry.channels
        for outputX in 0..<geometry.outputWidth {
            let destination = output + (outputY * geometry.outputWidth + outputX) * channels
            var channel = 0
            while channel < channels {
                let lanes = min(8, channels - channel)
                var sum = SIMD8<Float>()
                geometry.forEachTap(outputY, outputX) { pixel, tap in
                    sum += loadFloats(input + pixel * channels + channel, count: lanes)
                        * loadFloats(weight + tap * channels + channel, count: lanes)
                }
                sum += loadFloats(bias + channel, count: lanes)
                if relu { sum.replace(with: SIMD8(), where: sum .< SIMD8()) }
                storeFloats(sum, destination + channel, count: lanes)
                channel += 8
            }
        }
    }
}
