/*
 * Group, entity and kind assignment (see include/vigil/groups.h). Rules are
 * POSIX extended regexes compiled once with regcomp and tried in order on the
 * metric name; the first match wins. This file does not read data or decide
 * what the chain does with a kind; it only labels series.
 *
 * The default rules go from precise prefixes (the exporters' subsystems) to
 * SYRROCA's four substrings and a few /proc words, so that for example
 * node_memory_Percpu_bytes is memory (its prefix wins over the "cpu"
 * substring) and node_pressure_io_* is filesystem.
 */
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/groups.h"
#include "vigil/mem.h"

#define ENTITY_LABELS_MAX 16

const struct vigil_opt vigil_groups_opts[] = {
    {"entity-labels", VIGIL_OPT_STR, offsetof(struct vigil_groups_params, entity_labels),
     "pod,container,name,domain,instance", 0, 0,
     "labels naming the entity, first present wins (none: the host)", NULL},
    {"counters", VIGIL_OPT_STR, offsetof(struct vigil_groups_params, counters), "", 0, 0,
     "regex: metric names always treated as counters", NULL},
    {"gauges", VIGIL_OPT_STR, offsetof(struct vigil_groups_params, gauges), "", 0, 0,
     "regex: metric names always treated as gauges", NULL},
    {"default-rules", VIGIL_OPT_BOOL, offsetof(struct vigil_groups_params, default_rules), "true",
     0, 0, "apply the built-in group rules after the configured ones", NULL},
    {"infer-kind", VIGIL_OPT_BOOL, offsetof(struct vigil_groups_params, infer_kind), "true", 0, 0,
     "untyped names ending in _total/_count/_sum/_bucket are counters", NULL},
    {"icase", VIGIL_OPT_BOOL, offsetof(struct vigil_groups_params, icase), "true", 0, 0,
     "group rules ignore case", NULL},
    {0},
};

/* ---- default rules ---- */

static const struct vigil_group_rule default_rules[] = {
    /* Pressure stall information names its resource after the prefix. */
    {"^node_pressure_(cpu|irq)_", VIGIL_GROUP_CPU},
    {"^node_pressure_memory_", VIGIL_GROUP_MEMORY},
    {"^node_pressure_io_", VIGIL_GROUP_FILESYSTEM},
    /* node_exporter subsystems, then cAdvisor's, then machine_* and process_*. */
    {"^node_(disk|filesystem|filefd|nfs|nfsd|xfs|btrfs|zfs|bcache|bcachefs|md|mdadm|mountstats|"
     "dmmultipath|nvme|tape|fibrechannel|drbd|scsi)_",
     VIGIL_GROUP_FILESYSTEM},
    {"^node_(network|netstat|sockstat|softnet|qdisc|xfrm|ipvs|nf|arp|infiniband|wifi|bonding|udp|"
     "tcp|lnstat|netclass|ethtool|conntrack)_",
     VIGIL_GROUP_NETWORK},
    {"^node_(memory|vmstat|zoneinfo|buddyinfo|slabinfo|ksmd|hugepages|numa|edac)_",
     VIGIL_GROUP_MEMORY},
    {"^node_(cpu|schedstat|softirqs|interrupts|intr|context_switches|procs|processes|forks)(_|$)|"
     "^node_load(1|5|15)$",
     VIGIL_GROUP_CPU},
    {"^container_(fs|blkio|file_descriptors)_", VIGIL_GROUP_FILESYSTEM},
    {"^container_network_", VIGIL_GROUP_NETWORK},
    {"^container_(memory|hugetlb|oom)_", VIGIL_GROUP_MEMORY},
    {"^container_(cpu|processes|threads|tasks|sockets)_", VIGIL_GROUP_CPU},
    {"^go_memstats_|^process_(resident|virtual)_memory", VIGIL_GROUP_MEMORY},
    /* SYRROCA's grouping for anything else named after its resource. */
    {"_fs_", VIGIL_GROUP_FILESYSTEM},
    {"network", VIGIL_GROUP_NETWORK},
    {"memory", VIGIL_GROUP_MEMORY},
    {"cpu", VIGIL_GROUP_CPU},
    /* /proc words: diskstats, meminfo, net/dev, loadavg and the like. */
    {"(^|_)(disk|diskstats|filesystem|blkio|inodes?|io|fs|iops)(_|$)", VIGIL_GROUP_FILESYSTEM},
    {"(^|_)(net|netdev|tcp|udp|icmp|ip|sockets?|rx|tx|packets|octets|conntrack)(_|$)",
     VIGIL_GROUP_NETWORK},
    {"(^|_)(mem|meminfo|vmstat|swap|rss|pgfault|pgmajfault|hugepages)(_|$)", VIGIL_GROUP_MEMORY},
    {"(^|_)(load|loadavg|load1|load5|load15|ctxt|procs|sched|irq|softirq|steal|iowait)(_|$)",
     VIGIL_GROUP_CPU},
};

#define N_DEFAULT (sizeof default_rules / sizeof default_rules[0])

/* ---- compiled state ---- */

struct rule {
    regex_t re;
    enum vigil_group group;
};

struct vigil_groups {
    struct rule *rules; /* (n_rules) compiled, user rules first */
    size_t n_rules;
    char *labels_buf;                      /* owned copy of entity_labels, split on ',' */
    const char *labels[ENTITY_LABELS_MAX]; /* point into labels_buf */
    size_t n_labels;
    regex_t counters, gauges;
    int has_counters, has_gauges;
    int infer_kind;
};

void vigil_groups_free(struct vigil_groups *g)
{
    if (!g) {
        return;
    }
    for (size_t i = 0; i < g->n_rules; i++) {
        regfree(&g->rules[i].re);
    }
    vigil_free(g->rules);
    if (g->has_counters) {
        regfree(&g->counters);
    }
    if (g->has_gauges) {
        regfree(&g->gauges);
    }
    vigil_free(g->labels_buf);
    vigil_free(g);
}

/* Compiles one regex; on failure diag says which option and why. */
static int compile(regex_t *re, const char *what, const char *pat, int flags,
                   struct vigil_diag *diag)
{
    int rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB | flags);
    if (rc == REG_ESPACE) {
        return -ENOMEM;
    }
    if (rc) {
        char why[128];
        regerror(rc, re, why, sizeof why);
        vigil_diag_set(diag, 0, 0, "%s: bad regex '%.80s': %s", what, pat, why);
        return VIGIL_ECONFIG;
    }
    return 0;
}

/* Splits the comma-separated label list into g->labels (blank items skipped). */
static int split_labels(struct vigil_groups *g, const char *list, struct vigil_diag *diag)
{
    g->labels_buf = vigil_strdup(list ? list : "");
    if (!g->labels_buf) {
        return -ENOMEM;
    }
    char *p = g->labels_buf;
    while (*p) {
        char *end = strchr(p, ',');
        if (end) {
            *end = '\0';
        }
        while (*p == ' ') {
            p++;
        }
        size_t n = strlen(p);
        while (n && p[n - 1] == ' ') {
            p[--n] = '\0';
        }
        if (n) {
            if (g->n_labels == ENTITY_LABELS_MAX) {
                vigil_diag_set(diag, 0, 0, "entity-labels: more than %d labels", ENTITY_LABELS_MAX);
                return VIGIL_ECONFIG;
            }
            g->labels[g->n_labels++] = p;
        }
        if (!end) {
            break;
        }
        p = end + 1;
    }
    return 0;
}

int vigil_groups_new(struct vigil_groups **out, const struct vigil_groups_params *p,
                     const struct vigil_group_rule *rules, size_t n_rules, struct vigil_diag *diag)
{
    struct vigil_groups_params defaults = {0};
    int rc = 0;
    *out = NULL;
    if (!p) {
        rc = vigil_opt_defaults(vigil_groups_opts, &defaults);
        if (rc) {
            vigil_opt_free(vigil_groups_opts, &defaults);
            return rc;
        }
        p = &defaults;
    }
    struct vigil_groups *g = vigil_calloc(1, sizeof *g);
    if (!g) {
        rc = -ENOMEM;
        goto fail;
    }
    size_t total = n_rules + (p->default_rules ? N_DEFAULT : 0);
    g->rules = total ? vigil_mallocarray(total, sizeof *g->rules) : NULL;
    if (total && !g->rules) {
        rc = -ENOMEM;
        goto fail;
    }
    int flags = p->icase ? REG_ICASE : 0;
    for (size_t i = 0; i < total; i++) {
        const struct vigil_group_rule *r = i < n_rules ? &rules[i] : &default_rules[i - n_rules];
        if ((unsigned)r->group >= VIGIL_GROUP_COUNT) {
            vigil_diag_set(diag, 0, 0, "rule %zu: bad group %d", i + 1, (int)r->group);
            rc = VIGIL_ECONFIG;
            goto fail;
        }
        rc = compile(&g->rules[i].re, "rules", r->match ? r->match : "", flags, diag);
        if (rc) {
            goto fail;
        }
        g->rules[i].group = r->group;
        g->n_rules = i + 1;
    }
    if (p->counters && p->counters[0]) {
        rc = compile(&g->counters, "counters", p->counters, 0, diag);
        if (rc) {
            goto fail;
        }
        g->has_counters = 1;
    }
    if (p->gauges && p->gauges[0]) {
        rc = compile(&g->gauges, "gauges", p->gauges, 0, diag);
        if (rc) {
            goto fail;
        }
        g->has_gauges = 1;
    }
    rc = split_labels(g, p->entity_labels, diag);
    if (rc) {
        goto fail;
    }
    g->infer_kind = p->infer_kind;
    vigil_opt_free(vigil_groups_opts, &defaults);
    *out = g;
    return 0;
fail:
    vigil_groups_free(g);
    vigil_opt_free(vigil_groups_opts, &defaults);
    return rc;
}

/* ---- configuration ---- */

/* A rule as read from "groups.rules.N.match" / "groups.rules.N.group". */
struct cfg_rule {
    const char *match;
    int group;
    size_t line;
};

/* Parses the N of "rules.N.field"; returns the field name or NULL. */
static const char *rule_index(const char *k, size_t *idx)
{
    if (strncmp(k, "rules.", 6) != 0) {
        return NULL;
    }
    const char *p = k + 6;
    size_t v = 0;
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    while (*p >= '0' && *p <= '9') {
        if (v > 100000) {
            return NULL;
        }
        v = v * 10 + (size_t)(*p++ - '0');
    }
    if (*p != '.') {
        return NULL;
    }
    *idx = v;
    return p + 1;
}

/* Applies one option key of the groups section, naming its line on error. */
static int set_option(struct vigil_groups_params *p, const struct vigil_config_entry *e,
                      const char *k, struct vigil_diag *diag)
{
    int rc = vigil_opt_set(vigil_groups_opts, p, k, e->value, strlen(e->value), diag);
    if (rc == -ENOENT) {
        vigil_diag_set(diag, e->line, 0, "unknown option '%s' in section 'groups'", k);
        return VIGIL_ECONFIG;
    }
    if (rc && diag) {
        diag->line = e->line;
    }
    return rc;
}

int vigil_groups_params_config(struct vigil_groups_params *p, const struct vigil_config *cfg,
                               struct vigil_diag *diag)
{
    size_t idx;
    for (size_t i = 0; cfg && i < cfg->n; i++) {
        const struct vigil_config_entry *e = &cfg->v[i];
        if (strncmp(e->key, "groups.", 7) != 0 || rule_index(e->key + 7, &idx)) {
            continue;
        }
        int rc = set_option(p, e, e->key + 7, diag);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int vigil_groups_from_config(struct vigil_groups **out, const struct vigil_config *cfg,
                             const struct vigil_groups_params *params, struct vigil_diag *diag)
{
    struct vigil_groups_params own = {0};
    struct cfg_rule *rules = NULL;
    struct vigil_group_rule *refs = NULL;
    size_t n_rules = 0;
    *out = NULL;
    int rc = 0;
    if (!params) {
        rc = vigil_opt_defaults(vigil_groups_opts, &own);
        rc = rc ? rc : vigil_groups_params_config(&own, cfg, diag);
        if (rc) {
            goto done;
        }
        params = &own;
    }
    size_t n_cfg = cfg ? cfg->n : 0;
    if (n_cfg) {
        rules = vigil_calloc(n_cfg, sizeof *rules);
        refs = vigil_calloc(n_cfg, sizeof *refs);
        if (!rules || !refs) {
            rc = -ENOMEM;
            goto done;
        }
    }
    for (size_t i = 0; i < n_cfg; i++) {
        const struct vigil_config_entry *e = &cfg->v[i];
        size_t idx;
        const char *field =
            strncmp(e->key, "groups.", 7) == 0 ? rule_index(e->key + 7, &idx) : NULL;
        if (!field) {
            continue;
        }
        /* Items arrive in order, so index idx is at most n_rules. */
        if (idx > n_rules || idx >= n_cfg) {
            vigil_diag_set(diag, e->line, 0, "groups.rules: items out of order");
            rc = VIGIL_ECONFIG;
            goto done;
        }
        if (idx == n_rules) {
            rules[n_rules++] = (struct cfg_rule){NULL, -1, e->line};
        }
        if (strcmp(field, "match") == 0) {
            rules[idx].match = e->value;
        } else if (strcmp(field, "group") == 0) {
            rules[idx].group = vigil_group_parse(e->value);
            if (rules[idx].group < 0) {
                vigil_diag_set(diag, e->line, 0,
                               "groups.rules: expected a group "
                               "(cpu|memory|network|filesystem|other), got '%.60s'",
                               e->value);
                rc = VIGIL_ECONFIG;
                goto done;
            }
        } else {
            vigil_diag_set(diag, e->line, 0,
                           "groups.rules: unknown key '%.40s' (expected match, group)", field);
            rc = VIGIL_ECONFIG;
            goto done;
        }
    }
    for (size_t i = 0; i < n_rules; i++) {
        if (!rules[i].match || rules[i].group < 0) {
            vigil_diag_set(diag, rules[i].line, 0,
                           "groups.rules: item %zu needs both match and group", i + 1);
            rc = VIGIL_ECONFIG;
            goto done;
        }
        refs[i] = (struct vigil_group_rule){rules[i].match, (enum vigil_group)rules[i].group};
    }
    /* Check each rule's regex here, where its line is known. */
    for (size_t i = 0; i < n_rules; i++) {
        regex_t re;
        rc = compile(&re, "groups.rules", rules[i].match, params->icase ? REG_ICASE : 0, diag);
        if (rc) {
            if (diag) {
                diag->line = rules[i].line;
            }
            goto done;
        }
        regfree(&re);
    }
    rc = vigil_groups_new(out, params, refs, n_rules, diag);
    if (rc == VIGIL_ECONFIG && diag && !diag->line) {
        /* A bad counters/gauges regex: point at its entry. */
        for (size_t i = 0; i < n_cfg; i++) {
            const char *k = cfg->v[i].key;
            if (strncmp(k, "groups.", 7) != 0) {
                continue;
            }
            size_t kl = strlen(k + 7);
            if (strncmp(diag->msg, k + 7, kl) == 0 && diag->msg[kl] == ':') {
                diag->line = cfg->v[i].line;
                break;
            }
        }
    }
done:
    vigil_free(rules);
    vigil_free(refs);
    vigil_opt_free(vigil_groups_opts, &own);
    return rc;
}

/* ---- matching ---- */

enum vigil_group vigil_groups_match(const struct vigil_groups *g, const char *name)
{
    for (size_t i = 0; i < g->n_rules; i++) {
        if (regexec(&g->rules[i].re, name, 0, NULL, 0) == 0) {
            return g->rules[i].group;
        }
    }
    return VIGIL_GROUP_OTHER;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

enum vigil_kind vigil_kind_from_name(const char *name)
{
    size_t n = strlen(name);
    /* _seconds_total and _bytes_total end in _total too. */
    if (ends_with(name, n, "_total") || ends_with(name, n, "_count") ||
        ends_with(name, n, "_sum") || ends_with(name, n, "_bucket")) {
        return VIGIL_KIND_COUNTER;
    }
    return VIGIL_KIND_UNKNOWN;
}

enum vigil_kind vigil_groups_kind(const struct vigil_groups *g, const struct vigil_series *s)
{
    if (g->has_counters && regexec(&g->counters, s->name, 0, NULL, 0) == 0) {
        return VIGIL_KIND_COUNTER;
    }
    if (g->has_gauges && regexec(&g->gauges, s->name, 0, NULL, 0) == 0) {
        return VIGIL_KIND_GAUGE;
    }
    if (s->kind != VIGIL_KIND_UNKNOWN) {
        return (enum vigil_kind)s->kind;
    }
    return g->infer_kind ? vigil_kind_from_name(s->name) : VIGIL_KIND_UNKNOWN;
}

const char *vigil_groups_entity(const struct vigil_groups *g, const struct vigil_series *s)
{
    for (size_t i = 0; i < g->n_labels; i++) {
        const char *v = vigil_series_label(s, g->labels[i]);
        if (v && v[0]) {
            return v;
        }
    }
    return NULL;
}

int vigil_groups_apply(const struct vigil_groups *g, struct vigil_series_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        struct vigil_series *s = &t->v[i];
        s->group = (uint8_t)vigil_groups_match(g, s->name);
        s->kind = (uint8_t)vigil_groups_kind(g, s);
        const char *e = vigil_groups_entity(g, s);
        if (e != s->entity && (!e || !s->entity || strcmp(e, s->entity) != 0)) {
            int rc = vigil_series_set_entity(s, e);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}
