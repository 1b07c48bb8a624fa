/*
 * Preprocessing chain benchmark: fit and apply on a synthetic frame of
 * N rows by F series (half counters with resets, half gauges, 1 % missing,
 * 1 s spacing with jitter), for rows as they are, resampling to 10 s and
 * temporal features over 5 steps; then the live form, one push + next per
 * row. bench/prep_vs_numpy.sh runs the same transforms in numpy on data of the
 * same shape.
 *
 *     bench_prep [--rows N] [--series F] [--reps R]
 *
 * Before timing, the stream's output is checked against apply's on the same
 * rows (the two paths must agree bit for bit).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/clock.h"
#include "vigil/frame.h"
#include "vigil/prep.h"
#include "vigil/rng.h"

#define S ((int64_t)1000000000)

static void make_frame(struct vigil_frame *fr, size_t n, size_t f, uint64_t seed)
{
    struct vigil_rng r;
    vigil_rng_seed(&r, seed);
    vigil_frame_init(fr);
    for (size_t j = 0; j < f; j++) {
        char name[64];
        uint32_t id;
        snprintf(name, sizeof name, j % 2 ? "gauge_%zu" : "counter_%zu_total", j);
        if (vigil_frame_add_col(fr, name, strlen(name), &id)) {
            exit(1);
        }
        fr->cols.v[id].kind = j % 2 ? VIGIL_KIND_GAUGE : VIGIL_KIND_COUNTER;
    }
    double *c = calloc(f, sizeof *c);
    int64_t t = 1700000000 * S;
    for (size_t i = 0; i < n; i++) {
        float *row;
        t += S + (int64_t)vigil_rng_below(&r, 1000000) - 500000;
        if (!c || vigil_frame_add_row(fr, t, &row)) {
            exit(1);
        }
        for (size_t j = 0; j < f; j++) {
            if (vigil_rng_below(&r, 100) == 0) {
                continue; /* stays NaN */
            }
            if (j % 2 == 0) {
                c[j] += (double)vigil_rng_below(&r, 1000);
                if (vigil_rng_below(&r, 5000) == 0) {
                    c[j] = 0; /* reset */
                }
                row[j] = (float)c[j];
            } else {
                row[j] = (float)(50 + 10 * vigil_rng_normal(&r));
            }
        }
    }
    fr->has_time = 1;
    free(c);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return v[n / 2];
}

/* Checks that the stream gives apply's output on fr. Returns 0 when equal. */
static int validate(const struct vigil_prep *pp, const struct vigil_frame *fr)
{
    struct vigil_frame out;
    struct vigil_prep_stream s;
    struct vigil_diag d;
    vigil_frame_init(&out);
    if (vigil_prep_apply(pp, fr, &out, &d) || vigil_prep_stream_init(&s, pp, &fr->cols, &d)) {
        return -1;
    }
    size_t got = 0;
    int bad = 0;
    for (size_t i = 0; i <= fr->n && !bad; i++) {
        if (i < fr->n) {
            bad = vigil_prep_stream_push(&s, fr->ts[i], vigil_frame_row(fr, i)) != 0;
        } else {
            vigil_prep_stream_flush(&s);
        }
        int64_t ts;
        const float *feat;
        while (!bad && vigil_prep_stream_next(&s, &ts, &feat)) {
            const float *want = vigil_frame_row(&out, got);
            for (size_t j = 0; j < out.f; j++) {
                if (isnan(want[j]) ? !isnan(feat[j]) : memcmp(&want[j], &feat[j], 4) != 0) {
                    bad = 1;
                }
            }
            bad |= ts != out.ts[got++];
        }
    }
    bad |= got != out.n;
    vigil_prep_stream_fini(&s);
    vigil_frame_fini(&out);
    return bad ? -1 : 0;
}

static void run_case(const char *name, const struct vigil_frame *fr,
                     const struct vigil_prep_params *p, int reps)
{
    struct vigil_prep *pp = NULL;
    struct vigil_diag d;
    double t_fit[16], t_apply[16], t_stream[16];
    size_t out_rows = 0, out_f = 0;
    reps = reps > 16 ? 16 : reps;
    for (int r = -1; r < reps; r++) { /* r = -1 is the warm-up */
        vigil_prep_free(pp);
        int64_t t0 = vigil_clock_mono_ns();
        if (vigil_prep_fit(&pp, fr, p, &d)) {
            fprintf(stderr, "%s: fit: %s\n", name, d.msg);
            exit(1);
        }
        int64_t t1 = vigil_clock_mono_ns();
        struct vigil_frame out;
        vigil_frame_init(&out);
        if (vigil_prep_apply(pp, fr, &out, &d)) {
            fprintf(stderr, "%s: apply: %s\n", name, d.msg);
            exit(1);
        }
        int64_t t2 = vigil_clock_mono_ns();
        out_rows = out.n;
        out_f = out.f;
        vigil_frame_fini(&out);
        struct vigil_prep_stream s;
        if (vigil_prep_stream_init(&s, pp, &fr->cols, &d)) {
            exit(1);
        }
        int64_t t3 = vigil_clock_mono_ns();
        volatile float sink = 0;
        for (size_t i = 0; i < fr->n; i++) {
            vigil_prep_stream_push(&s, fr->ts[i], vigil_frame_row(fr, i));
            int64_t ts;
            const float *feat;
            while (vigil_prep_stream_next(&s, &ts, &feat)) {
                sink += feat[0];
            }
        }
        int64_t t4 = vigil_clock_mono_ns();
        (void)sink;
        vigil_prep_stream_fini(&s);
        if (r >= 0) {
            t_fit[r] = (double)(t1 - t0) / 1e9;
            t_apply[r] = (double)(t2 - t1) / 1e9;
            t_stream[r] = (double)(t4 - t3) / 1e9;
        }
    }
    double fit = median(t_fit, reps), apply = median(t_apply, reps),
           stream = median(t_stream, reps);
    printf("%-22s fit %7.3f s   apply %7.3f s (%6.2f M values/s in)   stream %7.0f ns/row  "
           "-> %zu x %zu\n",
           name, fit, apply, (double)(fr->n * fr->f) / apply / 1e6, stream * 1e9 / (double)fr->n,
           out_rows, out_f);
    vigil_prep_free(pp);
}

int main(int argc, char **argv)
{
    size_t n = 100000, f = 64;
    int reps = 5;
    static const struct option lo[] = {{"rows", required_argument, NULL, 'n'},
                                       {"series", required_argument, NULL, 'f'},
                                       {"reps", required_argument, NULL, 'r'},
                                       {0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 'n') {
            n = strtoul(optarg, NULL, 10);
        } else if (c == 'f') {
            f = strtoul(optarg, NULL, 10);
        } else if (c == 'r') {
            reps = atoi(optarg);
        } else {
            fprintf(stderr, "usage: bench_prep [--rows N] [--series F] [--reps R]\n");
            return 2;
        }
    }
    if (reps < 1 || n < 100 || f < 2) {
        fprintf(stderr, "bench_prep: need --reps >= 1, --rows >= 100, --series >= 2\n");
        return 2;
    }
    struct vigil_frame fr;
    make_frame(&fr, n, f, 42);
    struct vigil_prep_params p;
    vigil_prep_params_default(&p);

    /* Validate every variant on the first 5000 rows before timing. */
    struct vigil_frame head = fr;
    head.n = 5000;
    struct {
        const char *name;
        int64_t step;
        int temporal;
    } cases[] = {{"rows as they are", 0, 0}, {"resample 10 s", 10 * S, 0}, {"temporal k=5", 0, 5}};
    for (size_t k = 0; k < 3; k++) {
        struct vigil_prep *pp;
        struct vigil_diag d;
        p.step = cases[k].step;
        p.temporal = cases[k].temporal;
        if (vigil_prep_fit(&pp, &head, &p, &d) || validate(pp, &head)) {
            fprintf(stderr, "bench_prep: %s: stream and apply disagree\n", cases[k].name);
            return 1;
        }
        vigil_prep_free(pp);
    }
    printf("bench_prep: %zu rows x %zu series (half counters), median of %d runs; stream == "
           "apply checked\n",
           n, f, reps);
    for (size_t k = 0; k < 3; k++) {
        p.step = cases[k].step;
        p.temporal = cases[k].temporal;
        run_case(cases[k].name, &fr, &p, reps);
    }
    vigil_frame_fini(&fr);
    return 0;
}
