/*
 * libFuzzer target for the delimited-text reader: the input is read as
 * delimited text (forced) and with format detection, with and without a
 * header; a frame that reads is written out as CSV to /dev/null to run the
 * writer over whatever the reader accepted.
 *
 *   make fuzz        (60 s per target; FUZZ_SECONDS=N to change)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/frame.h"
#include "vigil/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p) {
        return 0;
    }
    memcpy(p, data, size);
    static const struct {
        enum vigil_format fmt;
        int header;
    } runs[] = {{VIGIL_FMT_DELIMITED, -1}, {VIGIL_FMT_AUTO, -1}, {VIGIL_FMT_DELIMITED, 0}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        struct vigil_read_opts o;
        vigil_read_opts_default(&o);
        o.format = runs[k].fmt;
        o.header = runs[k].header;
        o.max_rows = 512;
        struct vigil_frame fr;
        struct vigil_read_info info;
        struct vigil_diag d;
        vigil_frame_init(&fr);
        int rc = vigil_frame_read_mem(&fr, p, size, &o, &info, &d);
        if (rc == 0) {
            if (fr.n == 0 || fr.n > 512) {
                __builtin_trap();
            }
            if (k == 0) {
                vigil_frame_write_csv(&fr, "/dev/null");
            }
        } else if (rc == VIGIL_EPARSE && d.msg[0] == '\0') {
            __builtin_trap(); /* every parse error says why */
        }
        vigil_frame_fini(&fr);
    }
    free(p);
    return 0;
}
