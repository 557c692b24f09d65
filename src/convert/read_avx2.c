/*
 * read_avx2.c - AVX2 versions of the per-element loops of reading a latent
 * checkpoint: fp16 and bf16 -> f32 (ckpt_read.c's to_f32) and the finiteness
 * check of a tensor's floats (pipeline.c).
 *
 * The conversion gives bn_f16_to_f32's bits for every one of the 65536 halves,
 * NaN payloads included, so it is integer arithmetic, not F16C's vcvtph2ps
 * (which quiets signalling NaNs): magnitude bits << 13 rebiased by 112 << 23;
 * the Inf/NaN exponent gets a second 112 << 23 (to 255); zeros and subnormals
 * are m·2^-24 computed as the float (2^-14 + m·2^-24) - 2^-14, which is exact.
 * tests/test_convert.c compares all 65536 inputs with the scalar function.
 *
 * Built with -mavx2 -mfma -mf16c (the Makefile's _avx2 rule); callers check
 * bnc_have_avx2() first.
 */
#include "convert/ckpt_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

int bnc_have_avx2(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return have;
}

static inline __m256 f16x8_to_f32(__m128i h16)
{
    const __m256i h = _mm256_cvtepu16_epi32(h16);
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x8000)), 16);
    __m256i o = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x7fff)), 13);
    const __m256i exp = _mm256_and_si256(o, _mm256_set1_epi32(0x0f800000));
    o = _mm256_add_epi32(o, _mm256_set1_epi32(112 << 23));
    const __m256i infnan = _mm256_cmpeq_epi32(exp, _mm256_set1_epi32(0x0f800000));
    o = _mm256_add_epi32(o, _mm256_and_si256(infnan, _mm256_set1_epi32(112 << 23)));
    const __m256i sub = _mm256_cmpeq_epi32(exp, _mm256_setzero_si256());
    const __m256 magic = _mm256_castsi256_ps(_mm256_set1_epi32(113 << 23)); /* 2^-14 */
    const __m256 fixed = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_add_epi32(o, _mm256_set1_epi32(1 << 23))), magic);
    o = _mm256_blendv_epi8(o, _mm256_castps_si256(fixed), sub);
    return _mm256_castsi256_ps(_mm256_or_si256(o, sign));
}

size_t bnc_f16_to_f32_avx2(const uint8_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, f16x8_to_f32(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    return i;
}

size_t bnc_bf16_to_f32_avx2(const uint8_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + 2 * i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(h, 16)); /* the top half of an f32 */
    }
    return i;
}

int bnc_all_finite_avx2(const float *f, size_t n)
{
    const __m256i expmask = _mm256_set1_epi32(0x7f800000);
    __m256i bad = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i e = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(f + i)), expmask);
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(e, expmask));
    }
    if (!_mm256_testz_si256(bad, bad))
        return 0;
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, f + i, 4);
        if ((u & 0x7f800000u) == 0x7f800000u)
            return 0;
    }
    return 1;
}

#else /* not x86-64: the scalar loops run */

int bnc_have_avx2(void) { return 0; }
size_t bnc_f16_to_f32_avx2(const uint8_t *src, size_t n, float *dst)
{
    (void)src, (void)n, (void)dst;
    return 0;
}
size_t bnc_bf16_to_f32_avx2(const uint8_t *src, size_t n, float *dst)
{
    (void)src, (void)n, (void)dst;
    return 0;
}
int bnc_all_finite_avx2(const float *f, size_t n)
{
    (void)f, (void)n;
    return 0;
}

#endif
