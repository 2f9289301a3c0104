import Kernels
import Foundation

/// The object classes of the synthetic dataset. The raw value is the COCO `category_id` and the
/// model's label index (`id2label` keys), so detections map to categories without a table.
///
/// The classes stay distinguishable under any rotation and the allowed stretch: a square stretches
/// to a rectangle (right angles), a diamond is always a rhombus with diagonals 1.5 to 2 apart (never
/// a square), a circle stretches to an ellipse and a ring to an elliptic annulus.
public enum SyntheticShape: Int, CaseIterable, Sendable {
    case square = 0, circle, triangle, star, ring, cross, diamond, hexagon

    public var name: String {
        switch self {
        case .square: return "square"
        case .circle: return "circle"
        case .triangle: return "triangle"
        case .star: return "star"
        case .ring: return "ring"
        case .cross: return "cross"
        case .diamond: return "diamond"
        case .hexagon: return "hexagon"
        }
    }

    /// The range of width / height in the shape's own frame.
    var aspectRange: ClosedRange<Double> {
        switch self {
        case .square, .circle, .ring, .triangle: return 0.7...1.4
        case .star, .hexagon: return 0.85...1.15
        case .cross: return 0.8...1.25
        case .diamond: return 0.5...0.667
        }
    }
}

/// One shape instance in its own frame: the unit square [-1, 1]^2 scaled by the half sizes, rotated
/// by `angle` about `center` (pixel coordinates, y down).
struct PlacedShape {
    let shape: SyntheticShape
    let centerX: Double
    let centerY: Double
    let halfWidth: Double
    let halfHeight: Double
    let angle: Double
    /// Ring: inner radius over outer; star: inner vertex radius over outer; cross: arm half-thickness.
    let detail: Double

    private var cosine: Double { cos(angle) }
    private var sine: Double { sin(angle) }

    /// The pixel-aligned rectangle `[x0, x1) x [y0, y1)` holding the whole shape (not clipped to the image).
    var bounds: (x0: Int, y0: Int, x1: Int, y1: Int) {
        let c = abs(cos(angle)), s = abs(sin(angle))
        let extentX = c * halfWidth + s * halfHeight, extentY = s * halfWidth + c * halfHeight
        return (Int((centerX - extentX).rounded(.down)) - 1, Int((centerY - extentY).rounded(.down)) - 1,
                Int((centerX + extentX).rounded(.up)) + 1, Int((centerY + extentY).rounded(.up)) + 1)
    }

    /// A point-in-shape test prepared for one instance (the rotation's sine and cosine computed once).
    func makeTest() -> (Double, Double) -> Bool {
        let c = cosine, s = sine, cx = centerX, cy = centerY
        let inverseWidth = 1 / halfWidth, inverseHeight = 1 / halfHeight
        let shape = self.shape, detail = self.detail
        let star = shape == .star ? starPolygon(innerRatio: detail) : []
        return { x, y in
            let dx = x - cx, dy = y - cy
            let u = (c * dx + s * dy) * inverseWidth
            let v = (-s * dx + c * dy) * inverseHeight
            return contains(shape, u: u, v: v, detail: detail, star: star)
        }
    }
}

/// Whether the unit-frame point (u, v) lies in the shape.
private func contains(_ shape: SyntheticShape, u: Double, v: Double, detail: Double, star: [(Double, Double)]) -> Bool {
    switch shape {
    case .square:
        return abs(u) <= 1 && abs(v) <= 1
    case .circle:
        return u * u + v * v <= 1
    case .ring:
        let r = u * u + v * v
        return r <= 1 && r >= detail * detail
    case .triangle:
        // Apex at the top (v = -1), base along v = 1.
        return v <= 1 && v >= -1 && abs(u) <= (v + 1) / 2
    case .diamond:
        return abs(u) + abs(v) <= 1
    case .hexagon:
        // Regular (flat top), circumradius 1.
        let root3 = 1.7320508075688772
        return abs(v) <= root3 / 2 && root3 * abs(u) + abs(v) <= root3
    case .cross:
        return (abs(u) <= detail && abs(v) <= 1) || (abs(v) <= detail && abs(u) <= 1)
    case .star:
        guard u * u + v * v <= 1 else { return false }
        var inside = false
        var previous = star[star.count - 1]
        for vertex in star {
            if (vertex.1 > v) != (previous.1 > v) {
                let crossing = previous.0 + (v - previous.1) * (vertex.0 - previous.0) / (vertex.1 - previous.1)
                if u < crossing { inside.toggle() }
            }
            previous = vertex
        }
        return inside
    }
}

/// A five-pointed star's ten vertices, a point at the top.
private func starPolygon(innerRatio: Double) -> [(Double, Double)] {
    (0..<10).map { index in
        let radius = index % 2 == 0 ? 1.0 : innerRatio
        let angle = -Double.pi / 2 + Double(index) * Double.pi / 5
        return (radius * cos(angle), radius * sin(angle))
    }
}
