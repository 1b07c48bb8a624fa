/*
 * The collect set: starts the listed collectors, runs them once per tick into
 * one preallocated batch, keeps the last value of every series for rendering,
 * and renders the last tick as Prometheus text. It does not schedule ticks
 * (the caller's loop does) and does not serve HTTP (src/io/http.c does).
 *
 * Per-series state lives in parallel arrays indexed by series id: the family
 * it belongs to, its last value, and the tick it was last emitted (+1, so 0
 * means never). The batch capacity follows the number of series, so emitting
 * never allocates.
 *
 * Retirement (conf.retire_ns > 0) keeps memory flat under entity churn:
 * collectors release the ids of entities that vanished, the set lists them
 * as pending with the release time, and at the end of each tick retires
 * those whose grace period has passed and that were neither interned nor
 * emitted again meanwhile. A retired series leaves its family and the table,
 * and its id goes to the next new series (reported by vigil_collect_reused).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/log.h"
#include "vigil/mem.h"

struct family {
    uint8_t kind;
    uint8_t meta_done; /* VIGIL_RENDER_META_ONCE wrote its # HELP/# TYPE */
    uint32_t meta_off; /* its "# HELP ...\n# TYPE ...\n" lines in the set's meta text */
    uint32_t meta_len;
    uint32_t help_len; /* of its # HELP line, newline included (VIGIL_RENDER_NO_HELP skips it) */
    uint32_t *ids;     /* member series in intern order; owned */
    size_t n;
    size_t cap;
};

/*
 * One step of the render layout: a family's # HELP/# TYPE lines (id is
 * LAY_FAMILY, the text in meta) or one of its series (the text is its key and
 * a space, in lay_keys). The entries follow the render order.
 */
#define LAY_FAMILY UINT32_MAX
struct lay_ent {
    uint32_t id;
    uint32_t fid;
    uint32_t off;
    uint32_t len;
};

/* A released series waiting for its grace period. */
struct pending {
    uint32_t id;
    uint64_t rel; /* the value of rel[id] when released; a different value means revived */
    int64_t ns;   /* release time on the set's clock */
};

struct vigil_collect {
    char *root; /* without trailing slash; "" for "/" */
    char *list; /* comma list or NULL */
    int64_t rescan_ns;
    int64_t last_rescan;
    size_t max_series;
    int64_t retire_ns;
    vigil_collect_clock_fn clock;
    void *clock_user;

    struct vigil_series_table series;
    struct vigil_series_table fam_names; /* family names, same ids as fam[] */
    struct family *fam;
    size_t fam_cap;
    uint32_t *ser_fam; /* (S) family of each series */
    double *val;       /* (S) last value */
    uint64_t *stamp;   /* (S) tick + 1 of the last emission */
    uint64_t *rel;     /* (S) tick + 2 of the release; 0 = held (see vigil_collect_release) */
    uint32_t *key_len; /* (S) strlen of the series key, for rendering */
    size_t ser_cap;
    size_t ids_seen; /* the most ids the table ever had: one below was someone's before */

    /*
     * Rendering reads what does not change between ticks front to back: the
     * meta text of every family in family order (families stay for the
     * set's life), and the layout, rebuilt at the end of a tick whose series
     * set changed (gen moved). Read from scattered allocations, the 100+ KB
     * of a render with every field cost more than the rest of it.
     */
    struct vigil_buf meta;
    uint64_t gen;     /* bumped when a series joins or leaves the set */
    uint64_t lay_gen; /* gen the layout shows; 0: none, render walks the families */
    struct lay_ent *lay;
    size_t n_lay, cap_lay;
    struct vigil_buf lay_keys;

    struct pending *pend; /* released series, oldest first */
    size_t n_pend, cap_pend;
    uint32_t *reused; /* ids given to new series during the last tick */
    size_t n_reused, cap_reused;

    struct {
        uint64_t tick; /* cx.tick + 1 of the put; 0: never */
        double v[2];
        unsigned have;
    } psi_sys[3]; /* vigil__psi_sys_put */

    struct vigil_sample_batch batch;
    struct vigil_collector *col; /* one per registered collector */
    size_t n_col;
    uint64_t cur; /* tick + 1 of the tick in progress or last done */
    int started;
    uint32_t id_series;
};

void vigil_collect_conf_default(struct vigil_collect_conf *conf)
{
    conf->root = "/";
    conf->collectors = NULL;
    conf->rescan_ns = 1000000000LL;
    conf->max_series = 100000;
    conf->retire_ns = 0;
    conf->clock = NULL;
    conf->clock_user = NULL;
}

static int64_t default_clock(void *user)
{
    (void)user;
    return vigil_clock_mono_ns();
}

const struct vigil_collector_ops *vigil_collector_find(const char *name)
{
    for (const struct vigil_collector_ops *const *o = vigil_collector_list(); *o; o++) {
        if (strcmp((*o)->name, name) == 0) {
            return *o;
        }
    }
    return NULL;
}

static int listed(const char *list, const struct vigil_collector_ops *ops)
{
    if (!list) {
        return ops->default_on;
    }
    size_t n = strlen(ops->name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, ops->name, n) == 0) {
            return 1;
        }
        if (l == 7 && memcmp(p, "default", 7) == 0 && ops->default_on) {
            return 1;
        }
        p += l + (e ? 1 : 0);
    }
    return 0;
}

static int check_list(const char *list, struct vigil_diag *diag)
{
    char name[64];
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || l >= sizeof name) {
            vigil_diag_set(diag, 0, 0, "collectors: empty or overlong name in '%s'", list);
            return VIGIL_ECONFIG;
        }
        memcpy(name, p, l);
        name[l] = '\0';
        if (strcmp(name, "default") != 0 && !vigil_collector_find(name)) {
            vigil_diag_set(diag, 0, 0, "collectors: unknown collector '%s' (see --list)", name);
            return VIGIL_ECONFIG;
        }
        p += l + (e ? 1 : 0);
    }
    return 0;
}

int vigil_collect_new(struct vigil_collect **out, const struct vigil_collect_conf *conf,
                      struct vigil_diag *diag)
{
    *out = NULL;
    if (conf->collectors) {
        int rc = check_list(conf->collectors, diag);
        if (rc) {
            return rc;
        }
    }
    struct vigil_collect *c = vigil_calloc(1, sizeof *c);
    if (!c) {
        return -ENOMEM;
    }
    vigil_series_table_init(&c->series);
    vigil_series_table_init(&c->fam_names);
    const char *root = conf->root ? conf->root : "/";
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/') {
        rl--;
    }
    c->root = vigil_strndup(root, rl);
    c->list = conf->collectors ? vigil_strdup(conf->collectors) : NULL;
    c->rescan_ns = conf->rescan_ns > 0 ? conf->rescan_ns : 1000000000LL;
    c->max_series = conf->max_series ? conf->max_series : 100000;
    c->retire_ns = conf->retire_ns > 0 ? conf->retire_ns : 0;
    c->clock = conf->clock ? conf->clock : default_clock;
    c->clock_user = conf->clock_user;
    size_t n = 0;
    for (const struct vigil_collector_ops *const *o = vigil_collector_list(); *o; o++) {
        n++;
    }
    c->col = vigil_calloc(n ? n : 1, sizeof *c->col);
    if (!c->root || (conf->collectors && !c->list) || !c->col) {
        goto oom;
    }
    c->n_col = n;
    for (size_t i = 0; i < n; i++) {
        struct vigil_collector *col = &c->col[i];
        col->ops = vigil_collector_list()[i];
        if (col->ops->params_size) {
            col->params = vigil_calloc(1, col->ops->params_size);
            if (!col->params) {
                goto oom;
            }
            int rc = col->ops->opts ? vigil_opt_defaults(col->ops->opts, col->params) : 0;
            if (rc) {
                vigil_collect_free(c);
                return rc;
            }
        }
    }
    *out = c;
    return 0;
oom:
    vigil_collect_free(c);
    return -ENOMEM;
}

int vigil_collect_set(struct vigil_collect *c, const char *key, const char *val,
                      struct vigil_diag *diag)
{
    const char *dot = strchr(key, '.');
    char name[64];
    size_t l = dot ? (size_t)(dot - key) : 0;
    if (!dot || l == 0 || l >= sizeof name) {
        vigil_diag_set(diag, 0, 0, "expected collector.option=value, got '%s'", key);
        return VIGIL_ECONFIG;
    }
    memcpy(name, key, l);
    name[l] = '\0';
    for (size_t i = 0; i < c->n_col; i++) {
        struct vigil_collector *col = &c->col[i];
        if (strcmp(col->ops->name, name) != 0) {
            continue;
        }
        if (c->started) {
            vigil_diag_set(diag, 0, 0, "%s: options are set before start", key);
            return VIGIL_ECONFIG;
        }
        int rc = col->ops->opts ? vigil_opt_set(col->ops->opts, col->params, dot + 1, val,
                                                strlen(val), diag)
                                : -ENOENT;
        if (rc == -ENOENT) {
            vigil_diag_set(diag, 0, 0, "collector %s has no option '%s'", name, dot + 1);
            return VIGIL_ECONFIG;
        }
        return rc;
    }
    vigil_diag_set(diag, 0, 0, "unknown collector '%s'", name);
    return VIGIL_ECONFIG;
}

/* ---- series and families ---- */

/* Gives back per-series room beyond what n ids need (after vigil_series_trim). */
static void shrink_series(struct vigil_collect *c, size_t n)
{
    size_t cap = 256; /* as grow_series makes it, and never below this tick's batch */
    while (cap < n + 1 || cap < c->batch.n + 1) {
        cap *= 2;
    }
    if (c->ser_cap <= cap) {
        return;
    }
    c->ser_fam = vigil_shrink(c->ser_fam, cap * sizeof *c->ser_fam);
    c->val = vigil_shrink(c->val, cap * sizeof *c->val);
    c->stamp = vigil_shrink(c->stamp, cap * sizeof *c->stamp);
    c->rel = vigil_shrink(c->rel, cap * sizeof *c->rel);
    c->key_len = vigil_shrink(c->key_len, cap * sizeof *c->key_len);
    c->batch.v = vigil_shrink(c->batch.v, cap * sizeof *c->batch.v);
    c->batch.cap = cap;
    c->ser_cap = cap;
}

static int grow_series(struct vigil_collect *c, size_t need)
{
    if (need <= c->ser_cap) {
        return 0;
    }
    size_t cap = c->ser_cap ? c->ser_cap * 2 : 256;
    while (cap < need) {
        cap *= 2;
    }
    uint32_t *sf = vigil_realloc(c->ser_fam, cap * sizeof *sf);
    if (!sf) {
        return -ENOMEM;
    }
    c->ser_fam = sf;
    double *v = vigil_realloc(c->val, cap * sizeof *v);
    if (!v) {
        return -ENOMEM;
    }
    c->val = v;
    uint64_t *st = vigil_realloc(c->stamp, cap * sizeof *st);
    if (!st) {
        return -ENOMEM;
    }
    c->stamp = st;
    uint64_t *rel = vigil_realloc(c->rel, cap * sizeof *rel);
    if (!rel) {
        return -ENOMEM;
    }
    c->rel = rel;
    uint32_t *kl = vigil_realloc(c->key_len, cap * sizeof *kl);
    if (!kl) {
        return -ENOMEM;
    }
    c->key_len = kl;
    struct vigil_sample *b = vigil_realloc(c->batch.v, cap * sizeof *b);
    if (!b) {
        return -ENOMEM;
    }
    c->batch.v = b;
    c->batch.cap = cap;
    c->ser_cap = cap;
    return 0;
}

/* The # HELP and # TYPE lines of a family; HELP text escapes backslash and newline. */
static int family_meta(struct vigil_buf *b, const char *name, enum vigil_kind kind,
                       const char *help)
{
    int rc = vigil_buf_puts(b, "# HELP ");
    rc = rc ? rc : vigil_buf_puts(b, name);
    rc = rc ? rc : vigil_buf_append(b, " ", 1);
    const char *p = help;
    while (!rc && *p) {
        size_t run = strcspn(p, "\\\n");
        rc = vigil_buf_append(b, p, run);
        p += run;
        if (!rc && *p) {
            rc = vigil_buf_append(b, *p == '\\' ? "\\\\" : "\\n", 2);
            p++;
        }
    }
    rc = rc ? rc : vigil_buf_puts(b, "\n# TYPE ");
    rc = rc ? rc : vigil_buf_puts(b, name);
    return rc ? rc
              : vigil_buf_puts(b, kind == VIGIL_KIND_COUNTER ? " counter\n"
                                  : kind == VIGIL_KIND_GAUGE ? " gauge\n"
                                                             : " untyped\n");
}

static int family_for(struct vigil_collect *c, const char *name, enum vigil_kind kind,
                      const char *help, uint32_t *fid)
{
    size_t nl = strlen(name);
    if (vigil_series_find(&c->fam_names, name, nl, fid) == 0) {
        return 0;
    }
    /* Make room first so a failure leaves both tables unchanged. */
    if (c->fam_names.n + 1 > c->fam_cap) {
        size_t cap = c->fam_cap ? c->fam_cap * 2 : 64;
        struct family *f = vigil_realloc(c->fam, cap * sizeof *f);
        if (!f) {
            return -ENOMEM;
        }
        c->fam = f;
        c->fam_cap = cap;
    }
    /* Rendered once here, copied whole by every render. */
    size_t off = c->meta.len;
    int rc = family_meta(&c->meta, name, kind, help ? help : name);
    if (!rc && c->meta.len > UINT32_MAX) {
        rc = -E2BIG;
    }
    rc = rc ? rc : vigil_series_intern(&c->fam_names, name, nl, NULL, 0, fid);
    if (rc) {
        c->meta.len = off; /* the partial text goes */
        if (c->meta.p) {
            c->meta.p[off] = '\0';
        }
        return rc;
    }
    struct family *f = &c->fam[*fid];
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->meta_off = (uint32_t)off;
    f->meta_len = (uint32_t)(c->meta.len - off);
    /* The HELP text's newlines are escaped: its line ends at the first one. */
    const char *eol = memchr(c->meta.p + off, '\n', f->meta_len);
    f->help_len = eol ? (uint32_t)(eol + 1 - (c->meta.p + off)) : 0;
    return 0;
}

size_t vigil_collect_n_live(const struct vigil_collect *c)
{
    return c->series.n - c->series.n_holes;
}

/* Prometheus' name grammar: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, no ':' in label names. */
static int name_ok(const char *s, size_t n, int colon)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || (colon && ch == ':'))) {
            return 0;
        }
    }
    return 1;
}

int vigil_collect_intern(struct vigil_collect *c, const char *name,
                         const struct vigil_label_ref *labels, size_t n_labels,
                         enum vigil_kind kind, enum vigil_group group, const char *entity,
                         const char *help, uint32_t *id)
{
    /* Names come from the files read (netstat's header, sockstat's fields): a
     * name the exposition cannot carry would break every scrape. */
    if (!name_ok(name, strlen(name), 1)) {
        vigil_warn("collect: \"%.64s\" is not a Prometheus metric name: not exported", name);
        return VIGIL_EPARSE;
    }
    for (size_t i = 0; i < n_labels; i++) {
        if (!name_ok(labels[i].name, labels[i].name_len, 0)) {
            vigil_warn("collect: %s: label \"%.*s\" is not a Prometheus label name: not exported",
                       name, (int)(labels[i].name_len < 64 ? labels[i].name_len : 64),
                       labels[i].name);
            return VIGIL_EPARSE;
        }
    }
    size_t before = vigil_collect_n_live(c);
    if (before >= c->max_series) {
        /* The cap holds memory flat (docs/metrics.md); a series already held costs nothing. */
        int rc = vigil_series_lookup(&c->series, name, strlen(name), labels, n_labels, id);
        if (rc == 0) {
            c->rel[*id] = 0; /* held again if it was released */
        }
        return rc == -ENOENT ? -E2BIG : rc;
    }
    /* A hole, or an id past a trimmed end: either way one a series had before. */
    int reuse = c->series.n_holes > 0 || c->series.n < c->ids_seen;
    if (reuse && c->n_reused == c->cap_reused) {
        /* Room to report the reused id, made before anything changes. */
        size_t cap = c->cap_reused ? c->cap_reused * 2 : 64;
        uint32_t *r = vigil_realloc(c->reused, cap * sizeof *r);
        if (!r) {
            return -ENOMEM;
        }
        c->reused = r;
        c->cap_reused = cap;
    }
    uint32_t fid;
    int rc = family_for(c, name, kind, help, &fid);
    if (rc) {
        return rc;
    }
    struct family *f = &c->fam[fid];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        uint32_t *ids = vigil_realloc(f->ids, cap * sizeof *ids);
        if (!ids) {
            return -ENOMEM;
        }
        f->ids = ids;
        f->cap = cap;
    }
    if (grow_series(c, c->series.n + 1)) {
        return -ENOMEM;
    }
    rc = vigil_series_intern(&c->series, name, strlen(name), labels, n_labels, id);
    if (rc) {
        return rc;
    }
    if (vigil_collect_n_live(c) == before) {
        c->rel[*id] = 0; /* already known: held again if it was released */
        return 0;
    }
    struct vigil_series *s = &c->series.v[*id];
    s->kind = (uint8_t)kind;
    s->group = (uint8_t)group;
    if (entity && vigil_series_set_entity(s, entity)) {
        return -ENOMEM;
    }
    c->ser_fam[*id] = fid;
    c->key_len[*id] = (uint32_t)strlen(s->key);
    c->val[*id] = NAN;
    c->stamp[*id] = 0;
    c->rel[*id] = 0;
    f->ids[f->n++] = *id;
    c->gen++;
    if (reuse) {
        c->reused[c->n_reused++] = *id;
    }
    if (c->series.n > c->ids_seen) {
        c->ids_seen = c->series.n;
    }
    return 0;
}

void vigil_collect_release(struct vigil_collect *c, uint32_t id)
{
    if (!c->retire_ns || id >= c->series.n || c->ser_fam[id] == UINT32_MAX || c->rel[id]) {
        return; /* no retirement, unknown, retired, or already pending */
    }
    if (c->n_pend == c->cap_pend) {
        size_t cap = c->cap_pend ? c->cap_pend * 2 : 64;
        struct pending *p = vigil_realloc(c->pend, cap * sizeof *p);
        if (!p) {
            return; /* the series is kept; it may be released again later */
        }
        c->pend = p;
        c->cap_pend = cap;
    }
    c->rel[id] = c->cur + 1;
    c->pend[c->n_pend++] = (struct pending){id, c->rel[id], c->clock(c->clock_user)};
}

/* Takes series id out of its family and the table. Returns 0 or -ENOMEM (kept). */
static int retire(struct vigil_collect *c, uint32_t id)
{
    int rc = vigil_series_remove(&c->series, id);
    if (rc) {
        return rc;
    }
    struct family *f = &c->fam[c->ser_fam[id]];
    for (size_t k = 0; k < f->n; k++) {
        if (f->ids[k] == id) {
            memmove(f->ids + k, f->ids + k + 1, (f->n - k - 1) * sizeof *f->ids);
            f->n--;
            break;
        }
    }
    c->ser_fam[id] = UINT32_MAX;
    c->gen++;
    c->val[id] = NAN;
    c->stamp[id] = 0;
    c->rel[id] = 0;
    return 0;
}

/*
 * End of tick: retires the pending series whose grace period has passed.
 * A pending series interned again (rel reset) or emitted after its release
 * (someone still holds it) is dropped from the list and kept.
 */
static void retire_due(struct vigil_collect *c)
{
    int64_t now = c->clock(c->clock_user);
    size_t k = 0;
    for (size_t i = 0; i < c->n_pend; i++) {
        struct pending p = c->pend[i];
        if (c->rel[p.id] != p.rel) {
            continue; /* revived (and maybe released again: a newer entry exists) */
        }
        if (c->stamp[p.id] >= p.rel) {
            c->rel[p.id] = 0; /* emitted after release: still held */
            continue;
        }
        if (now - p.ns < c->retire_ns || retire(c, p.id) != 0) {
            c->pend[k++] = p; /* not yet due, or no memory to retire now */
        }
    }
    c->n_pend = k;
}

void vigil_collect_emit(struct vigil_collect_cx *cx, uint32_t id, double value)
{
    struct vigil_collect *c = cx->set;
    if (id >= c->series.n || c->stamp[id] == c->cur || c->ser_fam[id] == UINT32_MAX ||
        c->batch.n == c->batch.cap) {
        return;
    }
    c->stamp[id] = c->cur;
    c->val[id] = value;
    c->batch.v[c->batch.n++] = (struct vigil_sample){id, value};
}

void vigil_collect_fail(struct vigil_collect_cx *cx, const char *what, int rc)
{
    struct vigil_collector *col = cx->self;
    col->errors++;
    col->failed_this_tick = 1;
    if (!col->warned) {
        col->warned = 1;
        vigil_warn("%s: %s: %s", col->ops->name, what, vigil_strerror(rc));
    }
}

/* ---- start, tick, free ---- */

/*
 * Lays the families and their series out in render order (see struct
 * vigil_collect). Without memory for it the layout stays stale and renders
 * walk the families instead.
 */
static void layout_build(struct vigil_collect *c)
{
    c->lay_gen = 0;
    size_t need = c->fam_names.n + vigil_collect_n_live(c);
    if (c->cap_lay > 256 && c->cap_lay / 2 > need) { /* after a burst of series */
        c->lay = vigil_shrink(c->lay, need * sizeof *c->lay);
        c->cap_lay = need;
    }
    if (need > c->cap_lay) {
        size_t cap = c->cap_lay ? c->cap_lay : 256;
        while (cap < need) {
            cap *= 2;
        }
        struct lay_ent *l = vigil_realloc(c->lay, cap * sizeof *l);
        if (!l) {
            return;
        }
        c->lay = l;
        c->cap_lay = cap;
    }
    vigil_buf_reset(&c->lay_keys);
    size_t n = 0;
    for (size_t fi = 0; fi < c->fam_names.n; fi++) {
        const struct family *f = &c->fam[fi];
        if (!f->n) {
            continue;
        }
        c->lay[n++] = (struct lay_ent){LAY_FAMILY, (uint32_t)fi, f->meta_off, f->meta_len};
        for (size_t k = 0; k < f->n; k++) {
            uint32_t id = f->ids[k];
            size_t off = c->lay_keys.len;
            if (vigil_buf_append(&c->lay_keys, c->series.v[id].key, c->key_len[id]) ||
                vigil_buf_append(&c->lay_keys, " ", 1) || c->lay_keys.len > UINT32_MAX) {
                return;
            }
            c->lay[n++] = (struct lay_ent){id, (uint32_t)fi, (uint32_t)off, c->key_len[id] + 1};
        }
    }
    c->n_lay = n;
    c->lay_gen = c->gen;
    vigil_buf_fit(&c->lay_keys, c->lay_keys.len);
}

int vigil_collect_start(struct vigil_collect *c, struct vigil_diag *diag)
{
    size_t n_on = 0;
    for (size_t i = 0; i < c->n_col; i++) {
        struct vigil_collector *col = &c->col[i];
        if (!listed(c->list, col->ops)) {
            continue;
        }
        int rc = col->ops->init(col, c, c->root, col->params);
        if (rc == VIGIL_ENOTSUP) {
            vigil_info("%s: source not present under %s, collector off", col->ops->name,
                       c->root[0] ? c->root : "/");
            col->ops->fini(col);
            continue;
        }
        if (rc) {
            col->ops->fini(col);
            vigil_diag_set(diag, 0, 0, "collector %s: %s", col->ops->name, vigil_strerror(rc));
            return rc;
        }
        col->on = 1;
        n_on++;
        struct vigil_label_ref l = {"collector", 9, col->ops->name, strlen(col->ops->name)};
        rc = vigil_collect_intern(c, "vigil_collect_errors_total", &l, 1, VIGIL_KIND_COUNTER,
                                  VIGIL_GROUP_OTHER, NULL,
                                  "Sources a collector could not read, by collector.",
                                  &col->id_errors);
        rc = rc ? rc
                : vigil_collect_intern(c, "vigil_collect_duration_seconds", &l, 1,
                                       VIGIL_KIND_GAUGE, VIGIL_GROUP_OTHER, NULL,
                                       "Time the last tick spent in a collector.",
                                       &col->id_duration);
        if (rc) {
            vigil_diag_set(diag, 0, 0, "collector %s: %s", col->ops->name, vigil_strerror(rc));
            return rc;
        }
    }
    c->started = 1;
    if (!n_on) {
        vigil_diag_set(diag, 0, 0, "no collector could start under %s",
                       c->root[0] ? c->root : "/");
        return VIGIL_EEMPTY;
    }
    return vigil_collect_intern(c, "vigil_collect_series", NULL, 0, VIGIL_KIND_GAUGE,
                                VIGIL_GROUP_OTHER, NULL, "Series known to the collector.",
                                &c->id_series);
}

void vigil__psi_sys_put(struct vigil_collect_cx *cx, int res, const double v[2], unsigned have)
{
    struct vigil_collect *c = cx->set;
    c->psi_sys[res].tick = cx->tick + 1;
    c->psi_sys[res].v[0] = v[0];
    c->psi_sys[res].v[1] = v[1];
    c->psi_sys[res].have = have;
}

int vigil__psi_sys_get(const struct vigil_collect_cx *cx, int res, double v[2], unsigned *have)
{
    const struct vigil_collect *c = cx->set;
    if (c->psi_sys[res].tick != cx->tick + 1) {
        return 0;
    }
    v[0] = c->psi_sys[res].v[0];
    v[1] = c->psi_sys[res].v[1];
    *have = c->psi_sys[res].have;
    return 1;
}

int vigil_collect_tick(struct vigil_collect *c, const struct vigil_sample_batch **out)
{
    int64_t now = c->clock(c->clock_user);
    struct vigil_collect_cx cx = {
        .set = c,
        .root = c->root,
        .tick = c->cur,
        .rescan = c->cur == 0 || now - c->last_rescan >= c->rescan_ns,
        .now = now,
    };
    if (cx.rescan) {
        c->last_rescan = now;
    }
    c->cur++;
    c->n_reused = 0;
    c->batch.n = 0;
    c->batch.tick = cx.tick;
    c->batch.ts_ns = vigil_clock_wall_ns();
    int rc = 0;
    for (size_t i = 0; i < c->n_col; i++) {
        struct vigil_collector *col = &c->col[i];
        if (!col->on) {
            continue;
        }
        cx.self = col;
        col->failed_this_tick = 0;
        int64_t t0 = vigil_clock_mono_ns();
        int r = col->ops->collect(col, &cx);
        if (r == -ENOMEM) {
            rc = r;
        } else if (r < 0) {
            vigil_collect_fail(&cx, "collect", r);
        }
        if (!col->failed_this_tick) {
            col->warned = 0;
        }
        vigil_collect_emit(&cx, col->id_duration, (double)(vigil_clock_mono_ns() - t0) / 1e9);
        vigil_collect_emit(&cx, col->id_errors, (double)col->errors);
    }
    if (rc == -ENOMEM && cx.rescan) {
        c->last_rescan = now - c->rescan_ns; /* a discovery cut short is done again next tick */
    }
    if (c->n_pend) {
        retire_due(c);
        /* Series that came last and went: the table and its arrays back to what is left. */
        if (c->series.n_holes && !c->series.v[c->series.n - 1].key) {
            shrink_series(c, vigil_series_trim(&c->series));
        }
    }
    vigil_collect_emit(&cx, c->id_series, (double)vigil_collect_n_live(c));
    if (c->lay_gen != c->gen) {
        layout_build(c);
    }
    *out = &c->batch;
    return rc;
}

const uint32_t *vigil_collect_reused(const struct vigil_collect *c, size_t *n)
{
    *n = c->n_reused;
    return c->reused;
}

const struct vigil_series_table *vigil_collect_series(const struct vigil_collect *c)
{
    return &c->series;
}

size_t vigil_collect_n_collectors(const struct vigil_collect *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_col; i++) {
        n += c->col[i].on;
    }
    return n;
}

const struct vigil_collector *vigil_collect_collector(const struct vigil_collect *c, size_t i)
{
    for (size_t j = 0; j < c->n_col; j++) {
        if (c->col[j].on && i-- == 0) {
            return &c->col[j];
        }
    }
    return NULL;
}

void vigil_collect_free(struct vigil_collect *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; c->col && i < c->n_col; i++) {
        struct vigil_collector *col = &c->col[i];
        if (col->on) {
            col->ops->fini(col);
        }
        if (col->params && col->ops->opts) {
            vigil_opt_free(col->ops->opts, col->params);
        }
        vigil_free(col->params);
    }
    vigil_free(c->col);
    for (size_t i = 0; i < c->fam_names.n; i++) {
        vigil_free(c->fam[i].ids);
    }
    vigil_free(c->fam);
    vigil_buf_fini(&c->meta);
    vigil_free(c->lay);
    vigil_buf_fini(&c->lay_keys);
    vigil_series_table_fini(&c->fam_names);
    vigil_series_table_fini(&c->series);
    vigil_free(c->ser_fam);
    vigil_free(c->val);
    vigil_free(c->stamp);
    vigil_free(c->key_len);
    vigil_free(c->rel);
    vigil_free(c->pend);
    vigil_free(c->reused);
    vigil_free(c->batch.v);
    vigil_free(c->root);
    vigil_free(c->list);
    vigil_free(c);
}

/* ---- rendering ---- */

/* Two digits at a time, from the right: one division by 100 per pair. */
static size_t fmt_u64(char *out, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10) {
        n++;
    }
    char *p = out + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * r, 2);
    }
    if (v >= 10) {
        memcpy(p - 2, pairs + 2 * v, 2);
    } else {
        p[-1] = (char)('0' + v);
    }
    return n;
}

/*
 * What the %.15g..%.17g loop of vigil_fmt_value prints for a double of at
 * least 2^53 and below 1e19 (all such doubles are integers, q exactly), from
 * integer arithmetic: printf and strtod of a double cost a microsecond
 * each, and the limits cgroups report ("no limit" is 2^63 - 4096) are such
 * values. %.Pg rounds q's exact digits half to even (a tie never decides
 * the text: where one occurs, neither rounding reads back as q).
 */
static size_t fmt_big_integral(char *out, uint64_t q)
{
    char d[24];
    size_t len = fmt_u64(d, q); /* 16..19 digits */
    for (size_t prec = 15; prec <= 17; prec++) {
        uint64_t r = q;
        if (prec < len) {
            uint64_t p10 = 1;
            for (size_t i = prec; i < len; i++) {
                p10 *= 10;
            }
            uint64_t rem = q % p10, half = p10 / 2;
            r = q - rem;
            if (rem > half || (rem == half && (q / p10) % 2)) {
                r += p10; /* at most 1e19: no overflow */
            }
        }
        if (prec < 17 && (double)r != (double)q) {
            continue; /* does not read back: one more digit */
        }
        char s[24];
        size_t sl = fmt_u64(s, r);
        if (sl - 1 < prec) {
            memcpy(out, s, sl); /* %g prints an exponent below P without one */
            out[sl] = '\0';
            return sl;
        }
        size_t sig = prec < sl ? prec : sl;
        while (sig > 1 && s[sig - 1] == '0') {
            sig--;
        }
        size_t n = 0;
        out[n++] = s[0];
        if (sig > 1) {
            out[n++] = '.';
            memcpy(out + n, s + 1, sig - 1);
            n += sig - 1;
        }
        out[n++] = 'e';
        out[n++] = '+';
        n += fmt_u64(out + n, (uint64_t)(sl - 1)); /* 15..19: two digits */
        out[n] = '\0';
        return n;
    }
    return 0;
}

size_t vigil_fmt_value(char *out, double v)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    size_t n = 0;
    double a = v;
    if (v < 0) {
        out[n++] = '-';
        a = -v;
    }
    /* Integers below 2^53 print exactly as integers. */
    if (a < 9007199254740992.0 && a == (double)(uint64_t)a) {
        n += fmt_u64(out + n, (uint64_t)a);
        out[n] = '\0';
        return n;
    }
    /*
     * Most other values are an integer count divided by a power of ten
     * (ticks / 100, ms / 1000): when a 9-digit fixed-point form reads back to
     * the same double, print it with trailing zeros trimmed.
     */
    if (a < 9.0e9) {
        double scaled = a * 1e9;
        uint64_t q = (uint64_t)(scaled + 0.5);
        if ((double)q / 1e9 == a) {
            uint64_t ip = q / 1000000000u, fp = q % 1000000000u;
            n += fmt_u64(out + n, ip);
            if (fp) {
                char d[9];
                for (int i = 8; i >= 0; i--) {
                    d[i] = (char)('0' + fp % 10);
                    fp /= 10;
                }
                int last = 8;
                while (d[last] == '0') {
                    last--;
                }
                out[n++] = '.';
                memcpy(out + n, d, (size_t)last + 1);
                n += (size_t)last + 1;
            }
            out[n] = '\0';
            return n;
        }
    }
    if (a >= 9007199254740992.0 && a < 1e19) {
        return n + fmt_big_integral(out + n, (uint64_t)a);
    }
    /* Shortest of %.15g..%.17g that reads back exactly. */
    for (int prec = 15; prec <= 17; prec++) {
        int k = snprintf(out, 32, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v) {
            return (size_t)k;
        }
    }
    return 0;
}

/* The bytes one sample line adds to its key: value (at most 24), timestamp, newline. */
#define LINE_EXTRA 64

/* " <tick time in ms>" with VIGIL_RENDER_TIMESTAMPS, else nothing. Returns its length. */
static size_t render_ts(const struct vigil_collect *c, unsigned flags, char ts[32])
{
    if (!(flags & VIGIL_RENDER_TIMESTAMPS)) {
        return 0;
    }
    ts[0] = ' ';
    return 1 + fmt_u64(ts + 1, (uint64_t)(c->batch.ts_ns / 1000000));
}

int vigil__collect_render_walk(struct vigil_collect *c, struct vigil_buf *out, unsigned flags)
{
    char ts[32];
    size_t ts_len = render_ts(c, flags, ts);
    for (size_t fi = 0; fi < c->fam_names.n; fi++) {
        struct family *f = &c->fam[fi];
        int meta = !(flags & VIGIL_RENDER_META_ONCE) || !f->meta_done;
        int any = 0;
        for (size_t k = 0; k < f->n; k++) {
            uint32_t id = f->ids[k];
            if (c->stamp[id] != c->cur || c->cur == 0) {
                continue;
            }
            const struct vigil_series *s = &c->series.v[id];
            if (!any && meta) {
                uint32_t skip = (flags & VIGIL_RENDER_NO_HELP) ? f->help_len : 0;
                if (vigil_buf_append(out, c->meta.p + f->meta_off + skip, f->meta_len - skip)) {
                    return -ENOMEM;
                }
                if (flags & VIGIL_RENDER_META_ONCE) {
                    f->meta_done = 1;
                }
            }
            any = 1;
            size_t kl = c->key_len[id];
            if (vigil_buf_reserve(out, kl + LINE_EXTRA)) {
                return -ENOMEM;
            }
            char *p = out->p + out->len;
            memcpy(p, s->key, kl);
            p[kl] = ' ';
            size_t n = kl + 1;
            n += vigil_fmt_value(p + n, c->val[id]);
            memcpy(p + n, ts, ts_len);
            n += ts_len;
            p[n++] = '\n';
            out->len += n;
            out->p[out->len] = '\0';
        }
    }
    return 0;
}

int vigil_collect_render(struct vigil_collect *c, struct vigil_buf *out, unsigned flags)
{
    if (c->lay_gen != c->gen || !c->lay_gen) {
        return vigil__collect_render_walk(c, out, flags);
    }
    char ts[32];
    size_t ts_len = render_ts(c, flags, ts);
    /* Room for everything at once: the loop below writes without checks. */
    size_t most = c->meta.len + c->lay_keys.len + (c->n_lay * LINE_EXTRA);
    if (flags & VIGIL_RENDER_FIT) {
        vigil_buf_fit(out, most); /* after churn: not the capacity of its peak */
    }
    if (vigil_buf_reserve(out, most)) {
        return -ENOMEM;
    }
    const struct lay_ent *fam = NULL; /* the family whose # lines are still to come */
    char *p = out->p + out->len;
    for (size_t i = 0; i < c->n_lay; i++) {
        const struct lay_ent *e = &c->lay[i];
        if (e->id == LAY_FAMILY) {
            fam = (flags & VIGIL_RENDER_META_ONCE) && c->fam[e->fid].meta_done ? NULL : e;
            continue;
        }
        if (c->stamp[e->id] != c->cur) {
            continue;
        }
        if (fam) {
            uint32_t skip = (flags & VIGIL_RENDER_NO_HELP) ? c->fam[fam->fid].help_len : 0;
            memcpy(p, c->meta.p + fam->off + skip, fam->len - skip);
            p += fam->len - skip;
            if (flags & VIGIL_RENDER_META_ONCE) {
                c->fam[fam->fid].meta_done = 1;
            }
            fam = NULL;
        }
        memcpy(p, c->lay_keys.p + e->off, e->len);
        p += e->len;
        p += vigil_fmt_value(p, c->val[e->id]);
        memcpy(p, ts, ts_len);
        p += ts_len;
        *p++ = '\n';
    }
    out->len = (size_t)(p - out->p);
    out->p[out->len] = '\0';
    return 0;
}
