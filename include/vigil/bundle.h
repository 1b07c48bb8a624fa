/*
 * A trained detector as one file: the fitted preprocessing chain plus one
 * model, or one model per entity (VM, container, host) as Sauvanaud et al.
 * train one classifier per VM. `vigil train` writes bundles, `vigil score`
 * and the watch service read them. Any registered model works; nothing here
 * knows about forests or autoencoders.
 *
 * Sections of the model file container (docs/formats.md):
 *   "prep"            the chain's state (vigil_prep_save)
 *   "layout"          which feature columns each model reads
 *   "model" or "model:<entity>"   each model's own bytes (ops->save)
 *   "options"         the training options as text, for people (not read back)
 * The container's kind is the model name ("rf", "lstm-ae", ...).
 *
 * Output columns of vigil_bundle_score, per row:
 *  - one model: the model's own columns (out_name), and for a supervised
 *    model a last column "pred" = the class of highest probability;
 *  - per entity, supervised: p_<c> of the most anomalous entity (lowest
 *    p_0), "pred", then "anomaly@<entity>" = 1 - p_0 of each entity;
 *  - per entity, unsupervised: "score" = the largest first column over the
 *    entities, then every model column as "<name>@<entity>".
 *
 *     struct vigil_bundle b;
 *     vigil_bundle_load(&b, "rf.vmdl", &diag);
 *     vigil_prep_apply(b.prep, &raw, &feat, &diag);
 *     float *out = vigil_mallocarray(feat.n * b.n_out, sizeof *out);
 *     vigil_bundle_score(&b, feat.x, feat.n, feat.f, out);
 *     vigil_bundle_fini(&b);
 */
#ifndef VIGIL_BUNDLE_H
#define VIGIL_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"
#include "vigil/frame.h"
#include "vigil/model.h"
#include "vigil/prep.h"

/* Name of the host's part in per-entity bundles (series without an entity). */
#define VIGIL_BUNDLE_HOST "host"

struct vigil_bundle_part {
    char *entity;   /* NULL in a single-model bundle; owned */
    uint32_t *cols; /* (n_cols) feature columns read, increasing; owned */
    size_t n_cols;
    size_t rows;    /* training rows (0 after load) */
    struct vigil_model m;
};

struct vigil_bundle {
    const struct vigil_model_ops *ops; /* borrowed from the registry */
    struct vigil_prep *prep;           /* owned */
    struct vigil_bundle_part *part;    /* (n_part) owned */
    size_t n_part;
    int per_entity;
    size_t n_out;     /* output columns of vigil_bundle_score */
    char **out_names; /* (n_out) owned */
    float *scratch;   /* owned: gathered columns and part outputs for score */
    size_t scratch_rows;
    char *options;    /* training options as text; owned, may be NULL */
};

struct vigil_bundle_train_opts {
    const struct vigil_model_ops *ops;
    const void *params;                     /* the model's params, copied by init */
    const struct vigil_prep_params *prep;   /* NULL = defaults */
    int per_entity;                         /* 1: one model per entity of the features */
    int threads;                            /* batch->threads */
    int progress;                           /* batch->progress (a terminal wants a progress line) */
    const char *options_text;               /* stored in "options" (may be NULL) */
};

/*
 * Fits the chain on fr (groups already applied; fr->y set for supervised
 * models), applies it, and fits the model(s). An unsupervised model given
 * labels with prep->normal_only learns from the rows labelled 0 alone: the
 * chain runs over every row (counter increases and windows stay per step),
 * its scaling ranges come from the rows labelled 0, and the other rows are
 * NaN in the training features (left out of fit and thresholds), also in
 * *features when asked for. When features is not NULL it
 * receives the training features (initialized, empty frame; caller finis).
 * Returns 0; -ENOMEM; VIGIL_EEMPTY (no usable series, diag says why);
 * -EINVAL (a supervised model without labels); the model's errors.
 */
int vigil_bundle_train(struct vigil_bundle *b, const struct vigil_bundle_train_opts *o,
                       const struct vigil_frame *fr, struct vigil_frame *features,
                       struct vigil_diag *diag);

/* Writes the bundle to path (atomically). Returns 0, -ENOMEM, -errno. */
int vigil_bundle_save(const struct vigil_bundle *b, const char *path);

/*
 * Reads a bundle. -errno when unreadable; VIGIL_EFORMAT with diag naming the
 * container problem or the section that is corrupt; VIGIL_ENOTSUP when the
 * model kind is not built into this vigil.
 */
int vigil_bundle_load(struct vigil_bundle *b, const char *path, struct vigil_diag *diag);
/* The same from bytes (takes ownership of blob, from vigil_malloc). */
int vigil_bundle_decode(struct vigil_bundle *b, void *blob, size_t n, struct vigil_diag *diag);

/*
 * Scores n feature rows x (N,F) as produced by vigil_prep_apply with this
 * bundle's chain: out (N, n_out). Returns 0, -ENOMEM (scratch grows with n),
 * VIGIL_ESHAPE (f is not the chain's feature count), the model's errors.
 */
int vigil_bundle_score(struct vigil_bundle *b, const float *x, size_t n, size_t f, float *out);

void vigil_bundle_fini(struct vigil_bundle *b);

#endif /* VIGIL_BUNDLE_H */
