/*
 * A small HTTP server over libmicrohttpd for /metrics, /healthz and later the
 * watch page and API: 127.0.0.1 by default, GET (and HEAD) only, a static
 * routes table, limits on request size, time and connections. Handlers run on
 * libmicrohttpd's own thread and must only read state published for them:
 * struct vigil_snapshot is that publication, a text the loop renders and
 * swaps in, handed to clients without copying.
 *
 *     static struct vigil_snapshot snap;             // the loop publishes into it
 *     vigil_snapshot_init(&snap);
 *     const struct vigil_http_route routes[] = {
 *         {"/metrics", vigil_http_serve_snapshot, &snap},
 *     };
 *     struct vigil_http_conf hc;
 *     vigil_http_conf_default(&hc);
 *     hc.routes = routes;
 *     hc.n_routes = 1;
 *     struct vigil_http *h;
 *     vigil_http_start(&h, &hc, &diag);             // port: vigil_http_port(h)
 *     ...
 *     struct vigil_buf *b = vigil_snapshot_begin(&snap);   // loop thread
 *     vigil_buf_puts(b, "up 1\n");
 *     vigil_snapshot_commit(&snap);
 *     ...
 *     vigil_http_stop(h);
 *     vigil_snapshot_fini(&snap);
 */
#ifndef VIGIL_HTTP_H
#define VIGIL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/err.h"

/* ---- snapshots: one writer thread, any number of reader threads ---- */

struct vigil_snap_blob; /* opaque: a refcounted text */

struct vigil_snapshot {
    void *lock;                   /* pthread mutex; owned */
    struct vigil_snap_blob *cur;  /* the published text, or NULL before the first commit */
    struct vigil_snap_blob *next; /* being written between begin and commit */
    struct vigil_snap_blob **pool; /* every blob made, for reuse and fini; owned */
    size_t n_pool;
    const char *content_type; /* served with the text; default Prometheus text 0.0.4 */
    int one_thread; /* readers are served in the writer's thread (vigil_http_conf.external):
                       begin may rewrite the published blob when no response holds it */
};

/* Returns 0 or -ENOMEM. */
int vigil_snapshot_init(struct vigil_snapshot *s);
/* Frees every blob. No reader may hold one (stop the server first). */
void vigil_snapshot_fini(struct vigil_snapshot *s);

/*
 * Writer side. Returns an empty buffer to render the next text into (borrowed
 * until commit), reusing a blob no reader holds, so a steady publisher does
 * not allocate; NULL on OOM. With one_thread that is the published blob
 * itself when no response is sending it (it is unpublished until commit, so
 * a render that fails leaves nothing to serve rather than half a text); else
 * another. Idle blobs beyond the one taken are freed: responses that
 * overlapped once leave no copies of the text behind.
 */
struct vigil_buf *vigil_snapshot_begin(struct vigil_snapshot *s);
/* Publishes what was rendered since begin; readers see it from now on. */
void vigil_snapshot_commit(struct vigil_snapshot *s);

/* ---- the server ---- */

struct vigil_http_req {
    const char *method; /* "GET" or "HEAD" */
    const char *path;   /* without the query */
    void *conn;         /* the libmicrohttpd connection; use vigil_http_arg */
};

/* Value of query argument key (decoded), or NULL; borrowed until the handler returns. */
const char *vigil_http_arg(const struct vigil_http_req *req, const char *key);

struct vigil_http_resp {
    int status;               /* 200 unless the handler sets another */
    const char *content_type; /* static string; default "text/plain; charset=utf-8" */
    struct vigil_buf body;    /* the handler appends here... */
    struct vigil_snapshot *snap; /* ...or sets this to serve the published text */
};

/*
 * A handler fills resp. It runs on the server thread: read only state made
 * for it (a snapshot, atomics). Returns 0, or < 0 to answer 500.
 */
typedef int (*vigil_http_fn)(void *user, const struct vigil_http_req *req,
                             struct vigil_http_resp *resp);

struct vigil_http_route {
    const char *path; /* exact match */
    vigil_http_fn fn;
    void *user; /* borrowed until stop */
};

/* Serves the snapshot in user (a struct vigil_snapshot *); 503 before the first commit. */
int vigil_http_serve_snapshot(void *user, const struct vigil_http_req *req,
                              struct vigil_http_resp *resp);

struct vigil_http_conf {
    const char *addr;   /* IPv4 address to bind, "127.0.0.1" by default */
    uint16_t port;      /* 0 = any free port (see vigil_http_port) */
    const struct vigil_http_route *routes; /* borrowed until stop; /healthz is built in */
    size_t n_routes;
    unsigned max_conns;       /* connections at once (default 128) */
    unsigned max_per_ip;      /* per client address (default 16) */
    /*
     * Idle timeout of a connection until it has had an answer (default 10 s):
     * a client that holds connections open with a request it never finishes
     * must send a byte that often to keep each one.
     */
    unsigned timeout_s;
    /*
     * Idle timeout once answered, between requests (0 = timeout_s). Given
     * only to a connection answered while at most max_per_ip / 2 connections
     * are open in all (from any address): idle clients that completed a
     * request hold at most that many connections that long.
     */
    unsigned keepalive_s;
    size_t max_request_bytes; /* request line + headers (default 8 KiB); larger gets 4xx */
    /*
     * 0: the server runs its own thread. 1: it runs in the caller's thread,
     * which polls vigil_http_fd for input and then calls vigil_http_run (so
     * a loop can collect and serve in one thread, without locks).
     */
    int external;
};

void vigil_http_conf_default(struct vigil_http_conf *c);

struct vigil_http;

/*
 * Starts serving on its own thread, or in the caller's (conf->external).
 * Returns 0, -errno (EADDRINUSE...), -EINVAL for a bad address, or -ENOMEM;
 * diag says which. *out is stopped with vigil_http_stop.
 */
int vigil_http_start(struct vigil_http **out, const struct vigil_http_conf *conf,
                     struct vigil_diag *diag);
/* The bound port (useful with port 0). */
uint16_t vigil_http_port(const struct vigil_http *h);
/* Requests answered so far (any status). */
uint64_t vigil_http_requests(const struct vigil_http *h);
/*
 * External mode: vigil_http_fd is the file descriptor that becomes readable
 * when the server has work (an epoll set); vigil_http_run does that work
 * without blocking and sets *wait_ns to the longest the caller may wait
 * before calling it again even without input (pending output, idle
 * timeouts), or -1 when only input needs it. Returns 0 or -EIO. For a
 * server on its own thread vigil_http_fd gives -1 and vigil_http_run does
 * nothing (*wait_ns = -1).
 */
int vigil_http_fd(const struct vigil_http *h);
int vigil_http_run(struct vigil_http *h, int64_t *wait_ns);
/* Stops the thread, closes connections, frees h. NULL is a no-op. */
void vigil_http_stop(struct vigil_http *h);

/*
 * Parses "ADDR:PORT", ":PORT" or "PORT" into addr (>= 16 bytes) and port.
 * Only IPv4 literals. Returns 0 or -EINVAL.
 */
int vigil_http_parse_listen(const char *s, char *addr, size_t addr_n, uint16_t *port);

#endif /* VIGIL_HTTP_H */
