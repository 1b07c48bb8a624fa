/*
 * Neural-network layers (see include/vigil/nn.h): dense, LSTM with backward
 * through time, dropout, ReLU, softmax cross-entropy, MSE and AdamW, as free
 * forward/backward pairs in llm.c's style. Nothing here allocates, logs or
 * keeps state; the models (lstm_ae.c, the MLP) own the blocks.
 *
 * Dimension letters: N rows, B batch, T time steps, F inputs, H hidden units,
 * O outputs, K classes, G = 4H gate pre-activations. Sequences are time-major.
 *
 * The elementwise kernels (sigmoid, tanh, the LSTM cell) use a branch-free
 * exp so that the compiler vectorizes them; on x86-64 with GCC they are built
 * for AVX-512, AVX2 and the baseline and picked at load time (target_clones),
 * so the binary stays portable. Their accuracy (about 2 ulp in exp) is far
 * below what float training notices.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "vigil/mem.h"
#include "vigil/nn.h"

#if defined(__GNUC__) && !defined(__clang__)
/* -std=c11 turns contraction off; the FMA clones want a*b+c fused. */
#pragma GCC optimize("O3", "fp-contract=fast")
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                           \
    !defined(__SANITIZE_ADDRESS__)
#define NN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_CLONES
#endif

/* ---- parameter blocks ---- */

size_t vigil_nn_count(const size_t *sizes, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += sizes[i];
    }
    return total;
}

void vigil_nn_point(float *block, float **const *ptrs, const size_t *sizes, size_t n)
{
    float *p = block;
    for (size_t i = 0; i < n; i++) {
        *ptrs[i] = p;
        p += sizes[i];
    }
}

float *vigil_nn_alloc(float **const *ptrs, const size_t *sizes, size_t n)
{
    size_t total = vigil_nn_count(sizes, n);
    float *block = vigil_calloc(total ? total : 1, sizeof(float));
    if (block) {
        vigil_nn_point(block, ptrs, sizes, n);
    }
    return block;
}

void vigil_nn_init_uniform(float *w, size_t n, float bound, struct vigil_rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        w[i] = (float)((2.0 * vigil_rng_uniform(rng) - 1.0) * (double)bound);
    }
}

double vigil_nn_norm(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += (double)g[i] * (double)g[i];
    }
    return sqrt(s);
}

void vigil_nn_scale(float *g, size_t n, float s)
{
    for (size_t i = 0; i < n; i++) {
        g[i] *= s;
    }
}

void vigil_nn_transpose(float *out, const float *inp, size_t r, size_t c)
{
    for (size_t i = 0; i < r; i++) {
        for (size_t j = 0; j < c; j++) {
            out[j * r + i] = inp[i * c + j];
        }
    }
}

/* ---- elementwise functions ----
 *
 * exp(x) = 2^n * 2^r with n = round(x log2 e) and r in [-1/2, 1/2]; 2^r is a
 * degree-6 polynomial in r ln 2 (Taylor, error below 2e-7 relative), 2^n is
 * put straight into the exponent bits. The rounding uses the 1.5 * 2^23 trick
 * instead of rintf so that it vectorizes without SSE4.1. Inputs are clamped to
 * [-87, 88], where expf neither overflows nor goes subnormal.
 */
static inline float exp_fast(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float t = x * 1.44269504088896341f;
    float rn = (t + 12582912.0f) - 12582912.0f;
    float r = (t - rn) * 0.693147180559945309f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                                                r * (1.0f / 720))))));
    union {
        float f;
        int32_t i;
    } u;
    /* NaN in, NaN out (through p), without converting NaN to an integer */
    u.i = ((int32_t)(rn == rn ? rn : 0.0f) + 127) << 23;
    return p * u.f;
}

static inline float sigmoid_fast(float x)
{
    return 1.0f / (1.0f + exp_fast(-x));
}

/* tanh(x) = 1 - 2 / (exp(2x) + 1): exact at the tails, absolute error ~1e-7 near 0. */
static inline float tanh_fast(float x)
{
    return 1.0f - 2.0f / (exp_fast(2.0f * x) + 1.0f);
}

NN_CLONES void vigil_sigmoid(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = sigmoid_fast(inp[i]);
    }
}

NN_CLONES void vigil_tanh(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = tanh_fast(inp[i]);
    }
}

/* ---- dense layer ---- */

void vigil_linear_forward(float *out, const float *inp, const float *w, const float *b, size_t n,
                          size_t f, size_t o)
{
    /* out (N,O) = inp (N,F) @ w^T (F,O) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)o, (int)f, 1.0f, inp, (int)f,
                w, (int)f, 0.0f, out, (int)o);
    if (b) {
        for (size_t r = 0; r < n; r++) {
            float *row = out + r * o;
            for (size_t j = 0; j < o; j++) {
                row[j] += b[j];
            }
        }
    }
}

/* db (O) += column sums of d (N,O). */
static void add_colsums(float *db, const float *d, size_t n, size_t o)
{
    for (size_t r = 0; r < n; r++) {
        const float *row = d + r * o;
        for (size_t j = 0; j < o; j++) {
            db[j] += row[j];
        }
    }
}

void vigil_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, size_t n, size_t f, size_t o)
{
    if (dinp) {
        /* dinp (N,F) += dout (N,O) @ w (O,F) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)f, (int)o, 1.0f, dout,
                    (int)o, w, (int)f, 1.0f, dinp, (int)f);
    }
    /* dw (O,F) += dout^T (O,N) @ inp (N,F) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)o, (int)f, (int)n, 1.0f, dout, (int)o,
                inp, (int)f, 1.0f, dw, (int)f);
    if (db) {
        add_colsums(db, dout, n, o);
    }
}

/* ---- dense layers in lane layout (inference) ----
 *
 * For scoring many rows through small layers (the flow MLP: 24 -> 64 -> 32
 * -> 5), sgemm spends much of its time packing the weights at every call, and
 * the bias, ReLU and softmax are extra passes over memory. Here a tile of
 * VIGIL_NN_TILE rows is held transposed, feature-major: x[k] is one vector
 * whose lanes are the rows. A dense layer is then out[j] = b[j] + sum_k
 * w[j][k] x[k], where each w[j][k] is a scalar broadcast (AVX-512 takes it
 * straight from memory into the FMA), the weights stay in their (O,F)
 * training layout, 8 outputs x 2 row vectors accumulate in 16 registers, and
 * bias, ReLU and the softmax are applied in registers or on the tile in L1.
 * GCC/Clang vector extensions keep it portable (16 floats = one AVX-512
 * register, two AVX2 or four SSE ones).
 */
#define NN_LANES 16
#define NN_VECS (VIGIL_NN_TILE / NN_LANES)
typedef float nn_v16 __attribute__((vector_size(NN_LANES * sizeof(float))));
typedef int32_t nn_v16i __attribute__((vector_size(NN_LANES * sizeof(int32_t))));

/* Unaligned loads and stores (macros: a function passing vectors by value would change its ABI). */
#define V16_LOAD(v, p) memcpy(&(v), (p), sizeof(nn_v16))
#define V16_STORE(p, v) memcpy((p), &(v), sizeof(nn_v16))

/*
 * -std=c11 turns floating-point contraction off; these functions want their
 * multiply-adds fused (one FMA instead of a multiply and an add).
 */
#if defined(__GNUC__) && !defined(__clang__)
#define NN_FMA __attribute__((optimize("fp-contract=fast")))
#else
#define NN_FMA
#endif

/* J outputs (a constant at every call, so the loops unroll) starting at output j. */
static inline __attribute__((always_inline)) NN_FMA void
dense_lanes_block(float *restrict out, const float *restrict inp, const float *restrict w,
                  const float *restrict b, size_t f, size_t j, int relu, const int J)
{
    nn_v16 acc[8][NN_VECS];
    for (int q = 0; q < J; q++) {
        float bq = b ? b[j + (size_t)q] : 0.0f;
        for (int v = 0; v < NN_VECS; v++) {
            acc[q][v] = (nn_v16){0} + bq;
        }
    }
    for (size_t k = 0; k < f; k++) {
        nn_v16 x[NN_VECS];
        for (int v = 0; v < NN_VECS; v++) {
            V16_LOAD(x[v], inp + k * VIGIL_NN_TILE + (size_t)v * NN_LANES);
        }
        for (int q = 0; q < J; q++) {
            float wq = w[(j + (size_t)q) * f + k];
            for (int v = 0; v < NN_VECS; v++) {
                acc[q][v] += wq * x[v];
            }
        }
    }
    for (int q = 0; q < J; q++) {
        for (int v = 0; v < NN_VECS; v++) {
            nn_v16 a = acc[q][v];
            if (relu) {
                nn_v16i pos = a > (nn_v16){0};
                nn_v16i bits;
                memcpy(&bits, &a, sizeof bits);
                bits &= pos;
                memcpy(&a, &bits, sizeof a);
            }
            V16_STORE(out + (j + (size_t)q) * VIGIL_NN_TILE + (size_t)v * NN_LANES, a);
        }
    }
}

NN_CLONES NN_FMA void vigil_dense_lanes_forward(float *restrict out, const float *restrict inp,
                                                const float *restrict w, const float *restrict b,
                                                size_t f, size_t o, int relu)
{
    size_t j = 0;
    for (; j + 8 <= o; j += 8) {
        dense_lanes_block(out, inp, w, b, f, j, relu, 8);
    }
    for (; j < o; j++) {
        dense_lanes_block(out, inp, w, b, f, j, relu, 1);
    }
}

NN_CLONES void vigil_lanes_load(float *restrict xt, uint8_t *restrict bad, const float *restrict x,
                                size_t n, size_t f)
{
    for (size_t r = 0; r < n; r++) {
        for (size_t k = 0; k < f; k++) {
            xt[k * VIGIL_NN_TILE + r] = x[r * f + k];
        }
    }
    for (size_t k = 0; k < f && n < VIGIL_NN_TILE; k++) {
        memset(xt + k * VIGIL_NN_TILE + n, 0, (VIGIL_NN_TILE - n) * sizeof *xt);
    }
    /* x * 0 is 0 unless x is NaN or infinite; one accumulator per lane, no dependency chain */
    float z[VIGIL_NN_TILE] = {0};
    for (size_t k = 0; k < f; k++) {
        for (size_t r = 0; r < VIGIL_NN_TILE; r++) {
            z[r] += xt[k * VIGIL_NN_TILE + r] * 0.0f;
        }
    }
    for (size_t r = 0; r < n; r++) {
        bad[r] = z[r] != 0.0f;
    }
}

NN_CLONES void vigil_softmax_lanes(float *restrict probs, float *restrict logits, size_t n,
                                   size_t k)
{
    float mx[VIGIL_NN_TILE], sum[VIGIL_NN_TILE];
    for (size_t r = 0; r < VIGIL_NN_TILE; r++) {
        mx[r] = logits[r];
        sum[r] = 0.0f;
    }
    for (size_t j = 1; j < k; j++) {
        const float *l = logits + j * VIGIL_NN_TILE;
        for (size_t r = 0; r < VIGIL_NN_TILE; r++) {
            mx[r] = l[r] > mx[r] ? l[r] : mx[r];
        }
    }
    for (size_t j = 0; j < k; j++) {
        float *l = logits + j * VIGIL_NN_TILE;
        for (size_t r = 0; r < VIGIL_NN_TILE; r++) {
            l[r] = exp_fast(l[r] - mx[r]);
            sum[r] += l[r];
        }
    }
    for (size_t r = 0; r < VIGIL_NN_TILE; r++) {
        sum[r] = 1.0f / sum[r];
    }
    for (size_t r = 0; r < n; r++) {
        for (size_t j = 0; j < k; j++) {
            probs[r * k + j] = logits[j * VIGIL_NN_TILE + r] * sum[r];
        }
    }
}

/* ---- the same in half precision (AVX512-FP16) ----
 *
 * Inputs, weights, sums and activations in IEEE binary16 (11-bit
 * significand, largest value 65504): one VFMADD231PH does 32 multiply-adds,
 * twice a float32 FMA, and a tile of 32 rows is exactly one register, so
 * each output neuron has one accumulator (16 at a time) and hidden layers
 * need no conversion. Values beyond +-65504 saturate (inputs and every
 * layer's outputs), so an outlier row gets an approximate score, not NaN.
 * Only the logits go back to float32, for the softmax.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#include <immintrin.h>
#define NN_FP16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512fp16")))
#define NN_HAVE_FP16 1
#endif

#ifdef NN_HAVE_FP16
int vigil_nn_have_fp16(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512fp16") != 0;
}

static NN_FP16_TARGET uint16_t fp16_bits(float v)
{
    v = v > 65504.0f ? 65504.0f : v < -65504.0f ? -65504.0f : v;
    _Float16 h = (_Float16)v;
    uint16_t u;
    memcpy(&u, &h, sizeof u);
    return u;
}

/*
 * Each half is stored twice in a 32-bit word: a dword broadcast from memory
 * is a plain load, while a word broadcast also needs the shuffle port that
 * the FMAs use.
 */
NN_FP16_TARGET void vigil_fp16_pack(uint32_t *wp, const float *w, const float *b, size_t f,
                                    size_t o)
{
    for (size_t i = 0; i < o * f; i++) {
        wp[i] = fp16_bits(w[i]) * 0x10001u;
    }
    for (size_t j = 0; j < o; j++) {
        wp[o * f + j] = fp16_bits(b ? b[j] : 0.0f) * 0x10001u;
    }
}

NN_FP16_TARGET void vigil_lanes_to_fp16(uint16_t *restrict xh, const float *restrict xt, size_t f)
{
    const __m512 hi = _mm512_set1_ps(65504.0f), lo = _mm512_set1_ps(-65504.0f);
    for (size_t k = 0; k < f; k++) {
        for (size_t v = 0; v < VIGIL_NN_TILE; v += 16) {
            __m512 a = _mm512_loadu_ps(xt + k * VIGIL_NN_TILE + v);
            a = _mm512_min_ps(_mm512_max_ps(a, lo), hi);
            _mm256_storeu_si256((__m256i *)(xh + k * VIGIL_NN_TILE + v),
                                _mm256_castph_si256(_mm512_cvtxps_ph(a)));
        }
    }
}

/* J outputs (a constant at every call) from output j. */
static inline __attribute__((always_inline)) NN_FP16_TARGET void
fp16_block(void *out, const uint16_t *restrict inp, const uint32_t *restrict wp, size_t f, size_t o,
           size_t j, int relu, int last, const int J)
{
    __m512h acc[16];
    const uint32_t *bias = wp + o * f;
    for (int q = 0; q < J; q++) {
        acc[q] = _mm512_castsi512_ph(_mm512_set1_epi32((int)bias[j + (size_t)q]));
    }
    for (size_t k = 0; k < f; k++) {
        __m512h x = _mm512_loadu_ph(inp + k * VIGIL_NN_TILE);
        for (int q = 0; q < J; q++) {
            __m512h wq = _mm512_castsi512_ph(_mm512_set1_epi32((int)wp[(j + (size_t)q) * f + k]));
            acc[q] = _mm512_fmadd_ph(wq, x, acc[q]);
        }
    }
    const __m512h hi = _mm512_set1_ph((_Float16)65504.0f), lo = _mm512_set1_ph((_Float16)-65504.0f);
    for (int q = 0; q < J; q++) {
        __m512h a = _mm512_min_ph(_mm512_max_ph(acc[q], relu ? _mm512_setzero_ph() : lo), hi);
        if (last) {
            float *lg = (float *)out + (j + (size_t)q) * VIGIL_NN_TILE;
            _mm512_storeu_ps(lg, _mm512_cvtxph_ps(_mm512_castph512_ph256(a)));
            _mm512_storeu_ps(lg + 16, _mm512_cvtxph_ps(_mm256_castsi256_ph(
                                          _mm512_extracti64x4_epi64(_mm512_castph_si512(a), 1))));
        } else {
            _mm512_storeu_ph((uint16_t *)out + (j + (size_t)q) * VIGIL_NN_TILE, a);
        }
    }
}

NN_FP16_TARGET void vigil_dense_lanes_fp16(void *out, const uint16_t *inp, const uint32_t *wp,
                                           size_t f, size_t o, int relu, int last)
{
    size_t j = 0;
    for (; j + 16 <= o; j += 16) {
        fp16_block(out, inp, wp, f, o, j, relu, last, 16);
    }
    for (; j + 4 <= o; j += 4) {
        fp16_block(out, inp, wp, f, o, j, relu, last, 4);
    }
    for (; j < o; j++) {
        fp16_block(out, inp, wp, f, o, j, relu, last, 1);
    }
}
#else
int vigil_nn_have_fp16(void)
{
    return 0;
}

void vigil_fp16_pack(uint32_t *wp, const float *w, const float *b, size_t f, size_t o)
{
    (void)wp, (void)w, (void)b, (void)f, (void)o;
}

void vigil_lanes_to_fp16(uint16_t *xh, const float *xt, size_t f)
{
    (void)xh, (void)xt, (void)f;
}

void vigil_dense_lanes_fp16(void *out, const uint16_t *inp, const uint32_t *wp, size_t f, size_t o,
                            int relu, int last)
{
    (void)out, (void)inp, (void)wp, (void)f, (void)o, (void)relu, (void)last;
}
#endif

/* ---- a whole MLP on AMX tiles (bfloat16) ----
 *
 * Intel AMX multiplies 16 x 32 bfloat16 by 32 x 16 bfloat16 into 16 x 16
 * float32 in one instruction (TDPBF16PS: 8192 multiply-adds). Rows stay
 * row-major (no transpose): 16 rows at a time, each layer's input as bf16
 * (16, Kp) with Kp = F rounded up to 32, the weights packed once in the
 * tiles' pair layout, up to 6 accumulator tiles of 16 outputs per pass over
 * the input. Between layers the float32 sums get their bias, ReLU and
 * rounding to bf16 with AVX-512. The process must ask the kernel for the
 * tile state once (arch_prctl ARCH_REQ_XCOMP_PERM), which
 * vigil_nn_have_amx does; each call loads its own tile configuration, so
 * any thread may call.
 */
#define AMX_K 32     /* bf16 per tile row */
#define AMX_N 16     /* outputs per accumulator tile, rows per tile */
#define AMX_ROWS 128 /* rows taken through every layer at once (8 tiles of rows) */

static size_t amx_kp(size_t f)
{
    return (f + AMX_K - 1) / AMX_K * AMX_K;
}

static size_t amx_op(size_t o)
{
    return (o + AMX_N - 1) / AMX_N * AMX_N;
}

size_t vigil_amx_packed_size(size_t f, size_t o)
{
    return amx_kp(f) * amx_op(o);
}

size_t vigil_amx_scratch_bytes(size_t max_width)
{
    /* two bf16 activation blocks (ROWS, Kp) and one float32 block (ROWS, Op) */
    return 2 * AMX_ROWS * amx_kp(max_width) * sizeof(uint16_t) + AMX_ROWS * amx_op(max_width) * 4;
}

void vigil_amx_pack(uint16_t *wp, const float *w, size_t f, size_t o)
{
    /* block (ob, kb): 16 pair rows x 16 outputs x 2, 1024 bytes, blocks ob-major */
    size_t kp = amx_kp(f), op = amx_op(o), nkb = kp / AMX_K;
    for (size_t ob = 0; ob < op / AMX_N; ob++) {
        for (size_t kb = 0; kb < nkb; kb++) {
            uint16_t *blk = wp + (ob * nkb + kb) * AMX_K * AMX_N;
            for (size_t pr = 0; pr < AMX_K / 2; pr++) {
                for (size_t c = 0; c < AMX_N; c++) {
                    for (size_t e = 0; e < 2; e++) {
                        size_t j = ob * AMX_N + c, k = kb * AMX_K + 2 * pr + e;
                        float v = j < o && k < f ? w[j * f + k] : 0.0f;
                        uint32_t u;
                        memcpy(&u, &v, sizeof u);
                        blk[(pr * AMX_N + c) * 2 + e] =
                            (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
                    }
                }
            }
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 &&           \
    defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define NN_AMX_TARGET                                                                              \
    __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512bf16")))

int vigil_nn_have_amx(void)
{
    static volatile int state; /* 0 unknown, 1 yes, -1 no (a benign race: same answer) */
    if (!state) {
        __builtin_cpu_init();
        int ok = __builtin_cpu_supports("amx-bf16") && __builtin_cpu_supports("avx512bf16");
        /* ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18) */
        ok = ok && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
        state = ok ? 1 : -1;
    }
    return state > 0;
}

struct amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/*
 * dst bf16 (total, kp) from float rows src (rows of stride lds, width w; the
 * rest zero), plus the bias (w, or NULL) and max(., 0) when relu. With bad,
 * bad[r] is set for a row with a NaN or an infinity.
 */
static NN_AMX_TARGET void amx_to_bf16(uint16_t *restrict dst, size_t kp, const float *restrict src,
                                      size_t lds, size_t w, size_t rows, size_t total,
                                      const float *restrict bias, int relu, uint8_t *restrict bad)
{
    const __m512 zero = _mm512_setzero_ps();
    for (size_t r = 0; r < total; r++) {
        __mmask16 nonfinite = 0;
        if (bad && r + 16 < rows) {
            _mm_prefetch((const char *)(src + (r + 16) * lds), _MM_HINT_T0);
        }
        for (size_t k = 0; k < kp; k += 32) {
            __m512 lo = zero, hi = zero;
            if (r < rows && k < w) {
                size_t nl = w - k < 16 ? w - k : 16;
                size_t nh = w > k + 16 ? (w - k - 16 < 16 ? w - k - 16 : 16) : 0;
                __mmask16 ml = (__mmask16)((1u << nl) - 1u), mh = (__mmask16)((1u << nh) - 1u);
                lo = _mm512_maskz_loadu_ps(ml, src + r * lds + k);
                hi = _mm512_maskz_loadu_ps(mh, src + r * lds + k + 16);
                if (bias) {
                    lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(ml, bias + k));
                    hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mh, bias + k + 16));
                }
                if (relu) {
                    lo = _mm512_max_ps(lo, zero);
                    hi = _mm512_max_ps(hi, zero);
                }
                if (bad) {
                    /* QNaN 0x01, +Inf 0x08, -Inf 0x10, SNaN 0x80 */
                    nonfinite |=
                        _mm512_fpclass_ps_mask(lo, 0x99) | _mm512_fpclass_ps_mask(hi, 0x99);
                }
            }
            _mm512_storeu_si512(dst + r * kp + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
        if (bad && r < rows) {
            bad[r] = nonfinite != 0;
        }
    }
}

NN_AMX_TARGET void vigil_amx_forward(float *probs, uint8_t *bad, const float *x, size_t n, size_t L,
                                     const size_t *width, const uint16_t *const *wp,
                                     const float *const *b, void *scratch)
{
    size_t mw = 0;
    for (size_t l = 0; l <= L; l++) {
        mw = width[l] > mw ? width[l] : mw;
    }
    uint16_t *act[2] = {scratch, (uint16_t *)scratch + AMX_ROWS * amx_kp(mw)};
    float *sum = (float *)(act[1] + AMX_ROWS * amx_kp(mw));
    struct amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = AMX_N;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
    size_t f = width[0], k = width[L];
    for (size_t s = 0; s < n; s += AMX_ROWS) {
        size_t rows = n - s < AMX_ROWS ? n - s : AMX_ROWS;
        size_t nrb = (rows + AMX_N - 1) / AMX_N; /* 16-row blocks; the last padded with zeros */
        amx_to_bf16(act[0], amx_kp(f), x + s * f, f, f, rows, nrb * AMX_N, NULL, 0, bad + s);
        /* Layer by layer over every block: the blocks' tile products are independent, so
           they overlap in the pipeline instead of waiting on one another. */
        for (size_t l = 0; l < L; l++) {
            size_t kp = amx_kp(width[l]), op = amx_op(width[l + 1]), nkb = kp / AMX_K;
            long lda = (long)(kp * sizeof(uint16_t)), ldc = (long)(op * sizeof(float));
            for (size_t rb = 0; rb < nrb; rb++) {
                const uint16_t *in = act[l & 1] + rb * AMX_N * kp;
                float *out = sum + rb * AMX_N * op;
                /* groups of up to 6 output tiles (tiles 2-7), one pass over the input each */
                for (size_t g = 0; g < op / AMX_N; g += 6) {
                    size_t ng = op / AMX_N - g < 6 ? op / AMX_N - g : 6;
                    /* tile numbers are immediates: one case per count, falling through */
                    switch (ng) {
                    case 6:
                        _tile_zero(7);
                        /* fall through */
                    case 5:
                        _tile_zero(6);
                        /* fall through */
                    case 4:
                        _tile_zero(5);
                        /* fall through */
                    case 3:
                        _tile_zero(4);
                        /* fall through */
                    case 2:
                        _tile_zero(3);
                        /* fall through */
                    default:
                        _tile_zero(2);
                    }
                    for (size_t kb = 0; kb < nkb; kb++) {
                        _tile_loadd(0, in + kb * AMX_K, lda);
#define AMX_STEP(t)                                                                                \
    do {                                                                                           \
        _tile_loadd(1, wp[l] + ((g + (t)-2) * nkb + kb) * AMX_K * AMX_N, 64);                      \
        _tile_dpbf16ps(t, 0, 1);                                                                   \
    } while (0)
                        switch (ng) {
                        case 6:
                            AMX_STEP(7);
                            /* fall through */
                        case 5:
                            AMX_STEP(6);
                            /* fall through */
                        case 4:
                            AMX_STEP(5);
                            /* fall through */
                        case 3:
                            AMX_STEP(4);
                            /* fall through */
                        case 2:
                            AMX_STEP(3);
                            /* fall through */
                        default:
                            AMX_STEP(2);
                        }
#undef AMX_STEP
                    }
                    switch (ng) {
                    case 6:
                        _tile_stored(7, out + (g + 5) * AMX_N, ldc);
                        /* fall through */
                    case 5:
                        _tile_stored(6, out + (g + 4) * AMX_N, ldc);
                        /* fall through */
                    case 4:
                        _tile_stored(5, out + (g + 3) * AMX_N, ldc);
                        /* fall through */
                    case 3:
                        _tile_stored(4, out + (g + 2) * AMX_N, ldc);
                        /* fall through */
                    case 2:
                        _tile_stored(3, out + (g + 1) * AMX_N, ldc);
                        /* fall through */
                    default:
                        _tile_stored(2, out + g * AMX_N, ldc);
                    }
                }
            }
            if (l + 1 < L) {
                size_t o = width[l + 1];
                amx_to_bf16(act[(l + 1) & 1], amx_kp(o), sum, op, o, nrb * AMX_N, nrb * AMX_N, b[l],
                            1, NULL);
            }
        }
        /* Softmax, vertically: the logits (+ bias) transposed to (K, ROWS) over both act blocks. */
        size_t op = amx_op(k);
        float *lt = (float *)act[0], mx[AMX_ROWS], tot[AMX_ROWS];
        for (size_t r = 0; r < rows; r++) {
            for (size_t j = 0; j < k; j++) {
                lt[j * AMX_ROWS + r] = sum[r * op + j] + b[L - 1][j];
            }
        }
        for (size_t r = 0; r < AMX_ROWS; r++) {
            mx[r] = lt[r];
            tot[r] = 0.0f;
        }
        for (size_t j = 1; j < k; j++) {
            for (size_t r = 0; r < AMX_ROWS; r++) {
                mx[r] = lt[j * AMX_ROWS + r] > mx[r] ? lt[j * AMX_ROWS + r] : mx[r];
            }
        }
        for (size_t j = 0; j < k; j++) {
            for (size_t r = 0; r < AMX_ROWS; r++) {
                lt[j * AMX_ROWS + r] = exp_fast(lt[j * AMX_ROWS + r] - mx[r]);
                tot[r] += lt[j * AMX_ROWS + r];
            }
        }
        for (size_t r = 0; r < AMX_ROWS; r++) {
            tot[r] = 1.0f / tot[r];
        }
        for (size_t r = 0; r < rows; r++) {
            for (size_t j = 0; j < k; j++) {
                probs[(s + r) * k + j] = lt[j * AMX_ROWS + r] * tot[r];
            }
        }
    }
    _tile_release();
}
#else
int vigil_nn_have_amx(void)
{
    return 0;
}

void vigil_amx_forward(float *probs, uint8_t *bad, const float *x, size_t n, size_t L,
                       const size_t *width, const uint16_t *const *wp, const float *const *b,
                       void *scratch)
{
    (void)probs, (void)bad, (void)x, (void)n, (void)L, (void)width, (void)wp, (void)b;
    (void)scratch;
}
#endif

/* ---- LSTM layer ---- */

/*
 * The cell at one step for b rows: a (B,4H) pre-activations in, activated
 * gates written back over a; c, tc, h (B,H) out; cp (B,H) the previous cell
 * state or NULL at t = 0. One call per step keeps the dispatch out of the
 * row loop.
 */
NN_CLONES static void lstm_cell(float *restrict a, float *restrict c, float *restrict tc,
                                float *restrict h, const float *restrict cp, size_t b,
                                size_t hd)
{
    for (size_t r = 0; r < b; r++) {
        float *ai = a + r * 4 * hd, *af = ai + hd, *ag = ai + 2 * hd, *ao = ai + 3 * hd;
        float *cr = c + r * hd, *tr = tc + r * hd, *hr = h + r * hd;
        const float *pr = cp ? cp + r * hd : NULL;
        for (size_t j = 0; j < hd; j++) {
            float i = sigmoid_fast(ai[j]);
            float f = sigmoid_fast(af[j]);
            float g = tanh_fast(ag[j]);
            float o = sigmoid_fast(ao[j]);
            float cc = i * g + (pr ? f * pr[j] : 0.0f);
            float t = tanh_fast(cc);
            ai[j] = i;
            af[j] = f;
            ag[j] = g;
            ao[j] = o;
            cr[j] = cc;
            tr[j] = t;
            hr[j] = o * t;
        }
    }
}

void vigil_lstm_forward(float *h, float *c, float *gates, float *tc, const float *x,
                        const float *wx, const float *wh, const float *b, size_t t, size_t bsz,
                        size_t f, size_t hd, int x_repeat)
{
    size_t g4 = 4 * hd;
    size_t step = bsz * g4; /* floats of gates per time step */
    /* Input products for every step at once: (T*B,F) @ wx^T, or (B,F) once. */
    size_t rows = x_repeat ? bsz : t * bsz;
    vigil_linear_forward(gates, x, wx, b, rows, f, g4);
    if (x_repeat) {
        for (size_t s = 1; s < t; s++) {
            memcpy(gates + s * step, gates, step * sizeof(float));
        }
    }
    for (size_t s = 0; s < t; s++) {
        float *a = gates + s * step;
        if (s > 0 && bsz == 1) {
            /* One window (live scoring): a matrix-vector product, no packing. */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)g4, (int)hd, 1.0f, wh, (int)hd,
                        h + (s - 1) * hd, 1, 1.0f, a, 1);
        } else if (s > 0) {
            /* a (B,4H) += h_{s-1} (B,H) @ wh^T (H,4H) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bsz, (int)g4, (int)hd, 1.0f,
                        h + (s - 1) * bsz * hd, (int)hd, wh, (int)hd, 1.0f, a, (int)g4);
        }
        size_t o = s * bsz * hd;
        lstm_cell(a, c + o, tc + o, h + o, s > 0 ? c + o - bsz * hd : NULL, bsz, hd);
    }
}

/*
 * a (G) += h (H) w^T for w^T packed by vigil_nn_pack_t: column blocks of
 * MV_BLOCK outputs, each block's H rows contiguous. The outputs of a block
 * stay in registers (eight AVX-512 vectors, enough to hide the FMA latency)
 * while its rows stream past in address order, so each weight is loaded once,
 * a only once per block, and the prefetcher sees one sequential stream.
 * rev = 1 takes the blocks last to first: a recurrence that alternates finds
 * the block it read last still in L1 (a 64x256 matrix is 64 KB, more than L1,
 * one of its two blocks is not). Each output's sum runs in the same order.
 */
#define MV_BLOCK 128
static inline void matvec_tail(float *restrict a, const float *restrict wb, const float *restrict h,
                               size_t hd, size_t tail)
{
    for (size_t j = 0; tail && j < hd; j++) {
        const float *w = wb + j * tail;
        float hj = h[j];
        for (size_t k = 0; k < tail; k++) {
            a[k] += hj * w[k];
        }
    }
}

NN_CLONES static void matvec_rows(float *restrict a, const float *restrict wp,
                                  const float *restrict h, size_t hd, size_t g, int rev)
{
    size_t nb = g / MV_BLOCK, tail = g - nb * MV_BLOCK;
    if (rev) {
        matvec_tail(a + nb * MV_BLOCK, wp + nb * MV_BLOCK * hd, h, hd, tail);
    }
    for (size_t i = 0; i < nb; i++) {
        size_t k0 = (rev ? nb - 1 - i : i) * MV_BLOCK;
        const float *wb = wp + k0 * hd;
        float acc[MV_BLOCK];
        for (size_t k = 0; k < MV_BLOCK; k++) {
            acc[k] = a[k0 + k];
        }
        for (size_t j = 0; j < hd; j++) {
            const float *w = wb + j * MV_BLOCK;
            float hj = h[j];
            for (size_t k = 0; k < MV_BLOCK; k++) {
                acc[k] += hj * w[k];
            }
        }
        for (size_t k = 0; k < MV_BLOCK; k++) {
            a[k0 + k] = acc[k];
        }
    }
    if (!rev) {
        matvec_tail(a + nb * MV_BLOCK, wp + nb * MV_BLOCK * hd, h, hd, tail);
    }
}

void vigil_nn_pack_t(float *out, const float *w, size_t o, size_t f)
{
    for (size_t k0 = 0; k0 < o; k0 += MV_BLOCK) {
        size_t bw = o - k0 < MV_BLOCK ? o - k0 : MV_BLOCK;
        float *ob = out + k0 * f;
        for (size_t j = 0; j < f; j++) {
            for (size_t k = 0; k < bw; k++) {
                ob[j * bw + k] = w[(k0 + k) * f + j];
            }
        }
    }
}

void vigil_linear_forward_t(float *out, const float *inp, const float *wt, const float *b,
                            size_t n, size_t f, size_t o)
{
    for (size_t r = 0; r < n; r++) {
        if (b) {
            memcpy(out + r * o, b, o * sizeof(float));
        } else {
            memset(out + r * o, 0, o * sizeof(float));
        }
        matvec_rows(out + r * o, wt, inp + r * f, f, o, 0);
    }
}

void vigil_lstm_forward_one(float *h, float *c, float *gates, float *tc, const float *x,
                            const float *wxt, const float *wht, const float *b, size_t t, size_t f,
                            size_t hd, int x_repeat)
{
    size_t g4 = 4 * hd;
    if (wxt) {
        /* Input products row by row: at one window, cheaper than packing for sgemm. */
        vigil_linear_forward_t(gates, x, wxt, b, x_repeat ? 1 : t, f, g4);
        for (size_t s = 1; x_repeat && s < t; s++) {
            memcpy(gates + s * g4, gates, g4 * sizeof(float));
        }
    }
    for (size_t s = 0; s < t; s++) {
        float *a = gates + s * g4;
        if (s > 0) {
            matvec_rows(a, wht, h + (s - 1) * hd, hd, g4, (int)(s & 1));
        }
        lstm_cell(a, c + s * hd, tc + s * hd, h + s * hd, s > 0 ? c + (s - 1) * hd : NULL, 1, hd);
    }
}

/*
 * Backward of the cell at one step for b rows. dht (B,H) is dL/dh_t (the
 * output gradient plus the recurrent one), dcn (B,H) holds dL/dc_t from step
 * t+1 on entry and dL/dc_{t-1} on exit. Writes the pre-activation gradients
 * da (B,4H). See docs/nn.md for the derivation.
 */
NN_CLONES static void lstm_cell_backward(float *restrict da, float *restrict dcn,
                                         const float *restrict dht, const float *restrict gate,
                                         const float *restrict tcv, const float *restrict cp,
                                         size_t b, size_t hd)
{
    for (size_t r = 0; r < b; r++) {
        const float *gi = gate + r * 4 * hd, *gf = gi + hd, *gg = gi + 2 * hd, *go = gi + 3 * hd;
        const float *dhr = dht + r * hd, *tr = tcv + r * hd, *pr = cp ? cp + r * hd : NULL;
        float *dar = da + r * 4 * hd, *dcr = dcn + r * hd;
        for (size_t j = 0; j < hd; j++) {
            float i = gi[j], f = gf[j], g = gg[j], o = go[j], th = tr[j];
            float dh = dhr[j];
            float dc = dcr[j] + dh * o * (1.0f - th * th);
            float cprev = pr ? pr[j] : 0.0f;
            dar[j] = dc * g * i * (1.0f - i);
            dar[hd + j] = dc * cprev * f * (1.0f - f);
            dar[2 * hd + j] = dc * i * (1.0f - g * g);
            dar[3 * hd + j] = dh * th * o * (1.0f - o);
            dcr[j] = dc * f;
        }
    }
}

void vigil_lstm_backward(float *dx, float *dwx, float *dwh, float *db, float *da, float *dstate,
                         const float *dh, const float *x, const float *h, const float *c,
                         const float *gates, const float *tc, const float *wx, const float *wh,
                         size_t t, size_t bsz, size_t f, size_t hd, int x_repeat)
{
    size_t g4 = 4 * hd;
    size_t step = bsz * g4;
    size_t hstep = bsz * hd;
    float *dhn = dstate;         /* (B,H) dL/dh_{t} arriving from step t+1 */
    float *dcn = dstate + hstep; /* (B,H) dL/dc_{t} arriving from step t+1 */
    memset(dstate, 0, 2 * hstep * sizeof(float));
    for (size_t s = t; s-- > 0;) {
        float *das = da + s * step;
        /* dhn += dh_s: the total gradient reaching h_s. */
        const float *dhs = dh + s * hstep;
        for (size_t k = 0; k < hstep; k++) {
            dhn[k] += dhs[k];
        }
        size_t o = s * hstep;
        lstm_cell_backward(das, dcn, dhn, gates + s * step, tc + o, s > 0 ? c + o - hstep : NULL,
                           bsz, hd);
        if (s > 0) {
            /* dhn (B,H) = da_s (B,4H) @ wh (4H,H) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)bsz, (int)hd, (int)g4, 1.0f,
                        das, (int)g4, wh, (int)hd, 0.0f, dhn, (int)hd);
        }
    }
    if (t > 1) {
        /* dwh (4H,H) += sum_{s>=1} da_s^T h_{s-1}: one product over (T-1)*B rows. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g4, (int)hd, (int)((t - 1) * bsz),
                    1.0f, da + step, (int)g4, h, (int)hd, 1.0f, dwh, (int)hd);
    }
    size_t rows = t * bsz;
    if (x_repeat) {
        /* The same x fed every step: its gradient is that of the summed da. */
        for (size_t s = 1; s < t; s++) {
            const float *das = da + s * step;
            for (size_t k = 0; k < step; k++) {
                da[k] += das[k];
            }
        }
        rows = bsz;
    }
    add_colsums(db, da, rows, g4);
    /* dwx (4H,F) += da^T x;  dx += da wx */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g4, (int)f, (int)rows, 1.0f, da,
                (int)g4, x, (int)f, 1.0f, dwx, (int)f);
    if (dx) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)f, (int)g4, 1.0f,
                    da, (int)g4, wx, (int)f, 1.0f, dx, (int)f);
    }
}

/* ---- dropout, ReLU ---- */

void vigil_dropout_forward(float *out, float *mask, const float *inp, float p,
                           struct vigil_rng *rng, size_t n)
{
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++) {
            mask[i] = 1.0f;
            out[i] = inp[i];
        }
        return;
    }
    /* Keep when a 24-bit uniform draw is at or above p * 2^24. */
    uint32_t cut = (uint32_t)((double)p * 16777216.0);
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = (vigil_rng_u32(rng) >> 8) >= cut ? keep : 0.0f;
        out[i] = inp[i] * mask[i];
    }
}

void vigil_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dinp[i] += dout[i] * mask[i];
    }
}

void vigil_relu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
    }
}

void vigil_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
    }
}

/* ---- losses ---- */

void vigil_softmax_forward(float *probs, const float *logits, size_t n, size_t k)
{
    for (size_t r = 0; r < n; r++) {
        const float *l = logits + r * k;
        float *p = probs + r * k;
        float mx = l[0];
        for (size_t j = 1; j < k; j++) {
            mx = l[j] > mx ? l[j] : mx;
        }
        double sum = 0.0;
        for (size_t j = 0; j < k; j++) {
            p[j] = expf(l[j] - mx);
            sum += (double)p[j];
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < k; j++) {
            p[j] *= inv;
        }
    }
}

double vigil_crossentropy_forward(float *losses, const float *probs, const int32_t *y,
                                  const float *w, size_t n, size_t k)
{
    double total = 0.0;
    for (size_t r = 0; r < n; r++) {
        float pr = probs[r * k + (size_t)y[r]];
        double l = -log(pr > 1e-30f ? (double)pr : 1e-30);
        if (w) {
            l *= (double)w[y[r]];
        }
        if (losses) {
            losses[r] = (float)l;
        }
        total += l;
    }
    return n ? total / (double)n : 0.0;
}

void vigil_crossentropy_softmax_backward(float *dlogits, const float *probs, const int32_t *y,
                                         const float *w, float scale, size_t n, size_t k)
{
    for (size_t r = 0; r < n; r++) {
        float s = w ? scale * w[y[r]] : scale;
        const float *p = probs + r * k;
        float *d = dlogits + r * k;
        for (size_t j = 0; j < k; j++) {
            d[j] += s * (p[j] - ((size_t)y[r] == j ? 1.0f : 0.0f));
        }
    }
}

double vigil_mse_forward(float *se, const float *pred, const float *target, size_t n)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = pred[i] - target[i];
        float e = d * d;
        if (se) {
            se[i] = e;
        }
        total += (double)e;
    }
    return n ? total / (double)n : 0.0;
}

void vigil_mse_backward(float *dpred, const float *pred, const float *target, float scale,
                        size_t n)
{
    float s = 2.0f * scale;
    for (size_t i = 0; i < n; i++) {
        dpred[i] += s * (pred[i] - target[i]);
    }
}

/* ---- optimizer ---- */

void vigil_adamw_update(float *p, float *m, float *v, const float *g, size_t n,
                        const struct vigil_adamw *hp, int64_t step)
{
    float b1 = hp->beta1, b2 = hp->beta2;
    /* Bias corrections folded into the step size, as in the Adam paper's section 2. */
    double c1 = 1.0 - pow((double)b1, (double)step);
    double c2 = 1.0 - pow((double)b2, (double)step);
    float lr_t = (float)((double)hp->lr * sqrt(c2) / c1);
    float eps_t = (float)((double)hp->eps * sqrt(c2));
    float decay = 1.0f - hp->lr * hp->weight_decay;
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = p[i] * decay - lr_t * m[i] / (sqrtf(v[i]) + eps_t);
    }
}
