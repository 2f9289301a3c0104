/// The runner's command line, parsed by hand (libc only, no ArgumentParser):
/// `edgedetr-run <model> <image.ppm|png|jpg> [--threads N] [--json] [--bench N]`.
struct RunnerOptions {
    var modelPath: String
    var imagePath: String
    /// Worker threads for the kernels (1 to 64); by default every processor online.
    var threads: Int
    /// Machine-readable output (one JSON object per line) instead of text.
    var json = false
    /// Time each stage this many times (1 to 1000) and print median, min and max.
    var benchmarkRuns: Int?

    static let usage = "Usage: edgedetr-run <model> <image.ppm|png|jpg> [--threads N] [--json] [--bench N]"

    static let help = """
        \(usage)

        Runs an EdgeDETR int8 model file on one image (PNG, baseline JPEG, binary PPM/PGM).
          --threads N   worker threads, 1 to 64 (default: processors online)
          --json        print results as JSON
          --bench N     run each stage N times (1 to 1000); print median/min/max and peak RSS
        """

    /// nil for `--help`/`-h`; throws on anything else that is not a valid command line.
    init?(parsing arguments: [String]) throws(RunnerUsageError) {
        var positional: [String] = []
        var threads: Int?
        var json = false
        var benchmarkRuns: Int?
        var index = 0
        /// The value of option `name`: the next argument, or what follows `=`.
        func value(of name: String, inline: String?) throws(RunnerUsageError) -> String {
            if let inline { return inline }
            index += 1
            guard index < arguments.count else { throw .missingValue(option: name) }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            var name = argument
            var inline: String?
            if argument.hasPrefix("--"), let equals = argument.utf8.firstIndex(of: UInt8(ascii: "=")) {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            switch name {
            case "-h", "--help":
                return nil
            case "--threads":
                threads = try integer(try value(of: name, inline: inline), option: name, in: 1...64)
            case "--bench":
                benchmarkRuns = try integer(try value(of: name, inline: inline), option: name, in: 1...1000)
            case "--json":
                if inline != nil { throw .unexpectedValue(option: name) }
                json = true
            default:
                if argument.hasPrefix("-") && argument != "-" { throw .unknownOption(argument) }
                positional.append(argument)
            }
            index += 1
        }
        guard positional.count == 2 else { throw .wrongArgumentCount(positional.count) }
        modelPath = positional[0]
        imagePath = positional[1]
        self.threads = threads ?? min(onlineProcessorCount(), 64)
        self.json = json
        self.benchmarkRuns = benchmarkRuns
    }
}

/// `text` as a decimal integer in `range`.
private func integer(_ text: String, option: String, in range: ClosedRange<Int>) throws(RunnerUsageError) -> Int {
    guard let value = Int(text), range.contains(value) else {
        throw .outOfRange(option: option, value: text, range: range)
    }
    return value
}

/// A command line the runner cannot run, worded like ArgumentParser's messages.
enum RunnerUsageError: Error {
    case unknownOption(String)
    case missingValue(option: String)
    case unexpectedValue(option: String)
    case outOfRange(option: String, value: String, range: ClosedRange<Int>)
    case wrongArgumentCount(Int)

    var description: String {
        switch self {
        case .unknownOption(let option):
            return "unknown option '\(option)'"
        case .missingValue(let option):
            return "missing value for '\(option)'"
        case .unexpectedValue(let option):
            return "'\(option)' takes no value"
        case .outOfRange(let option, let value, let range):
            return "\(option) must be from \(range.lowerBound) to \(range.upperBound), got \(value)"
        case .wrongArgumentCount(let count):
            return count < 2 ? "expected a model file and an image file" : "expected one model file and one image file, got \(count) paths"
        }
    }
}
