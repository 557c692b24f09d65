/* kquant_internal.h - the Q6_K / Q4_K head and embedding of the runtime
 * (kquant_mm.c, kquant_avx2.c, kquant_avx512.c; FORMATS.md §2.3), as ggml
 * computes them: the input is quantized to Q8_K (bn_act BN_ACT_Q8K,
 * quantize_row_q8_K_ref) and each (token, row) value is built from integer
 * sums per 256-block, combined in the float order of the x86 build of
 * ggml_vec_dot_q{6,4}_K_q8_K that bitnet.cpp runs (its AVX2 code, also taken
 * by AVX-512 builds), so that a logit is the same float as bitnet.cpp's.
 *
 * Contract:
 *  1. Integer sums of block b of a row and a Q8_K token (q, 16-element sums
 *     bsum16 of q), in eight lanes: lane k (0..7) holds the elements e of the
 *     block with (e mod 32) / 4 == k (ggml's int32 lanes of one 256-bit
 *     register):
 *       Q6_K: S[8b + k] = Σ_{e in lane k} sc[e / 16] · (w_e − 32) · q_e
 *       Q4_K: S[8b + k] = Σ_{e in lane k} sc[e / 32] · w_e · q_e,
 *             M[4b + i] = m[2i] · G[2i] + m[2i + 1] · G[2i + 1],
 *             G[j] = Σ_{e / 32 == j} q_e
 *     Every sums function (basic, avx2, avx512) gives the same S and M: a lane
 *     has 32 elements, |S| <= 32 · 128 · 32 · 128 = 2^24, nothing overflows.
 *  2. Floats, in one fixed order whatever the ISA (fma = one rounding):
 *       d_b = dx_b · fp16(d)                          a_k = 0, c_i = 0
 *       for b in order: a_k = fma(d_b, (float)S[8b + k], a_k)
 *           [Q4_K: c_i = fma(−(dx_b · fp16(dmin)), (float)M[4b + i], c_i)]
 *       y = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
 *           [Q4_K: y += (c0 + c2) + (c1 + c3)]
 *     The basic combination uses fmaf(), the AVX2 one vfmadd: the same bits.
 *  3. Results depend neither on the thread count nor on the batch. */
#ifndef BN_KQUANT_INTERNAL_H
#define BN_KQUANT_INTERNAL_H

#include "model_internal.h"

#define BNR_KQ_LANES 8   /* S values per block */
#define BNR_KQ_MLANES 4  /* M values per block (Q4_K) */

int bnr_is_kquant(bn_type t);

/* One row of nb blocks (Q6_K 210 bytes, Q4_K 144 each) with one Q8_K token:
 * q (nb * 256 int8), bsum16 (nb * 16). S (nb * 8) always, M (nb * 4) for Q4_K. */
typedef void (*bnr_kq_sums_fn)(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                              int32_t *S, int32_t *M);
/* Contract 2 for one row and token from its sums. */
typedef float (*bnr_kq_combine_fn)(bn_type t, const uint8_t *row, const float *dx,
                                   const int32_t *S, const int32_t *M, int nb);

void bnr_kq_sums_q6k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M);
void bnr_kq_sums_q4k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M);
float bnr_kq_combine_basic(bn_type t, const uint8_t *row, const float *dx, const int32_t *S,
                          const int32_t *M, int nb);
/* Sums and combination in one pass for one row and token (the product's hot
 * loop): the same float as sums then combine. */
typedef float (*bnr_kq_dot_fn)(const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                               const float *dx, int nb);
float bnr_kq_dot_basic(bn_type t, const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                      const float *dx, int nb);
/* Contract 2's last step from the lane accumulators a (8) and, for Q4_K, c (4). */
float bnr_kq_finish(bn_type t, const float *a, const float *c);
/* kquant_avx2.c (AVX2 + FMA); only when bnr_kq_avx2_available(). */
int bnr_kq_avx2_available(void);
void bnr_kq_sums_q6k_avx2(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                         int32_t *S, int32_t *M);
void bnr_kq_sums_q4k_avx2(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                         int32_t *S, int32_t *M);
float bnr_kq_combine_avx2(bn_type t, const uint8_t *row, const float *dx, const int32_t *S,
                         const int32_t *M, int nb);
/* kquant_avx512.c (AVX-512BW + VNNI); only when bnr_kq_avx512_available(). */
int bnr_kq_avx512_available(void);
void bnr_kq_sums_q6k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M);
void bnr_kq_sums_q4k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M);
float bnr_kq_dot_q6k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                           const float *dx, int nb);
float bnr_kq_dot_q4k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                           const float *dx, int nb);

/* The sums function for type t by name: "basic", "avx2", "avx512", or NULL for
 * the best this CPU runs; NULL when the named one is not available here. */
bnr_kq_sums_fn bnr_kq_sums_for(bn_type t, const char *isa);
/* The one-pass dot for type t when this CPU has one (AVX-512), else NULL. */
bnr_kq_dot_fn bnr_kq_dot_for(bn_type t);
/* The combination: basic (fmaf) or, when the CPU has AVX2 + FMA and basic is 0, AVX2. */
bnr_kq_combine_fn bnr_kq_combine_for(int basic);

/* 16-element sums of n (a multiple of 256) Q8_K values. */
void bnr_kq_bsum16(const int8_t *q, int64_t n, int16_t *bsum16);

/* y[t * n_out + r] = row r of w (Q6_K/Q4_K) · token t of xq (Q8_K, n_in wide)
 * for every row and the xq->n_tok tokens, on m's pool. */
bn_status bnr_kq_matmul(const bn_model *m, const bn_weight *w, const bn_act *xq, float *y,
                       bn_error *err);

#endif
