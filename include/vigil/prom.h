/*
 * Prometheus text exposition format 0.0.4 and OpenMetrics text: a line
 * parser, a stream parser that knows which family each sample belongs to, and
 * a writer.
 *
 * The line parser is stateless and takes (p, n): it needs no NUL, never
 * writes to its input and never calls sscanf. Names and label values in the
 * result point into the input (label values still escaped; see
 * vigil_prom_unescape). The stream parser adds line numbers, the family of
 * each sample (from # TYPE) and the kind that follows from it:
 *
 *     family type     sample                       kind
 *     counter         name, name_total             counter
 *     gauge           name                         gauge
 *     histogram       _bucket, _count, _sum        counter
 *     summary         name{quantile=...}           gauge
 *     summary         _count, _sum                 counter
 *     gaugehistogram  _bucket, _gcount, _gsum      gauge
 *     info, stateset  name, name_info              gauge
 *     any             _created                     gauge (a creation timestamp)
 *     untyped/unknown or no # TYPE                 unknown
 *
 *     struct vigil_prom_parser ps;
 *     struct vigil_prom_line ln;
 *     vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
 *     while (next line p, n)
 *         if (vigil_prom_parser_feed(&ps, p, n, &ln, &diag) != 0) report diag.line:diag.col
 *         else if (ln.type == VIGIL_PROM_LINE_SAMPLE) use ln.name, ln.labels, ln.value, ln.kind
 *     vigil_prom_parser_finish(&ps, &diag);   OpenMetrics: checks the final # EOF
 *     vigil_prom_parser_fini(&ps);
 */
#ifndef VIGIL_PROM_H
#define VIGIL_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/frame.h"
#include "vigil/series.h"

/* Metric family types; UNTYPED is also OpenMetrics' "unknown" and "no # TYPE". */
enum vigil_prom_type {
    VIGIL_PROM_UNTYPED = 0,
    VIGIL_PROM_COUNTER = 1,
    VIGIL_PROM_GAUGE = 2,
    VIGIL_PROM_HISTOGRAM = 3,
    VIGIL_PROM_SUMMARY = 4,
    VIGIL_PROM_GAUGEHISTOGRAM = 5,
    VIGIL_PROM_INFO = 6,
    VIGIL_PROM_STATESET = 7,
};

/* The two text dialects differ in timestamp units, # EOF and a few types. */
enum vigil_prom_dialect {
    VIGIL_PROM_TEXT = 0,        /* 0.0.4: timestamps in integer milliseconds */
    VIGIL_PROM_OPENMETRICS = 1, /* timestamps in (fractional) seconds, ends with # EOF */
};

enum vigil_prom_line_type {
    VIGIL_PROM_LINE_BLANK = 0,
    VIGIL_PROM_LINE_COMMENT = 1, /* any other # line */
    VIGIL_PROM_LINE_HELP = 2,
    VIGIL_PROM_LINE_TYPE = 3,
    VIGIL_PROM_LINE_UNIT = 4,
    VIGIL_PROM_LINE_SAMPLE = 5,
    VIGIL_PROM_LINE_EOF = 6, /* "# EOF" (OpenMetrics only) */
};

/* Most labels a sample may carry (the same bound as series interning). */
#define VIGIL_PROM_LABELS_MAX 64

/* One parsed line. Every pointer is borrowed from the input line. */
struct vigil_prom_line {
    enum vigil_prom_line_type type;
    const char *name; /* sample metric name, or the family of HELP/TYPE/UNIT */
    size_t name_len;
    const char *text; /* HELP text (still escaped) or UNIT */
    size_t text_len;
    enum vigil_prom_type mtype;                           /* TYPE lines: the declared type */
    struct vigil_label_ref labels[VIGIL_PROM_LABELS_MAX]; /* values still escaped */
    size_t n_labels;
    int escaped; /* 1 when some label value holds a backslash escape */
    double value;
    int has_ts;
    int64_t ts_ns; /* sample timestamp in ns since the epoch, when has_ts */
    /* Filled by the stream parser only (the line parser leaves them 0): */
    uint8_t kind; /* enum vigil_kind of this sample */
    enum vigil_prom_type family_type;
    size_t family_len; /* the family name is name[0, family_len) */
};

/*
 * Parses one line (without its newline) of the given dialect into out.
 * Returns 0 or VIGIL_EPARSE with diag->col (1-based) and a reason that says
 * what was expected; diag->line is 0, the caller knows the line number.
 */
int vigil_prom_parse_line(const char *p, size_t n, enum vigil_prom_dialect dialect,
                          struct vigil_prom_line *out, struct vigil_diag *diag);

/*
 * Unescapes an exposition label value (\\, \" and \n) into out, which needs
 * room for n bytes; returns the unescaped length. The input must come from
 * a parsed line (escapes already validated).
 */
size_t vigil_prom_unescape(const char *p, size_t n, char *out);

/* Name of a family type as written after # TYPE ("counter", ..., "untyped"). */
const char *vigil_prom_type_name(enum vigil_prom_type t);

/* ---- stream parser ---- */

struct vigil_prom_parser {
    enum vigil_prom_dialect dialect;
    size_t line;             /* number of the line last fed, 1-based */
    struct vigil_buf family; /* current family name; owned */
    enum vigil_prom_type family_type;
    int typed;      /* the current family came from a # TYPE line */
    int eof;        /* the last non-blank line was # EOF */
    size_t samples; /* samples seen */
    size_t types;   /* # TYPE lines seen */
};

void vigil_prom_parser_init(struct vigil_prom_parser *ps, enum vigil_prom_dialect dialect);
void vigil_prom_parser_fini(struct vigil_prom_parser *ps);

/*
 * Parses the next line. Samples get kind, family_type and family_len. After
 * # EOF in OpenMetrics the next line starts a new exposition (files of
 * several scrapes). Returns 0, -ENOMEM, or VIGIL_EPARSE with diag naming
 * line and column.
 */
int vigil_prom_parser_feed(struct vigil_prom_parser *ps, const char *p, size_t n,
                           struct vigil_prom_line *out, struct vigil_diag *diag);

/* Ends the input. OpenMetrics input must end with # EOF: VIGIL_EPARSE if not. */
int vigil_prom_parser_finish(struct vigil_prom_parser *ps, struct vigil_diag *diag);

/* ---- writer ---- */

/* One sample to write. labels are borrowed, values unescaped. */
struct vigil_prom_sample {
    const char *name; /* NULL = the family name */
    const struct vigil_label_ref *labels;
    size_t n_labels;
    double value;
    int has_ts;
    int64_t ts_ms; /* milliseconds since the epoch */
};

/*
 * Appends one family in text format 0.0.4: "# HELP name help", "# TYPE name
 * type" and its samples, escaping label values and HELP text. help may be
 * NULL (no HELP line). Returns 0, -EINVAL (a name or label name that is not
 * valid) or -ENOMEM.
 */
int vigil_prom_write_family(struct vigil_buf *out, const char *name, const char *help,
                            enum vigil_prom_type type, const struct vigil_prom_sample *samples,
                            size_t n);

/* Appends n bytes of s as a label value, escaped (\\, \" and \n), without quotes. 0 or -ENOMEM. */
int vigil_prom_escape_label(struct vigil_buf *out, const char *s, size_t n);

/*
 * Appends row i of a frame in text format 0.0.4, one family per metric name
 * (columns of one name grouped together, in order of first appearance), with
 * # HELP and # TYPE from the column kind (counter, gauge, untyped). NaN
 * values are written as NaN. with_ts adds the row timestamp in milliseconds.
 * Returns 0, -EINVAL (row out of range or a column name that is not a valid
 * metric name) or -ENOMEM.
 */
int vigil_prom_write_row(struct vigil_buf *out, const struct vigil_frame *fr, size_t row,
                         int with_ts);

#endif /* VIGIL_PROM_H */
