/*
 * The supervised Random Forest (Breiman 2001; CART trees with bootstrap and a
 * random feature subset per node), as used by Sauvanaud et al. (DSN 2016) to
 * detect and classify faults of virtual network functions from hypervisor
 * metrics. It is registered as model "rf" (see model.h) and driven through
 * the generic model interface; this header only adds what is specific to
 * forests: the params struct, feature importances and permutation importance.
 *
 *     const struct vigil_model_ops *ops = vigil_model_find("rf");
 *     struct vigil_rf_params p;
 *     vigil_opt_defaults(ops->opts, &p);     // 10 trees, Gini, sqrt features
 *     p.trees = 100;
 *     struct vigil_model m;
 *     vigil_model_init(&m, ops, &p);
 *     vigil_opt_free(ops->opts, &p);
 *     m.ops->fit(&m, &batch);                 // batch.y class ids, 0 = normal
 *     m.ops->score(&m, x, n, proba);          // proba (N, n_classes)
 *
 * Dimension letters: N rows, F features, C classes, K trees.
 */
#ifndef VIGIL_RF_H
#define VIGIL_RF_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/model.h"

enum vigil_rf_criterion {
    VIGIL_RF_GINI = 0,
    VIGIL_RF_ENTROPY = 1,
};

enum vigil_rf_class_weight {
    VIGIL_RF_CW_NONE = 0,
    VIGIL_RF_CW_BALANCED = 1, /* n / (C_present * count_c), from the whole training set */
};

/* Options of model "rf" (vigil help rf). Filled by vigil_opt_defaults(ops->opts, &p). */
struct vigil_rf_params {
    int trees;             /* K, default 10 */
    int criterion;         /* enum vigil_rf_criterion */
    int max_depth;         /* 0 = grow until pure or min_samples_* stop it */
    int min_samples_split; /* default 2 */
    int min_samples_leaf;  /* default 1 (distinct samples, as sklearn counts them) */
    char *max_features;    /* "sqrt" (default), "log2", "all", an integer or a fraction in (0,1];
                              owned, freed by vigil_opt_free */
    int bootstrap;         /* 1 (default): each tree sees N rows drawn with replacement */
    int class_weight;      /* enum vigil_rf_class_weight */
    int bins;              /* 2..256: histogram splits on large nodes; 0 = exact splits only */
    int seed;              /* tree k draws from vigil_rng_split(seed, k) */
    int threads;           /* 0 = use batch->threads; else worker threads for fit */
};

/*
 * Mean decrease in impurity per feature, normalized to sum 1 (sklearn's
 * feature_importances_): *imp borrowed until the model is refitted or
 * released, (F) values. Returns 0, -EINVAL when m is not a fitted forest.
 */
int vigil_rf_importances(const struct vigil_model *m, const double **imp, size_t *f);

enum vigil_rf_pi_metric {
    VIGIL_RF_PI_ACCURACY = 0, /* multi-class accuracy */
    VIGIL_RF_PI_AP = 1,       /* binary average precision, anomaly = class != 0, score 1 - p_0 */
};

/*
 * Permutation importance (Breiman 2001, sklearn's permutation_importance):
 * for each feature, the drop of the metric on (x, y) when that column is
 * shuffled, over `repeats` shuffles drawn from seed. mean and std are (F)
 * arrays the caller owns. x (N,F) is not modified (a copy is shuffled).
 * Returns 0, -ENOMEM, -EINVAL (not a fitted forest, n < 2, repeats < 1).
 */
int vigil_rf_permutation_importance(struct vigil_model *m, const float *x, const int32_t *y,
                                    size_t n, enum vigil_rf_pi_metric metric, int repeats,
                                    uint64_t seed, double *mean, double *std);

/* Number of trees, total nodes and maximum depth of a fitted forest (reports, benchmarks). */
int vigil_rf_shape(const struct vigil_model *m, size_t *trees, size_t *nodes, size_t *depth);

#endif /* VIGIL_RF_H */
