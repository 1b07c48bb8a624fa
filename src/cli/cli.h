/*
 * Private to the command-line tool: the subcommand table entries and small
 * helpers for reporting errors the same way everywhere. Exit codes: 0 ok,
 * 1 failure, 2 usage.
 */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

#include <signal.h>
#include <stdio.h>

#include "vigil/err.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *summary;
    const char *usage; /* one or more lines after "usage: vigil " */
};

/* The subcommand table (main.c; src/cli/lean/collect_main.c has one of its own). */
extern const struct cli_cmd cli_cmds[];

/* The collect entry, shared by both tables. */
#define CLI_CMD_COLLECT                                                                            \
    {"collect", cmd_collect, "collect host, container, VM and network counters live",             \
     "collect [--interval 100ms] [--listen ADDR:PORT] [--out FILE] [--nats URL] [--root DIR] "    \
     "[--count N] [--duration D] [--retire D]"}

/*
 * Replaces the process with the lean vigil-collect executable found next to
 * this one, with the same argv ("vigil collect ..."). Returns only when it
 * could not exec.
 */
void cli_collect_exec_lean(char **argv);

/*
 * Blocks the signals of set in the calling thread, which takes them with
 * sigtimedwait, and routes back to it any of them the kernel hands to a
 * thread started before this call: OpenBLAS starts its workers when the
 * library loads, with every signal open, so a SIGHUP or SIGTERM arriving
 * while the caller is busy (not in sigtimedwait) went to such a worker,
 * whose default action ended the process.
 */
void cli_signals_take(const sigset_t *set);

/* Prints "vigil: <msg>" to stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "vigil <cmd>: <msg>" and the usage line; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "vigil: file:line:col: reason" for a diagnostic and rc; returns CLI_FAIL. */
int cli_fail_diag(const char *file, const struct vigil_diag *diag, int rc);
/* Looks a command up in the table. */
const struct cli_cmd *cli_find(const char *name);

int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_prep(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_flows(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_radiography(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_campaign(int argc, char **argv);

#endif
