/*
 * Exposition parsing speed on the node_exporter fixture (or the file given as
 * argv[1]): lines/s and MB/s of the stream parser (every line parsed and its
 * samples tied to their # TYPE family), and of the whole exposition-to-frame
 * read (interning every series into a frame). The file is read into memory
 * once; each phase is validated first (no error, the expected sample count),
 * warmed up, then timed with CLOCK_MONOTONIC over RUNS runs of enough passes
 * to last about 50 ms, and the median run is reported. The frame read is
 * timed twice: on the file alone (one scrape, so every series is created:
 * interning dominates) and on SCRAPES copies of it concatenated (a file of
 * scrapes, one row each: the steady state of reading recorded scrapes).
 *
 *   build/bench/bench_prom [FILE] [RUNS]
 *
 * The last lines are "parse ...", "frame ..." and "frame_scrapes ..." with
 * the numbers, for bench/prom_vs_python.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/clock.h"
#include "vigil/frame.h"
#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/prom.h"
#include "vigil/reader.h"

#define RUNS_DEFAULT 11
#define SCRAPES 20
#define MAX_RUNS 101

/* One pass of the stream parser over the whole text; returns samples or -1. */
static long parse_pass(const char *p, size_t n, struct vigil_prom_line *ln, size_t *lines)
{
    struct vigil_prom_parser ps;
    struct vigil_diag d;
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    size_t i = 0;
    long samples = 0;
    *lines = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (p + i)) : n - i;
        if (vigil_prom_parser_feed(&ps, p + i, len, ln, &d) != 0) {
            fprintf(stderr, "bench_prom: line %zu:%zu: %s\n", d.line, d.col, d.msg);
            vigil_prom_parser_fini(&ps);
            return -1;
        }
        samples += ln->type == VIGIL_PROM_LINE_SAMPLE;
        (*lines)++;
        i += len + 1;
    }
    vigil_prom_parser_fini(&ps);
    return samples;
}

/* One exposition-to-frame read; returns samples or -1. */
static long frame_pass(const char *p, size_t n)
{
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    vigil_frame_init(&fr);
    int rc = vigil_frame_read_mem(&fr, p, n, NULL, &info, &d);
    vigil_frame_fini(&fr);
    if (rc) {
        fprintf(stderr, "bench_prom: frame read: %zu:%zu: %s\n", d.line, d.col, d.msg);
        return -1;
    }
    return (long)info.samples;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    char def[1024];
    const char *data = getenv("VIGIL_DATA");
    snprintf(def, sizeof def,
             "%s/prometheus-fixtures/node_exporter/collector/fixtures/e2e-output.txt",
             data && *data ? data : "../shared/data");
    const char *path = argc > 1 ? argv[1] : def;
    int runs = argc > 2 ? atoi(argv[2]) : RUNS_DEFAULT;
    if (runs < 1 || runs > MAX_RUNS) {
        runs = RUNS_DEFAULT;
    }
    char *text;
    size_t n;
    int rc = vigil_read_file(path, (size_t)1 << 30, &text, &n);
    if (rc) {
        fprintf(stderr, "bench_prom: %s: %s (skipped)\n", path, vigil_strerror(rc));
        return 0;
    }
    struct vigil_prom_line *ln = vigil_malloc(sizeof *ln);
    size_t lines;
    /* Validate both phases before timing them. */
    long samples = parse_pass(text, n, ln, &lines);
    long fsamples = frame_pass(text, n);
    if (samples < 0 || fsamples != samples) {
        fprintf(stderr, "bench_prom: validation failed (%ld vs %ld samples)\n", samples, fsamples);
        return 1;
    }
    printf("file %s: %zu bytes, %zu lines, %ld samples\n", path, n, lines, samples);
    printf("runs %d (median reported), CLOCK_MONOTONIC\n", runs);
    /* Passes per run so that one run lasts about 50 ms. */
    int64_t t0 = vigil_clock_mono_ns();
    parse_pass(text, n, ln, &lines);
    int64_t one = vigil_clock_mono_ns() - t0;
    long passes = one > 0 ? (long)(50000000 / one) + 1 : 1000;
    /* The same text SCRAPES times over: untimed scrapes, a new row at each repeat. */
    char *many = vigil_malloc(n * SCRAPES + 1);
    if (!many) {
        return 1;
    }
    for (int k = 0; k < SCRAPES; k++) {
        memcpy(many + (size_t)k * n, text, n);
    }
    size_t many_n = n * SCRAPES;
    if (frame_pass(many, many_n) != samples * SCRAPES) {
        fprintf(stderr, "bench_prom: validation of %d scrapes failed\n", SCRAPES);
        return 1;
    }
    double sec[MAX_RUNS];
    for (int phase = 0; phase < 3; phase++) {
        const char *p = phase == 2 ? many : text;
        size_t pn = phase == 2 ? many_n : n;
        long pp = phase == 0 ? passes : phase == 1 ? passes / 4 + 1 : passes / 40 + 1;
        for (int r = 0; r < runs; r++) {
            t0 = vigil_clock_mono_ns();
            for (long k = 0; k < pp; k++) {
                if ((phase == 0 ? parse_pass(p, pn, ln, &lines) : frame_pass(p, pn)) < 0) {
                    return 1;
                }
            }
            sec[r] = (double)(vigil_clock_mono_ns() - t0) / 1e9 / (double)pp;
        }
        double m = median(sec, runs);
        size_t nl = phase == 2 ? lines * SCRAPES : lines;
        static const char *const names[] = {"parse", "frame", "frame_scrapes"};
        printf("%s %.0f lines/s %.1f MB/s %.1f us/pass (%ld passes/run)\n", names[phase],
               (double)nl / m, (double)pn / m / 1e6, m * 1e6, pp);
    }
    vigil_free(many);
    vigil_free(ln);
    vigil_free(text);
    return 0;
}
