/*
 * The bus input of the watch service against a real nats-server with
 * JetStream on 127.0.0.1 (skipped when nats-server or libnats is absent):
 * scrapes published as `vigil collect --nats` does, the newest one per
 * publisher used, the publisher as entity unless a container label says
 * otherwise, staleness, malformed and binary messages, old messages dropped,
 * and a durable consumer resuming after a restart.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "vigil/bus.h"
#include "vigil/busin.h"
#include "vigil/clock.h"
#include "vigil/groups.h"

#define SEC 1000000000LL

static int server_pid = -1;
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
    if (server_pid > 0) {
        tu_stop(server_pid);
    }
    return 0;
}

#define REQUIRE_SERVER() TU_REQUIRE_NATS(server_pid)

/* What the emit callback saw. */
struct seen {
    uint32_t id[64];
    double v[64];
    size_t n;
};

static void emit(void *user, uint32_t series, double value)
{
    struct seen *s = user;
    if (s->n < 64) {
        s->id[s->n] = series;
        s->v[s->n++] = value;
    }
}

/* The value emitted for the series with this key, NaN if none. */
static double value_of(const struct seen *s, const struct vigil_series_table *t, const char *key)
{
    uint32_t id;
    if (vigil_series_find(t, key, strlen(key), &id) != 0) {
        return NAN;
    }
    double v = NAN;
    for (size_t i = 0; i < s->n; i++) {
        if (s->id[i] == id) {
            v = s->v[i];
        }
    }
    return v;
}

static const char *entity_of(const struct vigil_series_table *t, const char *key)
{
    uint32_t id;
    if (vigil_series_find(t, key, strlen(key), &id) != 0) {
        return "(absent)";
    }
    return t->v[id].entity ? t->v[id].entity : "(host)";
}

static void publish(struct vigil_bus *b, const char *host, const char *text, size_t n)
{
    char subject[128];
    struct vigil_diag d;
    assert_int_equal(vigil_bus_subject(subject, sizeof subject, "vigil.metrics", host), 0);
    assert_int_equal(vigil_bus_publish(b, subject, text, n, NULL, &d), 0);
}

static void start_input(struct vigil_busin **in, const char *durable)
{
    struct vigil_busin_conf c;
    vigil_busin_conf_default(&c);
    c.url = url;
    c.durable = durable;
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = vigil_busin_new(in, &c, &d);
    if (rc) {
        print_message("busin: %s\n", d.msg);
    }
    assert_int_equal(rc, 0);
}

static void test_busin_newest_scrape_per_publisher(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct vigil_busin *in;
    start_input(&in, "t-newest");
    struct vigil_bus *pub;
    struct vigil_diag d;
    assert_int_equal(vigil_bus_connect(&pub, url, "test-publisher", &d), 0);
    static const char h1a[] = "# TYPE node_load1 gauge\nnode_load1 0.5 1700000000000\n";
    static const char h1b[] = "# TYPE node_load1 gauge\nnode_load1 0.7 1700000001000\n"
                              "# TYPE container_cpu_usage_seconds_total counter\n"
                              "container_cpu_usage_seconds_total{name=\"web\"} 12\n";
    static const char h2[] = "node_load1 2\n";
    publish(pub, "h1", h1a, sizeof h1a - 1);
    publish(pub, "h1", h1b, sizeof h1b - 1);
    publish(pub, "web.example.org", h2, sizeof h2 - 1);
    struct vigil_groups *g;
    assert_int_equal(vigil_groups_new(&g, NULL, NULL, 0, &d), 0);
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    struct seen s = {0};
    int64_t now = vigil_clock_wall_ns();
    assert_int_equal(vigil_busin_run(in, now, &t, g, emit, &s), 2);
    assert_int_equal(s.n, 3);
    assert_true(value_of(&s, &t, "node_load1{instance=\"h1\"}") == 0.7);
    assert_true(value_of(&s, &t, "node_load1{instance=\"web_example_org\"}") == 2.0);
    assert_string_equal(entity_of(&t, "node_load1{instance=\"h1\"}"), "h1");
    assert_string_equal(
        entity_of(&t, "container_cpu_usage_seconds_total{instance=\"h1\",name=\"web\"}"), "web");
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_busin_render(in, &b), 0);
    assert_non_null(strstr(b.p, "vigil_bus_publisher_up{host=\"h1\"} 1\n"));
    assert_non_null(strstr(b.p, "vigil_bus_messages_total{outcome=\"used\"} 2\n"));
    assert_non_null(strstr(b.p, "vigil_bus_messages_total{outcome=\"superseded\"} 1\n"));
    /* Nothing new: nothing emitted, and the run does not wait long. */
    s.n = 0;
    int64_t t0 = vigil_clock_mono_ns();
    assert_int_equal(vigil_busin_run(in, now + SEC, &t, g, emit, &s), 2);
    assert_int_equal(s.n, 0);
    assert_true(vigil_clock_mono_ns() - t0 < 2 * SEC);
    /* Publishers silent for more than the stale time are stale. */
    assert_int_equal(vigil_busin_run(in, now + 6 * SEC, &t, g, emit, &s), 0);
    vigil_buf_reset(&b);
    assert_int_equal(vigil_busin_render(in, &b), 0);
    assert_non_null(strstr(b.p, "vigil_bus_publisher_up{host=\"h1\"} 0\n"));
    vigil_buf_fini(&b);
    vigil_series_table_fini(&t);
    vigil_groups_free(g);
    vigil_bus_close(pub);
    vigil_busin_free(in);
}

static void test_busin_bad_and_old_messages(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct vigil_busin *in;
    start_input(&in, "t-bad");
    struct vigil_bus *pub;
    struct vigil_diag d;
    assert_int_equal(vigil_bus_connect(&pub, url, "test-publisher", &d), 0);
    static const char bad[] = "node_load1{ 1\n";
    static const char bin[] = "\x00\xff\x01node_load1 \x80\x81 3\n\x7f";
    publish(pub, "h3", bad, sizeof bad - 1);
    publish(pub, "h4", bin, sizeof bin - 1);
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    struct seen s = {0};
    int64_t now = vigil_clock_wall_ns();
    assert_int_equal(vigil_busin_run(in, now, &t, NULL, emit, &s), 0);
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_busin_render(in, &b), 0);
    assert_non_null(strstr(b.p, "vigil_bus_messages_total{outcome=\"malformed\"} 2\n"));
    assert_non_null(strstr(b.p, "vigil_bus_publisher_up{host=\"h3\"} 0\n"));
    /* Read a minute after they were stored: dropped as old, not replayed. */
    static const char good[] = "node_load1 1\n";
    publish(pub, "h5", good, sizeof good - 1);
    s.n = 0;
    assert_int_equal(vigil_busin_run(in, now + 60 * SEC, &t, NULL, emit, &s), 0);
    assert_int_equal(s.n, 0);
    vigil_buf_reset(&b);
    assert_int_equal(vigil_busin_render(in, &b), 0);
    assert_non_null(strstr(b.p, "vigil_bus_messages_total{outcome=\"old\"} 1\n"));
    vigil_buf_fini(&b);
    vigil_series_table_fini(&t);
    vigil_bus_close(pub);
    vigil_busin_free(in);
}

/* The consumer is durable: what was published while the watch was down is read after. */
static void test_busin_durable_resumes(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct vigil_busin *in;
    start_input(&in, "t-durable");
    vigil_busin_free(in);
    struct vigil_bus *pub;
    struct vigil_diag d;
    assert_int_equal(vigil_bus_connect(&pub, url, "test-publisher", &d), 0);
    static const char text[] = "node_load1 4\n";
    publish(pub, "h6", text, sizeof text - 1);
    start_input(&in, "t-durable");
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    struct seen s = {0};
    assert_int_equal(vigil_busin_run(in, vigil_clock_wall_ns(), &t, NULL, emit, &s), 1);
    assert_true(value_of(&s, &t, "node_load1{instance=\"h6\"}") == 4.0);
    /* Without group rules the entity is the publisher. */
    assert_string_equal(entity_of(&t, "node_load1{instance=\"h6\"}"), "h6");
    vigil_series_table_fini(&t);
    vigil_bus_close(pub);
    vigil_busin_free(in);
}

static void test_busin_no_server(void **state)
{
    (void)state;
    struct vigil_busin_conf c;
    vigil_busin_conf_default(&c);
    char u[64];
    snprintf(u, sizeof u, "nats://127.0.0.1:%d", tu_free_port());
    c.url = u;
    struct vigil_busin *in = NULL;
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = vigil_busin_new(&in, &c, &d);
    assert_true(rc == -ECONNREFUSED || rc == VIGIL_ENOTSUP);
    assert_null(in);
    assert_true(d.msg[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busin_newest_scrape_per_publisher),
        cmocka_unit_test(test_busin_bad_and_old_messages),
        cmocka_unit_test(test_busin_durable_resumes),
        cmocka_unit_test(test_busin_no_server),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
