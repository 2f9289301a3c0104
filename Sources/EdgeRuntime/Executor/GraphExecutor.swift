import CLibc
import Kernels

public enum ExecutionError: Error, Equatable, CustomStringConvertible {
    case inputShape(name: String, expected: Int, got: Int)
    case weightNotConstant(node: String)
    case packedWeightShape(node: String)
    case missingOutput(name: String)
    case nonFiniteOutput(name: String, index: Int, value: Float)
    case workingMemoryTooLarge(bytes: Int?)
    /// A node its op cannot run as given (an operand or a quantization missing, an attribute out of
    /// range): graphs built through `Graph.add` never have one.
    case malformedNode(node: String, detail: String)

    public var description: String {
        switch self {
        case .inputShape(let name, let expected, let got):
            return "input '\(name)' needs \(expected) values, got \(got)"
        case .weightNotConstant(let node):
            return "node '\(node)': weights must be constants"
        case .packedWeightShape(let node):
            return "node '\(node)': its packed weights do not have the layer's shape"
        case .missingOutput(let name):
            return "the graph has no float32 output '\(name)'"
        case .nonFiniteOutput(let name, let index, let value):
            return "the model produced \(value) at \(name)[\(index)] (overflow in the model's arithmetic): no detections reported"
        case .malformedNode(let node, let detail):
            return "node '\(node)' cannot run: \(detail)"
        case .workingMemoryTooLarge(let bytes):
            return "a run would need \(bytes.map { "\($0) bytes" } ?? "more than Int.max bytes") of arena and scratch, over the limit of \(RuntimeLimits.maximumWorkingBytes)"
        }
    }
}

/// One named result of a run.
public struct FloatTensor: Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
}

/// Runs a graph: float32 ops on the float kernels, quantized ops on the int8 kernels. It is the float
/// reference the int8 path is measured against, the engine calibration drives, and the runtime of
/// model files. Everything is prepared at init: int8 weights a file stores packed for this CPU used in
/// place, others packed (or repacked) for the kernels, one arena holding every
/// activation at the offsets of an `ArenaPlan`, scratch for the kernels (the attention probabilities,
/// and per thread the largest task scratch any node's kernel asks for) and per-node tables. `run`
/// itself then allocates nothing, with or without a pool (Tests/QuantizeTests/NoAllocationTests.swift
/// counts): the kernels hand their parallel loops to the pool as `ParallelJob`s, a C function and
/// a pointer to arguments on the caller's stack.
public final class GraphExecutor {
    public let graph: Graph
    public let plan: ArenaPlan
    public let pool: ThreadPool?
    private let threads: Int
    /// Every node, prepared (PreparedNode.swift; one file per op family under Ops/).
    private let prepared: [PreparedNode]
    /// Base of each value's data: its constant's memory, or its place in the arena.
    private let pointers: [UnsafeMutableRawPointer]
    private let arena: UnsafeMutableRawPointer
    /// The outputs of the constant subgraphs the rest of the graph reads, computed at init (`ConstantSubgraphs`).
    private let folded: UnsafeMutableRawPointer
    private let foldedBytes: Int
    /// Indices of the nodes run once at init instead of in every run (constant subgraphs), in graph order.
    public let foldedNodes: [Int]
    private let scratch: UnsafeMutablePointer<Float>
    /// Per-thread scratch of the kernels' tasks (conv edge rows, int8 GEMM staging, deformable taps).
    private let taskScratch: KernelScratch
    /// Per-node tables made at prepare (deformable level shapes and starts, sine frequencies, top-k
    /// ordering space), so no node builds an array while running.
    private let nodeTables: [UnsafeMutableRawPointer]

    /// Bytes of the activation arena, the constant subgraphs' outputs and the kernels' scratch: all the
    /// memory a run touches besides the weights.
    public var workingBytes: Int { plan.size + foldedBytes + scratchCount * MemoryLayout<Float>.stride + taskScratch.byteCount }
    private let scratchCount: Int
    /// Bytes of int8 weights a model file stores packed for this CPU, used in place from the mapping.
    public let inPlaceWeightBytes: Int
    /// Bytes of int8 weights a model file stores packed for another CPU, repacked at init into
    /// memory the executor owns (weights stored raw are packed at init too; they are not counted).
    public let repackedWeightBytes: Int

    /// - Parameter plan: where activations live; planned here (greedy) when nil. A plan read from a
    ///   file must have passed `ArenaPlanner.validate`.
    /// - Parameter foldsConstantSubgraphs: run the nodes of constant inputs once here instead of in every
    ///   run (the results are the same bits). Off for the tools that read every intermediate value during
    ///   a run (calibration, `compare`): a folded node's intermediate values are not there then.
    public init(graph: Graph, plan: ArenaPlan? = nil, threads: Int = 1, foldsConstantSubgraphs: Bool = true) throws(ExecutionError) {
        let plan = plan ?? ArenaPlanner.plan(graph)
        self.graph = graph
        self.plan = plan
        self.threads = max(threads, 1)
        // Everything a run works in is bounded before it is allocated (the sizes come from the graph,
        // which may come from a file): the arena first, then the arena with the scratch the nodes ask for.
        guard plan.size >= 0, plan.size <= RuntimeLimits.maximumWorkingBytes else {
            throw .workingMemoryTooLarge(bytes: plan.size >= 0 ? plan.size : nil)
        }
        let constantSubgraphs = foldsConstantSubgraphs ? ConstantSubgraphs(graph) : nil
        guard let foldedBytes = constantSubgraphs.map({ $0.bytes }) ?? 0,
              let arenaAndFolded = checkedSum(plan.size, foldedBytes), arenaAndFolded <= RuntimeLimits.maximumWorkingBytes else {
            throw .workingMemoryTooLarge(bytes: constantSubgraphs?.bytes.flatMap { checkedSum(plan.size, $0) })
        }
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(plan.size, ArenaPlanner.alignment),
                                                     alignment: ArenaPlanner.alignment)
        let folded = UnsafeMutableRawPointer.allocate(byteCount: max(foldedBytes, ArenaPlanner.alignment),
                                                      alignment: ArenaPlanner.alignment)
        var pointers: [UnsafeMutableRawPointer] = []
        pointers.reserveCapacity(graph.values.count)
        for (index, value) in graph.values.enumerated() {
            if case .constant(let c) = value.source {
                pointers.append(graph.constants[c].raw)
            } else if let offset = constantSubgraphs?.offsets[index] {
                pointers.append(folded + offset)
            } else {
                pointers.append(arena + plan.offsets[index])
            }
        }
        var preparation = NodePreparation(graph: graph, pointers: pointers, threads: self.threads)
        var prepared: [PreparedNode] = []
        prepared.reserveCapacity(graph.nodes.count)
        do throws(ExecutionError) {
            for node in graph.nodes {
                prepared.append(try PreparedNode.prepare(node, &preparation))
            }
            var total: Int? = arenaAndFolded
            for part in [checkedProduct(preparation.scratchElements, MemoryLayout<Float>.stride),
                         checkedProduct(preparation.taskScratchBytes, self.threads)] {
                guard let sum = total, let part, !sum.addingReportingOverflow(part).overflow else { total = nil; break }
                total = sum + part
            }
            guard let total, total <= RuntimeLimits.maximumWorkingBytes else { throw .workingMemoryTooLarge(bytes: total) }
        } catch {
            for table in preparation.tables { table.deallocate() }
            arena.deallocate()
            folded.deallocate()
            throw error
        }
        self.arena = arena
        self.folded = folded
        self.foldedBytes = foldedBytes
        self.pointers = pointers
        nodeTables = preparation.tables
        scratchCount = preparation.scratchElements
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(preparation.scratchElements, 1))
        let taskScratch = KernelScratch(bytesPerThread: preparation.taskScratchBytes, threads: self.threads)
        let pool = self.threads > 1 ? ThreadPool(threadCount: self.threads) : nil
        (self.scratch, self.taskScratch, self.pool) = (scratch, taskScratch, pool)
        inPlaceWeightBytes = preparation.inPlaceWeightBytes
        repackedWeightBytes = preparation.repackedWeightBytes
        // The constant subgraphs run once, now; their prepared state (packed float weights) goes with them.
        let context = RunContext(pool: pool, scratch: scratch, taskScratch: taskScratch)
        for index in constantSubgraphs?.nodes ?? [] {
            prepared[index].run(context)
            prepared[index] = .alias
        }
        self.prepared = prepared
        foldedNodes = constantSubgraphs?.nodes ?? []
    }

    deinit {
        scratch.deallocate()
        arena.deallocate()
        folded.deallocate()
        for table in nodeTables { table.deallocate() }
    }

    /// Runs the graph on its input (`count` floats, the input value's element count) without
    /// allocating; read results with `output(named:)`. `afterNode`, when given, is called with each
    /// node's index once it has run (`edgedetr bench` times the nodes with it).
    public func run(input: UnsafePointer<Float>, count: Int, afterNode: ((_ index: Int) -> Void)? = nil) throws(ExecutionError) {
        guard let inputID = graph.inputs.first else { return }
        let inputInfo = graph.values[inputID.index]
        guard count == inputInfo.elementCount else {
            throw .inputShape(name: inputInfo.name, expected: inputInfo.elementCount, got: count)
        }
        float(inputID.index).update(from: input, count: count)
        let context = RunContext(pool: pool, scratch: scratch, taskScratch: taskScratch)
        for (index, node) in prepared.enumerated() {
            node.run(context)
            afterNode?(index)
        }
    }

    /// The data of any value as float32 (int8 dequantized) — only meaningful from inside an
    /// `afterNode` callback for values produced so far and still alive (the arena reuses memory), and
    /// for constants and graph outputs after a run. Calibration and `compare` read activations this way,
    /// on executors that fold nothing (`foldsConstantSubgraphs: false`).
    public func floatValues(of value: ValueID) -> [Float] {
        let info = graph.values[value.index]
        switch info.elementType {
        case .float32:
            return Array(UnsafeBufferPointer(start: float(value.index), count: info.elementCount))
        case .int8:
            let quantization = info.quantization ?? Int8Quantization(scale: 1, zeroPoint: 0)
            if case .constant(let c) = info.source {
                return graph.constants[c].int8Values(shape: info.shape).map { quantization.dequantize($0) }
            }
            let data = int8(value.index)
            return (0..<info.elementCount).map { quantization.dequantize(data[$0]) }
        case .int32:
            let data = pointers[value.index].assumingMemoryBound(to: Int32.self)
            return (0..<info.elementCount).map { Float(data[$0]) }
        }
    }

    /// A graph output of the last run, valid until the next run.
    public func output(named name: String) -> UnsafeBufferPointer<Float>? {
        guard let value = graph.output(named: name) else { return nil }
        guard graph.values[value.index].elementType == .float32 else { return nil }
        return UnsafeBufferPointer(start: float(value.index), count: graph.values[value.index].elementCount)
    }

    /// Runs the graph and copies out every named output (convenient; allocates the result arrays).
    public func run(input: [Float], afterNode: ((_ index: Int) -> Void)? = nil) throws(ExecutionError) -> [FloatTensor] {
        try input.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<Float>) throws(ExecutionError) in
            guard let base = buffer.baseAddress else {
                throw ExecutionError.inputShape(name: graph.values[graph.inputs.first?.index ?? 0].name,
                                                expected: graph.values[graph.inputs.first?.index ?? 0].elementCount, got: 0)
            }
            try run(input: base, count: buffer.count, afterNode: afterNode)
        }
        var results: [FloatTensor] = []
        for output in graph.outputs {
            let info = graph.values[output.value.index]
            results.append(FloatTensor(
                name: output.name, shape: info.shape,
                values: Array(UnsafeBufferPointer(start: float(output.value.index), count: info.elementType == .float32 ? info.elementCount : 0))))
        }
        return results
    }

    @inline(__always) private func float(_ value: Int) -> UnsafeMutablePointer<Float> {
        pointers[value].assumingMemoryBound(to: Float.self)
    }

    @inline(__always) private func int8(_ value: Int) -> UnsafeMutablePointer<Int8> {
        pointers[value].assumingMemoryBound(to: Int8.self)
    }
}
