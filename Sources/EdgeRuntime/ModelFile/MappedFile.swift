import CLibc

/// The bytes of a model file, memory-mapped read-only (or copied into an aligned buffer when built
/// from bytes in memory). Several model instances can share one mapping: constants borrow from it and
/// keep it alive.
public final class MappedFile: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    private let mapped: Bool

    /// Maps `path` read-only.
    public init(path: String) throws(ModelFileError) {
        let descriptor = edgedetr_open_read_only(path)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: Self.errnoText()) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .cannotOpen(path: path, reason: Self.errnoText()) }
        guard edgedetr_is_regular_file(status.st_mode) != 0 else { throw .cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(status.st_size)
        guard size > 0 else { throw .truncated(what: "header", needed: ModelFileFormat.headerSize, available: 0) }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), edgedetr_map_failed(address) == 0 else {
            throw .cannotOpen(path: path, reason: Self.errnoText())
        }
        base = UnsafeRawPointer(address)
        count = size
        mapped = true
    }

    /// Copies `bytes` into a 64-byte aligned buffer (for tests and embedded use without a file system).
    public init(bytes: UnsafeRawBufferPointer) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: ModelFileFormat.alignment)
        if let source = bytes.baseAddress, bytes.count > 0 { buffer.copyMemory(from: source, byteCount: bytes.count) }
        base = UnsafeRawPointer(buffer)
        count = bytes.count
        mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    private static func errnoText() -> String {
        let code = edgedetr_errno()
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}
