import Foundation

/// Constants that depend only on the input size, computed at build time in transformers' float32 order
/// of operations (they become folded constants of the graph built for that size).
enum Embeddings {
    /// `torch.linspace(start, end, steps)` in float32: PyTorch fills the first half forwards from start
    /// and the second half backwards from end.
    static func linspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        guard steps > 1 else { return steps == 1 ? [start] : [] }
        let step = (end - start) / Float(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in
            i < halfway ? start + step * Float(i) : end - step * Float(steps - i - 1)
        }
    }

    /// The image sine position embedding of DETR-family models for an unpadded `height` x `width` map:
    /// `[height * width, 2 * features]`, the y block first, then the x block; sin/cos interleaved.
    /// Deformable DETR normalizes with a -0.5 offset (pixel centres), DAB and Conditional DETR without.
    static func sinePosition(height: Int, width: Int, features: Int, temperatureY: Float, temperatureX: Float,
                             centreOffset: Float, scale: Float = 2 * Float.pi) -> [Float] {
        let epsilon: Float = 1e-6
        func embed(_ index: Int, _ size: Int) -> Float {
            (Float(index + 1) - centreOffset) / (Float(size) + epsilon) * scale
        }
        func frequencies(_ temperature: Float) -> [Float] {
            (0..<features).map { i in powf(temperature, Float(2 * (i / 2)) / Float(features)) }
        }
        let fy = frequencies(temperatureY)
        let fx = frequencies(temperatureX)
        var result = [Float](repeating: 0, count: height * width * 2 * features)
        for y in 0..<height {
            let ey = embed(y, height)
            for x in 0..<width {
                let ex = embed(x, width)
                let base = (y * width + x) * 2 * features
                for i in 0..<features {
                    let py = ey / fy[i]
                    let px = ex / fx[i]
                    result[base + i] = i % 2 == 0 ? sinf(py) : cosf(py)
                    result[base + features + i] = i % 2 == 0 ? sinf(px) : cosf(px)
                }
            }
        }
        return result
    }

    /// Deformable DETR's encoder reference points for one level: pixel centres, normalized, as (x, y).
    static func encoderReferencePoints(height: Int, width: Int) -> [Float] {
        let ys = linspace(0.5, Float(height) - 0.5, height)
        let xs = linspace(0.5, Float(width) - 0.5, width)
        var result: [Float] = []
        result.reserveCapacity(height * width * 2)
        for y in 0..<height {
            for x in 0..<width {
                result.append(xs[x] / (1 * Float(width)))
                result.append(ys[y] / (1 * Float(height)))
            }
        }
        return result
    }
}
