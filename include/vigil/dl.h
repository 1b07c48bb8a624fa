/*
 * Optional shared libraries loaded on first use (libvirt, the NATS client,
 * libmicrohttpd), so a process that does not use one does not map it and the
 * libraries it pulls in. Each user lists the functions it calls and gets a
 * table of pointers named like them, typed from the library's own header:
 *
 *     #define NATS_FUNCS(X) X(natsConnection_Connect) X(natsOptions_Create)
 *     VIGIL_DL_API(NATS_FUNCS, "libnats.so.3.4")   // static api, api_once, api_load
 *     pthread_once(&api_once, api_load);           // api.dl, or NULL and api.why
 *     api.natsOptions_Create(&o);
 *
 * A table that is not process-wide (one per libvirt collector) uses
 * VIGIL_DL_PTR for its members and VIGIL_DL_SET in its own resolve function.
 */
#ifndef VIGIL_DL_H
#define VIGIL_DL_H

#include <pthread.h> /* VIGIL_DL_API */
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
