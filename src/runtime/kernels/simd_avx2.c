/*
 * simd_avx2.c - AVX2 kernel: _mm256_maddubs_epi16 (u8 codes x s8 activations
 * -> int16 pair sums) and _mm256_madd_epi16 (int16 -> int32).
 *
 * Saturation and overflow argument: codes are 0..3 (0b11 only in hostile
 * data) and |q| <= 128, so one maddubs lane is c0*q0 + c1*q1 with magnitude
 * <= 2*3*128 = 768, far from the int16 saturation point 32767; maddubs is
 * therefore exact. I2_S adds 4 such vectors per 128-block and keeps adding in
 * int16 for at most I2S_FLUSH = 8 blocks: <= 32 * 768 = 24576 < 32767. Then
 * madd with ones widens to int32 (pairs <= 49152), where the totals obey the
 * bound of kernels.h contract 2. TQ blocks sum 8 vectors (<= 6144) before
 * widening.
 *
 * The 256-bit TQ2_0 / TQ1_0 path: decoding puts the 256 trits of a block in
 * 8 vectors of 32 bytes, c[i] pairing with q[32i .. 32i+31], so the
 * activations are read contiguously. The kernel multiplies codes (trit 0..3,
 * i.e. t+1) and subtracts the block's sum of q afterwards (bsum), which gives
 * exactly sum (trit-1)*q.
 */
#if defined(__x86_64__)

#include <immintrin.h>
#include "kern.h"

#define I2S_FLUSH 8  /* blocks accumulated in int16 before widening */
#define TOKS 4       /* tokens sharing one decoded I2_S block */

static inline __m256i x86_dot8(const __m256i c[8], const int8_t *q)
{
    __m256i s = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++)
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[i], _mm256_loadu_si256((const __m256i *)(q + 32 * i))));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

#include "simd_x86.h"

/* TQ2_0: qs[32j + m] bits 2l..2l+1 hold element 128j + 32l + m. */
static inline void x86_decode_tq2(const uint8_t *blk, __m256i c[8])
{
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int j = 0; j < 2; j++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 32 * j));
        c[4 * j + 0] = _mm256_and_si256(v, m3);
        c[4 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
        c[4 * j + 2] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
        c[4 * j + 3] = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
    }
}

/* Trits of 32 base-3 fixed-point bytes, byte i multiplied by pow[i] (the two
 * bytes of a 16-bit lane share one power): u = (uint8)(b * pow), t = (u*3)>>8.
 * Even bytes: 16-bit multiply then keep the low byte. Odd bytes: clear the
 * low byte first so no carry reaches the high byte, multiply, and take the
 * high byte u through mulhi(u << 8, 3) = (u * 3) >> 8. */
static inline __m256i x86_trits(__m256i v, __m256i pow)
{
    const __m256i lo8 = _mm256_set1_epi16(0x00ff), hi8 = _mm256_set1_epi16((short)0xff00);
    const __m256i three = _mm256_set1_epi16(3);
    __m256i ulo = _mm256_and_si256(_mm256_mullo_epi16(v, pow), lo8);
    __m256i tlo = _mm256_srli_epi16(_mm256_mullo_epi16(ulo, three), 8);
    __m256i uhi = _mm256_and_si256(_mm256_mullo_epi16(_mm256_and_si256(v, hi8), pow), hi8);
    __m256i thi = _mm256_slli_epi16(_mm256_mulhi_epu16(uhi, three), 8);
    return _mm256_or_si256(tlo, thi);
}

/* TQ1_0: qs[m] trit n -> element m + 32n (n = 0..4); qs[32+m] trit n ->
 * 160 + m + 16n; qh[j] trit n -> 240 + j + 4n (n = 0..3). */
static inline void x86_decode_tq1(const uint8_t *blk, __m256i c[8])
{
    const __m256i a = _mm256_loadu_si256((const __m256i *)blk);
    for (int n = 0; n < 5; n++) {
        static const short p3[5] = {1, 3, 9, 27, 81};
        c[n] = x86_trits(a, _mm256_set1_epi16(p3[n]));
    }
    const __m128i b = _mm_loadu_si128((const __m128i *)(blk + 32));
    const __m256i bb = _mm256_set_m128i(b, b);
    /* elements 160..191 = trits 0,1 of qs[32..47]; 192..223 = trits 2,3 */
    c[5] = x86_trits(bb, _mm256_setr_epi16(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3));
    c[6] = x86_trits(bb, _mm256_setr_epi16(9, 9, 9, 9, 9, 9, 9, 9, 27, 27, 27, 27, 27, 27, 27, 27));
    /* 224..239 = trit 4 of qs[32..47]; 240..255 = qh[j] trit n at 4n + j */
    uint32_t qh;
    memcpy(&qh, blk + 48, 4);
    const __m256i hh = _mm256_set_m128i(_mm_set1_epi32((int)qh), b);
    c[7] = x86_trits(hh, _mm256_setr_epi16(81, 81, 81, 81, 81, 81, 81, 81,
                                            1, 1, 3, 3, 9, 9, 27, 27));
}

/* TQ driver. Per row, blocks go in groups of 8: each block is decoded once
 * into a small L1 buffer that serves every token of the tile, and the eight
 * block totals of a token are reduced together. */
static inline void x86_dot_tq(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                              int64_t t0, int64_t t1, int32_t *acc)
{
    const int tq2 = w->type == BN_TYPE_TQ2_0;
    const size_t bb = tq2 ? BN_TQ2_BLOCK_BYTES : BN_TQ1_BLOCK_BYTES;
    const int64_t nb = w->ne0 / BN_QK, ng = x->ne0 / BN_ACT_GROUP, nrows = r1 - r0;
    __m256i c[8][8], v[8];
    int32_t sums[8];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = bn_kern_row(w, r);
        for (int64_t g0 = 0; g0 < nb; g0 += 8) {
            const int n = (int)(nb - g0 < 8 ? nb - g0 : 8);
            for (int j = 0; j < n; j++) {
                if (tq2)
                    x86_decode_tq2(row + (g0 + j) * bb, c[j]);
                else
                    x86_decode_tq1(row + (g0 + j) * bb, c[j]);
            }
            for (int64_t t = t0; t < t1; t++) {
                const int8_t *q = x->q + t * x->ne0 + g0 * BN_QK;
                int32_t *out = acc + ((t - t0) * nrows + (r - r0)) * nb + g0;
                const int32_t *bs = x->bsum + t * ng + 2 * g0;
                if (n == 8) {
                    for (int j = 0; j < 8; j++)
                        v[j] = x86_dot8(c[j], q + j * BN_QK);
                    _mm256_storeu_si256((__m256i *)sums, x86_reduce8(v));
                } else {
                    for (int j = 0; j < n; j++)
                        sums[j] = x86_hsum(x86_dot8(c[j], q + j * BN_QK));
                }
                for (int j = 0; j < n; j++)
                    out[j] = sums[j] - (bs[2 * j] + bs[2 * j + 1]);
            }
        }
    }
}

static void dot_i2s(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const int64_t nblk = w->ne0 / 128, nrows = r1 - r0;
    const uint8_t *end = bn_kern_end(w);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = bn_kern_row(w, r);
        for (int64_t tc = t0; tc < t1; tc += TOKS) {
            const int nt = (int)(t1 - tc < TOKS ? t1 - tc : TOKS);
            __m256i a32[TOKS], a16[TOKS];
            for (int i = 0; i < TOKS; i++)
                a32[i] = a16[i] = _mm256_setzero_si256();
            for (int64_t b = 0; b < nblk; b++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(row + 32 * b));
                if (!(b & 1)) /* one request per cache line (two blocks) */
                    bn_kern_prefetch(row + 32 * b, end);
                __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
                __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
                __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
                __m256i c3 = _mm256_and_si256(v, m3);
                for (int i = 0; i < nt; i++) {
                    const int8_t *q = x->q + (tc + i) * x->ne0 + 128 * b;
                    __m256i p0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)q));
                    __m256i p1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256((const __m256i *)(q + 32)));
                    __m256i p2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(q + 64)));
                    __m256i p3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256((const __m256i *)(q + 96)));
                    a16[i] = _mm256_add_epi16(a16[i], _mm256_add_epi16(_mm256_add_epi16(p0, p1),
                                                                       _mm256_add_epi16(p2, p3)));
                }
                if ((b + 1) % I2S_FLUSH == 0 || b + 1 == nblk)
                    for (int i = 0; i < nt; i++) {
                        a32[i] = _mm256_add_epi32(a32[i], _mm256_madd_epi16(a16[i], ones));
                        a16[i] = _mm256_setzero_si256();
                    }
            }
            for (int i = 0; i < nt; i++)
                acc[(tc + i - t0) * nrows + (r - r0)] = x86_hsum(a32[i]);
        }
    }
}

static void dot_tq(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                   int64_t t0, int64_t t1, int32_t *acc)
{
    x86_dot_tq(w, x, r0, r1, t0, t1, acc);
}

static int avx2_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

const bn_kernel bnr_kernel_avx2 = {
    .name = "avx2",
    .desc = "AVX2 maddubs/madd, int16 partial sums flushed every 8 blocks",
    .available = avx2_available,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq,
    .dot_tq1 = dot_tq,
};

#else
typedef int bn_simd_avx2_unused; /* not an x86-64 build */
#endif
