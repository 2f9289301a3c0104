import Testing
@testable import EdgeRuntime

@Suite struct ImageDrawingTests {
    private func pixel(_ image: RGBImage, _ x: Int, _ y: Int) -> [UInt8] {
        let offset = (y * image.width + x) * 3
        return Array(image.pixels[offset..<(offset + 3)])
    }

    /// The image as rows of '#' (pixel equals `color`) and '.' (anything else).
    private func mask(_ image: RGBImage, color: [UInt8]) -> [String] {
        (0..<image.height).map { y in
            String((0..<image.width).map { x in pixel(image, x, y) == color ? "#" : "." })
        }
    }

    @Test func rectangleOutlineWithThickness() throws {
        var image = try RGBImage(width: 8, height: 6)
        drawRectangle(on: &image, x0: 6, y0: 4, x1: 1, y1: 0, red: 255, green: 0, blue: 0, thickness: 2)
        #expect(mask(image, color: [255, 0, 0]) == [
            ".######.",
            ".######.",
            ".##..##.",
            ".######.",
            ".######.",
            "........",
        ])
    }

    @Test func rectangleIsClippedForAnyCoordinates() throws {
        var image = try RGBImage(width: 5, height: 4)
        drawRectangle(on: &image, x0: Int.min, y0: Int.min, x1: Int.max, y1: Int.max, red: 1, green: 2, blue: 3, thickness: Int.max)
        // The top and left bands end at -2; the bottom and right ones start at Int.max - (Int.max - 1).
        #expect(mask(image, color: [1, 2, 3]) == [".####", "#####", "#####", "#####"])
        drawRectangle(on: &image, x0: -3, y0: Int.max, x1: Int.max, y1: -3, red: 1, green: 2, blue: 3, thickness: Int.max)
        #expect(image.pixels.allSatisfy { $0 != 0 })
        var outline = try RGBImage(width: 5, height: 4)
        drawRectangle(on: &outline, x0: -10, y0: 1, x1: 2, y1: 100, red: 9, green: 9, blue: 9, thickness: 1)
        #expect(mask(outline, color: [9, 9, 9]) == [".....", "###..", "..#..", "..#.."])
        var untouched = try RGBImage(width: 5, height: 4)
        drawRectangle(on: &untouched, x0: 1, y0: 1, x1: 3, y1: 3, red: 9, green: 9, blue: 9, thickness: 0)
        drawRectangle(on: &untouched, x0: 50, y0: 50, x1: 60, y1: 60, red: 9, green: 9, blue: 9, thickness: 3)
        #expect(untouched.pixels.allSatisfy { $0 == 0 })
    }

    @Test func textUsesTheBitmapFontOnADarkBox() throws {
        var image = try RGBImage(width: 9, height: 10, pixels: [UInt8](repeating: 200, count: 9 * 10 * 3))
        drawText("A", on: &image, x: 0, y: 0, red: 255, green: 255, blue: 255)
        #expect(mask(image, color: [255, 255, 255]) == [
            ".........",
            "..###....",
            ".#...#...",
            ".#...#...",
            ".#...#...",
            ".#####...",
            ".#...#...",
            ".#...#...",
            ".........",
            ".........",
        ])
        // The box is 1 + 6 * characters wide and 9 high; outside it the photo is untouched.
        #expect(pixel(image, 0, 0) == [16, 16, 16])
        #expect(pixel(image, 6, 8) == [16, 16, 16])
        #expect(pixel(image, 7, 0) == [200, 200, 200])
        #expect(pixel(image, 0, 9) == [200, 200, 200])
    }

    @Test func nonASCIIDrawsAsQuestionMarkAndTextIsClipped() throws {
        var accented = try RGBImage(width: 20, height: 9)
        var question = try RGBImage(width: 20, height: 9)
        drawText("é1", on: &accented, x: 0, y: 0, red: 255, green: 255, blue: 0)
        drawText("?1", on: &question, x: 0, y: 0, red: 255, green: 255, blue: 0)
        #expect(accented == question)
        var clipped = try RGBImage(width: 6, height: 4)
        drawText("person 0.98", on: &clipped, x: -3, y: -2, red: 255, green: 255, blue: 255)
        drawText("x", on: &clipped, x: Int.max - 2, y: Int.min, red: 255, green: 255, blue: 255)
        drawText("x", on: &clipped, x: Int.min, y: Int.max, red: 255, green: 255, blue: 255)
        #expect(clipped.pixels.contains(255))
    }

    /// One label per object: a box repeated with a lower score (RT-DETR's top-k over queries x
    /// classes) is left out, a separate or barely overlapping box stays, best first; the picture of a
    /// box and its lower-scored repeat is the picture of the box alone.
    @Test func repeatedBoxesAreDrawnOnceWithTheirBestLabel() throws {
        func box(_ label: Int, _ score: Float, _ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float) -> Detection {
            Detection(label: label, score: score, x0: x0, y0: y0, x1: x1, y1: y1)
        }
        let best = box(3, 0.81, 20, 20, 60, 60), repeat_ = box(5, 0.52, 21, 20, 60, 61)
        let other = box(5, 0.49, 0, 0, 18, 16), overlapping = box(1, 0.9, 40, 40, 80, 80)
        #expect(oneLabelPerBox([repeat_, other, best, overlapping]) == [overlapping, best, other])
        #expect(oneLabelPerBox([]) == [])
        // Equal scores keep the input order.
        #expect(oneLabelPerBox([box(1, 0.5, 0, 0, 10, 10), box(2, 0.5, 0, 0, 10, 10)]).map(\.label) == [1])
        var both = try RGBImage(width: 96, height: 96), alone = try RGBImage(width: 96, height: 96)
        drawDetections([repeat_, best], on: &both) { "class \($0)" }
        drawDetections([best], on: &alone) { "class \($0)" }
        #expect(both == alone)
        var empty = try RGBImage(width: 8, height: 8)
        drawDetections([box(0, 1, .nan, 0, 4, 4), box(0, 1, 0, 0, .infinity, 4)], on: &empty) { _ in "x" }
    }
}
