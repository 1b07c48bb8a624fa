/*
 * Collector tests over fixture trees (tests/data/proc/ok, tests/data/cgroup/
 * {v1,v2}) through the root option, never the live /proc: values and units
 * against the fixture text, node-exporter and cAdvisor names, missing and
 * truncated files, counter wrap, vanished cgroups, no allocation per tick
 * after warm-up, an OOM sweep, and the Prometheus text rendering.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/collect/internal.h"
#include "testutil.h"
#include "vigil/collect.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/prom.h"
#include "vigil/reader.h"

#define HOST                                                                                       \
    "stat,meminfo,vmstat,loadavg,pressure,diskstats,netdev,netstat,filesystem,filefd,sockstat,"    \
    "softnet,conntrack"

/* ---- helpers ---- */

static struct vigil_collect *start_conf(const struct vigil_collect_conf *conf, const char *opt,
                                        const char *val);

/* The default configuration, over root, running list, discovering every rescan_ns (0: default). */
static void conf_for(struct vigil_collect_conf *conf, const char *root, const char *list,
                     int64_t rescan_ns)
{
    vigil_collect_conf_default(conf);
    conf->root = root;
    conf->collectors = list;
    if (rescan_ns) {
        conf->rescan_ns = rescan_ns;
    }
}

static struct vigil_collect *start_set(const char *root, const char *list, int64_t rescan_ns)
{
    struct vigil_collect_conf conf;
    conf_for(&conf, root, list, rescan_ns);
    return start_conf(&conf, NULL, NULL);
}

/* Value of the series with canonical key `key` in the batch; NAN when absent. */
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

static void expect_absent(struct vigil_collect *c, const struct vigil_sample_batch *b,
                          const char *key)
{
    double got = value_of(c, b, key);
    if (!isnan(got)) {
        fail_msg("%s: present (%.17g), want absent", key, got);
    }
}

static const char *copy_tree(const char *src)
{
    const char *dir = tu_tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", src, dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

static void rm_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void put(const char *dir, const char *rel, const char *text)
{
    tu_write_file(dir, rel, text, strlen(text));
}

/* A fresh temporary tree with the directory rel (one level below, "proc/net") made. */
static const char *tree_with(const char *rel)
{
    const char *dir = tu_tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/%s", dir, rel);
    assert_int_equal(system(cmd), 0);
    return dir;
}

/* Starts a set from conf, with one collector option set first (opt may be NULL). */
static struct vigil_collect *start_conf(const struct vigil_collect_conf *conf, const char *opt,
                                        const char *val)
{
    struct vigil_collect *c;
    struct vigil_diag d;
    assert_int_equal(vigil_collect_new(&c, conf, &d), 0);
    if (opt) {
        assert_int_equal(vigil_collect_set(c, opt, val, &d), 0);
    }
    int rc = vigil_collect_start(c, &d);
    if (rc) {
        fail_msg("start: %s (%s)", d.msg, vigil_strerror(rc));
    }
    return c;
}

/* ---- host ---- */

static void test_host_fixture_values(void **state)
{
    (void)state;
    struct vigil_collect *c = start_set(tu_fixture("proc/ok"), HOST, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double hz = (double)sysconf(_SC_CLK_TCK);
    /* /proc/stat: "cpu0 5461 15998 10321 87814 66 0 28 6 0 0" in USER_HZ. */
    expect(c, b, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}", 5461 / hz);
    expect(c, b, "node_cpu_seconds_total{cpu=\"1\",mode=\"iowait\"}", 637 / hz);
    expect(c, b, "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"nice\"}", 0);
    expect_absent(c, b, "node_cpu_seconds_total{cpu=\"\",mode=\"user\"}");
    expect(c, b, "node_procs_running", 3);
    /* meminfo: kB become bytes; fields without a unit stay as they are. */
    expect(c, b, "node_memory_MemTotal_bytes", 24684084.0 * 1024);
    expect(c, b, "node_memory_Active_anon_bytes", 1588.0 * 1024);
    expect(c, b, "node_memory_HugePages_Total", 0);
    /* vmstat: node-exporter's default field filter. */
    expect(c, b, "node_vmstat_pgfault", 13306313);
    expect(c, b, "node_vmstat_oom_kill", 0);
    expect_absent(c, b, "node_vmstat_nr_free_pages");
    expect(c, b, "node_load1", 1.09);
    expect(c, b, "node_load15", 0.54);
    /* PSI totals are microseconds. */
    expect(c, b, "node_pressure_io_waiting_seconds_total", 5.595359);
    expect(c, b, "node_pressure_io_stalled_seconds_total", 4.985767);
    /* diskstats: sectors are 512 bytes, times are ms; loop devices are excluded. */
    expect(c, b, "node_disk_read_bytes_total{device=\"vda\"}", 5340514.0 * 512);
    expect(c, b, "node_disk_read_time_seconds_total{device=\"vda\"}", 41.094);
    expect(c, b, "node_disk_io_now{device=\"vda\"}", 0);
    expect(c, b, "node_disk_flush_requests_time_seconds_total{device=\"vda\"}", 0.655);
    expect_absent(c, b, "node_disk_reads_completed_total{device=\"loop0\"}");
    expect(c, b, "node_disk_reads_completed_total{device=\"zram0\"}", 0);
    /* net/dev, lo included as node-exporter does. */
    expect(c, b, "node_network_receive_bytes_total{device=\"eth0\"}", 284345348);
    expect(c, b, "node_network_transmit_packets_total{device=\"eth0\"}", 2823);
    expect(c, b, "node_network_receive_bytes_total{device=\"lo\"}", 102098);
    /* snmp, netstat, snmp6 with node-exporter's field filter. */
    expect(c, b, "node_netstat_Tcp_InSegs", 6038);
    expect(c, b, "node_netstat_Tcp_CurrEstab", 0);
    expect_absent(c, b, "node_netstat_Tcp_RtoMin");
    expect(c, b, "node_netstat_Ip6_InOctets", value_of(c, b, "node_netstat_Ip6_InOctets"));
    expect(c, b, "node_filefd_allocated", 796);
    expect(c, b, "node_filefd_maximum", 2466170);
    /* sockstat: "mem" is in pages, and _mem_bytes is it in bytes; "memory" is bytes already. */
    expect(c, b, "node_sockstat_sockets_used", 229);
    expect(c, b, "node_sockstat_TCP_tw", 4);
    expect(c, b, "node_sockstat_TCP_mem", 3);
    expect(c, b, "node_sockstat_TCP_mem_bytes", 3.0 * (double)sysconf(_SC_PAGESIZE));
    expect(c, b, "node_sockstat_UDP_mem_bytes", 5.0 * (double)sysconf(_SC_PAGESIZE));
    expect(c, b, "node_sockstat_FRAG_memory", 0);
    expect_absent(c, b, "node_sockstat_FRAG_memory_bytes");
    expect(c, b, "node_sockstat_TCP6_inuse", 17);
    expect(c, b, "node_sockstat_RAW6_inuse", 1);
    /* softnet: hexadecimal; the CPU is column 13 (CPU 2 is offline: no row). */
    expect(c, b, "node_softnet_processed_total{cpu=\"0\"}", 0x0012c3a9);
    expect(c, b, "node_softnet_dropped_total{cpu=\"1\"}", 0x29);
    expect(c, b, "node_softnet_times_squeezed_total{cpu=\"1\"}", 11);
    expect(c, b, "node_softnet_received_rps_total{cpu=\"1\"}", 7);
    expect(c, b, "node_softnet_flow_limit_count_total{cpu=\"1\"}", 2);
    expect(c, b, "node_softnet_backlog_len{cpu=\"1\"}", 3);
    expect(c, b, "node_softnet_processed_total{cpu=\"3\"}", 0xff00);
    expect_absent(c, b, "node_softnet_processed_total{cpu=\"2\"}");
    /* conntrack: the table from sysctl, the statistics summed over the CPUs' rows. */
    expect(c, b, "node_nf_conntrack_entries", 123);
    expect(c, b, "node_nf_conntrack_entries_limit", 65536);
    expect(c, b, "node_nf_conntrack_stat_found", 3);
    expect(c, b, "node_nf_conntrack_stat_invalid", 0x10 + 0x25);
    expect(c, b, "node_nf_conntrack_stat_ignore", 0xa000 + 0x5e8a);
    expect(c, b, "node_nf_conntrack_stat_insert_failed", 1);
    expect(c, b, "node_nf_conntrack_stat_drop", 3);
    expect(c, b, "node_nf_conntrack_stat_early_drop", 2);
    expect(c, b, "node_nf_conntrack_stat_search_restart", 7);
    /* statvfs: "/", "/run" and the escaped "/data disk"; readonly comes from the mount
     * options, as in node-exporter ("/data disk" is mounted ro, the directory is not). */
    double size = value_of(c, b, "node_filesystem_size_bytes{device=\"/dev/vda\",fstype=\"ext4\","
                                 "mountpoint=\"/\"}");
    assert_true(size > 0);
    expect(c, b, "node_filesystem_readonly{device=\"/dev/vdb\",fstype=\"ext4\",mountpoint=\"/data disk\"}", 1);
    expect(c, b, "node_filesystem_readonly{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/\"}", 0);
    /* A mount whose directory is missing (a bind mount of /dev/vda in the fixture):
     * an error, no numbers. */
    expect(c, b, "node_filesystem_device_error{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/srv/bind\"}", 1);
    expect_absent(c, b, "node_filesystem_size_bytes{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/srv/bind\"}");
    expect(c, b, "node_filesystem_device_error{device=\"/dev/vdb\",fstype=\"ext4\",mountpoint=\"/data disk\"}", 0);
    expect(c, b, "node_filesystem_device_error{device=\"tmpfs\",fstype=\"tmpfs\",mountpoint=\"/run\"}", 0);
    expect_absent(c, b, "node_filesystem_size_bytes{device=\"proc\",fstype=\"proc\",mountpoint=\"/proc\"}");
    expect(c, b, "vigil_collect_errors_total{collector=\"stat\"}", 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"netstat\"}", 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"softnet\"}", 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 0);
    /* Kinds follow node-exporter's types. */
    uint32_t id;
    const struct vigil_series_table *t = vigil_collect_series(c);
    assert_int_equal(vigil_series_find(t, "node_load1", 10, &id), 0);
    assert_int_equal(t->v[id].kind, VIGIL_KIND_GAUGE);
    assert_int_equal(t->v[id].group, VIGIL_GROUP_CPU);
    assert_int_equal(vigil_series_find(t, "node_netstat_Tcp_InSegs", 23, &id), 0);
    assert_int_equal(t->v[id].kind, VIGIL_KIND_COUNTER);
    assert_null(t->v[id].entity);
    vigil_collect_free(c);
}

static void test_host_second_tick_same_series(void **state)
{
    (void)state;
    struct vigil_collect *c = start_set(tu_fixture("proc/ok"), HOST, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    size_t n1 = b->n, s1 = vigil_collect_series(c)->n;
    assert_true(n1 > 150);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(b->n, n1);
    assert_int_equal(b->tick, 1);
    assert_int_equal(vigil_collect_series(c)->n, s1);
    /* Each series at most once per batch. */
    for (size_t i = 0; i < b->n; i++) {
        for (size_t j = i + 1; j < b->n; j++) {
            assert_int_not_equal(b->v[i].series, b->v[j].series);
        }
    }
    vigil_collect_free(c);
}

static void test_missing_files_skip_collectors(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/proc", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    put(dir, "proc/loadavg", "0.50 0.25 0.10 1/100 42\n");
    struct vigil_collect *c = start_set(dir, HOST, 0);
    /* Only loadavg could start: the other sources are absent, not errors. */
    assert_int_equal(vigil_collect_n_collectors(c), 1);
    assert_string_equal(vigil_collect_collector(c, 0)->ops->name, "loadavg");
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_load5", 0.25);
    expect(c, b, "vigil_collect_errors_total{collector=\"loadavg\"}", 0);
    vigil_collect_free(c);
    /* Nothing at all under the root: start says so. */
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = "/nonexistent-vigil-root";
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    assert_int_equal(vigil_collect_start(c, &d), VIGIL_EEMPTY);
    assert_non_null(strstr(d.msg, "no collector"));
    vigil_collect_free(c);
    rm_tree(dir);
}

static void test_truncated_files_count_errors(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, HOST, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    /* Files cut mid-row, as a read racing a writer or a short fixture would be. */
    put(dir, "proc/stat", "cpu  12617 34388 21089 170427 703 0 162 17 0 0\ncpu0 5461 15998\n");
    put(dir, "proc/meminfo", "MemTotal:       24684084 kB\nMemFree:\n");
    put(dir, "proc/net/dev", "Inter-|   Receive\n face |bytes\n  eth0: 1 2 3\n");
    put(dir, "proc/loadavg", "1.09 0.8");
    put(dir, "proc/pressure/io", "some avg10=0.00 avg60=0.02\n");
    put(dir, "proc/net/snmp", "Ip: Forwarding DefaultTTL\n");
    put(dir, "proc/net/sockstat", "sockets: used 229\nTCP: inuse 4 orphan 1 tw\n");
    put(dir, "proc/net/softnet_stat", "0012c3a9 00000000 00000005 00000000\n00a1b2c3 0000zz29 00000001 00000000\n");
    put(dir, "proc/net/stat/nf_conntrack", "entries found invalid\n0000007b 00000002\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"stat\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"meminfo\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"netdev\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"loadavg\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"pressure\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"netstat\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"vmstat\"}", 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"softnet\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 1);
    expect(c, b, "node_sockstat_TCP_orphan", 1);
    expect_absent(c, b, "node_sockstat_TCP_tw");
    expect(c, b, "node_softnet_processed_total{cpu=\"0\"}", 0x0012c3a9);
    expect(c, b, "node_softnet_processed_total{cpu=\"1\"}", 0x00a1b2c3);
    expect_absent(c, b, "node_softnet_dropped_total{cpu=\"1\"}");
    expect(c, b, "node_nf_conntrack_entries", 123);
    expect_absent(c, b, "node_nf_conntrack_stat_found"); /* a cut row: no short sums */
    /* What parsed before the cut is still emitted; the rest of the row is not. */
    double hz = (double)sysconf(_SC_CLK_TCK);
    expect(c, b, "node_cpu_seconds_total{cpu=\"0\",mode=\"nice\"}", 15998 / hz);
    expect_absent(c, b, "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"}");
    expect_absent(c, b, "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"}");
    expect(c, b, "node_memory_MemTotal_bytes", 24684084.0 * 1024);
    expect_absent(c, b, "node_network_receive_bytes_total{device=\"eth0\"}");
    expect(c, b, "node_load1", 1.09);
    expect(c, b, "node_vmstat_pgfault", 13306313);
    /* Binary junk is an error too, not a crash. */
    put(dir, "proc/diskstats", "\x01\x02\xff 254 0 vda x\n\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"diskstats\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"stat\"}", 2);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* A row whose key is too long to learn is malformed: counted, the rest goes on. */
static void test_overlong_rows_are_malformed(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "stat,netstat", 0);
    const struct vigil_sample_batch *b;
    /* A 9000-byte key is learned (an unknown row), a 70000-byte one is refused. */
    size_t big = 70000;
    char *text = vigil_malloc(big + 128);
    assert_non_null(text);
    for (size_t n = 9000;; n = big) {
        int o = snprintf(text, 64, "cpu0 1 2 3 4 5 6 7 8 0 0\n");
        memset(text + o, 'x', n);
        snprintf(text + o + n, 64, " 5\nctxt 100\n");
        put(dir, "proc/stat", text);
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        expect(c, b, "node_context_switches_total", 100);
        expect(c, b, "vigil_collect_errors_total{collector=\"stat\"}", n == big);
        if (n == big) {
            break;
        }
    }
    /* A netstat header of 600 fields (5.9 KB): the first 512 are exported, and counted. */
    int o = snprintf(text, 16, "TcpExt:");
    for (int i = 0; i < 600; i++) {
        o += snprintf(text + o, 16, " F%d", i);
    }
    o += snprintf(text + o, 16, "\nTcpExt:");
    for (int i = 0; i < 600; i++) {
        o += snprintf(text + o, 16, " %d", i);
    }
    snprintf(text + o, 4, "\n");
    put(dir, "proc/net/netstat", text);
    vigil_free(text);
    vigil_collect_free(c);
    struct vigil_collect_conf conf;
    vigil_collect_conf_default(&conf);
    conf.root = dir;
    conf.collectors = "netstat";
    c = start_conf(&conf, "netstat.fields", ".");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_netstat_TcpExt_F511", 511);
    expect_absent(c, b, "node_netstat_TcpExt_F512");
    expect(c, b, "vigil_collect_errors_total{collector=\"netstat\"}", 1);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* At max_series, a row learned again keeps its series: only new ones are refused. */
/*
 * A set over root running list, capped at exactly the series its first tick
 * needs (*live): learned on a set of its own, then started anew.
 */
static struct vigil_collect *start_capped(const char *root, const char *list, int64_t rescan_ns,
                                          size_t *live)
{
    struct vigil_collect *c = start_set(root, list, rescan_ns);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    *live = vigil_collect_n_live(c);
    vigil_collect_free(c);
    struct vigil_collect_conf conf;
    conf_for(&conf, root, list, rescan_ns);
    conf.max_series = *live;
    return start_conf(&conf, NULL, NULL);
}

static void test_series_cap_keeps_existing_series(void **state)
{
    (void)state;
    const char *dir = tree_with("proc/net");
    const char *hdr = "Inter-|   Receive                            |  Transmit\n"
                      " face |bytes packets errs drop fifo frame compressed multicast|bytes "
                      "packets errs drop fifo colls carrier compressed\n";
    char text[1024];
    snprintf(text, sizeof text,
             "%s  eth0: 1 1 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n"
             "  eth1: 3 3 0 0 0 0 0 0 4 4 0 0 0 0 0 0\n",
             hdr);
    put(dir, "proc/net/dev", text);
    size_t live;
    struct vigil_collect *c = start_capped(dir, "netdev", 0, &live);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    const char *k1 = "node_network_receive_bytes_total{device=\"eth1\"}";
    expect(c, b, k1, 3);
    /* eth0 goes: eth1 moves up a row and is learned again there. */
    snprintf(text, sizeof text, "%s  eth1: 5 5 0 0 0 0 0 0 6 6 0 0 0 0 0 0\n", hdr);
    put(dir, "proc/net/dev", text);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, k1, 5);
    /* A new device at the cap is refused, and the ones held go on. */
    snprintf(text, sizeof text,
             "%s  eth1: 7 7 0 0 0 0 0 0 8 8 0 0 0 0 0 0\n"
             "  eth2: 9 9 0 0 0 0 0 0 9 9 0 0 0 0 0 0\n",
             hdr);
    put(dir, "proc/net/dev", text);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, k1, 7);
    expect_absent(c, b, "node_network_receive_bytes_total{device=\"eth2\"}");
    assert_true(vigil_collect_n_live(c) <= live);
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * At the series cap, new cgroups are refused, and the cgroups held go on:
 * a refused one does not end the walk, so those after it in the directory
 * order are not taken for gone. Ten new cgroups, wherever readdir puts them.
 */
static void test_series_cap_keeps_existing_cgroups(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("cgroup/v2"));
    size_t live;
    struct vigil_collect *c = start_capped(dir, "cgroup", 1, &live); /* discovers every tick */
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    const char *nginx = "container_memory_usage_bytes{name=\"/system.slice/nginx.service\"}";
    expect(c, b, nginx, 104857600);
    for (int i = 0; i < 10; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "cp -a %s/sys/fs/cgroup/system.slice/nginx.service %s/sys/fs/cgroup/new%d", dir,
                 dir, i);
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, nginx, 104857600);
    expect_absent(c, b, "container_memory_usage_bytes{name=\"/new0\"}");
    assert_true(vigil_collect_n_live(c) <= live);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* A NUL byte in a label value cannot be a series key: that row is not exported. */
static void test_nul_in_label_value_is_not_exported(void **state)
{
    (void)state;
    const char *dir = tree_with("proc/net");
    static const char dev[] = "Inter-|   Receive |  Transmit\n face |bytes|bytes\n"
                              "  et\0h0: 1 1 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n"
                              "  eth1: 3 3 0 0 0 0 0 0 4 4 0 0 0 0 0 0\n";
    tu_write_file(dir, "proc/net/dev", dev, sizeof dev - 1);
    struct vigil_collect *c = start_set(dir, "netdev", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_network_receive_bytes_total{device=\"eth1\"}", 3);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    /* Every sample line closes its label set, and the text has no NUL. */
    assert_int_equal(strlen(out.p), out.len);
    for (const char *p = out.p; (p = strstr(p, "\nnode_network_receive_bytes_total{")) != NULL;) {
        p++;
        const char *le = strchr(p, '\n');
        assert_non_null(memchr(p, '}', (size_t)(le - p)));
    }
    assert_null(strstr(out.p, "device=\"et\""));
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    rm_tree(dir);
}

static void test_counter_wrap_is_exported_raw(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "netdev", 0);
    const struct vigil_sample_batch *b;
    const char *hdr = "Inter-|   Receive\n face |bytes\n";
    char text[512];
    snprintf(text, sizeof text,
             "%s  eth0: 18446744073709551615 4294967295 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n", hdr);
    put(dir, "proc/net/dev", text);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_network_receive_bytes_total{device=\"eth0\"}", 18446744073709551615.0);
    expect(c, b, "node_network_receive_packets_total{device=\"eth0\"}", 4294967295.0);
    /* The counter wraps: the raw value goes down; resets are the reader's business. */
    snprintf(text, sizeof text, "%s  eth0: 5 3 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n", hdr);
    put(dir, "proc/net/dev", text);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_network_receive_bytes_total{device=\"eth0\"}", 5);
    expect(c, b, "vigil_collect_errors_total{collector=\"netdev\"}", 0);
    /* A value past 64 bits is malformed: counted, not wrapped silently. */
    snprintf(text, sizeof text,
             "%s  eth0: 18446744073709551616 3 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n", hdr);
    put(dir, "proc/net/dev", text);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect_absent(c, b, "node_network_receive_bytes_total{device=\"eth0\"}");
    expect(c, b, "vigil_collect_errors_total{collector=\"netdev\"}", 1);
    vigil_collect_free(c);
    rm_tree(dir);
}

static void test_new_and_vanished_devices(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "netdev", 0);
    const struct vigil_sample_batch *b;
    const char *hdr = "Inter-|   Receive\n face |bytes\n";
    char text[1024];
    snprintf(text, sizeof text,
             "%s  eth0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n"
             " vnet0: 30 3 0 0 0 0 0 0 40 4 0 0 0 0 0 0\n",
             hdr);
    put(dir, "proc/net/dev", text);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_network_receive_bytes_total{device=\"vnet0\"}", 30);
    /* vnet0 goes away and a new tap appears before eth0: rows are relearned. */
    snprintf(text, sizeof text,
             "%s   tap1: 50 5 0 0 0 0 0 0 60 6 0 0 0 0 0 0\n"
             "  eth0: 11 1 0 0 0 0 0 0 21 2 0 0 0 0 0 0\n",
             hdr);
    put(dir, "proc/net/dev", text);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect_absent(c, b, "node_network_receive_bytes_total{device=\"vnet0\"}");
    expect(c, b, "node_network_receive_bytes_total{device=\"tap1\"}", 50);
    expect(c, b, "node_network_receive_bytes_total{device=\"eth0\"}", 11);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_null(strstr(out.p, "vnet0"));
    assert_non_null(strstr(out.p, "node_network_receive_bytes_total{device=\"tap1\"} 50\n"));
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* ---- cgroups ---- */

static void test_cgroup_v1_cadvisor_names(void **state)
{
    (void)state;
    struct vigil_collect *c = start_set(tu_fixture("cgroup/v1"), "cgroup", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double hz = (double)sysconf(_SC_CLK_TCK);
    const char *n = "{name=\"/docker/abc\"}";
    char k[256];
#define K(metric) (snprintf(k, sizeof k, "%s%s", metric, n), k)
    expect(c, b, K("container_cpu_usage_seconds_total"), 12.5);
    expect(c, b, K("container_cpu_user_seconds_total"), 800 / hz);
    expect(c, b, K("container_cpu_system_seconds_total"), 450 / hz);
    expect(c, b, K("container_cpu_cfs_periods_total"), 1200);
    expect(c, b, K("container_cpu_cfs_throttled_periods_total"), 37);
    expect(c, b, K("container_cpu_cfs_throttled_seconds_total"), 2.5);
    expect(c, b, K("container_memory_usage_bytes"), 104857600);
    expect(c, b, K("container_memory_max_usage_bytes"), 157286400);
    expect(c, b, K("container_memory_failcnt"), 3);
    expect(c, b, K("container_spec_memory_limit_bytes"), 268435456);
    expect(c, b, K("container_memory_cache"), 41943040);
    expect(c, b, K("container_memory_rss"), 52428800);
    expect(c, b, K("container_memory_mapped_file"), 8388608);
    expect(c, b, K("container_memory_swap"), 4096);
    expect(c, b, K("container_memory_working_set_bytes"), 104857600 - 31457280);
    expect(c, b, K("container_threads"), 17);
    expect(c, b, K("container_threads_max"), 0); /* "max": cAdvisor's 0, "infinity" */
#undef K
    /* v1's "no limit" (2^63 rounded down to a page) is 0 too, as cAdvisor's. */
    expect(c, b, "container_spec_memory_limit_bytes{name=\"/\"}", 0);
    expect(c, b,
           "container_memory_failures_total{failure_type=\"pgmajfault\",name=\"/docker/abc\","
           "scope=\"container\"}",
           12);
    expect(c, b, "container_fs_reads_bytes_total{device=\"/dev/vda\",name=\"/docker/abc\"}",
           1048576);
    expect(c, b, "container_fs_writes_total{device=\"/dev/vda\",name=\"/docker/abc\"}", 512);
    /* The hybrid layout's unified tree gives the root cgroup's pressure. */
    expect(c, b, "container_pressure_cpu_waiting_seconds_total{name=\"/\"}", 9.765097);
    expect(c, b, "container_pressure_io_stalled_seconds_total{name=\"/\"}", 4.985767);
    expect(c, b, "container_memory_usage_bytes{name=\"/docker\"}", 104857600);
    expect(c, b, "vigil_collect_errors_total{collector=\"cgroup\"}", 0);
    /* One entity per cgroup. */
    uint32_t id;
    const char *key = "container_memory_rss{name=\"/docker/abc\"}";
    assert_int_equal(vigil_series_find(vigil_collect_series(c), key, strlen(key), &id), 0);
    assert_string_equal(vigil_collect_series(c)->v[id].entity, "container:/docker/abc");
    assert_int_equal(vigil_collect_series(c)->v[id].group, VIGIL_GROUP_MEMORY);
    vigil_collect_free(c);
}

static void test_cgroup_v2_and_vanish(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("cgroup/v2"));
    /* Rescan every tick so the removal is seen at once. */
    struct vigil_collect *c = start_set(dir, "cgroup", 1);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    const char *n = "{name=\"/system.slice/nginx.service\"}";
    char k[256];
#define K(metric) (snprintf(k, sizeof k, "%s%s", metric, n), k)
    expect(c, b, K("container_cpu_usage_seconds_total"), 12.5);
    expect(c, b, K("container_cpu_user_seconds_total"), 8);
    expect(c, b, K("container_cpu_cfs_throttled_seconds_total"), 2.5);
    expect(c, b, K("container_memory_usage_bytes"), 104857600);
    expect(c, b, K("container_memory_max_usage_bytes"), 157286400);
    expect(c, b, K("container_spec_memory_limit_bytes"), 268435456);
    expect(c, b, K("container_memory_rss"), 52428800);
    expect(c, b, K("container_memory_cache"), 41943040);
    expect(c, b, K("container_memory_swap"), 4096);
    expect(c, b, K("container_memory_working_set_bytes"), 104857600 - 31457280);
    expect(c, b, K("container_oom_events_total"), 1);
    expect(c, b, K("container_threads"), 17);
    expect(c, b, K("container_threads_max"), 4915);
    expect(c, b, K("container_pressure_cpu_stalled_seconds_total"), 0.125);
    expect(c, b, K("container_pressure_io_waiting_seconds_total"), 3);
#undef K
    expect(c, b,
           "container_fs_reads_bytes_total{device=\"/dev/vda\",name=\"/system.slice/"
           "nginx.service\"}",
           1048576);
    expect(c, b, "container_spec_memory_limit_bytes{name=\"/system.slice\"}", 0); /* max */
    expect(c, b, "container_cpu_usage_seconds_total{name=\"/\"}", 675.638578);
    expect(c, b, "container_cpu_usage_seconds_total{name=\"/user.slice\"}", 0.001);
    /* Working set never goes below zero when inactive_file exceeds usage. */
    put(dir, "sys/fs/cgroup/system.slice/nginx.service/memory.current", "1000\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b,
           "container_memory_working_set_bytes{name=\"/system.slice/nginx.service\"}", 0);
    /* The service stops: its cgroup is removed and its series drop out, quietly. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s/sys/fs/cgroup/system.slice/nginx.service", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect_absent(c, b,
                  "container_cpu_usage_seconds_total{name=\"/system.slice/nginx.service\"}");
    expect(c, b, "container_cpu_usage_seconds_total{name=\"/system.slice\"}", 50);
    expect(c, b, "vigil_collect_errors_total{collector=\"cgroup\"}", 0);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_null(strstr(out.p, "nginx"));
    vigil_buf_fini(&out);
    /* A file that turns to junk while its cgroup exists is an error. */
    put(dir, "sys/fs/cgroup/user.slice/memory.current", "garbage\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"cgroup\"}", 1);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* systemctl restart: a cgroup removed and made again under its path is read anew. */
static void test_cgroup_recreated_same_path(void **state)
{
    (void)state;
    const char *svc = "sys/fs/cgroup/system.slice/app.service";
    const char *dir = tree_with(svc);
    char cmd[1024];
    put(dir, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(dir, "sys/fs/cgroup/system.slice/app.service/cpu.stat", "usage_usec 1000000\n");
    put(dir, "sys/fs/cgroup/system.slice/app.service/memory.current", "4096\n");
    struct vigil_collect *c = start_set(dir, "cgroup", 1); /* a discovery every tick */
    const char *cpu = "container_cpu_usage_seconds_total{name=\"/system.slice/app.service\"}";
    const char *mem = "container_memory_usage_bytes{name=\"/system.slice/app.service\"}";
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, cpu, 1.0);
    expect(c, b, mem, 4096);
    uint32_t id_before;
    assert_int_equal(vigil_series_find(vigil_collect_series(c), cpu, strlen(cpu), &id_before), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s/%s && mkdir -p %s/%s", dir, svc, dir, svc);
    assert_int_equal(system(cmd), 0);
    put(dir, "sys/fs/cgroup/system.slice/app.service/cpu.stat", "usage_usec 2000000\n");
    put(dir, "sys/fs/cgroup/system.slice/app.service/memory.current", "8192\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, cpu, 2.0);
    expect(c, b, mem, 8192);
    /* The same series goes on (a counter reset, as after any restart), with no error. */
    uint32_t id_after;
    assert_int_equal(vigil_series_find(vigil_collect_series(c), cpu, strlen(cpu), &id_after), 0);
    assert_int_equal(id_after, id_before);
    expect(c, b, "vigil_collect_errors_total{collector=\"cgroup\"}", 0);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* read(2)-family calls this process made so far (/proc/self/io syscr); -1 when unknown. */
static long reads_so_far(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    long n = -1;
    char line[128];
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "syscr: %ld", &n) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return n;
}

/*
 * On this host, when the cgroup2 root is the kernel's (inode 1): the root
 * cgroup's pressure is the system's, so with the pressure collector on it is
 * taken from that collector's reads of /proc/pressure. The values are equal
 * in every tick, and adding the pressure collector to a set that follows the
 * root cgroup costs no read per tick (the root's three *.pressure files are
 * no longer read).
 */
static void test_root_cgroup_pressure_is_the_systems(void **state)
{
    (void)state;
    struct stat st;
    int v2 = stat("/sys/fs/cgroup/cpu.pressure", &st) == 0;
    const char *root_dir = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
    char probe[64];
    snprintf(probe, sizeof probe, "%s/cpu.pressure", root_dir);
    if (access("/proc/pressure/cpu", R_OK) != 0 || access(probe, R_OK) != 0 ||
        stat(root_dir, &st) != 0 || st.st_ino != 1 || reads_so_far() < 0) {
        skip(); /* no PSI, no cgroup2 root of our own, or no /proc/self/io */
    }
    const char *lists[2] = {"cgroup", "pressure,cgroup"};
    long reads[2];
    for (int k = 0; k < 2; k++) {
        struct vigil_collect_conf conf;
        vigil_collect_conf_default(&conf);
        conf.root = "/";
        conf.collectors = lists[k];
        conf.rescan_ns = 3600 * 1000000000LL; /* no discovery after the first tick */
        struct vigil_collect *c = start_conf(&conf, "cgroup.depth", "0");
        const struct vigil_sample_batch *b;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        long r0 = reads_so_far();
        for (int i = 0; i < 10; i++) {
            assert_int_equal(vigil_collect_tick(c, &b), 0);
            if (k == 1) {
                static const char *const res[3] = {"cpu", "memory", "io"};
                for (int j = 0; j < 3; j++) {
                    char node[96], cont[128];
                    snprintf(node, sizeof node, "node_pressure_%s_waiting_seconds_total", res[j]);
                    snprintf(cont, sizeof cont,
                             "container_pressure_%s_waiting_seconds_total{name=\"/\"}", res[j]);
                    double want = value_of(c, b, node);
                    assert_false(isnan(want));
                    expect(c, b, cont, want);
                }
            }
        }
        reads[k] = reads_so_far() - r0;
        vigil_collect_free(c);
    }
    assert_int_equal(reads[1], reads[0]);

    /* A /proc/pressure that is not procfs's (a fixture here; LXCFS's per-container
     * files alike) is not the system's: the live root cgroup reads its own files. */
    const char *dir = tu_tmpdir();
    char sh[1024];
    snprintf(sh, sizeof sh,
             "mkdir -p %s/proc/pressure %s/sys/fs && ln -s /sys/fs/cgroup %s/sys/fs/cgroup", dir,
             dir, dir);
    assert_int_equal(system(sh), 0);
    const char *psi = "some avg10=0.00 avg60=0.00 avg300=0.00 total=111000000\n"
                      "full avg10=0.00 avg60=0.00 avg300=0.00 total=222000000\n";
    tu_write_file(dir, "proc/pressure/cpu", psi, strlen(psi));
    tu_write_file(dir, "proc/pressure/io", psi, strlen(psi));
    tu_write_file(dir, "proc/pressure/memory", psi, strlen(psi));
    struct vigil_collect_conf conf;
    vigil_collect_conf_default(&conf);
    conf.root = dir;
    conf.collectors = "pressure,cgroup";
    struct vigil_collect *c = start_conf(&conf, "cgroup.depth", "0");
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_pressure_cpu_waiting_seconds_total", 111);
    double root = value_of(c, b, "container_pressure_cpu_waiting_seconds_total{name=\"/\"}");
    assert_false(isnan(root));
    assert_true(root != 111);
    vigil_collect_free(c);
    rm_tree(dir);
}

static void test_cgroup_max_bounds_entities(void **state)
{
    (void)state;
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = tu_fixture("cgroup/v2");
    conf.collectors = "cgroup";
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    assert_int_equal(vigil_collect_set(c, "cgroup.max", "2", &d), 0);
    assert_int_equal(vigil_collect_start(c, &d), 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"cgroup\"}", 1);
    int n = 0;
    const struct vigil_series_table *t = vigil_collect_series(c);
    for (size_t i = 0; i < b->n; i++) {
        n += strcmp(t->v[b->v[i].series].name, "container_cpu_usage_seconds_total") == 0;
    }
    assert_int_equal(n, 2);
    vigil_collect_free(c);
}

static int64_t fake_now(void *user)
{
    return *(const int64_t *)user;
}

/*
 * A set over root running list on the clock *now, discovering every second;
 * opt ("collector.option", or NULL) is set to val before the start.
 */
static struct vigil_collect *start_clocked(const char *root, const char *list, int64_t *now,
                                           const char *opt, const char *val)
{
    struct vigil_collect_conf conf;
    vigil_collect_conf_default(&conf);
    conf.root = root;
    conf.collectors = list;
    conf.rescan_ns = 1000000000LL;
    conf.clock = fake_now;
    conf.clock_user = now;
    return start_conf(&conf, opt, val);
}

/* Limits are read at discoveries only, and their last values emitted every tick. */
static void test_cgroup_limits_read_at_discovery(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("cgroup/v2"));
    int64_t now = 0;
    struct vigil_collect *c = start_clocked(dir, "cgroup", &now, NULL, NULL);
    const char *lim = "container_spec_memory_limit_bytes{name=\"/system.slice/nginx.service\"}";
    const char *thr = "container_threads_max{name=\"/system.slice/nginx.service\"}";
    const char *use = "container_memory_usage_bytes{name=\"/system.slice/nginx.service\"}";
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, lim, 268435456);
    expect(c, b, thr, 4915);
    put(dir, "sys/fs/cgroup/system.slice/nginx.service/memory.max", "1048576\n");
    put(dir, "sys/fs/cgroup/system.slice/nginx.service/pids.max", "max\n");
    put(dir, "sys/fs/cgroup/system.slice/nginx.service/memory.current", "2000\n");
    now = 100000000LL; /* 100 ms: no discovery; usage is new, the limits are the last read */
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, use, 2000);
    expect(c, b, lim, 268435456);
    expect(c, b, thr, 4915);
    now = 1100000000LL; /* the next discovery reads the new limits; "max" is 0, as in cAdvisor */
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, lim, 1048576);
    expect(c, b, thr, 0);
    now = 1200000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, lim, 1048576);
    expect(c, b, thr, 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"cgroup\"}", 0);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* A netstat file none of whose fields is kept is read at discoveries only. */
static void test_netstat_reads_only_files_with_kept_fields(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    int64_t now = 0;
    struct vigil_collect *c = start_clocked(dir, "netstat", &now, "netstat.fields", "^Tcp_");
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double estab = value_of(c, b, "node_netstat_Tcp_CurrEstab");
    assert_false(isnan(estab));
    /* Junk in the files nothing is kept from goes unread between discoveries... */
    put(dir, "proc/net/netstat", "garbage\n");
    put(dir, "proc/net/snmp6", "garbage\n");
    now = 100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_netstat_Tcp_CurrEstab", estab);
    expect(c, b, "vigil_collect_errors_total{collector=\"netstat\"}", 0);
    /* ...and is seen at the next one. */
    now = 1100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_netstat_Tcp_CurrEstab", estab);
    expect(c, b, "vigil_collect_errors_total{collector=\"netstat\"}", 2);
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * softnet rows are keyed by their CPU: column 13 where the kernel prints it,
 * else the row's position (kernels before 5.10, with fewer columns, whose
 * series are learnt as far as their columns go). A CPU that goes away takes
 * its series with it.
 */
/* A row's values are parsed up to its last kept field: junk past it is not read. */
static void test_netstat_values_past_the_last_kept_field_5(void **state)
{
    (void)state;
    const char *dir = tree_with("proc/net");
    put(dir, "proc/net/snmp", "Tcp: RtoAlgorithm ActiveOpens PassiveOpens\nTcp: 1 7 x\n");
    int64_t now = 0;
    struct vigil_collect *c =
        start_clocked(dir, "netstat", &now, "netstat.fields", "^Tcp_ActiveOpens$");
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_netstat_Tcp_ActiveOpens", 7);
    expect(c, b, "vigil_collect_errors_total{collector=\"netstat\"}", 0);
    put(dir, "proc/net/snmp", "Tcp: RtoAlgorithm ActiveOpens PassiveOpens\nTcp: x 8 9\n");
    now = 100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect_absent(c, b, "node_netstat_Tcp_ActiveOpens");
    expect(c, b, "vigil_collect_errors_total{collector=\"netstat\"}", 1);
    vigil_collect_free(c);
    rm_tree(dir);
}

static void test_softnet_cpus_and_old_kernels(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "softnet", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_softnet_processed_total{cpu=\"3\"}", 0xff00);
    size_t n_new = b->n;
    /* CPU 3 goes offline. */
    put(dir, "proc/net/softnet_stat",
        "0012c3aa 00000000 00000005 00000000 00000000 00000000 00000000 00000000 00000000 "
        "00000000 00000000 00000000 00000000 00000000 00000000\n"
        "00a1b2c4 00000029 0000000b 00000000 00000000 00000000 00000000 00000000 00000000 "
        "00000007 00000002 00000003 00000001 00000001 00000002\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_softnet_processed_total{cpu=\"1\"}", 0x00a1b2c4);
    expect_absent(c, b, "node_softnet_processed_total{cpu=\"3\"}");
    assert_int_equal(b->n, n_new - 7);
    /* A 4.x kernel: 11 columns, no CPU number, no backlog. */
    put(dir, "proc/net/softnet_stat",
        "00000010 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 "
        "00000003 00000004\n"
        "00000020 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
        "00000000 00000000\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_softnet_processed_total{cpu=\"0\"}", 16);
    expect(c, b, "node_softnet_received_rps_total{cpu=\"0\"}", 3);
    expect(c, b, "node_softnet_flow_limit_count_total{cpu=\"0\"}", 4);
    expect(c, b, "node_softnet_processed_total{cpu=\"1\"}", 32);
    assert_int_equal(b->n, n_new - 7 - 2 /* no backlog for the two */);
    /* A 2.6 kernel's three columns. */
    put(dir, "proc/net/softnet_stat", "000000ff 00000001 00000002\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_softnet_processed_total{cpu=\"0\"}", 255);
    expect(c, b, "node_softnet_times_squeezed_total{cpu=\"0\"}", 2);
    expect_absent(c, b, "node_softnet_received_rps_total{cpu=\"0\"}");
    expect_absent(c, b, "node_softnet_processed_total{cpu=\"1\"}");
    expect(c, b, "vigil_collect_errors_total{collector=\"softnet\"}", 0);
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * conntrack: the limit is read at discoveries; a header the kernel changes
 * is learnt again; a file that is not the statistics table is an error;
 * without nf_conntrack the collector does not start.
 */
static void test_conntrack_limit_header_and_absence(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    int64_t now = 0;
    struct vigil_collect *c = start_clocked(dir, "conntrack", &now, NULL, NULL);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_nf_conntrack_entries_limit", 65536);
    put(dir, "proc/sys/net/netfilter/nf_conntrack_max", "131072\n");
    put(dir, "proc/sys/net/netfilter/nf_conntrack_count", "130000\n");
    /* Columns reordered, "drop" gone. */
    put(dir, "proc/net/stat/nf_conntrack",
        "entries search_restart found\n00000001 00000005 00000009\n00000001 00000001 00000000\n");
    now = 100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_nf_conntrack_entries", 130000);
    expect(c, b, "node_nf_conntrack_entries_limit", 65536);
    expect(c, b, "node_nf_conntrack_stat_search_restart", 6);
    expect(c, b, "node_nf_conntrack_stat_found", 9);
    expect_absent(c, b, "node_nf_conntrack_stat_drop");
    now = 1100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_nf_conntrack_entries_limit", 131072);
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 0);
    /* Some other table, hexadecimal but with no column of ours: an error, nothing emitted. */
    put(dir, "proc/net/stat/nf_conntrack", "a b c\n00000001 00000002 00000003\n");
    now = 1200000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 1);
    expect_absent(c, b, "node_nf_conntrack_stat_found");
    expect(c, b, "node_nf_conntrack_entries", 130000);
    vigil_collect_free(c);
    /* No nf_conntrack: not started, not an error. */
    rm_tree(dir);
    dir = copy_tree(tu_fixture("proc/ok"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s/proc/sys/net %s/proc/net/stat", dir, dir);
    assert_int_equal(system(cmd), 0);
    c = start_set(dir, "conntrack,loadavg", 0);
    assert_int_equal(vigil_collect_n_collectors(c), 1);
    assert_string_equal(vigil_collect_collector(c, 0)->ops->name, "loadavg");
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * A tick cut short by an allocation failure is done again at the next one
 * (vigil_collect_tick's contract): whichever allocation of the first tick
 * fails, the second tick emits every series, with the fixture's values.
 */
static void test_sock_collectors_recover_after_oom(void **state)
{
    (void)state;
    const char *list = "sockstat,softnet,conntrack";
    tu_alloc_fail_at(0);
    struct vigil_collect *c = start_set(tu_fixture("proc/ok"), list, 0);
    const struct vigil_sample_batch *b;
    tu_alloc_fail_at(0);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    long total = tu_alloc_calls();
    vigil_collect_free(c);
    tu_alloc_reset();
    assert_true(total > 0);
    print_message("allocations in the first tick: %ld\n", total);
    for (long k = 1; k <= total; k++) {
        tu_alloc_fail_at(0); /* the counting allocator throughout: it frees its own blocks */
        c = start_set(tu_fixture("proc/ok"), list, 0);
        tu_alloc_fail_at(k);
        int rc = vigil_collect_tick(c, &b);
        assert_true(rc == 0 || rc == -ENOMEM);
        tu_alloc_fail_at(0);
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        if (isnan(value_of(c, b, "node_nf_conntrack_stat_found"))) {
            print_message("allocation %ld of the first tick failing (%s): no conntrack stats "
                          "at the next tick\n", k, vigil_strerror(rc));
        }
        expect(c, b, "node_sockstat_TCP_tw", 4);
        expect(c, b, "node_softnet_backlog_len{cpu=\"1\"}", 3);
        expect(c, b, "node_nf_conntrack_stat_found", 3);
        expect(c, b, "node_nf_conntrack_stat_search_restart", 7);
        vigil_collect_free(c);
        tu_alloc_reset();
    }
}

/*
 * The kernel's per-CPU conntrack statistics are unsigned int (%08x): each
 * wraps at 2^32 on its own. Their sum is typed counter, so it must not go
 * down when every CPU's count went up: vigil prep reads a decrease as a
 * reset and takes the whole new sum as the step's increase.
 */
static void test_conntrack_sum_survives_a_cpu_wrap(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "conntrack", 0);
    const struct vigil_sample_batch *b;
    put(dir, "proc/net/stat/nf_conntrack", "entries found invalid\n"
                                            "00000001 fffffff0 00000000\n"
                                            "00000001 00000010 00000000\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double before = value_of(c, b, "node_nf_conntrack_stat_found");
    assert_true(before == (double)0xfffffff0u + 0x10);
    /* CPU 0 counts 0x20 more (wrapping to 0x10), CPU 1 counts 1 more. */
    put(dir, "proc/net/stat/nf_conntrack", "entries found invalid\n"
                                            "00000001 00000010 00000000\n"
                                            "00000001 00000011 00000000\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double after = value_of(c, b, "node_nf_conntrack_stat_found");
    if (!(after >= before)) {
        fail_msg("node_nf_conntrack_stat_found went from %.0f to %.0f after 0x21 more finds",
                 before, after);
    }
    /* nf_conntrack loaded again: the CPUs count from 0, and the total goes on. */
    put(dir, "proc/net/stat/nf_conntrack", "entries found invalid\n"
                                            "00000001 00000003 00000000\n"
                                            "00000001 00000002 00000000\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_nf_conntrack_stat_found", after + 5);
    /* A name twice is summed once, from its first column; a header wider than any kernel's
     * is an error. */
    put(dir, "proc/net/stat/nf_conntrack", "entries found found\n00000001 00000002 00000003\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_nf_conntrack_stat_found", 2);
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 0);
    char wide[64 * 9 + 32] = "entries";
    for (int i = 0; i < 40; i++) {
        strcat(wide, " x");
    }
    strcat(wide, " found\n");
    put(dir, "proc/net/stat/nf_conntrack", wide);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 1);
    expect_absent(c, b, "node_nf_conntrack_stat_found");
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * Every row of softnet_stat comes from the same seq_printf, so a row narrower
 * than the first is cut, not an older kernel's: an error, and not emitted
 * under the CPU its position gives (here "1" for what was CPU 3's row).
 */
static void test_softnet_cut_row_is_an_error(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "softnet", 0);
    const struct vigil_sample_batch *b;
    put(dir, "proc/net/softnet_stat",
        "00000001 00000002 00000003 00000000 00000000 00000000 00000000 00000000 00000000 "
        "00000000 00000000 00000000 00000000 00000000 00000000\n"
        "000000aa 000000bb 000000cc 00000000 00000000\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_softnet_processed_total{cpu=\"0\"}", 1);
    expect(c, b, "vigil_collect_errors_total{collector=\"softnet\"}", 1);
    expect_absent(c, b, "node_softnet_processed_total{cpu=\"1\"}");
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * sockstat rows are keyed by their field names, so a row whose fields change
 * is learnt again; a value that is not a number, a name without a value and
 * a name Prometheus cannot carry are errors or left out, and the page still
 * parses.
 */
static void test_sockstat_fields_and_bad_names(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "sockstat,netstat", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_sockstat_TCP_orphan", 1);
    /* orphan gone: tw's value is not given to the name learnt at its position. */
    put(dir, "proc/net/sockstat", "sockets: used 229\nTCP: inuse 4 tw 9 alloc 17 mem 3\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_sockstat_TCP_tw", 9);
    expect(c, b, "node_sockstat_TCP_alloc", 17);
    expect_absent(c, b, "node_sockstat_TCP_orphan");
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 0);
    /* "12abc" is not a number: the pairs before it are emitted. */
    put(dir, "proc/net/sockstat", "sockets: used 229\nTCP: inuse 4 tw 12abc alloc 17\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_sockstat_TCP_inuse", 4);
    expect_absent(c, b, "node_sockstat_TCP_tw");
    expect_absent(c, b, "node_sockstat_TCP_alloc");
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 1);
    /* Names outside Prometheus' grammar are not exported, from sockstat or netstat. */
    put(dir, "proc/net/sockstat", "sockets: used 229\nTC-P: inuse 1\nUDP: in.use 2 mem 1\n");
    put(dir, "proc/net/snmp", "Tc-p: InSegs\nTc-p: 5\nTcp: InSegs\nTcp: 6\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_sockstat_sockets_used", 229);
    expect(c, b, "node_sockstat_UDP_mem", 1);
    expect(c, b, "node_netstat_Tcp_InSegs", 6);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_null(strstr(out.p, "TC-P"));
    assert_null(strstr(out.p, "in.use"));
    assert_null(strstr(out.p, "Tc-p"));
    struct vigil_prom_parser ps;
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    for (const char *q = out.p, *end = out.p + out.len; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        struct vigil_prom_line ln;
        struct vigil_diag d;
        if (vigil_prom_parser_feed(&ps, q, (size_t)(nl - q), &ln, &d)) {
            fail_msg("line %zu col %zu: %s: %.*s", d.line, d.col, d.msg, (int)(nl - q), q);
        }
        q = nl + 1;
    }
    vigil_prom_parser_fini(&ps);
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * review10: a sockstat row whose only field has no value ("TCP: inuse") is
 * malformed like "TCP: inuse 4 tw" is (13eedc8: "a name without value [is an]
 * error"), but a row that learns no pair never reaches sockstat_emit, the
 * only place that finds it, so nothing is counted.
 */
static void test_sockstat_lone_name_is_an_error(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "sockstat", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 0);
    put(dir, "proc/net/sockstat", "sockets: used 229\nTCP: inuse 4 tw\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 1);
    put(dir, "proc/net/sockstat", "sockets: used 229\nTCP: inuse\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_sockstat_sockets_used", 229);
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 2);
    put(dir, "proc/net/sockstat", "sockets: used 229\nTCP:\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"sockstat\"}", 3);
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * The series of a sockstat field that goes are given back (retired after
 * the grace period), as softnet's for a CPU and conntrack's for a column.
 */
static void test_sockstat_field_that_goes_is_released(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    int64_t now = 0;
    struct vigil_collect_conf conf;
    conf_for(&conf, dir, "sockstat", 1000000000LL);
    conf.retire_ns = 1000000000LL;
    conf.clock = fake_now;
    conf.clock_user = &now;
    struct vigil_collect *c = start_conf(&conf, NULL, NULL);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    size_t live = vigil_collect_n_live(c);
    put(dir, "proc/net/sockstat", "sockets: used 229\nTCP: inuse 4 tw 4 alloc 17 mem 3\n"
                                  "UDP: inuse 2 mem 5\nUDPLITE: inuse 0\nRAW: inuse 0\n"
                                  "FRAG: inuse 0 memory 0\n");
    now = 100000000LL;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect_absent(c, b, "node_sockstat_TCP_orphan");
    expect(c, b, "node_sockstat_TCP_tw", 4);
    now = 2200000000LL; /* past the grace period: TCP_orphan is retired, the rest held */
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(vigil_collect_n_live(c), live - 1);
    expect(c, b, "node_sockstat_TCP_inuse", 4);
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * conntrack files that fail are opened again: after `rmmod nf_conntrack`
 * the kept descriptors fail for good, and a module loaded again has new
 * files whose counts start from 0 (counted afresh, the sum goes on).
 */
static void test_conntrack_files_opened_again(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "conntrack", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_nf_conntrack_stat_found", 3);
    expect(c, b, "node_nf_conntrack_entries", 123);
    /* The old files stop answering (emptied in place: the kept descriptors see it)... */
    put(dir, "proc/net/stat/nf_conntrack", "");
    put(dir, "proc/sys/net/netfilter/nf_conntrack_count", "");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 2);
    expect_absent(c, b, "node_nf_conntrack_entries");
    /* ...and new ones replace them (new inodes, as after modprobe). */
    char from[600], to[600];
    const char *const rel[2] = {"proc/net/stat/nf_conntrack",
                                "proc/sys/net/netfilter/nf_conntrack_count"};
    const char *const text[2] = {"entries found\n00000001 00000002\n00000001 00000000\n", "7\n"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s.new", rel[i]);
        put(dir, from, text[i]);
        snprintf(from, sizeof from, "%s/%s.new", dir, rel[i]);
        snprintf(to, sizeof to, "%s/%s", dir, rel[i]);
        assert_int_equal(rename(from, to), 0);
    }
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_nf_conntrack_entries", 7);
    expect(c, b, "node_nf_conntrack_stat_found", 2); /* relearnt header: counted afresh */
    expect(c, b, "vigil_collect_errors_total{collector=\"conntrack\"}", 2);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* A softnet_stat without rows is an error, not a host without CPUs. */
static void test_softnet_empty_file_is_an_error(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "softnet", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    put(dir, "proc/net/softnet_stat", "");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "vigil_collect_errors_total{collector=\"softnet\"}", 1);
    vigil_collect_free(c);
    rm_tree(dir);
}

static void test_pf_hex(void **state)
{
    (void)state;
    uint64_t v = 7;
    const char *s = " 0012c3A9 x";
    const char *q = vigil__pf_hex(s, s + strlen(s), &v);
    assert_non_null(q);
    assert_int_equal(v, 0x12c3a9);
    assert_ptr_equal(q, s + 9);
    s = "ffffffffffffffff";
    assert_non_null(vigil__pf_hex(s, s + strlen(s), &v));
    assert_true(v == UINT64_MAX);
    s = "10000000000000000"; /* 2^64 */
    assert_null(vigil__pf_hex(s, s + strlen(s), &v));
    s = "12g4";
    assert_null(vigil__pf_hex(s, s + strlen(s), &v));
    s = "  \n";
    assert_null(vigil__pf_hex(s, s + strlen(s), &v));
    s = "0x10";
    assert_null(vigil__pf_hex(s, s + strlen(s), &v));
    s = "00ff"; /* the end of the range ends the number */
    assert_non_null(vigil__pf_hex(s, s + 2, &v));
    assert_int_equal(v, 0);
}

/* ---- allocation, OOM, options ---- */

static void ticks_without_alloc(const char *root, const char *list)
{
    tu_alloc_fail_at(0);
    struct vigil_collect *c = start_set(root, list, 0);
    const struct vigil_sample_batch *b;
    struct vigil_buf out;
    vigil_buf_init(&out);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        vigil_buf_reset(&out);
        assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_TIMESTAMPS), 0);
    }
    long before = tu_alloc_calls();
    for (int i = 0; i < 50; i++) {
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        vigil_buf_reset(&out);
        assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_TIMESTAMPS), 0);
    }
    assert_true(b->n > 20);
    assert_int_equal(tu_alloc_calls() - before, 0);
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_reset();
}

static void test_no_allocation_per_tick_after_warmup(void **state)
{
    (void)state;
    ticks_without_alloc(tu_fixture("proc/ok"), NULL);
    ticks_without_alloc(tu_fixture("cgroup/v1"), "cgroup");
    ticks_without_alloc(tu_fixture("cgroup/v2"), "cgroup");
}

/* new + start + tick + render; returns the first failure code or 0. */
static int one_run(const char *root, const char *list)
{
    struct vigil_collect *c = NULL;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = root;
    conf.collectors = list;
    int rc = vigil_collect_new(&c, &conf, &d);
    if (!rc) {
        rc = vigil_collect_start(c, &d);
    }
    const struct vigil_sample_batch *b;
    if (!rc) {
        rc = vigil_collect_tick(c, &b);
    }
    struct vigil_buf out;
    vigil_buf_init(&out);
    if (!rc) {
        rc = vigil_collect_render(c, &out, 0);
    }
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    return rc;
}

static void oom_sweep(const char *root, const char *list)
{
    /* Count the allocations of a clean run, then fail each one in turn. */
    tu_alloc_fail_at(0);
    assert_int_equal(one_run(root, list), 0);
    long total = tu_alloc_calls();
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_reset();
    assert_true(total > 10);
    for (long k = 1; k <= total; k++) {
        tu_alloc_fail_at(k);
        int rc = one_run(root, list);
        if (rc != 0 && rc != -ENOMEM) {
            fail_msg("allocation %ld failing gave %s", k, vigil_strerror(rc));
        }
        assert_int_equal(tu_alloc_live(), 0);
        tu_alloc_reset();
    }
}

static void test_oom_sweep(void **state)
{
    (void)state;
    oom_sweep(tu_fixture("proc/ok"), HOST);
    oom_sweep(tu_fixture("cgroup/v1"), "cgroup");
    oom_sweep(tu_fixture("cgroup/v2"), "cgroup");
}

static void test_options_and_names(void **state)
{
    (void)state;
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.collectors = "stat,nosuch";
    assert_int_equal(vigil_collect_new(&c, &conf, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "nosuch"));
    conf.collectors = "vmstat,netdev";
    conf.root = tu_fixture("proc/ok");
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    assert_int_equal(vigil_collect_set(c, "vmstat.nosuch", "1", &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "nosuch"));
    assert_int_equal(vigil_collect_set(c, "nosuch.x", "1", &d), VIGIL_ECONFIG);
    assert_int_equal(vigil_collect_set(c, "novalue", "1", &d), VIGIL_ECONFIG);
    assert_int_equal(vigil_collect_set(c, "vmstat.fields", "^nr_free_pages$", &d), 0);
    assert_int_equal(vigil_collect_set(c, "netdev.exclude", "^lo$", &d), 0);
    assert_int_equal(vigil_collect_start(c, &d), 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_vmstat_nr_free_pages", 1453771);
    expect_absent(c, b, "node_vmstat_pgfault");
    expect_absent(c, b, "node_network_receive_bytes_total{device=\"lo\"}");
    expect(c, b, "node_network_receive_bytes_total{device=\"eth0\"}", 284345348);
    assert_int_equal(vigil_collect_set(c, "vmstat.fields", ".", &d), VIGIL_ECONFIG);
    vigil_collect_free(c);
    /* A bad regex is a configuration error at start. */
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    assert_int_equal(vigil_collect_set(c, "vmstat.fields", "(", &d), 0);
    assert_int_equal(vigil_collect_start(c, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "vmstat"));
    vigil_collect_free(c);
    /* Every registered collector has a name, a summary and its ABI. */
    for (const struct vigil_collector_ops *const *o = vigil_collector_list(); *o; o++) {
        assert_int_equal((*o)->abi, VIGIL_COLLECTOR_ABI);
        assert_non_null((*o)->summary);
        assert_ptr_equal(vigil_collector_find((*o)->name), *o);
    }
}

/*
 * A row learned at its place is read without looking its key up again (the
 * fast path of vigil__rows_parse): a key that grew, a value that is not a
 * number, a tab, a row gone and a last line without its newline must each
 * read as a first read of the file would.
 */
static void test_known_rows_read_as_new_5(void **state)
{
    (void)state;
    const char *dir = tree_with("proc");
    put(dir, "proc/vmstat", "nr_free_pages 10\npgfault 20\npgmajfault 30\n");
    struct vigil_collect_conf conf;
    conf_for(&conf, dir, "vmstat", 0);
    struct vigil_collect *c = start_conf(&conf, "vmstat.fields", ".");
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(vigil_collect_tick(c, &b), 0); /* the rows are known from here on */
    expect(c, b, "node_vmstat_pgfault", 20);
    put(dir, "proc/vmstat", "nr_free_pages 11\npgfault_x 21\npgmajfault 31\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_vmstat_nr_free_pages", 11);
    expect(c, b, "node_vmstat_pgfault_x", 21);
    expect_absent(c, b, "node_vmstat_pgfault");
    expect(c, b, "node_vmstat_pgmajfault", 31);
    put(dir, "proc/vmstat", "nr_free_pages 12\npgfault_x x22\npgmajfault 32\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_vmstat_nr_free_pages", 12);
    expect_absent(c, b, "node_vmstat_pgfault_x");
    expect(c, b, "node_vmstat_pgmajfault", 32);
    expect(c, b, "vigil_collect_errors_total{collector=\"vmstat\"}", 1);
    put(dir, "proc/vmstat", "nr_free_pages\t13\npgfault_x 23\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_vmstat_nr_free_pages", 13);
    expect(c, b, "node_vmstat_pgfault_x", 23);
    expect_absent(c, b, "node_vmstat_pgmajfault");
    put(dir, "proc/vmstat", "nr_free_pages 14\npgfault_x 24");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_vmstat_nr_free_pages", 14);
    expect(c, b, "node_vmstat_pgfault_x", 24);
    expect(c, b, "vigil_collect_errors_total{collector=\"vmstat\"}", 1);
    vigil_collect_free(c);
    /* Rows keyed by their first token: "cpu1" is not the start of "cpu10". */
    const char *cpus = "cpu  100 200 300 400 500 600 700 800 0 0\n"
                       "cpu1 100 200 300 400 500 600 700 800 0 0\nctxt 5\n";
    put(dir, "proc/stat", cpus);
    c = start_set(dir, "stat", 0);
    double hz = (double)sysconf(_SC_CLK_TCK);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"}", 100 / hz);
    put(dir, "proc/stat",
        "cpu  100 200 300 400 500 600 700 800 0 0\n"
        "cpu10 1100 200 300 400 500 600 700 800 0 0\nctxt 6\n");
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    expect(c, b, "node_cpu_seconds_total{cpu=\"10\",mode=\"user\"}", 1100 / hz);
    expect_absent(c, b, "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"}");
    expect(c, b, "node_context_switches_total", 6);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* ---- rendering ---- */

static void test_fmt_value(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {12, "12"},
        {-3.5, "-3.5"},
        {0.25, "0.25"},
        {54.61, "54.61"},
        {4.985767, "4.985767"},
        {41.094, "41.094"},
        {1e21, "1e+21"},
        {18446744073709551615.0, "1.8446744073709552e+19"},
        {9007199254740991.0, "9007199254740991"},
        {1e-12, "1e-12"},
        {0.1 + 0.2, "0.30000000000000004"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        size_t n = vigil_fmt_value(out, cases[i].v);
        assert_int_equal(n, strlen(out));
        assert_string_equal(out, cases[i].want);
        if (!isnan(cases[i].v)) {
            assert_true(strtod(out, NULL) == cases[i].v); /* reads back exactly */
        }
    }
}

/*
 * The mount table changes while collecting (a remount read-only, a mount
 * that hides another on the same point, then back): each discovery learns
 * it again, with the labels and readonly of the new table.
 */
static void test_filesystem_mount_table_changes(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    struct vigil_collect *c = start_set(dir, "filesystem", 1); /* discovery at every tick */
    const struct vigil_sample_batch *b;
    const char *root_ro = "node_filesystem_readonly{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/\"}";
    const char *tmpfs_run = "node_filesystem_size_bytes{device=\"tmpfs\",fstype=\"tmpfs\",mountpoint=\"/run\"}";
    const char *xfs_run = "node_filesystem_size_bytes{device=\"/dev/vdc\",fstype=\"xfs\",mountpoint=\"/run\"}";
    char mounts[512];
    snprintf(mounts, sizeof mounts, "%s/proc/self/mounts", dir);
    for (int round = 0; round < 4; round++) {
        FILE *f = fopen(mounts, "w");
        assert_non_null(f);
        if (round % 2 == 0) {
            fputs("/dev/vda / ext4 rw,relatime 0 0\n"
                  "tmpfs /run tmpfs rw,nosuid,nodev 0 0\n", f);
        } else {
            fputs("/dev/vda / ext4 ro,relatime 0 0\n"
                  "tmpfs /run tmpfs rw,nosuid,nodev 0 0\n"
                  "/dev/vdc /run xfs rw,noatime 0 0\n", f);
        }
        fclose(f);
        assert_int_equal(vigil_collect_tick(c, &b), 0);
        expect(c, b, root_ro, round % 2);
        if (round % 2 == 0) {
            assert_true(value_of(c, b, tmpfs_run) > 0);
            expect_absent(c, b, xfs_run);
        } else {
            assert_true(value_of(c, b, xfs_run) > 0); /* the later mount hides tmpfs */
            expect_absent(c, b, tmpfs_run);
        }
        expect(c, b, "vigil_collect_errors_total{collector=\"filesystem\"}", 0);
    }
    vigil_collect_free(c);
    rm_tree(dir);
}

/*
 * Mount points: octal escapes decoded, "\\000" and non-octal digits kept as
 * text (no NUL), a path past PATH_MAX left out, and the exclude filter holds
 * for names of any length.
 */
static void test_filesystem_mount_escapes(void **state)
{
    (void)state;
    const char *dir = copy_tree(tu_fixture("proc/ok"));
    char mounts[512], longp[5001], proc[530];
    snprintf(mounts, sizeof mounts, "%s/proc/self/mounts", dir);
    memset(longp, 'e', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    memset(proc, 'p', sizeof proc - 1); /* under /proc, excluded by default, however long */
    memcpy(proc, "/proc/", 6);
    proc[sizeof proc - 1] = '\0';
    FILE *f = fopen(mounts, "w");
    assert_non_null(f);
    fprintf(f, "/dev/vda / ext4 rw 0 0\n"
               "/dev/vdb /mnt/a\\040b ext4 rw 0 0\n"
               "/dev/vdc /mnt/c\\000d ext4 rw 0 0\n"
               "/dev/vdd /mnt/e\\08x ext4 rw 0 0\n"
               "/dev/vde %s ext4 rw 0 0\n"
               "/dev/vdf /mnt/after ext4 rw 0 0\n"
               "/dev/vdg %s ext4 rw 0 0\n",
            longp, proc);
    fclose(f);
    struct vigil_collect *c = start_set(dir, "filesystem", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    const char *fmt = "node_filesystem_device_error{device=\"/dev/%s\",fstype=\"ext4\",mountpoint=\"%s\"}";
    char key[256];
    snprintf(key, sizeof key, fmt, "vdb", "/mnt/a b");
    assert_false(isnan(value_of(c, b, key)));
    snprintf(key, sizeof key, fmt, "vdc", "/mnt/c\\\\000d"); /* the backslash, escaped */
    assert_false(isnan(value_of(c, b, key)));
    snprintf(key, sizeof key, fmt, "vdd", "/mnt/e\\\\08x");
    assert_false(isnan(value_of(c, b, key)));
    snprintf(key, sizeof key, fmt, "vdf", "/mnt/after");
    assert_false(isnan(value_of(c, b, key))); /* the mount past the unusable one is kept */
    /* The 5000-byte mount point is longer than a path can be: left out. */
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_null(strstr(out.p, "/dev/vde"));
    assert_null(strstr(out.p, "/dev/vdg"));
    assert_int_equal(strlen(out.p), out.len);
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    rm_tree(dir);
}

/* The shortest %.15g..%.17g that reads back: what vigil_fmt_value prints beyond its fast paths. */
static void shortest_g(char *out, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            return;
        }
    }
}

/*
 * Doubles from 2^53 to 1e19 (all integers) are printed from their digits;
 * the text is printf's, for edges (2^53, "no limit" 2^63 - 4096, roundings
 * that carry to a new digit) and a spread of random ones. (An exact tie
 * never decides the text: where one occurs, neither rounding reads back,
 * so a longer precision is printed.)
 */
static void test_fmt_value_big_integers(void **state)
{
    (void)state;
    double edge[] = {9007199254740992.0, 9007199254740994.0, 9223372036854771712.0,
                     9223372036854775808.0, 1e16, 1e17, 1e18, 9999999999999999e3,
                     99999999999999999e2, 123456789012345680.0, 5e18 + 512, -9e18,
                     nextafter(1e19, 0)};
    char got[32], want[32];
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        size_t n = vigil_fmt_value(got, edge[i]);
        shortest_g(want, edge[i]);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
    }
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    for (int i = 0; i < 50000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v = ldexp((double)(x >> 11), (int)(x % 11)) + 9007199254740992.0;
        if (v >= 1e19) {
            continue;
        }
        vigil_fmt_value(got, v);
        shortest_g(want, v);
        if (strcmp(got, want) != 0) {
            fail_msg("%.17g: got %s, printf %s", v, got, want);
        }
    }
}

static void test_render_exposition(void **state)
{
    (void)state;
    struct vigil_collect *c = start_set(tu_fixture("proc/ok"), "loadavg,netdev", 0);
    const struct vigil_sample_batch *b;
    struct vigil_buf out;
    vigil_buf_init(&out);
    /* Before any tick there is nothing to render. */
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_non_null(strstr(out.p, "# HELP node_load1 Load average over 1, 5 or 15 minutes.\n"
                                  "# TYPE node_load1 gauge\nnode_load1 1.09\n"));
    const char *ty = strstr(out.p, "# TYPE node_network_receive_bytes_total counter\n");
    const char *eth = strstr(out.p, "\nnode_network_receive_bytes_total{device=\"eth0\"} 284345348\n");
    assert_non_null(ty);
    assert_non_null(eth);
    assert_true(ty < eth);
    /* One # TYPE per family, before its samples. */
    const char *t = strstr(out.p, "# TYPE node_network_transmit_bytes_total");
    assert_non_null(t);
    assert_null(strstr(t + 1, "# TYPE node_network_transmit_bytes_total"));
    /* Timestamps in ms; META_ONCE leaves the comments out the second time. */
    vigil_buf_reset(&out);
    unsigned fl = VIGIL_RENDER_TIMESTAMPS | VIGIL_RENDER_META_ONCE;
    assert_int_equal(vigil_collect_render(c, &out, fl), 0);
    char want[64];
    snprintf(want, sizeof want, "node_load5 0.83 %lld\n", (long long)(b->ts_ns / 1000000));
    assert_non_null(strstr(out.p, want));
    assert_non_null(strstr(out.p, "# TYPE node_load5 gauge"));
    vigil_buf_reset(&out);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_int_equal(vigil_collect_render(c, &out, fl), 0);
    assert_null(strstr(out.p, "# "));
    assert_non_null(strstr(out.p, "node_load15 0.54 "));
    /* NO_HELP (--nats): the full page less its # HELP lines, byte for byte. */
    struct vigil_buf full, lean;
    vigil_buf_init(&full);
    vigil_buf_init(&lean);
    assert_int_equal(vigil_collect_render(c, &full, VIGIL_RENDER_TIMESTAMPS), 0);
    assert_int_equal(vigil_collect_render(c, &lean, VIGIL_RENDER_TIMESTAMPS | VIGIL_RENDER_NO_HELP),
                     0);
    vigil_buf_reset(&out);
    size_t helps = 0;
    for (const char *p = full.p; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (strncmp(p, "# HELP ", 7) == 0) {
            helps++;
        } else {
            assert_int_equal(vigil_buf_append(&out, p, (size_t)(nl + 1 - p)), 0);
        }
        p = nl + 1;
    }
    assert_true(helps > 10);
    assert_int_equal(lean.len, out.len);
    assert_memory_equal(lean.p, out.p, out.len);
    assert_non_null(strstr(lean.p, "# TYPE node_load1 gauge\nnode_load1 1.09 "));
    vigil_buf_fini(&full);
    vigil_buf_fini(&lean);
    vigil_buf_fini(&out);
    vigil_collect_free(c);
}

/*
 * vigil watch renders the set's page into its /metrics snapshot and appends
 * its own families after it: a steady page then costs no allocation, however
 * long what follows (vigil_snapshot_begin: "a steady publisher does not
 * allocate"). A render that cut the buffer down to the set's own page would
 * make the appends grow it back every tick.
 */
static void test_render_then_append_allocates_nothing_5(void **state)
{
    (void)state;
    tu_alloc_fail_at(0); /* counting throughout: blocks carry its header */
    struct vigil_collect *c = start_set(tu_fixture("proc/ok"), "loadavg,netdev", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    struct vigil_buf out, tail;
    vigil_buf_init(&out);
    vigil_buf_init(&tail);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    /* What follows the page: four times it (entities' scores on a central watch). */
    for (size_t i = 0; i < 4 * out.len; i += 64) {
        const char *line = "vigil_anomaly_score{entity=\"vm\",group=\"cpu\"} 0.5\n";
        assert_int_equal(vigil_buf_puts(&tail, line), 0);
    }
    for (int round = 0; round < 6; round++) {
        long before = tu_alloc_calls();
        vigil_buf_reset(&out);
        assert_int_equal(vigil_collect_render(c, &out, 0), 0);
        assert_int_equal(vigil_buf_append(&out, tail.p, tail.len), 0);
        if (round >= 2) {
            assert_int_equal(tu_alloc_calls() - before, 0); /* steady: not one */
        }
    }
    vigil_buf_fini(&tail);
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_reset();
}

/* /metrics through our own exposition parser: every line parses, kinds and values survive. */
static void test_metrics_roundtrip_through_prom_parser(void **state)
{
    (void)state;
    struct vigil_collect *c = start_set(tu_fixture("cgroup/v1"), "cgroup", 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    struct vigil_prom_parser ps;
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    const struct vigil_series_table *t = vigil_collect_series(c);
    size_t samples = 0;
    for (const char *p = out.p, *end = out.p + out.len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct vigil_prom_line ln;
        struct vigil_diag d;
        int rc = vigil_prom_parser_feed(&ps, p, (size_t)(nl - p), &ln, &d);
        if (rc) {
            fail_msg("line %zu col %zu: %s: %.*s", d.line, d.col, d.msg, (int)(nl - p), p);
        }
        if (ln.type == VIGIL_PROM_LINE_SAMPLE) {
            /* The key of the parsed sample names a series we emitted, with its value and kind. */
            uint32_t id;
            assert_int_equal(vigil_series_find(t, p, (size_t)((const char *)memchr(p, ' ', (size_t)(nl - p)) - p), &id), 0);
            assert_int_equal(ln.kind, t->v[id].kind);
            assert_true(ln.value == value_of(c, b, t->v[id].key));
            samples++;
        }
        p = nl + 1;
    }
    assert_int_equal(samples, b->n);
    vigil_prom_parser_fini(&ps);
    vigil_buf_fini(&out);
    vigil_collect_free(c);
}

/* --out files (timestamped scrapes, # TYPE once per run, runs appended) read back as frames. */
static void test_out_file_reads_as_frame(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/scrapes.prom", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    size_t series = 0;
    int64_t ts[4];
    for (int run = 0; run < 2; run++) {
        struct vigil_collect *c = start_set(tu_fixture("proc/ok"), "loadavg,netdev,stat", 0);
        for (int k = 0; k < 2; k++) {
            const struct vigil_sample_batch *b;
            assert_int_equal(vigil_collect_tick(c, &b), 0);
            ts[run * 2 + k] = b->ts_ns;
            struct vigil_buf out;
            vigil_buf_init(&out);
            assert_int_equal(vigil_collect_render(c, &out, VIGIL_RENDER_TIMESTAMPS |
                                                               VIGIL_RENDER_META_ONCE),
                             0);
            fwrite(out.p, 1, out.len, f);
            vigil_buf_fini(&out);
            series = b->n;
            usleep(2000); /* distinct millisecond timestamps */
        }
        vigil_collect_free(c);
    }
    fclose(f);
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    vigil_frame_init(&fr);
    int rc = vigil_frame_read(&fr, path, NULL, &info, &d);
    if (rc) {
        fail_msg("read: %s:%zu:%zu: %s", path, d.line, d.col, d.msg);
    }
    assert_int_equal(info.format, VIGIL_FMT_PROM);
    assert_int_equal(fr.n, 4);
    assert_true(fr.has_time);
    /* The durations differ per tick, so every series is a column of its own. */
    assert_true(fr.f >= series - 4 && fr.f <= series);
    uint32_t col;
    assert_int_equal(vigil_series_find(&fr.cols, "node_load1", 10, &col), 0);
    assert_int_equal(fr.cols.v[col].kind, VIGIL_KIND_GAUGE);
    const char *k = "node_network_receive_bytes_total{device=\"eth0\"}";
    uint32_t col2;
    assert_int_equal(vigil_series_find(&fr.cols, k, strlen(k), &col2), 0);
    assert_int_equal(fr.cols.v[col2].kind, VIGIL_KIND_COUNTER);
    for (size_t i = 0; i < 4; i++) {
        assert_true(vigil_frame_row(&fr, i)[col] == 1.09f);
        assert_true(vigil_frame_row(&fr, i)[col2] == 284345348.0f);
        assert_true(fr.ts[i] == ts[i] / 1000000 * 1000000);
    }
    vigil_frame_fini(&fr);
    rm_tree(dir);
}

/* ---- tcpinfo: sock_diag dumps ---- */

/* The sequence number of the dump the parser is reading. */
#define SEQ 42u
static uint32_t nl_seq = SEQ;

/* Appends one netlink message of type with payload (n bytes) and seq nl_seq to buf at *off. */
static void nl_put(unsigned char *buf, size_t cap, size_t *off, int type, const void *payload,
                   size_t n)
{
    struct nlmsghdr h = {
        .nlmsg_len = (uint32_t)NLMSG_LENGTH(n), .nlmsg_type = (uint16_t)type, .nlmsg_seq = nl_seq};
    assert_true(*off + NLMSG_SPACE(n) <= cap);
    memset(buf + *off, 0, NLMSG_SPACE(n));
    memcpy(buf + *off, &h, sizeof h);
    memcpy(buf + *off + NLMSG_HDRLEN, payload, n);
    *off += NLMSG_SPACE(n);
}

/* A SOCK_DIAG_BY_FAMILY message with queues and, when info_len > 0, a tcp_info of that length. */
static void nl_socket(unsigned char *buf, size_t cap, size_t *off, uint32_t rtt_us,
                      uint32_t rttvar_us, uint32_t unacked, uint32_t wq, size_t info_len)
{
    unsigned char p[sizeof(struct inet_diag_msg) + RTA_SPACE(sizeof(struct tcp_info))];
    memset(p, 0, sizeof p);
    struct inet_diag_msg m = {.idiag_family = AF_INET, .idiag_state = 1, .idiag_wqueue = wq};
    memcpy(p, &m, sizeof m);
    size_t n = sizeof m;
    if (info_len) {
        struct tcp_info ti;
        memset(&ti, 0, sizeof ti);
        ti.tcpi_rtt = rtt_us;
        ti.tcpi_rttvar = rttvar_us;
        ti.tcpi_unacked = unacked;
        struct rtattr at = {.rta_len = (unsigned short)RTA_LENGTH(info_len),
                            .rta_type = INET_DIAG_INFO};
        memcpy(p + n, &at, sizeof at);
        memcpy(p + n + RTA_LENGTH(0), &ti, info_len);
        n += RTA_SPACE(info_len);
    }
    nl_put(buf, cap, off, SOCK_DIAG_BY_FAMILY, p, n);
}

static void test_tcpinfo_parse_sums_sockets(void **state)
{
    (void)state;
    unsigned char buf[4096];
    size_t off = 0;
    nl_socket(buf, sizeof buf, &off, 1000, 500, 2, 100, sizeof(struct tcp_info));
    nl_socket(buf, sizeof buf, &off, 3000, 100, 1, 50, sizeof(struct tcp_info));
    /* An older kernel's shorter struct still carries the RTT fields. */
    nl_socket(buf, sizeof buf, &off, 2000, 300, 0, 0, offsetof(struct tcp_info, tcpi_rcv_rtt));
    /* No INET_DIAG_INFO: counted as a socket, not in the RTT statistics. */
    nl_socket(buf, sizeof buf, &off, 0, 0, 0, 7, 0);
    struct vigil__tcp_agg a;
    memset(&a, 0, sizeof a);
    assert_int_equal(vigil__tcpinfo_parse(buf, off, SEQ, &a), 0); /* no DONE yet: more to come */
    int done = 0;
    size_t off2 = 0;
    nl_put(buf, sizeof buf, &off2, NLMSG_DONE, &done, sizeof done);
    assert_int_equal(vigil__tcpinfo_parse(buf, off2, SEQ, &a), 1);
    assert_int_equal(a.sockets, 4);
    assert_int_equal(a.with_rtt, 3);
    assert_true(fabs((a.rtt_sum) - (0.006)) <= 1e-12);
    assert_true(fabs((a.rtt_max) - (0.003)) <= 1e-12);
    assert_true(fabs((a.rtt_min) - (0.001)) <= 1e-12);
    assert_true(fabs((a.rttvar_sum) - (0.0009)) <= 1e-12);
    assert_true(fabs((a.unacked) - (3)) <= 0);
    assert_true(fabs((a.send_queue) - (157)) <= 0);
}

static void test_tcpinfo_parse_skips_other_dumps(void **state)
{
    (void)state;
    unsigned char buf[4096];
    size_t off = 0;
    int done = 0;
    /* The tail of an earlier dump (another seq), its DONE, then this dump's socket and DONE. */
    nl_seq = SEQ - 1;
    nl_socket(buf, sizeof buf, &off, 9000, 0, 5, 0, sizeof(struct tcp_info));
    nl_put(buf, sizeof buf, &off, NLMSG_DONE, &done, sizeof done);
    nl_seq = SEQ;
    struct vigil__tcp_agg a;
    memset(&a, 0, sizeof a);
    assert_int_equal(vigil__tcpinfo_parse(buf, off, SEQ, &a), 0);
    assert_int_equal(a.sockets, 0);
    nl_socket(buf, sizeof buf, &off, 1000, 0, 1, 0, sizeof(struct tcp_info));
    nl_put(buf, sizeof buf, &off, NLMSG_DONE, &done, sizeof done);
    memset(&a, 0, sizeof a);
    assert_int_equal(vigil__tcpinfo_parse(buf, off, SEQ, &a), 1);
    assert_int_equal(a.sockets, 1);
    assert_true(fabs(a.rtt_max - 0.001) <= 1e-12);
}

static void test_tcpinfo_parse_failed_dump(void **state)
{
    (void)state;
    unsigned char buf[256];
    size_t off = 0;
    int err = -EINTR;
    nl_put(buf, sizeof buf, &off, NLMSG_DONE, &err, sizeof err);
    struct vigil__tcp_agg a;
    memset(&a, 0, sizeof a);
    assert_int_equal(vigil__tcpinfo_parse(buf, off, SEQ, &a), -EINTR);
}

static void test_tcpinfo_parse_rejects_bad_lengths(void **state)
{
    (void)state;
    unsigned char buf[4096];
    size_t off = 0;
    nl_socket(buf, sizeof buf, &off, 1000, 500, 2, 100, sizeof(struct tcp_info));
    struct vigil__tcp_agg a;
    memset(&a, 0, sizeof a);
    /* Cut inside the message: nlmsg_len says more than the datagram holds. */
    assert_int_equal(vigil__tcpinfo_parse(buf, off - 8, SEQ, &a), VIGIL_EPARSE);
    assert_int_equal(vigil__tcpinfo_parse(buf, 10, SEQ, &a), VIGIL_EPARSE);
    /* A message too short for an inet_diag_msg. */
    off = 0;
    char small[8] = {0};
    nl_put(buf, sizeof buf, &off, SOCK_DIAG_BY_FAMILY, small, sizeof small);
    assert_int_equal(vigil__tcpinfo_parse(buf, off, SEQ, &a), VIGIL_EPARSE);
    /* An attribute longer than its message is not read past the message. */
    off = 0;
    nl_socket(buf, sizeof buf, &off, 1000, 500, 2, 100, sizeof(struct tcp_info));
    struct rtattr *at = (struct rtattr *)(buf + NLMSG_HDRLEN + sizeof(struct inet_diag_msg));
    at->rta_len = 60000;
    memset(&a, 0, sizeof a);
    assert_int_equal(vigil__tcpinfo_parse(buf, off, SEQ, &a), 0);
    assert_int_equal(a.sockets, 1);
    assert_int_equal(a.with_rtt, 0);
    /* The kernel's error comes back as -errno. */
    off = 0;
    struct nlmsgerr e = {.error = -EPERM};
    nl_put(buf, sizeof buf, &off, NLMSG_ERROR, &e, sizeof e);
    assert_int_equal(vigil__tcpinfo_parse(buf, off, SEQ, &a), -EPERM);
    assert_int_equal(vigil__tcpinfo_parse(buf, NLMSG_HDRLEN + 2, SEQ, &a), VIGIL_EPARSE);
}

/* A loopback TCP connection with one exchange, so both ends have an RTT sample. */
static void loopback_pair(int fd[3])
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    fd[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd[0] >= 0);
    assert_int_equal(bind(fd[0], (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd[0], 1), 0);
    assert_int_equal(getsockname(fd[0], (struct sockaddr *)&sa, &sl), 0);
    fd[1] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd[1], (struct sockaddr *)&sa, sizeof sa), 0);
    fd[2] = accept(fd[0], NULL, NULL);
    assert_true(fd[2] >= 0);
    char c = 'x';
    assert_int_equal(write(fd[1], &c, 1), 1);
    assert_int_equal(read(fd[2], &c, 1), 1);
    assert_int_equal(write(fd[2], &c, 1), 1);
    assert_int_equal(read(fd[1], &c, 1), 1);
}

/* A set of the tcpinfo collector alone, not started; netns NULL = our own namespace. */
static struct vigil_collect *tcpinfo_set(const char *netns, struct vigil_diag *d)
{
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    vigil_collect_conf_default(&conf);
    conf.collectors = "tcpinfo";
    assert_int_equal(vigil_collect_new(&c, &conf, d), 0);
    if (netns) {
        assert_int_equal(vigil_collect_set(c, "tcpinfo.netns", netns, d), 0);
    }
    return c;
}

static void tcpinfo_sees(const char *netns, int want_sockets)
{
    struct vigil_diag d;
    struct vigil_collect *c = tcpinfo_set(netns, &d);
    assert_int_equal(vigil_collect_start(c, &d), 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    double n = value_of(c, b, "node_tcp_info_sockets");
    double mean = value_of(c, b, "node_tcp_info_rtt_seconds{stat=\"mean\"}");
    double mx = value_of(c, b, "node_tcp_info_rtt_seconds{stat=\"max\"}");
    double mn = value_of(c, b, "node_tcp_info_rtt_seconds{stat=\"min\"}");
    /* Every established socket of the namespace is in the dump, not only the test's pair. */
    assert_true(n >= want_sockets);
    assert_true(mx > 0);
    assert_true(mn <= mean && mean <= mx);
    assert_true(value_of(c, b, "vigil_collect_errors_total{collector=\"tcpinfo\"}") == 0);
    vigil_collect_free(c);
}

static void test_tcpinfo_live_loopback(void **state)
{
    (void)state;
    int fd[3];
    loopback_pair(fd);
    tcpinfo_sees(NULL, 2);
    /* The same namespace entered through a file, as the campaign names a VM's (setns needs
     * CAP_SYS_ADMIN, even into one's own namespace). */
    if (geteuid() == 0) {
        tcpinfo_sees("/proc/self/ns/net", 2);
    }
    ticks_without_alloc(tu_fixture("proc/ok"), HOST ",tcpinfo");
    for (int i = 0; i < 3; i++) {
        close(fd[i]);
    }
}

static char logged[512];

static void keep_log(enum vigil_log_level level, const char *msg, void *user)
{
    (void)level;
    (void)user;
    snprintf(logged, sizeof logged, "%s", msg);
}

static void test_tcpinfo_bad_netns_is_an_error(void **state)
{
    (void)state;
    struct vigil_diag d;
    struct vigil_collect *c = tcpinfo_set("/nonexistent/ns", &d);
    vigil_log_set_sink(keep_log, NULL);
    assert_int_equal(vigil_collect_start(c, &d), -ENOENT);
    vigil_log_set_sink(NULL, NULL);
    assert_non_null(strstr(d.msg, "tcpinfo"));
    assert_non_null(strstr(logged, "/nonexistent/ns"));
    vigil_collect_free(c);
}

int main(void)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_fixture_values),
        cmocka_unit_test(test_filesystem_mount_table_changes),
        cmocka_unit_test(test_filesystem_mount_escapes),
        cmocka_unit_test(test_host_second_tick_same_series),
        cmocka_unit_test(test_missing_files_skip_collectors),
        cmocka_unit_test(test_truncated_files_count_errors),
        cmocka_unit_test(test_overlong_rows_are_malformed),
        cmocka_unit_test(test_series_cap_keeps_existing_series),
        cmocka_unit_test(test_series_cap_keeps_existing_cgroups),
        cmocka_unit_test(test_nul_in_label_value_is_not_exported),
        cmocka_unit_test(test_counter_wrap_is_exported_raw),
        cmocka_unit_test(test_new_and_vanished_devices),
        cmocka_unit_test(test_cgroup_v1_cadvisor_names),
        cmocka_unit_test(test_cgroup_v2_and_vanish),
        cmocka_unit_test(test_cgroup_recreated_same_path),
        cmocka_unit_test(test_cgroup_max_bounds_entities),
        cmocka_unit_test(test_root_cgroup_pressure_is_the_systems),
        cmocka_unit_test(test_cgroup_limits_read_at_discovery),
        cmocka_unit_test(test_netstat_reads_only_files_with_kept_fields),
        cmocka_unit_test(test_netstat_values_past_the_last_kept_field_5),
        cmocka_unit_test(test_softnet_cpus_and_old_kernels),
        cmocka_unit_test(test_conntrack_limit_header_and_absence),
        cmocka_unit_test(test_pf_hex),
        cmocka_unit_test(test_sockstat_fields_and_bad_names),
        cmocka_unit_test(test_sockstat_lone_name_is_an_error),
        cmocka_unit_test(test_sockstat_field_that_goes_is_released),
        cmocka_unit_test(test_conntrack_files_opened_again),
        cmocka_unit_test(test_softnet_empty_file_is_an_error),
        cmocka_unit_test(test_softnet_cut_row_is_an_error),
        cmocka_unit_test(test_conntrack_sum_survives_a_cpu_wrap),
        cmocka_unit_test(test_sock_collectors_recover_after_oom),
        cmocka_unit_test(test_no_allocation_per_tick_after_warmup),
        cmocka_unit_test(test_oom_sweep),
        cmocka_unit_test(test_options_and_names),
        cmocka_unit_test(test_known_rows_read_as_new_5),
        cmocka_unit_test(test_fmt_value),
        cmocka_unit_test(test_fmt_value_big_integers),
        cmocka_unit_test(test_render_exposition),
        cmocka_unit_test(test_metrics_roundtrip_through_prom_parser),
        cmocka_unit_test(test_render_then_append_allocates_nothing_5),
        cmocka_unit_test(test_out_file_reads_as_frame),
        cmocka_unit_test(test_tcpinfo_parse_sums_sockets),
        cmocka_unit_test(test_tcpinfo_parse_skips_other_dumps),
        cmocka_unit_test(test_tcpinfo_parse_failed_dump),
        cmocka_unit_test(test_tcpinfo_parse_rejects_bad_lengths),
        cmocka_unit_test(test_tcpinfo_live_loopback),
        cmocka_unit_test(test_tcpinfo_bad_netns_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
