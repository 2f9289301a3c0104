#include "AllocationCounter.h"

#include <errno.h>
#include <stddef.h>

// glibc's allocator under its internal names (exported since GLIBC_2.0), so forwarding needs no
// dlsym, which itself allocates.
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

// Under AddressSanitizer the sanitizer must own malloc (it intercepts it to track every block), so
// the counter is not installed and says so: the allocation tests are disabled in that build.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDGEDETR_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EDGEDETR_UNDER_ASAN 1
#endif

#ifdef EDGEDETR_UNDER_ASAN
int edgedetr_allocation_counting_available(void) { return 0; }
void edgedetr_count_allocations_on_this_thread(int enabled) { (void)enabled; }
long edgedetr_counted_allocations(void) { return 0; }
size_t edgedetr_largest_counted_allocation(void) { return 0; }
void edgedetr_reset_counted_allocations(void) {}
#else
int edgedetr_allocation_counting_available(void) { return 1; }

static _Atomic long counted;
static _Atomic size_t largest;
static __thread int counting;

void edgedetr_count_allocations_on_this_thread(int enabled) { counting = enabled; }
long edgedetr_counted_allocations(void) { return counted; }
size_t edgedetr_largest_counted_allocation(void) { return largest; }
void edgedetr_reset_counted_allocations(void) { counted = 0; largest = 0; }

static inline void note(size_t size) {
    if (counting) {
        counted += 1;
        if (size > largest) largest = size;
    }
}

void *malloc(size_t size) {
    note(size);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    note(count * size);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    note(size);
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    note(size);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    note(size);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    note(size);
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}

void *valloc(size_t size) {
    note(size);
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    note(size);
    return __libc_pvalloc(size);
}
#endif
