/*
 * Flow record batches as bytes, for the bus between sensors and workers
 * (docs/flows.md, "Batch format"). Little-endian, fixed-size records after a
 * short header; the decoder checks the magic, the version, the feature count,
 * that the length is exactly what the header promises and that every feature
 * is finite, so a corrupt or hostile message is rejected whole.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "vigil/flow.h"

#define MAGIC "VFLB"
#define VERSION 1
#define REC_BYTES (8 + 16 + 16 + 1 + 1 + 4 * VIGIL_FLOW_F)
#define SENSOR_MAX 63

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

int vigil_flow_batch_encode(struct vigil_buf *out, const char *sensor, uint64_t seq,
                            const struct vigil_flow_rec *recs, size_t n)
{
    if (n > VIGIL_FLOW_BATCH_MAX) {
        return -EINVAL;
    }
    size_t slen = sensor ? strlen(sensor) : 0;
    if (slen > SENSOR_MAX) {
        slen = SENSOR_MAX;
    }
    size_t hdr = 4 + 2 + 2 + 4 + 8 + 1 + slen;
    int rc = vigil_buf_reserve(out, hdr + n * REC_BYTES);
    if (rc) {
        return rc;
    }
    unsigned char *p = (unsigned char *)out->p + out->len;
    memcpy(p, MAGIC, 4);
    put_le(p + 4, VERSION, 2);
    put_le(p + 6, VIGIL_FLOW_F, 2);
    put_le(p + 8, n, 4);
    put_le(p + 12, seq, 8);
    p[20] = (unsigned char)slen;
    if (slen) {
        memcpy(p + 21, sensor, slen);
    }
    p += hdr;
    for (size_t i = 0; i < n; i++, p += REC_BYTES) {
        const struct vigil_flow_rec *r = &recs[i];
        put_le(p, (uint64_t)r->win_ns, 8);
        memcpy(p + 8, r->src, 16);
        memcpy(p + 24, r->dst, 16);
        p[40] = r->family;
        p[41] = r->evicted;
        for (int j = 0; j < VIGIL_FLOW_F; j++) {
            uint32_t u;
            memcpy(&u, &r->f[j], 4);
            put_le(p + 42 + 4 * j, u, 4);
        }
    }
    out->len += hdr + n * REC_BYTES;
    out->p[out->len] = '\0';
    return 0;
}

int vigil_flow_batch_decode(const void *data, size_t n, struct vigil_flow_batch_hdr *hdr,
                            struct vigil_flow_rec *recs, size_t cap)
{
    const unsigned char *p = data;
    memset(hdr, 0, sizeof *hdr);
    if (n < 21 || memcmp(p, MAGIC, 4) != 0 || get_le(p + 4, 2) != VERSION ||
        get_le(p + 6, 2) != VIGIL_FLOW_F) {
        return VIGIL_EFORMAT;
    }
    uint64_t cnt = get_le(p + 8, 4);
    size_t slen = p[20];
    if (slen > SENSOR_MAX || cnt > VIGIL_FLOW_BATCH_MAX) {
        return VIGIL_EFORMAT;
    }
    size_t hlen = 21 + slen;
    if (n < hlen || n - hlen != cnt * REC_BYTES) {
        return VIGIL_EFORMAT;
    }
    if (cnt > cap) {
        return VIGIL_ESHAPE;
    }
    hdr->seq = get_le(p + 12, 8);
    hdr->n = (uint32_t)cnt;
    memcpy(hdr->sensor, p + 21, slen);
    hdr->sensor[slen] = '\0';
    p += hlen;
    for (size_t i = 0; i < cnt; i++, p += REC_BYTES) {
        struct vigil_flow_rec *r = &recs[i];
        r->win_ns = (int64_t)get_le(p, 8);
        memcpy(r->src, p + 8, 16);
        memcpy(r->dst, p + 24, 16);
        r->family = p[40];
        r->evicted = p[41];
        if ((r->family != 4 && r->family != 6) || r->evicted > 1) {
            return VIGIL_EFORMAT;
        }
        for (int j = 0; j < VIGIL_FLOW_F; j++) {
            uint32_t u = (uint32_t)get_le(p + 42 + 4 * j, 4);
            memcpy(&r->f[j], &u, 4);
            if (!isfinite(r->f[j])) {
                return VIGIL_EFORMAT;
            }
        }
    }
    return 0;
}
