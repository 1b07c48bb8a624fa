/*
 * LSTM autoencoder benchmark: training time per epoch and the loss reached,
 * batch scoring time per window, and the latency of scoring one window (the
 * live case), on SMD machine-1-6's training rows (F = 38) when the data is
 * there, else on synthetic sine waves of the same shape. bench/ae_vs_torch.sh
 * runs it beside the same architecture in PyTorch.
 *
 *     bench_lstm_ae [--data FILE.gz] [--epochs N] [--threads N] [--batch B]
 *                   [--window T] [--rows N] [--reps R]
 *
 * Before timing, the batch scores are checked against single-window scores
 * of the same rows (the two code paths must agree).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vigil/clock.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/recon.h"

/* Reads a headerless CSV of floats (gzip or plain) into x (N,F). */
static float *load_csv(const char *path, size_t max_rows, size_t *n, size_t *f)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        return NULL;
    }
    size_t cap = 1 << 20, len = 0, cols = 0, rows = 0;
    float *x = malloc(cap * sizeof(float));
    char line[1 << 16];
    while (x && gzgets(gz, line, sizeof line) && (max_rows == 0 || rows < max_rows)) {
        size_t c = 0;
        char *p = line, *end;
        for (;;) {
            float v = strtof(p, &end);
            if (end == p) {
                break;
            }
            if (len == cap) {
                float *nx = realloc(x, cap * 2 * sizeof(float));
                if (!nx) {
                    break;
                }
                x = nx;
                cap *= 2;
            }
            x[len++] = v;
            c++;
            p = end;
            while (*p == ',' || *p == ' ') {
                p++;
            }
        }
        if (c == 0) {
            continue;
        }
        if (cols == 0) {
            cols = c;
        }
        if (c != cols) {
            free(x);
            x = NULL;
            break;
        }
        rows++;
    }
    gzclose(gz);
    *n = rows;
    *f = cols;
    return x;
}

static float *synthetic(size_t n, size_t f)
{
    float *x = malloc(n * f * sizeof(float));
    for (size_t t = 0; t < n; t++) {
        for (size_t j = 0; j < f; j++) {
            x[t * f + j] = 0.5f + 0.4f * sinf((float)t * 0.05f * (float)(1 + j % 7) + (float)j);
        }
    }
    return x;
}

/* Per-epoch lines from the model's debug log: "epoch N loss L val V S s". */
struct epochs {
    double sec[1000], loss[1000];
    int n;
};

static void on_log(enum vigil_log_level level, const char *msg, void *user)
{
    struct epochs *e = user;
    const char *p = strstr(msg, "] epoch ");
    (void)level;
    if (!p) {
        p = strstr(msg, ": epoch ");
    }
    if (p && e->n < 1000) {
        int ep;
        double loss, val, sec;
        if (sscanf(p + 8, "%d loss %lf val %lf %lf s", &ep, &loss, &val, &sec) == 4) {
            e->loss[e->n] = loss;
            e->sec[e->n++] = sec;
        }
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *fmt_opt(char *buf, size_t n, int v)
{
    snprintf(buf, n, "%d", v);
    return buf;
}

static void set(const struct vigil_model_ops *ops, void *params, const char *name, int v)
{
    char b[32];
    fmt_opt(b, sizeof b, v);
    vigil_opt_set(ops->opts, params, name, b, strlen(b), NULL);
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    int epochs = 3, threads = 1, batch = 64, window = 30, reps = 500;
    size_t max_rows = 0;
    static const struct option lo[] = {
        {"data", 1, 0, 'd'},  {"epochs", 1, 0, 'e'}, {"threads", 1, 0, 't'}, {"batch", 1, 0, 'b'},
        {"window", 1, 0, 'w'}, {"rows", 1, 0, 'r'},  {"reps", 1, 0, 'R'},    {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'e': epochs = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'w': window = atoi(optarg); break;
        case 'r': max_rows = (size_t)atol(optarg); break;
        case 'R': reps = atoi(optarg); break;
        default: return 2;
        }
    }
    char path[4096];
    if (!data) {
        const char *root = getenv("VIGIL_DATA") ? getenv("VIGIL_DATA") : "../shared/data";
        snprintf(path, sizeof path, "%s/smd/train/machine-1-6.txt.gz", root);
        data = path;
    }
    size_t n = 0, f = 0;
    float *x = load_csv(data, max_rows, &n, &f);
    if (!x || n == 0) {
        fprintf(stderr, "bench_lstm_ae: %s unreadable, using synthetic data\n", data);
        free(x);
        n = max_rows ? max_rows : 23688;
        f = 38;
        x = synthetic(n, f);
        data = "synthetic";
    }
    printf("data %s: %zu rows x %zu features, window %d, batch %d, threads %d\n", data, n, f,
           window, batch, threads);

    const struct vigil_model_ops *ops = vigil_model_find("lstm-ae");
    void *params = calloc(1, ops->params_size);
    vigil_opt_defaults(ops->opts, params);
    set(ops, params, "epochs", epochs);
    set(ops, params, "threads", threads);
    set(ops, params, "batch", batch);
    set(ops, params, "window", window);
    set(ops, params, "patience", 0); /* every epoch, all windows: comparable with torch */
    struct vigil_model m;
    if (vigil_model_init(&m, ops, params) != 0) {
        return 1;
    }
    static struct epochs ep;
    vigil_log_set_sink(on_log, &ep);
    vigil_log_set_level(VIGIL_LOG_DEBUG); /* per-epoch loss and time lines */
    struct vigil_batch b = {.x = x, .n = n, .f = f, .threads = threads, .progress = 0};
    int64_t t0 = vigil_clock_mono_ns();
    int rc = m.ops->fit(&m, &b);
    double train_s = (double)(vigil_clock_mono_ns() - t0) * 1e-9;
    vigil_log_set_level(VIGIL_LOG_WARN);
    vigil_log_set_sink(NULL, NULL);
    if (rc) {
        fprintf(stderr, "fit: %s\n", vigil_strerror(rc));
        return 1;
    }
    size_t nw = n - (size_t)window + 1;
    for (int i = 0; i < ep.n; i++) {
        printf("epoch %d loss %.6f time %.3f s\n", i + 1, ep.loss[i], ep.sec[i]);
    }
    double med = 0.0;
    if (ep.n > 0) {
        double tmp[1000];
        memcpy(tmp, ep.sec, (size_t)ep.n * sizeof(double));
        qsort(tmp, (size_t)ep.n, sizeof(double), cmp_d);
        med = tmp[ep.n / 2];
    }
    printf("train: %.3f s total (fit + threshold pass), median %.3f s/epoch, %.1f us/window, "
           "final loss %.6f\n",
           train_s, med, med / (double)nw * 1e6, ep.n ? ep.loss[ep.n - 1] : (double)NAN);

    /* Batch scoring of every window, then a check against single-window scoring. */
    size_t no = m.ops->n_out(&m);
    float *out = malloc(n * no * sizeof(float));
    t0 = vigil_clock_mono_ns();
    m.ops->score(&m, x, n, out);
    double score_s = (double)(vigil_clock_mono_ns() - t0) * 1e-9;
    printf("score batch: %.3f s for %zu windows, %.2f us/window\n", score_s, nw,
           score_s / (double)nw * 1e6);
    double worst = 0.0;
    /* Rescore each sample window alone: out of the window-sized call is (T, no). */
    float *w_out = malloc((size_t)window * no * sizeof(float));
    for (size_t k = 0; k < 50; k++) {
        size_t end = (size_t)window - 1 + (k * 7919) % nw;
        m.ops->score(&m, x + (end + 1 - (size_t)window) * f, (size_t)window, w_out);
        double a = w_out[((size_t)window - 1) * no], bb = out[end * no];
        double rel = fabs(a - bb) / fmax(fabs(bb), 1e-12);
        worst = rel > worst ? rel : worst;
    }
    printf("single vs batch scores: worst relative difference %.2e\n", worst);
    if (worst > 1e-3) {
        fprintf(stderr, "bench_lstm_ae: single-window and batch scores disagree\n");
        return 1;
    }
    /* Single-window latency: the live case, one window of T rows per call. */
    double *lat = malloc((size_t)reps * sizeof(double));
    for (int r = 0; r < 20; r++) {
        m.ops->score(&m, x, (size_t)window, w_out); /* warm-up */
    }
    for (int r = 0; r < reps; r++) {
        size_t s = ((size_t)r * 131) % nw;
        int64_t a = vigil_clock_mono_ns();
        m.ops->score(&m, x + s * f, (size_t)window, w_out);
        lat[r] = (double)(vigil_clock_mono_ns() - a) * 1e-3;
    }
    qsort(lat, (size_t)reps, sizeof *lat, cmp_d);
    printf("score one window: median %.1f us, p90 %.1f us (%d calls)\n", lat[reps / 2],
           lat[reps * 9 / 10], reps);
    /* The live stream: consecutive windows, each sharing T-1 rows with the last. */
    worst = 0.0;
    for (int r = 0; r < reps; r++) {
        size_t s = (size_t)r % nw;
        int64_t a = vigil_clock_mono_ns();
        m.ops->score(&m, x + s * f, (size_t)window, w_out);
        lat[r] = (double)(vigil_clock_mono_ns() - a) * 1e-3;
        double got = w_out[((size_t)window - 1) * no], want = out[(s + (size_t)window - 1) * no];
        double rel = fabs(got - want) / fmax(fabs(want), 1e-12);
        worst = rel > worst ? rel : worst;
    }
    if (worst > 1e-3) {
        fprintf(stderr, "bench_lstm_ae: sliding-window and batch scores disagree (%.2e)\n", worst);
        return 1;
    }
    qsort(lat, (size_t)reps, sizeof *lat, cmp_d);
    printf("score sliding window: median %.1f us, p90 %.1f us (%d calls, worst relative "
           "difference to batch %.2e)\n",
           lat[reps / 2], lat[reps * 9 / 10], reps, worst);
    free(lat);
    free(w_out);
    free(out);
    vigil_model_fini(&m);
    free(params);
    free(x);
    return 0;
}
