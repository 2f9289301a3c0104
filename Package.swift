// swift-tools-version: 6.1
import PackageDescription

/// Kernels and EdgeRuntime depend on libc only: they are also compiled with Embedded Swift for
/// aarch64 (see Targets/), so no Foundation, no existentials and typed throws there.
let package = Package(
    name: "EdgeDETR",
    products: [
        .executable(name: "edgedetr", targets: ["edgedetr"]),
        .library(name: "EdgeRuntime", targets: ["EdgeRuntime"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Quantize", targets: ["Quantize"]),
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
        .target(
            name: "Kernels",
            dependencies: ["CLibc", .target(name: "COpenBLAS", condition: .when(traits: ["OpenBLAS"]))],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        .target(name: "EdgeRuntime", dependencies: ["CLibc", "Kernels"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Quantize", dependencies: ["EdgeRuntime", "Kernels"]),
        .executableTarget(
            name: "edgedetr",
            dependencies: ["Quantize", "EdgeRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "EdgeRuntimeTests", dependencies: ["EdgeRuntime", "Kernels"]),
        .testTarget(name: "QuantizeTests", dependencies: ["Quantize", "EdgeRuntime"]),
        .testTarget(name: "CLITests", dependencies: ["edgedetr", "Quantize", "EdgeRuntime"]),
    ]
)
