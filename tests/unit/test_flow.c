/*
 * Flow module tests: the packet decoder on hand-built frames (every link
 * type, VLAN tags, IPv6 extension headers, every truncation point, malformed
 * lengths), addresses, the flow table (windows, hand-computed features,
 * eviction, no allocation per packet, OOM sweep), record batches, and
 * capture files built here (classic pcap, pcapng, gzip, truncated, filters,
 * snap length), then the real SYN flood and scan captures when present.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"
#include "vigil/buf.h"
#include "vigil/bundle.h"
#include "vigil/capture.h"
#include "vigil/flow.h"
#include "vigil/flowdet.h"
#include "vigil/mem.h"

/* ---- frame builders ---- */

static size_t put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

/* Ethernet + optional VLAN tags + IPv4 + TCP/UDP/ICMP header and payload. Returns the length. */
static size_t build_v4(uint8_t *f, int vlans, uint8_t proto, const uint8_t src[4],
                       const uint8_t dst[4], uint16_t sport, uint16_t dport, uint8_t flags,
                       size_t payload)
{
    size_t off = 12;
    memset(f, 0, 12);
    for (int i = 0; i < vlans; i++) {
        off += put16(f + off, 0x8100);
        off += put16(f + off, 100 + (unsigned)i);
    }
    off += put16(f + off, 0x0800);
    uint8_t *ip = f + off;
    size_t l4 = proto == 6 ? 20 : proto == 17 ? 8 : 8;
    size_t tot = 20 + l4 + payload;
    memset(ip, 0, tot);
    ip[0] = 0x45;
    put16(ip + 2, (unsigned)tot);
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    uint8_t *t = ip + 20;
    if (proto == 6) {
        put16(t, sport);
        put16(t + 2, dport);
        t[12] = 5 << 4;
        t[13] = flags;
    } else if (proto == 17) {
        put16(t, sport);
        put16(t + 2, dport);
        put16(t + 4, (unsigned)(8 + payload));
    } else {
        t[0] = 8; /* echo request */
    }
    return off + tot;
}

static const uint8_t A[4] = {10, 0, 0, 1};
static const uint8_t B[4] = {10, 0, 0, 2};

static enum vigil_pkt_status dec(struct vigil_pkt *p, const uint8_t *f, size_t n, int link)
{
    memset(p, 0, sizeof *p);
    return vigil_pkt_decode(p, f, n, n, link);
}

/* ---- decoder ---- */

static void test_decode_ipv4_tcp_udp_icmp(void **state)
{
    (void)state;
    uint8_t f[256];
    struct vigil_pkt p;
    size_t n = build_v4(f, 0, 6, A, B, 1234, 80, VIGIL_TCP_SYN | VIGIL_TCP_ECE, 10);
    p.ts_ns = 42;
    assert_int_equal(vigil_pkt_decode(&p, f, n, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.ts_ns, 42); /* the caller's time is kept */
    assert_int_equal(p.family, 4);
    assert_int_equal(p.proto, 6);
    assert_int_equal(p.sport, 1234);
    assert_int_equal(p.dport, 80);
    assert_int_equal(p.tcp_flags, VIGIL_TCP_SYN | VIGIL_TCP_ECE);
    assert_int_equal(p.ip_len, 50);
    assert_int_equal(p.ttl, 64);
    assert_int_equal(p.l4, 1);
    assert_int_equal(p.src[10], 0xff);
    assert_int_equal(p.src[15], 1);
    assert_int_equal(p.dst[15], 2);

    n = build_v4(f, 0, 17, A, B, 53, 5353, 0, 4);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.dport, 5353);

    n = build_v4(f, 0, 1, A, B, 0, 0, 0, 0);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.icmp_type, 8);
    assert_int_equal(p.sport, 0);

    /* Ethernet padding after a short datagram is not part of it. */
    n = build_v4(f, 0, 17, A, B, 1, 2, 0, 0);
    memset(f + n, 0xaa, 60 - n);
    assert_int_equal(dec(&p, f, 60, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.ip_len, 28);
}

static void test_decode_vlan_tags(void **state)
{
    (void)state;
    uint8_t f[256];
    struct vigil_pkt p;
    size_t n = build_v4(f, 1, 6, A, B, 1, 2, VIGIL_TCP_ACK, 0);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.dport, 2);
    n = build_v4(f, 2, 6, A, B, 1, 3, VIGIL_TCP_ACK, 0);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.dport, 3);
    /* A third tag is beyond what we follow: skipped as not IP, not misread. */
    n = build_v4(f, 3, 6, A, B, 1, 3, VIGIL_TCP_ACK, 0);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_NOT_IP);
    /* ARP. */
    memset(f, 0, 60);
    put16(f + 12, 0x0806);
    assert_int_equal(dec(&p, f, 60, VIGIL_LINK_ETHERNET), VIGIL_PKT_NOT_IP);
    /* An unknown link type. */
    assert_int_equal(dec(&p, f, 60, 9999), VIGIL_PKT_NOT_IP);
}

static void test_decode_other_link_types(void **state)
{
    (void)state;
    uint8_t f[256], g[256];
    struct vigil_pkt p;
    size_t n = build_v4(f, 0, 17, A, B, 7, 9, 0, 3);
    size_t ipn = n - 14;
    /* Raw IP. */
    assert_int_equal(dec(&p, f + 14, ipn, VIGIL_LINK_RAW), VIGIL_PKT_OK);
    assert_int_equal(p.dport, 9);
    assert_int_equal(dec(&p, f + 14, ipn, VIGIL_LINK_IPV4), VIGIL_PKT_OK);
    /* Linux cooked: 16-byte header, protocol at offset 14. */
    memset(g, 0, 16);
    put16(g + 14, 0x0800);
    memcpy(g + 16, f + 14, ipn);
    assert_int_equal(dec(&p, g, 16 + ipn, VIGIL_LINK_LINUX_SLL), VIGIL_PKT_OK);
    assert_int_equal(p.sport, 7);
    /* BSD loopback, family 2 in either byte order. */
    uint8_t le[4] = {2, 0, 0, 0}, be[4] = {0, 0, 0, 2};
    memcpy(g, le, 4);
    memcpy(g + 4, f + 14, ipn);
    assert_int_equal(dec(&p, g, 4 + ipn, VIGIL_LINK_NULL), VIGIL_PKT_OK);
    memcpy(g, be, 4);
    assert_int_equal(dec(&p, g, 4 + ipn, VIGIL_LINK_NULL), VIGIL_PKT_OK);
    g[3] = 99;
    assert_int_equal(dec(&p, g, 4 + ipn, VIGIL_LINK_NULL), VIGIL_PKT_NOT_IP);
}

/* IPv6 + hop-by-hop (8 bytes) + fragment header + UDP. */
static size_t build_v6(uint8_t *f, uint16_t frag_off_units, int more)
{
    memset(f, 0, 200);
    put16(f + 12, 0x86dd);
    uint8_t *ip = f + 14;
    ip[0] = 0x60;
    size_t plen = 8 + 8 + 8 + 4;
    put16(ip + 4, (unsigned)plen);
    ip[6] = 0; /* hop-by-hop */
    ip[7] = 33;
    ip[8] = 0x20;
    ip[9] = 0x01;
    ip[23] = 1; /* 2001::1 */
    ip[24] = 0x20;
    ip[25] = 0x01;
    ip[39] = 2;
    uint8_t *h = ip + 40;
    h[0] = 44; /* next: fragment */
    h[1] = 0;  /* (0 + 1) * 8 bytes */
    uint8_t *fr = h + 8;
    fr[0] = 17;
    put16(fr + 2, (unsigned)(frag_off_units << 3 | (more ? 1 : 0)));
    uint8_t *u = fr + 8;
    put16(u, 4000);
    put16(u + 2, 53);
    put16(u + 4, 12);
    return 14 + 40 + plen;
}

static void test_decode_ipv6_extension_headers(void **state)
{
    (void)state;
    uint8_t f[256];
    struct vigil_pkt p;
    size_t n = build_v6(f, 0, 1);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.family, 6);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.sport, 4000);
    assert_int_equal(p.dport, 53);
    assert_int_equal(p.frag, 1);
    assert_int_equal(p.ttl, 33);
    assert_int_equal(p.ip_len, 40 + 28);
    char s[64];
    assert_string_equal(vigil_ip_format(p.src, s, sizeof s), "2001::1");
    /* A later fragment: protocol known, no ports. */
    n = build_v6(f, 5, 0);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.l4, 0);
    assert_int_equal(p.dport, 0);
    /* An extension header whose length runs past the payload. */
    n = build_v6(f, 0, 1);
    f[14 + 40 + 1] = 200;
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_MALFORMED);
    /* A chain of nine extension headers is refused. */
    n = build_v6(f, 0, 1);
    uint8_t *ip = f + 14;
    put16(ip + 4, 9 * 8 + 8);
    for (int i = 0; i < 9; i++) {
        ip[40 + 8 * i] = i < 8 ? 60 : 17;
        ip[40 + 8 * i + 1] = 0;
    }
    n = 14 + 40 + 9 * 8 + 8;
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_MALFORMED);
}

static void test_decode_every_truncation_is_caught(void **state)
{
    (void)state;
    uint8_t f[256];
    struct vigil_pkt p;
    struct {
        size_t n;
        size_t need; /* bytes the decoder needs for OK */
    } cases[3];
    cases[0].n = build_v4(f, 1, 6, A, B, 1, 2, VIGIL_TCP_SYN, 30);
    cases[0].need = 18 + 20 + 20;
    for (size_t k = 0; k < cases[0].n; k++) {
        enum vigil_pkt_status st = vigil_pkt_decode(&p, f, k, cases[0].n, VIGIL_LINK_ETHERNET);
        if (k < cases[0].need) {
            assert_int_equal(st, VIGIL_PKT_TRUNCATED);
        } else {
            assert_int_equal(st, VIGIL_PKT_OK);
        }
    }
    uint8_t g[256];
    size_t n6 = build_v6(g, 0, 1);
    for (size_t k = 0; k < n6; k++) {
        enum vigil_pkt_status st = vigil_pkt_decode(&p, g, k, n6, VIGIL_LINK_ETHERNET);
        assert_int_equal(st, k < n6 - 4 ? VIGIL_PKT_TRUNCATED : VIGIL_PKT_OK); /* 4 B payload */
    }
    assert_int_equal(vigil_pkt_decode(&p, g, n6, n6, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    /* Zero bytes, NULL-safe for every link type. */
    int links[] = {VIGIL_LINK_ETHERNET, VIGIL_LINK_RAW,  VIGIL_LINK_LINUX_SLL,
                   VIGIL_LINK_NULL,     VIGIL_LINK_IPV4, VIGIL_LINK_IPV6};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        enum vigil_pkt_status st = vigil_pkt_decode(&p, f, 0, 0, links[i]);
        assert_true(st == VIGIL_PKT_TRUNCATED);
    }
}

static void test_decode_malformed_lengths(void **state)
{
    (void)state;
    uint8_t f[256];
    struct vigil_pkt p;
    size_t n = build_v4(f, 0, 6, A, B, 1, 2, VIGIL_TCP_SYN, 0);
    f[14] = 0x44; /* IHL 4: below the minimum */
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_MALFORMED);
    n = build_v4(f, 0, 6, A, B, 1, 2, VIGIL_TCP_SYN, 0);
    put16(f + 16, 1500); /* total length beyond the frame */
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_MALFORMED);
    n = build_v4(f, 0, 6, A, B, 1, 2, VIGIL_TCP_SYN, 0);
    put16(f + 16, 30); /* datagram too short for a TCP header */
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_MALFORMED);
    n = build_v4(f, 0, 6, A, B, 1, 2, VIGIL_TCP_SYN, 0);
    f[14 + 20 + 12] = 4 << 4; /* TCP data offset 4 */
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_MALFORMED);
    n = build_v4(f, 0, 6, A, B, 1, 2, VIGIL_TCP_SYN, 0);
    f[14] = 0x65; /* version 6 in an IPv4 ethertype */
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_MALFORMED);
    /* A wire length below the captured length is not trusted below what we hold. */
    n = build_v4(f, 0, 6, A, B, 1, 2, VIGIL_TCP_SYN, 0);
    assert_int_equal(vigil_pkt_decode(&p, f, n, 3, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    /* A fragment with offset: no ports, frag set. */
    n = build_v4(f, 0, 17, A, B, 1, 2, 0, 16);
    put16(f + 14 + 6, 0x0002);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.frag, 1);
    assert_int_equal(p.l4, 0);
    /* Total length 0 (segmentation offload): the frame's length is used. */
    n = build_v4(f, 0, 6, A, B, 1, 2, VIGIL_TCP_ACK, 100);
    put16(f + 16, 0);
    assert_int_equal(dec(&p, f, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    assert_int_equal(p.ip_len, n - 14);
}

static void test_ip_format_and_parse(void **state)
{
    (void)state;
    const char *good[] = {
        "192.0.2.1", "0.0.0.0",       "255.255.255.255", "::1",           "::", "2001:db8::1",
        "1::",       "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "2001:db8:0:1::"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint8_t a[16];
        char s[64];
        assert_int_equal(vigil_ip_parse(good[i], strlen(good[i]), a), 0);
        assert_string_equal(vigil_ip_format(a, s, sizeof s), good[i]);
    }
    const char *bad[] = {"",        "1.2.3", "1.2.3.4.5",         "256.1.1.1", "1..2.3",
                         "a.b.c.d", ":::",   "1:2:3:4:5:6:7:8:9", "1::2::3",   "12345::",
                         "1:",      "g::1",  "1.2.3.4 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t a[16];
        assert_int_equal(vigil_ip_parse(bad[i], strlen(bad[i]), a), VIGIL_EPARSE);
    }
}

/* ---- flow table ---- */

struct sink {
    struct vigil_flow_rec recs[256];
    size_t n;
    size_t calls;
    int fail_with;
};

static int sink_emit(void *user, const struct vigil_flow_rec *recs, size_t n)
{
    struct sink *s = user;
    s->calls++;
    for (size_t i = 0; i < n && s->n < 256; i++) {
        s->recs[s->n++] = recs[i];
    }
    return s->fail_with;
}

static void mkpkt(struct vigil_pkt *p, int64_t ts, uint8_t s, uint8_t d, uint8_t proto,
                  uint16_t sport, uint16_t dport, uint8_t flags, uint32_t len)
{
    memset(p, 0, sizeof *p);
    uint8_t sa[4] = {10, 0, 0, s}, da[4] = {10, 0, 1, d};
    uint8_t f[256];
    size_t n = build_v4(f, 0, proto, sa, da, sport, dport, flags, 0);
    p->ts_ns = ts;
    assert_int_equal(vigil_pkt_decode(p, f, n, n, VIGIL_LINK_ETHERNET), VIGIL_PKT_OK);
    p->ip_len = len;
}

static const struct vigil_flow_rec *find_rec(const struct sink *s, uint8_t src, uint8_t dst)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->recs[i].src[15] == src && s->recs[i].dst[15] == dst) {
            return &s->recs[i];
        }
    }
    return NULL;
}

static void test_flowtab_features_by_hand(void **state)
{
    (void)state;
    struct vigil_flow_params fp;
    vigil_flow_params_default(&fp);
    struct vigil_flowtab *ft;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), 0);
    struct sink s = {0};
    struct vigil_pkt p;
    const int64_t t0 = 1000LL * 1000000000LL; /* window [1000 s, 1002 s) */
    /* Flow 1 -> 1: SYN 40 B, SYN|ACK... no: SYN, ACK, ACK|PSH|FIN, UDP 100 B, ICMP 60 B. */
    mkpkt(&p, t0 + 100000000, 1, 1, 6, 5000, 80, VIGIL_TCP_SYN, 40);
    assert_int_equal(vigil_flowtab_add(ft, &p, sink_emit, &s), 0);
    mkpkt(&p, t0 + 200000000, 1, 1, 6, 5000, 80, VIGIL_TCP_ACK, 40);
    vigil_flowtab_add(ft, &p, sink_emit, &s);
    mkpkt(&p, t0 + 300000000, 1, 1, 6, 5001, 443, VIGIL_TCP_ACK | VIGIL_TCP_PSH | VIGIL_TCP_FIN,
          80);
    vigil_flowtab_add(ft, &p, sink_emit, &s);
    mkpkt(&p, t0 + 400000000, 1, 1, 17, 53, 53, 0, 100);
    vigil_flowtab_add(ft, &p, sink_emit, &s);
    mkpkt(&p, t0 + 1100000000, 1, 1, 1, 0, 0, 0, 60);
    vigil_flowtab_add(ft, &p, sink_emit, &s);
    mkpkt(&p, t0 + 1200000000, 1, 1, 6, 5002, 22, 0, 40); /* a NULL-scan packet */
    vigil_flowtab_add(ft, &p, sink_emit, &s);
    /* Another pair in the same window. */
    mkpkt(&p, t0 + 500000000, 2, 1, 6, 1, 2, VIGIL_TCP_RST, 40);
    vigil_flowtab_add(ft, &p, sink_emit, &s);
    assert_int_equal(s.n, 0); /* nothing emitted before the window closes */
    /* A packet of the next window closes this one. */
    mkpkt(&p, t0 + 2000000000, 1, 1, 6, 5000, 80, VIGIL_TCP_ACK, 40);
    assert_int_equal(vigil_flowtab_add(ft, &p, sink_emit, &s), 0);
    assert_int_equal(s.n, 2);
    const struct vigil_flow_rec *r = find_rec(&s, 1, 1);
    assert_non_null(r);
    const float *f = r->f;
    /* 6 packets: sizes 40 40 80 100 60 40 -> sum 360, mean 60, E[x^2] = 24800 / 6. */
    assert_true(r->win_ns == t0);
    assert_float_equal(f[VIGIL_FF_PKTS], 6, 0);
    assert_float_equal(f[VIGIL_FF_BYTES], 360, 0);
    assert_float_equal(f[VIGIL_FF_DURATION], 1.1f, 1e-6);
    assert_float_equal(f[VIGIL_FF_PKT_RATE], 3, 1e-6);    /* 6 / 2 s */
    assert_float_equal(f[VIGIL_FF_BYTE_RATE], 180, 1e-4); /* 360 / 2 s */
    assert_float_equal(f[VIGIL_FF_TCP_RATE], 2, 1e-6);    /* 4 TCP / 2 s */
    assert_float_equal(f[VIGIL_FF_UDP_RATE], 0.5f, 1e-6);
    assert_float_equal(f[VIGIL_FF_ICMP_RATE], 0.5f, 1e-6);
    assert_float_equal(f[VIGIL_FF_SIZE_MEAN], 60, 1e-4);
    assert_float_equal(f[VIGIL_FF_SIZE_VAR], 24800.0 / 6 - 3600, 1e-3);
    assert_float_equal(f[VIGIL_FF_SRC_PORTS], 4, 0); /* 5000 5001 53 5002 */
    assert_float_equal(f[VIGIL_FF_DST_PORTS], 4, 0); /* 80 443 53 22 */
    assert_float_equal(f[VIGIL_FF_SYN], 1, 0);
    assert_float_equal(f[VIGIL_FF_ACK], 2, 0);
    assert_float_equal(f[VIGIL_FF_FIN], 1, 0);
    assert_float_equal(f[VIGIL_FF_PSH], 1, 0);
    assert_float_equal(f[VIGIL_FF_RST], 0, 0);
    assert_float_equal(f[VIGIL_FF_SYN_ONLY], 1, 0);
    assert_float_equal(f[VIGIL_FF_TCP_NOFLAGS], 1, 0);
    assert_float_equal(f[VIGIL_FF_FRAGS], 0, 0);
    assert_float_equal(f[VIGIL_FF_TTL_MEAN], 64, 0);
    r = find_rec(&s, 2, 1);
    assert_non_null(r);
    assert_float_equal(r->f[VIGIL_FF_RST], 1, 0);
    assert_float_equal(r->f[VIGIL_FF_DURATION], 0, 0);

    /* A late packet (previous window) is counted into the current one. */
    mkpkt(&p, t0 + 100, 1, 1, 6, 5000, 80, VIGIL_TCP_ACK, 40);
    vigil_flowtab_add(ft, &p, sink_emit, &s);
    /* tick before the end keeps the window; after the end closes it. */
    assert_int_equal(vigil_flowtab_tick(ft, t0 + 3000000000LL, sink_emit, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(vigil_flowtab_tick(ft, t0 + 4000000000LL, sink_emit, &s), 0);
    assert_int_equal(s.n, 3);
    assert_float_equal(s.recs[2].f[VIGIL_FF_PKTS], 2, 0);
    struct vigil_flowtab_stats st;
    vigil_flowtab_stats(ft, &st);
    assert_int_equal(st.packets, 9);
    assert_int_equal(st.flows, 3);
    assert_int_equal(st.windows, 2);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.evicted, 0);
    /* flush on an empty table emits nothing. */
    assert_int_equal(vigil_flowtab_flush(ft, sink_emit, &s), 0);
    assert_int_equal(s.n, 3);
    vigil_flowtab_free(ft);
    vigil_flowtab_free(NULL);
}

static void test_flowtab_eviction_keeps_every_packet(void **state)
{
    (void)state;
    struct vigil_flow_params fp;
    vigil_flow_params_default(&fp);
    fp.max_flows = 4;
    fp.batch = 3;
    struct vigil_flowtab *ft;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), 0);
    struct sink s = {0};
    struct vigil_pkt p;
    size_t sent = 0;
    /* 40 distinct sources, each seen 1..3 times, all in one window. */
    for (int round = 0; round < 3; round++) {
        for (int src = 1; src <= 40; src++) {
            if (round > 0 && src % (round + 1) != 0) {
                continue;
            }
            mkpkt(&p, 1000000 + round * 1000 + src, (uint8_t)src, 9, 6, 1, 2, VIGIL_TCP_SYN, 40);
            assert_int_equal(vigil_flowtab_add(ft, &p, sink_emit, &s), 0);
            sent++;
        }
    }
    assert_int_equal(vigil_flowtab_flush(ft, sink_emit, &s), 0);
    struct vigil_flowtab_stats st;
    vigil_flowtab_stats(ft, &st);
    double total = 0;
    size_t evicted = 0;
    for (size_t i = 0; i < s.n; i++) {
        total += (double)s.recs[i].f[VIGIL_FF_PKTS];
        evicted += s.recs[i].evicted;
    }
    assert_true(total == (double)sent);
    assert_int_equal(st.packets, sent);
    assert_int_equal(st.flows, s.n);
    assert_int_equal(st.evicted, evicted);
    assert_true(st.evicted >= 40 - 4);
    assert_true(s.calls >= s.n / 3);
    vigil_flowtab_free(ft);
}

static void test_flowtab_emit_error_propagates(void **state)
{
    (void)state;
    struct vigil_flow_params fp;
    vigil_flow_params_default(&fp);
    struct vigil_flowtab *ft;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), 0);
    struct sink s = {.fail_with = -EIO};
    struct vigil_pkt p;
    mkpkt(&p, 1, 1, 1, 6, 1, 2, 0, 40);
    assert_int_equal(vigil_flowtab_add(ft, &p, sink_emit, &s), 0);
    mkpkt(&p, 5000000000LL, 1, 1, 6, 1, 2, 0, 40);
    assert_int_equal(vigil_flowtab_add(ft, &p, sink_emit, &s), -EIO);
    /* The window still closed: the new packet started a fresh one. */
    s.fail_with = 0;
    assert_int_equal(vigil_flowtab_flush(ft, sink_emit, &s), 0);
    assert_float_equal(s.recs[s.n - 1].f[VIGIL_FF_PKTS], 1, 0);
    vigil_flowtab_free(ft);
}

static void test_flowtab_no_allocation_per_packet(void **state)
{
    (void)state;
    struct vigil_flow_params fp;
    vigil_flow_params_default(&fp);
    fp.max_flows = 512;
    struct vigil_flowtab *ft;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), 0);
    struct sink s = {0};
    struct vigil_pkt pk[64];
    for (int i = 0; i < 64; i++) {
        mkpkt(&pk[i], 0, (uint8_t)i, (uint8_t)(i * 7), 6, (uint16_t)i, 80, VIGIL_TCP_SYN, 40);
    }
    tu_alloc_fail_at(0);
    for (int i = 0; i < 100000; i++) {
        struct vigil_pkt p = pk[i % 64];
        p.ts_ns = (int64_t)i * 100000; /* 10 us apart: 50 windows, ~1500 flows */
        p.src[14] = (uint8_t)(i >> 8);
        assert_int_equal(vigil_flowtab_add(ft, &p, sink_emit, &s), 0);
    }
    vigil_flowtab_flush(ft, sink_emit, &s);
    assert_int_equal(tu_alloc_calls(), 0);
    tu_alloc_reset();
    struct vigil_flowtab_stats st;
    vigil_flowtab_stats(ft, &st);
    assert_true(st.evicted > 0);
    assert_int_equal(st.windows, 5);
    vigil_flowtab_free(ft);
}

static void test_flowtab_bad_params_and_oom(void **state)
{
    (void)state;
    struct vigil_flow_params fp;
    struct vigil_flowtab *ft;
    vigil_flow_params_default(&fp);
    fp.window_ns = 0;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), -EINVAL);
    vigil_flow_params_default(&fp);
    fp.max_flows = 0;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), -EINVAL);
    vigil_flow_params_default(&fp);
    fp.batch = 0;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), -EINVAL);
    vigil_flow_params_default(&fp);
    for (long k = 1;; k++) {
        tu_alloc_fail_at(k);
        int rc = vigil_flowtab_new(&ft, &fp);
        vigil_flowtab_free(rc == 0 ? ft : NULL);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 10);
    }
}

static void test_feature_names(void **state)
{
    (void)state;
    assert_string_equal(vigil_flow_feature_name(0), "pkts");
    assert_string_equal(vigil_flow_feature_name(VIGIL_FF_SYN_ONLY), "syn_only");
    assert_string_equal(vigil_flow_feature_name(VIGIL_FLOW_F - 1), "ttl_mean");
    assert_null(vigil_flow_feature_name(VIGIL_FLOW_F));
    for (size_t i = 0; i < VIGIL_FLOW_F; i++) {
        for (size_t j = i + 1; j < VIGIL_FLOW_F; j++) {
            assert_string_not_equal(vigil_flow_feature_name(i), vigil_flow_feature_name(j));
        }
    }
}

/* ---- batches ---- */

static void test_batch_roundtrip_and_rejects(void **state)
{
    (void)state;
    struct vigil_flow_rec in[3], out[3];
    memset(in, 0, sizeof in);
    for (int i = 0; i < 3; i++) {
        in[i].win_ns = 1234567890123LL + i;
        in[i].src[15] = (uint8_t)i;
        in[i].dst[0] = 0x20;
        in[i].family = i == 1 ? 6 : 4;
        in[i].evicted = i == 2;
        for (int j = 0; j < VIGIL_FLOW_F; j++) {
            in[i].f[j] = (float)(i * 100 + j) / 7.0f;
        }
    }
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_flow_batch_encode(&b, "sensor-a", 77, in, 3), 0);
    struct vigil_flow_batch_hdr h;
    assert_int_equal(vigil_flow_batch_decode(b.p, b.len, &h, out, 3), 0);
    assert_string_equal(h.sensor, "sensor-a");
    assert_true(h.seq == 77);
    assert_int_equal(h.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(out[i].win_ns == in[i].win_ns);
        assert_memory_equal(out[i].src, in[i].src, 16);
        assert_memory_equal(out[i].dst, in[i].dst, 16);
        assert_int_equal(out[i].family, in[i].family);
        assert_int_equal(out[i].evicted, in[i].evicted);
        assert_memory_equal(out[i].f, in[i].f, sizeof in[i].f);
    }
    assert_int_equal(vigil_flow_batch_decode(b.p, b.len, &h, out, 2), VIGIL_ESHAPE);
    /* Every truncation and one extra byte are rejected. */
    for (size_t k = 0; k < b.len; k++) {
        assert_int_equal(vigil_flow_batch_decode(b.p, k, &h, out, 3), VIGIL_EFORMAT);
    }
    char *big = vigil_malloc(b.len + 1);
    memcpy(big, b.p, b.len);
    big[b.len] = 0;
    assert_int_equal(vigil_flow_batch_decode(big, b.len + 1, &h, out, 3), VIGIL_EFORMAT);
    vigil_free(big);
    /* A NaN feature, a bad family, a bad magic. */
    float nan = NAN;
    size_t hdr = b.len - 3 * (42 + 4 * VIGIL_FLOW_F);
    char saved[4];
    memcpy(saved, b.p + hdr + 42, 4);
    memcpy(b.p + hdr + 42, &nan, 4);
    assert_int_equal(vigil_flow_batch_decode(b.p, b.len, &h, out, 3), VIGIL_EFORMAT);
    memcpy(b.p + hdr + 42, saved, 4);
    b.p[hdr + 40] = 5;
    assert_int_equal(vigil_flow_batch_decode(b.p, b.len, &h, out, 3), VIGIL_EFORMAT);
    b.p[hdr + 40] = 4;
    b.p[0] = 'X';
    assert_int_equal(vigil_flow_batch_decode(b.p, b.len, &h, out, 3), VIGIL_EFORMAT);
    /* An empty batch is valid. */
    vigil_buf_reset(&b);
    assert_int_equal(vigil_flow_batch_encode(&b, NULL, 0, in, 0), 0);
    assert_int_equal(vigil_flow_batch_decode(b.p, b.len, &h, out, 3), 0);
    assert_int_equal(h.n, 0);
    vigil_buf_fini(&b);
}

/* ---- capture files ---- */

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* A classic pcap (microseconds) with frames f[i] of n[i] bytes at t = i seconds + 250 us. */
static size_t build_pcap(uint8_t *out, uint8_t frames[][128], const size_t *n, int count)
{
    le32(out, 0xa1b2c3d4);
    le16(out + 4, 2);
    le16(out + 6, 4);
    le32(out + 8, 0);
    le32(out + 12, 0);
    le32(out + 16, 65535);
    le32(out + 20, VIGIL_LINK_ETHERNET);
    size_t off = 24;
    for (int i = 0; i < count; i++) {
        le32(out + off, 1700000000u + (uint32_t)i);
        le32(out + off + 4, 250);
        le32(out + off + 8, (uint32_t)n[i]);
        le32(out + off + 12, (uint32_t)n[i]);
        memcpy(out + off + 16, frames[i], n[i]);
        off += 16 + n[i];
    }
    return off;
}

static size_t build_pcapng(uint8_t *out, uint8_t frames[][128], const size_t *n, int count)
{
    size_t off = 0;
    le32(out, 0x0a0d0d0a); /* section header */
    le32(out + 4, 28);
    le32(out + 8, 0x1a2b3c4d);
    le16(out + 12, 1);
    le16(out + 14, 0);
    memset(out + 16, 0xff, 8);
    le32(out + 24, 28);
    off = 28;
    le32(out + off, 1); /* interface description */
    le32(out + off + 4, 20);
    le16(out + off + 8, VIGIL_LINK_ETHERNET);
    le16(out + off + 10, 0);
    le32(out + off + 12, 65535);
    le32(out + off + 16, 20);
    off += 20;
    for (int i = 0; i < count; i++) {
        size_t padded = (n[i] + 3) & ~(size_t)3;
        uint32_t blen = (uint32_t)(32 + padded);
        uint64_t us = (uint64_t)(1700000000u + (uint32_t)i) * 1000000u + 250;
        le32(out + off, 6); /* enhanced packet block */
        le32(out + off + 4, blen);
        le32(out + off + 8, 0);
        le32(out + off + 12, (uint32_t)(us >> 32));
        le32(out + off + 16, (uint32_t)us);
        le32(out + off + 20, (uint32_t)n[i]);
        le32(out + off + 24, (uint32_t)n[i]);
        memset(out + off + 28, 0, padded);
        memcpy(out + off + 28, frames[i], n[i]);
        le32(out + off + 28 + padded, blen);
        off += blen;
    }
    return off;
}

struct count_sink {
    size_t recs;
    double pkts;
    double udp;
};

static int count_emit(void *user, const struct vigil_flow_rec *recs, size_t n)
{
    struct count_sink *c = user;
    for (size_t i = 0; i < n; i++) {
        c->recs++;
        c->pkts += (double)recs[i].f[VIGIL_FF_PKTS];
        c->udp += (double)recs[i].f[VIGIL_FF_UDP_RATE] * 2;
    }
    return 0;
}

/* Reads path with filter/snaplen into a fresh table; returns feed's rc. */
static int read_capture(const char *path, const char *filter, int snaplen,
                        struct vigil_pkt_stats *ps, struct count_sink *cs)
{
    struct vigil_capture_params cp;
    vigil_capture_params_default(&cp);
    cp.filter = filter;
    if (snaplen) {
        cp.snaplen = snaplen;
    }
    struct vigil_capture *c;
    struct vigil_diag d;
    int rc = vigil_capture_open_file(&c, path, &cp, &d);
    if (rc) {
        return rc;
    }
    assert_int_equal(vigil_capture_linktype(c), VIGIL_LINK_ETHERNET);
    assert_int_equal(vigil_capture_dropped(c), 0);
    struct vigil_flow_params fp;
    vigil_flow_params_default(&fp);
    struct vigil_flowtab *ft;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), 0);
    memset(ps, 0, sizeof *ps);
    memset(cs, 0, sizeof *cs);
    rc = vigil_capture_feed(c, ft, count_emit, cs, ps, NULL, &d);
    vigil_flowtab_flush(ft, count_emit, cs);
    vigil_flowtab_free(ft);
    vigil_capture_close(c);
    return rc;
}

static void test_capture_files(void **state)
{
    (void)state;
    uint8_t frames[4][128];
    size_t n[4];
    n[0] = build_v4(frames[0], 0, 6, A, B, 1, 80, VIGIL_TCP_SYN, 0);
    n[1] = build_v4(frames[1], 0, 17, A, B, 2, 53, 0, 8);
    n[2] = build_v4(frames[2], 1, 6, B, A, 80, 1, VIGIL_TCP_SYN | VIGIL_TCP_ACK, 0);
    memset(frames[3], 0, 60);
    put16(frames[3] + 12, 0x0806); /* ARP */
    n[3] = 60;
    static uint8_t file[4096];
    const char *dir = tu_tmpdir();
    struct vigil_pkt_stats ps;
    struct count_sink cs;

    size_t len = build_pcap(file, frames, n, 4);
    const char *pcap = tu_write_file(dir, "a.pcap", (const char *)file, len);
    assert_int_equal(read_capture(pcap, NULL, 0, &ps, &cs), 0);
    assert_int_equal(ps.seen, 4);
    assert_int_equal(ps.ok, 3);
    assert_int_equal(ps.not_ip, 1);
    assert_true(cs.pkts == 3);
    /* Frames 0 and 1 (A->B) share window 1700000000; frame 2 (B->A) is in the next one. */
    assert_int_equal(cs.recs, 2);

    /* A BPF filter; a bad filter names itself. */
    assert_int_equal(read_capture(pcap, "udp", 0, &ps, &cs), 0);
    assert_int_equal(ps.seen, 1);
    assert_true(cs.udp == 1);
    struct vigil_capture *c;
    struct vigil_capture_params cp;
    vigil_capture_params_default(&cp);
    cp.filter = "port port";
    struct vigil_diag d;
    assert_int_equal(vigil_capture_open_file(&c, pcap, &cp, &d), VIGIL_EPARSE);
    assert_non_null(strstr(d.msg, "port port"));

    /* A short snap length truncates the TCP headers. */
    assert_int_equal(read_capture(pcap, NULL, 40, &ps, &cs), 0);
    assert_int_equal(ps.truncated, 3);
    assert_int_equal(ps.ok, 0);

    /* The same capture as pcapng, and gzip'd. */
    size_t len_ng = build_pcapng(file, frames, n, 4);
    const char *ng = tu_write_file(dir, "a.pcapng", (const char *)file, len_ng);
    assert_int_equal(read_capture(ng, NULL, 0, &ps, &cs), 0);
    assert_int_equal(ps.ok, 3);
    assert_int_equal(cs.recs, 2);
    len = build_pcap(file, frames, n, 4);
    char gzpath[512];
    snprintf(gzpath, sizeof gzpath, "%s/a.pcap.gz", dir);
    gzFile gz = gzopen(gzpath, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, file, (unsigned)len), (int)len);
    gzclose(gz);
    assert_int_equal(read_capture(gzpath, NULL, 0, &ps, &cs), 0);
    assert_int_equal(ps.ok, 3);

    /* A truncated last record: frames before it are delivered, then -EIO. */
    const char *cut = tu_write_file(dir, "cut.pcap", (const char *)file, len - 10);
    assert_int_equal(read_capture(cut, NULL, 0, &ps, &cs), -EIO);
    assert_int_equal(ps.seen, 3);

    /* Not a capture; a missing file; an empty file. */
    const char *txt = tu_write_file(dir, "x.txt", "hello world, not a pcap\n", 24);
    assert_int_equal(vigil_capture_open_file(&c, txt, &cp, &d), VIGIL_EFORMAT);
    const char *empty = tu_write_file(dir, "e.pcap", "", 0);
    assert_int_equal(vigil_capture_open_file(&c, empty, &cp, &d), VIGIL_EFORMAT);
    assert_int_equal(vigil_capture_open_file(&c, "/nonexistent/x.pcap", &cp, &d), -ENOENT);
    vigil_capture_close(NULL);
}

static void test_capture_live_bad_interface(void **state)
{
    (void)state;
    struct vigil_capture *c;
    struct vigil_capture_params cp;
    vigil_capture_params_default(&cp);
    struct vigil_diag d;
    int rc = vigil_capture_open_live(&c, "vigil-no-such-if0", &cp, &d);
    assert_true(rc == -ENODEV || rc == -EPERM || rc == -EIO);
    assert_true(d.msg[0] != '\0');
}

/* ---- the real captures ---- */

struct syn_sink {
    size_t recs;
    size_t syn_only_all; /* records whose every packet is a bare SYN */
    float max_dst_ports;
};

static int syn_emit(void *user, const struct vigil_flow_rec *recs, size_t n)
{
    struct syn_sink *s = user;
    for (size_t i = 0; i < n; i++) {
        s->recs++;
        s->syn_only_all += recs[i].f[VIGIL_FF_SYN_ONLY] == recs[i].f[VIGIL_FF_PKTS];
        if (recs[i].f[VIGIL_FF_DST_PORTS] > s->max_dst_ports) {
            s->max_dst_ports = recs[i].f[VIGIL_FF_DST_PORTS];
        }
    }
    return 0;
}

static void run_real(const char *path, struct syn_sink *s, struct vigil_pkt_stats *ps)
{
    struct vigil_capture_params cp;
    vigil_capture_params_default(&cp);
    struct vigil_capture *c;
    struct vigil_diag d;
    assert_int_equal(vigil_capture_open_file(&c, path, &cp, &d), 0);
    struct vigil_flow_params fp;
    vigil_flow_params_default(&fp);
    struct vigil_flowtab *ft;
    assert_int_equal(vigil_flowtab_new(&ft, &fp), 0);
    memset(s, 0, sizeof *s);
    memset(ps, 0, sizeof *ps);
    assert_int_equal(vigil_capture_feed(c, ft, syn_emit, s, ps, NULL, &d), 0);
    assert_int_equal(vigil_flowtab_flush(ft, syn_emit, s), 0);
    vigil_flowtab_free(ft);
    vigil_capture_close(c);
}

static void test_real_synflood_and_scan(void **state)
{
    (void)state;
    char path[1024];
    TU_REQUIRE_DATA(path, "pcaps/stopddos/pkt.TCP.synflood.spoofed.pcap");
    struct syn_sink s;
    struct vigil_pkt_stats ps;
    run_real(path, &s, &ps);
    assert_int_equal(ps.seen, 37841);
    assert_int_equal(ps.ok, 37841);
    /* Spoofed sources: one small flow each, nearly all pure SYN. */
    assert_true(s.recs > 30000);
    assert_true(s.syn_only_all > s.recs * 99 / 100);
    TU_REQUIRE_DATA(path, "pcaps/esnet-curated-pcaps/attacks/scanners/masscan/"
                          "tcp_0_1000_20190821.pcap");
    run_real(path, &s, &ps);
    assert_int_equal(ps.ok, 1005);
    /* ~100 ports a second: a 2 s window sees ~200 distinct destination ports. */
    assert_true(s.max_dst_ports > 150 && s.max_dst_ports < 260);
}

/* ---- detection over bundles ---- */

/* Records of two kinds: "normal" (many bytes, ACKs) and "flood" (one 40-byte SYN). */
static void synth_recs(struct vigil_flow_rec *r, size_t n, int32_t *y)
{
    for (size_t i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof r[i]);
        int flood = i % 3 == 0;
        y[i] = flood;
        r[i].family = 4;
        r[i].src[15] = (uint8_t)i;
        r[i].dst[15] = 1;
        r[i].win_ns = 1000000000LL * (int64_t)(i / 50);
        float k = (float)(i % 17);
        r[i].f[VIGIL_FF_PKTS] = flood ? 1 : 20 + k;
        r[i].f[VIGIL_FF_BYTES] = flood ? 40 : 9000 + 100 * k;
        r[i].f[VIGIL_FF_SYN] = flood ? 1 : 1;
        r[i].f[VIGIL_FF_ACK] = flood ? 0 : 19 + k;
        r[i].f[VIGIL_FF_SYN_ONLY] = flood ? 1 : 0.0f;
        r[i].f[VIGIL_FF_TTL_MEAN] = flood ? 241 : 64 - k;
        r[i].f[VIGIL_FF_SIZE_MEAN] = r[i].f[VIGIL_FF_BYTES] / r[i].f[VIGIL_FF_PKTS];
    }
}

static void test_flowdet_matches_the_prep_chain(void **state)
{
    (void)state;
    enum { N = 300 };
    static struct vigil_flow_rec recs[N];
    int32_t y[N];
    synth_recs(recs, N, y);
    /* A training frame with the 24 named columns, as `vigil train` reads flows.csv. */
    struct vigil_frame fr;
    vigil_frame_init(&fr);
    uint32_t col[VIGIL_FLOW_F];
    for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
        const char *nm = vigil_flow_feature_name(j);
        assert_int_equal(vigil_frame_add_col(&fr, nm, strlen(nm), &col[j]), 0);
    }
    assert_int_equal(vigil_frame_alloc_labels(&fr), 0);
    for (size_t i = 0; i < N; i++) {
        float *row;
        assert_int_equal(vigil_frame_add_row(&fr, recs[i].win_ns, &row), 0);
        for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
            row[col[j]] = recs[i].f[j];
        }
        fr.y[i] = y[i];
    }
    const struct vigil_model_ops *ops = vigil_model_find("mlp");
    void *mp = vigil_calloc(1, ops->params_size);
    assert_int_equal(vigil_opt_defaults(ops->opts, mp), 0);
    struct vigil_diag d;
    assert_int_equal(vigil_opt_set(ops->opts, mp, "epochs", "40", 2, &d), 0);
    struct vigil_bundle b;
    memset(&b, 0, sizeof b);
    struct vigil_bundle_train_opts to = {.ops = ops, .params = mp, .threads = 1};
    struct vigil_frame feat;
    vigil_frame_init(&feat);
    assert_int_equal(vigil_bundle_train(&b, &to, &fr, &feat, &d), 0);
    const char *dir = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/m.vmdl", dir);
    assert_int_equal(vigil_bundle_save(&b, path), 0);

    /* Reference: the chain on a frame, then the bundle. */
    float *ref = vigil_mallocarray((size_t)N * b.n_out, sizeof *ref);
    assert_int_equal(vigil_bundle_score(&b, feat.x, feat.n, feat.f, ref), 0);

    struct vigil_flowdet *fd;
    const char *paths[1] = {path};
    assert_int_equal(vigil_flowdet_new(&fd, paths, 1, 0.5f, 64, &d), 0);
    assert_string_equal(vigil_flowdet_model_name(fd, 0), "mlp");
    assert_null(vigil_flowdet_model_name(fd, 1));
    uint8_t cls[N];
    float score[N];
    tu_alloc_fail_at(0);
    assert_int_equal(vigil_flowdet_score(fd, recs, N, cls, score), 0);
    assert_int_equal(tu_alloc_calls(), 0); /* scoring never allocates */
    tu_alloc_reset();
    size_t right = 0;
    for (size_t i = 0; i < N; i++) {
        float attack = 1.0f - ref[i * b.n_out];
        int want = attack >= 0.5f ? 1 : 0;
        assert_int_equal(cls[i], want); /* the same decision as frame + chain + bundle */
        if (want) {
            assert_float_equal(score[i], attack, 1e-6);
        }
        right += cls[i] == y[i];
    }
    assert_true(right >= N - 3);
    vigil_flowdet_free(fd);
    assert_int_equal(vigil_flowdet_new(&fd, paths, 1, 1.5f, 64, &d), -EINVAL);
    const char *missing[1] = {"/nonexistent.vmdl"};
    assert_true(vigil_flowdet_new(&fd, missing, 1, 0.5f, 64, &d) < 0);
    assert_non_null(strstr(d.msg, "/nonexistent.vmdl"));
    vigil_free(ref);
    vigil_frame_fini(&feat);
    vigil_bundle_fini(&b);
    vigil_opt_free(ops->opts, mp);
    vigil_free(mp);
    vigil_frame_fini(&fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_ipv4_tcp_udp_icmp),
        cmocka_unit_test(test_decode_vlan_tags),
        cmocka_unit_test(test_decode_other_link_types),
        cmocka_unit_test(test_decode_ipv6_extension_headers),
        cmocka_unit_test(test_decode_every_truncation_is_caught),
        cmocka_unit_test(test_decode_malformed_lengths),
        cmocka_unit_test(test_ip_format_and_parse),
        cmocka_unit_test(test_flowtab_features_by_hand),
        cmocka_unit_test(test_flowtab_eviction_keeps_every_packet),
        cmocka_unit_test(test_flowtab_emit_error_propagates),
        cmocka_unit_test(test_flowtab_no_allocation_per_packet),
        cmocka_unit_test(test_flowtab_bad_params_and_oom),
        cmocka_unit_test(test_feature_names),
        cmocka_unit_test(test_batch_roundtrip_and_rejects),
        cmocka_unit_test(test_capture_files),
        cmocka_unit_test(test_capture_live_bad_interface),
        cmocka_unit_test(test_real_synflood_and_scan),
        cmocka_unit_test(test_flowdet_matches_the_prep_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
