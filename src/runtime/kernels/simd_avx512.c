/*
 * simd_avx512.c - AVX-512 VNNI kernel: _mm512_dpbusd_epi32 multiplies 4
 * unsigned codes by 4 signed activations and adds the 4 products straight
 * into an int32 lane, without saturation (dpbusd, not dpbusds) and without
 * int16 intermediates. Each lane gains at most 4*3*128 = 1536 per call, and
 * the per-lane totals are bounded as in kernels.h contract 2.
 *
 * I2_S: one 64-byte load covers two 128-blocks (b, b+1). After the shift by
 * 6-2j, byte g of the low half is element 128b+32j+g and byte g of the high
 * half element 128(b+1)+32j+g, so the matching activations are two 32-byte
 * runs joined with one insert. An odd last block uses the 256-bit form.
 * TQ2_0/TQ1_0: the shared 256-bit decoders of simd_x86.h with the 256-bit
 * VNNI form (AVX512VL).
 */
#if defined(__x86_64__)

#include <immintrin.h>
#include "kern.h"

#define TOKS 4  /* tokens sharing one decoded I2_S block pair */

static inline __m256i x86_dot8(const __m256i c[8], const int8_t *q)
{
    __m256i s = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++)
        s = _mm256_dpbusd_epi32(s, c[i], _mm256_loadu_si256((const __m256i *)(q + 32 * i)));
    return s;
}

#include "simd_x86.h"

static inline __m512i join(const int8_t *lo, const int8_t *hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
                              _mm256_loadu_si256((const __m256i *)hi), 1);
}

static void dot_i2s(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m256i m3h = _mm256_set1_epi8(3);
    const int64_t nblk = w->ne0 / 128, npair = nblk / 2, nrows = r1 - r0;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = bn_kern_row(w, r);
        for (int64_t tc = t0; tc < t1; tc += TOKS) {
            const int nt = (int)(t1 - tc < TOKS ? t1 - tc : TOKS);
            __m512i a[TOKS];
            for (int i = 0; i < TOKS; i++)
                a[i] = _mm512_setzero_si512();
            for (int64_t p = 0; p < npair; p++) {
                __m512i v = _mm512_loadu_si512((const void *)(row + 64 * p));
                __m512i c0 = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
                __m512i c1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
                __m512i c2 = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
                __m512i c3 = _mm512_and_si512(v, m3);
                for (int i = 0; i < nt; i++) {
                    const int8_t *q = x->q + (tc + i) * x->ne0 + 256 * p;
                    a[i] = _mm512_dpbusd_epi32(a[i], c0, join(q, q + 128));
                    a[i] = _mm512_dpbusd_epi32(a[i], c1, join(q + 32, q + 160));
                    a[i] = _mm512_dpbusd_epi32(a[i], c2, join(q + 64, q + 192));
                    a[i] = _mm512_dpbusd_epi32(a[i], c3, join(q + 96, q + 224));
                }
            }
            if (nblk % 2) {
                const int64_t b = nblk - 1;
                __m256i v = _mm256_loadu_si256((const __m256i *)(row + 32 * b));
                __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3h);
                __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3h);
                __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3h);
                __m256i c3 = _mm256_and_si256(v, m3h);
                for (int i = 0; i < nt; i++) {
                    const int8_t *q = x->q + (tc + i) * x->ne0 + 128 * b;
                    __m256i s = _mm256_setzero_si256();
                    s = _mm256_dpbusd_epi32(s, c0, _mm256_loadu_si256((const __m256i *)q));
                    s = _mm256_dpbusd_epi32(s, c1, _mm256_loadu_si256((const __m256i *)(q + 32)));
                    s = _mm256_dpbusd_epi32(s, c2, _mm256_loadu_si256((const __m256i *)(q + 64)));
                    s = _mm256_dpbusd_epi32(s, c3, _mm256_loadu_si256((const __m256i *)(q + 96)));
                    a[i] = _mm512_add_epi32(a[i], _mm512_zextsi256_si512(s));
                }
            }
            for (int i = 0; i < nt; i++)
                acc[(tc + i - t0) * nrows + (r - r0)] = _mm512_reduce_add_epi32(a[i]);
        }
    }
}

static void dot_tq(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                   int64_t t0, int64_t t1, int32_t *acc)
{
    x86_dot_tq(w, x, r0, r1, t0, t1, acc);
}

static int avx512_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

const bn_kernel bn_kernel_avx512 = {
    .name = "avx512vnni",
    .desc = "AVX-512 VNNI dpbusd, two I2_S blocks per 512-bit load",
    .available = avx512_available,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq,
    .dot_tq1 = dot_tq,
};

#else
typedef int bn_simd_avx512_unused; /* not an x86-64 build */
#endif
