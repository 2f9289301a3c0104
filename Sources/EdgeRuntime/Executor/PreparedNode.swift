import Kernels

/// One node ready to run: everything its op needs (data pointers, packed weights, tables, sizes,
/// quantization parameters) resolved once by `prepare`, so that `run` is one switch and a kernel call.
///
/// Each op lives in one file under Executor/Ops, as a struct with an `init` that prepares it (reads
/// the node's operands by name, packs weights, sizes its scratch, allocates its tables, and throws when
/// the node cannot run) and a `run` that calls the kernels without allocating. Adding an op is that
/// file plus one case here and one line in each switch below.
enum PreparedNode {
    /// A reshape of an activation: it shares its source's bytes, nothing runs.
    case alias
    case copy(CopyOp)
    case maxPool2d(MaxPool2DOp)
    case upsampleNearest(UpsampleNearestOp)
    case averagePool2d(AveragePool2DOp)
    case pad2d(Pad2DOp)
    case clamp(ClampOp)
    case depthwiseConv2d(DepthwiseConv2DOp)
    case quantizedDepthwiseConv2d(QuantizedDepthwiseConv2DOp)
    case distanceToBox(DistanceToBoxOp)
    case topValuesWithMean(TopValuesWithMeanOp)
    case groupWeightedSum(GroupWeightedSumOp)
    case rmsNorm(RMSNormOp)
    case columnMeans(ColumnMeansOp)
    case floatGEMM(FloatGEMMOp)
    case quantizedGEMM(QuantizedGEMMOp)
    case dynamicQuantizedLinear(DynamicQuantizedLinearOp)
    case normalization(NormalizationOp)
    case binary(BinaryOp)
    case elementwise(ElementwiseOp)
    case attention(AttentionOp)
    case deformableSampling(DeformableSamplingOp)
    case quantizedDeformableSampling(QuantizedDeformableSamplingOp)
    case quantizedUnary(QuantizedUnaryOp)
    case deformableLocations(DeformableLocationsOp)
    case concatenateColumns(ConcatenateColumnsOp)
    case concatenateRows(ConcatenateRowsOp)
    case sliceColumns(SliceColumnsOp)
    case interleaveHeads(InterleaveHeadsOp)
    case sineEmbedding(SineEmbeddingOp)
    case topRows(TopRowsOp)
    case quantization(QuantizationOp)

    /// Prepares `node` for this executor's memory (`preparation.pointers`).
    static func prepare(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) -> PreparedNode {
        switch node.operation {
        case .reshape:
            if case .constant = preparation.graph.values[node.x.index].source {
                return .copy(try CopyOp(node, &preparation))
            }
            return .alias
        case .maxPool2d: return .maxPool2d(try MaxPool2DOp(node, &preparation))
        case .upsampleNearest: return .upsampleNearest(try UpsampleNearestOp(node, &preparation))
        case .averagePool2d: return .averagePool2d(try AveragePool2DOp(node, &preparation))
        case .pad2d: return .pad2d(try Pad2DOp(node, &preparation))
        case .depthwiseConv2d: return .depthwiseConv2d(try DepthwiseConv2DOp(node, &preparation))
        case .quantizedDepthwiseConv2d: return .quantizedDepthwiseConv2d(try QuantizedDepthwiseConv2DOp(node, &preparation))
        case .distanceToBox: return .distanceToBox(try DistanceToBoxOp(node, &preparation))
        case .topValuesWithMean: return .topValuesWithMean(try TopValuesWithMeanOp(node, &preparation))
        case .groupWeightedSum: return .groupWeightedSum(try GroupWeightedSumOp(node, &preparation))
        case .rmsNorm: return .rmsNorm(try RMSNormOp(node, &preparation))
        case .columnMeans: return .columnMeans(try ColumnMeansOp(node, &preparation))
        case .linear, .conv2d: return .floatGEMM(try FloatGEMMOp(node, &preparation))
        case .quantizedLinear, .quantizedConv2d: return .quantizedGEMM(try QuantizedGEMMOp(node, &preparation))
        case .dynamicQuantizedLinear: return .dynamicQuantizedLinear(try DynamicQuantizedLinearOp(node, &preparation))
        case .layerNorm, .groupNorm: return .normalization(try NormalizationOp(node, &preparation))
        case .binary: return .binary(try BinaryOp(node, &preparation))
        case .clamp: return .clamp(try ClampOp(node, &preparation))
        case .unary, .inverseSigmoid, .softmax: return .elementwise(try ElementwiseOp(node, &preparation))
        case .quantizedUnary: return .quantizedUnary(try QuantizedUnaryOp(node, &preparation))
        case .attention, .dynamicQuantizedAttention: return .attention(try AttentionOp(node, &preparation))
        case .deformableSampling: return .deformableSampling(try DeformableSamplingOp(node, &preparation))
        case .quantizedDeformableSampling:
            return .quantizedDeformableSampling(try QuantizedDeformableSamplingOp(node, &preparation))
        case .deformableLocations: return .deformableLocations(try DeformableLocationsOp(node, &preparation))
        case .concatenateColumns: return .concatenateColumns(try ConcatenateColumnsOp(node, &preparation))
        case .concatenateRows: return .concatenateRows(try ConcatenateRowsOp(node, &preparation))
        case .sliceColumns: return .sliceColumns(try SliceColumnsOp(node, &preparation))
        case .interleaveHeads: return .interleaveHeads(try InterleaveHeadsOp(node, &preparation))
        case .sineEmbedding: return .sineEmbedding(try SineEmbeddingOp(node, &preparation))
        case .topRows: return .topRows(try TopRowsOp(node, &preparation))
        case .quantize, .dequantize: return .quantization(try QuantizationOp(node, &preparation))
        }
    }

    /// Runs the node; allocates nothing.
    func run(_ context: RunContext) {
        switch self {
        case .alias: break
        case .copy(let op): op.run(context)
        case .maxPool2d(let op): op.run(context)
        case .upsampleNearest(let op): op.run(context)
        case .averagePool2d(let op): op.run(context)
        case .pad2d(let op): op.run(context)
        case .clamp(let op): op.run(context)
        case .depthwiseConv2d(let op): op.run(context)
        case .quantizedDepthwiseConv2d(let op): op.run(context)
        case .distanceToBox(let op): op.run(context)
        case .topValuesWithMean(let op): op.run(context)
        case .groupWeightedSum(let op): op.run(context)
        case .rmsNorm(let op): op.run(context)
        case .columnMeans(let op): op.run(context)
        case .floatGEMM(let op): op.run(context)
        case .quantizedGEMM(let op): op.run(context)
        case .dynamicQuantizedLinear(let op): op.run(context)
        case .normalization(let op): op.run(context)
        case .binary(let op): op.run(context)
        case .elementwise(let op): op.run(context)
        case .attention(let op): op.run(context)
        case .deformableSampling(let op): op.run(context)
        case .quantizedDeformableSampling(let op): op.run(context)
        case .quantizedUnary(let op): op.run(context)
        case .deformableLocations(let op): op.run(context)
        case .concatenateColumns(let op): op.run(context)
        case .concatenateRows(let op): op.run(context)
        case .sliceColumns(let op): op.run(context)
        case .interleaveHeads(let op): op.run(context)
        case .sineEmbedding(let op): op.run(context)
        case .topRows(let op): op.run(context)
        case .quantization(let op): op.run(context)
        }
    }
}

/// What a running op may use besides its own prepared state.
struct RunContext {
    let pool: ThreadPool?
    /// Shared float scratch: attention probabilities, float conv staging (`NodePreparation.scratchElements`).
    let scratch: UnsafeMutablePointer<Float>
    /// Per-thread scratch of the kernels' tasks (`NodePreparation.taskScratchBytes` a thread).
    let taskScratch: KernelScratch
}

/// What preparing a node reads (the graph, where each value's data lives) and what it leaves for the
/// executor: the largest scratch any node asks for, how int8 weights were placed, and the per-node
/// tables to free with it.
struct NodePreparation {
    let graph: Graph
    /// Base of each value's data: its constant's memory, or its place in the arena.
    let pointers: [UnsafeMutableRawPointer]
    let threads: Int
    var scratchElements = 0
    var taskScratchBytes = 0
    var inPlaceWeightBytes = 0
    var repackedWeightBytes = 0
    private(set) var tables: [UnsafeMutableRawPointer] = []

    init(graph: Graph, pointers: [UnsafeMutableRawPointer], threads: Int) {
        self.graph = graph
        self.pointers = pointers
        self.threads = threads
    }

    func float(_ value: ValueID) -> UnsafeMutablePointer<Float> { pointers[value.index].assumingMemoryBound(to: Float.self) }
    func int8(_ value: ValueID) -> UnsafeMutablePointer<Int8> { pointers[value.index].assumingMemoryBound(to: Int8.self) }
    func shape(_ value: ValueID) -> [Int] { graph.shape(of: value) }
    func elementCount(_ value: ValueID) -> Int { graph.values[value.index].elementCount }
    func quantization(_ value: ValueID) -> Int8Quantization? { graph.values[value.index].quantization }

    /// The node's `operand`; a node without it cannot run (`Graph.add` checks arity, so only a graph
    /// built around it gets here).
    func operand(_ operand: Operand, of node: Node) throws(ExecutionError) -> ValueID {
        guard let value = node[operand] else { throw .malformedNode(node: node.name, detail: "it has no \(operand.rawValue) input") }
        return value
    }

    /// The constant behind the node's `operand` (weights must be constants: they are packed here).
    func constant(_ operand: Operand, of node: Node) throws(ExecutionError) -> ConstantStorage {
        guard let value = node[operand], case .constant(let c) = graph.values[value.index].source else {
            throw .weightNotConstant(node: node.name)
        }
        return graph.constants[c]
    }

    /// The int8 quantization of `value`, which the graph guarantees for int8 activations.
    func requireQuantization(_ value: ValueID, of node: Node) throws(ExecutionError) -> Int8Quantization {
        guard let quantization = quantization(value) else {
            throw .malformedNode(node: node.name, detail: "'\(graph.values[value.index].name)' has no int8 scale and zero point")
        }
        return quantization
    }

    /// A table of `count` elements that lives as long as the executor.
    mutating func table<Element>(of type: Element.Type, count: Int) -> UnsafeMutablePointer<Element> {
        let table = UnsafeMutablePointer<Element>.allocate(capacity: max(count, 1))
        tables.append(UnsafeMutableRawPointer(table))
        return table
    }

    mutating func needScratch(elements: Int = 0, taskBytes: Int = 0) {
        scratchElements = max(scratchElements, elements)
        taskScratchBytes = max(taskScratchBytes, taskBytes)
    }
}
