/*
 * The watch engine (include/vigil/watch.h): history, training on a worker
 * thread, atomic model swap, live scoring through the shared preprocessing
 * stream, the detection policy and explanations.
 *
 * Threads: the loop thread calls everything here. A training job owns copies
 * of the history it needs (one frame per entity) and of the model params
 * (strings included); the trainer thread touches nothing but its job, turns
 * it into a generation of fitted models and says so through the job's one
 * atomic state, which the loop reads at its next tick. Nothing else is
 * shared, so a trainer still running at shutdown can be left behind safely:
 * whichever side finishes last frees the job.
 *
 * Dimension letters: N rows, S raw series, F features of an entity, T rows a
 * model needs to score one step (its lag + 1), G groups of an entity's model.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/eval.h"
#include "vigil/frame.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/policy.h"
#include "vigil/prep.h"
#include "vigil/prom.h"
#include "vigil/recon.h"
#include "vigil/watch.h"

#define SEC 1000000000LL
#define HOST "host"

const struct vigil_opt vigil_watch_opts[] = {
    {"step", VIGIL_OPT_DURATION, offsetof(struct vigil_watch_conf, step), "1s", 0.01, 3600,
     "collection and scoring step", NULL},
    {"warmup", VIGIL_OPT_DURATION, offsetof(struct vigil_watch_conf, warmup), "10m", 1, 7 * 86400,
     "history collected before the first training", NULL},
    {"retrain", VIGIL_OPT_DURATION, offsetof(struct vigil_watch_conf, retrain), "3h", 0, 30 * 86400,
     "retraining cadence (0 = never)", NULL},
    {"history", VIGIL_OPT_DURATION, offsetof(struct vigil_watch_conf, history), "24h", 1,
     30 * 86400, "span of history each training uses", NULL},
    {"history-rows", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, history_rows), "20000", 10,
     10000000, "rows of history kept (memory: rows x series x 4 bytes)", NULL},
    {"model", VIGIL_OPT_STR, offsetof(struct vigil_watch_conf, model), "lstm-ae", 0, 0,
     "unsupervised model per entity (lstm-ae, pca, kmeans)", NULL},
    {"train-windows", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, train_windows), "4096", 16,
     10000000, "at most this many training windows (sets the model's stride)", NULL},
    {"min-series", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, min_series), "2", 1, 100000,
     "entities with fewer usable series get no model", NULL},
    {"max-entities", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, max_entities), "32", 1,
     100000, "entities modelled at most (the host first)", NULL},
    {"threshold", VIGIL_OPT_DOUBLE, offsetof(struct vigil_watch_conf, threshold), "1", 0.01, 1e6,
     "a point is anomalous when score/threshold exceeds this", NULL},
    {"consecutive", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, consecutive), "3", 1, 10000,
     "anomalous points in a row that open an event", NULL},
    {"clear", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, clear), "5", 1, 10000,
     "normal points in a row that close an event", NULL},
    {"suppress", VIGIL_OPT_DURATION, offsetof(struct vigil_watch_conf, suppress), "60s", 0, 86400,
     "an anomaly within this time after an event reopens it", NULL},
    {"rate-window", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, rate_window), "300", 1,
     1000000, "steps over which the per-entity anomaly rate is taken", NULL},
    {"threads", VIGIL_OPT_INT, offsetof(struct vigil_watch_conf, threads), "1", 1, 64,
     "training threads", NULL},
    {"min-error", VIGIL_OPT_DOUBLE, offsetof(struct vigil_watch_conf, min_error), "1e-4", 0, 1,
     "floor of every group threshold (MSE in scaled units): rounding noise never alarms", NULL},
    {"calibrate", VIGIL_OPT_DOUBLE, offsetof(struct vigil_watch_conf, calibrate), "0.25", 0, 0.9,
     "share of the newest history held out of training to set the thresholds", NULL},
    {"quantile", VIGIL_OPT_DOUBLE, offsetof(struct vigil_watch_conf, quantile), "0.99", 0.5, 1,
     "threshold quantile of the held-out errors (empirical, or of a log-normal fitted to them "
     "when that is higher)",
     NULL},
    {"range-floor", VIGIL_OPT_DOUBLE, offsetof(struct vigil_watch_conf, range_floor), "0.01", 0, 1,
     "scaling ranges narrower than this share of a series' magnitude are widened to it: a "
     "level that barely moved in the history (free bytes, committed memory) may drift",
     NULL},
    {"cpu-floor", VIGIL_OPT_DOUBLE, offsetof(struct vigil_watch_conf, cpu_floor), "0.05", 0, 1000,
     "time counters (*_seconds_total: CPU, pressure, I/O time) vary by at least this many "
     "seconds per second in the scaling: scheduling noise on an idle host is not a burst",
     NULL},
    {"exclude", VIGIL_OPT_STR, offsetof(struct vigil_watch_conf, exclude),
     "^vigil_|^node_load(1|5|15)$", 0, 0,
     "series names (POSIX regex) kept out of the models: vigil's own health, and load "
     "averages, which lag a burst by minutes",
     NULL},
    {"explain", VIGIL_OPT_DOUBLE, offsetof(struct vigil_watch_conf, explain), "0.9", 0.01, 1,
     "share of the error the reported features explain", NULL},
    {"resend", VIGIL_OPT_DURATION, offsetof(struct vigil_watch_conf, resend), "60s", 1, 86400,
     "an open event is reported again this often (Alertmanager resolves alerts that are not "
     "resent within its resolve_timeout, 5m by default)",
     NULL},
    {"supervised", VIGIL_OPT_STR, offsetof(struct vigil_watch_conf, supervised), NULL, 0, 0,
     "model file of a supervised model (vigil train -m rf) naming the fault type of events", NULL},
    {"classes", VIGIL_OPT_STR, offsetof(struct vigil_watch_conf, classes), NULL, 0, 0,
     "names of the supervised model's class ids 0,1,... as a comma list (default: the ids)", NULL},
    {0},
};

int vigil_watch_conf_default(struct vigil_watch_conf *conf)
{
    memset(conf, 0, sizeof *conf);
    return vigil_opt_defaults(vigil_watch_opts, conf);
}

void vigil_watch_conf_fini(struct vigil_watch_conf *conf)
{
    vigil_opt_free(vigil_watch_opts, conf);
}

/* ---- training generations (built by the trainer, read by the loop) ---- */

struct gen_entity {
    char *entity;
    struct vigil_prep *prep;
    struct vigil_model model;
    double thresh[VIGIL_GROUP_COUNT + 1]; /* calibrated on held-out rows; 0 = none */
};

struct gen {
    struct gen_entity *e;
    size_t n;
    size_t rows;    /* history rows trained on */
    double seconds; /* training wall time */
    int failures;   /* entities whose training failed */
    size_t masked;  /* rows x groups of past events left out */
};

static void gen_free(struct gen *g)
{
    if (!g) {
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        vigil_free(g->e[i].entity);
        vigil_prep_free(g->e[i].prep);
        vigil_model_fini(&g->e[i].model);
    }
    vigil_free(g->e);
    vigil_free(g);
}

/* The span of a past or open event of one entity and group (engine side). */
struct span {
    char *entity; /* owned */
    uint8_t group;
    int64_t from, to;
};

/* The same in a job: entity k of the job. */
struct job_span {
    size_t k;
    uint8_t group;
    int64_t from, to;
};

#define SPAN_MAX 256 /* event spans remembered; the oldest goes first */

/* Who owns a job: the trainer while RUNNING, then the loop (DONE); ABANDONED = the trainer
 * frees it when it finishes (the engine was freed meanwhile). */
enum { JOB_RUNNING = 0, JOB_DONE = 1, JOB_ABANDONED = 2 };

/* A training job: everything the trainer needs, owned by the job. */
struct job {
    _Atomic int state;
    struct vigil_frame *frames; /* one per entity */
    char **entities;
    size_t n;
    const struct vigil_model_ops *ops;
    void *params; /* deep copy of the model params (params_dup) */
    int train_windows;
    int min_series;
    int threads;
    double calibrate;       /* share of the newest rows held out to set thresholds */
    double quantile;        /* of the held-out errors */
    double range_floor;     /* prep's range floor */
    double seconds_floor;   /* prep's seconds floor (per step) */
    struct job_span *spans; /* (n_spans) past events of the job's entities, kept out */
    size_t n_spans;
    size_t masked; /* rows x groups left out (trainer) */
    struct gen *result;
};

/*
 * A deep copy of a model's params struct: every string option is duplicated,
 * so the copy outlives whoever filled the original. NULL on OOM. Freed with
 * params_free.
 */
static void *params_dup(const struct vigil_model_ops *ops, const void *src)
{
    void *p = vigil_malloc(ops->params_size ? ops->params_size : 1);
    if (!p) {
        return NULL;
    }
    memcpy(p, src, ops->params_size);
    int ok = 1;
    for (const struct vigil_opt *o = ops->opts; o && o->name; o++) {
        if (o->type == VIGIL_OPT_STR) {
            char **slot = (char **)(void *)((char *)p + o->off);
            const char *orig = *slot;
            *slot = orig ? vigil_strdup(orig) : NULL;
            ok &= !orig || *slot != NULL;
        }
    }
    if (!ok) {
        vigil_opt_free(ops->opts, p);
        vigil_free(p);
        return NULL;
    }
    return p;
}

static void params_free(const struct vigil_model_ops *ops, void *p)
{
    if (p) {
        vigil_opt_free(ops->opts, p);
        vigil_free(p);
    }
}

static void job_free(struct job *j)
{
    if (!j) {
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        if (j->frames) {
            vigil_frame_fini(&j->frames[i]);
        }
        vigil_free(j->entities[i]);
    }
    vigil_free(j->frames);
    vigil_free(j->entities);
    vigil_free(j->spans);
    params_free(j->ops, j->params);
    gen_free(j->result);
    vigil_free(j);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Held-out rows scored per call: the model keeps scratch for the largest call it saw. */
#define CAL_CHUNK 256

/* The q-quantile of n sorted values, interpolated linearly. */
static double sorted_quantile(const double *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    double frac = pos - (double)lo;
    return lo + 1 < n ? v[lo] * (1 - frac) + v[lo + 1] * frac : v[lo];
}

/*
 * The q-quantile of n positive errors v (sorted in place): the larger of the
 * empirical one and that of a log-normal fitted to the upper half of them. A
 * few hundred held-out rows (a short warm-up) put the empirical 99th
 * percentile at about the largest value seen, which normal data exceed every
 * few dozen steps; the fitted tail extrapolates past it. The fit uses the
 * median and the 90th percentile (sigma = (ln q90 - ln q50) / z(0.9)), not the
 * mean and spread of the logs: errors a model reconstructs almost exactly
 * (1e-9 beside 1e-3) would make the spread, and the threshold, huge.
 */
static double tail_quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    double emp = sorted_quantile(v, n, q);
    double q50 = sorted_quantile(v, n, 0.5), q90 = sorted_quantile(v, n, 0.9);
    if (n < 8 || q >= 1 || !(q50 > 0) || !(q90 > q50)) {
        return emp;
    }
    double sigma = (log(q90) - log(q50)) / vigil_normal_quantile(0.9);
    double fit = exp(log(q50) + vigil_normal_quantile(q) * sigma);
    return fit > emp ? fit : emp;
}

/*
 * Sets out->thresh[g] to tail_quantile (q) of group g's MSE over the held-out
 * rows [n_fit, N) of feat, each scored with the window context before it, in
 * chunks of CAL_CHUNK rows so that the model's scoring scratch stays small
 * for its whole life. With no held-out rows the model's own training
 * thresholds stay in force.
 */
static int calibrate(struct gen_entity *out, const struct vigil_frame *feat, size_t n_fit, double q)
{
    struct vigil_model *m = &out->model;
    size_t lag = vigil_recon_lag(m), f = feat->f, ng = vigil_recon_n_groups(m);
    if (n_fit >= feat->n || ng == 0) {
        return 0;
    }
    size_t held = feat->n - n_fit;
    float *se = vigil_mallocarray(lag + CAL_CHUNK, f * sizeof(float)); /* (lag+chunk, F) */
    double *mse = vigil_mallocarray(ng, held * sizeof(double));        /* (G, held) */
    size_t *fg = vigil_mallocarray(f, sizeof *fg);                     /* (F) group of feature */
    size_t cnt[VIGIL_GROUP_COUNT + 1] = {0};
    int rc = se && mse && fg ? 0 : -ENOMEM;
    for (size_t c = 0; !rc && c < f; c++) {
        fg[c] = vigil_recon_feature_group(m, c);
    }
    for (size_t a = n_fit; !rc && a < feat->n; a += CAL_CHUNK) {
        size_t b = a + CAL_CHUNK < feat->n ? a + CAL_CHUNK : feat->n;
        size_t s0 = a > lag ? a - lag : 0;
        rc = vigil_recon_errors(m, feat->x + s0 * f, b - s0, se);
        for (size_t i = a; !rc && i < b; i++) {
            const float *e = se + (i - s0) * f;
            double sum[VIGIL_GROUP_COUNT + 1] = {0};
            size_t n[VIGIL_GROUP_COUNT + 1] = {0};
            int ok[VIGIL_GROUP_COUNT + 1];
            for (size_t g = 0; g < ng; g++) {
                ok[g] = 1;
            }
            for (size_t c = 0; c < f; c++) {
                ok[fg[c]] &= isfinite(e[c]);
                sum[fg[c]] += (double)e[c];
                n[fg[c]]++;
            }
            for (size_t g = 0; g < ng; g++) {
                if (ok[g] && n[g]) {
                    mse[g * held + cnt[g]++] = sum[g] / (double)n[g];
                }
            }
        }
    }
    for (size_t g = 0; !rc && g < ng; g++) {
        if (cnt[g]) {
            out->thresh[g] = tail_quantile(mse + g * held, cnt[g], q);
        }
    }
    vigil_free(se);
    vigil_free(mse);
    vigil_free(fg);
    return rc == -EINVAL ? 0 : rc;
}

/* First row of ts (N, ascending) at or after t. */
static size_t row_at(const int64_t *ts, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/*
 * Rows of feat inside the spans of entity k's past and open events get NaN in
 * the features of the event's group, which the models skip: an anomaly is not
 * learnt as normal, nor does it set a threshold. A group whose events cover
 * more than half of the history keeps every row: a level that moved and
 * stayed there is the new normal, which the model has to learn.
 */
static int mask_events(struct job *j, size_t k, const struct vigil_prep *pp,
                       struct vigil_frame *feat)
{
    uint8_t *mark = NULL;
    for (uint8_t g = 0; g < VIGIL_GROUP_COUNT; g++) {
        size_t hit = 0;
        for (size_t s = 0; s < j->n_spans; s++) {
            const struct job_span *sp = &j->spans[s];
            if (sp->k != k || sp->group != g) {
                continue;
            }
            if (!mark && !(mark = vigil_malloc(feat->n ? feat->n : 1))) {
                return -ENOMEM;
            }
            if (hit == 0) {
                memset(mark, 0, feat->n);
            }
            for (size_t i = row_at(feat->ts, feat->n, sp->from);
                 i < feat->n && feat->ts[i] <= sp->to; i++) {
                hit += !mark[i];
                mark[i] = 1;
            }
        }
        if (hit == 0) {
            continue;
        }
        if (hit * 2 > feat->n) {
            vigil_info("watch: %s: %s events cover %zu of %zu rows: all kept as the new normal",
                       j->entities[k], vigil_group_name(g), hit, feat->n);
            continue;
        }
        for (size_t i = 0; i < feat->n; i++) {
            for (size_t c = 0; mark[i] && c < feat->f; c++) {
                if (vigil_prep_feature_group(pp, c) == g) {
                    feat->x[i * feat->f + c] = NAN;
                }
            }
        }
        j->masked += hit;
        vigil_info("watch: %s: %zu rows of past %s events left out of training", j->entities[k],
                   hit, vigil_group_name(g));
    }
    vigil_free(mark);
    return 0;
}

/*
 * Where the held-out rows start: the newest rows that hold the `calibrate`
 * share of each group's usable rows (all its features finite). Without
 * masked events that is the newest `calibrate` share of the rows; when an
 * event left the newest rows of a group out, the split moves back so that
 * group's threshold is still set on rows it can score.
 */
static size_t held_out_start(const struct vigil_frame *feat, const uint8_t *groups, double share)
{
    size_t usable[VIGIL_GROUP_COUNT] = {0}, seen[VIGIL_GROUP_COUNT] = {0};
    size_t start = feat->n - (size_t)((double)feat->n * share);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = feat->n; i-- > 0;) {
            int ok[VIGIL_GROUP_COUNT], has[VIGIL_GROUP_COUNT] = {0};
            for (int g = 0; g < VIGIL_GROUP_COUNT; g++) {
                ok[g] = 1;
            }
            for (size_t c = 0; c < feat->f; c++) {
                uint8_t g = groups[c] < VIGIL_GROUP_COUNT ? groups[c] : VIGIL_GROUP_COUNT - 1;
                has[g] = 1;
                ok[g] &= isfinite(feat->x[i * feat->f + c]) != 0;
            }
            for (int g = 0; g < VIGIL_GROUP_COUNT; g++) {
                if (!has[g] || !ok[g]) {
                    continue;
                }
                if (pass == 0) {
                    usable[g]++;
                } else if (++seen[g] == (size_t)ceil((double)usable[g] * share) && i < start) {
                    start = i;
                }
            }
        }
    }
    return start;
}

/* Fits prep and model for one entity. Returns 0, or a code with the reason logged. */
static int train_entity(struct job *j, size_t k, struct gen_entity *out)
{
    struct vigil_prep_params pp;
    struct vigil_diag diag;
    struct vigil_frame feat;
    vigil_prep_params_default(&pp);
    pp.step = 0; /* rows are already one per step */
    pp.range_floor = j->range_floor;
    pp.seconds_floor = j->seconds_floor;
    vigil_frame_init(&feat);
    uint8_t *groups = NULL;
    const char **names = NULL;
    int rc = vigil_prep_fit(&out->prep, &j->frames[k], &pp, &diag);
    if (rc) {
        vigil_info("watch: %s: no model: %s", j->entities[k],
                   diag.msg[0] ? diag.msg : vigil_strerror(rc));
        goto fail;
    }
    size_t f = vigil_prep_n_features(out->prep);
    if (f < (size_t)j->min_series) {
        vigil_info("watch: %s: no model: %zu usable series, fewer than min-series", j->entities[k],
                   f);
        rc = VIGIL_EEMPTY;
        goto fail;
    }
    rc = vigil_prep_apply(out->prep, &j->frames[k], &feat, &diag);
    if (rc) {
        vigil_warn("watch: %s: prep: %s", j->entities[k],
                   diag.msg[0] ? diag.msg : vigil_strerror(rc));
        goto fail;
    }
    rc = mask_events(j, k, out->prep, &feat);
    groups = vigil_malloc(f);
    names = vigil_mallocarray(f, sizeof *names);
    if (rc || !groups || !names) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t c = 0; c < f; c++) {
        groups[c] = (uint8_t)vigil_prep_feature_group(out->prep, c);
        names[c] = vigil_prep_feature_name(out->prep, c);
    }
    /* Cap the training windows through the model's stride, when it has one. */
    if (vigil_opt_find(j->ops->opts, "stride") && feat.n > (size_t)j->train_windows) {
        char s[32];
        int stride = (int)((feat.n + (size_t)j->train_windows - 1) / (size_t)j->train_windows);
        int len = snprintf(s, sizeof s, "%d", stride);
        vigil_opt_set(j->ops->opts, j->params, "stride", s, (size_t)len, NULL);
    }
    rc = vigil_model_init(&out->model, j->ops, j->params);
    if (rc) {
        goto fail;
    }
    /* Hold out the newest rows: errors on rows the model never saw set the thresholds. */
    size_t n_fit = held_out_start(&feat, groups, j->calibrate);
    struct vigil_batch b = {
        .x = feat.x, .n = n_fit, .f = f, .group = groups, .names = names, .threads = j->threads};
    rc = out->model.ops->fit(&out->model, &b);
    if (rc && n_fit < feat.n) {
        b.n = n_fit = feat.n; /* too little data to hold any out */
        rc = out->model.ops->fit(&out->model, &b);
    }
    if (rc) {
        vigil_warn("watch: %s: training %s: %s", j->entities[k], j->ops->name, vigil_strerror(rc));
        vigil_model_fini(&out->model);
        goto fail;
    }
    rc = calibrate(out, &feat, n_fit, j->quantile);
    if (rc) {
        vigil_model_fini(&out->model);
        goto fail;
    }
    out->entity = vigil_strdup(j->entities[k]);
    rc = out->entity ? 0 : -ENOMEM;
    if (rc) {
        vigil_model_fini(&out->model);
    }
fail:
    if (rc) {
        vigil_prep_free(out->prep);
        out->prep = NULL;
    }
    vigil_free(groups);
    vigil_free(names);
    vigil_frame_fini(&feat);
    return rc;
}

static void run_job(struct job *j)
{
    int64_t t0 = vigil_clock_mono_ns();
    struct gen *g = vigil_calloc(1, sizeof *g);
    if (!g || !(g->e = vigil_calloc(j->n ? j->n : 1, sizeof *g->e))) {
        vigil_free(g);
        j->result = NULL;
        return;
    }
    for (size_t k = 0; k < j->n; k++) {
        if (train_entity(j, k, &g->e[g->n]) == 0) {
            g->n++;
        } else {
            g->failures++;
        }
        if (k == 0 || j->frames[k].n > g->rows) {
            g->rows = j->frames[k].n;
        }
    }
    g->seconds = (double)(vigil_clock_mono_ns() - t0) / 1e9;
    g->masked = j->masked;
    j->result = g;
}

/* ---- live state per modelled entity (loop thread only) ---- */

struct live_group {
    struct vigil_policy pol;
    int64_t event_id;
    int64_t reported; /* time of the last report of the open event */
    double ratio;     /* last score / threshold, NaN = none */
    double thresh;    /* T^g */
    size_t g;         /* group index in the model */
    const char *name;
    char fault[96]; /* the open event's fault type, "" = none */
};

struct live {
    const struct gen_entity *em; /* borrowed from the current generation */
    struct vigil_prep_stream st;
    size_t f;   /* F */
    size_t t;   /* T = lag + 1 */
    float *win; /* (2T,F): every row written twice so the last T rows are contiguous */
    size_t wpos, wlen;
    float *se;      /* (T,F) squared errors of the window */
    double *acc;    /* (F) squared errors accumulated over open events */
    size_t *order;  /* (F) scratch for sorting features */
    size_t *fgroup; /* (F) group index of each feature */
    size_t n_groups;
    struct live_group grp[VIGIL_GROUP_COUNT + 1];
    uint64_t pushed;      /* raw rows fed */
    uint64_t stale_until; /* rows up to this one read as stale (ratio NaN) */
    uint8_t *rate;        /* (R) ring: 1 when any group was anomalous at that step */
    size_t rpos, rlen, rsum;
    int64_t *rts;  /* (R) recent times */
    float *rratio; /* (R,G) recent ratios */
};

struct vigil_watch {
    struct vigil_watch_conf conf;
    struct vigil_policy_conf pol;
    const struct vigil_model_ops *ops;
    void *params; /* model params (deep copy: params_dup) */
    struct vigil_watch_sink sink;

    /* history ring of raw rows */
    float *hx; /* (cap, s_cap) */
    int64_t *hts;
    size_t cap, s_cap, head, len;
    int64_t first_ts;

    enum vigil_watch_phase phase;
    int64_t last_train_ts; /* when the last training started */
    int64_t retry_ts;      /* after a failed training: when to try again (0 = none) */
    pthread_t trainer;
    struct job *running; /* the job of the trainer thread (not yet joined), or NULL */
    struct gen *gen;     /* current models */
    struct live *live;   /* (gen->n) */
    uint64_t trainings, failures, events;
    double train_seconds;
    size_t train_masked; /* of the last installed training */

    struct span spans[SPAN_MAX]; /* closed events, oldest first, kept out of trainings */
    size_t n_spans;
    struct vigil_buf feat_json; /* scratch for explanations */
    regex_t exclude;
    int has_exclude;
    struct vigil__clf *clf; /* supervised fault classifier, or NULL */
};

/* ---- history ---- */

/*
 * Widens the ring to hold at least s series, with an eighth of room to spare
 * (rounded up to 64: a new container's few dozen series fit). Every row is
 * copied, so growth must be rare, but doubling would waste up to half of the
 * largest block vigil keeps.
 */
static int hist_grow_cols(struct vigil_watch *w, size_t s)
{
    size_t s_cap = (s + s / 8 + 63) & ~(size_t)63;
    float *x = vigil_mallocarray(w->cap, s_cap * sizeof(float));
    if (!x) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < w->cap; i++) {
        float *dst = x + i * s_cap;
        size_t keep = w->hx ? w->s_cap : 0;
        if (keep) {
            memcpy(dst, w->hx + i * w->s_cap, keep * sizeof(float));
        }
        for (size_t j = keep; j < s_cap; j++) {
            dst[j] = NAN;
        }
    }
    vigil_free(w->hx);
    w->hx = x;
    w->s_cap = s_cap;
    return 0;
}

static void hist_push(struct vigil_watch *w, int64_t ts, const float *row, size_t s)
{
    size_t slot = (w->head + w->len) % w->cap;
    if (w->len == w->cap) {
        slot = w->head;
        w->head = (w->head + 1) % w->cap;
    } else {
        w->len++;
    }
    float *dst = w->hx + slot * w->s_cap; /* no columns yet (no series): w->hx is NULL */
    if (s) {
        memcpy(dst, row, s * sizeof(float));
    }
    for (size_t j = s; j < w->s_cap; j++) {
        dst[j] = NAN;
    }
    w->hts[slot] = ts;
}

/* Row i of the history, 0 = oldest. */
static const float *hist_row(const struct vigil_watch *w, size_t i, int64_t *ts)
{
    size_t slot = (w->head + i) % w->cap;
    *ts = w->hts[slot];
    return w->hx + slot * w->s_cap;
}

/* ---- training jobs ---- */

/* Series the exclude rule leaves out (vigil's own health, lagging load averages). */
static uint8_t group_id(const char *name)
{
    uint8_t g = 0;
    while (g < VIGIL_GROUP_COUNT && strcmp(vigil_group_name(g), name) != 0) {
        g++;
    }
    return g;
}

/* Remembers a closed event's span; spans older than the history are forgotten. */
static void span_add(struct vigil_watch *w, const char *entity, const char *group, int64_t from,
                     int64_t to)
{
    int64_t oldest = INT64_MIN;
    if (w->len) {
        hist_row(w, 0, &oldest);
    }
    size_t keep = 0;
    for (size_t i = 0; i < w->n_spans; i++) {
        if (w->spans[i].to < oldest || (i == 0 && w->n_spans == SPAN_MAX)) {
            vigil_free(w->spans[i].entity);
        } else {
            w->spans[keep++] = w->spans[i];
        }
    }
    w->n_spans = keep;
    char *e = vigil_strdup(entity);
    if (e) {
        w->spans[w->n_spans++] =
            (struct span){.entity = e, .group = group_id(group), .from = from, .to = to};
    }
}

/* The job's spans: its entities' closed events, and the open or starting ones up to now. */
static int job_spans(struct vigil_watch *w, struct job *j)
{
    size_t cap = w->n_spans;
    for (size_t k = 0; w->gen && k < w->gen->n; k++) {
        cap += w->live[k].n_groups;
    }
    j->spans = vigil_mallocarray(cap ? cap : 1, sizeof *j->spans);
    if (!j->spans) {
        return -ENOMEM;
    }
    for (size_t k = 0; k < j->n; k++) {
        for (size_t i = 0; i < w->n_spans; i++) {
            const struct span *sp = &w->spans[i];
            if (strcmp(sp->entity, j->entities[k]) == 0) {
                j->spans[j->n_spans++] =
                    (struct job_span){.k = k, .group = sp->group, .from = sp->from, .to = sp->to};
            }
        }
        for (size_t e = 0; w->gen && e < w->gen->n; e++) {
            const struct live *l = &w->live[e];
            if (strcmp(l->em->entity, j->entities[k]) != 0) {
                continue;
            }
            for (size_t g = 0; g < l->n_groups; g++) {
                /* An open event, or anomalous points not yet enough to open one: the onset
                 * of an anomaly must not become the new model's normal (nor its threshold). */
                const struct vigil_policy *p = &l->grp[g].pol;
                int64_t from = p->state == VIGIL_POLICY_ANOMALY ? p->start_ns
                               : p->run_hi > 0                  ? p->run_start
                                                                : INT64_MAX;
                if (from != INT64_MAX) {
                    j->spans[j->n_spans++] = (struct job_span){
                        .k = k, .group = group_id(l->grp[g].name), .from = from, .to = INT64_MAX};
                }
            }
        }
    }
    return 0;
}

static int modelled(const struct vigil_watch *w, const struct vigil_series *s)
{
    return !w->has_exclude || regexec(&w->exclude, s->name, 0, NULL, 0) != 0;
}

static const char *entity_of(const struct vigil_series *s)
{
    return s->entity && s->entity[0] ? s->entity : HOST;
}

/* An entity and how many of its series are modelled. */
struct ent_count {
    char *name;
    size_t n;
};

/* The host first, then the entities with the most series (a remote host before its
 * containers), then by name. */
static int cmp_entity(const void *a, const void *b)
{
    const struct ent_count *x = a, *y = b;
    int hx = strcmp(x->name, HOST) == 0, hy = strcmp(y->name, HOST) == 0;
    if (hx != hy) {
        return hy - hx;
    }
    if (x->n != y->n) {
        return x->n < y->n ? 1 : -1;
    }
    return strcmp(x->name, y->name);
}

/* Builds a job from the last `history` of the ring, one frame per entity. */
static int make_job(struct vigil_watch *w, const struct vigil_series_table *series,
                    struct job **out)
{
    struct job *j = vigil_calloc(1, sizeof *j);
    if (!j) {
        return -ENOMEM;
    }
    int rc = 0;
    size_t cap_e = 8;
    j->ops = w->ops;
    j->entities = vigil_calloc(cap_e, sizeof *j->entities);
    j->params = params_dup(w->ops, w->params);
    if (!j->entities || !j->params) {
        rc = -ENOMEM;
        goto fail;
    }
    j->train_windows = w->conf.train_windows;
    j->min_series = w->conf.min_series;
    j->threads = w->conf.threads;
    j->calibrate = w->conf.calibrate;
    j->quantile = w->conf.quantile;
    j->range_floor = w->conf.range_floor;
    j->seconds_floor = w->conf.cpu_floor * (double)w->conf.step / (double)SEC;
    /* Distinct entities, ranked (cmp_entity) and capped. */
    struct ent_count *ec = vigil_calloc(cap_e, sizeof *ec);
    rc = ec ? 0 : -ENOMEM;
    size_t n_ec = 0;
    for (size_t s = 0; s < series->n && !rc; s++) {
        if (!modelled(w, &series->v[s])) {
            continue;
        }
        const char *e = entity_of(&series->v[s]);
        size_t k = 0;
        while (k < n_ec && strcmp(ec[k].name, e) != 0) {
            k++;
        }
        if (k < n_ec) {
            ec[k].n++;
            continue;
        }
        if (n_ec == cap_e) {
            struct ent_count *ne = vigil_realloc(ec, cap_e * 2 * sizeof *ne);
            if (!ne) {
                rc = -ENOMEM;
                break;
            }
            ec = ne;
            cap_e *= 2;
        }
        ec[n_ec].name = vigil_strdup(e);
        ec[n_ec].n = 1;
        rc = ec[n_ec].name ? 0 : -ENOMEM;
        n_ec += rc ? 0 : 1;
    }
    if (!rc) {
        qsort(ec, n_ec, sizeof *ec, cmp_entity);
        j->n = n_ec < (size_t)w->conf.max_entities ? n_ec : (size_t)w->conf.max_entities;
        char **names = vigil_realloc(j->entities, (j->n ? j->n : 1) * sizeof *names);
        rc = names ? 0 : -ENOMEM;
        if (names) {
            j->entities = names;
        }
        for (size_t k = 0; k < n_ec; k++) {
            if (!rc && k < j->n) {
                j->entities[k] = ec[k].name; /* ownership moves to the job */
            } else {
                vigil_free(ec[k].name);
            }
        }
        j->n = rc ? 0 : j->n;
    } else {
        for (size_t k = 0; k < n_ec; k++) {
            vigil_free(ec[k].name);
        }
    }
    vigil_free(ec);
    if (rc) {
        goto fail;
    }
    j->frames = vigil_calloc(j->n ? j->n : 1, sizeof *j->frames);
    uint32_t *cols = vigil_mallocarray(series->n ? series->n : 1, sizeof *cols);
    if (!j->frames || !cols) {
        vigil_free(cols);
        rc = -ENOMEM;
        goto fail;
    }
    size_t rows = w->len;
    size_t span = (size_t)(w->conf.history / (w->conf.step > 0 ? w->conf.step : SEC));
    if (span && rows > span) {
        rows = span;
    }
    for (size_t k = 0; k < j->n && !rc; k++) {
        struct vigil_frame *fr = &j->frames[k];
        vigil_frame_init(fr);
        fr->has_time = 1;
        size_t nc = 0;
        for (size_t s = 0; s < series->n && !rc; s++) {
            const struct vigil_series *sr = &series->v[s];
            if (!modelled(w, sr) || strcmp(entity_of(sr), j->entities[k]) != 0) {
                continue;
            }
            uint32_t c;
            rc = vigil_frame_add_col(fr, sr->key, strlen(sr->key), &c);
            if (!rc) {
                fr->cols.v[c].kind = sr->kind;
                fr->cols.v[c].group = sr->group;
                rc = vigil_series_set_entity(&fr->cols.v[c], sr->entity);
                cols[nc++] = (uint32_t)s;
            }
        }
        rc = rc ? rc : vigil_frame_reserve(fr, rows);
        for (size_t i = w->len - rows; i < w->len && !rc; i++) {
            int64_t ts;
            const float *src = hist_row(w, i, &ts);
            float *dst;
            rc = vigil_frame_add_row(fr, ts, &dst);
            for (size_t c = 0; !rc && c < nc; c++) {
                dst[c] = cols[c] < w->s_cap ? src[cols[c]] : NAN;
            }
        }
    }
    vigil_free(cols);
    rc = rc ? rc : job_spans(w, j);
    if (rc) {
        goto fail;
    }
    *out = j;
    return 0;
fail:
    job_free(j);
    return rc;
}

/*
 * The trainer thread: touches its job only. It runs at a lower priority (nice
 * +10; Linux keeps nice per thread) so that live scoring on the loop thread
 * keeps its step while a model trains on a busy host.
 */
static void *trainer_main(void *arg)
{
    struct job *j = arg;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    run_job(j);
    if (atomic_exchange(&j->state, JOB_DONE) == JOB_ABANDONED) {
        job_free(j); /* the engine is gone: nobody else will */
    }
    return NULL;
}

static void start_training(struct vigil_watch *w, const struct vigil_series_table *series,
                           int64_t ts)
{
    struct job *j;
    w->last_train_ts = ts;
    w->retry_ts = ts + w->conf.warmup; /* cleared when a generation is installed */
    if (make_job(w, series, &j) != 0) {
        vigil_warn("watch: cannot prepare training: out of memory");
        return;
    }
    atomic_init(&j->state, JOB_RUNNING);
    if (pthread_create(&w->trainer, NULL, trainer_main, j) != 0) {
        vigil_warn("watch: cannot start the training thread");
        job_free(j);
        return;
    }
    w->running = j;
    vigil_info("watch: training %s on %zu entities, %zu rows", w->ops->name, j->n,
               j->n ? j->frames[0].n : (size_t)0);
}

/* ---- live state ---- */

static void live_fini(struct live *l)
{
    vigil_prep_stream_fini(&l->st);
    vigil_free(l->win);
    vigil_free(l->se);
    vigil_free(l->acc);
    vigil_free(l->order);
    vigil_free(l->fgroup);
    vigil_free(l->rate);
    vigil_free(l->rts);
    vigil_free(l->rratio);
    memset(l, 0, sizeof *l);
}

static int live_init(struct vigil_watch *w, struct live *l, const struct gen_entity *em,
                     const struct vigil_series_table *series)
{
    struct vigil_diag diag;
    memset(l, 0, sizeof *l);
    l->em = em;
    int rc = vigil_prep_stream_init(&l->st, em->prep, series, &diag);
    if (rc) {
        vigil_warn("watch: %s: %s", em->entity, diag.msg[0] ? diag.msg : vigil_strerror(rc));
        return rc;
    }
    struct vigil_model *m = (struct vigil_model *)&em->model;
    l->f = vigil_prep_n_features(em->prep);
    l->t = vigil_recon_lag(m) + 1;
    l->n_groups = vigil_recon_n_groups(m);
    size_t r = (size_t)w->conf.rate_window;
    l->win = vigil_mallocarray(2 * l->t, l->f * sizeof(float));
    l->se = vigil_mallocarray(l->t, l->f * sizeof(float));
    l->acc = vigil_calloc(l->f, sizeof(double));
    l->order = vigil_mallocarray(l->f, sizeof(size_t));
    l->fgroup = vigil_mallocarray(l->f, sizeof(size_t));
    l->rate = vigil_calloc(r, 1);
    l->rts = vigil_calloc(r, sizeof(int64_t));
    l->rratio = vigil_mallocarray(r, l->n_groups * sizeof(float));
    if (!l->win || !l->se || !l->acc || !l->order || !l->fgroup || !l->rate || !l->rts ||
        !l->rratio) {
        live_fini(l);
        return -ENOMEM;
    }
    for (size_t j = 0; j < l->f; j++) {
        l->fgroup[j] = vigil_recon_feature_group(m, j);
    }
    for (size_t g = 0; g < l->n_groups; g++) {
        vigil_policy_init(&l->grp[g].pol);
        l->grp[g].ratio = NAN;
        l->grp[g].g = g;
        /* The larger of the training and the held-out threshold, never below the floor. */
        double t = vigil_recon_threshold(m, g);
        t = em->thresh[g] > t ? em->thresh[g] : t;
        l->grp[g].thresh = t > w->conf.min_error ? t : w->conf.min_error;
        l->grp[g].name = vigil_recon_group_name(m, g);
    }
    return 0;
}

/* Appends s as a JSON string (quotes and escapes) to b. */
static int json_str(struct vigil_buf *b, const char *s)
{
    int rc = vigil_buf_append(b, "\"", 1);
    for (; *s && !rc; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = vigil_buf_append(b, e, 2);
        } else if (c < 0x20) {
            rc = vigil_buf_appendf(b, "\\u%04x", c);
        } else {
            rc = vigil_buf_append(b, s, 1);
        }
    }
    return rc ? rc : vigil_buf_append(b, "\"", 1);
}

/* Sorts feature indices by accumulated error, largest first (insertion sort: F is small). */
static void sort_by_acc(size_t *idx, size_t n, const double *acc)
{
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i];
        size_t k = i;
        while (k > 0 && acc[idx[k - 1]] < acc[v]) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = v;
    }
}

/*
 * The smallest set of group g's features, largest share of the accumulated
 * squared error first, whose shares sum to at least `explain` (the ITC 2020
 * paper's F_t), as a JSON array in w->feat_json.
 */
static const char *explain_json(struct vigil_watch *w, struct live *l, size_t g)
{
    struct vigil_buf *b = &w->feat_json;
    size_t n = 0;
    double total = 0;
    for (size_t j = 0; j < l->f; j++) {
        if (l->fgroup[j] == g && isfinite(l->acc[j])) {
            l->order[n++] = j;
            total += l->acc[j];
        }
    }
    vigil_buf_reset(b);
    int rc = vigil_buf_append(b, "[", 1);
    if (total > 0) {
        sort_by_acc(l->order, n, l->acc);
        double cum = 0;
        for (size_t i = 0; i < n && !rc && cum < w->conf.explain; i++) {
            size_t j = l->order[i];
            double share = l->acc[j] / total;
            cum += share;
            rc = vigil_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
            rc = rc ? rc : json_str(b, vigil_prep_feature_name(l->em->prep, j));
            rc = rc ? rc : vigil_buf_appendf(b, ",\"share\":%.3f}", share);
        }
    }
    rc = rc ? rc : vigil_buf_append(b, "]", 1);
    return rc ? "[]" : b->p;
}

/*
 * Hands an event change to the sink. Opening or growing events get their
 * fault type from the supervised model, when one is loaded and covers the
 * entity; a refresh (the event stayed open `resend` long) keeps the last one.
 */
static void report(struct vigil_watch *w, struct live *l, struct live_group *lg,
                   enum vigil_watch_change what, int64_t ts, int refresh)
{
    if (w->clf && what != VIGIL_WATCH_CLOSED && !refresh) {
        char f[sizeof lg->fault];
        if (vigil__clf_name(w->clf, l->em->entity, f, sizeof f)) {
            memcpy(lg->fault, f, sizeof f);
        } else if (what == VIGIL_WATCH_OPENED) {
            lg->fault[0] = '\0';
        }
    }
    lg->reported = ts;
    struct vigil_watch_event ev = {
        .id = lg->event_id,
        .entity = l->em->entity,
        .group = lg->name,
        .model = w->ops->name,
        .start_ns = lg->pol.start_ns,
        .end_ns = what == VIGIL_WATCH_CLOSED ? lg->pol.end_ns : 0,
        .intensity = lg->pol.peak,
        .features = explain_json(w, l, lg->g),
        .fault = lg->fault[0] ? lg->fault : NULL,
        .reopened = what == VIGIL_WATCH_UPDATED && lg->pol.reopened,
        .refresh = refresh,
    };
    if (what == VIGIL_WATCH_OPENED) {
        w->events++;
    }
    if (what == VIGIL_WATCH_CLOSED) {
        span_add(w, l->em->entity, lg->name, lg->pol.start_ns, lg->pol.end_ns);
    }
    if (w->sink.event) {
        w->sink.event(w->sink.user, what, &ev);
    }
    lg->event_id = ev.id;
}

/* Adds the window's last-row errors of group g's features to the accumulator. */
static void accumulate(struct live *l, size_t g, const float *se_last)
{
    for (size_t j = 0; j < l->f; j++) {
        if (l->fgroup[j] == g && isfinite(se_last[j])) {
            l->acc[j] += (double)se_last[j];
        }
    }
}

static void reset_acc(struct live *l, size_t g)
{
    for (size_t j = 0; j < l->f; j++) {
        if (l->fgroup[j] == g) {
            l->acc[j] = 0;
        }
    }
}

/*
 * Scores the newest feature row of a live entity and runs the policy. While
 * the entity is stale (live_push) the ratio is NaN: the window still holds
 * repeated last values or a counter increase spanning the gap, which say
 * nothing about the entity.
 */
static void score_step(struct vigil_watch *w, struct live *l, int64_t ts, int policy)
{
    const float *x = l->win + l->wpos * l->f; /* the last T rows, oldest first */
    struct vigil_model *m = (struct vigil_model *)&l->em->model;
    const float *se_last = l->se + (l->t - 1) * l->f;
    int ok = vigil_recon_errors(m, x, l->t, l->se) == 0;
    int any = 0;
    for (size_t gi = 0; gi < l->n_groups; gi++) {
        struct live_group *lg = &l->grp[gi];
        double sum = 0;
        size_t cnt = 0;
        int finite = ok;
        for (size_t j = 0; ok && j < l->f; j++) {
            if (l->fgroup[j] == gi) {
                finite &= isfinite(se_last[j]);
                sum += (double)se_last[j];
                cnt++;
            }
        }
        double ratio = finite && cnt && lg->thresh > 0 && l->pushed > l->stale_until
                           ? sum / (double)cnt / lg->thresh
                           : (double)NAN;
        lg->ratio = ratio;
        if (!policy) {
            continue;
        }
        enum vigil_policy_event e = vigil_policy_step(&lg->pol, &w->pol, ts, ratio);
        switch (e) {
        case VIGIL_POLICY_OPEN:
            reset_acc(l, gi);
            accumulate(l, gi, se_last);
            lg->event_id = 0;
            report(w, l, lg, VIGIL_WATCH_OPENED, ts, 0);
            break;
        case VIGIL_POLICY_UPDATE:
            accumulate(l, gi, se_last);
            report(w, l, lg, VIGIL_WATCH_UPDATED, ts, 0);
            break;
        case VIGIL_POLICY_CLOSE:
            report(w, l, lg, VIGIL_WATCH_CLOSED, ts, 0);
            break;
        case VIGIL_POLICY_NONE:
            if (lg->pol.state == VIGIL_POLICY_ANOMALY && ratio > w->pol.threshold) {
                accumulate(l, gi, se_last);
            }
            if (lg->pol.state == VIGIL_POLICY_ANOMALY && ts - lg->reported >= w->conf.resend) {
                report(w, l, lg, VIGIL_WATCH_UPDATED, ts, 1);
            }
            break;
        }
        any |= lg->pol.state == VIGIL_POLICY_ANOMALY;
    }
    if (!policy) {
        return;
    }
    size_t r = (size_t)w->conf.rate_window;
    size_t slot = (l->rpos + l->rlen) % r;
    if (l->rlen == r) {
        slot = l->rpos;
        l->rsum -= l->rate[slot];
        l->rpos = (l->rpos + 1) % r;
    } else {
        l->rlen++;
    }
    l->rate[slot] = (uint8_t)any;
    l->rsum += (size_t)any;
    l->rts[slot] = ts;
    for (size_t gi = 0; gi < l->n_groups; gi++) {
        l->rratio[slot * l->n_groups + gi] = (float)l->grp[gi].ratio;
    }
}

/* Feeds one raw row to a live entity; policy 0 only warms its windows. */
static void live_push(struct vigil_watch *w, struct live *l, int64_t ts, const float *row,
                      int policy)
{
    /*
     * A source that stops answering (a stale scrape target, a vanished cgroup) must
     * not look anomalous: gap filling repeats its last values for a few steps, which
     * a sequence model may find odd. While more than half of the entity's series are
     * missing, and for a window after they come back, its ratios read as missing.
     */
    size_t missing = 0;
    for (size_t i = 0; i < l->st.k; i++) {
        missing += isnan(row[l->st.map[i]]);
    }
    l->pushed++;
    if (missing * 2 > l->st.k) {
        l->stale_until = l->pushed + l->t + (uint64_t)w->conf.clear;
    }
    if (vigil_prep_stream_push(&l->st, ts, row) != 0) {
        return;
    }
    int64_t t;
    const float *feat;
    while (vigil_prep_stream_next(&l->st, &t, &feat)) {
        memcpy(l->win + l->wpos * l->f, feat, l->f * sizeof(float));
        memcpy(l->win + (l->wpos + l->t) * l->f, feat, l->f * sizeof(float));
        l->wpos = (l->wpos + 1) % l->t;
        if (l->wlen < l->t) {
            l->wlen++;
        }
        if (l->wlen == l->t) {
            score_step(w, l, t, policy);
        }
    }
}

/* Closes every open event of a live entity at its last anomalous point (or ts). */
static void close_open(struct vigil_watch *w, struct live *l, int64_t ts)
{
    for (size_t g = 0; g < l->n_groups; g++) {
        struct live_group *lg = &l->grp[g];
        if (lg->pol.state == VIGIL_POLICY_ANOMALY) {
            lg->pol.state = VIGIL_POLICY_NORMAL;
            lg->pol.end_ns = lg->pol.last_hi_ns ? lg->pol.last_hi_ns : ts;
            report(w, l, lg, VIGIL_WATCH_CLOSED, ts, 0);
        }
    }
}

/*
 * Hands the state of an entity's old live model to its successor so a swap
 * splits nothing: open events (policy, id, fault), the anomaly-rate ring and
 * recent ratios (by group name), and the explanation accumulators (by feature
 * name). Groups taken over are left NORMAL in old.
 */
static void carry_over(struct vigil_watch *w, struct live *nl, struct live *old)
{
    size_t r = (size_t)w->conf.rate_window;
    size_t from[VIGIL_GROUP_COUNT + 1] = {0};
    for (size_t a = 0; a < nl->n_groups; a++) {
        from[a] = SIZE_MAX;
        for (size_t b = 0; b < old->n_groups; b++) {
            if (strcmp(nl->grp[a].name, old->grp[b].name) == 0) {
                struct live_group *ng = &nl->grp[a], *og = &old->grp[b];
                ng->pol = og->pol;
                ng->event_id = og->event_id;
                ng->reported = og->reported;
                memcpy(ng->fault, og->fault, sizeof ng->fault);
                og->pol.state = VIGIL_POLICY_NORMAL;
                from[a] = b;
            }
        }
    }
    memcpy(nl->rate, old->rate, r);
    memcpy(nl->rts, old->rts, r * sizeof *nl->rts);
    nl->rpos = old->rpos;
    nl->rlen = old->rlen;
    nl->rsum = old->rsum;
    for (size_t i = 0; i < r; i++) {
        for (size_t a = 0; a < nl->n_groups; a++) {
            nl->rratio[i * nl->n_groups + a] =
                from[a] == SIZE_MAX ? NAN : old->rratio[i * old->n_groups + from[a]];
        }
    }
    for (size_t j = 0; j < nl->f; j++) {
        const char *name = vigil_prep_feature_name(nl->em->prep, j);
        for (size_t k = 0; k < old->f; k++) {
            if (strcmp(name, vigil_prep_feature_name(old->em->prep, k)) == 0) {
                nl->acc[j] = old->acc[k];
                break;
            }
        }
    }
}

/*
 * Installs a finished generation: live states, warmed on recent history,
 * taking over the old models' open events. Events of entities the new
 * generation no longer models are closed. A generation without any model
 * keeps the old one and asks for a retry after a warm-up period.
 */
static void install(struct vigil_watch *w, struct gen *g, const struct vigil_series_table *series,
                    int64_t ts)
{
    w->failures += (uint64_t)g->failures;
    struct live *live = vigil_calloc(g->n ? g->n : 1, sizeof *live);
    if (!live) {
        vigil_warn("watch: out of memory installing models; keeping the old ones");
        gen_free(g);
        w->retry_ts = ts + w->conf.warmup;
        return;
    }
    /* Entities whose live state cannot start move behind the n that can. */
    size_t n = 0;
    for (size_t k = 0; k < g->n; k++) {
        if (k != n) {
            struct gen_entity t = g->e[n];
            g->e[n] = g->e[k];
            g->e[k] = t;
        }
        if (live_init(w, &live[n], &g->e[n], series) != 0) {
            w->failures++;
            continue;
        }
        for (size_t o = 0; w->gen && o < w->gen->n; o++) {
            if (strcmp(w->live[o].em->entity, g->e[n].entity) == 0) {
                carry_over(w, &live[n], &w->live[o]);
            }
        }
        /* Warm the windows on the rows before the current one (already in the history),
         * which the caller feeds next: fed twice, it read as a step without any increase. */
        size_t before = w->len ? w->len - 1 : 0;
        size_t warm = live[n].t + 1 < before ? live[n].t + 1 : before;
        for (size_t i = before - warm; i < before; i++) {
            int64_t rts;
            const float *row = hist_row(w, i, &rts);
            live_push(w, &live[n], rts, row, 0);
        }
        n++;
    }
    for (size_t k = n; k < g->n; k++) {
        vigil_free(g->e[k].entity);
        vigil_prep_free(g->e[k].prep);
        vigil_model_fini(&g->e[k].model);
    }
    g->n = n;
    if (n == 0) {
        vigil_warn("watch: training gave no usable model%s; retrying after %lld s",
                   w->gen ? " (keeping the old ones)" : "", (long long)(w->conf.warmup / SEC));
        vigil_free(live);
        gen_free(g);
        w->retry_ts = ts + w->conf.warmup;
        return;
    }
    /* Old events nobody took over end now: nothing stays open forever. */
    for (size_t o = 0; w->gen && o < w->gen->n; o++) {
        close_open(w, &w->live[o], ts);
        live_fini(&w->live[o]);
    }
    vigil_free(w->live);
    gen_free(w->gen);
    w->gen = g;
    w->live = live;
    w->phase = VIGIL_WATCH_SCORING;
    w->retry_ts = 0;
    w->trainings++;
    w->train_seconds = g->seconds;
    w->train_masked = g->masked;
    vigil_info("watch: %zu models live (%s, trained in %.1f s on %zu rows)", n, w->ops->name,
               g->seconds, g->rows);
}

/* ---- public ---- */

int vigil_watch_new(struct vigil_watch **out, const struct vigil_watch_conf *conf,
                    const void *model_params, const struct vigil_watch_sink *sink,
                    struct vigil_diag *diag)
{
    const struct vigil_model_ops *ops = vigil_model_find(conf->model ? conf->model : "");
    if (!ops) {
        vigil_diag_set(diag, 0, 0, "unknown model '%s' (see 'vigil help models')",
                       conf->model ? conf->model : "");
        return VIGIL_ECONFIG;
    }
    if (ops->supervised) {
        vigil_diag_set(diag, 0, 0,
                       "model '%s' is supervised; watch learns normal behaviour "
                       "with an unsupervised one",
                       ops->name);
        return VIGIL_ECONFIG;
    }
    struct vigil_watch *w = vigil_calloc(1, sizeof *w);
    if (!w) {
        return -ENOMEM;
    }
    /* The conf's strings are the caller's: only the model name is kept (as a copy). */
    w->conf = *conf;
    w->conf.model = NULL;
    w->conf.exclude = NULL;
    w->conf.supervised = NULL;
    w->conf.classes = NULL;
    w->ops = ops;
    vigil_buf_init(&w->feat_json);
    w->first_ts = INT64_MIN;
    w->conf.model = vigil_strdup(ops->name);
    w->cap = (size_t)conf->history_rows;
    w->hts = vigil_calloc(w->cap, sizeof *w->hts);
    int rc = 0;
    if (model_params) {
        w->params = params_dup(ops, model_params);
    } else if ((w->params = vigil_calloc(1, ops->params_size ? ops->params_size : 1)) != NULL) {
        rc = vigil_opt_defaults(ops->opts, w->params);
    }
    if (!w->conf.model || !w->params || !w->hts || rc) {
        vigil_watch_free(w);
        return rc ? rc : -ENOMEM;
    }
    const char *why = ops->check ? ops->check(w->params) : NULL;
    if (why) {
        vigil_diag_set(diag, 0, 0, "%s: %s", ops->name, why);
        vigil_watch_free(w);
        return VIGIL_ECONFIG;
    }
    if (conf->exclude && conf->exclude[0]) {
        int e = regcomp(&w->exclude, conf->exclude, REG_EXTENDED | REG_NOSUB);
        if (e) {
            char msg[128];
            regerror(e, &w->exclude, msg, sizeof msg);
            vigil_diag_set(diag, 0, 0, "exclude: bad regex '%s': %s", conf->exclude, msg);
            vigil_watch_free(w);
            return VIGIL_ECONFIG;
        }
        w->has_exclude = 1;
    }
    if (conf->supervised && conf->supervised[0]) {
        struct vigil_diag d;
        vigil_diag_clear(&d);
        rc = vigil__clf_load(&w->clf, conf->supervised, conf->classes, &d);
        if (rc) {
            vigil_diag_set(diag, 0, 0, "supervised: %s: %s", conf->supervised,
                           d.msg[0] ? d.msg : vigil_strerror(rc));
            vigil_watch_free(w);
            return rc;
        }
    }
    vigil_watch_set_policy(w, conf);
    if (sink) {
        w->sink = *sink;
    }
    *out = w;
    return 0;
}

void vigil_watch_set_policy(struct vigil_watch *w, const struct vigil_watch_conf *conf)
{
    w->pol = (struct vigil_policy_conf){.threshold = conf->threshold,
                                        .consecutive = conf->consecutive,
                                        .clear = conf->clear,
                                        .suppress_ns = conf->suppress};
    w->conf.threshold = conf->threshold;
    w->conf.consecutive = conf->consecutive;
    w->conf.clear = conf->clear;
    w->conf.suppress = conf->suppress;
    w->conf.explain = conf->explain;
    w->conf.retrain = conf->retrain;
    w->conf.resend = conf->resend;
}

/*
 * Time from the last training to the next: `retrain`, but while the history is
 * shorter than that, as soon as it has doubled (a 10 m warm-up trains at 10, 20,
 * 40, 80 and 160 m, then every 3 h): a model fitted on a few minutes has seen
 * little of the host's normal, and levels that drift after the warm-up (page
 * cache, vigil's own database) are learnt within minutes, not hours.
 */
static int64_t retrain_gap(const struct vigil_watch *w)
{
    int64_t span = w->last_train_ts - w->first_ts;
    span = span > w->conf.warmup ? span : w->conf.warmup;
    return span < w->conf.retrain ? span : w->conf.retrain;
}

int vigil_watch_push(struct vigil_watch *w, int64_t ts, const struct vigil_series_table *series,
                     const float *row)
{
    if (series->n > w->s_cap) {
        int rc = hist_grow_cols(w, series->n);
        if (rc) {
            return rc;
        }
    }
    if (w->first_ts == INT64_MIN) {
        w->first_ts = ts;
    }
    hist_push(w, ts, row, series->n);

    if (w->clf) {
        vigil__clf_push(w->clf, ts, series, row);
    }

    /* Pick up a finished training. */
    struct job *done = w->running;
    if (done && atomic_load(&done->state) == JOB_DONE) {
        pthread_join(w->trainer, NULL);
        w->running = NULL;
        if (done->result) {
            install(w, done->result, series, ts);
            done->result = NULL;
        } else {
            w->failures++;
            w->retry_ts = ts + w->conf.warmup;
        }
        job_free(done);
#ifdef __GLIBC__
        /* The job's copies of the history were the largest blocks freed; without this, glibc
         * keeps most of them resident (measured: RSS 2.5x the heap in use after 8 trainings). */
        malloc_trim(0);
#endif
    }
    /* Score the row before a training starts, so that a job knows whether its newest row
     * begins an anomaly (job_spans leaves it out then). */
    for (size_t k = 0; w->gen && k < w->gen->n; k++) {
        live_push(w, &w->live[k], ts, row, 1);
    }
    if (!w->running) {
        if (w->phase == VIGIL_WATCH_WARMUP) {
            if (ts - w->first_ts >= w->conf.warmup) {
                w->phase = VIGIL_WATCH_TRAINING;
                start_training(w, series, ts);
            }
        } else if (w->retry_ts ? ts >= w->retry_ts
                               : w->conf.retrain > 0 && ts - w->last_train_ts >= retrain_gap(w)) {
            start_training(w, series, ts);
        }
    }
    return 0;
}

void vigil_watch_close_all(struct vigil_watch *w, int64_t ts)
{
    for (size_t k = 0; w->gen && k < w->gen->n; k++) {
        close_open(w, &w->live[k], ts);
    }
}

enum vigil_watch_phase vigil_watch_phase(const struct vigil_watch *w)
{
    return w->phase;
}

double vigil_watch_progress(const struct vigil_watch *w)
{
    if (w->phase != VIGIL_WATCH_WARMUP) {
        return 1.0;
    }
    if (w->first_ts == INT64_MIN || w->len == 0) {
        return 0.0;
    }
    int64_t last;
    hist_row(w, w->len - 1, &last);
    double p = (double)(last - w->first_ts) / (double)(w->conf.warmup > 0 ? w->conf.warmup : 1);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

int vigil_watch_training(const struct vigil_watch *w)
{
    return w->running && atomic_load(&w->running->state) == JOB_RUNNING;
}

size_t vigil_watch_n_models(const struct vigil_watch *w)
{
    return w->gen ? w->gen->n : 0;
}

/* Appends a label value with exposition escapes. */
static int label_val(struct vigil_buf *b, const char *s)
{
    return vigil_prom_escape_label(b, s, strlen(s));
}

static int fmt_num(struct vigil_buf *b, double v)
{
    if (isnan(v)) {
        return vigil_buf_puts(b, "NaN");
    }
    return vigil_buf_appendf(b, "%.6g", v);
}

int vigil_watch_render_metrics(const struct vigil_watch *w, struct vigil_buf *out)
{
    static const char *const fam[][3] = {
        {"vigil_anomaly_score", "gauge",
         "Reconstruction error of an entity's resource group divided by its threshold (anomalous "
         "above the policy threshold, 1 by default)."},
        {"vigil_anomaly", "gauge", "1 while an anomaly event is open for the entity and group."},
    };
    int rc = 0;
    for (int f = 0; f < 2 && !rc; f++) {
        rc = vigil_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f][0], fam[f][2], fam[f][0],
                               fam[f][1]);
        for (size_t k = 0; !rc && w->gen && k < w->gen->n; k++) {
            const struct live *l = &w->live[k];
            for (size_t g = 0; !rc && g < l->n_groups; g++) {
                rc = vigil_buf_appendf(out, "%s{entity=\"", fam[f][0]);
                rc = rc ? rc : label_val(out, l->em->entity);
                rc = rc ? rc : vigil_buf_puts(out, "\",group=\"");
                rc = rc ? rc : label_val(out, l->grp[g].name);
                rc = rc ? rc : vigil_buf_puts(out, "\"} ");
                if (!rc && f == 0) {
                    rc = fmt_num(out, l->grp[g].ratio);
                } else if (!rc) {
                    rc = vigil_buf_puts(out,
                                        l->grp[g].pol.state == VIGIL_POLICY_ANOMALY ? "1" : "0");
                }
                rc = rc ? rc : vigil_buf_puts(out, "\n");
            }
        }
    }
    rc = rc ? rc
            : vigil_buf_puts(out, "# HELP vigil_anomaly_rate_ratio Share of the last rate-window "
                                  "steps with an anomaly open, per entity.\n"
                                  "# TYPE vigil_anomaly_rate_ratio gauge\n");
    for (size_t k = 0; !rc && w->gen && k < w->gen->n; k++) {
        const struct live *l = &w->live[k];
        rc = vigil_buf_puts(out, "vigil_anomaly_rate_ratio{entity=\"");
        rc = rc ? rc : label_val(out, l->em->entity);
        rc = rc ? rc : vigil_buf_puts(out, "\"} ");
        rc = rc ? rc : fmt_num(out, l->rlen ? (double)l->rsum / (double)l->rlen : 0.0);
        rc = rc ? rc : vigil_buf_puts(out, "\n");
    }
    rc = rc ? rc
            : vigil_buf_appendf(
                  out,
                  "# HELP vigil_watch_phase 0 warm-up, 1 first training, 2 scoring.\n"
                  "# TYPE vigil_watch_phase gauge\nvigil_watch_phase %d\n"
                  "# HELP vigil_watch_warmup_progress_ratio Share of the warm-up done.\n"
                  "# TYPE vigil_watch_warmup_progress_ratio gauge\n"
                  "vigil_watch_warmup_progress_ratio %.4f\n"
                  "# HELP vigil_watch_models Entities with a live model.\n"
                  "# TYPE vigil_watch_models gauge\nvigil_watch_models %zu\n"
                  "# HELP vigil_watch_trainings_total Trainings installed.\n"
                  "# TYPE vigil_watch_trainings_total counter\nvigil_watch_trainings_total %llu\n"
                  "# HELP vigil_watch_training_failures_total Entities or jobs whose training "
                  "failed.\n# TYPE vigil_watch_training_failures_total counter\n"
                  "vigil_watch_training_failures_total %llu\n"
                  "# HELP vigil_watch_training_duration_seconds Wall time of the last training.\n"
                  "# TYPE vigil_watch_training_duration_seconds gauge\n"
                  "vigil_watch_training_duration_seconds %.3f\n"
                  "# HELP vigil_watch_training_excluded_rows Rows (times groups) of past "
                  "events left out of the last training.\n"
                  "# TYPE vigil_watch_training_excluded_rows gauge\n"
                  "vigil_watch_training_excluded_rows %zu\n"
                  "# HELP vigil_watch_history_rows Rows of raw history held.\n"
                  "# TYPE vigil_watch_history_rows gauge\nvigil_watch_history_rows %zu\n"
                  "# HELP vigil_watch_events_total Anomaly events opened.\n"
                  "# TYPE vigil_watch_events_total counter\nvigil_watch_events_total %llu\n",
                  (int)w->phase, vigil_watch_progress(w), vigil_watch_n_models(w),
                  (unsigned long long)w->trainings, (unsigned long long)w->failures,
                  w->train_seconds, w->train_masked, w->len, (unsigned long long)w->events);
    return rc;
}

int vigil_watch_render_entities(const struct vigil_watch *w, struct vigil_buf *out)
{
    int rc = vigil_buf_puts(out, "[");
    for (size_t k = 0; !rc && w->gen && k < w->gen->n; k++) {
        const struct live *l = &w->live[k];
        rc = vigil_buf_puts(out, k ? ",{\"entity\":" : "{\"entity\":");
        rc = rc ? rc : json_str(out, l->em->entity);
        rc = rc ? rc
                : vigil_buf_appendf(out, ",\"rate\":%.4f,\"groups\":{",
                                    l->rlen ? (double)l->rsum / (double)l->rlen : 0.0);
        for (size_t g = 0; !rc && g < l->n_groups; g++) {
            rc = g ? vigil_buf_puts(out, ",") : 0;
            rc = rc ? rc : json_str(out, l->grp[g].name);
            rc = rc ? rc : vigil_buf_puts(out, ":{\"score\":");
            rc = rc                          ? rc
                 : isfinite(l->grp[g].ratio) ? vigil_buf_appendf(out, "%.4f", l->grp[g].ratio)
                                             : vigil_buf_puts(out, "null");
            rc = rc ? rc
                    : vigil_buf_appendf(out, ",\"anomaly\":%d}",
                                        l->grp[g].pol.state == VIGIL_POLICY_ANOMALY);
        }
        rc = rc ? rc : vigil_buf_puts(out, "}}");
    }
    return rc ? rc : vigil_buf_puts(out, "]");
}

size_t vigil_watch_recent(const struct vigil_watch *w, const char *entity, const char *group,
                          int64_t *ts, float *ratio, size_t max)
{
    for (size_t k = 0; w->gen && k < w->gen->n; k++) {
        const struct live *l = &w->live[k];
        if (strcmp(l->em->entity, entity) != 0) {
            continue;
        }
        for (size_t g = 0; g < l->n_groups; g++) {
            if (strcmp(l->grp[g].name, group) != 0) {
                continue;
            }
            size_t n = l->rlen < max ? l->rlen : max;
            size_t r = (size_t)w->conf.rate_window;
            for (size_t i = 0; i < n; i++) {
                size_t slot = (l->rpos + l->rlen - n + i) % r;
                ts[i] = l->rts[slot];
                ratio[i] = l->rratio[slot * l->n_groups + g];
            }
            return n;
        }
    }
    return 0;
}

void vigil_watch_scores_since(const struct vigil_watch *w, int64_t since_ns,
                              vigil_watch_score_fn fn, void *user)
{
    size_t r = (size_t)w->conf.rate_window;
    for (size_t k = 0; w->gen && k < w->gen->n; k++) {
        const struct live *l = &w->live[k];
        /* The ring is in time order: skip back to the first step after since_ns. */
        size_t first = l->rlen;
        while (first > 0 && l->rts[(l->rpos + first - 1) % r] > since_ns) {
            first--;
        }
        for (size_t g = 0; g < l->n_groups; g++) {
            for (size_t i = first; i < l->rlen; i++) {
                size_t slot = (l->rpos + i) % r;
                fn(user, l->em->entity, l->grp[g].name, l->rts[slot],
                   (double)l->rratio[slot * l->n_groups + g]);
            }
        }
    }
}

void vigil_watch_visit(const struct vigil_watch *w, vigil_watch_visit_fn fn, void *user)
{
    for (size_t k = 0; w->gen && k < w->gen->n; k++) {
        const struct live *l = &w->live[k];
        for (size_t g = 0; g < l->n_groups; g++) {
            fn(user, l->em->entity, l->grp[g].name, l->grp[g].ratio,
               l->grp[g].pol.state == VIGIL_POLICY_ANOMALY);
        }
    }
}

void vigil_watch_free(struct vigil_watch *w)
{
    if (!w) {
        return;
    }
    if (w->running) {
        /* Training cannot be interrupted; wait a little, then leave it behind: the job owns
         * everything the trainer touches, and the trainer frees it when it finishes. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        if (pthread_timedjoin_np(w->trainer, NULL, &until) == 0) {
            job_free(w->running);
        } else if (atomic_exchange(&w->running->state, JOB_ABANDONED) == JOB_DONE) {
            pthread_join(w->trainer, NULL); /* it finished meanwhile */
            job_free(w->running);
        } else {
            vigil_warn("watch: training still running at shutdown; not waiting for it");
            pthread_detach(w->trainer);
        }
    }
    for (size_t k = 0; w->gen && k < w->gen->n; k++) {
        live_fini(&w->live[k]);
    }
    vigil_free(w->live);
    gen_free(w->gen);
    vigil_free(w->hx);
    vigil_free(w->hts);
    if (w->ops) {
        params_free(w->ops, w->params);
    }
    for (size_t i = 0; i < w->n_spans; i++) {
        vigil_free(w->spans[i].entity);
    }
    vigil_free(w->conf.model);
    vigil__clf_free(w->clf);
    vigil_buf_fini(&w->feat_json);
    if (w->has_exclude) {
        regfree(&w->exclude);
    }
    vigil_free(w);
}
