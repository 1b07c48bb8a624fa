/*
 * Fixed-capacity ring of fixed-size elements; the oldest element is
 * overwritten when full, which is what sliding windows need.
 */
#include <errno.h>
#include <string.h>

#include "vigil/mem.h"
#include "vigil/ring.h"

int vigil_ring_init(struct vigil_ring *r, size_t elem, size_t cap)
{
    memset(r, 0, sizeof *r);
    if (elem == 0 || cap == 0) {
        return -EINVAL;
    }
    r->data = vigil_mallocarray(cap, elem);
    if (!r->data) {
        return -ENOMEM;
    }
    r->elem = elem;
    r->cap = cap;
    return 0;
}

void vigil_ring_fini(struct vigil_ring *r)
{
    vigil_free(r->data);
    memset(r, 0, sizeof *r);
}

void vigil_ring_push(struct vigil_ring *r, const void *elem)
{
    size_t slot;
    if (r->len < r->cap) {
        slot = (r->head + r->len) % r->cap;
        r->len++;
    } else {
        slot = r->head;
        r->head = (r->head + 1) % r->cap;
    }
    memcpy(r->data + slot * r->elem, elem, r->elem);
}

void *vigil_ring_at(const struct vigil_ring *r, size_t i)
{
    if (i >= r->len) {
        return NULL;
    }
    return r->data + ((r->head + i) % r->cap) * r->elem;
}

void vigil_ring_clear(struct vigil_ring *r)
{
    r->head = 0;
    r->len = 0;
}
