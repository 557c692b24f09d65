/*
 * simd_avx512.c - AVX-512 VNNI kernel: _mm512_dpbusd_epi32 multiplies 4
 * unsigned codes by 4 signed activations and adds the 4 products straight
 * into an int32 lane, without saturation (dpbusd, not dpbusds) and without
 * int16 intermediates. Each lane gains at most 4*3*128 = 1536 per call, and
 * the per-lane totals are bounded as in kernels.h contract 2.
 *
 * I2_S: two rows at a time. Block b of row r fills the low 256 bits and
 * block b of row r+1 the high 256 bits; after the shift by 6-2j both halves
 * pair with the same 32 activations q[128b+32j ..], which a broadcast load
 * provides (a load-port operation, no shuffle). The halves are reduced
 * separately at the end. An odd last row uses the 256-bit form.
 * TQ2_0 decode: one zmm per block against activations laid out to match,
 * sixteen block sums merged into one vector: for the sums (dot_tq2), sixteen
 * consecutive blocks of the row range (tq2_decode_stream); for the floats
 * (mv_tq2, what the matmul runs), block b of sixteen rows, so the epilogue
 * runs on sixteen rows a vector (bnr_tq2_mv_avx512).
 * TQ1_0, decode and batches: one zmm per block, its trits decoded with byte
 * adds and unsigned compares (tq1_*, below). TQ2_0 batches: each block's
 * codes decoded once into element order, four zmm, for every token, and four
 * tokens' block sums merged into one vector (tq2_batch).
 */
#if defined(__x86_64__)

#include <immintrin.h>
#include "kern.h"

#define TOKS 8  /* tokens sharing one decoded I2_S row pair */

#include "simd_x86.h"

/* One row, 256-bit VNNI: the odd row left over by the row pairs. */
static void i2s_row256(const uint8_t *row, const bn_act *x, int64_t nblk, int64_t t0,
                       int64_t t1, int32_t *out, int64_t stride)
{
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t t = t0; t < t1; t++) {
        __m256i a = _mm256_setzero_si256();
        const int8_t *qt = x->q + t * x->ne0;
        for (int64_t b = 0; b < nblk; b++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(row + 32 * b));
            const int8_t *q = qt + 128 * b;
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(_mm256_srli_epi16(v, 6), m3),
                                    _mm256_loadu_si256((const __m256i *)q));
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(_mm256_srli_epi16(v, 4), m3),
                                    _mm256_loadu_si256((const __m256i *)(q + 32)));
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(_mm256_srli_epi16(v, 2), m3),
                                    _mm256_loadu_si256((const __m256i *)(q + 64)));
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(v, m3),
                                    _mm256_loadu_si256((const __m256i *)(q + 96)));
        }
        out[(t - t0) * stride] = x86_hsum(a);
    }
}

static inline __m512i bcast(const int8_t *q)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)q));
}

/* Decode (one token), four rows: two row pairs share each broadcast of the
 * activations, and their 8 accumulators are independent chains, enough to
 * cover dpbusd's latency. Code j of a byte is masked in place, not shifted
 * down (one op instead of two): the accumulator of position j then holds
 * 4^(3-j) times its sum, and an exact arithmetic shift at the end recovers
 * it. Bound: a masked byte is at most 3 << 6 = 192, so a lane gains at most
 * 4 * 192 * 128 = 98304 per block, under 2^31 for BN_KERNEL_MAX_K / 128 =
 * 8192 blocks. The four rows are contiguous (128 bytes per block), so the
 * two cache lines BN_KERN_PF_AHEAD past each block's share are requested as
 * it is read (bn_kern_prefetch). */
static void i2s_decode4(const uint8_t *const rp[4], const uint8_t *end, const int8_t *qt,
                        int64_t nblk, int32_t out[4])
{
    const __m512i k0 = _mm512_set1_epi8((char)0xc0), k1 = _mm512_set1_epi8(0x30);
    const __m512i k2 = _mm512_set1_epi8(0x0c), k3 = _mm512_set1_epi8(0x03);
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int64_t b = 0; b < nblk; b++) {
        const __m512i va = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(rp[0] + 32 * b))),
            _mm256_loadu_si256((const __m256i *)(rp[1] + 32 * b)), 1);
        const __m512i vb = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(rp[2] + 32 * b))),
            _mm256_loadu_si256((const __m256i *)(rp[3] + 32 * b)), 1);
        bn_kern_prefetch(rp[0] + 128 * b, end);
        bn_kern_prefetch(rp[0] + 128 * b + 64, end);
        const int8_t *q = qt + 128 * b;
        const __m512i q0 = bcast(q), q1 = bcast(q + 32), q2 = bcast(q + 64), q3 = bcast(q + 96);
        a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(va, k0), q0);
        b0 = _mm512_dpbusd_epi32(b0, _mm512_and_si512(vb, k0), q0);
        a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(va, k1), q1);
        b1 = _mm512_dpbusd_epi32(b1, _mm512_and_si512(vb, k1), q1);
        a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(va, k2), q2);
        b2 = _mm512_dpbusd_epi32(b2, _mm512_and_si512(vb, k2), q2);
        a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(va, k3), q3);
        b3 = _mm512_dpbusd_epi32(b3, _mm512_and_si512(vb, k3), q3);
    }
    const __m512i a = _mm512_add_epi32(
        _mm512_add_epi32(_mm512_srai_epi32(a0, 6), _mm512_srai_epi32(a1, 4)),
        _mm512_add_epi32(_mm512_srai_epi32(a2, 2), a3));
    const __m512i bb = _mm512_add_epi32(
        _mm512_add_epi32(_mm512_srai_epi32(b0, 6), _mm512_srai_epi32(b1, 4)),
        _mm512_add_epi32(_mm512_srai_epi32(b2, 2), b3));
    out[0] = x86_hsum(_mm512_castsi512_si256(a));
    out[1] = x86_hsum(_mm512_extracti64x4_epi64(a, 1));
    out[2] = x86_hsum(_mm512_castsi512_si256(bb));
    out[3] = x86_hsum(_mm512_extracti64x4_epi64(bb, 1));
}

/* Batches: the row pair (ra: low half, rb: high half, same block) decoded
 * once per block for nt <= TOKS tokens from tc; their sums go to out (row
 * ra), out + 1 (rb), a token every ld. */
static inline __attribute__((always_inline)) void i2s_pair_tokens(const uint8_t *ra,
                                                                  const uint8_t *rb,
                                                                  const bn_act *x, int64_t nblk,
                                                                  int64_t tc, int nt,
                                                                  int32_t *out, int64_t ld)
{
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512i a[TOKS];
    for (int i = 0; i < TOKS; i++)
        a[i] = _mm512_setzero_si512();
    for (int64_t b = 0; b < nblk; b++) {
        __m512i v = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(ra + 32 * b))),
            _mm256_loadu_si256((const __m256i *)(rb + 32 * b)), 1);
        __m512i c0 = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
        __m512i c1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
        __m512i c2 = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
        __m512i c3 = _mm512_and_si512(v, m3);
        /* unrolled over TOKS so a[] stays in registers (rolled, GCC loads and
         * stores every accumulator per block) */
#pragma GCC unroll 8
        for (int i = 0; i < TOKS; i++) {
            if (i >= nt)
                break;
            const int8_t *q = x->q + (tc + i) * x->ne0 + 128 * b;
            a[i] = _mm512_dpbusd_epi32(a[i], c0, bcast(q));
            a[i] = _mm512_dpbusd_epi32(a[i], c1, bcast(q + 32));
            a[i] = _mm512_dpbusd_epi32(a[i], c2, bcast(q + 64));
            a[i] = _mm512_dpbusd_epi32(a[i], c3, bcast(q + 96));
        }
    }
    for (int i = 0; i < nt; i++) {
        out[i * ld] = x86_hsum(_mm512_castsi512_si256(a[i]));
        out[i * ld + 1] = x86_hsum(_mm512_extracti64x4_epi64(a[i], 1));
    }
}

static void dot_i2s(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    const __m512i m3 = _mm512_set1_epi8(3);
    const int64_t nblk = w->ne0 / 128, nrows = r1 - r0;
    const uint8_t *end = bn_kern_end(w);
    int64_t r = r0;
    if (t1 - t0 == 1)
        for (; r + 3 < r1; r += 4) {
            const uint8_t *rp[4];
            for (int i = 0; i < 4; i++)
                rp[i] = bn_kern_row(w, r + i);
            i2s_decode4(rp, end, x->q + t0 * x->ne0, nblk, acc + (r - r0));
        }
    for (; r + 1 < r1; r += 2) {
        const uint8_t *ra = bn_kern_row(w, r), *rb = bn_kern_row(w, r + 1);
        if (t1 - t0 == 1) { /* decode: 4 independent chains hide dpbusd latency */
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            const int8_t *qt = x->q + t0 * x->ne0;
            for (int64_t b = 0; b < nblk; b++) {
                __m512i v = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(ra + 32 * b))),
                    _mm256_loadu_si256((const __m256i *)(rb + 32 * b)), 1);
                const int8_t *q = qt + 128 * b;
                bn_kern_prefetch(ra + 64 * b, end); /* the pair is 64 bytes a block */
                a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(_mm512_srli_epi16(v, 6), m3), bcast(q));
                a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(v, 4), m3), bcast(q + 32));
                a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(_mm512_srli_epi16(v, 2), m3), bcast(q + 64));
                a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(v, m3), bcast(q + 96));
            }
            __m512i a = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
            acc[r - r0] = x86_hsum(_mm512_castsi512_si256(a));
            acc[r - r0 + 1] = x86_hsum(_mm512_extracti64x4_epi64(a, 1));
            continue;
        }
        int64_t tc = t0;
        for (; tc + TOKS <= t1; tc += TOKS) /* whole chunks: a constant count */
            i2s_pair_tokens(ra, rb, x, nblk, tc, TOKS, acc + (tc - t0) * nrows + (r - r0), nrows);
        if (tc < t1)
            i2s_pair_tokens(ra, rb, x, nblk, tc, (int)(t1 - tc), acc + (tc - t0) * nrows + (r - r0),
                            nrows);
    }
    if (r < r1)
        i2s_row256(bn_kern_row(w, r), x, nblk, t0, t1, acc + (r - r0), nrows);
}

/* Block totals of up to eight zmm accumulators (a[j] for blocks j < n of a
 * group) minus each block's sum of q (bs: two 128-group sums per block), as
 * the codes are trit + 1. A whole group subtracts in one vector. */
static inline __attribute__((always_inline)) void tq_fold8(const __m512i a[8], int n,
                                                           const int32_t *bs, int32_t *out)
{
    __m256i h[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        h[j] = j < n ? _mm256_add_epi32(_mm512_castsi512_si256(a[j]),
                                        _mm512_extracti64x4_epi64(a[j], 1))
                     : _mm256_setzero_si256();
    const __m256i sums = x86_reduce8(h);
    if (n == 8) {
        const __m256i pairs = _mm256_hadd_epi32(_mm256_loadu_si256((const __m256i *)bs),
                                                _mm256_loadu_si256((const __m256i *)(bs + 8)));
        _mm256_storeu_si256((__m256i *)out,
                            _mm256_sub_epi32(sums, _mm256_permute4x64_epi64(pairs, 0xd8)));
        return;
    }
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, sums);
    for (int j = 0; j < n; j++)
        out[j] = t[j] - (bs[2 * j] + bs[2 * j + 1]);
}

/* TQ2_0 decode (one token). A block's 64 code bytes fill one zmm: bytes m
 * and 32+m hold elements 32l+m and 128+32l+m at bits 2l. The activations of
 * a chunk of blocks are first laid out to match (xp[256b+64l ..] = q[256b+32l
 * ..] then q[256b+128+32l ..]), so each shift pairs with one 64-byte load.
 * Every block has its own accumulator (four dpbusd deep; eight blocks give
 * eight independent chains) and the eight block totals are reduced together.
 * Rows are contiguous, so the loop reads one stream; bn_kern_prefetch runs
 * ahead of it. dpbusd pairs bytes position by position, so the sums
 * are those of the 256-bit path exactly. */

static void tq2_permute(const int8_t *q, int64_t nb, int8_t *xp)
{
    for (int64_t b = 0; b < nb; b++)
        for (int l = 0; l < 4; l++) {
            memcpy(xp + 256 * b + 64 * l, q + 256 * b + 32 * l, 32);
            memcpy(xp + 256 * b + 64 * l + 32, q + 256 * b + 128 + 32 * l, 32);
        }
}

static void tq2_decode_row(const uint8_t *row, const uint8_t *end, const int8_t *xp, int64_t nb,
                           const int32_t *bs, int32_t *out)
{
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512i a[8] = {_mm512_setzero_si512()};
    for (int64_t g0 = 0; g0 < nb; g0 += 8) {
        const int n = (int)(nb - g0 < 8 ? nb - g0 : 8);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            if (j >= n)
                break;
            const uint8_t *blk = row + (g0 + j) * BN_TQ2_BLOCK_BYTES;
            const int8_t *q = xp + (g0 + j) * BN_QK;
            bn_kern_prefetch(blk, end);
            const __m512i v = _mm512_loadu_si512((const void *)blk);
            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, m3),
                                            _mm512_loadu_si512((const void *)q));
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(v, 2), m3),
                                    _mm512_loadu_si512((const void *)(q + 64)));
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(v, 4), m3),
                                    _mm512_loadu_si512((const void *)(q + 128)));
            a[j] = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(v, 6), m3),
                                       _mm512_loadu_si512((const void *)(q + 192)));
        }
        tq_fold8(a, n, bs + 2 * g0, out + g0);
    }
}

/* Sixteen block accumulators -> one vector of their totals, lane k the total
 * of block k. Four levels of pairwise merges, each halving the lanes a block
 * holds: 256-bit halves, then 128-bit quarters (both shuffle_i32x4), then
 * dwords interleaved in 128-bit lanes (unpack 32), then qwords (unpack 64).
 * The last level leaves block 4p + L in lane 4L + p, and one permute puts the
 * totals in block order: 46 operations for 16 blocks, where tq_fold8 takes
 * about 37 for 8. The merges run as the blocks arrive (tq_tree_add for the
 * decode stream and the fused decode; tq2_token4 and tq2_quad for batches),
 * so at most one partial per level is live, not sixteen accumulators.
 * Integer adds are exact in any order. */
static inline __m512i tq_merge1(__m512i x, __m512i y)
{
    return _mm512_add_epi32(_mm512_shuffle_i32x4(x, y, 0x44), _mm512_shuffle_i32x4(x, y, 0xee));
}

static inline __m512i tq_merge2(__m512i x, __m512i y)
{
    return _mm512_add_epi32(_mm512_shuffle_i32x4(x, y, 0x88), _mm512_shuffle_i32x4(x, y, 0xdd));
}

static inline __m512i tq_merge3(__m512i x, __m512i y)
{
    return _mm512_add_epi32(_mm512_unpacklo_epi32(x, y), _mm512_unpackhi_epi32(x, y));
}

static inline __m512i tq_merge4(__m512i x, __m512i y)
{
    return _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y));
}

static inline __m512i tq_fold16_order(__m512i f)
{
    return _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), f);
}

/* One TQ2_0 block against its four laid-out activation vectors (tq2_permute's
 * order: xa[l] pairs with the codes at bits 2l). */
static inline __attribute__((always_inline)) __m512i tq2_block_x(const uint8_t *blk,
                                                                 const __m512i xa[4])
{
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512i v = _mm512_loadu_si512((const void *)blk);
    __asm__("" : "+v"(v)); /* one load: GCC would fold it into each of the four uses */
    const __m512i c1 = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
    const __m512i c2 = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
    const __m512i c3 = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, m3), xa[0]);
    s = _mm512_dpbusd_epi32(s, c1, xa[1]);
    s = _mm512_dpbusd_epi32(s, c2, xa[2]);
    return _mm512_dpbusd_epi32(s, c3, xa[3]);
}

/* One TQ2_0 block against its laid-out activations in memory (tq2_permute). */
static inline __attribute__((always_inline)) __m512i tq2_block(const uint8_t *blk,
                                                               const int8_t *q)
{
    const __m512i xa[4] = {_mm512_loadu_si512((const void *)q),
                           _mm512_loadu_si512((const void *)(q + 64)),
                           _mm512_loadu_si512((const void *)(q + 128)),
                           _mm512_loadu_si512((const void *)(q + 192))};
    return tq2_block_x(blk, xa);
}

/* The merge tree of tq_merge1..4 filled as its sixteen inputs arrive: input k
 * (k = 0..15 in order, a constant once unrolled) goes in with tq_tree_add and
 * after the sixteenth tq_tree_total gives lane k the total of input k. */
typedef struct {
    __m512i a, c, d, e, f;
} tq_tree;

static inline __attribute__((always_inline)) void tq_tree_add(tq_tree *t, int k, __m512i x)
{
    if (!(k & 1)) {
        t->a = x;
        return;
    }
    const __m512i cc = tq_merge1(t->a, x);
    if (!(k & 2)) {
        t->c = cc;
        return;
    }
    const __m512i dd = tq_merge2(t->c, cc);
    if (!(k & 4)) {
        t->d = dd;
        return;
    }
    const __m512i ee = tq_merge3(t->d, dd);
    if (!(k & 8))
        t->e = ee;
    else
        t->f = tq_merge4(t->e, ee);
}

static inline __m512i tq_tree_total(const tq_tree *t)
{
    return tq_fold16_order(t->f);
}

/* TQ2_0 decode of a whole row range as one stream of n blocks: the range's
 * rows are contiguous, block i is block j = (j_0 + i) mod nb of its row and
 * its sum goes to out[i], which is acc's layout. Sixteen blocks are folded at
 * a time whatever rows they belong to, so a 10-block row (K = 2560) costs no
 * partial fold; bsb[j] is the activation sum of block j mod nb, for j < nb +
 * 16, so the sixteen subtrahends of a group are one load. */
static void tq2_decode_stream(const uint8_t *blk, int64_t n, const int8_t *xp, int64_t nb,
                              const int32_t *bsb, const uint8_t *end, int32_t *out)
{
    int64_t j = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 16, out += 16) {
        const int m = n - i0 < 16 ? (int)(n - i0) : 16;
        const int64_t j0 = j;
        tq_tree t;
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) {
            __m512i a = _mm512_setzero_si512();
            if (k < m) {
                bn_kern_prefetch(blk, end);
                a = tq2_block(blk, xp + j * BN_QK);
                blk += BN_TQ2_BLOCK_BYTES;
                j = j + 1 == nb ? 0 : j + 1;
            }
            tq_tree_add(&t, k, a);
        }
        const __m512i s = _mm512_sub_epi32(tq_tree_total(&t),
                                           _mm512_loadu_si512((const void *)(bsb + j0)));
        _mm512_mask_storeu_epi32(out, (__mmask16)((1u << m) - 1), s);
    }
}

/* TQ2_0 decode straight to floats (bn_kernel.mv_tq2): sixteen rows at a
 * time, one lane each. For block b, the sixteen rows' blocks b go through
 * the merge tree against the same four activation vectors, laid out from q
 * in registers (so no row length is too long for a buffer), and leave the
 * sixteen rows' sums S_b in their lanes; the epilogue of kernels.h contract
 * 3 then runs on all sixteen rows at once, in the same block order with the
 * same roundings: convert, the product (fenced from fusing), the add; Q8_K's
 * d_b * dx_b, and the per-token divide at the end. The block scales come by
 * one gather of the four bytes ending at each row's d and vcvtph2ps, which
 * decodes every half exactly as bn_kern_f16 does except that it quiets a
 * signalling NaN, which the product would quiet anyway, so the floats are
 * the epilogue's bit for bit (test_kernels tries all 65536 halves). Each block read asks for both cache lines of
 * the same block sixteen rows on (the next group) into L2: one line a block
 * left a thirty-second of them to demand misses, 15 against 19 GB/s
 * streamed at 1 thread (2-vCPU AMD EPYC, 2560-wide rows). */
static inline __attribute__((always_inline)) void tq2_mv_group(const bn_qmat *w,
                                                               const bn_act *x,
                                                               const uint8_t *base, int m,
                                                               float *y)
{
    const int64_t nb = w->ne0 / BN_QK;
    const size_t rb = w->row_bytes;
    const uint8_t *end = bn_kern_end(w);
    const __mmask16 live = (__mmask16)((1u << m) - 1);
    const __m512i ridx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)rb));
    __m512 v = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *q = x->q + b * BN_QK;
        __m512i xa[4];
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++)
            xa[l] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(q + 32 * l))),
                _mm256_loadu_si256((const __m256i *)(q + 128 + 32 * l)), 1);
        const uint8_t *blk = base + (size_t)b * BN_TQ2_BLOCK_BYTES;
        tq_tree t;
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) {
            __m512i a = _mm512_setzero_si512();
            if (k < m) {
                const uint8_t *p = blk + (size_t)k * rb;
                if ((size_t)(end - p) > 16 * rb + 64) { /* both lines of the block */
                    __builtin_prefetch(p + 16 * rb, 0, 2);
                    __builtin_prefetch(p + 16 * rb + 64, 0, 2);
                }
                a = tq2_block_x(p, xa);
            }
            tq_tree_add(&t, k, a);
        }
        const __m512i s = _mm512_sub_epi32(
            tq_tree_total(&t), _mm512_set1_epi32(x->bsum[2 * b] + x->bsum[2 * b + 1]));
        const __m512i dd = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, ridx,
                                                       blk + BN_TQ2_BLOCK_BYTES - 4, 1);
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
        if (x->kind == BN_ACT_Q8K)
            d = _mm512_mul_ps(d, _mm512_set1_ps(x->scale[b]));
        __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(s), d);
        __asm__("" : "+v"(p)); /* the product as a register no compiler can fuse */
        v = _mm512_add_ps(v, p);
    }
    if (x->kind != BN_ACT_Q8K)
        v = _mm512_div_ps(v, _mm512_set1_ps(x->scale[0]));
    _mm512_mask_storeu_ps(y, live, v);
}

void bnr_tq2_mv_avx512(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1, float *y)
{
    int64_t r = r0;
    for (; r + 16 <= r1; r += 16) /* whole groups: m a constant, no per-block tests */
        tq2_mv_group(w, x, bn_kern_row(w, r), 16, y + r);
    if (r < r1)
        tq2_mv_group(w, x, bn_kern_row(w, r), (int)(r1 - r), y + r);
}

/* Decode driver shared by TQ2_0 and TQ1_0: the token's activations are laid
 * out (permute, lanes bytes per block) one chunk of blocks at a time, and
 * each row of the range runs against the chunk (row_fn). */
#define TQ_LAYOUT_BYTES 16384 /* one chunk of laid-out activations, on the stack */

typedef void (*tq_permute_fn)(const int8_t *q, int64_t nb, int8_t *xp);
typedef void (*tq_row_fn)(const uint8_t *row, const uint8_t *end, const int8_t *xp, int64_t nb,
                          const int32_t *bs, int32_t *out);

static void tq_decode(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1, int64_t t,
                      int32_t *acc, int64_t lanes, size_t block_bytes, tq_permute_fn permute,
                      tq_row_fn row_fn)
{
    _Alignas(64) int8_t xp[TQ_LAYOUT_BYTES];
    const int64_t nb = w->ne0 / BN_QK, ng = x->ne0 / BN_ACT_GROUP, chunk = TQ_LAYOUT_BYTES / lanes;
    const uint8_t *end = bn_kern_end(w);
    for (int64_t c0 = 0; c0 < nb; c0 += chunk) {
        const int64_t nc = nb - c0 < chunk ? nb - c0 : chunk;
        permute(x->q + t * x->ne0 + c0 * BN_QK, nc, xp);
        for (int64_t r = r0; r < r1; r++)
            row_fn(bn_kern_row(w, r) + (size_t)c0 * block_bytes, end, xp, nc,
                   x->bsum + t * ng + 2 * c0, acc + (r - r0) * nb + c0);
    }
}

/* TQ2_0 decode: a row range whose activations fit one layout chunk (ne0 up
 * to 16384) is one stream of blocks (tq2_decode_stream); longer rows go
 * chunk by chunk through the shared driver. */
static void tq2_decode(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1, int64_t t,
                       int32_t *acc)
{
    const int64_t nb = w->ne0 / BN_QK;
    if (nb > TQ_LAYOUT_BYTES / BN_QK) {
        tq_decode(w, x, r0, r1, t, acc, BN_QK, BN_TQ2_BLOCK_BYTES, tq2_permute, tq2_decode_row);
        return;
    }
    _Alignas(64) int8_t xp[TQ_LAYOUT_BYTES];
    int32_t bsb[TQ_LAYOUT_BYTES / BN_QK + 16];
    const int32_t *bs = x->bsum + t * (x->ne0 / BN_ACT_GROUP);
    for (int64_t i = 0; i < nb + 16; i++)
        bsb[i] = bs[2 * (i % nb)] + bs[2 * (i % nb) + 1];
    tq2_permute(x->q + t * x->ne0, nb, xp);
    tq2_decode_stream(bn_kern_row(w, r0), (r1 - r0) * nb, xp, nb, bsb, bn_kern_end(w), acc);
}

/* TQ1_0 (FORMATS 2.2). A 54-byte block is one zmm: qs[0..47], qh[0..3], d,
 * and (past the block) ten bytes that a masked load zeroes. Trit n of a byte
 * b is floor(3 u / 256) for u = (uint8)(b * 3^n), the scalar decoder's
 * formula: u_n = (uint8)(3 u_{n-1}) is two byte adds (no carry crosses a
 * byte), and floor(3u/256) = [u >= 86] + [u >= 171] is two unsigned compares,
 * exact for all 256 bytes. The five trit vectors T_0..T_4 pair lane by lane
 * with the activations of the block laid out to match (tq1_permute: 5 x 64
 * bytes): lane m < 32 of T_n with q[32n + m], lane 32 + m (m < 16) with
 * q[160 + 16n + m], lane 48 + j (j < 4, n < 4) with q[240 + 4n + j], and every
 * other lane (qh's unused fifth trit, d, the zeroed tail) with 0, so whatever
 * trits those bytes give add nothing. Codes are 0..2 and |q| <= 128: a lane
 * gains at most 4 * 2 * 128 = 1024 per dpbusd, five per block. */
#define TQ1_LANES 320 /* activation bytes per block in the tq1 layout */

static void tq1_permute(const int8_t *q, int64_t nb, int8_t *xp)
{
    for (int64_t b = 0; b < nb; b++, q += BN_QK, xp += TQ1_LANES) {
        memset(xp, 0, TQ1_LANES);
        for (int n = 0; n < 5; n++) {
            memcpy(xp + 64 * n, q + 32 * n, 32);
            memcpy(xp + 64 * n + 32, q + 160 + 16 * n, 16);
            if (n < 4)
                memcpy(xp + 64 * n + 48, q + 240 + 4 * n, 4);
        }
    }
}

static inline __m512i tq1_load(const uint8_t *blk)
{
    return _mm512_maskz_loadu_epi8((__mmask64)0x003fffffffffffffull, blk); /* 54 bytes */
}

/* Trits of the 64 bytes u (already multiplied by 3^n). */
static inline __m512i tq1_trits(__m512i u)
{
    const __m512i one = _mm512_set1_epi8(1);
    const __mmask64 k1 = _mm512_cmpge_epu8_mask(u, _mm512_set1_epi8(86));
    const __mmask64 k2 = _mm512_cmpge_epu8_mask(u, _mm512_set1_epi8((char)171));
    const __m512i t = _mm512_maskz_mov_epi8(k1, one);
    return _mm512_mask_add_epi8(t, k2, t, one);
}

/* The five trit vectors of a block. */
static inline void tq1_decode_block(const uint8_t *blk, __m512i c[5])
{
    __m512i u = tq1_load(blk);
    c[0] = tq1_trits(u);
    for (int n = 1; n < 5; n++) {
        u = _mm512_add_epi8(u, _mm512_add_epi8(u, u));
        c[n] = tq1_trits(u);
    }
}

static inline __m512i tq1_dot5(const __m512i c[5], const int8_t *xp)
{
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[0], _mm512_load_si512((const void *)xp));
    for (int n = 1; n < 5; n++)
        s = _mm512_dpbusd_epi32(s, c[n], _mm512_load_si512((const void *)(xp + 64 * n)));
    return s;
}

/* Decode (one token), one row against a chunk of laid-out activations; every
 * block of a group of eight has its own accumulator. */
static void tq1_decode_row(const uint8_t *row, const uint8_t *end, const int8_t *xp, int64_t nb,
                           const int32_t *bs, int32_t *out)
{
    for (int64_t g0 = 0; g0 < nb; g0 += 8) {
        const int n = (int)(nb - g0 < 8 ? nb - g0 : 8);
        __m512i a[8] = {_mm512_setzero_si512()}, c[5];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            if (j >= n)
                break;
            const uint8_t *blk = row + (g0 + j) * BN_TQ1_BLOCK_BYTES;
            bn_kern_prefetch(blk, end);
            tq1_decode_block(blk, c);
            a[j] = tq1_dot5(c, xp + (g0 + j) * TQ1_LANES);
        }
        tq_fold8(a, n, bs + 2 * g0, out + g0);
    }
}

/* Batches: the five trit vectors of a block rearranged into element order
 * (e[i] holds elements 64i .. 64i + 63), once per block for every token, so
 * each token pairs four contiguous 64-byte loads of its own activations with
 * them: four dpbusd per block, no activation layout. In 128-bit lanes L0..L3
 * and dwords d0..d15 of T_n: e0 = T0.L0 T0.L1 T1.L0 T1.L1, e1 likewise of T2,
 * T3; e2 = T4.L0 T4.L1 T0.L2 T1.L2; e3 = T2.L2 T3.L2 T4.L2 and the qh trits
 * T0.d12 T1.d12 T2.d12 T3.d12 (elements 240 + 4n + j). */
static inline void tq1_element_order(const __m512i c[5], __m512i e[4])
{
    e[0] = _mm512_inserti64x4(c[0], _mm512_castsi512_si256(c[1]), 1);
    e[1] = _mm512_inserti64x4(c[2], _mm512_castsi512_si256(c[3]), 1);
    const __m512i l2 = _mm512_shuffle_i64x2(c[0], c[1], _MM_SHUFFLE(2, 2, 2, 2));
    e[2] = _mm512_shuffle_i64x2(c[4], l2, _MM_SHUFFLE(2, 1, 1, 0));
    const __m512i q23 = _mm512_permutex2var_epi32(
        c[2], _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 0, 0, 0, 0, 0, 0, 12, 28), c[3]);
    const __m512i q01 = _mm512_permutex2var_epi32(
        c[0], _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 28, 0, 0), c[1]);
    e[3] = _mm512_mask_mov_epi32(_mm512_mask_mov_epi32(q23, 0x0f00, c[4]), 0x3000, q01);
}

/* One token against a group of n <= 8 blocks in element order (e). */
static inline __attribute__((always_inline)) void tq_batch_token(const __m512i e[8][4], int n,
                                                                 const bn_act *x, int64_t t,
                                                                 int64_t g0, int32_t *out)
{
    const int8_t *q = x->q + t * x->ne0 + g0 * BN_QK;
    __m512i a[8] = {_mm512_setzero_si512()}; /* (tq_fold8 reads a[j] for j < n only) */
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        if (j >= n)
            break;
        const int8_t *qb = q + j * BN_QK;
        __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), e[j][0],
                                        _mm512_loadu_si512((const void *)qb));
        for (int i = 1; i < 4; i++)
            s = _mm512_dpbusd_epi32(s, e[j][i], _mm512_loadu_si512((const void *)(qb + 64 * i)));
        a[j] = s;
    }
    tq_fold8(a, n, x->bsum + t * (x->ne0 / BN_ACT_GROUP) + 2 * g0, out);
}

/* TQ2_0 (FORMATS 2.2): byte m of qs[0..31] holds elements 32l + m and byte
 * m of qs[32..63] elements 128 + 32l + m, at bits 2l. Element order pairs
 * the low qs half with itself shifted by 0 | 2 (e0: elements 0..63) and
 * 4 | 6 (e1: 64..127), the high half likewise (e2, e3): two broadcast
 * loads, four variable shifts of both halves, four masks. */
static inline void tq2_decode_elements(const uint8_t *blk, __m512i e[4])
{
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i s02 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i s46 = _mm512_add_epi16(s02, _mm512_set1_epi16(4));
    const __m512i lo = bcast((const int8_t *)blk), hi = bcast((const int8_t *)blk + 32);
    e[0] = _mm512_and_si512(_mm512_srlv_epi16(lo, s02), m3);
    e[1] = _mm512_and_si512(_mm512_srlv_epi16(lo, s46), m3);
    e[2] = _mm512_and_si512(_mm512_srlv_epi16(hi, s02), m3);
    e[3] = _mm512_and_si512(_mm512_srlv_epi16(hi, s46), m3);
}

static inline void tq1_decode_elements(const uint8_t *blk, __m512i e[4])
{
    __m512i c[5];
    tq1_decode_block(blk, c);
    tq1_element_order(c, e);
}

/* TQ1_0 batches: per row, groups of 8 blocks are decoded into element order
 * once and serve every token of the call. */
static void tq1_batch(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1, int64_t t0,
                      int64_t t1, int32_t *acc)
{
    const int64_t nb = w->ne0 / BN_QK, nrows = r1 - r0;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = bn_kern_row(w, r);
        for (int64_t g0 = 0; g0 < nb; g0 += 8) {
            const int n = (int)(nb - g0 < 8 ? nb - g0 : 8);
            __m512i e[8][4];
            for (int j = 0; j < n; j++)
                tq1_decode_elements(row + (g0 + j) * BN_TQ1_BLOCK_BYTES, e[j]);
            if (n == 8)
                for (int64_t t = t0; t < t1; t++)
                    tq_batch_token(e, 8, x, t, g0, acc + ((t - t0) * nrows + (r - r0)) * nb + g0);
            else
                for (int64_t t = t0; t < t1; t++)
                    tq_batch_token(e, n, x, t, g0, acc + ((t - t0) * nrows + (r - r0)) * nb + g0);
        }
    }
}

/* TQ2_0 batches. Per row, a group of four blocks is decoded into element
 * order once (e: 16 zmm, in registers) for a chunk of up to 64 tokens; each
 * token's four block accumulators go into the merge tree of tq_merge1..4 with
 * those of three more tokens, so one vector holds the 16 totals of 4 tokens x
 * 4 blocks (lane 4i + j: token i, block j) and one subtract of their laid-out
 * activation sums (sub, computed once per group for all rows) and four
 * 128-bit stores finish them: 46 operations for 16 totals where tq_fold8 takes
 * about 37 for 8, and no decoded block is reloaded. Missing tokens and blocks
 * (a short quad or group) add zero accumulators and are not stored. */
#define TQ2_BATCH_TOKENS 64

static inline __attribute__((always_inline)) __m512i tq2_token4(const __m512i e[4][4], int n,
                                                                const int8_t *q)
{
    __m512i a[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        a[j] = _mm512_setzero_si512();
        if (j < n)
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++)
                a[j] = _mm512_dpbusd_epi32(a[j], e[j][l],
                                           _mm512_loadu_si512((const void *)(q + 256 * j + 64 * l)));
    }
    return tq_merge2(tq_merge1(a[0], a[1]), tq_merge1(a[2], a[3]));
}

/* The 16 totals of ni <= 4 tokens x n <= 4 blocks of one row (tokens at q,
 * q + ldq, ..; their sums out, out + ld, ..), as the comment above says. */
static inline __attribute__((always_inline)) void tq2_quad(const __m512i e[4][4], int n, int ni,
                                                           const int8_t *q, int64_t ldq,
                                                           __m512i sub, __mmask8 mask,
                                                           int32_t *out, int64_t ld)
{
    const __m512i zero = _mm512_setzero_si512();
    const __m512i d0 = tq2_token4(e, n, q);
    const __m512i d1 = ni > 1 ? tq2_token4(e, n, q + ldq) : zero;
    const __m512i d2 = ni > 2 ? tq2_token4(e, n, q + 2 * ldq) : zero;
    const __m512i d3 = ni > 3 ? tq2_token4(e, n, q + 3 * ldq) : zero;
    const __m512i f = tq_merge4(tq_merge3(d0, d1), tq_merge3(d2, d3));
    const __m512i tot = _mm512_sub_epi32(tq_fold16_order(f), sub);
    _mm_mask_storeu_epi32(out, mask, _mm512_castsi512_si128(tot));
    if (ni > 1)
        _mm_mask_storeu_epi32(out + ld, mask, _mm512_extracti32x4_epi32(tot, 1));
    if (ni > 2)
        _mm_mask_storeu_epi32(out + 2 * ld, mask, _mm512_extracti32x4_epi32(tot, 2));
    if (ni > 3)
        _mm_mask_storeu_epi32(out + 3 * ld, mask, _mm512_extracti32x4_epi32(tot, 3));
}

static void tq2_batch(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1, int64_t t0,
                      int64_t t1, int32_t *acc)
{
    const int64_t nb = w->ne0 / BN_QK, nrows = r1 - r0, ng = x->ne0 / BN_ACT_GROUP;
    __m512i sub[TQ2_BATCH_TOKENS / 4];
    for (int64_t tc = t0; tc < t1; tc += TQ2_BATCH_TOKENS) {
        const int64_t tn = t1 - tc < TQ2_BATCH_TOKENS ? t1 - tc : TQ2_BATCH_TOKENS;
        for (int64_t g0 = 0; g0 < nb; g0 += 4) {
            const int n = (int)(nb - g0 < 4 ? nb - g0 : 4);
            for (int64_t u = 0; u < tn; u += 4) {
                _Alignas(64) int32_t v[16] = {0};
                for (int64_t i = 0; i < 4 && u + i < tn; i++) {
                    const int32_t *bs = x->bsum + (tc + u + i) * ng + 2 * g0;
                    for (int j = 0; j < n; j++)
                        v[4 * i + j] = bs[2 * j] + bs[2 * j + 1];
                }
                sub[u / 4] = _mm512_load_si512((const void *)v);
            }
            const __mmask8 mask = (__mmask8)((1u << n) - 1);
            for (int64_t r = r0; r < r1; r++) {
                __m512i e[4][4];
                const uint8_t *blk = bn_kern_row(w, r) + (size_t)g0 * BN_TQ2_BLOCK_BYTES;
                for (int j = 0; j < n; j++)
                    tq2_decode_elements(blk + j * BN_TQ2_BLOCK_BYTES, e[j]);
                const int8_t *q = x->q + tc * x->ne0 + g0 * BN_QK;
                int32_t *out = acc + ((tc - t0) * nrows + (r - r0)) * nb + g0;
                const int64_t ld = nrows * nb, full = n == 4 ? tn / 4 * 4 : 0;
                int64_t u = 0;
                for (; u < full; u += 4) /* the common case with constant counts */
                    tq2_quad(e, 4, 4, q + u * x->ne0, x->ne0, sub[u / 4], mask, out + u * ld, ld);
                for (; u < tn; u += 4)
                    tq2_quad(e, n, (int)(tn - u < 4 ? tn - u : 4), q + u * x->ne0, x->ne0,
                             sub[u / 4], mask, out + u * ld, ld);
            }
        }
    }
}

static void dot_tq(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                   int64_t t0, int64_t t1, int32_t *acc)
{
    if (w->type == BN_TYPE_TQ1_0) {
        if (t1 - t0 == 1)
            tq_decode(w, x, r0, r1, t0, acc, TQ1_LANES, BN_TQ1_BLOCK_BYTES, tq1_permute,
                      tq1_decode_row);
        else
            tq1_batch(w, x, r0, r1, t0, t1, acc);
    } else if (t1 - t0 == 1) {
        tq2_decode(w, x, r0, r1, t0, acc);
    } else {
        tq2_batch(w, x, r0, r1, t0, t1, acc);
    }
}

static int avx512_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

const bn_kernel bnr_kernel_avx512 = {
    .name = "avx512vnni",
    .desc = "AVX-512 VNNI dpbusd, two I2_S rows per 512-bit vector",
    .available = avx512_available,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq,
    .dot_tq1 = dot_tq,
    .mv_tq2 = bnr_tq2_mv_avx512,
};

#else
typedef int bn_simd_avx512_unused; /* not an x86-64 build */
#endif
