/*
 * Delimited-text reader tests: delimiter, header and time-column detection
 * over a table of small inputs; quoting; bad inputs with their line and
 * column; the CSV writer round trip (with labels, NaN, infinities and series
 * names full of commas and quotes); gzip; the real SMD, NAB and ITU files and
 * the SYRROCA-layout fixture (numbers pinned from wc/awk); label and
 * interpretation-label files; and an OOM sweep.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"
#include "vigil/frame.h"
#include "vigil/mem.h"
#include "vigil/prom.h"
#include "vigil/reader.h"

static int read_text(struct vigil_frame *fr, const char *text, const struct vigil_read_opts *o,
                     struct vigil_read_info *info, struct vigil_diag *d)
{
    vigil_frame_init(fr);
    return vigil_frame_read_mem(fr, text, strlen(text), o, info, d);
}

static float cell(const struct vigil_frame *fr, size_t row, const char *key)
{
    uint32_t id;
    if (vigil_series_find(&fr->cols, key, strlen(key), &id) != 0) {
        fail_msg("no column %s", key);
    }
    return vigil_frame_row(fr, row)[id];
}

/* ---- detection ---- */

struct layout_case {
    const char *in;
    char delim;
    int header;
    int time_col;
    size_t rows, cols;
    int64_t ts1;     /* timestamp of row 1 in ns (when time_col >= 0) */
    const char *key; /* a column and its value in row 0 */
    float v0;
};

static void test_detect_layouts(void **state)
{
    (void)state;
    const struct layout_case cases[] = {
        /* NAB: header, ISO-like "YYYY-MM-DD HH:MM:SS" times. */
        {"timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n", ',', 1, 0, 2, 1,
         1404174600000000000LL, "value", 10844},
        /* SMD: no header, commas. */
        {"0.1,0.2,0.3\n0.4,0.5,0.6\n", ',', 0, -1, 2, 3, 0, "col2", 0.2f},
        /* ITU: no header, runs of blanks, leading and trailing blanks ignored. */
        {"0 0  3701525850 1.1\n  0 1 0 0.3  \n", ' ', 0, -1, 2, 4, 0, "col3", 3701525850.0f},
        /* Tabs, a header, epoch seconds with a fraction. */
        {"ts\tcpu\tmem\n1700000000.5\t1\t2\n1700000001.25\t3\t4\n", '\t', 1, 0, 2, 2,
         1700000001250000000LL, "mem", 2},
        /* Semicolons, a quoted name holding one, quoted numbers; epoch milliseconds. */
        {"time;\"a;x\";b\n1581501170989;\"1.5\";2\n1581501175989;3;4\n", ';', 1, 0, 2, 2,
         1581501175989000000LL, "a;x", 1.5f},
        /* ISO 8601 with T, Z and an offset; the header names it "Date". */
        {"Date,x\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00+01:00,2\n", ',', 1, 0, 2, 1,
         1577836800000000000LL, "x", 1},
        /* No header, but the first column holds date-times: it is the time column. */
        {"2020-01-01 00:00:10,5,6\n2020-01-01 00:00:20,7,8\n", ',', 0, 0, 2, 2,
         1577836820000000000LL, "col3", 6},
        /* A single column without header. */
        {"1\n2\n3\n", ',', 0, -1, 3, 1, 0, "col1", 1},
        /* Missing values of several spellings. */
        {"a,b,c,d\n1,,NA,null\n2,NaN,-,3\n", ',', 1, -1, 2, 4, 0, "a", 1},
        /* Comments before the header, blank lines between rows. */
        {"# exported by a tool\na b\n\n1 2\n\n3 4\n", ' ', 1, -1, 2, 2, 0, "b", 2},
        /* Series names as headers without a time column: rows of values make it delimited. */
        {"cpu{a=\"x\"};mem{b=\"y\"}\n1;2\n3;4\n", ';', 1, -1, 2, 2, 0, "mem{b=\"y\"}", 2},
        /* Epoch milliseconds decided by magnitude; CRLF line ends. */
        {"timestamp,v\r\n1395066363000,1\r\n1395066364000,2\r\n", ',', 1, 0, 2, 1,
         1395066364000000000LL, "v", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct layout_case *c = &cases[i];
        struct vigil_frame fr;
        struct vigil_read_info info;
        struct vigil_diag d;
        int rc = read_text(&fr, c->in, NULL, &info, &d);
        if (rc) {
            fail_msg("case %zu: rc %d at %zu:%zu %s", i, rc, d.line, d.col, d.msg);
        }
        if (info.format != VIGIL_FMT_DELIMITED || info.delim != c->delim ||
            info.header != c->header || info.time_col != c->time_col || fr.n < c->rows ||
            fr.f != c->cols) {
            fail_msg("case %zu: fmt %d delim '%c' header %d time %d rows %zu cols %zu", i,
                     info.format, info.delim, info.header, info.time_col, fr.n, fr.f);
        }
        assert_int_equal(fr.n, c->rows);
        if (c->time_col >= 0) {
            assert_true(fr.has_time);
            if (fr.ts[1] != c->ts1) {
                fail_msg("case %zu: ts[1] %lld want %lld", i, (long long)fr.ts[1],
                         (long long)c->ts1);
            }
        } else {
            assert_false(fr.has_time);
            assert_true(fr.ts[1] == 1000000000LL); /* row index x the default step */
        }
        assert_true(cell(&fr, 0, c->key) == c->v0);
        vigil_frame_fini(&fr);
    }
}

static void test_quotes_missing_and_options(void **state)
{
    (void)state;
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    /* Quoted Prometheus names become series with labels; "" is a quote. */
    const char *q = "timestamp,\"cpu{mode=\"\"idle\"\",cpu=\"\"0\"\"}\", \"plain, name\" \n"
                    "10,1.5,2\n20,,4\n";
    assert_int_equal(read_text(&fr, q, NULL, &info, &d), 0);
    assert_int_equal(fr.f, 2);
    const struct vigil_series *s = &fr.cols.v[0];
    assert_string_equal(s->key, "cpu{cpu=\"0\",mode=\"idle\"}");
    assert_string_equal(vigil_series_label(s, "mode"), "idle");
    assert_string_equal(fr.cols.v[1].key, "plain, name");
    assert_true(isnan(cell(&fr, 1, "cpu{cpu=\"0\",mode=\"idle\"}")));
    assert_true(fr.ts[1] == 20000000000LL);
    vigil_frame_fini(&fr);

    /* Options: no header forced, a named time column, labels, max_rows, a step. */
    struct vigil_read_opts o;
    vigil_read_opts_default(&o);
    o.header = 0;
    o.delim = ';';
    o.default_step_ns = 60000000000LL;
    assert_int_equal(read_text(&fr, "1;2\n3;4\n", &o, &info, &d), 0);
    assert_true(fr.ts[1] == 60000000000LL);
    vigil_frame_fini(&fr);

    vigil_read_opts_default(&o);
    o.time_col = "when";
    o.max_rows = 1;
    assert_int_equal(read_text(&fr, "x,when,label\n1,5,0\n2,6,1\n", &o, &info, &d), 0);
    assert_int_equal(fr.n, 1);
    assert_int_equal(info.time_col, 1);
    assert_int_equal(info.label_col, 2);
    assert_non_null(fr.y);
    assert_int_equal(fr.f, 1);
    vigil_frame_fini(&fr);

    vigil_read_opts_default(&o);
    o.label_col = "";
    assert_int_equal(read_text(&fr, "x,label\n1,0\n", &o, &info, &d), 0);
    assert_int_equal(fr.f, 2); /* "label" is an ordinary column now */
    assert_null(fr.y);
    vigil_frame_fini(&fr);

    o.label_col = "anomaly";
    assert_int_equal(read_text(&fr, "x,anomaly\n1,0\n2,3\n", &o, &info, &d), 0);
    assert_int_equal(fr.y[1], 3);
    vigil_frame_fini(&fr);

    /* A long line is refused with its number, not truncated. */
    vigil_read_opts_default(&o);
    o.max_line = 16;
    assert_int_equal(read_text(&fr, "a,b\n1,2\n1111111111,2222222222\n", &o, &info, &d),
                     VIGIL_EPARSE);
    assert_int_equal(d.line, 3);
    vigil_frame_fini(&fr);

    /* Reading a second file into the same frame matches columns by name. */
    assert_int_equal(read_text(&fr, "a,b\n1,2\n", NULL, &info, &d), 0);
    assert_int_equal(vigil_frame_read_mem(&fr, "b,a\n4,3\n", 8, NULL, &info, &d), 0);
    assert_int_equal(fr.n, 2);
    assert_int_equal(fr.f, 2);
    assert_true(cell(&fr, 1, "a") == 3 && cell(&fr, 1, "b") == 4);
    vigil_frame_fini(&fr);
}

/* ---- bad input: line, column and reason ---- */

struct bad_case {
    const char *in;
    int rc;
    size_t line, col;
    const char *reason;
};

static void test_bad_inputs(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"a,b\n1,2\n3\n", VIGIL_EPARSE, 3, 2, "expected 2 fields (as in the header), found 1"},
        {"a,b\n1,2\n3,4,5\n", VIGIL_EPARSE, 3, 5, "expected 2 fields (as in the header), found 3"},
        {"1,2\n3,4,5\n", VIGIL_EPARSE, 2, 5, "(as in the first line), found 3"},
        {"a,b\n1,2\n3,x7\n", VIGIL_EPARSE, 3, 3, "expected a number in column 'b', found 'x7'"},
        {"a,b\n1,1e999\n", VIGIL_EPARSE, 2, 3, "number out of range in column 'b'"},
        {"a,b\n1,\"2\n", VIGIL_EPARSE, 2, 5,
         "expected '\"' to close the quoted field opened at "
         "column 3"},
        /* The broken quote does not hide the ';' from the sniffer. */
        {"a;b\n1;\"2\n", VIGIL_EPARSE, 2, 5, "expected '\"' to close the quoted field"},
        {"a,b\n1,\"2\"x\n", VIGIL_EPARSE, 2, 6,
         "expected a delimiter after the closing quote, "
         "found 'x'"},
        {"timestamp,v\n2020-01-01 00:00:00,1\n2020-13-01 00:00:00,2\n", VIGIL_EPARSE, 3, 1,
         "expected a time (ISO 8601 like the first row) in column 'timestamp'"},
        {"timestamp,v\n1700000000,1\nyesterday,2\n", VIGIL_EPARSE, 3, 1,
         "expected a time (an epoch number like the first row)"},
        {"v,label\n1,0\n2,bad\n", VIGIL_EPARSE, 3, 3,
         "expected an integer label in column 'label', found 'bad'"},
        {"a,a\n1,2\n", VIGIL_EPARSE, 1, 3, "duplicate column name 'a' (also column 1)"},
        {"a,b\n", VIGIL_EEMPTY, 1, 0, "no data rows after the header"},
        {"", VIGIL_EEMPTY, 0, 0, "no data rows: the input is empty"},
        {"\n\n", VIGIL_EEMPTY, 2, 0, "the input is empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        struct vigil_frame fr;
        struct vigil_read_info info;
        struct vigil_diag d;
        int rc = read_text(&fr, c->in, NULL, &info, &d);
        if (rc != c->rc || d.line != c->line || d.col != c->col || !strstr(d.msg, c->reason)) {
            fail_msg("case %zu: rc %d at %zu:%zu '%s'; want %d at %zu:%zu '%s'", i, rc, d.line,
                     d.col, d.msg, c->rc, c->line, c->col, c->reason);
        }
        vigil_frame_fini(&fr);
    }
    /* Named columns that do not exist. */
    struct vigil_read_opts o;
    vigil_read_opts_default(&o);
    o.time_col = "when";
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    assert_int_equal(read_text(&fr, "a,b\n1,2\n", &o, &info, &d), VIGIL_EPARSE);
    assert_non_null(strstr(d.msg, "no column named 'when'"));
    vigil_frame_fini(&fr);
    /* A missing file is -ENOENT; a binary file names its line and column. */
    vigil_frame_init(&fr);
    assert_int_equal(vigil_frame_read(&fr, "/nonexistent/x.csv", NULL, &info, &d), -ENOENT);
    vigil_frame_fini(&fr);
    const char bin[] = "a,b\n1,2\n\x7f"
                       "ELF\x01\x00\x00";
    const char *path = tu_write_file(tu_tmpdir(), "bin.csv", bin, sizeof bin - 1);
    vigil_frame_init(&fr);
    assert_int_equal(vigil_frame_read(&fr, path, NULL, &info, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 3);
    assert_non_null(strstr(d.msg, "binary"));
    vigil_frame_fini(&fr);
}

/* ---- writer round trip ---- */

static void test_csv_writer_roundtrip(void **state)
{
    (void)state;
    struct vigil_frame a, b;
    vigil_frame_init(&a);
    const char *names[] = {"node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}",
                           "m{path=\"a;b\\\\c\",q=\"say \\\"x\\\"\"}", "plain", " spaced "};
    uint32_t id[4];
    for (int j = 0; j < 4; j++) {
        assert_int_equal(vigil_frame_add_col(&a, names[j], strlen(names[j]), &id[j]), 0);
    }
    assert_int_equal(vigil_frame_alloc_labels(&a), 0);
    const float vals[3][4] = {{1.5f, NAN, 1e-30f, -3},
                              {0.1f, INFINITY, 16777217.0f, 0},
                              {-INFINITY, 2.5e20f, 1.0f / 3.0f, 7}};
    const int64_t ts[3] = {1395066363000000000LL, 1395066363123456789LL, -1500000000LL};
    for (int i = 0; i < 3; i++) {
        float *row;
        assert_int_equal(vigil_frame_add_row(&a, ts[i], &row), 0);
        memcpy(row, vals[i], sizeof vals[i]);
        a.y[i] = i == 1 ? 4 : 0;
    }
    a.has_time = 1;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/out.csv", dir);
    assert_int_equal(vigil_frame_write_csv(&a, path), 0);
    vigil_frame_init(&b);
    struct vigil_read_info info;
    struct vigil_diag d;
    int rc = vigil_frame_read(&b, path, NULL, &info, &d);
    if (rc) {
        fail_msg("%zu:%zu %s", d.line, d.col, d.msg);
    }
    assert_int_equal(info.delim, ',');
    assert_int_equal(b.n, 3);
    assert_int_equal(b.f, 4);
    assert_non_null(b.y);
    assert_int_equal(b.y[1], 4);
    for (int i = 0; i < 3; i++) {
        assert_true(b.ts[i] == ts[i]); /* ISO 8601 with the fraction keeps every ns */
        for (int j = 0; j < 4; j++) {
            float x = vigil_frame_row(&a, (size_t)i)[j];
            float y = cell(&b, (size_t)i, a.cols.v[j].key);
            if (!((isnan(x) && isnan(y)) || x == y)) {
                fail_msg("row %d col %s: %.9g vs %.9g", i, a.cols.v[j].key, (double)x, (double)y);
            }
        }
    }
    /* The labels of a series survive quoting. */
    uint32_t k;
    const char *key = "m{path=\"a;b\\\\c\",q=\"say \\\"x\\\"\"}";
    assert_int_equal(vigil_series_find(&b.cols, key, strlen(key), &k), 0);
    assert_string_equal(vigil_series_label(&b.cols.v[k], "path"), "a;b\\c");
    vigil_frame_fini(&b);

    /* Without time the file has no time column and reads back by row index. */
    a.has_time = 0;
    for (int i = 0; i < 3; i++) {
        a.ts[i] = (int64_t)i * 1000000000;
    }
    assert_int_equal(vigil_frame_write_csv(&a, path), 0);
    vigil_frame_init(&b);
    assert_int_equal(vigil_frame_read(&b, path, NULL, &info, &d), 0);
    assert_int_equal(info.time_col, -1);
    assert_false(b.has_time);
    assert_true(b.ts[2] == a.ts[2]);
    vigil_frame_fini(&b);
    assert_int_equal(vigil_frame_write_csv(&a, "/nonexistent/dir/out.csv"), -ENOENT);
    vigil_frame_fini(&a);
}

static void test_gzip_input(void **state)
{
    (void)state;
    const char *text = "timestamp;a;b\n2021-06-01 10:00:00;1;2\n2021-06-01 10:00:10;3;4\n";
    char path[512];
    snprintf(path, sizeof path, "%s/x.csv.gz", tu_tmpdir());
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    gzwrite(gz, text, (unsigned)strlen(text));
    gzclose(gz);
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    vigil_frame_init(&fr);
    assert_int_equal(vigil_frame_read(&fr, path, NULL, &info, &d), 0);
    assert_int_equal(info.delim, ';');
    assert_int_equal(fr.n, 2);
    assert_true(cell(&fr, 1, "b") == 4);
    assert_true(fr.ts[1] - fr.ts[0] == 10000000000LL);
    vigil_frame_fini(&fr);
}

/* ---- real datasets ---- */

static void read_ok(const char *path, struct vigil_frame *fr, struct vigil_read_info *info)
{
    struct vigil_diag d;
    vigil_frame_init(fr);
    int rc = vigil_frame_read(fr, path, NULL, info, &d);
    if (rc) {
        char msg[512];
        fail_msg("%s", vigil_diag_format(&d, path, msg, sizeof msg));
    }
}

static void test_smd_files(void **state)
{
    (void)state;
    char path[512];
    TU_REQUIRE_DATA(path, "smd/train/machine-1-6.txt.gz");
    struct vigil_frame fr;
    struct vigil_read_info info;
    read_ok(path, &fr, &info);
    /*
     * zcat machine-1-6.txt.gz | wc -l -> 23688 (also in the data README);
     * awk -F, '{print NF}' | sort -u -> 38; tail -1 | cut -d, -f1-3 ->
     * 0.160494,0.110947,0.109635.
     */
    assert_int_equal(info.format, VIGIL_FMT_DELIMITED);
    assert_int_equal(info.delim, ',');
    assert_int_equal(info.header, 0);
    assert_int_equal(info.time_col, -1);
    assert_int_equal(fr.n, 23688);
    assert_int_equal(fr.f, 38);
    assert_true(cell(&fr, 23687, "col1") == 0.160494f);
    assert_true(cell(&fr, 23687, "col3") == 0.109635f);
    vigil_frame_fini(&fr);
    /* Every SMD value file of the subset reads, gzip and all. */
    const char *machines[] = {"1-6", "1-7", "2-1", "2-2", "2-7", "2-8", "3-3", "3-4"};
    for (size_t m = 0; m < 8; m++) {
        for (int t = 0; t < 2; t++) {
            char rel[128];
            snprintf(rel, sizeof rel, "smd/%s/machine-%s.txt.gz", t ? "test" : "train",
                     machines[m]);
            TU_REQUIRE_DATA(path, rel);
            read_ok(path, &fr, &info);
            assert_int_equal(fr.f, 38);
            vigil_frame_fini(&fr);
        }
    }
}

static void test_smd_labels(void **state)
{
    (void)state;
    char path[512];
    TU_REQUIRE_DATA(path, "smd/test_label/machine-1-6.txt");
    int32_t *y;
    size_t n;
    struct vigil_diag d;
    assert_int_equal(vigil_labels_read(path, &y, &n, &d), 0);
    /* wc -l -> 23689 (= test rows in the README); grep -c '^1$' -> 3708. */
    assert_int_equal(n, 23689);
    size_t ones = 0;
    for (size_t i = 0; i < n; i++) {
        ones += y[i] == 1;
    }
    assert_int_equal(ones, 3708);
    vigil_free(y);

    TU_REQUIRE_DATA(path, "smd/interpretation_label/machine-1-6.txt");
    struct vigil_interp *segs;
    assert_int_equal(vigil_interp_read(path, &segs, &n, &d), 0);
    /* wc -l -> 30; head -1 -> 246-252:1,2,3,4,6,9,10,11,12,13,15 */
    assert_int_equal(n, 30);
    assert_int_equal(segs[0].start, 246);
    assert_int_equal(segs[0].end, 252);
    assert_int_equal(segs[0].n_dims, 11);
    assert_int_equal(segs[0].dims[4], 6);
    assert_int_equal(segs[0].dims[10], 15);
    vigil_interp_free(segs, n);
}

static void test_nab_and_itu_files(void **state)
{
    (void)state;
    char path[512];
    TU_REQUIRE_DATA(path, "nab/data/realKnownCause/nyc_taxi.csv");
    struct vigil_frame fr;
    struct vigil_read_info info;
    read_ok(path, &fr, &info);
    /*
     * wc -l -> 10321 (a header and 10320 rows); sed -n '2p;$p' ->
     * 2014-07-01 00:00:00,10844 and 2015-01-31 23:30:00,26288;
     * date -u -d '2014-07-01 00:00:00' +%s -> 1404172800, the last 1422747000.
     */
    assert_int_equal(info.header, 1);
    assert_int_equal(info.time_col, 0);
    assert_int_equal(fr.n, 10320);
    assert_int_equal(fr.f, 1);
    assert_true(fr.ts[0] == 1404172800LL * 1000000000);
    assert_true(fr.ts[10319] == 1422747000LL * 1000000000);
    assert_true(cell(&fr, 10319, "value") == 26288);
    assert_true(vigil_frame_step(&fr) == 1800LL * 1000000000);
    vigil_frame_fini(&fr);

    TU_REQUIRE_DATA(path, "itu-5gc-nfv-failure/ap_data/02_b_train_data.txt");
    read_ok(path, &fr, &info);
    /* wc -l -> 11740; awk '{print NF}' | sort -u -> 33; tail -1 | cut -d' ' -f4-6 -> 0 0 0 */
    assert_int_equal(info.delim, ' ');
    assert_int_equal(info.header, 0);
    assert_int_equal(fr.n, 11740);
    assert_int_equal(fr.f, 33);
    assert_true(cell(&fr, 0, "col4") == 3701525850.0f); /* head -1 | cut -d' ' -f4 */
    vigil_frame_fini(&fr);

    TU_REQUIRE_DATA(path, "itu-5gc-nfv-failure/ap_data/02_b_train_label.txt");
    int32_t *y;
    size_t n;
    struct vigil_diag d;
    assert_int_equal(vigil_labels_read(path, &y, &n, &d), 0);
    /* sort | uniq -c -> 11000 zeros, 148 fives */
    assert_int_equal(n, 11740);
    size_t c0 = 0, c5 = 0;
    for (size_t i = 0; i < n; i++) {
        c0 += y[i] == 0;
        c5 += y[i] == 5;
    }
    assert_int_equal(c0, 11000);
    assert_int_equal(c5, 148);
    vigil_free(y);
}

static void test_syrroca_layout_fixture(void **state)
{
    (void)state;
    /* Written by tools/gen_syrroca_fixture.py: see its header for the layout. */
    struct vigil_frame fr;
    struct vigil_read_info info;
    read_ok(tu_fixture("syrroca/cadvisor_day.csv"), &fr, &info);
    assert_int_equal(info.delim, ';');
    assert_int_equal(info.header, 1);
    assert_int_equal(info.time_col, 1);
    assert_int_equal(info.cols_skipped, 1); /* pandas' unnamed index column */
    assert_int_equal(fr.n, 6);
    assert_int_equal(fr.f, 10);
    assert_true(fr.has_time);
    assert_true(fr.ts[0] == 1581501170989LL * 1000000);
    assert_true(vigil_frame_step(&fr) == 5000000000LL);
    const struct vigil_series *s = &fr.cols.v[0];
    assert_string_equal(s->name, "container_cpu_usage_seconds_total");
    assert_string_equal(vigil_series_label(s, "namespace"), "openims");
    assert_string_equal(vigil_series_label(s, "pod"), "pcscf-deployment-5d9f7b6c8-abcde");
    assert_true(vigil_frame_row(&fr, 5)[0] == 112.5f);
    assert_true(isnan(vigil_frame_row(&fr, 3)[1])); /* the empty cell */
    assert_string_equal(fr.cols.v[9].key, "node_memory_MemAvailable_bytes");
    vigil_frame_fini(&fr);
}

static void test_label_file_errors(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    int32_t *y;
    size_t n;
    struct vigil_diag d;
    const char *ok = tu_write_file(dir, "ok.txt", "0\n 1 \n-2\n", 9);
    assert_int_equal(vigil_labels_read(ok, &y, &n, &d), 0);
    assert_int_equal(n, 3);
    assert_int_equal(y[2], -2);
    vigil_free(y);
    const char *bad = tu_write_file(dir, "bad.txt", "0\n1\n\n1\n", 7);
    assert_int_equal(vigil_labels_read(bad, &y, &n, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 3);
    assert_non_null(strstr(d.msg, "expected an integer label"));
    bad = tu_write_file(dir, "bad2.txt", "0\n1.5\n", 6);
    assert_int_equal(vigil_labels_read(bad, &y, &n, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 1);
    assert_int_equal(vigil_labels_read(tu_write_file(dir, "e.txt", "", 0), &y, &n, &d),
                     VIGIL_EEMPTY);
    assert_int_equal(vigil_labels_read("/nonexistent", &y, &n, &d), -ENOENT);

    const struct {
        const char *in;
        size_t line, col;
        const char *reason;
    } cases[] = {
        {"1-2:3\nx-2:1\n", 2, 1, "expected the segment's first row"},
        {"10:1\n", 1, 3, "expected '-' between"},
        {"5-2:1\n", 1, 3, "segment ends (2) before it starts (5)"},
        {"1-2 1\n", 1, 4, "expected ':' before the dimension list"},
        {"1-2:1,0\n", 1, 7, "expected a dimension number from 1 to 65535"},
        {"1-2:1,,2\n", 1, 7, "expected a dimension number"},
        {"1-2:1;2\n", 1, 6, "expected ',' or the end of the line"},
        {"  1-2:70000\n", 1, 7, "expected a dimension number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vigil_interp *segs = NULL;
        const char *p = tu_write_file(dir, "i.txt", cases[i].in, strlen(cases[i].in));
        int rc = vigil_interp_read(p, &segs, &n, &d);
        if (rc != VIGIL_EPARSE || d.line != cases[i].line || d.col != cases[i].col ||
            !strstr(d.msg, cases[i].reason)) {
            fail_msg("case %zu: rc %d %zu:%zu '%s'", i, rc, d.line, d.col, d.msg);
        }
    }
}

/* ---- allocation failures ---- */

static void test_csv_read_oom_sweep(void **state)
{
    (void)state;
    const char *text = ";timestamp;\"a{x=\"\"1\"\"}\";b;label\n0;1000;1;2;0\n1;2000;3;;1\n";
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
            assert_int_equal(f, 2);
            break;
        }
        if (rc != -ENOMEM) {
            fail_msg("allocation %ld failing gave %d (%s), not -ENOMEM", k, rc, d.msg);
        }
        assert_true(k < 1000);
    }
    assert_true(k > 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_layouts),
        cmocka_unit_test(test_quotes_missing_and_options),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_csv_writer_roundtrip),
        cmocka_unit_test(test_gzip_input),
        cmocka_unit_test(test_smd_files),
        cmocka_unit_test(test_smd_labels),
        cmocka_unit_test(test_nab_and_itu_files),
        cmocka_unit_test(test_syrroca_layout_fixture),
        cmocka_unit_test(test_label_file_errors),
        cmocka_unit_test(test_csv_read_oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
