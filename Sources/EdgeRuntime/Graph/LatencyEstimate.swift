/// A latency estimate for a board nobody has measured here: per node, the time its work takes at
/// the rate of the board's compiled kernels, or the time its bytes take through the board's memory,
/// whichever is longer, plus a fixed cost per node. `edgedetr bench --estimate rpi4|rpi5` prints it,
/// always labelled an estimate; docs/PERFORMANCE.md ("Estimating a board") says where each figure
/// comes from and how far to trust it.
///
/// The model, per node (`Graph.estimatedLatency(of:on:threads:)`):
///   GEMM-like (linear, conv2d, attention, float or int8): MACs, padded to the kernel's register
///     tile, over (MACs per cycle of the tile's inner loop x clock x GEMM efficiency x threads);
///   depthwise convolution, deformable sampling: MACs or samples at an assumed vector rate;
///   everything else: SIMD vectors it reads and writes x cycles per vector for its class
///     (copy, arithmetic, normalization, exp-based) over the clock;
///   memory: bytes read and written over the sustained bandwidth (cache-resident nodes at the
///     cache's rate);
///   time = max(compute, memory) + dispatch overhead (more for a node split across threads).
/// The inner-loop rates are llvm-mca's on the board build's own GEMM loops
/// (Calibration/bench/kernel_cycles.py); the rest are stated assumptions, not measurements.
public struct BoardModel: Sendable {
    /// The name `--estimate` takes.
    public var name: String
    public var description: String
    public var cores: Int
    public var clockHz: Double
    /// Steady-state MACs per cycle of the int8 GEMM tile's inner loop (llvm-mca).
    public var int8MACsPerCycle: Double
    /// The int8 tile's rows and columns (the GEMM's rows and columns are padded up to them).
    public var int8Tile: (rows: Int, columns: Int)
    /// Steady-state MACs per cycle of the float 6x16 GEMM tile's inner loop (llvm-mca).
    public var floatMACsPerCycle: Double
    /// Bytes of one SIMD register as EdgeDETR's element-wise kernels use it (16 on NEON, 32 on x86-64's
    /// SIMD8 of floats): the element-wise classes cost cycles per such vector.
    public var vectorBytes: Int
    /// Sustained main-memory bandwidth, bytes per second, all cores together.
    public var memoryBytesPerSecond: Double
    /// The last-level cache a node's whole working set must fit to run at `cacheBytesPerSecond`.
    public var cacheBytes: Int
    public var cacheBytesPerSecond: Double

    public init(name: String, description: String, cores: Int, clockHz: Double, int8MACsPerCycle: Double,
                int8Tile: (rows: Int, columns: Int), floatMACsPerCycle: Double, vectorBytes: Int = 16,
                memoryBytesPerSecond: Double, cacheBytes: Int, cacheBytesPerSecond: Double) {
        self.name = name; self.description = description; self.cores = cores; self.clockHz = clockHz
        self.int8MACsPerCycle = int8MACsPerCycle; self.int8Tile = int8Tile; self.floatMACsPerCycle = floatMACsPerCycle
        self.vectorBytes = vectorBytes
        self.memoryBytesPerSecond = memoryBytesPerSecond; self.cacheBytes = cacheBytes
        self.cacheBytesPerSecond = cacheBytesPerSecond
    }

    /// Raspberry Pi 4 Model B: 4x Cortex-A72 at 1.8 GHz (boards from 2020 on; earlier ones 1.5 GHz),
    /// no dot product, so the int8 tile is 2x8c8 (SMULL/SMLAL/SADALP): 7.99 MACs/cycle, float 3.91
    /// (llvm-mca 22, cortex-a72 = its Cortex-A57 model). LPDDR4-3200, 32 bits: STREAM copy 5.5 GB/s
    /// (sci-pi.org.uk's STREAM page, a Pi 4 without a display); 1 MiB shared L2 at an assumed 16
    /// bytes per cycle.
    public static let rpi4 = BoardModel(
        name: "rpi4", description: "Raspberry Pi 4 (4x Cortex-A72 1.8 GHz, NEON, LPDDR4-3200)", cores: 4, clockHz: 1.8e9,
        int8MACsPerCycle: 7.99, int8Tile: (2, 8), floatMACsPerCycle: 3.91, memoryBytesPerSecond: 5.5e9,
        cacheBytes: 1 << 20, cacheBytesPerSecond: 16 * 1.8e9)

    /// Raspberry Pi 5: 4x Cortex-A76 at 2.4 GHz with SDOT, so the int8 tile is 4x16c4: 19.64
    /// MACs/cycle, float 5.99 (llvm-mca 22 with its Neoverse N1 model: LLVM has no A76 model of its own,
    /// and the N1 is the A76's server form, same core). LPDDR4X-4267, 32 bits: the Pi 4's STREAM share of
    /// its theoretical peak (43%) applied to 17.1 GB/s gives 7.3 GB/s (an assumption, not a published
    /// measurement); 2 MiB L3 at an assumed 16 bytes per cycle.
    public static let rpi5 = BoardModel(
        name: "rpi5", description: "Raspberry Pi 5 (4x Cortex-A76 2.4 GHz, NEON + dot product, LPDDR4X-4267)", cores: 4,
        clockHz: 2.4e9, int8MACsPerCycle: 19.64, int8Tile: (4, 16), floatMACsPerCycle: 5.99, memoryBytesPerSecond: 7.3e9,
        cacheBytes: 2 << 20, cacheBytesPerSecond: 16 * 2.4e9)

    public static let all: [BoardModel] = [.rpi4, .rpi5]

    public static func named(_ name: String) -> BoardModel? { all.first { $0.name == name } }

    /// The share of a GEMM tile's steady-state rate a whole GEMM keeps (packing, the requantizing
    /// epilogue, loop overheads): about what EdgeDETR's AVX2 int8 tile kept of the register-only int8
    /// peak in the R50 models' int8 conv and linear layers (80-89%, issue 15's table).
    public static let gemmEfficiency = 0.8
    /// Dispatch cost of one node on one thread, and the extra of splitting it across the pool.
    public static let nodeSeconds = 1e-6, parallelSeconds = 5e-6
}

/// The kind of work a node does, as the estimate prices it.
public enum EstimateClass: String, Sendable, CaseIterable {
    case int8GEMM = "int8 GEMM/conv", floatGEMM = "float GEMM/conv", attention = "float attention"
    case depthwise = "depthwise conv", sampling = "deformable sampling", exponential = "exp-based"
    case normalization = "normalization", arithmetic = "element-wise", copy = "layout/copy", free = "free"

    /// Cycles per vector (`BoardModel.vectorBytes`) read or written, for the classes priced by their
    /// bytes: a NEON load, op and store dual-issue for plain element-wise work; normalization makes two
    /// passes and a reciprocal square root; exp-based ops run a ~12-instruction polynomial per vector.
    var cyclesPerVector: Double {
        switch self {
        case .copy: 0.5
        case .arithmetic: 1
        case .normalization: 3
        case .exponential: 8
        default: 0
        }
    }
}

/// One node's estimate.
public struct NodeEstimate: Sendable {
    public var estimateClass: EstimateClass
    public var computeSeconds: Double
    public var memorySeconds: Double
    public var seconds: Double
}

extension Graph {
    /// The estimated time of every node, in graph order. The constant subgraphs cost nothing: the executor
    /// runs them once at load (`ConstantSubgraphs`).
    public func estimatedLatency(on board: BoardModel, threads: Int) -> [NodeEstimate] {
        let folded = Set(ConstantSubgraphs(self).nodes)
        return nodes.indices.map { index in
            folded.contains(index) ? NodeEstimate(estimateClass: .free, computeSeconds: 0, memorySeconds: 0, seconds: 0)
                : estimatedLatency(of: nodes[index], on: board, threads: threads)
        }
    }

    /// One node's estimated time on `board` with `threads` worker threads (at most its cores).
    public func estimatedLatency(of node: Node, on board: BoardModel, threads: Int) -> NodeEstimate {
        let workers = Double(max(1, min(threads, board.cores)))
        let outputShape = shape(of: node.output)
        let inputBytes = node.inputs.reduce(0) { $0 + values[$1.index].byteCount }
        let outputBytes = values[node.output.index].byteCount
        let bytes = Double(inputBytes + outputBytes)
        let cycle = 1 / board.clockHz
        var compute = 0.0
        var parallel = true
        let kind: EstimateClass
        switch node.operation {
        case .linear, .quantizedLinear, .conv2d, .quantizedConv2d, .dynamicQuantizedLinear:
            let int8 = node.operation.isQuantized
            kind = int8 ? .int8GEMM : .floatGEMM
            let columns = outputShape.last ?? 1
            let rows = max(1, outputShape.reduce(1, *) / max(columns, 1))
            let tile = int8 ? board.int8Tile : (rows: 6, columns: 16)
            let paddedRows = roundUp(rows, tile.rows), paddedColumns = roundUp(columns, tile.columns)
            let macs = Double(multiplyAccumulates(of: node)) * Double(paddedRows * paddedColumns) / Double(rows * columns)
            let rate = (int8 ? board.int8MACsPerCycle : board.floatMACsPerCycle) * BoardModel.gemmEfficiency
            compute = macs / rate * cycle / min(workers, Double(max(1, paddedRows / tile.rows * (paddedColumns / tile.columns))))
        case .attention(let heads, _), .dynamicQuantizedAttention(let heads, _):
            kind = .attention
            var int8MACs = Double(int8MultiplyAccumulates(of: node))
            let floatMACs = Double(multiplyAccumulates(of: node)) - int8MACs
            if int8MACs > 0, let values = node[.values] {
                // P V once more for the second code level.
                int8MACs += Double(shape(of: node.x).first ?? 0) * Double(shape(of: values).first ?? 0) * Double(shape(of: values).last ?? 0)
            }
            let scores = Double(shape(of: node.x).first ?? 0) * Double(node[.keys].map { shape(of: $0).first ?? 0 } ?? 0) * Double(heads)
            // Both products on the float tile (`attention`) or the int8 one (`dynamicQuantizedAttention`,
            // whose P V runs twice: the probabilities' two code levels), one exp-based pass over the scores.
            compute = (floatMACs / (board.floatMACsPerCycle * BoardModel.gemmEfficiency)
                       + int8MACs / (board.int8MACsPerCycle * BoardModel.gemmEfficiency)
                       + scores * 4 / Double(board.vectorBytes) * EstimateClass.exponential.cyclesPerVector) * cycle / workers
        case .depthwiseConv2d, .quantizedDepthwiseConv2d:
            kind = .depthwise
            // One multiply-accumulate per lane per cycle on one vector pipe: float lanes, or twice as
            // many int16 lanes for int8 (assumed, not from llvm-mca).
            let lanes = Double(board.vectorBytes / (node.operation.isQuantized ? 2 : 4))
            compute = Double(multiplyAccumulates(of: node)) / lanes * cycle / workers
        case .deformableSampling(_, let heads, let points, _), .quantizedDeformableSampling(_, let heads, let points, _, _):
            kind = .sampling
            // Per sample: four corner rows of one head gathered and weighted (a vector per 4 floats or
            // 8 int8 values of each row), plus ~20 cycles of index arithmetic.
            let queries = Double(outputShape.first ?? 0), columns = Double(outputShape.last ?? 0)
            let headDepth = columns / Double(max(heads, 1))
            let samples = queries * Double(heads * points.reduce(0, +))
            let lanes = Double(board.vectorBytes / (node.operation.isQuantized ? 2 : 4))
            compute = samples * (4 * (headDepth / lanes).rounded(.up) * 1.5 + 20) * cycle / workers
        case .reshape:
            return NodeEstimate(estimateClass: .free, computeSeconds: 0, memorySeconds: 0, seconds: 0)
        default:
            kind = Self.estimateClass(of: node.operation)
            parallel = Self.runsOnThreadPool(node.operation)
            compute = bytes / Double(board.vectorBytes) * kind.cyclesPerVector * cycle / (parallel ? workers : 1)
        }
        // Weights included: a layer's weights stream through once per run.
        let resident = inputBytes + outputBytes <= board.cacheBytes
        let memory = bytes / (resident ? board.cacheBytesPerSecond : board.memoryBytesPerSecond)
        let overhead = BoardModel.nodeSeconds + (parallel && workers > 1 ? BoardModel.parallelSeconds : 0)
        return NodeEstimate(estimateClass: kind, computeSeconds: compute, memorySeconds: memory,
                            seconds: max(compute, memory) + overhead)
    }

    private static func estimateClass(of operation: GraphOperation) -> EstimateClass {
        switch operation {
        case .softmax, .sineEmbedding, .inverseSigmoid, .distanceToBox, .topValuesWithMean, .groupWeightedSum:
            .exponential
        case .unary(let function), .quantizedUnary(let function):
            function == .relu ? .arithmetic : .exponential
        case .layerNorm, .groupNorm, .rmsNorm, .columnMeans:
            .normalization
        case .binary, .clamp, .quantize, .dequantize, .deformableLocations, .averagePool2d, .maxPool2d:
            .arithmetic
        default:
            .copy
        }
    }

    /// Whether the executor splits the op across the thread pool (the rest run on one thread).
    private static func runsOnThreadPool(_ operation: GraphOperation) -> Bool {
        switch operation {
        case .softmax, .layerNorm, .groupNorm, .maxPool2d, .binary, .quantize, .deformableLocations, .sineEmbedding: true
        default: false
        }
    }
}

private func roundUp(_ value: Int, _ multiple: Int) -> Int {
    (max(value, 1) + multiple - 1) / multiple * multiple
}
