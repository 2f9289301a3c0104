# Raspberry Pi 4 Model B: 4x Cortex-A72 (ARMv8.0-A, NEON, no dot product), 64-bit Raspberry Pi OS.
# The binary also runs on a Pi 5 and takes the dot-product int8 path there when the kernel reports
# ASIMDDP (the dot-product kernels are compiled separately and chosen at run time).
profile_description="Raspberry Pi 4 (Cortex-A72, NEON)"
profile_arch=aarch64
profile_swift_target=aarch64-none-none-elf
profile_target_cpu=cortex-a72
profile_sysroot=/usr/aarch64-linux-gnu
profile_cc=aarch64-linux-gnu-gcc
profile_strip=aarch64-linux-gnu-strip
profile_readelf=aarch64-linux-gnu-readelf
profile_emulator="qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu cortex-a72"
