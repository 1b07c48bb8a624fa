/*
 * Packets to flows to features (Andreoni Lopez et al.'s threat-detection VNF).
 *
 * Three stages, each usable on its own:
 *
 *   1. vigil_pkt_decode: one captured frame (pointer, captured length, wire
 *      length, link type) to a struct vigil_pkt. Every length is checked;
 *      truncated and malformed frames are reported, never read past.
 *   2. struct vigil_flowtab: packets grouped by (source IP, destination IP)
 *      in tumbling time windows (default 2 s). Fixed memory chosen at creation;
 *      when it is full the stalest flow among a few candidates is emitted early
 *      and counted as an eviction. Nothing is allocated per packet.
 *   3. Features: each flow becomes a struct vigil_flow_rec with the 24 header
 *      features named by vigil_flow_feature_name (docs/flows.md explains each).
 *
 *     struct vigil_flowtab *ft;
 *     struct vigil_flow_params fp;
 *     vigil_flow_params_default(&fp);
 *     vigil_flowtab_new(&ft, &fp);
 *     for each frame:
 *         if (vigil_pkt_decode(&pkt, data, caplen, wirelen, linktype) == VIGIL_PKT_OK)
 *             vigil_flowtab_add(ft, &pkt, emit, user);   // emit gets batches of records
 *     vigil_flowtab_flush(ft, emit, user);
 *     vigil_flowtab_free(ft);
 *
 * Records also travel between hosts (NATS): vigil_flow_batch_encode/decode
 * give a little-endian binary batch specified in docs/flows.md.
 */
#ifndef VIGIL_FLOW_H
#define VIGIL_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"

/* ---- packets ---- */

/* Link types we decode (pcap LINKTYPE_* values). */
#define VIGIL_LINK_NULL 0        /* BSD loopback: 4-byte host-order family */
#define VIGIL_LINK_ETHERNET 1    /* Ethernet II, 802.1Q/802.1ad tags */
#define VIGIL_LINK_RAW 101       /* raw IPv4/IPv6 */
#define VIGIL_LINK_LINUX_SLL 113 /* Linux cooked capture v1 */
#define VIGIL_LINK_IPV4 228      /* raw IPv4 */
#define VIGIL_LINK_IPV6 229      /* raw IPv6 */

/* What vigil_pkt_decode made of a frame. Not error codes: every value is routine input. */
enum vigil_pkt_status {
    VIGIL_PKT_OK = 0,        /* an IPv4/IPv6 packet, fields filled */
    VIGIL_PKT_TRUNCATED = 1, /* a header the decoder needs was cut short (snap length, damage) */
    VIGIL_PKT_MALFORMED = 2, /* inconsistent lengths or versions */
    VIGIL_PKT_NOT_IP = 3,    /* ARP, LLDP, an unknown link type, ... (skipped) */
};

enum vigil_tcp_flag {
    VIGIL_TCP_FIN = 0x01,
    VIGIL_TCP_SYN = 0x02,
    VIGIL_TCP_RST = 0x04,
    VIGIL_TCP_PSH = 0x08,
    VIGIL_TCP_ACK = 0x10,
    VIGIL_TCP_URG = 0x20,
    VIGIL_TCP_ECE = 0x40,
    VIGIL_TCP_CWR = 0x80,
};

/* One decoded packet. Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). */
struct vigil_pkt {
    int64_t ts_ns;   /* capture time, ns since the epoch */
    uint8_t src[16]; /* network byte order */
    uint8_t dst[16];
    uint32_t ip_len; /* IP total length from the header (IPv6: 40 + payload length) */
    uint16_t sport;  /* TCP/UDP ports, 0 otherwise or for non-first fragments */
    uint16_t dport;
    uint8_t family;    /* 4 or 6 */
    uint8_t proto;     /* upper-layer protocol after IPv6 extension headers (6 TCP, 17 UDP, ...) */
    uint8_t tcp_flags; /* enum vigil_tcp_flag bits, TCP only */
    uint8_t ttl;       /* IPv4 TTL or IPv6 hop limit */
    uint8_t icmp_type; /* ICMP / ICMPv6 type, first fragment only */
    uint8_t frag;      /* 1 when the packet is an IP fragment (any offset, or MF set) */
    uint8_t l4;        /* 1 when the transport header was decoded (first fragment, known proto) */
};

/*
 * Decodes the frame p (caplen captured bytes of a wirelen-byte frame) of the
 * given link type into out. Reads at most caplen bytes; never writes p.
 * Returns an enum vigil_pkt_status; out is meaningful only for VIGIL_PKT_OK.
 */
enum vigil_pkt_status vigil_pkt_decode(struct vigil_pkt *out, const uint8_t *p, size_t caplen,
                                       size_t wirelen, int linktype);

/* Counters a capture loop keeps per status (plus frames seen). */
struct vigil_pkt_stats {
    uint64_t seen;
    uint64_t ok;
    uint64_t truncated;
    uint64_t malformed;
    uint64_t not_ip;
};

/* Adds one status to the counters. */
void vigil_pkt_stats_count(struct vigil_pkt_stats *s, enum vigil_pkt_status st);

/* Formats an address ("192.0.2.1" or "2001:db8::1") into out (at least 46 bytes). */
char *vigil_ip_format(const uint8_t addr[16], char *out, size_t n);
/* Parses a dotted IPv4 or an IPv6 text address (n bytes) into addr. 0 or VIGIL_EPARSE. */
int vigil_ip_parse(const char *p, size_t n, uint8_t addr[16]);

/* ---- features ---- */

#define VIGIL_FLOW_F 24

/* Indices of the features in struct vigil_flow_rec.f (docs/flows.md). */
enum vigil_flow_feature {
    VIGIL_FF_PKTS = 0,
    VIGIL_FF_BYTES,
    VIGIL_FF_DURATION,
    VIGIL_FF_PKT_RATE,
    VIGIL_FF_BYTE_RATE,
    VIGIL_FF_TCP_RATE,
    VIGIL_FF_UDP_RATE,
    VIGIL_FF_ICMP_RATE,
    VIGIL_FF_SIZE_MEAN,
    VIGIL_FF_SIZE_VAR,
    VIGIL_FF_SRC_PORTS,
    VIGIL_FF_DST_PORTS,
    VIGIL_FF_SYN,
    VIGIL_FF_ACK,
    VIGIL_FF_FIN,
    VIGIL_FF_RST,
    VIGIL_FF_PSH,
    VIGIL_FF_URG,
    VIGIL_FF_ECE,
    VIGIL_FF_CWR,
    VIGIL_FF_SYN_ONLY,
    VIGIL_FF_TCP_NOFLAGS,
    VIGIL_FF_FRAGS,
    VIGIL_FF_TTL_MEAN,
};

/* Name of feature j ("pkts", "syn", ...), static; NULL when j >= VIGIL_FLOW_F. */
const char *vigil_flow_feature_name(size_t j);

/* One flow of one window: its key and its 24 features. */
struct vigil_flow_rec {
    int64_t win_ns;  /* start of the window, ns since the epoch */
    uint8_t src[16]; /* as in struct vigil_pkt */
    uint8_t dst[16];
    uint8_t family;  /* 4 or 6 */
    uint8_t evicted; /* 1 when emitted before its window closed (table full) */
    float f[VIGIL_FLOW_F];
};

/* ---- flow table ---- */

struct vigil_flow_params {
    int64_t window_ns; /* window length; default 2 s */
    size_t max_flows;  /* flows held at once before eviction; default 65536 */
    size_t batch;      /* records per emit call; default 1024 */
};

/* Sets the defaults above. */
void vigil_flow_params_default(struct vigil_flow_params *p);

/*
 * Receives a batch of finished flows (n >= 1), borrowed for the call only.
 * Returning non-zero stops the table's caller, which returns that code.
 */
typedef int (*vigil_flow_emit_fn)(void *user, const struct vigil_flow_rec *recs, size_t n);

struct vigil_flowtab; /* opaque */

struct vigil_flowtab_stats {
    uint64_t packets; /* packets added */
    uint64_t flows;   /* records emitted */
    uint64_t windows; /* windows closed */
    uint64_t evicted; /* flows emitted early because the table was full */
    uint64_t late;    /* packets older than the current window, counted into it */
};

/*
 * Creates a table. All memory is allocated here: the flows, the hash index and
 * the output batch. Returns 0, -EINVAL (window <= 0, max_flows or batch 0 or
 * absurdly large) or -ENOMEM. Caller frees with vigil_flowtab_free.
 */
int vigil_flowtab_new(struct vigil_flowtab **out, const struct vigil_flow_params *p);
/* Releases the table; NULL is a no-op. Flows still held are dropped (flush first). */
void vigil_flowtab_free(struct vigil_flowtab *ft);

/*
 * Adds one decoded packet. A packet from a later window first closes the
 * current one: all its flows are emitted (in batches) before the packet is
 * counted. Returns 0 or the first non-zero code of emit.
 */
int vigil_flowtab_add(struct vigil_flowtab *ft, const struct vigil_pkt *pkt,
                      vigil_flow_emit_fn emit, void *user);

/*
 * Closes the current window if now_ns is past its end (live capture with idle
 * periods). Returns 0 or emit's code.
 */
int vigil_flowtab_tick(struct vigil_flowtab *ft, int64_t now_ns, vigil_flow_emit_fn emit,
                       void *user);

/* Emits every flow held and empties the table. Returns 0 or emit's code. */
int vigil_flowtab_flush(struct vigil_flowtab *ft, vigil_flow_emit_fn emit, void *user);

/* Copies the counters. */
void vigil_flowtab_stats(const struct vigil_flowtab *ft, struct vigil_flowtab_stats *out);

/* ---- record batches on the wire (docs/flows.md, "Batch format") ---- */

#define VIGIL_FLOW_BATCH_MAX 65536 /* records per batch accepted by the decoder */

/* Header of a batch: who sent it and its sequence number. */
struct vigil_flow_batch_hdr {
    char sensor[64]; /* NUL-terminated sensor name */
    uint64_t seq;    /* per-sensor batch number, from 0 */
    uint32_t n;      /* records */
};

/* Appends the encoded batch to out. Returns 0, -ENOMEM or -EINVAL (n too large). */
int vigil_flow_batch_encode(struct vigil_buf *out, const char *sensor, uint64_t seq,
                            const struct vigil_flow_rec *recs, size_t n);

/*
 * Decodes a batch of p (n bytes) into recs, which has room for cap records.
 * Fills hdr. Returns 0, VIGIL_EFORMAT (bad magic, version, length or a
 * non-finite feature) or VIGIL_ESHAPE (more than cap records).
 */
int vigil_flow_batch_decode(const void *p, size_t n, struct vigil_flow_batch_hdr *hdr,
                            struct vigil_flow_rec *recs, size_t cap);

#endif /* VIGIL_FLOW_H */
