/*
 * Host collectors over single /proc files, with node-exporter's names and
 * units: /proc/stat (stat), /proc/meminfo (meminfo), /proc/vmstat (vmstat),
 * /proc/loadavg (loadavg), /proc/pressure/{cpu,io,memory} (pressure) and
 * /proc/sys/fs/file-nr (filefd). Each file is opened once and re-read every
 * tick; keyed rows go through a row map so a stable file is parsed with one
 * key comparison per row and no lookup. Disks and networks live in
 * proc_disk.c and proc_net.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/mem.h"

/* ---- shared shape: one file and one row map ---- */

struct keyed {
    struct vigil__pfile f;
    struct vigil__rowmap rows;
    struct vigil__filter include; /* vmstat: fields to export */
    double hz;                    /* stat: USER_HZ */
};

static int keyed_init(struct vigil_collector *c, const char *root, const char *rel)
{
    struct keyed *k = vigil_calloc(1, sizeof *k);
    if (!k) {
        return -ENOMEM;
    }
    vigil__pfile_init(&k->f);
    vigil__rowmap_init(&k->rows);
    c->ctx = k;
    int rc = vigil__pfile_open(&k->f, root, rel);
    if (rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES) {
        return VIGIL_ENOTSUP;
    }
    return rc;
}

static void keyed_fini(struct vigil_collector *c)
{
    struct keyed *k = c->ctx;
    if (k) {
        vigil__pfile_close(&k->f);
        vigil__rowmap_fini(&k->rows);
        vigil__filter_fini(&k->include);
        vigil_free(k);
    }
    c->ctx = NULL;
}

/* Reads the file; on failure counts the error and returns 1 (skip this tick). */
static int keyed_read(struct keyed *k, struct vigil_collect_cx *cx)
{
    int rc = vigil__pfile_read(&k->f);
    if (rc) {
        vigil_collect_fail(cx, k->f.path, rc);
        return 1;
    }
    return 0;
}

/* ---- /proc/stat ---- */

static const char *const cpu_modes[8] = {"user", "nice",    "system", "idle",
                                         "iowait", "irq", "softirq", "steal"};

static const uint32_t *stat_learn(struct keyed *k, struct vigil_collect *set, size_t row,
                                  const char *key, size_t kl, size_t *n_ids)
{
    uint32_t ids[10];
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
    if (rc) {
        return NULL;
    }
    *n_ids = n;
    return vigil__rowmap_learn(&k->rows, row, key, kl, ids, n);
}

static int stat_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                     const void *params)
{
    (void)set;
    (void)params;
    int rc = keyed_init(c, root, "proc/stat");
    if (!rc) {
        long hz = sysconf(_SC_CLK_TCK);
        ((struct keyed *)c->ctx)->hz = hz > 0 ? (double)hz : 100.0;
    }
    return rc;
}

static int stat_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct keyed *k = c->ctx;
    if (keyed_read(k, cx)) {
        return 0;
    }
    const char *p = k->f.buf, *end = p + k->f.len;
    size_t row = 0;
    int bad = 0;
    while (p < end) {
        const char *le = vigil__line_end(p, end);
        const char *key;
        size_t kl;
        const char *q = vigil__token(p, le, &key, &kl);
        if (q) {
            size_t n;
            const uint32_t *ids = vigil__rowmap_get(&k->rows, row, key, kl, &n);
            if (!ids && !(ids = stat_learn(k, cx->set, row, key, kl, &n))) {
                return -ENOMEM;
            }
            int is_cpu = n == 10;
            for (size_t j = 0; j < n; j++) {
                uint64_t v;
                q = vigil__pf_u64(q, le, &v);
                if (!q) {
                    /* Older kernels have fewer cpu columns; anything else is truncation. */
                    bad |= !(is_cpu && j >= 7);
                    break;
                }
                vigil__emit(cx, ids[j], is_cpu ? (double)v / k->hz : (double)v);
            }
            row++;
        }
        p = le + 1;
    }
    vigil__rowmap_truncate(&k->rows, row);
    if (bad) {
        vigil_collect_fail(cx, "proc/stat: truncated row", VIGIL_EPARSE);
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_stat = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "stat",
    .summary = "/proc/stat: CPU time per mode, interrupts, context switches, forks, procs",
    .default_on = 1,
    .init = stat_init,
    .collect = stat_collect,
    .fini = keyed_fini,
};

/* ---- /proc/meminfo and /proc/vmstat: "Key: value [kB]" rows ---- */

static const uint32_t *mem_learn(struct keyed *k, struct vigil_collect *set, size_t row,
                                 const char *key, size_t kl, int kb, size_t *n_ids)
{
    char name[160];
    size_t n = 0;
    memcpy(name, "node_memory_", 12);
    n = 12;
    for (size_t i = 0; i < kl && n < 120; i++) {
        /* node-exporter: "Active(anon)" -> "Active_anon". */
        if (key[i] == '(') {
            name[n++] = '_';
        } else if (key[i] != ')') {
            name[n++] = key[i];
        }
    }
    name[n] = '\0';
    if (kb) {
        memcpy(name + n, "_bytes", 7);
    }
    uint32_t id;
    if (vigil__intern(set, name, NULL, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY, NULL,
                      "Memory information field from /proc/meminfo.", &id)) {
        return NULL;
    }
    *n_ids = 1;
    return vigil__rowmap_learn(&k->rows, row, key, kl, &id, 1);
}

static int meminfo_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)set;
    (void)params;
    return keyed_init(c, root, "proc/meminfo");
}

static int meminfo_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct keyed *k = c->ctx;
    if (keyed_read(k, cx)) {
        return 0;
    }
    const char *p = k->f.buf, *end = p + k->f.len;
    size_t row = 0;
    int bad = 0;
    while (p < end) {
        const char *le = vigil__line_end(p, end);
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (!colon || colon == p) {
            bad |= le > p;
            p = le + 1;
            continue;
        }
        uint64_t v;
        const char *q = vigil__pf_u64(colon + 1, le, &v);
        if (!q) {
            bad = 1;
            p = le + 1;
            continue;
        }
        q = vigil__skip_blanks(q, le);
        int kb = le - q >= 2 && q[0] == 'k' && q[1] == 'B';
        size_t kl = (size_t)(colon - p), n;
        const uint32_t *ids = vigil__rowmap_get(&k->rows, row, p, kl, &n);
        if (!ids && !(ids = mem_learn(k, cx->set, row, p, kl, kb, &n))) {
            return -ENOMEM;
        }
        if (n) {
            vigil__emit(cx, ids[0], kb ? (double)v * 1024.0 : (double)v);
        }
        row++;
        p = le + 1;
    }
    vigil__rowmap_truncate(&k->rows, row);
    if (bad) {
        vigil_collect_fail(cx, "proc/meminfo: malformed row", VIGIL_EPARSE);
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_meminfo = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "meminfo",
    .summary = "/proc/meminfo: node_memory_*_bytes",
    .default_on = 1,
    .init = meminfo_init,
    .collect = meminfo_collect,
    .fini = keyed_fini,
};

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
    int rc = keyed_init(c, root, "proc/vmstat");
    if (rc) {
        return rc;
    }
    return vigil__filter_init(&((struct keyed *)c->ctx)->include, pp->fields);
}

static int vmstat_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct keyed *k = c->ctx;
    if (keyed_read(k, cx)) {
        return 0;
    }
    const char *p = k->f.buf, *end = p + k->f.len;
    size_t row = 0;
    int bad = 0;
    while (p < end) {
        const char *le = vigil__line_end(p, end);
        const char *key;
        size_t kl, n;
        const char *q = vigil__token(p, le, &key, &kl);
        int64_t v;
        if (!q || !(q = vigil__pf_i64(q, le, &v))) {
            bad |= le > p;
            p = le + 1;
            continue;
        }
        const uint32_t *ids = vigil__rowmap_get(&k->rows, row, key, kl, &n);
        if (!ids) {
            uint32_t id = VIGIL__NO_ID;
            size_t want = vigil__filter_match(&k->include, key, kl);
            if (want) {
                char name[160];
                if (kl > 100) {
                    kl = 100;
                }
                memcpy(name, "node_vmstat_", 12);
                memcpy(name + 12, key, kl);
                name[12 + kl] = '\0';
                /* nr_* fields are current amounts; the rest count events. */
                int gauge = kl > 3 && memcmp(key, "nr_", 3) == 0;
                if (vigil__intern(cx->set, name, NULL, 0,
                                  gauge ? VIGIL_KIND_GAUGE : VIGIL_KIND_COUNTER,
                                  VIGIL_GROUP_MEMORY, NULL, "/proc/vmstat information field.",
                                  &id)) {
                    return -ENOMEM;
                }
            }
            n = want;
            if (!(ids = vigil__rowmap_learn(&k->rows, row, key, kl, &id, n))) {
                return -ENOMEM;
            }
        }
        if (n) {
            vigil__emit(cx, ids[0], (double)v);
        }
        row++;
        p = le + 1;
    }
    vigil__rowmap_truncate(&k->rows, row);
    if (bad) {
        vigil_collect_fail(cx, "proc/vmstat: malformed row", VIGIL_EPARSE);
    }
    return 0;
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
    .fini = keyed_fini,
};

/* ---- fixed-layout files: loadavg, file-nr, pressure ---- */

struct fixed {
    struct vigil__pfile f[3];
    uint32_t ids[3][2];
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

static int absent(int rc)
{
    return rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES || rc == -EOPNOTSUPP;
}

static int loadavg_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)params;
    struct fixed *x = fixed_new(c);
    if (!x) {
        return -ENOMEM;
    }
    int rc = vigil__pfile_open(&x->f[0], root, "proc/loadavg");
    if (rc) {
        return absent(rc) ? VIGIL_ENOTSUP : rc;
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
    int rc = vigil__pfile_read(&x->f[0]);
    if (rc) {
        vigil_collect_fail(cx, x->f[0].path, rc);
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
    int rc = vigil__pfile_open(&x->f[0], root, "proc/sys/fs/file-nr");
    if (rc) {
        return absent(rc) ? VIGIL_ENOTSUP : rc;
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
    int rc = vigil__pfile_read(&x->f[0]);
    if (rc) {
        vigil_collect_fail(cx, x->f[0].path, rc);
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
        int rc = vigil__pfile_open(&x->f[i], root, rel);
        if (rc) {
            if (!absent(rc)) {
                return rc;
            }
            vigil__pfile_close(&x->f[i]);
            continue;
        }
        found++;
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

/* Parses "some avg10=.. avg60=.. avg300=.. total=N" lines; returns 0 or VIGIL_EPARSE. */
static int psi_parse(const char *p, const char *end, struct vigil_collect_cx *cx,
                     const uint32_t ids[2])
{
    int seen = 0;
    while (p < end) {
        const char *le = vigil__line_end(p, end);
        int which = le - p > 5 && memcmp(p, "some ", 5) == 0   ? 0
                    : le - p > 5 && memcmp(p, "full ", 5) == 0 ? 1
                                                               : -1;
        const char *t = which < 0 ? NULL : memmem(p, (size_t)(le - p), "total=", 6);
        uint64_t v;
        if (!t || !vigil__pf_u64(t + 6, le, &v)) {
            return VIGIL_EPARSE;
        }
        vigil__emit(cx, ids[which], (double)v / 1e6);
        seen++;
        p = le + 1;
    }
    return seen ? 0 : VIGIL_EPARSE;
}

static int pressure_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct fixed *x = c->ctx;
    for (int i = 0; i < 3; i++) {
        if (!x->f[i].path) {
            continue;
        }
        int rc = vigil__pfile_read(&x->f[i]);
        if (rc) {
            vigil_collect_fail(cx, x->f[i].path, rc);
            continue;
        }
        if (psi_parse(x->f[i].buf, x->f[i].buf + x->f[i].len, cx, x->ids[i])) {
            vigil_collect_fail(cx, x->f[i].path, VIGIL_EPARSE);
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
