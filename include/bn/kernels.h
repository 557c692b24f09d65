/*
 * kernels.h - ternary matrix x int8 activation kernels, activation
 * quantization, and the kernel table (FORMATS.md sections 2 and 4).
 *
 * Contract:
 *  1. Shapes. A weight matrix W is [ne1 rows][ne0 cols] (GGUF ne = [ne0, ne1]),
 *     rows contiguous, packed as I2_S, TQ2_0 or TQ1_0 (bn_qmat). Activations X
 *     are [n_tok][ne0] int8 with their scales (bn_act). The product is
 *     y[t][r] = sum_k W[r][k] * X[t][k], written row-major by token:
 *     y[t * ldy + r], so each token gets one output vector of ne1 floats.
 *     A call covers the row range [r0, r1) and every token, so callers split
 *     rows across threads (bn_kernel_matmul_par does exactly that).
 *  2. Integer sums first, exactly. Every kernel computes the same int32 sums:
 *       I2_S : S[t][r]    = sum_k c[r][k] * q[t][k] over the whole row, with the
 *              2-bit codes c = w + 1 (bitnet.cpp's "sumi"; a 0b11 code, never
 *              written by packers, counts as 3 in every kernel);
 *       TQ*  : S[t][r][b] = sum over 256-block b of (trit - 1) * q[t][k]
 *              (ggml's per-block "sumi"; TQ2_0's 0b11 counts as trit 3 too).
 *     |q| <= 128 and |c| <= 3, so |S| <= 384 * ne0 < 2^31 for ne0 <= 2^22;
 *     we cap ne0 at BN_KERNEL_MAX_K = 2^20 (|S| <= 2^28.6), and every kernel
 *     documents why its narrower intermediates (int16 pairs) cannot overflow.
 *  3. One float epilogue, shared by all kernels (so equal sums give equal
 *     floats bit for bit), evaluated in float32 without contraction:
 *       I2_S, per-token act : y = ((float)S - (float)sum_q[t]) / sa[t] * s_w
 *                             (bitnet.cpp: one subtract, one divide, one multiply)
 *       TQ*,  per-token act : acc = 0; for b in order: acc += (float)S_b * d_b;
 *                             y = acc / sa[t]
 *       TQ*,  Q8_K act      : acc = 0; for b in order: acc += (float)S_b * (d_b * dx[t][b]);
 *                             y = acc   (ggml_vec_dot_tq{1,2}_0_q8_K, generic C path)
 *     d_b is the block's fp16 scale, s_w the I2_S per-tensor scale. A kernel's
 *     optional fused decode (mv_tq2) evaluates the same formula itself and must
 *     give the same floats. Upstream
 *     x86 SIMD builds of ggml sum the TQ blocks in 8 float lanes instead, so
 *     they agree with the generic path (and with us) in the integers, and in
 *     the floats up to float rounding only.
 *  4. Activation quantization (bn_act_quantize_row_*), float32 without FMA:
 *       per token (BN_ACT_TOKEN, bitnet.cpp): a = max(1e-5, max|x|) in double,
 *         sa = (float)(127.0 / a), q = clamp(round_half_even(x * sa), -128, 127);
 *       Q8_K (BN_ACT_Q8K, ggml quantize_row_q8_K_ref): per 256-block, m = the
 *         element of largest |x| (first on ties); m == 0 -> d = 0, q = 0;
 *         else iscale = -127.f / m, q = min(127, round_half_even(iscale * x)),
 *         d = 1 / iscale.
 *     NaN inputs quantize to 0 and never reach an undefined float->int cast.
 *     (Older bitnet.cpp revisions rounded with round(), half away from zero;
 *     they differ from this only on exact .5 products.)
 *  5. Kernels never read outside [data, data + bn_qmat bytes) or the act
 *     buffers, for any bytes in them: hostile weight bytes give garbage
 *     numbers, never a crash. Shapes are validated by bn_qmat_init,
 *     bn_act_init and the bn_kernel_matmul* wrappers (BN_EINVAL with the bad
 *     value); the raw function pointers in bn_kernel assume valid arguments.
 *     A matmul call uses up to ~150 KiB of the calling thread's stack (a
 *     64 KiB tile of sums, 16 KiB of TQ block scales, the lut kernel's 64 KiB
 *     of tables or the amx kernel's 64 KiB of packed tiles and sums); no
 *     malloc.
 *  6. bn_kernel_best() picks the fastest kernel the CPU runs (x86-64:
 *     AMX-INT8 > AVX-512 VNNI > AVX2 > blocked scalar; aarch64: NEON
 *     dotprod), or the one named by the environment variable BN_KERNEL.
 *     "amx" runs I2_S calls of 2 tokens or more and TQ2_0 calls of 16 or
 *     more on tiles and the rest (1-token decode, TQ1_0) as avx512vnni, so
 *     it is the best choice for every batch size where the CPU and the OS
 *     allow AMX.
 *
 * Typical use (one linear layer, n tokens, x is [n][ne0] floats):
 *
 *     bn_qmat w;  bn_qmat_init(&w, type, bytes, nbytes, ne0, ne1, &err);
 *     bn_act a;   bn_act_init(&a, type == BN_TYPE_I2_S ? BN_ACT_TOKEN : BN_ACT_Q8K,
 *                             max_tokens, ne0, &err);          // once
 *     const bn_kernel *k;  bn_kernel_best(&k, &err);            // once
 *     bn_act_quantize(&a, x, n, &err);
 *     bn_kernel_matmul_par(k, pool, &w, &a, y, ne1, &err);      // y: [n][ne1]
 *
 * BN_ACT_Q8K reproduces upstream llama.cpp for TQ1_0/TQ2_0 models;
 * BN_ACT_TOKEN (required for I2_S) reproduces bitnet.cpp.
 */
#ifndef BN_KERNELS_H
#define BN_KERNELS_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/gguf.h"       /* bn_type ids */
#include "bn/threadpool.h"

#define BN_KERNEL_MAX_K (INT64_C(1) << 20)   /* max ne0: keeps int32 sums exact */
#define BN_ACT_GROUP 128                     /* bn_act.bsum granularity */

/* ---- weights ------------------------------------------------------------ */

typedef struct {
    bn_type type;         /* BN_TYPE_I2_S, BN_TYPE_TQ2_0 or BN_TYPE_TQ1_0 */
    const uint8_t *data;  /* (ne1 * row_bytes) packed bytes, rows contiguous (+ I2_S tail) */
    int64_t ne0;          /* K: elements per row (multiple of 128 for I2_S, 256 for TQ*) */
    int64_t ne1;          /* N: rows = output features */
    size_t row_bytes;     /* ne0/4 (I2_S), ne0/256*66 (TQ2_0), ne0/256*54 (TQ1_0) */
    float scale;          /* I2_S: per-tensor scale read from the tail; TQ*: 1 (unused) */
} bn_qmat;

/* Describe packed tensor bytes (not copied; must outlive w). size must be
 * exactly the tensor's byte size (I2_S: ne1*ne0/4 + 32). BN_EINVAL naming the
 * bad value for a wrong type, ne0 not a multiple of the block, ne0 > 2^20,
 * ne1 < 1, or a size mismatch. */
bn_status bn_qmat_init(bn_qmat *w, bn_type type, const void *data, size_t size,
                       int64_t ne0, int64_t ne1, bn_error *err);

/* Integer sums per (token, row): 1 for I2_S, ne0/256 for TQ*. */
int64_t bn_qmat_sums_per_row(const bn_qmat *w);

/* Runtime layout: a TQ1_0 matrix as TQ2_0 (the file's bytes are not touched).
 * Each block keeps its 256 trits (the decode of FORMATS.md 2.2 that every
 * kernel uses) in TQ2_0's 2-bit fields and its fp16 d bytes as they are, so
 * every kernel's sums S[t][r][b] and the epilogue's floats are those of the
 * TQ1_0 bytes, while the kernels decode TQ2_0 with shifts and masks instead
 * of TQ1_0's base-3 multiplies (66 bytes a block instead of 54). Writes rows
 * [r0, r1) of src (type TQ1_0) into dst, the whole TQ2_0 matrix of
 * src->ne1 * (src->ne0 / 256) * 66 bytes, so row ranges may run on several
 * threads; bn_qmat_init(.., BN_TYPE_TQ2_0, dst, ..) then describes it. */
void bn_qmat_tq1_to_tq2_rows(const bn_qmat *src, int64_t r0, int64_t r1, uint8_t *dst);

/* ---- activations -------------------------------------------------------- */

typedef enum {
    BN_ACT_TOKEN = 0,  /* per-token absmax (bitnet.cpp): x ~= q / sa, scale = sa per token */
    BN_ACT_Q8K = 1     /* llama.cpp Q8_K: x ~= q * d, scale = d per 256-block */
} bn_act_kind;

typedef struct {
    bn_act_kind kind;
    int64_t ne0;       /* elements per token (multiple of 128; of 256 for Q8K) */
    int64_t n_tok;     /* tokens currently held (<= cap_tok) */
    int64_t cap_tok;   /* tokens allocated */
    int8_t *q;         /* (cap_tok, ne0), every row 64-byte aligned (ne0 % 128 == 0) */
    float *scale;      /* TOKEN: (cap_tok) sa;  Q8K: (cap_tok, ne0/256) d */
    int32_t *sum;      /* (cap_tok) sum of q over the token's row */
    int32_t *bsum;     /* (cap_tok, ne0/128) sum of q over each 128-group */
} bn_act;

/* Allocate room for cap_tok tokens of ne0 elements (zeroed; n_tok = 0). */
bn_status bn_act_init(bn_act *a, bn_act_kind kind, int64_t cap_tok, int64_t ne0, bn_error *err);
void bn_act_free(bn_act *a);

/* Quantize x (n_tok, ne0) floats into a; BN_EINVAL if n_tok > cap_tok or < 1. */
bn_status bn_act_quantize(bn_act *a, const float *x, int64_t n_tok, bn_error *err);

/* The same, tokens split across the pool (one task per token; the bytes do not
 * depend on the split). */
bn_status bn_act_quantize_par(bn_act *a, bn_pool *pool, const float *x, int64_t n_tok,
                              bn_error *err);

/* One token row of n elements (n % 128 == 0; % 256 for q8k). Outputs:
 * q (n), *sa or d (n/256), *sum, bsum (n/128). */
void bn_act_quantize_row_token(const float *x, int64_t n, int8_t *q, float *sa,
                               int32_t *sum, int32_t *bsum);
void bn_act_quantize_row_q8k(const float *x, int64_t n, int8_t *q, float *d,
                             int32_t *sum, int32_t *bsum);

/* ---- kernels ------------------------------------------------------------ */

/* Integer core: sums for rows [r0, r1) and tokens [t0, t1) into
 * acc[((t - t0) * (r1 - r0) + (r - r0)) * spr + b], spr = bn_qmat_sums_per_row(w).
 * Arguments are trusted (validated by the wrappers below). */
typedef void (*bn_dot_fn)(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                          int64_t t0, int64_t t1, int32_t *acc);

/* Fused decode, optional: one token's TQ2_0 rows [r0, r1) straight to floats,
 * y[r] = the epilogue of contract 3 over the sums of dot_tq2, bit for bit
 * (the self-test and test_kernels compare it with basic's matmul); the
 * matmul wrappers use it for 1-token calls. */
typedef void (*bn_mv_fn)(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1, float *y);

typedef struct {
    const char *name;      /* "basic", "blocked", "lut", "avx2", "avx512vnni", "amx", "neon" */
    const char *desc;      /* one line for bn-verify --kernels / bench output */
    int (*available)(void);/* 1 if this CPU runs it */
    bn_dot_fn dot_i2s;     /* one per weight type; never NULL */
    bn_dot_fn dot_tq2;
    bn_dot_fn dot_tq1;
    bn_mv_fn mv_tq2;       /* optional (NULL: dot_tq2 and the shared epilogue) */
} bn_kernel;

/* Every kernel compiled in (available or not), basic first; *n gets the count. */
const bn_kernel *const *bn_kernel_list(size_t *n);

/* By name; "simd" means the best available SIMD kernel. BN_ENOTFOUND for an
 * unknown name (the message lists the known ones), BN_EUNSUPPORTED when this
 * CPU cannot run it. */
bn_status bn_kernel_get(const char *name, const bn_kernel **out, bn_error *err);

/* BN_KERNEL if set (errors as bn_kernel_get, naming BN_KERNEL), else the
 * fastest available kernel. */
bn_status bn_kernel_best(const bn_kernel **out, bn_error *err);

/* y[t * ldy + r] for r in [r0, r1), t in [0, x->n_tok); ldy >= w->ne1.
 * BN_EINVAL for mismatched ne0, a bad row range or ldy; BN_EUNSUPPORTED for
 * I2_S weights with Q8_K activations. */
bn_status bn_kernel_matmul(const bn_kernel *k, const bn_qmat *w, const bn_act *x,
                           int64_t r0, int64_t r1, float *y, int64_t ldy, bn_error *err);

/* Raw sums, for equivalence tests and bn-verify --kernels:
 * acc[(t * (r1 - r0) + (r - r0)) * spr + b], all tokens. Same checks. */
bn_status bn_kernel_matmul_int(const bn_kernel *k, const bn_qmat *w, const bn_act *x,
                               int64_t r0, int64_t r1, int32_t *acc, bn_error *err);

/* The SQLite-style self-test behind bn-verify --kernels: k and basic run one
 * program from seed (224 shapes: every weight type, both activation kinds,
 * rows 1..64, columns 128..4096, tokens 1..64, random and adversarial bytes
 * and activations) and must agree on every int32 sum and every float bit.
 * BN_EINTERNAL names the kernel, shape and first differing value;
 * BN_EUNSUPPORTED when this CPU cannot run k. *n_checked (may be NULL) gets
 * the number of shapes that agreed. */
bn_status bn_kernel_selftest(const bn_kernel *k, uint64_t seed, int64_t *n_checked, bn_error *err);

/* All ne1 rows, split across the pool's threads (pool may be NULL). */
bn_status bn_kernel_matmul_par(const bn_kernel *k, bn_pool *pool, const bn_qmat *w,
                               const bn_act *x, float *y, int64_t ldy, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
