// swift-tools-version: 6.1
import PackageDescription

/// KernelsAVX2 holds the AVX2 + FMA microkernels that Kernels calls after checking the CPU at run
/// time (Kernels/CPUFeatures.swift). Its ISA flags are chosen by the architecture this manifest is
/// evaluated on: a native x86-64 build gets them, an arm64 host compiles the module empty. Cross
/// builds for the boards go through Targets/, not this manifest.
///
/// Innermost loops start on a 64-byte boundary (LLVM's x86 option; `-align-loops` is overridden
/// by the x86 backend): the int8 tile's 183-byte loop ran 7-8% slower when the link happened to
/// place it 48 bytes past a boundary (spanning four 64-byte fetch windows instead of three), so
/// without the flag its speed depended on the code linked before it (docs/QUANTIZATION.md).
///
/// KernelsAVXVNNI is a module of its own because its flag lets LLVM emit VPDPBUSD/VPDPWSSD anywhere
/// (it fuses VPMADDWD + VPADDD into VPDPWSSD): only code that runs after the AVX-VNNI check may carry it.
/// KernelsAVX512VNNI likewise, behind the AVX-512 check (LLVM may use EVEX and ZMM anywhere in it).
#if arch(x86_64)
let avx2Flags: [String] = ["-Ounchecked", "-Xcc", "-mavx2", "-Xcc", "-mfma",
                           "-Xllvm", "-x86-experimental-pref-innermost-loop-alignment=6"]
let avxVNNIFlags: [String] = avx2Flags + ["-Xcc", "-mavxvnni"]
let avx512VNNIFlags: [String] = avx2Flags + ["-Xcc", "-mavx512f", "-Xcc", "-mavx512bw", "-Xcc", "-mavx512vl", "-Xcc", "-mavx512vnni"]
#else
let avx2Flags: [String] = ["-Ounchecked"]
let avxVNNIFlags: [String] = ["-Ounchecked"]
let avx512VNNIFlags: [String] = ["-Ounchecked"]
#endif

/// Kernels and EdgeRuntime depend on libc only: they are also compiled with Embedded Swift for
/// aarch64 (see Targets/), so no Foundation, no existentials and typed throws there.
let package = Package(
    name: "EdgeDETR",
    products: [
        .executable(name: "edgedetr", targets: ["edgedetr"]),
        .library(name: "EdgeRuntime", targets: ["EdgeRuntime"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Quantize", targets: ["Quantize"]),
        /// The C API (Sources/CEdgeDETR/include/edgedetr.h) over EdgeRuntime.
        .library(name: "EdgeDETRC", targets: ["EdgeDETRC"]),
    ],
    traits: [
        .trait(name: "OpenBLAS", description: "Use the system OpenBLAS sgemm for the float path (libopenblas-dev)."),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(name: "CLibc"),
        .target(name: "CCPUID"),
        .target(name: "KernelsAVX2", swiftSettings: [.unsafeFlags(avx2Flags)]),
        .target(name: "KernelsAVXVNNI", dependencies: ["KernelsAVX2"], swiftSettings: [.unsafeFlags(avxVNNIFlags)]),
        .target(name: "KernelsAVX512VNNI", dependencies: ["KernelsAVX2"], swiftSettings: [.unsafeFlags(avx512VNNIFlags)]),
        .target(
            name: "Kernels",
            dependencies: ["CLibc", "CCPUID", "KernelsAVX2", "KernelsAVXVNNI", "KernelsAVX512VNNI",
                           .target(name: "COpenBLAS", condition: .when(traits: ["OpenBLAS"]))],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        .target(name: "EdgeRuntime", dependencies: ["CLibc", "Kernels"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Quantize", dependencies: ["EdgeRuntime", "Kernels"]),
        /// edgedetr.h: the C declarations; EdgeDETRC: their Swift implementation on EdgeRuntime.
        .target(name: "CEdgeDETR"),
        .target(name: "EdgeDETRC", dependencies: ["CEdgeDETR", "EdgeRuntime"], swiftSettings: [.unsafeFlags(["-O"])],
                linkerSettings: [.linkedLibrary("m")]),
        /// The C example of docs/DEPLOY.md: `swift run edgedetr-c-example model.edq image.png`.
        .executableTarget(name: "edgedetr-c-example", dependencies: ["CEdgeDETR", "EdgeDETRC"], path: "Examples/c"),
        .executableTarget(
            name: "edgedetr",
            dependencies: ["Quantize", "EdgeRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        /// The libFuzzer harnesses (docs/FUZZING.md) as plain functions, replayed on the regression
        /// inputs by FuzzRegressionTests; `edgedetr-fuzz` is their libFuzzer entry point, built by
        /// Fuzz/run.sh with `--sanitize=fuzzer --sanitize=address`.
        .target(name: "EdgeFuzzing", dependencies: ["Quantize", "EdgeRuntime"]),
        .executableTarget(name: "edgedetr-fuzz", dependencies: ["EdgeFuzzing"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "EdgeRuntimeTests", dependencies: ["EdgeRuntime", "Kernels"]),
        /// Counts the test process's heap allocations (NoAllocationTests); test-only.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(name: "QuantizeTests", dependencies: ["Quantize", "EdgeRuntime", "CAllocationCounter"]),
        .testTarget(name: "CLITests", dependencies: ["edgedetr", "Quantize", "EdgeRuntime"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["EdgeFuzzing"]),
        .testTarget(name: "CAPITests", dependencies: ["CEdgeDETR", "EdgeDETRC", "Quantize", "EdgeRuntime"]),
    ]
)
