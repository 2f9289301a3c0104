import CLibc
import EdgeRuntime

/// The runner's command line, parsed by hand (libc only, no ArgumentParser):
/// `edgedetr-run <model.edq> <image.ppm|png|jpg> [--threads N] [--json] [--bench N] [--threshold T] [--top-k K]`, or
/// `edgedetr-run <model.edq> <stream|-> --raw WxH [--pixel-format rgb24|gray] [--jsonl] ...` for raw video frames.
/// `--threshold` and `--top-k` mean what they mean for `edgedetr detect`.
struct RunnerOptions {
    var modelPath: String
    /// Images and folders (or, with `--raw`, the one stream: `imagePaths[0]`).
    var imagePaths: [String]
    var imagePath: String { imagePaths[0] }
    /// Stop at the first image that cannot be read or run instead of reporting it and going on.
    var stopOnError = false
    /// Worker threads for the kernels (1 to 64); by default every processor online.
    var threads: Int
    /// Machine-readable output (one JSON object per line) instead of text.
    var json = false
    /// Time each stage this many times (1 to 1000) after one warm-up and print median, min and max.
    var benchmarkRuns: Int?
    /// Print detections scoring above this (0 to 1), as `edgedetr detect --threshold`.
    var threshold: Float = 0.5
    /// Keep the K best (query, class) pairs before thresholding; nil: the model file's default.
    var topK: Int?
    /// `--raw WxH`: the input is a stream of raw frames of this size (`imagePath` a file, a FIFO or `-`).
    var rawSize: (width: Int, height: Int)?
    /// `--y4m`: the input is a Y4M stream (its header gives the size).
    var y4m = false
    /// `--stall-timeout`: milliseconds without a byte before a stream counts as stalled.
    var stallTimeout: Int?
    /// A stream (`--raw` or `--y4m`) rather than images.
    var isStream: Bool { rawSize != nil || y4m }
    /// The pixel format of `--raw` frames.
    var pixelFormat = RawPixelFormat.rgb24
    /// With `--raw`: one JSON Lines record per frame instead of text lines.
    var jsonLines = false
    /// With `--raw`: run only the newest frame, dropping those that arrive while the model is busy.
    var dropLate = false
    /// With `--raw`: write each frame run, with its detections drawn, as raw rgb24 here (`-`: stdout).
    var drawPath: String?

    static let usage = "Usage: edgedetr-run <model.edq> <image|folder>... [--threads N] [--json] [--bench N] [--threshold T] [--top-k K] [--stop-on-error]\n"
        + "       edgedetr-run <model.edq> <stream|-> --raw WxH|--y4m [--pixel-format rgb24|gray] [--jsonl] [--drop-late] [--draw PATH] [--stall-timeout S] [--threads N] [--threshold T] [--top-k K]"

    static let help = """
        \(usage)

        Runs an EdgeDETR model file (.edq, from `edgedetr quantize` or `edgedetr export`) on images
        (PNG, baseline JPEG, binary PPM/PGM; a folder stands for the images in it, sorted by name) and
        prints one line per detection, as `edgedetr detect`: image, label, score, box (x0 y0 x1 y1 in
        pixels of the image). An image that cannot be read or run is reported on stderr and the others
        still run (exit status 1).
          --threads N     worker threads, 1 to 64 (default: processors online)
          --threshold T   print detections scoring above T, 0 to 1 (default 0.5; 0 for COCO evaluation)
          --top-k K       keep the K best (query, class) pairs before thresholding (default: the model's)
          --json          print the detections in COCO results format (as `edgedetr detect --json`)
          --stop-on-error stop at the first image that cannot be read or run
          --bench N       (one image) after one warm-up, run decode and inference N times each (1 to 1000); print
                          median/min/max, memory (weights, arena, peak RSS) and the kernel paths
          --raw WxH       the input is raw video frames of WxH pixels back to back (a file, a FIFO, or -
                          for standard input), e.g. from
                          ffmpeg -i video.mp4 -f rawvideo -pix_fmt rgb24 - | edgedetr-run model.edq --raw 1280x720 -
                          lines read `frame N` instead of the image; frames per second and the mean time
                          of each stage go to stderr at the end
          --pixel-format  rgb24 (default) or gray, the format of --raw frames
          --stall-timeout S  on a stream: stop with an error naming the frame when no byte came for S
                          seconds (0.1 to 3600; default: wait for ever)
          --y4m           the input is a Y4M stream (ffmpeg -f yuv4mpegpipe; 4:2:0, 4:2:2, 4:4:4 or mono),
                          whose header gives the frame size; the other stream options apply
          --jsonl         with --raw: one JSON object per frame (JSON Lines), flushed as each frame is done
          --drop-late     with --raw: read on a thread of its own and run only the newest frame, dropping
                          those that arrive while the model is busy (a live camera); frames keep their index
          --draw PATH     with --raw: write each frame run, with its boxes drawn, as raw rgb24 to PATH (a
                          file or FIFO; - for standard output, instead of the detections)
        """

    /// nil for `--help`/`-h`; throws on anything else that is not a valid command line.
    init?(parsing arguments: [String]) throws(RunnerUsageError) {
        var positional: [String] = []
        var threads: Int?
        var json = false
        var benchmarkRuns: Int?
        var threshold: Float = 0.5
        var topK: Int?
        var rawSize: (width: Int, height: Int)?
        var pixelFormat = RawPixelFormat.rgb24
        var jsonLines = false
        var stopOnError = false
        var dropLate = false
        var drawPath: String?
        var y4m = false
        var stallTimeout: Int?
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
            case "--top-k":
                topK = try integer(try value(of: name, inline: inline), option: name, in: 1...1_000_000)
            case "--threshold":
                let text = try value(of: name, inline: inline)
                guard let parsed = decimalFloat(text), parsed >= 0, parsed <= 1 else {
                    throw .outOfRange(option: name, value: text, range: "0 to 1")
                }
                threshold = parsed
            case "--json":
                if inline != nil { throw .unexpectedValue(option: name) }
                json = true
            case "--jsonl":
                if inline != nil { throw .unexpectedValue(option: name) }
                jsonLines = true
            case "--draw":
                drawPath = try value(of: name, inline: inline)
            case "--stall-timeout":
                let text = try value(of: name, inline: inline)
                guard let seconds = decimalFloat(text), seconds >= 0.1, seconds <= 3600 else {
                    throw .outOfRange(option: name, value: text, range: "0.1 to 3600 seconds")
                }
                stallTimeout = Int((seconds * 1000).rounded())
            case "--y4m":
                if inline != nil { throw .unexpectedValue(option: name) }
                y4m = true
            case "--drop-late":
                if inline != nil { throw .unexpectedValue(option: name) }
                dropLate = true
            case "--stop-on-error":
                if inline != nil { throw .unexpectedValue(option: name) }
                stopOnError = true
            case "--raw":
                let text = try value(of: name, inline: inline)
                guard let size = parseFrameSize(text) else {
                    throw .invalidValue(option: name, value: text,
                                        expected: "WIDTHxHEIGHT with sides 1 to \(RGBImage.maximumSide) (e.g. 1280x720)")
                }
                rawSize = size
            case "--pixel-format":
                let text = try value(of: name, inline: inline)
                guard let format = RawPixelFormat(name: text) else { throw .invalidValue(option: name, value: text, expected: "rgb24 or gray") }
                pixelFormat = format
            default:
                if argument.hasPrefix("-") && argument != "-" { throw .unknownOption(argument) }
                positional.append(argument)
            }
            index += 1
        }
        guard positional.count >= 2 else { throw .wrongArgumentCount(positional.count) }
        if y4m && rawSize != nil { throw .conflict("--y4m streams say their frame size; give --raw or --y4m, not both") }
        if rawSize != nil || y4m {
            guard positional.count == 2 else {
                throw .conflict("\(y4m ? "--y4m" : "--raw") takes one stream, got \(positional.count - 1) inputs")
            }
            if json || benchmarkRuns != nil { throw .conflict("--json and --bench take an image; on a --raw stream use --jsonl (the stream reports its timings)") }
            if drawPath == "-" && jsonLines { throw .conflict("--draw - writes the frames to standard output; --jsonl would too") }
        } else if jsonLines || dropLate || drawPath != nil || stallTimeout != nil {
            let option = jsonLines ? "--jsonl" : dropLate ? "--drop-late" : drawPath != nil ? "--draw" : "--stall-timeout"
            throw .conflict("\(option) works on a stream's frames; it needs --raw or --y4m")
        }
        self.stallTimeout = stallTimeout
        self.dropLate = dropLate
        self.drawPath = drawPath
        self.y4m = y4m
        self.rawSize = rawSize
        self.pixelFormat = pixelFormat
        self.jsonLines = jsonLines
        modelPath = positional[0]
        imagePaths = Array(positional.dropFirst())
        self.stopOnError = stopOnError
        self.threads = threads ?? min(onlineProcessorCount(), 64)
        self.json = json
        self.benchmarkRuns = benchmarkRuns
        self.threshold = threshold
        self.topK = topK
    }
}

/// `text` as a decimal integer in `range`.
private func integer(_ text: String, option: String, in range: ClosedRange<Int>) throws(RunnerUsageError) -> Int {
    guard let value = Int(text), range.contains(value) else {
        throw .outOfRange(option: option, value: text, range: "\(range.lowerBound) to \(range.upperBound)")
    }
    return value
}

/// `text` as a Float, correctly rounded (libc's strtof, as Swift's `Float(_:)` on the host); nil
/// unless the whole text is a number.
private func decimalFloat(_ text: String) -> Float? {
    guard !text.isEmpty else { return nil }
    return text.withCString { start -> Float? in
        var end: UnsafeMutablePointer<CChar>?
        let value = strtof(start, &end)
        guard let end, end.pointee == 0, end != UnsafeMutablePointer(mutating: start) else { return nil }
        return value
    }
}

/// A command line the runner cannot run, worded like ArgumentParser's messages.
enum RunnerUsageError: Error {
    case unknownOption(String)
    case missingValue(option: String)
    case unexpectedValue(option: String)
    case outOfRange(option: String, value: String, range: String)
    case wrongArgumentCount(Int)
    case invalidValue(option: String, value: String, expected: String)
    case conflict(String)

    var description: String {
        switch self {
        case .unknownOption(let option):
            return "unknown option '\(option)'"
        case .missingValue(let option):
            return "missing value for '\(option)'"
        case .unexpectedValue(let option):
            return "'\(option)' takes no value"
        case .outOfRange(let option, let value, let range):
            return "\(option) must be from \(range), got \(value)"
        case .invalidValue(let option, let value, let expected):
            return "\(option) must be \(expected), got '\(value)'"
        case .conflict(let message):
            return message
        case .wrongArgumentCount(let count):
            return "expected a model file and at least one image, folder or stream, got \(count) paths"
        }
    }
}
