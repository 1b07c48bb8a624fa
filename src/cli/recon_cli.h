/*
 * Private to the command-line tool: what `vigil explain` and `vigil
 * radiography` share. Loads a model file of a reconstruction model
 * (lstm-ae, pca, kmeans; one model or one per entity), reads and
 * preprocesses a data file with the model's own chain, and computes the
 * squared error of every feature at every row, with one flat list of
 * (entity, group) pairs across the bundle's parts.
 */
#ifndef VIGIL_CLI_RECON_H
#define VIGIL_CLI_RECON_H

#include <stddef.h>

#include "vigil/bundle.h"
#include "vigil/frame.h"

struct cli_recon_group {
    const char *entity; /* NULL for a single-model bundle; borrowed from the bundle */
    const char *name;   /* "cpu", ..., "all"; borrowed from the model */
    double thr;         /* T^g */
    size_t part;        /* index of the bundle part */
};

struct cli_recon {
    struct vigil_bundle b;
    struct vigil_frame raw;  /* the data file as read */
    struct vigil_frame feat; /* after the model's preprocessing */
    float *se;               /* (N,F) squared errors, NaN where not scored; owned */
    size_t n, f;
    struct cli_recon_group *g; /* (n_groups) owned */
    size_t n_groups;
    size_t *fgroup; /* (F) index into g of each feature; owned */
};

/*
 * Does all of the above, printing any error as "vigil: file:line: reason".
 * Returns CLI_OK, or CLI_FAIL after printing (r is then already released).
 */
int cli_recon_load(struct cli_recon *r, const char *model_path, const char *data_path);
void cli_recon_fini(struct cli_recon *r);

/* Name of feature j (borrowed). */
const char *cli_recon_feature(const struct cli_recon *r, size_t j);

/*
 * Parses a --from/--to time: epoch seconds (decimal) or an ISO 8601 UTC
 * date-time ("2024-05-01", "2024-05-01T10:00:00Z"). Returns 0 or -1.
 */
int cli_parse_time(const char *s, int64_t *ns);

/* First row with ts >= t (n when none). */
size_t cli_recon_row_at(const struct cli_recon *r, int64_t t);

#endif
