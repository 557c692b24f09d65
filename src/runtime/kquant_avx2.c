/* kquant_avx2.c - kquant_internal.h with AVX2 + FMA: the integer sums of
 * contract 1 and the float combination of contract 2.
 *
 * Sums: one 32-element chunk of a block per 256-bit register, the 6-bit
 * (4-bit) weights rebuilt as unsigned bytes in element order, vpmaddubsw with
 * the int8 activations (int16 pairs, at most 2 * 63 * 128 = 16128), Q6_K's
 * "- 32" taken off each pair (minus vpmaddubsw of 32 and the activations:
 * pairs within +-8192), then vpmaddwd by the group scale. Byte p of a register
 * is element offset p of its chunk and int32 lane k covers bytes 4k..4k+3, so
 * the accumulator's lanes are contract 1's lanes as they are. Integer
 * arithmetic only: the sums equal the scalar ones exactly (test_kquant).
 *
 * Combination: vfmadd231ps rounds once, as fmaf() does, and the lanes are
 * added by the one bnr_kq_finish, so the floats equal bnr_kq_combine_basic's. */
#include "kquant_internal.h"

#include "bn/quant.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

int bnr_kq_avx2_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* int16 lanes 0..7 take scale a, lanes 8..15 scale b (two groups of 16) */
static __m256i scale_pair(int a, int b)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

void bnr_kq_sums_q6k_avx2(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                         int32_t *S, int32_t *M)
{
    (void)bsum16;
    (void)M;
    const __m256i m15 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 210;
        const int8_t *x = q + (size_t)b * 256, *sc = (const int8_t *)blk + 192;
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) { /* elements 128 h .. 128 h + 127 */
            const __m256i lo0 = _mm256_loadu_si256((const __m256i *)(blk + 64 * h));
            const __m256i lo1 = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
            for (int c = 0; c < 4; c++) { /* chunk c: elements 128 h + 32 c + l */
                __m256i lo = c & 1 ? lo1 : lo0;
                if (c >= 2)
                    lo = _mm256_srli_epi16(lo, 4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), m3);
                __m256i w = _mm256_or_si256(_mm256_and_si256(lo, m15), _mm256_slli_epi16(hi, 4));
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 128 * h + 32 * c));
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(w, xv), _mm256_maddubs_epi16(m32, xv));
                int g = 8 * h + 2 * c;
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, scale_pair(sc[g], sc[g + 1])));
            }
        }
        _mm256_storeu_si256((__m256i *)(S + 8 * b), acc);
    }
}

void bnr_kq_sums_q4k_avx2(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                         int32_t *S, int32_t *M)
{
    const __m256i m15 = _mm256_set1_epi8(15);
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 144;
        const int8_t *x = q + (size_t)b * 256;
        uint8_t sc[8], mn[8];
        int32_t *mm = M + 4 * b;
        for (int j = 0; j < 8; j++)
            bn_kquant_scale_min_k4(j, blk + 4, &sc[j], &mn[j]);
        for (int i = 0; i < 4; i++) {
            const int16_t *g = bsum16 + 16 * b + 4 * i; /* groups 2i, 2i + 1 of 32 */
            mm[i] = mn[2 * i] * (g[0] + g[1]) + mn[2 * i + 1] * (g[2] + g[3]);
        }
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) { /* qs[32 j + l]: low nibble group 2j, high 2j + 1 */
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * j));
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + 64 * j));
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + 64 * j + 32));
            __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(qv, m15), x0);
            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m15), x1);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        _mm256_storeu_si256((__m256i *)(S + 8 * b), acc);
    }
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

float bnr_kq_combine_avx2(bn_type t, const uint8_t *row, const float *dx, const int32_t *S,
                         const int32_t *M, int nb)
{
    const float *f16 = bnr_f16_table();
    const size_t bb = t == BN_TYPE_Q6_K ? 210 : 144, doff = t == BN_TYPE_Q6_K ? 208 : 0;
    __m256 a = _mm256_setzero_ps();
    __m128 c = _mm_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * bb;
        __m256 s = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(S + 8 * b)));
        a = _mm256_fmadd_ps(_mm256_set1_ps(dx[b] * f16[rd16(blk + doff)]), s, a);
        if (t == BN_TYPE_Q4_K) {
            __m128 m = _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(M + 4 * b)));
            c = _mm_fmadd_ps(_mm_set1_ps(-(dx[b] * f16[rd16(blk + 2)])), m, c);
        }
    }
    float al[8], cl[4];
    _mm256_storeu_ps(al, a);
    _mm_storeu_ps(cl, c);
    return bnr_kq_finish(t, al, cl);
}

#else

int bnr_kq_avx2_available(void) { return 0; }

void bnr_kq_sums_q6k_avx2(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                         int32_t *S, int32_t *M)
{
    bnr_kq_sums_q6k_basic(row, q, bsum16, nb, S, M);
}

void bnr_kq_sums_q4k_avx2(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                         int32_t *S, int32_t *M)
{
    bnr_kq_sums_q4k_basic(row, q, bsum16, nb, S, M);
}

float bnr_kq_combine_avx2(bn_type t, const uint8_t *row, const float *dx, const int32_t *S,
                         const int32_t *M, int nb)
{
    return bnr_kq_combine_basic(t, row, dx, S, M, nb);
}

#endif
