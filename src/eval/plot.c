/*
 * PNG line plots with cairo (see plot.h). Everything is laid out in device
 * pixels from fixed margins; text uses cairo's "toy" font API, which is
 * enough for axis labels and a legend and needs no font configuration.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include "vigil/plot.h"

/* Colorblind-safe palette (Okabe and Ito 2008). */
static const double palette[VIGIL_PLOT_MAX_LINES][3] = {
    {0.00, 0.45, 0.70}, {0.84, 0.37, 0.00}, {0.00, 0.62, 0.45}, {0.80, 0.47, 0.65},
    {0.94, 0.89, 0.26}, {0.34, 0.71, 0.91}, {0.90, 0.62, 0.00}, {0.00, 0.00, 0.00},
};

double vigil_plot_tick_step(double a, double b, int want)
{
    double span = fabs(b - a);
    if (!(span > 0) || !isfinite(span)) {
        return 1.0;
    }
    double raw = span / (want > 0 ? want : 5);
    double p10 = pow(10.0, floor(log10(raw)));
    double m = raw / p10;
    double step = m < 1.5 ? 1.0 : (m < 3.5 ? 2.0 : (m < 7.5 ? 5.0 : 10.0));
    return step * p10;
}

static void fit_range(const struct vigil_plot_line *l, size_t nl, int use_x, double *lo, double *hi)
{
    double a = ((double)INFINITY), b = (-(double)INFINITY);
    for (size_t k = 0; k < nl; k++) {
        const double *v = use_x ? l[k].x : l[k].y;
        for (size_t i = 0; i < l[k].n; i++) {
            if (isfinite(v[i])) {
                a = v[i] < a ? v[i] : a;
                b = v[i] > b ? v[i] : b;
            }
        }
    }
    if (a == b) {
        a -= 0.5;
        b += 0.5;
    }
    *lo = a;
    *hi = b;
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - e.width * ax - e.x_bearing, y + e.height * ay);
    cairo_show_text(cr, s);
}

static int status_rc(cairo_status_t st)
{
    if (st == CAIRO_STATUS_SUCCESS) {
        return 0;
    }
    return st == CAIRO_STATUS_NO_MEMORY ? -ENOMEM : -EIO;
}

int vigil_plot_lines_png(const char *path, const struct vigil_plot *p,
                         const struct vigil_plot_line *lines, size_t n_lines)
{
    if (n_lines == 0 || n_lines > VIGIL_PLOT_MAX_LINES) {
        return -EINVAL;
    }
    double x0 = p->x0, x1 = p->x1, y0 = p->y0, y1 = p->y1;
    if (x0 == x1) {
        fit_range(lines, n_lines, 1, &x0, &x1);
    }
    if (y0 == y1) {
        fit_range(lines, n_lines, 0, &y0, &y1);
    }
    if (!isfinite(x0) || !isfinite(x1) || !isfinite(y0) || !isfinite(y1)) {
        return -EINVAL;
    }
    int w = p->width > 0 ? p->width : 640, h = p->height > 0 ? p->height : 480;
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    int rc = status_rc(cairo_surface_status(sf));
    if (rc) {
        cairo_surface_destroy(sf);
        return rc;
    }
    cairo_t *cr = cairo_create(sf);
    const double ml = 70, mr = 20, mt = p->title ? 40 : 20, mb = 55;
    const double pw = w - ml - mr, ph = h - mt - mb;
    /* Data to pixels. */
#define PX(v) (ml + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (mt + ph - ((v) - y0) / (y1 - y0) * ph)

    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);

    /* Grid and ticks. */
    char lab[64];
    double sx = vigil_plot_tick_step(x0, x1, 5), sy = vigil_plot_tick_step(y0, y1, 5);
    cairo_set_line_width(cr, 1);
    for (double v = ceil(x0 / sx - 1e-9) * sx; v <= x1 + sx * 1e-9; v += sx) {
        double px = floor(PX(v)) + 0.5;
        cairo_set_source_rgb(cr, 0.90, 0.90, 0.90);
        cairo_move_to(cr, px, mt);
        cairo_line_to(cr, px, mt + ph);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, px, mt + ph);
        cairo_line_to(cr, px, mt + ph + 5);
        cairo_stroke(cr);
        snprintf(lab, sizeof lab, "%g", fabs(v) < sx * 1e-9 ? 0.0 : v);
        text_at(cr, px, mt + ph + 9, lab, 0.5, 1.0);
    }
    for (double v = ceil(y0 / sy - 1e-9) * sy; v <= y1 + sy * 1e-9; v += sy) {
        double py = floor(PY(v)) + 0.5;
        cairo_set_source_rgb(cr, 0.90, 0.90, 0.90);
        cairo_move_to(cr, ml, py);
        cairo_line_to(cr, ml + pw, py);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, ml - 5, py);
        cairo_line_to(cr, ml, py);
        cairo_stroke(cr);
        snprintf(lab, sizeof lab, "%g", fabs(v) < sy * 1e-9 ? 0.0 : v);
        text_at(cr, ml - 8, py, lab, 1.0, 0.5);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, ml + 0.5, mt + 0.5, pw, ph);
    cairo_stroke(cr);

    /* Labels and title. */
    if (p->xlabel) {
        text_at(cr, ml + pw / 2, h - 14, p->xlabel, 0.5, 0.0);
    }
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, 18, mt + ph / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, p->ylabel, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (p->title) {
        cairo_set_font_size(cr, 14);
        text_at(cr, ml + pw / 2, 14, p->title, 0.5, 1.0);
        cairo_set_font_size(cr, 12);
    }

    /* Data, clipped to the plot area. */
    cairo_save(cr);
    cairo_rectangle(cr, ml, mt, pw, ph);
    cairo_clip(cr);
    if (p->diagonal) {
        double d0 = x0 > y0 ? x0 : y0, d1 = x1 < y1 ? x1 : y1;
        double dash[] = {4.0, 4.0};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
        cairo_move_to(cr, PX(d0), PY(d0));
        cairo_line_to(cr, PX(d1), PY(d1));
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (size_t k = 0; k < n_lines; k++) {
        cairo_set_source_rgb(cr, palette[k][0], palette[k][1], palette[k][2]);
        int pen = 0;
        for (size_t i = 0; i < lines[k].n; i++) {
            double x = lines[k].x[i], y = lines[k].y[i];
            if (!isfinite(x) || !isfinite(y)) {
                pen = 0;
                continue;
            }
            if (pen) {
                cairo_line_to(cr, PX(x), PY(y));
            } else {
                cairo_move_to(cr, PX(x), PY(y));
                pen = 1;
            }
        }
        if (lines[k].n == 1 && pen) {
            cairo_rel_line_to(cr, 0.01, 0);
        }
        cairo_stroke(cr);
    }
    cairo_restore(cr);

    /* Legend. */
    double lw = 0;
    size_t nlab = 0;
    for (size_t k = 0; k < n_lines; k++) {
        if (lines[k].label) {
            cairo_text_extents_t e;
            cairo_text_extents(cr, lines[k].label, &e);
            lw = e.x_advance > lw ? e.x_advance : lw;
            nlab++;
        }
    }
    if (nlab) {
        double bw = lw + 44, bh = 18.0 * (double)nlab + 8;
        int right = p->legend == VIGIL_PLOT_LOWER_RIGHT || p->legend == VIGIL_PLOT_UPPER_RIGHT;
        int lower = p->legend == VIGIL_PLOT_LOWER_RIGHT || p->legend == VIGIL_PLOT_LOWER_LEFT;
        double bx = right ? ml + pw - bw - 10 : ml + 10;
        double by = lower ? mt + ph - bh - 10 : mt + 10;
        cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
        cairo_rectangle(cr, bx, by, bw, bh);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
        double ty = by + 4 + 9;
        for (size_t k = 0; k < n_lines; k++) {
            if (!lines[k].label) {
                continue;
            }
            cairo_set_source_rgb(cr, palette[k][0], palette[k][1], palette[k][2]);
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, bx + 8, ty);
            cairo_line_to(cr, bx + 32, ty);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0, 0, 0);
            text_at(cr, bx + 38, ty, lines[k].label, 0.0, 0.5);
            ty += 18;
        }
    }
#undef PX
#undef PY
    rc = status_rc(cairo_status(cr));
    cairo_destroy(cr);
    if (!rc) {
        rc = status_rc(cairo_surface_write_to_png(sf, path));
    }
    cairo_surface_destroy(sf);
    return rc;
}

void vigil_plot_cleanup(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}
