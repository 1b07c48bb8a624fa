/*
 * Delimited text: comma, semicolon, tab or runs of blanks, decided from the
 * first lines; a header line or none; an optional time column; an optional
 * row-label column; RFC 4180 quoting ("a ""b""" is a "b"). Every dataset goes
 * through the same detection: there is no per-dataset code path.
 *
 * Detection. The delimiter is the first of tab, ';', ',' and blanks that
 * splits every sniffed line into the same number (> 1) of fields. The first
 * line is a header when one of its fields is neither a number nor a
 * date-time. The time column is the one named by the options, or the first
 * header named timestamp/time/ts/date/datetime, or (without a header) a first
 * column holding ISO 8601 date-times. Numeric times are epoch seconds,
 * milliseconds, microseconds or nanoseconds, decided once per file from the
 * magnitude of the first value (below 1e11 is seconds: 1e11 s is the year
 * 5138, 1e11 ms is 1973). A column with an empty header name (the row index
 * pandas writes) is skipped and counted.
 *
 * Also here: the CSV writer, which quotes every header that needs it so its
 * output reads back through the same detection.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "vigil/mem.h"

#define SKIP_COL UINT32_MAX

/* One field of a split line: text (quotes removed), and its 1-based column. */
struct field {
    const char *p;
    size_t n;
    size_t col;
};

struct vigil__csv {
    struct vigil_frame *fr;
    const struct vigil_read_opts *o;
    struct vigil__csv_layout lay;
    int started; /* the header (or first row) has set the columns up */
    size_t n_fields;
    int time_col;     /* field index, -1 = none */
    int label_col;    /* field index, -1 = none */
    uint32_t *colmap; /* (n_fields) frame column of each field, or SKIP_COL */
    char **names;     /* (n_fields) header names for messages; owned */
    size_t skipped;
    int64_t time_unit;        /* ns per unit for numeric times; 0 = undecided; -1 = date-time */
    struct field *fields;     /* (n_fields + 1) */
    struct vigil_buf scratch; /* unquoted field text */
    size_t row0;
    size_t lines;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks around a field; a tab delimiter keeps tabs as separators only. */
static void trim(const char **p, size_t *n, char delim)
{
    while (*n && ((*p)[0] == ' ' || (delim != '\t' && (*p)[0] == '\t'))) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (delim != '\t' && (*p)[*n - 1] == '\t'))) {
        (*n)--;
    }
}

/*
 * Splits a line. Fields beyond max are counted, not stored. Quoted fields are
 * unquoted into scratch, which the caller sized to hold the whole line (so
 * pointers into it stay valid). Returns 0 or VIGIL_EPARSE with diag (col set,
 * line 0).
 */
static int split(const char *p, size_t n, char delim, struct field *f, size_t max, size_t *count,
                 struct vigil_buf *scratch, struct vigil_diag *diag)
{
    size_t i = 0, k = 0;
    if (delim == ' ') {
        while (i < n && is_blank(p[i])) {
            i++;
        }
        if (i == n) {
            *count = 0;
            return 0;
        }
    }
    for (;;) {
        size_t start = i;
        const char *fp;
        size_t fn;
        size_t q = i;
        while (q < n && (p[q] == ' ' || (p[q] == '\t' && delim != '\t'))) {
            q++;
        }
        if (q < n && p[q] == '"') {
            size_t open = q;
            q++;
            size_t s0 = scratch ? scratch->len : 0;
            for (;;) {
                if (q >= n && !f) {
                    break; /* counting for the sniffer: the field ends with the line */
                }
                if (q >= n) {
                    vigil_diag_set(diag, 0, n + 1,
                                   "expected '\"' to close the quoted field opened at column %zu",
                                   open + 1);
                    return VIGIL_EPARSE;
                }
                if (p[q] == '"') {
                    if (q + 1 < n && p[q + 1] == '"') {
                        if (scratch) {
                            scratch->p[scratch->len++] = '"';
                        }
                        q += 2;
                        continue;
                    }
                    break;
                }
                if (scratch) {
                    scratch->p[scratch->len++] = p[q];
                }
                q++;
            }
            /* Without scratch (sniffing) the raw inner text stands in for the value. */
            fp = scratch ? scratch->p + s0 : p + open + 1;
            fn = scratch ? scratch->len - s0 : q - open - 1;
            if (q < n) {
                q++; /* the closing quote (absent only when counting a broken line) */
            }
            if (delim != ' ') {
                while (q < n && (p[q] == ' ' || (p[q] == '\t' && delim != '\t'))) {
                    q++;
                }
            }
            if (q < n && (delim == ' ' ? !is_blank(p[q]) : p[q] != delim)) {
                char b[16];
                snprintf(b, sizeof b, (unsigned char)p[q] >= 0x20 ? "'%c'" : "byte 0x%02x",
                         (unsigned char)p[q]);
                vigil_diag_set(diag, 0, q + 1,
                               "expected a delimiter after the closing quote, found %s", b);
                return VIGIL_EPARSE;
            }
            i = q;
        } else {
            if (delim == ' ') {
                while (i < n && !is_blank(p[i])) {
                    i++;
                }
            } else {
                while (i < n && p[i] != delim) {
                    i++;
                }
            }
            fp = p + start;
            fn = i - start;
            trim(&fp, &fn, delim);
        }
        if (k < max) {
            f[k] = (struct field){fp, fn, start + 1};
        }
        k++;
        if (delim == ' ') {
            while (i < n && is_blank(p[i])) {
                i++;
            }
            if (i == n) {
                break;
            }
        } else {
            if (i >= n) {
                break;
            }
            i++; /* the delimiter */
        }
    }
    *count = k;
    return 0;
}

static size_t count_fields(const char *p, size_t n, char delim)
{
    size_t k = 0;
    if (split(p, n, delim, NULL, 0, &k, NULL, NULL) != 0) {
        return 0;
    }
    return k;
}

static int is_blank_line(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_blank(p[i])) {
            return 0;
        }
    }
    return 1;
}

static int is_comment(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_blank(p[i])) {
        i++;
    }
    return i < n && p[i] == '#';
}

/* Words that mean "missing" in a value field. */
static int is_missing(const char *p, size_t n)
{
    static const char *const words[] = {"NA", "N/A", "null", "NULL", "None", "-"};
    if (n == 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i]) == n && memcmp(words[i], p, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int looks_numeric(const char *p, size_t n)
{
    double v;
    int64_t t;
    return is_missing(p, n) || vigil__num_double(p, n, &v) == 0 ||
           vigil__num_datetime(p, n, &t) == 0;
}

void vigil__csv_sniff(const char *const *lines, const size_t *lens, size_t n_lines,
                      const struct vigil_read_opts *o, struct vigil__csv_layout *lay)
{
    static const char cands[] = {'\t', ';', ',', ' '};
    const char *use[64];
    size_t use_len[64], m = 0;
    for (size_t i = 0; i < n_lines && m < 64; i++) {
        if (is_blank_line(lines[i], lens[i]) || (m == 0 && is_comment(lines[i], lens[i]))) {
            continue;
        }
        use[m] = lines[i];
        use_len[m++] = lens[i];
    }
    char delim = o->delim;
    if (!delim) {
        delim = ',';
        size_t best = 1;
        int found_consistent = 0;
        for (size_t c = 0; c < sizeof cands && !found_consistent; c++) {
            size_t k0 = m ? count_fields(use[0], use_len[0], cands[c]) : 0;
            int same = k0 > 1;
            for (size_t i = 1; i < m && same; i++) {
                same = count_fields(use[i], use_len[i], cands[c]) == k0;
            }
            if (same) {
                delim = cands[c];
                found_consistent = 1;
            }
        }
        /* No delimiter is consistent: take the one splitting the first data line most. */
        for (size_t c = 0; c < sizeof cands && !found_consistent && m; c++) {
            size_t k = count_fields(use[m > 1], use_len[m > 1], cands[c]);
            if (k > best) {
                best = k;
                delim = cands[c];
            }
        }
    }
    lay->delim = delim;
    lay->n_fields = m ? count_fields(use[0], use_len[0], delim) : 0;
    lay->header = o->header;
    if (lay->header < 0) {
        lay->header = 0;
        if (m) {
            struct field f[256];
            size_t k = 0;
            if (split(use[0], use_len[0], delim, f, 256, &k, NULL, NULL) == 0) {
                for (size_t j = 0; j < k && j < 256 && !lay->header; j++) {
                    lay->header = !looks_numeric(f[j].p, f[j].n);
                }
            }
        }
    }
}

int vigil__csv_new(struct vigil__csv **out, struct vigil_frame *fr, const struct vigil_read_opts *o,
                   const struct vigil__csv_layout *lay)
{
    struct vigil__csv *c = vigil_calloc(1, sizeof *c);
    if (!c) {
        return -ENOMEM;
    }
    c->fr = fr;
    c->o = o;
    c->lay = *lay;
    c->time_col = -1;
    c->label_col = -1;
    c->row0 = fr->n;
    vigil_buf_init(&c->scratch);
    *out = c;
    return 0;
}

void vigil__csv_free(struct vigil__csv *c)
{
    if (!c) {
        return;
    }
    if (c->names) {
        for (size_t j = 0; j < c->n_fields; j++) {
            vigil_free(c->names[j]);
        }
    }
    vigil_free(c->names);
    vigil_free(c->colmap);
    vigil_free(c->fields);
    vigil_buf_fini(&c->scratch);
    vigil_free(c);
}

static int name_is(const char *p, size_t n, const char *w)
{
    if (strlen(w) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char a = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a') : p[i];
        if (a != w[i]) {
            return 0;
        }
    }
    return 1;
}

/* Sets the columns up from the header, or from the first row when there is none. */
static int setup(struct vigil__csv *c, const struct field *f, size_t k, int header, size_t lineno,
                 struct vigil_diag *diag)
{
    static const char *const time_names[] = {"timestamp", "time", "ts", "date", "datetime"};
    const struct vigil_read_opts *o = c->o;
    c->n_fields = k;
    c->colmap = vigil_mallocarray(k ? k : 1, sizeof *c->colmap);
    c->names = vigil_calloc(k ? k : 1, sizeof *c->names); /* zeroed: freed even when half set */
    c->fields = vigil_mallocarray(k + 1, sizeof *c->fields);
    if (!c->colmap || !c->names || !c->fields) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < k; j++) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "col%zu", j + 1);
        c->names[j] = header ? vigil_strndup(f[j].p, f[j].n) : vigil_strdup(tmp);
        if (!c->names[j]) {
            return -ENOMEM;
        }
    }
    if (header) {
        for (size_t j = 0; j < k && c->time_col < 0; j++) {
            if (o->time_col) {
                if (strlen(o->time_col) == f[j].n && memcmp(o->time_col, f[j].p, f[j].n) == 0) {
                    c->time_col = (int)j;
                }
                continue;
            }
            for (size_t t = 0; t < sizeof time_names / sizeof time_names[0]; t++) {
                if (name_is(f[j].p, f[j].n, time_names[t])) {
                    c->time_col = (int)j;
                    break;
                }
            }
        }
        if (o->time_col && *o->time_col && c->time_col < 0) {
            vigil_diag_set(diag, lineno, 0, "no column named '%.64s' for the time", o->time_col);
            return VIGIL_EPARSE;
        }
        const char *lab = o->label_col ? o->label_col : "label";
        for (size_t j = 0; j < k && *lab && c->label_col < 0; j++) {
            if ((int)j != c->time_col && strlen(lab) == f[j].n &&
                memcmp(lab, f[j].p, f[j].n) == 0) {
                c->label_col = (int)j;
            }
        }
        if (o->label_col && *o->label_col && c->label_col < 0) {
            vigil_diag_set(diag, lineno, 0, "no column named '%.64s' for the labels", o->label_col);
            return VIGIL_EPARSE;
        }
    } else {
        int64_t ns;
        if (k > 1 && vigil__num_datetime(f[0].p, f[0].n, &ns) == 0) {
            c->time_col = 0;
        }
    }
    for (size_t j = 0; j < k; j++) {
        c->colmap[j] = SKIP_COL;
        if ((int)j == c->time_col || (int)j == c->label_col) {
            continue;
        }
        if (header && f[j].n == 0) {
            c->skipped++; /* an unnamed column: the row index pandas writes */
            continue;
        }
        uint32_t id;
        size_t had = c->fr->cols.n;
        int rc = vigil_frame_add_col(c->fr, c->names[j], strlen(c->names[j]), &id);
        if (rc) {
            return rc;
        }
        if (c->fr->cols.n == had) {
            /* Interned to a column this header already made: a repeated name. */
            for (size_t i = 0; i < j; i++) {
                if (c->colmap[i] == id) {
                    vigil_diag_set(diag, lineno, f[j].col,
                                   "duplicate column name '%.64s' (also column %zu)", c->names[j],
                                   i + 1);
                    return VIGIL_EPARSE;
                }
            }
        }
        c->colmap[j] = id;
    }
    if (c->label_col >= 0) {
        int rc = vigil_frame_alloc_labels(c->fr);
        if (rc) {
            return rc;
        }
    }
    c->started = 1;
    return 0;
}

/* Decides the unit of numeric times from the first value's magnitude. */
static int64_t unit_for(const char *p, size_t n)
{
    double v = 0;
    if (vigil__num_double(p, n, &v) != 0 || isnan(v)) {
        v = 0; /* not a number: parse_time reports it */
    }
    v = fabs(v);
    return v < 1e11 ? 1000000000 : v < 1e14 ? 1000000 : v < 1e17 ? 1000 : 1;
}

static int parse_time(struct vigil__csv *c, const struct field *f, int64_t *ts, size_t lineno,
                      struct vigil_diag *diag)
{
    if (c->time_unit == 0) {
        int64_t ns;
        c->time_unit = vigil__num_datetime(f->p, f->n, &ns) == 0 ? -1 : unit_for(f->p, f->n);
    }
    int rc = c->time_unit < 0 ? vigil__num_datetime(f->p, f->n, ts)
                              : vigil__num_scaled_ns(f->p, f->n, c->time_unit, ts);
    if (rc) {
        vigil_diag_set(diag, lineno, f->col, "expected a time (%s) in column '%.64s', found '%.*s'",
                       c->time_unit < 0 ? "ISO 8601 like the first row"
                                        : "an epoch number like the first row",
                       c->names[c->time_col], (int)(f->n > 40 ? 40 : f->n), f->p);
        return VIGIL_EPARSE;
    }
    return 0;
}

int vigil__csv_line(struct vigil__csv *c, const char *p, size_t n, size_t lineno,
                    struct vigil_diag *diag)
{
    c->lines++;
    if (is_blank_line(p, n) || (!c->started && is_comment(p, n))) {
        return 0;
    }
    vigil_buf_reset(&c->scratch);
    int rc = vigil_buf_reserve(&c->scratch, n + 1);
    if (rc) {
        return rc;
    }
    size_t k;
    if (!c->started) {
        /* The first line decides the field count; split it into a temporary array. */
        size_t cnt = count_fields(p, n, c->lay.delim);
        struct field *f = vigil_mallocarray(cnt ? cnt : 1, sizeof *f);
        if (!f) {
            return -ENOMEM;
        }
        rc = split(p, n, c->lay.delim, f, cnt, &k, &c->scratch, diag);
        if (!rc) {
            rc = setup(c, f, k, c->lay.header, lineno, diag);
        }
        if (rc == VIGIL_EPARSE && diag && diag->line == 0) {
            diag->line = lineno;
        }
        if (rc || c->lay.header) {
            vigil_free(f);
            return rc;
        }
        /* No header: the first line is also the first row. */
        memcpy(c->fields, f, k * sizeof *f);
        vigil_free(f);
    } else {
        rc = split(p, n, c->lay.delim, c->fields, c->n_fields + 1, &k, &c->scratch, diag);
        if (rc) {
            if (diag) {
                diag->line = lineno;
            }
            return rc;
        }
    }
    if (k != c->n_fields) {
        size_t col = k > c->n_fields ? c->fields[c->n_fields].col : n + 1;
        vigil_diag_set(diag, lineno, col, "expected %zu fields (as in the %s), found %zu",
                       c->n_fields, c->lay.header ? "header" : "first line", k);
        return VIGIL_EPARSE;
    }
    if (c->o->max_rows && c->fr->n - c->row0 >= c->o->max_rows) {
        return VIGIL_EOF;
    }
    int64_t ts =
        (int64_t)c->fr->n * (c->o->default_step_ns > 0 ? c->o->default_step_ns : 1000000000);
    if (c->time_col >= 0) {
        rc = parse_time(c, &c->fields[c->time_col], &ts, lineno, diag);
        if (rc) {
            return rc;
        }
    }
    int32_t label = 0;
    if (c->label_col >= 0) {
        const struct field *f = &c->fields[c->label_col];
        int64_t v;
        if (vigil__num_i64(f->p, f->n, &v) || v < INT32_MIN || v > INT32_MAX) {
            vigil_diag_set(diag, lineno, f->col,
                           "expected an integer label in column '%.64s', found '%.*s'",
                           c->names[c->label_col], (int)(f->n > 40 ? 40 : f->n), f->p);
            return VIGIL_EPARSE;
        }
        label = (int32_t)v;
    }
    float *row;
    rc = vigil_frame_add_row(c->fr, ts, &row);
    if (rc) {
        return rc;
    }
    if (c->label_col >= 0) {
        c->fr->y[c->fr->n - 1] = label;
    }
    for (size_t j = 0; j < k; j++) {
        if (c->colmap[j] == SKIP_COL) {
            continue;
        }
        const struct field *f = &c->fields[j];
        double v;
        int prc = vigil__num_double(f->p, f->n, &v);
        if (prc) {
            if (!is_missing(f->p, f->n)) {
                c->fr->n--; /* drop the half-filled row */
                vigil_diag_set(diag, lineno, f->col, "%s in column '%.64s', found '%.*s'",
                               prc == -2 ? "number out of range" : "expected a number", c->names[j],
                               (int)(f->n > 40 ? 40 : f->n), f->p);
                return VIGIL_EPARSE;
            }
            v = NAN;
        }
        row[c->colmap[j]] = (float)v;
    }
    return 0;
}

int vigil__csv_finish(struct vigil__csv *c, struct vigil_read_info *info, struct vigil_diag *diag)
{
    info->delim = c->lay.delim;
    info->header = c->lay.header;
    info->time_col = c->time_col;
    info->label_col = c->label_col;
    info->cols_skipped = c->skipped;
    info->rows = c->fr->n - c->row0;
    info->samples =
        info->rows * (c->n_fields - (c->time_col >= 0) - (c->label_col >= 0) - c->skipped);
    if (c->time_col >= 0) {
        c->fr->has_time = 1;
    }
    if (info->rows == 0) {
        vigil_diag_set(diag, c->lines, 0, "no data rows%s",
                       c->started ? " after the header" : ": the input is empty");
        return VIGIL_EEMPTY;
    }
    return 0;
}

/* ---- writer ---- */

static int needs_quotes(const char *s)
{
    return s[0] == '\0' || s[0] == ' ' || s[strlen(s) - 1] == ' ' || strpbrk(s, ",;\t\"") != NULL;
}

static int append_field(struct vigil_buf *b, const char *s)
{
    if (!needs_quotes(s)) {
        return vigil_buf_puts(b, s);
    }
    int rc = vigil_buf_append(b, "\"", 1);
    for (const char *q = s; *q && !rc; q++) {
        rc = vigil_buf_append(b, q, 1);
        if (!rc && *q == '"') {
            rc = vigil_buf_append(b, "\"", 1);
        }
    }
    return rc ? rc : vigil_buf_append(b, "\"", 1);
}

static int append_csv_value(struct vigil_buf *b, float v)
{
    if (isinf(v)) {
        return vigil_buf_puts(b, v > 0 ? "inf" : "-inf");
    }
    return vigil__num_format_value(b, (double)v, 1);
}

int vigil_frame_write_csv(const struct vigil_frame *fr, const char *path)
{
    int to_stdout = strcmp(path, "-") == 0;
    FILE *fp = to_stdout ? stdout : fopen(path, "w");
    if (!fp) {
        return -errno;
    }
    struct vigil_buf b;
    vigil_buf_init(&b);
    int rc = 0;
    int first = 1;
    if (fr->has_time) {
        rc = vigil_buf_puts(&b, "timestamp");
        first = 0;
    }
    for (size_t j = 0; j < fr->f && !rc; j++) {
        rc = first ? 0 : vigil_buf_append(&b, ",", 1);
        rc = rc ? rc : append_field(&b, fr->cols.v[j].key);
        first = 0;
    }
    if (!rc && fr->y) {
        rc = vigil_buf_puts(&b, first ? "label" : ",label");
    }
    rc = rc ? rc : vigil_buf_append(&b, "\n", 1);
    for (size_t i = 0; i < fr->n && !rc; i++) {
        first = 1;
        if (fr->has_time) {
            rc = vigil__num_format_datetime(&b, fr->ts[i]);
            first = 0;
        }
        const float *x = vigil_frame_row(fr, i);
        for (size_t j = 0; j < fr->f && !rc; j++) {
            rc = first ? 0 : vigil_buf_append(&b, ",", 1);
            rc = rc ? rc : append_csv_value(&b, x[j]);
            first = 0;
        }
        if (!rc && fr->y) {
            rc = vigil_buf_appendf(&b, first ? "%d" : ",%d", (int)fr->y[i]);
        }
        rc = rc ? rc : vigil_buf_append(&b, "\n", 1);
        if (!rc && (b.len > (64 << 10) || i + 1 == fr->n)) {
            if (fwrite(b.p, 1, b.len, fp) != b.len) {
                rc = -EIO;
            }
            vigil_buf_reset(&b);
        }
    }
    if (!rc && b.len && fwrite(b.p, 1, b.len, fp) != b.len) {
        rc = -EIO;
    }
    vigil_buf_fini(&b);
    if (to_stdout) {
        if (fflush(fp) != 0 && !rc) {
            rc = -EIO;
        }
    } else if (fclose(fp) != 0 && !rc) {
        rc = -EIO;
    }
    return rc;
}
