/*
 * The message bus between hosts: NATS JetStream through libnats. Producers
 * (flow sensors, metric collectors) publish batches to subjects captured by a
 * stream; consumers (detector workers) share one durable pull consumer, fetch
 * batches with a timeout and acknowledge each one after it is fully handled.
 * A batch that is never acknowledged (the worker died) is delivered again
 * after the consumer's ack wait: at-least-once delivery.
 *
 * Built on libnats when pkg-config finds it (src/io/nats.c); otherwise every
 * call returns VIGIL_ENOTSUP (src/io/nats_stub.c) and the tree still builds.
 *
 *     struct vigil_bus *b;
 *     vigil_bus_connect(&b, "nats://127.0.0.1:4222", "sensor-1", &diag);
 *     struct vigil_bus_stream st = {.name = "VIGIL_FLOWS", .subjects = "vigil.flows.>"};
 *     vigil_bus_ensure_stream(b, &st, &diag);
 *     vigil_bus_publish_async(b, "vigil.flows.sensor-1", bytes, n, NULL, &diag);
 *     vigil_bus_publish_wait(b, 5 * 1000000000LL, &diag);   // every ack received
 *
 *     // a worker
 *     struct vigil_bus_consumer cc = {.stream = "VIGIL_FLOWS", .durable = "workers",
 *                                     .subject = "vigil.flows.>", .ack_wait_ns = 30000000000LL};
 *     struct vigil_bus_sub *sub;
 *     vigil_bus_subscribe(b, &cc, &sub, &diag);
 *     struct vigil_bus_msg m[8]; size_t n;
 *     vigil_bus_fetch(sub, m, 8, 1000000000LL, &n, &diag);
 *     ... handle m[i].data, then vigil_bus_ack(&m[i]) ...
 *
 * A collector publishing metric batches per host uses the same calls with a
 * stream on "vigil.metrics.>" and the subject from vigil_bus_subject
 * ("vigil.metrics" + host name -> "vigil.metrics.web_01").
 *
 * Errors: -ECONNREFUSED (no server), -ETIMEDOUT, -ENOENT (no such stream or
 * consumer), -ENOMEM, -EINVAL (bad subject or name), -EIO (anything else the
 * server or client reports), VIGIL_ENOTSUP without libnats. diag->msg carries
 * the client's own text.
 */
#ifndef VIGIL_BUS_H
#define VIGIL_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

struct vigil_bus;     /* a connection and its JetStream context */
struct vigil_bus_sub; /* a pull subscription bound to a durable consumer */

/* 1 when this build has a bus (libnats), 0 when every call answers VIGIL_ENOTSUP. */
int vigil_bus_available(void);

/*
 * Connects to url (comma-separated list of servers, "nats://host:port"). name
 * identifies the client in server logs (may be NULL). Reconnects on its own
 * after a server restart. Returns 0 or an error above; caller closes with
 * vigil_bus_close.
 */
int vigil_bus_connect(struct vigil_bus **out, const char *url, const char *name,
                      struct vigil_diag *diag);

/*
 * Declares that this process makes no TLS connection of its own through
 * OpenSSL: no tls:// server and no https client. Call before the first
 * connect; that connect (to a url without "tls://", in any case) then sets
 * OpenSSL up without its legacy cipher and digest tables, and OpenSSL's
 * RAND_bytes (the client's random ID prefix) answers from getrandom(2). About
 * 0.8 MiB resident less; `vigil collect` uses it. A server that requires TLS
 * still gets it (libnats upgrades a nats:// connection on its own), under the
 * system's openssl.cnf. Without this call only OpenSSL's error strings are
 * left out.
 */
void vigil_bus_plaintext_only(void);

/* Flushes pending publishes and acks (up to 2 s) and closes; NULL is a no-op. */
void vigil_bus_close(struct vigil_bus *b);

/* A stream: where published messages are stored. */
struct vigil_bus_stream {
    const char *name;     /* "VIGIL_FLOWS": letters, digits, '-' and '_' */
    const char *subjects; /* one subject pattern captured by it: "vigil.flows.>" */
    int64_t max_age_ns;   /* messages older than this are dropped; 0 = no limit */
    int64_t max_bytes;    /* size bound; the oldest messages go first; 0 = no limit */
    int memory;           /* 1 = memory storage, 0 = file storage */
    int work_queue;       /* 1 = a message is deleted once acknowledged */
};

/*
 * The stream `vigil collect --nats` publishes to and `vigil watch --nats`
 * reads: vigil.metrics.<host>, file storage, kept 24 h and at most 2 GiB
 * (the oldest messages go first: one host with the default fields publishes
 * about 0.5 MB/s at 100 ms, and the readers want the last seconds).
 */
#define VIGIL_METRICS_STREAM(stream_name)                                                          \
    {.name = (stream_name),                                                                        \
     .subjects = "vigil.metrics.>",                                                                \
     .max_age_ns = 24LL * 3600 * 1000000000LL,                                                     \
     .max_bytes = 2LL << 30}

/*
 * Creates the stream unless one of that name exists (an existing stream is
 * left as configured). Returns 0 or an error above.
 */
int vigil_bus_ensure_stream(struct vigil_bus *b, const struct vigil_bus_stream *s,
                            struct vigil_diag *diag);

/* Deletes a stream and its messages (tests, benchmarks). -ENOENT if absent. */
int vigil_bus_delete_stream(struct vigil_bus *b, const char *name, struct vigil_diag *diag);

/*
 * Publishes p (n bytes, copied) to subject and waits for the stream's
 * acknowledgement. msg_id (may be NULL) lets the server drop a duplicate sent
 * again within its duplicate window. Returns 0 or an error above.
 */
int vigil_bus_publish(struct vigil_bus *b, const char *subject, const void *p, size_t n,
                      const char *msg_id, struct vigil_diag *diag);

/*
 * Queues a publish without waiting (p is copied). Acknowledgements are
 * collected in the background; at most 256 are outstanding (the call stalls
 * beyond that) and none times out: see vigil_bus_async_window. Returns 0 or
 * an error above for a publish that could not even be queued.
 */
int vigil_bus_publish_async(struct vigil_bus *b, const char *subject, const void *p, size_t n,
                            const char *msg_id, struct vigil_diag *diag);

/*
 * Bounds asynchronous publishing: at most max_pending unacknowledged (256 by
 * default), a publish beyond that waits stall_ns (200 ms by default) before
 * failing with -ETIMEDOUT, and an ack not back within ack_wait_ns counts the
 * publish as failed (0, the default: no limit). Call before the first async
 * publish. A publisher of large messages on a deadline (vigil collect: a
 * scrape per 100 ms) keeps them small, so a slow or lost server costs it
 * neither memory nor time.
 */
int vigil_bus_async_window(struct vigil_bus *b, int max_pending, int64_t stall_ns,
                           int64_t ack_wait_ns, struct vigil_diag *diag);

/*
 * Waits until every queued publish is acknowledged, at most timeout_ns.
 * Returns 0; -ETIMEDOUT; -EIO when the server refused or lost some (counted
 * in vigil_bus_failed).
 */
int vigil_bus_publish_wait(struct vigil_bus *b, int64_t timeout_ns, struct vigil_diag *diag);

/* Asynchronous publishes refused, or not acknowledged in time, since the connection opened. */
uint64_t vigil_bus_failed(const struct vigil_bus *b);

/*
 * Why the last of those failed: -ENOENT (no stream captures the subject: the
 * server answered "no responders"), -ETIMEDOUT (no ack in time), -EIO
 * (refused otherwise); 0 before any.
 */
int vigil_bus_last_failure(const struct vigil_bus *b);

/*
 * 1 while connected to a server. The client reconnects without limit after
 * losing one; meanwhile publishes only fill its buffer, so a publisher that
 * must not block or grow (vigil collect) skips them and counts its losses.
 */
int vigil_bus_connected(const struct vigil_bus *b);

/* A durable pull consumer, shared by every worker that names it. */
struct vigil_bus_consumer {
    const char *stream;  /* stream to read */
    const char *durable; /* consumer name shared by the worker group */
    const char *subject; /* subjects to read: the stream's pattern, or a narrower filter */
    int64_t ack_wait_ns; /* redelivery after this long without an ack; 0 = 30 s */
    int max_deliver;     /* deliveries per message before giving up; 0 = unlimited */
    int max_ack_pending; /* unacknowledged messages across the group; 0 = 1024 */
    int deliver_new;     /* 1: a consumer created by this call starts with messages published
                            from now on (default: with the oldest message of the stream) */
};

/*
 * Binds a pull subscription to the durable consumer, creating it on first
 * use. Returns 0 or an error above; free with vigil_bus_unsubscribe (the
 * consumer stays on the server for the next worker).
 */
int vigil_bus_subscribe(struct vigil_bus *b, const struct vigil_bus_consumer *c,
                        struct vigil_bus_sub **out, struct vigil_diag *diag);
void vigil_bus_unsubscribe(struct vigil_bus_sub *s);

/* A fetched message: borrowed until the next vigil_bus_fetch on its subscription. */
struct vigil_bus_msg {
    const void *data;
    size_t len;
    const char *subject;
    uint64_t stream_seq; /* position in the stream */
    uint64_t delivered;  /* 1 on first delivery, more when redelivered */
    int64_t ts_ns;       /* when the stream stored it (server clock, ns since the epoch; 0 =
                            unknown) */
    void *impl;          /* the client's message */
};

/*
 * Fetches up to max messages into msgs, waiting at most timeout_ns for the
 * first. Releases the previous fetch's messages (acknowledge them before).
 * Sets *n (0 on timeout, which is not an error). Returns 0 or an error above.
 */
int vigil_bus_fetch(struct vigil_bus_sub *s, struct vigil_bus_msg *msgs, size_t max,
                    int64_t timeout_ns, size_t *n, struct vigil_diag *diag);

/* Acknowledges a message: it will not be delivered again. Returns 0 or an error. */
int vigil_bus_ack(struct vigil_bus_msg *m);

/* Asks for redelivery after delay_ns (0 = at once). Returns 0 or an error. */
int vigil_bus_nak(struct vigil_bus_msg *m, int64_t delay_ns);

/*
 * Writes "prefix.token" to out, with every character of token that NATS
 * treats specially ('.', '*', '>', blanks, controls) replaced by '_'.
 * Returns 0, or -EINVAL when it does not fit or token is empty.
 */
int vigil_bus_subject(char *out, size_t n, const char *prefix, const char *token);

#endif /* VIGIL_BUS_H */
