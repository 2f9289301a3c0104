/// How each `GraphOperation` is stored in a model file: an opcode and a list of 64-bit attribute
/// words (integers as Int64 bit patterns, floats as Float64 bit patterns). The writer and the reader
/// share this file, so the two cannot drift; docs/FORMAT.md lists the same table.
public enum OperationCoding {
    /// Stored opcodes. Never renumber: add new ones at the end.
    public enum Opcode: UInt32, Sendable {
        case conv2d = 1, maxPool2d, linear, layerNorm, groupNorm, binary, unary, inverseSigmoid, softmax, attention
        case deformableSampling, deformableLocations, concatenateColumns, concatenateRows, sliceColumns
        case interleaveHeads, sineEmbedding, topRows, reshape
        case quantize, dequantize, quantizedLinear, quantizedConv2d, quantizedDeformableSampling
        case upsampleNearest, averagePool2d, quantizedUnary
        case depthwiseConv2d, pad2d, clamp, distanceToBox, topValuesWithMean, groupWeightedSum, quantizedDepthwiseConv2d
        case rmsNorm, columnMeans, dynamicQuantizedLinear, dynamicQuantizedAttention
    }

    public static func encode(_ operation: GraphOperation) -> (opcode: Opcode, words: [UInt64]) {
        func int(_ value: Int) -> UInt64 { UInt64(bitPattern: Int64(value)) }
        func float(_ value: Float) -> UInt64 { Double(value).bitPattern }
        func levels(_ shapes: [LevelShape]) -> [UInt64] { shapes.flatMap { [int($0.height), int($0.width)] } }
        /// Deformable sampling's geometry: heads, the points, the levels. One point count when every level
        /// has it (the layout files had before D-FINE), else 0 and the counts after the levels.
        func sampling(_ heads: Int, _ points: [Int], _ shapes: [LevelShape]) -> [UInt64] {
            if let first = points.first, points.allSatisfy({ $0 == first }) {
                return [int(heads), int(first)] + levels(shapes)
            }
            return [int(heads), 0] + levels(shapes) + points.map(int)
        }
        switch operation {
        case .conv2d(let stride, let padding, let activation):
            return (.conv2d, [int(stride), int(padding), UInt64(activation.rawValue)])
        case .depthwiseConv2d(let stride, let padding, let activation):
            return (.depthwiseConv2d, [int(stride), int(padding), UInt64(activation.rawValue)])
        case .quantizedDepthwiseConv2d(let stride, let padding, let activation):
            return (.quantizedDepthwiseConv2d, [int(stride), int(padding), UInt64(activation.rawValue)])
        case .pad2d(let top, let left, let bottom, let right):
            return (.pad2d, [int(top), int(left), int(bottom), int(right)])
        case .clamp(let minimum, let maximum):
            return (.clamp, [float(minimum), float(maximum)])
        case .distanceToBox(let regScale):
            return (.distanceToBox, [float(regScale)])
        case .topValuesWithMean(let groupSize, let count):
            return (.topValuesWithMean, [int(groupSize), int(count)])
        case .groupWeightedSum(let groupSize):
            return (.groupWeightedSum, [int(groupSize)])
        case .maxPool2d(let kernel, let stride, let padding):
            return (.maxPool2d, [int(kernel), int(stride), int(padding)])
        case .linear(let activation):
            return (.linear, [UInt64(activation.rawValue)])
        case .layerNorm(let epsilon):
            return (.layerNorm, [float(epsilon)])
        case .groupNorm(let groups, let epsilon):
            return (.groupNorm, [int(groups), float(epsilon)])
        case .rmsNorm(let epsilon):
            return (.rmsNorm, [float(epsilon)])
        case .columnMeans:
            return (.columnMeans, [])
        case .binary(let op):
            return (.binary, [UInt64(op.rawValue)])
        case .unary(let op):
            return (.unary, [UInt64(op.rawValue)])
        case .quantizedUnary(let op):
            return (.quantizedUnary, [UInt64(op.rawValue)])
        case .inverseSigmoid(let epsilon):
            return (.inverseSigmoid, [float(epsilon)])
        case .softmax(let groupSize):
            return (.softmax, [int(groupSize)])
        case .attention(let heads, let scale):
            return (.attention, [int(heads), float(scale)])
        case .dynamicQuantizedAttention(let heads, let scale):
            return (.dynamicQuantizedAttention, [int(heads), float(scale)])
        case .deformableSampling(let shapes, let heads, let points, let method):
            return (.deformableSampling, sampling(heads, points, shapes) + (method.isDiscrete ? [1] : []))
        case .deformableLocations(let shapes, let heads, let points):
            return (.deformableLocations, sampling(heads, points, shapes))
        case .concatenateColumns:
            return (.concatenateColumns, [])
        case .concatenateRows:
            return (.concatenateRows, [])
        case .sliceColumns(let start, let count):
            return (.sliceColumns, [int(start), int(count)])
        case .interleaveHeads(let heads):
            return (.interleaveHeads, [int(heads)])
        case .sineEmbedding(let features, let temperature, let scale, let order):
            return (.sineEmbedding, [int(features), float(temperature), float(scale)] + order.map(int))
        case .topRows(let count, .column(let column)):
            return (.topRows, [int(count), int(column)])
        case .topRows(let count, .maximum):
            return (.topRows, [int(count), 0, 1])
        case .reshape(let shape):
            return (.reshape, shape.map(int))
        case .upsampleNearest(let factor):
            return (.upsampleNearest, [int(factor)])
        case .averagePool2d(let kernel, let stride, let padding, let ceilMode):
            return (.averagePool2d, [int(kernel), int(stride), int(padding), ceilMode ? 1 : 0])
        case .quantize:
            return (.quantize, [])
        case .dequantize:
            return (.dequantize, [])
        case .quantizedLinear(let activation):
            return (.quantizedLinear, [UInt64(activation.rawValue)])
        case .dynamicQuantizedLinear(let activation, let sumsInput):
            // A second word 1 when the layer reads the sum of its first two inputs.
            return (.dynamicQuantizedLinear, [UInt64(activation.rawValue)] + (sumsInput ? [1] : []))
        case .quantizedConv2d(let stride, let padding, let activation):
            return (.quantizedConv2d, [int(stride), int(padding), UInt64(activation.rawValue)])
        case .quantizedDeformableSampling(let shapes, let heads, let points, let method, let inputs):
            // The final flag word: 1 discrete sampling, 2 weights as logits, 4 locations as reference points and
            // offsets (`SamplingInputs`' raw values); absent when 0.
            let flags = UInt64(method.isDiscrete ? 1 : 0) | UInt64(inputs.rawValue)
            return (.quantizedDeformableSampling, sampling(heads, points, shapes) + (flags != 0 ? [flags] : []))
        }
    }

    /// Rebuilds an operation from stored words; every enum value, count and size is checked, so a
    /// corrupt file gives an error, never a trap. Shapes are checked afterwards by the shape rules.
    public static func decode(opcode raw: UInt32, words: [UInt64], node: String) throws(ModelFileError) -> GraphOperation {
        guard let opcode = Opcode(rawValue: raw) else { throw .unknownOpcode(node: node, opcode: raw) }
        func bad(_ detail: String) -> ModelFileError { .invalidAttributes(node: node, detail: detail) }
        func expect(_ count: Int) throws(ModelFileError) {
            guard words.count == count else { throw bad("\(words.count) attribute words, expected \(count)") }
        }
        /// An integer attribute in 0...limit (limits keep later arithmetic far from overflow).
        func int(_ index: Int, limit: Int = 1 << 24) throws(ModelFileError) -> Int {
            let value = Int64(bitPattern: words[index])
            guard value >= 0, value <= Int64(limit) else { throw bad("attribute \(index) = \(value) outside 0...\(limit)") }
            return Int(value)
        }
        func float(_ index: Int) throws(ModelFileError) -> Float {
            let value = Float(Double(bitPattern: words[index]))
            guard value.isFinite else { throw bad("attribute \(index) is not a finite number") }
            return value
        }
        func activation(_ index: Int) throws(ModelFileError) -> Activation {
            guard let value = Activation(rawValue: UInt8(truncatingIfNeeded: words[index])), words[index] <= 255 else {
                throw bad("unknown activation \(words[index])")
            }
            return value
        }
        func levels(from start: Int, to end: Int) throws(ModelFileError) -> [LevelShape] {
            guard (end - start) % 2 == 0, end > start, end - start <= 16 else {
                throw bad("level list of \(end - start) words")
            }
            var shapes: [LevelShape] = []
            var index = start
            while index < end {
                shapes.append(LevelShape(height: try int(index, limit: 16384), width: try int(index + 1, limit: 16384)))
                index += 2
            }
            return shapes
        }
        switch opcode {
        case .conv2d:
            try expect(3)
            return .conv2d(stride: try int(0, limit: 64), padding: try int(1, limit: 64), activation: try activation(2))
        case .maxPool2d:
            try expect(3)
            return .maxPool2d(kernel: try int(0, limit: 64), stride: try int(1, limit: 64), padding: try int(2, limit: 64))
        case .depthwiseConv2d:
            try expect(3)
            return .depthwiseConv2d(stride: try int(0, limit: 64), padding: try int(1, limit: 64), activation: try activation(2))
        case .quantizedDepthwiseConv2d:
            try expect(3)
            return .quantizedDepthwiseConv2d(stride: try int(0, limit: 64), padding: try int(1, limit: 64), activation: try activation(2))
        case .pad2d:
            try expect(4)
            return .pad2d(top: try int(0, limit: 64), left: try int(1, limit: 64), bottom: try int(2, limit: 64),
                          right: try int(3, limit: 64))
        case .clamp:
            try expect(2)
            return .clamp(minimum: try float(0), maximum: try float(1))
        case .distanceToBox:
            try expect(1)
            return .distanceToBox(regScale: try float(0))
        case .rmsNorm:
            try expect(1)
            return .rmsNorm(epsilon: try float(0))
        case .columnMeans:
            try expect(0)
            return .columnMeans
        case .groupWeightedSum:
            try expect(1)
            return .groupWeightedSum(groupSize: try int(0, limit: 4096))
        case .topValuesWithMean:
            try expect(2)
            return .topValuesWithMean(groupSize: try int(0, limit: 4096), count: try int(1, limit: 4096))
        case .upsampleNearest:
            try expect(1)
            return .upsampleNearest(factor: try int(0, limit: 64))
        case .averagePool2d:
            try expect(4)
            return .averagePool2d(kernel: try int(0, limit: 64), stride: try int(1, limit: 64), padding: try int(2, limit: 64),
                                  ceilMode: try int(3, limit: 1) == 1)
        case .linear:
            try expect(1)
            return .linear(activation: try activation(0))
        case .layerNorm:
            try expect(1)
            return .layerNorm(epsilon: try float(0))
        case .groupNorm:
            try expect(2)
            return .groupNorm(groups: try int(0, limit: 65536), epsilon: try float(1))
        case .binary:
            try expect(1)
            guard words[0] <= 255, let op = BinaryOperator(rawValue: UInt8(words[0])) else { throw bad("unknown binary operator \(words[0])") }
            return .binary(op)
        case .unary, .quantizedUnary:
            try expect(1)
            guard words[0] <= 255, let op = UnaryOperator(rawValue: UInt8(words[0])) else { throw bad("unknown unary operator \(words[0])") }
            return opcode == .unary ? .unary(op) : .quantizedUnary(op)
        case .inverseSigmoid:
            try expect(1)
            return .inverseSigmoid(epsilon: try float(0))
        case .softmax:
            try expect(1)
            return .softmax(groupSize: try int(0))
        case .attention, .dynamicQuantizedAttention:
            try expect(2)
            let (heads, scale) = (try int(0, limit: 4096), try float(1))
            return opcode == .attention ? .attention(heads: heads, scale: scale)
                : .dynamicQuantizedAttention(heads: heads, scale: scale)
        case .deformableSampling, .deformableLocations, .quantizedDeformableSampling:
            guard words.count >= 4 else { throw bad("\(words.count) attribute words, expected at least 4") }
            let heads = try int(0, limit: 4096)
            let uniformPoints = try int(1, limit: 4096)
            // Sampling ops append a flag word when a flag is set: 1 for the discrete method, and for the
            // quantized op 2 for weights given as logits, 4 for locations as reference points and offsets.
            // Per-level point counts (point word 0) follow the level list: 3 words per level, else 2.
            let wordsPerLevel = uniformPoints == 0 ? 3 : 2
            let hasFlags = (words.count - 2) % wordsPerLevel
            let flags = hasFlags == 1 ? words[words.count - 1] : 0
            let allowed: ClosedRange<UInt64> = opcode == .quantizedDeformableSampling ? 1...7 : 1...1
            guard hasFlags == 0 || (hasFlags == 1 && opcode != .deformableLocations && allowed.contains(flags)) else {
                throw bad("\(words.count) attribute words do not hold whole levels and known flags")
            }
            let levelCount = (words.count - 2) / wordsPerLevel
            let shapes = try levels(from: 2, to: 2 + 2 * levelCount)
            var points = Array(repeating: uniformPoints, count: levelCount)
            if uniformPoints == 0 {
                for level in 0..<levelCount { points[level] = try int(2 + 2 * levelCount + level, limit: 4096) }
            }
            let method: SamplingMethod = flags & 1 != 0 ? .discrete : .bilinear
            switch opcode {
            case .deformableSampling: return .deformableSampling(levels: shapes, heads: heads, points: points, method: method)
            case .deformableLocations: return .deformableLocations(levels: shapes, heads: heads, points: points)
            default:
                return .quantizedDeformableSampling(levels: shapes, heads: heads, points: points, method: method,
                                                    inputs: SamplingInputs(rawValue: UInt8(flags & 6)))
            }
        case .concatenateColumns:
            try expect(0)
            return .concatenateColumns
        case .concatenateRows:
            try expect(0)
            return .concatenateRows
        case .sliceColumns:
            try expect(2)
            return .sliceColumns(start: try int(0), count: try int(1))
        case .interleaveHeads:
            try expect(1)
            return .interleaveHeads(heads: try int(0, limit: 4096))
        case .sineEmbedding:
            guard words.count >= 4, words.count <= 3 + 8 else { throw bad("\(words.count) attribute words, expected 4 to 11") }
            var order: [Int] = []
            for index in 3..<words.count { order.append(try int(index, limit: 64)) }
            return .sineEmbedding(features: try int(0, limit: 65536), temperature: try float(1), scale: try float(2), order: order)
        case .topRows:
            // [count, column] ranks by one column; [count, 0, 1] by the row maximum.
            guard words.count == 2 || (words.count == 3 && words[1] == 0 && words[2] == 1) else {
                throw bad("\(words.count) attribute words, expected [count, column] or [count, 0, 1]")
            }
            return .topRows(count: try int(0), score: words.count == 3 ? .maximum : .column(try int(1)))
        case .quantize:
            try expect(0)
            return .quantize
        case .dequantize:
            try expect(0)
            return .dequantize
        case .quantizedLinear:
            try expect(1)
            return .quantizedLinear(activation: try activation(0))
        case .dynamicQuantizedLinear:
            guard words.count == 1 || (words.count == 2 && words[1] == 1) else {
                throw bad("\(words.count) attribute words, expected the activation and an optional 1")
            }
            return .dynamicQuantizedLinear(activation: try activation(0), sumsInput: words.count == 2)
        case .quantizedConv2d:
            try expect(3)
            return .quantizedConv2d(stride: try int(0, limit: 64), padding: try int(1, limit: 64), activation: try activation(2))
        case .reshape:
            guard words.count >= 1, words.count <= 4 else { throw bad("reshape to \(words.count) dimensions") }
            var shape: [Int] = []
            for index in 0..<words.count { shape.append(try int(index, limit: 1 << 30)) }
            return .reshape(shape)
        }
    }
}
