/*
 * libFuzzer target for the sock_diag dump parser of the tcpinfo collector
 * (src/collect/tcpinfo.c): the input is one netlink datagram as the kernel
 * would send it. Run with `make fuzz` (ASan + UBSan).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/netlink.h>

#include "../../src/collect/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy with netlink's 4-byte alignment, as recv() into the collector's buffer gives. */
    static uint32_t buf[1 << 14];
    if (size > sizeof buf) {
        size = sizeof buf;
    }
    memcpy(buf, data, size);
    struct vigil__tcp_agg a;
    memset(&a, 0, sizeof a);
    /* As the dump of the first message's sequence number, then as another dump's. */
    uint32_t seq = size >= sizeof(struct nlmsghdr) ? ((const struct nlmsghdr *)buf)->nlmsg_seq : 0;
    int rc = vigil__tcpinfo_parse(buf, size, seq, &a);
    rc |= vigil__tcpinfo_parse(buf, size, seq + 1, &a);
    volatile double sink = a.rtt_sum + a.rtt_max + a.rtt_min + a.send_queue + (double)a.sockets;
    (void)sink;
    (void)rc;
    return 0;
}
