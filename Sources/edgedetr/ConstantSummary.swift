import EdgeRuntime

/// Where a model file's constant bytes go: each constant classified by the role its first consumer
/// gives it (an int8 layer's weights, a float layer's weights, a folded embedding...), for
/// `inspect`'s breakdown and its list of the largest constants. Weight-only int8 and generated
/// constants are their own kinds: their bytes are what the file stores, not what load materializes.
struct ConstantSummary {
    struct Entry {
        var name: String
        var kind: String
        var elementType: ElementType
        var shape: [Int]
        /// How the file stores it (raw, int8 per channel, a recipe).
        var encoding: String
        /// Bytes in the file's data section.
        var bytes: Int
    }

    var entries: [Entry] = []

    init(_ graph: Graph) {
        var role: [Int: String] = [:]
        for node in graph.nodes {
            for (position, input) in node.inputs.enumerated() where role[input.index] == nil {
                guard case .constant = graph.values[input.index].source else { continue }
                role[input.index] = Self.kind(of: node.operation, operand: node.operation.operand(at: position))
            }
        }
        for (index, value) in graph.values.enumerated() {
            guard case .constant(let c) = value.source else { continue }
            let storage = graph.constants[c]
            var kind = role[index] ?? "unused"
            switch storage.encoding {
            case .raw: break
            case .int8PerChannel: kind = "weight-only int8 weights (float layers)"
            case .generated: kind = "generated at load (recipes)"
            case .int8Packed: break
            }
            entries.append(Entry(name: value.name, kind: kind, elementType: value.elementType,
                                 shape: value.shape, encoding: storage.encoding.name, bytes: storage.storedByteCount))
        }
    }

    /// The role of a constant read by `operation` as `operand`.
    static func kind(of operation: GraphOperation, operand: Operand?) -> String {
        let dynamic = if case .dynamicQuantizedLinear = operation { true } else { false }
        return switch (operand, operation.isQuantized) {
        case (.bias, true) where dynamic: "float32 biases"
        case (.scales, true) where dynamic: "weight scales (dynamic int8)"
        case (.weight, true): "int8 weights"
        case (.bias, true): "int32 biases"
        case (.scales, _): "requantization scales"
        case (.weight, false): "float32 weights"
        case (.bias, false): "float32 biases"
        case (.gamma, _), (.beta, _): "normalization parameters"
        default:
            switch operation {
            case .layerNorm, .groupNorm: "normalization parameters"
            default: "other constants (embeddings, reference points, queries)"
            }
        }
    }

    var totalBytes: Int { entries.reduce(0) { $0 + $1.bytes } }

    /// (kind, constants, bytes), largest first.
    var byKind: [(kind: String, count: Int, bytes: Int)] {
        var totals: [String: (count: Int, bytes: Int)] = [:]
        for entry in entries {
            let total = totals[entry.kind] ?? (0, 0)
            totals[entry.kind] = (total.count + 1, total.bytes + entry.bytes)
        }
        return totals.map { (kind: $0.key, count: $0.value.count, bytes: $0.value.bytes) }
            .sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.kind < $1.kind }
    }

    /// The `count` largest constants (ties by name).
    func largest(_ count: Int) -> [Entry] {
        Array(entries.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.name < $1.name }.prefix(count))
    }

    static func typeName(_ type: ElementType) -> String {
        switch type {
        case .float32: "float32"
        case .int8: "int8"
        case .int32: "int32"
        }
    }
}
