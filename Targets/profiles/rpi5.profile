# Raspberry Pi 5: 4x Cortex-A76 (ARMv8.2-A, NEON, SDOT/UDOT dot product), 64-bit Raspberry Pi OS.
# Compiled for the A76 throughout: faster everywhere, but it may not run on a Pi 4 (use rpi4 there).
profile_description="Raspberry Pi 5 (Cortex-A76, NEON + dot product)"
profile_arch=aarch64
profile_swift_target=aarch64-none-none-elf
profile_target_cpu=cortex-a76
profile_sysroot=/usr/aarch64-linux-gnu
profile_cc=aarch64-linux-gnu-gcc
profile_strip=aarch64-linux-gnu-strip
profile_readelf=aarch64-linux-gnu-readelf
profile_emulator="qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu cortex-a76"
