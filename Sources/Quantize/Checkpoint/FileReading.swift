import Foundation

/// Reads a whole regular file of at most `limit` bytes with open/read. Foundation's
/// `Data(contentsOf:)` is not used for user files: on Linux it leaks its 4 KiB read buffer for an
/// empty file (LeakSanitizer under the checkpoint fuzzer), and it reads FIFOs and devices forever.
enum FileReading {
    enum Failure: Error {
        case unreadable(String)
        case tooLarge(Int)
    }

    static func contents(of path: String, limit: Int) throws(Failure) -> Data {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .unreadable(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .unreadable(String(cString: strerror(errno))) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw .unreadable("not a regular file") }
        let size = Int(status.st_size)
        guard size <= limit else { throw .tooLarge(size) }
        var data = Data(count: size)
        var filled = 0
        let failure: String? = data.withUnsafeMutableBytes { buffer -> String? in
            while filled < size {
                let count = read(descriptor, buffer.baseAddress! + filled, size - filled)
                if count < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                if count == 0 { break }
                filled += count
            }
            return nil
        }
        if let failure { throw .unreadable(failure) }
        // A file that shrank while it was read is what it is now.
        if filled < size { data.count = filled }
        return data
    }
}
