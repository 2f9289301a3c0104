import CLibc

/// One detected object, in pixels of the original image.
public struct Detection: Equatable, Sendable {
    public var label: Int
    public var score: Float
    /// Corners (x0, y0, x1, y1) in pixels of the original image.
    public var x0: Float, y0: Float, x1: Float, y1: Float
}

/// The graph outputs every detector has, named as transformers names them: per-query class logits
/// `[Q, C]` and boxes `[Q, 4]` (normalized cx, cy, w, h). Builders mark them, model files must have
/// them, detectors read them.
public enum DetectorOutput {
    public static var logits: String { "logits" }
    public static var boxes: String { "pred_boxes" }
}

public enum Postprocess {
    /// The first NaN or infinite value of a run's outputs, as an error: weights and inputs are checked
    /// finite at load, so this means the model overflowed, and its detections would be meaningless.
    public static func nonFiniteOutput(logits: UnsafeBufferPointer<Float>, boxes: UnsafeBufferPointer<Float>) -> ExecutionError? {
        for (index, value) in logits.enumerated() where !value.isFinite {
            return .nonFiniteOutput(name: DetectorOutput.logits, index: index, value: value)
        }
        for (index, value) in boxes.enumerated() where !value.isFinite {
            return .nonFiniteOutput(name: DetectorOutput.boxes, index: index, value: value)
        }
        return nil
    }

    /// transformers' `post_process_object_detection` for sigmoid (focal-loss) DETR heads: sigmoid over
    /// queries x classes, the `topK` best pairs, boxes from (cx, cy, w, h) to corners scaled to the
    /// original `imageWidth` x `imageHeight`, then those scoring above `threshold`.
    ///
    /// logits: `[queries, labels]`; boxes: `[queries, 4]` normalized. Ties keep the lower index first.
    public static func detections(logits: [Float], boxes: [Float], queries: Int, labels: Int,
                                  imageWidth: Int, imageHeight: Int, topK: Int, threshold: Float) -> [Detection] {
        let count = queries * labels
        guard count > 0, logits.count >= count, boxes.count >= queries * 4 else { return [] }
        var scores = [Float](repeating: 0, count: count)
        for i in 0..<count { scores[i] = 1 / (1 + expf(-logits[i])) }
        var order = Array(0..<count)
        order.sort { a, b in
            let (sa, sb) = (scores[a].isNaN ? -1 : scores[a], scores[b].isNaN ? -1 : scores[b])
            return sa != sb ? sa > sb : a < b
        }
        let width = Float(imageWidth)
        let height = Float(imageHeight)
        var result: [Detection] = []
        for index in order.prefix(min(topK, count)) where scores[index] > threshold {
            let query = index / labels
            let cx = boxes[query * 4], cy = boxes[query * 4 + 1], w = boxes[query * 4 + 2], h = boxes[query * 4 + 3]
            result.append(Detection(
                label: index % labels, score: scores[index],
                x0: (cx - 0.5 * w) * width, y0: (cy - 0.5 * h) * height,
                x1: (cx + 0.5 * w) * width, y1: (cy + 0.5 * h) * height))
        }
        return result
    }
}

extension GraphExecutor {
    /// The detections of the last run, for an image of `imageWidth` x `imageHeight` pixels: the one
    /// post-processing both detectors share (`Detector` on a model file, `FloatDetector` on a
    /// checkpoint). Reads the outputs in place; refuses a run whose outputs are not finite (weights
    /// are checked finite at load, so that is an overflow in the model and its boxes would be
    /// meaningless).
    public func detections(imageWidth: Int, imageHeight: Int, topK: Int, threshold: Float) throws(ExecutionError) -> [Detection] {
        guard let logitsValue = graph.output(named: DetectorOutput.logits), let logits = output(named: DetectorOutput.logits),
              let boxes = output(named: DetectorOutput.boxes), graph.shape(of: logitsValue).count == 2 else {
            throw .missingOutput(name: "\(DetectorOutput.logits), \(DetectorOutput.boxes)")
        }
        if let problem = Postprocess.nonFiniteOutput(logits: logits, boxes: boxes) { throw problem }
        let labels = graph.shape(of: logitsValue)[1]
        return Postprocess.detections(
            logits: Array(logits), boxes: Array(boxes), queries: logits.count / max(labels, 1), labels: labels,
            imageWidth: imageWidth, imageHeight: imageHeight, topK: topK, threshold: threshold)
    }
}
