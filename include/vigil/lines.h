/*
 * Streaming line reader over a file that may be gzip-compressed (zlib's gzread
 * reads plain files transparently). Memory stays bounded: lines longer than
 * max_line are an error naming the line number, never a silent truncation.
 * A NUL byte in the input is reported as binary input.
 */
#ifndef VIGIL_LINES_H
#define VIGIL_LINES_H

#include <stddef.h>

#include "vigil/err.h"

struct vigil_lines {
    void *gz;         /* gzFile; owned */
    char *buf;        /* owned read buffer */
    size_t cap;       /* buffer capacity = max_line + read chunk */
    size_t start;     /* start of unread data in buf */
    size_t end;       /* end of valid data in buf */
    size_t max_line;  /* longest accepted line in bytes */
    size_t line;      /* 1-based number of the line last returned */
    int eof;
    int from_mem;     /* reading a caller's memory block instead of a file */
};

/* Default longest line: 4 MiB (a wide CSV header of thousands of series). */
#define VIGIL_LINES_MAX_DEFAULT ((size_t)4 << 20)

/*
 * Opens path ("-" is stdin). Returns 0, -errno (ENOENT, EACCES, EISDIR) or -ENOMEM.
 * max_line 0 means VIGIL_LINES_MAX_DEFAULT.
 */
int vigil_lines_open(struct vigil_lines *l, const char *path, size_t max_line);

/* Reads from a borrowed memory block (tests, fuzzers, HTTP bodies). */
int vigil_lines_open_mem(struct vigil_lines *l, const char *p, size_t n, size_t max_line);

/*
 * Returns the next line without its "\n" or "\r\n" in (*p, *n), borrowed until
 * the next call. Returns 0, VIGIL_EOF at the end, VIGIL_EPARSE for an
 * over-long line or a NUL byte (diag names the line), or -EIO (also for a
 * corrupt or truncated gzip stream).
 */
int vigil_lines_next(struct vigil_lines *l, const char **p, size_t *n, struct vigil_diag *diag);

void vigil_lines_close(struct vigil_lines *l);

/*
 * Reads a whole file (gzip transparently) into a NUL-terminated buffer of at
 * most max bytes; caller frees *out with vigil_free. -EFBIG when larger.
 */
int vigil_read_file(const char *path, size_t max, char **out, size_t *n);

#endif /* VIGIL_LINES_H */
