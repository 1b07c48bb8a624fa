/*
 * Growable byte buffer (pointer, length, capacity), used to build output text
 * and serialized models. The content is always NUL-terminated after a
 * successful append so it can be printed, but it may also hold binary data.
 *
 *     struct vigil_buf b;
 *     vigil_buf_init(&b);
 *     vigil_buf_appendf(&b, "%s %g\n", name, value);
 *     fwrite(b.p, 1, b.len, stdout);
 *     vigil_buf_fini(&b);
 */
#ifndef VIGIL_BUF_H
#define VIGIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct vigil_buf {
    char *p;    /* owned; NULL until the first append */
    size_t len; /* bytes used, not counting the terminating NUL */
    size_t cap; /* bytes allocated */
};

/* Makes an empty buffer. Never fails: nothing is allocated yet. */
void vigil_buf_init(struct vigil_buf *b);
/* Releases the storage. The buffer may be reused after vigil_buf_init. */
void vigil_buf_fini(struct vigil_buf *b);
/* Sets len to 0 and keeps the capacity. */
void vigil_buf_reset(struct vigil_buf *b);
/* Ensures room for extra more bytes plus a NUL. Returns 0 or -ENOMEM. */
int vigil_buf_reserve(struct vigil_buf *b, size_t extra);
/*
 * Gives capacity back: a buffer holding more than twice need bytes is cut
 * down to need plus a quarter, so a buffer that grew for a burst (a page
 * rendered for twice the usual series) does not keep the burst's memory.
 * Growth doubles, so a buffer that just grew for need is left alone, and
 * one cut down grows again only when need rises by a quarter. The content
 * stays; need below len, or realloc failing, leaves the buffer as it is.
 */
void vigil_buf_fit(struct vigil_buf *b, size_t need);
/* Appends n bytes. Returns 0 or -ENOMEM (the buffer is unchanged then). */
int vigil_buf_append(struct vigil_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
int vigil_buf_puts(struct vigil_buf *b, const char *s);
/* Appends formatted text. Returns 0, -ENOMEM or -EINVAL (bad format). */
int vigil_buf_appendf(struct vigil_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends little-endian fixed-width integers and IEEE floats (model files). */
int vigil_buf_put_u32(struct vigil_buf *b, uint32_t v);
int vigil_buf_put_u64(struct vigil_buf *b, uint64_t v);
int vigil_buf_put_f32(struct vigil_buf *b, float v);
int vigil_buf_put_f64(struct vigil_buf *b, double v);
/* Appends a length-prefixed (u32) string. */
int vigil_buf_put_str(struct vigil_buf *b, const char *s);

/*
 * Reading side of the same little-endian encoding: a cursor over borrowed
 * bytes. Every get checks the remaining length and returns VIGIL_EFORMAT on a
 * short read, so truncated model files are rejected, never overrun.
 */
struct vigil_rd {
    const unsigned char *p; /* borrowed */
    size_t n;               /* bytes left */
};

void vigil_rd_init(struct vigil_rd *r, const void *p, size_t n);
int vigil_rd_u32(struct vigil_rd *r, uint32_t *v);
int vigil_rd_u64(struct vigil_rd *r, uint64_t *v);
int vigil_rd_f32(struct vigil_rd *r, float *v);
int vigil_rd_f64(struct vigil_rd *r, double *v);
/* Copies n raw bytes. */
int vigil_rd_bytes(struct vigil_rd *r, void *out, size_t n);
/* Reads a length-prefixed string of at most max bytes; caller frees *s. */
int vigil_rd_str(struct vigil_rd *r, char **s, size_t max);

#endif /* VIGIL_BUF_H */
