// Only compiled when the OpenBLAS trait is enabled: `swift build --traits OpenBLAS`
// (needs libopenblas-dev). The default build never touches this header.
#include <cblas.h>
