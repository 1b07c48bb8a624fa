/*
 * vigil radiography: for each resource group of a reconstruction model, the
 * density of (the group's reconstruction MSE, a service metric) over the
 * group's anomalous points in a time range, as one PNG of heat maps (the
 * ITC 2020 SYRROCA radiography). The service metric is any column of any
 * file the reader understands, aligned in time with the data: the latest
 * service sample at or before each data row (within two steps), or row by
 * row when either file has no timestamps.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "recon_cli.h"
#include "vigil/mem.h"
#include "vigil/plot.h"
#include "vigil/radio.h"
#include "vigil/reader.h"

/* Column of fr named by s: a series key, a metric name, or a 1-based number. */
static int find_column(const struct vigil_frame *fr, const char *s, size_t *col)
{
    uint32_t id;
    if (vigil_series_find(&fr->cols, s, strlen(s), &id) == 0) {
        *col = id;
        return 0;
    }
    for (size_t j = 0; j < fr->cols.n; j++) {
        if (strcmp(fr->cols.v[j].name, s) == 0) {
            *col = j;
            return 0;
        }
    }
    char *end;
    long k = strtol(s, &end, 10);
    if (end != s && *end == '\0' && k >= 1 && (size_t)k <= fr->f) {
        *col = (size_t)k - 1;
        return 0;
    }
    return -1;
}

/* svc (N): the service value aligned with each data row, NaN where none. */
static void align(double *svc, const struct cli_recon *r, const struct vigil_frame *s, size_t col)
{
    int by_time = r->feat.has_time && s->has_time;
    int64_t step = vigil_frame_step(s), dstep = vigil_frame_step(&r->feat);
    int64_t tol = 2 * (step > dstep ? step : dstep);
    size_t k = 0;
    for (size_t t = 0; t < r->n; t++) {
        svc[t] = NAN;
        if (!by_time) {
            if (t < s->n) {
                svc[t] = (double)vigil_frame_row(s, t)[col];
            }
            continue;
        }
        int64_t ts = r->feat.ts[t];
        while (k + 1 < s->n && s->ts[k + 1] <= ts) {
            k++;
        }
        if (s->n && s->ts[k] <= ts && ts - s->ts[k] <= tol) {
            svc[t] = (double)vigil_frame_row(s, k)[col];
        }
    }
}

static int usage_help(void)
{
    printf("usage: vigil %s\n\n"
           "  --service FILE:COLUMN  the service metric: a column of any data file (series\n"
           "                         key, metric name or 1-based number), aligned in time\n"
           "  -o, --output FILE      PNG to write\n"
           "  --from T, --to T       time range (epoch seconds or ISO 8601 UTC; rows count\n"
           "                         as seconds when the data has no time column)\n"
           "  --grid N               KDE grid cells per axis (default 200)\n"
           "  --all-points           use every scored point, not only the anomalous ones\n"
           "  -q, --quiet            no summary on stderr\n",
           cli_find("radiography")->usage);
    return CLI_OK;
}

int cmd_radiography(int argc, char **argv)
{
    enum { O_SERVICE = 1000, O_FROM, O_TO, O_GRID, O_ALL };
    static const struct option lo[] = {
        {"service", required_argument, NULL, O_SERVICE}, {"output", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, O_FROM},       {"to", required_argument, NULL, O_TO},
        {"grid", required_argument, NULL, O_GRID},       {"all-points", no_argument, NULL, O_ALL},
        {"quiet", no_argument, NULL, 'q'},               {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *service = NULL, *out = NULL;
    int64_t from_ns = 0, to_ns = 0;
    int has_from = 0, has_to = 0, all = 0, quiet = 0;
    long grid = 200;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":o:qh", lo, NULL)) != -1) {
        char *end;
        switch (ch) {
        case O_SERVICE:
            service = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case O_FROM:
        case O_TO:
            if (cli_parse_time(optarg, ch == O_FROM ? &from_ns : &to_ns) != 0) {
                return cli_usage("radiography", "'%s': expected epoch seconds or an ISO 8601 "
                                                "time, got '%s'", argv[optind - 1], optarg);
            }
            *(ch == O_FROM ? &has_from : &has_to) = 1;
            break;
        case O_GRID:
            grid = strtol(optarg, &end, 10);
            if (end == optarg || *end || grid < 2 || grid > 2000) {
                return cli_usage("radiography", "--grid: expected 2..2000, got '%s'", optarg);
            }
            break;
        case O_ALL:
            all = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            return usage_help();
        case ':':
            return cli_usage("radiography", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("radiography", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) {
        return cli_usage("radiography", "expected MODEL_FILE and DATA");
    }
    if (!service || !strchr(service, ':') || strrchr(service, ':') == service ||
        strrchr(service, ':')[1] == '\0') {
        return cli_usage("radiography", "--service FILE:COLUMN is required");
    }
    if (!out) {
        return cli_usage("radiography", "-o FILE.png is required");
    }
    const char *model = argv[optind], *data = argv[optind + 1];
    size_t flen = (size_t)(strrchr(service, ':') - service);
    char *sfile = vigil_strndup(service, flen);
    const char *scol = service + flen + 1;
    struct vigil_frame sfr;
    vigil_frame_init(&sfr);
    struct cli_recon r;
    memset(&r, 0, sizeof r);
    int have_r = 0, rc = CLI_FAIL;
    double *svc = NULL, *xs = NULL, *ys = NULL;
    struct vigil_radio_panel *panels = NULL;
    char (*labels)[3][160] = NULL;
    if (!sfile) {
        rc = cli_fail("out of memory");
        goto done;
    }
    if (cli_recon_load(&r, model, data) != CLI_OK) {
        goto done;
    }
    have_r = 1;
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int e = vigil_frame_read(&sfr, sfile, NULL, NULL, &d);
    if (e) {
        rc = cli_fail_diag(sfile, &d, e);
        goto done;
    }
    size_t col;
    if (find_column(&sfr, scol, &col) != 0) {
        rc = cli_fail("%s: no column '%s' (%zu columns; give a series key, a metric name or a "
                      "1-based number)", sfile, scol, sfr.f);
        goto done;
    }
    size_t from = has_from ? cli_recon_row_at(&r, from_ns) : 0;
    size_t to = has_to ? cli_recon_row_at(&r, to_ns) : r.n;
    size_t ng = r.n_groups;
    svc = vigil_mallocarray(r.n + 1, sizeof *svc);
    xs = vigil_mallocarray(ng * r.n + 1, sizeof *xs);
    ys = vigil_mallocarray(ng * r.n + 1, sizeof *ys);
    panels = vigil_calloc(ng, sizeof *panels);
    labels = vigil_calloc(ng, sizeof *labels);
    if (!svc || !xs || !ys || !panels || !labels) {
        rc = cli_fail("out of memory");
        goto done;
    }
    align(svc, &r, &sfr, col);
    const char *cname = sfr.cols.v[col].key;
    for (size_t g = 0; g < ng; g++) {
        double *x = xs + g * r.n, *y = ys + g * r.n;
        size_t k = 0, fg = 0;
        for (size_t j = 0; j < r.f; j++) {
            fg += r.fgroup[j] == g;
        }
        for (size_t t = from; t < to && fg; t++) {
            double mse = 0.0;
            for (size_t j = 0; j < r.f; j++) {
                if (r.fgroup[j] == g) {
                    mse += (double)r.se[t * r.f + j];
                }
            }
            mse /= (double)fg;
            if (isfinite(mse) && isfinite(svc[t]) && (all || mse > r.g[g].thr)) {
                x[k] = mse;
                y[k] = svc[t];
                k++;
            }
        }
        snprintf(labels[g][0], sizeof labels[g][0], "%s%s%s", r.g[g].entity ? r.g[g].entity : "",
                 r.g[g].entity ? " " : "", r.g[g].name);
        snprintf(labels[g][1], sizeof labels[g][1], "reconstruction MSE (%s)", r.g[g].name);
        snprintf(labels[g][2], sizeof labels[g][2], "%s", cname);
        panels[g] = (struct vigil_radio_panel){labels[g][0], labels[g][1], labels[g][2], x, y, k};
    }
    char title[512];
    snprintf(title, sizeof title, "radiography: %s on %s, service %s", model, data, cname);
    e = vigil_radio_png(out, title, panels, ng, (size_t)grid);
    vigil_plot_cleanup();
    if (e) {
        rc = cli_fail("%s: %s", out, vigil_strerror(e));
        goto done;
    }
    if (!quiet) {
        fprintf(stderr, "radiography of %zu group%s (rows %zu-%zu) -> %s\n", ng,
                ng == 1 ? "" : "s", from, to ? to - 1 : 0, out);
        for (size_t g = 0; g < ng; g++) {
            fprintf(stderr, "  %-24s %zu %s points\n", labels[g][0], panels[g].n,
                    all ? "scored" : "anomalous");
        }
    }
    rc = CLI_OK;
done:
    if (have_r) {
        cli_recon_fini(&r);
    }
    vigil_frame_fini(&sfr);
    vigil_free(sfile);
    vigil_free(svc);
    vigil_free(xs);
    vigil_free(ys);
    vigil_free(panels);
    vigil_free(labels);
    return rc;
}
