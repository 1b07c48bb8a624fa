/*
 * What one read of each source file costs the way `vigil collect` reads it:
 * the descriptor kept open, preads from offset 0 asking for what the file's
 * buffer holds: 512 bytes at first (ASK0=N for another start), twice as
 * much each time the answer fills what was asked, kept from round to round
 * (as src/collect/procfile.c; a sysctl read allocates and zeroes a kernel
 * buffer of the size asked, so asking 128 KiB would cost several times
 * more), after a 100 ms sleep
 * (so kernel code and data have gone cold, as between two ticks). Thread
 * CPU time per read, median of ROUNDS rounds; the files are read in the
 * order given, so the first of a kind pays for its kernel path going cold
 * (the first sysctl read costs several times the next one).
 *
 *   build/bench/bench_cold_reads                 # the host collectors' files
 *   ASK0=4096 build/bench/bench_cold_reads       # buffers starting at 4 KiB
 *   build/bench/bench_cold_reads FILE...         # these, in this order
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 41
#define MAX_FILES 64

static const char *const host_files[] = {
    "/proc/stat",
    "/proc/meminfo",
    "/proc/vmstat",
    "/proc/loadavg",
    "/proc/pressure/cpu",
    "/proc/pressure/io",
    "/proc/pressure/memory",
    "/proc/diskstats",
    "/proc/net/dev",
    "/proc/net/snmp",
    "/proc/net/netstat",
    "/proc/net/snmp6",
    "/proc/net/sockstat",
    "/proc/net/sockstat6",
    "/proc/net/softnet_stat",
    "/proc/sys/net/netfilter/nf_conntrack_count",
    "/proc/net/stat/nf_conntrack",
    "/proc/sys/fs/file-nr",
    NULL,
};

static double thread_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *names[MAX_FILES];
    int fds[MAX_FILES], n = 0;
    for (int i = 0; argc > 1 ? i < argc - 1 : host_files[i] != NULL; i++) {
        const char *path = argc > 1 ? argv[i + 1] : host_files[i];
        if (n == MAX_FILES) {
            fprintf(stderr, "bench_cold_reads: at most %d files\n", MAX_FILES);
            return 1;
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (argc > 1) {
                fprintf(stderr, "bench_cold_reads: %s: %s\n", path, strerror(errno));
                return 1;
            }
            continue; /* absent here (no IPv6, no nf_conntrack): left out */
        }
        names[n] = path;
        fds[n++] = fd;
    }
    static char buf[1 << 17];
    static double t[MAX_FILES][ROUNDS];
    static size_t ask0[MAX_FILES];
    const char *a0 = getenv("ASK0");
    size_t start = a0 ? strtoul(a0, NULL, 10) : 512;
    if (start < 64 || start > sizeof buf) {
        fprintf(stderr, "bench_cold_reads: ASK0: expected 64 to %zu bytes\n", sizeof buf);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        ask0[i] = start;
    }
    for (int r = 0; r < ROUNDS; r++) {
        usleep(100000);
        for (int i = 0; i < n; i++) {
            double a = thread_us();
            size_t got = 0, ask = ask0[i];
            for (;;) {
                ssize_t k = pread(fds[i], buf + got, ask - got, (off_t)got);
                if (k < 0) {
                    fprintf(stderr, "bench_cold_reads: %s: %s\n", names[i], strerror(errno));
                    return 1;
                }
                got += (size_t)k;
                if (got < ask || ask == sizeof buf) {
                    break;
                }
                ask *= 2;
            }
            ask0[i] = ask;
            t[i][r] = thread_us() - a;
        }
    }
    double sum = 0;
    printf("median CPU per read after a 100 ms sleep, %d rounds\n", ROUNDS);
    for (int i = 0; i < n; i++) {
        qsort(t[i], ROUNDS, sizeof t[i][0], cmp_double);
        sum += t[i][ROUNDS / 2];
        printf("%8.1f us  %s\n", t[i][ROUNDS / 2], names[i]);
        close(fds[i]);
    }
    printf("%8.1f us  sum of the medians, %d files\n", sum, n);
    return 0;
}
