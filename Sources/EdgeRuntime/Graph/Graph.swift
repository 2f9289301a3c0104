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

public struct ValueInfo: Sendable {
    public var name: String
    public var shape: [Int]
    public var source: ValueSource
    public var elementCount: Int { shape.reduce(1, *) }
}

/// One op applied to values, producing one new value.
public struct Node: Sendable {
    public var name: String
    public var operation: GraphOperation
    public var inputs: [ValueID]
    public var output: ValueID
}

/// Float data of a constant. A class so that graphs built for several input sizes share one copy of
/// the weights. It either owns its memory (weights imported from a checkpoint) or borrows it from a
/// mapped model file that it keeps alive (zero-copy weights).
public final class ConstantStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let owned: Bool
    private let file: MappedFile?

    public init(_ values: [Float]) {
        count = values.count
        pointer = .allocate(capacity: max(count, 1))
        owned = true
        file = nil
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress, count > 0 { pointer.initialize(from: base, count: count) }
        }
    }

    /// Borrows `count` floats at `pointer` inside `file` (read-only: kernels never write constants).
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, from file: MappedFile) {
        self.pointer = pointer
        self.count = count
        owned = false
        self.file = file
    }

    deinit { if owned { pointer.deallocate() } }

    /// A copy of the data as an array (for tests and tools; kernels use `pointer`).
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

public enum GraphError: Error, Equatable, CustomStringConvertible {
    case arity(node: String, operation: String, expected: String, got: Int)
    case shapeMismatch(node: String, operation: String, detail: String)
    case constantSize(name: String, shape: [Int], values: Int)
    case unknownValue(node: String, index: Int)
    case invalidAttribute(node: String, operation: String, detail: String)

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
        values.append(ValueInfo(name: name, shape: shape, source: .constant(constants.count)))
        constants.append(storage)
        return id
    }

    public func constant(_ name: String, shape: [Int], values data: [Float]) throws(GraphError) -> ValueID {
        try constant(name, shape: shape, storage: ConstantStorage(data))
    }

    /// Appends a node; returns its output value.
    @discardableResult
    public func add(_ operation: GraphOperation, _ inputs: [ValueID], name: String) throws(GraphError) -> ValueID {
        var shapes: [[Int]] = []
        shapes.reserveCapacity(inputs.count)
        for input in inputs {
            guard input.index >= 0 && input.index < values.count else {
                throw .unknownValue(node: name, index: input.index)
            }
            shapes.append(values[input.index].shape)
        }
        let shape = try operation.outputShape(inputs: shapes, node: name)
        let id = ValueID(values.count)
        values.append(ValueInfo(name: name, shape: shape, source: .node(nodes.count)))
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
