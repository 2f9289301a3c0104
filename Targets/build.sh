#!/usr/bin/env bash
# Builds the device runner `edgedetr-run` (and with --self-test the kernel self-test
# `edgedetr-selftest`) for one board profile of Targets/profiles: Kernels, EdgeRuntime and the
# program compiled module by module with Embedded Swift, linked with the profile's gcc into one
# executable that needs nothing but libc, stripped. Usage:
#
#   Targets/build.sh <rpi4|rpi5|x86-64|x86-64-avx2> [--self-test] [--static|--dynamic] [--out DIR]
#
# --dynamic (the default) links against the board's libc.so.6/libm.so.6 only: under the 1 MiB goal,
# needs glibc >= 2.36 (Raspberry Pi OS bookworm, Debian 12, Ubuntu 22.10 and later). --static links a
# static PIE instead: no shared library at all, runs whatever the board's glibc, about twice the size. Outputs go under .build-arm64/<profile>
# or .build-x86-64/<profile> (git-ignored); unchanged modules are not recompiled.
# Needs: gcc-aarch64-linux-gnu and libc6-dev-arm64-cross for the boards, gcc for x86-64.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: Targets/build.sh <$(cd Targets/profiles && ls *.profile | sed 's/\.profile$//' | paste -sd '|')> [--self-test] [--static|--dynamic] [--out DIR]" >&2
    exit 64
}
[ $# -ge 1 ] || usage
profile=$1
shift
[ -f "Targets/profiles/$profile.profile" ] || { echo "build: no profile '$profile' in Targets/profiles" >&2; usage; }
# shellcheck source=/dev/null
source "Targets/profiles/$profile.profile"

self_test=0
link_mode=dynamic
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --self-test) self_test=1 ;;
        --static) link_mode=static ;;
        --dynamic) link_mode=dynamic ;;
        --out) [ $# -ge 2 ] || usage; out=$2; shift ;;
        *) echo "build: unknown option '$1'" >&2; usage ;;
    esac
    shift
done
if [ -z "$out" ]; then
    case "$profile_arch" in
        aarch64) out=.build-arm64/$profile ;;
        *) out=.build-x86-64/$profile ;;
    esac
fi
mkdir -p "$out/modules" "$out/objects"

for tool in swiftc "$profile_cc" "$profile_strip" "$profile_readelf"; do
    command -v "$tool" >/dev/null || { echo "build: '$tool' not found (see docs/DEPLOY.md for the packages)" >&2; exit 1; }
done
if [ -n "$profile_sysroot" ] && [ ! -d "$profile_sysroot/include" ]; then
    echo "build: $profile_sysroot/include not found (apt-get install libc6-dev-arm64-cross)" >&2
    exit 1
fi
toolchain=$(dirname "$(dirname "$(command -v swiftc)")")
unicode_tables=$toolchain/lib/swift/embedded/$profile_swift_target/libswiftUnicodeDataTables.a
[ -f "$unicode_tables" ] || { echo "build: $unicode_tables not found (Embedded Swift stdlib missing)" >&2; exit 1; }

# Flags every Swift module gets. -D EDGEDETR_LINUX tells libc-only code that the target OS is Linux
# even though the Embedded triple of the boards says `none` (os(Linux) is false there).
swift_common=(-enable-experimental-feature Embedded -target "$profile_swift_target" -target-cpu "$profile_target_cpu"
              -wmo -parse-as-library -Xfrontend -function-sections -D EDGEDETR_LINUX
              -I Sources/CLibc/include -I "$out/modules")
if [ -n "$profile_sysroot" ]; then
    swift_common+=(-Xcc -D__linux__ -Xcc -isystem -Xcc "$profile_sysroot/include")
fi
objects=()
dot_product_objects=()

# True when `output` is missing or older than any input or than the flags it was built with.
stale() {
    local output=$1 flags_file=$2 flags=$3
    shift 3
    [ -f "$output" ] || return 0
    [ -f "$flags_file" ] && [ "$(cat "$flags_file")" = "$flags" ] || return 0
    [ -n "$(find "$@" Targets/build.sh Targets/CKernelsDotProduct "Targets/profiles/$profile.profile" -newer "$output" -print -quit 2>/dev/null)" ]
}

# Compiles Sources/<module> (or the given files) into $out/objects/<module>.o and, unless told
# otherwise, $out/modules/<module>.swiftmodule. `module_flags` holds the module's extra flags.
compile_swift_module() {
    local module=$1 emit_module=$2
    shift 2
    local files=("$@")
    local object=$out/objects/$module.o
    local flags="${swift_common[*]} ${module_flags[*]}"
    if stale "$object" "$out/objects/$module.flags" "$flags" "${files[@]}" "$out/modules"; then
        local emit=()
        [ "$emit_module" = 1 ] && emit=(-emit-module -emit-module-path "$out/modules/$module.swiftmodule")
        nice swiftc "${swift_common[@]}" "${module_flags[@]}" -module-name "$module" "${emit[@]}" -c "${files[@]}" -o "$object"
        echo "$flags" > "$out/objects/$module.flags"
        touch "$object"
        echo "build: $module ($(stat -c %s "$object") bytes of object code)"
    fi
    objects+=("$object")
}

swift_sources() { find "Sources/$1" -name '*.swift' | sort; }

# x86-64: CPUID/XGETBV in C for the runtime ISA check, and (profile_avx2_kernels=yes, a whole-binary
# AVX2 profile) the AVX2 + FMA microkernels. SwiftPM generates CCPUID's module map; here it is
# written next to the modules.
if [ "$profile_arch" = x86_64 ]; then
    mkdir -p "$out/modules/CCPUID"
    module_map=$(printf 'module CCPUID {\n    header "%s"\n    export *\n}' "$PWD/Sources/CCPUID/include/CCPUID.h")
    if [ "$(cat "$out/modules/CCPUID/module.modulemap" 2>/dev/null)" != "$module_map" ]; then
        echo "$module_map" > "$out/modules/CCPUID/module.modulemap"
    fi
    if [ ! -f "$out/objects/CCPUID.o" ] || [ Sources/CCPUID/CPUID.c -nt "$out/objects/CCPUID.o" ]; then
        nice "$profile_cc" -O2 -fPIE -I Sources/CCPUID/include -c Sources/CCPUID/CPUID.c -o "$out/objects/CCPUID.o"
    fi
    objects+=("$out/objects/CCPUID.o")
    if [ "${profile_avx2_kernels:-no}" = yes ]; then
        module_flags=(-Ounchecked -Xcc -mavx2 -Xcc -mfma)
        mapfile -t files < <(swift_sources KernelsAVX2)
        compile_swift_module KernelsAVX2 1 "${files[@]}"
    else
        rm -f "$out/modules/KernelsAVX2.swiftmodule"
    fi
fi

# aarch64: the dot-product microkernels are compiled for ARMv8.2 + dotprod on every board profile and
# reached through a C symbol, never imported (Embedded Swift would inline their bodies into Kernels,
# compiled without the feature). Kernels calls them only when HWCAP reports ASIMDDP.
if [ "$profile_arch" = aarch64 ] && [ -d Sources/KernelsDotProduct ]; then
    module_flags=(-Ounchecked -target-cpu cortex-a76 -Xcc -march=armv8.2-a+dotprod -D KERNELS_DOTPROD)
    mapfile -t files < <(swift_sources KernelsDotProduct)
    compile_swift_module KernelsDotProduct 0 "${files[@]}"
    # Embedded Swift puts its runtime (swift_retain, swift_release...) into every object as weak
    # symbols; the copies in this one are compiled for the A76 (LSE atomics) and would crash a Pi 4
    # if the linker picked them. Only the C entry points stay global.
    unset 'objects[-1]'
    "${profile_cc%gcc}objcopy" --wildcard --keep-global-symbol='edgedetr_*' \
        "$out/objects/KernelsDotProduct.o" "$out/objects/KernelsDotProduct.local.o"
    dot_product_objects=("$out/objects/KernelsDotProduct.local.o")
    # Kernels finds the tile through this C declaration (canImport(CKernelsDotProduct)).
    swift_common+=(-I Targets/CKernelsDotProduct)
fi

# The same optimization levels as Package.swift.
module_flags=(-Ounchecked)
mapfile -t files < <(swift_sources Kernels)
compile_swift_module Kernels 1 "${files[@]}"
module_flags=(-O)
mapfile -t files < <(swift_sources EdgeRuntime)
compile_swift_module EdgeRuntime 1 "${files[@]}"
library_objects=("${objects[@]}" "${dot_product_objects[@]}")

# Links `objects` plus one program object into $out/<name>, strips it, checks its libraries.
link_program() {
    local name=$1 program_object=$2
    local unstripped=$out/$name.unstripped
    local link=(-Wl,--gc-sections)
    if [ "$link_mode" = static ]; then link+=(-static-pie); else link+=(-Wl,--as-needed); fi
    nice "$profile_cc" "${link[@]}" -o "$unstripped" "${library_objects[@]}" "$program_object" "$unicode_tables" -lm -lpthread
    "$profile_strip" -o "$out/$name" "$unstripped"
    # Allowed: libc, libm, libpthread and the dynamic loader itself (ld-linux*, which glibc's
    # libc.so pulls in for __stack_chk_guard on aarch64).
    local needed unexpected
    needed=$("$profile_readelf" -d "$out/$name" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd ' ')
    unexpected=$(echo "$needed" | tr ' ' '\n' | grep -v -E '^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|ld-linux[-a-z0-9_.]*\.so\.[0-9]+)?$' || true)
    if [ -n "$unexpected" ]; then
        echo "build: $out/$name needs libraries beyond libc: $unexpected" >&2
        exit 1
    fi
    local size
    size=$(stat -c %s "$out/$name")
    echo "build: $out/$name  $size bytes ($((size / 1024)) KiB), $link_mode, needs: ${needed:-nothing (static)}  [$profile_description]"
    if [ "$size" -gt 1048576 ]; then echo "build: warning: $name is over the 1 MiB goal" >&2; fi
}

build_program() {
    local name=$1 module=$2 pattern=$3
    shift 3
    mapfile -t files < <(find Sources/EdgeDeviceRunner -name "$pattern" -o -name 'Device*.swift' | sort)
    module_flags=(-O "$@")
    objects=()
    compile_swift_module "$module" 0 "${files[@]}"
    link_program "$name" "$out/objects/$module.o"
}

build_program edgedetr-run EdgeDeviceRunner 'Runner*.swift'
if [ "$self_test" = 1 ]; then
    int8_flags=()
    # The int8 kernels are tested once they exist in Kernels.
    [ -f Sources/Kernels/Int8GEMM.swift ] && int8_flags=(-D EDGEDETR_INT8_KERNELS)
    build_program edgedetr-selftest EdgeDeviceSelfTest 'SelfTest*.swift' "${int8_flags[@]}"
fi
