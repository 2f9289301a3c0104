#!/usr/bin/env bash
# Compiles the libc-only modules (Kernels, EdgeRuntime, and EdgeDETRC, the C API over them) with Embedded Swift for aarch64, module by module,
# the way the ARM64 device binary is built. Fails if anything in them needs Foundation, existentials,
# untyped throws or reflection. Needs the aarch64 glibc headers: apt-get install libc6-dev-arm64-cross.
set -euo pipefail
cd "$(dirname "$0")/.."
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
if [ ! -d "$sysroot/include" ]; then
    echo "embedded-check: $sysroot/include not found (apt-get install libc6-dev-arm64-cross)" >&2
    exit 1
fi
out=${OUT_DIR:-.build-embedded}
mkdir -p "$out"
common=(-enable-experimental-feature Embedded -target aarch64-none-none-elf -wmo -parse-as-library -O
        -Xcc -D__linux__ -Xcc -isystem -Xcc "$sysroot/include" -I Sources/CLibc/include -I Sources/CEdgeDETR/include -I "$out")
for module in Kernels EdgeRuntime EdgeDETRC; do
    swiftc "${common[@]}" -module-name "$module" -emit-module -emit-module-path "$out/$module.swiftmodule" \
        -c $(find "Sources/$module" -name '*.swift' | sort) -o "$out/$module.o"
    echo "embedded-check: $module compiles for aarch64-none-none-elf ($(stat -c %s "$out/$module.o") bytes of object code)"
done
