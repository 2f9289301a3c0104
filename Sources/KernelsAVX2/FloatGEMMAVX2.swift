#if arch(x86_64)
/// The float GEMM tile of Kernels (FloatGEMM.swift) compiled for AVX2 + FMA. This module is built with
/// `-Xcc -mavx2 -Xcc -mfma`, so every function in it may execute AVX2 and FMA instructions: Kernels
/// calls it only after `CPUFeatures` has found both and the OS saving YMM state (`KernelDispatch`).
///
/// Keep this module small and concrete (raw pointers and SIMD8<Float> only, no generics, nothing
/// `@inlinable`): any code it shares with other modules would be compiled here with AVX2 and could
/// be picked by the linker for the baseline path too. `@inline(never)` keeps cross-module
/// optimization from copying the bodies into Kernels, where they would lose the AVX2 codegen.

@inline(__always)
private func load(_ pointer: UnsafeRawPointer, _ floatOffset: Int) -> SIMD8<Float> {
    pointer.loadUnaligned(fromByteOffset: floatOffset &* 4, as: SIMD8<Float>.self)
}

@inline(__always)
private func store(_ vector: SIMD8<Float>, _ pointer: UnsafeMutableRawPointer, _ floatOffset: Int) {
    pointer.storeBytes(of: vector, toByteOffset: floatOffset &* 4, as: SIMD8<Float>.self)
}

/// C[6, 16] += A[6, depth] * B[depth, 16] with one fused multiply-add chain per element, in k order.
///
/// Row r of A starts at `aR` and steps by `aStep` floats per k; row k of B is the 16 floats at
/// `b + k * bStep` (16 for a packed panel). `tile` holds C as 6 rows of 16 floats (384 bytes, any
/// alignment): it is read first and written back at the end, so a depth can be split across calls.
/// Twelve YMM accumulators, two B vectors and one broadcast: 15 of AVX2's 16 registers.
@inline(never)
public func floatGEMM6x16AVX2(_ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ a2: UnsafePointer<Float>,
                              _ a3: UnsafePointer<Float>, _ a4: UnsafePointer<Float>, _ a5: UnsafePointer<Float>,
                              aStep: Int, b: UnsafePointer<Float>, bStep: Int, depth: Int,
                              tile: UnsafeMutableRawPointer) {
    var c00 = load(tile, 0), c01 = load(tile, 8), c10 = load(tile, 16), c11 = load(tile, 24)
    var c20 = load(tile, 32), c21 = load(tile, 40), c30 = load(tile, 48), c31 = load(tile, 56)
    var c40 = load(tile, 64), c41 = load(tile, 72), c50 = load(tile, 80), c51 = load(tile, 88)
    var p0 = a0, p1 = a1, p2 = a2, p3 = a3, p4 = a4, p5 = a5
    var bRow = UnsafeRawPointer(b)
    let bStepBytes = bStep &* 4
    var remaining = depth
    while remaining > 0 {
        let b0 = load(bRow, 0)
        let b1 = load(bRow, 8)
        var a = SIMD8<Float>(repeating: p0.pointee)
        c00 = c00.addingProduct(a, b0); c01 = c01.addingProduct(a, b1)
        a = SIMD8<Float>(repeating: p1.pointee)
        c10 = c10.addingProduct(a, b0); c11 = c11.addingProduct(a, b1)
        a = SIMD8<Float>(repeating: p2.pointee)
        c20 = c20.addingProduct(a, b0); c21 = c21.addingProduct(a, b1)
        a = SIMD8<Float>(repeating: p3.pointee)
        c30 = c30.addingProduct(a, b0); c31 = c31.addingProduct(a, b1)
        a = SIMD8<Float>(repeating: p4.pointee)
        c40 = c40.addingProduct(a, b0); c41 = c41.addingProduct(a, b1)
        a = SIMD8<Float>(repeating: p5.pointee)
        c50 = c50.addingProduct(a, b0); c51 = c51.addingProduct(a, b1)
        p0 += aStep; p1 += aStep; p2 += aStep; p3 += aStep; p4 += aStep; p5 += aStep
        bRow += bStepBytes
        remaining &-= 1
    }
    store(c00, tile, 0); store(c01, tile, 8); store(c10, tile, 16); store(c11, tile, 24)
    store(c20, tile, 32); store(c21, tile, 40); store(c30, tile, 48); store(c31, tile, 56)
    store(c40, tile, 64); store(c41, tile, 72); store(c50, tile, 80); store(c51, tile, 88)
}
#endif
