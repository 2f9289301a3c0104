/// The output length of PyTorch's pooling along one axis (`pooling_output_shape`, dilation 1):
/// floor((length + 2 padding - kernel + (ceilMode ? stride - 1 : 0)) / stride) + 1, rounding toward
/// negative infinity; in ceil mode a last window that would start past the input and its left
/// padding is dropped. 0 where PyTorch refuses the input as too small.
public func poolingOutputLength(_ length: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) -> Int {
    guard stride > 0 else { return 0 }
    let numerator = length + 2 * padding - kernel + (ceilMode ? stride - 1 : 0)
    let quotient = numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)
    var output = quotient + 1
    if ceilMode && (output - 1) * stride >= length + padding { output -= 1 }
    return max(output, 0)
}

/// Average pooling over an HWC map as PyTorch's `AvgPool2d(kernel, stride, padding, ceil_mode)` with
/// `count_include_pad=True` (the default, and RT-DETR's ResNet-vd shortcut `AvgPool2d(2, 2, 0,
/// ceil_mode=True)`): each output is the float32 sum of its window's input values, rows then columns,
/// divided by the window's size clipped to the padded input (padding counts, the part past it in ceil
/// mode does not). Vectorized over channels; every lane adds in the reference's order, so the result
/// equals `averagePool2dReference` bit for bit, as the self-test checks on the boards.
public func averagePool2d(input: UnsafePointer<Float>, height: Int, width: Int, channels: Int, kernel: Int, stride: Int,
                          padding: Int, ceilMode: Bool, output: UnsafeMutablePointer<Float>) {
    if KernelDispatch.current == .scalar {
        averagePool2dReference(input: input, height: height, width: width, channels: channels, kernel: kernel, stride: stride,
                               padding: padding, ceilMode: ceilMode, output: output)
        return
    }
    if channels <= 0 { return }
    forEachAverageWindow(height: height, width: width, kernel: kernel, stride: stride, padding: padding,
                         ceilMode: ceilMode) { outputIndex, rows, columns in
        let divisor = SIMD8<Float>(repeating: Float(rows.size * columns.size))
        let destination = output + outputIndex * channels
        var channel = 0
        while channel < channels {
            let lanes = min(8, channels - channel)
            var sum = SIMD8<Float>()
            for y in rows.first..<rows.end {
                for x in columns.first..<columns.end {
                    sum += loadFloats(input + (y * width + x) * channels + channel, count: lanes)
                }
            }
            storeFloats(sum / divisor, destination + channel, count: lanes)
            channel += 8
        }
    }
}

/// `averagePool2d`'s definition, one element at a time.
public func averagePool2dReference(input: UnsafePointer<Float>, height: Int, width: Int, channels: Int, kernel: Int,
                                   stride: Int, padding: Int, ceilMode: Bool, output: UnsafeMutablePointer<Float>) {
    if channels <= 0 { return }
    forEachAverageWindow(height: height, width: width, kernel: kernel, stride: stride, padding: padding,
                         ceilMode: ceilMode) { outputIndex, rows, columns in
        for channel in 0..<channels {
            var sum: Float = 0
            for y in rows.first..<rows.end {
                for x in columns.first..<columns.end {
                    sum += input[(y * width + x) * channels + channel]
                }
            }
            output[outputIndex * channels + channel] = sum / Float(rows.size * columns.size)
        }
    }
}

/// Calls `body` with each output pixel's index (row-major) and its window's rows and columns: the
/// iteration `averagePool2d` and its reference share, so they differ only in how they add.
@inline(__always)
private func forEachAverageWindow(height: Int, width: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool,
                                  _ body: (Int, (first: Int, end: Int, size: Int), (first: Int, end: Int, size: Int)) -> Void) {
    if kernel <= 0 || stride <= 0 { return }
    let outputHeight = poolingOutputLength(height, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let outputWidth = poolingOutputLength(width, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    for outputY in 0..<outputHeight {
        let rows = averagePoolWindow(outputY, kernel: kernel, stride: stride, padding: padding, length: height)
        for outputX in 0..<outputWidth {
            body(outputY * outputWidth + outputX, rows,
                 averagePoolWindow(outputX, kernel: kernel, stride: stride, padding: padding, length: width))
        }
    }
}

/// One axis of a window, as PyTorch's avg_pool2d computes it: `size` spans the window clipped to the
/// padded input (the divisor's factor), `first..<end` the input positions it reads.
@inline(__always)
private func averagePoolWindow(_ index: Int, kernel: Int, stride: Int, padding: Int, length: Int)
    -> (first: Int, end: Int, size: Int) {
    let start = index * stride - padding
    let paddedEnd = min(start + kernel, length + padding)
    let first = max(start, 0)
    // Never a reversed range, whatever the arguments (the shape rule keeps windows on the input).
    return (first, max(min(paddedEnd, length), first), paddedEnd - start)
}
