/*
 * Latency injection without netem: an NFQUEUE delay helper. An iptables
 * rule inside a network namespace sends packets to a queue; a thread of
 * ours, joined to that namespace, receives them (metadata only), holds them
 * in a timed queue and lets each one go with an NF_ACCEPT verdict once the
 * delay has passed. The delay is constant, so packet order is kept. When
 * the queue is full, or the helper is gone, packets pass undelayed (the rule
 * uses --queue-bypass, the queue NFQA_CFG_F_FAIL_OPEN): the helper adds
 * latency, never loss.
 *
 * Built with libnetfilter_queue (VIGIL_HAVE_NFQ); without it every call
 * returns VIGIL_ENOTSUP (src/inject/nfq_stub.c).
 *
 *     struct vigil_nfq_delay *d;
 *     rc = vigil_nfq_delay_start(&d, "/run/netns/x", 4242, 50 * 1000000LL, 0);
 *     ... iptables -A OUTPUT -o eth0 -j NFQUEUE --queue-num 4242 --queue-bypass ...
 *     vigil_nfq_delay_drain(d);     // no more delay, nothing reordered
 *     ... iptables -D ... (the same rule) ...
 *     vigil_nfq_delay_stop(d, &stats);
 */
#ifndef VIGIL_NFQ_H
#define VIGIL_NFQ_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

struct vigil_nfq_delay; /* opaque */

struct vigil_nfq_stats {
    uint64_t delayed;  /* packets held and let go (for the full delay, or less once draining) */
    uint64_t overflow; /* packets let through at once because the queue was full */
    uint64_t max_held; /* most packets held at one time */
    uint64_t errors;   /* verdicts or receives that failed */
};

/* 1 when the helper is built in (libnetfilter_queue), 0 for the stub. */
int vigil_nfq_supported(void);

/* Default capacity of the timed queue (packets), also the kernel queue's length. */
#define VIGIL_NFQ_CAP_DEFAULT 8192

/*
 * Starts the helper thread in the network namespace at netns_path (NULL =
 * the caller's) on queue number queue with the given delay (ns, > 0). cap is
 * the queue capacity (0 = VIGIL_NFQ_CAP_DEFAULT). Returns when the queue is
 * bound: 0 and *out (stop it with vigil_nfq_delay_stop), -EINVAL, -ENOMEM,
 * -EPERM (not root), -errno from setns or netlink, or VIGIL_ENOTSUP.
 */
int vigil_nfq_delay_start(struct vigil_nfq_delay **out, const char *netns_path, uint16_t queue,
                          int64_t delay_ns, size_t cap);

/*
 * Ends the delay without reordering: held packets are let go at once in
 * arrival order, and packets queued from now on pass as soon as they are
 * read. Call it before removing the iptables rule, so packets that then
 * bypass the queue cannot overtake held ones. Returns at once. NULL is a no-op.
 */
void vigil_nfq_delay_drain(struct vigil_nfq_delay *d);

/*
 * Releases every held packet (and any the kernel has queued), unbinds the queue, joins the thread and frees
 * d. stats (may be NULL) receives the counts. NULL d is a no-op. Returns 0.
 */
int vigil_nfq_delay_stop(struct vigil_nfq_delay *d, struct vigil_nfq_stats *stats);

#endif /* VIGIL_NFQ_H */
