/*
 * Model lifecycle helpers and the model file container (docs/formats.md).
 * The decoder checks magic, version, every length against the bytes left and
 * a CRC-32 over the whole file before any model sees its section, so a
 * truncated or corrupt file is rejected with a reason, never parsed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/model.h"

#define MAGIC "VIGILMDL"
#define NAME_MAX_LEN 256

int vigil_model_init(struct vigil_model *m, const struct vigil_model_ops *ops, const void *params)
{
    memset(m, 0, sizeof *m);
    if (!ops || ops->abi != VIGIL_MODEL_ABI || !ops->init) {
        return -EINVAL;
    }
    if (ops->check) {
        const char *why = ops->check(params);
        if (why) {
            return VIGIL_ECONFIG;
        }
    }
    m->ops = ops;
    int rc = ops->init(m, params);
    if (rc) {
        m->ops = NULL;
    }
    return rc;
}

void vigil_model_fini(struct vigil_model *m)
{
    if (m->ops && m->ops->fini) {
        m->ops->fini(m);
    }
    memset(m, 0, sizeof *m);
}

int vigil_mfile_encode(struct vigil_buf *out, const char *kind, const struct vigil_section *sec,
                       size_t n_sec)
{
    if (n_sec > VIGIL_MFILE_MAX_SECTIONS) {
        return -EINVAL;
    }
    size_t start = out->len;
    int rc = vigil_buf_append(out, MAGIC, 8);
    rc = rc ? rc : vigil_buf_put_u32(out, VIGIL_MFILE_VERSION);
    rc = rc ? rc : vigil_buf_put_str(out, kind);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)n_sec);
    for (size_t i = 0; i < n_sec && !rc; i++) {
        rc = vigil_buf_put_str(out, sec[i].name);
        rc = rc ? rc : vigil_buf_put_u64(out, sec[i].n);
        rc = rc ? rc : vigil_buf_append(out, sec[i].p, sec[i].n);
    }
    if (!rc) {
        uLong crc = crc32(0L, Z_NULL, 0);
        const unsigned char *p = (const unsigned char *)out->p + start;
        size_t left = out->len - start;
        while (left) {
            uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
            crc = crc32(crc, p, chunk);
            p += chunk;
            left -= chunk;
        }
        rc = vigil_buf_put_u32(out, (uint32_t)crc);
    }
    return rc;
}

int vigil_mfile_save(const char *path, const char *kind, const struct vigil_section *sec,
                     size_t n_sec)
{
    struct vigil_buf b;
    vigil_buf_init(&b);
    int rc = vigil_mfile_encode(&b, kind, sec, n_sec);
    if (rc) {
        vigil_buf_fini(&b);
        return rc;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = -errno;
        vigil_buf_fini(&b);
        return rc;
    }
    if (fwrite(b.p, 1, b.len, f) != b.len) {
        rc = -EIO;
    }
    if (fclose(f) != 0 && !rc) {
        rc = -errno;
    }
    if (!rc && rename(tmp, path) != 0) {
        rc = -errno;
    }
    if (rc) {
        unlink(tmp);
    }
    vigil_buf_fini(&b);
    return rc;
}

void vigil_mfile_fini(struct vigil_mfile *mf)
{
    for (size_t i = 0; i < mf->n_sec; i++) {
        vigil_free((char *)(uintptr_t)mf->sec[i].name);
    }
    vigil_free(mf->kind);
    vigil_free(mf->blob);
    memset(mf, 0, sizeof *mf);
}

int vigil_mfile_decode(struct vigil_mfile *mf, void *blob, size_t n, struct vigil_diag *diag)
{
    memset(mf, 0, sizeof *mf);
    mf->blob = blob;
    struct vigil_rd r;
    char magic[8];
    uint32_t version, n_sec, crc_file;
    int rc = VIGIL_EFORMAT;
    vigil_rd_init(&r, blob, n);
    if (n < 8 + 4 + 4 + 4 + 4 || vigil_rd_bytes(&r, magic, 8) || memcmp(magic, MAGIC, 8) != 0) {
        vigil_diag_set(diag, 0, 0, "not a vigil model file (bad magic)");
        goto fail;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, blob, (uInt)(n - 4));
    struct vigil_rd tail;
    vigil_rd_init(&tail, (const unsigned char *)blob + n - 4, 4);
    vigil_rd_u32(&tail, &crc_file);
    vigil_rd_u32(&r, &version);
    if (version != VIGIL_MFILE_VERSION) {
        vigil_diag_set(diag, 0, 0, "model file version %u, this vigil reads version %u", version,
                       VIGIL_MFILE_VERSION);
        goto fail;
    }
    if (crc_file != (uint32_t)crc) {
        vigil_diag_set(diag, 0, 0, "checksum mismatch: the file is corrupt or truncated");
        goto fail;
    }
    r.n -= 4; /* the checksum is not part of the body */
    rc = vigil_rd_str(&r, &mf->kind, NAME_MAX_LEN);
    if (rc) {
        vigil_diag_set(diag, 0, 0, "truncated header (model kind)");
        goto fail;
    }
    rc = VIGIL_EFORMAT;
    if (vigil_rd_u32(&r, &n_sec) || n_sec > VIGIL_MFILE_MAX_SECTIONS) {
        vigil_diag_set(diag, 0, 0, "bad section count");
        goto fail;
    }
    for (uint32_t i = 0; i < n_sec; i++) {
        char *name = NULL;
        uint64_t len;
        int e = vigil_rd_str(&r, &name, NAME_MAX_LEN);
        if (e == -ENOMEM) {
            rc = e;
            goto fail;
        }
        if (e || vigil_rd_u64(&r, &len) || len > r.n) {
            vigil_free(name);
            vigil_diag_set(diag, 0, 0, "section %u truncated", i);
            goto fail;
        }
        mf->sec[i] = (struct vigil_section){name, r.p, (size_t)len};
        mf->n_sec = i + 1;
        r.p += len;
        r.n -= len;
    }
    if (r.n != 0) {
        vigil_diag_set(diag, 0, 0, "%zu trailing bytes after the last section", r.n);
        goto fail;
    }
    return 0;
fail:
    vigil_mfile_fini(mf);
    return rc;
}

int vigil_mfile_load(struct vigil_mfile *mf, const char *path, struct vigil_diag *diag)
{
    char *blob;
    size_t n;
    memset(mf, 0, sizeof *mf);
    int rc = vigil_read_file(path, (size_t)1 << 31, &blob, &n);
    if (rc) {
        vigil_diag_set(diag, 0, 0, "%s", vigil_strerror(rc));
        return rc;
    }
    return vigil_mfile_decode(mf, blob, n, diag);
}

const struct vigil_section *vigil_mfile_find(const struct vigil_mfile *mf, const char *name)
{
    for (size_t i = 0; i < mf->n_sec; i++) {
        if (strcmp(mf->sec[i].name, name) == 0) {
            return &mf->sec[i];
        }
    }
    return NULL;
}
