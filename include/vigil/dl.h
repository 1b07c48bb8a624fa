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

/* A table member for f: a pointer named like f, typed from f's prototype. */
#define VIGIL_DL_PTR(f) __typeof__(f) *f;
/* In a resolve function with `dl`, `missing` and a table pointer `tab` in scope. */
#define VIGIL_DL_SET(f) tab->f = (__typeof__(tab->f))vigil_dl_sym(dl, #f, &missing);

/*
 * Defines, in the including file, a process-wide table `api` of the entry
 * points FUNCS(X) lists (X(name) per function), and api_load(), which fills
 * it from soname: run it once with pthread_once(&api_once, api_load); api.dl
 * is then the handle, or NULL with the reason in api.why.
 */
#define VIGIL_DL_API(FUNCS, soname)                                                                \
    static struct {                                                                                \
        void *dl;                                                                                  \
        char why[256];                                                                             \
        FUNCS(VIGIL_DL_PTR)                                                                        \
    } api;                                                                                         \
    static pthread_once_t api_once = PTHREAD_ONCE_INIT;                                            \
    static const char *api_resolve(void *dl, void *ctx)                                            \
    {                                                                                              \
        __typeof__(api) *tab = ctx;                                                                \
        const char *missing = NULL;                                                                \
        FUNCS(VIGIL_DL_SET)                                                                        \
        return missing;                                                                            \
    }                                                                                              \
    static void api_load(void)                                                                     \
    {                                                                                              \
        api.dl = vigil_dl_load(soname, api_resolve, &api, api.why, sizeof api.why);                \
    }

#endif /* VIGIL_DL_H */
