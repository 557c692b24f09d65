/* attention_avx512.c - the two inner loops of attention (attention.c) with
 * AVX-512, bit for bit the values of the portable forms there.
 *
 * Scores. bnr_dot's order for one (query, key): lane j (0..7) sums q[i] k[i]
 * for i = j mod 8, i < n8 = n - n % 8, in increasing i (a rounded product,
 * then a rounded add); lanes combine ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)); the
 * tail i >= n8 is added last, one product at a time. Here one register holds
 * the 8 lanes of TWO queries against one key: the low half query a, the high
 * half query b (the queries packed in pairs once per call), times the key's 8
 * values broadcast to both halves straight from memory. A tile is 8 keys x 1
 * or 2 query pairs, 8 or 16 independent accumulators; the combine is done for
 * 8 accumulators at once by three rounds of even/odd lane permutes and adds,
 * which pair exactly the lanes the scalar combine pairs, and the last round
 * lands query a's 8 scores in the low half and query b's in the high half.
 * Each key block is read once per call for every query of the call.
 *
 * Weighted values. out[d] = ((0 + w[0] v[0][d]) + w[1] v[1][d]) + ...: per
 * (query, d) a chain in increasing p. Up to 4 queries x 64 columns stay in 16
 * registers for the whole sweep over p, so each V row is loaded once per
 * block of 4 queries and no partial sum goes through memory.
 *
 * F16 caches convert exactly (vcvtph2ps, as bnr_f16_table): keys a block of
 * 8 rows at a time into scratch (then shared by every query pair), values on
 * the fly. Both loops prefetch the rows they read next: at depth a decode
 * step streams the whole cache from DRAM. */
#include "model_internal.h"

#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__F16C__)
#include <immintrin.h>

/* Accumulator arrays must live in registers: loops over them unroll fully. */
#define ATT_UNROLL _Pragma("GCC unroll 16")

/* Rows ahead a loop prefetches (a row of 128 F32 is 512 bytes). */
#define ATT_PF_ROWS 64
#define ATT_PF_KEYS 8  /* keys ahead the scores prefetch (measured: farther was slower) */

int bnr_att_avx512_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           bnr_avx2_available(); /* F16C and the OS state, by CPUID */
}

/* ---- scores ------------------------------------------------------------------------ */

/* The 8 floats at x in both halves of a register (a load, no shuffle). */
static inline __m512 bcast8(const float *x)
{
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(x))));
}

/* Lane-pair sums of a and b: lane i of the result is a or b (b for indices
 * >= 16 of the concatenation) at ie[i] plus at io[i]. */
static inline __m512 pair_add(__m512 a, __m512 b, __m512i ie, __m512i io)
{
    return _mm512_add_ps(_mm512_permutex2var_ps(a, ie, b), _mm512_permutex2var_ps(a, io, b));
}

/* acc[j] (j < 8) holds the lanes of (query a, key j) low, (query b, key j)
 * high. Returns query a's 8 combined scores (keys 0..7) in the low half, query
 * b's in the high half. Rounds 1 and 2 add lanes (2i, 2i+1), which within one
 * dot pairs (l0+l1), (l2+l3), ... and then ((l0+l1)+(l2+l3)), ...; round 3
 * adds the two halves of each dot, picking dot 2i (query a, key i) for lane
 * i and dot 2i+1 for lane 8+i. */
static inline __m512 combine8(const __m512 acc[8])
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i fe = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 2, 6, 10, 14, 18, 22, 26, 30);
    const __m512i fo = _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 3, 7, 11, 15, 19, 23, 27, 31);
    __m512 s0 = pair_add(acc[0], acc[1], ev, od), s1 = pair_add(acc[2], acc[3], ev, od);
    __m512 s2 = pair_add(acc[4], acc[5], ev, od), s3 = pair_add(acc[6], acc[7], ev, od);
    __m512 t0 = pair_add(s0, s1, ev, od), t1 = pair_add(s2, s3, ev, od);
    return pair_add(t0, t1, fe, fo);
}

/* NP (1 or 2) query pairs, packed at qp (pair p at qp + p * 2 * n8), against
 * the 8 keys kr[0..8) (a short block repeats its last key): r[p] = combine8. */
static inline __attribute__((always_inline)) void
score_tile(const float *qp, const float *const kr[8], int n8, __m512 r[2], const int NP)
{
    __m512 acc[2][8];
    ATT_UNROLL
    for (int p = 0; p < NP; p++)
        ATT_UNROLL
        for (int j = 0; j < 8; j++)
            acc[p][j] = _mm512_setzero_ps();
    for (int s = 0; s < n8; s += 8) {
        __m512 qv[2];
        ATT_UNROLL
        for (int p = 0; p < NP; p++)
            qv[p] = _mm512_loadu_ps(qp + (size_t)p * 2 * n8 + 2 * (size_t)s);
        ATT_UNROLL
        for (int j = 0; j < 8; j++) {
            const __m512 kv = bcast8(kr[j] + s);
            ATT_UNROLL
            for (int p = 0; p < NP; p++)
                acc[p][j] = _mm512_add_ps(acc[p][j], _mm512_mul_ps(qv[p], kv));
        }
    }
    ATT_UNROLL
    for (int p = 0; p < NP; p++)
        r[p] = combine8(acc[p]);
}

/* One row of n halves to floats (exact). */
static void f16_row(const uint16_t *h, int n, float *dst)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i)));
    }
}

/* Prefetches as volatile asm: GCC 12 deletes a loop of _mm_prefetch calls
 * in the weighted-values tile (it did, without a word, on every instance,
 * and the rows then came from DRAM on demand). */
static inline void pf_line_l1(const uint8_t *p)
{
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
}

/* Prefetch the lines of the n_bytes (> 0) from p: at depth both loops
 * stream the cache from DRAM, far ahead of what out-of-order execution
 * reaches by itself. */
static inline void prefetch_span(const uint8_t *p, size_t n_bytes)
{
    for (size_t o = 0; o < n_bytes; o += 64)
        pf_line_l1(p + o);
}

void bnr_att_scores_avx512(const float *const *q, int nq, const void *k, int f16, size_t ldk,
                             int nk, int n, float *const *s, float *scratch)
{
    const int n8 = n - n % 8, n_pairs = (nq + 1) / 2;
    const size_t elt = f16 ? sizeof(uint16_t) : sizeof(float), row_bytes = ldk * elt;
    float *qp = scratch, *kbuf = scratch + (size_t)n_pairs * 2 * n8;
    for (int p = 0; p < n_pairs; p++) { /* an odd count pairs the last query with itself */
        const float *qa = q[2 * p], *qb = q[2 * p + 1 < nq ? 2 * p + 1 : 2 * p];
        for (int i = 0; i < n8; i += 8) {
            _mm256_storeu_ps(qp + (size_t)p * 2 * n8 + 2 * (size_t)i, _mm256_loadu_ps(qa + i));
            _mm256_storeu_ps(qp + (size_t)p * 2 * n8 + 2 * (size_t)i + 8, _mm256_loadu_ps(qb + i));
        }
    }
    const uint8_t *kb8 = k;
    for (int k0 = 0; k0 < nk; k0 += 8) {
        const int nr = nk - k0 < 8 ? nk - k0 : 8;
        const __mmask8 keep = (__mmask8)((1u << nr) - 1);
        const float *kr[8];
        for (int j = 0; j < 8; j++) {
            const uint8_t *row = kb8 + (size_t)(k0 + (j < nr ? j : nr - 1)) * row_bytes;
            if (k0 + j + ATT_PF_KEYS < nk) /* row by row, spread over the block */
                prefetch_span(row + ATT_PF_KEYS * row_bytes, row_bytes);
            if (f16) {
                if (j < nr)
                    f16_row((const uint16_t *)row, n, kbuf + (size_t)j * n);
                kr[j] = kbuf + (size_t)(j < nr ? j : nr - 1) * n;
            } else {
                kr[j] = (const float *)row;
            }
        }
        int p = 0;
        for (; p + 2 <= n_pairs; p += 2) {
            __m512 r[2];
            score_tile(qp + (size_t)p * 2 * n8, kr, n8, r, 2);
            for (int h = 0; h < 2; h++) {
                _mm256_mask_storeu_ps(s[2 * (p + h)] + k0, keep, _mm512_castps512_ps256(r[h]));
                if (2 * (p + h) + 1 < nq)
                    _mm256_mask_storeu_ps(s[2 * (p + h) + 1] + k0, keep,
                                          _mm256_castpd_ps(_mm512_extractf64x4_pd(
                                              _mm512_castps_pd(r[h]), 1)));
            }
        }
        if (p < n_pairs) {
            __m512 r[2];
            score_tile(qp + (size_t)p * 2 * n8, kr, n8, r, 1);
            _mm256_mask_storeu_ps(s[2 * p] + k0, keep, _mm512_castps512_ps256(r[0]));
            if (2 * p + 1 < nq)
                _mm256_mask_storeu_ps(s[2 * p + 1] + k0, keep,
                                      _mm256_castpd_ps(_mm512_extractf64x4_pd(
                                          _mm512_castps_pd(r[0]), 1)));
        }
        if (n8 < n) /* the tail, one product at a time, after the combine */
            for (int i = 0; i < nq; i++)
                for (int j = 0; j < nr; j++) {
                    float acc = s[i][k0 + j];
                    for (int t = n8; t < n; t++)
                        acc += q[i][t] * kr[j][t];
                    s[i][k0 + j] = acc;
                }
    }
}

/* ---- weighted values --------------------------------------------------------------- */

/* 16 values of a row from element c (F16: converted); the last register of a
 * block may be partial (mask m, zeros beyond it). */
static inline __m512 v_load(const uint8_t *row, int c, __mmask16 m, const int f16)
{
    if (f16)
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c));
    return _mm512_maskz_loadu_ps(m, (const float *)row + c);
}

/* QB queries x DC registers of columns [d, d + 16 DC) (the last one masked by
 * last unless FULL): acc = out, then the sweep over p < len[i], then out =
 * acc. Each row's span of these columns is prefetched ATT_PF_ROWS rows
 * ahead (measured: better than whole rows once per call, which the second
 * column tile then did not find in cache). */
static inline __attribute__((always_inline)) void
pv_tile(const float *const *w, const int *len, const uint8_t *v, size_t row_bytes, int d,
        __mmask16 last, float *const *out, const int f16, const int QB, const int DC,
        const int FULL)
{
    __m512 acc[4][4];
    int nmin = len[0], nmax = len[0];
    ATT_UNROLL
    for (int i = 0; i < QB; i++) {
        nmin = len[i] < nmin ? len[i] : nmin;
        nmax = len[i] > nmax ? len[i] : nmax;
        ATT_UNROLL
        for (int c = 0; c < DC; c++)
            acc[i][c] = _mm512_maskz_loadu_ps(c == DC - 1 && !FULL ? last : 0xffff,
                                              out[i] + d + 16 * c);
    }
    const size_t col = (size_t)d * (f16 ? 2 : 4), span = (size_t)DC * (f16 ? 32 : 64);
    const int pf_end = nmax - ATT_PF_ROWS; /* rows with a row to prefetch */
    int p = 0;
    for (; p < nmin; p++) { /* every query of the block */
        const uint8_t *row = v + (size_t)p * row_bytes;
        if (p < pf_end)
            prefetch_span(row + ATT_PF_ROWS * row_bytes + col, span);
        __m512 vv[4];
        ATT_UNROLL
        for (int c = 0; c < DC; c++)
            vv[c] = v_load(row, d + 16 * c, c == DC - 1 && !FULL ? last : 0xffff, f16);
        ATT_UNROLL
        for (int i = 0; i < QB; i++) {
            const __m512 wv = _mm512_set1_ps(w[i][p]);
            ATT_UNROLL
            for (int c = 0; c < DC; c++)
                acc[i][c] = _mm512_add_ps(acc[i][c], _mm512_mul_ps(wv, vv[c]));
        }
    }
    for (; p < nmax; p++) { /* the causal fringe: only the queries that see p */
        const uint8_t *row = v + (size_t)p * row_bytes;
        __m512 vv[4];
        ATT_UNROLL
        for (int c = 0; c < DC; c++)
            vv[c] = v_load(row, d + 16 * c, c == DC - 1 && !FULL ? last : 0xffff, f16);
        ATT_UNROLL
        for (int i = 0; i < QB; i++) {
            if (p >= len[i])
                continue;
            const __m512 wv = _mm512_set1_ps(w[i][p]);
            ATT_UNROLL
            for (int c = 0; c < DC; c++)
                acc[i][c] = _mm512_add_ps(acc[i][c], _mm512_mul_ps(wv, vv[c]));
        }
    }
    ATT_UNROLL
    for (int i = 0; i < QB; i++)
        ATT_UNROLL
        for (int c = 0; c < DC; c++)
            _mm512_mask_storeu_ps(out[i] + d + 16 * c, c == DC - 1 && !FULL ? last : 0xffff,
                                  acc[i][c]);
}

/* One block of QB queries over columns [d0, d1), 64 at a time. */
static inline __attribute__((always_inline)) void
pv_queries(const float *const *w, const int *len, const uint8_t *v, size_t row_bytes, int d0,
           int d1, float *const *out, const int f16, const int QB)
{
    for (int d = d0; d < d1; d += 64) {
        const int nc = d1 - d < 64 ? d1 - d : 64, dc = (nc + 15) / 16;
        const __mmask16 last = (__mmask16)(nc % 16 ? (1u << (nc % 16)) - 1 : 0xffffu);
        if (nc == 64) { /* no mask: one register fewer, no masked loads */
            pv_tile(w, len, v, row_bytes, d, last, out, f16, QB, 4, 1);
            continue;
        }
        switch (dc) {
        case 4: pv_tile(w, len, v, row_bytes, d, last, out, f16, QB, 4, 0); break;
        case 3: pv_tile(w, len, v, row_bytes, d, last, out, f16, QB, 3, 0); break;
        case 2: pv_tile(w, len, v, row_bytes, d, last, out, f16, QB, 2, 0); break;
        default: pv_tile(w, len, v, row_bytes, d, last, out, f16, QB, 1, 0); break;
        }
    }
}

static void pv_all(const float *const *w, const int *len, int nq, const uint8_t *v,
                   size_t row_bytes, int d0, int d1, float *const *out, const int f16)
{
    int i = 0;
    for (; i + 4 <= nq; i += 4)
        pv_queries(w + i, len + i, v, row_bytes, d0, d1, out + i, f16, 4);
    switch (nq - i) {
    case 3: pv_queries(w + i, len + i, v, row_bytes, d0, d1, out + i, f16, 3); break;
    case 2: pv_queries(w + i, len + i, v, row_bytes, d0, d1, out + i, f16, 2); break;
    case 1: pv_queries(w + i, len + i, v, row_bytes, d0, d1, out + i, f16, 1); break;
    default: break;
    }
}

void bnr_att_pv_avx512(const float *const *w, const int *len, int nq, const void *v, int f16,
                         size_t ldv, int d0, int d1, float *const *out)
{
    if (f16)
        pv_all(w, len, nq, v, ldv * sizeof(uint16_t), d0, d1, out, 1);
    else
        pv_all(w, len, nq, v, ldv * sizeof(float), d0, d1, out, 0);
}

/* ---- softmax pieces ---------------------------------------------------------------- */

/* exp_row_c of attention.c: s = s * scale, m = the largest (per lane x > m
 * replaces m, as the scalar loop, then the lanes likewise), s = bnr_exp(s - m). */
void bnr_att_exp_row_avx512(float *s, int n, float scale)
{
    const __m512 sc = _mm512_set1_ps(scale);
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
        const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + i), sc);
        _mm512_mask_storeu_ps(s + i, k, x);
        m = _mm512_mask_max_ps(m, k, x, m); /* vmaxps: x > m ? x : m */
    }
    float l[16], mx = -INFINITY;
    _mm512_storeu_ps(l, m);
    for (int j = 0; j < 16; j++)
        mx = l[j] > mx ? l[j] : mx;
    const __m512 mv = _mm512_set1_ps(mx);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(s + i, k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), mv));
    }
    bnr_exp_rows(s, n);
}

void bnr_att_scale_row_avx512(float *s, int n, float f)
{
    const __m512 fv = _mm512_set1_ps(f);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(s + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + i), fv));
    }
}

#else

int bnr_att_avx512_available(void) { return 0; }

void bnr_att_exp_row_avx512(float *s, int n, float scale)
{
    (void)s, (void)n, (void)scale;
}

void bnr_att_scale_row_avx512(float *s, int n, float f)
{
    (void)s, (void)n, (void)f;
}

void bnr_att_scores_avx512(const float *const *q, int nq, const void *k, int f16, size_t ldk,
                             int nk, int n, float *const *s, float *scratch)
{
    (void)q, (void)nq, (void)k, (void)f16, (void)ldk, (void)nk, (void)n, (void)s, (void)scratch;
}

void bnr_att_pv_avx512(const float *const *w, const int *len, int nq, const void *v, int f16,
                         size_t ldv, int d0, int d1, float *const *out)
{
    (void)w, (void)len, (void)nq, (void)v, (void)f16, (void)ldv, (void)d0, (void)d1, (void)out;
}

#endif
