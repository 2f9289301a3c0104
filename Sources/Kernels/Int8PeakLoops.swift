#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif
#if arch(x86_64) && canImport(KernelsAVXVNNI)
import KernelsAVXVNNI
#endif
#if arch(x86_64) && canImport(KernelsAVX512VNNI)
import KernelsAVX512VNNI
#endif

/// Loops for `edgedetr bench-kernels`: the machine's peak multiply-accumulates per second on one
/// core (register-only), to quote kernel speeds as a fraction of it, and on AVX2 the two int8
/// ceilings that say what bounds the int8 GEMM. The int8 loops follow the dispatch level: at
/// `.avxVNNI` and `.avx512VNNI` they run the instruction of that level's int8 tile, VPDPBUSD on YMM or ZMM.
public enum Int8PeakLoops {
    /// The register width the loops run at the current dispatch level.
    private enum Width { case zmm, ymmVNNI, ymm, portable }

    private static var width: Width {
        #if arch(x86_64) && canImport(KernelsAVX512VNNI)
        if KernelDispatch.current == .avx512VNNI { return .zmm }
        #endif
        #if arch(x86_64) && canImport(KernelsAVXVNNI)
        if KernelDispatch.current == .avxVNNI { return .ymmVNNI }
        #endif
        #if arch(x86_64) && canImport(KernelsAVX2)
        if CPUFeatures.host.hasAVX2FMA { return .ymm }
        #endif
        return .portable
    }

    /// MACs one iteration of `int8(iterations:)` performs.
    public static var int8MACsPerIteration: Int {
        switch width {
        case .zmm: 768
        case .ymmVNNI: 384
        case .ymm: 128
        case .portable: 64
        }
    }

    /// MACs one iteration of `float(iterations:)` performs (the AVX-VNNI level's fp32 loop is AVX2's).
    public static var floatMACsPerIteration: Int {
        switch width {
        case .zmm: 160
        case .ymmVNNI, .ymm: 80
        case .portable: 64
        }
    }

    /// int8 peak loop: VPDPBUSD chains at the AVX-VNNI level, vpmaddwd chains on AVX2; elsewhere
    /// eight chains of widening int16 SIMD8 multiply-adds (SMLAL on NEON). Returns a value to keep the
    /// loop alive.
    @inline(never)
    public static func int8(iterations: Int, seed: Int32) -> Int32 {
        #if arch(x86_64) && canImport(KernelsAVX2) && canImport(KernelsAVXVNNI) && canImport(KernelsAVX512VNNI)
        switch width {
        case .zmm: return int8PeakLoopAVX512VNNI(iterations: iterations, seed: seed)
        case .ymmVNNI: return int8PeakLoopAVXVNNI(iterations: iterations, seed: seed)
        case .ymm: return int8PeakLoopAVX2(iterations: iterations, seed: seed)
        case .portable: break
        }
        #endif
        let b = SIMD8<Int32>(repeating: seed | 1)
        var c = (SIMD8<Int32>(repeating: seed), SIMD8<Int32>(repeating: 1), SIMD8<Int32>(repeating: 2), SIMD8<Int32>(repeating: 3),
                 SIMD8<Int32>(repeating: 4), SIMD8<Int32>(repeating: 5), SIMD8<Int32>(repeating: 6), SIMD8<Int32>(repeating: 7))
        for _ in 0..<max(iterations, 0) {
            @inline(__always) func step(_ x: SIMD8<Int32>) -> SIMD8<Int32> {
                x &+ SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int16>(truncatingIfNeeded: x)) &* b
            }
            c = (step(c.0), step(c.1), step(c.2), step(c.3), step(c.4), step(c.5), step(c.6), step(c.7))
        }
        return (c.0 &+ c.1 &+ c.2 &+ c.3 &+ c.4 &+ c.5 &+ c.6 &+ c.7).wrappedSum()
    }

    /// Two loops that bracket `int8` on AVX2, to say what bounds the int8 GEMM.
    public enum Ceiling: Sendable {
        /// vpmaddwd alone: the multiplier's own rate, which no exact GEMM reaches (every product
        /// also needs a vpaddd).
        case multiplyOnly
        /// One vpmaddwd + one vpaddd per 16 MACs with the multiplier read from L1: the GEMM tile's
        /// own instruction mix, its ceiling.
        case multiplyAccumulateFromL1
    }

    /// Whether `int8(_:iterations:seed:)` has loops here (the int8 route is AVX2's vpmaddwd; the
    /// AVX-VNNI tile's ceiling is its peak loop itself).
    public static var hasInt8Ceilings: Bool {
        #if arch(x86_64) && canImport(KernelsAVX2)
        return KernelDispatch.current == .avx2
        #else
        return false
        #endif
    }

    /// Runs `ceiling`'s loop (128 MACs per iteration); nil where the int8 route is not AVX2's.
    @inline(never)
    public static func int8(_ ceiling: Ceiling, iterations: Int, seed: Int32) -> Int32? {
        #if arch(x86_64) && canImport(KernelsAVX2)
        if CPUFeatures.host.hasAVX2FMA {
            switch ceiling {
            case .multiplyOnly: return int8MultiplyPeakLoopAVX2(iterations: iterations, seed: seed)
            case .multiplyAccumulateFromL1: return int8MultiplyAccumulatePeakLoopAVX2(iterations: iterations, seed: seed)
            }
        }
        #endif
        return nil
    }

    /// fp32 peak loop: FMA chains on ZMM at the AVX-512 level, on YMM with AVX2; elsewhere eight SIMD8
    /// multiply-add chains.
    @inline(never)
    public static func float(iterations: Int, seed: Float) -> Float {
        #if arch(x86_64) && canImport(KernelsAVX2) && canImport(KernelsAVX512VNNI)
        switch width {
        case .zmm: return floatPeakLoopAVX512(iterations: iterations, seed: seed)
        case .ymmVNNI, .ymm: return floatPeakLoopAVX2(iterations: iterations, seed: seed)
        case .portable: break
        }
        #endif
        let b = SIMD8<Float>(repeating: 0.9999), d = SIMD8<Float>(repeating: seed * 1e-4)
        var c = (SIMD8<Float>(repeating: seed), SIMD8<Float>(repeating: 1), SIMD8<Float>(repeating: 2), SIMD8<Float>(repeating: 3),
                 SIMD8<Float>(repeating: 4), SIMD8<Float>(repeating: 5), SIMD8<Float>(repeating: 6), SIMD8<Float>(repeating: 7))
        for _ in 0..<max(iterations, 0) {
            c = (multiplyAdd(d, c.0, b), multiplyAdd(d, c.1, b), multiplyAdd(d, c.2, b), multiplyAdd(d, c.3, b),
                 multiplyAdd(d, c.4, b), multiplyAdd(d, c.5, b), multiplyAdd(d, c.6, b), multiplyAdd(d, c.7, b))
        }
        return (c.0 + c.1 + c.2 + c.3 + c.4 + c.5 + c.6 + c.7).sum()
    }
}
