/*
 * vigil score: applies a model file (bundle) to a data file and writes one
 * CSV row per feature row: for a classifier p_<class> per class (class ids as
 * in the training labels, 0 = normal) and "pred"; for other models their own
 * columns ("score", "score_cpu", ...). Without resampling (the default) that
 * is one row per input row. Missing values are empty fields.
 * --class-weights W0,W1,... re-picks "pred" as argmax_c W_c p_c (a
 * class-prior correction, chosen for instance on out-of-fold train scores as
 * bench/rf_itu_tune.sh does); the probabilities are written unchanged.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

enum { MAX_WEIGHTS = 4096 };

/* Parses "W0,W1,..." (finite, >= 0) into w; returns the count, or -1 with *bad at the field. */
static long parse_weights(const char *s, double *w, int *bad)
{
    long n = 0;
    for (const char *p = s;; n++) {
        char *end;
        double v = strtod(p, &end);
        *bad = (int)n + 1;
        if (end == p || !isfinite(v) || v < 0 || n == MAX_WEIGHTS || (*end && *end != ',')) {
            return -1;
        }
        w[n] = v;
        if (!*end) {
            return n + 1;
        }
        p = end + 1;
    }
}

/* pred = argmax_c w_c p_c over the p_<c> columns (the first maximum wins). */
static int reweight_pred(const struct vigil_bundle *b, float *out, size_t n, const double *w,
                         long nw)
{
    long jpred = -1, np = 0;
    for (size_t j = 0; j < b->n_out; j++) {
        if (strcmp(b->out_names[j], "pred") == 0) {
            jpred = (long)j;
        } else if (strncmp(b->out_names[j], "p_", 2) == 0) {
            np++;
        }
    }
    if (jpred < 0 || np == 0) {
        return cli_fail("--class-weights: the model (%s) gives no class probabilities",
                        b->ops->name);
    }
    if (np != nw) {
        return cli_usage("score", "--class-weights: %ld weights for %ld classes", nw, np);
    }
    for (size_t i = 0; i < n; i++) {
        float *o = out + i * b->n_out;
        double best = -1;
        long c = 0, k = 0;
        for (size_t j = 0; j < b->n_out; j++) {
            if (strncmp(b->out_names[j], "p_", 2) != 0) {
                continue;
            }
            double v = (double)o[j] * w[k];
            if (v > best) {
                best = v;
                c = strtol(b->out_names[j] + 2, NULL, 10);
            }
            k++;
        }
        if (o[jpred] == o[jpred]) { /* rows without a score stay empty */
            o[jpred] = (float)c;
        }
    }
    return CLI_OK;
}

int cmd_score(int argc, char **argv)
{
    static const struct option lo[] = {
        {"output", required_argument, NULL, 'o'},
        {"class-weights", required_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = "-";
    int quiet = 0, bad = 0;
    static double w[MAX_WEIGHTS];
    long nw = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":o:w:qh", lo, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out_path = optarg;
            break;
        case 'w':
            nw = parse_weights(optarg, w, &bad);
            if (nw < 0) {
                return cli_usage("score", "--class-weights: weight %d is not a number >= 0", bad);
            }
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            printf("usage: vigil %s\n\n"
                   "  -o, --output FILE   CSV to write ('-' = stdout, the default)\n"
                   "  -w, --class-weights W0,W1,...\n"
                   "                      pred = argmax of W_c * p_c (one weight per class)\n"
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
    if (nw > 0 && (rc = reweight_pred(&b, out, feat.n, w, nw)) != CLI_OK) {
        goto done;
    }
    rc = CLI_FAIL;
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
