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

#endif /* VIGIL_MODEL_INTERNAL_H */
