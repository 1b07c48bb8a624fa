/*
 * Options as data. Each plugin (model, collector, detector) declares a table
 * of struct vigil_opt: name, type, offset into its params struct, default,
 * bounds and help. One routine fills params from defaults, from YAML config
 * keys and from command-line flags alike, checks bounds, and prints
 * `vigil help <plugin>` (fluent-bit's config_map, redis's createIntConfig).
 *
 *     struct rf_params { int trees; double frac; char *crit; };
 *     static const struct vigil_opt rf_opts[] = {
 *         {"trees", VIGIL_OPT_INT, offsetof(struct rf_params, trees), "10", 1, 100000,
 *          "number of trees"},
 *         {0},
 *     };
 */
#ifndef VIGIL_OPT_H
#define VIGIL_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"

enum vigil_opt_type {
    VIGIL_OPT_INT,      /* int */
    VIGIL_OPT_DOUBLE,   /* double */
    VIGIL_OPT_BOOL,     /* int, 0 or 1; accepts true/false/yes/no/on/off/1/0 */
    VIGIL_OPT_STR,      /* char *, owned by params, freed by vigil_opt_free */
    VIGIL_OPT_DURATION, /* int64_t nanoseconds; accepts "100ms", "10m", ... */
    VIGIL_OPT_ENUM,     /* int index into choices */
};

struct vigil_opt {
    const char *name; /* flag (--name), YAML key and help entry */
    enum vigil_opt_type type;
    size_t off;      /* offsetof into the params struct */
    const char *def; /* default, as text parsed like user input; NULL = zero */
    double min;      /* bounds for INT, DOUBLE and DURATION (in seconds); */
    double max;      /* not checked when min == max */
    const char *help;
    const char *const *choices; /* ENUM only: NULL-terminated names */
};

/* Finds an option by name in a {0}-terminated table, or NULL. */
const struct vigil_opt *vigil_opt_find(const struct vigil_opt *opts, const char *name);

/* Sets every option to its default. Returns 0, -ENOMEM or VIGIL_ECONFIG (bad default). */
int vigil_opt_defaults(const struct vigil_opt *opts, void *params);

/*
 * Parses val (n bytes, no NUL needed) for option name and stores it in params.
 * Returns 0; -ENOENT for an unknown name; VIGIL_ECONFIG with diag->msg saying
 * what was expected ("trees: expected an integer in [1, 100000], got 'x'").
 */
int vigil_opt_set(const struct vigil_opt *opts, void *params, const char *name, const char *val,
                  size_t n, struct vigil_diag *diag);

/* Frees the strings a table's STR options own in params. */
void vigil_opt_free(const struct vigil_opt *opts, void *params);

/* Appends a help table (name, type, default, range, help) to out. */
int vigil_opt_help(const struct vigil_opt *opts, struct vigil_buf *out);

/* Appends "name = value" lines for the current params (for --dry-run and logs). */
int vigil_opt_dump(const struct vigil_opt *opts, const void *params, struct vigil_buf *out);

#endif /* VIGIL_OPT_H */
