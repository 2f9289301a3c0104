import CLibc
import EdgeRuntime

// edgedetr-run: the device runner. An image goes through it in one direction:
// arguments -> image file -> decodeImage -> (benchmark of the decode) -> the model (RunnerModel.swift)
// -> output. Errors are one line on stderr in the host CLI's words (`Error: <path>: <problem>`), so a
// script sees the same message on a Pi as on the workstation.

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

/// The exit statuses, as the host CLI's where they overlap (ArgumentParser: 64 for usage errors).
enum RunnerExitCode {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    /// The model file could not be used (today: every model file, see RunnerModel.swift).
    static let modelUnsupported: Int32 = 2
    static let usage: Int32 = 64
}

/// Decodes the image, times the decode when asked, then hands over to the model.
private func run(_ options: RunnerOptions) -> Int32 {
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
    var report = BenchmarkReport(threads: options.threads)
    if let runs = options.benchmarkRuns {
        report.append(measure("decode", runs: runs) {
            do throws(ImageError) { _ = try decodeImage(bytes) } catch {}
        })
    }
    if !options.json {
        print("image \(options.imagePath) \(image.width)x\(image.height)")
    }
    let status = runModel(at: options.modelPath, on: image, options: options, report: &report)
    if options.benchmarkRuns != nil {
        report.peakResidentKiB = peakResidentKiB()
        print(options.json ? report.json : report.text)
    }
    return status
}
