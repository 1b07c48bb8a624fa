/*
 * Bump allocator over one block, reset after each tick or request: ggml's
 * context in miniature. Allocations cannot be freed one by one.
 */
#ifndef VIGIL_ARENA_H
#define VIGIL_ARENA_H

#include <stddef.h>

struct vigil_arena {
    unsigned char *base; /* owned */
    size_t used;
    size_t cap;
};

/* Allocates cap bytes up front. Returns 0 or -ENOMEM. */
int vigil_arena_init(struct vigil_arena *a, size_t cap);
/* Releases the block. */
void vigil_arena_fini(struct vigil_arena *a);
/*
 * Returns size bytes aligned to align (a power of two), or NULL when the arena
 * is full. The memory is borrowed until the next reset or fini.
 */
void *vigil_arena_alloc(struct vigil_arena *a, size_t size, size_t align);
/* Forgets every allocation; keeps the block. */
void vigil_arena_reset(struct vigil_arena *a);

#endif /* VIGIL_ARENA_H */
