/*
 * Flags from option tables: builds getopt_long's option array from fixed
 * options plus vigil_opt tables, records table flags in order and applies
 * them with vigil_opt_set, which checks types and bounds; and the config +
 * flags + group rules sequence of the commands that read metric files.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "optflags.h"

void cli_optflags_init(struct cli_optflags *f, const struct option *fixed)
{
    memset(f, 0, sizeof *f);
    for (const struct option *o = fixed; o && o->name && f->n_lo < CLI_OPTFLAGS_MAX; o++) {
        f->lo[f->n_lo++] = *o;
    }
}

int cli_optflags_add(struct cli_optflags *f, const struct vigil_opt *opts, void *params)
{
    for (const struct vigil_opt *o = opts; o && o->name; o++) {
        if (f->n_lo == CLI_OPTFLAGS_MAX) {
            return -E2BIG;
        }
        f->opt[f->n] = o;
        f->params[f->n] = params;
        f->lo[f->n_lo++] =
            (struct option){o->name, required_argument, NULL, CLI_OPTFLAGS_BASE + (int)f->n};
        f->n++;
    }
    f->lo[f->n_lo] = (struct option){0};
    return 0;
}

int cli_optflags_take(struct cli_optflags *f, int c, const char *arg)
{
    if (c < CLI_OPTFLAGS_BASE || (size_t)(c - CLI_OPTFLAGS_BASE) >= f->n) {
        return 0;
    }
    if (f->n_set < sizeof f->set / sizeof f->set[0]) {
        f->set[f->n_set].i = (size_t)(c - CLI_OPTFLAGS_BASE);
        f->set[f->n_set].val = arg;
        f->n_set++;
    }
    return 1;
}

int cli_optflags_apply(struct cli_optflags *f, const char *cmd)
{
    for (size_t k = 0; k < f->n_set; k++) {
        const struct vigil_opt *o = f->opt[f->set[k].i];
        const char *v = f->set[k].val;
        struct vigil_diag d;
        vigil_diag_clear(&d);
        /* o sits in a {0}-terminated table, so the lookup from o finds o itself. */
        if (vigil_opt_set(o, f->params[f->set[k].i], o->name, v, strlen(v), &d) != 0) {
            return cli_usage(cmd, "--%s", d.msg);
        }
    }
    return CLI_OK;
}

int cli_settings_load(struct cli_optflags *f, const char *cmd, const char *config,
                      struct vigil_config *cfg, const char *section, const struct vigil_opt *opts,
                      void *params, struct vigil_groups_params *gp, struct vigil_groups **g)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    *g = NULL;
    if (config) {
        int r = vigil_config_load(cfg, config, &d);
        if (!r && opts) {
            r = vigil_config_apply(cfg, section, opts, params, &d);
        }
        r = r ? r : vigil_groups_params_config(gp, cfg, &d);
        if (r) {
            return cli_fail_diag(config, &d, r);
        }
    }
    int rc = cli_optflags_apply(f, cmd);
    if (rc) {
        return rc;
    }
    int r = vigil_groups_from_config(g, cfg, gp, &d);
    if (r) {
        /* Rules come from the file; a bad counters/gauges regex may come from a flag. */
        return d.line && config ? cli_fail_diag(config, &d, r) : cli_usage(cmd, "%s", d.msg);
    }
    return CLI_OK;
}
