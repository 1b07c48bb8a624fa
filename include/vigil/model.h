/*
 * The model interface shared by every detector (random forest, MLP, LSTM
 * autoencoder, PCA, k-means): a const ops table plus a private context, in
 * fluent-bit's and ggml's style. The watch service, the campaigns and the CLI
 * (train, score, eval) drive all models through it, so a new model is one
 * file and one line in src/model/registry.c.
 *
 * Inputs are already preprocessed and scaled rows (see prep.h); a model never
 * sees raw counters. Row order is time order, so sequence models may use the
 * rows before row i as context.
 *
 *     const struct vigil_model_ops *ops = vigil_model_find("rf");
 *     void *params = vigil_calloc(1, ops->params_size);
 *     vigil_opt_defaults(ops->opts, params);
 *     struct vigil_model m;
 *     vigil_model_init(&m, ops, params);
 *     m.ops->fit(&m, &batch);
 *     m.ops->score(&m, x, n, out);   // out (N, n_out)
 *     vigil_model_fini(&m);
 */
#ifndef VIGIL_MODEL_H
#define VIGIL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/opt.h"

#define VIGIL_MODEL_ABI 1

/* Training data. Everything is borrowed for the duration of fit. */
struct vigil_batch {
    const float *x;          /* (N,F) row-major, time order */
    size_t n;                /* rows */
    size_t f;                /* features */
    const int32_t *y;        /* (N) class ids, 0 = normal; NULL for unsupervised models */
    size_t n_classes;        /* 1 + largest class id when y is set */
    const uint8_t *group;    /* (F) enum vigil_group per feature, or NULL */
    const char *const *names; /* (F) feature names, or NULL */
    int threads;             /* worker threads the model may use (>= 1) */
    int progress;            /* 1: the model may print a progress line to stderr */
};

struct vigil_model;

struct vigil_model_ops {
    int abi;                       /* VIGIL_MODEL_ABI, checked by vigil_model_init */
    const char *name;              /* "rf", "mlp", "lstm-ae", "pca", "kmeans" */
    const char *summary;           /* one line for `vigil help models` */
    const struct vigil_opt *opts;  /* option table for params */
    size_t params_size;            /* bytes of the params struct */
    int supervised;                /* 1 when fit needs batch->y */

    /* Validates params like libsvm's svm_check_parameter: NULL or a static message. */
    const char *(*check)(const void *params);
    /* Creates the context from params (copied). Returns 0, -ENOMEM. */
    int (*init)(struct vigil_model *m, const void *params);
    /* Trains on a batch. Returns 0, -ENOMEM, VIGIL_ESHAPE, VIGIL_EEMPTY. */
    int (*fit)(struct vigil_model *m, const struct vigil_batch *train);
    /* Number of score columns per row (classes for a classifier, groups + 1 for the AE). */
    size_t (*n_out)(const struct vigil_model *m);
    /* Name of score column j ("p_0", "score_cpu"); borrowed, static or owned by the model. */
    const char *(*out_name)(const struct vigil_model *m, size_t j);
    /*
     * Scores n rows of x (N,F): out (N, n_out). Rows a sequence model cannot
     * score yet (before its first full window) get NaN. Must not allocate
     * after the first call with the same n (scratch is kept in the context).
     */
    int (*score)(struct vigil_model *m, const float *x, size_t n, float *out);
    /* Online update with new normal rows (optional). */
    int (*update)(struct vigil_model *m, const float *x, size_t n);
    /* Serializes the trained model (without the file container). */
    int (*save)(const struct vigil_model *m, struct vigil_buf *out);
    /* Restores a model saved by save; VIGIL_EFORMAT on bad bytes, never a crash. */
    int (*load)(struct vigil_model *m, const void *p, size_t n);
    /* Releases the context. */
    void (*fini)(struct vigil_model *m);
};

struct vigil_model {
    const struct vigil_model_ops *ops;
    void *ctx;  /* owned by the model */
    size_t f;   /* features the model was trained on (0 before fit/load) */
};

/* Finds a registered model by name, or NULL. */
const struct vigil_model_ops *vigil_model_find(const char *name);
/* Registered models in table order, NULL-terminated. */
const struct vigil_model_ops *const *vigil_model_list(void);

/* Checks abi and params, then calls ops->init. Returns 0, -EINVAL, VIGIL_ECONFIG. */
int vigil_model_init(struct vigil_model *m, const struct vigil_model_ops *ops, const void *params);
/* Calls ops->fini; safe on a zeroed model. */
void vigil_model_fini(struct vigil_model *m);

/* ---- model files ----
 *
 * A model file is a container of named sections (the model's own bytes, the
 * preprocessing state, per-entity submodels):
 *
 *   "VIGILMDL" | u32 version | str kind | u32 n_sections |
 *   n x (str name | u64 len | bytes) | u32 crc32 of everything before
 *
 * Integers little-endian, strings u32-length-prefixed. See docs/formats.md.
 */

#define VIGIL_MFILE_VERSION 1
#define VIGIL_MFILE_MAX_SECTIONS 256

struct vigil_section {
    const char *name; /* borrowed when writing; owned by the mfile when read */
    const void *p;
    size_t n;
};

struct vigil_mfile {
    char *kind; /* owned */
    struct vigil_section sec[VIGIL_MFILE_MAX_SECTIONS];
    size_t n_sec;
    void *blob; /* owned: the whole file; sections point into it */
};

/* Encodes a container into out. Returns 0, -ENOMEM or -EINVAL (too many sections). */
int vigil_mfile_encode(struct vigil_buf *out, const char *kind, const struct vigil_section *sec,
                       size_t n_sec);
/* Writes a container to path atomically (temp file + rename). Returns 0 or -errno. */
int vigil_mfile_save(const char *path, const char *kind, const struct vigil_section *sec,
                     size_t n_sec);
/*
 * Decodes bytes (takes ownership of blob, which must come from vigil_malloc).
 * VIGIL_EFORMAT with diag->msg naming what is wrong (magic, version, section,
 * truncation, checksum).
 */
int vigil_mfile_decode(struct vigil_mfile *mf, void *blob, size_t n, struct vigil_diag *diag);
/* Reads and decodes path. -errno when unreadable. */
int vigil_mfile_load(struct vigil_mfile *mf, const char *path, struct vigil_diag *diag);
/* Returns the named section or NULL. */
const struct vigil_section *vigil_mfile_find(const struct vigil_mfile *mf, const char *name);
void vigil_mfile_fini(struct vigil_mfile *mf);

#endif /* VIGIL_MODEL_H */
