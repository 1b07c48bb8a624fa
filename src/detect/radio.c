/*
 * Radiographies (include/vigil/radio.h): a 2-D Gaussian KDE with Scott's
 * bandwidth, evaluated on a grid, and one cairo heat map per resource group
 * with axes, ticks, a colour scale and the points. Which points go in (the
 * anomalous rows of each group, aligned with a service metric) is decided by
 * the caller (src/cli/cmd_radiography.c).
 *
 * Dimension letters: N points, G grid cells per axis.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cairo.h>

#include "vigil/mem.h"
#include "vigil/plot.h"
#include "vigil/radio.h"

/* ---- kernel density ---- */

int vigil_kde2d_fit(struct vigil_kde2d *k, const double *x, const double *y, size_t n)
{
    memset(k, 0, sizeof *k);
    if (n == 0) {
        return -EINVAL;
    }
    double mx = 0.0, my = 0.0, lox = x[0], hix = x[0], loy = y[0], hiy = y[0];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            return -EINVAL;
        }
        mx += x[i];
        my += y[i];
        lox = fmin(lox, x[i]);
        hix = fmax(hix, x[i]);
        loy = fmin(loy, y[i]);
        hiy = fmax(hiy, y[i]);
    }
    mx /= (double)n;
    my /= (double)n;
    double vx = 0.0, vy = 0.0, cv = 0.0;
    for (size_t i = 0; i < n && n > 1; i++) {
        vx += (x[i] - mx) * (x[i] - mx);
        vy += (y[i] - my) * (y[i] - my);
        cv += (x[i] - mx) * (y[i] - my);
    }
    if (n > 1) {
        vx /= (double)(n - 1);
        vy /= (double)(n - 1);
        cv /= (double)(n - 1);
    }
    /* Regularize a singular covariance (see the header). */
    double sx = fmax(hix - lox, fabs(mx)), sy = fmax(hiy - loy, fabs(my));
    sx = sx > 0.0 ? sx : 1.0;
    sy = sy > 0.0 ? sy : 1.0;
    if (!(vx > 1e-18 * sx * sx)) {
        vx = 1e-6 * sx * sx;
        cv = 0.0;
    }
    if (!(vy > 1e-18 * sy * sy)) {
        vy = 1e-6 * sy * sy;
        cv = 0.0;
    }
    double rho = cv / sqrt(vx * vy);
    if (fabs(rho) > 0.999) {
        cv = copysign(0.999, rho) * sqrt(vx * vy);
    }
    /* Scott: factor = n^(-1/(d+4)) with d = 2; the kernel covariance scales by factor^2. */
    double f2 = pow((double)n, -1.0 / 3.0);
    k->x = x;
    k->y = y;
    k->n = n;
    k->cxx = vx * f2;
    k->cyy = vy * f2;
    k->cxy = cv * f2;
    double det = k->cxx * k->cyy - k->cxy * k->cxy;
    k->ixx = k->cyy / det;
    k->iyy = k->cxx / det;
    k->ixy = -k->cxy / det;
    k->norm = 1.0 / ((double)n * 2.0 * M_PI * sqrt(det));
    return 0;
}

double vigil_kde2d_eval(const struct vigil_kde2d *k, double px, double py)
{
    double s = 0.0;
    for (size_t i = 0; i < k->n; i++) {
        double dx = px - k->x[i], dy = py - k->y[i];
        s += exp(-0.5 * (k->ixx * dx * dx + 2.0 * k->ixy * dx * dy + k->iyy * dy * dy));
    }
    return s * k->norm;
}

void vigil_kde2d_grid(const struct vigil_kde2d *k, double *d, size_t g, double x0, double x1,
                      double y0, double y1)
{
    memset(d, 0, g * g * sizeof *d);
    double hx = (x1 - x0) / (double)(g - 1), hy = (y1 - y0) / (double)(g - 1);
    /* The marginal standard deviations bound the kernel's ellipse. */
    double rx = 7.0 * sqrt(k->cxx), ry = 7.0 * sqrt(k->cyy);
    for (size_t i = 0; i < k->n; i++) {
        double px = k->x[i], py = k->y[i];
        double c0 = hx > 0.0 ? ceil((px - rx - x0) / hx) : 0.0;
        double c1 = hx > 0.0 ? floor((px + rx - x0) / hx) : (double)(g - 1);
        double r0 = hy > 0.0 ? ceil((py - ry - y0) / hy) : 0.0;
        double r1 = hy > 0.0 ? floor((py + ry - y0) / hy) : (double)(g - 1);
        c0 = fmax(c0, 0.0);
        r0 = fmax(r0, 0.0);
        c1 = fmin(c1, (double)(g - 1));
        r1 = fmin(r1, (double)(g - 1));
        for (double r = r0; r <= r1; r++) {
            double dy = y0 + r * hy - py;
            double *row = d + (size_t)r * g;
            for (double c = c0; c <= c1; c++) {
                double dx = x0 + c * hx - px;
                row[(size_t)c] +=
                    exp(-0.5 * (k->ixx * dx * dx + 2.0 * k->ixy * dx * dy + k->iyy * dy * dy));
            }
        }
    }
    for (size_t j = 0; j < g * g; j++) {
        d[j] *= k->norm;
    }
}

/* ---- drawing ---- */

#define PANEL_W 470
#define PANEL_H 430
#define MARGIN_L 78
#define MARGIN_R 92
#define MARGIN_T 38
#define MARGIN_B 58
#define TITLE_H 34

/* viridis, 9 anchors. */
static const double cmap[9][3] = {
    {0.267, 0.005, 0.329}, {0.278, 0.173, 0.478}, {0.231, 0.318, 0.545},
    {0.173, 0.443, 0.557}, {0.129, 0.565, 0.553}, {0.153, 0.678, 0.506},
    {0.361, 0.784, 0.388}, {0.667, 0.863, 0.196}, {0.992, 0.906, 0.145},
};

static void colour(double v, double rgb[3])
{
    v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
    double p = v * 8.0;
    int i = (int)p;
    if (i >= 8) {
        i = 7;
    }
    double t = p - i;
    for (int c = 0; c < 3; c++) {
        rgb[c] = cmap[i][c] + t * (cmap[i + 1][c] - cmap[i][c]);
    }
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

/* Axis range of a panel: the data range padded by 3 kernel deviations. */
static void axis_range(const double *v, size_t n, double sd, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        a = fmin(a, v[i]);
        b = fmax(b, v[i]);
    }
    int nonneg = a >= 0.0; /* errors and counts: no axis below 0 */
    a -= 3.0 * sd;
    b += 3.0 * sd;
    if (nonneg && a < 0.0) {
        a = 0.0;
    }
    if (!(b > a)) {
        double m = fabs(a) > 0.0 ? fabs(a) * 0.1 : 1.0;
        a -= m;
        b += m;
    }
    *lo = a;
    *hi = b;
}

/*
 * A constant axis (every point has the same service value, e.g. no failed
 * call at all) has no spread to show: draw it over a readable span around
 * the value, with a kernel 2% of that span wide, so the points form a
 * visible band instead of a needle on a 1e-3-wide axis.
 */
static void widen_flat(struct vigil_kde2d *k, const double *v, size_t n, double *lo, double *hi,
                       int is_y)
{
    double a = v[0], b = v[0];
    for (size_t i = 1; i < n; i++) {
        a = fmin(a, v[i]);
        b = fmax(b, v[i]);
    }
    if (b > a) {
        return;
    }
    double half = fmax(0.5 * fabs(a), 0.5);
    *lo = a >= 0.0 && a - half < 0.0 ? 0.0 : a - half;
    *hi = a + half;
    double var = 0.02 * (*hi - *lo);
    var *= var;
    double cxx = is_y ? k->cxx : var, cyy = is_y ? var : k->cyy;
    double det = cxx * cyy; /* no correlation with a constant */
    k->cxx = cxx;
    k->cyy = cyy;
    k->cxy = 0.0;
    k->ixx = cyy / det;
    k->iyy = cxx / det;
    k->ixy = 0.0;
    k->norm = 1.0 / ((double)k->n * 2.0 * M_PI * sqrt(det));
}

static void ticks(cairo_t *cr, double a, double b, double px0, double px1, int vertical,
                  double at)
{
    double step = vigil_plot_tick_step(a, b, 5);
    char s[32];
    for (double v = ceil(a / step) * step; v <= b + 1e-9 * step; v += step) {
        double t = (v - a) / (b - a);
        double p = px0 + t * (px1 - px0);
        snprintf(s, sizeof s, "%.3g", fabs(v) < 1e-12 * step ? 0.0 : v);
        if (vertical) {
            cairo_move_to(cr, at, p);
            cairo_line_to(cr, at - 5, p);
            cairo_stroke(cr);
            text_at(cr, at - 8, p, s, 1.0, 0.5);
        } else {
            cairo_move_to(cr, p, at);
            cairo_line_to(cr, p, at + 5);
            cairo_stroke(cr);
            text_at(cr, p, at + 8, s, 0.5, 0.0);
        }
    }
}

/* Draws one panel with its top-left corner at (ox, oy). */
static int draw_panel(cairo_t *cr, double ox, double oy, const struct vigil_radio_panel *p,
                      size_t g, double *grid, uint32_t *pix)
{
    double x0 = ox + MARGIN_L, y0 = oy + MARGIN_T;
    double w = PANEL_W - MARGIN_L - MARGIN_R, h = PANEL_H - MARGIN_T - MARGIN_B;
    char title[160];
    snprintf(title, sizeof title, "%s: %zu anomalous point%s", p->title ? p->title : "", p->n,
             p->n == 1 ? "" : "s");
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 14);
    text_at(cr, x0 + w / 2, oy + 12, title, 0.5, 0.0);
    cairo_set_font_size(cr, 11);
    cairo_set_line_width(cr, 1.0);
    if (p->n == 0) {
        cairo_rectangle(cr, x0, y0, w, h);
        cairo_stroke(cr);
        text_at(cr, x0 + w / 2, y0 + h / 2, "no anomalous points", 0.5, 0.5);
        return 0;
    }
    struct vigil_kde2d k;
    if (vigil_kde2d_fit(&k, p->x, p->y, p->n) != 0) {
        return -EINVAL;
    }
    double ax0, ax1, ay0, ay1;
    axis_range(p->x, p->n, sqrt(k.cxx), &ax0, &ax1);
    axis_range(p->y, p->n, sqrt(k.cyy), &ay0, &ay1);
    widen_flat(&k, p->x, p->n, &ax0, &ax1, 0);
    widen_flat(&k, p->y, p->n, &ay0, &ay1, 1);
    vigil_kde2d_grid(&k, grid, g, ax0, ax1, ay0, ay1);
    double mx = 0.0;
    for (size_t i = 0; i < g * g; i++) {
        mx = fmax(mx, grid[i]);
    }
    /* Image rows top to bottom = y from high to low. */
    for (size_t r = 0; r < g; r++) {
        for (size_t c = 0; c < g; c++) {
            double rgb[3];
            colour(mx > 0.0 ? grid[(g - 1 - r) * g + c] / mx : 0.0, rgb);
            pix[r * g + c] = 0xff000000u | (uint32_t)(rgb[0] * 255.0 + 0.5) << 16 |
                             (uint32_t)(rgb[1] * 255.0 + 0.5) << 8 |
                             (uint32_t)(rgb[2] * 255.0 + 0.5);
        }
    }
    cairo_surface_t *img = cairo_image_surface_create_for_data(
        (unsigned char *)pix, CAIRO_FORMAT_ARGB32, (int)g, (int)g, (int)(g * sizeof *pix));
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return -ENOMEM;
    }
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, w, h);
    cairo_clip(cr);
    cairo_translate(cr, x0, y0);
    cairo_scale(cr, w / (double)g, h / (double)g);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    /* The points, when few enough to tell apart. */
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, w, h);
    cairo_clip(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.55);
    for (size_t i = 0; i < p->n && p->n <= 1000; i++) {
        double px = x0 + (p->x[i] - ax0) / (ax1 - ax0) * w;
        double py = y0 + h - (p->y[i] - ay0) / (ay1 - ay0) * h;
        cairo_arc(cr, px, py, 1.4, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
    /* Frame, ticks, labels. */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, x0, y0, w, h);
    cairo_stroke(cr);
    ticks(cr, ax0, ax1, x0, x0 + w, 0, y0 + h);
    ticks(cr, ay0, ay1, y0 + h, y0, 1, x0);
    if (p->xlabel) {
        text_at(cr, x0 + w / 2, y0 + h + 30, p->xlabel, 0.5, 0.0);
    }
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, ox + 14, y0 + h / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, p->ylabel, 0.5, 0.5);
        cairo_restore(cr);
    }
    /* Colour scale: density from 0 to the panel's peak. */
    double bx = x0 + w + 14, bw = 14;
    for (int i = 0; i < 100; i++) {
        double rgb[3];
        colour((double)i / 99.0, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_rectangle(cr, bx, y0 + h - (i + 1) * h / 100.0, bw, h / 100.0 + 0.5);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, bx, y0, bw, h);
    cairo_stroke(cr);
    char s[32];
    snprintf(s, sizeof s, "%.3g", mx);
    text_at(cr, bx + bw + 4, y0, s, 0.0, 0.0);
    text_at(cr, bx + bw + 4, y0 + h, "0", 0.0, 1.0);
    cairo_save(cr);
    cairo_translate(cr, bx + bw + 12, y0 + h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, "density", 0.5, 0.0);
    cairo_restore(cr);
    return 0;
}

static int cairo_rc(cairo_status_t st)
{
    if (st == CAIRO_STATUS_SUCCESS) {
        return 0;
    }
    return st == CAIRO_STATUS_NO_MEMORY ? -ENOMEM : -EIO;
}

int vigil_radio_png(const char *path, const char *title, const struct vigil_radio_panel *p,
                    size_t n_panels, size_t grid)
{
    if (n_panels == 0 || grid < 2 || grid > 4096) {
        return -EINVAL;
    }
    size_t cols = n_panels < 3 ? n_panels : 3, rows = (n_panels + cols - 1) / cols;
    int width = (int)(cols * PANEL_W), height = (int)(TITLE_H + rows * PANEL_H);
    double *d = vigil_mallocarray(grid * grid, sizeof *d);
    uint32_t *pix = vigil_mallocarray(grid * grid, sizeof *pix);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    cairo_t *cr = cairo_create(s);
    int rc = !d || !pix ? -ENOMEM : cairo_rc(cairo_status(cr));
    if (!rc) {
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_paint(cr);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                               CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_source_rgb(cr, 0, 0, 0);
        /* The title shrinks to fit the figure. */
        const char *t = title ? title : "radiography";
        cairo_text_extents_t ext;
        double fs = 16.0;
        cairo_set_font_size(cr, fs);
        cairo_text_extents(cr, t, &ext);
        if (ext.width > width - 20) {
            fs = fmax(7.0, fs * (width - 20) / ext.width);
            cairo_set_font_size(cr, fs);
        }
        text_at(cr, width / 2.0, 10, t, 0.5, 0.0);
        for (size_t i = 0; i < n_panels && !rc; i++) {
            rc = draw_panel(cr, (double)(i % cols) * PANEL_W,
                            TITLE_H + (double)(i / cols) * PANEL_H, &p[i], grid, d, pix);
        }
    }
    rc = rc ? rc : cairo_rc(cairo_status(cr));
    if (!rc) {
        cairo_surface_flush(s);
        rc = cairo_rc(cairo_surface_write_to_png(s, path));
        rc = rc == -ENOMEM ? rc : (rc ? -EIO : 0);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    vigil_free(d);
    vigil_free(pix);
    return rc;
}
