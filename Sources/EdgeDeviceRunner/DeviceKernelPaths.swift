import Kernels

// Which kernel implementation each family runs on this machine, in words, for the self-test's
// header and the runner's --bench report. Both programs compile this file (Targets/build.sh), so a
// board reports its path the same way in each.

/// What the float GEMM kernels (linear, conv2d, attention) run at `level` on this machine.
func floatGEMMPath(_ level: KernelLevel) -> String {
    switch level {
    case .scalar: return "scalar reference"
    case .simd:
        #if arch(arm64)
        return "simd (NEON FMA 6x16)"
        #else
        return "simd (SSE2 6x16)"
        #endif
    case .avx2, .avxVNNI: return "avx2 (AVX2+FMA 6x16)"
    case .avx512VNNI: return "avx512 (AVX-512 FMA 6x16)"
    }
}

/// The int8 GEMM microkernel `int8Linear` runs for weights packed in the native layout here, at the
/// current dispatch level (`EDGEDETR_KERNELS=scalar` applies): the kernels' own choice.
func int8GEMMPath() -> String {
    Int8GEMMKernel.choose(for: .native).summary
}

/// The packed layout's name as the format documentation gives it.
func int8LayoutName(_ layout: Int8WeightLayout) -> String {
    switch layout {
    case .avx2: return "avx2 16x2"
    case .neon: return "neon 8x8"
    case .dotProduct: return "dotProduct 16x4"
    }
}
