/* Optional shared libraries loaded on first use (include/vigil/dl.h). */
#include <dlfcn.h>
#include <stdio.h>

#include "vigil/dl.h"

void *vigil_dl_load(const char *soname, const char *(*resolve)(void *dl, void *ctx), void *ctx,
                    char *why, size_t why_len)
{
    void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!dl) {
        const char *e = dlerror();
        snprintf(why, why_len, "cannot load %s: %s", soname, e ? e : "unknown error");
        return NULL;
    }
    const char *missing = resolve(dl, ctx);
    if (missing) {
        snprintf(why, why_len, "%s has no %s", soname, missing);
        dlclose(dl);
        return NULL;
    }
    return dl;
}

void *vigil_dl_sym(void *dl, const char *name, const char **missing)
{
    void *p = dlsym(dl, name);
    if (!p && !*missing) {
        *missing = name;
    }
    return p;
}

void vigil_dl_close(void *dl)
{
    if (dl) {
        dlclose(dl);
    }
}
