/*
 * Command-line flags generated from option tables (include/vigil/opt.h), and
 * the settings load shared by the commands that read metric files:
 * every entry of a table becomes `--name VALUE`, so a command's flags, its
 * config-file keys and its help come from one place. Values are recorded
 * while getopt_long runs and applied afterwards, so they override a config
 * file read in between.
 *
 *     struct cli_optflags f;
 *     cli_optflags_init(&f, fixed_longopts);
 *     cli_optflags_add(&f, vigil_prep_opts, &params);
 *     while ((c = getopt_long(argc, argv, "c:o:h", f.lo, NULL)) != -1)
 *         if (!cli_optflags_take(&f, c, optarg)) ... fixed flags ...
 *     ... read the config file ...
 *     if (cli_optflags_apply(&f, "prep")) return CLI_USAGE;
 */
#ifndef VIGIL_CLI_OPTFLAGS_H
#define VIGIL_CLI_OPTFLAGS_H

#include <getopt.h>
#include <stddef.h>

#include "vigil/config.h"
#include "vigil/groups.h"
#include "vigil/opt.h"

#define CLI_OPTFLAGS_MAX 48
#define CLI_OPTFLAGS_BASE 1000 /* getopt value of table flag i: BASE + i */

struct cli_optflags {
    struct option lo[CLI_OPTFLAGS_MAX + 1]; /* fixed options, then one per table entry, then {0} */
    size_t n_lo;
    const struct vigil_opt *opt[CLI_OPTFLAGS_MAX]; /* table entry of flag i */
    void *params[CLI_OPTFLAGS_MAX];                /* its params struct, borrowed */
    size_t n;
    struct {
        size_t i;
        const char *val; /* borrowed from argv */
    } set[CLI_OPTFLAGS_MAX * 2];
    size_t n_set;
};

/* Starts with the command's own long options (a {0}-terminated array). */
void cli_optflags_init(struct cli_optflags *f, const struct option *fixed);

/* Adds every entry of opts as --name VALUE for params. Returns 0 or -E2BIG. */
int cli_optflags_add(struct cli_optflags *f, const struct vigil_opt *opts, void *params);

/* Records c if it is a table flag: returns 1, or 0 when c is not one of them. */
int cli_optflags_take(struct cli_optflags *f, int c, const char *arg);

/* Applies the recorded values in order; prints a usage error and returns CLI_USAGE on a bad one. */
int cli_optflags_apply(struct cli_optflags *f, const char *cmd);

/*
 * The settings of a command that reads metric files, in order: what params
 * and gp already hold (defaults), the config file's `section` (applied to
 * params through opts; skipped when opts is NULL) and its 'groups:' section,
 * then the flags recorded in f; then the group rules are compiled into *g
 * (caller frees with vigil_groups_free). config may be NULL; cfg must be
 * initialized and receives the file. Errors are printed; returns CLI_OK,
 * CLI_FAIL (a bad config file) or CLI_USAGE (a bad flag).
 */
int cli_settings_load(struct cli_optflags *f, const char *cmd, const char *config,
                      struct vigil_config *cfg, const char *section, const struct vigil_opt *opts,
                      void *params, struct vigil_groups_params *gp, struct vigil_groups **g);

#endif
