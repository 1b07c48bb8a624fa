/*
 * Network collectors with node-exporter's names: /proc/net/dev (netdev:
 * node_network_{receive,transmit}_*_total{device}) and /proc/net/snmp,
 * /proc/net/netstat and /proc/net/snmp6 (netstat: node_netstat_<Proto>_<Field>).
 * Both keep node-exporter's default filters as options, so the same series
 * come out by default. A device that disappears from /proc/net/dev simply
 * stops being emitted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "vigil/mem.h"

/* ---- /proc/net/dev ---- */

struct netdev_params {
    char *exclude;
};

static const struct vigil_opt netdev_opts[] = {
    {"exclude", VIGIL_OPT_STR, offsetof(struct netdev_params, exclude), "", 0, 0,
     "regex of devices to leave out (node-exporter's default: none, lo included)", NULL},
    {0},
};

static const char *const netdev_fields[16] = {
    "receive_bytes",   "receive_packets",   "receive_errs",       "receive_drop",
    "receive_fifo",    "receive_frame",     "receive_compressed", "receive_multicast",
    "transmit_bytes",  "transmit_packets",  "transmit_errs",      "transmit_drop",
    "transmit_fifo",   "transmit_colls",    "transmit_carrier",   "transmit_compressed",
};

static int netdev_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                       const void *params)
{
    const struct netdev_params *pp = params;
    /* Owned: a vanished device gives its ids back. */
    return vigil__keyed_new(c, root, "proc/net/dev", pp->exclude, set);
}

/* "  eth0: 1 2 3 ..."; the two header lines have a '|' and no ':' before it. */
static const char *netdev_split(void *u, const char *p, const char *le, const char **key,
                                size_t *kl, int *bad)
{
    (void)u;
    (void)bad;
    const char *colon = memchr(p, ':', (size_t)(le - p));
    if (!colon || memchr(p, '|', (size_t)(le - p))) {
        return NULL;
    }
    *key = vigil__skip_blanks(p, colon);
    *kl = (size_t)(colon - *key);
    return colon + 1;
}

static int netdev_learn(void *u, struct vigil_collect *set, const char *dev, size_t dl,
                        const char *q, const char *le, uint32_t *ids, size_t *n)
{
    struct vigil__keyed *k = u;
    (void)q;
    (void)le;
    *n = 0;
    if (vigil__filter_match(&k->filt, dev, dl)) {
        return 0;
    }
    for (int j = 0; j < 16; j++) {
        char name[64], help[64];
        snprintf(name, sizeof name, "node_network_%s_total", netdev_fields[j]);
        snprintf(help, sizeof help, "Network device statistic %s.", netdev_fields[j]);
        struct vigil_label_ref l = VIGIL__LBL("device", dev, dl);
        if (vigil__intern(set, name, &l, 1, VIGIL_KIND_COUNTER, VIGIL_GROUP_NETWORK, NULL, help,
                          &ids[(*n)++])) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int netdev_emit(void *u, struct vigil_collect_cx *cx, const uint32_t *ids, size_t n,
                       const char *q, const char *le)
{
    (void)u;
    uint64_t v[16];
    for (int j = 0; j < 16; j++) {
        if (!(q = vigil__pf_u64(q, le, &v[j]))) {
            return 1; /* truncated row: emit nothing for it */
        }
    }
    for (size_t j = 0; j < n; j++) {
        vigil__emit(cx, ids[j], (double)v[j]);
    }
    return 0;
}

static int netdev_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    return vigil__keyed_collect(c, cx, netdev_split, netdev_learn, netdev_emit,
                                "proc/net/dev: truncated row");
}

const struct vigil_collector_ops vigil__collector_netdev = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "netdev",
    .summary = "/proc/net/dev: node_network_{receive,transmit}_*_total{device}",
    .opts = netdev_opts,
    .params_size = sizeof(struct netdev_params),
    .default_on = 1,
    .init = netdev_init,
    .collect = netdev_collect,
    .fini = vigil__keyed_fini,
};

/* ---- /proc/net/snmp, /proc/net/netstat, /proc/net/snmp6 ---- */

struct netstat_params {
    char *fields;
};

/* node-exporter 1.5's --collector.netstat.fields default, in POSIX ERE. */
#define NETSTAT_FIELDS                                                                             \
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|" \
    "TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|"                                    \
    "Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|"                 \
    "Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"

static const struct vigil_opt netstat_opts[] = {
    {"fields", VIGIL_OPT_STR, offsetof(struct netstat_params, fields), NETSTAT_FIELDS, 0, 0,
     "regex of Proto_Field names to export (node-exporter's default); '.' for all", NULL},
    {0},
};

struct netstat {
    struct vigil__pfile f[3]; /* snmp, netstat, snmp6 */
    struct vigil__rowmap rows[3];
    struct vigil__filter include;
    int idle[3]; /* no field of this file is exported: read it at discoveries only */
};

static const char *const netstat_files[3] = {"proc/net/snmp", "proc/net/netstat",
                                             "proc/net/snmp6"};

static int netstat_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)set;
    const struct netstat_params *pp = params;
    struct netstat *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    for (int i = 0; i < 3; i++) {
        vigil__pfile_init(&x->f[i]);
        vigil__rowmap_init(&x->rows[i]);
    }
    int frc = vigil__filter_init(&x->include, pp->fields);
    if (frc) {
        return frc;
    }
    int found = 0;
    for (int i = 0; i < 3; i++) {
        int rc = vigil__pfile_open_opt(&x->f[i], root, netstat_files[i]); /* snmp6: IPv6 */
        if (rc < 0) {
            return rc;
        }
        x->f[i].whole = 1; /* all three are single_open files */
        found += rc;
    }
    return found ? 0 : VIGIL_ENOTSUP;
}

static void netstat_fini(struct vigil_collector *c)
{
    struct netstat *x = c->ctx;
    if (x) {
        for (int i = 0; i < 3; i++) {
            vigil__pfile_close(&x->f[i]);
            vigil__rowmap_fini(&x->rows[i]);
        }
        vigil__filter_fini(&x->include);
        vigil_free(x);
    }
    c->ctx = NULL;
}

/* Fields that are current values, not event counts. */
static int netstat_gauge(const char *name)
{
    static const char *const g[] = {"Ip_Forwarding", "Ip_DefaultTTL", "Tcp_RtoAlgorithm",
                                    "Tcp_RtoMin",    "Tcp_RtoMax",    "Tcp_MaxConn",
                                    "Tcp_CurrEstab", NULL};
    for (int i = 0; g[i]; i++) {
        if (strcmp(name, g[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int netstat_intern(struct netstat *x, struct vigil_collect *set, const char *proto,
                          size_t pl, const char *field, size_t fl, uint32_t *id)
{
    char full[192], name[224], help[224];
    *id = VIGIL__NO_ID;
    if (pl + fl + 2 > sizeof full) {
        return 0;
    }
    memcpy(full, proto, pl);
    full[pl] = '_';
    memcpy(full + pl + 1, field, fl);
    full[pl + 1 + fl] = '\0';
    if (!vigil__filter_match(&x->include, full, pl + 1 + fl)) {
        return 0;
    }
    snprintf(name, sizeof name, "node_netstat_%s", full);
    /* node-exporter's help: "Statistic TcpInSegs." */
    snprintf(help, sizeof help, "Statistic %.*s%.*s.", (int)pl, proto, (int)fl, field);
    return vigil__intern(set, name, NULL, 0,
                         netstat_gauge(full) ? VIGIL_KIND_GAUGE : VIGIL_KIND_COUNTER,
                         VIGIL_GROUP_NETWORK, NULL, help, id);
}

/*
 * snmp and netstat come in line pairs, "Tcp: Name1 Name2 ..." then
 * "Tcp: 1 2 ...". The whole header line is the row key, so a kernel that adds
 * a field is relearned once.
 */
static int pairs_collect(struct netstat *x, int fi, struct vigil_collect_cx *cx)
{
    struct vigil__rowmap *rm = &x->rows[fi];
    const char *p = x->f[fi].buf, *end = p + x->f[fi].len;
    size_t row = 0;
    int bad = 0;
    while (p < end) {
        const char *hl = vigil__line_end(p, end);
        if (hl >= end) {
            bad |= hl > p; /* a header without its values line */
            break;
        }
        const char *v = hl + 1, *vl = vigil__line_end(v, end);
        const char *colon = memchr(p, ':', (size_t)(hl - p));
        if (!colon || (size_t)(vl - v) <= (size_t)(colon - p) ||
            memcmp(p, v, (size_t)(colon - p + 1)) != 0 || (size_t)(hl - p) > VIGIL__KEY_MAX) {
            bad = 1;
            p = vl + 1;
            continue;
        }
        size_t n;
        const uint32_t *ids = vigil__rowmap_get(rm, row, p, (size_t)(hl - p), &n);
        if (!ids) {
            uint32_t tmp[512];
            n = 0;
            const char *q = colon + 1, *tok;
            size_t tl;
            while ((q = vigil__token(q, hl, &tok, &tl))) {
                if (n == 512) {
                    bad = 1; /* the fields past 512 are not exported */
                    break;
                }
                if (netstat_intern(x, cx->set, p, (size_t)(colon - p), tok, tl, &tmp[n++])) {
                    return -ENOMEM;
                }
            }
            if (!(ids = vigil__rowmap_learn(rm, row, p, (size_t)(hl - p), tmp, n))) {
                return -ENOMEM;
            }
        }
        /* Values past the row's last exported field are not parsed (as rows not exported). */
        while (n && ids[n - 1] == VIGIL__NO_ID) {
            n--;
        }
        const char *q = v + (colon - p) + 1;
        for (size_t j = 0; j < n; j++) {
            int64_t val;
            if (!(q = vigil__pf_i64(q, vl, &val))) {
                bad = 1;
                break;
            }
            vigil__emit(cx, ids[j], (double)val);
        }
        row++;
        p = vl + 1;
    }
    vigil__rowmap_truncate(rm, row);
    return bad ? VIGIL_EPARSE : 0;
}

/* snmp6 is one "Ip6InReceives  123" per line; the protocol ends at the '6'. */
static int snmp6_learn(void *u, struct vigil_collect *set, const char *key, size_t kl,
                       const char *q, const char *le, uint32_t *ids, size_t *n)
{
    (void)q;
    (void)le;
    const char *six = memchr(key, '6', kl);
    ids[0] = VIGIL__NO_ID;
    if (six && netstat_intern(u, set, key, (size_t)(six - key) + 1, six + 1,
                              kl - (size_t)(six - key) - 1, &ids[0])) {
        return -ENOMEM;
    }
    *n = ids[0] != VIGIL__NO_ID;
    return 0;
}

static int snmp6_collect(struct netstat *x, struct vigil_collect_cx *cx)
{
    return vigil__rows_parse(&x->rows[2], x->f[2].buf, x->f[2].buf + x->f[2].len, vigil__split_kv,
                             snmp6_learn, vigil__emit_i64, x, cx);
}

static int netstat_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct netstat *x = c->ctx;
    for (int i = 0; i < 3; i++) {
        if (!x->f[i].path || (x->idle[i] && !cx->rescan)) {
            continue;
        }
        if (vigil__pfile_tick(&x->f[i], cx)) {
            continue;
        }
        int rc = i < 2 ? pairs_collect(x, i, cx) : snmp6_collect(x, cx);
        if (rc == -ENOMEM) {
            return rc;
        }
        /* A file none of whose fields the filter keeps is only re-checked at discoveries. */
        x->idle[i] = !rc && !vigil__rowmap_exports(&x->rows[i]);
        if (rc) {
            vigil_collect_fail(cx, x->f[i].path, rc);
        }
    }
    vigil__filter_release(&x->include);
    return 0;
}

const struct vigil_collector_ops vigil__collector_netstat = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "netstat",
    .summary = "/proc/net/{snmp,netstat,snmp6}: node_netstat_<Proto>_<Field>",
    .opts = netstat_opts,
    .params_size = sizeof(struct netstat_params),
    .default_on = 1,
    .init = netstat_init,
    .collect = netstat_collect,
    .fini = netstat_fini,
};
