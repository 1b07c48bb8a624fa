/*
 * Processes by name (optional, off by default), with process-exporter's
 * names: namedprocess_namegroup_{num_procs, cpu_seconds_total{mode},
 * memory_bytes{memtype}, num_threads, open_filedesc, read_bytes_total,
 * write_bytes_total, major_page_faults_total, minor_page_faults_total,
 * context_switches_total{ctxswitchtype}}{groupname}, one entity per group
 * ("process:<groupname>").
 *
 * Groups come from the configuration only, so their number is bounded:
 * `process.names` lists process names (the kernel's comm, /proc/PID/comm),
 * each a group of its own, reported even while no such process runs
 * (num_procs 0); `process.regex` is a POSIX extended regex matched against
 * the command line (argv joined by spaces, or comm when empty), grouped by
 * its first parenthesized subexpression when it has one, else by comm.
 *
 * Discovery scans /proc under the root every rescan and keeps, for each
 * matching process, /proc/PID/{stat,status,io} open; every tick re-reads them
 * into one scratch buffer and counts the entries of /proc/PID/fd. A process
 * that exits fails its next read (ESRCH) or is missing at the next rescan, and
 * drops out without an error; a PID reused by another process is told apart
 * by its start time. Counters stay monotonic as members come and go, as in
 * process-exporter: a group's total adds each member's increase since the
 * previous tick, a process first seen adds its whole count, and an exited
 * process's share stays in the total.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/log.h"
#include "vigil/mem.h"

#define GROUP_NAME_MAX 64
#define CMDLINE_MAX 4096

/* ---- series per group ---- */

enum ctr { C_USER, C_SYS, C_MAJFLT, C_MINFLT, C_READ, C_WRITE, C_VCS, C_NVCS, C_N };
enum gau { G_PROCS, G_RSS, G_VSZ, G_SWAP, G_THREADS, G_FDS, G_N };
enum { S_PER_GROUP = C_N + G_N };

static const struct {
    const char *name;
    const char *lname, *lvalue; /* a second label, or NULL */
    enum vigil_kind kind;
    enum vigil_group group;
    const char *help;
} slots[S_PER_GROUP] = {
    [C_USER] = {"namedprocess_namegroup_cpu_seconds_total", "mode", "user", VIGIL_KIND_COUNTER,
                VIGIL_GROUP_CPU, "CPU time in seconds, by mode."},
    [C_SYS] = {"namedprocess_namegroup_cpu_seconds_total", "mode", "system", VIGIL_KIND_COUNTER,
               VIGIL_GROUP_CPU, "CPU time in seconds, by mode."},
    [C_MAJFLT] = {"namedprocess_namegroup_major_page_faults_total", NULL, NULL, VIGIL_KIND_COUNTER,
                  VIGIL_GROUP_MEMORY, "Major page faults."},
    [C_MINFLT] = {"namedprocess_namegroup_minor_page_faults_total", NULL, NULL, VIGIL_KIND_COUNTER,
                  VIGIL_GROUP_MEMORY, "Minor page faults."},
    [C_READ] = {"namedprocess_namegroup_read_bytes_total", NULL, NULL, VIGIL_KIND_COUNTER,
                VIGIL_GROUP_FILESYSTEM, "Number of bytes read."},
    [C_WRITE] = {"namedprocess_namegroup_write_bytes_total", NULL, NULL, VIGIL_KIND_COUNTER,
                 VIGIL_GROUP_FILESYSTEM, "Number of bytes written."},
    [C_VCS] = {"namedprocess_namegroup_context_switches_total", "ctxswitchtype", "voluntary",
               VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU, "Context switches."},
    [C_NVCS] = {"namedprocess_namegroup_context_switches_total", "ctxswitchtype", "nonvoluntary",
                VIGIL_KIND_COUNTER, VIGIL_GROUP_CPU, "Context switches."},
    [C_N + G_PROCS] = {"namedprocess_namegroup_num_procs", NULL, NULL, VIGIL_KIND_GAUGE,
                       VIGIL_GROUP_OTHER, "Number of processes in this group."},
    [C_N + G_RSS] = {"namedprocess_namegroup_memory_bytes", "memtype", "resident", VIGIL_KIND_GAUGE,
                     VIGIL_GROUP_MEMORY, "Number of bytes of memory in use."},
    [C_N + G_VSZ] = {"namedprocess_namegroup_memory_bytes", "memtype", "virtual", VIGIL_KIND_GAUGE,
                     VIGIL_GROUP_MEMORY, "Number of bytes of memory in use."},
    [C_N + G_SWAP] = {"namedprocess_namegroup_memory_bytes", "memtype", "swapped", VIGIL_KIND_GAUGE,
                      VIGIL_GROUP_MEMORY, "Number of bytes of memory in use."},
    [C_N + G_THREADS] = {"namedprocess_namegroup_num_threads", NULL, NULL, VIGIL_KIND_GAUGE,
                         VIGIL_GROUP_OTHER, "Number of threads."},
    [C_N + G_FDS] = {"namedprocess_namegroup_open_filedesc", NULL, NULL, VIGIL_KIND_GAUGE,
                     VIGIL_GROUP_OTHER, "Number of open file descriptors for this group."},
};

/* ---- options and state ---- */

struct process_params {
    char *names;
    char *regex;
    int max;
    int groups;
};

static const struct vigil_opt process_opts[] = {
    {"names", VIGIL_OPT_STR, offsetof(struct process_params, names), "", 0, 0,
     "comma list of process names (comm), one group each", NULL},
    {"regex", VIGIL_OPT_STR, offsetof(struct process_params, regex), "", 0, 0,
     "POSIX ERE on the command line; groups by its first (...) or by comm", NULL},
    {"max", VIGIL_OPT_INT, offsetof(struct process_params, max), "256", 1, 100000,
     "most processes followed", NULL},
    {"groups", VIGIL_OPT_INT, offsetof(struct process_params, groups), "64", 1, 4096, "most groups",
     NULL},
    {0},
};

struct pgroup {
    char name[GROUP_NAME_MAX];
    uint32_t ids[S_PER_GROUP];
    double total[C_N]; /* monotonic sums (see the top of the file); cpu in clock ticks */
    double gauge[G_N]; /* this tick */
    unsigned have;     /* bit per counter some member ever reported */
};

struct proc {
    int pid;
    uint64_t start; /* starttime, clock ticks since boot: a reused PID differs */
    size_t group;
    int fd_stat, fd_status, fd_io; /* fd_io -1 when /proc/PID/io is not readable */
    double last[C_N];
    unsigned have; /* bit per counter read at least once */
    uint64_t gen;
    int dead;
};

struct process {
    char *proc_dir; /* root + "/proc"; owned */
    char (*names)[GROUP_NAME_MAX];
    size_t n_names;
    regex_t re;
    int have_re;
    struct pgroup *g; /* (max_groups) */
    size_t n_groups, max_groups;
    struct proc *p; /* (max) */
    size_t n, max;
    uint64_t gen;
    double hz, page;
    char buf[8192]; /* scratch for one file */
};

/* ---- small file reads ---- */

/* Reads fd from offset 0 into x->buf (NUL-terminated). Returns the length or -errno. */
static ssize_t read_fd(struct process *x, int fd)
{
    size_t n = 0;
    while (n < sizeof x->buf - 1) {
        ssize_t r = pread(fd, x->buf + n, sizeof x->buf - 1 - n, (off_t)n);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    x->buf[n] = '\0';
    return (ssize_t)n;
}

static int open_at(const struct process *x, int pid, const char *file)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/%s", x->proc_dir, pid, file);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Opens, reads and closes /proc/PID/file into x->buf. Returns the length or -errno. */
static ssize_t read_once(struct process *x, int pid, const char *file)
{
    int fd = open_at(x, pid, file);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read_fd(x, fd);
    close(fd);
    return n;
}

/* Counts the entries of /proc/PID/fd with getdents64 (no allocation). -errno on failure. */
static long count_fds(const struct process *x, int pid)
{
    int fd = open_at(x, pid, "fd");
    if (fd < 0) {
        return -errno;
    }
    char buf[4096];
    long n = 0;
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (r <= 0) {
            n = r < 0 ? -errno : n;
            break;
        }
        for (long o = 0; o < r;) {
            unsigned short reclen;
            memcpy(&reclen, buf + o + 16, sizeof reclen); /* d_reclen after d_ino, d_off */
            const char *name = buf + o + 19;              /* d_name after d_type */
            n += name[0] != '.';
            o += reclen ? reclen : r;
        }
    }
    close(fd);
    return n;
}

/* ---- parsing /proc/PID/{stat,status,io} ---- */

struct sample {
    uint64_t start;
    double c[C_N];
    unsigned have;
    double g[G_N];
};

/* /proc/PID/stat: fields after the last ')' (comm may hold spaces and parens). */
static int parse_stat(const struct process *x, const char *p, size_t n, struct sample *s)
{
    const char *end = p + n, *rp = NULL;
    for (const char *q = p; q < end; q++) {
        if (*q == ')') {
            rp = q;
        }
    }
    if (!rp) {
        return VIGIL_EPARSE;
    }
    /* Field 3 (state) is the first token after ") ". */
    const char *q = rp + 1, *tok;
    size_t tl;
    uint64_t f[25] = {0};
    for (int i = 3; i <= 24; i++) {
        q = vigil__token(q, end, &tok, &tl);
        if (!q) {
            return VIGIL_EPARSE;
        }
        if (i >= 10 && !vigil__pf_u64(tok, tok + tl, &f[i]) && i != 19 && i != 18) {
            return VIGIL_EPARSE; /* priority and nice (18, 19) may be negative: unused */
        }
    }
    s->c[C_MINFLT] = (double)f[10];
    s->c[C_MAJFLT] = (double)f[12];
    s->c[C_USER] = (double)f[14]; /* clock ticks: summed exactly, scaled when emitted */
    s->c[C_SYS] = (double)f[15];
    s->have |= 1u << C_MINFLT | 1u << C_MAJFLT | 1u << C_USER | 1u << C_SYS;
    s->g[G_THREADS] = (double)f[20];
    s->start = f[22];
    s->g[G_VSZ] = (double)f[23];
    s->g[G_RSS] = (double)f[24] * x->page;
    return 0;
}

/* Value of "key:<blanks>N" in a status or io file; 0 when absent, 1 when found. */
static int kv_find(const char *p, size_t n, const char *key, uint64_t *v)
{
    size_t kl = strlen(key);
    const char *end = p + n;
    while (p < end) {
        const char *le = vigil__line_end(p, end);
        if ((size_t)(le - p) > kl && memcmp(p, key, kl) == 0 && p[kl] == ':') {
            return vigil__pf_u64(p + kl + 1, le, v) != NULL;
        }
        p = le + 1;
    }
    return 0;
}

/* Reads one process. Returns 0, 1 when it is gone (or its PID was reused), or -errno. */
static int read_proc(struct process *x, struct proc *pr, struct sample *s)
{
    memset(s, 0, sizeof *s);
    ssize_t n = read_fd(x, pr->fd_stat);
    if (n == -ESRCH || n == -ENOENT || n == 0) {
        return 1;
    }
    if (n < 0) {
        return (int)n;
    }
    if (parse_stat(x, x->buf, (size_t)n, s)) {
        return VIGIL_EPARSE;
    }
    if (s->start != pr->start) {
        return 1;
    }
    n = read_fd(x, pr->fd_status);
    if (n == -ESRCH) {
        return 1;
    }
    uint64_t v;
    if (n > 0) {
        if (kv_find(x->buf, (size_t)n, "voluntary_ctxt_switches", &v)) {
            s->c[C_VCS] = (double)v;
            s->have |= 1u << C_VCS;
        }
        if (kv_find(x->buf, (size_t)n, "nonvoluntary_ctxt_switches", &v)) {
            s->c[C_NVCS] = (double)v;
            s->have |= 1u << C_NVCS;
        }
        if (kv_find(x->buf, (size_t)n, "VmSwap", &v)) {
            s->g[G_SWAP] = (double)v * 1024; /* kB */
        }
    }
    if (pr->fd_io >= 0 && (n = read_fd(x, pr->fd_io)) > 0) {
        if (kv_find(x->buf, (size_t)n, "read_bytes", &v)) {
            s->c[C_READ] = (double)v;
            s->have |= 1u << C_READ;
        }
        if (kv_find(x->buf, (size_t)n, "write_bytes", &v)) {
            s->c[C_WRITE] = (double)v;
            s->have |= 1u << C_WRITE;
        }
    }
    long fds = count_fds(x, pr->pid);
    s->g[G_FDS] = fds > 0 ? (double)fds : 0;
    return 0;
}

/* ---- groups and discovery ---- */

/* Finds or adds group name; SIZE_MAX when the group table is full or on OOM (*rc). */
static size_t group_get(struct process *x, struct vigil_collect *set, const char *name, size_t nl,
                        int *rc)
{
    *rc = 0;
    if (nl == 0 || nl >= GROUP_NAME_MAX) {
        return SIZE_MAX;
    }
    for (size_t i = 0; i < x->n_groups; i++) {
        if (strlen(x->g[i].name) == nl && memcmp(x->g[i].name, name, nl) == 0) {
            return i;
        }
    }
    if (x->n_groups >= x->max_groups) {
        *rc = -E2BIG;
        return SIZE_MAX;
    }
    struct pgroup *g = &x->g[x->n_groups];
    memset(g, 0, sizeof *g);
    memcpy(g->name, name, nl);
    char entity[GROUP_NAME_MAX + 16];
    snprintf(entity, sizeof entity, "process:%s", g->name);
    for (int k = 0; k < S_PER_GROUP; k++) {
        struct vigil_label_ref l[2] = {VIGIL__LBL("groupname", g->name, nl)};
        size_t n_l = 1;
        if (slots[k].lname) {
            l[n_l++] = (struct vigil_label_ref){slots[k].lname, strlen(slots[k].lname),
                                                slots[k].lvalue, strlen(slots[k].lvalue)};
        }
        *rc = vigil__intern(set, slots[k].name, l, n_l, slots[k].kind, slots[k].group, entity,
                            slots[k].help, &g->ids[k]);
        if (*rc) {
            return SIZE_MAX;
        }
    }
    return x->n_groups++;
}

/* The group process pid with comm belongs to, or SIZE_MAX. */
static size_t match(struct process *x, struct vigil_collect *set, int pid, const char *comm,
                    int *rc)
{
    *rc = 0;
    for (size_t i = 0; i < x->n_names; i++) {
        if (strcmp(x->names[i], comm) == 0) {
            return group_get(x, set, comm, strlen(comm), rc);
        }
    }
    if (!x->have_re) {
        return SIZE_MAX;
    }
    char cmd[CMDLINE_MAX];
    ssize_t n = read_once(x, pid, "cmdline");
    if (n < 0) {
        return SIZE_MAX; /* gone meanwhile */
    }
    size_t l = (size_t)n < sizeof cmd - 1 ? (size_t)n : sizeof cmd - 1;
    memcpy(cmd, x->buf, l);
    while (l > 0 && cmd[l - 1] == '\0') {
        l--;
    }
    for (size_t i = 0; i < l; i++) {
        if (cmd[i] == '\0') {
            cmd[i] = ' ';
        }
    }
    cmd[l] = '\0';
    const char *subject = l ? cmd : comm;
    regmatch_t m[2];
    if (regexec(&x->re, subject, 2, m, 0) != 0) {
        return SIZE_MAX;
    }
    if (m[1].rm_so >= 0 && m[1].rm_eo > m[1].rm_so) {
        return group_get(x, set, subject + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so), rc);
    }
    return group_get(x, set, comm, strlen(comm), rc);
}

static void proc_close(struct proc *pr)
{
    if (pr->fd_stat >= 0) {
        close(pr->fd_stat);
    }
    if (pr->fd_status >= 0) {
        close(pr->fd_status);
    }
    if (pr->fd_io >= 0) {
        close(pr->fd_io);
    }
    pr->fd_stat = pr->fd_status = pr->fd_io = -1;
}

/* Adds process pid to group g; 0 when it exited meanwhile. */
static int proc_add(struct process *x, int pid, size_t g)
{
    struct proc *pr = &x->p[x->n];
    memset(pr, 0, sizeof *pr);
    pr->pid = pid;
    pr->group = g;
    pr->fd_stat = open_at(x, pid, "stat");
    pr->fd_status = open_at(x, pid, "status");
    pr->fd_io = open_at(x, pid, "io"); /* EACCES for other users' processes unless root */
    struct sample s;
    ssize_t n = pr->fd_stat >= 0 && pr->fd_status >= 0 ? read_fd(x, pr->fd_stat) : -1;
    if (n <= 0 || parse_stat(x, x->buf, (size_t)n, &s)) {
        proc_close(pr);
        return 0;
    }
    pr->start = s.start;
    pr->gen = x->gen;
    x->n++;
    return 1;
}

static int discover(struct process *x, struct vigil_collect_cx *cx)
{
    x->gen++;
    DIR *d = opendir(x->proc_dir);
    if (!d) {
        vigil_collect_fail(cx, x->proc_dir, -errno);
        return 0;
    }
    struct dirent *e;
    int full = 0, rc = 0;
    while (!rc && (e = readdir(d)) != NULL) {
        uint64_t pid;
        const char *name_end = e->d_name + strlen(e->d_name);
        if (vigil__pf_u64(e->d_name, name_end, &pid) != name_end || pid == 0 || pid > INT32_MAX) {
            continue;
        }
        int found = 0;
        for (size_t i = 0; i < x->n && !found; i++) {
            if (x->p[i].pid == (int)pid && !x->p[i].dead) {
                x->p[i].gen = x->gen;
                found = 1;
            }
        }
        if (found) {
            continue;
        }
        ssize_t n = read_once(x, (int)pid, "comm");
        if (n <= 0) {
            continue; /* exited meanwhile, or not a process directory */
        }
        char comm[64];
        size_t cl = (size_t)n < sizeof comm - 1 ? (size_t)n : sizeof comm - 1;
        memcpy(comm, x->buf, cl);
        while (cl > 0 && comm[cl - 1] == '\n') {
            cl--;
        }
        comm[cl] = '\0';
        size_t g = match(x, cx->set, (int)pid, comm, &rc);
        if (rc == -E2BIG) {
            full = 1;
            rc = 0;
        }
        if (g == SIZE_MAX) {
            continue;
        }
        if (x->n >= x->max) {
            full = 1;
            continue;
        }
        proc_add(x, (int)pid, g);
    }
    closedir(d);
    if (full) {
        vigil_collect_fail(cx, "more processes or groups than process.max or process.groups",
                           -E2BIG);
    }
    return rc;
}

/* ---- the collector ---- */

static void process_fini(struct vigil_collector *c)
{
    struct process *x = c->ctx;
    if (x) {
        for (size_t i = 0; i < x->n; i++) {
            proc_close(&x->p[i]);
        }
        if (x->have_re) {
            regfree(&x->re);
        }
        vigil_free(x->names);
        vigil_free(x->g);
        vigil_free(x->p);
        vigil_free(x->proc_dir);
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int process_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    const struct process_params *pp = params;
    struct process *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    char dir[4096];
    if (vigil__path(dir, sizeof dir, root, "proc")) {
        return VIGIL_ECONFIG;
    }
    x->proc_dir = vigil_strdup(dir);
    x->max = (size_t)pp->max;
    x->max_groups = (size_t)pp->groups;
    x->p = vigil_calloc(x->max, sizeof *x->p);
    x->g = vigil_calloc(x->max_groups, sizeof *x->g);
    size_t n_names = 0;
    const char *names = pp->names ? pp->names : "";
    for (const char *q = names; *q; q++) {
        n_names += *q == ',';
    }
    x->names = vigil_calloc(n_names + 1, sizeof *x->names);
    if (!x->proc_dir || !x->p || !x->g || !x->names) {
        return -ENOMEM;
    }
    if (pp->regex && *pp->regex) {
        if (regcomp(&x->re, pp->regex, REG_EXTENDED) != 0) {
            vigil_error("process: regex: cannot compile '%s'", pp->regex);
            return VIGIL_ECONFIG;
        }
        x->have_re = 1;
    }
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    x->hz = hz > 0 ? (double)hz : 100.0;
    x->page = page > 0 ? (double)page : 4096.0;
    /* Every listed name is a group from the start: num_procs 0 says it is not running. */
    for (const char *q = names; *q;) {
        const char *e = strchr(q, ',');
        size_t l = e ? (size_t)(e - q) : strlen(q);
        if (l > 0 && l < 16) { /* comm holds at most 15 bytes */
            memcpy(x->names[x->n_names++], q, l);
            int rc;
            if (group_get(x, set, q, l, &rc) == SIZE_MAX && rc) {
                return rc == -E2BIG ? VIGIL_ECONFIG : rc;
            }
        } else if (l > 0) {
            vigil_error("process: names: '%.*s' is longer than a comm (15 bytes)", (int)l, q);
            return VIGIL_ECONFIG;
        }
        q += l + (e ? 1 : 0);
    }
    if (!x->n_names && !x->have_re) {
        vigil_error("process: set process.names or process.regex");
        return VIGIL_ECONFIG;
    }
    if (access(x->proc_dir, R_OK | X_OK) != 0) {
        return VIGIL_ENOTSUP;
    }
    return 0;
}

static int process_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct process *x = c->ctx;
    if (cx->rescan) {
        int rc = discover(x, cx);
        if (rc == -ENOMEM) {
            return rc;
        }
    }
    for (size_t i = 0; i < x->n_groups; i++) {
        memset(x->g[i].gauge, 0, sizeof x->g[i].gauge);
    }
    for (size_t i = 0; i < x->n; i++) {
        struct proc *pr = &x->p[i];
        struct sample s;
        int rc = pr->gen == x->gen ? read_proc(x, pr, &s) : 1; /* not seen at the rescan */
        if (rc == 1) {
            pr->dead = 1;
            continue;
        }
        if (rc < 0) {
            vigil_collect_fail(cx, "proc/PID/stat", rc);
            continue;
        }
        struct pgroup *g = &x->g[pr->group];
        for (int k = 0; k < C_N; k++) {
            if (!((s.have >> k) & 1)) {
                continue;
            }
            /* First sight adds the whole count; then the increase (a drop counts as 0). */
            double d = ((pr->have >> k) & 1) ? s.c[k] - pr->last[k] : s.c[k];
            g->total[k] += d > 0 ? d : 0;
            pr->last[k] = s.c[k];
            pr->have |= 1u << k;
            g->have |= 1u << k;
        }
        g->gauge[G_PROCS] += 1;
        for (int k = 1; k < G_N; k++) {
            g->gauge[k] += s.g[k];
        }
    }
    /* Drop the processes that exited (their counts stay in the group totals). */
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (x->p[i].dead) {
            proc_close(&x->p[i]);
        } else {
            x->p[k++] = x->p[i];
        }
    }
    x->n = k;
    for (size_t i = 0; i < x->n_groups; i++) {
        const struct pgroup *g = &x->g[i];
        for (int j = 0; j < C_N; j++) {
            if ((g->have >> j) & 1) {
                vigil__emit(cx, g->ids[j],
                            j == C_USER || j == C_SYS ? g->total[j] / x->hz : g->total[j]);
            }
        }
        for (int j = 0; j < G_N; j++) {
            vigil__emit(cx, g->ids[C_N + j], g->gauge[j]);
        }
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_process = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "process",
    .summary = "processes by name: namedprocess_namegroup_*{groupname} (process-exporter names)",
    .opts = process_opts,
    .params_size = sizeof(struct process_params),
    .default_on = 0,
    .init = process_init,
    .collect = process_collect,
    .fini = process_fini,
};
