/*
 * vigil: one command, many subcommands, dispatched from a static table of
 * {name, fn, summary}. Each subcommand lives in src/cli/cmd_<name>.c and
 * parses its own flags with getopt_long.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vigil/buf.h"
#include "vigil/model.h"
#include "vigil/opt.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.1.0"
#endif

const struct cli_cmd cli_cmds[] = {
    {"help", cmd_help, "show commands, or help for one command, model or topic", "help [THING]"},
    {"version", cmd_version, "print the version and the optional features built in", "version"},
    CLI_CMD_COLLECT,
    {"inspect", cmd_inspect, "summarize metric files: format, series, groups, time, gaps", "inspect [-c CONFIG] [group options] FILE..."},
    {"prep", cmd_prep, "run the preprocessing chain on a file and write the features as CSV", "prep [-c CONFIG] [options] FILE -o OUT.csv"},
    {"train", cmd_train, "train a model (any registered model) on a data file",
     "train -m MODEL [-c CONFIG] [--seed S] [--threads N] [--temporal K] [--per-entity] [--cv K] "
     "[MODEL OPTIONS] --train DATA [--labels LABELS] -o MODEL_FILE"},
    {"score", cmd_score, "score a data file with a model file, one CSV row per row",
     "score MODEL_FILE DATA [-o OUT.csv] [--class-weights W0,W1,...]"},
    {"eval", cmd_eval, "compare scores with labels: ROC/PR AUC, F1, confusion matrix, curves",
     "eval --labels LABELS --scores OUT.csv [--json] [--plot DIR]"},
    {"explain", cmd_explain, "anomalous segments of a reconstruction model, with the features behind them",
     "explain MODEL_FILE DATA [--from T] [--to T] [--json] [--errors FILE]"},
    {"radiography", cmd_radiography, "heat maps of group error against a service metric (PNG)",
     "radiography MODEL_FILE DATA --service FILE:COLUMN -o OUT.png [--from T] [--to T]"},
    {"flows", cmd_flows, "packets to flows to features; detect threats on them",
     "flows extract|detect|worker|nslkdd ..."},
    {"watch", cmd_watch, "monitor this host live: learn normal, report anomalies, serve a page",
     "watch [-c CONFIG] [--warmup DURATION] [--listen ADDR:PORT] [--state DIR] [options]"},
    {"campaign", cmd_campaign, "fault-injection campaigns on a SIP testbed (labelled datasets)",
     "campaign run --plan PLAN.yaml --out DIR [--dry-run] | campaign clean"},
    {NULL, NULL, NULL, NULL},
};

static void list_commands(FILE *out)
{
    fprintf(out, "usage: vigil <command> [options]\n\ncommands:\n");
    for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    }
    fprintf(out, "\n'vigil help <command>' for a command's options, 'vigil help models' for the "
                 "models,\n'vigil help <model>' for a model's options.\n");
}

int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        list_commands(stdout);
        return CLI_OK;
    }
    const char *what = argv[1];
    const struct cli_cmd *c = cli_find(what);
    if (c) {
        printf("vigil %s: %s\n", c->name, c->summary);
        if (strcmp(c->name, "help") == 0 || strcmp(c->name, "version") == 0) {
            printf("usage: vigil %s\n", c->usage);
        } else {
            /* Commands print their full option list with --help. */
            char *av[] = {(char *)c->name, (char *)"--help", NULL};
            return c->fn(2, av);
        }
        return CLI_OK;
    }
    if (strcmp(what, "models") == 0) {
        printf("models:\n");
        for (const struct vigil_model_ops *const *m = vigil_model_list(); *m; m++) {
            printf("  %-10s %s%s\n", (*m)->name, (*m)->summary,
                   (*m)->supervised ? " (supervised)" : "");
        }
        return CLI_OK;
    }
    const struct vigil_model_ops *ops = vigil_model_find(what);
    if (ops) {
        struct vigil_buf b;
        vigil_buf_init(&b);
        vigil_opt_help(ops->opts, &b);
        printf("model %s: %s\noptions (flags of 'vigil train -m %s', or keys under '%s:' in a "
               "config file):\n%s",
               ops->name, ops->summary, ops->name, ops->name, b.p ? b.p : "");
        vigil_buf_fini(&b);
        return CLI_OK;
    }
    fprintf(stderr, "vigil help: no command, model or topic named '%s'\n", what);
    list_commands(stderr);
    return CLI_USAGE;
}

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("vigil %s\nfeatures:", VIGIL_VERSION);
#ifdef VIGIL_HAVE_LIBVIRT
    printf(" libvirt");
#endif
#ifdef VIGIL_HAVE_NFQ
    printf(" nfqueue");
#endif
#ifdef VIGIL_HAVE_NATS
    printf(" nats");
#endif
    printf("\n");
    return CLI_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        list_commands(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        list_commands(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        return cmd_version(0, NULL);
    }
    if (strcmp(argv[1], "collect") == 0) {
        cli_collect_exec_lean(argv); /* returns when vigil-collect cannot run it */
    }
    const struct cli_cmd *c = cli_find(argv[1]);
    if (!c) {
        fprintf(stderr, "vigil: unknown command '%s'\n\n", argv[1]);
        list_commands(stderr);
        return CLI_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}
