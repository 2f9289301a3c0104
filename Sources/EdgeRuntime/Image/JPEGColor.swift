/// Chroma upsampling and YCbCr to RGB as libjpeg-turbo performs them for PIL (jdsample.c with
/// `do_fancy_upsampling`, jdcolor.c's `ycc_rgb_convert`), reproduced exactly.

/// One decoded component: its samples at reduced resolution, padded to whole blocks.
struct JPEGPlane {
    var samples: [UInt8]
    /// Row stride of `samples` (whole blocks, so at least `width`).
    var stride: Int
    /// libjpeg's `downsampled_width` and `downsampled_height`: the component's real size.
    var width: Int
    var height: Int
    /// How many output pixels one sample covers across and down (1 or 2).
    var horizontalRatio: Int
    var verticalRatio: Int

    @inline(__always)
    func sample(_ x: Int, _ y: Int) -> Int { Int(samples[y * stride + x]) }
}

/// Expands `plane` to `width` x `height` full-resolution samples.
///
/// libjpeg-turbo uses "fancy" (triangular) upsampling for 2x horizontal and 2x2 when the
/// component is more than 2 samples wide, and for 2x vertical always; otherwise it replicates
/// samples. The row above the first and below the last are the edge rows themselves, and the
/// last column is treated as repeated, just like its context-row buffers.
func upsampleJPEGPlane(_ plane: JPEGPlane, width: Int, height: Int) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: width * height)
    let lastRow = plane.height - 1
    let lastColumn = plane.width - 1
    switch (plane.horizontalRatio, plane.verticalRatio) {
    case (1, 1):
        for y in 0..<height {
            for x in 0..<width { output[y * width + x] = plane.samples[y * plane.stride + x] }
        }
    case (2, 1) where plane.width > 2:
        var row = [UInt8](repeating: 0, count: plane.width * 2)
        for y in 0..<height {
            for column in 0...lastColumn {
                let nearer = plane.sample(column, y) * 3
                let left = column == 0 ? plane.sample(0, y) * 4 : nearer + plane.sample(column - 1, y) + 1
                let right = column == lastColumn ? plane.sample(column, y) * 4 + 2 : nearer + plane.sample(column + 1, y) + 2
                row[column * 2] = UInt8(left >> 2)
                row[column * 2 + 1] = UInt8(right >> 2)
            }
            for x in 0..<width { output[y * width + x] = row[x] }
        }
    case (1, 2):
        for y in 0..<height {
            let nearest = y / 2
            let isUpper = y % 2 == 0
            let neighbor = isUpper ? max(nearest - 1, 0) : min(nearest + 1, lastRow)
            let bias = isUpper ? 1 : 2
            for x in 0..<width {
                output[y * width + x] = UInt8((plane.sample(x, nearest) * 3 + plane.sample(x, neighbor) + bias) >> 2)
            }
        }
    case (2, 2) where plane.width > 2:
        var row = [UInt8](repeating: 0, count: plane.width * 2)
        var columnSums = [Int](repeating: 0, count: plane.width)
        for y in 0..<height {
            let nearest = y / 2
            let neighbor = y % 2 == 0 ? max(nearest - 1, 0) : min(nearest + 1, lastRow)
            for column in 0...lastColumn {
                columnSums[column] = plane.sample(column, nearest) * 3 + plane.sample(column, neighbor)
            }
            for column in 0...lastColumn {
                let this = columnSums[column]
                let left = column == 0 ? this * 4 + 8 : this * 3 + columnSums[column - 1] + 8
                let right = column == lastColumn ? this * 4 + 7 : this * 3 + columnSums[column + 1] + 7
                row[column * 2] = UInt8(left >> 4)
                row[column * 2 + 1] = UInt8(right >> 4)
            }
            for x in 0..<width { output[y * width + x] = row[x] }
        }
    default:
        // Plain replication (h2v1_upsample / h2v2_upsample), used for planes 1 or 2 samples wide.
        for y in 0..<height {
            let sourceRow = y / plane.verticalRatio
            for x in 0..<width {
                output[y * width + x] = plane.samples[sourceRow * plane.stride + x / plane.horizontalRatio]
            }
        }
    }
    return output
}

/// jdcolor.c's fixed-point YCbCr -> RGB tables (16 fraction bits, ITU-R BT.601 full range).
private struct YCbCrTables {
    var redFromCr = [Int](repeating: 0, count: 256)
    var blueFromCb = [Int](repeating: 0, count: 256)
    var greenFromCr = [Int](repeating: 0, count: 256)
    var greenFromCb = [Int](repeating: 0, count: 256)

    init() {
        let scaleBits = 16
        let oneHalf = 1 << (scaleBits - 1)
        // FIX(x) = (x * 2^16 + 0.5) truncated, as libjpeg computes it.
        let fix1_40200 = 91881
        let fix1_77200 = 116130
        let fix0_71414 = 46802
        let fix0_34414 = 22554
        for index in 0..<256 {
            let x = index - 128
            redFromCr[index] = (fix1_40200 * x + oneHalf) >> scaleBits
            blueFromCb[index] = (fix1_77200 * x + oneHalf) >> scaleBits
            greenFromCr[index] = -fix0_71414 * x
            greenFromCb[index] = -fix0_34414 * x + oneHalf
        }
    }
}

private let ycbcrTables = YCbCrTables()

@inline(__always)
private func clampToByte(_ value: Int) -> UInt8 { UInt8(min(max(value, 0), 255)) }

/// Interleaves three full-resolution YCbCr planes into RGB8 as `ycc_rgb_convert` does.
func convertYCbCrToRGB(luma: [UInt8], blueDifference: [UInt8], redDifference: [UInt8]) -> [UInt8] {
    let tables = ycbcrTables
    var rgb = [UInt8](repeating: 0, count: luma.count * 3)
    for index in 0..<luma.count {
        let y = Int(luma[index])
        let cb = Int(blueDifference[index])
        let cr = Int(redDifference[index])
        rgb[index * 3] = clampToByte(y + tables.redFromCr[cr])
        rgb[index * 3 + 1] = clampToByte(y + ((tables.greenFromCb[cb] + tables.greenFromCr[cr]) >> 16))
        rgb[index * 3 + 2] = clampToByte(y + tables.blueFromCb[cb])
    }
    return rgb
}
