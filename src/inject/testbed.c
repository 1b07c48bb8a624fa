/*
 * The SIP testbed: "VMs" are network namespaces, each with its own cgroup,
 * joined in a chain by veth pairs whose both ends are created directly
 * inside the namespaces (no interface ever appears in the host's namespace,
 * so no packet can leave the machine):
 *
 *     uac 10.77.1.1 --- 10.77.1.2 pcscf 10.77.2.1 --- 10.77.2.2 [scscf 10.77.3.1 --- 10.77.3.2] uas
 *
 * The caller and callee are SIPp's built-in uac and uas scenarios; the
 * proxies are Kamailio with a generated stateless configuration that sends
 * every request to the next hop (replies follow their Via headers).
 *
 * Every object is written to the state file before it is made, so a crash at
 * any point leaves a record that `vigil campaign clean` can act on. Teardown
 * goes on after errors and removes only what this testbed made.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/lines.h"
#include "vigil/log.h"
#include "vigil/mem.h"

#define SEC ((int64_t)1000000000)
#define MAX_RULES 32
#define MAX_ARGS 40

struct rule {
    int vm;
    char table[16];
    char chain[16];
    char spec[512]; /* arguments joined by spaces (none of ours contains one) */
};

struct vm {
    int present;
    char name[VIGIL__NAME_MAX];
    char netns[80];
    char dir[PATH_MAX];
    char addr[2][20]; /* eth0, eth1 */
    size_t n_if;
    int ns_made;
    struct vigil__cg cg;
    int cg_made;
    pid_t anchor; /* "sleep infinity" in the namespace: a stable /proc/PID/net for the collector */
    pid_t pid;
    /* argv of the main process, kept to restart it */
    char *argv_buf[MAX_ARGS];
    size_t argc;
    char log[64];
};

struct vigil_testbed {
    struct vigil_testbed_params p;
    char id[VIGIL__RUN_ID_LEN + 1];
    char tag[VIGIL__NAME_MAX];
    char state_path[128];
    int state_fd;
    char workdir[PATH_MAX];
    char sipp_stat[PATH_MAX];
    int v2[VIGIL__CG_N];
    char parent[VIGIL__CG_N][512];
    struct vigil__cg run_cg; /* vigil-camp-<id>: holds the VMs' cgroups and the anchors */
    int run_cg_made;
    struct vm vm[VIGIL_VM_COUNT];
    struct rule rules[MAX_RULES];
    size_t n_rules;
};

static const char *const if_names[2] = {"eth0", "eth1"};

/* ---- accessors for faults.c and campaign.c ---- */

const char *vigil__tb_netns(const struct vigil_testbed *tb, int vm)
{
    return vm >= 0 && vm < VIGIL_VM_COUNT && tb->vm[vm].present ? tb->vm[vm].netns : NULL;
}

struct vigil__cg *vigil__tb_cg(struct vigil_testbed *tb, int vm)
{
    return vm >= 0 && vm < VIGIL_VM_COUNT && tb->vm[vm].cg_made ? &tb->vm[vm].cg : NULL;
}

const char *vigil__tb_dir(const struct vigil_testbed *tb, int vm)
{
    return vm >= 0 && vm < VIGIL_VM_COUNT && tb->vm[vm].present ? tb->vm[vm].dir : NULL;
}

pid_t vigil__tb_pid(const struct vigil_testbed *tb, int vm)
{
    return vm >= 0 && vm < VIGIL_VM_COUNT && tb->vm[vm].present ? tb->vm[vm].pid : 0;
}

size_t vigil__tb_ifaces(const struct vigil_testbed *tb, int vm, const char *names[2])
{
    if (vm < 0 || vm >= VIGIL_VM_COUNT || !tb->vm[vm].present) {
        return 0;
    }
    for (size_t i = 0; i < tb->vm[vm].n_if; i++) {
        names[i] = if_names[i];
    }
    return tb->vm[vm].n_if;
}

pid_t vigil__tb_anchor(const struct vigil_testbed *tb, int vm)
{
    return vm >= 0 && vm < VIGIL_VM_COUNT && tb->vm[vm].present ? tb->vm[vm].anchor : 0;
}

const struct vigil__cg *vigil__tb_run_cg(const struct vigil_testbed *tb)
{
    return tb->run_cg_made ? &tb->run_cg : NULL;
}

const char *vigil__tb_workdir(const struct vigil_testbed *tb)
{
    return tb->workdir;
}

const char *vigil__tb_sipp_stat(const struct vigil_testbed *tb)
{
    return tb->sipp_stat;
}

const struct vigil_testbed_params *vigil__tb_params(const struct vigil_testbed *tb)
{
    return &tb->p;
}

const char *vigil_testbed_tag(const struct vigil_testbed *tb)
{
    return tb->tag;
}

int vigil_testbed_has(const struct vigil_testbed *tb, int vm)
{
    return vm >= 0 && vm < VIGIL_VM_COUNT && tb->vm[vm].present;
}

/* ---- the state file ---- */

static void state_add(struct vigil_testbed *tb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void state_add(struct vigil_testbed *tb, const char *fmt, ...)
{
    if (tb->state_fd < 0) {
        return;
    }
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 1) {
        return;
    }
    line[n++] = '\n';
    if (write(tb->state_fd, line, (size_t)n) != n) {
        vigil_warn("testbed: write %s: %s", tb->state_path, strerror(errno));
    }
    fdatasync(tb->state_fd);
}

/* ---- small helpers ---- */

/* snprintf whose callers have bounded their inputs (workdir length is checked at up). */
static void fmt(char *out, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));

static void fmt(char *out, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, n, f, ap);
    va_end(ap);
}

static int run_cmd(const char *const *argv, const char *netns)
{
    char msg[512];
    struct vigil__proc_spec s = {.argv = argv, .netns = netns};
    int rc = vigil__run(&s, 15 * SEC, msg, sizeof msg);
    if (rc != 0) {
        char cmd[512] = "";
        size_t off = 0;
        for (int i = 0; argv[i] && off < sizeof cmd - 1; i++) {
            int w = snprintf(cmd + off, sizeof cmd - off, "%s%s", i ? " " : "", argv[i]);
            off += w > 0 ? (size_t)w : 0;
        }
        if (rc > 0) {
            vigil_error("testbed: '%s' exited %d: %s", cmd, rc, msg);
            return -EIO;
        }
        vigil_error("testbed: '%s': %s", cmd, vigil_strerror(rc));
    }
    return rc;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        return -ENAMETOOLONG;
    }
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/*
 * Is a socket of pid's namespace bound to port: UDP (/proc/PID/net/udp), or
 * TCP in state LISTEN (/proc/PID/net/tcp, state 0A)? Ports are in hex.
 */
static int port_open(pid_t pid, int port, int transport)
{
    int tcp = transport == VIGIL_SIP_TCP;
    char path[64], want[16];
    snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, tcp ? "tcp" : "udp");
    snprintf(want, sizeof want, ":%04X ", port);
    char *text;
    size_t n;
    if (vigil_read_file(path, 1 << 20, &text, &n) != 0) {
        return 0;
    }
    /* The local address is the second field, the state the fourth. */
    int found = 0;
    for (char *line = strchr(text, '\n'); line && !found; line = strchr(line + 1, '\n')) {
        char *colon = strchr(line, ':'); /* "sl:" */
        if (!colon) {
            break;
        }
        char *local_port = colon + 1;
        while (*local_port == ' ') {
            local_port++;
        }
        char *p = strchr(local_port, ':');
        if (p && strncmp(p, want, strlen(want)) == 0) {
            /* After the port: " rem_address:port st". */
            const char *st = p + strlen(want);
            st = strchr(st, ' ');
            found = !tcp || (st && strncmp(st, " 0A ", 4) == 0);
        }
    }
    vigil_free(text);
    return found;
}

/* ---- kamailio ---- */

int vigil__kamailio_cfg(struct vigil_buf *out, const char *role, const char *const *listen,
                        size_t n_listen, const char *next_hop, int children, int transport)
{
    int tcp = transport == VIGIL_SIP_TCP;
    const char *proto = tcp ? "tcp" : "udp";
    int rc = vigil_buf_appendf(out,
                               "#!KAMAILIO\n"
                               "# %s: stateless proxy generated by vigil campaign; forwards every\n"
                               "# request to %s:5060 over %s, replies follow their Via headers.\n"
                               "debug=0\nlog_stderror=yes\nchildren=%d\nmhomed=1\n"
                               "auto_aliases=no\ndns=no\nrev_dns=no\ndisable_tcp=%s\n"
                               "disable_sctp=yes\n",
                               role, next_hop, proto, children, tcp ? "no" : "yes");
    if (rc == 0 && tcp) {
        /* One worker per connection side, as with UDP: more reorder 180 and 200. */
        rc = vigil_buf_appendf(out, "tcp_children=%d\ntcp_connection_lifetime=3600\n", children);
    }
    for (size_t i = 0; rc == 0 && i < n_listen; i++) {
        rc = vigil_buf_appendf(out, "listen=%s:%s:5060\n", proto, listen[i]);
    }
    if (rc == 0) {
        /*
         * Over TCP, force_rport() makes replies go back on the connection the
         * request came in on (its source port), not to a new one at the Via's.
         */
        rc = vigil_buf_appendf(out,
                               "loadmodule \"sl.so\"\nloadmodule \"maxfwd.so\"\n\n"
                               "request_route {\n"
                               "    if (!mf_process_maxfwd_header(\"10\")) {\n"
                               "        sl_send_reply(\"483\", \"Too Many Hops\");\n"
                               "        exit;\n"
                               "    }\n"
                               "%s"
                               "    forward%s(\"%s\", 5060);\n"
                               "}\n",
                               tcp ? "    force_rport();\n" : "", tcp ? "_tcp" : "", next_hop);
    }
    return rc;
}

/* ---- processes ---- */

static void vm_free_argv(struct vm *v)
{
    for (size_t i = 0; i < v->argc; i++) {
        vigil_free(v->argv_buf[i]);
        v->argv_buf[i] = NULL;
    }
    v->argc = 0;
}

static int vm_set_argv(struct vm *v, const char *const *argv)
{
    vm_free_argv(v);
    for (size_t i = 0; argv[i]; i++) {
        if (i + 1 >= MAX_ARGS) {
            return -E2BIG;
        }
        v->argv_buf[i] = vigil_strdup(argv[i]);
        if (!v->argv_buf[i]) {
            vm_free_argv(v);
            return -ENOMEM;
        }
        v->argc = i + 1;
    }
    v->argv_buf[v->argc] = NULL;
    return 0;
}

int vigil__tb_spawn(struct vigil_testbed *tb, int vm, const char *const *argv, const char *log,
                    pid_t *pid)
{
    struct vm *v = &tb->vm[vm];
    if (!v->present) {
        return -ENOENT;
    }
    char out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/%s", v->dir, log);
    struct vigil__proc_spec s = {
        .argv = argv,
        .netns = v->netns,
        .cgroups = v->cg_made ? v->cg.procs_list : NULL,
        .cwd = v->dir,
        .out = out,
        .new_pgrp = 1,
    };
    int rc = vigil__spawn(&s, pid);
    if (rc == 0) {
        state_add(tb, "proc %d %s %s", (int)*pid, vigil_vm_name(vm), argv[0]);
    }
    return rc;
}

/* Starts the VM's main process from its saved argv and waits until it listens on port 5060. */
static int vm_start(struct vigil_testbed *tb, int vm, int wait_port)
{
    struct vm *v = &tb->vm[vm];
    int rc = vigil__tb_spawn(tb, vm, (const char *const *)v->argv_buf, v->log, &v->pid);
    if (rc) {
        vigil_error("testbed: start %s in %s: %s", v->argv_buf[0], vigil_vm_name(vm),
                    vigil_strerror(rc));
        v->pid = 0;
        return rc;
    }
    if (!wait_port) {
        return 0;
    }
    int64_t end = vigil_clock_mono_ns() + 15 * SEC;
    while (vigil_clock_mono_ns() < end) {
        if (port_open(v->pid, 5060, tb->p.transport)) {
            return 0;
        }
        int st;
        if (waitpid(v->pid, &st, WNOHANG) == v->pid) {
            vigil_error("testbed: %s in %s exited at start (status %d); see %s/%s", v->argv_buf[0],
                        vigil_vm_name(vm), st, v->dir, v->log);
            v->pid = 0;
            return -ECHILD;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    vigil_error("testbed: %s in %s does not listen on %s 5060 after 15 s", v->argv_buf[0],
                vigil_vm_name(vm), tb->p.transport == VIGIL_SIP_TCP ? "TCP" : "UDP");
    return -ETIMEDOUT;
}

static void vm_stop(struct vm *v, int sig)
{
    if (v->pid > 0) {
        vigil__stop(v->pid, 1, sig, 5 * SEC);
        v->pid = 0;
    }
}

static void vm_stop_anchor(struct vm *v)
{
    if (v->anchor > 0) {
        vigil__stop(v->anchor, 1, SIGKILL, 2 * SEC);
        v->anchor = 0;
    }
}

/* ---- building ---- */

static int chain_of(const struct vigil_testbed *tb, int *chain)
{
    int n = 0;
    chain[n++] = VIGIL_VM_UAC;
    chain[n++] = VIGIL_VM_PCSCF;
    if (tb->p.scscf) {
        chain[n++] = VIGIL_VM_SCSCF;
    }
    chain[n++] = VIGIL_VM_UAS;
    return n;
}

static int make_run_id(struct vigil_testbed *tb)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        unsigned char r[3];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
            uint64_t x = (uint64_t)vigil_clock_mono_ns() ^ ((uint64_t)getpid() << 20);
            memcpy(r, &x, sizeof r);
        }
        snprintf(tb->id, sizeof tb->id, "%02x%02x%02x", r[0], r[1], r[2]);
        snprintf(tb->tag, sizeof tb->tag, "%s%s", VIGIL__PREFIX, tb->id);
        snprintf(tb->state_path, sizeof tb->state_path, "%s/%s.state", VIGIL__STATE_DIR, tb->id);
        tb->state_fd =
            open(tb->state_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (tb->state_fd >= 0) {
            return 0;
        }
        if (errno != EEXIST) {
            int e = errno;
            vigil_error("testbed: create %s: %s", tb->state_path, strerror(e));
            return -e;
        }
    }
    return -EEXIST;
}

static int make_ns(struct vigil_testbed *tb, struct vm *v)
{
    struct stat st;
    if (stat(v->netns, &st) == 0) {
        vigil_error("testbed: namespace %s already exists; refusing to touch it", v->name);
        return -EEXIST;
    }
    state_add(tb, "netns %s", v->name);
    const char *add[] = {"ip", "netns", "add", v->name, NULL};
    int rc = run_cmd(add, NULL);
    if (rc) {
        return rc;
    }
    v->ns_made = 1;
    const char *lo[] = {"ip", "-n", v->name, "link", "set", "lo", "up", NULL};
    return run_cmd(lo, NULL);
}

/* The run's own cgroup, under the caller's cgroup in each hierarchy. */
static int make_run_cg(struct vigil_testbed *tb)
{
    for (int c = 0; c < VIGIL__CG_N; c++) {
        if (tb->parent[c][0]) {
            state_add(tb, "cgroup %s/%s", tb->parent[c], tb->tag);
        }
    }
    int rc = vigil__cg_create(&tb->run_cg, tb->v2, tb->parent, tb->tag, 0, 0);
    if (rc) {
        vigil_error("testbed: cgroup %s: %s", tb->tag, vigil_strerror(rc));
        return rc;
    }
    tb->run_cg_made = 1;
    return 0;
}

/* A VM's cgroup, inside the run's cgroup, with the plan's limits. */
static int make_cg(struct vigil_testbed *tb, struct vm *v)
{
    for (int c = 0; c < VIGIL__CG_N; c++) {
        if (tb->run_cg.dir[c][0]) {
            state_add(tb, "cgroup %s/%s", tb->run_cg.dir[c], v->name);
        }
    }
    uint64_t mem = (uint64_t)tb->p.memory_mb << 20;
    int rc = vigil__cg_create(&v->cg, tb->v2, tb->run_cg.dir, v->name, mem, tb->p.cpus);
    if (rc) {
        vigil_error("testbed: cgroup %s: %s", v->name, vigil_strerror(rc));
        return rc;
    }
    v->cg_made = 1;
    rc = vigil__cg_account_io(&v->cg, tb->workdir);
    if (rc) {
        vigil_warn("testbed: block I/O accounting for %s: %s (disk metrics may stay 0)", v->name,
                   vigil_strerror(rc));
    }
    return 0;
}

/* "sleep infinity" in the namespace and the run's cgroup, never restarted. */
static int make_anchor(struct vigil_testbed *tb, struct vm *v)
{
    const char *argv[] = {"sleep", "infinity", NULL};
    struct vigil__proc_spec s = {
        .argv = argv,
        .netns = v->netns,
        .cgroups = tb->run_cg.procs_list,
        .new_pgrp = 1,
    };
    int rc = vigil__spawn(&s, &v->anchor);
    if (rc) {
        vigil_error("testbed: anchor process in %s: %s", v->name, vigil_strerror(rc));
        v->anchor = 0;
        return rc;
    }
    state_add(tb, "proc %d %s sleep", (int)v->anchor, v->name);
    return 0;
}

/* veth between a (its interface ia) and b (ib), subnet net.k.0/24, a = .1, b = .2. */
static int make_link(struct vigil_testbed *tb, int a, int b, int k)
{
    struct vm *va = &tb->vm[a], *vb = &tb->vm[b];
    const char *ia = if_names[va->n_if], *ib = if_names[vb->n_if];
    state_add(tb, "veth %s:%s %s:%s", va->name, ia, vb->name, ib);
    const char *add[] = {"ip",   "link", "add",  "name", ia,      "netns",  va->name, "type",
                         "veth", "peer", "name", ib,     "netns", vb->name, NULL};
    int rc = run_cmd(add, NULL);
    if (rc) {
        return rc;
    }
    snprintf(va->addr[va->n_if], sizeof va->addr[0], "%s.%d.1", tb->p.net, k);
    snprintf(vb->addr[vb->n_if], sizeof vb->addr[0], "%s.%d.2", tb->p.net, k);
    struct {
        struct vm *v;
        const char *ifn;
        const char *addr;
    } ends[2] = {{va, ia, va->addr[va->n_if]}, {vb, ib, vb->addr[vb->n_if]}};
    va->n_if++;
    vb->n_if++;
    for (int e = 0; e < 2 && rc == 0; e++) {
        char cidr[32];
        snprintf(cidr, sizeof cidr, "%s/24", ends[e].addr);
        const char *addr[] = {"ip", "-n",  ends[e].v->name, "addr", "add",
                              cidr, "dev", ends[e].ifn,     NULL};
        const char *up[] = {"ip", "-n", ends[e].v->name, "link", "set", ends[e].ifn, "up", NULL};
        rc = run_cmd(addr, NULL);
        if (rc == 0) {
            rc = run_cmd(up, NULL);
        }
    }
    return rc;
}

static int setup_proxy(struct vigil_testbed *tb, int vm, const char *next_hop)
{
    struct vm *v = &tb->vm[vm];
    struct vigil_buf cfg;
    vigil_buf_init(&cfg);
    const char *listen[2] = {v->addr[0], v->addr[1]};
    int rc = vigil__kamailio_cfg(&cfg, vm == VIGIL_VM_PCSCF ? "P-CSCF" : "S-CSCF", listen, v->n_if,
                                 next_hop, tb->p.children, tb->p.transport);
    char path[PATH_MAX + 32], run[PATH_MAX + 32], shm[16];
    snprintf(path, sizeof path, "%s/kamailio.cfg", v->dir);
    snprintf(run, sizeof run, "%s/run", v->dir);
    snprintf(shm, sizeof shm, "%d", tb->p.shm_mb);
    if (rc == 0) {
        rc = vigil__write_text(path, cfg.p, cfg.len);
    }
    vigil_buf_fini(&cfg);
    if (rc == 0) {
        rc = mkdir_p(run);
    }
    const char *argv[] = {"kamailio", "-DD", "-E", "-f", path, "-Y",
                          run,        "-m",  shm,  "-M", "4",  NULL};
    if (rc == 0) {
        rc = vm_set_argv(v, argv);
    }
    snprintf(v->log, sizeof v->log, "kamailio.log");
    return rc;
}

static int setup_sipp(struct vigil_testbed *tb, int vm, const char *remote)
{
    struct vm *v = &tb->vm[vm];
    char timeout[32], rate[32], len[32], limit[32], errf[PATH_MAX + 32];
    snprintf(timeout, sizeof timeout, "%lld", (long long)(tb->p.recv_timeout / 1000000));
    snprintf(rate, sizeof rate, "%g", tb->p.rate);
    snprintf(len, sizeof len, "%lld", (long long)(tb->p.call_length / 1000000));
    /* Room for the calls that pile up while messages time out. */
    double lim = tb->p.rate * ((double)(tb->p.call_length + 2 * tb->p.recv_timeout) / 1e9 + 2.0);
    snprintf(limit, sizeof limit, "%d", (int)(lim + 10));
    snprintf(errf, sizeof errf, "%s/sipp-errors.log", v->dir);
    snprintf(v->log, sizeof v->log, "sipp.log");
    /* Over TCP, one connection per sipp (t1) carries every call, as between IMS nodes. */
    const char *transport = tb->p.transport == VIGIL_SIP_TCP ? "t1" : "u1";
    if (vm == VIGIL_VM_UAS) {
        const char *argv[] = {"sipp",
                              "-sn",
                              "uas",
                              "-i",
                              v->addr[0],
                              "-p",
                              "5060",
                              "-t",
                              transport,
                              "-nostdin",
                              "-recv_timeout",
                              timeout,
                              "-trace_err",
                              "-error_file",
                              errf,
                              "-max_log_size",
                              "10000000",
                              NULL};
        return vm_set_argv(v, argv);
    }
    const char *argv[] = {
        "sipp",       "-sn",         "uac",  remote,          "-i",       v->addr[0],
        "-p",         "5060",        "-t",   transport,       "-r",       rate,
        "-d",         len,           "-l",   limit,           "-nostdin", "-recv_timeout",
        timeout,      "-trace_stat", "-stf", tb->sipp_stat,   "-fd",      "1",
        "-trace_err", "-error_file", errf,   "-max_log_size", "10000000", NULL};
    return vm_set_argv(v, argv);
}

static int check_programs(void)
{
    static const char *const need[] = {"ip", "iptables", "kamailio", "sipp", NULL};
    for (int i = 0; need[i]; i++) {
        char path[PATH_MAX];
        if (vigil__which(need[i], path, sizeof path) != 0) {
            vigil_error("testbed: '%s' not found in PATH (Debian packages: iproute2, iptables, "
                        "kamailio, sip-tester)",
                        need[i]);
            return -ENOENT;
        }
    }
    return 0;
}

int vigil_testbed_up(struct vigil_testbed **out, const struct vigil_testbed_params *p,
                     const char *workdir)
{
    *out = NULL;
    if (geteuid() != 0) {
        vigil_error("testbed: needs root (network namespaces, cgroups, iptables)");
        return -EPERM;
    }
    int rc = check_programs();
    if (rc) {
        return rc;
    }
    struct vigil_testbed *tb = vigil_calloc(1, sizeof *tb);
    if (!tb) {
        return -ENOMEM;
    }
    tb->state_fd = -1;
    tb->p = *p;
    tb->p.net = vigil_strdup(p->net ? p->net : "10.77");
    if (!tb->p.net || strlen(workdir) >= sizeof tb->workdir - 64) {
        rc = tb->p.net ? -ENAMETOOLONG : -ENOMEM;
        goto fail;
    }
    snprintf(tb->workdir, sizeof tb->workdir, "%s", workdir);
    if ((rc = mkdir_p(tb->workdir)) || (rc = mkdir_p(VIGIL__STATE_DIR))) {
        vigil_error("testbed: mkdir %s: %s", tb->workdir, vigil_strerror(rc));
        goto fail;
    }
    if ((rc = make_run_id(tb))) {
        goto fail;
    }
    state_add(tb, "run %s %d %lld", tb->tag, (int)getpid(), (long long)time(NULL));
    if ((rc = vigil__cg_parents("", tb->v2, tb->parent))) {
        vigil_error("testbed: cgroup mounts: %s", vigil_strerror(rc));
        goto fail;
    }
    for (int c = 0; c < VIGIL__CG_N; c++) {
        if (!tb->parent[c][0]) {
            vigil_warn("testbed: no cgroup controller %d; its limits and statistics are missing",
                       c);
        }
    }
    if ((rc = make_run_cg(tb))) {
        goto fail;
    }
    int chain[VIGIL_VM_COUNT];
    int n = chain_of(tb, chain);
    for (int i = 0; i < n; i++) {
        struct vm *v = &tb->vm[chain[i]];
        v->present = 1;
        fmt(v->name, sizeof v->name, "%s-%s", tb->tag, vigil_vm_name(chain[i]));
        fmt(v->netns, sizeof v->netns, "/run/netns/%s", v->name);
        fmt(v->dir, sizeof v->dir, "%s/%s", tb->workdir, vigil_vm_name(chain[i]));
        if ((rc = mkdir_p(v->dir)) || (rc = make_ns(tb, v)) || (rc = make_cg(tb, v)) ||
            (rc = make_anchor(tb, v))) {
            goto fail;
        }
    }
    for (int i = 0; i + 1 < n; i++) {
        if ((rc = make_link(tb, chain[i], chain[i + 1], i + 1))) {
            goto fail;
        }
    }
    fmt(tb->sipp_stat, sizeof tb->sipp_stat, "%s/uac/sipp-stat.csv", tb->workdir);
    /* Each proxy forwards to the first address of the next VM in the chain. */
    for (int i = 1; i + 1 < n; i++) {
        if ((rc = setup_proxy(tb, chain[i], tb->vm[chain[i + 1]].addr[0]))) {
            goto fail;
        }
    }
    char remote[40];
    snprintf(remote, sizeof remote, "%s:5060", tb->vm[VIGIL_VM_PCSCF].addr[0]);
    if ((rc = setup_sipp(tb, VIGIL_VM_UAS, NULL)) || (rc = setup_sipp(tb, VIGIL_VM_UAC, remote))) {
        goto fail;
    }
    /* Start from the callee backwards so each hop has its next hop ready. */
    for (int i = n - 1; i >= 0; i--) {
        if ((rc = vm_start(tb, chain[i], chain[i] != VIGIL_VM_UAC))) {
            goto fail;
        }
    }
    vigil_info("testbed %s up: %d VMs, %g calls/s", tb->tag, n, tb->p.rate);
    *out = tb;
    return 0;
fail:
    vigil_testbed_down(tb);
    return rc;
}

int vigil_testbed_check(struct vigil_testbed *tb, int *restarts)
{
    for (int vm = 0; vm < VIGIL_VM_COUNT; vm++) {
        struct vm *v = &tb->vm[vm];
        if (!v->present || v->pid <= 0) {
            continue;
        }
        int st;
        pid_t r = waitpid(v->pid, &st, WNOHANG);
        if (r != v->pid) {
            continue;
        }
        /* The group may hold children of the dead leader (Kamailio's workers). */
        kill(-v->pid, SIGKILL);
        v->pid = 0;
        const char *how = WIFSIGNALED(st) ? "killed by signal" : "exited with";
        int code = WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st);
        if (vm == VIGIL_VM_UAC) {
            vigil_error("testbed: the caller (sipp) %s %d; the service metric is gone", how, code);
            return -ECHILD;
        }
        vigil_warn("testbed: %s in %s %s %d; restarting it", v->argv_buf[0], vigil_vm_name(vm), how,
                   code);
        int rc = vm_start(tb, vm, 1);
        if (rc) {
            return rc;
        }
        if (restarts) {
            (*restarts)++;
        }
    }
    return 0;
}

/* ---- iptables rules ---- */

static int rule_argv(struct vigil_testbed *tb, const char *op, const char *table, const char *chain,
                     const char *const *spec, const char **argv, size_t max)
{
    size_t k = 0;
    const char *head[] = {"iptables", "-w", "5", "-t", table, op, chain};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++) {
        argv[k++] = head[i];
    }
    for (size_t i = 0; spec[i]; i++) {
        if (k + 6 >= max) {
            return -E2BIG;
        }
        argv[k++] = spec[i];
    }
    argv[k++] = "-m";
    argv[k++] = "comment";
    argv[k++] = "--comment";
    argv[k++] = tb->tag;
    argv[k] = NULL;
    return 0;
}

int vigil__tb_rule(struct vigil_testbed *tb, int vm, int add, const char *table, const char *chain,
                   const char *const *spec)
{
    if (!vigil_testbed_has(tb, vm)) {
        return -ENOENT;
    }
    const char *argv[MAX_ARGS];
    int rc = rule_argv(tb, add ? "-A" : "-D", table, chain, spec, argv, MAX_ARGS);
    if (rc) {
        return rc;
    }
    char joined[512] = "";
    size_t off = 0;
    for (size_t i = 0; spec[i]; i++) {
        int w = snprintf(joined + off, sizeof joined - off, "%s%s", i ? " " : "", spec[i]);
        if (w < 0 || (size_t)w >= sizeof joined - off) {
            return -E2BIG;
        }
        off += (size_t)w;
    }
    if (add) {
        if (tb->n_rules == MAX_RULES) {
            return -ENOSPC;
        }
        state_add(tb, "rule %s %s %s %s", tb->vm[vm].name, table, chain, joined);
        rc = run_cmd(argv, tb->vm[vm].netns);
        if (rc == 0) {
            struct rule *r = &tb->rules[tb->n_rules++];
            r->vm = vm;
            snprintf(r->table, sizeof r->table, "%s", table);
            snprintf(r->chain, sizeof r->chain, "%s", chain);
            snprintf(r->spec, sizeof r->spec, "%s", joined);
        }
        return rc;
    }
    rc = run_cmd(argv, tb->vm[vm].netns);
    for (size_t i = 0; i < tb->n_rules; i++) {
        struct rule *r = &tb->rules[i];
        if (r->vm == vm && strcmp(r->table, table) == 0 && strcmp(r->chain, chain) == 0 &&
            strcmp(r->spec, joined) == 0) {
            tb->rules[i] = tb->rules[--tb->n_rules];
            break;
        }
    }
    return rc;
}

int vigil__tb_rule_packets(struct vigil_testbed *tb, int vm, const char *table, const char *chain,
                           uint64_t *packets)
{
    *packets = 0;
    if (!vigil_testbed_has(tb, vm)) {
        return -ENOENT;
    }
    const char *argv[] = {"iptables", "-w", "5", "-t", table, "-L", chain, "-v", "-x", "-n", NULL};
    char out[4096];
    struct vigil__proc_spec s = {.argv = argv, .netns = tb->vm[vm].netns};
    int rc = vigil__run(&s, 15 * SEC, out, sizeof out);
    if (rc) {
        return rc > 0 ? -EIO : rc;
    }
    /* Sum the packet counters (first field) of the lines that carry our tag. */
    for (char *line = out; line && *line; line = strchr(line, '\n')) {
        while (*line == '\n') {
            line++;
        }
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char save = line[len];
        line[len] = '\0';
        if (strstr(line, tb->tag)) {
            char *end;
            unsigned long long v = strtoull(line, &end, 10);
            if (end != line) {
                *packets += v;
            }
        }
        line[len] = save;
        if (!nl) {
            break;
        }
    }
    return 0;
}

/* ---- teardown ---- */

static int remove_ns(struct vm *v)
{
    if (!v->ns_made) {
        return 0;
    }
    pid_t pids[256];
    size_t n = vigil__netns_pids(v->netns, pids, 256);
    for (size_t i = 0; i < n; i++) {
        if (pids[i] != getpid()) {
            kill(pids[i], SIGKILL);
        }
    }
    const char *del[] = {"ip", "netns", "del", v->name, NULL};
    int rc = run_cmd(del, NULL);
    if (rc == 0) {
        v->ns_made = 0;
    }
    return rc;
}

int vigil_testbed_down(struct vigil_testbed *tb)
{
    if (!tb) {
        return 0;
    }
    int first = 0;
    /* Rules first, so traffic is clean while the processes stop. */
    while (tb->n_rules > 0) {
        struct rule *r = &tb->rules[tb->n_rules - 1];
        const char *spec[MAX_ARGS];
        char buf[512];
        snprintf(buf, sizeof buf, "%s", r->spec);
        size_t k = 0;
        for (char *tok = buf; *tok && k + 1 < MAX_ARGS;) {
            spec[k++] = tok;
            char *sp = strchr(tok, ' ');
            if (!sp) {
                break;
            }
            *sp = '\0';
            tok = sp + 1;
        }
        spec[k] = NULL;
        int vm = r->vm;
        char table[16], chain[16];
        snprintf(table, sizeof table, "%s", r->table);
        snprintf(chain, sizeof chain, "%s", r->chain);
        tb->n_rules--;
        const char *argv[MAX_ARGS];
        if (rule_argv(tb, "-D", table, chain, spec, argv, MAX_ARGS) == 0 && tb->vm[vm].ns_made) {
            run_cmd(argv, tb->vm[vm].netns);
        }
    }
    /* The caller first, so no new calls start while the proxies go away. */
    vm_stop(&tb->vm[VIGIL_VM_UAC], SIGTERM);
    for (int vm = VIGIL_VM_COUNT - 1; vm > VIGIL_VM_UAC; vm--) {
        vm_stop(&tb->vm[vm], SIGTERM);
    }
    for (int vm = 0; vm < VIGIL_VM_COUNT; vm++) {
        vm_stop_anchor(&tb->vm[vm]);
    }
    for (int vm = 0; vm < VIGIL_VM_COUNT; vm++) {
        struct vm *v = &tb->vm[vm];
        if (v->cg_made) {
            int rc = vigil__cg_destroy(&v->cg, 3 * SEC);
            if (rc == 0) {
                v->cg_made = 0;
            } else if (!first) {
                first = rc;
            }
        }
        int rc = remove_ns(v);
        if (rc && !first) {
            first = rc;
        }
        vm_free_argv(v);
    }
    if (tb->run_cg_made) {
        int rc = vigil__cg_destroy(&tb->run_cg, 3 * SEC);
        if (rc == 0) {
            tb->run_cg_made = 0;
        } else if (!first) {
            first = rc;
        }
    }
    if (tb->state_fd >= 0) {
        close(tb->state_fd);
        /* Keep the record when something could not be removed: clean needs it. */
        if (first == 0) {
            unlink(tb->state_path);
        } else {
            vigil_error("testbed: %s left behind; run 'vigil campaign clean'", tb->tag);
        }
    }
    vigil_free(tb->p.net);
    vigil_free(tb);
    return first;
}
