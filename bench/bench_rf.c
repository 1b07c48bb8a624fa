/*
 * Random Forest timings: training with 1 and 2 threads, batch scoring per
 * row (1 and 2 threads) and single-row latency, after validating that (a) the model bytes are
 * the same with 1 and 2 threads and (b) single-row scores equal batch
 * scores. Medians of several runs, CLOCK_MONOTONIC, fixed seeds.
 *
 *   bench_rf                         synthetic data made here (make bench)
 *   bench_rf --data DIR --name NAME --trees K [--runs R] [--bins B]
 *                                    the raw files bench/rf_sklearn.py writes,
 *                                    one JSON line (bench/rf_vs_sklearn.sh)
 *   bench_rf --data DIR --name NAME --trees K --quality-seeds S [--bins B]
 *                                    test figures of S seeds, medians, no timing
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigil/clock.h"
#include "vigil/eval.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/opt.h"
#include "vigil/rf.h"
#include "vigil/rng.h"

#include "../src/model/internal.h" /* vigil__rf_score_walk: check the walks */

struct data {
    size_t n, f, nte;
    float *xtr, *xte;
    int32_t *ytr, *yte;
    size_t c;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *read_raw(const char *dir, const char *name, const char *ext, size_t elem,
                      size_t *n, size_t *k)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_rf: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    uint32_t h[2];
    void *p = NULL;
    if (fread(h, 4, 2, f) == 2) {
        *n = h[0];
        *k = h[1];
        p = malloc((size_t)h[0] * h[1] * elem);
        if (p && fread(p, elem, (size_t)h[0] * h[1], f) != (size_t)h[0] * h[1]) {
            free(p);
            p = NULL;
        }
    }
    fclose(f);
    if (!p) {
        fprintf(stderr, "bench_rf: %s: short file\n", path);
    }
    return p;
}

static int load_data(struct data *d, const char *dir, const char *name)
{
    size_t k;
    d->xtr = read_raw(dir, name, "xtr", 4, &d->n, &d->f);
    d->ytr = read_raw(dir, name, "ytr", 4, &d->n, &k);
    d->xte = read_raw(dir, name, "xte", 4, &d->nte, &k);
    d->yte = read_raw(dir, name, "yte", 4, &d->nte, &k);
    if (!d->xtr || !d->ytr || !d->xte || !d->yte) {
        return -1;
    }
    d->c = 0;
    for (size_t i = 0; i < d->n; i++) {
        d->c = (size_t)d->ytr[i] + 1 > d->c ? (size_t)d->ytr[i] + 1 : d->c;
    }
    return 0;
}

/* make_classification-like: C=2, inf informative features from class-shifted Gaussians. */
static void synth(struct data *d, size_t n, size_t nte, size_t f, size_t inf, uint64_t seed)
{
    struct vigil_rng r;
    vigil_rng_seed(&r, seed);
    size_t tot = n + nte;
    float *x = malloc(tot * f * sizeof *x);
    int32_t *y = malloc(tot * sizeof *y);
    for (size_t i = 0; i < tot; i++) {
        y[i] = (int32_t)(vigil_rng_u64(&r) & 1);
        for (size_t j = 0; j < f; j++) {
            double shift = j < inf ? ((j * 7 + (size_t)y[i] * 3) % 5 - 2.0) * 0.4 : 0.0;
            x[i * f + j] = (float)(vigil_rng_normal(&r) + shift);
        }
        if (vigil_rng_uniform(&r) < 0.02) {
            y[i] ^= 1;
        }
    }
    d->n = n;
    d->nte = nte;
    d->f = f;
    d->c = 2;
    d->xtr = x;
    d->ytr = y;
    d->xte = x + n * f;
    d->yte = y + n;
}

struct result {
    double fit1_cpu, batch_us_cpu; /* process CPU time: robust when other jobs share the cores */
    double fit1, fit2, batch_us, batch_us_2t, single_med, single_p99, roc, ap, f1;
    double batch_cpu_walk[4]; /* CPU us/row of walk 0 (heap + levels, AVX-512 when the CPU has it), 1 (8 lanes), 2 (plain), 3 (heap + levels, scalar) */
    size_t nodes, depth;
    int identical, consistent, walks_agree;
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fit_once(const struct data *d, struct vigil_rf_params *p, int threads,
                    struct vigil_model *m, double *sec, double *cpu)
{
    const struct vigil_model_ops *ops = vigil_model_find("rf");
    if (vigil_model_init(m, ops, p) != 0) {
        return -1;
    }
    struct vigil_batch b = {.x = d->xtr, .n = d->n, .f = d->f, .y = d->ytr, .n_classes = d->c,
                            .threads = threads};
    double c0 = cpu_now();
    int64_t t0 = vigil_clock_mono_ns();
    int rc = ops->fit(m, &b);
    *sec = (double)(vigil_clock_mono_ns() - t0) / 1e9;
    *cpu = cpu_now() - c0;
    return rc;
}

/* Binary ROC AUC and AP (anomaly = class != 0, score 1 - p_0) and macro-F1 of test scores. */
static void test_figures(const struct data *d, const float *out, double *roc, double *ap,
                         double *f1)
{
    size_t n = d->nte, c = d->c;
    double *s = malloc(n * sizeof *s), *pd = malloc(n * c * sizeof *pd);
    int32_t *pred = malloc(n * sizeof *pred);
    for (size_t i = 0; i < n; i++) {
        s[i] = 1.0 - (double)out[i * c];
        size_t am = 0;
        for (size_t j = 0; j < c; j++) {
            pd[i * c + j] = (double)out[i * c + j];
            am = out[i * c + j] > out[i * c + am] ? j : am;
        }
        pred[i] = (int32_t)am;
    }
    struct vigil_eval_report rep;
    vigil_eval_report_build(&rep, d->yte, n, s, pd, c, pred);
    *roc = rep.roc_auc;
    *ap = rep.ap;
    *f1 = rep.macro_f1;
    vigil_eval_report_fini(&rep);
    free(s);
    free(pd);
    free(pred);
}

static int run(const struct data *d, int trees, int runs, int bins, struct result *res)
{
    const struct vigil_model_ops *ops = vigil_model_find("rf");
    struct vigil_rf_params p = {0};
    vigil_opt_defaults(ops->opts, &p);
    p.trees = trees;
    p.bins = bins;
    p.seed = 1;
    double *t = calloc((size_t)runs + 3, sizeof *t), *tc = calloc((size_t)runs + 3, sizeof *tc);
    struct vigil_buf ref, cur;
    vigil_buf_init(&ref);
    vigil_buf_init(&cur);
    memset(res, 0, sizeof *res);
    res->identical = 1;
    for (int th = 1; th <= 2; th++) {
        for (int r = 0; r < runs; r++) {
            struct vigil_model m;
            if (fit_once(d, &p, th, &m, &t[r], &tc[r]) != 0) {
                fprintf(stderr, "bench_rf: fit failed\n");
                return -1;
            }
            struct vigil_buf *b = (th == 1 && r == 0) ? &ref : &cur;
            vigil_buf_reset(b);
            ops->save(&m, b);
            if (b == &cur && (cur.len != ref.len || memcmp(cur.p, ref.p, cur.len) != 0)) {
                res->identical = 0;
            }
            vigil_model_fini(&m);
        }
        *(th == 1 ? &res->fit1 : &res->fit2) = median(t, (size_t)runs);
        if (th == 1) {
            res->fit1_cpu = median(tc, (size_t)runs);
        }
    }
    /* Score with a model loaded from the reference bytes. */
    struct vigil_model m;
    vigil_model_init(&m, ops, &p);
    if (ops->load(&m, ref.p, ref.len) != 0) {
        return -1;
    }
    size_t n_trees;
    vigil_rf_shape(&m, &n_trees, &res->nodes, &res->depth);
    size_t c = d->c, n = d->nte;
    float *out = calloc(n * c, sizeof *out);
    float *alt = calloc(n * c, sizeof *alt);
    /* Batch: the default walk on 1 thread (wall and CPU), then on 2 threads (wall). */
    for (int th = 1; th <= 2; th++) {
        for (int r = 0; r < (runs < 3 ? 3 : runs); r++) {
            double c0 = cpu_now();
            int64_t t0 = vigil_clock_mono_ns();
            vigil__rf_score_walk(&m, d->xte, n, th == 1 ? out : alt, 0, th);
            t[r] = (double)(vigil_clock_mono_ns() - t0) / 1e3 / (double)n;
            tc[r] = (cpu_now() - c0) * 1e6 / (double)n;
        }
        *(th == 1 ? &res->batch_us : &res->batch_us_2t) = median(t, (size_t)(runs < 3 ? 3 : runs));
        if (th == 1) {
            res->batch_us_cpu = median(tc, (size_t)(runs < 3 ? 3 : runs));
        }
    }
    /* ops->score, 2 threads and every walk give the reference walk's bytes; then each walk's
       CPU time per row on 1 thread. */
    res->walks_agree = memcmp(alt, out, n * c * sizeof *alt) == 0;
    ops->score(&m, d->xte, n, alt);
    res->walks_agree &= memcmp(alt, out, n * c * sizeof *alt) == 0;
    for (int w = 0; w < 4; w++) {
        for (int r = 0; r < (runs < 3 ? 3 : runs); r++) {
            double c0 = cpu_now();
            vigil__rf_score_walk(&m, d->xte, n, alt, w, 1);
            tc[r] = (cpu_now() - c0) * 1e6 / (double)n;
        }
        res->batch_cpu_walk[w] = median(tc, (size_t)(runs < 3 ? 3 : runs));
        if (memcmp(alt, out, n * c * sizeof *alt) != 0) {
            res->walks_agree = 0;
        }
    }
    free(alt);
    /* Single rows: the same numbers as the batch, and their latency. */
    enum { CALLS = 20000 };
    double *lat = malloc(CALLS * sizeof *lat);
    float one[4096];
    res->consistent = 1;
    for (int i = 0; i < CALLS; i++) {
        size_t row = (size_t)i % n;
        int64_t t0 = vigil_clock_mono_ns();
        ops->score(&m, d->xte + row * d->f, 1, one);
        lat[i] = (double)(vigil_clock_mono_ns() - t0) / 1e3;
        if (memcmp(one, out + row * c, c * sizeof *one) != 0) {
            res->consistent = 0;
        }
    }
    qsort(lat, CALLS, sizeof *lat, cmp_double);
    res->single_med = lat[CALLS / 2];
    res->single_p99 = lat[CALLS * 99 / 100];
    test_figures(d, out, &res->roc, &res->ap, &res->f1);
    free(lat);
    free(out);
    free(t);
    free(tc);
    vigil_model_fini(&m);
    vigil_buf_fini(&ref);
    vigil_buf_fini(&cur);
    vigil_opt_free(ops->opts, &p);
    return 0;
}

/* Test figures of `seeds` forests (seeds 1..seeds), no timing: medians for the quality table. */
static int quality(const struct data *d, int trees, int bins, int seeds)
{
    const struct vigil_model_ops *ops = vigil_model_find("rf");
    double roc[64], ap[64], f1[64];
    if (seeds < 1) {
        return -1; /* no forest, no median */
    }
    if (seeds > 64) {
        seeds = 64;
    }
    size_t n = d->nte, c = d->c;
    float *out = malloc(n * c * sizeof *out);
    for (int k = 0; k < seeds; k++) {
        struct vigil_rf_params p = {0};
        vigil_opt_defaults(ops->opts, &p);
        p.trees = trees;
        p.bins = bins;
        p.seed = k + 1;
        struct vigil_model m;
        double t, tc;
        if (fit_once(d, &p, 2, &m, &t, &tc) != 0) {
            return -1;
        }
        ops->score(&m, d->xte, n, out);
        test_figures(d, out, &roc[k], &ap[k], &f1[k]);
        vigil_model_fini(&m);
        vigil_opt_free(ops->opts, &p);
    }
    printf("{\"impl\": \"vigil\", \"bins\": %d, \"seeds\": %d, \"ap\": [", bins, seeds);
    for (int k = 0; k < seeds; k++) {
        printf("%s%.4f", k ? ", " : "", ap[k]);
    }
    printf("], \"roc_auc_median\": %.4f, \"ap_median\": %.4f, \"macro_f1_median\": %.4f}\n",
           median(roc, (size_t)seeds), median(ap, (size_t)seeds), median(f1, (size_t)seeds));
    free(out);
    return 0;
}

static void print_human(const char *what, const struct data *d, int trees, int bins,
                        const struct result *r)
{
    printf("%s: %zu x %zu, %d trees, bins %d: %zu nodes, depth %zu\n", what, d->n, d->f, trees,
           bins, r->nodes, r->depth);
    printf("  validate: 1- and 2-thread models identical: %s; single rows = batch: %s; "
           "walks = reference: %s\n",
           r->identical ? "yes" : "NO", r->consistent ? "yes" : "NO",
           r->walks_agree ? "yes" : "NO");
    printf("  walks   cpu us/row: default %.3f, scalar heap + levels %.3f, 8 lanes %.3f, plain %.3f\n",
           r->batch_cpu_walk[0], r->batch_cpu_walk[3], r->batch_cpu_walk[1], r->batch_cpu_walk[2]);
    printf("  fit     1 thread %8.3f s (cpu %.3f s)   2 threads %8.3f s (%.2fx)\n", r->fit1,
           r->fit1_cpu, r->fit2, r->fit1 / r->fit2);
    printf("  score   batch %8.3f us/row (cpu %.3f), 2 threads %.3f   single row median %.2f us, "
           "p99 %.2f us\n",
           r->batch_us, r->batch_us_cpu, r->batch_us_2t, r->single_med, r->single_p99);
    printf("  test    ROC AUC %.4f   AP %.4f   macro-F1 %.4f\n", r->roc, r->ap, r->f1);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *name = NULL;
    int trees = 10, runs = 5, bins = 256, seeds = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--data") == 0) {
            dir = argv[i + 1];
        } else if (strcmp(argv[i], "--name") == 0) {
            name = argv[i + 1];
        } else if (strcmp(argv[i], "--trees") == 0) {
            trees = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--runs") == 0) {
            runs = atoi(argv[i + 1]);
            runs = runs < 1 ? 1 : runs; /* a median needs one run */
        } else if (strcmp(argv[i], "--bins") == 0) {
            bins = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--quality-seeds") == 0) {
            seeds = atoi(argv[i + 1]);
        }
    }
    struct result r;
    if (dir && name) {
        struct data d;
        if (load_data(&d, dir, name) != 0) {
            return 1;
        }
        if (seeds > 0) {
            return quality(&d, trees, bins, seeds) != 0;
        }
        if (run(&d, trees, runs, bins, &r) != 0) {
            return 1;
        }
        printf("{\"impl\": \"vigil\", \"data\": \"%s\", \"n\": %zu, \"f\": %zu, \"trees\": %d, "
               "\"bins\": %d, \"runs\": %d, \"fit_s_1t\": %.6f, \"fit_cpu_s_1t\": %.6f, "
               "\"fit_s_2t\": %.6f, \"batch_us_per_row\": %.4f, \"batch_cpu_us_per_row\": %.4f, "
               "\"batch_us_per_row_2t\": %.4f, "
               "\"single_us_median\": %.3f, \"single_us_p99\": %.3f, "
               "\"roc_auc\": %.6f, \"ap\": %.6f, \"macro_f1\": %.6f, \"nodes\": %zu, "
               "\"identical_1t_2t\": %s, \"single_equals_batch\": %s, \"walks_agree\": %s, "
               "\"batch_cpu_us_walks\": [%.4f, %.4f, %.4f, %.4f]}\n",
               name, d.n, d.f, trees, bins, runs, r.fit1, r.fit1_cpu, r.fit2, r.batch_us,
               r.batch_us_cpu, r.batch_us_2t, r.single_med,
               r.single_p99, r.roc, r.ap, r.f1, r.nodes, r.identical ? "true" : "false",
               r.consistent ? "true" : "false", r.walks_agree ? "true" : "false",
               r.batch_cpu_walk[0], r.batch_cpu_walk[1], r.batch_cpu_walk[2], r.batch_cpu_walk[3]);
        return r.identical && r.consistent && r.walks_agree ? 0 : 1;
    }
    struct data d;
    synth(&d, 10240, 10240, 64, 16, 1);
    if (run(&d, 100, 3, 256, &r) != 0) {
        return 1;
    }
    print_human("synthetic", &d, 100, 256, &r);
    free(d.xtr);
    free(d.ytr);
    synth(&d, 100000, 20000, 152, 24, 2);
    if (run(&d, 10, 3, 256, &r) != 0) {
        return 1;
    }
    print_human("synthetic", &d, 10, 256, &r);
    free(d.xtr);
    free(d.ytr);
    return 0;
}
