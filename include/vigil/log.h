/*
 * Logging. Library code logs once, at the layer that has the context, as
 * "module: call: reason" (collectd's style). The sink is the only mutable
 * global besides the allocator: stderr by default, replaceable by the CLI or
 * tests.
 */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

enum vigil_log_level {
    VIGIL_LOG_ERROR = 0,
    VIGIL_LOG_WARN = 1,
    VIGIL_LOG_INFO = 2,
    VIGIL_LOG_DEBUG = 3,
};

typedef void (*vigil_log_fn)(enum vigil_log_level level, const char *msg, void *user);

/* Installs a sink (NULL restores stderr) and the most verbose level shown. */
void vigil_log_set_sink(vigil_log_fn fn, void *user);
void vigil_log_set_level(enum vigil_log_level level);
enum vigil_log_level vigil_log_get_level(void);

void vigil_log(enum vigil_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define vigil_error(...) vigil_log(VIGIL_LOG_ERROR, __VA_ARGS__)
#define vigil_warn(...) vigil_log(VIGIL_LOG_WARN, __VA_ARGS__)
#define vigil_info(...) vigil_log(VIGIL_LOG_INFO, __VA_ARGS__)
#define vigil_debug(...) vigil_log(VIGIL_LOG_DEBUG, __VA_ARGS__)

#endif /* VIGIL_LOG_H */
