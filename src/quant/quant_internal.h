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

/* Pass 1 of ternarization over one chunk (ternarize.c). */
typedef struct {
    double abs_sum;  /* Σ|w| */
    float abs_max;   /* max|w| */
    float mag;       /* the common non-zero magnitude (0: none; meaningless when mixed) */
    int mixed;       /* two different non-zero magnitudes seen */
    int64_t bad;     /* index (from the chunk's start) of the first NaN/Inf, -1 if none */
} bnq_scan_part;

/* The scalar reference of pass 1, and the same results from SIMD code. */
void bnq_scan_chunk_scalar(const float *w, uint64_t n, bnq_scan_part *p);

/* AVX2 versions of the converter's per-element passes (quant_avx2.c). Each gives
 * exactly what its scalar reference gives, or returns -1 without a result (a
 * case it cannot promise bit for bit: a NaN/Inf, a sum that might round, a bad
 * code), and the caller runs the scalar code. Only call with bnq_have_avx2(). */
int bnq_have_avx2(void);
int bnq_scan_chunk_avx2(const float *w, uint64_t n, bnq_scan_part *p);
/* codes[i] = clamp(rintf(w[i] * rs), -1, 1); *nz = non-zero codes, *zero_max =
 * max|w| over the zero codes (w finite). */
int bnq_absmean_codes_avx2(const float *w, uint64_t n, float rs, int8_t *codes, uint64_t *nz,
                           float *zero_max);
/* One TQ2_0 row of ne0 codes (ne0 % 256 == 0); d_half: the fp16 block scale of
 * blocks with a non-zero code. */
int bnq_pack_tq2_row_avx2(const int8_t *codes, int64_t ne0, uint16_t d_half, uint8_t *out);

/* Statistics pass 1 over one chunk (stats.c): with x = w[i], q = scale * code[i]
 * (float, then double) and e = x - q, the double sums of x², e², q², x·q, each
 * kept in BNQ_STAT_LANES partial sums (element i in lane i % BNQ_STAT_LANES, the
 * lanes added in order at the end), so that the SIMD code computes the same
 * bits; max|e|, max|x| and the code counts. */
#define BNQ_STAT_LANES 4
typedef struct {
    double sw2, se2, sq2, swq, maxe, maxw;
    uint64_t neg, zero, pos;
} bnq_stat_sums;
void bnq_stat_sums_scalar(const float *w, const int8_t *codes, uint64_t n, float scale, bnq_stat_sums *p);
int bnq_stat_sums_avx2(const float *w, const int8_t *codes, uint64_t n, float scale, bnq_stat_sums *p);
/* Pass 2: hist[bin of |w[i]|]++ with bin = |w| / unit / hist_max * BN_QSTAT_BINS in
 * double, truncated, and the last bin for anything at or past the end. */
void bnq_stat_hist_scalar(const float *w, uint64_t n, double unit, double hist_max, uint64_t *hist);
/* The bin is a non-decreasing step function of |w|: edge[b] = the smallest |w| bit
 * pattern whose bin is >= b (edge[0] = 0, edge[BINS] = INT32_MAX, above every finite
 * value), found by bisection on the scalar formula; k ~ BINS / (unit·hist_max)
 * guesses a bin within one of the right one. The SIMD histogram guesses and lets
 * the edges decide, with no division. */
typedef struct {
    uint32_t edge[BN_QSTAT_BINS + 1];
    float k;
} bnq_hist_edges;
void bnq_hist_edges_init(bnq_hist_edges *h, double unit, double hist_max);
int bnq_stat_hist_avx2(const float *w, uint64_t n, const bnq_hist_edges *h, uint64_t *hist);
/* Both at once (hist accumulated into, as above): the same sums and counts, the
 * histogram's work interleaved with the sums' chains of adds; -1 on NaN/Inf
 * (then neither result is complete). */
int bnq_stat_sums_hist_avx2(const float *w, const int8_t *codes, uint64_t n, float scale, const bnq_hist_edges *h,
                            bnq_stat_sums *sums, uint64_t *hist);

/* One I2_S row of ne0 codes (ne0 % 128 == 0, no tail); -1 on a code outside -1..1. */
int bnq_pack_i2s_row_avx2(const int8_t *codes, int64_t ne0, uint8_t *out);
/* Packed row r of an HF offline-packed [R, C] uint8 tensor into its four output rows
 * of codes (hf_bitnet.c's layout); -1 on a field holding 3 (then the codes written
 * so far are partial and the caller reruns the scalar code for the message). */
int bnq_unpack_hf_row_avx2(const uint8_t *packed, size_t C, size_t R, size_t r, int8_t *codes);

/* F16 packing of x[0..n) as bn_f32_to_f16, little-endian at out, up to the first
 * group of 8 holding NaN or Inf; returns how many it did (quant_avx2.c). */
size_t bnq_f32_to_f16_avx2(const float *x, size_t n, uint8_t *out);

/* Work fused into ternarization's code pass (ternarize.c): when the scale is known
 * before that pass (every method but absmax's refit, or already-ternary input),
 * begin(ctx, scale, max|W|) runs once, then chunk(ctx, ch, w) after the codes of
 * chunk ch are stored, w holding the chunk's floats (on the pass's threads, each
 * chunk once), and *fused is set; otherwise neither runs. */
typedef struct {
    void (*begin)(void *ctx, float scale, float abs_max);
    void (*chunk)(void *ctx, int64_t ch, const float *w);
    void *ctx;
    int fused;
} bnq_fuse;
/* Ternarize the floats at w, or (fill non-NULL, w unused) at fill->w as
 * fill->src stores them there chunk by chunk during the first pass: the same
 * results either way. */
typedef struct {
    const bn_quant_source *src;
    float *w; /* (n) */
} bnq_fill;
bn_status bnq_ternarize_fused(const char *name, const float *w, const bnq_fill *fill, uint64_t n,
                              bn_quant_method m, int8_t *codes, bn_ternary_result *res, int n_threads,
                              bnq_fuse *fuse, bn_error *err);

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
