import CEdgeDETR
import EdgeRuntime

// The C API of Sources/CEdgeDETR/include/edgedetr.h, implemented on `Detector`. libc only, typed
// throws, no existentials: it compiles with Embedded Swift like EdgeRuntime, so a C program on the
// board links the same code (Targets/embedded-check.sh).

/// What an `edgedetr_detector *` points to: the detector and its label names as C strings, made once
/// at open so `edgedetr_label_name` can return pointers that stay valid until close.
final class CDetector {
    let detector: Detector
    let labelIDs: [Int]
    let labelNames: [UnsafeMutablePointer<CChar>]

    init(detector: Detector) {
        self.detector = detector
        labelIDs = detector.metadata.labelIDs
        labelNames = detector.metadata.labelIDs.map { cString(detector.labelName($0)) }
    }

    deinit {
        for name in labelNames { name.deallocate() }
    }
}

/// A NUL-terminated copy of `text` the caller deallocates.
private func cString(_ text: String) -> UnsafeMutablePointer<CChar> {
    let utf8 = Array(text.utf8)
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
    for (index, byte) in utf8.enumerated() { buffer[index] = CChar(bitPattern: byte) }
    buffer[utf8.count] = 0
    return buffer
}

/// Copies `message` into the caller's buffer, truncated and NUL-terminated (nothing when it is NULL
/// or empty).
private func report(_ message: String, _ error: UnsafeMutablePointer<CChar>?, _ size: Int) {
    guard let error, size > 0 else { return }
    var count = 0
    for byte in message.utf8 where count < size - 1 {
        error[count] = CChar(bitPattern: byte)
        count += 1
    }
    error[count] = 0
}

private func box(_ pointer: OpaquePointer?) -> CDetector? {
    guard let pointer else { return nil }
    return Unmanaged<CDetector>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

@_cdecl("edgedetr_open")
public func edgedetrOpen(_ path: UnsafePointer<CChar>?, _ threads: Int32, _ errorBuffer: UnsafeMutablePointer<CChar>?,
                         _ errorSize: Int) -> OpaquePointer? {
    guard let path else {
        report("edgedetr_open: path is NULL", errorBuffer, errorSize)
        return nil
    }
    guard (1...64).contains(threads) else {
        report("edgedetr_open: threads must be from 1 to 64, got \(threads)", errorBuffer, errorSize)
        return nil
    }
    do throws(DetectorError) {
        let detector = try Detector(path: String(cString: path), threads: Int(threads))
        return OpaquePointer(Unmanaged.passRetained(CDetector(detector: detector)).toOpaque())
    } catch {
        report(error.description, errorBuffer, errorSize)
        return nil
    }
}

@_cdecl("edgedetr_detect")
public func edgedetrDetect(_ handle: OpaquePointer?, _ rgb: UnsafePointer<UInt8>?, _ width: Int32, _ height: Int32,
                           _ rowBytes: Int, _ threshold: Float, _ detections: UnsafeMutablePointer<edgedetr_detection>?,
                           _ capacity: Int32, _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int) -> Int32 {
    guard let model = box(handle) else {
        report("edgedetr_detect: detector is NULL", errorBuffer, errorSize)
        return -1
    }
    guard let rgb else {
        report("edgedetr_detect: rgb is NULL", errorBuffer, errorSize)
        return -1
    }
    guard capacity >= 0, capacity == 0 || detections != nil else {
        report("edgedetr_detect: capacity \(capacity) with \(detections == nil ? "no" : "a") detection buffer", errorBuffer, errorSize)
        return -1
    }
    guard width >= 1, height >= 1, Int(width) <= RGBImage.maximumSide, Int(height) <= RGBImage.maximumSide else {
        report("edgedetr_detect: image of \(width)x\(height) pixels (each side 1 to \(RGBImage.maximumSide))", errorBuffer, errorSize)
        return -1
    }
    let rowLength = 3 * Int(width)
    guard rowBytes >= rowLength else {
        report("edgedetr_detect: row_bytes \(rowBytes) is less than 3 x width = \(rowLength)", errorBuffer, errorSize)
        return -1
    }
    guard threshold.isFinite else {
        report("edgedetr_detect: threshold \(threshold) is not finite", errorBuffer, errorSize)
        return -1
    }
    var pixels = [UInt8](repeating: 0, count: rowLength * Int(height))
    for row in 0..<Int(height) {
        let source = rgb + row * rowBytes
        for column in 0..<rowLength { pixels[row * rowLength + column] = source[column] }
    }
    do throws(ImageError) {
        let image = try RGBImage(width: Int(width), height: Int(height), pixels: pixels)
        do throws(DetectorError) {
            let found = try model.detector.detect(image, threshold: threshold)
            let count = min(found.count, Int(capacity))
            for index in 0..<count {
                let detection = found[index]
                detections![index] = edgedetr_detection(
                    label: Int32(detection.label), score: detection.score,
                    x0: detection.x0, y0: detection.y0, x1: detection.x1, y1: detection.y1)
            }
            return Int32(count)
        } catch {
            report(error.description, errorBuffer, errorSize)
            return -1
        }
    } catch {
        report(error.description, errorBuffer, errorSize)
        return -1
    }
}

@_cdecl("edgedetr_label_name")
public func edgedetrLabelName(_ handle: OpaquePointer?, _ label: Int32) -> UnsafePointer<CChar>? {
    guard let model = box(handle) else { return nil }
    for (index, id) in model.labelIDs.enumerated() where id == Int(label) {
        return UnsafePointer(model.labelNames[index])
    }
    return nil
}

@_cdecl("edgedetr_input_width")
public func edgedetrInputWidth(_ handle: OpaquePointer?) -> Int32 {
    box(handle).map { Int32($0.detector.metadata.inputWidth) } ?? 0
}

@_cdecl("edgedetr_input_height")
public func edgedetrInputHeight(_ handle: OpaquePointer?) -> Int32 {
    box(handle).map { Int32($0.detector.metadata.inputHeight) } ?? 0
}

@_cdecl("edgedetr_arena_bytes")
public func edgedetrArenaBytes(_ handle: OpaquePointer?) -> Int {
    box(handle).map { $0.detector.model.plan.size } ?? 0
}

@_cdecl("edgedetr_close")
public func edgedetrClose(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<CDetector>.fromOpaque(UnsafeRawPointer(handle)).release()
}
