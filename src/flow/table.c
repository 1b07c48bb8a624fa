/*
 * The flow table: packets grouped by (source IP, destination IP) in tumbling
 * windows, and the 24 features computed when a window closes.
 *
 * Layout: flows live in a dense slab of max_flows entries; an open-addressing
 * index (linear probing, a power of two at least twice max_flows, so the load
 * factor stays <= 0.5) maps a key to slab position + 1 (0 = empty). Each flow
 * remembers its index slot, so closing a window clears exactly the slots in
 * use (O(flows), not O(index)), and evicting a flow is a backward-shift
 * deletion in the index plus a swap-remove in the slab. All of it is
 * allocated once in vigil_flowtab_new; adding a packet never allocates.
 *
 * Eviction: when the slab is full, the flow seen least recently among the 8
 * slab entries after a rotating cursor is emitted early (marked evicted) and
 * removed. A spoofed flood creates one flow per forged source, so bounded
 * memory matters; those flows are tiny and emitting them early loses nothing.
 *
 * Distinct ports are estimated by linear counting on a 256-bit bitmap per
 * direction (Whang et al. 1990): exact up to collisions, within a few percent
 * up to ~500 ports, saturating near 1420.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "vigil/flow.h"
#include "vigil/mem.h"

#define PORT_BITS 256
#define EVICT_CANDIDATES 8

struct flow {
    uint8_t src[16];
    uint8_t dst[16];
    uint64_t hash;
    uint32_t pos; /* index slot holding this flow */
    uint8_t family;
    int64_t first_ns;
    int64_t last_ns;
    uint32_t pkts;
    uint32_t tcp, udp, icmp;
    uint32_t flags[8]; /* per TCP flag bit, FIN first */
    uint32_t syn_only;
    uint32_t tcp_noflags;
    uint32_t frags;
    uint64_t bytes;
    uint64_t ttl_sum;
    double size_sq; /* sum of squared IP lengths; exact below 2^53 */
    uint64_t sport_bits[PORT_BITS / 64];
    uint64_t dport_bits[PORT_BITS / 64];
};

struct vigil_flowtab {
    struct vigil_flow_params p;
    struct flow *slab; /* (max_flows) */
    size_t n;          /* flows held */
    uint32_t *idx;     /* (mask + 1) slab position + 1, 0 = empty */
    size_t mask;
    size_t cursor;              /* eviction scan position */
    int64_t win;                /* start of the current window */
    int started;                /* 0 until the first packet of a window */
    struct vigil_flow_rec *out; /* (batch) pending records */
    size_t n_out;
    struct vigil_flowtab_stats st;
};

static const char *const feature_names[VIGIL_FLOW_F] = {
    "pkts",     "bytes",     "duration",  "pkt_rate",    "byte_rate", "tcp_rate",
    "udp_rate", "icmp_rate", "size_mean", "size_var",    "src_ports", "dst_ports",
    "syn",      "ack",       "fin",       "rst",         "psh",       "urg",
    "ece",      "cwr",       "syn_only",  "tcp_noflags", "frags",     "ttl_mean",
};

const char *vigil_flow_feature_name(size_t j)
{
    return j < VIGIL_FLOW_F ? feature_names[j] : NULL;
}

void vigil_flow_params_default(struct vigil_flow_params *p)
{
    p->window_ns = 2000000000LL;
    p->max_flows = 65536;
    p->batch = 1024;
}

int vigil_flowtab_new(struct vigil_flowtab **out, const struct vigil_flow_params *p)
{
    *out = NULL;
    if (p->window_ns <= 0 || p->max_flows == 0 || p->max_flows > ((size_t)1 << 26) ||
        p->batch == 0 || p->batch > VIGIL_FLOW_BATCH_MAX) {
        return -EINVAL;
    }
    struct vigil_flowtab *ft = vigil_calloc(1, sizeof *ft);
    if (!ft) {
        return -ENOMEM;
    }
    ft->p = *p;
    size_t cap = 16;
    while (cap < 2 * p->max_flows) {
        cap <<= 1;
    }
    ft->mask = cap - 1;
    ft->slab = vigil_mallocarray(p->max_flows, sizeof *ft->slab);
    ft->idx = vigil_calloc(cap, sizeof *ft->idx); /* 0 = empty slot */
    ft->out = vigil_mallocarray(p->batch, sizeof *ft->out);
    if (!ft->slab || !ft->idx || !ft->out) {
        vigil_flowtab_free(ft);
        return -ENOMEM;
    }
    *out = ft;
    return 0;
}

void vigil_flowtab_free(struct vigil_flowtab *ft)
{
    if (!ft) {
        return;
    }
    vigil_free(ft->slab);
    vigil_free(ft->idx);
    vigil_free(ft->out);
    vigil_free(ft);
}

void vigil_flowtab_stats(const struct vigil_flowtab *ft, struct vigil_flowtab_stats *out)
{
    *out = ft->st;
}

/* ---- hashing and the index ---- */

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t key_hash(const uint8_t *src, const uint8_t *dst)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t h = 0x243f6a8885a308d3ULL;
    uint64_t w[4] = {load64(src), load64(src + 8), load64(dst), load64(dst + 8)};
    for (int i = 0; i < 4; i++) {
        h = (h ^ w[i]) * k;
        h ^= h >> 29;
    }
    return h;
}

static size_t home(const struct vigil_flowtab *ft, uint64_t hash)
{
    return (size_t)(hash ^ (hash >> 32)) & ft->mask;
}

/* Removes slab entry e from the index (backward shift) and the slab (swap with the last). */
static void remove_flow(struct vigil_flowtab *ft, size_t e)
{
    size_t i = ft->slab[e].pos;
    size_t j = i;
    for (;;) {
        j = (j + 1) & ft->mask;
        uint32_t v = ft->idx[j];
        if (v == 0) {
            break;
        }
        size_t k = home(ft, ft->slab[v - 1].hash);
        /* Leave the entry at j when its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) {
            continue;
        }
        ft->idx[i] = v;
        ft->slab[v - 1].pos = (uint32_t)i;
        i = j;
    }
    ft->idx[i] = 0;
    size_t last = ft->n - 1;
    if (e != last) {
        ft->slab[e] = ft->slab[last];
        ft->idx[ft->slab[e].pos] = (uint32_t)(e + 1);
    }
    ft->n--;
}

/* ---- features ---- */

static double distinct_ports(const uint64_t *bits)
{
    int ones = 0;
    for (int i = 0; i < PORT_BITS / 64; i++) {
        ones += __builtin_popcountll(bits[i]);
    }
    int zeros = PORT_BITS - ones;
    if (zeros == 0) {
        zeros = 1; /* saturated: report the largest estimate the bitmap can give */
    }
    /* Rounded: the estimate is a count, and 1 port should read 1, not 1.002. */
    return floor(-(double)PORT_BITS * log((double)zeros / PORT_BITS) + 0.5);
}

static void features(const struct vigil_flowtab *ft, const struct flow *fl,
                     struct vigil_flow_rec *r, int evicted)
{
    double win_s = (double)ft->p.window_ns / 1e9;
    double n = fl->pkts;
    double mean = (double)fl->bytes / n;
    double var = fl->size_sq / n - mean * mean;
    float *f = r->f;
    r->win_ns = ft->win;
    memcpy(r->src, fl->src, 16);
    memcpy(r->dst, fl->dst, 16);
    r->family = fl->family;
    r->evicted = (uint8_t)evicted;
    f[VIGIL_FF_PKTS] = (float)n;
    f[VIGIL_FF_BYTES] = (float)fl->bytes;
    f[VIGIL_FF_DURATION] = (float)((double)(fl->last_ns - fl->first_ns) / 1e9);
    f[VIGIL_FF_PKT_RATE] = (float)(n / win_s);
    f[VIGIL_FF_BYTE_RATE] = (float)((double)fl->bytes / win_s);
    f[VIGIL_FF_TCP_RATE] = (float)(fl->tcp / win_s);
    f[VIGIL_FF_UDP_RATE] = (float)(fl->udp / win_s);
    f[VIGIL_FF_ICMP_RATE] = (float)(fl->icmp / win_s);
    f[VIGIL_FF_SIZE_MEAN] = (float)mean;
    f[VIGIL_FF_SIZE_VAR] = (float)(var > 0 ? var : 0);
    f[VIGIL_FF_SRC_PORTS] = (float)distinct_ports(fl->sport_bits);
    f[VIGIL_FF_DST_PORTS] = (float)distinct_ports(fl->dport_bits);
    /* Flag counts in the order of enum vigil_flow_feature: syn ack fin rst psh urg ece cwr. */
    static const int bit_of[8] = {1, 4, 0, 2, 3, 5, 6, 7};
    for (int b = 0; b < 8; b++) {
        f[VIGIL_FF_SYN + b] = (float)fl->flags[bit_of[b]];
    }
    f[VIGIL_FF_SYN_ONLY] = (float)fl->syn_only;
    f[VIGIL_FF_TCP_NOFLAGS] = (float)fl->tcp_noflags;
    f[VIGIL_FF_FRAGS] = (float)fl->frags;
    f[VIGIL_FF_TTL_MEAN] = (float)((double)fl->ttl_sum / n);
}

static int drain(struct vigil_flowtab *ft, vigil_flow_emit_fn emit, void *user)
{
    int rc = 0;
    if (ft->n_out) {
        rc = emit(user, ft->out, ft->n_out);
        ft->st.flows += ft->n_out;
        ft->n_out = 0;
    }
    return rc;
}

static int push(struct vigil_flowtab *ft, const struct flow *fl, int evicted,
                vigil_flow_emit_fn emit, void *user)
{
    features(ft, fl, &ft->out[ft->n_out++], evicted);
    return ft->n_out == ft->p.batch ? drain(ft, emit, user) : 0;
}

/* Emits every flow and empties the table, even when emit fails (its first code is returned). */
static int close_window(struct vigil_flowtab *ft, vigil_flow_emit_fn emit, void *user)
{
    int rc = 0;
    for (size_t e = 0; e < ft->n; e++) {
        int r = push(ft, &ft->slab[e], 0, emit, user);
        rc = rc ? rc : r;
        ft->idx[ft->slab[e].pos] = 0;
    }
    int r = drain(ft, emit, user);
    rc = rc ? rc : r;
    if (ft->started) {
        ft->st.windows++;
    }
    ft->n = 0;
    ft->started = 0;
    return rc;
}

static int evict_one(struct vigil_flowtab *ft, vigil_flow_emit_fn emit, void *user)
{
    size_t best = ft->cursor % ft->n;
    for (size_t k = 1; k < EVICT_CANDIDATES && k < ft->n; k++) {
        size_t e = (ft->cursor + k) % ft->n;
        if (ft->slab[e].last_ns < ft->slab[best].last_ns) {
            best = e;
        }
    }
    ft->cursor = (ft->cursor + EVICT_CANDIDATES) % ft->n;
    int rc = push(ft, &ft->slab[best], 1, emit, user);
    ft->st.evicted++;
    remove_flow(ft, best);
    return rc;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void port_set(uint64_t *bits, uint16_t port)
{
    uint32_t h = ((uint32_t)port * 0x9e3779b1u) >> 24; /* top 8 bits: 0..255 */
    bits[h >> 6] |= 1ULL << (h & 63);
}

int vigil_flowtab_add(struct vigil_flowtab *ft, const struct vigil_pkt *pkt,
                      vigil_flow_emit_fn emit, void *user)
{
    int rc = 0;
    int64_t w = floor_div(pkt->ts_ns, ft->p.window_ns) * ft->p.window_ns;
    if (!ft->started) {
        ft->win = w;
        ft->started = 1;
    } else if (w > ft->win) {
        rc = close_window(ft, emit, user);
        ft->win = w;
        ft->started = 1;
    } else if (w < ft->win) {
        ft->st.late++; /* reordered capture: counted into the current window */
    }
    ft->st.packets++;

    uint64_t h = key_hash(pkt->src, pkt->dst);
    size_t i = home(ft, h);
    struct flow *fl = NULL;
    for (uint32_t v; (v = ft->idx[i]) != 0; i = (i + 1) & ft->mask) {
        struct flow *c = &ft->slab[v - 1];
        if (c->hash == h && memcmp(c->src, pkt->src, 16) == 0 &&
            memcmp(c->dst, pkt->dst, 16) == 0) {
            fl = c;
            break;
        }
    }
    if (!fl) {
        if (ft->n == ft->p.max_flows) {
            int r = evict_one(ft, emit, user);
            rc = rc ? rc : r;
            /* The backward shift may have moved entries: find a free slot again. */
            i = home(ft, h);
            while (ft->idx[i] != 0) {
                i = (i + 1) & ft->mask;
            }
        }
        fl = &ft->slab[ft->n];
        memset(fl, 0, sizeof *fl);
        memcpy(fl->src, pkt->src, 16);
        memcpy(fl->dst, pkt->dst, 16);
        fl->hash = h;
        fl->pos = (uint32_t)i;
        fl->family = pkt->family;
        fl->first_ns = pkt->ts_ns;
        ft->idx[i] = (uint32_t)(++ft->n);
    }
    if (pkt->ts_ns < fl->first_ns) {
        fl->first_ns = pkt->ts_ns;
    }
    if (pkt->ts_ns > fl->last_ns || fl->pkts == 0) {
        fl->last_ns = pkt->ts_ns;
    }
    fl->pkts++;
    fl->bytes += pkt->ip_len;
    fl->size_sq += (double)pkt->ip_len * pkt->ip_len;
    fl->ttl_sum += pkt->ttl;
    fl->frags += pkt->frag;
    switch (pkt->proto) {
    case 6:
        fl->tcp++;
        if (pkt->l4) {
            uint8_t fb = pkt->tcp_flags;
            for (int b = 0; b < 8; b++) {
                fl->flags[b] += (fb >> b) & 1u;
            }
            fl->syn_only += (fb & (VIGIL_TCP_SYN | VIGIL_TCP_ACK)) == VIGIL_TCP_SYN;
            fl->tcp_noflags += fb == 0;
            port_set(fl->sport_bits, pkt->sport);
            port_set(fl->dport_bits, pkt->dport);
        }
        break;
    case 17:
        fl->udp++;
        if (pkt->l4) {
            port_set(fl->sport_bits, pkt->sport);
            port_set(fl->dport_bits, pkt->dport);
        }
        break;
    case 1:
    case 58:
        fl->icmp++;
        break;
    default:
        break;
    }
    return rc;
}

int vigil_flowtab_tick(struct vigil_flowtab *ft, int64_t now_ns, vigil_flow_emit_fn emit,
                       void *user)
{
    if (ft->started && now_ns >= ft->win + ft->p.window_ns) {
        return close_window(ft, emit, user);
    }
    return 0;
}

int vigil_flowtab_flush(struct vigil_flowtab *ft, vigil_flow_emit_fn emit, void *user)
{
    return close_window(ft, emit, user);
}
