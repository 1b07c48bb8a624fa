/*
 * The preprocessing chain (include/vigil/prep.h): counters to increases,
 * resampling, gap filling, min-max scaling, temporal features, and the state
 * that carries them from training into model files and live scoring.
 *
 * There is one implementation of the per-row rules: the stream (push, next).
 * vigil_prep_apply runs a stream over a frame's rows, and vigil_prep_fit runs
 * the same stream unscaled over every column to learn min, max and which
 * series are flat, so training, batch scoring and live scoring cannot drift
 * apart. This file does not read files or assign groups (groups.c does).
 *
 * Dimension letters: N rows, K series kept, F features (K, or 5K with
 * temporal features), W temporal window.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vigil/mem.h"
#include "vigil/prep.h"

#define PREP_MAGIC 0x50525056u /* "VPRP" little-endian */
#define PREP_VERSION 3u /* 3 added lags and minmax; 2 still loads */
#define KEY_MAX ((size_t)1 << 16)
#define TEMPORAL_MAX 10000
#define LAGS_MAX 1000

const struct vigil_opt vigil_prep_opts[] = {
    {"step", VIGIL_OPT_DURATION, offsetof(struct vigil_prep_params, step), "0", 0, 31536000,
     "resampling step (0 = keep rows as they are)", NULL},
    {"fill-max", VIGIL_OPT_INT, offsetof(struct vigil_prep_params, fill_max), "3", 0, 1000000,
     "missing steps filled with the last value; later ones stay NaN", NULL},
    {"scale", VIGIL_OPT_BOOL, offsetof(struct vigil_prep_params, scale), "true", 0, 0,
     "min-max scaling: the training range maps to [0,1] (see clip)", NULL},
    {"clip", VIGIL_OPT_DOUBLE, offsetof(struct vigil_prep_params, clip), "1", 0, 1000,
     "scaled values are clipped to [-clip, 1 + clip]", NULL},
    {"temporal", VIGIL_OPT_INT, offsetof(struct vigil_prep_params, temporal), "0", 0, TEMPORAL_MAX,
     "k > 0 adds lag1, delta, rolling mean and std over k steps per series", NULL},
    {"deltas", VIGIL_OPT_BOOL, offsetof(struct vigil_prep_params, deltas), "true", 0, 0,
     "counters become per-step increases (a decrease is a reset)", NULL},
    {"lags", VIGIL_OPT_INT, offsetof(struct vigil_prep_params, lags), "0", 0, LAGS_MAX,
     "L > 0 adds the values 1..L steps back per series (2..L with temporal)", NULL},
    {"minmax", VIGIL_OPT_BOOL, offsetof(struct vigil_prep_params, minmax), "false", 0, 0,
     "rolling min and max over the temporal window (needs temporal > 0)", NULL},
    {"range-floor", VIGIL_OPT_DOUBLE, offsetof(struct vigil_prep_params, range_floor), "0", 0, 1,
     "scaling ranges narrower than this share of the series' magnitude are widened to it", NULL},
    {"seconds-floor", VIGIL_OPT_DOUBLE, offsetof(struct vigil_prep_params, seconds_floor), "0", 0,
     1e6, "scaling range of the per-step increase of *_seconds_total counters at least this", NULL},
    {0},
};

enum drop_reason { DROP_CONSTANT = 0, DROP_ALL_NAN = 1 };

/* A counter of seconds by the Prometheus naming convention: name ends in _seconds_total. */
static int is_time_counter(const char *key)
{
    static const char suffix[] = "_seconds_total";
    size_t n = strcspn(key, "{"), m = sizeof suffix - 1;
    return n >= m && memcmp(key + n - m, suffix, m) == 0;
}
static const char *const drop_names[] = {"constant", "all NaN"};

struct kept {
    char *key;    /* owned */
    char *entity; /* owned, NULL = host */
    uint8_t kind;
    uint8_t group;
    double min, max;
};

struct dropped {
    char *key; /* owned */
    enum drop_reason why;
};

struct vigil_prep {
    struct vigil_prep_params p;
    struct kept *kept; /* (K) owned */
    size_t n_kept;
    struct dropped *drop; /* owned */
    size_t n_drop;
    char **feat_names; /* (F) owned */
    size_t n_feat;
};

/* ---- parameters ---- */

void vigil_prep_params_default(struct vigil_prep_params *p)
{
    memset(p, 0, sizeof *p);
    /* The table has no strings and its defaults parse, so this cannot fail. */
    (void)vigil_opt_defaults(vigil_prep_opts, p);
}

const char *vigil_prep_check(const struct vigil_prep_params *p)
{
    if (p->step < 0) {
        return "step must not be negative";
    }
    if (p->fill_max < 0) {
        return "fill-max must not be negative";
    }
    if (p->temporal < 0 || p->temporal > TEMPORAL_MAX) {
        return "temporal must be in [0, 10000]";
    }
    if (p->lags < 0 || p->lags > LAGS_MAX) {
        return "lags must be in [0, 1000]";
    }
    if (p->minmax && p->temporal <= 0) {
        return "minmax needs temporal > 0 (its window)";
    }
    return NULL;
}

const struct vigil_prep_params *vigil_prep_params(const struct vigil_prep *pp)
{
    return &pp->p;
}

/* ---- state ---- */

void vigil_prep_free(struct vigil_prep *pp)
{
    if (!pp) {
        return;
    }
    for (size_t i = 0; i < pp->n_kept; i++) {
        vigil_free(pp->kept[i].key);
        vigil_free(pp->kept[i].entity);
    }
    vigil_free(pp->kept);
    for (size_t i = 0; i < pp->n_drop; i++) {
        vigil_free(pp->drop[i].key);
    }
    vigil_free(pp->drop);
    for (size_t i = 0; i < pp->n_feat; i++) {
        vigil_free(pp->feat_names[i]);
    }
    vigil_free(pp->feat_names);
    vigil_free(pp);
}

/* First lag of the lags block: 2 when the temporal block already gives lag1. */
static int first_lag(const struct vigil_prep_params *p)
{
    return p->temporal > 0 ? 2 : 1;
}

static size_t n_extra_lags(const struct vigil_prep_params *p)
{
    return p->lags >= first_lag(p) ? (size_t)(p->lags - first_lag(p) + 1) : 0;
}

/* Per series: x, [lag1 delta mean std], [min max], [lags]. */
static size_t feats_per_series(const struct vigil_prep *pp)
{
    return 1 + (pp->p.temporal > 0 ? 4 : 0) + (pp->p.minmax ? 2 : 0) + n_extra_lags(&pp->p);
}

/* Builds feature names from the kept series: key, key:lag1 ... key:std<k>, key:min<k>,
 * key:max<k>, key:lag<i>. */
static int make_feature_names(struct vigil_prep *pp)
{
    size_t per = feats_per_series(pp);
    pp->feat_names = vigil_mallocarray(pp->n_kept * per + 1, sizeof *pp->feat_names);
    if (!pp->feat_names) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < pp->n_kept; i++) {
        const char *key = pp->kept[i].key;
        for (size_t t = 0; t < per; t++) {
            struct vigil_buf b;
            vigil_buf_init(&b);
            int rc;
            size_t tt = t;
            if (pp->p.temporal <= 0 && tt > 0) {
                tt += 4; /* no temporal block */
            }
            if (!pp->p.minmax && tt > 4) {
                tt += 2; /* no min/max */
            }
            switch (tt) {
            case 0:
                rc = vigil_buf_puts(&b, key);
                break;
            case 1:
                rc = vigil_buf_appendf(&b, "%s:lag1", key);
                break;
            case 2:
                rc = vigil_buf_appendf(&b, "%s:delta", key);
                break;
            case 3:
                rc = vigil_buf_appendf(&b, "%s:mean%d", key, pp->p.temporal);
                break;
            case 4:
                rc = vigil_buf_appendf(&b, "%s:std%d", key, pp->p.temporal);
                break;
            case 5:
                rc = vigil_buf_appendf(&b, "%s:min%d", key, pp->p.temporal);
                break;
            case 6:
                rc = vigil_buf_appendf(&b, "%s:max%d", key, pp->p.temporal);
                break;
            default:
                rc = vigil_buf_appendf(&b, "%s:lag%d", key, first_lag(&pp->p) + (int)(tt - 7));
                break;
            }
            if (rc) {
                vigil_buf_fini(&b);
                return rc;
            }
            pp->feat_names[pp->n_feat++] = b.p;
        }
    }
    return 0;
}

size_t vigil_prep_n_features(const struct vigil_prep *pp)
{
    return pp->n_feat;
}

const char *vigil_prep_feature_name(const struct vigil_prep *pp, size_t j)
{
    return j < pp->n_feat ? pp->feat_names[j] : NULL;
}

int vigil_prep_feature_group(const struct vigil_prep *pp, size_t j)
{
    if (j >= pp->n_feat) {
        return -EINVAL;
    }
    return pp->kept[j / feats_per_series(pp)].group;
}

size_t vigil_prep_n_dropped(const struct vigil_prep *pp)
{
    return pp->n_drop;
}

const char *vigil_prep_dropped(const struct vigil_prep *pp, size_t i, const char **why)
{
    if (i >= pp->n_drop) {
        return NULL;
    }
    if (why) {
        *why = drop_names[pp->drop[i].why];
    }
    return pp->drop[i].key;
}

size_t vigil_prep_n_series(const struct vigil_prep *pp)
{
    return pp->n_kept;
}

const char *vigil_prep_series(const struct vigil_prep *pp, size_t i, double *min, double *max)
{
    if (i >= pp->n_kept) {
        return NULL;
    }
    if (min) {
        *min = pp->kept[i].min;
    }
    if (max) {
        *max = pp->kept[i].max;
    }
    return pp->kept[i].key;
}

void vigil_prep_split_groups(const struct vigil_prep *pp, size_t *idx, size_t *off)
{
    size_t n = 0;
    for (int g = 0; g < VIGIL_GROUP_COUNT; g++) {
        off[g] = n;
        for (size_t j = 0; j < pp->n_feat; j++) {
            if (vigil_prep_feature_group(pp, j) == g) {
                idx[n++] = j;
            }
        }
    }
    off[VIGIL_GROUP_COUNT] = n;
}

int vigil_windows_init(struct vigil_windows *w, const float *x, size_t n, size_t f, size_t t,
                       size_t stride)
{
    if (t == 0 || stride == 0) {
        return -EINVAL;
    }
    *w = (struct vigil_windows){x, n, f, t, stride, n >= t ? (n - t) / stride + 1 : 0};
    return 0;
}

/* ---- the stream: the per-row rules ---- */

static int is_counter(const struct vigil_prep *pp, size_t j)
{
    return pp->p.deltas && pp->kept[j].kind == VIGIL_KIND_COUNTER;
}

/* floor(a / b) for b > 0, also for negative a. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int vigil_prep_stream_init(struct vigil_prep_stream *s, const struct vigil_prep *pp,
                           const struct vigil_series_table *cols, struct vigil_diag *diag)
{
    memset(s, 0, sizeof *s);
    size_t k = pp->n_kept;
    size_t w = pp->p.temporal > 0 ? (size_t)pp->p.temporal : 0;
    size_t f = pp->n_feat;
    /* One block: doubles first, then 4-byte types, so every array is aligned. */
    size_t n_dbl = 2 * k;
    size_t nl = n_extra_lags(&pp->p) ? (size_t)pp->p.lags : 0;
    size_t n_4 = 3 * k + 2 * k + w * k + nl * k + f;
    if (k > SIZE_MAX / 64 || (w && w * k / w != k) || (nl && nl * k / nl != k)) {
        return -ENOMEM;
    }
    double *block = vigil_malloc(n_dbl * sizeof(double) + n_4 * 4 + 1);
    if (!block) {
        return -ENOMEM;
    }
    s->block = block;
    s->prev = block;
    s->acc = s->prev + k;
    uint32_t *u = (uint32_t *)(void *)(s->acc + k);
    s->cnt = u;
    s->map = u + k;
    s->run = u + 2 * k;
    float *fl = (float *)(void *)(u + 3 * k);
    s->closed = fl;
    s->last = fl + k;
    s->win = fl + 2 * k;
    s->lagr = fl + 2 * k + w * k;
    s->out = fl + 2 * k + w * k + nl * k;
    s->n_lag = nl;
    s->pp = pp;
    s->k = k;
    s->w = w;
    for (size_t j = 0; j < k; j++) {
        const char *key = pp->kept[j].key;
        uint32_t id;
        if (vigil_series_find(cols, key, strlen(key), &id) != 0) {
            vigil_diag_set(diag, 0, 0, "missing series '%.200s'", key);
            vigil_prep_stream_fini(s);
            return VIGIL_ESHAPE;
        }
        s->map[j] = id;
        if ((size_t)id + 1 > s->n_in) {
            s->n_in = (size_t)id + 1;
        }
        s->prev[j] = NAN;
        s->last[j] = NAN;
        s->run[j] = 0;
    }
    return 0;
}

void vigil_prep_stream_fini(struct vigil_prep_stream *s)
{
    vigil_free(s->block);
    memset(s, 0, sizeof *s);
}

/* Rule 2: the value a raw observation contributes (an increase for counters). */
static double observe(struct vigil_prep_stream *s, size_t j, float raw_f)
{
    double raw = raw_f;
    if (!isfinite(raw)) {
        return NAN;
    }
    if (!is_counter(s->pp, j)) {
        return raw;
    }
    double prev = s->prev[j];
    s->prev[j] = raw;
    if (isnan(prev)) {
        return NAN;
    }
    return raw >= prev ? raw - prev : raw; /* a decrease is a reset */
}

/* Rule 3: the value of the open bucket. */
static float bucket_value(const struct vigil_prep_stream *s, size_t j)
{
    if (s->cnt[j] == 0) {
        return NAN;
    }
    return (float)(is_counter(s->pp, j) ? s->acc[j] : s->acc[j] / s->cnt[j]);
}

static void close_bucket(struct vigil_prep_stream *s)
{
    for (size_t j = 0; j < s->k; j++) {
        s->closed[j] = bucket_value(s, j);
        s->acc[j] = 0;
        s->cnt[j] = 0;
    }
    s->ready = 1;
    s->out_ts = s->bucket * s->pp->p.step;
}

int vigil_prep_stream_push(struct vigil_prep_stream *s, int64_t ts, const float *raw)
{
    if (s->ready || s->gaps) {
        return -EBUSY;
    }
    const struct vigil_prep *pp = s->pp;
    int64_t step = pp->p.step;
    if (step == 0) {
        for (size_t j = 0; j < s->k; j++) {
            s->closed[j] = (float)observe(s, j, raw[s->map[j]]);
        }
        s->ready = 1;
        s->out_ts = ts;
        return 0;
    }
    int64_t b = floor_div(ts, step);
    if (s->open && (b < s->bucket || b - s->bucket > VIGIL_PREP_GAP_MAX)) {
        return VIGIL_ESHAPE; /* checked before any state changes */
    }
    if (!s->open) {
        s->open = 1;
        s->bucket = b;
        for (size_t j = 0; j < s->k; j++) {
            s->acc[j] = 0;
            s->cnt[j] = 0;
        }
    } else if (b > s->bucket) {
        close_bucket(s);
        s->gaps = b - s->bucket - 1;
        s->bucket = b;
    }
    for (size_t j = 0; j < s->k; j++) {
        double v = observe(s, j, raw[s->map[j]]);
        if (!isnan(v)) {
            s->acc[j] += v;
            s->cnt[j]++;
        }
    }
    return 0;
}

void vigil_prep_stream_flush(struct vigil_prep_stream *s)
{
    if (s->pp->p.step > 0 && s->open && !s->ready && !s->gaps) {
        close_bucket(s);
        s->open = 0;
    }
}

/* Rules 4-6 on one step's values v (K), writing the (F) feature row. */
static void emit(struct vigil_prep_stream *s, const float *v)
{
    const struct vigil_prep *pp = s->pp;
    size_t w = s->w, per = feats_per_series(pp);
    /*
     * Ring of the last w values per series, laid out (K,W): series j owns
     * win[j*w .. j*w + w). It fills slots 0, 1, ... from the start, so the
     * window is always slots [0, len) and mean and std (order-free) need no
     * index arithmetic; slot is where this step goes (the oldest when full).
     */
    size_t slot = w ? (s->win_head + s->win_len) % w : 0;
    size_t prev_slot = w ? (s->win_head + s->win_len + w - 1) % w : 0;
    size_t len = s->win_len < w ? s->win_len + 1 : w;
    int have_prev = s->win_len > 0;
    for (size_t j = 0; j < s->k; j++) {
        float x = v[j];
        /* Rule 4: fill the first fill_max steps of a gap with the last value. */
        if (isnan(x)) {
            if (!isnan(s->last[j]) && s->run[j] < (uint32_t)pp->p.fill_max) {
                x = s->last[j];
            }
            if (s->run[j] < UINT32_MAX) {
                s->run[j]++;
            }
        } else {
            s->last[j] = x;
            s->run[j] = 0;
        }
        /* Rule 5: min-max scaling with clipping. */
        if (pp->p.scale && !isnan(x)) {
            double lo = pp->kept[j].min, hi = pp->kept[j].max;
            double y = ((double)x - lo) / (hi - lo);
            double c = pp->p.clip;
            x = (float)(y < -c ? -c : y > 1 + c ? 1 + c : y);
        }
        float *o = s->out + j * per;
        o[0] = x;
        size_t nl = s->n_lag;
        if (nl) {
            /* Lags first_lag..L from the ring of the previous L values, then this step joins it. */
            float *lr = s->lagr + j * nl;
            float *ol = o + per - n_extra_lags(&pp->p);
            for (size_t i = (size_t)first_lag(&pp->p); i <= nl; i++) {
                *ol++ = s->lag_len >= i ? lr[(s->lag_head + nl - i) % nl] : NAN;
            }
            lr[s->lag_head] = x;
        }
        if (!w) {
            continue;
        }
        /* Rule 6: lag, delta, rolling mean and std over the last w steps. */
        float *ring = s->win + j * w;
        float lag = have_prev ? ring[prev_slot] : NAN;
        ring[slot] = x;
        double sum = 0;
        size_t n = 0;
        for (size_t i = 0; i < len; i++) {
            if (!isnan(ring[i])) {
                sum += (double)ring[i];
                n++;
            }
        }
        double mean = n ? sum / (double)n : (double)NAN, ss = 0;
        float mn = NAN, mx = NAN;
        for (size_t i = 0; i < len && n; i++) {
            if (!isnan(ring[i])) {
                double dv = (double)ring[i] - mean;
                ss += dv * dv;
                mn = isnan(mn) || ring[i] < mn ? ring[i] : mn;
                mx = isnan(mx) || ring[i] > mx ? ring[i] : mx;
            }
        }
        o[1] = lag;
        o[2] = x - lag;
        o[3] = (float)mean;
        o[4] = n ? (float)sqrt(ss / (double)n) : NAN;
        if (pp->p.minmax) {
            o[5] = mn;
            o[6] = mx;
        }
    }
    if (s->n_lag) {
        s->lag_head = (s->lag_head + 1) % s->n_lag;
        if (s->lag_len < s->n_lag) {
            s->lag_len++;
        }
    }
    if (w) {
        if (s->win_len < w) {
            s->win_len++;
        } else {
            s->win_head = (s->win_head + 1) % w;
        }
    }
}

int vigil_prep_stream_next(struct vigil_prep_stream *s, int64_t *ts, const float **feat)
{
    if (s->ready) {
        emit(s, s->closed);
        s->ready = 0;
    } else if (s->gaps > 0) {
        /* An empty bucket: every value missing. closed is free to reuse. */
        for (size_t j = 0; j < s->k; j++) {
            s->closed[j] = NAN;
        }
        emit(s, s->closed);
        s->gaps--;
    } else {
        return 0;
    }
    *ts = s->out_ts;
    *feat = s->out;
    s->out_ts += s->pp->p.step;
    return 1;
}

/* ---- batch: a stream over a frame ---- */

/* Appends the pending stream rows to out; y rows get label y then 0 for gaps. */
static int drain(struct vigil_prep_stream *s, struct vigil_frame *out, int32_t y)
{
    int64_t ts;
    const float *feat;
    int first = 1;
    while (vigil_prep_stream_next(s, &ts, &feat)) {
        float *row;
        int rc = vigil_frame_add_row(out, ts, &row);
        if (rc) {
            return rc;
        }
        memcpy(row, feat, out->f * sizeof *row);
        if (out->y) {
            out->y[out->n - 1] = first ? y : 0;
        }
        first = 0;
    }
    return 0;
}

/* Adds one output column per feature, carrying group and entity. */
static int add_feature_cols(const struct vigil_prep *pp, struct vigil_frame *out,
                            struct vigil_diag *diag)
{
    size_t per = feats_per_series(pp);
    for (size_t j = 0; j < pp->n_feat; j++) {
        const struct kept *kp = &pp->kept[j / per];
        uint32_t id;
        int rc = vigil_frame_add_col(out, pp->feat_names[j], strlen(pp->feat_names[j]), &id);
        if (rc) {
            return rc;
        }
        if (id != j) {
            vigil_diag_set(diag, 0, 0, "feature '%.200s' %s", pp->feat_names[j],
                           out->f > pp->n_feat ? "added to a frame that was not empty"
                                               : "is named twice");
            return VIGIL_ESHAPE;
        }
        struct vigil_series *sr = &out->cols.v[id];
        sr->group = kp->group;
        sr->kind = VIGIL_KIND_GAUGE; /* increases and scaled values are not cumulative */
        rc = vigil_series_set_entity(sr, kp->entity);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int vigil_prep_apply(const struct vigil_prep *pp, const struct vigil_frame *in,
                     struct vigil_frame *out, struct vigil_diag *diag)
{
    struct vigil_prep_stream s;
    int rc = vigil_prep_stream_init(&s, pp, &in->cols, diag);
    if (rc) {
        return rc;
    }
    rc = add_feature_cols(pp, out, diag);
    if (!rc && in->y) {
        rc = vigil_frame_alloc_labels(out);
    }
    int32_t ymax = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        rc = vigil_prep_stream_push(&s, in->ts[i], vigil_frame_row(in, i));
        if (rc == VIGIL_ESHAPE) {
            vigil_diag_set(diag, 0, 0, "row %zu: timestamp %s", i + 1,
                           s.open && floor_div(in->ts[i], pp->p.step) < s.bucket
                               ? "goes back"
                               : "jumps too far ahead");
            break;
        }
        int32_t yi = in->y ? in->y[i] : 0;
        if (pp->p.step == 0) {
            rc = drain(&s, out, yi);
            continue;
        }
        /* A push that closed a bucket hands it the largest label of its rows. */
        if (s.ready) {
            rc = drain(&s, out, ymax);
            ymax = yi;
        } else {
            ymax = yi > ymax ? yi : ymax;
        }
    }
    if (!rc) {
        vigil_prep_stream_flush(&s);
        rc = drain(&s, out, ymax);
    }
    out->has_time = in->has_time;
    vigil_prep_stream_fini(&s);
    return rc;
}

/* ---- fitting ---- */

static int kept_from_series(struct kept *k, const struct vigil_series *s)
{
    k->key = vigil_strdup(s->key);
    k->entity = s->entity ? vigil_strdup(s->entity) : NULL;
    k->kind = s->kind;
    k->group = s->group < VIGIL_GROUP_COUNT ? s->group : VIGIL_GROUP_OTHER;
    return (!k->key || (s->entity && !k->entity)) ? -ENOMEM : 0;
}

int vigil_prep_fit(struct vigil_prep **out, const struct vigil_frame *train,
                   const struct vigil_prep_params *p, struct vigil_diag *diag)
{
    struct vigil_prep *proto = NULL, *pp = NULL;
    struct vigil_frame tmp;
    int rc;
    *out = NULL;
    vigil_frame_init(&tmp);
    const char *bad = vigil_prep_check(p);
    if (bad) {
        vigil_diag_set(diag, 0, 0, "%s", bad);
        return VIGIL_ECONFIG;
    }
    if (train->n == 0 || train->f == 0) {
        vigil_diag_set(diag, 0, 0, "training data holds no %s", train->n ? "series" : "rows");
        return VIGIL_EEMPTY;
    }
    /* Pass 1: every column through rules 1-4, unscaled, to learn min and max. */
    proto = vigil_calloc(1, sizeof *proto);
    pp = vigil_calloc(1, sizeof *pp);
    if (!proto || !pp) {
        rc = -ENOMEM;
        goto fail;
    }
    proto->p = *p;
    proto->p.scale = 0;
    proto->p.temporal = 0;
    proto->p.minmax = 0;
    proto->p.lags = 0;
    proto->kept = vigil_calloc(train->f, sizeof *proto->kept);
    if (!proto->kept) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t j = 0; j < train->f; j++) {
        proto->n_kept = j + 1;
        rc = kept_from_series(&proto->kept[j], &train->cols.v[j]);
        if (rc) {
            goto fail;
        }
    }
    rc = make_feature_names(proto);
    if (!rc) {
        rc = vigil_prep_apply(proto, train, &tmp, diag);
    }
    if (rc) {
        goto fail;
    }
    /* Pass 2: keep the series with at least two distinct values. */
    pp->p = *p;
    pp->kept = vigil_calloc(train->f, sizeof *pp->kept);
    pp->drop = vigil_calloc(train->f, sizeof *pp->drop);
    if (!pp->kept || !pp->drop) {
        rc = -ENOMEM;
        goto fail;
    }
    /* Ranges row by row (the block is row-major), kept in proto's min and max. */
    for (size_t j = 0; j < train->f; j++) {
        proto->kept[j].min = INFINITY;
        proto->kept[j].max = -INFINITY;
    }
    size_t n_normal = 0;
    for (size_t i = 0; i < tmp.n; i++) {
        if (p->normal_only && tmp.y && tmp.y[i] > 0) {
            continue;
        }
        n_normal++;
        const float *row = vigil_frame_row(&tmp, i);
        for (size_t j = 0; j < train->f; j++) {
            double v = row[j];
            struct kept *k = &proto->kept[j];
            if (!isnan(v)) {
                k->min = v < k->min ? v : k->min;
                k->max = v > k->max ? v : k->max;
            }
        }
    }
    if (n_normal == 0) {
        vigil_diag_set(diag, 0, 0, "no row labelled 0 to learn normal from");
        rc = VIGIL_EEMPTY;
        goto fail;
    }
    for (size_t j = 0; j < train->f; j++) {
        struct kept *src = &proto->kept[j];
        double lo = src->min, hi = src->max;
        if (lo < hi) {
            struct kept *k = &pp->kept[pp->n_kept++];
            double mag = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
            double floor = p->range_floor * mag;
            if (p->deltas && src->kind == VIGIL_KIND_COUNTER && is_time_counter(src->key) &&
                floor < p->seconds_floor) {
                floor = p->seconds_floor;
            }
            if (hi - lo < floor) {
                double mid = lo + (hi - lo) / 2;
                lo = mid - floor / 2;
                hi = mid + floor / 2;
            }
            *k = *src;
            k->min = lo;
            k->max = hi;
        } else {
            struct dropped *d = &pp->drop[pp->n_drop++];
            d->key = src->key;
            d->why = lo == hi ? DROP_CONSTANT : DROP_ALL_NAN;
            vigil_free(src->entity);
        }
        src->key = NULL; /* moved */
        src->entity = NULL;
    }
    if (pp->n_kept == 0) {
        vigil_diag_set(diag, 0, 0, "all %zu series are constant or empty after preprocessing",
                       train->f);
        rc = VIGIL_EEMPTY;
        goto fail;
    }
    rc = make_feature_names(pp);
    if (rc) {
        goto fail;
    }
    vigil_prep_free(proto);
    vigil_frame_fini(&tmp);
    *out = pp;
    return 0;
fail:
    vigil_prep_free(proto);
    vigil_prep_free(pp);
    vigil_frame_fini(&tmp);
    return rc;
}

/* ---- serialization ----
 *
 *   u32 magic "VPRP" | u32 version | u64 step | u32 fill_max | u32 scale |
 *   u32 temporal | u32 deltas | f64 clip | (version >= 3: u32 lags | u32 minmax) | u32 K | K x (str key | str entity ("" = host) |
 *   u32 kind | u32 group | f64 min | f64 max) | u32 D | D x (str key | u32 why)
 */

int vigil_prep_save(const struct vigil_prep *pp, struct vigil_buf *out)
{
    int rc = vigil_buf_put_u32(out, PREP_MAGIC);
    rc = rc ? rc : vigil_buf_put_u32(out, PREP_VERSION);
    rc = rc ? rc : vigil_buf_put_u64(out, (uint64_t)pp->p.step);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->p.fill_max);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->p.scale);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->p.temporal);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->p.deltas);
    rc = rc ? rc : vigil_buf_put_f64(out, pp->p.clip);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->p.lags);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->p.minmax);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->n_kept);
    for (size_t i = 0; i < pp->n_kept && !rc; i++) {
        const struct kept *k = &pp->kept[i];
        rc = vigil_buf_put_str(out, k->key);
        rc = rc ? rc : vigil_buf_put_str(out, k->entity ? k->entity : "");
        rc = rc ? rc : vigil_buf_put_u32(out, k->kind);
        rc = rc ? rc : vigil_buf_put_u32(out, k->group);
        rc = rc ? rc : vigil_buf_put_f64(out, k->min);
        rc = rc ? rc : vigil_buf_put_f64(out, k->max);
    }
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->n_drop);
    for (size_t i = 0; i < pp->n_drop && !rc; i++) {
        rc = vigil_buf_put_str(out, pp->drop[i].key);
        rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)pp->drop[i].why);
    }
    return rc;
}

/* Reads a u32 and checks it against [lo, hi]; names the field on failure. */
static int rd_u32_in(struct vigil_rd *r, uint32_t *v, uint32_t lo, uint32_t hi, const char *what,
                     struct vigil_diag *diag)
{
    if (vigil_rd_u32(r, v) != 0) {
        vigil_diag_set(diag, 0, 0, "preprocessing state truncated at %s", what);
        return VIGIL_EFORMAT;
    }
    if (*v < lo || *v > hi) {
        vigil_diag_set(diag, 0, 0, "preprocessing state: %s %u out of range [%u, %u]", what, *v, lo,
                       hi);
        return VIGIL_EFORMAT;
    }
    return 0;
}

static int rd_str_named(struct vigil_rd *r, char **s, const char *what, struct vigil_diag *diag)
{
    int rc = vigil_rd_str(r, s, KEY_MAX);
    if (rc == VIGIL_EFORMAT) {
        vigil_diag_set(diag, 0, 0, "preprocessing state truncated or bad at %s", what);
    }
    return rc;
}

int vigil_prep_load(struct vigil_prep **out, const void *p, size_t n, struct vigil_diag *diag)
{
    struct vigil_rd r;
    uint32_t magic, version, fill, scale, temporal, deltas, nk, nd, lags = 0, minmax = 0;
    uint64_t step;
    *out = NULL;
    vigil_rd_init(&r, p, n);
    if (vigil_rd_u32(&r, &magic) || magic != PREP_MAGIC) {
        vigil_diag_set(diag, 0, 0, "not a preprocessing state (bad magic)");
        return VIGIL_EFORMAT;
    }
    int rc = rd_u32_in(&r, &version, 2, PREP_VERSION, "version", diag);
    if (rc) {
        return rc;
    }
    if (vigil_rd_u64(&r, &step) || step > (uint64_t)INT64_MAX) {
        vigil_diag_set(diag, 0, 0, "preprocessing state: bad or truncated step");
        return VIGIL_EFORMAT;
    }
    rc = rd_u32_in(&r, &fill, 0, 1000000, "fill_max", diag);
    rc = rc ? rc : rd_u32_in(&r, &scale, 0, 1, "scale", diag);
    rc = rc ? rc : rd_u32_in(&r, &temporal, 0, TEMPORAL_MAX, "temporal", diag);
    rc = rc ? rc : rd_u32_in(&r, &deltas, 0, 1, "deltas", diag);
    double clip = 0;
    if (!rc && (vigil_rd_f64(&r, &clip) || !(clip >= 0 && clip <= 1000))) {
        vigil_diag_set(diag, 0, 0, "preprocessing state: bad or truncated clip");
        rc = VIGIL_EFORMAT;
    }
    if (version >= 3) {
        rc = rc ? rc : rd_u32_in(&r, &lags, 0, LAGS_MAX, "lags", diag);
        rc = rc ? rc : rd_u32_in(&r, &minmax, 0, temporal > 0 ? 1 : 0, "minmax", diag);
    }
    /* Each kept series takes at least 32 bytes, so the count is bounded by what is left. */
    rc = rc ? rc
            : rd_u32_in(&r, &nk, 1, (uint32_t)(r.n / 32 < UINT32_MAX ? r.n / 32 : UINT32_MAX),
                        "series count", diag);
    if (rc) {
        return rc;
    }
    struct vigil_prep *pp = vigil_calloc(1, sizeof *pp);
    if (!pp) {
        return -ENOMEM;
    }
    pp->p = (struct vigil_prep_params){.step = (int64_t)step,
                                       .fill_max = (int)fill,
                                       .scale = (int)scale,
                                       .temporal = (int)temporal,
                                       .deltas = (int)deltas,
                                       .clip = clip,
                                       .lags = (int)lags,
                                       .minmax = (int)minmax};
    pp->kept = vigil_calloc(nk, sizeof *pp->kept);
    if (!pp->kept) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < nk; i++) {
        struct kept *k = &pp->kept[i];
        uint32_t kind, group;
        pp->n_kept = i + 1;
        rc = rd_str_named(&r, &k->key, "a series key", diag);
        rc = rc ? rc : rd_str_named(&r, &k->entity, "an entity", diag);
        rc = rc ? rc : rd_u32_in(&r, &kind, 0, VIGIL_KIND_GAUGE, "kind", diag);
        rc = rc ? rc : rd_u32_in(&r, &group, 0, VIGIL_GROUP_COUNT - 1, "group", diag);
        if (rc) {
            goto fail;
        }
        if (vigil_rd_f64(&r, &k->min) || vigil_rd_f64(&r, &k->max)) {
            vigil_diag_set(diag, 0, 0, "preprocessing state truncated at min/max of '%.100s'",
                           k->key);
            rc = VIGIL_EFORMAT;
            goto fail;
        }
        if (!isfinite(k->min) || !isfinite(k->max) || !(k->min < k->max)) {
            vigil_diag_set(diag, 0, 0, "preprocessing state: bad range [%g, %g] for '%.100s'",
                           k->min, k->max, k->key);
            rc = VIGIL_EFORMAT;
            goto fail;
        }
        k->kind = (uint8_t)kind;
        k->group = (uint8_t)group;
        if (!k->entity[0]) {
            vigil_free(k->entity);
            k->entity = NULL;
        }
    }
    rc = rd_u32_in(&r, &nd, 0, (uint32_t)(r.n / 8 < UINT32_MAX ? r.n / 8 : UINT32_MAX),
                   "dropped count", diag);
    if (rc) {
        goto fail;
    }
    pp->drop = vigil_calloc(nd + 1, sizeof *pp->drop);
    if (!pp->drop) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < nd; i++) {
        uint32_t why;
        rc = rd_str_named(&r, &pp->drop[i].key, "a dropped series", diag);
        if (rc) {
            goto fail;
        }
        pp->n_drop = i + 1;
        rc = rd_u32_in(&r, &why, 0, DROP_ALL_NAN, "drop reason", diag);
        if (rc) {
            goto fail;
        }
        pp->drop[i].why = (enum drop_reason)why;
    }
    if (r.n != 0) {
        vigil_diag_set(diag, 0, 0, "preprocessing state: %zu unexpected trailing bytes", r.n);
        rc = VIGIL_EFORMAT;
        goto fail;
    }
    rc = make_feature_names(pp);
    if (rc) {
        goto fail;
    }
    *out = pp;
    return 0;
fail:
    vigil_prep_free(pp);
    return rc;
}
