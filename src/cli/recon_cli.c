/*
 * Shared by `vigil explain` and `vigil radiography` (recon_cli.h): model
 * file + data file -> per-feature squared errors, groups and thresholds.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "recon_cli.h"
#include "vigil/mem.h"
#include "vigil/prep.h"
#include "vigil/reader.h"
#include "vigil/recon.h"

void cli_recon_fini(struct cli_recon *r)
{
    vigil_bundle_fini(&r->b);
    vigil_frame_fini(&r->raw);
    vigil_frame_fini(&r->feat);
    vigil_free(r->se);
    vigil_free(r->g);
    vigil_free(r->fgroup);
    memset(r, 0, sizeof *r);
}

const char *cli_recon_feature(const struct cli_recon *r, size_t j)
{
    const char *s = vigil_prep_feature_name(r->b.prep, j);
    return s ? s : "?";
}

/* Errors of one part into r->se, its groups appended to r->g. */
static int part_errors(struct cli_recon *r, size_t pi)
{
    struct vigil_bundle_part *p = &r->b.part[pi];
    size_t n = r->n, nc = p->n_cols;
    float *xg = vigil_mallocarray(n * nc + 1, sizeof *xg);
    float *sg = vigil_mallocarray(n * nc + 1, sizeof *sg);
    int rc = -ENOMEM;
    if (!xg || !sg) {
        goto out;
    }
    for (size_t t = 0; t < n; t++) {
        const float *row = vigil_frame_row(&r->feat, t);
        for (size_t j = 0; j < nc; j++) {
            xg[t * nc + j] = row[p->cols[j]];
        }
    }
    rc = vigil_recon_errors(&p->m, xg, n, sg);
    if (rc) {
        goto out;
    }
    size_t base = r->n_groups, ng = vigil_recon_n_groups(&p->m);
    void *grown = vigil_realloc(r->g, (base + ng) * sizeof *r->g);
    if (!grown) {
        rc = -ENOMEM;
        goto out;
    }
    r->g = grown;
    for (size_t g = 0; g < ng; g++) {
        r->g[base + g] = (struct cli_recon_group){p->entity, vigil_recon_group_name(&p->m, g),
                                                  vigil_recon_threshold(&p->m, g), pi};
    }
    r->n_groups = base + ng;
    for (size_t j = 0; j < nc; j++) {
        r->fgroup[p->cols[j]] = base + vigil_recon_feature_group(&p->m, j);
        for (size_t t = 0; t < n; t++) {
            r->se[t * r->f + p->cols[j]] = sg[t * nc + j];
        }
    }
out:
    vigil_free(xg);
    vigil_free(sg);
    return rc;
}

int cli_recon_load(struct cli_recon *r, const char *model_path, const char *data_path)
{
    struct vigil_diag d;
    memset(r, 0, sizeof *r);
    vigil_frame_init(&r->raw);
    vigil_frame_init(&r->feat);
    vigil_diag_clear(&d);
    int e = vigil_bundle_load(&r->b, model_path, &d);
    if (e) {
        return cli_fail_diag(model_path, &d, e);
    }
    if (r->b.n_part == 0 || !vigil_recon_is(&r->b.part[0].m)) {
        cli_fail("%s: a %s model has no reconstruction errors; use lstm-ae, pca or kmeans",
                 model_path, r->b.ops->name);
        goto fail;
    }
    e = vigil_frame_read(&r->raw, data_path, NULL, NULL, &d);
    if (e) {
        cli_fail_diag(data_path, &d, e);
        goto fail;
    }
    e = vigil_prep_apply(r->b.prep, &r->raw, &r->feat, &d);
    if (e) {
        if (e == VIGIL_ESHAPE) {
            cli_fail("%s: %s (the model %s was trained on %zu series)", data_path, d.msg,
                     model_path, vigil_prep_n_series(r->b.prep));
        } else {
            cli_fail_diag(data_path, &d, e);
        }
        goto fail;
    }
    r->n = r->feat.n;
    r->f = r->feat.f;
    r->se = vigil_mallocarray(r->n * r->f + 1, sizeof *r->se);
    r->fgroup = vigil_calloc(r->f ? r->f : 1, sizeof *r->fgroup);
    if (!r->se || !r->fgroup) {
        cli_fail("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < r->n * r->f; i++) {
        r->se[i] = NAN;
    }
    for (size_t pi = 0; pi < r->b.n_part; pi++) {
        e = part_errors(r, pi);
        if (e) {
            cli_fail("%s: scoring failed: %s", model_path, vigil_strerror(e));
            goto fail;
        }
    }
    return CLI_OK;
fail:
    cli_recon_fini(r);
    return CLI_FAIL;
}

int cli_parse_time(const char *s, int64_t *ns)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && isfinite(v) && fabs(v) < 9.2e9) {
        *ns = (int64_t)llround(v * 1e9);
        return 0;
    }
    static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                       "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *rest = strptime(s, fmts[i], &tm);
        if (rest && (*rest == '\0' || (rest[0] == 'Z' && rest[1] == '\0'))) {
            *ns = (int64_t)timegm(&tm) * 1000000000;
            return 0;
        }
    }
    return -1;
}

size_t cli_recon_row_at(const struct cli_recon *r, int64_t t)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) { /* timestamps are non-decreasing */
        size_t mid = lo + (hi - lo) / 2;
        if (r->feat.ts[mid] < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}
