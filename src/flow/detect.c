/*
 * Flow detection over bundles: maps each bundle's kept series to record
 * features by name once at load, scales records into a preallocated matrix
 * exactly as the prep chain's rule 5 does (min-max, then the clip), scores in
 * chunks, and turns model outputs into (class, score) per flow. Refuses the
 * bundles whose preprocessing needs time order (resampling, temporal
 * features) or per-entity models, rather than scoring them wrongly.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "vigil/bundle.h"
#include "vigil/flowdet.h"
#include "vigil/mem.h"
#include "vigil/nslkdd.h"

struct fmodel {
    struct vigil_bundle b;
    size_t f;        /* features the bundle's chain produces */
    uint32_t *src;   /* (f) record feature index of each */
    double *lo, *hi; /* (f) fitted range */
    double *inv;     /* (f) 1 / (hi - lo) */
    double clip;
    int scale;
    int supervised;
    size_t k_cls;     /* supervised: class columns p_0 .. p_{K-1} */
    size_t score_col; /* unsupervised: the "score" column */
    float *x;         /* (batch, f) */
    float *out;       /* (batch, n_out) */
};

struct vigil_flowdet {
    struct fmodel m[VIGIL_FLOWDET_MAX_MODELS];
    size_t n;
    float threshold;
    size_t batch;
};

const char *vigil_flowdet_model_name(const struct vigil_flowdet *fd, size_t i)
{
    return i < fd->n ? fd->m[i].b.ops->name : NULL;
}

static void fmodel_fini(struct fmodel *m)
{
    vigil_bundle_fini(&m->b);
    vigil_free(m->src);
    vigil_free(m->lo);
    vigil_free(m->hi);
    vigil_free(m->inv);
    vigil_free(m->x);
    vigil_free(m->out);
    memset(m, 0, sizeof *m);
}

void vigil_flowdet_free(struct vigil_flowdet *fd)
{
    if (!fd) {
        return;
    }
    for (size_t i = 0; i < fd->n; i++) {
        fmodel_fini(&fd->m[i]);
    }
    vigil_free(fd);
}

static int feature_index(const char *key)
{
    for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
        if (strcmp(key, vigil_flow_feature_name(j)) == 0) {
            return (int)j;
        }
    }
    return -1;
}

static int fmodel_load(struct fmodel *m, const char *path, size_t batch, struct vigil_diag *diag)
{
    int rc = vigil_bundle_load(&m->b, path, diag);
    if (rc) {
        return rc;
    }
    const struct vigil_prep_params *pp = vigil_prep_params(m->b.prep);
    if (m->b.per_entity || m->b.n_part != 1) {
        vigil_diag_set(diag, 0, 0, "a per-entity model cannot score flows");
        return VIGIL_ESHAPE;
    }
    if (pp->step != 0 || pp->temporal != 0) {
        vigil_diag_set(diag, 0, 0,
                       "the model resamples or adds temporal features; flow records "
                       "are independent rows (train with --step 0 --temporal 0)");
        return VIGIL_ESHAPE;
    }
    m->f = vigil_prep_n_features(m->b.prep);
    if (m->f != vigil_prep_n_series(m->b.prep) || m->f == 0) {
        vigil_diag_set(diag, 0, 0, "unexpected feature layout in the model");
        return VIGIL_ESHAPE;
    }
    m->src = vigil_mallocarray(m->f, sizeof *m->src);
    m->lo = vigil_mallocarray(m->f, sizeof *m->lo);
    m->hi = vigil_mallocarray(m->f, sizeof *m->hi);
    m->inv = vigil_mallocarray(m->f, sizeof *m->inv);
    m->x = vigil_mallocarray(batch * m->f, sizeof *m->x);
    m->out = vigil_mallocarray(batch * m->b.n_out, sizeof *m->out);
    if (!m->src || !m->lo || !m->hi || !m->inv || !m->x || !m->out) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->f; i++) {
        const char *key = vigil_prep_series(m->b.prep, i, &m->lo[i], &m->hi[i]);
        int j = key ? feature_index(key) : -1;
        if (j < 0) {
            vigil_diag_set(diag, 0, 0,
                           "the model reads '%s', which is not a flow feature "
                           "(docs/flows.md lists them)",
                           key ? key : "?");
            return VIGIL_ESHAPE;
        }
        m->src[i] = (uint32_t)j;
        m->inv[i] = 1.0 / (m->hi[i] - m->lo[i]);
    }
    m->scale = pp->scale;
    m->clip = pp->clip;
    m->supervised = m->b.ops->supervised;
    if (!m->supervised) {
        m->score_col = m->b.n_out;
        for (size_t j = 0; j < m->b.n_out; j++) {
            if (strcmp(m->b.out_names[j], "score") == 0) {
                m->score_col = j;
                break;
            }
        }
        if (m->score_col == m->b.n_out) {
            vigil_diag_set(diag, 0, 0, "model '%s' has no 'score' column", m->b.ops->name);
            return VIGIL_ESHAPE;
        }
    } else {
        size_t no = m->b.n_out;
        m->k_cls = no > 0 && strcmp(m->b.out_names[no - 1], "pred") == 0 ? no - 1 : no;
        if (m->k_cls < 2) {
            vigil_diag_set(diag, 0, 0, "classifier with fewer than two classes");
            return VIGIL_ESHAPE;
        }
    }
    /* Warm-up on a full batch, so the bundle and the model size their scratch now. */
    memset(m->x, 0, batch * m->f * sizeof *m->x);
    rc = vigil_bundle_score(&m->b, m->x, batch, m->f, m->out);
    if (rc) {
        vigil_diag_set(diag, 0, 0, "scoring a first batch: %s", vigil_strerror(rc));
    }
    return rc;
}

int vigil_flowdet_new(struct vigil_flowdet **out, const char *const *paths, size_t n,
                      float threshold, size_t batch, struct vigil_diag *diag)
{
    *out = NULL;
    if (n == 0 || n > VIGIL_FLOWDET_MAX_MODELS || batch == 0 || batch > VIGIL_FLOW_BATCH_MAX ||
        !(threshold > 0.0f && threshold <= 1.0f)) {
        return -EINVAL;
    }
    struct vigil_flowdet *fd = vigil_calloc(1, sizeof *fd);
    if (!fd) {
        return -ENOMEM;
    }
    fd->threshold = threshold;
    fd->batch = batch;
    for (size_t i = 0; i < n; i++) {
        struct vigil_diag d;
        vigil_diag_clear(&d);
        fd->n = i + 1;
        int rc = fmodel_load(&fd->m[i], paths[i], batch, &d);
        if (rc) {
            vigil_diag_set(diag, d.line, d.col, "%s: %s", paths[i],
                           d.msg[0] ? d.msg : vigil_strerror(rc));
            vigil_flowdet_free(fd);
            return rc;
        }
    }
    *out = fd;
    return 0;
}

/* Rule 5 of the prep chain on one record, into x (F). */
static void scale_row(const struct fmodel *m, const struct vigil_flow_rec *r, float *x)
{
    for (size_t i = 0; i < m->f; i++) {
        float v = r->f[m->src[i]];
        if (m->scale) {
            double y = ((double)v - m->lo[i]) * m->inv[i];
            v = (float)(y < -m->clip ? -m->clip : y > 1 + m->clip ? 1 + m->clip : y);
        }
        x[i] = v;
    }
}

int vigil_flowdet_score(struct vigil_flowdet *fd, const struct vigil_flow_rec *recs, size_t n,
                        uint8_t *cls, float *score)
{
    memset(cls, 0, n);
    for (size_t i = 0; i < n; i++) {
        score[i] = 0.0f;
    }
    for (size_t s = 0; s < n; s += fd->batch) {
        size_t cn = n - s < fd->batch ? n - s : fd->batch;
        for (size_t k = 0; k < fd->n; k++) {
            struct fmodel *m = &fd->m[k];
            for (size_t i = 0; i < cn; i++) {
                scale_row(m, &recs[s + i], m->x + i * m->f);
            }
            int rc = vigil_bundle_score(&m->b, m->x, cn, m->f, m->out);
            if (rc) {
                return rc;
            }
            size_t no = m->b.n_out;
            for (size_t i = 0; i < cn; i++) {
                const float *o = m->out + i * no;
                uint8_t *c = &cls[s + i];
                float *sc = &score[s + i];
                if (m->supervised) {
                    /* Columns p_0 .. p_{K-1}, then pred. */
                    size_t k_cls = m->k_cls;
                    float attack = 1.0f - o[0];
                    if (!(attack >= fd->threshold) || (*c != 0 && *c != VIGIL_THREAT_ANOMALY)) {
                        continue;
                    }
                    size_t best = 1;
                    for (size_t j = 2; j < k_cls; j++) {
                        best = o[j] > o[best] ? j : best;
                    }
                    *c = (uint8_t)(best < 255 ? best : 255);
                    *sc = attack;
                } else if (*c == 0) {
                    float ratio = o[m->score_col];
                    if (ratio > 1.0f) {
                        *c = VIGIL_THREAT_ANOMALY;
                        *sc = 1.0f - 1.0f / ratio;
                    }
                }
            }
        }
    }
    return 0;
}
