/// Nearest-neighbour upsampling of an HWC map by an integer factor, as PyTorch's
/// `interpolate(scale_factor=factor, mode="nearest")`: output pixel (y, x) is input pixel
/// (y / factor, x / factor). RT-DETR's hybrid encoder doubles its top feature map this way before
/// fusing it with the next level.
///
/// Elements are copied, never computed, so one implementation serves every element type:
/// `elementSize` bytes each (4 for float32, 1 for int8). Each input pixel's channel vector is
/// copied `factor` times along its output row, then that row is copied `factor - 1` times below
/// itself; both copies are `memcpy`s of whole vectors and rows.
public func upsampleNearest(input: UnsafeRawPointer, height: Int, width: Int, channels: Int, elementSize: Int, factor: Int,
                            output: UnsafeMutableRawPointer) {
    if height <= 0 || width <= 0 || channels <= 0 || elementSize <= 0 || factor <= 0 { return }
    let pixelBytes = channels * elementSize
    let outputRowBytes = width * factor * pixelBytes
    for y in 0..<height {
        let source = input + y * width * pixelBytes
        let firstRow = output + y * factor * outputRowBytes
        var target = firstRow
        for x in 0..<width {
            for _ in 0..<factor {
                target.copyMemory(from: source + x * pixelBytes, byteCount: pixelBytes)
                target += pixelBytes
            }
        }
        for repeatRow in 1..<factor {
            (firstRow + repeatRow * outputRowBytes).copyMemory(from: firstRow, byteCount: outputRowBytes)
        }
    }
}

/// The definition, element by element: `upsampleNearest`'s reference.
public func upsampleNearestReference(input: UnsafeRawPointer, height: Int, width: Int, channels: Int, elementSize: Int,
                                     factor: Int, output: UnsafeMutableRawPointer) {
    if height <= 0 || width <= 0 || channels <= 0 || elementSize <= 0 || factor <= 0 { return }
    let outputWidth = width * factor
    for outputY in 0..<(height * factor) {
        for outputX in 0..<outputWidth {
            for channel in 0..<channels {
                let from = ((outputY / factor) * width + outputX / factor) * channels + channel
                let to = (outputY * outputWidth + outputX) * channels + channel
                for byte in 0..<elementSize {
                    output.storeBytes(of: input.load(fromByteOffset: from * elementSize + byte, as: UInt8.self),
                                      toByteOffset: to * elementSize + byte, as: UInt8.self)
                }
            }
        }
    }
}
