"""Cycles per multiply-accumulate of the board binaries' compiled inner loops, from llvm-mca.

    Targets/build.sh rpi4 && Targets/build.sh rpi5
    python3 Calibration/bench/kernel_cycles.py            # needs llvm-mca-22 (apt-get install llvm-22)

For each board profile it disassembles the unstripped `edgedetr-run` (.build-arm64/<profile>), finds the
innermost loops of the two kernels that carry nearly every multiply-accumulate of a DETR (the int8 GEMM tile
the board runs, and the float 6x16 GEMM tile), keeps the loop with the most
multiply instructions, and asks llvm-mca for its steady-state cycles per iteration on the board's core. The
multiply-accumulates of one iteration are counted from its instructions (SDOT .4s: 16, SMULL/SMLAL .8b: 8,
MLA/SMLAL of 16-bit lanes: 8 or 4, FMLA .4s: 4). Prints one line per kernel: cycles, MACs, MACs per cycle.
Sources/EdgeRuntime/Graph/LatencyEstimate.swift quotes these figures; rerun this after changing a kernel.

Scheduling models: LLVM has no Cortex-A72 model of its own (cortex-a72 uses the Cortex-A57 model, the same
pipelines: two 128-bit FP/ASIMD pipes, integer multiplies on one) nor a Cortex-A76 one (cortex-a76 falls
back to the A57 model too), so the A76 figures use `neoverse-n1`, the server core built on the A76
microarchitecture (same issue width and ASIMD pipes). Both are models: the error is discussed in
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

# board profile -> (llvm-mca cpu, int8 GEMM kernel symbol pattern)
BOARDS = {
    "rpi4": ("cortex-a72", r"int8GEMM2x8c8NEON"),
    "rpi5": ("neoverse-n1", r"int8GEMM4x16c4NEONDot"),
}
# kernel name -> (symbol pattern or None for the board's int8 GEMM, instruction that marks the loop)
KERNELS = {
    "int8_gemm": (None, r"^(sdot|smull2?|smlal2?)\b"),
    # The float 6x16 tile is inlined into the linear, convolution and attention jobs: the linear one.
    "float_gemm": (r"LinearJob", r"^fmla\b"),
}
LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S.*)$")
BRANCH = re.compile(r"^(b\.\w+|cbn?z|tbn?z|j(?!mp)\w+)\s.*?0x([0-9a-f]+)")


def macs_of(instruction: str) -> int:
    op, _, operands = instruction.replace("\t", " ").partition(" ")
    if op == "sdot" or op == "udot":
        return 16 if ".4s" in operands else 8
    if op in ("smull", "smull2", "smlal", "smlal2", "umull", "umlal", "umull2", "umlal2"):
        return 8 if (".8h" in operands) else 4
    if op in ("mla", "mul"):
        return 8 if ".8h" in operands else (4 if ".4s" in operands else 0)
    if op == "vpdpbusd":  # x86 (AT&T): 4 MACs per 32-bit lane
        return 64 if "%zmm" in operands else 32 if "%ymm" in operands else 16
    if re.fullmatch(r"vfmadd\d+ps", op):
        return 16 if "%zmm" in operands else 8 if "%ymm" in operands else 4
    if op in ("fmla", "fmul"):
        return 4 if ".4s" in operands else (2 if ".2d" in operands or ".2s" in operands else 1)
    return 0


def functions(binary: str, attributes: str):
    """(name, [(address, instruction)]) for each symbol of the text section."""
    symbols = []
    for line in subprocess.run(["llvm-nm", "-n", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        # ($x and $d are ARM mapping symbols: code/data markers, not functions.)
        if len(parts) == 3 and parts[1] in "tT" and not re.fullmatch(r"\$[xd](\.\d+)?", parts[2]):
            symbols.append((int(parts[0], 16), parts[2]))
    listing = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", f"--mattr={attributes}", binary], capture_output=True, text=True,
                             check=True).stdout
    instructions = []
    for line in listing.splitlines():
        m = LINE.match(line)
        if m:
            instructions.append((int(m.group(1), 16), m.group(2).split("//")[0].strip()))
    out = {}
    s = 0
    for address, text in instructions:
        while s + 1 < len(symbols) and symbols[s + 1][0] <= address:
            s += 1
        if symbols and symbols[s][0] <= address:
            out.setdefault(symbols[s][1], []).append((address, text))
    return out


def best_loop(code, marker):
    """The backward-branch loop of `code` with the most `marker` instructions (innermost: no branch inside)."""
    best = None
    index = {address: i for i, (address, _) in enumerate(code)}
    for i, (address, text) in enumerate(code):
        m = BRANCH.match(text)
        if not m:
            continue
        target = int(m.group(2), 16)
        if target >= address or target not in index:
            continue
        body = code[index[target]:i + 1]
        if any(BRANCH.match(t) for _, t in body[:-1]):
            continue
        count = sum(1 for _, t in body if re.match(marker, t))
        if count and (best is None or count > best[0]):
            best = (count, body)
    return best[1] if best else None


def mca_cycles(body, cpu, iterations=400, triple="aarch64") -> float:
    # The closing branch names its target by address, which llvm-mca cannot assemble: leave it out (a
    # taken loop branch costs no issue slot that the model would count anyway).
    text = "\n".join(re.sub(r"\s*<[^>]*>", "", t) for _, t in body if not BRANCH.match(t)) + "\n"
    out = subprocess.run(["llvm-mca-22", f"-mtriple={triple}", f"-mcpu={cpu}", f"-iterations={iterations}"],
                         input=text, capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1))
    return total / iterations


def report(label, funcs, marker, keep, cpu, triple="aarch64"):
    """Prints the loop (among the functions whose name `keep` accepts) with the most MACs, and its rate."""
    loops = [(name, best_loop(code, marker)) for name, code in funcs.items() if keep(name)]
    loops = [(name, body) for name, body in loops if body]
    if not loops:
        print(f"{label}: no loop found")
        return
    name, body = max(loops, key=lambda nb: sum(macs_of(t) for _, t in nb[1]))
    macs = sum(macs_of(t) for _, t in body)
    cycles = mca_cycles(body, cpu, triple=triple)
    print(f"{label}: {cycles:.2f} cycles, {macs} MACs per iteration, {macs / cycles:.2f} MACs/cycle "
          f"({len(body)} instructions, {name[:60]})")


def host(binary, cpu):
    """The same figures for this x86-64 machine's release build (the method's check in docs/PERFORMANCE.md)."""
    funcs = functions(binary, "")
    for kernel, marker in (("int8_gemm", r"^vpdpbusd\b"), ("float_gemm", r"^vfmadd\d+ps\b")):
        # (The register-only peak loops of `bench-kernels` are not kernels.)
        report(f"host {cpu} {kernel}", funcs, marker, lambda name: "PeakLoop" not in name, cpu, triple="x86_64")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=".build-arm64")
    ap.add_argument("--host", metavar="CPU", help="also this machine's release build (.build/release/edgedetr) with "
                    "llvm-mca's model of CPU (e.g. sapphirerapids)")
    args = ap.parse_args()
    if args.host:
        host(".build/release/edgedetr", args.host)
    for board, (cpu, gemm_symbol) in BOARDS.items():
        binary = f"{args.build}/{board}/edgedetr-run.unstripped"
        try:
            # The Pi 5 build's dot-product kernel decodes only with the feature named.
            funcs = functions(binary, "+dotprod" if board == "rpi5" else "+neon")
        except (OSError, subprocess.CalledProcessError) as error:
            sys.exit(f"kernel_cycles: {binary}: {error} (run Targets/build.sh {board} first)")
        for kernel, (pattern, marker) in KERNELS.items():
            pattern = pattern or gemm_symbol
            report(f"{board} {cpu} {kernel}", funcs, marker, lambda name: re.search(pattern, name), cpu)


if __name__ == "__main__":
    main()
