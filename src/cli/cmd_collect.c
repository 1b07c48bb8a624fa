/*
 * vigil collect: runs the collectors every --interval and exposes the last
 * tick over HTTP (/metrics, Prometheus text 0.0.4), appends timestamped
 * scrapes to --out, and publishes batches to NATS with --nats. Stops cleanly
 * (exit 0) on SIGINT/SIGTERM, after --count ticks or after --duration.
 *
 * `vigil collect` normally runs as build/vigil-collect (cli_collect_exec_lean):
 * the same code linked with libc alone, so the collector maps a few
 * libraries instead of the ~70 the models, plots, HTTP client and SQLite
 * bring; the HTTP server and the bus load libmicrohttpd and the NATS client
 * when they start (docs/perf.md, "## Collection").
 *
 * One thread collects and serves: between ticks it waits on the HTTP
 * server's epoll set and a signalfd of SIGINT and SIGTERM, so a scrape is
 * answered at once, a stop request is seen at once whatever the interval,
 * and no lock keeps a tick and a render apart. Without --listen it waits in
 * sigtimedwait. The stop signals are blocked in every thread
 * (cli_signals_take).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vigil/buf.h"
#include "vigil/bus.h"
#include "vigil/clock.h"
#include "vigil/collect.h"
#include "vigil/http.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/opt.h"

#define MAX_SETS 64

struct collect_args {
    int64_t interval_ns;
    int64_t duration_ns;
    int64_t rescan_ns;
    int64_t retire_ns;
    long count;
    const char *listen;
    const char *out;
    const char *nats;
    const char *root;
    const char *collectors;
    const char *sets[MAX_SETS];
    int n_sets;
    int quiet;
};

/*
 * /metrics renders on demand: a scrape renders the last tick when the
 * published text is older than it, so ticks nobody scrapes cost no render
 * (Prometheus scrapes every 15 s; the set ticks every 100 ms). Scrapes are
 * served in the loop's thread, between ticks.
 */
struct metrics_src {
    struct vigil_collect *c;
    struct vigil_snapshot snap;
    uint64_t ticks;    /* ticks done */
    uint64_t rendered; /* the tick count the published text shows */
};

static int serve_metrics(void *user, const struct vigil_http_req *req,
                         struct vigil_http_resp *resp)
{
    struct metrics_src *m = user;
    int rc = 0;
    if (m->rendered != m->ticks) {
        struct vigil_buf *sb = vigil_snapshot_begin(&m->snap);
        rc = sb ? vigil_collect_render(m->c, sb, VIGIL_RENDER_FIT) : -ENOMEM;
        if (!rc) {
            vigil_snapshot_commit(&m->snap);
            m->rendered = m->ticks;
        }
    }
    if (rc) {
        vigil_error("collect: rendering /metrics: %s", vigil_strerror(rc));
        return rc;
    }
    return vigil_http_serve_snapshot(&m->snap, req, resp);
}

/* The HTTP server in the loop's thread: when it must run next even without input. */
struct serve_loop {
    struct vigil_http *h; /* NULL without --listen */
    int sfd;              /* signalfd of the stop signals, with h */
    int64_t due;          /* monotonic ns; INT64_MAX: only on input */
    int failing;          /* the last run failed (logged once per streak) */
};

static int serve_run(struct serve_loop *l)
{
    int64_t wait;
    int rc = vigil_http_run(l->h, &wait);
    int64_t now = vigil_clock_mono_ns();
    l->due = wait < 0 || wait > INT64_MAX - now ? INT64_MAX : now + wait;
    return rc;
}

/*
 * Waits until the monotonic time end for a stop signal, serving HTTP
 * meanwhile. Returns the signal, 0 at end, or -errno. A server that fails
 * (libmicrohttpd's run) is left alone until the next tick's wait: the
 * collection goes on.
 */
static int wait_serving(struct serve_loop *l, const sigset_t *stop, int64_t end)
{
    int serving = 1;
    for (;;) {
        int64_t now = vigil_clock_mono_ns();
        if (now >= end) {
            return 0;
        }
        int64_t until = l->h && serving && l->due < end ? l->due : end;
        int64_t left = until > now ? until - now : 0;
        struct timespec ts = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
        if (!l->h) {
            int sig = sigtimedwait(stop, NULL, &ts);
            if (sig > 0) {
                return sig;
            }
            continue; /* timed out or interrupted: the clock says which */
        }
        struct pollfd p[2] = {{l->sfd, POLLIN, 0}, {vigil_http_fd(l->h), POLLIN, 0}};
        int n = ppoll(p, serving ? 2 : 1, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (n > 0 && p[0].revents) {
            struct signalfd_siginfo si;
            if (read(l->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                return (int)si.ssi_signo;
            }
        }
        if (serving && ((n > 0 && p[1].revents) || vigil_clock_mono_ns() >= l->due)) {
            int rc = serve_run(l);
            if (rc && !l->failing) {
                vigil_warn("collect: serving http: %s; trying again after each tick",
                           vigil_strerror(rc));
            }
            l->failing = rc != 0;
            serving = !rc;
        }
    }
}

static void usage_full(FILE *f)
{
    fprintf(f,
            "usage: vigil collect [options]\n"
            "  -i, --interval D      time between ticks (default 100ms)\n"
            "  -l, --listen ADDR:PORT serve /metrics and /healthz (127.0.0.1 when only :PORT)\n"
            "  -o, --out FILE        append timestamped scrapes (Prometheus text) to FILE\n"
            "                        ('-' for stdout)\n"
            "      --nats URL        publish each tick's scrape to JetStream subject\n"
            "                        vigil.metrics.<host> (stream VIGIL_METRICS)\n"
            "  -r, --root DIR        read /proc and /sys under DIR (default /)\n"
            "  -n, --count N         stop after N ticks\n"
            "  -d, --duration D      stop after D (\"30s\", \"1h\")\n"
            "  -c, --collectors LIST comma list of collectors (default: every default one)\n"
            "  -s, --set C.OPT=VAL   set a collector option (repeatable), e.g. cgroup.max=64\n"
            "      --rescan D        discovery interval for cgroups, domains, mounts (default 1s)\n"
            "      --retire D        forget the series of a vanished container, VM, device or\n"
            "                        process after D (default 5m; 0 keeps them all)\n"
            "  -q, --quiet           log errors only\n"
            "      --list            list the collectors and their options\n"
            "At least one of --listen, --out, --nats is needed, except with --count.\n");
}

static int list_collectors(void)
{
    for (const struct vigil_collector_ops *const *o = vigil_collector_list(); *o; o++) {
        printf("%-11s %s%s\n", (*o)->name, (*o)->summary, (*o)->default_on ? "" : " (off by default)");
        if ((*o)->opts) {
            struct vigil_buf b;
            vigil_buf_init(&b);
            vigil_opt_help((*o)->opts, &b);
            printf("    options, set with --set %s.NAME=VALUE:\n", (*o)->name);
            for (char *p = b.p; p && *p;) {
                char *nl = strchr(p, '\n');
                printf("    %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
                p = nl ? nl + 1 : p + strlen(p);
            }
            vigil_buf_fini(&b);
        }
    }
    return CLI_OK;
}

static int parse_duration_arg(const char *name, const char *s, int64_t *ns)
{
    if (vigil_duration_parse(s, strlen(s), ns) != 0 || *ns <= 0) {
        return cli_usage("collect", "%s: expected a duration such as 100ms or 10s, got '%s'", name,
                         s);
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct collect_args *a)
{
    static const struct option longopts[] = {
        {"interval", required_argument, 0, 'i'}, {"listen", required_argument, 0, 'l'},
        {"out", required_argument, 0, 'o'},      {"nats", required_argument, 0, 'N'},
        {"root", required_argument, 0, 'r'},     {"count", required_argument, 0, 'n'},
        {"duration", required_argument, 0, 'd'}, {"collectors", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},      {"rescan", required_argument, 0, 'R'},
        {"retire", required_argument, 0, 'T'},
        {"quiet", no_argument, 0, 'q'},          {"list", no_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    a->interval_ns = 100000000LL;
    a->retire_ns = 300LL * 1000000000LL;
    a->root = "/";
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":i:l:o:r:n:d:c:s:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'i':
            if (parse_duration_arg("--interval", optarg, &a->interval_ns)) {
                return CLI_USAGE;
            }
            break;
        case 'd':
            if (parse_duration_arg("--duration", optarg, &a->duration_ns)) {
                return CLI_USAGE;
            }
            break;
        case 'R':
            if (parse_duration_arg("--rescan", optarg, &a->rescan_ns)) {
                return CLI_USAGE;
            }
            break;
        case 'T':
            if (strcmp(optarg, "0") == 0) {
                a->retire_ns = 0;
            } else if (parse_duration_arg("--retire", optarg, &a->retire_ns)) {
                return CLI_USAGE;
            }
            break;
        case 'l':
            a->listen = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'N':
            a->nats = optarg;
            break;
        case 'r':
            a->root = optarg;
            break;
        case 'c':
            a->collectors = optarg;
            break;
        case 'n': {
            char *end;
            errno = 0;
            a->count = strtol(optarg, &end, 10);
            if (*end || errno || a->count <= 0) {
                return cli_usage("collect", "--count: expected a positive integer, got '%s'",
                                 optarg);
            }
            break;
        }
        case 's':
            if (a->n_sets == MAX_SETS) {
                return cli_usage("collect", "too many --set options");
            }
            a->sets[a->n_sets++] = optarg;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'L':
            return -1;
        case 'h':
            usage_full(stdout);
            return -2;
        case ':':
            return cli_usage("collect", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("collect", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return cli_usage("collect", "unexpected argument '%s'", argv[optind]);
    }
    if (!a->listen && !a->out && !a->nats && !a->count) {
        return cli_usage("collect", "nothing to do: give --listen, --out, --nats or --count");
    }
    return 0;
}

void cli_collect_exec_lean(char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
    if (n <= 0) {
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash || strcmp(slash + 1, "vigil-collect") == 0) {
        return;
    }
    strcpy(slash + 1, "vigil-collect");
    if (access(self, X_OK) == 0) {
        execv(self, argv);
        vigil_debug("collect: exec %s: %s; collecting in process", self, strerror(errno));
    }
}

/* Writes all of b to fd. Returns 0 or -errno. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * --nats: what a bus outage cost. The client reconnects by itself; while it
 * is away the ticks are not published (they would only fill its buffer and
 * then stall the loop) and are counted, logged when the outage starts and
 * ends, and summed at exit. A scrape the server refuses or does not
 * acknowledge (a server back without its stream, one too slow) is counted
 * too, logged at most every 10 s, and makes the loop create the stream
 * again if it is gone.
 */
struct pub_state {
    const struct vigil_bus_stream *st;
    uint64_t dropped;  /* ticks not published, in all */
    uint64_t run;      /* ticks not published since the last one that was */
    uint64_t refused;  /* vigil_bus_failed when last looked at */
    int64_t refused_t; /* when refusals were last logged and the stream checked */
};

static void check_refusals(struct vigil_bus *bus, struct pub_state *ps)
{
    uint64_t f = vigil_bus_failed(bus);
    int64_t now = vigil_clock_mono_ns();
    if (f == ps->refused || (ps->refused_t && now - ps->refused_t < 10000000000LL)) {
        return;
    }
    int why = vigil_bus_last_failure(bus);
    vigil_warn("collect: --nats: %llu scrapes refused or not acknowledged by the server so far "
               "(last: %s)",
               (unsigned long long)f,
               why == -ENOENT ? "no stream captures the subject" : vigil_strerror(why));
    if (why == -ENOENT) { /* a server back without its store: make the stream again */
        struct vigil_diag d;
        vigil_diag_clear(&d);
        int rc = vigil_bus_ensure_stream(bus, ps->st, &d);
        if (rc) {
            vigil_warn("collect: --nats: stream %s: %s", ps->st->name,
                       d.msg[0] ? d.msg : vigil_strerror(rc));
        } else {
            vigil_info("collect: --nats: stream %s is there again", ps->st->name);
        }
    }
    ps->refused = f;
    ps->refused_t = now;
}

/* Publishes this tick's scrape; 0, or -ENOMEM when it could not be rendered. */
static int publish_tick(struct vigil_collect *c, struct vigil_bus *bus, const char *subject,
                        struct vigil_buf *nbuf, struct pub_state *ps)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = -ENOTCONN;
    if (vigil_bus_connected(bus)) {
        /* One message per tick: the whole scrape, timestamped, self-describing. */
        vigil_buf_reset(nbuf);
        if (vigil_collect_render(c, nbuf,
                                 VIGIL_RENDER_TIMESTAMPS | VIGIL_RENDER_NO_HELP | VIGIL_RENDER_FIT)) {
            return -ENOMEM;
        }
        rc = vigil_bus_publish_async(bus, subject, nbuf->p ? nbuf->p : "", nbuf->len, NULL, &d);
        check_refusals(bus, ps);
    } else {
        vigil_diag_set(&d, 0, 0, "not connected to the NATS server");
    }
    if (rc == 0) {
        if (ps->run) {
            vigil_info("collect: --nats: publishing again, after %llu ticks not published",
                       (unsigned long long)ps->run);
        }
        ps->run = 0;
        return 0;
    }
    if (ps->run++ == 0) {
        vigil_warn("collect: --nats: %s; ticks are not published until a publish succeeds",
                   d.msg[0] ? d.msg : vigil_strerror(rc));
    }
    ps->dropped++;
    return 0;
}

int cmd_collect(int argc, char **argv)
{
    struct collect_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc == -1) {
        return list_collectors();
    }
    if (rc == -2) {
        return CLI_OK;
    }
    if (rc) {
        return rc;
    }
    if (a.quiet) {
        vigil_log_set_level(VIGIL_LOG_ERROR);
    }
    char addr[64] = "";
    uint16_t port = 0;
    if (a.listen && vigil_http_parse_listen(a.listen, addr, sizeof addr, &port) != 0) {
        return cli_usage("collect", "--listen: expected ADDR:PORT with an IPv4 address, got '%s'",
                         a.listen);
    }

    /*
     * Block the stop signals before any thread starts, so only the loop's
     * sigtimedwait or signalfd sees them.
     */
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    cli_signals_take(&stopset);
    if (a.listen) {
        /*
         * libmicrohttpd's Date header calls gmtime_r, and glibc re-reads
         * /etc/localtime on every call while TZ is unset (7 syscalls per
         * scrape). Naming the same zone file makes glibc read it once. Set
         * before any thread starts (collectors may start some).
         */
        setenv("TZ", ":/etc/localtime", 0);
        tzset();
    }

    struct vigil_collect *c = NULL;
    struct vigil_http *h = NULL;
    struct metrics_src ms = {0};
    struct vigil_http_route routes[1]; /* borrowed by the server until it stops */
    int have_snap = 0, out_fd = -1, ret = CLI_FAIL;
    struct vigil_buf obuf, nbuf;
    vigil_buf_init(&obuf);
    vigil_buf_init(&nbuf);
    struct vigil_bus *bus = NULL;
    struct pub_state pub = {0};
    struct vigil_bus_stream st = VIGIL_METRICS_STREAM("VIGIL_METRICS");
    struct serve_loop sl = {.sfd = -1, .due = INT64_MAX};
    char subject[256];
    struct vigil_diag d;
    vigil_diag_clear(&d);
    struct vigil_collect_conf conf;
    vigil_collect_conf_default(&conf);
    conf.root = a.root;
    conf.collectors = a.collectors;
    if (a.rescan_ns) {
        conf.rescan_ns = a.rescan_ns;
    }
    conf.retire_ns = a.retire_ns;
    rc = vigil_collect_new(&c, &conf, &d);
    if (rc == VIGIL_ECONFIG) {
        ret = cli_usage("collect", "%s", d.msg);
        goto done;
    }
    if (rc) {
        cli_fail("collect: %s", vigil_strerror(rc));
        goto done;
    }
    for (int i = 0; i < a.n_sets; i++) {
        char key[128];
        const char *eq = strchr(a.sets[i], '=');
        size_t kl = eq ? (size_t)(eq - a.sets[i]) : 0;
        if (!eq || kl == 0 || kl >= sizeof key) {
            ret = cli_usage("collect", "--set: expected collector.option=value, got '%s'",
                            a.sets[i]);
            goto done;
        }
        memcpy(key, a.sets[i], kl);
        key[kl] = '\0';
        rc = vigil_collect_set(c, key, eq + 1, &d);
        if (rc) {
            ret = rc == VIGIL_ECONFIG ? cli_usage("collect", "--set %s: %s", a.sets[i], d.msg)
                                      : cli_fail("collect: %s", vigil_strerror(rc));
            goto done;
        }
    }
    rc = vigil_collect_start(c, &d);
    if (rc) {
        cli_fail("collect: %s", d.msg[0] ? d.msg : vigil_strerror(rc));
        goto done;
    }
    if (a.out) {
        out_fd = strcmp(a.out, "-") == 0
                     ? STDOUT_FILENO
                     : open(a.out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out_fd < 0) {
            cli_fail("collect: %s: %s", a.out, strerror(errno));
            goto done;
        }
    }
    if (a.listen) {
        if (vigil_snapshot_init(&ms.snap)) {
            cli_fail("collect: out of memory");
            goto done;
        }
        have_snap = 1;
        ms.snap.one_thread = 1; /* hc.external below: one blob, not a spare copy of the page */
        ms.c = c;
        routes[0] = (struct vigil_http_route){"/metrics", serve_metrics, &ms};
        struct vigil_http_conf hc;
        vigil_http_conf_default(&hc);
        hc.addr = addr;
        hc.port = port;
        hc.routes = routes;
        hc.n_routes = 1;
        /*
         * Prometheus keeps its scrape connection open for 5 minutes between
         * scrapes (prometheus/common's idle timeout); with the 10 s default an
         * idle connection closed before a 15 s or 1 min scrape, so each scrape
         * paid a new connection. Only answered connections wait that long: one
         * that never completes a request is closed after 10 s idle
         * (timeout_s). The 300 s go only to connections answered while at
         * most 8 are open (half the per-address limit of 16), so clients
         * that complete a request and then idle hold at most 8 slots that
         * long; the others turn over every 10 s.
         */
        hc.keepalive_s = 300;
        hc.external = 1; /* served from the loop below */
        sl.sfd = signalfd(-1, &stopset, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sl.sfd < 0) {
            cli_fail("collect: signalfd: %s", strerror(errno));
            goto done;
        }
        rc = vigil_http_start(&h, &hc, &d);
        if (rc) {
            cli_fail("collect: %s", d.msg);
            goto done;
        }
        sl.h = h;
        sl.due = vigil_clock_mono_ns(); /* a first run for libmicrohttpd's timeouts */
        vigil_info("collect: serving http://%s:%u/metrics", addr, vigil_http_port(h));
        /* Tests and scripts read the bound port from here when they asked for port 0. */
        fprintf(stderr, "vigil: listening on %s:%u\n", addr, vigil_http_port(h));
    }

    if (a.nats) {
        /* One subject per host under a stream on vigil.metrics.> (docs/formats.md). */
        char host[128] = "localhost";
        gethostname(host, sizeof host - 1);
        /*
         * At most 8 scrapes awaiting their ack (0.8 s at 100 ms; 0.7 MB with
         * every field), and no stall: a slow server drops ticks, counted,
         * instead of holding up to 256 copies or the loop.
         */
        pub.st = &st;
        vigil_bus_plaintext_only(); /* collect has no https client; a tls:// url is left alone */
        if ((rc = vigil_bus_connect(&bus, a.nats, "vigil-collect", &d)) != 0 ||
            (rc = vigil_bus_async_window(bus, 8, 1000000, 5000000000LL, &d)) != 0 ||
            (rc = vigil_bus_ensure_stream(bus, &st, &d)) != 0 ||
            (rc = vigil_bus_subject(subject, sizeof subject, "vigil.metrics", host)) != 0) {
            cli_fail("collect: --nats %s: %s", a.nats, d.msg[0] ? d.msg : vigil_strerror(rc));
            goto done;
        }
        vigil_info("collect: publishing to %s on %s", subject, a.nats);
    }

    int64_t start = vigil_clock_mono_ns(), next = start;
    for (long tick = 0;; tick++) {
        const struct vigil_sample_batch *b;
        rc = vigil_collect_tick(c, &b);
        ms.ticks += rc == 0;
        if (rc) {
            cli_fail("collect: tick: %s", vigil_strerror(rc));
            goto done;
        }
        if (out_fd >= 0) {
            vigil_buf_reset(&obuf);
            if (vigil_collect_render(c, &obuf,
                                     VIGIL_RENDER_TIMESTAMPS | VIGIL_RENDER_META_ONCE |
                                         VIGIL_RENDER_FIT)) {
                cli_fail("collect: out of memory rendering --out");
                goto done;
            }
            if ((rc = write_all(out_fd, obuf.p ? obuf.p : "", obuf.len)) != 0) {
                cli_fail("collect: %s: %s", a.out, vigil_strerror(rc));
                goto done;
            }
        }
        if (bus && publish_tick(c, bus, subject, &nbuf, &pub) != 0) {
            cli_fail("collect: out of memory rendering for NATS");
            goto done;
        }
        if (a.count && tick + 1 >= a.count) {
            break;
        }
        if (tick % 100 == 99) {
            /*
             * Every 10 s at 100 ms: a slow NATS server (up to 8 scrapes
             * awaiting their ack, 0.7 MB with every field) or scrapes piling
             * up on a loaded host can leave large blocks freed inside the
             * heap, which glibc keeps resident; above 256 KB free they go
             * back. (No run in docs/perf.md round 7 shows it lowering RSS:
             * the growth measured there is memory in use.)
             */
            vigil_mem_give_back(256u << 10);
        }
        int64_t now = vigil_clock_mono_ns();
        if (a.duration_ns && now - start >= a.duration_ns) {
            break;
        }
        next += a.interval_ns;
        if (next < now) {
            next = now; /* a tick overran: start the next at once, keep no backlog */
        }
        int64_t end = next;
        if (a.duration_ns && start + a.duration_ns < end) {
            end = start + a.duration_ns;
        }
        int sig = wait_serving(&sl, &stopset, end);
        if (sig < 0) {
            cli_fail("collect: waiting for the next tick: %s", vigil_strerror(sig));
            goto done;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            vigil_info("collect: stopping on signal %d", sig);
            break;
        }
        if (a.duration_ns && vigil_clock_mono_ns() - start >= a.duration_ns) {
            break;
        }
    }
    ret = CLI_OK;
    if (bus) {
        /*
         * Losses during the run were logged as they came and are summed here;
         * the exit status says whether the last scrapes reached the server.
         */
        rc = vigil_bus_publish_wait(bus, 5000000000LL, &d);
        uint64_t refused = vigil_bus_failed(bus);
        if (pub.dropped || refused) {
            vigil_warn("collect: --nats: %llu of %llu ticks not stored: %llu not published, "
                       "%llu refused or not acknowledged",
                       (unsigned long long)(pub.dropped + refused), (unsigned long long)ms.ticks,
                       (unsigned long long)pub.dropped, (unsigned long long)refused);
        }
        if (rc && rc != -EIO) { /* -EIO: refusals, counted above */
            ret = cli_fail("collect: --nats: the last scrapes were not confirmed: %s",
                           d.msg[0] ? d.msg : vigil_strerror(rc));
        }
    }
done:
    vigil_bus_close(bus);
    vigil_http_stop(h);
    if (sl.sfd >= 0) {
        close(sl.sfd);
    }
    if (have_snap) {
        vigil_snapshot_fini(&ms.snap);
    }
    if (out_fd >= 0 && out_fd != STDOUT_FILENO) {
        close(out_fd);
    }
    vigil_buf_fini(&obuf);
    vigil_buf_fini(&nbuf);
    vigil_collect_free(c);
    return ret;
}
