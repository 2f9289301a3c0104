/// The element types a safetensors header can name.
///
/// Only the floating types are converted to `Float`; the others are recognized so that a checkpoint
/// holding, say, an I64 position-id buffer gets "has dtype I64" rather than "unknown dtype".
public enum TensorDType: String, Sendable, CaseIterable {
    case float64 = "F64"
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int64 = "I64"
    case int32 = "I32"
    case int16 = "I16"
    case int8 = "I8"
    case uint8 = "U8"
    case bool = "BOOL"

    /// Bytes per element in the data section.
    public var itemSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }

    /// Whether `SafetensorsFile.floats(_:)` converts this type. F64 is refused on purpose: no DETR
    /// checkpoint stores it, and silently narrowing it would hide a wrongly exported file.
    public var isReadableAsFloat: Bool {
        switch self {
        case .float32, .float16, .bfloat16: true
        default: false
        }
    }
}

/// What the header says about one tensor.
public struct TensorInfo: Sendable, Equatable {
    public let dtype: TensorDType
    public let shape: [Int]
    /// Number of elements (product of `shape`, 1 for a scalar); checked not to overflow when parsed.
    public let elementCount: Int
    /// Byte range inside the data section (after the header).
    let dataRange: Range<Int>
}

/// Exact conversions between `Float` and the 16-bit float formats, written out bit by bit so that the
/// result does not depend on the platform's `Float16` support (absent on x86-64 macOS).
enum HalfPrecision {
    /// IEEE binary16 to Float. Every binary16 value, subnormals included, is exactly representable
    /// in binary32; NaN payloads are kept.
    static func float(fromHalfBits bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            // Zero or subnormal: mantissa * 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        // Rebias the exponent from 15 to 127.
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// Float to IEEE binary16, rounding to nearest with ties to even; overflow gives infinity and
    /// NaN stays NaN (quiet).
    static func halfBits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {
            let payload = mantissa == 0 ? 0 : UInt16(0x200) | UInt16(truncatingIfNeeded: mantissa >> 13)
            return sign | 0x7C00 | payload
        }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 0x1F {
            return sign | 0x7C00
        }
        if halfExponent <= 0 {
            // Result is subnormal (or rounds up to the smallest normal, which the carry produces).
            if halfExponent < -10 {
                return sign
            }
            let significand = mantissa | 0x80_0000
            let shift = UInt32(14 - halfExponent)
            return sign | UInt16(truncatingIfNeeded: roundShiftRight(significand, by: shift))
        }
        let truncated = (UInt32(halfExponent) << 10) | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        let roundsUp = remainder > 0x1000 || (remainder == 0x1000 && truncated & 1 == 1)
        // A carry out of the mantissa correctly bumps the exponent, up to infinity (0x7C00).
        return sign | UInt16(truncatingIfNeeded: truncated + (roundsUp ? 1 : 0))
    }

    /// bfloat16 is the top half of a binary32, so widening is a shift.
    static func float(fromBFloat16Bits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float to bfloat16, rounding to nearest with ties to even; NaN stays NaN (quiet).
    static func bfloat16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN {
            return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// `value >> shift` rounded to nearest, ties to even; `shift` is 1...31.
    private static func roundShiftRight(_ value: UInt32, by shift: UInt32) -> UInt32 {
        let truncated = value >> shift
        let remainder = value & ((1 << shift) - 1)
        let halfway: UInt32 = 1 << (shift - 1)
        let roundsUp = remainder > halfway || (remainder == halfway && truncated & 1 == 1)
        return truncated + (roundsUp ? 1 : 0)
    }
}
