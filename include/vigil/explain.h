/*
 * Explanations of reconstruction-model anomalies (the ITC 2020 SYRROCA
 * approach). From the per-feature squared errors SE(i,t) of a model
 * (vigil_recon_errors):
 *
 *   p(i,t) = SE(i,t) / sum_i SE(i,t)    over the features i of one group
 *   F_t    = the smallest set of features, largest p first, whose p sum to
 *            at least `cover` (0.9)
 *
 * An anomalous segment of group g is a run of consecutive rows whose
 * intensity MSE^g(t) / T^g exceeds 1. A segment is explained by the distinct
 * feature sets F_t of its rows and the share of rows each set explains (the
 * paper's "57.4% of samples are characterized by ..."), and by each
 * feature's share of the segment's total squared error.
 *
 *     struct vigil_explain ex;
 *     vigil_explain_segments(&ex, se, n, f, fgroup, thr, n_groups, &opts);
 *     for each ex.seg[k]: ... ex.seg[k].sets[0].share ...
 *     vigil_explain_fini(&ex);
 *
 * Dimension letters: N rows, F features, G groups.
 */
#ifndef VIGIL_EXPLAIN_H
#define VIGIL_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

/*
 * F_t of one row: idx (N_COLS, caller's storage) receives the features of
 * cols ordered by decreasing SE (ties by index); returns k, the size of the
 * smallest prefix whose errors reach cover of the total. Returns 0 when the
 * total is 0 or not finite. se (F) is the row's errors; cols (N_COLS) the
 * feature indices of one group. Never allocates.
 */
size_t vigil_explain_top(uint32_t *idx, const float *se, const uint32_t *cols, size_t n_cols,
                         double cover);

/* A distinct feature set and the rows of its segment it explains. */
struct vigil_explain_set {
    uint32_t *feat; /* (n_feat) feature indices, largest error first; owned */
    size_t n_feat;
    size_t count;   /* rows whose F_t is this set (as a set: order ignored) */
    double share;   /* count / rows of the segment */
};

struct vigil_explain_seg {
    size_t group;   /* group index of the model */
    size_t start;   /* first row */
    size_t end;     /* last row (inclusive) */
    double peak;    /* largest intensity MSE^g / T^g */
    double mean;    /* mean intensity over the rows */
    struct vigil_explain_set *sets; /* (n_sets) by decreasing count; owned */
    size_t n_sets;
    size_t n_other; /* rows whose set was not kept (beyond VIGIL_EXPLAIN_MAX_SETS) */
    uint32_t *feat;    /* (n_feat) the group's features by decreasing error share; owned */
    double *feat_share; /* (n_feat) share of the segment's summed SE; owned */
    size_t n_feat;
};

#define VIGIL_EXPLAIN_MAX_SETS 256

struct vigil_explain {
    struct vigil_explain_seg *seg; /* (n_seg) by group, then start; owned */
    size_t n_seg;
};

struct vigil_explain_opts {
    double cover;    /* share of the error F_t must explain (0.9) */
    size_t from, to; /* rows [from, to) considered; to = 0 means n */
    size_t min_len;  /* segments shorter than this are dropped (1 keeps all) */
};

/*
 * Finds and explains the anomalous segments of every group in rows
 * [from, to) of se (N,F): fgroup (F) is each feature's group, thr (G) the
 * groups' thresholds T^g. Rows with NaN errors end a segment. Returns 0,
 * -ENOMEM, -EINVAL (bad opts or a group index >= G).
 */
int vigil_explain_segments(struct vigil_explain *ex, const float *se, size_t n, size_t f,
                           const size_t *fgroup, const double *thr, size_t n_groups,
                           const struct vigil_explain_opts *opts);

void vigil_explain_fini(struct vigil_explain *ex);

#endif /* VIGIL_EXPLAIN_H */
