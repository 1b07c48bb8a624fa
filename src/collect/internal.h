/*
 * Private to src/collect: files opened once and re-read each tick (netdata's
 * procfile), bounded number parsing over (pointer, length), and the row map
 * that remembers which series each row of a file feeds so that a stable file
 * is parsed without lookups or allocation.
 */
#ifndef VIGIL_COLLECT_INTERNAL_H
#define VIGIL_COLLECT_INTERNAL_H

#include <errno.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vigil/collect.h"

/* A first read shorter than this is taken as the whole file (see vigil__pfile_read). */
#define VIGIL__PFILE_SHORT 3072u
/* Largest file a collector reads; bigger ones are refused with -EFBIG. */
#define VIGIL__PFILE_MAX (16u << 20)
/*
 * Longest row key the row map stores (its key_len is 16 bits): a
 * /proc/net/netstat header line, the key of its row, is ~3 KiB on 6.x
 * kernels and grows with them. A longer key makes its row malformed.
 */
#define VIGIL__KEY_MAX UINT16_MAX

/* ---- files opened once, re-read each tick ---- */

struct vigil__pfile {
    int fd;     /* -1 when closed */
    char *path; /* root + relative path; owned */
    char *buf;  /* owned; cap + 1 bytes, NUL-terminated after a read */
    size_t len;
    size_t cap;
    int whole;  /* one-record seq_file (single_open): any short read is the whole file */
    int to_eof; /* records may pass 1 KiB (mount lines): read until pread returns 0 */
};

/* Zeroes f (fd -1). */
void vigil__pfile_init(struct vigil__pfile *f);
/*
 * Opens root/rel read-only and keeps the descriptor. Returns 0, -ENOMEM or
 * -errno from open (ENOENT for a missing file).
 */
int vigil__pfile_open(struct vigil__pfile *f, const char *root, const char *rel);
/*
 * Reads the whole file from offset 0 with pread into the kept buffer, which
 * grows (allocating) only when the content outgrows it. Reopens a closed
 * file. Returns 0, -errno (ENODEV/ENOENT when the source vanished), -EFBIG or
 * -ENOMEM.
 */
int vigil__pfile_read(struct vigil__pfile *f);
/* Closes the descriptor and frees the buffer and path. */
void vigil__pfile_close(struct vigil__pfile *f);
/*
 * vigil__pfile_open for a source that may be absent (snmp6 without IPv6, a
 * PSI file, a module not loaded): 1 when open, 0 when absent (ENOENT,
 * ENOTDIR, EACCES, EOPNOTSUPP; f closed, its path NULL), or a negative errno.
 */
int vigil__pfile_open_opt(struct vigil__pfile *f, const char *root, const char *rel);
/* A collector's one source: 0 when open, VIGIL_ENOTSUP when absent, or a negative errno. */
int vigil__pfile_open_src(struct vigil__pfile *f, const char *root, const char *rel);
/* A tick's read of f: 0, or 1 after counting the failure in cx (skip f this tick). */
int vigil__pfile_tick(struct vigil__pfile *f, struct vigil_collect_cx *cx);

/* Joins root and rel ("" root means "/") into out; returns -ENAMETOOLONG if it does not fit. */
int vigil__path(char *out, size_t n, const char *root, const char *rel);

/* ---- bounded parsing over [p, end) ---- */

/* Skips blanks (space, tab). */
static inline const char *vigil__skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    return p;
}

/* End of the line starting at p (points at '\n' or end). */
static inline const char *vigil__line_end(const char *p, const char *end)
{
    const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    return nl ? nl : end;
}

/*
 * Parses an unsigned decimal after optional blanks. Returns the position after
 * the digits, or NULL when there is no digit or the value overflows 64 bits.
 */
const char *vigil__pf_u64(const char *p, const char *end, uint64_t *v);
/* Signed variant ("-12"). */
const char *vigil__pf_i64(const char *p, const char *end, int64_t *v);
/*
 * Unsigned hexadecimal without prefix after optional blanks ("0012c3a9",
 * /proc/net/softnet_stat); NULL when there is no digit, the value overflows
 * 64 bits, or the token goes on with something else ("12g").
 */
const char *vigil__pf_hex(const char *p, const char *end, uint64_t *v);
/* Non-negative decimal with optional fraction ("0.05"); NULL when malformed. */
const char *vigil__pf_dec(const char *p, const char *end, double *v);
/* Next blank-separated token: *tok, *tok_len; returns position after it, NULL at end of line. */
const char *vigil__token(const char *p, const char *end, const char **tok, size_t *tok_len);

/* ---- row maps: row i of a file -> its series ids ---- */

struct vigil__row {
    uint32_t key_off; /* into keys */
    uint16_t key_len;
    uint16_t n_ids;   /* 0 = row known but not exported */
    uint32_t ids_off; /* into ids */
};

struct vigil__rowmap {
    struct vigil__row *rows; /* owned */
    size_t n_rows;
    size_t cap_rows;
    char *keys; /* owned */
    size_t keys_len;
    size_t keys_cap;
    uint32_t *ids; /* owned; UINT32_MAX marks a field that is not exported */
    size_t n_ids;
    size_t cap_ids;
    struct vigil_collect *owner; /* NULL, or the set the ids of forgotten rows go back to */
    size_t stride;               /* with owner: every stride-th id of a row is a series id */
};

void vigil__rowmap_init(struct vigil__rowmap *m);
/* Frees the map; its ids are not released (the entity or the set is going away). */
void vigil__rowmap_fini(struct vigil__rowmap *m);
/*
 * Makes m hold series ids of set: rows it forgets (learned over, truncated)
 * release their ids with vigil_collect_release, one id in `stride` counted
 * from each row's first (1 when every id is a series; 2 for {series, other}).
 * The caller of an owned map truncates it at row i BEFORE interning the ids
 * it learns for row i: a device that moved up a row is then released first
 * and held again by its intern, instead of released after it.
 */
static inline void vigil__rowmap_own(struct vigil__rowmap *m, struct vigil_collect *set,
                                     size_t stride)
{
    m->owner = set;
    m->stride = stride ? stride : 1;
}
/* 1 when some row of m holds a series id (not VIGIL__NO_ID). */
static inline int vigil__rowmap_exports(const struct vigil__rowmap *m)
{
    for (size_t i = 0; i < m->n_ids; i++) {
        if (m->ids[i] != UINT32_MAX) {
            return 1;
        }
    }
    return 0;
}
/* Releases the series ids of rows from..n_rows (owned maps only). */
void vigil__rowmap_release(struct vigil__rowmap *m, size_t from);

/*
 * Returns the ids of row i when it was learned with the same key, else NULL
 * (the caller then learns it with vigil__rowmap_learn). *n_ids is set.
 */
static inline const uint32_t *vigil__rowmap_get(const struct vigil__rowmap *m, size_t i,
                                                const char *key, size_t key_len, size_t *n_ids)
{
    if (i >= m->n_rows) {
        return NULL;
    }
    const struct vigil__row *r = &m->rows[i];
    if (r->key_len != key_len) {
        return NULL;
    }
    if (memcmp(m->keys + r->key_off, key, key_len) != 0) {
        return NULL;
    }
    *n_ids = r->n_ids;
    return m->ids + r->ids_off;
}

/*
 * Forgets rows i.. and stores row i with key and n_ids ids (copied). Returns
 * a pointer to the stored ids (borrowed until the next learn), or NULL on OOM.
 */
uint32_t *vigil__rowmap_learn(struct vigil__rowmap *m, size_t i, const char *key, size_t key_len,
                              const uint32_t *ids, size_t n_ids);

/* Drops rows from i on (the file got shorter), releasing their ids when owned. */
static inline void vigil__rowmap_truncate(struct vigil__rowmap *m, size_t i)
{
    if (i < m->n_rows) {
        vigil__rowmap_release(m, i);
        m->n_rows = i;
        m->keys_len = i ? m->rows[i - 1].key_off + m->rows[i - 1].key_len : 0;
        m->n_ids = i ? m->rows[i - 1].ids_off + m->rows[i - 1].n_ids : 0;
    }
}

#define VIGIL__NO_ID UINT32_MAX

/* A label reference from a string literal name and a (value, length) pair. */
#define VIGIL__LBL(name, v, vl) {(name), sizeof(name) - 1, (v), (vl)}

/*
 * Interns a series (see vigil_collect_intern). -E2BIG (the series cap) gives
 * VIGIL__NO_ID and 0 so the row is learned as not exported; -ENOMEM is returned.
 */
int vigil__intern(struct vigil_collect *c, const char *name, const struct vigil_label_ref *labels,
                  size_t n_labels, enum vigil_kind kind, enum vigil_group group,
                  const char *entity, const char *help, uint32_t *id);

/*
 * A regex filter on row keys, device names or mounts. Matches happen only when
 * a collector learns a key it has not seen (start-up, a new device or mount),
 * so the pattern is compiled at the first match of a pass and freed by
 * vigil__filter_release at the end of the pass (unless it ran out of
 * memory, so the retry does not compile again): a compiled regex that stays
 * keeps the DFA tables glibc builds while matching (2 KB per state, about
 * 550 KB for the default filters), resident for nothing.
 */
struct vigil__filter {
    char *pat; /* NULL = no pattern: everything passes the include test, nothing is excluded */
    regex_t re;
    int compiled;
};

/* Checks and keeps pat (NULL or "" = off). Returns 0, VIGIL_ECONFIG or -ENOMEM. */
int vigil__filter_init(struct vigil__filter *f, const char *pat);
void vigil__filter_fini(struct vigil__filter *f);
/* 1 when (s, n) matches; 0 when not, when the filter is off or out of memory. */
int vigil__filter_match(struct vigil__filter *f, const char *s, size_t n);
/* Frees the compiled form after a pass of matches (cheap when there was none). */
void vigil__filter_release(struct vigil__filter *f);

/* Releases n ids (VIGIL__NO_ID skipped) to set: see vigil_collect_release. */
void vigil__release_ids(struct vigil_collect *set, const uint32_t *ids, size_t n);

/*
 * The system's pressure (PSI) as the pressure collector read it this tick,
 * for the cgroup collector: the root cgroup of the kernel's cgroup2 hierarchy
 * shows the same counters in its *.pressure files (the kernel's psi_system),
 * so it takes them from here instead of reading three more files per tick.
 * v holds "some" and "full" totals in seconds; have has bit 0 and 1 for them.
 * Only values read from procfs itself are put (not a fixture tree, not LXCFS's
 * per-container /proc/pressure). The registry runs pressure before cgroup.
 */
enum { VIGIL__PSI_CPU, VIGIL__PSI_MEMORY, VIGIL__PSI_IO };
void vigil__psi_sys_put(struct vigil_collect_cx *cx, int res, const double v[2], unsigned have);
/* 1 and the values when put this tick; 0 otherwise. */
int vigil__psi_sys_get(const struct vigil_collect_cx *cx, int res, double v[2], unsigned *have);

/* Emits v for id unless id is VIGIL__NO_ID. */
static inline void vigil__emit(struct vigil_collect_cx *cx, uint32_t id, double v)
{
    if (id != VIGIL__NO_ID) {
        vigil_collect_emit(cx, id, v);
    }
}

/* ---- files of keyed rows ---- */

/*
 * One file re-read every tick and its row map, with an optional name filter
 * (stat, meminfo, vmstat, diskstats, netdev). The collector's ctx.
 */
struct vigil__keyed {
    struct vigil__pfile f;
    struct vigil__rowmap rows;
    struct vigil__filter filt; /* vmstat: fields kept; diskstats, netdev: devices left out */
    double hz;                 /* stat: USER_HZ */
};

/*
 * Makes c->ctx a struct vigil__keyed over root/rel with filter pattern pat
 * (NULL: none). With owner, the row map holds series ids that go back to it
 * when their row goes (see vigil__rowmap_own). Returns 0, VIGIL_ENOTSUP when
 * the file is absent or unreadable, VIGIL_ECONFIG for a bad pattern, -ENOMEM.
 */
int vigil__keyed_new(struct vigil_collector *c, const char *root, const char *rel, const char *pat,
                     struct vigil_collect *owner);
/* Frees c->ctx made by vigil__keyed_new (a collector's fini). */
void vigil__keyed_fini(struct vigil_collector *c);

/* Most series one row feeds. */
#define VIGIL__ROW_IDS 32

/*
 * How a collector reads the rows of its file. split: the key of line
 * [p, le) and where its values start, or NULL for a line that is not a row
 * (setting *bad when it is malformed rather than a header). learn: the ids of
 * a key not seen at this row before (at most VIGIL__ROW_IDS; *n = 0 for a row
 * not exported); 0 or -ENOMEM. emit: emits the values in [q, le) of a row
 * with n > 0 ids; returns 1 when they are malformed.
 */
typedef const char *(*vigil__split_fn)(void *u, const char *p, const char *le, const char **key,
                                       size_t *kl, int *bad);
typedef int (*vigil__learn_fn)(void *u, struct vigil_collect *set, const char *key, size_t kl,
                               const char *q, const char *le, uint32_t *ids, size_t *n);
typedef int (*vigil__emit_fn)(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                              const char *q, const char *le);

/* 1 when v (before end) starts a value of a "key value" row: a sign or a digit. */
static inline int vigil__value_start(const char *v, const char *end)
{
    return v < end && (*v == '-' || (*v >= '0' && *v <= '9'));
}

static inline const char *vigil__split_token(void *u, const char *p, const char *le,
                                             const char **key, size_t *kl, int *bad);
static inline const char *vigil__split_kv(void *u, const char *p, const char *le, const char **key,
                                          size_t *kl, int *bad);
/* A split whose key is a line's first token (the fast path of vigil__rows_parse). */
#define VIGIL__KEY_FIRST(split) ((split) == vigil__split_token || (split) == vigil__split_kv)

/*
 * The per-tick loop over the rows of [p, end): a row whose key is the one
 * learned at its position goes straight to emit, without a lookup; a new key
 * is learned (its old ids released first when the map is owned); rows not
 * exported are skipped without parsing their values; rows past the last are
 * forgotten. Returns 0, VIGIL_EPARSE when a row was malformed (the others
 * are emitted), or -ENOMEM. static inline so that each collector's loop is
 * compiled with its own functions inlined.
 */
static inline int vigil__rows_parse(struct vigil__rowmap *rm, const char *p, const char *end,
                                    vigil__split_fn split, vigil__learn_fn learn,
                                    vigil__emit_fn emit, void *u, struct vigil_collect_cx *cx)
{
    size_t row = 0;
    int bad = 0;
    while (p < end) {
        if (VIGIL__KEY_FIRST(split) && row < rm->n_rows) {
            /*
             * The row learned here, when the line starts with its key and a blank: what split
             * would find (a key is a token, so holds no blank or newline), without scanning
             * the key twice or looking it up.
             */
            const struct vigil__row *r = &rm->rows[row];
            size_t kl = r->key_len;
            if ((size_t)(end - p) > kl && (p[kl] == ' ' || p[kl] == '\t') &&
                memcmp(p, rm->keys + r->key_off, kl) == 0) {
                const char *q = p + kl;
                if (split == vigil__split_kv) {
                    q = vigil__skip_blanks(q, end); /* what it returns: the value */
                }
                if (split != vigil__split_kv || vigil__value_start(q, end)) {
                    const char *le = vigil__line_end(q, end);
                    if (r->n_ids) {
                        bad |= emit(u, cx, rm->ids + r->ids_off, r->n_ids, q, le);
                    }
                    row++;
                    p = le + 1;
                    continue;
                }
            }
        }
        const char *le = vigil__line_end(p, end);
        const char *key;
        size_t kl, n;
        const char *q = split(u, p, le, &key, &kl, &bad);
        p = le + 1;
        if (!q) {
            continue;
        }
        if (kl > VIGIL__KEY_MAX) {
            bad = 1;
            continue;
        }
        const uint32_t *ids = vigil__rowmap_get(rm, row, key, kl, &n);
        if (!ids) {
            uint32_t tmp[VIGIL__ROW_IDS];
            n = 0;
            vigil__rowmap_truncate(rm, row); /* release first: see vigil__rowmap_own */
            if (learn(u, cx->set, key, kl, q, le, tmp, &n) ||
                !(ids = vigil__rowmap_learn(rm, row, key, kl, tmp, n))) {
                return -ENOMEM;
            }
        }
        if (n) {
            bad |= emit(u, cx, ids, n, q, le);
        }
        row++;
    }
    vigil__rowmap_truncate(rm, row);
    return bad ? VIGIL_EPARSE : 0;
}

/* split for rows keyed by their first blank-separated token ("cpu0 1 2", "pgfault 12"). */
static inline const char *vigil__split_token(void *u, const char *p, const char *le,
                                             const char **key, size_t *kl, int *bad)
{
    (void)u;
    const char *q = vigil__token(p, le, key, kl);
    *bad |= !q && le > p;
    return q;
}

/*
 * split for "key value" rows (vmstat, snmp6, cgroup key files): the key, and
 * as the values' start the value's first character, a sign or digit; the
 * value itself is parsed only by emit, so the rows not exported cost no
 * number parsing.
 */
static inline const char *vigil__split_kv(void *u, const char *p, const char *le, const char **key,
                                          size_t *kl, int *bad)
{
    (void)u;
    const char *q = vigil__token(p, le, key, kl);
    const char *v = q ? vigil__skip_blanks(q, le) : NULL;
    if (!v || !vigil__value_start(v, le)) {
        *bad |= le > p;
        return NULL;
    }
    return v;
}

/* emit for rows of one value (vmstat, snmp6, cgroup blkio). */
static inline int vigil__emit_i64(void *u, struct vigil_collect_cx *cx, const uint32_t *ids,
                                  size_t n, const char *q, const char *le)
{
    (void)u;
    (void)n;
    int64_t v;
    if (!vigil__pf_i64(q, le, &v)) {
        return 1;
    }
    vigil__emit(cx, ids[0], (double)v);
    return 0;
}

/*
 * A keyed collector's whole tick: reads its file and runs vigil__rows_parse
 * on it with k as u; a malformed row counts one error named `what`. Returns
 * 0 or -ENOMEM.
 */
static inline int vigil__keyed_collect(struct vigil_collector *c, struct vigil_collect_cx *cx,
                                       vigil__split_fn split, vigil__learn_fn learn,
                                       vigil__emit_fn emit, const char *what)
{
    struct vigil__keyed *k = c->ctx;
    if (vigil__pfile_tick(&k->f, cx)) {
        return 0;
    }
    int rc = vigil__rows_parse(&k->rows, k->f.buf, k->f.buf + k->f.len, split, learn, emit, k, cx);
    if (rc != -ENOMEM) { /* kept for the retry when out of memory */
        vigil__filter_release(&k->filt);
    }
    if (rc == VIGIL_EPARSE) {
        vigil_collect_fail(cx, what, rc);
    }
    return rc == -ENOMEM ? rc : 0;
}

/*
 * Parses PSI text ("some avg10=.. total=N" and "full ..." lines) into
 * v[0] (some) and v[1] (full) in seconds, setting bit 0 or 1 of *have.
 * Returns 0 or VIGIL_EPARSE.
 */
int vigil__psi_parse(const char *p, const char *end, double v[2], unsigned *have);

/* ---- the host collectors (one ops table per source, listed in registry.c) ---- */

extern const struct vigil_collector_ops vigil__collector_stat;
extern const struct vigil_collector_ops vigil__collector_meminfo;
extern const struct vigil_collector_ops vigil__collector_vmstat;
extern const struct vigil_collector_ops vigil__collector_loadavg;
extern const struct vigil_collector_ops vigil__collector_pressure;
extern const struct vigil_collector_ops vigil__collector_diskstats;
extern const struct vigil_collector_ops vigil__collector_netdev;
extern const struct vigil_collector_ops vigil__collector_netstat;
extern const struct vigil_collector_ops vigil__collector_filesystem;
extern const struct vigil_collector_ops vigil__collector_filefd;
extern const struct vigil_collector_ops vigil__collector_sockstat;
extern const struct vigil_collector_ops vigil__collector_softnet;
extern const struct vigil_collector_ops vigil__collector_conntrack;
extern const struct vigil_collector_ops vigil__collector_cgroup;
extern const struct vigil_collector_ops vigil__collector_libvirt;
extern const struct vigil_collector_ops vigil__collector_ovs;
extern const struct vigil_collector_ops vigil__collector_process;
extern const struct vigil_collector_ops vigil__collector_tcpinfo;

/* ---- tcpinfo.c: one sock_diag dump, summed over sockets ---- */

struct vigil__tcp_agg {
    uint64_t sockets;                             /* SOCK_DIAG_BY_FAMILY messages */
    uint64_t with_rtt;                            /* of which carried a struct tcp_info */
    double rtt_sum, rtt_max, rtt_min, rttvar_sum; /* seconds; min of the with_rtt ones */
    double unacked, retrans, lost, send_queue, recv_queue;
};

/*
 * Adds the sockets of one netlink datagram (len bytes) of the dump with
 * sequence number seq to a; messages of other dumps are skipped. Returns 1
 * at that dump's NLMSG_DONE, 0 when more datagrams follow, the kernel's
 * -errno for an NLMSG_ERROR, or VIGIL_EPARSE for a length that does not fit.
 */
int vigil__tcpinfo_parse(const void *buf, size_t len, uint32_t seq, struct vigil__tcp_agg *a);

/*
 * vigil_collect_render by walking the families and the series table, as it
 * does before the first tick, when the series set changed since the last
 * tick's layout, or when the layout could not be built; tests compare the
 * two.
 */
int vigil__collect_render_walk(struct vigil_collect *c, struct vigil_buf *out, unsigned flags);

#endif /* VIGIL_COLLECT_INTERNAL_H */
