// Detections as text, written byte for byte alike by the host CLI (`edgedetr detect`) and the device
// runner (`edgedetr-run`), so that a board's output can be compared with `cmp`:
//   text: `path<TAB>label<TAB>score<TAB>x0 y0 x1 y1`, score as printf's %.3f, corners as %.1f;
//   JSON: the COCO results array as Foundation's JSONSerialization writes it with
//         [.prettyPrinted, .sortedKeys] (two-space indent, `"key" : value`, `/` escaped, whole
//         doubles without ".0").
// Embedded Swift has no String(format:) and no JSONSerialization, so both are rebuilt here, libc only.

/// One detection as `edgedetr detect` prints it.
public func detectionLine(imagePath: String, label: String, _ detection: Detection) -> String {
    let corners = [detection.x0, detection.y0, detection.x1, detection.y1].map { printfFixed($0, decimals: 1) }
    return "\(imagePath)\t\(label)\t\(printfFixed(detection.score, decimals: 3))\t"
        + "\(corners[0]) \(corners[1]) \(corners[2]) \(corners[3])"
}

/// Detections in COCO results format, as `edgedetr detect --json` and `edgedetr-run --json` write
/// them, each detection with the image it was found in: bbox is (x, y, width, height), each number
/// the Float widened to Double; keys sorted.
public func cocoResultsJSON(_ results: [(imageID: Int, fileName: String, detection: Detection)]) -> String {
    guard !results.isEmpty else { return "[\n\n]" }
    var text = "[\n"
    for (index, result) in results.enumerated() {
        let detection = result.detection
        let box = [detection.x0, detection.y0, detection.x1 - detection.x0, detection.y1 - detection.y0]
        text += "  {\n    \"bbox\" : [\n"
        for (corner, value) in box.enumerated() {
            text += "      " + JSONText.number(Double(value)) + (corner < 3 ? ",\n" : "\n")
        }
        text += "    ],\n"
        text += "    \"category_id\" : \(detection.label),\n"
        text += "    \"file_name\" : " + JSONText.string(result.fileName) + ",\n"
        text += "    \"image_id\" : \(result.imageID),\n"
        text += "    \"score\" : " + JSONText.number(Double(detection.score)) + "\n"
        text += index < results.count - 1 ? "  },\n" : "  }\n"
    }
    return text + "]"
}

/// One frame of a stream as a JSON Lines record, as `edgedetr detect` and `edgedetr-run` write it with
/// `--json` on a stream: one line, no spaces, keys sorted; each detection with its COCO `bbox`
/// (x, y, width, height, as `cocoResultsJSON` writes it), `category_id`, `label` name and `score`.
/// `{"detections":[{"bbox":[12.5,3,40,20],"category_id":1,"label":"star","score":0.91}],"frame":0}`
public func frameJSONLine(frame: Int, detections: [Detection], labelName: (Int) -> String) -> String {
    var text = "{\"detections\":["
    for (index, detection) in detections.enumerated() {
        let box = [detection.x0, detection.y0, detection.x1 - detection.x0, detection.y1 - detection.y0]
        text += index == 0 ? "{\"bbox\":[" : ",{\"bbox\":["
        for (corner, value) in box.enumerated() { text += (corner == 0 ? "" : ",") + JSONText.number(Double(value)) }
        text += "],\"category_id\":\(detection.label),\"label\":" + JSONText.string(labelName(detection.label))
        text += ",\"score\":" + JSONText.number(Double(detection.score)) + "}"
    }
    return text + "],\"frame\":\(frame)}"
}

/// JSON text as JSONSerialization writes it, for the writers that cannot use Foundation (the device
/// runner) or must match it byte for byte (the COCO results of `detect` and `edgedetr-run`).
public enum JSONText {
    /// A Double as JSONSerialization writes it: Swift's shortest round-trip `description`, without a
    /// trailing ".0" (12.5, 100, -0, 1.0000000116860974e-07). Not finite: JSONSerialization refuses
    /// the value; here it is written as `null` so the rest stays readable.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        var text = "\(value)"
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    /// A string as JSONSerialization writes it: quoted; `"`, `\` and `/` escaped (`/` only when
    /// `escapingSlash`: files meant to be read, such as a dataset's, keep paths readable); \b \f \n \r
    /// \t by name; other control characters as \u00xx (lowercase hex); everything else as UTF-8.
    public static func string(_ text: String, escapingSlash: Bool = true) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "/" where escapingSlash: result += "\\/"
            case "\u{8}": result += "\\b"
            case "\u{c}": result += "\\f"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let digits = "0123456789abcdef".unicodeScalars.map { $0 }
                    result += "\\u00"
                    result.unicodeScalars.append(digits[Int(scalar.value >> 4)])
                    result.unicodeScalars.append(digits[Int(scalar.value & 15)])
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}

/// `value` exactly as C's printf("%.<decimals>f") prints it (and so Foundation's
/// String(format:) on Linux): the exact binary value rounded to `decimals` places, ties to even,
/// a minus sign whenever the sign bit is set ("-0.0" for -0.01). `decimals` at most 6.
///
/// A Float is m * 2^e with m < 2^24, so value * 10^decimals = m * 10^decimals * 2^e is an integer
/// shifted by e: rounding it needs no floating point at all.
public func printfFixed(_ value: Float, decimals: Int) -> String {
    precondition((0...6).contains(decimals))
    let sign = value.sign == .minus ? "-" : ""
    if value.isNaN { return sign + "nan" }
    if value.isInfinite { return sign + "inf" }
    var powerOfTen: UInt64 = 1
    for _ in 0..<decimals { powerOfTen *= 10 }
    let exponentBits = Int(value.exponentBitPattern)
    let significand = UInt64(value.significandBitPattern) | (exponentBits == 0 ? 0 : 1 << 23)
    // value = significand * 2^exponent; subnormals share the smallest normal exponent.
    let exponent = max(exponentBits, 1) - 127 - 23
    let numerator = significand * powerOfTen  // < 2^24 * 10^6 < 2^44
    var digits: [UInt8]  // decimal digits of round(|value| * 10^decimals), most significant first
    if exponent >= 0 {
        digits = decimalDigits(numerator)
        for _ in 0..<exponent { doubleDecimal(&digits) }
    } else {
        let shift = -exponent
        var rounded: UInt64 = 0
        if shift < 64 {
            let quotient = numerator >> UInt64(shift)
            let remainder = numerator & ((1 << UInt64(shift)) - 1)
            let half: UInt64 = 1 << UInt64(shift - 1)
            rounded = quotient
            if remainder > half || (remainder == half && quotient & 1 == 1) { rounded += 1 }
        }  // else numerator < 2^44 <= 2^(shift-1): less than half, rounds to 0
        digits = decimalDigits(rounded)
    }
    while digits.count < decimals + 1 { digits.insert(0, at: 0) }
    var text = sign
    for (index, digit) in digits.enumerated() {
        if index == digits.count - decimals { text += "." }
        text.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "0") + digit))
    }
    return text
}

/// The decimal digits of `value`, most significant first ([0] for 0).
private func decimalDigits(_ value: UInt64) -> [UInt8] {
    var digits: [UInt8] = []
    var rest = value
    repeat {
        digits.insert(UInt8(rest % 10), at: 0)
        rest /= 10
    } while rest > 0
    return digits
}

/// Doubles a decimal number held as digits (for floats above 2^24, whose values are whole).
private func doubleDecimal(_ digits: inout [UInt8]) {
    var carry: UInt8 = 0
    for index in stride(from: digits.count - 1, through: 0, by: -1) {
        let doubled = digits[index] * 2 + carry
        digits[index] = doubled % 10
        carry = doubled / 10
    }
    if carry > 0 { digits.insert(carry, at: 0) }
}
