/// Box and label drawing for `--draw`, on the image the detector saw.
///
/// Coordinates are in pixels, inclusive, and may lie anywhere (negative, past the edges, near
/// `Int.max`): everything is clamped to the image before any arithmetic that could overflow.

/// Draws the outline of the rectangle with corners (`x0`, `y0`) and (`x1`, `y1`), inclusive, in
/// either order. The outline grows inward by `thickness` pixels; a thickness of 0 or less draws
/// nothing, and parts outside the image are clipped.
public func drawRectangle(
    on image: inout RGBImage, x0: Int, y0: Int, x1: Int, y1: Int,
    red: UInt8, green: UInt8, blue: UInt8, thickness: Int
) {
    guard thickness > 0, image.isConsistent else { return }
    let left = min(x0, x1)
    let right = max(x0, x1)
    let top = min(y0, y1)
    let bottom = max(y0, y1)
    let inset = thickness - 1
    let color = (red, green, blue)
    // Each band is capped at the far side, so a thickness larger than the box just fills it.
    fillClipped(&image, left: left, top: top, right: right, bottom: min(bottom, clampedAdd(top, inset)), color: color)
    fillClipped(&image, left: left, top: max(top, clampedAdd(bottom, -inset)), right: right, bottom: bottom, color: color)
    fillClipped(&image, left: left, top: top, right: min(right, clampedAdd(left, inset)), bottom: bottom, color: color)
    fillClipped(&image, left: max(left, clampedAdd(right, -inset)), top: top, right: right, bottom: bottom, color: color)
}

/// Writes `text` with its top-left corner at (`x`, `y`) in the built-in 5x7 font, on a dark box
/// one pixel wider than the text on every side so it stays readable on any photo. Characters
/// outside printable ASCII are drawn as `?`; anything outside the image is clipped.
public func drawText(
    _ text: String, on image: inout RGBImage, x: Int, y: Int, red: UInt8, green: UInt8, blue: UInt8
) {
    guard image.isConsistent else { return }
    var characters = [UInt8]()
    for byte in text.utf8 {
        // One `?` per Unicode scalar: UTF-8 continuation bytes (10xxxxxx) are skipped.
        if byte & 0xC0 == 0x80 { continue }
        characters.append(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
    }
    guard !characters.isEmpty else { return }
    let advance = BitmapFont.glyphWidth + 1
    let boxWidth = characters.count * advance + 1
    let boxHeight = BitmapFont.glyphHeight + 2
    fillClipped(
        &image, left: x, top: y, right: clampedAdd(x, boxWidth - 1), bottom: clampedAdd(y, boxHeight - 1),
        color: textBackground)
    for (index, character) in characters.enumerated() {
        let glyphX = clampedAdd(x, 1 + index * advance)
        let glyphY = clampedAdd(y, 1)
        for column in 0..<BitmapFont.glyphWidth {
            let bits = BitmapFont.column(column, of: character)
            for row in 0..<BitmapFont.glyphHeight where bits & (1 << row) != 0 {
                let pixelX = clampedAdd(glyphX, column)
                let pixelY = clampedAdd(glyphY, row)
                fillClipped(&image, left: pixelX, top: pixelY, right: pixelX, bottom: pixelY, color: (red, green, blue))
            }
        }
    }
}

/// The label box colour: near-black, so white or coloured text on it reads on any background.
private let textBackground: (UInt8, UInt8, UInt8) = (16, 16, 16)

/// `value + delta` saturating at the ends of `Int`, for coordinates that may be huge.
private func clampedAdd(_ value: Int, _ delta: Int) -> Int {
    let (sum, overflow) = value.addingReportingOverflow(delta)
    if overflow { return delta > 0 ? Int.max : Int.min }
    return sum
}

/// Fills the inclusive rectangle, clipped to the image; empty if `left > right` or `top > bottom`.
private func fillClipped(
    _ image: inout RGBImage, left: Int, top: Int, right: Int, bottom: Int, color: (UInt8, UInt8, UInt8)
) {
    let firstX = max(left, 0)
    let lastX = min(right, image.width - 1)
    let firstY = max(top, 0)
    let lastY = min(bottom, image.height - 1)
    guard firstX <= lastX, firstY <= lastY else { return }
    for y in firstY...lastY {
        var offset = (y * image.width + firstX) * 3
        for _ in firstX...lastX {
            image.pixels[offset] = color.0
            image.pixels[offset + 1] = color.1
            image.pixels[offset + 2] = color.2
            offset += 3
        }
    }
}

/// A detection coordinate as a pixel index for drawing: rounded, clamped far outside any image
/// (drawing clips), NaN as 0. `Int(Float)` traps on NaN, infinities and values past Int's range.
public func pixelCoordinate(_ value: Float) -> Int {
    guard !value.isNaN else { return 0 }
    return Int(min(max(value.rounded(), -1_000_000), 1_000_000))
}

/// Every detection's box and `label score` (score to 2 decimals, as printf's %.2f) in a colour per
/// class, lines `min(width, height) / 200` pixels thick: what `detect --draw`, the demo and a
/// stream's `--draw` frames show. One label per object: a box that overlaps a higher-scored one by
/// IoU >= `drawnOverlapLimit` is left out of the picture (RT-DETR's top-k over queries x classes gives
/// one box several labels, and the lower ones drawn over the best hid it); the best-scored boxes are
/// drawn last, on top. The text and JSON outputs keep every detection.
public func drawDetections(_ detections: [Detection], on image: inout RGBImage, label: (Int) -> String) {
    let palette: [(UInt8, UInt8, UInt8)] = [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
        (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    ]
    let thickness = max(1, min(image.width, image.height) / 200)
    for detection in oneLabelPerBox(detections).reversed() {
        let color = palette[((detection.label % palette.count) + palette.count) % palette.count]
        let x0 = pixelCoordinate(detection.x0), y0 = pixelCoordinate(detection.y0)
        let x1 = pixelCoordinate(detection.x1), y1 = pixelCoordinate(detection.y1)
        drawRectangle(on: &image, x0: x0, y0: y0, x1: x1, y1: y1, red: color.0, green: color.1, blue: color.2, thickness: thickness)
        drawText("\(label(detection.label)) \(printfFixed(detection.score, decimals: 2))", on: &image,
                 x: x0, y: max(0, y0 - 9), red: color.0, green: color.1, blue: color.2)
    }
}

/// The detections `drawDetections` shows, best first (ties in input order): each unless its box
/// overlaps a higher-scored kept one by IoU >= `drawnOverlapLimit`.
public func oneLabelPerBox(_ detections: [Detection]) -> [Detection] {
    let byScore = detections.indices.sorted {
        detections[$0].score > detections[$1].score || (detections[$0].score == detections[$1].score && $0 < $1)
    }
    var kept: [Detection] = []
    for index in byScore where !kept.contains(where: { intersectionOverUnion($0, detections[index]) >= drawnOverlapLimit }) {
        kept.append(detections[index])
    }
    return kept
}

/// Boxes overlapping a higher-scored drawn box by at least this IoU are one object to `drawDetections`.
public let drawnOverlapLimit: Float = 0.7

/// Intersection over union of two detections' boxes; 0 when either is empty or not finite.
func intersectionOverUnion(_ a: Detection, _ b: Detection) -> Float {
    let width = min(a.x1, b.x1) - max(a.x0, b.x0), height = min(a.y1, b.y1) - max(a.y0, b.y0)
    guard width > 0, height > 0 else { return 0 }
    let intersection = width * height
    let union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - intersection
    guard union > 0, union.isFinite else { return 0 }
    return intersection / union
}
