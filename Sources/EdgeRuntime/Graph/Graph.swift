import Kernels

/// A value of the graph: the image input, a constant (weights, folded embeddings) or a node's output.
public struct ValueID: Equatable, Sendable {
    public let index: Int
    public init(_ index: Int) { self.index = index }
}

/// Where a value comes from.
public enum ValueSource: Equatable, Sendable {
    case input
    /// Index into `Graph.constants`.
    case constant(Int)
    /// Index into `Graph.nodes`.
    case node(Int)
}

/// The element type of a value. Float32 everywhere in the float graph; the quantizer introduces int8
/// activations and weights and int32 biases.
public enum ElementType: UInt8, Equatable, Sendable {
    case float32 = 1, int8 = 2, int32 = 3

    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .int8: 1
        }
    }
}

public struct ValueInfo: Sendable {
    public var name: String
    public var shape: [Int]
    public var source: ValueSource
    public var elementType: ElementType = .float32
    /// Scale and zero point of an int8 activation (per tensor). Int8 weights are per channel: their
    /// scales are folded into the requantization scales the quantized ops take as an input.
    public var quantization: Int8Quantization? = nil
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * elementType.byteSize }
}

/// One op applied to values, producing one new value.
public struct Node: Sendable {
    public var name: String
    public var operation: GraphOperation
    public var inputs: [ValueID]
    public var output: ValueID
}

/// The data of a constant (float32, int8 or int32). A class so that graphs built for several input
/// sizes share one copy of the weights. It either owns its memory (weights imported from a checkpoint
/// or quantized, data materialized at load) or borrows it from a mapped model file that it keeps alive
/// (zero-copy weights). `encoding` says how a model file stores it (raw, weight-only int8, a recipe).
public final class ConstantStorage: @unchecked Sendable {
    public let raw: UnsafeMutableRawPointer
    /// Elements (not bytes).
    public let count: Int
    public let elementType: ElementType
    /// How a model file stores this data; the data itself is always what the kernels read.
    public let encoding: ConstantEncoding
    private let owned: Bool
    private let file: MappedFile?

    /// Copies `values` into owned memory. The copy happens inside `withUnsafeBytes`: a pointer taken
    /// out of it is dangling once the array's last use is passed (an optimized build may free the
    /// array right there).
    private init<Element>(copying values: [Element], elementType: ElementType) {
        count = values.count
        self.elementType = elementType
        let byteCount = values.count * MemoryLayout<Element>.stride
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        values.withUnsafeBytes { source in
            if let base = source.baseAddress, source.count > 0 { pointer.copyMemory(from: base, byteCount: source.count) }
        }
        raw = pointer
        encoding = .raw
        owned = true
        file = nil
    }

    /// Owned float32 memory of `count` values, filled by `fill`, stored as `encoding`.
    private init(float count: Int, encoding: ConstantEncoding, fill: (UnsafeMutablePointer<Float>) -> Void) {
        self.count = count
        elementType = .float32
        self.encoding = encoding
        let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        fill(pointer)
        raw = UnsafeMutableRawPointer(pointer)
        owned = true
        file = nil
    }

    /// The data `recipe` generates, materialized now (a builder folding it, or the reader at load).
    public convenience init(generating recipe: ConstantRecipe) {
        let count = recipe.shape.reduce(1, *)
        self.init(float: count, encoding: .generated(recipe)) { recipe.fill($0) }
    }

    /// The float32 weight `[outputs, count / outputs]` that int8 `values` and float32 `scales` (one per
    /// output) stand for: `Float(values[o, i]) * scales[o]`, materialized now. Callers check that the
    /// sizes agree (`values.count` a multiple of `scales.count`).
    public convenience init(dequantizing values: ConstantStorage, scales: ConstantStorage) {
        let outputs = max(scales.count, 1)
        let perOutput = values.count / outputs
        self.init(float: values.count, encoding: .int8PerChannel(values: values, scales: scales)) { output in
            let q = values.int8Pointer
            let s = scales.pointer
            for o in 0..<scales.count {
                for i in 0..<perOutput { output[o * perOutput + i] = Float(q[o * perOutput + i]) * s[o] }
            }
        }
    }

    public convenience init(_ values: [Float]) {
        self.init(copying: values, elementType: .float32)
    }

    public convenience init(int8 values: [Int8]) {
        self.init(copying: values, elementType: .int8)
    }

    public convenience init(int32 values: [Int32]) {
        self.init(copying: values, elementType: .int32)
    }

    /// Borrows `count` elements at `raw` inside `file` (read-only: kernels never write constants).
    public init(borrowing raw: UnsafeMutableRawPointer, count: Int, elementType: ElementType, from file: MappedFile) {
        self.raw = raw
        self.count = count
        self.elementType = elementType
        encoding = .raw
        owned = false
        self.file = file
    }

    /// Packed int8 weights (`count` logical elements): the data is `packed.weights`' panels, owned by
    /// them or borrowed from `file`.
    public init(packed: PackedWeightEncoding, count: Int, from file: MappedFile?) {
        raw = packed.weights.bytes
        self.count = count
        elementType = .int8
        encoding = .int8Packed(packed)
        owned = false
        self.file = file
    }

    /// The packed weights, when this constant stores them (its data is then panels, not `[N, K]`).
    public var packedWeights: PackedWeightEncoding? {
        if case .int8Packed(let packed) = encoding { return packed }
        return nil
    }

    /// Int8 data in the constant's logical `shape` (`[N, K]`, `[O, C, kH, kW]`...), packed weights
    /// unpacked (for tools and tests; allocates).
    public func int8Values(shape: [Int]) -> [Int8] {
        guard let packed = packedWeights else { return Array(UnsafeBufferPointer(start: int8Pointer, count: count)) }
        let weights = packed.weights
        var result = [Int8](repeating: 0, count: count)
        let isPatch = packed.depthOrder == .convolutionPatch && shape.count == 4
        let channels = isPatch ? max(shape[1], 1) : 1, kernelHeight = isPatch ? shape[2] : 1, kernelWidth = isPatch ? max(shape[3], 1) : 1
        for output in 0..<weights.outputs {
            for input in 0..<weights.inputs {
                var index = output * weights.inputs + input
                if isPatch {
                    let channel = input % channels, tap = input / channels
                    index = ((output * channels + channel) * kernelHeight + tap / kernelWidth) * kernelWidth + tap % kernelWidth
                }
                result[index] = weights.weight(output: output, input: input)
            }
        }
        return result
    }

    deinit { if owned { raw.deallocate() } }

    public var byteCount: Int { count * elementType.byteSize }

    /// Bytes a model file stores for this constant (`ConstantCoding.storedByteCount`).
    public var storedByteCount: Int { ConstantCoding.storedByteCount(self) }

    /// Bytes this constant owns in memory (materialized), as opposed to borrowed from a mapped file.
    public var ownedByteCount: Int { owned ? byteCount : 0 }
    /// The data as float32 (valid for float32 constants).
    public var pointer: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    public var int8Pointer: UnsafeMutablePointer<Int8> { raw.assumingMemoryBound(to: Int8.self) }
    public var int32Pointer: UnsafeMutablePointer<Int32> { raw.assumingMemoryBound(to: Int32.self) }

    /// A copy of float32 data as an array (for tests and tools; kernels use `pointer`).
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: elementType == .float32 ? count : 0)) }
}

public enum GraphError: Error, Equatable, CustomStringConvertible {
    case arity(node: String, operation: String, expected: String, got: Int)
    case shapeMismatch(node: String, operation: String, detail: String)
    case constantSize(name: String, shape: [Int], values: Int)
    case unknownValue(node: String, index: Int)
    case invalidAttribute(node: String, operation: String, detail: String)
    case valueTooLarge(name: String, shape: [Int])

    public var description: String {
        switch self {
        case .arity(let node, let operation, let expected, let got):
            return "node '\(node)' (\(operation)) takes \(expected) inputs, got \(got)"
        case .shapeMismatch(let node, let operation, let detail):
            return "node '\(node)' (\(operation)): \(detail)"
        case .constantSize(let name, let shape, let values):
            return "constant '\(name)' has shape \(shape) but \(values) values"
        case .unknownValue(let node, let index):
            return "node '\(node)' refers to value \(index), which does not exist yet"
        case .invalidAttribute(let node, let operation, let detail):
            return "node '\(node)' (\(operation)): \(detail)"
        case .valueTooLarge(let name, let shape):
            return "value '\(name)' of shape \(shape) has more than \(RuntimeLimits.maximumValueElements) elements"
        }
    }
}

/// The graph IR: values in topological order (every node only reads values defined before it).
///
/// Builders append to it with `constant`, `input` and `add`; `add` checks arity and shapes with the op's
/// shape rule, so a graph that exists is well-formed.
public final class Graph {
    public private(set) var values: [ValueInfo] = []
    public private(set) var nodes: [Node] = []
    public private(set) var constants: [ConstantStorage] = []
    public private(set) var inputs: [ValueID] = []
    /// Named results (logits, boxes, and any intermediates a caller asked to keep).
    public private(set) var outputs: [(name: String, value: ValueID)] = []

    public init() {}

    public func input(_ name: String, shape: [Int]) -> ValueID {
        let id = ValueID(values.count)
        values.append(ValueInfo(name: name, shape: shape, source: .input))
        inputs.append(id)
        return id
    }

    public func constant(_ name: String, shape: [Int], storage: ConstantStorage) throws(GraphError) -> ValueID {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow || dimension < 0 { throw .constantSize(name: name, shape: shape, values: storage.count) }
            count = product
        }
        guard count == storage.count else {
            throw .constantSize(name: name, shape: shape, values: storage.count)
        }
        let id = ValueID(values.count)
        values.append(ValueInfo(name: name, shape: shape, source: .constant(constants.count), elementType: storage.elementType))
        constants.append(storage)
        return id
    }

    public func constant(_ name: String, shape: [Int], values data: [Float]) throws(GraphError) -> ValueID {
        try constant(name, shape: shape, storage: ConstantStorage(data))
    }

    /// Appends a node; returns its output value. `quantization` makes the output an int8 value (ops
    /// that can produce int8: quantize, the quantized ops, max-pool and reshape of int8 input).
    @discardableResult
    public func add(_ operation: GraphOperation, _ inputs: [ValueID], name: String,
                    quantization: Int8Quantization? = nil) throws(GraphError) -> ValueID {
        var shapes: [[Int]] = []
        var types: [ElementType] = []
        shapes.reserveCapacity(inputs.count)
        for input in inputs {
            guard input.index >= 0 && input.index < values.count else {
                throw .unknownValue(node: name, index: input.index)
            }
            shapes.append(values[input.index].shape)
            types.append(values[input.index].elementType)
        }
        let shape = try operation.outputShape(inputs: shapes, node: name)
        guard checkedElementCount(shape) != nil else { throw .valueTooLarge(name: name, shape: shape) }
        let outputType = try operation.outputType(inputs: types, quantized: quantization != nil, node: name)
        for position in operation.int8ActivationInputs where position < inputs.count && values[inputs[position].index].quantization == nil {
            throw .invalidAttribute(node: name, operation: operation.kindName,
                                    detail: "input \(position) '\(values[inputs[position].index].name)' is int8 without a scale and zero point (a constant?)")
        }
        // Pass-through ops (max-pool, reshape) keep their int8 input's quantization.
        let outputQuantization = outputType == .int8 ? (quantization ?? values[inputs[0].index].quantization) : nil
        if outputType == .int8 {
            guard let outputQuantization, outputQuantization.scale > 0, outputQuantization.scale.isFinite,
                  (-128...127).contains(outputQuantization.zeroPoint) else {
                throw .invalidAttribute(node: name, operation: operation.kindName,
                                        detail: "int8 output needs a positive finite scale and a zero point in -128...127")
            }
        }
        let id = ValueID(values.count)
        values.append(ValueInfo(name: name, shape: shape, source: .node(nodes.count), elementType: outputType,
                                quantization: outputQuantization))
        nodes.append(Node(name: name, operation: operation, inputs: inputs, output: id))
        return id
    }

    public func markOutput(_ name: String, _ value: ValueID) {
        outputs.append((name: name, value: value))
    }

    public func shape(of value: ValueID) -> [Int] { values[value.index].shape }

    public func output(named name: String) -> ValueID? {
        for output in outputs where output.name == name { return output.value }
        return nil
    }

    /// Total float parameters held as constants.
    public var constantElementCount: Int {
        var total = 0
        for constant in constants { total += constant.count }
        return total
    }
}

extension Graph {
    /// The kernel shape of a convolution node (`conv2d` or `quantizedConv2d`: input `[H, W, C]`,
    /// weight `[O, C, kH, kW]`), or nil for any other op.
    public func convolutionShape(of node: Node) -> Conv2DShape? {
        switch node.operation {
        case .conv2d(let stride, let padding, _), .quantizedConv2d(let stride, let padding, _):
            let input = shape(of: node.inputs[0])
            let weight = shape(of: node.inputs[1])
            return Conv2DShape(
                inputHeight: input[0], inputWidth: input[1], inputChannels: input[2], outputChannels: weight[0],
                kernelHeight: weight[2], kernelWidth: weight[3], stride: stride, padding: padding)
        default:
            return nil
        }
    }
}
