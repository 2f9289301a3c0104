#include "CCPUID.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

CCPUIDRegisters ccpuid_query(uint32_t leaf, uint32_t subleaf) {
    CCPUIDRegisters registers = {0, 0, 0, 0};
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid_count(leaf, subleaf, &eax, &ebx, &ecx, &edx)) {
        registers.eax = eax;
        registers.ebx = ebx;
        registers.ecx = ecx;
        registers.edx = edx;
    }
    return registers;
}

// XGETBV is only legal once the OS has set CR4.OSXSAVE, which CPUID.1:ECX bit 27 reports.
__attribute__((target("xsave"))) static uint64_t read_xcr0(void) { return _xgetbv(0); }

uint64_t ccpuid_xcr0(void) {
    CCPUIDRegisters leaf1 = ccpuid_query(1, 0);
    if ((leaf1.ecx & (1u << 27)) == 0) return 0;
    return read_xcr0();
}

#else

CCPUIDRegisters ccpuid_query(uint32_t leaf, uint32_t subleaf) {
    (void)leaf;
    (void)subleaf;
    CCPUIDRegisters registers = {0, 0, 0, 0};
    return registers;
}

uint64_t ccpuid_xcr0(void) { return 0; }

#endif
