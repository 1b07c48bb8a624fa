/*
 * vigil score: applies a model file (bundle) to a data file and writes one
 * CSV row per feature row: for a classifier p_<class> per class (class ids as
 * in the training labels, 0 = normal) and "pred"; for other models their own
 * columns ("score", "score_cpu", ...). Without resampling (the default) that
 * is one row per input row. Missing values are empty fields.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vigil/bundle.h"
#include "vigil/mem.h"
#include "vigil/prep.h"
#include "vigil/reader.h"

static int write_csv(FILE *f, const struct vigil_bundle *b, const float *out, size_t n)
{
    for (size_t j = 0; j < b->n_out; j++) {
        fprintf(f, "%s%s", j ? "," : "", b->out_names[j]);
    }
    fputc('\n', f);
    char line[64];
    for (size_t i = 0; i < n; i++) {
        const float *o = out + i * b->n_out;
        for (size_t j = 0; j < b->n_out; j++) {
            if (j) {
                fputc(',', f);
            }
            if (o[j] != o[j]) {
                continue;
            }
            int len = snprintf(line, sizeof line, "%.6g", (double)o[j]);
            fwrite(line, 1, (size_t)len, f);
        }
        fputc('\n', f);
    }
    return ferror(f) ? -EIO : 0;
}

int cmd_score(int argc, char **argv)
{
    static const struct option lo[] = {
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = "-";
    int quiet = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":o:qh", lo, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out_path = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            printf("usage: vigil %s\n\n"
                   "  -o, --output FILE   CSV to write ('-' = stdout, the default)\n"
                   "  -q, --quiet         no summary on stderr\n",
                   cli_find("score")->usage);
            return CLI_OK;
        case ':':
            return cli_usage("score", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("score", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) {
        return cli_usage("score", "expected MODEL_FILE and DATA");
    }
    const char *model_path = argv[optind], *data_path = argv[optind + 1];
    struct vigil_bundle b;
    struct vigil_frame fr, feat;
    struct vigil_diag d;
    float *out = NULL;
    int rc = CLI_FAIL;
    vigil_frame_init(&fr);
    vigil_frame_init(&feat);
    vigil_diag_clear(&d);
    int e = vigil_bundle_load(&b, model_path, &d);
    if (e) {
        return cli_fail_diag(model_path, &d, e);
    }
    e = vigil_frame_read(&fr, data_path, NULL, NULL, &d);
    if (e) {
        rc = cli_fail_diag(data_path, &d, e);
        goto done;
    }
    e = vigil_prep_apply(b.prep, &fr, &feat, &d);
    if (e) {
        if (e == VIGIL_ESHAPE) {
            rc = cli_fail("%s: %s (the model %s was trained on %zu series)", data_path, d.msg,
                          model_path, vigil_prep_n_series(b.prep));
        } else {
            rc = cli_fail_diag(data_path, &d, e);
        }
        goto done;
    }
    out = vigil_mallocarray(feat.n ? feat.n * b.n_out : 1, sizeof *out);
    if (!out) {
        rc = cli_fail("out of memory");
        goto done;
    }
    e = vigil_bundle_score(&b, feat.x, feat.n, feat.f, out);
    if (e) {
        rc = cli_fail("%s: scoring failed: %s", model_path, vigil_strerror(e));
        goto done;
    }
    FILE *f = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
    if (!f) {
        rc = cli_fail("%s: %s", out_path, strerror(errno));
        goto done;
    }
    e = write_csv(f, &b, out, feat.n);
    if (f != stdout && fclose(f) != 0 && !e) {
        e = -EIO;
    }
    if (e) {
        rc = cli_fail("%s: write failed", out_path);
        goto done;
    }
    if (!quiet && f != stdout) {
        fprintf(stderr, "scored %zu rows with %s (%s, %zu columns) -> %s\n", feat.n, model_path,
                b.ops->name, b.n_out, out_path);
    }
    rc = CLI_OK;
done:
    vigil_free(out);
    vigil_frame_fini(&feat);
    vigil_frame_fini(&fr);
    vigil_bundle_fini(&b);
    return rc;
}
