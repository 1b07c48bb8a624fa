/*
 * Threat alarms from classified flows. Each flagged flow is offered with its
 * class and score; flows of the same key (by default: the victim for DoS, the
 * source for everything else) join one alarm while they keep coming less than
 * dedup apart, so a flood from ten thousand spoofed sources is one alarm on
 * its victim, and a scan is one alarm on its scanner. An alarm goes out when
 * raised: a JSON line, an event row in the SQLite store, an Alertmanager
 * alert, a callback (the NATS worker publishes it), and an optional command
 * (a prevention hook, never run unless configured). When its key stays quiet
 * for dedup, the alarm closes: the store row gets its end and Alertmanager
 * the alert's end.
 *
 * Times are flow window times, not the wall clock, so a capture file replayed
 * in a second deduplicates as it would have live. Memory is fixed at creation
 * (max_keys open alarms; beyond that the stalest alarm is closed early).
 *
 *     struct vigil_threat_params tp;
 *     vigil_threat_params_default(&tp);
 *     tp.jsonl = stdout;
 *     struct vigil_threat *t;
 *     vigil_threat_new(&t, &tp);
 *     for each record r with class c != normal and score s: vigil_threat_offer(t, &r, c, s);
 *     vigil_threat_flush(t);     // closes every open alarm
 *     vigil_threat_free(t);
 */
#ifndef VIGIL_THREAT_H
#define VIGIL_THREAT_H

#include <stdint.h>
#include <stdio.h>

#include "vigil/flow.h"

struct vigil_store;
struct vigil_alert_client;

enum vigil_threat_key {
    VIGIL_THREAT_KEY_AUTO = 0, /* DoS by destination, other classes by source */
    VIGIL_THREAT_KEY_SRC = 1,
    VIGIL_THREAT_KEY_DST = 2,
    VIGIL_THREAT_KEY_FLOW = 3, /* (source, destination) */
};

/* Classes with their own min_flows (ids of enum vigil_threat_class, and the anomaly class 5). */
#define VIGIL_THREAT_CLASS_MAX 8

/* Receives each raised alarm as one JSON object (n bytes, no newline), borrowed for the call. */
typedef int (*vigil_threat_sink_fn)(void *user, const char *json, size_t n);

struct vigil_threat_params {
    enum vigil_threat_key key;
    int64_t dedup_ns; /* default 60 s */
    /* Flagged flows a key must gather (within dedup of each other) before its alarm is
       raised, per class; 0 or 1 = the first flow raises it. Default: 16 for DoS (a
       flood is many flows at one victim; a lone SYN of a normal connection is not),
       1 otherwise. */
    uint32_t min_flows[VIGIL_THREAT_CLASS_MAX];
    size_t max_keys;                   /* open alarms tracked at once; default 65536 */
    const char *model;                 /* model name written in alarms; borrowed; may be NULL */
    const char *sensor;                /* sensor name written in alarms; borrowed; may be NULL */
    FILE *jsonl;                       /* JSON line per raised alarm; borrowed; NULL = none */
    struct vigil_store *store;         /* borrowed; NULL = none */
    struct vigil_alert_client *alerts; /* borrowed; NULL = none */
    const char *hook;          /* "/bin/sh -c" command per raised alarm; NULL = none (default) */
    vigil_threat_sink_fn sink; /* NULL = none */
    void *sink_user;
};

void vigil_threat_params_default(struct vigil_threat_params *p);

/* Parses "auto", "src", "dst" or "flow"; -1 otherwise. */
int vigil_threat_key_parse(const char *s);

struct vigil_threat; /* opaque */

struct vigil_threat_stats {
    uint64_t offered;    /* flagged flows offered */
    uint64_t raised;     /* alarms raised */
    uint64_t closed;     /* alarms closed */
    uint64_t suppressed; /* flows that joined a raised alarm */
    uint64_t below_min;  /* keys that closed before gathering min_flows flows: no alarm */
    uint64_t evicted;    /* alarms closed early because max_keys were open */
    uint64_t hooks_run;
    uint64_t hooks_skipped; /* not run: 4 hooks were still running */
    uint64_t sink_errors;   /* store, Alertmanager or sink calls that failed */
};

/* Creates the alarm table. Returns 0, -EINVAL (dedup < 0, max_keys 0) or -ENOMEM. */
int vigil_threat_new(struct vigil_threat **out, const struct vigil_threat_params *p);

/*
 * Offers one flagged flow of class cls (> 0) with score in [0,1]. Returns 1
 * when it raised an alarm (a new key, or a key reaching its class's
 * min_flows), 0 when it joined an open or still pending one, -EINVAL for a
 * bad class. Output failures (store, Alertmanager, sink) are counted in
 * sink_errors and logged once, not returned: detection goes on.
 */
int vigil_threat_offer(struct vigil_threat *t, const struct vigil_flow_rec *r, int cls,
                       float score);

/* Closes every open alarm (end of input). Returns 0. */
int vigil_threat_flush(struct vigil_threat *t);

void vigil_threat_stats(const struct vigil_threat *t, struct vigil_threat_stats *out);

/* Waits (up to 5 s) for running hooks and frees; NULL is a no-op. Does not flush. */
void vigil_threat_free(struct vigil_threat *t);

#endif /* VIGIL_THREAT_H */
