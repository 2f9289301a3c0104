import CLibc
import EdgeRuntime
import Kernels

// The model side of the runner: the model file becomes EdgeRuntime's `Detector` (mapped, validated,
// weights packed for this CPU, arena allocated once), which turns a decoded image into detections.
// Errors read as the host CLI's (`Error: <model>: <what is wrong>`), so a bad file is reported
// identically on the workstation and on the board.

/// A model that could not be loaded: the one-line message (without "Error: ").
struct RunnerModelError: Error {
    var message: String
}

/// Loads the model file at `path` for `threads` worker threads.
func loadDetector(at path: String, threads: Int) throws(RunnerModelError) -> Detector {
    var status = stat()
    // The host checks existence first, with these words (Sources/edgedetr/DetectCommand.swift).
    guard stat(path, &status) == 0 else { throw RunnerModelError(message: "\(path): no such file or folder") }
    if status.st_mode & mode_t(S_IFMT) == mode_t(S_IFDIR) {
        // The host runs a checkpoint folder on its float engine; the board has only the runtime.
        throw RunnerModelError(message: "\(path): a checkpoint folder; edgedetr-run needs a model file "
            + "(edgedetr quantize --model \(path) --calib <images> -o model.edq)")
    }
    do {
        return try Detector(path: path, threads: threads)
    } catch {
        throw RunnerModelError(message: "\(path): \(error.description)")
    }
}

/// `--bench`: times decode and inference of one image `runs` times after a warm-up, and prints the
/// report (timings, memory, kernel paths), as text or JSON.
func benchmark(_ detector: Detector, on image: RGBImage, imageBytes: [UInt8], runs: Int, options: RunnerOptions) {
    var report = BenchmarkReport(threads: options.threads)
    report.append(measure("decode", runs: runs) {
        do throws(ImageError) { _ = try decodeImage(imageBytes) } catch {}
    })
    report.append(measure("inference", runs: runs) {
        do throws(DetectorError) {
            _ = try detector.detect(image, topK: options.topK, threshold: options.threshold)
        } catch {}
    })
    report.int8GEMMPath = int8GEMMPath()
    report.floatGEMMPath = floatGEMMPath(KernelDispatch.current)
    report.modelFileBytes = detector.model.file.count
    report.weightBytes = detector.model.constantBytes
    report.workingBytes = detector.workingBytes
    report.inPlaceWeightBytes = detector.executor.inPlaceWeightBytes
    report.repackedWeightBytes = detector.executor.repackedWeightBytes
    report.peakResidentKiB = peakResidentKiB()
    print(options.json ? report.json : report.text)
}
