/*
 * Radiographies (the ITC 2020 SYRROCA paper): for each resource group, the
 * 2-D density of (reconstruction MSE of the group, a service metric such as
 * failed calls) over the anomalous points of a time range, drawn as a heat
 * map, so an operator sees which resource hurts the service.
 *
 * The density is a Gaussian kernel density estimate with Scott's bandwidth,
 * as scipy.stats.gaussian_kde computes it: kernel covariance = the data's
 * covariance (unbiased) times n^(-1/3) (Scott's factor n^(-1/6), squared).
 * A singular covariance (a constant axis, collinear points, a single point)
 * is regularized instead of failing: a zero variance becomes (1e-3 of the
 * axis scale)^2 and |correlation| is capped at 0.999.
 *
 *     struct vigil_kde2d k;
 *     vigil_kde2d_fit(&k, mse, failed_calls, n);
 *     double d = vigil_kde2d_eval(&k, 0.02, 15.0);
 *
 *     struct vigil_radio_panel p[2] = {{"cpu", "MSE cpu", "failed calls", x0, y0, n0}, ...};
 *     vigil_radio_png("radio.png", "radiography", p, 2, 200);
 */
#ifndef VIGIL_RADIO_H
#define VIGIL_RADIO_H

#include <stddef.h>

/* A fitted 2-D Gaussian KDE. The points are borrowed until the last eval/grid call. */
struct vigil_kde2d {
    const double *x, *y; /* (N) points; borrowed */
    size_t n;
    double cxx, cxy, cyy; /* kernel covariance */
    double ixx, ixy, iyy; /* its inverse */
    double norm;          /* 1 / (n 2 pi sqrt(det)) */
};

/* Fits the bandwidth to n >= 1 finite points. Returns 0 or -EINVAL (n = 0 or a non-finite value). */
int vigil_kde2d_fit(struct vigil_kde2d *k, const double *x, const double *y, size_t n);

/* Density at (px, py). */
double vigil_kde2d_eval(const struct vigil_kde2d *k, double px, double py);

/*
 * Density on a g x g grid of cell centres spanning [x0, x1] x [y0, y1]:
 * d (G,G), row r at y0 + r (y1 - y0) / (g - 1), column c likewise in x.
 * Kernels are cut at 7 standard deviations (relative error below 1e-10).
 * Never allocates.
 */
void vigil_kde2d_grid(const struct vigil_kde2d *k, double *d, size_t g, double x0, double x1,
                      double y0, double y1);

/* One panel: a title, axis labels and its points (borrowed for the call). */
struct vigil_radio_panel {
    const char *title;
    const char *xlabel;
    const char *ylabel;
    const double *x, *y; /* (N) */
    size_t n;
};

/*
 * Draws one heat map per panel (density normalized to its peak, with a
 * colour scale, axes, ticks and the points as dots), up to 3 panels a row,
 * and writes a PNG. A panel without points says so. grid is the KDE grid
 * (200 for the paper's figures). Returns 0, -EINVAL (no panels, grid < 2),
 * -ENOMEM, -EIO (cannot write path).
 */
int vigil_radio_png(const char *path, const char *title, const struct vigil_radio_panel *p,
                    size_t n_panels, size_t grid);

#endif /* VIGIL_RADIO_H */
