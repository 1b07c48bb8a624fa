/*
 * vigil eval: compares a scores CSV (from vigil score, or any CSV with a
 * header) with a label file and prints the tables of eval.h: binary ROC AUC,
 * PR AUC (average precision and trapezoidal), best F1 plain and
 * point-adjusted, per-class one-vs-rest figures, confusion matrix and
 * macro-F1. --plot DIR writes the curves as CSV and PNG.
 *
 * Columns: p_<c> are class probabilities, "pred" the predicted class. The
 * anomaly score is --score-col if given, else "score", else 1 - p_0, else
 * the first column that is not "pred".
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "vigil/eval.h"
#include "vigil/mem.h"
#include "vigil/plot.h"
#include "vigil/reader.h"

/* Class id of a "p_<c>" column name, or -1. */
static long proba_class(const char *name)
{
    if (strncmp(name, "p_", 2) != 0 || !name[2]) {
        return -1;
    }
    char *end;
    long c = strtol(name + 2, &end, 10);
    return *end || c < 0 || c > 4095 ? -1 : c;
}

static int write_curve_csv(const char *path, const char *xname, const char *yname,
                           const struct vigil_curve *c, long cls, FILE *f)
{
    (void)path;
    for (size_t i = 0; i < c->n; i++) {
        if (cls >= 0) {
            fprintf(f, "%ld,", cls);
        } else {
            fputs("anomaly,", f);
        }
        fprintf(f, "%.9g,%.9g,%.9g\n", c->thr[i], c->x[i], c->y[i]);
    }
    (void)xname;
    (void)yname;
    return ferror(f) ? -EIO : 0;
}

/*
 * Writes roc.csv, pr.csv, roc.png and pr.png in dir: the binary curve and one
 * curve per class column (one vs rest), at most 7 classes drawn.
 */
static int write_plots(const char *dir, const int32_t *y, size_t n, const double *anom,
                       const double *proba, size_t n_proba, const struct vigil_eval_report *r)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        return cli_fail("%s: %s", dir, strerror(errno));
    }
    char path[4096];
    size_t nc = n_proba > 7 ? 7 : n_proba;
    struct vigil_curve cv[2][8];
    memset(cv, 0, sizeof cv);
    char labels[2][8][96];
    int32_t *pos = vigil_mallocarray(n, sizeof *pos);
    double *col = vigil_mallocarray(n, sizeof *col);
    int rc = CLI_FAIL;
    if (!pos || !col) {
        rc = cli_fail("out of memory");
        goto done;
    }
    for (size_t k = 0; k <= nc; k++) {
        const double *s = anom;
        if (k == 0) {
            for (size_t i = 0; i < n; i++) {
                pos[i] = y[i] != 0;
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                pos[i] = (size_t)y[i] == k - 1;
                col[i] = proba[i * n_proba + k - 1];
            }
            s = col;
        }
        if (vigil_eval_roc_curve(s, pos, n, &cv[0][k]) || vigil_eval_pr_curve(s, pos, n, &cv[1][k])) {
            rc = cli_fail("out of memory");
            goto done;
        }
        double auc = k ? r->cls[k - 1].roc_auc : r->roc_auc;
        double ap = k ? r->cls[k - 1].ap : r->ap;
        char what[32];
        snprintf(what, sizeof what, k ? "class %zu" : "anomaly", k - 1);
        snprintf(labels[0][k], sizeof labels[0][k], isnan(auc) ? "%s (AUC undefined)" : "%s (AUC %.3f)",
                 what, auc);
        snprintf(labels[1][k], sizeof labels[1][k], isnan(ap) ? "%s (AP undefined)" : "%s (AP %.3f)",
                 what, ap);
    }
    static const char *const names[2] = {"roc", "pr"};
    static const char *const heads[2] = {"curve,threshold,fpr,tpr\n", "curve,threshold,recall,precision\n"};
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "%s/%s.csv", dir, names[w]);
        FILE *f = fopen(path, "w");
        if (!f) {
            rc = cli_fail("%s: %s", path, strerror(errno));
            goto done;
        }
        fputs(heads[w], f);
        int e = 0;
        for (size_t k = 0; k <= nc && !e; k++) {
            e = write_curve_csv(path, NULL, NULL, &cv[w][k], k ? (long)k - 1 : -1, f);
        }
        if (fclose(f) != 0 || e) {
            rc = cli_fail("%s: write failed", path);
            goto done;
        }
        struct vigil_plot_line lines[8];
        for (size_t k = 0; k <= nc; k++) {
            lines[k] = (struct vigil_plot_line){cv[w][k].x, cv[w][k].y, cv[w][k].n, labels[w][k]};
        }
        struct vigil_plot p = {.title = w ? "Precision-recall (one vs rest)" : "ROC (one vs rest)",
                               .xlabel = w ? "recall" : "false positive rate",
                               .ylabel = w ? "precision" : "true positive rate",
                               .x0 = 0,
                               .x1 = 1,
                               .y0 = 0,
                               .y1 = 1.02,
                               .diagonal = !w,
                               .legend = w ? VIGIL_PLOT_LOWER_LEFT : VIGIL_PLOT_LOWER_RIGHT};
        snprintf(path, sizeof path, "%s/%s.png", dir, names[w]);
        e = vigil_plot_lines_png(path, &p, lines, nc + 1);
        if (e) {
            rc = cli_fail("%s: %s", path, vigil_strerror(e));
            goto done;
        }
    }
    rc = CLI_OK;
done:
    for (int w = 0; w < 2; w++) {
        for (size_t k = 0; k < 8; k++) {
            vigil_curve_fini(&cv[w][k]);
        }
    }
    vigil_free(pos);
    vigil_free(col);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option lo[] = {
        {"labels", required_argument, NULL, 'l'},
        {"scores", required_argument, NULL, 's'},
        {"score-col", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"plot", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *labels = NULL, *scores = NULL, *score_col = NULL, *plot = NULL;
    int json = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        switch (ch) {
        case 'l':
            labels = optarg;
            break;
        case 's':
            scores = optarg;
            break;
        case 'S':
            score_col = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'p':
            plot = optarg;
            break;
        case 'h':
            printf("usage: vigil %s\n\n"
                   "      --labels FILE     one class id per row, 0 = normal\n"
                   "      --scores CSV      output of vigil score (header row)\n"
                   "      --score-col NAME  column used as the anomaly score\n"
                   "      --json            one JSON object instead of tables\n"
                   "      --plot DIR        write roc.csv, pr.csv, roc.png, pr.png in DIR\n",
                   cli_find("eval")->usage);
            return CLI_OK;
        case ':':
            return cli_usage("eval", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("eval", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return cli_usage("eval", "unexpected argument '%s'", argv[optind]);
    }
    if (!labels || !scores) {
        return cli_usage("eval", "--labels and --scores are required");
    }
    struct vigil_frame fr;
    struct vigil_diag d;
    struct vigil_eval_report r;
    int32_t *y = NULL, *pred = NULL;
    double *anom = NULL, *proba = NULL;
    size_t ny = 0;
    int rc = CLI_FAIL;
    memset(&r, 0, sizeof r);
    vigil_frame_init(&fr);
    vigil_diag_clear(&d);
    int e = vigil_labels_read(labels, &y, &ny, &d);
    if (e) {
        rc = cli_fail_diag(labels, &d, e);
        goto done;
    }
    struct vigil_read_opts ro;
    vigil_read_opts_default(&ro);
    ro.format = VIGIL_FMT_DELIMITED;
    ro.header = 1;
    e = vigil_frame_read(&fr, scores, &ro, NULL, &d);
    if (e) {
        rc = cli_fail_diag(scores, &d, e);
        goto done;
    }
    if (ny != fr.n) {
        rc = cli_fail("%s: %zu labels, but %s has %zu rows", labels, ny, scores, fr.n);
        goto done;
    }
    for (size_t i = 0; i < ny; i++) {
        if (y[i] < 0) {
            rc = cli_fail("%s:%zu: negative class id %d", labels, i + 1, (int)y[i]);
            goto done;
        }
    }
    long jscore = -1, jpred = -1, j0 = -1;
    size_t n_proba = 0;
    for (size_t j = 0; j < fr.f; j++) {
        const char *nm = fr.cols.v[j].key;
        long c = proba_class(nm);
        if (score_col && strcmp(nm, score_col) == 0) {
            jscore = (long)j;
        } else if (!score_col && strcmp(nm, "score") == 0) {
            jscore = (long)j;
        }
        if (strcmp(nm, "pred") == 0) {
            jpred = (long)j;
        }
        if (c == 0) {
            j0 = (long)j;
        }
        if (c >= 0 && (size_t)c + 1 > n_proba) {
            n_proba = (size_t)c + 1;
        }
    }
    if (score_col && jscore < 0) {
        rc = cli_fail("%s: no column named '%s'", scores, score_col);
        goto done;
    }
    if (jscore < 0 && j0 < 0) {
        for (size_t j = 0; j < fr.f && jscore < 0; j++) {
            if ((long)j != jpred) {
                jscore = (long)j;
            }
        }
        if (jscore < 0) {
            rc = cli_fail("%s: no score column", scores);
            goto done;
        }
    }
    size_t n = fr.n;
    anom = vigil_mallocarray(n, sizeof *anom);
    proba = n_proba ? vigil_mallocarray(n * n_proba, sizeof *proba) : NULL;
    pred = jpred >= 0 ? vigil_mallocarray(n, sizeof *pred) : NULL;
    if (!anom || (n_proba && !proba) || (jpred >= 0 && !pred)) {
        rc = cli_fail("out of memory");
        goto done;
    }
    for (size_t i = 0; i < n * n_proba; i++) {
        proba[i] = NAN;
    }
    for (size_t i = 0; i < n; i++) {
        const float *row = vigil_frame_row(&fr, i);
        anom[i] = jscore >= 0 ? (double)row[jscore] : 1.0 - (double)row[j0];
        for (size_t j = 0; j < fr.f; j++) {
            long c = proba_class(fr.cols.v[j].key);
            if (c >= 0) {
                proba[i * n_proba + (size_t)c] = (double)row[j];
            }
        }
        if (pred) {
            float v = row[jpred];
            if (!(v >= 0 && v < 4096)) {
                rc = cli_fail("%s: row %zu: pred must be a class id, got %g", scores, i + 1,
                              (double)v);
                goto done;
            }
            pred[i] = (int32_t)v;
        }
    }
    e = vigil_eval_report_build(&r, y, n, anom, proba, n_proba, pred);
    if (e) {
        rc = cli_fail("%s", vigil_strerror(e));
        goto done;
    }
    struct vigil_buf b;
    vigil_buf_init(&b);
    e = json ? vigil_eval_report_json(&r, &b) : vigil_eval_report_text(&r, &b);
    if (!e) {
        if (!json) {
            printf("scores %s (anomaly score: %s), labels %s\n", scores,
                   jscore >= 0 ? fr.cols.v[jscore].key : "1 - p_0", labels);
        }
        fputs(b.p, stdout);
    }
    vigil_buf_fini(&b);
    if (e) {
        rc = cli_fail("out of memory");
        goto done;
    }
    if (plot) {
        rc = write_plots(plot, y, n, anom, proba, n_proba, &r);
        vigil_plot_cleanup();
        if (rc != CLI_OK) {
            goto done;
        }
        if (!json) {
            printf("curves: %s/roc.csv %s/pr.csv %s/roc.png %s/pr.png\n", plot, plot, plot, plot);
        }
    }
    rc = CLI_OK;
done:
    vigil_eval_report_fini(&r);
    vigil_free(y);
    vigil_free(pred);
    vigil_free(anom);
    vigil_free(proba);
    vigil_frame_fini(&fr);
    return rc;
}
