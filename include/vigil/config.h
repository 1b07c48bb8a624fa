/*
 * YAML configuration (libyaml). A file is flattened into dotted keys with the
 * line each value came from, so errors name file:line:
 *
 *     watch:                 watch.warmup = 10m        (line 2)
 *       warmup: 10m          watch.targets.0 = http://... (line 4)
 *       targets:
 *         - http://127.0.0.1:9100/metrics
 *
 * Sections are then applied to a plugin's option table with
 * vigil_config_apply, which rejects unknown keys.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stddef.h>

#include "vigil/err.h"
#include "vigil/opt.h"

struct vigil_config_entry {
    char *key;   /* dotted path, sequence items by index: "a.b.0.c"; owned */
    char *value; /* scalar text; owned */
    size_t line; /* 1-based line of the value */
};

struct vigil_config {
    struct vigil_config_entry *v; /* owned */
    size_t n;
    size_t cap;
};

void vigil_config_init(struct vigil_config *cfg);
void vigil_config_fini(struct vigil_config *cfg);

/* Parses YAML text. Returns 0, -ENOMEM or VIGIL_EPARSE with diag set. */
int vigil_config_parse(struct vigil_config *cfg, const char *p, size_t n, struct vigil_diag *diag);

/* Reads and parses a file (at most 1 MiB). -errno when it cannot be read. */
int vigil_config_load(struct vigil_config *cfg, const char *path, struct vigil_diag *diag);

/* Returns the entry for an exact key, or NULL. Borrowed until fini. */
const struct vigil_config_entry *vigil_config_get(const struct vigil_config *cfg, const char *key);

/*
 * Applies every "section.name" entry to params through opts. An unknown key
 * under the section is VIGIL_ECONFIG ("unknown option 'x' in section 'rf'"),
 * as is a bad value; diag->line is the entry's line. section "" applies
 * top-level keys.
 */
int vigil_config_apply(const struct vigil_config *cfg, const char *section,
                       const struct vigil_opt *opts, void *params, struct vigil_diag *diag);

#endif /* VIGIL_CONFIG_H */
