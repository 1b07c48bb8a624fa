/*
 * Embedded state in SQLite (WAL mode): anomaly events of the watch service
 * and alarms of the flow detector, queryable by entity, group and time.
 * One store is used by one thread at a time; the HTTP handlers open their own
 * read-only connection (vigil_store_open with VIGIL_STORE_READONLY), which WAL
 * lets run beside the writer.
 *
 *     struct vigil_store *st;
 *     vigil_store_open(&st, "state/vigil.db", 0);
 *     struct vigil_event ev = {.entity = "host", .group = "cpu", .start_ns = t, ...};
 *     vigil_store_event_put(st, &ev);            // inserts, sets ev.id
 *     ev.end_ns = t2; vigil_store_event_put(st, &ev);   // updates
 *     vigil_store_close(st);
 */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"

#define VIGIL_STORE_READONLY 1

struct vigil_store; /* opaque */

struct vigil_event {
    int64_t id;          /* 0 = not stored yet; set by vigil_store_event_put */
    const char *entity;  /* borrowed: "host", a container or VM name */
    const char *group;   /* borrowed: "cpu", "memory", "network", "filesystem", "other" */
    const char *model;   /* borrowed: model name, may be NULL */
    int64_t start_ns;    /* first anomalous step, ns since the epoch */
    int64_t end_ns;      /* last anomalous step; 0 while the event is open */
    double intensity;    /* peak score / threshold (> 1 when anomalous) */
    const char *features; /* borrowed JSON array of {"name":..,"share":..}, may be NULL */
    const char *fault;   /* borrowed: fault type from a supervised model, may be NULL */
};

struct vigil_event_filter {
    const char *entity; /* NULL = any */
    const char *group;  /* NULL = any */
    int64_t from_ns;    /* 0 = no lower bound (events ending before are skipped) */
    int64_t to_ns;      /* 0 = no upper bound (events starting after are skipped) */
    int limit;          /* 0 = 100; at most 10000 */
};

/*
 * Opens or creates the database at path (its directory must exist) with the
 * schema of docs/formats.md. Returns 0, -ENOMEM, or -EIO with the reason
 * logged once. Caller closes with vigil_store_close.
 */
int vigil_store_open(struct vigil_store **out, const char *path, int flags);
void vigil_store_close(struct vigil_store *st);

/* Inserts (ev->id == 0) or updates an event. Returns 0 or -EIO. */
int vigil_store_event_put(struct vigil_store *st, struct vigil_event *ev);

/*
 * Appends the matching events, newest first, as a JSON array to out:
 * [{"id":..,"entity":..,"group":..,"start":"RFC3339","end":..|null,"intensity":..,
 *   "features":[..],"fault":..|null,"model":..}]. Returns 0, -ENOMEM or -EIO.
 */
int vigil_store_events_json(struct vigil_store *st, const struct vigil_event_filter *f,
                            struct vigil_buf *out);

/* Counts events matching f (limit ignored). Returns the count or a negative code. */
int64_t vigil_store_events_count(struct vigil_store *st, const struct vigil_event_filter *f);

/*
 * Score history for the page and radiographies: one row per step, entity and
 * group (ratio to threshold), and the service metric. Writes between
 * vigil_store_begin and vigil_store_commit go in one transaction (one per
 * tick). Returns 0 or -EIO.
 */
int vigil_store_begin(struct vigil_store *st);
int vigil_store_commit(struct vigil_store *st);
int vigil_store_score_put(struct vigil_store *st, int64_t ts, const char *entity,
                          const char *group, double ratio);
int vigil_store_service_put(struct vigil_store *st, int64_t ts, double value);

/*
 * Reads the scores of one entity and group in [from, to] (0 = unbounded),
 * oldest first, with the service value of the same step (NaN when none), at
 * most max rows. Returns the count or a negative code.
 */
int64_t vigil_store_scores(struct vigil_store *st, const char *entity, const char *group,
                           int64_t from, int64_t to, int64_t *ts, double *ratio, double *service,
                           size_t max);

/* Deletes scores and service values older than before_ns. Returns 0 or -EIO. */
int vigil_store_prune(struct vigil_store *st, int64_t before_ns);

/*
 * Deletes the scores of one entity and group older than before_ns, and the
 * service values older than that: a range of the primary key, so it costs
 * what it deletes (vigil_store_prune scans every score). Returns 0 or -EIO.
 */
int vigil_store_prune_scores(struct vigil_store *st, const char *entity, const char *group,
                             int64_t before_ns);

/* Formats ns since the epoch as RFC 3339 UTC with milliseconds into out (>= 32 bytes). */
char *vigil_rfc3339(int64_t ns, char *out, size_t n);

#endif /* VIGIL_STORE_H */
