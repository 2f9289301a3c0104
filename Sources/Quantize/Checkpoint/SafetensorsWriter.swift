import Foundation

/// Builds a `.safetensors` file from Float tensors, stored as F32, F16 or BF16.
///
/// Used by tests and tools to make small checkpoints without Python. Tensors are laid out in the
/// order they were added; the JSON header is padded with spaces to a multiple of 8 bytes, as the
/// Python writer does, so that the data section starts aligned.
public struct SafetensorsWriter: Sendable {
    private struct PendingTensor: Sendable {
        let name: String
        let dtype: TensorDType
        let shape: [Int]
        let bytes: [UInt8]
    }

    /// Name used in error messages.
    public let fileName: String
    public var metadata: [String: String]
    private var tensors: [PendingTensor] = []

    public init(fileName: String = "model.safetensors", metadata: [String: String] = ["format": "pt"]) {
        self.fileName = fileName
        self.metadata = metadata
    }

    /// Adds a tensor; `values` are row-major and must number `product(shape)`. F16 and BF16 round
    /// to nearest, ties to even.
    public mutating func add(
        _ name: String, shape: [Int], values: [Float], as dtype: TensorDType = .float32
    ) throws(CheckpointError) {
        guard !tensors.contains(where: { $0.name == name }), name != "__metadata__" else {
            throw .duplicateTensor(file: fileName, tensor: name)
        }
        guard dtype.isReadableAsFloat else {
            throw .unwritableDType(file: fileName, tensor: name, dtype: dtype)
        }
        var expected = 1
        for dimension in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
            guard dimension >= 0, !overflow else { throw .shapeOverflow(file: fileName, tensor: name, shape: shape) }
            expected = product
        }
        guard values.count == expected else {
            throw .valueCountMismatch(file: fileName, tensor: name, count: values.count, expected: expected)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * dtype.itemSize)
        for value in values {
            switch dtype {
            case .float16:
                appendLittleEndian(HalfPrecision.halfBits(from: value), to: &bytes)
            case .bfloat16:
                appendLittleEndian(HalfPrecision.bfloat16Bits(from: value), to: &bytes)
            default:
                appendLittleEndian(value.bitPattern, to: &bytes)
            }
        }
        tensors.append(PendingTensor(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// The complete file contents.
    public func encoded() throws(CheckpointError) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty {
            header["__metadata__"] = metadata
        }
        var offset = 0
        for tensor in tensors {
            header[tensor.name] = [
                "dtype": tensor.dtype.rawValue,
                "shape": tensor.shape,
                "data_offsets": [offset, offset + tensor.bytes.count],
            ] as [String: Any]
            offset += tensor.bytes.count
        }
        var json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        } catch {
            throw .fileUnwritable(file: fileName, reason: error.localizedDescription)
        }
        while json.count % 8 != 0 {
            json.append(UInt8(ascii: " "))
        }
        var file = Data()
        file.reserveCapacity(8 + json.count + offset)
        var lengthBytes: [UInt8] = []
        appendLittleEndian(UInt64(json.count), to: &lengthBytes)
        file.append(contentsOf: lengthBytes)
        file.append(json)
        for tensor in tensors {
            file.append(contentsOf: tensor.bytes)
        }
        return file
    }

    /// Writes the file atomically to `path`.
    public func write(to path: String) throws(CheckpointError) {
        let contents = try encoded()
        do {
            try contents.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .fileUnwritable(file: path, reason: error.localizedDescription)
        }
    }
}

private func appendLittleEndian<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}
