import Kernels

extension GraphOperation {
    /// The op's shape rule: checks arity, input shapes and attributes, and returns the output shape.
    public func outputShape(inputs shapes: [[Int]], node: String) throws(GraphError) -> [Int] {
        let name = kindName
        func arity(_ allowed: ClosedRange<Int>) throws(GraphError) {
            guard allowed.contains(shapes.count) else {
                let expected = allowed.lowerBound == allowed.upperBound
                    ? "\(allowed.lowerBound)" : "\(allowed.lowerBound) to \(allowed.upperBound)"
                throw .arity(node: node, operation: name, expected: expected, got: shapes.count)
            }
        }
        func mismatch(_ detail: String) -> GraphError { .shapeMismatch(node: node, operation: name, detail: detail) }
        func attribute(_ detail: String) -> GraphError { .invalidAttribute(node: node, operation: name, detail: detail) }
        func rank(_ index: Int, _ expected: Int) throws(GraphError) {
            guard shapes[index].count == expected else {
                throw mismatch("input \(index) has shape \(shapes[index]), expected rank \(expected)")
            }
        }
        /// Deformable sampling's samples per query: heads times the levels' point counts, one count per
        /// level, each in 1...4096 (so the product cannot overflow).
        func samplesPerQuery(heads: Int, points: [Int], levels: Int) throws(GraphError) -> Int {
            guard points.count == levels, points.allSatisfy({ (1...4096).contains($0) }), heads <= 4096, levels <= 4096 else {
                throw attribute("points \(points) for \(levels) levels: expected one count in 1...4096 per level")
            }
            return heads * points.reduce(0, +)
        }

        switch self {
        case .quantize, .dequantize:
            try arity(1...1)
            return shapes[0]

        case .dynamicQuantizedLinear(let activation, true):
            // x and its addend, then a dynamic linear layer's inputs.
            guard shapes.count >= 2, shapes[1] == shapes[0] else { throw mismatch("addend \(shapes.count > 1 ? shapes[1] : []) is not x's \(shapes[0])") }
            return try GraphOperation.dynamicQuantizedLinear(activation: activation)
                .outputShape(inputs: [shapes[0]] + shapes[2...], node: node)

        case .quantizedLinear(let activation), .dynamicQuantizedLinear(let activation, false):
            guard shapes.count == 4 || shapes.count == 5 else { throw .arity(node: node, operation: name, expected: "4 or 5", got: shapes.count) }
            guard shapes[3] == [shapes[1].first ?? -1] else { throw mismatch("scales \(shapes[3]) do not match weight \(shapes[1])") }
            var linearShapes = Array(shapes[0..<3])
            if shapes.count == 5 { linearShapes.append(shapes[4]) }
            return try GraphOperation.linear(activation: activation).outputShape(inputs: linearShapes, node: node)

        case .quantizedConv2d(let stride, let padding, let activation):
            guard shapes.count == 4 || shapes.count == 5 else { throw .arity(node: node, operation: name, expected: "4 or 5", got: shapes.count) }
            guard shapes[3] == [shapes[1].first ?? -1] else { throw mismatch("scales \(shapes[3]) do not match weight \(shapes[1])") }
            var convShapes = Array(shapes[0..<3])
            if shapes.count == 5 { convShapes.append(shapes[4]) }
            return try GraphOperation.conv2d(stride: stride, padding: padding, activation: activation).outputShape(inputs: convShapes, node: node)

        case .quantizedDepthwiseConv2d(let stride, let padding, let activation):
            try arity(4...4)
            guard shapes[3] == [shapes[1].last ?? -1] else { throw mismatch("scales \(shapes[3]) do not match weight \(shapes[1])") }
            return try GraphOperation.depthwiseConv2d(stride: stride, padding: padding, activation: activation)
                .outputShape(inputs: Array(shapes[0..<3]), node: node)

        case .quantizedDeformableSampling(let levels, let heads, let points, let method, let inputs):
            guard inputs.contains(.locationOffsets) else {
                return try GraphOperation.deformableSampling(levels: levels, heads: heads, points: points, method: method)
                    .outputShape(inputs: shapes, node: node)
            }
            // Value, reference, offsets, weights: the locations are those `deformableLocations` makes of the two.
            try arity(4...4)
            let locations = try GraphOperation.deformableLocations(levels: levels, heads: heads, points: points)
                .outputShape(inputs: [shapes[1], shapes[2]], node: node)
            return try GraphOperation.deformableSampling(levels: levels, heads: heads, points: points, method: method)
                .outputShape(inputs: [shapes[0], locations, shapes[3]], node: node)

        case .conv2d(let stride, let padding, _):
            try arity(3...4)
            try rank(0, 3)
            try rank(1, 4)
            let (height, width, channels) = (shapes[0][0], shapes[0][1], shapes[0][2])
            let weight = shapes[1]
            guard stride >= 1, padding >= 0 else { throw attribute("stride \(stride), padding \(padding)") }
            guard weight[1] == channels else { throw mismatch("weight \(weight) does not take \(channels) input channels") }
            guard shapes[2] == [weight[0]] else { throw mismatch("bias \(shapes[2]) does not match weight \(weight)") }
            let outHeight = (height + 2 * padding - weight[2]) / stride + 1
            let outWidth = (width + 2 * padding - weight[3]) / stride + 1
            guard height + 2 * padding >= weight[2], width + 2 * padding >= weight[3], outHeight >= 1, outWidth >= 1 else {
                throw mismatch("input \(height)x\(width) is smaller than kernel \(weight[2])x\(weight[3])")
            }
            let output = [outHeight, outWidth, weight[0]]
            if shapes.count == 4, shapes[3] != output { throw mismatch("residual \(shapes[3]) is not \(output)") }
            return output

        case .depthwiseConv2d(let stride, let padding, _):
            try arity(3...3)
            try rank(0, 3)
            try rank(1, 3)
            let (height, width, channels) = (shapes[0][0], shapes[0][1], shapes[0][2])
            let weight = shapes[1]
            guard (1...64).contains(stride), weight[0] == weight[1], (1...64).contains(weight[0]),
                  (0..<weight[0]).contains(padding) else {
                throw attribute("stride \(stride), padding \(padding), kernel \(weight[0])x\(weight[1])")
            }
            guard weight[2] == channels else { throw mismatch("weight \(weight) does not take \(channels) channels") }
            guard shapes[2] == [channels] else { throw mismatch("bias \(shapes[2]) does not match \(channels) channels") }
            let output = [convolutionOutputLength(height, kernel: weight[0], stride: stride, padding: padding),
                          convolutionOutputLength(width, kernel: weight[0], stride: stride, padding: padding)]
            guard output[0] >= 1, output[1] >= 1 else { throw mismatch("input \(height)x\(width) is smaller than kernel \(weight[0])") }
            return output + [channels]

        case .pad2d(let top, let left, let bottom, let right):
            try arity(1...1)
            try rank(0, 3)
            guard [top, left, bottom, right].allSatisfy({ (0...64).contains($0) }) else {
                throw attribute("padding \([top, left, bottom, right]) (top, left, bottom, right), expected 0 to 64 each")
            }
            return [shapes[0][0] + top + bottom, shapes[0][1] + left + right, shapes[0][2]]

        case .maxPool2d(let kernel, let stride, let padding):
            try arity(1...1)
            try rank(0, 3)
            guard kernel >= 1, stride >= 1, padding >= 0, padding * 2 <= kernel else {
                throw attribute("kernel \(kernel), stride \(stride), padding \(padding)")
            }
            let (height, width) = (shapes[0][0], shapes[0][1])
            guard height + 2 * padding >= kernel, width + 2 * padding >= kernel else {
                throw mismatch("input \(height)x\(width) is smaller than kernel \(kernel)")
            }
            return [(height + 2 * padding - kernel) / stride + 1, (width + 2 * padding - kernel) / stride + 1, shapes[0][2]]

        case .averagePool2d(let kernel, let stride, let padding, let ceilMode):
            try arity(1...1)
            try rank(0, 3)
            guard (1...64).contains(kernel), (1...64).contains(stride), padding >= 0, padding * 2 <= kernel else {
                throw attribute("kernel \(kernel), stride \(stride), padding \(padding)")
            }
            let (height, width) = (shapes[0][0], shapes[0][1])
            let output = [poolingOutputLength(height, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode),
                          poolingOutputLength(width, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)]
            guard output[0] >= 1, output[1] >= 1 else { throw mismatch("input \(height)x\(width) is smaller than kernel \(kernel)") }
            return output + [shapes[0][2]]

        case .upsampleNearest(let factor):
            try arity(1...1)
            try rank(0, 3)
            guard (1...64).contains(factor) else { throw attribute("factor \(factor), expected 1 to 64") }
            guard let height = checkedProduct(shapes[0][0], factor), let width = checkedProduct(shapes[0][1], factor) else {
                throw mismatch("input \(shapes[0]) times \(factor) is too large")
            }
            return [height, width, shapes[0][2]]

        case .linear:
            try arity(3...4)
            try rank(0, 2)
            try rank(1, 2)
            guard shapes[1][1] == shapes[0][1] else { throw mismatch("weight \(shapes[1]) does not take \(shapes[0][1]) inputs") }
            guard shapes[2] == [shapes[1][0]] else { throw mismatch("bias \(shapes[2]) does not match weight \(shapes[1])") }
            let output = [shapes[0][0], shapes[1][0]]
            if shapes.count == 4, shapes[3] != output { throw mismatch("residual \(shapes[3]) is not \(output)") }
            return output

        case .layerNorm(let epsilon):
            try arity(3...4)
            try rank(0, 2)
            guard epsilon > 0 else { throw attribute("epsilon \(epsilon) must be positive") }
            let columns = shapes[0][1]
            guard shapes[1] == [columns], shapes[2] == [columns] else { throw mismatch("gamma/beta do not have \(columns) values") }
            if shapes.count == 4, shapes[3] != shapes[0] { throw mismatch("residual \(shapes[3]) is not \(shapes[0])") }
            return shapes[0]

        case .groupNorm(let groups, let epsilon):
            try arity(3...3)
            try rank(0, 3)
            let channels = shapes[0][2]
            guard groups >= 1, channels % groups == 0, epsilon > 0 else {
                throw attribute("\(channels) channels cannot form \(groups) groups")
            }
            guard shapes[1] == [channels], shapes[2] == [channels] else { throw mismatch("gamma/beta do not have \(channels) values") }
            return shapes[0]

        case .binary:
            try arity(2...2)
            let (a, b) = (shapes[0], shapes[1])
            if a == b || b == [1] { return a }
            if a.count == 2, b == [a[1]] { return a }
            if a.count == 2, b == [a[0], 1] { return a }
            throw mismatch("cannot broadcast \(b) onto \(a)")

        case .quantizedUnary(let op):
            // PReLU's table needs its one slope (a constant `[1]`; per-channel slopes have no table form).
            if op == .prelu {
                try arity(2...2)
                guard shapes[1] == [1] else { throw mismatch("alpha \(shapes[1]): the int8 table form takes one slope [1]") }
            } else {
                try arity(1...1)
            }
            return shapes[0]

        case .unary(let op):
            if op == .prelu {
                try arity(2...2)
                let channels = shapes[0].last ?? 1
                guard shapes[1] == [1] || shapes[1] == [channels] else { throw mismatch("alpha \(shapes[1]) for \(channels) channels") }
            } else {
                try arity(1...1)
            }
            return shapes[0]

        case .inverseSigmoid(let epsilon):
            try arity(1...1)
            guard epsilon > 0 else { throw attribute("epsilon \(epsilon) must be positive") }
            return shapes[0]

        case .softmax(let groupSize):
            try arity(1...1)
            guard let columns = shapes[0].last, groupSize >= 1, columns % groupSize == 0 else {
                throw attribute("rows of \(shapes[0]) cannot be split into groups of \(groupSize)")
            }
            return shapes[0]

        case .rmsNorm(let epsilon):
            try arity(2...3)
            try rank(0, 2)
            guard epsilon > 0, epsilon.isFinite else { throw attribute("epsilon \(epsilon) must be positive") }
            guard shapes[1] == [shapes[0][1]] else { throw mismatch("gamma \(shapes[1]) for rows of \(shapes[0][1])") }
            if shapes.count == 3, shapes[2] != shapes[0] { throw mismatch("residual \(shapes[2]) is not \(shapes[0])") }
            return shapes[0]

        case .columnMeans:
            try arity(1...1)
            try rank(0, 2)
            guard shapes[0][0] >= 1 else { throw mismatch("no rows to average") }
            return [shapes[0][1]]

        case .clamp(let minimum, let maximum):
            try arity(1...1)
            guard minimum <= maximum else { throw attribute("minimum \(minimum) above maximum \(maximum)") }
            return shapes[0]

        case .distanceToBox(let regScale):
            try arity(2...2)
            try rank(0, 2)
            guard regScale.isFinite, regScale != 0 else { throw attribute("reg_scale \(regScale)") }
            guard shapes[0][1] == 4, shapes[1] == shapes[0] else {
                throw mismatch("reference \(shapes[0]) and distances \(shapes[1]) must both be [rows, 4]")
            }
            return shapes[0]

        case .groupWeightedSum(let groupSize):
            try arity(2...2)
            try rank(0, 2)
            guard (1...4096).contains(groupSize), shapes[0][1] % groupSize == 0 else {
                throw attribute("groups of \(groupSize) in rows of \(shapes[0][1])")
            }
            guard shapes[1] == [groupSize] else { throw mismatch("weights \(shapes[1]) for groups of \(groupSize)") }
            return [shapes[0][0], shapes[0][1] / groupSize]

        case .topValuesWithMean(let groupSize, let count):
            try arity(1...1)
            try rank(0, 2)
            guard (1...4096).contains(groupSize), (1...groupSize).contains(count), shapes[0][1] % groupSize == 0 else {
                throw attribute("top \(count) of groups of \(groupSize) in rows of \(shapes[0][1])")
            }
            return [shapes[0][0], shapes[0][1] / groupSize * (count + 1)]

        case .attention(let heads, _), .dynamicQuantizedAttention(let heads, _):
            try arity(3...3)
            try rank(0, 2)
            try rank(1, 2)
            try rank(2, 2)
            let (q, k, v) = (shapes[0], shapes[1], shapes[2])
            guard heads >= 1, q[1] % heads == 0, v[1] % heads == 0 else { throw attribute("\(heads) heads do not divide \(q[1]) and \(v[1])") }
            guard k[1] == q[1], k[0] == v[0] else { throw mismatch("q \(q), k \(k), v \(v) do not agree") }
            if case .dynamicQuantizedAttention = self, k[0] > dynamicInt8AttentionMaximumKeys {
                throw attribute("\(k[0]) keys, more than the \(dynamicInt8AttentionMaximumKeys) its int32 sums hold")
            }
            return [q[0], v[1]]

        case .deformableSampling(let levels, let heads, let points, _):
            try arity(3...3)
            try rank(0, 2)
            try rank(1, 2)
            try rank(2, 2)
            var tokens = 0
            for level in levels {
                guard level.height >= 1, level.width >= 1 else { throw attribute("level \(level.height)x\(level.width)") }
                tokens += level.pixels
            }
            guard heads >= 1, !levels.isEmpty, shapes[0][1] % heads == 0 else {
                throw attribute("\(heads) heads, \(levels.count) levels")
            }
            guard shapes[0][0] == tokens else { throw mismatch("value has \(shapes[0][0]) rows, levels hold \(tokens)") }
            let queries = shapes[1][0]
            let samples = try samplesPerQuery(heads: heads, points: points, levels: levels.count)
            guard shapes[1] == [queries, samples * 2], shapes[2] == [queries, samples] else {
                throw mismatch("locations \(shapes[1]) / weights \(shapes[2]) do not hold \(samples) samples per query")
            }
            return [queries, shapes[0][1]]

        case .deformableLocations(let levels, let heads, let points):
            try arity(2...2)
            try rank(0, 2)
            try rank(1, 2)
            guard shapes[0][1] == 2 || shapes[0][1] == 4 else { throw mismatch("reference \(shapes[0]) must have 2 or 4 columns") }
            guard heads >= 1, !levels.isEmpty else { throw attribute("\(heads) heads, \(levels.count) levels") }
            let samples = try samplesPerQuery(heads: heads, points: points, levels: levels.count)
            guard shapes[1] == [shapes[0][0], samples * 2] else { throw mismatch("offsets \(shapes[1]) for \(samples) samples") }
            return shapes[1]

        case .concatenateColumns:
            guard shapes.count >= 2 else { throw .arity(node: node, operation: name, expected: "2 or more", got: shapes.count) }
            var columns = 0
            for (index, shape) in shapes.enumerated() {
                try rank(index, 2)
                guard shape[0] == shapes[0][0] else { throw mismatch("row counts differ: \(shapes[0]) and \(shape)") }
                columns += shape[1]
            }
            return [shapes[0][0], columns]

        case .concatenateRows:
            guard shapes.count >= 2 else { throw .arity(node: node, operation: name, expected: "2 or more", got: shapes.count) }
            var rows = 0
            for (index, shape) in shapes.enumerated() {
                try rank(index, 2)
                guard shape[1] == shapes[0][1] else { throw mismatch("column counts differ: \(shapes[0]) and \(shape)") }
                rows += shape[0]
            }
            return [rows, shapes[0][1]]

        case .sliceColumns(let start, let length):
            try arity(1...1)
            try rank(0, 2)
            guard start >= 0, length >= 0, start + length <= shapes[0][1] else {
                throw attribute("columns \(start)..<\(start + length) outside \(shapes[0])")
            }
            return [shapes[0][0], length]

        case .interleaveHeads(let heads):
            try arity(2...2)
            try rank(0, 2)
            try rank(1, 2)
            guard heads >= 1, shapes[0][0] == shapes[1][0], shapes[0][1] % heads == 0, shapes[1][1] % heads == 0 else {
                throw mismatch("\(shapes[0]) and \(shapes[1]) cannot be split into \(heads) heads")
            }
            return [shapes[0][0], shapes[0][1] + shapes[1][1]]

        case .sineEmbedding(let features, let temperature, _, let order):
            try arity(1...1)
            try rank(0, 2)
            guard features >= 2, features % 2 == 0, temperature > 0, !order.isEmpty else {
                throw attribute("features \(features), temperature \(temperature)")
            }
            for coordinate in order where coordinate < 0 || coordinate >= shapes[0][1] {
                throw attribute("coordinate \(coordinate) outside \(shapes[0])")
            }
            return [shapes[0][0], features * order.count]

        case .topRows(let selected, let score):
            try arity(2...2)
            try rank(0, 2)
            try rank(1, 2)
            guard shapes[0][0] == shapes[1][0] else { throw mismatch("scores \(shapes[0]) and rows \(shapes[1]) differ in rows") }
            if case .column(let column) = score, column < 0 || column >= shapes[0][1] {
                throw attribute("top \(selected) by column \(column) of \(shapes[0])")
            }
            guard shapes[0][1] >= 1, selected >= 1, selected <= shapes[0][0] else {
                throw attribute("top \(selected) rows of \(shapes[0])")
            }
            return [selected, shapes[1][1]]

        case .reshape(let shape):
            try arity(1...1)
            for dimension in shape where dimension < 0 { throw attribute("negative dimension in \(shape)") }
            guard let elements = checkedElementCount(shape), elements == checkedElementCount(shapes[0]) else {
                throw mismatch("cannot reshape \(shapes[0]) to \(shape)")
            }
            return shape
        }
    }
}

extension GraphOperation {
    /// The op's type rule: which element types it takes and what it produces. `quantized` says the
    /// node was given an output quantization (int8 output) or not.
    public func outputType(inputs types: [ElementType], quantized: Bool, node: String) throws(GraphError) -> ElementType {
        func wrong(_ detail: String) -> GraphError { .invalidAttribute(node: node, operation: kindName, detail: detail) }
        func expect(_ expected: [ElementType], optional: ElementType? = nil) throws(GraphError) {
            let matches = types.count >= expected.count && Array(types.prefix(expected.count)) == expected
                && (types.count == expected.count || (optional != nil && types.count == expected.count + 1 && types.last == optional))
            guard matches else { throw wrong("input types \(types.map { $0.rawValue }) do not fit this op") }
        }
        switch self {
        case .quantize:
            try expect([.float32])
            guard quantized else { throw wrong("quantize needs an output quantization") }
            return .int8
        case .dequantize:
            try expect([.int8])
            return .float32
        case .quantizedLinear, .quantizedConv2d:
            try expect([.int8, .int8, .int32, .float32], optional: .int8)
            return quantized ? .int8 : .float32
        case .dynamicQuantizedLinear(_, let sumsInput):
            try expect((sumsInput ? [.float32, .float32] : [.float32]) + [.int8, .float32, .float32], optional: .float32)
            guard !quantized else { throw wrong("produces float32 only") }
            return .float32
        case .quantizedDeformableSampling(_, _, _, _, let inputs):
            try expect(inputs.contains(.locationOffsets) ? [.int8, .float32, .float32, .float32] : [.int8, .float32, .float32])
            guard quantized else { throw wrong("needs an output quantization") }
            return .int8
        case .quantizedDepthwiseConv2d:
            try expect([.int8, .int8, .int32, .float32])
            guard quantized else { throw wrong("needs an output quantization") }
            return .int8
        case .quantizedUnary(let op):
            try expect(op == .prelu ? [.int8, .float32] : [.int8])
            guard quantized else { throw wrong("needs an output quantization") }
            return .int8
        case .maxPool2d, .reshape, .upsampleNearest, .pad2d, .clamp:
            guard types.count == 1, types[0] != .int32 else { throw wrong("takes one float32 or int8 input") }
            return types[0]
        case .concatenateColumns where types.first == .int8, .concatenateRows where types.first == .int8:
            // int8 inputs of any quantizations, requantized to the node's.
            guard types.allSatisfy({ $0 == .int8 }) else { throw wrong("takes all float32 or all int8 inputs") }
            guard quantized else { throw wrong("an int8 concatenation needs an output quantization") }
            return .int8
        default:
            guard types.allSatisfy({ $0 == .float32 }) else { throw wrong("takes float32 inputs only") }
            guard !quantized else { throw wrong("produces float32 only") }
            return .float32
        }
    }
}

extension GraphOperation {
    /// Positions of the inputs this op reads as int8 activations, whose scale and zero point it uses.
    /// An int8 constant (weights) carries no quantization of its own, so it cannot stand there: the
    /// model file fuzzer found a dequantize wired to a weight, which then unwrapped a missing scale.
    public var int8ActivationInputs: [Int] {
        switch self {
        case .dequantize, .quantizedDeformableSampling, .quantizedUnary, .quantizedDepthwiseConv2d: [0]
        case .quantizedLinear, .quantizedConv2d: [0, 4]
        default: []
        }
    }
}
