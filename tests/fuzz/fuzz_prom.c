/*
 * libFuzzer target for the exposition parser. Each input goes through the
 * stream parser in both dialects, line by line; every sample that parses is
 * written back with the writer and parsed again, and must come back with the
 * same name, labels and value (a crash otherwise). The whole input is also
 * read into a frame with format detection, as `vigil inspect` would.
 *
 *   make fuzz        (60 s per target; FUZZ_SECONDS=N to change)
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/frame.h"
#include "vigil/prom.h"
#include "vigil/reader.h"

static void check(int ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

/* Writes one parsed sample back and re-parses it: the round trip must be exact. */
static void roundtrip(const struct vigil_prom_line *ln, struct vigil_prom_line *back)
{
    static char vals[VIGIL_PROM_LABELS_MAX][4096];
    struct vigil_label_ref refs[VIGIL_PROM_LABELS_MAX];
    char name[4096];
    if (ln->name_len >= sizeof name) {
        return;
    }
    memcpy(name, ln->name, ln->name_len);
    name[ln->name_len] = '\0';
    for (size_t i = 0; i < ln->n_labels; i++) {
        if (ln->labels[i].value_len > sizeof vals[i]) {
            return;
        }
        size_t n = vigil_prom_unescape(ln->labels[i].value, ln->labels[i].value_len, vals[i]);
        refs[i] = (struct vigil_label_ref){ln->labels[i].name, ln->labels[i].name_len, vals[i], n};
    }
    struct vigil_prom_sample s = {NULL, refs, ln->n_labels, ln->value, 0, 0};
    struct vigil_buf b;
    vigil_buf_init(&b);
    int rc = vigil_prom_write_family(&b, name, "help", VIGIL_PROM_GAUGE, &s, 1);
    if (rc) {
        check(rc == -12 /* -ENOMEM */);
        vigil_buf_fini(&b);
        return;
    }
    /* The sample is the line after "# HELP" and "# TYPE" (label values may hold NULs). */
    const char *end = b.p + b.len;
    const char *p = memchr(b.p, '\n', b.len);
    check(p != NULL);
    p = memchr(p + 1, '\n', (size_t)(end - p - 1));
    check(p != NULL);
    p++;
    const char *e = memchr(p, '\n', (size_t)(end - p));
    check(e != NULL && e + 1 == end);
    check(vigil_prom_parse_line(p, (size_t)(e - p), VIGIL_PROM_TEXT, back, NULL) == 0);
    check(back->type == VIGIL_PROM_LINE_SAMPLE);
    check(back->name_len == ln->name_len && memcmp(back->name, ln->name, ln->name_len) == 0);
    check(back->n_labels == ln->n_labels);
    check((isnan(back->value) && isnan(ln->value)) || back->value == ln->value);
    for (size_t i = 0; i < ln->n_labels; i++) {
        char tmp[4096];
        size_t n = vigil_prom_unescape(back->labels[i].value, back->labels[i].value_len, tmp);
        check(n == refs[i].value_len && memcmp(tmp, refs[i].value, n) == 0);
    }
    vigil_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Parse from a copy that is exactly size bytes long: ASan catches any read past it. */
    char *p = malloc(size ? size : 1);
    struct vigil_prom_line *ln = malloc(sizeof *ln), *back = malloc(sizeof *back);
    if (!p || !ln || !back) {
        free(p);
        free(ln);
        free(back);
        return 0;
    }
    memcpy(p, data, size);
    for (int dialect = 0; dialect < 2; dialect++) {
        struct vigil_prom_parser ps;
        struct vigil_diag d;
        vigil_prom_parser_init(&ps, (enum vigil_prom_dialect)dialect);
        size_t i = 0;
        while (i < size) {
            const char *nl = memchr(p + i, '\n', size - i);
            size_t n = nl ? (size_t)(nl - (p + i)) : size - i;
            int rc = vigil_prom_parser_feed(&ps, p + i, n, ln, &d);
            if (rc == 0 && ln->type == VIGIL_PROM_LINE_SAMPLE) {
                check(ln->name_len > 0 && ln->family_len <= ln->name_len);
                roundtrip(ln, back);
            } else if (rc) {
                check(d.line == ps.line && d.col >= 1 && d.col <= n + 1 && d.msg[0]);
            }
            i += n + 1;
        }
        vigil_prom_parser_finish(&ps, &d);
        vigil_prom_parser_fini(&ps);
    }
    struct vigil_frame fr;
    struct vigil_read_info info;
    struct vigil_diag d;
    struct vigil_read_opts o;
    vigil_read_opts_default(&o);
    o.max_rows = 256;
    vigil_frame_init(&fr);
    if (vigil_frame_read_mem(&fr, p, size, &o, &info, &d) == 0) {
        check(fr.n > 0 && fr.n <= 256);
        for (size_t r = 1; r < fr.n && info.format != VIGIL_FMT_DELIMITED; r++) {
            check(fr.ts[r - 1] <= fr.ts[r]); /* exposition rows come out sorted */
        }
    }
    vigil_frame_fini(&fr);
    free(p);
    free(ln);
    free(back);
    return 0;
}
