/*
 * Private to src/eval: the threshold sweep every ranking metric is built on.
 */
#ifndef VIGIL_EVAL_INTERNAL_H
#define VIGIL_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/eval.h"

/*
 * Rows sorted by descending score and grouped by distinct score: at the k-th
 * distinct threshold thr[k], tp[k] and fp[k] are the positive and negative
 * weights scoring >= thr[k]. p and neg are the totals.
 */
struct vigil__sweep {
    size_t m;
    double *thr; /* (3m) one block: thr, then tp, then fp; owned */
    double *tp;
    double *fp;
    double p, neg;
};

/* weight (N) may be NULL (all 1). Returns 0, -ENOMEM, VIGIL_EEMPTY. */
int vigil__sweep_build(const double *score, const int32_t *pos, const double *weight, size_t n,
                       struct vigil__sweep *s);
void vigil__sweep_fini(struct vigil__sweep *s);
/* Average precision of a sweep, NaN without positives. */
double vigil__sweep_ap(const struct vigil__sweep *s);

#endif /* VIGIL_EVAL_INTERNAL_H */
