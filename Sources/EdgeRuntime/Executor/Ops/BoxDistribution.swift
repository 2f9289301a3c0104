import Kernels

// D-FINE's box refinement: edge distances to boxes, and the statistics of the edge distributions.

/// distanceToBox: reference boxes and edge distances to boxes (transformers' `distance2bbox`).
struct DistanceToBoxOp {
    let reference: UnsafePointer<Float>, distances: UnsafePointer<Float>
    let rows: Int, regScale: Float
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .distanceToBox(let regScale) = node.operation else {
            throw .malformedNode(node: node.name, detail: "not a distance-to-box")
        }
        self.regScale = regScale
        rows = preparation.shape(node.x)[0]
        reference = UnsafePointer(preparation.float(node.x))
        distances = UnsafePointer(preparation.float(try preparation.operand(.distances, of: node)))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        distanceToBox(reference: reference, distances: distances, rows: rows, regScale: regScale, output: output)
    }
}

/// groupWeightedSum: each group dotted with the weights.
struct GroupWeightedSumOp {
    let x: UnsafePointer<Float>, weights: UnsafePointer<Float>
    let groups: Int, groupSize: Int
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .groupWeightedSum(let groupSize) = node.operation, groupSize >= 1 else {
            throw .malformedNode(node: node.name, detail: "not a group weighted sum")
        }
        self.groupSize = groupSize
        groups = preparation.elementCount(node.x) / groupSize
        x = UnsafePointer(preparation.float(node.x))
        weights = UnsafePointer(preparation.float(try preparation.operand(.weight, of: node)))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        groupWeightedSum(x, groups: groups, groupSize: groupSize, weights: weights, output: output)
    }
}

/// topValuesWithMean: each group's largest values and their mean.
struct TopValuesWithMeanOp {
    let x: UnsafePointer<Float>
    let groups: Int, groupSize: Int, count: Int
    let output: UnsafeMutablePointer<Float>

    init(_ node: Node, _ preparation: inout NodePreparation) throws(ExecutionError) {
        guard case .topValuesWithMean(let groupSize, let count) = node.operation, groupSize >= 1 else {
            throw .malformedNode(node: node.name, detail: "not a top-values-with-mean")
        }
        (self.groupSize, self.count) = (groupSize, count)
        groups = preparation.elementCount(node.x) / groupSize
        x = UnsafePointer(preparation.float(node.x))
        output = preparation.float(node.output)
    }

    func run(_ context: RunContext) {
        topValuesWithMean(x, groups: groups, groupSize: groupSize, count: count, output: output)
    }
}
