/*
 * Number and time scanning for the text parsers. Every function takes a
 * (pointer, length) token, needs no NUL and never writes to its input; none
 * uses sscanf. Floats take a fast exact path (Clinger's: a mantissa of at most
 * 2^53 times a power of ten of at most 22 is one correctly rounded operation)
 * and fall back to strtod on a bounded local copy for anything longer.
 * Date-times are converted with Howard Hinnant's days_from_civil, so the
 * result never depends on the TZ variable or the locale.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const double pow10_tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Case-insensitive comparison of n bytes of p with the lower-case word w. */
static int word_eq(const char *p, size_t n, const char *w)
{
    if (strlen(w) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != w[i]) {
            return 0;
        }
    }
    return 1;
}

#define NUM_TOKEN_MAX 512

int vigil__num_double(const char *p, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (n == 0) {
        return -1;
    }
    if (p[0] == '+' || p[0] == '-') {
        neg = p[0] == '-';
        i++;
    }
    if (word_eq(p + i, n - i, "nan")) {
        *out = NAN;
        return 0;
    }
    if (word_eq(p + i, n - i, "inf") || word_eq(p + i, n - i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    /* Grammar check and fast-path accumulation in one pass. */
    uint64_t m = 0;
    int sig = 0, many = 0, n_dig = 0;
    long exp10 = 0;
    while (i < n && is_digit(p[i])) {
        n_dig++;
        if (sig < 19) {
            m = m * 10 + (uint64_t)(p[i] - '0');
            sig += m != 0;
        } else {
            many = 1;
        }
        i++;
    }
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && is_digit(p[i])) {
            n_dig++;
            if (sig < 19) {
                m = m * 10 + (uint64_t)(p[i] - '0');
                sig += m != 0;
                exp10--;
            } else {
                many = 1;
            }
            i++;
        }
    }
    if (n_dig == 0) {
        return -1;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            eneg = p[i] == '-';
            i++;
        }
        if (i == n || !is_digit(p[i])) {
            return -1;
        }
        long e = 0;
        while (i < n && is_digit(p[i])) {
            if (e < 100000) {
                e = e * 10 + (p[i] - '0');
            }
            i++;
        }
        exp10 += eneg ? -e : e;
    }
    if (i != n) {
        return -1;
    }
    if (!many && m <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)m;
        v = exp10 < 0 ? v / pow10_tab[-exp10] : v * pow10_tab[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    char tmp[NUM_TOKEN_MAX];
    if (n >= sizeof tmp) {
        return -1;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + n) {
        return -1;
    }
    if (errno == ERANGE && isinf(v)) {
        return -2;
    }
    *out = v;
    return 0;
}

int vigil__num_i64(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        i++;
    }
    if (i == n) {
        return -1;
    }
    uint64_t v = 0;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(p[i])) {
            return -1;
        }
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (lim - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int vigil__num_scaled_ns(const char *p, size_t n, int64_t unit_ns, int64_t *ns)
{
    size_t i = 0;
    int neg = 0;
    if (n && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        i++;
    }
    size_t int_start = i;
    int64_t ip = 0;
    int big = 0;
    while (i < n && is_digit(p[i])) {
        if (ip > (INT64_MAX - 9) / 10) {
            big = 1;
        } else {
            ip = ip * 10 + (p[i] - '0');
        }
        i++;
    }
    size_t int_digits = i - int_start;
    int64_t frac = 0;
    size_t frac_digits = 0;
    if (i < n && p[i] == '.') {
        i++;
        int64_t scale = unit_ns;
        while (i < n && is_digit(p[i])) {
            scale /= 10; /* digits finer than 1 ns are dropped */
            frac += (p[i] - '0') * scale;
            frac_digits++;
            i++;
        }
    }
    if (int_digits + frac_digits == 0) {
        return -1;
    }
    if (i == n && !big) {
        if (ip > (INT64_MAX - frac) / unit_ns) {
            return -2;
        }
        int64_t v = ip * unit_ns + frac;
        *ns = neg ? -v : v;
        return 0;
    }
    /* Exponent forms (1.5e9) or huge values go through a double. */
    double d;
    int rc = vigil__num_double(p, n, &d);
    if (rc) {
        return rc;
    }
    d *= (double)unit_ns;
    if (!(d > -9.2e18 && d < 9.2e18)) {
        return isnan(d) ? -1 : -2;
    }
    *ns = llround(d);
    return 0;
}

/* ---- calendar ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Reads exactly k digits at p[*i]; returns -1 if they are not all digits. */
static int fixed_digits(const char *p, size_t n, size_t *i, int k)
{
    int v = 0;
    if (*i + (size_t)k > n) {
        return -1;
    }
    for (int j = 0; j < k; j++) {
        char c = p[*i + (size_t)j];
        if (!is_digit(c)) {
            return -1;
        }
        v = v * 10 + (c - '0');
    }
    *i += (size_t)k;
    return v;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

int vigil__num_datetime(const char *p, size_t n, int64_t *ns)
{
    size_t i = 0;
    int y = fixed_digits(p, n, &i, 4);
    if (y < 0 || i >= n || p[i++] != '-') {
        return -1;
    }
    int mo = fixed_digits(p, n, &i, 2);
    if (mo < 1 || mo > 12 || i >= n || p[i++] != '-') {
        return -1;
    }
    int d = fixed_digits(p, n, &i, 2);
    if (d < 1 || d > days_in_month(y, mo)) {
        return -1;
    }
    int hh = 0, mm = 0, ss = 0;
    int64_t frac = 0, off = 0;
    if (i < n && (p[i] == 'T' || p[i] == 't' || p[i] == ' ')) {
        i++;
        hh = fixed_digits(p, n, &i, 2);
        if (hh < 0 || hh > 23 || i >= n || p[i++] != ':') {
            return -1;
        }
        mm = fixed_digits(p, n, &i, 2);
        if (mm < 0 || mm > 59) {
            return -1;
        }
        if (i < n && p[i] == ':') {
            i++;
            ss = fixed_digits(p, n, &i, 2);
            if (ss < 0 || ss > 60) {
                return -1;
            }
            if (i < n && (p[i] == '.' || p[i] == ',')) {
                i++;
                int64_t scale = 1000000000;
                size_t start = i;
                while (i < n && is_digit(p[i])) {
                    scale /= 10;
                    frac += (p[i] - '0') * scale;
                    i++;
                }
                if (i == start) {
                    return -1;
                }
            }
        }
        if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
            i++;
        } else if (i < n && (p[i] == '+' || p[i] == '-')) {
            int sign = p[i] == '-' ? -1 : 1;
            i++;
            int oh = fixed_digits(p, n, &i, 2), om = 0;
            if (oh < 0 || oh > 23) {
                return -1;
            }
            if (i < n && p[i] == ':') {
                i++;
            }
            if (i < n) {
                om = fixed_digits(p, n, &i, 2);
                if (om < 0 || om > 59) {
                    return -1;
                }
            }
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (i != n) {
        return -1;
    }
    int64_t secs =
        days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss - off;
    if (secs > INT64_MAX / 1000000000 - 1 || secs < INT64_MIN / 1000000000 + 1) {
        return -1;
    }
    *ns = secs * 1000000000 + frac;
    return 0;
}

int vigil__num_format_datetime(struct vigil_buf *b, int64_t ns)
{
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int rc = vigil_buf_appendf(b, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
                               (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (!rc && frac) {
        char f[16];
        snprintf(f, sizeof f, ".%09lld", (long long)frac);
        size_t k = strlen(f);
        while (f[k - 1] == '0') {
            k--;
        }
        rc = vigil_buf_append(b, f, k);
    }
    return rc ? rc : vigil_buf_append(b, "Z", 1);
}

int vigil__num_format_value(struct vigil_buf *b, double v, int is_float)
{
    if (isnan(v)) {
        return vigil_buf_append(b, "NaN", 3);
    }
    if (isinf(v)) {
        return vigil_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    }
    char tmp[40];
    int lo = is_float ? 6 : 15, hi = is_float ? 9 : 17;
    for (int prec = lo; prec <= hi; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v) {
            break;
        }
    }
    return vigil_buf_puts(b, tmp);
}
