/*
 * Packet capture through libpcap: a live interface or a capture file (classic
 * pcap or pcapng, plain or gzip-compressed), an optional BPF filter and a snap
 * length, then a loop that decodes every frame and feeds the flow table.
 *
 *     struct vigil_capture *c;
 *     struct vigil_capture_params cp;
 *     vigil_capture_params_default(&cp);
 *     cp.filter = "tcp or udp";
 *     if (vigil_capture_open_file(&c, "trace.pcap", &cp, &diag) == 0) {
 *         vigil_capture_feed(c, ft, emit, user, &pstats, NULL, &diag);
 *         vigil_capture_close(c);
 *     }
 */
#ifndef VIGIL_CAPTURE_H
#define VIGIL_CAPTURE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"
#include "vigil/flow.h"

struct vigil_capture_params {
    int snaplen;    /* bytes kept per frame (live), frames cut to this (files); default 262144 */
    int promisc;    /* live only: 1 = promiscuous mode (default 0) */
    int timeout_ms; /* live only: read timeout, so idle windows still close (default 200) */
    const char *filter; /* BPF expression (tcpdump syntax) or NULL; borrowed during open */
};

void vigil_capture_params_default(struct vigil_capture_params *p);

struct vigil_capture; /* opaque */

/*
 * Opens a capture file. gzip files are decompressed on the fly. Returns 0;
 * -errno when unreadable; VIGIL_EFORMAT when libpcap does not recognise it;
 * VIGIL_EPARSE for a bad filter (diag->msg has libpcap's reason). Caller
 * closes with vigil_capture_close.
 */
int vigil_capture_open_file(struct vigil_capture **out, const char *path,
                            const struct vigil_capture_params *p, struct vigil_diag *diag);

/*
 * Opens a live interface. Returns 0; -EPERM without capture rights; -ENODEV
 * for an unknown interface; VIGIL_EPARSE for a bad filter; -EIO otherwise
 * (diag->msg has libpcap's reason).
 */
int vigil_capture_open_live(struct vigil_capture **out, const char *iface,
                            const struct vigil_capture_params *p, struct vigil_diag *diag);

/* Closes the capture; NULL is a no-op. */
void vigil_capture_close(struct vigil_capture *c);

/* The pcap link type (VIGIL_LINK_ETHERNET, ...). */
int vigil_capture_linktype(const struct vigil_capture *c);

/* One captured frame, borrowed until the next call on the capture. */
struct vigil_capture_frame {
    const uint8_t *data;
    size_t caplen;  /* bytes in data */
    size_t wirelen; /* bytes on the wire */
    int64_t ts_ns;  /* capture time, ns since the epoch */
};

/*
 * Reads the next frame. Returns 0; VIGIL_EOF at the end of a file; -EAGAIN
 * when a live read timed out; -EIO on a read error or a damaged file (diag
 * says why: a truncated last record is reported here, after the frames
 * before it were delivered).
 */
int vigil_capture_next(struct vigil_capture *c, struct vigil_capture_frame *fr,
                       struct vigil_diag *diag);

/*
 * Reads frames until the end of the file (or, live, until *stop becomes
 * non-zero; stop may be NULL for files), decodes each, counts its status in
 * ps and adds good packets to ft, which emits records through emit. On live
 * timeouts windows past their end are closed with the wall clock. Does not
 * flush ft: several files can feed one table. Returns 0, emit's first
 * non-zero code, or vigil_capture_next's error.
 */
int vigil_capture_feed(struct vigil_capture *c, struct vigil_flowtab *ft, vigil_flow_emit_fn emit,
                       void *user, struct vigil_pkt_stats *ps, volatile sig_atomic_t *stop,
                       struct vigil_diag *diag);

/* Live only: frames the kernel dropped so far (0 for files). */
uint64_t vigil_capture_dropped(struct vigil_capture *c);

#endif /* VIGIL_CAPTURE_H */
