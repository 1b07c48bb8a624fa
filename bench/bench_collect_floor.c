/*
 * The floor under `vigil collect`'s CPU: a server that makes the system calls
 * a tick and a scrape of vigil make, and nothing else. Every tick it reads
 * the same files with vigil's own reader, vigil__pfile_read (descriptors
 * kept open; -w marks a single_open file, as the collectors do), and
 * statfs's the same mounts;
 * every request on a kept-alive HTTP/1.1 connection gets the same page, read
 * once from a file, as one sendmsg of header and body. No parsing, no
 * series, no rendering: what is left is the kernel's work on the files, the
 * send, and the sleeps and wake-ups, a bound no implementation reading these
 * files and serving this page goes under.
 *
 * bench/collect_floor.sh takes the file and mount lists from a running
 * `vigil collect` (strace) and measures vigil, this floor and node-exporter
 * side by side. Run alone:
 *
 *   bench_collect_floor [-i MS] [-s MOUNT]... [-w FILE]... PAGE FILE...
 *
 * It prints "floor: listening on 127.0.0.1:PORT" once it listens, and runs
 * until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../src/collect/internal.h"

#define MAX_FILES 256
#define MAX_MOUNTS 64
#define MAX_CONNS 8
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *b = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(b, cap ? cap * 2 : 65536);
            if (!nb) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = nb;
            cap = cap ? cap * 2 : 65536;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            break;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

/* Answers every complete request in what arrived; 0 when the peer stays. */
static int serve(int fd, char *req, size_t *have, const char *head, size_t head_len,
                 const char *page, size_t page_len)
{
    ssize_t k = recv(fd, req + *have, 8192 - *have, 0);
    if (k <= 0) {
        return k < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    }
    *have += (size_t)k;
    char *end;
    while ((end = memmem(req, *have, "\r\n\r\n", 4))) {
        struct iovec iov[2] = {{(void *)head, head_len}, {(void *)page, page_len}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        size_t left = head_len + page_len;
        while (left) {
            ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN) { /* a full socket: wait for room */
                    struct pollfd p = {.fd = fd, .events = POLLOUT};
                    poll(&p, 1, 1000);
                    continue;
                }
                return -1;
            }
            left -= (size_t)w;
            while (m.msg_iovlen && (size_t)w >= m.msg_iov->iov_len) {
                w -= (ssize_t)m.msg_iov->iov_len;
                m.msg_iov++;
                m.msg_iovlen--;
            }
            if (m.msg_iovlen) {
                m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + w;
                m.msg_iov->iov_len -= (size_t)w;
            }
        }
        size_t used = (size_t)(end + 4 - req);
        memmove(req, req + used, *have - used);
        *have -= used;
    }
    if (*have == 8192) {
        return -1; /* a request past 8 KiB: not a scraper */
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_collect_floor [-i MS] [-s MOUNT]... [-w FILE]... PAGE FILE...\n"
                    "(driven by bench/collect_floor.sh)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 1) {
        printf("bench_collect_floor: a server driven by bench/collect_floor.sh; "
               "nothing to run alone\n");
        return 0;
    }
    static struct vigil__pfile srcs[MAX_FILES];
    const char *mounts[MAX_MOUNTS];
    const char *wholes[MAX_FILES];
    int n_src = 0, n_mnt = 0, n_whole = 0, opt;
    long interval_ms = 100;
    while ((opt = getopt(argc, argv, "i:s:w:")) != -1) {
        if (opt == 'i') {
            char *e;
            interval_ms = strtol(optarg, &e, 10);
            if (*e || interval_ms < 1 || interval_ms > 60000) {
                fprintf(stderr, "bench_collect_floor: -i %s: expected 1 to 60000 ms\n", optarg);
                return 2;
            }
        } else if (opt == 's' && n_mnt < MAX_MOUNTS) {
            mounts[n_mnt++] = optarg;
        } else if (opt == 'w' && n_whole < MAX_FILES) {
            wholes[n_whole++] = optarg;
        } else {
            return usage();
        }
    }
    if (optind >= argc) {
        return usage();
    }
    size_t page_len;
    char *page = slurp(argv[optind], &page_len);
    if (!page) {
        fprintf(stderr, "bench_collect_floor: %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    for (int i = 0; i < n_whole + argc - optind - 1; i++) {
        if (n_src == MAX_FILES) {
            fprintf(stderr, "bench_collect_floor: at most %d files\n", MAX_FILES);
            return 1;
        }
        const char *path = i < n_whole ? wholes[i] : argv[optind + 1 + i - n_whole];
        struct vigil__pfile *f = &srcs[n_src];
        vigil__pfile_init(f);
        int rc = vigil__pfile_open(f, "", path);
        if (rc) {
            fprintf(stderr, "bench_collect_floor: %s: %s\n", path, strerror(-rc));
            return 1;
        }
        f->whole = i < n_whole;
        n_src++;
    }
    char head[160];
    int head_len = snprintf(head, sizeof head,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
                            "charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
                            page_len);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 16) ||
        getsockname(lfd, (struct sockaddr *)&a, &alen)) {
        fprintf(stderr, "bench_collect_floor: listen: %s\n", strerror(errno));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("floor: listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
    fflush(stdout);

    struct pollfd pf[1 + MAX_CONNS];
    static char req[MAX_CONNS][8192];
    size_t have[MAX_CONNS] = {0};
    int cfd[MAX_CONNS], n_conn = 0;
    int64_t period = interval_ms * 1000000, next = now_ns();
    while (!stop) {
        int64_t t = now_ns();
        if (t >= next) {
            for (int i = 0; i < n_src; i++) {
                int rc = srcs[i].path ? vigil__pfile_read(&srcs[i]) : 0;
                if (rc) { /* a cgroup removed meanwhile: vigil drops it too */
                    fprintf(stderr, "bench_collect_floor: %s: %s; no longer read\n", srcs[i].path,
                            strerror(-rc));
                    vigil__pfile_close(&srcs[i]); /* its path NULL: not read again */
                }
            }
            for (int i = 0; i < n_mnt; i++) {
                struct statfs st;
                statfs(mounts[i], &st); /* a mount gone meanwhile costs the same */
            }
            next += period;
            if (next <= t) {
                next = t + period;
            }
            continue;
        }
        pf[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < n_conn; i++) {
            pf[1 + i] = (struct pollfd){.fd = cfd[i], .events = POLLIN};
        }
        struct timespec to = {(next - t) / 1000000000, (next - t) % 1000000000};
        int r = ppoll(pf, (nfds_t)(1 + n_conn), &to, NULL);
        if (r <= 0) {
            continue;
        }
        for (int i = n_conn - 1; i >= 0; i--) {
            if (pf[1 + i].revents &&
                serve(cfd[i], req[i], &have[i], head, (size_t)head_len, page, page_len)) {
                close(cfd[i]);
                n_conn--;
                if (i != n_conn) { /* the last one takes its place (memcpy onto itself is UB) */
                    cfd[i] = cfd[n_conn];
                    have[i] = have[n_conn];
                    memcpy(req[i], req[n_conn], have[i]);
                }
            }
        }
        if (pf[0].revents & POLLIN) {
            int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0 && n_conn < MAX_CONNS) {
                cfd[n_conn] = c;
                have[n_conn++] = 0;
            } else if (c >= 0) {
                close(c);
            }
        }
    }
    for (int i = 0; i < n_conn; i++) {
        close(cfd[i]);
    }
    for (int i = 0; i < n_src; i++) {
        vigil__pfile_close(&srcs[i]);
    }
    free(page);
    return 0;
}
