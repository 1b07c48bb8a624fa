/*
 * Preprocessing chain tests, netdata ml-unittest style: small frames whose
 * expected output is worked out by hand in the comments next to them
 * (counter resets, resampling, gap filling, scaling with clipping, drop
 * reports, temporal features), then the state's save/load round trip and its
 * rejection of every truncation, stream == batch on irregular data with the
 * stream allocating nothing per row, a column-wise reference implementation
 * written independently of the stream, windows, groups and an OOM sweep.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vigil/frame.h"
#include "vigil/mem.h"
#include "vigil/prep.h"
#include "vigil/rng.h"

#define S ((int64_t)1000000000) /* one second in ns */
#define X NAN                   /* a missing value in the tables below */

/* ---- helpers ---- */

struct col_spec {
    const char *name;
    enum vigil_kind kind;
    enum vigil_group group;
};

/* Builds a frame of n rows from column specs and row-major values (n, f). */
static void make_frame(struct vigil_frame *fr, const struct col_spec *cols, size_t f,
                       const int64_t *ts, const float *v, size_t n, const int32_t *y)
{
    vigil_frame_init(fr);
    for (size_t j = 0; j < f; j++) {
        uint32_t id;
        assert_int_equal(vigil_frame_add_col(fr, cols[j].name, strlen(cols[j].name), &id), 0);
        assert_int_equal(id, j);
        fr->cols.v[j].kind = (uint8_t)cols[j].kind;
        fr->cols.v[j].group = (uint8_t)cols[j].group;
    }
    if (y) {
        assert_int_equal(vigil_frame_alloc_labels(fr), 0);
    }
    for (size_t i = 0; i < n; i++) {
        float *row;
        assert_int_equal(vigil_frame_add_row(fr, ts ? ts[i] : (int64_t)i * S, &row), 0);
        memcpy(row, v + i * f, f * sizeof *row);
        if (y) {
            fr->y[i] = y[i];
        }
    }
    fr->has_time = ts != NULL;
}

static int same_float(float a, float b, float tol)
{
    if (isnan(a) || isnan(b)) {
        return isnan(a) && isnan(b);
    }
    return fabsf(a - b) <= tol;
}

/* Checks column j of fr against want (n values, X = NaN). */
static void check_col(const struct vigil_frame *fr, size_t j, const float *want, size_t n,
                      const char *what)
{
    assert_int_equal(fr->n, n);
    for (size_t i = 0; i < n; i++) {
        float got = vigil_frame_row(fr, i)[j];
        if (!same_float(got, want[i], 1e-6f)) {
            fail_msg("%s: row %zu col %zu: got %g, want %g", what, i, j, (double)got,
                     (double)want[i]);
        }
    }
}

static struct vigil_prep_params params(int64_t step, int fill, int scale, int temporal)
{
    struct vigil_prep_params p;
    vigil_prep_params_default(&p);
    p.step = step;
    p.fill_max = fill;
    p.scale = scale;
    p.temporal = temporal;
    return p;
}

/* Fits on fr and applies to fr. */
static struct vigil_prep *fit_apply(const struct vigil_frame *fr, const struct vigil_prep_params *p,
                                    struct vigil_frame *out)
{
    struct vigil_prep *pp;
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = vigil_prep_fit(&pp, fr, p, &d);
    if (rc) {
        fail_msg("fit: %s: %s", vigil_strerror(rc), d.msg);
    }
    vigil_frame_init(out);
    rc = vigil_prep_apply(pp, fr, out, &d);
    if (rc) {
        fail_msg("apply: %s: %s", vigil_strerror(rc), d.msg);
    }
    return pp;
}

/* ---- hand-computed vectors ---- */

static void test_counter_reset(void **state)
{
    (void)state;
    /*
     * Rows as they are (step 0), no scaling, no filling.
     *   counter c: 10, 15, 15,  3,  8  -> increases NaN, 5, 0, 3 (reset: 3 < 15, the
     *                                     increase is the new value), 5
     *   gauge   g:  1,  2,  X,  4,  5  -> kept:      1, 2, X, 4, 5
     *   counter d:  X,  7,  X,  9,  2  -> NaN (first), NaN (missing), 2 (9 - 7 across the
     *                                     gap), 2 (reset)
     * Fitted ranges: c [0, 5], g [1, 5], d: only the value 2 -> constant, dropped.
     */
    static const struct col_spec cols[] = {{"c_total", VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU},
                                           {"g", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY},
                                           {"d_total", VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU}};
    static const float v[] = {10, 1, X, 15, 2, 7, 15, X, X, 3, 4, 9, 8, 5, 2};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 3, NULL, v, 5, NULL);
    struct vigil_prep_params p = params(0, 0, 0, 0);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    assert_int_equal(vigil_prep_n_features(pp), 2);
    assert_string_equal(vigil_prep_feature_name(pp, 0), "c_total");
    assert_string_equal(vigil_prep_feature_name(pp, 1), "g");
    const char *why;
    assert_string_equal(vigil_prep_dropped(pp, 0, &why), "d_total");
    assert_string_equal(why, "constant");
    static const float want_c[] = {X, 5, 0, 3, 5}, want_g[] = {1, 2, X, 4, 5};
    check_col(&out, 0, want_c, 5, "counter");
    check_col(&out, 1, want_g, 5, "gauge");
    double lo, hi;
    assert_string_equal(vigil_prep_series(pp, 0, &lo, &hi), "c_total");
    assert_true(lo == 0 && hi == 5);
    vigil_prep_series(pp, 1, &lo, &hi);
    assert_true(lo == 1 && hi == 5);
    /* Output columns keep the group and are plain values now. */
    assert_int_equal(out.cols.v[1].group, VIGIL_GROUP_MEMORY);
    assert_int_equal(out.cols.v[0].kind, VIGIL_KIND_GAUGE);
    vigil_prep_free(pp);
    vigil_frame_fini(&out);

    /* With deltas off the counter is kept raw: 10, 15, 15, 3, 8. */
    p.deltas = 0;
    pp = fit_apply(&fr, &p, &out);
    static const float raw_c[] = {10, 15, 15, 3, 8};
    check_col(&out, 0, raw_c, 5, "raw counter");
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
}

static void test_resample_and_fill(void **state)
{
    (void)state;
    /*
     * Step 10 s. Rows at t = 0, 4, 9, 12, 31, 38 s:
     *   gauge g:    1,   2,   3,  10,   7,   9
     *   counter c: 100, 110, 130, 130, 160, 150
     *   label y:    0,   1,   0,   0,   0,   2
     * Increases of c: X, 10, 20, 0, 30, 150 (160 -> 150 is a reset).
     * Buckets [0,10) rows 0-2, [10,20) row 3, [20,30) empty, [30,40) rows 4-5:
     *   g mean: (1+2+3)/3 = 2,  10,  X,  (7+9)/2 = 8
     *   c sum:  10+20 = 30,      0,  X,  30+150 = 180
     *   y max:  1,               0,  0,  2
     * fill_max 0 leaves the empty bucket missing; fill_max 1 repeats the last
     * values: g 10, c 0.
     */
    static const struct col_spec cols[] = {{"g", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
                                           {"c_total", VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU}};
    static const int64_t ts[] = {0, 4 * S, 9 * S, 12 * S, 31 * S, 38 * S};
    static const float v[] = {1, 100, 2, 110, 3, 130, 10, 130, 7, 160, 9, 150};
    static const int32_t y[] = {0, 1, 0, 0, 0, 2};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 2, ts, v, 6, y);

    struct vigil_prep_params p = params(10 * S, 0, 0, 0);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    static const float g0[] = {2, 10, X, 8}, c0[] = {30, 0, X, 180};
    check_col(&out, 0, g0, 4, "gauge mean");
    check_col(&out, 1, c0, 4, "counter sum");
    for (size_t i = 0; i < 4; i++) {
        assert_true(out.ts[i] == (int64_t)i * 10 * S);
    }
    assert_non_null(out.y);
    assert_int_equal(out.y[0], 1);
    assert_int_equal(out.y[1], 0);
    assert_int_equal(out.y[2], 0);
    assert_int_equal(out.y[3], 2);
    assert_int_equal(out.has_time, 1);
    vigil_prep_free(pp);
    vigil_frame_fini(&out);

    p.fill_max = 1;
    pp = fit_apply(&fr, &p, &out);
    static const float g1[] = {2, 10, 10, 8}, c1[] = {30, 0, 0, 180};
    check_col(&out, 0, g1, 4, "gauge filled");
    check_col(&out, 1, c1, 4, "counter filled");
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);

    /*
     * Buckets are aligned to absolute time: rows at 25 s and 47 s with step
     * 10 s give buckets 20 s and 40 s with one empty bucket (30 s) between.
     */
    static const int64_t ts2[] = {25 * S, 47 * S};
    static const float v2[] = {1, 5, 3, 9};
    make_frame(&fr, cols, 2, ts2, v2, 2, NULL);
    p.fill_max = 0;
    pp = fit_apply(&fr, &p, &out);
    assert_int_equal(out.n, 3);
    assert_true(out.ts[0] == 20 * S && out.ts[1] == 30 * S && out.ts[2] == 40 * S);
    static const float g2[] = {1, X, 3};
    check_col(&out, 0, g2, 3, "aligned");
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
}

static void test_gap_filling(void **state)
{
    (void)state;
    /*
     * fill_max 2, rows as they are:
     *   a:  X, 2, X, X, X, 5, X  -> X (nothing to repeat yet), 2, 2, 2, X (third
     *                              missing step), 5, 5
     *   b:  1, 2, 3, 4, 5, 6, 7  -> unchanged
     */
    static const struct col_spec cols[] = {{"a", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
                                           {"b", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU}};
    static const float v[] = {X, 1, 2, 2, X, 3, X, 4, X, 5, 5, 6, X, 7};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 2, NULL, v, 7, NULL);
    struct vigil_prep_params p = params(0, 2, 0, 0);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    static const float want[] = {X, 2, 2, 2, X, 5, 5};
    check_col(&out, 0, want, 7, "filled");
    assert_int_equal(out.has_time, 0);
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
}

static void test_scaling_with_clipping(void **state)
{
    (void)state;
    /*
     * Train g: 2, 4, 6 -> min 2, max 6, scaled (x - 2) / 4: 0, 0.5, 1.
     * Test  g: 0, 3, 8, 20, X -> (0-2)/4 = -0.5, (3-2)/4 = 0.25, (8-2)/4 = 1.5,
     *          (20-2)/4 = 4.5 clipped to 1 + clip = 2 (default clip 1), X stays X
     *          with fill_max 0. With clip 0: -0.5 -> 0 and 1.5, 4.5 -> 1.
     */
    static const struct col_spec cols[] = {{"g", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU}};
    static const float tr[] = {2, 4, 6}, te[] = {0, 3, 8, 20, X};
    struct vigil_frame train, test, out;
    make_frame(&train, cols, 1, NULL, tr, 3, NULL);
    make_frame(&test, cols, 1, NULL, te, 5, NULL);
    struct vigil_prep_params p = params(0, 0, 1, 0);
    struct vigil_prep *pp = fit_apply(&train, &p, &out);
    static const float want_tr[] = {0, 0.5f, 1};
    check_col(&out, 0, want_tr, 3, "train scaled");
    vigil_frame_fini(&out);
    vigil_frame_init(&out);
    struct vigil_diag d;
    assert_int_equal(vigil_prep_apply(pp, &test, &out, &d), 0);
    static const float want_te[] = {-0.5f, 0.25f, 1.5f, 2, X};
    check_col(&out, 0, want_te, 5, "test clipped to [-1, 2]");
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    p.clip = 0;
    pp = fit_apply(&train, &p, &out);
    vigil_frame_fini(&out);
    vigil_frame_init(&out);
    assert_int_equal(vigil_prep_apply(pp, &test, &out, &d), 0);
    static const float want_strict[] = {0, 0.25f, 1, 1, X};
    check_col(&out, 0, want_strict, 5, "test clipped to [0, 1]");
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&train);
    vigil_frame_fini(&test);
}

static void test_range_floors(void **state)
{
    (void)state;
    /*
     * Gauge g: 1000, 1001, 1002 -> range [1000, 1002]; with range_floor 0.01 the range is
     * at least 0.01 x 1002 = 10.02 around the centre 1001: [995.99, 1006.01].
     * Counter cpu_seconds_total: 10, 10.01, 10.03 -> increases 0.01, 0.02: range [0.01, 0.02],
     * widened by seconds_floor 0.05 to [-0.01, 0.04]. Counter b_total (not seconds): increases
     * 1, 2 keep [1, 2]: the seconds floor is for time counters only.
     */
    static const struct col_spec cols[] = {
        {"g", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY},
        {"cpu_seconds_total{cpu=\"0\"}", VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU},
        {"b_total", VIGIL_KIND_COUNTER, VIGIL_GROUP_NETWORK}};
    static const float v[] = {1000, 10, 5, 1001, 10.01f, 6, 1002, 10.03f, 8};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 3, NULL, v, 3, NULL);
    struct vigil_prep_params p = params(0, 0, 1, 0);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    double lo, hi;
    vigil_prep_series(pp, 0, &lo, &hi);
    assert_true(lo == 1000 && hi == 1002); /* floors off by default */
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    p.range_floor = 0.01;
    p.seconds_floor = 0.05;
    pp = fit_apply(&fr, &p, &out);
    vigil_prep_series(pp, 0, &lo, &hi);
    assert_true(fabs(lo - (1001 - 5.01)) < 1e-9 && fabs(hi - (1001 + 5.01)) < 1e-9);
    /* The middle row scales to 0.5; the top of training (1002) to 0.6, not to 1. */
    assert_true(fabs((double)vigil_frame_row(&out, 1)[0] - 0.5) < 1e-6);
    assert_true(fabs((double)vigil_frame_row(&out, 2)[0] - (1002 - 995.99) / 10.02) < 1e-5);
    vigil_prep_series(pp, 1, &lo, &hi);
    assert_true(fabs(hi - lo - 0.05) < 1e-9 && fabs((lo + hi) / 2 - 0.015) < 1e-6);
    vigil_prep_series(pp, 2, &lo, &hi);
    assert_true(lo == 1 && hi == 2);
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
}

static void test_drop_reports(void **state)
{
    (void)state;
    /*
     *   flat   3, 3, 3, 3          -> constant
     *   empty  X, X, X, X          -> all NaN
     *   steady counter 0,10,20,30  -> increases X,10,10,10: constant (a counter
     *                                 growing at a fixed rate is flat)
     *   inf    +Inf, X, -Inf, X    -> non-finite is missing: all NaN
     *   good   1, 2, 3, 1          -> kept, range [1, 3]
     */
    static const struct col_spec cols[] = {
        {"flat", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
        {"empty", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
        {"steady_total", VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU},
        {"inf", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
        {"good", VIGIL_KIND_UNKNOWN, VIGIL_GROUP_NETWORK},
    };
    static const float v[] = {3, X, 0,  INFINITY,  1, 3, X, 10, X, 2,
                              3, X, 20, -INFINITY, 3, 3, X, 30, X, 1};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 5, NULL, v, 4, NULL);
    struct vigil_prep_params p = params(0, 0, 1, 0);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    assert_int_equal(vigil_prep_n_dropped(pp), 4);
    static const char *const want[][2] = {{"flat", "constant"},
                                          {"empty", "all NaN"},
                                          {"steady_total", "constant"},
                                          {"inf", "all NaN"}};
    for (size_t i = 0; i < 4; i++) {
        const char *why;
        assert_string_equal(vigil_prep_dropped(pp, i, &why), want[i][0]);
        assert_string_equal(why, want[i][1]);
    }
    assert_null(vigil_prep_dropped(pp, 4, NULL));
    assert_int_equal(vigil_prep_n_features(pp), 1);
    assert_string_equal(vigil_prep_feature_name(pp, 0), "good");
    assert_int_equal(vigil_prep_feature_group(pp, 0), VIGIL_GROUP_NETWORK);
    assert_int_equal(out.f, 1);
    static const float scaled[] = {0, 0.5f, 1, 0};
    check_col(&out, 0, scaled, 4, "good scaled");
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);

    /* Nothing usable left: VIGIL_EEMPTY saying why. */
    static const float flat[] = {3, X, 0, 1, 3, X, 10, 1, 3, X, 20, 1, 3, X, 30, 1};
    make_frame(&fr, cols, 4, NULL, flat, 4, NULL);
    struct vigil_diag d;
    assert_int_equal(vigil_prep_fit(&pp, &fr, &p, &d), VIGIL_EEMPTY);
    assert_null(pp);
    assert_non_null(strstr(d.msg, "all 4 series are constant or empty"));
    vigil_frame_fini(&fr);

    /* No rows at all. */
    make_frame(&fr, cols, 4, NULL, flat, 0, NULL);
    assert_int_equal(vigil_prep_fit(&pp, &fr, &p, &d), VIGIL_EEMPTY);
    assert_non_null(strstr(d.msg, "no rows"));
    vigil_frame_fini(&fr);
}

static void test_temporal_features(void **state)
{
    (void)state;
    /*
     * k = 3, no scaling, no filling. x: 1, 3, X, 7, 4; z: 0, 1, 0, 1, 0.
     *   row  x  lag1 delta window        mean  std (population)
     *   0    1  X    X     {1}           1     0
     *   1    3  1    2     {1,3}         2     1
     *   2    X  3    X     {1,3,X}       2     1
     *   3    7  X    X     {3,X,7}       5     2
     *   4    4  7    -3    {X,7,4}       5.5   1.5
     * z's features follow x's five, in the same order.
     */
    static const struct col_spec cols[] = {{"x", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY},
                                           {"z", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU}};
    static const float v[] = {1, 0, 3, 1, X, 0, 7, 1, 4, 0};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 2, NULL, v, 5, NULL);
    struct vigil_prep_params p = params(0, 0, 0, 3);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    assert_int_equal(vigil_prep_n_features(pp), 10);
    static const char *const names[] = {"x", "x:lag1", "x:delta", "x:mean3", "x:std3",
                                        "z", "z:lag1", "z:delta", "z:mean3", "z:std3"};
    for (size_t j = 0; j < 10; j++) {
        assert_string_equal(vigil_prep_feature_name(pp, j), names[j]);
        assert_int_equal(vigil_prep_feature_group(pp, j),
                         j < 5 ? VIGIL_GROUP_MEMORY : VIGIL_GROUP_CPU);
        uint32_t id;
        assert_int_equal(vigil_series_find(&out.cols, names[j], strlen(names[j]), &id), 0);
        assert_int_equal(id, j);
    }
    static const float x[] = {1, 3, X, 7, 4}, lag[] = {X, 1, 3, X, 7}, dl[] = {X, 2, X, X, -3},
                       mean[] = {1, 2, 2, 5, 5.5f}, sd[] = {0, 1, 1, 2, 1.5f};
    check_col(&out, 0, x, 5, "x");
    check_col(&out, 1, lag, 5, "lag1");
    check_col(&out, 2, dl, 5, "delta");
    check_col(&out, 3, mean, 5, "mean3");
    check_col(&out, 4, sd, 5, "std3");
    /* z: 0,1,0,1,0 -> mean over {0},{0,1},{0,1,0},{1,0,1},{0,1,0}. */
    static const float zm[] = {0, 0.5f, 1.0f / 3, 2.0f / 3, 1.0f / 3};
    check_col(&out, 8, zm, 5, "z mean3");
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
}

static void test_split_groups_and_windows(void **state)
{
    (void)state;
    static const struct col_spec cols[] = {{"n1", VIGIL_KIND_GAUGE, VIGIL_GROUP_NETWORK},
                                           {"c1", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
                                           {"n2", VIGIL_KIND_GAUGE, VIGIL_GROUP_NETWORK}};
    static const float v[] = {1, 2, 3, 2, 3, 4, 0, 0, 0};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 3, NULL, v, 3, NULL);
    struct vigil_prep_params p = params(0, 0, 1, 0);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    /* Features n1, c1, n2 -> cpu: {1}; memory: {}; network: {0, 2}. */
    size_t idx[3], off[VIGIL_GROUP_COUNT + 1];
    vigil_prep_split_groups(pp, idx, off);
    static const size_t want_off[] = {0, 1, 1, 3, 3, 3};
    for (size_t g = 0; g <= VIGIL_GROUP_COUNT; g++) {
        assert_int_equal(off[g], want_off[g]);
    }
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 0);
    assert_int_equal(idx[2], 2);

    /* Windows over out (3 rows, 3 features): T = 2 gives 2 views into the block. */
    struct vigil_windows w;
    assert_int_equal(vigil_windows_init(&w, out.x, out.n, out.f, 2, 1), 0);
    assert_int_equal(w.count, 2);
    assert_ptr_equal(vigil_windows_at(&w, 0), out.x);
    assert_ptr_equal(vigil_windows_at(&w, 1), out.x + 3);
    assert_int_equal(vigil_windows_init(&w, out.x, 7, 3, 3, 2), 0);
    assert_int_equal(w.count, 3); /* starts 0, 2, 4 */
    assert_ptr_equal(vigil_windows_at(&w, 2), out.x + 12);
    assert_int_equal(vigil_windows_init(&w, out.x, 2, 3, 3, 1), 0);
    assert_int_equal(w.count, 0);
    assert_int_equal(vigil_windows_init(&w, out.x, 3, 3, 0, 1), -EINVAL);
    assert_int_equal(vigil_windows_init(&w, out.x, 3, 3, 1, 0), -EINVAL);
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
}

static void test_apply_errors(void **state)
{
    (void)state;
    static const struct col_spec cols[] = {{"a", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
                                           {"b{x=\"1\"}", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU}};
    static const float v[] = {1, 2, 2, 3, 3, 1};
    struct vigil_frame fr, other, out;
    make_frame(&fr, cols, 2, NULL, v, 3, NULL);
    struct vigil_prep_params p = params(1 * S, 0, 1, 0); /* rows 1 s apart: one per bucket */
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    vigil_frame_fini(&out);

    /* A frame that lacks b{x="1"}: VIGIL_ESHAPE naming it. */
    make_frame(&other, cols, 1, NULL, v, 3, NULL);
    struct vigil_diag d;
    vigil_frame_init(&out);
    assert_int_equal(vigil_prep_apply(pp, &other, &out, &d), VIGIL_ESHAPE);
    assert_non_null(strstr(d.msg, "missing series 'b{x=\"1\"}'"));
    vigil_frame_fini(&out);
    vigil_frame_fini(&other);

    /* Extra columns and another column order are fine: matched by key. */
    static const struct col_spec rev[] = {{"zz", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
                                          {"b{x=\"1\"}", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU},
                                          {"a", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU}};
    static const float vr[] = {9, 2, 1, 9, 3, 2, 9, 1, 3};
    make_frame(&other, rev, 3, NULL, vr, 3, NULL);
    vigil_frame_init(&out);
    assert_int_equal(vigil_prep_apply(pp, &other, &out, &d), 0);
    static const float a_scaled[] = {0, 0.5f, 1};
    check_col(&out, 0, a_scaled, 3, "a by key");
    vigil_frame_fini(&out);
    vigil_frame_fini(&other);

    /* Time going back across buckets is rejected with the row. */
    static const int64_t back[] = {0, 20 * S, 5 * S};
    make_frame(&other, cols, 2, back, v, 3, NULL);
    vigil_frame_init(&out);
    assert_int_equal(vigil_prep_apply(pp, &other, &out, &d), VIGIL_ESHAPE);
    assert_non_null(strstr(d.msg, "row 3: timestamp goes back"));
    vigil_frame_fini(&out);
    vigil_frame_fini(&other);

    /* A jump of more than VIGIL_PREP_GAP_MAX steps is refused, not materialized. */
    static const int64_t jump[] = {0, 1 * S, (VIGIL_PREP_GAP_MAX + 5) * S};
    make_frame(&other, cols, 2, jump, v, 3, NULL);
    vigil_frame_init(&out);
    assert_int_equal(vigil_prep_apply(pp, &other, &out, &d), VIGIL_ESHAPE);
    assert_non_null(strstr(d.msg, "row 3"));
    vigil_frame_fini(&out);
    vigil_frame_fini(&other);

    /* Bad parameters. */
    p.fill_max = -1;
    assert_non_null(vigil_prep_check(&p));
    struct vigil_prep *bad;
    assert_int_equal(vigil_prep_fit(&bad, &fr, &p, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "fill-max"));
    vigil_prep_free(pp);
    vigil_frame_fini(&fr);
}

static void test_options(void **state)
{
    (void)state;
    struct vigil_prep_params p;
    vigil_prep_params_default(&p);
    assert_true(p.step == 0);
    assert_int_equal(p.fill_max, 3);
    assert_int_equal(p.scale, 1);
    assert_int_equal(p.temporal, 0);
    assert_int_equal(p.deltas, 1);
    struct vigil_diag d;
    assert_int_equal(vigil_opt_set(vigil_prep_opts, &p, "step", "30s", 3, &d), 0);
    assert_true(p.step == 30 * S);
    assert_int_equal(vigil_opt_set(vigil_prep_opts, &p, "temporal", "5", 1, &d), 0);
    assert_int_equal(p.temporal, 5);
    assert_int_equal(vigil_opt_set(vigil_prep_opts, &p, "fill-max", "-2", 2, &d), VIGIL_ECONFIG);
    assert_int_equal(vigil_opt_set(vigil_prep_opts, &p, "scale", "no", 2, &d), 0);
    assert_int_equal(p.scale, 0);
    assert_null(vigil_prep_check(&p));
}

/* ---- irregular data for round trips and stream == batch ---- */

/*
 * 300 rows, irregular spacing 1-9 s with a 60 s hole, 6 series: two
 * counters with resets, two gauges with NaN runs, a constant and an empty
 * one, plus labels.
 */
static void make_irregular(struct vigil_frame *fr, uint64_t seed)
{
    static const struct col_spec cols[] = {
        {"rx_bytes_total{dev=\"eth0\"}", VIGIL_KIND_COUNTER, VIGIL_GROUP_NETWORK},
        {"cpu_seconds_total", VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU},
        {"mem_used", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY},
        {"load1", VIGIL_KIND_UNKNOWN, VIGIL_GROUP_CPU},
        {"flat", VIGIL_KIND_GAUGE, VIGIL_GROUP_OTHER},
        {"empty", VIGIL_KIND_GAUGE, VIGIL_GROUP_OTHER},
    };
    enum { N = 300, F = 6 };
    static float v[N * F];
    static int64_t ts[N];
    static int32_t y[N];
    struct vigil_rng r;
    vigil_rng_seed(&r, seed);
    double c0 = 1000, c1 = 50;
    int64_t t = 1700000003 * S;
    for (size_t i = 0; i < N; i++) {
        t += (int64_t)(1 + vigil_rng_below(&r, 9)) * S + (int64_t)vigil_rng_below(&r, 1000);
        if (i == 150) {
            t += 60 * S;
        }
        ts[i] = t;
        c0 += (double)vigil_rng_below(&r, 5000);
        c1 += vigil_rng_uniform(&r) * 3;
        if (vigil_rng_below(&r, 40) == 0) {
            c0 = (double)vigil_rng_below(&r, 100); /* reset */
        }
        float *row = v + i * F;
        row[0] = (float)c0;
        row[1] = vigil_rng_below(&r, 25) == 0 ? NAN : (float)c1;
        row[2] = (i / 10) % 7 == 3 ? NAN : (float)(4e6 + 1e5 * vigil_rng_normal(&r));
        row[3] = (float)(vigil_rng_uniform(&r) * 4);
        row[4] = 7;
        row[5] = NAN;
        y[i] = (i > 200 && i < 220) ? 1 + (int32_t)(i % 3) : 0;
    }
    make_frame(fr, cols, F, ts, v, N, y);
}

static int frames_identical(const struct vigil_frame *a, const struct vigil_frame *b)
{
    if (a->n != b->n || a->f != b->f) {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->ts[i] != b->ts[i]) {
            return 0;
        }
        for (size_t j = 0; j < a->f; j++) {
            float x = vigil_frame_row(a, i)[j], z = vigil_frame_row(b, i)[j];
            if (!(isnan(x) ? isnan(z) : memcmp(&x, &z, sizeof x) == 0)) {
                return 0;
            }
        }
    }
    return 1;
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    struct vigil_frame fr, out1, out2;
    make_irregular(&fr, 7);
    struct vigil_prep_params p = params(10 * S, 2, 1, 4);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out1);
    assert_int_equal(vigil_prep_n_dropped(pp), 2);
    struct vigil_buf b, b2;
    vigil_buf_init(&b);
    vigil_buf_init(&b2);
    assert_int_equal(vigil_prep_save(pp, &b), 0);

    struct vigil_prep *back;
    struct vigil_diag d;
    assert_int_equal(vigil_prep_load(&back, b.p, b.len, &d), 0);
    assert_int_equal(vigil_prep_n_features(back), vigil_prep_n_features(pp));
    for (size_t j = 0; j < vigil_prep_n_features(pp); j++) {
        assert_string_equal(vigil_prep_feature_name(back, j), vigil_prep_feature_name(pp, j));
        assert_int_equal(vigil_prep_feature_group(back, j), vigil_prep_feature_group(pp, j));
    }
    for (size_t i = 0; i < vigil_prep_n_series(pp); i++) {
        double a0, a1, b0, b1;
        assert_string_equal(vigil_prep_series(back, i, &b0, &b1),
                            vigil_prep_series(pp, i, &a0, &a1));
        assert_true(a0 == b0 && a1 == b1);
    }
    const char *w1, *w2;
    assert_string_equal(vigil_prep_dropped(back, 1, &w2), vigil_prep_dropped(pp, 1, &w1));
    assert_string_equal(w1, w2);
    assert_true(vigil_prep_params(back)->step == 10 * S);
    /* The loaded state transforms exactly like the fitted one, and saves the same bytes. */
    vigil_frame_init(&out2);
    assert_int_equal(vigil_prep_apply(back, &fr, &out2, &d), 0);
    assert_true(frames_identical(&out1, &out2));
    assert_int_equal(vigil_prep_save(back, &b2), 0);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.p, b.p, b.len);
    vigil_prep_free(back);

    /* Every truncation is rejected with a message, never a crash. */
    for (size_t n = 0; n < b.len; n++) {
        vigil_diag_clear(&d);
        struct vigil_prep *t = (struct vigil_prep *)1;
        int rc = vigil_prep_load(&t, b.p, n, &d);
        if (rc != VIGIL_EFORMAT || t != NULL || !d.msg[0]) {
            fail_msg("truncated at %zu of %zu: rc %d, msg '%s'", n, b.len, rc, d.msg);
        }
    }
    /* Trailing bytes, bad magic, bad version, bad kind are rejected too. */
    vigil_buf_append(&b2, "x", 1);
    assert_int_equal(vigil_prep_load(&back, b2.p, b2.len, &d), VIGIL_EFORMAT);
    assert_non_null(strstr(d.msg, "trailing"));
    b2.p[0] ^= 1;
    assert_int_equal(vigil_prep_load(&back, b2.p, b2.len - 1, &d), VIGIL_EFORMAT);
    assert_non_null(strstr(d.msg, "magic"));
    b2.p[0] ^= 1;
    b2.p[4] = 9;
    assert_int_equal(vigil_prep_load(&back, b2.p, b2.len - 1, &d), VIGIL_EFORMAT);
    assert_non_null(strstr(d.msg, "version"));
    b2.p[4] = 3;
    /* A version 2 state (no lags and minmax fields, bytes 40..47) still loads. */
    struct vigil_buf v2;
    vigil_buf_init(&v2);
    assert_int_equal(vigil_buf_append(&v2, b2.p, 40), 0);
    assert_int_equal(vigil_buf_append(&v2, b2.p + 48, b2.len - 1 - 48), 0);
    v2.p[4] = 2;
    assert_int_equal(vigil_prep_load(&back, v2.p, v2.len, &d), 0);
    assert_int_equal(vigil_prep_params(back)->lags, 0);
    assert_int_equal(vigil_prep_n_features(back), vigil_prep_n_features(pp));
    vigil_prep_free(back);
    back = NULL;
    vigil_buf_fini(&v2);
    /* The first series' kind follows the header (52 bytes), key and entity strings. */
    uint32_t klen;
    memcpy(&klen, b2.p + 52, 4);
    size_t kind_off = 52 + 4 + klen + 4; /* entity of the first series is "" */
    b2.p[kind_off] = 7;
    assert_int_equal(vigil_prep_load(&back, b2.p, b2.len - 1, &d), VIGIL_EFORMAT);
    assert_non_null(strstr(d.msg, "kind 7"));

    vigil_buf_fini(&b);
    vigil_buf_fini(&b2);
    vigil_prep_free(pp);
    vigil_frame_fini(&out1);
    vigil_frame_fini(&out2);
    vigil_frame_fini(&fr);
}

static void check_stream_equals_batch(const struct vigil_prep_params *p)
{
    struct vigil_frame fr, batch;
    make_irregular(&fr, 11);
    struct vigil_prep *pp;
    struct vigil_diag d;
    /* Fit on the first half, score everything. */
    struct vigil_frame train;
    vigil_frame_init(&train);
    uint32_t all[6] = {0, 1, 2, 3, 4, 5};
    assert_int_equal(vigil_frame_select(&train, &fr, all, 6), 0);
    train.n = 150;
    assert_int_equal(vigil_prep_fit(&pp, &train, p, &d), 0);
    vigil_frame_init(&batch);
    assert_int_equal(vigil_prep_apply(pp, &fr, &batch, &d), 0);
    assert_true(batch.n > 0);

    /* The live side sees the series in another order, with one more. */
    struct vigil_series_table live;
    vigil_series_table_init(&live);
    static const int order[] = {5, 3, -1, 1, 0, 4, 2}; /* -1: a series training never saw */
    uint32_t id;
    for (size_t j = 0; j < 7; j++) {
        const char *k = order[j] < 0 ? "new_series" : fr.cols.v[order[j]].key;
        assert_int_equal(vigil_series_intern_text(&live, k, strlen(k), &id), 0);
    }
    struct vigil_prep_stream s;
    assert_int_equal(vigil_prep_stream_init(&s, pp, &live, &d), 0);
    assert_int_equal(s.n_in, 7);

    float raw[7];
    size_t got = 0, f = batch.f;
    int64_t ts;
    const float *feat;
    tu_alloc_fail_at(0); /* count allocations from here */
    for (size_t i = 0; i <= fr.n; i++) {
        if (i < fr.n) {
            const float *row = vigil_frame_row(&fr, i);
            for (size_t j = 0; j < 7; j++) {
                raw[j] = order[j] < 0 ? 42.0f : row[order[j]];
            }
            assert_int_equal(vigil_prep_stream_push(&s, fr.ts[i], raw), 0);
        } else {
            vigil_prep_stream_flush(&s);
        }
        while (vigil_prep_stream_next(&s, &ts, &feat)) {
            assert_true(got < batch.n);
            assert_true(ts == batch.ts[got]);
            const float *want = vigil_frame_row(&batch, got);
            for (size_t j = 0; j < f; j++) {
                if (!(isnan(want[j]) ? isnan(feat[j])
                                     : memcmp(&want[j], &feat[j], sizeof(float)) == 0)) {
                    fail_msg("row %zu feature %zu: stream %g, batch %g", got, j, (double)feat[j],
                             (double)want[j]);
                }
            }
            got++;
        }
    }
    long calls = tu_alloc_calls();
    tu_alloc_reset();
    assert_int_equal(calls, 0); /* push and next never allocate */
    assert_int_equal(got, batch.n);

    vigil_prep_stream_fini(&s);
    vigil_series_table_fini(&live);
    vigil_prep_free(pp);
    vigil_frame_fini(&batch);
    vigil_frame_fini(&train);
    vigil_frame_fini(&fr);
}

static void test_stream_equals_batch(void **state)
{
    (void)state;
    struct vigil_prep_params p = params(10 * S, 2, 1, 4);
    check_stream_equals_batch(&p);
    p = params(0, 1, 1, 3); /* rows as they are */
    check_stream_equals_batch(&p);
    p = params(30 * S, 0, 0, 0);
    check_stream_equals_batch(&p);
    p = params(10 * S, 2, 1, 3); /* lags 2..5 and rolling min/max */
    p.lags = 5;
    p.minmax = 1;
    check_stream_equals_batch(&p);
}

static void test_stream_protocol(void **state)
{
    (void)state;
    static const struct col_spec cols[] = {{"g", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU}};
    static const float v[] = {1, 2, 3};
    static const int64_t t3[] = {0, 10 * S, 20 * S};
    struct vigil_frame fr, out;
    make_frame(&fr, cols, 1, t3, v, 3, NULL);
    struct vigil_prep_params p = params(10 * S, 0, 0, 0);
    struct vigil_prep *pp = fit_apply(&fr, &p, &out);
    struct vigil_prep_stream s;
    struct vigil_diag d;
    assert_int_equal(vigil_prep_stream_init(&s, pp, &fr.cols, &d), 0);
    float x = 5;
    int64_t ts;
    const float *feat;
    assert_int_equal(vigil_prep_stream_push(&s, 3 * S, &x), 0);
    assert_int_equal(vigil_prep_stream_next(&s, &ts, &feat), 0); /* bucket still open */
    x = 7;
    assert_int_equal(vigil_prep_stream_push(&s, 35 * S, &x), 0);
    /* Bucket 0 closed (mean 5), then buckets 10 s and 20 s are empty. */
    x = 9;
    assert_int_equal(vigil_prep_stream_push(&s, 41 * S, &x), -EBUSY);
    assert_int_equal(vigil_prep_stream_next(&s, &ts, &feat), 1);
    assert_true(ts == 0 && feat[0] == 5);
    assert_int_equal(vigil_prep_stream_next(&s, &ts, &feat), 1);
    assert_true(ts == 10 * S && isnan(feat[0]));
    assert_int_equal(vigil_prep_stream_next(&s, &ts, &feat), 1);
    assert_true(ts == 20 * S && isnan(feat[0]));
    assert_int_equal(vigil_prep_stream_next(&s, &ts, &feat), 0);
    /* Back into an earlier bucket: refused, state unchanged. */
    assert_int_equal(vigil_prep_stream_push(&s, 12 * S, &x), VIGIL_ESHAPE);
    assert_int_equal(vigil_prep_stream_push(&s, 38 * S, &x), 0);
    vigil_prep_stream_flush(&s);
    assert_int_equal(vigil_prep_stream_next(&s, &ts, &feat), 1);
    assert_true(ts == 30 * S && feat[0] == 8); /* (7 + 9) / 2 */
    assert_int_equal(vigil_prep_stream_next(&s, &ts, &feat), 0);
    vigil_prep_stream_fini(&s);

    /* A table without the series. */
    struct vigil_series_table empty;
    vigil_series_table_init(&empty);
    assert_int_equal(vigil_prep_stream_init(&s, pp, &empty, &d), VIGIL_ESHAPE);
    assert_non_null(strstr(d.msg, "missing series 'g'"));
    vigil_series_table_fini(&empty);
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
}

/* ---- an independent column-wise reference of rules 1-6 ---- */

/*
 * Written from the rules in prep.h without looking at the stream: whole
 * columns, explicit bucket indices, backward loops for windows.
 */
static void reference(const struct vigil_frame *fr, size_t col, int counter, double lo, double hi,
                      const struct vigil_prep_params *p, float *outv, size_t *n_out, size_t cap)
{
    size_t n = fr->n;
    double inc[400];
    assert_true(n <= 400);
    double prev = NAN;
    for (size_t i = 0; i < n; i++) {
        double x = vigil_frame_row(fr, i)[col];
        if (!isfinite(x)) {
            inc[i] = NAN;
            continue;
        }
        if (counter) {
            inc[i] = isnan(prev) ? (double)NAN : (x >= prev ? x - prev : x);
            prev = x;
        } else {
            inc[i] = x;
        }
    }
    float v[2000];
    size_t m = 0;
    if (p->step == 0) {
        for (size_t i = 0; i < n; i++) {
            v[m++] = (float)inc[i];
        }
    } else {
        int64_t b0 = fr->ts[0] / p->step, b1 = fr->ts[n - 1] / p->step; /* positive times */
        for (int64_t b = b0; b <= b1; b++) {
            double sum = 0;
            size_t c = 0;
            for (size_t i = 0; i < n; i++) {
                if (fr->ts[i] / p->step == b && !isnan(inc[i])) {
                    sum += inc[i];
                    c++;
                }
            }
            assert_true(m < 2000);
            v[m++] = c == 0 ? NAN : (float)(counter ? sum : sum / (double)c);
        }
    }
    /* fill */
    float last = NAN;
    int run = 0;
    for (size_t i = 0; i < m; i++) {
        if (isnan(v[i])) {
            if (!isnan(last) && run < p->fill_max) {
                v[i] = last;
            }
            run++;
        } else {
            last = v[i];
            run = 0;
        }
    }
    size_t first = p->temporal ? 2 : 1;
    size_t nlag = (size_t)p->lags >= first ? (size_t)p->lags - first + 1 : 0;
    size_t per = 1 + (p->temporal ? 4 : 0) + (p->minmax ? 2 : 0) + nlag;
    assert_true(m * per <= cap);
    for (size_t i = 0; i < m; i++) {
        float x = v[i];
        if (p->scale && !isnan(x)) {
            double s = ((double)x - lo) / (hi - lo);
            x = (float)(s < 0 ? 0 : s > 1 ? 1 : s);
        }
        v[i] = x;
    }
    for (size_t i = 0; i < m; i++) {
        float *o = outv + i * per;
        o[0] = v[i];
        for (size_t l = 0; l < nlag; l++) {
            size_t back = first + l;
            o[per - nlag + l] = i >= back ? v[i - back] : NAN;
        }
        if (!p->temporal) {
            continue;
        }
        o[1] = i ? v[i - 1] : NAN;
        o[2] = v[i] - o[1];
        double sum = 0, ss = 0;
        size_t c = 0;
        size_t from = i + 1 >= (size_t)p->temporal ? i + 1 - (size_t)p->temporal : 0;
        for (size_t t = from; t <= i; t++) {
            if (!isnan(v[t])) {
                sum += (double)v[t];
                c++;
            }
        }
        double mean = c ? sum / (double)c : (double)NAN;
        for (size_t t = from; t <= i && c; t++) {
            if (!isnan(v[t])) {
                ss += ((double)v[t] - mean) * ((double)v[t] - mean);
            }
        }
        o[3] = (float)mean;
        o[4] = c ? (float)sqrt(ss / (double)c) : NAN;
        if (p->minmax) {
            float mn = NAN, mx = NAN;
            for (size_t t = from; t <= i; t++) {
                if (!isnan(v[t])) {
                    mn = isnan(mn) || v[t] < mn ? v[t] : mn;
                    mx = isnan(mx) || v[t] > mx ? v[t] : mx;
                }
            }
            o[5] = mn;
            o[6] = mx;
        }
    }
    *n_out = m;
}

static void test_matches_reference(void **state)
{
    (void)state;
    static const struct vigil_prep_params ps[] = {
        {10 * S, 2, 1, 4, 1, 0, 0, 0, 0, 0, 0}, {0, 1, 1, 3, 1, 0, 0, 0, 0, 0, 0},
        {7 * S, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0}, {5 * S, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0},
        /* lags without temporal (lag1..6), with it (lag2..4) and rolling min/max */
        {10 * S, 2, 1, 0, 1, 0, 6, 0, 0, 0, 0}, {0, 1, 1, 3, 1, 0, 4, 1, 0, 0, 0},
        {7 * S, 0, 0, 5, 1, 0, 0, 1, 0, 0, 0}};
    for (size_t c = 0; c < sizeof ps / sizeof ps[0]; c++) {
        struct vigil_frame fr, out;
        make_irregular(&fr, 100 + c);
        struct vigil_prep *pp = fit_apply(&fr, &ps[c], &out);
        size_t per = vigil_prep_n_features(pp) / vigil_prep_n_series(pp);
        static float ref[2000 * 12];
        for (size_t k = 0; k < vigil_prep_n_series(pp); k++) {
            double lo, hi;
            const char *key = vigil_prep_series(pp, k, &lo, &hi);
            uint32_t col;
            assert_int_equal(vigil_series_find(&fr.cols, key, strlen(key), &col), 0);
            int counter = ps[c].deltas && fr.cols.v[col].kind == VIGIL_KIND_COUNTER;
            size_t m;
            reference(&fr, col, counter, lo, hi, &ps[c], ref, &m, sizeof ref / sizeof ref[0]);
            assert_int_equal(m, out.n);
            for (size_t i = 0; i < m; i++) {
                for (size_t t = 0; t < per; t++) {
                    float got = vigil_frame_row(&out, i)[k * per + t];
                    float want = ref[i * per + t];
                    /* Both sides accumulate in double; 1e-5 covers float rounding of sums. */
                    float tol = 1e-5f * (1 + fabsf(want));
                    if (!same_float(got, want, tol)) {
                        fail_msg("case %zu %s row %zu feature %zu: got %.9g want %.9g", c, key, i,
                                 t, (double)got, (double)want);
                    }
                }
            }
        }
        vigil_prep_free(pp);
        vigil_frame_fini(&out);
        vigil_frame_fini(&fr);
    }
}

static void test_prep_oom_sweep(void **state)
{
    (void)state;
    struct vigil_frame fr;
    make_irregular(&fr, 3);
    fr.n = 40;
    struct vigil_prep_params p = params(10 * S, 1, 1, 2);
    for (long k = 1;; k++) {
        struct vigil_prep *pp = NULL, *back = NULL;
        struct vigil_frame out;
        struct vigil_buf b;
        struct vigil_diag d;
        vigil_buf_init(&b);
        vigil_frame_init(&out);
        tu_alloc_fail_at(k);
        int rc = vigil_prep_fit(&pp, &fr, &p, &d);
        rc = rc ? rc : vigil_prep_apply(pp, &fr, &out, &d);
        rc = rc ? rc : vigil_prep_save(pp, &b);
        rc = rc ? rc : vigil_prep_load(&back, b.p, b.len, &d);
        vigil_prep_free(pp);
        vigil_prep_free(back);
        vigil_frame_fini(&out);
        vigil_buf_fini(&b);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 5000);
    }
    vigil_frame_fini(&fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_reset),
        cmocka_unit_test(test_resample_and_fill),
        cmocka_unit_test(test_gap_filling),
        cmocka_unit_test(test_scaling_with_clipping),
        cmocka_unit_test(test_range_floors),
        cmocka_unit_test(test_drop_reports),
        cmocka_unit_test(test_temporal_features),
        cmocka_unit_test(test_split_groups_and_windows),
        cmocka_unit_test(test_apply_errors),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_stream_equals_batch),
        cmocka_unit_test(test_stream_protocol),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_prep_oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
