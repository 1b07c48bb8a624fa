/*
 * Live collection: host (/proc), containers (cgroup v1 and v2), VMs (libvirt)
 * and network counters, read every tick into a preallocated batch of
 * {series id, value} samples.
 *
 * A collect set owns a series table and runs the collectors of
 * src/collect/registry.c (one const ops table each, fluent-bit's input
 * plugins, netdata's proc_modules[]). Every collector reads its files under a
 * configurable root ("/" by default) so tests point it at fixture trees. Files
 * are opened once and re-read with pread each tick; series are interned once,
 * at discovery. After warm-up a tick allocates nothing unless the layout of a
 * source changes (a new CPU, device, cgroup or domain).
 *
 *     struct vigil_collect *c;
 *     struct vigil_collect_conf conf;
 *     vigil_collect_conf_default(&conf);
 *     conf.root = "tests/data/host";
 *     vigil_collect_new(&c, &conf);
 *     vigil_collect_set(c, "cgroup.max", "64", &diag);   // optional
 *     vigil_collect_start(c, &diag);
 *     for (;;) {
 *         const struct vigil_sample_batch *b;
 *         vigil_collect_tick(c, &b);        // b->v[i].series indexes vigil_collect_series(c)
 *     }
 *     vigil_collect_free(c);
 *
 * Names and types follow node-exporter (node_*), cAdvisor (container_*) and
 * the libvirt exporter (libvirt_domain_*); see docs/metrics.md.
 */
#ifndef VIGIL_COLLECT_H
#define VIGIL_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/opt.h"
#include "vigil/series.h"

#define VIGIL_COLLECTOR_ABI 1

/* One value of one series at one tick. */
struct vigil_sample {
    uint32_t series; /* id in the set's series table */
    double value;    /* raw: counters are not differenced here */
};

/* The samples of one tick, in collector order. Each series appears at most once. */
struct vigil_sample_batch {
    int64_t ts_ns;          /* CLOCK_REALTIME at the start of the tick */
    uint64_t tick;          /* 0 for the first tick */
    struct vigil_sample *v; /* owned by the set */
    size_t n;
    size_t cap; /* grows only when series are interned, never per sample */
};

struct vigil_collect;
struct vigil_collector;

/* What a collector sees during one tick. */
struct vigil_collect_cx {
    struct vigil_collect *set;
    struct vigil_collector *self;
    const char *root; /* without a trailing slash; "" for "/" */
    uint64_t tick;
    int rescan; /* 1 when discovery should run (first tick, then every `rescan` interval) */
    int64_t now; /* the set's monotonic clock at the start of the tick, ns (conf.clock) */
};

struct vigil_collector_ops {
    int abi;                      /* VIGIL_COLLECTOR_ABI */
    const char *name;             /* "stat", "meminfo", "cgroup", "libvirt" */
    const char *summary;          /* one line for `vigil collect --list` */
    const struct vigil_opt *opts; /* option table for params; NULL when none */
    size_t params_size;           /* bytes of the params struct */
    int default_on;               /* runs when the user does not list collectors */

    /*
     * Creates the context from params (borrowed for the call: copy what you
     * keep), checks the source exists under root, and may intern fixed series
     * in set. Returns 0, -ENOMEM, VIGIL_ECONFIG (bad option), or
     * VIGIL_ENOTSUP when the source is absent here (the collector is skipped
     * with a log line, not an error).
     */
    int (*init)(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                const void *params);
    /*
     * Reads the sources and emits samples with vigil_collect_emit. An
     * unreadable source is reported with vigil_collect_fail and the rest goes
     * on; a return code < 0 means the collector could not run at all this
     * tick (counted as one error). Must not allocate unless the layout changed.
     */
    int (*collect)(struct vigil_collector *c, struct vigil_collect_cx *cx);
    /* Releases the context; safe when init failed. */
    void (*fini)(struct vigil_collector *c);
};

struct vigil_collector {
    const struct vigil_collector_ops *ops;
    void *ctx;     /* owned by the collector */
    void *params;  /* owned by the set; filled from the option table */
    int on;        /* 1 when started */
    uint32_t id_errors;   /* vigil_collect_errors_total{collector} */
    uint32_t id_duration; /* vigil_collect_duration_seconds{collector} */
    uint64_t errors;
    int warned; /* a failure was logged since the last clean tick */
    int failed_this_tick;
};

/* Registered collectors in table order, NULL-terminated (src/collect/registry.c). */
const struct vigil_collector_ops *const *vigil_collector_list(void);
/* Finds a registered collector by name, or NULL. */
const struct vigil_collector_ops *vigil_collector_find(const char *name);

/* ---- the collect set ---- */

/* A monotonic clock in ns (tests and the soak benchmark pass a simulated one). */
typedef int64_t (*vigil_collect_clock_fn)(void *user);

struct vigil_collect_conf {
    const char *root;       /* read sources under this directory; "/" by default (copied) */
    const char *collectors; /* comma list of collectors to run; NULL = the default set (copied) */
    int64_t rescan_ns;      /* discovery interval for cgroups, domains, mounts (default 1 s) */
    size_t max_series;      /* refuse new series beyond this (default 100000) */
    /*
     * Grace period before the series of a vanished entity (cgroup, domain,
     * interface, mount, process) are retired: removed from the table, their
     * ids reused by new series. 0 (the default) keeps every series for the
     * life of the set, so ids are never reused; see vigil_collect_reused.
     */
    int64_t retire_ns;
    vigil_collect_clock_fn clock; /* rescans and retirement; NULL = vigil_clock_mono_ns */
    void *clock_user;             /* passed to clock */
};

/* Fills conf with the defaults. */
void vigil_collect_conf_default(struct vigil_collect_conf *conf);

/*
 * Creates a set with every listed collector's params at their defaults.
 * Returns 0, -ENOMEM, or VIGIL_ECONFIG for an unknown collector name (diag
 * names it). *out is freed with vigil_collect_free.
 */
int vigil_collect_new(struct vigil_collect **out, const struct vigil_collect_conf *conf,
                      struct vigil_diag *diag);

/*
 * Sets a collector option before start: key is "collector.option"
 * ("cgroup.max"). Returns 0, VIGIL_ECONFIG (unknown collector or option, bad
 * value; diag says which) or -ENOMEM.
 */
int vigil_collect_set(struct vigil_collect *c, const char *key, const char *val,
                      struct vigil_diag *diag);

/*
 * Initializes the listed collectors. One whose source is absent (ENOTSUP) is
 * skipped with an info log; any other failure is returned with diag naming
 * the collector. Returns 0, -ENOMEM, VIGIL_ECONFIG, or VIGIL_EEMPTY when no
 * collector could start.
 */
int vigil_collect_start(struct vigil_collect *c, struct vigil_diag *diag);

/*
 * Runs one tick of every started collector. *out points at the set's batch,
 * borrowed until the next tick or free. Returns 0 or -ENOMEM (a new series
 * could not be interned; the tick's other samples are kept, and a discovery
 * the failure cut short is done again at the next tick).
 */
int vigil_collect_tick(struct vigil_collect *c, const struct vigil_sample_batch **out);

/*
 * The series table (borrowed; grows at discovery). The id of a live series
 * never changes. With retire_ns > 0, a retired series leaves a hole (key
 * NULL) whose id a later new series may take, and the holes at the end of
 * the ids are trimmed off (n falls): a consumer that mirrors the table must
 * not take n as a high-water mark. Either way a taken id is listed by
 * vigil_collect_reused.
 */
const struct vigil_series_table *vigil_collect_series(const struct vigil_collect *c);

/*
 * Ids that the last tick gave to a new series after retiring an older one
 * (always none when retire_ns is 0). A consumer that keeps state per id
 * (a column map, a model input) resets it for these. Borrowed until the next
 * tick; *n is set.
 */
const uint32_t *vigil_collect_reused(const struct vigil_collect *c, size_t *n);

/* Series in the table now, holes left by retired series not counted. */
size_t vigil_collect_n_live(const struct vigil_collect *c);

/* Number of started collectors, and the i-th one (borrowed). */
size_t vigil_collect_n_collectors(const struct vigil_collect *c);
const struct vigil_collector *vigil_collect_collector(const struct vigil_collect *c, size_t i);

/* Releases the set and every collector. NULL is a no-op. */
void vigil_collect_free(struct vigil_collect *c);

/* ---- rendering the last tick as Prometheus text 0.0.4 ---- */

enum vigil_render_flags {
    VIGIL_RENDER_TIMESTAMPS = 1, /* append the tick's time in ms to every sample line */
    VIGIL_RENDER_META_ONCE = 2,  /* # HELP/# TYPE only for families not rendered before */
    VIGIL_RENDER_NO_HELP = 4,    /* # TYPE without # HELP: the kinds a reader needs, not the
                                    texts (about half the page with every field). Not with
                                    META_ONCE: a family would count as described without its
                                    # HELP ever written */
    VIGIL_RENDER_FIT = 8,        /* out holds this page alone: room beyond what it needs (left
                                    by a burst of series) goes back. Not for a buffer more text
                                    is appended to after (vigil watch's /metrics): it would
                                    grow back at every render */
};

/*
 * Appends the last tick's samples to out, grouped by family with # HELP and
 * # TYPE lines. Series absent from the last tick (a vanished cgroup) are left
 * out. Returns 0 or -ENOMEM. After warm-up the buffer does not grow.
 */
int vigil_collect_render(struct vigil_collect *c, struct vigil_buf *out, unsigned flags);

/*
 * Formats v as Prometheus does (shortest text that reads back to v: "12",
 * "0.25", "1e+21", "NaN", "+Inf") into out (>= 32 bytes). Returns the length.
 */
size_t vigil_fmt_value(char *out, double v);

/* ---- for collectors (src/collect/) ---- */

/*
 * Interns a series for the calling collector, with its family's help text,
 * kind, resource group and entity (NULL = the host). Allocates: call at
 * discovery, never per sample. Returns 0, -ENOMEM, -E2BIG past max_series,
 * or VIGIL_EPARSE for a metric or label name outside Prometheus' grammar (or
 * a NUL in a label value).
 */
int vigil_collect_intern(struct vigil_collect *c, const char *name,
                         const struct vigil_label_ref *labels, size_t n_labels,
                         enum vigil_kind kind, enum vigil_group group, const char *entity,
                         const char *help, uint32_t *id);

/*
 * Says the caller no longer holds id (its entity vanished). With retire_ns
 * > 0 the series is retired once retire_ns has passed, unless it is interned
 * or emitted again first (a container that restarts keeps its ids). Without
 * retirement it does nothing. May allocate (at discovery, like intern); an
 * allocation failure only means the series is kept.
 */
void vigil_collect_release(struct vigil_collect *c, uint32_t id);

/* Appends one sample to the current tick. Never allocates. */
void vigil_collect_emit(struct vigil_collect_cx *cx, uint32_t id, double value);

/*
 * Counts one error for the calling collector in vigil_collect_errors_total
 * and logs "collector: what: reason" once until the collector has a clean tick.
 */
void vigil_collect_fail(struct vigil_collect_cx *cx, const char *what, int rc);

#endif /* VIGIL_COLLECT_H */
