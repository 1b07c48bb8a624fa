/*
 * Private to src/inject/: process spawning into a network namespace and a
 * cgroup, cgroup creation, the testbed's bookkeeping of what it created, the
 * per-entity metric reader used by campaigns, the parser of sipp's statistics
 * file, the delay queue behind the NFQUEUE helper, and the fault injectors'
 * table. Public contracts are in include/vigil/campaign.h and nfq.h.
 */
#ifndef VIGIL_INJECT_INTERNAL_H
#define VIGIL_INJECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vigil/buf.h"
#include "vigil/campaign.h"
#include "vigil/err.h"
#include "vigil/opt.h"

/* ---- names: everything we create carries this prefix ---- */

/* "vigil-camp-<run id>-<vm>" for namespaces and cgroups, "vigil-camp-<run id>" as iptables tag. */
#define VIGIL__PREFIX "vigil-camp-"
#define VIGIL__RUN_ID_LEN 6 /* lowercase hex digits */
#define VIGIL__NAME_MAX 48
#define VIGIL__STATE_DIR "/run/vigil-camp"

/*
 * Checks that s is "vigil-camp-<6 hex>" optionally followed by "-<vm>" where
 * vm is a testbed VM name. Returns 1 when it is one of our names, else 0.
 * Cleanup refuses any name for which this is 0.
 */
int vigil__is_our_name(const char *s);

/* ---- processes (spawn.c) ---- */

struct vigil__proc_spec {
    const char *const *argv;    /* argv[0] is looked up in PATH before forking */
    const char *netns;          /* path of a namespace file (/run/netns/x) to join, or NULL */
    const char *const *cgroups; /* NULL-terminated cgroup.procs files to join, or NULL */
    const char *cwd;            /* working directory, or NULL */
    const char *out;            /* stdout file (appended), NULL = /dev/null */
    const char *err;            /* stderr file (appended), NULL = same as out */
    int new_pgrp;               /* 1 = own process group (so the whole tree can be signalled) */
};

/*
 * Starts a process. Every failure before exec (lookup, setns, cgroup join,
 * chdir, exec) is reported back through a close-on-exec pipe, so the call
 * returns its errno instead of a dead child. Returns 0 and *pid, or -errno.
 */
int vigil__spawn(const struct vigil__proc_spec *s, pid_t *pid);

/*
 * Runs a command to completion (stdout and stderr captured, the last n-1
 * bytes kept in msg when msg is not NULL). Returns the exit status (0..255),
 * -ETIMEDOUT after timeout_ns (the process is killed), or -errno.
 */
int vigil__run(const struct vigil__proc_spec *s, int64_t timeout_ns, char *msg, size_t n);

/* Convenience: run argv in the root namespace, 10 s limit, msg as above. */
int vigil__run_argv(const char *const *argv, char *msg, size_t n);

/*
 * Waits for pid up to timeout_ns. Returns 0 and the raw wait status, or
 * -ETIMEDOUT, or -errno (ECHILD when it is not our child).
 */
int vigil__wait(pid_t pid, int64_t timeout_ns, int *status);

/*
 * Stops a child we started: sig to it (to its group when group is 1), waits
 * up to grace_ns, then SIGKILL and reaps it. Returns 0 or -errno.
 */
int vigil__stop(pid_t pid, int group, int sig, int64_t grace_ns);

/* Resolves a command name through PATH into out. Returns 0 or -ENOENT. */
int vigil__which(const char *name, char *out, size_t n);

/* Collects up to max pids whose network namespace is the namespace file path. */
size_t vigil__netns_pids(const char *netns_path, pid_t *pids, size_t max);

/* ---- cgroups (cgroup.c) ---- */

enum vigil__cgc {
    VIGIL__CG_CPU = 0,
    VIGIL__CG_CPUACCT = 1,
    VIGIL__CG_MEMORY = 2,
    VIGIL__CG_BLKIO = 3,
    VIGIL__CG_N = 4,
};

/* One VM's cgroup, in each v1 hierarchy that holds a controller we use, or in the v2 tree. */
struct vigil__cg {
    int v2[VIGIL__CG_N];              /* 1 = that controller is in the unified (v2) hierarchy */
    char dir[VIGIL__CG_N][512];       /* directory per controller ("" = unavailable) */
    char procs[VIGIL__CG_N + 1][528]; /* distinct cgroup.procs files */
    const char *procs_list[VIGIL__CG_N + 1]; /* NULL-terminated pointers into procs */
    int created[VIGIL__CG_N];                /* 1 when we made dir[i] (and must remove it) */
};

/*
 * Where new cgroups go: for each controller, its mount point joined with our
 * own cgroup path from /proc/self/cgroup, so children stay inside whatever
 * limits the caller already has. A controller mounted in a v1 hierarchy is
 * used there; otherwise the v2 tree is used if its root lists the controller
 * (cpu and cpuacct map to "cpu", blkio to "io"). root is "" except in tests,
 * where it prefixes every path. Fills parent[i] ("" where the controller is
 * unavailable). Returns 0 or -errno (no /proc/self/mountinfo).
 */
int vigil__cg_parents(const char *root, int v2[VIGIL__CG_N], char parent[VIGIL__CG_N][512]);

/*
 * Creates cgroup name under the parents (from vigil__cg_parents) with the given memory limit
 * (bytes, 0 = none) and CPU quota (cpus, 0 = none). The name must pass vigil__is_our_name. Returns
 * 0 or -errno; on failure nothing is left behind.
 */
int vigil__cg_create(struct vigil__cg *cg, const int v2[VIGIL__CG_N],
                     const char parent[VIGIL__CG_N][512], const char *name, uint64_t mem_limit,
                     double cpus);

/*
 * Kills every process in the cgroup (SIGTERM, then SIGKILL after grace_ns)
 * and removes the directories we created. Returns 0 or the first -errno.
 */
int vigil__cg_destroy(struct vigil__cg *cg, int64_t grace_ns);

/*
 * Makes cgroup v1 count the block I/O of the disk holding path: this kernel
 * fills blkio.throttle.io_service_bytes only for cgroups with a throttle
 * rule, so a rule of 1 TB/s (never binding) is set. No-op for v2 and when
 * there is no blkio controller. Returns 0 or -errno.
 */
int vigil__cg_account_io(const struct vigil__cg *cg, const char *path);

/* Kills every process listed in a cgroup directory with sig. Returns how many. */
int vigil__cg_kill_dir(const char *dir, int sig);

/* Reads the memory limit and current usage in bytes. Returns 0 or -errno. */
int vigil__cg_memory(const struct vigil__cg *cg, uint64_t *limit, uint64_t *usage);

/* ---- small file helpers (cgroup.c) ---- */

/* Writes a string to a file (no O_CREAT). Returns 0 or -errno. */
int vigil__write_file(const char *path, const char *s);
/* Creates or truncates path and writes n bytes. Returns 0 or -errno. */
int vigil__write_text(const char *path, const void *p, size_t n);
/* Reads at most n-1 bytes of a small file into out, NUL-terminated. Returns bytes or -errno. */
long vigil__read_small(const char *path, char *out, size_t n);

/* ---- sipp statistics (sipstat.c) ---- */

/* Columns of service.csv, in order, after "timestamp". */
enum vigil__svc_col {
    VIGIL__SVC_CALLS = 0,      /* calls created in the period */
    VIGIL__SVC_FAILED,         /* calls failed in the period */
    VIGIL__SVC_SUCCESSFUL,     /* calls completed in the period */
    VIGIL__SVC_CURRENT,        /* calls open at the end of the period (gauge) */
    VIGIL__SVC_RETRANS,        /* SIP retransmissions in the period */
    VIGIL__SVC_FAILED_TIMEOUT, /* failures by receive timeout */
    VIGIL__SVC_FAILED_RETRANS, /* failures by too many UDP retransmissions */
    VIGIL__SVC_FAILED_UNEXP,   /* failures by unexpected message */
    VIGIL__SVC_RESPONSE_MS,    /* mean INVITE->200 response time in the period, ms (gauge) */
    VIGIL__SVC_N,
};

/* Names of the service.csv columns after "timestamp". */
extern const char *const vigil__svc_names[VIGIL__SVC_N];

/*
 * Incremental reader of sipp's -trace_stat file (';'-separated, a header
 * line, then one line per -fd period). Columns are found by header name so
 * sipp versions that add columns still parse.
 */
struct vigil__sipstat {
    int col[VIGIL__SVC_N + 1]; /* field index per service column; [VIGIL__SVC_N] = CurrentTime */
    int have_header;
    size_t line;              /* lines consumed */
    struct vigil_buf pending; /* a partial last line awaiting its newline */
    double acc[VIGIL__SVC_N]; /* sums since the last take */
    double resp_sum;          /* response-time sum (ms) and count for the mean */
    size_t resp_n;
    size_t rows; /* stat rows accumulated since the last take */
};

void vigil__sipstat_init(struct vigil__sipstat *s);
void vigil__sipstat_fini(struct vigil__sipstat *s);

/*
 * Feeds bytes read from the file (any chunking). Complete lines are parsed
 * and summed; a malformed line is VIGIL_EPARSE with diag naming the line and
 * field. Returns 0, -ENOMEM or VIGIL_EPARSE.
 */
int vigil__sipstat_feed(struct vigil__sipstat *s, const char *p, size_t n, struct vigil_diag *diag);

/*
 * Moves the sums since the last take into out (VIGIL__SVC_N values; the
 * gauges keep their last value; the response time is NaN when no call
 * completed) and resets them. Returns the number of stat
 * rows they cover (0: nothing new; out then repeats the gauges, counts 0).
 */
size_t vigil__sipstat_take(struct vigil__sipstat *s, double out[VIGIL__SVC_N]);

/* Parses sipp's "HH:MM:SS:uuuuuu" duration into milliseconds. Returns 0 or -1. */
int vigil__sipp_duration_ms(const char *p, size_t n, double *ms);

/* ---- the delay queue behind the NFQUEUE helper (delayq.c) ---- */

/*
 * FIFO of (packet id, due time). The delay is constant, so arrival order is
 * due order and a ring suffices: push at the tail, release from the head
 * while head.due <= now.
 */
struct vigil__delayq {
    uint32_t *id; /* (cap) owned */
    int64_t *due; /* (cap) owned, monotonic ns */
    size_t cap;
    size_t head;
    size_t len;
};

int vigil__delayq_init(struct vigil__delayq *q, size_t cap);
void vigil__delayq_fini(struct vigil__delayq *q);
/* Appends; returns 0, or -ENOBUFS when full (the caller releases the packet at once). */
int vigil__delayq_push(struct vigil__delayq *q, uint32_t id, int64_t due);
/* Pops the head if due <= now: returns 1 and *id, else 0. */
int vigil__delayq_pop_due(struct vigil__delayq *q, int64_t now, uint32_t *id);
/* Pops the head regardless of time (used when stopping). Returns 1 and *id, or 0 when empty. */
int vigil__delayq_pop(struct vigil__delayq *q, uint32_t *id);
/* Nanoseconds until the head is due (0 if overdue), or -1 when empty. */
int64_t vigil__delayq_wait_ns(const struct vigil__delayq *q, int64_t now);

/* ---- testbed internals used by the injectors and the campaign (testbed.c) ---- */

/* Namespace file of a VM ("/run/netns/vigil-camp-xxxxxx-pcscf"), or NULL when absent. */
const char *vigil__tb_netns(const struct vigil_testbed *tb, int vm);
/* The VM's cgroup, or NULL when absent. */
struct vigil__cg *vigil__tb_cg(struct vigil_testbed *tb, int vm);
/* The VM's working directory (logs, configs), or NULL. */
const char *vigil__tb_dir(const struct vigil_testbed *tb, int vm);
/* The VM's main process (Kamailio or sipp), 0 when none. */
pid_t vigil__tb_pid(const struct vigil_testbed *tb, int vm);
/* Interfaces of a VM ("eth0", "eth1"); returns how many (0-2). */
size_t vigil__tb_ifaces(const struct vigil_testbed *tb, int vm, const char *names[2]);
/* The VM's anchor process ("sleep infinity" in its namespace), 0 when none. */
pid_t vigil__tb_anchor(const struct vigil_testbed *tb, int vm);
/* The run's cgroup (parent of the VMs' cgroups), or NULL. */
const struct vigil__cg *vigil__tb_run_cg(const struct vigil_testbed *tb);
/* The testbed's working directory. */
const char *vigil__tb_workdir(const struct vigil_testbed *tb);
/* sipp caller's statistics file. */
const char *vigil__tb_sipp_stat(const struct vigil_testbed *tb);
/* The parameters the testbed was built with. */
const struct vigil_testbed_params *vigil__tb_params(const struct vigil_testbed *tb);

/*
 * Adds (add = 1) or deletes (0) an iptables rule in a VM's namespace:
 * "iptables -w 5 -t TABLE -A|-D CHAIN spec... -m comment --comment TAG".
 * Added rules are recorded in the state file and deleted by
 * vigil_testbed_down if still present. Returns 0 or -errno / the exit code
 * as -EIO (iptables' message is logged).
 */
int vigil__tb_rule(struct vigil_testbed *tb, int vm, int add, const char *table, const char *chain,
                   const char *const *spec);

/* Reads one rule's packet counter ("iptables -L -v -x" on the rule with our tag). */
int vigil__tb_rule_packets(struct vigil_testbed *tb, int vm, const char *table, const char *chain,
                           uint64_t *packets);

/*
 * Spawns argv in a VM's namespace and cgroup, in its own process group,
 * output appended to log (a file name inside the VM's directory). Returns 0
 * and *pid or -errno. The caller stops it with vigil__stop(pid, 1, ...).
 */
int vigil__tb_spawn(struct vigil_testbed *tb, int vm, const char *const *argv, const char *log,
                    pid_t *pid);

/* ---- per-VM metrics of a testbed (vmstat.c) ---- */

struct vigil_collect;

/*
 * The series a campaign records for each VM, read through vigil's collector:
 * the VMs' cgroups (cAdvisor names) and each namespace's interface and
 * protocol counters (node-exporter names), the VM in the "name" label.
 * Columns are added as series appear, never removed.
 */
struct vigil__vmstat {
    struct vigil_testbed *tb;                      /* borrowed */
    struct vigil_collect *set[1 + VIGIL_VM_COUNT]; /* owned */
    int set_vm[1 + VIGIL_VM_COUNT];                /* -1 = the cgroup set */
    size_t n_sets;
    uint32_t *map[1 + VIGIL_VM_COUNT]; /* per set: series id -> column; owned */
    size_t map_cap[1 + VIGIL_VM_COUNT];
    size_t n; /* columns */
    size_t cap;
    char **names;   /* (n) column names; owned */
    double *values; /* (n) the last sample, NaN = absent; owned */
    uint8_t *kinds; /* (n) enum vigil_kind from the collector; owned */
};

/*
 * Prepares the collector's root directories under the testbed's workdir and
 * starts the collect sets. Returns 0 or -errno / the collector's code.
 */
int vigil__vmstat_init(struct vigil__vmstat *ms, struct vigil_testbed *tb);
void vigil__vmstat_fini(struct vigil__vmstat *ms);
/* Ticks every set into ms->values, adding columns for new series. Returns 0 or -ENOMEM. */
int vigil__vmstat_sample(struct vigil__vmstat *ms);

/*
 * Rewrites a ';'-separated metrics file whose later rows grew columns: the
 * header becomes "timestamp;names..." and shorter rows are padded with NaN.
 * A row with more fields than n is VIGIL_ESHAPE (the file is left as it
 * was). Returns 0 or -errno (campaign.c).
 */
int vigil__csv_widen(const char *path, const char *const *names, size_t n);

/* ---- kamailio configuration (testbed.c) ---- */

/*
 * Writes a minimal stateless proxy configuration: listen on the given
 * addresses (port 5060, UDP or TCP as transport says) and forward every
 * request to next_hop:5060 over the same transport, replies following their
 * Via. Returns 0 or -ENOMEM.
 */
int vigil__kamailio_cfg(struct vigil_buf *out, const char *role, const char *const *listen,
                        size_t n_listen, const char *next_hop, int children, int transport);

#endif /* VIGIL_INJECT_INTERNAL_H */
