import EdgeRuntime
import Foundation

/// A board description for `edgedetr bench --estimate FILE`: the `BoardModel` fields as `key = value`
/// lines (`#` starts a comment), every key required once, every value checked, so a board that is
/// not built in (another ARM board, or this machine for checking the method) can be estimated:
///
///     name = host
///     description = this Xeon, 2 cores
///     cores = 2
///     clock_hz = 2.9e9
///     int8_macs_per_cycle = 63.7        # Calibration/bench/kernel_cycles.py
///     int8_tile = 8x16
///     float_macs_per_cycle = 15.9
///     vector_bytes = 32
///     memory_bytes_per_second = 9e9
///     cache_bytes = 33554432
///     cache_bytes_per_second = 1e11
enum BoardFile {
    static let keys = ["name", "description", "cores", "clock_hz", "int8_macs_per_cycle", "int8_tile", "float_macs_per_cycle",
                       "vector_bytes", "memory_bytes_per_second", "cache_bytes", "cache_bytes_per_second"]

    static func read(path: String) throws -> BoardModel {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("--estimate \(path): cannot read the file") }
        guard data.count <= 65536, let text = String(data: data, encoding: .utf8) else {
            throw CLIError("--estimate \(path): not a board description (UTF-8 text of at most 64 KiB)")
        }
        return try parse(text, source: path)
    }

    static func parse(_ text: String, source: String) throws -> BoardModel {
        var fields: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if line.allSatisfy(\.isWhitespace) { continue }
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw CLIError("\(source):\(number + 1): expected 'key = value'") }
            let key = parts[0].trimmingCharacters(in: .whitespaces), value = parts[1].trimmingCharacters(in: .whitespaces)
            guard keys.contains(key) else { throw CLIError("\(source):\(number + 1): unknown key '\(key)' (keys: \(keys.joined(separator: ", ")))") }
            guard fields[key] == nil else { throw CLIError("\(source):\(number + 1): '\(key)' given twice") }
            fields[key] = value
        }
        if let missing = keys.first(where: { fields[$0] == nil }) { throw CLIError("\(source): '\(missing)' is missing") }

        func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double {
            guard let value = Double(fields[key]!), value.isFinite, range.contains(value) else {
                throw CLIError("\(source): \(key) must be a number in \(range.lowerBound)...\(range.upperBound), got '\(fields[key]!)'")
            }
            return value
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let value = Int(fields[key]!), range.contains(value) else {
                throw CLIError("\(source): \(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(fields[key]!)'")
            }
            return value
        }
        let tile = fields["int8_tile"]!.split(separator: "x").compactMap { Int($0) }
        guard tile.count == 2, tile.allSatisfy({ (1...64).contains($0) }) else {
            throw CLIError("\(source): int8_tile must be ROWSxCOLUMNS (each 1 to 64), got '\(fields["int8_tile"]!)'")
        }
        let vectorBytes = try integer("vector_bytes", 4...256)
        guard vectorBytes % 4 == 0 else { throw CLIError("\(source): vector_bytes must be a multiple of 4, got \(vectorBytes)") }
        return BoardModel(
            name: fields["name"]!, description: fields["description"]!, cores: try integer("cores", 1...1024),
            clockHz: try number("clock_hz", 1e6...1e11), int8MACsPerCycle: try number("int8_macs_per_cycle", 0.01...1e5),
            int8Tile: (tile[0], tile[1]), floatMACsPerCycle: try number("float_macs_per_cycle", 0.01...1e5),
            vectorBytes: vectorBytes, memoryBytesPerSecond: try number("memory_bytes_per_second", 1e6...1e14),
            cacheBytes: try integer("cache_bytes", 0...(1 << 40)), cacheBytesPerSecond: try number("cache_bytes_per_second", 1e6...1e15))
    }
}
