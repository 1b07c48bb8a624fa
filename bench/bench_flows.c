/*
 * Flow pipeline throughput, phase by phase (libuv's benchmark style), on the
 * shared captures:
 *
 *   1. decode            vigil_pkt_decode over frames held in memory
 *   2. decode + flows    the same frames through the flow table (24 features
 *                        computed for every flow at window close)
 *   3. file + flows      libpcap reading the capture files, decode, flows
 *   4. mlp score         records/s of the MLP batch path (F=24, hidden 64,32,
 *                        5 classes), first checked against a naive reference
 *                        forward written here from the documented model bytes
 *   5. mlp score x T     T threads, each with its own copy of the model
 *   6. flowdet           records/s through vigil_flowdet (bundle scaling + MLP)
 *
 * Medians of REPS runs (default 5). Single core unless said. Prints one line
 * per phase; bench/flows_vs_peers.sh runs it beside argus, softflowd and
 * scikit-learn. Environment: VIGIL_DATA (captures), BENCH_REPS, BENCH_THREADS.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigil/bundle.h"
#include "vigil/capture.h"
#include "vigil/clock.h"
#include "vigil/flow.h"
#include "vigil/flowdet.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/nn.h"
#include "vigil/rng.h"

static const char *const files[] = {
    "pcaps/stopddos/pkt.TCP.synflood.spoofed.pcap",
    "pcaps/zeek-traces/Traces/echo-connections.pcap.gz",
    "pcaps/stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng",
    "pcaps/stopddos/amp.TCP.reflection.SYNACK.pcap",
    "pcaps/esnet-curated-pcaps/tcp/control/two_way_all_flags.pcap",
    "pcaps/zeek-traces/Traces/ssh/ssh.pcap",
    "pcaps/esnet-curated-pcaps/attacks/scanners/masscan/tcp_0_1000_20190821.pcap",
    NULL,
};

struct frame {
    size_t off, caplen, wirelen;
    int64_t ts;
    int link;
};

struct frames {
    unsigned char *data;
    size_t len, cap;
    struct frame *f;
    size_t n, fcap;
};

static double median(double *v, int n);

/* Process CPU time in ns: with other jobs on the machine, wall time measures the share we got
   and CPU time measures the work; both are printed. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double tc[50]; /* CPU seconds per repetition, beside t[] */

#define T_START()                                                                                  \
    int64_t t0 = vigil_clock_mono_ns();                                                            \
    int64_t c0 = cpu_ns()
#define T_STOP(r)                                                                                  \
    do {                                                                                           \
        t[r] = (double)(vigil_clock_mono_ns() - t0) / 1e9;                                         \
        tc[r] = (double)(cpu_ns() - c0) / 1e9;                                                     \
    } while (0)

/* "X M/s wall, Y M/s per CPU-second" for count items. */
static void rates(double count, double *t, int reps)
{
    double w = median(t, reps), c = median(tc, reps);
    printf("%8.2f M/s wall, %8.2f M/s per CPU-second", count / w / 1e6, count / c / 1e6);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int load(struct frames *fs, const char *dir)
{
    for (int i = 0; files[i]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        struct vigil_capture *c;
        struct vigil_capture_params cp;
        struct vigil_diag d;
        vigil_capture_params_default(&cp);
        if (vigil_capture_open_file(&c, path, &cp, &d) != 0) {
            fprintf(stderr, "bench_flows: skip %s: %s\n", path, d.msg);
            continue;
        }
        struct vigil_capture_frame fr;
        int64_t shift = 0, first = 0;
        while (vigil_capture_next(c, &fr, &d) == 0) {
            if (fs->len + fr.caplen > fs->cap) {
                fs->cap = (fs->cap + fr.caplen) * 2;
                fs->data = realloc(fs->data, fs->cap);
            }
            if (fs->n == fs->fcap) {
                fs->fcap = fs->fcap ? fs->fcap * 2 : 65536;
                fs->f = realloc(fs->f, fs->fcap * sizeof *fs->f);
            }
            if (!fs->data || !fs->f) {
                return -1;
            }
            /* Captures follow one another in time, as if recorded back to back. */
            if (first == 0) {
                first = fr.ts_ns;
                shift = (fs->n ? fs->f[fs->n - 1].ts + 1000000000LL : 0) - first;
            }
            memcpy(fs->data + fs->len, fr.data, fr.caplen);
            fs->f[fs->n++] = (struct frame){fs->len, fr.caplen, fr.wirelen, fr.ts_ns + shift,
                                            vigil_capture_linktype(c)};
            fs->len += fr.caplen;
        }
        vigil_capture_close(c);
    }
    return fs->n ? 0 : -1;
}

static int count_emit(void *user, const struct vigil_flow_rec *recs, size_t n)
{
    (void)recs;
    *(size_t *)user += n;
    return 0;
}

/* ---- the naive reference forward of an "mlp" model's bytes ---- */

static uint32_t rd_u32(const unsigned char **p)
{
    uint32_t v = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 | (uint32_t)(*p)[2] << 16 |
                 (uint32_t)(*p)[3] << 24;
    *p += 4;
    return v;
}

static void ref_forward(const unsigned char *bytes, const float *x, float *probs)
{
    const unsigned char *p = bytes;
    rd_u32(&p); /* magic */
    uint32_t f = rd_u32(&p), k = rd_u32(&p), L = rd_u32(&p), w[9];
    w[0] = f;
    for (uint32_t l = 1; l <= L; l++) {
        w[l] = rd_u32(&p);
    }
    p += 8; /* input-log K (0 here) */
    double a[256], b[256];
    for (uint32_t j = 0; j < f; j++) {
        a[j] = x[j];
    }
    for (uint32_t l = 0; l < L; l++) {
        const float *W = (const float *)(const void *)p;
        const float *B = W + w[l + 1] * w[l];
        for (uint32_t o = 0; o < w[l + 1]; o++) {
            double s = B[o];
            for (uint32_t j = 0; j < w[l]; j++) {
                s += (double)W[o * w[l] + j] * a[j];
            }
            b[o] = l + 1 < L && s < 0 ? 0 : s;
        }
        memcpy(a, b, sizeof a);
        p += (w[l + 1] * w[l] + w[l + 1]) * 4;
    }
    double mx = a[0], sum = 0;
    for (uint32_t c = 1; c < k; c++) {
        mx = a[c] > mx ? a[c] : mx;
    }
    for (uint32_t c = 0; c < k; c++) {
        sum += exp(a[c] - mx);
    }
    for (uint32_t c = 0; c < k; c++) {
        probs[c] = (float)(exp(a[c] - mx) / sum);
    }
}

/* ---- threads scoring with their own model copies ---- */

struct job {
    struct vigil_model m;
    const float *x;
    size_t n, rows_per_call;
    int reps;
    float *out;
};

static void *score_job(void *arg)
{
    struct job *j = arg;
    for (int r = 0; r < j->reps; r++) {
        for (size_t s = 0; s < j->n; s += j->rows_per_call) {
            size_t cn = j->n - s < j->rows_per_call ? j->n - s : j->rows_per_call;
            j->m.ops->score(&j->m, j->x + s * VIGIL_FLOW_F, cn, j->out);
        }
    }
    return NULL;
}

/* Times ops->score on n rows: 1 thread, then T threads with a model each (loaded from mb). */
static void time_scoring(const struct vigil_model_ops *ops, void *mp, struct vigil_model *m,
                         const struct vigil_buf *mb, const float *x, size_t n_recs, float *out,
                         int threads, int reps)
{
    double t[50] = {0};            /* reps >= 1 (main); zeroed for checkers that cannot see it */
    ops->score(m, x, n_recs, out); /* warm-up */
    for (int r = 0; r < reps; r++) {
        T_START();
        ops->score(m, x, n_recs, out);
        T_STOP(r);
    }
    printf("mlp score (records):       ");
    rates((double)n_recs, t, reps);
    printf("  [1 thread, F=24, hidden 64,32, 5 classes]\n");
    /* T threads, each its own model loaded from the same bytes, each 1/T of the rows. */
    struct job jobs[16];
    pthread_t th[16];
    for (int k = 0; k < threads; k++) {
        vigil_model_init(&jobs[k].m, ops, mp);
        jobs[k].m.ops->load(&jobs[k].m, mb->p, mb->len);
        jobs[k].n = n_recs / (size_t)threads;
        jobs[k].x = x + (size_t)k * jobs[k].n * VIGIL_FLOW_F;
        jobs[k].rows_per_call = 65536;
        jobs[k].reps = 1;
        jobs[k].out = vigil_mallocarray(65536 * 5, sizeof(float));
        score_job(&jobs[k]); /* warm-up */
    }
    for (int r = 0; r < reps; r++) {
        T_START();
        for (int k = 0; k < threads; k++) {
            pthread_create(&th[k], NULL, score_job, &jobs[k]);
        }
        for (int k = 0; k < threads; k++) {
            pthread_join(th[k], NULL);
        }
        T_STOP(r);
    }
    printf("mlp score x%d (records):    ", threads);
    rates((double)(jobs[0].n * (size_t)threads), t, reps);
    printf("  [%d threads, a model each]\n", threads);
    for (int k = 0; k < threads; k++) {
        vigil_model_fini(&jobs[k].m);
        vigil_free(jobs[k].out);
    }
}

int main(void)
{
    const char *dir = getenv("VIGIL_DATA") ? getenv("VIGIL_DATA") : "../shared/data";
    int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 5;
    int threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 2;
    reps = reps < 1 ? 1 : reps > 50 ? 50 : reps;
    threads = threads < 1 ? 1 : threads > 16 ? 16 : threads;
    double t[50] = {0}; /* reps >= 1 (main); zeroed for checkers that cannot see it */
    struct frames fs = {0};
    int have_pcaps = load(&fs, dir) == 0;
    struct vigil_flow_params fp;
    vigil_flow_params_default(&fp);
    size_t n_recs = 0;
    struct vigil_flow_rec *recs = NULL;
    if (have_pcaps) {
        printf("frames: %zu from %d captures (%.1f MB)\n", fs.n, 7, (double)fs.len / 1e6);
        /* 1. decode */
        struct vigil_pkt pkt;
        size_t ok = 0;
        for (int r = 0; r < reps; r++) {
            T_START();
            ok = 0;
            for (size_t i = 0; i < fs.n; i++) {
                pkt.ts_ns = fs.f[i].ts;
                ok += vigil_pkt_decode(&pkt, fs.data + fs.f[i].off, fs.f[i].caplen, fs.f[i].wirelen,
                                       fs.f[i].link) == VIGIL_PKT_OK;
            }
            T_STOP(r);
        }
        printf("decode (packets):          ");
        rates((double)fs.n, t, reps);
        printf("  [1 thread, %zu of %zu decoded]\n", ok, fs.n);
        /* 2. decode + flows */
        size_t flows = 0;
        for (int r = 0; r < reps; r++) {
            struct vigil_flowtab *ft;
            vigil_flowtab_new(&ft, &fp);
            flows = 0;
            T_START();
            for (size_t i = 0; i < fs.n; i++) {
                pkt.ts_ns = fs.f[i].ts;
                if (vigil_pkt_decode(&pkt, fs.data + fs.f[i].off, fs.f[i].caplen, fs.f[i].wirelen,
                                     fs.f[i].link) == VIGIL_PKT_OK) {
                    vigil_flowtab_add(ft, &pkt, count_emit, &flows);
                }
            }
            vigil_flowtab_flush(ft, count_emit, &flows);
            T_STOP(r);
            vigil_flowtab_free(ft);
        }
        printf("decode + flows (packets):  ");
        rates((double)fs.n, t, reps);
        printf("  [1 thread, %zu flows, 2 s windows]\n", flows);
        /* 3. from the files through libpcap */
        size_t frames = 0;
        for (int r = 0; r < reps; r++) {
            struct vigil_flowtab *ft;
            vigil_flowtab_new(&ft, &fp);
            struct vigil_pkt_stats ps = {0};
            flows = 0;
            T_START();
            for (int i = 0; files[i]; i++) {
                char path[1024];
                snprintf(path, sizeof path, "%s/%s", dir, files[i]);
                struct vigil_capture *c;
                struct vigil_capture_params cp;
                struct vigil_diag d;
                vigil_capture_params_default(&cp);
                if (vigil_capture_open_file(&c, path, &cp, &d) == 0) {
                    vigil_capture_feed(c, ft, count_emit, &flows, &ps, NULL, &d);
                    vigil_flowtab_flush(ft, count_emit, &flows);
                    vigil_capture_close(c);
                }
            }
            T_STOP(r);
            frames = ps.seen;
            vigil_flowtab_free(ft);
        }
        printf("files + flows (packets):   ");
        rates((double)frames, t, reps);
        printf("  [1 thread, libpcap, gzip included]\n");
    } else {
        printf("no captures under %s/pcaps: packet phases skipped\n", dir);
    }

    /* 4-6. classification: an MLP (64,32) on flow-shaped records. */
    n_recs = 1 << 20;
    recs = vigil_mallocarray(n_recs, sizeof *recs);
    float *x = vigil_mallocarray(n_recs * VIGIL_FLOW_F, sizeof *x);
    int32_t *y = vigil_mallocarray(n_recs, sizeof *y);
    if (!recs || !x || !y) {
        return 1;
    }
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 42);
    for (size_t i = 0; i < n_recs; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].family = 4;
        y[i] = (int32_t)(i % 5);
        for (int j = 0; j < VIGIL_FLOW_F; j++) {
            float v = (float)(vigil_rng_uniform(&rng) * (1 + y[i]) * (j + 1));
            recs[i].f[j] = v;
            x[i * VIGIL_FLOW_F + j] = v / (5.0f * (float)(j + 1)); /* ~[0,1] like scaled input */
        }
    }
    const struct vigil_model_ops *ops = vigil_model_find("mlp");
    void *mp = vigil_calloc(1, ops->params_size);
    vigil_opt_defaults(ops->opts, mp);
    struct vigil_diag d;
    vigil_opt_set(ops->opts, mp, "epochs", "1", 1, &d);
    struct vigil_model m;
    vigil_model_init(&m, ops, mp);
    struct vigil_batch b = {
        .x = x, .n = 50000, .f = VIGIL_FLOW_F, .y = y, .n_classes = 5, .threads = 1};
    if (ops->fit(&m, &b) != 0) {
        fprintf(stderr, "bench_flows: training failed\n");
        return 1;
    }
    struct vigil_buf mb;
    vigil_buf_init(&mb);
    ops->save(&m, &mb);
    /* Validate the batch path against the reference before timing it. */
    float *out = vigil_mallocarray(n_recs * 5, sizeof *out);
    ops->score(&m, x, 4096, out);
    double maxdiff = 0;
    for (size_t i = 0; i < 4096; i++) {
        float ref[5];
        ref_forward((const unsigned char *)mb.p, x + i * VIGIL_FLOW_F, ref);
        for (int c = 0; c < 5; c++) {
            double dlt = fabs((double)ref[c] - (double)out[i * 5 + c]);
            maxdiff = dlt > maxdiff ? dlt : maxdiff;
        }
    }
    printf("mlp check:                 max |batch - reference| = %.2g over 4096 rows%s\n", maxdiff,
           maxdiff < 1e-4 ? "" : "  MISMATCH");
    if (maxdiff >= 1e-4) {
        return 1;
    }
    time_scoring(ops, mp, &m, &mb, x, n_recs, out, threads, reps);
    /* The same weights scored in half precision (--precision f16, AVX512-FP16) and in bfloat16
       on AMX tiles (--precision bf16), when the CPU has them. */
    static const char *const precs[] = {"f16", "bf16"};
    for (int pi = 0; pi < 2; pi++) {
        const char *prec = precs[pi];
        if (pi == 0 ? !vigil_nn_have_fp16() : !vigil_nn_have_amx()) {
            printf("mlp %-4s:                  not supported by this CPU: skipped\n", prec);
            continue;
        }
        void *mp16 = vigil_calloc(1, ops->params_size);
        vigil_opt_defaults(ops->opts, mp16);
        vigil_opt_set(ops->opts, mp16, "epochs", "1", 1, &d);
        vigil_opt_set(ops->opts, mp16, "precision", prec, strlen(prec), &d);
        struct vigil_model m16;
        vigil_model_init(&m16, ops, mp16);
        struct vigil_buf mb16;
        vigil_buf_init(&mb16);
        if (ops->fit(&m16, &b) == 0 && ops->save(&m16, &mb16) == 0) {
            /* Agreement with float32 on every row: the class (argmax) and the probabilities. */
            float *o16 = vigil_mallocarray(n_recs * 5, sizeof *o16);
            ops->score(&m, x, n_recs, out);
            ops->score(&m16, x, n_recs, o16);
            size_t same = 0;
            double pd = 0;
            for (size_t i = 0; i < n_recs; i++) {
                int c1 = 0, c2 = 0;
                for (int c = 0; c < 5; c++) {
                    c1 = out[i * 5 + c] > out[i * 5 + c1] ? c : c1;
                    c2 = o16[i * 5 + c] > o16[i * 5 + c2] ? c : c2;
                    double dl = fabs((double)out[i * 5 + c] - (double)o16[i * 5 + c]);
                    pd = dl > pd ? dl : pd;
                }
                same += c1 == c2;
            }
            printf("mlp %-4s check:            same class as f32 for %zu of %zu rows (%.4f%%), "
                   "max |p diff| %.2g\n",
                   prec, same, n_recs, 100.0 * (double)same / (double)n_recs, pd);
            vigil_free(o16);
            printf("%s: ", prec);
            time_scoring(ops, mp16, &m16, &mb16, x, n_recs, out, threads, reps);
        }
        vigil_buf_fini(&mb16);
        vigil_model_fini(&m16);
        vigil_opt_free(ops->opts, mp16);
        vigil_free(mp16);
    }
    /* flowdet: a bundle around the same kind of model, scaling records itself. */
    struct vigil_frame fr;
    vigil_frame_init(&fr);
    uint32_t col[VIGIL_FLOW_F];
    for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
        vigil_frame_add_col(&fr, vigil_flow_feature_name(j), strlen(vigil_flow_feature_name(j)),
                            &col[j]);
    }
    vigil_frame_alloc_labels(&fr);
    for (size_t i = 0; i < 20000; i++) {
        float *row;
        vigil_frame_add_row(&fr, (int64_t)i, &row);
        for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
            row[col[j]] = recs[i].f[j];
        }
        fr.y[i] = y[i];
    }
    struct vigil_bundle bu;
    memset(&bu, 0, sizeof bu);
    struct vigil_bundle_train_opts to = {.ops = ops, .params = mp, .threads = 1};
    char path[] = "/tmp/vigil-bench-flows.vmdl";
    if (vigil_bundle_train(&bu, &to, &fr, NULL, &d) == 0 && vigil_bundle_save(&bu, path) == 0) {
        struct vigil_flowdet *fd;
        const char *paths[1] = {path};
        if (vigil_flowdet_new(&fd, paths, 1, 0.5f, 4096, &d) == 0) {
            uint8_t *cls = vigil_malloc(n_recs);
            float *score = vigil_mallocarray(n_recs, sizeof *score);
            vigil_flowdet_score(fd, recs, 65536, cls, score);
            for (int r = 0; r < reps; r++) {
                T_START();
                vigil_flowdet_score(fd, recs, n_recs, cls, score);
                T_STOP(r);
            }
            printf("flowdet (records):         ");
            rates((double)n_recs, t, reps);
            printf("  [1 thread: scaling + mlp + decision]\n");
            vigil_free(cls);
            vigil_free(score);
            vigil_flowdet_free(fd);
        }
        remove(path);
    }
    vigil_bundle_fini(&bu);
    vigil_frame_fini(&fr);
    vigil_buf_fini(&mb);
    vigil_model_fini(&m);
    vigil_opt_free(ops->opts, mp);
    vigil_free(mp);
    vigil_free(out);
    vigil_free(recs);
    vigil_free(x);
    vigil_free(y);
    free(fs.data);
    free(fs.f);
    return 0;
}
