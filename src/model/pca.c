/*
 * PCA reconstruction error of one metric group: the cheap baseline that
 * deep detectors on SMD have to beat (Kim et al., AAAI 2022). Fitting
 * centres the rows, forms the covariance in double, and takes its
 * eigenvectors with LAPACK (LAPACKE_dsyevd from OpenBLAS); the k leading
 * components keep at least `variance` of the total variance (scikit-learn's
 * rule for a fractional n_components: the first k whose cumulative ratio
 * exceeds it) unless `components` fixes k. The squared error of feature i is
 * that of the residual r = (x - mean) - P^T P (x - mean), computed for
 * blocks of rows with two sgemm calls.
 *
 * Not done here: groups, thresholds (recon.c), scaling (src/prep).
 *
 * Dimension letters: N rows, F features of the group, K components.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "internal.h"
#include "recon.h"
#include "vigil/mem.h"

#define PCA_BLOCK 1024 /* rows per scoring block */

struct pca_params {
    struct vigil__recon_params common;
    double variance;
    int components;
};

static const struct vigil_opt pca_opts[] = {
    VIGIL__RECON_OPTS,
    {"variance", VIGIL_OPT_DOUBLE, offsetof(struct pca_params, variance), "0.95", 0.01, 1.0,
     "keep the fewest components whose share of the variance exceeds this", NULL},
    {"components", VIGIL_OPT_INT, offsetof(struct pca_params, components), "0", 0, 100000,
     "a fixed number of components (0 = chosen by variance)", NULL},
    {0},
};

struct pca {
    size_t f, k;
    float *mean; /* (F) */
    float *comp; /* (K,F) orthonormal rows */
    float *xc;   /* (PCA_BLOCK,F) scratch */
    float *z;    /* (PCA_BLOCK,K) scratch */
};

static void pca_free(void *sub)
{
    struct pca *p = sub;
    if (!p) {
        return;
    }
    vigil_free(p->mean);
    vigil_free(p->comp);
    vigil_free(p->xc);
    vigil_free(p->z);
    vigil_free(p);
}

static struct pca *pca_new(size_t f, size_t k)
{
    struct pca *p = vigil_calloc(1, sizeof *p);
    if (!p) {
        return NULL;
    }
    p->f = f;
    p->k = k;
    p->mean = vigil_calloc(f, sizeof(float));
    p->comp = vigil_calloc(k ? k * f : 1, sizeof(float));
    p->xc = vigil_calloc(PCA_BLOCK * f, sizeof(float));
    p->z = vigil_calloc(PCA_BLOCK * (k ? k : 1), sizeof(float));
    if (!p->mean || !p->comp || !p->xc || !p->z) {
        pca_free(p);
        return NULL;
    }
    return p;
}

static int row_finite(const float *row, size_t f)
{
    int ok = 1;
    for (size_t j = 0; j < f; j++) {
        ok &= isfinite(row[j]) != 0;
    }
    return ok;
}

static int pca_fit(void **sub, const void *params, const float *x, size_t n, size_t f,
                   const struct vigil__recon_env *env)
{
    const struct pca_params *pp = params;
    (void)env;
    *sub = NULL;
    double *mean = vigil_calloc(f, sizeof(double));
    double *cov = vigil_calloc(f * f, sizeof(double));
    double *ev = vigil_calloc(f, sizeof(double));
    double *row = vigil_calloc(f, sizeof(double));
    struct pca *p = NULL;
    int rc = -ENOMEM;
    if (!mean || !cov || !ev || !row) {
        goto out;
    }
    size_t used = 0;
    for (size_t t = 0; t < n; t++) {
        if (row_finite(x + t * f, f)) {
            used++;
            for (size_t j = 0; j < f; j++) {
                mean[j] += (double)x[t * f + j];
            }
        }
    }
    if (used < 2) {
        rc = VIGIL_EEMPTY;
        goto out;
    }
    for (size_t j = 0; j < f; j++) {
        mean[j] /= (double)used;
    }
    /* Upper triangle of the covariance, in double. */
    for (size_t t = 0; t < n; t++) {
        if (!row_finite(x + t * f, f)) {
            continue;
        }
        for (size_t j = 0; j < f; j++) {
            row[j] = (double)x[t * f + j] - mean[j];
        }
        for (size_t a = 0; a < f; a++) {
            double ra = row[a];
            double *ca = cov + a * f;
            for (size_t b = a; b < f; b++) {
                ca[b] += ra * row[b];
            }
        }
    }
    for (size_t a = 0; a < f; a++) {
        for (size_t b = a; b < f; b++) {
            cov[a * f + b] /= (double)(used - 1);
        }
    }
    /* Eigenvalues ascending in ev; eigenvector j in column j of cov. */
    if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)f, cov, (lapack_int)f, ev) != 0) {
        rc = VIGIL_EEMPTY;
        goto out;
    }
    double total = 0.0;
    for (size_t j = 0; j < f; j++) {
        total += ev[j] > 0.0 ? ev[j] : 0.0;
    }
    size_t k = 0;
    if (pp->components > 0) {
        k = (size_t)pp->components < f ? (size_t)pp->components : f;
    } else if (total > 0.0) {
        double cum = 0.0;
        while (k < f) {
            double e = ev[f - 1 - k];
            cum += e > 0.0 ? e : 0.0;
            k++;
            if (cum / total > pp->variance) {
                break;
            }
        }
    }
    p = pca_new(f, k);
    if (!p) {
        goto out;
    }
    for (size_t j = 0; j < f; j++) {
        p->mean[j] = (float)mean[j];
    }
    for (size_t c = 0; c < k; c++) {
        size_t col = f - 1 - c;
        for (size_t j = 0; j < f; j++) {
            p->comp[c * f + j] = (float)cov[j * f + col];
        }
    }
    *sub = p;
    p = NULL;
    rc = 0;
out:
    pca_free(p);
    vigil_free(mean);
    vigil_free(cov);
    vigil_free(ev);
    vigil_free(row);
    return rc;
}

static int pca_se(void *sub, const float *x, size_t n, size_t f, float *se)
{
    struct pca *p = sub;
    if (f != p->f) {
        return VIGIL_ESHAPE;
    }
    for (size_t t0 = 0; t0 < n; t0 += PCA_BLOCK) {
        size_t b = n - t0 < PCA_BLOCK ? n - t0 : PCA_BLOCK;
        for (size_t t = 0; t < b; t++) {
            for (size_t j = 0; j < f; j++) {
                p->xc[t * f + j] = x[(t0 + t) * f + j] - p->mean[j];
            }
        }
        float *r = se + t0 * f;
        memcpy(r, p->xc, b * f * sizeof(float));
        if (p->k > 0) {
            /* z (b,K) = xc P^T;  r = xc - z P */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)p->k, (int)f, 1.0f,
                        p->xc, (int)f, p->comp, (int)f, 0.0f, p->z, (int)p->k);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, (int)f, (int)p->k,
                        -1.0f, p->z, (int)p->k, p->comp, (int)f, 1.0f, r, (int)f);
        }
        for (size_t i = 0; i < b * f; i++) {
            r[i] *= r[i]; /* NaN inputs stay NaN */
        }
    }
    return 0;
}

static size_t pca_lag(const void *params)
{
    (void)params;
    return 0;
}

/* u32 F | u32 K | F floats mean | K*F floats components */
static int pca_save(const void *sub, struct vigil_buf *out)
{
    const struct pca *p = sub;
    int rc = vigil_buf_put_u32(out, (uint32_t)p->f);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->k);
    rc = rc ? rc : vigil__recon_put_floats(out, p->mean, p->f);
    return rc ? rc : vigil__recon_put_floats(out, p->comp, p->k * p->f);
}

static int pca_load(void **sub, const void *params, const void *bytes, size_t n, size_t f)
{
    (void)params;
    struct vigil_rd rd;
    uint32_t ff, k;
    *sub = NULL;
    vigil_rd_init(&rd, bytes, n);
    if (vigil_rd_u32(&rd, &ff) || vigil_rd_u32(&rd, &k) || ff != f || k > f ||
        rd.n != ((size_t)f + (size_t)k * f) * sizeof(float)) {
        return VIGIL_EFORMAT;
    }
    struct pca *p = pca_new(f, k);
    if (!p) {
        return -ENOMEM;
    }
    if (vigil__recon_rd_floats(&rd, p->mean, f) ||
        vigil__recon_rd_floats(&rd, p->comp, (size_t)k * f)) {
        pca_free(p);
        return VIGIL_EFORMAT;
    }
    *sub = p;
    return 0;
}

const struct vigil__recon_kind vigil__pca_kind = {
    .lag = pca_lag,
    .fit = pca_fit,
    .se = pca_se,
    .save = pca_save,
    .load = pca_load,
    .free = pca_free,
};

const struct vigil_model_ops vigil_pca_ops = VIGIL__RECON_OPS(
    "pca", "PCA reconstruction error per metric group (LAPACK), score = MSE / threshold",
    pca_opts, struct pca_params, vigil__recon_check);
