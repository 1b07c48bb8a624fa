/*
 * Reconstruction model tests (lstm-ae, pca, kmeans through the generic model
 * interface): hand-computed PCA and k-means errors, the LSTM autoencoder
 * overfitting a tiny periodic series and flagging a spike, per-group score
 * columns and thresholds, same seed = same bytes, save -> load -> score
 * identical, corrupt model bytes rejected, NaN rows, parameter checks, and
 * an OOM sweep over fitting.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "vigil/buf.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/recon.h"
#include "vigil/series.h"

static void *make_params(const struct vigil_model_ops *ops, const char *const *kv)
{
    void *p = vigil_calloc(1, ops->params_size);
    assert_non_null(p);
    assert_int_equal(vigil_opt_defaults(ops->opts, p), 0);
    for (size_t i = 0; kv && kv[i]; i += 2) {
        assert_int_equal(vigil_opt_set(ops->opts, p, kv[i], kv[i + 1], strlen(kv[i + 1]), NULL),
                         0);
    }
    return p;
}

static void model_new(struct vigil_model *m, const char *name, const char *const *kv)
{
    const struct vigil_model_ops *ops = vigil_model_find(name);
    assert_non_null(ops);
    void *p = make_params(ops, kv);
    assert_int_equal(vigil_model_init(m, ops, p), 0);
    vigil_free(p);
}

/* ---- PCA ---- */

static void test_pca_residual_by_hand(void **state)
{
    (void)state;
    /* Points on the line y = 2x (mean 0): one component explains everything. */
    float x[8 * 2];
    for (int i = 0; i < 8; i++) {
        float v = (float)i - 3.5f;
        x[2 * i] = v;
        x[2 * i + 1] = 2.0f * v;
    }
    struct vigil_model m;
    model_new(&m, "pca", NULL);
    struct vigil_batch b = {.x = x, .n = 8, .f = 2, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), 0);
    assert_true(vigil_recon_is(&m));
    assert_int_equal(vigil_recon_n_groups(&m), 1);
    assert_string_equal(vigil_recon_group_name(&m, 0), "all");
    /*
     * (1, -0.5) is orthogonal to the direction (1, 2)/sqrt(5): its projection
     * is 0, so the residual is the point itself and SE = (1, 0.25).
     * (2, 4) lies on the line: SE = (0, 0).
     */
    float q[4] = {1.0f, -0.5f, 2.0f, 4.0f}, se[4];
    assert_int_equal(vigil_recon_errors(&m, q, 2, se), 0);
    assert_true(fabsf(se[0] - 1.0f) < 1e-5f);
    assert_true(fabsf(se[1] - 0.25f) < 1e-5f);
    assert_true(fabsf(se[2]) < 1e-5f && fabsf(se[3]) < 1e-5f);
    /* Score columns: score, threshold, anomaly, score_all, threshold_all. */
    assert_int_equal(m.ops->n_out(&m), 5);
    const char *names[5] = {"score", "threshold", "anomaly", "score_all", "threshold_all"};
    for (int j = 0; j < 5; j++) {
        assert_string_equal(m.ops->out_name(&m, (size_t)j), names[j]);
    }
    assert_null(m.ops->out_name(&m, 5));
    float out[10];
    assert_int_equal(m.ops->score(&m, q, 2, out), 0);
    assert_true(fabsf(out[3] - 0.625f) < 1e-5f); /* MSE = (1 + 0.25) / 2 */
    assert_true(out[4] > 0.0f);
    assert_true(fabsf(out[0] - out[3] / out[4]) < 1e-4f * out[0]);
    assert_true(out[0] > 1.0f); /* far off the line: anomalous */
    assert_true(out[1] == 1.0f && out[2] == 1.0f);
    assert_true(out[5 + 0] < 1.0f && out[5 + 2] == 0.0f); /* (2,4) is on the line */
    vigil_model_fini(&m);
}

/* ---- k-means ---- */

static void test_kmeans_nearest_centroid_by_hand(void **state)
{
    (void)state;
    /* Two tight clusters around (0,0) and (10,10). */
    float x[20 * 2];
    for (int i = 0; i < 10; i++) {
        float e = (i % 2 ? 0.1f : -0.1f);
        x[2 * i] = e;
        x[2 * i + 1] = -e;
        x[20 + 2 * i] = 10.0f + e;
        x[20 + 2 * i + 1] = 10.0f - e;
    }
    const char *kv[] = {"k", "2", NULL};
    struct vigil_model m;
    model_new(&m, "kmeans", kv);
    struct vigil_batch b = {.x = x, .n = 20, .f = 2, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), 0);
    /* Centroids are (0,0) and (10,10): (1,0) -> SE (1,0); (9,12) -> (1,4). */
    float q[4] = {1.0f, 0.0f, 9.0f, 12.0f}, se[4];
    assert_int_equal(vigil_recon_errors(&m, q, 2, se), 0);
    assert_true(fabsf(se[0] - 1.0f) < 1e-5f && fabsf(se[1]) < 1e-5f);
    assert_true(fabsf(se[2] - 1.0f) < 1e-5f && fabsf(se[3] - 4.0f) < 1e-5f);
    /* The threshold is the 0.99 quantile of training MSE: every point is 0.01 away. */
    assert_true(fabs(vigil_recon_threshold(&m, 0) - 0.01) < 1e-6);
    vigil_model_fini(&m);
}

/* ---- groups ---- */

static void test_groups_make_columns_and_thresholds(void **state)
{
    (void)state;
    /* Features 0,2 cpu; 1,3 memory. The memory pair is correlated, the cpu pair is not. */
    enum { N = 200, F = 4 };
    float x[N * F];
    for (int t = 0; t < N; t++) {
        float a = sinf((float)t * 0.3f), c = cosf((float)t * 0.17f);
        x[t * F + 0] = a;
        x[t * F + 1] = c;
        x[t * F + 2] = sinf((float)t * 0.71f);
        x[t * F + 3] = 2.0f * c;
    }
    uint8_t group[F] = {VIGIL_GROUP_CPU, VIGIL_GROUP_MEMORY, VIGIL_GROUP_CPU, VIGIL_GROUP_MEMORY};
    const char *kv[] = {"components", "1", NULL};
    struct vigil_model m;
    model_new(&m, "pca", kv);
    struct vigil_batch b = {.x = x, .n = N, .f = F, .group = group, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), 0);
    assert_int_equal(vigil_recon_n_groups(&m), 2);
    assert_string_equal(vigil_recon_group_name(&m, 0), "cpu");
    assert_string_equal(vigil_recon_group_name(&m, 1), "memory");
    assert_int_equal(vigil_recon_feature_group(&m, 2), 0);
    assert_int_equal(vigil_recon_feature_group(&m, 3), 1);
    assert_int_equal(m.ops->n_out(&m), 7);
    assert_string_equal(m.ops->out_name(&m, 3), "score_cpu");
    assert_string_equal(m.ops->out_name(&m, 5), "score_memory");
    assert_string_equal(m.ops->out_name(&m, 6), "threshold_memory");
    /* Breaking the memory correlation raises only the memory score. */
    float q[F] = {0.0f, 0.5f, 0.0f, -1.0f};
    float out[7];
    assert_int_equal(m.ops->score(&m, q, 1, out), 0);
    assert_true(out[5] / out[6] > 1.0f);
    assert_true(fabsf(out[0] - out[5] / out[6]) < 1e-4f * out[0]);
    assert_true(out[2] == 1.0f);
    vigil_model_fini(&m);
}

/* ---- the LSTM autoencoder ---- */

enum { AE_N = 240, AE_F = 3 };

static void periodic(float *x, size_t n)
{
    for (size_t t = 0; t < n; t++) {
        float ph = (float)(t % 12) / 12.0f * 6.2831853f;
        x[t * AE_F + 0] = 0.5f + 0.4f * sinf(ph);
        x[t * AE_F + 1] = 0.5f + 0.4f * cosf(ph);
        x[t * AE_F + 2] = 0.3f;
    }
}

static const char *const ae_kv[] = {"window", "8",      "hidden", "8",   "latent", "4",
                                     "epochs", "30",    "batch",  "16",  "lr",     "0.01",
                                     "dropout", "0",    "patience", "0", "seed",   "3",
                                     NULL};

static void test_lstm_ae_learns_and_flags_a_spike(void **state)
{
    (void)state;
    float x[AE_N * AE_F];
    periodic(x, AE_N);
    struct vigil_model m;
    model_new(&m, "lstm-ae", ae_kv);
    struct vigil_batch b = {.x = x, .n = AE_N, .f = AE_F, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), 0);
    assert_int_equal(vigil_recon_lag(&m), 7);
    float out[AE_N * 5];
    assert_int_equal(m.ops->score(&m, x, AE_N, out), 0);
    /* Rows before the first full window are NaN, the rest finite. */
    assert_true(isnan(out[6 * 5]) && isnan(out[6 * 5 + 2]));
    assert_false(isnan(out[7 * 5]));
    /* Trained: the mean training MSE is far below the series' variance (~0.05). */
    double mean = 0.0;
    for (int t = 7; t < AE_N; t++) {
        mean += (double)out[t * 5 + 3];
    }
    mean /= AE_N - 7;
    assert_true(mean < 0.01);
    /* A spike in feature 2 of the last row: its score passes 1 and feature 2 dominates. */
    float y[AE_N * AE_F];
    memcpy(y, x, sizeof y);
    y[(AE_N - 1) * AE_F + 2] = 1.0f;
    float out2[AE_N * 5], se[AE_N * AE_F];
    assert_int_equal(m.ops->score(&m, y, AE_N, out2), 0);
    assert_true(out2[(AE_N - 1) * 5] > 1.0f);
    assert_true(out2[(AE_N - 1) * 5 + 2] == 1.0f);
    assert_int_equal(vigil_recon_errors(&m, y, AE_N, se), 0);
    const float *last = se + (AE_N - 1) * AE_F;
    assert_true(last[2] > last[0] && last[2] > last[1]);
    /*
     * The live case: one window at a time, sliding by a row (the model reuses
     * the shared rows' input products), the same window twice, and a jump.
     * Each must give the batch score of its last row.
     */
    const size_t starts[] = {100, 101, 102, 102, 103, 150, 151, 232};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        float one[8 * 5];
        size_t s0 = starts[i];
        assert_int_equal(m.ops->score(&m, y + s0 * AE_F, 8, one), 0);
        float want = out2[(s0 + 7) * 5], got = one[7 * 5];
        assert_true(fabsf(got - want) <= 1e-4f * fabsf(want) + 1e-7f);
    }
    vigil_model_fini(&m);
}

static void save_bytes(struct vigil_model *m, struct vigil_buf *b)
{
    vigil_buf_init(b);
    assert_int_equal(m->ops->save(m, b), 0);
}

static void test_same_seed_same_bytes_and_roundtrip(void **state)
{
    (void)state;
    float x[AE_N * AE_F];
    periodic(x, AE_N);
    const char *names[] = {"lstm-ae", "pca", "kmeans"};
    for (int k = 0; k < 3; k++) {
        const char *const *kv = k == 0 ? ae_kv : NULL;
        struct vigil_model a, b, c;
        model_new(&a, names[k], kv);
        model_new(&b, names[k], kv);
        struct vigil_batch tb = {.x = x, .n = AE_N, .f = AE_F, .threads = 2};
        assert_int_equal(a.ops->fit(&a, &tb), 0);
        assert_int_equal(b.ops->fit(&b, &tb), 0);
        struct vigil_buf ba, bb;
        save_bytes(&a, &ba);
        save_bytes(&b, &bb);
        assert_int_equal(ba.len, bb.len);
        assert_memory_equal(ba.p, bb.p, ba.len);
        /* Load into a model made with other options: the saved ones win, but for the
         * autoencoder's threads, a runtime choice. With a's threads, a's scores to the bit. */
        const char *other[] = {"quantile", "0.5", k == 0 ? "threads" : NULL, "2", NULL};
        model_new(&c, names[k], other);
        assert_int_equal(c.ops->load(&c, ba.p, ba.len), 0);
        assert_int_equal(c.f, AE_F);
        float oa[AE_N * 5], oc[AE_N * 5];
        assert_int_equal(a.ops->score(&a, x, AE_N, oa), 0);
        assert_int_equal(c.ops->score(&c, x, AE_N, oc), 0);
        assert_memory_equal(oa, oc, sizeof oa);
        if (k == 0) {
            /*
             * One thread cuts the windows into other chunks: the same scores up to rounding, not
             * to the bit (so a row scored at the threshold, the training quantile's own, may
             * flip its flag). OpenBLAS's Haswell kernels (what Debian's 0.3.21 runs on AMD Zen 4)
             * give a row of a product other low bits depending on where it falls among the rows.
             */
            struct vigil_model d;
            const char *one[] = {"threads", "1", NULL};
            model_new(&d, names[k], one);
            assert_int_equal(d.ops->load(&d, ba.p, ba.len), 0);
            assert_int_equal(d.ops->score(&d, x, AE_N, oc), 0);
            for (size_t i = 0; i < AE_N * 5; i++) {
                assert_int_equal(!isnan(oa[i]), !isnan(oc[i]));
                if (i % 5 == 2) { /* the flag: the same but for a score at the threshold */
                    assert_true(isnan(oa[i]) || oa[i] == oc[i] || fabsf(oa[i - 2] - 1.0f) <= 1e-4f);
                } else {
                    assert_true(isnan(oa[i]) ||
                                fabsf(oc[i] - oa[i]) <= 1e-4f * fabsf(oa[i]) + 1e-7f);
                }
            }
            vigil_model_fini(&d);
        }
        /* Every truncation and a flipped byte in the counts are rejected, never a crash. */
        for (size_t cut = 0; cut < ba.len; cut += 1 + ba.len / 97) {
            assert_int_not_equal(c.ops->load(&c, ba.p, cut), 0);
        }
        /* The last 4 bytes are the last float of the last group's submodel: NaN is refused. */
        uint8_t keep[4];
        memcpy(keep, ba.p + ba.len - 4, 4);
        memset(ba.p + ba.len - 4, 0xff, 4);
        assert_int_equal(c.ops->load(&c, ba.p, ba.len), VIGIL_EFORMAT);
        memcpy(ba.p + ba.len - 4, keep, 4);
        assert_int_equal(c.ops->load(&c, ba.p, ba.len), 0);
        ba.p[ba.len - 1] ^= 0x40;
        (void)c.ops->load(&c, ba.p, ba.len); /* a float payload bit may still load */
        vigil_buf_fini(&ba);
        vigil_buf_fini(&bb);
        vigil_model_fini(&a);
        vigil_model_fini(&b);
        vigil_model_fini(&c);
    }
}

static void test_nan_rows_and_bad_input(void **state)
{
    (void)state;
    float x[AE_N * AE_F];
    periodic(x, AE_N);
    x[100 * AE_F + 1] = NAN; /* a gap in training is skipped */
    struct vigil_model m;
    model_new(&m, "lstm-ae", ae_kv);
    struct vigil_batch b = {.x = x, .n = AE_N, .f = AE_F, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), 0);
    float out[AE_N * 5];
    assert_int_equal(m.ops->score(&m, x, AE_N, out), 0);
    /* Windows holding row 100 (ending at 100..107) cannot be scored. */
    assert_true(isnan(out[100 * 5]) && isnan(out[107 * 5]));
    assert_false(isnan(out[99 * 5]) || isnan(out[108 * 5]));
    /* Fewer rows than a window: everything NaN, no error. */
    assert_int_equal(m.ops->score(&m, x, 5, out), 0);
    assert_true(isnan(out[4 * 5]));
    vigil_model_fini(&m);

    /* Too few rows to train, empty input. */
    model_new(&m, "lstm-ae", ae_kv);
    struct vigil_batch tiny = {.x = x, .n = 5, .f = AE_F, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &tiny), VIGIL_EEMPTY);
    struct vigil_batch none = {.x = x, .n = 0, .f = AE_F, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &none), VIGIL_EEMPTY);
    assert_false(vigil_recon_is(&m));
    assert_int_equal(vigil_recon_errors(&m, x, 1, out), -EINVAL);
    vigil_model_fini(&m);

    /* check() rejects what the option bounds cannot express. */
    const struct vigil_model_ops *ops = vigil_model_find("lstm-ae");
    void *p = make_params(ops, NULL);
    assert_null(ops->check(p));
    const char *bad[] = {"dropout", "0.95"};
    assert_int_equal(vigil_opt_set(ops->opts, p, bad[0], bad[1], strlen(bad[1]), NULL),
                     VIGIL_ECONFIG);
    assert_int_equal(vigil_opt_set(ops->opts, p, "window", "1", 1, NULL), VIGIL_ECONFIG);
    vigil_free(p);
}

static void test_fit_oom_sweep(void **state)
{
    (void)state;
    float x[60 * 2];
    for (int t = 0; t < 60; t++) {
        x[2 * t] = sinf((float)t);
        x[2 * t + 1] = cosf((float)t * 0.5f);
    }
    const char *names[] = {"pca", "kmeans", "lstm-ae"};
    const char *ae_small[] = {"window", "4", "hidden", "3", "latent", "2", "epochs", "1", NULL};
    for (int k = 0; k < 3; k++) {
        const struct vigil_model_ops *ops = vigil_model_find(names[k]);
        _Alignas(16) unsigned char params[512];
        assert_true(ops->params_size <= sizeof params);
        assert_int_equal(vigil_opt_defaults(ops->opts, params), 0);
        for (size_t i = 0; k == 2 && ae_small[i]; i += 2) {
            vigil_opt_set(ops->opts, params, ae_small[i], ae_small[i + 1], strlen(ae_small[i + 1]),
                          NULL);
        }
        for (long fail = 1;; fail++) {
            struct vigil_model m;
            struct vigil_batch b = {.x = x, .n = 60, .f = 2, .threads = 1};
            tu_alloc_fail_at(fail);
            int rc = vigil_model_init(&m, ops, params);
            rc = rc ? rc : m.ops->fit(&m, &b);
            vigil_model_fini(&m);
            long live = tu_alloc_live();
            tu_alloc_reset();
            assert_int_equal(live, 0);
            if (rc == 0) {
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_true(fail < 500);
        }
    }
}

static void test_quantile_threshold_is_numpy_linear(void **state)
{
    (void)state;
    /* kmeans with k = n puts a centroid on every row: all training MSE 0 -> floor 1e-12. */
    float x[4] = {0.0f, 1.0f, 2.0f, 3.0f};
    const char *kv[] = {"k", "4", NULL};
    struct vigil_model m;
    model_new(&m, "kmeans", kv);
    struct vigil_batch b = {.x = x, .n = 4, .f = 1, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), 0);
    assert_true(vigil_recon_threshold(&m, 0) == 1e-12);
    vigil_model_fini(&m);
    /* One centroid at the mean 1.5: SE = 2.25, 0.25, 0.25, 2.25; q = 0.5 -> 1.25 (numpy). */
    const char *kv1[] = {"k", "1", "quantile", "0.5", NULL};
    model_new(&m, "kmeans", kv1);
    assert_int_equal(m.ops->fit(&m, &b), 0);
    assert_true(fabs(vigil_recon_threshold(&m, 0) - 1.25) < 1e-6);
    vigil_model_fini(&m);
}

static void test_normalize_and_smooth_by_hand(void **state)
{
    (void)state;
    /*
     * k-means with one centroid at the mean (1.5, 15) of
     *   f0 = 0, 1, 2, 3      SE 2.25 0.25 0.25 2.25   mean 1.25
     *   f1 = 0, 10, 20, 30   SE 225  25   25   225    mean 125
     * normalize divides by those means: both features become 1.8 0.2 0.2 1.8,
     * and the query (1.5, 25) has SE (0, 100) -> (0, 0.8).
     */
    float x[8] = {0, 0, 1, 10, 2, 20, 3, 30};
    const char *kv[] = {"k", "1", "normalize", "true", NULL};
    struct vigil_model m;
    model_new(&m, "kmeans", kv);
    struct vigil_batch b = {.x = x, .n = 4, .f = 2, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &b), 0);
    float q[2] = {1.5f, 25.0f}, se[8];
    assert_int_equal(vigil_recon_errors(&m, q, 1, se), 0);
    assert_true(fabsf(se[0]) < 1e-6f && fabsf(se[1] - 0.8f) < 1e-5f);
    assert_int_equal(vigil_recon_lag(&m), 0);
    vigil_model_fini(&m);
    /* smooth = 2 averages consecutive rows: NaN, 1.0, 0.2, 1.0 for both; lag 1. */
    const char *kv2[] = {"k", "1", "normalize", "true", "smooth", "2", NULL};
    model_new(&m, "kmeans", kv2);
    assert_int_equal(m.ops->fit(&m, &b), 0);
    assert_int_equal(vigil_recon_lag(&m), 1);
    assert_int_equal(vigil_recon_errors(&m, x, 4, se), 0);
    assert_true(isnan(se[0]) && isnan(se[1]));
    const float want[3] = {1.0f, 0.2f, 1.0f};
    for (int t = 1; t < 4; t++) {
        assert_true(fabsf(se[2 * t] - want[t - 1]) < 1e-5f);
        assert_true(fabsf(se[2 * t + 1] - want[t - 1]) < 1e-5f);
    }
    /* The threshold is the 0.99 quantile of the smoothed training MSE (1.0, 0.2, 1.0). */
    assert_true(fabs(vigil_recon_threshold(&m, 0) - 1.0) < 1e-5);
    /* A NaN row poisons the windows that hold it. */
    float xn[8] = {0, 0, 1, 10, NAN, 20, 3, 30};
    assert_int_equal(vigil_recon_errors(&m, xn, 4, se), 0);
    assert_false(isnan(se[2]));
    assert_true(isnan(se[4]) && isnan(se[6]));
    /* Refitting on wider data resizes the scratch (ASan checks the moving average). */
    float wide[6 * 5];
    for (int i = 0; i < 30; i++) {
        wide[i] = (float)((i * 7) % 11);
    }
    struct vigil_batch wb = {.x = wide, .n = 6, .f = 5, .threads = 1};
    assert_int_equal(m.ops->fit(&m, &wb), 0);
    float wse[6 * 5];
    assert_int_equal(vigil_recon_errors(&m, wide, 6, wse), 0);
    assert_true(isnan(wse[0]) && !isnan(wse[5 * 5 + 4]));
    vigil_model_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pca_residual_by_hand),
        cmocka_unit_test(test_kmeans_nearest_centroid_by_hand),
        cmocka_unit_test(test_groups_make_columns_and_thresholds),
        cmocka_unit_test(test_lstm_ae_learns_and_flags_a_spike),
        cmocka_unit_test(test_same_seed_same_bytes_and_roundtrip),
        cmocka_unit_test(test_nan_rows_and_bad_input),
        cmocka_unit_test(test_fit_oom_sweep),
        cmocka_unit_test(test_quantile_threshold_is_numpy_linear),
        cmocka_unit_test(test_normalize_and_smooth_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
