/*
 * The watch service's state in SQLite (include/vigil/watch.h, "store"):
 * events as the engine reports them, and the score and service history the
 * page draws, written in batches. Used by `vigil watch` and by the soak
 * benchmark, so the benchmark measures the service's own writes.
 *
 * Why batches: one transaction per tick costs more than its rows, since each
 * commit writes again a leaf page of every entity and group (the scores are
 * keyed by entity, group, time). Events are written at once, outside any
 * batch, so /api/events shows them on the tick they happen.
 */
#include <math.h>
#include <string.h>

#include "vigil/store.h"
#include "vigil/watch.h"

#define SEC 1000000000LL
#define PRUNE_EVERY (60 * SEC)

int vigil_watch_store_event(struct vigil_store *st, struct vigil_watch_event *ev)
{
    struct vigil_event row = {.id = ev->id,
                              .entity = ev->entity,
                              .group = ev->group,
                              .model = ev->model,
                              .start_ns = ev->start_ns,
                              .end_ns = ev->end_ns,
                              .intensity = ev->intensity,
                              .features = ev->features,
                              .fault = ev->fault};
    int rc = vigil_store_event_put(st, &row);
    if (rc == 0) {
        ev->id = row.id;
    }
    return rc;
}

void vigil_watch_history_init(struct vigil_watch_history *h, struct vigil_store *st, int64_t now,
                              int64_t span, int64_t every)
{
    memset(h, 0, sizeof *h);
    h->st = st;
    h->span = span > 0 ? span : 24 * 3600 * SEC;
    h->every = every > 0 ? every : 10 * SEC;
    h->flushed = h->last_flush = h->last_prune = now;
}

static void put_score(void *user, const char *entity, const char *group, int64_t ts, double ratio)
{
    struct vigil_watch_history *h = user;
    vigil_store_score_put(h->st, ts, entity, group, ratio);
}

static void prune_key(void *user, const char *entity, const char *group, double ratio, int anomaly)
{
    struct vigil_watch_history *h = user;
    (void)ratio;
    (void)anomaly;
    vigil_store_prune_scores(h->st, entity, group, h->prune_before);
}

/*
 * Writes the scores after the last flush (from the engine's recent history)
 * and the buffered service values in one transaction; once a minute it also
 * drops what is older than the span, entity by entity (a key range each).
 */
static void flush(struct vigil_watch_history *h, const struct vigil_watch *w, int64_t ts)
{
    if (vigil_store_begin(h->st) == 0) {
        vigil_watch_scores_since(w, h->flushed, put_score, h);
        for (size_t i = 0; i < h->n_svc; i++) {
            vigil_store_service_put(h->st, h->svc_ts[i], h->svc_v[i]);
        }
        if (ts - h->last_prune >= PRUNE_EVERY) {
            h->prune_before = ts - h->span;
            vigil_watch_visit(w, prune_key, h);
            h->last_prune = ts;
        }
        vigil_store_commit(h->st);
    }
    h->flushed = h->last_flush = ts;
    h->n_svc = 0;
}

void vigil_watch_history_tick(struct vigil_watch_history *h, const struct vigil_watch *w,
                              int64_t ts, double service, int force)
{
    if (!isnan(service)) {
        h->svc_ts[h->n_svc] = ts;
        h->svc_v[h->n_svc++] = (float)service;
    }
    /* The first scores go out at once, so the page has a history as soon as models are live. */
    int first = !h->scored && vigil_watch_phase(w) == VIGIL_WATCH_SCORING;
    if (force || first || h->n_svc == VIGIL_WATCH_HISTORY_BUF || ts - h->last_flush >= h->every) {
        flush(h, w, ts);
        h->scored |= first;
    }
}
