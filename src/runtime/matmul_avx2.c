/* matmul_avx2.c - AVX2/F16C versions of the two float primitives of matmul.c:
 * F16 row decoding and the fixed-order dot product.
 *
 * Same values as the scalar code, bit for bit: F16 -> F32 is exact either way,
 * and the dot product keeps the scalar code's 8 lanes (lane j sums the elements
 * i = j mod 8, one multiply then one add per element - this file is compiled
 * as ISO C, so nothing is contracted into an FMA), combines the lanes in the
 * same pairwise order and adds the tail last. So results never depend on
 * whether the CPU has AVX2. */
#include "model_internal.h"

/* Float results must not depend on the compiler: no fused multiply-adds. GCC
 * already keeps ISO C's rule under -std=c11; clang needs to be told. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__AVX2__) && defined(__F16C__)
#include <cpuid.h>
#include <immintrin.h>

int bnr_avx2_available(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!f16c || !osxsave || !avx)
        return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0)); /* OS saves YMM state? */
    if ((lo & 6) != 6)
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b >> 5) & 1; /* AVX2 */
}

void bnr_f16_row_avx2(const uint8_t *src, float *dst, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i,
                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++)
        dst[i] = _cvtsh_ss((unsigned short)(src[2 * i] | src[2 * i + 1] << 8));
}

float bnr_dot_avx2(const float *a, const float *b, int n)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    float l[8];
    _mm256_storeu_ps(l, acc);
    float s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#else

int bnr_avx2_available(void) { return 0; }

void bnr_f16_row_avx2(const uint8_t *src, float *dst, int n)
{
    (void)src, (void)dst, (void)n;
}

float bnr_dot_avx2(const float *a, const float *b, int n)
{
    (void)a, (void)b, (void)n;
    return 0.0f;
}

#endif
