/*
 * Incremental parser of sipp's statistics file (-trace_stat -stf FILE -fd 1):
 * a ';'-separated header, then one line per period with periodic "(P)" and
 * cumulative "(C)" counters. The campaign feeds whatever bytes appeared
 * since its last tick and takes the sums once per step, so service.csv rows
 * share metrics.csv's timestamps.
 *
 * Columns are located by their header names; a line whose wanted fields are
 * missing or not numbers is rejected with its line number, never guessed.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *const vigil__svc_names[VIGIL__SVC_N] = {
    "calls",
    "failed_calls",
    "successful_calls",
    "current_calls",
    "retransmissions",
    "failed_timeout",
    "failed_max_udp_retrans",
    "failed_unexpected_msg",
    "response_time_ms",
};

/* sipp's header names for each service column, then CurrentTime. */
static const char *const sipp_cols[VIGIL__SVC_N + 1] = {
    "OutgoingCall(P)",        "FailedCall(P)",
    "SuccessfulCall(P)",      "CurrentCall",
    "Retransmissions(P)",     "FailedTimeoutOnRecv(P)",
    "FailedMaxUDPRetrans(P)", "FailedUnexpectedMessage(P)",
    "ResponseTime1(P)",       "CurrentTime",
};

void vigil__sipstat_init(struct vigil__sipstat *s)
{
    memset(s, 0, sizeof *s);
    vigil_buf_init(&s->pending);
    for (int i = 0; i <= VIGIL__SVC_N; i++) {
        s->col[i] = -1;
    }
}

void vigil__sipstat_fini(struct vigil__sipstat *s)
{
    vigil_buf_fini(&s->pending);
}

int vigil__sipp_duration_ms(const char *p, size_t n, double *ms)
{
    /* HH:MM:SS:uuuuuu, hours may have more digits */
    long part[4] = {0, 0, 0, 0};
    int k = 0;
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 9) {
                return -1;
            }
            part[k] = part[k] * 10 + (c - '0');
        } else if (c == ':' && digits > 0 && k < 3) {
            k++;
            digits = 0;
        } else {
            return -1;
        }
    }
    if (k != 3 || digits == 0) {
        return -1;
    }
    *ms = (double)part[0] * 3600e3 + (double)part[1] * 60e3 + (double)part[2] * 1e3 +
          (double)part[3] / 1e3;
    return 0;
}

static int parse_count(const char *p, size_t n, double *v)
{
    if (n == 0 || n > 20) {
        return -1;
    }
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return 0;
}

static int parse_header(struct vigil__sipstat *s, const char *p, size_t n, struct vigil_diag *diag)
{
    int idx = 0;
    size_t i = 0;
    while (i <= n) {
        const char *e = memchr(p + i, ';', n - i);
        size_t l = e ? (size_t)(e - (p + i)) : n - i;
        for (int c = 0; c <= VIGIL__SVC_N; c++) {
            if (strlen(sipp_cols[c]) == l && memcmp(sipp_cols[c], p + i, l) == 0) {
                s->col[c] = idx;
            }
        }
        idx++;
        i += l + 1;
        if (!e) {
            break;
        }
    }
    for (int c = 0; c < VIGIL__SVC_N; c++) {
        if (s->col[c] < 0) {
            vigil_diag_set(diag, s->line, 0, "sipp statistics header lacks column '%s'",
                           sipp_cols[c]);
            return VIGIL_EPARSE;
        }
    }
    s->have_header = 1;
    return 0;
}

static int parse_row(struct vigil__sipstat *s, const char *p, size_t n, struct vigil_diag *diag)
{
    double v[VIGIL__SVC_N];
    int found[VIGIL__SVC_N] = {0};
    int idx = 0;
    size_t i = 0, col_start = 1;
    while (i <= n) {
        const char *e = memchr(p + i, ';', n - i);
        size_t l = e ? (size_t)(e - (p + i)) : n - i;
        for (int c = 0; c < VIGIL__SVC_N; c++) {
            if (s->col[c] != idx) {
                continue;
            }
            int bad = c == VIGIL__SVC_RESPONSE_MS ? vigil__sipp_duration_ms(p + i, l, &v[c])
                                                  : parse_count(p + i, l, &v[c]);
            if (bad) {
                vigil_diag_set(diag, s->line, col_start, "sipp statistics: bad %s value '%.*s'",
                               sipp_cols[c], (int)(l > 40 ? 40 : l), p + i);
                return VIGIL_EPARSE;
            }
            found[c] = 1;
        }
        idx++;
        i += l + 1;
        col_start = i + 1;
        if (!e) {
            break;
        }
    }
    for (int c = 0; c < VIGIL__SVC_N; c++) {
        if (!found[c]) {
            vigil_diag_set(diag, s->line, 0, "sipp statistics: line has %d fields, no '%s'", idx,
                           sipp_cols[c]);
            return VIGIL_EPARSE;
        }
    }
    for (int c = 0; c < VIGIL__SVC_N; c++) {
        if (c == VIGIL__SVC_CURRENT) {
            s->acc[c] = v[c]; /* gauge: last value */
        } else if (c == VIGIL__SVC_RESPONSE_MS) {
            /* sipp reports 0 for a period without a measured response */
            if (v[VIGIL__SVC_SUCCESSFUL] > 0 || v[c] > 0) {
                s->resp_sum += v[c];
                s->resp_n++;
            }
        } else {
            s->acc[c] += v[c];
        }
    }
    s->rows++;
    return 0;
}

static int parse_line(struct vigil__sipstat *s, const char *p, size_t n, struct vigil_diag *diag)
{
    s->line++;
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    if (n == 0) {
        return 0;
    }
    if (memchr(p, '\0', n)) {
        vigil_diag_set(diag, s->line, 0, "sipp statistics: binary data");
        return VIGIL_EPARSE;
    }
    if (!s->have_header) {
        return parse_header(s, p, n, diag);
    }
    /* sipp repeats its header when the file is reopened (-trace_stat after a restart). */
    if (n >= 9 && memcmp(p, "StartTime", 9) == 0) {
        return parse_header(s, p, n, diag);
    }
    return parse_row(s, p, n, diag);
}

/* Longest line accepted; sipp's are about 1 KB. */
#define SIPSTAT_LINE_MAX ((size_t)1 << 16)

int vigil__sipstat_feed(struct vigil__sipstat *s, const char *p, size_t n, struct vigil_diag *diag)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            if (s->pending.len + n > SIPSTAT_LINE_MAX) {
                vigil_diag_set(diag, s->line + 1, 0, "sipp statistics: line longer than %zu bytes",
                               SIPSTAT_LINE_MAX);
                return VIGIL_EPARSE;
            }
            return vigil_buf_append(&s->pending, p, n);
        }
        size_t l = (size_t)(nl - p);
        int rc;
        if (s->pending.len > 0) {
            rc = vigil_buf_append(&s->pending, p, l);
            if (rc == 0) {
                rc = parse_line(s, s->pending.p, s->pending.len, diag);
            }
            vigil_buf_reset(&s->pending);
        } else {
            rc = parse_line(s, p, l, diag);
        }
        if (rc) {
            return rc;
        }
        p += l + 1;
        n -= l + 1;
    }
    return 0;
}

size_t vigil__sipstat_take(struct vigil__sipstat *s, double out[VIGIL__SVC_N])
{
    for (int c = 0; c < VIGIL__SVC_N; c++) {
        out[c] = s->acc[c];
        if (c != VIGIL__SVC_CURRENT) {
            s->acc[c] = 0;
        }
    }
    out[VIGIL__SVC_RESPONSE_MS] = s->resp_n ? s->resp_sum / (double)s->resp_n : (double)NAN;
    s->resp_sum = 0;
    s->resp_n = 0;
    size_t rows = s->rows;
    s->rows = 0;
    return rows;
}
