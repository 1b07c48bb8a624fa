/*
 * Alertmanager client against a real Debian prometheus-alertmanager started
 * on 127.0.0.1: an alert posted by vigil shows up active with its labels and
 * annotations, and posting it with endsAt in the past resolves it. Skips when
 * the package is absent. Also: bad URLs and an unreachable server.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/alert.h"
#include "vigil/buf.h"
#include "vigil/clock.h"

static size_t collect(char *p, size_t s, size_t n, void *u)
{
    vigil_buf_append(u, p, s * n);
    return s * n;
}

/* GET /api/v2/alerts and return the parsed array (caller deletes). */
static cJSON *get_alerts(int port)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v2/alerts?active=true&silenced=false", port);
    struct vigil_buf b;
    vigil_buf_init(&b);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    cJSON *arr = cJSON_Parse(b.p ? b.p : "");
    vigil_buf_fini(&b);
    assert_non_null(arr);
    return arr;
}

static cJSON *find_alert(cJSON *arr, const char *entity)
{
    cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        cJSON *l = cJSON_GetObjectItem(a, "labels");
        cJSON *e = l ? cJSON_GetObjectItem(l, "entity") : NULL;
        if (e && strcmp(e->valuestring, entity) == 0) {
            return a;
        }
    }
    return NULL;
}

static void test_alert_fires_and_resolves_in_alertmanager(void **state)
{
    (void)state;
    if (!tu_have_program("prometheus-alertmanager")) {
        print_message("skip: prometheus-alertmanager not installed\n");
        skip();
    }
    const char *dir = tu_tmpdir();
    const char *cfg = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n";
    const char *cfgp = tu_write_file(dir, "am.yml", cfg, strlen(cfg));
    int port = tu_free_port();
    char a_cfg[600], a_store[600], a_listen[64], log[600], url[128];
    snprintf(a_cfg, sizeof a_cfg, "--config.file=%s", cfgp);
    snprintf(a_store, sizeof a_store, "--storage.path=%s/data", dir);
    snprintf(a_listen, sizeof a_listen, "--web.listen-address=127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/am.log", dir);
    char *argv[] = {"prometheus-alertmanager", a_cfg, a_store, a_listen,
                    "--cluster.listen-address=", NULL};
    int pid = tu_spawn(argv, log);
    assert_true(pid > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/-/ready", port);
    if (!tu_wait_http(url, 15000)) {
        tu_stop(pid);
        fail_msg("alertmanager did not start (see %s)", log);
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    struct vigil_alert_client *c;
    assert_int_equal(vigil_alert_client_new(&c, url, 3000), 0);
    int64_t now = vigil_clock_wall_ns();
    struct vigil_alert al = {.name = "VigilAnomaly", .entity = "vm-7", .group = "cpu",
                             .severity = "warning", .summary = "cpu anomaly on vm-7",
                             .features = "node_cpu_seconds_total{mode=\"user\"} 91%",
                             .intensity = 2.5, .starts_ns = now - 5000000000LL};
    assert_int_equal(vigil_alert_post(c, &al, 1), 0);
    cJSON *arr = get_alerts(port);
    cJSON *got = find_alert(arr, "vm-7");
    assert_non_null(got);
    cJSON *labels = cJSON_GetObjectItem(got, "labels");
    assert_string_equal(cJSON_GetObjectItem(labels, "group")->valuestring, "cpu");
    assert_string_equal(cJSON_GetObjectItem(labels, "alertname")->valuestring, "VigilAnomaly");
    cJSON *ann = cJSON_GetObjectItem(got, "annotations");
    assert_string_equal(cJSON_GetObjectItem(ann, "intensity")->valuestring, "2.500");
    cJSON_Delete(arr);
    /* Resolve: endsAt in the past removes it from the active list. */
    al.ends_ns = now - 1000000000LL;
    assert_int_equal(vigil_alert_post(c, &al, 1), 0);
    arr = get_alerts(port);
    assert_null(find_alert(arr, "vm-7"));
    cJSON_Delete(arr);
    vigil_alert_client_free(c);
    tu_stop(pid);
    /* The server is gone: a clear -EIO, no hang beyond the timeout. */
    assert_int_equal(vigil_alert_client_new(&c, url, 1000), 0);
    assert_int_equal(vigil_alert_post(c, &al, 1), -EIO);
    vigil_alert_client_free(c);
}

static void test_alert_client_rejects_bad_urls(void **state)
{
    (void)state;
    struct vigil_alert_client *c;
    assert_int_equal(vigil_alert_client_new(&c, "file:///etc/passwd", 1000), -EINVAL);
    assert_int_equal(vigil_alert_client_new(&c, "127.0.0.1:9093", 1000), -EINVAL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert_fires_and_resolves_in_alertmanager),
        cmocka_unit_test(test_alert_client_rejects_bad_urls),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
