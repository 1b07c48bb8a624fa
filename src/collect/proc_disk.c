/*
 * Disk and filesystem collectors with node-exporter's names: /proc/diskstats
 * (diskstats: node_disk_*{device}) and statvfs on the mounted filesystems
 * listed in /proc/self/mounts (filesystem: node_filesystem_*{device,fstype,
 * mountpoint}). The mount list is re-read only at discovery (every `rescan`);
 * statvfs runs every tick. A statvfs that fails sets
 * node_filesystem_device_error to 1 and leaves the sizes out, as
 * node-exporter does. statvfs on a hung network mount blocks the tick: such
 * filesystem types are excluded by default.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "internal.h"
#include "vigil/mem.h"

/* ---- /proc/diskstats ---- */

struct diskstats_params {
    char *exclude;
};

static const struct vigil_opt diskstats_opts[] = {
    {"exclude", VIGIL_OPT_STR, offsetof(struct diskstats_params, exclude),
     "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme[0-9]+n[0-9]+p)[0-9]+$", 0, 0,
     "regex of devices to leave out (node-exporter's default: partitions, loop, ram)", NULL},
    {0},
};

/*
 * The 17 columns after the device name (Documentation/admin-guide/iostats.rst),
 * with node-exporter's names and help texts.
 */
static const struct {
    const char *name;
    double scale; /* multiplier (sectors) or, when < 1, 1 / divisor (ms) */
    enum vigil_kind kind;
    const char *help;
} disk_cols[17] = {
    {"node_disk_reads_completed_total", 1, VIGIL_KIND_COUNTER,
     "The total number of reads completed successfully."},
    {"node_disk_reads_merged_total", 1, VIGIL_KIND_COUNTER, "The total number of reads merged."},
    {"node_disk_read_bytes_total", 512, VIGIL_KIND_COUNTER,
     "The total number of bytes read successfully."},
    {"node_disk_read_time_seconds_total", 0.001, VIGIL_KIND_COUNTER,
     "The total number of seconds spent by all reads."},
    {"node_disk_writes_completed_total", 1, VIGIL_KIND_COUNTER,
     "The total number of writes completed successfully."},
    {"node_disk_writes_merged_total", 1, VIGIL_KIND_COUNTER, "The number of writes merged."},
    {"node_disk_written_bytes_total", 512, VIGIL_KIND_COUNTER,
     "The total number of bytes written successfully."},
    {"node_disk_write_time_seconds_total", 0.001, VIGIL_KIND_COUNTER,
     "This is the total number of seconds spent by all writes."},
    {"node_disk_io_now", 1, VIGIL_KIND_GAUGE, "The number of I/Os currently in progress."},
    {"node_disk_io_time_seconds_total", 0.001, VIGIL_KIND_COUNTER,
     "Total seconds spent doing I/Os."},
    {"node_disk_io_time_weighted_seconds_total", 0.001, VIGIL_KIND_COUNTER,
     "The weighted # of seconds spent doing I/Os."},
    {"node_disk_discards_completed_total", 1, VIGIL_KIND_COUNTER,
     "The total number of discards completed successfully."},
    {"node_disk_discards_merged_total", 1, VIGIL_KIND_COUNTER,
     "The total number of discards merged."},
    {"node_disk_discarded_sectors_total", 1, VIGIL_KIND_COUNTER,
     "The total number of sectors discarded successfully."},
    {"node_disk_discard_time_seconds_total", 0.001, VIGIL_KIND_COUNTER,
     "This is the total number of seconds spent by all discards."},
    {"node_disk_flush_requests_total", 1, VIGIL_KIND_COUNTER,
     "The total number of flush requests completed successfully"},
    {"node_disk_flush_requests_time_seconds_total", 0.001, VIGIL_KIND_COUNTER,
     "This is the total number of seconds spent by all flush requests."},
};

static int diskstats_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                          const void *params)
{
    const struct diskstats_params *pp = params;
    /* Owned: a vanished disk gives its ids back. */
    return vigil__keyed_new(c, root, "proc/diskstats", pp->exclude, set);
}

/* "   8       0 sda 1 2 3 ...": the device after the major and minor numbers. */
static const char *disk_split(void *u, const char *p, const char *le, const char **key, size_t *kl,
                              int *bad)
{
    (void)u;
    uint64_t major, minor;
    const char *q = vigil__pf_u64(p, le, &major);
    q = q ? vigil__pf_u64(q, le, &minor) : NULL;
    q = q ? vigil__token(q, le, key, kl) : NULL;
    *bad |= !q && le > p;
    return q;
}

static int disk_learn(void *u, struct vigil_collect *set, const char *dev, size_t dl, const char *q,
                      const char *le, uint32_t *ids, size_t *n)
{
    struct vigil__keyed *k = u;
    (void)q;
    (void)le;
    *n = 0;
    if (vigil__filter_match(&k->filt, dev, dl)) {
        return 0;
    }
    for (int j = 0; j < 17; j++) {
        struct vigil_label_ref l = VIGIL__LBL("device", dev, dl);
        if (vigil__intern(set, disk_cols[j].name, &l, 1, disk_cols[j].kind, VIGIL_GROUP_FILESYSTEM,
                          NULL, disk_cols[j].help, &ids[(*n)++])) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int disk_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                     const char *q, const char *le)
{
    (void)u;
    /* Kernels before 4.18 have 11 columns, before 5.5 have 15. */
    size_t got = 0;
    uint64_t v[17];
    while (got < 17 && (q = vigil__pf_u64(q, le, &v[got]))) {
        got++;
    }
    if (got != 11 && got != 15 && got != 17) {
        return 1;
    }
    for (size_t j = 0; j < n && j < got; j++) {
        double sc = disk_cols[j].scale;
        /* Divide by 1000 rather than multiply by 0.001: the result is the
         * double nearest the decimal, which prints short. */
        vigil__emit(cx, ids[j], sc < 1 ? (double)v[j] / 1000.0 : (double)v[j] * sc);
    }
    return 0;
}

static int diskstats_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    return vigil__keyed_collect(c, cx, disk_split, disk_learn, disk_emit,
                                "proc/diskstats: truncated row");
}

const struct vigil_collector_ops vigil__collector_diskstats = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "diskstats",
    .summary = "/proc/diskstats: node_disk_*{device}",
    .opts = diskstats_opts,
    .params_size = sizeof(struct diskstats_params),
    .default_on = 1,
    .init = diskstats_init,
    .collect = diskstats_collect,
    .fini = vigil__keyed_fini,
};

/* ---- filesystems: statvfs on /proc/self/mounts ---- */

struct filesystem_params {
    char *exclude_types;
    char *exclude_mounts;
    int max;
};

static const struct vigil_opt filesystem_opts[] = {
    {"exclude_types", VIGIL_OPT_STR, offsetof(struct filesystem_params, exclude_types),
     "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
     "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
     "sysfs|tracefs|nfs4?|cifs|smb3|fuse\\..*)$",
     0, 0, "regex of filesystem types to leave out (node-exporter's, plus network filesystems)",
     NULL},
    {"exclude_mounts", VIGIL_OPT_STR, offsetof(struct filesystem_params, exclude_mounts),
     "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
     0, 0, "regex of mount points to leave out (node-exporter's default)", NULL},
    {"max", VIGIL_OPT_INT, offsetof(struct filesystem_params, max), "64", 1, 4096,
     "most filesystems followed", NULL},
    {0},
};

enum { FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE, FS_RO, FS_ERR, FS_N };

static const char *const fs_names[FS_N] = {
    "node_filesystem_size_bytes", "node_filesystem_free_bytes",       "node_filesystem_avail_bytes",
    "node_filesystem_files",      "node_filesystem_files_free",       "node_filesystem_readonly",
    "node_filesystem_device_error",
};

static const char *const fs_help[FS_N] = {
    "Filesystem size in bytes.",
    "Filesystem free space in bytes.",
    "Filesystem space available to non-root users in bytes.",
    "Filesystem total file nodes.",
    "Filesystem total free file nodes.",
    "Filesystem read-only status.",
    "Whether an error occurred while getting statistics for the given device.",
};

struct mount {
    char *path; /* root + mount point; owned */
    int ro;     /* "ro" among its mount options (node-exporter's readonly) */
    uint32_t ids[FS_N];
};

struct filesystem {
    struct vigil__pfile f;
    char *seen; /* the mounts text last parsed; owned */
    size_t seen_len;
    struct mount *m;
    size_t n, max;
    struct vigil__filter ex_types, ex_mounts;
    char *root;
};

static void mounts_clear(struct filesystem *x)
{
    for (size_t i = 0; i < x->n; i++) {
        vigil_free(x->m[i].path);
        x->m[i].path = NULL;
    }
    x->n = 0;
}

static void filesystem_fini(struct vigil_collector *c)
{
    struct filesystem *x = c->ctx;
    if (x) {
        mounts_clear(x);
        vigil_free(x->m);
        vigil_free(x->seen);
        vigil_free(x->root);
        vigil__pfile_close(&x->f);
        vigil__filter_fini(&x->ex_types);
        vigil__filter_fini(&x->ex_mounts);
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int filesystem_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                           const void *params)
{
    (void)set;
    const struct filesystem_params *pp = params;
    struct filesystem *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    vigil__pfile_init(&x->f);
    x->max = (size_t)pp->max;
    x->m = vigil_calloc(x->max, sizeof *x->m);
    x->root = vigil_strdup(root);
    if (!x->m || !x->root) {
        return -ENOMEM;
    }
    int rc = vigil__filter_init(&x->ex_types, pp->exclude_types);
    if (rc || (rc = vigil__filter_init(&x->ex_mounts, pp->exclude_mounts)) != 0) {
        return rc;
    }
    x->f.to_eof = 1; /* a mount line can pass a page; the table is read only at discoveries */
    return vigil__pfile_open_src(&x->f, root, "proc/self/mounts");
}

/*
 * Decodes the octal escapes of /proc/mounts ("\040" for a space) into out.
 * Returns the length, or 0 when the path does not fit in cap.
 */
static size_t unescape_mount(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= cap) {
            return 0;
        }
        int v = p[i] == '\\' && i + 3 < n && p[i + 1] >= '0' && p[i + 1] <= '3' &&
                        p[i + 2] >= '0' && p[i + 2] <= '7' && p[i + 3] >= '0' && p[i + 3] <= '7'
                    ? (p[i + 1] - '0') * 64 + (p[i + 2] - '0') * 8 + (p[i + 3] - '0')
                    : 0;
        if (v) { /* "\040" for a space; "\000" is not a character of a path */
            out[o++] = (char)v;
            i += 3;
        } else {
            out[o++] = p[i];
        }
    }
    out[o] = '\0';
    return o;
}

static int mounts_learn(struct filesystem *x, struct vigil_collect *set)
{
    /* Give every mount's series back; the mounts still there take theirs again below. */
    for (size_t i = 0; i < x->n; i++) {
        vigil__release_ids(set, x->m[i].ids, FS_N);
    }
    mounts_clear(x);
    const char *p = x->f.buf, *end = p + x->f.len;
    while (p < end && x->n < x->max) {
        const char *le = vigil__line_end(p, end);
        const char *dev, *mnt, *type, *opt = NULL;
        size_t dl, ml, tl, ol = 0;
        const char *q = vigil__token(p, le, &dev, &dl);
        q = q ? vigil__token(q, le, &mnt, &ml) : NULL;
        q = q ? vigil__token(q, le, &type, &tl) : NULL;
        if (q && !vigil__token(q, le, &opt, &ol)) {
            opt = NULL;
        }
        p = le + 1;
        char mp[PATH_MAX], path[PATH_MAX + 256];
        size_t mpl = q ? unescape_mount(mnt, ml, mp, sizeof mp) : 0;
        int out = !mpl || vigil__filter_match(&x->ex_types, type, tl) ||
                  vigil__filter_match(&x->ex_mounts, mp, mpl);
        /*
         * Freed after each mount: the type filter is a long alternation whose
         * DFA, grown over all of a host's mount types, held about 400 KB; a
         * mount table changes rarely, so compiling per mount costs nothing.
         */
        vigil__filter_release(&x->ex_types);
        vigil__filter_release(&x->ex_mounts);
        if (out) {
            continue;
        }
        /* A later mount on the same point hides the earlier one. */
        if (vigil__path(path, sizeof path, x->root, mp)) {
            continue;
        }
        size_t slot = x->n;
        for (size_t i = 0; i < x->n; i++) {
            if (strcmp(x->m[i].path, path) == 0) {
                slot = i;
            }
        }
        struct mount *m = &x->m[slot];
        if (slot < x->n) {
            vigil__release_ids(set, m->ids, FS_N); /* the mount it hides */
        } else {
            m->path = vigil_strdup(path);
            if (!m->path) {
                return -ENOMEM;
            }
            x->n++;
        }
        for (int j = 0; j < FS_N; j++) {
            m->ids[j] = VIGIL__NO_ID; /* until interned: nothing stale is emitted */
        }
        m->ro = 0;
        for (const char *o = opt, *oe = opt + ol; o && o < oe;) {
            const char *c = memchr(o, ',', (size_t)(oe - o));
            size_t n = c ? (size_t)(c - o) : (size_t)(oe - o);
            m->ro |= n == 2 && memcmp(o, "ro", 2) == 0;
            o += n + 1;
        }
        struct vigil_label_ref l[3] = {VIGIL__LBL("device", dev, dl), VIGIL__LBL("fstype", type, tl),
                                       VIGIL__LBL("mountpoint", mp, mpl)};
        for (int j = 0; j < FS_N; j++) {
            int rc = vigil__intern(set, fs_names[j], l, 3,
                                   VIGIL_KIND_GAUGE, VIGIL_GROUP_FILESYSTEM, NULL, fs_help[j],
                                   &m->ids[j]);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

static int filesystem_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct filesystem *x = c->ctx;
    if (cx->rescan) {
        int rc = vigil__pfile_read(&x->f);
        if (rc) {
            vigil_collect_fail(cx, x->f.path, rc);
        } else if (!x->seen || x->seen_len != x->f.len || memcmp(x->seen, x->f.buf, x->f.len)) {
            char *s = vigil_realloc(x->seen, x->f.len + 1);
            if (!s) {
                return -ENOMEM;
            }
            memcpy(s, x->f.buf, x->f.len);
            x->seen = s;
            x->seen_len = x->f.len;
            if ((rc = mounts_learn(x, cx->set)) != 0) {
                vigil_free(x->seen); /* learn again at the next discovery */
                x->seen = NULL;
                return rc;
            }
        }
    }
    for (size_t i = 0; i < x->n; i++) {
        struct mount *m = &x->m[i];
        struct statvfs s;
        if (statvfs(m->path, &s) != 0) {
            vigil__emit(cx, m->ids[FS_ERR], 1);
            continue;
        }
        double bs = (double)s.f_frsize;
        vigil__emit(cx, m->ids[FS_SIZE], (double)s.f_blocks * bs);
        vigil__emit(cx, m->ids[FS_FREE], (double)s.f_bfree * bs);
        vigil__emit(cx, m->ids[FS_AVAIL], (double)s.f_bavail * bs);
        vigil__emit(cx, m->ids[FS_FILES], (double)s.f_files);
        vigil__emit(cx, m->ids[FS_FILES_FREE], (double)s.f_ffree);
        vigil__emit(cx, m->ids[FS_RO], m->ro);
        vigil__emit(cx, m->ids[FS_ERR], 0);
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_filesystem = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "filesystem",
    .summary = "statvfs on /proc/self/mounts: node_filesystem_*{device,fstype,mountpoint}",
    .opts = filesystem_opts,
    .params_size = sizeof(struct filesystem_params),
    .default_on = 1,
    .init = filesystem_init,
    .collect = filesystem_collect,
    .fini = filesystem_fini,
};
