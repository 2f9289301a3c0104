/// Max pooling over an HWC map, as PyTorch's MaxPool2d: implicit -infinity padding, so padded
/// positions never win; output size (H + 2p - k) / s + 1 per axis (floor rule). ResNet's stem
/// uses kernel 3, stride 2, padding 1.
public func maxPool2d(input: UnsafePointer<Float>, height: Int, width: Int, channels: Int, kernel: Int, stride: Int,
                      padding: Int, output: UnsafeMutablePointer<Float>) {
    if kernel <= 0 || stride <= 0 || channels <= 0 { return }
    let outputHeight = pooledLength(height, kernel: kernel, stride: stride, padding: padding)
    let outputWidth = pooledLength(width, kernel: kernel, stride: stride, padding: padding)
    for outputY in 0..<outputHeight {
        for outputX in 0..<outputWidth {
            let destination = output + (outputY * outputWidth + outputX) * channels
            for channel in 0..<channels {
                destination[channel] = -Float.infinity
            }
            for kernelY in 0..<kernel {
                let inputY = outputY * stride - padding + kernelY
                if inputY < 0 || inputY >= height { continue }
                for kernelX in 0..<kernel {
                    let inputX = outputX * stride - padding + kernelX
                    if inputX < 0 || inputX >= width { continue }
                    let source = input + (inputY * width + inputX) * channels
                    for channel in 0..<channels where source[channel] > destination[channel] {
                        destination[channel] = source[channel]
                    }
                }
            }
        }
    }
}

/// Output length of a pooling or convolution window along one axis (PyTorch's floor rule);
/// 0 when the padded input is shorter than the window.
@inline(__always)
func pooledLength(_ length: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    let span = length + 2 * padding - kernel
    return span < 0 ? 0 : span / stride + 1
}
