/*
 * HTTP server tests: a server on 127.0.0.1:0 and real requests over TCP
 * sockets, including malformed, oversize and binary ones, 404 and 405, a
 * body on GET, HEAD, query arguments, a busy port, and snapshots published
 * while a client scrapes in a loop (every body must be one whole text).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "vigil/http.h"
#include "vigil/log.h"
#include "vigil/mem.h"

/* Sends raw bytes and reads until the server closes or 2 s pass. Returns the status or -1. */
static int raw(uint16_t port, const char *req, size_t n, char *resp, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) {
            break; /* the server may close early on junk */
        }
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got + 1 < cap && poll(&p, 1, 2000) > 0) {
        ssize_t r = recv(fd, resp + got, cap - 1 - got, 0);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    resp[got] = '\0';
    close(fd);
    int status;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    return status;
}

static int get(uint16_t port, const char *method, const char *path, char *resp, size_t cap)
{
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     method, path);
    return raw(port, req, (size_t)n, resp, cap);
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

static int echo_arg(void *user, const struct vigil_http_req *req, struct vigil_http_resp *resp)
{
    (void)user;
    const char *x = vigil_http_arg(req, "x");
    resp->content_type = "text/plain";
    return vigil_buf_appendf(&resp->body, "x=%s\n", x ? x : "(none)");
}

static int fails(void *user, const struct vigil_http_req *req, struct vigil_http_resp *resp)
{
    (void)user;
    (void)req;
    (void)resp;
    return -EIO;
}

struct fixture {
    struct vigil_snapshot snap;
    struct vigil_http *h;
    struct vigil_http_route routes[3];
};

static struct fixture *start(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_int_equal(vigil_snapshot_init(&f->snap), 0);
    f->routes[0] = (struct vigil_http_route){"/metrics", vigil_http_serve_snapshot, &f->snap};
    f->routes[1] = (struct vigil_http_route){"/echo", echo_arg, NULL};
    f->routes[2] = (struct vigil_http_route){"/fail", fails, NULL};
    struct vigil_http_conf hc;
    vigil_http_conf_default(&hc);
    hc.routes = f->routes;
    hc.n_routes = 3;
    hc.timeout_s = 2;
    struct vigil_diag d;
    int rc = vigil_http_start(&f->h, &hc, &d);
    if (rc) {
        fail_msg("start: %s", d.msg);
    }
    assert_true(vigil_http_port(f->h) > 0);
    return f;
}

static void stop(struct fixture *f)
{
    vigil_http_stop(f->h);
    vigil_snapshot_fini(&f->snap);
    free(f);
}

static char resp[1 << 20];

static void test_routes_and_status(void **state)
{
    (void)state;
    struct fixture *f = start();
    uint16_t port = vigil_http_port(f->h);
    assert_int_equal(get(port, "GET", "/healthz", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "ok\n");
    /* Nothing published yet. */
    assert_int_equal(get(port, "GET", "/metrics", resp, sizeof resp), 503);
    struct vigil_buf *b = vigil_snapshot_begin(&f->snap);
    assert_non_null(b);
    assert_int_equal(vigil_buf_puts(b, "# TYPE up gauge\nup 1\n"), 0);
    vigil_snapshot_commit(&f->snap);
    assert_int_equal(get(port, "GET", "/metrics", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "# TYPE up gauge\nup 1\n");
    assert_non_null(strstr(resp, "text/plain; version=0.0.4"));
    /* HEAD: headers only. */
    assert_int_equal(get(port, "HEAD", "/metrics", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "");
    assert_int_equal(get(port, "GET", "/nope", resp, sizeof resp), 404);
    assert_int_equal(get(port, "GET", "/metrics/extra", resp, sizeof resp), 404);
    assert_int_equal(get(port, "POST", "/metrics", resp, sizeof resp), 405);
    assert_non_null(strstr(resp, "Allow: GET, HEAD"));
    assert_int_equal(get(port, "DELETE", "/healthz", resp, sizeof resp), 405);
    assert_int_equal(get(port, "GET", "/echo?x=a%20b", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "x=a b\n");
    assert_int_equal(get(port, "GET", "/fail", resp, sizeof resp), 500);
    assert_true(vigil_http_requests(f->h) >= 10);
    stop(f);
}

static void test_hostile_requests(void **state)
{
    (void)state;
    struct fixture *f = start();
    uint16_t port = vigil_http_port(f->h);
    /* A body on GET is refused. */
    const char *withbody = "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                           "Connection: close\r\n\r\nhello";
    assert_int_equal(raw(port, withbody, strlen(withbody), resp, sizeof resp), 413);
    /* Malformed request line. */
    const char *junk = "GARBAGE\r\n\r\n";
    int st = raw(port, junk, strlen(junk), resp, sizeof resp);
    assert_true(st == 400 || st == -1);
    /* A request that never ends its headers is cut by the idle timeout, not left open. */
    const char *partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    st = raw(port, partial, strlen(partial), resp, sizeof resp);
    assert_true(st == -1 || st >= 400);
    /* Oversize header: refused with a 4xx or closed, never served. */
    size_t big = 64 * 1024;
    char *req = malloc(big + 256);
    int n = snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 5);
    st = raw(port, req, (size_t)n + big + 4, resp, sizeof resp);
    assert_true(st == -1 || (st >= 400 && st < 500));
    /* Oversize URL. */
    n = snprintf(req, 256, "GET /");
    memset(req + n, 'b', big);
    memcpy(req + n + big, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
    st = raw(port, req, strlen(req), resp, sizeof resp);
    assert_true(st == -1 || (st >= 400 && st < 500));
    /* Binary junk. */
    for (size_t i = 0; i < 4096; i++) {
        req[i] = (char)((i * 131 + 7) & 0xff);
    }
    raw(port, req, 4096, resp, sizeof resp);
    free(req);
    /* Still serving. */
    assert_int_equal(get(port, "GET", "/healthz", resp, sizeof resp), 200);
    stop(f);
}

/* Reads one response with a Content-Length from fd into buf; returns the status or -1. */
static int read_one(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got + 1 < cap && poll(&p, 1, 2000) > 0) {
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
        buf[got] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (end && cl && cl < end && got >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10)) {
            int status;
            return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : -1;
        }
    }
    return -1;
}

static void test_keep_alive(void **state)
{
    (void)state;
    /* Prometheus scrapes over one kept-alive connection: several requests, one socket. */
    struct fixture *f = start();
    struct vigil_buf *b = vigil_snapshot_begin(&f->snap);
    assert_non_null(b);
    assert_int_equal(vigil_buf_puts(b, "up 1\n"), 0);
    vigil_snapshot_commit(&f->snap);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(vigil_http_port(f->h))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    uint64_t before = vigil_http_requests(f->h);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
        assert_int_equal(read_one(fd, resp, sizeof resp), 200);
        assert_string_equal(body_of(resp), "up 1\n");
        assert_null(strstr(resp, "Connection: close"));
    }
    assert_int_equal(vigil_http_requests(f->h) - before, 3);
    close(fd);
    stop(f);
}

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/*
 * What vigil collect's loop does for an external server, one step: poll the
 * client socket and the server's fd (at most until the server's due time),
 * and run the server only when its fd is ready or its time has come.
 * Returns the client's revents; *fd_runs counts runs the fd asked for.
 */
static short drive(struct vigil_http *h, int client, int64_t *due_at, int *fd_runs)
{
    int64_t now = mono_ns();
    int64_t ms = *due_at == INT64_MAX ? 1000 : (*due_at - now) / 1000000 + 1;
    struct pollfd p[2] = {{client, POLLIN, 0}, {vigil_http_fd(h), POLLIN, 0}};
    assert_true(poll(p, 2, ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms) >= 0);
    if (p[1].revents || mono_ns() >= *due_at) {
        *fd_runs += p[1].revents != 0;
        int64_t wait;
        assert_int_equal(vigil_http_run(h, &wait), 0);
        *due_at = wait < 0 ? INT64_MAX : mono_ns() + wait;
    }
    return p[0].revents;
}

/*
 * Reads one whole answer on client into buf (cap bytes, NUL-terminated),
 * running the external server h meanwhile, for at most 10 s; asserts that
 * all Content-Length promised came. Returns the bytes read.
 */
static size_t read_driven(struct vigil_http *h, int client, char *buf, size_t cap,
                          int64_t *due_at, int *fd_runs)
{
    size_t got = 0, want = 0;
    int64_t deadline = mono_ns() + 10000000000LL;
    while ((!want || got < want) && got + 1 < cap && mono_ns() < deadline) {
        if (drive(h, client, due_at, fd_runs) & POLLIN) {
            ssize_t r = recv(client, buf + got, cap - 1 - got, 0);
            assert_true(r > 0);
            got += (size_t)r;
            buf[got] = '\0';
            const char *end = strstr(buf, "\r\n\r\n");
            const char *cl = strstr(buf, "Content-Length: ");
            if (!want && end && cl && cl < end) {
                want = (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10);
            }
        }
    }
    assert_true(want > 0);
    assert_int_equal(got, want);
    return got;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0); /* the kernel's backlog */
    return fd;
}

/* Initialises snap with text as its committed page. */
static void snapshot_of(struct vigil_snapshot *snap, const char *text)
{
    assert_int_equal(vigil_snapshot_init(snap), 0);
    struct vigil_buf *b = vigil_snapshot_begin(snap);
    assert_non_null(b);
    assert_int_equal(vigil_buf_puts(b, text), 0);
    vigil_snapshot_commit(snap);
}

/* A server of one route, *route serving snap (route is borrowed until stop). */
static struct vigil_http *start_route(struct vigil_http_route *route, struct vigil_snapshot *snap,
                                      int external, unsigned timeout_s, unsigned keepalive_s)
{
    *route = (struct vigil_http_route){"/metrics", vigil_http_serve_snapshot, snap};
    struct vigil_http_conf hc;
    vigil_http_conf_default(&hc);
    hc.routes = route;
    hc.n_routes = 1;
    hc.external = external;
    hc.timeout_s = timeout_s;
    hc.keepalive_s = keepalive_s;
    struct vigil_http *h;
    struct vigil_diag d;
    if (vigil_http_start(&h, &hc, &d) != 0) {
        fail_msg("start: %s", d.msg);
    }
    return h;
}

/* ms until fd reads end of stream (the server closed it), at most limit_ms; -1 if not. */
static int closed_within(int fd, int limit_ms)
{
    int64_t t0 = mono_ns();
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    if (poll(&p, 1, limit_ms) > 0 && recv(fd, &c, 1, 0) == 0) {
        return (int)((mono_ns() - t0) / 1000000);
    }
    return -1;
}

/*
 * A connection that never finishes a request is closed after timeout_s; one
 * that had an answer waits keepalive_s for the next request (a Prometheus
 * between scrapes). Slow clients cannot hold the per-address slots for the
 * keep-alive time without finishing requests.
 */
static void test_unanswered_connections_time_out_first(void **state)
{
    (void)state;
    struct vigil_snapshot snap;
    snapshot_of(&snap, "up 1\n");
    struct vigil_http_route route;
    struct vigil_http *h = start_route(&route, &snap, 0, 1, 5);
    uint16_t port = vigil_http_port(h);
    /* Half a request, then nothing: closed after about 1 s. */
    int slow = connect_to(port);
    const char *part = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    assert_int_equal(send(slow, part, strlen(part), MSG_NOSIGNAL), (ssize_t)strlen(part));
    int ms = closed_within(slow, 4000);
    assert_true(ms >= 0 && ms < 4000);
    close(slow);
    /* Answered, then idle for 2.5 s (past timeout_s): still open, answers again. */
    int fd = connect_to(port);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    assert_int_equal(read_one(fd, resp, sizeof resp), 200);
    assert_int_equal(closed_within(fd, 2500), -1);
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    assert_int_equal(read_one(fd, resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "up 1\n");
    close(fd);
    vigil_http_stop(h);
    vigil_snapshot_fini(&snap);
}

/*
 * Clients that complete a request and then stay idle get the long keep-alive
 * only for half the per-address slots: with 4 per address, two such
 * connections stay open past timeout_s, the other two close after it, and a
 * fifth client is answered. (Were all four kept alive, it would be refused
 * for keepalive_s.)
 */
static void test_idle_keepalive_holds_half_the_slots(void **state)
{
    (void)state;
    struct vigil_snapshot snap;
    snapshot_of(&snap, "up 1\n");
    struct vigil_http_route route = {"/metrics", vigil_http_serve_snapshot, &snap};
    struct vigil_http_conf hc;
    vigil_http_conf_default(&hc);
    hc.routes = &route;
    hc.n_routes = 1;
    hc.max_per_ip = 4;
    hc.timeout_s = 1;
    hc.keepalive_s = 30;
    struct vigil_http *h;
    struct vigil_diag d;
    assert_int_equal(vigil_http_start(&h, &hc, &d), 0);
    uint16_t port = vigil_http_port(h);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd[4];
    for (int i = 0; i < 4; i++) {
        fd[i] = connect_to(port);
        assert_int_equal(send(fd[i], req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
        assert_int_equal(read_one(fd[i], resp, sizeof resp), 200);
    }
    /* The last two close after timeout_s; the first two stay. */
    for (int i = 2; i < 4; i++) {
        int ms = closed_within(fd[i], 4000);
        assert_true(ms >= 0 && ms < 4000);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(closed_within(fd[i], 100), -1);
    }
    int five = connect_to(port);
    assert_int_equal(send(five, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    assert_int_equal(read_one(five, resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "up 1\n");
    close(five);
    for (int i = 0; i < 4; i++) {
        close(fd[i]);
    }
    vigil_http_stop(h);
    vigil_snapshot_fini(&snap);
}

/*
 * External mode: the server runs only when the caller calls vigil_http_run,
 * driven by vigil_http_fd and *wait_ns as vigil collect's loop does. A 1 MB
 * body does not fit the socket buffers at once, so the answer takes several
 * runs; an idle connection is closed after timeout_s only if the caller
 * honours *wait_ns.
 */
static void test_external_mode_serves_in_callers_thread(void **state)
{
    (void)state;
    struct fixture *t = start();
    assert_int_equal(vigil_http_fd(t->h), -1); /* a server with its own thread */
    int64_t w = 0;
    assert_int_equal(vigil_http_run(t->h, &w), 0);
    assert_int_equal(w, -1);
    stop(t);

    struct vigil_snapshot snap;
    assert_int_equal(vigil_snapshot_init(&snap), 0);
    struct vigil_buf *b = vigil_snapshot_begin(&snap);
    assert_non_null(b);
    for (int i = 0; i < 40000; i++) {
        assert_int_equal(vigil_buf_appendf(b, "series_%05d 1234567890.5\n", i), 0);
    }
    size_t body_len = b->len;
    vigil_snapshot_commit(&snap);
    struct vigil_http_route route;
    struct vigil_http *h = start_route(&route, &snap, 1, 1, 0);
    assert_true(vigil_http_fd(h) >= 0);

    int fd = connect_to(vigil_http_port(h));
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    /* Nobody runs the server: no answer comes. */
    struct pollfd cp = {fd, POLLIN, 0};
    assert_int_equal(poll(&cp, 1, 200), 0);

    int64_t due_at = INT64_MAX;
    int fd_runs = 0;
    read_driven(h, fd, resp, sizeof resp, &due_at, &fd_runs);
    assert_true(fd_runs >= 2); /* the request, then the rest of the answer */
    assert_int_equal(strlen(body_of(resp)), body_len);
    assert_memory_equal(body_of(resp), "series_00000 1234567890.5\nseries_00001 ", 39);
    assert_non_null(strstr(body_of(resp), "series_39999 1234567890.5\n"));
    assert_int_equal(vigil_http_requests(h), 1);
    close(fd);

    /* An idle connection: closed by the server after timeout_s (1 s), not before. */
    int idle = connect_to(vigil_http_port(h));
    int64_t t0 = mono_ns(), closed = 0;
    int64_t deadline = t0 + 5000000000LL;
    while (!closed && mono_ns() < deadline) {
        if (drive(h, idle, &due_at, &fd_runs) & (POLLIN | POLLHUP)) {
            char c;
            assert_true(recv(idle, &c, 1, 0) == 0); /* end of stream, no data */
            closed = mono_ns() - t0;
        }
    }
    assert_true(closed >= 900000000LL);
    assert_true(closed < 4000000000LL);
    close(idle);
    vigil_http_stop(h);
    vigil_snapshot_fini(&snap);
}

/*
 * Fills a fresh snapshot buffer with GEN_LINES lines of gen: 16 MB, more than
 * the kernel takes at once on loopback (4 MB send buffer at most, tcp_wmem,
 * and the receiver's window), so an answer not read is still being sent.
 */
#define GEN_LINES 1000000
static void render_gen(struct vigil_snapshot *snap, struct vigil_buf *b, int gen)
{
    assert_non_null(b);
    assert_int_equal(b->len, 0);
    for (int i = 0; i < GEN_LINES; i++) {
        assert_int_equal(vigil_buf_appendf(b, "series_%07d %d\n", i, gen), 0);
    }
    vigil_snapshot_commit(snap);
}

/*
 * one_thread (vigil collect serves in its loop's thread): the published blob
 * is rendered over when no response holds it, so a steady scraper costs one
 * copy of the page, not two; a response still sending it gets its text whole
 * while the next goes into a second blob, which is freed once idle.
 */
static void test_snapshot_one_thread_keeps_one_blob(void **state)
{
    (void)state;
    struct vigil_snapshot snap;
    assert_int_equal(vigil_snapshot_init(&snap), 0);
    snap.one_thread = 1;
    struct vigil_buf *first = vigil_snapshot_begin(&snap);
    render_gen(&snap, first, 1);
    struct vigil_buf *b = vigil_snapshot_begin(&snap);
    assert_ptr_equal(b, first); /* nobody sends it: rewritten in place */
    render_gen(&snap, b, 2);
    assert_int_equal(snap.n_pool, 1);

    struct vigil_http_route route;
    struct vigil_http *h = start_route(&route, &snap, 1, 5, 0);
    int fd = connect_to(vigil_http_port(h));
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    int64_t due_at = INT64_MAX, deadline = mono_ns() + 10000000000LL;
    int fd_runs = 0;
    while (!(drive(h, fd, &due_at, &fd_runs) & POLLIN) && mono_ns() < deadline) {
    }
    /* The answer has begun and 1 MB does not fit the socket: the blob is held. */
    b = vigil_snapshot_begin(&snap);
    assert_ptr_not_equal(b, first);
    assert_int_equal(snap.n_pool, 2);
    render_gen(&snap, b, 3);

    size_t cap = 20u << 20;
    char *all = malloc(cap);
    assert_non_null(all);
    read_driven(h, fd, all, cap, &due_at, &fd_runs);
    const char *body = body_of(all);
    assert_memory_equal(body, "series_0000000 2\n", 17); /* the text it began with, whole */
    assert_non_null(strstr(body, "series_0999999 2\n"));
    assert_null(strstr(body, " 3\n"));
    free(all);
    /* Sent: the next render takes the published blob and frees the idle one. */
    for (int i = 0; i < 20 && snap.n_pool > 1; i++) {
        drive(h, fd, &due_at, &fd_runs); /* libmicrohttpd releases the response */
        b = vigil_snapshot_begin(&snap);
        render_gen(&snap, b, 4 + i);
    }
    assert_int_equal(snap.n_pool, 1);
    assert_ptr_not_equal(b, first);
    close(fd);
    vigil_http_stop(h);
    vigil_snapshot_fini(&snap);
}

static void test_busy_port_and_listen_parse(void **state)
{
    (void)state;
    struct fixture *f = start();
    struct vigil_http_conf hc;
    vigil_http_conf_default(&hc);
    hc.port = vigil_http_port(f->h);
    struct vigil_http *h2;
    struct vigil_diag d;
    assert_int_equal(vigil_http_start(&h2, &hc, &d), -EADDRINUSE);
    assert_non_null(strstr(d.msg, "127.0.0.1"));
    hc.port = 0;
    hc.addr = "localhost";
    assert_int_equal(vigil_http_start(&h2, &hc, &d), -EINVAL);
    stop(f);
    char addr[64];
    uint16_t port;
    assert_int_equal(vigil_http_parse_listen("127.0.0.1:9100", addr, sizeof addr, &port), 0);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(port, 9100);
    assert_int_equal(vigil_http_parse_listen(":0", addr, sizeof addr, &port), 0);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(port, 0);
    assert_int_equal(vigil_http_parse_listen("9101", addr, sizeof addr, &port), 0);
    assert_int_equal(port, 9101);
    assert_int_equal(vigil_http_parse_listen("1.2.3.4:65536", addr, sizeof addr, &port), -EINVAL);
    assert_int_equal(vigil_http_parse_listen("host:80", addr, sizeof addr, &port), -EINVAL);
    assert_int_equal(vigil_http_parse_listen("1.2.3.4:8x", addr, sizeof addr, &port), -EINVAL);
    assert_int_equal(vigil_http_parse_listen("1.2.3.4:", addr, sizeof addr, &port), -EINVAL);
}

/* ---- snapshots under concurrent scraping ---- */

struct scraper {
    uint16_t port;
    atomic_int stop;
    int bodies;
    int torn;
};

static void *scrape_loop(void *arg)
{
    struct scraper *s = arg;
    static char buf[1 << 20];
    while (!atomic_load(&s->stop)) {
        if (get(s->port, "GET", "/metrics", buf, sizeof buf) != 200) {
            continue;
        }
        /* Every line of a body carries the same generation number. */
        const char *b = body_of(buf);
        long first = -1;
        int lines = 0;
        for (const char *p = b; *p;) {
            long v = strtol(p + 2, NULL, 10);
            if (first < 0) {
                first = v;
            } else if (v != first) {
                s->torn++;
            }
            lines++;
            const char *nl = strchr(p, '\n');
            p = nl ? nl + 1 : p + strlen(p);
        }
        s->torn += lines != 2000;
        s->bodies++;
    }
    return NULL;
}

static void test_snapshot_publish_while_scraping(void **state)
{
    (void)state;
    struct fixture *f = start();
    struct scraper s = {.port = vigil_http_port(f->h)};
    atomic_init(&s.stop, 0);
    struct vigil_buf *b = vigil_snapshot_begin(&f->snap);
    for (int i = 0; i < 2000; i++) {
        vigil_buf_appendf(b, "g %d\n", 0);
    }
    vigil_snapshot_commit(&f->snap);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, scrape_loop, &s), 0);
    for (int gen = 1; gen <= 300; gen++) {
        b = vigil_snapshot_begin(&f->snap);
        assert_non_null(b);
        for (int i = 0; i < 2000; i++) {
            vigil_buf_appendf(b, "g %d\n", gen);
        }
        vigil_snapshot_commit(&f->snap);
        usleep(1000);
    }
    atomic_store(&s.stop, 1);
    pthread_join(t, NULL);
    assert_true(s.bodies > 0);
    assert_int_equal(s.torn, 0);
    /* Blobs are reused: a few at most, not one per publication. */
    assert_true(f->snap.n_pool <= 8);
    /* Scraping over, idle blobs beyond the published one and one spare are freed. */
    for (int i = 0; i < 2; i++) {
        b = vigil_snapshot_begin(&f->snap);
        assert_int_equal(vigil_buf_puts(b, "g 0\n"), 0);
        vigil_snapshot_commit(&f->snap);
    }
    assert_true(f->snap.n_pool <= 2);
    stop(f);
}

int main(void)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_and_status),
        cmocka_unit_test(test_hostile_requests),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_external_mode_serves_in_callers_thread),
        cmocka_unit_test(test_snapshot_one_thread_keeps_one_blob),
        cmocka_unit_test(test_unanswered_connections_time_out_first),
        cmocka_unit_test(test_idle_keepalive_holds_half_the_slots),
        cmocka_unit_test(test_busy_port_and_listen_parse),
        cmocka_unit_test(test_snapshot_publish_while_scraping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
