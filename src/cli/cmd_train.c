/*
 * vigil train: reads a data file (any layout the reader knows) and optional
 * labels, fits the preprocessing chain and a model from the registry, and
 * writes a model file (a bundle: see bundle.h). It is generic: the model's
 * option table becomes flags (--trees for rf, --epochs for lstm-ae), and so
 * do the preprocessing and grouping options. Values come from defaults, then
 * the config file (-c, sections named after the model, "prep" and
 * "groups"), then flags. --cv K also runs stratified k-fold
 * cross-validation of the model on the training features.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "optflags.h"
#include "vigil/bundle.h"
#include "vigil/clock.h"
#include "vigil/config.h"
#include "vigil/eval.h"
#include "vigil/groups.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/opt.h"
#include "vigil/prep.h"
#include "vigil/reader.h"
#include "vigil/rf.h"

/* Below CLI_OPTFLAGS_BASE, where the table flags start. */
enum {
    OPT_SEED = 500,
    OPT_THREADS,
    OPT_PER_ENTITY,
    OPT_TRAIN,
    OPT_LABELS,
    OPT_CV,
    OPT_CV_SHUFFLE,
};

static const struct option fixed_opts[] = {
    {"model", required_argument, NULL, 'm'},
    {"config", required_argument, NULL, 'c'},
    {"output", required_argument, NULL, 'o'},
    {"seed", required_argument, NULL, OPT_SEED},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"per-entity", no_argument, NULL, OPT_PER_ENTITY},
    {"train", required_argument, NULL, OPT_TRAIN},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"cv", required_argument, NULL, OPT_CV},
    {"cv-shuffle", no_argument, NULL, OPT_CV_SHUFFLE},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Finds "-X VALUE", "-XVALUE", "--long VALUE" or "--long=VALUE" before getopt runs. */
static const char *prescan(int argc, char **argv, char shrt, const char *lng)
{
    size_t ll = strlen(lng);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            break;
        }
        if (a[0] == '-' && a[1] == shrt) {
            return a[2] ? a + 2 : (i + 1 < argc ? argv[i + 1] : NULL);
        }
        if (a[0] == '-' && a[1] == '-' && strncmp(a + 2, lng, ll) == 0) {
            if (a[2 + ll] == '=') {
                return a + 3 + ll;
            }
            if (a[2 + ll] == '\0') {
                return i + 1 < argc ? argv[i + 1] : NULL;
            }
        }
    }
    return NULL;
}

static void print_help(const struct vigil_model_ops *ops)
{
    const struct cli_cmd *c = cli_find("train");
    printf("usage: vigil %s\n\n", c->usage);
    printf("  -m, --model MODEL     model to train (vigil help models)\n"
           "  -c, --config FILE     YAML: sections '<model>:', 'prep:', 'groups:'\n"
           "      --train DATA      training data (Prometheus text, OpenMetrics, CSV...)\n"
           "      --labels FILE     one class id per data row, 0 = normal; an unsupervised model\n"
           "                        then learns from the rows labelled 0 alone (the chain still\n"
           "                        runs over every row, so counter increases stay per step)\n"
           "  -o, --output FILE     model file to write\n"
           "      --seed S          the model's random seed\n"
           "      --threads N       worker threads (default 1)\n"
           "      --per-entity      one model per entity (VM, container, host)\n"
           "      --cv K            also run stratified K-fold cross-validation\n"
           "      --cv-shuffle      shuffle rows within classes before dealing folds\n"
           "  -q, --quiet           print nothing but errors\n");
    struct vigil_buf b;
    vigil_buf_init(&b);
    if (ops) {
        vigil_opt_help(ops->opts, &b);
        printf("\nmodel %s options:\n%s", ops->name, b.p ? b.p : "");
        vigil_buf_reset(&b);
    } else {
        printf("\n(-m MODEL --help lists the model's own options)\n");
    }
    vigil_opt_help(vigil_prep_opts, &b);
    printf("\npreprocessing options:\n%s", b.p ? b.p : "");
    vigil_buf_reset(&b);
    vigil_opt_help(vigil_groups_opts, &b);
    printf("\ngrouping options:\n%s", b.p ? b.p : "");
    vigil_buf_fini(&b);
}

/* Prints the forest's largest impurity importances (rf only). */
static void print_importances(const struct vigil_bundle *b, const struct vigil_frame *feat)
{
    const double *imp;
    size_t f;
    if (b->n_part != 1 || vigil_rf_importances(&b->part[0].m, &imp, &f) != 0 || !feat) {
        return;
    }
    size_t top[10], nt = 0;
    for (size_t k = 0; k < 10 && k < f; k++) {
        size_t best = f;
        for (size_t j = 0; j < f; j++) {
            int used = 0;
            for (size_t q = 0; q < nt; q++) {
                used |= top[q] == j;
            }
            if (!used && (best == f || imp[j] > imp[best])) {
                best = j;
            }
        }
        top[nt++] = best;
    }
    printf("top features (mean decrease in impurity):\n");
    for (size_t k = 0; k < nt; k++) {
        printf("  %6.4f  %s\n", imp[top[k]], feat->cols.v[top[k]].key);
    }
}

int cmd_train(int argc, char **argv)
{
    const char *model = prescan(argc, argv, 'm', "model");
    const char *cfg_path = prescan(argc, argv, 'c', "config");
    const struct vigil_model_ops *ops = model ? vigil_model_find(model) : NULL;
    if (model && !ops) {
        return cli_usage("train", "unknown model '%s' (vigil help models)", model);
    }
    int rc = CLI_FAIL;
    void *params = NULL;
    struct vigil_prep_params pp;
    struct vigil_groups_params gp;
    struct vigil_config cfg;
    struct vigil_frame fr, feat;
    struct vigil_bundle b;
    struct vigil_groups *groups = NULL;
    struct vigil_diag d;
    struct vigil_buf opts_text;
    struct cli_optflags fl;
    int32_t *y = NULL;
    memset(&gp, 0, sizeof gp);
    memset(&b, 0, sizeof b);
    vigil_config_init(&cfg);
    vigil_frame_init(&fr);
    vigil_frame_init(&feat);
    vigil_buf_init(&opts_text);
    vigil_prep_params_default(&pp);
    vigil_diag_clear(&d);
    if (vigil_opt_defaults(vigil_groups_opts, &gp) != 0) {
        rc = cli_fail("out of memory");
        goto done;
    }
    if (ops) {
        params = vigil_calloc(1, ops->params_size ? ops->params_size : 1);
        if (!params || vigil_opt_defaults(ops->opts, params) != 0) {
            rc = cli_fail("out of memory");
            goto done;
        }
    }
    /*
     * Flags: the fixed ones, then the model's, the chain's and the grouping
     * options. getopt_long takes the first exact match, so a model's own
     * "seed" or "threads" entry is reached through the fixed --seed/--threads.
     */
    cli_optflags_init(&fl, fixed_opts);
    if ((ops && cli_optflags_add(&fl, ops->opts, params) != 0) ||
        cli_optflags_add(&fl, vigil_prep_opts, &pp) != 0 ||
        cli_optflags_add(&fl, vigil_groups_opts, &gp) != 0) {
        rc = cli_fail("too many options");
        goto done;
    }

    const char *train = NULL, *labels = NULL, *out = NULL, *seed = NULL;
    int threads = 1, per_entity = 0, cv = 0, cv_shuffle = 0, quiet = 0, help = 0;
    optind = 0; /* full reset: glibc reinitializes getopt */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":m:c:o:qh", fl.lo, NULL)) != -1) {
        if (cli_optflags_take(&fl, ch, optarg)) {
            continue;
        }
        switch (ch) {
        case 'm':
        case 'c':
            break; /* read by the prescan */
        case 'o':
            out = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            help = 1;
            break;
        case OPT_SEED:
            seed = optarg;
            break;
        case OPT_THREADS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                rc = cli_usage("train", "--threads: expected 1..64, got '%s'", optarg);
                goto done;
            }
            threads = (int)v;
            break;
        }
        case OPT_PER_ENTITY:
            per_entity = 1;
            break;
        case OPT_TRAIN:
            train = optarg;
            break;
        case OPT_LABELS:
            labels = optarg;
            break;
        case OPT_CV: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 2 || v > 100) {
                rc = cli_usage("train", "--cv: expected 2..100 folds, got '%s'", optarg);
                goto done;
            }
            cv = (int)v;
            break;
        }
        case OPT_CV_SHUFFLE:
            cv_shuffle = 1;
            break;
        case ':':
            rc = cli_usage("train", "option '%s' needs a value", argv[optind - 1]);
            goto done;
        case '?':
            rc = cli_usage("train", "unknown option '%s'%s", argv[optind - 1],
                           ops ? "" : " (model options need -m MODEL first)");
            goto done;
        default:
            break;
        }
    }
    if (help) {
        print_help(ops);
        rc = CLI_OK;
        goto done;
    }
    /* Defaults, then the config file's sections, then the flags, then the group rules. */
    if (cfg_path) {
        int e = vigil_config_load(&cfg, cfg_path, &d);
        e = e ? e : (ops ? vigil_config_apply(&cfg, ops->name, ops->opts, params, &d) : 0);
        e = e ? e : vigil_config_apply(&cfg, "prep", vigil_prep_opts, &pp, &d);
        e = e ? e : vigil_groups_params_config(&gp, &cfg, &d);
        if (e) {
            rc = cli_fail_diag(cfg_path, &d, e);
            goto done;
        }
    }
    rc = cli_settings_load(&fl, "train", NULL, &cfg, NULL, NULL, NULL, &gp, &groups);
    if (rc != CLI_OK) {
        goto done;
    }
    rc = CLI_FAIL;
    if (optind < argc) {
        rc = cli_usage("train", "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (!ops) {
        rc = cli_usage("train", "-m MODEL is required (vigil help models)");
        goto done;
    }
    if (!train || !out) {
        rc = cli_usage("train", "%s is required", train ? "-o MODEL_FILE" : "--train DATA");
        goto done;
    }
    if (ops->supervised && !labels) {
        rc = cli_usage("train", "model '%s' is supervised: --labels LABELS is required",
                       ops->name);
        goto done;
    }
    if (cv && !ops->supervised) {
        rc = cli_usage("train", "--cv needs a supervised model");
        goto done;
    }
    if (seed) {
        if (!vigil_opt_find(ops->opts, "seed")) {
            rc = cli_usage("train", "model '%s' has no random seed", ops->name);
            goto done;
        }
        int e = vigil_opt_set(ops->opts, params, "seed", seed, strlen(seed), &d);
        if (e) {
            rc = cli_usage("train", "--seed: %s", d.msg);
            goto done;
        }
    }
    const char *why = ops->check ? ops->check(params) : NULL;
    why = why ? why : vigil_prep_check(&pp);
    if (why) {
        rc = cli_usage("train", "%s", why);
        goto done;
    }

    /* Data, labels, groups. */
    int64_t t0 = vigil_clock_mono_ns();
    struct vigil_read_info info;
    int e = vigil_frame_read(&fr, train, NULL, &info, &d);
    if (e) {
        rc = cli_fail_diag(train, &d, e);
        goto done;
    }
    if (labels) {
        size_t ny;
        e = vigil_labels_read(labels, &y, &ny, &d);
        if (e) {
            rc = cli_fail_diag(labels, &d, e);
            goto done;
        }
        if (ny != fr.n) {
            rc = cli_fail("%s: %zu labels, but %s has %zu data rows", labels, ny, train, fr.n);
            goto done;
        }
        if (vigil_frame_alloc_labels(&fr) != 0) {
            rc = cli_fail("out of memory");
            goto done;
        }
        for (size_t i = 0; i < ny; i++) {
            if (y[i] < 0) {
                rc = cli_fail("%s:%zu: negative class id %d", labels, i + 1, (int)y[i]);
                goto done;
            }
            fr.y[i] = y[i];
        }
    }
    /* Labels for an unsupervised model say which rows are normal. */
    pp.normal_only = labels && !ops->supervised;
    if (vigil_groups_apply(groups, &fr.cols) != 0) {
        rc = cli_fail("out of memory");
        goto done;
    }

    /* The options, stored in the model file for people. */
    e = vigil_buf_appendf(&opts_text, "model: %s\n", ops->name);
    e = e ? e : vigil_opt_dump(ops->opts, params, &opts_text);
    e = e ? e : vigil_buf_puts(&opts_text, "prep:\n");
    e = e ? e : vigil_opt_dump(vigil_prep_opts, &pp, &opts_text);
    e = e ? e : vigil_buf_appendf(&opts_text, "per-entity = %d\ntrain = %s\nlabels = %s\n",
                                  per_entity, train, labels ? labels : "");
    if (e) {
        rc = cli_fail("out of memory");
        goto done;
    }
    struct vigil_bundle_train_opts to = {.ops = ops,
                                         .params = params,
                                         .prep = &pp,
                                         .per_entity = per_entity,
                                         .threads = threads,
                                         .progress = !quiet && isatty(STDERR_FILENO),
                                         .options_text = opts_text.p};
    int64_t t1 = vigil_clock_mono_ns();
    e = vigil_bundle_train(&b, &to, &fr, &feat, &d);
    int64_t t2 = vigil_clock_mono_ns();
    if (e) {
        rc = cli_fail_diag(train, &d, e);
        goto done;
    }
    e = vigil_bundle_save(&b, out);
    if (e) {
        rc = cli_fail("%s: cannot write the model file: %s", out, vigil_strerror(e));
        goto done;
    }
    if (!quiet) {
        size_t nd = vigil_prep_n_dropped(b.prep);
        printf("trained %s on %zu rows x %zu features (%zu series read, %zu dropped) in %.2f s "
               "(reading %.2f s); wrote %s\n",
               ops->name, feat.n, feat.f, fr.f, nd, (double)(t2 - t1) / 1e9,
               (double)(t1 - t0) / 1e9, out);
        if (pp.normal_only && feat.y) {
            size_t n0 = 0;
            for (size_t i = 0; i < feat.n; i++) {
                n0 += feat.y[i] == 0;
            }
            printf("  learnt normal from the %zu rows labelled 0\n", n0);
        }
        for (size_t i = 0; i < nd && i < 20; i++) {
            const char *dwhy;
            const char *key = vigil_prep_dropped(b.prep, i, &dwhy);
            printf("  dropped %s (%s)\n", key, dwhy);
        }
        if (b.per_entity) {
            for (size_t i = 0; i < b.n_part; i++) {
                printf("  entity %s: %zu features\n", b.part[i].entity, b.part[i].n_cols);
            }
        }
        print_importances(&b, &feat);
    }
    if (cv) {
        struct vigil_cv_result res;
        uint64_t s = seed ? strtoull(seed, NULL, 10) : 1;
        e = vigil_eval_cv(ops, params, feat.x, feat.y, feat.n, feat.f, cv, cv_shuffle, s,
                          threads, &res);
        if (e) {
            rc = cli_fail("cross-validation: %s", vigil_strerror(e));
            goto done;
        }
        struct vigil_buf t;
        vigil_buf_init(&t);
        e = vigil_cv_result_text(&res, &t);
        if (!e) {
            fputs(t.p, stdout);
        }
        vigil_buf_fini(&t);
        vigil_cv_result_fini(&res);
    }
    rc = CLI_OK;
done:
    if (ops && params) {
        vigil_opt_free(ops->opts, params);
    }
    vigil_free(params);
    vigil_opt_free(vigil_groups_opts, &gp);
    vigil_free(y);
    vigil_groups_free(groups);
    vigil_bundle_fini(&b);
    vigil_frame_fini(&feat);
    vigil_frame_fini(&fr);
    vigil_config_fini(&cfg);
    vigil_buf_fini(&opts_text);
    return rc;
}
