/*
 * Logging sink. Messages are formatted into a stack buffer and handed to the
 * sink in one call, so lines from different threads do not interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "vigil/log.h"

static struct {
    vigil_log_fn fn;
    void *user;
    enum vigil_log_level level;
} sink = {NULL, NULL, VIGIL_LOG_INFO};

void vigil_log_set_sink(vigil_log_fn fn, void *user)
{
    sink.fn = fn;
    sink.user = user;
}

void vigil_log_set_level(enum vigil_log_level level)
{
    sink.level = level;
}

enum vigil_log_level vigil_log_get_level(void)
{
    return sink.level;
}

void vigil_log(enum vigil_log_level level, const char *fmt, ...)
{
    if (level > sink.level) {
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sink.fn) {
        sink.fn(level, msg, sink.user);
        return;
    }
    static const char *const names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "vigil: %s: %s\n", names[level], msg);
}
