/*
 * Multilayer perceptron classifier ("mlp"): dense layers with ReLU, a softmax
 * output over the classes, weighted cross-entropy, Adam (AdamW with optional
 * decoupled weight decay), mini-batches drawn by a seeded shuffle. The layers
 * are the shared ones of src/model/nn.c; this file only wires them, in
 * llm.c's shape: one parameter block, one gradient block, one block per Adam
 * moment, and a training step of four visible calls (forward, zero_grad,
 * backward, update).
 *
 * Class weights: w_k = (N / (K n_k))^a with a = 0 (none), 0.5 (sqrt, the
 * default) or 1 (balanced), normalized so the weighted mean loss has the scale
 * of the plain one. Rare classes (R2L, U2R in NSL-KDD; probes in traffic)
 * would otherwise be ignored.
 *
 * Optional novelty gate (novelty-k > 0): a k-means model ("kmeans", the
 * reconstruction model of src/model/kmeans.c, used through the generic model
 * interface) is fitted on the normal training rows only, with its threshold
 * at the novelty-q quantile of their distances. A row the MLP calls normal
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
#define MAGIC 0x31504c4du /* "MLP1" little-endian */

struct mlp_params {
    char *hidden; /* "64,32" */
    int epochs;
    int batch;
    double lr;
    double weight_decay;
    int class_weight; /* 0 none, 1 sqrt, 2 balanced */
    int seed;
    int novelty_k; /* 0 = no gate */
    double novelty_q;
    double input_log; /* K > 0: inputs x become sign(x) log(1 + K|x|) / log(1 + K) */
    int precision;    /* scoring arithmetic: 0 float32, 1 half (AVX512-FP16), 2 bfloat16 (AMX) */
};

static const char *const cw_choices[] = {"none", "sqrt", "balanced", NULL};
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
    {"seed", VIGIL_OPT_INT, offsetof(struct mlp_params, seed), "1", 0, INT_MAX,
     "random seed (initial weights, shuffles)", NULL},
    {"novelty-k", VIGIL_OPT_INT, offsetof(struct mlp_params, novelty_k), "0", 0, 4096,
     "k-means centroids of the normal rows for the novelty gate; 0 = no gate", NULL},
    {"novelty-q", VIGIL_OPT_DOUBLE, offsetof(struct mlp_params, novelty_q), "0.98", 0.5, 1.0,
     "novelty gate threshold: this quantile of the normal training rows' distances", NULL},
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
    double in_log;                    /* input compression K (0 = none), saved with the model */
    size_t width[MLP_MAX_LAYERS + 1]; /* width[0] = F, width[L] = K */
    float *w[MLP_MAX_LAYERS];         /* (width[l+1], width[l]) into params */
    float *b[MLP_MAX_LAYERS];         /* (width[l+1]) */
    float *params;                    /* owned block */
    int prec;                      /* scoring precision requested (saved): 0 f32, 1 f16, 2 bf16 */
    uint32_t *wh;                  /* owned: half weights when f16 runs here, else NULL */
    uint32_t *whl[MLP_MAX_LAYERS]; /* into wh: layer l's weights then bias */
    uint16_t *wa;                  /* owned: AMX-packed bf16 weights when bf16 runs here */
    const uint16_t *wal[MLP_MAX_LAYERS]; /* into wa */
    size_t n_params;
    float *scratch;          /* owned: scoring activations (L, CHUNK, max width), */
                             /* then the transformed inputs (CHUNK, F) */
    struct vigil_model gate; /* k-means of the normal rows (ops NULL = none) */
    float *gate_out;         /* owned: (CHUNK, gate n_out) */
    char *out_names[MLP_MAX_CLASSES];
};

static int layout(struct mlp *m)
{
    size_t sizes[2 * MLP_MAX_LAYERS];
    float **ptrs[2 * MLP_MAX_LAYERS];
    for (size_t l = 0; l < m->L; l++) {
        sizes[2 * l] = m->width[l + 1] * m->width[l];
        sizes[2 * l + 1] = m->width[l + 1];
        ptrs[2 * l] = &m->w[l];
        ptrs[2 * l + 1] = &m->b[l];
    }
    m->n_params = vigil_nn_count(sizes, 2 * m->L);
    m->params = vigil_nn_alloc(ptrs, sizes, 2 * m->L);
    return m->params ? 0 : -ENOMEM;
}

/* Points another block (gradients, moments) like the parameters. */
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
        size_t total = 0;
        for (size_t l = 0; l < m->L; l++) {
            total += vigil_amx_packed_size(m->width[l], m->width[l + 1]);
        }
        m->wa = vigil_mallocarray(total, sizeof *m->wa);
        if (!m->wa) {
            return -ENOMEM;
        }
        for (size_t l = 0, off = 0; l < m->L; l++) {
            vigil_amx_pack(m->wa + off, m->w[l], m->width[l], m->width[l + 1]);
            m->wal[l] = m->wa + off;
            off += vigil_amx_packed_size(m->width[l], m->width[l + 1]);
        }
        return 0;
    }
    if (m->prec != 1 || !vigil_nn_have_fp16()) {
        return 0;
    }
    m->wh = vigil_mallocarray(m->n_params, sizeof *m->wh);
    if (!m->wh) {
        return -ENOMEM;
    }
    for (size_t l = 0, off = 0; l < m->L; l++) {
        m->whl[l] = m->wh + off;
        vigil_fp16_pack(m->whl[l], m->w[l], m->b[l], m->width[l], m->width[l + 1]);
        off += m->width[l + 1] * (m->width[l] + 1);
    }
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
    /* activations, transformed inputs, then one byte per row (bad) as CHUNK / 4 floats */
    return (size_t)CHUNK * max_width(m) * m->L + (size_t)CHUNK * m->f + CHUNK / 4;
}

static int fit_gate(struct mlp *m, const struct vigil_batch *t, const float *tx,
                    const uint32_t *rows, size_t n)
{
    const struct vigil_model_ops *ops = vigil_model_find("kmeans");
    if (!ops) {
        return VIGIL_ENOTSUP;
    }
    size_t normal = 0;
    for (size_t i = 0; i < n; i++) {
        normal += t->y[rows[i]] == 0;
    }
    if (normal < (size_t)m->p.novelty_k) {
        return VIGIL_EEMPTY;
    }
    float *xn = vigil_mallocarray(normal * t->f, sizeof *xn);
    void *kp = vigil_calloc(1, ops->params_size);
    int rc = xn && kp ? vigil_opt_defaults(ops->opts, kp) : -ENOMEM;
    char val[32];
    snprintf(val, sizeof val, "%d", m->p.novelty_k);
    rc = rc ? rc : vigil_opt_set(ops->opts, kp, "k", val, strlen(val), NULL);
    snprintf(val, sizeof val, "%.17g", m->p.novelty_q);
    rc = rc ? rc : vigil_opt_set(ops->opts, kp, "quantile", val, strlen(val), NULL);
    snprintf(val, sizeof val, "%d", m->p.seed);
    rc = rc ? rc : vigil_opt_set(ops->opts, kp, "seed", val, strlen(val), NULL);
    if (!rc) {
        size_t r = 0;
        for (size_t i = 0; i < n; i++) {
            if (t->y[rows[i]] == 0) {
                memcpy(xn + r++ * t->f, tx + (size_t)rows[i] * t->f, t->f * sizeof *xn);
            }
        }
        rc = vigil_model_init(&m->gate, ops, kp);
    }
    if (!rc) {
        struct vigil_batch b = {.x = xn, .n = normal, .f = t->f, .threads = t->threads};
        rc = m->gate.ops->fit(&m->gate, &b);
        m->gate.f = t->f;
    }
    if (!rc) {
        m->gate_out =
            vigil_mallocarray((size_t)CHUNK * m->gate.ops->n_out(&m->gate), sizeof *m->gate_out);
        rc = m->gate_out ? 0 : -ENOMEM;
    }
    if (kp) {
        vigil_opt_free(ops->opts, kp);
    }
    vigil_free(kp);
    vigil_free(xn);
    return rc;
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
    m->width[0] = m->f;
    for (size_t l = 0; l < nh; l++) {
        m->width[l + 1] = hidden[l];
    }
    m->width[m->L] = m->k;
    size_t B = (size_t)m->p.batch;
    size_t mw = max_width(m);

    /* Usable rows: finite features and a label in range. */
    uint32_t *rows = vigil_mallocarray(t->n, sizeof *rows);
    double count[MLP_MAX_CLASSES] = {0};
    int rc = rows ? layout(m) : -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < t->n && !rc; i++) {
        if (t->y[i] >= 0 && (size_t)t->y[i] < m->k && row_finite(t->x + i * t->f, t->f)) {
            rows[n++] = (uint32_t)i;
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
        grad = vigil_calloc(m->n_params, sizeof *grad);
        mom1 = vigil_calloc(m->n_params, sizeof *mom1);
        mom2 = vigil_calloc(m->n_params, sizeof *mom2);
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

    /* Initial weights as PyTorch's nn.Linear: U(-1/sqrt(F), 1/sqrt(F)). */
    struct vigil_rng rng;
    vigil_rng_seed(&rng, (uint64_t)m->p.seed);
    for (size_t l = 0; l < m->L; l++) {
        float bound = 1.0f / sqrtf((float)m->width[l]);
        vigil_nn_init_uniform(m->w[l], m->width[l + 1] * m->width[l], bound, &rng);
        vigil_nn_init_uniform(m->b[l], m->width[l + 1], bound, &rng);
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
            memset(grad, 0, m->n_params * sizeof *grad);
            memset(dacts, 0, B * mw * m->L * sizeof *dacts);
            /* backward: the weighted mean, as PyTorch's CrossEntropyLoss(weight=...) */
            vigil_crossentropy_softmax_backward(da[m->L - 1], probs, yb, cw,
                                                (float)(1.0 / (wb > 0 ? wb : 1.0)), bn, m->k);
            for (size_t l = m->L; l-- > 0;) {
                const float *inp = l == 0 ? xb : a[l - 1];
                if (l > 0) {
                    memset(dpost, 0, bn * m->width[l] * sizeof *dpost);
                }
                /* da[l] holds the gradient of layer l's pre-activation output. */
                vigil_linear_backward(l == 0 ? NULL : dpost, gw[l], gb[l], da[l], inp, m->w[l], bn,
                                      m->width[l], m->width[l + 1]);
                if (l > 0) {
                    vigil_relu_backward(da[l - 1], dpost, a[l - 1], bn * m->width[l]);
                }
            }
            /* update */
            vigil_adamw_update(m->params, mom1, mom2, grad, m->n_params, &hp, ++step);
        }
        if (t->progress) {
            fprintf(stderr, "\rmlp: epoch %d/%d, loss %.4f", ep + 1, m->p.epochs,
                    loss_sum / (double)n);
        }
    }
    if (t->progress) {
        fputc('\n', stderr);
    }
    rc = pack_precision(m);
    if (!rc && m->p.novelty_k > 0) {
        rc = fit_gate(m, t, tx, rows, n);
    }
    vm->f = m->f;
done:
    vigil_free(rows);
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

/*
 * The gate: rows the network calls normal but the k-means of normal rows
 * finds novel (ratio column > 1) give their normal probability to the attack
 * classes, in proportion to theirs (uniformly when those are all zero).
 */
static int apply_gate(struct mlp *m, const float *x, size_t n, float *probs)
{
    int rc = m->gate.ops->score(&m->gate, x, n, m->gate_out);
    if (rc) {
        return rc;
    }
    size_t go = m->gate.ops->n_out(&m->gate);
    for (size_t i = 0; i < n; i++) {
        float *p = probs + i * m->k;
        float novel = m->gate_out[i * go];
        size_t best = 0;
        for (size_t c = 1; c < m->k; c++) {
            best = p[c] > p[best] ? c : best;
        }
        if (best != 0 || !(novel > 1.0f)) {
            continue;
        }
        float rest = 1.0f - p[0];
        for (size_t c = 1; c < m->k; c++) {
            p[c] = rest > 0 ? p[c] / rest : 1.0f / (float)(m->k - 1);
        }
        p[0] = 0.0f;
    }
    return 0;
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
        if (m->wa && vigil_amx_scratch_bytes(mw) <= (size_t)CHUNK * mw * m->L * sizeof(float)) {
            const float *bias[MLP_MAX_LAYERS];
            for (size_t l = 0; l < m->L; l++) {
                bias[l] = m->b[l];
            }
            vigil_amx_forward(pc, bad, xm, cn, m->L, m->width, m->wal, bias, a[0]);
        } else if (m->wh) {
            forward_lanes_f16(m, a[0], pc, xm, cn, bad);
        } else {
            forward_lanes(m, a[0], pc, xm, cn, bad);
        }
        if (m->gate.ops) {
            int rc = apply_gate(m, xm, cn, pc);
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
 *   n_params x f32 | u32 flags (bit 0: gate; bits 1-2: scoring precision 0 f32, 1 f16, 2 bf16) |
 *   [u64 len | len bytes of the kmeans model] (when the gate bit is set)
 */

static int mlp_save(const struct vigil_model *vm, struct vigil_buf *out)
{
    const struct mlp *m = vm->ctx;
    if (!m || !m->params) {
        return -EINVAL;
    }
    int rc = vigil_buf_put_u32(out, MAGIC);
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
    rc = rc ? rc : vigil_buf_put_u32(out, (m->gate.ops ? 1u : 0u) | (uint32_t)m->prec << 1);
    if (!rc && m->gate.ops) {
        struct vigil_buf g;
        vigil_buf_init(&g);
        rc = m->gate.ops->save(&m->gate, &g);
        rc = rc ? rc : vigil_buf_put_u64(out, g.len);
        rc = rc ? rc : vigil_buf_append(out, g.p, g.len);
        vigil_buf_fini(&g);
    }
    return rc;
}

static int load_gate(struct mlp *m, const void *p, size_t n)
{
    const struct vigil_model_ops *ops = vigil_model_find("kmeans");
    if (!ops) {
        return VIGIL_ENOTSUP;
    }
    void *kp = vigil_calloc(1, ops->params_size);
    int rc = kp ? vigil_opt_defaults(ops->opts, kp) : -ENOMEM;
    rc = rc ? rc : vigil_model_init(&m->gate, ops, kp);
    rc = rc ? rc : ops->load(&m->gate, p, n);
    if (!rc) {
        m->gate.f = m->f;
        m->gate_out = vigil_mallocarray((size_t)CHUNK * ops->n_out(&m->gate), sizeof *m->gate_out);
        rc = m->gate_out ? 0 : -ENOMEM;
    }
    if (kp) {
        vigil_opt_free(ops->opts, kp);
    }
    vigil_free(kp);
    return rc == -ENOMEM ? rc : rc ? VIGIL_EFORMAT : 0;
}

static int mlp_load(struct vigil_model *vm, const void *p, size_t n)
{
    struct mlp *m = vm->ctx;
    free_net(m);
    struct vigil_rd r;
    vigil_rd_init(&r, p, n);
    uint32_t magic, f, k, L, v;
    if (vigil_rd_u32(&r, &magic) || magic != MAGIC || vigil_rd_u32(&r, &f) ||
        vigil_rd_u32(&r, &k) || vigil_rd_u32(&r, &L) || f == 0 || f > MLP_MAX_F || k < 2 ||
        k > MLP_MAX_CLASSES || L < 1 || L > MLP_MAX_LAYERS) {
        return VIGIL_EFORMAT;
    }
    m->f = f;
    m->k = k;
    m->L = L;
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
    if (need > r.n / 4) {
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
    uint32_t gate;
    uint64_t glen = 0;
    if (vigil_rd_u32(&r, &gate) || gate >> 1 > 2) {
        free_net(m);
        return VIGIL_EFORMAT;
    }
    m->prec = (int)(gate >> 1);
    gate &= 1u;
    if ((gate && (vigil_rd_u64(&r, &glen) || glen != r.n)) || (!gate && r.n != 0)) {
        free_net(m);
        return VIGIL_EFORMAT;
    }
    m->scratch = vigil_mallocarray(scratch_floats(m), sizeof *m->scratch);
    rc = m->scratch ? make_out_names(m) : -ENOMEM;
    rc = rc ? rc : pack_precision(m);
    if (!rc && gate) {
        rc = load_gate(m, r.p, (size_t)glen);
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
