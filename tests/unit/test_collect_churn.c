/*
 * Series retirement under entity churn (issue 5, "RSS after one hour stays
 * flat"): containers and interfaces that come and go on a fixture tree, with
 * a simulated clock. The series of a vanished entity leave the table after
 * the grace period and their ids go to new series, the ids of live entities
 * never change, an entity that comes back within the grace period keeps its
 * ids, and without retirement (the library default) nothing is ever reused.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/collect/internal.h"
#include "testutil.h"
#include "vigil/collect.h"
#include "vigil/log.h"

#define SEC 1000000000LL

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *user)
{
    return ((struct fake_clock *)user)->now;
}

/* Writes dir/rel, making its parent directories first. */
static void put(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    tu_write_file(dir, rel, text, strlen(text));
}

static void add_cgroup(const char *dir, const char *name, int usage)
{
    char rel[256], text[128];
    snprintf(rel, sizeof rel, "sys/fs/cgroup/%s/cpu.stat", name);
    snprintf(text, sizeof text, "usage_usec %d\nuser_usec 1\nsystem_usec 1\n", usage);
    put(dir, rel, text);
    snprintf(rel, sizeof rel, "sys/fs/cgroup/%s/memory.current", name);
    put(dir, rel, "4096\n");
    snprintf(rel, sizeof rel, "sys/fs/cgroup/%s/io.stat", name);
    put(dir, rel, "254:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n");
}

static void rm_cgroup(const char *dir, const char *name)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s/sys/fs/cgroup/%s", dir, name);
    assert_int_equal(system(cmd), 0);
}

/* /proc/net/dev with eth0 and the veth of every live container. */
static void put_netdev(const char *dir, const int *live, int n)
{
    char text[8192];
    size_t o = (size_t)snprintf(text, sizeof text,
                                "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
                                "  eth0: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n");
    for (int i = 0; i < n; i++) {
        if (live[i] && o < sizeof text - 128) {
            o += (size_t)snprintf(text + o, sizeof text - o,
                                  "  veth%d: %d 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n", i, i);
        }
    }
    put(dir, "proc/net/dev", text);
}

/* A host with one long-lived container and eth0, plus n veths shown as live[i] says. */
static void put_host(const char *dir, const int *live, int n)
{
    put(dir, "sys/fs/cgroup/cgroup.controllers", "cpu memory io\n");
    put(dir, "sys/fs/cgroup/cpu.stat", "usage_usec 5\n");
    add_cgroup(dir, "keep", 7);
    put_netdev(dir, live, n);
}

static struct vigil_collect *start(const char *dir, struct fake_clock *clk, int64_t retire_ns)
{
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = dir;
    conf.collectors = "cgroup,netdev";
    conf.rescan_ns = 1; /* every tick */
    conf.retire_ns = retire_ns;
    conf.clock = fake_now;
    conf.clock_user = clk;
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    assert_int_equal(vigil_collect_start(c, &d), 0);
    return c;
}

static int find(struct vigil_collect *c, const char *key, uint32_t *id)
{
    return vigil_series_find(vigil_collect_series(c), key, strlen(key), id);
}

/*
 * A render from the layout (rebuilt when the series set changed) is byte for
 * byte the render that walks the families and the series table.
 */
static void assert_render_is_walk(struct vigil_collect *c, unsigned flags)
{
    struct vigil_buf a, w;
    vigil_buf_init(&a);
    vigil_buf_init(&w);
    assert_int_equal(vigil_collect_render(c, &a, flags), 0);
    assert_int_equal(vigil__collect_render_walk(c, &w, flags), 0);
    assert_true(a.len > 0);
    assert_int_equal(a.len, w.len);
    assert_memory_equal(a.p, w.p, a.len);
    vigil_buf_fini(&a);
    vigil_buf_fini(&w);
}

static void test_churn_retires_and_reuses_ids_5(void **state)
{
    (void)state;
    enum { ROUNDS = 120, LIFE = 3 };
    const char *dir = tu_tmpdir();
    int live[ROUNDS] = {0};
    put_host(dir, live, ROUNDS);
    struct fake_clock clk = {0};
    struct vigil_collect *c = start(dir, &clk, /* retire_ns = */ 5 * SEC);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    uint32_t keep_cpu, keep_io, eth0;
    assert_int_equal(find(c, "container_cpu_usage_seconds_total{name=\"/keep\"}", &keep_cpu), 0);
    assert_int_equal(
        find(c, "container_fs_reads_bytes_total{device=\"254:0\",name=\"/keep\"}", &keep_io), 0);
    assert_int_equal(find(c, "node_network_receive_bytes_total{device=\"eth0\"}", &eth0), 0);
    size_t max_ids = 0, reused_total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        /* One container (and its veth) starts each second and lives LIFE seconds. */
        char name[32];
        snprintf(name, sizeof name, "svc%d", r);
        add_cgroup(dir, name, r);
        live[r] = 1;
        if (r >= LIFE) {
            snprintf(name, sizeof name, "svc%d", r - LIFE);
            rm_cgroup(dir, name);
            live[r - LIFE] = 0;
        }
        put_netdev(dir, live, ROUNDS);
        clk.now += SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        assert_render_is_walk(c, r % 2 ? VIGIL_RENDER_TIMESTAMPS : 0);
        assert_render_is_walk(c, VIGIL_RENDER_TIMESTAMPS | VIGIL_RENDER_NO_HELP);
        size_t n_reused;
        const uint32_t *reused = vigil_collect_reused(c, &n_reused);
        for (size_t i = 0; i < n_reused; i++) {
            /* A reused id names a live series of this round's entity, never an old one. */
            const struct vigil_series *s = vigil_series_get(vigil_collect_series(c), reused[i]);
            assert_non_null(s);
            snprintf(name, sizeof name, "%d", r);
            assert_non_null(strstr(s->key, name));
        }
        reused_total += n_reused;
        if (vigil_collect_series(c)->n > max_ids) {
            max_ids = vigil_collect_series(c)->n;
        }
        /* The long-lived container and eth0 keep their ids. */
        uint32_t id;
        assert_int_equal(find(c, "container_cpu_usage_seconds_total{name=\"/keep\"}", &id), 0);
        assert_int_equal(id, keep_cpu);
        assert_int_equal(
            find(c, "container_fs_reads_bytes_total{device=\"254:0\",name=\"/keep\"}", &id), 0);
        assert_int_equal(id, keep_io);
        assert_int_equal(find(c, "node_network_receive_bytes_total{device=\"eth0\"}", &id), 0);
        assert_int_equal(id, eth0);
    }
    /* The id space is bounded by the entities alive within a grace period, not by the
     * 120 that came and went (each brings 13 cgroup and 16 netdev series). */
    size_t per_entity = 29;
    assert_true(max_ids < (LIFE + 5 + 4) * per_entity + 100);
    assert_true(reused_total > 50 * per_entity);
    /* Retired series are gone for good: looked up, rendered. */
    uint32_t id;
    assert_int_equal(find(c, "container_cpu_usage_seconds_total{name=\"/svc0\"}", &id), -ENOENT);
    assert_int_equal(find(c, "node_network_receive_bytes_total{device=\"veth0\"}", &id), -ENOENT);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_FIT), 0);
    assert_null(strstr(out.p, "svc0\""));
    assert_non_null(strstr(out.p, "container_cpu_usage_seconds_total{name=\"/keep\"} 0.000007\n"));
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/*
 * A burst of entities (60 containers and their veths at once, about 12 times
 * the set's usual series) grows the page; once they are retired, the buffer
 * the page is rendered into (reused tick after tick, as /metrics and --nats
 * do) gives that room back instead of keeping the burst's size.
 */
static void test_render_buffer_shrinks_after_a_burst_5(void **state)
{
    (void)state;
    enum { BURST = 60 };
    const char *dir = tu_tmpdir();
    int live[BURST] = {0};
    put_host(dir, live, BURST);
    struct fake_clock clk = {0};
    struct vigil_collect *c = start(dir, &clk, /* retire_ns = */ 5 * SEC);
    const struct vigil_sample_batch *b;
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_FIT), 0);
    size_t calm = out.len, calm_ids = vigil_collect_series(c)->n;
    char name[32];
    for (int i = 0; i < BURST; i++) {
        snprintf(name, sizeof name, "burst%d", i);
        add_cgroup(dir, name, i);
        live[i] = 1;
    }
    put_netdev(dir, live, BURST);
    clk.now += SEC;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    vigil_buf_reset(&out);
    assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_FIT), 0);
    size_t peak = out.cap;
    assert_true(out.len > 8 * calm);
    for (int i = 0; i < BURST; i++) {
        snprintf(name, sizeof name, "burst%d", i);
        rm_cgroup(dir, name);
        live[i] = 0;
    }
    put_netdev(dir, live, BURST);
    for (int t = 0; t < 8; t++) { /* past the grace period */
        clk.now += SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        vigil_buf_reset(&out);
        assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_FIT), 0);
    }
    assert_true(out.len < calm + 64); /* the same series; its own timings differ in length */
    assert_true(out.cap < peak / 4);
    /* The burst's ids came last: the table is trimmed back to the ids before it. */
    assert_int_equal(vigil_collect_series(c)->n, calm_ids);
    assert_int_equal(vigil_collect_series(c)->n_holes, 0);
    /* Steady again: the next renders neither shrink nor grow it. */
    size_t cap = out.cap;
    for (int t = 0; t < 3; t++) {
        clk.now += SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        vigil_buf_reset(&out);
        assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_FIT), 0);
        assert_int_equal(out.cap, cap);
    }
    /* A new container takes ids past the trimmed end, reported as reused: they were the burst's. */
    add_cgroup(dir, "late", 1);
    clk.now += SEC;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    size_t n_reused;
    const uint32_t *reused = vigil_collect_reused(c, &n_reused);
    assert_true(n_reused >= 5);
    for (size_t i = 0; i < n_reused; i++) {
        assert_true(reused[i] >= calm_ids);
        assert_non_null(strstr(vigil_series_get(vigil_collect_series(c), reused[i])->key, "late"));
    }
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_restart_within_grace_keeps_ids_5(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    put(dir, "sys/fs/cgroup/cgroup.controllers", "cpu memory io\n");
    put(dir, "sys/fs/cgroup/cpu.stat", "usage_usec 5\n");
    add_cgroup(dir, "web", 1);
    int live[1] = {1};
    put_netdev(dir, live, 1);
    struct fake_clock clk = {0};
    struct vigil_collect *c = start(dir, &clk, /* retire_ns = */ 10 * SEC);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    uint32_t web, veth;
    assert_int_equal(find(c, "container_memory_usage_bytes{name=\"/web\"}", &web), 0);
    assert_int_equal(find(c, "node_network_receive_bytes_total{device=\"veth0\"}", &veth), 0);
    /* Gone for 5 s of a 10 s grace period: still in the table, not rendered. */
    rm_cgroup(dir, "web");
    live[0] = 0;
    put_netdev(dir, live, 1);
    for (int i = 0; i < 5; i++) {
        clk.now += SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
    }
    uint32_t id;
    assert_int_equal(find(c, "container_memory_usage_bytes{name=\"/web\"}", &id), 0);
    /* Back: the same ids, and they stay held after the grace period ends. */
    add_cgroup(dir, "web", 2);
    live[0] = 1;
    put_netdev(dir, live, 1);
    for (int i = 0; i < 15; i++) {
        clk.now += SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
    }
    assert_int_equal(find(c, "container_memory_usage_bytes{name=\"/web\"}", &id), 0);
    assert_int_equal(id, web);
    assert_int_equal(find(c, "node_network_receive_bytes_total{device=\"veth0\"}", &id), 0);
    assert_int_equal(id, veth);
    int seen = 0;
    for (size_t i = 0; i < b->n; i++) {
        seen += b->v[i].series == web;
    }
    assert_int_equal(seen, 1);
    /* Gone past the grace period: retired (holes, or trimmed off the end of the ids). */
    size_t held = vigil_collect_n_live(c);
    rm_cgroup(dir, "web");
    for (int i = 0; i < 12; i++) {
        clk.now += SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
    }
    assert_int_equal(find(c, "container_memory_usage_bytes{name=\"/web\"}", &id), -ENOENT);
    assert_true(vigil_collect_n_live(c) < held);
    const struct vigil_series_table *t = vigil_collect_series(c);
    assert_int_equal(t->n - t->n_holes, vigil_collect_n_live(c));
    assert_true(t->n == 0 || t->v[t->n - 1].key != NULL); /* no hole left at the end */
    vigil_collect_free(c);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_without_retirement_ids_are_never_reused_5(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    put(dir, "sys/fs/cgroup/cgroup.controllers", "cpu memory io\n");
    put(dir, "sys/fs/cgroup/cpu.stat", "usage_usec 5\n");
    int live[1] = {0};
    put_netdev(dir, live, 1);
    struct fake_clock clk = {0};
    struct vigil_collect *c = start(dir, &clk, /* retire_ns = */ 0);
    const struct vigil_sample_batch *b;
    size_t last = 0;
    for (int r = 0; r < 10; r++) {
        char name[32];
        snprintf(name, sizeof name, "job%d", r);
        add_cgroup(dir, name, r);
        clk.now += 100 * SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        rm_cgroup(dir, name);
        clk.now += 100 * SEC;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        size_t n_reused;
        vigil_collect_reused(c, &n_reused);
        assert_int_equal(n_reused, 0);
        assert_true(vigil_collect_series(c)->n > last);
        last = vigil_collect_series(c)->n;
    }
    assert_int_equal(vigil_collect_series(c)->n_holes, 0);
    vigil_collect_free(c);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_churn_retires_and_reuses_ids_5),
        cmocka_unit_test(test_render_buffer_shrinks_after_a_burst_5),
        cmocka_unit_test(test_restart_within_grace_keeps_ids_5),
        cmocka_unit_test(test_without_retirement_ids_are_never_reused_5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
