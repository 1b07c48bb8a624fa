/*
 * The libvirt collector when vigil is built without libvirt (the Makefile
 * builds this file when pkg-config finds no libvirt): it answers
 * VIGIL_ENOTSUP at init, so the collector is skipped with a log line.
 */
#include "internal.h"

static int stub_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                     const void *params)
{
    (void)c;
    (void)set;
    (void)root;
    (void)params;
    return VIGIL_ENOTSUP;
}

static int stub_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    (void)c;
    (void)cx;
    return VIGIL_ENOTSUP;
}

static void stub_fini(struct vigil_collector *c)
{
    c->ctx = NULL;
}

const struct vigil_collector_ops vigil__collector_libvirt = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "libvirt",
    .summary = "libvirt domains (not built in: no libvirt at build time)",
    .default_on = 1,
    .init = stub_init,
    .collect = stub_collect,
    .fini = stub_fini,
};
