/*
 * Per-VM metrics of a testbed, read at each campaign step: the VM's cgroup
 * (CPU, memory, block I/O; v1 or v2 files) and its network namespace's
 * counters from /proc/<pid>/net/dev and /proc/<pid>/net/snmp of a process
 * inside it. Names follow cAdvisor (container_cpu_usage_seconds_total and so
 * on) with the VM in the `name` label, so models trained on cAdvisor data
 * and on campaign data see the same series.
 *
 * This is the campaign's own minimal reader, kept until vigil's collector
 * (issue 5) offers per-cgroup and per-namespace entities in process. An
 * unreadable file gives NaN for its series at that step, never an error.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vigil/mem.h"

/* Fields read per VM; the series table below maps each series to one. */
enum field {
    F_CPU_USAGE, F_CPU_USER, F_CPU_SYSTEM, F_CPU_PERIODS, F_CPU_THROTTLED, F_CPU_THROTTLED_S,
    F_MEM_USAGE, F_MEM_WSET, F_MEM_RSS, F_MEM_CACHE, F_MEM_MAPPED, F_MEM_FAILCNT, F_MEM_PGFAULT,
    F_MEM_PGMAJFAULT,
    F_IO_RBYTES, F_IO_WBYTES, F_IO_RIOS, F_IO_WIOS,
    F_UDP_IN, F_UDP_OUT, F_UDP_INERR, F_UDP_RCVBUF, F_UDP_NOPORTS,
    /* per interface, NET_FIELDS each, interface i at F_NET + i * NET_FIELDS */
    F_NET,
};

enum net_field { N_RX_BYTES, N_RX_PACKETS, N_RX_ERRS, N_RX_DROP, N_TX_BYTES, N_TX_PACKETS,
                 N_TX_ERRS, N_TX_DROP, NET_FIELDS };

#define F_TOTAL (F_NET + 2 * NET_FIELDS)

struct metric {
    const char *name;
    const char *labels; /* extra labels before name="..." (sorted), or "" */
    int field;
    int ctl; /* cgroup controller needed, or -1 for namespace counters */
};

static const struct metric cg_metrics[] = {
    {"container_cpu_usage_seconds_total", "", F_CPU_USAGE, VIGIL__CG_CPUACCT},
    {"container_cpu_user_seconds_total", "", F_CPU_USER, VIGIL__CG_CPUACCT},
    {"container_cpu_system_seconds_total", "", F_CPU_SYSTEM, VIGIL__CG_CPUACCT},
    {"container_cpu_cfs_periods_total", "", F_CPU_PERIODS, VIGIL__CG_CPU},
    {"container_cpu_cfs_throttled_periods_total", "", F_CPU_THROTTLED, VIGIL__CG_CPU},
    {"container_cpu_cfs_throttled_seconds_total", "", F_CPU_THROTTLED_S, VIGIL__CG_CPU},
    {"container_memory_usage_bytes", "", F_MEM_USAGE, VIGIL__CG_MEMORY},
    {"container_memory_working_set_bytes", "", F_MEM_WSET, VIGIL__CG_MEMORY},
    {"container_memory_rss", "", F_MEM_RSS, VIGIL__CG_MEMORY},
    {"container_memory_cache", "", F_MEM_CACHE, VIGIL__CG_MEMORY},
    {"container_memory_mapped_file", "", F_MEM_MAPPED, VIGIL__CG_MEMORY},
    {"container_memory_failcnt", "", F_MEM_FAILCNT, VIGIL__CG_MEMORY},
    {"container_memory_failures_total", "failure_type=\"pgfault\",", F_MEM_PGFAULT,
     VIGIL__CG_MEMORY},
    {"container_memory_failures_total", "failure_type=\"pgmajfault\",", F_MEM_PGMAJFAULT,
     VIGIL__CG_MEMORY},
    {"container_fs_reads_bytes_total", "", F_IO_RBYTES, VIGIL__CG_BLKIO},
    {"container_fs_writes_bytes_total", "", F_IO_WBYTES, VIGIL__CG_BLKIO},
    {"container_fs_reads_total", "", F_IO_RIOS, VIGIL__CG_BLKIO},
    {"container_fs_writes_total", "", F_IO_WIOS, VIGIL__CG_BLKIO},
    {"container_network_udp_in_datagrams_total", "", F_UDP_IN, -1},
    {"container_network_udp_out_datagrams_total", "", F_UDP_OUT, -1},
    {"container_network_udp_in_errors_total", "", F_UDP_INERR, -1},
    {"container_network_udp_rcvbuf_errors_total", "", F_UDP_RCVBUF, -1},
    {"container_network_udp_no_ports_total", "", F_UDP_NOPORTS, -1},
};

static const char *const net_names[NET_FIELDS] = {
    "container_network_receive_bytes_total",   "container_network_receive_packets_total",
    "container_network_receive_errors_total",  "container_network_receive_packets_dropped_total",
    "container_network_transmit_bytes_total",  "container_network_transmit_packets_total",
    "container_network_transmit_errors_total", "container_network_transmit_packets_dropped_total",
};

int vigil__vmstat_init(struct vigil__vmstat *ms, struct vigil_testbed *tb)
{
    memset(ms, 0, sizeof *ms);
    ms->tb = tb;
    size_t cap = VIGIL_VM_COUNT * F_TOTAL;
    ms->names = vigil_calloc(cap, sizeof *ms->names);
    ms->src = vigil_calloc(cap, sizeof *ms->src);
    if (!ms->names || !ms->src) {
        vigil__vmstat_fini(ms);
        return -ENOMEM;
    }
    char buf[256];
    for (int vm = 0; vm < VIGIL_VM_COUNT; vm++) {
        if (!vigil_testbed_has(tb, vm)) {
            continue;
        }
        const char *vmn = vigil_vm_name(vm);
        const struct vigil__cg *cg = vigil__tb_cg(tb, vm);
        for (size_t i = 0; i < sizeof cg_metrics / sizeof cg_metrics[0]; i++) {
            const struct metric *m = &cg_metrics[i];
            if (m->ctl >= 0 && (!cg || !cg->dir[m->ctl][0])) {
                continue;
            }
            snprintf(buf, sizeof buf, "%s{%sname=\"%s\"}", m->name, m->labels, vmn);
            if (!(ms->names[ms->n] = vigil_strdup(buf))) {
                vigil__vmstat_fini(ms);
                return -ENOMEM;
            }
            ms->src[ms->n++] = (struct vigil__vmsrc){vm, m->field};
        }
        const char *ifs[2];
        size_t nif = vigil__tb_ifaces(tb, vm, ifs);
        for (size_t k = 0; k < nif; k++) {
            for (int f = 0; f < NET_FIELDS; f++) {
                snprintf(buf, sizeof buf, "%s{interface=\"%s\",name=\"%s\"}", net_names[f], ifs[k],
                         vmn);
                if (!(ms->names[ms->n] = vigil_strdup(buf))) {
                    vigil__vmstat_fini(ms);
                    return -ENOMEM;
                }
                ms->src[ms->n++] = (struct vigil__vmsrc){vm, F_NET + (int)k * NET_FIELDS + f};
            }
        }
    }
    return 0;
}

void vigil__vmstat_fini(struct vigil__vmstat *ms)
{
    for (size_t i = 0; ms->names && i < ms->n; i++) {
        vigil_free(ms->names[i]);
    }
    vigil_free(ms->names);
    vigil_free(ms->src);
    ms->names = NULL;
    ms->src = NULL;
    ms->n = 0;
}

/* ---- parsing kernel files (trusted but checked) ---- */

static int read_text(const char *dir, const char *file, char *out, size_t n)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return vigil__read_small(path, out, n) < 0 ? -1 : 0;
}

/* Value of "key value" in a flat keyed file; NaN when absent. */
static double kv(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            char *end;
            double v = strtod(p + kl + 1, &end);
            return end == p + kl + 1 ? (double)NAN : v;
        }
    }
    return (double)NAN;
}

static double one_number(const char *dir, const char *file)
{
    char buf[64];
    if (read_text(dir, file, buf, sizeof buf)) {
        return (double)NAN;
    }
    char *end;
    double v = strtod(buf, &end);
    return end == buf ? (double)NAN : v;
}

/* v1 blkio "MAJ:MIN Read N" lines (device totals, not the "Total" line) summed per op. */
static void blkio_v1(const char *dir, const char *file, double *rd, double *wr)
{
    char text[8192];
    *rd = *wr = (double)NAN;
    if (read_text(dir, file, text, sizeof text)) {
        return;
    }
    *rd = *wr = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (*p < '0' || *p > '9') {
            continue; /* "Total N" */
        }
        const char *op = strchr(p, ' ');
        if (!op) {
            continue;
        }
        op++;
        const char *num = strchr(op, ' ');
        if (!num) {
            continue;
        }
        double v = strtod(num + 1, NULL);
        if (strncmp(op, "Read ", 5) == 0) {
            *rd += v;
        } else if (strncmp(op, "Write ", 6) == 0) {
            *wr += v;
        }
    }
}

/* v2 io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.." summed over devices. */
static void iostat_v2(const char *dir, double *f)
{
    char text[8192];
    static const char *const keys[4] = {"rbytes=", "wbytes=", "rios=", "wios="};
    static const int fields[4] = {F_IO_RBYTES, F_IO_WBYTES, F_IO_RIOS, F_IO_WIOS};
    if (read_text(dir, "io.stat", text, sizeof text)) {
        return;
    }
    for (int k = 0; k < 4; k++) {
        f[fields[k]] = 0;
        for (const char *p = strstr(text, keys[k]); p; p = strstr(p + 1, keys[k])) {
            f[fields[k]] += strtod(p + strlen(keys[k]), NULL);
        }
    }
}

static void read_cgroup(const struct vigil__cg *cg, double *f)
{
    char text[8192];
    const char *d = cg->dir[VIGIL__CG_CPUACCT];
    if (d[0] && !cg->v2[VIGIL__CG_CPUACCT]) {
        f[F_CPU_USAGE] = one_number(d, "cpuacct.usage") / 1e9;
        if (read_text(d, "cpuacct.stat", text, sizeof text) == 0) {
            const double hz = 100.0; /* USER_HZ */
            f[F_CPU_USER] = kv(text, "user") / hz;
            f[F_CPU_SYSTEM] = kv(text, "system") / hz;
        }
    }
    d = cg->dir[VIGIL__CG_CPU];
    if (d[0] && read_text(d, "cpu.stat", text, sizeof text) == 0) {
        f[F_CPU_PERIODS] = kv(text, "nr_periods");
        f[F_CPU_THROTTLED] = kv(text, "nr_throttled");
        if (cg->v2[VIGIL__CG_CPU]) {
            f[F_CPU_THROTTLED_S] = kv(text, "throttled_usec") / 1e6;
            f[F_CPU_USAGE] = kv(text, "usage_usec") / 1e6;
            f[F_CPU_USER] = kv(text, "user_usec") / 1e6;
            f[F_CPU_SYSTEM] = kv(text, "system_usec") / 1e6;
        } else {
            f[F_CPU_THROTTLED_S] = kv(text, "throttled_time") / 1e9;
        }
    }
    d = cg->dir[VIGIL__CG_MEMORY];
    if (d[0]) {
        int v2 = cg->v2[VIGIL__CG_MEMORY];
        f[F_MEM_USAGE] = one_number(d, v2 ? "memory.current" : "memory.usage_in_bytes");
        if (read_text(d, "memory.stat", text, sizeof text) == 0) {
            f[F_MEM_RSS] = kv(text, v2 ? "anon" : "rss");
            f[F_MEM_CACHE] = kv(text, v2 ? "file" : "cache");
            f[F_MEM_MAPPED] = kv(text, v2 ? "file_mapped" : "mapped_file");
            f[F_MEM_PGFAULT] = kv(text, "pgfault");
            f[F_MEM_PGMAJFAULT] = kv(text, "pgmajfault");
            double inactive = kv(text, v2 ? "inactive_file" : "total_inactive_file");
            double ws = f[F_MEM_USAGE] - (isnan(inactive) ? 0 : inactive);
            f[F_MEM_WSET] = ws < 0 ? 0 : ws;
        }
        if (v2) {
            if (read_text(d, "memory.events", text, sizeof text) == 0) {
                f[F_MEM_FAILCNT] = kv(text, "max");
            }
        } else {
            f[F_MEM_FAILCNT] = one_number(d, "memory.failcnt");
        }
    }
    d = cg->dir[VIGIL__CG_BLKIO];
    if (d[0]) {
        if (cg->v2[VIGIL__CG_BLKIO]) {
            iostat_v2(d, f);
        } else {
            blkio_v1(d, "blkio.throttle.io_service_bytes", &f[F_IO_RBYTES], &f[F_IO_WBYTES]);
            blkio_v1(d, "blkio.throttle.io_serviced", &f[F_IO_RIOS], &f[F_IO_WIOS]);
        }
    }
}

/* /proc/PID/net/dev: "  eth0: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed multicast tx_bytes tx_packets tx_errs tx_drop ..." */
static void read_netdev(pid_t pid, const char *const *ifs, size_t nif, double *f)
{
    char path[64], text[8192];
    snprintf(path, sizeof path, "/proc/%d/net/dev", (int)pid);
    if (vigil__read_small(path, text, sizeof text) < 0) {
        return;
    }
    for (size_t k = 0; k < nif; k++) {
        size_t il = strlen(ifs[k]);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
            while (*p == ' ') {
                p++;
            }
            if (strncmp(p, ifs[k], il) != 0 || p[il] != ':') {
                continue;
            }
            double v[16];
            const char *q = p + il + 1;
            int got = 0;
            for (; got < 16; got++) {
                char *end;
                v[got] = strtod(q, &end);
                if (end == q) {
                    break;
                }
                q = end;
            }
            if (got >= 12) {
                static const int col[NET_FIELDS] = {0, 1, 2, 3, 8, 9, 10, 11};
                for (int j = 0; j < NET_FIELDS; j++) {
                    f[F_NET + (int)k * NET_FIELDS + j] = v[col[j]];
                }
            }
            break;
        }
    }
}

/* /proc/PID/net/snmp: a "Udp:" line of names, then a "Udp:" line of values. */
static void read_snmp(pid_t pid, double *f)
{
    char path[64], text[16384];
    snprintf(path, sizeof path, "/proc/%d/net/snmp", (int)pid);
    if (vigil__read_small(path, text, sizeof text) < 0) {
        return;
    }
    const char *names = strstr(text, "\nUdp: ");
    const char *vals = names ? strstr(names + 1, "\nUdp: ") : NULL;
    if (!names || !vals) {
        return;
    }
    static const char *const want[] = {"InDatagrams", "OutDatagrams", "InErrors", "RcvbufErrors",
                                       "NoPorts"};
    static const int fields[] = {F_UDP_IN, F_UDP_OUT, F_UDP_INERR, F_UDP_RCVBUF, F_UDP_NOPORTS};
    const char *np = names + 6, *vp = vals + 6;
    while (*np && *np != '\n' && *vp && *vp != '\n') {
        size_t nl = strcspn(np, " \n");
        char *end;
        double v = strtod(vp, &end);
        if (end == vp) {
            break;
        }
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            if (strlen(want[i]) == nl && strncmp(np, want[i], nl) == 0) {
                f[fields[i]] = v;
            }
        }
        np += nl;
        while (*np == ' ') {
            np++;
        }
        vp = end;
        while (*vp == ' ') {
            vp++;
        }
    }
}

int vigil__vmstat_sample(struct vigil__vmstat *ms, double *out)
{
    double f[VIGIL_VM_COUNT][F_TOTAL];
    for (int vm = 0; vm < VIGIL_VM_COUNT; vm++) {
        for (int i = 0; i < F_TOTAL; i++) {
            f[vm][i] = (double)NAN;
        }
        if (!vigil_testbed_has(ms->tb, vm)) {
            continue;
        }
        const struct vigil__cg *cg = vigil__tb_cg(ms->tb, vm);
        if (cg) {
            read_cgroup(cg, f[vm]);
        }
        pid_t pid = vigil__tb_pid(ms->tb, vm);
        if (pid > 0) {
            const char *ifs[2];
            size_t nif = vigil__tb_ifaces(ms->tb, vm, ifs);
            read_netdev(pid, ifs, nif, f[vm]);
            read_snmp(pid, f[vm]);
        }
    }
    for (size_t j = 0; j < ms->n; j++) {
        out[j] = f[ms->src[j].vm][ms->src[j].field];
    }
    return 0;
}
