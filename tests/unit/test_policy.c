/*
 * Detection policy on synthetic ratio series, hand-traced in comments:
 * consecutive points, clearing, suppression (reopen), NaN gaps.
 */
#include <math.h>

#include "testutil.h"
#include "vigil/policy.h"

#define S 1000000000LL

/* Feeds ratios at 1 s steps from t=1 s; ev[i] receives each step's event. */
static void run(struct vigil_policy *p, const struct vigil_policy_conf *c, const double *r,
                int n, int64_t t0, enum vigil_policy_event *ev)
{
    for (int i = 0; i < n; i++) {
        ev[i] = vigil_policy_step(p, c, t0 + (int64_t)i * S, r[i]);
    }
}

static void test_policy_consecutive_and_clear(void **state)
{
    (void)state;
    struct vigil_policy_conf c;
    vigil_policy_conf_default(&c); /* threshold 1, consecutive 3, clear 5 */
    struct vigil_policy p;
    vigil_policy_init(&p);
    /* t:  1    2    3    4    5    6    7    8    9   10   11   12   13
     * r: 0.5  2.0  2.0  0.9  2.0  2.0  3.0  4.0  0.1 0.1  0.1  0.1  0.1
     * Two highs then a low: no event. 5,6,7 opens at t=5 (start 5 s), 8 raises
     * the peak (UPDATE), five lows close it at t=13 with end = 8 s. */
    double r[] = {0.5, 2, 2, 0.9, 2, 2, 3, 4, 0.1, 0.1, 0.1, 0.1, 0.1};
    enum vigil_policy_event ev[13];
    run(&p, &c, r, 13, 1 * S, ev);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(ev[i], VIGIL_POLICY_NONE);
    }
    assert_int_equal(ev[6], VIGIL_POLICY_OPEN);
    assert_true(p.start_ns == 5 * S);
    assert_int_equal(ev[7], VIGIL_POLICY_UPDATE);
    assert_true(p.peak == 4.0);
    for (int i = 8; i < 12; i++) {
        assert_int_equal(ev[i], VIGIL_POLICY_NONE);
    }
    assert_int_equal(ev[12], VIGIL_POLICY_CLOSE);
    assert_true(p.end_ns == 8 * S);
    assert_int_equal(p.state, VIGIL_POLICY_NORMAL);
}

static void test_policy_suppression_reopens(void **state)
{
    (void)state;
    struct vigil_policy_conf c = {.threshold = 1, .consecutive = 2, .clear = 2,
                                  .suppress_ns = 10 * S};
    struct vigil_policy p;
    vigil_policy_init(&p);
    /* Opens at t=2, closes at t=4 (end 2 s); highs at t=6,7 fall within 10 s of
     * the end, so the same event reopens (UPDATE, reopened). */
    double r[] = {5, 5, 0, 0, 0, 5, 5};
    enum vigil_policy_event ev[7];
    run(&p, &c, r, 7, 1 * S, ev);
    assert_int_equal(ev[1], VIGIL_POLICY_OPEN);
    assert_int_equal(ev[3], VIGIL_POLICY_CLOSE);
    assert_int_equal(ev[6], VIGIL_POLICY_UPDATE);
    assert_int_equal(p.reopened, 1);
    assert_true(p.start_ns == 1 * S);
    /* Close again; a new anomaly 30 s later is a new event. */
    vigil_policy_step(&p, &c, 8 * S, 0);
    assert_int_equal(vigil_policy_step(&p, &c, 9 * S, 0), VIGIL_POLICY_CLOSE);
    vigil_policy_step(&p, &c, 40 * S, 3);
    assert_int_equal(vigil_policy_step(&p, &c, 41 * S, 3), VIGIL_POLICY_OPEN);
    assert_true(p.start_ns == 40 * S);
}

static void test_policy_nan_changes_nothing(void **state)
{
    (void)state;
    struct vigil_policy_conf c;
    vigil_policy_conf_default(&c);
    struct vigil_policy p;
    vigil_policy_init(&p);
    /* Highs separated by missing points still count as consecutive; a long
     * run of NaN (stale target) neither opens nor closes anything. */
    double r[] = {2, NAN, 2, NAN, NAN, 2};
    enum vigil_policy_event ev[6];
    run(&p, &c, r, 6, 1 * S, ev);
    assert_int_equal(ev[5], VIGIL_POLICY_OPEN);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(vigil_policy_step(&p, &c, (10 + i) * S, NAN), VIGIL_POLICY_NONE);
    }
    assert_int_equal(p.state, VIGIL_POLICY_ANOMALY);
    vigil_policy_init(&p);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(vigil_policy_step(&p, &c, i * S, NAN), VIGIL_POLICY_NONE);
    }
    assert_true(isnan(p.ratio));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_consecutive_and_clear),
        cmocka_unit_test(test_policy_suppression_reopens),
        cmocka_unit_test(test_policy_nan_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
