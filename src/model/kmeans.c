/*
 * k-means distance of one metric group, the Netdata approach: cluster the
 * nominal rows into K centroids (k-means++ seeding, then Lloyd's iterations
 * until no row changes cluster), and score a row by its squared distance to
 * the nearest centroid, split per feature so that explanations can name the
 * features: SE(i,t) = (x_i - c_i)^2 for the nearest centroid c.
 *
 * Not done here: groups and thresholds (recon.c), the lag/smoothing features
 * Netdata adds per metric (src/prep's temporal features give the same).
 *
 * Dimension letters: N rows, F features of the group, K centroids.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "recon.h"
#include "vigil/mem.h"
#include "vigil/rng.h"

struct km_params {
    struct vigil__recon_params common;
    int k;
    int iters;
    int seed;
};

static const struct vigil_opt km_opts[] = {
    VIGIL__RECON_OPTS,
    {"k", VIGIL_OPT_INT, offsetof(struct km_params, k), "8", 1, 4096, "number of centroids",
     NULL},
    {"iters", VIGIL_OPT_INT, offsetof(struct km_params, iters), "100", 1, 100000,
     "at most this many Lloyd iterations", NULL},
    {"seed", VIGIL_OPT_INT, offsetof(struct km_params, seed), "1", 0, INT_MAX,
     "random seed of the k-means++ seeding", NULL},
    {0},
};

struct km {
    size_t f, k;
    float *c; /* (K,F) centroids */
};

static void km_free(void *sub)
{
    struct km *m = sub;
    if (m) {
        vigil_free(m->c);
        vigil_free(m);
    }
}

static struct km *km_new(size_t f, size_t k)
{
    struct km *m = vigil_calloc(1, sizeof *m);
    if (!m) {
        return NULL;
    }
    m->f = f;
    m->k = k;
    m->c = vigil_calloc(k * f, sizeof(float));
    if (!m->c) {
        vigil_free(m);
        return NULL;
    }
    return m;
}

static double dist2(const float *a, const float *b, size_t f)
{
    double s = 0.0;
    for (size_t j = 0; j < f; j++) {
        double d = (double)a[j] - (double)b[j];
        s += d * d;
    }
    return s;
}

static size_t nearest(const struct km *m, const float *row, double *best)
{
    size_t arg = 0;
    double bd = INFINITY;
    for (size_t c = 0; c < m->k; c++) {
        double d = dist2(row, m->c + c * m->f, m->f);
        if (d < bd) {
            bd = d;
            arg = c;
        }
    }
    if (best) {
        *best = bd;
    }
    return arg;
}

static int finite_row(const float *row, size_t f)
{
    int ok = 1;
    for (size_t j = 0; j < f; j++) {
        ok &= isfinite(row[j]) != 0;
    }
    return ok;
}

/* k-means++ (Arthur and Vassilvitskii): each next centre drawn with probability ~ D^2. */
static void seed_pp(struct km *m, const float *x, const uint32_t *rows, size_t n, double *d2,
                    struct vigil_rng *rng)
{
    size_t f = m->f;
    memcpy(m->c, x + (size_t)rows[vigil_rng_below(rng, n)] * f, f * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        d2[i] = dist2(x + (size_t)rows[i] * f, m->c, f);
    }
    for (size_t c = 1; c < m->k; c++) {
        double total = 0.0;
        for (size_t i = 0; i < n; i++) {
            total += d2[i];
        }
        size_t pick = vigil_rng_below(rng, n);
        if (total > 0.0) {
            double u = vigil_rng_uniform(rng) * total, acc = 0.0;
            for (size_t i = 0; i < n; i++) {
                acc += d2[i];
                if (acc >= u && d2[i] > 0.0) {
                    pick = i;
                    break;
                }
            }
        }
        float *cc = m->c + c * f;
        memcpy(cc, x + (size_t)rows[pick] * f, f * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            double d = dist2(x + (size_t)rows[i] * f, cc, f);
            d2[i] = d < d2[i] ? d : d2[i];
        }
    }
}

static int km_fit(void **sub, const void *params, const float *x, size_t n, size_t f,
                  const struct vigil__recon_env *env)
{
    const struct km_params *p = params;
    (void)env;
    *sub = NULL;
    uint32_t *rows = vigil_mallocarray(n ? n : 1, sizeof *rows);
    uint32_t *assign = vigil_mallocarray(n ? n : 1, sizeof *assign);
    double *d2 = vigil_mallocarray(n ? n : 1, sizeof *d2);
    double *sum = NULL;
    size_t *cnt = NULL;
    struct km *m = NULL;
    int rc = -ENOMEM;
    if (!rows || !assign || !d2) {
        goto out;
    }
    size_t used = 0;
    for (size_t t = 0; t < n; t++) {
        if (finite_row(x + t * f, f)) {
            rows[used++] = (uint32_t)t;
        }
    }
    if (used == 0) {
        rc = VIGIL_EEMPTY;
        goto out;
    }
    size_t k = (size_t)p->k < used ? (size_t)p->k : used;
    m = km_new(f, k);
    sum = vigil_calloc(k * f, sizeof *sum);
    cnt = vigil_calloc(k, sizeof *cnt);
    if (!m || !sum || !cnt) {
        goto out;
    }
    struct vigil_rng rng;
    vigil_rng_seed(&rng, (uint64_t)p->seed);
    seed_pp(m, x, rows, used, d2, &rng);
    for (size_t i = 0; i < used; i++) {
        assign[i] = UINT32_MAX;
    }
    for (int it = 0; it < p->iters; it++) {
        size_t changed = 0;
        memset(sum, 0, k * f * sizeof *sum);
        memset(cnt, 0, k * sizeof *cnt);
        for (size_t i = 0; i < used; i++) {
            const float *row = x + (size_t)rows[i] * f;
            uint32_t c = (uint32_t)nearest(m, row, NULL);
            changed += c != assign[i];
            assign[i] = c;
            cnt[c]++;
            for (size_t j = 0; j < f; j++) {
                sum[c * f + j] += (double)row[j];
            }
        }
        if (changed == 0) {
            break;
        }
        for (size_t c = 0; c < k; c++) {
            if (cnt[c] == 0) {
                continue; /* an empty cluster keeps its centre */
            }
            for (size_t j = 0; j < f; j++) {
                m->c[c * f + j] = (float)(sum[c * f + j] / (double)cnt[c]);
            }
        }
    }
    *sub = m;
    m = NULL;
    rc = 0;
out:
    km_free(m);
    vigil_free(rows);
    vigil_free(assign);
    vigil_free(d2);
    vigil_free(sum);
    vigil_free(cnt);
    return rc;
}

static int km_se(void *sub, const float *x, size_t n, size_t f, float *se)
{
    struct km *m = sub;
    if (f != m->f) {
        return VIGIL_ESHAPE;
    }
    for (size_t t = 0; t < n; t++) {
        const float *row = x + t * f;
        float *out = se + t * f;
        if (!finite_row(row, f)) {
            for (size_t j = 0; j < f; j++) {
                out[j] = NAN;
            }
            continue;
        }
        const float *c = m->c + nearest(m, row, NULL) * f;
        for (size_t j = 0; j < f; j++) {
            float d = row[j] - c[j];
            out[j] = d * d;
        }
    }
    return 0;
}

static size_t km_lag(const void *params)
{
    (void)params;
    return 0;
}

/* u32 F | u32 K | K*F floats */
static int km_save(const void *sub, struct vigil_buf *out)
{
    const struct km *m = sub;
    int rc = vigil_buf_put_u32(out, (uint32_t)m->f);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)m->k);
    return rc ? rc : vigil__recon_put_floats(out, m->c, m->k * m->f);
}

static int km_load(void **sub, const void *params, const void *bytes, size_t n, size_t f)
{
    (void)params;
    struct vigil_rd rd;
    uint32_t ff, k;
    *sub = NULL;
    vigil_rd_init(&rd, bytes, n);
    if (vigil_rd_u32(&rd, &ff) || vigil_rd_u32(&rd, &k) || ff != f || k == 0 || k > 4096 ||
        rd.n != (size_t)k * f * sizeof(float)) {
        return VIGIL_EFORMAT;
    }
    struct km *m = km_new(f, k);
    if (!m) {
        return -ENOMEM;
    }
    if (vigil__recon_rd_floats(&rd, m->c, (size_t)k * f)) {
        km_free(m);
        return VIGIL_EFORMAT;
    }
    *sub = m;
    return 0;
}

const struct vigil__recon_kind vigil__kmeans_kind = {
    .lag = km_lag,
    .fit = km_fit,
    .se = km_se,
    .save = km_save,
    .load = km_load,
    .free = km_free,
};

const struct vigil_model_ops vigil_kmeans_ops = VIGIL__RECON_OPS(
    "kmeans", "k-means distance to the nearest centroid per metric group (Netdata's approach)",
    km_opts, struct km_params, vigil__recon_check);
