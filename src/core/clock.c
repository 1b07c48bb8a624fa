/*
 * Clocks and duration text. Durations accept the units operators type:
 * ns, us, ms, s, m, h, d, and compounds such as "1m30s".
 */
#include <stdio.h>
#include <time.h>

#include "vigil/clock.h"
#include "vigil/err.h"

int64_t vigil_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t vigil_clock_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int vigil_duration_parse(const char *p, size_t n, int64_t *ns)
{
    size_t i = 0;
    double total = 0;
    int parts = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    if (i == n) {
        return VIGIL_EPARSE;
    }
    while (i < n) {
        double v = 0;
        int digits = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            v = v * 10 + (p[i++] - '0');
            digits++;
        }
        if (i < n && p[i] == '.') {
            double scale = 0.1;
            i++;
            while (i < n && p[i] >= '0' && p[i] <= '9') {
                v += (p[i++] - '0') * scale;
                scale /= 10;
                digits++;
            }
        }
        if (!digits) {
            return VIGIL_EPARSE;
        }
        double unit = 1e9;
        size_t left = n - i;
        if (left >= 2 && p[i] == 'n' && p[i + 1] == 's') {
            unit = 1, i += 2;
        } else if (left >= 2 && p[i] == 'u' && p[i + 1] == 's') {
            unit = 1e3, i += 2;
        } else if (left >= 2 && p[i] == 'm' && p[i + 1] == 's') {
            unit = 1e6, i += 2;
        } else if (left >= 1 && p[i] == 's') {
            unit = 1e9, i += 1;
        } else if (left >= 1 && p[i] == 'm') {
            unit = 60e9, i += 1;
        } else if (left >= 1 && p[i] == 'h') {
            unit = 3600e9, i += 1;
        } else if (left >= 1 && p[i] == 'd') {
            unit = 86400e9, i += 1;
        } else if (left >= 1 && p[i] == 'w') {
            unit = 7 * 86400e9, i += 1;
        } else if (left > 0) {
            return VIGIL_EPARSE;
        } else if (parts > 0) {
            return VIGIL_EPARSE; /* "1m30" is ambiguous */
        }
        total += v * unit;
        parts++;
    }
    if (!(total < 9.2e18)) {
        return VIGIL_EPARSE;
    }
    /* total >= 0 (no sign is parsed): + 0.5 rounds half up as llround would,
     * without libm, which vigil-collect then does not map (docs/perf.md). */
    *ns = (int64_t)(total + 0.5);
    return 0;
}

char *vigil_duration_format(int64_t ns, char *out, size_t n)
{
    if (ns % 1000000000LL == 0 && ns >= 60000000000LL) {
        int64_t s = ns / 1000000000LL;
        if (s % 3600 == 0) {
            snprintf(out, n, "%lldh", (long long)(s / 3600));
        } else if (s % 60 == 0) {
            snprintf(out, n, "%lldm", (long long)(s / 60));
        } else {
            snprintf(out, n, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
        }
    } else if (ns % 1000000000LL == 0) {
        snprintf(out, n, "%llds", (long long)(ns / 1000000000LL));
    } else if (ns % 1000000LL == 0) {
        snprintf(out, n, "%lldms", (long long)(ns / 1000000LL));
    } else if (ns % 1000LL == 0) {
        snprintf(out, n, "%lldus", (long long)(ns / 1000LL));
    } else {
        snprintf(out, n, "%lldns", (long long)ns);
    }
    return out;
}
