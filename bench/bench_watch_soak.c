/*
 * Memory over a long run of the watch engine: replays a day of 1 s samples
 * of a synthetic host (~500 series: CPUs, memory, vmstat, network, disks,
 * filesystems, netstat; and a few containers) at full speed through
 * everything `vigil watch` does per tick after collection: the engine (warm-up,
 * training on its worker, live scoring, policy), the score history and events
 * in SQLite (one transaction per tick, pruning as the service does), and the
 * /metrics and /api/entities texts. Retraining runs every 3 h of replayed
 * time, as configured by default; while the worker trains, the replay waits
 * for it (a live service keeps ticking, but a replay at full speed would
 * otherwise outrun every training), so each retraining is measured alone.
 *
 * Reports RSS (and the heap glibc has in use) before and after each
 * training and at the end, and the cost per tick of each phase. With --real
 * it measures instead the per-tick cost on this host: the real collectors,
 * warm-up at full speed, training, then timed ticks.
 *
 *     build/bench/bench_watch_soak [--hours H] [--model M] [--series N] [--real]
 *
 * The default model here is pca, so that `make bench` ends in about a minute;
 * `--model lstm-ae` (the service's default) trains for minutes each time and
 * the day takes about an hour on a loaded 2-vCPU machine (docs/perf.md).
 *
 * Validation before timing: the engine must reach scoring with the host and
 * every container modelled, and an injected CPU burst must open a cpu event
 * on the host (the engine works on this data, so the figures are of a
 * working run).
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vigil/buf.h"
#include "vigil/clock.h"
#include "vigil/collect.h"
#include "vigil/groups.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/rng.h"
#include "vigil/series.h"
#include "vigil/store.h"
#include "vigil/watch.h"

#define SEC 1000000000LL
#define MAXS 2048

/* ---- synthetic host ---- */

struct syn {
    struct vigil_series_table t;
    size_t n;
    double base[MAXS];  /* gauge level or counter rate per second */
    double noise[MAXS]; /* relative noise */
    double phase[MAXS]; /* of the daily cycle */
    double acc[MAXS];   /* counter value */
    int counter[MAXS];
    int constant[MAXS];
    uint32_t cpu_user[8]; /* host user-time counters (the burst goes there) */
    uint32_t cpu_idle[8];
    struct vigil_rng rng;
    float row[MAXS];
};

static void add(struct syn *s, const struct vigil_groups *g, const char *key, int counter,
                double base, const char *entity)
{
    uint32_t id;
    if (s->n >= MAXS || vigil_series_intern_text(&s->t, key, strlen(key), &id) != 0) {
        return;
    }
    struct vigil_series *sr = &s->t.v[id];
    sr->kind = (uint8_t)(counter ? VIGIL_KIND_COUNTER : VIGIL_KIND_GAUGE);
    sr->group = (uint8_t)vigil_groups_match(g, sr->name);
    vigil_series_set_entity(sr, entity);
    s->counter[id] = counter;
    s->base[id] = base;
    s->noise[id] = 0.02 + 0.1 * vigil_rng_uniform(&s->rng);
    s->phase[id] = 6.283 * vigil_rng_uniform(&s->rng);
    s->constant[id] = !counter && vigil_rng_uniform(&s->rng) < 0.1; /* sizes, limits */
    s->acc[id] = counter ? 1e6 * vigil_rng_uniform(&s->rng) : 0;
    s->n = id + 1;
}

/* Host series named as node-exporter names them, up to about target, and 4 containers. */
static void syn_init(struct syn *s, const struct vigil_groups *g, size_t target)
{
    static const char *const modes[] = {"user",   "nice", "system",  "idle",
                                        "iowait", "irq",  "softirq", "steal"};
    static const char *const dirs[] = {"receive", "transmit"};
    static const char *const nets[] = {"bytes", "packets", "errs",       "drop",
                                       "fifo",  "frame",   "compressed", "multicast"};
    static const char *const disks[] = {"reads_completed",  "reads_merged",
                                        "read_bytes",       "read_time_seconds",
                                        "writes_completed", "writes_merged",
                                        "written_bytes",    "write_time_seconds",
                                        "io_time_seconds",  "io_time_weighted_seconds"};
    static const char *const fs[] = {"avail_bytes", "free_bytes", "size_bytes", "files",
                                     "files_free"};
    static const char *const ctr[] = {"cpu_usage_seconds_total",
                                      "cpu_user_seconds_total",
                                      "cpu_system_seconds_total",
                                      "memory_usage_bytes",
                                      "memory_working_set_bytes",
                                      "memory_cache",
                                      "memory_rss",
                                      "network_receive_bytes_total",
                                      "network_transmit_bytes_total",
                                      "network_receive_packets_total",
                                      "network_transmit_packets_total",
                                      "fs_reads_bytes_total",
                                      "fs_writes_bytes_total",
                                      "blkio_device_usage_total",
                                      "memory_failures_total"};
    char k[256];
    memset(s, 0, sizeof *s);
    vigil_series_table_init(&s->t);
    vigil_rng_seed(&s->rng, 42);
    for (int c = 0; c < 8; c++) {
        for (int m = 0; m < 8; m++) {
            snprintf(k, sizeof k, "node_cpu_seconds_total{cpu=\"%d\",mode=\"%s\"}", c, modes[m]);
            add(s, g, k, 1, m == 3 ? 0.75 : m == 0 ? 0.15 : 0.015, NULL);
        }
        s->cpu_user[c] = (uint32_t)(s->n - 8);
        s->cpu_idle[c] = (uint32_t)(s->n - 5);
    }
    for (int i = 0; i < 45; i++) {
        snprintf(k, sizeof k, "node_memory_M%02d_bytes", i);
        add(s, g, k, 0, 1e8 * (1 + i), NULL);
    }
    for (int d = 0; d < 4; d++) {
        for (int x = 0; x < 2; x++) {
            for (int y = 0; y < 8; y++) {
                snprintf(k, sizeof k, "node_network_%s_%s_total{device=\"eth%d\"}", dirs[x],
                         nets[y], d);
                add(s, g, k, 1, y == 0 ? 1e5 : 10, NULL);
            }
        }
        for (int y = 0; y < 10; y++) {
            snprintf(k, sizeof k, "node_disk_%s_total{device=\"sd%c\"}", disks[y], 'a' + d);
            add(s, g, k, 1, 50, NULL);
        }
    }
    for (int m = 0; m < 6; m++) {
        for (int y = 0; y < 5; y++) {
            snprintf(k, sizeof k, "node_filesystem_%s{mountpoint=\"/m%d\"}", fs[y], m);
            add(s, g, k, 0, 1e10, NULL);
        }
    }
    for (int i = 0; s->n < target - 60 && i < 2000; i++) {
        snprintf(k, sizeof k, i % 3 ? "node_vmstat_v%d" : "node_netstat_Tcp_n%d_total", i);
        add(s, g, k, 1, 100, NULL);
    }
    for (int c = 0; c < 4; c++) {
        char name[16];
        snprintf(name, sizeof name, "app%d", c);
        for (int y = 0; y < 15; y++) {
            snprintf(k, sizeof k, "container_%s{name=\"%s\"}", ctr[y], name);
            add(s, g, k, strstr(ctr[y], "total") != NULL, strstr(ctr[y], "bytes") ? 1e8 : 1, name);
        }
    }
}

/* The raw row at time t (seconds); burst > 0 moves that share of idle time to user time. */
static const float *syn_tick(struct syn *s, int64_t t, double burst)
{
    double day = 6.283 * (double)t / 86400.0;
    for (size_t j = 0; j < s->n; j++) {
        double cyc = 1 + 0.2 * sin(day + s->phase[j]);
        double v = s->base[j] * cyc * (1 + s->noise[j] * vigil_rng_normal(&s->rng));
        if (s->counter[j]) {
            s->acc[j] += v > 0 ? v : 0;
            s->row[j] = (float)s->acc[j];
        } else {
            s->row[j] = (float)(s->constant[j] ? s->base[j] : v);
        }
    }
    for (int c = 0; burst > 0 && c < 8; c++) {
        s->acc[s->cpu_user[c]] += burst;
        s->acc[s->cpu_idle[c]] -= burst;
        s->row[s->cpu_user[c]] = (float)s->acc[s->cpu_user[c]];
        s->row[s->cpu_idle[c]] = (float)s->acc[s->cpu_idle[c]];
    }
    return s->row;
}

/* ---- what vigil watch does around the engine ---- */

/* A field of /proc/self/status in kB ("VmRSS", "RssAnon", "RssFile"). */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = atol(line + n + 1);
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

static long rss_kb(void)
{
    return status_kb("VmRSS");
}

static long heap_kb(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
}

struct sink {
    struct vigil_store *st;
    int cpu_events;
    int events;
};

static void on_event(void *user, enum vigil_watch_change what, struct vigil_watch_event *ev)
{
    struct sink *k = user;
    vigil_watch_store_event(k->st, ev); /* as vigil watch does */
    if (what == VIGIL_WATCH_OPENED) {
        k->events++;
        k->cpu_events += strcmp(ev->entity, "host") == 0 && strcmp(ev->group, "cpu") == 0;
    }
}

struct phases {
    double collect, score, store, render;
    long ticks;
};

/* One tick after collection: engine, store, renders. Returns 0 or an error. */
static int tick(struct vigil_watch *w, struct vigil_watch_history *h,
                const struct vigil_series_table *t, const float *row, int64_t ts,
                struct vigil_collect *col, struct vigil_buf *metrics, struct vigil_buf *ents,
                struct phases *ph)
{
    int64_t t0 = vigil_clock_mono_ns();
    int rc = vigil_watch_push(w, ts, t, row);
    int64_t t1 = vigil_clock_mono_ns();
    if (rc) {
        return rc;
    }
    vigil_watch_history_tick(h, w, ts, (double)row[0], 0); /* as vigil watch does */
    int64_t t2 = vigil_clock_mono_ns();
    vigil_buf_reset(metrics);
    vigil_buf_reset(ents);
    rc = col ? vigil_collect_render(col, metrics, 0) : 0;
    rc = rc ? rc : vigil_watch_render_metrics(w, metrics);
    rc = rc ? rc : vigil_watch_render_entities(w, ents);
    int64_t t3 = vigil_clock_mono_ns();
    ph->score += (double)(t1 - t0) / 1e9;
    ph->store += (double)(t2 - t1) / 1e9;
    ph->render += (double)(t3 - t2) / 1e9;
    ph->ticks++;
    return rc;
}

static void print_phases(const char *what, const struct phases *ph)
{
    double n = ph->ticks ? (double)ph->ticks : 1;
    printf("%-26s %8ld ticks: collect %8.1f us  score %8.1f us  store %8.1f us  render %8.1f us"
           "  total %8.1f us/tick\n",
           what, ph->ticks, 1e6 * ph->collect / n, 1e6 * ph->score / n, 1e6 * ph->store / n,
           1e6 * ph->render / n, 1e6 * (ph->collect + ph->score + ph->store + ph->render) / n);
}

/* Waits while the engine's worker trains (at most an hour); returns the wall time waited. */
static double wait_training(const struct vigil_watch *w)
{
    int64_t t0 = vigil_clock_mono_ns();
    while (vigil_watch_training(w) && vigil_clock_mono_ns() - t0 < 3600 * SEC) {
        usleep(20000);
    }
    return (double)(vigil_clock_mono_ns() - t0) / 1e9;
}

static int make_engine(struct vigil_watch **w, const char *model, struct sink *k)
{
    struct vigil_watch_conf conf;
    struct vigil_diag d;
    vigil_diag_clear(&d);
    if (vigil_watch_conf_default(&conf) != 0) {
        return -ENOMEM;
    }
    vigil_free(conf.model);
    conf.model = vigil_strdup(model);
    struct vigil_watch_sink sk = {on_event, k};
    int rc = vigil_watch_new(w, &conf, NULL, &sk, &d);
    if (rc) {
        fprintf(stderr, "bench_watch_soak: %s\n", d.msg);
    }
    vigil_watch_conf_fini(&conf);
    return rc;
}

static int soak(double hours, const char *model, size_t target, const char *dir)
{
    struct vigil_groups *g;
    struct vigil_diag d;
    if (vigil_groups_new(&g, NULL, NULL, 0, &d) != 0) {
        return 1;
    }
    static struct syn s;
    syn_init(&s, g, target);
    char db[600];
    snprintf(db, sizeof db, "%s/soak.db", dir);
    struct sink k = {0};
    struct vigil_watch *w;
    if (vigil_store_open(&k.st, db, 0) != 0 || make_engine(&w, model, &k) != 0) {
        return 1;
    }
    printf("watch soak: %zu series (host and 4 containers), model %s, step 1 s, %.1f h "
           "replayed, retraining every 3 h\n",
           s.n, model, hours);
    struct vigil_buf metrics, ents;
    vigil_buf_init(&metrics);
    vigil_buf_init(&ents);
    struct phases ph = {0}, steady = {0};
    int64_t ts0 = 1700000000LL * SEC;
    struct vigil_watch_history h;
    vigil_watch_history_init(&h, k.st, ts0, 0, 0);
    long ticks = (long)(hours * 3600);
    long rss_start = rss_kb();
    printf("%-34s RSS %7ld kB  heap %7ld kB  (anon %ld, file %ld)\n", "start", rss_start, heap_kb(),
           status_kb("RssAnon"), status_kb("RssFile"));
    size_t trainings = 0;
    double train_wall = 0;
    int burst_checked = 0;
    long rss_scoring = 0;
    for (long i = 0; i < ticks; i++) {
        int64_t ts = ts0 + i * SEC;
        /* Validation: a 40 s CPU burst 20 min after the first training. */
        double burst = trainings >= 1 && i >= 1800 && i < 1840 ? 0.8 : 0;
        const float *row = syn_tick(&s, i, burst);
        struct phases *p = trainings >= 1 ? &steady : &ph;
        if (tick(w, &h, &s.t, row, ts, NULL, &metrics, &ents, p) != 0) {
            fprintf(stderr, "bench_watch_soak: tick failed\n");
            return 1;
        }
        if (vigil_watch_training(w)) {
            char what[64];
            snprintf(what, sizeof what, "before training %zu (%.2f h)", trainings + 1,
                     (double)i / 3600.0);
            printf("%-34s RSS %7ld kB  heap %7ld kB\n", what, rss_kb(), heap_kb());
            double wall = wait_training(w);
            train_wall += wall;
            /* One more tick installs the generation. */
            i++;
            row = syn_tick(&s, i, 0);
            tick(w, &h, &s.t, row, ts0 + i * SEC, NULL, &metrics, &ents, p);
            trainings++;
            snprintf(what, sizeof what, "after training %zu (%.0f s)", trainings, wall);
            printf("%-34s RSS %7ld kB  heap %7ld kB  (%zu models; anon %ld, file %ld)\n", what,
                   rss_kb(), heap_kb(), vigil_watch_n_models(w), status_kb("RssAnon"),
                   status_kb("RssFile"));
            if (trainings == 1) {
                rss_scoring = rss_kb();
            }
        }
        if (!burst_checked && i == 1900 && trainings >= 1) {
            burst_checked = 1;
            if (vigil_watch_n_models(w) < 5 || k.cpu_events < 1) {
                printf("FAILED validation: %zu models (want host + 4 containers), %d host cpu "
                       "events after a burst\n",
                       vigil_watch_n_models(w), k.cpu_events);
                return 1;
            }
            printf("%-34s %zu models, the burst opened a host cpu event\n", "validation ok",
                   vigil_watch_n_models(w));
        }
    }
    vigil_watch_close_all(w, ts0 + ticks * SEC);
    long rss_end = rss_kb();
    printf("%-34s RSS %7ld kB  heap %7ld kB  (%d events, %zu trainings, %.0f s training)\n", "end",
           rss_end, heap_kb(), k.events, trainings, train_wall);
    printf("%-34s %+ld kB (end minus after the first training)\n", "growth while scoring",
           rss_end - rss_scoring);
    print_phases("warm-up", &ph);
    print_phases("scoring (synthetic, no collect)", &steady);
    vigil_buf_fini(&metrics);
    vigil_buf_fini(&ents);
    vigil_watch_free(w);
    vigil_store_close(k.st);
    vigil_groups_free(g);
    vigil_series_table_fini(&s.t);
    return 0;
}

/* ---- the real host ---- */

static int real_host(const char *model, const char *dir)
{
    struct vigil_collect *col;
    struct vigil_collect_conf cc;
    struct vigil_diag d;
    vigil_collect_conf_default(&cc);
    if (vigil_collect_new(&col, &cc, &d) || vigil_collect_start(col, &d)) {
        printf("real host: skipped: %s\n", d.msg);
        return 0;
    }
    struct sink k = {0};
    char db[600];
    snprintf(db, sizeof db, "%s/real.db", dir);
    struct vigil_watch *w;
    if (vigil_store_open(&k.st, db, 0) != 0 || make_engine(&w, model, &k) != 0) {
        return 1;
    }
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    float *row = NULL;
    size_t cap = 0;
    struct vigil_buf metrics, ents;
    vigil_buf_init(&metrics);
    vigil_buf_init(&ents);
    struct phases warm = {0}, ph = {0};
    int64_t ts = vigil_clock_wall_ns();
    struct vigil_watch_history h;
    vigil_watch_history_init(&h, k.st, ts, 0, 0);
    /* The collector's ticks back to back (10 ms apart) stand in for 1 s steps: the default
     * 10 min warm-up takes 6 s, then the engine trains and 300 scored ticks are timed. */
    int scored = 0, trained = 0;
    for (int i = 0; scored < 300 && i < 100000; i++) {
        const struct vigil_sample_batch *b;
        int64_t t0 = vigil_clock_mono_ns();
        if (vigil_collect_tick(col, &b) != 0) {
            return 1;
        }
        const struct vigil_series_table *ct = vigil_collect_series(col);
        for (size_t j = t.n; j < ct->n; j++) {
            uint32_t id;
            vigil_series_intern_text(&t, ct->v[j].key, strlen(ct->v[j].key), &id);
            t.v[id].kind = ct->v[j].kind;
            t.v[id].group = ct->v[j].group;
            vigil_series_set_entity(&t.v[id], ct->v[j].entity);
        }
        if (t.n > cap) {
            cap = t.n * 2;
            row = vigil_realloc(row, cap * sizeof *row);
        }
        for (size_t j = 0; j < cap; j++) {
            row[j] = NAN;
        }
        for (size_t j = 0; j < b->n; j++) {
            row[b->v[j].series] = (float)b->v[j].value; /* same ids: t mirrors the collector */
        }
        struct phases *p = trained ? &ph : &warm;
        p->collect += (double)(vigil_clock_mono_ns() - t0) / 1e9;
        if (tick(w, &h, &t, row, ts, col, &metrics, &ents, p) != 0) {
            return 1;
        }
        ts += SEC;
        if (vigil_watch_training(w)) {
            double wall = wait_training(w);
            printf("real host: %zu series, training %s took %.1f s\n", t.n, model, wall);
            trained = 1;
        }
        scored += trained;
        usleep(10000);
    }
    printf("real host: %zu models, RSS %ld kB\n", vigil_watch_n_models(w), rss_kb());
    print_phases("real host, warm-up", &warm);
    print_phases("real host, scoring", &ph);
    vigil_buf_fini(&metrics);
    vigil_buf_fini(&ents);
    vigil_free(row);
    vigil_series_table_fini(&t);
    vigil_watch_free(w);
    vigil_store_close(k.st);
    vigil_collect_free(col);
    return 0;
}

int main(int argc, char **argv)
{
    double hours = 24;
    const char *model = "pca";
    size_t series = 500;
    int real = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hours") == 0 && i + 1 < argc) {
            hours = atof(argv[++i]);
        } else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
            model = argv[++i];
        } else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc) {
            series = (size_t)atol(argv[++i]);
        } else if (strcmp(argv[i], "--real") == 0) {
            real = 1;
        } else {
            fprintf(stderr, "usage: bench_watch_soak [--hours H] [--model M] [--series N] "
                            "[--real]\n");
            return 2;
        }
    }
    if (series < 100 || series > MAXS - 100 || hours <= 0.3) {
        fprintf(stderr, "bench_watch_soak: --series 100..%d, --hours > 0.3\n", MAXS - 100);
        return 2;
    }
    vigil_log_set_level(VIGIL_LOG_WARN);
    if (!getenv("SOAK_DEFAULT_MALLOC")) {
        mallopt(M_MMAP_THRESHOLD, 1 << 20); /* as vigil watch sets it (cmd_watch.c) */
    }
    char dir[] = "/tmp/vigil-soak-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = real ? real_host(model, dir) : soak(hours, model, series, dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_watch_soak: could not remove %s\n", dir);
    }
    return rc;
}
