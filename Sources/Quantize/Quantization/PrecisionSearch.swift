import EdgeRuntime
import Foundation

/// How far a quantized graph's detections are from the float graph's, on the detections that
/// matter: for each image, the `topK` (query, class) pairs the float model scores highest, each
/// against the quantized model's query whose box is nearest (the same query, unless the queries were
/// selected by score and a small change reordered them: RT-DETR, D-FINE).
public struct OutputDrift: Sendable, Comparable {
    /// Mean |sigmoid(logit) difference| over the float top-k pairs.
    public var score: Double
    /// Mean |box coordinate difference| (normalized cx, cy, w, h) over the float top-k queries.
    public var box: Double

    public init(score: Double, box: Double) {
        self.score = score
        self.box = box
    }

    /// Score and box drift on one scale: a box coordinate off by 0.01 of the image costs about as
    /// much AP as a score off by 0.01 on this yardstick, so the two are added.
    public var combined: Double { score + box }

    public static func < (a: OutputDrift, b: OutputDrift) -> Bool { a.combined < b.combined }

    public func meets(_ target: OutputDrift) -> Bool { score <= target.score && box <= target.box }
}

/// The float graph's outputs on a fixed set of inputs, and the drift of any quantized graph from them.
public struct DriftReference {
    public static let topK = 10

    let inputs: [[Float]]
    /// Per input: the float top-k (query, class) pairs, their scores, and all boxes.
    let pairs: [[(query: Int, label: Int, score: Float)]]
    let boxes: [[Float]]
    let labels: Int

    public init(float graph: Graph, inputs: [[Float]], threads: Int) throws(ExecutionError) {
        let executor = try GraphExecutor(graph: graph, threads: threads)
        var pairs: [[(query: Int, label: Int, score: Float)]] = [], boxes: [[Float]] = []
        var labels = 1
        for input in inputs {
            let outputs = try executor.run(input: input)
            let logits = Self.output(DetectorOutput.logits, outputs)
            labels = logits.shape.last ?? 1
            var scored = logits.values.enumerated().map { (index: $0.offset, score: Self.sigmoid($0.element)) }
            scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
            pairs.append(scored.prefix(Self.topK).map { (query: $0.index / labels, label: $0.index % labels, score: $0.score) })
            boxes.append(Self.output(DetectorOutput.boxes, outputs).values)
        }
        self.inputs = inputs
        self.pairs = pairs
        self.boxes = boxes
        self.labels = labels
    }

    /// The drift of `quantized` (a graph with the same outputs) over the reference inputs.
    public func drift(of quantized: Graph, plan: ArenaPlan? = nil, threads: Int) throws(ExecutionError) -> OutputDrift {
        let executor = try GraphExecutor(graph: quantized, plan: plan, threads: threads)
        var score = 0.0, box = 0.0, scoreCount = 0, boxCount = 0
        for (index, input) in inputs.enumerated() {
            let outputs = try executor.run(input: input)
            let logits = Self.output(DetectorOutput.logits, outputs).values
            let predicted = Self.output(DetectorOutput.boxes, outputs).values
            let queryCount = predicted.count / 4
            for pair in pairs[index] {
                // The quantized query whose box is nearest the float one (L1); ties keep the
                // lower index, so a model whose queries keep their order matches query to query.
                let reference = boxes[index][(pair.query * 4)..<(pair.query * 4 + 4)]
                var nearest = pair.query, nearestDistance = Double.infinity
                for query in 0..<queryCount {
                    var distance = 0.0
                    for c in 0..<4 { distance += Double(abs(predicted[query * 4 + c] - reference[reference.startIndex + c])) }
                    if distance < nearestDistance || (distance == nearestDistance && query == pair.query) {
                        (nearest, nearestDistance) = (query, distance)
                    }
                }
                score += Double(abs(Self.sigmoid(logits[nearest * labels + pair.label]) - pair.score))
                box += nearestDistance
                scoreCount += 1
                boxCount += 4
            }
        }
        return OutputDrift(score: score / Double(max(scoreCount, 1)), box: box / Double(max(boxCount, 1)))
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    static func output(_ name: String, _ outputs: [FloatTensor]) -> FloatTensor {
        // The detector graphs always name these two outputs (DetectorGraph builds them).
        outputs.first { $0.name == name }!
    }
}

/// Automatic mixed precision over a set of candidate layers: when the candidates all in int8 miss
/// the drift target, measure each one's sensitivity (the output drift when only that layer runs
/// int8), then keep the most sensitive in float32, one more at a time in sensitivity order, until
/// the rest in int8 meets the target, or, at the float layer limit, the best of the mixes measured.
public struct PrecisionSearch {
    public struct Sensitivity: Sendable {
        public var layer: String
        public var drift: OutputDrift
    }

    public struct Result: Sendable {
        /// Every quantizable layer, most sensitive first.
        public var sensitivities: [Sensitivity]
        /// The layers kept float32, most sensitive first.
        public var keptFloat: [String]
        /// The drift of the chosen mix, and of every candidate in int8. `sensitivities` is empty when
        /// the latter already met the target (nothing was searched).
        public var drift: OutputDrift
        public var allInt8Drift: OutputDrift
        public var targetMet: Bool
    }

    /// The quantizable layers of `graph`: convolutions, linear layers and the deformable sampling cores.
    public static func candidates(in graph: Graph) -> [String] {
        graph.nodes.compactMap { node in
            switch node.operation {
            case .conv2d, .linear, .deformableSampling, .depthwiseConv2d: node.name
            default: nil
            }
        }
    }

    /// Runs the search. `rewrite` builds the quantized graph for a set of float32 layers (exact names);
    /// `maximumFloat` bounds how many layers may be kept float32.
    public static func run(
        candidates: [String], reference: DriftReference, target: OutputDrift, maximumFloat: Int, threads: Int,
        rewrite: (Set<String>) throws(QuantizationError) -> (graph: Graph, plan: ArenaPlan),
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws(QuantizationError) -> Result {
        func drift(keeping float: Set<String>) throws(QuantizationError) -> OutputDrift {
            let model = try rewrite(float)
            do { return try reference.drift(of: model.graph, plan: model.plan, threads: threads) } catch { throw .execution(error) }
        }
        // Nothing to search when every candidate in int8 already meets the target (one run).
        let allInt8 = try drift(keeping: [])
        if allInt8.meets(target) {
            progress(candidates.count, candidates.count)
            return Result(sensitivities: [], keptFloat: [], drift: allInt8, allInt8Drift: allInt8, targetMet: true)
        }
        let all = Set(candidates)
        var sensitivities: [Sensitivity] = []
        for (index, layer) in candidates.enumerated() {
            sensitivities.append(Sensitivity(layer: layer, drift: try drift(keeping: all.subtracting([layer]))))
            progress(index + 1, candidates.count)
        }
        // Most sensitive first; ties (e.g. layers with no effect alone) keep graph order.
        let order = sensitivities.enumerated().sorted { a, b in
            a.element.drift.combined != b.element.drift.combined ? a.element.drift.combined > b.element.drift.combined : a.offset < b.offset
        }.map(\.element)
        var kept: [String] = []
        var current = allInt8
        // Drift is not monotone in the number of float layers, but it is close: walk the order and
        // stop at the first mix that meets the target. When the limit comes first, the mix with the
        // lowest drift measured on the way (possibly none: every candidate in int8) is the answer.
        var best = (count: 0, drift: allInt8)
        while !current.meets(target), kept.count < min(maximumFloat, order.count) {
            kept.append(order[kept.count].layer)
            current = try drift(keeping: Set(kept))
            if current < best.drift { best = (kept.count, current) }
        }
        if !current.meets(target) {
            (kept, current) = (Array(kept.prefix(best.count)), best.drift)
        }
        return Result(sensitivities: order, keptFloat: kept, drift: current, allInt8Drift: allInt8, targetMet: current.meets(target))
    }
}

extension PrecisionSearch.Result {
    /// The sensitivity table `quantize --auto-precision` prints, most sensitive first.
    public func table(limit: Int = 15) -> String {
        if sensitivities.isEmpty {
            return String(format: "automatic precision: every candidate layer in int8 meets the target (score drift %.5f, box drift %.5f); nothing searched",
                          drift.score, drift.box)
        }
        var lines = ["layer sensitivity (drift with only this layer in int8, calibration images):",
                     "layer                                                      score drift   box drift   kept"]
        let float = Set(keptFloat)
        for entry in sensitivities.prefix(limit) {
            lines.append(entry.layer.padding(toLength: 58, withPad: " ", startingAt: 0)
                         + String(format: " %11.5f  %10.5f   ", entry.drift.score, entry.drift.box)
                         + (float.contains(entry.layer) ? "float32" : "int8"))
        }
        if sensitivities.count > limit { lines.append("... \(sensitivities.count - limit) more layers") }
        lines.append(String(format: "candidates all int8: score drift %.5f, box drift %.5f; with %d more float32 layers: score drift %.5f, box drift %.5f%@",
                            allInt8Drift.score, allInt8Drift.box, keptFloat.count, drift.score, drift.box,
                            targetMet ? "" : " (target not met: float layer limit reached)"))
        return lines.joined(separator: "\n")
    }
}
