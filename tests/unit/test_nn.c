/*
 * Neural-network layer tests: a central finite-difference gradient check for
 * every layer (dense, LSTM with and without a repeated input, dropout, ReLU,
 * softmax cross-entropy, MSE), the fast sigmoid/tanh against libm, an AdamW
 * step against hand-computed numbers, and seeded initialization.
 *
 * Each check takes the loss L = sum_k r_k * out_k with fixed random r (so
 * dL/dout = r), runs the backward pass once, then perturbs every input and
 * parameter by +-eps and compares (L+ - L-) / 2 eps with the accumulated
 * gradient. Sizes are tiny so the whole file runs in milliseconds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vigil/mem.h"
#include "vigil/nn.h"
#include "vigil/rng.h"

#define EPS 1e-3f

typedef double (*loss_fn)(void *ctx);

static void fill(float *p, size_t n, struct vigil_rng *rng, float scale)
{
    vigil_nn_init_uniform(p, n, scale, rng);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += (double)a[i] * (double)b[i];
    }
    return s;
}

/*
 * Compares the analytic gradient ana (N) of loss with respect to p (N) with
 * central differences. Returns the largest error relative to max(|num|, 0.05).
 */
static double grad_check(float *p, const float *ana, size_t n, loss_fn loss, void *ctx)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + EPS;
        double lp = loss(ctx);
        p[i] = keep - EPS;
        double lm = loss(ctx);
        p[i] = keep;
        double num = (lp - lm) / (2.0 * (double)EPS);
        double den = fmax(fabs(num), 0.05);
        double err = fabs(num - (double)ana[i]) / den;
        if (err > worst) {
            worst = err;
        }
    }
    return worst;
}

/* ---- dense ---- */

struct lin_ctx {
    float *x, *w, *b, *out, *r;
    size_t n, f, o;
};

static double lin_loss(void *p)
{
    struct lin_ctx *c = p;
    vigil_linear_forward(c->out, c->x, c->w, c->b, c->n, c->f, c->o);
    return dot(c->out, c->r, c->n * c->o);
}

static void test_linear_gradients(void **state)
{
    (void)state;
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 1);
    enum { N = 3, F = 5, O = 4 };
    float x[N * F], w[O * F], b[O], out[N * O], r[N * O];
    float dx[N * F] = {0}, dw[O * F] = {0}, db[O] = {0};
    fill(x, N * F, &rng, 1.0f);
    fill(w, O * F, &rng, 1.0f);
    fill(b, O, &rng, 1.0f);
    fill(r, N * O, &rng, 1.0f);
    struct lin_ctx c = {x, w, b, out, r, N, F, O};
    lin_loss(&c);
    /* Backward twice into the same buffers: the gradients must accumulate. */
    vigil_linear_backward(dx, dw, db, r, x, w, N, F, O);
    vigil_linear_backward(dx, dw, db, r, x, w, N, F, O);
    vigil_nn_scale(dx, N * F, 0.5f);
    vigil_nn_scale(dw, O * F, 0.5f);
    vigil_nn_scale(db, O, 0.5f);
    assert_true(grad_check(x, dx, N * F, lin_loss, &c) < 1e-2);
    assert_true(grad_check(w, dw, O * F, lin_loss, &c) < 1e-2);
    assert_true(grad_check(b, db, O, lin_loss, &c) < 1e-2);
    /* Hand check: out[0][0] = x0 . w0 + b0. */
    double want = b[0];
    for (int j = 0; j < F; j++) {
        want += (double)x[j] * (double)w[j];
    }
    assert_true(fabs((double)out[0] - want) < 1e-5);
}

/* ---- LSTM ---- */

struct lstm_ctx {
    float *x, *wx, *wh, *b;
    float *h, *c, *gates, *tc, *r;
    size_t t, bsz, f, hd;
    int rep;
};

static double lstm_loss(void *p)
{
    struct lstm_ctx *c = p;
    vigil_lstm_forward(c->h, c->c, c->gates, c->tc, c->x, c->wx, c->wh, c->b, c->t, c->bsz, c->f,
                       c->hd, c->rep);
    return dot(c->h, c->r, c->t * c->bsz * c->hd);
}

static void lstm_case(int rep, int last_only)
{
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 2 + (uint64_t)rep);
    enum { T = 4, B = 2, F = 3, H = 5 };
    size_t nx = rep ? B * F : T * B * F;
    float x[T * B * F], wx[4 * H * F], wh[4 * H * H], b[4 * H];
    float h[T * B * H], c[T * B * H], gates[T * B * 4 * H], tc[T * B * H], r[T * B * H];
    float dx[T * B * F] = {0}, dwx[4 * H * F] = {0}, dwh[4 * H * H] = {0}, db[4 * H] = {0};
    float da[T * B * 4 * H], dstate[2 * B * H];
    fill(x, nx, &rng, 1.0f);
    fill(wx, 4 * H * F, &rng, 0.8f);
    fill(wh, 4 * H * H, &rng, 0.8f);
    fill(b, 4 * H, &rng, 0.5f);
    fill(r, T * B * H, &rng, 1.0f);
    if (last_only) {
        /* An encoder: only h at the last step reaches the loss. */
        memset(r, 0, (T - 1) * B * H * sizeof(float));
    }
    struct lstm_ctx cx = {x, wx, wh, b, h, c, gates, tc, r, T, B, F, H, rep};
    lstm_loss(&cx);
    vigil_lstm_backward(dx, dwx, dwh, db, da, dstate, r, x, h, c, gates, tc, wx, wh, T, B, F, H,
                        rep);
    assert_true(grad_check(x, dx, nx, lstm_loss, &cx) < 2e-2);
    assert_true(grad_check(wx, dwx, 4 * H * F, lstm_loss, &cx) < 2e-2);
    assert_true(grad_check(wh, dwh, 4 * H * H, lstm_loss, &cx) < 2e-2);
    assert_true(grad_check(b, db, 4 * H, lstm_loss, &cx) < 2e-2);
}

static void test_lstm_gradients(void **state)
{
    (void)state;
    lstm_case(/* rep = */ 0, /* last_only = */ 0);
    lstm_case(/* rep = */ 0, /* last_only = */ 1);
    lstm_case(/* rep = */ 1, /* last_only = */ 0);
}

static void test_lstm_forward_by_hand(void **state)
{
    (void)state;
    /* H = 1, F = 1, one step: a = x wx + b per gate, all wh irrelevant at t = 0. */
    float wx[4] = {0.5f, -1.0f, 2.0f, 1.0f}, wh[4] = {9, 9, 9, 9}, b[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    float x[1] = {0.7f}, h[1], c[1], g[4], tc[1];
    vigil_lstm_forward(h, c, g, tc, x, wx, wh, b, 1, 1, 1, 1, 0);
    double i = 1.0 / (1.0 + exp(-(0.35 + 0.1))), gg = tanh(1.4 + 0.3);
    double o = 1.0 / (1.0 + exp(-(0.7 + 0.4)));
    double cc = i * gg; /* the forget gate multiplies a zero state */
    assert_true(fabs((double)c[0] - cc) < 1e-6);
    assert_true(fabs((double)h[0] - o * tanh(cc)) < 1e-6);
}

static void test_lstm_forward_one_matches_batched(void **state)
{
    (void)state;
    enum { T = 7, F = 5, H = 9 }; /* H not a multiple of 4: the tail rows too */
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 11);
    float x[T * F], wx[4 * H * F], wxt[F * 4 * H], wh[4 * H * H], wht[H * 4 * H], b[4 * H];
    float h1[T * H], c1[T * H], g1[T * 4 * H], t1[T * H];
    float h2[T * H], c2[T * H], g2[T * 4 * H], t2[T * H];
    fill(x, T * F, &rng, 1.0f);
    fill(wx, 4 * H * F, &rng, 0.5f);
    fill(wh, 4 * H * H, &rng, 0.5f);
    fill(b, 4 * H, &rng, 0.5f);
    vigil_nn_pack_t(wht, wh, 4 * H, H);
    vigil_nn_pack_t(wxt, wx, 4 * H, F);
    assert_true(wht[3 * 4 * H + 5] == wh[5 * H + 3]);
    for (int rep = 0; rep < 2; rep++) {
        vigil_lstm_forward(h1, c1, g1, t1, x, wx, wh, b, T, 1, F, H, rep);
        vigil_lstm_forward_one(h2, c2, g2, t2, x, wxt, wht, b, T, F, H, rep);
        for (int i = 0; i < T * H; i++) {
            assert_true(fabsf(h1[i] - h2[i]) < 1e-5f && fabsf(c1[i] - c2[i]) < 1e-5f);
        }
    }
    /* The input products given beforehand (wxt = NULL): the same states. */
    vigil_linear_forward_t(g2, x, wxt, b, T, F, 4 * H);
    vigil_lstm_forward_one(h2, c2, g2, t2, NULL, NULL, wht, NULL, T, F, H, 0);
    vigil_lstm_forward(h1, c1, g1, t1, x, wx, wh, b, T, 1, F, H, 0);
    for (int i = 0; i < T * H; i++) {
        assert_true(fabsf(h1[i] - h2[i]) < 1e-5f && fabsf(c1[i] - c2[i]) < 1e-5f);
    }
}

static void test_linear_forward_t_matches(void **state)
{
    (void)state;
    enum { N = 3, F = 6, O = 139 }; /* one register block of 128 outputs and a tail */
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 12);
    float x[N * F], w[O * F], wt[F * O], b[O], y1[N * O], y2[N * O];
    fill(x, N * F, &rng, 1.0f);
    fill(w, O * F, &rng, 0.5f);
    fill(b, O, &rng, 0.5f);
    vigil_nn_pack_t(wt, w, O, F);
    for (int with_b = 0; with_b < 2; with_b++) {
        vigil_linear_forward(y1, x, w, with_b ? b : NULL, N, F, O);
        vigil_linear_forward_t(y2, x, wt, with_b ? b : NULL, N, F, O);
        for (int i = 0; i < N * O; i++) {
            assert_true(fabsf(y1[i] - y2[i]) < 1e-5f);
        }
    }
}

/* ---- dropout, ReLU ---- */

struct ew_ctx {
    float *x, *out, *mask, *r;
    size_t n;
    float p;
    int kind; /* 0 dropout, 1 relu */
};

static double ew_loss(void *p)
{
    struct ew_ctx *c = p;
    if (c->kind == 0) {
        struct vigil_rng rng;
        vigil_rng_seed(&rng, 7); /* the same mask on every call */
        vigil_dropout_forward(c->out, c->mask, c->x, c->p, &rng, c->n);
    } else {
        vigil_relu_forward(c->out, c->x, c->n);
    }
    return dot(c->out, c->r, c->n);
}

static void test_dropout_and_relu_gradients(void **state)
{
    (void)state;
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 3);
    enum { N = 64 };
    float x[N], out[N], mask[N], r[N], dx[N] = {0};
    fill(x, N, &rng, 1.0f);
    fill(r, N, &rng, 1.0f);
    struct ew_ctx c = {x, out, mask, r, N, 0.25f, 0};
    ew_loss(&c);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        dropped += mask[i] == 0.0f;
        assert_true(mask[i] == 0.0f || fabsf(mask[i] - 1.0f / 0.75f) < 1e-6f);
    }
    assert_true(dropped > 4 && dropped < 32); /* about a quarter of 64 */
    vigil_dropout_backward(dx, r, mask, N);
    assert_true(grad_check(x, dx, N, ew_loss, &c) < 1e-2);
    /* p = 0 is the identity (evaluation mode). */
    vigil_dropout_forward(out, mask, x, 0.0f, &rng, N);
    assert_memory_equal(out, x, sizeof x);

    /* ReLU: keep x away from the kink so central differences are exact. */
    for (int i = 0; i < N; i++) {
        if (fabsf(x[i]) < 0.01f) {
            x[i] = 0.5f;
        }
    }
    memset(dx, 0, sizeof dx);
    c.kind = 1;
    ew_loss(&c);
    vigil_relu_backward(dx, r, out, N);
    assert_true(grad_check(x, dx, N, ew_loss, &c) < 1e-2);
}

/* ---- losses ---- */

struct ce_ctx {
    float *logits, *probs, *w;
    int32_t *y;
    size_t n, k;
};

static double ce_loss(void *p)
{
    struct ce_ctx *c = p;
    vigil_softmax_forward(c->probs, c->logits, c->n, c->k);
    return vigil_crossentropy_forward(NULL, c->probs, c->y, c->w, c->n, c->k);
}

static void test_softmax_crossentropy_gradients(void **state)
{
    (void)state;
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 4);
    enum { N = 4, K = 3 };
    float logits[N * K], probs[N * K], dl[N * K] = {0}, w[K] = {1.0f, 2.0f, 0.5f};
    int32_t y[N] = {0, 2, 1, 2};
    fill(logits, N * K, &rng, 2.0f);
    for (int weighted = 0; weighted < 2; weighted++) {
        struct ce_ctx c = {logits, probs, weighted ? w : NULL, y, N, K};
        memset(dl, 0, sizeof dl);
        ce_loss(&c);
        vigil_crossentropy_softmax_backward(dl, probs, y, c.w, 1.0f / N, N, K);
        assert_true(grad_check(logits, dl, N * K, ce_loss, &c) < 1e-2);
    }
    /* Hand check: uniform logits give loss log K. */
    float z[K] = {0}, pz[K];
    int32_t y0 = 1;
    vigil_softmax_forward(pz, z, 1, K);
    assert_true(fabs(vigil_crossentropy_forward(NULL, pz, &y0, NULL, 1, K) - log(3.0)) < 1e-6);
}

struct mse_ctx {
    float *pred, *target;
    size_t n;
};

static double mse_loss(void *p)
{
    struct mse_ctx *c = p;
    return vigil_mse_forward(NULL, c->pred, c->target, c->n);
}

static void test_mse_gradients(void **state)
{
    (void)state;
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 5);
    enum { N = 12 };
    float pred[N], target[N], se[N], d[N] = {0};
    fill(pred, N, &rng, 1.0f);
    fill(target, N, &rng, 1.0f);
    struct mse_ctx c = {pred, target, N};
    double m = vigil_mse_forward(se, pred, target, N);
    double want = 0.0;
    for (int i = 0; i < N; i++) {
        want += ((double)pred[i] - (double)target[i]) * ((double)pred[i] - (double)target[i]) / N;
        assert_true(fabsf(se[i] - (pred[i] - target[i]) * (pred[i] - target[i])) < 1e-7f);
    }
    assert_true(fabs(m - want) < 1e-6);
    vigil_mse_backward(d, pred, target, 1.0f / N, N);
    assert_true(grad_check(pred, d, N, mse_loss, &c) < 1e-2);
}

/* ---- elementwise accuracy, AdamW, init ---- */

static void test_fast_sigmoid_tanh_match_libm(void **state)
{
    (void)state;
    enum { N = 4001 };
    float *x = vigil_malloc(N * sizeof(float)), *s = vigil_malloc(N * sizeof(float));
    float *t = vigil_malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        x[i] = -100.0f + 200.0f * (float)i / (N - 1);
    }
    x[N / 2] = 0.0f;
    vigil_sigmoid(s, x, N);
    vigil_tanh(t, x, N);
    for (int i = 0; i < N; i++) {
        double ws = 1.0 / (1.0 + exp(-(double)x[i])), wt = tanh((double)x[i]);
        assert_true(fabs((double)s[i] - ws) <= 1e-6 * fmax(ws, 1e-30) + 1e-7);
        assert_true(fabs((double)t[i] - wt) < 3e-7);
    }
    assert_true(s[N / 2] == 0.5f);
    assert_true(fabsf(t[N / 2]) < 1e-7f);
    vigil_free(x);
    vigil_free(s);
    vigil_free(t);
}

/*
 * The lane-layout scoring path (load, dense with bias and ReLU, softmax)
 * against a double-precision forward done here row by row, for sizes that
 * are not multiples of the 8-output blocks or of the tile, a partial tile,
 * and rows with a NaN or an infinity (flagged bad).
 */
static void test_lanes_forward_matches_rows(void **state)
{
    (void)state;
    enum { N = 21, F = 7, H = 13, K = 5, T = VIGIL_NN_TILE };
    struct vigil_rng rng;
    vigil_rng_seed(&rng, 11);
    float x[N * F], w1[H * F], b1[H], w2[K * H], b2[K], probs[N * K];
    float xt[F * T], h[H * T], lo[K * T];
    uint8_t bad[N];
    fill(x, N * F, &rng, 2.0f);
    fill(w1, H * F, &rng, 1.0f);
    fill(b1, H, &rng, 0.5f);
    fill(w2, K * H, &rng, 1.0f);
    fill(b2, K, &rng, 0.5f);
    x[3 * F + 2] = NAN;
    x[17 * F + 6] = INFINITY;
    memset(xt, 0xff, sizeof xt); /* garbage the partial tile must overwrite */
    vigil_lanes_load(xt, bad, x, N, F);
    vigil_dense_lanes_forward(h, xt, w1, b1, F, H, 1);
    vigil_dense_lanes_forward(lo, h, w2, b2, H, K, 0);
    vigil_softmax_lanes(probs, lo, N, K);
    for (size_t r = 0; r < N; r++) {
        assert_int_equal(bad[r], r == 3 || r == 17);
        if (bad[r]) {
            continue;
        }
        double hid[H], z[K], mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < H; j++) {
            hid[j] = b1[j];
            for (size_t k = 0; k < F; k++) {
                hid[j] += (double)w1[j * F + k] * (double)x[r * F + k];
            }
            hid[j] = hid[j] > 0 ? hid[j] : 0;
        }
        for (size_t c = 0; c < K; c++) {
            z[c] = b2[c];
            for (size_t j = 0; j < H; j++) {
                z[c] += (double)w2[c * H + j] * hid[j];
            }
            mx = fmax(mx, z[c]);
        }
        for (size_t c = 0; c < K; c++) {
            sum += exp(z[c] - mx);
        }
        for (size_t c = 0; c < K; c++) {
            assert_true(fabs((double)probs[r * K + c] - exp(z[c] - mx) / sum) < 1e-5);
        }
    }
    /* Half precision, where the CPU has it: the same within its error. */
    if (vigil_nn_have_fp16()) {
        uint32_t w1h[H * F + H], w2h[K * H + K];
        uint16_t xh[F * T], hh[H * T];
        float lo16[K * T], p16[N * K];
        vigil_fp16_pack(w1h, w1, b1, F, H);
        vigil_fp16_pack(w2h, w2, b2, H, K);
        vigil_lanes_load(xt, bad, x, N, F);
        vigil_lanes_to_fp16(xh, xt, F);
        vigil_dense_lanes_fp16(hh, xh, w1h, F, H, 1, 0);
        vigil_dense_lanes_fp16(lo16, hh, w2h, H, K, 0, 1);
        vigil_softmax_lanes(p16, lo16, N, K);
        for (size_t i = 0; i < N * K; i++) {
            if (!bad[i / K]) {
                assert_true(fabsf(p16[i] - probs[i]) < 0.02f);
            }
        }
    }
    /* the partial tile's missing rows were zeroed */
    for (size_t k = 0; k < F; k++) {
        for (size_t r = N; r < T; r++) {
            assert_true(xt[k * T + r] == 0.0f);
        }
    }
}

static void test_adamw_step_by_hand(void **state)
{
    (void)state;
    /* First step of Adam moves each parameter by lr * sign(g) (bias-corrected m/sqrt(v) = +-1). */
    float p[3] = {1.0f, -2.0f, 0.5f}, m[3] = {0}, v[3] = {0}, g[3] = {0.3f, -4.0f, 0.0f};
    struct vigil_adamw hp = {0.01f, 0.9f, 0.999f, 1e-8f, 0.0f};
    vigil_adamw_update(p, m, v, g, 3, &hp, 1);
    assert_true(fabsf(p[0] - 0.99f) < 1e-6f);
    assert_true(fabsf(p[1] - -1.99f) < 1e-6f);
    assert_true(p[2] == 0.5f);
    /* Second step with the same gradient: m_hat = g, v_hat = g^2 again. */
    vigil_adamw_update(p, m, v, g, 3, &hp, 2);
    assert_true(fabsf(p[0] - 0.98f) < 1e-5f);
    /* Decoupled weight decay shrinks a parameter with zero gradient by lr * wd. */
    float q = 2.0f, mq = 0, vq = 0, gq = 0;
    struct vigil_adamw wd = {0.1f, 0.9f, 0.999f, 1e-8f, 0.5f};
    vigil_adamw_update(&q, &mq, &vq, &gq, 1, &wd, 1);
    assert_true(fabsf(q - 2.0f * (1.0f - 0.05f)) < 1e-6f);
}

struct two {
    float *a, *b;
};

static void test_blocks_and_seeded_init(void **state)
{
    (void)state;
    struct two t1 = {0}, t2 = {0};
    size_t sizes[2] = {7, 5};
    float **p1[2] = {&t1.a, &t1.b}, **p2[2] = {&t2.a, &t2.b};
    float *b1 = vigil_nn_alloc(p1, sizes, 2), *b2 = vigil_nn_alloc(p2, sizes, 2);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_ptr_equal(t1.a, b1);
    assert_ptr_equal(t1.b, b1 + 7);
    assert_int_equal(vigil_nn_count(sizes, 2), 12);
    struct vigil_rng r1, r2;
    vigil_rng_seed(&r1, 42);
    vigil_rng_seed(&r2, 42);
    vigil_nn_init_uniform(b1, 12, 0.3f, &r1);
    vigil_nn_init_uniform(b2, 12, 0.3f, &r2);
    assert_memory_equal(b1, b2, 12 * sizeof(float));
    for (int i = 0; i < 12; i++) {
        assert_true(fabsf(b1[i]) <= 0.3f);
    }
    vigil_rng_seed(&r2, 43);
    vigil_nn_init_uniform(b2, 12, 0.3f, &r2);
    assert_memory_not_equal(b1, b2, 12 * sizeof(float));
    assert_true(fabs(vigil_nn_norm((float[]){3, 4}, 2) - 5.0) < 1e-12);
    vigil_free(b1);
    vigil_free(b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_gradients),
        cmocka_unit_test(test_lstm_gradients),
        cmocka_unit_test(test_lstm_forward_by_hand),
        cmocka_unit_test(test_lstm_forward_one_matches_batched),
        cmocka_unit_test(test_linear_forward_t_matches),
        cmocka_unit_test(test_dropout_and_relu_gradients),
        cmocka_unit_test(test_softmax_crossentropy_gradients),
        cmocka_unit_test(test_mse_gradients),
        cmocka_unit_test(test_fast_sigmoid_tanh_match_libm),
        cmocka_unit_test(test_lanes_forward_matches_rows),
        cmocka_unit_test(test_adamw_step_by_hand),
        cmocka_unit_test(test_blocks_and_seeded_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
