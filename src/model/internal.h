/*
 * Private to src/model: the ops tables each model file defines, listed in
 * registry.c.
 */
#ifndef VIGIL_MODEL_INTERNAL_H
#define VIGIL_MODEL_INTERNAL_H

#include "vigil/model.h"

extern const struct vigil_model_ops vigil_rf_ops;
extern const struct vigil_model_ops vigil_lstm_ae_ops;
extern const struct vigil_model_ops vigil_pca_ops;
extern const struct vigil_model_ops vigil_kmeans_ops;
extern const struct vigil_model_ops vigil_mlp_ops;

/*
 * Random Forest batch scoring with a chosen tree walk and thread count, for
 * tests and benchmarks that check the fast walk against the reference: walk
 * 0 = the default (top heap, then level passes, as ops->score; with AVX-512
 * gathers when vigil__rf_walk_simd() says so), 1 = 8 lanes with slot refill,
 * 2 = one row at a time (the reference), 3 = walk 0 in scalar code. threads
 * <= 1: the calling thread only. Same contract as ops->score.
 */
int vigil__rf_score_walk(struct vigil_model *m, const float *x, size_t n, float *out, int walk,
                         int threads);

/* 1 when this build and CPU run walk 0 with AVX-512 gathers (x86-64 with AVX-512F). */
int vigil__rf_walk_simd(void);

#endif /* VIGIL_MODEL_INTERNAL_H */
