/*
 * Evaluation of detectors against labels: ROC and precision-recall curves and
 * their areas, best F1 over thresholds (point-wise and point-adjusted),
 * confusion matrices, per-class one-vs-rest figures, macro-F1, and stratified
 * k-fold cross-validation of any registered model.
 *
 * Conventions. A binary score is "higher = more anomalous"; a row is
 * predicted positive when score >= threshold. pos (N) is nonzero for a
 * positive (anomalous) row. Areas that are undefined (ROC AUC with one class
 * only, average precision without positives) are NaN, never 0 or 0.5, and
 * reports print them as "undefined".
 *
 * Definitions follow scikit-learn 1.2 so figures are comparable:
 *  - ROC AUC: trapezoidal area under (FPR, TPR); ties count one half.
 *  - Average precision (AP): sum over distinct thresholds of
 *    (R_k - R_{k-1}) * P_k, no interpolation (sklearn's
 *    average_precision_score). This is what we call "PR AUC".
 *  - PR AUC (trapezoidal): auc(recall, precision) over sklearn's
 *    precision_recall_curve points, (0, 1) included. Slightly optimistic;
 *    reported beside AP, labelled as such.
 *  - Macro-F1: unweighted mean of per-class F1 over the classes present in
 *    labels or predictions (sklearn's f1_score(average="macro")), 0 when a
 *    class has no predicted or no true rows.
 *  - Point-adjusted F1 (Xu et al. 2018): when any row of a contiguous
 *    anomalous segment is detected, the whole segment counts as detected.
 *    It inflates scores and is always labelled "point-adjusted".
 *
 *     double auc = vigil_eval_roc_auc(score, pos, n);   // NaN if one class
 */
#ifndef VIGIL_EVAL_H
#define VIGIL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/model.h"

/* ---- binary ranking metrics ---- */

/* ROC AUC, or NaN when pos holds a single class (or n = 0). */
double vigil_eval_roc_auc(const double *score, const int32_t *pos, size_t n);
/* Average precision (sklearn), or NaN without positives. */
double vigil_eval_average_precision(const double *score, const int32_t *pos, size_t n);
/* Trapezoidal area under the precision-recall curve, or NaN without positives. */
double vigil_eval_pr_auc_trapz(const double *score, const int32_t *pos, size_t n);

/* A curve: n points (x, y) and the threshold of each; arrays owned. */
struct vigil_curve {
    size_t n;
    double *x;   /* ROC: false positive rate; PR: recall */
    double *y;   /* ROC: true positive rate; PR: precision */
    double *thr; /* score threshold (ROC's first point: +inf) */
};

/*
 * ROC curve: (0,0) at threshold +inf, then one point per distinct score,
 * descending. Returns 0, -ENOMEM, VIGIL_EEMPTY (n = 0). Curves of single-class
 * inputs are returned (with NaN rates on the missing side).
 */
int vigil_eval_roc_curve(const double *score, const int32_t *pos, size_t n, struct vigil_curve *c);
/*
 * Precision-recall curve as sklearn draws it: one point per distinct score
 * up to full recall, in increasing recall, then (recall 0, precision 1) is
 * put first. Returns 0, -ENOMEM, VIGIL_EEMPTY.
 */
int vigil_eval_pr_curve(const double *score, const int32_t *pos, size_t n, struct vigil_curve *c);
void vigil_curve_fini(struct vigil_curve *c);

/* F1 with the counts behind it. */
struct vigil_f1 {
    double f1, precision, recall;
    double threshold; /* best_f1 only: the score threshold reached */
    size_t tp, fp, fn;
};

/* F1 of binary predictions pred (N, nonzero = anomaly). */
void vigil_eval_f1(const int32_t *pred, const int32_t *pos, size_t n, struct vigil_f1 *out);
/* Best F1 over all thresholds. Returns 0, -ENOMEM, VIGIL_EEMPTY. f1 is 0 without positives. */
int vigil_eval_best_f1(const double *score, const int32_t *pos, size_t n, struct vigil_f1 *out);
/* Best point-adjusted F1 over all thresholds (see above). Returns 0, -ENOMEM, VIGIL_EEMPTY. */
int vigil_eval_best_f1_pa(const double *score, const int32_t *pos, size_t n, struct vigil_f1 *out);
/* Point adjustment of predictions: out (N) may alias pred. */
void vigil_eval_point_adjust(const int32_t *pred, const int32_t *pos, size_t n, int32_t *out);

/* ---- distributions ---- */

/*
 * Quantile of the standard normal distribution at p in (0,1) (Acklam's
 * rational approximation refined by one Halley step: relative error below
 * 1e-12); -inf at 0, +inf at 1, NaN outside.
 */
double vigil_normal_quantile(double p);

/* ---- multi-class ---- */

/* Confusion matrix cm (C,C), rows = true class, columns = predicted; ids >= C are ignored. */
void vigil_eval_confusion(const int32_t *y, const int32_t *pred, size_t n, size_t c, size_t *cm);
/*
 * Macro-F1 from a confusion matrix; per_class (C) gets each class's F1 (NaN
 * for classes absent from both labels and predictions), may be NULL.
 */
double vigil_eval_macro_f1(const size_t *cm, size_t c, double *per_class);

/* One class against the rest. */
struct vigil_eval_class {
    size_t support;   /* true rows */
    size_t predicted; /* predicted rows */
    double precision, recall, f1;
    double roc_auc, ap; /* from the class's probability column; NaN when undefined */
};

/*
 * Everything `vigil eval` prints. Binary figures use anomaly = label != 0 and
 * the given anomaly score; per-class figures use the probability columns.
 */
struct vigil_eval_report {
    size_t n, c;        /* rows; classes (1 + largest id in labels, predictions, columns) */
    size_t n_pos;       /* anomalous rows */
    double roc_auc, ap, pr_auc_trapz;
    struct vigil_f1 best_f1;    /* best threshold on the anomaly score */
    struct vigil_f1 best_f1_pa; /* the same, point-adjusted */
    struct vigil_f1 pred_f1;    /* binary F1 of pred != 0, when pred was given */
    int has_pred;
    double accuracy, macro_f1; /* multi-class, when pred was given */
    size_t *cm;                   /* (C,C) owned, NULL without pred */
    struct vigil_eval_class *cls; /* (C) owned */
};

/*
 * Builds a report from labels y (N), an anomaly score (N), optional class
 * probabilities proba (N, n_proba) (column j = class j) and optional
 * predictions pred (N). Returns 0, -ENOMEM, VIGIL_EEMPTY, -EINVAL (negative ids).
 */
int vigil_eval_report_build(struct vigil_eval_report *r, const int32_t *y, size_t n,
                            const double *anomaly, const double *proba, size_t n_proba,
                            const int32_t *pred);
void vigil_eval_report_fini(struct vigil_eval_report *r);
/* Appends the report as text tables, or as one JSON object. Returns 0 or -ENOMEM. */
int vigil_eval_report_text(const struct vigil_eval_report *r, struct vigil_buf *out);
int vigil_eval_report_json(const struct vigil_eval_report *r, struct vigil_buf *out);

/* ---- cross-validation ---- */

/*
 * Stratified k-fold assignment, scikit-learn's StratifiedKFold: the rows of
 * each class are dealt to folds in contiguous runs (time blocks, no shuffle)
 * or in shuffled order (shuffle = 1, from seed), so that every fold holds
 * about 1/k of each class. fold (N) gets 0..k-1. Returns 0, -EINVAL (k < 2,
 * k > n, negative ids), -ENOMEM.
 */
int vigil_eval_kfold(const int32_t *y, size_t n, int k, int shuffle, uint64_t seed, int32_t *fold);

struct vigil_cv_stat {
    double mean, std; /* over folds where the figure is defined; std with ddof 0 (numpy's) */
    int folds;        /* folds that contributed */
};

struct vigil_cv_result {
    int k;
    size_t c;
    struct vigil_cv_stat roc_auc, ap, macro_f1; /* binary ROC AUC and AP, multi-class F1 */
    struct vigil_cv_stat *cls_roc_auc, *cls_ap; /* (C) owned */
};

/*
 * k-fold cross-validation of a supervised model: for each fold, trains a
 * fresh model (ops, params) on the other folds and scores the fold. x (N,F),
 * y (N) class ids. Returns 0, the model's errors, -EINVAL, -ENOMEM.
 */
int vigil_eval_cv(const struct vigil_model_ops *ops, const void *params, const float *x,
                  const int32_t *y, size_t n, size_t f, int k, int shuffle, uint64_t seed,
                  int threads, struct vigil_cv_result *out);
void vigil_cv_result_fini(struct vigil_cv_result *r);
/* Appends the CV table (mean +- std per figure and per class). */
int vigil_cv_result_text(const struct vigil_cv_result *r, struct vigil_buf *out);

#endif /* VIGIL_EVAL_H */
