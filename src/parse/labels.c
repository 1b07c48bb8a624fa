/*
 * Row-label files: one integer per line (SMD test_label, ITU *_label), and
 * SMD interpretation labels, one anomaly segment per line as
 * "start-end:d1,d2,..." (0-based rows, 1-based dimensions). Both stream
 * through the line reader (gzip transparently) and name the line and column
 * of anything they cannot read.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/reader.h"

/* Trims blanks at both ends of a line; returns the offset of the first kept byte. */
static size_t trim_line(const char *p, size_t *n)
{
    size_t s = 0;
    while (s < *n && (p[s] == ' ' || p[s] == '\t')) {
        s++;
    }
    while (*n > s && (p[*n - 1] == ' ' || p[*n - 1] == '\t')) {
        (*n)--;
    }
    return s;
}

int vigil_labels_read(const char *path, int32_t **y, size_t *n, struct vigil_diag *diag)
{
    vigil_diag_clear(diag);
    struct vigil_lines l;
    int rc = vigil_lines_open(&l, path, 4096);
    if (rc) {
        return rc;
    }
    int32_t *v = NULL;
    size_t k = 0, cap = 0;
    for (;;) {
        const char *p;
        size_t len;
        rc = vigil_lines_next(&l, &p, &len, diag);
        if (rc) {
            break;
        }
        size_t s = trim_line(p, &len);
        int64_t x;
        if (vigil__num_i64(p + s, len - s, &x) != 0 || x < INT32_MIN || x > INT32_MAX) {
            vigil_diag_set(diag, l.line, s + 1, "expected an integer label, found '%.*s'",
                           (int)(len - s > 40 ? 40 : len - s), p + s);
            rc = VIGIL_EPARSE;
            break;
        }
        if (k == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            int32_t *nv = vigil_realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[k++] = (int32_t)x;
    }
    vigil_lines_close(&l);
    if (rc == VIGIL_EOF) {
        rc = 0;
        if (k == 0) {
            vigil_diag_set(diag, 0, 0, "no labels: the file is empty");
            rc = VIGIL_EEMPTY;
        }
    }
    if (rc) {
        vigil_free(v);
        return rc;
    }
    *y = v;
    *n = k;
    return 0;
}

void vigil_interp_free(struct vigil_interp *segs, size_t n)
{
    if (!segs) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        vigil_free(segs[i].dims);
    }
    vigil_free(segs);
}

/* Reads digits at p[*i] as a size_t; -1 when there are none or they overflow. */
static int read_uint(const char *p, size_t n, size_t *i, uint64_t max, uint64_t *out)
{
    size_t s = *i;
    uint64_t v = 0;
    while (*i < n && p[*i] >= '0' && p[*i] <= '9') {
        v = v * 10 + (uint64_t)(p[*i] - '0');
        if (v > max) {
            return -1;
        }
        (*i)++;
    }
    if (*i == s) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses one "start-end:d1,d2,..." line into seg (dims allocated). */
static int parse_segment(const char *p, size_t n, size_t lineno, struct vigil_interp *seg,
                         struct vigil_diag *diag)
{
    size_t i = 0;
    uint64_t a, b;
    if (read_uint(p, n, &i, SIZE_MAX / 2, &a)) {
        vigil_diag_set(diag, lineno, i + 1, "expected the segment's first row (a number)");
        return VIGIL_EPARSE;
    }
    if (i >= n || p[i] != '-') {
        vigil_diag_set(diag, lineno, i + 1, "expected '-' between the first and last row");
        return VIGIL_EPARSE;
    }
    i++;
    size_t bcol = i + 1;
    if (read_uint(p, n, &i, SIZE_MAX / 2, &b)) {
        vigil_diag_set(diag, lineno, i + 1, "expected the segment's last row (a number)");
        return VIGIL_EPARSE;
    }
    if (b < a) {
        vigil_diag_set(diag, lineno, bcol, "segment ends (%llu) before it starts (%llu)",
                       (unsigned long long)b, (unsigned long long)a);
        return VIGIL_EPARSE;
    }
    if (i >= n || p[i] != ':') {
        vigil_diag_set(diag, lineno, i + 1, "expected ':' before the dimension list");
        return VIGIL_EPARSE;
    }
    i++;
    size_t n_dims = 1;
    for (size_t j = i; j < n; j++) {
        n_dims += p[j] == ',';
    }
    seg->start = (size_t)a;
    seg->end = (size_t)b;
    seg->n_dims = 0;
    seg->dims = vigil_mallocarray(n_dims, sizeof *seg->dims);
    if (!seg->dims) {
        return -ENOMEM;
    }
    for (;;) {
        uint64_t d;
        size_t dcol = i + 1;
        if (read_uint(p, n, &i, 65535, &d) || d == 0) {
            vigil_diag_set(diag, lineno, dcol, "expected a dimension number from 1 to 65535");
            return VIGIL_EPARSE;
        }
        seg->dims[seg->n_dims++] = (uint16_t)d;
        if (i == n) {
            return 0;
        }
        if (p[i] != ',') {
            vigil_diag_set(diag, lineno, i + 1, "expected ',' or the end of the line");
            return VIGIL_EPARSE;
        }
        i++;
    }
}

int vigil_interp_read(const char *path, struct vigil_interp **segs, size_t *n,
                      struct vigil_diag *diag)
{
    vigil_diag_clear(diag);
    struct vigil_lines l;
    int rc = vigil_lines_open(&l, path, 1 << 20);
    if (rc) {
        return rc;
    }
    struct vigil_interp *v = NULL;
    size_t k = 0, cap = 0;
    for (;;) {
        const char *p;
        size_t len;
        rc = vigil_lines_next(&l, &p, &len, diag);
        if (rc) {
            break;
        }
        size_t s = trim_line(p, &len);
        if (len == s) {
            continue; /* blank lines separate nothing but are harmless here */
        }
        if (k == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct vigil_interp *nv = vigil_realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[k] = (struct vigil_interp){0};
        rc = parse_segment(p + s, len - s, l.line, &v[k], diag);
        k++; /* counted even on failure so its dims are freed */
        if (rc) {
            if (diag && diag->col) {
                diag->col += s;
            }
            break;
        }
    }
    vigil_lines_close(&l);
    if (rc == VIGIL_EOF) {
        rc = 0;
    }
    if (rc) {
        vigil_interp_free(v, k);
        return rc;
    }
    *segs = v;
    *n = k;
    return 0;
}
