/*
 * libpcap capture: files (classic pcap and pcapng, through a stdio stream over
 * zlib so gzip'd captures read transparently) and live interfaces, with a BPF
 * filter and a snap length, and the loop that feeds decoded packets to the
 * flow table. libpcap owns the frame buffers; we only borrow them per frame.
 *
 * The snap length also applies to files: frames are cut to it before
 * decoding, so a file can be read as if captured with a short snap length.
 */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "vigil/capture.h"
#include "vigil/clock.h"
#include "vigil/mem.h"

struct vigil_capture {
    pcap_t *pc;
    int linktype;
    int live;
    int fd;         /* live: selectable descriptor, polled with timeout_ms */
    int timeout_ms;
    size_t snaplen;
    int nano; /* 1 when timestamps come in nanoseconds */
};

void vigil_capture_params_default(struct vigil_capture_params *p)
{
    p->snaplen = 262144;
    p->promisc = 0;
    p->timeout_ms = 200;
    p->filter = NULL;
}

/* ---- a FILE over a gzFile (glibc fopencookie), so libpcap reads .gz too ---- */

static ssize_t gz_read(void *cookie, char *buf, size_t n)
{
    unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    int got = gzread((gzFile)cookie, buf, chunk);
    if (got < 0) {
        errno = EIO;
        return -1;
    }
    return got;
}

static int gz_close(void *cookie)
{
    return gzclose((gzFile)cookie) == Z_OK ? 0 : EOF;
}

static FILE *gz_fopen(const char *path, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        *err = -ENOMEM;
        return NULL;
    }
    gzbuffer(gz, 256 << 10);
    cookie_io_functions_t io = {.read = gz_read, .write = NULL, .seek = NULL, .close = gz_close};
    FILE *f = fopencookie(gz, "r", io);
    if (!f) {
        gzclose(gz);
        *err = -ENOMEM;
        return NULL;
    }
    return f;
}

static int set_filter(struct vigil_capture *c, const char *filter, struct vigil_diag *diag)
{
    if (!filter || !filter[0]) {
        return 0;
    }
    struct bpf_program prog;
    if (pcap_compile(c->pc, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        vigil_diag_set(diag, 0, 0, "filter '%s': %s", filter, pcap_geterr(c->pc));
        return VIGIL_EPARSE;
    }
    int rc = pcap_setfilter(c->pc, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        vigil_diag_set(diag, 0, 0, "filter '%s': %s", filter, pcap_geterr(c->pc));
        return VIGIL_EPARSE;
    }
    return 0;
}

int vigil_capture_open_file(struct vigil_capture **out, const char *path,
                            const struct vigil_capture_params *p, struct vigil_diag *diag)
{
    *out = NULL;
    struct vigil_capture *c = vigil_calloc(1, sizeof *c);
    if (!c) {
        return -ENOMEM;
    }
    int rc = 0;
    FILE *f = gz_fopen(path, &rc);
    if (!f) {
        vigil_diag_set(diag, 0, 0, "%s", vigil_strerror(rc));
        vigil_free(c);
        return rc;
    }
    char err[PCAP_ERRBUF_SIZE] = "";
    c->pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!c->pc) {
        fclose(f);
        vigil_diag_set(diag, 0, 0, "not a pcap or pcapng capture (%s)", err);
        vigil_free(c);
        return VIGIL_EFORMAT;
    }
    c->nano = pcap_get_tstamp_precision(c->pc) == PCAP_TSTAMP_PRECISION_NANO;
    c->linktype = pcap_datalink(c->pc);
    c->snaplen = p->snaplen > 0 ? (size_t)p->snaplen : (size_t)-1;
    rc = set_filter(c, p->filter, diag);
    if (rc) {
        vigil_capture_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int vigil_capture_open_live(struct vigil_capture **out, const char *iface,
                            const struct vigil_capture_params *p, struct vigil_diag *diag)
{
    *out = NULL;
    struct vigil_capture *c = vigil_calloc(1, sizeof *c);
    if (!c) {
        return -ENOMEM;
    }
    char err[PCAP_ERRBUF_SIZE] = "";
    c->pc = pcap_create(iface, err);
    if (!c->pc) {
        vigil_diag_set(diag, 0, 0, "%s", err);
        vigil_free(c);
        return -EIO;
    }
    c->live = 1;
    c->snaplen = (size_t)-1;
    pcap_set_snaplen(c->pc, p->snaplen > 0 ? p->snaplen : 262144);
    pcap_set_promisc(c->pc, p->promisc);
    pcap_set_timeout(c->pc, p->timeout_ms > 0 ? p->timeout_ms : 200);
    pcap_set_tstamp_precision(c->pc, PCAP_TSTAMP_PRECISION_NANO);
    int rc = pcap_activate(c->pc);
    if (rc < 0) {
        vigil_diag_set(diag, 0, 0, "%s: %s", iface, pcap_geterr(c->pc));
        rc = rc == PCAP_ERROR_PERM_DENIED      ? -EPERM
             : rc == PCAP_ERROR_NO_SUCH_DEVICE ? -ENODEV
                                               : -EIO;
        vigil_capture_close(c);
        return rc;
    }
    c->nano = pcap_get_tstamp_precision(c->pc) == PCAP_TSTAMP_PRECISION_NANO;
    c->linktype = pcap_datalink(c->pc);
    /*
     * Non-blocking reads plus our own poll: a blocking read on Linux may never
     * time out while no packet matches, and a stop request must still be seen.
     */
    c->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : 200;
    c->fd = pcap_get_selectable_fd(c->pc);
    if (c->fd < 0 || pcap_setnonblock(c->pc, 1, err) != 0) {
        vigil_diag_set(diag, 0, 0, "%s: no pollable descriptor for live capture", iface);
        vigil_capture_close(c);
        return -EIO;
    }
    rc = set_filter(c, p->filter, diag);
    if (rc) {
        vigil_capture_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void vigil_capture_close(struct vigil_capture *c)
{
    if (!c) {
        return;
    }
    if (c->pc) {
        pcap_close(c->pc);
    }
    vigil_free(c);
}

int vigil_capture_linktype(const struct vigil_capture *c)
{
    return c->linktype;
}

int vigil_capture_next(struct vigil_capture *c, struct vigil_capture_frame *fr,
                       struct vigil_diag *diag)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(c->pc, &h, &data);
    if (rc == 0 && c->live) {
        /* Nothing buffered: wait for the descriptor, at most the timeout (or a signal). */
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, c->timeout_ms) <= 0) {
            return -EAGAIN;
        }
        rc = pcap_next_ex(c->pc, &h, &data);
    }
    if (rc == 1) {
        fr->data = data;
        fr->caplen = h->caplen < c->snaplen ? h->caplen : c->snaplen;
        fr->wirelen = h->len;
        int64_t frac = h->ts.tv_usec;
        fr->ts_ns = (int64_t)h->ts.tv_sec * 1000000000LL + (c->nano ? frac : frac * 1000);
        return 0;
    }
    if (rc == 0) {
        return -EAGAIN;
    }
    if (rc == PCAP_ERROR_BREAK) {
        return VIGIL_EOF;
    }
    vigil_diag_set(diag, 0, 0, "%s", pcap_geterr(c->pc));
    return -EIO;
}

int vigil_capture_feed(struct vigil_capture *c, struct vigil_flowtab *ft, vigil_flow_emit_fn emit,
                       void *user, struct vigil_pkt_stats *ps, volatile sig_atomic_t *stop,
                       struct vigil_diag *diag)
{
    struct vigil_capture_frame fr;
    struct vigil_pkt pkt;
    for (;;) {
        if (stop && *stop) {
            return 0;
        }
        int rc = vigil_capture_next(c, &fr, diag);
        if (rc == VIGIL_EOF) {
            return 0;
        }
        if (rc == -EAGAIN) {
            rc = vigil_flowtab_tick(ft, vigil_clock_wall_ns(), emit, user);
            if (rc) {
                return rc;
            }
            continue;
        }
        if (rc) {
            return rc;
        }
        pkt.ts_ns = fr.ts_ns;
        enum vigil_pkt_status st =
            vigil_pkt_decode(&pkt, fr.data, fr.caplen, fr.wirelen, c->linktype);
        vigil_pkt_stats_count(ps, st);
        if (st != VIGIL_PKT_OK) {
            continue;
        }
        rc = vigil_flowtab_add(ft, &pkt, emit, user);
        if (rc) {
            return rc;
        }
    }
}

uint64_t vigil_capture_dropped(struct vigil_capture *c)
{
    struct pcap_stat st;
    if (!c->live || pcap_stats(c->pc, &st) != 0) {
        return 0;
    }
    return st.ps_drop;
}
