/*
 * Campaign plans: YAML (include/vigil/config.h) applied to option tables,
 * one section per concern, with lists of faults, levels and targets. The
 * defaults are the paper's Table I intensities (Sauvanaud et al., DSN 2016),
 * except disk, whose 40 / 60 I/O workers are scaled by 1/20 to 2 / 3 for
 * this 2-core machine. Unknown sections, keys and names are rejected with
 * the line they are on. docs/campaign.md has the format.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "vigil/config.h"
#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/rng.h"

static const char *const transport_names[] = {"udp", "tcp", NULL};

const struct vigil_opt vigil_testbed_opts[] = {
    {"scscf", VIGIL_OPT_BOOL, offsetof(struct vigil_testbed_params, scscf), "false", 0, 0,
     "chain a second Kamailio (S-CSCF role) behind the P-CSCF", NULL},
    {"rate", VIGIL_OPT_DOUBLE, offsetof(struct vigil_testbed_params, rate), "20", 0.1, 1000,
     "calls per second offered by the SIPp caller", NULL},
    {"call_length", VIGIL_OPT_DURATION, offsetof(struct vigil_testbed_params, call_length), "1s", 0,
     60, "time between a call's ACK and its BYE", NULL},
    {"recv_timeout", VIGIL_OPT_DURATION, offsetof(struct vigil_testbed_params, recv_timeout), "5s",
     0.1, 120, "a call fails when an expected message is this late (sipp -recv_timeout)", NULL},
    {"memory_mb", VIGIL_OPT_INT, offsetof(struct vigil_testbed_params, memory_mb), "256", 32, 65536,
     "memory limit of each VM's cgroup, MiB", NULL},
    {"cpus", VIGIL_OPT_DOUBLE, offsetof(struct vigil_testbed_params, cpus), "1", 0, 64,
     "CPU quota of each VM's cgroup in cores (0 = no quota)", NULL},
    {"children", VIGIL_OPT_INT, offsetof(struct vigil_testbed_params, children), "1", 1, 16,
     "Kamailio UDP workers per proxy (more than 1 reorders 180/200 and fails calls)", NULL},
    {"shm_mb", VIGIL_OPT_INT, offsetof(struct vigil_testbed_params, shm_mb), "32", 8, 1024,
     "Kamailio shared memory per proxy, MiB", NULL},
    {"net", VIGIL_OPT_STR, offsetof(struct vigil_testbed_params, net), "10.77", 0, 0,
     "first two octets of the private /16 used inside the namespaces", NULL},
    {"nfq_queue", VIGIL_OPT_INT, offsetof(struct vigil_testbed_params, nfq_queue), "4242", 0, 65535,
     "NFQUEUE number of the latency helper (inside the target's namespace)", NULL},
    {"transport", VIGIL_OPT_ENUM, offsetof(struct vigil_testbed_params, transport), "udp", 0, 0,
     "SIP transport on every hop; over tcp a VM's delay shows in its sockets' round-trip times",
     transport_names},
    {0},
};

const struct vigil_opt vigil_timing_opts[] = {
    {"step", VIGIL_OPT_DURATION, offsetof(struct vigil_timing_params, step), "1s", 0.1, 3600,
     "sampling period of metrics, labels and service rows", NULL},
    {"warmup", VIGIL_OPT_DURATION, offsetof(struct vigil_timing_params, warmup), "60s", 0, 86400,
     "normal traffic before the first injection", NULL},
    {"inject", VIGIL_OPT_DURATION, offsetof(struct vigil_timing_params, inject), "3m", 1, 86400,
     "length of each injection (the paper: 3 minutes)", NULL},
    {"cooldown", VIGIL_OPT_DURATION, offsetof(struct vigil_timing_params, cooldown), "2m", 0, 86400,
     "normal traffic after each injection", NULL},
    {"repeat", VIGIL_OPT_INT, offsetof(struct vigil_timing_params, repeat), "1", 1, 1000,
     "how many times the fault x level x target grid runs", NULL},
    {"shuffle", VIGIL_OPT_BOOL, offsetof(struct vigil_timing_params, shuffle), "false", 0, 0,
     "run the injections in a random (seeded) order", NULL},
    {"seed", VIGIL_OPT_INT, offsetof(struct vigil_timing_params, seed), "1", 0, 2147483647,
     "seed of the shuffle", NULL},
    {0},
};

#define LEVEL_OPTS(lo, hi, min, max, unit)                                                         \
    {"low",                                                                                        \
     VIGIL_OPT_DOUBLE,                                                                             \
     offsetof(struct vigil_fault_params, level[0]),                                                \
     lo,                                                                                           \
     min,                                                                                          \
     max,                                                                                          \
     "low intensity, " unit,                                                                       \
     NULL},                                                                                        \
    {                                                                                              \
        "high", VIGIL_OPT_DOUBLE, offsetof(struct vigil_fault_params, level[1]), hi, min, max,     \
            "high intensity, " unit, NULL                                                          \
    }

static const struct vigil_opt cpu_opts[] = {
    LEVEL_OPTS("70", "97", 1, 100, "CPU load in % of the VM's quota (stress-ng --cpu-load)"),
    {0},
};
static const struct vigil_opt memory_opts[] = {
    LEVEL_OPTS("70", "97", 1, 100, "memory use in % of the VM's memory limit"),
    {0},
};
static const struct vigil_opt disk_opts[] = {
    LEVEL_OPTS("2", "3", 1, 256, "stress-ng hdd workers (the paper's 40 / 60 scaled by 1/20)"),
    {"bytes_mb", VIGIL_OPT_INT, offsetof(struct vigil_fault_params, disk_mb), "64", 1, 65536,
     "MiB each hdd worker writes per pass", NULL},
    {"hdd_opts", VIGIL_OPT_STR, offsetof(struct vigil_fault_params, hdd_opts), "direct", 0, 0,
     "stress-ng --hdd-opts; direct I/O is what cgroup v1 can attribute to the VM", NULL},
    {0},
};
static const struct vigil_opt loss_opts[] = {
    LEVEL_OPTS("5", "10", 0.01, 100, "% of the target's outgoing packets dropped"),
    {0},
};
static const struct vigil_opt latency_opts[] = {
    {"low", VIGIL_OPT_DURATION, offsetof(struct vigil_fault_params, delay[0]), "50ms", 0.0001, 10,
     "low intensity: delay added to the target's outgoing packets", NULL},
    {"high", VIGIL_OPT_DURATION, offsetof(struct vigil_fault_params, delay[1]), "100ms", 0.0001, 10,
     "high intensity: delay added to the target's outgoing packets", NULL},
    {0},
};

static const struct vigil_opt *const fault_opts[VIGIL_FAULT_COUNT] = {
    NULL, cpu_opts, memory_opts, disk_opts, loss_opts, latency_opts,
};

int vigil_plan_help(struct vigil_buf *out)
{
    int rc = vigil_buf_puts(out, "testbed:\n");
    rc = rc ? rc : vigil_opt_help(vigil_testbed_opts, out);
    rc = rc ? rc : vigil_buf_puts(out, "campaign:\n");
    rc = rc ? rc : vigil_opt_help(vigil_timing_opts, out);
    for (int f = 1; rc == 0 && f < VIGIL_FAULT_COUNT; f++) {
        rc = vigil_buf_appendf(out, "%s: (class %d)\n", vigil_fault_name(f), f);
        rc = rc ? rc : vigil_opt_help(fault_opts[f], out);
    }
    return rc ? rc
              : vigil_buf_puts(out, "lists: faults (cpu memory disk loss latency, or none), "
                                    "levels (low high), targets (uac pcscf scscf uas)\n");
}

int vigil_plan_init(struct vigil_plan *p)
{
    memset(p, 0, sizeof *p);
    int rc = vigil_opt_defaults(vigil_testbed_opts, &p->tb);
    if (rc == 0) {
        rc = vigil_opt_defaults(vigil_timing_opts, &p->tm);
    }
    for (int f = 1; rc == 0 && f < VIGIL_FAULT_COUNT; f++) {
        rc = vigil_opt_defaults(fault_opts[f], &p->fault[f]);
    }
    if (rc) {
        vigil_plan_fini(p);
        return rc;
    }
    for (int f = 1; f < VIGIL_FAULT_COUNT; f++) {
        p->faults[p->n_faults++] = f;
    }
    p->levels[0] = VIGIL_LEVEL_LOW;
    p->levels[1] = VIGIL_LEVEL_HIGH;
    p->n_levels = 2;
    p->targets[0] = VIGIL_VM_PCSCF;
    p->n_targets = 1;
    for (int i = 0; i < 2; i++) {
        p->fault[VIGIL_FAULT_LATENCY].level[i] =
            (double)p->fault[VIGIL_FAULT_LATENCY].delay[i] / 1e6;
    }
    return 0;
}

void vigil_plan_fini(struct vigil_plan *p)
{
    vigil_opt_free(vigil_testbed_opts, &p->tb);
    for (int f = 1; f < VIGIL_FAULT_COUNT; f++) {
        vigil_opt_free(fault_opts[f], &p->fault[f]);
    }
}

/* Top-level keys a plan may hold besides the sections with option tables. */
static const char *const list_keys[] = {"faults", "levels", "targets", NULL};
static const char *const info_keys[] = {"name", "description", NULL};

static int in_names(const char *const *names, const char *s, size_t n)
{
    for (int i = 0; names[i]; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int known_section(const char *key, size_t n)
{
    if ((n == 7 && memcmp(key, "testbed", 7) == 0) || (n == 8 && memcmp(key, "campaign", 8) == 0)) {
        return 1;
    }
    for (int f = 1; f < VIGIL_FAULT_COUNT; f++) {
        const char *name = vigil_fault_name(f);
        if (strlen(name) == n && memcmp(name, key, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Reads list "key" ("key.0", "key.1", ... or a single scalar "key") through
 * parse, which maps a name to an id or -1. Replaces out only when the plan
 * has the key.
 */
static int read_list(const struct vigil_config *cfg, const char *key, int (*parse)(const char *),
                     int *out, size_t *n_out, size_t max, struct vigil_diag *diag)
{
    int ids[VIGIL_FAULT_COUNT + VIGIL_VM_COUNT];
    size_t n = 0, kl = strlen(key);
    int seen = 0;
    for (size_t i = 0; i < cfg->n; i++) {
        const struct vigil_config_entry *e = &cfg->v[i];
        if (strncmp(e->key, key, kl) != 0 || (e->key[kl] != '\0' && e->key[kl] != '.')) {
            continue;
        }
        seen = 1;
        if (e->key[kl] == '.' && strchr(e->key + kl + 1, '.')) {
            vigil_diag_set(diag, e->line, 0, "%s: expected a list of names", key);
            return VIGIL_ECONFIG;
        }
        int id = parse(e->value);
        if (id < 0) {
            vigil_diag_set(diag, e->line, 0, "%s: unknown name '%s'", key, e->value);
            return VIGIL_ECONFIG;
        }
        for (size_t j = 0; j < n; j++) {
            if (ids[j] == id) {
                vigil_diag_set(diag, e->line, 0, "%s: '%s' listed twice", key, e->value);
                return VIGIL_ECONFIG;
            }
        }
        if (n == max) {
            vigil_diag_set(diag, e->line, 0, "%s: too many entries", key);
            return VIGIL_ECONFIG;
        }
        ids[n++] = id;
    }
    if (!seen) {
        return 0;
    }
    if (n == 0) {
        vigil_diag_set(diag, 0, 0, "%s: the list is empty", key);
        return VIGIL_ECONFIG;
    }
    memcpy(out, ids, n * sizeof *ids);
    *n_out = n;
    return 0;
}

/* "none" (0) is allowed alone: a baseline run of normal traffic only. */
static int parse_fault_id(const char *s)
{
    return vigil_fault_parse(s);
}

static int parse_level(const char *s)
{
    if (strcmp(s, "low") == 0) {
        return VIGIL_LEVEL_LOW;
    }
    if (strcmp(s, "high") == 0) {
        return VIGIL_LEVEL_HIGH;
    }
    return -1;
}

int vigil_plan_parse(struct vigil_plan *p, const char *text, size_t n, struct vigil_diag *diag)
{
    struct vigil_config cfg;
    vigil_config_init(&cfg);
    vigil_diag_clear(diag);
    int rc = vigil_config_parse(&cfg, text, n, diag);
    if (rc) {
        goto out;
    }
    /* Every key must belong to a section or list we know. */
    for (size_t i = 0; i < cfg.n; i++) {
        const char *k = cfg.v[i].key;
        size_t top = strcspn(k, ".");
        if (known_section(k, top) || in_names(list_keys, k, top) ||
            (k[top] == '\0' && in_names(info_keys, k, top))) {
            if (known_section(k, top) && k[top] == '\0') {
                vigil_diag_set(diag, cfg.v[i].line, 0, "'%s' must be a section of keys", k);
                rc = VIGIL_ECONFIG;
                goto out;
            }
            continue;
        }
        vigil_diag_set(diag, cfg.v[i].line, 0,
                       "unknown key '%.*s' (sections: testbed, campaign, cpu, memory, disk, loss, "
                       "latency; lists: faults, levels, targets)",
                       (int)top, k);
        rc = VIGIL_ECONFIG;
        goto out;
    }
    rc = vigil_config_apply(&cfg, "testbed", vigil_testbed_opts, &p->tb, diag);
    if (rc == 0) {
        rc = vigil_config_apply(&cfg, "campaign", vigil_timing_opts, &p->tm, diag);
    }
    for (int f = 1; rc == 0 && f < VIGIL_FAULT_COUNT; f++) {
        rc = vigil_config_apply(&cfg, vigil_fault_name(f), fault_opts[f], &p->fault[f], diag);
    }
    if (rc == 0) {
        rc = read_list(&cfg, "faults", parse_fault_id, p->faults, &p->n_faults,
                       VIGIL_FAULT_COUNT - 1, diag);
    }
    for (size_t i = 0; rc == 0 && i < p->n_faults; i++) {
        if (p->faults[i] == VIGIL_FAULT_NONE) {
            if (p->n_faults > 1) {
                const struct vigil_config_entry *e = vigil_config_get(&cfg, "faults.0");
                vigil_diag_set(diag, e ? e->line : 0, 0,
                               "faults: 'none' (a baseline run) cannot be mixed with faults");
                rc = VIGIL_ECONFIG;
            }
            p->n_faults = 0;
        }
    }
    if (rc == 0) {
        rc = read_list(&cfg, "levels", parse_level, p->levels, &p->n_levels, 2, diag);
    }
    if (rc == 0) {
        rc = read_list(&cfg, "targets", vigil_vm_parse, p->targets, &p->n_targets, VIGIL_VM_COUNT,
                       diag);
    }
    if (rc) {
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        p->fault[VIGIL_FAULT_LATENCY].level[i] =
            (double)p->fault[VIGIL_FAULT_LATENCY].delay[i] / 1e6;
    }
    for (size_t i = 0; i < p->n_targets; i++) {
        if (p->targets[i] == VIGIL_VM_SCSCF && !p->tb.scscf) {
            const struct vigil_config_entry *e = NULL;
            for (size_t j = 0; j < cfg.n && !e; j++) {
                if (strncmp(cfg.v[j].key, "targets", 7) == 0 &&
                    strcmp(cfg.v[j].value, "scscf") == 0) {
                    e = &cfg.v[j];
                }
            }
            vigil_diag_set(diag, e ? e->line : 0, 0,
                           "targets: 'scscf' needs 'scscf: true' in the testbed section");
            rc = VIGIL_ECONFIG;
            goto out;
        }
    }
    /* testbed.net: exactly two octets, "10.77". */
    const char *net = p->tb.net ? p->tb.net : "";
    unsigned oct[2] = {0, 0};
    int k = 0, digits = 0, ok = 1;
    for (const char *c = net; ok && *c; c++) {
        if (*c >= '0' && *c <= '9' && digits < 3) {
            oct[k] = oct[k] * 10 + (unsigned)(*c - '0');
            digits++;
        } else if (*c == '.' && k == 0 && digits > 0) {
            k = 1;
            digits = 0;
        } else {
            ok = 0;
        }
    }
    if (!ok || k != 1 || digits == 0 || oct[0] > 255 || oct[1] > 255) {
        const struct vigil_config_entry *e = vigil_config_get(&cfg, "testbed.net");
        vigil_diag_set(diag, e ? e->line : 0, 0,
                       "testbed.net: expected two octets like 10.77, got '%s'", net);
        rc = VIGIL_ECONFIG;
    }
out:
    vigil_config_fini(&cfg);
    return rc;
}

int vigil_plan_load(struct vigil_plan *p, const char *path, struct vigil_diag *diag)
{
    char *text;
    size_t n;
    vigil_diag_clear(diag);
    int rc = vigil_read_file(path, (size_t)1 << 20, &text, &n);
    if (rc) {
        return rc;
    }
    rc = vigil_plan_parse(p, text, n, diag);
    vigil_free(text);
    return rc;
}

int vigil_plan_schedule(const struct vigil_plan *p, struct vigil_slot **slots, size_t *n)
{
    size_t total = (size_t)p->tm.repeat * p->n_faults * p->n_levels * p->n_targets;
    *slots = NULL;
    *n = 0;
    if (total == 0) {
        return 0;
    }
    struct vigil_slot *s = vigil_mallocarray(total, sizeof *s);
    if (!s) {
        return -ENOMEM;
    }
    size_t k = 0;
    for (int r = 0; r < p->tm.repeat; r++) {
        for (size_t f = 0; f < p->n_faults; f++) {
            for (size_t l = 0; l < p->n_levels; l++) {
                for (size_t t = 0; t < p->n_targets; t++) {
                    s[k++] = (struct vigil_slot){p->faults[f], p->levels[l], p->targets[t]};
                }
            }
        }
    }
    if (p->tm.shuffle) {
        struct vigil_rng rng;
        vigil_rng_seed(&rng, (uint64_t)p->tm.seed);
        for (size_t i = total - 1; i > 0; i--) {
            size_t j = (size_t)vigil_rng_below(&rng, i + 1);
            struct vigil_slot tmp = s[i];
            s[i] = s[j];
            s[j] = tmp;
        }
    }
    *slots = s;
    *n = total;
    return 0;
}

int64_t vigil_plan_duration(const struct vigil_plan *p)
{
    int64_t per = p->tm.inject + p->tm.cooldown;
    return p->tm.warmup +
           (int64_t)p->tm.repeat * (int64_t)(p->n_faults * p->n_levels * p->n_targets) * per;
}
