#if arch(arm64)
import _Builtin_intrinsics.arm.neon

/// The int8 GEMM tile for ARMv8 NEON without dot product (Cortex-A72, Raspberry Pi 4), XNNPACK's
/// 2x8c8 scheme: for each row and column, SMULL multiplies 8 int8 pairs into int16, SMLAL adds
/// the next 8 products, SADALP adds the int16 pairs into 4 int32 lanes. Exact: weights lie in
/// [-127, 127], so |a*w + a'*w'| <= 2 * 128 * 127 = 32512 fits int16.
///
/// The ARM microkernel contract (KernelsDotProduct's `int8GEMM4x16c4NEONDot` has the same): the
/// accumulators start from `bias` (8 entries), take `depthGroups` steps of the depth group (here 8,
/// two groups per loop step) and are written row-major to `accumulators`, NR (8) per row, for
/// `storeInt8Tile`, the one ARM epilogue.
///
/// a: two rows of int8 (`aStride` apart), `depthGroups` * 8 long (even group count), zero past K.
/// panel: one `.neon` panel (8 Int32 biases, 8 Float scales, groups of 8 x 8 bytes).
/// Sixteen accumulators (2 rows x 8 columns x 4 lanes) reduced with ADDP at the end.
@inline(never)
func int8GEMM2x8c8NEON(a: UnsafePointer<Int8>, aStride: Int, depthGroups: Int, panel: UnsafeRawPointer,
                       bias: UnsafePointer<Int32>, accumulators: UnsafeMutablePointer<Int32>) {
    var r0 = (SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(),
              SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>())
    var r1 = r0
    var a0 = UnsafeRawPointer(a)
    var a1 = UnsafeRawPointer(a + aStride)
    var w = panel + 64
    var group = 0
    while group < depthGroups {
        let x0 = a0.loadUnaligned(as: SIMD16<Int8>.self)
        let x1 = a1.loadUnaligned(as: SIMD16<Int8>.self)
        let x0Low = x0.lowHalf, x0High = x0.highHalf, x1Low = x1.lowHalf, x1High = x1.highHalf
        @inline(__always) func column(_ c: Int, _ acc0: inout SIMD4<Int32>, _ acc1: inout SIMD4<Int32>) {
            let bLow = w.loadUnaligned(fromByteOffset: 8 &* c, as: SIMD8<Int8>.self)
            let bHigh = w.loadUnaligned(fromByteOffset: 64 &+ 8 &* c, as: SIMD8<Int8>.self)
            acc0 = vpadalq_s16(acc0, vmlal_s8(vmull_s8(x0Low, bLow), x0High, bHigh))
            acc1 = vpadalq_s16(acc1, vmlal_s8(vmull_s8(x1Low, bLow), x1High, bHigh))
        }
        column(0, &r0.0, &r1.0); column(1, &r0.1, &r1.1); column(2, &r0.2, &r1.2); column(3, &r0.3, &r1.3)
        column(4, &r0.4, &r1.4); column(5, &r0.5, &r1.5); column(6, &r0.6, &r1.6); column(7, &r0.7, &r1.7)
        a0 += 16; a1 += 16
        w += 128
        group &+= 2
    }
    let bias0 = UnsafeRawPointer(bias).loadUnaligned(as: SIMD4<Int32>.self)
    let bias1 = UnsafeRawPointer(bias).loadUnaligned(fromByteOffset: 16, as: SIMD4<Int32>.self)
    let out = UnsafeMutableRawPointer(accumulators)
    out.storeBytes(of: vpaddq_s32(vpaddq_s32(r0.0, r0.1), vpaddq_s32(r0.2, r0.3)) &+ bias0, as: SIMD4<Int32>.self)
    out.storeBytes(of: vpaddq_s32(vpaddq_s32(r0.4, r0.5), vpaddq_s32(r0.6, r0.7)) &+ bias1, toByteOffset: 16, as: SIMD4<Int32>.self)
    out.storeBytes(of: vpaddq_s32(vpaddq_s32(r1.0, r1.1), vpaddq_s32(r1.2, r1.3)) &+ bias0, toByteOffset: 32, as: SIMD4<Int32>.self)
    out.storeBytes(of: vpaddq_s32(vpaddq_s32(r1.4, r1.5), vpaddq_s32(r1.6, r1.7)) &+ bias1, toByteOffset: 48, as: SIMD4<Int32>.self)
}
#endif
