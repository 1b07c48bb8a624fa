/*
 * `vigil campaign clean`: removes what crashed runs left behind. It acts on
 * the state files in /run/vigil-camp (written by the testbed before each
 * object is made) and on namespaces and cgroups named vigil-camp-<id>-<vm>
 * that no state file lists. A run whose vigil process is still alive is left
 * alone. Nothing whose name fails vigil__is_our_name is touched, whatever a
 * state file says.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/lines.h"
#include "vigil/log.h"
#include "vigil/mem.h"

#define MAX_LIVE 64

struct live {
    char tag[MAX_LIVE][VIGIL__NAME_MAX];
    size_t n;
};

static int is_live_vigil(long pid)
{
    if (pid <= 1 || kill((pid_t)pid, 0) != 0) {
        return 0;
    }
    char path[64], comm[32];
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    if (vigil__read_small(path, comm, sizeof comm) <= 0) {
        return 0;
    }
    return strncmp(comm, "vigil", 5) == 0;
}

/* "vigil-camp-abc123-pcscf" -> "vigil-camp-abc123" */
static void tag_of(const char *name, char *tag, size_t n)
{
    size_t l = strlen(VIGIL__PREFIX) + VIGIL__RUN_ID_LEN;
    snprintf(tag, n, "%.*s", (int)l, name);
}

static int is_live_tag(const struct live *lv, const char *name)
{
    char tag[VIGIL__NAME_MAX];
    tag_of(name, tag, sizeof tag);
    for (size_t i = 0; i < lv->n; i++) {
        if (strcmp(lv->tag[i], tag) == 0) {
            return 1;
        }
    }
    return 0;
}

static int remove_netns(const char *name, size_t *removed)
{
    if (!vigil__is_our_name(name)) {
        vigil_warn("clean: refusing namespace '%s': not one of ours", name);
        return 0;
    }
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", name);
    struct stat st;
    if (stat(path, &st) != 0) {
        return 0;
    }
    pid_t pids[512];
    size_t n = vigil__netns_pids(path, pids, 512);
    for (size_t i = 0; i < n; i++) {
        if (pids[i] != getpid()) {
            kill(pids[i], SIGKILL);
        }
    }
    const char *argv[] = {"ip", "netns", "del", name, NULL};
    char msg[256];
    int rc = vigil__run_argv(argv, msg, sizeof msg);
    if (rc != 0) {
        vigil_error("clean: ip netns del %s: %s", name, rc > 0 ? msg : vigil_strerror(rc));
        return rc > 0 ? -EIO : rc;
    }
    vigil_info("clean: removed namespace %s (%zu processes killed)", name, n);
    (*removed)++;
    return 0;
}

static int remove_cgroup_at(const char *dir, size_t *removed, int depth)
{
    const char *base = strrchr(dir, '/');
    if (!base || !vigil__is_our_name(base + 1) || strstr(dir, "/../") ||
        strncmp(dir, "/sys/fs/cgroup/", 15) != 0) {
        vigil_warn("clean: refusing cgroup '%s': not one of ours", dir);
        return 0;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        return 0;
    }
    /* A run's cgroup holds its VMs' cgroups: those go first (one level, all ours). */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_type == DT_DIR && vigil__is_our_name(e->d_name) && strlen(dir) < 3000) {
                char sub[PATH_MAX];
                snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
                if (depth < 1) {
                    remove_cgroup_at(sub, removed, depth + 1);
                }
            }
        }
        closedir(d);
    }
    vigil__cg_kill_dir(dir, SIGKILL);
    for (int tries = 0; tries < 250; tries++) {
        if (rmdir(dir) == 0) {
            vigil_info("clean: removed cgroup %s", dir);
            (*removed)++;
            return 0;
        }
        if (errno == ENOENT) {
            return 0;
        }
        vigil__cg_kill_dir(dir, SIGKILL);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int e = errno;
    vigil_error("clean: rmdir %s: %s", dir, strerror(e));
    return -e;
}

static int remove_cgroup(const char *dir, size_t *removed)
{
    return remove_cgroup_at(dir, removed, 0);
}

/* Deletes a recorded rule if its namespace still exists (the namespace's removal would too). */
static void remove_rule(const char *tag, char *line)
{
    /* "<netns> <table> <chain> <spec...>" */
    const char *argv[48];
    size_t k = 0;
    char *f[4] = {NULL};
    char *p = line;
    for (int i = 0; i < 3; i++) {
        f[i] = p;
        p = strchr(p, ' ');
        if (!p) {
            return;
        }
        *p++ = '\0';
    }
    if (!vigil__is_our_name(f[0])) {
        return;
    }
    char ns[128];
    snprintf(ns, sizeof ns, "/run/netns/%s", f[0]);
    struct stat st;
    if (stat(ns, &st) != 0) {
        return;
    }
    const char *head[] = {"iptables", "-w", "5", "-t", f[1], "-D", f[2]};
    for (size_t i = 0; i < 7; i++) {
        argv[k++] = head[i];
    }
    while (p && *p && k < 40) {
        argv[k++] = p;
        p = strchr(p, ' ');
        if (p) {
            *p++ = '\0';
        }
    }
    argv[k++] = "-m";
    argv[k++] = "comment";
    argv[k++] = "--comment";
    argv[k++] = tag;
    argv[k] = NULL;
    struct vigil__proc_spec s = {.argv = argv, .netns = ns};
    char msg[256];
    vigil__run(&s, (int64_t)10 * 1000000000, msg, sizeof msg);
}

static int clean_state(const char *path, struct live *lv, size_t *removed)
{
    char *text;
    size_t n;
    int rc = vigil_read_file(path, 1 << 20, &text, &n);
    if (rc) {
        return rc;
    }
    char tag[VIGIL__NAME_MAX] = "";
    int first = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (strncmp(line, "run ", 4) == 0) {
            char *sp = strchr(line + 4, ' ');
            long pid = sp ? strtol(sp + 1, NULL, 10) : 0;
            snprintf(tag, sizeof tag, "%.*s", sp ? (int)(sp - line - 4) : 0, line + 4);
            if (!vigil__is_our_name(tag)) {
                vigil_warn("clean: %s: bad run tag; skipped", path);
                break;
            }
            if (is_live_vigil(pid)) {
                vigil_info("clean: %s belongs to running process %ld; left alone", tag, pid);
                if (lv->n < MAX_LIVE) {
                    snprintf(lv->tag[lv->n++], sizeof lv->tag[0], "%s", tag);
                }
                vigil_free(text);
                return 0;
            }
        } else if (tag[0] && strncmp(line, "rule ", 5) == 0) {
            remove_rule(tag, line + 5);
        }
        line = nl ? nl + 1 : NULL;
    }
    /* Second pass: namespaces (their processes and veths go with them), then cgroups. */
    vigil_free(text);
    if ((rc = vigil_read_file(path, 1 << 20, &text, &n))) {
        return rc;
    }
    for (int pass = 0; pass < 2 && tag[0]; pass++) {
        const char *want = pass == 0 ? "netns " : "cgroup ";
        for (char *line = text; line && *line;) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            char one[700];
            snprintf(one, sizeof one, "%.*s", (int)len, line);
            if (strncmp(one, want, strlen(want)) == 0) {
                const char *arg = one + strlen(want);
                rc = pass == 0 ? remove_netns(arg, removed) : remove_cgroup(arg, removed);
                if (rc && !first) {
                    first = rc;
                }
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    vigil_free(text);
    if (first == 0 && tag[0]) {
        unlink(path);
        vigil_info("clean: %s done", tag);
    }
    return first;
}

int vigil_campaign_clean(size_t *removed)
{
    *removed = 0;
    if (geteuid() != 0) {
        vigil_error("clean: needs root");
        return -EPERM;
    }
    struct live lv = {.n = 0};
    int first = 0;
    DIR *d = opendir(VIGIL__STATE_DIR);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 7 || strcmp(e->d_name + l - 6, ".state") != 0) {
                continue;
            }
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", VIGIL__STATE_DIR, e->d_name);
            int rc = clean_state(path, &lv, removed);
            if (rc && !first) {
                first = rc;
            }
        }
        closedir(d);
    }
    /* Namespaces of ours that no state file listed. */
    d = opendir("/run/netns");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (vigil__is_our_name(e->d_name) && !is_live_tag(&lv, e->d_name)) {
                int rc = remove_netns(e->d_name, removed);
                if (rc && !first) {
                    first = rc;
                }
            }
        }
        closedir(d);
    }
    /* Cgroups of ours under our own cgroup in each hierarchy. */
    int v2[VIGIL__CG_N];
    char parent[VIGIL__CG_N][512];
    if (vigil__cg_parents("", v2, parent) == 0) {
        for (int c = 0; c < VIGIL__CG_N; c++) {
            if (!parent[c][0] || !(d = opendir(parent[c]))) {
                continue;
            }
            struct dirent *e;
            while ((e = readdir(d))) {
                if (vigil__is_our_name(e->d_name) && !is_live_tag(&lv, e->d_name)) {
                    char dir[PATH_MAX];
                    snprintf(dir, sizeof dir, "%s/%s", parent[c], e->d_name);
                    int rc = remove_cgroup(dir, removed);
                    if (rc && !first) {
                        first = rc;
                    }
                }
            }
            closedir(d);
        }
    }
    return first;
}
