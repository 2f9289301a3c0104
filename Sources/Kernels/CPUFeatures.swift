import CLibc
#if arch(x86_64) && canImport(CCPUID)
import CCPUID
#endif

/// What the processor running this process offers, read once from the hardware: CPUID and XCR0 on
/// x86-64, the kernel's HWCAP bits on Linux ARM64. `KernelDispatch` picks kernels from it.
public struct CPUFeatures: Sendable, Equatable {
    /// x86-64: AVX2 (CPUID.7.0:EBX bit 5).
    public var avx2 = false
    /// x86-64: FMA3 (CPUID.1:ECX bit 12).
    public var fma = false
    /// x86-64: the OS saves the YMM registers on context switches (OSXSAVE, XCR0 bits 1 and 2).
    /// Without it AVX instructions fault even on a CPU that has them.
    public var osSavesYMM = false
    /// x86-64: AVX-VNNI, the VEX-encoded VPDPBUSD on YMM registers (CPUID.(7,1):EAX bit 4; Alder Lake
    /// and later cores, Intel N100, Sapphire Rapids, Zen 5).
    public var avxVNNI = false
    /// x86-64: AVX-512 F, BW, VL and VNNI (CPUID.(7,0): EBX bits 16, 30, 31, ECX bit 11; Ice Lake and
    /// later Xeons, Sapphire Rapids, Zen 4).
    public var avx512VNNI = false
    /// x86-64: the OS saves the opmask and ZMM registers (XCR0 bits 5, 6 and 7).
    public var osSavesZMM = false
    /// ARM64: Advanced SIMD (NEON), baseline on every ARMv8-A core.
    public var asimd = false
    /// ARM64: the SDOT/UDOT dot-product instructions (ARMv8.2 DotProd; Cortex-A76 and later, not A72).
    public var asimdDotProduct = false

    public init() {}

    /// AVX2 and FMA usable by this process: the CPU has both and the OS saves YMM state.
    public var hasAVX2FMA: Bool { avx2 && fma && osSavesYMM }

    /// AVX-VNNI usable by this process (it implies AVX2's register state).
    public var hasAVXVNNI: Bool { hasAVX2FMA && avxVNNI }

    /// AVX-512 VNNI usable by this process: the CPU has it and the OS saves ZMM state.
    public var hasAVX512VNNI: Bool { hasAVX2FMA && avx512VNNI && osSavesZMM }

    /// The features of this machine (queried once).
    public static let host: CPUFeatures = detect()

    /// Queries the hardware.
    public static func detect() -> CPUFeatures {
        var features = CPUFeatures()
        #if arch(x86_64) && canImport(CCPUID)
        let leaf1 = ccpuid_query(1, 0)
        let leaf7 = ccpuid_query(7, 0)
        features.fma = leaf1.ecx & (1 << 12) != 0
        features.avx2 = leaf7.ebx & (1 << 5) != 0
        features.avxVNNI = ccpuid_query(7, 1).eax & (1 << 4) != 0
        let avx512 = leaf7.ebx & (1 << 16) != 0 && leaf7.ebx & (1 << 30) != 0 && leaf7.ebx & (1 << 31) != 0
        features.avx512VNNI = avx512 && leaf7.ecx & (1 << 11) != 0
        let osxsave = leaf1.ecx & (1 << 27) != 0
        features.osSavesYMM = osxsave && ccpuid_xcr0() & 0b110 == 0b110
        features.osSavesZMM = osxsave && ccpuid_xcr0() & 0b1110_0110 == 0b1110_0110
        #elseif arch(arm64)
        features.asimd = true
        #if os(Linux) || EDGEDETR_LINUX
        // AT_HWCAP = 16; HWCAP_ASIMD = bit 1, HWCAP_ASIMDDP = bit 20 (linux/arch/arm64/include/uapi/asm/hwcap.h).
        let hwcap = getauxval(16)
        features.asimd = hwcap & (1 << 1) != 0
        features.asimdDotProduct = hwcap & (1 << 20) != 0
        #endif
        #endif
        return features
    }
}

/// Which implementation the float GEMM kernels (`linear`, `conv2d`, `multiHeadAttention`) run.
public enum KernelLevel: UInt8, Sendable, Comparable {
    /// The scalar references (`linearReference`, `conv2dReference`, `multiHeadAttentionReference`):
    /// slow, for tests and for checking a suspect result on a board.
    case scalar = 0
    /// The portable SIMD8 6x16 tile: NEON with fused multiply-add on ARM64, SSE2 (separate multiply
    /// and add) in a baseline x86-64 build.
    case simd = 1
    /// The 6x16 tile of KernelsAVX2, with AVX2 and FMA (x86-64 only).
    case avx2 = 2
    /// AVX2 for float, and the int8 GEMM on AVX-VNNI's VPDPBUSD (KernelsAVXVNNI; x86-64 only).
    case avxVNNI = 3
    /// AVX2 for float, and the int8 GEMM on AVX-512's VPDPBUSD over ZMM registers (KernelsAVX512VNNI).
    /// Not a superset of `avxVNNI`: a CPU may have either (Ice Lake and Zen 4 lack AVX-VNNI, Alder
    /// Lake lacks AVX-512), so requests are clamped to the highest level the CPU supports below them.
    case avx512VNNI = 4

    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rawValue < b.rawValue }

    public var name: StaticString {
        switch self {
        case .scalar: "scalar"
        case .simd: "simd"
        case .avx2: "avx2"
        case .avxVNNI: "avxvnni"
        case .avx512VNNI: "avx512vnni"
        }
    }
}

/// The runtime choice of kernels. By default the best level this CPU supports. Lowered for the
/// whole process by the environment variable `EDGEDETR_KERNELS=scalar|simd|avx2|avxvnni|avx512vnni` (read on first use)
/// or `force(_:)`, and for the calling thread by `withLevel(_:_:)` (tests run in parallel, so they
/// use that). A request above what the CPU supports is clamped: AVX2 code never runs without the
/// feature. Kernels read `current` once per call, on the calling thread, and hand it to their tasks.
public enum KernelDispatch {
    /// The best level the host CPU supports.
    public static var best: KernelLevel { clamped(.avx512VNNI) }

    /// Whether this CPU (and build) runs `level`. The three x86-64 kernel modules are built together
    /// (Package.swift), so one condition covers them; elsewhere only the portable levels exist.
    public static func supports(_ level: KernelLevel) -> Bool {
        #if arch(x86_64) && canImport(KernelsAVX2) && canImport(KernelsAVXVNNI) && canImport(KernelsAVX512VNNI)
        let features = CPUFeatures.host
        switch level {
        case .scalar, .simd: return true
        case .avx2: return features.hasAVX2FMA
        case .avxVNNI: return features.hasAVXVNNI
        case .avx512VNNI: return features.hasAVX512VNNI
        }
        #else
        return level <= .simd
        #endif
    }

    /// `level`, or the highest level below it this CPU supports.
    static func clamped(_ level: KernelLevel) -> KernelLevel {
        var chosen = level
        while !supports(chosen), let lower = KernelLevel(rawValue: chosen.rawValue - 1) { chosen = lower }
        return chosen
    }

    /// The level a kernel called now on this thread runs at.
    public static var current: KernelLevel {
        if let bits = pthread_getspecific(threadLevelKey), let level = KernelLevel(rawValue: UInt8(Int(bitPattern: bits) - 1)) {
            return level
        }
        if let level = KernelLevel(rawValue: processLevel) { return level }
        return force(environmentLevel())
    }

    /// Sets the process-wide level (clamped to what the CPU supports) and returns the level in use.
    /// Not synchronized with running kernels: call it between runs.
    @discardableResult
    public static func force(_ level: KernelLevel) -> KernelLevel {
        let chosen = clamped(level)
        processLevel = chosen.rawValue
        return chosen
    }

    /// Runs `body` with kernels called on this thread at `level` (clamped to what the CPU supports).
    public static func withLevel<Result, Failure: Error>(_ level: KernelLevel,
                                                         _ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        let previous = pthread_getspecific(threadLevelKey)
        pthread_setspecific(threadLevelKey, UnsafeRawPointer(bitPattern: Int(clamped(level).rawValue) + 1))
        defer { pthread_setspecific(threadLevelKey, previous) }
        return try body()
    }

    /// `EDGEDETR_KERNELS` as a level (clamped later), `best` when unset; a warning on stderr when unknown.
    static func environmentLevel() -> KernelLevel {
        guard let value = getenv("EDGEDETR_KERNELS") else { return best }
        if let level = KernelLevel(cString: value) { return level }
        let warning: StaticString = "edgedetr: ignoring EDGEDETR_KERNELS (expected scalar, simd, avx2, avxvnni or avx512vnni)\n"
        _ = write(2, warning.utf8Start, warning.utf8CodeUnitCount)
        return best
    }
}

extension KernelLevel {
    /// The level named `scalar`, `simd`, `avx2`, `avxvnni` or `avx512vnni` (the values of `EDGEDETR_KERNELS`).
    public init?(cString: UnsafePointer<CChar>) {
        for level in [KernelLevel.scalar, .simd, .avx2, .avxVNNI, .avx512VNNI] where strcmp(cString, UnsafeRawPointer(level.name.utf8Start)
            .assumingMemoryBound(to: CChar.self)) == 0 {
            self = level
            return
        }
        return nil
    }
}

/// The process-wide `KernelLevel`, or 0xFF before first use. A constant-initialized global (no
/// lazy-initialization check); racing first uses all write the same value.
nonisolated(unsafe) private var processLevel: UInt8 = 0xFF

/// Per-thread override set by `KernelDispatch.withLevel`: level + 1 stored as the pointer's bits.
private let threadLevelKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()
