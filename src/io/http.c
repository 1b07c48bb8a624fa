/*
 * The HTTP server (libmicrohttpd, its own polling thread) and the snapshots
 * its handlers read. We make the listening socket ourselves so a busy port is
 * reported as EADDRINUSE and port 0 works, then hand it to libmicrohttpd with
 * limits on connections, idle time and request header memory. Only GET and
 * HEAD are served; a request body is refused with 413; unknown paths get 404.
 *
 * A snapshot blob is handed to libmicrohttpd as the response buffer with a
 * release callback, so a scrape costs no copy and the loop never waits for a
 * slow client: it renders into another blob. A server run from the writer's
 * own thread (vigil collect) renders over the published blob when no
 * response holds it, so the page is kept once, not twice.
 *
 * libmicrohttpd is not linked: the first server start loads it with dlopen
 * (the soname pkg-config's library had at build time, VIGIL_MHD_SONAME).
 * Loading it initialises GnuTLS and the libraries under it (p11-kit,
 * nettle, gmp...), about 2.4 MB resident, which a `vigil collect --nats`
 * that serves no HTTP does not need (docs/perf.md, ## Collection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "vigil/dl.h"
#include "vigil/http.h"
#include "vigil/log.h"
#include "vigil/mem.h"

#ifndef VIGIL_MHD_SONAME
#define VIGIL_MHD_SONAME "libmicrohttpd.so"
#endif

/* ---- libmicrohttpd's entry points, loaded on first start ---- */

#define MHD_FUNCS(X)                                                                               \
    X(MHD_add_response_header)                                                                     \
    X(MHD_create_response_from_buffer)                                                             \
    X(MHD_create_response_from_buffer_with_free_callback)                                          \
    X(MHD_create_response_from_buffer_with_free_callback_cls)                                      \
    X(MHD_destroy_response)                                                                        \
    X(MHD_get_daemon_info)                                                                         \
    X(MHD_get_timeout)                                                                             \
    X(MHD_lookup_connection_value)                                                                 \
    X(MHD_queue_response)                                                                          \
    X(MHD_run)                                                                                     \
    X(MHD_set_connection_option)                                                                   \
    X(MHD_start_daemon)                                                                            \
    X(MHD_stop_daemon)

/* One typed pointer per entry point, named like it, checked against microhttpd.h. */
VIGIL_DL_API(MHD_FUNCS, VIGIL_MHD_SONAME)

#define MHD(f) (api.f)

/* ---- snapshots ---- */

struct vigil_snap_blob {
    struct vigil_buf b;
    int refs; /* responses still sending it; guarded by the snapshot's lock */
    struct vigil_snapshot *owner;
};

int vigil_snapshot_init(struct vigil_snapshot *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_t *m = vigil_malloc(sizeof *m);
    if (!m) {
        return -ENOMEM;
    }
    pthread_mutex_init(m, NULL);
    s->lock = m;
    s->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}

void vigil_snapshot_fini(struct vigil_snapshot *s)
{
    for (size_t i = 0; i < s->n_pool; i++) {
        vigil_buf_fini(&s->pool[i]->b);
        vigil_free(s->pool[i]);
    }
    vigil_free(s->pool);
    if (s->lock) {
        pthread_mutex_destroy(s->lock);
        vigil_free(s->lock);
    }
    memset(s, 0, sizeof *s);
}

struct vigil_buf *vigil_snapshot_begin(struct vigil_snapshot *s)
{
    pthread_mutex_lock(s->lock);
    struct vigil_snap_blob *b = s->next;
    if (!b && s->one_thread && s->cur && s->cur->refs == 0) {
        b = s->cur;
        s->cur = NULL;
    }
    for (size_t i = 0; !b && i < s->n_pool; i++) {
        if (s->pool[i]->refs == 0 && s->pool[i] != s->cur) {
            b = s->pool[i];
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < s->n_pool; i++) {
        struct vigil_snap_blob *p = s->pool[i];
        if (p != b && p != s->cur && p->refs == 0) {
            vigil_buf_fini(&p->b);
            vigil_free(p);
        } else {
            s->pool[kept++] = p;
        }
    }
    s->n_pool = kept;
    pthread_mutex_unlock(s->lock);
    if (!b) {
        /* Every blob is published or being sent: make one more (bounded by the connections). */
        struct vigil_snap_blob **pool = vigil_realloc(s->pool, (s->n_pool + 1) * sizeof *pool);
        if (!pool) {
            return NULL;
        }
        s->pool = pool;
        b = vigil_calloc(1, sizeof *b);
        if (!b) {
            return NULL;
        }
        vigil_buf_init(&b->b);
        b->owner = s;
        pthread_mutex_lock(s->lock);
        s->pool[s->n_pool++] = b;
        pthread_mutex_unlock(s->lock);
    }
    s->next = b;
    vigil_buf_reset(&b->b);
    return &b->b;
}

void vigil_snapshot_commit(struct vigil_snapshot *s)
{
    pthread_mutex_lock(s->lock);
    if (s->next) {
        s->cur = s->next;
        s->next = NULL;
    }
    pthread_mutex_unlock(s->lock);
}

static void blob_release(void *cls)
{
    struct vigil_snap_blob *b = cls;
    pthread_mutex_lock(b->owner->lock);
    b->refs--;
    pthread_mutex_unlock(b->owner->lock);
}

int vigil_http_serve_snapshot(void *user, const struct vigil_http_req *req,
                              struct vigil_http_resp *resp)
{
    (void)req;
    resp->snap = user;
    return 0;
}

/* ---- server ---- */

struct vigil_http {
    struct MHD_Daemon *d;
    int fd;
    int epfd; /* external mode: libmicrohttpd's epoll set; -1 with its own thread */
    uint16_t port;
    unsigned keepalive_s; /* 0: the daemon's timeout throughout */
    unsigned keepalive_max; /* connections open at most, for an answered one to get keepalive_s */
    atomic_uint open;       /* connections open now (on_connection) */
    const struct vigil_http_route *routes;
    size_t n_routes;
    atomic_uint_fast64_t requests;
    char marker_body; /* *con_cls values: the address says what was seen */
    char marker_head;
};

void vigil_http_conf_default(struct vigil_http_conf *c)
{
    memset(c, 0, sizeof *c);
    c->addr = "127.0.0.1";
    c->max_conns = 128;
    c->max_per_ip = 16;
    c->timeout_s = 10;
    c->max_request_bytes = 8192;
}

const char *vigil_http_arg(const struct vigil_http_req *req, const char *key)
{
    return MHD(MHD_lookup_connection_value)(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text,
                                 const char *allow)
{
    struct MHD_Response *r =
        MHD(MHD_create_response_from_buffer)(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        return MHD_NO;
    }
    MHD(MHD_add_response_header)(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow) {
        MHD(MHD_add_response_header)(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    enum MHD_Result ret = MHD(MHD_queue_response)(conn, status, r);
    MHD(MHD_destroy_response)(r);
    return ret;
}

static int healthz(void *user, const struct vigil_http_req *req, struct vigil_http_resp *resp)
{
    (void)user;
    (void)req;
    return vigil_buf_puts(&resp->body, "ok\n");
}

/* Counts open connections (libmicrohttpd's own count may be read only outside MHD_run). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    (void)socket_context;
    struct vigil_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&h->open, 1);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&h->open, 1);
    }
}

static enum MHD_Result respond(struct vigil_http *h, struct MHD_Connection *conn, const char *url,
                               const char *method)
{
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    if (!is_get && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    }
    const struct vigil_http_route *route = NULL;
    static const struct vigil_http_route health = {"/healthz", healthz, NULL};
    for (size_t i = 0; i < h->n_routes && !route; i++) {
        if (strcmp(h->routes[i].path, url) == 0) {
            route = &h->routes[i];
        }
    }
    if (!route && strcmp(url, health.path) == 0) {
        route = &health;
    }
    if (!route) {
        return send_text(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    }
    struct vigil_http_req req = {method, url, conn};
    struct vigil_http_resp resp = {.status = MHD_HTTP_OK};
    vigil_buf_init(&resp.body);
    int rc = route->fn(route->user, &req, &resp);
    struct MHD_Response *r = NULL;
    const char *ctype = resp.content_type ? resp.content_type : "text/plain; charset=utf-8";
    if (rc < 0) {
        vigil_buf_fini(&resp.body);
        return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
    }
    if (resp.snap) {
        struct vigil_snapshot *s = resp.snap;
        pthread_mutex_lock(s->lock);
        struct vigil_snap_blob *b = s->cur;
        if (b) {
            b->refs++;
        }
        pthread_mutex_unlock(s->lock);
        vigil_buf_fini(&resp.body);
        if (!b) {
            return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no data yet\n", NULL);
        }
        r = MHD(MHD_create_response_from_buffer_with_free_callback_cls)(
            b->b.len, b->b.len ? b->b.p : (void *)"", blob_release, b);
        if (!r) {
            blob_release(b);
            return MHD_NO;
        }
        ctype = s->content_type;
    } else {
        /* The body buffer goes to libmicrohttpd, which frees it with vigil_free. */
        size_t n = resp.body.len;
        char *p = resp.body.p;
        r = p ? MHD(MHD_create_response_from_buffer_with_free_callback)(n, p, vigil_free)
              : MHD(MHD_create_response_from_buffer)(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r) {
            vigil_free(p);
            return MHD_NO;
        }
    }
    MHD(MHD_add_response_header)(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD(MHD_queue_response)(conn, (unsigned)resp.status, r);
    MHD(MHD_destroy_response)(r);
    if (ret == MHD_YES && h->keepalive_s && atomic_load(&h->open) <= h->keepalive_max) {
        /*
         * Answered: from now on idle time between requests, up to keepalive_s.
         * Only while at most half the per-address limit is open: idle clients
         * that completed a request can then hold that half for keepalive_s,
         * and the rest of the connections turn over every timeout_s.
         */
        MHD(MHD_set_connection_option)(conn, MHD_CONNECTION_OPTION_TIMEOUT, h->keepalive_s);
    }
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    struct vigil_http *h = cls;
    if (*con_cls == NULL) {
        *con_cls = &h->marker_head; /* headers seen; answer on the next call */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* discard a body: GET takes none */
        *con_cls = &h->marker_body;
        return MHD_YES;
    }
    atomic_fetch_add(&h->requests, 1);
    if (*con_cls == &h->marker_body) {
        return send_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body not accepted\n", NULL);
    }
    return respond(h, conn, url, method);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') {
        msg[--n] = '\0';
    }
    vigil_debug("http: %s", msg);
}

int vigil_http_parse_listen(const char *s, char *addr, size_t addr_n, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    const char *ps = colon ? colon + 1 : s;
    size_t al = colon ? (size_t)(colon - s) : 0;
    if (al >= addr_n || !*ps || strlen(ps) > 5) {
        return -EINVAL;
    }
    unsigned long p = 0;
    for (const char *q = ps; *q; q++) {
        if (*q < '0' || *q > '9') {
            return -EINVAL;
        }
        p = p * 10 + (unsigned long)(*q - '0');
    }
    if (p > 65535) {
        return -EINVAL;
    }
    if (al) {
        memcpy(addr, s, al);
        addr[al] = '\0';
    } else {
        snprintf(addr, addr_n, "127.0.0.1");
    }
    struct in_addr ia;
    if (inet_pton(AF_INET, addr, &ia) != 1) {
        return -EINVAL;
    }
    *port = (uint16_t)p;
    return 0;
}

int vigil_http_start(struct vigil_http **out, const struct vigil_http_conf *conf,
                     struct vigil_diag *diag)
{
    *out = NULL;
    pthread_once(&api_once, api_load);
    if (!api.dl) {
        vigil_diag_set(diag, 0, 0, "http: libmicrohttpd: %s", api.why);
        return VIGIL_ENOTSUP;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(conf->port)};
    const char *addr = conf->addr ? conf->addr : "127.0.0.1";
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        vigil_diag_set(diag, 0, 0, "http: bad IPv4 address '%s'", addr);
        return -EINVAL;
    }
    struct vigil_http *h = vigil_calloc(1, sizeof *h);
    if (!h) {
        return -ENOMEM;
    }
    h->routes = conf->routes;
    h->n_routes = conf->n_routes;
    h->keepalive_s = conf->keepalive_s;
    unsigned per_ip = conf->max_per_ip ? conf->max_per_ip : 16u;
    h->keepalive_max = per_ip > 1 ? per_ip / 2 : 1;
    atomic_init(&h->requests, 0);
    atomic_init(&h->open, 0);
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, rc = 0;
    if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(h->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(h->fd, 64) != 0) {
        rc = -errno;
        vigil_diag_set(diag, 0, 0, "http: listen on %s:%u: %s", addr, conf->port,
                       vigil_strerror(rc));
        goto fail;
    }
    socklen_t sl = sizeof sa;
    getsockname(h->fd, (struct sockaddr *)&sa, &sl);
    h->port = ntohs(sa.sin_port);
    h->epfd = -1;
    unsigned flags = conf->external
                         ? MHD_USE_EPOLL | MHD_USE_ERROR_LOG
                         : MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    h->d = MHD(MHD_start_daemon)(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
        MHD_OPTION_CONNECTION_LIMIT, conf->max_conns ? conf->max_conns : 128u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, conf->timeout_s ? conf->timeout_s : 10u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(conf->max_request_bytes ? conf->max_request_bytes : 8192) + 4096,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_END);
    if (!h->d) {
        rc = -EIO;
        vigil_diag_set(diag, 0, 0, "http: libmicrohttpd could not start on %s:%u", addr, h->port);
        goto fail;
    }
    if (conf->external) {
        const union MHD_DaemonInfo *di = MHD(MHD_get_daemon_info)(h->d, MHD_DAEMON_INFO_EPOLL_FD);
        if (!di || di->epoll_fd < 0) {
            MHD(MHD_stop_daemon)(h->d); /* closes the listening socket too */
            h->fd = -1;
            rc = -EIO;
            vigil_diag_set(diag, 0, 0, "http: libmicrohttpd gave no epoll set");
            goto fail;
        }
        h->epfd = di->epoll_fd;
    }
    *out = h;
    return 0;
fail:
    if (h->fd >= 0) {
        close(h->fd);
    }
    vigil_free(h);
    return rc;
}

uint16_t vigil_http_port(const struct vigil_http *h)
{
    return h->port;
}

uint64_t vigil_http_requests(const struct vigil_http *h)
{
    return atomic_load(&h->requests);
}

int vigil_http_fd(const struct vigil_http *h)
{
    return h->epfd;
}

int vigil_http_run(struct vigil_http *h, int64_t *wait_ns)
{
    *wait_ns = -1;
    if (h->epfd < 0) {
        return 0;
    }
    if (MHD(MHD_run)(h->d) != MHD_YES) {
        return -EIO;
    }
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD(MHD_get_timeout)(h->d, &ms) == MHD_YES) {
        *wait_ns =
            ms > (MHD_UNSIGNED_LONG_LONG)INT64_MAX / 1000000 ? INT64_MAX : (int64_t)ms * 1000000;
    }
    return 0;
}

void vigil_http_stop(struct vigil_http *h)
{
    if (!h) {
        return;
    }
    MHD(MHD_stop_daemon)(h->d); /* it closes the listening socket it was given */
    vigil_free(h);
}
