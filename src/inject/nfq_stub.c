/*
 * Stand-in for the NFQUEUE delay helper on hosts without libnetfilter_queue:
 * latency injection answers VIGIL_ENOTSUP, everything else still builds.
 */
#include "vigil/nfq.h"

int vigil_nfq_supported(void)
{
    return 0;
}

int vigil_nfq_delay_start(struct vigil_nfq_delay **out, const char *netns_path, uint16_t queue,
                          int64_t delay_ns, size_t cap)
{
    (void)netns_path;
    (void)queue;
    (void)delay_ns;
    (void)cap;
    *out = NULL;
    return VIGIL_ENOTSUP;
}

void vigil_nfq_delay_drain(struct vigil_nfq_delay *d)
{
    (void)d;
}

int vigil_nfq_delay_stop(struct vigil_nfq_delay *d, struct vigil_nfq_stats *stats)
{
    (void)d;
    if (stats) {
        *stats = (struct vigil_nfq_stats){0};
    }
    return 0;
}
