/*
 * libFuzzer target for the host collectors' file parsers (src/collect/proc*.c):
 * a collect set runs over a temporary root whose files start as small valid
 * ones. The input's first byte picks a file, the rest is its new content;
 * a fresh set ticks on it, on its first half (rows learnt, then cut), and on
 * the valid file again, and renders /metrics each time, which must parse as
 * the exposition format (a name taken from a file that Prometheus cannot
 * carry would break every scrape). Run with `make fuzz` (ASan + UBSan).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/buf.h"
#include "vigil/collect.h"
#include "vigil/log.h"
#include "vigil/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *rel;
    const char *text;
} files[] = {
    {"proc/stat", "cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 9 1 2\nctxt 10\n"
                  "btime 1700000000\nprocesses 11\nprocs_running 1\nprocs_blocked 0\n"},
    {"proc/meminfo", "MemTotal:       1000 kB\nMemFree:         500 kB\nHugePages_Total:       0\n"},
    {"proc/vmstat", "nr_free_pages 10\npgfault 20\noom_kill 0\n"},
    {"proc/loadavg", "0.50 0.25 0.10 1/100 42\n"},
    {"proc/pressure/cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=10\n"
                          "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"},
    {"proc/diskstats", " 254       0 vda 1 2 3 4 5 6 7 8 0 9 10 0 0 0 0 1 2\n"},
    {"proc/net/dev", "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
                     "  eth0: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n"},
    {"proc/net/snmp", "Tcp: InSegs CurrEstab\nTcp: 5 1\n"},
    {"proc/net/netstat", "TcpExt: ListenDrops\nTcpExt: 0\n"},
    {"proc/net/snmp6", "Ip6InReceives 3\nUdp6InDatagrams 4\n"},
    {"proc/net/sockstat", "sockets: used 9\nTCP: inuse 1 orphan 0 tw 2 alloc 1 mem 56\n"},
    {"proc/net/sockstat6", "TCP6: inuse 0\n"},
    {"proc/net/softnet_stat",
     "0012c3a9 00000000 00000005 00000000 00000000 00000000 00000000 00000000 00000000 "
     "00000000 00000000 00000000 00000000 00000000 00000000\n"},
    {"proc/net/stat/nf_conntrack", "entries found invalid drop\n00000001 00000002 00000003 00000004\n"},
    {"proc/sys/net/netfilter/nf_conntrack_count", "5\n"},
    {"proc/sys/net/netfilter/nf_conntrack_max", "65536\n"},
    {"proc/sys/fs/file-nr", "796\t0\t2466170\n"},
    {"proc/self/mounts", "/dev/vda / ext4 rw,relatime 0 0\n"},
};
#define N_FILES (sizeof files / sizeof files[0])

static char root[64];
static struct vigil_collect *set;
static struct vigil_buf out;

static void put(const char *rel, const uint8_t *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz_procfs: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

static void mkdirs(const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    vigil_buf_fini(&out);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/vigil-fuzz-procfs-XXXXXX");
    if (!mkdtemp(root)) {
        abort();
    }
    for (size_t i = 0; i < N_FILES; i++) {
        mkdirs(files[i].rel);
        put(files[i].rel, (const uint8_t *)files[i].text, strlen(files[i].text));
    }
    vigil_log_set_level(VIGIL_LOG_ERROR); /* bad rows are the point: no warning for each */
    vigil_buf_init(&out);
    atexit(cleanup);
}

static void start(void)
{
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = root;
    conf.collectors = "stat,meminfo,vmstat,loadavg,pressure,diskstats,netdev,netstat,sockstat,"
                      "softnet,conntrack,filefd,filesystem";
    if (vigil_collect_new(&set, &conf, &d) || vigil_collect_start(set, &d)) {
        fprintf(stderr, "fuzz_procfs: %s\n", d.msg);
        abort();
    }
}

static void tick(void)
{
    const struct vigil_sample_batch *b;
    if (vigil_collect_tick(set, &b) != 0) {
        return;
    }
    vigil_buf_reset(&out);
    if (vigil_collect_render(set, &out, 0) != 0) {
        return;
    }
    struct vigil_prom_parser ps;
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    for (const char *p = out.p, *end = out.p + out.len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            fprintf(stderr, "fuzz_procfs: render does not end its last line\n");
            abort();
        }
        struct vigil_prom_line ln;
        struct vigil_diag d;
        int rc = vigil_prom_parser_feed(&ps, p, (size_t)(nl - p), &ln, &d);
        if (rc == VIGIL_EPARSE) {
            fprintf(stderr, "fuzz_procfs: render line %zu: %s: %.*s\n", d.line, d.msg,
                    (int)(nl - p), p);
            abort();
        }
        p = nl + 1;
    }
    vigil_prom_parser_fini(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        setup();
    }
    if (size < 1) {
        return 0;
    }
    size_t i = data[0] % N_FILES;
    start(); /* a fresh set per input: what an input learns does not carry to the next */
    tick();
    put(files[i].rel, data + 1, size - 1);
    tick();
    put(files[i].rel, data + 1, (size - 1) / 2);
    tick();
    put(files[i].rel, (const uint8_t *)files[i].text, strlen(files[i].text));
    tick();
    vigil_collect_free(set);
    set = NULL;
    return 0;
}
