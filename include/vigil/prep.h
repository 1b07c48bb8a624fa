/*
 * The preprocessing chain, one implementation shared by training and by live
 * scoring (netdata's ml_features): validate, counters to per-step increases
 * with reset detection, resample to a step (mean for gauges, sum for
 * increases) with gap filling up to N steps, drop constant and all-NaN series
 * (reported: a flat metric must never look anomalous), min-max scaling fitted
 * on training data and applied with clipping, optional temporal features
 * (lags, deltas, rolling mean/std over k steps), split by group, windows of T
 * steps.
 *
 * vigil_prep_fit learns the state from a training frame; vigil_prep_apply
 * turns any frame with the same series into model features. The state is
 * saved inside model files, so scoring uses exactly the training transform.
 */
#ifndef VIGIL_PREP_H
#define VIGIL_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/frame.h"
#include "vigil/opt.h"

struct vigil_prep_params {
    int64_t step;     /* resampling step in ns; 0 = keep rows as they are */
    int fill_max;     /* gaps up to this many steps are filled (last value), longer stay NaN */
    int scale;        /* 1 = min-max scaling to [0,1] fitted on training data */
    int temporal;     /* k > 0 adds lag, delta, rolling mean and std over k steps per series */
    int deltas;       /* 1 = counters become per-step increases (default) */
};

/* Option table for the params (flags of prep/train, keys of a "prep:" config section). */
extern const struct vigil_opt vigil_prep_opts[];

struct vigil_prep; /* opaque fitted state */

/*
 * Fits the chain on a training frame. Returns 0, -ENOMEM, VIGIL_EEMPTY (no
 * usable series left, diag says why). The caller frees *out with vigil_prep_free.
 */
int vigil_prep_fit(struct vigil_prep **out, const struct vigil_frame *train,
                   const struct vigil_prep_params *p, struct vigil_diag *diag);

/*
 * Applies a fitted chain to in, filling out (initialized, empty) with one
 * column per feature; row labels are carried over. Columns are matched by
 * series key; a missing one is VIGIL_ESHAPE naming it.
 */
int vigil_prep_apply(const struct vigil_prep *pp, const struct vigil_frame *in,
                     struct vigil_frame *out, struct vigil_diag *diag);

/* Features produced, their names (borrowed) and groups. */
size_t vigil_prep_n_features(const struct vigil_prep *pp);
const char *vigil_prep_feature_name(const struct vigil_prep *pp, size_t j);
int vigil_prep_feature_group(const struct vigil_prep *pp, size_t j);

/* Series dropped at fit time and why ("constant", "all NaN"), for reports. */
size_t vigil_prep_n_dropped(const struct vigil_prep *pp);
const char *vigil_prep_dropped(const struct vigil_prep *pp, size_t i, const char **why);

/* Serializes / restores the state (a section of model files). */
int vigil_prep_save(const struct vigil_prep *pp, struct vigil_buf *out);
int vigil_prep_load(struct vigil_prep **out, const void *p, size_t n, struct vigil_diag *diag);
void vigil_prep_free(struct vigil_prep *pp);

#endif /* VIGIL_PREP_H */
