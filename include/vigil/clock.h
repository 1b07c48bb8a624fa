/*
 * Clocks and durations. Times are int64 nanoseconds; wall-clock time is
 * nanoseconds since the Unix epoch.
 */
#ifndef VIGIL_CLOCK_H
#define VIGIL_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in ns, for intervals and benchmarks. */
int64_t vigil_clock_mono_ns(void);
/* CLOCK_REALTIME in ns since the epoch, for sample timestamps. */
int64_t vigil_clock_wall_ns(void);

/*
 * Parses a duration such as "300ms", "10s", "1.5m", "3h", "2d", "250us" or a
 * bare number of seconds, from (p, n) without needing a NUL. Returns 0 and the
 * value in ns, or VIGIL_EPARSE.
 */
int vigil_duration_parse(const char *p, size_t n, int64_t *ns);

/* Formats a duration compactly ("1m30s", "250ms") into out. Returns out. */
char *vigil_duration_format(int64_t ns, char *out, size_t n);

#endif /* VIGIL_CLOCK_H */
