/*
 * Threat alarm tests: deduplication by victim for DoS and by source for
 * probes, a new alarm after a quiet period, JSON lines parsed back with
 * cJSON, SQLite events opened and closed, the bounded table, the callback,
 * the hook (run only when configured), and Alertmanager failures that are
 * counted without stopping detection.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/alert.h"
#include "vigil/mem.h"
#include "vigil/nslkdd.h"
#include "vigil/store.h"
#include "vigil/threat.h"

static const int64_t S = 1000000000LL;

static struct vigil_flow_rec rec(int64_t t, uint8_t src, uint8_t dst)
{
    struct vigil_flow_rec r;
    memset(&r, 0, sizeof r);
    r.win_ns = t;
    r.family = 4;
    uint8_t *a[2] = {r.src, r.dst};
    for (int i = 0; i < 2; i++) {
        a[i][10] = 0xff;
        a[i][11] = 0xff;
        a[i][12] = 10;
    }
    r.src[15] = src;
    r.dst[15] = dst;
    r.f[VIGIL_FF_PKTS] = 1;
    r.f[VIGIL_FF_SYN_ONLY] = 1;
    return r;
}

static void test_dedup_by_victim_and_by_source(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/alarms.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    struct vigil_threat_params p;
    vigil_threat_params_default(&p);
    p.jsonl = f;
    p.model = "mlp";
    p.sensor = "s1";
    p.dedup_ns = 10 * S;
    struct vigil_threat *t;
    assert_int_equal(vigil_threat_new(&t, &p), 0);
    int64_t t0 = 1700000000 * S;
    /* A flood on 10.0.0.9 from 100 sources over 8 s: one alarm, raised by its 16th flow. */
    assert_int_equal(p.min_flows[VIGIL_THREAT_DOS], 16);
    for (int i = 0; i < 100; i++) {
        int rc = vigil_threat_offer(t, &(struct vigil_flow_rec){0}, 0, 1.0f);
        assert_int_equal(rc, -EINVAL); /* class 0 is normal: not an alarm */
        struct vigil_flow_rec r = rec(t0 + (i / 20) * 2 * S, (uint8_t)(i + 1), 9);
        assert_int_equal(vigil_threat_offer(t, &r, VIGIL_THREAT_DOS, 0.9f), i == 15 ? 1 : 0);
    }
    /* Two scanners on many hosts: one alarm each. */
    for (int i = 0; i < 30; i++) {
        struct vigil_flow_rec r = rec(t0 + 2 * S, 200, (uint8_t)(i + 10));
        vigil_threat_offer(t, &r, VIGIL_THREAT_PROBE, 0.8f);
        r = rec(t0 + 2 * S, 201, (uint8_t)(i + 10));
        vigil_threat_offer(t, &r, VIGIL_THREAT_PROBE, 0.7f);
    }
    struct vigil_threat_stats st;
    vigil_threat_stats(t, &st);
    assert_int_equal(st.raised, 3);
    assert_int_equal(st.suppressed, 84 + 58);
    assert_int_equal(st.offered, 160);
    /* The flood resumes 20 s after its last flow: quiet longer than dedup, a new alarm. */
    for (int i = 0; i < 16; i++) {
        struct vigil_flow_rec r = rec(t0 + 28 * S, (uint8_t)(i + 1), 9);
        assert_int_equal(vigil_threat_offer(t, &r, VIGIL_THREAT_DOS, 0.95f), i == 15);
    }
    vigil_threat_stats(t, &st);
    assert_int_equal(st.raised, 4);
    assert_true(st.closed >= 1);
    /* A lone DoS-looking flow elsewhere never reaches 16 flows: no alarm. */
    struct vigil_flow_rec lone = rec(t0 + 30 * S, 50, 60);
    assert_int_equal(vigil_threat_offer(t, &lone, VIGIL_THREAT_DOS, 0.99f), 0);
    assert_int_equal(vigil_threat_flush(t), 0);
    vigil_threat_stats(t, &st);
    assert_int_equal(st.closed, 4);
    assert_int_equal(st.below_min, 1);
    assert_int_equal(st.raised, 4);
    vigil_threat_free(t);
    fclose(f);

    /* The JSON lines parse back and say what happened. */
    f = fopen(path, "r");
    char line[4096];
    int n = 0, dos = 0, probe = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        const char *cls = cJSON_GetObjectItem(o, "class")->valuestring;
        const char *key = cJSON_GetObjectItem(o, "key")->valuestring;
        assert_string_equal(cJSON_GetObjectItem(o, "model")->valuestring, "mlp");
        assert_string_equal(cJSON_GetObjectItem(o, "sensor")->valuestring, "s1");
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "flow"), "syn_only"));
        if (strcmp(cls, "dos") == 0) {
            dos++;
            assert_string_equal(key, "dst");
            assert_string_equal(cJSON_GetObjectItem(o, "dst")->valuestring, "10.0.0.9");
        } else {
            probe++;
            assert_string_equal(cls, "probe");
            assert_string_equal(key, "src");
        }
        n++;
        cJSON_Delete(o);
    }
    fclose(f);
    assert_int_equal(n, 4);
    assert_int_equal(dos, 2);
    assert_int_equal(probe, 2);
}

static void test_store_events_and_callback(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char db[256];
    snprintf(db, sizeof db, "%s/vigil.db", dir);
    struct vigil_store *store;
    assert_int_equal(vigil_store_open(&store, db, 0), 0);
    struct vigil_threat_params p;
    vigil_threat_params_default(&p);
    p.store = store;
    p.model = "mlp";
    p.key = VIGIL_THREAT_KEY_FLOW;
    int calls = 0;
    p.sink = NULL;
    struct vigil_threat *t;
    assert_int_equal(vigil_threat_new(&t, &p), 0);
    int64_t t0 = 1700000000 * S;
    for (int i = 0; i < 3; i++) {
        struct vigil_flow_rec r = rec(t0, 1, (uint8_t)(2 + i));
        assert_int_equal(vigil_threat_offer(t, &r, VIGIL_THREAT_PROBE, 0.6f), 1);
        calls++;
    }
    struct vigil_event_filter ef = {0};
    assert_int_equal(vigil_store_events_count(store, &ef), 3);
    /* Open events have no end yet. */
    struct vigil_buf b;
    vigil_buf_init(&b);
    assert_int_equal(vigil_store_events_json(store, &ef, &b), 0);
    assert_non_null(strstr(b.p, "\"end\":null"));
    assert_non_null(strstr(b.p, "10.0.0.1>10.0.0.2"));
    assert_non_null(strstr(b.p, "\"fault\":\"probe\""));
    vigil_threat_flush(t);
    vigil_buf_reset(&b);
    assert_int_equal(vigil_store_events_json(store, &ef, &b), 0);
    assert_null(strstr(b.p, "\"end\":null"));
    vigil_buf_fini(&b);
    vigil_threat_free(t);
    vigil_store_close(store);
    assert_int_equal(calls, 3);
}

static int sink_count(void *user, const char *json, size_t n)
{
    int *c = user;
    (*c)++;
    assert_true(n > 10 && json[0] == '{' && json[n - 1] == '}');
    return *c == 2 ? -EIO : 0; /* the second one fails: counted, not fatal */
}

static void test_bounded_table_sink_and_alertmanager_down(void **state)
{
    (void)state;
    struct vigil_threat_params p;
    vigil_threat_params_default(&p);
    p.max_keys = 2;
    int calls = 0;
    p.sink = sink_count;
    p.sink_user = &calls;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", tu_free_port()); /* nobody listens */
    struct vigil_alert_client *ac;
    assert_int_equal(vigil_alert_client_new(&ac, url, 500), 0);
    p.alerts = ac;
    struct vigil_threat *t;
    assert_int_equal(vigil_threat_new(&t, &p), 0);
    int64_t t0 = 1700000000 * S;
    for (int i = 0; i < 5; i++) {
        struct vigil_flow_rec r = rec(t0 + i, (uint8_t)(i + 1), 7);
        assert_int_equal(vigil_threat_offer(t, &r, VIGIL_THREAT_PROBE, 0.9f), 1);
    }
    struct vigil_threat_stats st;
    vigil_threat_stats(t, &st);
    assert_int_equal(st.raised, 5);
    assert_int_equal(st.evicted, 3);
    assert_int_equal(calls, 5);
    vigil_threat_flush(t);
    vigil_threat_stats(t, &st);
    assert_int_equal(st.closed, 5);
    assert_true(st.sink_errors >= 2); /* the sink once, Alertmanager at least once */
    vigil_threat_free(t);
    vigil_alert_client_free(ac);
    struct vigil_threat_params bad;
    vigil_threat_params_default(&bad);
    bad.max_keys = 0;
    assert_int_equal(vigil_threat_new(&t, &bad), -EINVAL);
    assert_int_equal(vigil_threat_key_parse("dst"), VIGIL_THREAT_KEY_DST);
    assert_int_equal(vigil_threat_key_parse("x"), -1);
}

static void test_hook_runs_only_when_configured(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[128], cmd[1024];
    snprintf(out, sizeof out, "%s/hook.txt", dir);
    /* Default: no hook, nothing runs. */
    struct vigil_threat_params p;
    vigil_threat_params_default(&p);
    assert_null(p.hook);
    p.min_flows[VIGIL_THREAT_DOS] = 1;
    struct vigil_threat *t;
    assert_int_equal(vigil_threat_new(&t, &p), 0);
    struct vigil_flow_rec r = rec(1700000000 * S, 3, 4);
    vigil_threat_offer(t, &r, VIGIL_THREAT_DOS, 1.0f);
    struct vigil_threat_stats st;
    vigil_threat_stats(t, &st);
    assert_int_equal(st.hooks_run, 0);
    vigil_threat_free(t);
    /* Configured: it sees the alarm in its environment. */
    snprintf(cmd, sizeof cmd,
             "echo \"$VIGIL_ALARM_CLASS $VIGIL_ALARM_SRC $VIGIL_ALARM_DST\" >> '%s'; "
             "case \"$VIGIL_ALARM\" in '{'*'}') echo json >> '%s';; esac",
             out, out);
    p.hook = cmd;
    assert_int_equal(vigil_threat_new(&t, &p), 0);
    vigil_threat_offer(t, &r, VIGIL_THREAT_DOS, 1.0f);
    vigil_threat_stats(t, &st);
    assert_int_equal(st.hooks_run, 1);
    vigil_threat_free(t); /* waits for the hook */
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "dos 10.0.0.3 10.0.0.4\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "json\n");
    fclose(f);
}

static void test_oom_sweep_new(void **state)
{
    (void)state;
    struct vigil_threat_params p;
    vigil_threat_params_default(&p);
    for (long k = 1;; k++) {
        struct vigil_threat *t;
        tu_alloc_fail_at(k);
        int rc = vigil_threat_new(&t, &p);
        if (rc == 0) {
            vigil_threat_free(t);
        }
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 10);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_by_victim_and_by_source),
        cmocka_unit_test(test_store_events_and_callback),
        cmocka_unit_test(test_bounded_table_sink_and_alertmanager_down),
        cmocka_unit_test(test_hook_runs_only_when_configured),
        cmocka_unit_test(test_oom_sweep_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
