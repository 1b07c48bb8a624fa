/*
 * Fixed-capacity ring of fixed-size elements. Pushing into a full ring
 * overwrites the oldest element, which is what sliding windows want.
 */
#ifndef VIGIL_RING_H
#define VIGIL_RING_H

#include <stddef.h>

struct vigil_ring {
    unsigned char *data; /* owned, cap * elem bytes */
    size_t elem;         /* bytes per element */
    size_t cap;          /* elements */
    size_t head;         /* index of the oldest element */
    size_t len;          /* elements held */
};

/* Allocates room for cap elements of elem bytes. Returns 0, -EINVAL or -ENOMEM. */
int vigil_ring_init(struct vigil_ring *r, size_t elem, size_t cap);
void vigil_ring_fini(struct vigil_ring *r);
/* Copies one element in; overwrites the oldest when full. */
void vigil_ring_push(struct vigil_ring *r, const void *elem);
/* Returns the i-th element, 0 = oldest; borrowed until the next push. NULL if i >= len. */
void *vigil_ring_at(const struct vigil_ring *r, size_t i);
/* Empties the ring. */
void vigil_ring_clear(struct vigil_ring *r);
static inline int vigil_ring_full(const struct vigil_ring *r) { return r->len == r->cap; }

#endif /* VIGIL_RING_H */
