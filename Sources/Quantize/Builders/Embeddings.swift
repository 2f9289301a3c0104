import Foundation

/// Constants that depend only on the input size, computed at build time in transformers' float32 order
/// of operations (they become folded constants of the graph built for that size). The image sine
/// position embedding is EdgeRuntime's `SinePositionEmbedding` (`GraphBuilder.sinePosition`), which
/// the model-file reader also runs: files store it as a recipe.
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
