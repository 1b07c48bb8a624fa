/*
 * The preprocessing chain, one implementation shared by training and by live
 * scoring (netdata's ml_features): validate, counters to per-step increases
 * with reset detection, resample to a step (mean for gauges, sum for
 * increases) with gap filling up to N steps, drop constant and all-NaN series
 * (reported: a flat metric must never look anomalous), min-max scaling fitted
 * on training data and applied with clipping, optional temporal features
 * (lags, deltas, rolling mean/std over k steps), split by group, windows of T
 * steps.
 *
 * vigil_prep_fit learns the state from a training frame; vigil_prep_apply
 * turns any frame with the same series into model features. The state is
 * saved inside model files, so scoring uses exactly the training transform.
 */
#ifndef VIGIL_PREP_H
#define VIGIL_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/frame.h"
#include "vigil/opt.h"

struct vigil_prep_params {
    int64_t step;     /* resampling step in ns; 0 = keep rows as they are */
    int fill_max;     /* the first fill_max missing steps of a gap repeat the last value; */
                      /* later ones stay NaN (causal, so live scoring agrees) */
    int scale;        /* 1 = min-max scaling to [0,1] fitted on training data */
    int temporal;     /* k > 0 adds lag, delta, rolling mean and std over k steps per series */
    int deltas;       /* 1 = counters become per-step increases (default) */
    double clip;      /* scaled values are clipped to [-clip, 1 + clip] (default 1): values
                         beyond the training range keep some of their size, which a
                         reconstruction model needs to see a burst at the edge of normal */
    int lags;         /* L > 0 adds the values 1..L steps back (from 2 when temporal adds lag1) */
    int minmax;       /* 1 = rolling min and max over the temporal window (needs temporal > 0) */
    double range_floor; /* fit only: a scaling range narrower than this share of the series'
                           magnitude is widened to it around its centre, so that a level that
                           barely moved in training (free bytes, committed memory) does not
                           make a drift of a fraction of a percent look like a burst (0 = off) */
    double seconds_floor; /* fit only: the scaling range of a time counter's per-step increase
                             (a name ending in _seconds_total: CPU, pressure, I/O time) is at
                             least this many seconds, so that a few milliseconds of scheduling
                             noise on an idle host stay small (0 = off) */
    int normal_only;      /* fit only: rows labelled > 0 count toward no scaling range (an
                             unsupervised model learning normal from labelled data); the chain
                             still runs over them, so counter increases stay per step */
};

/* Option table for the params (flags of prep/train, keys of a "prep:" config section). */
extern const struct vigil_opt vigil_prep_opts[];

struct vigil_prep; /* opaque fitted state */

/*
 * Fits the chain on a training frame. Returns 0, -ENOMEM, VIGIL_EEMPTY (no
 * usable series left, diag says why). The caller frees *out with vigil_prep_free.
 */
int vigil_prep_fit(struct vigil_prep **out, const struct vigil_frame *train,
                   const struct vigil_prep_params *p, struct vigil_diag *diag);

/*
 * Applies a fitted chain to in, filling out (initialized, empty) with one
 * column per feature; row labels are carried over. Columns are matched by
 * series key; a missing one is VIGIL_ESHAPE naming it.
 */
int vigil_prep_apply(const struct vigil_prep *pp, const struct vigil_frame *in,
                     struct vigil_frame *out, struct vigil_diag *diag);

/* Features produced, their names (borrowed) and groups. */
size_t vigil_prep_n_features(const struct vigil_prep *pp);
const char *vigil_prep_feature_name(const struct vigil_prep *pp, size_t j);
int vigil_prep_feature_group(const struct vigil_prep *pp, size_t j);

/* Series dropped at fit time and why ("constant", "all NaN"), for reports. */
size_t vigil_prep_n_dropped(const struct vigil_prep *pp);
const char *vigil_prep_dropped(const struct vigil_prep *pp, size_t i, const char **why);

/* Serializes / restores the state (a section of model files). */
int vigil_prep_save(const struct vigil_prep *pp, struct vigil_buf *out);
int vigil_prep_load(struct vigil_prep **out, const void *p, size_t n, struct vigil_diag *diag);
void vigil_prep_free(struct vigil_prep *pp);

/* ---- additions: parameters, groups, windows, streaming ---- */

/*
 * Exact rules of the chain, in order, per series (one implementation: the
 * batch functions above run the streaming form below row by row):
 *
 *  1. Non-finite input (NaN, +-Inf) is missing.
 *  2. Counters (kind counter, deltas on) become the increase since the
 *     previous observed value; a decrease is a reset and the increase is the
 *     new value itself. The first observation has no increase (NaN). Gauges
 *     and unknown kinds are kept as they are.
 *  3. With step > 0, rows fall in buckets [b*step, (b+1)*step) of absolute
 *     time (so training and scoring align); a bucket's value is the mean of
 *     its gauge values or the sum of its increases, NaN when it holds none.
 *     Every bucket from the first to the last is emitted, empty ones too,
 *     stamped with its start. Timestamps must not go back.
 *  4. Gap filling: the first fill_max missing steps of a gap repeat the last
 *     value; later ones stay NaN (causal, so live scoring gives the same).
 *  5. Scaling: (x - min) / (max - min) with min and max of the training
 *     output of steps 1-4, clipped to [-clip, 1 + clip].
 *  6. Temporal features, k = temporal: lag1 (the previous step's value),
 *     delta (x - lag1), rolling mean and population std over the last k steps
 *     including this one, ignoring missing values (NaN when all are missing);
 *     with minmax, the rolling min and max over the same window (same rule);
 *     with lags L, the values 1..L steps back (lag2..lagL when temporal
 *     already gives lag1), NaN before the series has that many steps.
 *     Per series the features are: x, [lag1 delta mean std], [min max],
 *     [lags].
 *
 * Output rows may hold NaN (a counter's first row, long gaps); models skip
 * such rows. Row labels: a bucket takes the largest label of its rows, an
 * empty bucket 0.
 */

/* Largest gap, in steps, a stream or apply will bridge; more is VIGIL_ESHAPE. */
#define VIGIL_PREP_GAP_MAX ((int64_t)1 << 20)

/* Sets p to the defaults of vigil_prep_opts. */
void vigil_prep_params_default(struct vigil_prep_params *p);
/* Returns NULL or a static message saying which parameter is out of range. */
const char *vigil_prep_check(const struct vigil_prep_params *p);
/* Parameters the state was fitted with. */
const struct vigil_prep_params *vigil_prep_params(const struct vigil_prep *pp);

/* Series kept at fit time, in feature order: key (borrowed), fitted min and max. */
size_t vigil_prep_n_series(const struct vigil_prep *pp);
const char *vigil_prep_series(const struct vigil_prep *pp, size_t i, double *min, double *max);

/*
 * Features by group, without allocating: idx (n_features) receives the
 * feature indices ordered by group, off (VIGIL_GROUP_COUNT + 1) the starts, so
 * group g's features are idx[off[g]] .. idx[off[g+1] - 1].
 */
void vigil_prep_split_groups(const struct vigil_prep *pp, size_t *idx, size_t *off);

/*
 * Sliding windows of T rows over a row-major (N,F) block, as views: window i
 * starts at row i * stride and is T*F contiguous floats (T,F). Nothing is
 * copied; x is borrowed for the life of the view.
 */
struct vigil_windows {
    const float *x; /* (N,F) borrowed */
    size_t n, f, t, stride;
    size_t count; /* windows: (N - T) / stride + 1, or 0 when N < T */
};

/* Sets up the view. Returns 0 or -EINVAL (t or stride 0). */
int vigil_windows_init(struct vigil_windows *w, const float *x, size_t n, size_t f, size_t t,
                       size_t stride);

/* Window i, (T,F), borrowed from x; i must be < count. */
static inline const float *vigil_windows_at(const struct vigil_windows *w, size_t i)
{
    return w->x + i * w->stride * w->f;
}

/*
 * Streaming form for live scoring: raw rows go in one at a time and feature
 * rows come out exactly as vigil_prep_apply would produce them. Everything is
 * allocated by init; push and next never allocate.
 *
 *     vigil_prep_stream_init(&s, pp, &scraped_series, &diag);
 *     for each scrape:
 *         vigil_prep_stream_push(&s, ts, raw);
 *         while (vigil_prep_stream_next(&s, &t, &feat)) score(feat);
 *     vigil_prep_stream_fini(&s);
 *
 * With step > 0 a row is emitted when a later bucket starts (or on flush), so
 * output trails input by up to one step. The fields are private.
 */
struct vigil_prep_stream {
    const struct vigil_prep *pp; /* borrowed until fini */
    size_t k;                    /* series */
    size_t w;                    /* temporal window (0 = none) */
    void *block;                 /* owned: every array below points into it */
    double *prev;                /* (k) previous raw counter value, NaN = none */
    double *acc;                 /* (k) open bucket: sum of values */
    uint32_t *cnt;               /* (k) open bucket: number of values */
    uint32_t *map;               /* (k) raw column of each series */
    uint32_t *run;               /* (k) missing steps in the current gap */
    float *closed;               /* (k) the finished bucket waiting to be emitted */
    float *last;                 /* (k) last present value, NaN = none */
    float *win;                  /* (k,W) ring of recent output values per series */
    float *lagr;                 /* (k,L) ring of the previous L output values per series */
    size_t n_lag, lag_head, lag_len;
    float *out;                  /* (F) the row handed out by next */
    size_t win_head, win_len;
    size_t n_in;    /* raw row width: 1 + largest mapped column */
    int64_t bucket; /* index of the open bucket */
    int open;       /* 1 when a bucket is open */
    int ready;      /* 1 when closed holds a row to emit */
    int64_t gaps;   /* empty buckets to emit after it */
    int64_t out_ts; /* timestamp of the next emitted row */
};

/*
 * Prepares a stream for raw rows whose column j is series j of cols (the
 * table is only read here). A series the state needs that cols lacks is
 * VIGIL_ESHAPE naming it; -ENOMEM.
 */
int vigil_prep_stream_init(struct vigil_prep_stream *s, const struct vigil_prep *pp,
                           const struct vigil_series_table *cols, struct vigil_diag *diag);

/*
 * Feeds one raw row at time ts (raw has at least n_in floats). Returns 0;
 * -EBUSY when rows from the previous push were not all taken with next;
 * VIGIL_ESHAPE when ts goes back to an earlier bucket or jumps more than
 * VIGIL_PREP_GAP_MAX steps (the stream is unchanged then).
 */
int vigil_prep_stream_push(struct vigil_prep_stream *s, int64_t ts, const float *raw);

/* Closes the open bucket at the end of input so next emits it. */
void vigil_prep_stream_flush(struct vigil_prep_stream *s);

/*
 * Returns 1 with the next feature row in (*ts, *feat), (F) floats borrowed
 * until the next call, or 0 when none is pending.
 */
int vigil_prep_stream_next(struct vigil_prep_stream *s, int64_t *ts, const float **feat);

void vigil_prep_stream_fini(struct vigil_prep_stream *s);

#endif /* VIGIL_PREP_H */
