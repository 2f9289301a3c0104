import EdgeRuntime
import Foundation

/// How far each activation of a quantized graph is from the float graph's, over a set of inputs:
/// signal-to-quantization-noise ratio and cosine similarity per layer, worst first, and the final
/// score and box drift.
public struct LayerComparison: Sendable {
    public struct Layer: Sendable {
        public var name: String
        public var operation: String
        public var int8: Bool
        /// 10 log10(sum x^2 / sum (x - q)^2), in dB (infinity when identical).
        public var sqnr: Double
        public var cosine: Double
    }

    public var layers: [Layer]
    /// Largest |sigmoid(logit) difference| and |box coordinate difference| over all queries.
    public var maxScoreDrift: Float
    public var maxBoxDrift: Float
    public var meanScoreDrift: Float

    /// Runs both graphs on `inputs`. `counterpart[v]` is the quantized graph's value for float value v.
    public static func measure(float: Graph, quantized: Graph, counterpart: [ValueID?], inputs: [[Float]],
                               threads: Int) throws(ExecutionError) -> LayerComparison {
        let floatExecutor = try GraphExecutor(graph: float, threads: threads, foldsConstantSubgraphs: false)
        let quantizedExecutor = try GraphExecutor(graph: quantized, threads: threads, foldsConstantSubgraphs: false)
        var signal = [Double](repeating: 0, count: float.values.count)
        var noise = [Double](repeating: 0, count: float.values.count)
        var dot = [Double](repeating: 0, count: float.values.count)
        var quantizedNorm = [Double](repeating: 0, count: float.values.count)
        var maxScore: Float = 0, maxBox: Float = 0, sumScore: Double = 0, scoreCount = 0
        // Index of the float node producing each quantized value, to read it when it is written.
        var sourceOfQuantized = [Int](repeating: -1, count: quantized.values.count)
        for (value, id) in counterpart.enumerated() { if let id { sourceOfQuantized[id.index] = value } }
        for input in inputs {
            var reference = [[Float]?](repeating: nil, count: float.values.count)
            let floatOutputs = try floatExecutor.run(input: input) { node in
                let value = float.nodes[node].output
                if counterpart[value.index] != nil { reference[value.index] = floatExecutor.floatValues(of: value) }
            }
            let quantizedOutputs = try quantizedExecutor.run(input: input) { node in
                let id = quantized.nodes[node].output
                let value = sourceOfQuantized[id.index]
                guard value >= 0, let x = reference[value] else { return }
                let q = quantizedExecutor.floatValues(of: id)
                for i in 0..<min(x.count, q.count) {
                    let (a, b) = (Double(x[i]), Double(q[i]))
                    signal[value] += a * a
                    noise[value] += (a - b) * (a - b)
                    dot[value] += a * b
                    quantizedNorm[value] += b * b
                }
            }
            let logits = (floatOutputs.first { $0.name == DetectorOutput.logits }!.values, quantizedOutputs.first { $0.name == DetectorOutput.logits }!.values)
            for (a, b) in zip(logits.0, logits.1) {
                let drift = abs(1 / (1 + exp(-a)) - 1 / (1 + exp(-b)))
                maxScore = max(maxScore, drift)
                sumScore += Double(drift)
                scoreCount += 1
            }
            let boxes = (floatOutputs.first { $0.name == DetectorOutput.boxes }!.values, quantizedOutputs.first { $0.name == DetectorOutput.boxes }!.values)
            for (a, b) in zip(boxes.0, boxes.1) { maxBox = max(maxBox, abs(a - b)) }
        }
        var layers: [Layer] = []
        for node in float.nodes {
            let value = node.output.index
            guard let id = counterpart[value], signal[value] > 0 else { continue }
            if case .reshape = node.operation { continue }
            let sqnr = noise[value] > 0 ? 10 * log10(signal[value] / noise[value]) : .infinity
            let cosine = dot[value] / max((signal[value] * quantizedNorm[value]).squareRoot(), 1e-30)
            var int8 = quantized.values[id.index].elementType == .int8
            if case .node(let producer) = quantized.values[id.index].source {
                int8 = int8 || quantized.nodes[producer].operation.kindName.hasPrefix("quantized")
            }
            layers.append(Layer(name: node.name, operation: node.operation.kindName, int8: int8, sqnr: sqnr, cosine: cosine))
        }
        layers.sort { $0.sqnr < $1.sqnr }
        return LayerComparison(layers: layers, maxScoreDrift: maxScore, maxBoxDrift: maxBox,
                               meanScoreDrift: Float(sumScore / Double(max(scoreCount, 1))))
    }

    /// Pairs each float value with the quantized graph's value of the same name and shape (the int8
    /// rewrite keeps the float graph's names; quantize/dequantize nodes get suffixed names). For a
    /// quantized graph read back from a model file, where the rewrite's own pairing is not at hand.
    public static func counterparts(float: Graph, quantized: Graph) -> [ValueID?] {
        var byName: [String: ValueID] = [:]
        for (index, value) in quantized.values.enumerated() where byName[value.name] == nil {
            byName[value.name] = ValueID(index)
        }
        return float.values.map { value in
            guard let id = byName[value.name], quantized.values[id.index].shape == value.shape else { return nil }
            return id
        }
    }

    /// The table `edgedetr compare` prints.
    public func table(limit: Int = 30) -> String {
        var lines = ["layer                                                     op                  precision   SQNR dB   cosine"]
        for layer in layers.prefix(limit) {
            lines.append(layer.name.padding(toLength: 57, withPad: " ", startingAt: 0) + " "
                         + layer.operation.padding(toLength: 19, withPad: " ", startingAt: 0) + " "
                         + (layer.int8 ? "int8     " : "float32  ")
                         + String(format: "%8.2f  %8.5f", layer.sqnr, layer.cosine))
        }
        if layers.count > limit { lines.append("... \(layers.count - limit) more layers") }
        lines.append(String(format: "final: max score drift %.4f, mean score drift %.5f, max box drift %.4f",
                            maxScoreDrift, meanScoreDrift, maxBoxDrift))
        return lines.joined(separator: "\n")
    }
}
