#if arch(x86_64) && canImport(KernelsAVX512VNNI)
import KernelsAVX512VNNI
#endif

/// Int8 convolution weights: [outCh, inCh, kH, kW] (PyTorch layout) reordered to the depth order
/// of an HWC patch (kernel row, kernel column, input channel), then packed like linear weights.
public final class PackedInt8Conv2DWeights {
    public let shape: Conv2DShape
    public let packed: PackedInt8Weights
    /// The input zero point: padded taps read it, so that they contribute (zp - zp) * w = 0.
    public let inputZeroPoint: Int32

    public init(weights: UnsafePointer<Int8>, shape: Conv2DShape, bias: UnsafePointer<Int32>?, scales: UnsafePointer<Float>,
                inputZeroPoint: Int32, layout: Int8WeightLayout) {
        self.shape = shape
        self.inputZeroPoint = inputZeroPoint
        let reordered = int8PatchOrder(weights, shape: shape)
        defer { reordered.deallocate() }
        packed = PackedInt8Weights(weights: reordered, outputs: shape.outputChannels, inputs: shape.patchLength, bias: bias,
                                   scales: scales, inputZeroPoint: inputZeroPoint, layout: layout)
    }

    /// Adopts already packed weights (from a model file) for `shape`.
    public init?(packed: PackedInt8Weights, shape: Conv2DShape, inputZeroPoint: Int32) {
        if packed.outputs != shape.outputChannels || packed.inputs != shape.patchLength { return nil }
        self.shape = shape
        self.packed = packed
        self.inputZeroPoint = inputZeroPoint
    }
}

/// [outCh, inCh, kH, kW] -> [outCh, kH * kW * inCh] (patch order); the caller deallocates.
func int8PatchOrder(_ weights: UnsafePointer<Int8>, shape: Conv2DShape) -> UnsafeMutablePointer<Int8> {
    let channels = max(shape.inputChannels, 0), kernelHeight = max(shape.kernelHeight, 0), kernelWidth = max(shape.kernelWidth, 0)
    let depth = kernelHeight * kernelWidth * channels
    let outputs = max(shape.outputChannels, 0)
    let reordered = UnsafeMutablePointer<Int8>.allocate(capacity: max(outputs * depth, 1))
    for output in 0..<outputs {
        for kernelY in 0..<kernelHeight {
            for kernelX in 0..<kernelWidth {
                for channel in 0..<channels {
                    reordered[output * depth + (kernelY * kernelWidth + kernelX) * channels + channel] =
                        weights[((output * channels + channel) * kernelHeight + kernelY) * kernelWidth + kernelX]
                }
            }
        }
    }
    return reordered
}

/// Int8 convolution, HWC in and out: requantize(conv(x - zp_in, W) + bias [+ residual]) with
/// PyTorch's zero padding, which in int8 is padding with the input zero point. `residual` is an
/// HWC int8 map of the output's shape (ResNet's bottleneck shortcut, row stride = outCh).
///
/// Implicit GEMM on the int8 tiles of Int8GEMM.swift: rows are output pixels, each staged as its
/// patch (a 1x1 stride-1 patch is read in place), so results equal `int8Conv2dReference` exactly.
/// `taskScratch` holds `int8GEMMTaskScratchBytes(weights.packed)` per thread; when nil each task
/// allocates its own.
public func int8Conv2d(input: UnsafePointer<Int8>, weights: PackedInt8Conv2DWeights, residual: Int8Residual?,
                       output: Int8GEMMOutput, pool: ThreadPool?, taskScratch: KernelScratch? = nil) {
    let shape = weights.shape
    let outputWidth = shape.outputWidth
    let pixels = shape.outputHeight * outputWidth
    if pixels <= 0 || shape.inputChannels <= 0 || shape.kernelHeight <= 0 || shape.kernelWidth <= 0 { return }
    int8GEMM(rows: pixels, weights: weights.packed.panels, residual: residual, output: output, pool: pool,
             taskScratch: taskScratch, .patches(input, shape, zeroPoint: Int8(clamping: weights.inputZeroPoint)))
}

/// The patch of output pixel `pixel` in depth order (kernel row, kernel column, channel), K =
/// kH*kW*inCh values: read in place for a 1x1 conv without padding, otherwise gathered into `scratch`
/// (K bytes) with `zeroPoint` in the padding.
@inline(__always)
func int8ConvolutionPatch(_ input: UnsafePointer<Int8>, shape: Conv2DShape, zeroPoint: Int8, pixel: Int,
                          scratch: UnsafeMutablePointer<Int8>) -> UnsafePointer<Int8> {
    if shape.kernelHeight == 1 && shape.kernelWidth == 1 && shape.padding == 0 {
        let (y, x) = patchOrigin(shape, pixel: pixel)
        return input + (y * shape.inputWidth + x) * shape.inputChannels
    }
    forEachPatchSegment(shape, pixel: pixel) { offset, source, count in
        if let source {
            (scratch + offset).update(from: input + source, count: count)
        } else {
            (scratch + offset).update(repeating: zeroPoint, count: count)
        }
    }
    return UnsafePointer(scratch)
}

/// `int8ConvolutionPatch` of `pixel` plus 128, as unsigned bytes (x XOR 0x80), written to `destination`
/// (K bytes) in one pass: what the VNNI tiles stage.
@inline(__always)
func int8ConvolutionPatchShifted(_ input: UnsafePointer<Int8>, shape: Conv2DShape, zeroPoint: Int8, pixel: Int,
                                 into destination: UnsafeMutablePointer<UInt8>, wide: Bool) {
    #if arch(x86_64) && canImport(KernelsAVX512VNNI)
    if wide {
        let (firstY, firstX) = patchOrigin(shape, pixel: pixel)
        if firstY >= 0 && firstY + shape.kernelHeight <= shape.inputHeight && firstX >= 0 && firstX + shape.kernelWidth <= shape.inputWidth {
            let channels = shape.inputChannels
            shiftRunsToUnsignedAVX512(input + (firstY * shape.inputWidth + firstX) * channels, sourceStride: shape.inputWidth * channels,
                                      runs: shape.kernelHeight, runLength: shape.kernelWidth * channels, into: destination)
            return
        }
    }
    #endif
    let padding = UInt8(bitPattern: zeroPoint) ^ 0x80
    forEachPatchSegment(shape, pixel: pixel) { offset, source, count in
        if let source {
            shiftToUnsigned(input + source, count: count, into: destination + offset, wide: wide)
        } else {
            (destination + offset).update(repeating: padding, count: count)
        }
    }
}

/// The input row and column of output pixel `pixel`'s top-left tap (negative in the padding).
@inline(__always)
func patchOrigin(_ shape: Conv2DShape, pixel: Int) -> (y: Int, x: Int) {
    let outputY = pixel / shape.outputWidth
    let outputX = pixel - outputY * shape.outputWidth
    return (outputY * shape.stride - shape.padding, outputX * shape.stride - shape.padding)
}

/// The runs of output pixel `pixel`'s patch in depth order: `segment(offset, source, count)` for `count`
/// values at depth `offset`, read from input element `source`, or padding where `source` is nil. A kernel
/// row inside the image is one run, else one run per kernel column.
@inline(__always)
func forEachPatchSegment(_ shape: Conv2DShape, pixel: Int, _ segment: (_ offset: Int, _ source: Int?, _ count: Int) -> Void) {
    let channels = shape.inputChannels
    let (firstY, firstX) = patchOrigin(shape, pixel: pixel)
    let runLength = shape.kernelWidth * channels
    for kernelY in 0..<shape.kernelHeight {
        let inputY = firstY + kernelY
        let offset = kernelY * runLength
        if inputY < 0 || inputY >= shape.inputHeight {
            segment(offset, nil, runLength)
            continue
        }
        let rowStart = inputY * shape.inputWidth * channels
        if firstX >= 0 && firstX + shape.kernelWidth <= shape.inputWidth {
            segment(offset, rowStart + firstX * channels, runLength)
            continue
        }
        for kernelX in 0..<shape.kernelWidth {
            let inputX = firstX + kernelX
            segment(offset + kernelX * channels, inputX >= 0 && inputX < shape.inputWidth ? rowStart + inputX * channels : nil, channels)
        }
    }
}

/// The scalar reference of `int8Conv2d`, read off the definition: padded taps are skipped
/// (x - zp is 0 there), acc = bias[o] + sum (x - zp) * W[o, c, i, j], then `requantize`.
public func int8Conv2dReference(input: UnsafePointer<Int8>, shape: Conv2DShape, inputZeroPoint: Int32,
                                weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>?, scales: UnsafePointer<Float>,
                                residual: Int8Residual?, output: Int8GEMMOutput) {
    let outputHeight = shape.outputHeight, outputWidth = shape.outputWidth
    let channels = shape.inputChannels, outputs = shape.outputChannels
    if outputHeight <= 0 || outputWidth <= 0 || outputs <= 0 || channels <= 0 { return }
    for outputY in 0..<outputHeight {
        for outputX in 0..<outputWidth {
            let pixel = outputY * outputWidth + outputX
            for outputChannel in 0..<outputs {
                var accumulator = bias?[outputChannel] ?? 0
                for kernelY in 0..<shape.kernelHeight {
                    let inputY = outputY * shape.stride - shape.padding + kernelY
                    if inputY < 0 || inputY >= shape.inputHeight { continue }
                    for kernelX in 0..<shape.kernelWidth {
                        let inputX = outputX * shape.stride - shape.padding + kernelX
                        if inputX < 0 || inputX >= shape.inputWidth { continue }
                        for channel in 0..<channels {
                            let x = Int32(input[(inputY * shape.inputWidth + inputX) * channels + channel]) - inputZeroPoint
                            let w = weights[((outputChannel * channels + channel) * shape.kernelHeight + kernelY) * shape.kernelWidth + kernelX]
                            accumulator &+= x * Int32(max(w, -127))
                        }
                    }
                }
                storeReference(accumulator, row: pixel, channel: outputChannel, outputs: outputs,
                               scale: scales[outputChannel], residual: residual, output: output)
            }
        }
    }
}

/// Max pooling of an int8 HWC map (PyTorch's MaxPool2d: padded positions never win). The
/// quantization is monotonic, so the output keeps the input's scale and zero point. Vectorized
/// over channels (16 at a time); split over output rows on `pool`.
public func int8MaxPool2d(input: UnsafePointer<Int8>, height: Int, width: Int, channels: Int, kernel: Int, stride: Int,
                          padding: Int, output: UnsafeMutablePointer<Int8>, pool: ThreadPool?) {
    if kernel <= 0 || stride <= 0 || channels <= 0 { return }
    let outputHeight = pooledLength(height, kernel: kernel, stride: stride, padding: padding)
    let outputWidth = pooledLength(width, kernel: kernel, stride: stride, padding: padding)
    runTasks(outputHeight, pool: pool,
             Int8MaxPool2dJob(input: input, height: height, width: width, channels: channels, kernel: kernel,
                              stride: stride, padding: padding, output: output, outputWidth: outputWidth))
}

/// The tasks of one `int8MaxPool2d` call: one output row each.
private struct Int8MaxPool2dJob: ParallelJob {
    let input: UnsafePointer<Int8>, height: Int, width: Int, channels: Int
    let kernel: Int, stride: Int, padding: Int
    let output: UnsafeMutablePointer<Int8>, outputWidth: Int

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: Int8MaxPool2dJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task outputY: Int, thread: Int) {
        for outputX in 0..<outputWidth {
            let destination = output + (outputY * outputWidth + outputX) * channels
            var channel = 0
            while channel < channels {
                let count = min(16, channels - channel)
                var maximum = SIMD16<Int8>(repeating: -128)
                for kernelY in 0..<kernel {
                    let inputY = outputY * stride - padding + kernelY
                    if inputY < 0 || inputY >= height { continue }
                    for kernelX in 0..<kernel {
                        let inputX = outputX * stride - padding + kernelX
                        if inputX < 0 || inputX >= width { continue }
                        let source = input + (inputY * width + inputX) * channels + channel
                        if count == 16 {
                            maximum = pointwiseMax(maximum, UnsafeRawPointer(source).loadUnaligned(as: SIMD16<Int8>.self))
                        } else {
                            for lane in 0..<count { maximum[lane] = max(maximum[lane], source[lane]) }
                        }
                    }
                }
                for lane in 0..<count { destination[channel + lane] = maximum[lane] }
                channel += 16
            }
        }
    }
}

/// The scalar reference of `int8MaxPool2d`.
public func int8MaxPool2dReference(input: UnsafePointer<Int8>, height: Int, width: Int, channels: Int, kernel: Int,
                                   stride: Int, padding: Int, output: UnsafeMutablePointer<Int8>) {
    if kernel <= 0 || stride <= 0 || channels <= 0 { return }
    let outputHeight = pooledLength(height, kernel: kernel, stride: stride, padding: padding)
    let outputWidth = pooledLength(width, kernel: kernel, stride: stride, padding: padding)
    for outputY in 0..<outputHeight {
        for outputX in 0..<outputWidth {
            for channel in 0..<channels {
                var maximum = Int8.min
                for kernelY in 0..<kernel {
                    for kernelX in 0..<kernel {
                        let inputY = outputY * stride - padding + kernelY
                        let inputX = outputX * stride - padding + kernelX
                        if inputY < 0 || inputY >= height || inputX < 0 || inputX >= width { continue }
                        maximum = max(maximum, input[(inputY * width + inputX) * channels + channel])
                    }
                }
                output[(outputY * outputWidth + outputX) * channels + channel] = maximum
            }
        }
    }
}
