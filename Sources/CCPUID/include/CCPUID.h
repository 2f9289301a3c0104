// CPUID and XGETBV for Kernels' runtime ISA dispatch (Sources/Kernels/CPUFeatures.swift). Swift has no
// inline assembly and clang's cpuid.h / _xgetbv are macros, so these two instructions live in C.
// Compiled for the baseline ISA: nothing here needs AVX. Empty on other architectures.
#ifndef CCPUID_H
#define CCPUID_H

#include <stdint.h>

/// Registers of one CPUID query.
typedef struct {
    uint32_t eax, ebx, ecx, edx;
} CCPUIDRegisters;

/// CPUID(leaf, subleaf); all zero when the leaf is above the CPU's maximum or off x86-64.
CCPUIDRegisters ccpuid_query(uint32_t leaf, uint32_t subleaf);

/// XCR0, the register state the OS saves on context switches (bit 1: XMM, bit 2: YMM). Only valid
/// when CPUID.1:ECX.OSXSAVE (bit 27) is set; returns 0 otherwise and off x86-64.
uint64_t ccpuid_xcr0(void);

#endif
