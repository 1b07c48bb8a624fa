/*
 * Is it cheaper to hand the kernel /metrics as an iovec of its pieces than to
 * copy them into one buffer first? A page like vigil collect's with every
 * field (520 families: 91 KB of # HELP/# TYPE text, 36 KB of sample lines)
 * is sent over a loopback TCP connection to a child that reads and discards
 * it, either (copy) assembled with memcpy and sent with send(), as the render
 * does, or (iovec) sent with sendmsg() straight from the pieces, IOV_MAX per
 * call. CPU is the sender's (getrusage: user + system, which includes the
 * loopback receive path run in the sender's context), per page, with a 10 ms
 * sleep between pages so caches cool as between scrapes. Medians of 5
 * alternated rounds of 150 pages each.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAMILIES 520
#define META_BYTES 91000
#define VALUE_BYTES 36000
#define PAGES 150
#define ROUNDS 5

static char meta[META_BYTES], values[VALUE_BYTES], page[META_BYTES + VALUE_BYTES];

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, 0);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_copy(int fd)
{
    size_t ml = META_BYTES / FAMILIES, vl = VALUE_BYTES / FAMILIES;
    char *p = page;
    for (int f = 0; f < FAMILIES; f++) {
        memcpy(p, meta + (size_t)f * ml, ml);
        p += ml;
        memcpy(p, values + (size_t)f * vl, vl);
        p += vl;
    }
    return send_all(fd, page, (size_t)(p - page));
}

static int send_iov(int fd)
{
    static struct iovec iov[2 * FAMILIES];
    size_t ml = META_BYTES / FAMILIES, vl = VALUE_BYTES / FAMILIES;
    for (int f = 0; f < FAMILIES; f++) {
        iov[2 * f] = (struct iovec){meta + (size_t)f * ml, ml};
        iov[2 * f + 1] = (struct iovec){values + (size_t)f * vl, vl};
    }
    for (int k = 0; k < 2 * FAMILIES; k += IOV_MAX) {
        int cnt = 2 * FAMILIES - k < IOV_MAX ? 2 * FAMILIES - k : IOV_MAX;
        size_t want = 0;
        for (int j = 0; j < cnt; j++) {
            want += iov[k + j].iov_len;
        }
        struct msghdr m = {.msg_iov = iov + k, .msg_iovlen = (size_t)cnt};
        ssize_t w = sendmsg(fd, &m, 0);
        if (w < 0) {
            return -1;
        }
        if ((size_t)w != want) { /* partial: never seen on loopback at this size; reported */
            return -1;
        }
    }
    return 0;
}

static double round_us(int fd, int (*fn)(int))
{
    struct timespec gap = {0, 10000000};
    double c0 = cpu_s();
    for (int i = 0; i < PAGES; i++) {
        if (fn(fd)) {
            return -1;
        }
        nanosleep(&gap, NULL);
    }
    return (cpu_s() - c0) / PAGES * 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &al)) {
        perror("bench_render_send: listen");
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a)) {
            _exit(1);
        }
        char buf[65536];
        while (read(c, buf, sizeof buf) > 0) {
        }
        _exit(0);
    }
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
        perror("bench_render_send: accept");
        return 1;
    }
    memset(meta, 'm', sizeof meta);
    memset(values, 'v', sizeof values);
    double copy[ROUNDS], vec[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        copy[r] = round_us(fd, send_copy);
        vec[r] = round_us(fd, send_iov);
        if (copy[r] < 0 || vec[r] < 0) {
            fprintf(stderr, "bench_render_send: a send failed\n");
            return 1;
        }
    }
    close(fd);
    waitpid(child, NULL, 0);
    qsort(copy, ROUNDS, sizeof *copy, cmp_d);
    qsort(vec, ROUNDS, sizeof *vec, cmp_d);
    printf("render_send: %d-byte page, %d families, %d pages x %d rounds, 10 ms apart\n",
           META_BYTES + VALUE_BYTES, FAMILIES, PAGES, ROUNDS);
    printf("  copy + send:   %6.1f us per page (median; range %.1f-%.1f)\n", copy[ROUNDS / 2],
           copy[0], copy[ROUNDS - 1]);
    printf("  iovec sendmsg: %6.1f us per page (median; range %.1f-%.1f)\n", vec[ROUNDS / 2],
           vec[0], vec[ROUNDS - 1]);
    printf("  iovec / copy:  %.2f\n", vec[ROUNDS / 2] / copy[ROUNDS / 2]);
    return 0;
}
