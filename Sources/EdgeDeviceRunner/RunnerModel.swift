import EdgeRuntime

// ============================================================================================
// THE MODEL PLUG-IN POINT.
//
// This is the one place where the int8 model file gets loaded and run. When the model file
// reader lands (Sources/EdgeRuntime/ModelFile/), replace the body of `runModel` with:
//   1. load + validate the file at `path` (its typed error -> `Error: <path>: <description>`, exit 1);
//   2. build a ThreadPool(threadCount: options.threads);
//   3. preprocess `image`, execute, post-process to detections;
//   4. with `options.benchmarkRuns`, time the execution: report.append(measure("inference", runs: n) {...});
//   5. print one line per detection (text), or the COCO-style JSON array with `options.json`.
// Until then it refuses every model file: no detections are ever made up.
// ============================================================================================

/// Loads the model at `path`, runs it on `image` and prints the detections; returns the exit status.
func runModel(at path: String, on image: RGBImage, options: RunnerOptions, report: inout BenchmarkReport) -> Int32 {
    printError("Error: \(path): model files are not supported yet")
    return RunnerExitCode.modelUnsupported
}
