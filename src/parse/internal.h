/*
 * Private to src/parse: number and time scanning shared by the exposition and
 * delimited-text parsers, and the pieces of the frame reader that live in
 * different files. Every scanner takes (p, n), needs no NUL and never writes
 * to its input.
 */
#ifndef VIGIL_PARSE_INTERNAL_H
#define VIGIL_PARSE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/frame.h"
#include "vigil/reader.h"

/*
 * Parses a whole token as a float: [+-]digits[.digits][e[+-]digits], or
 * NaN / Inf / Infinity in any case with an optional sign. Returns 0, or -1
 * when the token is not a number, or -2 when it overflows a double.
 */
int vigil__num_double(const char *p, size_t n, double *out);

/* Parses a whole token as a decimal int64 with an optional sign. 0 or -1. */
int vigil__num_i64(const char *p, size_t n, int64_t *out);

/*
 * Parses a decimal number of units ([-]digits[.digits], or a float with an
 * exponent) and scales it to nanoseconds: unit_ns is 1e9 for seconds, 1e6
 * for milliseconds. Exact for plain decimals. Returns 0, or -1 (not a number)
 * or -2 (out of the int64 ns range, about years 1678-2262).
 */
int vigil__num_scaled_ns(const char *p, size_t n, int64_t unit_ns, int64_t *ns);

/*
 * Parses an ISO 8601 date-time in UTC unless an offset is given:
 * YYYY-MM-DD, optionally followed by 'T' or ' ' and HH:MM[:SS[.frac]], then
 * optionally 'Z' or +HH:MM / +HHMM / +HH. Returns 0 with ns since the epoch,
 * or -1.
 */
int vigil__num_datetime(const char *p, size_t n, int64_t *ns);

/* Appends ns since the epoch as ISO 8601 UTC ("2014-03-17T14:26:03Z", with a
 * fraction only when it is not zero). Returns 0 or -ENOMEM. */
int vigil__num_format_datetime(struct vigil_buf *b, int64_t ns);

/* Appends a float value as the shortest text that reads back to the same
 * float, with NaN, +Inf and -Inf spelled as the exposition format does. */
int vigil__num_format_value(struct vigil_buf *b, double v, int is_float);

/* ---- delimited text (csv.c) ---- */

/* What sniffing the first lines of a delimited file decided. */
struct vigil__csv_layout {
    char delim; /* ',', ';', '\t' or ' ' (runs of blanks) */
    int header; /* 1 when the first data line is a header */
    size_t n_fields;
};

/* Decides the delimiter and header from the first lines (n_lines of them). */
void vigil__csv_sniff(const char *const *lines, const size_t *lens, size_t n_lines,
                      const struct vigil_read_opts *o, struct vigil__csv_layout *lay);

/* A delimited-text reader feeding a frame, one line at a time. */
struct vigil__csv;

int vigil__csv_new(struct vigil__csv **out, struct vigil_frame *fr, const struct vigil_read_opts *o,
                   const struct vigil__csv_layout *lay);
/* Feeds one line (numbered lineno). Returns 0, VIGIL_EOF when max_rows is
 * reached, VIGIL_EPARSE with diag, or -ENOMEM. */
int vigil__csv_line(struct vigil__csv *c, const char *p, size_t n, size_t lineno,
                    struct vigil_diag *diag);
/* Ends the input: fills info. VIGIL_EEMPTY when no row was read. */
int vigil__csv_finish(struct vigil__csv *c, struct vigil_read_info *info, struct vigil_diag *diag);
void vigil__csv_free(struct vigil__csv *c);

#endif /* VIGIL_PARSE_INTERNAL_H */
