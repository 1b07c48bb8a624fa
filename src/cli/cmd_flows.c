/*
 * vigil flows: packets to flows to features, and threat detection on them.
 *
 *   vigil flows extract PCAP... [-o flows.csv] [--label L] [--labels-out F] [--nats URL]
 *   vigil flows detect --model M... (PCAP... | --iface IF) [alarm outputs] [--nats URL]
 *   vigil flows worker --nats URL --model M... [alarm outputs]
 *   vigil flows nslkdd KDD.txt -o data.csv --labels-out data.labels
 *
 * Each subcommand parses its own flags with getopt_long; capture, alarm and
 * bus flags are shared. Records flow through one emit callback (struct
 * sink) that writes CSV, publishes batches to NATS and/or scores and raises
 * alarms, whichever the flags asked for. The library does the work; this
 * file wires files, flags, signals and exit codes.
 *
 * The stop flag is the one mutable file-level variable: a SIGINT/SIGTERM
 * handler can only set a volatile sig_atomic_t, and both live capture and the
 * worker poll it between reads.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vigil/alert.h"
#include "vigil/buf.h"
#include "vigil/bus.h"
#include "vigil/capture.h"
#include "vigil/clock.h"
#include "vigil/flow.h"
#include "vigil/flowdet.h"
#include "vigil/mem.h"
#include "vigil/nslkdd.h"
#include "vigil/store.h"
#include "vigil/threat.h"

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

#define FLOWS_STREAM "VIGIL_FLOWS"
#define FLOWS_SUBJECTS "vigil.flows.>"
#define ALARMS_STREAM "VIGIL_ALARMS"
#define ALARMS_SUBJECTS "vigil.alarms.>"

enum {
    OPT_WINDOW = 1000,
    OPT_MAX_FLOWS,
    OPT_FILTER,
    OPT_SNAPLEN,
    OPT_BATCH,
    OPT_LABEL,
    OPT_LABELS_OUT,
    OPT_APPEND,
    OPT_ADDRESSES,
    OPT_IFACE,
    OPT_MODEL,
    OPT_THRESHOLD,
    OPT_ALARMS,
    OPT_DB,
    OPT_ALERTMANAGER,
    OPT_HOOK,
    OPT_DEDUP,
    OPT_KEY,
    OPT_SCORES,
    OPT_NATS,
    OPT_SENSOR,
    OPT_DURATION,
    OPT_DURABLE,
    OPT_FETCH,
    OPT_ACK_WAIT,
    OPT_IDLE_EXIT,
    OPT_PROCESSED,
    OPT_HOLD,
    OPT_MAX_BATCHES,
    OPT_RAW,
    OPT_LABEL_DST,
    OPT_MIN_FLOWS,
};

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

static int parse_dur(const char *s, int64_t min, int64_t max, int64_t *out)
{
    return vigil_duration_parse(s, strlen(s), out) == 0 && *out >= min && *out <= max ? 0 : -1;
}

/* ---- shared flag groups ---- */

struct cap_opts {
    struct vigil_flow_params fp;
    struct vigil_capture_params cp;
};

#define CAP_LONGOPTS                                                                               \
    {"window", required_argument, NULL, OPT_WINDOW},                                               \
        {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},                                     \
        {"filter", required_argument, NULL, OPT_FILTER},                                           \
        {"snaplen", required_argument, NULL, OPT_SNAPLEN},                                         \
    {                                                                                              \
        "batch", required_argument, NULL, OPT_BATCH                                                \
    }

static const char cap_help[] =
    "capture and flows:\n"
    "  --window DUR        flow window (default 2s)\n"
    "  --max-flows N       flows held per window before eviction (default 65536)\n"
    "  --filter EXPR       BPF filter, tcpdump syntax\n"
    "  --snaplen N         bytes kept per frame (default 262144)\n"
    "  --batch N           records per batch: emit, NATS message, scoring (default 1024)\n";

static void cap_opts_init(struct cap_opts *o)
{
    memset(o, 0, sizeof *o);
    vigil_flow_params_default(&o->fp);
    vigil_capture_params_default(&o->cp);
}

/* Handles one capture flag: 1 taken, 0 not ours, -1 bad value (usage printed into *rc). */
static int cap_opt(struct cap_opts *o, int c, const char *cmd, int *rc)
{
    long v;
    switch (c) {
    case OPT_WINDOW:
        if (parse_dur(optarg, 1000000, 3600LL * 1000000000LL, &o->fp.window_ns)) {
            *rc = cli_usage(cmd, "--window: expected a duration from 1ms to 1h, got '%s'", optarg);
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
            *rc =
                cli_usage(cmd, "--snaplen: expected an integer in [16, 262144], got '%s'", optarg);
            return -1;
        }
        o->cp.snaplen = (int)v;
        return 1;
    case OPT_BATCH:
        if (parse_long(optarg, 1, 65536, &v)) {
            *rc = cli_usage(cmd, "--batch: expected an integer in [1, 65536], got '%s'", optarg);
            return -1;
        }
        o->fp.batch = (size_t)v;
        return 1;
    default:
        return 0;
    }
}

/* Alarm outputs shared by detect and worker. */
struct alarm_opts {
    const char *models[VIGIL_FLOWDET_MAX_MODELS];
    size_t n_models;
    float threshold;
    const char *alarms; /* JSON lines file, "-" = stdout */
    const char *db;
    const char *alertmanager;
    const char *hook;
    const char *scores;
    int64_t dedup_ns;
    int key;
    uint32_t min_flows[VIGIL_THREAT_CLASS_MAX];
    int min_flows_set[VIGIL_THREAT_CLASS_MAX];
};

#define ALARM_LONGOPTS                                                                             \
    {"model", required_argument, NULL, OPT_MODEL},                                                 \
        {"threshold", required_argument, NULL, OPT_THRESHOLD},                                     \
        {"alarms", required_argument, NULL, OPT_ALARMS}, {"db", required_argument, NULL, OPT_DB},  \
        {"alertmanager", required_argument, NULL, OPT_ALERTMANAGER},                               \
        {"hook", required_argument, NULL, OPT_HOOK},                                               \
        {"dedup", required_argument, NULL, OPT_DEDUP}, {"key", required_argument, NULL, OPT_KEY},  \
        {"scores", required_argument, NULL, OPT_SCORES},                                           \
    {                                                                                              \
        "min-flows", required_argument, NULL, OPT_MIN_FLOWS                                        \
    }

static const char alarm_help[] =
    "detection and alarms:\n"
    "  --model FILE        model file from 'vigil train' on flow records (repeatable, up to 4:\n"
    "                      classifiers name the class, unsupervised models flag anomalies)\n"
    "  --threshold P       a classifier flags a flow when 1 - p_normal >= P (default 0.5)\n"
    "  --alarms FILE       JSON line per alarm (default stdout; '' = none)\n"
    "  --db FILE           also store alarms as events in this SQLite database\n"
    "  --alertmanager URL  also post alarms to Alertmanager (v2 API)\n"
    "  --hook CMD          run '/bin/sh -c CMD' per alarm, alarm in $VIGIL_ALARM (off by "
    "default)\n"
    "  --dedup DUR         flows of one key within DUR join one alarm (default 60s)\n"
    "  --key auto|src|dst|flow  alarm key (default auto: DoS by victim, others by source)\n"
    "  --min-flows CLASS=N flagged flows of one key before its alarm is raised (repeatable;\n"
    "                      default dos=16, every other class 1)\n"
    "  --scores FILE       CSV of every flow's class and score\n";

static void alarm_opts_init(struct alarm_opts *a)
{
    memset(a, 0, sizeof *a);
    a->threshold = 0.5f;
    a->alarms = "-";
    a->dedup_ns = 60LL * 1000000000LL;
}

static int alarm_opt(struct alarm_opts *a, int c, const char *cmd, int *rc)
{
    switch (c) {
    case OPT_MODEL:
        if (a->n_models == VIGIL_FLOWDET_MAX_MODELS) {
            *rc = cli_usage(cmd, "at most %d --model files", VIGIL_FLOWDET_MAX_MODELS);
            return -1;
        }
        a->models[a->n_models++] = optarg;
        return 1;
    case OPT_THRESHOLD: {
        char *end;
        double v = strtod(optarg, &end);
        if (*end || end == optarg || !(v > 0 && v <= 1)) {
            *rc = cli_usage(cmd, "--threshold: expected a probability in (0, 1], got '%s'", optarg);
            return -1;
        }
        a->threshold = (float)v;
        return 1;
    }
    case OPT_ALARMS:
        a->alarms = optarg;
        return 1;
    case OPT_DB:
        a->db = optarg;
        return 1;
    case OPT_ALERTMANAGER:
        a->alertmanager = optarg;
        return 1;
    case OPT_HOOK:
        a->hook = optarg;
        return 1;
    case OPT_SCORES:
        a->scores = optarg;
        return 1;
    case OPT_DEDUP:
        if (parse_dur(optarg, 0, 86400LL * 1000000000LL, &a->dedup_ns)) {
            *rc = cli_usage(cmd, "--dedup: expected a duration up to 1d, got '%s'", optarg);
            return -1;
        }
        return 1;
    case OPT_MIN_FLOWS: {
        const char *eq = strchr(optarg, '=');
        char cname[16] = "";
        long v = -1;
        if (eq && (size_t)(eq - optarg) < sizeof cname) {
            memcpy(cname, optarg, (size_t)(eq - optarg));
            parse_long(eq + 1, 1, 1000000, &v);
        }
        int cls =
            strcmp(cname, "anomaly") == 0 ? VIGIL_THREAT_ANOMALY : vigil_threat_class_parse(cname);
        if (cls <= 0 || v < 1) {
            *rc = cli_usage(cmd,
                            "--min-flows: expected CLASS=N (dos, probe, r2l, u2r, anomaly; "
                            "N >= 1), got '%s'",
                            optarg);
            return -1;
        }
        a->min_flows[cls] = (uint32_t)v;
        a->min_flows_set[cls] = 1;
        return 1;
    }
    case OPT_KEY:
        a->key = vigil_threat_key_parse(optarg);
        if (a->key < 0) {
            *rc = cli_usage(cmd, "--key: expected auto, src, dst or flow, got '%s'", optarg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

/* ---- the record sink ---- */

struct sink {
    /* CSV output (extract) */
    FILE *csv;
    FILE *labels;
    int label;
    int addresses;
    int label_dst; /* 1: only flows towards victim get label, the others 0 */
    int binary;    /* 1: record batches (docs/flows.md, "Batch format") instead of CSV */
    uint8_t victim[16];
    /* NATS publishing (sensors) */
    struct vigil_bus *bus;
    char subject[256];
    char sensor[64];
    uint64_t seq;
    /* detection */
    struct vigil_flowdet *fd;
    struct vigil_threat *threat;
    struct vigil_store *store;
    struct vigil_alert_client *alerts;
    FILE *alarms;
    FILE *scores;
    uint8_t *cls;
    float *score;
    size_t cap;
    /* alarm publishing (workers) */
    struct vigil_bus *alarm_bus;
    char alarm_subject[256];
    /* counters */
    uint64_t records;
    uint64_t flagged[VIGIL_THREAT_ANOMALY + 1];
    struct vigil_buf b;
};

static int label_of(const struct sink *s, const struct vigil_flow_rec *r)
{
    return !s->label_dst || memcmp(r->dst, s->victim, 16) == 0 ? s->label : 0;
}

static int write_csv(struct sink *s, const struct vigil_flow_rec *recs, size_t n)
{
    char sa[64], da[64];
    vigil_buf_reset(&s->b);
    int rc = 0;
    if (s->binary) {
        rc = vigil_flow_batch_encode(&s->b, s->sensor, s->seq++, recs, n);
        if (!rc && fwrite(s->b.p, 1, s->b.len, s->csv) != s->b.len) {
            rc = -EIO;
        }
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        const struct vigil_flow_rec *r = &recs[i];
        rc = vigil_buf_appendf(&s->b, "%.3f", (double)r->win_ns / 1e9);
        if (!rc && s->addresses) {
            rc = vigil_buf_appendf(&s->b, ",%s,%s", vigil_ip_format(r->src, sa, sizeof sa),
                                   vigil_ip_format(r->dst, da, sizeof da));
        }
        for (int j = 0; j < VIGIL_FLOW_F && !rc; j++) {
            rc = vigil_buf_appendf(&s->b, ",%.7g", (double)r->f[j]);
        }
        if (!rc && s->label >= 0) {
            rc = vigil_buf_appendf(&s->b, ",%d", label_of(s, r));
        }
        rc = rc ? rc : vigil_buf_puts(&s->b, "\n");
    }
    if (rc) {
        return rc;
    }
    if (fwrite(s->b.p, 1, s->b.len, s->csv) != s->b.len) {
        return -EIO;
    }
    if (s->labels) {
        for (size_t i = 0; i < n; i++) {
            if (fprintf(s->labels, "%d\n", label_of(s, &recs[i])) < 0) {
                return -EIO;
            }
        }
    }
    return 0;
}

static int publish_batch(struct sink *s, const struct vigil_flow_rec *recs, size_t n)
{
    vigil_buf_reset(&s->b);
    int rc = vigil_flow_batch_encode(&s->b, s->sensor, s->seq, recs, n);
    if (rc) {
        return rc;
    }
    /* The message id lets the server drop a batch a restarted sensor sends twice. */
    char id[96];
    snprintf(id, sizeof id, "%s-%llu", s->sensor, (unsigned long long)s->seq);
    struct vigil_diag d;
    vigil_diag_clear(&d);
    rc = vigil_bus_publish_async(s->bus, s->subject, s->b.p, s->b.len, id, &d);
    if (rc) {
        fprintf(stderr, "vigil: %s\n", d.msg);
        return rc;
    }
    s->seq++;
    return 0;
}

static int detect_batch(struct sink *s, const struct vigil_flow_rec *recs, size_t n)
{
    for (size_t off = 0; off < n; off += s->cap) {
        size_t cn = n - off < s->cap ? n - off : s->cap;
        int rc = vigil_flowdet_score(s->fd, recs + off, cn, s->cls, s->score);
        if (rc) {
            return rc;
        }
        for (size_t i = 0; i < cn; i++) {
            const struct vigil_flow_rec *r = &recs[off + i];
            int c = s->cls[i];
            s->flagged[c <= VIGIL_THREAT_ANOMALY ? c : 0] += c != 0;
            if (s->scores) {
                char sa[64], da[64];
                fprintf(s->scores, "%.3f,%s,%s,%s,%.4f\n", (double)r->win_ns / 1e9,
                        vigil_ip_format(r->src, sa, sizeof sa),
                        vigil_ip_format(r->dst, da, sizeof da), vigil_threat_class_name(c),
                        (double)s->score[i]);
            }
            if (c != 0) {
                vigil_threat_offer(s->threat, r, c, s->score[i]);
            }
        }
    }
    return 0;
}

static int sink_emit(void *user, const struct vigil_flow_rec *recs, size_t n)
{
    struct sink *s = user;
    s->records += n;
    int rc = 0;
    if (s->csv) {
        rc = write_csv(s, recs, n);
    }
    if (!rc && s->bus) {
        rc = publish_batch(s, recs, n);
    }
    if (!rc && s->fd) {
        rc = detect_batch(s, recs, n);
    }
    return rc;
}

/* Publishes one alarm (worker): to the alarm subject, acknowledged with the batch. */
static int alarm_to_bus(void *user, const char *json, size_t n)
{
    struct sink *s = user;
    struct vigil_diag d;
    return vigil_bus_publish_async(s->alarm_bus, s->alarm_subject, json, n, NULL, &d);
}

static int bus_open(struct vigil_bus **bus, const char *url, const char *name, const char *stream,
                    const char *subjects)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = vigil_bus_connect(bus, url, name, &d);
    struct vigil_bus_stream st = {.name = stream,
                                  .subjects = subjects,
                                  .max_bytes = (int64_t)1 << 30,
                                  .work_queue = strcmp(stream, FLOWS_STREAM) == 0};
    rc = rc ? rc : vigil_bus_ensure_stream(*bus, &st, &d);
    if (rc) {
        return cli_fail("%s", d.msg[0] ? d.msg : vigil_strerror(rc));
    }
    return CLI_OK;
}

/* Opens what the alarm flags ask for and the detector. Returns CLI_OK or CLI_FAIL. */
static int sink_open_detect(struct sink *s, const struct alarm_opts *a, size_t batch,
                            const char *sensor)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = vigil_flowdet_new(&s->fd, a->models, a->n_models, a->threshold, batch, &d);
    if (rc) {
        return cli_fail("%s", d.msg[0] ? d.msg : vigil_strerror(rc));
    }
    s->cap = batch;
    s->cls = vigil_malloc(batch);
    s->score = vigil_mallocarray(batch, sizeof *s->score);
    if (!s->cls || !s->score) {
        return cli_fail("out of memory");
    }
    if (a->alarms && a->alarms[0]) {
        s->alarms = strcmp(a->alarms, "-") == 0 ? stdout : fopen(a->alarms, "a");
        if (!s->alarms) {
            return cli_fail("%s: %s", a->alarms, strerror(errno));
        }
    }
    if (a->scores) {
        s->scores = fopen(a->scores, "w");
        if (!s->scores) {
            return cli_fail("%s: %s", a->scores, strerror(errno));
        }
        fputs("ts,src,dst,class,score\n", s->scores);
    }
    if (a->db && (rc = vigil_store_open(&s->store, a->db, 0)) != 0) {
        return cli_fail("%s: cannot open the database (%s)", a->db, vigil_strerror(rc));
    }
    if (a->alertmanager && (rc = vigil_alert_client_new(&s->alerts, a->alertmanager, 5000)) != 0) {
        return cli_fail("--alertmanager %s: %s", a->alertmanager,
                        rc == -EINVAL ? "expected an http:// or https:// URL" : vigil_strerror(rc));
    }
    struct vigil_threat_params tp;
    vigil_threat_params_default(&tp);
    tp.key = (enum vigil_threat_key)a->key;
    tp.dedup_ns = a->dedup_ns;
    tp.model = vigil_flowdet_model_name(s->fd, 0);
    tp.sensor = sensor;
    tp.jsonl = s->alarms;
    tp.store = s->store;
    tp.alerts = s->alerts;
    tp.hook = a->hook;
    for (int c = 0; c < VIGIL_THREAT_CLASS_MAX; c++) {
        if (a->min_flows_set[c]) {
            tp.min_flows[c] = a->min_flows[c];
        }
    }
    if (s->alarm_bus) {
        tp.sink = alarm_to_bus;
        tp.sink_user = s;
    }
    if (vigil_threat_new(&s->threat, &tp) != 0) {
        return cli_fail("out of memory");
    }
    return CLI_OK;
}

static void print_detect_summary(const char *what, const struct sink *s);

/*
 * Closes the open alarms (their end goes to the store and Alertmanager; a
 * worker waits for its alarm publishes), prints the summary, and frees.
 */
static void sink_close(struct sink *s, const char *what)
{
    if (s->threat) {
        vigil_threat_flush(s->threat);
    }
    if (s->alarm_bus) {
        struct vigil_diag d;
        vigil_bus_publish_wait(s->alarm_bus, 10LL * 1000000000LL, &d);
    }
    if (s->fd && s->threat) {
        print_detect_summary(what, s);
    }
    vigil_threat_free(s->threat);
    vigil_flowdet_free(s->fd);
    vigil_store_close(s->store);
    vigil_alert_client_free(s->alerts);
    if (s->alarms && s->alarms != stdout) {
        fclose(s->alarms);
    } else if (s->alarms) {
        fflush(stdout);
    }
    if (s->scores) {
        fclose(s->scores);
    }
    vigil_free(s->cls);
    vigil_free(s->score);
    vigil_buf_fini(&s->b);
    s->threat = NULL;
    s->fd = NULL;
}

static void print_detect_summary(const char *what, const struct sink *s)
{
    fprintf(stderr, "%s: %llu flows, flagged:", what, (unsigned long long)s->records);
    for (int c = 1; c <= VIGIL_THREAT_ANOMALY; c++) {
        if (s->flagged[c]) {
            fprintf(stderr, " %s %llu", vigil_threat_class_name(c),
                    (unsigned long long)s->flagged[c]);
        }
    }
    if (s->threat) {
        struct vigil_threat_stats ts;
        vigil_threat_stats(s->threat, &ts);
        fprintf(stderr, "; %llu alarms (%llu flows joined open ones, %llu keys below min-flows)",
                (unsigned long long)ts.raised, (unsigned long long)ts.suppressed,
                (unsigned long long)ts.below_min);
        if (ts.sink_errors) {
            fprintf(stderr, ", %llu output errors", (unsigned long long)ts.sink_errors);
        }
    }
    fputc('\n', stderr);
}

static void print_pkt_stats(const char *what, const struct vigil_pkt_stats *ps,
                            const struct vigil_flowtab_stats *fs)
{
    fprintf(stderr,
            "%s: %llu frames, %llu decoded, %llu truncated, %llu malformed, %llu not IP; "
            "%llu flows in %llu windows, %llu evicted, %llu late packets\n",
            what, (unsigned long long)ps->seen, (unsigned long long)ps->ok,
            (unsigned long long)ps->truncated, (unsigned long long)ps->malformed,
            (unsigned long long)ps->not_ip, (unsigned long long)fs->flows,
            (unsigned long long)fs->windows, (unsigned long long)fs->evicted,
            (unsigned long long)fs->late);
}

/*
 * Feeds every file (each flushed at its end: captures have unrelated clocks)
 * or a live interface into a fresh flow table, then flushes. Returns CLI_OK or
 * CLI_FAIL after saying which input failed and why.
 */
static int run_capture(char **files, int n, const char *iface, const struct cap_opts *o,
                       struct sink *s, const char *what)
{
    struct vigil_flowtab *ft = NULL;
    struct vigil_pkt_stats ps = {0};
    struct vigil_flowtab_stats total = {0};
    int rc = CLI_OK;
    for (int i = 0; i < (iface ? 1 : n) && rc == CLI_OK && !stop_flag; i++) {
        const char *name = iface ? iface : files[i];
        if (vigil_flowtab_new(&ft, &o->fp) != 0) {
            return cli_fail("out of memory for %zu flows", o->fp.max_flows);
        }
        struct vigil_capture *c;
        struct vigil_diag d;
        vigil_diag_clear(&d);
        int e = iface ? vigil_capture_open_live(&c, iface, &o->cp, &d)
                      : vigil_capture_open_file(&c, name, &o->cp, &d);
        if (e) {
            rc = cli_fail_diag(name, &d, e);
        } else {
            e = vigil_capture_feed(c, ft, sink_emit, s, &ps, iface ? &stop_flag : NULL, &d);
            if (iface) {
                fprintf(stderr, "%s: %llu frames dropped by the kernel\n", iface,
                        (unsigned long long)vigil_capture_dropped(c));
            }
            vigil_capture_close(c);
            int e2 = vigil_flowtab_flush(ft, sink_emit, s);
            e = e ? e : e2;
            if (e) {
                rc = cli_fail_diag(name, &d, e);
            }
        }
        struct vigil_flowtab_stats fs;
        vigil_flowtab_stats(ft, &fs);
        total.flows += fs.flows;
        total.windows += fs.windows;
        total.evicted += fs.evicted;
        total.late += fs.late;
        vigil_flowtab_free(ft);
        ft = NULL;
    }
    if (rc == CLI_OK && s->bus) {
        struct vigil_diag d;
        vigil_diag_clear(&d);
        int e = vigil_bus_publish_wait(s->bus, 30LL * 1000000000LL, &d);
        if (e) {
            rc = cli_fail("%s", d.msg[0] ? d.msg : vigil_strerror(e));
        } else {
            fprintf(stderr, "%s: %llu batches published to %s\n", what, (unsigned long long)s->seq,
                    s->subject);
        }
    }
    print_pkt_stats(what, &ps, &total);
    return rc;
}

static int set_sensor(struct sink *s, const char *sensor)
{
    if (sensor) {
        snprintf(s->sensor, sizeof s->sensor, "%s", sensor);
    } else if (gethostname(s->sensor, sizeof s->sensor) != 0 || !s->sensor[0]) {
        snprintf(s->sensor, sizeof s->sensor, "sensor");
    }
    s->sensor[sizeof s->sensor - 1] = '\0';
    return vigil_bus_subject(s->subject, sizeof s->subject, "vigil.flows", s->sensor);
}

/* ---- extract ---- */

static int flows_extract(int argc, char **argv)
{
    static const struct option lo[] = {
        CAP_LONGOPTS,
        {"output", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, OPT_LABEL},
        {"labels-out", required_argument, NULL, OPT_LABELS_OUT},
        {"label-dst", required_argument, NULL, OPT_LABEL_DST},
        {"append", no_argument, NULL, OPT_APPEND},
        {"addresses", no_argument, NULL, OPT_ADDRESSES},
        {"format", required_argument, NULL, 'f'},
        {"nats", required_argument, NULL, OPT_NATS},
        {"sensor", required_argument, NULL, OPT_SENSOR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cap_opts co;
    cap_opts_init(&co);
    const char *out_path = NULL, *labels_out = NULL, *nats = NULL, *sensor = NULL;
    int binary = 0;
    const char *label_dst = NULL;
    int label = -1, append = 0, addresses = 0, c, rc = CLI_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:f:h", lo, NULL)) != -1) {
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
        case 'f':
            if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "bin") != 0) {
                return cli_usage("flows", "--format: expected csv or bin, got '%s'", optarg);
            }
            binary = strcmp(optarg, "bin") == 0;
            break;
        case OPT_LABEL: {
            long v;
            label = vigil_threat_class_parse(optarg);
            if (label < 0 && parse_long(optarg, 0, 1000, &v) == 0) {
                label = (int)v;
            }
            if (label < 0) {
                return cli_usage("flows",
                                 "--label: expected normal, dos, probe, r2l, u2r or a "
                                 "class id, got '%s'",
                                 optarg);
            }
            break;
        }
        case OPT_LABELS_OUT:
            labels_out = optarg;
            break;
        case OPT_LABEL_DST:
            label_dst = optarg;
            break;
        case OPT_APPEND:
            append = 1;
            break;
        case OPT_ADDRESSES:
            addresses = 1;
            break;
        case OPT_NATS:
            nats = optarg;
            break;
        case OPT_SENSOR:
            sensor = optarg;
            break;
        case 'h':
            printf(
                "usage: vigil flows extract PCAP... [-o flows.csv] [options]\n\n"
                "  -o, --output FILE   CSV of flow records: ts, the 24 features (docs/flows.md)\n"
                "                      [, label] ('-' = stdout, the default without --nats)\n"
                "  --label LABEL       class of every flow: normal, dos, probe, r2l, u2r or "
                "an id\n"
                "  --labels-out FILE   also write the class ids, one per row (vigil train "
                "--labels)\n"
                "  --label-dst ADDR    only flows towards ADDR (the victim) get LABEL, the "
                "others 0\n"
                "  --append            append to the CSV and labels files (no header)\n"
                "  --addresses         add src and dst columns (for people: not trainable)\n"
                "  -f, --format F      csv (default) or bin: record batches as on the bus\n"
                "                      (docs/flows.md, 'Batch format')\n"
                "  --nats URL          publish record batches to JetStream (subject "
                "vigil.flows.SENSOR)\n"
                "  --sensor NAME       sensor name in batches and the subject (default: host "
                "name)\n\n%s",
                cap_help);
            return CLI_OK;
        case ':':
            return cli_usage("flows", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("flows", "unknown option '%s' for 'flows extract'", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        return cli_usage("flows", "extract needs at least one capture file");
    }
    if ((labels_out || label_dst) && label < 0) {
        return cli_usage("flows", "%s needs --label", labels_out ? "--labels-out" : "--label-dst");
    }
    uint8_t victim[16];
    if (label_dst && vigil_ip_parse(label_dst, strlen(label_dst), victim) != 0) {
        return cli_usage("flows", "--label-dst: expected an IPv4 or IPv6 address, got '%s'",
                         label_dst);
    }
    if (!out_path && !nats) {
        out_path = "-";
    }
    if (binary && (label >= 0 || addresses)) {
        return cli_usage("flows", "--format bin carries no labels or address columns (the "
                                  "records hold the addresses)");
    }
    struct sink s = {
        .label = label, .addresses = addresses, .label_dst = label_dst != NULL, .binary = binary};
    if (label_dst) {
        memcpy(s.victim, victim, 16);
    }
    vigil_buf_init(&s.b);
    if (out_path) {
        int exists = append && strcmp(out_path, "-") != 0 && access(out_path, F_OK) == 0;
        s.csv = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, append ? "a" : "w");
        if (!s.csv) {
            return cli_fail("%s: %s", out_path, strerror(errno));
        }
        if (!exists && !binary) {
            fputs(addresses ? "ts,src,dst" : "ts", s.csv);
            for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
                fprintf(s.csv, ",%s", vigil_flow_feature_name(j));
            }
            fputs(label >= 0 ? ",label\n" : "\n", s.csv);
        }
    }
    if (labels_out) {
        s.labels = fopen(labels_out, append ? "a" : "w");
        if (!s.labels) {
            rc = cli_fail("%s: %s", labels_out, strerror(errno));
            goto done;
        }
    }
    if (nats) {
        if (set_sensor(&s, sensor) != 0) {
            rc = cli_usage("flows", "--sensor: name too long");
            goto done;
        }
        rc = bus_open(&s.bus, nats, s.sensor, FLOWS_STREAM, FLOWS_SUBJECTS);
        if (rc) {
            goto done;
        }
    }
    rc = run_capture(argv + optind, argc - optind, NULL, &co, &s, "flows extract");
done:
    if (s.csv && s.csv != stdout && fclose(s.csv) != 0 && rc == CLI_OK) {
        rc = cli_fail("%s: %s", out_path, strerror(errno));
    } else if (s.csv == stdout && fflush(stdout) != 0 && rc == CLI_OK) {
        rc = cli_fail("stdout: %s", strerror(errno));
    }
    if (s.labels && fclose(s.labels) != 0 && rc == CLI_OK) {
        rc = cli_fail("%s: %s", labels_out, strerror(errno));
    }
    vigil_bus_close(s.bus);
    vigil_buf_fini(&s.b);
    return rc;
}

/* ---- detect ---- */

static int flows_detect(int argc, char **argv)
{
    static const struct option lo[] = {
        CAP_LONGOPTS,
        ALARM_LONGOPTS,
        {"iface", required_argument, NULL, OPT_IFACE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"nats", required_argument, NULL, OPT_NATS},
        {"sensor", required_argument, NULL, OPT_SENSOR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cap_opts co;
    cap_opts_init(&co);
    struct alarm_opts ao;
    alarm_opts_init(&ao);
    const char *iface = NULL, *nats = NULL, *sensor = NULL;
    int64_t duration = 0;
    int c, rc = CLI_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        int r = cap_opt(&co, c, "flows", &rc);
        r = r ? r : alarm_opt(&ao, c, "flows", &rc);
        if (r < 0) {
            return rc;
        }
        if (r > 0) {
            continue;
        }
        switch (c) {
        case OPT_IFACE:
            iface = optarg;
            break;
        case OPT_DURATION:
            if (parse_dur(optarg, 1000000, 365LL * 86400 * 1000000000LL, &duration)) {
                return cli_usage("flows", "--duration: expected a duration, got '%s'", optarg);
            }
            break;
        case OPT_NATS:
            nats = optarg;
            break;
        case OPT_SENSOR:
            sensor = optarg;
            break;
        case 'h':
            printf("usage: vigil flows detect --model FILE... (PCAP... | --iface IF) [options]\n\n"
                   "  --iface IF          capture live from an interface (stop with SIGINT or "
                   "--duration)\n"
                   "  --duration DUR      live capture: stop after DUR\n"
                   "  --nats URL          publish record batches to JetStream for 'flows "
                   "worker'\n"
                   "                      (then --model is optional: a pure sensor)\n"
                   "  --sensor NAME       sensor name (default: host name)\n\n%s\n%s",
                   alarm_help, cap_help);
            return CLI_OK;
        case ':':
            return cli_usage("flows", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("flows", "unknown option '%s' for 'flows detect'", argv[optind - 1]);
        }
    }
    int n_files = argc - optind;
    if ((n_files > 0) == (iface != NULL)) {
        return cli_usage("flows", "detect needs capture files or --iface, not both");
    }
    if (ao.n_models == 0 && !nats) {
        return cli_usage("flows", "detect needs --model (or --nats to only publish records)");
    }
    struct sink s = {.label = -1};
    vigil_buf_init(&s.b);
    if (nats) {
        if (set_sensor(&s, sensor) != 0) {
            rc = cli_usage("flows", "--sensor: name too long");
            goto done;
        }
        rc = bus_open(&s.bus, nats, s.sensor, FLOWS_STREAM, FLOWS_SUBJECTS);
    }
    if (rc == CLI_OK && ao.n_models) {
        rc = sink_open_detect(&s, &ao, co.fp.batch, nats ? s.sensor : NULL);
    }
    if (rc == CLI_OK) {
        catch_stop_signals();
        if (iface && duration) {
            alarm((unsigned)((duration + 999999999) / 1000000000));
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_stop;
            sigaction(SIGALRM, &sa, NULL);
        }
        rc = run_capture(argv + optind, n_files, iface, &co, &s, "flows detect");
    }
done:
    sink_close(&s, "flows detect");
    vigil_bus_close(s.bus);
    return rc;
}

/* ---- worker ---- */

static int flows_worker(int argc, char **argv)
{
    static const struct option lo[] = {
        ALARM_LONGOPTS,
        {"nats", required_argument, NULL, OPT_NATS},
        {"name", required_argument, NULL, OPT_SENSOR},
        {"durable", required_argument, NULL, OPT_DURABLE},
        {"fetch", required_argument, NULL, OPT_FETCH},
        {"ack-wait", required_argument, NULL, OPT_ACK_WAIT},
        {"idle-exit", required_argument, NULL, OPT_IDLE_EXIT},
        {"max-batches", required_argument, NULL, OPT_MAX_BATCHES},
        {"processed", required_argument, NULL, OPT_PROCESSED},
        {"hold", required_argument, NULL, OPT_HOLD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct alarm_opts ao;
    alarm_opts_init(&ao);
    ao.alarms = ""; /* alarms go to the bus; a file only when asked */
    const char *nats = NULL, *name = NULL, *durable = "vigil-workers", *processed = NULL;
    long fetch = 8, max_batches = 0;
    int64_t ack_wait = 30LL * 1000000000LL, idle_exit = 0, hold = 0;
    int c, rc = CLI_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        int r = alarm_opt(&ao, c, "flows", &rc);
        if (r < 0) {
            return rc;
        }
        if (r > 0) {
            continue;
        }
        switch (c) {
        case OPT_NATS:
            nats = optarg;
            break;
        case OPT_SENSOR:
            name = optarg;
            break;
        case OPT_DURABLE:
            durable = optarg;
            break;
        case OPT_FETCH:
            if (parse_long(optarg, 1, 1024, &fetch)) {
                return cli_usage("flows", "--fetch: expected an integer in [1, 1024], got '%s'",
                                 optarg);
            }
            break;
        case OPT_MAX_BATCHES:
            if (parse_long(optarg, 1, 1L << 40, &max_batches)) {
                return cli_usage("flows", "--max-batches: expected a positive integer, got '%s'",
                                 optarg);
            }
            break;
        case OPT_ACK_WAIT:
            if (parse_dur(optarg, 100000000, 3600LL * 1000000000LL, &ack_wait)) {
                return cli_usage("flows", "--ack-wait: expected a duration from 100ms to 1h");
            }
            break;
        case OPT_IDLE_EXIT:
            if (parse_dur(optarg, 1000000, 86400LL * 1000000000LL, &idle_exit)) {
                return cli_usage("flows", "--idle-exit: expected a duration");
            }
            break;
        case OPT_HOLD:
            if (parse_dur(optarg, 0, 3600LL * 1000000000LL, &hold)) {
                return cli_usage("flows", "--hold: expected a duration");
            }
            break;
        case OPT_PROCESSED:
            processed = optarg;
            break;
        case 'h':
            printf(
                "usage: vigil flows worker --nats URL --model FILE... [options]\n\n"
                "Consumes flow record batches from the %s stream as one member of a\n"
                "durable consumer group, scores them, publishes alarms to %s<name>,\n"
                "and acknowledges each batch only after its alarms are stored: a worker\n"
                "that dies mid-batch loses nothing (the batch is redelivered after --ack-wait).\n\n"
                "  --nats URL          NATS server(s)\n"
                "  --name NAME         worker name (default: host name and pid)\n"
                "  --durable NAME      consumer group shared by the workers (default "
                "vigil-workers)\n"
                "  --fetch N           batches per fetch (default 8)\n"
                "  --ack-wait DUR      redelivery delay of unacknowledged batches (default "
                "30s)\n"
                "  --idle-exit DUR     exit after DUR without batches (default: run until "
                "SIGTERM)\n"
                "  --max-batches N     exit after N batches\n"
                "  --processed FILE    append 'sensor seq records flagged' per acked batch\n"
                "  --hold DUR          wait DUR after each fetch before scoring (testing "
                "redelivery)\n\n%s",
                FLOWS_STREAM, "vigil.alarms.", alarm_help);
            return CLI_OK;
        case ':':
            return cli_usage("flows", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("flows", "unknown option '%s' for 'flows worker'", argv[optind - 1]);
        }
    }
    if (!nats || ao.n_models == 0 || optind != argc) {
        return cli_usage("flows", "worker needs --nats URL and --model FILE (and no other "
                                  "arguments)");
    }
    struct sink s = {.label = -1};
    vigil_buf_init(&s.b);
    char host[64];
    if (name) {
        snprintf(s.sensor, sizeof s.sensor, "%s", name);
    } else {
        if (gethostname(host, sizeof host) != 0) {
            snprintf(host, sizeof host, "worker");
        }
        host[sizeof host - 1] = '\0';
        snprintf(s.sensor, sizeof s.sensor, "%.40s-%ld", host, (long)getpid());
    }
    FILE *proc = NULL;
    struct vigil_flow_rec *recs = vigil_mallocarray(VIGIL_FLOW_BATCH_MAX, sizeof *recs);
    struct vigil_bus_msg *msgs = vigil_mallocarray((size_t)fetch, sizeof *msgs);
    struct vigil_bus_sub *sub = NULL;
    if (!recs || !msgs) {
        rc = cli_fail("out of memory");
        goto done;
    }
    if (vigil_bus_subject(s.alarm_subject, sizeof s.alarm_subject, "vigil.alarms", s.sensor)) {
        rc = cli_usage("flows", "--name too long");
        goto done;
    }
    rc = bus_open(&s.bus, nats, s.sensor, FLOWS_STREAM, FLOWS_SUBJECTS);
    rc = rc ? rc : bus_open(&s.alarm_bus, nats, s.sensor, ALARMS_STREAM, ALARMS_SUBJECTS);
    if (rc) {
        goto done;
    }
    struct vigil_bus *in = s.bus;
    s.bus = NULL; /* the sink must not republish records */
    rc = sink_open_detect(&s, &ao, 4096, s.sensor);
    if (rc) {
        s.bus = in;
        goto done;
    }
    s.bus = in;
    if (processed && !(proc = fopen(processed, "a"))) {
        rc = cli_fail("%s: %s", processed, strerror(errno));
        goto done;
    }
    struct vigil_diag d;
    vigil_diag_clear(&d);
    struct vigil_bus_consumer cc = {.stream = FLOWS_STREAM,
                                    .durable = durable,
                                    .subject = FLOWS_SUBJECTS,
                                    .ack_wait_ns = ack_wait,
                                    .max_ack_pending = 1024};
    int e = vigil_bus_subscribe(s.bus, &cc, &sub, &d);
    if (e) {
        rc = cli_fail("%s", d.msg[0] ? d.msg : vigil_strerror(e));
        goto done;
    }
    catch_stop_signals();
    fprintf(stderr, "flows worker %s: consuming %s as '%s'\n", s.sensor, FLOWS_STREAM, durable);
    int64_t last = vigil_clock_mono_ns(), t_first = 0, t_last = 0, wall_first = 0, wall_last = 0;
    uint64_t batches = 0, bad = 0, redelivered = 0, recs_in = 0;
    while (!stop_flag && (!max_batches || batches < (uint64_t)max_batches)) {
        size_t n;
        long want = max_batches && max_batches - (long)batches < fetch ? max_batches - (long)batches
                                                                       : fetch;
        e = vigil_bus_fetch(sub, msgs, (size_t)want, 1000000000LL, &n, &d);
        if (e) {
            rc = cli_fail("%s", d.msg[0] ? d.msg : vigil_strerror(e));
            break;
        }
        if (n == 0) {
            if (idle_exit && vigil_clock_mono_ns() - last >= idle_exit) {
                break;
            }
            continue;
        }
        last = vigil_clock_mono_ns();
        if (!t_first) {
            t_first = last;
            wall_first = vigil_clock_wall_ns();
        }
        if (hold) {
            fprintf(stderr, "flows worker %s: holding %zu batches\n", s.sensor, n);
            struct timespec ts = {(time_t)(hold / 1000000000LL), (long)(hold % 1000000000LL)};
            nanosleep(&ts, NULL);
        }
        for (size_t i = 0; i < n && rc == CLI_OK; i++) {
            struct vigil_flow_batch_hdr h;
            e = vigil_flow_batch_decode(msgs[i].data, msgs[i].len, &h, recs, VIGIL_FLOW_BATCH_MAX);
            if (e) {
                /* A poison message: acknowledged so it is not redelivered forever. */
                fprintf(stderr,
                        "vigil: flows worker: %s seq %llu: not a flow batch (%s), "
                        "dropped\n",
                        msgs[i].subject, (unsigned long long)msgs[i].stream_seq, vigil_strerror(e));
                bad++;
                vigil_bus_ack(&msgs[i]);
                continue;
            }
            uint64_t before = 0;
            for (int k = 1; k <= VIGIL_THREAT_ANOMALY; k++) {
                before += s.flagged[k];
            }
            s.records += h.n;
            e = detect_batch(&s, recs, h.n);
            /* Alarms first, stored by the server; then the batch's ack. */
            e = e ? e : vigil_bus_publish_wait(s.alarm_bus, 10LL * 1000000000LL, &d);
            if (e) {
                /* Not acked: the batch comes back to this group after the ack wait. */
                rc = cli_fail("%s", d.msg[0] ? d.msg : vigil_strerror(e));
                break;
            }
            vigil_bus_ack(&msgs[i]);
            redelivered += msgs[i].delivered > 1;
            batches++;
            recs_in += h.n;
            t_last = vigil_clock_mono_ns();
            wall_last = vigil_clock_wall_ns();
            if (proc) {
                uint64_t after = 0;
                for (int k = 1; k <= VIGIL_THREAT_ANOMALY; k++) {
                    after += s.flagged[k];
                }
                fprintf(proc, "%s %llu %u %llu\n", h.sensor, (unsigned long long)h.seq, h.n,
                        (unsigned long long)(after - before));
                fflush(proc);
            }
        }
        if (rc != CLI_OK) {
            break;
        }
    }
    double busy = t_last > t_first ? (double)(t_last - t_first) / 1e9 : 0;
    fprintf(stderr,
            "flows worker %s: %llu batches (%llu redelivered, %llu malformed), %llu records in "
            "%.3f s from the first fetch to the last ack (%.0f records/s; first fetch %.6f, "
            "last ack %.6f)\n",
            s.sensor, (unsigned long long)batches, (unsigned long long)redelivered,
            (unsigned long long)bad, (unsigned long long)recs_in, busy,
            busy > 0 ? (double)recs_in / busy : 0.0, (double)wall_first / 1e9,
            (double)wall_last / 1e9);
done:
    vigil_bus_unsubscribe(sub);
    sink_close(&s, "flows worker");
    if (proc) {
        fclose(proc);
    }
    vigil_bus_close(s.bus);
    vigil_bus_close(s.alarm_bus);
    vigil_free(recs);
    vigil_free(msgs);
    return rc;
}

/* ---- NSL-KDD ---- */

static int flows_nslkdd(int argc, char **argv)
{
    static const struct option lo[] = {
        {"output", required_argument, NULL, 'o'},
        {"labels-out", required_argument, NULL, OPT_LABELS_OUT},
        {"raw", no_argument, NULL, OPT_RAW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = NULL, *labels_out = NULL;
    int raw = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case OPT_LABELS_OUT:
            labels_out = optarg;
            break;
        case OPT_RAW:
            raw = 1;
            break;
        case 'h':
            printf("usage: vigil flows nslkdd KDD.txt -o DATA.csv --labels-out DATA.labels "
                   "[--raw]\n\n"
                   "Converts an NSL-KDD file for 'vigil train/score/eval': the 3 symbolic "
                   "features\none-hot over the full vocabularies (122 columns), classes "
                   "0 normal, 1 dos,\n2 probe, 3 r2l, 4 u2r (docs/flows.md).\n\n"
                   "  -o, --output FILE   CSV of features\n"
                   "  --labels-out FILE   class ids, one per row\n"
                   "  --raw               keep numeric features as they are (default: "
                   "log(1 + x))\n");
            return CLI_OK;
        case ':':
            return cli_usage("flows", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("flows", "unknown option '%s' for 'flows nslkdd'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1 || !out_path || !labels_out) {
        return cli_usage("flows", "nslkdd needs one input file, -o DATA.csv and --labels-out "
                                  "DATA.labels");
    }
    struct vigil_nslkdd k;
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int e = vigil_nslkdd_read(&k, argv[optind], NULL, !raw, &d);
    if (e) {
        return cli_fail_diag(argv[optind], &d, e);
    }
    int rc = CLI_OK;
    FILE *f = fopen(out_path, "w");
    FILE *l = fopen(labels_out, "w");
    if (!f || !l) {
        rc = cli_fail("%s: %s", !f ? out_path : labels_out, strerror(errno));
        goto done;
    }
    char name[64];
    for (size_t j = 0; j < VIGIL_NSLKDD_F; j++) {
        fprintf(f, "%s%s", j ? "," : "", vigil_nslkdd_feature_name(j, name, sizeof name));
    }
    fputc('\n', f);
    for (size_t i = 0; i < k.n; i++) {
        const float *x = k.x + i * VIGIL_NSLKDD_F;
        for (size_t j = 0; j < VIGIL_NSLKDD_F; j++) {
            fprintf(f, j ? ",%.7g" : "%.7g", (double)x[j]);
        }
        fputc('\n', f);
        fprintf(l, "%d\n", (int)k.y[i]);
    }
    fprintf(stderr, "flows nslkdd: %zu rows: normal %zu, dos %zu, probe %zu, r2l %zu, u2r %zu", k.n,
            k.per_class[0], k.per_class[1], k.per_class[2], k.per_class[3], k.per_class[4]);
    if (k.unknown_symbols) {
        fprintf(stderr, "; %zu symbolic values outside the vocabularies", k.unknown_symbols);
    }
    fputc('\n', stderr);
done:
    if (f && fclose(f) != 0 && rc == CLI_OK) {
        rc = cli_fail("%s: %s", out_path, strerror(errno));
    }
    if (l && fclose(l) != 0 && rc == CLI_OK) {
        rc = cli_fail("%s: %s", labels_out, strerror(errno));
    }
    vigil_nslkdd_fini(&k);
    return rc;
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} subs[] = {
    {"extract", flows_extract, "capture files to flow records (CSV and/or NATS)"},
    {"detect", flows_detect, "flag threats in capture files or live traffic with trained models"},
    {"worker", flows_worker, "score record batches from NATS as one of a worker group"},
    {"nslkdd", flows_nslkdd, "convert NSL-KDD for vigil train/score/eval"},
    {NULL, NULL, NULL},
};

int cmd_flows(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: vigil flows <subcommand> [options]\n\nsubcommands:\n");
        for (int i = 0; subs[i].name; i++) {
            fprintf(out, "  %-9s %s\n", subs[i].name, subs[i].summary);
        }
        fprintf(out, "\n'vigil flows <subcommand> --help' lists its options\n");
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    for (int i = 0; subs[i].name; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            return subs[i].fn(argc - 1, argv + 1);
        }
    }
    return cli_usage("flows", "unknown subcommand '%s'", argv[1]);
}
