/*
 * Random Forest tests on small synthetic data: parameter checks, overfitting
 * a tiny set, a stump against a brute-force Gini search, histogram splits
 * against exact splits, bit-identical models whatever the thread count,
 * save/load round trips, every truncation and targeted corruptions of the
 * payload, NaN routing, class weights, importances (impurity and
 * permutation), and an OOM sweep of fit.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/opt.h"
#include "vigil/rf.h"
#include "vigil/rng.h"

#include "../../src/model/internal.h" /* vigil__rf_score_walk */

static const struct vigil_model_ops *rf_ops(void)
{
    const struct vigil_model_ops *ops = vigil_model_find("rf");
    assert_non_null(ops);
    return ops;
}

static void params_default(struct vigil_rf_params *p)
{
    memset(p, 0, sizeof *p); /* defaults free the STR fields they replace */
    assert_int_equal(vigil_opt_defaults(rf_ops()->opts, p), 0);
}

/* Sets one option through the option table (as the CLI does). */
static void set_opt(struct vigil_rf_params *p, const char *name, const char *val)
{
    struct vigil_diag d;
    assert_int_equal(vigil_opt_set(rf_ops()->opts, p, name, val, strlen(val), &d), 0);
}

/* Blobs: class c (0..C-1) shifts feature c by `sep`; other features are noise. */
static void make_blobs(float *x, int32_t *y, size_t n, size_t f, size_t c, double sep,
                       uint64_t seed)
{
    struct vigil_rng r;
    vigil_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 7 == 0 ? 1 + (i / 7) % (c - 1) : 0);
        for (size_t j = 0; j < f; j++) {
            x[i * f + j] = (float)(vigil_rng_normal(&r) + ((int32_t)j == y[i] ? sep : 0.0));
        }
    }
}

static void fit_model(struct vigil_model *m, const struct vigil_rf_params *p, const float *x,
                      const int32_t *y, size_t n, size_t f, size_t c, int threads)
{
    assert_int_equal(vigil_model_init(m, rf_ops(), p), 0);
    struct vigil_batch b = {.x = x, .n = n, .f = f, .y = y, .n_classes = c, .threads = threads};
    assert_int_equal(m->ops->fit(m, &b), 0);
    assert_int_equal(m->f, f);
}

static void save_bytes(const struct vigil_model *m, struct vigil_buf *b)
{
    vigil_buf_init(b);
    assert_int_equal(m->ops->save(m, b), 0);
}

static void test_check_rejects_bad_params(void **state)
{
    (void)state;
    struct vigil_rf_params p;
    params_default(&p);
    assert_int_equal(p.trees, 10);
    assert_string_equal(p.max_features, "sqrt");
    assert_int_equal(p.bootstrap, 1);
    assert_null(rf_ops()->check(&p));
    struct vigil_model m;
    const char *bad[][2] = {{"max-features", "abc"}, {"max-features", "0"},
                            {"max-features", "1.5"}, {"bins", "1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vigil_rf_params q;
        params_default(&q);
        set_opt(&q, bad[i][0], bad[i][1]);
        assert_non_null(rf_ops()->check(&q));
        assert_int_equal(vigil_model_init(&m, rf_ops(), &q), VIGIL_ECONFIG);
        vigil_opt_free(rf_ops()->opts, &q);
    }
    /* Bounds in the table reject the rest before check runs. */
    struct vigil_diag d;
    assert_int_equal(vigil_opt_set(rf_ops()->opts, &p, "trees", "0", 1, &d), VIGIL_ECONFIG);
    assert_int_equal(vigil_opt_set(rf_ops()->opts, &p, "criterion", "mse", 3, &d),
                     VIGIL_ECONFIG);
    set_opt(&p, "max-features", "0.5");
    assert_null(rf_ops()->check(&p));
    set_opt(&p, "max-features", "3");
    assert_null(rf_ops()->check(&p));
    vigil_opt_free(rf_ops()->opts, &p);
}

static void test_overfits_tiny_set(void **state)
{
    (void)state;
    /* XOR of two features: no single split helps, depth 2 separates it. */
    enum { N = 40, F = 3 };
    float x[N * F];
    int32_t y[N];
    struct vigil_rng r;
    vigil_rng_seed(&r, 9);
    for (int i = 0; i < N; i++) {
        int a = i & 1, b = (i >> 1) & 1;
        x[i * F + 0] = (float)a + 0.1f * (float)vigil_rng_uniform(&r);
        x[i * F + 1] = (float)b + 0.1f * (float)vigil_rng_uniform(&r);
        x[i * F + 2] = (float)vigil_rng_uniform(&r);
        y[i] = a ^ b;
    }
    struct vigil_rf_params p;
    params_default(&p);
    set_opt(&p, "bootstrap", "false");
    set_opt(&p, "max-features", "all");
    set_opt(&p, "trees", "3");
    struct vigil_model m;
    fit_model(&m, &p, x, y, N, F, 2, 1);
    assert_int_equal(m.ops->n_out(&m), 2);
    assert_string_equal(m.ops->out_name(&m, 1), "p_1");
    float out[N * 2];
    assert_int_equal(m.ops->score(&m, x, N, out), 0);
    for (int i = 0; i < N; i++) {
        assert_true(fabsf(out[i * 2] + out[i * 2 + 1] - 1.0f) < 1e-6f);
        assert_true(out[i * 2 + y[i]] == 1.0f); /* pure leaves, every tree */
    }
    size_t k, nodes, depth;
    assert_int_equal(vigil_rf_shape(&m, &k, &nodes, &depth), 0);
    assert_int_equal(k, 3);
    assert_true(depth >= 2);
    /* Impurity importance: the XOR features share it, the noise gets little. */
    const double *imp;
    size_t f;
    assert_int_equal(vigil_rf_importances(&m, &imp, &f), 0);
    assert_int_equal(f, F);
    assert_true(fabs(imp[0] + imp[1] + imp[2] - 1.0) < 1e-9);
    assert_true(imp[0] > imp[2] && imp[1] > imp[2]);
    vigil_model_fini(&m);
    vigil_opt_free(rf_ops()->opts, &p);
}

/* Brute-force Gini: the best (feature, threshold) over every midpoint. */
static void brute_stump(const float *x, const int32_t *y, size_t n, size_t f, int *bf,
                        double *bgain)
{
    *bgain = -1;
    for (size_t j = 0; j < f; j++) {
        for (size_t a = 0; a < n; a++) {
            float t = x[a * f + j];
            double l[2] = {0, 0}, r[2] = {0, 0};
            for (size_t i = 0; i < n; i++) {
                (x[i * f + j] <= t ? l : r)[y[i]] += 1;
            }
            double wl = l[0] + l[1], wr = r[0] + r[1];
            if (wl == 0 || wr == 0) {
                continue;
            }
            double g = (l[0] * l[0] + l[1] * l[1]) / wl + (r[0] * r[0] + r[1] * r[1]) / wr;
            if (g > *bgain + 1e-9) {
                *bgain = g;
                *bf = (int)j;
            }
        }
    }
}

static void test_stump_matches_brute_force(void **state)
{
    (void)state;
    enum { N = 600, F = 5 };
    static float x[N * F];
    static int32_t y[N];
    make_blobs(x, y, N, F, 2, 1.0, 4);
    int bf = -1;
    double bg;
    brute_stump(x, y, N, F, &bf, &bg);
    for (int bins = 0; bins <= 256; bins += 256) {
        struct vigil_rf_params p;
        params_default(&p);
        set_opt(&p, "bootstrap", "false");
        set_opt(&p, "max-features", "all");
        set_opt(&p, "max-depth", "1");
        set_opt(&p, "trees", "1");
        char b[16];
        snprintf(b, sizeof b, "%d", bins);
        set_opt(&p, "bins", b);
        struct vigil_model m;
        fit_model(&m, &p, x, y, N, F, 2, 1);
        /* The stump's split is on the brute-force feature; its two leaves realize the gain. */
        float out[N * 2];
        m.ops->score(&m, x, N, out);
        double l[2] = {0, 0}, r[2] = {0, 0};
        float pl = out[1];
        for (int i = 0; i < N; i++) {
            (out[i * 2 + 1] == pl ? l : r)[y[i]] += 1;
        }
        double g = (l[0] * l[0] + l[1] * l[1]) / (l[0] + l[1]) +
                   (r[0] * r[0] + r[1] * r[1]) / (r[0] + r[1]);
        const double *imp;
        size_t f;
        vigil_rf_importances(&m, &imp, &f);
        assert_true(imp[bf] == 1.0);
        if (bins == 0) {
            assert_true(fabs(g - bg) < 1e-9); /* exact: the optimum itself */
        } else {
            assert_true(g >= bg - 0.01 * bg); /* 256 quantile bins: within 1% of it */
        }
        vigil_model_fini(&m);
        vigil_opt_free(rf_ops()->opts, &p);
    }
}

static void test_hist_equals_exact_on_few_values(void **state)
{
    (void)state;
    /*
     * With integer features of fewer distinct values than bins, histogram
     * splits separate the same rows as exact ones; only a threshold inside a
     * gap between a node's values may differ. Without bootstrap every
     * training row is in every tree, so predictions on the training rows
     * agree exactly.
     */
    enum { N = 500, F = 6 };
    static float x[N * F];
    static int32_t y[N];
    struct vigil_rng r;
    vigil_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        y[i] = (int32_t)vigil_rng_below(&r, 3);
        for (int j = 0; j < F; j++) {
            x[i * F + j] = (float)vigil_rng_below(&r, 20) + (j == y[i] ? 4.0f : 0.0f);
        }
    }
    float out[2][N * 3];
    for (int k = 0; k < 2; k++) {
        struct vigil_rf_params p;
        params_default(&p);
        set_opt(&p, "bins", k ? "256" : "0");
        set_opt(&p, "bootstrap", "false");
        struct vigil_model m;
        fit_model(&m, &p, x, y, N, F, 3, 1);
        m.ops->score(&m, x, N, out[k]);
        vigil_model_fini(&m);
        vigil_opt_free(rf_ops()->opts, &p);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
}

static void test_same_seed_same_bytes_any_threads(void **state)
{
    (void)state;
    enum { N = 2000, F = 10 };
    static float x[N * F];
    static int32_t y[N];
    make_blobs(x, y, N, F, 4, 1.0, 1);
    struct vigil_rf_params p;
    params_default(&p);
    set_opt(&p, "trees", "7");
    struct vigil_buf ref;
    for (int t = 1; t <= 4; t++) {
        struct vigil_model m;
        fit_model(&m, &p, x, y, N, F, 4, t);
        struct vigil_buf b;
        save_bytes(&m, &b);
        if (t == 1) {
            ref = b;
        } else {
            assert_int_equal(b.len, ref.len);
            assert_memory_equal(b.p, ref.p, b.len);
            vigil_buf_fini(&b);
        }
        vigil_model_fini(&m);
    }
    /* Another seed gives another forest. */
    set_opt(&p, "seed", "2");
    struct vigil_model m;
    fit_model(&m, &p, x, y, N, F, 4, 2);
    struct vigil_buf b;
    save_bytes(&m, &b);
    assert_true(b.len != ref.len || memcmp(b.p, ref.p, b.len) != 0);
    vigil_buf_fini(&b);
    vigil_model_fini(&m);
    vigil_buf_fini(&ref);
    vigil_opt_free(rf_ops()->opts, &p);
}

static void test_save_load_score_identical(void **state)
{
    (void)state;
    enum { N = 800, F = 8, C = 3 };
    static float x[N * F];
    static int32_t y[N];
    make_blobs(x, y, N, F, C, 1.5, 2);
    struct vigil_rf_params p;
    params_default(&p);
    set_opt(&p, "criterion", "entropy");
    set_opt(&p, "class-weight", "balanced");
    set_opt(&p, "min-samples-leaf", "2");
    struct vigil_model m, m2;
    fit_model(&m, &p, x, y, N, F, C, 2);
    struct vigil_buf b;
    save_bytes(&m, &b);
    assert_int_equal(vigil_model_init(&m2, rf_ops(), &p), 0);
    assert_int_equal(m2.ops->load(&m2, b.p, b.len), 0);
    assert_int_equal(m2.f, F);
    static float o1[N * C], o2[N * C];
    m.ops->score(&m, x, N, o1);
    m2.ops->score(&m2, x, N, o2);
    assert_memory_equal(o1, o2, sizeof o1);
    /* The reloaded model saves to the same bytes. */
    struct vigil_buf b2;
    save_bytes(&m2, &b2);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.p, b.p, b.len);
    vigil_buf_fini(&b2);
    /* Training accuracy of a forest on separable-ish blobs. */
    size_t ok = 0;
    for (int i = 0; i < N; i++) {
        int am = 0;
        for (int j = 1; j < C; j++) {
            am = o1[i * C + j] > o1[i * C + am] ? j : am;
        }
        ok += am == y[i];
    }
    assert_true(ok > N * 95 / 100);
    vigil_buf_fini(&b);
    vigil_model_fini(&m);
    vigil_model_fini(&m2);
    vigil_opt_free(rf_ops()->opts, &p);
}

/* Offsets of tree 0's first node in a payload (after the fixed header). */
static size_t first_node_offset(const struct vigil_buf *b)
{
    /* magic 4, version 4, F C K 12, criterion..min_leaf 16, str(4+len), 4 x u32 16, tree hdr 12 */
    uint32_t len;
    memcpy(&len, b->p + 36, 4);
    return 36 + 4 + len + 16 + 12;
}

static void test_load_rejects_corruption(void **state)
{
    (void)state;
    enum { N = 300, F = 4 };
    static float x[N * F];
    static int32_t y[N];
    make_blobs(x, y, N, F, 2, 1.0, 3);
    struct vigil_rf_params p;
    params_default(&p);
    set_opt(&p, "trees", "2");
    struct vigil_model m, m2;
    fit_model(&m, &p, x, y, N, F, 2, 1);
    struct vigil_buf b;
    save_bytes(&m, &b);
    assert_int_equal(vigil_model_init(&m2, rf_ops(), &p), 0);
    /* Every truncation is rejected, none crashes. */
    for (size_t len = 0; len < b.len; len++) {
        assert_int_equal(m2.ops->load(&m2, b.p, len), VIGIL_EFORMAT);
        assert_int_equal(m2.f, 0);
    }
    char *c = vigil_malloc(b.len + 1);
    memcpy(c, b.p, b.len);
    c[b.len] = 0;
    assert_int_equal(m2.ops->load(&m2, c, b.len + 1), VIGIL_EFORMAT); /* trailing byte */
    size_t off = first_node_offset(&b);
    uint32_t v;
    /* The root is a split: its feature, then its child index. */
    memcpy(&v, c + off + 4, 4);
    assert_true(v < F);
    v = F;
    memcpy(c + off + 4, &v, 4);
    assert_int_equal(m2.ops->load(&m2, c, b.len), VIGIL_EFORMAT); /* feature >= F */
    memcpy(c, b.p, b.len);
    v = 0;
    memcpy(c + off + 8, &v, 4);
    assert_int_equal(m2.ops->load(&m2, c, b.len), VIGIL_EFORMAT); /* child = itself: cycle */
    memcpy(c, b.p, b.len);
    v = 0xfffffff0u;
    memcpy(c + off + 8, &v, 4);
    assert_int_equal(m2.ops->load(&m2, c, b.len), VIGIL_EFORMAT); /* child out of range */
    memcpy(c, b.p, b.len);
    c[0] = 'X';
    assert_int_equal(m2.ops->load(&m2, c, b.len), VIGIL_EFORMAT); /* magic */
    memcpy(c, b.p, b.len);
    c[4] = 9;
    assert_int_equal(m2.ops->load(&m2, c, b.len), VIGIL_EFORMAT); /* version */
    /* Flipping any single byte never crashes; structural ones are caught. */
    for (size_t i = 0; i < b.len; i++) {
        memcpy(c, b.p, b.len);
        c[i] ^= 0x5a;
        int rc = m2.ops->load(&m2, c, b.len);
        assert_true(rc == 0 || rc == VIGIL_EFORMAT);
        if (rc == 0) {
            float out[2 * 2];
            assert_int_equal(m2.ops->score(&m2, x, 2, out), 0);
        }
    }
    /* A model that failed to load refuses to score. */
    c[0] = 'X';
    assert_int_equal(m2.ops->load(&m2, c, b.len), VIGIL_EFORMAT);
    float out[2];
    assert_int_equal(m2.ops->score(&m2, x, 1, out), -EINVAL);
    vigil_free(c);
    vigil_buf_fini(&b);
    vigil_model_fini(&m);
    vigil_model_fini(&m2);
    vigil_opt_free(rf_ops()->opts, &p);
}

static void test_nan_goes_right(void **state)
{
    (void)state;
    /* Feature 0 separates the classes; NaN rows are class 1 and must learn to go right. */
    enum { N = 200, F = 2 };
    float x[N * F];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 2;
        x[i * F] = y[i] ? (i % 4 == 1 ? NAN : 10.0f + (float)i) : (float)i / 100.0f;
        x[i * F + 1] = 0.5f;
    }
    for (int bins = 0; bins <= 256; bins += 256) {
        struct vigil_rf_params p;
        params_default(&p);
        char b[16];
        snprintf(b, sizeof b, "%d", bins);
        set_opt(&p, "bins", b);
        struct vigil_model m;
        fit_model(&m, &p, x, y, N, F, 2, 1);
        float q[3 * F] = {NAN, 0.5f, 0.1f, 0.5f, 1e9f, 0.5f}, out[3 * 2];
        m.ops->score(&m, q, 3, out);
        assert_true(out[1] > 0.99f);
        assert_true(out[3] < 0.01f);
        assert_true(out[5] > 0.99f);
        vigil_model_fini(&m);
        vigil_opt_free(rf_ops()->opts, &p);
    }
}

static void test_class_weight_balanced_raises_minority_recall(void **state)
{
    (void)state;
    /* 2% positives overlapping the negatives: balanced weights push p_1 up. */
    enum { N = 3000, F = 3 };
    static float x[N * F];
    static int32_t y[N];
    struct vigil_rng r;
    vigil_rng_seed(&r, 8);
    for (int i = 0; i < N; i++) {
        y[i] = i % 50 == 0;
        for (int j = 0; j < F; j++) {
            x[i * F + j] = (float)(vigil_rng_normal(&r) + (y[i] && j == 0 ? 1.0 : 0.0));
        }
    }
    double mean_p1[2];
    for (int cw = 0; cw < 2; cw++) {
        struct vigil_rf_params p;
        params_default(&p);
        set_opt(&p, "class-weight", cw ? "balanced" : "none");
        set_opt(&p, "min-samples-leaf", "20");
        struct vigil_model m;
        fit_model(&m, &p, x, y, N, F, 2, 2);
        static float out[N * 2];
        m.ops->score(&m, x, N, out);
        double s = 0;
        for (int i = 0; i < N; i++) {
            s += y[i] ? (double)out[i * 2 + 1] : 0.0;
        }
        mean_p1[cw] = s / (N / 50);
        vigil_model_fini(&m);
        vigil_opt_free(rf_ops()->opts, &p);
    }
    assert_true(mean_p1[1] > mean_p1[0] + 0.1);
}

static void test_permutation_importance(void **state)
{
    (void)state;
    enum { N = 600, F = 4 };
    static float x[N * F];
    static int32_t y[N];
    make_blobs(x, y, N, F, 2, 3.0, 6);
    struct vigil_rf_params p;
    params_default(&p);
    struct vigil_model m;
    fit_model(&m, &p, x, y, N, F, 2, 2);
    double mean[F], sd[F];
    static float copy[N * F];
    memcpy(copy, x, sizeof copy);
    for (int metric = 0; metric < 2; metric++) {
        assert_int_equal(vigil_rf_permutation_importance(&m, x, y, N,
                                                         (enum vigil_rf_pi_metric)metric, 3,
                                                         11, mean, sd),
                         0);
        /* Class c shifts feature c: features 0 and 1 carry the labels, 2 and 3 are noise. */
        assert_true(mean[1] > 0.02);
        for (int j = 0; j < F; j++) {
            assert_true(sd[j] >= 0);
            if (j >= 2) {
                assert_true(mean[j] < mean[1] / 3);
            }
        }
    }
    assert_memory_equal(copy, x, sizeof copy); /* input untouched */
    assert_int_equal(vigil_rf_permutation_importance(&m, x, y, 1, VIGIL_RF_PI_ACCURACY, 3, 1,
                                                     mean, sd),
                     -EINVAL);
    vigil_model_fini(&m);
    vigil_opt_free(rf_ops()->opts, &p);
}

/*
 * Every batch walk (top heap + level passes with AVX-512 gathers when the CPU
 * has them, the same in scalar code, 8 lanes) on 1 and 3 threads gives the
 * reference walk's bytes: on blobs (shallow trees), on noise labels (trees far
 * deeper than the top heap), on blobs with every 7th label noise (leaves from
 * near the root to far below the heap) and on one class (every root a leaf),
 * with NaN inputs, at sizes around the 16-row vector, the lane and the block
 * edges.
 */
static void test_batch_walk_matches_reference(void **state)
{
    (void)state;
    enum { N = 2100, F = 6, C = 4 };
    static float x[N * F], q[N * F], o[N * C], ref[N * C];
    static int32_t y[N], yq[N];
    make_blobs(x, y, N, F, C, 1.0, 5);
    make_blobs(q, yq, N, F, C, 1.0, 6);
    for (size_t i = 0; i < N * F; i += 13) {
        q[i] = NAN; /* missing values go right in every walk */
    }
    struct vigil_rf_params p;
    params_default(&p);
    size_t depth[4];
    if (!vigil__rf_walk_simd()) {
        print_message("note: no AVX-512F here, walk 0 is the scalar heap walk\n");
    }
    for (int kind = 0; kind < 4; kind++) {
        if (kind == 1 || kind == 3) { /* labels unrelated to x: pure leaves only deep down */
            struct vigil_rng r;
            vigil_rng_seed(&r, 9);
            if (kind == 3) {
                make_blobs(x, y, N, F, C, 1.0, 5);
            }
            for (size_t i = 0; i < N; i += kind == 3 ? 7 : 1) {
                y[i] = (int32_t)(vigil_rng_u64(&r) % C);
            }
        } else if (kind == 2) {
            memset(y, 0, sizeof y);
        }
        struct vigil_model m;
        fit_model(&m, &p, x, y, N, F, C, 1);
        size_t k, nodes;
        assert_int_equal(vigil_rf_shape(&m, &k, &nodes, &depth[kind]), 0);
        static const size_t ns[] = {1,   3,   4,    5,    8,    9,    15,   16, 17,
                                    33,  255, 256,  1023, 1024, 1025, 1041, 2049, N};
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            assert_int_equal(vigil__rf_score_walk(&m, q, ns[i], ref, 2, 1), 0);
            static const int walks[] = {0, 3, 1}; /* SIMD (if any), scalar heap, 8 lanes */
            for (size_t w = 0; w < 3; w++) {
                for (int th = 1; th <= 3; th += 2) {
                    memset(o, 0xff, sizeof o);
                    assert_int_equal(vigil__rf_score_walk(&m, q, ns[i], o, walks[w], th), 0);
                    assert_memory_equal(o, ref, ns[i] * C * sizeof *o);
                }
            }
        }
        assert_int_equal(m.ops->score(&m, q, N, o), 0);
        assert_memory_equal(o, ref, sizeof o);
        vigil_model_fini(&m);
    }
    assert_true(depth[1] > 12); /* deeper than the top heap */
    assert_int_equal(depth[2], 0);
    assert_true(depth[3] > 12);
    vigil_opt_free(rf_ops()->opts, &p);
}

static void test_fit_rejects_bad_batches(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, 4};
    int32_t y[4] = {0, 1, 2, 0};
    struct vigil_rf_params p;
    params_default(&p);
    struct vigil_model m;
    assert_int_equal(vigil_model_init(&m, rf_ops(), &p), 0);
    struct vigil_batch b = {.x = x, .n = 4, .f = 1, .y = y, .n_classes = 2, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), VIGIL_ESHAPE); /* label 2 >= n_classes */
    b.n_classes = 3;
    b.n = 0;
    assert_int_equal(m.ops->fit(&m, &b), VIGIL_EEMPTY);
    b.n = 4;
    b.y = NULL;
    assert_int_equal(m.ops->fit(&m, &b), VIGIL_ESHAPE);
    /* Unfitted: no score, no save. */
    float out[3];
    assert_int_equal(m.ops->score(&m, x, 1, out), -EINVAL);
    struct vigil_buf s;
    vigil_buf_init(&s);
    assert_int_equal(m.ops->save(&m, &s), -EINVAL);
    vigil_buf_fini(&s);
    /* One class only: a valid forest of single leaves. */
    int32_t z[4] = {0, 0, 0, 0};
    b.y = z;
    b.n_classes = 1;
    assert_int_equal(m.ops->fit(&m, &b), 0);
    assert_int_equal(m.ops->score(&m, x, 1, out), 0);
    assert_true(out[0] == 1.0f);
    vigil_model_fini(&m);
    vigil_opt_free(rf_ops()->opts, &p);
}

static void test_fit_oom_sweep(void **state)
{
    (void)state;
    enum { N = 120, F = 3 };
    static float x[N * F];
    static int32_t y[N];
    make_blobs(x, y, N, F, 3, 1.0, 7);
    struct vigil_rf_params p;
    params_default(&p);
    set_opt(&p, "trees", "2");
    for (long k = 1;; k++) {
        struct vigil_model m;
        tu_alloc_fail_at(k);
        int rc = vigil_model_init(&m, rf_ops(), &p);
        if (!rc) {
            struct vigil_batch b = {.x = x, .n = N, .f = F, .y = y, .n_classes = 3, .threads = 1};
            rc = m.ops->fit(&m, &b);
            if (!rc) {
                struct vigil_buf s;
                vigil_buf_init(&s);
                rc = m.ops->save(&m, &s);
                if (!rc) {
                    rc = m.ops->load(&m, s.p, s.len);
                }
                vigil_buf_fini(&s);
            }
        }
        vigil_model_fini(&m);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
    }
    vigil_opt_free(rf_ops()->opts, &p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_rejects_bad_params),
        cmocka_unit_test(test_overfits_tiny_set),
        cmocka_unit_test(test_stump_matches_brute_force),
        cmocka_unit_test(test_hist_equals_exact_on_few_values),
        cmocka_unit_test(test_same_seed_same_bytes_any_threads),
        cmocka_unit_test(test_save_load_score_identical),
        cmocka_unit_test(test_load_rejects_corruption),
        cmocka_unit_test(test_nan_goes_right),
        cmocka_unit_test(test_class_weight_balanced_raises_minority_recall),
        cmocka_unit_test(test_permutation_importance),
        cmocka_unit_test(test_batch_walk_matches_reference),
        cmocka_unit_test(test_fit_rejects_bad_batches),
        cmocka_unit_test(test_fit_oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
