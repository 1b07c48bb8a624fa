/*
 * Helpers every command shares, apart from the command table so that the
 * lean vigil-collect executable (src/cli/lean/collect_main.c) links them
 * with a table of its own: finding a command, and reporting failures and
 * usage errors the same way everywhere.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* The thread that takes the signals of cli_signals_take; set before any handler runs. */
static pid_t signal_taker;

/* Runs in a thread that had the signal open: re-sends it to the taker, where it is blocked,
 * so it stays pending until the taker's next sigtimedwait. Async-signal-safe. */
static void route_signal(int sig)
{
    int e = errno;
    syscall(SYS_tgkill, getpid(), signal_taker, sig);
    errno = e;
}

void cli_signals_take(const sigset_t *set)
{
    /* Blocked here first, so the handler can never run in the taker itself. */
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal_taker = (pid_t)syscall(SYS_gettid);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = route_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sigismember(set, sig) == 1) {
            sigaction(sig, &sa, NULL);
        }
    }
}
