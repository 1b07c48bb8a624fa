/*
 * The fault classifier of the watch engine (src/detect/internal.h): a model
 * file from `vigil train -m rf ...` (a bundle: its own fitted preprocessing
 * plus one model, or one per entity) that names the fault type of an event.
 *
 * The bundle's chain runs as a stream beside the engine's, fed every raw row,
 * so the feature row at any moment is exactly what `vigil score` would compute
 * for that row of a file (counter increases, resampling and temporal features
 * need the rows before it). Scoring happens only when an event opens or
 * grows, on one row: a per-entity bundle scores the part of the event's
 * entity; a single-model bundle scores events of the entity its series belong
 * to (every event when they span several entities).
 *
 * Not here: training (offline, `vigil train`), reloading on SIGHUP.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "vigil/bundle.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/prep.h"

#define HOST "host"

struct vigil__clf {
    struct vigil_bundle b;
    char *path;
    char **names; /* (n_names) class names; owned */
    size_t n_names;
    struct vigil_prep_stream st;
    int ready;      /* the stream is initialized */
    size_t tried_n; /* series count at the last failed start (retry when it grows) */
    int warned;     /* the missing-series message was logged */
    char *entity;   /* single-model bundles: the one entity of its series, or NULL = all */
    float *feat;    /* (F) the newest feature row */
    int have;       /* feat holds a row */
    float *x;       /* (max part columns) gathered features */
    float *out;     /* (max part outputs) class probabilities */
};

void vigil__clf_free(struct vigil__clf *c)
{
    if (!c) {
        return;
    }
    if (c->ready) {
        vigil_prep_stream_fini(&c->st);
    }
    vigil_bundle_fini(&c->b);
    for (size_t i = 0; i < c->n_names; i++) {
        vigil_free(c->names[i]);
    }
    vigil_free(c->names);
    vigil_free(c->path);
    vigil_free(c->entity);
    vigil_free(c->feat);
    vigil_free(c->x);
    vigil_free(c->out);
    vigil_free(c);
}

/* Splits "a,b,c" into owned names. Returns 0 or -ENOMEM. */
static int split_names(struct vigil__clf *c, const char *list)
{
    if (!list || !*list) {
        return 0;
    }
    size_t n = 1;
    for (const char *p = list; *p; p++) {
        n += *p == ',';
    }
    c->names = vigil_calloc(n, sizeof *c->names);
    if (!c->names) {
        return -ENOMEM;
    }
    const char *p = list;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        size_t a = 0, z = len;
        while (a < z && (p[a] == ' ' || p[a] == '\t')) {
            a++;
        }
        while (z > a && (p[z - 1] == ' ' || p[z - 1] == '\t')) {
            z--;
        }
        c->names[i] = vigil_strndup(p + a, z - a);
        if (!c->names[i]) {
            return -ENOMEM;
        }
        c->n_names = i + 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

int vigil__clf_load(struct vigil__clf **out, const char *path, const char *classes,
                    struct vigil_diag *diag)
{
    *out = NULL;
    struct vigil__clf *c = vigil_calloc(1, sizeof *c);
    if (!c) {
        return -ENOMEM;
    }
    int rc = vigil_bundle_load(&c->b, path, diag);
    if (rc) {
        vigil_free(c);
        return rc;
    }
    if (!c->b.ops->supervised) {
        vigil_diag_set(diag, 0, 0,
                       "a '%s' model, not a supervised one (train one with "
                       "vigil train -m rf --labels ...)",
                       c->b.ops->name);
        vigil__clf_free(c);
        return VIGIL_ECONFIG;
    }
    size_t f = vigil_prep_n_features(c->b.prep), maxc = 1, maxo = 1;
    for (size_t i = 0; i < c->b.n_part; i++) {
        size_t no = c->b.ops->n_out(&c->b.part[i].m);
        maxc = c->b.part[i].n_cols > maxc ? c->b.part[i].n_cols : maxc;
        maxo = no > maxo ? no : maxo;
    }
    c->path = vigil_strdup(path);
    c->feat = vigil_mallocarray(f ? f : 1, sizeof *c->feat);
    c->x = vigil_mallocarray(maxc, sizeof *c->x);
    c->out = vigil_mallocarray(maxo, sizeof *c->out);
    if (!c->path || !c->feat || !c->x || !c->out || split_names(c, classes) != 0) {
        vigil__clf_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

/* Single-model bundles: the entity all of the chain's series belong to, or NULL. */
static int find_entity(struct vigil__clf *c, const struct vigil_series_table *t)
{
    const char *one = NULL;
    for (size_t i = 0; i < vigil_prep_n_series(c->b.prep); i++) {
        double lo, hi;
        const char *key = vigil_prep_series(c->b.prep, i, &lo, &hi);
        uint32_t id;
        if (vigil_series_find(t, key, strlen(key), &id) != 0) {
            continue;
        }
        const char *e = t->v[id].entity && t->v[id].entity[0] ? t->v[id].entity : HOST;
        if (one && strcmp(one, e) != 0) {
            return 0; /* several entities: the model describes the whole system */
        }
        one = e;
    }
    c->entity = one ? vigil_strdup(one) : NULL;
    return one && !c->entity ? -ENOMEM : 0;
}

static void start(struct vigil__clf *c, const struct vigil_series_table *t)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    c->tried_n = t->n;
    int rc = vigil_prep_stream_init(&c->st, c->b.prep, t, &d);
    if (rc) {
        if (!c->warned) {
            vigil_info("watch: supervised %s: waiting for its series (%s)", c->path,
                       d.msg[0] ? d.msg : vigil_strerror(rc));
            c->warned = 1;
        }
        return;
    }
    if (!c->b.per_entity && find_entity(c, t) != 0) {
        vigil_prep_stream_fini(&c->st);
        return;
    }
    c->ready = 1;
    vigil_info("watch: supervised %s: naming faults of %s", c->path,
               c->b.per_entity ? "each entity it has a part for"
               : c->entity     ? c->entity
                               : "every entity");
}

void vigil__clf_push(struct vigil__clf *c, int64_t ts, const struct vigil_series_table *t,
                     const float *row)
{
    if (!c->ready && t->n != c->tried_n) {
        start(c, t);
    }
    if (!c->ready || vigil_prep_stream_push(&c->st, ts, row) != 0) {
        return;
    }
    int64_t at;
    const float *feat;
    size_t f = vigil_prep_n_features(c->b.prep);
    while (vigil_prep_stream_next(&c->st, &at, &feat)) {
        memcpy(c->feat, feat, f * sizeof *feat);
        c->have = 1;
    }
}

int vigil__clf_ready(const struct vigil__clf *c)
{
    return c->ready;
}

int vigil__clf_name(struct vigil__clf *c, const char *entity, char *out, size_t n)
{
    if (!c->have) {
        return 0;
    }
    const struct vigil_bundle_part *p = NULL;
    if (c->b.per_entity) {
        for (size_t i = 0; i < c->b.n_part && !p; i++) {
            if (strcmp(c->b.part[i].entity, entity) == 0) {
                p = &c->b.part[i];
            }
        }
    } else if (!c->entity || strcmp(c->entity, entity) == 0) {
        p = &c->b.part[0];
    }
    if (!p) {
        return 0;
    }
    for (size_t j = 0; j < p->n_cols; j++) {
        c->x[j] = c->feat[p->cols[j]];
        if (!isfinite(c->x[j])) {
            return 0; /* a gap in the row: no guess rather than a wrong one */
        }
    }
    struct vigil_model *m = (struct vigil_model *)&p->m;
    size_t no = c->b.ops->n_out(m);
    if (no == 0 || c->b.ops->score(m, c->x, 1, c->out) != 0) {
        return 0;
    }
    size_t best = 0;
    for (size_t k = 1; k < no; k++) {
        if (c->out[k] > c->out[best]) {
            best = k;
        }
    }
    if (best < c->n_names && c->names[best][0]) {
        snprintf(out, n, "%s (p=%.2f)", c->names[best], (double)c->out[best]);
    } else {
        snprintf(out, n, "%zu (p=%.2f)", best, (double)c->out[best]);
    }
    return 1;
}
