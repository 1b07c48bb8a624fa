/*
 * Error names and parser diagnostics. Codes below the errno range are vigil's
 * own; anything else is a negated errno and goes through strerror.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vigil/err.h"

const char *vigil_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case VIGIL_EPARSE:
        return "malformed input";
    case VIGIL_EFORMAT:
        return "bad file format";
    case VIGIL_ENOTSUP:
        return "not supported in this build or on this host";
    case VIGIL_ESHAPE:
        return "wrong shape or schema";
    case VIGIL_EOF:
        return "end of input";
    case VIGIL_EEMPTY:
        return "no data";
    case VIGIL_ECONFIG:
        return "bad configuration";
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        return strerror(-rc);
    }
    return "unknown error";
}

void vigil_diag_clear(struct vigil_diag *diag)
{
    if (diag) {
        diag->line = 0;
        diag->col = 0;
        diag->msg[0] = '\0';
    }
}

void vigil_diag_set(struct vigil_diag *diag, size_t line, size_t col, const char *fmt, ...)
{
    if (!diag) {
        return;
    }
    diag->line = line;
    diag->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
    va_end(ap);
}

char *vigil_diag_format(const struct vigil_diag *diag, const char *file, char *out, size_t n)
{
    const char *f = file ? file : "<input>";
    const char *msg = diag && diag->msg[0] ? diag->msg : "error";
    if (diag && diag->line && diag->col) {
        snprintf(out, n, "%s:%zu:%zu: %s", f, diag->line, diag->col, msg);
    } else if (diag && diag->line) {
        snprintf(out, n, "%s:%zu: %s", f, diag->line, msg);
    } else {
        snprintf(out, n, "%s: %s", f, msg);
    }
    return out;
}
