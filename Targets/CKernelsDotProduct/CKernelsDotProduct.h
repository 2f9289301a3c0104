// The C declaration through which Kernels (Int8GEMM.swift) calls the ARMv8.2 dot-product tile of
// Sources/KernelsDotProduct. That module is compiled on its own with the dotprod feature by
// Targets/build.sh and never imported as Swift: Embedded Swift would re-emit its bodies inside
// Kernels, which is compiled without the feature. Only the device build (aarch64 profiles) puts
// this directory on Kernels' include path; elsewhere canImport(CKernelsDotProduct) is false.
#ifndef CKERNELSDOTPRODUCT_H
#define CKERNELSDOTPRODUCT_H

#include <stdint.h>

/// `int8GEMM4x16c4NEONDot` (@_cdecl): four rows of int8 `a` (`a_stride` apart, `depth_groups` * 4 long)
/// against one `.dotProduct` panel, accumulators starting from `bias` (16 entries); writes the 4x16
/// int32 sums row-major to `accumulators`.
void edgedetr_int8_gemm_4x16c4_neondot(const int8_t *a, long a_stride, long depth_groups, const void *panel,
                                       const int32_t *bias, int32_t *accumulators);

#endif
