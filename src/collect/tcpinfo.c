/*
 * TCP round-trip times and queues (tcpinfo): each tick, one NETLINK_SOCK_DIAG
 * dump of the established TCP sockets (IPv4, then IPv6) with their struct
 * tcp_info, what `ss -ti` shows, summed or averaged over the sockets. A delay
 * on a VM's path shows here as a longer smoothed RTT while its packet and
 * byte rates do not move: on every socket of the delayed VM (the min rises),
 * on one socket of each neighbour (the mean and max rise, not the min).
 *
 * node-exporter has no such collector (its tcpstat collector counts sockets
 * per state); the names keep its node_ prefix: node_tcp_info_*. Off by
 * default: a host with many thousand sockets pays for the dump every tick.
 *
 * The socket is opened once, in the network namespace named by the netns
 * option (a file such as /run/netns/NAME or /proc/PID/ns/net) or in the
 * caller's own namespace; a short-lived thread enters it, so no thread of the
 * caller changes namespace. The reply is parsed with bounds checks on every length
 * (vigil__tcpinfo_parse, fuzzed by tests/fuzz/fuzz_tcpinfo.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/log.h"
#include "vigil/mem.h"

/* TCP_ESTABLISHED in the kernel's enum (include/net/tcp_states.h). */
#define TCP_STATE_ESTABLISHED 1
#define RTT_HELP                                                                                   \
    "Smoothed round-trip time of established TCP sockets (tcpi_rtt): mean, max or min over "       \
    "sockets."
/* A dump's reply not complete after this long fails the tick instead of stalling it. */
#define RECV_TIMEOUT_MS 1000
/* Receive buffer: the kernel fills up to about 32 KiB per datagram of a dump. */
#define DUMP_BUF (64u << 10)

struct tcpinfo_params {
    char *netns;
};

static const struct vigil_opt tcpinfo_opts[] = {
    {"netns", VIGIL_OPT_STR, offsetof(struct tcpinfo_params, netns), "", 0, 0,
     "network namespace file (/run/netns/NAME, /proc/PID/ns/net); empty = vigil's own", NULL},
    {0},
};

enum {
    S_SOCKETS,
    S_RTT_MEAN,
    S_RTT_MAX,
    S_RTT_MIN,
    S_RTTVAR_MEAN,
    S_UNACKED,
    S_RETRANS,
    S_LOST,
    S_SENDQ,
    S_RECVQ,
    S_N
};

struct tcpinfo {
    int fd;
    uint32_t seq;
    unsigned char *buf; /* DUMP_BUF bytes */
    uint32_t ids[S_N];
};

/* ---- parsing a dump (no allocation, every length checked) ---- */

static void add_socket(struct vigil__tcp_agg *a, const struct inet_diag_msg *m,
                       const struct tcp_info *ti, int has_info)
{
    a->sockets++;
    a->send_queue += m->idiag_wqueue;
    a->recv_queue += m->idiag_rqueue;
    if (!has_info) {
        return;
    }
    double rtt = ti->tcpi_rtt / 1e6, rttvar = ti->tcpi_rttvar / 1e6;
    a->with_rtt++;
    a->rtt_sum += rtt;
    a->rttvar_sum += rttvar;
    if (rtt > a->rtt_max) {
        a->rtt_max = rtt;
    }
    if (a->with_rtt == 1 || rtt < a->rtt_min) {
        a->rtt_min = rtt;
    }
    a->unacked += ti->tcpi_unacked;
    a->retrans += ti->tcpi_retrans;
    a->lost += ti->tcpi_lost;
}

int vigil__tcpinfo_parse(const void *buf, size_t len, uint32_t seq, struct vigil__tcp_agg *a)
{
    const struct nlmsghdr *h = buf;
    if (len < sizeof *h || len > INT32_MAX) {
        return VIGIL_EPARSE;
    }
    /* Signed, as NLMSG_NEXT expects: an aligned length past the end makes it negative. */
    int left = (int)len;
    for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq) {
            continue; /* the rest of an earlier dump that failed half-way */
        }
        if (h->nlmsg_type == NLMSG_DONE) {
            /* A dump that failed half-way ends with an errno in its DONE (libmnl's rule). */
            if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
                int err;
                memcpy(&err, NLMSG_DATA(h), sizeof err);
                if (err < 0 && err > -4096) {
                    return err;
                }
            }
            return 1;
        }
        if (h->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = NLMSG_DATA(h);
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e)) {
                return VIGIL_EPARSE;
            }
            /* An errno from the kernel; anything else is not one. */
            return e->error < 0 && e->error > -4096 ? e->error : VIGIL_EPARSE;
        }
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) {
            continue;
        }
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
            return VIGIL_EPARSE;
        }
        const struct inet_diag_msg *m = NLMSG_DATA(h);
        struct tcp_info ti;
        int has_info = 0;
        memset(&ti, 0, sizeof ti);
        const struct rtattr *at = (const struct rtattr *)(m + 1);
        /* NLMSG_LENGTH(sizeof *m) is the header plus the message, aligned. */
        int at_len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
        for (; RTA_OK(at, at_len); at = RTA_NEXT(at, at_len)) {
            if (at->rta_type == INET_DIAG_INFO) {
                size_t n = RTA_PAYLOAD(at);
                /* Older kernels send a shorter struct, newer ones a longer one. */
                memcpy(&ti, RTA_DATA(at), n < sizeof ti ? n : sizeof ti);
                has_info = n >= offsetof(struct tcp_info, tcpi_rcv_rtt);
            }
        }
        add_socket(a, m, &ti, has_info);
    }
    /* Bytes left that do not make a whole message: a truncated datagram. */
    return left != 0 ? VIGIL_EPARSE : 0;
}

/* ---- the socket ---- */

/* A NETLINK_SOCK_DIAG socket whose reads give up after RECV_TIMEOUT_MS. Returns fd or -errno. */
static int diag_socket_here(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        return -errno;
    }
    struct timeval tv = {RECV_TIMEOUT_MS / 1000, (RECV_TIMEOUT_MS % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

struct ns_call {
    int ns_fd;
    int rc; /* fd or -errno */
};

/* A short-lived thread enters the namespace, so no thread of the caller ever changes its own. */
static void *socket_in_ns(void *arg)
{
    struct ns_call *nc = arg;
    nc->rc = setns(nc->ns_fd, CLONE_NEWNET) == 0 ? diag_socket_here() : -errno;
    return NULL;
}

/* A NETLINK_SOCK_DIAG socket in the namespace of file ns ("" = ours). Returns fd or -errno. */
static int diag_socket(const char *ns)
{
    if (!ns || !*ns) {
        return diag_socket_here();
    }
    struct ns_call nc = {.ns_fd = open(ns, O_RDONLY | O_CLOEXEC), .rc = -EINVAL};
    if (nc.ns_fd < 0) {
        return -errno;
    }
    pthread_t t;
    int rc = pthread_create(&t, NULL, socket_in_ns, &nc);
    if (rc == 0) {
        pthread_join(t, NULL);
        rc = nc.rc < 0 ? nc.rc : 0;
    } else {
        rc = -rc;
    }
    close(nc.ns_fd);
    return rc ? rc : nc.rc;
}

/* Sends one dump request for family and reads the reply into a. Returns 0 or < 0. */
static int dump_family(struct tcpinfo *x, int family, struct vigil__tcp_agg *a)
{
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = ++x->seq;
    req.r.sdiag_family = (unsigned char)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = 1u << TCP_STATE_ESTABLISHED;
    req.r.idiag_ext = 1u << (INET_DIAG_INFO - 1);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(x->fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        return -errno;
    }
    for (;;) {
        ssize_t n = recv(x->fd, x->buf, DUMP_BUF, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            /* SO_RCVTIMEO: a dump never takes this long; the tick goes on without it. */
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        }
        int rc = vigil__tcpinfo_parse(x->buf, (size_t)n, x->seq, a);
        if (rc != 0) {
            return rc > 0 ? 0 : rc;
        }
    }
}

/* ---- the collector ---- */

static void tcpinfo_fini(struct vigil_collector *c)
{
    struct tcpinfo *x = c->ctx;
    if (x) {
        if (x->fd >= 0) {
            close(x->fd);
        }
        vigil_free(x->buf);
        vigil_free(x);
    }
    c->ctx = NULL;
}

static int tcpinfo_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)root;
    const struct tcpinfo_params *pp = params;
    struct tcpinfo *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    x->fd = diag_socket(pp ? pp->netns : NULL);
    if (x->fd < 0) {
        int rc = x->fd;
        if (rc == -EPROTONOSUPPORT || rc == -EAFNOSUPPORT) {
            return VIGIL_ENOTSUP; /* no sock_diag in this kernel: the collector is off */
        }
        /* The start error names the collector; the namespace file is said here. */
        vigil_error("tcpinfo: sock_diag socket%s%s: %s",
                    pp && pp->netns && *pp->netns ? " in " : "", pp && pp->netns ? pp->netns : "",
                    vigil_strerror(rc));
        return rc;
    }
    if (!(x->buf = vigil_malloc(DUMP_BUF))) {
        return -ENOMEM;
    }
    static const struct {
        const char *name, *stat, *help;
    } s[S_N] = {
        {"node_tcp_info_sockets", NULL, "Established TCP sockets in the last dump."},
        {"node_tcp_info_rtt_seconds", "mean", RTT_HELP},
        {"node_tcp_info_rtt_seconds", "max", RTT_HELP},
        {"node_tcp_info_rtt_seconds", "min", RTT_HELP},
        {"node_tcp_info_rttvar_seconds", "mean",
         "Round-trip time variation of established TCP sockets (tcpi_rttvar), mean."},
        {"node_tcp_info_unacked_segments", NULL, "Segments sent and not yet acknowledged, sum."},
        {"node_tcp_info_retrans_segments", NULL,
         "Retransmitted segments not yet acknowledged (tcpi_retrans), sum."},
        {"node_tcp_info_lost_segments", NULL, "Segments presumed lost (tcpi_lost), sum."},
        {"node_tcp_info_send_queue_bytes", NULL, "Bytes in the send queues, sum."},
        {"node_tcp_info_recv_queue_bytes", NULL, "Bytes in the receive queues, sum."},
    };
    int rc = 0;
    for (int i = 0; i < S_N && !rc; i++) {
        struct vigil_label_ref l[1] = {
            VIGIL__LBL("stat", s[i].stat, s[i].stat ? strlen(s[i].stat) : 0)};
        rc = vigil__intern(set, s[i].name, s[i].stat ? l : NULL, s[i].stat ? 1 : 0,
                           VIGIL_KIND_GAUGE, VIGIL_GROUP_NETWORK, NULL, s[i].help, &x->ids[i]);
    }
    return rc;
}

static int tcpinfo_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct tcpinfo *x = c->ctx;
    struct vigil__tcp_agg a;
    memset(&a, 0, sizeof a);
    int rc = dump_family(x, AF_INET, &a);
    if (rc == 0) {
        rc = dump_family(x, AF_INET6, &a);
    }
    if (rc) {
        vigil_collect_fail(cx, "sock_diag dump", rc);
        return 0;
    }
    double k = a.with_rtt ? 1.0 / (double)a.with_rtt : 0.0;
    vigil__emit(cx, x->ids[S_SOCKETS], (double)a.sockets);
    vigil__emit(cx, x->ids[S_RTT_MEAN], a.rtt_sum * k);
    vigil__emit(cx, x->ids[S_RTT_MAX], a.rtt_max);
    vigil__emit(cx, x->ids[S_RTT_MIN], a.rtt_min);
    vigil__emit(cx, x->ids[S_RTTVAR_MEAN], a.rttvar_sum * k);
    vigil__emit(cx, x->ids[S_UNACKED], a.unacked);
    vigil__emit(cx, x->ids[S_RETRANS], a.retrans);
    vigil__emit(cx, x->ids[S_LOST], a.lost);
    vigil__emit(cx, x->ids[S_SENDQ], a.send_queue);
    vigil__emit(cx, x->ids[S_RECVQ], a.recv_queue);
    return 0;
}

const struct vigil_collector_ops vigil__collector_tcpinfo = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "tcpinfo",
    .summary = "sock_diag dump of TCP sockets: node_tcp_info_rtt_seconds, queues",
    .opts = tcpinfo_opts,
    .params_size = sizeof(struct tcpinfo_params),
    .default_on = 0,
    .init = tcpinfo_init,
    .collect = tcpinfo_collect,
    .fini = tcpinfo_fini,
};
