/*
 * Host collectors over single /proc files, with node-exporter's names and
 * units: /proc/stat (stat), /proc/meminfo (meminfo), /proc/vmstat (vmstat),
 * /proc/loadavg (loadavg), /proc/pressure/{cpu,io,memory} (pressure) and
 * /proc/sys/fs/file-nr (filefd). Each file is opened once and re-read every
 * tick; keyed rows go through a row map (vigil__rows_parse) so a stable file
 * is parsed with one key comparison per row and no lookup, and the values of
 * rows not exported are not parsed. Disks and networks live in proc_disk.c
 * and proc_net.c.
 */
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/mem.h"

/* ---- /proc/stat ---- */

static const char *const cpu_modes[8] = {"user", "nice",    "system", "idle",
                                         "iowait", "irq", "softirq", "steal"};

static int stat_learn(void *u, struct vigil_collect *set, const char *key, size_t kl, const char *q,
                      const char *le, uint32_t *ids, size_t *n_ids)
{
    (void)u;
    (void)q;
    (void)le;
    size_t n = 0;
    int rc = 0;
    if (kl > 3 && memcmp(key, "cpu", 3) == 0) {
        const char *cpu = key + 3;
        size_t cl = kl - 3;
        for (int m = 0; m < 8 && !rc; m++) {
            struct vigil_label_ref l[2] = {VIGIL__LBL("cpu", cpu, cl),
                                           VIGIL__LBL("mode", cpu_modes[m], strlen(cpu_modes[m]))};
            rc = vigil__intern(set, "node_cpu_seconds_total", l, 2, VIGIL_KIND_COUNTER,
                               VIGIL_GROUP_CPU, NULL, "Seconds the CPUs spent in each mode.",
                               &ids[n++]);
        }
        for (int m = 0; m < 2 && !rc; m++) {
            struct vigil_label_ref l[2] = {VIGIL__LBL("cpu", cpu, cl),
                                           VIGIL__LBL("mode", cpu_modes[m], strlen(cpu_modes[m]))};
            rc = vigil__intern(set, "node_cpu_guest_seconds_total", l, 2, VIGIL_KIND_COUNTER,
                               VIGIL_GROUP_CPU, NULL,
                               "Seconds the CPUs spent in guests (VMs) for each mode.", &ids[n++]);
        }
    } else {
        static const struct {
            const char *key, *name, *help;
            enum vigil_kind kind;
        } one[] = {
            {"intr", "node_intr_total", "Total number of interrupts serviced.",
             VIGIL_KIND_COUNTER},
            {"ctxt", "node_context_switches_total", "Total number of context switches.",
             VIGIL_KIND_COUNTER},
            {"btime", "node_boot_time_seconds", "Node boot time, in unixtime.", VIGIL_KIND_GAUGE},
            {"processes", "node_forks_total", "Total number of forks.", VIGIL_KIND_COUNTER},
            {"procs_running", "node_procs_running", "Number of processes in runnable state.",
             VIGIL_KIND_GAUGE},
            {"procs_blocked", "node_procs_blocked", "Number of processes blocked waiting for I/O.",
             VIGIL_KIND_GAUGE},
        };
        for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
            if (strlen(one[i].key) == kl && memcmp(one[i].key, key, kl) == 0) {
                rc = vigil__intern(set, one[i].name, NULL, 0, one[i].kind,
                                   i == 0 || i == 1 ? VIGIL_GROUP_CPU : VIGIL_GROUP_OTHER, NULL,
                                   one[i].help, &ids[n++]);
                break;
            }
        }
    }
    *n_ids = n;
    return rc;
}

static int stat_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                     const char *q, const char *le)
{
    const struct vigil__keyed *k = u;
    int is_cpu = n == 10;
    for (size_t j = 0; j < n; j++) {
        uint64_t v;
        if (!(q = vigil__pf_u64(q, le, &v))) {
            /* Older kernels have fewer cpu columns; anything else is truncation. */
            return !(is_cpu && j >= 7);
        }
        vigil__emit(cx, ids[j], is_cpu ? (double)v / k->hz : (double)v);
    }
    return 0;
}

static int stat_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                     const void *params)
{
    (void)set;
    (void)params;
    int rc = vigil__keyed_new(c, root, "proc/stat", NULL, NULL);
    if (!rc) {
        long hz = sysconf(_SC_CLK_TCK);
        ((struct vigil__keyed *)c->ctx)->hz = hz > 0 ? (double)hz : 100.0;
    }
    return rc;
}

static int stat_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    return vigil__keyed_collect(c, cx, vigil__split_token, stat_learn, stat_emit,
                                "proc/stat: truncated row");
}

const struct vigil_collector_ops vigil__collector_stat = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "stat",
    .summary = "/proc/stat: CPU time per mode, interrupts, context switches, forks, procs",
    .default_on = 1,
    .init = stat_init,
    .collect = stat_collect,
    .fini = vigil__keyed_fini,
};

/* ---- /proc/meminfo: "Key:   value [kB]" rows ---- */

static const char *mem_split(void *u, const char *p, const char *le, const char **key, size_t *kl,
                             int *bad)
{
    (void)u;
    const char *colon = memchr(p, ':', (size_t)(le - p));
    if (!colon || colon == p) {
        *bad |= le > p;
        return NULL;
    }
    *key = p;
    *kl = (size_t)(colon - p);
    return colon + 1;
}

/* 1 when the value in [q, le) is followed by "kB". */
static int mem_kb(const char *q, const char *le)
{
    while (q < le && (*q == ' ' || (*q >= '0' && *q <= '9'))) {
        q++;
    }
    return le - q >= 2 && q[0] == 'k' && q[1] == 'B';
}

static int mem_learn(void *u, struct vigil_collect *set, const char *key, size_t kl, const char *q,
                     const char *le, uint32_t *ids, size_t *n_ids)
{
    (void)u;
    char name[160];
    size_t n = 12;
    memcpy(name, "node_memory_", 12);
    for (size_t i = 0; i < kl && n < 120; i++) {
        /* node-exporter: "Active(anon)" -> "Active_anon". */
        if (key[i] == '(') {
            name[n++] = '_';
        } else if (key[i] != ')') {
            name[n++] = key[i];
        }
    }
    name[n] = '\0';
    if (mem_kb(q, le)) {
        memcpy(name + n, "_bytes", 7);
    }
    *n_ids = 1;
    char help[192];
    snprintf(help, sizeof help, "Memory information field %s.", name + 12);
    return vigil__intern(set, name, NULL, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY, NULL, help, ids);
}

static int mem_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                    const char *q, const char *le)
{
    (void)u;
    (void)n;
    uint64_t v;
    const char *e = vigil__pf_u64(q, le, &v);
    if (!e) {
        return 1;
    }
    e = vigil__skip_blanks(e, le);
    int kb = le - e >= 2 && e[0] == 'k' && e[1] == 'B';
    vigil__emit(cx, ids[0], kb ? (double)v * 1024.0 : (double)v);
    return 0;
}

static int meminfo_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)set;
    (void)params;
    return vigil__keyed_new(c, root, "proc/meminfo", NULL, NULL);
}

static int meminfo_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    return vigil__keyed_collect(c, cx, mem_split, mem_learn, mem_emit,
                                "proc/meminfo: malformed row");
}

const struct vigil_collector_ops vigil__collector_meminfo = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "meminfo",
    .summary = "/proc/meminfo: node_memory_*_bytes",
    .default_on = 1,
    .init = meminfo_init,
    .collect = meminfo_collect,
    .fini = vigil__keyed_fini,
};

/* ---- /proc/vmstat: "key value" rows, the fields kept chosen by a regex ---- */

struct vmstat_params {
    char *fields;
};

static const struct vigil_opt vmstat_opts[] = {
    {"fields", VIGIL_OPT_STR, offsetof(struct vmstat_params, fields),
     "^(oom_kill|pgpg|pswp|pg.*fault).*", 0, 0,
     "regex of /proc/vmstat fields to export (node-exporter's default); '.' for all", NULL},
    {0},
};

static int vmstat_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                       const void *params)
{
    (void)set;
    const struct vmstat_params *pp = params;
    return vigil__keyed_new(c, root, "proc/vmstat", pp->fields, NULL);
}

static int vmstat_learn(void *u, struct vigil_collect *set, const char *key, size_t kl,
                        const char *q, const char *le, uint32_t *ids, size_t *n)
{
    struct vigil__keyed *k = u;
    (void)q;
    (void)le;
    *n = 0;
    if (!vigil__filter_match(&k->filt, key, kl)) {
        return 0;
    }
    char name[160];
    if (kl > 100) {
        return 0; /* no vmstat field is that long; cut, two could share a name */
    }
    memcpy(name, "node_vmstat_", 12);
    memcpy(name + 12, key, kl);
    name[12 + kl] = '\0';
    /* nr_* fields are current amounts; the rest count events. */
    int gauge = kl > 3 && memcmp(key, "nr_", 3) == 0;
    *n = 1;
    char help[192];
    snprintf(help, sizeof help, "/proc/vmstat information field %s.", name + 12);
    return vigil__intern(set, name, NULL, 0, gauge ? VIGIL_KIND_GAUGE : VIGIL_KIND_COUNTER,
                         VIGIL_GROUP_MEMORY, NULL, help, ids);
}

static int vmstat_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    return vigil__keyed_collect(c, cx, vigil__split_kv, vmstat_learn, vigil__emit_i64,
                                "proc/vmstat: malformed row");
}

const struct vigil_collector_ops vigil__collector_vmstat = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "vmstat",
    .summary = "/proc/vmstat: node_vmstat_* (fields chosen by a regex)",
    .opts = vmstat_opts,
    .params_size = sizeof(struct vmstat_params),
    .default_on = 1,
    .init = vmstat_init,
    .collect = vmstat_collect,
    .fini = vigil__keyed_fini,
};

/* ---- fixed-layout files: loadavg, file-nr, pressure ---- */

struct fixed {
    struct vigil__pfile f[3];
    uint32_t ids[3][2];
    int kernel[3]; /* pressure: f[i] is procfs's own file (not a fixture, not LXCFS) */
};

static void fixed_fini(struct vigil_collector *c)
{
    struct fixed *x = c->ctx;
    if (x) {
        for (int i = 0; i < 3; i++) {
            vigil__pfile_close(&x->f[i]);
        }
        vigil_free(x);
    }
    c->ctx = NULL;
}

static struct fixed *fixed_new(struct vigil_collector *c)
{
    struct fixed *x = vigil_calloc(1, sizeof *x);
    if (x) {
        for (int i = 0; i < 3; i++) {
            vigil__pfile_init(&x->f[i]);
            x->ids[i][0] = x->ids[i][1] = VIGIL__NO_ID;
        }
    }
    c->ctx = x;
    return x;
}

static int loadavg_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)params;
    struct fixed *x = fixed_new(c);
    if (!x) {
        return -ENOMEM;
    }
    int rc = vigil__pfile_open_src(&x->f[0], root, "proc/loadavg");
    if (rc) {
        return rc;
    }
    static const char *const names[3] = {"node_load1", "node_load5", "node_load15"};
    for (int i = 0; i < 3 && !rc; i++) {
        rc = vigil__intern(set, names[i], NULL, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU, NULL,
                           "Load average over 1, 5 or 15 minutes.", &x->ids[i][0]);
    }
    return rc;
}

static int loadavg_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct fixed *x = c->ctx;
    if (vigil__pfile_tick(&x->f[0], cx)) {
        return 0;
    }
    const char *p = x->f[0].buf, *end = p + x->f[0].len;
    for (int i = 0; i < 3; i++) {
        double v;
        if (!(p = vigil__pf_dec(p, end, &v))) {
            vigil_collect_fail(cx, "proc/loadavg: truncated", VIGIL_EPARSE);
            return 0;
        }
        vigil__emit(cx, x->ids[i][0], v);
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_loadavg = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "loadavg",
    .summary = "/proc/loadavg: node_load1, node_load5, node_load15",
    .default_on = 1,
    .init = loadavg_init,
    .collect = loadavg_collect,
    .fini = fixed_fini,
};

static int filefd_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                       const void *params)
{
    (void)params;
    struct fixed *x = fixed_new(c);
    if (!x) {
        return -ENOMEM;
    }
    int rc = vigil__pfile_open_src(&x->f[0], root, "proc/sys/fs/file-nr");
    if (rc) {
        return rc;
    }
    rc = vigil__intern(set, "node_filefd_allocated", NULL, 0, VIGIL_KIND_GAUGE,
                       VIGIL_GROUP_FILESYSTEM, NULL, "File descriptor statistics: allocated.",
                       &x->ids[0][0]);
    return rc ? rc
              : vigil__intern(set, "node_filefd_maximum", NULL, 0, VIGIL_KIND_GAUGE,
                              VIGIL_GROUP_FILESYSTEM, NULL,
                              "File descriptor statistics: maximum.", &x->ids[0][1]);
}

static int filefd_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct fixed *x = c->ctx;
    if (vigil__pfile_tick(&x->f[0], cx)) {
        return 0;
    }
    /* "allocated unused maximum" */
    const char *p = x->f[0].buf, *end = p + x->f[0].len;
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        if (!(p = vigil__pf_u64(p, end, &v[i]))) {
            vigil_collect_fail(cx, "proc/sys/fs/file-nr: truncated", VIGIL_EPARSE);
            return 0;
        }
    }
    vigil__emit(cx, x->ids[0][0], (double)v[0]);
    vigil__emit(cx, x->ids[0][1], (double)v[2]);
    return 0;
}

const struct vigil_collector_ops vigil__collector_filefd = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "filefd",
    .summary = "/proc/sys/fs/file-nr: node_filefd_allocated, node_filefd_maximum",
    .default_on = 1,
    .init = filefd_init,
    .collect = filefd_collect,
    .fini = fixed_fini,
};

/* ---- /proc/pressure/{cpu,io,memory} (PSI) ---- */

static const char *const psi_res[3] = {"cpu", "io", "memory"};
static const int psi_sys_res[3] = {VIGIL__PSI_CPU, VIGIL__PSI_IO, VIGIL__PSI_MEMORY};

static int pressure_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                         const void *params)
{
    (void)params;
    struct fixed *x = fixed_new(c);
    if (!x) {
        return -ENOMEM;
    }
    int found = 0;
    for (int i = 0; i < 3; i++) {
        char rel[32], name[64];
        snprintf(rel, sizeof rel, "proc/pressure/%s", psi_res[i]);
        int rc = vigil__pfile_open_opt(&x->f[i], root, rel);
        if (rc <= 0) {
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        found++;
        struct statfs fs;
        x->kernel[i] = fstatfs(x->f[i].fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
        /* node-exporter: "some" is waiting, "full" is stalled. */
        snprintf(name, sizeof name, "node_pressure_%s_waiting_seconds_total", psi_res[i]);
        rc = vigil__intern(set, name, NULL, 0, VIGIL_KIND_COUNTER,
                           i == 0 ? VIGIL_GROUP_CPU : i == 1 ? VIGIL_GROUP_FILESYSTEM
                                                              : VIGIL_GROUP_MEMORY,
                           NULL, "Total time in seconds some processes were waiting (PSI).",
                           &x->ids[i][0]);
        snprintf(name, sizeof name, "node_pressure_%s_stalled_seconds_total", psi_res[i]);
        rc = rc ? rc
                : vigil__intern(set, name, NULL, 0, VIGIL_KIND_COUNTER,
                                i == 0 ? VIGIL_GROUP_CPU : i == 1 ? VIGIL_GROUP_FILESYSTEM
                                                                   : VIGIL_GROUP_MEMORY,
                                NULL, "Total time in seconds no process could make progress (PSI).",
                                &x->ids[i][1]);
        if (rc) {
            return rc;
        }
    }
    return found ? 0 : VIGIL_ENOTSUP;
}

static int pressure_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct fixed *x = c->ctx;
    for (int i = 0; i < 3; i++) {
        if (!x->f[i].path) {
            continue;
        }
        if (vigil__pfile_tick(&x->f[i], cx)) {
            continue;
        }
        double v[2] = {0, 0};
        unsigned have = 0;
        int rc = vigil__psi_parse(x->f[i].buf, x->f[i].buf + x->f[i].len, v, &have);
        for (int j = 0; j < 2; j++) {
            if ((have >> j) & 1) {
                vigil__emit(cx, x->ids[i][j], v[j]);
            }
        }
        if (rc) {
            vigil_collect_fail(cx, x->f[i].path, rc);
        } else if (x->kernel[i]) {
            vigil__psi_sys_put(cx, psi_sys_res[i], v, have);
        }
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_pressure = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "pressure",
    .summary = "/proc/pressure: node_pressure_{cpu,io,memory}_{waiting,stalled}_seconds_total",
    .default_on = 1,
    .init = pressure_init,
    .collect = pressure_collect,
    .fini = fixed_fini,
};
