/*
 * Collector tick cost, phase by phase (libuv's benchmark style): the host
 * collectors on the live /proc, 100 containers on a synthetic cgroup v2 tree
 * made in /tmp, and 100 VMs defined in libvirt's in-process test driver. Each
 * phase first checks the tick emits the expected series (validation before
 * timing), then times 200 ticks after 5 of warm-up with the process CPU clock,
 * plus the rendering of /metrics.
 *
 * The test driver answers in-process, so the VM figure is vigil's own cost
 * per domain, not a hypervisor's RPC round trip.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigil/collect.h"
#include "vigil/log.h"

#ifdef VIGIL_HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#endif

#define TICKS 200

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int run(const char *what, const char *root, const char *list, const char *set_k,
               const char *set_v, size_t min_samples)
{
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = root;
    conf.collectors = list;
    conf.rescan_ns = 3600LL * 1000000000LL; /* discovery once, outside the timed ticks */
    if (vigil_collect_new(&c, &conf, &d) || (set_k && vigil_collect_set(c, set_k, set_v, &d)) ||
        vigil_collect_start(c, &d)) {
        printf("%-28s skipped: %s\n", what, d.msg);
        vigil_collect_free(c);
        return 0;
    }
    const struct vigil_sample_batch *b;
    for (int i = 0; i < 5; i++) {
        vigil_collect_tick(c, &b);
    }
    if (b->n < min_samples) {
        printf("%-28s FAILED validation: %zu samples, expected >= %zu\n", what, b->n, min_samples);
        vigil_collect_free(c);
        return 1;
    }
    double t0 = cpu_s();
    for (int i = 0; i < TICKS; i++) {
        vigil_collect_tick(c, &b);
    }
    double t1 = cpu_s();
    struct vigil_buf out;
    vigil_buf_init(&out);
    for (int i = 0; i < TICKS; i++) {
        vigil_buf_reset(&out);
        vigil_collect_render(c, &out, 0);
    }
    double t2 = cpu_s();
    double tick_us = (t1 - t0) / TICKS * 1e6, render_us = (t2 - t1) / TICKS * 1e6;
    printf("%-28s %6zu samples  tick %8.1f us  render %7.1f us  per sample %.3f us\n", what, b->n,
           tick_us, render_us, (tick_us + render_us) / (double)b->n);
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    return 0;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A cgroup v2 tree with n service cgroups, each with the files a systemd service has. */
static char *make_cgroups(int n)
{
    static char root[64];
    snprintf(root, sizeof root, "/tmp/vigil-bench-cg-XXXXXX");
    if (!mkdtemp(root)) {
        return NULL;
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/sys", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sys/fs", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sys/fs/cgroup", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sys/fs/cgroup/cgroup.controllers", root);
    put(p, "cpu io memory pids\n");
    snprintf(p, sizeof p, "%s/sys/fs/cgroup/system.slice", root);
    mkdir(p, 0755);
    for (int i = 0; i < n; i++) {
        char d[512];
        snprintf(d, sizeof d, "%s/sys/fs/cgroup/system.slice/svc%03d.service", root, i);
        mkdir(d, 0755);
        static const char *const files[][2] = {
            {"cpu.stat", "usage_usec 12500000\nuser_usec 8000000\nsystem_usec 4500000\n"
                         "nr_periods 1200\nnr_throttled 37\nthrottled_usec 2500000\n"},
            {"memory.current", "104857600\n"},
            {"memory.max", "268435456\n"},
            {"memory.stat", "anon 52428800\nfile 41943040\nkernel 1048576\nfile_mapped 8388608\n"
                            "inactive_file 31457280\nactive_file 10485760\npgfault 20000\n"
                            "pgmajfault 12\n"},
            {"memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n"},
            {"io.stat", "254:0 rbytes=1048576 wbytes=2097152 rios=256 wios=512 dbytes=0 dios=0\n"},
            {"pids.current", "17\n"},
            {"cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=250000\n"
                             "full avg10=0.00 avg60=0.00 avg300=0.00 total=125000\n"},
            {"memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"},
            {"io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=3000000\n"
                            "full avg10=0.00 avg60=0.00 avg300=0.00 total=2000000\n"},
        };
        for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
            snprintf(p, sizeof p, "%s/%s", d, files[k][0]);
            put(p, files[k][1]);
        }
    }
    return root;
}

int main(void)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    int fail = 0;
    printf("%d timed ticks per phase after 5 warm-up ticks, process CPU time\n", TICKS);
    fail |= run("host /proc (default set)", "/",
                "stat,meminfo,vmstat,loadavg,pressure,diskstats,netdev,netstat,filesystem,filefd",
                NULL, NULL, 100);
    fail |= run("host /proc (all vmstat)", "/",
                "stat,meminfo,vmstat,loadavg,pressure,diskstats,netdev,netstat,filesystem,filefd",
                "vmstat.fields", ".", 250);
    /* Processes by name on the live /proc: rescans (every second by default) are outside
     * the timed ticks, as for cgroups; each tick re-reads stat, status, io and fd/. */
    fail |= run("10 process groups (live)", "/", "process", "process.names",
                "bash,sh,sleep,python3,node,make,cc1,vigil,systemd,init", 10 * 6);
    /* Open vSwitch from the fixture ovs-vsctl: the tick emits the last values; the
     * command runs in a child every 5 s, whose CPU is not counted here. */
    fail |= run("ovs, 4 interfaces (fixture)", "/", "ovs", "ovs.command",
                "tests/data/ovs/ovs-vsctl", 30);
    char *cg = make_cgroups(100);
    if (cg) {
        /* 100 services x 27 series, plus the slice and the root. */
        fail |= run("100 containers (cgroup v2)", cg, "cgroup", NULL, NULL, 100 * 25);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", cg);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", cg);
        }
    }
#ifdef VIGIL_HAVE_LIBVIRT
    virConnectPtr rw = virConnectOpen("test:///default");
    int made = 0;
    for (int i = 0; rw && i < 99; i++) { /* plus the driver's own "test" domain: 100 */
        char xml[1024];
        snprintf(xml, sizeof xml,
                 "<domain type='test'><name>vm%03d</name><memory unit='KiB'>1048576</memory>"
                 "<vcpu>2</vcpu><os><type>hvm</type></os><devices>"
                 "<disk type='file' device='disk'><source file='/guest/vm%03d.img'/>"
                 "<target dev='vda' bus='virtio'/></disk>"
                 "<interface type='network'><source network='default'/>"
                 "<target dev='tap%03d'/></interface></devices></domain>",
                 i, i, i);
        virDomainPtr d = virDomainCreateXML(rw, xml, 0);
        if (d) {
            made++;
            virDomainFree(d);
        }
    }
    if (made == 99) {
        fail |= run("100 VMs (libvirt test driver)", "/", "libvirt", "libvirt.uri",
                    "test:///default", 100 * 20);
    } else {
        printf("100 VMs: only %d domains could be created\n", made + 1);
    }
    if (rw) {
        virConnectClose(rw);
    }
#else
    printf("100 VMs (libvirt test driver)  skipped: built without libvirt\n");
#endif
    return fail;
}
