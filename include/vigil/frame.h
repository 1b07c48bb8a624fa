/*
 * A frame is a time-aligned block: N rows (time steps) by F columns (series),
 * float values with NaN for missing, int64 timestamps, and optional per-row
 * integer labels. Column j is series id j of the frame's own series table, so
 * a column carries its name, labels, kind, group and entity.
 *
 * Dimension letters: N rows, F columns.
 */
#ifndef VIGIL_FRAME_H
#define VIGIL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/series.h"

struct vigil_frame {
    size_t n;      /* rows */
    size_t f;      /* columns */
    size_t cap;    /* rows allocated */
    int64_t *ts;   /* (N) ns since the epoch; row index * 1e9 when has_time is 0; owned */
    float *x;      /* (N,F) row-major, NaN = missing; owned */
    int32_t *y;    /* (N) labels, or NULL when the frame has none; owned */
    int has_time;  /* 1 when ts came from the input */
    struct vigil_series_table cols; /* column j = series j */
};

void vigil_frame_init(struct vigil_frame *fr);
void vigil_frame_fini(struct vigil_frame *fr);

/*
 * Adds a column named by series text (see vigil_series_intern_text) and
 * returns its index. Existing rows get NaN in it. Returns 0 or -ENOMEM.
 */
int vigil_frame_add_col(struct vigil_frame *fr, const char *name, size_t n, uint32_t *col);

/*
 * Appends a row with timestamp ts; its values start as NaN and are returned in
 * *row (borrowed until the next append or add_col). Returns 0 or -ENOMEM.
 */
int vigil_frame_add_row(struct vigil_frame *fr, int64_t ts, float **row);

/*
 * Makes room for rows rows in all, so that appending up to that many does not
 * reallocate (nor over-allocate, as doubling does). Add the columns first.
 * Returns 0 or -ENOMEM.
 */
int vigil_frame_reserve(struct vigil_frame *fr, size_t rows);

/* Pointer to row i, (F) floats. */
static inline float *vigil_frame_row(const struct vigil_frame *fr, size_t i)
{
    return fr->x + i * fr->f;
}

/* Allocates the label vector (all 0) if absent. Returns 0 or -ENOMEM. */
int vigil_frame_alloc_labels(struct vigil_frame *fr);

/*
 * Builds dst from the given columns of src (in that order), copying values,
 * timestamps, labels and series metadata. dst must be freshly initialized.
 */
int vigil_frame_select(struct vigil_frame *dst, const struct vigil_frame *src, const uint32_t *cols,
                       size_t n_cols);

/* Median spacing of timestamps in ns (0 with fewer than 2 rows). */
int64_t vigil_frame_step(const struct vigil_frame *fr);

#endif /* VIGIL_FRAME_H */
