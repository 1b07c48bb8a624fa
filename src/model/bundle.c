/*
 * Bundles: the preprocessing state and the trained model(s) of one detector
 * in one model file (see bundle.h for the sections and the output columns).
 * Training fits the chain once on all series, then one model on all
 * features or one per entity on that entity's features. Loading checks
 * every section against the others (feature counts, column indices, model
 * sizes) before a model sees its bytes, so a mismatched file is refused with
 * a reason.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vigil/bundle.h"
#include "vigil/lines.h"
#include "vigil/mem.h"

#define LAYOUT_VERSION 1
#define MAX_PARTS 4096

static const char *part_entity(const struct vigil_bundle_part *p)
{
    return p->entity ? p->entity : "";
}

void vigil_bundle_fini(struct vigil_bundle *b)
{
    for (size_t i = 0; i < b->n_part; i++) {
        vigil_model_fini(&b->part[i].m);
        vigil_free(b->part[i].entity);
        vigil_free(b->part[i].cols);
    }
    vigil_free(b->part);
    for (size_t j = 0; j < b->n_out && b->out_names; j++) {
        vigil_free(b->out_names[j]);
    }
    vigil_free(b->out_names);
    vigil_free(b->scratch);
    vigil_free(b->options);
    vigil_prep_free(b->prep);
    memset(b, 0, sizeof *b);
}

/* ---- output columns ---- */

static int add_name(char **names, size_t *k, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = vigil_malloc(la + (b ? lb + 1 : 0) + 1);
    if (!s) {
        return -ENOMEM;
    }
    memcpy(s, a, la);
    if (b) {
        s[la] = '@';
        memcpy(s + la + 1, b, lb);
        la += lb + 1;
    }
    s[la] = '\0';
    names[(*k)++] = s;
    return 0;
}

static int build_out_names(struct vigil_bundle *b)
{
    const struct vigil_model_ops *ops = b->ops;
    size_t total = 0;
    for (size_t i = 0; i < b->n_part; i++) {
        total += ops->n_out(&b->part[i].m);
    }
    size_t n0 = ops->n_out(&b->part[0].m);
    size_t n;
    if (!b->per_entity) {
        n = n0 + (size_t)(ops->supervised != 0);
    } else if (ops->supervised) {
        n = n0 + 1 + b->n_part;
    } else {
        n = 1 + total;
    }
    b->out_names = vigil_calloc(n, sizeof *b->out_names);
    if (!b->out_names) {
        return -ENOMEM;
    }
    size_t k = 0;
    int rc = 0;
    if (!b->per_entity || ops->supervised) {
        for (size_t j = 0; j < n0 && !rc; j++) {
            const char *nm = ops->out_name(&b->part[0].m, j);
            rc = add_name(b->out_names, &k, nm ? nm : "out", NULL);
        }
        if (!rc && ops->supervised) {
            rc = add_name(b->out_names, &k, "pred", NULL);
        }
        for (size_t i = 0; b->per_entity && i < b->n_part && !rc; i++) {
            rc = add_name(b->out_names, &k, "anomaly", b->part[i].entity);
        }
    } else {
        rc = add_name(b->out_names, &k, "score", NULL);
        for (size_t i = 0; i < b->n_part && !rc; i++) {
            size_t np = ops->n_out(&b->part[i].m);
            for (size_t j = 0; j < np && !rc; j++) {
                const char *nm = ops->out_name(&b->part[i].m, j);
                rc = add_name(b->out_names, &k, nm ? nm : "out", b->part[i].entity);
            }
        }
    }
    b->n_out = k; /* on failure, fini frees the k names made */
    return rc;
}

/* ---- training ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One part per distinct entity of the feature columns, in name order. */
static int make_parts(struct vigil_bundle *b, const struct vigil_frame *feat)
{
    size_t f = feat->f;
    if (!b->per_entity) {
        b->part = vigil_calloc(1, sizeof *b->part);
        if (!b->part) {
            return -ENOMEM;
        }
        b->n_part = 1;
        b->part[0].cols = vigil_mallocarray(f, sizeof *b->part[0].cols);
        if (!b->part[0].cols) {
            return -ENOMEM;
        }
        for (size_t j = 0; j < f; j++) {
            b->part[0].cols[j] = (uint32_t)j;
        }
        b->part[0].n_cols = f;
        return 0;
    }
    const char **ent = vigil_mallocarray(f, sizeof *ent);
    if (!ent) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < f; j++) {
        const char *e = feat->cols.v[j].entity;
        ent[j] = e && e[0] ? e : VIGIL_BUNDLE_HOST;
    }
    qsort(ent, f, sizeof *ent, cmp_str);
    size_t u = 0;
    for (size_t j = 0; j < f; j++) {
        if (u == 0 || strcmp(ent[u - 1], ent[j]) != 0) {
            ent[u++] = ent[j];
        }
    }
    int rc = -ENOMEM;
    if (u > MAX_PARTS) {
        rc = -EINVAL;
        goto done;
    }
    b->part = vigil_calloc(u, sizeof *b->part);
    if (!b->part) {
        goto done;
    }
    for (size_t i = 0; i < u; i++) {
        struct vigil_bundle_part *p = &b->part[i];
        b->n_part = i + 1;
        p->entity = vigil_strdup(ent[i]);
        p->cols = vigil_mallocarray(f, sizeof *p->cols);
        if (!p->entity || !p->cols) {
            goto done;
        }
        for (size_t j = 0; j < f; j++) {
            const char *e = feat->cols.v[j].entity;
            if (strcmp(e && e[0] ? e : VIGIL_BUNDLE_HOST, ent[i]) == 0) {
                p->cols[p->n_cols++] = (uint32_t)j;
            }
        }
    }
    rc = 0;
done:
    vigil_free(ent);
    return rc;
}

/* Rows labelled > 0 become NaN: an unsupervised model skips them in fit and thresholds. */
static void mask_labelled(struct vigil_frame *feat)
{
    for (size_t i = 0; i < feat->n; i++) {
        if (feat->y[i] > 0) {
            float *row = vigil_frame_row(feat, i);
            for (size_t j = 0; j < feat->f; j++) {
                row[j] = NAN;
            }
        }
    }
}

int vigil_bundle_train(struct vigil_bundle *b, const struct vigil_bundle_train_opts *o,
                       const struct vigil_frame *fr, struct vigil_frame *features,
                       struct vigil_diag *diag)
{
    memset(b, 0, sizeof *b);
    vigil_diag_clear(diag);
    if (o->ops->supervised && !fr->y) {
        vigil_diag_set(diag, 0, 0, "model '%s' is supervised and needs labels", o->ops->name);
        return -EINVAL;
    }
    b->ops = o->ops;
    b->per_entity = o->per_entity;
    struct vigil_prep_params pdef;
    vigil_prep_params_default(&pdef);
    struct vigil_frame feat;
    vigil_frame_init(&feat);
    float *xg = NULL;
    uint8_t *grp = NULL;
    const char **names = NULL;
    if (o->prep) {
        pdef = *o->prep;
    }
    /* A supervised model learns from every row: normal_only is for unsupervised ones. */
    pdef.normal_only = pdef.normal_only && !o->ops->supervised;
    int rc = vigil_prep_fit(&b->prep, fr, &pdef, diag);
    rc = rc ? rc : vigil_prep_apply(b->prep, fr, &feat, diag);
    if (rc) {
        goto fail;
    }
    if (feat.n == 0 || feat.f == 0) {
        vigil_diag_set(diag, 0, 0, "no rows left after preprocessing");
        rc = VIGIL_EEMPTY;
        goto fail;
    }
    rc = make_parts(b, &feat);
    if (rc) {
        goto fail;
    }
    if (pdef.normal_only && feat.y) {
        mask_labelled(&feat);
    }
    size_t n_classes = 0;
    for (size_t i = 0; feat.y && i < feat.n; i++) {
        if (feat.y[i] < 0) {
            vigil_diag_set(diag, i + 1, 0, "negative class id %d", (int)feat.y[i]);
            rc = -EINVAL;
            goto fail;
        }
        n_classes = (size_t)feat.y[i] + 1 > n_classes ? (size_t)feat.y[i] + 1 : n_classes;
    }
    rc = -ENOMEM;
    grp = vigil_mallocarray(feat.f, sizeof *grp);
    names = vigil_mallocarray(feat.f, sizeof *names);
    if (!grp || !names) {
        goto fail;
    }
    if (o->options_text && !(b->options = vigil_strdup(o->options_text))) {
        goto fail;
    }
    for (size_t i = 0; i < b->n_part; i++) {
        struct vigil_bundle_part *p = &b->part[i];
        const float *x = feat.x;
        if (p->n_cols != feat.f) {
            vigil_free(xg);
            xg = vigil_mallocarray(feat.n * p->n_cols, sizeof *xg);
            if (!xg) {
                rc = -ENOMEM;
                goto fail;
            }
            for (size_t r = 0; r < feat.n; r++) {
                const float *row = vigil_frame_row(&feat, r);
                for (size_t j = 0; j < p->n_cols; j++) {
                    xg[r * p->n_cols + j] = row[p->cols[j]];
                }
            }
            x = xg;
        }
        for (size_t j = 0; j < p->n_cols; j++) {
            grp[j] = feat.cols.v[p->cols[j]].group;
            names[j] = feat.cols.v[p->cols[j]].key;
        }
        struct vigil_batch bt = {.x = x,
                                 .n = feat.n,
                                 .f = p->n_cols,
                                 .y = feat.y,
                                 .n_classes = n_classes,
                                 .group = grp,
                                 .names = names,
                                 .threads = o->threads > 0 ? o->threads : 1,
                                 .progress = o->progress};
        rc = vigil_model_init(&p->m, o->ops, o->params);
        if (rc) {
            vigil_diag_set(diag, 0, 0, "model '%s': bad parameters", o->ops->name);
            goto fail;
        }
        rc = o->ops->fit(&p->m, &bt);
        if (rc) {
            vigil_diag_set(diag, 0, 0, "training %s%s%s: %s", o->ops->name,
                           p->entity ? " for " : "", part_entity(p), vigil_strerror(rc));
            goto fail;
        }
        p->rows = feat.n;
    }
    rc = build_out_names(b);
    if (rc) {
        goto fail;
    }
    vigil_free(xg);
    vigil_free(grp);
    vigil_free(names);
    if (features) {
        *features = feat;
    } else {
        vigil_frame_fini(&feat);
    }
    return 0;
fail:
    vigil_free(xg);
    vigil_free(grp);
    vigil_free(names);
    vigil_frame_fini(&feat);
    vigil_bundle_fini(b);
    return rc;
}

/* ---- saving ---- */

int vigil_bundle_save(const struct vigil_bundle *b, const char *path)
{
    size_t ns = 3 + b->n_part;
    struct vigil_buf *bufs = vigil_calloc(ns, sizeof *bufs);
    struct vigil_section *sec = vigil_calloc(ns, sizeof *sec);
    char **names = vigil_calloc(b->n_part, sizeof *names);
    int rc = -ENOMEM;
    if (!bufs || !sec || !names || ns > VIGIL_MFILE_MAX_SECTIONS) {
        rc = ns > VIGIL_MFILE_MAX_SECTIONS ? -EINVAL : -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < ns; i++) {
        vigil_buf_init(&bufs[i]);
    }
    rc = vigil_prep_save(b->prep, &bufs[0]);
    /* layout: u32 version | u32 per_entity | u32 parts | parts x (str entity | u32 n | n x u32) */
    struct vigil_buf *lb = &bufs[1];
    rc = rc ? rc : vigil_buf_put_u32(lb, LAYOUT_VERSION);
    rc = rc ? rc : vigil_buf_put_u32(lb, (uint32_t)b->per_entity);
    rc = rc ? rc : vigil_buf_put_u32(lb, (uint32_t)b->n_part);
    for (size_t i = 0; i < b->n_part && !rc; i++) {
        const struct vigil_bundle_part *p = &b->part[i];
        rc = vigil_buf_put_str(lb, part_entity(p));
        rc = rc ? rc : vigil_buf_put_u32(lb, (uint32_t)p->n_cols);
        for (size_t j = 0; j < p->n_cols && !rc; j++) {
            rc = vigil_buf_put_u32(lb, p->cols[j]);
        }
    }
    rc = rc ? rc : vigil_buf_puts(&bufs[2], b->options ? b->options : "");
    for (size_t i = 0; i < b->n_part && !rc; i++) {
        const struct vigil_bundle_part *p = &b->part[i];
        rc = p->m.ops->save(&p->m, &bufs[3 + i]);
        if (!rc && b->per_entity) {
            size_t len = strlen(p->entity) + 7;
            names[i] = vigil_malloc(len);
            if (!names[i]) {
                rc = -ENOMEM;
                break;
            }
            snprintf(names[i], len, "model:%s", p->entity);
        }
    }
    if (rc) {
        goto done;
    }
    sec[0] = (struct vigil_section){"prep", bufs[0].p, bufs[0].len};
    sec[1] = (struct vigil_section){"layout", bufs[1].p, bufs[1].len};
    sec[2] = (struct vigil_section){"options", bufs[2].p ? bufs[2].p : "", bufs[2].len};
    for (size_t i = 0; i < b->n_part; i++) {
        sec[3 + i] = (struct vigil_section){b->per_entity ? names[i] : "model", bufs[3 + i].p,
                                            bufs[3 + i].len};
    }
    rc = vigil_mfile_save(path, b->ops->name, sec, ns);
done:
    for (size_t i = 0; bufs && i < ns; i++) {
        vigil_buf_fini(&bufs[i]);
    }
    for (size_t i = 0; names && i < b->n_part; i++) {
        vigil_free(names[i]);
    }
    vigil_free(names);
    vigil_free(bufs);
    vigil_free(sec);
    return rc;
}

/* ---- loading ---- */

static int read_layout(struct vigil_bundle *b, const struct vigil_section *s, size_t f,
                       struct vigil_diag *diag)
{
    struct vigil_rd r;
    vigil_rd_init(&r, s->p, s->n);
    uint32_t ver, pe, np;
    if (vigil_rd_u32(&r, &ver) || ver != LAYOUT_VERSION || vigil_rd_u32(&r, &pe) || pe > 1 ||
        vigil_rd_u32(&r, &np) || np == 0 || np > MAX_PARTS || (!pe && np != 1)) {
        vigil_diag_set(diag, 0, 0, "section 'layout': bad header");
        return VIGIL_EFORMAT;
    }
    b->per_entity = (int)pe;
    b->part = vigil_calloc(np, sizeof *b->part);
    if (!b->part) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < np; i++) {
        struct vigil_bundle_part *p = &b->part[i];
        b->n_part = i + 1;
        char *ent = NULL;
        uint32_t nc;
        int rc = vigil_rd_str(&r, &ent, 1024);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc || vigil_rd_u32(&r, &nc) || nc == 0 || nc > f || (uint64_t)nc * 4 > r.n ||
            (!pe && (ent[0] || nc != f)) || (pe && !ent[0])) {
            vigil_free(ent);
            vigil_diag_set(diag, 0, 0, "section 'layout': part %u is inconsistent", i);
            return VIGIL_EFORMAT;
        }
        if (pe) {
            p->entity = ent;
        } else {
            vigil_free(ent);
        }
        p->cols = vigil_mallocarray(nc, sizeof *p->cols);
        if (!p->cols) {
            return -ENOMEM;
        }
        p->n_cols = nc;
        for (uint32_t j = 0; j < nc; j++) {
            vigil_rd_u32(&r, &p->cols[j]);
            if (p->cols[j] >= f || (j && p->cols[j] <= p->cols[j - 1])) {
                vigil_diag_set(diag, 0, 0, "section 'layout': part %u: column out of range", i);
                return VIGIL_EFORMAT;
            }
        }
    }
    if (r.n) {
        vigil_diag_set(diag, 0, 0, "section 'layout': trailing bytes");
        return VIGIL_EFORMAT;
    }
    return 0;
}

static int load_part(struct vigil_bundle *b, struct vigil_bundle_part *p,
                     const struct vigil_mfile *mf, struct vigil_diag *diag)
{
    char name[1100];
    snprintf(name, sizeof name, p->entity ? "model:%s" : "model", part_entity(p));
    const struct vigil_section *s = vigil_mfile_find(mf, name);
    if (!s) {
        vigil_diag_set(diag, 0, 0, "section '%.200s' is missing", name);
        return VIGIL_EFORMAT;
    }
    void *params = vigil_calloc(1, b->ops->params_size ? b->ops->params_size : 1);
    if (!params) {
        return -ENOMEM;
    }
    int rc = vigil_opt_defaults(b->ops->opts, params);
    rc = rc ? rc : vigil_model_init(&p->m, b->ops, params);
    vigil_opt_free(b->ops->opts, params);
    vigil_free(params);
    if (rc) {
        return rc == -ENOMEM ? rc : VIGIL_EFORMAT;
    }
    rc = b->ops->load(&p->m, s->p, s->n);
    if (rc) {
        vigil_diag_set(diag, 0, 0, "section '%.200s': %s model bytes are corrupt", name,
                       b->ops->name);
        return rc == -ENOMEM ? rc : VIGIL_EFORMAT;
    }
    if (p->m.f != p->n_cols) {
        vigil_diag_set(diag, 0, 0, "section '%.200s': the model reads %zu features, the layout "
                       "gives it %zu", name, p->m.f, p->n_cols);
        return VIGIL_EFORMAT;
    }
    if (b->ops->n_out(&p->m) == 0) {
        vigil_diag_set(diag, 0, 0, "section '%.200s': the model has no outputs", name);
        return VIGIL_EFORMAT;
    }
    return 0;
}

int vigil_bundle_decode(struct vigil_bundle *b, void *blob, size_t n, struct vigil_diag *diag)
{
    memset(b, 0, sizeof *b);
    struct vigil_mfile mf;
    int rc = vigil_mfile_decode(&mf, blob, n, diag);
    if (rc) {
        return rc;
    }
    b->ops = vigil_model_find(mf.kind);
    if (!b->ops) {
        vigil_diag_set(diag, 0, 0, "model kind '%.100s' is not built into this vigil", mf.kind);
        rc = VIGIL_ENOTSUP;
        goto fail;
    }
    const struct vigil_section *sp = vigil_mfile_find(&mf, "prep");
    const struct vigil_section *sl = vigil_mfile_find(&mf, "layout");
    if (!sp || !sl) {
        vigil_diag_set(diag, 0, 0, "section '%s' is missing", sp ? "layout" : "prep");
        rc = VIGIL_EFORMAT;
        goto fail;
    }
    rc = vigil_prep_load(&b->prep, sp->p, sp->n, diag);
    if (rc) {
        if (rc != -ENOMEM) {
            char why[200];
            snprintf(why, sizeof why, "%.190s", diag && diag->msg[0] ? diag->msg : "corrupt");
            vigil_diag_set(diag, 0, 0, "section 'prep': %s", why);
            rc = VIGIL_EFORMAT;
        }
        goto fail;
    }
    rc = read_layout(b, sl, vigil_prep_n_features(b->prep), diag);
    for (size_t i = 0; i < b->n_part && !rc; i++) {
        rc = load_part(b, &b->part[i], &mf, diag);
    }
    if (!rc && b->ops->supervised) {
        for (size_t i = 1; i < b->n_part && !rc; i++) {
            if (b->ops->n_out(&b->part[i].m) != b->ops->n_out(&b->part[0].m)) {
                vigil_diag_set(diag, 0, 0, "entities disagree on the number of classes");
                rc = VIGIL_EFORMAT;
            }
        }
    }
    const struct vigil_section *so = vigil_mfile_find(&mf, "options");
    if (!rc && so && so->n < (1u << 20)) {
        b->options = vigil_strndup(so->p, so->n);
        rc = b->options ? 0 : -ENOMEM;
    }
    rc = rc ? rc : build_out_names(b);
    if (rc) {
        goto fail;
    }
    vigil_mfile_fini(&mf);
    return 0;
fail:
    vigil_mfile_fini(&mf);
    vigil_bundle_fini(b);
    return rc;
}

int vigil_bundle_load(struct vigil_bundle *b, const char *path, struct vigil_diag *diag)
{
    char *blob;
    size_t n;
    memset(b, 0, sizeof *b);
    int rc = vigil_read_file(path, (size_t)1 << 31, &blob, &n);
    if (rc) {
        vigil_diag_set(diag, 0, 0, "%s", vigil_strerror(rc));
        return rc;
    }
    return vigil_bundle_decode(b, blob, n, diag);
}

/* ---- scoring ---- */

static size_t argmax(const float *p, size_t n)
{
    size_t am = 0;
    for (size_t j = 1; j < n; j++) {
        am = p[j] > p[am] ? j : am;
    }
    return am;
}

int vigil_bundle_score(struct vigil_bundle *b, const float *x, size_t n, size_t f, float *out)
{
    if (f != vigil_prep_n_features(b->prep)) {
        return VIGIL_ESHAPE;
    }
    if (n == 0) {
        return 0;
    }
    const struct vigil_model_ops *ops = b->ops;
    size_t total = 0, maxc = 0;
    for (size_t i = 0; i < b->n_part; i++) {
        total += ops->n_out(&b->part[i].m);
        maxc = b->part[i].n_cols > maxc ? b->part[i].n_cols : maxc;
    }
    if (!b->per_entity) {
        size_t no = total;
        size_t stride = b->n_out;
        float *tmp = out;
        if (stride != no) {
            /* The model writes (N, no); "pred" is appended per row afterwards. */
            if (n > b->scratch_rows) {
                float *s = vigil_realloc(b->scratch, n * (maxc + total) * sizeof *s);
                if (!s) {
                    return -ENOMEM;
                }
                b->scratch = s;
                b->scratch_rows = n;
            }
            tmp = b->scratch;
        }
        int rc = ops->score(&b->part[0].m, x, n, tmp);
        if (rc) {
            return rc;
        }
        if (tmp != out) {
            for (size_t r = n; r-- > 0;) {
                memmove(out + r * stride, tmp + r * no, no * sizeof *out);
                out[r * stride + no] = (float)argmax(tmp + r * no, no);
            }
        }
        return 0;
    }
    if (n > b->scratch_rows) {
        float *s = vigil_realloc(b->scratch, n * (maxc + total) * sizeof *s);
        if (!s) {
            return -ENOMEM;
        }
        b->scratch = s;
        b->scratch_rows = n;
    }
    float *xg = b->scratch, *po = b->scratch + n * maxc;
    size_t off = 0;
    for (size_t i = 0; i < b->n_part; i++) {
        const struct vigil_bundle_part *p = &b->part[i];
        size_t np = ops->n_out(&p->m);
        for (size_t r = 0; r < n; r++) {
            for (size_t j = 0; j < p->n_cols; j++) {
                xg[r * p->n_cols + j] = x[r * f + p->cols[j]];
            }
        }
        int rc = ops->score(&b->part[i].m, xg, n, po + off * n);
        if (rc) {
            return rc;
        }
        off += np;
    }
    /* po holds part i's outputs as an (N, np_i) block at its offset. */
    for (size_t r = 0; r < n; r++) {
        float *o = out + r * b->n_out;
        if (ops->supervised) {
            size_t c = ops->n_out(&b->part[0].m), best = 0;
            for (size_t i = 1; i < b->n_part; i++) {
                if (po[i * c * n + r * c] < po[best * c * n + r * c]) {
                    best = i;
                }
            }
            const float *pb = po + best * c * n + r * c;
            memcpy(o, pb, c * sizeof *o);
            o[c] = (float)argmax(pb, c);
            for (size_t i = 0; i < b->n_part; i++) {
                o[c + 1 + i] = 1.0f - po[i * c * n + r * c];
            }
        } else {
            float mx = NAN;
            size_t k = 1, at = 0;
            for (size_t i = 0; i < b->n_part; i++) {
                size_t np = ops->n_out(&b->part[i].m);
                const float *pi = po + at * n + r * np;
                if (pi[0] == pi[0] && !(pi[0] <= mx)) {
                    mx = pi[0];
                }
                memcpy(o + k, pi, np * sizeof *o);
                k += np;
                at += np;
            }
            o[0] = mx;
        }
    }
    return 0;
}
