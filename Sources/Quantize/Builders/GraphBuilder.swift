import Foundation
import EdgeRuntime

/// Why a checkpoint could not be lowered to the graph IR.
public enum BuildError: Error, CustomStringConvertible {
    case checkpoint(CheckpointError)
    case graph(GraphError)
    case unsupported(String)
    case inputTooSmall(height: Int, width: Int, detail: String)

    public var description: String {
        switch self {
        case .checkpoint(let error): return error.description
        case .graph(let error): return "internal graph error: \(error.description)"
        case .unsupported(let detail): return detail
        case .inputTooSmall(let height, let width, let detail):
            return "input \(height)x\(width) px is too small for this model: \(detail)"
        }
    }
}

/// Appends ops to a `Graph` with weights read from a checkpoint by their canonical names.
///
/// transformers 5 renamed some modules in memory (`self_attn.out_proj` to `self_attn.o_proj`,
/// `layers.N.fc1` to `layers.N.mlp.fc1`, RT-DETR's `encoder.encoder.N` to `encoder.aifi.N`); hub
/// checkpoints and `save_pretrained` use the old names, which are the canonical ones here, but a
/// checkpoint written with the new names loads too.
final class GraphBuilder {
    let graph = Graph()
    let checkpoint: CheckpointFolder
    private var loaded: [String: ValueID] = [:]

    init(checkpoint: CheckpointFolder) {
        self.checkpoint = checkpoint
    }

    /// The name under which `name` is stored in the checkpoint, trying transformers 5's renamings.
    func storedName(_ name: String) -> String {
        if checkpoint.contains(name) { return name }
        for alternative in Self.alternativeNames(name) where checkpoint.contains(alternative) { return alternative }
        return name
    }

    func has(_ name: String) -> Bool { checkpoint.contains(storedName(name)) }

    static func alternativeNames(_ name: String) -> [String] {
        var names: [String] = []
        if name.contains(".out_proj.") { names.append(name.replacingOccurrences(of: ".out_proj.", with: ".o_proj.")) }
        for layer in ["fc1", "fc2"] where name.contains(".\(layer).") {
            names.append(name.replacingOccurrences(of: ".\(layer).", with: ".mlp.\(layer)."))
        }
        // D-FINE's and DEIMv2's encoder FFN in memory: `mlp.layers.0` and `mlp.layers.1` (DFineMLP).
        for (index, layer) in ["fc1", "fc2"].enumerated() where name.contains(".\(layer).") {
            names.append(name.replacingOccurrences(of: ".\(layer).", with: ".mlp.layers.\(index)."))
        }
        // RT-DETR's AIFI layers: `model.encoder.encoder.N` on the hub, `model.encoder.aifi.N` in memory.
        let aifi = "model.encoder.encoder."
        if name.hasPrefix(aifi) {
            let renamed = "model.encoder.aifi." + name.dropFirst(aifi.count)
            names += [renamed] + alternativeNames(renamed)
        }
        return names
    }

    /// Raw values of a checkpoint tensor with its shape checked.
    func values(_ name: String, shape: [Int]) throws(BuildError) -> [Float] {
        do { return try checkpoint.tensor(storedName(name), shape: shape) } catch { throw .checkpoint(error) }
    }

    /// Shape of a checkpoint tensor (to infer widths the config does not state), from the header
    /// alone: its values are read, and checked, when the tensor is loaded with that shape.
    func shape(of name: String) throws(BuildError) -> [Int] {
        let stored = storedName(name)
        guard let shape = checkpoint.shape(of: stored) else {
            throw .checkpoint(.missingTensor(file: checkpoint.weights.name, tensor: stored))
        }
        return shape
    }

    /// The product of sizes taken from config.json or tensor shapes, for an allocation or a shape.
    /// `DetectorConfig.Limits` keeps every product the builders form far from overflow; this refuses,
    /// naming `what`, rather than trapping if a bound is ever loosened.
    func product(_ factors: Int..., of what: String) throws(BuildError) -> Int {
        guard let result = checkedProduct(factors) else { throw .unsupported("\(what): size \(factors) overflows") }
        return result
    }

    /// A checkpoint tensor as a graph constant, loaded once per graph.
    func weight(_ name: String, shape: [Int]) throws(BuildError) -> ValueID {
        if let id = loaded[name] { return id }
        let data = try values(name, shape: shape)
        let id = try constant(name, shape: shape, values: data)
        loaded[name] = id
        return id
    }

    func constant(_ name: String, shape: [Int], values data: [Float]) throws(BuildError) -> ValueID {
        do { return try graph.constant(name, shape: shape, values: data) } catch { throw .graph(error) }
    }

    /// The image sine position embedding of `levels` (plus `levelEmbedding`'s row per level) as a
    /// generated constant: model files store its recipe, and the reader regenerates the same bits.
    func sinePosition(_ name: String, levels: [LevelShape], features: Int, temperatureY: Float, temperatureX: Float,
                      centreOffset: Float, scale: Float, levelEmbedding: [Float]? = nil) throws(BuildError) -> ValueID {
        let embedding: SinePositionEmbedding
        do {
            embedding = try SinePositionEmbedding(
                levels: levels, features: features, temperatureY: temperatureY, temperatureX: temperatureX,
                centreOffset: centreOffset, scale: scale, levelEmbedding: levelEmbedding.map { ConstantStorage($0) })
        } catch {
            throw .unsupported("\(name): \(error.detail)")
        }
        let recipe = ConstantRecipe.sinePosition(embedding)
        do { return try graph.constant(name, shape: recipe.shape, storage: ConstantStorage(generating: recipe)) } catch { throw .graph(error) }
    }

    @discardableResult
    func add(_ operation: GraphOperation, _ inputs: [ValueID], name: String) throws(BuildError) -> ValueID {
        do { return try graph.add(operation, inputs, name: name) } catch { throw .graph(error) }
    }

    func columns(_ value: ValueID) -> Int { graph.shape(of: value).last ?? 0 }
    func rows(_ value: ValueID) -> Int { graph.shape(of: value).first ?? 0 }

    // MARK: - Layers in transformers' terms

    /// `nn.Linear` at `prefix` (`prefix.weight` [outputs, inputs], `prefix.bias`).
    func linear(_ x: ValueID, _ prefix: String, outputs: Int, activation: Activation = .none,
                residual: ValueID? = nil) throws(BuildError) -> ValueID {
        let weight = try self.weight("\(prefix).weight", shape: [outputs, columns(x)])
        let bias = try self.weight("\(prefix).bias", shape: [outputs])
        var inputs = [x, weight, bias]
        if let residual { inputs.append(residual) }
        return try add(.linear(activation: activation), inputs, name: prefix)
    }

    /// `nn.LayerNorm` at `prefix` applied to x (+ residual).
    func layerNorm(_ x: ValueID, _ prefix: String, residual: ValueID? = nil, epsilon: Float = 1e-5) throws(BuildError) -> ValueID {
        let width = columns(x)
        let gamma = try weight("\(prefix).weight", shape: [width])
        let beta = try weight("\(prefix).bias", shape: [width])
        var inputs = [x, gamma, beta]
        if let residual { inputs.append(residual) }
        return try add(.layerNorm(epsilon: epsilon), inputs, name: prefix)
    }

    /// fc1 followed by the configured activation (transformers' `activation_function`): ReLU fused into
    /// the linear; PReLU with its one learned slope at `slope` (`nn.PReLU()`); exact GELU; SiLU.
    func linearWithActivation(_ x: ValueID, _ prefix: String, outputs: Int, activation: String,
                              slope: String? = nil) throws(BuildError) -> ValueID {
        switch activation {
        case "relu":
            return try linear(x, prefix, outputs: outputs, activation: .relu)
        case "prelu":
            guard let slope else { throw .unsupported("config.json: activation_function 'prelu' is only supported for dab-detr") }
            let h = try linear(x, prefix, outputs: outputs)
            let alpha = try weight("\(slope).weight", shape: [1])
            return try add(.unary(.prelu), [h, alpha], name: slope)
        case "gelu", "silu":
            let h = try linear(x, prefix, outputs: outputs)
            return try add(.unary(activation == "gelu" ? .gelu : .silu), [h], name: "\(prefix).\(activation)")
        default:
            throw .unsupported("config.json: activation_function '\(activation)' is not supported (relu, prelu, gelu, silu)")
        }
    }

    /// The DETR prediction MLP (`prefix.layers.{i}`): ReLU between layers, none after the last.
    func mlp(_ x: ValueID, _ prefix: String, hidden: Int, outputs: Int, layers: Int) throws(BuildError) -> ValueID {
        var h = x
        for layer in 0..<layers {
            let last = layer == layers - 1
            h = try linear(h, "\(prefix).layers.\(layer)", outputs: last ? outputs : hidden,
                           activation: last ? .none : .relu)
        }
        return h
    }

    /// `torch.cat(maps, dim=1)` of NCHW maps: `[H, W, C_i]` maps as token matrices side by side, then a map
    /// again. The maps must have one height and width. The token matrices are named `name.a`, `name.b`, ...
    /// (so are the reshapes in files written before there were more than two).
    func concatenateChannels(_ maps: [ValueID], name: String) throws(BuildError) -> ValueID {
        let shapes = maps.map { graph.shape(of: $0) }
        guard let first = shapes.first, shapes.allSatisfy({ $0.count == 3 && $0[0] == first[0] && $0[1] == first[1] }) else {
            throw .unsupported("\(name): maps \(shapes) do not align")
        }
        let pixels = first[0] * first[1]
        var rows: [ValueID] = []
        for (index, map) in maps.enumerated() {
            let part = index < 26 ? String(UnicodeScalar(UInt8(97 + index))) : "\(index)"
            rows.append(try add(.reshape([pixels, shapes[index][2]]), [map], name: "\(name).\(part)"))
        }
        let joined = try add(.concatenateColumns, rows, name: name)
        return try add(.reshape([first[0], first[1], columns(joined)]), [joined], name: "\(name).map")
    }

    func binary(_ op: BinaryOperator, _ a: ValueID, _ b: ValueID, name: String) throws(BuildError) -> ValueID {
        try add(.binary(op), [a, b], name: name)
    }

    func sigmoid(_ x: ValueID, name: String) throws(BuildError) -> ValueID {
        try add(.unary(.sigmoid), [x], name: name)
    }

    func slice(_ x: ValueID, start: Int, count: Int, name: String) throws(BuildError) -> ValueID {
        try add(.sliceColumns(start: start, count: count), [x], name: name)
    }
}
