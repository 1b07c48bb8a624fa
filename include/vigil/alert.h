/*
 * Alerts to Prometheus Alertmanager through its v2 API (POST
 * /api/v2/alerts) with libcurl. An alert is identified by its labels; sending
 * it again with endsAt in the past resolves it, which is how the watch
 * service closes an anomaly. The client keeps one curl handle (connection
 * reuse) and is used from one thread.
 */
#ifndef VIGIL_ALERT_H
#define VIGIL_ALERT_H

#include <stddef.h>
#include <stdint.h>

struct vigil_alert_client; /* opaque */

struct vigil_alert {
    const char *name;        /* alertname label, e.g. "VigilAnomaly"; borrowed */
    const char *entity;      /* label; borrowed */
    const char *group;       /* label; borrowed */
    const char *severity;    /* label: "warning" or "critical"; borrowed */
    const char *summary;     /* annotation; borrowed, may be NULL */
    const char *features;    /* annotation (text); borrowed, may be NULL */
    const char *fault;       /* annotation: fault type named by a supervised model; may be NULL */
    double intensity;        /* annotation */
    int64_t starts_ns;       /* startsAt */
    int64_t ends_ns;         /* endsAt; 0 = still firing */
};

/*
 * Makes a client for an Alertmanager base URL such as http://127.0.0.1:9093.
 * timeout_ms bounds every request. Returns 0, -EINVAL (not http/https) or -ENOMEM.
 */
int vigil_alert_client_new(struct vigil_alert_client **out, const char *base_url, long timeout_ms);
void vigil_alert_client_free(struct vigil_alert_client *c);

/*
 * Posts n alerts in one request. Returns 0, -EIO (connection failed or a
 * non-2xx answer; the reason is logged once per failure streak).
 */
int vigil_alert_post(struct vigil_alert_client *c, const struct vigil_alert *a, size_t n);

#endif /* VIGIL_ALERT_H */
