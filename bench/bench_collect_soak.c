/*
 * Memory under churn (issue 5: "RSS after one hour stays flat"): one hour of
 * 100 ms ticks (36,000) run at full speed on a simulated clock, over a
 * fixture root whose containers come and go: 40 long-lived services plus a
 * short-lived container started every 2 s that lives 60 s, each with its
 * cgroup v2 directory and a veth line in proc/net/dev (1,800 containers over
 * the hour, about 30 series each). The host collectors read the fixture's
 * static /proc files alongside.
 *
 * Prints the process RSS, the heap in use (mallinfo2) and the series table
 * at 10 simulated minutes (warm: past the first retirements) and at the end,
 * once with retirement on (the `vigil collect` default, 5 min grace) and
 * once with it off (every series kept: what the table did before), so the
 * difference is visible. Validation first: every tick must emit the 40
 * long-lived services, and with retirement on the table must stay bounded.
 *
 *     build/bench/bench_collect_soak [TICKS]      (default 36000)
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vigil/collect.h"
#include "vigil/log.h"

#define SEC 1000000000LL
#define LONG_LIVED 40
#define EVERY 20 /* ticks between container starts: 2 s */
#define LIFE 600 /* ticks a short-lived container lives: 60 s */

struct sim {
    int64_t now;
};

static int64_t sim_now(void *user)
{
    return ((struct sim *)user)->now;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void add_container(const char *root, const char *name)
{
    char d[512], p[600];
    snprintf(d, sizeof d, "%s/sys/fs/cgroup/%s", root, name);
    mkdir(d, 0755);
    static const char *const files[][2] = {
        {"cpu.stat", "usage_usec 12500000\nuser_usec 8000000\nsystem_usec 4500000\n"
                     "nr_periods 1200\nnr_throttled 37\nthrottled_usec 2500000\n"},
        {"memory.current", "104857600\n"},
        {"memory.stat", "anon 52428800\nfile 41943040\nfile_mapped 8388608\n"
                        "inactive_file 31457280\npgfault 20000\npgmajfault 12\n"},
        {"io.stat", "254:0 rbytes=1048576 wbytes=2097152 rios=256 wios=512 dbytes=0 dios=0\n"},
        {"pids.current", "17\n"},
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(p, sizeof p, "%s/%s", d, files[k][0]);
        put(p, files[k][1]);
    }
}

static void rm_container(const char *root, const char *name)
{
    static const char *const files[] = {"cpu.stat", "memory.current", "memory.stat", "io.stat",
                                        "pids.current"};
    char p[600];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(p, sizeof p, "%s/sys/fs/cgroup/%s/%s", root, name, files[k]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/sys/fs/cgroup/%s", root, name);
    rmdir(p);
}

/* proc/net/dev with eth0 and one veth per live short-lived container [first, last]. */
static void put_netdev(const char *root, int first, int last)
{
    static char text[1 << 16];
    size_t o = (size_t)snprintf(text, sizeof text,
                                "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
                                "  eth0: 284345348 5310 0 0 0 0 0 0 223324 2823 0 0 0 0 0 0\n");
    for (int i = first; i <= last && o < sizeof text - 128; i++) {
        o += (size_t)snprintf(text + o, sizeof text - o,
                              " veth%05d: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n", i);
    }
    char p[600];
    snprintf(p, sizeof p, "%s/proc/net/dev", root);
    put(p, text);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

static double heap_mb(void)
{
    struct mallinfo2 m = mallinfo2();
    return (double)m.uordblks / 1048576.0;
}

static int run(const char *root, long ticks, int64_t retire_ns)
{
    struct sim clk = {0};
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.root = root;
    conf.collectors = "stat,meminfo,vmstat,loadavg,diskstats,netdev,netstat,filefd,cgroup";
    conf.retire_ns = retire_ns;
    conf.clock = sim_now;
    conf.clock_user = &clk;
    if (vigil_collect_new(&c, &conf, &d) || vigil_collect_set(c, "cgroup.max", "4096", &d) ||
        vigil_collect_start(c, &d)) {
        printf("start failed: %s\n", d.msg);
        vigil_collect_free(c);
        return 1;
    }
    struct vigil_buf out;
    vigil_buf_init(&out);
    int next = 0, oldest = 0;
    long warm_rss = 0;
    double warm_heap = 0;
    size_t warm_ids = 0, max_ids = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const struct vigil_sample_batch *b;
    for (long t = 0; t < ticks; t++) {
        if (t % EVERY == 0) {
            char name[32];
            snprintf(name, sizeof name, "c%05d", next++);
            add_container(root, name);
            while ((next - oldest) * EVERY > LIFE) {
                snprintf(name, sizeof name, "c%05d", oldest++);
                rm_container(root, name);
            }
            put_netdev(root, oldest, next - 1);
        }
        clk.now += SEC / 10;
        if (vigil_collect_tick(c, &b) != 0) {
            printf("tick %ld failed\n", t);
            return 1;
        }
        vigil_buf_reset(&out);
        vigil_collect_render(c, &out, 0);
        /* Validation: the long-lived services are there every tick. */
        if (t % 997 == 0) {
            int n = 0;
            for (const char *p = out.p; (p = strstr(p, "container_memory_usage_bytes{name=\"/svc"));
                 p++) {
                n++;
            }
            if (n != LONG_LIVED) {
                printf("FAILED validation at tick %ld: %d long-lived services\n", t, n);
                return 1;
            }
        }
        size_t ids = vigil_collect_series(c)->n;
        max_ids = ids > max_ids ? ids : max_ids;
        if (t + 1 == 6000 || (ticks < 6000 && t + 1 == ticks / 6)) {
            warm_rss = rss_kb();
            warm_heap = heap_mb();
            warm_ids = ids;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("retire %-4s  %ld ticks (%.0f simulated min) in %.1f s, %d containers made\n",
           retire_ns ? "5m" : "off", ticks, (double)ticks / 600.0, secs, next);
    printf("  at 10 min: RSS %6.1f MB  heap %6.2f MB  series ids %6zu\n", (double)warm_rss / 1024,
           warm_heap, warm_ids);
    printf("  at end:    RSS %6.1f MB  heap %6.2f MB  series ids %6zu (live %zu, max %zu)\n",
           (double)rss_kb() / 1024, heap_mb(), vigil_collect_series(c)->n, vigil_collect_n_live(c),
           max_ids);
    int fail = 0;
    if (retire_ns && max_ids > 20000) {
        printf("FAILED: the series table grew to %zu ids with retirement on\n", max_ids);
        fail = 1;
    }
    vigil_buf_fini(&out);
    vigil_collect_free(c);
    fflush(stdout);
    /* Leave only the long-lived services for the next run. */
    while (oldest < next) {
        char name[32];
        snprintf(name, sizeof name, "c%05d", oldest++);
        rm_container(root, name);
    }
    return fail;
}

static int copy_fixture(const char *root)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a tests/data/proc/ok/. %s/ && mkdir -p %s/sys/fs/cgroup", root,
             root);
    return system(cmd);
}

int main(int argc, char **argv)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    long ticks = argc > 1 ? strtol(argv[1], NULL, 10) : 36000;
    if (ticks < 100) {
        fprintf(stderr, "usage: bench_collect_soak [TICKS >= 100]\n");
        return 2;
    }
    char root[] = "/tmp/vigil-soak-XXXXXX";
    if (!mkdtemp(root) || copy_fixture(root) != 0) {
        fprintf(stderr, "cannot make the fixture root (run from the repository root)\n");
        return 1;
    }
    char p[600];
    snprintf(p, sizeof p, "%s/sys/fs/cgroup/cgroup.controllers", root);
    put(p, "cpu io memory pids\n");
    for (int i = 0; i < LONG_LIVED; i++) {
        char name[32];
        snprintf(name, sizeof name, "svc%02d", i);
        add_container(root, name);
    }
    printf("one tick per simulated 100 ms; a container every 2 s living 60 s, plus %d services\n",
           LONG_LIVED);
    printf("start: RSS %.1f MB  heap %.2f MB\n", (double)rss_kb() / 1024, heap_mb());
    /* Each run in a child of its own, so one's heap does not shape the other's RSS. */
    int fail = 0;
    for (int r = 0; r < 2; r++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            _exit(run(root, ticks, r == 0 ? 300 * SEC : 0));
        }
        int st = 1;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fail = 1;
        }
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", root);
    }
    return fail;
}
