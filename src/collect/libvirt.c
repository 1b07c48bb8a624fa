/*
 * VMs: one entity per libvirt domain, from virConnectGetAllDomainStats (cpu,
 * balloon, vcpu, net, block), with the libvirt exporters' metric names
 * (libvirt_domain_info_cpu_time_seconds_total{domain="..."} and the rest).
 *
 * Every stats group the driver does not return in bulk (libvirt's test
 * driver returns only the state; some hypervisor drivers lack groups) is read
 * with the per-domain calls instead: virDomainGetInfo, virDomainGetVcpus,
 * virDomainMemoryStats, virDomainBlockStats and virDomainInterfaceStats, the
 * device names coming from the domain XML at discovery. Both paths produce
 * the same typed fields ("cpu.time", "net.0.rx.bytes"), mapped to series by
 * one table, with a row map per domain so a stable domain is mapped without
 * lookups.
 *
 * libvirt allocates the records it returns on every call; vigil itself does
 * not allocate per tick after warm-up. A domain missing from a tick's records
 * (destroyed, shut off) is not emitted and is forgotten at the next rescan.
 * Built only with libvirt's headers (VIGIL_HAVE_LIBVIRT); libvirt_stub.c
 * otherwise. The library itself is not linked into vigil: init loads it with
 * dlopen, and only when the collector is on and its URI can be reached (for a
 * "driver:///system" URI, a daemon socket exists under /run/libvirt), because
 * libvirt and the ~60 libraries it pulls in (glib, gnutls, libxml2, ICU...)
 * cost about 6 MB of resident memory in every process that maps them. The
 * entry points live in a per-collector table (no globals); the library stays
 * mapped until exit (RTLD_NODELETE) because libvirt keeps thread-local state
 * that an unload would leave dangling.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "internal.h"
#include "vigil/dl.h"
#include "vigil/log.h"
#include "vigil/mem.h"

#define FIELDS_MAX 2048
#define NAME_BYTES (FIELDS_MAX * 40)

/* ---- field name -> series ---- */

enum lbl { L_NONE, L_VCPU, L_NET, L_BLOCK };

static const struct {
    const char *pat; /* 'N' matches a decimal index */
    const char *name;
    enum vigil_kind kind;
    enum vigil_group group;
    double mul; /* to base units: KiB -> bytes, ns -> s */
    enum lbl lbl;
    const char *help;
} map[] = {
    {"state.state", "libvirt_domain_info_state", VIGIL_KIND_GAUGE, VIGIL_GROUP_OTHER, 1, L_NONE,
     "Domain state (virDomainState: 1 running, 3 paused, 5 shut off...)."},
    {"cpu.time", "libvirt_domain_info_cpu_time_seconds_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_CPU, 1e-9, L_NONE, "Amount of CPU time used by the domain, in seconds."},
    {"cpu.user", "libvirt_domain_cpu_stats_user_time_seconds_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_CPU, 1e-9, L_NONE, "User CPU time spent by the domain, in seconds."},
    {"cpu.system", "libvirt_domain_cpu_stats_system_time_seconds_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_CPU, 1e-9, L_NONE, "System CPU time spent by the domain, in seconds."},
    {"balloon.current", "libvirt_domain_info_memory_usage_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Memory usage of the domain (balloon), in bytes."},
    {"balloon.maximum", "libvirt_domain_info_maximum_memory_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Maximum allowed memory of the domain, in bytes."},
    {"balloon.swap_in", "libvirt_domain_memory_stats_swap_in_bytes", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Memory swapped in by the guest, in bytes."},
    {"balloon.swap_out", "libvirt_domain_memory_stats_swap_out_bytes", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Memory swapped out by the guest, in bytes."},
    {"balloon.major_fault", "libvirt_domain_memory_stats_major_fault_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_MEMORY, 1, L_NONE, "Page faults that needed disk I/O in the guest."},
    {"balloon.minor_fault", "libvirt_domain_memory_stats_minor_fault_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_MEMORY, 1, L_NONE, "Page faults without disk I/O in the guest."},
    {"balloon.unused", "libvirt_domain_memory_stats_unused_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Memory left unused by the guest, in bytes."},
    {"balloon.available", "libvirt_domain_memory_stats_available_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Memory the guest sees as available, in bytes."},
    {"balloon.usable", "libvirt_domain_memory_stats_usable_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_MEMORY, 1024, L_NONE,
     "Memory the guest can reclaim without swapping, in bytes."},
    {"balloon.rss", "libvirt_domain_memory_stats_rss_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Resident set size of the VM process, in bytes."},
    {"balloon.disk_caches", "libvirt_domain_memory_stats_disk_cache_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_MEMORY, 1024, L_NONE, "Guest memory used for disk caches, in bytes."},
    {"vcpu.current", "libvirt_domain_info_virtual_cpus", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU, 1,
     L_NONE, "Number of virtual CPUs of the domain."},
    {"vcpu.N.state", "libvirt_domain_vcpu_state", VIGIL_KIND_GAUGE, VIGIL_GROUP_CPU, 1, L_VCPU,
     "State of the virtual CPU (0 offline, 1 running, 2 blocked)."},
    {"vcpu.N.time", "libvirt_domain_vcpu_time_seconds_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_CPU, 1e-9, L_VCPU, "Time spent by the virtual CPU, in seconds."},
    {"vcpu.N.wait", "libvirt_domain_vcpu_wait_seconds_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_CPU, 1e-9, L_VCPU, "Time the virtual CPU waited for a host CPU, in seconds."},
    {"net.N.rx.bytes", "libvirt_domain_interface_stats_receive_bytes_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_NETWORK, 1, L_NET, "Bytes received on the virtual interface."},
    {"net.N.rx.pkts", "libvirt_domain_interface_stats_receive_packets_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_NETWORK, 1, L_NET, "Packets received on the virtual interface."},
    {"net.N.rx.errs", "libvirt_domain_interface_stats_receive_errors_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_NETWORK, 1, L_NET, "Receive errors on the virtual interface."},
    {"net.N.rx.drop", "libvirt_domain_interface_stats_receive_drops_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_NETWORK, 1, L_NET, "Received packets dropped on the virtual interface."},
    {"net.N.tx.bytes", "libvirt_domain_interface_stats_transmit_bytes_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_NETWORK, 1, L_NET, "Bytes transmitted on the virtual interface."},
    {"net.N.tx.pkts", "libvirt_domain_interface_stats_transmit_packets_total",
     VIGIL_KIND_COUNTER, VIGIL_GROUP_NETWORK, 1, L_NET,
     "Packets transmitted on the virtual interface."},
    {"net.N.tx.errs", "libvirt_domain_interface_stats_transmit_errors_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_NETWORK, 1, L_NET, "Transmit errors on the virtual interface."},
    {"net.N.tx.drop", "libvirt_domain_interface_stats_transmit_drops_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_NETWORK, 1, L_NET, "Transmitted packets dropped on the virtual interface."},
    {"block.N.rd.reqs", "libvirt_domain_block_stats_read_requests_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Read requests on the virtual block device."},
    {"block.N.rd.bytes", "libvirt_domain_block_stats_read_bytes_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Bytes read from the virtual block device."},
    {"block.N.rd.times", "libvirt_domain_block_stats_read_time_seconds_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_FILESYSTEM, 1e-9, L_BLOCK, "Time spent reading the block device, in seconds."},
    {"block.N.wr.reqs", "libvirt_domain_block_stats_write_requests_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Write requests on the virtual block device."},
    {"block.N.wr.bytes", "libvirt_domain_block_stats_write_bytes_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Bytes written to the virtual block device."},
    {"block.N.wr.times", "libvirt_domain_block_stats_write_time_seconds_total",
     VIGIL_KIND_COUNTER, VIGIL_GROUP_FILESYSTEM, 1e-9, L_BLOCK,
     "Time spent writing the block device, in seconds."},
    {"block.N.fl.reqs", "libvirt_domain_block_stats_flush_requests_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Flush requests on the virtual block device."},
    {"block.N.fl.times", "libvirt_domain_block_stats_flush_time_seconds_total",
     VIGIL_KIND_COUNTER, VIGIL_GROUP_FILESYSTEM, 1e-9, L_BLOCK,
     "Time spent flushing the block device, in seconds."},
    {"block.N.errs", "libvirt_domain_block_stats_errors_total", VIGIL_KIND_COUNTER,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Errors on the virtual block device."},
    {"block.N.allocation", "libvirt_domain_block_stats_allocation_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Highest written offset of the block device, in bytes."},
    {"block.N.capacity", "libvirt_domain_block_stats_capacity_bytes", VIGIL_KIND_GAUGE,
     VIGIL_GROUP_FILESYSTEM, 1, L_BLOCK, "Logical size of the block device, in bytes."},
};
#define N_MAP (sizeof map / sizeof map[0])

/* Matches a field against a pattern; *idx, *idx_len get the digits 'N' stood for. */
static int match(const char *pat, const char *f, size_t fl, const char **idx, size_t *idx_len)
{
    size_t i = 0;
    *idx = NULL;
    *idx_len = 0;
    for (const char *p = pat; *p; p++) {
        if (*p == 'N') {
            size_t s = i;
            while (i < fl && f[i] >= '0' && f[i] <= '9') {
                i++;
            }
            if (i == s) {
                return 0;
            }
            *idx = f + s;
            *idx_len = i - s;
        } else if (i >= fl || f[i++] != *p) {
            return 0;
        }
    }
    return i == fl;
}

/* ---- libvirt's entry points, loaded at init ---- */

#define VIRT_FUNCS(X)                                                                              \
    X(virSetErrorFunc)                                                                             \
    X(virGetLastError)                                                                             \
    X(virGetLastErrorMessage)                                                                      \
    X(virConnectOpenReadOnly)                                                                      \
    X(virConnectClose)                                                                             \
    X(virConnectGetAllDomainStats)                                                                 \
    X(virConnectListAllDomains)                                                                    \
    X(virDomainStatsRecordListFree)                                                                \
    X(virDomainGetUUIDString)                                                                      \
    X(virDomainGetName)                                                                            \
    X(virDomainGetXMLDesc)                                                                         \
    X(virDomainRef)                                                                                \
    X(virDomainFree)                                                                               \
    X(virDomainGetInfo)                                                                            \
    X(virDomainGetVcpus)                                                                           \
    X(virDomainMemoryStats)                                                                        \
    X(virDomainBlockStats)                                                                         \
    X(virDomainInterfaceStats)

/* One typed pointer per function, named like it, checked against libvirt's own prototypes. */
struct virt {
    void *dl;
    VIRT_FUNCS(VIGIL_DL_PTR)
};

/* Fills v's table from dl; returns the first missing name or NULL. */
static const char *virt_resolve(void *dl, void *ctx)
{
    struct virt *tab = ctx;
    const char *missing = NULL;
    VIRT_FUNCS(VIGIL_DL_SET)
    return missing;
}

/*
 * Loads libvirt.so.0 and resolves every entry point. Returns 0, or
 * VIGIL_ENOTSUP (logged) when the library or a symbol is missing.
 */
static int virt_load(struct virt *v)
{
    char why[256];
    v->dl = vigil_dl_load("libvirt.so.0", virt_resolve, v, why, sizeof why);
    if (!v->dl) {
        vigil_info("libvirt: %s", why);
        return VIGIL_ENOTSUP;
    }
    return 0;
}

static void virt_unload(struct virt *v)
{
    vigil_dl_close(v->dl); /* RTLD_NODELETE: drops the reference, keeps the mapping */
    v->dl = NULL;
}

/*
 * 0 when uri names the local system daemon ("qemu:///system") and no libvirt
 * daemon socket exists, so loading libvirt could only fail; 1 otherwise.
 */
static int uri_reachable(const char *uri)
{
    const char *sep = strstr(uri, ":///system");
    if (!sep || sep[10] != '\0' || strchr(uri, '+')) {
        return 1; /* remote, session or test URIs: let libvirt decide */
    }
    char path[128];
    static const char *const socks[] = {"libvirt-sock-ro", "virtproxyd-sock-ro"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/run/libvirt/%s", socks[i]);
        if (access(path, F_OK) == 0) {
            return 1;
        }
    }
    /* The modular daemon of the driver: virtqemud-sock-ro for qemu:///system. */
    snprintf(path, sizeof path, "/run/libvirt/virt%.*sd-sock-ro", (int)(sep - uri < 32 ? sep - uri : 32),
             uri);
    return access(path, F_OK) == 0;
}

/* ---- state ---- */

struct field {
    const char *name; /* borrowed: libvirt's record or the legacy name buffer */
    size_t len;
    double v;
};

struct strfield {
    const char *name;
    const char *value;
};

struct dom {
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    char *entity;
    virDomainPtr d; /* legacy path: kept between rescans; owned */
    char **disks, **ifaces; /* legacy path: device names from the XML; owned */
    size_t n_disks, n_ifaces;
    uint64_t gen;
    struct vigil__rowmap rm; /* field i -> series id */
};

struct libvirt_params {
    char *uri;
    int max;
};

static const struct vigil_opt libvirt_opts[] = {
    {"uri", VIGIL_OPT_STR, offsetof(struct libvirt_params, uri), "qemu:///system", 0, 0,
     "libvirt connection URI (read-only); test:///default is libvirt's test driver", NULL},
    {"max", VIGIL_OPT_INT, offsetof(struct libvirt_params, max), "1024", 1, 100000,
     "most domains followed", NULL},
    {0},
};

struct lv {
    struct vigil_collect *set; /* borrowed: the set this collector interns into */
    struct virt v;
    virConnectPtr conn;
    int legacy; /* the driver lacks bulk cpu stats: use the per-domain calls */
    struct dom **dom;
    size_t n, max;
    uint64_t gen;
    struct field *f; /* (FIELDS_MAX) scratch for one domain */
    size_t nf;
    struct strfield *s; /* (FIELDS_MAX) device names */
    size_t ns;
    char *names; /* (NAME_BYTES) legacy field names */
    size_t names_len;
};

static void silent(void *user, virErrorPtr err)
{
    (void)user;
    (void)err; /* libvirt prints every error to stderr unless told otherwise */
}

static void dom_free(struct lv *x, struct dom *d)
{
    if (!d) {
        return;
    }
    if (d->d) {
        x->v.virDomainFree(d->d);
    }
    for (size_t i = 0; i < d->n_disks; i++) {
        vigil_free(d->disks[i]);
    }
    for (size_t i = 0; i < d->n_ifaces; i++) {
        vigil_free(d->ifaces[i]);
    }
    vigil_free(d->disks);
    vigil_free(d->ifaces);
    vigil_free(d->name);
    vigil_free(d->entity);
    vigil__rowmap_fini(&d->rm);
    vigil_free(d);
}

static void libvirt_fini(struct vigil_collector *c)
{
    struct lv *x = c->ctx;
    if (x) {
        for (size_t i = 0; i < x->n; i++) {
            dom_free(x, x->dom[i]);
        }
        vigil_free(x->dom);
        vigil_free(x->f);
        vigil_free(x->s);
        vigil_free(x->names);
        if (x->conn) {
            x->v.virConnectClose(x->conn);
        }
        virt_unload(&x->v);
        vigil_free(x);
    }
    c->ctx = NULL;
}

#define STATS                                                                                      \
    (VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON |              \
     VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK)

static int libvirt_init(struct vigil_collector *c, struct vigil_collect *set, const char *root,
                        const void *params)
{
    (void)root;
    const struct libvirt_params *pp = params;
    struct lv *x = vigil_calloc(1, sizeof *x);
    if (!x) {
        return -ENOMEM;
    }
    c->ctx = x;
    x->set = set;
    x->max = (size_t)pp->max;
    x->dom = vigil_calloc(x->max, sizeof *x->dom);
    x->f = vigil_calloc(FIELDS_MAX, sizeof *x->f);
    x->s = vigil_calloc(FIELDS_MAX, sizeof *x->s);
    x->names = vigil_malloc(NAME_BYTES);
    if (!x->dom || !x->f || !x->s || !x->names) {
        return -ENOMEM;
    }
    if (!uri_reachable(pp->uri)) {
        vigil_info("libvirt: no daemon socket under /run/libvirt for %s", pp->uri);
        return VIGIL_ENOTSUP;
    }
    int rc = virt_load(&x->v);
    if (rc) {
        return rc;
    }
    x->v.virSetErrorFunc(NULL, silent);
    x->conn = x->v.virConnectOpenReadOnly(pp->uri);
    if (!x->conn) {
        const char *msg = x->v.virGetLastErrorMessage();
        vigil_info("libvirt: cannot connect to %s: %s", pp->uri, msg ? msg : "unknown error");
        return VIGIL_ENOTSUP;
    }
    return 0;
}

/* ---- discovery and legacy reads ---- */

/* Collects the dev='...' of every <target> inside <tag ...> ... </tag> elements. */
static int xml_devices(const char *xml, const char *tag, char ***out, size_t *n)
{
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s ", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *p = xml;
    while ((p = strstr(p, open)) != NULL) {
        const char *e = strstr(p, close);
        if (!e) {
            break;
        }
        const char *t = strstr(p, "<target ");
        const char *dev = t && t < e ? strstr(t, "dev=") : NULL;
        if (dev && dev < e && (dev[4] == '\'' || dev[4] == '"')) {
            const char *q = strchr(dev + 5, dev[4]);
            if (q && q < e && q - (dev + 5) < 64) {
                char **v = vigil_realloc(*out, (*n + 1) * sizeof *v);
                if (!v) {
                    return -ENOMEM;
                }
                *out = v;
                if (!(v[*n] = vigil_strndup(dev + 5, (size_t)(q - (dev + 5))))) {
                    return -ENOMEM;
                }
                (*n)++;
            }
        }
        p = e;
    }
    return 0;
}

static struct dom *dom_find(struct lv *x, const char *uuid)
{
    for (size_t i = 0; i < x->n; i++) {
        if (strcmp(x->dom[i]->uuid, uuid) == 0) {
            return x->dom[i];
        }
    }
    return NULL;
}

/* Finds or adds the domain; *out is NULL (and 0 returned) when max is reached. */
static int dom_get(struct lv *x, virDomainPtr d, struct dom **out)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    *out = NULL;
    if (x->v.virDomainGetUUIDString(d, uuid) < 0) {
        return VIGIL_EPARSE;
    }
    struct dom *g = dom_find(x, uuid);
    if (g) {
        g->gen = x->gen;
        *out = g;
        return 0;
    }
    if (x->n >= x->max) {
        return 0;
    }
    const char *name = x->v.virDomainGetName(d);
    g = vigil_calloc(1, sizeof *g);
    if (!g) {
        return -ENOMEM;
    }
    vigil__rowmap_init(&g->rm);
    vigil__rowmap_own(&g->rm, x->set, /* stride = */ 2); /* rows are {series id, map row} */
    memcpy(g->uuid, uuid, sizeof uuid);
    g->name = vigil_strdup(name ? name : uuid);
    size_t nl = g->name ? strlen(g->name) : 0;
    g->entity = vigil_malloc(nl + 4);
    if (!g->name || !g->entity) {
        dom_free(x, g);
        return -ENOMEM;
    }
    memcpy(g->entity, "vm:", 3);
    memcpy(g->entity + 3, g->name, nl + 1);
    if (x->legacy) {
        char *xml = x->v.virDomainGetXMLDesc(d, 0);
        int rc = xml ? xml_devices(xml, "disk", &g->disks, &g->n_disks) : 0;
        rc = rc ? rc : xml ? xml_devices(xml, "interface", &g->ifaces, &g->n_ifaces) : 0;
        free(xml); /* libvirt allocates with malloc */
        if (rc || x->v.virDomainRef(d) < 0) {
            dom_free(x, g);
            return rc ? rc : VIGIL_EPARSE;
        }
        g->d = d;
    }
    g->gen = x->gen;
    x->dom[x->n++] = g;
    *out = g;
    return 0;
}

/* Forgets the domains not seen since the last rescan and gives their series back. */
static void prune(struct lv *x)
{
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (x->dom[i]->gen == x->gen) {
            x->dom[k++] = x->dom[i];
        } else {
            vigil__rowmap_release(&x->dom[i]->rm, 0);
            dom_free(x, x->dom[i]);
        }
    }
    x->n = k;
}

static void add(struct lv *x, const char *fmt_name, double v)
{
    size_t l = strlen(fmt_name);
    if (x->nf >= FIELDS_MAX || x->names_len + l + 1 > NAME_BYTES) {
        return;
    }
    char *p = x->names + x->names_len;
    memcpy(p, fmt_name, l + 1);
    x->names_len += l + 1;
    x->f[x->nf++] = (struct field){p, l, v};
}

static void add_str(struct lv *x, const char *name, const char *value)
{
    size_t l = strlen(name);
    if (x->ns >= FIELDS_MAX || x->names_len + l + 1 > NAME_BYTES) {
        return;
    }
    char *p = x->names + x->names_len;
    memcpy(p, name, l + 1);
    x->names_len += l + 1;
    x->s[x->ns++] = (struct strfield){p, value};
}

/* Fills the fields of one domain from the per-domain calls. Returns 0, or 1 when it vanished. */
static int legacy_read(struct lv *x, struct dom *g)
{
    char n[64];
    x->nf = x->ns = x->names_len = 0;
    virDomainInfo info;
    if (x->v.virDomainGetInfo(g->d, &info) < 0) {
        virErrorPtr e = x->v.virGetLastError();
        return e && e->code == VIR_ERR_NO_DOMAIN ? 1 : -EIO;
    }
    add(x, "state.state", info.state);
    if (info.state != VIR_DOMAIN_RUNNING && info.state != VIR_DOMAIN_PAUSED) {
        return 0;
    }
    add(x, "cpu.time", (double)info.cpuTime);
    add(x, "balloon.current", (double)info.memory);
    add(x, "balloon.maximum", (double)info.maxMem);
    add(x, "vcpu.current", info.nrVirtCpu);
    virVcpuInfo vi[64];
    int nv = x->v.virDomainGetVcpus(g->d, vi, 64, NULL, 0);
    for (int i = 0; i < nv; i++) {
        snprintf(n, sizeof n, "vcpu.%u.state", vi[i].number);
        add(x, n, vi[i].state);
        snprintf(n, sizeof n, "vcpu.%u.time", vi[i].number);
        add(x, n, (double)vi[i].cpuTime);
    }
    static const char *const tags[VIR_DOMAIN_MEMORY_STAT_NR] = {
        [VIR_DOMAIN_MEMORY_STAT_SWAP_IN] = "balloon.swap_in",
        [VIR_DOMAIN_MEMORY_STAT_SWAP_OUT] = "balloon.swap_out",
        [VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT] = "balloon.major_fault",
        [VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT] = "balloon.minor_fault",
        [VIR_DOMAIN_MEMORY_STAT_UNUSED] = "balloon.unused",
        [VIR_DOMAIN_MEMORY_STAT_AVAILABLE] = "balloon.available",
        [VIR_DOMAIN_MEMORY_STAT_RSS] = "balloon.rss",
        [VIR_DOMAIN_MEMORY_STAT_USABLE] = "balloon.usable",
        [VIR_DOMAIN_MEMORY_STAT_DISK_CACHES] = "balloon.disk_caches",
    };
    virDomainMemoryStatStruct ms[VIR_DOMAIN_MEMORY_STAT_NR];
    int nm = x->v.virDomainMemoryStats(g->d, ms, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    for (int i = 0; i < nm; i++) {
        if (ms[i].tag >= 0 && ms[i].tag < VIR_DOMAIN_MEMORY_STAT_NR && tags[ms[i].tag]) {
            add(x, tags[ms[i].tag], (double)ms[i].val);
        }
    }
    for (size_t i = 0; i < g->n_disks; i++) {
        virDomainBlockStatsStruct bs;
        if (x->v.virDomainBlockStats(g->d, g->disks[i], &bs, sizeof bs) < 0) {
            continue;
        }
        snprintf(n, sizeof n, "block.%zu.name", i);
        add_str(x, n, g->disks[i]);
        static const char *const k[5] = {"rd.reqs", "rd.bytes", "wr.reqs", "wr.bytes", "errs"};
        long long v[5] = {bs.rd_req, bs.rd_bytes, bs.wr_req, bs.wr_bytes, bs.errs};
        for (int j = 0; j < 5; j++) {
            if (v[j] >= 0) {
                snprintf(n, sizeof n, "block.%zu.%s", i, k[j]);
                add(x, n, (double)v[j]);
            }
        }
    }
    for (size_t i = 0; i < g->n_ifaces; i++) {
        virDomainInterfaceStatsStruct is;
        if (x->v.virDomainInterfaceStats(g->d, g->ifaces[i], &is, sizeof is) < 0) {
            continue;
        }
        snprintf(n, sizeof n, "net.%zu.name", i);
        add_str(x, n, g->ifaces[i]);
        static const char *const k[8] = {"rx.bytes", "rx.pkts", "rx.errs", "rx.drop",
                                         "tx.bytes", "tx.pkts", "tx.errs", "tx.drop"};
        long long v[8] = {is.rx_bytes, is.rx_packets, is.rx_errs, is.rx_drop,
                          is.tx_bytes, is.tx_packets, is.tx_errs, is.tx_drop};
        for (int j = 0; j < 8; j++) {
            if (v[j] >= 0) {
                snprintf(n, sizeof n, "net.%zu.%s", i, k[j]);
                add(x, n, (double)v[j]);
            }
        }
    }
    return 0;
}

/* Copies a bulk record's typed parameters into the fields. */
static void bulk_read(struct lv *x, virDomainStatsRecordPtr r)
{
    x->nf = x->ns = x->names_len = 0;
    for (int i = 0; i < r->nparams && x->nf < FIELDS_MAX; i++) {
        virTypedParameterPtr p = &r->params[i];
        double v;
        switch (p->type) {
        case VIR_TYPED_PARAM_INT:
            v = p->value.i;
            break;
        case VIR_TYPED_PARAM_UINT:
            v = p->value.ui;
            break;
        case VIR_TYPED_PARAM_LLONG:
            v = (double)p->value.l;
            break;
        case VIR_TYPED_PARAM_ULLONG:
            v = (double)p->value.ul;
            break;
        case VIR_TYPED_PARAM_DOUBLE:
            v = p->value.d;
            break;
        case VIR_TYPED_PARAM_STRING:
            if (x->ns < FIELDS_MAX) {
                x->s[x->ns++] = (struct strfield){p->field, p->value.s};
            }
            continue;
        default:
            continue;
        }
        x->f[x->nf++] = (struct field){p->field, strlen(p->field), v};
    }
}

/* ---- mapping ---- */

/* Interns the series for field f; *id and *m (map row) are VIGIL__NO_ID when unmapped. */
static int map_field(struct lv *x, struct dom *g, struct vigil_collect *set, const struct field *f,
                     uint32_t *id, uint32_t *m_out)
{
    *id = *m_out = VIGIL__NO_ID;
    for (size_t m = 0; m < N_MAP; m++) {
        const char *idx;
        size_t il;
        if (!match(map[m].pat, f->name, f->len, &idx, &il)) {
            continue;
        }
        struct vigil_label_ref l[2] = {VIGIL__LBL("domain", g->name, strlen(g->name))};
        size_t nl = 1;
        if (map[m].lbl == L_VCPU) {
            l[nl++] = (struct vigil_label_ref)VIGIL__LBL("vcpu", idx, il);
        } else if (map[m].lbl != L_NONE) {
            /* "net.0.rx.bytes" takes its device from "net.0.name". */
            char key[64];
            snprintf(key, sizeof key, "%s.%.*s.name", map[m].lbl == L_NET ? "net" : "block",
                     (int)il, idx);
            const char *dev = NULL;
            for (size_t s = 0; s < x->ns; s++) {
                if (strcmp(x->s[s].name, key) == 0) {
                    dev = x->s[s].value;
                }
            }
            if (!dev) {
                return 0;
            }
            l[nl++] = (struct vigil_label_ref)VIGIL__LBL("target_device", dev, strlen(dev));
        }
        *m_out = (uint32_t)m;
        return vigil__intern(set, map[m].name, l, nl, map[m].kind, map[m].group, g->entity,
                             map[m].help, id);
    }
    return 0;
}

static int emit_fields(struct lv *x, struct dom *g, struct vigil_collect_cx *cx)
{
    for (size_t i = 0; i < x->nf; i++) {
        const struct field *f = &x->f[i];
        size_t n;
        /* Row i maps to {series id, map row}. */
        const uint32_t *ids = vigil__rowmap_get(&g->rm, i, f->name, f->len, &n);
        if (!ids) {
            uint32_t v[2];
            vigil__rowmap_truncate(&g->rm, i); /* release first: see vigil__rowmap_own */
            int rc = map_field(x, g, cx->set, f, &v[0], &v[1]);
            if (rc) {
                return rc;
            }
            if (!(ids = vigil__rowmap_learn(&g->rm, i, f->name, f->len, v, 2))) {
                return -ENOMEM;
            }
        }
        if (ids[0] == VIGIL__NO_ID) {
            continue;
        }
        double mul = map[ids[1]].mul;
        /* ns -> s by division keeps the shortest decimal form. */
        vigil__emit(cx, ids[0], mul < 1 ? f->v / 1e9 : f->v * mul);
    }
    vigil__rowmap_truncate(&g->rm, x->nf);
    return 0;
}

static int libvirt_collect(struct vigil_collector *c, struct vigil_collect_cx *cx)
{
    struct lv *x = c->ctx;
    int rc = 0;
    if (!x->legacy) {
        virDomainStatsRecordPtr *recs = NULL;
        int n = x->v.virConnectGetAllDomainStats(x->conn, STATS, &recs, 0);
        if (n < 0) {
            vigil_collect_fail(cx, "virConnectGetAllDomainStats", -EIO);
            return 0;
        }
        /* A driver that returns no cpu.time in bulk for a running domain gets the
         * per-domain calls from now on. */
        int running = 0, cpu = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < recs[i]->nparams; j++) {
                virTypedParameterPtr p = &recs[i]->params[j];
                cpu |= strcmp(p->field, "cpu.time") == 0;
                running |= strcmp(p->field, "state.state") == 0 &&
                           p->type == VIR_TYPED_PARAM_INT && p->value.i == VIR_DOMAIN_RUNNING;
            }
        }
        if (running && !cpu) {
            x->v.virDomainStatsRecordListFree(recs);
            vigil_info("libvirt: the driver returns no bulk cpu stats; using per-domain calls");
            x->legacy = 1;
            cx->rescan = 1;
            return libvirt_collect(c, cx);
        }
        if (cx->rescan) {
            x->gen++;
        }
        for (int i = 0; i < n && !rc; i++) {
            struct dom *g;
            rc = dom_get(x, recs[i]->dom, &g);
            if (!rc && g) {
                g->gen = x->gen;
                bulk_read(x, recs[i]);
                rc = emit_fields(x, g, cx);
            }
        }
        if (cx->rescan) {
            prune(x);
        }
        x->v.virDomainStatsRecordListFree(recs);
        return rc == -ENOMEM ? rc : 0;
    }
    if (cx->rescan) {
        virDomainPtr *doms = NULL;
        int n = x->v.virConnectListAllDomains(x->conn, &doms, 0);
        if (n < 0) {
            vigil_collect_fail(cx, "virConnectListAllDomains", -EIO);
            return 0;
        }
        x->gen++;
        for (int i = 0; i < n; i++) {
            struct dom *g;
            if (!rc) {
                rc = dom_get(x, doms[i], &g);
            }
            x->v.virDomainFree(doms[i]);
        }
        free(doms);
        prune(x);
        if (rc == -ENOMEM) {
            return rc;
        }
    }
    for (size_t i = 0; i < x->n; i++) {
        struct dom *g = x->dom[i];
        int r = legacy_read(x, g);
        if (r == 1) {
            g->gen = 0; /* destroyed: drops out now, freed at the next rescan */
            continue;
        }
        if (r < 0) {
            vigil_collect_fail(cx, g->name, r);
            continue;
        }
        if ((r = emit_fields(x, g, cx)) == -ENOMEM) {
            return r;
        }
    }
    return 0;
}

const struct vigil_collector_ops vigil__collector_libvirt = {
    .abi = VIGIL_COLLECTOR_ABI,
    .name = "libvirt",
    .summary = "libvirt domains: libvirt_domain_* per VM (cpu, balloon, vcpu, net, block)",
    .opts = libvirt_opts,
    .params_size = sizeof(struct libvirt_params),
    .default_on = 1,
    .init = libvirt_init,
    .collect = libvirt_collect,
    .fini = libvirt_fini,
};
