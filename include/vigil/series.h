/*
 * The data model's names. A series is a metric name plus a sorted label set,
 * interned once to a uint32_t id. Each series has a kind (counter, gauge or
 * unknown), a resource group (cpu, memory, network, filesystem, other) and an
 * entity (the host, a VM, a container), so that models can be trained per
 * entity and per group.
 *
 * Groups and entities are assigned by src/prep/groups.c from configurable
 * rules; this header only stores them.
 */
#ifndef VIGIL_SERIES_H
#define VIGIL_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

enum vigil_kind {
    VIGIL_KIND_UNKNOWN = 0,
    VIGIL_KIND_COUNTER = 1,
    VIGIL_KIND_GAUGE = 2,
};

enum vigil_group {
    VIGIL_GROUP_CPU = 0,
    VIGIL_GROUP_MEMORY = 1,
    VIGIL_GROUP_NETWORK = 2,
    VIGIL_GROUP_FILESYSTEM = 3,
    VIGIL_GROUP_OTHER = 4,
    VIGIL_GROUP_COUNT = 5,
};

/* "counter", "gauge", "unknown". */
const char *vigil_kind_name(enum vigil_kind k);
/* "cpu", "memory", "network", "filesystem", "other". */
const char *vigil_group_name(enum vigil_group g);
/* Parses a group name; returns the group or -1. */
int vigil_group_parse(const char *name);

/* A label as borrowed text, for interning. */
struct vigil_label_ref {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct vigil_label {
    char *name;  /* in the series' block */
    char *value; /* in the series' block; unescaped */
};

struct vigil_series {
    /* key, name and labels are one block the table owns (one allocation a series) */
    char *key;                 /* canonical text name{a="x",b="y"}, labels sorted */
    char *name;                /* metric name */
    struct vigil_label *labels; /* sorted by name */
    size_t n_labels;
    uint8_t kind;   /* enum vigil_kind */
    uint8_t group;  /* enum vigil_group */
    char *entity;   /* entity name; NULL = the host itself; owned */
};

/*
 * Interned series with a hash index; ids are dense, 0..n-1, in insertion
 * order. A table that never calls vigil_series_remove has no holes. After a
 * remove, v[id].key is NULL (a hole) until a later intern reuses that id;
 * n still counts holes, so n - n_holes series are live.
 */
struct vigil_series_table {
    struct vigil_series *v; /* owned */
    size_t n;
    size_t cap;
    uint32_t *slots; /* open addressing, id + 1, 0 = empty; owned */
    size_t n_slots;
    uint32_t *holes; /* removed ids, reused last-in first-out; owned */
    size_t n_holes;
    size_t cap_holes;
};

void vigil_series_table_init(struct vigil_series_table *t);
void vigil_series_table_fini(struct vigil_series_table *t);

/*
 * Interns name + labels (any order; duplicates rejected with VIGIL_EPARSE) and
 * returns its id, the existing one if already present. Returns 0, -ENOMEM, or
 * VIGIL_EPARSE for a label given twice or a NUL byte in the name or a value.
 */
int vigil_series_intern(struct vigil_series_table *t, const char *name, size_t name_len,
                        const struct vigil_label_ref *labels, size_t n_labels, uint32_t *id);

/* The id of name + labels if interned (0), else -ENOENT; never adds one. */
int vigil_series_lookup(const struct vigil_series_table *t, const char *name, size_t name_len,
                        const struct vigil_label_ref *labels, size_t n_labels, uint32_t *id);

/*
 * Interns a series given as text: a bare name ("cpu_user"), or
 * name{a="x",b="y"} with Prometheus label escapes. Anything that is not a
 * valid series text is interned as a bare name (CSV headers may be free text).
 */
int vigil_series_intern_text(struct vigil_series_table *t, const char *p, size_t n, uint32_t *id);

/*
 * Removes series id: frees its text, drops it from the index and leaves a
 * hole that the next intern of a new series fills, so the ids of every other
 * series stay as they are. Returns 0, -ENOENT when id is not a live series,
 * or -ENOMEM (the hole list could not grow; the table is unchanged).
 */
int vigil_series_remove(struct vigil_series_table *t, uint32_t id);

/*
 * Drops the holes at the end of the id space (n falls to one past the last
 * live series; ids below stay as they are) and cuts the arrays to the size
 * intern would have grown them to for what is left: after a burst of series
 * that came last and went, the table is the size of what remains, not of
 * the peak. A new series then takes the next id past n again. Returns the
 * new n. Never fails (a realloc that fails leaves that array larger).
 */
size_t vigil_series_trim(struct vigil_series_table *t);

/* Looks up the canonical key; returns 0 and *id, or -ENOENT. */
int vigil_series_find(const struct vigil_series_table *t, const char *key, size_t n, uint32_t *id);

/* Returns series id (borrowed until the table changes), or NULL if out of range or a hole. */
const struct vigil_series *vigil_series_get(const struct vigil_series_table *t, uint32_t id);

/* Returns a label's value or NULL. */
const char *vigil_series_label(const struct vigil_series *s, const char *name);

/* Sets the entity name (copied); NULL clears it. Returns 0 or -ENOMEM. */
int vigil_series_set_entity(struct vigil_series *s, const char *entity);

#endif /* VIGIL_SERIES_H */
