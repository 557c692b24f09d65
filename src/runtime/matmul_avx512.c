/* matmul_avx512.c - the float-weight product (the F16 head above all) as a
 * register-blocked GEMM with AVX-512, bit for bit equal to bnr_dot.
 *
 * bnr_dot's order, for one (token, row): lane j (0..7) sums the products
 * a[i] * b[i] for i = j mod 8, i < n8 = n - n % 8, in increasing i, one
 * rounded multiply then one rounded add (no FMA: ISO C, no contraction);
 * the lanes are combined ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)) and the tail
 * i >= n8 is added last, one product at a time.
 *
 * Here a 512-bit register holds the 8 lanes of TWO rows for one token: the
 * low half row 2p, the high half row 2p+1, multiplied by the token's 8
 * values broadcast to both halves. Every lane still sees its own products in
 * the same order, so the sums are those of bnr_dot exactly; what changes is
 * that many row pairs x tokens (up to 24 independent accumulators) are in
 * flight instead of one dependent chain, and each row read serves every
 * token of a tile.
 *
 * F16 rows (the head) are read in place and converted in registers
 * (bnr_gemm_f16_avx512); other float rows are decoded by the caller into a
 * pack: pair p, step s holds {row 2p [8s .. 8s+7], row 2p+1 [8s .. 8s+7]} as
 * 16 floats (bnr_gemm_pairs_avx512). */
#include "model_internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__AVX512F__) && defined(__F16C__)
#include <immintrin.h>

/* The accumulator arrays below must live in registers: loops over them are
 * unrolled completely (GCC at -O2 leaves them rolled and spills every
 * accumulator to the stack on each step, a store-to-load chain per add). */
#define BN_UNROLL _Pragma("GCC unroll 16")

/* tile_f16's tiles: at most 4 pairs, 12 tokens and 24 accumulators (4 x 5
 * or 2 x 12), which GCC 12 keeps in registers (no stack access in the loop). */
#define BN_F16_PAIRS 4
#define BN_F16_TOKENS 12
#define BN_F16_ACC 24

int bnr_avx512_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && bnr_avx2_available();
}

static inline __m512 bcast8(const float *x)
{
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(x))));
}

/* The combine of bnr_dot for both halves of one accumulator. */
static inline void combine(__m512 v, float *lo, float *hi)
{
    float l[16];
    _mm512_storeu_ps(l, v);
    *lo = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    *hi = ((l[8] + l[9]) + (l[10] + l[11])) + ((l[12] + l[13]) + (l[14] + l[15]));
}

/* NP pairs x NT tokens; constants after inlining, so the accumulators stay in
 * registers. out[t * ldo + 2p + h] gets the combined lanes (before the tail). */
static inline __attribute__((always_inline)) void
tile(const float *pack, int n8, const float *x, size_t ldx, float *out, int ldo,
     const int NP, const int NT)
{
    __m512 acc[4][3];
    BN_UNROLL
    for (int p = 0; p < NP; p++)
        BN_UNROLL
        for (int t = 0; t < NT; t++)
            acc[p][t] = _mm512_setzero_ps();
    const size_t pstride = (size_t)n8 * 2;
    for (int s = 0; s < n8 / 8; s++) {
        __m512 xv[3];
        BN_UNROLL
        for (int t = 0; t < NT; t++)
            xv[t] = bcast8(x + (size_t)t * ldx + 8 * (size_t)s);
        BN_UNROLL
        for (int p = 0; p < NP; p++) {
            __m512 w = _mm512_loadu_ps(pack + (size_t)p * pstride + 16 * (size_t)s);
            BN_UNROLL
            for (int t = 0; t < NT; t++)
                acc[p][t] = _mm512_add_ps(acc[p][t], _mm512_mul_ps(w, xv[t]));
        }
    }
    BN_UNROLL
    for (int p = 0; p < NP; p++)
        BN_UNROLL
        for (int t = 0; t < NT; t++)
            combine(acc[p][t], &out[t * ldo + 2 * p], &out[t * ldo + 2 * p + 1]);
}

void bnr_gemm_pairs_avx512(const float *pack, int n_pairs, int n8, const float *x, size_t ldx,
                             int n_tok, float *out, int ldo)
{
    int t = 0;
#define BN_TILE_ROWS(NT)                                                            \
    switch (n_pairs) {                                                               \
    case 4: tile(pack, n8, x + (size_t)t * ldx, ldx, out + t * ldo, ldo, 4, NT); break; \
    case 3: tile(pack, n8, x + (size_t)t * ldx, ldx, out + t * ldo, ldo, 3, NT); break; \
    case 2: tile(pack, n8, x + (size_t)t * ldx, ldx, out + t * ldo, ldo, 2, NT); break; \
    default: tile(pack, n8, x + (size_t)t * ldx, ldx, out + t * ldo, ldo, 1, NT); break; \
    }
    for (; t + 3 <= n_tok; t += 3)
        BN_TILE_ROWS(3)
    if (n_tok - t == 2)
        BN_TILE_ROWS(2)
    else if (n_tok - t == 1)
        BN_TILE_ROWS(1)
#undef BN_TILE_ROWS
}

/* ---- F16 rows converted in registers (decode and small batches) ----------- */

/* NP pairs of F16 rows x NT tokens straight from the weight (no pack): pair p
 * is rows rp[2p] (low half) and rp[2p+1] (high half), each step converts the
 * pair's 2 x 8 halves once (vcvtph2ps, exact) and multiplies them by every
 * token of the tile, so the NP * NT accumulators keep bnr_dot's lane order.
 * xi: the tile's first token in the interleaved input (token t's step s at
 * xi + s * xstep + 8 t), so one pointer serves every token and the row and
 * prefetch pointers keep the general registers (with a pointer per token,
 * GCC 12 spills them into vector registers and an accumulator to the stack).
 * The rows stream from DRAM in the first tile of a call and from L1/L2 in
 * the others; pf (NULL: none) is the first of the 2 * NP rows read after
 * these (rows row_bytes apart), one cache line of each prefetched every 4
 * steps, a block ahead, into L2 (prefetcht1, as kern.h bn_kern_prefetch),
 * so they are near when their turn comes. out[t * ldo + 2p + h] gets the
 * combined lanes (the tail still to add). */
static inline __attribute__((always_inline)) void
tile_f16(const uint8_t *const *rp, int n8, const float *xi, size_t xstep, float *out, int ldo,
         const uint8_t *pf, size_t row_bytes, const int NP, const int NT)
{
    __m512 acc[BN_F16_ACC]; /* [p * NT + t] */
    BN_UNROLL
    for (int p = 0; p < NP; p++)
        BN_UNROLL
        for (int t = 0; t < NT; t++)
            acc[p * NT + t] = _mm512_setzero_ps();
    for (int s = 0; s < n8; s += 8, xi += xstep) {
        if (pf && !(s & 31))
            BN_UNROLL
            for (int i = 0; i < 2 * NP; i++)
                _mm_prefetch((const char *)(pf + (size_t)i * row_bytes + 2 * (size_t)s),
                             _MM_HINT_T1);
        __m512 wv[BN_F16_PAIRS];
        BN_UNROLL
        for (int p = 0; p < NP; p++)
            wv[p] = _mm512_cvtph_ps(_mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(rp[2 * p] + 2 * s))),
                _mm_loadu_si128((const __m128i *)(rp[2 * p + 1] + 2 * s)), 1));
        BN_UNROLL
        for (int t = 0; t < NT; t++) {
            const __m512 xv = bcast8(xi + 8 * t);
            BN_UNROLL
            for (int p = 0; p < NP; p++)
                acc[p * NT + t] = _mm512_add_ps(acc[p * NT + t], _mm512_mul_ps(wv[p], xv));
        }
    }
    /* every accumulator to memory first, then the combines: combining from
     * registers keeps them all live among the combine's temporaries, and
     * GCC 12 then spills one for the whole loop */
    float l[BN_F16_ACC][16];
    BN_UNROLL
    for (int i = 0; i < NP * NT; i++)
        _mm512_storeu_ps(l[i], acc[i]);
    for (int p = 0; p < NP; p++)
        for (int t = 0; t < NT; t++) {
            const float *v = l[p * NT + t];
            out[t * ldo + 2 * p] = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
            out[t * ldo + 2 * p + 1] =
                ((v[8] + v[9]) + (v[10] + v[11])) + ((v[12] + v[13]) + (v[14] + v[15]));
        }
}

/* The register blocking, measured (bench_matmul, CPU time per call of the
 * 2B head, 1 thread): a pair's conversion costs 2 uops on the two FP ports
 * that the tile's 2 * NT multiply/add uops also use, so the larger the token
 * tile the smaller its share; 4 pairs keep 8 rows in flight, which the
 * memory-bound counts (1..5 tokens) want; 2 pairs fit 12 tokens in one tile
 * (24 accumulators of 32 zmm), so 6..12 tokens convert each row once. */
#define BN_F16_TILE(NP, NT) \
    case 16 * (NP) + (NT): tile_f16(rp, n8, xi, xstep, out, ldo, pf, row_bytes, NP, NT); break;

/* One tile of np (4 or 2) pairs x nt tokens: the switch picks the unrolled
 * instance. Not inlined into the caller's loop, whose live pointers would
 * otherwise crowd the tile's registers (GCC 12 then parks them in zmm
 * registers and spills an accumulator). */
static __attribute__((noinline)) void tile_run(const uint8_t *const *rp, int n8, const float *xi,
                                                size_t xstep, float *out, int ldo,
                                                const uint8_t *pf, size_t row_bytes, int np,
                                                int nt)
{
    switch (16 * np + nt) {
    BN_F16_TILE(4, 1)
    BN_F16_TILE(4, 2)
    BN_F16_TILE(4, 3)
    BN_F16_TILE(4, 4)
    BN_F16_TILE(4, 5)
    BN_F16_TILE(2, 1)
    BN_F16_TILE(2, 2)
    BN_F16_TILE(2, 3)
    BN_F16_TILE(2, 4)
    BN_F16_TILE(2, 5)
    BN_F16_TILE(2, 6)
    BN_F16_TILE(2, 7)
    BN_F16_TILE(2, 8)
    BN_F16_TILE(2, 9)
    BN_F16_TILE(2, 10)
    BN_F16_TILE(2, 11)
    BN_F16_TILE(2, 12)
    default: break;
    }
}
#undef BN_F16_TILE

/* The register blocking, measured (bench_matmul, CPU time per call of the
 * 2B head, 1 thread): a pair's conversion costs 2 uops on the two FP ports
 * that the tile's 2 * NT multiply/add uops also use, so the larger the token
 * tile the smaller its share; 4 pairs keep 8 rows in flight, which the
 * memory-bound counts (1..5 tokens) want; 2 pairs fit 12 tokens in one tile
 * (24 accumulators of 32 zmm), so 6..12 tokens convert each row once. */
void bnr_gemm_f16_avx512(const uint8_t *w, size_t row_bytes, int n_rows, int n8,
                           const float *xi, int n_tok, float *out, int ldo, const uint8_t *next)
{
    const uint8_t *rp[8];
    for (int i = 0; i < 8; i++) /* a short block repeats its last row */
        rp[i] = w + (size_t)(i < n_rows ? i : n_rows - 1) * row_bytes;
    const size_t xstep = 8 * (size_t)n_tok;
    if (n_tok <= 5) {
        tile_run(rp, n8, xi, xstep, out, ldo, next, row_bytes, 4, n_tok);
        return;
    }
    /* rows 0-3, then 4-7, each against token tiles of at most 12 (balanced:
     * 15 = 8 + 7); the first tile of half g prefetches the same half of the
     * next block, so prefetches stay a block ahead */
    const int n_tiles = (n_tok + BN_F16_TOKENS - 1) / BN_F16_TOKENS;
    for (int g = 0; g < 2; g++)
        for (int k = 0, t0 = 0; k < n_tiles; k++) {
            const int nt = (n_tok - t0) / (n_tiles - k);
            tile_run(rp + 4 * g, n8, xi + 8 * (size_t)t0, xstep, out + (size_t)t0 * ldo + 4 * g,
                     ldo, k == 0 && next ? next + (size_t)(4 * g) * row_bytes : NULL, row_bytes, 2,
                     nt);
            t0 += nt;
        }
}

/* Rows [8k, 8k+8) of row pair p, 8 elements from s, as 16 floats: F32 rows
 * loaded, F16 rows converted exactly (vcvtph2ps, as bnr_f16_table). */
static inline __m512 row_pair8(const void *ra, const void *rb, int s, const int f16)
{
    if (f16) {
        const uint16_t *a = ra, *b = rb;
        return _mm512_cvtph_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(a + s))),
            _mm_loadu_si128((const __m128i *)(b + s)), 1));
    }
    const float *a = ra, *b = rb;
    return _mm512_castpd_ps(_mm512_insertf64x4(
        _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a + s))),
        _mm256_castps_pd(_mm256_loadu_ps(b + s)), 1));
}

/* out[i] = bnr_dot(q, row i, n) for i < n_rows, row i at rows + i * stride
 * elements (F32, or F16 when f16): rows in pairs as above, read in place (no
 * packing), 4 pairs in flight. */
static inline __attribute__((always_inline)) void
dot_rows(const float *q, const void *rows, size_t stride, int n_rows, int n, float *out,
         const int f16)
{
    const int n8 = n - n % 8;
    const float *tab = f16 ? bnr_f16_table() : NULL;
    const size_t elt = f16 ? sizeof(uint16_t) : sizeof(float);
    for (int r0 = 0; r0 < n_rows; r0 += 8) {
        const int nr = n_rows - r0 < 8 ? n_rows - r0 : 8, np = (nr + 1) / 2;
        const uint8_t *rp[8];
        for (int i = 0; i < 8; i++) /* a short group repeats its last row */
            rp[i] = (const uint8_t *)rows + (size_t)(r0 + (i < nr ? i : nr - 1)) * stride * elt;
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                         _mm512_setzero_ps()};
        for (int s = 0; s < n8; s += 8) {
            const __m512 xv = bcast8(q + s);
            BN_UNROLL
            for (int p = 0; p < 4; p++) /* pairs past np repeat the last row */
                acc[p] = _mm512_add_ps(
                    acc[p], _mm512_mul_ps(xv, row_pair8(rp[2 * p], rp[2 * p + 1], s, f16)));
        }
        float v[8];
        for (int p = 0; p < np; p++)
            combine(acc[p], &v[2 * p], &v[2 * p + 1]);
        for (int i = 0; i < nr; i++) {
            for (int k = n8; k < n; k++)
                v[i] += q[k] * (f16 ? tab[((const uint16_t *)rp[i])[k]] : ((const float *)rp[i])[k]);
            out[r0 + i] = v[i];
        }
    }
}

void bnr_dot_rows_avx512(const float *q, const float *rows, size_t stride, int n_rows, int n,
                           float *out)
{
    dot_rows(q, rows, stride, n_rows, n, out, 0);
}

/* bnr_dot_rows over F16 rows (the F16 KV cache). */
void bnr_dot_rows_f16_avx512(const float *q, const uint16_t *rows, size_t stride, int n_rows,
                               int n, float *out)
{
    dot_rows(q, rows, stride, n_rows, n, out, 1);
}

/* bnr_axpy with F16 values, each converted exactly first. */
void bnr_axpy_f16_avx512(float *y, float w, const uint16_t *v, int n)
{
    const __m512 wv = _mm512_set1_ps(w);
    int d = 0;
    for (; d + 16 <= n; d += 16)
        _mm512_storeu_ps(y + d, _mm512_add_ps(_mm512_loadu_ps(y + d),
                                              _mm512_mul_ps(wv, _mm512_cvtph_ps(_mm256_loadu_si256(
                                                                    (const __m256i *)(v + d))))));
    const float *tab = bnr_f16_table();
    for (; d < n; d++)
        y[d] += w * tab[v[d]];
}

/* y[d] = y[d] + w * v[d]: one rounded product, one rounded sum per element,
 * as the scalar loop, 16 elements at a time. */
void bnr_axpy_avx512(float *y, float w, const float *v, int n)
{
    const __m512 wv = _mm512_set1_ps(w);
    int d = 0;
    for (; d + 16 <= n; d += 16)
        _mm512_storeu_ps(y + d, _mm512_add_ps(_mm512_loadu_ps(y + d),
                                              _mm512_mul_ps(wv, _mm512_loadu_ps(v + d))));
    if (d < n) {
        const __mmask16 k = (__mmask16)((1u << (n - d)) - 1);
        _mm512_mask_storeu_ps(y + d, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + d),
                                                      _mm512_mul_ps(wv, _mm512_maskz_loadu_ps(k, v + d))));
    }
}

/* e^x of 8 floats (widened to double) as above: the doubles, and in *ok the
 * lanes whose rounding to float is provably libm's. */
static inline __m512d exp8(__m512d x, __mmask8 *ok)
{
    static const double c[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                 1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800,
                                 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};
    const __m512d l2e = _mm512_set1_pd(1.4426950408889634), hi = _mm512_set1_pd(6.93147180369123816490e-01),
                  lo = _mm512_set1_pd(1.90821492927058770002e-10), xmin = _mm512_set1_pd(-87.0),
                  xmax = _mm512_set1_pd(88.0);
    const __m512i low = _mm512_set1_epi64(0x1fffffff), mid = _mm512_set1_epi64(0x10000000),
                  band = _mm512_set1_epi64(64);
    const __m512d k = _mm512_roundscale_pd(_mm512_mul_pd(x, l2e), _MM_FROUND_TO_NEAREST_INT);
    const __m512d r = _mm512_sub_pd(_mm512_sub_pd(x, _mm512_mul_pd(k, hi)), _mm512_mul_pd(k, lo));
    /* Estrin's scheme: pairs c[2i] + c[2i+1] r, then pairs of those with r^2,
     * r^4, r^8 - a chain of 5 rounded steps instead of Horner's 13, with the
     * same few-ulp error (every coefficient is positive and |r| < 0.35, so
     * no term cancels more than e^|r| / e^r < 2 allows) */
    const __m512d r2 = _mm512_mul_pd(r, r), r4 = _mm512_mul_pd(r2, r2), r8 = _mm512_mul_pd(r4, r4);
    __m512d q[7];
    BN_UNROLL
    for (int j = 0; j < 7; j++)
        q[j] = _mm512_add_pd(_mm512_set1_pd(c[2 * j]),
                             _mm512_mul_pd(_mm512_set1_pd(c[2 * j + 1]), r));
    const __m512d s0 = _mm512_add_pd(q[0], _mm512_mul_pd(q[1], r2)),
                  s1 = _mm512_add_pd(q[2], _mm512_mul_pd(q[3], r2)),
                  s2 = _mm512_add_pd(q[4], _mm512_mul_pd(q[5], r2));
    const __m512d t0 = _mm512_add_pd(s0, _mm512_mul_pd(s1, r4)),
                  t1 = _mm512_add_pd(s2, _mm512_mul_pd(q[6], r4));
    const __m512d p = _mm512_add_pd(t0, _mm512_mul_pd(t1, r8));
    const __m512d y = _mm512_scalef_pd(p, k);
    const __m512i dist = _mm512_abs_epi64(
        _mm512_sub_epi64(_mm512_and_si512(_mm512_castpd_si512(y), low), mid));
    *ok = _mm512_cmp_pd_mask(x, xmin, _CMP_GE_OQ) & _mm512_cmp_pd_mask(x, xmax, _CMP_LE_OQ) &
          _mm512_cmpgt_epi64_mask(dist, band);
    return y;
}

/* v[i] = bnr_exp(v[i]) = (float)exp((double)v[i]), 16 at a time (two
 * independent polynomial chains in flight), the same floats as the C
 * library's exp rounded to float, provably:
 *   k = nearest(x log2 e), r = x - k ln2_hi - k ln2_lo (k ln2_hi exact: ln2_hi
 *   has 31 significant bits, |k| <= 127), |r| <= 0.347, e^r by its Taylor
 *   polynomial to degree 13 (truncation < 2^-57 relative) in double, scaled by
 *   2^k exactly (scalef). That double is within a few double ulps of e^x, and
 *   libm's exp within one; both round to the same float unless e^x lies within
 *   that distance of a midpoint between two floats. So a lane whose 29 bits
 *   below float precision are within 64 ulps of the midpoint - about one in
 *   four million - and any lane outside [-87, 88] (subnormal or overflowing
 *   floats, inf, NaN) is computed by bnr_exp itself. The proven lanes are
 *   stored under a mask; only the others take the scalar call. (Checked once
 *   over all 2^32 floats against bnr_exp: identical. test_matmul's hard
 *   cases catch a wrong coefficient or power.) */
void bnr_exp_rows_avx512(float *v, int n)
{
    for (int i = 0; i < n; i += 16) {
        const int m = n - i < 16 ? n - i : 16;
        const __mmask16 k16 = (__mmask16)(m == 16 ? 0xffffu : (1u << m) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(k16, v + i);
        __mmask8 ok0, ok1;
        const __m512d y0 = exp8(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), &ok0);
        const __m512d y1 = exp8(
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))),
            &ok1);
        const __m512 y = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castpd256_pd512(_mm256_castps_pd(_mm512_cvtpd_ps(y0))),
            _mm256_castps_pd(_mm512_cvtpd_ps(y1)), 1));
        const __mmask16 ok = (__mmask16)(ok0 | (unsigned)ok1 << 8) & k16;
        _mm512_mask_storeu_ps(v + i, ok, y);
        if (ok != k16)
            for (int j = 0; j < m; j++)
                if (!((ok >> j) & 1))
                    v[i + j] = bnr_exp(v[i + j]);
    }
}

#else

int bnr_avx512_available(void) { return 0; }

void bnr_exp_rows_avx512(float *v, int n)
{
    (void)v, (void)n;
}

void bnr_axpy_avx512(float *y, float w, const float *v, int n)
{
    (void)y, (void)w, (void)v, (void)n;
}

void bnr_dot_rows_f16_avx512(const float *q, const uint16_t *rows, size_t stride, int n_rows,
                               int n, float *out)
{
    (void)q, (void)rows, (void)stride, (void)n_rows, (void)n, (void)out;
}

void bnr_axpy_f16_avx512(float *y, float w, const uint16_t *v, int n)
{
    (void)y, (void)w, (void)v, (void)n;
}

void bnr_gemm_f16_avx512(const uint8_t *w, size_t row_bytes, int n_rows, int n8,
                           const float *xi, int n_tok, float *out, int ldo, const uint8_t *next)
{
    (void)w, (void)row_bytes, (void)n_rows, (void)n8, (void)xi, (void)n_tok, (void)out, (void)ldo,
        (void)next;
}

void bnr_dot_rows_avx512(const float *q, const float *rows, size_t stride, int n_rows, int n,
                           float *out)
{
    (void)q, (void)rows, (void)stride, (void)n_rows, (void)n, (void)out;
}

void bnr_gemm_pairs_avx512(const float *pack, int n_pairs, int n8, const float *x, size_t ldx,
                             int n_tok, float *out, int ldo)
{
    (void)pack, (void)n_pairs, (void)n8, (void)x, (void)ldx, (void)n_tok, (void)out, (void)ldo;
}

#endif
