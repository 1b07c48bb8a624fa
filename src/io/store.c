/*
 * SQLite store for events. Statements are prepared once per connection and
 * reset per use; WAL journal so readers (HTTP handlers) never block the
 * writer. JSON output is built with cJSON so entity names and feature lists
 * are escaped correctly whatever they contain.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/store.h"

#define SCHEMA_VERSION 1

struct vigil_store {
    sqlite3 *db;
    sqlite3_stmt *ins;
    sqlite3_stmt *upd;
    sqlite3_stmt *score;
    sqlite3_stmt *service;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY,"
    " entity TEXT NOT NULL,"
    " grp TEXT NOT NULL,"
    " model TEXT,"
    " start_ns INTEGER NOT NULL,"
    " end_ns INTEGER,"
    " intensity REAL NOT NULL,"
    " features TEXT,"
    " fault TEXT);"
    "CREATE INDEX IF NOT EXISTS events_start ON events(start_ns);"
    "CREATE INDEX IF NOT EXISTS events_entity ON events(entity, grp, start_ns);"
    "CREATE TABLE IF NOT EXISTS scores ("
    " ts INTEGER NOT NULL, entity TEXT NOT NULL, grp TEXT NOT NULL, ratio REAL,"
    " PRIMARY KEY (entity, grp, ts)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS service (ts INTEGER PRIMARY KEY, value REAL);";

static int db_fail(struct vigil_store *st, const char *what)
{
    vigil_error("store: %s: %s", what, sqlite3_errmsg(st->db));
    return -EIO;
}

void vigil_store_close(struct vigil_store *st)
{
    if (!st) {
        return;
    }
    sqlite3_finalize(st->ins);
    sqlite3_finalize(st->upd);
    sqlite3_finalize(st->score);
    sqlite3_finalize(st->service);
    sqlite3_close(st->db);
    vigil_free(st);
}

int vigil_store_open(struct vigil_store **out, const char *path, int flags)
{
    struct vigil_store *st = vigil_calloc(1, sizeof *st);
    if (!st) {
        return -ENOMEM;
    }
    int ro = flags & VIGIL_STORE_READONLY;
    int oflags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        int rc = st->db ? db_fail(st, path) : -ENOMEM;
        vigil_store_close(st);
        return rc;
    }
    sqlite3_busy_timeout(st->db, 2000);
    if (!ro) {
        char *err = NULL;
        int version = 0;
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW) {
                version = sqlite3_column_int(q, 0);
            }
            sqlite3_finalize(q);
        }
        if (version > SCHEMA_VERSION) {
            vigil_error("store: %s: schema version %d is newer than this vigil (%d)", path, version,
                        SCHEMA_VERSION);
            vigil_store_close(st);
            return -EIO;
        }
        if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                         &err) != SQLITE_OK ||
            sqlite3_exec(st->db, schema, NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(st->db, "PRAGMA user_version=1", NULL, NULL, &err) != SQLITE_OK) {
            vigil_error("store: %s: %s", path, err ? err : "schema setup failed");
            sqlite3_free(err);
            vigil_store_close(st);
            return -EIO;
        }
        if (sqlite3_prepare_v2(st->db,
                               "INSERT INTO events(entity,grp,model,start_ns,end_ns,intensity,"
                               "features,fault) VALUES(?,?,?,?,?,?,?,?)",
                               -1, &st->ins, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(st->db,
                               "UPDATE events SET end_ns=?, intensity=?, features=?, fault=? "
                               "WHERE id=?",
                               -1, &st->upd, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(st->db,
                               "INSERT OR REPLACE INTO scores(ts,entity,grp,ratio) VALUES(?,?,?,?)",
                               -1, &st->score, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO service(ts,value) VALUES(?,?)", -1,
                               &st->service, NULL) != SQLITE_OK) {
            int rc = db_fail(st, "prepare");
            vigil_store_close(st);
            return rc;
        }
    }
    *out = st;
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v) {
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(s, i);
    }
}

int vigil_store_event_put(struct vigil_store *st, struct vigil_event *ev)
{
    if (!st->ins) {
        return -EROFS;
    }
    sqlite3_stmt *s;
    if (ev->id == 0) {
        s = st->ins;
        sqlite3_bind_text(s, 1, ev->entity ? ev->entity : "host", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, ev->group ? ev->group : "other", -1, SQLITE_TRANSIENT);
        bind_text_or_null(s, 3, ev->model);
        sqlite3_bind_int64(s, 4, ev->start_ns);
        if (ev->end_ns) {
            sqlite3_bind_int64(s, 5, ev->end_ns);
        } else {
            sqlite3_bind_null(s, 5);
        }
        sqlite3_bind_double(s, 6, ev->intensity);
        bind_text_or_null(s, 7, ev->features);
        bind_text_or_null(s, 8, ev->fault);
    } else {
        s = st->upd;
        if (ev->end_ns) {
            sqlite3_bind_int64(s, 1, ev->end_ns);
        } else {
            sqlite3_bind_null(s, 1);
        }
        sqlite3_bind_double(s, 2, ev->intensity);
        bind_text_or_null(s, 3, ev->features);
        bind_text_or_null(s, 4, ev->fault);
        sqlite3_bind_int64(s, 5, ev->id);
    }
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, "event");
    if (!rc && ev->id == 0) {
        ev->id = sqlite3_last_insert_rowid(st->db);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

char *vigil_rfc3339(int64_t ns, char *out, size_t n)
{
    time_t sec = (time_t)(ns / 1000000000LL);
    int ms = (int)((ns % 1000000000LL) / 1000000LL);
    if (ms < 0) {
        ms += 1000;
        sec -= 1;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03dZ", base, ms);
    return out;
}

/* Builds the WHERE clause shared by the query and the count. */
static int prepare_filtered(struct vigil_store *st, const char *head,
                            const struct vigil_event_filter *f, const char *tail,
                            sqlite3_stmt **out)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "%s WHERE (?1 IS NULL OR entity=?1) AND (?2 IS NULL OR grp=?2)"
             " AND (?3 = 0 OR end_ns IS NULL OR end_ns >= ?3) AND (?4 = 0 OR start_ns <= ?4) %s",
             head, tail);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return db_fail(st, "query");
    }
    bind_text_or_null(s, 1, f ? f->entity : NULL);
    bind_text_or_null(s, 2, f ? f->group : NULL);
    sqlite3_bind_int64(s, 3, f ? f->from_ns : 0);
    sqlite3_bind_int64(s, 4, f ? f->to_ns : 0);
    *out = s;
    return 0;
}

int64_t vigil_store_events_count(struct vigil_store *st, const struct vigil_event_filter *f)
{
    sqlite3_stmt *s;
    int rc = prepare_filtered(st, "SELECT COUNT(*) FROM events", f, "", &s);
    if (rc) {
        return rc;
    }
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : db_fail(st, "count");
    sqlite3_finalize(s);
    return n;
}

int vigil_store_events_json(struct vigil_store *st, const struct vigil_event_filter *f,
                            struct vigil_buf *out)
{
    int limit = f && f->limit > 0 ? (f->limit > 10000 ? 10000 : f->limit) : 100;
    char tail[64];
    snprintf(tail, sizeof tail, "ORDER BY start_ns DESC, id DESC LIMIT %d", limit);
    sqlite3_stmt *s;
    int rc = prepare_filtered(
        st, "SELECT id,entity,grp,model,start_ns,end_ns,intensity,features,fault FROM events", f,
        tail, &s);
    if (rc) {
        return rc;
    }
    cJSON *arr = cJSON_CreateArray();
    rc = arr ? 0 : -ENOMEM;
    int step;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        char t0[40], t1[40];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            rc = -ENOMEM;
            break;
        }
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(s, 0));
        cJSON_AddStringToObject(o, "entity", (const char *)sqlite3_column_text(s, 1));
        cJSON_AddStringToObject(o, "group", (const char *)sqlite3_column_text(s, 2));
        if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
            cJSON_AddNullToObject(o, "model");
        } else {
            cJSON_AddStringToObject(o, "model", (const char *)sqlite3_column_text(s, 3));
        }
        cJSON_AddStringToObject(o, "start", vigil_rfc3339(sqlite3_column_int64(s, 4), t0, 40));
        if (sqlite3_column_type(s, 5) == SQLITE_NULL) {
            cJSON_AddNullToObject(o, "end");
        } else {
            cJSON_AddStringToObject(o, "end", vigil_rfc3339(sqlite3_column_int64(s, 5), t1, 40));
        }
        cJSON_AddNumberToObject(o, "intensity", sqlite3_column_double(s, 6));
        cJSON *feat = NULL;
        if (sqlite3_column_type(s, 7) != SQLITE_NULL) {
            feat = cJSON_Parse((const char *)sqlite3_column_text(s, 7));
        }
        cJSON_AddItemToObject(o, "features", feat ? feat : cJSON_CreateArray());
        if (sqlite3_column_type(s, 8) == SQLITE_NULL) {
            cJSON_AddNullToObject(o, "fault");
        } else {
            cJSON_AddStringToObject(o, "fault", (const char *)sqlite3_column_text(s, 8));
        }
    }
    if (!rc && step != SQLITE_DONE) {
        rc = db_fail(st, "query");
    }
    sqlite3_finalize(s);
    if (!rc) {
        char *txt = cJSON_PrintUnformatted(arr);
        rc = txt ? vigil_buf_puts(out, txt) : -ENOMEM;
        cJSON_free(txt);
    }
    cJSON_Delete(arr);
    return rc;
}

int vigil_store_begin(struct vigil_store *st)
{
    return sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(st, "begin");
}

int vigil_store_commit(struct vigil_store *st)
{
    return sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                         : db_fail(st, "commit");
}

int vigil_store_score_put(struct vigil_store *st, int64_t ts, const char *entity,
                          const char *group, double ratio)
{
    if (!st->score) {
        return -EROFS;
    }
    sqlite3_stmt *s = st->score;
    sqlite3_bind_int64(s, 1, ts);
    sqlite3_bind_text(s, 2, entity, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, group, -1, SQLITE_STATIC);
    if (isfinite(ratio)) {
        sqlite3_bind_double(s, 4, ratio);
    } else {
        sqlite3_bind_null(s, 4);
    }
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, "score");
    sqlite3_reset(s);
    return rc;
}

int vigil_store_service_put(struct vigil_store *st, int64_t ts, double value)
{
    if (!st->service) {
        return -EROFS;
    }
    sqlite3_stmt *s = st->service;
    sqlite3_bind_int64(s, 1, ts);
    if (isfinite(value)) {
        sqlite3_bind_double(s, 2, value);
    } else {
        sqlite3_bind_null(s, 2);
    }
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, "service");
    sqlite3_reset(s);
    return rc;
}

int64_t vigil_store_scores(struct vigil_store *st, const char *entity, const char *group,
                           int64_t from, int64_t to, int64_t *ts, double *ratio, double *service,
                           size_t max)
{
    sqlite3_stmt *s;
    const char *sql = "SELECT s.ts, s.ratio, v.value FROM scores s LEFT JOIN service v ON v.ts = s.ts"
                      " WHERE s.entity = ?1 AND s.grp = ?2 AND (?3 = 0 OR s.ts >= ?3)"
                      " AND (?4 = 0 OR s.ts <= ?4) ORDER BY s.ts DESC LIMIT ?5";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return db_fail(st, "scores");
    }
    sqlite3_bind_text(s, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, group, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, from);
    sqlite3_bind_int64(s, 4, to);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)max);
    size_t n = 0;
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW && n < max) {
        ts[n] = sqlite3_column_int64(s, 0);
        ratio[n] = sqlite3_column_type(s, 1) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(s, 1);
        service[n] = sqlite3_column_type(s, 2) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(s, 2);
        n++;
    }
    int64_t rc = step == SQLITE_ROW || step == SQLITE_DONE ? (int64_t)n : db_fail(st, "scores");
    sqlite3_finalize(s);
    /* Newest first from the query (so the limit keeps the latest); oldest first out. */
    for (size_t i = 0; rc > 0 && i < n / 2; i++) {
        size_t j = n - 1 - i;
        int64_t t = ts[i];
        ts[i] = ts[j];
        ts[j] = t;
        double a = ratio[i];
        ratio[i] = ratio[j];
        ratio[j] = a;
        a = service[i];
        service[i] = service[j];
        service[j] = a;
    }
    return rc;
}

int vigil_store_prune_scores(struct vigil_store *st, const char *entity, const char *group,
                             int64_t before_ns)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM scores WHERE entity=?1 AND grp=?2 AND ts<?3", -1,
                           &s, NULL) != SQLITE_OK) {
        return db_fail(st, "prune");
    }
    sqlite3_bind_text(s, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, group, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, before_ns);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, "prune");
    sqlite3_finalize(s);
    if (!rc && sqlite3_prepare_v2(st->db, "DELETE FROM service WHERE ts<?1", -1, &s, NULL) ==
                   SQLITE_OK) {
        sqlite3_bind_int64(s, 1, before_ns);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, "prune");
        sqlite3_finalize(s);
    }
    return rc;
}

int vigil_store_prune(struct vigil_store *st, int64_t before_ns)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM scores WHERE ts < %lld; DELETE FROM service WHERE ts < %lld;",
             (long long)before_ns, (long long)before_ns);
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(st, "prune");
}
