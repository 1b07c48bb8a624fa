/*
 * Test helpers: the failing allocator behind the OOM sweeps, and paths.
 * The allocator keeps a size header in front of each block so it can count
 * live bytes and tell a leak from a free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/bus.h"
#include "vigil/mem.h"

static long fail_at_call;
static long calls;
static long live;

#define HDR 16

static void *t_malloc(size_t n)
{
    calls++;
    if (fail_at_call && calls == fail_at_call) {
        return NULL;
    }
    unsigned char *p = malloc(n + HDR);
    if (!p) {
        return NULL;
    }
    memcpy(p, &n, sizeof n);
    live += (long)n;
    return p + HDR;
}

static void t_free(void *ptr)
{
    if (!ptr) {
        return;
    }
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    live -= (long)n;
    free(p);
}

static void *t_realloc(void *ptr, size_t n)
{
    if (!ptr) {
        return t_malloc(n);
    }
    calls++;
    if (fail_at_call && calls == fail_at_call) {
        return NULL;
    }
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *q = realloc(p, n + HDR);
    if (!q) {
        return NULL;
    }
    memcpy(q, &n, sizeof n);
    live += (long)n - (long)old;
    return q + HDR;
}

static void *t_calloc(size_t c, size_t s)
{
    if (s && c > SIZE_MAX / s) {
        return NULL;
    }
    void *p = t_malloc(c * s);
    if (p) {
        memset(p, 0, c * s);
    }
    return p;
}

void tu_alloc_fail_at(long n)
{
    fail_at_call = n;
    calls = 0;
    live = 0;
    vigil_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
}

void tu_alloc_reset(void)
{
    vigil_reset_allocator();
    fail_at_call = 0;
}

long tu_alloc_calls(void)
{
    return calls;
}

long tu_alloc_live(void)
{
    return live;
}

const char *tu_data_dir(void)
{
    const char *d = getenv("VIGIL_DATA");
    return d && *d ? d : "../shared/data";
}

int tu_data_path(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", tu_data_dir(), rel);
    return access(out, R_OK) == 0;
}

const char *tu_fixture(const char *rel)
{
    static char slots[8][512];
    static int k;
    char *out = slots[k++ % 8];
    snprintf(out, 512, "tests/data/%s", rel);
    return out;
}

const char *tu_tmpdir(void)
{
    static char slots[4][64];
    static int k;
    char *out = slots[k++ % 4];
    snprintf(out, 64, "/tmp/vigil-test-XXXXXX");
    if (!mkdtemp(out)) {
        fail_msg("mkdtemp failed");
    }
    return out;
}

const char *tu_write_file(const char *dir, const char *name, const char *text, size_t n)
{
    static char slots[8][512];
    static int k;
    char *out = slots[k++ % 8];
    snprintf(out, 512, "%s/%s", dir, name);
    FILE *f = fopen(out, "wb");
    if (!f) {
        fail_msg("cannot write %s", out);
    }
    if (n && fwrite(text, 1, n, f) != n) {
        fail_msg("short write %s", out);
    }
    fclose(f);
    return out;
}

int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        fail_msg("no free port");
    }
    close(fd);
    return ntohs(a.sin_port);
}

int tu_spawn(char *const argv[], const char *logfile)
{
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open(logfile ? logfile : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    return (int)pid;
}

void tu_stop(int pid)
{
    if (pid <= 0) {
        return;
    }
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static size_t tu_discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

int tu_wait_http(const char *url, long timeout_ms)
{
    CURL *c = curl_easy_init();
    int up = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_discard);
    for (;;) {
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 200 && status < 300) {
                up = 1;
                break;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
            break;
        }
        usleep(50000);
    }
    curl_easy_cleanup(c);
    return up;
}

int tu_have_program(const char *name)
{
    const char *path = getenv("PATH");
    char buf[1024];
    if (!path) {
        return 0;
    }
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
        if (access(buf, X_OK) == 0) {
            return 1;
        }
        if (!e) {
            break;
        }
        p = e + 1;
    }
    return 0;
}

int tu_nats_start(char *url, size_t n)
{
    if (!tu_have_program("nats-server") || !vigil_bus_available()) {
        return -1;
    }
    char port[16], dir[256];
    snprintf(port, sizeof port, "%d", tu_free_port());
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    char *argv[] = {"nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd", dir, NULL};
    int pid = tu_spawn(argv, NULL);
    snprintf(url, n, "nats://127.0.0.1:%s", port);
    for (int i = 0; i < 200 && pid > 0; i++) {
        struct vigil_bus *b;
        struct vigil_diag d;
        if (vigil_bus_connect(&b, url, "probe", &d) == 0) {
            vigil_bus_close(b);
            return pid;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    tu_stop(pid);
    return -1;
}
