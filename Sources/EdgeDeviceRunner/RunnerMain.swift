import CLibc
import EdgeRuntime

// edgedetr-run: the device runner. An image goes through it in one direction:
// arguments -> model file (Detector: map, validate, pack, plan) -> image file -> decodeImage ->
// detect -> detections printed as `edgedetr detect` prints them -> (--bench: timings, memory,
// kernel paths). The model is loaded before the image is read, as the host CLI does, so the same
// bad input gets the same first error. Errors are one line on stderr in the host CLI's words
// (`Error: <path>: <problem>`), so a script sees the same message on a Pi as on the workstation.

@_cdecl("main")
func edgeDeviceRunnerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let options: RunnerOptions
    do throws(RunnerUsageError) {
        guard let parsed = try RunnerOptions(parsing: commandLineArguments(argc, argv)) else {
            print(RunnerOptions.help)
            return 0
        }
        options = parsed
    } catch {
        printError("Error: \(error.description)")
        printError(RunnerOptions.usage)
        return RunnerExitCode.usage
    }
    return run(options)
}

/// The exit statuses. 64 is ArgumentParser's for usage errors, as the host's; the host exits 1 on
/// every other error, the runner tells an unusable model (2) from a bad image (1).
enum RunnerExitCode {
    static let success: Int32 = 0
    /// The image could not be read, decoded or run.
    static let failure: Int32 = 1
    /// The model file is missing, a folder, or refused by the reader (RunnerModel.swift).
    static let unusableModel: Int32 = 2
    static let usage: Int32 = 64
}

/// Loads the model, then decodes and detects each image (or runs the stream).
private func run(_ options: RunnerOptions) -> Int32 {
    let detector: Detector
    do throws(RunnerModelError) {
        detector = try loadDetector(at: options.modelPath, threads: options.threads)
    } catch {
        printError("Error: \(error.message)")
        return RunnerExitCode.unusableModel
    }
    if options.isStream { return runStream(detector, options: options) }
    let (files, problems) = ImageInputs.expand(options.imagePaths)
    if options.benchmarkRuns != nil && (files.count != 1 || !problems.isEmpty) {
        printError("Error: --bench times one image, got \(files.count)")
        return RunnerExitCode.usage
    }
    var failures = 0
    for problem in problems {
        printError("Error: \(problem)")
        failures += 1
        if options.stopOnError { return RunnerExitCode.failure }
    }
    var results: [(imageID: Int, fileName: String, detection: Detection)] = []
    var ran = 0
    var benchmarked: (image: RGBImage, bytes: [UInt8])?
    for (index, path) in files.enumerated() {
        guard let bytes = readWholeFile(path) else {
            printError("Error: \(path): cannot read file")
            failures += 1
            if options.stopOnError { break } else { continue }
        }
        let image: RGBImage
        let detections: [Detection]
        do throws(ImageError) {
            image = try decodeImage(bytes)
        } catch {
            printError("Error: \(path): \(error.description)")
            failures += 1
            if options.stopOnError { break } else { continue }
        }
        do throws(DetectorError) {
            detections = try detector.detect(image, topK: options.topK, threshold: options.threshold)
        } catch {
            printError("Error: \(path): \(error.description)")
            failures += 1
            if options.stopOnError { break } else { continue }
        }
        ran += 1
        if options.json {
            results += detections.map { (imageID: index + 1, fileName: path, detection: $0) }
        } else {
            for detection in detections {
                print(detectionLine(imagePath: path, label: detector.labelName(detection.label), detection))
            }
        }
        if options.benchmarkRuns != nil { benchmarked = (image, bytes) }
    }
    // The COCO array of every image that ran, once (as `edgedetr detect --json` writes one file).
    if options.json && ran > 0 { print(cocoResultsJSON(results)) }
    if let runs = options.benchmarkRuns, let benchmarked {
        benchmark(detector, on: benchmarked.image, imageBytes: benchmarked.bytes, runs: runs, options: options)
    }
    return failures > 0 ? RunnerExitCode.failure : RunnerExitCode.success
}

/// `--raw` or `--y4m`: every frame of the stream through `FrameStream` (the loop `edgedetr detect` runs),
/// then its report on stderr. A stream that breaks inside a frame exits 1 after the frames before it.
private func runStream(_ detector: Detector, options: RunnerOptions) -> Int32 {
    let path = options.imagePath
    let opened = openStreamInput(path)
    if let problem = opened.problem {
        printError("Error: \(problem)")
        return RunnerExitCode.failure
    }
    let descriptor = opened.descriptor
    defer { if descriptor != 0 { close(descriptor) } }
    var reader: RawFrameReader
    if let size = options.rawSize {
        do throws(ImageError) {
            reader = try RawFrameReader(fileDescriptor: descriptor, width: size.width, height: size.height, format: options.pixelFormat)
            reader.stallTimeout = options.stallTimeout
        } catch {
            printError("Error: --raw \(size.width)x\(size.height): \(error.description)")
            return RunnerExitCode.usage
        }
    } else {
        do throws(StreamError) {
            reader = try RawFrameReader.y4m(fileDescriptor: descriptor, stallTimeout: options.stallTimeout)
        } catch {
            printError("Error: \(path): \(error.description)")
            return RunnerExitCode.failure
        }
    }
    var drawDescriptor: Int32?
    if let drawPath = options.drawPath {
        let opened = openDrawnFrames(drawPath)
        if let problem = opened.problem {
            printError("Error: \(problem)")
            return RunnerExitCode.failure
        }
        drawDescriptor = opened.descriptor
    }
    defer { if let drawDescriptor, drawDescriptor != 1 { close(drawDescriptor) } }
    let output: FrameStream.Output = options.drawPath == "-" ? .none : options.jsonLines ? .jsonLines : .text
    let stream = FrameStream(detector: detector, topK: options.topK, threshold: options.threshold, output: output,
                             dropLate: options.dropLate, drawDescriptor: drawDescriptor)
    let summary = stream.run(&reader)
    printError(summary.report)
    if let error = summary.streamError {
        printError("Error: \(path): \(error.description) (\(summary.frames) frames run)")
        return RunnerExitCode.failure
    }
    if let message = summary.detectorError {
        printError("Error: \(path): \(message)")
        return RunnerExitCode.failure
    }
    return RunnerExitCode.success
}
