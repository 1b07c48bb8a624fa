/*
 * Error codes and diagnostics shared by every module.
 *
 * Functions that can fail return 0 on success and a negative code on failure.
 * errno values pass through negated (-ENOMEM, -EINVAL, -EIO); vigil's own codes
 * sit far below the errno range, the way libuv puts UV__EOF at -4095.
 * vigil_strerror() names any code. Parsers that reject input also fill a
 * struct vigil_diag with the line, column and reason, so the layer that knows
 * the file name can print "file:line:col: reason" once.
 */
#ifndef VIGIL_ERR_H
#define VIGIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum vigil_errno {
    VIGIL_EPARSE = -5000,  /* malformed input text */
    VIGIL_EFORMAT = -5001, /* bad binary format: magic, version, checksum */
    VIGIL_ENOTSUP = -5002, /* feature not built in or not available here */
    VIGIL_ESHAPE = -5003,  /* wrong dimensions or schema mismatch */
    VIGIL_EOF = -5004,     /* end of input (not an error for readers) */
    VIGIL_EEMPTY = -5005,  /* input holds no data */
    VIGIL_ECONFIG = -5006, /* bad configuration value */
};

/* Returns a static, human-readable name for any code returned by vigil. */
const char *vigil_strerror(int rc);

/*
 * Where and why input was rejected. line and col are 1-based; 0 means unknown.
 * Filled by parsers; the caller that opened the file adds the file name.
 */
struct vigil_diag {
    size_t line;
    size_t col;
    char msg[256];
};

/* Clears a diagnostic. diag may be NULL. */
void vigil_diag_clear(struct vigil_diag *diag);

/* Sets line, column and a printf-style reason. diag may be NULL (no-op). */
void vigil_diag_set(struct vigil_diag *diag, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Formats "file:line:col: msg" (col and line omitted when 0) into out, always
 * NUL-terminated. Returns out.
 */
char *vigil_diag_format(const struct vigil_diag *diag, const char *file, char *out, size_t n);

#endif /* VIGIL_ERR_H */
