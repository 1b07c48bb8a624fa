/*
 * vigil prep [-c CONFIG] FILE -o OUT.csv: runs the preprocessing chain on a
 * metrics file and writes the features as CSV with a header. The chain is
 * fitted on the file itself (the training transform), then applied to it;
 * series dropped as constant or empty are reported on stderr. Options come
 * from the chain's option table: defaults, then the config file's 'prep:'
 * and 'groups:' sections, then flags.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "optflags.h"
#include "vigil/config.h"
#include "vigil/groups.h"
#include "vigil/mem.h"
#include "vigil/prep.h"
#include "vigil/reader.h"

static const struct option fixed_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {0},
};

static void usage(FILE *out)
{
    struct vigil_buf b;
    vigil_buf_init(&b);
    fprintf(out, "usage: vigil %s\n", cli_find("prep")->usage);
    fprintf(out, "\nRuns the preprocessing chain on FILE (counters to increases, resampling, gap\n"
                 "filling, dropping flat series, min-max scaling, optional temporal features),\n"
                 "fitted on FILE itself, and writes the features as CSV with a header.\n"
                 "Dropped series are listed on stderr.\n"
                 "\n"
                 "  -c, --config FILE   YAML file with 'prep:' and 'groups:' sections\n"
                 "  -o, --output OUT    CSV to write ('-' for stdout)\n"
                 "  -h, --help          this text\n"
                 "prep options (keys under 'prep:' in the config file):\n");
    vigil_opt_help(vigil_prep_opts, &b);
    fputs(b.p ? b.p : "", out);
    vigil_buf_reset(&b);
    fprintf(out, "group options (keys under 'groups:'):\n");
    vigil_opt_help(vigil_groups_opts, &b);
    fputs(b.p ? b.p : "", out);
    vigil_buf_fini(&b);
}

struct row_key {
    int64_t ts;
    size_t i;
};

static int cmp_row_key(const void *a, const void *b)
{
    const struct row_key *x = a, *y = b;
    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }
    return (x->i > y->i) - (x->i < y->i); /* stable */
}

/*
 * Puts rows in time order (stable), as resampling needs; returns the number
 * of rows that were out of order (0: nothing done), or -ENOMEM.
 */
static long sort_rows(struct vigil_frame *fr)
{
    long back = 0;
    for (size_t i = 1; i < fr->n; i++) {
        back += fr->ts[i] < fr->ts[i - 1];
    }
    if (!back) {
        return 0;
    }
    struct row_key *k = vigil_mallocarray(fr->n, sizeof *k);
    float *x = vigil_mallocarray(fr->n, fr->f * sizeof *x + 1);
    int64_t *ts = vigil_mallocarray(fr->n, sizeof *ts);
    int32_t *y = fr->y ? vigil_mallocarray(fr->n, sizeof *y) : NULL;
    if (!k || !x || !ts || (fr->y && !y)) {
        vigil_free(k);
        vigil_free(x);
        vigil_free(ts);
        vigil_free(y);
        return -ENOMEM;
    }
    for (size_t i = 0; i < fr->n; i++) {
        k[i] = (struct row_key){fr->ts[i], i};
    }
    qsort(k, fr->n, sizeof *k, cmp_row_key);
    for (size_t i = 0; i < fr->n; i++) {
        memcpy(x + i * fr->f, vigil_frame_row(fr, k[i].i), fr->f * sizeof *x);
        ts[i] = k[i].ts;
        if (y) {
            y[i] = fr->y[k[i].i];
        }
    }
    vigil_free(fr->x);
    vigil_free(fr->ts);
    vigil_free(fr->y);
    fr->x = x;
    fr->ts = ts;
    fr->y = y;
    fr->cap = fr->n;
    vigil_free(k);
    return back;
}

/* Reads, groups, fits, applies and writes. Returns a CLI exit code. */
static int run(const char *in, const char *out_path, const struct vigil_prep_params *p,
               const struct vigil_groups *g)
{
    struct vigil_frame fr, out;
    struct vigil_prep *pp = NULL;
    struct vigil_diag d;
    int rc;
    vigil_frame_init(&fr);
    vigil_frame_init(&out);
    vigil_diag_clear(&d);
    rc = vigil_frame_read(&fr, in, NULL, NULL, &d);
    rc = rc ? rc : vigil_groups_apply(g, &fr.cols);
    if (rc) {
        if (rc == VIGIL_EEMPTY && !d.msg[0]) {
            vigil_diag_set(&d, 0, 0, "no data (empty file?)");
        }
        rc = cli_fail_diag(in, &d, rc);
        goto done;
    }
    if (p->step > 0) {
        long back = sort_rows(&fr);
        if (back < 0) {
            rc = cli_fail("%s: %s", in, vigil_strerror((int)back));
            goto done;
        }
        if (back) {
            fprintf(stderr,
                    "vigil prep: %s: %ld rows were earlier than the row before them; "
                    "sorted by time for resampling\n",
                    in, back);
        }
    }
    rc = vigil_prep_fit(&pp, &fr, p, &d);
    rc = rc ? rc : vigil_prep_apply(pp, &fr, &out, &d);
    if (rc) {
        rc = cli_fail_diag(in, &d, rc);
        goto done;
    }
    for (size_t i = 0; i < vigil_prep_n_dropped(pp); i++) {
        const char *why;
        const char *key = vigil_prep_dropped(pp, i, &why);
        fprintf(stderr, "vigil prep: dropped %s (%s)\n", key, why);
    }
    rc = vigil_frame_write_csv(&out, out_path);
    if (rc) {
        rc = cli_fail("%s: %s", out_path, vigil_strerror(rc));
        goto done;
    }
    fprintf(stderr,
            "vigil prep: %s: %zu rows x %zu series -> %zu rows x %zu features (%zu dropped)\n", in,
            fr.n, fr.f, out.n, out.f, vigil_prep_n_dropped(pp));
    rc = CLI_OK;
done:
    vigil_prep_free(pp);
    vigil_frame_fini(&out);
    vigil_frame_fini(&fr);
    return rc;
}

int cmd_prep(int argc, char **argv)
{
    struct vigil_prep_params p;
    struct vigil_groups_params gp = {0};
    struct cli_optflags f;
    const char *config = NULL, *out_path = NULL;
    struct vigil_config cfg;
    struct vigil_groups *g = NULL;
    int rc = CLI_OK, c;

    vigil_config_init(&cfg);
    vigil_prep_params_default(&p);
    vigil_opt_defaults(vigil_groups_opts, &gp);
    cli_optflags_init(&f, fixed_opts);
    cli_optflags_add(&f, vigil_prep_opts, &p);
    cli_optflags_add(&f, vigil_groups_opts, &gp);
    optind = 0; /* full reset: glibc reinitializes getopt */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:o:h", f.lo, NULL)) != -1) {
        if (cli_optflags_take(&f, c, optarg)) {
            continue;
        }
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            usage(stdout);
            goto done;
        default:
            rc = cli_usage("prep", "unknown or incomplete option '%s'", argv[optind - 1]);
            goto done;
        }
    }
    if (optind + 1 != argc) {
        rc = cli_usage("prep", optind >= argc ? "no FILE given" : "exactly one FILE, got %d",
                       argc - optind);
        goto done;
    }
    if (!out_path) {
        rc = cli_usage("prep", "no output given (-o OUT.csv, '-' for stdout)");
        goto done;
    }
    rc = cli_settings_load(&f, "prep", config, &cfg, "prep", vigil_prep_opts, &p, &gp, &g);
    if (rc) {
        goto done;
    }
    const char *bad = vigil_prep_check(&p);
    if (bad) {
        rc = cli_usage("prep", "%s", bad);
        goto done;
    }
    rc = run(argv[optind], out_path, &p, g);
done:
    vigil_groups_free(g);
    vigil_config_fini(&cfg);
    vigil_opt_free(vigil_groups_opts, &gp);
    return rc;
}
