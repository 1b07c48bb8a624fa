/*
 * Anomaly explanations from per-feature squared errors (include/vigil/
 * explain.h): the 90% feature set of one row, and the anomalous segments of
 * each group with the distinct feature sets that explain their rows and each
 * feature's share of the segment's error. The SMD root-cause figures
 * (HitRate, docs/results.md) and `vigil explain` are built on this.
 *
 * Not here: computing the errors (the models, vigil_recon_errors), turning
 * scores into alarms (policy.c), printing (src/cli/cmd_explain.c).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "vigil/explain.h"
#include "vigil/mem.h"

/* ---- one row ---- */

/* a ranks before b: larger error first, then smaller index. NaN counts as 0. */
static int before(const float *se, uint32_t a, uint32_t b)
{
    float ea = se[a] == se[a] ? se[a] : 0.0f, eb = se[b] == se[b] ? se[b] : 0.0f;
    return ea > eb || (ea == eb && a < b);
}

static void sift(uint32_t *h, size_t i, size_t n, const float *se)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            return;
        }
        /* A heap whose root is the LAST in rank order, so heapsort leaves rank order. */
        if (c + 1 < n && before(se, h[c], h[c + 1])) {
            c++;
        }
        if (!before(se, h[i], h[c])) {
            return;
        }
        uint32_t t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* Heapsort of feature indices by rank: no allocation, O(n log n). */
static void rank_sort(uint32_t *idx, size_t n, const float *se)
{
    for (size_t i = n / 2; i-- > 0;) {
        sift(idx, i, n, se);
    }
    for (size_t end = n; end-- > 1;) {
        uint32_t t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift(idx, 0, end, se);
    }
}

size_t vigil_explain_top(uint32_t *idx, const float *se, const uint32_t *cols, size_t n_cols,
                         double cover)
{
    double total = 0.0;
    for (size_t j = 0; j < n_cols; j++) {
        idx[j] = cols[j];
        total += (double)se[cols[j]];
    }
    rank_sort(idx, n_cols, se);
    if (!(total > 0.0) || !isfinite(total)) {
        return 0;
    }
    double cum = 0.0;
    for (size_t k = 0; k < n_cols; k++) {
        cum += (double)se[idx[k]];
        if (cum >= cover * total) {
            return k + 1;
        }
    }
    return n_cols; /* rounding: the whole group */
}

/* ---- segments ---- */

struct work {
    uint32_t *cols;  /* (F) the current group's features */
    size_t n_cols;
    uint32_t *idx;   /* (F) ranking of one row */
    uint32_t *key;   /* (F) sorted copy of F_t */
    uint32_t **keys; /* (MAX_SETS) sorted feature lists of the kept sets; owned */
    double *sum;     /* (F) summed SE per feature over a segment */
    float *sumf;     /* (F) the same as float, to rank with rank_sort */
};

static void sort_u32(uint32_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--) {
            v[j] = v[j - 1];
        }
        v[j] = x;
    }
}

static void seg_free(struct vigil_explain_seg *s)
{
    for (size_t i = 0; i < s->n_sets; i++) {
        vigil_free(s->sets[i].feat);
    }
    vigil_free(s->sets);
    vigil_free(s->feat);
    vigil_free(s->feat_share);
    memset(s, 0, sizeof *s);
}

void vigil_explain_fini(struct vigil_explain *ex)
{
    for (size_t i = 0; i < ex->n_seg; i++) {
        seg_free(&ex->seg[i]);
    }
    vigil_free(ex->seg);
    memset(ex, 0, sizeof *ex);
}

/* Counts row t's feature set in segment s. */
static int add_row_set(struct vigil_explain_seg *s, struct work *w, const float *row,
                       double cover)
{
    size_t k = vigil_explain_top(w->idx, row, w->cols, w->n_cols, cover);
    memcpy(w->key, w->idx, k * sizeof *w->key);
    sort_u32(w->key, k);
    for (size_t i = 0; i < s->n_sets; i++) {
        if (s->sets[i].n_feat == k && memcmp(w->keys[i], w->key, k * sizeof *w->key) == 0) {
            s->sets[i].count++;
            return 0;
        }
    }
    if (s->n_sets == VIGIL_EXPLAIN_MAX_SETS) {
        s->n_other++;
        return 0;
    }
    struct vigil_explain_set *set = &s->sets[s->n_sets];
    set->feat = vigil_mallocarray(k ? k : 1, sizeof *set->feat);
    w->keys[s->n_sets] = vigil_mallocarray(k ? k : 1, sizeof *w->key);
    if (!set->feat || !w->keys[s->n_sets]) {
        vigil_free(set->feat);
        vigil_free(w->keys[s->n_sets]);
        set->feat = NULL;
        w->keys[s->n_sets] = NULL;
        return -ENOMEM;
    }
    memcpy(set->feat, w->idx, k * sizeof *set->feat);
    memcpy(w->keys[s->n_sets], w->key, k * sizeof *w->key);
    set->n_feat = k;
    set->count = 1;
    s->n_sets++;
    return 0;
}

/* Fills a segment's sets, shares and feature ranking from rows [s->start, s->end]. */
static int explain_seg(struct vigil_explain_seg *s, struct work *w, const float *se, size_t f,
                       double cover)
{
    int rc = 0;
    s->sets = vigil_calloc(VIGIL_EXPLAIN_MAX_SETS, sizeof *s->sets);
    s->feat = vigil_mallocarray(w->n_cols, sizeof *s->feat);
    s->feat_share = vigil_mallocarray(w->n_cols, sizeof *s->feat_share);
    if (!s->sets || !s->feat || !s->feat_share) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < w->n_cols; j++) {
        w->sum[w->cols[j]] = 0.0;
    }
    for (size_t t = s->start; t <= s->end && !rc; t++) {
        const float *row = se + t * f;
        rc = add_row_set(s, w, row, cover);
        for (size_t j = 0; j < w->n_cols; j++) {
            w->sum[w->cols[j]] += (double)row[w->cols[j]];
        }
    }
    for (size_t i = 0; i < s->n_sets; i++) {
        vigil_free(w->keys[i]);
        w->keys[i] = NULL;
    }
    if (rc) {
        return rc;
    }
    size_t rows = s->end - s->start + 1;
    /* Sets by decreasing count (stable: first seen first among equals). */
    for (size_t i = 1; i < s->n_sets; i++) {
        struct vigil_explain_set x = s->sets[i];
        size_t j = i;
        for (; j > 0 && s->sets[j - 1].count < x.count; j--) {
            s->sets[j] = s->sets[j - 1];
        }
        s->sets[j] = x;
    }
    for (size_t i = 0; i < s->n_sets; i++) {
        s->sets[i].share = (double)s->sets[i].count / (double)rows;
    }
    double total = 0.0;
    for (size_t j = 0; j < w->n_cols; j++) {
        total += w->sum[w->cols[j]];
        w->sumf[w->cols[j]] = (float)w->sum[w->cols[j]];
        s->feat[j] = w->cols[j];
    }
    rank_sort(s->feat, w->n_cols, w->sumf);
    s->n_feat = w->n_cols;
    for (size_t j = 0; j < w->n_cols; j++) {
        s->feat_share[j] = total > 0.0 ? w->sum[s->feat[j]] / total : 0.0;
    }
    return 0;
}

static int push_seg(struct vigil_explain *ex, size_t *cap, const struct vigil_explain_seg *s)
{
    if (ex->n_seg == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        void *p = vigil_realloc(ex->seg, nc * sizeof *ex->seg);
        if (!p) {
            return -ENOMEM;
        }
        ex->seg = p;
        *cap = nc;
    }
    ex->seg[ex->n_seg++] = *s;
    return 0;
}

/* Closes the open segment [start, t-1] of group g if long enough. */
static int close_seg(struct vigil_explain *ex, size_t *cap, struct work *w, const float *se,
                     size_t f, size_t g, size_t start, size_t t, double peak, double sum,
                     const struct vigil_explain_opts *o)
{
    size_t len = t - start;
    size_t min_len = o->min_len ? o->min_len : 1;
    if (len < min_len) {
        return 0;
    }
    struct vigil_explain_seg s = {.group = g, .start = start, .end = t - 1, .peak = peak,
                                  .mean = sum / (double)len};
    int rc = explain_seg(&s, w, se, f, o->cover);
    rc = rc ? rc : push_seg(ex, cap, &s);
    if (rc) {
        seg_free(&s);
    }
    return rc;
}

int vigil_explain_segments(struct vigil_explain *ex, const float *se, size_t n, size_t f,
                           const size_t *fgroup, const double *thr, size_t n_groups,
                           const struct vigil_explain_opts *opts)
{
    memset(ex, 0, sizeof *ex);
    size_t to = opts->to ? opts->to : n;
    if (to > n || opts->from > to || !(opts->cover > 0.0 && opts->cover <= 1.0) || f == 0) {
        return -EINVAL;
    }
    for (size_t j = 0; j < f; j++) {
        if (fgroup[j] >= n_groups) {
            return -EINVAL;
        }
    }
    struct work w;
    memset(&w, 0, sizeof w);
    w.cols = vigil_mallocarray(f, sizeof *w.cols);
    w.idx = vigil_mallocarray(f, sizeof *w.idx);
    w.key = vigil_mallocarray(f, sizeof *w.key);
    w.keys = vigil_calloc(VIGIL_EXPLAIN_MAX_SETS, sizeof *w.keys);
    w.sum = vigil_calloc(f, sizeof *w.sum);
    w.sumf = vigil_calloc(f, sizeof *w.sumf);
    size_t cap = 0;
    int rc = -ENOMEM;
    if (!w.cols || !w.idx || !w.key || !w.keys || !w.sum || !w.sumf) {
        goto out;
    }
    rc = 0;
    for (size_t g = 0; g < n_groups && !rc; g++) {
        w.n_cols = 0;
        for (size_t j = 0; j < f; j++) {
            if (fgroup[j] == g) {
                w.cols[w.n_cols++] = (uint32_t)j;
            }
        }
        if (w.n_cols == 0) {
            continue;
        }
        int open = 0;
        size_t start = 0;
        double peak = 0.0, sum = 0.0;
        for (size_t t = opts->from; t < to && !rc; t++) {
            double mse = 0.0;
            for (size_t j = 0; j < w.n_cols; j++) {
                mse += (double)se[t * f + w.cols[j]];
            }
            double inten = mse / (double)w.n_cols / thr[g];
            if (inten > 1.0) { /* NaN is never anomalous */
                if (!open) {
                    open = 1;
                    start = t;
                    peak = 0.0;
                    sum = 0.0;
                }
                peak = inten > peak ? inten : peak;
                sum += inten;
            } else if (open) {
                open = 0;
                rc = close_seg(ex, &cap, &w, se, f, g, start, t, peak, sum, opts);
            }
        }
        if (open && !rc) {
            rc = close_seg(ex, &cap, &w, se, f, g, start, to, peak, sum, opts);
        }
    }
out:
    if (w.keys) {
        for (size_t i = 0; i < VIGIL_EXPLAIN_MAX_SETS; i++) {
            vigil_free(w.keys[i]);
        }
    }
    vigil_free(w.cols);
    vigil_free(w.idx);
    vigil_free(w.key);
    vigil_free(w.keys);
    vigil_free(w.sum);
    vigil_free(w.sumf);
    if (rc) {
        vigil_explain_fini(ex);
    }
    return rc;
}
