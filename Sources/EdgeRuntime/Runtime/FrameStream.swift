import CLibc

/// The detection loop over a raw video stream, shared by `edgedetr detect --raw` and `edgedetr-run
/// --raw`: read a frame, detect, write its detections and flush, so that the process reading them sees
/// each frame as soon as it is done. Memory does not grow with the stream: one frame buffer, the
/// detector's arena, and running sums for the report.
public struct FrameStream {
    /// How each frame's detections are written.
    public enum Output: Sendable {
        /// `frame N<TAB>label<TAB>score<TAB>x0 y0 x1 y1`, one line per detection (`detectionLine`).
        case text
        /// One JSON Lines record per frame, detections or not (`frameJSONLine`).
        case jsonLines
        /// Nothing (the drawn frames take standard output: `--draw -`).
        case none
    }

    /// How a stream ended and what it cost, per stage.
    public struct Summary: Sendable {
        /// Frames run (with `dropLate`, not counting the dropped ones).
        public var frames = 0
        /// Seconds from the first read to the last write.
        public var seconds = 0.0
        /// Sums over the frames, in seconds.
        public var read = 0.0, preprocess = 0.0, inference = 0.0, postprocess = 0.0, write = 0.0
        /// The stream broke inside a frame or could not be read (the frames before it were run).
        public var streamError: StreamError?
        /// A frame the detector refused (its message), which stops the stream.
        public var detectorError: String?
        /// The output was closed by its reader (EPIPE): the stream stopped there, cleanly.
        public var outputClosed = false
        /// Frames skipped by `--drop-late` because a newer one arrived while the detector was busy.
        public var dropped = 0
        /// Whether late frames were dropped (`dropLate`), for the report.
        public var droppingLate = false
        /// The process's peak resident set when the stream ended, KiB: the same for 10 frames as for
        /// 1000 (nothing grows with the stream).
        public var peakResidentKiB = 0

        public init() {}

        /// Counts one frame run with these stage times.
        mutating func add(read seconds: Double, stages: DetectorStageTimes, write writeSeconds: Double) {
            frames += 1
            read += seconds
            preprocess += stages.preprocess
            inference += stages.inference
            postprocess += stages.postprocess
            write += writeSeconds
        }

        /// One line for standard error: frames, frames per second and the mean time of each stage.
        public var report: String {
            func milliseconds(_ total: Double) -> String {
                printfFixed(Float(frames > 0 ? 1000 * total / Double(frames) : 0), decimals: 2)
            }
            let rate = seconds > 0 ? Float(Double(frames) / seconds) : 0
            return "stream: \(frames) frames in \(printfFixed(Float(seconds), decimals: 3)) s, "
                + "\(printfFixed(rate, decimals: 1)) frames/s; mean ms per frame: read \(milliseconds(read)), "
                + "preprocess \(milliseconds(preprocess)), inference \(milliseconds(inference)), "
                + "postprocess \(milliseconds(postprocess)), write \(milliseconds(write)); peak RSS \(peakResidentKiB) KiB"
                + (droppingLate ? "; dropped \(dropped) late frames" : "")
                + (outputClosed ? "; output closed by its reader" : "")
        }
    }

    public let detector: Detector
    public var topK: Int?
    public var threshold: Float
    public var output: Output
    /// Read on a thread of its own and run only the newest frame, dropping those that arrived while
    /// the detector was busy (`LatestFrameReader`); frames keep their stream index in the output.
    public var dropLate: Bool
    /// `--draw`: each frame that runs, with its detections drawn (`drawDetections`), written as raw
    /// rgb24 to this file descriptor (a file, a FIFO, ffmpeg's standard input), in the input's size.
    public var drawDescriptor: Int32?

    public init(detector: Detector, topK: Int?, threshold: Float, output: Output, dropLate: Bool = false,
                drawDescriptor: Int32? = nil) {
        self.detector = detector
        self.topK = topK
        self.threshold = threshold
        self.output = output
        self.dropLate = dropLate
        self.drawDescriptor = drawDescriptor
    }

    /// Runs every frame of `reader` and writes the results to standard output. Stops at the end of
    /// the stream, a broken frame, a frame the detector refuses, or a closed output (SIGPIPE is
    /// ignored for the process: a write to a closed pipe then fails instead of killing it).
    public func run(_ reader: inout RawFrameReader) -> Summary {
        edgedetr_ignore_broken_pipe()
        if dropLate { return runDroppingLate(reader) }
        var summary = Summary()
        var image = RGBImage(validatedWidth: 0, height: 0, pixels: [])
        let start = monotonicSeconds()
        while true {
            let before = monotonicSeconds()
            do throws(StreamError) {
                guard try reader.next(into: &image) else { break }
            } catch {
                summary.streamError = error
                break
            }
            let frame = summary.frames
            guard process(&image, frame: frame, read: monotonicSeconds() - before, into: &summary) else { break }
        }
        summary.seconds = monotonicSeconds() - start
        summary.peakResidentKiB = peakResidentKiB()
        return summary
    }

    /// `dropLate`: the same loop over the newest frames a reader thread hands over.
    private func runDroppingLate(_ reader: RawFrameReader) -> Summary {
        var summary = Summary()
        summary.droppingLate = true
        let latest = LatestFrameReader(reader)
        let start = monotonicSeconds()
        latest.start()
        while true {
            let before = monotonicSeconds()
            guard let slot = latest.next() else { break }
            guard process(&slot.image, frame: slot.frame, read: monotonicSeconds() - before, into: &summary) else { break }
        }
        latest.stop()
        let state = latest.state
        summary.dropped = state.dropped
        summary.streamError = state.error
        summary.seconds = monotonicSeconds() - start
        summary.peakResidentKiB = peakResidentKiB()
        return summary
    }

    /// Detects frame `frame` (index `frame` in the stream), writes its results (and its drawing) and
    /// counts it, `read` the seconds spent waiting for it; false when the stream must stop there (the
    /// detector refused the frame, or the output is closed), with the reason in `summary`.
    private func process(_ image: inout RGBImage, frame: Int, read: Double, into summary: inout Summary) -> Bool {
        let detections: [Detection]
        do throws(DetectorError) {
            detections = try detector.detect(image, topK: topK, threshold: threshold)
        } catch {
            summary.detectorError = "frame \(frame): \(error.description)"
            return false
        }
        let detected = monotonicSeconds()
        let written = write(detections, frame: frame) && draw(detections, on: &image)
        summary.add(read: read, stages: detector.lastStageTimes, write: monotonicSeconds() - detected)
        if !written { summary.outputClosed = true }
        return written
    }

    /// With `drawDescriptor`: draws the detections on the frame and writes its pixels; false when the
    /// write fails (the reader went away).
    private func draw(_ detections: [Detection], on image: inout RGBImage) -> Bool {
        guard let drawDescriptor else { return true }
        drawDetections(detections, on: &image) { detector.labelName($0) }
        return image.pixels.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = CLibc.write(drawDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && edgedetr_errno() == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
    }

    /// Writes one frame's detections and flushes; false when standard output is closed or failing.
    private func write(_ detections: [Detection], frame: Int) -> Bool {
        var text = ""
        switch output {
        case .none:
            return true
        case .jsonLines:
            text = frameJSONLine(frame: frame, detections: detections) { detector.labelName($0) } + "\n"
        case .text:
            for detection in detections {
                text += detectionLine(imagePath: "frame \(frame)", label: detector.labelName(detection.label), detection) + "\n"
            }
        }
        return writeToStandardOutput(text)
    }
}

/// Writes `text` to standard output through stdio's buffer and flushes it; false when the write fails
/// (a closed pipe, a full disk).
public func writeToStandardOutput(_ text: String) -> Bool {
    var text = text
    let written = text.withUTF8 { bytes -> Bool in
        bytes.isEmpty || fwrite(bytes.baseAddress!, 1, bytes.count, edgedetr_stdout()) == bytes.count
    }
    return written && fflush(edgedetr_stdout()) == 0
}

/// The process's peak resident set so far, in KiB (Linux reports ru_maxrss in KiB).
public func peakResidentKiB() -> Int {
    var usage = rusage()
    // 0 is RUSAGE_SELF (its C enum type differs between glibc's headers and __rusage_who_t).
    guard getrusage(0, &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss)
}

/// A stream's input: standard input for `-`, else the path opened for reading (a file or a FIFO), or
/// the reason it cannot be.
public func openStreamInput(_ path: String) -> (descriptor: Int32, problem: String?) {
    if path == "-" { return (0, nil) }
    let descriptor = edgedetr_open_read_only(path)
    guard descriptor >= 0 else { return (-1, "\(path): cannot open (errno \(edgedetr_errno()))") }
    return (descriptor, nil)
}

/// `--draw` on a stream: a file descriptor for the drawn frames (standard output for `-`, else the
/// path opened for writing: a file, created or truncated, or a FIFO), or the reason it cannot be.
public func openDrawnFrames(_ path: String) -> (descriptor: Int32, problem: String?) {
    if path == "-" { return (1, nil) }
    let descriptor = edgedetr_open_for_writing(path)
    guard descriptor >= 0 else { return (-1, "\(path): cannot open for writing (errno \(edgedetr_errno()))") }
    return (descriptor, nil)
}
