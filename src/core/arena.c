/*
 * Bump allocator over one block (ggml's context in miniature). Used for
 * per-tick and per-request scratch; reset instead of freeing.
 */
#include <errno.h>
#include <stdint.h>

#include "vigil/arena.h"
#include "vigil/mem.h"

int vigil_arena_init(struct vigil_arena *a, size_t cap)
{
    a->base = vigil_malloc(cap);
    a->used = 0;
    a->cap = a->base ? cap : 0;
    return a->base ? 0 : -ENOMEM;
}

void vigil_arena_fini(struct vigil_arena *a)
{
    vigil_free(a->base);
    a->base = NULL;
    a->used = a->cap = 0;
}

void *vigil_arena_alloc(struct vigil_arena *a, size_t size, size_t align)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        return NULL;
    }
    uintptr_t start = (uintptr_t)a->base + a->used;
    size_t pad = (size_t)((align - (start & (align - 1))) & (align - 1));
    if (pad > a->cap - a->used || size > a->cap - a->used - pad) {
        return NULL;
    }
    void *p = a->base + a->used + pad;
    a->used += pad + size;
    return p;
}

void vigil_arena_reset(struct vigil_arena *a)
{
    a->used = 0;
}
