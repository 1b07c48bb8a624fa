/*
 * Reconstruction models: the LSTM autoencoder ("lstm-ae"), PCA ("pca") and
 * k-means ("kmeans"). All three are unsupervised, trained on nominal data
 * only, with one submodel per metric group (cpu, memory, network,
 * filesystem, other, from the batch's group array; one "all" model when the
 * batch has no groups), and share one score convention (the ITC 2020
 * SYRROCA paper):
 *
 *     SE(i,t)   squared reconstruction error of feature i at row t
 *     MSE^g(t)  mean of SE(i,t) over the features of group g
 *     T^g       the `quantile` (default 0.99) of MSE^g over the training rows
 *
 * Score columns (the model's n_out / out_name), the `vigil score` header:
 *
 *     score,threshold,anomaly,score_<g1>,threshold_<g1>,score_<g2>,...
 *
 * "score" = max over groups of MSE^g(t) / T^g, a RATIO (this model family's
 * score is not in [0,1]); "threshold" = 1, the ratio threshold; "anomaly" =
 * 1 when score > 1, else 0; then per group g "score_<g>" = MSE^g(t) (raw, in
 * squared scaled units) and "threshold_<g>" = T^g. A sequence model cannot
 * score the first window - 1 rows: every column is NaN there.
 *
 * This header adds what explanations and radiographies need beyond the
 * generic model interface: the per-feature squared errors, the groups and
 * their thresholds.
 */
#ifndef VIGIL_RECON_H
#define VIGIL_RECON_H

#include <stddef.h>

#include "vigil/model.h"

/* 1 when m is a trained (or loaded) reconstruction model, else 0. */
int vigil_recon_is(const struct vigil_model *m);

/* Groups the model has (1..VIGIL_GROUP_COUNT). */
size_t vigil_recon_n_groups(const struct vigil_model *m);

/* Name of group g ("cpu", ..., or "all"); borrowed from the model. */
const char *vigil_recon_group_name(const struct vigil_model *m, size_t g);

/* Threshold T^g of group g. */
double vigil_recon_threshold(const struct vigil_model *m, size_t g);

/* Group index (0..n_groups-1) of feature j. */
size_t vigil_recon_feature_group(const struct vigil_model *m, size_t j);

/* Rows before the first score (window - 1 for the autoencoder, 0 otherwise). */
size_t vigil_recon_lag(const struct vigil_model *m);

/*
 * Squared errors of n rows x (N,F): se (N,F), NaN for rows that cannot be
 * scored (before the first full window, or a window holding NaN). Uses the
 * model's scratch (not thread-safe on one model). Returns 0, -ENOMEM,
 * -EINVAL when m is not a trained reconstruction model.
 */
int vigil_recon_errors(struct vigil_model *m, const float *x, size_t n, float *se);

#endif /* VIGIL_RECON_H */
