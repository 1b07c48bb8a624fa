/*
 * Neural-network layers as free forward/backward pairs, in llm.c's style:
 * arguments in the order outputs, inputs, weights, sizes; every buffer's
 * shape in a comment; backward ACCUMULATES (+=) into gradients, so a training
 * step is forward, zero_grad (a memset of the gradient block), backward,
 * update. Layers never allocate: the caller owns every buffer, including the
 * scratch some backward passes need. Batched products go through OpenBLAS
 * cblas_sgemm.
 *
 * Parameters, gradients, optimizer moments and activations each live in one
 * block, with named float pointers into it (llm.c's
 * malloc_and_point_parameters):
 *
 *     struct params { float *w1, *b1, *w2, *b2; };
 *     size_t sizes[4] = {H * F, H, O * H, O};
 *     struct params p;
 *     float **ptrs[4] = {&p.w1, &p.b1, &p.w2, &p.b2};
 *     float *block = vigil_nn_alloc(ptrs, sizes, 4);   // NULL = no memory
 *     ...
 *     vigil_free(block);
 *
 * Dimension letters: N rows, B batch, T time steps, F inputs of a layer,
 * H hidden units, O outputs, K classes. Sequence tensors are time-major,
 * (T,B,X), so that one time step is one contiguous (B,X) matrix and the
 * weight gradients of a whole sequence are single sgemm calls.
 *
 * The derivations (LSTM backward through time in particular) are in
 * docs/nn.md.
 */
#ifndef VIGIL_NN_H
#define VIGIL_NN_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/rng.h"

/* ---- parameter blocks ---- */

/* Total floats of n tensors. */
size_t vigil_nn_count(const size_t *sizes, size_t n);

/* Points *ptrs[i] at consecutive slices of block (which holds vigil_nn_count floats). */
void vigil_nn_point(float *block, float **const *ptrs, const size_t *sizes, size_t n);

/*
 * Allocates one zeroed block for n tensors and points *ptrs[i] into it.
 * Returns the block (caller frees with vigil_free) or NULL when out of memory.
 */
float *vigil_nn_alloc(float **const *ptrs, const size_t *sizes, size_t n);

/* w (N) = uniform in [-bound, bound) from rng. */
void vigil_nn_init_uniform(float *w, size_t n, float bound, struct vigil_rng *rng);

/* Euclidean norm of g (N), accumulated in double (for gradient clipping). */
double vigil_nn_norm(const float *g, size_t n);

/* g (N) *= s. */
void vigil_nn_scale(float *g, size_t n, float s);

/* out (C,R) = the transpose of inp (R,C). */
void vigil_nn_transpose(float *out, const float *inp, size_t r, size_t c);

/* ---- elementwise functions (vectorizable, shared by the layers) ---- */

/* out (N) = logistic sigmoid of inp (N); out may alias inp. */
void vigil_sigmoid(float *out, const float *inp, size_t n);
/* out (N) = tanh of inp (N); out may alias inp. */
void vigil_tanh(float *out, const float *inp, size_t n);

/* ---- dense layer ---- */

/* out (N,O) = inp (N,F) w^T + b;  w (O,F), b (O) or NULL. */
void vigil_linear_forward(float *out, const float *inp, const float *w, const float *b, size_t n,
                          size_t f, size_t o);

/*
 * Packs w (O,F) for the one-row products below: w^T (F,O) cut into column
 * blocks of 128 outputs (the last one narrower), each block's F rows stored
 * contiguously. out holds O*F floats. Where O <= 128 this is w^T.
 */
void vigil_nn_pack_t(float *out, const float *w, size_t o, size_t f);

/*
 * The same as vigil_linear_forward with w packed by vigil_nn_pack_t, for one
 * or a few rows (one-window scoring): outputs kept in registers, weights read
 * in address order. out (N,O) = inp (N,F) w^T + b;  b (O) or NULL.
 */
void vigil_linear_forward_t(float *out, const float *inp, const float *wt, const float *b,
                            size_t n, size_t f, size_t o);

/*
 * dinp (N,F) += dout w;  dw (O,F) += dout^T inp;  db (O) += column sums of dout.
 * dout (N,O), inp (N,F), w (O,F). dinp and db may be NULL (not wanted).
 */
void vigil_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, size_t n, size_t f, size_t o);

/* ---- LSTM layer ---- */

/*
 * One LSTM layer over T steps from a zero state, gates in PyTorch's order
 * i, f, g, o:
 *
 *     a_t = x_t wx^T + h_{t-1} wh^T + b                      (B,4H)
 *     i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
 *     c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
 *
 * Outputs, all kept for backward: h (T,B,H), c (T,B,H), gates (T,B,4H) holding
 * the ACTIVATED i f g o, tc (T,B,H) = tanh(c).
 * Inputs: x (T,B,F), or (B,F) repeated at every step when x_repeat is 1 (the
 * autoencoder's repeated latent: the input product is then computed once).
 * Weights: wx (4H,F), wh (4H,H), b (4H).
 */
void vigil_lstm_forward(float *h, float *c, float *gates, float *tc, const float *x,
                        const float *wx, const float *wh, const float *b, size_t t, size_t bsz,
                        size_t f, size_t hd, int x_repeat);

/*
 * vigil_lstm_forward for ONE sequence (B = 1), the live-scoring case, with
 * the weights transposed and packed: wxt = vigil_nn_pack_t of wx (4H,F),
 * wht = vigil_nn_pack_t of wh (4H,H). Every product is then a sum of
 * weight rows scaled by one input, which vectorizes without horizontal sums,
 * keeps the outputs in registers and reads each weight once. Same outputs and shapes as
 * vigil_lstm_forward with bsz = 1, equal up to float rounding (the sums run
 * in another order). With wxt = NULL, gates (T,4H) must already hold the
 * input products x_t wx^T + b (a caller that keeps them from one sliding
 * window to the next); x and b are then not read.
 */
void vigil_lstm_forward_one(float *h, float *c, float *gates, float *tc, const float *x,
                            const float *wxt, const float *wht, const float *b, size_t t, size_t f,
                            size_t hd, int x_repeat);

/*
 * Backward through time for vigil_lstm_forward.
 * Accumulates dx (T,B,F) (or (B,F) when x_repeat; may be NULL), dwx (4H,F),
 * dwh (4H,H), db (4H).
 * Scratch (overwritten): da (T,B,4H) pre-activation gradients, dstate (2,B,H).
 * dh (T,B,H) is the loss gradient with respect to every h_t (zero where h_t is
 * not used, e.g. all but the last step of an encoder). x, h, c, gates, tc are
 * the forward's inputs and outputs.
 */
void vigil_lstm_backward(float *dx, float *dwx, float *dwh, float *db, float *da, float *dstate,
                         const float *dh, const float *x, const float *h, const float *c,
                         const float *gates, const float *tc, const float *wx, const float *wh,
                         size_t t, size_t bsz, size_t f, size_t hd, int x_repeat);

/* Parameter floats of one LSTM layer: wx, wh, b. */
static inline size_t vigil_lstm_n_params(size_t f, size_t hd)
{
    return 4 * hd * f + 4 * hd * hd + 4 * hd;
}

/* ---- dropout, ReLU ---- */

/*
 * Inverted dropout: mask (N) = 0 with probability p, else 1/(1-p), drawn from
 * rng; out (N) = inp * mask. p = 0 (evaluation) copies inp and sets mask to 1.
 * out may alias inp.
 */
void vigil_dropout_forward(float *out, float *mask, const float *inp, float p,
                           struct vigil_rng *rng, size_t n);
/* dinp (N) += dout * mask. */
void vigil_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/*
 * Dense layers in lane layout, for scoring: a tile of VIGIL_NN_TILE rows held
 * feature-major, x (F, TILE) with x[k * TILE + r] = feature k of row r.
 * vigil_lanes_load fills xt (F, TILE) from n <= TILE rows of x (N,F), the
 * missing rows zero, and sets bad[r] (N) when row r has a NaN or infinity.
 * vigil_dense_lanes_forward: out (O, TILE) = w (O,F) inp (F, TILE) + b (O, or NULL), then max(., 0)
 * when relu. vigil_softmax_lanes writes probs (N,K), row r the softmax of column r of logits (K,
 * TILE), with a fast exp (relative error ~2e-7); logits is overwritten.
 */
#define VIGIL_NN_TILE 32
void vigil_lanes_load(float *xt, uint8_t *bad, const float *x, size_t n, size_t f);
void vigil_dense_lanes_forward(float *out, const float *inp, const float *w, const float *b,
                               size_t f, size_t o, int relu);
void vigil_softmax_lanes(float *probs, float *logits, size_t n, size_t k);

/*
 * The lane layout in half precision, for CPUs with AVX512-FP16
 * (vigil_nn_have_fp16; elsewhere these do nothing). Everything is IEEE
 * binary16 (as uint16_t) except the logits: vigil_fp16_pack converts w (O,F)
 * and b (O, or NULL) once into (O*F + O) words, each half twice; vigil_lanes_to_fp16 converts
 * a tile xt (F, TILE) filled by vigil_lanes_load into halves xh (F, TILE);
 * vigil_dense_lanes_fp16 writes out
 * (O, TILE) in halves, or, when last, float32 logits for vigil_softmax_lanes.
 * Values beyond +-65504 saturate.
 */
int vigil_nn_have_fp16(void);
void vigil_fp16_pack(uint32_t *wp, const float *w, const float *b, size_t f, size_t o);
void vigil_lanes_to_fp16(uint16_t *xh, const float *xt, size_t f);
void vigil_dense_lanes_fp16(void *out, const uint16_t *inp, const uint32_t *wp, size_t f, size_t o,
                            int relu, int last);

/*
 * A whole MLP forward on Intel AMX tiles in bfloat16 (float32 sums), for CPUs
 * and kernels that allow it (vigil_nn_have_amx asks the kernel for the tile
 * state once per process; elsewhere vigil_amx_forward does nothing). Layer l
 * (L layers, widths width[0..L]) has weights w (width[l+1], width[l]) packed
 * once by vigil_amx_pack into vigil_amx_packed_size halves, and bias b[l].
 * ReLU after every layer but the last, then the softmax into probs (N, K);
 * bad[r] as in vigil_lanes_load. scratch: vigil_amx_scratch_bytes(largest
 * width) bytes, 64-byte aligned not required.
 */
int vigil_nn_have_amx(void);
size_t vigil_amx_packed_size(size_t f, size_t o);
size_t vigil_amx_scratch_bytes(size_t max_width);
void vigil_amx_pack(uint16_t *wp, const float *w, size_t f, size_t o);
void vigil_amx_forward(float *probs, uint8_t *bad, const float *x, size_t n, size_t L,
                       const size_t *width, const uint16_t *const *wp, const float *const *b,
                       void *scratch);

/* out (N) = max(inp, 0); out may alias inp. */
void vigil_relu_forward(float *out, const float *inp, size_t n);
/* dinp (N) += dout where out > 0; out (N) is the forward's output. */
void vigil_relu_backward(float *dinp, const float *dout, const float *out, size_t n);

/* ---- losses ---- */

/* probs (N,K) = row-wise softmax of logits (N,K) (max-subtracted). */
void vigil_softmax_forward(float *probs, const float *logits, size_t n, size_t k);

/*
 * Cross-entropy of probs (N,K) against labels y (N) in [0,K), weighted by
 * class weights w (K) or NULL (all 1): losses (N) = -w[y] log p[y] (may be
 * NULL). Returns the mean over rows, in double.
 */
double vigil_crossentropy_forward(float *losses, const float *probs, const int32_t *y,
                                  const float *w, size_t n, size_t k);

/*
 * Gradient of scale * sum of the losses above with respect to the logits,
 * through the softmax: dlogits (N,K) += scale * w[y] * (probs - onehot(y)).
 * Use scale = 1/N for the mean.
 */
void vigil_crossentropy_softmax_backward(float *dlogits, const float *probs, const int32_t *y,
                                         const float *w, float scale, size_t n, size_t k);

/*
 * Squared errors se (N) = (pred - target)^2 (se may be NULL). Returns the
 * mean over the N elements, in double.
 */
double vigil_mse_forward(float *se, const float *pred, const float *target, size_t n);

/* dpred (N) += scale * 2 (pred - target). Use scale = 1/N for the mean. */
void vigil_mse_backward(float *dpred, const float *pred, const float *target, float scale,
                        size_t n);

/* ---- optimizer ---- */

struct vigil_adamw {
    float lr;           /* learning rate */
    float beta1;        /* first-moment decay, 0.9 */
    float beta2;        /* second-moment decay, 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* decoupled (Loshchilov and Hutter); 0 = plain Adam */
};

/*
 * One AdamW step on n parameters: p (N), m (N), v (N) updated in place from
 * gradients g (N). step counts from 1 (bias correction).
 */
void vigil_adamw_update(float *p, float *m, float *v, const float *g, size_t n,
                        const struct vigil_adamw *hp, int64_t step);

#endif /* VIGIL_NN_H */
