/*
 * The testbed's cgroups: one per VM, made under the caller's own cgroup in
 * each hierarchy (so the caller's limits still hold), with a memory limit and
 * a CPU quota, in cgroup v1 hierarchies or the v2 tree, whichever holds each
 * controller. Removal kills what is inside and removes only directories we
 * made, whose names carry our prefix.
 *
 * Reading the cgroups' statistics is the collector's job (or metrics.c until
 * it lands); only the memory limit and usage are read here, for the memory
 * injector.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/lines.h"
#include "vigil/log.h"
#include "vigil/mem.h"

static const char *const v1_names[VIGIL__CG_N] = {"cpu", "cpuacct", "memory", "blkio"};
static const char *const v2_names[VIGIL__CG_N] = {"cpu", "cpu", "memory", "io"};

int vigil__write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t n = strlen(s);
    ssize_t w = write(fd, s, n);
    int rc = w == (ssize_t)n ? 0 : (w < 0 ? -errno : -EIO);
    close(fd);
    return rc;
}

int vigil__write_text(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    const char *c = p;
    size_t done = 0;
    int rc = 0;
    while (done < n) {
        ssize_t w = write(fd, c + done, n - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

long vigil__read_small(const char *path, char *out, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t got = 0;
    while (got + 1 < n) {
        ssize_t r = read(fd, out + got, n - 1 - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    out[got] = '\0';
    return (long)got;
}

/* Is word (len bytes) in the comma-separated list? */
static int in_list(const char *list, size_t list_len, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list, *end = list + list_len;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t l = c ? (size_t)(c - p) : (size_t)(end - p);
        if (l == wl && memcmp(p, word, wl) == 0) {
            return 1;
        }
        p += l + 1;
    }
    return 0;
}

/* Splits a line into space-separated fields (at most max); returns the count. */
static size_t split_ws(const char *p, size_t n, const char **f, size_t *fl, size_t max)
{
    size_t k = 0, i = 0;
    while (i < n && k < max) {
        while (i < n && p[i] == ' ') {
            i++;
        }
        if (i >= n) {
            break;
        }
        size_t s = i;
        while (i < n && p[i] != ' ') {
            i++;
        }
        f[k] = p + s;
        fl[k++] = i - s;
    }
    return k;
}

static int copy_field(char *out, size_t n, const char *p, size_t l)
{
    if (l >= n) {
        return -ENAMETOOLONG;
    }
    memcpy(out, p, l);
    out[l] = '\0';
    return 0;
}

/* Our own cgroup path in the hierarchy whose /proc/self/cgroup controller list holds want ("" =
 * v2). */
static int self_path(const char *root, const char *want, char *out, size_t n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    char *text;
    size_t len;
    int rc = vigil_read_file(path, 1 << 16, &text, &len);
    if (rc) {
        return rc;
    }
    rc = -ENOENT;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *c1 = memchr(p, ':', l);
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(p + l - c1 - 1)) : NULL;
        if (c2) {
            size_t cl = (size_t)(c2 - c1 - 1);
            int match = want[0] ? in_list(c1 + 1, cl, want) : (cl == 0 && c1 - p == 1 && *p == '0');
            if (match) {
                rc = copy_field(out, n, c2 + 1, (size_t)(p + l - c2 - 1));
                break;
            }
        }
        p += l + 1;
    }
    vigil_free(text);
    return rc;
}

/* out = a b c, or "" when it does not fit (the controller is then unavailable). */
static void join3(char *out, size_t n, const char *a, const char *b, const char *c)
{
    int w = snprintf(out, n, "%s%s%s", a, b, c);
    if (w < 0 || (size_t)w >= n) {
        out[0] = '\0';
    }
}

int vigil__cg_parents(const char *root, int v2[VIGIL__CG_N], char parent[VIGIL__CG_N][512])
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/proc/self/mountinfo", root);
    char *text;
    size_t len;
    int rc = vigil_read_file(path, 1 << 20, &text, &len);
    if (rc) {
        return rc;
    }
    char mnt[VIGIL__CG_N][256] = {{0}};
    char v2mnt[256] = "";
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *f[32];
        size_t fl[32];
        size_t k = split_ws(p, l, f, fl, 32);
        /* id parent dev root mountpoint opts [optional...] - fstype source superopts */
        size_t dash = 0;
        for (size_t i = 6; i < k; i++) {
            if (fl[i] == 1 && f[i][0] == '-') {
                dash = i;
                break;
            }
        }
        if (dash && dash + 3 < k) {
            const char *fs = f[dash + 1];
            size_t fsl = fl[dash + 1];
            if (fsl == 7 && memcmp(fs, "cgroup2", 7) == 0) {
                copy_field(v2mnt, sizeof v2mnt, f[4], fl[4]);
            } else if (fsl == 6 && memcmp(fs, "cgroup", 6) == 0) {
                for (int c = 0; c < VIGIL__CG_N; c++) {
                    if (in_list(f[dash + 3], fl[dash + 3], v1_names[c])) {
                        copy_field(mnt[c], sizeof mnt[c], f[4], fl[4]);
                    }
                }
            }
        }
        p += l + 1;
    }
    vigil_free(text);

    char v2ctl[256] = "";
    if (v2mnt[0]) {
        snprintf(path, sizeof path, "%s%s/cgroup.controllers", root, v2mnt);
        if (vigil__read_small(path, v2ctl, sizeof v2ctl) < 0) {
            v2ctl[0] = '\0';
        }
    }
    /* "cpu io memory\n" becomes the list "cpu,io,memory". */
    size_t ctl_len = strcspn(v2ctl, "\n");
    for (size_t i = 0; i < ctl_len; i++) {
        if (v2ctl[i] == ' ') {
            v2ctl[i] = ',';
        }
    }
    for (int c = 0; c < VIGIL__CG_N; c++) {
        parent[c][0] = '\0';
        v2[c] = 0;
        char self[256];
        if (mnt[c][0]) {
            if (self_path(root, v1_names[c], self, sizeof self) == 0) {
                join3(parent[c], sizeof parent[c], root, mnt[c],
                      strcmp(self, "/") == 0 ? "" : self);
            }
            continue;
        }
        /* v2: the controller must be listed at the root of the tree. */
        if (v2mnt[0] && in_list(v2ctl, ctl_len, v2_names[c]) &&
            self_path(root, "", self, sizeof self) == 0) {
            join3(parent[c], sizeof parent[c], root, v2mnt, strcmp(self, "/") == 0 ? "" : self);
            v2[c] = 1;
        }
    }
    return 0;
}

static void set_limits(struct vigil__cg *cg, uint64_t mem_limit, double cpus)
{
    char path[600], val[64];
    if (mem_limit && cg->dir[VIGIL__CG_MEMORY][0]) {
        int v2 = cg->v2[VIGIL__CG_MEMORY];
        snprintf(path, sizeof path, "%s/%s", cg->dir[VIGIL__CG_MEMORY],
                 v2 ? "memory.max" : "memory.limit_in_bytes");
        snprintf(val, sizeof val, "%llu", (unsigned long long)mem_limit);
        int rc = vigil__write_file(path, val);
        if (rc) {
            vigil_warn("cgroup: write %s: %s", path, vigil_strerror(rc));
        }
    }
    if (cpus > 0 && cg->dir[VIGIL__CG_CPU][0]) {
        const long period = 100000; /* us */
        long quota = (long)(cpus * (double)period + 0.5);
        int rc;
        if (cg->v2[VIGIL__CG_CPU]) {
            snprintf(path, sizeof path, "%s/cpu.max", cg->dir[VIGIL__CG_CPU]);
            snprintf(val, sizeof val, "%ld %ld", quota, period);
            rc = vigil__write_file(path, val);
        } else {
            snprintf(path, sizeof path, "%s/cpu.cfs_period_us", cg->dir[VIGIL__CG_CPU]);
            snprintf(val, sizeof val, "%ld", period);
            rc = vigil__write_file(path, val);
            if (rc == 0) {
                snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", cg->dir[VIGIL__CG_CPU]);
                snprintf(val, sizeof val, "%ld", quota);
                rc = vigil__write_file(path, val);
            }
        }
        if (rc) {
            vigil_warn("cgroup: write %s: %s", path, vigil_strerror(rc));
        }
    }
}

/* In v2 the parent must delegate the controllers to its children. */
static void v2_enable(const char *parent, const char *ctl)
{
    char path[600], val[32];
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", parent);
    snprintf(val, sizeof val, "+%s", ctl);
    int rc = vigil__write_file(path, val);
    if (rc) {
        vigil_warn("cgroup: enable %s in %s: %s (limits and statistics of this controller will be "
                   "missing)",
                   ctl, parent, vigil_strerror(rc));
    }
}

int vigil__cg_create(struct vigil__cg *cg, const int v2[VIGIL__CG_N],
                     const char parent[VIGIL__CG_N][512], const char *name, uint64_t mem_limit,
                     double cpus)
{
    memset(cg, 0, sizeof *cg);
    if (!vigil__is_our_name(name)) {
        return -EINVAL;
    }
    int rc = 0;
    size_t np = 0;
    for (int c = 0; c < VIGIL__CG_N; c++) {
        cg->v2[c] = v2[c];
        if (!parent[c][0]) {
            continue;
        }
        int n = snprintf(cg->dir[c], sizeof cg->dir[c], "%s/%s", parent[c], name);
        if (n < 0 || (size_t)n >= sizeof cg->dir[c]) {
            rc = -ENAMETOOLONG;
            goto fail;
        }
        /* Co-mounted controllers (cpu,cpuacct) and v2 share one directory. */
        int shared = 0;
        for (int d = 0; d < c; d++) {
            if (strcmp(cg->dir[d], cg->dir[c]) == 0) {
                shared = 1;
            }
        }
        if (shared) {
            continue;
        }
        if (v2[c]) {
            v2_enable(parent[c], v2_names[c]);
        }
        if (mkdir(cg->dir[c], 0755) != 0) {
            rc = -errno;
            vigil_error("cgroup: mkdir %s: %s", cg->dir[c], strerror(errno));
            goto fail;
        }
        cg->created[c] = 1;
        size_t dl = strlen(cg->dir[c]);
        if (dl + sizeof "/cgroup.procs" > sizeof cg->procs[np]) {
            rc = -ENAMETOOLONG;
            goto fail;
        }
        memcpy(cg->procs[np], cg->dir[c], dl);
        memcpy(cg->procs[np] + dl, "/cgroup.procs", sizeof "/cgroup.procs");
        cg->procs_list[np] = cg->procs[np];
        np++;
    }
    /* v2 controllers enabled above may share the directory; enable the rest once it exists. */
    for (int c = 0; c < VIGIL__CG_N; c++) {
        if (v2[c] && cg->dir[c][0] && !cg->created[c]) {
            v2_enable(parent[c], v2_names[c]);
        }
    }
    cg->procs_list[np] = NULL;
    set_limits(cg, mem_limit, cpus);
    return 0;
fail:
    vigil__cg_destroy(cg, 0);
    return rc;
}

int vigil__cg_account_io(const struct vigil__cg *cg, const char *path)
{
    const char *d = cg->dir[VIGIL__CG_BLKIO];
    if (!d[0] || cg->v2[VIGIL__CG_BLKIO]) {
        return 0; /* v2's io.stat counts without help */
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        return -errno;
    }
    unsigned maj = major(st.st_dev), min = minor(st.st_dev);
    /* Throttle rules name whole disks: a partition's parent holds its dev number. */
    char sys[128], buf[32];
    snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u/partition", maj, min);
    if (vigil__read_small(sys, buf, sizeof buf) > 0) {
        snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u/../dev", maj, min);
        if (vigil__read_small(sys, buf, sizeof buf) > 0) {
            char *colon = strchr(buf, ':');
            if (colon) {
                maj = (unsigned)strtoul(buf, NULL, 10);
                min = (unsigned)strtoul(colon + 1, NULL, 10);
            }
        }
    }
    char rule[64], file[600];
    snprintf(rule, sizeof rule, "%u:%u 1000000000000", maj, min); /* 1 TB/s: never binding */
    static const char *const files[] = {"blkio.throttle.read_bps_device",
                                        "blkio.throttle.write_bps_device"};
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/%s", d, files[i]);
        int rc = vigil__write_file(file, rule);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int vigil__cg_kill_dir(const char *dir, int sig)
{
    char path[600];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    char *text;
    size_t len;
    if (vigil_read_file(path, 1 << 20, &text, &len) != 0) {
        return 0;
    }
    int n = 0;
    char *p = text;
    while (*p) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        if (pid > 1 && pid != (long)getpid() && kill((pid_t)pid, sig) == 0) {
            n++;
        }
        p = end;
        while (*p == '\n') {
            p++;
        }
    }
    vigil_free(text);
    return n;
}

static int cg_empty(const char *dir)
{
    char path[600], buf[16];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    long r = vigil__read_small(path, buf, sizeof buf);
    return r <= 0;
}

int vigil__cg_destroy(struct vigil__cg *cg, int64_t grace_ns)
{
    int first = 0;
    int64_t end = vigil_clock_mono_ns() + grace_ns;
    for (int c = 0; c < VIGIL__CG_N; c++) {
        if (cg->created[c]) {
            vigil__cg_kill_dir(cg->dir[c], SIGTERM);
        }
    }
    for (int c = 0; c < VIGIL__CG_N; c++) {
        if (!cg->created[c]) {
            continue;
        }
        while (!cg_empty(cg->dir[c]) && vigil_clock_mono_ns() < end) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        /* Stragglers get SIGKILL; removal is retried while they exit. */
        for (int tries = 0; tries < 250; tries++) {
            vigil__cg_kill_dir(cg->dir[c], SIGKILL);
            if (rmdir(cg->dir[c]) == 0 || errno == ENOENT) {
                cg->created[c] = 0;
                break;
            }
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (cg->created[c]) {
            int e = errno;
            vigil_error("cgroup: rmdir %s: %s", cg->dir[c], strerror(e));
            if (!first) {
                first = -e;
            }
        }
    }
    return first;
}

static int read_u64(const char *dir, const char *file, uint64_t *v)
{
    char path[600], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    long r = vigil__read_small(path, buf, sizeof buf);
    if (r < 0) {
        return (int)r;
    }
    if (strncmp(buf, "max", 3) == 0) {
        *v = UINT64_MAX;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf || errno) {
        return VIGIL_EPARSE;
    }
    *v = x;
    return 0;
}

int vigil__cg_memory(const struct vigil__cg *cg, uint64_t *limit, uint64_t *usage)
{
    const char *d = cg->dir[VIGIL__CG_MEMORY];
    if (!d[0]) {
        return -ENOENT;
    }
    int v2 = cg->v2[VIGIL__CG_MEMORY];
    int rc = read_u64(d, v2 ? "memory.max" : "memory.limit_in_bytes", limit);
    if (rc == 0) {
        rc = read_u64(d, v2 ? "memory.current" : "memory.usage_in_bytes", usage);
    }
    return rc;
}
