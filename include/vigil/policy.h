/*
 * Detection policy: turns a stream of score ratios (score / threshold) of one
 * entity and group into events, netdata-style, with named knobs:
 *
 *   threshold    a point is anomalous when ratio > threshold (default 1)
 *   consecutive  an event opens after this many anomalous points in a row
 *   clear        an open event closes after this many normal points in a row
 *   suppress     an anomaly starting within this time after an event closed
 *                reopens that event instead of raising a new one
 *
 * A missing ratio (NaN: no data, stale source, model not ready) changes
 * nothing, so a scrape target that goes down never turns into an anomaly
 * storm. No allocation; one struct per (entity, group).
 */
#ifndef VIGIL_POLICY_H
#define VIGIL_POLICY_H

#include <stdint.h>

struct vigil_policy_conf {
    double threshold;
    int consecutive;
    int clear;
    int64_t suppress_ns;
};

enum vigil_policy_state {
    VIGIL_POLICY_NORMAL = 0,
    VIGIL_POLICY_ANOMALY = 1,
};

enum vigil_policy_event {
    VIGIL_POLICY_NONE = 0,   /* nothing to report */
    VIGIL_POLICY_OPEN = 1,   /* a new event: start_ns, peak */
    VIGIL_POLICY_UPDATE = 2, /* the open event goes on (new peak or reopened) */
    VIGIL_POLICY_CLOSE = 3,  /* the event ended at end_ns */
};

struct vigil_policy {
    enum vigil_policy_state state;
    int run_hi;         /* anomalous points in a row */
    int run_lo;         /* normal points in a row */
    int64_t run_start;  /* time of the first point of the current anomalous run */
    int64_t start_ns;   /* open event: its first anomalous point */
    int64_t last_hi_ns; /* last anomalous point */
    int64_t end_ns;     /* last closed event's end, 0 = none */
    double peak;        /* open event: largest ratio */
    double ratio;       /* last finite ratio seen, NaN before any */
    int reopened;       /* the last UPDATE reopened a closed event */
};

/* Sets a policy to NORMAL with no history. */
void vigil_policy_init(struct vigil_policy *p);

/* Fills conf with the defaults: threshold 1, consecutive 3, clear 5, suppress 60 s. */
void vigil_policy_conf_default(struct vigil_policy_conf *conf);

/* Feeds the ratio at time ts and says what happened. */
enum vigil_policy_event vigil_policy_step(struct vigil_policy *p,
                                          const struct vigil_policy_conf *conf, int64_t ts,
                                          double ratio);

#endif /* VIGIL_POLICY_H */
