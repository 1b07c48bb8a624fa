/*
 * The bus over libnats (JetStream). Thin: it maps vigil's calls onto the
 * client's, translates natsStatus into negative errno-style codes with the
 * client's text in the diagnostic, and keeps the one piece of state the
 * client does not: a count of asynchronous publishes that failed, bumped from
 * the client's own thread (hence atomic).
 *
 * Built only when pkg-config finds libnats; src/io/nats_stub.c stands in
 * otherwise. No retry policy lives here: reconnection is the client's, and
 * redelivery is the server's (ack wait).
 *
 * The client is not linked: the first connect loads it with dlopen (the
 * soname pkg-config's library had at build time, VIGIL_NATS_SONAME), so a
 * process that never publishes does not map libnats, libssl and libcrypto
 * (about 4 MB resident once OpenSSL initialises). That keeps `vigil-collect
 * --nats` under 10 MB (docs/perf.md, ## Collection). The library stays
 * mapped until exit (RTLD_NODELETE): the client keeps threads and
 * thread-local state.
 */
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "vigil/bus.h"
#include "vigil/dl.h"
#include "vigil/mem.h"

#ifndef VIGIL_NATS_SONAME
#define VIGIL_NATS_SONAME "libnats.so"
#endif

#define NATS_FUNCS(X)                                                                              \
    X(jsCtx_Destroy)                                                                               \
    X(jsMsgMetaData_Destroy)                                                                       \
    X(jsOptions_Init)                                                                              \
    X(jsPubAck_Destroy)                                                                            \
    X(jsPubOptions_Init)                                                                           \
    X(jsStreamConfig_Init)                                                                         \
    X(jsStreamInfo_Destroy)                                                                        \
    X(jsSubOptions_Init)                                                                           \
    X(js_AddStream)                                                                                \
    X(js_DeleteStream)                                                                             \
    X(js_GetStreamInfo)                                                                            \
    X(js_Publish)                                                                                  \
    X(js_PublishAsync)                                                                             \
    X(js_PublishAsyncComplete)                                                                     \
    X(js_PullSubscribe)                                                                            \
    X(natsConnection_Close)                                                                        \
    X(natsConnection_Connect)                                                                      \
    X(natsConnection_Destroy)                                                                      \
    X(natsConnection_FlushTimeout)                                                                 \
    X(natsConnection_JetStream)                                                                    \
    X(natsConnection_Status)                                                                       \
    X(natsMsgList_Destroy)                                                                         \
    X(natsMsg_Ack)                                                                                 \
    X(natsMsg_GetData)                                                                             \
    X(natsMsg_GetDataLength)                                                                       \
    X(natsMsg_GetMetaData)                                                                         \
    X(natsMsg_GetSubject)                                                                          \
    X(natsMsg_Nak)                                                                                 \
    X(natsMsg_NakWithDelay)                                                                        \
    X(natsOptions_Create)                                                                          \
    X(natsOptions_Destroy)                                                                         \
    X(natsOptions_SetMaxReconnect)                                                                 \
    X(natsOptions_SetName)                                                                         \
    X(natsOptions_SetReconnectWait)                                                                \
    X(natsOptions_SetTimeout)                                                                      \
    X(natsOptions_SetURL)                                                                          \
    X(natsStatus_GetText)                                                                          \
    X(natsSubscription_Destroy)                                                                    \
    X(natsSubscription_Fetch)                                                                      \
    X(nats_GetLastError)

/* One typed pointer per entry point, named like it, checked against nats.h. */
VIGIL_DL_API(NATS_FUNCS, VIGIL_NATS_SONAME)

#define NATS(f) (api.f)

/* 0 once the client is loaded; else VIGIL_ENOTSUP with the reason in diag. */
static int api_ready(struct vigil_diag *diag)
{
    pthread_once(&api_once, api_load);
    if (!api.dl) {
        vigil_diag_set(diag, 0, 0, "nats: the NATS client: %s", api.why);
        return VIGIL_ENOTSUP;
    }
    return 0;
}

#define ASYNC_MAX_PENDING 256

struct vigil_bus {
    natsConnection *nc;
    jsCtx *js;
    int64_t ack_wait_ms; /* async publishes: an ack not back by then fails; 0 = no limit */
    atomic_int last_failure; /* why the last async publish failed (vigil_bus_last_failure) */
    atomic_ullong failed;
};

struct vigil_bus_sub {
    struct vigil_bus *bus;
    natsSubscription *sub;
    natsMsgList list; /* the last fetch, released by the next */
};

int vigil_bus_available(void)
{
    return api_ready(NULL) == 0;
}

static int map_status(natsStatus s)
{
    switch (s) {
    case NATS_OK:
        return 0;
    case NATS_NO_MEMORY:
        return -ENOMEM;
    case NATS_TIMEOUT:
        return -ETIMEDOUT;
    case NATS_NO_SERVER:
        return -ECONNREFUSED;
    case NATS_NOT_FOUND:
        return -ENOENT;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
        return -EINVAL;
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
        return -ENOTCONN;
    default:
        return -EIO;
    }
}

/* Records the client's text for s in diag and returns the mapped code. */
static int fail(natsStatus s, jsErrCode jerr, const char *what, struct vigil_diag *diag)
{
    const char *last = NATS(nats_GetLastError)(NULL);
    if (jerr) {
        vigil_diag_set(diag, 0, 0, "nats: %s: %s (JetStream error %d)", what,
                       last && *last ? last : NATS(natsStatus_GetText)(s), (int)jerr);
    } else {
        vigil_diag_set(diag, 0, 0, "nats: %s: %s", what,
                       last && *last ? last : NATS(natsStatus_GetText)(s));
    }
    return map_status(s);
}

/*
 * OpenSSL as the client sets it up for a connection without TLS. libnats
 * initialises OpenSSL when first used and draws its ID prefix from
 * RAND_bytes, though a nats:// connection needs neither.
 *
 * Always, unless url names a tls:// server: the first connect of the process
 * asks OpenSSL not to load its error strings (about 450 KB resident, read
 * only to describe a TLS failure; OpenSSL ignores later requests to).
 *
 * After vigil_bus_plaintext_only, also: no legacy cipher and digest tables
 * (OpenSSL ignores later requests for them too; TLS itself fetches its
 * algorithms from the providers and works without them), and RAND_bytes
 * answers from getrandom(2) instead of a DRBG built on the default provider.
 * About 0.8 MiB resident less (docs/perf.md, ## Collection, round 6). And no
 * OPENSSL_cleanup at exit: OpenSSL 3.0's would allocate, then leak, the
 * thread data of a library context never used (LeakSanitizer reports it).
 * openssl.cnf is still read: a server that requires TLS upgrades even a
 * nats:// connection (libnats does so on its own), and the system's policy
 * must then apply.
 *
 * libnats links libssl, so its handle resolves both functions. The flags are
 * OpenSSL's stable OPENSSL_INIT_* values; struct rand_meth is <openssl/rand.h>'s
 * RAND_METHOD (unchanged since 1.1.0; deprecated in 3.0, present in 3.x). A
 * build without either symbol keeps OpenSSL's own setup.
 */
#define OSSL_NO_LOAD_CRYPTO_STRINGS UINT64_C(0x00000001)
#define OSSL_NO_ADD_ALL_CIPHERS UINT64_C(0x00000010)
#define OSSL_NO_ADD_ALL_DIGESTS UINT64_C(0x00000020)
#define OSSL_NO_ATEXIT UINT64_C(0x00080000)
#define OSSL_NO_LOAD_SSL_STRINGS UINT64_C(0x00100000)

struct rand_meth {
    int (*seed)(const void *buf, int num);
    int (*bytes)(unsigned char *buf, int num);
    void (*cleanup)(void);
    int (*add)(const void *buf, int num, double randomness);
    int (*pseudorand)(unsigned char *buf, int num);
    int (*status)(void);
};

static int kernel_random(unsigned char *buf, int num)
{
    size_t got = 0;
    while (num > 0 && got < (size_t)num) {
        ssize_t r = getrandom(buf + got, (size_t)num - got, 0);
        if (r < 0 && errno != EINTR) {
            return 0;
        }
        got += r > 0 ? (size_t)r : 0;
    }
    return 1;
}

static int kernel_random_ready(void)
{
    return 1;
}

static const struct rand_meth kernel_rand = {
    .bytes = kernel_random, .pseudorand = kernel_random, .status = kernel_random_ready};

static atomic_int plaintext_only;

void vigil_bus_plaintext_only(void)
{
    atomic_store(&plaintext_only, 1);
}

static void setup_openssl(const char *url)
{
    /* Held until done: a second connect meanwhile must not let libnats initialise first. */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int done;
    pthread_mutex_lock(&lock);
    int skip = done || strcasestr(url, "tls://");
    done = 1;
    if (skip) {
        pthread_mutex_unlock(&lock);
        return;
    }
    uint64_t opts = OSSL_NO_LOAD_CRYPTO_STRINGS | OSSL_NO_LOAD_SSL_STRINGS;
    int lean = atomic_load(&plaintext_only);
    if (lean) {
        opts |= OSSL_NO_ADD_ALL_CIPHERS | OSSL_NO_ADD_ALL_DIGESTS | OSSL_NO_ATEXIT;
    }
    const char *missing = NULL;
    int (*init_ssl)(uint64_t opts, const void *settings) =
        (int (*)(uint64_t, const void *))vigil_dl_sym(api.dl, "OPENSSL_init_ssl", &missing);
    if (init_ssl) {
        init_ssl(opts, NULL);
    }
    unsigned char probe;
    /* No getrandom (ENOSYS) or no entropy yet: OpenSSL's own generator. */
    if (lean && getrandom(&probe, 1, GRND_NONBLOCK) == 1) {
        int (*set_rand)(const struct rand_meth *m) = (int (*)(const struct rand_meth *))vigil_dl_sym(
            api.dl, "RAND_set_rand_method", &missing);
        if (set_rand) {
            set_rand(&kernel_rand);
        }
    }
    pthread_mutex_unlock(&lock);
}

static void on_async_error(jsCtx *js, jsPubAckErr *err, void *closure)
{
    (void)js;
    struct vigil_bus *b = closure;
    /* No responders: nothing captured the subject (no stream); else refused or timed out. */
    int why = !err                              ? -EIO
              : err->Err == NATS_NO_RESPONDERS ? -ENOENT
              : err->Err == NATS_TIMEOUT       ? -ETIMEDOUT
                                               : -EIO;
    atomic_store(&b->last_failure, why);
    atomic_fetch_add(&b->failed, 1);
}

/* (Re)makes b's JetStream context: at most max_pending async publishes, stalling stall_ms. */
static int open_js(struct vigil_bus *b, int max_pending, int64_t stall_ms, struct vigil_diag *diag)
{
    jsOptions jo;
    NATS(jsOptions_Init)(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = max_pending;
    jo.PublishAsync.StallWait = stall_ms;
    jo.PublishAsync.ErrHandler = on_async_error;
    jo.PublishAsync.ErrHandlerClosure = b;
    natsStatus s = NATS(natsConnection_JetStream)(&b->js, b->nc, &jo);
    return s == NATS_OK ? 0 : fail(s, 0, "jetstream", diag);
}

int vigil_bus_connect(struct vigil_bus **out, const char *url, const char *name,
                      struct vigil_diag *diag)
{
    *out = NULL;
    int rc = api_ready(diag);
    if (rc) {
        return rc;
    }
    struct vigil_bus *b = vigil_calloc(1, sizeof *b);
    if (!b) {
        return -ENOMEM;
    }
    atomic_init(&b->failed, 0);
    atomic_init(&b->last_failure, 0);
    setup_openssl(url);
    natsOptions *o = NULL;
    natsStatus s = NATS(natsOptions_Create)(&o);
    if (s == NATS_OK) {
        s = NATS(natsOptions_SetURL)(o, url);
    }
    if (s == NATS_OK && name) {
        s = NATS(natsOptions_SetName)(o, name);
    }
    if (s == NATS_OK) {
        s = NATS(natsOptions_SetTimeout)(o, 2000);
    }
    if (s == NATS_OK) {
        s = NATS(natsOptions_SetMaxReconnect)(o, -1); /* daemons outlive a server restart */
    }
    if (s == NATS_OK) {
        s = NATS(natsOptions_SetReconnectWait)(o, 500);
    }
    if (s == NATS_OK) {
        s = NATS(natsConnection_Connect)(&b->nc, o);
    }
    NATS(natsOptions_Destroy)(o);
    if (s != NATS_OK) {
        rc = fail(s, 0, url, diag);
        vigil_free(b);
        return rc;
    }
    rc = open_js(b, ASYNC_MAX_PENDING, 200, diag);
    if (rc) {
        vigil_bus_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

int vigil_bus_async_window(struct vigil_bus *b, int max_pending, int64_t stall_ns,
                           int64_t ack_wait_ns, struct vigil_diag *diag)
{
    if (max_pending < 1 || stall_ns < 0 || ack_wait_ns < 0) {
        return -EINVAL;
    }
    b->ack_wait_ms = ack_wait_ns ? (ack_wait_ns / 1000000 > 0 ? ack_wait_ns / 1000000 : 1) : 0;
    jsCtx *old = b->js;
    b->js = NULL;
    int rc = open_js(b, max_pending, stall_ns / 1000000 > 0 ? stall_ns / 1000000 : 1, diag);
    if (rc) {
        b->js = old;
        return rc;
    }
    NATS(jsCtx_Destroy)(old);
    return 0;
}

void vigil_bus_close(struct vigil_bus *b)
{
    if (!b) {
        return;
    }
    if (b->nc) {
        NATS(natsConnection_FlushTimeout)(b->nc, 2000);
    }
    if (b->js) {
        NATS(jsCtx_Destroy)(b->js);
    }
    if (b->nc) {
        NATS(natsConnection_Close)(b->nc);
        NATS(natsConnection_Destroy)(b->nc);
    }
    vigil_free(b);
}

int vigil_bus_ensure_stream(struct vigil_bus *b, const struct vigil_bus_stream *st,
                            struct vigil_diag *diag)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = NATS(js_GetStreamInfo)(&si, b->js, st->name, NULL, &jerr);
    if (s == NATS_OK) {
        NATS(jsStreamInfo_Destroy)(si);
        return 0;
    }
    if (s != NATS_NOT_FOUND) {
        return fail(s, jerr, st->name, diag);
    }
    jsStreamConfig cfg;
    NATS(jsStreamConfig_Init)(&cfg);
    const char *subjects[1] = {st->subjects};
    cfg.Name = st->name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = st->memory ? js_MemoryStorage : js_FileStorage;
    cfg.Retention = st->work_queue ? js_WorkQueuePolicy : js_LimitsPolicy;
    cfg.MaxAge = st->max_age_ns;
    if (st->max_bytes > 0) {
        cfg.MaxBytes = st->max_bytes;
    }
    jerr = 0;
    s = NATS(js_AddStream)(&si, b->js, &cfg, NULL, &jerr);
    if (s != NATS_OK) {
        /* Another process may have created it between the two calls. */
        jsErrCode j2 = 0;
        if (NATS(js_GetStreamInfo)(&si, b->js, st->name, NULL, &j2) == NATS_OK) {
            NATS(jsStreamInfo_Destroy)(si);
            return 0;
        }
        return fail(s, jerr, st->name, diag);
    }
    NATS(jsStreamInfo_Destroy)(si);
    return 0;
}

int vigil_bus_delete_stream(struct vigil_bus *b, const char *name, struct vigil_diag *diag)
{
    jsErrCode jerr = 0;
    natsStatus s = NATS(js_DeleteStream)(b->js, name, NULL, &jerr);
    return s == NATS_OK ? 0 : fail(s, jerr, name, diag);
}

int vigil_bus_publish(struct vigil_bus *b, const char *subject, const void *p, size_t n,
                      const char *msg_id, struct vigil_diag *diag)
{
    if (n > (size_t)INT32_MAX) {
        return -EINVAL;
    }
    jsPubOptions po;
    NATS(jsPubOptions_Init)(&po);
    po.MsgId = msg_id;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s = NATS(js_Publish)(&ack, b->js, subject, p, (int)n, &po, &jerr);
    NATS(jsPubAck_Destroy)(ack);
    return s == NATS_OK ? 0 : fail(s, jerr, subject, diag);
}

int vigil_bus_publish_async(struct vigil_bus *b, const char *subject, const void *p, size_t n,
                            const char *msg_id, struct vigil_diag *diag)
{
    if (n > (size_t)INT32_MAX) {
        return -EINVAL;
    }
    jsPubOptions po;
    NATS(jsPubOptions_Init)(&po);
    po.MsgId = msg_id;
    po.MaxWait = b->ack_wait_ms; /* 0: the ack is awaited as long as it takes */
    natsStatus s = NATS(js_PublishAsync)(b->js, subject, p, (int)n, &po);
    return s == NATS_OK ? 0 : fail(s, 0, subject, diag);
}

int vigil_bus_connected(const struct vigil_bus *b)
{
    return NATS(natsConnection_Status)(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

int vigil_bus_publish_wait(struct vigil_bus *b, int64_t timeout_ns, struct vigil_diag *diag)
{
    jsPubOptions po;
    NATS(jsPubOptions_Init)(&po);
    po.MaxWait = timeout_ns / 1000000 > 0 ? timeout_ns / 1000000 : 1;
    natsStatus s = NATS(js_PublishAsyncComplete)(b->js, &po);
    if (s != NATS_OK) {
        return fail(s, 0, "waiting for publish acks", diag);
    }
    if (atomic_load(&b->failed) > 0) {
        vigil_diag_set(diag, 0, 0, "nats: %llu publishes were not acknowledged",
                       (unsigned long long)atomic_load(&b->failed));
        return -EIO;
    }
    return 0;
}

int vigil_bus_last_failure(const struct vigil_bus *b)
{
    return atomic_load(&((struct vigil_bus *)b)->last_failure);
}

uint64_t vigil_bus_failed(const struct vigil_bus *b)
{
    return atomic_load(&((struct vigil_bus *)(uintptr_t)b)->failed);
}

int vigil_bus_subscribe(struct vigil_bus *b, const struct vigil_bus_consumer *c,
                        struct vigil_bus_sub **out, struct vigil_diag *diag)
{
    *out = NULL;
    if (!c->stream || !c->durable || !c->subject || strchr(c->durable, '.')) {
        vigil_diag_set(diag, 0, 0,
                       "nats: a consumer needs a stream, a subject and a durable "
                       "name without '.'");
        return -EINVAL;
    }
    struct vigil_bus_sub *sub = vigil_calloc(1, sizeof *sub);
    if (!sub) {
        return -ENOMEM;
    }
    sub->bus = b;
    jsSubOptions so;
    NATS(jsSubOptions_Init)(&so);
    so.Stream = c->stream;
    so.Config.Durable = c->durable;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = c->ack_wait_ns > 0 ? c->ack_wait_ns : 30000000000LL;
    so.Config.MaxDeliver = c->max_deliver > 0 ? c->max_deliver : -1;
    so.Config.MaxAckPending = c->max_ack_pending > 0 ? c->max_ack_pending : 1024;
    if (c->deliver_new) {
        so.Config.DeliverPolicy = js_DeliverNew;
    }
    jsErrCode jerr = 0;
    natsStatus s =
        NATS(js_PullSubscribe)(&sub->sub, b->js, c->subject, c->durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        int rc = fail(s, jerr, c->durable, diag);
        vigil_free(sub);
        return rc;
    }
    *out = sub;
    return 0;
}

void vigil_bus_unsubscribe(struct vigil_bus_sub *s)
{
    if (!s) {
        return;
    }
    NATS(natsMsgList_Destroy)(&s->list);
    /* Destroy, not Unsubscribe: the durable consumer must outlive this worker. */
    NATS(natsSubscription_Destroy)(s->sub);
    vigil_free(s);
}

int vigil_bus_fetch(struct vigil_bus_sub *s, struct vigil_bus_msg *msgs, size_t max,
                    int64_t timeout_ns, size_t *n, struct vigil_diag *diag)
{
    *n = 0;
    NATS(natsMsgList_Destroy)(&s->list);
    memset(&s->list, 0, sizeof s->list);
    if (max == 0) {
        return 0;
    }
    int64_t ms = timeout_ns / 1000000;
    jsErrCode jerr = 0;
    natsStatus st = NATS(natsSubscription_Fetch)(&s->list, s->sub, max > 4096 ? 4096 : (int)max,
                                                 ms > 0 ? ms : 1, &jerr);
    if (st == NATS_TIMEOUT) {
        return 0;
    }
    if (st != NATS_OK) {
        return fail(st, jerr, "fetch", diag);
    }
    for (int i = 0; i < s->list.Count && (size_t)i < max; i++) {
        natsMsg *m = s->list.Msgs[i];
        struct vigil_bus_msg *o = &msgs[*n];
        o->data = NATS(natsMsg_GetData)(m);
        o->len = (size_t)NATS(natsMsg_GetDataLength)(m);
        o->subject = NATS(natsMsg_GetSubject)(m);
        o->impl = m;
        o->stream_seq = 0;
        o->delivered = 1;
        o->ts_ns = 0;
        jsMsgMetaData *meta = NULL;
        if (NATS(natsMsg_GetMetaData)(&meta, m) == NATS_OK) {
            o->stream_seq = meta->Sequence.Stream;
            o->delivered = meta->NumDelivered;
            o->ts_ns = meta->Timestamp;
            NATS(jsMsgMetaData_Destroy)(meta);
        }
        (*n)++;
    }
    return 0;
}

int vigil_bus_ack(struct vigil_bus_msg *m)
{
    return map_status(NATS(natsMsg_Ack)((natsMsg *)m->impl, NULL));
}

int vigil_bus_nak(struct vigil_bus_msg *m, int64_t delay_ns)
{
    natsStatus s = delay_ns > 0
                       ? NATS(natsMsg_NakWithDelay)((natsMsg *)m->impl, delay_ns / 1000000, NULL)
                       : NATS(natsMsg_Nak)((natsMsg *)m->impl, NULL);
    return map_status(s);
}
