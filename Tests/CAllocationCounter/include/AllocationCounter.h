#ifndef EDGEDETR_ALLOCATION_COUNTER_H
#define EDGEDETR_ALLOCATION_COUNTER_H

/// Counts heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign,
/// valloc, pvalloc) made by the threads that asked to be counted. The test binary defines these
/// functions itself, so every allocation in the process passes through here on its way to glibc's
/// allocator (its exported __libc_* entry points); threads not counted pay one thread-local test.

/// 1 when the counter is installed; 0 in a build with AddressSanitizer, which owns malloc.
int edgedetr_allocation_counting_available(void);

/// Starts (nonzero) or stops (0) counting the allocations of the calling thread.
void edgedetr_count_allocations_on_this_thread(int enabled);

/// Allocations made by counted threads since the last reset.
long edgedetr_counted_allocations(void);

/// The largest single allocation (bytes) made by counted threads since the last reset.
#include <stddef.h>
size_t edgedetr_largest_counted_allocation(void);

/// Sets the count (and the largest allocation) back to zero.
void edgedetr_reset_counted_allocations(void);

#endif
