/*
 * Series interning. A series is identified by its canonical key text,
 * name{a="x",b="y"} with labels sorted by name and values escaped as in the
 * Prometheus exposition format; the hash index maps that key to a dense id.
 * The index is open addressing with linear probing; removal shifts the probe
 * chain back (no tombstones), and removed ids are reused by later interns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/buf.h"
#include "vigil/mem.h"
#include "vigil/series.h"

static const char *const kind_names[] = {"unknown", "counter", "gauge"};
static const char *const group_names[] = {"cpu", "memory", "network", "filesystem", "other"};

const char *vigil_kind_name(enum vigil_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "unknown";
}

const char *vigil_group_name(enum vigil_group g)
{
    return (unsigned)g < VIGIL_GROUP_COUNT ? group_names[g] : "other";
}

int vigil_group_parse(const char *name)
{
    for (int i = 0; i < VIGIL_GROUP_COUNT; i++) {
        if (strcmp(name, group_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void vigil_series_table_init(struct vigil_series_table *t)
{
    memset(t, 0, sizeof *t);
}

/* A series' strings and label array are one block (series_pack); its entity is apart. */
static void series_fini(struct vigil_series *s)
{
    vigil_free(s->n_labels ? (void *)s->labels : s->key);
    vigil_free(s->entity);
}

static char *put_str(char **p, const char *src, size_t n)
{
    char *s = *p;
    if (n) {
        memcpy(s, src, n);
    }
    s[n] = '\0';
    *p += n + 1;
    return s;
}

/*
 * Makes s's block: the label array, then the key, the name and each label's
 * name and value, NUL-terminated. One allocation a series instead of one
 * per string (six for a series of one label): what malloc adds to each
 * small block (header, rounding) was more than the text itself. Returns 0
 * or -ENOMEM (s untouched).
 */
static int series_pack(struct vigil_series *s, const char *key, size_t key_len, const char *name,
                       size_t name_len, const struct vigil_label_ref *sorted, size_t n)
{
    size_t size = n * sizeof(struct vigil_label) + key_len + 1 + name_len + 1;
    for (size_t i = 0; i < n; i++) {
        size += sorted[i].name_len + 1 + sorted[i].value_len + 1;
    }
    char *block = vigil_malloc(size);
    if (!block) {
        return -ENOMEM;
    }
    struct vigil_label *labels = n ? (struct vigil_label *)(void *)block : NULL;
    char *p = block + n * sizeof(struct vigil_label);
    s->key = put_str(&p, key, key_len);
    s->name = put_str(&p, name, name_len);
    for (size_t i = 0; i < n; i++) {
        labels[i].name = put_str(&p, sorted[i].name, sorted[i].name_len);
        labels[i].value = put_str(&p, sorted[i].value, sorted[i].value_len);
    }
    s->labels = labels;
    s->n_labels = n;
    return 0;
}

void vigil_series_table_fini(struct vigil_series_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        series_fini(&t->v[i]);
    }
    vigil_free(t->v);
    vigil_free(t->slots);
    vigil_free(t->holes);
    memset(t, 0, sizeof *t);
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int vigil_series_find(const struct vigil_series_table *t, const char *key, size_t n, uint32_t *id)
{
    if (!t->n_slots) {
        return -ENOENT;
    }
    size_t mask = t->n_slots - 1;
    for (size_t i = hash_bytes(key, n) & mask;; i = (i + 1) & mask) {
        uint32_t s = t->slots[i];
        if (s == 0) {
            return -ENOENT;
        }
        const char *k = t->v[s - 1].key;
        if (strlen(k) == n && memcmp(k, key, n) == 0) {
            *id = s - 1;
            return 0;
        }
    }
}

static int rehash(struct vigil_series_table *t, size_t n_slots)
{
    uint32_t *slots = vigil_calloc(n_slots, sizeof *slots);
    if (!slots) {
        return -ENOMEM;
    }
    for (size_t id = 0; id < t->n; id++) {
        const char *k = t->v[id].key;
        if (!k) {
            continue; /* a hole */
        }
        size_t i = hash_bytes(k, strlen(k)) & (n_slots - 1);
        while (slots[i]) {
            i = (i + 1) & (n_slots - 1);
        }
        slots[i] = (uint32_t)id + 1;
    }
    vigil_free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return 0;
}

static int cmp_label_ref(const void *a, const void *b)
{
    const struct vigil_label_ref *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Appends a label value with exposition-format escapes (\\, \", \n). */
static int append_escaped(struct vigil_buf *b, const char *p, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (p[i] == '\\') {
            rc = vigil_buf_append(b, "\\\\", 2);
        } else if (p[i] == '"') {
            rc = vigil_buf_append(b, "\\\"", 2);
        } else if (p[i] == '\n') {
            rc = vigil_buf_append(b, "\\n", 2);
        } else {
            rc = vigil_buf_append(b, p + i, 1);
        }
    }
    return rc;
}

#define LABELS_MAX 64

/*
 * Builds the canonical key of name + labels into key (labels sorted by name
 * into sorted). Returns 0, VIGIL_EPARSE (a label twice, a NUL in the name or a
 * value, which the text format's keys and C strings cannot carry) or
 * -E2BIG / -ENOMEM; key is empty on error.
 */
static int build_key(const char *name, size_t name_len, const struct vigil_label_ref *labels,
                     size_t n_labels, struct vigil_label_ref *sorted, struct vigil_buf *key)
{
    if (n_labels > LABELS_MAX) {
        return -E2BIG;
    }
    if (name_len && memchr(name, '\0', name_len)) {
        return VIGIL_EPARSE;
    }
    if (n_labels) {
        memcpy(sorted, labels, n_labels * sizeof *labels);
        qsort(sorted, n_labels, sizeof *sorted, cmp_label_ref);
        for (size_t i = 0; i < n_labels; i++) {
            if ((i && cmp_label_ref(&sorted[i - 1], &sorted[i]) == 0) ||
                (sorted[i].value_len && memchr(sorted[i].value, '\0', sorted[i].value_len))) {
                return VIGIL_EPARSE;
            }
        }
    }
    int rc = vigil_buf_append(key, name, name_len);
    if (!rc && n_labels) {
        rc = vigil_buf_append(key, "{", 1);
        for (size_t i = 0; i < n_labels && !rc; i++) {
            if (i) {
                rc = vigil_buf_append(key, ",", 1);
            }
            rc = rc ? rc : vigil_buf_append(key, sorted[i].name, sorted[i].name_len);
            rc = rc ? rc : vigil_buf_append(key, "=\"", 2);
            rc = rc ? rc : append_escaped(key, sorted[i].value, sorted[i].value_len);
            rc = rc ? rc : vigil_buf_append(key, "\"", 1);
        }
        rc = rc ? rc : vigil_buf_append(key, "}", 1);
    }
    if (!rc && !key->p) {
        rc = vigil_buf_append(key, "", 0);
    }
    if (rc) {
        vigil_buf_fini(key);
    }
    return rc;
}

int vigil_series_lookup(const struct vigil_series_table *t, const char *name, size_t name_len,
                        const struct vigil_label_ref *labels, size_t n_labels, uint32_t *id)
{
    struct vigil_label_ref sorted[LABELS_MAX];
    struct vigil_buf key;
    vigil_buf_init(&key);
    int rc = build_key(name, name_len, labels, n_labels, sorted, &key);
    if (!rc) {
        rc = vigil_series_find(t, key.p, key.len, id);
    }
    vigil_buf_fini(&key);
    return rc;
}

int vigil_series_intern(struct vigil_series_table *t, const char *name, size_t name_len,
                        const struct vigil_label_ref *labels, size_t n_labels, uint32_t *id)
{
    struct vigil_label_ref sorted[LABELS_MAX];
    struct vigil_buf key;
    vigil_buf_init(&key);
    int rc = build_key(name, name_len, labels, n_labels, sorted, &key);
    if (rc) {
        return rc;
    }
    if (vigil_series_find(t, key.p, key.len, id) == 0) {
        vigil_buf_fini(&key);
        return 0;
    }
    int reuse = t->n_holes > 0;
    if (!reuse && t->n >= UINT32_MAX - 1) {
        vigil_buf_fini(&key);
        return -E2BIG;
    }
    if ((t->n + 1) * 2 > t->n_slots) {
        rc = rehash(t, t->n_slots ? t->n_slots * 2 : 64);
    }
    if (!rc && !reuse && t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct vigil_series *v = vigil_realloc(t->v, cap * sizeof *v);
        if (!v) {
            rc = -ENOMEM;
        } else {
            t->v = v;
            t->cap = cap;
        }
    }
    struct vigil_series s = {0};
    if (!rc) {
        rc = series_pack(&s, key.p, key.len, name, name_len, sorted, n_labels);
    }
    vigil_buf_fini(&key);
    if (rc) {
        return rc;
    }
    uint32_t nid = reuse ? t->holes[--t->n_holes] : (uint32_t)t->n++;
    t->v[nid] = s;
    size_t mask = t->n_slots - 1;
    size_t i = hash_bytes(s.key, strlen(s.key)) & mask;
    while (t->slots[i]) {
        i = (i + 1) & mask;
    }
    t->slots[i] = nid + 1;
    *id = nid;
    return 0;
}

int vigil_series_remove(struct vigil_series_table *t, uint32_t id)
{
    if (id >= t->n || !t->v[id].key) {
        return -ENOENT;
    }
    if (t->n_holes == t->cap_holes) {
        size_t cap = t->cap_holes ? t->cap_holes * 2 : 16;
        uint32_t *h = vigil_realloc(t->holes, cap * sizeof *h);
        if (!h) {
            return -ENOMEM;
        }
        t->holes = h;
        t->cap_holes = cap;
    }
    size_t mask = t->n_slots - 1;
    const char *k = t->v[id].key;
    size_t i = hash_bytes(k, strlen(k)) & mask;
    while (t->slots[i] != id + 1) {
        i = (i + 1) & mask; /* the key is indexed, so this ends */
    }
    /*
     * Backward-shift deletion: walk the probe chain after the emptied slot
     * and move back every entry whose home slot does not lie cyclically in
     * (i, j], so every remaining key stays reachable from its home.
     */
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        const char *kj = t->v[t->slots[j] - 1].key;
        size_t home = hash_bytes(kj, strlen(kj)) & mask;
        int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = 0;
    series_fini(&t->v[id]);
    memset(&t->v[id], 0, sizeof t->v[id]);
    t->holes[t->n_holes++] = id;
    return 0;
}

size_t vigil_series_trim(struct vigil_series_table *t)
{
    size_t n = t->n;
    while (n && !t->v[n - 1].key) {
        n--;
    }
    if (n == t->n) {
        return n;
    }
    size_t kept = 0;
    for (size_t i = 0; i < t->n_holes; i++) {
        if (t->holes[i] < n) {
            t->holes[kept++] = t->holes[i];
        }
    }
    t->n_holes = kept;
    t->n = n;
    size_t cap = 32; /* as intern grows it: doubling from 32 */
    while (cap < n) {
        cap *= 2;
    }
    if (t->cap > cap) {
        t->v = vigil_shrink(t->v, cap * sizeof *t->v);
        t->cap = cap;
    }
    if (t->cap_holes > 16 && t->cap_holes / 4 > kept) {
        t->cap_holes = kept > 8 ? 2 * kept : 16;
        t->holes = vigil_shrink(t->holes, t->cap_holes * sizeof *t->holes);
    }
    /* The index at most half full after the next intern, as intern keeps it. */
    size_t slots = 64;
    while (slots < 2 * (n + 1)) {
        slots *= 2;
    }
    if (t->n_slots > slots) {
        rehash(t, slots); /* on failure the larger index stays valid */
    }
    return n;
}

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/*
 * Parses name{a="x",...}. Returns 0 with refs filled (values still escaped in
 * place, unescaped into scratch), or -1 when p is not series text.
 */
static int parse_series_text(const char *p, size_t n, size_t *name_len,
                             struct vigil_label_ref *refs, size_t *n_refs, char *scratch,
                             size_t scratch_cap)
{
    size_t i = 0;
    if (n == 0 || !is_name_start(p[0])) {
        return -1;
    }
    while (i < n && is_name_char(p[i])) {
        i++;
    }
    *name_len = i;
    *n_refs = 0;
    if (i == n) {
        return 0;
    }
    if (p[i] != '{' || p[n - 1] != '}') {
        return -1;
    }
    i++;
    size_t used = 0;
    while (i < n - 1) {
        size_t ns = i;
        if (!is_name_start(p[i])) {
            return -1;
        }
        while (i < n && is_name_char(p[i])) {
            i++;
        }
        size_t ne = i;
        if (i + 1 >= n || p[i] != '=' || p[i + 1] != '"') {
            return -1;
        }
        i += 2;
        size_t vs = used;
        while (i < n - 1 && p[i] != '"') {
            char c = p[i];
            if (c == '\\' && i + 1 < n - 1) {
                i++;
                c = p[i] == 'n' ? '\n' : p[i];
            }
            if (used == scratch_cap) {
                return -1;
            }
            scratch[used++] = c;
            i++;
        }
        if (i >= n - 1 || *n_refs == LABELS_MAX) {
            return -1;
        }
        refs[(*n_refs)++] = (struct vigil_label_ref){p + ns, ne - ns, scratch + vs, used - vs};
        i++; /* closing quote */
        if (i < n - 1 && p[i] == ',') {
            i++;
        }
    }
    return 0;
}

int vigil_series_intern_text(struct vigil_series_table *t, const char *p, size_t n, uint32_t *id)
{
    struct vigil_label_ref refs[LABELS_MAX];
    size_t name_len, n_refs;
    char *scratch = vigil_malloc(n + 1);
    if (!scratch) {
        return -ENOMEM;
    }
    int rc;
    if (parse_series_text(p, n, &name_len, refs, &n_refs, scratch, n + 1) == 0) {
        rc = vigil_series_intern(t, p, name_len, refs, n_refs, id);
        if (rc == VIGIL_EPARSE) {
            rc = vigil_series_intern(t, p, n, NULL, 0, id); /* duplicate labels: keep as text */
        }
    } else {
        rc = vigil_series_intern(t, p, n, NULL, 0, id);
    }
    vigil_free(scratch);
    return rc;
}

const struct vigil_series *vigil_series_get(const struct vigil_series_table *t, uint32_t id)
{
    return id < t->n && t->v[id].key ? &t->v[id] : NULL;
}

const char *vigil_series_label(const struct vigil_series *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        if (strcmp(s->labels[i].name, name) == 0) {
            return s->labels[i].value;
        }
    }
    return NULL;
}

int vigil_series_set_entity(struct vigil_series *s, const char *entity)
{
    char *e = NULL;
    if (entity) {
        e = vigil_strdup(entity);
        if (!e) {
            return -ENOMEM;
        }
    }
    vigil_free(s->entity);
    s->entity = e;
    return 0;
}
