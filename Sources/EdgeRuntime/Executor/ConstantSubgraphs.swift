/// The nodes of a graph whose inputs are all constants or outputs of such nodes: they compute the
/// same values on every run, so the executor runs them once at init and skips them afterwards, as
/// ONNX Runtime constant-folds them. In the DETRs these are the projections of the learned query
/// embeddings and of the fixed-size position embeddings, and the whole first decoder layer's self-
/// attention where the queries start from constants (DAB-DETR and Conditional DETR: about 5% of an
/// int8 run at 512x512).
///
/// The values the rest of the graph reads from them (and graph outputs among them) must outlive the
/// arena's reuse, so each such buffer (a value with its reshapes, `ArenaPlanner.owners`) moves to
/// memory of its own beside the arena: `bytes` in all. Intermediate values only the folded nodes read
/// stay at their arena offsets, which they use during the one folding run.
struct ConstantSubgraphs {
    /// Indices of the folded nodes, in graph order.
    let nodes: [Int]
    /// For each value, its offset in the folded memory, or nil when it lives where the plan puts it.
    let offsets: [Int?]
    /// Bytes of the folded memory, each buffer aligned to `ArenaPlanner.alignment`; nil when the sum
    /// overflows.
    let bytes: Int?

    init(_ graph: Graph) {
        let derived = graph.constantDerivedValues()
        // A node's output is derived exactly when all its inputs are.
        let folded = graph.nodes.map { derived[$0.output.index] }
        nodes = graph.nodes.indices.filter { folded[$0] }
        // Buffers read after folding: a folded node's output that a node still running reads, or a graph output.
        let owner = ArenaPlanner.owners(of: graph)
        var kept = [Bool](repeating: false, count: graph.values.count)
        for (index, node) in graph.nodes.enumerated() where !folded[index] {
            for input in node.inputs where derived[input.index] && owner[input.index] >= 0 { kept[owner[input.index]] = true }
        }
        for output in graph.outputs where derived[output.value.index] && owner[output.value.index] >= 0 {
            kept[owner[output.value.index]] = true
        }
        var bufferOffsets = [Int?](repeating: nil, count: graph.values.count)
        var total: Int? = 0
        for index in graph.values.indices where kept[index] {
            guard let size = total, let end = checkedSum(size, graph.values[index].byteCount),
                  let aligned = checkedSum(end, ArenaPlanner.alignment - 1) else { total = nil; break }
            bufferOffsets[index] = size
            total = aligned / ArenaPlanner.alignment * ArenaPlanner.alignment
        }
        offsets = graph.values.indices.map { owner[$0] >= 0 ? bufferOffsets[owner[$0]] : nil }
        bytes = total
    }
}

extension Graph {
    /// For each value, whether it depends on constants only: a constant, or the output of a node whose
    /// inputs all do. The executor folds those nodes (`ConstantSubgraphs`); the quantizer keeps layers
    /// of such inputs float32.
    public func constantDerivedValues() -> [Bool] {
        var derived = values.map { if case .constant = $0.source { true } else { false } }
        for node in nodes where node.inputs.allSatisfy({ derived[$0.index] }) {
            derived[node.output.index] = true
        }
        return derived
    }
}
