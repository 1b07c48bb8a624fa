/*
 * Metric scrapes from the bus as a watch input (include/vigil/busin.h).
 *
 * A run fetches in batches of BATCH until the consumer has nothing pending
 * (or ROUNDS batches were taken, which bounds the work of one tick). Within a
 * batch each message is mapped to its publisher (the last token of its
 * subject); a publisher's older messages in the batch are acknowledged
 * unread, its newest one is parsed and acknowledged. Parsing and interning go
 * through vigil_expo_ingest, the scraper's own path, so a series looks the
 * same whichever input brought it. Every message is acknowledged once
 * handled, malformed ones included: redelivering bad bytes would not make
 * them good.
 *
 * Not here: publishing (vigil collect --nats), reconnection (the client's).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vigil/bus.h"
#include "vigil/busin.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/prom.h"

#define BATCH 256
#define ROUNDS 64
#define MS 1000000LL

enum { OUT_USED, OUT_SUPERSEDED, OUT_OLD, OUT_MALFORMED, OUT_OVERFLOW, OUT_N };
static const char *const out_names[OUT_N] = {"used", "superseded", "old", "malformed", "overflow"};

struct publisher {
    char *host;      /* last token of its subject: the instance label; owned */
    int64_t last_ns; /* wall time of the run that used its newest scrape, 0 = never */
    size_t pending;  /* 1 + index in the current batch of its newest message, 0 = none */
    int up;
    int warned; /* a parse failure was logged (until a scrape parses again) */
};

struct vigil_busin {
    struct vigil_bus *bus;
    struct vigil_bus_sub *sub;
    int64_t wait_ns, stale_ns, max_age_ns;
    size_t max_pub;
    struct publisher *pub;
    size_t n_pub, cap_pub;
    struct vigil_bus_msg msgs[BATCH];
    struct vigil_buf scratch;
    uint64_t out[OUT_N];
    int failing;   /* fetches failing: logged once per streak */
    int overflown; /* the publisher cap was hit: logged once */
};

void vigil_busin_conf_default(struct vigil_busin_conf *c)
{
    *c = (struct vigil_busin_conf){.subject = "vigil.metrics.>",
                                   .stream = "VIGIL_METRICS",
                                   .durable = "vigil-watch",
                                   .wait_ns = 20 * MS,
                                   .stale_ns = 5000 * MS,
                                   .max_age_ns = 10000 * MS,
                                   .max_publishers = 1024};
}

void vigil_busin_free(struct vigil_busin *b)
{
    if (!b) {
        return;
    }
    vigil_bus_unsubscribe(b->sub);
    vigil_bus_close(b->bus);
    for (size_t i = 0; i < b->n_pub; i++) {
        vigil_free(b->pub[i].host);
    }
    vigil_free(b->pub);
    vigil_buf_fini(&b->scratch);
    vigil_free(b);
}

int vigil_busin_new(struct vigil_busin **out, const struct vigil_busin_conf *c,
                    struct vigil_diag *diag)
{
    *out = NULL;
    struct vigil_busin *b = vigil_calloc(1, sizeof *b);
    if (!b) {
        return -ENOMEM;
    }
    vigil_buf_init(&b->scratch);
    b->wait_ns = c->wait_ns > MS ? c->wait_ns : MS;
    b->stale_ns = c->stale_ns;
    b->max_age_ns = c->max_age_ns;
    b->max_pub = c->max_publishers ? c->max_publishers : 1024;
    /* The same stream vigil collect --nats makes, so either may start first. */
    struct vigil_bus_stream st = VIGIL_METRICS_STREAM(c->stream);
    struct vigil_bus_consumer cc = {.stream = c->stream,
                                    .durable = c->durable,
                                    .subject = c->subject,
                                    .ack_wait_ns = 30000 * MS,
                                    .deliver_new = 1};
    int rc = vigil_bus_connect(&b->bus, c->url, "vigil-watch", diag);
    if (!rc && strcmp(c->stream, "VIGIL_METRICS") == 0) {
        rc = vigil_bus_ensure_stream(b->bus, &st, diag);
    }
    rc = rc ? rc : vigil_bus_subscribe(b->bus, &cc, &b->sub, diag);
    if (rc) {
        vigil_busin_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* The publisher of a subject (its last token), added when new; NULL when over the cap or OOM. */
static struct publisher *publisher(struct vigil_busin *b, const char *subject, int *oom)
{
    const char *dot = strrchr(subject, '.');
    const char *host = dot ? dot + 1 : subject;
    for (size_t i = 0; i < b->n_pub; i++) {
        if (strcmp(b->pub[i].host, host) == 0) {
            return &b->pub[i];
        }
    }
    if (b->n_pub == b->max_pub || !*host) {
        return NULL;
    }
    if (b->n_pub == b->cap_pub) {
        size_t cap = b->cap_pub ? b->cap_pub * 2 : 8;
        struct publisher *np = vigil_realloc(b->pub, cap * sizeof *np);
        if (!np) {
            *oom = 1;
            return NULL;
        }
        b->pub = np;
        b->cap_pub = cap;
    }
    struct publisher *p = &b->pub[b->n_pub];
    memset(p, 0, sizeof *p);
    p->host = vigil_strdup(host);
    if (!p->host) {
        *oom = 1;
        return NULL;
    }
    b->n_pub++;
    vigil_info("bus: new publisher %s (subject %s)", host, subject);
    return p;
}

/* Parses and emits a publisher's newest message of the batch. Returns 0 or -ENOMEM. */
static int use(struct vigil_busin *b, struct publisher *p, struct vigil_bus_msg *m, int64_t now,
               struct vigil_series_table *t, const struct vigil_groups *g,
               vigil_scrape_emit_fn emit, void *user)
{
    struct vigil_diag d;
    vigil_diag_clear(&d);
    int rc = vigil_expo_ingest(m->data, m->len, p->host, t, g, emit, user, &b->scratch, &d);
    if (rc == -ENOMEM) {
        return rc; /* not acknowledged: delivered again after the ack wait */
    }
    if (rc) {
        b->out[OUT_MALFORMED]++;
        if (!p->warned) {
            char where[96], msg[300];
            snprintf(where, sizeof where, "%s (stream seq %llu)", m->subject,
                     (unsigned long long)m->stream_seq);
            vigil_warn("bus: %s", vigil_diag_format(&d, where, msg, sizeof msg));
            p->warned = 1;
        }
    } else {
        b->out[OUT_USED]++;
        p->last_ns = now;
        p->warned = 0;
    }
    vigil_bus_ack(m);
    return 0;
}

int vigil_busin_run(struct vigil_busin *b, int64_t now_ns, struct vigil_series_table *t,
                    const struct vigil_groups *g, vigil_scrape_emit_fn emit, void *user)
{
    for (int round = 0; round < ROUNDS; round++) {
        size_t n = 0;
        struct vigil_diag d;
        vigil_diag_clear(&d);
        int rc = vigil_bus_fetch(b->sub, b->msgs, BATCH, round ? MS : b->wait_ns, &n, &d);
        if (rc) {
            if (!b->failing) {
                vigil_warn("bus: %s; its publishers go stale until it answers",
                           d.msg[0] ? d.msg : vigil_strerror(rc));
                b->failing = 1;
            }
            break;
        }
        if (b->failing) {
            vigil_info("bus: fetching again");
            b->failing = 0;
        }
        for (size_t i = 0; i < n; i++) {
            struct vigil_bus_msg *m = &b->msgs[i];
            if (m->ts_ns && now_ns - m->ts_ns > b->max_age_ns) {
                b->out[OUT_OLD]++;
                vigil_bus_ack(m);
                continue;
            }
            int oom = 0;
            struct publisher *p = publisher(b, m->subject ? m->subject : "", &oom);
            if (oom) {
                return -ENOMEM;
            }
            if (!p) {
                b->out[OUT_OVERFLOW]++;
                if (!b->overflown) {
                    vigil_warn("bus: more than %zu publishers; ignoring %s", b->max_pub,
                               m->subject ? m->subject : "?");
                    b->overflown = 1;
                }
                vigil_bus_ack(m);
                continue;
            }
            if (p->pending) {
                b->out[OUT_SUPERSEDED]++;
                vigil_bus_ack(&b->msgs[p->pending - 1]);
            }
            p->pending = i + 1;
        }
        for (size_t k = 0; k < b->n_pub; k++) {
            struct publisher *p = &b->pub[k];
            if (p->pending) {
                struct vigil_bus_msg *m = &b->msgs[p->pending - 1];
                p->pending = 0;
                if (use(b, p, m, now_ns, t, g, emit, user) != 0) {
                    return -ENOMEM;
                }
            }
        }
        if (n < BATCH) {
            break;
        }
    }
    int up = 0;
    for (size_t k = 0; k < b->n_pub; k++) {
        struct publisher *p = &b->pub[k];
        int fresh = p->last_ns && now_ns - p->last_ns <= b->stale_ns;
        if (p->up && !fresh) {
            vigil_warn("bus: %s sent nothing for %lld s; its series are stale until it does",
                       p->host, (long long)(b->stale_ns / (1000 * MS)));
        } else if (!p->up && fresh && p->last_ns) {
            vigil_info("bus: %s is publishing", p->host);
        }
        p->up = fresh;
        up += fresh;
    }
    return up;
}

int vigil_busin_render(const struct vigil_busin *b, struct vigil_buf *out)
{
    int rc = vigil_buf_puts(out, "# HELP vigil_bus_publisher_up 1 while the publisher's scrapes "
                                 "arrive within the stale time.\n"
                                 "# TYPE vigil_bus_publisher_up gauge\n");
    for (size_t k = 0; k < b->n_pub && !rc; k++) {
        rc = vigil_buf_puts(out, "vigil_bus_publisher_up{host=\"");
        rc = rc ? rc : vigil_prom_escape_label(out, b->pub[k].host, strlen(b->pub[k].host));
        rc = rc ? rc : vigil_buf_appendf(out, "\"} %d\n", b->pub[k].up);
    }
    rc = rc ? rc
            : vigil_buf_puts(out, "# HELP vigil_bus_messages_total Scrapes read from the bus, by "
                                  "outcome.\n# TYPE vigil_bus_messages_total counter\n");
    for (int o = 0; o < OUT_N && !rc; o++) {
        rc = vigil_buf_appendf(out, "vigil_bus_messages_total{outcome=\"%s\"} %llu\n", out_names[o],
                               (unsigned long long)b->out[o]);
    }
    return rc;
}
