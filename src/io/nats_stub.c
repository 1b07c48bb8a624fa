/*
 * The bus without libnats: every call answers VIGIL_ENOTSUP with a hint, so
 * the tree builds on hosts without the client (netdata's ml-dummy.c). The
 * Makefile builds this file instead of nats.c when pkg-config lacks libnats.
 */
#include "vigil/bus.h"

static int nosup(struct vigil_diag *diag)
{
    vigil_diag_set(diag, 0, 0,
                   "nats: this vigil was built without libnats (install "
                   "libnats-dev and rebuild)");
    return VIGIL_ENOTSUP;
}

int vigil_bus_available(void)
{
    return 0;
}

int vigil_bus_connect(struct vigil_bus **out, const char *url, const char *name,
                      struct vigil_diag *diag)
{
    (void)url;
    (void)name;
    *out = NULL;
    return nosup(diag);
}

void vigil_bus_plaintext_only(void)
{
}

void vigil_bus_close(struct vigil_bus *b)
{
    (void)b;
}

int vigil_bus_ensure_stream(struct vigil_bus *b, const struct vigil_bus_stream *s,
                            struct vigil_diag *diag)
{
    (void)b;
    (void)s;
    return nosup(diag);
}

int vigil_bus_delete_stream(struct vigil_bus *b, const char *name, struct vigil_diag *diag)
{
    (void)b;
    (void)name;
    return nosup(diag);
}

int vigil_bus_publish(struct vigil_bus *b, const char *subject, const void *p, size_t n,
                      const char *msg_id, struct vigil_diag *diag)
{
    (void)b;
    (void)subject;
    (void)p;
    (void)n;
    (void)msg_id;
    return nosup(diag);
}

int vigil_bus_publish_async(struct vigil_bus *b, const char *subject, const void *p, size_t n,
                            const char *msg_id, struct vigil_diag *diag)
{
    return vigil_bus_publish(b, subject, p, n, msg_id, diag);
}

int vigil_bus_publish_wait(struct vigil_bus *b, int64_t timeout_ns, struct vigil_diag *diag)
{
    (void)b;
    (void)timeout_ns;
    return nosup(diag);
}

uint64_t vigil_bus_failed(const struct vigil_bus *b)
{
    (void)b;
    return 0;
}

int vigil_bus_async_window(struct vigil_bus *b, int max_pending, int64_t stall_ns,
                           int64_t ack_wait_ns, struct vigil_diag *diag)
{
    (void)b;
    (void)max_pending;
    (void)stall_ns;
    (void)ack_wait_ns;
    return nosup(diag);
}

int vigil_bus_last_failure(const struct vigil_bus *b)
{
    (void)b;
    return 0;
}

int vigil_bus_connected(const struct vigil_bus *b)
{
    (void)b;
    return 0;
}

int vigil_bus_subscribe(struct vigil_bus *b, const struct vigil_bus_consumer *c,
                        struct vigil_bus_sub **out, struct vigil_diag *diag)
{
    (void)b;
    (void)c;
    *out = NULL;
    return nosup(diag);
}

void vigil_bus_unsubscribe(struct vigil_bus_sub *s)
{
    (void)s;
}

int vigil_bus_fetch(struct vigil_bus_sub *s, struct vigil_bus_msg *msgs, size_t max,
                    int64_t timeout_ns, size_t *n, struct vigil_diag *diag)
{
    (void)s;
    (void)msgs;
    (void)max;
    (void)timeout_ns;
    *n = 0;
    return nosup(diag);
}

int vigil_bus_ack(struct vigil_bus_msg *m)
{
    (void)m;
    return VIGIL_ENOTSUP;
}

int vigil_bus_nak(struct vigil_bus_msg *m, int64_t delay_ns)
{
    (void)m;
    (void)delay_ns;
    return VIGIL_ENOTSUP;
}
