import EdgeRuntime
import Foundation
import Testing

/// `edgedetr detect --raw`: raw video frames from a file or standard input give the detections of the
/// same pictures run one by one, as text lines or JSON Lines; broken streams and bad flags give one
/// line; a closed output ends the stream cleanly. (`edgedetr-run --raw` runs the same `FrameStream`:
/// Targets/test-arm64.sh compares it with this CLI under qemu, through ffmpeg.)
@Suite struct StreamCommandTests {
    typealias CLI = DetectCommandTests
    static let frames = CLI.repository.appendingPathComponent("Tests/Fixtures/datasets/synth128-easy/calib")

    /// The first `count` calibration pictures (128x128) decoded, and their raw rgb24 stream in a file.
    static func stream(count: Int, in directory: URL) throws -> (paths: [String], file: String, bytes: [UInt8]) {
        let paths = try FileManager.default.contentsOfDirectory(atPath: frames.path).filter { $0.hasSuffix(".png") }.sorted()
            .prefix(count).map { frames.appendingPathComponent($0).path }
        var bytes: [UInt8] = []
        for path in paths {
            let image = try decodeImage([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
            #expect(image.width == 128 && image.height == 128)
            bytes += image.pixels
        }
        let file = directory.appendingPathComponent("frames.rgb").path
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return (paths, file, bytes)
    }

    /// A model file of the bundled Deformable DETR fixture (float export: quick to make).
    static func model(in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("model.edq").path
        let export = try CLI.edgedetr(["export", "--model", CLI.fixture, "--input-size", "96x128", "-o", file])
        #expect(export.status == 0, "\(export.standardError)")
        return file
    }

    @Test func framesDetectAsTheirImagesDo() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (paths, file, _) = try Self.stream(count: 5, in: directory)
        let perImage = try CLI.edgedetr(["detect", "--model", model, "--threshold", "0.05", "--top-k", "4"] + paths)
        #expect(perImage.status == 0, "\(perImage.standardError)")
        var expected = perImage.standardOutput
        for (index, path) in paths.enumerated() { expected = expected.replacingOccurrences(of: path + "\t", with: "frame \(index)\t") }
        #expect(expected.split(separator: "\n").count == 20)

        let fromFile = try CLI.edgedetr(["detect", "--model", model, "--threshold", "0.05", "--top-k", "4", "--raw", "128x128", file])
        #expect(fromFile.status == 0, "\(fromFile.standardError)")
        #expect(fromFile.standardOutput == expected)
        #expect(fromFile.standardError.hasPrefix("stream: 5 frames in ") && fromFile.standardError.contains("frames/s")
                && fromFile.standardError.contains("inference") && fromFile.standardError.contains("peak RSS"))

        let fromStandardInput = try CLI.edgedetr(["detect", "--model", model, "--threshold", "0.05", "--top-k", "4",
                                                  "--raw", "128x128", "-"], standardInput: file)
        #expect(fromStandardInput.standardOutput == expected)

        // JSON Lines: one record per frame, each the frame's detections in order.
        let lines = try CLI.edgedetr(["detect", "--model", model, "--threshold", "0.05", "--top-k", "4", "--raw", "128x128",
                                      "--jsonl", file])
        let records = lines.standardOutput.split(separator: "\n")
        #expect(records.count == 5)
        for (index, record) in records.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(record.utf8)) as? [String: Any])
            #expect(object["frame"] as? Int == index)
            let detections = try #require(object["detections"] as? [[String: Any]])
            let expectedLines = expected.split(separator: "\n").filter { $0.hasPrefix("frame \(index)\t") }
            #expect(detections.count == expectedLines.count)
            for (detection, line) in zip(detections, expectedLines) {
                #expect(line.split(separator: "\t")[1] == Substring(detection["label"] as? String ?? ""))
            }
        }
    }

    /// `--drop-late` on a file (frames arrive far faster than the model runs): the frames that run keep
    /// their stream index and give that frame's detections, in order, the last frame always runs, and run plus
    /// dropped frames are all of them.
    @Test func dropLateRunsTheNewestFramesWithTheirIndex() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (_, _, bytes) = try Self.stream(count: 5, in: directory)
        let file = directory.appendingPathComponent("long.rgb").path
        try Data(Array([[UInt8]](repeating: bytes, count: 8).joined())).write(to: URL(fileURLWithPath: file))
        let arguments = ["detect", "--model", model, "--threshold", "0.05", "--top-k", "4", "--raw", "128x128", "--jsonl", file]
        let every = try CLI.edgedetr(arguments).standardOutput.split(separator: "\n").map(String.init)
        #expect(every.count == 40)
        let late = try CLI.edgedetr(arguments + ["--drop-late"])
        #expect(late.status == 0, "\(late.standardError)")
        var frames: [Int] = []
        for record in late.standardOutput.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(record.utf8)) as? [String: Any])
            let frame = try #require(object["frame"] as? Int)
            frames.append(frame)
            #expect(String(record) == every[frame], "frame \(frame)")
        }
        #expect(frames.last == 39 && frames == frames.sorted() && Set(frames).count == frames.count, "\(frames)")
        let dropped = try #require(late.standardError.split(separator: ";").first { $0.contains("dropped") }?
            .split(separator: " ").compactMap { Int($0) }.first)
        #expect(frames.count + dropped == 40, "\(late.standardError)")
    }

    /// `--draw` on a stream: each frame drawn as `detect --draw` draws that picture alone, written as raw
    /// rgb24 to a file, or with `--draw -` to standard output instead of the detections.
    @Test func drawnFramesAreThePicturesDrawnAlone() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (paths, file, _) = try Self.stream(count: 3, in: directory)
        let drawn = directory.appendingPathComponent("drawn.rgb").path
        let arguments = ["detect", "--model", model, "--threshold", "0.05", "--top-k", "3", "--raw", "128x128"]
        let run = try CLI.edgedetr(arguments + ["--draw", drawn, file])
        #expect(run.status == 0 && run.standardOutput.split(separator: "\n").count == 9, "\(run.standardError)")
        let frames = [UInt8](try Data(contentsOf: URL(fileURLWithPath: drawn)))
        #expect(frames.count == 3 * 49_152)
        for (index, path) in paths.enumerated() {
            let png = directory.appendingPathComponent("\(index).png").path
            #expect(try CLI.edgedetr(["detect", "--model", model, "--threshold", "0.05", "--top-k", "3", "--draw", png, path]).status == 0)
            let alone = try decodeImage([UInt8](try Data(contentsOf: URL(fileURLWithPath: png))))
            #expect(Array(frames[(index * 49_152)..<((index + 1) * 49_152)]) == alone.pixels, "frame \(index)")
        }
        let toStandardOutput = directory.appendingPathComponent("stdout.rgb").path
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "\"$0\" \"$@\" > '\(toStandardOutput)' 2> /dev/null", try CLI.executable.path]
            + arguments + ["--draw", "-", file]
        try shell.run()
        shell.waitUntilExit()
        let written = try Data(contentsOf: URL(fileURLWithPath: toStandardOutput))
        #expect(shell.terminationStatus == 0 && written == Data(frames))
    }

    /// `--y4m`: a Y4M stream (4:4:4, full range, written here from the pictures by the BT.601 inverse)
    /// runs every frame, and each frame's best detection is the picture's.
    @Test func y4mStreamsRunTheirFrames() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (paths, _, bytes) = try Self.stream(count: 4, in: directory)
        var y4m = Array("YUV4MPEG2 W128 H128 F25:1 Ip A1:1 C444 XCOLORRANGE=FULL\n".utf8)
        for frame in 0..<4 {
            var y: [UInt8] = [], u: [UInt8] = [], v: [UInt8] = []
            for pixel in 0..<(128 * 128) {
                let offset = (frame * 128 * 128 + pixel) * 3
                let r = Float(bytes[offset]), g = Float(bytes[offset + 1]), b = Float(bytes[offset + 2])
                let luma = 0.299 * r + 0.587 * g + 0.114 * b
                y.append(UInt8(min(max(luma.rounded(), 0), 255)))
                u.append(UInt8(min(max(((b - luma) / 1.772 + 128).rounded(), 0), 255)))
                v.append(UInt8(min(max(((r - luma) / 1.402 + 128).rounded(), 0), 255)))
            }
            y4m += Array("FRAME\n".utf8) + y + u + v
        }
        let file = directory.appendingPathComponent("frames.y4m").path
        try Data(y4m).write(to: URL(fileURLWithPath: file))
        let stream = try CLI.edgedetr(["detect", "--model", model, "--threshold", "0", "--top-k", "1", "--y4m", file])
        #expect(stream.status == 0 && stream.standardError.hasPrefix("stream: 4 frames"), "\(stream.standardError)")
        let lines = stream.standardOutput.split(separator: "\n")
        #expect(lines.count == 4)
        for (index, path) in paths.enumerated() where index < lines.count {
            let alone = try CLI.edgedetr(["detect", "--model", model, "--threshold", "0", "--top-k", "1", path]).standardOutput
            #expect(lines[index].split(separator: "\t")[1] == alone.split(separator: "\t")[1], "frame \(index)")
        }
        let both = try CLI.edgedetr(["detect", "--model", model, "--y4m", "--raw", "8x8", file])
        #expect(both.status == 64 && both.standardError.hasPrefix("Error: --y4m streams say their frame size"))
        try Data("P6 not y4m\n".utf8).write(to: URL(fileURLWithPath: file))
        CLI.expectOneLineError(try CLI.edgedetr(["detect", "--model", model, "--y4m", file]),
                               contains: "Y4M header: not a YUV4MPEG2 stream")
    }

    /// `--stall-timeout`: a writer that goes quiet after one frame ends the stream with one line naming
    /// the frame, after the frame that came ran.
    @Test func stalledInputIsNamed() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (_, file, _) = try Self.stream(count: 1, in: directory)
        let stalled = try Self.bash("(cat \"$1\"; sleep 4) | \"$0\" detect --model \"$2\" --threshold 0 --top-k 1 --raw 128x128 "
                                    + "--stall-timeout 1 -", arguments: [try CLI.executable.path, file, model])
        #expect(stalled.status == 1 && stalled.standardOutput.hasPrefix("frame 0\t"))
        #expect(stalled.standardError.contains("Error: -: frame 1: no data for 1.0 s after 0 of its 49152 bytes (the input stalled"),
                "\(stalled.standardError)")
        let misplaced = try CLI.edgedetr(["detect", "--model", model, "--stall-timeout", "1", file])
        #expect(misplaced.status == 64 && misplaced.standardError.hasPrefix("Error: --stall-timeout works on a stream"))
    }

    @Test func grayFramesAreTheirRGBReplicas() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (_, _, bytes) = try Self.stream(count: 3, in: directory)
        let gray = stride(from: 0, to: bytes.count, by: 3).map { bytes[$0 + 1] }
        let grayFile = directory.appendingPathComponent("gray.raw").path, rgbFile = directory.appendingPathComponent("rgb.raw").path
        try Data(gray).write(to: URL(fileURLWithPath: grayFile))
        try Data(gray.flatMap { [$0, $0, $0] }).write(to: URL(fileURLWithPath: rgbFile))
        let arguments = ["detect", "--model", model, "--threshold", "0", "--top-k", "3", "--raw", "128x128", "--jsonl"]
        let fromGray = try CLI.edgedetr(arguments + ["--pixel-format", "gray", grayFile])
        let fromRGB = try CLI.edgedetr(arguments + [rgbFile])
        #expect(fromGray.status == 0 && fromGray.standardOutput == fromRGB.standardOutput && !fromRGB.standardOutput.isEmpty)
    }

    @Test func brokenStreamsAndFlagsGiveOneLine() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (_, file, bytes) = try Self.stream(count: 3, in: directory)
        // Two frames and 1000 bytes of the third: the two run, then one line names frame and byte counts.
        let short = directory.appendingPathComponent("short.rgb").path
        try Data(bytes.prefix(2 * 49_152 + 1000)).write(to: URL(fileURLWithPath: short))
        let broken = try CLI.edgedetr(["detect", "--model", model, "--threshold", "0", "--top-k", "1", "--raw", "128x128", short])
        #expect(broken.status == 1 && broken.standardOutput.split(separator: "\n").count == 2)
        #expect(broken.standardError.contains("Error: \(short): frame 2: the stream ended after 1000 of its 49152 bytes"))
        // A frame size that does not divide the stream is the same error at the first frame that breaks.
        CLI.expectOneLineError(try CLI.edgedetr(["detect", "--model", model, "--raw", "100x100", file]).droppingReport,
                               contains: "of its 30000 bytes")
        for (flags, message) in [(["--raw", "128"], "--raw must be WIDTHxHEIGHT"), (["--raw", "0x10"], "--raw must be WIDTHxHEIGHT"),
                                 (["--raw", "99999x2"], "--raw must be WIDTHxHEIGHT"),
                                 (["--raw", "8x8", "--pixel-format", "yuv420p"], "--pixel-format must be rgb24 or gray"),
                                 (["--jsonl"], "--jsonl works on a stream's frames; it needs --raw"), (["--drop-late"], "--drop-late works on a stream's frames; it needs --raw"),
                                 (["--raw", "8x8", "--json", "x.json"], "--json writes images' results; on a stream use --jsonl"), (["--raw", "8x8", "--draw", "-", "--jsonl"], "--draw - writes the frames to standard output")] {
            // Usage errors: ArgumentParser's status 64, the message, then the usage lines.
            let usage = try CLI.edgedetr(["detect", "--model", model] + flags + [file])
            #expect(usage.status == 64 && usage.standardError.hasPrefix("Error: \(message)"), "\(flags): \(usage.standardError)")
        }
        let twoStreams = try CLI.edgedetr(["detect", "--model", model, "--raw", "8x8", file, file])
        #expect(twoStreams.status == 64 && twoStreams.standardError.hasPrefix("Error: --raw takes one stream, got 2 inputs"))
        CLI.expectOneLineError(try CLI.edgedetr(["detect", "--model", CLI.fixture, "--raw", "8x8", file]), contains: "a checkpoint folder")
        CLI.expectOneLineError(try CLI.edgedetr(["detect", "--model", model, "--raw", "8x8", "/nonexistent/stream"]), contains: "cannot open")
    }

    /// A reader that goes away (closes the pipe) ends the stream with status 0 and the count of frames
    /// written, not a SIGPIPE death.
    @Test func closedOutputEndsTheStreamCleanly() throws {
        let directory = try CLI.temporaryDirectory()
        let model = try Self.model(in: directory)
        let (_, _, bytes) = try Self.stream(count: 1, in: directory)
        let long = directory.appendingPathComponent("long.rgb").path
        try Data(Array([[UInt8]](repeating: bytes, count: 200).joined())).write(to: URL(fileURLWithPath: long))
        let shell = "\(try CLI.executable.path) detect --model \(model) --threshold 0 --top-k 5 --raw 128x128 --jsonl \(long) | head -n 1; "
            + "exit ${PIPESTATUS[0]}"
        let closed = try StreamCommandTests.bash(shell)
        #expect(closed.status == 0, "\(closed.standardError)")
        #expect(closed.standardOutput.split(separator: "\n").count == 1)
        #expect(closed.standardError.contains("output closed by its reader") && !closed.standardError.contains("200 frames"))
    }

    /// Runs `script` with bash (`$0`, `$1`... from `arguments`) and collects its status and output.
    static func bash(_ script: String, arguments: [String] = []) throws -> DetectCommandTests.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script] + arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let standardOutput = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let standardError = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return DetectCommandTests.Result(status: process.terminationStatus, standardOutput: standardOutput,
                                         standardError: standardError)
    }
}

extension DetectCommandTests.Result {
    /// The result without the stream report line on stderr (a broken stream reports, then errs).
    var droppingReport: Self {
        var copy = self
        copy.standardError = standardError.split(separator: "\n").filter { !$0.hasPrefix("stream: ") }.joined(separator: "\n")
        return copy
    }
}

/// `edgedetr detect` on folders and several files: folders stand for their images, sorted by name;
/// a file that cannot be read or run is reported and the others still run (exit status 1), unless
/// `--stop-on-error`. (Targets/test-arm64.sh runs `edgedetr-run` on the same kind of batch and
/// requires the host's output and errors byte for byte.)
@Suite struct BatchCommandTests {
    typealias CLI = DetectCommandTests

    @Test func foldersExpandAndBadFilesDoNotStopTheBatch() throws {
        let directory = try CLI.temporaryDirectory()
        let folder = directory.appendingPathComponent("frames")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pictures = try FileManager.default.contentsOfDirectory(atPath: StreamCommandTests.frames.path).filter { $0.hasSuffix(".png") }
            .sorted().prefix(3)
        for name in pictures {
            try FileManager.default.copyItem(at: StreamCommandTests.frames.appendingPathComponent(name),
                                             to: folder.appendingPathComponent(name.uppercased()))
        }
        try Data("not an image".utf8).write(to: folder.appendingPathComponent("broken.jpg"))
        try Data("notes".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        try Data().write(to: folder.appendingPathComponent(".hidden.png"))
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let model = try StreamCommandTests.model(in: directory)
        let arguments = ["detect", "--model", model, "--threshold", "0", "--top-k", "2"]

        let batch = try CLI.edgedetr(arguments + [folder.path, empty.path, CLI.image])
        #expect(batch.status == 1)
        let images = batch.standardOutput.split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
        let expectedOrder = pictures.map { folder.appendingPathComponent($0.uppercased()).path } + [CLI.image]
        #expect(images == expectedOrder.flatMap { [$0, $0] })
        let errors = batch.standardError.split(separator: "\n").map(String.init)
        #expect(errors == ["Error: \(empty.path): no images in the folder (png, jpg, jpeg, ppm, pgm)",
                           "Error: \(folder.path)/broken.jpg: not a PNG, PPM or JPEG file (starts with bytes 6e 6f 74 20)"])
        // Each image's lines are those it gives alone.
        let alone = try CLI.edgedetr(arguments + [expectedOrder[1]])
        #expect(batch.standardOutput.contains(alone.standardOutput) && alone.standardOutput.split(separator: "\n").count == 2)

        let stopped = try CLI.edgedetr(arguments + ["--stop-on-error", folder.path, CLI.image])
        #expect(stopped.status == 1 && stopped.standardOutput.isEmpty == false)
        #expect(!stopped.standardOutput.contains(CLI.image) && stopped.standardError.contains("broken.jpg"))
    }
}
