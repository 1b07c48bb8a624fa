/*
 * Starting and stopping the testbed's processes: fork, then in the child
 * join a network namespace (setns) and cgroups, redirect output and exec an
 * argv resolved through PATH beforehand. Never a shell: arguments are passed
 * as they are. The child only makes async-signal-safe calls between fork
 * and exec (the parent may have threads, such as the NFQUEUE helper), and
 * reports the first failure back through a close-on-exec pipe.
 *
 * It does not decide what to run or where; testbed.c and faults.c do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/log.h"

extern char **environ;

int vigil__which(const char *name, char *out, size_t n)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0 || strlen(name) >= n) {
            return -ENOENT;
        }
        memcpy(out, name, strlen(name) + 1);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) {
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    }
    /* Our tools live in sbin, which a non-login root shell may lack. */
    const char *extra = "/usr/sbin:/sbin:/usr/bin:/bin";
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass == 0 ? path : extra;
        while (*p) {
            const char *e = strchr(p, ':');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len > 0 && len + 1 + strlen(name) < n) {
                memcpy(out, p, len);
                out[len] = '/';
                memcpy(out + len + 1, name, strlen(name) + 1);
                struct stat st;
                if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) {
                    return 0;
                }
            }
            p = e ? e + 1 : p + len;
        }
    }
    return -ENOENT;
}

/* ---- the child side: async-signal-safe only ---- */

/* Reports stage and errno to the parent, then exits without running atexit handlers. */
static void child_fail(int fd, int stage)
{
    int msg[2] = {stage, errno};
    ssize_t w = write(fd, msg, sizeof msg);
    (void)w;
    _exit(127);
}

static size_t fmt_pid(char *out, pid_t pid)
{
    char tmp[24];
    size_t n = 0;
    unsigned long v = (unsigned long)pid;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\n';
    return n + 1;
}

enum { STAGE_SETNS = 1, STAGE_CGROUP, STAGE_CHDIR, STAGE_DUP, STAGE_EXEC, STAGE_PGRP };

static const char *stage_name(int stage)
{
    static const char *const names[] = {"?",        "setns", "cgroup join", "chdir",
                                        "redirect", "exec",  "setpgid"};
    return stage >= 1 && stage <= STAGE_PGRP ? names[stage] : names[0];
}

struct child_fds {
    int report; /* write end of the status pipe */
    int netns;  /* -1 = stay */
    int in;     /* /dev/null */
    int out;
    int err;
    int cg[VIGIL__CG_N + 1]; /* cgroup.procs files, -1 terminated */
};

static void child_main(const struct child_fds *f, const char *exe, char *const argv[],
                       const char *cwd, int new_pgrp)
{
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (new_pgrp && setpgid(0, 0) != 0) {
        child_fail(f->report, STAGE_PGRP);
    }
    if (f->netns >= 0 && setns(f->netns, CLONE_NEWNET) != 0) {
        child_fail(f->report, STAGE_SETNS);
    }
    char pidtxt[32];
    size_t pl = fmt_pid(pidtxt, getpid());
    for (int i = 0; f->cg[i] >= 0; i++) {
        if (write(f->cg[i], pidtxt, pl) != (ssize_t)pl) {
            child_fail(f->report, STAGE_CGROUP);
        }
    }
    if (cwd && chdir(cwd) != 0) {
        child_fail(f->report, STAGE_CHDIR);
    }
    if (dup2(f->in, 0) < 0 || dup2(f->out, 1) < 0 || dup2(f->err, 2) < 0) {
        child_fail(f->report, STAGE_DUP);
    }
    /* Everything else is closed: only stdio and the report pipe (close-on-exec) remain. */
    for (int fd = 3; fd < 1024; fd++) {
        if (fd != f->report) {
            close(fd);
        }
    }
    execve(exe, argv, environ);
    child_fail(f->report, STAGE_EXEC);
}

/* ---- the parent side ---- */

static int open_out(const char *path)
{
    if (!path) {
        return open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void close_fds(struct child_fds *f)
{
    int *all[] = {&f->netns, &f->in, &f->out, &f->err};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i] >= 0) {
            close(*all[i]);
            *all[i] = -1;
        }
    }
    for (int i = 0; i < VIGIL__CG_N + 1 && f->cg[i] >= 0; i++) {
        close(f->cg[i]);
        f->cg[i] = -1;
    }
}

/* Spawns with stdout and stderr going to out_fd when out_fd >= 0 (used by vigil__run). */
static int spawn_fd(const struct vigil__proc_spec *s, int out_fd, pid_t *pid)
{
    char exe[PATH_MAX];
    if (!s->argv || !s->argv[0]) {
        return -EINVAL;
    }
    int rc = vigil__which(s->argv[0], exe, sizeof exe);
    if (rc) {
        return rc;
    }
    struct child_fds f = {.report = -1, .netns = -1, .in = -1, .out = -1, .err = -1};
    for (int i = 0; i < VIGIL__CG_N + 1; i++) {
        f.cg[i] = -1;
    }
    int pipefd[2] = {-1, -1};
    rc = 0;
    if (s->netns && (f.netns = open(s->netns, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    for (int i = 0; s->cgroups && s->cgroups[i] && i < VIGIL__CG_N; i++) {
        if ((f.cg[i] = open(s->cgroups[i], O_WRONLY | O_CLOEXEC)) < 0) {
            rc = -errno;
            goto fail;
        }
    }
    f.in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out_fd >= 0) {
        f.out = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
        f.err = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
    } else {
        f.out = open_out(s->out);
        f.err = s->err ? open_out(s->err) : fcntl(f.out, F_DUPFD_CLOEXEC, 3);
    }
    if (f.in < 0 || f.out < 0 || f.err < 0) {
        rc = -errno;
        goto fail;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = -errno;
        goto fail;
    }
    f.report = pipefd[1];
    pid_t child = fork();
    if (child < 0) {
        rc = -errno;
        goto fail;
    }
    if (child == 0) {
        child_main(&f, exe, (char *const *)s->argv, s->cwd, s->new_pgrp);
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    int msg[2];
    ssize_t got;
    do {
        got = read(pipefd[0], msg, sizeof msg);
    } while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    pipefd[0] = -1;
    if (got == (ssize_t)sizeof msg) {
        int st;
        waitpid(child, &st, 0);
        vigil_debug("spawn: %s: %s: %s", s->argv[0], stage_name(msg[0]), strerror(msg[1]));
        rc = msg[1] ? -msg[1] : -EIO;
        goto fail;
    }
    if (s->new_pgrp) {
        setpgid(child, child); /* also from the parent, so signalling the group cannot race */
    }
    close_fds(&f);
    *pid = child;
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (pipefd[i] >= 0) {
            close(pipefd[i]);
        }
    }
    close_fds(&f);
    return rc;
}

int vigil__spawn(const struct vigil__proc_spec *s, pid_t *pid)
{
    return spawn_fd(s, -1, pid);
}

int vigil__wait(pid_t pid, int64_t timeout_ns, int *status)
{
    int64_t end = vigil_clock_mono_ns() + timeout_ns;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status) {
                *status = st;
            }
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
        if (vigil_clock_mono_ns() >= end) {
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int vigil__stop(pid_t pid, int group, int sig, int64_t grace_ns)
{
    if (pid <= 0) {
        return -EINVAL;
    }
    pid_t target = group ? -pid : pid;
    if (kill(target, sig) != 0 && errno != ESRCH) {
        return -errno;
    }
    int rc = vigil__wait(pid, grace_ns, NULL);
    if (rc == -ETIMEDOUT) {
        kill(target, SIGKILL);
        rc = vigil__wait(pid, (int64_t)5 * 1000000000, NULL);
    } else if (group) {
        kill(target, SIGKILL); /* stragglers of the group after its leader left */
    }
    return rc == -ECHILD ? 0 : rc;
}

int vigil__run(const struct vigil__proc_spec *s, int64_t timeout_ns, char *msg, size_t n)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        return -errno;
    }
    pid_t pid;
    int rc = spawn_fd(s, pfd[1], &pid);
    close(pfd[1]);
    if (rc) {
        close(pfd[0]);
        return rc;
    }
    /* Keep the tail of the output: error messages come last. */
    char tail[1024];
    size_t tl = 0;
    int64_t end = vigil_clock_mono_ns() + timeout_ns;
    int timed_out = 0;
    for (;;) {
        int64_t left = end - vigil_clock_mono_ns();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int pr = poll(&p, 1, (int)(left / 1000000 + 1));
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            continue;
        }
        char chunk[512];
        ssize_t got = read(pfd[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break; /* EOF: the child closed its output (it exits next) */
        }
        for (ssize_t i = 0; i < got; i++) {
            if (tl == sizeof tail) {
                memmove(tail, tail + sizeof tail / 2, sizeof tail / 2);
                tl = sizeof tail / 2;
            }
            tail[tl++] = chunk[i];
        }
    }
    close(pfd[0]);
    int st = 0;
    if (timed_out) {
        vigil__stop(pid, 0, SIGKILL, (int64_t)1000000000);
        rc = -ETIMEDOUT;
    } else {
        rc = vigil__wait(pid, end - vigil_clock_mono_ns() + (int64_t)1000000000, &st);
        if (rc == -ETIMEDOUT) {
            vigil__stop(pid, 0, SIGKILL, (int64_t)1000000000);
        }
    }
    while (tl > 0 && (tail[tl - 1] == '\n' || tail[tl - 1] == ' ')) {
        tl--;
    }
    if (msg && n > 0) {
        size_t k = tl < n - 1 ? tl : n - 1;
        memcpy(msg, tail + (tl - k), k);
        msg[k] = '\0';
    }
    if (rc) {
        return rc;
    }
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int vigil__run_argv(const char *const *argv, char *msg, size_t n)
{
    struct vigil__proc_spec s = {.argv = argv};
    return vigil__run(&s, (int64_t)10 * 1000000000, msg, n);
}

size_t vigil__netns_pids(const char *netns_path, pid_t *pids, size_t max)
{
    struct stat want;
    if (stat(netns_path, &want) != 0) {
        return 0;
    }
    DIR *d = opendir("/proc");
    if (!d) {
        return 0;
    }
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) {
            continue;
        }
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/ns/net", pid);
        struct stat st;
        if (stat(path, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev) {
            pids[n++] = (pid_t)pid;
        }
    }
    closedir(d);
    return n;
}
