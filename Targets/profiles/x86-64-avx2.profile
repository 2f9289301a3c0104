# x86-64 with AVX2 + FMA (Haswell and later, Zen): the whole binary is compiled for Haswell (x86-64-v3: AVX2, FMA, BMI2), so it
# stops with an illegal instruction on older CPUs (use x86-64 there).
profile_description="x86-64-v3 (AVX2 + FMA)"
profile_arch=x86_64
profile_swift_target=x86_64-unknown-linux-gnu
profile_target_cpu=haswell
profile_avx2_kernels=yes
profile_sysroot=
profile_cc=gcc
profile_strip=strip
profile_readelf=readelf
profile_emulator=
