/*
 * The kernel's socket and packet-path counters, with node-exporter's names
 * (its sockstat, softnet and conntrack collectors, on by default there):
 *
 * - sockstat: /proc/net/sockstat and sockstat6, "TCP: inuse 1 orphan 0 tw 2
 *   alloc 1 mem 56" -> node_sockstat_TCP_inuse..., and for "mem" (pages)
 *   node_sockstat_TCP_mem_bytes as well. Sockets piling up in TIME_WAIT or
 *   orphaned, and the protocol's memory, are how a flood or a leak shows.
 * - softnet: /proc/net/softnet_stat, one hexadecimal row per online CPU:
 *   packets processed, dropped because the backlog was full, and the
 *   times NAPI ran out of budget, node_softnet_*{cpu}. Drops there are
 *   packet loss inside the host that no interface counter shows.
 * - conntrack: netfilter's connection table, its size and limit
 *   (node_nf_conntrack_entries, _entries_limit) and its per-CPU statistics
 *   summed (node_nf_conntrack_stat_*). A full table drops new connections.
 *   Absent, and skipped, when nf_conntrack is not loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/mem.h"

/* ---- /proc/net/sockstat, sockstat6 ---- */

/* Pairs of a row kept: its ids go by two, {field, field's _bytes or NO_ID}. */
#define SOCK_PAIRS (VIGIL__ROW_IDS / 2)

#define SOCK_KEY 256 /* longest row key: "TCP:inuse orphan tw alloc mem" is 29 */

struct sockstat {
    struct vigil__pfile f[2];
    struct vigil__rowmap rows[2];
    double page;        /* "mem" counts pages */
    char key[SOCK_KEY]; /* the current row's key, made by sockstat_split */
};

static const char *const sockstat_files[2] = {"proc/net/sockstat", "proc/net/sockstat6"};

static void sockstat_fini(struct vigil_collector *c)
{
    struct sockstat *x = c->ctx;
    if (x) {
        for (int i = 0; i < 2; i++) {
            vigil__pfile_close(&x->f[i]);
            vigil__rowmap_fini(&x->rows[i]);
        }
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int sockstat_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                         const void *params)
{
    (void)params;
    struct sockstat *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    long page = sysconf(_SC_PAGESIZE);
    x->page = page > 0 ? (double)page : 4096.0;
    int found = 0;
    for (int i = 0; i < 2; i++) {
        vigil__pfile_init(&x->f[i]);
        vigil__rowmap_init(&x->rows[i]);
        vigil__rowmap_own(&x->rows[i], set, 1); /* a field that goes gives its series back */
        int rc = vigil__pfile_open_opt(&x->f[i], root, sockstat_files[i]); /* 6: IPv6 */
        if (rc < 0) {
            return rc;
        }
        x->f[i].whole = 1; /* single_open files */
        found += rc;
    }
    return found ? 0 : VIGIL_ENOTSUP;
}

/*
 * "TCP: inuse 1 orphan 0 ...": the key is the protocol and its field names
 * ("TCP:inuse orphan"), so a row whose fields change is learnt again rather
 * than its values given to the names learnt at its position.
 */
static const char *sockstat_split(void *u, const char *p, const char *le, const char **key,
                                  size_t *kl, int *bad)
{
    struct sockstat *x = u;
    const char *colon = memchr(p, ':', (size_t)(le - p));
    if (!colon || colon == p || *le != '\n') { /* no protocol, or a row cut at the file's end */
        *bad |= le > p;
        return NULL;
    }
    size_t n = (size_t)(colon - p) + 1;
    if (n >= SOCK_KEY) {
        *bad = 1;
        return NULL;
    }
    memcpy(x->key, p, n);
    const char *q = colon + 1, *name, *val;
    size_t nl, vl;
    int first = 1;
    for (; (q = vigil__token(q, le, &name, &nl)); first = 0) {
        if (n + nl + 1 >= SOCK_KEY) {
            *bad = 1;
            return NULL;
        }
        if (!first) {
            x->key[n++] = ' ';
        }
        memcpy(x->key + n, name, nl);
        n += nl;
        if (!(q = vigil__token(q, le, &val, &vl))) {
            *bad = 1; /* a name without its value: the pairs before it still count */
            break;
        }
    }
    *bad |= first; /* "TCP:" and nothing after */
    *key = x->key;
    *kl = n;
    return colon + 1;
}

static int sockstat_learn(void *u, struct vigil_collect *set, const char *key, size_t kl,
                          const char *q, const char *le, uint32_t *ids, size_t *n)
{
    (void)u;
    const char *name, *val;
    size_t nl, vl;
    kl = (size_t)((const char *)memchr(key, ':', kl) - key); /* the protocol */
    *n = 0;
    while (*n < 2 * SOCK_PAIRS && (q = vigil__token(q, le, &name, &nl)) &&
           (q = vigil__token(q, le, &val, &vl))) {
        char full[SOCK_KEY + 32], help[SOCK_KEY + 64];
        uint32_t *id = &ids[(*n)++], *bytes = &ids[(*n)++];
        *id = *bytes = VIGIL__NO_ID;
        /* node-exporter: "sockets: used" is the one field named after its row alone. */
        snprintf(full, sizeof full, "node_sockstat_%.*s_%.*s", (int)kl, key, (int)nl, name);
        if (kl == 7 && memcmp(key, "sockets", 7) == 0) {
            snprintf(help, sizeof help, "Number of IPv4 sockets in use.");
        } else {
            snprintf(help, sizeof help, "Number of %.*s sockets in state %.*s.", (int)kl, key,
                     (int)nl, name);
        }
        if (vigil__intern(set, full, NULL, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_NETWORK, NULL, help,
                          id)) {
            return -ENOMEM;
        }
        if (nl == 3 && memcmp(name, "mem", 3) == 0) {
            snprintf(full, sizeof full, "node_sockstat_%.*s_mem_bytes", (int)kl, key);
            snprintf(help, sizeof help, "Number of %.*s sockets in state mem_bytes.", (int)kl, key);
            if (vigil__intern(set, full, NULL, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_NETWORK, NULL, help,
                              bytes)) {
                return -ENOMEM;
            }
        }
    }
    return 0;
}

static int sockstat_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                         const char *q, const char *le)
{
    const struct sockstat *x = u;
    for (size_t j = 0; j < n; j += 2) {
        const char *name, *val;
        size_t nl, vl;
        uint64_t v;
        if (!(q = vigil__token(q, le, &name, &nl)) || !(q = vigil__token(q, le, &val, &vl)) ||
            vigil__pf_u64(val, val + vl, &v) != val + vl) {
            return 1; /* cut or not a number: the pairs before it are emitted */
        }
        vigil__emit(cx, ids[j], (double)v);
        vigil__emit(cx, ids[j + 1], (double)v * x->page);
    }
    /* Past the pairs learnt (at most SOCK_PAIRS): a row longer than any kernel's. */
    return vigil__skip_blanks(q, le) < le;
}

static int sockstat_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct sockstat *x = c->ctx;
    for (int i = 0; i < 2; i++) {
        if (!x->f[i].path) {
            continue;
        }
        if (vigil__pfile_tick(&x->f[i], cx)) {
            continue;
        }
        int rc = vigil__rows_parse(&x->rows[i], x->f[i].buf, x->f[i].buf + x->f[i].len,
                                   sockstat_split, sockstat_learn, sockstat_emit, x, cx);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc) {
            vigil_collect_fail(cx, x->f[i].path, rc);
        }
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_sockstat = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "sockstat",
    .summary = "/proc/net/sockstat{,6}: node_sockstat_<PROTO>_<field>",
    .default_on = 1,
    .init = sockstat_init,
    .collect = sockstat_collect,
    .fini = sockstat_fini,
};

/* ---- /proc/net/softnet_stat ---- */

/*
 * Columns (1-based) of a row, as the kernel prints them (net/core/net-procfs.c):
 * 1 processed, 2 dropped, 3 time_squeeze, 4-8 zero, 9 cpu_collision (zero
 * since 4.x), 10 received_rps, 11 flow_limit_count, 12 backlog length, 13
 * the CPU's number (5.10 on), then the two queue lengths. Older kernels
 * print fewer columns; a series is learnt only when its column is there.
 */
static const struct {
    int col;
    const char *name;
    enum vigil_kind kind;
    const char *help; /* node-exporter's */
} softnet_fields[7] = {
    {1, "node_softnet_processed_total", VIGIL_KIND_COUNTER, "Number of processed packets"},
    {2, "node_softnet_dropped_total", VIGIL_KIND_COUNTER, "Number of dropped packets"},
    {3, "node_softnet_times_squeezed_total", VIGIL_KIND_COUNTER,
     "Number of times processing packets ran out of quota"},
    {9, "node_softnet_cpu_collision_total", VIGIL_KIND_COUNTER,
     "Number of collision occur while obtaining device lock while transmitting"},
    {10, "node_softnet_received_rps_total", VIGIL_KIND_COUNTER,
     "Number of times cpu woken up received_rps"},
    {11, "node_softnet_flow_limit_count_total", VIGIL_KIND_COUNTER,
     "Number of times flow limit has been reached"},
    {12, "node_softnet_backlog_len", VIGIL_KIND_GAUGE, "Softnet backlog status"},
};

#define SOFTNET_COLS 12 /* the last column a series reads */

struct softnet {
    struct vigil__pfile f;
    struct vigil__rowmap rows; /* owned: a CPU taken offline gives its ids back */
    size_t line;               /* rows seen this pass: the CPU of a row without column 13 */
    char cpu[24];              /* the key of the current row, decimal */
    size_t ncols;              /* columns of the current row, up to 13 */
    size_t width;              /* columns of the pass's first row: every row has as many */
};

static void softnet_fini(struct vigil_collector *c)
{
    struct softnet *x = c->ctx;
    if (x) {
        vigil__pfile_close(&x->f);
        vigil__rowmap_fini(&x->rows);
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int softnet_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)params;
    struct softnet *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    vigil__pfile_init(&x->f);
    vigil__rowmap_init(&x->rows);
    vigil__rowmap_own(&x->rows, set, 1);
    return vigil__pfile_open_src(&x->f, root, "proc/net/softnet_stat");
}

/*
 * The key of a row is its CPU in decimal: column 13 when the kernel prints
 * it (offline CPUs have no row, so the row's position is not the CPU), else
 * the row's position, as node-exporter does. One seq_printf prints every
 * row, so a row narrower than the first, or one the file's end cuts, is
 * malformed rather than an older kernel's.
 */
static const char *softnet_split(void *u, const char *p, const char *le, const char **key,
                                 size_t *kl, int *bad)
{
    struct softnet *x = u;
    const char *q = p, *tok;
    size_t tl;
    uint64_t cpu = x->line++;
    x->ncols = 0;
    while (x->ncols < 13 && (q = vigil__token(q, le, &tok, &tl))) {
        x->ncols++;
    }
    if (x->line == 1) {
        x->width = x->ncols;
    }
    if (x->ncols < 3 || x->ncols != x->width || *le != '\n') {
        *bad |= le > p;
        return NULL;
    }
    if (x->ncols == 13 && (!vigil__pf_hex(tok, tok + tl, &cpu) || cpu > 1u << 20)) {
        *bad = 1;
        return NULL;
    }
    /* Decimal by hand: snprintf's code, cold after each sleep, cost more than the row. */
    char *e = x->cpu + sizeof x->cpu, *d = e;
    do {
        *--d = (char)('0' + cpu % 10);
        cpu /= 10;
    } while (cpu);
    *key = d;
    *kl = (size_t)(e - d);
    return p;
}

static int softnet_learn(void *u, struct vigil_collect *set, const char *key, size_t kl,
                         const char *q, const char *le, uint32_t *ids, size_t *n)
{
    const struct softnet *x = u;
    (void)q;
    (void)le;
    struct vigil_label_ref l = VIGIL__LBL("cpu", key, kl);
    for (int j = 0; j < 7; j++) {
        ids[j] = VIGIL__NO_ID;
        if ((size_t)softnet_fields[j].col <= x->ncols &&
            vigil__intern(set, softnet_fields[j].name, &l, 1, softnet_fields[j].kind,
                          VIGIL_GROUP_NETWORK, NULL, softnet_fields[j].help, &ids[j])) {
            return -ENOMEM;
        }
    }
    *n = 7;
    return 0;
}

static int softnet_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                        const char *q, const char *le)
{
    const struct softnet *x = u; /* x->ncols: this row's, counted by softnet_split */
    (void)n;
    size_t want = x->ncols < SOFTNET_COLS ? x->ncols : SOFTNET_COLS, cols = 0;
    uint64_t v[SOFTNET_COLS];
    while (cols < want && (q = vigil__pf_hex(q, le, &v[cols]))) {
        cols++;
    }
    for (int j = 0; j < 7; j++) {
        if ((size_t)softnet_fields[j].col <= cols) {
            vigil__emit(cx, ids[j], (double)v[softnet_fields[j].col - 1]);
        }
    }
    return cols < want; /* a column that is not hexadecimal: those before it are emitted */
}

static int softnet_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct softnet *x = c->ctx;
    if (vigil__pfile_tick(&x->f, cx)) {
        return 0;
    }
    x->line = 0;
    int rc = vigil__rows_parse(&x->rows, x->f.buf, x->f.buf + x->f.len, softnet_split,
                               softnet_learn, softnet_emit, x, cx);
    if (rc == VIGIL_EPARSE || (!rc && x->line == 0)) {
        vigil_collect_fail(cx, x->f.path, VIGIL_EPARSE); /* malformed rows, or none at all */
    }
    return rc == -ENOMEM ? rc : 0;
}

const struct vigil_collector_ops vigil__collector_softnet = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "softnet",
    .summary = "/proc/net/softnet_stat: node_softnet_*{cpu}",
    .default_on = 1,
    .init = softnet_init,
    .collect = softnet_collect,
    .fini = softnet_fini,
};

/* ---- netfilter's connection table ---- */

/* node-exporter's statistics, by their column names in /proc/net/stat/nf_conntrack. */
static const struct {
    const char *col;
    const char *name;
    const char *help; /* node-exporter's */
} ct_stats[8] = {
    {"found", "node_nf_conntrack_stat_found", "Number of searched entries which were successful."},
    {"invalid", "node_nf_conntrack_stat_invalid",
     "Number of packets seen which can not be tracked."},
    {"ignore", "node_nf_conntrack_stat_ignore",
     "Number of packets seen which are already connected to a conntrack entry."},
    {"insert", "node_nf_conntrack_stat_insert", "Number of entries inserted into the list."},
    {"insert_failed", "node_nf_conntrack_stat_insert_failed",
     "Number of entries for which list insertion was attempted but failed."},
    {"drop", "node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."},
    {"early_drop", "node_nf_conntrack_stat_early_drop",
     "Number of dropped conntrack entries to make room for new ones, if maximum table size was "
     "reached."},
    {"search_restart", "node_nf_conntrack_stat_search_restart",
     "Number of conntrack table lookups which had to be restarted due to hashtable resizes."},
};

#define CT_COLS 32 /* columns of the statistics file read; the kernel prints 17 */

enum { CT_COUNT, CT_MAX, CT_STAT };

/*
 * The kernel keeps each statistic per CPU as an unsigned int and prints it
 * with %08x, so each CPU's count wraps at 2^32 on its own, and a plain sum
 * would go down when one does (a reset to rate() and `vigil prep`, then a
 * jump of the whole sum). The collector keeps each CPU's last values and
 * adds their increase modulo 2^32 to 64-bit totals.
 */
struct conntrack {
    struct vigil__pfile f[3]; /* nf_conntrack_count, nf_conntrack_max, stat/nf_conntrack */
    uint32_t entries, limit;  /* series ids */
    uint32_t stat_ids[8];
    int8_t col_of[CT_COLS]; /* column -> index in ct_stats, or -1 */
    int ncols;              /* columns of the learnt header; 0 = none learnt */
    unsigned present;       /* bit i: ct_stats[i] is a column of the header */
    char *header;           /* the learnt header line; owned; NULL until learnt whole */
    size_t header_len;
    uint32_t *last, *cur;  /* [row * 8 + stat]: the last tick's values and this one's; owned */
    size_t rows, cap_rows; /* rows in last (0: no tick yet since the header was learnt) */
    uint64_t total[8];     /* the statistics, unwrapped */
    uint64_t max;          /* nf_conntrack_max, read at discoveries only */
    int have_max;
};

static void conntrack_fini(struct vigil_collector *c)
{
    struct conntrack *x = c->ctx;
    if (x) {
        for (int i = 0; i < 3; i++) {
            vigil__pfile_close(&x->f[i]);
        }
        vigil_free(x->header);
        vigil_free(x->last);
        vigil_free(x->cur);
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int conntrack_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                          const void *params)
{
    (void)params;
    static const char *const files[3] = {"proc/sys/net/netfilter/nf_conntrack_count",
                                         "proc/sys/net/netfilter/nf_conntrack_max",
                                         "proc/net/stat/nf_conntrack"};
    struct conntrack *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    x->entries = x->limit = VIGIL__NO_ID;
    for (int i = 0; i < 8; i++) {
        x->stat_ids[i] = VIGIL__NO_ID;
    }
    for (int i = 0; i < 3; i++) {
        vigil__pfile_init(&x->f[i]);
        int rc = vigil__pfile_open_opt(&x->f[i], root, files[i]);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0 && i == CT_COUNT) {
            return VIGIL_ENOTSUP; /* nf_conntrack is not loaded */
        }
    }
    int rc = vigil__intern(
        set, "node_nf_conntrack_entries", NULL, 0, VIGIL_KIND_GAUGE, VIGIL_GROUP_NETWORK, NULL,
        "Number of currently allocated flow entries for connection tracking.", &x->entries);
    if (!rc && x->f[CT_MAX].path) {
        rc = vigil__intern(set, "node_nf_conntrack_entries_limit", NULL, 0, VIGIL_KIND_GAUGE,
                           VIGIL_GROUP_NETWORK, NULL, "Maximum size of connection tracking table.",
                           &x->limit);
    }
    return rc;
}

/*
 * Maps the columns of the header [p, le) to ct_stats (a name's first column)
 * and interns the series found; the series of statistics no longer there
 * are released. The header is kept only once all is done, so a failed
 * allocation learns it again at the next tick.
 */
static int ct_learn(struct conntrack *x, struct vigil_collect *set, const char *p, const char *le)
{
    vigil_free(x->header);
    x->header = NULL;
    x->ncols = 0;
    x->present = 0;
    x->rows = 0; /* totals start again from the new columns */
    memset(x->total, 0, sizeof x->total);
    const char *tok;
    size_t tl;
    while (x->ncols < CT_COLS && (p = vigil__token(p, le, &tok, &tl))) {
        int k = -1;
        for (int i = 0; i < 8; i++) {
            if (!(x->present & 1u << i) && strlen(ct_stats[i].col) == tl &&
                memcmp(ct_stats[i].col, tok, tl) == 0) {
                k = i;
            }
        }
        x->col_of[x->ncols++] = (int8_t)k;
        if (k < 0) {
            continue;
        }
        x->present |= 1u << k;
        if (x->stat_ids[k] == VIGIL__NO_ID &&
            vigil__intern(set, ct_stats[k].name, NULL, 0, VIGIL_KIND_COUNTER, VIGIL_GROUP_NETWORK,
                          NULL, ct_stats[k].help, &x->stat_ids[k])) {
            x->ncols = 0;
            return -ENOMEM;
        }
    }
    if (p && vigil__token(p, le, &tok, &tl)) {
        x->ncols = 0;
        return VIGIL_EPARSE; /* more columns than any kernel prints */
    }
    for (int i = 0; i < 8; i++) {
        if (!(x->present & 1u << i) && x->stat_ids[i] != VIGIL__NO_ID) {
            vigil_collect_release(set, x->stat_ids[i]);
            x->stat_ids[i] = VIGIL__NO_ID;
        }
    }
    return 0;
}

/* Makes room for row r in last and cur (at warm-up: the CPUs do not change). */
static int ct_room(struct conntrack *x, size_t r)
{
    if (r < x->cap_rows) {
        return 0;
    }
    size_t cap = x->cap_rows ? x->cap_rows * 2 : 8;
    while (cap <= r) {
        cap *= 2;
    }
    uint32_t *a = vigil_realloc(x->last, cap * 8 * sizeof *a);
    if (!a) {
        return -ENOMEM;
    }
    x->last = a;
    uint32_t *b = vigil_realloc(x->cur, cap * 8 * sizeof *b);
    if (!b) {
        return -ENOMEM;
    }
    x->cur = b;
    x->cap_rows = cap;
    return 0;
}

/* Sums the per-CPU rows of the statistics file; 0, VIGIL_EPARSE or -ENOMEM. */
static int ct_stat(struct conntrack *x, struct vigil_collect_cx *cx)
{
    const char *p = x->f[CT_STAT].buf, *end = p + x->f[CT_STAT].len;
    const char *le = vigil__line_end(p, end);
    if (le == p) {
        return VIGIL_EPARSE;
    }
    if (!x->header || x->header_len != (size_t)(le - p) ||
        memcmp(x->header, p, x->header_len) != 0) {
        int rc = ct_learn(x, cx->set, p, le);
        if (rc) {
            return rc;
        }
        if (!(x->header = vigil_malloc((size_t)(le - p) + 1))) {
            return -ENOMEM;
        }
        memcpy(x->header, p, (size_t)(le - p));
        x->header_len = (size_t)(le - p);
    }
    if (!x->present) {
        return VIGIL_EPARSE; /* not the header the kernel prints */
    }
    /* Every row into cur first: a cut file changes nothing. */
    size_t rows = 0;
    for (p = le + 1; p < end; p = le + 1, rows++) {
        le = vigil__line_end(p, end);
        if (*le != '\n') {
            return VIGIL_EPARSE; /* a row the file's end cuts */
        }
        int rc = ct_room(x, rows);
        if (rc) {
            return rc;
        }
        const char *q = p;
        uint64_t v;
        for (int col = 0; col < x->ncols; col++) {
            if (!(q = vigil__pf_hex(q, le, &v)) || v > UINT32_MAX) {
                return VIGIL_EPARSE;
            }
            if (x->col_of[col] >= 0) {
                x->cur[rows * 8 + (size_t)x->col_of[col]] = (uint32_t)v;
            }
        }
        if (vigil__skip_blanks(q, le) < le) {
            return VIGIL_EPARSE;
        }
    }
    if (!rows) {
        return VIGIL_EPARSE;
    }
    for (size_t r = 0; r < rows; r++) {
        for (int i = 0; i < 8; i++) {
            if (!(x->present & 1u << i)) {
                continue;
            }
            uint32_t now = x->cur[r * 8 + i], was = r < x->rows ? x->last[r * 8 + i] : 0;
            if (r >= x->rows) {
                x->total[i] += now; /* a CPU first seen: all it counted */
            } else if (now >= was) {
                x->total[i] += now - was;
            } else if (was >= 1u << 31) {
                x->total[i] += (uint32_t)(now - was); /* wrapped past 2^32 */
            } else {
                x->total[i] += now; /* reset (the module loaded again): counted afresh */
            }
        }
    }
    uint32_t *t = x->last;
    x->last = x->cur;
    x->cur = t;
    x->rows = rows;
    for (int i = 0; i < 8; i++) {
        if (x->present & 1u << i) {
            vigil__emit(cx, x->stat_ids[i], (double)x->total[i]);
        }
    }
    return 0;
}

/*
 * After `rmmod nf_conntrack` the kept descriptors fail for good; closing one
 * that failed (to read or to parse) makes the next tick open its path again,
 * so a module loaded again is read (its counts start afresh: see ct_stat).
 */
static void ct_reopen_later(struct vigil__pfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

static int ct_one(struct vigil__pfile *f, struct vigil_collect_cx *cx, uint64_t *v)
{
    if (vigil__pfile_tick(f, cx)) {
        ct_reopen_later(f);
        return 1;
    }
    if (!vigil__pf_u64(f->buf, f->buf + f->len, v)) {
        vigil_collect_fail(cx, f->path, VIGIL_EPARSE);
        ct_reopen_later(f);
        return 1;
    }
    return 0;
}

static int conntrack_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct conntrack *x = c->ctx;
    uint64_t v;
    if (!ct_one(&x->f[CT_COUNT], cx, &v)) {
        vigil__emit(cx, x->entries, (double)v);
    }
    /* The limit is a sysctl that changes by hand: read at discoveries (every --rescan). */
    if (x->f[CT_MAX].path && (cx->rescan || !x->have_max)) {
        x->have_max = !ct_one(&x->f[CT_MAX], cx, &x->max);
    }
    if (x->have_max) {
        vigil__emit(cx, x->limit, (double)x->max);
    }
    if (x->f[CT_STAT].path) {
        int rc = vigil__pfile_read(&x->f[CT_STAT]);
        if (!rc) {
            rc = ct_stat(x, cx);
        }
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc) {
            vigil_collect_fail(cx, x->f[CT_STAT].path, rc);
            ct_reopen_later(&x->f[CT_STAT]);
        }
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_conntrack = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "conntrack",
    .summary = "netfilter's connection table: node_nf_conntrack_entries, _limit, _stat_*",
    .default_on = 1,
    .init = conntrack_init,
    .collect = conntrack_collect,
    .fini = conntrack_fini,
};
