/*
 * The evaluation report behind `vigil eval` and cross-validation: binary
 * figures on an anomaly score, one-vs-rest figures per class, the confusion
 * matrix and macro-F1, printed as text tables or as JSON (cJSON). Undefined
 * areas are NaN here, "undefined" in text and null in JSON.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "vigil/mem.h"

void vigil_eval_report_fini(struct vigil_eval_report *r)
{
    vigil_free(r->cm);
    vigil_free(r->cls);
    memset(r, 0, sizeof *r);
}

int vigil_eval_report_build(struct vigil_eval_report *r, const int32_t *y, size_t n,
                            const double *anomaly, const double *proba, size_t n_proba,
                            const int32_t *pred)
{
    memset(r, 0, sizeof *r);
    if (n == 0) {
        return VIGIL_EEMPTY;
    }
    size_t c = n_proba;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || (pred && pred[i] < 0)) {
            return -EINVAL;
        }
        c = (size_t)y[i] + 1 > c ? (size_t)y[i] + 1 : c;
        if (pred) {
            c = (size_t)pred[i] + 1 > c ? (size_t)pred[i] + 1 : c;
        }
    }
    int rc = -ENOMEM;
    int32_t *pos = vigil_mallocarray(n, sizeof *pos);
    double *col = vigil_mallocarray(n, sizeof *col);
    r->cls = vigil_calloc(c, sizeof *r->cls);
    if (!pos || !col || !r->cls || (pred && !(r->cm = vigil_mallocarray(c * c, sizeof *r->cm)))) {
        goto fail;
    }
    r->n = n;
    r->c = c;
    for (size_t i = 0; i < n; i++) {
        pos[i] = y[i] != 0;
        r->n_pos += (size_t)pos[i];
    }
    r->roc_auc = vigil_eval_roc_auc(anomaly, pos, n);
    r->ap = vigil_eval_average_precision(anomaly, pos, n);
    r->pr_auc_trapz = vigil_eval_pr_auc_trapz(anomaly, pos, n);
    if ((rc = vigil_eval_best_f1(anomaly, pos, n, &r->best_f1)) != 0 ||
        (rc = vigil_eval_best_f1_pa(anomaly, pos, n, &r->best_f1_pa)) != 0) {
        goto fail;
    }
    double *f1c = col; /* reused as scratch for per-class F1 */
    if (pred) {
        r->has_pred = 1;
        int32_t *pb = vigil_mallocarray(n, sizeof *pb);
        if (!pb) {
            rc = -ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            pb[i] = pred[i] != 0;
        }
        vigil_eval_f1(pb, pos, n, &r->pred_f1);
        vigil_free(pb);
        vigil_eval_confusion(y, pred, n, c, r->cm);
        size_t ok = 0;
        for (size_t j = 0; j < c; j++) {
            ok += r->cm[j * c + j];
        }
        r->accuracy = (double)ok / (double)n;
        r->macro_f1 = vigil_eval_macro_f1(r->cm, c, f1c);
        for (size_t j = 0; j < c; j++) {
            struct vigil_eval_class *k = &r->cls[j];
            for (size_t i = 0; i < c; i++) {
                k->support += r->cm[j * c + i];
                k->predicted += r->cm[i * c + j];
            }
            size_t tp = r->cm[j * c + j];
            k->precision = k->predicted ? (double)tp / (double)k->predicted : 0.0;
            k->recall = k->support ? (double)tp / (double)k->support : 0.0;
            k->f1 = f1c[j];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            r->cls[y[i]].support++;
        }
        r->accuracy = r->macro_f1 = ((double)NAN);
        for (size_t j = 0; j < c; j++) {
            r->cls[j].precision = r->cls[j].recall = r->cls[j].f1 = ((double)NAN);
        }
    }
    for (size_t j = 0; j < c; j++) {
        struct vigil_eval_class *k = &r->cls[j];
        k->roc_auc = k->ap = ((double)NAN);
        if (!proba || j >= n_proba) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            col[i] = proba[i * n_proba + j];
            pos[i] = (size_t)y[i] == j;
        }
        k->roc_auc = vigil_eval_roc_auc(col, pos, n);
        k->ap = vigil_eval_average_precision(col, pos, n);
    }
    vigil_free(pos);
    vigil_free(col);
    return 0;
fail:
    vigil_free(pos);
    vigil_free(col);
    vigil_eval_report_fini(r);
    return rc;
}

/* ---- text ---- */

static int put_num(struct vigil_buf *b, const char *fmt_ok, double v, int width)
{
    if (v != v) {
        return vigil_buf_appendf(b, "%*s", width, "undefined");
    }
    return vigil_buf_appendf(b, fmt_ok, width, v);
}

static int put_f1(struct vigil_buf *b, const char *what, const struct vigil_f1 *f, int thr)
{
    int rc = vigil_buf_appendf(b, "  %-34s %.4f  (precision %.4f, recall %.4f, tp %zu fp %zu fn %zu",
                               what, f->f1, f->precision, f->recall, f->tp, f->fp, f->fn);
    if (!rc && thr) {
        rc = vigil_buf_appendf(b, ", score >= %.6g", f->threshold);
    }
    return rc ? rc : vigil_buf_puts(b, ")\n");
}

int vigil_eval_report_text(const struct vigil_eval_report *r, struct vigil_buf *b)
{
    int rc = vigil_buf_appendf(b, "rows %zu, anomalous %zu (%.2f%%), classes %zu\n", r->n,
                               r->n_pos, r->n ? 100.0 * (double)r->n_pos / (double)r->n : 0.0,
                               r->c);
    rc = rc ? rc : vigil_buf_puts(b, "binary (anomaly = label != 0):\n");
    rc = rc ? rc : vigil_buf_appendf(b, "  %-34s ", "ROC AUC");
    rc = rc ? rc : put_num(b, "%*.4f", r->roc_auc, 6);
    rc = rc ? rc : vigil_buf_appendf(b, "\n  %-34s ", "PR AUC (average precision)");
    rc = rc ? rc : put_num(b, "%*.4f", r->ap, 6);
    rc = rc ? rc : vigil_buf_appendf(b, "\n  %-34s ", "PR AUC (trapezoidal)");
    rc = rc ? rc : put_num(b, "%*.4f", r->pr_auc_trapz, 6);
    rc = rc ? rc : vigil_buf_puts(b, "\n");
    if (!rc && (r->roc_auc != r->roc_auc || r->ap != r->ap)) {
        rc = vigil_buf_puts(b, "  (areas are undefined when the labels hold a single class)\n");
    }
    rc = rc ? rc : put_f1(b, "best F1 over thresholds", &r->best_f1, 1);
    rc = rc ? rc : put_f1(b, "best F1, point-adjusted", &r->best_f1_pa, 1);
    if (!rc && r->has_pred) {
        rc = put_f1(b, "F1 of pred != 0", &r->pred_f1, 0);
        rc = rc ? rc : vigil_buf_appendf(b, "multi-class (pred):\n  %-34s %.4f\n  %-34s ",
                                         "accuracy", r->accuracy, "macro-F1");
        rc = rc ? rc : put_num(b, "%*.4f", r->macro_f1, 6);
        rc = rc ? rc : vigil_buf_puts(b, "\n");
    }
    rc = rc ? rc : vigil_buf_puts(b, "per class (one vs rest):\n  class  support  predicted  "
                                     "precision  recall      F1  ROC AUC  PR AUC (AP)\n");
    for (size_t j = 0; j < r->c && !rc; j++) {
        const struct vigil_eval_class *k = &r->cls[j];
        rc = vigil_buf_appendf(b, "  %5zu  %7zu  ", j, k->support);
        if (!rc && r->has_pred) {
            rc = vigil_buf_appendf(b, "%9zu  ", k->predicted);
        } else if (!rc) {
            rc = vigil_buf_appendf(b, "%9s  ", "-");
        }
        rc = rc ? rc : put_num(b, "%*.4f", k->precision, 9);
        rc = rc ? rc : vigil_buf_puts(b, "  ");
        rc = rc ? rc : put_num(b, "%*.4f", k->recall, 6);
        rc = rc ? rc : vigil_buf_puts(b, "  ");
        rc = rc ? rc : put_num(b, "%*.4f", k->f1, 6);
        rc = rc ? rc : vigil_buf_puts(b, "  ");
        rc = rc ? rc : put_num(b, "%*.4f", k->roc_auc, 7);
        rc = rc ? rc : vigil_buf_puts(b, "  ");
        rc = rc ? rc : put_num(b, "%*.4f", k->ap, 11);
        rc = rc ? rc : vigil_buf_puts(b, "\n");
    }
    if (!rc && r->cm) {
        rc = vigil_buf_puts(b, "confusion matrix (rows: true class, columns: predicted):\n      ");
        for (size_t j = 0; j < r->c && !rc; j++) {
            rc = vigil_buf_appendf(b, " %7zu", j);
        }
        rc = rc ? rc : vigil_buf_puts(b, "\n");
        for (size_t i = 0; i < r->c && !rc; i++) {
            rc = vigil_buf_appendf(b, "  %4zu", i);
            for (size_t j = 0; j < r->c && !rc; j++) {
                rc = vigil_buf_appendf(b, " %7zu", r->cm[i * r->c + j]);
            }
            rc = rc ? rc : vigil_buf_puts(b, "\n");
        }
    }
    return rc;
}

/* ---- JSON ---- */

static cJSON *num(double v)
{
    return v == v && isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *f1_json(const struct vigil_f1 *f, int thr)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddItemToObject(o, "f1", num(f->f1));
    cJSON_AddItemToObject(o, "precision", num(f->precision));
    cJSON_AddItemToObject(o, "recall", num(f->recall));
    cJSON_AddItemToObject(o, "tp", cJSON_CreateNumber((double)f->tp));
    cJSON_AddItemToObject(o, "fp", cJSON_CreateNumber((double)f->fp));
    cJSON_AddItemToObject(o, "fn", cJSON_CreateNumber((double)f->fn));
    if (thr) {
        cJSON_AddItemToObject(o, "threshold", num(f->threshold));
    }
    return o;
}

int vigil_eval_report_json(const struct vigil_eval_report *r, struct vigil_buf *b)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return -ENOMEM;
    }
    cJSON_AddItemToObject(o, "rows", cJSON_CreateNumber((double)r->n));
    cJSON_AddItemToObject(o, "anomalous", cJSON_CreateNumber((double)r->n_pos));
    cJSON_AddItemToObject(o, "classes", cJSON_CreateNumber((double)r->c));
    cJSON *bin = cJSON_AddObjectToObject(o, "binary");
    if (bin) {
        cJSON_AddItemToObject(bin, "roc_auc", num(r->roc_auc));
        cJSON_AddItemToObject(bin, "pr_auc_ap", num(r->ap));
        cJSON_AddItemToObject(bin, "pr_auc_trapz", num(r->pr_auc_trapz));
        cJSON_AddItemToObject(bin, "best_f1", f1_json(&r->best_f1, 1));
        cJSON_AddItemToObject(bin, "best_f1_point_adjusted", f1_json(&r->best_f1_pa, 1));
        if (r->has_pred) {
            cJSON_AddItemToObject(bin, "pred_f1", f1_json(&r->pred_f1, 0));
        }
    }
    if (r->has_pred) {
        cJSON_AddItemToObject(o, "accuracy", num(r->accuracy));
        cJSON_AddItemToObject(o, "macro_f1", num(r->macro_f1));
    }
    cJSON *cls = cJSON_AddArrayToObject(o, "per_class");
    for (size_t j = 0; cls && j < r->c; j++) {
        const struct vigil_eval_class *k = &r->cls[j];
        cJSON *e = cJSON_CreateObject();
        if (!e) {
            break;
        }
        cJSON_AddItemToObject(e, "class", cJSON_CreateNumber((double)j));
        cJSON_AddItemToObject(e, "support", cJSON_CreateNumber((double)k->support));
        if (r->has_pred) {
            cJSON_AddItemToObject(e, "predicted", cJSON_CreateNumber((double)k->predicted));
            cJSON_AddItemToObject(e, "precision", num(k->precision));
            cJSON_AddItemToObject(e, "recall", num(k->recall));
            cJSON_AddItemToObject(e, "f1", num(k->f1));
        }
        cJSON_AddItemToObject(e, "roc_auc", num(k->roc_auc));
        cJSON_AddItemToObject(e, "pr_auc_ap", num(k->ap));
        cJSON_AddItemToArray(cls, e);
    }
    if (r->cm) {
        cJSON *cm = cJSON_AddArrayToObject(o, "confusion");
        for (size_t i = 0; cm && i < r->c; i++) {
            cJSON *row = cJSON_CreateArray();
            for (size_t j = 0; row && j < r->c; j++) {
                cJSON_AddItemToArray(row, cJSON_CreateNumber((double)r->cm[i * r->c + j]));
            }
            cJSON_AddItemToArray(cm, row);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        return -ENOMEM;
    }
    int rc = vigil_buf_puts(b, s);
    rc = rc ? rc : vigil_buf_puts(b, "\n");
    cJSON_free(s);
    return rc;
}
