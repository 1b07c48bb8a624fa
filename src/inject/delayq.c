/*
 * The NFQUEUE delay helper's timed queue: a fixed-capacity FIFO of packet
 * ids with their due times. The added delay is the same for every packet, so
 * packets become due in arrival order and a ring is enough; a full queue
 * makes the caller release the packet at once (fail open) rather than drop
 * it, so the injector adds latency and never loss.
 */
#include <errno.h>

#include "internal.h"
#include "vigil/mem.h"

int vigil__delayq_init(struct vigil__delayq *q, size_t cap)
{
    q->id = NULL;
    q->due = NULL;
    q->cap = 0;
    q->head = 0;
    q->len = 0;
    if (cap == 0) {
        return -EINVAL;
    }
    q->id = vigil_mallocarray(cap, sizeof *q->id);
    q->due = vigil_mallocarray(cap, sizeof *q->due);
    if (!q->id || !q->due) {
        vigil__delayq_fini(q);
        return -ENOMEM;
    }
    q->cap = cap;
    return 0;
}

void vigil__delayq_fini(struct vigil__delayq *q)
{
    vigil_free(q->id);
    vigil_free(q->due);
    q->id = NULL;
    q->due = NULL;
    q->cap = q->len = q->head = 0;
}

int vigil__delayq_push(struct vigil__delayq *q, uint32_t id, int64_t due)
{
    if (q->len == q->cap) {
        return -ENOBUFS;
    }
    size_t tail = (q->head + q->len) % q->cap;
    q->id[tail] = id;
    q->due[tail] = due;
    q->len++;
    return 0;
}

int vigil__delayq_pop(struct vigil__delayq *q, uint32_t *id)
{
    if (q->len == 0) {
        return 0;
    }
    *id = q->id[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return 1;
}

int vigil__delayq_pop_due(struct vigil__delayq *q, int64_t now, uint32_t *id)
{
    if (q->len == 0 || q->due[q->head] > now) {
        return 0;
    }
    return vigil__delayq_pop(q, id);
}

int64_t vigil__delayq_wait_ns(const struct vigil__delayq *q, int64_t now)
{
    if (q->len == 0) {
        return -1;
    }
    int64_t d = q->due[q->head] - now;
    return d > 0 ? d : 0;
}
