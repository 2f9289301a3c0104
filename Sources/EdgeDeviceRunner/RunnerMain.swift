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

/// Loads the model, decodes the image, then detects (RunnerModel.swift).
private func run(_ options: RunnerOptions) -> Int32 {
    let detector: Detector
    do throws(RunnerModelError) {
        detector = try loadDetector(at: options.modelPath, threads: options.threads)
    } catch {
        printError("Error: \(error.message)")
        return RunnerExitCode.unusableModel
    }
    if let size = options.rawSize {
        return runStream(detector, width: size.width, height: size.height, options: options)
    }
    guard let bytes = readWholeFile(options.imagePath) else {
        printError("Error: \(options.imagePath): cannot read file")
        return RunnerExitCode.failure
    }
    let image: RGBImage
    do throws(ImageError) {
        image = try decodeImage(bytes)
    } catch {
        printError("Error: \(options.imagePath): \(error.description)")
        return RunnerExitCode.failure
    }
    return runModel(detector, on: image, imageBytes: bytes, options: options)
}

/// `--raw`: every frame of the stream through `FrameStream` (the loop `edgedetr detect --raw` runs),
/// then its report on stderr. A stream that breaks inside a frame exits 1 after the frames before it.
private func runStream(_ detector: Detector, width: Int, height: Int, options: RunnerOptions) -> Int32 {
    let path = options.imagePath
    let descriptor = path == "-" ? Int32(0) : edgedetr_open_read_only(path)
    guard descriptor >= 0 else {
        printError("Error: \(path): cannot open (errno \(edgedetr_errno()))")
        return RunnerExitCode.failure
    }
    defer { if descriptor != 0 { close(descriptor) } }
    var reader: RawFrameReader
    do throws(ImageError) {
        reader = try RawFrameReader(fileDescriptor: descriptor, width: width, height: height, format: options.pixelFormat)
    } catch {
        printError("Error: --raw \(width)x\(height): \(error.description)")
        return RunnerExitCode.usage
    }
    let stream = FrameStream(detector: detector, topK: options.topK, threshold: options.threshold,
                             output: options.jsonLines ? .jsonLines : .text)
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
