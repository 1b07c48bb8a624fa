/*
 * Multilayer perceptron classifier ("mlp"): dense layers with ReLU, a softmax
 * output over the classes, weighted cross-entropy, Adam (AdamW with optional
 * decoupled weight decay), mini-batches drawn by a seeded shuffle. The layers
 * are the shared ones of src/model/nn.c; this file only wires them, in
 * llm.c's shape: one parameter block, one gradient block, one block per Adam
 * moment, and a training step of four visible calls (forward, zero_grad,
 * backward, update).
 *
 * Label smoothing (label-smoothing eps > 0): the targets are (1 - eps) on the
 * true class plus eps / K on each class.
 *
 * Class weights: w_k = (N / (K n_k))^a with a = 0 (none), 0.5 (sqrt, the
 * default) or 1 (balanced), normalized so the weighted mean loss has the scale
 * of the plain one. Rare classes (R2L, U2R in NSL-KDD; probes in traffic)
 * would otherwise be ignored.
 *
 * Ensemble (--ensemble N): N networks of the same shape in one model, member e
 * trained exactly as a single model with seed + e would be; scores are the
 * mean of their probabilities (the seed variance of one network is about a
 * point of NSL-KDD accuracy). One parameter block holds the members one after
 * the other; use_member points the layer pointers at one of them.
 *
 * Optional novelty gate (novelty-k > 0): a k-means model ("kmeans", the
 * reconstruction model of src/model/kmeans.c, used through the generic model
 * interface) is fitted on the normal training rows only (or, novelty-fit
 * known, on every training row), with its threshold at the novelty-q
 * quantile of their distances. A row the MLP calls normal
 * but which lies farther from every normal centroid than that is not normal:
 * its normal probability is handed to the attack classes in proportion to
 * theirs. This is how an attack absent from the training set (NSL-KDD's
 * test-only attacks) can still be flagged; the threshold never sees test data.
 *
 * Scoring runs in chunks of CHUNK rows through scratch allocated once, so a
 * warm model scores any number of rows without allocating. It does not use
 * sgemm: the lane-layout kernels of nn.c (f32), or, as --precision asks and
 * the CPU allows, half precision (AVX512-FP16) or bfloat16 on AMX tiles.
 *
 * Dimension letters: N rows, B batch, F inputs, H hidden units, K classes,
 * L dense layers (hidden layers + output).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vigil/mem.h"
#include "vigil/nn.h"
#include "vigil/rng.h"

#define MLP_MAX_LAYERS 8 /* hidden layers + 1 */
#define MLP_MAX_WIDTH 65536
#define MLP_MAX_CLASSES 1024
#define MLP_MAX_F (1u << 20)
#define CHUNK 2048
#define MLP_MAX_MEMBERS 64
#define MAGIC 0x31504c4du  /* "MLP1" little-endian: one network */
#define MAGIC2 0x32504c4du /* "MLP2": an ensemble (u32 members follows the magic) */

struct mlp_params {
    char *hidden; /* "64,32" */
    int epochs;
    int batch;
    double lr;
    double weight_decay;
    int class_weight; /* 0 none, 1 sqrt, 2 balanced */
    double smooth;    /* label smoothing eps: targets (1 - eps) one-hot + eps / K */
    int seed;
    int ensemble;  /* networks trained with seeds seed, seed + 1, ...; probabilities averaged */
    int novelty_k; /* 0 = no gate */
    double novelty_q;
    int novelty_fit;    /* 0: the gate's k-means sees the normal rows, 1: every training row */
    int novelty_assign; /* a gated row goes to 0: the MLP's likeliest attack, 1: the nearest
                           centroid's class, 2: the same in the last hidden layer, 3: the
                           likeliest class of a network trained on the attack rows only;
                           4: that network names every row not called normal */
    int novelty_cw;     /* the attack network's class weights: 0 as class_weight, 1 none, 2
                           sqrt, 3 balanced */
    double input_log;   /* K > 0: inputs x become sign(x) log(1 + K|x|) / log(1 + K) */
    int precision;      /* scoring arithmetic: 0 float32, 1 half (AVX512-FP16), 2 bfloat16 (AMX) */
};

static const char *const cw_choices[] = {"none", "sqrt", "balanced", NULL};
static const char *const ncw_choices[] = {"same", "none", "sqrt", "balanced", NULL};
static const char *const fit_choices[] = {"normal", "known", NULL};
static const char *const assign_choices[] = {"mlp",    "nearest",    "embed",
                                             "attack", "attack-all", NULL};
static const char *const precision_choices[] = {"f32", "f16", "bf16", NULL};

static const struct vigil_opt mlp_opts[] = {
    {"hidden", VIGIL_OPT_STR, offsetof(struct mlp_params, hidden), "64,32", 0, 0,
     "hidden layer widths, comma-separated (1 to 7 layers)", NULL},
    {"epochs", VIGIL_OPT_INT, offsetof(struct mlp_params, epochs), "30", 1, 100000,
     "passes over the training rows", NULL},
    {"batch", VIGIL_OPT_INT, offsetof(struct mlp_params, batch), "64", 1, 65536,
     "rows per Adam step", NULL},
    {"lr", VIGIL_OPT_DOUBLE, offsetof(struct mlp_params, lr), "0.001", 1e-7, 1.0,
     "Adam learning rate", NULL},
    {"weight-decay", VIGIL_OPT_DOUBLE, offsetof(struct mlp_params, weight_decay), "0", 0, 1,
     "decoupled weight decay (AdamW); 0 = plain Adam", NULL},
    {"class-weight", VIGIL_OPT_ENUM, offsetof(struct mlp_params, class_weight), "sqrt", 0, 0,
     "loss weight of class k: none = 1, sqrt = (N/(K n_k))^0.5, balanced = N/(K n_k)", cw_choices},
    {"label-smoothing", VIGIL_OPT_DOUBLE, offsetof(struct mlp_params, smooth), "0", 0, 0.9,
     "label smoothing: train towards (1 - eps) on the true class and eps / K on every class", NULL},
    {"seed", VIGIL_OPT_INT, offsetof(struct mlp_params, seed), "1", 0, INT_MAX,
     "random seed (initial weights, shuffles)", NULL},
    {"ensemble", VIGIL_OPT_INT, offsetof(struct mlp_params, ensemble), "1", 1, MLP_MAX_MEMBERS,
     "networks in the model, trained alike with seeds seed, seed+1, ...; scores average their "
     "probabilities",
     NULL},
    {"novelty-k", VIGIL_OPT_INT, offsetof(struct mlp_params, novelty_k), "0", 0, 4096,
     "k-means centroids of the normal rows for the novelty gate; 0 = no gate", NULL},
    {"novelty-q", VIGIL_OPT_DOUBLE, offsetof(struct mlp_params, novelty_q), "0.98", 0.5, 1.0,
     "novelty gate threshold: this quantile of the gate's training rows' distances", NULL},
    {"novelty-fit", VIGIL_OPT_ENUM, offsetof(struct mlp_params, novelty_fit), "normal", 0, 0,
     "rows the gate's k-means is fitted on: normal (distance from normal traffic) or known "
     "(every training row: distance from all known classes)",
     fit_choices},
    {"novelty-assign", VIGIL_OPT_ENUM, offsetof(struct mlp_params, novelty_assign), "mlp", 0, 0,
     "class of a row the gate takes from normal: mlp (the MLP's likeliest attack class), "
     "nearest (the attack class with the nearest k-means centroid; one k-means per class), "
     "embed (the same in the network's last hidden layer) or attack (the likeliest class of a "
     "second network of the same shape trained on the attack rows only); attack-all: that "
     "network also names the class of every row the MLP calls an attack",
     assign_choices},
    {"novelty-class-weight", VIGIL_OPT_ENUM, offsetof(struct mlp_params, novelty_cw), "same", 0, 0,
     "class weights of the attack network (novelty-assign attack, attack-all): same (as "
     "class-weight), none, sqrt or balanced over the attack classes",
     ncw_choices},
    {"input-log", VIGIL_OPT_DOUBLE, offsetof(struct mlp_params, input_log), "0", 0, 1e9,
     "K > 0 compresses scaled inputs: sign(x) log(1 + K|x|) / log(1 + K), for heavy tails", NULL},
    {"precision", VIGIL_OPT_ENUM, offsetof(struct mlp_params, precision), "f32", 0, 0,
     "scoring arithmetic, saved with the model: f32; f16 (half precision throughout, on CPUs "
     "with AVX512-FP16); bf16 (bfloat16 products, float32 sums, on AMX tiles). Where the CPU "
     "lacks it, f32. Training is always f32",
     precision_choices},
    {0},
};

/* Parses "64,32" into widths; returns the count (>= 1) or 0 when malformed. */
static size_t parse_hidden(const char *s, size_t *h)
{
    size_t n = 0;
    const char *p = s;
    if (!s || !*s) {
        return 0;
    }
    for (;;) {
        size_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 7) {
            v = v * 10 + (size_t)(*p++ - '0');
            digits++;
        }
        if (!digits || v == 0 || v > MLP_MAX_WIDTH || n == MLP_MAX_LAYERS - 1) {
            return 0;
        }
        h[n++] = v;
        if (*p == '\0') {
            return n;
        }
        if (*p++ != ',') {
            return 0;
        }
    }
}

static const char *mlp_check(const void *params)
{
    const struct mlp_params *p = params;
    size_t h[MLP_MAX_LAYERS];
    if (!parse_hidden(p->hidden, h)) {
        return "hidden must be 1 to 7 comma-separated widths in [1, 65536], e.g. 64,32";
    }
    if (p->novelty_q <= 0.0 || p->novelty_q > 1.0) {
        return "novelty-q must be in (0, 1]";
    }
    return NULL;
}

/* ---- the network ---- */

struct mlp {
    struct mlp_params p; /* hidden points into hidden_text */
    char hidden_text[128];
    size_t f, k, L;
    size_t n_mem;                     /* ensemble members (>= 1) */
    size_t n_one;                     /* parameters of one member */
    double in_log;                    /* input compression K (0 = none), saved with the model */
    size_t width[MLP_MAX_LAYERS + 1]; /* width[0] = F, width[L] = K */
    float *w[MLP_MAX_LAYERS];         /* (width[l+1], width[l]) into params: the current */
    float *b[MLP_MAX_LAYERS];         /* (width[l+1]) member's (use_member) */
    float *params;                    /* owned block: n_mem members of n_one floats */
    int prec;                      /* scoring precision requested (saved): 0 f32, 1 f16, 2 bf16 */
    uint32_t *wh;                  /* owned: half weights when f16 runs here, else NULL */
    uint32_t *whl[MLP_MAX_LAYERS]; /* into wh: the current member's layer l, weights then bias */
    uint16_t *wa;                  /* owned: AMX-packed bf16 weights when bf16 runs here */
    const uint16_t *wal[MLP_MAX_LAYERS]; /* into wa: the current member's */
    size_t wh_one, wa_one;               /* wh and wa elements per member */
    size_t n_params;
    float *scratch;          /* owned: scoring activations (L, CHUNK, max width), */
                             /* then the transformed inputs (CHUNK, F) */
    struct vigil_model gate; /* k-means of the normal rows (ops NULL = none) */
    float *gate_out;         /* owned: (CHUNK, gate n_out), then 3 x (CHUNK) (alloc_gate_out) */
    struct vigil_model *cls; /* owned, NULL or (K): k-means of attack class c (ops NULL: none) */
    int cls_emb;             /* 1: cls works on the last hidden layer (member 0), not the inputs */
    struct vigil_model sub;  /* novelty-assign attack: the attack rows' network (ops NULL: none) */
    float *sub_out;          /* owned: (CHUNK, K) sub's probabilities */
    int nested;              /* 1: this is an attack network, whose bytes may hold no gate */
    int sub_all;             /* 1: sub names every attack row, not only the gated ones */
    char *out_names[MLP_MAX_CLASSES];
};

/* Points a block of one member's size (parameters, gradients, moments) into w and b. */
static void point_like(const struct mlp *m, float *block, float **w, float **b)
{
    size_t off = 0;
    for (size_t l = 0; l < m->L; l++) {
        w[l] = block + off;
        off += m->width[l + 1] * m->width[l];
        b[l] = block + off;
        off += m->width[l + 1];
    }
}

/* Allocates the parameters of n_mem members; w and b point at member 0. */
static int layout(struct mlp *m)
{
    m->n_one = 0;
    for (size_t l = 0; l < m->L; l++) {
        m->n_one += m->width[l + 1] * m->width[l] + m->width[l + 1];
    }
    m->n_params = m->n_one * m->n_mem;
    m->params = vigil_calloc(m->n_params, sizeof *m->params);
    if (!m->params) {
        return -ENOMEM;
    }
    point_like(m, m->params, m->w, m->b);
    return 0;
}

/* Makes member e the one w, b, whl and wal point at. */
static void use_member(struct mlp *m, size_t e)
{
    point_like(m, m->params + e * m->n_one, m->w, m->b);
    for (size_t l = 0, off = e * m->wh_one; m->wh && l < m->L; l++) {
        m->whl[l] = m->wh + off;
        off += m->width[l + 1] * (m->width[l] + 1);
    }
    for (size_t l = 0, off = e * m->wa_one; m->wa && l < m->L; l++) {
        m->wal[l] = m->wa + off;
        off += vigil_amx_packed_size(m->width[l], m->width[l + 1]);
    }
}

static size_t max_width(const struct mlp *m)
{
    size_t mw = 0;
    for (size_t l = 0; l <= m->L; l++) {
        mw = m->width[l] > mw ? m->width[l] : mw;
    }
    return mw;
}

/*
 * Converts the layers for the requested scoring precision when the CPU can
 * run it (else scoring stays f32).
 */
static int pack_precision(struct mlp *m)
{
    vigil_free(m->wh);
    vigil_free(m->wa);
    m->wh = NULL;
    m->wa = NULL;
    if (m->prec == 2 && vigil_nn_have_amx()) {
        m->wa_one = 0;
        for (size_t l = 0; l < m->L; l++) {
            m->wa_one += vigil_amx_packed_size(m->width[l], m->width[l + 1]);
        }
        m->wa = vigil_mallocarray(m->wa_one * m->n_mem, sizeof *m->wa);
        if (!m->wa) {
            return -ENOMEM;
        }
        for (size_t e = 0, off = 0; e < m->n_mem; e++) {
            use_member(m, e);
            for (size_t l = 0; l < m->L; l++) {
                vigil_amx_pack(m->wa + off, m->w[l], m->width[l], m->width[l + 1]);
                off += vigil_amx_packed_size(m->width[l], m->width[l + 1]);
            }
        }
        use_member(m, 0);
        return 0;
    }
    if (m->prec != 1 || !vigil_nn_have_fp16()) {
        return 0;
    }
    m->wh_one = m->n_one; /* each layer's weights then bias, one 32-bit word per value */
    m->wh = vigil_mallocarray(m->n_params, sizeof *m->wh);
    if (!m->wh) {
        return -ENOMEM;
    }
    for (size_t e = 0; e < m->n_mem; e++) {
        use_member(m, e);
        for (size_t l = 0; l < m->L; l++) {
            vigil_fp16_pack(m->whl[l], m->w[l], m->b[l], m->width[l], m->width[l + 1]);
        }
    }
    use_member(m, 0);
    return 0;
}

static void free_net(struct mlp *m)
{
    vigil_free(m->params);
    vigil_free(m->wh);
    vigil_free(m->wa);
    m->wh = NULL;
    m->wa = NULL;
    vigil_free(m->scratch);
    vigil_free(m->gate_out);
    m->params = m->scratch = m->gate_out = NULL;
    vigil_model_fini(&m->gate);
    for (size_t c = 0; m->cls && c < m->k; c++) {
        vigil_model_fini(&m->cls[c]);
    }
    vigil_free(m->cls);
    m->cls = NULL;
    m->cls_emb = 0;
    m->sub_all = 0;
    vigil_model_fini(&m->sub);
    vigil_free(m->sub_out);
    m->sub_out = NULL;
    for (size_t j = 0; j < MLP_MAX_CLASSES; j++) {
        vigil_free(m->out_names[j]);
        m->out_names[j] = NULL;
    }
}

static int mlp_init(struct vigil_model *vm, const void *params)
{
    struct mlp *m = vigil_calloc(1, sizeof *m);
    if (!m) {
        return -ENOMEM;
    }
    m->p = *(const struct mlp_params *)params;
    snprintf(m->hidden_text, sizeof m->hidden_text, "%s", m->p.hidden ? m->p.hidden : "64,32");
    m->p.hidden = m->hidden_text;
    vm->ctx = m;
    return 0;
}

static void mlp_fini(struct vigil_model *vm)
{
    struct mlp *m = vm->ctx;
    if (m) {
        free_net(m);
        vigil_free(m);
    }
    vm->ctx = NULL;
}

static size_t mlp_n_out(const struct vigil_model *vm)
{
    const struct mlp *m = vm->ctx;
    return m ? m->k : 0;
}

static const char *mlp_out_name(const struct vigil_model *vm, size_t j)
{
    const struct mlp *m = vm->ctx;
    return m && j < m->k ? m->out_names[j] : NULL;
}

static int make_out_names(struct mlp *m)
{
    for (size_t j = 0; j < m->k; j++) {
        char name[32];
        snprintf(name, sizeof name, "p_%zu", j);
        m->out_names[j] = vigil_strdup(name);
        if (!m->out_names[j]) {
            return -ENOMEM;
        }
    }
    return 0;
}

/*
 * The training forward of n rows through every layer (sgemm). acts[l]
 * (N, width[l+1]) receives layer l's output after ReLU (logits for the last
 * layer, then softmax into probs (N,K)). Scoring uses forward_lanes.
 */
static void forward(const struct mlp *m, float *const *acts, float *probs, const float *x, size_t n)
{
    const float *inp = x;
    for (size_t l = 0; l < m->L; l++) {
        vigil_linear_forward(acts[l], inp, m->w[l], m->b[l], n, m->width[l], m->width[l + 1]);
        if (l + 1 < m->L) {
            vigil_relu_forward(acts[l], acts[l], n * m->width[l + 1]);
        }
        inp = acts[l];
    }
    vigil_softmax_forward(probs, acts[m->L - 1], n, m->k);
}

/*
 * The last hidden layer of the current member for n rows (sgemm, float32 in
 * every precision): the network's own representation of a row, where the
 * classes it learned are far apart. acts[l] (N, width[l+1]) as in forward;
 * the result is acts[L-2] (N, width[L-1]).
 */
static const float *embed(const struct mlp *m, float *const *acts, const float *x, size_t n)
{
    const float *inp = x;
    for (size_t l = 0; l + 1 < m->L; l++) {
        vigil_linear_forward(acts[l], inp, m->w[l], m->b[l], n, m->width[l], m->width[l + 1]);
        vigil_relu_forward(acts[l], acts[l], n * m->width[l + 1]);
        inp = acts[l];
    }
    return inp;
}

/*
 * The scoring forward: VIGIL_NN_TILE rows at a time, transposed, through every
 * layer in lane layout (nn.h; bias and ReLU fused), then the softmax. buf
 * holds 2 * VIGIL_NN_TILE * max width floats. bad[r] is set for rows with a
 * NaN or infinite input.
 */
static void forward_lanes(const struct mlp *m, float *buf, float *probs, const float *x, size_t n,
                          uint8_t *bad)
{
    float *h[2] = {buf, buf + VIGIL_NN_TILE * max_width(m)};
    for (size_t s = 0; s < n; s += VIGIL_NN_TILE) {
        size_t tn = n - s < VIGIL_NN_TILE ? n - s : VIGIL_NN_TILE;
        vigil_lanes_load(h[1], bad + s, x + s * m->f, tn, m->f);
        for (size_t l = 0; l < m->L; l++) {
            vigil_dense_lanes_forward(h[l & 1], h[(l + 1) & 1], m->w[l], m->b[l], m->width[l],
                                      m->width[l + 1], l + 1 < m->L);
        }
        vigil_softmax_lanes(probs + s * m->k, h[(m->L - 1) & 1], tn, m->k);
    }
}

/* The same in half precision (m->wh set); the last layer writes float32 logits. */
static void forward_lanes_f16(const struct mlp *m, float *buf, float *probs, const float *x,
                              size_t n, uint8_t *bad)
{
    void *h[2] = {buf, buf + VIGIL_NN_TILE * max_width(m)};
    for (size_t s = 0; s < n; s += VIGIL_NN_TILE) {
        size_t tn = n - s < VIGIL_NN_TILE ? n - s : VIGIL_NN_TILE;
        vigil_lanes_load(h[0], bad + s, x + s * m->f, tn, m->f);
        vigil_lanes_to_fp16(h[1], h[0], m->f);
        for (size_t l = 0; l < m->L; l++) {
            vigil_dense_lanes_fp16(h[l & 1], h[(l + 1) & 1], m->whl[l], m->width[l],
                                   m->width[l + 1], l + 1 < m->L, l + 1 == m->L);
        }
        vigil_softmax_lanes(probs + s * m->k, h[(m->L - 1) & 1], tn, m->k);
    }
}

/* ---- training ---- */

static int row_finite(const float *x, size_t f)
{
    for (size_t j = 0; j < f; j++) {
        if (!isfinite(x[j])) {
            return 0;
        }
    }
    return 1;
}

/* out (N,F) = the input compression of x (N,F); out may alias x. */
static void transform(const struct mlp *m, const float *x, float *out, size_t n)
{
    double k = m->in_log, norm = 1.0 / log1p(k);
    for (size_t i = 0; i < n * m->f; i++) {
        double v = x[i];
        double y = log1p(k * fabs(v)) * norm;
        out[i] = (float)(v < 0 ? -y : y);
    }
}

static size_t scratch_floats(const struct mlp *m)
{
    /* activations, transformed inputs, one byte per row (bad) as CHUNK / 4 floats, then one
       ensemble member's probabilities */
    return (size_t)CHUNK * max_width(m) * m->L + (size_t)CHUNK * m->f + CHUNK / 4 +
           (m->n_mem > 1 ? (size_t)CHUNK * m->k : 0);
}

/*
 * Fits km, a k-means model with k centroids and the novelty-q threshold, on
 * the usable rows of class cls (-1: every row). VIGIL_EEMPTY when fewer rows
 * than k.
 */
static int fit_km(const struct mlp *m, struct vigil_model *km, const struct vigil_batch *t,
                  const float *tx, const uint32_t *rows, size_t n, int cls, size_t k)
{
    const struct vigil_model_ops *ops = vigil_model_find("kmeans");
    if (!ops) {
        return VIGIL_ENOTSUP;
    }
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        nk += cls < 0 || t->y[rows[i]] == cls;
    }
    if (nk < k || k == 0) {
        return VIGIL_EEMPTY;
    }
    float *xn = vigil_mallocarray(nk * t->f, sizeof *xn);
    void *kp = vigil_calloc(1, ops->params_size);
    int rc = xn && kp ? vigil_opt_defaults(ops->opts, kp) : -ENOMEM;
    char val[32];
    snprintf(val, sizeof val, "%zu", k);
    rc = rc ? rc : vigil_opt_set(ops->opts, kp, "k", val, strlen(val), NULL);
    snprintf(val, sizeof val, "%.17g", m->p.novelty_q);
    rc = rc ? rc : vigil_opt_set(ops->opts, kp, "quantile", val, strlen(val), NULL);
    snprintf(val, sizeof val, "%d", m->p.seed);
    rc = rc ? rc : vigil_opt_set(ops->opts, kp, "seed", val, strlen(val), NULL);
    if (!rc) {
        size_t r = 0;
        for (size_t i = 0; i < n; i++) {
            if (cls < 0 || t->y[rows[i]] == cls) {
                memcpy(xn + r++ * t->f, tx + (size_t)rows[i] * t->f, t->f * sizeof *xn);
            }
        }
        rc = vigil_model_init(km, ops, kp);
    }
    if (!rc) {
        struct vigil_batch b = {.x = xn, .n = nk, .f = t->f, .threads = t->threads};
        rc = km->ops->fit(km, &b);
        km->f = t->f;
    }
    if (kp) {
        vigil_opt_free(ops->opts, kp);
    }
    vigil_free(kp);
    vigil_free(xn);
    return rc;
}

/* Scoring scratch of the gate: its score columns, then per row the ratio, the distance to the
   nearest attack centroid and its class; and the attack network's probabilities. */
static int alloc_gate_out(struct mlp *m)
{
    size_t go = m->gate.ops->n_out(&m->gate);
    m->gate_out = vigil_mallocarray((size_t)CHUNK * (go + 3), sizeof *m->gate_out);
    if (m->gate_out && m->sub.ops) {
        m->sub_out = vigil_mallocarray((size_t)CHUNK * m->k, sizeof *m->sub_out);
    }
    return m->gate_out && (m->sub_out || !m->sub.ops) ? 0 : -ENOMEM;
}

/*
 * novelty-assign attack: a network with the MLP's own settings (no gate, one
 * member) trained on the attack rows only (classes 1..K-1; class 0 has no row,
 * so its weight is 0). It only ever compares attacks with attacks. Raw inputs:
 * it compresses them itself. No attack row: no network (the MLP's class).
 */
static int fit_sub(struct mlp *m, const struct vigil_batch *t, const uint32_t *rows, size_t n)
{
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        na += t->y[rows[i]] > 0;
    }
    if (na == 0) {
        return 0;
    }
    float *xa = vigil_mallocarray(na * t->f, sizeof *xa);
    int32_t *ya = vigil_mallocarray(na, sizeof *ya);
    struct mlp_params sp = m->p;
    sp.novelty_k = 0;
    sp.novelty_assign = 0;
    sp.ensemble = 1;
    sp.class_weight = m->p.novelty_cw ? m->p.novelty_cw - 1 : m->p.class_weight;
    int rc = xa && ya ? 0 : -ENOMEM;
    for (size_t i = 0, r = 0; i < n && !rc; i++) {
        if (t->y[rows[i]] > 0) {
            memcpy(xa + r * t->f, t->x + (size_t)rows[i] * t->f, t->f * sizeof *xa);
            ya[r++] = t->y[rows[i]];
        }
    }
    rc = rc ? rc : vigil_model_init(&m->sub, &vigil_mlp_ops, &sp);
    if (!rc) {
        struct vigil_batch b = {.x = xa,
                                .n = na,
                                .f = t->f,
                                .y = ya,
                                .n_classes = m->k,
                                .threads = t->threads,
                                .progress = t->progress};
        rc = m->sub.ops->fit(&m->sub, &b);
    }
    vigil_free(xa);
    vigil_free(ya);
    return rc;
}

/* emb (N, width[L-1]) = the last hidden layer of member 0 for every row of t (tx: its inputs
   after compression), through the scoring scratch. */
static int embed_rows(struct mlp *m, const float *tx, size_t n, float **emb)
{
    size_t h = m->width[m->L - 1], mw = max_width(m);
    *emb = vigil_mallocarray(n * h, sizeof **emb);
    if (!*emb) {
        return -ENOMEM;
    }
    float *a[MLP_MAX_LAYERS];
    for (size_t l = 0; l < m->L; l++) {
        a[l] = m->scratch + l * (size_t)CHUNK * mw;
    }
    for (size_t s = 0; s < n; s += CHUNK) {
        size_t cn = n - s < CHUNK ? n - s : CHUNK;
        memcpy(*emb + s * h, embed(m, a, tx + s * m->f, cn), cn * h * sizeof **emb);
    }
    return 0;
}

/*
 * The gate (novelty-fit: normal rows or every row) and, for novelty-assign
 * nearest (embed), one k-means per attack class with min(novelty-k, rows of
 * the class) centroids on the inputs (the last hidden layer); for attack, the
 * attack rows' network. rows: the usable rows in the last shuffle's order,
 * rows0 the same in file order.
 */
static int fit_gate(struct mlp *m, const struct vigil_batch *t, const float *tx,
                    const uint32_t *rows, const uint32_t *rows0, size_t n)
{
    int rc =
        fit_km(m, &m->gate, t, tx, rows, n, m->p.novelty_fit == 1 ? -1 : 0, (size_t)m->p.novelty_k);
    float *emb = NULL;
    struct vigil_batch te = *t; /* the rows the per-class k-means see: inputs or embeddings */
    if (!rc && m->p.novelty_assign == 2) {
        rc = embed_rows(m, tx, t->n, &emb);
        te.f = m->width[m->L - 1];
        m->cls_emb = 1;
    }
    if (!rc && (m->p.novelty_assign == 1 || m->p.novelty_assign == 2)) {
        m->cls = vigil_calloc(m->k, sizeof *m->cls);
        rc = m->cls ? 0 : -ENOMEM;
        for (size_t c = 1; c < m->k && !rc; c++) {
            size_t nc = 0;
            for (size_t i = 0; i < n; i++) {
                nc += (size_t)t->y[rows[i]] == c;
            }
            size_t kc = nc < (size_t)m->p.novelty_k ? nc : (size_t)m->p.novelty_k;
            rc = kc ? fit_km(m, &m->cls[c], &te, emb ? emb : tx, rows, n, (int)c, kc) : 0;
        }
    }
    vigil_free(emb);
    if (!rc && m->p.novelty_assign >= 3) {
        rc = fit_sub(m, t, rows0, n); /* in file order: the network mlp trains on them */
        m->sub_all = m->p.novelty_assign == 4 && m->sub.ops;
    }
    return rc ? rc : alloc_gate_out(m);
}

static int mlp_fit(struct vigil_model *vm, const struct vigil_batch *t)
{
    struct mlp *m = vm->ctx;
    if (!t->y) {
        return -EINVAL;
    }
    if (t->n == 0 || t->f == 0 || t->n_classes < 2) {
        return VIGIL_EEMPTY;
    }
    if (t->f > MLP_MAX_F || t->n_classes > MLP_MAX_CLASSES || t->n > UINT32_MAX) {
        return VIGIL_ESHAPE;
    }
    free_net(m);
    size_t hidden[MLP_MAX_LAYERS];
    size_t nh = parse_hidden(m->p.hidden, hidden);
    m->in_log = m->p.input_log;
    m->prec = m->p.precision;
    m->f = t->f;
    m->k = t->n_classes;
    m->L = nh + 1;
    m->n_mem = (size_t)m->p.ensemble;
    m->width[0] = m->f;
    for (size_t l = 0; l < nh; l++) {
        m->width[l + 1] = hidden[l];
    }
    m->width[m->L] = m->k;
    size_t B = (size_t)m->p.batch;
    size_t mw = max_width(m);

    /* Usable rows: finite features and a label in range (kept in order in rows0). */
    uint32_t *rows = vigil_mallocarray(t->n, sizeof *rows);
    uint32_t *rows0 = vigil_mallocarray(t->n, sizeof *rows0);
    double count[MLP_MAX_CLASSES] = {0};
    int rc = rows && rows0 ? layout(m) : -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < t->n && !rc; i++) {
        if (t->y[i] >= 0 && (size_t)t->y[i] < m->k && row_finite(t->x + i * t->f, t->f)) {
            rows0[n++] = (uint32_t)i;
            count[t->y[i]]++;
        }
    }
    if (!rc && n == 0) {
        rc = VIGIL_EEMPTY;
    }
    /* Training buffers: gradients, moments, batch, activations and their gradients. */
    float *grad = NULL, *mom1 = NULL, *mom2 = NULL, *xb = NULL, *acts = NULL, *dacts = NULL;
    float *probs = NULL, *cw = NULL, *dpost = NULL, *xt = NULL;
    const float *tx = t->x; /* training inputs, compressed when input-log is set */
    int32_t *yb = NULL;
    if (!rc && m->in_log > 0) {
        xt = vigil_mallocarray(t->n * t->f, sizeof *xt);
        if (xt) {
            transform(m, t->x, xt, t->n);
            tx = xt;
        } else {
            rc = -ENOMEM;
        }
    }
    if (!rc) {
        grad = vigil_calloc(m->n_one, sizeof *grad);
        mom1 = vigil_calloc(m->n_one, sizeof *mom1);
        mom2 = vigil_calloc(m->n_one, sizeof *mom2);
        xb = vigil_mallocarray(B * m->f, sizeof *xb);
        acts = vigil_mallocarray(B * mw * m->L, sizeof *acts);
        dacts = vigil_mallocarray(B * mw * m->L, sizeof *dacts);
        dpost = vigil_mallocarray(B * mw, sizeof *dpost);
        probs = vigil_mallocarray(B * m->k, sizeof *probs);
        cw = vigil_mallocarray(m->k, sizeof *cw);
        yb = vigil_mallocarray(B, sizeof *yb);
        m->scratch = vigil_mallocarray(scratch_floats(m), sizeof *m->scratch);
        if (!grad || !mom1 || !mom2 || !xb || !acts || !dacts || !dpost || !probs || !cw || !yb ||
            !m->scratch) {
            rc = -ENOMEM;
        }
    }
    rc = rc ? rc : make_out_names(m);
    if (rc) {
        goto done;
    }

    /* Class weights, normalized to a mean of 1 over the rows. */
    double alpha = m->p.class_weight == 0 ? 0.0 : m->p.class_weight == 1 ? 0.5 : 1.0;
    double wsum = 0;
    for (size_t c = 0; c < m->k; c++) {
        double w = count[c] > 0 ? pow((double)n / ((double)m->k * count[c]), alpha) : 0.0;
        cw[c] = (float)w;
        wsum += w * count[c];
    }
    for (size_t c = 0; c < m->k; c++) {
        cw[c] = (float)((double)cw[c] * (double)n / wsum);
    }

    float *gw[MLP_MAX_LAYERS], *gb[MLP_MAX_LAYERS];
    point_like(m, grad, gw, gb);
    float *a[MLP_MAX_LAYERS], *da[MLP_MAX_LAYERS];
    for (size_t l = 0; l < m->L; l++) {
        a[l] = acts + l * B * mw;
        da[l] = dacts + l * B * mw;
    }
    struct vigil_adamw hp = {.lr = (float)m->p.lr,
                             .beta1 = 0.9f,
                             .beta2 = 0.999f,
                             .eps = 1e-8f,
                             .weight_decay = (float)m->p.weight_decay};
    /* Member e is the network a single model with seed + e would be. */
    for (size_t e = 0; e < m->n_mem; e++) {
        use_member(m, e);
        memcpy(rows, rows0, n * sizeof *rows);
        memset(mom1, 0, m->n_one * sizeof *mom1);
        memset(mom2, 0, m->n_one * sizeof *mom2);
        /* Initial weights as PyTorch's nn.Linear: U(-1/sqrt(F), 1/sqrt(F)). */
        struct vigil_rng rng;
        vigil_rng_seed(&rng, (uint64_t)m->p.seed + e);
        for (size_t l = 0; l < m->L; l++) {
            float bound = 1.0f / sqrtf((float)m->width[l]);
            vigil_nn_init_uniform(m->w[l], m->width[l + 1] * m->width[l], bound, &rng);
            vigil_nn_init_uniform(m->b[l], m->width[l + 1], bound, &rng);
        }
        int64_t step = 0;
        for (int ep = 0; ep < m->p.epochs; ep++) {
            vigil_rng_shuffle(&rng, rows, n);
            double loss_sum = 0;
            for (size_t s = 0; s < n; s += B) {
                size_t bn = n - s < B ? n - s : B;
                double wb = 0;
                for (size_t i = 0; i < bn; i++) {
                    memcpy(xb + i * m->f, tx + (size_t)rows[s + i] * m->f, m->f * sizeof *xb);
                    yb[i] = t->y[rows[s + i]];
                    wb += (double)cw[yb[i]];
                }
                /* forward */
                forward(m, a, probs, xb, bn);
                loss_sum += vigil_crossentropy_forward(NULL, probs, yb, cw, bn, m->k) * (double)bn;
                /* zero_grad */
                memset(grad, 0, m->n_one * sizeof *grad);
                memset(dacts, 0, B * mw * m->L * sizeof *dacts);
                /* backward: the weighted mean, as PyTorch's CrossEntropyLoss(weight=...) */
                float sc = (float)(1.0 / (wb > 0 ? wb : 1.0));
                vigil_crossentropy_softmax_backward(da[m->L - 1], probs, yb, cw, sc, bn, m->k);
                /* label smoothing: the gradient p - t gains eps (onehot - 1 / K) */
                for (size_t i = 0; m->p.smooth > 0 && i < bn; i++) {
                    float eps = (float)m->p.smooth, sw = sc * cw[yb[i]];
                    float *d = da[m->L - 1] + i * m->k;
                    for (size_t c = 0; c < m->k; c++) {
                        d[c] +=
                            sw * eps * (((size_t)yb[i] == c ? 1.0f : 0.0f) - 1.0f / (float)m->k);
                    }
                }
                for (size_t l = m->L; l-- > 0;) {
                    const float *inp = l == 0 ? xb : a[l - 1];
                    if (l > 0) {
                        memset(dpost, 0, bn * m->width[l] * sizeof *dpost);
                    }
                    /* da[l] holds the gradient of layer l's pre-activation output. */
                    vigil_linear_backward(l == 0 ? NULL : dpost, gw[l], gb[l], da[l], inp, m->w[l],
                                          bn, m->width[l], m->width[l + 1]);
                    if (l > 0) {
                        vigil_relu_backward(da[l - 1], dpost, a[l - 1], bn * m->width[l]);
                    }
                }
                /* update */
                vigil_adamw_update(m->w[0], mom1, mom2, grad, m->n_one, &hp, ++step);
            }
            if (t->progress) {
                fprintf(stderr, "\rmlp: member %zu/%zu, epoch %d/%d, loss %.4f", e + 1, m->n_mem,
                        ep + 1, m->p.epochs, loss_sum / (double)n);
            }
        }
        if (t->progress) {
            fputc('\n', stderr);
        }
    }
    use_member(m, 0);
    rc = pack_precision(m);
    if (!rc && m->p.novelty_k > 0) {
        rc = fit_gate(m, t, tx, rows, rows0, n);
    }
    vm->f = m->f;
done:
    vigil_free(rows);
    vigil_free(rows0);
    vigil_free(xt);
    vigil_free(grad);
    vigil_free(mom1);
    vigil_free(mom2);
    vigil_free(xb);
    vigil_free(acts);
    vigil_free(dacts);
    vigil_free(dpost);
    vigil_free(probs);
    vigil_free(cw);
    vigil_free(yb);
    if (rc) {
        free_net(m);
        vm->f = 0;
    }
    return rc;
}

/* ---- scoring ---- */

/* True when row p (K probabilities) is called normal by the network. */
static int calls_normal(const float *p, size_t k)
{
    size_t best = 0;
    for (size_t c = 1; c < k; c++) {
        best = p[c] > p[best] ? c : best;
    }
    return best == 0;
}

/*
 * The gate: rows the network calls normal but the gate's k-means finds novel
 * (ratio column > 1) are not normal. Their normal probability goes to the
 * attack classes in proportion to theirs (uniformly when those are all zero),
 * or, with per-class k-means (novelty-assign nearest, embed), all of it to the
 * attack class whose nearest centroid is closest, or (novelty-assign attack)
 * all of it to the attack network's likeliest class (the others keep theirs).
 * With attack-all, every row not normal (called an attack by the network, or
 * gated) gets that class with all its attack probability.
 * x: the inputs after compression, raw: before (the attack network's), a:
 * the scoring activations (free here; the embedding is computed into them).
 */
static int apply_gate(struct mlp *m, const float *x, const float *raw, float *const *a, size_t n,
                      float *probs)
{
    size_t go = m->gate.ops->n_out(&m->gate);
    float *ratio = m->gate_out + (size_t)CHUNK * go, *dist = ratio + CHUNK, *near = dist + CHUNK;
    int rc = m->gate.ops->score(&m->gate, x, n, m->gate_out);
    size_t gated = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        ratio[i] = m->gate_out[i * go];
        dist[i] = INFINITY;
        near[i] = 0.0f;
        gated += ratio[i] > 1.0f && calls_normal(probs + i * m->k, m->k);
    }
    if (rc || (gated == 0 && !m->sub_all)) {
        return rc;
    }
    /* The attack network: its likeliest attack class. */
    if (m->sub.ops) {
        rc = m->sub.ops->score(&m->sub, raw, n, m->sub_out);
        for (size_t i = 0; i < n && !rc; i++) {
            const float *q = m->sub_out + i * m->k;
            size_t best = 1;
            for (size_t c = 2; c < m->k; c++) {
                best = q[c] > q[best] ? c : best;
            }
            near[i] = isfinite(q[best]) ? (float)best : 0.0f;
        }
    }
    /* Per-class k-means: column 3 is the row's raw distance (the "all" group's MSE, recon.h),
       of the inputs or of member 0's last hidden layer. */
    const float *xc = m->cls && m->cls_emb ? embed(m, a, x, n) : x;
    for (size_t c = 1; m->cls && c < m->k && !rc; c++) {
        if (!m->cls[c].ops) {
            continue;
        }
        rc = m->cls[c].ops->score(&m->cls[c], xc, n, m->gate_out);
        for (size_t i = 0; i < n && !rc; i++) {
            float d = m->gate_out[i * go + 3];
            if (d < dist[i]) {
                dist[i] = d;
                near[i] = (float)c;
            }
        }
    }
    if (rc) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        float *p = probs + i * m->k;
        int normal = calls_normal(p, m->k);
        if (normal && ratio[i] > 1.0f) {
            if (near[i] > 0.0f) {
                p[(size_t)near[i]] += p[0];
            } else {
                float rest = 1.0f - p[0];
                for (size_t c = 1; c < m->k; c++) {
                    p[c] = rest > 0 ? p[c] / rest : 1.0f / (float)(m->k - 1);
                }
            }
            p[0] = 0.0f;
            normal = 0;
        }
        if (m->sub_all && near[i] > 0.0f && !normal) {
            float sum = 0.0f;
            for (size_t c = 1; c < m->k; c++) {
                sum += p[c];
                p[c] = 0.0f;
            }
            p[(size_t)near[i]] = sum; /* > p[0]: some attack class was above it */
        }
    }
    return 0;
}

/* One network (the current member) over cn <= CHUNK rows, in the model's precision. */
static void forward_one(const struct mlp *m, float *buf, float *probs, const float *x, size_t n,
                        uint8_t *bad)
{
    size_t mw = max_width(m);
    if (m->wa && vigil_amx_scratch_bytes(mw) <= (size_t)CHUNK * mw * m->L * sizeof(float)) {
        const float *bias[MLP_MAX_LAYERS];
        for (size_t l = 0; l < m->L; l++) {
            bias[l] = m->b[l];
        }
        vigil_amx_forward(probs, bad, x, n, m->L, m->width, m->wal, bias, buf);
    } else if (m->wh) {
        forward_lanes_f16(m, buf, probs, x, n, bad);
    } else {
        forward_lanes(m, buf, probs, x, n, bad);
    }
}

static int mlp_score(struct vigil_model *vm, const float *x, size_t n, float *out)
{
    struct mlp *m = vm->ctx;
    if (!m || !m->params) {
        return -EINVAL;
    }
    size_t mw = max_width(m);
    float *a[MLP_MAX_LAYERS];
    for (size_t l = 0; l < m->L; l++) {
        a[l] = m->scratch + l * (size_t)CHUNK * mw;
    }
    float *xin = m->scratch + (size_t)CHUNK * mw * m->L;
    for (size_t s = 0; s < n; s += CHUNK) {
        size_t cn = n - s < CHUNK ? n - s : CHUNK;
        const float *xc = x + s * m->f;
        float *pc = out + s * m->k;
        const float *xm = xc;
        if (m->in_log > 0) {
            transform(m, xc, xin, cn);
            xm = xin;
        }
        uint8_t *bad = (uint8_t *)(xin + (size_t)CHUNK * m->f);
        /* The ensemble's mean: member 0 into pc, the others through pe. */
        float *pe = xin + (size_t)CHUNK * m->f + CHUNK / 4;
        for (size_t e = 0; e < m->n_mem; e++) {
            use_member(m, e);
            forward_one(m, a[0], e ? pe : pc, xm, cn, bad);
            for (size_t i = 0; e && i < cn * m->k; i++) {
                pc[i] += pe[i];
            }
        }
        if (m->n_mem > 1) {
            use_member(m, 0);
            float inv = 1.0f / (float)m->n_mem;
            for (size_t i = 0; i < cn * m->k; i++) {
                pc[i] *= inv;
            }
        }
        if (m->gate.ops) {
            int rc = apply_gate(m, xm, xc, a, cn, pc);
            if (rc) {
                return rc;
            }
        }
        /* Rows with a missing feature get no class. */
        for (size_t i = 0; i < cn; i++) {
            if (bad[i]) {
                for (size_t c = 0; c < m->k; c++) {
                    pc[i * m->k + c] = NAN;
                }
            }
        }
    }
    return 0;
}

/* ---- bytes ----
 *
 *   u32 magic "MLP1" | u32 F | u32 K | u32 L | L x u32 width[1..L] | f64 input-log K |
 *   n_params x f32 | u32 flags (bit 0: gate; bits 1-2: scoring precision 0 f32, 1 f16, 2 bf16;
 *   bit 3: per-class k-means; bit 4: they work on the last hidden layer; bit 5: attack network;
 *   bit 6: it names every attack row) |
 *   [u64 len | len bytes of the kmeans model] (when the gate bit is set) |
 *   [(K - 1) x (u64 len | the k-means of class c, len 0 for none)] (bit 3) |
 *   [u64 len | the attack network's bytes, an MLP1 without gate] (bit 5)
 *
 * An ensemble (members > 1) is "MLP2" | u32 members | the same fields, with
 * members x n_params floats, member after member. A single network keeps the
 * MLP1 bytes, so files of either kind read unchanged.
 */

/* u64 len | the (k-means or attack network) model's bytes; len 0 for none (ops NULL). */
static int save_km(const struct vigil_model *km, struct vigil_buf *out)
{
    if (!km->ops) {
        return vigil_buf_put_u64(out, 0);
    }
    struct vigil_buf g;
    vigil_buf_init(&g);
    int rc = km->ops->save(km, &g);
    rc = rc ? rc : vigil_buf_put_u64(out, g.len);
    rc = rc ? rc : vigil_buf_append(out, g.p, g.len);
    vigil_buf_fini(&g);
    return rc;
}

static int mlp_save(const struct vigil_model *vm, struct vigil_buf *out)
{
    const struct mlp *m = vm->ctx;
    if (!m || !m->params) {
        return -EINVAL;
    }
    int rc = vigil_buf_put_u32(out, m->n_mem > 1 ? MAGIC2 : MAGIC);
    if (!rc && m->n_mem > 1) {
        rc = vigil_buf_put_u32(out, (uint32_t)m->n_mem);
    }
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)m->f);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)m->k);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)m->L);
    for (size_t l = 1; l <= m->L && !rc; l++) {
        rc = vigil_buf_put_u32(out, (uint32_t)m->width[l]);
    }
    rc = rc ? rc : vigil_buf_put_f64(out, m->in_log);
    for (size_t i = 0; i < m->n_params && !rc; i++) {
        rc = vigil_buf_put_f32(out, m->params[i]);
    }
    uint32_t flags = (m->gate.ops ? 1u : 0u) | (uint32_t)m->prec << 1 | (m->cls ? 8u : 0u) |
                     (m->cls_emb ? 16u : 0u) | (m->sub.ops ? 32u : 0u) | (m->sub_all ? 64u : 0u);
    rc = rc ? rc : vigil_buf_put_u32(out, flags);
    if (!rc && m->gate.ops) {
        rc = save_km(&m->gate, out);
    }
    for (size_t c = 1; !rc && m->cls && c < m->k; c++) {
        rc = save_km(&m->cls[c], out);
    }
    if (!rc && m->sub.ops) {
        rc = save_km(&m->sub, out); /* the same framing: u64 len | a model's bytes */
    }
    return rc;
}

/*
 * Reads u64 len | a k-means model into km, which must have f inputs (the
 * MLP's, or its last hidden layer's) and the gate's score columns (go; 0 for
 * the gate itself). len 0 leaves km empty when may_be_empty.
 */
static int load_km(struct vigil_model *km, struct vigil_rd *r, size_t f, size_t go,
                   int may_be_empty)
{
    const struct vigil_model_ops *ops = vigil_model_find("kmeans");
    uint64_t len;
    if (!ops) {
        return VIGIL_ENOTSUP;
    }
    if (vigil_rd_u64(r, &len) || len > r->n || (len == 0 && !may_be_empty)) {
        return VIGIL_EFORMAT;
    }
    if (len == 0) {
        return 0;
    }
    void *kp = vigil_calloc(1, ops->params_size);
    int rc = kp ? vigil_opt_defaults(ops->opts, kp) : -ENOMEM;
    rc = rc ? rc : vigil_model_init(km, ops, kp);
    rc = rc ? rc : ops->load(km, r->p, (size_t)len);
    /* Column 3 (a raw distance) is read from every model: at least 4 columns. */
    if (!rc && (km->f != f || ops->n_out(km) < 4 || (go && ops->n_out(km) != go))) {
        rc = VIGIL_EFORMAT;
    }
    r->p += len;
    r->n -= (size_t)len;
    if (kp) {
        vigil_opt_free(ops->opts, kp);
    }
    vigil_free(kp);
    return rc == -ENOMEM ? rc : rc ? VIGIL_EFORMAT : 0;
}

/* Reads u64 len | the attack network: one MLP of the same inputs and classes, without gate. */
static int load_sub(struct mlp *m, struct vigil_rd *r)
{
    uint64_t len;
    if (vigil_rd_u64(r, &len) || len == 0 || len > r->n) {
        return VIGIL_EFORMAT;
    }
    void *sp = vigil_calloc(1, vigil_mlp_ops.params_size);
    int rc = sp ? vigil_opt_defaults(vigil_mlp_ops.opts, sp) : -ENOMEM;
    rc = rc ? rc : vigil_model_init(&m->sub, &vigil_mlp_ops, sp);
    if (!rc) {
        ((struct mlp *)m->sub.ctx)->nested = 1; /* no recursion the bytes could deepen */
        rc = vigil_mlp_ops.load(&m->sub, r->p, (size_t)len);
    }
    if (!rc) {
        const struct mlp *s = m->sub.ctx;
        if (s->f != m->f || s->k != m->k || s->n_mem != 1 || s->gate.ops) {
            rc = VIGIL_EFORMAT;
        }
    }
    r->p += len;
    r->n -= (size_t)len;
    if (sp) {
        vigil_opt_free(vigil_mlp_ops.opts, sp);
    }
    vigil_free(sp);
    return rc == -ENOMEM ? rc : rc ? VIGIL_EFORMAT : 0;
}

static int mlp_load(struct vigil_model *vm, const void *p, size_t n)
{
    struct mlp *m = vm->ctx;
    free_net(m);
    struct vigil_rd r;
    vigil_rd_init(&r, p, n);
    uint32_t magic, mem = 1, f, k, L, v;
    if (vigil_rd_u32(&r, &magic) || (magic != MAGIC && magic != MAGIC2) ||
        (magic == MAGIC2 && (vigil_rd_u32(&r, &mem) || mem < 2 || mem > MLP_MAX_MEMBERS)) ||
        vigil_rd_u32(&r, &f) || vigil_rd_u32(&r, &k) || vigil_rd_u32(&r, &L) || f == 0 ||
        f > MLP_MAX_F || k < 2 || k > MLP_MAX_CLASSES || L < 1 || L > MLP_MAX_LAYERS) {
        return VIGIL_EFORMAT;
    }
    m->f = f;
    m->k = k;
    m->L = L;
    m->n_mem = mem;
    m->width[0] = f;
    for (size_t l = 1; l <= L; l++) {
        if (vigil_rd_u32(&r, &v) || v == 0 || v > MLP_MAX_WIDTH) {
            return VIGIL_EFORMAT;
        }
        m->width[l] = v;
    }
    if (m->width[L] != k || vigil_rd_f64(&r, &m->in_log) || !(m->in_log >= 0 && m->in_log <= 1e9)) {
        return VIGIL_EFORMAT;
    }
    /* Check the parameter count against the bytes before allocating anything. */
    size_t need = 0;
    for (size_t l = 0; l < L; l++) {
        need += m->width[l + 1] * m->width[l] + m->width[l + 1];
    }
    if (need > r.n / 4 / mem) {
        return VIGIL_EFORMAT;
    }
    int rc = layout(m);
    if (rc) {
        return rc;
    }
    for (size_t i = 0; i < m->n_params; i++) {
        if (vigil_rd_f32(&r, &m->params[i]) || !isfinite(m->params[i])) {
            free_net(m);
            return VIGIL_EFORMAT;
        }
    }
    /* flags: bit 0 gate, bits 1-2 precision, bit 3 per-class k-means (needs the gate), bit 4
       they work on the last hidden layer (needs bit 3), bit 5 attack network (needs the gate),
       bit 6 it names every attack row (needs bit 5) */
    uint32_t flags;
    if (vigil_rd_u32(&r, &flags) || (flags >> 1 & 3u) > 2 || flags >> 7 ||
        ((flags & 64u) && !(flags & 32u)) || ((flags & 8u) && !(flags & 1u)) ||
        ((flags & 16u) && !(flags & 8u)) || ((flags & 32u) && !(flags & 1u)) ||
        (m->nested && (flags & 1u))) {
        free_net(m);
        return VIGIL_EFORMAT;
    }
    m->prec = (int)(flags >> 1 & 3u);
    m->scratch = vigil_mallocarray(scratch_floats(m), sizeof *m->scratch);
    rc = m->scratch ? make_out_names(m) : -ENOMEM;
    rc = rc ? rc : pack_precision(m);
    if (!rc && (flags & 1u)) {
        rc = load_km(&m->gate, &r, f, 0, 0);
    }
    if (!rc && (flags & 8u)) {
        m->cls = vigil_calloc(k, sizeof *m->cls);
        m->cls_emb = (flags & 16u) != 0;
        rc = m->cls ? 0 : -ENOMEM;
        for (size_t c = 1; c < k && !rc; c++) {
            rc = load_km(&m->cls[c], &r, m->cls_emb ? m->width[L - 1] : f,
                         m->gate.ops->n_out(&m->gate), 1);
        }
    }
    if (!rc && (flags & 32u)) {
        rc = load_sub(m, &r);
        m->sub_all = (flags & 64u) != 0;
    }
    if (!rc && (flags & 1u)) {
        rc = alloc_gate_out(m);
    }
    if (!rc && r.n != 0) {
        rc = VIGIL_EFORMAT;
    }
    if (rc) {
        free_net(m);
        return rc;
    }
    vm->f = f;
    return 0;
}

const struct vigil_model_ops vigil_mlp_ops = {
    .abi = VIGIL_MODEL_ABI,
    .name = "mlp",
    .summary = "multilayer perceptron classifier (ReLU, softmax, Adam, class weights, optional "
               "k-means novelty gate)",
    .opts = mlp_opts,
    .params_size = sizeof(struct mlp_params),
    .supervised = 1,
    .check = mlp_check,
    .init = mlp_init,
    .fit = mlp_fit,
    .n_out = mlp_n_out,
    .out_name = mlp_out_name,
    .score = mlp_score,
    .update = NULL,
    .save = mlp_save,
    .load = mlp_load,
    .fini = mlp_fini,
};
