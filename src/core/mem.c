/*
 * Allocation wrappers with a replaceable allocator (libuv's
 * uv_replace_allocator). The allocator table is one of the two documented
 * mutable globals (with the log sink); it is set before threads start.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/mem.h"

static struct {
    vigil_malloc_fn m;
    vigil_realloc_fn r;
    vigil_calloc_fn c;
    vigil_free_fn f;
} alloc = {malloc, realloc, calloc, free};

int vigil_replace_allocator(vigil_malloc_fn m, vigil_realloc_fn r, vigil_calloc_fn c,
                            vigil_free_fn f)
{
    if (!m || !r || !c || !f) {
        return -EINVAL;
    }
    alloc.m = m;
    alloc.r = r;
    alloc.c = c;
    alloc.f = f;
    return 0;
}

void vigil_reset_allocator(void)
{
    alloc.m = malloc;
    alloc.r = realloc;
    alloc.c = calloc;
    alloc.f = free;
}

void *vigil_malloc(size_t size)
{
    return alloc.m(size ? size : 1);
}

void *vigil_calloc(size_t count, size_t size)
{
    if (count == 0 || size == 0) {
        return alloc.c(1, 1);
    }
    return alloc.c(count, size);
}

void *vigil_realloc(void *ptr, size_t size)
{
    return alloc.r(ptr, size ? size : 1);
}

void *vigil_shrink(void *ptr, size_t size)
{
    void *p = vigil_realloc(ptr, size);
    return p ? p : ptr;
}

void vigil_free(void *ptr)
{
    if (ptr) {
        int saved = errno;
        alloc.f(ptr);
        errno = saved;
    }
}

char *vigil_strndup(const char *s, size_t n)
{
    char *d = vigil_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *vigil_strdup(const char *s)
{
    return vigil_strndup(s, strlen(s));
}

void *vigil_mallocarray(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        return NULL;
    }
    return vigil_malloc(count * size);
}

size_t vigil_mem_give_back(size_t keep)
{
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks > keep) {
        malloc_trim(0);
    }
    return mi.fordblks;
#else
    (void)keep;
    return 0;
#endif
}
