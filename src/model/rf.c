/*
 * Random Forest classifier (model "rf"): CART trees grown depth-first on
 * bootstrap samples, a random subset of max_features features tried at every
 * node (Breiman 2001), Gini or entropy impurity, leaves holding the class
 * distribution, and class probabilities averaged over the trees (sklearn's
 * RandomForestClassifier.predict_proba). It does not do regression, missing-
 * value surrogates or out-of-bag scoring.
 *
 * Speed comes from two things. (1) Large nodes are split on histograms: every
 * feature is cut once, before any tree, into at most `bins` bins at quantiles
 * of its distinct values (a feature with fewer distinct values than bins gets
 * one bin per value, so its splits are exactly CART's), and a node of n rows
 * costs one O(n) pass per tried feature plus a scan of the bins, instead of a
 * sort. Nodes with fewer rows than an eighth of the bin count are split
 * exactly: their rows are sorted by value and every midpoint between
 * distinct values is tried, as CART does. bins = 0 makes every split exact. (2) Trees are grown in
 * parallel by pthreads; tree k draws only from vigil_rng_split(seed, k) and
 * the trees are concatenated in index order, so the model bytes do not
 * depend on the thread count. (3) Batch scoring walks a block of rows
 * through each tree level by level: a complete heap over the top levels
 * (no leaf test, children at 2i+1 and 2i+2), then passes over the rows still
 * inside the tree; their loads are independent, so the CPU overlaps them.
 * On CPUs with AVX-512F (checked at run time) the same walk takes 16 rows a
 * vector with gathers. The result is bit-identical to the plain
 * one-row-at-a-time walk.
 *
 * Missing values (NaN) always go to the right child: the test is
 * x <= threshold, in training and in prediction alike.
 *
 * Dimension letters: N rows, F features, C classes, K trees, B bins.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "internal.h"
#include "vigil/eval.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/rf.h"
#include "vigil/rng.h"

#define RF_FORMAT_VERSION 1
#define RF_MAX_CLASSES 4096
#define RF_MAX_FEATURES (1u << 24)
#define RF_MAX_TREES 100000
#define RF_MAX_BINS 256

/* ---- options ---- */

static const char *const criterion_names[] = {"gini", "entropy", NULL};
static const char *const class_weight_names[] = {"none", "balanced", NULL};

static const struct vigil_opt rf_opts[] = {
    {"trees", VIGIL_OPT_INT, offsetof(struct vigil_rf_params, trees), "10", 1, RF_MAX_TREES,
     "number of trees (K)", NULL},
    {"criterion", VIGIL_OPT_ENUM, offsetof(struct vigil_rf_params, criterion), "gini", 0, 0,
     "split impurity", criterion_names},
    {"max-depth", VIGIL_OPT_INT, offsetof(struct vigil_rf_params, max_depth), "0", 0, 100000,
     "maximum tree depth; 0 = until leaves are pure", NULL},
    {"min-samples-split", VIGIL_OPT_INT, offsetof(struct vigil_rf_params, min_samples_split), "2",
     2, 1e9, "rows a node needs to be split", NULL},
    {"min-samples-leaf", VIGIL_OPT_INT, offsetof(struct vigil_rf_params, min_samples_leaf), "1", 1,
     1e9, "rows each child must keep", NULL},
    {"max-features", VIGIL_OPT_STR, offsetof(struct vigil_rf_params, max_features), "sqrt", 0, 0,
     "features tried per node: sqrt, log2, all, a count or a fraction in (0,1]", NULL},
    {"bootstrap", VIGIL_OPT_BOOL, offsetof(struct vigil_rf_params, bootstrap), "true", 0, 0,
     "each tree sees N rows drawn with replacement", NULL},
    {"class-weight", VIGIL_OPT_ENUM, offsetof(struct vigil_rf_params, class_weight), "none", 0, 0,
     "balanced weighs each class by n / (classes * rows of that class)", class_weight_names},
    {"bins", VIGIL_OPT_INT, offsetof(struct vigil_rf_params, bins), "256", 0, RF_MAX_BINS,
     "histogram bins for large nodes (2..256); 0 = exact splits everywhere", NULL},
    {"seed", VIGIL_OPT_INT, offsetof(struct vigil_rf_params, seed), "1", 0, 2147483647,
     "random seed; the same seed and data give the same model", NULL},
    {"threads", VIGIL_OPT_INT, offsetof(struct vigil_rf_params, threads), "0", 0, 1024,
     "training threads; 0 = the caller's --threads", NULL},
    {0},
};

/* Parses max_features into a count for F features; 0 when the text is invalid. */
static size_t parse_max_features(const char *s, size_t f)
{
    if (!s || strcmp(s, "sqrt") == 0) {
        size_t k = (size_t)sqrt((double)f);
        return k ? k : 1;
    }
    if (strcmp(s, "log2") == 0) {
        size_t k = f ? (size_t)log2((double)f) : 0;
        return k ? k : 1;
    }
    if (strcmp(s, "all") == 0) {
        return f ? f : 1;
    }
    char *end;
    errno = 0;
    if (strchr(s, '.')) {
        double v = strtod(s, &end);
        if (*end || errno || !(v > 0.0 && v <= 1.0)) {
            return 0;
        }
        size_t k = (size_t)(v * (double)f);
        return k ? k : 1;
    }
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end || errno || v < 1) {
        return 0;
    }
    return (size_t)v < f || f == 0 ? (size_t)v : f;
}

static const char *rf_check(const void *params)
{
    const struct vigil_rf_params *p = params;
    if (p->trees < 1 || p->trees > RF_MAX_TREES) {
        return "trees must be in [1, 100000]";
    }
    if (p->criterion != VIGIL_RF_GINI && p->criterion != VIGIL_RF_ENTROPY) {
        return "criterion must be gini or entropy";
    }
    if (p->max_depth < 0) {
        return "max-depth must be >= 0";
    }
    if (p->min_samples_split < 2) {
        return "min-samples-split must be >= 2";
    }
    if (p->min_samples_leaf < 1) {
        return "min-samples-leaf must be >= 1";
    }
    if (parse_max_features(p->max_features, 1000) == 0) {
        return "max-features must be sqrt, log2, all, a count >= 1 or a fraction in (0,1]";
    }
    if (p->class_weight != VIGIL_RF_CW_NONE && p->class_weight != VIGIL_RF_CW_BALANCED) {
        return "class-weight must be none or balanced";
    }
    if (p->bins == 1 || p->bins < 0 || p->bins > RF_MAX_BINS) {
        return "bins must be 0 (exact) or in [2, 256]";
    }
    if (p->threads < 0) {
        return "threads must be >= 0";
    }
    return NULL;
}

/* ---- the fitted forest ---- */

/*
 * One node, 12 bytes. A split sends x[feat] <= thr to node a and everything
 * else (NaN included) to node a + 1; children always come after their parent,
 * so a walk cannot loop. A leaf has feat = -1 and a = its row in the tree's
 * leaf table.
 */
struct rf_node {
    float thr;
    int32_t feat;
    uint32_t a;
};

struct rf_tree {
    size_t node_off;  /* first node in ctx->nodes */
    size_t n_nodes;
    size_t leaf_off;  /* first leaf row in ctx->leaf */
    size_t n_leaves;
    uint32_t depth;   /* deepest leaf; bounds the prediction loop */
};

/*
 * Batch scoring (derived from the nodes at fit and load, never saved) walks
 * each tree in two parts. The top levels are a complete heap (slot i's
 * children are slots 2i+1 and 2i+2) walked level by level without a leaf
 * test: a leaf above the heap's last level becomes slots that always go right
 * (threshold NaN: x <= NaN is false) and end at that leaf, and exit maps the
 * 2^d last-level slots to the tree nodes where the walk goes on. Below, the
 * nodes are copied with each leaf looping on itself (a + 1 = its own index)
 * and a live flag, so a pass over the rows still inside the tree needs no
 * branch either.
 */
struct rf_hnode {
    float thr;
    uint32_t feat;
};

struct rf_top {
    uint32_t d;         /* heap levels, 0 = the root is a leaf */
    struct rf_hnode *h; /* (2^d - 1) */
    uint32_t *exit;     /* (2^d) node ids */
};

struct rf_lnode {
    float thr;
    uint32_t feat;
    uint32_t a;    /* children a and a + 1; a leaf: a + 1 = its own index */
    uint32_t live; /* bit 0: a split (0 on a leaf); bits 1, 2: child a, a + 1 is a leaf */
};

/*
 * A split packed in 8 bytes for the AVX-512 walk (one 64-bit gather a step):
 * w = a << (cfb + 2) | (child a + 1 is a leaf) << (cfb + 1) | (child a is a
 * leaf) << cfb | feat. Built when the widest tree's node ids and the feature
 * ids fit in 30 bits together; leaves are never read.
 */
struct rf_cnode {
    float thr;
    uint32_t w;
};

struct rf_ctx {
    struct vigil_rf_params p; /* max_features owned */
    size_t f, c, k;           /* features, classes, trees; k = 0 before fit */
    struct rf_tree *trees;    /* (K) */
    struct rf_node *nodes;    /* all trees' nodes */
    size_t n_nodes;
    float *leaf;              /* (leaves, C) class probabilities */
    size_t n_leaves;
    double *imp;              /* (F) impurity importances, sum 1 (or all 0) */
    char *names;              /* (C, 16) "p_<class>" */
    struct rf_top *top;       /* (K) heaps over the trees' top levels */
    void *top_mem;            /* one block holding every heap and exit table */
    struct rf_lnode *loop;    /* (n_nodes) the nodes, leaves looping on themselves */
    struct rf_cnode *cnode;   /* (n_nodes) the splits packed for the SIMD walk, or NULL */
    uint32_t cfb;             /* feature bits in rf_cnode.w */
    uint32_t cnb;             /* node id bits of the widest tree */
};

static int build_tops(struct rf_ctx *c);

static void ctx_clear_fit(struct rf_ctx *c)
{
    vigil_free(c->trees);
    vigil_free(c->nodes);
    vigil_free(c->leaf);
    vigil_free(c->imp);
    vigil_free(c->names);
    vigil_free(c->top);
    vigil_free(c->top_mem);
    vigil_free(c->loop);
    vigil_free(c->cnode);
    c->loop = NULL;
    c->cnode = NULL;
    c->top = NULL;
    c->top_mem = NULL;
    c->trees = NULL;
    c->nodes = NULL;
    c->leaf = NULL;
    c->imp = NULL;
    c->names = NULL;
    c->f = c->c = c->k = c->n_nodes = c->n_leaves = 0;
}

static int make_names(struct rf_ctx *c)
{
    c->names = vigil_mallocarray(c->c, 16);
    if (!c->names) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < c->c; j++) {
        snprintf(c->names + j * 16, 16, "p_%u", (unsigned)j);
    }
    return 0;
}

static int rf_init(struct vigil_model *m, const void *params)
{
    struct rf_ctx *c = vigil_calloc(1, sizeof *c);
    if (!c) {
        return -ENOMEM;
    }
    memcpy(&c->p, params, sizeof c->p);
    c->p.max_features = vigil_strdup(c->p.max_features ? c->p.max_features : "sqrt");
    if (!c->p.max_features) {
        vigil_free(c);
        return -ENOMEM;
    }
    m->ctx = c;
    return 0;
}

static void rf_fini(struct vigil_model *m)
{
    struct rf_ctx *c = m->ctx;
    if (!c) {
        return;
    }
    ctx_clear_fit(c);
    vigil_free(c->p.max_features);
    vigil_free(c);
    m->ctx = NULL;
}

/* ---- sorting: (order-preserving float key << 32 | row) pairs ---- */

/* Maps a float to a uint32 with the same order; -0 equals +0, every NaN sorts last. */
static inline uint32_t fkey(float v)
{
    if (v != v) {
        return 0xffffffffu;
    }
    if (v == 0.0f) {
        v = 0.0f;
    }
    uint32_t u;
    memcpy(&u, &v, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float fkey_value(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static void insertion_sort(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* Quicksort that recurses into the smaller part only: depth <= log2(n). */
static void quick_sort(uint64_t *a, size_t n)
{
    while (n > 32) {
        uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
        uint64_t piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < piv) {
                i++;
            }
            while (a[j] > piv) {
                j--;
            }
            if (i >= j) {
                break;
            }
            uint64_t t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
            j--;
        }
        size_t left = j + 1;
        if (left < n - left) {
            quick_sort(a, left);
            a += left;
            n -= left;
        } else {
            quick_sort(a + left, n - left);
            n = left;
        }
    }
    insertion_sort(a, n);
}

/*
 * Sorts by the high 32 bits (the value key); rows with equal keys keep their
 * gathered order (LSD radix, 3 x 11 bits) or their row order (quicksort on
 * the whole word). Either way the order is a function of the input only.
 * tmp holds n entries.
 */
static void sort_keys(uint64_t *a, uint64_t *tmp, size_t n)
{
    if (n < 512) {
        quick_sort(a, n);
        return;
    }
    uint32_t hist[3][2048];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(a[i] >> 32);
        hist[0][k & 2047]++;
        hist[1][(k >> 11) & 2047]++;
        hist[2][k >> 22]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int pass = 0; pass < 3; pass++) {
        int shift = 32 + 11 * pass;
        uint32_t *h = hist[pass];
        uint32_t first = (uint32_t)((src[0] >> shift) & 2047);
        if (h[first] == n) {
            continue; /* every key shares this digit */
        }
        uint32_t sum = 0;
        for (int d = 0; d < 2048; d++) {
            uint32_t t = h[d];
            h[d] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++) {
            dst[h[(src[i] >> shift) & 2047]++] = src[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) {
        memcpy(a, src, n * sizeof *a);
    }
}

/* The CART threshold between two adjacent distinct values lo < hi (hi may be NaN). */
static float midpoint(float lo, float hi)
{
    if (hi != hi) {
        return lo;
    }
    float mid = (float)((double)lo * 0.5 + (double)hi * 0.5);
    if (!(mid < hi) || mid < lo) {
        mid = lo; /* adjacent floats or infinities */
    }
    return mid;
}

/* ---- a small pool: items 0..n-1 over T threads, each with its own scratch ---- */

struct pool {
    void *shared;
    size_t n;
    atomic_size_t next;
    atomic_int rc;
    int (*scratch_new)(void *shared, void **s);
    void (*scratch_free)(void *s);
    int (*item)(void *shared, void *s, size_t i);
};

static void *pool_worker(void *arg)
{
    struct pool *pl = arg;
    void *s = NULL;
    int rc = pl->scratch_new(pl->shared, &s);
    if (rc) {
        int zero = 0;
        atomic_compare_exchange_strong(&pl->rc, &zero, rc);
        return NULL;
    }
    for (;;) {
        if (atomic_load(&pl->rc)) {
            break;
        }
        size_t i = atomic_fetch_add(&pl->next, 1);
        if (i >= pl->n) {
            break;
        }
        rc = pl->item(pl->shared, s, i);
        if (rc) {
            int zero = 0;
            atomic_compare_exchange_strong(&pl->rc, &zero, rc);
            break;
        }
    }
    pl->scratch_free(s);
    return NULL;
}

static int pool_run(struct pool *pl, int threads)
{
    atomic_init(&pl->next, 0);
    atomic_init(&pl->rc, 0);
    size_t t = threads < 1 ? 1 : (size_t)threads;
    if (t > pl->n) {
        t = pl->n ? pl->n : 1;
    }
    pthread_t tid[64];
    if (t > 64) {
        t = 64;
    }
    size_t started = 0;
    for (size_t i = 1; i < t; i++) {
        if (pthread_create(&tid[i], NULL, pool_worker, pl) != 0) {
            break;
        }
        started = i;
    }
    pool_worker(pl); /* the calling thread works too */
    for (size_t i = 1; i <= started; i++) {
        pthread_join(tid[i], NULL);
    }
    return atomic_load(&pl->rc);
}

/* ---- training data shared by all workers (read-only while trees grow) ---- */

struct train {
    const struct vigil_rf_params *p;
    size_t n, f, c, mtry;
    float *xc;         /* (F,N) column-major copy of x */
    uint8_t *xb;       /* (F,N) bin codes, NULL when bins == 0 */
    float *edges;      /* (F,B-1) upper edge of each bin but the last */
    uint16_t *nb;      /* (F) bins used by each feature (1 = constant) */
    const int32_t *y;  /* (N) */
    double *cw;        /* (C) class weights */
    struct vigil_rng root;
    struct tree_out *out; /* (K) */
};

struct tree_out {
    struct rf_node *nodes;
    size_t n_nodes, cap_nodes;
    float *leaf; /* (n_leaves, C) */
    size_t n_leaves, cap_leaves;
    double *imp; /* (F) */
    uint32_t depth;
};

/* ---- binning (once per fit, features in parallel) ---- */

struct bin_scratch {
    uint64_t *keys, *tmp;
};

static int bin_scratch_new(void *shared, void **s)
{
    const struct train *tr = shared;
    struct bin_scratch *b = vigil_calloc(1, sizeof *b);
    if (!b) {
        return -ENOMEM;
    }
    b->keys = vigil_mallocarray(tr->n, sizeof *b->keys);
    b->tmp = vigil_mallocarray(tr->n, sizeof *b->tmp);
    if (!b->keys || !b->tmp) {
        vigil_free(b->keys);
        vigil_free(b->tmp);
        vigil_free(b);
        return -ENOMEM;
    }
    *s = b;
    return 0;
}

static void bin_scratch_free(void *s)
{
    struct bin_scratch *b = s;
    if (b) {
        vigil_free(b->keys);
        vigil_free(b->tmp);
        vigil_free(b);
    }
}

/*
 * Cuts feature j into at most p->bins bins. Edges sit at midpoints between
 * adjacent distinct values, at the quantiles of the rows (or between every
 * pair of distinct values when there are few), so x <= edge[b] exactly when
 * code(x) <= b. NaN gets the last code.
 */
static int bin_feature(void *shared, void *scratch, size_t j)
{
    struct train *tr = shared;
    struct bin_scratch *s = scratch;
    size_t n = tr->n, maxb = (size_t)tr->p->bins;
    const float *col = tr->xc + j * n;
    for (size_t i = 0; i < n; i++) {
        s->keys[i] = ((uint64_t)fkey(col[i]) << 32) | i;
    }
    sort_keys(s->keys, s->tmp, n);
    size_t distinct = 1;
    for (size_t i = 1; i < n; i++) {
        distinct += (s->keys[i] >> 32) != (s->keys[i - 1] >> 32);
    }
    float *edge = tr->edges + j * (RF_MAX_BINS - 1);
    size_t ne = 0;
    if (distinct <= maxb) {
        for (size_t i = 1; i < n; i++) {
            uint32_t a = (uint32_t)(s->keys[i - 1] >> 32), b = (uint32_t)(s->keys[i] >> 32);
            if (a != b) {
                edge[ne++] = midpoint(fkey_value(a), b == 0xffffffffu ? NAN : fkey_value(b));
            }
        }
    } else {
        size_t i = 0; /* cursor: first row of the next bin */
        for (size_t q = 1; q < maxb && ne < maxb - 1; q++) {
            size_t pos = q * n / maxb;
            if (pos <= i) {
                continue;
            }
            /* Move to the first row whose value differs from row pos - 1. */
            uint32_t a = (uint32_t)(s->keys[pos - 1] >> 32);
            size_t k = pos;
            while (k < n && (uint32_t)(s->keys[k] >> 32) == a) {
                k++;
            }
            if (k >= n) {
                break;
            }
            uint32_t b = (uint32_t)(s->keys[k] >> 32);
            edge[ne++] = midpoint(fkey_value(a), b == 0xffffffffu ? NAN : fkey_value(b));
            i = k;
        }
    }
    tr->nb[j] = (uint16_t)(ne + 1);
    /* Codes by walking the sorted rows: the bin grows when a value passes its edge. */
    uint8_t *code = tr->xb + j * n;
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(s->keys[i] >> 32);
        float v = k == 0xffffffffu ? NAN : fkey_value(k);
        while (b < ne && !(v <= edge[b])) {
            b++;
        }
        code[(uint32_t)s->keys[i]] = (uint8_t)b;
    }
    return 0;
}

/* ---- growing one tree ---- */

struct sample {
    float w;   /* bootstrap count times class weight */
    int32_t y; /* class */
};

struct frame_entry {
    uint32_t start, end, depth, node;
};

struct grow {
    const struct train *tr;
    uint32_t *idx;        /* (N) rows of the current tree, partitioned by node */
    struct sample *smp;   /* (N) weight and class of row idx[k], kept aligned with idx */
    uint32_t *cnt;        /* (N) bootstrap counts */
    uint64_t *keys, *tmp; /* (N) exact-split sort buffers */
    double *hw;           /* (B,C) histogram of weights */
    uint32_t *hn;         /* (B) rows per bin */
    uint32_t *perm;       /* (F) feature order */
    double *lsum;         /* (C) scan accumulator */
    double *nt, *lt, *rt; /* (C) class totals of the node and its children */
    struct frame_entry *stack;
    double *stack_tot;    /* (cap, C) class totals of each stack entry */
    size_t cap;
};

struct split {
    int32_t feat;
    float thr;
    double proxy;
};

static void grow_scratch_free(void *s);

static int grow_scratch_new(void *shared, void **s)
{
    const struct train *tr = shared;
    struct grow *g = vigil_calloc(1, sizeof *g);
    if (!g) {
        return -ENOMEM;
    }
    g->tr = tr;
    size_t n = tr->n, c = tr->c;
    g->idx = vigil_mallocarray(n, sizeof *g->idx);
    g->smp = vigil_mallocarray(n, sizeof *g->smp);
    g->cnt = vigil_mallocarray(n, sizeof *g->cnt);
    g->keys = vigil_mallocarray(n, sizeof *g->keys);
    g->tmp = vigil_mallocarray(n, sizeof *g->tmp);
    g->hw = vigil_mallocarray((size_t)RF_MAX_BINS * c, sizeof *g->hw);
    g->hn = vigil_mallocarray(RF_MAX_BINS, sizeof *g->hn);
    g->perm = vigil_mallocarray(tr->f, sizeof *g->perm);
    g->lsum = vigil_mallocarray(c, sizeof *g->lsum);
    g->nt = vigil_mallocarray(3 * c, sizeof *g->nt);
    g->cap = 64;
    g->stack = vigil_mallocarray(g->cap, sizeof *g->stack);
    g->stack_tot = vigil_mallocarray(g->cap * c, sizeof *g->stack_tot);
    if (!g->idx || !g->smp || !g->cnt || !g->keys || !g->tmp || !g->hw || !g->hn || !g->perm ||
        !g->lsum || !g->nt || !g->stack || !g->stack_tot) {
        grow_scratch_free(g);
        return -ENOMEM;
    }
    g->lt = g->nt + c;
    g->rt = g->nt + 2 * c;
    *s = g;
    return 0;
}

static void grow_scratch_free(void *s)
{
    struct grow *g = s;
    if (!g) {
        return;
    }
    vigil_free(g->idx);
    vigil_free(g->smp);
    vigil_free(g->cnt);
    vigil_free(g->keys);
    vigil_free(g->tmp);
    vigil_free(g->hw);
    vigil_free(g->hn);
    vigil_free(g->perm);
    vigil_free(g->lsum);
    vigil_free(g->nt);
    vigil_free(g->stack);
    vigil_free(g->stack_tot);
    vigil_free(g);
}

/* Impurity of a node with class weights t (C) summing to w. */
static double impurity(int crit, const double *t, size_t c, double w)
{
    if (w <= 0) {
        return 0;
    }
    double s = 0;
    if (crit == VIGIL_RF_GINI) {
        for (size_t j = 0; j < c; j++) {
            s += t[j] * t[j];
        }
        return 1.0 - s / (w * w);
    }
    for (size_t j = 0; j < c; j++) {
        if (t[j] > 0) {
            double q = t[j] / w;
            s -= q * log2(q);
        }
    }
    return s;
}

/*
 * The quantity CART maximizes, up to a constant: minus the weighted child
 * impurities. Gini: sum L_c^2 / wL + sum R_c^2 / wR. Entropy (nats):
 * sum L_c ln L_c - wL ln wL + the same for the right side.
 */
static inline double proxy_of(int crit, const double *l, const double *tot, size_t c, double wl,
                              double w)
{
    double wr = w - wl;
    if (crit == VIGIL_RF_GINI) {
        double sl = 0, sr = 0;
        for (size_t j = 0; j < c; j++) {
            double r = tot[j] - l[j];
            sl += l[j] * l[j];
            sr += r * r;
        }
        return sl / wl + sr / wr;
    }
    double s = -wl * log(wl) - wr * log(wr);
    for (size_t j = 0; j < c; j++) {
        double r = tot[j] - l[j];
        if (l[j] > 0) {
            s += l[j] * log(l[j]);
        }
        if (r > 0) {
            s += r * log(r);
        }
    }
    return s;
}

/*
 * A node of `rows` rows is split on the histogram of a feature with nb bins
 * when rows >= nb / 8, else exactly (sorted). The histogram costs about
 * rows + 3 nb operations, the sort about 5 rows log2(rows); 1/8 was the
 * fastest crossover on 10,240 x 64 (docs/perf.md) with the same test AUC.
 */
static inline int use_hist(size_t rows, size_t nb)
{
    return rows * 8 >= nb;
}

/* Histogram split of rows [start,end) on feature f. Returns 0 when constant here. */
static int split_hist(struct grow *g, uint32_t start, uint32_t end, const double *tot, double w,
                      int32_t f, struct split *best)
{
    const struct train *tr = g->tr;
    size_t c = tr->c, nb = tr->nb[f];
    uint32_t msl = (uint32_t)tr->p->min_samples_leaf, n = end - start;
    memset(g->hn, 0, nb * sizeof *g->hn);
    memset(g->hw, 0, nb * c * sizeof *g->hw);
    const uint8_t *code = tr->xb + (size_t)f * tr->n;
    const uint32_t *idx = g->idx;
    const struct sample *smp = g->smp;
    double *hw = g->hw;
    uint32_t *hn = g->hn;
    for (uint32_t k = start; k < end; k++) {
        uint32_t s = idx[k];
        uint32_t b = code[s];
        hn[b]++;
        hw[b * c + (size_t)smp[k].y] += (double)smp[k].w;
    }
    size_t lo = 0, hi = nb - 1;
    while (hn[lo] == 0) {
        lo++;
    }
    while (hn[hi] == 0) {
        hi--;
    }
    if (lo == hi) {
        return 0;
    }
    double *l = g->lsum;
    memset(l, 0, c * sizeof *l);
    double wl = 0;
    uint32_t nl = 0;
    int crit = tr->p->criterion;
    const float *edge = tr->edges + (size_t)f * (RF_MAX_BINS - 1);
    for (size_t b = lo; b < hi; b++) {
        if (hn[b] == 0) {
            continue;
        }
        for (size_t j = 0; j < c; j++) {
            l[j] += hw[b * c + j];
            wl += hw[b * c + j];
        }
        nl += hn[b];
        if (nl < msl) {
            continue;
        }
        if (n - nl < msl) {
            break;
        }
        double pr = proxy_of(crit, l, tot, c, wl, w);
        if (pr > best->proxy) {
            /* The threshold goes in the middle of the run of empty bins. */
            size_t b2 = b + 1;
            while (hn[b2] == 0) {
                b2++;
            }
            best->proxy = pr;
            best->feat = f;
            best->thr = edge[(b + b2 - 1) / 2];
        }
    }
    return 1;
}

/* Exact split of rows [start,end) on feature f. Returns 0 when constant here. */
static int split_exact(struct grow *g, uint32_t start, uint32_t end, const double *tot, double w,
                       int32_t f, struct split *best)
{
    const struct train *tr = g->tr;
    size_t c = tr->c;
    uint32_t msl = (uint32_t)tr->p->min_samples_leaf, n = end - start;
    const float *col = tr->xc + (size_t)f * tr->n;
    uint64_t *keys = g->keys;
    /* Low bits: the position k, so the sample's weight and class are smp[k]. */
    for (uint32_t k = start; k < end; k++) {
        keys[k - start] = ((uint64_t)fkey(col[g->idx[k]]) << 32) | k;
    }
    sort_keys(keys, g->tmp, n);
    if ((keys[0] >> 32) == (keys[n - 1] >> 32)) {
        return 0;
    }
    double *l = g->lsum;
    memset(l, 0, c * sizeof *l);
    double wl = 0;
    int crit = tr->p->criterion;
    for (uint32_t i = 0; i + 1 < n; i++) {
        const struct sample *sp = &g->smp[(uint32_t)keys[i]];
        l[sp->y] += (double)sp->w;
        wl += (double)sp->w;
        uint32_t a = (uint32_t)(keys[i] >> 32), b = (uint32_t)(keys[i + 1] >> 32);
        if (a == b || i + 1 < msl) {
            continue;
        }
        if (n - (i + 1) < msl) {
            break;
        }
        double pr = proxy_of(crit, l, tot, c, wl, w);
        if (pr > best->proxy) {
            best->proxy = pr;
            best->feat = f;
            best->thr = midpoint(fkey_value(a), b == 0xffffffffu ? NAN : fkey_value(b));
        }
    }
    return 1;
}

static int push_node(struct tree_out *o, struct rf_node nd)
{
    if (o->n_nodes == o->cap_nodes) {
        size_t cap = o->cap_nodes ? 2 * o->cap_nodes : 256;
        struct rf_node *p = vigil_realloc(o->nodes, cap * sizeof *p);
        if (!p) {
            return -ENOMEM;
        }
        o->nodes = p;
        o->cap_nodes = cap;
    }
    o->nodes[o->n_nodes++] = nd;
    return 0;
}

static int make_leaf(struct tree_out *o, size_t node, const double *tot, size_t c, double w)
{
    if (o->n_leaves == o->cap_leaves) {
        size_t cap = o->cap_leaves ? 2 * o->cap_leaves : 128;
        float *p = vigil_realloc(o->leaf, cap * c * sizeof *p);
        if (!p) {
            return -ENOMEM;
        }
        o->leaf = p;
        o->cap_leaves = cap;
    }
    float *v = o->leaf + o->n_leaves * c;
    for (size_t j = 0; j < c; j++) {
        v[j] = w > 0 ? (float)(tot[j] / w) : 0.0f;
    }
    o->nodes[node] = (struct rf_node){0.0f, -1, (uint32_t)o->n_leaves};
    o->n_leaves++;
    return 0;
}

static int stack_reserve(struct grow *g, size_t need)
{
    if (need <= g->cap) {
        return 0;
    }
    size_t cap = 2 * g->cap;
    struct frame_entry *s = vigil_realloc(g->stack, cap * sizeof *s);
    if (!s) {
        return -ENOMEM;
    }
    g->stack = s;
    double *t = vigil_realloc(g->stack_tot, cap * g->tr->c * sizeof *t);
    if (!t) {
        return -ENOMEM;
    }
    g->stack_tot = t;
    g->cap = cap;
    return 0;
}

static int grow_tree(void *shared, void *scratch, size_t t)
{
    struct train *tr = shared;
    struct grow *g = scratch;
    struct tree_out *o = &tr->out[t];
    const struct vigil_rf_params *p = tr->p;
    size_t n = tr->n, c = tr->c, f = tr->f;
    struct vigil_rng rng;
    vigil_rng_split(&tr->root, t, &rng);

    /* Bootstrap: N draws with replacement become per-row counts (sklearn's scheme). */
    if (p->bootstrap) {
        memset(g->cnt, 0, n * sizeof *g->cnt);
        for (size_t i = 0; i < n; i++) {
            g->cnt[vigil_rng_below(&rng, n)]++;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            g->cnt[i] = 1;
        }
    }
    uint32_t m = 0;
    double *tot = g->stack_tot;
    memset(tot, 0, c * sizeof *tot);
    for (size_t i = 0; i < n; i++) {
        if (g->cnt[i]) {
            float w = (float)((double)g->cnt[i] * tr->cw[tr->y[i]]);
            g->smp[m] = (struct sample){w, tr->y[i]};
            g->idx[m++] = (uint32_t)i;
            tot[tr->y[i]] += (double)w;
        }
    }
    for (size_t j = 0; j < f; j++) {
        g->perm[j] = (uint32_t)j;
    }
    o->imp = vigil_calloc(f, sizeof *o->imp);
    if (!o->imp || push_node(o, (struct rf_node){0}) != 0) {
        return -ENOMEM;
    }
    g->stack[0] = (struct frame_entry){0, m, 0, 0};
    size_t sp = 1;
    uint32_t msl = (uint32_t)p->min_samples_leaf, mss = (uint32_t)p->min_samples_split;
    double *nt = g->nt, *lt = g->lt, *rt = g->rt;
    while (sp > 0) {
        sp--;
        struct frame_entry e = g->stack[sp];
        /* Copy the totals out of the stack slot: the children reuse it. */
        memcpy(nt, g->stack_tot + sp * c, c * sizeof *nt);
        uint32_t rows = e.end - e.start;
        double w = 0;
        size_t present = 0;
        for (size_t j = 0; j < c; j++) {
            w += nt[j];
            present += nt[j] > 0;
        }
        if (e.depth > o->depth) {
            o->depth = e.depth;
        }
        struct split best = {-1, 0.0f, (-(double)INFINITY)};
        int leaf = rows < mss || rows < 2 * msl || present <= 1 ||
                   (p->max_depth > 0 && e.depth >= (uint32_t)p->max_depth);
        if (!leaf) {
            /* sklearn's rule: draw features without replacement until mtry non-constant
             * ones were tried or all were drawn. */
            size_t tried = 0;
            for (size_t j = 0; j < f && tried < tr->mtry; j++) {
                size_t r = j + (size_t)vigil_rng_below(&rng, f - j);
                uint32_t fj = g->perm[r];
                g->perm[r] = g->perm[j];
                g->perm[j] = fj;
                int32_t fi = (int32_t)fj;
                int ok;
                if (tr->xb && tr->nb[fi] < 2) {
                    ok = 0;
                } else if (tr->xb && use_hist(rows, tr->nb[fi])) {
                    ok = split_hist(g, e.start, e.end, nt, w, fi, &best);
                } else {
                    ok = split_exact(g, e.start, e.end, nt, w, fi, &best);
                }
                tried += (size_t)ok;
            }
            leaf = best.feat < 0;
        }
        if (leaf) {
            int rc = make_leaf(o, e.node, nt, c, w);
            if (rc) {
                return rc;
            }
            continue;
        }
        /* Partition rows by x <= thr (NaN right), summing each side's classes. */
        const float *col = tr->xc + (size_t)best.feat * n;
        uint32_t i = e.start, j = e.end;
        memset(lt, 0, c * sizeof *lt);
        memset(rt, 0, c * sizeof *rt);
        while (i < j) {
            uint32_t s = g->idx[i];
            struct sample sm = g->smp[i];
            if (col[s] <= best.thr) {
                lt[sm.y] += (double)sm.w;
                i++;
            } else {
                rt[sm.y] += (double)sm.w;
                j--;
                g->idx[i] = g->idx[j];
                g->smp[i] = g->smp[j];
                g->idx[j] = s;
                g->smp[j] = sm;
            }
        }
        double wl = 0, wr = 0;
        for (size_t k = 0; k < c; k++) {
            wl += lt[k];
            wr += rt[k];
        }
        o->imp[best.feat] += w * impurity(p->criterion, nt, c, w) -
                             wl * impurity(p->criterion, lt, c, wl) -
                             wr * impurity(p->criterion, rt, c, wr);
        if (stack_reserve(g, sp + 2) != 0) {
            return -ENOMEM;
        }
        uint32_t child = (uint32_t)o->n_nodes;
        o->nodes[e.node] = (struct rf_node){best.thr, best.feat, child};
        if (push_node(o, (struct rf_node){0}) || push_node(o, (struct rf_node){0})) {
            return -ENOMEM;
        }
        /* Right then left, so the left subtree is grown first. */
        memcpy(g->stack_tot + sp * c, rt, c * sizeof *rt);
        g->stack[sp++] = (struct frame_entry){i, e.end, e.depth + 1, child + 1};
        memcpy(g->stack_tot + sp * c, lt, c * sizeof *lt);
        g->stack[sp++] = (struct frame_entry){e.start, i, e.depth + 1, child};
    }
    return 0;
}

/* ---- fit ---- */

static void free_outs(struct tree_out *out, size_t k)
{
    for (size_t t = 0; out && t < k; t++) {
        vigil_free(out[t].nodes);
        vigil_free(out[t].leaf);
        vigil_free(out[t].imp);
    }
    vigil_free(out);
}

static int rf_fit(struct vigil_model *m, const struct vigil_batch *b)
{
    struct rf_ctx *c = m->ctx;
    const struct vigil_rf_params *p = &c->p;
    if (!b->x || !b->y || b->f == 0 || b->f > RF_MAX_FEATURES || b->n_classes == 0 ||
        b->n_classes > RF_MAX_CLASSES || b->n > 0xfffffff0u) {
        return VIGIL_ESHAPE;
    }
    if (b->n == 0) {
        return VIGIL_EEMPTY;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->y[i] < 0 || (size_t)b->y[i] >= b->n_classes) {
            return VIGIL_ESHAPE;
        }
    }
    size_t n = b->n, f = b->f, nc = b->n_classes, k = (size_t)p->trees;
    struct train tr = {.p = p, .n = n, .f = f, .c = nc, .y = b->y};
    tr.mtry = parse_max_features(p->max_features, f);
    int rc = -ENOMEM;
    tr.xc = vigil_mallocarray(n * f, sizeof *tr.xc);
    tr.cw = vigil_calloc(nc, sizeof *tr.cw);
    tr.out = vigil_calloc(k, sizeof *tr.out);
    if (!tr.xc || !tr.cw || !tr.out || tr.mtry == 0) {
        rc = tr.mtry == 0 ? VIGIL_ECONFIG : -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const float *row = b->x + i * f;
        for (size_t j = 0; j < f; j++) {
            tr.xc[j * n + i] = row[j];
        }
    }
    /* Class weights: balanced = n / (classes present * rows of the class), sklearn's. */
    {
        size_t *cnt = vigil_calloc(nc, sizeof *cnt);
        if (!cnt) {
            goto fail;
        }
        size_t present = 0;
        for (size_t i = 0; i < n; i++) {
            cnt[b->y[i]]++;
        }
        for (size_t j = 0; j < nc; j++) {
            present += cnt[j] > 0;
        }
        for (size_t j = 0; j < nc; j++) {
            tr.cw[j] = p->class_weight == VIGIL_RF_CW_BALANCED && cnt[j]
                           ? (double)n / ((double)present * (double)cnt[j])
                           : 1.0;
        }
        vigil_free(cnt);
    }
    int threads = p->threads > 0 ? p->threads : (b->threads > 0 ? b->threads : 1);
    if (p->bins > 0) {
        tr.xb = vigil_mallocarray(n * f, 1);
        tr.edges = vigil_mallocarray(f * (RF_MAX_BINS - 1), sizeof *tr.edges);
        tr.nb = vigil_calloc(f, sizeof *tr.nb);
        if (!tr.xb || !tr.edges || !tr.nb) {
            goto fail;
        }
        struct pool bp = {.shared = &tr,
                          .n = f,
                          .scratch_new = bin_scratch_new,
                          .scratch_free = bin_scratch_free,
                          .item = bin_feature};
        rc = pool_run(&bp, threads);
        if (rc) {
            goto fail;
        }
    }
    vigil_rng_seed(&tr.root, (uint64_t)p->seed);
    struct pool gp = {.shared = &tr,
                      .n = k,
                      .scratch_new = grow_scratch_new,
                      .scratch_free = grow_scratch_free,
                      .item = grow_tree};
    rc = pool_run(&gp, threads);
    if (rc) {
        goto fail;
    }

    /* Concatenate the trees in index order: the bytes do not depend on the threads. */
    ctx_clear_fit(c);
    size_t total_nodes = 0, total_leaves = 0;
    for (size_t t = 0; t < k; t++) {
        total_nodes += tr.out[t].n_nodes;
        total_leaves += tr.out[t].n_leaves;
    }
    rc = -ENOMEM;
    c->trees = vigil_calloc(k, sizeof *c->trees);
    c->nodes = vigil_mallocarray(total_nodes, sizeof *c->nodes);
    c->leaf = vigil_mallocarray(total_leaves * nc, sizeof *c->leaf);
    c->imp = vigil_calloc(f, sizeof *c->imp);
    c->c = nc;
    if (!c->trees || !c->nodes || !c->leaf || !c->imp || make_names(c) != 0) {
        ctx_clear_fit(c);
        goto fail;
    }
    size_t no = 0, lo = 0, used = 0;
    for (size_t t = 0; t < k; t++) {
        struct tree_out *o = &tr.out[t];
        c->trees[t] = (struct rf_tree){no, o->n_nodes, lo, o->n_leaves, o->depth};
        memcpy(c->nodes + no, o->nodes, o->n_nodes * sizeof *o->nodes);
        memcpy(c->leaf + lo * nc, o->leaf, o->n_leaves * nc * sizeof *o->leaf);
        no += o->n_nodes;
        lo += o->n_leaves;
        /* sklearn: each tree's importances normalized, averaged over trees that split. */
        double s = 0;
        for (size_t j = 0; j < f; j++) {
            s += o->imp[j];
        }
        if (s > 0) {
            for (size_t j = 0; j < f; j++) {
                c->imp[j] += o->imp[j] / s;
            }
            used++;
        }
    }
    double s = 0;
    for (size_t j = 0; j < f; j++) {
        s += c->imp[j];
    }
    for (size_t j = 0; j < f && s > 0; j++) {
        c->imp[j] /= s;
    }
    c->n_nodes = total_nodes;
    c->n_leaves = total_leaves;
    c->k = k;
    c->f = f;
    m->f = f;
    (void)used;
    rc = build_tops(c);
    if (rc) {
        ctx_clear_fit(c);
        m->f = 0;
    }
fail:
    free_outs(tr.out, k);
    vigil_free(tr.xc);
    vigil_free(tr.xb);
    vigil_free(tr.edges);
    vigil_free(tr.nb);
    vigil_free(tr.cw);
    return rc;
}

/* ---- prediction ---- */

static size_t rf_n_out(const struct vigil_model *m)
{
    const struct rf_ctx *c = m->ctx;
    return c ? c->c : 0;
}

static const char *rf_out_name(const struct vigil_model *m, size_t j)
{
    const struct rf_ctx *c = m->ctx;
    return c && c->names && j < c->c ? c->names + j * 16 : NULL;
}

/*
 * Top heap levels of a forest of k trees: at most 12 (deeper gained nothing on
 * ITU 02_b), fewer when the heaps (12 bytes a slot) would pass 1 MiB in all.
 */
static uint32_t top_depth_max(size_t k)
{
    uint32_t d = 12;
    while (d > 4 && k * ((size_t)12 << d) > ((size_t)1 << 20)) {
        d--;
    }
    return d;
}

static int build_tops(struct rf_ctx *c)
{
    uint32_t dmax = top_depth_max(c->k), dm = 0;
    size_t total = 0;
    c->top = vigil_calloc(c->k, sizeof *c->top);
    if (!c->top) {
        return -ENOMEM;
    }
    for (size_t t = 0; t < c->k; t++) {
        uint32_t d = c->trees[t].depth < dmax ? c->trees[t].depth : dmax;
        c->top[t].d = d;
        dm = d > dm ? d : dm;
        total += ((size_t)1 << d) * (sizeof(struct rf_hnode) + sizeof(uint32_t));
    }
    char *mem = vigil_malloc(total);
    uint32_t *map = vigil_mallocarray((size_t)2 << dm, sizeof *map); /* slot -> node id */
    c->top_mem = mem;
    c->loop = vigil_mallocarray(c->n_nodes, sizeof *c->loop);
    size_t most = 1; /* nodes of the widest tree */
    for (size_t t = 0; t < c->k; t++) {
        most = c->trees[t].n_nodes > most ? c->trees[t].n_nodes : most;
    }
    uint32_t nb = 1;
    for (c->cfb = 1; ((size_t)1 << c->cfb) < c->f; c->cfb++) {
    }
    while (((size_t)1 << nb) < most) {
        nb++;
    }
    c->cnb = nb;
    c->cnode = c->cfb + nb <= 30 ? vigil_calloc(c->n_nodes, sizeof *c->cnode) : NULL;
    if (c->cfb + nb <= 30 && !c->cnode) {
        vigil_free(map);
        return -ENOMEM;
    }
    if (!mem || !map || !c->loop) {
        vigil_free(map);
        return -ENOMEM; /* the caller clears the context */
    }
    for (size_t t = 0; t < c->k; t++) {
        const struct rf_node *nd = c->nodes + c->trees[t].node_off;
        struct rf_lnode *lp = c->loop + c->trees[t].node_off;
        for (uint32_t i = 0; i < c->trees[t].n_nodes; i++) {
            /* a leaf goes right (x <= NaN is false) to a + 1 = itself; i - 1 wraps for the root */
            if (nd[i].feat < 0) {
                lp[i] = (struct rf_lnode){NAN, 0, i - 1u, 0};
                continue;
            }
            uint32_t a = nd[i].a, fl = 1u | (uint32_t)(nd[a].feat < 0) << 1 |
                                      (uint32_t)(nd[a + 1].feat < 0) << 2;
            lp[i] = (struct rf_lnode){nd[i].thr, (uint32_t)nd[i].feat, a, fl};
            if (c->cnode) {
                c->cnode[c->trees[t].node_off + i] =
                    (struct rf_cnode){nd[i].thr, a << (c->cfb + 2) | (fl >> 1) << c->cfb |
                                                     (uint32_t)nd[i].feat};
            }
        }
        struct rf_top *tp = &c->top[t];
        size_t inner = ((size_t)1 << tp->d) - 1;
        tp->h = (struct rf_hnode *)(void *)mem;
        mem += ((size_t)1 << tp->d) * sizeof(struct rf_hnode);
        tp->exit = (uint32_t *)(void *)mem;
        mem += ((size_t)1 << tp->d) * sizeof(uint32_t);
        map[0] = 0;
        for (size_t i = 0; i < inner; i++) {
            const struct rf_node *q = nd + map[i];
            if (q->feat >= 0) {
                tp->h[i] = (struct rf_hnode){q->thr, (uint32_t)q->feat};
                map[2 * i + 1] = q->a;
                map[2 * i + 2] = q->a + 1;
            } else { /* a leaf: always right, down to the exit */
                tp->h[i] = (struct rf_hnode){NAN, 0};
                map[2 * i + 1] = map[2 * i + 2] = map[i];
            }
        }
        memcpy(tp->exit, map + inner, ((size_t)1 << tp->d) * sizeof *map);
    }
    vigil_free(map);
    return 0;
}

/* Every row of a block down the tree's heap, level by level: no branch, rows independent. */
static void walk_top(const struct rf_top *tp, size_t f, const float *x, size_t n, uint32_t *at)
{
    for (size_t r = 0; r < n; r++) {
        at[r] = 0;
    }
    const struct rf_hnode *h = tp->h;
    for (uint32_t lv = 0; lv < tp->d; lv++) {
        const float *xr = x;
        for (size_t r = 0; r < n; r++, xr += f) {
            uint32_t i = at[r];
            struct rf_hnode q = h[i];
            at[r] = 2 * i + 1 + (uint32_t)!(xr[q.feat] <= q.thr);
        }
    }
    uint32_t base = ((uint32_t)1 << tp->d) - 1;
    for (size_t r = 0; r < n; r++) {
        at[r] = tp->exit[at[r] - base];
    }
}

/*
 * The rows still inside the tree take one step down per pass, all of them
 * before the next pass: their loads are independent, and a row that reaches
 * its leaf (a looping node) drops out of the list without a branch.
 */
static void walk_level(const struct rf_lnode *lp, size_t f, const float *x, size_t n,
                       uint32_t *at, uint32_t *act)
{
    uint32_t *ar = act, *ai = act + n;
    size_t na = 0;
    for (size_t r = 0; r < n; r++) {
        uint32_t i = at[r];
        ar[na] = (uint32_t)r;
        ai[na] = i;
        na += lp[i].live & 1;
    }
    while (na) {
        size_t m = 0;
        for (size_t k = 0; k < na; k++) {
            uint32_t r = ar[k], i = ai[k];
            const struct rf_lnode *q = lp + i;
            uint32_t nx = q->a + (uint32_t)!(x[(size_t)r * f + q->feat] <= q->thr);
            at[r] = nx;
            ar[m] = r;
            ai[m] = nx;
            m += q->live & 1;
        }
        na = m;
    }
}

/* A few rows (live scoring): plain walks, no lane bookkeeping. Also the reference walk. */
static void walk_plain(const struct rf_node *nd, const float *lv, size_t nc, size_t f,
                       const float *x, size_t n, float *out)
{
    for (size_t r = 0; r < n; r++) {
        const float *xw = x + r * f;
        const struct rf_node *q = nd;
        while (q->feat >= 0) {
            q = nd + q->a + (uint32_t)!(xw[q->feat] <= q->thr);
        }
        const float *v = lv + (size_t)q->a * nc;
        float *o = out + r * nc;
        for (size_t j = 0; j < nc; j++) {
            o[j] += v[j];
        }
    }
}

/*
 * Eight rows walk the tree at once: their node reads are independent, so the
 * CPU overlaps them instead of waiting on one chain of loads. A row that
 * reaches its leaf hands its slot to the next row, so shallow rows do not
 * wait for deep ones. Each step goes one level down (children come after
 * their parent and the depth was checked at load), so a row takes at most
 * depth steps.
 */
static void walk_lanes(const struct rf_node *nd, const float *lv, size_t nc, size_t f,
                       const float *x, size_t n, float *out)
{
    enum { LANES = 8 };
    static const struct rf_node idle = {0.0f, -1, 0}; /* parks a lane without rows */
    const struct rf_node *cur[LANES];
    const float *xr[LANES];
    size_t row[LANES];
    size_t next = 0, active = 0;
    for (size_t l = 0; l < LANES; l++) {
        if (next < n) {
            row[l] = next++;
            cur[l] = nd;
            xr[l] = x + row[l] * f;
            active++;
        } else {
            cur[l] = &idle;
            xr[l] = NULL;
        }
    }
    while (active) {
        for (size_t l = 0; l < LANES; l++) {
            const struct rf_node *q = cur[l];
            if (q->feat >= 0) {
                cur[l] = nd + q->a + (uint32_t)!(xr[l][q->feat] <= q->thr);
                continue;
            }
            if (!xr[l]) {
                continue;
            }
            const float *v = lv + (size_t)q->a * nc;
            float *o = out + row[l] * nc;
            for (size_t j = 0; j < nc; j++) {
                o[j] += v[j];
            }
            if (next < n) {
                row[l] = next++;
                cur[l] = nd;
                xr[l] = x + row[l] * f;
            } else {
                cur[l] = &idle;
                xr[l] = NULL;
                active--;
            }
        }
    }
}

typedef void (*rf_walk_fn)(const struct rf_node *nd, const float *lv, size_t nc, size_t f,
                           const float *x, size_t n, float *out);

/* The default walk of one tree over a block of rows: top heap, then level passes. */
static void walk_heap(const struct rf_ctx *c, size_t t, const float *x, size_t n, uint32_t *at,
                      uint32_t *act, float *out)
{
    const struct rf_tree *tr = &c->trees[t];
    walk_top(&c->top[t], c->f, x, n, at);
    walk_level(c->loop + tr->node_off, c->f, x, n, at, act);
    const struct rf_node *nd = c->nodes + tr->node_off;
    const float *lv = c->leaf + tr->leaf_off * c->c;
    for (size_t r = 0; r < n; r++) {
        const float *v = lv + (size_t)nd[at[r]].a * c->c;
        float *o = out + r * c->c;
        for (size_t j = 0; j < c->c; j++) {
            o[j] += v[j];
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define RF_SIMD 1
/*
 * The same walk with AVX-512 gathers, 16 rows a vector (walk 0 when the CPU
 * has AVX-512F, chosen at run time; walk 3 forces the scalar walk above).
 * Each step is the scalar step lane by lane: the same nodes, the same
 * x <= thr test (_CMP_NLE_UQ: NaN goes right), so the same leaves, and the
 * leaves are added in the same tree order, so the bytes are the scalar
 * walk's. Heap levels 0-5 read their slots from registers; below the heap
 * a step reads the packed split (rf_cnode), and a row whose child is a leaf
 * moves from the active list to the done list (both hold row << nb | node,
 * compacted by compress stores); the done list is summed at the end. Needs
 * rf_cnode (ids in 30 bits), at most 2^22 nodes a tree (the row takes 10
 * bits) and (block rows) * F < 2^31 (32-bit gather indices).
 */
#define RF_TARGET __attribute__((target("avx512f,popcnt")))

/* Lane l gets the pair (float, uint32) at byte p + 8 * idx[l]: two 8-lane 64-bit gathers. */
RF_TARGET static inline void gather_pairs(__m512i idx, __mmask16 m, const void *p, __m512 *lo32,
                                          __m512i *hi32)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512i a = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)m,
                                            _mm512_castsi512_si256(idx), p, 8);
    __m512i b = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)(m >> 8),
                                            _mm512_extracti64x4_epi64(idx, 1), p, 8);
    *lo32 = _mm512_castsi512_ps(_mm512_permutex2var_epi32(a, even, b));
    *hi32 = _mm512_permutex2var_epi32(a, odd, b);
}

RF_TARGET static inline __mmask16 tail16(size_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* The pairs of heap level lv <= 5 (at most 32 slots) in registers: lane j of lo/hi = slot j/16 + j. */
RF_TARGET static void level_regs(const struct rf_hnode *h, uint32_t lv, __m512 *thr, __m512i *ft)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const uint32_t *p = (const uint32_t *)(const void *)(h + ((size_t)1 << lv) - 1);
    size_t words = (size_t)2 << lv; /* thr and feat of 2^lv slots */
    __m512i v[4];
    for (size_t q = 0; q < 4; q++) {
        v[q] = q * 16 < words ? _mm512_maskz_loadu_epi32(tail16(words - q * 16), p + q * 16)
                              : _mm512_setzero_si512();
    }
    thr[0] = _mm512_castsi512_ps(_mm512_permutex2var_epi32(v[0], even, v[1]));
    thr[1] = _mm512_castsi512_ps(_mm512_permutex2var_epi32(v[2], even, v[3]));
    ft[0] = _mm512_permutex2var_epi32(v[0], odd, v[1]);
    ft[1] = _mm512_permutex2var_epi32(v[2], odd, v[3]);
}

RF_TARGET static void walk_heap_512(const struct rf_ctx *c, size_t t, const float *x, size_t n,
                                    uint32_t *at, uint32_t *buf, float *out)
{
    const struct rf_tree *tr = &c->trees[t];
    const struct rf_top *tp = &c->top[t];
    const struct rf_lnode *lp = c->loop + tr->node_off;
    /* buf: active (row, node) and done (row, leaf) pairs packed as row << nb | node, n + 16 each */
    uint32_t *ap = buf, *dp = ap + n + 16, nb = c->cnb;
    const __m512i nmask = _mm512_set1_epi32((int)((1u << nb) - 1));
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i fv = _mm512_set1_epi32((int)c->f), one = _mm512_set1_epi32(1);
    for (size_t r = 0; r < n; r += 16) {
        _mm512_mask_storeu_epi32(at + r, tail16(n - r), _mm512_setzero_si512());
    }
    for (uint32_t lv = 0; lv < tp->d; lv++) {
        __m512 lt[2];
        __m512i lf[2];
        int regs = lv <= 5;
        if (regs) {
            level_regs(tp->h, lv, lt, lf);
        }
        const __m512i off = _mm512_set1_epi32((int)(((uint32_t)1 << lv) - 1));
        for (size_t r = 0; r < n; r += 16) {
            __mmask16 m = tail16(n - r);
            __m512i i = _mm512_maskz_loadu_epi32(m, at + r);
            __m512 thr;
            __m512i ft;
            if (regs) { /* the level's slots from registers, no gather */
                __m512i j = _mm512_sub_epi32(i, off);
                thr = _mm512_permutex2var_ps(lt[0], j, lt[1]);
                ft = _mm512_permutex2var_epi32(lf[0], j, lf[1]);
            } else {
                gather_pairs(i, m, tp->h, &thr, &ft);
            }
            __m512i ro = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32((int)r), lane), fv);
            __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_add_epi32(ro, ft),
                                                 x, 4);
            __mmask16 gt = _mm512_cmp_ps_mask(xv, thr, _CMP_NLE_UQ);
            __m512i nx = _mm512_add_epi32(_mm512_add_epi32(i, i), one);
            _mm512_mask_storeu_epi32(at + r, m, _mm512_mask_add_epi32(nx, gt, nx, one));
        }
    }
    /* heap exits: rows at a split to the active list, rows at a leaf to the done list */
    const __m512i base = _mm512_set1_epi32((int)(((uint32_t)1 << tp->d) - 1));
    size_t na = 0, nd = 0;
    for (size_t r = 0; r < n; r += 16) {
        __mmask16 m = tail16(n - r);
        __m512i s = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, at + r), base);
        __m512i i = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, s, tp->exit, 4);
        __m512i fl = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                 _mm512_add_epi32(i, i), &lp->live, 8);
        __mmask16 live = _mm512_mask_test_epi32_mask(m, fl, one);
        __mmask16 dead = m & (__mmask16)~live;
        __m512i rv = _mm512_add_epi32(_mm512_set1_epi32((int)r), lane);
        __m512i v = _mm512_or_si512(_mm512_slli_epi32(rv, nb), i);
        _mm512_storeu_si512(ap + na, _mm512_maskz_compress_epi32(live, v));
        _mm512_storeu_si512(dp + nd, _mm512_maskz_compress_epi32(dead, v));
        na += (size_t)__builtin_popcount(live);
        nd += (size_t)__builtin_popcount(dead);
    }
    /* level passes below the heap: a row whose child is a leaf goes to the done list */
    const struct rf_cnode *cn = c->cnode + tr->node_off;
    const __m512i lbit = _mm512_set1_epi32(1 << c->cfb), rbit = _mm512_set1_epi32(2 << c->cfb);
    const __m512i fmask = _mm512_set1_epi32((int)((1u << c->cfb) - 1));
    while (na) {
        size_t w = 0;
        for (size_t k = 0; k < na; k += 16) {
            __mmask16 m = tail16(na - k);
            __m512i v = _mm512_maskz_loadu_epi32(m, ap + k);
            __m512i i = _mm512_and_si512(v, nmask), rv = _mm512_srli_epi32(v, nb);
            __m512 thr;
            __m512i wd;
            gather_pairs(i, m, cn, &thr, &wd);
            __m512i xi = _mm512_add_epi32(_mm512_mullo_epi32(rv, fv), _mm512_and_si512(wd, fmask));
            __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, xi, x, 4);
            __mmask16 gt = _mm512_cmp_ps_mask(xv, thr, _CMP_NLE_UQ);
            __m512i a = _mm512_srli_epi32(wd, (unsigned)c->cfb + 2);
            __m512i nx = _mm512_mask_add_epi32(a, gt, a, one);
            __mmask16 dead = _mm512_mask_test_epi32_mask(m, wd, _mm512_mask_mov_epi32(lbit, gt, rbit));
            __mmask16 live = m & (__mmask16)~dead;
            v = _mm512_or_si512(_mm512_andnot_si512(nmask, v), nx);
            _mm512_storeu_si512(ap + w, _mm512_maskz_compress_epi32(live, v));
            _mm512_storeu_si512(dp + nd, _mm512_maskz_compress_epi32(dead, v));
            w += (size_t)__builtin_popcount(live);
            nd += (size_t)__builtin_popcount(dead);
        }
        na = w;
    }
    /* leaves: the same additions as the scalar walk, in the same tree order */
    const struct rf_node *nds = c->nodes + tr->node_off;
    const float *lv = c->leaf + tr->leaf_off * c->c;
    size_t nc = c->c;
    if (nc <= 16) {
        __mmask16 cm = tail16(nc);
        for (size_t k = 0; k < nd; k++) {
            float *o = out + (size_t)(dp[k] >> nb) * nc;
            __m512 v = _mm512_maskz_loadu_ps(cm, lv + (size_t)nds[dp[k] & ((1u << nb) - 1)].a * nc);
            _mm512_mask_storeu_ps(o, cm, _mm512_add_ps(_mm512_maskz_loadu_ps(cm, o), v));
        }
        return;
    }
    for (size_t k = 0; k < nd; k++) {
        const float *v = lv + (size_t)nds[dp[k] & ((1u << nb) - 1)].a * nc;
        float *o = out + (size_t)(dp[k] >> nb) * nc;
        for (size_t j = 0; j < nc; j++) {
            o[j] += v[j];
        }
    }
}

/* 1 when this CPU runs walk_heap_512 (AVX-512F), checked once per batch. */
static int simd_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("popcnt");
}
#else
static int simd_ok(void)
{
    return 0;
}
#endif

int vigil__rf_walk_simd(void)
{
    return simd_ok();
}

/*
 * Rows per block (every tree walks a block before the next block): 1024, or
 * fewer for wide rows. Measured (CPU per row): 100 trees of 10,240 x 64 1.75
 * us at 1024 rows against 2.2 at 256; 10 trees of 100,000 x 152 0.52 at 256
 * against 0.61 at 1024; ITU 02_b the same at 256 to 1024.
 */
enum { RF_BLOCK = 1024 };
_Static_assert(RF_BLOCK <= 1024, "walk_heap_512 packs a block's row index in 10 bits");

struct score_job {
    const struct rf_ctx *c;
    const float *x;
    size_t n;
    float *out;
    int walk;   /* 0 heap (AVX-512 when simd), 1 lanes, 2 plain, 3 heap scalar */
    size_t blk; /* rows per block, <= RF_BLOCK */
    int simd;   /* walk 0 takes walk_heap_512 */
};

/* Scores block b of the job: trees outside, so a tree's nodes stay in cache. */
static int score_block(void *shared, void *scratch, size_t b)
{
    (void)scratch;
    const struct score_job *j = shared;
    const struct rf_ctx *c = j->c;
    size_t nc = c->c, f = c->f, r0 = b * j->blk;
    size_t n = j->n - r0 < j->blk ? j->n - r0 : j->blk;
    const float *x = j->x + r0 * f;
    float *out = j->out + r0 * nc;
    uint32_t at[RF_BLOCK], act[4 * (RF_BLOCK + 16)];
    memset(out, 0, n * nc * sizeof *out);
    rf_walk_fn w = n < 4 || j->walk == 2 ? walk_plain : walk_lanes;
    for (size_t t = 0; t < c->k; t++) {
#ifdef RF_SIMD
        if (j->walk == 0 && j->simd && n >= 4) {
            walk_heap_512(c, t, x, n, at, act, out);
            continue;
        }
#endif
        if ((j->walk == 0 || j->walk == 3) && n >= 4) {
            walk_heap(c, t, x, n, at, act, out);
        } else {
            const struct rf_tree *tr = &c->trees[t];
            w(c->nodes + tr->node_off, c->leaf + tr->leaf_off * nc, nc, f, x, n, out);
        }
    }
    float inv = 1.0f / (float)c->k;
    for (size_t i = 0; i < n * nc; i++) {
        out[i] *= inv;
    }
    return 0;
}

static int no_scratch(void *shared, void **s)
{
    (void)shared;
    *s = NULL;
    return 0;
}

static void no_scratch_free(void *s)
{
    (void)s;
}

int vigil__rf_score_walk(struct vigil_model *m, const float *x, size_t n, float *out, int walk,
                         int threads)
{
    const struct rf_ctx *c = m->ctx;
    if (!c || c->k == 0) {
        return -EINVAL;
    }
    struct score_job j = {c, x, n, out, walk, RF_BLOCK, 0};
    while (j.blk > 128 && j.blk * c->f * sizeof *x > ((size_t)256 << 10)) {
        j.blk /= 2; /* wide rows: a block's values stay within 256 KiB */
    }
    j.simd = walk == 0 && c->cnode && c->cnb + 10 <= 32 && j.blk * c->f < ((size_t)1 << 31) && simd_ok();
    size_t blocks = (n + j.blk - 1) / j.blk;
    if (threads <= 1 || blocks < 2) {
        for (size_t b = 0; b < blocks; b++) {
            score_block(&j, NULL, b);
        }
        return 0;
    }
    struct pool pl = {.shared = &j, .n = blocks, .scratch_new = no_scratch,
                      .scratch_free = no_scratch_free, .item = score_block};
    return pool_run(&pl, threads);
}

/*
 * Batches of RF_PAR_ROWS rows or more are split over the online CPUs (at most
 * 4): whole blocks per thread, so the output does not depend on the count.
 */
#define RF_PAR_ROWS 16384

static int rf_score(struct vigil_model *m, const float *x, size_t n, float *out)
{
    int threads = 1;
    if (n >= RF_PAR_ROWS) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
    }
    return vigil__rf_score_walk(m, x, n, out, 0, threads);
}

/* ---- serialization (docs/formats.md, "rf payload") ---- */

static int rf_save(const struct vigil_model *m, struct vigil_buf *out)
{
    const struct rf_ctx *c = m->ctx;
    if (!c || c->k == 0) {
        return -EINVAL;
    }
    const struct vigil_rf_params *p = &c->p;
    int rc = vigil_buf_append(out, "VRF\0", 4);
    rc = rc ? rc : vigil_buf_put_u32(out, RF_FORMAT_VERSION);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)c->f);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)c->c);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)c->k);
    /* The training parameters, for reports; prediction does not need them. */
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->criterion);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->max_depth);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->min_samples_split);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->min_samples_leaf);
    rc = rc ? rc : vigil_buf_put_str(out, p->max_features);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->bootstrap);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->class_weight);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->bins);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)p->seed);
    for (size_t t = 0; t < c->k && !rc; t++) {
        const struct rf_tree *tr = &c->trees[t];
        rc = vigil_buf_put_u32(out, (uint32_t)tr->n_nodes);
        rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)tr->n_leaves);
        rc = rc ? rc : vigil_buf_put_u32(out, tr->depth);
        rc = rc ? rc : vigil_buf_reserve(out, tr->n_nodes * 12 + tr->n_leaves * c->c * 4);
        for (size_t i = 0; i < tr->n_nodes && !rc; i++) {
            const struct rf_node *nd = &c->nodes[tr->node_off + i];
            rc = vigil_buf_put_f32(out, nd->thr);
            rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)nd->feat);
            rc = rc ? rc : vigil_buf_put_u32(out, nd->a);
        }
        const float *lv = c->leaf + tr->leaf_off * c->c;
        for (size_t i = 0; i < tr->n_leaves * c->c && !rc; i++) {
            rc = vigil_buf_put_f32(out, lv[i]);
        }
    }
    for (size_t j = 0; j < c->f && !rc; j++) {
        rc = vigil_buf_put_f64(out, c->imp[j]);
    }
    return rc;
}

/*
 * Checks one tree read from a file: every split's feature < F and children
 * a, a+1 after the node and inside the tree, every node but the root with
 * exactly one parent, every leaf row in range and used once, and the depth
 * recomputed (the stored one must match). *why names the first problem.
 */
static int check_tree(const struct rf_node *nd, size_t nn, size_t nl, size_t f, uint32_t depth,
                      uint32_t *scratch, uint32_t *scratch_leaf, const char **why)
{
    memset(scratch, 0, nn * sizeof *scratch); /* parent count, then depth + 1 */
    memset(scratch_leaf, 0, nl * sizeof *scratch_leaf);
    uint32_t maxd = 0;
    scratch[0] = 1; /* root depth 0, stored as depth + 1 */
    for (size_t i = 0; i < nn; i++) {
        if (scratch[i] == 0) {
            *why = "node without a parent";
            return VIGIL_EFORMAT;
        }
        uint32_t d = scratch[i] - 1;
        if (nd[i].feat < -1) {
            *why = "split feature out of range";
            return VIGIL_EFORMAT;
        }
        if (nd[i].feat < 0) {
            if ( nd[i].a >= nl || scratch_leaf[nd[i].a]) {
                *why = "leaf index out of range or shared";
                return VIGIL_EFORMAT;
            }
            scratch_leaf[nd[i].a] = 1;
            if (d > maxd) {
                maxd = d;
            }
            continue;
        }
        if ((size_t)nd[i].feat >= f) {
            *why = "split feature out of range";
            return VIGIL_EFORMAT;
        }
        if (nd[i].a <= i || (size_t)nd[i].a + 1 >= nn) {
            *why = "child index out of range (or before its parent)";
            return VIGIL_EFORMAT;
        }
        if (nd[i].thr != nd[i].thr) {
            *why = "NaN threshold";
            return VIGIL_EFORMAT;
        }
        for (uint32_t k = 0; k < 2; k++) {
            if (scratch[nd[i].a + k] != 0) {
                *why = "node with two parents";
                return VIGIL_EFORMAT;
            }
            scratch[nd[i].a + k] = d + 2;
        }
    }
    for (size_t i = 0; i < nl; i++) {
        if (!scratch_leaf[i]) {
            *why = "unused leaf";
            return VIGIL_EFORMAT;
        }
    }
    if (maxd != depth) {
        *why = "stored depth does not match the tree";
        return VIGIL_EFORMAT;
    }
    return 0;
}

static int rf_load(struct vigil_model *m, const void *bytes, size_t nbytes)
{
    struct rf_ctx *c = m->ctx;
    struct vigil_rd r;
    vigil_rd_init(&r, bytes, nbytes);
    char magic[4];
    uint32_t ver, f, nc, k, u[8];
    char *mf = NULL;
    const char *why = "truncated";
    uint32_t *sc = NULL, *scl = NULL;
    int rc = VIGIL_EFORMAT;
    ctx_clear_fit(c);
    if (vigil_rd_bytes(&r, magic, 4) || memcmp(magic, "VRF\0", 4) != 0) {
        why = "not a random forest payload (bad magic)";
        goto fail;
    }
    if (vigil_rd_u32(&r, &ver) || ver != RF_FORMAT_VERSION) {
        why = "unsupported random forest payload version";
        goto fail;
    }
    if (vigil_rd_u32(&r, &f) || vigil_rd_u32(&r, &nc) || vigil_rd_u32(&r, &k)) {
        goto fail;
    }
    if (f == 0 || f > RF_MAX_FEATURES || nc == 0 || nc > RF_MAX_CLASSES || k == 0 ||
        k > RF_MAX_TREES) {
        why = "features, classes or trees out of range";
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        if (vigil_rd_u32(&r, &u[i])) {
            goto fail;
        }
    }
    int e = vigil_rd_str(&r, &mf, 64);
    if (e) {
        rc = e == -ENOMEM ? e : VIGIL_EFORMAT;
        goto fail;
    }
    for (int i = 4; i < 8; i++) {
        if (vigil_rd_u32(&r, &u[i])) {
            goto fail;
        }
    }
    struct vigil_rf_params p = {(int)k,  (int)u[0], (int)u[1], (int)u[2], (int)u[3], mf,
                                (int)u[4], (int)u[5], (int)u[6], (int)u[7], 0};
    if (u[1] > 100000 || u[2] > 1000000000u || u[3] > 1000000000u || u[6] > RF_MAX_BINS ||
        u[7] > 2147483647u || u[4] > 1 || rf_check(&p) != NULL) {
        why = "bad training parameters";
        goto fail;
    }
    /* Sizes first: every node and leaf must fit in the bytes left before allocating. */
    rc = -ENOMEM;
    c->trees = vigil_calloc(k, sizeof *c->trees);
    if (!c->trees) {
        goto fail;
    }
    rc = VIGIL_EFORMAT;
    struct vigil_rd scan = r;
    size_t total_nodes = 0, total_leaves = 0, max_nodes = 0, max_leaves = 0;
    for (uint32_t t = 0; t < k; t++) {
        uint32_t nn, nl, d;
        if (vigil_rd_u32(&scan, &nn) || vigil_rd_u32(&scan, &nl) || vigil_rd_u32(&scan, &d)) {
            goto fail;
        }
        uint64_t need = (uint64_t)nn * 12 + (uint64_t)nl * nc * 4;
        if (nn == 0 || nl == 0 || nn != 2 * (uint64_t)nl - 1 || need > scan.n || d >= nn) {
            why = "tree sizes inconsistent or larger than the file";
            goto fail;
        }
        c->trees[t] = (struct rf_tree){total_nodes, nn, total_leaves, nl, d};
        total_nodes += nn;
        total_leaves += nl;
        max_nodes = nn > max_nodes ? nn : max_nodes;
        max_leaves = nl > max_leaves ? nl : max_leaves;
        scan.p += need;
        scan.n -= need;
    }
    if (scan.n != (size_t)f * 8) {
        why = scan.n < (size_t)f * 8 ? "truncated importances" : "trailing bytes";
        goto fail;
    }
    rc = -ENOMEM;
    c->nodes = vigil_mallocarray(total_nodes, sizeof *c->nodes);
    c->leaf = vigil_mallocarray(total_leaves * nc, sizeof *c->leaf);
    c->imp = vigil_mallocarray(f, sizeof *c->imp);
    sc = vigil_mallocarray(max_nodes, sizeof *sc);
    scl = vigil_mallocarray(max_leaves, sizeof *scl);
    c->c = nc;
    if (!c->nodes || !c->leaf || !c->imp || !sc || !scl || make_names(c) != 0) {
        goto fail;
    }
    rc = VIGIL_EFORMAT;
    for (uint32_t t = 0; t < k; t++) {
        struct rf_tree *tr = &c->trees[t];
        uint32_t skip[3];
        vigil_rd_u32(&r, &skip[0]);
        vigil_rd_u32(&r, &skip[1]);
        vigil_rd_u32(&r, &skip[2]);
        struct rf_node *nd = c->nodes + tr->node_off;
        for (size_t i = 0; i < tr->n_nodes; i++) {
            uint32_t feat;
            vigil_rd_f32(&r, &nd[i].thr);
            vigil_rd_u32(&r, &feat);
            vigil_rd_u32(&r, &nd[i].a);
            nd[i].feat = feat == 0xffffffffu ? -1 : (feat > RF_MAX_FEATURES ? -2 : (int32_t)feat);
        }
        float *lv = c->leaf + tr->leaf_off * nc;
        for (size_t i = 0; i < tr->n_leaves * nc; i++) {
            vigil_rd_f32(&r, &lv[i]);
            if (!(lv[i] >= 0.0f && lv[i] <= 1.0f)) {
                why = "leaf probability outside [0,1]";
                goto fail;
            }
        }
        if (check_tree(nd, tr->n_nodes, tr->n_leaves, f, tr->depth, sc, scl, &why) != 0) {
            goto fail;
        }
    }
    for (uint32_t j = 0; j < f; j++) {
        vigil_rd_f64(&r, &c->imp[j]);
        if (!(c->imp[j] >= 0.0 && c->imp[j] <= 1.0)) {
            why = "importance outside [0,1]";
            goto fail;
        }
    }
    vigil_free(c->p.max_features);
    c->p = p;
    c->p.threads = 0;
    mf = NULL;
    c->f = f;
    c->k = k;
    c->n_nodes = total_nodes;
    c->n_leaves = total_leaves;
    m->f = f;
    rc = build_tops(c);
    if (rc) {
        goto fail;
    }
    vigil_free(sc);
    vigil_free(scl);
    return 0;
fail:
    if (rc == VIGIL_EFORMAT) {
        vigil_debug("rf: load: %s", why);
    }
    vigil_free(mf);
    vigil_free(sc);
    vigil_free(scl);
    ctx_clear_fit(c);
    m->f = 0;
    return rc;
}

/* ---- importances ---- */

int vigil_rf_importances(const struct vigil_model *m, const double **imp, size_t *f)
{
    if (!m || m->ops != &vigil_rf_ops || !m->ctx) {
        return -EINVAL;
    }
    const struct rf_ctx *c = m->ctx;
    if (c->k == 0) {
        return -EINVAL;
    }
    *imp = c->imp;
    *f = c->f;
    return 0;
}

int vigil_rf_shape(const struct vigil_model *m, size_t *trees, size_t *nodes, size_t *depth)
{
    if (!m || m->ops != &vigil_rf_ops || !m->ctx) {
        return -EINVAL;
    }
    const struct rf_ctx *c = m->ctx;
    size_t d = 0;
    for (size_t t = 0; t < c->k; t++) {
        d = c->trees[t].depth > d ? c->trees[t].depth : d;
    }
    *trees = c->k;
    *nodes = c->n_nodes;
    *depth = d;
    return 0;
}

static double pi_metric(enum vigil_rf_pi_metric metric, const float *proba, size_t nc,
                        const int32_t *y, size_t n, double *score_buf, int32_t *bin_buf)
{
    if (metric == VIGIL_RF_PI_ACCURACY) {
        size_t ok = 0;
        for (size_t i = 0; i < n; i++) {
            const float *p = proba + i * nc;
            size_t am = 0;
            for (size_t j = 1; j < nc; j++) {
                am = p[j] > p[am] ? j : am;
            }
            ok += (int32_t)am == y[i];
        }
        return (double)ok / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        score_buf[i] = 1.0 - (double)proba[i * nc];
        bin_buf[i] = y[i] != 0;
    }
    return vigil_eval_average_precision(score_buf, bin_buf, n);
}

int vigil_rf_permutation_importance(struct vigil_model *m, const float *x, const int32_t *y,
                                    size_t n, enum vigil_rf_pi_metric metric, int repeats,
                                    uint64_t seed, double *mean, double *std)
{
    if (!m || m->ops != &vigil_rf_ops || !m->ctx || n < 2 || repeats < 1) {
        return -EINVAL;
    }
    struct rf_ctx *c = m->ctx;
    if (c->k == 0) {
        return -EINVAL;
    }
    size_t f = c->f, nc = c->c;
    int rc = -ENOMEM;
    float *xs = vigil_mallocarray(n * f, sizeof *xs);
    float *proba = vigil_mallocarray(n * nc, sizeof *proba);
    float *col = vigil_mallocarray(n, sizeof *col);
    uint32_t *perm = vigil_mallocarray(n, sizeof *perm);
    double *sbuf = vigil_mallocarray(n, sizeof *sbuf);
    int32_t *bbuf = vigil_mallocarray(n, sizeof *bbuf);
    if (!xs || !proba || !col || !perm || !sbuf || !bbuf) {
        goto done;
    }
    memcpy(xs, x, n * f * sizeof *xs);
    rf_score(m, xs, n, proba);
    double base = pi_metric(metric, proba, nc, y, n, sbuf, bbuf);
    struct vigil_rng root, rng;
    vigil_rng_seed(&root, seed);
    for (size_t j = 0; j < f; j++) {
        for (size_t i = 0; i < n; i++) {
            col[i] = xs[i * f + j];
        }
        double s = 0, s2 = 0;
        vigil_rng_split(&root, j, &rng);
        for (int rep = 0; rep < repeats; rep++) {
            for (size_t i = 0; i < n; i++) {
                perm[i] = (uint32_t)i;
            }
            vigil_rng_shuffle(&rng, perm, n);
            for (size_t i = 0; i < n; i++) {
                xs[i * f + j] = col[perm[i]];
            }
            rf_score(m, xs, n, proba);
            double d = base - pi_metric(metric, proba, nc, y, n, sbuf, bbuf);
            s += d;
            s2 += d * d;
        }
        for (size_t i = 0; i < n; i++) {
            xs[i * f + j] = col[i];
        }
        mean[j] = s / repeats;
        double var = s2 / repeats - mean[j] * mean[j];
        std[j] = var > 0 ? sqrt(var) : 0.0;
    }
    rc = 0;
done:
    vigil_free(xs);
    vigil_free(proba);
    vigil_free(col);
    vigil_free(perm);
    vigil_free(sbuf);
    vigil_free(bbuf);
    return rc;
}

const struct vigil_model_ops vigil_rf_ops = {
    .abi = VIGIL_MODEL_ABI,
    .name = "rf",
    .summary = "random forest classifier (CART, bootstrap, class probabilities)",
    .opts = rf_opts,
    .params_size = sizeof(struct vigil_rf_params),
    .supervised = 1,
    .check = rf_check,
    .init = rf_init,
    .fit = rf_fit,
    .n_out = rf_n_out,
    .out_name = rf_out_name,
    .score = rf_score,
    .update = NULL,
    .save = rf_save,
    .load = rf_load,
    .fini = rf_fini,
};
