import Kernels
import EdgeRuntime
import Foundation

/// One drawn image of the synthetic dataset and its objects' annotations.
public struct SyntheticImage {
    public let image: RGBImage
    public let objects: [SyntheticObject]
}

/// An object as annotated: its class, the tight box of its visible pixels and their count.
public struct SyntheticObject: Equatable, Sendable {
    public let shape: SyntheticShape
    /// The tight box of the pixels this object owns in the final image (whole pixels: integer x, y,
    /// width, height).
    public let box: COCOBox
    /// The number of pixels it owns: COCO's segmentation area.
    public let area: Int
}

/// Draws one synthetic image from its own random stream.
///
/// Order: a background (linear or radial gradient, stripes, checkerboard or smooth value noise),
/// 0 to 4 distractor lines, 0 to 8 shapes back to front, then per-pixel noise. Shapes are
/// anti-aliased (4x4 samples on edge pixels) and a pixel belongs to the last shape covering at least
/// half of it. A shape is placed only if at least 75% of it falls inside the image and it leaves
/// every earlier shape at least half of its in-image pixels (and 12 pixels) visible; up to 12
/// positions are tried, then the shape is dropped.
/// How hard the synthetic images are. `standard` aims at COCO's difficulty (small objects, clutter,
/// low contrast); `easy` keeps the eight classes, occlusion and rotation but drops what a
/// 2 M-parameter detector cannot learn in an hour on 2 CPU cores: at most 4 shapes, no small ones, no
/// low-contrast fills, no distractor lines, gradient backgrounds only.
public enum SyntheticDifficulty: String, CaseIterable, Sendable {
    case standard
    case easy
}

struct SyntheticImageRenderer {
    let size: Int
    let difficulty: SyntheticDifficulty
    var random: SplitMix64
    /// Linear RGB in 0...255, row-major, 3 per pixel.
    private var canvas: [Float]
    /// Index of the shape owning each pixel, -1 for background.
    private var owner: [Int8]

    static let minimumVisiblePixels = 12
    static let placementAttempts = 12
    /// Less of a shape inside the image makes classes ambiguous (a cut diamond reads as a triangle).
    static let minimumInsideFraction = 0.75

    init(size: Int, difficulty: SyntheticDifficulty = .standard, random: SplitMix64) {
        self.size = size
        self.difficulty = difficulty
        self.random = random
        canvas = [Float](repeating: 0, count: size * size * 3)
        owner = [Int8](repeating: -1, count: size * size)
    }

    mutating func render() -> SyntheticImage {
        drawBackground()
        let easy = difficulty == .easy
        for _ in 0..<random.integer(in: 0...(easy ? 0 : 4)) { drawDistractorLine() }

        var placed: [(shape: SyntheticShape, inImage: Int)] = []
        var visible: [Int] = []
        let objectCount = random.chance(0.05) ? 0 : random.integer(in: 1...(easy ? 4 : 8))
        for _ in 0..<objectCount {
            let shape = SyntheticShape.allCases[random.integer(in: 0...(SyntheticShape.allCases.count - 1))]
            let extent = objectExtent()
            let aspect = random.uniform(shape.aspectRange.lowerBound, shape.aspectRange.upperBound)
            let halfWidth = extent * aspect.squareRoot() / 2, halfHeight = extent / aspect.squareRoot() / 2
            let angle = random.uniform(0, 2 * Double.pi)
            let detail: Double
            switch shape {
            case .ring: detail = random.uniform(0.45, 0.7)
            case .star: detail = random.uniform(0.38, 0.55)
            case .cross: detail = random.uniform(0.25, 0.4)
            default: detail = 0
            }
            let paint = randomPaint()
            for _ in 0..<Self.placementAttempts {
                let instance = PlacedShape(
                    shape: shape, centerX: random.uniform(0, Double(size)), centerY: random.uniform(0, Double(size)),
                    halfWidth: halfWidth, halfHeight: halfHeight, angle: angle, detail: detail)
                let mask = CoverageMask(instance)
                guard let losses = acceptance(of: mask, placed: placed, visible: visible) else { continue }
                for (index, loss) in losses { visible[index] -= loss }
                let inImage = mask.ownedPixelsInImage(size: size)
                draw(mask, paint: paint, index: placed.count)
                placed.append((shape, inImage))
                visible.append(inImage)
                break
            }
        }
        addNoise()
        return SyntheticImage(image: quantizedImage(), objects: annotations(placed.map(\.shape)))
    }

    /// The shape's unrotated size in pixels (for 256-pixel images; scaled with the side): 30% 10 to
    /// 30, 35% 34 to 90, 35% 100 to 200. Shapes fill 35% (star) to 100% (square) of their box and
    /// may be occluded or cut by the border, so visible areas come out at roughly COCO's mix of
    /// small (below 32^2), medium and large (above 96^2) objects.
    private mutating func objectExtent() -> Double {
        let scale = Double(size) / 256
        let draw = random.unit()
        if difficulty == .easy {
            // No small shapes: half medium, half large.
            return draw < 0.5 ? max(12, random.uniform(34, 90) * scale) : max(14, random.uniform(100, 200) * scale)
        }
        if draw < 0.30 { return max(10, random.uniform(10, 30) * scale) }
        if draw < 0.65 { return max(12, random.uniform(34, 90) * scale) }
        return max(14, random.uniform(100, 200) * scale)
    }

    /// The pixels the new shape would take from each earlier one, or nil if it may not be placed.
    private func acceptance(of mask: CoverageMask, placed: [(shape: SyntheticShape, inImage: Int)], visible: [Int]) -> [Int: Int]? {
        let inImage = mask.ownedPixelsInImage(size: size)
        guard inImage >= Self.minimumVisiblePixels, Double(inImage) >= Self.minimumInsideFraction * Double(mask.ownedPixels) else { return nil }
        var losses: [Int: Int] = [:]
        mask.forEachOwnedPixel(size: size) { pixel in
            let previous = Int(owner[pixel])
            if previous >= 0 { losses[previous, default: 0] += 1 }
        }
        for (index, loss) in losses {
            let remaining = visible[index] - loss
            if remaining < Self.minimumVisiblePixels || Double(remaining) < 0.5 * Double(placed[index].inImage) { return nil }
        }
        return losses
    }

    // MARK: Painting

    /// How a shape is filled: a solid colour, a vertical blend of two, or stripes of two.
    private enum Paint {
        case solid(SIMD3<Float>)
        case blend(SIMD3<Float>, SIMD3<Float>, top: Float, height: Float)
        case stripes(SIMD3<Float>, SIMD3<Float>, period: Float, angle: Float)
    }

    private mutating func randomColor() -> SIMD3<Float> {
        SIMD3(Float(random.uniform(0, 255)), Float(random.uniform(0, 255)), Float(random.uniform(0, 255)))
    }

    /// A fill colour; one in four is close to the mean background colour (low contrast).
    private mutating func randomPaint() -> Paint {
        var first = randomColor()
        if random.chance(difficulty == .easy ? 0 : 0.25) {
            let mean = meanCanvasColor()
            let offset = SIMD3(Float(random.uniform(-1, 1)), Float(random.uniform(-1, 1)), Float(random.uniform(-1, 1)))
            let length = max((offset * offset).sum().squareRoot(), 1e-3)
            first = clamp(mean + offset / length * Float(random.uniform(25, 50)))
        }
        let draw = random.unit()
        if draw < 0.7 { return .solid(first) }
        let second = clamp(first + SIMD3(Float(random.uniform(-80, 80)), Float(random.uniform(-80, 80)), Float(random.uniform(-80, 80))))
        if draw < 0.9 { return .blend(first, second, top: Float(random.uniform(0, Double(size))), height: Float(random.uniform(8, 64))) }
        return .stripes(first, second, period: Float(random.uniform(3, 10)), angle: Float(random.uniform(0, Double.pi)))
    }

    private func color(_ paint: Paint, x: Int, y: Int) -> SIMD3<Float> {
        switch paint {
        case .solid(let color):
            return color
        case .blend(let first, let second, let top, let height):
            let t = min(max((Float(y) - top) / height, 0), 1)
            return first + (second - first) * t
        case .stripes(let first, let second, let period, let angle):
            let phase = (Float(x) * cos(angle) + Float(y) * sin(angle)) / period
            return phase - phase.rounded(.down) < 0.5 ? first : second
        }
    }

    private func meanCanvasColor() -> SIMD3<Float> {
        var sum = SIMD3<Double>(0, 0, 0)
        var index = 0
        while index < canvas.count {
            sum += SIMD3(Double(canvas[index]), Double(canvas[index + 1]), Double(canvas[index + 2]))
            index += 3 * 7  // every 7th pixel is plenty
        }
        let count = Double((canvas.count / 3 + 6) / 7)
        return SIMD3(Float(sum.x / count), Float(sum.y / count), Float(sum.z / count))
    }

    private func clamp(_ color: SIMD3<Float>) -> SIMD3<Float> {
        color.clamped(lowerBound: SIMD3(repeating: 0), upperBound: SIMD3(repeating: 255))
    }

    private mutating func blend(pixel: Int, color: SIMD3<Float>, alpha: Float) {
        for channel in 0..<3 {
            canvas[pixel * 3 + channel] += (color[channel] - canvas[pixel * 3 + channel]) * alpha
        }
    }

    private mutating func draw(_ mask: CoverageMask, paint: Paint, index: Int) {
        for row in 0..<mask.height {
            let y = mask.y0 + row
            guard y >= 0 && y < size else { continue }
            for column in 0..<mask.width {
                let x = mask.x0 + column
                guard x >= 0 && x < size else { continue }
                let coverage = mask.coverage[row * mask.width + column]
                guard coverage > 0 else { continue }
                let pixel = y * size + x
                blend(pixel: pixel, color: color(paint, x: x, y: y), alpha: Float(coverage) / Float(CoverageMask.samples))
                if coverage >= CoverageMask.ownershipThreshold { owner[pixel] = Int8(index) }
            }
        }
    }

    // MARK: Background, distractors, noise

    private mutating func drawBackground() {
        let first = randomColor(), second = randomColor()
        // Easy: gradients only (no stripes, checkers or value noise).
        let kind = random.integer(in: 0...(difficulty == .easy ? 1 : 4))
        let angle = random.uniform(0, 2 * Double.pi)
        let (directionX, directionY) = (Float(cos(angle)), Float(sin(angle)))
        let frequency = Float(random.uniform(2, 12)) / Float(size)
        let cell = max(4, Int(random.uniform(8, 40) * Double(size) / 256))
        let centerX = Float(random.uniform(0, Double(size))), centerY = Float(random.uniform(0, Double(size)))
        let grid = 6
        let noise = (0..<(grid * grid)).map { _ in Float(random.unit()) }
        let extent = Float(size)
        for y in 0..<size {
            for x in 0..<size {
                let fx = Float(x), fy = Float(y)
                let t: Float
                switch kind {
                case 0:  // linear gradient
                    t = min(max(((fx - extent / 2) * directionX + (fy - extent / 2) * directionY) / extent + 0.5, 0), 1)
                case 1:  // radial gradient
                    t = min(((fx - centerX) * (fx - centerX) + (fy - centerY) * (fy - centerY)).squareRoot() / extent, 1)
                case 2:  // soft stripes
                    t = 0.5 + 0.5 * sin(2 * Float.pi * frequency * (fx * directionX + fy * directionY))
                case 3:  // checkerboard
                    t = ((x / cell) + (y / cell)) % 2 == 0 ? 0.2 : 0.8
                default:  // smooth value noise on a 6x6 grid
                    let gx = fx / extent * Float(grid - 1), gy = fy / extent * Float(grid - 1)
                    let ix = min(Int(gx), grid - 2), iy = min(Int(gy), grid - 2)
                    let ax = gx - Float(ix), ay = gy - Float(iy)
                    let top = noise[iy * grid + ix] * (1 - ax) + noise[iy * grid + ix + 1] * ax
                    let bottom = noise[(iy + 1) * grid + ix] * (1 - ax) + noise[(iy + 1) * grid + ix + 1] * ax
                    t = top * (1 - ay) + bottom * ay
                }
                let color = first + (second - first) * t
                let pixel = (y * size + x) * 3
                canvas[pixel] = color.x
                canvas[pixel + 1] = color.y
                canvas[pixel + 2] = color.z
            }
        }
    }

    /// A straight line 1 to 3 pixels wide, anti-aliased: clutter that is no object.
    private mutating func drawDistractorLine() {
        let extent = Double(size)
        let (ax, ay) = (random.uniform(0, extent), random.uniform(0, extent))
        let (bx, by) = (random.uniform(0, extent), random.uniform(0, extent))
        let halfWidth = random.uniform(0.5, 1.5)
        let color = randomColor()
        let lengthSquared = max((bx - ax) * (bx - ax) + (by - ay) * (by - ay), 1e-9)
        let x0 = max(0, Int(min(ax, bx) - 3)), x1 = min(size - 1, Int(max(ax, bx) + 3))
        let y0 = max(0, Int(min(ay, by) - 3)), y1 = min(size - 1, Int(max(ay, by) + 3))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 {
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                let t = min(max(((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / lengthSquared, 0), 1)
                let dx = px - (ax + t * (bx - ax)), dy = py - (ay + t * (by - ay))
                let alpha = min(max(halfWidth + 0.5 - (dx * dx + dy * dy).squareRoot(), 0), 1)
                if alpha > 0 { blend(pixel: y * size + x, color: color, alpha: Float(alpha)) }
            }
        }
    }

    /// Per-channel noise with a standard deviation drawn per image (2 to 14 levels).
    private mutating func addNoise() {
        let deviation = Float(random.uniform(2, 14))
        for index in canvas.indices { canvas[index] += Float(random.normal()) * deviation }
    }

    private func quantizedImage() -> RGBImage {
        let pixels = canvas.map { UInt8(min(max($0.rounded(.toNearestOrEven), 0), 255)) }
        return try! RGBImage(width: size, height: size, pixels: pixels)  // size checked by the caller
    }

    private func annotations(_ shapes: [SyntheticShape]) -> [SyntheticObject] {
        var minimumX = [Int](repeating: Int.max, count: shapes.count), maximumX = [Int](repeating: -1, count: shapes.count)
        var minimumY = minimumX, maximumY = maximumX
        var counts = [Int](repeating: 0, count: shapes.count)
        for y in 0..<size {
            for x in 0..<size {
                let index = Int(owner[y * size + x])
                guard index >= 0 else { continue }
                counts[index] += 1
                minimumX[index] = min(minimumX[index], x)
                maximumX[index] = max(maximumX[index], x)
                minimumY[index] = min(minimumY[index], y)
                maximumY[index] = max(maximumY[index], y)
            }
        }
        return shapes.indices.compactMap { index in
            guard counts[index] > 0 else { return nil }
            let box = COCOBox(x: Double(minimumX[index]), y: Double(minimumY[index]),
                              width: Double(maximumX[index] - minimumX[index] + 1), height: Double(maximumY[index] - minimumY[index] + 1))
            return SyntheticObject(shape: shapes[index], box: box, area: counts[index])
        }
    }
}

/// A shape rasterized over its whole bounding rectangle (also outside the image): samples covered
/// out of 16 per pixel. Pixel corners are tested first; only pixels whose four corners disagree are
/// sampled 4x4, so the cost follows the outline, not the area.
struct CoverageMask {
    static let samples: UInt8 = 16
    /// A pixel covered at least this much belongs to the shape (for boxes, areas and occlusion).
    static let ownershipThreshold: UInt8 = 8

    let x0: Int, y0: Int, width: Int, height: Int
    private(set) var coverage: [UInt8]
    private(set) var ownedPixels = 0

    init(_ instance: PlacedShape) {
        let bounds = instance.bounds
        x0 = bounds.x0
        y0 = bounds.y0
        width = bounds.x1 - bounds.x0
        height = bounds.y1 - bounds.y0
        coverage = [UInt8](repeating: 0, count: width * height)
        let inside = instance.makeTest()
        var corners = [Bool](repeating: false, count: (width + 1) * (height + 1))
        for row in 0...height {
            for column in 0...width { corners[row * (width + 1) + column] = inside(Double(x0 + column), Double(y0 + row)) }
        }
        for row in 0..<height {
            for column in 0..<width {
                let topLeft = corners[row * (width + 1) + column], topRight = corners[row * (width + 1) + column + 1]
                let bottomLeft = corners[(row + 1) * (width + 1) + column], bottomRight = corners[(row + 1) * (width + 1) + column + 1]
                var covered: UInt8
                if topLeft == topRight && topLeft == bottomLeft && topLeft == bottomRight {
                    covered = topLeft ? Self.samples : 0
                } else {
                    covered = 0
                    for sampleY in 0..<4 {
                        for sampleX in 0..<4 where inside(Double(x0 + column) + (Double(sampleX) + 0.5) / 4, Double(y0 + row) + (Double(sampleY) + 0.5) / 4) {
                            covered += 1
                        }
                    }
                }
                coverage[row * width + column] = covered
                if covered >= Self.ownershipThreshold { ownedPixels += 1 }
            }
        }
    }

    /// Calls `body` with the image index of each owned pixel inside a `size` x `size` image.
    func forEachOwnedPixel(size: Int, _ body: (Int) -> Void) {
        let rows = max(0, -y0)..<max(max(0, -y0), min(height, size - y0))
        let columns = max(0, -x0)..<max(max(0, -x0), min(width, size - x0))
        for row in rows {
            for column in columns where coverage[row * width + column] >= Self.ownershipThreshold {
                body((y0 + row) * size + x0 + column)
            }
        }
    }

    func ownedPixelsInImage(size: Int) -> Int {
        var count = 0
        forEachOwnedPixel(size: size) { _ in count += 1 }
        return count
    }
}
