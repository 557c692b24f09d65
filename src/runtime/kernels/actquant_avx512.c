/*
 * actquant_avx512.c - the per-token int8 quantizer (kernels.h contract 4)
 * 16 floats at a time, byte for byte the scalar rule of actquant.c:
 *  - the max of |x| in float (NaN never wins: MAXPS returns its second
 *    operand, the running max, when the first is NaN), then widened to double
 *    and clamped below at 1e-5, which is the double max the scalar loop takes
 *    (float -> double is exact and monotonic);
 *  - p = x * s rounded to float, clamped to [-128, 127] (exact, as in the
 *    scalar form), converted in the current rounding mode (nearest-even, as
 *    rintf), NaN -> 0 by a mask;
 *  - group sums with SAD: sum(q + 128) over a 128-group minus 128 * 128.
 * And ggml's Q8_K rule of actquant.c, per 256-block, byte for byte: the max
 * of |x| as above (from 0, so NaN never wins), the signed element at the
 * first lane that holds it, iscale = -127 / that element, then the same
 * multiply, clamp, NaN mask and conversion.
 */
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>
#include "kern.h"

int bnr_act_avx512_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

/* p = x * s rounded to float, clamped, NaN -> 0, to int8 in nearest-even. */
static inline __m128i quantize16(const float *x, __m512 sv)
{
    const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    __m512 p = _mm512_mul_ps(_mm512_loadu_ps(x), sv);
    __mmask16 ord = _mm512_cmp_ps_mask(p, p, _CMP_ORD_Q);
    p = _mm512_min_ps(_mm512_max_ps(p, lo), hi);
    return _mm512_cvtsepi32_epi8(_mm512_maskz_cvtps_epi32(ord, p));
}

/* The sums of each 128-group of q (bsum) and their total. */
static int32_t group_sums(const int8_t *q, int64_t n, int32_t *bsum)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    int32_t total = 0;
    for (int64_t g = 0; g < n / BN_ACT_GROUP; g++) {
        const int8_t *qg = q + g * BN_ACT_GROUP;
        __m512i s0 = _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(qg), bias), zero);
        __m512i s1 = _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(qg + 64), bias), zero);
        int32_t v = (int32_t)_mm512_reduce_add_epi64(_mm512_add_epi64(s0, s1)) - 128 * BN_ACT_GROUP;
        bsum[g] = v;
        total += v;
    }
    return total;
}

void bnr_act_row_token_avx512(const float *x, int64_t n, int8_t *q, float *sa,
                                  int32_t *sum, int32_t *bsum)
{
    __m512 mx = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16)
        mx = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), mx);
    double a = (double)_mm512_reduce_max_ps(mx);
    a = a > 0.00001 ? a : 0.00001;
    const float s = (float)(127.0 / a);
    const __m512 sv = _mm512_set1_ps(s);
    for (int64_t i = 0; i < n; i += 16)
        _mm_storeu_si128((__m128i *)(q + i), quantize16(x + i, sv));
    *sa = s;
    *sum = group_sums(q, n, bsum);
}

void bnr_act_row_q8k_avx512(const float *x, int64_t n, int8_t *q, float *d, int32_t *sum,
                            int32_t *bsum)
{
    for (int64_t b = 0; b < n / BN_QK; b++) {
        const float *xb = x + b * BN_QK;
        int8_t *qb = q + b * BN_QK;
        __m512 mx = _mm512_setzero_ps();
        for (int j = 0; j < BN_QK; j += 16)
            mx = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + j)), mx);
        const float amax = _mm512_reduce_max_ps(mx);
        if (amax == 0.0f) {
            d[b] = 0.0f;
            memset(qb, 0, BN_QK);
            continue;
        }
        const __m512 av = _mm512_set1_ps(amax);
        float m = 0.0f;
        for (int j = 0; j < BN_QK; j += 16) {
            __mmask16 eq = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(xb + j)), av,
                                              _CMP_EQ_OQ);
            if (eq) {
                m = xb[j + __builtin_ctz(eq)];
                break;
            }
        }
        const float iscale = -127.0f / m;
        const __m512 sv = _mm512_set1_ps(iscale);
        for (int j = 0; j < BN_QK; j += 16)
            _mm_storeu_si128((__m128i *)(qb + j), quantize16(xb + j, sv));
        d[b] = 1.0f / iscale;
    }
    *sum = group_sums(q, n, bsum);
}

#else
typedef int bn_actquant_avx512_unused; /* not an x86-64 build */
#endif
