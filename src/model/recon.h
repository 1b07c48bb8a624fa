/*
 * Private to src/model: the per-group wrapper shared by the reconstruction
 * models (recon.c) and the small interface each method implements on one
 * group's columns (lstm_ae.c, pca.c, kmeans.c). The wrapper splits the
 * features by group, fits one submodel per group, sets the thresholds from
 * the training errors, and turns per-feature squared errors into the score
 * columns described in include/vigil/recon.h.
 */
#ifndef VIGIL_MODEL_RECON_H
#define VIGIL_MODEL_RECON_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/model.h"
#include "vigil/opt.h"
#include "vigil/series.h"

/* Options every reconstruction model has; the first member of its params. */
struct vigil__recon_params {
    double quantile; /* threshold quantile of the training MSE, default 0.99 */
    int smooth;      /* errors averaged over this many rows (1 = none) */
    int normalize;   /* 1: each feature's error divided by its mean training error */
};

/* The option-table rows of the common part, for a params struct that starts with it. */
#define VIGIL__RECON_OPTS                                                                          \
    {"quantile", VIGIL_OPT_DOUBLE, offsetof(struct vigil__recon_params, quantile), "0.99", 0.5,   \
     1.0, "threshold = this quantile of the training reconstruction MSE, per group", NULL},       \
        {"smooth", VIGIL_OPT_INT, offsetof(struct vigil__recon_params, smooth), "1", 1, 100000,    \
         "average each feature's error over this many rows (a moving average; 1 = off)", NULL},   \
        {"normalize", VIGIL_OPT_BOOL, offsetof(struct vigil__recon_params, normalize), "false",   \
         0, 0, "divide each feature's error by its mean error on the training rows", NULL}

/* Checks the common part: NULL or a static message. */
const char *vigil__recon_check(const void *params);

/* What fit gets besides the data. */
struct vigil__recon_env {
    int threads;       /* >= 1 */
    int progress;      /* 1: print a progress line to stderr */
    const char *group; /* group name, for the progress line */
};

/* One reconstruction method, working on the (N,Fg) columns of one group. */
struct vigil__recon_kind {
    /* Rows before the first score, from params (window - 1 for sequence models). */
    size_t (*lag)(const void *params);
    /* Fits a submodel on x (N,Fg) and returns it in *sub. 0, -ENOMEM, VIGIL_EEMPTY. */
    int (*fit)(void **sub, const void *params, const float *x, size_t n, size_t f,
               const struct vigil__recon_env *env);
    /*
     * Squared errors se (N,Fg) of x (N,Fg); NaN for rows that cannot be scored.
     * Keeps its scratch in the submodel. 0 or -ENOMEM.
     */
    int (*se)(void *sub, const float *x, size_t n, size_t f, float *se);
    /* Appends the submodel's bytes. */
    int (*save)(const void *sub, struct vigil_buf *out);
    /* Restores from exactly n bytes; VIGIL_EFORMAT on bad bytes. f is the group's width. */
    int (*load)(void **sub, const void *params, const void *p, size_t n, size_t f);
    /* Releases a submodel; NULL is a no-op. */
    void (*free)(void *sub);
};

/* The generic ops callbacks every reconstruction model's ops table points to. */
int vigil__recon_init(struct vigil_model *m, const void *params);
int vigil__recon_fit(struct vigil_model *m, const struct vigil_batch *train);
size_t vigil__recon_n_out(const struct vigil_model *m);
const char *vigil__recon_out_name(const struct vigil_model *m, size_t j);
int vigil__recon_score(struct vigil_model *m, const float *x, size_t n, float *out);
int vigil__recon_save(const struct vigil_model *m, struct vigil_buf *out);
int vigil__recon_load(struct vigil_model *m, const void *p, size_t n);
void vigil__recon_fini(struct vigil_model *m);

/*
 * The ops table of a reconstruction model: its name, summary, option table,
 * params struct type and check; every callback is the generic one above.
 */
#define VIGIL__RECON_OPS(name_, summary_, opts_, params_t, check_)                                 \
    {                                                                                              \
        .abi = VIGIL_MODEL_ABI, .name = (name_), .summary = (summary_), .opts = (opts_),           \
        .params_size = sizeof(params_t), .supervised = 0, .check = (check_),                       \
        .init = vigil__recon_init, .fit = vigil__recon_fit, .n_out = vigil__recon_n_out,           \
        .out_name = vigil__recon_out_name, .score = vigil__recon_score, .update = NULL,            \
        .save = vigil__recon_save, .load = vigil__recon_load, .fini = vigil__recon_fini,           \
    }

/* For a submodel's save: appends x (N) as f32. 0 or -ENOMEM. */
int vigil__recon_put_floats(struct vigil_buf *out, const float *x, size_t n);
/*
 * For a submodel's load: reads x (N) as f32 from rd, whose length the caller
 * has checked. 0, or VIGIL_EFORMAT when one is missing or not finite.
 */
int vigil__recon_rd_floats(struct vigil_rd *rd, float *x, size_t n);

/*
 * The method behind an ops table (lstm_ae.c, pca.c, kmeans.c each define
 * their ops and kind; recon.c maps one to the other).
 */
const struct vigil__recon_kind *vigil__recon_kind_of(const struct vigil_model_ops *ops);

extern const struct vigil__recon_kind vigil__lstm_ae_kind;
extern const struct vigil__recon_kind vigil__pca_kind;
extern const struct vigil__recon_kind vigil__kmeans_kind;

/* q-quantile (linear interpolation, numpy's default) of the finite values of v (N), sorted in place. */
double vigil__quantile(double *v, size_t n, double q);

#endif /* VIGIL_MODEL_RECON_H */
