/*
 * Optional shared libraries loaded on first use (libvirt, the NATS client,
 * libmicrohttpd), so a process that does not use one does not map it and the
 * libraries it pulls in. Each user keeps its own table of typed pointers,
 * named like the library's functions and typed from its header:
 *
 *     #define FUNCS(X) X(natsConnection_Connect) X(natsOptions_Create)
 *     static struct { FUNCS(PTR) } api;       // PTR(f): __typeof__(f) *f;
 *     static const char *resolve(void *dl, void *ctx)
 *     {
 *         const char *missing = NULL;
 *         FUNCS(LOAD)  // LOAD(f): api.f = (__typeof__(api.f))vigil_dl_sym(dl, #f, &missing);
 *         return missing;
 *     }
 *     api.dl = vigil_dl_load(soname, resolve, NULL, why, sizeof why);
 */
#ifndef VIGIL_DL_H
#define VIGIL_DL_H

#include <stddef.h>

/*
 * dlopen(soname) with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE (the library stays
 * mapped until exit, since these clients keep threads and thread-local state
 * an unload would leave dangling), then resolve(dl, ctx), which fills the
 * caller's table with vigil_dl_sym and returns the first missing name or
 * NULL. Returns the handle, or NULL with the reason ("cannot load SONAME:
 * ..." or "SONAME has no NAME") in why.
 */
void *vigil_dl_load(const char *soname, const char *(*resolve)(void *dl, void *ctx), void *ctx,
                    char *why, size_t why_len);

/* dlsym(dl, name); on a miss, *missing names the first missing symbol. */
void *vigil_dl_sym(void *dl, const char *name, const char **missing);

/* Drops the handle (the mapping stays: RTLD_NODELETE). NULL is a no-op. */
void vigil_dl_close(void *dl);

#endif /* VIGIL_DL_H */
