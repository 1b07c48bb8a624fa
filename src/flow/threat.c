/*
 * Threat alarms: deduplication of flagged flows by key, and the outputs of
 * raised and closed alarms (JSON lines through cJSON, SQLite events,
 * Alertmanager, a callback, an optional hook command).
 *
 * The open alarms sit in an open-addressing table (linear probing, at most
 * half full) allocated once. Alarms close lazily: when their key shows up
 * again after a quiet dedup period, in a sweep run once per dedup period of
 * flow time, or at flush. A sweep re-inserts the survivors from a scratch
 * copy, so there are no tombstones to manage.
 *
 * The hook runs "/bin/sh -c HOOK" with the alarm in the environment
 * (VIGIL_ALARM as JSON, VIGIL_ALARM_CLASS, VIGIL_ALARM_SRC, VIGIL_ALARM_DST,
 * VIGIL_ALARM_SCORE) and stdin/stdout on /dev/null; it is never waited for on
 * the detection path, at most 4 run at once, and only when configured.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vigil/alert.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/nslkdd.h"
#include "vigil/store.h"
#include "vigil/threat.h"

#define HOOKS_MAX 4
#define ALERT_BATCH 64

extern char **environ;

struct entry {
    uint8_t used;
    uint8_t cls;
    uint8_t a[16]; /* key addresses: by source or destination a only; by flow a and b */
    uint8_t b[16];
    uint8_t src[16]; /* the first flow's addresses, for the output */
    uint8_t dst[16];
    int64_t first_ns;
    int64_t last_ns;
    uint64_t flows;
    float score; /* highest score seen */
    int64_t event_id;
    uint8_t raised; /* 0 while fewer than min_flows flows were seen */
};

struct pending_alert {
    struct vigil_alert a;
    char entity[48];
    char summary[160];
};

struct vigil_threat {
    struct vigil_threat_params p;
    struct entry *tab;     /* (mask + 1) */
    struct entry *scratch; /* (max_keys) survivors during a sweep */
    size_t mask;
    size_t n;
    int64_t now; /* latest window time seen */
    int64_t last_sweep;
    pid_t hooks[HOOKS_MAX];
    struct pending_alert pend[ALERT_BATCH];
    size_t n_pend;
    int warned; /* an output failure was logged */
    struct vigil_threat_stats st;
};

void vigil_threat_params_default(struct vigil_threat_params *p)
{
    memset(p, 0, sizeof *p);
    p->key = VIGIL_THREAT_KEY_AUTO;
    p->dedup_ns = 60LL * 1000000000LL;
    p->max_keys = 65536;
    p->min_flows[1] = 16; /* DoS: one SYN is not a flood (docs/flows.md) */
}

int vigil_threat_key_parse(const char *s)
{
    static const char *const names[] = {"auto", "src", "dst", "flow", NULL};
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

int vigil_threat_new(struct vigil_threat **out, const struct vigil_threat_params *p)
{
    *out = NULL;
    if (p->dedup_ns < 0 || p->max_keys == 0 || p->max_keys > ((size_t)1 << 24)) {
        return -EINVAL;
    }
    struct vigil_threat *t = vigil_calloc(1, sizeof *t);
    if (!t) {
        return -ENOMEM;
    }
    t->p = *p;
    size_t cap = 16;
    while (cap < 2 * p->max_keys) {
        cap <<= 1;
    }
    t->mask = cap - 1;
    t->tab = vigil_calloc(cap, sizeof *t->tab);
    t->scratch = vigil_mallocarray(p->max_keys, sizeof *t->scratch);
    if (!t->tab || !t->scratch) {
        vigil_threat_free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

void vigil_threat_stats(const struct vigil_threat *t, struct vigil_threat_stats *out)
{
    *out = t->st;
}

/* ---- outputs ---- */

static void output_failed(struct vigil_threat *t, const char *what, int rc)
{
    t->st.sink_errors++;
    if (!t->warned) {
        vigil_warn("threat: %s: %s (further output errors are only counted)", what,
                   vigil_strerror(rc));
        t->warned = 1;
    }
}

static const char *key_name(enum vigil_threat_key k)
{
    static const char *const names[] = {"auto", "src", "dst", "flow"};
    return names[k];
}

static enum vigil_threat_key key_of(const struct vigil_threat *t, int cls)
{
    if (t->p.key != VIGIL_THREAT_KEY_AUTO) {
        return t->p.key;
    }
    return cls == VIGIL_THREAT_DOS ? VIGIL_THREAT_KEY_DST : VIGIL_THREAT_KEY_SRC;
}

/* The alarm's entity: the address its key names ("src>dst" by flow). */
static void entity_of(const struct vigil_threat *t, const struct entry *e, char *out, size_t n)
{
    char a[64], b[64];
    switch (key_of(t, e->cls)) {
    case VIGIL_THREAT_KEY_DST:
        vigil_ip_format(e->dst, out, n);
        break;
    case VIGIL_THREAT_KEY_FLOW:
        snprintf(out, n, "%s>%s", vigil_ip_format(e->src, a, sizeof a),
                 vigil_ip_format(e->dst, b, sizeof b));
        break;
    default:
        vigil_ip_format(e->src, out, n);
        break;
    }
}

static char *alarm_json(const struct vigil_threat *t, const struct entry *e,
                        const struct vigil_flow_rec *r)
{
    char buf[64];
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "time", vigil_rfc3339(e->first_ns, buf, sizeof buf));
    cJSON_AddNumberToObject(o, "window", floor((double)e->first_ns / 1e6) / 1e3);
    cJSON_AddStringToObject(o, "class", vigil_threat_class_name(e->cls));
    cJSON_AddNumberToObject(o, "score", (double)e->score);
    cJSON_AddStringToObject(o, "key", key_name(key_of(t, e->cls)));
    cJSON_AddStringToObject(o, "src", vigil_ip_format(e->src, buf, sizeof buf));
    cJSON_AddStringToObject(o, "dst", vigil_ip_format(e->dst, buf, sizeof buf));
    if (t->p.model) {
        cJSON_AddStringToObject(o, "model", t->p.model);
    }
    if (t->p.sensor) {
        cJSON_AddStringToObject(o, "sensor", t->p.sensor);
    }
    cJSON *f = cJSON_AddObjectToObject(o, "flow");
    if (f) {
        for (size_t j = 0; j < VIGIL_FLOW_F; j++) {
            cJSON_AddNumberToObject(f, vigil_flow_feature_name(j), (double)r->f[j]);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void reap_hooks(struct vigil_threat *t)
{
    for (int i = 0; i < HOOKS_MAX; i++) {
        if (t->hooks[i] > 0 && waitpid(t->hooks[i], NULL, WNOHANG) == t->hooks[i]) {
            t->hooks[i] = 0;
        }
    }
}

static void run_hook(struct vigil_threat *t, const struct entry *e, const char *json)
{
    reap_hooks(t);
    int slot = -1;
    for (int i = 0; i < HOOKS_MAX && slot < 0; i++) {
        slot = t->hooks[i] == 0 ? i : -1;
    }
    if (slot < 0) {
        t->st.hooks_skipped++;
        return;
    }
    /* The environment: ours plus five variables, built without allocating per variable. */
    size_t n_env = 0;
    while (environ && environ[n_env]) {
        n_env++;
    }
    char **env = vigil_mallocarray(n_env + 6, sizeof *env);
    size_t jl = strlen(json);
    char *alarm = vigil_malloc(jl + 16);
    if (!env || !alarm) {
        vigil_free(env);
        vigil_free(alarm);
        output_failed(t, "hook", -ENOMEM);
        return;
    }
    char cls[48], src[80], dst[80], score[48];
    snprintf(alarm, jl + 16, "VIGIL_ALARM=%s", json);
    snprintf(cls, sizeof cls, "VIGIL_ALARM_CLASS=%s", vigil_threat_class_name(e->cls));
    char a[64];
    snprintf(src, sizeof src, "VIGIL_ALARM_SRC=%s", vigil_ip_format(e->src, a, sizeof a));
    snprintf(dst, sizeof dst, "VIGIL_ALARM_DST=%s", vigil_ip_format(e->dst, a, sizeof a));
    snprintf(score, sizeof score, "VIGIL_ALARM_SCORE=%.4f", (double)e->score);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        if (strncmp(environ[i], "VIGIL_ALARM", 11) != 0) {
            env[k++] = environ[i];
        }
    }
    env[k++] = alarm;
    env[k++] = cls;
    env[k++] = src;
    env[k++] = dst;
    env[k++] = score;
    env[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)(uintptr_t)t->p.hook, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    vigil_free(env);
    vigil_free(alarm);
    if (rc != 0) {
        output_failed(t, "hook", -rc);
        return;
    }
    t->hooks[slot] = pid;
    t->st.hooks_run++;
}

static void post_alerts(struct vigil_threat *t)
{
    if (t->n_pend == 0) {
        return;
    }
    struct vigil_alert a[ALERT_BATCH];
    for (size_t i = 0; i < t->n_pend; i++) {
        a[i] = t->pend[i].a;
        a[i].entity = t->pend[i].entity;
        a[i].summary = t->pend[i].summary;
    }
    int rc = vigil_alert_post(t->p.alerts, a, t->n_pend);
    if (rc) {
        output_failed(t, "alertmanager", rc);
    }
    t->n_pend = 0;
}

static void queue_alert(struct vigil_threat *t, const struct entry *e, int64_t ends_ns)
{
    if (!t->p.alerts) {
        return;
    }
    struct pending_alert *pa = &t->pend[t->n_pend++];
    char s[64], d[64];
    entity_of(t, e, pa->entity, sizeof pa->entity);
    snprintf(pa->summary, sizeof pa->summary, "%s from %s to %s (%s, score %.2f, %llu flows)",
             vigil_threat_class_name(e->cls), vigil_ip_format(e->src, s, sizeof s),
             vigil_ip_format(e->dst, d, sizeof d), t->p.model ? t->p.model : "model",
             (double)e->score, (unsigned long long)e->flows);
    pa->a = (struct vigil_alert){
        .name = "VigilThreat",
        .group = vigil_threat_class_name(e->cls),
        .severity =
            e->cls == VIGIL_THREAT_DOS || e->cls == VIGIL_THREAT_U2R ? "critical" : "warning",
        .intensity = (double)e->score,
        .starts_ns = e->first_ns,
        .ends_ns = ends_ns,
    };
    if (t->n_pend == ALERT_BATCH) {
        post_alerts(t);
    }
}

static void store_put(struct vigil_threat *t, struct entry *e, int64_t end_ns)
{
    if (!t->p.store) {
        return;
    }
    char ent[96];
    entity_of(t, e, ent, sizeof ent);
    struct vigil_event ev = {
        .id = e->event_id,
        .entity = ent,
        .group = "network",
        .model = t->p.model,
        .start_ns = e->first_ns,
        .end_ns = end_ns,
        .intensity = (double)e->score,
        .features = NULL,
        .fault = vigil_threat_class_name(e->cls),
    };
    int rc = vigil_store_event_put(t->p.store, &ev);
    if (rc) {
        output_failed(t, "store", rc);
    }
    e->event_id = ev.id;
}

static uint32_t min_flows(const struct vigil_threat *t, int cls)
{
    uint32_t m = cls < VIGIL_THREAT_CLASS_MAX ? t->p.min_flows[cls] : 0;
    return m ? m : 1;
}

static void raise_alarm(struct vigil_threat *t, struct entry *e, const struct vigil_flow_rec *r)
{
    e->raised = 1;
    t->st.raised++;
    char *json = alarm_json(t, e, r);
    if (!json) {
        output_failed(t, "json", -ENOMEM);
    }
    if (json && t->p.jsonl) {
        if (fputs(json, t->p.jsonl) < 0 || fputc('\n', t->p.jsonl) == EOF) {
            output_failed(t, "jsonl", -EIO);
        }
    }
    if (json && t->p.sink) {
        int rc = t->p.sink(t->p.sink_user, json, strlen(json));
        if (rc) {
            output_failed(t, "sink", rc);
        }
    }
    store_put(t, e, 0);
    queue_alert(t, e, 0);
    if (json && t->p.hook) {
        run_hook(t, e, json);
    }
    cJSON_free(json);
}

static void close_alarm(struct vigil_threat *t, struct entry *e)
{
    if (!e->raised) {
        t->st.below_min++; /* never reached min_flows: no alarm was raised, none to close */
        return;
    }
    /* The alarm ends with the last flagged flow's window. */
    int64_t end = e->last_ns + 1;
    store_put(t, e, end);
    queue_alert(t, e, end);
    t->st.closed++;
}

/* ---- the table ---- */

static uint64_t hash_key(int cls, const uint8_t *a, const uint8_t *b)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL * (uint64_t)(cls + 1);
    for (int i = 0; i < 16; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        h = (h ^ x) * 0xff51afd7ed558ccdULL;
        h = (h ^ y) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
    }
    return h;
}

static struct entry *slot_for(struct vigil_threat *t, int cls, const uint8_t *a, const uint8_t *b)
{
    size_t i = (size_t)hash_key(cls, a, b) & t->mask;
    while (t->tab[i].used && !(t->tab[i].cls == cls && memcmp(t->tab[i].a, a, 16) == 0 &&
                               memcmp(t->tab[i].b, b, 16) == 0)) {
        i = (i + 1) & t->mask;
    }
    return &t->tab[i];
}

/*
 * Closes the alarms quiet since before `before` (every alarm when before is
 * INT64_MAX) and, if still more than keep are open, the stalest ones; then
 * rebuilds the table from the survivors.
 */
static void sweep(struct vigil_threat *t, int64_t before, size_t keep)
{
    size_t m = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        struct entry *e = &t->tab[i];
        if (!e->used) {
            continue;
        }
        if (before == INT64_MAX || e->last_ns < before) {
            close_alarm(t, e);
        } else {
            t->scratch[m++] = *e;
        }
    }
    while (m > keep) {
        size_t old = 0;
        for (size_t i = 1; i < m; i++) {
            old = t->scratch[i].last_ns < t->scratch[old].last_ns ? i : old;
        }
        close_alarm(t, &t->scratch[old]);
        t->st.evicted++;
        t->scratch[old] = t->scratch[--m];
    }
    memset(t->tab, 0, (t->mask + 1) * sizeof *t->tab);
    for (size_t i = 0; i < m; i++) {
        const struct entry *e = &t->scratch[i];
        *slot_for(t, e->cls, e->a, e->b) = *e;
    }
    t->n = m;
    post_alerts(t);
}

int vigil_threat_offer(struct vigil_threat *t, const struct vigil_flow_rec *r, int cls, float score)
{
    if (cls <= 0 || cls > 255) {
        return -EINVAL;
    }
    t->st.offered++;
    if (r->win_ns > t->now) {
        t->now = r->win_ns;
    }
    if (t->st.offered == 1) {
        t->last_sweep = t->now;
    }
    if (t->now - t->last_sweep >= t->p.dedup_ns && t->n > 0) {
        sweep(t, t->now - t->p.dedup_ns, t->p.max_keys);
        t->last_sweep = t->now;
    }
    uint8_t a[16], b[16];
    memset(b, 0, sizeof b);
    switch (key_of(t, cls)) {
    case VIGIL_THREAT_KEY_DST:
        memcpy(a, r->dst, 16);
        break;
    case VIGIL_THREAT_KEY_FLOW:
        memcpy(a, r->src, 16);
        memcpy(b, r->dst, 16);
        break;
    default:
        memcpy(a, r->src, 16);
        break;
    }
    struct entry *e = slot_for(t, cls, a, b);
    int reuse = 0;
    if (e->used && r->win_ns - e->last_ns >= t->p.dedup_ns) {
        /* Quiet for a dedup period: close it and raise a new alarm in the same slot. */
        close_alarm(t, e);
        post_alerts(t);
        reuse = 1;
    }
    if (e->used && !reuse) {
        e->flows++;
        if (r->win_ns > e->last_ns) {
            e->last_ns = r->win_ns;
        }
        if (score > e->score) {
            e->score = score;
        }
        if (!e->raised && e->flows >= min_flows(t, cls)) {
            raise_alarm(t, e, r);
            return 1;
        }
        t->st.suppressed += e->raised;
        return 0;
    }
    if (!reuse && t->n >= t->p.max_keys) {
        sweep(t, t->now - t->p.dedup_ns, t->p.max_keys - 1);
        e = slot_for(t, cls, a, b);
    }
    memset(e, 0, sizeof *e);
    e->used = 1;
    e->cls = (uint8_t)cls;
    memcpy(e->a, a, 16);
    memcpy(e->b, b, 16);
    memcpy(e->src, r->src, 16);
    memcpy(e->dst, r->dst, 16);
    e->first_ns = e->last_ns = r->win_ns;
    e->flows = 1;
    e->score = score;
    t->n += !reuse;
    if (min_flows(t, cls) > 1) {
        return 0; /* pending: raised when enough flows join */
    }
    raise_alarm(t, e, r);
    return 1;
}

int vigil_threat_flush(struct vigil_threat *t)
{
    sweep(t, INT64_MAX, 0);
    if (t->p.jsonl) {
        fflush(t->p.jsonl);
    }
    return 0;
}

void vigil_threat_free(struct vigil_threat *t)
{
    if (!t) {
        return;
    }
    for (int tries = 0; tries < 500; tries++) {
        reap_hooks(t);
        int running = 0;
        for (int i = 0; i < HOOKS_MAX; i++) {
            running += t->hooks[i] > 0;
        }
        if (!running) {
            break;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    vigil_free(t->tab);
    vigil_free(t->scratch);
    vigil_free(t);
}
