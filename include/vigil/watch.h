/*
 * The watch engine: live detection for the `vigil watch` service. It is fed
 * one dense raw row per tick (column j = series j of a series table that may
 * grow), keeps a bounded history, learns what normal is per entity after a
 * warm-up (one unsupervised model per entity, with one submodel per resource
 * group), retrains on a cadence on a worker thread and swaps models without a
 * gap, scores every step, and turns scores into events through the detection
 * policy (include/vigil/policy.h). Events carry entity, group, start and end,
 * intensity (score / threshold), the features that explain 90% of the
 * reconstruction error and, when a supervised model file is configured, the
 * fault type it predicts for the entity.
 *
 * Everything is fed from one thread (the loop); training is the only other
 * thread and shares nothing mutable with it except one atomic pointer. No
 * allocation per tick once the series set and the models are stable.
 *
 *     struct vigil_watch *w;
 *     vigil_watch_new(&w, &conf, model_params, &sink, &diag);
 *     every tick: vigil_watch_push(w, ts, series, row);
 *     vigil_watch_render_metrics(w, &buf);   // for /metrics
 *     vigil_watch_free(w);                   // joins the trainer
 */
#ifndef VIGIL_WATCH_H
#define VIGIL_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/config.h"
#include "vigil/err.h"
#include "vigil/opt.h"
#include "vigil/series.h"

struct vigil_watch_conf {
    int64_t step;      /* expected spacing of pushed rows (ns) */
    int64_t warmup;    /* history needed before the first training (ns) */
    int64_t retrain;   /* retraining cadence (ns); 0 = never */
    int64_t history;   /* span of history used for training (ns) */
    int history_rows;  /* cap on the rows kept (memory: rows x series x 4 bytes) */
    char *model;       /* model name: "lstm-ae", "pca", "kmeans" */
    int train_windows; /* cap on training windows (sets the model's stride) */
    int min_series;    /* entities with fewer usable series are not modelled */
    int max_entities;  /* at most this many entities get a model (host first) */
    double threshold;  /* policy: ratio above which a point is anomalous */
    int consecutive;   /* policy: anomalous points in a row to open an event */
    int clear;         /* policy: normal points in a row to close it */
    int64_t suppress;  /* policy: reopen instead of a new event within this time */
    int rate_window;   /* steps over which the per-entity anomaly rate is taken */
    int threads;       /* training threads */
    double explain;    /* share of the error the reported features explain (0.9) */
    char *exclude;     /* POSIX ERE of series names kept out of the models */
    double min_error;  /* floor of every group threshold (MSE, scaled units) */
    double calibrate;  /* share of the newest history held out to set thresholds */
    double quantile;   /* threshold quantile of the held-out errors */
    double range_floor; /* prep's range floor (share of a series' magnitude) */
    double cpu_floor;   /* least range of time counters, seconds per second */
    int64_t resend;    /* an open event is reported again (UPDATED) at least this often */
    char *supervised;  /* model file of a supervised model naming the fault type, or NULL */
    char *classes;     /* comma-separated names of class ids 0, 1, ... (NULL = the ids) */
};

/* Option table for the conf (flags of `vigil watch`, keys of a "watch:" section). */
extern const struct vigil_opt vigil_watch_opts[];

/* Fills conf with the defaults of vigil_watch_opts. Returns 0 or -ENOMEM. */
int vigil_watch_conf_default(struct vigil_watch_conf *conf);
/* Frees the strings of a conf. */
void vigil_watch_conf_fini(struct vigil_watch_conf *conf);

enum vigil_watch_phase {
    VIGIL_WATCH_WARMUP = 0,   /* collecting the first history */
    VIGIL_WATCH_TRAINING = 1, /* first models being trained */
    VIGIL_WATCH_SCORING = 2,  /* models live (retraining may run behind) */
};

/* An event as the engine reports it; strings borrowed for the callback. */
struct vigil_watch_event {
    int64_t id; /* the sink sets it on OPEN (e.g. the store's row id) */
    const char *entity;
    const char *group;
    const char *model;
    int64_t start_ns;
    int64_t end_ns;       /* 0 while open */
    double intensity;     /* peak score / threshold */
    const char *features; /* JSON array [{"name":..,"share":..}], largest share first */
    const char *fault;    /* "class (p=0.93)" from the supervised model, or NULL */
    int reopened;         /* an UPDATE that reopened an event within the suppression window */
    int refresh;          /* an UPDATE sent because the event stayed open `resend` long */
};

enum vigil_watch_change {
    VIGIL_WATCH_OPENED = 1,
    VIGIL_WATCH_UPDATED = 2,
    VIGIL_WATCH_CLOSED = 3,
};

/* Where events go (store, JSON lines, Alertmanager): called on the loop thread. */
struct vigil_watch_sink {
    void (*event)(void *user, enum vigil_watch_change what, struct vigil_watch_event *ev);
    void *user;
};

struct vigil_watch;

/*
 * Creates an engine. model_params is the chosen model's params struct (filled
 * from its option table and config), copied deeply (strings included). NULL =
 * the model's defaults. conf is copied; its strings are read during the call
 * only. When conf->supervised names a model file it is loaded here. Returns
 * 0, -ENOMEM, VIGIL_ECONFIG (unknown model or bad value, diag says which),
 * or the model file's error (-errno, VIGIL_EFORMAT, VIGIL_ENOTSUP; diag names
 * the file).
 */
int vigil_watch_new(struct vigil_watch **out, const struct vigil_watch_conf *conf,
                    const void *model_params, const struct vigil_watch_sink *sink,
                    struct vigil_diag *diag);

/*
 * Feeds the raw row of time ts: row[j] is the value of series j of series
 * (NaN when absent this tick), for j < series->n. The table is read during
 * the call only. Returns 0 or -ENOMEM.
 */
int vigil_watch_push(struct vigil_watch *w, int64_t ts, const struct vigil_series_table *series,
                     const float *row);

/* Updates the policy knobs live (after a SIGHUP); model changes wait for the next training. */
void vigil_watch_set_policy(struct vigil_watch *w, const struct vigil_watch_conf *conf);

/* Closes every open event at time ts (clean shutdown: nothing is lost). */
void vigil_watch_close_all(struct vigil_watch *w, int64_t ts);

/* Phase, warm-up progress in [0,1], and the number of modelled entities. */
enum vigil_watch_phase vigil_watch_phase(const struct vigil_watch *w);
double vigil_watch_progress(const struct vigil_watch *w);
size_t vigil_watch_n_models(const struct vigil_watch *w);
/* 1 while a training runs on the worker thread (its result is installed at the next push). */
int vigil_watch_training(const struct vigil_watch *w);

/*
 * Appends the engine's metrics in Prometheus text: vigil_anomaly_score{entity,
 * group} (ratio to threshold), vigil_anomaly{entity,group} (0/1),
 * vigil_anomaly_rate_ratio{entity}, and health (phase, trainings, training
 * duration, history rows, events). Returns 0 or -ENOMEM.
 */
int vigil_watch_render_metrics(const struct vigil_watch *w, struct vigil_buf *out);

/* Appends /api/entities JSON: [{"entity","rate","groups":{g:{"score","anomaly"}}}] (score null
 * while missing). Returns 0 or -ENOMEM. */
int vigil_watch_render_entities(const struct vigil_watch *w, struct vigil_buf *out);

/*
 * Copies the recent (time, score ratio) points of one entity and group, oldest
 * first, for radiographies; returns how many (at most max).
 */
size_t vigil_watch_recent(const struct vigil_watch *w, const char *entity, const char *group,
                          int64_t *ts, float *ratio, size_t max);

/*
 * Calls fn for every scored step after since_ns still held in the entities'
 * recent history (the last rate-window steps), oldest first per entity and
 * group: for writing score history in batches. Ratios may be NaN.
 */
typedef void (*vigil_watch_score_fn)(void *user, const char *entity, const char *group, int64_t ts,
                                     double ratio);
void vigil_watch_scores_since(const struct vigil_watch *w, int64_t since_ns,
                              vigil_watch_score_fn fn, void *user);

/* Calls fn for every modelled entity and group with its last ratio and state. */
typedef void (*vigil_watch_visit_fn)(void *user, const char *entity, const char *group,
                                     double ratio, int anomaly);
void vigil_watch_visit(const struct vigil_watch *w, vigil_watch_visit_fn fn, void *user);

/* Stops the trainer (joins it) and frees everything. NULL is a no-op. */
void vigil_watch_free(struct vigil_watch *w);

/* ---- the service's state in SQLite (src/detect/watch_store.c) ---- */

struct vigil_store;

/*
 * Stores an event the sink received: inserts it when ev->id is 0 (and sets
 * ev->id, which the engine keeps for the event's later changes), updates it
 * otherwise. Returns 0 or -EIO (logged by the store).
 */
int vigil_watch_store_event(struct vigil_store *st, struct vigil_watch_event *ev);

/* Service values buffered between two flushes of the history. */
#define VIGIL_WATCH_HISTORY_BUF 64

/*
 * The score and service history for the page, written in one transaction
 * every `every` (caller storage; fields private). Scores come from the
 * engine's recent history (vigil_watch_scores_since), so `every` must stay
 * well within rate-window steps.
 */
struct vigil_watch_history {
    struct vigil_store *st; /* borrowed */
    int64_t span, every;    /* history kept; flush cadence (ns) */
    int64_t svc_ts[VIGIL_WATCH_HISTORY_BUF];
    float svc_v[VIGIL_WATCH_HISTORY_BUF];
    size_t n_svc;
    int64_t flushed, last_flush, last_prune, prune_before;
    int scored; /* the first scores were flushed */
};

/* Sets up h on st (borrowed until the last tick) at time now (ns). span/every 0 = 24 h / 10 s. */
void vigil_watch_history_init(struct vigil_watch_history *h, struct vigil_store *st, int64_t now,
                              int64_t span, int64_t every);

/*
 * Buffers the service value of tick ts (NaN = none) and flushes when `every`
 * has passed, the buffer is full, the engine has just started scoring, or
 * force (shutdown). Once a minute a flush also prunes what is older than span.
 */
void vigil_watch_history_tick(struct vigil_watch_history *h, const struct vigil_watch *w,
                              int64_t ts, double service, int force);

#endif /* VIGIL_WATCH_H */
