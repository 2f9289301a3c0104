/// EdgeRuntime: the graph IR, its executor, images, pre- and post-processing. Depends on libc and
/// Kernels only and compiles under Embedded Swift, so all errors are typed and nothing here uses
/// existentials or Foundation.
public enum EdgeRuntimeModule {}
