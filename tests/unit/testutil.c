/*
 * Test helpers: the failing allocator behind the OOM sweeps, and paths.
 * The allocator keeps a size header in front of each block so it can count
 * live bytes and tell a leak from a free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/mem.h"

static long fail_at_call;
static long calls;
static long live;

#define HDR 16

static void *t_malloc(size_t n)
{
    calls++;
    if (fail_at_call && calls == fail_at_call) {
        return NULL;
    }
    unsigned char *p = malloc(n + HDR);
    if (!p) {
        return NULL;
    }
    memcpy(p, &n, sizeof n);
    live += (long)n;
    return p + HDR;
}

static void t_free(void *ptr)
{
    if (!ptr) {
        return;
    }
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    live -= (long)n;
    free(p);
}

static void *t_realloc(void *ptr, size_t n)
{
    if (!ptr) {
        return t_malloc(n);
    }
    calls++;
    if (fail_at_call && calls == fail_at_call) {
        return NULL;
    }
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *q = realloc(p, n + HDR);
    if (!q) {
        return NULL;
    }
    memcpy(q, &n, sizeof n);
    live += (long)n - (long)old;
    return q + HDR;
}

static void *t_calloc(size_t c, size_t s)
{
    if (s && c > SIZE_MAX / s) {
        return NULL;
    }
    void *p = t_malloc(c * s);
    if (p) {
        memset(p, 0, c * s);
    }
    return p;
}

void tu_alloc_fail_at(long n)
{
    fail_at_call = n;
    calls = 0;
    live = 0;
    vigil_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
}

void tu_alloc_reset(void)
{
    vigil_reset_allocator();
    fail_at_call = 0;
}

long tu_alloc_calls(void)
{
    return calls;
}

long tu_alloc_live(void)
{
    return live;
}

const char *tu_data_dir(void)
{
    const char *d = getenv("VIGIL_DATA");
    return d && *d ? d : "../shared/data";
}

int tu_data_path(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", tu_data_dir(), rel);
    return access(out, R_OK) == 0;
}

const char *tu_fixture(const char *rel)
{
    static char slots[8][512];
    static int k;
    char *out = slots[k++ % 8];
    snprintf(out, 512, "tests/data/%s", rel);
    return out;
}

const char *tu_tmpdir(void)
{
    static char slots[4][64];
    static int k;
    char *out = slots[k++ % 4];
    snprintf(out, 64, "/tmp/vigil-test-XXXXXX");
    if (!mkdtemp(out)) {
        fail_msg("mkdtemp failed");
    }
    return out;
}

const char *tu_write_file(const char *dir, const char *name, const char *text, size_t n)
{
    static char slots[8][512];
    static int k;
    char *out = slots[k++ % 8];
    snprintf(out, 512, "%s/%s", dir, name);
    FILE *f = fopen(out, "wb");
    if (!f) {
        fail_msg("cannot write %s", out);
    }
    if (n && fwrite(text, 1, n, f) != n) {
        fail_msg("short write %s", out);
    }
    fclose(f);
    return out;
}
