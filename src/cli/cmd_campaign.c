/*
 * vigil campaign: fault-injection campaigns on the SIP testbed.
 *
 *   vigil campaign run --plan PLAN.yaml --out DIR [--dry-run]
 *   vigil campaign clean
 *
 * run builds the testbed, injects the plan's faults and writes the dataset
 * into DIR (docs/campaign.md); SIGINT and SIGTERM end it early and cleanly.
 * --dry-run checks the plan and prints the schedule without root. clean
 * removes what a crashed run left.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vigil/buf.h"
#include "vigil/campaign.h"
#include "vigil/clock.h"
#include "vigil/log.h"
#include "vigil/mem.h"

/* Set by the signal handler; the only mutable global here (a handler can reach nothing else). */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps return at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static const char *level_name(int level)
{
    return level == VIGIL_LEVEL_LOW ? "low" : level == VIGIL_LEVEL_HIGH ? "high" : "-";
}

static void print_schedule(const struct vigil_plan *plan, FILE *out)
{
    struct vigil_slot *slots;
    size_t n;
    if (vigil_plan_schedule(plan, &slots, &n) != 0) {
        return;
    }
    char d[32];
    vigil_duration_format(vigil_plan_duration(plan), d, sizeof d);
    fprintf(out, "testbed: uac -> pcscf%s -> uas, %g calls/s, %d MiB and %g CPUs per VM\n",
            plan->tb.scscf ? " -> scscf" : "", plan->tb.rate, plan->tb.memory_mb, plan->tb.cpus);
    fprintf(out, "schedule: %zu injections, about %s\n", n, d);
    for (size_t i = 0; i < n; i++) {
        const struct vigil_slot *s = &slots[i];
        fprintf(out, "  %3zu  %-8s %-5s %-6s %g %s\n", i + 1, vigil_fault_name(s->fault),
                level_name(s->level), vigil_vm_name(s->target),
                plan->fault[s->fault].level[s->level - 1], vigil_fault_unit(s->fault));
    }
    vigil_free(slots);
}

static void format_summary(const struct vigil_campaign_summary *s, struct vigil_buf *b)
{
    vigil_buf_appendf(b, "%-24s %8s %8s %8s %12s\n", "phase", "calls", "failed", "failed%",
                      "response_ms");
    for (size_t i = 0; i < s->n; i++) {
        const struct vigil_campaign_phase *p = &s->phase[i];
        char name[64];
        if (p->fault == 0) {
            snprintf(name, sizeof name, "none");
        } else {
            snprintf(name, sizeof name, "%s %s %s", vigil_fault_name(p->fault),
                     level_name(p->level), vigil_vm_name(p->target));
        }
        double rate = p->calls > 0 ? 100.0 * p->failed / p->calls : 0.0;
        double resp = p->steps ? p->response_ms_sum / (double)p->steps : 0.0;
        vigil_buf_appendf(b, "%-24s %8.0f %8.0f %8.2f %12.2f\n", name, p->calls, p->failed, rate,
                          resp);
    }
    vigil_buf_appendf(b, "rows %zu, series %zu, restarts %d, late steps %zu%s\n", s->rows,
                      s->series, s->restarts, s->late, s->interrupted ? ", interrupted" : "");
}

static int campaign_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plan", required_argument, NULL, 'p'}, {"out", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'n'},    {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *plan_path = NULL, *out = NULL;
    int dry = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:o:nvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            plan_path = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'n':
            dry = 1;
            break;
        case 'v':
            vigil_log_set_level(VIGIL_LOG_DEBUG);
            break;
        case 'h':
            printf(
                "usage: vigil campaign run --plan PLAN.yaml --out DIR [--dry-run] [--verbose]\n"
                "  --plan FILE   campaign plan (docs/campaign.md; examples/campaign-smoke.yaml)\n"
                "  --out DIR     dataset directory: metrics.csv labels.csv service.csv ...\n"
                "  --dry-run     check the plan and print the schedule; needs no root\n"
                "  --verbose     debug logging\n");
            return CLI_OK;
        default:
            return cli_usage("campaign", "unknown option");
        }
    }
    if (optind < argc) {
        return cli_usage("campaign", "unexpected argument '%s'", argv[optind]);
    }
    if (!plan_path) {
        return cli_usage("campaign", "run needs --plan");
    }
    if (!out && !dry) {
        return cli_usage("campaign", "run needs --out");
    }
    struct vigil_plan plan;
    if (vigil_plan_init(&plan) != 0) {
        return cli_fail("out of memory");
    }
    struct vigil_diag d;
    int rc = vigil_plan_load(&plan, plan_path, &d);
    if (rc) {
        vigil_plan_fini(&plan);
        return cli_fail_diag(plan_path, &d, rc);
    }
    if (dry) {
        print_schedule(&plan, stdout);
        vigil_plan_fini(&plan);
        return CLI_OK;
    }
    if (geteuid() != 0) {
        vigil_plan_fini(&plan);
        return cli_fail("campaign run needs root (network namespaces, cgroups, iptables)");
    }
    print_schedule(&plan, stderr);
    install_handlers();
    struct vigil_campaign_summary sum;
    rc = vigil_campaign_run(&plan, plan_path, out, &stop_flag, &sum);
    vigil_plan_fini(&plan);
    struct vigil_buf b;
    vigil_buf_init(&b);
    format_summary(&sum, &b);
    if (b.p) {
        fputs(b.p, stdout);
        char path[4096];
        snprintf(path, sizeof path, "%s/summary.txt", out);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(b.p, f);
            fclose(f);
        }
    }
    vigil_buf_fini(&b);
    vigil_campaign_summary_fini(&sum);
    if (rc == -EINTR) {
        return cli_fail("interrupted; the testbed is removed and %s holds the rows measured", out);
    }
    if (rc) {
        return cli_fail("campaign failed: %s (the testbed is removed; see the messages above)",
                        vigil_strerror(rc));
    }
    return CLI_OK;
}

static int campaign_clean(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: vigil campaign clean\n"
               "  removes namespaces, cgroups, iptables rules and processes left by crashed runs\n"
               "  (only names vigil-camp-*; runs whose vigil process is alive are left alone)\n");
        return CLI_OK;
    }
    if (argc > 1) {
        return cli_usage("campaign", "clean takes no arguments");
    }
    size_t removed = 0;
    int rc = vigil_campaign_clean(&removed);
    if (rc == -EPERM) {
        return cli_fail("campaign clean needs root");
    }
    printf("removed %zu objects\n", removed);
    return rc ? cli_fail("clean: %s", vigil_strerror(rc)) : CLI_OK;
}

int cmd_campaign(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: vigil campaign run --plan PLAN.yaml --out DIR [--dry-run]\n"
                     "       vigil campaign clean\n"
                     "plan sections (docs/campaign.md):\n");
        struct vigil_buf b;
        vigil_buf_init(&b);
        vigil_plan_help(&b);
        if (b.p) {
            fputs(b.p, out);
        }
        vigil_buf_fini(&b);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "run") == 0) {
        return campaign_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "clean") == 0) {
        return campaign_clean(argc - 1, argv + 1);
    }
    return cli_usage("campaign", "unknown action '%s' (run, clean)", argv[1]);
}
