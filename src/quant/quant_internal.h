/* quant_internal.h - helpers shared by the files of src/quant (not public). */
#ifndef BN_QUANT_INTERNAL_H
#define BN_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "bn/quant.h"

/* Bytes of one packed row of ne0 elements (I2_S: ne0/4, no tail). */
bn_status bnq_row_bytes(bn_type t, int64_t ne0, size_t *out, bn_error *err);

/* One row of n floats (n % 256 == 0, all finite) -> Q6_K or Q4_K blocks, the
 * bytes of ggml's quantize_row_q{6,4}_K_ref (kquant.c); fused: as bitnet.cpp's
 * build (1) or upstream llama.cpp's (0). */
void bnq_kquant_row(bn_type t, const float *x, int64_t n, int fused, uint8_t *out);

/* Run fn over rows [0, n_rows) split into contiguous ranges on up to n_threads
 * threads (the caller's thread takes one range). Returns the first failure by
 * row order; err gets its message. */
typedef bn_status (*bnq_rows_fn)(void *ctx, int64_t r0, int64_t r1, bn_error *err);
bn_status bnq_parallel_rows(int64_t n_rows, int n_threads, bnq_rows_fn fn, void *ctx, bn_error *err);

/* The exact mse threshold search (ternarize.c): the chosen set is every element
 * whose |w| bit pattern is >= *u_min (nothing when *k == 0); *A = Σ|w| over it.
 * force_buckets selects the histogram path even for small n (tests compare the
 * two paths). */
bn_status bnq_mse_search(const float *w, uint64_t n, int force_buckets, uint32_t *u_min, double *A,
                         uint64_t *k, bn_error *err);

/* Elements per chunk of the ternarization and statistics passes. Partial results
 * are per chunk and combined in chunk order: identical for any thread count. */
#define BNQ_CHUNK ((uint64_t)1 << 16)

static inline int64_t bnq_n_chunks(uint64_t n) { return (int64_t)((n + BNQ_CHUNK - 1) / BNQ_CHUNK); }
/* Element range [*i0, *i1) of chunk ch of n elements. */
static inline void bnq_chunk(uint64_t n, int64_t ch, uint64_t *i0, uint64_t *i1)
{
    *i0 = (uint64_t)ch * BNQ_CHUNK;
    *i1 = *i0 + BNQ_CHUNK < n ? *i0 + BNQ_CHUNK : n;
}

/* Σ (W - s T)² of absmean's result on w, without storing codes (ternarize.c);
 * 0 for already-ternary input, NAN if memory ran out. */
double bnq_absmean_sum_err2(const float *w, uint64_t n, int n_threads);

/* bn_quant_stats_compute on n_threads threads (stats.c). */
bn_status bnq_stats_compute(bn_quant_stats *st, const char *name, uint32_t n_dims, const int64_t *ne,
                            const float *w, const int8_t *codes, const bn_ternary_result *res,
                            bn_quant_method m, int n_threads, bn_error *err);

/* Derived metrics from the four sums over n elements (stats.c). */
void bnq_derive(uint64_t n, double sum_w2, double sum_err2, double sum_q2, double sum_wq, double *mse,
                double *rmse, double *nmse, double *snr_db, double *cosine);

#endif
