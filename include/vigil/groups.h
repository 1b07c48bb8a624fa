/*
 * The data-model rules: which resource group a series belongs to (cpu,
 * memory, network, filesystem, other), which entity it describes (the host, a
 * VM, a container) and its kind when the input did not say (counter, gauge).
 *
 * Groups come from an ordered list of POSIX extended regexes matched against
 * the metric name; the first match wins, and a name no rule matches is
 * "other". User rules come first, then the defaults, which are right for
 * node_exporter, cAdvisor and /proc-derived names (SYRROCA's grouping `cpu`,
 * `network`, `memory`, `_fs_`, made precise for node_disk_*, node_vmstat_*,
 * container_fs_* and friends). Generic column names (SMD's and ITU's unnamed
 * columns, NAB's "value") match nothing and land in "other".
 *
 * The entity is the value of the first label in entity-labels that the
 * series carries with a non-empty value; no such label means the host.
 *
 * The kind is decided in this order: the `counters` / `gauges` regexes of the
 * config (SYRROCA treats some gauges as counters), then the kind the reader
 * found in # TYPE, then naming conventions (_total, _count, _sum, _bucket are
 * counters), else it stays unknown (the chain treats unknown as a gauge).
 *
 * Configuration, in a "groups:" section of the YAML file:
 *
 *     groups:
 *       entity-labels: pod,container,name,domain,instance
 *       counters: "^container_fs_usage_bytes$"
 *       rules:
 *         - match: "^sip_"
 *           group: network
 *
 *     struct vigil_groups *g;
 *     vigil_groups_from_config(&g, &cfg, NULL, &diag); // or vigil_groups_new(&g, NULL, NULL, 0,
 * &diag) vigil_groups_apply(g, &frame.cols); vigil_groups_free(g);
 */
#ifndef VIGIL_GROUPS_H
#define VIGIL_GROUPS_H

#include <stddef.h>

#include "vigil/config.h"
#include "vigil/err.h"
#include "vigil/opt.h"
#include "vigil/series.h"

struct vigil_groups_params {
    char *entity_labels; /* comma-separated label names, in order of preference; owned */
    char *counters;      /* ERE: names forced to counter ("" = none); owned */
    char *gauges;        /* ERE: names forced to gauge ("" = none); owned */
    int default_rules;   /* 1 = append the built-in rules after the user's */
    int infer_kind;      /* 1 = naming conventions decide the kind of untyped series */
    int icase;           /* 1 = rules match case-insensitively ("CPU_util" is cpu) */
};

/* Option table for the params (keys of a "groups:" config section). */
extern const struct vigil_opt vigil_groups_opts[];

/* One user rule: an ERE matched against the metric name, and its group. */
struct vigil_group_rule {
    const char *match; /* borrowed for the call */
    enum vigil_group group;
};

struct vigil_groups; /* opaque compiled rules */

/*
 * Compiles the rules: the user's (n_rules, in order) before the defaults.
 * p may be NULL for the defaults of vigil_groups_opts. Returns 0, -ENOMEM, or
 * VIGIL_ECONFIG with diag naming the bad regex. Caller frees with
 * vigil_groups_free.
 */
int vigil_groups_new(struct vigil_groups **out, const struct vigil_groups_params *p,
                     const struct vigil_group_rule *rules, size_t n_rules, struct vigil_diag *diag);

/*
 * Applies the option keys of cfg's "groups:" section (not its rules) to p,
 * which holds defaults or earlier settings. Unknown keys and bad values are
 * VIGIL_ECONFIG with diag->line set. cfg may be NULL.
 */
int vigil_groups_params_config(struct vigil_groups_params *p, const struct vigil_config *cfg,
                               struct vigil_diag *diag);

/*
 * Builds the rules from the "groups:" section of cfg (cfg may be NULL or hold
 * no such section: defaults). p gives the options (callers that let flags
 * override the file pass defaults + vigil_groups_params_config + flags); NULL
 * takes them from cfg. Bad regexes and bad group names are VIGIL_ECONFIG
 * with diag->line set. Caller frees with vigil_groups_free.
 */
int vigil_groups_from_config(struct vigil_groups **out, const struct vigil_config *cfg,
                             const struct vigil_groups_params *p, struct vigil_diag *diag);

void vigil_groups_free(struct vigil_groups *g);

/* Group of a metric name: the first matching rule's, else VIGIL_GROUP_OTHER. */
enum vigil_group vigil_groups_match(const struct vigil_groups *g, const char *name);

/* Kind of s by the order above (s->kind is what the reader found). */
enum vigil_kind vigil_groups_kind(const struct vigil_groups *g, const struct vigil_series *s);

/* Entity of s: the borrowed label value, or NULL for the host. */
const char *vigil_groups_entity(const struct vigil_groups *g, const struct vigil_series *s);

/* Kind from naming conventions alone (_total, _count, _sum, _bucket: counter). */
enum vigil_kind vigil_kind_from_name(const char *name);

/*
 * Sets group, kind and entity of every series in t (a frame's columns).
 * Returns 0 or -ENOMEM.
 */
int vigil_groups_apply(const struct vigil_groups *g, struct vigil_series_table *t);

#endif /* VIGIL_GROUPS_H */
