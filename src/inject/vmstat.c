/*
 * Per-VM metrics of a testbed, read at each campaign step by vigil's own
 * collector (include/vigil/collect.h) rather than a reader of our own:
 *
 *   - one collect set runs the "cgroup" collector over a root directory whose
 *     sys/fs/cgroup/<controller> entries are symlinks to the run's cgroup in
 *     each hierarchy, so it sees exactly the VMs' cgroups (cAdvisor names:
 *     container_cpu_usage_seconds_total, container_memory_*, container_fs_*);
 *   - one set per VM runs "netdev" and "netstat" over a root whose proc entry
 *     is a symlink to /proc/<anchor pid>, a process that lives in the VM's
 *     namespace for the whole run, so /proc/net/dev and /proc/net/snmp are
 *     the namespace's own counters (node-exporter names); with SIP over TCP
 *     it also runs "tcpinfo" in the namespace (/run/netns/<name>): the
 *     round-trip times of the VM's TCP connections.
 *
 * Each series becomes one column named with the VM in the "name" label
 * (cgroup paths are replaced by the VM name). Series that appear later (a
 * block device's first I/O) get new columns at the end; the campaign pads
 * earlier rows when it closes metrics.csv.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/collect.h"
#include "vigil/log.h"
#include "vigil/mem.h"

#define NO_COL UINT32_MAX       /* series seen, not recorded */
#define UNSEEN (UINT32_MAX - 1) /* series not looked at yet */

static const char *const v1_dirs[VIGIL__CG_N] = {"cpu", "cpuacct", "memory", "blkio"};

/* ---- the collector's root directories ---- */

/* out = a "/" b; -ENAMETOOLONG when it does not fit. */
static int join(char *out, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + 1 + lb + 1 > n) {
        return -ENAMETOOLONG;
    }
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
    return 0;
}

static int mkdir_ok(const char *d)
{
    return mkdir(d, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int link_ok(const char *target, const char *path)
{
    unlink(path);
    return symlink(target, path) == 0 ? 0 : -errno;
}

/* root/sys/fs/cgroup/<ctl> -> the run's cgroup, root/proc -> /proc (device names). */
static int cgroup_root(const struct vigil__cg *run, const char *root)
{
    char path[PATH_MAX];
    int rc = mkdir_ok(root);
    rc = rc ? rc : join(path, sizeof path, root, "proc");
    rc = rc ? rc : link_ok("/proc", path);
    rc = rc ? rc : join(path, sizeof path, root, "sys");
    rc = rc ? rc : mkdir_ok(path);
    rc = rc ? rc : join(path, sizeof path, root, "sys/fs");
    rc = rc ? rc : mkdir_ok(path);
    rc = rc ? rc : join(path, sizeof path, root, "sys/fs/cgroup");
    int any_v2 = 0;
    for (int c = 0; c < VIGIL__CG_N; c++) {
        any_v2 |= run->v2[c] && run->dir[c][0];
    }
    if (rc == 0 && any_v2 && !run->dir[VIGIL__CG_CPU][0]) {
        /* A pure v2 host: the mount point itself is the run's cgroup. */
        for (int c = 0; c < VIGIL__CG_N; c++) {
            if (run->v2[c] && run->dir[c][0]) {
                return link_ok(run->dir[c], path);
            }
        }
    }
    rc = rc ? rc : mkdir_ok(path);
    for (int c = 0; rc == 0 && c < VIGIL__CG_N; c++) {
        if (run->dir[c][0] && !run->v2[c]) {
            char link[PATH_MAX];
            rc = join(link, sizeof link, path, v1_dirs[c]);
            rc = rc ? rc : link_ok(run->dir[c], link);
        } else if (run->dir[c][0]) {
            vigil_warn("campaign: controller %s is in the v2 tree beside v1 ones; its metrics are "
                       "not collected",
                       v1_dirs[c]);
        }
    }
    return rc;
}

/* root/proc -> /proc/<pid>: the namespace's /proc/net through a process inside it. */
static int netns_root(pid_t pid, const char *root)
{
    char path[PATH_MAX], target[64];
    int rc = mkdir_ok(root);
    rc = rc ? rc : join(path, sizeof path, root, "proc");
    snprintf(target, sizeof target, "/proc/%d", (int)pid);
    return rc ? rc : link_ok(target, path);
}

/* netns: the VM's namespace file for the tcpinfo collector, or NULL. */
static int open_set(struct vigil_collect **out, const char *root, const char *collectors,
                    const char *netns)
{
    struct vigil_collect_conf conf;
    vigil_collect_conf_default(&conf);
    conf.root = root;
    conf.collectors = collectors;
    conf.max_series = 20000;
    struct vigil_diag d;
    int rc = vigil_collect_new(out, &conf, &d);
    if (rc == 0 && netns) {
        rc = vigil_collect_set(*out, "tcpinfo.netns", netns, &d);
    }
    if (rc == 0) {
        rc = vigil_collect_start(*out, &d);
    }
    if (rc) {
        vigil_error("campaign: collector (%s) over %s: %s", collectors, root,
                    d.msg[0] ? d.msg : vigil_strerror(rc));
        vigil_collect_free(*out);
        *out = NULL;
    }
    return rc;
}

int vigil__vmstat_init(struct vigil__vmstat *ms, struct vigil_testbed *tb)
{
    memset(ms, 0, sizeof *ms);
    ms->tb = tb;
    char base[PATH_MAX], root[PATH_MAX];
    int rc = join(base, sizeof base, vigil__tb_workdir(tb), "collect");
    rc = rc ? rc : mkdir_ok(base);
    const struct vigil__cg *run = vigil__tb_run_cg(tb);
    if (rc == 0 && run) {
        rc = join(root, sizeof root, base, "cgroup");
        rc = rc ? rc : cgroup_root(run, root);
        if (rc == 0) {
            ms->set_vm[ms->n_sets] = -1;
            rc = open_set(&ms->set[ms->n_sets], root, "cgroup", NULL);
            ms->n_sets += rc == 0;
        }
    }
    for (int vm = 0; rc == 0 && vm < VIGIL_VM_COUNT; vm++) {
        pid_t pid = vigil__tb_anchor(tb, vm);
        if (!vigil_testbed_has(tb, vm) || pid <= 0) {
            continue;
        }
        rc = join(root, sizeof root, base, vigil_vm_name(vm));
        rc = rc ? rc : netns_root(pid, root);
        if (rc == 0) {
            ms->set_vm[ms->n_sets] = vm;
            /* Over TCP, the sockets' round-trip times show a delay on the path. */
            int tcp = vigil__tb_params(tb)->transport == VIGIL_SIP_TCP;
            rc = open_set(&ms->set[ms->n_sets], root,
                          tcp ? "netdev,netstat,tcpinfo" : "netdev,netstat",
                          tcp ? vigil__tb_netns(tb, vm) : NULL);
            ms->n_sets += rc == 0;
        }
    }
    if (rc) {
        vigil_error("campaign: metrics under %s: %s", base, vigil_strerror(rc));
        vigil__vmstat_fini(ms);
    }
    return rc;
}

void vigil__vmstat_fini(struct vigil__vmstat *ms)
{
    for (size_t i = 0; i < ms->n_sets; i++) {
        vigil_collect_free(ms->set[i]);
        vigil_free(ms->map[i]);
    }
    for (size_t j = 0; j < ms->n; j++) {
        vigil_free(ms->names[j]);
    }
    vigil_free(ms->names);
    vigil_free(ms->values);
    vigil_free(ms->kinds);
    memset(ms, 0, sizeof *ms);
}

/* ---- columns ---- */

/* The VM whose cgroup entity this is ("container:/vigil-camp-abc123-pcscf"), or -1. */
static int vm_of_entity(const char *entity)
{
    if (!entity || strncmp(entity, "container:/", 11) != 0) {
        return -1;
    }
    const char *name = entity + 11;
    if (!vigil__is_our_name(name)) {
        return -1;
    }
    const char *dash = strrchr(name, '-');
    return dash ? vigil_vm_parse(dash + 1) : -1;
}

static int put_escaped(struct vigil_buf *b, const char *v)
{
    int rc = 0;
    for (; *v && rc == 0; v++) {
        if (*v == '"' || *v == '\\') {
            rc = vigil_buf_appendf(b, "\\%c", *v);
        } else if (*v == '\n') {
            rc = vigil_buf_puts(b, "\\n");
        } else {
            rc = vigil_buf_append(b, v, 1);
        }
    }
    return rc;
}

/* name{labels..., name="vm"} with labels in sorted order; an existing "name" is replaced. */
static int column_name(const struct vigil_series *s, int vm, struct vigil_buf *b)
{
    const char *vmn = vigil_vm_name(vm);
    int rc = vigil_buf_puts(b, s->name);
    rc = rc ? rc : vigil_buf_puts(b, "{");
    int placed = 0, first = 1;
    for (size_t i = 0; rc == 0 && i <= s->n_labels; i++) {
        const char *ln = i < s->n_labels ? s->labels[i].name : NULL;
        if (!placed && (!ln || strcmp(ln, "name") >= 0)) {
            rc = vigil_buf_appendf(b, "%sname=\"%s\"", first ? "" : ",", vmn);
            placed = 1;
            first = 0;
        }
        if (!ln || strcmp(ln, "name") == 0 || rc) {
            continue;
        }
        rc = vigil_buf_appendf(b, "%s%s=\"", first ? "" : ",", ln);
        rc = rc ? rc : put_escaped(b, s->labels[i].value);
        rc = rc ? rc : vigil_buf_puts(b, "\"");
        first = 0;
    }
    return rc ? rc : vigil_buf_puts(b, "}");
}

/* Decides the column of series id of set i (a new column, or NO_COL). */
static int map_series(struct vigil__vmstat *ms, size_t i, uint32_t id)
{
    const struct vigil_series_table *t = vigil_collect_series(ms->set[i]);
    if (id >= ms->map_cap[i]) {
        size_t cap = t->n > id ? t->n : (size_t)id + 1;
        uint32_t *m = vigil_realloc(ms->map[i], cap * sizeof *m);
        if (!m) {
            return -ENOMEM;
        }
        for (size_t k = ms->map_cap[i]; k < cap; k++) {
            m[k] = UNSEEN;
        }
        ms->map[i] = m;
        ms->map_cap[i] = cap;
    }
    if (ms->map[i][id] != UNSEEN) {
        return 0;
    }
    const struct vigil_series *s = vigil_series_get(t, id);
    int vm = ms->set_vm[i];
    if (vm < 0) {
        vm = s ? vm_of_entity(s->entity) : -1;
    } else if (!s || s->entity || strncmp(s->name, "node_", 5) != 0) {
        vm = -1; /* the collector's own vigil_collect_* series */
    }
    if (vm < 0) {
        ms->map[i][id] = NO_COL;
        return 0;
    }
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 256;
        char **names = vigil_realloc(ms->names, cap * sizeof *names);
        if (!names) {
            return -ENOMEM;
        }
        ms->names = names;
        double *values = vigil_realloc(ms->values, cap * sizeof *values);
        if (!values) {
            return -ENOMEM;
        }
        ms->values = values;
        uint8_t *kinds = vigil_realloc(ms->kinds, cap * sizeof *kinds);
        if (!kinds) {
            return -ENOMEM;
        }
        ms->kinds = kinds;
        ms->cap = cap;
    }
    struct vigil_buf b;
    vigil_buf_init(&b);
    int rc = column_name(s, vm, &b);
    if (rc) {
        vigil_buf_fini(&b);
        return rc;
    }
    ms->names[ms->n] = b.p; /* the buffer's storage becomes the name */
    ms->values[ms->n] = (double)NAN;
    ms->kinds[ms->n] = s->kind;
    ms->map[i][id] = (uint32_t)ms->n++;
    return 0;
}

int vigil__vmstat_sample(struct vigil__vmstat *ms)
{
    for (size_t j = 0; j < ms->n; j++) {
        ms->values[j] = (double)NAN;
    }
    for (size_t i = 0; i < ms->n_sets; i++) {
        const struct vigil_sample_batch *b;
        int rc = vigil_collect_tick(ms->set[i], &b);
        if (rc) {
            return rc;
        }
        for (size_t k = 0; k < b->n; k++) {
            uint32_t id = b->v[k].series;
            if ((rc = map_series(ms, i, id))) {
                return rc;
            }
            uint32_t col = ms->map[i][id];
            if (col != NO_COL) {
                ms->values[col] = b->v[k].value;
            }
        }
    }
    return 0;
}
