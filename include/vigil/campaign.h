/*
 * Fault-injection campaigns on a SIP testbed (Sauvanaud et al., DSN 2016;
 * SYRROCA). A testbed is a small virtual IMS on one machine: each "VM" is a
 * network namespace with its own cgroup, joined to its neighbours by veth
 * pairs: a SIPp caller (uac), a Kamailio proxy in the P-CSCF role (pcscf),
 * optionally a second Kamailio as S-CSCF (scscf), and a SIPp callee (uas).
 * A campaign drives calls through it, injects faults (CPU, memory, disk,
 * packet loss, latency) at two intensities into target VMs, and records
 * per-VM metrics, per-second labels and sipp's call statistics into a
 * dataset directory that `vigil train/score/eval/radiography` read as is.
 *
 *     struct vigil_plan plan;
 *     struct vigil_diag d;
 *     vigil_plan_init(&plan);
 *     if (vigil_plan_load(&plan, "plan.yaml", &d) != 0) report file:line
 *     struct vigil_campaign_summary sum;
 *     rc = vigil_campaign_run(&plan, "plan.yaml", "out", &stop_flag, &sum);
 *     vigil_plan_fini(&plan);
 *
 * Everything a run creates is named "vigil-camp-<run id>-<vm>" (namespaces,
 * cgroups) or tagged "vigil-camp-<run id>" (iptables comments), recorded in
 * /run/vigil-camp/<run id>.state as it is made, and removed on exit, on
 * error and on SIGINT/SIGTERM (the caller's stop flag). vigil_campaign_clean
 * removes what a crashed run left, and nothing else. Needs root.
 * The layout of the dataset and the plan format are in docs/campaign.md.
 */
#ifndef VIGIL_CAMPAIGN_H
#define VIGIL_CAMPAIGN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/opt.h"

/* Label classes written to labels.csv; 0 is "no injection". */
enum vigil_fault {
    VIGIL_FAULT_NONE = 0,
    VIGIL_FAULT_CPU = 1,
    VIGIL_FAULT_MEMORY = 2,
    VIGIL_FAULT_DISK = 3,
    VIGIL_FAULT_LOSS = 4,
    VIGIL_FAULT_LATENCY = 5,
    VIGIL_FAULT_COUNT = 6,
};

/* "none", "cpu", "memory", "disk", "loss", "latency"; NULL out of range. */
const char *vigil_fault_name(int fault);
/* Parses a fault name; returns the class id or -1. */
int vigil_fault_parse(const char *name);
/* The unit of a fault's intensity values: "%", "% of limit", "workers", "%", "ms". */
const char *vigil_fault_unit(int fault);

/* Testbed VMs in chain order. */
enum vigil_vm {
    VIGIL_VM_UAC = 0,
    VIGIL_VM_PCSCF = 1,
    VIGIL_VM_SCSCF = 2,
    VIGIL_VM_UAS = 3,
    VIGIL_VM_COUNT = 4,
};

/* "uac", "pcscf", "scscf", "uas"; NULL out of range. */
const char *vigil_vm_name(int vm);
/* Parses a VM name; returns the vm id or -1. */
int vigil_vm_parse(const char *name);

/* Intensity levels: labels.csv writes 0 (none), 1 (low) or 2 (high). */
#define VIGIL_LEVEL_LOW 1
#define VIGIL_LEVEL_HIGH 2

/* ---- the plan ---- */

/* Section "testbed:" of a plan. */
struct vigil_testbed_params {
    int scscf;            /* 1 = chain a second Kamailio (S-CSCF) behind the P-CSCF */
    double rate;          /* calls per second offered by the caller */
    int64_t call_length;  /* ns between the call's ACK and its BYE */
    int64_t recv_timeout; /* ns a sipp call waits for an expected message before failing */
    int memory_mb;        /* memory limit of every VM's cgroup, MiB */
    double cpus;          /* CPU quota of every VM's cgroup, in cores (0 = none) */
    int children;         /* Kamailio UDP worker processes */
    int shm_mb;           /* Kamailio shared memory, MiB */
    char *net;            /* first two octets of the private /16 inside the namespaces */
    int nfq_queue;        /* NFQUEUE number used inside the target namespace */
    int transport;        /* VIGIL_SIP_UDP or VIGIL_SIP_TCP: SIP on every hop */
};

enum vigil_sip_transport { VIGIL_SIP_UDP, VIGIL_SIP_TCP };

/* Section "campaign:" of a plan. */
struct vigil_timing_params {
    int64_t step;     /* sampling period of metrics, labels and service rows, ns */
    int64_t warmup;   /* normal traffic before the first injection, ns */
    int64_t inject;   /* length of each injection, ns */
    int64_t cooldown; /* normal traffic after each injection, ns */
    int repeat;       /* how many times the whole fault x level x target grid runs */
    int shuffle;      /* 1 = random order of injections (seeded) */
    int seed;         /* seed of the shuffle */
};

/*
 * Sections "cpu:", "memory:", "disk:", "loss:", "latency:". level[0] is the
 * low intensity and level[1] the high one, in the unit of vigil_fault_unit.
 * Latency is written as durations ("50ms") and stored here in ms.
 */
struct vigil_fault_params {
    double level[2];
    int64_t delay[2]; /* latency only: the durations as parsed, ns */
    int disk_mb;      /* disk only: MiB each stress-ng hdd worker writes per pass */
    char *hdd_opts;   /* disk only: stress-ng --hdd-opts ("" = none); owned */
};

struct vigil_plan {
    struct vigil_testbed_params tb;
    struct vigil_timing_params tm;
    struct vigil_fault_params fault[VIGIL_FAULT_COUNT]; /* index by enum vigil_fault; [0] unused */
    int faults[VIGIL_FAULT_COUNT];                      /* fault classes to inject, in order */
    size_t n_faults; /* 0 after "faults: none": a baseline run (warm-up only) */
    int levels[2];   /* VIGIL_LEVEL_LOW and/or VIGIL_LEVEL_HIGH */
    size_t n_levels;
    int targets[VIGIL_VM_COUNT]; /* target VMs */
    size_t n_targets;
};

/* Option tables of the plan's sections (also `vigil help campaign`). */
extern const struct vigil_opt vigil_testbed_opts[];
extern const struct vigil_opt vigil_timing_opts[];

/* Appends the help of every plan section (options, defaults, bounds). Returns 0 or -ENOMEM. */
int vigil_plan_help(struct vigil_buf *out);

/* Fills every section with its defaults (the paper's Table I intensities). */
int vigil_plan_init(struct vigil_plan *p);
/* Frees the strings the plan owns. */
void vigil_plan_fini(struct vigil_plan *p);

/*
 * Parses plan YAML over the defaults already in p. Unknown sections and keys,
 * bad values, unknown fault or VM names, a target "scscf" without
 * testbed.scscf, and an empty fault, level or target list are VIGIL_ECONFIG
 * with diag naming the line. Returns 0, -ENOMEM, VIGIL_EPARSE or VIGIL_ECONFIG.
 */
int vigil_plan_parse(struct vigil_plan *p, const char *text, size_t n, struct vigil_diag *diag);

/* Reads a plan file (at most 1 MiB) and parses it. -errno when it cannot be read. */
int vigil_plan_load(struct vigil_plan *p, const char *path, struct vigil_diag *diag);

/* One scheduled injection. */
struct vigil_slot {
    int fault;  /* enum vigil_fault */
    int level;  /* VIGIL_LEVEL_LOW or VIGIL_LEVEL_HIGH */
    int target; /* enum vigil_vm */
};

/*
 * The injections in run order: repeat x faults x levels x targets, shuffled
 * with the plan's seed when shuffle is on. *slots is allocated (caller frees
 * with vigil_free). Returns 0 or -ENOMEM.
 */
int vigil_plan_schedule(const struct vigil_plan *p, struct vigil_slot **slots, size_t *n);

/* Planned wall time of a run, ns (warm-up + each injection and its cool-down). */
int64_t vigil_plan_duration(const struct vigil_plan *p);

/* ---- the testbed ---- */

struct vigil_testbed; /* opaque */

/*
 * Builds the testbed under a fresh run id: namespaces, veths, addresses,
 * cgroups with limits, Kamailio proxies and the SIPp callee and caller.
 * workdir receives configurations, logs and sipp's statistics file. Every
 * object is recorded in the state file before it is made. On failure
 * everything made so far is removed. Caller frees with vigil_testbed_down.
 * Returns 0, -EPERM (not root), -ENOENT (a program is missing; logged) or -errno.
 */
int vigil_testbed_up(struct vigil_testbed **out, const struct vigil_testbed_params *p,
                     const char *workdir);

/*
 * Stops every process, removes iptables rules, cgroups and namespaces, and
 * the state file. NULL is a no-op. Returns 0 or the first error (it goes on
 * after errors so that as much as possible is removed).
 */
int vigil_testbed_down(struct vigil_testbed *tb);

/* The run id, "vigil-camp-xxxxxx". Borrowed until down. */
const char *vigil_testbed_tag(const struct vigil_testbed *tb);

/* 1 when the testbed has this VM (scscf is optional). */
int vigil_testbed_has(const struct vigil_testbed *tb, int vm);

/*
 * Checks that the long-running processes are alive; restarts a proxy or the
 * callee that died (logged, counted in *restarts). A dead caller is -ECHILD:
 * the service metric is gone. Returns 0 or -errno.
 */
int vigil_testbed_check(struct vigil_testbed *tb, int *restarts);

/* ---- injections ---- */

struct vigil_injection; /* opaque */

/*
 * Starts a fault of the given level on a target VM with the plan's
 * intensities. Returns 0 and *out (stop it with vigil_inject_stop), or
 * -errno / VIGIL_ENOTSUP (latency without libnetfilter_queue).
 */
int vigil_inject_start(struct vigil_injection **out, struct vigil_testbed *tb,
                       const struct vigil_plan *plan, int fault, int level, int target);

/*
 * Ends the injection and frees it; note receives what it did, such as
 * "stress-ng --cpu 1 --cpu-load 70" or "dropped 123 of 2301 packets" (may be
 * NULL). NULL inj is a no-op. Returns 0 or -errno.
 */
int vigil_inject_stop(struct vigil_injection *inj, char *note, size_t n);

/* ---- campaigns ---- */

/* Calls and failures per phase, for the report at the end of a run. */
struct vigil_campaign_phase {
    int fault; /* 0 = no injection (warm-up and cool-downs) */
    int level;
    int target;
    double calls;
    double failed;
    double response_ms_sum; /* sum of per-step mean response times */
    size_t steps;
};

struct vigil_campaign_summary {
    struct vigil_campaign_phase *phase; /* owned; free with vigil_campaign_summary_fini */
    size_t n;
    size_t rows;     /* rows written to metrics.csv */
    size_t series;   /* columns written, not counting timestamp */
    int restarts;    /* processes restarted during the run */
    size_t late;     /* steps sampled more than half a step after their time (a loaded host) */
    int interrupted; /* 1 when the stop flag ended the run early */
};

void vigil_campaign_summary_fini(struct vigil_campaign_summary *s);

/*
 * Runs the plan: builds the testbed, warm-up, then each scheduled injection
 * and its cool-down, sampling every VM at the plan's step. Writes into outdir
 * (created if needed): metrics.csv, labels.csv, service.csv, injections.csv,
 * plan.yaml (a copy of plan_path when given) and testbed/ (configs and logs).
 * The run ends early, cleanly, when *stop becomes non-zero (a signal handler
 * sets it). The testbed is always torn down before returning. summary may be
 * NULL. Returns 0 or -errno.
 */
int vigil_campaign_run(const struct vigil_plan *plan, const char *plan_path, const char *outdir,
                       const volatile sig_atomic_t *stop, struct vigil_campaign_summary *summary);

/*
 * Removes what crashed runs left: for each state file in /run/vigil-camp,
 * the processes, iptables rules, cgroups and namespaces it lists, and any
 * namespace or cgroup named vigil-camp-* without a state file. Names that do
 * not match our pattern are refused (logged) even if a state file lists them.
 * *removed counts the objects removed. Returns 0 or the first -errno.
 */
int vigil_campaign_clean(size_t *removed);

#endif /* VIGIL_CAMPAIGN_H */
