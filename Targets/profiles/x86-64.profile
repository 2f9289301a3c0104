# Any x86-64 (SSE2 baseline): the portable SIMD8 kernels only. KernelsAVX2 is left out: Embedded
# Swift re-emits an imported module's bodies inside the importer, so its AVX2 code would be compiled
# into Kernels without AVX2 (LLVM: "Do not know how to split the result of this operator!"). Run-time
# AVX2 dispatch needs KernelsAVX2 reached through a C declaration, as KernelsDotProduct is.
profile_description="x86-64 baseline (SSE2)"
profile_arch=x86_64
profile_swift_target=x86_64-unknown-linux-gnu
profile_target_cpu=x86-64
profile_avx2_kernels=no
profile_sysroot=
profile_cc=gcc
profile_strip=strip
profile_readelf=readelf
profile_emulator=
