/*
 * Containers: one entity per cgroup, with cAdvisor's metric names
 * (container_cpu_usage_seconds_total{name="/path"} and the rest), from
 * cgroup v2 or cgroup v1 (with the hybrid layout's v2 tree at
 * sys/fs/cgroup/unified giving pressure). The layout is found under the
 * configurable root: sys/fs/cgroup/cgroup.controllers means v2; otherwise the
 * v1 controllers are the directories sys/fs/cgroup/{cpu,cpuacct,memory,blkio,
 * pids}.
 *
 * Discovery walks one tree (v2, or v1's memory hierarchy, else cpuacct) every
 * `rescan`, bounded by depth and count; each new cgroup's files are opened
 * once and re-read every tick. A cgroup whose directory is gone drops out
 * without an error; a file that cannot be read while its cgroup exists counts
 * in vigil_collect_errors_total{collector="cgroup"}.
 *
 * The limits (memory.limit_in_bytes or memory.max, pids.max) are set by an
 * operator, not by the workload: they are re-read at each discovery and their
 * last values emitted every tick, which saves a read per cgroup and tick.
 *
 * Values are raw counters and gauges. container_memory_working_set_bytes is
 * usage minus inactive file pages, clamped at 0 (cAdvisor's definition), so a
 * counter that wraps between the two reads never produces a huge value.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/mem.h"

/* ---- what is read: slots, files, and key tables ---- */

enum slot {
    S_CPU_USAGE,
    S_CPU_USER,
    S_CPU_SYS,
    S_CFS_PERIODS,
    S_CFS_THROTTLED,
    S_CFS_THROTTLED_S,
    S_MEM_USAGE,
    S_MEM_MAX,
    S_MEM_FAILCNT,
    S_MEM_LIMIT,
    S_MEM_CACHE,
    S_MEM_RSS,
    S_MEM_MAPPED,
    S_MEM_SWAP,
    S_MEM_WS,
    S_PGFAULT,
    S_PGMAJFAULT,
    S_OOM,
    S_THREADS,
    S_THREADS_MAX,
    S_PSI_CPU_SOME,
    S_PSI_CPU_FULL,
    S_PSI_MEM_SOME,
    S_PSI_MEM_FULL,
    S_PSI_IO_SOME,
    S_PSI_IO_FULL,
    S_INACTIVE_FILE, /* not exported: feeds the working set */
    S_N,
    S_EXPORTED = S_INACTIVE_FILE,
};

static const struct {
    const char *name;
    const char *ftype, *scope; /* container_memory_failures_total labels */
    enum vigil_kind kind;
    enum vigil_group group;
    const char *help;
} slots[S_EXPORTED] = {
    [S_CPU_USAGE] = {"container_cpu_usage_seconds_total", 0, 0, VIGIL_KIND_COUNTER,
                     VIGIL_GROUP_CPU, "Cumulative cpu time consumed in seconds."},
    [S_CPU_USER] = {"container_cpu_user_seconds_total", 0, 0, VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU,
                    "Cumulative user cpu time consumed in seconds."},
    [S_CPU_SYS] = {"container_cpu_system_seconds_total", 0, 0, VIGIL_KIND_COUNTER,
                   VIGIL_GROUP_CPU, "Cumulative system cpu time consumed in seconds."},
    [S_CFS_PERIODS] = {"container_cpu_cfs_periods_total", 0, 0, VIGIL_KIND_COUNTER,
                       VIGIL_GROUP_CPU, "Number of elapsed enforcement period intervals."},
    [S_CFS_THROTTLED] = {"container_cpu_cfs_throttled_periods_total", 0, 0, VIGIL_KIND_COUNTER,
                         VIGIL_GROUP_CPU, "Number of throttled period intervals."},
    [S_CFS_THROTTLED_S] = {"container_cpu_cfs_throttled_seconds_total", 0, 0,
                           VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU,
                           "Total time duration the container has been throttled."},
    [S_MEM_USAGE] = {"container_memory_usage_bytes", 0, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY,
                     "Current memory usage in bytes, including all memory regardless of when it "
                     "was accessed."},
    [S_MEM_MAX] = {"container_memory_max_usage_bytes", 0, 0, VIGIL_KIND_GAUGE,
                   VIGIL_GROUP_MEMORY, "Maximum memory usage recorded in bytes."},
    [S_MEM_FAILCNT] = {"container_memory_failcnt", 0, 0, VIGIL_KIND_COUNTER, VIGIL_GROUP_MEMORY,
                       "Number of memory usage hits limits."},
    [S_MEM_LIMIT] = {"container_spec_memory_limit_bytes", 0, 0, VIGIL_KIND_GAUGE,
                     VIGIL_GROUP_MEMORY, "Memory limit for the container."},
    [S_MEM_CACHE] = {"container_memory_cache", 0, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY,
                     "Number of bytes of page cache memory."},
    [S_MEM_RSS] = {"container_memory_rss", 0, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY,
                   "Size of RSS in bytes."},
    [S_MEM_MAPPED] = {"container_memory_mapped_file", 0, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY,
                      "Size of memory mapped files in bytes."},
    [S_MEM_SWAP] = {"container_memory_swap", 0, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_MEMORY,
                    "Container swap usage in bytes."},
    [S_MEM_WS] = {"container_memory_working_set_bytes", 0, 0, VIGIL_KIND_GAUGE,
                  VIGIL_GROUP_MEMORY, "Current working set in bytes."},
    [S_PGFAULT] = {"container_memory_failures_total", "pgfault", "container", VIGIL_KIND_COUNTER,
                   VIGIL_GROUP_MEMORY, "Cumulative count of memory allocation failures."},
    [S_PGMAJFAULT] = {"container_memory_failures_total", "pgmajfault", "container",
                      VIGIL_KIND_COUNTER, VIGIL_GROUP_MEMORY,
                      "Cumulative count of memory allocation failures."},
    [S_OOM] = {"container_oom_events_total", 0, 0, VIGIL_KIND_COUNTER, VIGIL_GROUP_MEMORY,
               "Count of out of memory events observed for the container."},
    [S_THREADS] = {"container_threads", 0, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_OTHER,
                   "Number of threads running inside the container."},
    [S_THREADS_MAX] = {"container_threads_max", 0, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_OTHER,
                       "Maximum number of threads allowed inside the container, infinity if "
                       "value is zero"},
    [S_PSI_CPU_SOME] = {"container_pressure_cpu_waiting_seconds_total", 0, 0, VIGIL_KIND_COUNTER,
                        VIGIL_GROUP_CPU, "Total time duration tasks in the container have waited "
                                         "due to CPU congestion."},
    [S_PSI_CPU_FULL] = {"container_pressure_cpu_stalled_seconds_total", 0, 0, VIGIL_KIND_COUNTER,
                        VIGIL_GROUP_CPU, "Total time duration no tasks in the container could "
                                         "make progress due to CPU congestion."},
    [S_PSI_MEM_SOME] = {"container_pressure_memory_waiting_seconds_total", 0, 0,
                        VIGIL_KIND_COUNTER, VIGIL_GROUP_MEMORY,
                        "Total time duration tasks in the container have waited due to memory "
                        "congestion."},
    [S_PSI_MEM_FULL] = {"container_pressure_memory_stalled_seconds_total", 0, 0,
                        VIGIL_KIND_COUNTER, VIGIL_GROUP_MEMORY,
                        "Total time duration no tasks in the container could make progress due "
                        "to memory congestion."},
    [S_PSI_IO_SOME] = {"container_pressure_io_waiting_seconds_total", 0, 0, VIGIL_KIND_COUNTER,
                       VIGIL_GROUP_FILESYSTEM, "Total time duration tasks in the container have "
                                               "waited due to IO congestion."},
    [S_PSI_IO_FULL] = {"container_pressure_io_stalled_seconds_total", 0, 0, VIGIL_KIND_COUNTER,
                       VIGIL_GROUP_FILESYSTEM, "Total time duration no tasks in the container "
                                               "could make progress due to IO congestion."},
};

/* A key of a "key value" file, the slot it feeds and the divisor to base units. */
struct kv {
    const char *key;
    int slot;
    double div;
};

static const struct kv kv_v2_cpu[] = {
    {"usage_usec", S_CPU_USAGE, 1e6},      {"user_usec", S_CPU_USER, 1e6},
    {"system_usec", S_CPU_SYS, 1e6},       {"nr_periods", S_CFS_PERIODS, 1},
    {"nr_throttled", S_CFS_THROTTLED, 1},  {"throttled_usec", S_CFS_THROTTLED_S, 1e6},
    {0, 0, 0},
};
static const struct kv kv_v2_mem[] = {
    {"file", S_MEM_CACHE, 1},         {"anon", S_MEM_RSS, 1},
    {"file_mapped", S_MEM_MAPPED, 1}, {"pgfault", S_PGFAULT, 1},
    {"pgmajfault", S_PGMAJFAULT, 1},  {"inactive_file", S_INACTIVE_FILE, 1},
    {0, 0, 0},
};
static const struct kv kv_v2_events[] = {{"oom_kill", S_OOM, 1}, {0, 0, 0}};
static const struct kv kv_v1_cpuacct[] = {{"user", S_CPU_USER, 0}, {"system", S_CPU_SYS, 0},
                                          {0, 0, 0}}; /* div 0 = USER_HZ */
static const struct kv kv_v1_cpu[] = {
    {"nr_periods", S_CFS_PERIODS, 1},
    {"nr_throttled", S_CFS_THROTTLED, 1},
    {"throttled_time", S_CFS_THROTTLED_S, 1e9},
    {0, 0, 0},
};
static const struct kv kv_v1_mem[] = {
    {"total_cache", S_MEM_CACHE, 1},       {"total_rss", S_MEM_RSS, 1},
    {"total_mapped_file", S_MEM_MAPPED, 1}, {"total_swap", S_MEM_SWAP, 1},
    {"total_pgfault", S_PGFAULT, 1},       {"total_pgmajfault", S_PGMAJFAULT, 1},
    {"total_inactive_file", S_INACTIVE_FILE, 1},
    {0, 0, 0},
};

enum parse { P_ONE, P_KV, P_PSI, P_BLKIO, P_IOSTAT };
enum tree { T_V2, T_CPU, T_CPUACCT, T_MEMORY, T_BLKIO, T_PIDS, T_UNIFIED, T_N };

static const char *const tree_dir[T_N] = {"", "cpu", "cpuacct", "memory", "blkio", "pids",
                                          "unified"};

struct cgfile_def {
    int v2; /* 1: read in v2 mode, 0: in v1 mode, 2: both (hybrid unified tree) */
    enum tree tree;
    const char *file;
    enum parse parse;
    int slot;            /* P_ONE: slot (div below); P_PSI: first of the some/full pair */
    double div;          /* P_ONE */
    const struct kv *kv; /* P_KV */
    int io;              /* P_BLKIO: 0 bytes, 1 ops */
    int spec;            /* a limit set by the operator: read at discovery only */
};

static const struct cgfile_def files[] = {
    {1, T_V2, "cpu.stat", P_KV, 0, 0, kv_v2_cpu, 0, 0},
    {1, T_V2, "memory.current", P_ONE, S_MEM_USAGE, 1, 0, 0, 0},
    {1, T_V2, "memory.peak", P_ONE, S_MEM_MAX, 1, 0, 0, 0},
    {1, T_V2, "memory.max", P_ONE, S_MEM_LIMIT, 1, 0, 0, 1},
    {1, T_V2, "memory.swap.current", P_ONE, S_MEM_SWAP, 1, 0, 0, 0},
    {1, T_V2, "memory.stat", P_KV, 0, 0, kv_v2_mem, 0, 0},
    {1, T_V2, "memory.events", P_KV, 0, 0, kv_v2_events, 0, 0},
    {1, T_V2, "io.stat", P_IOSTAT, 0, 0, 0, 0, 0},
    {1, T_V2, "pids.current", P_ONE, S_THREADS, 1, 0, 0, 0},
    {1, T_V2, "pids.max", P_ONE, S_THREADS_MAX, 1, 0, 0, 1},
    {1, T_V2, "cpu.pressure", P_PSI, S_PSI_CPU_SOME, 0, 0, 0, 0},
    {1, T_V2, "memory.pressure", P_PSI, S_PSI_MEM_SOME, 0, 0, 0, 0},
    {1, T_V2, "io.pressure", P_PSI, S_PSI_IO_SOME, 0, 0, 0, 0},
    {0, T_CPUACCT, "cpuacct.usage", P_ONE, S_CPU_USAGE, 1e9, 0, 0, 0},
    {0, T_CPUACCT, "cpuacct.stat", P_KV, 0, 0, kv_v1_cpuacct, 0, 0},
    {0, T_CPU, "cpu.stat", P_KV, 0, 0, kv_v1_cpu, 0, 0},
    {0, T_MEMORY, "memory.usage_in_bytes", P_ONE, S_MEM_USAGE, 1, 0, 0, 0},
    {0, T_MEMORY, "memory.max_usage_in_bytes", P_ONE, S_MEM_MAX, 1, 0, 0, 0},
    {0, T_MEMORY, "memory.failcnt", P_ONE, S_MEM_FAILCNT, 1, 0, 0, 0},
    {0, T_MEMORY, "memory.limit_in_bytes", P_ONE, S_MEM_LIMIT, 1, 0, 0, 1},
    {0, T_MEMORY, "memory.stat", P_KV, 0, 0, kv_v1_mem, 0, 0},
    {0, T_BLKIO, "blkio.throttle.io_service_bytes", P_BLKIO, 0, 0, 0, 0, 0},
    {0, T_BLKIO, "blkio.throttle.io_serviced", P_BLKIO, 0, 0, 0, 1, 0},
    {0, T_PIDS, "pids.current", P_ONE, S_THREADS, 1, 0, 0, 0},
    {0, T_PIDS, "pids.max", P_ONE, S_THREADS_MAX, 1, 0, 0, 1},
    {0, T_UNIFIED, "cpu.pressure", P_PSI, S_PSI_CPU_SOME, 0, 0, 0, 0},
    {0, T_UNIFIED, "memory.pressure", P_PSI, S_PSI_MEM_SOME, 0, 0, 0, 0},
    {0, T_UNIFIED, "io.pressure", P_PSI, S_PSI_IO_SOME, 0, 0, 0, 0},
};
#define N_FILES (sizeof files / sizeof files[0])
/* The slots the spec files feed (see cgfile_def.spec). */
#define SPEC_SLOTS ((1ull << S_MEM_LIMIT) | (1ull << S_THREADS_MAX))

static const char *const io_names[4] = {
    "container_fs_reads_bytes_total", "container_fs_writes_bytes_total",
    "container_fs_reads_total", "container_fs_writes_total"};
static const char *const io_help[4] = {
    "Cumulative count of bytes read.", "Cumulative count of bytes written.",
    "Cumulative count of reads completed.", "Cumulative count of writes completed."};

/* ---- state ---- */

struct cgfile {
    struct vigil__pfile f;
    struct vigil__rowmap rm; /* P_KV: slot per row; P_BLKIO/P_IOSTAT: series ids per row */
    int open;
};

struct cg {
    char *path; /* "/" or "/a/b" */
    char *entity;
    uint64_t gen;
    int gone; /* its directory vanished; freed at the next rescan */
    struct cgfile f[N_FILES];
    uint32_t ids[S_N];
    double v[S_N];
    uint64_t have;      /* bit per slot read this tick */
    uint64_t spec_have; /* slots the spec files gave at the last discovery */
    int spec_read;      /* the spec files were read since the cgroup was found */
    int sys_psi;        /* the kernel's root cgroup: its pressure is the system's (cg_new) */
};

struct cgroup_params {
    char *path;
    int max;
    int depth;
};

static const struct vigil_opt cgroup_opts[] = {
    {"path", VIGIL_OPT_STR, offsetof(struct cgroup_params, path), "sys/fs/cgroup", 0, 0,
     "cgroup mount directory, relative to the root", NULL},
    {"max", VIGIL_OPT_INT, offsetof(struct cgroup_params, max), "256", 1, 100000,
     "most cgroups followed", NULL},
    {"depth", VIGIL_OPT_INT, offsetof(struct cgroup_params, depth), "4", 0, 32,
     "deepest cgroup level followed (0 = the root cgroup only)", NULL},
    {0},
};

struct cgroup {
    char *base; /* root + path */
    int v2;
    int have_tree[T_N];
    size_t max;
    int depth;
    double hz;
    struct cg **cg; /* owned */
    size_t n;
    uint64_t gen;
    struct vigil__pfile disks; /* proc/diskstats, for device names */
};

static int exists_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void cg_free(struct cg *g)
{
    if (!g) {
        return;
    }
    for (size_t i = 0; i < N_FILES; i++) {
        vigil__pfile_close(&g->f[i].f);
        vigil__rowmap_fini(&g->f[i].rm);
    }
    vigil_free(g->path);
    vigil_free(g->entity);
    vigil_free(g);
}

static void cgroup_fini(struct vigil_collector *c)
{
    struct cgroup *x = c->ctx;
    if (x) {
        for (size_t i = 0; i < x->n; i++) {
            cg_free(x->cg[i]);
        }
        vigil_free(x->cg);
        vigil_free(x->base);
        vigil__pfile_close(&x->disks);
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int cgroup_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                       const void *params)
{
    (void)set;
    const struct cgroup_params *pp = params;
    struct cgroup *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    vigil__pfile_init(&x->disks);
    char base[4096], probe[4200];
    if (vigil__path(base, sizeof base, root, pp->path ? pp->path : "sys/fs/cgroup")) {
        return VIGIL_ECONFIG;
    }
    x->base = vigil_strdup(base);
    x->max = (size_t)pp->max;
    x->depth = pp->depth;
    long hz = sysconf(_SC_CLK_TCK);
    x->hz = hz > 0 ? (double)hz : 100.0;
    x->cg = vigil_calloc(x->max, sizeof *x->cg);
    if (!x->base || !x->cg) {
        return -ENOMEM;
    }
    snprintf(probe, sizeof probe, "%s/cgroup.controllers", base);
    x->v2 = exists_file(probe);
    int any = 0;
    for (int t = 0; t < T_N; t++) {
        if (t == T_V2) {
            x->have_tree[t] = x->v2;
        } else if (!x->v2) {
            snprintf(probe, sizeof probe, "%s/%s", base, tree_dir[t]);
            x->have_tree[t] = exists_dir(probe);
        }
        any |= x->have_tree[t] && t != T_UNIFIED;
    }
    if (!any) {
        return VIGIL_ENOTSUP;
    }
    /* Device names for io labels; optional. */
    if (vigil__pfile_open(&x->disks, root, "proc/diskstats")) {
        vigil__pfile_close(&x->disks);
    }
    return 0;
}

/* ---- discovery ---- */

/* The index of the cgroup followed at path, or x->n when none is. */
static size_t cg_index(const struct cgroup *x, const char *path)
{
    size_t i = 0;
    while (i < x->n && strcmp(x->cg[i]->path, path) != 0) {
        i++;
    }
    return i;
}

static int cg_intern(struct cg *g, struct vigil_collect *set, int slot)
{
    if (slot >= S_EXPORTED || g->ids[slot] != VIGIL__NO_ID) {
        return 0;
    }
    struct vigil_label_ref l[3] = {VIGIL__LBL("name", g->path, strlen(g->path))};
    size_t nl = 1;
    if (slots[slot].ftype) {
        l[nl++] = (struct vigil_label_ref)VIGIL__LBL("failure_type", slots[slot].ftype,
                                                    strlen(slots[slot].ftype));
        l[nl++] = (struct vigil_label_ref)VIGIL__LBL("scope", slots[slot].scope,
                                                    strlen(slots[slot].scope));
    }
    return vigil__intern(set, slots[slot].name, l, nl, slots[slot].kind, slots[slot].group,
                         g->entity, slots[slot].help, &g->ids[slot]);
}

/*
 * 1 when dir is the root of the kernel's cgroup2 hierarchy (inode 1 of a
 * cgroup2 mount), whose *.pressure files show the system's PSI, the same
 * counters as /proc/pressure (the kernel's cgroup_psi gives psi_system for
 * it). Not so for the root seen inside a cgroup namespace, nor a fixture tree.
 */
static int is_kernel_cgroup2_root(const char *dir)
{
    struct stat st;
    struct statfs fs;
    return stat(dir, &st) == 0 && st.st_ino == 1 && statfs(dir, &fs) == 0 &&
           fs.f_type == CGROUP2_SUPER_MAGIC;
}

static int cg_new(struct cgroup *x, struct vigil_collect *set, const char *path, struct cg **out)
{
    struct cg *g = vigil_calloc(1, sizeof *g);
    if (!g) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < N_FILES; i++) {
        vigil__pfile_init(&g->f[i].f);
        vigil__rowmap_init(&g->f[i].rm);
    }
    for (int s = 0; s < S_N; s++) {
        g->ids[s] = VIGIL__NO_ID;
    }
    size_t pl = strlen(path);
    g->path = vigil_strdup(path);
    g->entity = vigil_malloc(pl + 11);
    if (!g->path || !g->entity) {
        cg_free(g);
        return -ENOMEM;
    }
    memcpy(g->entity, "container:", 10);
    memcpy(g->entity + 10, path, pl + 1);
    if (strcmp(path, "/") == 0 && x->have_tree[x->v2 ? T_V2 : T_UNIFIED]) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", x->base, tree_dir[x->v2 ? T_V2 : T_UNIFIED]);
        g->sys_psi = is_kernel_cgroup2_root(dir);
    }
    int rc = 0;
    for (size_t i = 0; i < N_FILES && !rc; i++) {
        const struct cgfile_def *d = &files[i];
        if (!x->have_tree[d->tree] || (d->tree != T_UNIFIED && d->v2 != x->v2)) {
            continue;
        }
        char rel[4096];
        snprintf(rel, sizeof rel, "%s%s/%s", tree_dir[d->tree], strcmp(path, "/") ? path : "",
                 d->file);
        if (vigil__pfile_open(&g->f[i].f, x->base, rel) != 0) {
            vigil__pfile_close(&g->f[i].f); /* absent here: not an error */
            continue;
        }
        g->f[i].open = 1;
        if (d->parse == P_BLKIO || d->parse == P_IOSTAT) {
            vigil__rowmap_own(&g->f[i].rm, set, /* stride = */ 1); /* rows hold series ids */
        }
        /* Intern the slots this file feeds now; io devices come with their rows. */
        if (d->parse == P_ONE) {
            rc = cg_intern(g, set, d->slot);
        } else if (d->parse == P_PSI) {
            rc = cg_intern(g, set, d->slot);
            rc = rc ? rc : cg_intern(g, set, d->slot + 1);
        } else if (d->parse == P_KV) {
            for (const struct kv *k = d->kv; k->key && !rc; k++) {
                rc = cg_intern(g, set, k->slot);
            }
        }
    }
    if (!rc && g->ids[S_MEM_USAGE] != VIGIL__NO_ID) {
        rc = cg_intern(g, set, S_MEM_WS);
    }
    if (rc) {
        cg_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* Gives g's series back (they stay until retired, or are taken again) and frees it. */
static void cg_drop(struct vigil_collect *set, struct cg *g)
{
    vigil__release_ids(set, g->ids, S_N);
    for (size_t j = 0; j < N_FILES; j++) {
        vigil__rowmap_release(&g->f[j].rm, 0);
    }
    cg_free(g);
}

/*
 * 1 when the cgroup at g's path is not the one whose files g holds: it was
 * removed and made again (systemctl restart removes a service's cgroup and
 * creates it anew). The open file still pins its old inode, so the path's
 * inode differs. One file is checked; on cgroupfs the others then fail with
 * ENODEV, which marks g gone (cgroup_collect).
 */
static int cg_replaced(const struct cg *g)
{
    for (size_t i = 0; i < N_FILES; i++) {
        const struct vigil__pfile *f = &g->f[i].f;
        if (!g->f[i].open || f->fd < 0) {
            continue;
        }
        struct stat held, now;
        if (fstat(f->fd, &held) != 0) {
            return 1;
        }
        return stat(f->path, &now) != 0 || now.st_ino != held.st_ino || now.st_dev != held.st_dev;
    }
    return 0;
}

/* Walks dir (absolute) whose cgroup path is rel, up to depth levels below. */
static int walk(struct cgroup *x, struct vigil_collect *set, const char *dir, const char *rel,
                int depth, int *full)
{
    size_t i = cg_index(x, rel);
    struct cg *g = i < x->n ? x->cg[i] : NULL;
    if (g && (g->gone || cg_replaced(g))) {
        /* Made again under the same path: open its files anew, keep its series. */
        x->cg[i] = x->cg[--x->n];
        cg_drop(set, g);
        g = NULL;
    }
    if (x->n >= x->max && !g) {
        *full = 1;
        return 0;
    }
    if (!g) {
        int rc = cg_new(x, set, rel, &g);
        if (rc) {
            return rc;
        }
        x->cg[x->n++] = g;
    }
    g->gen = x->gen;
    g->gone = 0;
    if (depth <= 0) {
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        return 0; /* vanished meanwhile */
    }
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)) {
            continue;
        }
        char sub[4096], srel[4096];
        int a = snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        int b = snprintf(srel, sizeof srel, "%s%s%s", rel, strcmp(rel, "/") ? "/" : "",
                         e->d_name);
        if (a < 0 || (size_t)a >= sizeof sub || b < 0 || (size_t)b >= sizeof srel ||
            !exists_dir(sub)) {
            continue;
        }
        rc = walk(x, set, sub, srel, depth - 1, full);
    }
    closedir(d);
    return rc;
}

static int discover(struct cgroup *x, struct vigil_collect_cx *cx)
{
    x->gen++;
    enum tree t = x->v2                        ? T_V2
                  : x->have_tree[T_MEMORY]  ? T_MEMORY
                  : x->have_tree[T_CPUACCT] ? T_CPUACCT
                                            : T_CPU;
    char top[4200];
    snprintf(top, sizeof top, "%s/%s", x->base, tree_dir[t]);
    int full = 0;
    int rc = walk(x, cx->set, top, "/", x->depth, &full);
    if (full) {
        vigil_collect_fail(cx, "more cgroups than cgroup.max; the rest are not followed", -E2BIG);
    }
    /* Forget cgroups the walk no longer sees, and give their series back. */
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++) {
        struct cg *g = x->cg[i];
        if (g->gen == x->gen) {
            x->cg[k++] = g;
            continue;
        }
        cg_drop(cx->set, g);
    }
    x->n = k;
    return rc;
}

/* ---- per-tick parsing ---- */

/* What the rows of a cgroup file feed (the u of vigil__rows_parse). */
struct cgrows {
    struct cgroup *x;
    struct cg *g;
    const struct kv *kv; /* P_KV */
    int ops;             /* P_BLKIO: 0 bytes, 1 ops */
};

/* P_KV rows: the map holds the index of the row's key in kv; keys not in kv are skipped. */
static int kv_learn(void *u, struct vigil_collect *set, const char *key, size_t kl, const char *q,
                    const char *le, uint32_t *ids, size_t *n)
{
    const struct cgrows *r = u;
    (void)set;
    (void)q;
    (void)le;
    *n = 0;
    for (uint32_t i = 0; r->kv[i].key; i++) {
        if (strlen(r->kv[i].key) == kl && memcmp(r->kv[i].key, key, kl) == 0) {
            ids[0] = i;
            *n = 1;
        }
    }
    return 0;
}

static int kv_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                   const char *q, const char *le)
{
    const struct cgrows *r = u;
    (void)cx;
    (void)n;
    uint64_t v;
    if (!vigil__pf_u64(q, le, &v)) {
        return 1;
    }
    const struct kv *k = &r->kv[ids[0]];
    r->g->v[k->slot] = (double)v / (k->div > 0 ? k->div : r->x->hz);
    r->g->have |= 1ull << k->slot;
    return 0;
}

static void device_name(struct cgroup *x, const char *mm, size_t ml, char *out, size_t cap)
{
    /* "8:0" -> "/dev/sda" via proc/diskstats; the numbers when unknown. */
    const char *colon = memchr(mm, ':', ml);
    uint64_t maj, min;
    if (colon && vigil__pf_u64(mm, colon, &maj) && vigil__pf_u64(colon + 1, mm + ml, &min) &&
        x->disks.path && vigil__pfile_read(&x->disks) == 0) {
        const char *p = x->disks.buf, *end = p + x->disks.len;
        while (p < end) {
            const char *le = vigil__line_end(p, end), *name;
            uint64_t a, b;
            size_t nl;
            const char *q = vigil__pf_u64(p, le, &a);
            q = q ? vigil__pf_u64(q, le, &b) : NULL;
            q = q ? vigil__token(q, le, &name, &nl) : NULL;
            if (q && a == maj && b == min && nl + 6 < cap) {
                memcpy(out, "/dev/", 5);
                memcpy(out + 5, name, nl);
                out[5 + nl] = '\0';
                return;
            }
            p = le + 1;
        }
    }
    snprintf(out, cap, "%.*s", (int)(ml < 64 ? ml : 64), mm);
}

static int io_intern(struct cgroup *x, struct cg *g, struct vigil_collect *set, const char *mm,
                     size_t ml, int which, uint32_t *id)
{
    char dev[128];
    device_name(x, mm, ml, dev, sizeof dev);
    struct vigil_label_ref l[2] = {VIGIL__LBL("device", dev, strlen(dev)),
                                   VIGIL__LBL("name", g->path, strlen(g->path))};
    return vigil__intern(set, io_names[which], l, 2, VIGIL_KIND_COUNTER, VIGIL_GROUP_FILESYSTEM,
                         g->entity, io_help[which], id);
}

/* v1: "8:0 Read 123" rows, keyed by "8:0 Read"; a last "Total 123" row is no row. */
static const char *blkio_split(void *u, const char *p, const char *le, const char **key, size_t *kl,
                               int *bad)
{
    (void)u;
    const char *dev = NULL, *op = NULL;
    size_t dl = 0, ol = 0;
    const char *q = vigil__token(p, le, &dev, &dl);
    q = q ? vigil__token(q, le, &op, &ol) : NULL;
    const char *v = q ? vigil__skip_blanks(q, le) : NULL;
    if (!v || v >= le || *v < '0' || *v > '9') {
        *bad |= !(dl == 5 && memcmp(dev, "Total", 5) == 0) && le > p;
        return NULL;
    }
    *key = dev;
    *kl = (size_t)(op + ol - dev);
    return q;
}

/* Read and Write rows become series; Sync, Async, Discard and Total are skipped. */
static int blkio_learn(void *u, struct vigil_collect *set, const char *key, size_t kl,
                       const char *q, const char *le, uint32_t *ids, size_t *n)
{
    const struct cgrows *r = u;
    (void)q;
    (void)le;
    const char *dev, *op = key;
    size_t dl, ol = 0;
    const char *e = vigil__token(key, key + kl, &dev, &dl);
    if (e) {
        vigil__token(e, key + kl, &op, &ol);
    }
    int w = ol == 4 && memcmp(op, "Read", 4) == 0    ? 0
            : ol == 5 && memcmp(op, "Write", 5) == 0 ? 1
                                                     : -1;
    *n = w >= 0;
    return w >= 0 ? io_intern(r->x, r->g, set, dev, dl, w + 2 * r->ops, &ids[0]) : 0;
}

/* v2: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" rows, keyed by the device. */
static int iostat_learn(void *u, struct vigil_collect *set, const char *dev, size_t dl,
                        const char *q, const char *le, uint32_t *ids, size_t *n)
{
    const struct cgrows *r = u;
    (void)q;
    (void)le;
    for (int w = 0; w < 4; w++) {
        if (io_intern(r->x, r->g, set, dev, dl, w, &ids[w])) {
            return -ENOMEM;
        }
    }
    *n = 4;
    return 0;
}

static int iostat_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                       const char *q, const char *le)
{
    static const char *const keys[4] = {"rbytes=", "wbytes=", "rios=", "wios="};
    (void)u;
    (void)n;
    const char *tok;
    size_t tl;
    int bad = 0;
    while ((q = vigil__token(q, le, &tok, &tl))) {
        for (int w = 0; w < 4; w++) {
            size_t kl = strlen(keys[w]);
            uint64_t v;
            if (tl > kl && memcmp(tok, keys[w], kl) == 0) {
                if (vigil__pf_u64(tok + kl, tok + tl, &v)) {
                    vigil__emit(cx, ids[w], (double)v);
                } else {
                    bad = 1;
                }
            }
        }
    }
    return bad;
}

/* Sets the "some" and "full" slots from slot on, those whose bit is in have. */
static void set_psi(struct cg *g, int slot, const double v[2], unsigned have)
{
    for (int j = 0; j < 2; j++) {
        if ((have >> j) & 1) {
            g->v[slot + j] = v[j];
            g->have |= 1ull << (slot + j);
        }
    }
}

static int parse_psi(struct cg *g, struct cgfile *f, int slot)
{
    double v[2];
    unsigned have = 0;
    int rc = vigil__psi_parse(f->f.buf, f->f.buf + f->f.len, v, &have);
    set_psi(g, slot, v, have);
    return rc;
}

/* Takes the root cgroup's PSI at slot from what the pressure collector read this tick. */
static int psi_from_system(const struct vigil_collect_cx *cx, struct cg *g, int slot)
{
    int res = slot == S_PSI_CPU_SOME   ? VIGIL__PSI_CPU
              : slot == S_PSI_MEM_SOME ? VIGIL__PSI_MEMORY
                                       : VIGIL__PSI_IO;
    double v[2];
    unsigned have;
    if (!vigil__psi_sys_get(cx, res, v, &have)) {
        return 0;
    }
    set_psi(g, slot, v, have);
    return 1;
}

/*
 * Parses a single number. No limit ("max", or v1's page-rounded 2^63) is 0,
 * as cAdvisor exports it: container_threads_max is "infinity if value is
 * zero", and container_spec_memory_limit_bytes is 0 above 2^62.
 */
static int parse_one(struct cg *g, struct cgfile *f, int slot, double div)
{
    const char *p = f->f.buf, *end = p + f->f.len;
    uint64_t v;
    p = vigil__skip_blanks(p, end);
    if (end - p >= 3 && memcmp(p, "max", 3) == 0) {
        v = 0;
    } else if (!vigil__pf_u64(p, end, &v)) {
        return VIGIL_EPARSE;
    } else if (slot == S_MEM_LIMIT && v > (UINT64_C(1) << 62)) {
        v = 0;
    }
    g->v[slot] = (double)v / div;
    g->have |= 1ull << slot;
    return 0;
}

/* 1 when g's directory is gone (the cgroup was removed), 0 when it still exists. */
static int cg_gone(struct cgroup *x, struct cg *g)
{
    char dir[4200];
    enum tree t = x->v2 ? T_V2 : x->have_tree[T_MEMORY] ? T_MEMORY : T_CPUACCT;
    snprintf(dir, sizeof dir, "%s/%s%s", x->base, tree_dir[t], g->path);
    return !exists_dir(dir);
}

static int cgroup_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct cgroup *x = c->ctx;
    if (cx->rescan) {
        int rc = discover(x, cx);
        if (rc == -ENOMEM) {
            return rc;
        }
    }
    for (size_t i = 0; i < x->n; i++) {
        struct cg *g = x->cg[i];
        if (g->gone) {
            continue;
        }
        g->have = 0;
        int vanished = 0;
        /* Limits change only when an operator sets them: re-read them at discoveries. */
        int spec = cx->rescan || !g->spec_read;
        for (size_t j = 0; j < N_FILES && !vanished; j++) {
            struct cgfile *f = &g->f[j];
            if (!f->open || (files[j].spec && !spec) ||
                (g->sys_psi && files[j].parse == P_PSI && psi_from_system(cx, g, files[j].slot))) {
                continue;
            }
            int rc = vigil__pfile_read(&f->f);
            if (rc) {
                if (rc == -ENODEV || cg_gone(x, g)) {
                    /* Removed between rescans (ENODEV: and maybe made again): drop out
                     * quietly; the next discovery opens a cgroup found there anew. */
                    vanished = 1;
                } else {
                    vigil_collect_fail(cx, f->f.path, rc);
                }
                continue;
            }
            const struct cgfile_def *d = &files[j];
            struct cgrows r = {x, g, d->kv, d->io};
            switch (d->parse) {
            case P_ONE:
                rc = parse_one(g, f, d->slot, d->div);
                break;
            case P_KV:
                rc = vigil__rows_parse(&f->rm, f->f.buf, f->f.buf + f->f.len, vigil__split_kv,
                                       kv_learn, kv_emit, &r, cx);
                break;
            case P_PSI:
                rc = parse_psi(g, f, d->slot);
                break;
            case P_BLKIO:
                rc = vigil__rows_parse(&f->rm, f->f.buf, f->f.buf + f->f.len, blkio_split,
                                       blkio_learn, vigil__emit_i64, &r, cx);
                break;
            case P_IOSTAT:
                rc = vigil__rows_parse(&f->rm, f->f.buf, f->f.buf + f->f.len, vigil__split_token,
                                       iostat_learn, iostat_emit, &r, cx);
                break;
            }
            if (rc == -ENOMEM) {
                return rc;
            }
            if (rc) {
                vigil_collect_fail(cx, f->f.path, rc);
            }
        }
        if (vanished) {
            g->gone = 1; /* the next rescan frees it */
            continue;
        }
        if (spec) {
            g->spec_have = g->have & SPEC_SLOTS;
            g->spec_read = 1;
        } else {
            g->have |= g->spec_have;
        }
        if ((g->have >> S_MEM_USAGE) & 1) {
            /* cAdvisor: working set = usage - inactive_file, never below 0. */
            double ws = g->v[S_MEM_USAGE];
            if ((g->have >> S_INACTIVE_FILE) & 1) {
                ws = ws > g->v[S_INACTIVE_FILE] ? ws - g->v[S_INACTIVE_FILE] : 0;
            }
            g->v[S_MEM_WS] = ws;
            g->have |= 1ull << S_MEM_WS;
        }
        for (int s = 0; s < S_EXPORTED; s++) {
            if ((g->have >> s) & 1) {
                vigil__emit(cx, g->ids[s], g->v[s]);
            }
        }
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_cgroup = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "cgroup",
    .summary = "cgroup v1/v2: container_* per cgroup (cAdvisor names)",
    .opts = cgroup_opts,
    .params_size = sizeof(struct cgroup_params),
    .default_on = 1,
    .init = cgroup_init,
    .collect = cgroup_collect,
    .fini = cgroup_fini,
};
