/*
 * libFuzzer target for the packet decoder and the flow batch decoder. The
 * first input byte picks the link type and how much of the frame the capture
 * header claims was on the wire; the rest is the frame. Decoded packets go
 * through a small flow table (with eviction) so the feature code sees hostile
 * values too. The same bytes are then offered to vigil_flow_batch_decode.
 * Run with `make fuzz` (ASan + UBSan).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vigil/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *user, const struct vigil_flow_rec *recs, size_t n)
{
    (void)user;
    volatile float acc = 0;
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < VIGIL_FLOW_F; j++) {
            acc += recs[i].f[j];
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int links[8] = {
        VIGIL_LINK_ETHERNET, VIGIL_LINK_RAW,  VIGIL_LINK_LINUX_SLL, VIGIL_LINK_NULL,
        VIGIL_LINK_IPV4,     VIGIL_LINK_IPV6, VIGIL_LINK_ETHERNET,  12};
    if (size < 1) {
        return 0;
    }
    int link = links[data[0] & 7];
    size_t caplen = size - 1;
    /* Wire length: as captured, longer (snap length cut), or a lie below caplen. */
    size_t wire = (data[0] >> 3) == 0 ? caplen : (data[0] >> 3) == 1 ? caplen / 2 : caplen + 64;
    struct vigil_pkt p;
    memset(&p, 0, sizeof p);
    enum vigil_pkt_status st = vigil_pkt_decode(&p, data + 1, caplen, wire, link);
    if (st == VIGIL_PKT_OK) {
        struct vigil_flow_params fp;
        vigil_flow_params_default(&fp);
        fp.max_flows = 2;
        fp.batch = 2;
        struct vigil_flowtab *ft;
        if (vigil_flowtab_new(&ft, &fp) == 0) {
            for (int i = 0; i < 4; i++) {
                p.ts_ns = (int64_t)i * 700000000;
                p.src[15] ^= (uint8_t)i;
                vigil_flowtab_add(ft, &p, sink, NULL);
            }
            vigil_flowtab_flush(ft, sink, NULL);
            vigil_flowtab_free(ft);
        }
        char s[64];
        vigil_ip_format(p.src, s, sizeof s);
        vigil_ip_format(p.dst, s, sizeof s);
    }
    static struct vigil_flow_rec recs[16];
    struct vigil_flow_batch_hdr h;
    vigil_flow_batch_decode(data, size, &h, recs, 16);
    vigil_ip_parse((const char *)data, size < 64 ? size : 64, p.src);
    return 0;
}
