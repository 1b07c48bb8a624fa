/*
 * Open vSwitch interface statistics: ovs_interface_{rx,tx}_{packets,bytes,
 * dropped,errors}{interface} and the rest of the Interface table's
 * `statistics` column, with the names of the Prometheus OVS exporter
 * (greenpau/ovs_exporter), one entity per interface ("ovs:<name>").
 *
 * The statistics come from the OVS database through
 *
 *     ovs-vsctl --timeout=N --format=json --data=json --columns=name,statistics list Interface
 *
 * started with posix_spawn and an argv (never a shell), its stdout on a pipe.
 * ovs-vswitchd writes those statistics into the database only every 5 s
 * (other_config:stats-update-interval), so the command runs every `interval`
 * (5 s by default) and every tick emits the last values read. The command
 * runs in the background: a tick starts it, later ticks read its output
 * without blocking, and the tick that sees the end of it parses the JSON, so
 * no tick waits for OVS. A command that outlives `timeout` is killed.
 *
 * init runs the command once and waits for it: when the program is absent
 * (not executable, not on PATH) or fails (no OVS database running), the
 * collector answers VIGIL_ENOTSUP and is skipped. Tests point `command` at a
 * script in tests/data/ovs that prints the JSON ovs-vsctl prints.
 *
 * The JSON is read by a small scanner over (pointer, length) that allocates
 * nothing and never recurses: ovs-vsctl's table object {"headings": [...],
 * "data": [[cell, ...], ...]}, where a name is a JSON string and the
 * statistics a ["map", [[key, integer], ...]] pair list (RFC 7047 notation).
 * An interface missing from a successful read drops out and gives its series
 * back to the set.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/log.h"
#include "vigil/mem.h"

extern char **environ;

#define OVS_NAME_MAX 64 /* longer interface names are skipped (Linux allows 15) */
#define OVS_OUT_MAX (16u << 20)

/* ---- what is exported ---- */

enum { OVS_N = 12 };

static const struct {
    const char *key; /* key in the statistics map (vswitch.xml) */
    const char *name;
    const char *help;
} stats[OVS_N] = {
    {"rx_packets", "ovs_interface_rx_packets", "Packets received by the OVS interface."},
    {"rx_bytes", "ovs_interface_rx_bytes", "Bytes received by the OVS interface."},
    {"rx_dropped", "ovs_interface_rx_dropped", "Input packets dropped by the OVS interface."},
    {"rx_errors", "ovs_interface_rx_errors", "Packets with errors received by the OVS interface."},
    {"rx_frame_err", "ovs_interface_rx_frame_err",
     "Frame alignment errors on packets received by the OVS interface."},
    {"rx_over_err", "ovs_interface_rx_over_err",
     "Packets with RX overrun received by the OVS interface."},
    {"rx_crc_err", "ovs_interface_rx_crc_err",
     "Packets with CRC errors received by the OVS interface."},
    {"collisions", "ovs_interface_collisions", "Collisions seen by the OVS interface."},
    {"tx_packets", "ovs_interface_tx_packets", "Packets transmitted by the OVS interface."},
    {"tx_bytes", "ovs_interface_tx_bytes", "Bytes transmitted by the OVS interface."},
    {"tx_dropped", "ovs_interface_tx_dropped", "Output packets dropped by the OVS interface."},
    {"tx_errors", "ovs_interface_tx_errors", "Transmit errors on the OVS interface."},
};

/* ---- options and state ---- */

struct ovs_params {
    char *command;
    char *db;
    int64_t interval;
    int64_t timeout;
    int max;
};

static const struct vigil_opt ovs_opts[] = {
    {"command", VIGIL_OPT_STR, offsetof(struct ovs_params, command), "ovs-vsctl", 0, 0,
     "ovs-vsctl program: a path, or a name looked up in PATH", NULL},
    {"db", VIGIL_OPT_STR, offsetof(struct ovs_params, db), "", 0, 0,
     "database to read (ovs-vsctl --db), '' for its default socket", NULL},
    {"interval", VIGIL_OPT_DURATION, offsetof(struct ovs_params, interval), "5s", 0, 3600,
     "time between reads (OVS refreshes the statistics every 5 s)", NULL},
    {"timeout", VIGIL_OPT_DURATION, offsetof(struct ovs_params, timeout), "10s", 1, 600,
     "longest a read may take before the command is killed", NULL},
    {"max", VIGIL_OPT_INT, offsetof(struct ovs_params, max), "1024", 1, 100000,
     "most interfaces followed", NULL},
    {0},
};

struct iface {
    char name[OVS_NAME_MAX];
    uint32_t ids[OVS_N];
    double v[OVS_N];
    unsigned have; /* bit per statistic in the last read */
    uint64_t gen;
};

struct ovs {
    char *path;   /* resolved program; owned */
    char *db_arg; /* "--db=..." or NULL; owned */
    char timeout_arg[32];
    int64_t interval, timeout;
    struct iface *ifs; /* (max) */
    size_t n, max;
    uint64_t gen;
    /* The read in flight: pid > 0 while the child runs or is not yet reaped. */
    pid_t pid;
    int fd; /* read end of its stdout, -1 after EOF */
    int64_t started;
    int64_t last; /* start of the last read; INT64_MIN before the first */
    char *out;    /* its output; owned, grows to the largest output seen */
    size_t len, cap;
};

/* ---- the command ---- */

/* Resolves prog (a path, or a name on PATH) to an executable; NULL when absent or OOM. */
static char *find_program(const char *prog)
{
    if (strchr(prog, '/')) {
        return access(prog, X_OK) == 0 ? vigil_strdup(prog) : NULL;
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin"; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char full[4096];
        if (l > 0 && snprintf(full, sizeof full, "%.*s/%s", (int)l, p, prog) < (int)sizeof full &&
            access(full, X_OK) == 0) {
            return vigil_strdup(full);
        }
        p += l + (e ? 1 : 0);
    }
    return NULL;
}

/* Starts the command with its stdout on a non-blocking pipe. Returns 0 or -errno. */
static int start_read(struct ovs *x, int64_t now)
{
    char *argv[10];
    size_t a = 0;
    argv[a++] = x->path;
    argv[a++] = x->timeout_arg;
    if (x->db_arg) {
        argv[a++] = x->db_arg;
    }
    argv[a++] = (char *)"--format=json";
    argv[a++] = (char *)"--data=json";
    argv[a++] = (char *)"--columns=name,statistics";
    argv[a++] = (char *)"list";
    argv[a++] = (char *)"Interface";
    argv[a] = NULL;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        return -errno;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) {
        close(pfd[0]);
        close(pfd[1]);
        return -rc;
    }
    rc = posix_spawnattr_init(&at);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    rc = rc ? rc : posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    /* vigil collect blocks SIGINT and SIGTERM in every thread; the child starts clean. */
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGPIPE);
    rc = rc ? rc : posix_spawnattr_setsigmask(&at, &none);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&at, &dfl);
    rc = rc ? rc : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    rc = rc ? rc : posix_spawn(&pid, x->path, &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc) {
        close(pfd[0]);
        return -rc;
    }
    fcntl(pfd[0], F_SETFL, fcntl(pfd[0], F_GETFL) | O_NONBLOCK);
    x->pid = pid;
    x->fd = pfd[0];
    x->len = 0;
    x->started = now;
    x->last = now;
    return 0;
}

/* Reads what the pipe has. Returns 1 at EOF, 0 when more may come, or -errno. */
static int drain(struct ovs *x)
{
    for (;;) {
        if (x->len == x->cap) {
            size_t cap = x->cap ? x->cap * 2 : 16384;
            if (cap > OVS_OUT_MAX) {
                return -EFBIG;
            }
            char *b = vigil_realloc(x->out, cap);
            if (!b) {
                return -ENOMEM;
            }
            x->out = b;
            x->cap = cap;
        }
        ssize_t r = read(x->fd, x->out + x->len, x->cap - x->len);
        if (r > 0) {
            x->len += (size_t)r;
            continue;
        }
        if (r == 0) {
            return 1;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EAGAIN ? 0 : -errno;
    }
}

/* Kills and reaps the child, closes the pipe. */
static void abort_read(struct ovs *x)
{
    if (x->fd >= 0) {
        close(x->fd);
        x->fd = -1;
    }
    if (x->pid > 0) {
        kill(x->pid, SIGKILL);
        while (waitpid(x->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        x->pid = 0;
    }
}

/*
 * Reaps the child without blocking. Returns 1 with *ok set (exit status 0)
 * when it ended, 0 while it runs.
 */
static int reap(struct ovs *x, int *ok)
{
    int st;
    pid_t r = waitpid(x->pid, &st, WNOHANG);
    if (r == 0) {
        return 0;
    }
    /* ECHILD: someone else reaped it (SIGCHLD ignored); judge by the output. */
    *ok = r < 0 ? 1 : WIFEXITED(st) && WEXITSTATUS(st) == 0;
    x->pid = 0;
    return 1;
}

/* ---- the JSON scanner ---- */

enum jt {
    JT_ERR,
    JT_END,
    JT_LBRACK,
    JT_RBRACK,
    JT_LBRACE,
    JT_RBRACE,
    JT_COMMA,
    JT_COLON,
    JT_STR,
    JT_NUM,
    JT_LIT
};

struct jscan {
    const char *p, *end;
    const char *s; /* the token: a string without its quotes (escapes kept), a number, a literal */
    size_t n;
};

static enum jt jnext(struct jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) {
        j->p++;
    }
    if (j->p >= j->end) {
        return JT_END;
    }
    char c = *j->p;
    static const char punct[] = "[]{},:";
    const char *k = memchr(punct, c, 6);
    if (k) {
        j->p++;
        return (enum jt)(JT_LBRACK + (k - punct));
    }
    if (c == '"') {
        const char *q = ++j->p;
        while (q < j->end && *q != '"') {
            q += *q == '\\' ? 2 : 1;
        }
        if (q >= j->end) {
            return JT_ERR;
        }
        j->s = j->p;
        j->n = (size_t)(q - j->p);
        j->p = q + 1;
        return JT_STR;
    }
    const char *q = j->p;
    while (q < j->end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' ||
                          (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))) {
        q++;
    }
    if (q == j->p) {
        return JT_ERR;
    }
    j->s = j->p;
    j->n = (size_t)(q - j->p);
    j->p = q;
    return (c == '-' || (c >= '0' && c <= '9')) ? JT_NUM : JT_LIT;
}

static int jis(const struct jscan *j, const char *lit)
{
    size_t l = strlen(lit);
    return j->n == l && memcmp(j->s, lit, l) == 0;
}

/* Skips the rest of a value whose first token was t (nesting counted, no recursion). */
static int jskip(struct jscan *j, enum jt t)
{
    int depth = 0;
    for (;;) {
        if (t == JT_LBRACK || t == JT_LBRACE) {
            depth++;
        } else if (t == JT_RBRACK || t == JT_RBRACE) {
            depth--;
        } else if (t == JT_ERR || t == JT_END) {
            return VIGIL_EPARSE;
        }
        if (depth <= 0) {
            return depth == 0 ? 0 : VIGIL_EPARSE;
        }
        t = jnext(j);
    }
}

/* Decodes a JSON string token into out (cap bytes with the NUL). Returns its length or -1. */
static int jstring(const struct jscan *j, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < j->n; i++) {
        char c = j->s[i];
        if (c == '\\' && i + 1 < j->n) {
            char e = j->s[++i];
            c = e == 'n'   ? '\n'
                : e == 't' ? '\t'
                : e == 'r' ? '\r'
                : e == 'b' ? '\b'
                : e == 'f' ? '\f'
                           : e;
            if (e == 'u') {
                c = '?'; /* non-ASCII in an interface name: kept as '?' */
                i += i + 4 < j->n ? 4 : j->n - i - 1;
            }
        }
        if ((unsigned char)c < 0x20 || o + 1 >= cap) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

/* ---- rows to interfaces ---- */

static struct iface *iface_get(struct ovs *x, struct vigil_collect *set, const char *name,
                               size_t hint, int *rc)
{
    *rc = 0;
    if (hint < x->n && strcmp(x->ifs[hint].name, name) == 0) {
        return &x->ifs[hint]; /* rows usually come in the same order every read */
    }
    for (size_t i = 0; i < x->n; i++) {
        if (strcmp(x->ifs[i].name, name) == 0) {
            return &x->ifs[i];
        }
    }
    if (x->n >= x->max) {
        *rc = -E2BIG;
        return NULL;
    }
    (void)set;
    struct iface *f = &x->ifs[x->n++];
    memset(f, 0, sizeof *f);
    strcpy(f->name, name); /* fits: jstring bounded it by OVS_NAME_MAX */
    for (int k = 0; k < OVS_N; k++) {
        f->ids[k] = VIGIL__NO_ID; /* interned when the statistic first shows up */
    }
    return f;
}

/* Interns the series of the statistics f has and had no series for. */
static int iface_intern(struct iface *f, struct vigil_collect *set)
{
    char entity[OVS_NAME_MAX + 8];
    snprintf(entity, sizeof entity, "ovs:%s", f->name);
    struct vigil_label_ref l = VIGIL__LBL("interface", f->name, strlen(f->name));
    for (int k = 0; k < OVS_N; k++) {
        if (((f->have >> k) & 1) && f->ids[k] == VIGIL__NO_ID) {
            int rc = vigil__intern(set, stats[k].name, &l, 1, VIGIL_KIND_COUNTER,
                                   VIGIL_GROUP_NETWORK, entity, stats[k].help, &f->ids[k]);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

/* One ["map", [[key, value], ...]] after its "map" string: fills v and *have. */
static int parse_map(struct jscan *j, double *v, unsigned *have)
{
    if (jnext(j) != JT_COMMA || jnext(j) != JT_LBRACK) {
        return VIGIL_EPARSE;
    }
    enum jt t = jnext(j);
    while (t != JT_RBRACK) {
        if (t != JT_LBRACK || jnext(j) != JT_STR) {
            return VIGIL_EPARSE;
        }
        int k = -1;
        for (int i = 0; i < OVS_N; i++) {
            if (jis(j, stats[i].key)) {
                k = i;
            }
        }
        if (jnext(j) != JT_COMMA) {
            return VIGIL_EPARSE;
        }
        t = jnext(j);
        uint64_t u;
        if (t == JT_NUM && k >= 0) {
            if (vigil__pf_u64(j->s, j->s + j->n, &u) != j->s + j->n) {
                return VIGIL_EPARSE; /* statistics are non-negative integers */
            }
            v[k] = (double)u;
            *have |= 1u << k;
        } else if (jskip(j, t)) {
            return VIGIL_EPARSE;
        }
        if (jnext(j) != JT_RBRACK) {
            return VIGIL_EPARSE;
        }
        t = jnext(j);
        if (t == JT_COMMA) {
            t = jnext(j);
        } else if (t != JT_RBRACK) {
            return VIGIL_EPARSE;
        }
    }
    return jnext(j) == JT_RBRACK ? 0 : VIGIL_EPARSE; /* closes ["map", ...] */
}

/* One row: [cell, ...] after its '['. A string cell is the name, a map the statistics. */
static int parse_row(struct ovs *x, struct vigil_collect *set, struct jscan *j, size_t row,
                     int *full)
{
    char name[OVS_NAME_MAX];
    int have_name = 0;
    double v[OVS_N];
    unsigned have = 0;
    enum jt t = jnext(j);
    while (t != JT_RBRACK) {
        if (t == JT_STR) {
            have_name = jstring(j, name, sizeof name) > 0;
        } else if (t == JT_LBRACK) {
            t = jnext(j);
            if (t == JT_STR && jis(j, "map")) {
                if (parse_map(j, v, &have)) {
                    return VIGIL_EPARSE;
                }
            } else {
                /* Another ["set", ...] or ["uuid", ...] cell: skip the rest of it. */
                int depth = 1;
                while (depth > 0) {
                    if (t == JT_LBRACK || t == JT_LBRACE) {
                        depth++;
                    } else if (t == JT_RBRACK || t == JT_RBRACE) {
                        depth--;
                    } else if (t == JT_ERR || t == JT_END) {
                        return VIGIL_EPARSE;
                    }
                    if (depth > 0) {
                        t = jnext(j);
                    }
                }
            }
        } else if (jskip(j, t)) {
            return VIGIL_EPARSE;
        }
        t = jnext(j);
        if (t == JT_COMMA) {
            t = jnext(j);
            if (t == JT_RBRACK) {
                return VIGIL_EPARSE;
            }
        } else if (t != JT_RBRACK) {
            return VIGIL_EPARSE;
        }
    }
    if (!have_name) {
        return 0; /* a row without a usable name is left out */
    }
    int rc;
    struct iface *f = iface_get(x, set, name, row, &rc);
    if (!f) {
        if (rc == -E2BIG) {
            *full = 1;
            return 0;
        }
        return rc;
    }
    f->gen = x->gen;
    f->have = have;
    for (int k = 0; k < OVS_N; k++) {
        if ((have >> k) & 1) {
            f->v[k] = v[k];
        }
    }
    return iface_intern(f, set);
}

/*
 * Parses ovs-vsctl's JSON table in x->out. Returns 0, VIGIL_EPARSE, -ENOMEM,
 * or -E2BIG when more interfaces than `max` were left out.
 */
static int parse_table(struct ovs *x, struct vigil_collect *set)
{
    struct jscan j = {x->out, x->out + x->len, NULL, 0};
    int full = 0;
    x->gen++;
    if (jnext(&j) != JT_LBRACE) {
        return VIGIL_EPARSE;
    }
    enum jt t = jnext(&j);
    int seen_data = 0;
    while (t != JT_RBRACE) {
        if (t != JT_STR) {
            return VIGIL_EPARSE;
        }
        int data = jis(&j, "data");
        if (jnext(&j) != JT_COLON) {
            return VIGIL_EPARSE;
        }
        t = jnext(&j);
        if (!data) {
            if (jskip(&j, t)) {
                return VIGIL_EPARSE;
            }
        } else {
            if (t != JT_LBRACK) {
                return VIGIL_EPARSE;
            }
            seen_data = 1;
            size_t row = 0;
            t = jnext(&j);
            while (t != JT_RBRACK) {
                int rc = t == JT_LBRACK ? parse_row(x, set, &j, row++, &full) : VIGIL_EPARSE;
                if (rc) {
                    return rc;
                }
                t = jnext(&j);
                if (t == JT_COMMA) {
                    t = jnext(&j);
                } else if (t != JT_RBRACK) {
                    return VIGIL_EPARSE;
                }
            }
        }
        t = jnext(&j);
        if (t == JT_COMMA) {
            t = jnext(&j);
        } else if (t != JT_RBRACE) {
            return VIGIL_EPARSE;
        }
    }
    if (!seen_data || jnext(&j) != JT_END) {
        return VIGIL_EPARSE;
    }
    /* A complete read: interfaces it did not list are gone. */
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (x->ifs[i].gen == x->gen) {
            x->ifs[k++] = x->ifs[i];
        } else {
            vigil__release_ids(set, x->ifs[i].ids, OVS_N);
        }
    }
    x->n = k;
    return full ? -E2BIG : 0;
}

/* ---- the collector ---- */

static void ovs_fini(struct vigil_collector *c)
{
    struct ovs *x = c->ctx;
    if (x) {
        abort_read(x);
        vigil_free(x->path);
        vigil_free(x->db_arg);
        vigil_free(x->ifs);
        vigil_free(x->out);
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int ovs_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                    const void *params)
{
    (void)root; /* the database is reached through the command, not a file under root */
    const struct ovs_params *pp = params;
    struct ovs *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    x->fd = -1;
    x->last = INT64_MIN;
    x->interval = pp->interval;
    x->timeout = pp->timeout;
    x->max = (size_t)pp->max;
    x->ifs = vigil_calloc(x->max, sizeof *x->ifs);
    if (!x->ifs) {
        return -ENOMEM;
    }
    snprintf(x->timeout_arg, sizeof x->timeout_arg, "--timeout=%lld",
             (long long)((x->timeout + 999999999) / 1000000000));
    if (pp->db && *pp->db) {
        size_t l = strlen(pp->db);
        if (!(x->db_arg = vigil_malloc(l + 6))) {
            return -ENOMEM;
        }
        memcpy(x->db_arg, "--db=", 5);
        memcpy(x->db_arg + 5, pp->db, l + 1);
    }
    const char *prog = pp->command && *pp->command ? pp->command : "ovs-vsctl";
    x->path = find_program(prog);
    if (!x->path) {
        vigil_info("ovs: %s not found or not executable", prog);
        return VIGIL_ENOTSUP;
    }
    /* One read now, waited for: it tells whether OVS answers here at all. */
    int64_t t0 = vigil_clock_mono_ns();
    int rc = start_read(x, INT64_MIN);
    int eof = 0, ok = 0, ended = 0;
    while (!rc && !ended) {
        int64_t left = x->timeout - (vigil_clock_mono_ns() - t0);
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (!eof) {
            struct pollfd p = {x->fd, POLLIN, 0};
            poll(&p, 1, (int)(left / 1000000 + 1));
            rc = drain(x);
            eof = rc == 1;
            rc = rc == 1 ? 0 : rc;
        } else {
            ended = reap(x, &ok);
            if (!ended) {
                struct timespec ts = {0, 2000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    if (rc == -ENOMEM) {
        abort_read(x);
        return rc;
    }
    if (rc || !ok) {
        vigil_info("ovs: %s gave no Interface table (%s): is Open vSwitch running?", x->path,
                   rc ? vigil_strerror(rc) : "it failed");
        abort_read(x);
        return VIGIL_ENOTSUP;
    }
    close(x->fd);
    x->fd = -1;
    rc = parse_table(x, set);
    if (rc == VIGIL_EPARSE) {
        vigil_info("ovs: %s printed no JSON table ovs-vsctl would print", x->path);
        return VIGIL_ENOTSUP;
    }
    x->last = INT64_MIN; /* the first tick starts the next read (the set's clock may differ) */
    return rc == -E2BIG ? 0 : rc;
}

static int ovs_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct ovs *x = c->ctx;
    if (x->pid > 0 && x->fd >= 0) {
        int rc = drain(x);
        if (rc < 0) {
            abort_read(x);
            vigil_collect_fail(cx, "ovs-vsctl output", rc);
            if (rc == -ENOMEM) {
                return rc;
            }
        } else if (rc == 1) {
            close(x->fd);
            x->fd = -1;
        }
    }
    if (x->pid > 0 && x->fd < 0) {
        int ok;
        if (reap(x, &ok)) {
            int rc = ok ? parse_table(x, cx->set) : -EIO;
            if (rc == -ENOMEM) {
                return rc;
            }
            if (rc) {
                vigil_collect_fail(cx, rc == -E2BIG ? "more interfaces than ovs.max" : x->path, rc);
            }
        }
    }
    if (x->pid > 0 && cx->now - x->started > x->timeout) {
        abort_read(x);
        vigil_collect_fail(cx, x->path, -ETIMEDOUT);
    }
    if (x->pid == 0 && (x->last == INT64_MIN || cx->now - x->last >= x->interval)) {
        int rc = start_read(x, cx->now);
        if (rc) {
            x->last = cx->now; /* try again after the interval */
            vigil_collect_fail(cx, x->path, rc);
        }
    }
    for (size_t i = 0; i < x->n; i++) {
        const struct iface *f = &x->ifs[i];
        for (int k = 0; k < OVS_N; k++) {
            if ((f->have >> k) & 1) {
                vigil__emit(cx, f->ids[k], f->v[k]);
            }
        }
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_ovs = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "ovs",
    .summary = "Open vSwitch: ovs_interface_*{interface} from ovs-vsctl (skipped without OVS)",
    .opts = ovs_opts,
    .params_size = sizeof(struct ovs_params),
    .default_on = 1,
    .init = ovs_init,
    .collect = ovs_collect,
    .fini = ovs_fini,
};
