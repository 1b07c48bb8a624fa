/*
 * Files opened once and re-read every tick, in netdata's procfile style: one
 * descriptor and one buffer per file, pread from offset 0 until it returns 0.
 * For seq_file sources (/proc/stat, cgroup files) a read at offset 0 restarts
 * the iterator cheaply and the final zero-length read costs no regeneration.
 * The buffer doubles only when the content outgrows it, so a stable source is
 * read without allocation. Also the bounded number parsers and the row map.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/mem.h"

void vigil__pfile_init(struct vigil__pfile *f)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

int vigil__path(char *out, size_t n, const char *root, const char *rel)
{
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/') {
        rl--;
    }
    while (*rel == '/') {
        rel++;
    }
    size_t ll = strlen(rel);
    if (rl + 1 + ll + 1 > n) {
        return -ENAMETOOLONG;
    }
    memcpy(out, root, rl);
    out[rl] = '/';
    memcpy(out + rl + 1, rel, ll + 1);
    return 0;
}

int vigil__pfile_open(struct vigil__pfile *f, const char *root, const char *rel)
{
    char path[4096];
    int rc = vigil__path(path, sizeof path, root, rel);
    if (rc) {
        return rc;
    }
    if (!f->path || strcmp(f->path, path) != 0) {
        char *p = vigil_strdup(path);
        if (!p) {
            return -ENOMEM;
        }
        vigil_free(f->path);
        f->path = p;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    return f->fd < 0 ? -errno : 0;
}

static int absent(int rc)
{
    return rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES || rc == -EOPNOTSUPP;
}

int vigil__pfile_open_opt(struct vigil__pfile *f, const char *root, const char *rel)
{
    int rc = vigil__pfile_open(f, root, rel);
    if (rc && absent(rc)) {
        vigil__pfile_close(f);
        return 0;
    }
    return rc ? rc : 1;
}

int vigil__pfile_open_src(struct vigil__pfile *f, const char *root, const char *rel)
{
    int rc = vigil__pfile_open_opt(f, root, rel);
    return rc == 0 ? VIGIL_ENOTSUP : rc < 0 ? rc : 0;
}

/*
 * First 512 bytes, then doubling at the first reads: most sources (loadavg,
 * PSI, a cgroup's memory.current or cpu.stat) are a few hundred bytes, and
 * 40 buffers of 4 KB each held a resident page apiece.
 */
static int grow(struct vigil__pfile *f)
{
    size_t cap = f->cap ? f->cap * 2 : 512;
    if (cap > VIGIL__PFILE_MAX) {
        return -EFBIG;
    }
    char *b = vigil_realloc(f->buf, cap + 1);
    if (!b) {
        return -ENOMEM;
    }
    f->buf = b;
    f->cap = cap;
    return 0;
}

int vigil__pfile_read(struct vigil__pfile *f)
{
    if (f->fd < 0) {
        if (!f->path) {
            return -EBADF;
        }
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0) {
            return -errno;
        }
    }
    if (!f->buf) {
        int rc = grow(f);
        if (rc) {
            return rc;
        }
    }
    size_t n = 0;
    for (;;) {
        if (n == f->cap) {
            int rc = grow(f);
            if (rc) {
                f->len = 0;
                return rc;
            }
        }
        ssize_t r = pread(f->fd, f->buf + n, f->cap - n, (off_t)n);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            int rc = -errno;
            f->len = 0;
            f->buf[0] = '\0';
            return rc;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
        /*
         * A short read well under a page is the whole file: seq_file returns
         * short only when the next record does not fit in the rest of its
         * page-sized buffer, so with records under 1 KiB a read short of 3
         * KiB ends the file; single-record files (cgroup, sysctl, /proc/stat)
         * come whole, and a regular file reads short only at its end.
         * Skipping the zero-length confirmation read halves the syscalls per
         * tick. A single_open file (f->whole) is shown in one piece, so any
         * short read of it is the whole file, however long. A file whose
         * records can be longer (f->to_eof: a mount line with a long path or
         * overlay options) is read until pread returns 0.
         */
        if (!f->to_eof && n < f->cap && (n < VIGIL__PFILE_SHORT || f->whole)) {
            break;
        }
    }
    f->len = n;
    f->buf[n] = '\0';
    return 0;
}

void vigil__pfile_close(struct vigil__pfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    vigil_free(f->path);
    vigil_free(f->buf);
    vigil__pfile_init(f);
}

/* ---- parsing ---- */

const char *vigil__pf_u64(const char *p, const char *end, uint64_t *v)
{
    p = vigil__skip_blanks(p, end);
    if (p >= end || *p < '0' || *p > '9') {
        return NULL;
    }
    /* 19 digits cannot pass UINT64_MAX (20 digits): only the 20th is checked. */
    const char *safe = end - p > 19 ? p + 19 : end;
    uint64_t x = 0;
    while (p < safe && (unsigned)(*p - '0') <= 9) {
        x = x * 10 + (unsigned)(*p - '0');
        p++;
    }
    while (p < end && (unsigned)(*p - '0') <= 9) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10) {
            return NULL;
        }
        x = x * 10 + d;
        p++;
    }
    *v = x;
    return p;
}

const char *vigil__pf_i64(const char *p, const char *end, int64_t *v)
{
    p = vigil__skip_blanks(p, end);
    int neg = p < end && *p == '-';
    uint64_t x;
    const char *q = vigil__pf_u64(p + neg, end, &x);
    if (!q || x > (uint64_t)INT64_MAX) {
        return NULL;
    }
    *v = neg ? -(int64_t)x : (int64_t)x;
    return q;
}

const char *vigil__pf_hex(const char *p, const char *end, uint64_t *v)
{
    p = vigil__skip_blanks(p, end);
    uint64_t x = 0;
    const char *s = p;
    for (; p < end; p++) {
        unsigned d = *p >= '0' && *p <= '9'   ? (unsigned)(*p - '0')
                     : *p >= 'a' && *p <= 'f' ? (unsigned)(*p - 'a' + 10)
                     : *p >= 'A' && *p <= 'F' ? (unsigned)(*p - 'A' + 10)
                                              : 16u;
        if (d == 16u) {
            break;
        }
        if (x >> 60) {
            return NULL;
        }
        x = x << 4 | d;
    }
    if (p == s || (p < end && *p != ' ' && *p != '\t' && *p != '\n')) {
        return NULL;
    }
    *v = x;
    return p;
}

const char *vigil__pf_dec(const char *p, const char *end, double *v)
{
    uint64_t ip;
    p = vigil__pf_u64(p, end, &ip);
    if (!p) {
        return NULL;
    }
    double x = (double)ip;
    if (p < end && *p == '.') {
        p++;
        uint64_t frac = 0, div = 1;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits < 18) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                div *= 10;
                digits++;
            }
            p++;
        }
        x += (double)frac / (double)div;
    }
    *v = x;
    return p;
}

const char *vigil__token(const char *p, const char *end, const char **tok, size_t *tok_len)
{
    p = vigil__skip_blanks(p, end);
    if (p >= end || *p == '\n') {
        return NULL;
    }
    const char *s = p;
    while (p < end && *p != ' ' && *p != '\t' && *p != '\n') {
        p++;
    }
    *tok = s;
    *tok_len = (size_t)(p - s);
    return p;
}

/* ---- row map ---- */

void vigil__rowmap_init(struct vigil__rowmap *m)
{
    memset(m, 0, sizeof *m);
}

void vigil__rowmap_fini(struct vigil__rowmap *m)
{
    vigil_free(m->rows);
    vigil_free(m->keys);
    vigil_free(m->ids);
    vigil__rowmap_init(m);
}

void vigil__rowmap_release(struct vigil__rowmap *m, size_t from)
{
    if (!m->owner) {
        return;
    }
    for (size_t r = from; r < m->n_rows; r++) {
        const uint32_t *ids = m->ids + m->rows[r].ids_off;
        for (size_t k = 0; k < m->rows[r].n_ids; k += m->stride) {
            if (ids[k] != VIGIL__NO_ID) {
                vigil_collect_release(m->owner, ids[k]);
            }
        }
    }
}

void vigil__release_ids(struct vigil_collect *set, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] != VIGIL__NO_ID) {
            vigil_collect_release(set, ids[i]);
        }
    }
}

static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        c *= 2;
    }
    void *q = vigil_realloc(*p, c * elem);
    if (!q) {
        return -ENOMEM;
    }
    *p = q;
    *cap = c;
    return 0;
}

uint32_t *vigil__rowmap_learn(struct vigil__rowmap *m, size_t i, const char *key, size_t key_len,
                              const uint32_t *ids, size_t n_ids)
{
    if (key_len > VIGIL__KEY_MAX || n_ids > UINT16_MAX || i > m->n_rows) {
        return NULL;
    }
    vigil__rowmap_truncate(m, i);
    if (reserve((void **)&m->rows, &m->cap_rows, i + 1, sizeof *m->rows) ||
        reserve((void **)&m->keys, &m->keys_cap, m->keys_len + key_len + 1, 1) ||
        reserve((void **)&m->ids, &m->cap_ids, m->n_ids + n_ids + 1, sizeof *m->ids)) {
        return NULL;
    }
    struct vigil__row *r = &m->rows[i];
    r->key_off = (uint32_t)m->keys_len;
    r->key_len = (uint16_t)key_len;
    r->ids_off = (uint32_t)m->n_ids;
    r->n_ids = (uint16_t)n_ids;
    memcpy(m->keys + m->keys_len, key, key_len);
    m->keys_len += key_len;
    if (n_ids) {
        memcpy(m->ids + m->n_ids, ids, n_ids * sizeof *ids);
    }
    m->n_ids += n_ids;
    m->n_rows = i + 1;
    return m->ids + r->ids_off;
}

/* ---- files of keyed rows ---- */

int vigil__keyed_new(struct vigil_collector *c, const char *root, const char *rel, const char *pat,
                     struct vigil_collect *owner)
{
    struct vigil__keyed *k = vigil_calloc(1, sizeof *k);
    if (!k) {
        return -ENOMEM;
    }
    c->ctx = k; /* freed by the collector's fini, also when this fails */
    vigil__pfile_init(&k->f);
    vigil__rowmap_init(&k->rows);
    if (owner) {
        vigil__rowmap_own(&k->rows, owner, /* stride = */ 1);
    }
    int rc = vigil__filter_init(&k->filt, pat);
    if (rc) {
        return rc;
    }
    return vigil__pfile_open_src(&k->f, root, rel);
}

void vigil__keyed_fini(struct vigil_collector *c)
{
    struct vigil__keyed *k = c->ctx;
    if (k) {
        vigil__pfile_close(&k->f);
        vigil__rowmap_fini(&k->rows);
        vigil__filter_fini(&k->filt);
        vigil_free(k);
    }
    c->ctx = NULL;
}

int vigil__pfile_tick(struct vigil__pfile *f, struct vigil_collect_cx *cx)
{
    int rc = vigil__pfile_read(f);
    if (rc) {
        vigil_collect_fail(cx, f->path, rc);
        return 1;
    }
    return 0;
}

int vigil__psi_parse(const char *p, const char *end, double v[2], unsigned *have)
{
    int seen = 0;
    while (p < end) {
        const char *le = vigil__line_end(p, end);
        int which = le - p > 5 && memcmp(p, "some ", 5) == 0   ? 0
                    : le - p > 5 && memcmp(p, "full ", 5) == 0 ? 1
                                                               : -1;
        const char *t = which < 0 ? NULL : memmem(p, (size_t)(le - p), "total=", 6);
        uint64_t x;
        if (!t || !vigil__pf_u64(t + 6, le, &x)) {
            return VIGIL_EPARSE;
        }
        v[which] = (double)x / 1e6;
        *have |= 1u << which;
        seen++;
        p = le + 1;
    }
    return seen ? 0 : VIGIL_EPARSE;
}

/* ---- helpers for collectors ---- */

int vigil__intern(struct vigil_collect *c, const char *name, const struct vigil_label_ref *labels,
                  size_t n_labels, enum vigil_kind kind, enum vigil_group group,
                  const char *entity, const char *help, uint32_t *id)
{
    int rc = vigil_collect_intern(c, name, labels, n_labels, kind, group, entity, help, id);
    if (rc == -E2BIG || rc == VIGIL_EPARSE) {
        *id = VIGIL__NO_ID;
        return 0;
    }
    return rc;
}

int vigil__filter_init(struct vigil__filter *f, const char *pat)
{
    f->pat = NULL;
    f->compiled = 0;
    if (!pat || !*pat) {
        return 0;
    }
    if (regcomp(&f->re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
        return VIGIL_ECONFIG;
    }
    regfree(&f->re);
    f->pat = vigil_strdup(pat);
    return f->pat ? 0 : -ENOMEM;
}

void vigil__filter_release(struct vigil__filter *f)
{
    if (f->compiled) {
        regfree(&f->re);
        f->compiled = 0;
    }
}

void vigil__filter_fini(struct vigil__filter *f)
{
    vigil__filter_release(f);
    vigil_free(f->pat);
    f->pat = NULL;
}

int vigil__filter_match(struct vigil__filter *f, const char *s, size_t n)
{
    char small[512];
    if (!f->pat) {
        return 0;
    }
    if (!f->compiled) {
        if (regcomp(&f->re, f->pat, REG_EXTENDED | REG_NOSUB) != 0) {
            return 0;
        }
        f->compiled = 1;
    }
    /* A long name (a mount point) is matched from the heap: learning only. */
    char *tmp = n < sizeof small ? small : vigil_malloc(n + 1);
    if (!tmp) {
        return 0;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    int hit = regexec(&f->re, tmp, 0, NULL, 0) == 0;
    if (tmp != small) {
        vigil_free(tmp);
    }
    return hit;
}
