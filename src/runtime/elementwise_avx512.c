/* elementwise_avx512.c - the elementwise loops of elementwise.c, sixteen
 * floats a step: per element the same IEEE operations in the same order, so
 * the same floats. Each returns how many leading elements it did (whole
 * vectors); the caller's C loop does the rest. */
#include "model_internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__AVX512F__)
#include <immintrin.h>

int bnr_scale_mul_avx512(float *out, const float *x, float scale, const float *w, int n)
{
    const __m512 s = _mm512_set1_ps(scale);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), s),
                                                _mm512_loadu_ps(w + i)));
    return i;
}

/* max(g, 0) with 0 as the second operand: a NaN g gives 0 and -0 gives +0,
 * as "g > 0 ? g : 0" does; then (r * r) * u. */
size_t bnr_relu2_mul_avx512(float *g, const float *u, size_t n)
{
    const __m512 z = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 r = _mm512_max_ps(_mm512_loadu_ps(g + i), z);
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_mul_ps(r, r), _mm512_loadu_ps(u + i)));
    }
    return i;
}

size_t bnr_add_into_avx512(float *x, const float *y, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    return i;
}

#else

int bnr_scale_mul_avx512(float *out, const float *x, float scale, const float *w, int n)
{
    (void)out, (void)x, (void)scale, (void)w, (void)n;
    return 0;
}

size_t bnr_relu2_mul_avx512(float *g, const float *u, size_t n)
{
    (void)g, (void)u, (void)n;
    return 0;
}

size_t bnr_add_into_avx512(float *x, const float *y, size_t n)
{
    (void)x, (void)y, (void)n;
    return 0;
}

#endif
