/*
 * The frame reader: detects the layout of a file from its first lines, then
 * streams every line through the exposition parser or the delimited-text
 * reader (csv.c) into a frame. Memory per line is bounded by the line reader;
 * the frame itself is N x F floats.
 *
 * Exposition text becomes rows this way. A scrape is the run of samples until
 * a series repeats (or # EOF, or the end of a file). Samples with a timestamp
 * go to the row of that timestamp (one row per distinct timestamp); samples
 * without one go to their scrape's row, which takes the scrape's first
 * timestamp if it has any, the file's mtime for a directory of scrape files,
 * and otherwise the row index times the default step. Rows are sorted by time
 * at the end. Two values for one series in one row are an error naming the
 * line. This file does not parse lines itself: see prom.c and csv.c.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/prom.h"
#include "vigil/reader.h"

#define SNIFF_LINES 64
#define SNIFF_BYTES ((size_t)1 << 20)
#define NO_ROW SIZE_MAX
#define UNTIMED INT64_MIN

void vigil_read_opts_default(struct vigil_read_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = VIGIL_FMT_AUTO;
    o->header = -1;
    o->default_step_ns = 1000000000;
}

const char *vigil_format_name(enum vigil_format f)
{
    switch (f) {
    case VIGIL_FMT_PROM:
        return "prometheus";
    case VIGIL_FMT_OPENMETRICS:
        return "openmetrics";
    case VIGIL_FMT_DELIMITED:
        return "delimited";
    default:
        return "auto";
    }
}

/* ---- the first lines of a file, kept to decide the format and replayed ---- */

struct sniff {
    struct vigil_buf text; /* the lines, concatenated; owned */
    size_t off[SNIFF_LINES];
    size_t len[SNIFF_LINES];
    size_t n;
};

static int sniff_fill(struct sniff *s, struct vigil_lines *l, struct vigil_diag *diag)
{
    vigil_buf_init(&s->text);
    s->n = 0;
    while (s->n < SNIFF_LINES && s->text.len < SNIFF_BYTES) {
        const char *p;
        size_t n;
        int rc = vigil_lines_next(l, &p, &n, diag);
        if (rc == VIGIL_EOF) {
            break;
        }
        if (rc) {
            return rc;
        }
        s->off[s->n] = s->text.len;
        s->len[s->n] = n;
        rc = vigil_buf_append(&s->text, p, n);
        if (rc) {
            return rc;
        }
        s->n++;
    }
    return 0;
}

static const char *sniff_line(const struct sniff *s, size_t i)
{
    return s->text.p ? s->text.p + s->off[i] : "";
}

static int starts_with(const char *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    return n >= k && memcmp(p, w, k) == 0;
}

/* Skips blanks at the start of a line. */
static size_t lead(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    return i;
}

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

/* A metric name directly followed by a label set: exposition, even if the rest is broken. */
static int name_then_brace(const char *p, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_name_start(p[0])) {
        return 0;
    }
    while (i < n && (is_name_start(p[i]) || (p[i] >= '0' && p[i] <= '9'))) {
        i++;
    }
    return i < n && p[i] == '{';
}

/*
 * Exposition text if the first meaningful line is a # HELP/TYPE/UNIT/EOF line
 * or parses as a sample, or starts like one (name{...) while no later line
 * starts like a row of delimited values (a digit, a sign, a quote, a
 * delimiter: exposition lines start with a name or '#'), so that a broken
 * sample is reported by the exposition parser at its line and column.
 * OpenMetrics if some sniffed line is only valid or only usual there.
 * Anything else is delimited text.
 */
static enum vigil_format sniff_format(const struct sniff *s, struct vigil_prom_line *ln)
{
    enum vigil_format f = VIGIL_FMT_DELIMITED;
    int decided = 0, om = 0;
    const char *counter = NULL; /* last counter family, to spot OpenMetrics' _total samples */
    size_t counter_len = 0;
    for (size_t i = 0; i < s->n; i++) {
        const char *p = sniff_line(s, i);
        size_t n = s->len[i], b = lead(p, n);
        p += b;
        n -= b;
        if (n == 0) {
            continue;
        }
        if (p[0] == '#') {
            if (starts_with(p, n, "# EOF") || starts_with(p, n, "# UNIT ")) {
                om = 1;
            }
            if (!decided && (starts_with(p, n, "# HELP ") || starts_with(p, n, "# TYPE ") ||
                             starts_with(p, n, "# UNIT ") || starts_with(p, n, "# EOF"))) {
                f = VIGIL_FMT_PROM;
                decided = 1;
            }
            if (vigil_prom_parse_line(p, n, VIGIL_PROM_OPENMETRICS, ln, NULL) == 0 &&
                ln->type == VIGIL_PROM_LINE_TYPE) {
                om |= ln->mtype >= VIGIL_PROM_GAUGEHISTOGRAM ||
                      (starts_with(p, n, "# TYPE ") && memmem(p, n, " unknown", 8) != NULL);
                counter = ln->mtype == VIGIL_PROM_COUNTER ? ln->name : NULL;
                counter_len = ln->name_len;
            }
            continue;
        }
        int text_ok = vigil_prom_parse_line(p, n, VIGIL_PROM_TEXT, ln, NULL) == 0;
        int om_ok = vigil_prom_parse_line(p, n, VIGIL_PROM_OPENMETRICS, ln, NULL) == 0;
        if (!decided) {
            f = text_ok || om_ok || name_then_brace(p, n) ? VIGIL_FMT_PROM : VIGIL_FMT_DELIMITED;
            if (!text_ok && !om_ok && f == VIGIL_FMT_PROM) {
                for (size_t j = i + 1; j < s->n; j++) {
                    const char *q = sniff_line(s, j);
                    size_t qn = s->len[j], qb = lead(q, qn);
                    if (qb < qn && q[qb] != '#' && !is_name_start(q[qb])) {
                        f = VIGIL_FMT_DELIMITED; /* a header, then rows of values */
                        break;
                    }
                }
            }
            decided = 1;
        }
        if (f != VIGIL_FMT_PROM) {
            break;
        }
        if (om_ok && !text_ok) {
            om = 1; /* fractional timestamp or exemplar */
        }
        if (om_ok && counter && ln->name_len == counter_len + 6 &&
            memcmp(ln->name, counter, counter_len) == 0 &&
            memcmp(ln->name + counter_len, "_total", 6) == 0) {
            om = 1;
        }
        counter = NULL;
    }
    return f == VIGIL_FMT_PROM && om ? VIGIL_FMT_OPENMETRICS : f;
}

/* ---- exposition text into a frame ---- */

struct expo {
    struct vigil_frame *fr;
    const struct vigil_read_opts *o;
    size_t row0; /* first row this read added */
    struct vigil_prom_parser ps;
    struct vigil_prom_line ln;
    struct vigil_buf key;           /* canonical series key of the current sample */
    struct vigil_series_table fams; /* distinct # TYPE family names */
    uint64_t scrape;                /* current scrape number, from 1 */
    uint64_t *col_scrape;           /* (F) last scrape that set each column */
    size_t *col_row;                /* (F) last row written in each column */
    size_t cols_cap;
    size_t def_row;      /* row of the current scrape's untimed samples */
    size_t first_ts_row; /* row of the current scrape's first timestamp */
    int64_t *mts;        /* open-addressing map timestamp -> row */
    size_t *mrow;
    size_t mcap, mn;
    int64_t file_ts; /* mtime of the scrape file, or UNTIMED */
    int any_ts;      /* some sample carried a timestamp */
    uint32_t pred;   /* next column expected (scrapes repeat their order) */
    size_t samples;
    int full; /* max_rows reached */
};

static int grow_cols(struct expo *e);

static int expo_init(struct expo *e, struct vigil_frame *fr, const struct vigil_read_opts *o)
{
    memset(e, 0, sizeof *e);
    e->fr = fr;
    e->o = o;
    e->row0 = fr->n;
    vigil_buf_init(&e->key);
    vigil_series_table_init(&e->fams);
    e->scrape = 1;
    e->def_row = NO_ROW;
    e->first_ts_row = NO_ROW;
    e->file_ts = UNTIMED;
    return grow_cols(e); /* the frame may already hold columns */
}

static void expo_fini(struct expo *e)
{
    vigil_buf_fini(&e->key);
    vigil_series_table_fini(&e->fams);
    vigil_free(e->col_scrape);
    vigil_free(e->col_row);
    vigil_free(e->mts);
    vigil_free(e->mrow);
}

static void new_scrape(struct expo *e)
{
    e->scrape++;
    e->def_row = NO_ROW;
    e->first_ts_row = NO_ROW;
}

static size_t ts_hash(int64_t ts, size_t mask)
{
    uint64_t h = (uint64_t)ts * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 17) & mask;
}

static size_t map_get(const struct expo *e, int64_t ts)
{
    if (!e->mcap) {
        return NO_ROW;
    }
    for (size_t i = ts_hash(ts, e->mcap - 1);; i = (i + 1) & (e->mcap - 1)) {
        if (e->mrow[i] == NO_ROW) {
            return NO_ROW;
        }
        if (e->mts[i] == ts) {
            return e->mrow[i];
        }
    }
}

static int map_put(struct expo *e, int64_t ts, size_t row)
{
    if ((e->mn + 1) * 2 > e->mcap) {
        size_t cap = e->mcap ? e->mcap * 2 : 256;
        int64_t *mts = vigil_mallocarray(cap, sizeof *mts);
        size_t *mrow = vigil_mallocarray(cap, sizeof *mrow);
        if (!mts || !mrow) {
            vigil_free(mts);
            vigil_free(mrow);
            return -ENOMEM;
        }
        for (size_t i = 0; i < cap; i++) {
            mrow[i] = NO_ROW;
        }
        for (size_t i = 0; i < e->mcap; i++) {
            if (e->mrow[i] != NO_ROW) {
                size_t j = ts_hash(e->mts[i], cap - 1);
                while (mrow[j] != NO_ROW) {
                    j = (j + 1) & (cap - 1);
                }
                mts[j] = e->mts[i];
                mrow[j] = e->mrow[i];
            }
        }
        vigil_free(e->mts);
        vigil_free(e->mrow);
        e->mts = mts;
        e->mrow = mrow;
        e->mcap = cap;
    }
    size_t j = ts_hash(ts, e->mcap - 1);
    while (e->mrow[j] != NO_ROW) {
        j = (j + 1) & (e->mcap - 1);
    }
    e->mts[j] = ts;
    e->mrow[j] = row;
    e->mn++;
    return 0;
}

/* Adds a row; VIGIL_EOF when max_rows is reached. */
static int new_row(struct expo *e, int64_t ts, size_t *row)
{
    if (e->o->max_rows && e->fr->n - e->row0 >= e->o->max_rows) {
        e->full = 1;
        return VIGIL_EOF;
    }
    int rc = vigil_frame_add_row(e->fr, ts, NULL);
    if (rc) {
        return rc;
    }
    *row = e->fr->n - 1;
    if (ts != UNTIMED) {
        rc = map_put(e, ts, *row);
    }
    return rc;
}

/* Keeps the per-column arrays as long as the frame's column count. */
static int grow_cols(struct expo *e)
{
    size_t f = e->fr->f;
    if (f <= e->cols_cap) {
        return 0;
    }
    size_t cap = e->cols_cap ? e->cols_cap : 64;
    while (cap < f) {
        cap *= 2;
    }
    uint64_t *cs = vigil_realloc(e->col_scrape, cap * sizeof *cs);
    if (!cs) {
        return -ENOMEM;
    }
    e->col_scrape = cs;
    size_t *cr = vigil_realloc(e->col_row, cap * sizeof *cr);
    if (!cr) {
        return -ENOMEM;
    }
    e->col_row = cr;
    for (size_t j = e->cols_cap; j < cap; j++) {
        cs[j] = 0;
        cr[j] = NO_ROW;
    }
    e->cols_cap = cap;
    return 0;
}

/*
 * Builds the canonical key name{a="x",...} with labels sorted by name. The
 * label values are copied still escaped: the exposition escapes (\\, \", \n)
 * are exactly the canonical ones, so no unescape/escape round is needed.
 */
static int build_key(struct vigil_buf *k, const struct vigil_prom_line *ln)
{
    const struct vigil_label_ref *l = ln->labels;
    size_t n = ln->n_labels;
    uint8_t ord[VIGIL_PROM_LABELS_MAX];
    for (size_t i = 0; i < n; i++) {
        ord[i] = (uint8_t)i;
    }
    /* Insertion sort: label sets are short and usually sorted already. */
    for (size_t i = 1; i < n; i++) {
        uint8_t t = ord[i];
        size_t j = i;
        while (j > 0) {
            const struct vigil_label_ref *a = &l[ord[j - 1]], *b = &l[t];
            size_t m = a->name_len < b->name_len ? a->name_len : b->name_len;
            int c = memcmp(a->name, b->name, m);
            if (c < 0 || (c == 0 && a->name_len <= b->name_len)) {
                break;
            }
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = t;
    }
    vigil_buf_reset(k);
    int rc = vigil_buf_append(k, ln->name, ln->name_len);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct vigil_label_ref *a = &l[ord[i]];
        rc = vigil_buf_append(k, i ? "," : "{", 1);
        rc = rc ? rc : vigil_buf_append(k, a->name, a->name_len);
        rc = rc ? rc : vigil_buf_append(k, "=\"", 2);
        rc = rc ? rc : vigil_buf_append(k, a->value, a->value_len);
        rc = rc ? rc : vigil_buf_append(k, "\"", 1);
    }
    if (!rc && n) {
        rc = vigil_buf_append(k, "}", 1);
    }
    return rc;
}

static int find_col(struct expo *e, uint32_t *id)
{
    const struct vigil_series_table *t = &e->fr->cols;
    const char *k = e->key.p;
    size_t n = e->key.len;
    if (e->pred < t->n && strncmp(t->v[e->pred].key, k, n) == 0 && t->v[e->pred].key[n] == '\0') {
        *id = e->pred;
    } else if (vigil_series_find(t, k, n, id) != 0) {
        int rc = vigil_frame_add_col(e->fr, k, n, id);
        if (rc) {
            return rc;
        }
        rc = grow_cols(e);
        if (rc) {
            return rc;
        }
    }
    e->pred = *id + 1;
    return 0;
}

static int expo_sample(struct expo *e, size_t lineno, struct vigil_diag *diag)
{
    const struct vigil_prom_line *ln = &e->ln;
    uint32_t id;
    int rc = build_key(&e->key, ln);
    rc = rc ? rc : find_col(e, &id);
    if (rc) {
        return rc;
    }
    struct vigil_series *s = &e->fr->cols.v[id];
    if (s->kind == VIGIL_KIND_UNKNOWN) {
        s->kind = ln->kind;
    }
    if (e->col_scrape[id] == e->scrape) {
        new_scrape(e); /* the series repeats: a new scrape begins */
    }
    e->col_scrape[id] = e->scrape;
    size_t row;
    if (ln->has_ts) {
        e->any_ts = 1;
        row = map_get(e, ln->ts_ns);
        if (row == NO_ROW) {
            if (e->def_row != NO_ROW && e->fr->ts[e->def_row] == UNTIMED) {
                /* The scrape's untimed samples came first: their row takes this time. */
                row = e->def_row;
                e->fr->ts[row] = ln->ts_ns;
                rc = map_put(e, ln->ts_ns, row);
            } else {
                rc = new_row(e, ln->ts_ns, &row);
            }
            if (rc) {
                return rc;
            }
        }
        if (e->first_ts_row == NO_ROW) {
            e->first_ts_row = row;
        }
    } else {
        if (e->def_row == NO_ROW) {
            if (e->first_ts_row != NO_ROW) {
                e->def_row = e->first_ts_row;
            } else {
                rc = new_row(e, e->file_ts, &e->def_row);
                if (rc) {
                    return rc;
                }
            }
        }
        row = e->def_row;
    }
    /* Rows this read made start as NaN: a number already there is an earlier sample. */
    if (e->col_row[id] == row || !isnan(vigil_frame_row(e->fr, row)[id])) {
        vigil_diag_set(diag, lineno, 1, "second value for series %.160s in one scrape/timestamp",
                       e->fr->cols.v[id].key);
        return VIGIL_EPARSE;
    }
    e->col_row[id] = row;
    vigil_frame_row(e->fr, row)[id] = (float)ln->value;
    e->samples++;
    return 0;
}

static int expo_line(struct expo *e, const char *p, size_t n, size_t lineno,
                     struct vigil_diag *diag)
{
    e->ps.line = lineno - 1;
    int rc = vigil_prom_parser_feed(&e->ps, p, n, &e->ln, diag);
    if (rc) {
        return rc;
    }
    switch (e->ln.type) {
    case VIGIL_PROM_LINE_SAMPLE:
        return expo_sample(e, lineno, diag);
    case VIGIL_PROM_LINE_TYPE: {
        uint32_t id;
        return vigil_series_intern(&e->fams, e->ln.name, e->ln.name_len, NULL, 0, &id);
    }
    case VIGIL_PROM_LINE_EOF:
        new_scrape(e);
        return 0;
    default:
        return 0;
    }
}

/* Gives untimed rows a time, then sorts the rows this read added by time (stable). */
struct row_key {
    int64_t ts;
    size_t row;
};

static int cmp_row_key(const void *a, const void *b)
{
    const struct row_key *x = a, *y = b;
    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }
    return (x->row > y->row) - (x->row < y->row);
}

static int expo_finish(struct expo *e)
{
    struct vigil_frame *fr = e->fr;
    int64_t step = e->o->default_step_ns > 0 ? e->o->default_step_ns : 1000000000;
    int64_t prev = UNTIMED;
    for (size_t r = e->row0; r < fr->n; r++) {
        if (fr->ts[r] == UNTIMED) {
            fr->ts[r] = e->any_ts && prev != UNTIMED ? prev + step : (int64_t)r * step;
        }
        prev = fr->ts[r];
    }
    if (e->any_ts || e->file_ts != UNTIMED) {
        fr->has_time = 1;
    }
    size_t m = fr->n - e->row0;
    int sorted = 1;
    for (size_t r = e->row0 + 1; r < fr->n && sorted; r++) {
        sorted = fr->ts[r - 1] <= fr->ts[r];
    }
    if (sorted) {
        return 0;
    }
    struct row_key *k = vigil_mallocarray(m, sizeof *k);
    float *x = vigil_mallocarray(m * (fr->f ? fr->f : 1), sizeof *x);
    if (!k || !x) {
        vigil_free(k);
        vigil_free(x);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        k[i] = (struct row_key){fr->ts[e->row0 + i], e->row0 + i};
    }
    qsort(k, m, sizeof *k, cmp_row_key);
    memcpy(x, vigil_frame_row(fr, e->row0), m * fr->f * sizeof *x);
    for (size_t i = 0; i < m; i++) {
        memcpy(vigil_frame_row(fr, e->row0 + i), x + (k[i].row - e->row0) * fr->f,
               fr->f * sizeof *x);
        fr->ts[e->row0 + i] = k[i].ts;
    }
    /* Labels never come from exposition text, so fr->y (if any) is all 0 here. */
    vigil_free(k);
    vigil_free(x);
    return 0;
}

/* ---- one input: sniff, then stream every line ---- */

struct input {
    struct expo *ex; /* exposition state, shared across the files of a directory */
    struct vigil__csv *csv;
    enum vigil_format fmt;
};

static int feed(struct input *in, const char *p, size_t n, size_t lineno, struct vigil_diag *diag)
{
    if (in->csv) {
        return vigil__csv_line(in->csv, p, n, lineno, diag);
    }
    return expo_line(in->ex, p, n, lineno, diag);
}

/*
 * Reads one stream. ex is the exposition state to use (a directory passes
 * its own); dir_file is 1 inside a directory, where only exposition text is
 * accepted.
 */
static int read_lines(struct vigil_frame *fr, struct vigil_lines *l,
                      const struct vigil_read_opts *o, struct vigil_read_info *info,
                      struct expo *ex, int dir_file, struct vigil_diag *diag)
{
    struct sniff s;
    struct input in = {0};
    int rc = sniff_fill(&s, l, diag);
    if (rc) {
        goto out;
    }
    in.fmt = o->format != VIGIL_FMT_AUTO ? o->format : sniff_format(&s, &ex->ln);
    if (dir_file && in.fmt == VIGIL_FMT_DELIMITED) {
        vigil_diag_set(diag, 0, 0,
                       "expected Prometheus exposition text in a directory of "
                       "scrape files, found delimited text");
        rc = VIGIL_EPARSE;
        goto out;
    }
    info->format = in.fmt;
    if (in.fmt == VIGIL_FMT_DELIMITED) {
        const char *lines[SNIFF_LINES];
        for (size_t i = 0; i < s.n; i++) {
            lines[i] = sniff_line(&s, i);
        }
        struct vigil__csv_layout lay;
        vigil__csv_sniff(lines, s.len, s.n, o, &lay);
        rc = vigil__csv_new(&in.csv, fr, o, &lay);
        if (rc) {
            goto out;
        }
    } else {
        in.ex = ex;
        vigil_prom_parser_fini(&ex->ps);
        vigil_prom_parser_init(&ex->ps, in.fmt == VIGIL_FMT_OPENMETRICS ? VIGIL_PROM_OPENMETRICS
                                                                        : VIGIL_PROM_TEXT);
    }
    size_t lineno = 0;
    for (size_t i = 0; i < s.n && !rc; i++) {
        rc = feed(&in, sniff_line(&s, i), s.len[i], ++lineno, diag);
    }
    while (!rc) {
        const char *p;
        size_t n;
        rc = vigil_lines_next(l, &p, &n, diag);
        if (rc == 0) {
            rc = feed(&in, p, n, ++lineno, diag);
        }
    }
    info->lines += lineno;
    if (rc == VIGIL_EOF) {
        rc = 0; /* the end of input, or max_rows reached */
    } else if (rc) {
        goto out;
    }
    if (in.csv) {
        rc = vigil__csv_finish(in.csv, info, diag);
    } else if (!ex->full) {
        rc = vigil_prom_parser_finish(&ex->ps, diag);
    }
out:
    vigil__csv_free(in.csv);
    vigil_buf_fini(&s.text);
    return rc;
}

static int expo_done(struct expo *ex, struct vigil_read_info *info, struct vigil_diag *diag)
{
    int rc = expo_finish(ex);
    info->samples += ex->samples;
    info->families = ex->fams.n;
    info->rows = ex->fr->n - ex->row0;
    if (!rc && info->rows == 0) {
        vigil_diag_set(diag, 0, 0, "no samples: expected metric lines");
        rc = VIGIL_EEMPTY;
    }
    return rc;
}

static int read_one(struct vigil_frame *fr, struct vigil_lines *l, const struct vigil_read_opts *o,
                    struct vigil_read_info *info, struct vigil_diag *diag)
{
    struct expo *ex = vigil_malloc(sizeof *ex);
    if (!ex) {
        return -ENOMEM;
    }
    int rc = expo_init(ex, fr, o);
    rc = rc ? rc : read_lines(fr, l, o, info, ex, 0, diag);
    info->files = 1;
    if (!rc && info->format != VIGIL_FMT_DELIMITED) {
        rc = expo_done(ex, info, diag);
    }
    vigil_prom_parser_fini(&ex->ps);
    expo_fini(ex);
    vigil_free(ex);
    return rc;
}

static void begin(const struct vigil_read_opts **o, struct vigil_read_opts *def,
                  struct vigil_read_info **info, struct vigil_read_info *tmp,
                  struct vigil_diag *diag)
{
    if (!*o) {
        vigil_read_opts_default(def);
        *o = def;
    }
    if (!*info) {
        *info = tmp;
    }
    memset(*info, 0, sizeof **info);
    (*info)->time_col = -1;
    (*info)->label_col = -1;
    vigil_diag_clear(diag);
}

int vigil_frame_read_mem(struct vigil_frame *fr, const char *p, size_t n,
                         const struct vigil_read_opts *opts, struct vigil_read_info *info,
                         struct vigil_diag *diag)
{
    struct vigil_read_opts def;
    struct vigil_read_info tmp;
    begin(&opts, &def, &info, &tmp, diag);
    struct vigil_lines l;
    int rc = vigil_lines_open_mem(&l, p, n, opts->max_line);
    if (rc) {
        return rc;
    }
    rc = read_one(fr, &l, opts, info, diag);
    vigil_lines_close(&l);
    return rc;
}

/* ---- a directory of scrape files ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the regular, non-hidden files of a directory in name order. */
static int list_dir(const char *path, char ***names, size_t *n)
{
    DIR *d = opendir(path);
    if (!d) {
        return -errno;
    }
    char **v = NULL;
    size_t k = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char full[4096];
        struct stat st;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", path, de->d_name) >= sizeof full ||
            stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (k == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nv = vigil_realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[k] = vigil_strdup(de->d_name);
        if (!v[k]) {
            rc = -ENOMEM;
            break;
        }
        k++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < k; i++) {
            vigil_free(v[i]);
        }
        vigil_free(v);
        return rc;
    }
    if (k) {
        qsort(v, k, sizeof *v, cmp_str);
    }
    *names = v;
    *n = k;
    return 0;
}

/* Puts the file name in front of a diagnostic from inside a directory. */
static void diag_prefix(struct vigil_diag *diag, const char *name, int rc)
{
    if (!diag) {
        return;
    }
    char msg[sizeof diag->msg];
    snprintf(msg, sizeof msg, "%.60s: %.190s", name, diag->msg[0] ? diag->msg : vigil_strerror(rc));
    memcpy(diag->msg, msg, sizeof msg);
}

static int read_dir(struct vigil_frame *fr, const char *path, const struct vigil_read_opts *o,
                    struct vigil_read_info *info, struct vigil_diag *diag)
{
    char **names = NULL;
    size_t n = 0;
    int rc = list_dir(path, &names, &n);
    if (rc) {
        return rc;
    }
    struct expo *ex = vigil_malloc(sizeof *ex);
    if (!ex) {
        rc = -ENOMEM;
        goto out;
    }
    rc = expo_init(ex, fr, o);
    vigil_prom_parser_init(&ex->ps, VIGIL_PROM_TEXT);
    if (!rc && n == 0) {
        vigil_diag_set(diag, 0, 0, "no scrape files in the directory");
        rc = VIGIL_EEMPTY;
    }
    int om = 0;
    for (size_t i = 0; i < n && !rc && !ex->full; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        struct stat st;
        struct vigil_lines l;
        rc = stat(full, &st) ? -errno : vigil_lines_open(&l, full, o->max_line);
        if (rc) {
            vigil_diag_set(diag, 0, 0, "open: %s", vigil_strerror(rc));
            diag_prefix(diag, names[i], rc);
            break;
        }
        new_scrape(ex); /* each file is one scrape */
        ex->file_ts = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        rc = read_lines(fr, &l, o, info, ex, 1, diag);
        vigil_lines_close(&l);
        om |= info->format == VIGIL_FMT_OPENMETRICS;
        if (rc) {
            diag_prefix(diag, names[i], rc);
        }
        info->files++;
    }
    if (!rc) {
        info->format = om ? VIGIL_FMT_OPENMETRICS : VIGIL_FMT_PROM;
        rc = expo_done(ex, info, diag);
    }
    vigil_prom_parser_fini(&ex->ps);
    expo_fini(ex);
    vigil_free(ex);
out:
    for (size_t i = 0; i < n; i++) {
        vigil_free(names[i]);
    }
    vigil_free(names);
    return rc;
}

int vigil_frame_read(struct vigil_frame *fr, const char *path, const struct vigil_read_opts *opts,
                     struct vigil_read_info *info, struct vigil_diag *diag)
{
    struct vigil_read_opts def;
    struct vigil_read_info tmp;
    begin(&opts, &def, &info, &tmp, diag);
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (opts->format == VIGIL_FMT_DELIMITED) {
            vigil_diag_set(diag, 0, 0, "a directory holds scrape files, not delimited text");
            return VIGIL_EPARSE;
        }
        return read_dir(fr, path, opts, info, diag);
    }
    struct vigil_lines l;
    int rc = vigil_lines_open(&l, path, opts->max_line);
    if (rc) {
        return rc;
    }
    rc = read_one(fr, &l, opts, info, diag);
    vigil_lines_close(&l);
    return rc;
}
