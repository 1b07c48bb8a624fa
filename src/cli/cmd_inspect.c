/*
 * vigil inspect FILE...: what a metrics file holds, before any model sees it.
 * For each file: the detected format (and for delimited text the delimiter,
 * header and time column), rows and series, series by kind and by group
 * after the group rules, entities, time span, step, gaps and the share of
 * missing values. A file that cannot be read gets one line naming
 * file:line:col and the reason; the other files are still inspected, and the
 * exit status is 1 if any failed.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "optflags.h"
#include "vigil/config.h"
#include "vigil/groups.h"
#include "vigil/mem.h"
#include "vigil/reader.h"

#define ENTITIES_SHOWN 8

static const struct option fixed_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: vigil %s\n", cli_find("inspect")->usage);
    fprintf(out, "\nReads each FILE (Prometheus/OpenMetrics text, a directory of scrapes, or\n"
                 "delimited text; gzip is read transparently) and prints its format, series by\n"
                 "kind and by group, entities, time span, step, gaps and NaN share.\n"
                 "\n"
                 "  -c, --config FILE   YAML file; its 'groups:' section sets the group rules\n"
                 "  -h, --help          this text\n"
                 "group options (keys under 'groups:' in the config file):\n");
    struct vigil_buf b;
    vigil_buf_init(&b);
    vigil_opt_help(vigil_groups_opts, &b);
    fputs(b.p ? b.p : "", out);
    vigil_buf_fini(&b);
}

/* ---- formatting ---- */

static const char *delim_name(char d)
{
    switch (d) {
    case ',':
        return "','";
    case ';':
        return "';'";
    case '\t':
        return "tab";
    case ' ':
        return "spaces";
    default:
        return "?";
    }
}

/* ISO 8601 UTC, with milliseconds when there are any. */
static const char *fmt_time(int64_t ns, char *out, size_t n)
{
    int64_t sec = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
    int64_t ms = (ns - sec * 1000000000) / 1000000;
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, n, "%lld ns", (long long)ns);
        return out;
    }
    size_t l = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms) {
        snprintf(out + l, n - l, ".%03lldZ", (long long)ms);
    } else {
        snprintf(out + l, n - l, "Z");
    }
    return out;
}

/* A duration as days, hours, minutes, seconds and milliseconds: "78d18h10m", "15s". */
static const char *fmt_dur(int64_t ns, char *out, size_t n)
{
    static const struct {
        int64_t ns;
        const char *unit;
    } units[] = {{86400000000000, "d"},
                 {3600000000000, "h"},
                 {60000000000, "m"},
                 {1000000000, "s"},
                 {1000000, "ms"}};
    size_t l = 0;
    out[0] = '\0';
    if (ns < 0) {
        l += (size_t)snprintf(out, n, "-");
        ns = -ns;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0] && l < n; i++) {
        int64_t q = ns / units[i].ns;
        if (q) {
            l += (size_t)snprintf(out + l, n - l, "%lld%s", (long long)q, units[i].unit);
            ns -= q * units[i].ns;
        }
    }
    if (out[0] == '\0' || strcmp(out, "-") == 0) {
        snprintf(out + l, n > l ? n - l : 0, ns ? "%lldns" : "0s", (long long)ns);
    }
    return out;
}

/* ---- the summary ---- */

struct entity_count {
    const char *name; /* borrowed from the frame; NULL = host */
    size_t n;
};

/* Counts series per entity (first-seen order). Returns the number of entities, or 0 on OOM. */
static size_t count_entities(const struct vigil_frame *fr, struct entity_count **out)
{
    struct entity_count *e = vigil_calloc(fr->f + 1, sizeof *e);
    size_t n = 0;
    if (!e) {
        return 0;
    }
    for (size_t j = 0; j < fr->f; j++) {
        const char *name = fr->cols.v[j].entity;
        size_t k = 0;
        while (k < n && !(e[k].name == name || (e[k].name && name && !strcmp(e[k].name, name)))) {
            k++;
        }
        if (k == n) {
            e[n++].name = name;
        }
        e[k].n++;
    }
    *out = e;
    return n;
}

static void print_summary(const char *path, const struct vigil_frame *fr,
                          const struct vigil_read_info *info)
{
    char a[64], b[64];
    printf("%s\n", path);
    if (info->format == VIGIL_FMT_DELIMITED) {
        printf("  format      delimited, delimiter %s, header %s, time column ",
               delim_name(info->delim), info->header ? "yes" : "no");
        if (info->time_col >= 0) {
            printf("%d\n", info->time_col + 1);
        } else {
            printf("none\n");
        }
    } else {
        printf("  format      %s, %zu families\n", vigil_format_name(info->format), info->families);
    }
    if (info->files > 1) {
        printf("  files       %zu\n", info->files);
    }
    printf("  lines       %zu\n", info->lines);
    printf("  rows        %zu\n", fr->n);

    size_t kinds[3] = {0}, groups[VIGIL_GROUP_COUNT] = {0};
    for (size_t j = 0; j < fr->f; j++) {
        kinds[fr->cols.v[j].kind < 3 ? fr->cols.v[j].kind : 0]++;
        groups[fr->cols.v[j].group < VIGIL_GROUP_COUNT ? fr->cols.v[j].group : VIGIL_GROUP_OTHER]++;
    }
    printf("  series      %zu: counter %zu, gauge %zu, unknown %zu\n", fr->f,
           kinds[VIGIL_KIND_COUNTER], kinds[VIGIL_KIND_GAUGE], kinds[VIGIL_KIND_UNKNOWN]);
    printf("  groups     ");
    for (int g = 0; g < VIGIL_GROUP_COUNT; g++) {
        printf(" %s %zu%s", vigil_group_name((enum vigil_group)g), groups[g],
               g + 1 < VIGIL_GROUP_COUNT ? "," : "\n");
    }

    struct entity_count *ents = NULL;
    size_t n_ent = count_entities(fr, &ents);
    printf("  entities    %zu", n_ent);
    for (size_t k = 0; k < n_ent && k < ENTITIES_SHOWN; k++) {
        printf("%s %s (%zu)", k ? "," : ":", ents[k].name ? ents[k].name : "host", ents[k].n);
    }
    printf("%s\n", n_ent > ENTITIES_SHOWN ? ", ..." : "");
    vigil_free(ents);

    int64_t step = vigil_frame_step(fr);
    if (!fr->has_time) {
        printf("  time        none (rows numbered, 1 s apart)\n");
    } else if (fr->n) {
        int64_t lo = fr->ts[0], hi = fr->ts[0];
        for (size_t i = 1; i < fr->n; i++) {
            lo = fr->ts[i] < lo ? fr->ts[i] : lo;
            hi = fr->ts[i] > hi ? fr->ts[i] : hi;
        }
        char span[32];
        printf("  time        %s .. %s (span %s)\n", fmt_time(lo, a, sizeof a),
               fmt_time(hi, b, sizeof b), fmt_dur(hi - lo, span, sizeof span));
    }
    if (!fr->has_time) {
        printf("  step        - (no time column)\n");
    } else if (fr->n < 2) {
        printf("  step        - (one row)\n");
    } else {
        /* A gap is a spacing of more than 1.5 steps; its missing steps round. */
        size_t gaps = 0, back = 0;
        int64_t longest = 0, missing = 0;
        for (size_t i = 1; i < fr->n; i++) {
            int64_t dt = fr->ts[i] - fr->ts[i - 1];
            if (dt <= 0) {
                back++;
            } else if (step > 0 && dt * 2 > step * 3) {
                gaps++;
                missing += (dt + step / 2) / step - 1;
                longest = dt > longest ? dt : longest;
            }
        }
        printf("  step        %s (median spacing)\n", fmt_dur(step, a, sizeof a));
        if (gaps) {
            printf(
                "  gaps        %zu (spacing > 1.5 steps), about %lld missing steps, longest %s\n",
                gaps, (long long)missing, fmt_dur(longest, b, sizeof b));
        } else {
            printf("  gaps        0\n");
        }
        if (back) {
            printf("  order       %zu rows not later than the row before them\n", back);
        }
    }
    size_t nan = 0, total = fr->n * fr->f;
    for (size_t i = 0; i < total; i++) {
        nan += isnan(fr->x[i]) ? 1 : 0;
    }
    printf("  NaN share   %.2f %% (%zu of %zu values)\n",
           total ? 100.0 * (double)nan / (double)total : 0.0, nan, total);
    if (fr->y) {
        size_t pos = 0;
        for (size_t i = 0; i < fr->n; i++) {
            pos += fr->y[i] != 0;
        }
        printf("  labels      %zu of %zu rows non-zero\n", pos, fr->n);
    }
}

static int inspect_one(const char *path, const struct vigil_groups *g)
{
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    vigil_frame_init(&fr);
    vigil_diag_clear(&d);
    memset(&info, 0, sizeof info);
    int rc = vigil_frame_read(&fr, path, NULL, &info, &d);
    if (!rc) {
        rc = vigil_groups_apply(g, &fr.cols);
    }
    if (rc) {
        vigil_frame_fini(&fr);
        if (rc == -EIO && !d.msg[0]) {
            vigil_diag_set(&d, d.line, 0, "read error: corrupt or truncated gzip data");
        } else if (rc == VIGIL_EEMPTY && !d.msg[0]) {
            vigil_diag_set(&d, 0, 0, "no data (empty file?)");
        }
        return cli_fail_diag(path, &d, rc);
    }
    print_summary(path, &fr, &info);
    vigil_frame_fini(&fr);
    return CLI_OK;
}

int cmd_inspect(int argc, char **argv)
{
    struct vigil_groups_params gp = {0};
    struct cli_optflags f;
    const char *config = NULL;
    struct vigil_config cfg;
    struct vigil_groups *g = NULL;
    int rc = CLI_OK, c;

    vigil_config_init(&cfg);
    vigil_opt_defaults(vigil_groups_opts, &gp);
    cli_optflags_init(&f, fixed_opts);
    cli_optflags_add(&f, vigil_groups_opts, &gp);
    optind = 0; /* full reset: glibc reinitializes getopt */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:h", f.lo, NULL)) != -1) {
        if (cli_optflags_take(&f, c, optarg)) {
            continue;
        }
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'h':
            usage(stdout);
            goto done;
        default:
            rc = cli_usage("inspect", "unknown or incomplete option '%s'", argv[optind - 1]);
            goto done;
        }
    }
    if (optind >= argc) {
        rc = cli_usage("inspect", "no FILE given");
        goto done;
    }
    rc = cli_settings_load(&f, "inspect", config, &cfg, NULL, NULL, NULL, &gp, &g);
    if (rc) {
        goto done;
    }
    for (int i = optind; i < argc; i++) {
        if (i > optind) {
            printf("\n");
        }
        if (inspect_one(argv[i], g) != CLI_OK) {
            rc = CLI_FAIL;
        }
    }
done:
    vigil_groups_free(g);
    vigil_config_fini(&cfg);
    vigil_opt_free(vigil_groups_opts, &gp);
    return rc;
}
