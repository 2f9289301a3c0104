/// Clamps every value into [minimum, maximum] (PyTorch `clamp`; NaN stays NaN).
public func clamp(_ input: UnsafePointer<Float>, count: Int, minimum: Float, maximum: Float, output: UnsafeMutablePointer<Float>) {
    for index in 0..<max(count, 0) {
        let value = input[index]
        output[index] = value < minimum ? minimum : (value > maximum ? maximum : value)
    }
}

/// Clamps every int8 code into [minimum, maximum]: on a quantized map, the clamp of the real values to
/// [a, b] keeps the map's scale and zero point and is the clamp of the codes to [q(a), q(b)] (rounding is
/// monotone, so a code below q(a) has a real value below a, and q(a) itself rounds from a).
public func clamp(_ input: UnsafePointer<Int8>, count: Int, minimum: Int8, maximum: Int8, output: UnsafeMutablePointer<Int8>) {
    for index in 0..<max(count, 0) {
        let code = input[index]
        output[index] = code < minimum ? minimum : (code > maximum ? maximum : code)
    }
}
