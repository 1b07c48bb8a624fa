/*
 * Line reader over zlib's gzFile, which reads gzip and plain files alike.
 * The buffer holds at most max_line bytes of one line plus a read chunk, so
 * memory is bounded whatever the input; an over-long line is an error with its
 * line number. A NUL byte means binary input and is reported, not skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "vigil/lines.h"
#include "vigil/mem.h"

#define CHUNK ((size_t)64 << 10)

static int lines_alloc(struct vigil_lines *l, size_t max_line)
{
    l->max_line = max_line ? max_line : VIGIL_LINES_MAX_DEFAULT;
    l->cap = l->max_line + CHUNK + 1;
    l->buf = vigil_malloc(l->cap);
    return l->buf ? 0 : -ENOMEM;
}

/* Opens path ("-" = stdin) for gzip-transparent reading. Returns 0 or -errno. */
static int open_gz(const char *path, gzFile *out)
{
    int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return -EISDIR;
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return -ENOMEM;
    }
    gzbuffer(gz, 128 << 10);
    *out = gz;
    return 0;
}

int vigil_lines_open(struct vigil_lines *l, const char *path, size_t max_line)
{
    memset(l, 0, sizeof *l);
    gzFile gz;
    int rc = open_gz(path, &gz);
    if (rc) {
        return rc;
    }
    rc = lines_alloc(l, max_line);
    if (rc) {
        gzclose(gz);
        return rc;
    }
    l->gz = gz;
    return 0;
}

int vigil_lines_open_mem(struct vigil_lines *l, const char *p, size_t n, size_t max_line)
{
    memset(l, 0, sizeof *l);
    /* The memory block is the whole input: point at it, never copy or write it. */
    l->from_mem = 1;
    l->buf = (char *)(uintptr_t)p;
    l->end = n;
    l->eof = 1;
    l->max_line = max_line ? max_line : VIGIL_LINES_MAX_DEFAULT;
    return 0;
}

/* Moves unread bytes to the front and reads more. Returns bytes read, 0 at EOF, or -EIO. */
static int fill(struct vigil_lines *l)
{
    if (l->start > 0) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
    }
    size_t room = l->cap - 1 - l->end;
    if (room == 0) {
        return 0;
    }
    int got = gzread(l->gz, l->buf + l->end, (unsigned)(room > CHUNK ? CHUNK : room));
    if (got < 0) {
        return -EIO;
    }
    if (got == 0) {
        int err;
        gzerror(l->gz, &err);
        if (err != Z_OK) {
            return -EIO; /* Z_BUF_ERROR here is a truncated gzip stream */
        }
        l->eof = 1;
    }
    l->end += (size_t)got;
    return got;
}

int vigil_lines_next(struct vigil_lines *l, const char **p, size_t *n, struct vigil_diag *diag)
{
    size_t scanned = 0;
    for (;;) {
        char *s = l->buf + l->start;
        size_t avail = l->end - l->start;
        char *nl = memchr(s + scanned, '\n', avail - scanned);
        size_t len = nl ? (size_t)(nl - s) : avail;
        if (nl || (l->eof && avail > 0)) {
            l->line++;
            if (len > l->max_line) {
                vigil_diag_set(diag, l->line, 0, "line longer than %zu bytes", l->max_line);
                return VIGIL_EPARSE;
            }
            if (memchr(s, '\0', len)) {
                vigil_diag_set(diag, l->line, (size_t)((char *)memchr(s, '\0', len) - s) + 1,
                               "NUL byte: binary input, expected text");
                return VIGIL_EPARSE;
            }
            l->start += len + (nl ? 1 : 0);
            if (len > 0 && s[len - 1] == '\r') {
                len--;
            }
            *p = s;
            *n = len;
            return 0;
        }
        if (l->eof) {
            return VIGIL_EOF;
        }
        if (avail > l->max_line) {
            vigil_diag_set(diag, l->line + 1, 0, "line longer than %zu bytes", l->max_line);
            return VIGIL_EPARSE;
        }
        scanned = avail;
        int rc = fill(l);
        if (rc < 0) {
            vigil_diag_set(diag, l->line + 1, 0, "read error (corrupt or truncated gzip data?)");
            return rc;
        }
    }
}

void vigil_lines_close(struct vigil_lines *l)
{
    if (!l->from_mem) {
        if (l->gz) {
            gzclose(l->gz);
        }
        vigil_free(l->buf);
    }
    memset(l, 0, sizeof *l);
}

int vigil_read_file(const char *path, size_t max, char **out, size_t *n)
{
    gzFile gz;
    int grc = open_gz(path, &gz);
    if (grc) {
        return grc;
    }
    size_t cap = 4096, len = 0;
    char *buf = vigil_malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (!rc) {
        if (len + 1 == cap) {
            if (cap > max) {
                rc = -EFBIG;
                break;
            }
            char *nb = vigil_realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int got = gzread(gz, buf + len, (unsigned)(cap - 1 - len));
        if (got < 0) {
            rc = -EIO;
        } else if (got == 0) {
            int err;
            gzerror(gz, &err);
            if (err != Z_OK) {
                rc = -EIO; /* corrupt or truncated gzip stream */
            }
            break;
        } else {
            len += (size_t)got;
        }
    }
    gzclose(gz);
    if (!rc && len > max) {
        rc = -EFBIG;
    }
    if (rc) {
        vigil_free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return 0;
}
