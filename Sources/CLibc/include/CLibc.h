// The libc surface EdgeDETR's libc-only modules use. Kernels and EdgeRuntime import this module
// instead of Glibc so that the same sources compile under Embedded Swift for aarch64, where no
// Glibc overlay exists (Targets/build.sh passes the cross sysroot's headers).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

/// Helpers for what Swift cannot call or see directly: variadic open(2), the errno macro,
/// the MAP_FAILED macro, the S_ISREG and S_ISDIR macros, SIG_IGN and stdout.
static inline int edgedetr_open_read_only(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }
/// Opens `path` for writing, created (0644) or truncated; a FIFO is opened as it is.
static inline int edgedetr_open_for_writing(const char *path) { return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); }
static inline int edgedetr_errno(void) { return errno; }
static inline int edgedetr_map_failed(const void *address) { return address == MAP_FAILED; }
static inline int edgedetr_is_regular_file(mode_t mode) { return S_ISREG(mode); }
static inline int edgedetr_is_directory(mode_t mode) { return S_ISDIR(mode); }
/// Ignores SIGPIPE, so that writing to a closed pipe fails with EPIPE instead of killing the process
/// (a stream's reader may go away; the writer then ends cleanly).
static inline void edgedetr_ignore_broken_pipe(void) { signal(SIGPIPE, SIG_IGN); }
/// stdio's standard output stream (a global Swift 6 will not read without an unsafe annotation).
static inline FILE *edgedetr_stdout(void) { return stdout; }
/// The name of a directory entry (d_name is a fixed array Swift imports as a tuple).
static inline const char *edgedetr_entry_name(const struct dirent *entry) { return entry->d_name; }
