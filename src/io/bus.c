/*
 * Bus helpers that do not depend on the client library, built whether or not
 * libnats is present: subject names.
 */
#include <errno.h>
#include <string.h>

#include "vigil/bus.h"

int vigil_bus_subject(char *out, size_t n, const char *prefix, const char *token)
{
    size_t lp = strlen(prefix), lt = strlen(token);
    if (lt == 0 || lp + 1 + lt + 1 > n) {
        return -EINVAL;
    }
    memcpy(out, prefix, lp);
    out[lp] = '.';
    for (size_t i = 0; i < lt; i++) {
        unsigned char c = (unsigned char)token[i];
        int special = c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f;
        out[lp + 1 + i] = special ? '_' : (char)c;
    }
    out[lp + 1 + lt] = '\0';
    return 0;
}
