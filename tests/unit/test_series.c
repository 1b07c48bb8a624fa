/*
 * Series table removal (issue 5: the collector retires the series of vanished
 * containers, domains and interfaces): removing leaves a hole that the next
 * intern reuses, every other id stays put, and the probe chains of the hash
 * index stay intact after backward-shift deletion. A seeded random walk of
 * interns and removes is checked against a plain array model after every
 * step, and an OOM sweep checks a failed remove changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vigil/rng.h"
#include "vigil/series.h"

static int intern_name(struct vigil_series_table *t, const char *name, uint32_t *id)
{
    struct vigil_label_ref l = {"device", 6, name, strlen(name)};
    return vigil_series_intern(t, "node_network_receive_bytes_total", 32, &l, 1, id);
}

static void test_series_remove_reuses_the_hole_5(void **state)
{
    (void)state;
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    uint32_t a, b, c, d, again;
    assert_int_equal(intern_name(&t, "eth0", &a), 0);
    assert_int_equal(intern_name(&t, "veth1", &b), 0);
    assert_int_equal(intern_name(&t, "eth1", &c), 0);
    assert_int_equal(vigil_series_remove(&t, b), 0);
    assert_null(vigil_series_get(&t, b));
    assert_int_equal(t.n, 3);
    assert_int_equal(t.n_holes, 1);
    const char *kb = "node_network_receive_bytes_total{device=\"veth1\"}";
    assert_int_equal(vigil_series_find(&t, kb, strlen(kb), &again), -ENOENT);
    /* A second remove of the same id, or of an id past the end, is refused. */
    assert_int_equal(vigil_series_remove(&t, b), -ENOENT);
    assert_int_equal(vigil_series_remove(&t, 99), -ENOENT);
    /* The survivors keep their ids. */
    assert_int_equal(intern_name(&t, "eth0", &again), 0);
    assert_int_equal(again, a);
    assert_int_equal(intern_name(&t, "eth1", &again), 0);
    assert_int_equal(again, c);
    /* A new series takes the hole instead of growing the table. */
    assert_int_equal(intern_name(&t, "veth2", &d), 0);
    assert_int_equal(d, b);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.n_holes, 0);
    assert_string_equal(vigil_series_label(vigil_series_get(&t, d), "device"), "veth2");
    vigil_series_table_fini(&t);
}

/* Every live key of the model must be found at its id; every removed one must not. */
static void check_model(const struct vigil_series_table *t, const int *live, const uint32_t *ids,
                        int n_names)
{
    char key[96];
    size_t n_live = 0;
    for (int k = 0; k < n_names; k++) {
        snprintf(key, sizeof key, "node_network_receive_bytes_total{device=\"d%d\"}", k);
        uint32_t id;
        int rc = vigil_series_find(t, key, strlen(key), &id);
        if (live[k]) {
            assert_int_equal(rc, 0);
            assert_int_equal(id, ids[k]);
            assert_string_equal(t->v[id].key, key);
            n_live++;
        } else {
            assert_int_equal(rc, -ENOENT);
        }
    }
    assert_int_equal(t->n - t->n_holes, n_live);
}

static void test_series_remove_random_walk_keeps_index_5(void **state)
{
    (void)state;
    enum { NAMES = 300, STEPS = 6000 };
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    int live[NAMES] = {0};
    uint32_t ids[NAMES];
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 5);
    size_t max_n = 0;
    for (int s = 0; s < STEPS; s++) {
        int k = (int)(vigil_rng_u32(&rng) % NAMES);
        char name[16];
        snprintf(name, sizeof name, "d%d", k);
        if (live[k]) {
            assert_int_equal(vigil_series_remove(&t, ids[k]), 0);
            live[k] = 0;
        } else {
            uint32_t id;
            assert_int_equal(intern_name(&t, name, &id), 0);
            /* A new id is a hole or the next one: never an id that is live. */
            for (int j = 0; j < NAMES; j++) {
                assert_false(live[j] && ids[j] == id);
            }
            ids[k] = id;
            live[k] = 1;
        }
        if (t.n > max_n) {
            max_n = t.n;
        }
        if (s % 97 == 0) {
            check_model(&t, live, ids, NAMES);
        }
    }
    check_model(&t, live, ids, NAMES);
    /* Holes are reused: the id space never exceeds the number of names. */
    assert_true(max_n <= NAMES);
    vigil_series_table_fini(&t);
}

static void test_series_remove_oom_changes_nothing_5(void **state)
{
    (void)state;
    for (long fail = 1;; fail++) {
        struct vigil_series_table t;
        tu_alloc_fail_at(0); /* the counting allocator owns every block of the table */
        vigil_series_table_init(&t);
        uint32_t a, b;
        assert_int_equal(intern_name(&t, "eth0", &a), 0);
        assert_int_equal(intern_name(&t, "eth1", &b), 0);
        tu_alloc_fail_at(fail);
        int rc = vigil_series_remove(&t, a);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            vigil_series_table_fini(&t);
            tu_alloc_reset();
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        const char *k = "node_network_receive_bytes_total{device=\"eth0\"}";
        uint32_t id;
        assert_int_equal(vigil_series_find(&t, k, strlen(k), &id), 0);
        assert_int_equal(id, a);
        assert_int_equal(t.n_holes, 0);
        vigil_series_table_fini(&t);
        tu_alloc_reset();
    }
}

/*
 * A series is one block (key, name, labels): its fields read back as given,
 * label values unescaped and sorted by name, and an intern that fails for
 * memory at any allocation leaves the table as it was and nothing allocated.
 */
static void test_series_block_and_intern_oom_5(void **state)
{
    (void)state;
    struct vigil_label_ref l[3] = {{"zone", 4, "a\"b\\c\n", 6},
                                   {"device", 6, "eth0", 4},
                                   {"empty", 5, "", 0}};
    const char *k = "m_total{device=\"eth0\",empty=\"\",zone=\"a\\\"b\\\\c\\n\"}";
    struct vigil_series_table t;
    uint32_t keep, id;
    tu_alloc_fail_at(0); /* how many allocations the table takes before the intern */
    vigil_series_table_init(&t);
    assert_int_equal(intern_name(&t, "eth9", &keep), 0);
    long before = tu_alloc_calls();
    vigil_series_table_fini(&t);
    tu_alloc_reset();
    for (long fail = 1;; fail++) {
        tu_alloc_fail_at(before + fail);
        vigil_series_table_init(&t);
        assert_int_equal(intern_name(&t, "eth9", &keep), 0);
        int rc = vigil_series_intern(&t, "m_total", 7, l, 3, &id);
        if (rc == 0) {
            const struct vigil_series *s = vigil_series_get(&t, id);
            assert_non_null(s);
            assert_string_equal(s->key, k);
            assert_string_equal(s->name, "m_total");
            assert_int_equal(s->n_labels, 3);
            assert_string_equal(s->labels[0].name, "device");
            assert_string_equal(s->labels[2].name, "zone");
            assert_string_equal(s->labels[2].value, "a\"b\\c\n");
            assert_string_equal(vigil_series_label(s, "empty"), "");
            vigil_series_table_fini(&t);
            assert_int_equal(tu_alloc_live(), 0);
            tu_alloc_reset();
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(t.n, 1);
        assert_int_equal(vigil_series_find(&t, k, strlen(k), &id), -ENOENT);
        vigil_series_table_fini(&t);
        assert_int_equal(tu_alloc_live(), 0);
        tu_alloc_reset();
        assert_true(fail < 20);
    }
    /* With an entity, removed, its id taken by a series without labels: nothing leaks. */
    tu_alloc_fail_at(0);
    vigil_series_table_init(&t);
    assert_int_equal(vigil_series_intern(&t, "m_total", 7, l, 3, &id), 0);
    assert_int_equal(vigil_series_set_entity(&t.v[id], "eth0"), 0);
    assert_int_equal(vigil_series_remove(&t, id), 0);
    uint32_t up;
    assert_int_equal(vigil_series_intern(&t, "up", 2, NULL, 0, &up), 0);
    assert_int_equal(up, id);
    assert_string_equal(t.v[up].key, "up");
    assert_string_equal(t.v[up].name, "up");
    assert_null(t.v[up].labels);
    vigil_series_table_fini(&t);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_reset();
}

/*
 * vigil_series_trim: the holes at the end of the ids go (n falls back), a
 * hole below stays for reuse, the arrays shrink to what is left, every live
 * series is still found under its id, and the next new series takes id n.
 */
static void test_series_trim_drops_trailing_holes_5(void **state)
{
    (void)state;
    struct vigil_series_table t;
    vigil_series_table_init(&t);
    uint32_t ids[600];
    char name[96];
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "veth%d", i);
        assert_int_equal(intern_name(&t, name, &ids[i]), 0);
        assert_int_equal(ids[i], (uint32_t)i);
    }
    size_t cap = t.cap, slots = t.n_slots;
    assert_int_equal(vigil_series_trim(&t), 600); /* no trailing hole: nothing to do */
    assert_int_equal(vigil_series_remove(&t, 3), 0); /* a hole below what stays */
    for (int i = 10; i < 600; i++) {
        assert_int_equal(vigil_series_remove(&t, ids[i]), 0);
    }
    assert_int_equal(t.n_holes, 591);
    assert_int_equal(vigil_series_trim(&t), 10);
    assert_int_equal(t.n, 10);
    assert_int_equal(t.n_holes, 1);
    assert_int_equal(t.holes[0], 3);
    assert_true(t.cap < cap / 4);
    assert_true(t.n_slots < slots / 4);
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "node_network_receive_bytes_total{device=\"veth%d\"}", i);
        uint32_t id;
        assert_int_equal(vigil_series_find(&t, name, strlen(name), &id), i == 3 ? -ENOENT : 0);
        if (i != 3) {
            assert_int_equal(id, (uint32_t)i);
        }
    }
    uint32_t id;
    assert_int_equal(intern_name(&t, "new0", &id), 0);
    assert_int_equal(id, 3); /* the hole first */
    assert_int_equal(intern_name(&t, "new1", &id), 0);
    assert_int_equal(id, 10); /* then past the end */
    for (int i = 0; i < 300; i++) { /* and it grows again */
        snprintf(name, sizeof name, "more%d", i);
        assert_int_equal(intern_name(&t, name, &id), 0);
    }
    assert_int_equal(t.n, 311);
    assert_int_equal(vigil_series_find(&t, "node_network_receive_bytes_total{device=\"veth9\"}",
                                       strlen("node_network_receive_bytes_total{device=\"veth9\"}"),
                                       &id),
                     0);
    assert_int_equal(id, 9);
    for (uint32_t i = 0; i < t.n; i++) {
        assert_int_equal(vigil_series_remove(&t, i), 0);
    }
    assert_int_equal(vigil_series_trim(&t), 0);
    assert_int_equal(t.n_holes, 0);
    assert_int_equal(intern_name(&t, "again", &id), 0);
    assert_int_equal(id, 0);
    vigil_series_table_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_remove_reuses_the_hole_5),
        cmocka_unit_test(test_series_remove_random_walk_keeps_index_5),
        cmocka_unit_test(test_series_remove_oom_changes_nothing_5),
        cmocka_unit_test(test_series_block_and_intern_oom_5),
        cmocka_unit_test(test_series_trim_drops_trailing_holes_5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
