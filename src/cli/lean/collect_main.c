/*
 * vigil-collect: `vigil collect` as an executable of its own, linked with
 * only what collection needs (libvigil's collect, core and HTTP server
 * objects, libmicrohttpd, libc), so that a collector left running on every
 * host keeps its resident memory small; `vigil collect` execs it when it
 * sits next to vigil (src/cli/cmd_collect.c). NATS is left out: `--nats`
 * runs in the full vigil. Built by the Makefile from this directory, which
 * the Makefile's wildcard for src/cli does not see.
 */
#include <string.h>

#include "../cli.h"

const struct cli_cmd cli_cmds[] = {
    CLI_CMD_COLLECT,
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    /* "vigil-collect collect --listen ..." (exec'd by vigil) or "vigil-collect --listen ...". */
    if (argc > 1 && strcmp(argv[1], "collect") == 0) {
        return cmd_collect(argc - 1, argv + 1);
    }
    return cmd_collect(argc, argv);
}
