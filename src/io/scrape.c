/*
 * Prometheus scrape input (include/vigil/scrape.h). Bodies are read into a
 * buffer capped at max_bytes (a larger answer is a failure, not a truncated
 * parse) and parsed line by line with the exposition stream parser.
 */
#include <curl/curl.h>
#include <errno.h>
#include <string.h>

#include "vigil/lines.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/prom.h"
#include "vigil/scrape.h"

struct target {
    char *url;
    char *instance; /* host:port of the URL */
    CURL *curl;
    struct vigil_buf body;
    int up;
    int warned;
    uint64_t failures;
};

struct vigil_scraper {
    struct target *t;
    size_t n;
    size_t max_bytes;
    struct vigil_buf scratch; /* unescaped label values of one sample */
};

struct sink {
    struct target *t;
    size_t max;
    int too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    if (s->t->body.len + len > s->max) {
        s->too_big = 1;
        return 0; /* aborts the transfer */
    }
    return vigil_buf_append(&s->t->body, p, len) == 0 ? len : 0;
}

void vigil_scraper_free(struct vigil_scraper *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i].curl) {
            curl_easy_cleanup(s->t[i].curl);
        }
        vigil_free(s->t[i].url);
        vigil_free(s->t[i].instance);
        vigil_buf_fini(&s->t[i].body);
    }
    vigil_free(s->t);
    vigil_buf_fini(&s->scratch);
    vigil_free(s);
}

int vigil_scraper_new(struct vigil_scraper **out, const char *const *urls, size_t n,
                      long timeout_ms, size_t max_bytes)
{
    for (size_t i = 0; i < n; i++) {
        if (strncmp(urls[i], "http://", 7) != 0 && strncmp(urls[i], "https://", 8) != 0) {
            return -EINVAL;
        }
    }
    struct vigil_scraper *s = vigil_calloc(1, sizeof *s);
    if (!s) {
        return -ENOMEM;
    }
    s->t = vigil_calloc(n ? n : 1, sizeof *s->t);
    s->max_bytes = max_bytes ? max_bytes : (size_t)16 << 20;
    vigil_buf_init(&s->scratch);
    if (!s->t) {
        vigil_scraper_free(s);
        return -ENOMEM;
    }
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        struct target *t = &s->t[i];
        const char *host = strstr(urls[i], "://") + 3;
        size_t hl = strcspn(host, "/?#");
        t->url = vigil_strdup(urls[i]);
        t->instance = vigil_strndup(host, hl);
        t->curl = curl_easy_init();
        vigil_buf_init(&t->body);
        if (!t->url || !t->instance || !t->curl) {
            vigil_scraper_free(s);
            return -ENOMEM;
        }
        curl_easy_setopt(t->curl, CURLOPT_URL, t->url);
        curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 2000L);
        curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(t->curl, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, NULL);
    }
    *out = s;
    return 0;
}

static void mark(struct target *t, int up, const char *why)
{
    if (up) {
        if (!t->up && t->warned) {
            vigil_info("scrape: %s is up again", t->url);
        }
        t->up = 1;
        t->warned = 0;
        return;
    }
    t->failures++;
    t->up = 0;
    if (!t->warned) {
        vigil_warn("scrape: %s: %s; its series are stale until it answers", t->url, why);
        t->warned = 1;
    }
}

int vigil_expo_ingest(const char *text, size_t len, const char *instance,
                      struct vigil_series_table *tab, const struct vigil_groups *g,
                      vigil_scrape_emit_fn emit, void *user, struct vigil_buf *scratch,
                      struct vigil_diag *diag)
{
    struct vigil_lines l;
    struct vigil_prom_parser ps;
    struct vigil_prom_line pl;
    const char *p;
    size_t n;
    int rc = vigil_lines_open_mem(&l, text ? text : "", len, 0);
    if (rc) {
        return rc;
    }
    vigil_prom_parser_init(&ps, VIGIL_PROM_TEXT);
    while (!rc && (rc = vigil_lines_next(&l, &p, &n, diag)) == 0) {
        rc = vigil_prom_parser_feed(&ps, p, n, &pl, diag);
        if (rc || pl.type != VIGIL_PROM_LINE_SAMPLE) {
            continue;
        }
        /* Unescape label values into scratch (never longer than the line); add instance. */
        vigil_buf_reset(scratch);
        if ((rc = vigil_buf_reserve(scratch, n + 1)) != 0) {
            break;
        }
        struct vigil_label_ref refs[VIGIL_PROM_LABELS_MAX + 1];
        size_t nr = 0, used = 0;
        int has_instance = 0;
        for (size_t i = 0; i < pl.n_labels; i++) {
            refs[nr] = pl.labels[i];
            if (pl.escaped) {
                size_t vl = vigil_prom_unescape(pl.labels[i].value, pl.labels[i].value_len,
                                                scratch->p + used);
                refs[nr].value = scratch->p + used;
                refs[nr].value_len = vl;
                used += vl;
            }
            has_instance |= refs[nr].name_len == 8 && memcmp(refs[nr].name, "instance", 8) == 0;
            nr++;
        }
        if (!has_instance) {
            refs[nr++] = (struct vigil_label_ref){"instance", 8, instance, strlen(instance)};
        }
        size_t before = tab->n;
        uint32_t id;
        rc = vigil_series_intern(tab, pl.name, pl.name_len, refs, nr, &id);
        if (rc == VIGIL_EPARSE) {
            rc = 0; /* duplicate label names: skip this sample */
            continue;
        }
        if (!rc && tab->n > before) {
            struct vigil_series *sr = &tab->v[id];
            sr->kind = pl.kind;
            if (g) {
                sr->group = (uint8_t)vigil_groups_match(g, sr->name);
                if (sr->kind == VIGIL_KIND_UNKNOWN) {
                    sr->kind = (uint8_t)vigil_groups_kind(g, sr);
                }
                rc = vigil_series_set_entity(sr, vigil_groups_entity(g, sr));
            } else {
                sr->group = VIGIL_GROUP_OTHER;
                rc = vigil_series_set_entity(sr, instance);
            }
        }
        if (!rc) {
            emit(user, id, pl.value);
        }
    }
    if (rc == VIGIL_EOF) {
        rc = 0;
    }
    vigil_prom_parser_fini(&ps);
    vigil_lines_close(&l);
    return rc;
}

/* Interns and emits the samples of one body. Returns 0, -ENOMEM or VIGIL_EPARSE (logged). */
static int parse_body(struct vigil_scraper *s, struct target *t, struct vigil_series_table *tab,
                      const struct vigil_groups *g, vigil_scrape_emit_fn emit, void *user)
{
    struct vigil_diag diag;
    vigil_diag_clear(&diag);
    int rc = vigil_expo_ingest(t->body.p, t->body.len, t->instance, tab, g, emit, user,
                               &s->scratch, &diag);
    if (rc == VIGIL_EPARSE) {
        char msg[300];
        vigil_warn("scrape: %s", vigil_diag_format(&diag, t->url, msg, sizeof msg));
    }
    return rc;
}

int vigil_scraper_run(struct vigil_scraper *s, struct vigil_series_table *t,
                      const struct vigil_groups *g, vigil_scrape_emit_fn emit, void *user)
{
    int up = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct target *tg = &s->t[i];
        struct sink sk = {tg, s->max_bytes, 0};
        vigil_buf_reset(&tg->body);
        curl_easy_setopt(tg->curl, CURLOPT_WRITEDATA, &sk);
        CURLcode cc = curl_easy_perform(tg->curl);
        long status = 0;
        curl_easy_getinfo(tg->curl, CURLINFO_RESPONSE_CODE, &status);
        if (sk.too_big) {
            mark(tg, 0, "answer larger than the size limit");
        } else if (cc != CURLE_OK) {
            mark(tg, 0, curl_easy_strerror(cc));
        } else if (status < 200 || status > 299) {
            mark(tg, 0, "non-2xx answer");
        } else {
            int rc = parse_body(s, tg, t, g, emit, user);
            if (rc == -ENOMEM) {
                return rc;
            }
            mark(tg, rc == 0, "malformed exposition text");
            up += rc == 0;
        }
    }
    return up;
}

int vigil_scraper_render(const struct vigil_scraper *s, struct vigil_buf *out)
{
    int rc = vigil_buf_puts(out, "# HELP vigil_scrape_up 1 when the last scrape of the target "
                                 "succeeded.\n# TYPE vigil_scrape_up gauge\n");
    for (size_t i = 0; i < s->n && !rc; i++) {
        rc = vigil_buf_appendf(out, "vigil_scrape_up{target=\"%s\"} %d\n", s->t[i].instance,
                               s->t[i].up);
    }
    rc = rc ? rc
            : vigil_buf_puts(out, "# HELP vigil_scrape_failures_total Failed scrapes.\n"
                                  "# TYPE vigil_scrape_failures_total counter\n");
    for (size_t i = 0; i < s->n && !rc; i++) {
        rc = vigil_buf_appendf(out, "vigil_scrape_failures_total{target=\"%s\"} %llu\n",
                               s->t[i].instance, (unsigned long long)s->t[i].failures);
    }
    return rc;
}
