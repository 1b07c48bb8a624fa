/*
 * Evaluation tests: ROC AUC, average precision, trapezoidal PR AUC, curves,
 * best F1 (plain and point-adjusted), confusion matrix, macro-F1, stratified
 * k-fold, the report (text, JSON, OOM sweep), cross-validation of the forest
 * and the PNG plotter.
 *
 * Reference values were computed once with scikit-learn 1.2.1 (Debian's
 * /usr/bin/python3) and pasted here; the script is in the comment of each
 * case. Point-adjusted figures are hand-computed in the comments.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "vigil/eval.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/opt.h"
#include "vigil/plot.h"
#include "vigil/rf.h"
#include "vigil/rng.h"

#define EPS 1e-12

/* cmocka's assert_float_equal works in float; these figures need double. */
#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps))) {                                                           \
            fail_msg("%s = %.17g, wanted %.17g", #a, a_, b_);                                      \
        }                                                                                          \
    } while (0)

/*
 * sklearn: roc_auc_score, average_precision_score, auc(recall, precision)
 * from precision_recall_curve, and max 2PR/(P+R) over its points.
 */
struct ref_case {
    int32_t y[12];
    double s[12];
    size_t n;
    double roc, ap, trapz, best_f1;
};

static const struct ref_case cases[] = {
    /* The example of sklearn's docs: y [0,0,1,1], s [0.1,0.4,0.35,0.8]. */
    {{0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}, 4, 0.75, 0.83333333333333326, 0.79166666666666663, 0.8},
    /* Ties across classes at 0.5 and 0.9. */
    {{0, 1, 0, 1, 1, 0, 0, 1},
     {0.5, 0.5, 0.2, 0.9, 0.5, 0.1, 0.9, 0.3},
     8,
     0.65625,
     0.59166666666666667,
     0.62083333333333335,
     0.8},
    /* A tie block of five rows at 0.3 and a tie of two at 0.7. */
    {{1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1},
     {0.3, 0.3, 0.3, 0.3, 0.7, 0.1, 0.2, 0.7, 0.05, 0.3, 0.6, 0.95},
     12,
     0.671875,
     0.59999999999999998,
     0.65416666666666667,
     0.57142857142857151},
};

static void test_areas_match_sklearn(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const struct ref_case *c = &cases[k];
        assert_near(vigil_eval_roc_auc(c->s, c->y, c->n), c->roc, EPS);
        assert_near(vigil_eval_average_precision(c->s, c->y, c->n), c->ap, EPS);
        assert_near(vigil_eval_pr_auc_trapz(c->s, c->y, c->n), c->trapz, EPS);
        struct vigil_f1 f;
        assert_int_equal(vigil_eval_best_f1(c->s, c->y, c->n, &f), 0);
        assert_near(f.f1, c->best_f1, EPS);
        size_t npos = 0;
        for (size_t i = 0; i < c->n; i++) {
            npos += (size_t)c->y[i];
        }
        assert_int_equal(f.tp + f.fn, npos);
    }
    /* Reversing the score turns the ROC AUC into 1 - AUC. */
    double r[8];
    for (int i = 0; i < 8; i++) {
        r[i] = -cases[1].s[i];
    }
    assert_near(vigil_eval_roc_auc(r, cases[1].y, 8), 1.0 - 0.65625, EPS);
}

static void test_single_class_is_undefined(void **state)
{
    (void)state;
    const int32_t none[3] = {0, 0, 0}, all[3] = {1, 1, 1};
    const double s[3] = {0.1, 0.2, 0.3};
    assert_true(isnan(vigil_eval_roc_auc(s, none, 3)));
    assert_true(isnan(vigil_eval_roc_auc(s, all, 3)));
    /* sklearn returns -0.0 with a warning without positives; we say undefined. */
    assert_true(isnan(vigil_eval_average_precision(s, none, 3)));
    assert_true(isnan(vigil_eval_pr_auc_trapz(s, none, 3)));
    /* All positive: precision is 1 everywhere (sklearn: 1.0). */
    assert_near(vigil_eval_average_precision(s, all, 3), 1.0, EPS);
    assert_true(isnan(vigil_eval_roc_auc(s, none, 0)));
    struct vigil_f1 f;
    assert_int_equal(vigil_eval_best_f1(s, none, 0, &f), VIGIL_EEMPTY);
    assert_int_equal(vigil_eval_best_f1(s, none, 3, &f), 0);
    assert_near(f.f1, 0.0, 0);
    /* All scores tied: the ROC curve is the diagonal. */
    const double tie[4] = {0.5, 0.5, 0.5, 0.5};
    const int32_t y[4] = {0, 1, 0, 1};
    assert_near(vigil_eval_roc_auc(tie, y, 4), 0.5, EPS);
    assert_near(vigil_eval_average_precision(tie, y, 4), 0.5, EPS);
}

static void test_curves_match_sklearn(void **state)
{
    (void)state;
    /* sklearn roc_curve(drop_intermediate=False) of case 2: fpr, tpr; thresholds 0.9..0.1. */
    const double fpr[] = {0.0, 0.25, 0.5, 0.5, 0.75, 1.0};
    const double tpr[] = {0.0, 0.25, 0.75, 1.0, 1.0, 1.0};
    const double thr[] = {0.9, 0.5, 0.3, 0.2, 0.1};
    struct vigil_curve c;
    assert_int_equal(vigil_eval_roc_curve(cases[1].s, cases[1].y, 8, &c), 0);
    assert_int_equal(c.n, 6);
    assert_true(isinf(c.thr[0]));
    for (size_t i = 0; i < 6; i++) {
        assert_near(c.x[i], fpr[i], EPS);
        assert_near(c.y[i], tpr[i], EPS);
        if (i) {
            assert_near(c.thr[i], thr[i - 1], EPS);
        }
    }
    vigil_curve_fini(&c);
    /* precision_recall_curve of case 2, reversed to increasing recall. */
    const double prec[] = {1.0, 0.5, 0.6, 0.6666666666666666, 0.5714285714285714, 0.5};
    const double rec[] = {0.0, 0.25, 0.75, 1.0, 1.0, 1.0};
    assert_int_equal(vigil_eval_pr_curve(cases[1].s, cases[1].y, 8, &c), 0);
    assert_int_equal(c.n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_near(c.x[i], rec[i], EPS);
        assert_near(c.y[i], prec[i], 1e-15);
    }
    vigil_curve_fini(&c);
}

static void test_point_adjusted_f1(void **state)
{
    (void)state;
    /*
     * Segments rows 1-3 (max score 0.9) and 6-7 (max 0.25); normal rows score
     * 0.1, 0.3, 0.8, 0.05. Point-adjusted, by threshold: >= 0.9 tp 3 fp 0 fn 2
     * F1 0.75; >= 0.25 tp 5 fp 2 -> 10/12 = 0.8333 (best). Point-wise the best
     * is >= 0.1: tp 5 fp 3 -> 10/13.
     */
    const int32_t y[9] = {0, 1, 1, 1, 0, 0, 1, 1, 0};
    const double s[9] = {0.1, 0.2, 0.9, 0.1, 0.3, 0.8, 0.2, 0.25, 0.05};
    struct vigil_f1 f;
    assert_int_equal(vigil_eval_best_f1_pa(s, y, 9, &f), 0);
    assert_near(f.f1, 10.0 / 12.0, EPS);
    assert_near(f.threshold, 0.25, 0);
    assert_int_equal(f.tp, 5);
    assert_int_equal(f.fp, 2);
    assert_int_equal(vigil_eval_best_f1(s, y, 9, &f), 0);
    assert_near(f.f1, 10.0 / 13.0, EPS);
    assert_near(f.threshold, 0.1, 0);
    /* Adjusting fixed predictions: one hit marks its whole segment. */
    const int32_t pred[9] = {0, 0, 1, 0, 1, 0, 0, 0, 0};
    int32_t adj[9];
    vigil_eval_point_adjust(pred, y, 9, adj);
    const int32_t want[9] = {0, 1, 1, 1, 1, 0, 0, 0, 0};
    assert_memory_equal(adj, want, sizeof want);
    vigil_eval_f1(adj, y, 9, &f);
    assert_int_equal(f.tp, 3);
    assert_int_equal(f.fp, 1);
    assert_int_equal(f.fn, 2);
    assert_near(f.f1, 6.0 / 9.0, EPS);
}

static void test_normal_quantile(void **state)
{
    (void)state;
    /* scipy.stats.norm.ppf */
    static const double p[] = {0.5, 0.975, 0.99, 0.999, 0.01, 1e-10, 0.3};
    static const double z[] = {0,         1.959963984540054, 2.326347874040841, 3.090232306167813,
                               -2.326347874040841, -6.361340902404056, -0.524400512708041};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
        assert_float_equal(vigil_normal_quantile(p[i]), z[i], 1e-9);
    }
    assert_true(isinf(vigil_normal_quantile(1)) && vigil_normal_quantile(1) > 0);
    assert_true(isinf(vigil_normal_quantile(0)) && vigil_normal_quantile(0) < 0);
    assert_true(isnan(vigil_normal_quantile(1.5)) && isnan(vigil_normal_quantile(NAN)));
}

static void test_confusion_and_macro_f1(void **state)
{
    (void)state;
    /* sklearn f1_score(average="macro"): 0.7 (per class 0.5, 0.8, 0.8). */
    const int32_t y[8] = {0, 0, 1, 1, 2, 2, 2, 3};
    const int32_t p[8] = {0, 1, 1, 1, 2, 0, 2, 4};
    size_t cm[25];
    double per[5];
    vigil_eval_confusion(y, p, 7, 3, cm);
    const size_t want[9] = {1, 1, 0, 0, 2, 0, 1, 0, 2};
    assert_memory_equal(cm, want, sizeof want);
    assert_near(vigil_eval_macro_f1(cm, 3, per), 0.7000000000000001, EPS);
    assert_near(per[0], 0.5, EPS);
    /* With a class only in labels (3) and one only in predictions (4): 0.42. */
    vigil_eval_confusion(y, p, 8, 5, cm);
    assert_near(vigil_eval_macro_f1(cm, 5, per), 0.42000000000000004, EPS);
    assert_near(per[3], 0.0, 0);
    /* A class absent from both is left out of the mean. */
    vigil_eval_confusion(y, p, 7, 5, cm);
    assert_near(vigil_eval_macro_f1(cm, 5, per), 0.7000000000000001, EPS);
    assert_true(isnan(per[4]));
}

static void test_kfold_matches_sklearn(void **state)
{
    (void)state;
    /* StratifiedKFold(3).split(X, y) test folds for this y (no shuffle). */
    const int32_t y[18] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 0, 1, 0};
    const int32_t want[18] = {0, 0, 0, 1, 1, 1, 2, 0, 0, 1, 0, 1, 1, 2, 2, 2, 2, 2};
    int32_t fold[18];
    assert_int_equal(vigil_eval_kfold(y, 18, 3, 0, 0, fold), 0);
    assert_memory_equal(fold, want, sizeof want);
    /* Shuffled: still stratified, each class spread over the folds. */
    assert_int_equal(vigil_eval_kfold(y, 18, 3, 1, 7, fold), 0);
    int cnt[3][3] = {{0}};
    for (int i = 0; i < 18; i++) {
        cnt[y[i]][fold[i]]++;
    }
    for (int f = 0; f < 3; f++) {
        assert_true(cnt[0][f] == 3);
        assert_true(cnt[1][f] >= 1 && cnt[1][f] <= 2);
        assert_true(cnt[2][f] >= 1 && cnt[2][f] <= 2);
    }
    assert_int_equal(vigil_eval_kfold(y, 18, 1, 0, 0, fold), -EINVAL);
    assert_int_equal(vigil_eval_kfold(y, 2, 3, 0, 0, fold), -EINVAL);
}

/* A 3-class toy problem: labels, probabilities and predictions of 12 rows. */
static void toy_report(struct vigil_eval_report *r, int *rc)
{
    static const int32_t y[12] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    static const int32_t pred[12] = {0, 0, 0, 0, 1, 0, 1, 1, 0, 2, 2, 1};
    static double proba[12 * 3], anom[12];
    for (int i = 0; i < 12; i++) {
        for (int j = 0; j < 3; j++) {
            proba[i * 3 + j] = j == pred[i] ? 0.6 + 0.01 * i : (0.4 - 0.01 * i) / 2;
        }
        anom[i] = 1.0 - proba[i * 3];
    }
    *rc = vigil_eval_report_build(r, y, 12, anom, proba, 3, pred);
}

static void test_report_text_json_and_oom(void **state)
{
    (void)state;
    struct vigil_eval_report r;
    int rc;
    toy_report(&r, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(r.c, 3);
    assert_int_equal(r.n_pos, 6);
    assert_int_equal(r.cm[0 * 3 + 1], 1);
    assert_int_equal(r.cls[1].support, 3);
    assert_int_equal(r.cls[1].predicted, 4);
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_eval_report_text(&r, &b), 0);
    assert_non_null(strstr(b.p, "PR AUC (average precision)"));
    assert_non_null(strstr(b.p, "point-adjusted"));
    assert_non_null(strstr(b.p, "confusion matrix"));
    vigil_buf_reset(&b);
    assert_int_equal(vigil_eval_report_json(&r, &b), 0);
    assert_non_null(strstr(b.p, "\"pr_auc_ap\":"));
    assert_non_null(strstr(b.p, "\"confusion\":[[5,1,0],[1,2,0],[0,1,2]]"));
    vigil_buf_fini(&b);
    vigil_eval_report_fini(&r);

    /* Undefined areas print as "undefined" and null. */
    const int32_t y0[3] = {0, 0, 0};
    const double s0[3] = {0.1, 0.2, 0.3};
    assert_int_equal(vigil_eval_report_build(&r, y0, 3, s0, NULL, 0, NULL), 0);
    vigil_buf_init(&b);
    assert_int_equal(vigil_eval_report_text(&r, &b), 0);
    assert_non_null(strstr(b.p, "undefined"));
    vigil_buf_reset(&b);
    assert_int_equal(vigil_eval_report_json(&r, &b), 0);
    assert_non_null(strstr(b.p, "\"roc_auc\":null"));
    vigil_buf_fini(&b);
    vigil_eval_report_fini(&r);

    for (long k = 1;; k++) {
        tu_alloc_fail_at(k);
        toy_report(&r, &rc);
        vigil_eval_report_fini(&r);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
    }
}

static void test_cv_of_forest(void **state)
{
    (void)state;
    /* Two noisy blobs, 3 classes: CV must find them and report mean and std. */
    enum { N = 300, F = 4 };
    static float x[N * F];
    static int32_t y[N];
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) {
        y[i] = i % 10 == 0 ? 1 : (i % 10 == 5 ? 2 : 0);
        for (int j = 0; j < F; j++) {
            x[i * F + j] = (float)(vigil_rng_normal(&rng) + (j == y[i] ? 3.0 : 0.0));
        }
    }
    const struct vigil_model_ops *ops = vigil_model_find("rf");
    assert_non_null(ops);
    struct vigil_rf_params p = {0};
    assert_int_equal(vigil_opt_defaults(ops->opts, &p), 0);
    struct vigil_cv_result cv;
    assert_int_equal(vigil_eval_cv(ops, &p, x, y, N, F, 5, 0, 1, 2, &cv), 0);
    assert_int_equal(cv.roc_auc.folds, 5);
    assert_true(cv.roc_auc.mean > 0.9);
    assert_true(cv.ap.mean > 0.8);
    assert_true(cv.roc_auc.std >= 0 && cv.roc_auc.std < 0.1);
    assert_true(cv.cls_ap[2].mean > 0.7);
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_cv_result_text(&cv, &b), 0);
    assert_non_null(strstr(b.p, "5-fold"));
    assert_non_null(strstr(b.p, "+-"));
    vigil_buf_fini(&b);
    vigil_cv_result_fini(&cv);
    vigil_opt_free(ops->opts, &p);
}

static void test_plot_png(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/roc.png", dir);
    struct vigil_curve c;
    assert_int_equal(vigil_eval_roc_curve(cases[2].s, cases[2].y, 12, &c), 0);
    double nanx[3] = {0, (double)NAN, 1}, nany[3] = {0.2, 0.5, 0.8};
    struct vigil_plot_line l[2] = {{c.x, c.y, c.n, "case 3 (AUC 0.672)"}, {nanx, nany, 3, NULL}};
    struct vigil_plot p = {.title = "ROC",
                           .xlabel = "false positive rate",
                           .ylabel = "true positive rate",
                           .x0 = 0,
                           .x1 = 1,
                           .y0 = 0,
                           .y1 = 1,
                           .diagonal = 1};
    assert_int_equal(vigil_plot_lines_png(path, &p, l, 2), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char hdr[24];
    assert_int_equal(fread(hdr, 1, 24, f), 24);
    fclose(f);
    assert_memory_equal(hdr, "\x89PNG\r\n\x1a\n", 8);
    /* IHDR width and height, big-endian. */
    assert_int_equal((hdr[16] << 24) | (hdr[17] << 16) | (hdr[18] << 8) | hdr[19], 640);
    assert_int_equal((hdr[20] << 24) | (hdr[21] << 16) | (hdr[22] << 8) | hdr[23], 480);
    /* Fitted axes, and the errors. */
    struct vigil_plot fit = {.width = 320, .height = 200};
    assert_int_equal(vigil_plot_lines_png(path, &fit, l, 1), 0);
    assert_int_equal(vigil_plot_lines_png(path, &p, l, 0), -EINVAL);
    snprintf(path, sizeof path, "%s/no/such/dir.png", dir);
    assert_int_equal(vigil_plot_lines_png(path, &p, l, 1), -EIO);
    vigil_curve_fini(&c);
    assert_near(vigil_plot_tick_step(0, 1, 5), 0.2, EPS);
    assert_near(vigil_plot_tick_step(0, 730, 5), 100, EPS);
    vigil_plot_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_areas_match_sklearn),
        cmocka_unit_test(test_single_class_is_undefined),
        cmocka_unit_test(test_curves_match_sklearn),
        cmocka_unit_test(test_point_adjusted_f1),
        cmocka_unit_test(test_normal_quantile),
        cmocka_unit_test(test_confusion_and_macro_f1),
        cmocka_unit_test(test_kfold_matches_sklearn),
        cmocka_unit_test(test_report_text_json_and_oom),
        cmocka_unit_test(test_cv_of_forest),
        cmocka_unit_test(test_plot_png),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
