/*
 * Flow detection: one or more trained model files (bundles written by
 * `vigil train` on flow records) applied to batches of struct vigil_flow_rec.
 * The bundle's preprocessing is applied per record without building frames
 * (min-max scaling with its clip: the only steps a flow model can have, since
 * records are independent rows; a bundle that resamples, adds temporal
 * features or has one model per entity is refused), then each model scores
 * the batch:
 *
 *  - a classifier (mlp, rf) flags a flow when 1 - p_normal >= threshold and
 *    names the most likely attack class (class ids as enum vigil_threat_class);
 *  - an unsupervised model (kmeans, pca, lstm-ae on flows) flags a flow when
 *    its score ratio exceeds its own training threshold (score > 1); the
 *    class is VIGIL_THREAT_ANOMALY and the score 1 - 1/ratio.
 *
 * The first classifier that flags a flow decides its class; an anomaly is
 * reported only when no classifier flagged it. All scratch is allocated by
 * vigil_flowdet_new for `batch` records: scoring never allocates.
 *
 *     struct vigil_flowdet *fd;
 *     const char *models[] = {"mlp.vmdl", "kmeans.vmdl"};
 *     vigil_flowdet_new(&fd, models, 2, 0.5f, 1024, &diag);
 *     vigil_flowdet_score(fd, recs, n, cls, score);   // cls (N), score (N)
 *     vigil_flowdet_free(fd);
 */
#ifndef VIGIL_FLOWDET_H
#define VIGIL_FLOWDET_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"
#include "vigil/flow.h"
#include "vigil/nslkdd.h" /* enum vigil_threat_class, VIGIL_THREAT_ANOMALY */

#define VIGIL_FLOWDET_MAX_MODELS 4

struct vigil_flowdet; /* opaque */

/*
 * Loads n model files. threshold applies to classifiers (attack probability,
 * default 0.5). batch bounds the records per vigil_flowdet_score call chunk
 * (any n is accepted; it is scored batch records at a time). Returns 0;
 * -errno / VIGIL_EFORMAT from the files (diag names the file); VIGIL_ESHAPE
 * when a model needs a feature flow records lack or preprocesses in a way
 * flows cannot follow (diag says which); -EINVAL; -ENOMEM.
 */
int vigil_flowdet_new(struct vigil_flowdet **out, const char *const *paths, size_t n,
                      float threshold, size_t batch, struct vigil_diag *diag);

/*
 * Scores n records: cls (N) receives 0 (normal) or the class of a flagged
 * flow, score (N) its score in [0,1]. Returns 0 or a model's error.
 */
int vigil_flowdet_score(struct vigil_flowdet *fd, const struct vigil_flow_rec *recs, size_t n,
                        uint8_t *cls, float *score);

/* Model kind of model i ("mlp", "kmeans", ...), borrowed; NULL past the end. */
const char *vigil_flowdet_model_name(const struct vigil_flowdet *fd, size_t i);

void vigil_flowdet_free(struct vigil_flowdet *fd);

#endif /* VIGIL_FLOWDET_H */
