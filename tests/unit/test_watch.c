/*
 * The watch engine in process with a fake clock (fluent-bit's runtime tests):
 * synthetic host and container series, warm-up, training on the worker
 * thread, live scoring, a CPU burst that must open a cpu event naming CPU
 * features (and no memory event), its closing, a stale source (NaN rows) that
 * must not raise anything, and shutdown closing open events. A random forest
 * trained here on labelled synthetic rows names the fault type of events.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/bundle.h"
#include "vigil/frame.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/opt.h"
#include "vigil/rng.h"
#include "vigil/series.h"
#include "vigil/watch.h"

#define SEC 1000000000LL

struct rec {
    int opened[8], closed[8]; /* per group index of "cpu","memory",... */
    int n_open, n_close;
    char first_features[512];
    char first_entity[64];
    char fault[8][96]; /* per group index: the fault of its last opened event */
    double max_cpu;    /* largest intensity a cpu event reached */
    int n_refresh;
    int64_t next_id;
};

static int gidx(const char *g)
{
    int k = vigil_group_parse(g);
    return k < 0 ? 7 : k;
}

static void sink_fn(void *user, enum vigil_watch_change what, struct vigil_watch_event *ev)
{
    struct rec *r = user;
    if (strcmp(ev->group, "cpu") == 0 && ev->intensity > r->max_cpu) {
        r->max_cpu = ev->intensity;
    }
    if (what == VIGIL_WATCH_OPENED) {
        ev->id = ++r->next_id;
        r->opened[gidx(ev->group)]++;
        if (r->n_open++ == 0) {
            snprintf(r->first_features, sizeof r->first_features, "%s", ev->features);
            snprintf(r->first_entity, sizeof r->first_entity, "%s", ev->entity);
        }
        snprintf(r->fault[gidx(ev->group)], sizeof r->fault[0], "%s", ev->fault ? ev->fault : "");
    } else if (what == VIGIL_WATCH_UPDATED && ev->refresh) {
        r->n_refresh++;
    } else if (what == VIGIL_WATCH_CLOSED) {
        assert_true(ev->id > 0);
        assert_true(ev->end_ns >= ev->start_ns);
        r->closed[gidx(ev->group)]++;
        r->n_close++;
    }
}

struct world {
    struct vigil_series_table t;
    uint32_t user, idle, avail, cached, web_cpu, web_mem;
    double c_user, c_idle, c_web;
    struct vigil_rng rng;
    float row[16];
};

static uint32_t add(struct vigil_series_table *t, const char *key, enum vigil_kind k,
                    enum vigil_group g, const char *entity)
{
    uint32_t id;
    assert_int_equal(vigil_series_intern_text(t, key, strlen(key), &id), 0);
    t->v[id].kind = (uint8_t)k;
    t->v[id].group = (uint8_t)g;
    if (entity) {
        assert_int_equal(vigil_series_set_entity(&t->v[id], entity), 0);
    }
    return id;
}

static void world_init(struct world *w)
{
    vigil_series_table_init(&w->t);
    w->user = add(&w->t, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}", VIGIL_KIND_COUNTER,
                  VIGIL_GROUP_CPU, NULL);
    w->idle = add(&w->t, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}", VIGIL_KIND_COUNTER,
                  VIGIL_GROUP_CPU, NULL);
    w->avail =
        add(&w->t, "node_memory_MemAvailable_bytes", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY, NULL);
    w->cached = add(&w->t, "node_memory_Cached_bytes", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY, NULL);
    w->web_cpu = add(&w->t, "container_cpu_usage_seconds_total{name=\"web\"}", VIGIL_KIND_COUNTER,
                     VIGIL_GROUP_CPU, "web");
    w->web_mem = add(&w->t, "container_memory_usage_bytes{name=\"web\"}", VIGIL_KIND_GAUGE,
                     VIGIL_GROUP_MEMORY, "web");
    vigil_rng_seed(&w->rng, 7);
}

/* One second of the world: busy is the CPU share of user time (normal ~0.1-0.3); mem_free is
 * the available memory in bytes (normal 4e9). */
static const float *world_tick_mem(struct world *w, double busy, double mem_free)
{
    double u = busy + 0.02 * vigil_rng_normal(&w->rng);
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    w->c_user += u;
    w->c_idle += 1 - u;
    w->c_web += 0.05 + 0.01 * vigil_rng_uniform(&w->rng);
    w->row[w->user] = (float)w->c_user;
    w->row[w->idle] = (float)w->c_idle;
    w->row[w->avail] = (float)(mem_free + 5e7 * vigil_rng_normal(&w->rng));
    w->row[w->cached] = (float)(1e9 + 2e7 * vigil_rng_normal(&w->rng));
    w->row[w->web_cpu] = (float)w->c_web;
    w->row[w->web_mem] = (float)(2e8 + 1e6 * vigil_rng_normal(&w->rng));
    return w->row;
}

static const float *world_tick(struct world *w, double busy)
{
    return world_tick_mem(w, busy, 4e9);
}

/* The normal CPU pattern: user time 0.2 + 0.1 sin(i / 20) of the i-th row fed. */
#define NORMAL (-1.0)

/* Feeds n rows of the world (busy share of user time, or NORMAL; available memory mem). */
static int64_t feed(struct vigil_watch *wt, struct world *w, int64_t ts, int n, double busy,
                    double mem)
{
    for (int i = 0; i < n; i++) {
        double b = busy == NORMAL ? 0.2 + 0.1 * sin((double)i / 20.0) : busy;
        assert_int_equal(vigil_watch_push(wt, ts, &w->t, world_tick_mem(w, b, mem)), 0);
        ts += SEC;
    }
    return ts;
}

/* Feeds n rows of a stale source (every value missing) while the world goes on. */
static int64_t feed_stale(struct vigil_watch *wt, struct world *w, int64_t ts, int n)
{
    float nan_row[16];
    for (int j = 0; j < 16; j++) {
        nan_row[j] = NAN;
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(vigil_watch_push(wt, ts, &w->t, nan_row), 0);
        world_tick(w, 0.2); /* the counters go on while nobody reads them */
        ts += SEC;
    }
    return ts;
}

/* Defaults for the tests: a 300 s warm-up, no retraining, the given model. */
static void conf_init(struct vigil_watch_conf *conf, const char *model)
{
    assert_int_equal(vigil_watch_conf_default(conf), 0);
    conf->warmup = 300 * SEC;
    conf->retrain = 0;
    vigil_free(conf->model);
    conf->model = vigil_strdup(model);
}

/*
 * Feeds normal rows until the first models are live. While the worker trains
 * the fake clock stops (at most 120 s of real time: a sanitizer build on a
 * loaded machine trains slowly), so the rows and events of a test do not
 * depend on how fast the machine is.
 */
static int64_t run_until_scoring(struct vigil_watch *wt, struct world *w, int64_t ts)
{
    for (int i = 0; i < 2000 && vigil_watch_phase(wt) != VIGIL_WATCH_SCORING; i++) {
        double busy = 0.2 + 0.1 * sin((double)i / 20.0);
        assert_int_equal(vigil_watch_push(wt, ts, &w->t, world_tick(w, busy)), 0);
        ts += SEC;
        for (int waits = 0; waits < 6000 && vigil_watch_training(wt); waits++) {
            usleep(20000);
        }
    }
    assert_int_equal(vigil_watch_phase(wt), VIGIL_WATCH_SCORING);
    return ts;
}

/* Shutdown of a test's engine: open events close at ts, then everything is freed. */
static void watch_end(struct vigil_watch *wt, int64_t ts, struct vigil_watch_conf *conf,
                      struct world *w)
{
    vigil_watch_close_all(wt, ts);
    vigil_watch_free(wt);
    vigil_watch_conf_fini(conf);
    vigil_series_table_fini(&w->t);
}

/* A small autoencoder, so that the tests train in a fraction of a second. */
static const char *const lstm_small[] = {"window", "8",  "hidden", "8",  "latent", "4",
                                         "epochs", "15", "batch",  "32", NULL};

/* The model's params: its defaults, then opts (name, value pairs, NULL-terminated). */
static void *model_params(const char *model, const char *const *opts)
{
    const struct vigil_model_ops *ops = vigil_model_find(model);
    assert_non_null(ops);
    void *params = vigil_calloc(1, ops->params_size);
    assert_int_equal(vigil_opt_defaults(ops->opts, params), 0);
    for (int i = 0; opts && opts[i]; i += 2) {
        assert_int_equal(
            vigil_opt_set(ops->opts, params, opts[i], opts[i + 1], strlen(opts[i + 1]), NULL), 0);
    }
    return params;
}

static void model_params_free(const char *model, void *params)
{
    vigil_opt_free(vigil_model_find(model)->opts, params);
    vigil_free(params);
}

static void check_burst(const char *model, const char *const *opts)
{
    struct vigil_watch_conf conf;
    conf_init(&conf, model);
    /* The held-out quantile of a few dozen points is a noisy estimate; a margin keeps
     * this synthetic world free of marginal alarms (the bursts score ~100x). */
    conf.threshold = 1.5;
    void *params = model_params(model, opts);
    struct rec r = {0};
    struct vigil_watch_sink sink = {sink_fn, &r};
    struct vigil_watch *wt;
    struct vigil_diag d;
    assert_int_equal(vigil_watch_new(&wt, &conf, params, &sink, &d), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = 1700000000LL * SEC;
    assert_true(vigil_watch_progress(wt) == 0.0);
    ts = run_until_scoring(wt, &w, ts);
    assert_int_equal(vigil_watch_n_models(wt), 2); /* host and web */
    /* Normal behaviour goes on: scores exist and nothing opens. */
    ts = feed(wt, &w, ts, 120, NORMAL, 4e9);
    assert_int_equal(r.n_open, 0);
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_watch_render_metrics(wt, &b), 0);
    assert_non_null(strstr(b.p, "vigil_anomaly_score{entity=\"host\",group=\"cpu\"} "));
    assert_non_null(strstr(b.p, "vigil_anomaly{entity=\"web\",group=\"memory\"} 0"));
    assert_non_null(strstr(b.p, "vigil_watch_phase 2"));
    /* A CPU burst on the host: a cpu event for the host, explained by CPU series. */
    ts = feed(wt, &w, ts, 30, 0.98, 4e9);
    assert_int_equal(r.opened[VIGIL_GROUP_CPU], 1);
    assert_int_equal(r.opened[VIGIL_GROUP_MEMORY], 0);
    assert_string_equal(r.first_entity, "host");
    assert_non_null(strstr(r.first_features, "node_cpu_seconds_total"));
    assert_null(strstr(r.first_features, "node_memory"));
    vigil_buf_reset(&b);
    vigil_watch_render_metrics(wt, &b);
    assert_non_null(strstr(b.p, "vigil_anomaly{entity=\"host\",group=\"cpu\"} 1"));
    vigil_buf_reset(&b);
    assert_int_equal(vigil_watch_render_entities(wt, &b), 0);
    assert_non_null(strstr(b.p, "{\"entity\":\"host\""));
    assert_non_null(strstr(b.p, "\"anomaly\":1"));
    int64_t rts[64];
    float rr[64];
    size_t nr = vigil_watch_recent(wt, "host", "cpu", rts, rr, 64);
    assert_int_equal(nr, 64);
    assert_true(rr[63] > 1.0f);
    /* Back to normal: the event closes. */
    ts = feed(wt, &w, ts, 60, 0.2, 4e9);
    assert_int_equal(r.closed[VIGIL_GROUP_CPU], 1);
    /* A stale source: NaN rows raise nothing. */
    int before = r.n_open;
    ts = feed_stale(wt, &w, ts, 100);
    assert_int_equal(r.n_open, before);
    /* The source comes back: the counters' first increase spans the gap and the window still
     * holds repeated values, which must not raise anything either (issue 6). */
    ts = feed(wt, &w, ts, 40, 0.2, 4e9);
    assert_int_equal(r.n_open, before);
    /* A short outage, bridged by the gap filling: repeated values, then one counter increase
     * worth four steps, which a sequence model would see in every window for T steps. */
    for (int k = 0; k < 3; k++) {
        ts = feed_stale(wt, &w, ts, 3);
        ts = feed(wt, &w, ts, 30, 0.2, 4e9);
    }
    assert_int_equal(r.n_open, before);
    /* Shutdown during an anomaly closes it. */
    ts = feed(wt, &w, ts, 10, 0.99, 4e9);
    int open_now = r.n_open - r.n_close;
    vigil_watch_close_all(wt, ts);
    assert_true(open_now >= 1);
    assert_int_equal(r.n_open, r.n_close);
    vigil_buf_fini(&b);
    vigil_watch_free(wt);
    model_params_free(model, params);
    vigil_watch_conf_fini(&conf);
    vigil_series_table_fini(&w.t);
}

static void test_watch_kmeans_detects_cpu_burst(void **state)
{
    (void)state;
    check_burst("kmeans", NULL);
}

static void test_watch_lstm_ae_detects_cpu_burst(void **state)
{
    (void)state;
    check_burst("lstm-ae", lstm_small);
}

/* Feeds rows, waiting for a training started meanwhile (the fake clock stops while it runs). */
static int64_t feed_waiting(struct vigil_watch *wt, struct world *w, int64_t ts, int n, double busy,
                            double mem)
{
    for (int i = 0; i < n; i++) {
        ts = feed(wt, w, ts, 1, busy, mem);
        for (int waits = 0; waits < 6000 && vigil_watch_training(wt); waits++) {
            usleep(20000);
        }
    }
    return ts;
}

static size_t metric(struct vigil_watch *wt, const char *name)
{
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_watch_render_metrics(wt, &b), 0);
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(b.p, key);
    assert_non_null(p);
    size_t v = (size_t)strtoull(p + strlen(key), NULL, 10);
    vigil_buf_fini(&b);
    return v;
}

/*
 * Retraining: the second training comes when the history has doubled (600 s
 * after a 300 s warm-up), leaves the rows of a past CPU burst out, and the
 * same burst is still an anomaly for the new model. A level that moves and
 * stays (available memory down by a quarter) is an event at first; once its
 * events cover more than half of the history, a training takes it as the new
 * normal and the event closes.
 */
static void test_watch_retrains_without_past_events(void **state)
{
    (void)state;
    struct vigil_watch_conf conf;
    conf_init(&conf, "kmeans");
    conf.threshold = 1.5;
    conf.retrain = 3600 * SEC;
    struct rec r = {0};
    struct vigil_watch_sink sink = {sink_fn, &r};
    struct vigil_watch *wt;
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, &sink, NULL), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = run_until_scoring(wt, &w, 1700000000LL * SEC); /* trained at 300 s */
    assert_int_equal(metric(wt, "vigil_watch_trainings_total"), 1);
    ts = feed_waiting(wt, &w, ts, 60, NORMAL, 4e9);
    ts = feed_waiting(wt, &w, ts, 30, 0.98, 4e9);
    assert_int_equal(r.opened[VIGIL_GROUP_CPU], 1);
    ts = feed_waiting(wt, &w, ts, 60, 0.2, 4e9);
    assert_int_equal(r.closed[VIGIL_GROUP_CPU], 1);
    assert_int_equal(metric(wt, "vigil_watch_trainings_total"), 1);
    /* 600 s: the second training, without the burst's rows. */
    ts = feed_waiting(wt, &w, ts, 160, NORMAL, 4e9);
    assert_int_equal(metric(wt, "vigil_watch_trainings_total"), 2);
    size_t masked = metric(wt, "vigil_watch_training_excluded_rows");
    assert_true(masked >= 28 && masked <= 40);
    ts = feed_waiting(wt, &w, ts, 30, 0.98, 4e9);
    assert_int_equal(r.opened[VIGIL_GROUP_CPU], 2);
    ts = feed_waiting(wt, &w, ts, 30, 0.2, 4e9);
    /* Available memory drops to 3e9 and stays: a memory event, open through the 1200 s
     * training (its events cover under half of the history then), closed after the one
     * at 2400 s (over half), whose model has learnt the new level. */
    assert_int_equal(r.opened[VIGIL_GROUP_MEMORY], 0);
    ts = feed_waiting(wt, &w, ts, 300, NORMAL, 3e9);
    assert_int_equal(r.opened[VIGIL_GROUP_MEMORY], 1);
    ts = feed_waiting(wt, &w, ts, 260, NORMAL, 3e9);
    assert_int_equal(metric(wt, "vigil_watch_trainings_total"), 3);
    assert_int_equal(r.closed[VIGIL_GROUP_MEMORY], 0);
    ts = feed_waiting(wt, &w, ts, 1250, NORMAL, 3e9);
    assert_int_equal(metric(wt, "vigil_watch_trainings_total"), 4);
    assert_int_equal(r.closed[VIGIL_GROUP_MEMORY], 1);
    assert_int_equal(r.opened[VIGIL_GROUP_MEMORY], 1);
    watch_end(wt, ts, &conf, &w);
}

/*
 * A burst open across a retraining whose held-out rows it covers: the
 * threshold of the cpu group is set on older rows it can score, and the event
 * closes once the burst is over.
 */
static void test_watch_retrain_during_burst(void **state)
{
    (void)state;
    struct vigil_watch_conf conf;
    conf_init(&conf, "lstm-ae");
    conf.threshold = 1.5;
    conf.retrain = 3600 * SEC;
    void *params = model_params("lstm-ae", lstm_small);
    struct rec r = {0};
    struct vigil_watch_sink sink = {sink_fn, &r};
    struct vigil_watch *wt;
    assert_int_equal(vigil_watch_new(&wt, &conf, params, &sink, NULL), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = run_until_scoring(wt, &w, 1700000000LL * SEC);
    ts = feed_waiting(wt, &w, ts, 150, NORMAL, 4e9);
    ts = feed_waiting(wt, &w, ts, 170, 0.98, 4e9); /* 450 s to 620 s; training at 600 s */
    assert_int_equal(metric(wt, "vigil_watch_trainings_total"), 2);
    assert_int_equal(r.opened[VIGIL_GROUP_CPU], 1);
    assert_int_equal(r.closed[VIGIL_GROUP_CPU], 0);
    ts = feed_waiting(wt, &w, ts, 60, 0.2, 4e9);
    assert_int_equal(r.closed[VIGIL_GROUP_CPU], 1);
    assert_int_equal(r.opened[VIGIL_GROUP_CPU], 1);
    vigil_watch_close_all(wt, ts);
    vigil_watch_free(wt);
    model_params_free("lstm-ae", params);
    vigil_watch_conf_fini(&conf);
    vigil_series_table_fini(&w.t);
}

/*
 * PCA reconstructs the two anti-correlated CPU series of the host exactly, so
 * its training threshold sits at float rounding noise; the min-error floor
 * must keep normal operation quiet (regression for issue 6).
 */
static void test_watch_pca_quiet_on_normal_6(void **state)
{
    (void)state;
    struct vigil_watch_conf conf;
    conf_init(&conf, "pca");
    conf.retrain = 3 * 3600 * SEC;
    struct rec r = {0};
    struct vigil_watch_sink sink = {sink_fn, &r};
    struct vigil_watch *wt;
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, &sink, NULL), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = run_until_scoring(wt, &w, 1700000000LL * SEC);
    ts = feed(wt, &w, ts, 600, NORMAL, 4e9);
    assert_int_equal(r.n_open, 0);
    vigil_watch_free(wt);
    vigil_watch_conf_fini(&conf);
    vigil_series_table_fini(&w.t);
}

/*
 * A random forest model file trained on the host's four series of a fresh
 * world, as `vigil train -m rf --labels` would write it: class 0 normal, 1 a
 * CPU hog (user time near 100%), 2 a memory leak (available memory down to
 * 1.5 GB), in alternating segments of 100 s.
 */
static void train_fault_model(const char *path, const char *model)
{
    struct world w = {0};
    world_init(&w);
    vigil_rng_seed(&w.rng, 11);
    struct vigil_frame fr;
    vigil_frame_init(&fr);
    const uint32_t src[4] = {w.user, w.idle, w.avail, w.cached};
    for (int c = 0; c < 4; c++) {
        const struct vigil_series *sr = &w.t.v[src[c]];
        uint32_t col;
        assert_int_equal(vigil_frame_add_col(&fr, sr->key, strlen(sr->key), &col), 0);
        fr.cols.v[col].kind = sr->kind;
        fr.cols.v[col].group = sr->group;
    }
    fr.has_time = 1;
    static const int seg[] = {0, 1, 0, 2, 0, 1, 0, 2, 0};
    int32_t y[900];
    int64_t ts = 1600000000LL * SEC;
    for (int k = 0; k < 9; k++) {
        for (int i = 0; i < 100; i++) {
            double busy = seg[k] == 1 ? 0.95 : 0.2 + 0.1 * sin((double)i / 20.0);
            const float *row = world_tick_mem(&w, busy, seg[k] == 2 ? 1.5e9 : 4e9);
            float *dst;
            assert_int_equal(vigil_frame_add_row(&fr, ts, &dst), 0);
            for (int c = 0; c < 4; c++) {
                dst[c] = row[src[c]];
            }
            y[fr.n - 1] = seg[k];
            ts += SEC;
        }
    }
    assert_int_equal(vigil_frame_alloc_labels(&fr), 0);
    memcpy(fr.y, y, sizeof y);
    const struct vigil_model_ops *rf = vigil_model_find(model);
    assert_non_null(rf);
    void *params = vigil_calloc(1, rf->params_size);
    assert_int_equal(vigil_opt_defaults(rf->opts, params), 0);
    if (vigil_opt_find(rf->opts, "trees")) {
        assert_int_equal(vigil_opt_set(rf->opts, params, "trees", "20", 2, NULL), 0);
    }
    struct vigil_prep_params pp;
    vigil_prep_params_default(&pp);
    struct vigil_bundle b;
    struct vigil_diag d;
    struct vigil_bundle_train_opts o = {.ops = rf, .params = params, .prep = &pp, .threads = 1};
    assert_int_equal(vigil_bundle_train(&b, &o, &fr, NULL, &d), 0);
    assert_int_equal(vigil_bundle_save(&b, path), 0);
    vigil_bundle_fini(&b);
    vigil_opt_free(rf->opts, params);
    vigil_free(params);
    vigil_frame_fini(&fr);
    vigil_series_table_fini(&w.t);
}

/* The RF names a CPU burst "cpu_hog" and a memory drop "mem_leak"; open events are resent. */
static void test_watch_supervised_names_faults(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/faults.vmdl", tu_tmpdir());
    train_fault_model(path, "rf");
    struct vigil_watch_conf conf;
    conf_init(&conf, "kmeans");
    conf.resend = 5 * SEC;
    conf.supervised = vigil_strdup(path);
    conf.classes = vigil_strdup("normal, cpu_hog,mem_leak");
    struct rec r = {0};
    struct vigil_watch_sink sink = {sink_fn, &r};
    struct vigil_watch *wt;
    struct vigil_diag d;
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, &sink, &d), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = run_until_scoring(wt, &w, 1700000000LL * SEC);
    ts = feed(wt, &w, ts, 120, NORMAL, 4e9);
    assert_int_equal(r.n_open, 0);
    ts = feed(wt, &w, ts, 30, 0.98, 4e9);
    assert_int_equal(r.opened[VIGIL_GROUP_CPU], 1);
    assert_true(strncmp(r.fault[VIGIL_GROUP_CPU], "cpu_hog (p=", 11) == 0);
    assert_true(r.n_refresh >= 3); /* open ~27 s, resent every 5 s */
    ts = feed(wt, &w, ts, 90, 0.2, 4e9);
    assert_int_equal(r.n_open, r.n_close);
    ts = feed(wt, &w, ts, 30, 0.2, 1.5e9);
    assert_int_equal(r.opened[VIGIL_GROUP_MEMORY], 1);
    assert_true(strncmp(r.fault[VIGIL_GROUP_MEMORY], "mem_leak (p=", 12) == 0);
    watch_end(wt, ts, &conf, &w);
}

/* A model file that is missing, corrupt or unsupervised is refused, naming it. */
static void test_watch_supervised_bad_files(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/garbage.vmdl", tu_tmpdir());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("VIGILMDL not really a model file", f);
    fclose(f);
    struct vigil_watch_conf conf;
    conf_init(&conf, "kmeans");
    conf.supervised = vigil_strdup(path);
    struct vigil_watch *wt = NULL;
    struct vigil_diag d;
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, NULL, &d), VIGIL_EFORMAT);
    assert_non_null(strstr(d.msg, "supervised"));
    vigil_free(conf.supervised);
    snprintf(path, sizeof path, "%s/none.vmdl", tu_tmpdir());
    conf.supervised = vigil_strdup(path);
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, NULL, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "none.vmdl"));
    snprintf(path, sizeof path, "%s/pca.vmdl", tu_tmpdir());
    train_fault_model(path, "pca");
    vigil_free(conf.supervised);
    conf.supervised = vigil_strdup(path);
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, NULL, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "not a supervised"));
    vigil_watch_conf_fini(&conf);
}

/*
 * A source that goes quiet for a few steps and comes back: the gap filling
 * repeats values, and the counters' first increase spans the whole gap (four
 * to eight steps' worth: a cpu score in the hundreds). With consecutive = 1 a
 * normal point above the 99th percentile may open an event now and then (its
 * intensity stays near 1), but no cpu event may reach the intensity of that
 * increase, nor of a step without any increase at the first step of a new
 * model (regression for issue 6: the model swap fed the current row twice).
 */
static void test_watch_outage_raises_nothing_6(void **state)
{
    (void)state;
    struct vigil_watch_conf conf;
    conf_init(&conf, "kmeans");
    conf.consecutive = 1;
    conf.clear = 1;
    struct rec r = {0};
    struct vigil_watch_sink sink = {sink_fn, &r};
    struct vigil_watch *wt;
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, &sink, NULL), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = run_until_scoring(wt, &w, 1700000000LL * SEC);
    for (int k = 0; k < 5; k++) {
        ts = feed(wt, &w, ts, 30, 0.2, 4e9);
        ts = feed_stale(wt, &w, ts, 3 + k);
    }
    ts = feed(wt, &w, ts, 30, 0.2, 4e9);
    assert_true(r.max_cpu < 20.0);
    /* The policy still works once the window is fresh: a burst opens a strong event. */
    ts = feed(wt, &w, ts, 10, 0.98, 4e9);
    assert_true(r.max_cpu > 20.0);
    watch_end(wt, ts, &conf, &w);
}

/*
 * Once models are live, a tick allocates nothing: the engine's push (scoring,
 * policy, rate ring) and the /metrics and /api/entities texts into buffers
 * that already grew. Counted through the test allocator, installed before
 * the engine exists so every block it frees is one it counted.
 */
static void check_no_alloc(const char *model)
{
    tu_alloc_fail_at(0); /* count, never fail */
    struct vigil_watch_conf conf;
    conf_init(&conf, model);
    conf.consecutive = 10000; /* no events: an event's explanation text may grow once */
    struct vigil_watch *wt;
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, NULL, NULL), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = run_until_scoring(wt, &w, 1700000000LL * SEC);
    struct vigil_buf m, e;
    vigil_buf_init(&m);
    vigil_buf_init(&e);
    for (int i = 0; i < 3; i++) { /* warm: scratch and text buffers reach their size */
        ts = feed(wt, &w, ts, 10, NORMAL, 4e9);
        vigil_buf_reset(&m);
        vigil_buf_reset(&e);
        assert_int_equal(vigil_watch_render_metrics(wt, &m), 0);
        assert_int_equal(vigil_watch_render_entities(wt, &e), 0);
    }
    long before = tu_alloc_calls();
    for (int i = 0; i < 200; i++) {
        ts = feed(wt, &w, ts, 1, NORMAL, 4e9);
        vigil_buf_reset(&m);
        vigil_buf_reset(&e);
        assert_int_equal(vigil_watch_render_metrics(wt, &m), 0);
        assert_int_equal(vigil_watch_render_entities(wt, &e), 0);
    }
    assert_int_equal(tu_alloc_calls() - before, 0);
    vigil_buf_fini(&m);
    vigil_buf_fini(&e);
    vigil_watch_free(wt);
    vigil_watch_conf_fini(&conf);
    vigil_series_table_fini(&w.t);
    tu_alloc_reset();
}

static void test_watch_no_alloc_per_tick_kmeans(void **state)
{
    (void)state;
    check_no_alloc("kmeans");
}

static void test_watch_no_alloc_per_tick_lstm_ae(void **state)
{
    (void)state;
    check_no_alloc("lstm-ae");
}

static void test_watch_rejects_bad_models(void **state)
{
    (void)state;
    struct vigil_watch_conf conf;
    struct vigil_watch *wt;
    struct vigil_diag d;
    conf_init(&conf, "nope");
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, NULL, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "nope"));
    vigil_watch_conf_fini(&conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_kmeans_detects_cpu_burst),
        cmocka_unit_test(test_watch_lstm_ae_detects_cpu_burst),
        cmocka_unit_test(test_watch_pca_quiet_on_normal_6),
        cmocka_unit_test(test_watch_retrains_without_past_events),
        cmocka_unit_test(test_watch_retrain_during_burst),
        cmocka_unit_test(test_watch_outage_raises_nothing_6),
        cmocka_unit_test(test_watch_no_alloc_per_tick_kmeans),
        cmocka_unit_test(test_watch_no_alloc_per_tick_lstm_ae),
        cmocka_unit_test(test_watch_rejects_bad_models),
        cmocka_unit_test(test_watch_supervised_names_faults),
        cmocka_unit_test(test_watch_supervised_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
