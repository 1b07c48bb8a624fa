/*
 * Packet decoder: link layer (Ethernet with up to two VLAN tags, Linux cooked,
 * BSD loopback, raw IP), IPv4 and IPv6 (with extension headers), then the
 * TCP, UDP or ICMP header. It reads only what it needs, through one cursor
 * whose every step checks the captured length, so a hostile or truncated
 * frame yields a status, never an out-of-bounds read (tests/fuzz/fuzz_decode.c).
 *
 * It does not reassemble fragments or follow tunnels: a non-first fragment
 * counts as a packet of its protocol without ports, and encapsulated traffic
 * (GRE, IP-in-IP) counts as the outer packet.
 */
#include <stdio.h>
#include <string.h>

#include "vigil/flow.h"

#define ETH_HLEN 14
#define SLL_HLEN 16
#define VLAN_MAX 2
#define IP6_EXT_MAX 8

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static void map_v4(uint8_t out[16], const uint8_t *a)
{
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, a, 4);
}

/*
 * Transport header at p with `have` bytes captured and `decl` bytes declared
 * by the IP header. A header longer than decl is malformed; one longer than
 * what was captured is truncated.
 */
static enum vigil_pkt_status decode_l4(struct vigil_pkt *out, const uint8_t *p, size_t have,
                                       size_t decl)
{
    size_t need;
    switch (out->proto) {
    case 6:
        need = 20;
        break;
    case 17:
        need = 8;
        break;
    case 1:
    case 58:
        need = 4;
        break;
    default:
        return VIGIL_PKT_OK; /* another protocol: counted without ports */
    }
    if (decl < need) {
        return VIGIL_PKT_MALFORMED;
    }
    if (have < need) {
        return VIGIL_PKT_TRUNCATED;
    }
    if (out->proto == 6) {
        if ((p[12] >> 4) < 5) {
            return VIGIL_PKT_MALFORMED; /* data offset below the minimum header */
        }
        out->sport = rd16(p);
        out->dport = rd16(p + 2);
        out->tcp_flags = p[13];
    } else if (out->proto == 17) {
        out->sport = rd16(p);
        out->dport = rd16(p + 2);
    } else {
        out->icmp_type = p[0];
    }
    out->l4 = 1;
    return VIGIL_PKT_OK;
}

static enum vigil_pkt_status decode_ip4(struct vigil_pkt *out, const uint8_t *p, size_t have,
                                        size_t wire)
{
    if (have < 20) {
        return VIGIL_PKT_TRUNCATED;
    }
    if ((p[0] >> 4) != 4) {
        return VIGIL_PKT_MALFORMED;
    }
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    size_t tot = rd16(p + 2);
    if (tot == 0) {
        tot = wire; /* TCP segmentation offload leaves 0 in captures; trust the frame */
    }
    if (ihl < 20 || tot < ihl || tot > wire) {
        return VIGIL_PKT_MALFORMED;
    }
    if (have < ihl) {
        return VIGIL_PKT_TRUNCATED;
    }
    uint16_t fo = rd16(p + 6);
    out->family = 4;
    out->ip_len = (uint32_t)tot;
    out->ttl = p[8];
    out->proto = p[9];
    out->frag = (fo & 0x3fff) != 0; /* MF or a non-zero offset */
    map_v4(out->src, p + 12);
    map_v4(out->dst, p + 16);
    if ((fo & 0x1fff) != 0) {
        return VIGIL_PKT_OK; /* a later fragment carries no transport header */
    }
    size_t cap_l4 = have - ihl;
    if (cap_l4 > tot - ihl) {
        cap_l4 = tot - ihl; /* link-layer padding is not part of the datagram */
    }
    return decode_l4(out, p + ihl, cap_l4, tot - ihl);
}

static enum vigil_pkt_status decode_ip6(struct vigil_pkt *out, const uint8_t *p, size_t have,
                                        size_t wire)
{
    if (have < 40) {
        return VIGIL_PKT_TRUNCATED;
    }
    if ((p[0] >> 4) != 6) {
        return VIGIL_PKT_MALFORMED;
    }
    size_t plen = rd16(p + 4);
    if (plen == 0) {
        if (wire < 40) {
            return VIGIL_PKT_MALFORMED;
        }
        plen = wire - 40; /* jumbogram or offload: trust the frame */
    }
    if (40 + plen > wire) {
        return VIGIL_PKT_MALFORMED;
    }
    out->family = 6;
    out->ip_len = (uint32_t)(40 + plen);
    out->ttl = p[7];
    memcpy(out->src, p + 8, 16);
    memcpy(out->dst, p + 24, 16);
    uint8_t nh = p[6];
    size_t off = 40;
    size_t end = 40 + plen; /* declared end of the datagram */
    size_t cap_end = have < end ? have : end;
    for (int i = 0;; i++) {
        size_t len;
        switch (nh) {
        case 0:  /* hop-by-hop options */
        case 43: /* routing */
        case 60: /* destination options */
        case 51: /* authentication header */
            if (i >= IP6_EXT_MAX) {
                return VIGIL_PKT_MALFORMED;
            }
            if (end - off < 2) {
                return VIGIL_PKT_MALFORMED;
            }
            if (cap_end < off + 2) {
                return VIGIL_PKT_TRUNCATED;
            }
            len = nh == 51 ? ((size_t)p[off + 1] + 2) * 4 : ((size_t)p[off + 1] + 1) * 8;
            if (len > end - off) {
                return VIGIL_PKT_MALFORMED;
            }
            nh = p[off];
            off += len;
            continue;
        case 44: /* fragment */
            if (i >= IP6_EXT_MAX) {
                return VIGIL_PKT_MALFORMED;
            }
            if (end - off < 8) {
                return VIGIL_PKT_MALFORMED;
            }
            if (cap_end < off + 8) {
                return VIGIL_PKT_TRUNCATED;
            }
            out->frag = 1;
            nh = p[off];
            if ((rd16(p + off + 2) >> 3) != 0) {
                out->proto = nh;
                return VIGIL_PKT_OK; /* a later fragment */
            }
            off += 8;
            continue;
        default:
            break;
        }
        break;
    }
    out->proto = nh;
    /* off <= end holds: every step above checked len against end - off. */
    size_t cap_l4 = cap_end > off ? cap_end - off : 0;
    return decode_l4(out, p + off, cap_l4, end - off);
}

/* Dispatches on the IP version nibble (raw IP link types). */
static enum vigil_pkt_status decode_ip(struct vigil_pkt *out, const uint8_t *p, size_t have,
                                       size_t wire)
{
    if (have < 1) {
        return VIGIL_PKT_TRUNCATED;
    }
    switch (p[0] >> 4) {
    case 4:
        return decode_ip4(out, p, have, wire);
    case 6:
        return decode_ip6(out, p, have, wire);
    default:
        return VIGIL_PKT_NOT_IP;
    }
}

static enum vigil_pkt_status decode_ethertype(struct vigil_pkt *out, uint16_t type,
                                              const uint8_t *p, size_t have, size_t wire)
{
    switch (type) {
    case 0x0800:
        return decode_ip4(out, p, have, wire);
    case 0x86dd:
        return decode_ip6(out, p, have, wire);
    default:
        return VIGIL_PKT_NOT_IP;
    }
}

enum vigil_pkt_status vigil_pkt_decode(struct vigil_pkt *out, const uint8_t *p, size_t caplen,
                                       size_t wirelen, int linktype)
{
    int64_t ts = out->ts_ns;
    memset(out, 0, sizeof *out);
    out->ts_ns = ts; /* the caller's capture time survives */
    if (wirelen < caplen) {
        wirelen = caplen; /* a capture header that lies: never trust it below what we hold */
    }
    switch (linktype) {
    case VIGIL_LINK_ETHERNET: {
        if (caplen < ETH_HLEN) {
            return VIGIL_PKT_TRUNCATED;
        }
        size_t off = ETH_HLEN;
        uint16_t type = rd16(p + 12);
        for (int tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100; tags++) {
            if (tags >= VLAN_MAX) {
                return VIGIL_PKT_NOT_IP;
            }
            if (caplen - off < 4) {
                return VIGIL_PKT_TRUNCATED;
            }
            type = rd16(p + off + 2);
            off += 4;
        }
        return decode_ethertype(out, type, p + off, caplen - off, wirelen - off);
    }
    case VIGIL_LINK_LINUX_SLL:
        if (caplen < SLL_HLEN) {
            return VIGIL_PKT_TRUNCATED;
        }
        return decode_ethertype(out, rd16(p + 14), p + SLL_HLEN, caplen - SLL_HLEN,
                                wirelen - SLL_HLEN);
    case VIGIL_LINK_NULL: {
        if (caplen < 4) {
            return VIGIL_PKT_TRUNCATED;
        }
        /* The family is in the capturing host's byte order: accept both. */
        uint32_t le =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t be =
            (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
        uint32_t fam = le < 256 ? le : be;
        if (fam == 2) {
            return decode_ip4(out, p + 4, caplen - 4, wirelen - 4);
        }
        if (fam == 10 || fam == 24 || fam == 28 || fam == 30) {
            return decode_ip6(out, p + 4, caplen - 4, wirelen - 4);
        }
        return VIGIL_PKT_NOT_IP;
    }
    case VIGIL_LINK_RAW:
    case 12: /* LINKTYPE_RAW as some OpenBSD captures write it */
    case 14:
        return decode_ip(out, p, caplen, wirelen);
    case VIGIL_LINK_IPV4:
        return decode_ip4(out, p, caplen, wirelen);
    case VIGIL_LINK_IPV6:
        return decode_ip6(out, p, caplen, wirelen);
    default:
        return VIGIL_PKT_NOT_IP;
    }
}

void vigil_pkt_stats_count(struct vigil_pkt_stats *s, enum vigil_pkt_status st)
{
    s->seen++;
    switch (st) {
    case VIGIL_PKT_OK:
        s->ok++;
        break;
    case VIGIL_PKT_TRUNCATED:
        s->truncated++;
        break;
    case VIGIL_PKT_MALFORMED:
        s->malformed++;
        break;
    case VIGIL_PKT_NOT_IP:
        s->not_ip++;
        break;
    }
}

/* ---- addresses ---- */

static int is_v4_mapped(const uint8_t a[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, 12) == 0;
}

char *vigil_ip_format(const uint8_t addr[16], char *out, size_t n)
{
    if (is_v4_mapped(addr)) {
        snprintf(out, n, "%u.%u.%u.%u", addr[12], addr[13], addr[14], addr[15]);
        return out;
    }
    /* RFC 5952: lower case, longest run (>= 2) of zero groups as "::". */
    uint16_t g[8];
    for (int i = 0; i < 8; i++) {
        g[i] = rd16(addr + 2 * i);
    }
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0) {
            j++;
        }
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < 8 && k < n; i++) {
        if (i == best) {
            k += (size_t)snprintf(out + k, n - k, "::");
            i += best_len - 1;
            continue;
        }
        int sep = i > 0 && i != best + best_len;
        k += (size_t)snprintf(out + k, n - k, "%s%x", sep ? ":" : "", g[i]);
    }
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int parse_v4(const char *p, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || p[i] != '.') {
                return VIGIL_EPARSE;
            }
            i++;
        }
        unsigned v = 0;
        size_t digits = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(p[i++] - '0');
            digits++;
        }
        if (!digits || v > 255) {
            return VIGIL_EPARSE;
        }
        out[part] = (uint8_t)v;
    }
    return i == n ? 0 : VIGIL_EPARSE;
}

int vigil_ip_parse(const char *p, size_t n, uint8_t addr[16])
{
    uint8_t v4[4];
    if (memchr(p, ':', n) == NULL) {
        if (parse_v4(p, n, v4)) {
            return VIGIL_EPARSE;
        }
        map_v4(addr, v4);
        return 0;
    }
    uint16_t head[8], tail[8];
    size_t nh = 0, nt = 0, i = 0;
    int gap = 0;
    if (n >= 2 && p[0] == ':' && p[1] == ':') {
        gap = 1;
        i = 2;
    }
    while (i < n) {
        size_t j = i;
        unsigned v = 0;
        while (j < n && j - i < 4 && hexval(p[j]) >= 0) {
            v = v * 16 + (unsigned)hexval(p[j]);
            j++;
        }
        if (j == i || nh + nt >= 8) {
            return VIGIL_EPARSE;
        }
        if (gap) {
            tail[nt++] = (uint16_t)v;
        } else {
            head[nh++] = (uint16_t)v;
        }
        i = j;
        if (i == n) {
            break;
        }
        if (p[i] != ':') {
            return VIGIL_EPARSE;
        }
        i++;
        if (i < n && p[i] == ':') {
            if (gap) {
                return VIGIL_EPARSE;
            }
            gap = 1;
            i++;
        } else if (i == n) {
            return VIGIL_EPARSE; /* trailing single colon */
        }
    }
    if ((!gap && nh != 8) || (gap && nh + nt > 7)) {
        return VIGIL_EPARSE;
    }
    memset(addr, 0, 16);
    for (size_t k = 0; k < nh; k++) {
        addr[2 * k] = (uint8_t)(head[k] >> 8);
        addr[2 * k + 1] = (uint8_t)head[k];
    }
    for (size_t k = 0; k < nt; k++) {
        size_t at = 8 - nt + k;
        addr[2 * at] = (uint8_t)(tail[k] >> 8);
        addr[2 * at + 1] = (uint8_t)tail[k];
    }
    return 0;
}
