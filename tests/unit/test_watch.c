/*
 * The watch engine in process with a fake clock (fluent-bit's runtime tests):
 * synthetic host and container series, warm-up, training on the worker
 * thread, live scoring, a CPU burst that must open a cpu event naming CPU
 * features (and no memory event), its closing, a stale source (NaN rows) that
 * must not raise anything, and shutdown closing open events.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
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
    if (what == VIGIL_WATCH_OPENED) {
        ev->id = ++r->next_id;
        r->opened[gidx(ev->group)]++;
        if (r->n_open++ == 0) {
            snprintf(r->first_features, sizeof r->first_features, "%s", ev->features);
            snprintf(r->first_entity, sizeof r->first_entity, "%s", ev->entity);
        }
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
    w->avail = add(&w->t, "node_memory_MemAvailable_bytes", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY,
                   NULL);
    w->cached = add(&w->t, "node_memory_Cached_bytes", VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY, NULL);
    w->web_cpu = add(&w->t, "container_cpu_usage_seconds_total{name=\"web\"}", VIGIL_KIND_COUNTER,
                     VIGIL_GROUP_CPU, "web");
    w->web_mem = add(&w->t, "container_memory_usage_bytes{name=\"web\"}", VIGIL_KIND_GAUGE,
                     VIGIL_GROUP_MEMORY, "web");
    vigil_rng_seed(&w->rng, 7);
}

/* One second of the world: busy is the CPU share of user time (normal ~0.1-0.3). */
static const float *world_tick(struct world *w, double busy)
{
    double u = busy + 0.02 * vigil_rng_normal(&w->rng);
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    w->c_user += u;
    w->c_idle += 1 - u;
    w->c_web += 0.05 + 0.01 * vigil_rng_uniform(&w->rng);
    w->row[w->user] = (float)w->c_user;
    w->row[w->idle] = (float)w->c_idle;
    w->row[w->avail] = (float)(4e9 + 5e7 * vigil_rng_normal(&w->rng));
    w->row[w->cached] = (float)(1e9 + 2e7 * vigil_rng_normal(&w->rng));
    w->row[w->web_cpu] = (float)w->c_web;
    w->row[w->web_mem] = (float)(2e8 + 1e6 * vigil_rng_normal(&w->rng));
    return w->row;
}

static int64_t run_until_scoring(struct vigil_watch *wt, struct world *w, int64_t ts)
{
    for (int i = 0; i < 2000 && vigil_watch_phase(wt) != VIGIL_WATCH_SCORING; i++) {
        double busy = 0.2 + 0.1 * sin((double)i / 20.0);
        assert_int_equal(vigil_watch_push(wt, ts, &w->t, world_tick(w, busy)), 0);
        ts += SEC;
        if (vigil_watch_phase(wt) == VIGIL_WATCH_TRAINING) {
            usleep(20000); /* let the trainer run; the fake clock keeps going */
        }
    }
    assert_int_equal(vigil_watch_phase(wt), VIGIL_WATCH_SCORING);
    return ts;
}

static void check_burst(const char *model, const char *const *opts)
{
    struct vigil_watch_conf conf;
    assert_int_equal(vigil_watch_conf_default(&conf), 0);
    conf.warmup = 300 * SEC;
    conf.retrain = 0;
    /* The held-out quantile of a few dozen points is a noisy estimate; a margin keeps
     * this synthetic world free of marginal alarms (the bursts score ~100x). */
    conf.threshold = 1.5;
    const struct vigil_model_ops *ops = vigil_model_find(model);
    assert_non_null(ops);
    void *params = vigil_calloc(1, ops->params_size);
    assert_int_equal(vigil_opt_defaults(ops->opts, params), 0);
    for (int i = 0; opts && opts[i]; i += 2) {
        assert_int_equal(vigil_opt_set(ops->opts, params, opts[i], opts[i + 1],
                                       strlen(opts[i + 1]), NULL), 0);
    }
    vigil_free(conf.model);
    conf.model = vigil_strdup(model);
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
    for (int i = 0; i < 120; i++) {
        vigil_watch_push(wt, ts, &w.t, world_tick(&w, 0.2 + 0.1 * sin((double)i / 20.0)));
        ts += SEC;
    }
    assert_int_equal(r.n_open, 0);
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_watch_render_metrics(wt, &b), 0);
    assert_non_null(strstr(b.p, "vigil_anomaly_score{entity=\"host\",group=\"cpu\"} "));
    assert_non_null(strstr(b.p, "vigil_anomaly{entity=\"web\",group=\"memory\"} 0"));
    assert_non_null(strstr(b.p, "vigil_watch_phase 2"));
    /* A CPU burst on the host: a cpu event for the host, explained by CPU series. */
    for (int i = 0; i < 30; i++) {
        vigil_watch_push(wt, ts, &w.t, world_tick(&w, 0.98));
        ts += SEC;
    }
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
    for (int i = 0; i < 60; i++) {
        vigil_watch_push(wt, ts, &w.t, world_tick(&w, 0.2));
        ts += SEC;
    }
    assert_int_equal(r.closed[VIGIL_GROUP_CPU], 1);
    /* A stale source: NaN rows raise nothing. */
    float nan_row[16];
    for (int j = 0; j < 16; j++) {
        nan_row[j] = NAN;
    }
    int before = r.n_open;
    for (int i = 0; i < 100; i++) {
        vigil_watch_push(wt, ts, &w.t, nan_row);
        ts += SEC;
    }
    assert_int_equal(r.n_open, before);
    /* Shutdown during an anomaly closes it. */
    for (int i = 0; i < 40; i++) {
        vigil_watch_push(wt, ts, &w.t, world_tick(&w, 0.2));
        ts += SEC;
    }
    for (int i = 0; i < 10; i++) {
        vigil_watch_push(wt, ts, &w.t, world_tick(&w, 0.99));
        ts += SEC;
    }
    int open_now = r.n_open - r.n_close;
    vigil_watch_close_all(wt, ts);
    assert_true(open_now >= 1);
    assert_int_equal(r.n_open, r.n_close);
    vigil_buf_fini(&b);
    vigil_watch_free(wt);
    vigil_opt_free(ops->opts, params);
    vigil_free(params);
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
    static const char *const opts[] = {"window", "8", "hidden", "8", "latent", "4",
                                       "epochs", "15", "batch", "32", NULL};
    check_burst("lstm-ae", opts);
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
    assert_int_equal(vigil_watch_conf_default(&conf), 0);
    conf.warmup = 300 * SEC;
    vigil_free(conf.model);
    conf.model = vigil_strdup("pca");
    struct rec r = {0};
    struct vigil_watch_sink sink = {sink_fn, &r};
    struct vigil_watch *wt;
    assert_int_equal(vigil_watch_new(&wt, &conf, NULL, &sink, NULL), 0);
    struct world w = {0};
    world_init(&w);
    int64_t ts = run_until_scoring(wt, &w, 1700000000LL * SEC);
    for (int i = 0; i < 600; i++) {
        vigil_watch_push(wt, ts, &w.t, world_tick(&w, 0.2 + 0.1 * sin((double)i / 20.0)));
        ts += SEC;
    }
    assert_int_equal(r.n_open, 0);
    vigil_watch_free(wt);
    vigil_watch_conf_fini(&conf);
    vigil_series_table_fini(&w.t);
}

static void test_watch_rejects_bad_models(void **state)
{
    (void)state;
    struct vigil_watch_conf conf;
    struct vigil_watch *wt;
    struct vigil_diag d;
    assert_int_equal(vigil_watch_conf_default(&conf), 0);
    vigil_free(conf.model);
    conf.model = vigil_strdup("nope");
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
        cmocka_unit_test(test_watch_rejects_bad_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
