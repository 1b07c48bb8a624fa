/*
 * The Open vSwitch collector without OVS: its `command` points at
 * tests/data/ovs/ovs-vsctl, a script that checks the argv it gets and prints
 * the JSON table real ovs-vsctl prints (tests/data/ovs/interfaces.json, in
 * the format of OVS's lib/table.c with RFC 7047 map cells). Values, names and
 * entities; reads in the background with interfaces that change and vanish;
 * a missing or failing command skips the collector; malformed and hostile
 * output never crashes and counts as an error; a hung command is killed; no
 * allocation per tick after warm-up.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "vigil/collect.h"
#include "vigil/log.h"

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *user)
{
    return ((struct fake_clock *)user)->now;
}

/* A private copy of tests/data/ovs, so tests can change what the command prints. */
static const char *ovs_dir(void)
{
    const char *dir = tu_tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", tu_fixture("ovs"), dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

static void rm_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void put(const char *dir, const char *name, const char *text)
{
    tu_write_file(dir, name, text, strlen(text));
}

/* Starts the ovs collector on dir's script; returns the start code in *rc. */
static struct vigil_collect *start_ovs(const char *dir, const char *interval,
                                       struct fake_clock *clk, int *rc)
{
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.collectors = "ovs";
    conf.retire_ns = 1; /* a vanished interface is retired at the end of the tick */
    if (clk) {
        conf.clock = fake_now;
        conf.clock_user = clk;
    }
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/ovs-vsctl", dir);
    assert_int_equal(vigil_collect_set(c, "ovs.command", cmd, &d), 0);
    assert_int_equal(vigil_collect_set(c, "ovs.interval", interval, &d), 0);
    assert_int_equal(vigil_collect_set(c, "ovs.timeout", "2s", &d), 0);
    *rc = vigil_collect_start(c, &d);
    return c;
}

static double value_of(struct vigil_collect *c, const struct vigil_sample_batch *b, const char *key)
{
    uint32_t id;
    if (vigil_series_find(vigil_collect_series(c), key, strlen(key), &id) != 0) {
        return NAN;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->v[i].series == id) {
            return b->v[i].value;
        }
    }
    return NAN;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Ticks until key has value want (the background read finished), at most ~5 s. */
static const struct vigil_sample_batch *tick_until(struct vigil_collect *c, const char *key,
                                                   double want, struct fake_clock *clk)
{
    const struct vigil_sample_batch *b = NULL;
    for (int i = 0; i < 500; i++) {
        if (clk) {
            clk->now += 100000000LL;
        }
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        double v = value_of(c, b, key);
        if ((isnan(want) && isnan(v)) || v == want) {
            return b;
        }
        sleep_ms(10);
    }
    fail_msg("%s never became %g", key, want);
    return b;
}

static void test_ovs_fixture_values(void **state)
{
    (void)state;
    const char *dir = ovs_dir();
    int rc;
    struct vigil_collect *c = start_ovs(dir, "5s", NULL, &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    /* The values init read are emitted by the first tick already. */
    assert_true(value_of(c, b, "ovs_interface_rx_packets{interface=\"tap3f0c5e7a-21\"}") == 601223);
    assert_true(value_of(c, b, "ovs_interface_tx_bytes{interface=\"tap3f0c5e7a-21\"}") ==
                129448871);
    assert_true(value_of(c, b, "ovs_interface_tx_dropped{interface=\"tap3f0c5e7a-21\"}") == 17);
    assert_true(value_of(c, b, "ovs_interface_rx_dropped{interface=\"br-int\"}") == 1423);
    assert_true(value_of(c, b, "ovs_interface_rx_bytes{interface=\"vxlan-0a000102\"}") == 5382041);
    /* A tunnel reports only some statistics: the others are absent, not zero. */
    assert_true(isnan(value_of(c, b, "ovs_interface_rx_errors{interface=\"vxlan-0a000102\"}")));
    /* DPDK's extra keys are ignored; its standard ones are read. */
    assert_true(value_of(c, b, "ovs_interface_tx_dropped{interface=\"vhu8c2d1a4e-9b\"}") == 12);
    /* A patch port has an empty map: no series at all. */
    uint32_t id;
    const char *pk = "ovs_interface_rx_packets{interface=\"patch-tun\"}";
    assert_int_equal(vigil_series_find(vigil_collect_series(c), pk, strlen(pk), &id), -ENOENT);
    const char *key = "ovs_interface_rx_bytes{interface=\"tap3f0c5e7a-21\"}";
    assert_int_equal(vigil_series_find(vigil_collect_series(c), key, strlen(key), &id), 0);
    const struct vigil_series *s = vigil_series_get(vigil_collect_series(c), id);
    assert_string_equal(s->entity, "ovs:tap3f0c5e7a-21");
    assert_int_equal(s->kind, VIGIL_KIND_COUNTER);
    assert_int_equal(s->group, VIGIL_GROUP_NETWORK);
    assert_true(value_of(c, b, "vigil_collect_errors_total{collector=\"ovs\"}") == 0);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_non_null(strstr(out.p, "# TYPE ovs_interface_rx_packets counter\n"));
    assert_non_null(
        strstr(out.p, "ovs_interface_rx_packets{interface=\"tap3f0c5e7a-21\"} 601223\n"));
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    rm_dir(dir);
}

static void test_ovs_background_reads_follow_changes(void **state)
{
    (void)state;
    const char *dir = ovs_dir();
    int rc;
    struct fake_clock clk = {0};
    struct vigil_collect *c = start_ovs(dir, "0s", &clk, &rc);
    assert_int_equal(rc, 0);
    /* The tap's counters grow, vxlan goes away, a new VM port appears. */
    put(dir, "interfaces.json",
        "{\"headings\":[\"name\",\"statistics\"],\"data\":[[\"br-int\",[\"map\",[[\"rx_dropped\","
        "1500]]]],[\"tap3f0c5e7a-21\",[\"map\",[[\"rx_bytes\",81700000],[\"rx_packets\",601999]"
        "]]],[\"tapnew\",[\"map\",[[\"tx_packets\",5]]]]]}\n");
    const struct vigil_sample_batch *b =
        tick_until(c, "ovs_interface_rx_packets{interface=\"tap3f0c5e7a-21\"}", 601999, &clk);
    assert_true(value_of(c, b, "ovs_interface_tx_packets{interface=\"tapnew\"}") == 5);
    assert_true(value_of(c, b, "ovs_interface_rx_dropped{interface=\"br-int\"}") == 1500);
    assert_true(isnan(value_of(c, b, "ovs_interface_rx_bytes{interface=\"vxlan-0a000102\"}")));
    /* tap's tx statistics vanished from its map: no longer emitted. */
    assert_true(isnan(value_of(c, b, "ovs_interface_tx_bytes{interface=\"tap3f0c5e7a-21\"}")));
    /* The vanished tunnel was retired from the table. */
    uint32_t id;
    const char *k = "ovs_interface_rx_bytes{interface=\"vxlan-0a000102\"}";
    clk.now += 100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(vigil_series_find(vigil_collect_series(c), k, strlen(k), &id), -ENOENT);
    assert_true(value_of(c, b, "vigil_collect_errors_total{collector=\"ovs\"}") == 0);
    /* OVS stops answering: an error, and the last values stay. */
    put(dir, "FAIL", "1\n");
    double errs = 0;
    for (int i = 0; i < 500 && errs == 0; i++) {
        clk.now += 100000000LL;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        errs = value_of(c, b, "vigil_collect_errors_total{collector=\"ovs\"}");
        sleep_ms(10);
    }
    assert_true(errs >= 1);
    assert_true(value_of(c, b, "ovs_interface_tx_packets{interface=\"tapnew\"}") == 5);
    vigil_collect_free(c);
    rm_dir(dir);
}

static void test_ovs_absent_or_failing_command_is_skipped(void **state)
{
    (void)state;
    int rc;
    /* No such program: ENOTSUP, so a set with only ovs has nothing to run. */
    struct vigil_collect *c = start_ovs("/nonexistent/dir", "5s", NULL, &rc);
    assert_int_equal(rc, VIGIL_EEMPTY);
    vigil_collect_free(c);
    /* Installed but no database running. */
    const char *dir = ovs_dir();
    put(dir, "FAIL", "1\n");
    c = start_ovs(dir, "5s", NULL, &rc);
    assert_int_equal(rc, VIGIL_EEMPTY);
    vigil_collect_free(c);
    /* Not executable. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "chmod -x %s/ovs-vsctl", dir);
    assert_int_equal(system(cmd), 0);
    c = start_ovs(dir, "5s", NULL, &rc);
    assert_int_equal(rc, VIGIL_EEMPTY);
    vigil_collect_free(c);
    rm_dir(dir);
}

static void test_ovs_malformed_output_never_crashes(void **state)
{
    (void)state;
    static char deep[40000];
    size_t o = (size_t)snprintf(deep, sizeof deep, "{\"caption\":");
    for (int i = 0; i < 10000; i++) {
        deep[o++] = '[';
    }
    deep[o] = '\0';
    const char *bad[] = {
        "",
        "not json\n",
        "{\"data\":[[\"eth0\",[\"map\",[[\"rx_bytes\",1]]]]",       /* truncated */
        "{\"data\":[[\"eth0\",[\"map\",[[\"rx_bytes\",-1]]]]]}",    /* negative */
        "{\"data\":[[\"eth0\",[\"map\",[[\"rx_bytes\",1.5e3]]]]]}", /* not an integer */
        "{\"data\":[[\"eth0\",[\"map\",[[\"rx_bytes\",99999999999999999999]]]]]}", /* > 64 bits */
        "{\"data\":[[\"eth0\",[\"map\",[[\"rx_bytes\" 1]]]]]}",              /* missing comma */
        "{\"data\":[[\"eth0,[\"map\",[]]]]}",                                /* unterminated */
        "{\"data\":[[\"eth0\",[\"map\",[[\"rx_bytes\",1]]]]]}{\"data\":[]}", /* two tables */
        "{\"headings\":[\"name\"]}",                                         /* no data */
        "{\"data\":[[\"eth0\",[\"map\"]]]}",
        "{\"data\":[[\"eth0\",]]}",
        deep,
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "{\"data\":[[\"eth0\",[\"map\",[[\"rx_bytes\",1]]]]]}\\",
    };
    const char *dir = ovs_dir();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(dir, "interfaces.json", bad[i]);
        int rc;
        struct vigil_collect *c = start_ovs(dir, "5s", NULL, &rc);
        if (rc != VIGIL_EEMPTY) {
            fail_msg("case %zu: start gave %d, want VIGIL_EEMPTY (skipped)", i, rc);
        }
        vigil_collect_free(c);
    }
    /* Valid edge cases: an escaped name, a name too long (left out), the largest counter,
     * extra cells and keys, and key order ovs-vsctl may use. */
    put(dir, "interfaces.json",
        "{\"time\":\"2024-01-01 00:00:00\",\"data\":[[\"a\\\"b\",[\"map\",[[\"rx_bytes\","
        "18446744073709551615]]],[\"uuid\",\"0d3bb5a2-5a2e-4c8b-9d2b-5c3c2c9d7f01\"],true],"
        "[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\","
        "[\"map\",[[\"rx_bytes\",3]]]],[[\"set\",[]],[\"map\",[[\"tx_packets\",4]]]]],"
        "\"headings\":[\"name\",\"statistics\",\"_uuid\",\"x\"]}");
    int rc;
    struct vigil_collect *c = start_ovs(dir, "5s", NULL, &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_true(value_of(c, b, "ovs_interface_rx_bytes{interface=\"a\\\"b\"}") ==
                18446744073709551615.0);
    assert_int_equal(vigil_collect_series(c)->n - vigil_collect_series(c)->n_holes, 4);
    /* A later read that is garbage is an error; the last values are kept. */
    vigil_collect_free(c);
    struct fake_clock clk = {0};
    c = start_ovs(dir, "0s", &clk, &rc);
    assert_int_equal(rc, 0);
    put(dir, "interfaces.json", "{\"data\":[[\"a\\\"b\",[\"map\",[[\"rx_bytes\",");
    double errs = 0;
    for (int i = 0; i < 500 && errs == 0; i++) {
        clk.now += 100000000LL;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        errs = value_of(c, b, "vigil_collect_errors_total{collector=\"ovs\"}");
        sleep_ms(10);
    }
    assert_true(errs >= 1);
    assert_true(value_of(c, b, "ovs_interface_rx_bytes{interface=\"a\\\"b\"}") ==
                18446744073709551615.0);
    vigil_collect_free(c);
    rm_dir(dir);
}

static void test_ovs_hung_command_is_killed(void **state)
{
    (void)state;
    const char *dir = ovs_dir();
    int rc;
    struct fake_clock clk = {0};
    struct vigil_collect *c = start_ovs(dir, "0s", &clk, &rc);
    assert_int_equal(rc, 0);
    put(dir, "SLOW", "1\n");
    const struct vigil_sample_batch *b;
    clk.now += 100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0); /* starts a read that hangs */
    clk.now += 3000000000LL;                        /* past ovs.timeout = 2s */
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_true(value_of(c, b, "vigil_collect_errors_total{collector=\"ovs\"}") == 1);
    assert_true(value_of(c, b, "ovs_interface_rx_packets{interface=\"tap3f0c5e7a-21\"}") == 601223);
    vigil_collect_free(c); /* and no zombie or stray child is left: fini reaps */
    rm_dir(dir);
}

static void test_ovs_no_allocation_per_tick_after_warmup(void **state)
{
    (void)state;
    const char *dir = ovs_dir();
    tu_alloc_fail_at(0);
    int rc;
    struct fake_clock clk = {0};
    struct vigil_collect *c = start_ovs(dir, "0s", &clk, &rc);
    assert_int_equal(rc, 0);
    /* Warm up through two complete background reads. */
    for (int i = 0; i < 3; i++) {
        put(dir, "interfaces.json",
            i % 2 ? "{\"data\":[[\"tap0\",[\"map\",[[\"rx_bytes\",2]]]]]}"
                  : "{\"data\":[[\"tap0\",[\"map\",[[\"rx_bytes\",1]]]]]}");
        tick_until(c, "ovs_interface_rx_bytes{interface=\"tap0\"}", i % 2 ? 2 : 1, &clk);
    }
    long before = tu_alloc_calls();
    for (int i = 0; i < 4; i++) {
        put(dir, "interfaces.json",
            i % 2 ? "{\"data\":[[\"tap0\",[\"map\",[[\"rx_bytes\",4]]]]]}"
                  : "{\"data\":[[\"tap0\",[\"map\",[[\"rx_bytes\",3]]]]]}");
        tick_until(c, "ovs_interface_rx_bytes{interface=\"tap0\"}", i % 2 ? 4 : 3, &clk);
    }
    assert_int_equal(tu_alloc_calls() - before, 0);
    vigil_collect_free(c);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_reset();
    rm_dir(dir);
}

int main(void)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ovs_fixture_values),
        cmocka_unit_test(test_ovs_background_reads_follow_changes),
        cmocka_unit_test(test_ovs_absent_or_failing_command_is_skipped),
        cmocka_unit_test(test_ovs_malformed_output_never_crashes),
        cmocka_unit_test(test_ovs_hung_command_is_killed),
        cmocka_unit_test(test_ovs_no_allocation_per_tick_after_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
