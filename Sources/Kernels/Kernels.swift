/// Kernels: the arithmetic of EdgeDETR, float and int8, each kernel a plain scalar reference beside
/// its SIMD versions. Knows nothing of graphs or models; depends on libc only (module CLibc) and
/// compiles under Embedded Swift.
public enum KernelsModule {}
