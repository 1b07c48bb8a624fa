/*
 * Radiography tests: the 2-D KDE against scipy.stats.gaussian_kde (values
 * pinned below, computed with scipy 1.10 on Debian), the truncated grid
 * against direct evaluation, singular inputs, and the PNG (size, panels,
 * empty panel, bad arguments).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cairo.h>

#include "testutil.h"
#include "vigil/plot.h"
#include "vigil/radio.h"

static const double kx[6] = {0.1, 0.4, 0.35, 0.8, 0.5, 0.65};
static const double ky[6] = {3.0, 5.0, 4.0, 9.0, 6.0, 7.5};

static void test_kde_matches_scipy(void **state)
{
    (void)state;
    /*
     * from scipy.stats import gaussian_kde
     * k = gaussian_kde(np.vstack([x, y]))
     * k.covariance = [[0.03283583 0.29442185] [0.29442185 2.73784801]]
     * k((0.4,5)) = 1.0993810031716207, k((0.1,3)) = 0.4873694055743375,
     * k((0.9,4)) = 5.457935094054297e-57, k((0.5,6.5)) = 0.5125681619186511
     */
    struct vigil_kde2d k;
    assert_int_equal(vigil_kde2d_fit(&k, kx, ky, 6), 0);
    assert_true(fabs(k.cxx - 0.03283583) < 1e-8);
    assert_true(fabs(k.cxy - 0.29442185) < 1e-8);
    assert_true(fabs(k.cyy - 2.73784801) < 1e-8);
    assert_true(fabs(vigil_kde2d_eval(&k, 0.4, 5.0) - 1.0993810031716207) < 1e-12);
    assert_true(fabs(vigil_kde2d_eval(&k, 0.1, 3.0) - 0.4873694055743375) < 1e-12);
    assert_true(fabs(vigil_kde2d_eval(&k, 0.9, 4.0) / 5.457935094054297e-57 - 1.0) < 1e-9);
    assert_true(fabs(vigil_kde2d_eval(&k, 0.5, 6.5) - 0.5125681619186511) < 1e-12);
}

static void test_grid_matches_eval_and_integrates_to_one(void **state)
{
    (void)state;
    struct vigil_kde2d k;
    assert_int_equal(vigil_kde2d_fit(&k, kx, ky, 6), 0);
    enum { G = 120 };
    static double d[G * G];
    double x0 = -0.6, x1 = 1.5, y0 = -3.0, y1 = 15.0;
    vigil_kde2d_grid(&k, d, G, x0, x1, y0, y1);
    double hx = (x1 - x0) / (G - 1), hy = (y1 - y0) / (G - 1), mass = 0.0, worst = 0.0;
    for (int r = 0; r < G; r++) {
        for (int c = 0; c < G; c++) {
            double want = vigil_kde2d_eval(&k, x0 + c * hx, y0 + r * hy);
            worst = fmax(worst, fabs(d[r * G + c] - want));
            mass += d[r * G + c] * hx * hy;
        }
    }
    assert_true(worst < 1e-9);
    assert_true(fabs(mass - 1.0) < 0.01); /* a density over a grid that holds it */
}

static void test_singular_inputs_are_regularized(void **state)
{
    (void)state;
    struct vigil_kde2d k;
    /* A constant service metric, collinear points, a single point: finite densities. */
    double x[4] = {1, 2, 3, 4}, flat[4] = {7, 7, 7, 7}, line[4] = {2, 4, 6, 8};
    assert_int_equal(vigil_kde2d_fit(&k, x, flat, 4), 0);
    assert_true(isfinite(vigil_kde2d_eval(&k, 2.5, 7.0)) && vigil_kde2d_eval(&k, 2.5, 7.0) > 0);
    assert_int_equal(vigil_kde2d_fit(&k, x, line, 4), 0);
    assert_true(isfinite(vigil_kde2d_eval(&k, 2.0, 4.0)) && vigil_kde2d_eval(&k, 2.0, 4.0) > 0);
    assert_int_equal(vigil_kde2d_fit(&k, x, line, 1), 0);
    assert_true(isfinite(vigil_kde2d_eval(&k, 1.0, 2.0)));
    assert_int_equal(vigil_kde2d_fit(&k, x, line, 0), -EINVAL);
    double bad[2] = {1, NAN};
    assert_int_equal(vigil_kde2d_fit(&k, bad, line, 2), -EINVAL);
}

static void test_png_panels(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/radio.png", dir);
    struct vigil_radio_panel p[4] = {
        {"cpu", "MSE cpu", "failed calls", kx, ky, 6},
        {"memory", "MSE memory", "failed calls", ky, kx, 6},
        {"network", "MSE network", "failed calls", NULL, NULL, 0},
        {"filesystem", "MSE filesystem", "failed calls", kx, ky, 1},
    };
    assert_int_equal(vigil_radio_png(path, "radiography test", p, 4, 60), 0);
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    /* 3 panels in the first row, 1 in the second. */
    assert_int_equal(cairo_image_surface_get_width(s), 3 * 470);
    assert_int_equal(cairo_image_surface_get_height(s), 34 + 2 * 430);
    /* The heat map is not blank: the centre of panel 1 is coloured, not white. */
    cairo_surface_flush(s);
    const unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    const uint32_t *mid = (const uint32_t *)(px + (34 + 200) * stride) + 200;
    assert_true((*mid & 0xffffff) != 0xffffff);
    cairo_surface_destroy(s);
    assert_int_equal(vigil_radio_png(path, "x", p, 0, 60), -EINVAL);
    assert_int_equal(vigil_radio_png(path, "x", p, 1, 1), -EINVAL);
    assert_int_equal(vigil_radio_png("/nonexistent/dir/r.png", "x", p, 1, 20), -EIO);
    /* A constant service metric (no failed call at all) draws a band at 0, not a needle. */
    double zero[6] = {0, 0, 0, 0, 0, 0};
    struct vigil_radio_panel flat = {"cpu", "MSE cpu", "failed calls", kx, zero, 6};
    assert_int_equal(vigil_radio_png(path, "flat", &flat, 1, 60), 0);
    s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    cairo_surface_flush(s);
    px = cairo_image_surface_get_data(s);
    stride = cairo_image_surface_get_stride(s);
    /* Plot area rows 72..444 (34 + 38 .. 34 + 430 - 58): the bottom row is bright, the top dark. */
    uint32_t bottom = ((const uint32_t *)(px + 442 * stride))[78 + 150];
    uint32_t top = ((const uint32_t *)(px + 80 * stride))[78 + 150];
    assert_true(((bottom >> 8) & 0xff) > ((top >> 8) & 0xff) + 40); /* green channel rises */
    cairo_surface_destroy(s);
    vigil_plot_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kde_matches_scipy),
        cmocka_unit_test(test_grid_matches_eval_and_integrates_to_one),
        cmocka_unit_test(test_singular_inputs_are_regularized),
        cmocka_unit_test(test_png_panels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
