/*
 * Bus tests against a real nats-server with JetStream, started here on
 * 127.0.0.1 with a fresh store directory and stopped at the end. Skipped when
 * nats-server is absent or vigil was built without libnats (then the stub
 * must answer VIGIL_ENOTSUP). Covers streams, sync and async publishes,
 * fetch with timeout, acks, redelivery after the ack wait when a consumer
 * disappears without acking, a nak, and two workers sharing one durable.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/bus.h"

static int server_pid;
static char url[64];

static int start_server(void **state)
{
    (void)state;
    server_pid = tu_nats_start(url, sizeof url);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    tu_stop(server_pid);
    return 0;
}

#define REQUIRE_SERVER() TU_REQUIRE_NATS(server_pid)

static void test_subject_names(void **state)
{
    (void)state;
    char s[32];
    assert_int_equal(vigil_bus_subject(s, sizeof s, "vigil.metrics", "web-01"), 0);
    assert_string_equal(s, "vigil.metrics.web-01");
    assert_int_equal(vigil_bus_subject(s, sizeof s, "vigil.metrics", "a.b*c> d\te"), 0);
    assert_string_equal(s, "vigil.metrics.a_b_c__d_e");
    assert_int_equal(vigil_bus_subject(s, sizeof s, "vigil.metrics", ""), -EINVAL);
    assert_int_equal(vigil_bus_subject(s, 10, "vigil.metrics", "x"), -EINVAL);
}

static void test_connect_refused(void **state)
{
    (void)state;
    struct vigil_bus *b;
    struct vigil_diag d;
    vigil_diag_clear(&d);
    char u[64];
    snprintf(u, sizeof u, "nats://127.0.0.1:%d", tu_free_port());
    int rc = vigil_bus_connect(&b, u, "t", &d);
    if (!vigil_bus_available()) {
        assert_int_equal(rc, VIGIL_ENOTSUP);
        assert_non_null(strstr(d.msg, "libnats"));
        return;
    }
    assert_true(rc == -ECONNREFUSED || rc == -EIO || rc == -ETIMEDOUT);
    assert_null(b);
    assert_true(d.msg[0] != '\0');
}

/*
 * The first connect of a process, to a nats:// URL, keeps OpenSSL from loading
 * its error strings (450 KB resident, src/io/nats.c). Checked on the reason
 * text of EVP_R_BAD_DECRYPT ("bad decrypt"), which libnats' own initialisation
 * of OpenSSL would load. The first connect is the server probe of
 * tu_nats_start, to a nats:// URL too.
 */
static void test_no_tls_error_strings(void **state)
{
    (void)state;
    struct vigil_bus *b;
    struct vigil_diag d;
    char u[64];
    snprintf(u, sizeof u, "nats://127.0.0.1:%d", tu_free_port());
    int rc = vigil_bus_connect(&b, u, "t", &d);
    if (!vigil_bus_available()) {
        assert_int_equal(rc, VIGIL_ENOTSUP);
        skip();
    }
    assert_int_not_equal(rc, 0);
    void *crypto = dlopen("libcrypto.so.3", RTLD_LAZY | RTLD_NOLOAD);
    if (!crypto) {
        skip(); /* libnats built against another OpenSSL */
    }
    const char *(*reason)(unsigned long) =
        (const char *(*)(unsigned long))dlsym(crypto, "ERR_reason_error_string");
    assert_non_null(reason);
    const unsigned long bad_decrypt = (6ul << 23) | 100; /* ERR_LIB_EVP, reason 100 */
    assert_null(reason(bad_decrypt));
    dlclose(crypto);
}

/*
 * What vigil_bus_plaintext_only does to OpenSSL, in a fresh process (this
 * test binary run again with --plaintext-child URL): OpenSSL is set up once
 * per process, and this one set it up when it probed the server. The child publishes and fetches over the trimmed
 * setup, then checks that OpenSSL has no legacy cipher or digest table and
 * that RAND_bytes answers from vigil's kernel generator, not OpenSSL's.
 * Returns the child's exit status: 0, or the number of the check that failed.
 */
static int plaintext_child(void)
{
    struct vigil_bus *b;
    struct vigil_diag d;
    vigil_bus_plaintext_only();
    if (vigil_bus_connect(&b, url, "pt", &d)) {
        return 1;
    }
    struct vigil_bus_stream st = {.name = "PT", .subjects = "pt.>", .memory = 1};
    if (vigil_bus_ensure_stream(b, &st, &d)) {
        return 2;
    }
    for (int i = 0; i < 20; i++) {
        if (vigil_bus_publish_async(b, "pt.a", "x", 1, NULL, &d)) {
            return 3;
        }
    }
    if (vigil_bus_publish_wait(b, 5000000000LL, &d) || vigil_bus_failed(b)) {
        return 4;
    }
    struct vigil_bus_consumer cc = {.stream = "PT", .durable = "w", .subject = "pt.>"};
    struct vigil_bus_sub *sub;
    struct vigil_bus_msg m[32];
    size_t n = 0;
    if (vigil_bus_subscribe(b, &cc, &sub, &d) ||
        vigil_bus_fetch(sub, m, 32, 2000000000LL, &n, &d) || n != 20) {
        return 5;
    }
    for (size_t i = 0; i < n; i++) {
        vigil_bus_ack(&m[i]);
    }
    vigil_bus_unsubscribe(sub);
    vigil_bus_delete_stream(b, "PT", &d);
    vigil_bus_close(b);
    void *crypto = dlopen("libcrypto.so.3", RTLD_LAZY | RTLD_NOLOAD);
    if (!crypto) {
        return 0; /* libnats built against another OpenSSL: nothing more to check */
    }
    const void *(*cipher)(const char *) = (const void *(*)(const char *))dlsym(crypto, "EVP_get_cipherbyname");
    const void *(*digest)(const char *) = (const void *(*)(const char *))dlsym(crypto, "EVP_get_digestbyname");
    const void *(*method)(void) = (const void *(*)(void))dlsym(crypto, "RAND_get_rand_method");
    const void *(*openssl)(void) = (const void *(*)(void))dlsym(crypto, "RAND_OpenSSL");
    int (*bytes)(unsigned char *, int) = (int (*)(unsigned char *, int))dlsym(crypto, "RAND_bytes");
    if (!cipher || !digest || !method || !openssl || !bytes) {
        return 6;
    }
    if (cipher("AES-128-CBC") || digest("SHA256")) {
        return 7; /* the legacy tables were loaded */
    }
    if (method() == openssl()) {
        return 8;
    }
    unsigned char r1[16] = {0}, r2[16] = {0};
    if (bytes(r1, sizeof r1) != 1 || bytes(r2, sizeof r2) != 1 || !memcmp(r1, r2, sizeof r1)) {
        return 9;
    }
    return 0;
}

static void test_plaintext_only_process(void **state)
{
    (void)state;
    if (!vigil_bus_available()) {
        skip();
    }
    REQUIRE_SERVER();
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_bus", "--plaintext-child", url, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static struct vigil_bus *connect_or_fail(const char *name)
{
    struct vigil_bus *b = NULL;
    struct vigil_diag d;
    int rc = vigil_bus_connect(&b, url, name, &d);
    if (rc) {
        fail_msg("connect: %s", d.msg);
    }
    return b;
}

static void make_stream(struct vigil_bus *b, const char *name, const char *subjects)
{
    struct vigil_diag d;
    struct vigil_bus_stream st = {.name = name, .subjects = subjects, .memory = 1};
    vigil_bus_delete_stream(b, name, &d);
    int rc = vigil_bus_ensure_stream(b, &st, &d);
    if (rc) {
        fail_msg("stream: %s", d.msg);
    }
    assert_int_equal(vigil_bus_ensure_stream(b, &st, &d), 0); /* idempotent */
}

/*
 * A bounded async window: with the server frozen (SIGSTOP), acks stop, the
 * publishes past the window fail (after the 1 ms stall) instead of queueing,
 * and once it runs again everything queued is acknowledged.
 */
static void test_async_window_bounds_a_stuck_server(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct vigil_bus *b = connect_or_fail("tw");
    struct vigil_diag d;
    make_stream(b, "TW", "tw.>");
    assert_int_equal(vigil_bus_async_window(b, 0, 0, 0, &d), -EINVAL);
    assert_int_equal(vigil_bus_async_window(b, 4, 1000000, 0, &d), 0);
    assert_int_equal(kill(server_pid, SIGSTOP), 0);
    int ok = 0, refused = 0;
    for (int i = 0; i < 10; i++) {
        int rc = vigil_bus_publish_async(b, "tw.a", "x", 1, NULL, &d);
        ok += rc == 0;
        refused += rc != 0;
    }
    assert_int_equal(kill(server_pid, SIGCONT), 0);
    assert_int_equal(ok, 4);
    assert_int_equal(refused, 6);
    assert_int_equal(vigil_bus_publish_wait(b, 5000000000LL, &d), 0);
    assert_int_equal(vigil_bus_failed(b), 0);
    vigil_bus_close(b);
}

static void test_publish_fetch_ack(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct vigil_bus *b = connect_or_fail("t1");
    struct vigil_diag d;
    make_stream(b, "T1", "t1.>");
    char msg[32];
    for (int i = 0; i < 10; i++) {
        snprintf(msg, sizeof msg, "sync-%d", i);
        assert_int_equal(vigil_bus_publish(b, "t1.a", msg, strlen(msg), NULL, &d), 0);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(msg, sizeof msg, "async-%d", i);
        assert_int_equal(vigil_bus_publish_async(b, "t1.b", msg, strlen(msg), NULL, &d), 0);
    }
    assert_int_equal(vigil_bus_publish_wait(b, 5000000000LL, &d), 0);
    assert_int_equal(vigil_bus_failed(b), 0);
    /* A duplicate message id inside the duplicate window is stored once. */
    assert_int_equal(vigil_bus_publish(b, "t1.c", "dup", 3, "id-1", &d), 0);
    assert_int_equal(vigil_bus_publish(b, "t1.c", "dup", 3, "id-1", &d), 0);

    struct vigil_bus_consumer cc = {.stream = "T1", .durable = "w", .subject = "t1.>"};
    struct vigil_bus_sub *sub;
    assert_int_equal(vigil_bus_subscribe(b, &cc, &sub, &d), 0);
    struct vigil_bus_msg m[64];
    size_t got = 0, n;
    int seen_sync = 0, seen_async = 0, seen_dup = 0;
    while (got < 111) {
        assert_int_equal(vigil_bus_fetch(sub, m, 64, 2000000000LL, &n, &d), 0);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(m[i].delivered, 1);
            assert_true(m[i].stream_seq == got + i + 1);
            if (strncmp(m[i].data, "sync-", 5) == 0) {
                assert_string_equal(m[i].subject, "t1.a");
                seen_sync++;
            } else if (strncmp(m[i].data, "async-", 6) == 0) {
                seen_async++;
            } else {
                assert_int_equal(m[i].len, 3);
                seen_dup++;
            }
            assert_int_equal(vigil_bus_ack(&m[i]), 0);
        }
        got += n;
    }
    assert_int_equal(seen_sync, 10);
    assert_int_equal(seen_async, 100);
    assert_int_equal(seen_dup, 1);
    /* Nothing left: a fetch times out quietly. */
    assert_int_equal(vigil_bus_fetch(sub, m, 64, 300000000LL, &n, &d), 0);
    assert_int_equal(n, 0);
    vigil_bus_unsubscribe(sub);
    /* A consumer on a missing stream fails with a reason. */
    struct vigil_bus_consumer bad = {.stream = "NOPE", .durable = "w", .subject = "nope.>"};
    assert_true(vigil_bus_subscribe(b, &bad, &sub, &d) < 0);
    struct vigil_bus_consumer dotted = {.stream = "T1", .durable = "a.b", .subject = "t1.>"};
    assert_int_equal(vigil_bus_subscribe(b, &dotted, &sub, &d), -EINVAL);
    assert_int_equal(vigil_bus_delete_stream(b, "T1", &d), 0);
    assert_true(vigil_bus_delete_stream(b, "T1", &d) < 0);
    vigil_bus_close(b);
}

static void test_unacked_batch_is_redelivered(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct vigil_bus *b = connect_or_fail("t2");
    struct vigil_diag d;
    make_stream(b, "T2", "t2.>");
    for (int i = 0; i < 5; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%d", i);
        assert_int_equal(vigil_bus_publish(b, "t2.x", msg, strlen(msg), NULL, &d), 0);
    }
    struct vigil_bus_consumer cc = {
        .stream = "T2", .durable = "g", .subject = "t2.>", .ack_wait_ns = 1000000000LL};
    /* Worker 1 takes all five, acks two and vanishes. */
    struct vigil_bus *w1 = connect_or_fail("w1");
    struct vigil_bus_sub *s1;
    assert_int_equal(vigil_bus_subscribe(w1, &cc, &s1, &d), 0);
    struct vigil_bus_msg m[8];
    size_t n;
    assert_int_equal(vigil_bus_fetch(s1, m, 8, 2000000000LL, &n, &d), 0);
    assert_int_equal(n, 5);
    assert_int_equal(vigil_bus_ack(&m[0]), 0);
    assert_int_equal(vigil_bus_ack(&m[1]), 0);
    vigil_bus_unsubscribe(s1);
    vigil_bus_close(w1);
    /* Worker 2 of the same group gets the other three again after the ack wait. */
    struct vigil_bus *w2 = connect_or_fail("w2");
    struct vigil_bus_sub *s2;
    assert_int_equal(vigil_bus_subscribe(w2, &cc, &s2, &d), 0);
    size_t got = 0;
    char seen[3][16];
    for (int tries = 0; tries < 10 && got < 3; tries++) {
        assert_int_equal(vigil_bus_fetch(s2, m, 8, 1000000000LL, &n, &d), 0);
        for (size_t i = 0; i < n; i++) {
            assert_true(m[i].delivered >= 2);
            assert_true(got < 3);
            snprintf(seen[got++], 16, "%.*s", (int)m[i].len, (const char *)m[i].data);
            assert_int_equal(vigil_bus_ack(&m[i]), 0);
        }
    }
    assert_int_equal(got, 3);
    assert_string_equal(seen[0], "m2");
    assert_string_equal(seen[1], "m3");
    assert_string_equal(seen[2], "m4");
    /* A nak brings a message back at once. */
    assert_int_equal(vigil_bus_publish(b, "t2.x", "again", 5, NULL, &d), 0);
    assert_int_equal(vigil_bus_fetch(s2, m, 8, 2000000000LL, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vigil_bus_nak(&m[0], 0), 0);
    assert_int_equal(vigil_bus_fetch(s2, m, 8, 2000000000LL, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].delivered, 2);
    assert_int_equal(vigil_bus_ack(&m[0]), 0);
    vigil_bus_unsubscribe(s2);
    vigil_bus_close(w2);
    vigil_bus_delete_stream(b, "T2", &d);
    vigil_bus_close(b);
}

static void test_two_workers_share_a_durable(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct vigil_bus *b = connect_or_fail("t3");
    struct vigil_diag d;
    make_stream(b, "T3", "t3.>");
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "%d", i);
        assert_int_equal(vigil_bus_publish_async(b, "t3.x", msg, strlen(msg), NULL, &d), 0);
    }
    assert_int_equal(vigil_bus_publish_wait(b, 5000000000LL, &d), 0);
    struct vigil_bus_consumer cc = {.stream = "T3", .durable = "g", .subject = "t3.>"};
    struct vigil_bus *w[2] = {connect_or_fail("a"), connect_or_fail("b")};
    struct vigil_bus_sub *s[2];
    assert_int_equal(vigil_bus_subscribe(w[0], &cc, &s[0], &d), 0);
    assert_int_equal(vigil_bus_subscribe(w[1], &cc, &s[1], &d), 0);
    static int count[N];
    memset(count, 0, sizeof count);
    size_t per[2] = {0, 0}, total = 0;
    for (int round = 0; round < 200 && total < N; round++) {
        int k = round % 2;
        struct vigil_bus_msg m[16];
        size_t n;
        assert_int_equal(vigil_bus_fetch(s[k], m, 16, 500000000LL, &n, &d), 0);
        for (size_t i = 0; i < n; i++) {
            int v = atoi(m[i].data);
            if (v < 0 || v >= N) {
                fail_msg("a message out of range: %d", v);
                return;
            }
            count[v]++;
            assert_int_equal(vigil_bus_ack(&m[i]), 0);
        }
        per[k] += n;
        total += n;
    }
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(count[i], 1); /* every message once: no loss, no duplicate */
    }
    assert_true(per[0] > 0 && per[1] > 0);
    for (int k = 0; k < 2; k++) {
        vigil_bus_unsubscribe(s[k]);
        vigil_bus_close(w[k]);
    }
    vigil_bus_delete_stream(b, "T3", &d);
    vigil_bus_close(b);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--plaintext-child") == 0) {
        snprintf(url, sizeof url, "%s", argv[2]);
        return plaintext_child();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_names),
        cmocka_unit_test(test_plaintext_only_process),
        cmocka_unit_test(test_no_tls_error_strings),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_publish_fetch_ack),
        cmocka_unit_test(test_async_window_bounds_a_stuck_server),
        cmocka_unit_test(test_unacked_batch_is_redelivered),
        cmocka_unit_test(test_two_workers_share_a_durable),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
