/*
 * simd_x86.h - the horizontal sums shared by simd_avx2.c and simd_avx512.c
 * (each includer is compiled with its own -m flags).
 */
#ifndef BN_SIMD_X86_H
#define BN_SIMD_X86_H

#include <immintrin.h>
#include "kern.h"

static inline int32_t x86_hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Eight int32x8 vectors -> one vector of their eight totals, in order
 * (6 hadd + 2 permutes + 1 add instead of 8 horizontal sums). */
static inline __m256i x86_reduce8(const __m256i v[8])
{
    __m256i s0 = _mm256_hadd_epi32(v[0], v[1]), s1 = _mm256_hadd_epi32(v[2], v[3]);
    __m256i s2 = _mm256_hadd_epi32(v[4], v[5]), s3 = _mm256_hadd_epi32(v[6], v[7]);
    __m256i t0 = _mm256_hadd_epi32(s0, s1), t1 = _mm256_hadd_epi32(s2, s3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                            _mm256_permute2x128_si256(t0, t1, 0x31));
}

#endif
