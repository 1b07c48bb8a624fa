/*
 * Exposition parser tests: table-driven good and bad lines (checking the
 * reported column and reason), family typing of histogram/summary/OpenMetrics
 * samples, line numbers from the stream parser, # EOF, the writer round trip
 * through the parser and through the frame reader, multi-scrape files and
 * directories, the real node_exporter and cAdvisor fixtures (counts pinned
 * from grep/awk), and an OOM sweep over the whole exposition-to-frame path.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "vigil/frame.h"
#include "vigil/mem.h"
#include "vigil/prom.h"
#include "vigil/reader.h"

/* ---- line parser: good lines ---- */

struct good_case {
    const char *in;
    enum vigil_prom_dialect d;
    enum vigil_prom_line_type type;
    const char *name;
    size_t n_labels;
    double value; /* compared with ==, or isnan when NAN */
    int has_ts;
    int64_t ts_ns;
};

static void test_parse_good_lines(void **state)
{
    (void)state;
    const struct good_case cases[] = {
        {"", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_BLANK, NULL, 0, 0, 0, 0},
        {"   \t", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_BLANK, NULL, 0, 0, 0, 0},
        {"# just a comment", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_COMMENT, NULL, 0, 0, 0, 0},
        {"#HELPER x", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_COMMENT, NULL, 0, 0, 0, 0},
        /* Found by fuzz_prom: a 3-letter keyword other than EOF read 4 bytes. */
        {"#ELP", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_COMMENT, NULL, 0, 0, 0, 0},
        {"# EOFX", VIGIL_PROM_OPENMETRICS, VIGIL_PROM_LINE_COMMENT, NULL, 0, 0, 0, 0},
        {"# HELP up Whether the target is up.", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_HELP, "up", 0, 0,
         0, 0},
        {"# TYPE up gauge", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_TYPE, "up", 0, 0, 0, 0},
        {"# UNIT x_seconds seconds", VIGIL_PROM_OPENMETRICS, VIGIL_PROM_LINE_UNIT, "x_seconds", 0,
         0, 0, 0},
        {"# EOF", VIGIL_PROM_OPENMETRICS, VIGIL_PROM_LINE_EOF, NULL, 0, 0, 0, 0},
        {"up 1", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "up", 0, 1, 0, 0},
        {"  up   1  ", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "up", 0, 1, 0, 0},
        {"a:b_c 2.5e3", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "a:b_c", 0, 2500, 0, 0},
        {"x{} -0.125", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 0, -0.125, 0, 0},
        {"x{a=\"1\",b=\"two\"} 7 1395066363000", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 2, 7,
         1, 1395066363000LL * 1000000},
        {"x{a=\"1\",} 7", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 1, 7, 0, 0},
        {"x { a = \"1\" , b=\"\" } 7", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 2, 7, 0, 0},
        {"x{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 1", VIGIL_PROM_TEXT,
         VIGIL_PROM_LINE_SAMPLE, "x", 3, 1, 0, 0},
        {"x NaN", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 0, NAN, 0, 0},
        {"x +Inf", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 0, INFINITY, 0, 0},
        {"x -Inf -5", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 0, -INFINITY, 1, -5000000},
        {"x 9.223372036854776e+18", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 0,
         9.223372036854776e+18, 0, 0},
        {"x 0.1", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 0, 0.1, 0, 0},
        {"x 123456789012345678901234567890", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 0,
         123456789012345678901234567890.0, 0, 0},
        {"x{l=\"\xc3\xa9t\xc3\xa9\"} 3", VIGIL_PROM_TEXT, VIGIL_PROM_LINE_SAMPLE, "x", 1, 3, 0, 0},
        /* OpenMetrics: timestamps in seconds, fractions exact to the ns, exemplars skipped. */
        {"x_total 3 1520879607.789", VIGIL_PROM_OPENMETRICS, VIGIL_PROM_LINE_SAMPLE, "x_total", 0,
         3, 1, 1520879607789000000LL},
        {"x_bucket{le=\"0.5\"} 4 # {trace_id=\"abc\"} 0.3 1520879607.1", VIGIL_PROM_OPENMETRICS,
         VIGIL_PROM_LINE_SAMPLE, "x_bucket", 1, 4, 0, 0},
        {"x_bucket{le=\"+Inf\"} 4 1520879607 # {} 1", VIGIL_PROM_OPENMETRICS,
         VIGIL_PROM_LINE_SAMPLE, "x_bucket", 1, 4, 1, 1520879607000000000LL},
    };
    struct vigil_prom_line *ln = vigil_malloc(sizeof *ln);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct good_case *c = &cases[i];
        struct vigil_diag d;
        vigil_diag_clear(&d);
        int rc = vigil_prom_parse_line(c->in, strlen(c->in), c->d, ln, &d);
        if (rc != 0) {
            fail_msg("case %zu '%s': rc %d col %zu %s", i, c->in, rc, d.col, d.msg);
        }
        assert_int_equal(ln->type, c->type);
        if (c->name) {
            assert_int_equal(ln->name_len, strlen(c->name));
            assert_memory_equal(ln->name, c->name, ln->name_len);
        }
        if (c->type != VIGIL_PROM_LINE_SAMPLE) {
            continue;
        }
        assert_int_equal(ln->n_labels, c->n_labels);
        if (isnan(c->value)) {
            assert_true(isnan(ln->value));
        } else if (ln->value != c->value) {
            fail_msg("case %zu '%s': value %.17g, want %.17g", i, c->in, ln->value, c->value);
        }
        assert_int_equal(ln->has_ts, c->has_ts);
        if (c->has_ts) {
            assert_true(ln->ts_ns == c->ts_ns);
        }
    }
    /* Escaped values come back escaped and unescape exactly. */
    const char *esc = "x{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 1";
    assert_int_equal(vigil_prom_parse_line(esc, strlen(esc), VIGIL_PROM_TEXT, ln, NULL), 0);
    assert_true(ln->escaped);
    char out[32];
    size_t k = vigil_prom_unescape(ln->labels[0].value, ln->labels[0].value_len, out);
    assert_int_equal(k, 6);
    assert_memory_equal(out, "C:\\dir", 6);
    k = vigil_prom_unescape(ln->labels[1].value, ln->labels[1].value_len, out);
    assert_memory_equal(out, "say \"hi\"", k);
    k = vigil_prom_unescape(ln->labels[2].value, ln->labels[2].value_len, out);
    assert_memory_equal(out, "a\nb", k);
    /* The TYPE word maps to the type; OpenMetrics' "unknown" is untyped. */
    const char *ty = "# TYPE h histogram";
    assert_int_equal(vigil_prom_parse_line(ty, strlen(ty), VIGIL_PROM_TEXT, ln, NULL), 0);
    assert_int_equal(ln->mtype, VIGIL_PROM_HISTOGRAM);
    ty = "# TYPE u unknown";
    assert_int_equal(vigil_prom_parse_line(ty, strlen(ty), VIGIL_PROM_OPENMETRICS, ln, NULL), 0);
    assert_int_equal(ln->mtype, VIGIL_PROM_UNTYPED);
    /* The parser never needs a NUL: a line cut out of a larger buffer parses alone. */
    const char *buf = "up 12 trailing-garbage-not-part-of-the-line";
    assert_int_equal(vigil_prom_parse_line(buf, 5, VIGIL_PROM_TEXT, ln, NULL), 0);
    assert_true(ln->value == 12);
    vigil_free(ln);
}

/* ---- line parser: bad lines, with the column and the reason ---- */

struct bad_case {
    const char *in;
    enum vigil_prom_dialect d;
    size_t col;
    const char *reason; /* a substring of the message */
};

static void test_parse_bad_lines(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        /* The example: the label set is never closed. */
        {"x{a=\"1\" 5", VIGIL_PROM_TEXT, 9, "expected ',' or '}' after the label value, found '5'"},
        {"x{a=\"1\"}", VIGIL_PROM_TEXT, 9, "expected a value, found end of line"},
        {"x{a=\"1} 5", VIGIL_PROM_TEXT, 10, "to close the label value opened at column 5"},
        {"x{a=1} 5", VIGIL_PROM_TEXT, 5, "expected '\"' to open the label value, found '1'"},
        {"x{a} 5", VIGIL_PROM_TEXT, 4, "expected '=' after the label name, found '}'"},
        {"x{1a=\"1\"} 5", VIGIL_PROM_TEXT, 3, "expected a label name or '}', found '1'"},
        {"x{a=\"\\q\"} 5", VIGIL_PROM_TEXT, 6, "invalid escape in label value"},
        {"x{a=\"1\",a=\"2\"} 5", VIGIL_PROM_TEXT, 9, "duplicate label 'a'"},
        {"x abc", VIGIL_PROM_TEXT, 3, "expected a number (or NaN, +Inf, -Inf), found 'abc'"},
        {"x 1,5", VIGIL_PROM_TEXT, 3, "expected a number"},
        {"x 0x10", VIGIL_PROM_TEXT, 3, "expected a number"},
        {"x 1e999", VIGIL_PROM_TEXT, 3, "number out of range"},
        {"x 1 1.5", VIGIL_PROM_TEXT, 5, "expected a timestamp in integer milliseconds"},
        {"x 1 99999999999999999", VIGIL_PROM_TEXT, 5, "timestamp out of range"},
        {"x 1 2 3", VIGIL_PROM_TEXT, 7, "expected the end of the line, found '3'"},
        {"x 1 # {a=\"b\"} 1", VIGIL_PROM_TEXT, 5, "expected the end of the line, found '#'"},
        {"x 1 abc", VIGIL_PROM_OPENMETRICS, 5, "expected a timestamp in seconds"},
        {"x 1 # {a=\"b\"}", VIGIL_PROM_OPENMETRICS, 14, "expected the exemplar's value"},
        {"x 1 # a", VIGIL_PROM_OPENMETRICS, 7, "expected '{' to open the exemplar's labels"},
        {"9x 1", VIGIL_PROM_TEXT, 1, "expected a metric name or '#', found '9'"},
        {"x-y 1", VIGIL_PROM_TEXT, 2, "expected '{' or a blank after the metric name, found '-'"},
        {"x\x01 1", VIGIL_PROM_TEXT, 2, "found byte 0x01"},
        {"# TYPE x", VIGIL_PROM_TEXT, 9, "expected a metric type"},
        {"# TYPE x countr", VIGIL_PROM_TEXT, 10, "found 'countr'"},
        {"# TYPE x gauge extra", VIGIL_PROM_TEXT, 16,
         "expected the end of the line after the type"},
        {"# HELP", VIGIL_PROM_TEXT, 7, "expected a metric name after # HELP"},
        {"# TYPE 1x gauge", VIGIL_PROM_TEXT, 8, "expected a metric name after # TYPE"},
        {"# HELP x{a=\"b\"} text", VIGIL_PROM_TEXT, 9, "expected a blank after the metric name"},
    };
    struct vigil_prom_line *ln = vigil_malloc(sizeof *ln);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        struct vigil_diag d;
        vigil_diag_clear(&d);
        int rc = vigil_prom_parse_line(c->in, strlen(c->in), c->d, ln, &d);
        if (rc != VIGIL_EPARSE || d.col != c->col || !strstr(d.msg, c->reason)) {
            fail_msg("case %zu '%s': rc %d col %zu '%s'; want col %zu '%s'", i, c->in, rc, d.col,
                     d.msg, c->col, c->reason);
        }
    }
    /* More labels than a series may carry. */
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_buf_puts(&b, "x{"), 0);
    for (int i = 0; i <= VIGIL_PROM_LABELS_MAX; i++) {
        assert_int_equal(vigil_buf_appendf(&b, "l%d=\"v\",", i), 0);
    }
    assert_int_equal(vigil_buf_puts(&b, "} 1"), 0);
    struct vigil_diag d;
    assert_int_equal(vigil_prom_parse_line(b.p, b.len, VIGIL_PROM_TEXT, ln, &d), VIGIL_EPARSE);
    assert_non_null(strstr(d.msg, "more than 64 labels"));
    vigil_buf_fini(&b);
    vigil_free(ln);
}

/* ---- stream parser: families, kinds, line numbers, # EOF ---- */

/* Feeds text line by line; returns the first error (diag set) or 0. kinds gets each sample's kind.
 */
static int feed_text(struct vigil_prom_parser *ps, const char *text, uint8_t *kinds, size_t cap,
                     size_t *n_samples, struct vigil_diag *d)
{
    /* Plain malloc: OOM sweeps must only fail the library's own allocations. */
    struct vigil_prom_line *ln = malloc(sizeof *ln);
    assert_non_null(ln);
    size_t k = 0;
    int rc = 0;
    const char *p = text;
    while (*p && !rc) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        rc = vigil_prom_parser_feed(ps, p, n, ln, d);
        if (!rc && ln->type == VIGIL_PROM_LINE_SAMPLE && k < cap) {
            kinds[k++] = ln->kind;
        }
        p += n + (e ? 1 : 0);
    }
    if (!rc) {
        rc = vigil_prom_parser_finish(ps, d);
    }
    *n_samples = k;
    free(ln);
    return rc;
}

static void test_stream_family_kinds(void **state)
{
    (void)state;
    const char *text = "# HELP rq Request latency.\n"
                       "# TYPE rq histogram\n"
                       "rq_bucket{le=\"0.1\"} 1\n"  /* counter */
                       "rq_bucket{le=\"+Inf\"} 3\n" /* counter */
                       "rq_sum 0.7\n"               /* counter */
                       "rq_count 3\n"               /* counter */
                       "# TYPE gc summary\n"
                       "gc{quantile=\"0.5\"} 0.01\n" /* gauge: a quantile */
                       "gc_sum 2\n"                  /* counter */
                       "gc_count 40\n"               /* counter */
                       "# TYPE bytes_total counter\n"
                       "bytes_total 10\n" /* counter (0.0.4 naming) */
                       "# TYPE temp gauge\n"
                       "temp 21.5\n"   /* gauge */
                       "temp_max 30\n" /* outside the family: unknown */
                       "# TYPE raw untyped\n"
                       "raw 1\n"; /* unknown */
    const uint8_t want[] = {VIGIL_KIND_COUNTER, VIGIL_KIND_COUNTER, VIGIL_KIND_COUNTER,
                            VIGIL_KIND_COUNTER, VIGIL_KIND_GAUGE,   VIGIL_KIND_COUNTER,
                            VIGIL_KIND_COUNTER, VIGIL_KIND_COUNTER, VIGIL_KIND_GAUGE,
                            VIGIL_KIND_UNKNOWN, VIGIL_KIND_UNKNOWN};
    struct vigil_prom_parser ps;
    uint8_t kinds[32];
    size_t n;
    struct vigil_diag d;
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    assert_int_equal(feed_text(&ps, text, kinds, 32, &n, &d), 0);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(kinds, want, sizeof want);
    assert_int_equal(ps.types, 5);
    vigil_prom_parser_fini(&ps);

    /* OpenMetrics families: counter name_total/_created, gaugehistogram, info. */
    const char *om = "# TYPE req counter\n"
                     "# UNIT req requests\n"
                     "req_total 5 1520879607.5\n" /* counter */
                     "req_created 1520870000\n"   /* gauge: a creation time */
                     "# TYPE q gaugehistogram\n"
                     "q_bucket{le=\"1\"} 2\n" /* gauge */
                     "q_gcount 2\n"           /* gauge */
                     "q_gsum 1.5\n"           /* gauge */
                     "# TYPE build info\n"
                     "build_info{v=\"1\"} 1\n" /* gauge */
                     "# EOF\n";
    const uint8_t want_om[] = {VIGIL_KIND_COUNTER, VIGIL_KIND_GAUGE, VIGIL_KIND_GAUGE,
                               VIGIL_KIND_GAUGE,   VIGIL_KIND_GAUGE, VIGIL_KIND_GAUGE};
    vigil_prom_parser_init(&ps, VIGIL_PROM_OPENMETRICS);
    assert_int_equal(feed_text(&ps, om, kinds, 32, &n, &d), 0);
    assert_int_equal(n, sizeof want_om);
    assert_memory_equal(kinds, want_om, sizeof want_om);
    vigil_prom_parser_fini(&ps);
}

static void test_stream_line_numbers_and_eof(void **state)
{
    (void)state;
    struct vigil_prom_parser ps;
    uint8_t kinds[8];
    size_t n;
    struct vigil_diag d;
    /* The error on line 4 names line 4 and the column. */
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    assert_int_equal(feed_text(&ps, "# TYPE x gauge\nx 1\n\nx{a=\"1\" 5\nx 2\n", kinds, 8, &n, &d),
                     VIGIL_EPARSE);
    assert_int_equal(d.line, 4);
    assert_int_equal(d.col, 9);
    char msg[512];
    vigil_diag_format(&d, "bad.prom", msg, sizeof msg);
    assert_non_null(strstr(msg, "bad.prom:4:9: expected ',' or '}'"));
    vigil_prom_parser_fini(&ps);
    /* OpenMetrics must end with # EOF; a truncated file is named as such. */
    vigil_prom_parser_init(&ps, VIGIL_PROM_OPENMETRICS);
    assert_int_equal(feed_text(&ps, "# TYPE x gauge\nx 1\n", kinds, 8, &n, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 2);
    assert_non_null(strstr(d.msg, "expected '# EOF'"));
    vigil_prom_parser_fini(&ps);
    /* After # EOF a new exposition starts and must end with its own # EOF. */
    vigil_prom_parser_init(&ps, VIGIL_PROM_OPENMETRICS);
    assert_int_equal(feed_text(&ps, "x 1\n# EOF\nx 2\n# EOF\n", kinds, 8, &n, &d), 0);
    assert_int_equal(n, 2);
    vigil_prom_parser_fini(&ps);
    /* In 0.0.4, # EOF is only a comment. */
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    assert_int_equal(feed_text(&ps, "x 1\n# EOF\n", kinds, 8, &n, &d), 0);
    vigil_prom_parser_fini(&ps);
}

/* ---- writer -> parser round trips ---- */

static void test_writer_roundtrip_through_parser(void **state)
{
    (void)state;
    const struct vigil_label_ref l1[] = {{"path", 4, "C:\\tmp \"x\"\nnext", 15},
                                         {"mode", 4, "idle", 4}};
    const struct vigil_label_ref l2[] = {{"le", 2, "+Inf", 4}};
    const struct vigil_prom_sample s[] = {
        {NULL, l1, 2, 0.1, 0, 0},
        {NULL, NULL, 0, NAN, 1, 1395066363000LL},
        {"x_total", l2, 1, -INFINITY, 0, 0},
        {NULL, NULL, 0, 1e300, 1, -1},
        {NULL, NULL, 0, 123456789.123456789, 0, 0},
    };
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(
        vigil_prom_write_family(&b, "x_total", "Bytes \\ moved\nacross.", VIGIL_PROM_COUNTER, s, 5),
        0);
    /* Bad names are refused and leave the buffer as it was. */
    size_t len = b.len;
    assert_int_equal(vigil_prom_write_family(&b, "9bad", NULL, VIGIL_PROM_GAUGE, s, 1), -EINVAL);
    const struct vigil_label_ref bad[] = {{"a-b", 3, "v", 1}};
    const struct vigil_prom_sample sb = {NULL, bad, 1, 1, 0, 0};
    assert_int_equal(vigil_prom_write_family(&b, "ok", NULL, VIGIL_PROM_GAUGE, &sb, 1), -EINVAL);
    assert_int_equal(b.len, len);
    assert_non_null(
        strstr(b.p, "# HELP x_total Bytes \\\\ moved\\nacross.\n# TYPE x_total counter\n"));

    struct vigil_prom_parser ps;
    struct vigil_prom_line *ln = vigil_malloc(sizeof *ln);
    struct vigil_diag d;
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    const char *p = b.p;
    size_t k = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        assert_non_null(e);
        int rc = vigil_prom_parser_feed(&ps, p, (size_t)(e - p), ln, &d);
        if (rc) {
            fail_msg("line %zu: %s", d.line, d.msg);
        }
        if (ln->type == VIGIL_PROM_LINE_SAMPLE) {
            const struct vigil_prom_sample *w = &s[k++];
            assert_int_equal(ln->kind, VIGIL_KIND_COUNTER);
            if (isnan(w->value)) {
                assert_true(isnan(ln->value));
            } else {
                assert_true(ln->value == w->value); /* exact: shortest round-trip text */
            }
            assert_int_equal(ln->has_ts, w->has_ts);
            if (w->has_ts) {
                assert_true(ln->ts_ns == w->ts_ms * 1000000);
            }
            assert_int_equal(ln->n_labels, w->n_labels);
            for (size_t j = 0; j < w->n_labels; j++) {
                char v[64];
                size_t vn = vigil_prom_unescape(ln->labels[j].value, ln->labels[j].value_len, v);
                assert_int_equal(vn, w->labels[j].value_len);
                assert_memory_equal(v, w->labels[j].value, vn);
            }
        }
        p = e + 1;
    }
    assert_int_equal(k, 5);
    vigil_prom_parser_fini(&ps);
    vigil_free(ln);
    vigil_buf_fini(&b);
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Every column of a is in b under the same key and kind with the same values. */
static void assert_frames_equal(const struct vigil_frame *a, const struct vigil_frame *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->f, b->f);
    for (size_t j = 0; j < a->f; j++) {
        uint32_t id;
        const char *key = a->cols.v[j].key;
        if (vigil_series_find(&b->cols, key, strlen(key), &id) != 0) {
            fail_msg("column %s missing after the round trip", key);
        }
        assert_int_equal(a->cols.v[j].kind, b->cols.v[id].kind);
        for (size_t i = 0; i < a->n; i++) {
            if (!same_float(vigil_frame_row(a, i)[j], vigil_frame_row(b, i)[id])) {
                fail_msg("%s row %zu: %g vs %g", key, i, (double)vigil_frame_row(a, i)[j],
                         (double)vigil_frame_row(b, i)[id]);
            }
        }
    }
}

static void test_write_row_roundtrip_through_reader(void **state)
{
    (void)state;
    const char *text = "# TYPE node_cpu_seconds_total counter\n"
                       "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1.5 1000\n"
                       "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 2.25 1000\n"
                       "# TYPE mem gauge\n"
                       "mem{note=\"a \\\"quoted\\\" \\\\ value\"} NaN 1000\n"
                       "# TYPE lat histogram\n"
                       "lat_bucket{le=\"+Inf\"} 3 1000\n"
                       "lat_sum 1e-3 1000\n"
                       "plain -Inf 1000\n";
    struct vigil_frame a, b;
    struct vigil_diag d;
    struct vigil_read_info info;
    vigil_frame_init(&a);
    vigil_frame_init(&b);
    int rc = vigil_frame_read_mem(&a, text, strlen(text), NULL, &info, &d);
    if (rc) {
        fail_msg("%zu:%zu %s", d.line, d.col, d.msg);
    }
    assert_int_equal(a.n, 1);
    assert_int_equal(a.f, 6);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_prom_write_row(&out, &a, 0, /* with_ts = */ 1), 0);
    assert_int_equal(vigil_prom_write_row(&out, &a, 1, 1), -EINVAL);
    rc = vigil_frame_read_mem(&b, out.p, out.len, NULL, &info, &d);
    if (rc) {
        fail_msg("%zu:%zu %s\n%s", d.line, d.col, d.msg, out.p);
    }
    assert_frames_equal(&a, &b);
    assert_true(b.has_time && b.ts[0] == 1000 * 1000000LL);
    /* The histogram parts came back as counters, the bare sample as unknown. */
    uint32_t id;
    assert_int_equal(vigil_series_find(&b.cols, "lat_bucket{le=\"+Inf\"}", 21, &id), 0);
    assert_int_equal(b.cols.v[id].kind, VIGIL_KIND_COUNTER);
    assert_int_equal(vigil_series_find(&b.cols, "plain", 5, &id), 0);
    assert_int_equal(b.cols.v[id].kind, VIGIL_KIND_UNKNOWN);
    vigil_buf_fini(&out);
    vigil_frame_fini(&a);
    vigil_frame_fini(&b);
}

/* ---- exposition files into frames ---- */

static int read_text(struct vigil_frame *fr, const char *text, struct vigil_read_info *info,
                     struct vigil_diag *d)
{
    vigil_frame_init(fr);
    return vigil_frame_read_mem(fr, text, strlen(text), NULL, info, d);
}

static float cell(const struct vigil_frame *fr, size_t row, const char *key)
{
    uint32_t id;
    if (vigil_series_find(&fr->cols, key, strlen(key), &id) != 0) {
        fail_msg("no column %s", key);
    }
    return vigil_frame_row(fr, row)[id];
}

static void test_scrapes_become_rows(void **state)
{
    (void)state;
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    /* Untimed scrapes concatenated: a repeated series starts the next row. */
    const char *untimed = "# TYPE a counter\na 1\nb{x=\"1\"} 10\n"
                          "# TYPE a counter\na 2\nb{x=\"1\"} 20\nc 5\n"
                          "a 3\nb{x=\"1\"} 30\n";
    assert_int_equal(read_text(&fr, untimed, &info, &d), 0);
    assert_int_equal(fr.n, 3);
    assert_int_equal(fr.f, 3);
    assert_int_equal(info.format, VIGIL_FMT_PROM);
    assert_int_equal(info.families, 1);
    assert_int_equal(info.samples, 7);
    assert_false(fr.has_time);
    assert_true(fr.ts[2] == 2000000000LL); /* row index x the default 1 s step */
    assert_true(cell(&fr, 1, "a") == 2 && cell(&fr, 2, "b{x=\"1\"}") == 30);
    assert_true(isnan(cell(&fr, 0, "c")) && cell(&fr, 1, "c") == 5 && isnan(cell(&fr, 2, "c")));
    assert_int_equal(fr.cols.v[0].kind, VIGIL_KIND_COUNTER);
    vigil_frame_fini(&fr);

    /* Timestamped samples: one row per distinct time, sorted, even when grouped by series. */
    const char *timed = "x 1 3000\nx 2 1000\nx 3 2000\ny 10 1000\ny 30 3000\n";
    assert_int_equal(read_text(&fr, timed, &info, &d), 0);
    assert_int_equal(fr.n, 3);
    assert_true(fr.has_time);
    assert_true(fr.ts[0] == 1000000000LL && fr.ts[1] == 2000000000LL && fr.ts[2] == 3000000000LL);
    assert_true(cell(&fr, 0, "x") == 2 && cell(&fr, 1, "x") == 3 && cell(&fr, 2, "x") == 1);
    assert_true(cell(&fr, 0, "y") == 10 && isnan(cell(&fr, 1, "y")) && cell(&fr, 2, "y") == 30);
    vigil_frame_fini(&fr);

    /* cAdvisor style: untimed samples join their scrape's timestamped row. */
    const char *mixed = "info{v=\"1\"} 1\nx 5 1395066363000\ny 6 1395066363000\n"
                        "info{v=\"1\"} 1\nx 7 1395066373000\ny 8 1395066373000\n";
    assert_int_equal(read_text(&fr, mixed, &info, &d), 0);
    assert_int_equal(fr.n, 2);
    assert_true(cell(&fr, 0, "info{v=\"1\"}") == 1 && cell(&fr, 1, "info{v=\"1\"}") == 1);
    assert_true(fr.ts[1] - fr.ts[0] == 10000000000LL);
    vigil_frame_fini(&fr);

    /* OpenMetrics scrapes separated by # EOF, timestamps in seconds. */
    const char *om = "# TYPE r counter\nr_total 1 100.5\n# EOF\n# TYPE r counter\nr_total 3 "
                     "101.5\n# EOF\n";
    assert_int_equal(read_text(&fr, om, &info, &d), 0);
    assert_int_equal(info.format, VIGIL_FMT_OPENMETRICS);
    assert_int_equal(fr.n, 2);
    assert_true(fr.ts[0] == 100500000000LL);
    assert_int_equal(fr.cols.v[0].kind, VIGIL_KIND_COUNTER);
    vigil_frame_fini(&fr);

    /* Two values for one series at one time: an error naming the second line. */
    assert_int_equal(read_text(&fr, "x 1 1000\ny 1 1000\nx 2 1000\n", &info, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 3);
    assert_non_null(strstr(d.msg, "second value for series x"));
    vigil_frame_fini(&fr);
    assert_int_equal(read_text(&fr, "x 1 1000\nx 2 2000\nx 3 1000\n", &info, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 3); /* also when the time comes back later */
    vigil_frame_fini(&fr);

    /* The malformed example is rejected with its line and column. */
    assert_int_equal(read_text(&fr, "# TYPE x gauge\nx{a=\"1\" 5\n", &info, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 9);
    vigil_frame_fini(&fr);

    /* Alone in a file, the broken line still reads as exposition and is named. */
    assert_int_equal(read_text(&fr, "x{a=\"1\" 5\n", &info, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 1);
    assert_int_equal(d.col, 9);
    vigil_frame_fini(&fr);

    /* OpenMetrics (detected from # UNIT) without its final # EOF. */
    assert_int_equal(read_text(&fr, "# TYPE s gauge\n# UNIT s seconds\ns 1\n", &info, &d),
                     VIGIL_EPARSE);
    assert_non_null(strstr(d.msg, "# EOF"));
    vigil_frame_fini(&fr);

    /* Only comments: no data. */
    assert_int_equal(read_text(&fr, "# HELP x nothing\n# TYPE x gauge\n", &info, &d), VIGIL_EEMPTY);
    vigil_frame_fini(&fr);

    /* max_rows stops early without error. */
    struct vigil_read_opts o;
    vigil_read_opts_default(&o);
    o.max_rows = 2;
    vigil_frame_init(&fr);
    assert_int_equal(vigil_frame_read_mem(&fr, untimed, strlen(untimed), &o, &info, &d), 0);
    assert_int_equal(fr.n, 2);
    vigil_frame_fini(&fr);
}

static void set_mtime(const char *path, long sec)
{
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_directory_of_scrapes(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    const char *s1 = "# TYPE up gauge\nup 1\n# TYPE req_total counter\nreq_total 10\n";
    const char *s2 = "# TYPE up gauge\nup 0\n# TYPE req_total counter\nreq_total 15\n";
    /* Name order, not mtime order, decides which file is read first. */
    set_mtime(tu_write_file(dir, "scrape-002.prom", s2, strlen(s2)), 1700000060);
    set_mtime(tu_write_file(dir, "scrape-001.prom", s1, strlen(s1)), 1700000000);
    tu_write_file(dir, ".hidden", "junk", 4);
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    vigil_frame_init(&fr);
    int rc = vigil_frame_read(&fr, dir, NULL, &info, &d);
    if (rc) {
        fail_msg("%s", d.msg);
    }
    assert_int_equal(info.files, 2);
    assert_int_equal(fr.n, 2);
    assert_true(fr.has_time);
    assert_true(fr.ts[0] == 1700000000LL * 1000000000 && fr.ts[1] == 1700000060LL * 1000000000);
    assert_true(cell(&fr, 0, "req_total") == 10 && cell(&fr, 1, "req_total") == 15);
    assert_int_equal(info.families, 2);
    vigil_frame_fini(&fr);

    /* A bad file inside the directory is named with its line and column. */
    tu_write_file(dir, "scrape-003.prom", "up 1\nup{a=\"x\" 2\n", 16);
    vigil_frame_init(&fr);
    assert_int_equal(vigil_frame_read(&fr, dir, NULL, &info, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 10);
    assert_non_null(strstr(d.msg, "scrape-003.prom: expected"));
    vigil_frame_fini(&fr);

    /* An empty directory holds no data. */
    vigil_frame_init(&fr);
    assert_int_equal(vigil_frame_read(&fr, tu_tmpdir(), NULL, &info, &d), VIGIL_EEMPTY);
    vigil_frame_fini(&fr);
}

/* ---- the real fixtures ---- */

static void test_node_exporter_fixture(void **state)
{
    (void)state;
    char path[512];
    TU_REQUIRE_DATA(path, "prometheus-fixtures/node_exporter/collector/fixtures/e2e-output.txt");
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    vigil_frame_init(&fr);
    int rc = vigil_frame_read(&fr, path, NULL, &info, &d);
    if (rc) {
        fail_msg("%zu:%zu %s", d.line, d.col, d.msg);
    }
    /*
     * Counted independently of vigil:
     *   grep -c '^# TYPE' e2e-output.txt                  -> 1228 families
     *   grep -vc '^#' e2e-output.txt                      -> 3027 samples (no blank lines)
     *   wc -l                                             -> 5483 lines
     *   awk '/^# TYPE/{t=$4;next} /^#/{next} {c[t]++} END{for(k in c) print k,c[k]}'
     *                                                     -> counter 1429, gauge 1208, untyped 390
     * (every sample there is named exactly as its family). Python's
     * prometheus_client also finds 1228 families and 3027 distinct series.
     */
    assert_int_equal(info.format, VIGIL_FMT_PROM);
    assert_int_equal(info.families, 1228);
    assert_int_equal(info.samples, 3027);
    assert_int_equal(info.lines, 5483);
    assert_int_equal(fr.f, 3027);
    assert_int_equal(fr.n, 1);
    size_t kinds[3] = {0};
    for (size_t j = 0; j < fr.f; j++) {
        kinds[fr.cols.v[j].kind]++;
    }
    assert_int_equal(kinds[VIGIL_KIND_COUNTER], 1429);
    assert_int_equal(kinds[VIGIL_KIND_GAUGE], 1208);
    assert_int_equal(kinds[VIGIL_KIND_UNKNOWN], 390);
    /* A value and a label with a blank, checked against the text. */
    assert_true(cell(&fr, 0,
                     "node_cpu_info{cachesize=\"8192 KB\",core=\"0\",cpu=\"0\",family=\"6\","
                     "microcode=\"0xb4\",model=\"142\",model_name=\"Intel(R) Core(TM) "
                     "i7-8650U CPU @ 1.90GHz\",package=\"0\",stepping=\"10\",vendor="
                     "\"GenuineIntel\"}") == 1);
    vigil_frame_fini(&fr);
}

static void test_cadvisor_fixtures(void **state)
{
    (void)state;
    char path[512];
    TU_REQUIRE_DATA(path, "prometheus-fixtures/cadvisor/lib/metrics/testdata/prometheus_metrics");
    /*
     * Counted with grep -c '^# TYPE' / grep -vc '^#' and the awk of the
     * node_exporter test:
     *   prometheus_metrics                   107 families, 287 samples: 80 counter, 207 gauge
     *   prometheus_machine_metrics            17 families,  66 samples
     *   prometheus_metrics_perf_aggregated    13 families,  17 samples
     *   prometheus_metrics_whitelist_filtered 107 families, 287 samples
     * 276 samples of prometheus_metrics carry the time 1395066363000 ms, 11
     * carry none (grep -v '^#' | awk '{print NF}'): still one scrape, one row.
     */
    const struct {
        const char *file;
        size_t families, samples, counters;
    } want[] = {
        {"prometheus_metrics", 107, 287, 80},
        {"prometheus_machine_metrics", 17, 66, 0},
        {"prometheus_metrics_perf_aggregated", 13, 17, 4},
        {"prometheus_metrics_whitelist_filtered", 107, 287, 80},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        char rel[256];
        snprintf(rel, sizeof rel, "prometheus-fixtures/cadvisor/lib/metrics/testdata/%s",
                 want[k].file);
        TU_REQUIRE_DATA(path, rel);
        struct vigil_frame fr;
        struct vigil_read_info info;
        struct vigil_diag d;
        vigil_frame_init(&fr);
        int rc = vigil_frame_read(&fr, path, NULL, &info, &d);
        if (rc) {
            fail_msg("%s:%zu:%zu %s", want[k].file, d.line, d.col, d.msg);
        }
        assert_int_equal(info.families, want[k].families);
        assert_int_equal(info.samples, want[k].samples);
        assert_int_equal(fr.f, want[k].samples);
        assert_int_equal(fr.n, 1);
        assert_true(fr.has_time && fr.ts[0] == 1395066363000LL * 1000000);
        size_t counters = 0;
        for (size_t j = 0; j < fr.f; j++) {
            counters += fr.cols.v[j].kind == VIGIL_KIND_COUNTER;
        }
        assert_int_equal(counters, want[k].counters);
        vigil_frame_fini(&fr);
    }
}

/* ---- allocation failures ---- */

static void test_expo_read_oom_sweep(void **state)
{
    (void)state;
    /* Families, escapes, timestamps, two scrapes and a late new column. */
    const char *text = "# HELP a Things.\n# TYPE a counter\na{x=\"1\",y=\"q\\\"\"} 1 1000\n"
                       "# TYPE h histogram\nh_bucket{le=\"1\"} 2 1000\nh_sum 3 1000\n"
                       "a{x=\"1\",y=\"q\\\"\"} 2 2000\nh_bucket{le=\"1\"} 4 2000\nnew 9\n";
    long k;
    for (k = 1;; k++) {
        struct vigil_frame fr;
        struct vigil_read_info info;
        struct vigil_diag d;
        vigil_frame_init(&fr);
        tu_alloc_fail_at(k);
        int rc = vigil_frame_read_mem(&fr, text, strlen(text), NULL, &info, &d);
        size_t n = fr.n, f = fr.f;
        vigil_frame_fini(&fr);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            assert_int_equal(n, 2);
            assert_int_equal(f, 4);
            break;
        }
        if (rc != -ENOMEM) {
            fail_msg("allocation %ld failing gave %d (%s), not -ENOMEM", k, rc, d.msg);
        }
        assert_true(k < 1000);
    }
    assert_true(k > 10); /* the sweep really went through the allocations */
    /* The stream parser alone: family names are its only allocation. */
    for (k = 1;; k++) {
        struct vigil_prom_parser ps;
        uint8_t kinds[8];
        size_t n;
        struct vigil_diag d;
        tu_alloc_fail_at(k);
        vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
        int rc = feed_text(&ps, "# TYPE a gauge\na 1\nb 2\n", kinds, 8, &n, &d);
        vigil_prom_parser_fini(&ps);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 100);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good_lines),
        cmocka_unit_test(test_parse_bad_lines),
        cmocka_unit_test(test_stream_family_kinds),
        cmocka_unit_test(test_stream_line_numbers_and_eof),
        cmocka_unit_test(test_writer_roundtrip_through_parser),
        cmocka_unit_test(test_write_row_roundtrip_through_reader),
        cmocka_unit_test(test_scrapes_become_rows),
        cmocka_unit_test(test_directory_of_scrapes),
        cmocka_unit_test(test_node_exporter_fixture),
        cmocka_unit_test(test_cadvisor_fixtures),
        cmocka_unit_test(test_expo_read_oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
