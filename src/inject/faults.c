/*
 * The five injectors, each a start/stop pair over a testbed VM (the paper's
 * Table I, Sauvanaud et al., DSN 2016):
 *
 *   cpu      stress-ng --cpu W --cpu-load P inside the target's cgroup, W =
 *            its CPU quota rounded up, so P% of the VM's CPU is taken
 *   memory   stress-ng --vm 1 holding P% of the target's memory limit, less
 *            what the VM already uses (allocated once, then held)
 *   disk     stress-ng --hdd W workers writing in the VM's directory
 *   loss     iptables -m statistic --mode random --probability P -j DROP on
 *            each of the target's interfaces, outgoing (as netem would)
 *   latency  iptables -j NFQUEUE on the target's outgoing packets, delayed
 *            by our NFQUEUE helper thread (this kernel has no netem)
 *
 * What each injection did goes into a note for injections.csv.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/nfq.h"

#define SEC ((int64_t)1000000000)

struct vigil_injection {
    struct vigil_testbed *tb;
    int fault, level, target;
    pid_t pid;                   /* stress-ng, 0 = none */
    struct vigil_nfq_delay *nfq; /* latency helper, NULL = none */
    size_t n_if;                 /* interfaces with a rule */
    char arg[2][8][32];          /* rule arguments per interface */
    const char *spec[2][12];
    char note[256];
};

/* ---- stress-ng ---- */

static int start_stress(struct vigil_injection *inj, const char *const *argv, const char *log)
{
    char exe[PATH_MAX];
    if (vigil__which("stress-ng", exe, sizeof exe) != 0) {
        vigil_error("inject: stress-ng not found (Debian package stress-ng)");
        return -ENOENT;
    }
    int rc = vigil__tb_spawn(inj->tb, inj->target, argv, log, &inj->pid);
    if (rc) {
        vigil_error("inject: start stress-ng in %s: %s", vigil_vm_name(inj->target),
                    vigil_strerror(rc));
        inj->pid = 0;
        return rc;
    }
    /* The note keeps the command as run (minus the timeout safety net). */
    size_t off = 0;
    for (int i = 0; argv[i] && off < sizeof inj->note - 1; i++) {
        if (strcmp(argv[i], "--timeout") == 0) {
            i++;
            continue;
        }
        int w = snprintf(inj->note + off, sizeof inj->note - off, "%s%s", off ? " " : "", argv[i]);
        off += w > 0 ? (size_t)w : 0;
    }
    return 0;
}

static int cpu_workers(const struct vigil_plan *plan)
{
    if (plan->tb.cpus > 0) {
        return (int)ceil(plan->tb.cpus);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int start_cpu(struct vigil_injection *inj, const struct vigil_plan *plan, double value,
                     const char *timeout)
{
    char workers[16], load[16];
    snprintf(workers, sizeof workers, "%d", cpu_workers(plan));
    snprintf(load, sizeof load, "%.0f", value);
    const char *argv[] = {"stress-ng", "--cpu", workers, "--cpu-load", load,
                          "--timeout", timeout, "-q",    NULL};
    return start_stress(inj, argv, "stress-cpu.log");
}

static int start_memory(struct vigil_injection *inj, const struct vigil_plan *plan, double value,
                        const char *timeout)
{
    uint64_t limit = (uint64_t)plan->tb.memory_mb << 20, usage = 0, lim_read;
    const struct vigil__cg *cg = vigil__tb_cg(inj->tb, inj->target);
    if (cg && vigil__cg_memory(cg, &lim_read, &usage) == 0 && lim_read < ((uint64_t)1 << 50)) {
        limit = lim_read;
    }
    double want = value / 100.0 * (double)limit - (double)usage;
    uint64_t bytes = want < (double)(4 << 20) ? (uint64_t)4 << 20 : (uint64_t)want;
    char vmbytes[32];
    snprintf(vmbytes, sizeof vmbytes, "%llub", (unsigned long long)bytes);
    /* Allocate and touch once, then hold (--vm-hang 0): memory pressure, not CPU load. */
    const char *argv[] = {"stress-ng", "--vm", "1",         "--vm-bytes", vmbytes, "--vm-keep",
                          "--vm-hang", "0",    "--timeout", timeout,      "-q",    NULL};
    int rc = start_stress(inj, argv, "stress-memory.log");
    if (rc == 0) {
        size_t off = strlen(inj->note);
        snprintf(inj->note + off, sizeof inj->note - off, " (limit %llu MiB, in use %llu MiB)",
                 (unsigned long long)(limit >> 20), (unsigned long long)(usage >> 20));
    }
    return rc;
}

static int start_disk(struct vigil_injection *inj, const struct vigil_plan *plan, double value,
                      const char *timeout)
{
    char workers[16], bytes[32], tmp[PATH_MAX];
    snprintf(workers, sizeof workers, "%.0f", value);
    snprintf(bytes, sizeof bytes, "%dm", plan->fault[VIGIL_FAULT_DISK].disk_mb);
    snprintf(tmp, sizeof tmp, "%s", vigil__tb_dir(inj->tb, inj->target));
    const char *opts = plan->fault[VIGIL_FAULT_DISK].hdd_opts;
    const char *argv[] = {"stress-ng", "--hdd", workers, "--hdd-bytes", bytes, "--temp-path", tmp,
                          "--timeout", timeout, "-q",    NULL,          NULL,  NULL};
    if (opts && opts[0]) {
        argv[9] = "--hdd-opts";
        argv[10] = opts;
    }
    return start_stress(inj, argv, "stress-disk.log");
}

/* ---- iptables ---- */

static int add_rules(struct vigil_injection *inj, const char *const *tail, size_t n_tail)
{
    const char *ifs[2];
    size_t nif = vigil__tb_ifaces(inj->tb, inj->target, ifs);
    for (size_t k = 0; k < nif; k++) {
        size_t a = 0;
        inj->spec[k][a++] = "-o";
        snprintf(inj->arg[k][0], sizeof inj->arg[k][0], "%s", ifs[k]);
        inj->spec[k][a++] = inj->arg[k][0];
        for (size_t i = 0; i < n_tail && a + 1 < 12; i++) {
            inj->spec[k][a++] = tail[i];
        }
        inj->spec[k][a] = NULL;
        int rc = vigil__tb_rule(inj->tb, inj->target, 1, "filter", "OUTPUT", inj->spec[k]);
        if (rc) {
            return rc;
        }
        inj->n_if = k + 1;
    }
    return 0;
}

static int del_rules(struct vigil_injection *inj)
{
    int first = 0;
    while (inj->n_if > 0) {
        inj->n_if--;
        int rc = vigil__tb_rule(inj->tb, inj->target, 0, "filter", "OUTPUT", inj->spec[inj->n_if]);
        if (rc && !first) {
            first = rc;
        }
    }
    return first;
}

static int start_loss(struct vigil_injection *inj, double value)
{
    /* The probability is written into a buffer that lives as long as the rules. */
    snprintf(inj->arg[0][7], sizeof inj->arg[0][7], "%.6f", value / 100.0);
    const char *tail[] = {"-m",           "statistic", "--mode", "random", "--probability",
                          inj->arg[0][7], "-j",        "DROP"};
    snprintf(inj->note, sizeof inj->note, "iptables statistic drop p=%.4f", value / 100.0);
    return add_rules(inj, tail, sizeof tail / sizeof tail[0]);
}

static int start_latency(struct vigil_injection *inj, const struct vigil_plan *plan, int level)
{
    int64_t delay = plan->fault[VIGIL_FAULT_LATENCY].delay[level - 1];
    int q = plan->tb.nfq_queue;
    int rc = vigil_nfq_delay_start(&inj->nfq, vigil__tb_netns(inj->tb, inj->target), (uint16_t)q,
                                   delay, 0);
    if (rc) {
        vigil_error("inject: NFQUEUE delay helper in %s: %s", vigil_vm_name(inj->target),
                    vigil_strerror(rc));
        return rc;
    }
    snprintf(inj->arg[0][7], sizeof inj->arg[0][7], "%d", q);
    const char *tail[] = {"-j", "NFQUEUE", "--queue-num", inj->arg[0][7], "--queue-bypass"};
    snprintf(inj->note, sizeof inj->note, "NFQUEUE %d delay %.1f ms", q, (double)delay / 1e6);
    return add_rules(inj, tail, sizeof tail / sizeof tail[0]);
}

/* ---- the public pair ---- */

int vigil_inject_start(struct vigil_injection **out, struct vigil_testbed *tb,
                       const struct vigil_plan *plan, int fault, int level, int target)
{
    *out = NULL;
    if (fault <= VIGIL_FAULT_NONE || fault >= VIGIL_FAULT_COUNT ||
        (level != VIGIL_LEVEL_LOW && level != VIGIL_LEVEL_HIGH) || !vigil_testbed_has(tb, target)) {
        return -EINVAL;
    }
    struct vigil_injection *inj = vigil_calloc(1, sizeof *inj);
    if (!inj) {
        return -ENOMEM;
    }
    inj->tb = tb;
    inj->fault = fault;
    inj->level = level;
    inj->target = target;
    double value = plan->fault[fault].level[level - 1];
    /* stress-ng ends on its own a minute after the injection should have, if we could not stop it.
     */
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%llds", (long long)(plan->tm.inject / SEC + 60));
    int rc;
    switch (fault) {
    case VIGIL_FAULT_CPU:
        rc = start_cpu(inj, plan, value, timeout);
        break;
    case VIGIL_FAULT_MEMORY:
        rc = start_memory(inj, plan, value, timeout);
        break;
    case VIGIL_FAULT_DISK:
        rc = start_disk(inj, plan, value, timeout);
        break;
    case VIGIL_FAULT_LOSS:
        rc = start_loss(inj, value);
        break;
    default:
        rc = start_latency(inj, plan, level);
        break;
    }
    if (rc) {
        vigil_inject_stop(inj, NULL, 0);
        return rc;
    }
    vigil_info("inject: %s %s on %s: %s", vigil_fault_name(fault),
               level == VIGIL_LEVEL_LOW ? "low" : "high", vigil_vm_name(target), inj->note);
    *out = inj;
    return 0;
}

int vigil_inject_stop(struct vigil_injection *inj, char *note, size_t n)
{
    if (!inj) {
        return 0;
    }
    int rc = 0;
    char extra[128] = "";
    if (inj->fault == VIGIL_FAULT_LOSS && inj->n_if > 0) {
        uint64_t dropped = 0;
        if (vigil__tb_rule_packets(inj->tb, inj->target, "filter", "OUTPUT", &dropped) == 0) {
            snprintf(extra, sizeof extra, "; dropped %llu packets", (unsigned long long)dropped);
        }
    }
    if (inj->nfq) {
        /* Held packets first, then the rule: nothing overtakes a delayed packet. */
        vigil_nfq_delay_drain(inj->nfq);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rc = del_rules(inj);
    if (inj->nfq) {
        struct vigil_nfq_stats st;
        vigil_nfq_delay_stop(inj->nfq, &st);
        inj->nfq = NULL;
        snprintf(extra, sizeof extra,
                 "; delayed %llu packets, %llu let through at once, at most %llu held",
                 (unsigned long long)st.delayed, (unsigned long long)st.overflow,
                 (unsigned long long)st.max_held);
    }
    if (inj->pid > 0) {
        int src = vigil__stop(inj->pid, 1, SIGINT, 5 * SEC);
        if (src && !rc) {
            rc = src;
        }
        inj->pid = 0;
    }
    if (note && n > 0) {
        snprintf(note, n, "%s%s", inj->note, extra);
    }
    vigil_free(inj);
    return rc;
}
