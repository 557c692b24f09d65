/* kquant_avx512.c - the integer sums of kquant_internal.h contract 1 with
 * AVX-512BW + VNNI: the 6-bit (4-bit) weights are rebuilt as unsigned bytes in
 * element order, multiplied with the int8 activations by vpmaddubsw (pairs,
 * at most 2 * 63 * 128 = 16128: never saturates), and the int16 pair sums by
 * the group scales with vpdpwssd. Q6_K's "- 32" is taken off each int16 pair
 * (minus vpmaddubsw of 32 and the activations: pairs stay within +-8192), so
 * that each int32 lane holds its own elements' sums: byte p of a 64-element
 * register is element offset p mod 32 of its chunk, int32 lane L covers bytes
 * 4L..4L+3, so contract 1's lane k is the sum of lanes k and k + 8. Integer
 * arithmetic only: the sums equal the scalar ones exactly (test_kquant). */
#include "kquant_internal.h"

#include "bn/quant.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>

int bnr_kq_avx512_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

/* int16 lane k of chunk c (64 elements = groups 4c..4c+3) takes scale 4c + k/8 */
#define I8(v) (v), (v), (v), (v), (v), (v), (v), (v)
#define I32(c) I8(4 * (c)), I8(4 * (c) + 1), I8(4 * (c) + 2), I8(4 * (c) + 3)
static const int16_t q6k_idx[4][32] = {{I32(0)}, {I32(1)}, {I32(2)}, {I32(3)}};
#undef I32
#undef I8

/* contract 1's eight lanes of block sums from 16 int32 lanes (see above) */
static inline __m256i lanes8(__m512i acc)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
}

typedef struct {
    __m512i idx[4], m48, m15, m32, sh02;
} q6k_consts;

static inline void q6k_init(q6k_consts *k)
{
    for (int i = 0; i < 4; i++)
        k->idx[i] = _mm512_loadu_si512(q6k_idx[i]);
    k->m48 = _mm512_set1_epi8(0x30);
    k->m15 = _mm512_set1_epi8(15);
    k->m32 = _mm512_set1_epi8(32);
    /* 16-bit shift counts: 0 in the low 256 bits, 2 in the high */
    k->sh02 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
}

/* The eight lane sums of one Q6_K block (210 bytes) with 256 activations. */
static inline __m256i q6k_block(const uint8_t *blk, const int8_t *x, const q6k_consts *k)
{
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
    __m512i scz = _mm512_castsi256_si512(sc16);
    __m512i acc = _mm512_setzero_si512();
    __m512i Hall = _mm512_loadu_si512(blk + 128); /* qh of both halves */
    /* both 256-bit halves hold one half's qh; the upper one is shifted by 2 so
     * that bits 0-1 of every byte serve element l (low half) and l + 32 (high) */
    const __m512i Hh[2] = {_mm512_srlv_epi16(_mm512_shuffle_i64x2(Hall, Hall, 0x44), k->sh02),
                           _mm512_srlv_epi16(_mm512_shuffle_i64x2(Hall, Hall, 0xEE), k->sh02)};
    for (int h = 0; h < 2; h++) {
        __m512i A = _mm512_loadu_si512(blk + 64 * h);
        __m512i HH = Hh[h];
        __m512i hlo = _mm512_and_si512(_mm512_slli_epi16(HH, 4), k->m48);
        __m512i hhi = _mm512_and_si512(HH, k->m48);
        __m512i qlo = _mm512_or_si512(_mm512_and_si512(A, k->m15), hlo);
        __m512i qhi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(A, 4), k->m15), hhi);
        __m512i x0 = _mm512_loadu_si512(x + 128 * h), x1 = _mm512_loadu_si512(x + 128 * h + 64);
        __m512i p0 = _mm512_sub_epi16(_mm512_maddubs_epi16(qlo, x0), _mm512_maddubs_epi16(k->m32, x0));
        __m512i p1 = _mm512_sub_epi16(_mm512_maddubs_epi16(qhi, x1), _mm512_maddubs_epi16(k->m32, x1));
        acc = _mm512_dpwssd_epi32(acc, p0, _mm512_permutexvar_epi16(k->idx[2 * h], scz));
        acc = _mm512_dpwssd_epi32(acc, p1, _mm512_permutexvar_epi16(k->idx[2 * h + 1], scz));
    }
    return lanes8(acc);
}

/* The eight lane sums of one Q4_K block (144 bytes), and its four M values
 * from the block's 16-element activation sums bs. */
static inline __m256i q4k_block(const uint8_t *blk, const int8_t *x, const int16_t *bs, int32_t *mm)
{
    /* lanes 0..15 of a 64-byte load hold group g, lanes 16..31 group g + 2 */
    const __m512i m15 = _mm512_set1_epi8(15);
    const __m512i pick[4] = {
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(0), _mm512_set1_epi16(2)),
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(1), _mm512_set1_epi16(3)),
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(4), _mm512_set1_epi16(6)),
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(5), _mm512_set1_epi16(7))};
    int16_t sc[32] = {0};
    mm[0] = mm[1] = mm[2] = mm[3] = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        bn_kquant_scale_min_k4(j, blk + 4, &s, &m);
        sc[j] = s;
        mm[j / 2] += m * (bs[2 * j] + bs[2 * j + 1]);
    }
    __m512i scz = _mm512_loadu_si512(sc);
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < 2; k++) { /* chunks 2k, 2k+1: groups 4k..4k+3 */
        __m512i Q = _mm512_loadu_si512(blk + 16 + 64 * k);
        const int8_t *xk = x + 128 * k;
        __m512i xlo = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xk)),
                                         _mm256_loadu_si256((const __m256i *)(xk + 64)), 1);
        __m512i xhi = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(xk + 32))),
            _mm256_loadu_si256((const __m256i *)(xk + 96)), 1);
        __m512i plo = _mm512_maddubs_epi16(_mm512_and_si512(Q, m15), xlo);
        __m512i phi = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(Q, 4), m15), xhi);
        acc = _mm512_dpwssd_epi32(acc, plo, _mm512_permutexvar_epi16(pick[2 * k], scz));
        acc = _mm512_dpwssd_epi32(acc, phi, _mm512_permutexvar_epi16(pick[2 * k + 1], scz));
    }
    return lanes8(acc);
}

void bnr_kq_sums_q6k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M)
{
    (void)M;
    (void)bsum16;
    q6k_consts k;
    q6k_init(&k);
    for (int b = 0; b < nb; b++)
        _mm256_storeu_si256((__m256i *)(S + 8 * b), q6k_block(row + (size_t)b * 210, q + (size_t)b * 256, &k));
}

void bnr_kq_sums_q4k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M)
{
    for (int b = 0; b < nb; b++)
        _mm256_storeu_si256((__m256i *)(S + 8 * b), q4k_block(row + (size_t)b * 144, q + (size_t)b * 256,
                                                              bsum16 + 16 * b, M + 4 * b));
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Sums and contract 2 in one pass: the lanes never leave registers. */
float bnr_kq_dot_q6k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                           const float *dx, int nb)
{
    (void)bsum16;
    const float *f16 = bnr_f16_table();
    q6k_consts k;
    q6k_init(&k);
    __m256 a = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 210;
        __m256 s = _mm256_cvtepi32_ps(q6k_block(blk, q + (size_t)b * 256, &k));
        a = _mm256_fmadd_ps(_mm256_set1_ps(dx[b] * f16[rd16(blk + 208)]), s, a);
    }
    float al[8];
    _mm256_storeu_ps(al, a);
    return bnr_kq_finish(BN_TYPE_Q6_K, al, NULL);
}

float bnr_kq_dot_q4k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                           const float *dx, int nb)
{
    const float *f16 = bnr_f16_table();
    __m256 a = _mm256_setzero_ps();
    __m128 c = _mm_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 144;
        int32_t mm[4];
        __m256 s = _mm256_cvtepi32_ps(q4k_block(blk, q + (size_t)b * 256, bsum16 + 16 * b, mm));
        a = _mm256_fmadd_ps(_mm256_set1_ps(dx[b] * f16[rd16(blk)]), s, a);
        __m128 m = _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)mm));
        c = _mm_fmadd_ps(_mm_set1_ps(-(dx[b] * f16[rd16(blk + 2)])), m, c);
    }
    float al[8], cl[4];
    _mm256_storeu_ps(al, a);
    _mm_storeu_ps(cl, c);
    return bnr_kq_finish(BN_TYPE_Q4_K, al, cl);
}

#else

int bnr_kq_avx512_available(void) { return 0; }

void bnr_kq_sums_q6k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M)
{
    bnr_kq_sums_q6k_basic(row, q, bsum16, nb, S, M);
}

void bnr_kq_sums_q4k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                           int32_t *S, int32_t *M)
{
    bnr_kq_sums_q4k_basic(row, q, bsum16, nb, S, M);
}

float bnr_kq_dot_q6k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                           const float *dx, int nb)
{
    return bnr_kq_dot_basic(BN_TYPE_Q6_K, row, q, bsum16, dx, nb);
}

float bnr_kq_dot_q4k_avx512(const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                           const float *dx, int nb)
{
    return bnr_kq_dot_basic(BN_TYPE_Q4_K, row, q, bsum16, dx, nb);
}

#endif
