/*
 * The NFQUEUE delay helper (see include/vigil/nfq.h): one thread per
 * injection joins the target's network namespace (setns affects only the
 * calling thread), binds an NFQUEUE in metadata-only copy mode, and keeps
 * packet ids in a timed FIFO (delayq.c). It sleeps in ppoll until the next
 * packet is due or a new one arrives, and gives NF_ACCEPT verdicts for every
 * packet whose time has come. Stopping releases whatever is still held.
 *
 * Packet contents are never read or changed: the verdict carries no payload.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/nfq.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct vigil_nfq_delay {
    pthread_t thread;
    int stop_fd;  /* eventfd that wakes the thread for a command below */
    atomic_int draining; /* 1: no more delay; held packets go now, new ones at once, in order */
    atomic_int stopping; /* 1: drain, then end the thread */
    int netns_fd; /* -1 = stay in the caller's namespace */
    uint16_t queue;
    int64_t delay_ns;
    struct vigil__delayq q;
    struct nfq_handle *h;
    struct nfq_q_handle *qh;
    struct vigil_nfq_stats st;
    /* start-up handshake */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
    int rc;
    char buf[1 << 16]; /* netlink receive buffer */
};

static void verdict(struct vigil_nfq_delay *d, uint32_t id)
{
    if (nfq_set_verdict(d->qh, id, NF_ACCEPT, 0, NULL) < 0) {
        d->st.errors++;
    }
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *user)
{
    (void)qh;
    (void)msg;
    struct vigil_nfq_delay *d = user;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph) {
        d->st.errors++;
        return 0;
    }
    uint32_t id = ntohl(ph->packet_id);
    int64_t delay = atomic_load(&d->draining) ? 0 : d->delay_ns;
    if (vigil__delayq_push(&d->q, id, vigil_clock_mono_ns() + delay) != 0) {
        d->st.overflow++;
        verdict(d, id);
        return 0;
    }
    if (d->q.len > d->st.max_held) {
        d->st.max_held = d->q.len;
    }
    return 0;
}

static int setup(struct vigil_nfq_delay *d)
{
    if (d->netns_fd >= 0 && setns(d->netns_fd, CLONE_NEWNET) != 0) {
        int e = errno;
        vigil_error("nfq: setns: %s", strerror(e));
        return -e;
    }
    d->h = nfq_open();
    if (!d->h) {
        int e = errno ? errno : EPERM;
        vigil_error("nfq: nfq_open: %s", strerror(e));
        return -e;
    }
    /* Old kernels need the family unbound and bound again; newer ones ignore it. */
    nfq_unbind_pf(d->h, AF_INET);
    if (nfq_bind_pf(d->h, AF_INET) < 0) {
        int e = errno ? errno : EPERM;
        vigil_error("nfq: bind AF_INET: %s", strerror(e));
        return -e;
    }
    d->qh = nfq_create_queue(d->h, d->queue, on_packet, d);
    if (!d->qh) {
        int e = errno ? errno : EBUSY;
        vigil_error("nfq: create queue %u: %s", d->queue, strerror(e));
        return -e;
    }
    if (nfq_set_mode(d->qh, NFQNL_COPY_META, 0) < 0) {
        int e = errno ? errno : EIO;
        vigil_error("nfq: set mode: %s", strerror(e));
        return -e;
    }
    nfq_set_queue_maxlen(d->qh, (uint32_t)d->q.cap);
    /* Fail open: a full kernel queue accepts instead of dropping. */
    nfq_set_queue_flags(d->qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
    int fd = nfq_fd(d->h);
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
    nfnl_rcvbufsiz(nfq_nfnlh(d->h), 4u << 20);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

static void release_due(struct vigil_nfq_delay *d)
{
    uint32_t id;
    int64_t now = vigil_clock_mono_ns();
    while (vigil__delayq_pop_due(&d->q, now, &id)) {
        verdict(d, id);
        d->st.delayed++;
    }
}

static void release_all(struct vigil_nfq_delay *d)
{
    uint32_t id;
    while (vigil__delayq_pop(&d->q, &id)) {
        verdict(d, id);
        d->st.delayed++;
    }
}

/* Reads every queued message and hands each packet to on_packet. */
static void receive_all(struct vigil_nfq_delay *d, int fd)
{
    for (;;) {
        ssize_t got = recv(fd, d->buf, sizeof d->buf, MSG_DONTWAIT);
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                d->st.errors++;
            }
            return;
        }
        nfq_handle_packet(d->h, d->buf, (int)got);
    }
}

static void *run(void *arg)
{
    struct vigil_nfq_delay *d = arg;
    int rc = setup(d);
    pthread_mutex_lock(&d->mu);
    d->rc = rc;
    d->ready = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (rc) {
        return NULL;
    }
    int fd = nfq_fd(d->h);
    for (;;) {
        if (atomic_load(&d->draining)) {
            release_all(d);
        }
        release_due(d);
        if (atomic_load(&d->stopping)) {
            break;
        }
        int64_t wait = vigil__delayq_wait_ns(&d->q, vigil_clock_mono_ns());
        struct timespec ts, *tsp = NULL;
        if (wait >= 0) {
            ts.tv_sec = (time_t)(wait / 1000000000);
            ts.tv_nsec = (long)(wait % 1000000000);
            tsp = &ts;
        }
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = d->stop_fd, .events = POLLIN}};
        int pr = ppoll(p, 2, tsp, NULL);
        if (pr < 0 && errno != EINTR) {
            d->st.errors++;
            break;
        }
        if (pr > 0 && (p[1].revents & POLLIN)) {
            uint64_t v;
            ssize_t r = read(d->stop_fd, &v, sizeof v);
            (void)r;
        }
        if (pr > 0 && (p[0].revents & POLLIN)) {
            receive_all(d, fd);
        }
    }
    /*
     * Stopping: packets the kernel already queued are read and let go, then
     * everything still held, in arrival order, so the end of an injection
     * reorders nothing.
     */
    atomic_store(&d->draining, 1);
    receive_all(d, fd);
    release_all(d);
    return NULL;
}

static void teardown(struct vigil_nfq_delay *d)
{
    if (d->qh) {
        nfq_destroy_queue(d->qh);
    }
    if (d->h) {
        nfq_close(d->h);
    }
    if (d->stop_fd >= 0) {
        close(d->stop_fd);
    }
    if (d->netns_fd >= 0) {
        close(d->netns_fd);
    }
    vigil__delayq_fini(&d->q);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    vigil_free(d);
}

int vigil_nfq_supported(void)
{
    return 1;
}

int vigil_nfq_delay_start(struct vigil_nfq_delay **out, const char *netns_path, uint16_t queue,
                          int64_t delay_ns, size_t cap)
{
    *out = NULL;
    if (delay_ns <= 0) {
        return -EINVAL;
    }
    struct vigil_nfq_delay *d = vigil_calloc(1, sizeof *d);
    if (!d) {
        return -ENOMEM;
    }
    d->stop_fd = -1;
    d->netns_fd = -1;
    d->queue = queue;
    d->delay_ns = delay_ns;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    int rc = vigil__delayq_init(&d->q, cap ? cap : VIGIL_NFQ_CAP_DEFAULT);
    if (rc) {
        goto fail;
    }
    d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->stop_fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (netns_path && (d->netns_fd = open(netns_path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    rc = -pthread_create(&d->thread, NULL, run, d);
    if (rc) {
        goto fail;
    }
    pthread_mutex_lock(&d->mu);
    while (!d->ready) {
        pthread_cond_wait(&d->cv, &d->mu);
    }
    rc = d->rc;
    pthread_mutex_unlock(&d->mu);
    if (rc) {
        pthread_join(d->thread, NULL);
        goto fail;
    }
    *out = d;
    return 0;
fail:
    teardown(d);
    return rc;
}

static void wake(struct vigil_nfq_delay *d)
{
    uint64_t one = 1;
    ssize_t w = write(d->stop_fd, &one, sizeof one);
    (void)w;
}

void vigil_nfq_delay_drain(struct vigil_nfq_delay *d)
{
    if (d) {
        atomic_store(&d->draining, 1);
        wake(d);
    }
}

int vigil_nfq_delay_stop(struct vigil_nfq_delay *d, struct vigil_nfq_stats *stats)
{
    if (!d) {
        return 0;
    }
    atomic_store(&d->stopping, 1);
    wake(d);
    pthread_join(d->thread, NULL);
    if (stats) {
        *stats = d->st;
    }
    teardown(d);
    return 0;
}
