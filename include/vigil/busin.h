/*
 * The bus as an input of the watch service: the metric scrapes that
 * `vigil collect --nats` publishes (one timestamped exposition text per tick
 * on vigil.metrics.<host>, stream VIGIL_METRICS; docs/formats.md), read
 * through a durable pull consumer, parsed with the exposition parser and
 * interned like scraped series (vigil_expo_ingest) with the publishing host as
 * `instance`, so the host is the entity unless a container, pod or domain
 * label names another.
 *
 * One run per watch tick takes what arrived since the last one, waiting at
 * most `wait_ns` when nothing is pending. Each message is a whole scrape, so
 * only the newest one of each publisher per run is parsed; the others are
 * acknowledged unread (superseded). Messages older than max_age (stream
 * time) are acknowledged and dropped, so a backlog after a restart is not
 * replayed as if it were live. A publisher that sent nothing for stale_ns is
 * stale: nothing of it is emitted, so its series read as missing and the
 * detectors neither score nor alarm on them, and its silence is logged once
 * until it speaks again.
 *
 *     struct vigil_busin_conf c;
 *     vigil_busin_conf_default(&c);
 *     c.url = "nats://127.0.0.1:4222";
 *     vigil_busin_new(&in, &c, &diag);
 *     every tick: vigil_busin_run(in, now, &table, groups, emit, user);
 *     vigil_busin_free(in);
 */
#ifndef VIGIL_BUSIN_H
#define VIGIL_BUSIN_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/groups.h"
#include "vigil/scrape.h"
#include "vigil/series.h"

struct vigil_busin_conf {
    const char *url;       /* NATS server(s): "nats://127.0.0.1:4222"; borrowed for new */
    const char *subject;   /* subjects read: "vigil.metrics.>"; the host is the last token */
    const char *stream;    /* "VIGIL_METRICS" (created like vigil collect does if absent) */
    const char *durable;   /* consumer name: "vigil-watch" (one per watch instance) */
    int64_t wait_ns;       /* longest wait per run when nothing is pending (20 ms) */
    int64_t stale_ns;      /* a publisher silent this long is stale (5 s) */
    int64_t max_age_ns;    /* messages stored longer ago are dropped (10 s) */
    size_t max_publishers; /* publishers tracked; messages of more are dropped (1024) */
};

/* Fills c with the defaults above (url NULL). */
void vigil_busin_conf_default(struct vigil_busin_conf *c);

struct vigil_busin; /* opaque */

/*
 * Connects, makes sure the stream exists and binds the durable consumer
 * (created to start with new messages). Strings of c are copied. Returns 0,
 * VIGIL_ENOTSUP (built without libnats), or the bus errors of bus.h with
 * diag->msg saying what failed. Caller frees with vigil_busin_free.
 */
int vigil_busin_new(struct vigil_busin **out, const struct vigil_busin_conf *c,
                    struct vigil_diag *diag);
void vigil_busin_free(struct vigil_busin *b);

/*
 * Reads what arrived, interns new series into t with the rules of g (may be
 * NULL) and calls emit for every sample of the newest scrape of each
 * publisher; now_ns (wall clock) decides staleness. Returns the number of
 * publishers up, or -ENOMEM. Bus failures are logged once per streak and
 * counted; the client reconnects on its own.
 */
int vigil_busin_run(struct vigil_busin *b, int64_t now_ns, struct vigil_series_table *t,
                    const struct vigil_groups *g, vigil_scrape_emit_fn emit, void *user);

/*
 * Appends vigil_bus_publisher_up{host} and
 * vigil_bus_messages_total{outcome="used|superseded|old|malformed|overflow"}.
 * Returns 0 or -ENOMEM.
 */
int vigil_busin_render(const struct vigil_busin *b, struct vigil_buf *out);

#endif /* VIGIL_BUSIN_H */
