/*
 * Binary ranking metrics and F1: ROC and precision-recall curves, their
 * areas (sklearn 1.2 definitions, see eval.h), best F1 over thresholds and
 * its point-adjusted variant, and the multi-class confusion matrix and
 * macro-F1. Everything is built on one "sweep": rows sorted by descending
 * score, grouped by distinct score, with cumulative true and false positive
 * weights at each distinct threshold. NaN scores rank below every number.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vigil/mem.h"

/* ---- the sweep ---- */

struct item {
    double s;
    double w;
    int32_t pos;
    uint32_t i;
};

static int cmp_desc(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->s != y->s) {
        return x->s < y->s ? 1 : -1;
    }
    return x->i < y->i ? -1 : (x->i > y->i);
}

void vigil__sweep_fini(struct vigil__sweep *s)
{
    vigil_free(s->thr);
    memset(s, 0, sizeof *s);
}

int vigil__sweep_build(const double *score, const int32_t *pos, const double *weight, size_t n,
                       struct vigil__sweep *s)
{
    memset(s, 0, sizeof *s);
    if (n == 0) {
        return VIGIL_EEMPTY;
    }
    struct item *it = vigil_mallocarray(n, sizeof *it);
    s->thr = vigil_mallocarray(3 * n, sizeof *s->thr);
    if (!it || !s->thr) {
        vigil_free(it);
        vigil__sweep_fini(s);
        return -ENOMEM;
    }
    s->tp = s->thr + n;
    s->fp = s->thr + 2 * n;
    for (size_t i = 0; i < n; i++) {
        double v = score[i];
        it[i] = (struct item){v != v ? (-(double)INFINITY) : v, weight ? weight[i] : 1.0, pos[i] != 0,
                              (uint32_t)i};
    }
    qsort(it, n, sizeof *it, cmp_desc);
    double tp = 0, fp = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (it[i].pos) {
            tp += it[i].w;
        } else {
            fp += it[i].w;
        }
        if (i + 1 == n || it[i + 1].s != it[i].s) {
            s->thr[m] = it[i].s;
            s->tp[m] = tp;
            s->fp[m] = fp;
            m++;
        }
    }
    s->m = m;
    s->p = tp;
    s->neg = fp;
    vigil_free(it);
    return 0;
}

/* ---- areas ---- */

double vigil_eval_roc_auc(const double *score, const int32_t *pos, size_t n)
{
    struct vigil__sweep s;
    if (vigil__sweep_build(score, pos, NULL, n, &s) != 0) {
        return ((double)NAN);
    }
    double auc = ((double)NAN);
    if (s.p > 0 && s.neg > 0) {
        double area = 0, x0 = 0, y0 = 0;
        for (size_t k = 0; k < s.m; k++) {
            double x1 = s.fp[k] / s.neg, y1 = s.tp[k] / s.p;
            area += (x1 - x0) * (y0 + y1) * 0.5;
            x0 = x1;
            y0 = y1;
        }
        auc = area;
    }
    vigil__sweep_fini(&s);
    return auc;
}

double vigil__sweep_ap(const struct vigil__sweep *s)
{
    if (!(s->p > 0)) {
        return ((double)NAN);
    }
    double ap = 0, prev = 0;
    for (size_t k = 0; k < s->m; k++) {
        double r = s->tp[k] / s->p;
        double pr = s->tp[k] / (s->tp[k] + s->fp[k]);
        ap += (r - prev) * pr;
        prev = r;
    }
    return ap;
}

double vigil_eval_average_precision(const double *score, const int32_t *pos, size_t n)
{
    struct vigil__sweep s;
    if (vigil__sweep_build(score, pos, NULL, n, &s) != 0) {
        return ((double)NAN);
    }
    double ap = vigil__sweep_ap(&s);
    vigil__sweep_fini(&s);
    return ap;
}

double vigil_eval_pr_auc_trapz(const double *score, const int32_t *pos, size_t n)
{
    struct vigil__sweep s;
    if (vigil__sweep_build(score, pos, NULL, n, &s) != 0) {
        return ((double)NAN);
    }
    double area = ((double)NAN);
    if (s.p > 0) {
        double x0 = 0, y0 = 1; /* sklearn's extra point (recall 0, precision 1) */
        area = 0;
        for (size_t k = 0; k < s.m; k++) {
            double x1 = s.tp[k] / s.p, y1 = s.tp[k] / (s.tp[k] + s.fp[k]);
            area += (x1 - x0) * (y0 + y1) * 0.5;
            x0 = x1;
            y0 = y1;
        }
    }
    vigil__sweep_fini(&s);
    return area;
}

/* ---- curves ---- */

static int curve_alloc(struct vigil_curve *c, size_t n)
{
    memset(c, 0, sizeof *c);
    c->x = vigil_mallocarray(3 * n, sizeof *c->x);
    if (!c->x) {
        return -ENOMEM;
    }
    c->y = c->x + n;
    c->thr = c->x + 2 * n;
    c->n = n;
    return 0;
}

void vigil_curve_fini(struct vigil_curve *c)
{
    vigil_free(c->x);
    memset(c, 0, sizeof *c);
}

int vigil_eval_roc_curve(const double *score, const int32_t *pos, size_t n, struct vigil_curve *c)
{
    struct vigil__sweep s;
    memset(c, 0, sizeof *c);
    int rc = vigil__sweep_build(score, pos, NULL, n, &s);
    if (rc) {
        return rc;
    }
    rc = curve_alloc(c, s.m + 1);
    if (!rc) {
        c->x[0] = s.neg > 0 ? 0.0 : ((double)NAN);
        c->y[0] = s.p > 0 ? 0.0 : ((double)NAN);
        c->thr[0] = ((double)INFINITY);
        for (size_t k = 0; k < s.m; k++) {
            c->x[k + 1] = s.neg > 0 ? s.fp[k] / s.neg : ((double)NAN);
            c->y[k + 1] = s.p > 0 ? s.tp[k] / s.p : ((double)NAN);
            c->thr[k + 1] = s.thr[k];
        }
    }
    vigil__sweep_fini(&s);
    return rc;
}

int vigil_eval_pr_curve(const double *score, const int32_t *pos, size_t n, struct vigil_curve *c)
{
    struct vigil__sweep s;
    memset(c, 0, sizeof *c);
    int rc = vigil__sweep_build(score, pos, NULL, n, &s);
    if (rc) {
        return rc;
    }
    rc = curve_alloc(c, s.m + 1);
    if (!rc) {
        c->x[0] = 0.0;
        c->y[0] = 1.0;
        c->thr[0] = ((double)INFINITY);
        for (size_t k = 0; k < s.m; k++) {
            c->x[k + 1] = s.p > 0 ? s.tp[k] / s.p : 1.0; /* sklearn: recall 1 without positives */
            c->y[k + 1] = s.tp[k] / (s.tp[k] + s.fp[k]);
            c->thr[k + 1] = s.thr[k];
        }
    }
    vigil__sweep_fini(&s);
    return rc;
}

/* ---- F1 ---- */

static void f1_fill(struct vigil_f1 *o, double tp, double fp, double fn)
{
    o->tp = (size_t)tp;
    o->fp = (size_t)fp;
    o->fn = (size_t)fn;
    o->precision = tp + fp > 0 ? tp / (tp + fp) : 0.0;
    o->recall = tp + fn > 0 ? tp / (tp + fn) : 0.0;
    o->f1 = tp > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
}

void vigil_eval_f1(const int32_t *pred, const int32_t *pos, size_t n, struct vigil_f1 *out)
{
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        int p = pred[i] != 0, t = pos[i] != 0;
        tp += p && t;
        fp += p && !t;
        fn += !p && t;
    }
    memset(out, 0, sizeof *out);
    f1_fill(out, tp, fp, fn);
    out->threshold = ((double)NAN);
}

static void sweep_best_f1(const struct vigil__sweep *s, struct vigil_f1 *out)
{
    memset(out, 0, sizeof *out);
    double best = -1;
    size_t bk = 0;
    for (size_t k = 0; k < s->m; k++) {
        double f1 = s->tp[k] > 0 ? 2 * s->tp[k] / (s->tp[k] + s->fp[k] + s->p) : 0.0;
        if (f1 > best) {
            best = f1;
            bk = k;
        }
    }
    f1_fill(out, s->tp[bk], s->fp[bk], s->p - s->tp[bk]);
    out->threshold = s->thr[bk];
}

int vigil_eval_best_f1(const double *score, const int32_t *pos, size_t n, struct vigil_f1 *out)
{
    struct vigil__sweep s;
    memset(out, 0, sizeof *out);
    int rc = vigil__sweep_build(score, pos, NULL, n, &s);
    if (rc) {
        return rc;
    }
    sweep_best_f1(&s, out);
    vigil__sweep_fini(&s);
    return 0;
}

/*
 * With point adjustment a segment is detected as a whole as soon as the
 * threshold falls to its highest score, so each anomalous segment becomes one
 * item weighted by its length and scored by its maximum, and each normal row
 * stays an item of weight 1. The ordinary sweep over these items gives the
 * point-adjusted counts at every threshold.
 */
int vigil_eval_best_f1_pa(const double *score, const int32_t *pos, size_t n, struct vigil_f1 *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) {
        return VIGIL_EEMPTY;
    }
    double *s2 = vigil_mallocarray(2 * n, sizeof *s2);
    int32_t *p2 = vigil_mallocarray(n, sizeof *p2);
    if (!s2 || !p2) {
        vigil_free(s2);
        vigil_free(p2);
        return -ENOMEM;
    }
    double *w2 = s2 + n;
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        double v = score[i] != score[i] ? (-(double)INFINITY) : score[i];
        if (!pos[i]) {
            s2[m] = v;
            w2[m] = 1;
            p2[m++] = 0;
            i++;
            continue;
        }
        size_t j = i;
        double mx = (-(double)INFINITY);
        while (j < n && pos[j]) {
            double u = score[j] != score[j] ? (-(double)INFINITY) : score[j];
            mx = u > mx ? u : mx;
            j++;
        }
        s2[m] = mx;
        w2[m] = (double)(j - i);
        p2[m++] = 1;
        i = j;
    }
    struct vigil__sweep s;
    int rc = vigil__sweep_build(s2, p2, w2, m, &s);
    if (!rc) {
        sweep_best_f1(&s, out);
        vigil__sweep_fini(&s);
    }
    vigil_free(s2);
    vigil_free(p2);
    return rc;
}

void vigil_eval_point_adjust(const int32_t *pred, const int32_t *pos, size_t n, int32_t *out)
{
    for (size_t i = 0; i < n;) {
        if (!pos[i]) {
            out[i] = pred[i] != 0;
            i++;
            continue;
        }
        size_t j = i;
        int hit = 0;
        while (j < n && pos[j]) {
            hit |= pred[j] != 0;
            j++;
        }
        for (size_t k = i; k < j; k++) {
            out[k] = hit;
        }
        i = j;
    }
}

/* ---- multi-class ---- */

void vigil_eval_confusion(const int32_t *y, const int32_t *pred, size_t n, size_t c, size_t *cm)
{
    memset(cm, 0, c * c * sizeof *cm);
    for (size_t i = 0; i < n; i++) {
        if (y[i] >= 0 && pred[i] >= 0 && (size_t)y[i] < c && (size_t)pred[i] < c) {
            cm[(size_t)y[i] * c + (size_t)pred[i]]++;
        }
    }
}

double vigil_eval_macro_f1(const size_t *cm, size_t c, double *per_class)
{
    double sum = 0;
    size_t used = 0;
    for (size_t j = 0; j < c; j++) {
        size_t tp = cm[j * c + j], row = 0, col = 0;
        for (size_t k = 0; k < c; k++) {
            row += cm[j * c + k];
            col += cm[k * c + j];
        }
        if (row == 0 && col == 0) {
            if (per_class) {
                per_class[j] = ((double)NAN);
            }
            continue;
        }
        double f1 = tp ? 2.0 * (double)tp / (double)(row + col) : 0.0;
        if (per_class) {
            per_class[j] = f1;
        }
        sum += f1;
        used++;
    }
    return used ? sum / (double)used : ((double)NAN);
}

/* ---- distributions ---- */

double vigil_normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (!(p >= 0 && p <= 1)) {
        return NAN;
    }
    if (p == 0) {
        return -INFINITY;
    }
    if (p == 1) {
        return INFINITY;
    }
    double x;
    if (p < 0.02425 || p > 1 - 0.02425) {
        double q = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        x = p < 0.5 ? x : -x;
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    /* One Halley step on the normal CDF. */
    double e = 0.5 * erfc(-x / sqrt(2)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}
