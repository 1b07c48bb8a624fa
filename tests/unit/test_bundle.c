/*
 * Bundle tests: train a forest through the chain on a small synthetic frame,
 * save, load and score identically; per-entity parts and their combined
 * columns; a data frame missing a series; and every truncation and every
 * single-byte corruption of a model file refused (or, for bytes no check
 * can see, loaded into a model that still scores) without a crash.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vigil/bundle.h"
#include "vigil/groups.h"
#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/opt.h"
#include "vigil/prep.h"
#include "vigil/recon.h"
#include "vigil/rf.h"
#include "vigil/rng.h"

enum { N = 400 };

/* Two VMs with cpu and net each; class 1 raises vm a's cpu, class 2 vm b's net. */
static void make_frame(struct vigil_frame *fr, uint64_t seed)
{
    static const char *const names[] = {"cpu{vm=\"a\"}", "net{vm=\"a\"}", "cpu{vm=\"b\"}",
                                        "net{vm=\"b\"}"};
    vigil_frame_init(fr);
    for (int j = 0; j < 4; j++) {
        uint32_t col;
        assert_int_equal(vigil_frame_add_col(fr, names[j], strlen(names[j]), &col), 0);
    }
    struct vigil_rng r;
    vigil_rng_seed(&r, seed);
    int32_t *y = vigil_mallocarray(N, sizeof *y);
    assert_non_null(y);
    for (int i = 0; i < N; i++) {
        float *row;
        assert_int_equal(vigil_frame_add_row(fr, (int64_t)i * 1000000000, &row), 0);
        y[i] = i % 10 == 3 ? 1 : (i % 10 == 7 ? 2 : 0);
        for (int j = 0; j < 4; j++) {
            row[j] = (float)vigil_rng_normal(&r);
        }
        row[0] += y[i] == 1 ? 3.0f : 0.0f;
        row[3] += y[i] == 2 ? 3.0f : 0.0f;
    }
    assert_int_equal(vigil_frame_alloc_labels(fr), 0);
    memcpy(fr->y, y, N * sizeof *y);
    vigil_free(y);
    /* Entities from the "vm" label. */
    struct vigil_groups_params gp = {0};
    assert_int_equal(vigil_opt_defaults(vigil_groups_opts, &gp), 0);
    struct vigil_diag d;
    assert_int_equal(vigil_opt_set(vigil_groups_opts, &gp, "entity-labels", "vm", 2, &d), 0);
    struct vigil_groups *g;
    assert_int_equal(vigil_groups_new(&g, &gp, NULL, 0, &d), 0);
    assert_int_equal(vigil_groups_apply(g, &fr->cols), 0);
    vigil_groups_free(g);
    vigil_opt_free(vigil_groups_opts, &gp);
}

static void train_bundle(struct vigil_bundle *b, const struct vigil_frame *fr, int per_entity,
                         struct vigil_frame *feat)
{
    const struct vigil_model_ops *ops = vigil_model_find("rf");
    struct vigil_rf_params p = {0};
    assert_int_equal(vigil_opt_defaults(ops->opts, &p), 0);
    struct vigil_bundle_train_opts o = {.ops = ops, .params = &p, .per_entity = per_entity,
                                        .threads = 2, .options_text = "trees = 10\n"};
    struct vigil_diag d;
    assert_int_equal(vigil_bundle_train(b, &o, fr, feat, &d), 0);
    vigil_opt_free(ops->opts, &p);
}

static void test_roundtrip_single(void **state)
{
    (void)state;
    struct vigil_frame fr, feat;
    struct vigil_bundle b, b2;
    make_frame(&fr, 1);
    vigil_frame_init(&feat);
    train_bundle(&b, &fr, 0, &feat);
    assert_int_equal(b.n_part, 1);
    assert_int_equal(b.n_out, 4);
    assert_string_equal(b.out_names[0], "p_0");
    assert_string_equal(b.out_names[3], "pred");
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/m.vmdl", dir);
    assert_int_equal(vigil_bundle_save(&b, path), 0);
    struct vigil_diag d;
    assert_int_equal(vigil_bundle_load(&b2, path, &d), 0);
    assert_string_equal(b2.options, "trees = 10\n");
    static float o1[N * 4], o2[N * 4];
    assert_int_equal(vigil_bundle_score(&b, feat.x, feat.n, feat.f, o1), 0);
    assert_int_equal(vigil_bundle_score(&b2, feat.x, feat.n, feat.f, o2), 0);
    assert_memory_equal(o1, o2, sizeof o1);
    size_t ok = 0;
    for (int i = 0; i < N; i++) {
        ok += (int32_t)o1[i * 4 + 3] == fr.y[i];
        assert_true(fabsf(o1[i * 4] + o1[i * 4 + 1] + o1[i * 4 + 2] - 1.0f) < 1e-5f);
    }
    assert_true(ok > N * 9 / 10);
    assert_int_equal(vigil_bundle_score(&b2, feat.x, feat.n, feat.f - 1, o2), VIGIL_ESHAPE);
    /* A frame without one of the series is refused by the chain, naming it. */
    struct vigil_frame part, out;
    uint32_t cols[3] = {0, 1, 2};
    vigil_frame_init(&part);
    vigil_frame_init(&out);
    assert_int_equal(vigil_frame_select(&part, &fr, cols, 3), 0);
    assert_int_equal(vigil_prep_apply(b2.prep, &part, &out, &d), VIGIL_ESHAPE);
    assert_non_null(strstr(d.msg, "net{vm=\"b\"}"));
    vigil_frame_fini(&part);
    vigil_frame_fini(&out);
    vigil_bundle_fini(&b2);
    vigil_bundle_fini(&b);
    vigil_frame_fini(&feat);
    vigil_frame_fini(&fr);
}

static void test_per_entity(void **state)
{
    (void)state;
    struct vigil_frame fr, feat;
    struct vigil_bundle b, b2;
    make_frame(&fr, 2);
    vigil_frame_init(&feat);
    train_bundle(&b, &fr, 1, &feat);
    assert_int_equal(b.n_part, 2);
    assert_string_equal(b.part[0].entity, "a");
    assert_string_equal(b.part[1].entity, "b");
    assert_int_equal(b.part[0].n_cols, 2);
    assert_int_equal(b.n_out, 3 + 1 + 2);
    assert_string_equal(b.out_names[4], "anomaly@a");
    char path[512];
    snprintf(path, sizeof path, "%s/pe.vmdl", tu_tmpdir());
    assert_int_equal(vigil_bundle_save(&b, path), 0);
    struct vigil_diag d;
    assert_int_equal(vigil_bundle_load(&b2, path, &d), 0);
    assert_int_equal(b2.per_entity, 1);
    static float o1[N * 6], o2[N * 6];
    assert_int_equal(vigil_bundle_score(&b, feat.x, feat.n, feat.f, o1), 0);
    assert_int_equal(vigil_bundle_score(&b2, feat.x, feat.n, feat.f, o2), 0);
    assert_memory_equal(o1, o2, sizeof o1);
    /* Class 1 shows on vm a, class 2 on vm b: each entity's anomaly column says so. */
    double ea[3] = {0}, eb[3] = {0};
    int cnt[3] = {0};
    for (int i = 0; i < N; i++) {
        const float *o = o1 + i * 6;
        ea[fr.y[i]] += (double)o[4];
        eb[fr.y[i]] += (double)o[5];
        cnt[fr.y[i]]++;
        /* The combined p_0 is the lowest entity's. */
        assert_true(fabsf(1.0f - o[0] - fmaxf(o[4], o[5])) < 1e-6f);
    }
    assert_true(ea[1] / cnt[1] > ea[0] / cnt[0] + 0.3);
    assert_true(eb[2] / cnt[2] > eb[0] / cnt[0] + 0.3);
    vigil_bundle_fini(&b2);
    vigil_bundle_fini(&b);
    vigil_frame_fini(&feat);
    vigil_frame_fini(&fr);
}

static void test_every_truncation_and_byte(void **state)
{
    (void)state;
    struct vigil_frame fr;
    struct vigil_bundle b, b2;
    make_frame(&fr, 3);
    const struct vigil_model_ops *ops = vigil_model_find("rf");
    struct vigil_rf_params p = {0};
    assert_int_equal(vigil_opt_defaults(ops->opts, &p), 0);
    p.trees = 2;
    p.max_depth = 3;
    struct vigil_bundle_train_opts o = {.ops = ops, .params = &p, .threads = 1};
    struct vigil_diag d;
    assert_int_equal(vigil_bundle_train(&b, &o, &fr, NULL, &d), 0);
    vigil_opt_free(ops->opts, &p);
    char path[512];
    snprintf(path, sizeof path, "%s/t.vmdl", tu_tmpdir());
    assert_int_equal(vigil_bundle_save(&b, path), 0);
    char *bytes;
    size_t n;
    assert_int_equal(vigil_read_file(path, 1 << 20, &bytes, &n), 0);
    for (size_t len = 0; len < n; len++) {
        char *c = vigil_malloc(len ? len : 1);
        memcpy(c, bytes, len);
        assert_int_equal(vigil_bundle_decode(&b2, c, len, &d), VIGIL_EFORMAT);
        assert_true(d.msg[0] != '\0');
    }
    /* Flipped bytes: the checksum catches them all. */
    for (size_t i = 0; i < n; i++) {
        char *c = vigil_malloc(n);
        memcpy(c, bytes, n);
        c[i] ^= 0x21;
        assert_int_equal(vigil_bundle_decode(&b2, c, n, &d), VIGIL_EFORMAT);
    }
    /* A container of another kind, or without its sections. */
    struct vigil_buf e;
    vigil_buf_init(&e);
    struct vigil_section s1 = {"prep", "x", 1};
    assert_int_equal(vigil_mfile_encode(&e, "no-such-model", &s1, 1), 0);
    char *c = vigil_malloc(e.len);
    memcpy(c, e.p, e.len);
    assert_int_equal(vigil_bundle_decode(&b2, c, e.len, &d), VIGIL_ENOTSUP);
    assert_non_null(strstr(d.msg, "no-such-model"));
    vigil_buf_reset(&e);
    assert_int_equal(vigil_mfile_encode(&e, "rf", &s1, 1), 0);
    c = vigil_malloc(e.len);
    memcpy(c, e.p, e.len);
    assert_int_equal(vigil_bundle_decode(&b2, c, e.len, &d), VIGIL_EFORMAT);
    assert_non_null(strstr(d.msg, "layout"));
    vigil_buf_fini(&e);
    vigil_free(bytes);
    vigil_bundle_fini(&b);
    vigil_frame_fini(&fr);
}

/* ---- an unsupervised model learning normal from labelled rows ---- */

enum { NC = 300 };

/* Rows 30..39 of every 60 are an incident (labelled 1). */
static int incident(int i)
{
    return i % 60 >= 30 && i % 60 < 40;
}

/* A counter rising 1 or 2 a row, 50 a row during incidents, and a noisy gauge. */
static void make_counter_frame(struct vigil_frame *fr)
{
    static const char *const names[] = {"jobs_total", "load"};
    vigil_frame_init(fr);
    for (int j = 0; j < 2; j++) {
        uint32_t col;
        assert_int_equal(vigil_frame_add_col(fr, names[j], strlen(names[j]), &col), 0);
    }
    fr->cols.v[0].kind = VIGIL_KIND_COUNTER;
    assert_int_equal(vigil_frame_alloc_labels(fr), 0);
    struct vigil_rng r;
    vigil_rng_seed(&r, 7);
    double c = 0;
    for (int i = 0; i < NC; i++) {
        c += incident(i) ? 50 : 1 + (double)vigil_rng_below(&r, 2);
        float *row;
        assert_int_equal(vigil_frame_add_row(fr, (int64_t)i * 1000000000, &row), 0);
        row[0] = (float)c;
        row[1] = (float)(1.0 + 0.1 * vigil_rng_normal(&r));
    }
    for (int i = 0; i < NC; i++) {
        fr->y[i] = incident(i);
    }
}

/*
 * Trains k-means on fr with normal_only as given, scores fr and counts the
 * incident rows and the other rows (the first, with no increase, aside)
 * whose score is above 1.
 */
static void recon_flags(const struct vigil_frame *fr, int normal_only, size_t *inc, size_t *other)
{
    const struct vigil_model_ops *ops = vigil_model_find("kmeans");
    assert_non_null(ops);
    void *p = vigil_calloc(1, ops->params_size);
    assert_non_null(p);
    assert_int_equal(vigil_opt_defaults(ops->opts, p), 0);
    struct vigil_prep_params pp;
    vigil_prep_params_default(&pp);
    pp.normal_only = normal_only;
    struct vigil_bundle_train_opts o = {.ops = ops, .params = p, .prep = &pp, .threads = 1};
    struct vigil_bundle b;
    struct vigil_frame train_feat, feat;
    struct vigil_diag d;
    vigil_frame_init(&train_feat);
    vigil_frame_init(&feat);
    assert_int_equal(vigil_bundle_train(&b, &o, fr, &train_feat, &d), 0);
    /* Incident rows are left out of the fit (NaN), the others are not. */
    for (size_t i = 1; i < train_feat.n; i++) {
        assert_int_equal(isnan(vigil_frame_row(&train_feat, i)[0]) != 0,
                         normal_only && incident((int)i));
    }
    assert_int_equal(vigil_prep_apply(b.prep, fr, &feat, &d), 0);
    float *out = vigil_mallocarray(feat.n * b.n_out, sizeof *out);
    assert_non_null(out);
    assert_int_equal(vigil_bundle_score(&b, feat.x, feat.n, feat.f, out), 0);
    *inc = *other = 0;
    for (size_t i = 1; i < feat.n; i++) {
        if (out[i * b.n_out] > 1.0f) {
            ++*(incident((int)i) ? inc : other);
        }
    }
    vigil_free(out);
    vigil_frame_fini(&feat);
    vigil_frame_fini(&train_feat);
    vigil_bundle_fini(&b);
    vigil_opt_free(ops->opts, p);
    vigil_free(p);
}

static void test_unsupervised_learns_from_rows_labelled_normal(void **state)
{
    (void)state;
    struct vigil_frame fr;
    make_counter_frame(&fr);
    size_t inc, other;
    /* Normal learnt from the rows labelled 0: every incident row is above its threshold. */
    recon_flags(&fr, 1, &inc, &other);
    assert_int_equal(inc, 50);
    assert_true(other <= NC / 50);
    /* Learnt from every row, the incidents set the scaling and the threshold: most pass. */
    recon_flags(&fr, 0, &inc, &other);
    assert_true(inc < 25);
    /* With no row labelled 0 there is nothing to learn normal from, and training says so. */
    for (size_t i = 0; i < fr.n; i++) {
        fr.y[i] = 1;
    }
    const struct vigil_model_ops *ops = vigil_model_find("kmeans");
    void *p = vigil_calloc(1, ops->params_size);
    assert_non_null(p);
    assert_int_equal(vigil_opt_defaults(ops->opts, p), 0);
    struct vigil_prep_params pp;
    vigil_prep_params_default(&pp);
    pp.normal_only = 1;
    struct vigil_bundle_train_opts o = {.ops = ops, .params = p, .prep = &pp, .threads = 1};
    struct vigil_bundle b;
    struct vigil_diag d;
    assert_int_equal(vigil_bundle_train(&b, &o, &fr, NULL, &d), VIGIL_EEMPTY);
    assert_non_null(strstr(d.msg, "labelled 0"));
    vigil_opt_free(ops->opts, p);
    vigil_free(p);
    vigil_frame_fini(&fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_single),
        cmocka_unit_test(test_per_entity),
        cmocka_unit_test(test_every_truncation_and_byte),
        cmocka_unit_test(test_unsupervised_learns_from_rows_labelled_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
