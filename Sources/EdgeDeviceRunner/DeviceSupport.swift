import CLibc

// What both device programs (edgedetr-run, edgedetr-selftest) need from the machine, written
// against libc only so that they compile with Embedded Swift: files, clocks, memory, stderr and
// number formatting. Targets/build.sh compiles this file into each program.

/// The command-line arguments after the program name.
func commandLineArguments(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> [String] {
    var arguments: [String] = []
    var index = 1
    while index < Int(argc) {
        if let argument = argv[index] { arguments.append(String(cString: argument)) }
        index += 1
    }
    return arguments
}

/// Writes one line to standard error, unbuffered (stdout is flushed first so the two interleave in order).
func printError(_ line: String) {
    fflush(nil)
    var text = line
    text.append("\n")
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { break }
            offset += written
        }
    }
}

/// The whole file at `path`, or nil when it cannot be opened or read (missing, a directory, no permission...).
func readWholeFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var status = stat()
    guard fstat(fileno(file), &status) == 0, status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(status.st_size))
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress!, 1, $0.count, file) }
        if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
        if count < chunk.count { return ferror(file) != 0 ? nil : bytes }
    }
}

/// Nanoseconds on the monotonic clock (never jumps with the wall clock; for intervals only).
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Processors online now (1 when unknown).
func onlineProcessorCount() -> Int {
    max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
}

/// `value` with exactly `decimals` digits after the point, rounded half away from zero
/// ("12.345"); Embedded Swift has no String(format:).
func formatFixed(_ value: Double, decimals: Int) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    var scale: Double = 1
    for _ in 0..<decimals { scale *= 10 }
    let magnitude = (value.magnitude * scale).rounded()
    if magnitude >= 9.0e18 { return "\(value)" }
    let scaled = UInt64(magnitude)
    let whole = scaled / UInt64(scale)
    var text = value < 0 && scaled != 0 ? "-" : ""
    text += "\(whole)"
    if decimals > 0 {
        var fraction = "\(scaled % UInt64(scale))"
        while fraction.utf8.count < decimals { fraction = "0" + fraction }
        text += "." + fraction
    }
    return text
}

/// `text` padded with spaces on the right to `width` characters (ASCII).
func padded(_ text: String, _ width: Int) -> String {
    var result = text
    var count = text.utf8.count
    while count < width {
        result.append(" ")
        count += 1
    }
    return result
}

/// The architecture this binary was compiled for.
var compiledArchitecture: String {
    #if arch(arm64)
    return "aarch64"
    #elseif arch(x86_64)
    return "x86_64"
    #else
    return "unknown"
    #endif
}
