/*
 * vigil explain: the anomalous segments a reconstruction model (lstm-ae,
 * pca, kmeans) finds in a data file, each with its entity and group, its
 * intensity (MSE / threshold), the feature sets that explain 90% of the
 * error of its points and the share of points each set explains ("57.4% of
 * points are characterized by ..."), and each feature's share of the
 * segment's error. --errors writes the per-feature squared errors of every
 * row as CSV (for root-cause evaluation), --json one object for tools.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "recon_cli.h"
#include "vigil/explain.h"
#include "vigil/mem.h"

struct explain_args {
    const char *model, *data, *errors;
    int64_t from, to;
    int has_from, has_to, json, quiet;
    double cover;
    long min_len, sets, features;
};

static void print_time(FILE *f, const struct cli_recon *r, size_t row)
{
    if (!r->feat.has_time) {
        return;
    }
    time_t s = (time_t)(r->feat.ts[row] / 1000000000);
    struct tm tm;
    char buf[40];
    gmtime_r(&s, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fputs(buf, f);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static void print_text(const struct cli_recon *r, const struct vigil_explain *ex,
                       const struct explain_args *a, size_t from, size_t to)
{
    size_t points = 0;
    for (size_t k = 0; k < ex->n_seg; k++) {
        points += ex->seg[k].end - ex->seg[k].start + 1;
    }
    printf("%s (%s, %zu group%s), %s: rows %zu-%zu, %zu anomalous segment%s, %zu points\n",
           a->model, r->b.ops->name, r->n_groups, r->n_groups == 1 ? "" : "s", a->data, from,
           to ? to - 1 : 0, ex->n_seg, ex->n_seg == 1 ? "" : "s", points);
    for (size_t k = 0; k < ex->n_seg; k++) {
        const struct vigil_explain_seg *s = &ex->seg[k];
        const struct cli_recon_group *g = &r->g[s->group];
        printf("\nsegment %zu: %s%sgroup %s, rows %zu-%zu (%zu point%s)", k + 1,
               g->entity ? g->entity : "", g->entity ? " " : "", g->name, s->start, s->end,
               s->end - s->start + 1, s->end == s->start ? "" : "s");
        if (r->feat.has_time) {
            fputs(", ", stdout);
            print_time(stdout, r, s->start);
            fputs(" - ", stdout);
            print_time(stdout, r, s->end);
        }
        printf(", intensity peak %.3g mean %.3g\n", s->peak, s->mean);
        for (size_t i = 0; i < s->n_sets && i < (size_t)a->sets; i++) {
            printf("  %5.1f%% of points are characterized by ", 100.0 * s->sets[i].share);
            for (size_t j = 0; j < s->sets[i].n_feat; j++) {
                printf("%s%s", j ? ", " : "", cli_recon_feature(r, s->sets[i].feat[j]));
            }
            printf("\n");
        }
        if (s->n_sets > (size_t)a->sets) {
            printf("  (%zu more sets)\n", s->n_sets - (size_t)a->sets);
        }
        printf("  error share:");
        for (size_t j = 0; j < s->n_feat && j < (size_t)a->features; j++) {
            printf("%s %s %.1f%%", j ? "," : "", cli_recon_feature(r, s->feat[j]),
                   100.0 * s->feat_share[j]);
        }
        printf("\n");
    }
}

static void print_json(const struct cli_recon *r, const struct vigil_explain *ex,
                       const struct explain_args *a, size_t from, size_t to)
{
    printf("{\"model\":");
    json_str(stdout, a->model);
    printf(",\"kind\":");
    json_str(stdout, r->b.ops->name);
    printf(",\"data\":");
    json_str(stdout, a->data);
    printf(",\"from_row\":%zu,\"to_row\":%zu,\"cover\":%g,\"groups\":[", from, to ? to - 1 : 0,
           a->cover);
    for (size_t g = 0; g < r->n_groups; g++) {
        printf("%s{\"entity\":", g ? "," : "");
        if (r->g[g].entity) {
            json_str(stdout, r->g[g].entity);
        } else {
            printf("null");
        }
        printf(",\"group\":");
        json_str(stdout, r->g[g].name);
        printf(",\"threshold\":%.9g}", r->g[g].thr);
    }
    printf("],\"segments\":[");
    for (size_t k = 0; k < ex->n_seg; k++) {
        const struct vigil_explain_seg *s = &ex->seg[k];
        printf("%s\n{\"group_index\":%zu,\"start_row\":%zu,\"end_row\":%zu,", k ? "," : "",
               s->group, s->start, s->end);
        if (r->feat.has_time) {
            printf("\"start\":\"");
            print_time(stdout, r, s->start);
            printf("\",\"end\":\"");
            print_time(stdout, r, s->end);
            printf("\",");
        }
        printf("\"points\":%zu,\"peak\":%.6g,\"mean\":%.6g,\"sets\":[", s->end - s->start + 1,
               s->peak, s->mean);
        for (size_t i = 0; i < s->n_sets; i++) {
            printf("%s{\"share\":%.6g,\"features\":[", i ? "," : "", s->sets[i].share);
            for (size_t j = 0; j < s->sets[i].n_feat; j++) {
                printf("%s", j ? "," : "");
                json_str(stdout, cli_recon_feature(r, s->sets[i].feat[j]));
            }
            printf("]}");
        }
        printf("],\"error_share\":[");
        for (size_t j = 0; j < s->n_feat; j++) {
            printf("%s{\"feature\":", j ? "," : "");
            json_str(stdout, cli_recon_feature(r, s->feat[j]));
            printf(",\"share\":%.6g}", s->feat_share[j]);
        }
        printf("]}");
    }
    printf("\n]}\n");
}

/* row, then one column per feature: the squared errors (empty = not scored). */
static int write_errors(const struct cli_recon *r, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        return cli_fail("%s: %s", path, strerror(errno));
    }
    fputs("row", f);
    for (size_t j = 0; j < r->f; j++) {
        fprintf(f, ",%s", cli_recon_feature(r, j));
    }
    fputc('\n', f);
    for (size_t t = 0; t < r->n; t++) {
        fprintf(f, "%zu", t);
        for (size_t j = 0; j < r->f; j++) {
            float v = r->se[t * r->f + j];
            if (v == v) {
                fprintf(f, ",%.6g", (double)v);
            } else {
                fputc(',', f);
            }
        }
        fputc('\n', f);
    }
    int bad = ferror(f) != 0;
    if (f != stdout && fclose(f) != 0) {
        bad = 1;
    }
    return bad ? cli_fail("%s: write failed", path) : CLI_OK;
}

static int usage_help(void)
{
    printf("usage: vigil %s\n\n"
           "  --from T          first time considered (epoch seconds or ISO 8601 UTC;\n"
           "                    rows count as seconds when the data has no time column)\n"
           "  --to T            end of the range (exclusive)\n"
           "  --cover C         share of the error a feature set explains (default 0.9)\n"
           "  --min-len N       drop segments shorter than N points (default 1)\n"
           "  --sets N          feature sets shown per segment (default 3)\n"
           "  --features N      features shown in the error shares (default 5)\n"
           "  --errors FILE     write every row's per-feature squared errors as CSV\n"
           "  --json            one JSON object on stdout instead of text\n"
           "  -q, --quiet       no text report (with --errors)\n",
           cli_find("explain")->usage);
    return CLI_OK;
}

static long parse_count(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= lo && v <= hi ? v : -1;
}

int cmd_explain(int argc, char **argv)
{
    enum { O_FROM = 1000, O_TO, O_COVER, O_MIN, O_SETS, O_FEAT, O_ERR, O_JSON };
    static const struct option lo[] = {
        {"from", required_argument, NULL, O_FROM},  {"to", required_argument, NULL, O_TO},
        {"cover", required_argument, NULL, O_COVER}, {"min-len", required_argument, NULL, O_MIN},
        {"sets", required_argument, NULL, O_SETS},  {"features", required_argument, NULL, O_FEAT},
        {"errors", required_argument, NULL, O_ERR}, {"json", no_argument, NULL, O_JSON},
        {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct explain_args a = {.cover = 0.9, .min_len = 1, .sets = 3, .features = 5};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":qh", lo, NULL)) != -1) {
        char *end;
        switch (ch) {
        case O_FROM:
        case O_TO:
            if (cli_parse_time(optarg, ch == O_FROM ? &a.from : &a.to) != 0) {
                return cli_usage("explain", "--%s: expected epoch seconds or an ISO 8601 time, "
                                            "got '%s'", ch == O_FROM ? "from" : "to", optarg);
            }
            *(ch == O_FROM ? &a.has_from : &a.has_to) = 1;
            break;
        case O_COVER:
            a.cover = strtod(optarg, &end);
            if (end == optarg || *end || !(a.cover > 0.0 && a.cover <= 1.0)) {
                return cli_usage("explain", "--cover: expected a number in (0, 1], got '%s'",
                                 optarg);
            }
            break;
        case O_MIN:
        case O_SETS:
        case O_FEAT: {
            long v = parse_count(optarg, 1, 1000000);
            if (v < 0) {
                return cli_usage("explain", "'%s': expected a count >= 1, got '%s'",
                                 argv[optind - 1], optarg);
            }
            *(ch == O_MIN ? &a.min_len : ch == O_SETS ? &a.sets : &a.features) = v;
            break;
        }
        case O_ERR:
            a.errors = optarg;
            break;
        case O_JSON:
            a.json = 1;
            break;
        case 'q':
            a.quiet = 1;
            break;
        case 'h':
            return usage_help();
        case ':':
            return cli_usage("explain", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("explain", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) {
        return cli_usage("explain", "expected MODEL_FILE and DATA");
    }
    a.model = argv[optind];
    a.data = argv[optind + 1];
    struct cli_recon r;
    if (cli_recon_load(&r, a.model, a.data) != CLI_OK) {
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    size_t from = a.has_from ? cli_recon_row_at(&r, a.from) : 0;
    size_t to = a.has_to ? cli_recon_row_at(&r, a.to) : r.n;
    if (to < from) {
        to = from;
    }
    if (a.errors) {
        rc = write_errors(&r, a.errors);
    }
    if (rc == CLI_OK && !(a.quiet && !a.json)) {
        struct vigil_explain ex;
        memset(&ex, 0, sizeof ex);
        double *thr = vigil_mallocarray(r.n_groups ? r.n_groups : 1, sizeof *thr);
        int e = thr ? 0 : -ENOMEM;
        for (size_t g = 0; thr && g < r.n_groups; g++) {
            thr[g] = r.g[g].thr;
        }
        if (!e && to > from) {
            struct vigil_explain_opts o = {.cover = a.cover, .from = from, .to = to,
                                           .min_len = (size_t)a.min_len};
            e = vigil_explain_segments(&ex, r.se, r.n, r.f, r.fgroup, thr, r.n_groups, &o);
        }
        if (e) {
            rc = cli_fail("explain: %s", vigil_strerror(e));
        } else if (a.json) {
            print_json(&r, &ex, &a, from, to);
        } else {
            print_text(&r, &ex, &a, from, to);
        }
        vigil_explain_fini(&ex);
        vigil_free(thr);
    }
    cli_recon_fini(&r);
    return rc;
}
