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
