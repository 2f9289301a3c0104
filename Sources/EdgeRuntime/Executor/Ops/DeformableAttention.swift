import Kernels

// Multi-scale deformable attention (MSDeformAttn): the sampling locations, and the bilinear sampling
// of the value maps weighted by the attention weights, float32 and int8 value maps.

/// The level table every sampling kernel reads: `levels` (height, width) pairs, then each level's
/// first row in the flattened value map, then each level's point count.
private func levelTable(_ levels: [LevelShape], points: [Int], _ preparation: inout NodePreparation) -> UnsafeMutablePointer<Int> {
    let table = preparation.table(of: Int.self, count: levels.count * 4)
    var start = 0
    for (level, shape) in levels.enumerated() {
        table[level * 2] = shape.height
        table[level * 2 + 1] = shape.width
        table[levels.count * 2 + level] = start
        table[levels.count * 3 + level] = points[level]
        start += shape.pixels
    }
    return table
}

/// What `deformableLocations` divides column j's offset by: the sample level's W and H for 2-d reference
/// points, its point count for 4-d ones; one entry per column of a query's (x, y) pairs.
private func locationDivisors(levels: [LevelShape], heads: Int, points: [Int], referenceColumns: Int) -> [Float] {
    var divisors: [Float] = []
    divisors.reserveCapacity(2 * heads * points.reduce(0, +))
    for _ in 0..<heads {
        for (level, levelPoints) in zip(levels, points) {
            for _ in 0..<levelPoints {
                if referenceColumns == 2 {
                    divisors += [Float(level.width), Float(level.height)]
                } else {
                    divisors += [Float(levelPoints), Float(levelPoints)]
                }
            }
        }
    }
    return divisors
}

/// The operands and sizes both sampling forms share.
struct SamplingGeometry {
    let levelShapes: UnsafePointer<Int>, levelStarts: UnsafePointer<Int>, levelPoints: UnsafePointer<Int>
    let levels: Int, heads: Int, headDim: Int, samplesPerHead: Int, queries: Int
    let locations: UnsafePointer<Float>, weights: UnsafePointer<Float>
    let discrete: Bool
    /// The weights are logits, each head's softmax taken by the kernel (`SamplingInputs.weightLogits`).
    let weightsAreLogits: Bool
    /// With `SamplingInputs.locationOffsets`: `locations` holds the offsets, and this the reference points
    /// and each column's divisor, from which the kernel computes the locations.
    let locationSource: DeformableLocationSource?

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        let levels: [LevelShape], heads: Int, points: [Int], method: SamplingMethod, inputs: SamplingInputs
        switch node.operation {
        case .deformableSampling(let l, let h, let p, let m):
            (levels, heads, points, method, inputs) = (l, h, p, m, [])
        case .quantizedDeformableSampling(let l, let h, let p, let m, let i):
            (levels, heads, points, method, inputs) = (l, h, p, m, i)
        default: throw .malformedNode(node: node.name, detail: "not a deformable sampling")
        }
        guard heads >= 1, points.count == levels.count else {
            throw .malformedNode(node: node.name, detail: "\(heads) heads, \(points.count) point counts for \(levels.count) levels")
        }
        weightsAreLogits = inputs.contains(.weightLogits)
        let locationsValue = try preparation.operand(inputs.contains(.locationOffsets) ? .offsets : .locations, of: node)
        let table = levelTable(levels, points: points, &preparation)
        (levelShapes, levelStarts) = (UnsafePointer(table), UnsafePointer(table + levels.count * 2))
        levelPoints = UnsafePointer(table + levels.count * 3)
        (self.levels, self.heads, samplesPerHead, discrete) = (levels.count, heads, points.reduce(0, +), method.isDiscrete)
        headDim = preparation.shape(node.x)[1] / heads
        queries = preparation.shape(locationsValue)[0]
        locations = UnsafePointer(preparation.float(locationsValue))
        weights = UnsafePointer(preparation.float(try preparation.operand(.samplingWeights, of: node)))
        if inputs.contains(.locationOffsets) {
            // The shape rule checked the reference's 2 or 4 columns and the offsets' pair per sample.
            let reference = try preparation.operand(.reference, of: node)
            let referenceColumns = preparation.shape(reference)[1]
            let divisors = locationDivisors(levels: levels, heads: heads, points: points, referenceColumns: referenceColumns)
            let stored = preparation.table(of: Float.self, count: divisors.count)
            stored.initialize(from: divisors, count: divisors.count)
            locationSource = DeformableLocationSource(reference: UnsafePointer(preparation.float(reference)),
                                                      referenceColumns: referenceColumns, divisors: UnsafePointer(stored))
        } else {
            locationSource = nil
        }
    }
}

/// deformableSampling on a float32 value map.
struct DeformableSamplingOp {
    let value: UnsafePointer<Float>
    let geometry: SamplingGeometry
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        geometry = try SamplingGeometry(node, &preparation)
        value = UnsafePointer(preparation.float(node.x))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        let g = geometry
        deformableAttention(value: value, levelShapes: g.levelShapes, levelStarts: g.levelStarts, levels: g.levels, heads: g.heads,
                            headDim: g.headDim, levelPoints: g.levelPoints, queries: g.queries, locations: g.locations, weights: g.weights,
                            discrete: g.discrete, output: output, pool: context.pool)
    }
}

/// quantizedDeformableSampling: int8 value map, float locations (or reference points and offsets) and weights
/// (or their logits), int8 output.
struct QuantizedDeformableSamplingOp {
    let value: UnsafePointer<Int8>
    let valueZeroPoint: Int32
    let geometry: SamplingGeometry
    let outputScale: Float
    let outputRange: Int8OutputRange
    let output: UnsafeMutablePointer<Int8>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        geometry = try SamplingGeometry(node, &preparation)
        let valueQuantization = try preparation.requireQuantization(node.x, of: node)
        let outputQuantization = try preparation.requireQuantization(node.output, of: node)
        value = UnsafePointer(preparation.int8(node.x))
        valueZeroPoint = valueQuantization.zeroPoint
        outputScale = valueQuantization.scale / (outputQuantization.scale * q14One)
        outputRange = Int8OutputRange(zeroPoint: outputQuantization.zeroPoint)
        output = preparation.int8(node.output)
        preparation.needScratch(taskBytes: int8DeformableAttentionTaskScratchBytes(
            samplesPerHead: geometry.samplesPerHead, headDim: geometry.headDim, heads: geometry.heads,
            weightsAreLogits: geometry.weightsAreLogits, computesLocations: geometry.locationSource != nil))
    }

    func run(_ context: RunContext) {
        let g = geometry
        int8DeformableAttention(value: value, valueZeroPoint: valueZeroPoint, levelShapes: g.levelShapes, levelStarts: g.levelStarts,
                                levels: g.levels, heads: g.heads, headDim: g.headDim, levelPoints: g.levelPoints, queries: g.queries,
                                locations: g.locations, locationSource: g.locationSource, weights: g.weights,
                                weightsAreLogits: g.weightsAreLogits,
                                outputScale: outputScale, outputRange: outputRange, discrete: g.discrete, output: output,
                                pool: context.pool, taskScratch: context.taskScratch)
    }
}

/// deformableLocations: reference points plus scaled offsets (`deformableLocations`, whose divisors,
/// the sample level's W and H or its point count per column, are laid out here once).
struct DeformableLocationsOp {
    let reference: UnsafePointer<Float>, referenceColumns: Int
    let offsets: UnsafePointer<Float>
    let queries: Int, columns: Int
    let divisors: [Float]
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .deformableLocations(let levels, let heads, let points) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not deformable locations")
        }
        let shape = preparation.shape(node.x)
        (reference, referenceColumns, queries) = (UnsafePointer(preparation.float(node.x)), shape[1], shape[0])
        offsets = UnsafePointer(preparation.float(try preparation.operand(.offsets, of: node)))
        // The shape rule checked that the offsets hold heads x sum(points) pairs per query.
        columns = preparation.shape(node.output)[1]
        let divisors = locationDivisors(levels: levels, heads: heads, points: points, referenceColumns: referenceColumns)
        guard divisors.count == columns else { throw .malformedNode(node: node.name, detail: "offsets do not match levels and points") }
        self.divisors = divisors
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        divisors.withUnsafeBufferPointer { divisors in
            guard let divisors = divisors.baseAddress else { return }  // no columns: nothing to write
            deformableLocations(reference: reference, referenceColumns: referenceColumns, offsets: offsets,
                                divisors: divisors, queries: queries, columns: columns, output: output, pool: context.pool)
        }
    }
}
