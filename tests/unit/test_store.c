/*
 * SQLite store: insert and update events, filters, newest-first order, JSON
 * escaping of hostile names, a read-only connection beside the writer, and a
 * file that is not a database.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vigil/store.h"

static void test_events_put_query_filters(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/v.db", tu_tmpdir());
    struct vigil_store *st;
    assert_int_equal(vigil_store_open(&st, path, 0), 0);
    const int64_t s = 1700000000LL * 1000000000LL;
    struct vigil_event a = {.entity = "host", .group = "cpu", .model = "lstm-ae",
                            .start_ns = s, .intensity = 1.5,
                            .features = "[{\"name\":\"node_cpu\",\"share\":0.9}]"};
    struct vigil_event b = {.entity = "vm \"1\"\n", .group = "network", .start_ns = s + 60000000000LL,
                            .intensity = 3.0};
    assert_int_equal(vigil_store_event_put(st, &a), 0);
    assert_int_equal(vigil_store_event_put(st, &b), 0);
    assert_true(a.id > 0 && b.id > a.id);
    a.end_ns = s + 10000000000LL;
    a.intensity = 2.5;
    assert_int_equal(vigil_store_event_put(st, &a), 0);

    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_store_events_json(st, NULL, &out), 0);
    cJSON *arr = cJSON_Parse(out.p);
    assert_non_null(arr);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    cJSON *first = cJSON_GetArrayItem(arr, 0); /* newest first: b */
    assert_string_equal(cJSON_GetObjectItem(first, "entity")->valuestring, "vm \"1\"\n");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(first, "end")));
    cJSON *second = cJSON_GetArrayItem(arr, 1);
    assert_true(cJSON_GetObjectItem(second, "intensity")->valuedouble == 2.5);
    assert_string_equal(cJSON_GetObjectItem(second, "start")->valuestring,
                        "2023-11-14T22:13:20.000Z");
    cJSON *feat = cJSON_GetArrayItem(cJSON_GetObjectItem(second, "features"), 0);
    assert_string_equal(cJSON_GetObjectItem(feat, "name")->valuestring, "node_cpu");
    cJSON_Delete(arr);

    struct vigil_event_filter f = {.group = "cpu"};
    assert_int_equal(vigil_store_events_count(st, &f), 1);
    f = (struct vigil_event_filter){.entity = "host", .group = "network"};
    assert_int_equal(vigil_store_events_count(st, &f), 0);
    /* Time filter: a ended before from; b is open so it overlaps any later range. */
    f = (struct vigil_event_filter){.from_ns = s + 20000000000LL};
    assert_int_equal(vigil_store_events_count(st, &f), 1);
    f = (struct vigil_event_filter){.to_ns = s + 1};
    assert_int_equal(vigil_store_events_count(st, &f), 1);

    /* A read-only connection sees the writer's rows and cannot write. */
    struct vigil_store *ro;
    assert_int_equal(vigil_store_open(&ro, path, VIGIL_STORE_READONLY), 0);
    assert_int_equal(vigil_store_events_count(ro, NULL), 2);
    struct vigil_event c = {.entity = "x", .group = "cpu", .start_ns = s, .intensity = 1};
    assert_int_equal(vigil_store_event_put(ro, &c), -EROFS);
    vigil_store_close(ro);
    vigil_buf_fini(&out);
    vigil_store_close(st);
}

static void test_scores_history_and_prune(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/s.db", tu_tmpdir());
    struct vigil_store *st;
    assert_int_equal(vigil_store_open(&st, path, 0), 0);
    const int64_t S = 1000000000LL;
    assert_int_equal(vigil_store_begin(st), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(vigil_store_score_put(st, i * S, "host", "cpu", i * 0.1), 0);
        assert_int_equal(vigil_store_score_put(st, i * S, "host", "memory", 0.5), 0);
        if (i % 2 == 0) {
            assert_int_equal(vigil_store_service_put(st, i * S, i), 0);
        }
    }
    assert_int_equal(vigil_store_score_put(st, 100 * S, "host", "cpu", NAN), 0);
    assert_int_equal(vigil_store_commit(st), 0);
    int64_t ts[200];
    double r[200], sv[200];
    /* The latest 10 cpu points of [0, 100 s], oldest first, service joined by time. */
    int64_t n = vigil_store_scores(st, "host", "cpu", 0, 0, ts, r, sv, 10);
    assert_int_equal(n, 10);
    assert_true(ts[0] == 91 * S && ts[9] == 100 * S);
    assert_true(fabs(r[0] - 9.1) < 1e-9);
    assert_true(isnan(sv[0]) && sv[1] == 92.0);
    assert_true(isnan(r[9]));
    n = vigil_store_scores(st, "host", "cpu", 10 * S, 19 * S, ts, r, sv, 200);
    assert_int_equal(n, 10);
    assert_int_equal(vigil_store_prune(st, 50 * S), 0);
    n = vigil_store_scores(st, "host", "memory", 0, 0, ts, r, sv, 200);
    assert_int_equal(n, 50);
    assert_true(ts[0] == 50 * S);
    /* By key: only host/cpu loses its points before 80 s (and the service values with it). */
    assert_int_equal(vigil_store_prune_scores(st, "host", "cpu", 80 * S), 0);
    n = vigil_store_scores(st, "host", "cpu", 0, 0, ts, r, sv, 200);
    assert_int_equal(n, 21);
    assert_true(ts[0] == 80 * S && sv[0] == 80.0);
    assert_int_equal(vigil_store_scores(st, "host", "memory", 0, 0, ts, r, sv, 200), 50);
    assert_true(isnan(sv[0])); /* the service value of 50 s is gone */
    vigil_store_close(st);
}

static void test_store_rejects_non_database(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    const char *junk = "this is not an sqlite database, just some text that is long enough\n";
    const char *p = tu_write_file(dir, "junk.db", junk, strlen(junk));
    struct vigil_store *st = NULL;
    assert_int_equal(vigil_store_open(&st, p, 0), -EIO);
    assert_null(st);
    char missing[256];
    snprintf(missing, sizeof missing, "%s/no/such/dir/v.db", dir);
    assert_int_equal(vigil_store_open(&st, missing, 0), -EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_put_query_filters),
        cmocka_unit_test(test_scores_history_and_prune),
        cmocka_unit_test(test_store_rejects_non_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
