/*
 * Private to src/detect: the fault classifier of the watch engine (a
 * supervised model file applied to an entity's current row when an event
 * opens). Loop thread only.
 */
#ifndef VIGIL_DETECT_INTERNAL_H
#define VIGIL_DETECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"
#include "vigil/series.h"

struct vigil__clf; /* opaque */

/*
 * Loads a model file written by `vigil train` with a supervised model.
 * classes: comma-separated names of the class ids 0, 1, ... (NULL or "" =
 * the ids). Returns 0; -ENOMEM; -errno (unreadable); VIGIL_EFORMAT or
 * VIGIL_ENOTSUP (diag says why); VIGIL_ECONFIG (not a supervised model).
 * Caller frees with vigil__clf_free.
 */
int vigil__clf_load(struct vigil__clf **out, const char *path, const char *classes,
                    struct vigil_diag *diag);

/*
 * Feeds the raw row of time ts (row[j] = series j of t), keeping the model
 * file's own preprocessing stream current. The stream starts once t holds
 * every series the model needs (retried when t grows). No allocation once
 * started.
 */
void vigil__clf_push(struct vigil__clf *c, int64_t ts, const struct vigil_series_table *t,
                     const float *row);

/*
 * Classifies the current row of entity ("host" for the host): writes
 * "class (p=0.93)" into out and returns 1, or returns 0 when the model does
 * not cover that entity or has no complete row yet.
 */
int vigil__clf_name(struct vigil__clf *c, const char *entity, char *out, size_t n);

/* 1 once the preprocessing stream runs (every series the model needs is present). */
int vigil__clf_ready(const struct vigil__clf *c);

void vigil__clf_free(struct vigil__clf *c);

#endif /* VIGIL_DETECT_INTERNAL_H */
