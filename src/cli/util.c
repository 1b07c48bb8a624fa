/*
 * Helpers every command shares, apart from the command table so that the
 * lean vigil-collect executable (src/cli/lean/collect_main.c) links them
 * with a table of its own: finding a command, and reporting failures and
 * usage errors the same way everywhere.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const struct cli_cmd *cli_find(const char *name)
{
    for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("vigil: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vigil %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    const struct cli_cmd *c = cli_find(cmd);
    if (c) {
        fprintf(stderr, "usage: vigil %s\n", c->usage);
    }
    fprintf(stderr, "(see 'vigil help %s')\n", cmd);
    return CLI_USAGE;
}

int cli_fail_diag(const char *file, const struct vigil_diag *diag, int rc)
{
    char line[1024];
    if (diag && diag->msg[0]) {
        vigil_diag_format(diag, file, line, sizeof line);
        fprintf(stderr, "vigil: %s\n", line);
    } else {
        fprintf(stderr, "vigil: %s: %s\n", file ? file : "<input>", vigil_strerror(rc));
    }
    return CLI_FAIL;
}
