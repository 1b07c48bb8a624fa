/*
 * The per-group wrapper of the reconstruction models (lstm-ae, pca, kmeans):
 * one submodel per metric group, thresholds at a quantile of the training
 * MSE, and the score columns of include/vigil/recon.h. The methods
 * themselves (lstm_ae.c, pca.c, kmeans.c) only see one group's columns as a
 * contiguous (N,Fg) matrix and return squared errors; everything about
 * groups, thresholds, ratios and the file layout lives here, once.
 *
 * Saved bytes (inside the model file's model section, little-endian):
 *
 *   u32 version=2 | str params | u32 F | u32 G | G x ( str name | u32 Fg |
 *   Fg x u32 column | f64 threshold | Fg x f32 error scale | u64 len |
 *   len bytes of the submodel )
 *
 * params is the option dump ("window = 30\n...") of the training options, so a
 * loaded model scores with the window and quantile it was trained with,
 * whatever the flags of the scoring command; only `threads` stays a runtime
 * choice.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "recon.h"
#include "vigil/mem.h"
#include "vigil/recon.h"

#define RECON_VERSION 2
#define RECON_MAX_F 1000000
#define RECON_FIXED 3 /* score, threshold, anomaly; then score_<g>, threshold_<g> */

struct rgroup {
    char name[16];
    size_t fg;
    uint32_t *cols; /* (Fg) feature indices; owned */
    double thr;
    float *scale; /* (Fg) factor on each feature's error: 1, or 1 / mean training error; owned */
    void *sub;    /* owned by the kind */
};

struct recon {
    const struct vigil__recon_kind *kind;
    void *params; /* copy of the model's params; owned */
    size_t f;
    size_t n_groups;
    struct rgroup g[VIGIL_GROUP_COUNT];
    uint16_t *feat_group;  /* (F) group index of each feature; owned */
    char *out_names[RECON_FIXED + 2 * VIGIL_GROUP_COUNT]; /* owned */
    float *xg, *seg;       /* scratch (rows_cap, max Fg); owned */
    size_t rows_cap;
    float *ring;           /* (smooth, max Fg) scratch of the moving average; owned */
    double *acc;           /* (2, max Fg) running sums and NaN counts; owned */
};

int vigil__recon_put_floats(struct vigil_buf *out, const float *x, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = vigil_buf_put_f32(out, x[i]);
    }
    return rc;
}

int vigil__recon_rd_floats(struct vigil_rd *rd, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (vigil_rd_f32(rd, &x[i]) || !isfinite(x[i])) {
            return VIGIL_EFORMAT;
        }
    }
    return 0;
}

const struct vigil__recon_kind *vigil__recon_kind_of(const struct vigil_model_ops *ops)
{
    if (ops == &vigil_lstm_ae_ops) {
        return &vigil__lstm_ae_kind;
    }
    if (ops == &vigil_pca_ops) {
        return &vigil__pca_kind;
    }
    if (ops == &vigil_kmeans_ops) {
        return &vigil__kmeans_kind;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double vigil__quantile(double *v, size_t n, double q)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i])) {
            v[k++] = v[i];
        }
    }
    if (k == 0) {
        return NAN;
    }
    qsort(v, k, sizeof *v, cmp_double);
    double pos = q * (double)(k - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= k) {
        return v[k - 1];
    }
    double frac = pos - (double)lo;
    return v[lo] + frac * (v[lo + 1] - v[lo]);
}

const char *vigil__recon_check(const void *params)
{
    const struct vigil__recon_params *p = params;
    if (!(p->quantile > 0.0 && p->quantile <= 1.0)) {
        return "quantile must be in (0, 1]";
    }
    if (p->smooth < 1) {
        return "smooth must be at least 1";
    }
    return NULL;
}

/* ---- lifecycle ---- */

static void groups_free(struct recon *r)
{
    for (size_t g = 0; g < r->n_groups; g++) {
        vigil_free(r->g[g].cols);
        vigil_free(r->g[g].scale);
        r->kind->free(r->g[g].sub);
    }
    memset(r->g, 0, sizeof r->g);
    r->n_groups = 0;
    for (size_t j = 0; j < RECON_FIXED + 2 * VIGIL_GROUP_COUNT; j++) {
        vigil_free(r->out_names[j]);
        r->out_names[j] = NULL;
    }
    vigil_free(r->feat_group);
    r->feat_group = NULL;
    r->f = 0;
    /* The scratch is sized for the groups' widths: new groups need new scratch. */
    vigil_free(r->xg);
    vigil_free(r->seg);
    vigil_free(r->ring);
    vigil_free(r->acc);
    r->xg = r->seg = r->ring = NULL;
    r->acc = NULL;
    r->rows_cap = 0;
}

int vigil__recon_init(struct vigil_model *m, const void *params)
{
    struct recon *r = vigil_calloc(1, sizeof *r);
    if (!r) {
        return -ENOMEM;
    }
    r->kind = vigil__recon_kind_of(m->ops);
    r->params = vigil_malloc(m->ops->params_size);
    if (!r->kind || !r->params) {
        int rc = r->kind ? -ENOMEM : -EINVAL;
        vigil_free(r->params);
        vigil_free(r);
        return rc;
    }
    memcpy(r->params, params, m->ops->params_size);
    m->ctx = r;
    return 0;
}

void vigil__recon_fini(struct vigil_model *m)
{
    struct recon *r = m->ctx;
    if (!r) {
        return;
    }
    groups_free(r);
    vigil_free(r->params);
    vigil_free(r);
    m->ctx = NULL;
}

/* Grows the gather/error scratch to rows x (max Fg). */
static int reserve_rows(struct recon *r, size_t rows)
{
    if (rows <= r->rows_cap) {
        return 0;
    }
    size_t fmax = 1;
    for (size_t g = 0; g < r->n_groups; g++) {
        fmax = r->g[g].fg > fmax ? r->g[g].fg : fmax;
    }
    const struct vigil__recon_params *cp = r->params;
    float *xg = vigil_mallocarray(rows * fmax, sizeof(float));
    float *seg = vigil_mallocarray(rows * fmax, sizeof(float));
    float *ring = r->ring ? r->ring : vigil_mallocarray((size_t)cp->smooth * fmax, sizeof(float));
    double *acc = r->acc ? r->acc : vigil_mallocarray(2 * fmax, sizeof(double));
    if (!xg || !seg || !ring || !acc) {
        vigil_free(xg);
        vigil_free(seg);
        if (ring != r->ring) {
            vigil_free(ring);
        }
        if (acc != r->acc) {
            vigil_free(acc);
        }
        return -ENOMEM;
    }
    vigil_free(r->xg);
    vigil_free(r->seg);
    r->xg = xg;
    r->seg = seg;
    r->ring = ring;
    r->acc = acc;
    r->rows_cap = rows;
    return 0;
}

static void gather(float *xg, const float *x, size_t n, size_t f, const struct rgroup *g)
{
    for (size_t t = 0; t < n; t++) {
        const float *row = x + t * f;
        float *dst = xg + t * g->fg;
        for (size_t j = 0; j < g->fg; j++) {
            dst[j] = row[g->cols[j]];
        }
    }
}

/*
 * The common post-processing of a group's errors se (N,Fg), in place: each
 * feature's error times its scale, then a causal moving average over
 * `smooth` rows (NaN until the window is full or while it holds a NaN).
 */
static void post(struct recon *r, const struct rgroup *g, float *se, size_t n)
{
    const struct vigil__recon_params *cp = r->params;
    size_t fg = g->fg, k = (size_t)cp->smooth;
    for (size_t t = 0; t < n; t++) {
        for (size_t j = 0; j < fg; j++) {
            se[t * fg + j] *= g->scale[j];
        }
    }
    if (k <= 1) {
        return;
    }
    double *sum = r->acc, *nan = r->acc + fg;
    memset(r->acc, 0, 2 * fg * sizeof *r->acc);
    for (size_t t = 0; t < n; t++) {
        float *row = se + t * fg, *slot = r->ring + (t % k) * fg;
        for (size_t j = 0; j < fg; j++) {
            if (t >= k) { /* drop the value leaving the window (kept in the ring) */
                if (isnan(slot[j])) {
                    nan[j] -= 1.0;
                } else {
                    sum[j] -= (double)slot[j];
                }
            }
            slot[j] = row[j];
            if (isnan(row[j])) {
                nan[j] += 1.0;
            } else {
                sum[j] += (double)row[j];
            }
            row[j] = t + 1 >= k && nan[j] == 0.0 ? (float)(sum[j] / (double)k) : NAN;
        }
    }
}

/* Names, feature map and scratch once the groups are known (fit and load). */
static int finish_groups(struct recon *r)
{
    r->feat_group = vigil_calloc(r->f, sizeof *r->feat_group);
    r->out_names[0] = vigil_strdup("score");
    r->out_names[1] = vigil_strdup("threshold");
    r->out_names[2] = vigil_strdup("anomaly");
    if (!r->feat_group || !r->out_names[0] || !r->out_names[1] || !r->out_names[2]) {
        return -ENOMEM;
    }
    for (size_t g = 0; g < r->n_groups; g++) {
        char name[64];
        size_t c = RECON_FIXED + 2 * g;
        snprintf(name, sizeof name, "score_%s", r->g[g].name);
        r->out_names[c] = vigil_strdup(name);
        snprintf(name, sizeof name, "threshold_%s", r->g[g].name);
        r->out_names[c + 1] = vigil_strdup(name);
        if (!r->out_names[c] || !r->out_names[c + 1]) {
            return -ENOMEM;
        }
        for (size_t j = 0; j < r->g[g].fg; j++) {
            r->feat_group[r->g[g].cols[j]] = (uint16_t)g;
        }
    }
    return 0;
}

/* ---- fit ---- */

/* Splits the features by group: one group per non-empty enum vigil_group, or "all". */
static int split_groups(struct recon *r, const struct vigil_batch *b)
{
    size_t want = b->group ? VIGIL_GROUP_COUNT : 1;
    for (size_t gi = 0; gi < want; gi++) {
        size_t fg = 0;
        for (size_t j = 0; j < b->f; j++) {
            fg += !b->group || b->group[j] == gi || (gi == VIGIL_GROUP_OTHER &&
                                                     b->group[j] >= VIGIL_GROUP_COUNT);
        }
        if (fg == 0) {
            continue;
        }
        struct rgroup *g = &r->g[r->n_groups];
        g->cols = vigil_mallocarray(fg, sizeof *g->cols);
        if (!g->cols) {
            return -ENOMEM;
        }
        r->n_groups++;
        snprintf(g->name, sizeof g->name, "%s",
                 b->group ? vigil_group_name((enum vigil_group)gi) : "all");
        for (size_t j = 0; j < b->f; j++) {
            if (!b->group || b->group[j] == gi ||
                (gi == VIGIL_GROUP_OTHER && b->group[j] >= VIGIL_GROUP_COUNT)) {
                g->cols[g->fg++] = (uint32_t)j;
            }
        }
    }
    return 0;
}

/* scale (Fg): 1, or with normalize 1 / the mean finite training error of each feature. */
static void set_scale(struct rgroup *g, const float *se, size_t n, int normalize)
{
    for (size_t j = 0; j < g->fg; j++) {
        double s = 0.0;
        size_t k = 0;
        for (size_t t = 0; t < n && normalize; t++) {
            float v = se[t * g->fg + j];
            if (isfinite(v)) {
                s += (double)v;
                k++;
            }
        }
        double mean = k ? s / (double)k : 0.0;
        /* A feature reconstructed perfectly in training keeps its raw error. */
        g->scale[j] = normalize && mean > 1e-12 ? (float)(1.0 / mean) : 1.0f;
    }
}

/* Per-row MSE of a group: mse (N) = mean over Fg of se (N,Fg) (NaN stays NaN). */
static void row_mse(double *mse, const float *se, size_t n, size_t fg)
{
    for (size_t t = 0; t < n; t++) {
        double s = 0.0;
        const float *row = se + t * fg;
        for (size_t j = 0; j < fg; j++) {
            s += (double)row[j];
        }
        mse[t] = s / (double)fg;
    }
}

int vigil__recon_fit(struct vigil_model *m, const struct vigil_batch *train)
{
    struct recon *r = m->ctx;
    if (!train->x || train->n == 0 || train->f == 0) {
        return VIGIL_EEMPTY;
    }
    if (train->f > RECON_MAX_F) {
        return VIGIL_ESHAPE;
    }
    groups_free(r);
    r->f = train->f;
    double *mse = NULL;
    int rc = split_groups(r, train);
    rc = rc ? rc : finish_groups(r);
    rc = rc ? rc : reserve_rows(r, train->n);
    if (!rc) {
        mse = vigil_mallocarray(train->n, sizeof *mse);
        rc = mse ? 0 : -ENOMEM;
    }
    for (size_t g = 0; g < r->n_groups && !rc; g++) {
        struct rgroup *gr = &r->g[g];
        struct vigil__recon_env env = {train->threads > 0 ? train->threads : 1, train->progress,
                                       gr->name};
        gather(r->xg, train->x, train->n, train->f, gr);
        rc = r->kind->fit(&gr->sub, r->params, r->xg, train->n, gr->fg, &env);
        rc = rc ? rc : r->kind->se(gr->sub, r->xg, train->n, gr->fg, r->seg);
        if (!rc) {
            gr->scale = vigil_mallocarray(gr->fg, sizeof *gr->scale);
            rc = gr->scale ? 0 : -ENOMEM;
        }
        if (rc) {
            break;
        }
        const struct vigil__recon_params *cp = r->params;
        set_scale(gr, r->seg, train->n, cp->normalize);
        post(r, gr, r->seg, train->n);
        row_mse(mse, r->seg, train->n, gr->fg);
        double q = vigil__quantile(mse, train->n, cp->quantile);
        if (!isfinite(q)) {
            rc = VIGIL_EEMPTY; /* no scorable training row */
            break;
        }
        /* A group reconstructed perfectly still needs a positive threshold. */
        gr->thr = q > 1e-12 ? q : 1e-12;
    }
    vigil_free(mse);
    /* The scratch was sized for every training row; scoring grows its own. A model kept live
     * for hours (vigil watch) must not hold two copies of its training set. */
    vigil_free(r->xg);
    vigil_free(r->seg);
    r->xg = r->seg = NULL;
    r->rows_cap = 0;
    if (rc) {
        groups_free(r);
        return rc;
    }
    m->f = r->f;
    return 0;
}

/* ---- score ---- */

size_t vigil__recon_n_out(const struct vigil_model *m)
{
    const struct recon *r = m->ctx;
    return RECON_FIXED + 2 * r->n_groups;
}

const char *vigil__recon_out_name(const struct vigil_model *m, size_t j)
{
    const struct recon *r = m->ctx;
    return j < RECON_FIXED + 2 * r->n_groups ? r->out_names[j] : NULL;
}

/* Runs every group's submodel on x; calls back per group with its errors in r->seg. */
static int run_groups(struct recon *r, const float *x, size_t n,
                      void (*each)(struct recon *r, size_t g, size_t n, void *u), void *u)
{
    int rc = reserve_rows(r, n);
    for (size_t g = 0; g < r->n_groups && !rc; g++) {
        struct rgroup *gr = &r->g[g];
        gather(r->xg, x, n, r->f, gr);
        rc = r->kind->se(gr->sub, r->xg, n, gr->fg, r->seg);
        if (!rc) {
            post(r, gr, r->seg, n);
            each(r, g, n, u);
        }
    }
    return rc;
}

static void put_scores(struct recon *r, size_t g, size_t n, void *u)
{
    float *out = u;
    size_t w = RECON_FIXED + 2 * r->n_groups;
    const struct rgroup *gr = &r->g[g];
    for (size_t t = 0; t < n; t++) {
        double s = 0.0;
        const float *row = r->seg + t * gr->fg;
        for (size_t j = 0; j < gr->fg; j++) {
            s += (double)row[j];
        }
        float mse = (float)(s / (double)gr->fg);
        float ratio = (float)((double)mse / gr->thr);
        float *o = out + t * w;
        o[RECON_FIXED + 2 * g] = mse;
        o[RECON_FIXED + 2 * g + 1] = (float)gr->thr;
        /* NaN never wins the max; a row with any NaN group stays NaN. */
        if (g == 0 || isnan(ratio) || ratio > o[0]) {
            o[0] = ratio;
        }
        if (g + 1 == r->n_groups) {
            o[1] = 1.0f;
            o[2] = isnan(o[0]) ? NAN : (o[0] > 1.0f ? 1.0f : 0.0f);
        }
    }
}

int vigil__recon_score(struct vigil_model *m, const float *x, size_t n, float *out)
{
    struct recon *r = m->ctx;
    if (r->n_groups == 0) {
        return -EINVAL;
    }
    return run_groups(r, x, n, put_scores, out);
}

static void put_errors(struct recon *r, size_t g, size_t n, void *u)
{
    float *se = u;
    const struct rgroup *gr = &r->g[g];
    for (size_t t = 0; t < n; t++) {
        for (size_t j = 0; j < gr->fg; j++) {
            se[t * r->f + gr->cols[j]] = r->seg[t * gr->fg + j];
        }
    }
}

/* ---- public accessors (vigil/recon.h) ---- */

static struct recon *fitted(const struct vigil_model *m)
{
    if (!m || !m->ops || !m->ctx || !vigil__recon_kind_of(m->ops)) {
        return NULL;
    }
    struct recon *r = m->ctx;
    return r->n_groups ? r : NULL;
}

int vigil_recon_is(const struct vigil_model *m)
{
    return fitted(m) != NULL;
}

size_t vigil_recon_n_groups(const struct vigil_model *m)
{
    const struct recon *r = fitted(m);
    return r ? r->n_groups : 0;
}

const char *vigil_recon_group_name(const struct vigil_model *m, size_t g)
{
    const struct recon *r = fitted(m);
    return r && g < r->n_groups ? r->g[g].name : NULL;
}

double vigil_recon_threshold(const struct vigil_model *m, size_t g)
{
    const struct recon *r = fitted(m);
    return r && g < r->n_groups ? r->g[g].thr : (double)NAN;
}

size_t vigil_recon_feature_group(const struct vigil_model *m, size_t j)
{
    const struct recon *r = fitted(m);
    return r && j < r->f ? r->feat_group[j] : 0;
}

size_t vigil_recon_lag(const struct vigil_model *m)
{
    const struct recon *r = fitted(m);
    if (!r) {
        return 0;
    }
    const struct vigil__recon_params *cp = r->params;
    return r->kind->lag(r->params) + (size_t)cp->smooth - 1;
}

int vigil_recon_errors(struct vigil_model *m, const float *x, size_t n, float *se)
{
    struct recon *r = fitted(m);
    if (!r) {
        return -EINVAL;
    }
    return run_groups(r, x, n, put_errors, se);
}

/* ---- save / load ---- */

int vigil__recon_save(const struct vigil_model *m, struct vigil_buf *out)
{
    const struct recon *r = m->ctx;
    if (r->n_groups == 0) {
        return -EINVAL;
    }
    struct vigil_buf txt;
    vigil_buf_init(&txt);
    int rc = vigil_buf_put_u32(out, RECON_VERSION);
    rc = rc ? rc : vigil_opt_dump(m->ops->opts, r->params, &txt);
    rc = rc ? rc : vigil_buf_put_str(out, txt.p ? txt.p : "");
    vigil_buf_fini(&txt);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)r->f);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)r->n_groups);
    struct vigil_buf sub;
    vigil_buf_init(&sub);
    for (size_t g = 0; g < r->n_groups && !rc; g++) {
        const struct rgroup *gr = &r->g[g];
        rc = vigil_buf_put_str(out, gr->name);
        rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)gr->fg);
        for (size_t j = 0; j < gr->fg && !rc; j++) {
            rc = vigil_buf_put_u32(out, gr->cols[j]);
        }
        rc = rc ? rc : vigil_buf_put_f64(out, gr->thr);
        for (size_t j = 0; j < gr->fg && !rc; j++) {
            rc = vigil_buf_put_f32(out, gr->scale[j]);
        }
        vigil_buf_reset(&sub);
        rc = rc ? rc : r->kind->save(gr->sub, &sub);
        rc = rc ? rc : vigil_buf_put_u64(out, sub.len);
        rc = rc ? rc : vigil_buf_append(out, sub.p, sub.len);
    }
    vigil_buf_fini(&sub);
    return rc;
}

static int load_group(struct recon *r, struct rgroup *gr, struct vigil_rd *rd, uint8_t *seen)
{
    char *name = NULL;
    uint32_t fg, col;
    uint64_t len;
    int rc = vigil_rd_str(rd, &name, sizeof gr->name - 1);
    if (rc) {
        return rc == -ENOMEM ? rc : VIGIL_EFORMAT;
    }
    snprintf(gr->name, sizeof gr->name, "%s", name);
    vigil_free(name);
    if (vigil_rd_u32(rd, &fg) || fg == 0 || fg > r->f) {
        return VIGIL_EFORMAT;
    }
    gr->cols = vigil_mallocarray(fg, sizeof *gr->cols);
    if (!gr->cols) {
        return -ENOMEM;
    }
    gr->fg = fg;
    for (uint32_t j = 0; j < fg; j++) {
        if (vigil_rd_u32(rd, &col) || col >= r->f || seen[col]) {
            return VIGIL_EFORMAT;
        }
        seen[col] = 1;
        gr->cols[j] = col;
    }
    if (vigil_rd_f64(rd, &gr->thr) || !(gr->thr > 0.0) || !isfinite(gr->thr)) {
        return VIGIL_EFORMAT;
    }
    gr->scale = vigil_mallocarray(fg, sizeof *gr->scale);
    if (!gr->scale) {
        return -ENOMEM;
    }
    for (uint32_t j = 0; j < fg; j++) {
        if (vigil_rd_f32(rd, &gr->scale[j]) || !(gr->scale[j] > 0.0f) || !isfinite(gr->scale[j])) {
            return VIGIL_EFORMAT;
        }
    }
    if (vigil_rd_u64(rd, &len) || len > rd->n) {
        return VIGIL_EFORMAT;
    }
    rc = r->kind->load(&gr->sub, r->params, rd->p, (size_t)len, gr->fg);
    rd->p += len;
    rd->n -= len;
    return rc;
}

/* Restores the training options from their dump, keeping the runtime ones (threads). */
static int load_params(struct recon *r, const struct vigil_opt *opts, const char *txt)
{
    while (*txt) {
        const char *nl = strchr(txt, '\n');
        size_t len = nl ? (size_t)(nl - txt) : strlen(txt);
        const char *eq = memchr(txt, '=', len);
        if (!eq || eq - txt < 2 || eq[-1] != ' ' || (size_t)(eq - txt) + 2 > len) {
            return VIGIL_EFORMAT;
        }
        char name[64];
        size_t nn = (size_t)(eq - txt) - 1;
        if (nn >= sizeof name) {
            return VIGIL_EFORMAT;
        }
        memcpy(name, txt, nn);
        name[nn] = '\0';
        const char *val = eq + 2;
        size_t vn = len - (size_t)(val - txt);
        if (strcmp(name, "threads") != 0 &&
            vigil_opt_set(opts, r->params, name, val, vn, NULL) != 0) {
            return VIGIL_EFORMAT;
        }
        txt += len + (nl ? 1 : 0);
    }
    return 0;
}

int vigil__recon_load(struct vigil_model *m, const void *p, size_t n)
{
    struct recon *r = m->ctx;
    struct vigil_rd rd;
    uint32_t version, f, ng;
    char *txt = NULL;
    groups_free(r);
    vigil_rd_init(&rd, p, n);
    if (vigil_rd_u32(&rd, &version) || version != RECON_VERSION) {
        return VIGIL_EFORMAT;
    }
    int prc = vigil_rd_str(&rd, &txt, 1 << 16);
    if (prc) {
        return prc == -ENOMEM ? prc : VIGIL_EFORMAT;
    }
    prc = load_params(r, m->ops->opts, txt);
    vigil_free(txt);
    if (prc) {
        return prc;
    }
    if (vigil_rd_u32(&rd, &f) ||
        f == 0 || f > RECON_MAX_F || vigil_rd_u32(&rd, &ng) || ng == 0 ||
        ng > VIGIL_GROUP_COUNT) {
        return VIGIL_EFORMAT;
    }
    uint8_t *seen = vigil_calloc(f, 1);
    if (!seen) {
        return -ENOMEM;
    }
    r->f = f;
    int rc = 0;
    for (uint32_t g = 0; g < ng && !rc; g++) {
        r->n_groups = g + 1;
        rc = load_group(r, &r->g[g], &rd, seen);
    }
    for (uint32_t j = 0; j < f && !rc; j++) {
        rc = seen[j] ? 0 : VIGIL_EFORMAT; /* every feature belongs to a group */
    }
    if (!rc && rd.n != 0) {
        rc = VIGIL_EFORMAT;
    }
    vigil_free(seen);
    rc = rc ? rc : finish_groups(r);
    if (rc) {
        groups_free(r);
        return rc;
    }
    m->f = r->f;
    return 0;
}
