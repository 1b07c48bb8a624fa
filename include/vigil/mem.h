/*
 * Allocation hooks. Every allocation in libvigil goes through these wrappers so
 * that tests can swap in an allocator that fails on the N-th call (libuv's
 * uv_replace_allocator, fluent-bit's fuzz-mode flb_malloc) and check that each
 * failure returns -ENOMEM and leaks nothing.
 */
#ifndef VIGIL_MEM_H
#define VIGIL_MEM_H

#include <stddef.h>

typedef void *(*vigil_malloc_fn)(size_t size);
typedef void *(*vigil_realloc_fn)(void *ptr, size_t size);
typedef void *(*vigil_calloc_fn)(size_t count, size_t size);
typedef void (*vigil_free_fn)(void *ptr);

/*
 * Replaces the allocator. All four must be non-NULL; returns -EINVAL otherwise.
 * Not thread-safe: call it before any other vigil function, as with libuv.
 */
int vigil_replace_allocator(vigil_malloc_fn m, vigil_realloc_fn r, vigil_calloc_fn c,
                            vigil_free_fn f);

/* Restores the C library allocator. */
void vigil_reset_allocator(void);

void *vigil_malloc(size_t size);
void *vigil_calloc(size_t count, size_t size);
void *vigil_realloc(void *ptr, size_t size);
/*
 * Shrinks ptr to size bytes (size no more than it holds) and returns the
 * block to use: the smaller one, or ptr itself when realloc fails, which is
 * still at least size bytes. So a caller giving room back never fails.
 */
void *vigil_shrink(void *ptr, size_t size);
/* Frees ptr; NULL is a no-op. Preserves errno. */
void vigil_free(void *ptr);
/* Copies a NUL-terminated string; caller frees with vigil_free. NULL on OOM. */
char *vigil_strdup(const char *s);
/* Copies n bytes of s and terminates them; caller frees with vigil_free. */
char *vigil_strndup(const char *s, size_t n);
/* calloc for count * size with overflow check. */
void *vigil_mallocarray(size_t count, size_t size);

/*
 * Gives the free memory of the C library's heap back to the system when more
 * than keep bytes of it are free (glibc: mallinfo2, then malloc_trim): a
 * burst of large blocks freed in the middle of the heap otherwise stays
 * resident for the life of the process. Returns the free bytes seen, 0
 * where the C library cannot tell. A daemon calls it now and then (every
 * few seconds), never per sample: the trim walks the heap.
 */
size_t vigil_mem_give_back(size_t keep);

#endif /* VIGIL_MEM_H */
