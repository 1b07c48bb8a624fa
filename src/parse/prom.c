/*
 * Prometheus text exposition 0.0.4 and OpenMetrics text: the line parser, the
 * stream parser that ties samples to their # TYPE family, and the writer.
 *
 * The line parser walks the bytes once, left to right, and stops at the first
 * byte it cannot accept, reporting that byte's column and what it expected
 * there. Names and label values are returned as pointers into the line; label
 * values keep their escapes so the hot path copies nothing. It follows the
 * reference Go parser on what it accepts (blanks around tokens, a trailing
 * comma in label sets, NaN/Inf in any case) and is strict where a mistake
 * would silently change data (escapes, duplicate labels, trailing text).
 * Exemplars are checked and skipped. This file does not build frames: that
 * is reader.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vigil/mem.h"
#include "vigil/prom.h"

/* ---- character classes ---- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_metric_start(char c)
{
    return is_alpha_(c) || c == ':';
}

static int is_metric_char(char c)
{
    return is_metric_start(c) || is_digit(c);
}

static size_t skip_blanks(const char *p, size_t n, size_t i)
{
    while (i < n && is_blank(p[i])) {
        i++;
    }
    return i;
}

/* Describes what sits at p[i] for an error message: 'c', byte 0xNN or end of line. */
static const char *found(const char *p, size_t n, size_t i, char *buf, size_t cap)
{
    if (i >= n) {
        return "end of line";
    }
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f) {
        snprintf(buf, cap, "'%c'", c);
    } else {
        snprintf(buf, cap, "byte 0x%02x", c);
    }
    return buf;
}

/* Sets diag (line unknown) with column i + 1 and "expected ..., found ...". */
static int expected(struct vigil_diag *diag, const char *p, size_t n, size_t i, const char *what)
{
    char b[16];
    vigil_diag_set(diag, 0, i + 1, "expected %s, found %s", what, found(p, n, i, b, sizeof b));
    return VIGIL_EPARSE;
}

/* Ends a token at the next blank. */
static size_t token_end(const char *p, size_t n, size_t i)
{
    while (i < n && !is_blank(p[i])) {
        i++;
    }
    return i;
}

/* Quotes at most 40 bytes of a token for messages. */
static int tok_len(size_t n)
{
    return n > 40 ? 40 : (int)n;
}

/* ---- types ---- */

static const char *const type_names[] = {"untyped", "counter",        "gauge", "histogram",
                                         "summary", "gaugehistogram", "info",  "stateset"};

const char *vigil_prom_type_name(enum vigil_prom_type t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "untyped";
}

static int type_from_word(const char *p, size_t n, enum vigil_prom_type *t)
{
    for (size_t k = 0; k < sizeof type_names / sizeof type_names[0]; k++) {
        if (strlen(type_names[k]) == n && memcmp(type_names[k], p, n) == 0) {
            *t = (enum vigil_prom_type)k;
            return 0;
        }
    }
    if (n == 7 && memcmp(p, "unknown", 7) == 0) { /* OpenMetrics' name for untyped */
        *t = VIGIL_PROM_UNTYPED;
        return 0;
    }
    return -1;
}

/* ---- line parser ---- */

/*
 * Parses a label set starting after '{' at p[*i] up to and including '}'.
 * Refs get borrowed names and escaped values.
 */
static int parse_labels(const char *p, size_t n, size_t *pi, struct vigil_label_ref *refs,
                        size_t *n_refs, size_t max, int *escaped, struct vigil_diag *diag)
{
    size_t i = *pi, k = 0;
    for (;;) {
        i = skip_blanks(p, n, i);
        if (i < n && p[i] == '}') {
            i++;
            break;
        }
        if (i >= n || !is_alpha_(p[i])) {
            return expected(diag, p, n, i, k ? "a label name or '}'" : "a label name or '}'");
        }
        size_t ns = i;
        while (i < n && (is_alpha_(p[i]) || is_digit(p[i]))) {
            i++;
        }
        size_t ne = i;
        i = skip_blanks(p, n, i);
        if (i >= n || p[i] != '=') {
            return expected(diag, p, n, i, "'=' after the label name");
        }
        i = skip_blanks(p, n, i + 1);
        if (i >= n || p[i] != '"') {
            return expected(diag, p, n, i, "'\"' to open the label value");
        }
        size_t open = i++;
        size_t vs = i;
        while (i < n && p[i] != '"') {
            if (p[i] == '\\') {
                if (i + 1 >= n) {
                    break;
                }
                char e = p[i + 1];
                if (e != '\\' && e != '"' && e != 'n') {
                    char b[16];
                    vigil_diag_set(diag, 0, i + 1,
                                   "invalid escape in label value: expected \\\\, \\\" or \\n, "
                                   "found '\\' then %s",
                                   found(p, n, i + 1, b, sizeof b));
                    return VIGIL_EPARSE;
                }
                *escaped = 1;
                i += 2;
            } else {
                i++;
            }
        }
        if (i >= n) {
            vigil_diag_set(diag, 0, n + 1,
                           "expected '\"' to close the label value opened at column %zu, found "
                           "end of line",
                           open + 1);
            return VIGIL_EPARSE;
        }
        size_t ve = i++;
        for (size_t j = 0; j < k; j++) {
            if (refs[j].name_len == ne - ns && memcmp(refs[j].name, p + ns, ne - ns) == 0) {
                vigil_diag_set(diag, 0, ns + 1, "duplicate label '%.*s'", tok_len(ne - ns), p + ns);
                return VIGIL_EPARSE;
            }
        }
        if (k == max) {
            vigil_diag_set(diag, 0, ns + 1, "more than %zu labels", max);
            return VIGIL_EPARSE;
        }
        refs[k++] = (struct vigil_label_ref){p + ns, ne - ns, p + vs, ve - vs};
        i = skip_blanks(p, n, i);
        if (i < n && p[i] == ',') {
            i++;
            continue;
        }
        if (i < n && p[i] == '}') {
            i++;
            break;
        }
        return expected(diag, p, n, i, "',' or '}' after the label value");
    }
    *n_refs = k;
    *pi = i;
    return 0;
}

static int parse_value(const char *p, size_t n, size_t *pi, double *v, struct vigil_diag *diag)
{
    size_t i = *pi, e = token_end(p, n, i);
    int rc = vigil__num_double(p + i, e - i, v);
    if (rc == -2) {
        vigil_diag_set(diag, 0, i + 1, "number out of range: '%.*s'", tok_len(e - i), p + i);
        return VIGIL_EPARSE;
    }
    if (rc) {
        vigil_diag_set(diag, 0, i + 1, "expected a number (or NaN, +Inf, -Inf), found '%.*s'",
                       tok_len(e - i), p + i);
        return VIGIL_EPARSE;
    }
    *pi = e;
    return 0;
}

static int parse_timestamp(const char *p, size_t n, size_t *pi, enum vigil_prom_dialect dialect,
                           int64_t *ns, struct vigil_diag *diag)
{
    size_t i = *pi, e = token_end(p, n, i);
    if (dialect == VIGIL_PROM_OPENMETRICS) {
        int rc = vigil__num_scaled_ns(p + i, e - i, 1000000000, ns);
        if (rc) {
            vigil_diag_set(diag, 0, i + 1, "%s: '%.*s'",
                           rc == -2 ? "timestamp out of range"
                                    : "expected a timestamp in seconds or the end of the line",
                           tok_len(e - i), p + i);
            return VIGIL_EPARSE;
        }
    } else {
        int64_t ms;
        if (vigil__num_i64(p + i, e - i, &ms)) {
            vigil_diag_set(diag, 0, i + 1,
                           "expected a timestamp in integer milliseconds or the end of the line, "
                           "found '%.*s'",
                           tok_len(e - i), p + i);
            return VIGIL_EPARSE;
        }
        if (ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000) {
            vigil_diag_set(diag, 0, i + 1, "timestamp out of range: '%.*s'", tok_len(e - i), p + i);
            return VIGIL_EPARSE;
        }
        *ns = ms * 1000000;
    }
    *pi = e;
    return 0;
}

/* OpenMetrics exemplar after the value or timestamp: "# {labels} value [timestamp]". */
static int skip_exemplar(const char *p, size_t n, size_t i, struct vigil_diag *diag)
{
    struct vigil_label_ref refs[VIGIL_PROM_LABELS_MAX];
    size_t n_refs;
    int escaped = 0;
    i = skip_blanks(p, n, i + 1);
    if (i >= n || p[i] != '{') {
        return expected(diag, p, n, i, "'{' to open the exemplar's labels");
    }
    i++;
    int rc = parse_labels(p, n, &i, refs, &n_refs, VIGIL_PROM_LABELS_MAX, &escaped, diag);
    if (rc) {
        return rc;
    }
    i = skip_blanks(p, n, i);
    if (i >= n) {
        return expected(diag, p, n, i, "the exemplar's value");
    }
    double v;
    rc = parse_value(p, n, &i, &v, diag);
    if (rc) {
        return rc;
    }
    i = skip_blanks(p, n, i);
    if (i < n) {
        int64_t ts;
        rc = parse_timestamp(p, n, &i, VIGIL_PROM_OPENMETRICS, &ts, diag);
        if (rc) {
            return rc;
        }
        i = skip_blanks(p, n, i);
    }
    if (i < n) {
        return expected(diag, p, n, i, "the end of the line after the exemplar");
    }
    return 0;
}

static int parse_sample(const char *p, size_t n, size_t i, enum vigil_prom_dialect dialect,
                        struct vigil_prom_line *out, struct vigil_diag *diag)
{
    if (!is_metric_start(p[i])) {
        return expected(diag, p, n, i, "a metric name or '#'");
    }
    size_t ns = i;
    while (i < n && is_metric_char(p[i])) {
        i++;
    }
    out->type = VIGIL_PROM_LINE_SAMPLE;
    out->name = p + ns;
    out->name_len = i - ns;
    if (i < n && !is_blank(p[i]) && p[i] != '{') {
        return expected(diag, p, n, i, "'{' or a blank after the metric name");
    }
    i = skip_blanks(p, n, i);
    if (i < n && p[i] == '{') {
        i++;
        int rc = parse_labels(p, n, &i, out->labels, &out->n_labels, VIGIL_PROM_LABELS_MAX,
                              &out->escaped, diag);
        if (rc) {
            return rc;
        }
        i = skip_blanks(p, n, i);
    }
    if (i >= n) {
        return expected(diag, p, n, i, "a value");
    }
    int rc = parse_value(p, n, &i, &out->value, diag);
    if (rc) {
        return rc;
    }
    i = skip_blanks(p, n, i);
    if (i < n && p[i] != '#') {
        rc = parse_timestamp(p, n, &i, dialect, &out->ts_ns, diag);
        if (rc) {
            return rc;
        }
        out->has_ts = 1;
        i = skip_blanks(p, n, i);
    }
    if (i < n && p[i] == '#' && dialect == VIGIL_PROM_OPENMETRICS) {
        return skip_exemplar(p, n, i, diag);
    }
    if (i < n) {
        return expected(diag, p, n, i, "the end of the line");
    }
    return 0;
}

/* Reads a keyword after '#'; returns its length (0 when none). */
static size_t keyword(const char *p, size_t n, size_t i)
{
    size_t s = i;
    while (i < n && p[i] >= 'A' && p[i] <= 'Z') {
        i++;
    }
    return i - s;
}

static int parse_meta_name(const char *p, size_t n, size_t *pi, const char *kw,
                           struct vigil_prom_line *out, struct vigil_diag *diag)
{
    size_t i = skip_blanks(p, n, *pi);
    if (i >= n || !is_metric_start(p[i])) {
        char what[48];
        snprintf(what, sizeof what, "a metric name after # %s", kw);
        return expected(diag, p, n, i, what);
    }
    size_t ns = i;
    while (i < n && is_metric_char(p[i])) {
        i++;
    }
    if (i < n && !is_blank(p[i])) {
        return expected(diag, p, n, i, "a blank after the metric name");
    }
    out->name = p + ns;
    out->name_len = i - ns;
    *pi = i;
    return 0;
}

static int parse_comment(const char *p, size_t n, size_t i, struct vigil_prom_line *out,
                         struct vigil_diag *diag)
{
    i = skip_blanks(p, n, i + 1);
    size_t kl = keyword(p, n, i);
    const char *kw = p + i;
    int sep = i + kl == n || is_blank(p[i + kl]);
    out->type = VIGIL_PROM_LINE_COMMENT;
    if (!sep || kl < 3 || kl > 4) {
        return 0;
    }
    if (kl == 3 && memcmp(kw, "EOF", 3) == 0) {
        if (skip_blanks(p, n, i + 3) == n) {
            out->type = VIGIL_PROM_LINE_EOF;
        }
        return 0;
    }
    if (kl != 4) {
        return 0;
    }
    int is_help = memcmp(kw, "HELP", 4) == 0, is_type = memcmp(kw, "TYPE", 4) == 0;
    int is_unit = memcmp(kw, "UNIT", 4) == 0;
    if (!(is_help || is_type || is_unit)) {
        return 0;
    }
    i += 4;
    char kws[5] = {kw[0], kw[1], kw[2], kw[3], '\0'};
    int rc = parse_meta_name(p, n, &i, kws, out, diag);
    if (rc) {
        return rc;
    }
    i = skip_blanks(p, n, i);
    if (is_type) {
        size_t e = token_end(p, n, i);
        if (type_from_word(p + i, e - i, &out->mtype)) {
            vigil_diag_set(diag, 0, i + 1,
                           "expected a metric type (counter, gauge, histogram, summary, untyped, "
                           "unknown, gaugehistogram, info, stateset), found '%.*s'",
                           tok_len(e - i), p + i);
            return VIGIL_EPARSE;
        }
        i = skip_blanks(p, n, e);
        if (i < n) {
            return expected(diag, p, n, i, "the end of the line after the type");
        }
        out->type = VIGIL_PROM_LINE_TYPE;
        return 0;
    }
    out->type = is_help ? VIGIL_PROM_LINE_HELP : VIGIL_PROM_LINE_UNIT;
    out->text = p + i;
    out->text_len = n - i;
    return 0;
}

int vigil_prom_parse_line(const char *p, size_t n, enum vigil_prom_dialect dialect,
                          struct vigil_prom_line *out, struct vigil_diag *diag)
{
    /* Not a memset: the label array is large and only n_labels entries are read. */
    out->type = VIGIL_PROM_LINE_BLANK;
    out->name = NULL;
    out->name_len = 0;
    out->text = NULL;
    out->text_len = 0;
    out->mtype = VIGIL_PROM_UNTYPED;
    out->n_labels = 0;
    out->escaped = 0;
    out->value = 0;
    out->has_ts = 0;
    out->ts_ns = 0;
    out->kind = VIGIL_KIND_UNKNOWN;
    out->family_type = VIGIL_PROM_UNTYPED;
    out->family_len = 0;
    size_t i = skip_blanks(p, n, 0);
    if (i == n) {
        return 0;
    }
    if (p[i] == '#') {
        return parse_comment(p, n, i, out, diag);
    }
    return parse_sample(p, n, i, dialect, out, diag);
}

size_t vigil_prom_unescape(const char *p, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            i++;
            c = p[i] == 'n' ? '\n' : p[i];
        }
        out[k++] = c;
    }
    return k;
}

/* ---- stream parser ---- */

void vigil_prom_parser_init(struct vigil_prom_parser *ps, enum vigil_prom_dialect dialect)
{
    memset(ps, 0, sizeof *ps);
    ps->dialect = dialect;
    vigil_buf_init(&ps->family);
}

void vigil_prom_parser_fini(struct vigil_prom_parser *ps)
{
    vigil_buf_fini(&ps->family);
    memset(ps, 0, sizeof *ps);
}

static int set_family(struct vigil_prom_parser *ps, const char *name, size_t n,
                      enum vigil_prom_type t, int typed)
{
    if (ps->family.len != n || memcmp(ps->family.p, name, n) != 0) {
        vigil_buf_reset(&ps->family);
        int rc = vigil_buf_append(&ps->family, name, n);
        if (rc) {
            return rc;
        }
    }
    ps->family_type = t;
    ps->typed = typed;
    return 0;
}

static int suffix_is(const char *s, size_t n, const char *suf)
{
    return strlen(suf) == n && memcmp(s, suf, n) == 0;
}

/* Kind of a sample whose name is the family name followed by suf; -1 if it does not belong. */
static int member_kind(enum vigil_prom_type t, const char *suf, size_t sn)
{
    if (suffix_is(suf, sn, "_created") && t != VIGIL_PROM_GAUGE && t != VIGIL_PROM_UNTYPED) {
        return VIGIL_KIND_GAUGE;
    }
    switch (t) {
    case VIGIL_PROM_COUNTER:
        return sn == 0 || suffix_is(suf, sn, "_total") ? VIGIL_KIND_COUNTER : -1;
    case VIGIL_PROM_GAUGE:
        return sn == 0 ? VIGIL_KIND_GAUGE : -1;
    case VIGIL_PROM_HISTOGRAM:
        return suffix_is(suf, sn, "_bucket") || suffix_is(suf, sn, "_count") ||
                       suffix_is(suf, sn, "_sum")
                   ? VIGIL_KIND_COUNTER
                   : -1;
    case VIGIL_PROM_SUMMARY:
        if (sn == 0) {
            return VIGIL_KIND_GAUGE; /* quantiles */
        }
        return suffix_is(suf, sn, "_count") || suffix_is(suf, sn, "_sum") ? VIGIL_KIND_COUNTER : -1;
    case VIGIL_PROM_GAUGEHISTOGRAM:
        return suffix_is(suf, sn, "_bucket") || suffix_is(suf, sn, "_gcount") ||
                       suffix_is(suf, sn, "_gsum")
                   ? VIGIL_KIND_GAUGE
                   : -1;
    case VIGIL_PROM_INFO:
        return sn == 0 || suffix_is(suf, sn, "_info") ? VIGIL_KIND_GAUGE : -1;
    case VIGIL_PROM_STATESET:
        return sn == 0 ? VIGIL_KIND_GAUGE : -1;
    case VIGIL_PROM_UNTYPED:
    default:
        return sn == 0 ? VIGIL_KIND_UNKNOWN : -1;
    }
}

static int classify(struct vigil_prom_parser *ps, struct vigil_prom_line *out)
{
    size_t fn = ps->family.len;
    if (fn && out->name_len >= fn && memcmp(out->name, ps->family.p, fn) == 0) {
        int k = member_kind(ps->family_type, out->name + fn, out->name_len - fn);
        if (k >= 0) {
            out->kind = (uint8_t)k;
            out->family_type = ps->family_type;
            out->family_len = fn;
            return 0;
        }
    }
    /* A sample outside the current family starts an untyped one, as in the Go parser. */
    out->kind = VIGIL_KIND_UNKNOWN;
    out->family_type = VIGIL_PROM_UNTYPED;
    out->family_len = out->name_len;
    return set_family(ps, out->name, out->name_len, VIGIL_PROM_UNTYPED, 0);
}

int vigil_prom_parser_feed(struct vigil_prom_parser *ps, const char *p, size_t n,
                           struct vigil_prom_line *out, struct vigil_diag *diag)
{
    ps->line++;
    int rc = vigil_prom_parse_line(p, n, ps->dialect, out, diag);
    if (rc) {
        if (diag) {
            diag->line = ps->line;
        }
        return rc;
    }
    if (out->type != VIGIL_PROM_LINE_BLANK && ps->eof) {
        /* Content after # EOF: the next exposition of a multi-scrape file. */
        ps->eof = 0;
        vigil_buf_reset(&ps->family);
        ps->family_type = VIGIL_PROM_UNTYPED;
    }
    switch (out->type) {
    case VIGIL_PROM_LINE_TYPE:
        ps->types++;
        rc = set_family(ps, out->name, out->name_len, out->mtype, 1);
        break;
    case VIGIL_PROM_LINE_HELP:
    case VIGIL_PROM_LINE_UNIT:
        if (ps->family.len != out->name_len ||
            memcmp(ps->family.p, out->name, out->name_len) != 0) {
            rc = set_family(ps, out->name, out->name_len, VIGIL_PROM_UNTYPED, 0);
        }
        break;
    case VIGIL_PROM_LINE_SAMPLE:
        ps->samples++;
        rc = classify(ps, out);
        break;
    case VIGIL_PROM_LINE_EOF:
        if (ps->dialect == VIGIL_PROM_OPENMETRICS) {
            ps->eof = 1;
        } else {
            out->type = VIGIL_PROM_LINE_COMMENT; /* just a comment in 0.0.4 */
        }
        break;
    default:
        break;
    }
    return rc;
}

int vigil_prom_parser_finish(struct vigil_prom_parser *ps, struct vigil_diag *diag)
{
    if (ps->dialect == VIGIL_PROM_OPENMETRICS && !ps->eof && ps->line > 0) {
        vigil_diag_set(diag, ps->line, 0,
                       "expected '# EOF' at the end of OpenMetrics input (truncated file?)");
        return VIGIL_EPARSE;
    }
    return 0;
}

/* ---- writer ---- */

static int valid_metric_name(const char *s)
{
    if (!s || !is_metric_start(s[0])) {
        return 0;
    }
    for (size_t i = 1; s[i]; i++) {
        if (!is_metric_char(s[i])) {
            return 0;
        }
    }
    return 1;
}

static int valid_label_name(const char *s, size_t n)
{
    if (n == 0 || !is_alpha_(s[0])) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if (!is_alpha_(s[i]) && !is_digit(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Appends text with the given characters escaped (\\ and \n always, \" for label values). */
static int append_escaped(struct vigil_buf *b, const char *p, size_t n, int quote)
{
    int rc = 0;
    size_t run = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *esc = p[i] == '\\'           ? "\\\\"
                          : p[i] == '\n'         ? "\\n"
                          : quote && p[i] == '"' ? "\\\""
                                                 : NULL;
        if (esc) {
            rc = vigil_buf_append(b, p + run, i - run);
            rc = rc ? rc : vigil_buf_append(b, esc, 2);
            run = i + 1;
        }
    }
    return rc ? rc : vigil_buf_append(b, p + run, n - run);
}

int vigil_prom_escape_label(struct vigil_buf *out, const char *s, size_t n)
{
    return append_escaped(out, s, n, 1);
}

static int write_header(struct vigil_buf *out, const char *name, const char *help,
                        enum vigil_prom_type type)
{
    int rc = 0;
    if (help) {
        rc = vigil_buf_appendf(out, "# HELP %s ", name);
        rc = rc ? rc : append_escaped(out, help, strlen(help), 0);
        rc = rc ? rc : vigil_buf_append(out, "\n", 1);
    }
    return rc ? rc : vigil_buf_appendf(out, "# TYPE %s %s\n", name, vigil_prom_type_name(type));
}

static int write_sample(struct vigil_buf *out, const char *name, const struct vigil_label_ref *l,
                        size_t n_labels, double value, int has_ts, int64_t ts_ms)
{
    int rc = vigil_buf_puts(out, name);
    for (size_t i = 0; i < n_labels && !rc; i++) {
        rc = vigil_buf_append(out, i ? "," : "{", 1);
        rc = rc ? rc : vigil_buf_append(out, l[i].name, l[i].name_len);
        rc = rc ? rc : vigil_buf_append(out, "=\"", 2);
        rc = rc ? rc : append_escaped(out, l[i].value, l[i].value_len, 1);
        rc = rc ? rc : vigil_buf_append(out, "\"", 1);
    }
    if (!rc && n_labels) {
        rc = vigil_buf_append(out, "}", 1);
    }
    rc = rc ? rc : vigil_buf_append(out, " ", 1);
    rc = rc ? rc : vigil__num_format_value(out, value, 0);
    if (!rc && has_ts) {
        rc = vigil_buf_appendf(out, " %lld", (long long)ts_ms);
    }
    return rc ? rc : vigil_buf_append(out, "\n", 1);
}

int vigil_prom_write_family(struct vigil_buf *out, const char *name, const char *help,
                            enum vigil_prom_type type, const struct vigil_prom_sample *samples,
                            size_t n)
{
    if (!valid_metric_name(name)) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (samples[i].name && !valid_metric_name(samples[i].name)) {
            return -EINVAL;
        }
        for (size_t j = 0; j < samples[i].n_labels; j++) {
            if (!valid_label_name(samples[i].labels[j].name, samples[i].labels[j].name_len)) {
                return -EINVAL;
            }
        }
    }
    size_t mark = out->len;
    int rc = write_header(out, name, help, type);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct vigil_prom_sample *s = &samples[i];
        rc = write_sample(out, s->name ? s->name : name, s->labels, s->n_labels, s->value,
                          s->has_ts, s->ts_ms);
    }
    if (rc && out->p) {
        out->len = mark; /* leave no half-written family behind */
        out->p[mark] = '\0';
    }
    return rc;
}

/* Sorting columns by metric name groups each family; the index breaks ties. */
struct col_key {
    const char *name;
    uint32_t j;
};

static int cmp_col(const void *a, const void *b)
{
    const struct col_key *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->j > y->j) - (x->j < y->j);
}

int vigil_prom_write_row(struct vigil_buf *out, const struct vigil_frame *fr, size_t row,
                         int with_ts)
{
    if (row >= fr->n) {
        return -EINVAL;
    }
    for (size_t j = 0; j < fr->f; j++) {
        if (!valid_metric_name(fr->cols.v[j].name)) {
            return -EINVAL;
        }
    }
    struct col_key *order = vigil_mallocarray(fr->f ? fr->f : 1, sizeof *order);
    if (!order) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < fr->f; j++) {
        order[j] = (struct col_key){fr->cols.v[j].name, (uint32_t)j};
    }
    qsort(order, fr->f, sizeof *order, cmp_col);
    const float *x = vigil_frame_row(fr, row);
    int64_t ts = fr->ts[row];
    int64_t ts_ms = ts >= 0 ? ts / 1000000 : -((-ts + 999999) / 1000000);
    struct vigil_label_ref refs[VIGIL_PROM_LABELS_MAX];
    size_t mark = out->len;
    int rc = 0;
    for (size_t a = 0; a < fr->f && !rc;) {
        const struct vigil_series *s0 = &fr->cols.v[order[a].j];
        size_t b = a + 1;
        uint8_t kind = s0->kind;
        while (b < fr->f && strcmp(fr->cols.v[order[b].j].name, s0->name) == 0) {
            if (fr->cols.v[order[b].j].kind != kind) {
                kind = VIGIL_KIND_UNKNOWN; /* mixed kinds: say nothing we cannot stand by */
            }
            b++;
        }
        enum vigil_prom_type t = kind == VIGIL_KIND_COUNTER ? VIGIL_PROM_COUNTER
                                 : kind == VIGIL_KIND_GAUGE ? VIGIL_PROM_GAUGE
                                                            : VIGIL_PROM_UNTYPED;
        char help[96];
        snprintf(help, sizeof help, "%s series read by vigil.", vigil_kind_name(kind));
        rc = write_header(out, s0->name, help, t);
        for (size_t k = a; k < b && !rc; k++) {
            const struct vigil_series *s = &fr->cols.v[order[k].j];
            size_t nl = s->n_labels < VIGIL_PROM_LABELS_MAX ? s->n_labels : VIGIL_PROM_LABELS_MAX;
            for (size_t j = 0; j < nl; j++) {
                refs[j] = (struct vigil_label_ref){s->labels[j].name, strlen(s->labels[j].name),
                                                   s->labels[j].value, strlen(s->labels[j].value)};
            }
            rc = write_sample(out, s->name, refs, nl, (double)x[order[k].j], with_ts, ts_ms);
        }
        a = b;
    }
    vigil_free(order);
    if (rc && out->p) {
        out->len = mark;
        out->p[mark] = '\0';
    }
    return rc;
}
