/// RMSNorm over each row (transformers' LlamaRMSNorm, DEIMv2's decoder): with x = input (+ residual),
/// y = gamma * (x / sqrt(mean(x^2) + epsilon)), in float32 as transformers computes it (the reciprocal
/// square root, then the product, then the gain). Rows are small (queries x d_model): one scalar loop.
public func rmsNorm(input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, columns: Int,
                    gamma: UnsafePointer<Float>, epsilon: Float, output: UnsafeMutablePointer<Float>) {
    guard rows > 0, columns > 0 else { return }
    for row in 0..<rows {
        let x = input + row * columns, y = output + row * columns
        if let residual {
            for column in 0..<columns { y[column] = x[column] + residual[row * columns + column] }
        } else {
            y.update(from: x, count: columns)
        }
        var squares: Float = 0
        for column in 0..<columns { squares += y[column] * y[column] }
        let scale = 1 / (squares / Float(columns) + epsilon).squareRoot()
        for column in 0..<columns { y[column] = gamma[column] * (y[column] * scale) }
    }
}

/// The mean of each column over the rows: `[rows, columns]` to `[columns]` (PyTorch's
/// `adaptive_avg_pool2d(x, 1)` of a map flattened to pixels x channels: DEIMv2's lite encoder).
public func columnMeans(_ input: UnsafePointer<Float>, rows: Int, columns: Int, output: UnsafeMutablePointer<Float>) {
    guard rows > 0, columns > 0 else { return }
    output.update(repeating: 0, count: columns)
    for row in 0..<rows {
        for column in 0..<columns { output[column] += input[row * columns + column] }
    }
    for column in 0..<columns { output[column] /= Float(rows) }
}
