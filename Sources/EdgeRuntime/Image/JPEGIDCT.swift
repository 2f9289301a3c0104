/// libjpeg's "islow" inverse DCT (jidctint.c, `jpeg_idct_islow`), the one PIL uses by default,
/// reproduced operation for operation so that decoded samples match libjpeg-turbo exactly.
///
/// It is the Loeffler-Ligtenberg-Moschytz algorithm in 13-bit fixed point: columns first, kept
/// with 2 extra fraction bits (`passOneBits`), then rows, descaled by 2^(13 + 2 + 3) with
/// rounding. The result goes through libjpeg's range-limit table, reproduced by `rangeLimit`.

private let constantBits = 13
private let passOneBits = 2

// The constants of jidctint.c: FIX(x) = round(x * 2^13).
private let fix0_298631336 = 2446
private let fix0_390180644 = 3196
private let fix0_541196100 = 4433
private let fix0_765366865 = 6270
private let fix0_899976223 = 7373
private let fix1_175875602 = 9633
private let fix1_501321110 = 12299
private let fix1_847759065 = 15137
private let fix1_961570560 = 16069
private let fix2_053119869 = 16819
private let fix2_562915447 = 20995
private let fix3_072711026 = 25172

/// libjpeg's DESCALE: divide by 2^bits, rounding half up, with an arithmetic shift.
@inline(__always)
private func descale(_ value: Int, _ bits: Int) -> Int {
    (value + (1 << (bits - 1))) >> bits
}

/// libjpeg's post-IDCT range limit: `sample_range_limit[CENTERJSAMPLE + (x & 1023)]`.
///
/// In-range values are shifted by 128 and clamped to 0...255 as expected; the table also wraps
/// modulo 1024, which only corrupt data ever reaches, and that is reproduced too.
@inline(__always)
private func rangeLimit(_ value: Int) -> UInt8 {
    let index = value & 1023
    if index < 128 { return UInt8(index + 128) }
    if index < 512 { return 255 }
    if index < 896 { return 0 }
    return UInt8(index - 896)
}

/// Dequantizes and inverse-transforms one block.
///
/// - Parameters:
///   - coefficients: 64 quantized coefficients in natural (row-major) order.
///   - quantization: the 64 quantization steps in natural order.
///   - output: the component plane; the 8x8 result is written at `offset` with row `stride`.
func inverseDCTIslow(
    _ coefficients: [Int], quantization: [Int], workspace: inout [Int],
    output: inout [UInt8], offset: Int, stride: Int
) {
    // Pass 1: columns, from the dequantized coefficients into the workspace.
    for column in 0..<8 {
        if coefficients[8 + column] == 0 && coefficients[16 + column] == 0 && coefficients[24 + column] == 0
            && coefficients[32 + column] == 0 && coefficients[40 + column] == 0 && coefficients[48 + column] == 0
            && coefficients[56 + column] == 0
        {
            // AC terms all zero: the same result as the full computation, as in libjpeg.
            let dc = (coefficients[column] * quantization[column]) << passOneBits
            for row in 0..<8 { workspace[row * 8 + column] = dc }
            continue
        }
        let c0 = coefficients[column] * quantization[column]
        let c1 = coefficients[8 + column] * quantization[8 + column]
        let c2 = coefficients[16 + column] * quantization[16 + column]
        let c3 = coefficients[24 + column] * quantization[24 + column]
        let c4 = coefficients[32 + column] * quantization[32 + column]
        let c5 = coefficients[40 + column] * quantization[40 + column]
        let c6 = coefficients[48 + column] * quantization[48 + column]
        let c7 = coefficients[56 + column] * quantization[56 + column]
        let (tmp10, tmp11, tmp12, tmp13) = evenPart(c0, c2, c4, c6)
        let (tmp0, tmp1, tmp2, tmp3) = oddPart(c7, c5, c3, c1)

        let shift = constantBits - passOneBits
        workspace[0 * 8 + column] = descale(tmp10 + tmp3, shift)
        workspace[7 * 8 + column] = descale(tmp10 - tmp3, shift)
        workspace[1 * 8 + column] = descale(tmp11 + tmp2, shift)
        workspace[6 * 8 + column] = descale(tmp11 - tmp2, shift)
        workspace[2 * 8 + column] = descale(tmp12 + tmp1, shift)
        workspace[5 * 8 + column] = descale(tmp12 - tmp1, shift)
        workspace[3 * 8 + column] = descale(tmp13 + tmp0, shift)
        workspace[4 * 8 + column] = descale(tmp13 - tmp0, shift)
    }

    // Pass 2: rows, from the workspace into the samples.
    let shift = constantBits + passOneBits + 3
    for row in 0..<8 {
        let w = row * 8
        let out = offset + row * stride
        if workspace[w + 1] == 0 && workspace[w + 2] == 0 && workspace[w + 3] == 0 && workspace[w + 4] == 0
            && workspace[w + 5] == 0 && workspace[w + 6] == 0 && workspace[w + 7] == 0
        {
            let value = rangeLimit(descale(workspace[w], passOneBits + 3))
            for column in 0..<8 { output[out + column] = value }
            continue
        }
        let (tmp10, tmp11, tmp12, tmp13) = evenPart(workspace[w], workspace[w + 2], workspace[w + 4], workspace[w + 6])
        let (tmp0, tmp1, tmp2, tmp3) = oddPart(workspace[w + 7], workspace[w + 5], workspace[w + 3], workspace[w + 1])

        output[out + 0] = rangeLimit(descale(tmp10 + tmp3, shift))
        output[out + 7] = rangeLimit(descale(tmp10 - tmp3, shift))
        output[out + 1] = rangeLimit(descale(tmp11 + tmp2, shift))
        output[out + 6] = rangeLimit(descale(tmp11 - tmp2, shift))
        output[out + 2] = rangeLimit(descale(tmp12 + tmp1, shift))
        output[out + 5] = rangeLimit(descale(tmp12 - tmp1, shift))
        output[out + 3] = rangeLimit(descale(tmp13 + tmp0, shift))
        output[out + 4] = rangeLimit(descale(tmp13 - tmp0, shift))
    }
}

/// The even part of jidctint.c, shared by both passes: inputs 0, 2, 4, 6; outputs libjpeg's
/// tmp10, tmp11, tmp12, tmp13.
@inline(__always)
private func evenPart(_ in0: Int, _ in2: Int, _ in4: Int, _ in6: Int) -> (Int, Int, Int, Int) {
    let z1 = (in2 + in6) * fix0_541196100
    let tmp2 = z1 + in6 * -fix1_847759065
    let tmp3 = z1 + in2 * fix0_765366865
    let tmp0 = (in0 + in4) << constantBits
    let tmp1 = (in0 - in4) << constantBits
    return (tmp0 + tmp3, tmp1 + tmp2, tmp1 - tmp2, tmp0 - tmp3)
}

/// The odd part of jidctint.c (its "figure 8"), shared by both passes. The inputs are the
/// coefficients of rows or columns 7, 5, 3 and 1; the outputs are libjpeg's tmp0...tmp3.
@inline(__always)
private func oddPart(_ in7: Int, _ in5: Int, _ in3: Int, _ in1: Int) -> (Int, Int, Int, Int) {
    var z1 = in7 + in1
    var z2 = in5 + in3
    var z3 = in7 + in3
    var z4 = in5 + in1
    let z5 = (z3 + z4) * fix1_175875602

    var tmp0 = in7 * fix0_298631336
    var tmp1 = in5 * fix2_053119869
    var tmp2 = in3 * fix3_072711026
    var tmp3 = in1 * fix1_501321110
    z1 = z1 * -fix0_899976223
    z2 = z2 * -fix2_562915447
    z3 = z3 * -fix1_961570560
    z4 = z4 * -fix0_390180644

    z3 += z5
    z4 += z5
    tmp0 += z1 + z3
    tmp1 += z2 + z4
    tmp2 += z2 + z3
    tmp3 += z1 + z4
    return (tmp0, tmp1, tmp2, tmp3)
}
