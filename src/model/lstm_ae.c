/*
 * The LSTM autoencoder of one metric group (the ITC 2020 SYRROCA model):
 *
 *     x (T,B,F) -> LSTM(H1) -> dropout -> LSTM(H2), last step = latent z (B,H2)
 *     z repeated over T -> LSTM(H2) -> dropout -> LSTM(H1) -> dense -> y (T,B,F)
 *
 * trained to reconstruct windows of T rows of nominal data with the MSE loss
 * and AdamW, early stopping on the last val-split of the windows (Keras's
 * validation_split), best weights restored. The squared error of a row is
 * that of the LAST step of the window ending at the row, so a score needs
 * T - 1 rows of context and reacts to the newest row first.
 *
 * What this file does not do: groups, thresholds and score columns (recon.c),
 * the layers themselves (nn.c), preprocessing (src/prep).
 *
 * Speed. A training step splits the batch into one shard per thread; each
 * shard runs forward and backward on its own activations and gradient block
 * with single-threaded OpenBLAS, and the shard gradients are summed in a
 * fixed order (same seed and thread count: bit-identical weights). Scoring
 * runs windows in chunks of up to SCORE_B per thread; the decoder's first
 * input product is computed once per window (the latent is repeated) and the
 * dense layer only at the last step. Another thread count cuts other chunks,
 * which can change a score's last bits: some OpenBLAS kernels (Haswell's, run
 * on AMD Zen 4 by Debian's 0.3.21) round a row by its place in the product.
 *
 * Dimension letters: N rows, T window, B windows in a batch, F features of
 * the group, H1 outer and H2 inner (latent) units.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"
#include "recon.h"
#include "vigil/clock.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/nn.h"
#include "vigil/rng.h"

#define AE_MAX_THREADS 64
#define SCORE_B 128 /* windows per scoring chunk and thread */

struct ae_params {
    struct vigil__recon_params common;
    int window;
    int hidden;
    int latent;
    double dropout;
    int batch;
    int epochs;
    double lr;
    double val_split;
    int patience;
    int stride;
    int threads;
    int seed;
    double clip;
};

static const struct vigil_opt ae_opts[] = {
    VIGIL__RECON_OPTS,
    {"window", VIGIL_OPT_INT, offsetof(struct ae_params, window), "30", 2, 10000,
     "window length T in rows", NULL},
    {"hidden", VIGIL_OPT_INT, offsetof(struct ae_params, hidden), "64", 1, 4096,
     "units of the outer LSTM layers (first encoder, last decoder layer)", NULL},
    {"latent", VIGIL_OPT_INT, offsetof(struct ae_params, latent), "32", 1, 4096,
     "units of the inner LSTM layers: the size of the latent vector", NULL},
    {"dropout", VIGIL_OPT_DOUBLE, offsetof(struct ae_params, dropout), "0.2", 0.0, 0.9,
     "dropout after the first encoder and the first decoder layer", NULL},
    {"batch", VIGIL_OPT_INT, offsetof(struct ae_params, batch), "64", 1, 65536,
     "windows per training step", NULL},
    {"epochs", VIGIL_OPT_INT, offsetof(struct ae_params, epochs), "20", 1, 100000,
     "passes over the training windows (at most, with early stopping)", NULL},
    {"lr", VIGIL_OPT_DOUBLE, offsetof(struct ae_params, lr), "0.001", 1e-7, 1.0,
     "Adam learning rate", NULL},
    {"val-split", VIGIL_OPT_DOUBLE, offsetof(struct ae_params, val_split), "0.1", 0.0, 0.5,
     "fraction of the windows (the last ones) held out for early stopping", NULL},
    {"patience", VIGIL_OPT_INT, offsetof(struct ae_params, patience), "3", 0, 100000,
     "epochs without a better validation loss before stopping (0 = run every epoch)", NULL},
    {"stride", VIGIL_OPT_INT, offsetof(struct ae_params, stride), "1", 1, 100000,
     "rows between the starts of consecutive training windows", NULL},
    {"threads", VIGIL_OPT_INT, offsetof(struct ae_params, threads), "0", 0, AE_MAX_THREADS,
     "worker threads for training and scoring (0 = what the command allows)", NULL},
    {"seed", VIGIL_OPT_INT, offsetof(struct ae_params, seed), "1", 0, INT_MAX,
     "random seed (initial weights, shuffling, dropout)", NULL},
    {"clip", VIGIL_OPT_DOUBLE, offsetof(struct ae_params, clip), "0", 0.0, 1e9,
     "clip the gradient's global norm to this (0 = no clipping)", NULL},
    {0},
};

static const char *ae_check(const void *params)
{
    const struct ae_params *p = params;
    const char *why = vigil__recon_check(params);
    if (why) {
        return why;
    }
    if (p->window < 2) {
        return "window must be at least 2 rows";
    }
    if (p->dropout < 0.0 || p->dropout >= 1.0) {
        return "dropout must be in [0, 1)";
    }
    return NULL;
}

/* ---- tensors ---- */

struct ae_dims {
    size_t t, f, h1, h2;
};

/* The 14 parameter tensors; gradients use the same struct. */
struct ae_w {
    float *e1wx, *e1wh, *e1b; /* (4H1,F) (4H1,H1) (4H1) */
    float *e2wx, *e2wh, *e2b; /* (4H2,H1) (4H2,H2) (4H2) */
    float *d1wx, *d1wh, *d1b; /* (4H2,H2) (4H2,H2) (4H2) */
    float *d2wx, *d2wh, *d2b; /* (4H1,H2) (4H1,H1) (4H1) */
    float *ow, *ob;           /* (F,H1) (F) */
};
#define AE_NW 14

static void w_sizes(size_t *s, const struct ae_dims *d)
{
    size_t g1 = 4 * d->h1, g2 = 4 * d->h2;
    size_t v[AE_NW] = {g1 * d->f,  g1 * d->h1, g1,         g2 * d->h1, g2 * d->h2,
                       g2,         g2 * d->h2, g2 * d->h2, g2,         g1 * d->h2,
                       g1 * d->h1, g1,         d->f * d->h1, d->f};
    memcpy(s, v, sizeof v);
}

static void w_point(struct ae_w *w, float *block, const struct ae_dims *d)
{
    size_t s[AE_NW];
    float **p[AE_NW] = {&w->e1wx, &w->e1wh, &w->e1b, &w->e2wx, &w->e2wh, &w->e2b, &w->d1wx,
                        &w->d1wh, &w->d1b,  &w->d2wx, &w->d2wh, &w->d2b, &w->ow,   &w->ob};
    w_sizes(s, d);
    vigil_nn_point(block, p, s, AE_NW);
}

static size_t w_count(const struct ae_dims *d)
{
    size_t s[AE_NW];
    w_sizes(s, d);
    return vigil_nn_count(s, AE_NW);
}

/* Forward activations of B windows, time-major. */
struct ae_acts {
    float *x;                  /* (T,B,F) input windows */
    float *h1, *c1, *g1, *tc1; /* encoder 1: (T,B,H1) x3, gates (T,B,4H1) */
    float *d1, *m1;            /* dropout 1 output and mask (T,B,H1); training only */
    float *h2, *c2, *g2, *tc2; /* encoder 2 (T,B,H2); z = h2 at step T-1 */
    float *h3, *c3, *g3, *tc3; /* decoder 1 (T,B,H2) */
    float *d3, *m3;            /* dropout 2 (T,B,H2); training only */
    float *h4, *c4, *g4, *tc4; /* decoder 2 (T,B,H1) */
    float *y;                  /* (T,B,F) when training, (B,F) (last step) when scoring */
};
#define AE_NA 22

/* Gradients of the activations (training only). */
struct ae_grads {
    float *dy;     /* (T,B,F) */
    float *dh4;    /* (T,B,H1) */
    float *dd3;    /* (T,B,H2) into dropout 2's output */
    float *dh3;    /* (T,B,H2) */
    float *dz;     /* (B,H2) the latent */
    float *dh2;    /* (T,B,H2), zero but for the last step */
    float *dd1;    /* (T,B,H1) into dropout 1's output */
    float *dh1;    /* (T,B,H1) */
    float *da;     /* (T,B,4 max(H1,H2)) scratch of the LSTM backward */
    float *dstate; /* (2,B,max(H1,H2)) scratch */
};
#define AE_NG 10
#define AE_NG_ZERO 8 /* the first 8 accumulate and are zeroed each step */

static float *acts_alloc(struct ae_acts *a, const struct ae_dims *d, size_t b, int train)
{
    size_t tb = d->t * b, k = train ? 1 : 0;
    size_t s[AE_NA] = {tb * d->f,
                       tb * d->h1, tb * d->h1, tb * 4 * d->h1, tb * d->h1,
                       k * tb * d->h1, k * tb * d->h1,
                       tb * d->h2, tb * d->h2, tb * 4 * d->h2, tb * d->h2,
                       tb * d->h2, tb * d->h2, tb * 4 * d->h2, tb * d->h2,
                       k * tb * d->h2, k * tb * d->h2,
                       tb * d->h1, tb * d->h1, tb * 4 * d->h1, tb * d->h1,
                       (train ? tb : b) * d->f};
    float **p[AE_NA] = {&a->x,  &a->h1, &a->c1, &a->g1, &a->tc1, &a->d1, &a->m1, &a->h2,
                        &a->c2, &a->g2, &a->tc2, &a->h3, &a->c3, &a->g3, &a->tc3, &a->d3,
                        &a->m3, &a->h4, &a->c4, &a->g4, &a->tc4, &a->y};
    return vigil_nn_alloc(p, s, AE_NA);
}

static float *grads_alloc(struct ae_grads *g, const struct ae_dims *d, size_t b, size_t *n_zero)
{
    size_t tb = d->t * b, hm = d->h1 > d->h2 ? d->h1 : d->h2;
    size_t s[AE_NG] = {tb * d->f, tb * d->h1, tb * d->h2, tb * d->h2, b * d->h2,
                       tb * d->h2, tb * d->h1, tb * d->h1, tb * 4 * hm, 2 * b * hm};
    float **p[AE_NG] = {&g->dy, &g->dh4, &g->dd3, &g->dh3, &g->dz,
                        &g->dh2, &g->dd1, &g->dh1, &g->da, &g->dstate};
    *n_zero = vigil_nn_count(s, AE_NG_ZERO);
    return vigil_nn_alloc(p, s, AE_NG);
}

/* ---- the submodel ---- */

struct ae;

/* One thread's share of a batch: its activations, gradients and work. */
struct shard {
    const struct ae *ae;
    struct ae_acts a;
    float *a_block;
    struct ae_grads g;
    float *g_block;
    size_t g_zero; /* floats of g_block zeroed per step */
    struct ae_w dw;
    float *dw_block; /* (n_params) this shard's weight gradients */
    size_t cap;      /* windows the buffers hold */
    /* the current job */
    const float *src;      /* (N,F) rows */
    const uint32_t *start; /* (b) first row of each window */
    size_t b;
    float p_drop;
    struct vigil_rng rng;
    float scale;     /* dL/dy factor: 1 / (T * F * windows in the whole batch) */
    double loss_sum; /* sum of squared errors of this shard */
    float *se;       /* scoring: (N,F) output */
    size_t f_out;
    void (*fn)(struct shard *s);
    /*
     * One-window scoring keeps the last window's rows and their first-layer
     * input products: the next window of a live stream shares T-1 rows, so
     * only the new row's product is computed (incremental sliding window).
     */
    float *inc_x;   /* (T,F) rows of the last window scored alone */
    float *inc_p;   /* (T,4H1) their products x wx^T + b */
    float *inc_block;
    int inc_ok;
};

struct ae {
    struct ae_dims d;
    struct ae_w w;
    float *params; /* (n_params) one block */
    size_t n_params;
    /* Weights transposed and packed for one-window scoring (vigil_nn_pack_t). */
    float *wt; /* one block; owned; set by ae_ready */
    float *e1wxt, *e1wht; /* (F,4H1) (H1,4H1) */
    float *e2wxt, *e2wht; /* (H1,4H2) (H2,4H2) */
    float *d1wxt, *d1wht; /* (H2,4H2) (H2,4H2) */
    float *d2wxt, *d2wht; /* (H2,4H1) (H1,4H1) */
    float *owt;           /* (H1,F) */
    int threads;
    struct shard sc[AE_MAX_THREADS]; /* scoring shards, allocated on first use */
    size_t n_sc;
    uint32_t *bad;  /* (N+1) prefix counts of non-finite rows; scratch */
    size_t bad_cap;
};

static void shard_free(struct shard *s)
{
    vigil_free(s->inc_block);
    vigil_free(s->a_block);
    vigil_free(s->g_block);
    vigil_free(s->dw_block);
    memset(s, 0, sizeof *s);
}

static int shard_init(struct shard *s, const struct ae *ae, size_t cap, int train)
{
    memset(s, 0, sizeof *s);
    s->ae = ae;
    s->cap = cap;
    s->a_block = acts_alloc(&s->a, &ae->d, cap, train);
    if (!s->a_block) {
        return -ENOMEM;
    }
    if (!train) {
        size_t sz[2] = {ae->d.t * ae->d.f, ae->d.t * 4 * ae->d.h1};
        float **p[2] = {&s->inc_x, &s->inc_p};
        s->inc_block = vigil_nn_alloc(p, sz, 2);
        if (!s->inc_block) {
            shard_free(s);
            return -ENOMEM;
        }
    }
    if (train) {
        s->g_block = grads_alloc(&s->g, &ae->d, cap, &s->g_zero);
        s->dw_block = vigil_calloc(ae->n_params, sizeof(float));
        if (!s->g_block || !s->dw_block) {
            shard_free(s);
            return -ENOMEM;
        }
        w_point(&s->dw, s->dw_block, &ae->d);
    }
    return 0;
}

static void ae_free(void *sub)
{
    struct ae *ae = sub;
    if (!ae) {
        return;
    }
    for (size_t i = 0; i < ae->n_sc; i++) {
        shard_free(&ae->sc[i]);
    }
    vigil_free(ae->bad);
    vigil_free(ae->params);
    vigil_free(ae->wt);
    vigil_free(ae);
}

/* Makes the scoring copies of the trained weights (after fit and load). 0 or -ENOMEM. */
static int ae_ready(struct ae *ae)
{
    const struct ae_dims *d = &ae->d;
    size_t g1 = 4 * d->h1, g2 = 4 * d->h2;
    size_t s[9] = {d->f * g1,  d->h1 * g1, d->h1 * g2, d->h2 * g2, d->h2 * g2,
                   d->h2 * g2, d->h2 * g1, d->h1 * g1, d->h1 * d->f};
    float **p[9] = {&ae->e1wxt, &ae->e1wht, &ae->e2wxt, &ae->e2wht, &ae->d1wxt,
                    &ae->d1wht, &ae->d2wxt, &ae->d2wht, &ae->owt};
    const float *src[9] = {ae->w.e1wx, ae->w.e1wh, ae->w.e2wx, ae->w.e2wh, ae->w.d1wx,
                           ae->w.d1wh, ae->w.d2wx, ae->w.d2wh, ae->w.ow};
    size_t rows[9] = {g1, g1, g2, g2, g2, g2, g1, g1, d->f};
    vigil_free(ae->wt);
    ae->wt = vigil_nn_alloc(p, s, 9);
    if (!ae->wt) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < 9; i++) {
        vigil_nn_pack_t(*p[i], src[i], rows[i], s[i] / rows[i]);
    }
    return 0;
}

static struct ae *ae_new(const struct ae_dims *d, int threads)
{
    struct ae *ae = vigil_calloc(1, sizeof *ae);
    if (!ae) {
        return NULL;
    }
    ae->d = *d;
    ae->n_params = w_count(d);
    ae->params = vigil_calloc(ae->n_params, sizeof(float));
    if (!ae->params) {
        vigil_free(ae);
        return NULL;
    }
    w_point(&ae->w, ae->params, d);
    ae->threads = threads < 1 ? 1 : (threads > AE_MAX_THREADS ? AE_MAX_THREADS : threads);
    return ae;
}

/* PyTorch's defaults: every LSTM tensor U(+-1/sqrt(H)), the dense layer U(+-1/sqrt(H1)). */
static void ae_init_weights(struct ae *ae, struct vigil_rng *rng)
{
    size_t s[AE_NW];
    w_sizes(s, &ae->d);
    float *p = ae->params;
    for (size_t i = 0; i < AE_NW; i++) {
        size_t h = i < 3 ? ae->d.h1 : (i < 9 ? ae->d.h2 : ae->d.h1);
        vigil_nn_init_uniform(p, s[i], (float)(1.0 / sqrt((double)h)), rng);
        p += s[i];
    }
}

/* ---- forward and backward ---- */

/* Copies b windows of T rows from src (N,F) into x (T,B,F). */
static void load_windows(float *x, const float *src, const uint32_t *start, size_t b,
                         const struct ae_dims *d)
{
    for (size_t s = 0; s < d->t; s++) {
        for (size_t k = 0; k < b; k++) {
            memcpy(x + (s * b + k) * d->f, src + ((size_t)start[k] + s) * d->f,
                   d->f * sizeof(float));
        }
    }
}

/*
 * Scoring forward of one window (the live case) with the transposed weights.
 * The first layer's input products of rows shared with the previous window
 * (shifted by one row, or the same window again) are reused.
 */
static void ae_forward_one(struct shard *s)
{
    const struct ae *ae = s->ae;
    const struct ae_dims *d = &ae->d;
    const struct ae_w *w = &ae->w;
    struct ae_acts *a = &s->a;
    size_t t = d->t, f = d->f, g1 = 4 * d->h1, keep = 0;
    if (s->inc_ok) {
        if (memcmp(a->x, s->inc_x + f, (t - 1) * f * sizeof(float)) == 0) {
            memmove(s->inc_p, s->inc_p + g1, (t - 1) * g1 * sizeof(float));
            keep = t - 1;
        } else if (memcmp(a->x, s->inc_x, t * f * sizeof(float)) == 0) {
            keep = t;
        }
    }
    vigil_linear_forward_t(s->inc_p + keep * g1, a->x + keep * f, ae->e1wxt, w->e1b, t - keep, f,
                           g1);
    memcpy(s->inc_x, a->x, t * f * sizeof(float));
    s->inc_ok = 1;
    memcpy(a->g1, s->inc_p, t * g1 * sizeof(float));
    vigil_lstm_forward_one(a->h1, a->c1, a->g1, a->tc1, NULL, NULL, ae->e1wht, NULL, t, f, d->h1,
                           0);
    vigil_lstm_forward_one(a->h2, a->c2, a->g2, a->tc2, a->h1, ae->e2wxt, ae->e2wht, w->e2b, t,
                           d->h1, d->h2, 0);
    vigil_lstm_forward_one(a->h3, a->c3, a->g3, a->tc3, a->h2 + (t - 1) * d->h2, ae->d1wxt,
                           ae->d1wht, w->d1b, t, d->h2, d->h2, 1);
    vigil_lstm_forward_one(a->h4, a->c4, a->g4, a->tc4, a->h3, ae->d2wxt, ae->d2wht, w->d2b, t,
                           d->h2, d->h1, 0);
    vigil_linear_forward_t(a->y, a->h4 + (t - 1) * d->h1, ae->owt, w->ob, 1, d->h1, d->f);
}

/*
 * Forward of b windows in a->x. p > 0 applies dropout (training). full = 1
 * computes y at every step (the loss), 0 only at the last step (scoring).
 */
static void ae_forward(const struct ae *ae, struct ae_acts *a, size_t b, float p,
                       struct vigil_rng *rng, int full)
{
    const struct ae_dims *d = &ae->d;
    const struct ae_w *w = &ae->w;
    size_t t = d->t;
    vigil_lstm_forward(a->h1, a->c1, a->g1, a->tc1, a->x, w->e1wx, w->e1wh, w->e1b, t, b, d->f,
                       d->h1, 0);
    const float *in2 = a->h1;
    if (p > 0.0f) {
        vigil_dropout_forward(a->d1, a->m1, a->h1, p, rng, t * b * d->h1);
        in2 = a->d1;
    }
    vigil_lstm_forward(a->h2, a->c2, a->g2, a->tc2, in2, w->e2wx, w->e2wh, w->e2b, t, b, d->h1,
                       d->h2, 0);
    const float *z = a->h2 + (t - 1) * b * d->h2;
    vigil_lstm_forward(a->h3, a->c3, a->g3, a->tc3, z, w->d1wx, w->d1wh, w->d1b, t, b, d->h2,
                       d->h2, /* x_repeat = */ 1);
    const float *in4 = a->h3;
    if (p > 0.0f) {
        vigil_dropout_forward(a->d3, a->m3, a->h3, p, rng, t * b * d->h2);
        in4 = a->d3;
    }
    vigil_lstm_forward(a->h4, a->c4, a->g4, a->tc4, in4, w->d2wx, w->d2wh, w->d2b, t, b, d->h2,
                       d->h1, 0);
    if (full) {
        vigil_linear_forward(a->y, a->h4, w->ow, w->ob, t * b, d->h1, d->f);
    } else {
        vigil_linear_forward(a->y, a->h4 + (t - 1) * b * d->h1, w->ow, w->ob, b, d->h1, d->f);
    }
}

/* Backward of the loss scale * sum (y - x)^2 after a full forward with the same p. */
static void ae_backward(const struct ae *ae, struct ae_w *dw, struct ae_acts *a,
                        struct ae_grads *g, size_t b, float p, float scale)
{
    const struct ae_dims *d = &ae->d;
    const struct ae_w *w = &ae->w;
    size_t t = d->t, tb = t * b;
    vigil_mse_backward(g->dy, a->y, a->x, scale, tb * d->f);
    vigil_linear_backward(g->dh4, dw->ow, dw->ob, g->dy, a->h4, w->ow, tb, d->h1, d->f);
    /* Without dropout the gradient flows straight into the previous layer's h. */
    const float *in4 = p > 0.0f ? a->d3 : a->h3;
    float *dd3 = p > 0.0f ? g->dd3 : g->dh3;
    vigil_lstm_backward(dd3, dw->d2wx, dw->d2wh, dw->d2b, g->da, g->dstate, g->dh4, in4, a->h4,
                        a->c4, a->g4, a->tc4, w->d2wx, w->d2wh, t, b, d->h2, d->h1, 0);
    if (p > 0.0f) {
        vigil_dropout_backward(g->dh3, g->dd3, a->m3, tb * d->h2);
    }
    const float *z = a->h2 + (t - 1) * b * d->h2;
    vigil_lstm_backward(g->dz, dw->d1wx, dw->d1wh, dw->d1b, g->da, g->dstate, g->dh3, z, a->h3,
                        a->c3, a->g3, a->tc3, w->d1wx, w->d1wh, t, b, d->h2, d->h2, 1);
    memcpy(g->dh2 + (t - 1) * b * d->h2, g->dz, b * d->h2 * sizeof(float));
    const float *in2 = p > 0.0f ? a->d1 : a->h1;
    float *dd1 = p > 0.0f ? g->dd1 : g->dh1;
    vigil_lstm_backward(dd1, dw->e2wx, dw->e2wh, dw->e2b, g->da, g->dstate, g->dh2, in2, a->h2,
                        a->c2, a->g2, a->tc2, w->e2wx, w->e2wh, t, b, d->h1, d->h2, 0);
    if (p > 0.0f) {
        vigil_dropout_backward(g->dh1, g->dd1, a->m1, tb * d->h1);
    }
    vigil_lstm_backward(NULL, dw->e1wx, dw->e1wh, dw->e1b, g->da, g->dstate, g->dh1, a->x, a->h1,
                        a->c1, a->g1, a->tc1, w->e1wx, w->e1wh, t, b, d->f, d->h1, 0);
}

/* ---- shards and threads ---- */

/*
 * Our shards run single-threaded BLAS: the products are small and the batch
 * is already split over threads. The setting is process-wide, so it is only
 * changed when it differs (once), never while another thread may be in a
 * product because of a change made here.
 */
static void blas_single(void)
{
    if (openblas_get_num_threads() != 1) {
        openblas_set_num_threads(1);
    }
}

static void shard_train_step(struct shard *s)
{
    const struct ae_dims *d = &s->ae->d;
    s->loss_sum = 0.0;
    if (s->b == 0) {
        memset(s->dw_block, 0, s->ae->n_params * sizeof(float));
        return;
    }
    load_windows(s->a.x, s->src, s->start, s->b, d);
    ae_forward(s->ae, &s->a, s->b, s->p_drop, &s->rng, 1);
    size_t n = d->t * s->b * d->f;
    s->loss_sum = vigil_mse_forward(NULL, s->a.y, s->a.x, n) * (double)n;
    memset(s->g_block, 0, s->g_zero * sizeof(float));
    memset(s->dw_block, 0, s->ae->n_params * sizeof(float));
    ae_backward(s->ae, &s->dw, &s->a, &s->g, s->b, s->p_drop, s->scale);
}

static void shard_eval(struct shard *s)
{
    const struct ae_dims *d = &s->ae->d;
    s->loss_sum = 0.0;
    if (s->b == 0) {
        return;
    }
    load_windows(s->a.x, s->src, s->start, s->b, d);
    ae_forward(s->ae, &s->a, s->b, 0.0f, NULL, 1);
    size_t n = d->t * s->b * d->f;
    s->loss_sum = vigil_mse_forward(NULL, s->a.y, s->a.x, n) * (double)n;
}

/* Scoring: squared errors of the last row of each window into se (N,F) at that row. */
static void shard_score(struct shard *s)
{
    const struct ae_dims *d = &s->ae->d;
    if (s->b == 0) {
        return;
    }
    load_windows(s->a.x, s->src, s->start, s->b, d);
    if (s->b == 1) {
        ae_forward_one(s);
    } else {
        ae_forward(s->ae, &s->a, s->b, 0.0f, NULL, 0);
    }
    const float *last = s->a.x + (d->t - 1) * s->b * d->f;
    for (size_t k = 0; k < s->b; k++) {
        size_t row = (size_t)s->start[k] + d->t - 1;
        for (size_t j = 0; j < d->f; j++) {
            float e = s->a.y[k * d->f + j] - last[k * d->f + j];
            s->se[row * s->f_out + j] = e * e;
        }
    }
}

static void *shard_main(void *p)
{
    struct shard *s = p;
    s->fn(s);
    return NULL;
}

/* Runs fn on shards 1..n-1 in threads and on shard 0 here; falls back to inline. */
static void run_shards(struct shard *sh, size_t n, void (*fn)(struct shard *))
{
    pthread_t tid[AE_MAX_THREADS];
    int started[AE_MAX_THREADS] = {0};
    for (size_t i = 0; i < n; i++) {
        sh[i].fn = fn;
    }
    for (size_t i = 1; i < n; i++) {
        started[i] = pthread_create(&tid[i], NULL, shard_main, &sh[i]) == 0;
        if (!started[i]) {
            fn(&sh[i]);
        }
    }
    fn(&sh[0]);
    for (size_t i = 1; i < n; i++) {
        if (started[i]) {
            pthread_join(tid[i], NULL);
        }
    }
}

/* Splits b windows starting at start[] over n shards. */
static void deal(struct shard *sh, size_t n, const uint32_t *start, size_t b)
{
    for (size_t i = 0; i < n; i++) {
        size_t lo = b * i / n, hi = b * (i + 1) / n;
        sh[i].start = start + lo;
        sh[i].b = hi - lo;
    }
}

/* ---- windows ---- */

/* bad (N+1): bad[i] = non-finite rows among the first i. */
static void count_bad(uint32_t *bad, const float *x, size_t n, size_t f)
{
    bad[0] = 0;
    for (size_t t = 0; t < n; t++) {
        int ok = 1;
        for (size_t j = 0; j < f; j++) {
            ok &= isfinite(x[t * f + j]) != 0;
        }
        bad[t + 1] = bad[t] + (ok ? 0 : 1);
    }
}

static int window_ok(const uint32_t *bad, size_t start, size_t t)
{
    return bad[start + t] == bad[start];
}

/* ---- training ---- */

struct trainer {
    struct ae *ae;
    const struct ae_params *p;
    struct shard sh[AE_MAX_THREADS];
    size_t nt;
    float *grad, *m, *v, *best; /* (n_params) each */
    struct ae_w dw;
};

static void trainer_fini(struct trainer *tr)
{
    for (size_t i = 0; i < tr->nt; i++) {
        shard_free(&tr->sh[i]);
    }
    vigil_free(tr->grad);
    vigil_free(tr->m);
    vigil_free(tr->v);
    vigil_free(tr->best);
}

/* Mean squared error over windows (no dropout), in parallel shards. */
static double eval_loss(struct trainer *tr, const float *x, const uint32_t *start, size_t nw)
{
    double sum = 0.0;
    size_t cap = tr->sh[0].cap, chunk = cap * tr->nt;
    for (size_t k = 0; k < nw; k += chunk) {
        size_t b = nw - k < chunk ? nw - k : chunk;
        for (size_t i = 0; i < tr->nt; i++) {
            tr->sh[i].src = x;
        }
        deal(tr->sh, tr->nt, start + k, b);
        run_shards(tr->sh, tr->nt, shard_eval);
        for (size_t i = 0; i < tr->nt; i++) {
            sum += tr->sh[i].loss_sum;
        }
    }
    const struct ae_dims *d = &tr->ae->d;
    return sum / ((double)nw * (double)d->t * (double)d->f);
}

static void progress(const struct vigil__recon_env *env, int epoch, int epochs, double loss,
                     double val, double sec, int last)
{
    char eta[32];
    /* Whole seconds: the ETA is a rough guide, not a measurement. */
    vigil_duration_format((int64_t)ceil(sec * (double)(epochs - epoch)) * 1000000000, eta,
                          sizeof eta);
    fprintf(stderr, "\rlstm-ae[%s] epoch %d/%d loss %.6f", env->group, epoch, epochs, loss);
    if (val >= 0.0) {
        fprintf(stderr, " val %.6f", val);
    }
    fprintf(stderr, " %.1f s/epoch ETA %s   %s", sec, eta, last ? "\n" : "");
    fflush(stderr);
}

static int ae_fit(void **sub, const void *params, const float *x, size_t n, size_t f,
                  const struct vigil__recon_env *env)
{
    const struct ae_params *p = params;
    struct ae_dims d = {(size_t)p->window, f, (size_t)p->hidden, (size_t)p->latent};
    int threads = p->threads > 0 ? p->threads : env->threads;
    *sub = NULL;
    if (n < d.t + 1) {
        return VIGIL_EEMPTY;
    }
    struct trainer tr;
    memset(&tr, 0, sizeof tr);
    uint32_t *bad = vigil_mallocarray(n + 1, sizeof *bad);
    uint32_t *start = vigil_mallocarray(n, sizeof *start);
    tr.ae = ae_new(&d, threads);
    int rc = -ENOMEM;
    if (!bad || !start || !tr.ae) {
        goto fail;
    }
    tr.p = p;
    /* Windows: every stride-th start whose T rows are all finite. */
    count_bad(bad, x, n, f);
    size_t nw = 0;
    for (size_t s = 0; s + d.t <= n; s += (size_t)p->stride) {
        if (window_ok(bad, s, d.t)) {
            start[nw++] = (uint32_t)s;
        }
    }
    size_t n_val = p->patience > 0 ? (size_t)((double)nw * p->val_split) : 0;
    size_t n_train = nw - n_val;
    if (n_train < 1) {
        rc = VIGIL_EEMPTY;
        goto fail;
    }
    size_t batch = (size_t)p->batch < n_train ? (size_t)p->batch : n_train;
    tr.nt = (size_t)tr.ae->threads < batch ? (size_t)tr.ae->threads : batch;
    size_t cap = (batch + tr.nt - 1) / tr.nt;
    tr.grad = vigil_calloc(tr.ae->n_params, sizeof(float));
    tr.m = vigil_calloc(tr.ae->n_params, sizeof(float));
    tr.v = vigil_calloc(tr.ae->n_params, sizeof(float));
    tr.best = vigil_malloc(tr.ae->n_params * sizeof(float));
    if (!tr.grad || !tr.m || !tr.v || !tr.best) {
        goto fail;
    }
    for (size_t i = 0; i < tr.nt; i++) {
        if (shard_init(&tr.sh[i], tr.ae, cap, 1)) {
            tr.nt = i;
            goto fail;
        }
    }
    blas_single();

    struct vigil_rng rng;
    vigil_rng_seed(&rng, (uint64_t)p->seed);
    ae_init_weights(tr.ae, &rng);
    memcpy(tr.best, tr.ae->params, tr.ae->n_params * sizeof(float));
    struct vigil_adamw hp = {(float)p->lr, 0.9f, 0.999f, 1e-8f, 0.0f};
    double best_val = INFINITY;
    int since_best = 0;
    int64_t step = 0;
    for (int epoch = 1; epoch <= p->epochs; epoch++) {
        int64_t t0 = vigil_clock_mono_ns();
        vigil_rng_shuffle(&rng, start, n_train);
        double loss = 0.0;
        for (size_t k = 0; k < n_train; k += batch) {
            size_t b = n_train - k < batch ? n_train - k : batch;
            step++;
            deal(tr.sh, tr.nt, start + k, b);
            for (size_t i = 0; i < tr.nt; i++) {
                tr.sh[i].src = x;
                tr.sh[i].p_drop = (float)p->dropout;
                tr.sh[i].scale = 1.0f / (float)(b * d.t * d.f);
                vigil_rng_split(&rng, (uint64_t)step * AE_MAX_THREADS + i, &tr.sh[i].rng);
            }
            run_shards(tr.sh, tr.nt, shard_train_step);
            /* Sum the shard gradients in a fixed order: deterministic for a thread count. */
            memcpy(tr.grad, tr.sh[0].dw_block, tr.ae->n_params * sizeof(float));
            loss += tr.sh[0].loss_sum;
            for (size_t i = 1; i < tr.nt; i++) {
                const float *g = tr.sh[i].dw_block;
                for (size_t j = 0; j < tr.ae->n_params; j++) {
                    tr.grad[j] += g[j];
                }
                loss += tr.sh[i].loss_sum;
            }
            if (p->clip > 0.0) {
                double norm = vigil_nn_norm(tr.grad, tr.ae->n_params);
                if (norm > p->clip) {
                    vigil_nn_scale(tr.grad, tr.ae->n_params, (float)(p->clip / norm));
                }
            }
            vigil_adamw_update(tr.ae->params, tr.m, tr.v, tr.grad, tr.ae->n_params, &hp, step);
        }
        loss /= (double)n_train * (double)d.t * (double)d.f;
        double val = -1.0;
        int stop = 0;
        if (n_val > 0) {
            val = eval_loss(&tr, x, start + n_train, n_val);
            if (val < best_val) {
                best_val = val;
                since_best = 0;
                memcpy(tr.best, tr.ae->params, tr.ae->n_params * sizeof(float));
            } else if (++since_best >= p->patience) {
                stop = 1;
            }
        }
        double sec = (double)(vigil_clock_mono_ns() - t0) * 1e-9;
        if (env->progress) {
            progress(env, epoch, p->epochs, loss, val, sec, stop || epoch == p->epochs);
        }
        vigil_debug("lstm-ae[%s]: epoch %d loss %.6g val %.6g %.2f s", env->group, epoch, loss,
                    val, sec);
        if (stop) {
            vigil_info("lstm-ae[%s]: early stop at epoch %d, best validation loss %.6g",
                       env->group, epoch, best_val);
            break;
        }
    }
    if (n_val > 0) {
        memcpy(tr.ae->params, tr.best, tr.ae->n_params * sizeof(float));
    }
    rc = ae_ready(tr.ae);
    if (rc) {
        goto fail;
    }
    *sub = tr.ae;
    tr.ae = NULL;
fail:
    trainer_fini(&tr);
    ae_free(tr.ae);
    vigil_free(start);
    vigil_free(bad);
    return rc;
}

/* ---- scoring ---- */

static int ae_se(void *sub, const float *x, size_t n, size_t f, float *se)
{
    struct ae *ae = sub;
    const struct ae_dims *d = &ae->d;
    if (f != d->f) {
        return VIGIL_ESHAPE;
    }
    for (size_t i = 0; i < n * f; i++) {
        se[i] = NAN;
    }
    if (n < d->t) {
        return 0;
    }
    size_t nw = n - d->t + 1;
    if (ae->bad_cap < n + 1) {
        uint32_t *bad = vigil_mallocarray(n + 1, 2 * sizeof *bad);
        if (!bad) {
            return -ENOMEM;
        }
        vigil_free(ae->bad);
        ae->bad = bad;
        ae->bad_cap = n + 1;
    }
    uint32_t *bad = ae->bad, *start = ae->bad + n + 1;
    count_bad(bad, x, n, f);
    size_t nv = 0;
    for (size_t s = 0; s < nw; s++) {
        if (window_ok(bad, s, d->t)) {
            start[nv++] = (uint32_t)s;
        }
    }
    /* Threads and chunk size: one thread for a single window, up to SCORE_B windows each. */
    size_t nt = (size_t)ae->threads;
    nt = nt < (nv + 7) / 8 ? nt : (nv + 7) / 8;
    nt = nt ? nt : 1;
    size_t cap = (nv + nt - 1) / nt;
    cap = cap > SCORE_B ? SCORE_B : (cap ? cap : 1);
    /* Grow when the chunk needs more; shrink when it needs far less: a model scored one window
     * per step for hours (vigil watch) must not keep the activations of its training-time
     * threshold pass (tens of MB per group). */
    if (ae->n_sc < nt || ae->sc[0].cap < cap || ae->sc[0].cap > 4 * cap) {
        for (size_t i = 0; i < ae->n_sc; i++) {
            shard_free(&ae->sc[i]);
        }
        ae->n_sc = 0;
        for (size_t i = 0; i < nt; i++) {
            if (shard_init(&ae->sc[i], ae, cap, 0)) {
                return -ENOMEM;
            }
            ae->n_sc = i + 1;
        }
    }
    blas_single();
    cap = ae->sc[0].cap;
    for (size_t k = 0; k < nv; k += cap * nt) {
        size_t b = nv - k < cap * nt ? nv - k : cap * nt;
        for (size_t i = 0; i < nt; i++) {
            ae->sc[i].src = x;
            ae->sc[i].se = se;
            ae->sc[i].f_out = f;
        }
        deal(ae->sc, nt, start + k, b);
        run_shards(ae->sc, nt, shard_score);
    }
    return 0;
}

static size_t ae_lag(const void *params)
{
    const struct ae_params *p = params;
    return (size_t)p->window - 1;
}

/* ---- save / load: u32 T | u32 F | u32 H1 | u32 H2 | u64 n_params | floats ---- */

static int ae_save(const void *sub, struct vigil_buf *out)
{
    const struct ae *ae = sub;
    int rc = vigil_buf_put_u32(out, (uint32_t)ae->d.t);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)ae->d.f);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)ae->d.h1);
    rc = rc ? rc : vigil_buf_put_u32(out, (uint32_t)ae->d.h2);
    rc = rc ? rc : vigil_buf_put_u64(out, ae->n_params);
    return rc ? rc : vigil__recon_put_floats(out, ae->params, ae->n_params);
}

static int ae_load(void **sub, const void *params, const void *p, size_t n, size_t f)
{
    const struct ae_params *pp = params;
    struct vigil_rd rd;
    uint32_t t, ff, h1, h2;
    uint64_t np;
    *sub = NULL;
    vigil_rd_init(&rd, p, n);
    if (vigil_rd_u32(&rd, &t) || vigil_rd_u32(&rd, &ff) || vigil_rd_u32(&rd, &h1) ||
        vigil_rd_u32(&rd, &h2) || vigil_rd_u64(&rd, &np)) {
        return VIGIL_EFORMAT;
    }
    /* The window comes from the saved options (recon.c) and must agree. */
    if (t < 2 || t > 10000 || ff != f || h1 < 1 || h1 > 4096 || h2 < 1 || h2 > 4096 ||
        t != (uint32_t)pp->window) {
        return VIGIL_EFORMAT;
    }
    struct ae_dims d = {t, f, h1, h2};
    if (np != w_count(&d) || rd.n != np * sizeof(float)) {
        return VIGIL_EFORMAT;
    }
    struct ae *ae = ae_new(&d, pp->threads);
    if (!ae) {
        return -ENOMEM;
    }
    if (vigil__recon_rd_floats(&rd, ae->params, ae->n_params)) {
        ae_free(ae);
        return VIGIL_EFORMAT;
    }
    if (ae_ready(ae)) {
        ae_free(ae);
        return -ENOMEM;
    }
    *sub = ae;
    return 0;
}

const struct vigil__recon_kind vigil__lstm_ae_kind = {
    .lag = ae_lag,
    .fit = ae_fit,
    .se = ae_se,
    .save = ae_save,
    .load = ae_load,
    .free = ae_free,
};

const struct vigil_model_ops vigil_lstm_ae_ops = VIGIL__RECON_OPS(
    "lstm-ae", "LSTM autoencoder per metric group, score = reconstruction MSE / threshold",
    ae_opts, struct ae_params, ae_check);
