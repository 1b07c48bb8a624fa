/*
 * Line plots as PNG files, drawn with cairo: axes with "nice" ticks, light
 * grid, a title, axis labels, up to 8 colored lines and a legend. Small on
 * purpose: ROC and PR curves, score traces, training losses. It does not do
 * log axes, scatter plots or subplots.
 *
 *     struct vigil_plot_line l = {fpr, tpr, n, "rf (AUC 0.981)"};
 *     struct vigil_plot p = {.title = "ROC", .xlabel = "false positive rate",
 *                            .ylabel = "true positive rate", .x0 = 0, .x1 = 1,
 *                            .y0 = 0, .y1 = 1, .diagonal = 1};
 *     vigil_plot_lines_png("roc.png", &p, &l, 1);
 */
#ifndef VIGIL_PLOT_H
#define VIGIL_PLOT_H

#include <stddef.h>

#define VIGIL_PLOT_MAX_LINES 8

/* One line: n points, borrowed for the call. NaN points break the line. */
struct vigil_plot_line {
    const double *x;
    const double *y;
    size_t n;
    const char *label; /* legend text, or NULL for no legend entry */
};

enum vigil_plot_corner {
    VIGIL_PLOT_LOWER_RIGHT = 0,
    VIGIL_PLOT_UPPER_RIGHT = 1,
    VIGIL_PLOT_LOWER_LEFT = 2,
    VIGIL_PLOT_UPPER_LEFT = 3,
};

struct vigil_plot {
    const char *title, *xlabel, *ylabel; /* may be NULL */
    double x0, x1, y0, y1;  /* axis ranges; x0 == x1 (or y0 == y1) fits the data */
    int width, height;      /* pixels; 0 = 640 x 480 */
    int diagonal;           /* 1 draws the dashed line y = x (chance level of a ROC curve) */
    enum vigil_plot_corner legend;
};

/*
 * Draws the lines and writes a PNG to path. Returns 0; -EINVAL (no lines,
 * more than VIGIL_PLOT_MAX_LINES, or no finite point to fit the axes to);
 * -ENOMEM; -EIO when the file cannot be written.
 */
int vigil_plot_lines_png(const char *path, const struct vigil_plot *p,
                         const struct vigil_plot_line *lines, size_t n_lines);

/*
 * Releases the caches cairo and fontconfig keep for the process (fonts,
 * patterns), so leak checkers stay quiet. Call once before exit, when no
 * other thread draws; plotting again afterwards is allowed but slow.
 */
void vigil_plot_cleanup(void);

/* Picks a tick step of 1, 2 or 5 times a power of ten giving about `want` ticks over [a, b]. */
double vigil_plot_tick_step(double a, double b, int want);

#endif /* VIGIL_PLOT_H */
