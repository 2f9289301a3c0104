#if arch(arm64) && KERNELS_DOTPROD
import _Builtin_intrinsics.arm.neon

// Build: this file alone, with `-Xcc -march=armv8.2-a+dotprod -DKERNELS_DOTPROD` (or
// `-Xfrontend -target-cpu -Xfrontend cortex-a76 -DKERNELS_DOTPROD`). Kernels calls it only when
// HWCAP reports ASIMDDP (Cortex-A76, Raspberry Pi 5; never the Pi 4's A72).
//
// It is exported under a C name and reached through a C declaration, not a Swift import: Embedded
// Swift serializes every function body into its importers, so an imported Swift function would be
// recompiled inside Kernels without the dot-product feature (LLVM: "Cannot select AArch64ISD::SDOT").

/// The int8 GEMM tile for ARMv8.2 dot product, XNNPACK's 4x16c4 scheme: acc[r][4q..<4q+4] +=
/// SDOT(W group columns 4q..<4q+4, A row r's 4 bytes broadcast). Exact int32 throughout.
///
/// The ARM microkernel contract (shared with Kernels' `int8GEMM2x8c8NEON`): accumulators start from
/// `bias`, take `depthGroups` steps of the depth group (here 4) and are written row-major to
/// `accumulators`, NR (16) per row; Kernels' `storeInt8Tile` is the one epilogue (Requantize.swift's
/// rule). Written to memory because this module is reached through C and cannot inline a Swift epilogue.
///
/// a: four rows of int8, `aStride` apart, depthGroups * 4 long (even group count, zero past K).
/// panel: one `.dotProduct` panel of `PackedInt8Weights` (16 Int32 biases, 16 Float scales, then per
/// group of 4 k the 16 columns' 4 bytes). bias: the panel's 16 folded biases (its first 64 bytes).
/// Sixteen accumulators, four weight vectors, four broadcast A vectors: 24 of 32 registers.
@_cdecl("edgedetr_int8_gemm_4x16c4_neondot")
public func int8GEMM4x16c4NEONDot(a: UnsafePointer<Int8>, aStride: Int, depthGroups: Int, panel: UnsafeRawPointer,
                                  bias: UnsafePointer<Int32>, accumulators: UnsafeMutablePointer<Int32>) {
    let biases = UnsafeRawPointer(bias)
    let bias0 = biases.loadUnaligned(as: SIMD4<Int32>.self)
    let bias1 = biases.loadUnaligned(fromByteOffset: 16, as: SIMD4<Int32>.self)
    let bias2 = biases.loadUnaligned(fromByteOffset: 32, as: SIMD4<Int32>.self)
    let bias3 = biases.loadUnaligned(fromByteOffset: 48, as: SIMD4<Int32>.self)
    var c00 = bias0, c01 = bias1, c02 = bias2, c03 = bias3
    var c10 = bias0, c11 = bias1, c12 = bias2, c13 = bias3
    var c20 = bias0, c21 = bias1, c22 = bias2, c23 = bias3
    var c30 = bias0, c31 = bias1, c32 = bias2, c33 = bias3
    var p0 = UnsafeRawPointer(a)
    var p1 = p0 + aStride, p2 = p0 + 2 &* aStride, p3 = p0 + 3 &* aStride
    var w = panel + 128
    var remaining = depthGroups
    @inline(__always) func broadcast(_ pointer: UnsafeRawPointer) -> SIMD16<Int8> {
        unsafeBitCast(SIMD4<Int32>(repeating: pointer.loadUnaligned(as: Int32.self)), to: SIMD16<Int8>.self)
    }
    while remaining > 0 {
        let b0 = w.loadUnaligned(as: SIMD16<Int8>.self)
        let b1 = w.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self)
        let b2 = w.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int8>.self)
        let b3 = w.loadUnaligned(fromByteOffset: 48, as: SIMD16<Int8>.self)
        var x = broadcast(p0)
        c00 = vdotq_s32(c00, b0, x); c01 = vdotq_s32(c01, b1, x); c02 = vdotq_s32(c02, b2, x); c03 = vdotq_s32(c03, b3, x)
        x = broadcast(p1)
        c10 = vdotq_s32(c10, b0, x); c11 = vdotq_s32(c11, b1, x); c12 = vdotq_s32(c12, b2, x); c13 = vdotq_s32(c13, b3, x)
        x = broadcast(p2)
        c20 = vdotq_s32(c20, b0, x); c21 = vdotq_s32(c21, b1, x); c22 = vdotq_s32(c22, b2, x); c23 = vdotq_s32(c23, b3, x)
        x = broadcast(p3)
        c30 = vdotq_s32(c30, b0, x); c31 = vdotq_s32(c31, b1, x); c32 = vdotq_s32(c32, b2, x); c33 = vdotq_s32(c33, b3, x)
        p0 += 4; p1 += 4; p2 += 4; p3 += 4
        w += 64
        remaining &-= 1
    }
    let out = UnsafeMutableRawPointer(accumulators)
    out.storeBytes(of: c00, toByteOffset: 0, as: SIMD4<Int32>.self); out.storeBytes(of: c01, toByteOffset: 16, as: SIMD4<Int32>.self)
    out.storeBytes(of: c02, toByteOffset: 32, as: SIMD4<Int32>.self); out.storeBytes(of: c03, toByteOffset: 48, as: SIMD4<Int32>.self)
    out.storeBytes(of: c10, toByteOffset: 64, as: SIMD4<Int32>.self); out.storeBytes(of: c11, toByteOffset: 80, as: SIMD4<Int32>.self)
    out.storeBytes(of: c12, toByteOffset: 96, as: SIMD4<Int32>.self); out.storeBytes(of: c13, toByteOffset: 112, as: SIMD4<Int32>.self)
    out.storeBytes(of: c20, toByteOffset: 128, as: SIMD4<Int32>.self); out.storeBytes(of: c21, toByteOffset: 144, as: SIMD4<Int32>.self)
    out.storeBytes(of: c22, toByteOffset: 160, as: SIMD4<Int32>.self); out.storeBytes(of: c23, toByteOffset: 176, as: SIMD4<Int32>.self)
    out.storeBytes(of: c30, toByteOffset: 192, as: SIMD4<Int32>.self); out.storeBytes(of: c31, toByteOffset: 208, as: SIMD4<Int32>.self)
    out.storeBytes(of: c32, toByteOffset: 224, as: SIMD4<Int32>.self); out.storeBytes(of: c33, toByteOffset: 240, as: SIMD4<Int32>.self)
}
#endif
