import Kernels

/// How each `ConstantEncoding` lays out a constant's bytes in the data section (docs/FORMAT.md,
/// "Constant encodings"). The writer and the reader share this file, as they share `OperationCoding`.
public enum ConstantCoding {
    /// Stored encoding codes (value record byte 11). Never renumber: add new ones at the end.
    public enum Code: UInt8, Sendable {
        case raw = 0, int8PerChannel = 1, generated = 2, int8Packed = 3
    }

    /// Bytes before the panels of packed int8 weights (layout, depth order, zero point, zero padding).
    public static let packedHeaderSize = 64

    /// Stored recipe codes (the first word of a generated constant's data).
    public enum RecipeCode: UInt32, Sendable {
        case sinePosition = 1
    }

    /// Bytes of a sine position recipe before its level table.
    static let sineHeaderSize = 32
    /// Flag bit of a sine position recipe: a level embedding follows the level table.
    static let sineHasLevelEmbedding: UInt32 = 1

    /// Bytes the data section holds for `storage`.
    public static func storedByteCount(_ storage: ConstantStorage) -> Int {
        switch storage.encoding {
        case .raw:
            return storage.byteCount
        case .int8PerChannel(let values, let scales):
            return values.byteCount + scales.byteCount
        case .generated(.sinePosition(let embedding)):
            return sineHeaderSize + 8 * embedding.levels.count + (embedding.levelEmbedding?.byteCount ?? 0)
        case .int8Packed(let packed):
            return packedHeaderSize + packed.weights.byteCount
        }
    }

    /// Appends the stored bytes of `storage` (little-endian).
    public static func encode(_ storage: ConstantStorage, into bytes: inout [UInt8]) {
        func append(_ pointer: UnsafeRawPointer, _ count: Int) {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
        }
        func u32(_ value: UInt32) {
            var little = value.littleEndian
            withUnsafeBytes(of: &little) { bytes.append(contentsOf: $0) }
        }
        switch storage.encoding {
        case .raw:
            append(storage.raw, storage.byteCount)
        case .int8PerChannel(let values, let scales):
            append(scales.raw, scales.byteCount)
            append(values.raw, values.byteCount)
        case .generated(.sinePosition(let embedding)):
            u32(RecipeCode.sinePosition.rawValue)
            u32(UInt32(embedding.levels.count))
            u32(UInt32(embedding.features))
            u32(embedding.levelEmbedding == nil ? 0 : sineHasLevelEmbedding)
            for value in [embedding.temperatureY, embedding.temperatureX, embedding.centreOffset, embedding.scale] {
                u32(value.bitPattern)
            }
            for level in embedding.levels {
                u32(UInt32(level.height))
                u32(UInt32(level.width))
            }
            if let levelEmbedding = embedding.levelEmbedding { append(levelEmbedding.raw, levelEmbedding.byteCount) }
        case .int8Packed(let packed):
            u32(UInt32(packed.weights.layout.rawValue))
            u32(packed.depthOrder.rawValue)
            u32(UInt32(bitPattern: packed.inputZeroPoint))
            for _ in 0..<((packedHeaderSize - 12) / 4) { u32(0) }
            append(packed.weights.bytes, packed.weights.byteCount)
        }
    }

    /// Rebuilds a constant of `shape` and `elementType` from its stored `data` (inside `file`),
    /// materializing the encodings other than raw. Every field is checked: the size of the data
    /// against what the shape and parameters need (overflow-checked), int8 scales positive and finite
    /// and values in -127...127, recipe parameters in range and their output shape equal to `shape`.
    public static func decode(code raw: UInt8, shape: [Int], elementType: ElementType, data: UnsafeRawBufferPointer,
                              file: MappedFile) throws(ConstantEncodingError) -> ConstantStorage {
        guard let code = Code(rawValue: raw) else { throw ConstantEncodingError("unknown constant encoding \(raw)") }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, dimension >= 0 else { throw ConstantEncodingError("dimensions \(shape) overflow") }
            count = product
        }
        let base = UnsafeMutableRawPointer(mutating: data.baseAddress ?? UnsafeRawPointer(file.base))
        switch code {
        case .raw:
            let (bytes, overflow) = count.multipliedReportingOverflow(by: elementType.byteSize)
            guard !overflow, bytes == data.count else {
                throw ConstantEncodingError("\(data.count) data bytes for \(count) values of \(elementType.byteSize) bytes")
            }
            return ConstantStorage(borrowing: base, count: count, elementType: elementType, from: file)
        case .int8PerChannel:
            guard elementType == .float32, let outputs = shape.first, outputs > 0 else {
                throw ConstantEncodingError("weight-only int8 needs a float32 weight with outputs first, got \(shape)")
            }
            let (scaleBytes, scaleOverflow) = outputs.multipliedReportingOverflow(by: 4)
            let (bytes, overflow) = scaleBytes.addingReportingOverflow(count)
            guard !scaleOverflow, !overflow, bytes == data.count else {
                throw ConstantEncodingError("\(data.count) data bytes, expected \(outputs) float32 scales + \(count) int8 values")
            }
            let scales = ConstantStorage(borrowing: base, count: outputs, elementType: .float32, from: file)
            let values = ConstantStorage(borrowing: base + scaleBytes, count: count, elementType: .int8, from: file)
            for output in 0..<outputs where !(scales.pointer[output].isFinite && scales.pointer[output] > 0) {
                throw ConstantEncodingError("weight-only int8 scale \(output) = \(scales.pointer[output]) must be positive and finite")
            }
            for index in 0..<count where values.int8Pointer[index] == -128 {
                throw ConstantEncodingError("weight-only int8 value \(index) is -128 (symmetric weights are -127...127)")
            }
            return ConstantStorage(dequantizing: values, scales: scales)
        case .generated:
            guard elementType == .float32 else { throw ConstantEncodingError("a generated constant must be float32") }
            let recipe = try decodeRecipe(data, base: base, file: file)
            guard recipe.shape == shape else {
                throw ConstantEncodingError("the recipe generates \(recipe.shape), the value is \(shape)")
            }
            return ConstantStorage(generating: recipe)
        case .int8Packed:
            return try decodePacked(shape: shape, count: count, elementType: elementType, data: data, base: base, file: file)
        }
    }

    /// Packed int8 weights: the 64-byte header, then the panels, used in place. Checked here: the
    /// header's fields, the exact size, zero padding and weights in -127...127; the reader then checks
    /// the panels' biases and scales against the layer that reads them (`ModelFile`).
    private static func decodePacked(shape: [Int], count: Int, elementType: ElementType, data: UnsafeRawBufferPointer,
                                     base: UnsafeMutableRawPointer, file: MappedFile) throws(ConstantEncodingError) -> ConstantStorage {
        func u32(_ offset: Int) -> UInt32 { data.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian }
        guard elementType == .int8, shape.count == 2 || shape.count == 4, let outputs = shape.first, outputs > 0, count > 0 else {
            throw ConstantEncodingError("packed int8 weights must be int8 [N, K] or [O, C, kH, kW] and not empty, got \(shape)")
        }
        guard data.count >= packedHeaderSize else {
            throw ConstantEncodingError("packed int8 weights of \(data.count) bytes, expected at least the \(packedHeaderSize)-byte header")
        }
        guard let layout = Int8WeightLayout(rawValue: UInt8(truncatingIfNeeded: u32(0))), u32(0) <= 255 else {
            throw ConstantEncodingError("unknown packed weight layout \(u32(0))")
        }
        guard let order = PackedDepthOrder(rawValue: u32(4)) else { throw ConstantEncodingError("unknown depth order \(u32(4))") }
        guard (order == .linear) == (shape.count == 2) else {
            throw ConstantEncodingError("depth order \(order.rawValue) does not fit a weight of rank \(shape.count)")
        }
        let zeroPoint = Int32(bitPattern: u32(8))
        guard (-128...127).contains(zeroPoint) else { throw ConstantEncodingError("input zero point \(zeroPoint) outside -128...127") }
        for offset in stride(from: 12, to: packedHeaderSize, by: 4) where u32(offset) != 0 {
            throw ConstantEncodingError("packed weight header byte \(offset) is not zero")
        }
        let inputs = count / outputs
        guard let panelBytes = PackedInt8Weights.packedByteCount(outputs: outputs, inputs: inputs, layout: layout),
              panelBytes == data.count - packedHeaderSize,
              let weights = PackedInt8Weights(borrowing: UnsafeRawBufferPointer(start: base + packedHeaderSize, count: panelBytes),
                                              outputs: outputs, inputs: inputs, layout: layout) else {
            throw ConstantEncodingError("\(data.count - packedHeaderSize) panel bytes for \(outputs) x \(inputs) weights in the \(layout.name) layout, expected \(PackedInt8Weights.packedByteCount(outputs: outputs, inputs: inputs, layout: layout) ?? -1)")
        }
        if let problem = weights.panelProblem() { throw ConstantEncodingError("packed int8 weights: \(problem)") }
        return ConstantStorage(packed: PackedWeightEncoding(weights: weights, depthOrder: order, inputZeroPoint: zeroPoint),
                               count: count, from: file)
    }

    private static func decodeRecipe(_ data: UnsafeRawBufferPointer, base: UnsafeMutableRawPointer,
                                     file: MappedFile) throws(ConstantEncodingError) -> ConstantRecipe {
        func u32(_ offset: Int) -> UInt32 { data.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian }
        guard data.count >= 4 else { throw ConstantEncodingError("recipe of \(data.count) bytes") }
        guard let recipe = RecipeCode(rawValue: u32(0)) else { throw ConstantEncodingError("unknown recipe \(u32(0))") }
        switch recipe {
        case .sinePosition:
            guard data.count >= sineHeaderSize else {
                throw ConstantEncodingError("sine position recipe of \(data.count) bytes, expected at least \(sineHeaderSize)")
            }
            let levelCount = Int(u32(4))
            let features = Int(u32(8))
            let flags = u32(12)
            guard (1...SinePositionEmbedding.maximumLevels).contains(levelCount) else {
                throw ConstantEncodingError("\(levelCount) levels, expected 1 to \(SinePositionEmbedding.maximumLevels)")
            }
            guard (1...SinePositionEmbedding.maximumFeatures).contains(features) else {
                throw ConstantEncodingError("\(features) features, expected 1...\(SinePositionEmbedding.maximumFeatures)")
            }
            guard flags & ~sineHasLevelEmbedding == 0 else { throw ConstantEncodingError("unknown recipe flags \(flags)") }
            // Both bounded above (8 levels, 2^16 features): no overflow.
            let tableEnd = sineHeaderSize + 8 * levelCount
            let embeddingCount = flags & sineHasLevelEmbedding != 0 ? levelCount * 2 * features : 0
            guard data.count == tableEnd + 4 * embeddingCount else {
                throw ConstantEncodingError("sine position recipe of \(data.count) bytes, expected \(tableEnd + 4 * embeddingCount)")
            }
            var levels: [LevelShape] = []
            for level in 0..<levelCount {
                levels.append(LevelShape(height: Int(u32(sineHeaderSize + 8 * level)), width: Int(u32(sineHeaderSize + 8 * level + 4))))
            }
            let embedding = embeddingCount == 0 ? nil
                : ConstantStorage(borrowing: base + tableEnd, count: embeddingCount, elementType: .float32, from: file)
            return .sinePosition(try SinePositionEmbedding(
                levels: levels, features: features, temperatureY: Float(bitPattern: u32(16)),
                temperatureX: Float(bitPattern: u32(20)), centreOffset: Float(bitPattern: u32(24)),
                scale: Float(bitPattern: u32(28)), levelEmbedding: embedding))
        }
    }
}
