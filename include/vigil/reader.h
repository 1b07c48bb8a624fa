/*
 * Reading metric data into a frame, whatever the layout: Prometheus text
 * exposition 0.0.4 or OpenMetrics (one scrape, a file of many timestamped
 * scrapes, or a directory of scrape files), or delimited text (comma,
 * semicolon, tab or spaces, auto-detected; header or none; optional timestamp
 * column as epoch s/ms or ISO 8601). gzip is read transparently. There is no
 * per-dataset code path: SMD, NAB, ITU PS-015 and the SYRROCA layout all go
 * through the same detection.
 *
 * Label files (one integer per line) and SMD interpretation labels
 * ("start-end:d1,d2,...") are read by their own functions.
 *
 *     struct vigil_frame fr;
 *     struct vigil_read_info info;
 *     struct vigil_diag d;
 *     vigil_frame_init(&fr);
 *     if (vigil_frame_read(&fr, path, NULL, &info, &d) != 0) print file:line:col
 */
#ifndef VIGIL_READER_H
#define VIGIL_READER_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"
#include "vigil/frame.h"

enum vigil_format {
    VIGIL_FMT_AUTO = 0,
    VIGIL_FMT_PROM = 1,        /* text exposition 0.0.4 */
    VIGIL_FMT_OPENMETRICS = 2, /* OpenMetrics text (ends with # EOF) */
    VIGIL_FMT_DELIMITED = 3,   /* CSV-like */
};

struct vigil_read_opts {
    enum vigil_format format; /* VIGIL_FMT_AUTO to detect */
    char delim;               /* 0 = detect; ',', ';', '\t' or ' ' (runs of blanks) */
    int header;               /* -1 = detect, 0 = none, 1 = first line is a header */
    const char *time_col;     /* name of the timestamp column; NULL = detect "timestamp", "time",
                                 "ts", "date", "datetime" (any case) */
    int64_t default_step_ns;  /* row spacing when there is no time column (default 1 s) */
    size_t max_rows;          /* stop after this many rows (0 = no limit) */
    const char *label_col;    /* delimited: column of integer row labels (into fr->y);
                                 NULL = a column named "label" if there is one, "" = none */
    size_t max_line;          /* longest accepted line in bytes; 0 = VIGIL_LINES_MAX_DEFAULT */
};

struct vigil_read_info {
    enum vigil_format format;
    char delim;          /* delimited only */
    int header;          /* delimited only: 1 if a header line was read */
    int time_col;        /* delimited only: index of the time column, -1 if none */
    size_t lines;        /* lines read */
    size_t samples;      /* values stored */
    size_t files;        /* files read (directories hold several) */
    size_t families;     /* exposition only: # TYPE families seen (distinct names) */
    size_t rows;         /* rows added to the frame */
    size_t cols_skipped; /* delimited only: columns with an empty header name (a row index) */
    int label_col;       /* delimited only: index of the row-label column, -1 if none */
};

/* Sets opts to the defaults (auto everything). */
void vigil_read_opts_default(struct vigil_read_opts *o);

/*
 * Reads path (a file, "-" for stdin, or a directory of scrape files read in
 * name order) into fr, which must be initialized and may already hold
 * columns (matched by series key) and rows (new rows are appended). Series
 * kinds come from # TYPE lines where present. opts may be NULL; info may be
 * NULL.
 *
 * Exposition rows: a scrape ends when a series repeats, at # EOF or at the end
 * of a file; each distinct sample timestamp is a row; untimed samples join
 * their scrape's row (its first timestamp, else the file's mtime inside a
 * directory, else row index x default_step_ns with has_time 0). The rows this
 * call adds are sorted by time. Delimited rows keep the file's order.
 * docs/formats.md has the detection rules.
 *
 * Returns 0; -errno when the file cannot be opened; -ENOMEM; VIGIL_EPARSE
 * with diag naming line and column (inside a directory the message starts
 * with the file's name); VIGIL_EEMPTY when the input holds no data rows. On
 * error fr may hold part of the input: the caller finalizes it.
 */
int vigil_frame_read(struct vigil_frame *fr, const char *path, const struct vigil_read_opts *opts,
                     struct vigil_read_info *info, struct vigil_diag *diag);

/*
 * The same as vigil_frame_read over a borrowed memory block (an HTTP body, a
 * fuzzer's input). The block is never written to.
 */
int vigil_frame_read_mem(struct vigil_frame *fr, const char *p, size_t n,
                         const struct vigil_read_opts *opts, struct vigil_read_info *info,
                         struct vigil_diag *diag);

/* Name of a format: "prometheus", "openmetrics", "delimited". */
const char *vigil_format_name(enum vigil_format f);

/*
 * Reads a label file: one integer per line (blank lines are errors). *y is
 * allocated (caller frees with vigil_free). VIGIL_EPARSE names the line.
 */
int vigil_labels_read(const char *path, int32_t **y, size_t *n, struct vigil_diag *diag);

/* One SMD interpretation-label segment: rows [start, end] and 1-based dims. */
struct vigil_interp {
    size_t start;
    size_t end;
    uint16_t *dims; /* owned */
    size_t n_dims;
};

/* Reads "start-end:d1,d2,..." lines. Caller frees with vigil_interp_free. */
int vigil_interp_read(const char *path, struct vigil_interp **segs, size_t *n,
                      struct vigil_diag *diag);
void vigil_interp_free(struct vigil_interp *segs, size_t n);

/* Writes a frame as CSV with a header ("timestamp" first when has_time). */
int vigil_frame_write_csv(const struct vigil_frame *fr, const char *path);

#endif /* VIGIL_READER_H */
