/*
 * vigil watch: the main job. Collects this host (and its cgroups and libvirt
 * domains, and any Prometheus targets the config names) every step, learns
 * what normal is per entity after a warm-up, scores every step, and reports
 * anomaly events with their explanation: JSON lines on stdout, rows in SQLite
 * under the state directory, alerts to Alertmanager when configured, and a
 * page plus /metrics and a small JSON API on 127.0.0.1.
 *
 * Threads: this loop (collection, scoring, events, rendering), the trainer
 * (inside the engine) and the HTTP server, whose handlers read only the
 * snapshots this loop publishes or the database through their own read-only
 * connections. SIGINT, SIGTERM and SIGHUP are blocked everywhere and taken
 * with sigtimedwait between ticks: SIGTERM/SIGINT close open events and exit
 * 0; SIGHUP reloads the detection policy from the config file.
 */
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "optflags.h"
#include "vigil/alert.h"
#include "vigil/buf.h"
#include "vigil/busin.h"
#include "vigil/clock.h"
#include "vigil/collect.h"
#include "vigil/config.h"
#include "vigil/groups.h"
#include "vigil/http.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/scrape.h"
#include "vigil/store.h"
#include "vigil/watch.h"

#define SEC 1000000000LL
#define SCRAPE_MAX 32
#define DEFAULT_LISTEN "127.0.0.1:9750"
#define FLUSH_EVERY (10 * SEC) /* score history goes to the store in one transaction this often */

extern const char vigil_watch_page[]; /* build/gen/watch_page.c, from src/cli/watch_page.html */

#define ALERT_BATCH 64 /* alerts posted in one request at most */
#define ALERT_STR 5    /* strings of an alert kept in the batch text */

/* Alerts of one tick, posted together (post_alerts). */
struct alert_batch {
    struct vigil_alert v[ALERT_BATCH];
    size_t off[ALERT_BATCH][ALERT_STR]; /* entity, group, summary, features, fault in text */
    struct vigil_buf text;
    size_t n;
};

struct app {
    const char *config_path;
    struct vigil_config cfg;
    struct vigil_watch_conf conf;
    const struct vigil_model_ops *ops;
    void *mparams;
    char listen[64];
    char state_dir[512];
    char db_path[600];
    const char *alert_url;
    const char *root;
    const char *collectors;
    const char *nats, *subject, *stream, *durable; /* bus input (borrowed until setup) */
    const char *service;    /* borrowed (argv or config) until setup copies it below */
    char service_key[256];  /* the service series, owned: a reload frees config strings */
    char service_json[520]; /* the same as JSON string content (escaped), for the API */
    const char *scrape[SCRAPE_MAX];
    size_t n_scrape;
    int no_host;
    int64_t duration;
    int quiet;

    struct vigil_groups_params gp;
    struct vigil_groups *groups;
    struct vigil_collect *col;
    struct vigil_scraper *scr;
    struct vigil_busin *bus;
    struct vigil_series_table tab; /* the engine's series: collector's then scraped */
    uint32_t *colmap;              /* collector series id -> tab id */
    size_t n_colmap, cap_colmap;
    float *row;
    size_t cap_row;
    struct vigil_watch *w;
    struct vigil_store *st;
    struct vigil_alert_client *am;
    struct alert_batch alerts;
    struct vigil_http *http;
    struct vigil_snapshot snap_metrics, snap_entities, snap_status;
    int snaps;
    uint64_t ticks, late_ticks;
    double tick_seconds;
    struct vigil_watch_history hist; /* score and service history, in batches */
    int last_pct;
};

/* ---- events: JSON lines, store, Alertmanager ---- */

/* Writes s escaped as JSON string content (no quotes) into out, truncating to fit. */
static void json_escape(char *out, size_t n, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

/* Prints s as a JSON string; NULL prints null. Control characters become spaces. */
static void put_json_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            putchar('\\');
        }
        putchar((unsigned char)*s < 0x20 ? ' ' : *s);
    }
    putchar('"');
}

static void print_event(const char *what, const struct vigil_watch_event *ev)
{
    char t0[40], t1[40];
    printf("{\"event\":\"%s\",\"id\":%lld,\"entity\":", what, (long long)ev->id);
    put_json_str(ev->entity);
    printf(",\"group\":\"%s\",\"model\":\"%s\",\"start\":\"%s\",\"end\":%s%s%s,"
           "\"intensity\":%.3f,\"features\":%s,\"fault\":",
           ev->group, ev->model, vigil_rfc3339(ev->start_ns, t0, sizeof t0), ev->end_ns ? "\"" : "",
           ev->end_ns ? vigil_rfc3339(ev->end_ns, t1, sizeof t1) : "null", ev->end_ns ? "\"" : "",
           ev->intensity, ev->features ? ev->features : "[]");
    put_json_str(ev->fault);
    fputs("}\n", stdout);
    fflush(stdout);
}

/*
 * Alerts go to Alertmanager in one request per tick, after scoring: a
 * host-wide anomaly opens many events at once, and one blocking POST each
 * (1 s timeout) would stall the loop. The event's strings are borrowed for
 * the callback only, so they are copied into the batch's text.
 */
static void post_alerts(struct app *a)
{
    struct alert_batch *q = &a->alerts;
    for (size_t i = 0; i < q->n; i++) {
        const char **s[ALERT_STR] = {&q->v[i].entity, &q->v[i].group, &q->v[i].summary,
                                     &q->v[i].features, &q->v[i].fault};
        for (int k = 0; k < ALERT_STR; k++) {
            *s[k] = q->off[i][k] == SIZE_MAX ? NULL : q->text.p + q->off[i][k];
        }
    }
    if (q->n) {
        vigil_alert_post(a->am, q->v, q->n);
    }
    q->n = 0;
    vigil_buf_reset(&q->text);
}

/* Appends s with its NUL to the batch text; its offset, or SIZE_MAX for NULL or on OOM. */
static size_t keep_str(struct alert_batch *q, const char *s)
{
    size_t off = q->text.len;
    return s && vigil_buf_append(&q->text, s, strlen(s) + 1) == 0 ? off : SIZE_MAX;
}

static void queue_alert(struct app *a, const struct vigil_watch_event *ev)
{
    struct alert_batch *q = &a->alerts;
    if (q->n == ALERT_BATCH) {
        post_alerts(a);
    }
    char summary[256];
    snprintf(summary, sizeof summary, "%s anomaly on %s (%.1fx its threshold)%s%s", ev->group,
             ev->entity, ev->intensity, ev->fault ? "; fault: " : "", ev->fault ? ev->fault : "");
    const char *str[ALERT_STR] = {ev->entity, ev->group, summary, ev->features, ev->fault};
    for (int k = 0; k < ALERT_STR; k++) {
        q->off[q->n][k] = keep_str(q, str[k]);
    }
    q->v[q->n++] = (struct vigil_alert){.name = "VigilAnomaly",
                                        .severity = ev->intensity >= 3 ? "critical" : "warning",
                                        .intensity = ev->intensity,
                                        .starts_ns = ev->start_ns,
                                        .ends_ns = ev->end_ns};
}

static void on_event(void *user, enum vigil_watch_change what, struct vigil_watch_event *ev)
{
    struct app *a = user;
    vigil_watch_store_event(a->st, ev);
    /* A new peak only updates the store; a refresh re-posts the alert so Alertmanager keeps
     * it firing (it resolves alerts not resent within its resolve_timeout). */
    int change = what != VIGIL_WATCH_UPDATED || ev->reopened;
    if (change) {
        print_event(what == VIGIL_WATCH_OPENED   ? "open"
                    : what == VIGIL_WATCH_CLOSED ? "close"
                                                 : "reopen",
                    ev);
    }
    if (a->am && (change || ev->refresh)) {
        queue_alert(a, ev);
    }
}

/* ---- HTTP handlers (server thread: database through read-only connections) ---- */

static int64_t arg_time(const struct vigil_http_req *req, const char *key)
{
    const char *v = vigil_http_arg(req, key);
    if (!v || !*v) {
        return 0;
    }
    char *end;
    double x = strtod(v, &end);
    if (*end || !isfinite(x) || x < 0) {
        return -1;
    }
    return (int64_t)(x * 1e9); /* seconds since the epoch, as the page sends */
}

static int open_ro(struct app *a, struct vigil_store **st, struct vigil_http_resp *resp)
{
    if (vigil_store_open(st, a->db_path, VIGIL_STORE_READONLY) != 0) {
        resp->status = 503;
        vigil_buf_puts(&resp->body, "{\"error\":\"store not available\"}");
        return -1;
    }
    return 0;
}

static int h_events(void *user, const struct vigil_http_req *req, struct vigil_http_resp *resp)
{
    struct app *a = user;
    resp->content_type = "application/json";
    struct vigil_event_filter f = {.entity = vigil_http_arg(req, "entity"),
                                   .group = vigil_http_arg(req, "group"),
                                   .from_ns = arg_time(req, "from"),
                                   .to_ns = arg_time(req, "to")};
    const char *lim = vigil_http_arg(req, "limit");
    char *end = NULL;
    long limit = lim ? strtol(lim, &end, 10) : 100;
    if (f.from_ns < 0 || f.to_ns < 0 || (lim && (!*lim || *end || limit <= 0 || limit > 10000))) {
        resp->status = 400;
        return vigil_buf_puts(&resp->body,
                              "{\"error\":\"from/to are seconds since the epoch, limit 1-10000\"}");
    }
    f.limit = (int)limit;
    struct vigil_store *st;
    if (open_ro(a, &st, resp)) {
        return 0;
    }
    int rc = vigil_store_events_json(st, &f, &resp->body);
    vigil_store_close(st);
    return rc;
}

static int h_scores(void *user, const struct vigil_http_req *req, struct vigil_http_resp *resp)
{
    struct app *a = user;
    resp->content_type = "application/json";
    const char *entity = vigil_http_arg(req, "entity");
    const char *group = vigil_http_arg(req, "group");
    int64_t from = arg_time(req, "from"), to = arg_time(req, "to");
    if (!entity || !group || from < 0 || to < 0) {
        resp->status = 400;
        return vigil_buf_puts(&resp->body, "{\"error\":\"entity and group are required\"}");
    }
    enum { MAXP = 20000 };
    int64_t *ts = vigil_malloc(MAXP * sizeof *ts);
    double *r = vigil_malloc(MAXP * sizeof *r), *sv = vigil_malloc(MAXP * sizeof *sv);
    struct vigil_store *st = NULL;
    int rc = ts && r && sv ? 0 : -ENOMEM;
    if (!rc && open_ro(a, &st, resp) == 0) {
        int64_t n = vigil_store_scores(st, entity, group, from, to, ts, r, sv, MAXP);
        rc = n < 0 ? (int)n : 0;
        rc = rc ? rc : vigil_buf_puts(&resp->body, "{\"t\":[");
        for (int64_t i = 0; !rc && i < n; i++) {
            rc = vigil_buf_appendf(&resp->body, "%s%.3f", i ? "," : "", (double)ts[i] / 1e9);
        }
        const double *cols[2] = {r, sv};
        const char *names[2] = {"],\"score\":[", "],\"service\":["};
        for (int c = 0; c < 2 && !rc; c++) {
            rc = vigil_buf_puts(&resp->body, names[c]);
            for (int64_t i = 0; !rc && i < n; i++) {
                rc = isfinite(cols[c][i])
                         ? vigil_buf_appendf(&resp->body, "%s%.5g", i ? "," : "", cols[c][i])
                         : vigil_buf_appendf(&resp->body, "%snull", i ? "," : "");
            }
        }
        rc =
            rc ? rc : vigil_buf_appendf(&resp->body, "],\"service_name\":\"%s\"}", a->service_json);
        vigil_store_close(st);
    }
    vigil_free(ts);
    vigil_free(r);
    vigil_free(sv);
    return rc;
}

static int h_page(void *user, const struct vigil_http_req *req, struct vigil_http_resp *resp)
{
    (void)user;
    (void)req;
    resp->content_type = "text/html; charset=utf-8";
    return vigil_buf_puts(&resp->body, vigil_watch_page);
}

/* ---- ticks ---- */

static void emit_scraped(void *user, uint32_t series, double value)
{
    struct app *a = user;
    if (series < a->cap_row) {
        a->row[series] = (float)value;
    }
}

/* Mirrors new collector series into the engine's table. */
static int sync_series(struct app *a)
{
    const struct vigil_series_table *ct = vigil_collect_series(a->col);
    if (ct->n > a->cap_colmap) {
        size_t cap = ct->n * 2;
        uint32_t *m = vigil_realloc(a->colmap, cap * sizeof *m);
        if (!m) {
            return -ENOMEM;
        }
        a->colmap = m;
        a->cap_colmap = cap;
    }
    for (size_t i = a->n_colmap; i < ct->n; i++) {
        const struct vigil_series *s = &ct->v[i];
        uint32_t id;
        int rc = vigil_series_intern_text(&a->tab, s->key, strlen(s->key), &id);
        if (rc) {
            return rc;
        }
        a->tab.v[id].kind = s->kind;
        a->tab.v[id].group = s->group;
        if ((rc = vigil_series_set_entity(&a->tab.v[id], s->entity)) != 0) {
            return rc;
        }
        a->colmap[i] = id;
    }
    a->n_colmap = ct->n;
    return 0;
}

static int ensure_row(struct app *a, size_t n)
{
    if (n <= a->cap_row) {
        return 0;
    }
    size_t cap = n * 2 + 64;
    float *r = vigil_realloc(a->row, cap * sizeof *r);
    if (!r) {
        return -ENOMEM;
    }
    a->row = r;
    a->cap_row = cap;
    return 0;
}

/*
 * After an input interned series beyond the row's spare room (values of ids
 * past it were not stored): widens the row, the new part missing this tick.
 * Returns 0 or -ENOMEM.
 */
static int widen_row(struct app *a)
{
    size_t old = a->cap_row;
    if (a->tab.n <= old) {
        return 0;
    }
    int rc = ensure_row(a, a->tab.n + 4096);
    for (size_t j = old; !rc && j < a->cap_row; j++) {
        a->row[j] = NAN;
    }
    return rc;
}

static int render(struct app *a, int64_t ts)
{
    struct vigil_buf *b = vigil_snapshot_begin(&a->snap_metrics);
    if (!b) {
        return -ENOMEM;
    }
    int rc = a->col ? vigil_collect_render(a->col, b, 0) : 0;
    rc = rc ? rc : a->scr ? vigil_scraper_render(a->scr, b) : 0;
    rc = rc ? rc : a->bus ? vigil_busin_render(a->bus, b) : 0;
    rc = rc ? rc : vigil_watch_render_metrics(a->w, b);
    rc = rc ? rc
            : vigil_buf_appendf(b,
                                "# HELP vigil_watch_tick_duration_seconds Time the last tick took "
                                "(collect, score, store, render).\n"
                                "# TYPE vigil_watch_tick_duration_seconds gauge\n"
                                "vigil_watch_tick_duration_seconds %.6f\n"
                                "# HELP vigil_watch_late_ticks_total Ticks that overran the step.\n"
                                "# TYPE vigil_watch_late_ticks_total counter\n"
                                "vigil_watch_late_ticks_total %llu\n",
                                a->tick_seconds, (unsigned long long)a->late_ticks);
    vigil_snapshot_commit(&a->snap_metrics);
    b = vigil_snapshot_begin(&a->snap_entities);
    if (!b) {
        return -ENOMEM;
    }
    rc = rc ? rc : vigil_watch_render_entities(a->w, b);
    vigil_snapshot_commit(&a->snap_entities);
    b = vigil_snapshot_begin(&a->snap_status);
    if (!b) {
        return -ENOMEM;
    }
    static const char *const phases[] = {"warmup", "training", "scoring"};
    char t0[40];
    rc = rc ? rc
            : vigil_buf_appendf(
                  b,
                  "{\"phase\":\"%s\",\"progress\":%.4f,\"models\":%zu,\"model\":\"%s\","
                  "\"series\":%zu,\"ticks\":%llu,\"step\":%.3f,\"time\":\"%s\","
                  "\"service\":\"%s\"}",
                  phases[vigil_watch_phase(a->w)], vigil_watch_progress(a->w),
                  vigil_watch_n_models(a->w), a->ops->name, a->tab.n, (unsigned long long)a->ticks,
                  (double)a->conf.step / 1e9, vigil_rfc3339(ts, t0, sizeof t0), a->service_json);
    vigil_snapshot_commit(&a->snap_status);
    return rc;
}

static void show_progress(struct app *a)
{
    if (a->quiet || vigil_watch_phase(a->w) != VIGIL_WATCH_WARMUP) {
        if (a->last_pct >= 0 && a->last_pct < 100 && isatty(2)) {
            fputc('\n', stderr);
        }
        if (a->last_pct != 100 && vigil_watch_phase(a->w) != VIGIL_WATCH_WARMUP) {
            a->last_pct = 100;
        }
        return;
    }
    int pct = (int)(vigil_watch_progress(a->w) * 100);
    double left = (1 - vigil_watch_progress(a->w)) * (double)a->conf.warmup / 1e9;
    if (isatty(2)) {
        fprintf(stderr, "\rvigil: warming up: %3d%%, %.0f s left, %zu series  ", pct, left,
                a->tab.n);
    } else if (pct / 10 != a->last_pct / 10) {
        fprintf(stderr, "vigil: warming up: %d%%, %.0f s left, %zu series\n", pct, left, a->tab.n);
    }
    a->last_pct = pct;
}

static int tick(struct app *a)
{
    int64_t t0 = vigil_clock_mono_ns();
    int64_t ts = vigil_clock_wall_ns();
    int rc = 0;
    const struct vigil_sample_batch *batch = NULL;
    if (a->col) {
        rc = vigil_collect_tick(a->col, &batch);
        rc = rc ? rc : sync_series(a);
    }
    rc = rc ? rc : ensure_row(a, a->tab.n + 4096);
    if (rc) {
        return rc;
    }
    for (size_t j = 0; j < a->cap_row; j++) {
        a->row[j] = NAN;
    }
    for (size_t i = 0; batch && i < batch->n; i++) {
        a->row[a->colmap[batch->v[i].series]] = (float)batch->v[i].value;
    }
    if (a->scr) {
        rc = vigil_scraper_run(a->scr, &a->tab, a->groups, emit_scraped, a);
        rc = rc < 0 ? rc : widen_row(a);
        if (rc) {
            return rc;
        }
    }
    if (a->bus) {
        rc = vigil_busin_run(a->bus, ts, &a->tab, a->groups, emit_scraped, a);
        rc = rc < 0 ? rc : widen_row(a);
        if (rc) {
            return rc;
        }
    }
    rc = vigil_watch_push(a->w, ts, &a->tab, a->row);
    if (a->am) {
        post_alerts(a);
    }
    if (rc) {
        return rc;
    }
    /* Score history and the service metric, written in batches. */
    uint32_t sid;
    int have = vigil_series_find(&a->tab, a->service_key, strlen(a->service_key), &sid) == 0;
    vigil_watch_history_tick(&a->hist, a->w, ts, have ? (double)a->row[sid] : (double)NAN, 0);
    a->ticks++;
    a->tick_seconds = (double)(vigil_clock_mono_ns() - t0) / 1e9;
    if (a->tick_seconds * 1e9 > (double)a->conf.step) {
        a->late_ticks++;
    }
    show_progress(a);
    return render(a, ts);
}

/* ---- setup ---- */

static void usage_full(FILE *f)
{
    fprintf(f, "usage: vigil watch [options]\n"
               "Monitors this host, its cgroups and libvirt domains (and Prometheus targets or a\n"
               "NATS subject), learns normal behaviour during a warm-up, then reports anomalies\n"
               "(docs/watch.md).\n"
               "  -c, --config FILE      YAML config (sections watch:, groups:, and one named\n"
               "                         after the model, e.g. lstm-ae:)\n"
               "  -l, --listen ADDR:PORT page, /metrics and /api (default " DEFAULT_LISTEN ")\n"
               "  -s, --state DIR        SQLite state directory (default /var/lib/vigil as root,\n"
               "                         else ~/.local/state/vigil)\n"
               "      --alertmanager URL send alerts to Alertmanager's v2 API at URL\n"
               "      --scrape URL       also scrape a Prometheus target (repeatable)\n"
               "      --nats URL         also read the scrapes vigil collect --nats publishes\n"
               "      --subject SUBJ     NATS subjects to read (default vigil.metrics.>)\n"
               "      --service SERIES   service metric for radiographies (default node_load1)\n"
               "      --root DIR         read /proc and /sys under DIR (default /)\n"
               "      --collectors LIST  comma list of collectors (default: the default set)\n"
               "      --no-host          do not collect this host (scrape targets, NATS only)\n"
               "      --duration D       stop after D (tests, demos)\n"
               "  -q, --quiet            log errors only, no progress line\n"
               "engine options (also keys of the watch: section):\n");
    struct vigil_buf b;
    vigil_buf_init(&b);
    vigil_opt_help(vigil_watch_opts, &b);
    fputs(b.p ? b.p : "", f);
    vigil_buf_fini(&b);
    fprintf(f, "Events are printed as JSON lines; 'vigil help %s' lists the model's options.\n",
            "lstm-ae");
}

static int default_state_dir(char *out, size_t n)
{
    if (geteuid() == 0) {
        snprintf(out, n, "/var/lib/vigil");
    } else {
        const char *xdg = getenv("XDG_STATE_HOME");
        const char *home = getenv("HOME");
        if (xdg && *xdg) {
            snprintf(out, n, "%s/vigil", xdg);
        } else if (home && *home) {
            snprintf(out, n, "%s/.local/state/vigil", home);
        } else {
            snprintf(out, n, "vigil-state");
        }
    }
    return 0;
}

/* mkdir -p for the state directory. */
static int make_dirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/* Reads watch:, the model section and the scrape list from the config file. */
static int apply_config(struct app *a, struct vigil_watch_conf *conf, int with_model)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = vigil_config_apply(&a->cfg, "watch", vigil_watch_opts, conf, &d);
    if (rc == VIGIL_ECONFIG) {
        /* watch: also holds keys of this command (listen, state, ...): not engine options. */
        const char *const own[] = {"listen",  "state", "alertmanager", "scrape",
                                   "service", "nats",  "subject",      "stream",
                                   "durable", "root",  "collectors",   NULL};
        for (size_t i = 0; i < a->cfg.n; i++) {
            const char *k = a->cfg.v[i].key;
            if (strncmp(k, "watch.", 6) != 0) {
                continue;
            }
            k += 6;
            int ours = 0;
            for (int j = 0; own[j]; j++) {
                size_t l = strlen(own[j]);
                ours |= strncmp(k, own[j], l) == 0 && (k[l] == '\0' || k[l] == '.');
            }
            if (ours) {
                continue;
            }
            if (!vigil_opt_find(vigil_watch_opts, k)) {
                vigil_diag_set(&d, a->cfg.v[i].line, 0, "unknown option '%s' in section 'watch'",
                               k);
                return cli_fail_diag(a->config_path, &d, VIGIL_ECONFIG);
            }
            rc = vigil_opt_set(vigil_watch_opts, conf, k, a->cfg.v[i].value,
                               strlen(a->cfg.v[i].value), &d);
            if (rc) {
                d.line = a->cfg.v[i].line;
                return cli_fail_diag(a->config_path, &d, rc);
            }
        }
        rc = 0;
    } else if (rc) {
        return cli_fail_diag(a->config_path, &d, rc);
    }
    if (with_model && a->ops) {
        rc = vigil_config_apply(&a->cfg, a->ops->name, a->ops->opts, a->mparams, &d);
        if (rc) {
            return cli_fail_diag(a->config_path, &d, rc);
        }
    }
    return CLI_OK;
}

static const char *cfg_str(const struct app *a, const char *key)
{
    const struct vigil_config_entry *e = vigil_config_get(&a->cfg, key);
    return e ? e->value : NULL;
}

static int setup(struct app *a)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    /* Config-file values the flags did not set. */
    if (!a->listen[0]) {
        const char *v = cfg_str(a, "watch.listen");
        snprintf(a->listen, sizeof a->listen, "%s", v ? v : DEFAULT_LISTEN);
    }
    if (!a->state_dir[0]) {
        const char *v = cfg_str(a, "watch.state");
        if (v) {
            snprintf(a->state_dir, sizeof a->state_dir, "%s", v);
        } else {
            default_state_dir(a->state_dir, sizeof a->state_dir);
        }
    }
    a->alert_url = a->alert_url ? a->alert_url : cfg_str(a, "watch.alertmanager");
    a->service = a->service ? a->service : cfg_str(a, "watch.service");
    a->service = a->service ? a->service : "node_load1";
    snprintf(a->service_key, sizeof a->service_key, "%s", a->service);
    json_escape(a->service_json, sizeof a->service_json, a->service_key);
    a->root = a->root ? a->root : cfg_str(a, "watch.root");
    a->collectors = a->collectors ? a->collectors : cfg_str(a, "watch.collectors");
    a->nats = a->nats ? a->nats : cfg_str(a, "watch.nats");
    a->subject = a->subject ? a->subject : cfg_str(a, "watch.subject");
    a->stream = cfg_str(a, "watch.stream");
    a->durable = cfg_str(a, "watch.durable");
    for (size_t i = 0; a->n_scrape < SCRAPE_MAX; i++) {
        char key[64];
        snprintf(key, sizeof key, "watch.scrape.%zu", i);
        const char *v = cfg_str(a, key);
        if (!v) {
            break;
        }
        a->scrape[a->n_scrape++] = v;
    }
    int rc = make_dirs(a->state_dir);
    if (rc) {
        return cli_fail("watch: state directory %s: %s", a->state_dir, vigil_strerror(rc));
    }
    snprintf(a->db_path, sizeof a->db_path, "%s/vigil.db", a->state_dir);
    if (vigil_store_open(&a->st, a->db_path, 0) != 0) {
        return cli_fail("watch: cannot open the state database %s", a->db_path);
    }
    /* History of entities an earlier run watched is pruned here, once (a full scan). The engine
     * keeps rate-window steps of scores: the history is flushed well within them. */
    int64_t now = vigil_clock_wall_ns(), span = a->conf.history > SEC ? a->conf.history : 0;
    int64_t every = (int64_t)a->conf.rate_window * a->conf.step / 2;
    vigil_watch_history_init(&a->hist, a->st, now, span, every < FLUSH_EVERY ? every : FLUSH_EVERY);
    vigil_store_prune(a->st, now - a->hist.span);
    if (a->alert_url && (rc = vigil_alert_client_new(&a->am, a->alert_url, 1000)) != 0) {
        return cli_fail("watch: --alertmanager %s: expected an http:// or https:// URL",
                        a->alert_url);
    }
    if (!a->no_host) {
        struct vigil_collect_conf cc;
        vigil_collect_conf_default(&cc);
        cc.root = a->root ? a->root : "/";
        cc.collectors = a->collectors;
        if ((rc = vigil_collect_new(&a->col, &cc, &d)) != 0 ||
            (rc = vigil_collect_start(a->col, &d)) != 0) {
            return cli_fail("watch: collectors: %s", d.msg[0] ? d.msg : vigil_strerror(rc));
        }
    }
    if (a->n_scrape) {
        rc = vigil_scraper_new(&a->scr, a->scrape, a->n_scrape, 2000, (size_t)32 << 20);
        if (rc) {
            return cli_fail("watch: scrape targets must be http:// or https:// URLs");
        }
    }
    if (a->nats) {
        struct vigil_busin_conf bc;
        vigil_busin_conf_default(&bc);
        bc.url = a->nats;
        bc.subject = a->subject ? a->subject : bc.subject;
        bc.stream = a->stream ? a->stream : bc.stream;
        bc.durable = a->durable ? a->durable : bc.durable;
        /* A publisher silent for 5 steps (at least 5 s) is stale. */
        bc.stale_ns = 5 * a->conf.step > bc.stale_ns ? 5 * a->conf.step : bc.stale_ns;
        bc.max_age_ns = 2 * bc.stale_ns;
        if ((rc = vigil_busin_new(&a->bus, &bc, &d)) != 0) {
            return cli_fail("watch: --nats %s: %s", a->nats, d.msg[0] ? d.msg : vigil_strerror(rc));
        }
    }
    if (!a->col && !a->scr && !a->bus) {
        return cli_fail("watch: nothing to watch: --no-host and no scrape target or NATS subject");
    }
    rc = vigil_watch_new(&a->w, &a->conf, a->mparams, &(struct vigil_watch_sink){on_event, a}, &d);
    if (rc) {
        return cli_fail("watch: %s", d.msg[0] ? d.msg : vigil_strerror(rc));
    }
    /* HTTP. */
    if (vigil_snapshot_init(&a->snap_metrics) || vigil_snapshot_init(&a->snap_entities) ||
        vigil_snapshot_init(&a->snap_status)) {
        return cli_fail("watch: out of memory");
    }
    a->snaps = 1;
    a->snap_entities.content_type = "application/json";
    a->snap_status.content_type = "application/json";
    static struct vigil_http_route routes[6];
    routes[0] = (struct vigil_http_route){"/metrics", vigil_http_serve_snapshot, &a->snap_metrics};
    routes[1] =
        (struct vigil_http_route){"/api/entities", vigil_http_serve_snapshot, &a->snap_entities};
    routes[2] =
        (struct vigil_http_route){"/api/status", vigil_http_serve_snapshot, &a->snap_status};
    routes[3] = (struct vigil_http_route){"/api/events", h_events, a};
    routes[4] = (struct vigil_http_route){"/api/scores", h_scores, a};
    routes[5] = (struct vigil_http_route){"/", h_page, a};
    struct vigil_http_conf hc;
    vigil_http_conf_default(&hc);
    char addr[32];
    if (vigil_http_parse_listen(a->listen, addr, sizeof addr, &hc.port) != 0) {
        return cli_usage("watch", "--listen: expected ADDR:PORT or :PORT, got '%s'", a->listen);
    }
    hc.addr = addr;
    hc.routes = routes;
    hc.n_routes = 6;
    if ((rc = vigil_http_start(&a->http, &hc, &d)) != 0) {
        return cli_fail("watch: listen %s: %s", a->listen, d.msg[0] ? d.msg : vigil_strerror(rc));
    }
    /* Render once so the endpoints answer from the start. */
    render(a, vigil_clock_wall_ns());
    if (!a->quiet) {
        char w[32];
        fprintf(stderr,
                "vigil: watching %s%s%zu scrape target%s%s%s; model %s, warm-up %s; page and "
                "/metrics on http://%s:%u/; state in %s\n",
                a->col ? "this host" : "", a->col ? ", " : "", a->n_scrape,
                a->n_scrape == 1 ? "" : "s", a->bus ? ", NATS " : "", a->bus ? a->nats : "",
                a->ops->name, vigil_duration_format(a->conf.warmup, w, sizeof w), addr,
                vigil_http_port(a->http), a->state_dir);
    }
    return CLI_OK;
}

static void teardown(struct app *a)
{
    vigil_http_stop(a->http);
    if (a->snaps) {
        vigil_snapshot_fini(&a->snap_metrics);
        vigil_snapshot_fini(&a->snap_entities);
        vigil_snapshot_fini(&a->snap_status);
    }
    vigil_watch_free(a->w);
    vigil_scraper_free(a->scr);
    vigil_busin_free(a->bus);
    vigil_collect_free(a->col);
    vigil_alert_client_free(a->am);
    vigil_buf_fini(&a->alerts.text);
    vigil_store_close(a->st);
    vigil_groups_free(a->groups);
    vigil_opt_free(vigil_groups_opts, &a->gp);
    vigil_series_table_fini(&a->tab);
    vigil_free(a->colmap);
    vigil_free(a->row);
    if (a->ops && a->mparams) {
        vigil_opt_free(a->ops->opts, a->mparams);
    }
    vigil_free(a->mparams);
    vigil_watch_conf_fini(&a->conf);
    vigil_config_fini(&a->cfg);
}

static void reload(struct app *a)
{
    struct vigil_config fresh;
    struct vigil_diag d;
    if (!a->config_path) {
        vigil_info("watch: SIGHUP: no config file to reload");
        return;
    }
    vigil_config_init(&fresh);
    if (vigil_config_load(&fresh, a->config_path, &d) != 0) {
        char msg[400];
        vigil_warn("watch: reload: %s; keeping the current settings",
                   vigil_diag_format(&d, a->config_path, msg, sizeof msg));
        vigil_config_fini(&fresh);
        return;
    }
    struct vigil_watch_conf c = a->conf;
    struct vigil_config old = a->cfg;
    a->cfg = fresh;
    /* The model and the exclude rule are not reloaded (they change at restart); c owns
     * only the strings the new file sets, freed below. */
    c.model = NULL;
    c.exclude = NULL;
    if (apply_config(a, &c, 0) == CLI_OK) {
        vigil_opt_free(vigil_watch_opts, &c);
        a->conf.threshold = c.threshold;
        a->conf.consecutive = c.consecutive;
        a->conf.clear = c.clear;
        a->conf.suppress = c.suppress;
        a->conf.explain = c.explain;
        a->conf.retrain = c.retrain;
        vigil_watch_set_policy(a->w, &a->conf);
        vigil_info("watch: reloaded %s (policy: threshold %g, consecutive %d, clear %d)",
                   a->config_path, c.threshold, c.consecutive, c.clear);
        vigil_config_fini(&old);
    } else {
        vigil_opt_free(vigil_watch_opts, &c);
        a->cfg = old;
        vigil_config_fini(&fresh);
    }
}

int cmd_watch(int argc, char **argv)
{
    static struct app app; /* the loop's state; one watch per process */
    struct app *a = &app;
#ifdef __GLIBC__
    /* Blocks of 1 MB and more (history copies, training buffers) come from mmap and go back to
     * the system when freed. By default glibc raises this threshold as big blocks are freed,
     * and each retraining then left tens of MB resident (bench/bench_watch_soak.c). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    memset(a, 0, sizeof *a);
    a->last_pct = -1;
    vigil_config_init(&a->cfg);
    vigil_series_table_init(&a->tab);
    vigil_buf_init(&a->alerts.text);
    if (vigil_watch_conf_default(&a->conf) != 0) {
        return cli_fail("watch: out of memory");
    }
    enum {
        O_ALERT = 300,
        O_SCRAPE,
        O_SERVICE,
        O_ROOT,
        O_COLLECTORS,
        O_NOHOST,
        O_DURATION,
        O_NATS,
        O_SUBJECT
    };
    static const struct option fixed[] = {
        {"config", required_argument, 0, 'c'},
        {"listen", required_argument, 0, 'l'},
        {"state", required_argument, 0, 's'},
        {"alertmanager", required_argument, 0, O_ALERT},
        {"scrape", required_argument, 0, O_SCRAPE},
        {"service", required_argument, 0, O_SERVICE},
        {"root", required_argument, 0, O_ROOT},
        {"collectors", required_argument, 0, O_COLLECTORS},
        {"no-host", no_argument, 0, O_NOHOST},
        {"duration", required_argument, 0, O_DURATION},
        {"nats", required_argument, 0, O_NATS},
        {"subject", required_argument, 0, O_SUBJECT},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct cli_optflags f;
    cli_optflags_init(&f, fixed);
    cli_optflags_add(&f, vigil_watch_opts, &a->conf);
    optind = 1;
    opterr = 0;
    int ch, ret = CLI_FAIL;
    while ((ch = getopt_long(argc, argv, ":c:l:s:qh", f.lo, NULL)) != -1) {
        if (cli_optflags_take(&f, ch, optarg)) {
            continue;
        }
        switch (ch) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'l':
            snprintf(a->listen, sizeof a->listen, "%s", optarg);
            break;
        case 's':
            snprintf(a->state_dir, sizeof a->state_dir, "%s", optarg);
            break;
        case 'q':
            a->quiet = 1;
            break;
        case O_ALERT:
            a->alert_url = optarg;
            break;
        case O_SCRAPE:
            if (a->n_scrape == SCRAPE_MAX) {
                return cli_usage("watch", "at most %d --scrape targets", SCRAPE_MAX);
            }
            a->scrape[a->n_scrape++] = optarg;
            break;
        case O_SERVICE:
            a->service = optarg;
            break;
        case O_NATS:
            a->nats = optarg;
            break;
        case O_SUBJECT:
            a->subject = optarg;
            break;
        case O_ROOT:
            a->root = optarg;
            break;
        case O_COLLECTORS:
            a->collectors = optarg;
            break;
        case O_NOHOST:
            a->no_host = 1;
            break;
        case O_DURATION:
            if (vigil_duration_parse(optarg, strlen(optarg), &a->duration) || a->duration <= 0) {
                return cli_usage("watch", "--duration: expected a duration such as 90s, got '%s'",
                                 optarg);
            }
            break;
        case 'h':
            usage_full(stdout);
            vigil_watch_conf_fini(&a->conf);
            return CLI_OK;
        case ':':
            vigil_watch_conf_fini(&a->conf);
            return cli_usage("watch", "option %s needs a value", argv[optind - 1]);
        default:
            vigil_watch_conf_fini(&a->conf);
            return cli_usage("watch", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        vigil_watch_conf_fini(&a->conf);
        return cli_usage("watch", "unexpected argument '%s'", argv[optind]);
    }
    if (a->quiet) {
        vigil_log_set_level(VIGIL_LOG_WARN);
    }
    /* Settings: defaults, then the config file, then flags (which win). */
    struct vigil_groups_params *gp = &a->gp;
    vigil_opt_defaults(vigil_groups_opts, gp);
    if (a->config_path) {
        struct vigil_diag d;
        if (vigil_config_load(&a->cfg, a->config_path, &d) != 0) {
            ret = cli_fail_diag(a->config_path, &d, VIGIL_EPARSE);
            goto out;
        }
        if ((ret = apply_config(a, &a->conf, 0)) != CLI_OK) {
            goto out;
        }
    }
    if ((ret = cli_optflags_apply(&f, "watch")) != CLI_OK) {
        goto out;
    }
    ret = CLI_FAIL;
    a->ops = vigil_model_find(a->conf.model ? a->conf.model : "");
    if (!a->ops || a->ops->supervised) {
        ret = cli_usage("watch",
                        "--model: '%s' is not an unsupervised model (see 'vigil help "
                        "models')",
                        a->conf.model ? a->conf.model : "");
        goto out;
    }
    a->mparams = vigil_calloc(1, a->ops->params_size);
    if (!a->mparams || vigil_opt_defaults(a->ops->opts, a->mparams) != 0) {
        cli_fail("watch: out of memory");
        goto out;
    }
    if (a->config_path && (ret = apply_config(a, &a->conf, 1)) != CLI_OK) {
        goto out;
    }
    {
        struct vigil_diag d;
        vigil_diag_clear(&d);
        if (vigil_groups_from_config(&a->groups, a->config_path ? &a->cfg : NULL, gp, &d) != 0) {
            ret = cli_fail_diag(a->config_path ? a->config_path : "groups", &d, VIGIL_ECONFIG);
            goto out;
        }
    }
    ret = CLI_FAIL;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    cli_signals_take(&sigs);
    if ((ret = setup(a)) != CLI_OK) {
        goto out;
    }
    int64_t start = vigil_clock_mono_ns();
    int64_t next = start;
    for (;;) {
        int64_t now = vigil_clock_mono_ns();
        if (a->duration && now - start >= a->duration) {
            break;
        }
        if (now < next) {
            int64_t wait = next - now;
            struct timespec tv = {(time_t)(wait / SEC), (long)(wait % SEC)};
            siginfo_t si;
            int sig = sigtimedwait(&sigs, &si, &tv);
            if (sig == SIGINT || sig == SIGTERM) {
                break;
            }
            if (sig == SIGHUP) {
                reload(a);
            }
            continue;
        }
        int rc = tick(a);
        if (rc) {
            cli_fail("watch: tick: %s", vigil_strerror(rc));
            ret = CLI_FAIL;
            goto close;
        }
        next += a->conf.step;
        if (next < vigil_clock_mono_ns()) {
            next = vigil_clock_mono_ns(); /* overran: do not try to catch up */
        }
    }
    ret = CLI_OK;
close:
    /* Nothing is lost: open events are closed and stored (and resolved in Alertmanager). */
    vigil_watch_close_all(a->w, vigil_clock_wall_ns());
    if (a->am) {
        post_alerts(a);
    }
    vigil_watch_history_tick(&a->hist, a->w, vigil_clock_wall_ns(), (double)NAN, 1);
    if (!a->quiet) {
        fprintf(stderr, "vigil: watch stopped after %llu ticks\n", (unsigned long long)a->ticks);
    }
out:
    teardown(a);
    return ret;
}
