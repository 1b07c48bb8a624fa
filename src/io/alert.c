/*
 * Alertmanager v2 client: alerts as a JSON array built with cJSON, sent with
 * libcurl. Only http and https URLs are accepted (no file:// or other
 * protocols curl would otherwise speak).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vigil/alert.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/store.h"

struct vigil_alert_client {
    CURL *curl;
    char *url; /* base + /api/v2/alerts */
    struct curl_slist *headers;
    int failing; /* in a failure streak: log only the first */
};

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

int vigil_alert_client_new(struct vigil_alert_client **out, const char *base_url, long timeout_ms)
{
    if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) {
        return -EINVAL;
    }
    struct vigil_alert_client *c = vigil_calloc(1, sizeof *c);
    if (!c) {
        return -ENOMEM;
    }
    size_t n = strlen(base_url);
    while (n && base_url[n - 1] == '/') {
        n--;
    }
    c->url = vigil_malloc(n + 32);
    c->curl = curl_easy_init();
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!c->url || !c->curl || !c->headers) {
        vigil_alert_client_free(c);
        return -ENOMEM;
    }
    snprintf(c->url, n + 32, "%.*s/api/v2/alerts", (int)n, base_url);
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 5000L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, discard);
    *out = c;
    return 0;
}

void vigil_alert_client_free(struct vigil_alert_client *c)
{
    if (!c) {
        return;
    }
    if (c->curl) {
        curl_easy_cleanup(c->curl);
    }
    curl_slist_free_all(c->headers);
    vigil_free(c->url);
    vigil_free(c);
}

static cJSON *alert_json(const struct vigil_alert *a)
{
    char t[40];
    cJSON *o = cJSON_CreateObject();
    cJSON *labels = cJSON_AddObjectToObject(o, "labels");
    cJSON *ann = cJSON_AddObjectToObject(o, "annotations");
    if (!labels || !ann) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(labels, "alertname", a->name ? a->name : "VigilAnomaly");
    cJSON_AddStringToObject(labels, "entity", a->entity ? a->entity : "host");
    cJSON_AddStringToObject(labels, "group", a->group ? a->group : "other");
    cJSON_AddStringToObject(labels, "severity", a->severity ? a->severity : "warning");
    if (a->summary) {
        cJSON_AddStringToObject(ann, "summary", a->summary);
    }
    if (a->features) {
        cJSON_AddStringToObject(ann, "features", a->features);
    }
    if (a->fault) {
        cJSON_AddStringToObject(ann, "fault", a->fault);
    }
    char inten[32];
    snprintf(inten, sizeof inten, "%.3f", a->intensity);
    cJSON_AddStringToObject(ann, "intensity", inten);
    cJSON_AddStringToObject(o, "startsAt", vigil_rfc3339(a->starts_ns, t, sizeof t));
    if (a->ends_ns) {
        cJSON_AddStringToObject(o, "endsAt", vigil_rfc3339(a->ends_ns, t, sizeof t));
    }
    return o;
}

int vigil_alert_post(struct vigil_alert_client *c, const struct vigil_alert *a, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *o = alert_json(&a[i]);
        if (!o) {
            cJSON_Delete(arr);
            return -ENOMEM;
        }
        cJSON_AddItemToArray(arr, o);
    }
    char *body = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    if (!body) {
        return -ENOMEM;
    }
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c->curl);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    cJSON_free(body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    if (cc != CURLE_OK || status < 200 || status > 299) {
        if (!c->failing) {
            vigil_warn("alert: POST %s: %s", c->url,
                       cc != CURLE_OK ? curl_easy_strerror(cc) : "non-2xx answer");
        }
        c->failing = 1;
        return -EIO;
    }
    if (c->failing) {
        vigil_info("alert: %s reachable again", c->url);
    }
    c->failing = 0;
    return 0;
}
