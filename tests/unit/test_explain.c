/*
 * Explanation tests on hand-computed vectors: the 90% feature set of a row
 * (order, ties, zero error), anomalous segments per group with their
 * feature-set shares and error shares, row ranges and minimum length, NaN
 * rows, bad options, and an OOM sweep.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "vigil/explain.h"

static void test_top_set_by_hand(void **state)
{
    (void)state;
    uint32_t cols[4] = {0, 1, 2, 3}, idx[4];
    /* Errors 1, 6, 0, 3 (total 10): 6 -> 60%, + 3 -> 90% >= 0.9, so F = {1, 3}. */
    float se[4] = {1, 6, 0, 3};
    assert_int_equal(vigil_explain_top(idx, se, cols, 4, 0.9), 2);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 3);
    assert_int_equal(idx[2], 0);
    assert_int_equal(idx[3], 2);
    /* cover 0.5: the largest alone (60%) is enough. */
    assert_int_equal(vigil_explain_top(idx, se, cols, 4, 0.5), 1);
    /* Ties rank by index; only the columns given take part. */
    float tie[4] = {2, 2, 1, 100};
    uint32_t three[3] = {2, 1, 0};
    assert_int_equal(vigil_explain_top(idx, tie, three, 3, 0.9), 3); /* 2/5, 4/5, 5/5 */
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 2);
    /* No error at all, or NaN: no set. */
    float zero[4] = {0, 0, 0, 0}, nan[4] = {1, NAN, 0, 0};
    assert_int_equal(vigil_explain_top(idx, zero, cols, 4, 0.9), 0);
    assert_int_equal(vigil_explain_top(idx, nan, cols, 4, 0.9), 0);
    /* A long row sorts correctly (heapsort path): errors equal to index. */
    enum { N = 200 };
    float big[N];
    uint32_t bc[N], bi[N];
    for (int j = 0; j < N; j++) {
        big[j] = (float)((j * 37) % N);
        bc[j] = (uint32_t)j;
    }
    vigil_explain_top(bi, big, bc, N, 0.9);
    for (int j = 1; j < N; j++) {
        assert_true(big[bi[j - 1]] >= big[bi[j]]);
    }
}

/*
 * Features 0, 1 in group 0 and 2 in group 1, thresholds 1 and 1:
 *   t0 (0.1 0.1 0.1)  normal
 *   t1 (3   0.1 0.1)  g0 MSE 1.55: F = {0} (3/3.1 = 97%)
 *   t2 (0.5 2.5 0.1)  g0 MSE 1.50: F = {1, 0} (2.5/3 = 83% < 90%)
 *   t3 (2.4 0.1 5)    g0 MSE 1.25: F = {0} (96%); g1 MSE 5
 *   t4 (0.1 0.1 0.1)  normal
 *   t5 (NaN 9   9)    g0 unknown (no segment); g1 MSE 9
 *   t6 (0.1 0.1 9)    g1 MSE 9
 * Group 0: one segment t1..t3, sets {0} 2/3 and {0,1} 1/3, peak 1.55,
 * mean 4.3/3; error shares f0 5.9/8.6, f1 2.7/8.6.
 * Group 1: t3 alone, then t5..t6.
 */
static const float seg_se[7 * 3] = {0.1f, 0.1f, 0.1f, 3, 0.1f, 0.1f, 0.5f, 2.5f, 0.1f, 2.4f,
                                    0.1f, 5,    0.1f, 0.1f, 0.1f, NAN, 9,    9,    0.1f, 0.1f,
                                    9};
static const size_t seg_group[3] = {0, 0, 1};
static const double seg_thr[2] = {1.0, 1.0};

static void test_segments_by_hand(void **state)
{
    (void)state;
    struct vigil_explain ex;
    struct vigil_explain_opts o = {.cover = 0.9};
    assert_int_equal(vigil_explain_segments(&ex, seg_se, 7, 3, seg_group, seg_thr, 2, &o), 0);
    assert_int_equal(ex.n_seg, 3);
    const struct vigil_explain_seg *s = &ex.seg[0];
    assert_int_equal(s->group, 0);
    assert_int_equal(s->start, 1);
    assert_int_equal(s->end, 3);
    assert_true(fabs(s->peak - 1.55) < 1e-6);
    assert_true(fabs(s->mean - 4.3 / 3) < 1e-6);
    assert_int_equal(s->n_sets, 2);
    assert_int_equal(s->sets[0].n_feat, 1);
    assert_int_equal(s->sets[0].feat[0], 0);
    assert_int_equal(s->sets[0].count, 2);
    assert_true(fabs(s->sets[0].share - 2.0 / 3) < 1e-12);
    assert_int_equal(s->sets[1].n_feat, 2);
    assert_int_equal(s->sets[1].feat[0], 1); /* largest error first */
    assert_int_equal(s->sets[1].feat[1], 0);
    assert_int_equal(s->n_feat, 2);
    assert_int_equal(s->feat[0], 0);
    assert_true(fabs(s->feat_share[0] - 5.9 / 8.6) < 1e-6);
    assert_true(fabs(s->feat_share[1] - 2.7 / 8.6) < 1e-6);
    assert_int_equal(ex.seg[1].group, 1);
    assert_int_equal(ex.seg[1].start, 3);
    assert_int_equal(ex.seg[1].end, 3);
    assert_int_equal(ex.seg[2].start, 5);
    assert_int_equal(ex.seg[2].end, 6);
    assert_int_equal(ex.seg[2].sets[0].feat[0], 2);
    vigil_explain_fini(&ex);

    /* Minimum length 2 drops the one-row segment; a row range cuts segments. */
    o.min_len = 2;
    assert_int_equal(vigil_explain_segments(&ex, seg_se, 7, 3, seg_group, seg_thr, 2, &o), 0);
    assert_int_equal(ex.n_seg, 2);
    vigil_explain_fini(&ex);
    o.min_len = 1;
    o.from = 2;
    o.to = 6;
    assert_int_equal(vigil_explain_segments(&ex, seg_se, 7, 3, seg_group, seg_thr, 2, &o), 0);
    assert_int_equal(ex.n_seg, 3);
    assert_int_equal(ex.seg[0].start, 2);
    assert_int_equal(ex.seg[2].start, 5);
    assert_int_equal(ex.seg[2].end, 5); /* open at the end of the range */
    vigil_explain_fini(&ex);

    /* Bad options. */
    o.to = 8;
    assert_int_equal(vigil_explain_segments(&ex, seg_se, 7, 3, seg_group, seg_thr, 2, &o),
                     -EINVAL);
    o.to = 0;
    o.cover = 0.0;
    assert_int_equal(vigil_explain_segments(&ex, seg_se, 7, 3, seg_group, seg_thr, 2, &o),
                     -EINVAL);
    o.cover = 0.9;
    assert_int_equal(vigil_explain_segments(&ex, seg_se, 7, 3, seg_group, seg_thr, 1, &o),
                     -EINVAL); /* feature 2's group 1 >= 1 group */
}

static void test_segments_oom_sweep(void **state)
{
    (void)state;
    struct vigil_explain_opts o = {.cover = 0.9};
    for (long k = 1;; k++) {
        struct vigil_explain ex;
        tu_alloc_fail_at(k);
        int rc = vigil_explain_segments(&ex, seg_se, 7, 3, seg_group, seg_thr, 2, &o);
        if (rc == 0) {
            vigil_explain_fini(&ex);
        }
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 200);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_set_by_hand),
        cmocka_unit_test(test_segments_by_hand),
        cmocka_unit_test(test_segments_oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
