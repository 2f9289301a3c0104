/// The one requantization rule of EdgeDETR's int8 kernels (docs/QUANTIZATION.md), written once as
/// scalar Swift. Every SIMD kernel (AVX2, NEON, NEON dot product) performs these same IEEE
/// single-precision operations in this order, so their int8 outputs equal these bit for bit.
///
///     q = clamp(roundHalfEven(Float(acc) * scale  [+ Float(r - zr) * residualScale]),
///               minimum - zp, maximum - zp) + zp
///
/// acc is the exact int32 accumulator (bias and zero-point corrections included), `scale` is
/// s_in * s_w[channel] / s_out, the optional residual term adds an int8 tensor with its own
/// scale (residualScale = s_r / s_out). Fused ReLU is `minimum = zp` (real 0).
///
/// Why fp32 and not gemmlowp's fixed-point multiplier: Float(Int32) and one multiply round once
/// each (relative error <= 2^-24 each, far below the int8 output step of 2^-8), every target has
/// the conversions in one instruction (cvtdq2ps/scvtf) and the default rounding mode is
/// round-to-nearest-even everywhere, so the rule is exact, cheap and portable; XNNPACK ships its
/// per-channel int8 kernels with the same fp32 rule.

/// An int8 tensor's quantization: real = scale * (q - zeroPoint).
public struct Int8Quantization: Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int32

    public init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The real value of `q`.
    @inline(__always)
    public func dequantize(_ q: Int8) -> Float {
        Float(Int32(q) - zeroPoint) * scale
    }

    /// The int8 nearest to `value` (ties to even), saturated to [-128, 127]. NaN gives the zero point.
    @inline(__always)
    public func quantize(_ value: Float) -> Int8 {
        let scaled = value / scale
        let lower = Float(-128 - zeroPoint), upper = Float(127 - zeroPoint)
        let clamped = scaled >= lower ? (scaled <= upper ? scaled : upper) : (scaled < lower ? lower : 0)
        return Int8(Int32(clamped.rounded(.toNearestOrEven)) + zeroPoint)
    }

    /// Scale and zero point that cover [minimum, maximum] (widened to contain 0, so zero is
    /// exact: zero padding and ReLU need it); a zero range gets scale 1 instead of infinity.
    public static func covering(minimum: Float, maximum: Float) -> Int8Quantization {
        let low = min(minimum, 0), high = max(maximum, 0)
        let range = high - low
        if !(range > 0) || !range.isFinite { return Int8Quantization(scale: 1, zeroPoint: 0) }
        let scale = range / 255
        let zeroPoint = Int32((-128 - low / scale).rounded(.toNearestOrEven))
        return Int8Quantization(scale: scale, zeroPoint: min(max(zeroPoint, -128), 127))
    }

    /// Symmetric int8 (zero point 0) covering [-absoluteMaximum, absoluteMaximum] with 127 steps.
    public static func symmetric(absoluteMaximum: Float) -> Int8Quantization {
        let bound = absoluteMaximum.magnitude
        if !(bound > 0) || !bound.isFinite { return Int8Quantization(scale: 1, zeroPoint: 0) }
        return Int8Quantization(scale: bound / 127, zeroPoint: 0)
    }
}

/// Where an int8 kernel's output goes: its zero point and the clamp range in int8 (the range is
/// narrower than [-128, 127] for a fused ReLU: `minimum = zeroPoint`).
public struct Int8OutputRange: Sendable, Equatable {
    public var zeroPoint: Int32
    public var minimum: Int8
    public var maximum: Int8

    public init(zeroPoint: Int32, minimum: Int8 = -128, maximum: Int8 = 127) {
        self.zeroPoint = zeroPoint
        self.minimum = minimum
        self.maximum = maximum
    }

    /// The whole int8 range, or from the zero point (real 0) up with `relu`.
    public init(zeroPoint: Int32, relu: Bool) {
        self.init(zeroPoint: zeroPoint, minimum: relu ? Int8(clamping: zeroPoint) : -128, maximum: 127)
    }

    /// minimum - zeroPoint, the lower clamp applied before rounding, as a Float.
    @inline(__always)
    public var lowerBound: Float { Float(Int32(minimum) - zeroPoint) }

    /// maximum - zeroPoint, the upper clamp applied before rounding, as a Float.
    @inline(__always)
    public var upperBound: Float { Float(Int32(maximum) - zeroPoint) }
}

/// THE requantization rule, on a real value already in output units (Float(acc) * scale, plus
/// the residual term): clamp to [minimum - zp, maximum - zp], round half to even, add zp.
/// Clamping before rounding equals rounding before clamping because the bounds are integers.
@inline(__always)
public func requantize(_ value: Float, _ range: Int8OutputRange) -> Int8 {
    let lower = range.lowerBound, upper = range.upperBound
    let clamped = value < lower ? lower : (value > upper ? upper : value)
    return Int8(Int32(clamped.rounded(.toNearestOrEven)) + range.zeroPoint)
}

/// The requantization of one int32 accumulator with a per-channel `scale`.
@inline(__always)
public func requantize(accumulator: Int32, scale: Float, _ range: Int8OutputRange) -> Int8 {
    requantize(Float(accumulator) * scale, range)
}

/// The requantization of one accumulator plus an int8 residual (zero point `residualZeroPoint`,
/// scale `residualScale` = s_r / s_out): the two products are rounded separately, then added.
@inline(__always)
public func requantize(accumulator: Int32, scale: Float, residual: Int8, residualZeroPoint: Int32,
                       residualScale: Float, _ range: Int8OutputRange) -> Int8 {
    requantize(Float(accumulator) * scale + Float(Int32(residual) - residualZeroPoint) * residualScale, range)
}

/// 1.5 * 2^23: adding it to a Float of magnitude below 2^22 rounds to an integer, half to even
/// (the default rounding mode), and leaves that integer in the low mantissa bits. SIMD kernels
/// use it instead of a rounding instruction (SSE2 has none); for the clamped values of
/// `requantize` (|x| <= 255) it equals `rounded(.toNearestOrEven)` exactly.
public let roundingMagic: Float = 12_582_912

/// The bit pattern of `roundingMagic`, subtracted from the sum's bits to leave the integer.
public let roundingMagicBits: Int32 = 0x4B40_0000

/// Round half to even through `roundingMagic`, for |x| < 2^22.
@inline(__always)
public func roundedToNearestEvenSmall(_ x: Float) -> Int32 {
    Int32(bitPattern: (x + roundingMagic).bitPattern) &- roundingMagicBits
}

/// `requantize` on eight values at once, with the operations of the scalar rule (clamp, then
/// magic-number rounding, which equals round-half-even for the clamped range). Portable SIMD:
/// SSE2 on x86-64, NEON on arm64.
@inline(__always)
func requantize(_ values: SIMD8<Float>, lower: SIMD8<Float>, upper: SIMD8<Float>, zeroPoint: SIMD8<Int32>) -> SIMD8<Int32> {
    var clamped = values.replacing(with: lower, where: values .< lower)
    clamped = clamped.replacing(with: upper, where: clamped .> upper)
    let shifted = clamped + SIMD8<Float>(repeating: roundingMagic)
    return unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: roundingMagicBits) &+ zeroPoint
}

/// One over the fixed-point unit of attention and sampling weights: weights in [0, 1] are
/// carried as round(w * 2^14) in int16 (Q14), so products with centred int8 values (|v| <= 255)
/// and their sums stay exact in int32.
public let q14One: Float = 16_384
