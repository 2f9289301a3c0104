import ArgumentParser
import EdgeRuntime
import Foundation
import Quantize

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detect objects in images and print one line per detection.",
        discussion: """
            Each line reads: image, label, score, box (x0 y0 x1 y1 in pixels of the original image).
            Images: PNG, JPEG (baseline) and binary PPM/PGM; a folder stands for the images in it. An image \
            that cannot be read or run is reported on stderr and the others still run (exit status 1), \
            unless --stop-on-error.
            Streams: with --raw WxH the one input (a file, a FIFO, or - for standard input) is raw video \
            frames of that size back to back, as `ffmpeg -i VIDEO -f rawvideo -pix_fmt rgb24 -` writes them \
            (with --y4m, a Y4M stream: `ffmpeg -i VIDEO -f yuv4mpegpipe -`, size and format in its header); \
            each line then reads `frame N` instead of the image, or with --jsonl one JSON object per frame, \
            written as each frame is done. A report of frames per second and stage times goes to stderr.
            """
    )

    @Option(name: .long, help: "A model file (.edq) or a Hugging Face checkpoint folder (config.json + model.safetensors).")
    var model: String

    @Option(name: .long, help: "Worker threads (1 to 64; default: the processors online).")
    var threads: Int = min(ProcessInfo.processInfo.activeProcessorCount, 64)

    @Option(name: .long, help: "Keep the K best (query, class) pairs before thresholding (default: 300 for DAB-DETR, 100 otherwise).")
    var topK: Int?

    @Option(name: .long, help: "Print detections scoring above this (0 to 1; use 0 for COCO evaluation).")
    var threshold: Float = 0.5

    @Option(name: .long, help: "Write all detections in COCO results format to this JSON file.")
    var json: String?

    @Option(name: .long, help: "Draw the boxes on the image and write a PNG here (one image only; a box that repeats a better-scored one, IoU >= 0.7, is not drawn); with --raw, write every frame run, drawn, as raw rgb24 to this file or FIFO (- for standard output, instead of the detections).")
    var draw: String?

    @Option(name: .long, help: "The input is a stream of raw video frames of this size, WIDTHxHEIGHT (e.g. 1280x720).")
    var raw: String?

    @Option(name: .long, help: "On a stream: give up, with an error naming the frame, when no byte has come for this many seconds (0.1 to 3600; default: wait for ever).")
    var stallTimeout: Double?

    @Flag(name: .long, help: "The input is a Y4M stream (YUV4MPEG2, what `ffmpeg -f yuv4mpegpipe` writes: size and format in its header).")
    var y4m = false

    @Option(name: .long, help: "Pixel format of --raw frames: rgb24 or gray.")
    var pixelFormat: String = "rgb24"

    @Flag(name: .long, help: "With --raw: one JSON object per frame on standard output (JSON Lines), flushed per frame.")
    var jsonl = false

    @Flag(name: .long, help: "With --raw: read frames on a thread of their own and run only the newest, dropping those that arrive while the model is busy (a live camera); frames keep their stream index.")
    var dropLate = false

    @Flag(name: .long, help: "Stop at the first image that cannot be read or run (by default it is reported and the rest run; the exit status is 1 either way).")
    var stopOnError = false

    @Argument(help: "Image files and folders (their PNG, JPEG and PPM/PGM files, sorted by name); with --raw, one stream (a file, a FIFO, or - for standard input).")
    var images: [String]

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be from 1 to 64, got \(threads)") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1, got \(topK)") }
        guard threshold >= 0, threshold <= 1 else { throw ValidationError("--threshold must be from 0 to 1, got \(threshold)") }
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        if draw != nil, images.count != 1 { throw ValidationError("--draw takes exactly one image or stream, got \(images.count)") }
        if let stallTimeout {
            guard stallTimeout >= 0.1, stallTimeout <= 3600 else {
                throw ValidationError("--stall-timeout must be from 0.1 to 3600 seconds, got \(stallTimeout)")
            }
            guard y4m || raw != nil else { throw ValidationError("--stall-timeout works on a stream; it needs --raw or --y4m") }
        }
        if y4m && raw != nil { throw ValidationError("--y4m streams say their frame size; give --raw or --y4m, not both") }
        if let raw {
            guard parseFrameSize(raw) != nil else {
                throw ValidationError("--raw must be WIDTHxHEIGHT with sides 1 to \(RGBImage.maximumSide), got '\(raw)'")
            }
            guard RawPixelFormat(name: pixelFormat) != nil else {
                throw ValidationError("--pixel-format must be rgb24 or gray, got '\(pixelFormat)'")
            }
        }
        if y4m || raw != nil {
            guard images.count == 1 else { throw ValidationError("\(y4m ? "--y4m" : "--raw") takes one stream, got \(images.count) inputs") }
            if json != nil { throw ValidationError("--json writes images' results; on a stream use --jsonl") }
            if draw == "-" && jsonl { throw ValidationError("--draw - writes the frames to standard output; --jsonl would too") }
        } else if jsonl || dropLate {
            throw ValidationError("\(jsonl ? "--jsonl" : "--drop-late") works on a stream's frames; it needs --raw or --y4m")
        }
    }

    func run() throws {
        if y4m {
            try runStream(y4m: true, width: 0, height: 0, format: .rgb24)
            return
        }
        if let raw, let size = parseFrameSize(raw), let format = RawPixelFormat(name: pixelFormat) {
            try runStream(y4m: false, width: size.width, height: size.height, format: format)
            return
        }
        let detector = try AnyDetector(model: model, threads: threads)
        let (files, problems) = ImageInputs.expand(images)
        if draw != nil, files.count != 1 { throw CLIError("--draw takes exactly one image, got \(files.count)") }
        var failures = 0
        /// A file's error: reported and skipped, or with --stop-on-error the end of the run.
        func report(_ error: CLIError) throws {
            if stopOnError { throw error }
            FileHandle.standardError.write(Data("Error: \(error.description)\n".utf8))
            failures += 1
        }
        for problem in problems { try report(CLIError(problem)) }
        var results: [(imageID: Int, fileName: String, detection: Detection)] = []
        for (index, path) in files.enumerated() {
            let image: RGBImage
            let detections: [Detection]
            do {
                image = try ImageFile.load(path)
                do { detections = try detector.detect(image, topK, threshold) } catch let error as CLIError {
                    throw CLIError("\(path): \(error.description)")
                }
            } catch let error as CLIError {
                try report(error)
                continue
            }
            for detection in detections {
                print(detectionLine(imagePath: path, label: detector.labelName(detection.label), detection))
                results.append((imageID: index + 1, fileName: path, detection: detection))
            }
            if let draw {
                var canvas = image
                drawDetections(detections, on: &canvas, label: detector.labelName)
                try ImageFile.writePNG(canvas, to: draw)
            }
        }
        if let json {
            do { try Data(cocoResultsJSON(results).utf8).write(to: URL(fileURLWithPath: json)) } catch {
                throw CLIError("\(json): cannot write (\(error.localizedDescription))")
            }
        }
        // Every failed file has had its line; the status says the batch was not whole.
        if failures > 0 { throw ExitCode.failure }
    }
}

extension DetectCommand {
    /// `--raw` or `--y4m`: the frames of the one input through `FrameStream`, the loop `edgedetr-run` runs too.
    func runStream(y4m: Bool, width: Int, height: Int, format: RawPixelFormat) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isFolder) else {
            throw CLIError("\(model): no such file or folder")
        }
        if isFolder.boolValue {
            throw CLIError("\(model): a checkpoint folder; a stream runs a model file (edgedetr quantize or export writes one)")
        }
        let detector: Detector
        do { detector = try Detector(path: model, threads: threads) } catch { throw CLIError("\(model): \(error.description)") }
        let path = images[0]
        let opened = openStreamInput(path)
        if let problem = opened.problem { throw CLIError(problem) }
        let descriptor = opened.descriptor
        defer { if descriptor != STDIN_FILENO { close(descriptor) } }
        var reader: RawFrameReader
        let timeout = stallTimeout.map { Int(($0 * 1000).rounded()) }
        if y4m {
            do { reader = try RawFrameReader.y4m(fileDescriptor: descriptor, stallTimeout: timeout) } catch {
                throw CLIError("\(path): \(error.description)")
            }
        } else {
            do { reader = try RawFrameReader(fileDescriptor: descriptor, width: width, height: height, format: format) } catch {
                throw CLIError("--raw \(width)x\(height): \(error.description)")
            }
            reader.stallTimeout = timeout
        }
        var drawDescriptor: Int32?
        if let draw {
            let opened = openDrawnFrames(draw)
            if let problem = opened.problem { throw CLIError(problem) }
            drawDescriptor = opened.descriptor
        }
        defer { if let drawDescriptor, drawDescriptor != STDOUT_FILENO { close(drawDescriptor) } }
        let output: FrameStream.Output = draw == "-" ? .none : jsonl ? .jsonLines : .text
        let stream = FrameStream(detector: detector, topK: topK, threshold: threshold, output: output, dropLate: dropLate,
                                 drawDescriptor: drawDescriptor)
        let summary = stream.run(&reader)
        FileHandle.standardError.write(Data((summary.report + "\n").utf8))
        if let error = summary.streamError { throw CLIError("\(path): \(error.description) (\(summary.frames) frames run)") }
        if let message = summary.detectorError { throw CLIError("\(path): \(message)") }
    }
}

/// A model file run by the runtime, or a checkpoint folder run by the float engine, behind one face.
struct AnyDetector {
    let detect: (RGBImage, Int?, Float) throws -> [Detection]
    let labelName: (Int) -> String

    init(model: String, threads: Int) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isFolder) else {
            throw CLIError("\(model): no such file or folder")
        }
        if isFolder.boolValue {
            let detector: FloatDetector
            do { detector = try FloatDetector(folder: model, threads: threads) } catch { throw CLIError(error.description) }
            detect = { image, topK, threshold in
                do { return try detector.detect(image, topK: topK, threshold: threshold) } catch { throw CLIError("\(error)") }
            }
            labelName = detector.labelName
        } else {
            let detector: Detector
            do { detector = try Detector(path: model, threads: threads) } catch { throw CLIError("\(model): \(error.description)") }
            detect = { image, topK, threshold in
                do { return try detector.detect(image, topK: topK, threshold: threshold) } catch { throw CLIError("\(error)") }
            }
            labelName = detector.labelName
        }
    }
}

/// A one-line error for the user; ArgumentParser prints it as `Error: ...` and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum ImageFile {
    static func load(_ path: String) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("\(path): cannot read file")
        }
        do {
            return try decodeImage([UInt8](data))
        } catch {
            throw CLIError("\(path): \(error.description)")
        }
    }

    static func writePNG(_ image: RGBImage, to path: String) throws {
        let bytes = encodePNG(image)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw CLIError("\(path): cannot write file")
        }
    }
}
