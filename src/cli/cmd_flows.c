/*
 * vigil flows: packets to flows to features, and detection on them.
 *
 *   vigil flows extract PCAP... -o flows.csv [--window 2s] [--label LABEL]
 *
 * Each subcommand parses its own flags with getopt_long; the capture flags
 * (--window, --max-flows, --filter, --snaplen) are shared. Library code does
 * the work; this file only wires files, flags and exit codes.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vigil/buf.h"
#include "vigil/capture.h"
#include "vigil/clock.h"
#include "vigil/flow.h"

/* Class ids shared with the NSL-KDD converter and the classifiers. */
static const char *const class_names[] = {"normal", "dos", "probe", "r2l", "u2r", NULL};

/* ---- capture flags shared by extract, detect ---- */

struct cap_opts {
    struct vigil_flow_params fp;
    struct vigil_capture_params cp;
    const char *iface;
};

enum {
    OPT_WINDOW = 1000,
    OPT_MAX_FLOWS,
    OPT_FILTER,
    OPT_SNAPLEN,
    OPT_IFACE,
    OPT_LABEL,
};

#define CAP_LONGOPTS                                                                               \
    {"window", required_argument, NULL, OPT_WINDOW},                                               \
        {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},                                     \
        {"filter", required_argument, NULL, OPT_FILTER},                                           \
        {"snaplen", required_argument, NULL, OPT_SNAPLEN}

static const char cap_help[] =
    "  --window DUR      flow window (default 2s)\n"
    "  --max-flows N     flows held per window before eviction (default 65536)\n"
    "  --filter EXPR     BPF filter, tcpdump syntax\n"
    "  --snaplen N       bytes kept per frame (default 262144)\n";

static void cap_opts_init(struct cap_opts *o)
{
    memset(o, 0, sizeof *o);
    vigil_flow_params_default(&o->fp);
    vigil_capture_params_default(&o->cp);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Handles one capture flag; returns 1 if it was one, 0 if not, -1 on a bad value. */
static int cap_opt(struct cap_opts *o, int c, const char *cmd, int *rc)
{
    long v;
    switch (c) {
    case OPT_WINDOW:
        if (vigil_duration_parse(optarg, strlen(optarg), &o->fp.window_ns) != 0 ||
            o->fp.window_ns < 1000000 || o->fp.window_ns > 3600LL * 1000000000LL) {
            *rc = cli_usage(cmd, "--window: expected a duration between 1ms and 1h, got '%s'",
                            optarg);
            return -1;
        }
        return 1;
    case OPT_MAX_FLOWS:
        if (parse_long(optarg, 1, 1L << 26, &v)) {
            *rc = cli_usage(cmd, "--max-flows: expected an integer in [1, 67108864], got '%s'",
                            optarg);
            return -1;
        }
        o->fp.max_flows = (size_t)v;
        return 1;
    case OPT_FILTER:
        o->cp.filter = optarg;
        return 1;
    case OPT_SNAPLEN:
        if (parse_long(optarg, 16, 262144, &v)) {
            *rc = cli_usage(cmd, "--snaplen: expected an integer in [16, 262144], got '%s'",
                            optarg);
            return -1;
        }
        o->cp.snaplen = (int)v;
        return 1;
    default:
        return 0;
    }
}

static void print_pkt_stats(const char *what, const struct vigil_pkt_stats *ps,
                            const struct vigil_flowtab *ft)
{
    struct vigil_flowtab_stats fs;
    vigil_flowtab_stats(ft, &fs);
    fprintf(stderr,
            "%s: %llu frames, %llu decoded, %llu truncated, %llu malformed, %llu not IP; "
            "%llu flows in %llu windows, %llu evicted, %llu late packets\n",
            what, (unsigned long long)ps->seen, (unsigned long long)ps->ok,
            (unsigned long long)ps->truncated, (unsigned long long)ps->malformed,
            (unsigned long long)ps->not_ip, (unsigned long long)fs.flows,
            (unsigned long long)fs.windows, (unsigned long long)fs.evicted,
            (unsigned long long)fs.late);
}

/*
 * Reads every file into ft. Returns CLI_OK, or CLI_FAIL after printing which
 * file failed and why.
 */
static int feed_files(char **files, int n, const struct cap_opts *o, struct vigil_flowtab *ft,
                      vigil_flow_emit_fn emit, void *user, struct vigil_pkt_stats *ps)
{
    for (int i = 0; i < n; i++) {
        struct vigil_capture *c;
        struct vigil_diag d;
        vigil_diag_clear(&d);
        int rc = vigil_capture_open_file(&c, files[i], &o->cp, &d);
        if (rc) {
            return cli_fail_diag(files[i], &d, rc);
        }
        rc = vigil_capture_feed(c, ft, emit, user, ps, NULL, &d);
        vigil_capture_close(c);
        if (rc) {
            return cli_fail_diag(files[i], &d, rc);
        }
    }
    return CLI_OK;
}

/* ---- extract ---- */

struct csv_out {
    FILE *f;
    struct vigil_buf b;
    int label; /* -1 = no label column */
};

static int csv_emit(void *user, const struct vigil_flow_rec *recs, size_t n)
{
    struct csv_out *o = user;
    char sa[64], da[64];
    vigil_buf_reset(&o->b);
    for (size_t i = 0; i < n; i++) {
        const struct vigil_flow_rec *r = &recs[i];
        int rc = vigil_buf_appendf(&o->b, "%.3f,%s,%s", (double)r->win_ns / 1e9,
                                   vigil_ip_format(r->src, sa, sizeof sa),
                                   vigil_ip_format(r->dst, da, sizeof da));
        for (int j = 0; j < VIGIL_FLOW_F && !rc; j++) {
            rc = vigil_buf_appendf(&o->b, ",%.7g", (double)r->f[j]);
        }
        if (!rc && o->label >= 0) {
            rc = vigil_buf_appendf(&o->b, ",%d", o->label);
        }
        rc = rc ? rc : vigil_buf_puts(&o->b, "\n");
        if (rc) {
            return rc;
        }
    }
    if (fwrite(o->b.p, 1, o->b.len, o->f) != o->b.len) {
        return -EIO;
    }
    return 0;
}

static int parse_label(const char *s)
{
    for (int i = 0; class_names[i]; i++) {
        if (strcmp(s, class_names[i]) == 0) {
            return i;
        }
    }
    long v;
    if (parse_long(s, 0, 1000, &v) == 0) {
        return (int)v;
    }
    return -1;
}

static int flows_extract(int argc, char **argv)
{
    static const struct option longopts[] = {
        CAP_LONGOPTS,
        {"output", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, OPT_LABEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cap_opts co;
    cap_opts_init(&co);
    const char *out_path = "-";
    int label = -1, c, rc = CLI_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        int r = cap_opt(&co, c, "flows", &rc);
        if (r < 0) {
            return rc;
        }
        if (r > 0) {
            continue;
        }
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case OPT_LABEL:
            label = parse_label(optarg);
            if (label < 0) {
                return cli_usage("flows",
                                 "--label: expected normal, dos, probe, r2l, u2r or a class id, "
                                 "got '%s'",
                                 optarg);
            }
            break;
        case 'h':
            printf("vigil flows extract PCAP... [-o flows.csv] [--label LABEL] [options]\n"
                   "  -o, --output FILE   CSV of flow records (default stdout)\n"
                   "  --label LABEL       add a label column: normal, dos, probe, r2l, u2r or "
                   "an id\n%s",
                   cap_help);
            return CLI_OK;
        default:
            return cli_usage("flows", "bad option for 'flows extract'");
        }
    }
    if (optind >= argc) {
        return cli_usage("flows", "extract needs at least one capture file");
    }
    struct csv_out o = {.f = stdout, .label = label};
    vigil_buf_init(&o.b);
    if (strcmp(out_path, "-") != 0) {
        o.f = fopen(out_path, "w");
        if (!o.f) {
            return cli_fail("%s: %s", out_path, strerror(errno));
        }
    }
    fputs("ts,src,dst", o.f);
    for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
        fprintf(o.f, ",%s", vigil_flow_feature_name(j));
    }
    fputs(label >= 0 ? ",label\n" : "\n", o.f);

    struct vigil_flowtab *ft = NULL;
    struct vigil_pkt_stats ps = {0};
    if (vigil_flowtab_new(&ft, &co.fp) != 0) {
        rc = cli_fail("flows: out of memory for %zu flows", co.fp.max_flows);
        goto done;
    }
    rc = feed_files(argv + optind, argc - optind, &co, ft, csv_emit, &o, &ps);
    if (rc == CLI_OK) {
        int e = vigil_flowtab_flush(ft, csv_emit, &o);
        if (e) {
            rc = cli_fail("%s: %s", out_path, vigil_strerror(e));
        }
    }
    if (rc == CLI_OK) {
        print_pkt_stats("flows extract", &ps, ft);
    }
done:
    if (o.f != stdout && fclose(o.f) != 0 && rc == CLI_OK) {
        rc = cli_fail("%s: %s", out_path, strerror(errno));
    } else if (o.f == stdout && fflush(stdout) != 0 && rc == CLI_OK) {
        rc = cli_fail("stdout: %s", strerror(errno));
    }
    vigil_flowtab_free(ft);
    vigil_buf_fini(&o.b);
    return rc;
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} subs[] = {
    {"extract", flows_extract, "capture files to a CSV of flow feature records"},
    {NULL, NULL, NULL},
};

int cmd_flows(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "vigil flows <subcommand>:\n");
        for (int i = 0; subs[i].name; i++) {
            fprintf(out, "  %-9s %s\n", subs[i].name, subs[i].summary);
        }
        fprintf(out, "'vigil flows <subcommand> --help' for its options\n");
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    for (int i = 0; subs[i].name; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            return subs[i].fn(argc - 1, argv + 1);
        }
    }
    return cli_usage("flows", "unknown subcommand '%s'", argv[1]);
}
