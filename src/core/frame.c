/*
 * Frames: rows of float values by interned columns. Rows grow geometrically;
 * adding a column re-lays the block out (columns are added while reading a
 * header or the first scrapes, rarely afterwards).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/frame.h"
#include "vigil/mem.h"

void vigil_frame_init(struct vigil_frame *fr)
{
    memset(fr, 0, sizeof *fr);
    vigil_series_table_init(&fr->cols);
}

void vigil_frame_fini(struct vigil_frame *fr)
{
    vigil_free(fr->ts);
    vigil_free(fr->x);
    vigil_free(fr->y);
    vigil_series_table_fini(&fr->cols);
    memset(fr, 0, sizeof *fr);
}

int vigil_frame_add_col(struct vigil_frame *fr, const char *name, size_t n, uint32_t *col)
{
    size_t before = fr->cols.n;
    uint32_t id;
    int rc = vigil_series_intern_text(&fr->cols, name, n, &id);
    if (rc) {
        return rc;
    }
    *col = id;
    if (fr->cols.n == before) {
        return 0; /* already a column */
    }
    size_t f = fr->f + 1;
    if (fr->cap) {
        /* Re-lay out only the rows in use (add_row grows the block again): columns
         * often arrive one by one while a scrape fills its first row, and allocating
         * the whole capacity for each made reading one scrape quadratic. */
        size_t rows = fr->n ? fr->n : 1;
        float *x = vigil_mallocarray(rows, f * sizeof(float));
        if (!x) {
            /* Undo the intern so the table and the block stay consistent. */
            return -ENOMEM;
        }
        for (size_t i = 0; i < fr->n; i++) {
            memcpy(x + i * f, fr->x + i * fr->f, fr->f * sizeof(float));
            x[i * f + fr->f] = NAN;
        }
        vigil_free(fr->x);
        fr->x = x;
        fr->cap = rows;
    }
    fr->f = f;
    return 0;
}

/* Makes room for cap rows (cap > fr->cap). */
static int grow_rows(struct vigil_frame *fr, size_t cap)
{
    size_t f = fr->f ? fr->f : 1;
    if (cap > SIZE_MAX / sizeof(float) / f) {
        return -ENOMEM;
    }
    float *x = vigil_realloc(fr->x, cap * f * sizeof(float));
    if (!x) {
        return -ENOMEM;
    }
    fr->x = x;
    int64_t *ts = vigil_realloc(fr->ts, cap * sizeof *ts);
    if (!ts) {
        return -ENOMEM;
    }
    fr->ts = ts;
    if (fr->y) {
        int32_t *y = vigil_realloc(fr->y, cap * sizeof *y);
        if (!y) {
            return -ENOMEM;
        }
        fr->y = y;
    }
    fr->cap = cap;
    return 0;
}

int vigil_frame_add_row(struct vigil_frame *fr, int64_t ts, float **row)
{
    if (fr->n == fr->cap) {
        int rc = grow_rows(fr, fr->cap ? fr->cap * 2 : 256);
        if (rc) {
            return rc;
        }
    }
    float *r = fr->x + fr->n * fr->f;
    for (size_t j = 0; j < fr->f; j++) {
        r[j] = NAN;
    }
    fr->ts[fr->n] = ts;
    if (fr->y) {
        fr->y[fr->n] = 0;
    }
    fr->n++;
    if (row) {
        *row = r;
    }
    return 0;
}

int vigil_frame_reserve(struct vigil_frame *fr, size_t rows)
{
    return rows > fr->cap ? grow_rows(fr, rows) : 0;
}

int vigil_frame_alloc_labels(struct vigil_frame *fr)
{
    if (fr->y) {
        return 0;
    }
    fr->y = vigil_calloc(fr->cap ? fr->cap : 1, sizeof *fr->y);
    return fr->y ? 0 : -ENOMEM;
}

int vigil_frame_select(struct vigil_frame *dst, const struct vigil_frame *src, const uint32_t *cols,
                       size_t n_cols)
{
    int rc = 0;
    for (size_t j = 0; j < n_cols && !rc; j++) {
        const struct vigil_series *s = vigil_series_get(&src->cols, cols[j]);
        uint32_t id;
        if (!s) {
            return -EINVAL;
        }
        rc = vigil_frame_add_col(dst, s->key, strlen(s->key), &id);
        if (!rc) {
            struct vigil_series *d = &dst->cols.v[id];
            d->kind = s->kind;
            d->group = s->group;
            rc = vigil_series_set_entity(d, s->entity);
        }
    }
    if (!rc && src->y) {
        rc = vigil_frame_alloc_labels(dst);
    }
    for (size_t i = 0; i < src->n && !rc; i++) {
        float *row;
        rc = vigil_frame_add_row(dst, src->ts[i], &row);
        if (!rc && !dst->y && src->y) {
            rc = vigil_frame_alloc_labels(dst);
        }
        if (rc) {
            break;
        }
        const float *s = vigil_frame_row(src, i);
        for (size_t j = 0; j < n_cols; j++) {
            row[j] = s[cols[j]];
        }
        if (src->y) {
            dst->y[i] = src->y[i];
        }
    }
    dst->has_time = src->has_time;
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t vigil_frame_step(const struct vigil_frame *fr)
{
    if (fr->n < 2) {
        return 0;
    }
    size_t m = fr->n - 1 < 4096 ? fr->n - 1 : 4096;
    int64_t *d = vigil_mallocarray(m, sizeof *d);
    if (!d) {
        return fr->ts[1] - fr->ts[0];
    }
    for (size_t i = 0; i < m; i++) {
        d[i] = fr->ts[i + 1] - fr->ts[i];
    }
    qsort(d, m, sizeof *d, cmp_i64);
    int64_t step = d[m / 2];
    vigil_free(d);
    return step;
}
