/*
 * The model registry: one static table, read top to bottom like netdata's
 * proc_modules[]. A new model adds its ops here and nowhere else.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

static const struct vigil_model_ops *const models[] = {
    &vigil_rf_ops,
    &vigil_lstm_ae_ops,
    &vigil_pca_ops,
    &vigil_kmeans_ops,
    &vigil_mlp_ops,
    NULL,
};

const struct vigil_model_ops *const *vigil_model_list(void)
{
    return models;
}

const struct vigil_model_ops *vigil_model_find(const char *name)
{
    for (size_t i = 0; models[i]; i++) {
        if (strcmp(models[i]->name, name) == 0) {
            return models[i];
        }
    }
    return NULL;
}
