/*
 * Core module tests: buffers, arena, ring, RNG, durations, options, YAML
 * config, the line reader (plain, gzip, truncated gzip, binary), series
 * interning, frames and the model file container, with OOM sweeps.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"
#include "vigil/arena.h"
#include "vigil/buf.h"
#include "vigil/clock.h"
#include "vigil/config.h"
#include "vigil/dl.h"
#include "vigil/frame.h"
#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/model.h"
#include "vigil/opt.h"
#include "vigil/ring.h"
#include "vigil/rng.h"

static void test_strerror_names_codes(void **state)
{
    (void)state;
    assert_string_equal(vigil_strerror(VIGIL_EPARSE), "malformed input");
    assert_string_equal(vigil_strerror(-ENOENT), strerror(ENOENT));
    assert_string_equal(vigil_strerror(0), "success");
    struct vigil_diag d;
    char out[128];
    vigil_diag_set(&d, 3, 7, "expected '%c'", '}');
    assert_string_equal(vigil_diag_format(&d, "a.prom", out, sizeof out), "a.prom:3:7: expected '}'");
    vigil_diag_set(&d, 3, 0, "x");
    assert_string_equal(vigil_diag_format(&d, "a.prom", out, sizeof out), "a.prom:3: x");
}

#if !defined(__SANITIZE_ADDRESS__) && defined(__GLIBC__)
/* Resident memory of this process, from /proc/self/statm. */
static long rss_kb(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}
#endif

/*
 * Large blocks freed between blocks still held stay resident (glibc trims
 * only the top of the heap) until vigil_mem_give_back hands them back.
 */
static void test_mem_give_back(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
    skip(); /* ASan's allocator, or no glibc: nothing to measure */
#else
    enum { N = 24, BIG = 100 << 10 }; /* under glibc's 128 KiB mmap threshold: from the heap */
    void *big[N], *small[N];
    for (int i = 0; i < N; i++) {
        big[i] = malloc(BIG);
        small[i] = malloc(64); /* holds the heap above each big block */
        assert_non_null(big[i]);
        assert_non_null(small[i]);
        memset(big[i], 1, BIG);
    }
    for (int i = 0; i < N; i++) {
        free(big[i]);
    }
    long before = rss_kb();
    size_t free_bytes = vigil_mem_give_back(256u << 10);
    long after = rss_kb();
    assert_true(free_bytes >= (size_t)N * BIG);
    if (before - after < (long)N * BIG / 1024 / 2) {
        fail_msg("RSS %ld kB before, %ld kB after: less than half of the %d kB freed came back",
                 before, after, N * BIG / 1024);
    }
    /* Nothing above keep: nothing trimmed, the free bytes still told. */
    before = rss_kb();
    assert_true(vigil_mem_give_back((size_t)1 << 40) > 0);
    assert_true(rss_kb() >= before - 64);
    for (int i = 0; i < N; i++) {
        free(small[i]);
    }
#endif
}

static void test_buf_append_and_codec(void **state)
{
    (void)state;
    struct vigil_buf b;
    vigil_buf_init(&b);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(vigil_buf_appendf(&b, "%d,", i), 0);
    }
    assert_true(strncmp(b.p, "0,1,2,", 6) == 0);
    assert_int_equal(b.p[b.len], '\0');
    vigil_buf_reset(&b);
    assert_int_equal(vigil_buf_put_u32(&b, 0xdeadbeef), 0);
    assert_int_equal(vigil_buf_put_u64(&b, 0x0102030405060708ULL), 0);
    assert_int_equal(vigil_buf_put_f32(&b, 1.5f), 0);
    assert_int_equal(vigil_buf_put_f64(&b, -2.25), 0);
    assert_int_equal(vigil_buf_put_str(&b, "kind"), 0);
    assert_int_equal((unsigned char)b.p[0], 0xef); /* little-endian */
    struct vigil_rd r;
    uint32_t u32;
    uint64_t u64;
    float f;
    double d;
    char *s;
    vigil_rd_init(&r, b.p, b.len);
    assert_int_equal(vigil_rd_u32(&r, &u32), 0);
    assert_int_equal(u32, 0xdeadbeef);
    assert_int_equal(vigil_rd_u64(&r, &u64), 0);
    assert_true(u64 == 0x0102030405060708ULL);
    assert_int_equal(vigil_rd_f32(&r, &f), 0);
    assert_true(f == 1.5f);
    assert_int_equal(vigil_rd_f64(&r, &d), 0);
    assert_true(d == -2.25);
    assert_int_equal(vigil_rd_str(&r, &s, 64), 0);
    assert_string_equal(s, "kind");
    vigil_free(s);
    assert_int_equal(r.n, 0);
    assert_int_equal(vigil_rd_u32(&r, &u32), VIGIL_EFORMAT); /* short read */
    /* A string whose length prefix runs past the end is rejected. */
    vigil_rd_init(&r, "\xff\x00\x00\x00ab", 6);
    assert_int_equal(vigil_rd_str(&r, &s, 1000), VIGIL_EFORMAT);
    vigil_buf_fini(&b);
}

static void test_buf_oom_sweep(void **state)
{
    (void)state;
    for (long k = 1;; k++) {
        struct vigil_buf b;
        vigil_buf_init(&b);
        tu_alloc_fail_at(k);
        int rc = 0;
        for (int i = 0; i < 200 && !rc; i++) {
            rc = vigil_buf_appendf(&b, "value %d ", i);
        }
        vigil_buf_fini(&b);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 100);
    }
}

/* vigil_buf_fit: a buffer that grew for a burst gives the room back once empty. */
static void test_buf_fit_after_a_burst(void **state)
{
    (void)state;
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_buf_reserve(&b, 300000), 0); /* the burst */
    size_t burst = b.cap;
    assert_true(burst > 300000);
    assert_int_equal(vigil_buf_puts(&b, "kept"), 0);
    vigil_buf_fit(&b, 3);
    assert_int_equal(b.cap, burst); /* less than its content: left alone */
    vigil_buf_fit(&b, 1000);
    assert_int_equal(b.cap, 1251); /* the content stays */
    assert_string_equal(b.p, "kept");
    assert_int_equal(vigil_buf_reserve(&b, 300000), 0);
    burst = b.cap;
    vigil_buf_reset(&b);
    vigil_buf_fit(&b, burst / 2 - 1); /* within reach of its need: left alone */
    assert_int_equal(b.cap, burst);
    vigil_buf_fit(&b, 100000);
    assert_int_equal(b.cap, 100000 + 25000 + 1);
    assert_string_equal(b.p, "");
    assert_int_equal(vigil_buf_reserve(&b, 100000), 0); /* no growth for the same need */
    assert_int_equal(b.cap, 125001);
    /* realloc failing: the buffer stays as it was, usable. */
    tu_alloc_fail_at(1);
    vigil_buf_fit(&b, 10);
    tu_alloc_reset();
    assert_int_equal(b.cap, 125001);
    assert_int_equal(vigil_buf_puts(&b, "after"), 0);
    assert_string_equal(b.p, "after");
    vigil_buf_fini(&b);
}

/* vigil_shrink: the smaller block, or the same one, intact, when realloc fails. */
static void test_shrink_keeps_the_block_on_failure(void **state)
{
    (void)state;
    char *p = vigil_malloc(4096);
    assert_non_null(p);
    memset(p, 'x', 4096);
    tu_alloc_fail_at(1);
    char *q = vigil_shrink(p, 100);
    tu_alloc_reset();
    assert_ptr_equal(q, p);
    q = vigil_shrink(q, 100);
    assert_non_null(q);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(q[i], 'x');
    }
    vigil_free(q);
}

static void test_arena_alignment_and_limit(void **state)
{
    (void)state;
    struct vigil_arena a;
    assert_int_equal(vigil_arena_init(&a, 100), 0);
    char *p = vigil_arena_alloc(&a, 3, 1);
    double *q = vigil_arena_alloc(&a, sizeof(double), 8);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal((uintptr_t)q % 8, 0);
    assert_null(vigil_arena_alloc(&a, 200, 1));
    assert_null(vigil_arena_alloc(&a, 1, 3)); /* not a power of two */
    vigil_arena_reset(&a);
    assert_non_null(vigil_arena_alloc(&a, 100, 1));
    assert_null(vigil_arena_alloc(&a, 1, 1));
    vigil_arena_fini(&a);
}

static void test_ring_overwrites_oldest(void **state)
{
    (void)state;
    struct vigil_ring r;
    assert_int_equal(vigil_ring_init(&r, sizeof(int), 3), 0);
    for (int i = 1; i <= 5; i++) {
        vigil_ring_push(&r, &i);
    }
    /* Holds 3, 4, 5 oldest first. */
    assert_int_equal(r.len, 3);
    assert_int_equal(*(int *)vigil_ring_at(&r, 0), 3);
    assert_int_equal(*(int *)vigil_ring_at(&r, 2), 5);
    assert_null(vigil_ring_at(&r, 3));
    assert_true(vigil_ring_full(&r));
    vigil_ring_clear(&r);
    assert_int_equal(r.len, 0);
    vigil_ring_fini(&r);
    assert_int_equal(vigil_ring_init(&r, 0, 3), -EINVAL);
}

static void test_rng_is_deterministic_and_uniform(void **state)
{
    (void)state;
    struct vigil_rng a, b, c;
    vigil_rng_seed(&a, 42);
    vigil_rng_seed(&b, 42);
    vigil_rng_seed(&c, 43);
    int same_c = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = vigil_rng_u64(&a);
        assert_true(x == vigil_rng_u64(&b));
        same_c += x == vigil_rng_u64(&c);
    }
    assert_int_equal(same_c, 0);
    /* below(10) hits every bucket about equally; mean of uniform near 0.5. */
    int hist[10] = {0};
    double sum = 0, sq = 0;
    for (int i = 0; i < 100000; i++) {
        hist[vigil_rng_below(&a, 10)]++;
        double z = vigil_rng_normal(&a);
        sum += z;
        sq += z * z;
    }
    for (int k = 0; k < 10; k++) {
        assert_in_range(hist[k], 9500, 10500);
    }
    assert_true(fabs(sum / 1e5) < 0.02);
    assert_true(fabs(sq / 1e5 - 1.0) < 0.03);
    struct vigil_rng s0, s1;
    vigil_rng_split(&a, 0, &s0);
    vigil_rng_split(&a, 1, &s1);
    assert_true(vigil_rng_u64(&s0) != vigil_rng_u64(&s1));
    uint32_t idx[50];
    for (uint32_t i = 0; i < 50; i++) {
        idx[i] = i;
    }
    vigil_rng_shuffle(&a, idx, 50);
    uint64_t seen = 0;
    for (int i = 0; i < 50; i++) {
        seen |= 1ULL << idx[i];
    }
    assert_true(seen == (1ULL << 50) - 1);
}

/* Fills the table {fn} with the one name in ctx. */
static const char *resolve_one(void *dl, void *ctx)
{
    const char **name = ctx;
    const char *missing = NULL;
    void *p = vigil_dl_sym(dl, name[0], &missing);
    name[1] = p ? "found" : NULL;
    return missing;
}

static void test_dl_load(void **state)
{
    (void)state;
    char why[256] = "";
    const char *want[2] = {"strlen", NULL};
    void *dl = vigil_dl_load("libc.so.6", resolve_one, want, why, sizeof why);
    assert_non_null(dl);
    assert_string_equal(want[1], "found");
    vigil_dl_close(dl);

    const char *absent[2] = {"vigil_no_such_symbol", NULL};
    assert_null(vigil_dl_load("libc.so.6", resolve_one, absent, why, sizeof why));
    assert_string_equal(why, "libc.so.6 has no vigil_no_such_symbol");

    assert_null(vigil_dl_load("libvigil-absent.so.9", resolve_one, want, why, sizeof why));
    assert_non_null(strstr(why, "cannot load libvigil-absent.so.9: "));
    vigil_dl_close(NULL);
}

static void test_duration_parse(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(vigil_duration_parse("300ms", 5, &ns), 0);
    assert_true(ns == 300000000LL);
    assert_int_equal(vigil_duration_parse("10m", 3, &ns), 0);
    assert_true(ns == 600000000000LL);
    assert_int_equal(vigil_duration_parse("1m30s", 5, &ns), 0);
    assert_true(ns == 90000000000LL);
    assert_int_equal(vigil_duration_parse("1.5", 3, &ns), 0);
    assert_true(ns == 1500000000LL);
    assert_int_equal(vigil_duration_parse("3h", 2, &ns), 0);
    assert_true(ns == 3LL * 3600 * 1000000000LL);
    assert_int_equal(vigil_duration_parse("1.6ns", 5, &ns), 0); /* rounded to the nearest ns */
    assert_true(ns == 2);
    assert_int_equal(vigil_duration_parse("2.4ns", 5, &ns), 0);
    assert_true(ns == 2);
    assert_int_equal(vigil_duration_parse("", 0, &ns), VIGIL_EPARSE);
    assert_int_equal(vigil_duration_parse("10x", 3, &ns), VIGIL_EPARSE);
    assert_int_equal(vigil_duration_parse("ms", 2, &ns), VIGIL_EPARSE);
    assert_int_equal(vigil_duration_parse("1m30", 4, &ns), VIGIL_EPARSE);
    char out[32];
    assert_string_equal(vigil_duration_format(90000000000LL, out, sizeof out), "1m30s");
    assert_string_equal(vigil_duration_format(100000000LL, out, sizeof out), "100ms");
}

struct params {
    int trees;
    double frac;
    int flag;
    char *name;
    int64_t warmup;
    int crit;
};

static const char *const crits[] = {"gini", "entropy", NULL};
static const struct vigil_opt popts[] = {
    {"trees", VIGIL_OPT_INT, offsetof(struct params, trees), "10", 1, 1000, "trees", NULL},
    {"frac", VIGIL_OPT_DOUBLE, offsetof(struct params, frac), "0.5", 0, 1, "fraction", NULL},
    {"flag", VIGIL_OPT_BOOL, offsetof(struct params, flag), "no", 0, 0, "flag", NULL},
    {"name", VIGIL_OPT_STR, offsetof(struct params, name), "abc", 0, 0, "name", NULL},
    {"warmup", VIGIL_OPT_DURATION, offsetof(struct params, warmup), "10m", 1, 86400, "warm", NULL},
    {"crit", VIGIL_OPT_ENUM, offsetof(struct params, crit), "gini", 0, 0, "split", crits},
    {0},
};

static void test_opt_defaults_set_and_bounds(void **state)
{
    (void)state;
    struct params p = {0};
    struct vigil_diag d;
    assert_int_equal(vigil_opt_defaults(popts, &p), 0);
    assert_int_equal(p.trees, 10);
    assert_true(p.frac == 0.5);
    assert_int_equal(p.flag, 0);
    assert_string_equal(p.name, "abc");
    assert_true(p.warmup == 600000000000LL);
    assert_int_equal(p.crit, 0);
    assert_int_equal(vigil_opt_set(popts, &p, "trees", "100", 3, &d), 0);
    assert_int_equal(p.trees, 100);
    assert_int_equal(vigil_opt_set(popts, &p, "trees", "0", 1, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "[1, 1000]"));
    assert_int_equal(vigil_opt_set(popts, &p, "trees", "12x", 3, &d), VIGIL_ECONFIG);
    assert_int_equal(vigil_opt_set(popts, &p, "flag", "yes", 3, &d), 0);
    assert_int_equal(p.flag, 1);
    assert_int_equal(vigil_opt_set(popts, &p, "flag", "maybe", 5, &d), VIGIL_ECONFIG);
    assert_int_equal(vigil_opt_set(popts, &p, "crit", "entropy", 7, &d), 0);
    assert_int_equal(p.crit, 1);
    assert_int_equal(vigil_opt_set(popts, &p, "crit", "x", 1, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "gini|entropy"));
    assert_int_equal(vigil_opt_set(popts, &p, "warmup", "2h", 2, &d), 0);
    assert_int_equal(vigil_opt_set(popts, &p, "warmup", "3d", 2, &d), VIGIL_ECONFIG);
    assert_int_equal(vigil_opt_set(popts, &p, "nope", "1", 1, &d), -ENOENT);
    assert_int_equal(vigil_opt_set(popts, &p, "name", "xyz", 3, &d), 0);
    assert_string_equal(p.name, "xyz");
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_opt_help(popts, &b), 0);
    assert_non_null(strstr(b.p, "--trees"));
    vigil_buf_reset(&b);
    assert_int_equal(vigil_opt_dump(popts, &p, &b), 0);
    assert_non_null(strstr(b.p, "trees = 100"));
    assert_non_null(strstr(b.p, "warmup = 2h"));
    vigil_buf_fini(&b);
    vigil_opt_free(popts, &p);
    assert_null(p.name);
}

static void test_config_yaml_sections(void **state)
{
    (void)state;
    const char *y = "# comment\n"
                    "rf:\n"
                    "  trees: 50\n"
                    "  crit: entropy\n"
                    "watch:\n"
                    "  targets:\n"
                    "    - http://127.0.0.1:9100/metrics\n"
                    "    - http://127.0.0.1:8080/metrics\n";
    struct vigil_config cfg;
    struct vigil_diag d;
    vigil_config_init(&cfg);
    assert_int_equal(vigil_config_parse(&cfg, y, strlen(y), &d), 0);
    const struct vigil_config_entry *e = vigil_config_get(&cfg, "watch.targets.1");
    assert_non_null(e);
    assert_string_equal(e->value, "http://127.0.0.1:8080/metrics");
    assert_int_equal(e->line, 8);
    struct params p = {0};
    vigil_opt_defaults(popts, &p);
    assert_int_equal(vigil_config_apply(&cfg, "rf", popts, &p, &d), 0);
    assert_int_equal(p.trees, 50);
    assert_int_equal(p.crit, 1);
    vigil_opt_free(popts, &p);
    vigil_config_fini(&cfg);

    /* An unknown key names its line; a bad value too. */
    const char *bad = "rf:\n  trees: 5\n  tress: 7\n";
    vigil_config_init(&cfg);
    assert_int_equal(vigil_config_parse(&cfg, bad, strlen(bad), &d), 0);
    vigil_opt_defaults(popts, &p);
    assert_int_equal(vigil_config_apply(&cfg, "rf", popts, &p, &d), VIGIL_ECONFIG);
    assert_int_equal(d.line, 3);
    assert_non_null(strstr(d.msg, "tress"));
    vigil_opt_free(popts, &p);
    vigil_config_fini(&cfg);

    const char *broken = "rf:\n  trees: [1, 2\n";
    vigil_config_init(&cfg);
    assert_int_equal(vigil_config_parse(&cfg, broken, strlen(broken), &d), VIGIL_EPARSE);
    assert_true(d.line >= 2);
    vigil_config_fini(&cfg);

    const char *alias = "a: &x 1\nb: *x\n";
    vigil_config_init(&cfg);
    assert_int_equal(vigil_config_parse(&cfg, alias, strlen(alias), &d), VIGIL_EPARSE);
    vigil_config_fini(&cfg);
}

static void test_config_oom_sweep(void **state)
{
    (void)state;
    const char *y = "a:\n  b: 1\n  c: [x, y, z]\nd: 2\n";
    for (long k = 1;; k++) {
        struct vigil_config cfg;
        vigil_config_init(&cfg);
        tu_alloc_fail_at(k);
        int rc = vigil_config_parse(&cfg, y, strlen(y), NULL);
        vigil_config_fini(&cfg);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            assert_true(k > 1);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
    }
}

static void test_lines_plain_gzip_and_errors(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    const char *text = "a,b\r\n1,2\n\n3,4";
    const char *plain = tu_write_file(dir, "x.csv", text, strlen(text));
    char gzpath[512];
    snprintf(gzpath, sizeof gzpath, "%s/x.csv.gz", dir);
    gzFile gz = gzopen(gzpath, "wb");
    gzwrite(gz, text, (unsigned)strlen(text));
    gzclose(gz);
    const char *paths[] = {plain, gzpath};
    for (int k = 0; k < 2; k++) {
        struct vigil_lines l;
        const char *p;
        size_t n;
        assert_int_equal(vigil_lines_open(&l, paths[k], 0), 0);
        assert_int_equal(vigil_lines_next(&l, &p, &n, NULL), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(p, "a,b", 3);
        assert_int_equal(vigil_lines_next(&l, &p, &n, NULL), 0);
        assert_memory_equal(p, "1,2", 3);
        assert_int_equal(vigil_lines_next(&l, &p, &n, NULL), 0);
        assert_int_equal(n, 0);
        assert_int_equal(vigil_lines_next(&l, &p, &n, NULL), 0);
        assert_memory_equal(p, "3,4", 3);
        assert_int_equal(l.line, 4);
        assert_int_equal(vigil_lines_next(&l, &p, &n, NULL), VIGIL_EOF);
        vigil_lines_close(&l);
    }
    /* Truncated gzip: a read error, not silent loss. */
    char *blob;
    size_t bn;
    assert_int_equal(vigil_read_file(gzpath, 1 << 20, &blob, &bn), 0);
    assert_int_equal(bn, strlen(text));
    vigil_free(blob);
    FILE *f = fopen(gzpath, "rb");
    unsigned char raw[256];
    size_t rn = fread(raw, 1, sizeof raw, f);
    fclose(f);
    const char *trunc = tu_write_file(dir, "t.gz", (const char *)raw, rn - 6);
    struct vigil_lines l;
    const char *p;
    size_t n;
    struct vigil_diag d;
    int rc = 0;
    assert_int_equal(vigil_lines_open(&l, trunc, 0), 0);
    while ((rc = vigil_lines_next(&l, &p, &n, &d)) == 0) {
    }
    assert_int_equal(rc, -EIO);
    vigil_lines_close(&l);
    /* Binary input and over-long lines name the line. */
    const char bin[] = "ok\nab\0cd\n";
    const char *bp = tu_write_file(dir, "b.txt", bin, sizeof bin - 1);
    assert_int_equal(vigil_lines_open(&l, bp, 0), 0);
    assert_int_equal(vigil_lines_next(&l, &p, &n, &d), 0);
    assert_int_equal(vigil_lines_next(&l, &p, &n, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 3);
    vigil_lines_close(&l);
    assert_int_equal(vigil_lines_open_mem(&l, "short\nthis is long\n", 19, 8), 0);
    assert_int_equal(vigil_lines_next(&l, &p, &n, &d), 0);
    assert_int_equal(vigil_lines_next(&l, &p, &n, &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 2);
    vigil_lines_close(&l);
    assert_int_equal(vigil_lines_open(&l, "/nonexistent/file", 0), -ENOENT);
    assert_int_equal(vigil_lines_open(&l, dir, 0), -EISDIR);
}

static void test_series_intern_canonical(void **state)
{
    (void)state;
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    uint32_t a, b, c, d;
    const char *s1 = "node_cpu_seconds_total{mode=\"idle\",cpu=\"0\"}";
    const char *s2 = "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}";
    assert_int_equal(vigil_series_intern_text(&t, s1, strlen(s1), &a), 0);
    assert_int_equal(vigil_series_intern_text(&t, s2, strlen(s2), &b), 0);
    assert_int_equal(a, b);
    const struct vigil_series *s = vigil_series_get(&t, a);
    assert_string_equal(s->key, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}");
    assert_string_equal(s->name, "node_cpu_seconds_total");
    assert_int_equal(s->n_labels, 2);
    assert_string_equal(vigil_series_label(s, "mode"), "idle");
    /* Escapes are unescaped in labels and re-escaped in the key. */
    const char *s3 = "m{path=\"a\\\"b\\\\c\"}";
    assert_int_equal(vigil_series_intern_text(&t, s3, strlen(s3), &c), 0);
    assert_string_equal(vigil_series_label(vigil_series_get(&t, c), "path"), "a\"b\\c");
    assert_string_equal(vigil_series_get(&t, c)->key, s3);
    /* Free text is kept as a name. */
    assert_int_equal(vigil_series_intern_text(&t, "CPU user %", 10, &d), 0);
    assert_string_equal(vigil_series_get(&t, d)->name, "CPU user %");
    for (int i = 0; i < 1000; i++) {
        char name[32];
        uint32_t id;
        snprintf(name, sizeof name, "m%d", i);
        assert_int_equal(vigil_series_intern_text(&t, name, strlen(name), &id), 0);
        assert_int_equal(id, 3 + i);
    }
    uint32_t id;
    assert_int_equal(vigil_series_find(&t, "m500", 4, &id), 0);
    assert_int_equal(id, 503);
    assert_int_equal(vigil_series_find(&t, "zz", 2, &id), -ENOENT);
    assert_int_equal(vigil_group_parse("network"), VIGIL_GROUP_NETWORK);
    assert_string_equal(vigil_group_name(VIGIL_GROUP_FILESYSTEM), "filesystem");
    vigil_series_table_fini(&t);
}

static void test_frame_rows_cols_select(void **state)
{
    (void)state;
    struct vigil_frame fr;
    vigil_frame_init(&fr);
    uint32_t c0, c1;
    assert_int_equal(vigil_frame_add_col(&fr, "a", 1, &c0), 0);
    for (int i = 0; i < 1000; i++) {
        float *row;
        assert_int_equal(vigil_frame_add_row(&fr, (int64_t)i * 10000000000LL, &row), 0);
        row[c0] = (float)i;
    }
    assert_int_equal(vigil_frame_add_col(&fr, "b", 1, &c1), 0);
    assert_int_equal(fr.f, 2);
    assert_true(vigil_frame_row(&fr, 999)[c0] == 999.0f);
    assert_true(isnan(vigil_frame_row(&fr, 5)[c1]));
    assert_true(vigil_frame_step(&fr) == 10000000000LL);
    assert_int_equal(vigil_frame_alloc_labels(&fr), 0);
    fr.y[7] = 3;
    struct vigil_frame sel;
    vigil_frame_init(&sel);
    uint32_t cols[] = {c1, c0};
    assert_int_equal(vigil_frame_select(&sel, &fr, cols, 2), 0);
    assert_int_equal(sel.n, 1000);
    assert_true(vigil_frame_row(&sel, 999)[1] == 999.0f);
    assert_int_equal(sel.y[7], 3);
    assert_string_equal(vigil_series_get(&sel.cols, 0)->name, "b");
    vigil_frame_fini(&sel);
    vigil_frame_fini(&fr);
}

static void test_mfile_roundtrip_and_corruption(void **state)
{
    (void)state;
    struct vigil_section sec[2] = {{"prep", "abc", 3}, {"model", "0123456789", 10}};
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_mfile_encode(&b, "rf", sec, 2), 0);
    struct vigil_mfile mf;
    struct vigil_diag d;
    void *blob = vigil_malloc(b.len);
    memcpy(blob, b.p, b.len);
    assert_int_equal(vigil_mfile_decode(&mf, blob, b.len, &d), 0);
    assert_string_equal(mf.kind, "rf");
    const struct vigil_section *m = vigil_mfile_find(&mf, "model");
    assert_non_null(m);
    assert_int_equal(m->n, 10);
    assert_memory_equal(m->p, "0123456789", 10);
    assert_null(vigil_mfile_find(&mf, "nope"));
    vigil_mfile_fini(&mf);
    /* Every truncation and every single-byte flip is rejected, never a crash. */
    for (size_t cut = 0; cut < b.len; cut++) {
        blob = vigil_malloc(cut ? cut : 1);
        memcpy(blob, b.p, cut);
        assert_int_equal(vigil_mfile_decode(&mf, blob, cut, &d), VIGIL_EFORMAT);
    }
    for (size_t i = 0; i < b.len; i++) {
        blob = vigil_malloc(b.len);
        memcpy(blob, b.p, b.len);
        ((unsigned char *)blob)[i] ^= 0x40;
        assert_int_equal(vigil_mfile_decode(&mf, blob, b.len, &d), VIGIL_EFORMAT);
    }
    blob = vigil_malloc(b.len);
    memcpy(blob, b.p, b.len);
    memcpy(blob, "NOTVIGIL", 8);
    assert_int_equal(vigil_mfile_decode(&mf, blob, b.len, &d), VIGIL_EFORMAT);
    assert_non_null(strstr(d.msg, "magic"));
    /* Save and load through a file. */
    const char *dir = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/m.vgl", dir);
    assert_int_equal(vigil_mfile_save(path, "rf", sec, 2), 0);
    assert_int_equal(vigil_mfile_load(&mf, path, &d), 0);
    assert_int_equal(mf.n_sec, 2);
    vigil_mfile_fini(&mf);
    vigil_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_codes),
        cmocka_unit_test(test_buf_append_and_codec),
        cmocka_unit_test(test_mem_give_back),
        cmocka_unit_test(test_buf_oom_sweep),
        cmocka_unit_test(test_buf_fit_after_a_burst),
        cmocka_unit_test(test_shrink_keeps_the_block_on_failure),
        cmocka_unit_test(test_arena_alignment_and_limit),
        cmocka_unit_test(test_ring_overwrites_oldest),
        cmocka_unit_test(test_rng_is_deterministic_and_uniform),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_dl_load),
        cmocka_unit_test(test_opt_defaults_set_and_bounds),
        cmocka_unit_test(test_config_yaml_sections),
        cmocka_unit_test(test_config_oom_sweep),
        cmocka_unit_test(test_lines_plain_gzip_and_errors),
        cmocka_unit_test(test_series_intern_canonical),
        cmocka_unit_test(test_frame_rows_cols_select),
        cmocka_unit_test(test_mfile_roundtrip_and_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
