/* kquant_internal.h - the Q6_K / Q4_K head and embedding of the runtime
 * (kquant_mm.c, kquant_avx512.c; FORMATS.md §2.3), as ggml computes them:
 * the input is quantized to Q8_K (bn_act BN_ACT_Q8K, quantize_row_q8_K_ref)
 * and each (token, row) value is built from integer sums per 256-block.
 *
 * Contract:
 *  1. Integer sums per block b of a row and a Q8_K token (q, 16-element sums
 *     bsum16 of q):
 *       Q6_K: S_b = Σ_j sc_j · Σ_{i in group j of 16} (w_i − 32) · q_i
 *       Q4_K: S_b = Σ_j sc_j · Σ_{i in group j of 32} w_i · q_i,
 *             M_b = Σ_j m_j · Σ_{i in group j} q_i
 *     Every sums function (basic, avx512) gives the same S and M: |S_b| <=
 *     16 · 128 · 32 · 127 · 16 < 2^31, so nothing overflows.
 *  2. Floats, in one fixed order (float32, no FMA) whatever the ISA:
 *       acc = 0; for b in order: acc += (fp16(d) · dx_b) · (float)S_b
 *                                [Q4_K: acc −= (fp16(dmin) · dx_b) · (float)M_b]
 *     ggml (ggml_vec_dot_q6_K_q8_K) has the same integers and sums the floats
 *     in 8 lanes: the two agree up to float rounding.
 *  3. Results depend neither on the thread count nor on the batch. */
#ifndef BN_KQUANT_INTERNAL_H
#define BN_KQUANT_INTERNAL_H

#include "model_internal.h"

int bnr_is_kquant(bn_type t);

/* One row of nb blocks (Q6_K 210 bytes, Q4_K 144 each) with one Q8_K token:
 * q (nb * 256 int8), bsum16 (nb * 16). S (nb) always, M (nb) for Q4_K. */
typedef void (*bnr_kq_sums_fn)(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                              int32_t *S, int32_t *M);

void bnr_kq_sums_q6k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M);
void bnr_kq_sums_q4k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M);
/* kquant_avx512.c (AVX-512BW + VNNI); only when bnr_kq_avx512_available(). */
int bnr_kq_avx512_available(void);
void bnr_kq_sums_q6k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M);
void bnr_kq_sums_q4k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M);

/* The sums function used for type t ("basic" forces the scalar one). */
bnr_kq_sums_fn bnr_kq_sums_for(bn_type t, int basic);

/* Contract 2 for one row and token from its sums. */
float bnr_kq_combine(bn_type t, const uint8_t *row, const float *dx, const int32_t *S,
                    const int32_t *M, int nb);

/* 16-element sums of n (a multiple of 256) Q8_K values. */
void bnr_kq_bsum16(const int8_t *q, int64_t n, int16_t *bsum16);

/* y[t * n_out + r] = row r of w (Q6_K/Q4_K) · token t of xq (Q8_K, n_in wide)
 * for every row and the xq->n_tok tokens, on m's pool. */
bn_status bnr_kq_matmul(const bn_model *m, const bn_weight *w, const bn_act *xq, float *y,
                       bn_error *err);

#endif
