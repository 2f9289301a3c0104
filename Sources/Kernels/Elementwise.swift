import CLibc

/// The activation a kernel can fuse into its output, applied after bias and residual.
public enum FloatActivation: Sendable {
    case none, relu
}

extension FloatActivation {
    /// Applies the activation to one value; kernels call this on every output element.
    @inline(__always)
    func apply(_ value: Float) -> Float {
        switch self {
        case .none: return value
        case .relu: return value > 0 ? value : 0
        }
    }
}

/// Softmax over consecutive groups of `groupSize` elements, in place. The group's maximum is
/// subtracted first so that exp never overflows.
public func softmax(_ data: UnsafeMutablePointer<Float>, groups: Int, groupSize: Int) {
    if groupSize <= 0 { return }
    for group in 0..<max(groups, 0) {
        let values = data + group * groupSize
        var maximum = values[0]
        for index in 1..<groupSize where values[index] > maximum {
            maximum = values[index]
        }
        var sum: Float = 0
        for index in 0..<groupSize {
            let exponential = expf(values[index] - maximum)
            values[index] = exponential
            sum += exponential
        }
        let inverseSum = 1 / sum
        for index in 0..<groupSize {
            values[index] *= inverseSum
        }
    }
}

/// Logistic sigmoid 1 / (1 + exp(-x)), in place.
public func sigmoid(_ data: UnsafeMutablePointer<Float>, count: Int) {
    for index in 0..<max(count, 0) {
        data[index] = 1 / (1 + expf(-data[index]))
    }
}

/// max(x, 0), in place.
public func relu(_ data: UnsafeMutablePointer<Float>, count: Int) {
    for index in 0..<max(count, 0) where data[index] < 0 {
        data[index] = 0
    }
}

/// PReLU, in place: x >= 0 ? x : alpha[i % channels] * x. With `channels` 1 one alpha is shared
/// by all elements (PyTorch's default `nn.PReLU()`, as in DAB-DETR's FFN).
public func prelu(_ data: UnsafeMutablePointer<Float>, count: Int, alpha: UnsafePointer<Float>, channels: Int) {
    let channelCount = max(channels, 1)
    var channel = 0
    for index in 0..<max(count, 0) {
        let value = data[index]
        if value < 0 { data[index] = alpha[channel] * value }
        channel += 1
        if channel == channelCount { channel = 0 }
    }
}
