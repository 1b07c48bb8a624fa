/*
 * Stratified k-fold cross-validation of any supervised model (the protocol
 * of Sauvanaud et al., DSN 2016: mean and standard deviation of ROC AUC and
 * PR AUC over folds). Fold assignment copies scikit-learn's StratifiedKFold
 * so that the same k gives the same folds as a Python peer (without shuffle).
 * Only the model is refitted per fold; preprocessing happens before.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "vigil/mem.h"
#include "vigil/rng.h"

int vigil_eval_kfold(const int32_t *y, size_t n, int k, int shuffle, uint64_t seed, int32_t *fold)
{
    if (k < 2 || (size_t)k > n) {
        return -EINVAL;
    }
    int32_t cmax = -1;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0) {
            return -EINVAL;
        }
        cmax = y[i] > cmax ? y[i] : cmax;
    }
    size_t c = (size_t)cmax + 1, kk = (size_t)k;
    size_t *cnt = vigil_calloc(c, sizeof *cnt);
    size_t *alloc = vigil_calloc(c * kk, sizeof *alloc);
    uint32_t *order = NULL;
    if (!cnt || !alloc) {
        vigil_free(cnt);
        vigil_free(alloc);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        cnt[y[i]]++;
    }
    /*
     * sklearn: y_order = sort(y); allocation[i][cls] = count of cls in
     * y_order[i::k]. Class cls occupies sorted positions [s, s + cnt).
     */
    size_t s = 0;
    for (size_t j = 0; j < c; j++) {
        for (size_t p = s; p < s + cnt[j]; p++) {
            alloc[j * kk + p % kk]++;
        }
        s += cnt[j];
    }
    struct vigil_rng rng;
    vigil_rng_seed(&rng, seed);
    int rc = 0;
    for (size_t j = 0; j < c && !rc; j++) {
        if (!cnt[j]) {
            continue;
        }
        /* folds_for_class = arange(k).repeat(allocation[:, cls]), optionally shuffled. */
        order = vigil_mallocarray(cnt[j], sizeof *order);
        if (!order) {
            rc = -ENOMEM;
            break;
        }
        size_t q = 0;
        for (size_t f = 0; f < kk; f++) {
            for (size_t r = 0; r < alloc[j * kk + f]; r++) {
                order[q++] = (uint32_t)f;
            }
        }
        if (shuffle) {
            vigil_rng_shuffle(&rng, order, cnt[j]);
        }
        q = 0;
        for (size_t i = 0; i < n; i++) {
            if ((size_t)y[i] == j) {
                fold[i] = (int32_t)order[q++];
            }
        }
        vigil_free(order);
        order = NULL;
    }
    vigil_free(cnt);
    vigil_free(alloc);
    return rc;
}

void vigil_cv_result_fini(struct vigil_cv_result *r)
{
    vigil_free(r->cls_roc_auc);
    vigil_free(r->cls_ap);
    memset(r, 0, sizeof *r);
}

/* Accumulates a figure over folds: v NaN is skipped (undefined in that fold). */
static void stat_add(struct vigil_cv_stat *s, double v, double *sum2)
{
    if (v != v) {
        return;
    }
    s->mean += v;
    *sum2 += v * v;
    s->folds++;
}

static void stat_end(struct vigil_cv_stat *s, double sum2)
{
    if (s->folds == 0) {
        s->mean = s->std = ((double)NAN);
        return;
    }
    s->mean /= s->folds;
    double var = sum2 / s->folds - s->mean * s->mean;
    s->std = var > 0 ? sqrt(var) : 0.0;
}

int vigil_eval_cv(const struct vigil_model_ops *ops, const void *params, const float *x,
                  const int32_t *y, size_t n, size_t f, int k, int shuffle, uint64_t seed,
                  int threads, struct vigil_cv_result *out)
{
    memset(out, 0, sizeof *out);
    if (!ops || !ops->supervised || !ops->fit || !ops->score || f == 0) {
        return -EINVAL;
    }
    int32_t cmax = 0;
    for (size_t i = 0; i < n; i++) {
        cmax = y[i] > cmax ? y[i] : cmax;
    }
    size_t c = (size_t)cmax + 1;
    int rc = -ENOMEM;
    int32_t *fold = vigil_mallocarray(n, sizeof *fold);
    float *xt = vigil_mallocarray(n * f, sizeof *xt);
    int32_t *yt = vigil_mallocarray(n, sizeof *yt);
    float *proba = vigil_mallocarray(n * c, sizeof *proba);
    double *pd = vigil_mallocarray(n * c, sizeof *pd);
    double *anom = vigil_mallocarray(n, sizeof *anom);
    int32_t *pred = vigil_mallocarray(n, sizeof *pred);
    double *sum2 = vigil_calloc(3 + 2 * c, sizeof *sum2);
    out->cls_roc_auc = vigil_calloc(c, sizeof *out->cls_roc_auc);
    out->cls_ap = vigil_calloc(c, sizeof *out->cls_ap);
    if (!fold || !xt || !yt || !proba || !pd || !anom || !pred || !sum2 || !out->cls_roc_auc ||
        !out->cls_ap) {
        goto done;
    }
    out->k = k;
    out->c = c;
    rc = vigil_eval_kfold(y, n, k, shuffle, seed, fold);
    if (rc) {
        goto done;
    }
    for (int fi = 0; fi < k; fi++) {
        size_t nt = 0, nv = 0;
        for (size_t i = 0; i < n; i++) {
            if (fold[i] != fi) {
                memcpy(xt + nt * f, x + i * f, f * sizeof *x);
                yt[nt++] = y[i];
            }
        }
        struct vigil_batch b = {.x = xt, .n = nt, .f = f, .y = yt, .n_classes = c,
                                .threads = threads > 0 ? threads : 1};
        struct vigil_model m;
        rc = vigil_model_init(&m, ops, params);
        rc = rc ? rc : ops->fit(&m, &b);
        if (rc) {
            vigil_model_fini(&m);
            goto done;
        }
        /* The held-out rows, packed after the training copy is no longer needed. */
        int32_t *yv = yt;
        for (size_t i = 0; i < n; i++) {
            if (fold[i] == fi) {
                memcpy(xt + nv * f, x + i * f, f * sizeof *x);
                yv[nv++] = y[i];
            }
        }
        size_t no = ops->n_out(&m);
        if (no != c) {
            vigil_model_fini(&m);
            rc = VIGIL_ESHAPE;
            goto done;
        }
        rc = ops->score(&m, xt, nv, proba);
        vigil_model_fini(&m);
        if (rc) {
            goto done;
        }
        for (size_t i = 0; i < nv; i++) {
            size_t am = 0;
            for (size_t j = 0; j < c; j++) {
                pd[i * c + j] = (double)proba[i * c + j];
                am = proba[i * c + j] > proba[i * c + am] ? j : am;
            }
            anom[i] = 1.0 - pd[i * c];
            pred[i] = (int32_t)am;
        }
        struct vigil_eval_report r;
        rc = vigil_eval_report_build(&r, yv, nv, anom, pd, c, pred);
        if (rc) {
            goto done;
        }
        stat_add(&out->roc_auc, r.roc_auc, &sum2[0]);
        stat_add(&out->ap, r.ap, &sum2[1]);
        stat_add(&out->macro_f1, r.macro_f1, &sum2[2]);
        for (size_t j = 0; j < c; j++) {
            stat_add(&out->cls_roc_auc[j], r.cls[j].roc_auc, &sum2[3 + j]);
            stat_add(&out->cls_ap[j], r.cls[j].ap, &sum2[3 + c + j]);
        }
        vigil_eval_report_fini(&r);
    }
    stat_end(&out->roc_auc, sum2[0]);
    stat_end(&out->ap, sum2[1]);
    stat_end(&out->macro_f1, sum2[2]);
    for (size_t j = 0; j < c; j++) {
        stat_end(&out->cls_roc_auc[j], sum2[3 + j]);
        stat_end(&out->cls_ap[j], sum2[3 + c + j]);
    }
    rc = 0;
done:
    vigil_free(fold);
    vigil_free(xt);
    vigil_free(yt);
    vigil_free(proba);
    vigil_free(pd);
    vigil_free(anom);
    vigil_free(pred);
    vigil_free(sum2);
    if (rc) {
        vigil_cv_result_fini(out);
    }
    return rc;
}

static int put_stat(struct vigil_buf *b, const char *what, const struct vigil_cv_stat *s)
{
    if (s->folds == 0) {
        return vigil_buf_appendf(b, "  %-28s undefined in every fold\n", what);
    }
    return vigil_buf_appendf(b, "  %-28s %.4f +- %.4f  (%d folds)\n", what, s->mean, s->std,
                             s->folds);
}

int vigil_cv_result_text(const struct vigil_cv_result *r, struct vigil_buf *b)
{
    int rc = vigil_buf_appendf(b, "stratified %d-fold cross-validation (mean +- std over folds):\n",
                               r->k);
    rc = rc ? rc : put_stat(b, "ROC AUC (binary)", &r->roc_auc);
    rc = rc ? rc : put_stat(b, "PR AUC (AP, binary)", &r->ap);
    rc = rc ? rc : put_stat(b, "macro-F1", &r->macro_f1);
    for (size_t j = 0; j < r->c && !rc; j++) {
        char what[64];
        snprintf(what, sizeof what, "class %zu ROC AUC", j);
        rc = put_stat(b, what, &r->cls_roc_auc[j]);
        snprintf(what, sizeof what, "class %zu PR AUC (AP)", j);
        rc = rc ? rc : put_stat(b, what, &r->cls_ap[j]);
    }
    return rc;
}
