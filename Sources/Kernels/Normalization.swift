import CLibc

/// Row-wise LayerNorm over `columns`. With `residual`, normalizes (input + residual), which is the
/// post-norm transformer's "add & norm" in one pass. `output` may equal `input` (in place): each
/// element is read before it is written.
///
/// Statistics are in Float like PyTorch: the mean first, then the biased variance of (x - mean).
public func layerNorm(input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, columns: Int,
                      gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                      output: UnsafeMutablePointer<Float>) {
    if columns <= 0 { return }
    for row in 0..<max(rows, 0) {
        let source = input + row * columns
        let added = residual.map { $0 + row * columns }
        let destination = output + row * columns
        @inline(__always) func value(_ column: Int) -> Float {
            if let added { return source[column] + added[column] }
            return source[column]
        }
        var sum: Float = 0
        for column in 0..<columns { sum += value(column) }
        let mean = sum / Float(columns)
        var squares: Float = 0
        for column in 0..<columns {
            let centered = value(column) - mean
            squares += centered * centered
        }
        let inverseDeviation = 1 / sqrtf(squares / Float(columns) + epsilon)
        for column in 0..<columns {
            destination[column] = (value(column) - mean) * inverseDeviation * gamma[column] + beta[column]
        }
    }
}

/// GroupNorm on an HWC map: `groups` groups of channels/groups consecutive channels, statistics
/// over every pixel of the group (Deformable DETR's input projections use 32 groups of 8).
/// `output` may equal `input`.
public func groupNorm(input: UnsafePointer<Float>, pixels: Int, channels: Int, groups: Int,
                      gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
                      output: UnsafeMutablePointer<Float>) {
    if groups <= 0 || channels % groups != 0 || pixels <= 0 { return }
    let channelsPerGroup = channels / groups
    let count = Float(pixels * channelsPerGroup)
    for group in 0..<groups {
        let firstChannel = group * channelsPerGroup
        var sum: Float = 0
        for pixel in 0..<pixels {
            let source = input + pixel * channels + firstChannel
            for channel in 0..<channelsPerGroup { sum += source[channel] }
        }
        let mean = sum / count
        var squares: Float = 0
        for pixel in 0..<pixels {
            let source = input + pixel * channels + firstChannel
            for channel in 0..<channelsPerGroup {
                let centered = source[channel] - mean
                squares += centered * centered
            }
        }
        let inverseDeviation = 1 / sqrtf(squares / count + epsilon)
        for pixel in 0..<pixels {
            let source = input + pixel * channels + firstChannel
            let destination = output + pixel * channels + firstChannel
            for channel in 0..<channelsPerGroup {
                let affine = firstChannel + channel
                destination[channel] = (source[channel] - mean) * inverseDeviation * gamma[affine] + beta[affine]
            }
        }
    }
}
