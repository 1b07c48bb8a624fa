/*
 * The processes-by-name collector on a fixture /proc tree
 * (tests/data/process/proc: nginx master and worker, postgres without a
 * readable io file, a python3 worker matched by regex, a comm with spaces):
 * process-exporter's names and sums, processes that exit or whose PID is
 * reused drop out while counters stay monotonic, malformed stat files,
 * configuration errors and the allocation-free tick.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/collect.h"
#include "vigil/log.h"

static int64_t fake_now(void *user)
{
    return *(const int64_t *)user;
}

/*
 * The process collector over root, started; *rc is vigil_collect_start's.
 * Discovers every tick, or with now every second of the clock *now.
 */
static struct vigil_collect *start_clocked(const char *root, const char *names, const char *regex,
                                           const char *max, int64_t *now, int *rc)
{
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = root;
    conf.collectors = "process";
    conf.rescan_ns = now ? 1000000000LL : 1; /* every second, or every tick */
    conf.clock = now ? fake_now : NULL;
    conf.clock_user = now;
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    if (names) {
        assert_int_equal(vigil_collect_set(c, "process.names", names, &d), 0);
    }
    if (regex) {
        assert_int_equal(vigil_collect_set(c, "process.regex", regex, &d), 0);
    }
    if (max) {
        assert_int_equal(vigil_collect_set(c, "process.max", max, &d), 0);
    }
    *rc = vigil_collect_start(c, &d);
    return c;
}

static struct vigil_collect *start_proc(const char *root, const char *names, const char *regex,
                                        const char *max, int *rc)
{
    return start_clocked(root, names, regex, max, NULL, rc);
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

static void expect(struct vigil_collect *c, const struct vigil_sample_batch *b, const char *key,
                   double want)
{
    double got = value_of(c, b, key);
    if (isnan(got) || fabs(got - want) > 1e-9 * fmax(1.0, fabs(want))) {
        fail_msg("%s: got %.17g, want %.17g", key, got, want);
    }
}

static const char *copy_tree(void)
{
    const char *dir = tu_tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", tu_fixture("process"), dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

static void sh(const char *fmt, const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, dir);
    assert_int_equal(system(cmd), 0);
}

/* Rewrites dir/rel in place (same inode, as procfs files change), replacing from with to. */
static void edit(const char *dir, const char *rel, const char *from, const char *to)
{
    char path[1024], text[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, from);
    assert_non_null(at);
    char out[4200];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    tu_write_file(dir, rel, out, strlen(out));
}

#define NG(metric) metric "{groupname=\"nginx\"}"
#define NG_USER "namedprocess_namegroup_cpu_seconds_total{groupname=\"nginx\",mode=\"user\"}"

static void test_process_fixture_sums(void **state)
{
    (void)state;
    int rc;
    struct vigil_collect *c = start_proc(tu_fixture("process"), "nginx,postgres,sshd,tmux: server",
                                         "python3 -m ([a-z]+)", NULL, &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    /* nginx: master (utime 250, stime 120, rss 2000 pages) + worker (300, 80, 1500). */
    expect(c, b, NG("namedprocess_namegroup_num_procs"), 2);
    expect(c, b, "namedprocess_namegroup_cpu_seconds_total{groupname=\"nginx\",mode=\"user\"}",
           550 / hz);
    expect(c, b, "namedprocess_namegroup_cpu_seconds_total{groupname=\"nginx\",mode=\"system\"}",
           200 / hz);
    expect(c, b, "namedprocess_namegroup_memory_bytes{groupname=\"nginx\",memtype=\"resident\"}",
           3500 * page);
    expect(c, b, "namedprocess_namegroup_memory_bytes{groupname=\"nginx\",memtype=\"virtual\"}",
           211000000);
    expect(c, b, "namedprocess_namegroup_memory_bytes{groupname=\"nginx\",memtype=\"swapped\"}",
           128 * 1024);
    expect(c, b, NG("namedprocess_namegroup_num_threads"), 3);
    expect(c, b, NG("namedprocess_namegroup_open_filedesc"), 15);
    expect(c, b, NG("namedprocess_namegroup_read_bytes_total"), 4096);
    expect(c, b, NG("namedprocess_namegroup_write_bytes_total"), 8192 + 65536);
    expect(c, b, NG("namedprocess_namegroup_major_page_faults_total"), 5);
    expect(c, b, NG("namedprocess_namegroup_minor_page_faults_total"), 2400);
    expect(c, b,
           "namedprocess_namegroup_context_switches_total{ctxswitchtype=\"voluntary\","
           "groupname=\"nginx\"}",
           1040);
    expect(c, b,
           "namedprocess_namegroup_context_switches_total{ctxswitchtype=\"nonvoluntary\","
           "groupname=\"nginx\"}",
           32);
    /* postgres has no readable io file: no io series, the rest is there. */
    expect(c, b, "namedprocess_namegroup_num_procs{groupname=\"postgres\"}", 1);
    assert_true(isnan(value_of(c, b,
                               "namedprocess_namegroup_read_bytes_total{groupname="
                               "\"postgres\"}")));
    /* A listed name with no process: reported, zero. */
    expect(c, b, "namedprocess_namegroup_num_procs{groupname=\"sshd\"}", 0);
    /* A comm with spaces and a parenthesis-safe stat parse. */
    expect(c, b, "namedprocess_namegroup_num_threads{groupname=\"tmux: server\"}", 1);
    /* The regex group takes its name from the first subexpression. */
    expect(c, b, "namedprocess_namegroup_num_procs{groupname=\"worker\"}", 1);
    expect(c, b, "namedprocess_namegroup_read_bytes_total{groupname=\"worker\"}", 123456);
    /* systemd matches nothing. */
    assert_true(isnan(value_of(c, b, "namedprocess_namegroup_num_procs{groupname=\"systemd\"}")));
    expect(c, b, "vigil_collect_errors_total{collector=\"process\"}", 0);
    /* One entity per group. */
    uint32_t id;
    const char *k = NG("namedprocess_namegroup_open_filedesc");
    assert_int_equal(vigil_series_find(vigil_collect_series(c), k, strlen(k), &id), 0);
    assert_string_equal(vigil_series_get(vigil_collect_series(c), id)->entity, "process:nginx");
    vigil_collect_free(c);
}

static void test_process_exit_and_pid_reuse_keep_counters_monotonic(void **state)
{
    (void)state;
    const char *dir = copy_tree();
    int rc;
    struct vigil_collect *c = start_proc(dir, "nginx", NULL, NULL, &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double hz = (double)sysconf(_SC_CLK_TCK);
    const char *user = NG_USER;
    expect(c, b, user, 550 / hz);
    /* The master uses 10 more ticks: the total grows by exactly that. */
    edit(dir, "proc/101/stat", " 250 120 ", " 260 120 ");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, user, 560 / hz);
    /* The worker exits: one process left, its 300 ticks stay in the total. */
    sh("rm -rf %s/proc/102", dir);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, NG("namedprocess_namegroup_num_procs"), 1);
    expect(c, b, NG("namedprocess_namegroup_num_threads"), 1);
    expect(c, b, user, 560 / hz);
    expect(c, b, NG("namedprocess_namegroup_open_filedesc"), 6);
    /* PID 101 is reused by a new nginx (another start time, 7 ticks so far): the old one's
     * share stays and the new one's whole count is added; nothing goes backwards. */
    edit(dir, "proc/101/stat", " 260 120 0 0 20 0 1 0 5000 ", " 7 1 0 0 20 0 1 0 9000 ");
    assert_int_equal(vigil_collect_tick(c, &b), 0); /* the old one is gone */
    assert_int_equal(vigil_collect_tick(c, &b), 0); /* the new one is found */
    expect(c, b, NG("namedprocess_namegroup_num_procs"), 1);
    expect(c, b, user, 567 / hz);
    expect(c, b, "vigil_collect_errors_total{collector=\"process\"}", 0);
    vigil_collect_free(c);
    sh("rm -rf %s", dir);
}

/*
 * A discovery cut short by an allocation failure is done again at the next
 * tick, so the processes it had not reached are not taken for gone (dropped,
 * then found anew at a later discovery, which would add their whole count to
 * the group a second time). Twenty new python3 processes, each its own group,
 * make the discovery allocate; each of its allocations fails in turn, and the
 * tick 100 ms later finds them all while the nginx total stays 550 ticks.
 */
static void test_process_discovery_cut_short_keeps_counts(void **state)
{
    (void)state;
    const char *dir = copy_tree();
    tu_alloc_fail_at(0);
    int64_t now = 0;
    int rc;
    struct vigil_collect *c =
        start_clocked(dir, "nginx", "python3 -m ([a-z0-9]+)", NULL, &now, &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double hz = (double)sysconf(_SC_CLK_TCK);
    const char *user = NG_USER;
    expect(c, b, user, 550 / hz);
    for (int i = 0; i < 20; i++) {
        char cmd[1024], rel[64], argv[64];
        snprintf(cmd, sizeof cmd, "cp -a %s/proc/300 %s/proc/%d", dir, dir, 400 + i);
        assert_int_equal(system(cmd), 0);
        snprintf(rel, sizeof rel, "proc/%d/cmdline", 400 + i);
        int n = snprintf(argv, sizeof argv, "/usr/bin/python3%c-m%cmod%02d", 0, 0, i);
        tu_write_file(dir, rel, argv, (size_t)n + 1);
    }
    int failures = 0;
    for (long k = 1; k < 100000; k++) {
        now += 1000000000LL; /* a discovery, failing at its k-th allocation */
        tu_alloc_fail_at(k);
        rc = vigil_collect_tick(c, &b);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        failures++;
        now += 100000000LL; /* 100 ms later: discovers again */
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        expect(c, b, NG("namedprocess_namegroup_num_procs"), 2);
        expect(c, b, "namedprocess_namegroup_num_procs{groupname=\"mod19\"}", 1);
        now += 1000000000LL;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        expect(c, b, user, 550 / hz);
        expect(c, b, NG("namedprocess_namegroup_num_procs"), 2);
    }
    assert_true(failures > 0);
    expect(c, b, "namedprocess_namegroup_num_procs{groupname=\"mod19\"}", 1);
    vigil_collect_free(c); /* leaks: make SAN=1 */
    tu_alloc_reset();
    sh("rm -rf %s", dir);
}

static void test_process_malformed_stat_is_an_error(void **state)
{
    (void)state;
    const char *dir = copy_tree();
    int rc;
    struct vigil_collect *c = start_proc(dir, "nginx,postgres", NULL, NULL, &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    /* Truncated after the comm, then binary junk: counted, the other group goes on. */
    tu_write_file(dir, "proc/101/stat", "101 (nginx) S 1 101", 19);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"process\"}", 1);
    expect(c, b, "namedprocess_namegroup_num_procs{groupname=\"postgres\"}", 1);
    char junk[300];
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (char)(i * 37 % 251 + 1) == ')' ? 'x' : (char)(i * 37 % 251 + 1);
    }
    tu_write_file(dir, "proc/101/stat", junk, sizeof junk);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"process\"}", 2);
    vigil_collect_free(c);
    sh("rm -rf %s", dir);
}

static void test_process_config_errors(void **state)
{
    (void)state;
    int rc;
    struct vigil_collect *c = start_proc(tu_fixture("process"), NULL, NULL, NULL, &rc);
    assert_int_equal(rc, VIGIL_ECONFIG); /* neither names nor regex */
    vigil_collect_free(c);
    c = start_proc(tu_fixture("process"), NULL, "(unclosed", NULL, &rc);
    assert_int_equal(rc, VIGIL_ECONFIG);
    vigil_collect_free(c);
    c = start_proc(tu_fixture("process"), "a-name-longer-than-comm", NULL, NULL, &rc);
    assert_int_equal(rc, VIGIL_ECONFIG);
    vigil_collect_free(c);
    /* No /proc under the root: skipped like any absent source. */
    c = start_proc("/nonexistent", "nginx", NULL, NULL, &rc);
    assert_int_equal(rc, VIGIL_EEMPTY);
    vigil_collect_free(c);
    /* More matching processes than process.max: counted as an error, the first ones kept. */
    c = start_proc(tu_fixture("process"), "nginx", NULL, "1", &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, NG("namedprocess_namegroup_num_procs"), 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"process\"}", 1);
    vigil_collect_free(c);
}

static void test_process_no_allocation_per_tick_after_warmup(void **state)
{
    (void)state;
    tu_alloc_fail_at(0);
    int rc;
    struct vigil_collect *c =
        start_proc(tu_fixture("process"), "nginx,postgres", "python3 -m ([a-z]+)", NULL, &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vigil_collect_tick(c, &b), 0);
    }
    long before = tu_alloc_calls();
    for (int i = 0; i < 20; i++) {
        assert_int_equal(vigil_collect_tick(c, &b), 0); /* with a rescan every tick */
    }
    assert_int_equal(tu_alloc_calls() - before, 0);
    assert_true(b->n > 30);
    vigil_collect_free(c);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_reset();
}

int main(void)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_fixture_sums),
        cmocka_unit_test(test_process_exit_and_pid_reuse_keep_counters_monotonic),
        cmocka_unit_test(test_process_discovery_cut_short_keeps_counts),
        cmocka_unit_test(test_process_malformed_stat_is_an_error),
        cmocka_unit_test(test_process_config_errors),
        cmocka_unit_test(test_process_no_allocation_per_tick_after_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
