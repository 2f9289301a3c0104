import CLibc
import Kernels

// edgedetr-selftest: every kernel's fast path against its scalar reference on randomized shapes
// (tile edges, M = 1, odd K, empty), on the machine it runs on. One line per kernel:
//   PASS linear  simd (NEON 6x16)  31 shapes  max error 2.3841858e-07  (FMA-order bound)
// then `selftest: all N kernels pass` or the failures; exit status 1 on any failure.
// `--seed N` picks other random shapes (the seed is printed so that a failure can be replayed).

@_cdecl("main")
func edgeDeviceSelfTestMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var seed: UInt64 = 20_240_601
    let arguments = commandLineArguments(argc, argv)
    var index = 0
    while index < arguments.count {
        if arguments[index] == "--seed", index + 1 < arguments.count, let value = UInt64(arguments[index + 1]) {
            seed = value
            index += 2
        } else {
            printError("Error: unknown argument '\(arguments[index])'")
            printError("Usage: edgedetr-selftest [--seed N]")
            return 64
        }
    }
    printMachine()
    print("seed \(seed)")
    var suite = SelfTestSuite(seed: seed)
    checkLinear(&suite)
    checkConv2D(&suite)
    checkAttention(&suite)
    checkDeformableAttention(&suite)
    checkUpsampleNearest(&suite)
    checkAveragePool(&suite)
    checkDepthwiseConvolution(&suite)
    checkNormalization(&suite)
    checkElementwise(&suite)
    checkNormalizationPaths(&suite)
    checkInt8Normalization(&suite)
    #if EDGEDETR_INT8_KERNELS
    checkInt8Linear(&suite)
    #endif
    return suite.finish()
}

/// The architecture, what the hardware reports, what Kernels concluded, and the paths it takes.
private func printMachine() {
    let features = CPUFeatures.host
    print("arch \(compiledArchitecture)")
    #if arch(arm64)
    // AT_HWCAP = 16: bit 1 ASIMD, bit 20 ASIMDDP (linux/arch/arm64/include/uapi/asm/hwcap.h).
    let hwcap = getauxval(16)
    let hardwareDotProduct = hwcap & (1 << 20) != 0
    print("cpu  HWCAP asimd \(yesNo(hwcap & (1 << 1) != 0)), asimddp \(yesNo(hardwareDotProduct)); "
        + "Kernels sees asimd \(yesNo(features.asimd)), dot product \(yesNo(features.asimdDotProduct))")
    if hardwareDotProduct != features.asimdDotProduct {
        print("WARN CPUFeatures.asimdDotProduct disagrees with HWCAP: the dot-product kernels will not be chosen")
    }
    #else
    print("cpu  AVX2 \(yesNo(features.avx2)), FMA \(yesNo(features.fma)), OS saves YMM \(yesNo(features.osSavesYMM)), "
        + "AVX-VNNI \(yesNo(features.avxVNNI)), AVX-512 VNNI \(yesNo(features.avx512VNNI)) (OS saves ZMM \(yesNo(features.osSavesZMM)))")
    #endif
    print("path float GEMM: \(floatGEMMPath(KernelDispatch.best)) (best), "
        + "\(floatGEMMPath(KernelDispatch.current)) (this process, EDGEDETR_KERNELS applies)")
    #if EDGEDETR_INT8_KERNELS
    print("path int8 GEMM: \(int8GEMMPath()) (packed layout \(int8LayoutName(Int8WeightLayout.native)))")
    #endif
}

private func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }

/// The vectorized kernels that are not GEMMs (deformable sampling): SIMD8 on the baseline ISA.
var simd8Path: String {
    #if arch(arm64)
    return "SIMD8 (NEON)"
    #else
    return "SIMD8 (SSE2)"
    #endif
}
