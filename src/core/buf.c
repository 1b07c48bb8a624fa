/*
 * Growable buffer and the little-endian encoder/decoder used by model files.
 * The decoder never reads past its length: a short read is VIGIL_EFORMAT.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vigil/buf.h"
#include "vigil/err.h"
#include "vigil/mem.h"

void vigil_buf_init(struct vigil_buf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void vigil_buf_fini(struct vigil_buf *b)
{
    vigil_free(b->p);
    vigil_buf_init(b);
}

void vigil_buf_reset(struct vigil_buf *b)
{
    b->len = 0;
    if (b->p) {
        b->p[0] = '\0';
    }
}

int vigil_buf_reserve(struct vigil_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) {
        return -ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    char *p = vigil_realloc(b->p, cap);
    if (!p) {
        return -ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void vigil_buf_fit(struct vigil_buf *b, size_t need)
{
    if (need < b->len || need > SIZE_MAX / 4 || b->cap / 2 <= need + 1) {
        return;
    }
    size_t cap = need + need / 4 + 1;
    char *p = vigil_realloc(b->p, cap);
    if (p) {
        b->p = p;
        b->cap = cap;
    }
}

int vigil_buf_append(struct vigil_buf *b, const void *p, size_t n)
{
    int rc = vigil_buf_reserve(b, n);
    if (rc) {
        return rc;
    }
    if (n) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int vigil_buf_puts(struct vigil_buf *b, const char *s)
{
    return vigil_buf_append(b, s, strlen(s));
}

int vigil_buf_appendf(struct vigil_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -EINVAL;
    }
    if ((size_t)n < sizeof small) {
        return vigil_buf_append(b, small, (size_t)n);
    }
    int rc = vigil_buf_reserve(b, (size_t)n);
    if (rc) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int vigil_buf_put_u32(struct vigil_buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = (unsigned char)(v >> (8 * i));
    }
    return vigil_buf_append(b, x, 4);
}

int vigil_buf_put_u64(struct vigil_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (unsigned char)(v >> (8 * i));
    }
    return vigil_buf_append(b, x, 8);
}

int vigil_buf_put_f32(struct vigil_buf *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    return vigil_buf_put_u32(b, u);
}

int vigil_buf_put_f64(struct vigil_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return vigil_buf_put_u64(b, u);
}

int vigil_buf_put_str(struct vigil_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > UINT32_MAX) {
        return -EINVAL;
    }
    int rc = vigil_buf_put_u32(b, (uint32_t)n);
    return rc ? rc : vigil_buf_append(b, s ? s : "", n);
}

void vigil_rd_init(struct vigil_rd *r, const void *p, size_t n)
{
    r->p = p;
    r->n = n;
}

int vigil_rd_bytes(struct vigil_rd *r, void *out, size_t n)
{
    if (r->n < n) {
        return VIGIL_EFORMAT;
    }
    if (n) {
        memcpy(out, r->p, n);
    }
    r->p += n;
    r->n -= n;
    return 0;
}

int vigil_rd_u32(struct vigil_rd *r, uint32_t *v)
{
    if (r->n < 4) {
        return VIGIL_EFORMAT;
    }
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        x |= (uint32_t)r->p[i] << (8 * i);
    }
    *v = x;
    r->p += 4;
    r->n -= 4;
    return 0;
}

int vigil_rd_u64(struct vigil_rd *r, uint64_t *v)
{
    if (r->n < 8) {
        return VIGIL_EFORMAT;
    }
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) {
        x |= (uint64_t)r->p[i] << (8 * i);
    }
    *v = x;
    r->p += 8;
    r->n -= 8;
    return 0;
}

int vigil_rd_f32(struct vigil_rd *r, float *v)
{
    uint32_t u;
    int rc = vigil_rd_u32(r, &u);
    if (!rc) {
        memcpy(v, &u, 4);
    }
    return rc;
}

int vigil_rd_f64(struct vigil_rd *r, double *v)
{
    uint64_t u;
    int rc = vigil_rd_u64(r, &u);
    if (!rc) {
        memcpy(v, &u, 8);
    }
    return rc;
}

int vigil_rd_str(struct vigil_rd *r, char **s, size_t max)
{
    uint32_t n;
    int rc = vigil_rd_u32(r, &n);
    if (rc) {
        return rc;
    }
    if (n > max || n > r->n) {
        return VIGIL_EFORMAT;
    }
    char *d = vigil_strndup((const char *)r->p, n);
    if (!d) {
        return -ENOMEM;
    }
    if (memchr(d, '\0', n)) {
        vigil_free(d);
        return VIGIL_EFORMAT;
    }
    r->p += n;
    r->n -= n;
    *s = d;
    return 0;
}
