/*
 * Option tables: defaults, parsing of flag and config values with bounds, and
 * help text. Values arrive as (pointer, length) and are copied into a bounded
 * local buffer before strtod/strtoll, which need a NUL.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vigil/clock.h"
#include "vigil/mem.h"
#include "vigil/opt.h"

const struct vigil_opt *vigil_opt_find(const struct vigil_opt *opts, const char *name)
{
    for (const struct vigil_opt *o = opts; o && o->name; o++) {
        if (strcmp(o->name, name) == 0) {
            return o;
        }
    }
    return NULL;
}

static int out_of_range(const struct vigil_opt *o, double v)
{
    return o->min != o->max && (v < o->min || v > o->max);
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", NULL};
    static const char *const no[] = {"0", "false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static const char *type_name(enum vigil_opt_type t)
{
    switch (t) {
    case VIGIL_OPT_INT:
        return "integer";
    case VIGIL_OPT_DOUBLE:
        return "number";
    case VIGIL_OPT_BOOL:
        return "boolean";
    case VIGIL_OPT_STR:
        return "string";
    case VIGIL_OPT_DURATION:
        return "duration";
    case VIGIL_OPT_ENUM:
        return "choice";
    }
    return "value";
}

static int set_one(const struct vigil_opt *o, void *params, const char *val, size_t n,
                   struct vigil_diag *diag)
{
    char s[256];
    char *field = (char *)params + o->off;
    if (o->type == VIGIL_OPT_STR) {
        char *d = vigil_strndup(val, n);
        if (!d) {
            return -ENOMEM;
        }
        char **slot = (char **)(void *)field;
        vigil_free(*slot);
        *slot = d;
        return 0;
    }
    if (n >= sizeof s || memchr(val, '\0', n)) {
        vigil_diag_set(diag, 0, 0, "%s: value too long", o->name);
        return VIGIL_ECONFIG;
    }
    memcpy(s, val, n);
    s[n] = '\0';
    switch (o->type) {
    case VIGIL_OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (n == 0 || *end || errno || v < -2147483647LL || v > 2147483647LL ||
            out_of_range(o, (double)v)) {
            goto bad;
        }
        memcpy(field, &(int){(int)v}, sizeof(int));
        return 0;
    }
    case VIGIL_OPT_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (n == 0 || *end || errno || !isfinite(v) || out_of_range(o, v)) {
            goto bad;
        }
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case VIGIL_OPT_BOOL: {
        int v;
        if (parse_bool(s, &v)) {
            goto bad;
        }
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case VIGIL_OPT_DURATION: {
        int64_t ns;
        if (vigil_duration_parse(s, n, &ns) || out_of_range(o, (double)ns / 1e9)) {
            goto bad;
        }
        memcpy(field, &ns, sizeof ns);
        return 0;
    }
    case VIGIL_OPT_ENUM:
        for (int i = 0; o->choices && o->choices[i]; i++) {
            if (strcmp(o->choices[i], s) == 0) {
                memcpy(field, &i, sizeof i);
                return 0;
            }
        }
        goto bad;
    case VIGIL_OPT_STR:
        break;
    }
bad:
    if (o->type == VIGIL_OPT_ENUM) {
        char list[160] = "";
        for (int i = 0; o->choices && o->choices[i]; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? "|" : "", o->choices[i]);
        }
        vigil_diag_set(diag, 0, 0, "%s: expected one of %s, got '%s'", o->name, list, s);
    } else if (o->min != o->max && o->type != VIGIL_OPT_BOOL) {
        vigil_diag_set(diag, 0, 0, "%s: expected %s %s in [%g, %g]%s, got '%s'", o->name,
                       o->type == VIGIL_OPT_INT ? "an" : "a", type_name(o->type), o->min, o->max,
                       o->type == VIGIL_OPT_DURATION ? " seconds" : "", s);
    } else {
        vigil_diag_set(diag, 0, 0, "%s: expected %s %s, got '%s'", o->name,
                       o->type == VIGIL_OPT_INT ? "an" : "a", type_name(o->type), s);
    }
    return VIGIL_ECONFIG;
}

int vigil_opt_defaults(const struct vigil_opt *opts, void *params)
{
    for (const struct vigil_opt *o = opts; o && o->name; o++) {
        char *field = (char *)params + o->off;
        if (!o->def) {
            switch (o->type) {
            case VIGIL_OPT_STR:
                vigil_free(*(char **)(void *)field);
                *(char **)(void *)field = NULL;
                break;
            case VIGIL_OPT_DOUBLE:
                memset(field, 0, sizeof(double));
                break;
            case VIGIL_OPT_DURATION:
                memset(field, 0, sizeof(int64_t));
                break;
            default:
                memset(field, 0, sizeof(int));
                break;
            }
            continue;
        }
        int rc = set_one(o, params, o->def, strlen(o->def), NULL);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int vigil_opt_set(const struct vigil_opt *opts, void *params, const char *name, const char *val,
                  size_t n, struct vigil_diag *diag)
{
    const struct vigil_opt *o = vigil_opt_find(opts, name);
    if (!o) {
        vigil_diag_set(diag, 0, 0, "unknown option '%s'", name);
        return -ENOENT;
    }
    return set_one(o, params, val, n, diag);
}

void vigil_opt_free(const struct vigil_opt *opts, void *params)
{
    for (const struct vigil_opt *o = opts; o && o->name; o++) {
        if (o->type == VIGIL_OPT_STR) {
            char **slot = (char **)(void *)((char *)params + o->off);
            vigil_free(*slot);
            *slot = NULL;
        }
    }
}

int vigil_opt_help(const struct vigil_opt *opts, struct vigil_buf *out)
{
    int rc = 0;
    for (const struct vigil_opt *o = opts; o && o->name && !rc; o++) {
        char range[96] = "";
        if (o->type == VIGIL_OPT_ENUM) {
            size_t l = 0;
            for (int i = 0; o->choices && o->choices[i]; i++) {
                l += (size_t)snprintf(range + l, sizeof range - l, "%s%s", i ? "|" : "",
                                      o->choices[i]);
                if (l >= sizeof range) {
                    break;
                }
            }
        } else if (o->min != o->max) {
            snprintf(range, sizeof range, "[%g, %g]%s", o->min, o->max,
                     o->type == VIGIL_OPT_DURATION ? " s" : "");
        }
        rc = vigil_buf_appendf(out, "  --%-18s %-9s default %-8s %s%s%s\n", o->name,
                               type_name(o->type), o->def ? o->def : "-", o->help ? o->help : "",
                               range[0] ? "  " : "", range);
    }
    return rc;
}

int vigil_opt_dump(const struct vigil_opt *opts, const void *params, struct vigil_buf *out)
{
    int rc = 0;
    for (const struct vigil_opt *o = opts; o && o->name && !rc; o++) {
        const char *field = (const char *)params + o->off;
        switch (o->type) {
        case VIGIL_OPT_INT:
        case VIGIL_OPT_BOOL: {
            int v;
            memcpy(&v, field, sizeof v);
            rc = vigil_buf_appendf(out, "%s = %d\n", o->name, v);
            break;
        }
        case VIGIL_OPT_ENUM: {
            int v;
            memcpy(&v, field, sizeof v);
            rc = vigil_buf_appendf(out, "%s = %s\n", o->name, o->choices ? o->choices[v] : "?");
            break;
        }
        case VIGIL_OPT_DOUBLE: {
            double v;
            memcpy(&v, field, sizeof v);
            rc = vigil_buf_appendf(out, "%s = %g\n", o->name, v);
            break;
        }
        case VIGIL_OPT_DURATION: {
            int64_t v;
            char tmp[32];
            memcpy(&v, field, sizeof v);
            rc = vigil_buf_appendf(out, "%s = %s\n", o->name,
                                   vigil_duration_format(v, tmp, sizeof tmp));
            break;
        }
        case VIGIL_OPT_STR: {
            const char *v;
            memcpy(&v, field, sizeof v);
            rc = vigil_buf_appendf(out, "%s = %s\n", o->name, v ? v : "");
            break;
        }
        }
    }
    return rc;
}
