/// Pads an HWC map with `fill` on each side (PyTorch `F.pad(x, (left, right, top, bottom))` with a
/// constant: HGNetV2's stem pads one column on the right and one row at the bottom before its 2x2
/// convolution and pooling). Elements are copied as bytes, so one kernel serves float32 maps (fill 0.0,
/// whose bytes are zeros) and int8 maps (fill = the zero point, the code of 0.0).
public func pad2d(input: UnsafeRawPointer, height: Int, width: Int, channels: Int, elementSize: Int,
                  top: Int, left: Int, bottom: Int, right: Int, fill: UInt8, output: UnsafeMutableRawPointer) {
    guard height >= 0, width >= 0, channels > 0, elementSize > 0, min(top, left, bottom, right) >= 0 else { return }
    let outputWidth = left + width + right
    let pixelBytes = channels * elementSize
    let outputRowBytes = outputWidth * pixelBytes
    output.initializeMemory(as: UInt8.self, repeating: fill, count: (top + height + bottom) * outputRowBytes)
    for y in 0..<height {
        (output + (top + y) * outputRowBytes + left * pixelBytes)
            .copyMemory(from: input + y * width * pixelBytes, byteCount: width * pixelBytes)
    }
}

/// `pad2d`'s definition, one element at a time.
public func pad2dReference(input: UnsafeRawPointer, height: Int, width: Int, channels: Int, elementSize: Int,
                           top: Int, left: Int, bottom: Int, right: Int, fill: UInt8, output: UnsafeMutableRawPointer) {
    guard height >= 0, width >= 0, channels > 0, elementSize > 0, min(top, left, bottom, right) >= 0 else { return }
    let outputWidth = left + width + right
    for y in 0..<(top + height + bottom) {
        for x in 0..<outputWidth {
            let inside = (top..<(top + height)).contains(y) && (left..<(left + width)).contains(x)
            for byte in 0..<(channels * elementSize) {
                let destination = (y * outputWidth + x) * channels * elementSize + byte
                output.storeBytes(of: inside ? input.load(fromByteOffset: ((y - top) * width + x - left) * channels * elementSize + byte,
                                                          as: UInt8.self) : fill,
                                  toByteOffset: destination, as: UInt8.self)
            }
        }
    }
}
