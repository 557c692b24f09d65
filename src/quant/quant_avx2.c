/*
 * quant_avx2.c - AVX2 versions of the converter's three per-element passes over
 * a latent tensor (ternarize.c's scan and absmean codes, pack.c's TQ2_0 packer).
 *
 * Each one promises the exact results of its scalar reference, bit for bit, or
 * declines (returns -1) and lets the caller run the scalar code:
 *
 *  scan    Σ|w| is the one order-dependent result: the scalar loop adds in
 *          double, one element after another. Here four double lanes add, which
 *          is the same number only when no addition rounds. Every |w| is an
 *          integer multiple of L = 2^(lowest set bit of any |w| in the chunk), so
 *          every partial sum, in any order, is a multiple of L no larger than the
 *          total S; all of them are exact doubles when S < 2^53·L. We check the
 *          computed total against 2^52·L (a rounded total is within a relative
 *          2^-36 of S for 2^16 terms, so the margin of 2 covers it) and decline
 *          otherwise: fp16 and bf16 checkpoints pass with room to spare, f32
 *          weights with tiny values may not. A chunk holding NaN or Inf also
 *          declines (the scalar loop finds the first one). max|w|, and whether the
 *          non-zero magnitudes are all equal, are order-free (integer compares of
 *          the magnitude bits, which order finite floats as their values).
 *  codes   clamp(rint(w·rs), -1, 1): one float multiply and a round-to-nearest-even
 *          per element, as the scalar code (rintf in the default rounding mode),
 *          with counts and a max that do not depend on order.
 *  tq2     byte = t0 + 4·t1 + 16·t2 + 64·t3 (fields never carry); declines on a
 *          code outside -1..1 so the scalar packer reports it.
 *
 * Built with -mavx2 -mfma -mf16c (the Makefile's _avx2 rule); callers check
 * bnq_have_avx2() first.
 */
#include "quant/quant_internal.h"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

int bnq_have_avx2(void)
{
    static int have = -1;
    if (have < 0) {
        unsigned a, b, c, d;
        __builtin_cpu_init();
        /* F16C (CPUID.1:ECX bit 29) for vcvtps2ph; every AVX2 CPU has it, but ask */
        have = __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1) ? 1 : 0;
    }
    return have;
}

/* ---- scan ------------------------------------------------------------------------ */

/* lsb(a) + 127 for magnitude bits a != 0, where lsb is the biased exponent of a's
 * lowest set bit: the exponent field plus the trailing zeros of the significand.
 * With the implicit bit always set, a subnormal (field 0, really 1) comes out one
 * lower: a smaller L, so the exactness test below only gets stricter. */
static uint32_t lsb127_scalar(uint32_t a)
{
    return (a >> 23) + 127u + (uint32_t)__builtin_ctz(a | 0x800000u);
}

static inline __m256i lsb127_8(__m256i a)
{
    __m256i t = _mm256_or_si256(a, _mm256_set1_epi32(0x800000));
    __m256i low = _mm256_and_si256(t, _mm256_sub_epi32(_mm256_setzero_si256(), t)); /* 2^ctz, <= 2^23 */
    /* a power of two up to 2^23 converts exactly: its exponent field is 127 + ctz */
    __m256i ctz127 = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(low)), 23);
    return _mm256_add_epi32(_mm256_srli_epi32(a, 23), ctz127);
}

static uint32_t hmax_u32(__m256i v)
{
    uint32_t t[8];
    _mm256_storeu_si256((__m256i *)t, v);
    uint32_t m = t[0];
    for (int i = 1; i < 8; i++)
        m = t[i] > m ? t[i] : m;
    return m;
}

static uint32_t hmin_u32(__m256i v)
{
    uint32_t t[8];
    _mm256_storeu_si256((__m256i *)t, v);
    uint32_t m = t[0];
    for (int i = 1; i < 8; i++)
        m = t[i] < m ? t[i] : m;
    return m;
}

static float f32_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Zero lanes are kept out of the two minimums without a blend: a - 1 wraps a zero
 * to the largest unsigned value, and OR-ing the all-ones mask of zero lanes does
 * the same for lsb. */
int bnq_scan_chunk_avx2(const float *w, uint64_t n, bnq_scan_part *p)
{
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), finmax = _mm256_set1_epi32(0x7f7fffff);
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
    __m256d s[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256i vmax = zero, vminnz1 = _mm256_set1_epi32(-1), vlsb = vminnz1, bad = zero;
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int h = 0; h < 2; h++) {
            __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(w + i + 8 * h)), absmask);
            bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(a, finmax));
            vmax = _mm256_max_epi32(vmax, a);
            vminnz1 = _mm256_min_epu32(vminnz1, _mm256_sub_epi32(a, one));
            vlsb = _mm256_min_epu32(vlsb, _mm256_or_si256(lsb127_8(a), _mm256_cmpeq_epi32(a, zero)));
            __m256 af = _mm256_castsi256_ps(a);
            s[2 * h] = _mm256_add_pd(s[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(af)));
            s[2 * h + 1] = _mm256_add_pd(s[2 * h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(af, 1)));
        }
    }
    if (!_mm256_testz_si256(bad, bad))
        return -1;
    uint32_t amax = hmax_u32(vmax), minnz1 = hmin_u32(vminnz1), lsb = hmin_u32(vlsb);
    double tail = 0.0;
    for (; i < n; i++) {
        uint32_t a;
        memcpy(&a, w + i, 4);
        a &= 0x7fffffffu;
        if (a >= 0x7f800000u)
            return -1;
        amax = a > amax ? a : amax;
        if (a) {
            minnz1 = a - 1 < minnz1 ? a - 1 : minnz1;
            uint32_t l = lsb127_scalar(a);
            lsb = l < lsb ? l : lsb;
        }
        tail += (double)f32_of(a);
    }
    double lane[16];
    for (int k = 0; k < 4; k++)
        _mm256_storeu_pd(lane + 4 * k, s[k]);
    double sum = tail;
    for (int k = 0; k < 16; k++)
        sum += lane[k];
    /* L = 2^(lsb - 150) = 2^(lsb127 - 277); exact when sum < 2^52 L = 2^(lsb127 - 225) */
    if (amax && !(sum < ldexp(1.0, (int)lsb - 225)))
        return -1;
    p->abs_sum = sum;
    p->abs_max = f32_of(amax);
    p->mag = amax ? f32_of(amax) : 0.0f;
    p->mixed = amax && minnz1 + 1 != amax;
    p->bad = -1;
    return 0;
}

/* ---- absmean codes ----------------------------------------------------------------- */

int bnq_absmean_codes_avx2(const float *w, uint64_t n, float rs, int8_t *codes, uint64_t *nz,
                           float *zero_max)
{
    const __m256 vrs = _mm256_set1_ps(rs), one = _mm256_set1_ps(1.0f), mone = _mm256_set1_ps(-1.0f);
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
    const __m256i lanes = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i zmax = _mm256_setzero_si256(), cnt = _mm256_setzero_si256();
    uint64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 x = _mm256_loadu_ps(w + i + 8 * k);
            __m256 r = _mm256_round_ps(_mm256_mul_ps(x, vrs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm256_min_ps(_mm256_max_ps(r, mone), one);
            q[k] = _mm256_cvtps_epi32(r);
            __m256i isz = _mm256_cmpeq_epi32(q[k], _mm256_setzero_si256());
            __m256i a = _mm256_and_si256(_mm256_castps_si256(x), absmask);
            zmax = _mm256_max_epi32(zmax, _mm256_and_si256(a, isz));
            cnt = _mm256_sub_epi32(cnt, _mm256_andnot_si256(isz, _mm256_set1_epi32(-1)));
        }
        /* int32 x 32 -> int8 x 32 in order: packs interleave 128-bit lanes, the
         * permute puts the dwords back */
        __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        _mm256_storeu_si256((__m256i *)(codes + i), _mm256_permutevar8x32_epi32(p8, lanes));
    }
    uint32_t c[8];
    _mm256_storeu_si256((__m256i *)c, cnt);
    uint64_t count = 0;
    for (int k = 0; k < 8; k++)
        count += c[k];
    uint32_t zm = hmax_u32(zmax);
    for (; i < n; i++) {
        float q = rintf(w[i] * rs);
        int8_t v = (int8_t)(q > 1.0f ? 1 : q < -1.0f ? -1 : (int)q);
        codes[i] = v;
        uint32_t a;
        memcpy(&a, w + i, 4);
        a &= 0x7fffffffu;
        if (v)
            count++;
        else if (a > zm)
            zm = a;
    }
    *nz = count;
    *zero_max = f32_of(zm);
    return 0;
}

/* ---- TQ2_0 ---------------------------------------------------------------------------- */

int bnq_pack_tq2_row_avx2(const int8_t *c, int64_t ne0, uint16_t d_half, uint8_t *o)
{
    const __m256i one = _mm256_set1_epi8(1), two = _mm256_set1_epi8(2);
    for (int64_t b = 0; b < ne0 / 256; b++) {
        const int8_t *cb = c + b * 256;
        uint8_t *ob = o + b * 66;
        __m256i any = _mm256_setzero_si256(), ok = _mm256_set1_epi8(-1);
        for (int j = 0; j < 2; j++) {
            __m256i t[4];
            for (int l = 0; l < 4; l++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(cb + 128 * j + 32 * l));
                any = _mm256_or_si256(any, v);
                t[l] = _mm256_add_epi8(v, one); /* a valid code gives 0..2 as unsigned */
                ok = _mm256_and_si256(ok, _mm256_cmpeq_epi8(_mm256_max_epu8(t[l], two), two));
            }
            /* t0 + 4 t1 + 16 t2 + 64 t3 by doubling in bytes (no field carries) */
            __m256i acc = t[3];
            for (int l = 2; l >= 0; l--) {
                acc = _mm256_add_epi8(acc, acc);
                acc = _mm256_add_epi8(acc, acc);
                acc = _mm256_add_epi8(acc, t[l]);
            }
            _mm256_storeu_si256((__m256i *)(ob + 32 * j), acc);
        }
        if (_mm256_movemask_epi8(ok) != -1)
            return -1; /* a code outside -1..1: the scalar packer names it */
        uint16_t d = _mm256_testz_si256(any, any) ? 0 : d_half;
        ob[64] = (uint8_t)(d & 0xff);
        ob[65] = (uint8_t)(d >> 8);
    }
    return 0;
}

/* ---- statistics --------------------------------------------------------------------- */

/* stats.c's lanes are 4 doubles: one __m256d per sum, element i in lane i % 4. The
 * operations are the scalar ones (float scale * code, then double multiplies and
 * adds, no fused multiply-add), so every lane holds the scalar lane's bits.
 *
 * Each lane's sums are one chain of dependent adds, so the sums run at the add
 * latency; the histogram's work (sums_hist below) fills those cycles when both
 * are wanted, without changing what either computes. */
typedef struct {
    __m256d sw2, se2, sq2, swq, maxe, maxw;
    __m128i neg, zer, pos;
} sums_acc;

static inline __attribute__((always_inline)) void sums_step4(sums_acc *a, const float *w, const int8_t *codes, __m128 vs)
{
    const __m256d sign = _mm256_set1_pd(-0.0);
    int32_t c4;
    memcpy(&c4, codes, 4);
    __m128i ci = _mm_cvtepi8_epi32(_mm_cvtsi32_si128(c4));
    __m256d q = _mm256_cvtps_pd(_mm_mul_ps(vs, _mm_cvtepi32_ps(ci)));
    __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(w));
    __m256d e = _mm256_sub_pd(x, q);
    a->sw2 = _mm256_add_pd(a->sw2, _mm256_mul_pd(x, x));
    a->se2 = _mm256_add_pd(a->se2, _mm256_mul_pd(e, e));
    a->sq2 = _mm256_add_pd(a->sq2, _mm256_mul_pd(q, q));
    a->swq = _mm256_add_pd(a->swq, _mm256_mul_pd(x, q));
    a->maxe = _mm256_max_pd(a->maxe, _mm256_andnot_pd(sign, e));
    a->maxw = _mm256_max_pd(a->maxw, _mm256_andnot_pd(sign, x));
    a->neg = _mm_sub_epi32(a->neg, _mm_cmplt_epi32(ci, _mm_setzero_si128()));
    a->zer = _mm_sub_epi32(a->zer, _mm_cmpeq_epi32(ci, _mm_setzero_si128()));
    a->pos = _mm_sub_epi32(a->pos, _mm_cmpgt_epi32(ci, _mm_setzero_si128()));
}

/* Elements [i, n) in the scalar way, into the lanes the scalar code puts them,
 * then the lanes added in order. */
static void sums_finish(const sums_acc *a, const float *w, const int8_t *codes, uint64_t i, uint64_t n,
                        float scale, bnq_stat_sums *out)
{
    double l_sw2[4], l_se2[4], l_sq2[4], l_swq[4], l_me[4], l_mw[4];
    _mm256_storeu_pd(l_sw2, a->sw2);
    _mm256_storeu_pd(l_se2, a->se2);
    _mm256_storeu_pd(l_sq2, a->sq2);
    _mm256_storeu_pd(l_swq, a->swq);
    _mm256_storeu_pd(l_me, a->maxe);
    _mm256_storeu_pd(l_mw, a->maxw);
    uint32_t cn[4], cz[4], cp[4];
    _mm_storeu_si128((__m128i *)cn, a->neg);
    _mm_storeu_si128((__m128i *)cz, a->zer);
    _mm_storeu_si128((__m128i *)cp, a->pos);
    bnq_stat_sums p = {0};
    for (int k = 0; k < 4; k++) {
        p.maxe = fmax(p.maxe, l_me[k]);
        p.maxw = fmax(p.maxw, l_mw[k]);
        p.neg += cn[k], p.zero += cz[k], p.pos += cp[k];
    }
    for (; i < n; i++) {
        double x = (double)w[i], q = (double)(scale * (float)codes[i]), e = x - q;
        l_sw2[i % 4] += x * x;
        l_se2[i % 4] += e * e;
        l_sq2[i % 4] += q * q;
        l_swq[i % 4] += x * q;
        p.maxe = fmax(p.maxe, fabs(e));
        p.maxw = fmax(p.maxw, fabs(x));
        p.neg += codes[i] < 0;
        p.zero += codes[i] == 0;
        p.pos += codes[i] > 0;
    }
    for (int k = 0; k < 4; k++) {
        p.sw2 += l_sw2[k];
        p.se2 += l_se2[k];
        p.sq2 += l_sq2[k];
        p.swq += l_swq[k];
    }
    *out = p;
}

int bnq_stat_sums_avx2(const float *w, const int8_t *codes, uint64_t n, float scale, bnq_stat_sums *out)
{
    const __m128 vs = _mm_set1_ps(scale);
    sums_acc a = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                  _mm256_setzero_pd(), _mm256_setzero_pd(), _mm_setzero_si128(), _mm_setzero_si128(),
                  _mm_setzero_si128()};
    uint64_t i = 0;
    for (; i + 4 <= n; i += 4)
        sums_step4(&a, w + i, codes + i, vs);
    sums_finish(&a, w, codes, i, n, scale, out);
    return 0;
}

/* The exact bin of magnitude bits u (finite) from the edges, starting near guess. */
static uint32_t edge_bin(const bnq_hist_edges *h, uint32_t u, uint32_t guess)
{
    uint32_t b = guess < BN_QSTAT_BINS ? guess : BN_QSTAT_BINS - 1;
    while (b > 0 && u < h->edge[b])
        b--;
    while (b < BN_QSTAT_BINS - 1 && u >= h->edge[b + 1])
        b++;
    return b;
}

/* One histogram per lane (cnt[l][bin] at cnt + 64·l + bin): no store-to-load
 * chains between the lanes' increments. */
typedef struct {
    uint32_t cnt[8][BN_QSTAT_BINS];
    __m256i bad; /* lanes that saw NaN/Inf */
} hist_acc;

static inline __attribute__((always_inline)) void hist_step8(hist_acc *a, const float *w, const bnq_hist_edges *h)
{
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), finmax = _mm256_set1_epi32(0x7f7fffff);
    const __m256 k = _mm256_set1_ps(h->k), top = _mm256_set1_ps((float)(BN_QSTAT_BINS - 1));
    const __m256 eps = _mm256_set1_ps(1.0f / 4096), one_eps = _mm256_set1_ps(1.0f - 1.0f / 4096);
    const __m256i lane_base = _mm256_setr_epi32(0, 64, 128, 192, 256, 320, 384, 448);
    uint32_t *flat = &a->cnt[0][0];
    __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)w), absmask);
    a->bad = _mm256_or_si256(a->bad, _mm256_cmpgt_epi32(u, finmax));
    /* p = |w|·k is within 2^-17 of the exact position |w| / unit / hist_max · BINS
     * (float rounding of k and p, at most 64·2^-22), so floor(p) is the exact bin
     * unless p lies that close to an integer: then the edges decide */
    __m256 p = _mm256_min_ps(_mm256_mul_ps(_mm256_castsi256_ps(u), k), top);
    __m256 f = _mm256_sub_ps(p, _mm256_floor_ps(p));
    __m256 near = _mm256_or_ps(_mm256_cmp_ps(f, eps, _CMP_LT_OQ), _mm256_cmp_ps(f, one_eps, _CMP_GT_OQ));
    __m256i idx = _mm256_add_epi32(_mm256_cvttps_epi32(p), lane_base);
    int m = _mm256_movemask_ps(near);
    if (m) { /* rare: a lane within 2^-12 of a bin edge */
        uint32_t ii[8], uu[8];
        _mm256_storeu_si256((__m256i *)ii, idx);
        _mm256_storeu_si256((__m256i *)uu, u);
        for (int l = 0; l < 8; l++)
            if (m >> l & 1)
                ii[l] = 64u * (uint32_t)l + edge_bin(h, uu[l], ii[l] - 64u * (uint32_t)l);
        idx = _mm256_loadu_si256((const __m256i *)ii);
    }
    /* the eight counter indices straight from the register, two per 64-bit move */
    __m128i lo = _mm256_castsi256_si128(idx), hi = _mm256_extracti128_si256(idx, 1);
    uint64_t x0 = (uint64_t)_mm_cvtsi128_si64(lo), x1 = (uint64_t)_mm_extract_epi64(lo, 1);
    uint64_t x2 = (uint64_t)_mm_cvtsi128_si64(hi), x3 = (uint64_t)_mm_extract_epi64(hi, 1);
    flat[(uint32_t)x0]++;
    flat[x0 >> 32]++;
    flat[(uint32_t)x1]++;
    flat[x1 >> 32]++;
    flat[(uint32_t)x2]++;
    flat[x2 >> 32]++;
    flat[(uint32_t)x3]++;
    flat[x3 >> 32]++;
}

/* Elements [i, n) one by one, then the lanes' counts into hist; -1 on NaN/Inf. */
static int hist_finish(const hist_acc *a, const float *w, uint64_t i, uint64_t n, const bnq_hist_edges *h,
                       uint64_t *hist)
{
    if (!_mm256_testz_si256(a->bad, a->bad))
        return -1;
    uint32_t tail[BN_QSTAT_BINS] = {0};
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, w + i, 4);
        u &= 0x7fffffffu;
        if (u > 0x7f7fffffu)
            return -1;
        tail[edge_bin(h, u, 0)]++;
    }
    for (int b = 0; b < BN_QSTAT_BINS; b++) {
        hist[b] += tail[b];
        for (int l = 0; l < 8; l++)
            hist[b] += a->cnt[l][b];
    }
    return 0;
}

int bnq_stat_hist_avx2(const float *w, uint64_t n, const bnq_hist_edges *h, uint64_t *hist)
{
    hist_acc a;
    memset(&a, 0, sizeof a);
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8)
        hist_step8(&a, w + i, h);
    return hist_finish(&a, w, i, n, h, hist);
}

int bnq_stat_sums_hist_avx2(const float *w, const int8_t *codes, uint64_t n, float scale, const bnq_hist_edges *h,
                            bnq_stat_sums *sums, uint64_t *hist)
{
    const __m128 vs = _mm_set1_ps(scale);
    sums_acc a = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                  _mm256_setzero_pd(), _mm256_setzero_pd(), _mm_setzero_si128(), _mm_setzero_si128(),
                  _mm_setzero_si128()};
    hist_acc ha;
    memset(&ha, 0, sizeof ha);
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        sums_step4(&a, w + i, codes + i, vs);
        hist_step8(&ha, w + i, h);
        sums_step4(&a, w + i + 4, codes + i + 4, vs);
    }
    if (hist_finish(&ha, w, i, n, h, hist) != 0)
        return -1;
    for (; i + 4 <= n; i += 4)
        sums_step4(&a, w + i, codes + i, vs);
    sums_finish(&a, w, codes, i, n, scale, sums);
    return 0;
}

/* ---- I2_S and offline-packed HF weights ---------------------------------------------- */

/* I2_S: byte g of a 128-code block = (c[g]+1) << 6 | (c[g+32]+1) << 4 | (c[g+64]+1) << 2 |
 * (c[g+96]+1), the same doubling trick as TQ2_0 with the fields in the other order. */
int bnq_pack_i2s_row_avx2(const int8_t *c, int64_t ne0, uint8_t *o)
{
    const __m256i one = _mm256_set1_epi8(1), two = _mm256_set1_epi8(2);
    __m256i ok = _mm256_set1_epi8(-1);
    for (int64_t b = 0; b < ne0 / 128; b++) {
        __m256i acc = _mm256_setzero_si256();
        for (int l = 0; l < 4; l++) {
            __m256i t = _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(c + 128 * b + 32 * l)), one);
            ok = _mm256_and_si256(ok, _mm256_cmpeq_epi8(_mm256_max_epu8(t, two), two));
            acc = _mm256_add_epi8(acc, acc);
            acc = _mm256_add_epi8(acc, acc);
            acc = _mm256_add_epi8(acc, t);
        }
        _mm256_storeu_si256((__m256i *)(o + 32 * b), acc);
    }
    return _mm256_movemask_epi8(ok) == -1 ? 0 : -1;
}

/* codes[(r + q·R)·C + c] = field q of packed[r·C + c] - 1 for c in [0, C): one packed
 * row into its four output rows; -1 (nothing promised) on a field holding 3. */
int bnq_unpack_hf_row_avx2(const uint8_t *packed, size_t C, size_t R, size_t r, int8_t *codes)
{
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256i bad = _mm256_setzero_si256();
    size_t c = 0;
    for (; c + 32 <= C; c += 32) {
        __m256i b = _mm256_loadu_si256((const __m256i *)(packed + r * C + c));
        for (int q = 0; q < 4; q++) {
            /* 16-bit shifts move bits across bytes; the mask keeps each byte's own */
            __m256i v = _mm256_and_si256(_mm256_srli_epi16(b, 2 * q), m3);
            bad = _mm256_or_si256(bad, _mm256_cmpeq_epi8(v, m3));
            _mm256_storeu_si256((__m256i *)(codes + (r + (size_t)q * R) * C + c), _mm256_sub_epi8(v, one));
        }
    }
    for (; c < C; c++) {
        uint8_t b = packed[r * C + c];
        for (int q = 0; q < 4; q++) {
            int v = (b >> (2 * q)) & 3;
            if (v == 3)
                return -1;
            codes[(r + (size_t)q * R) * C + c] = (int8_t)(v - 1);
        }
    }
    return _mm256_testz_si256(bad, bad) ? 0 : -1;
}

/* ---- F16 ------------------------------------------------------------------------------- */

/* vcvtps2ph with round-to-nearest-even gives bn_f32_to_f16's bits for every finite
 * float (overflow to Inf at 65520, subnormal halves rounded to even); NaN payloads
 * may differ, so groups of 8 holding NaN or Inf are left to the caller. Returns the
 * count done from the start (a multiple of 8, up to the first such group). */
size_t bnq_f32_to_f16_avx2(const float *x, size_t n, uint8_t *out)
{
    const __m256i expmask = _mm256_set1_epi32(0x7f800000);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256i e = _mm256_and_si256(_mm256_castps_si256(v), expmask);
        if (!_mm256_testz_si256(_mm256_cmpeq_epi32(e, expmask), _mm256_set1_epi32(-1)))
            break;
        _mm_storeu_si128((__m128i *)(out + 2 * i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    return i;
}

#else /* not x86-64: the scalar code runs */

int bnq_have_avx2(void) { return 0; }
int bnq_scan_chunk_avx2(const float *w, uint64_t n, bnq_scan_part *p)
{
    (void)w, (void)n, (void)p;
    return -1;
}
int bnq_absmean_codes_avx2(const float *w, uint64_t n, float rs, int8_t *codes, uint64_t *nz,
                           float *zero_max)
{
    (void)w, (void)n, (void)rs, (void)codes, (void)nz, (void)zero_max;
    return -1;
}
int bnq_pack_tq2_row_avx2(const int8_t *c, int64_t ne0, uint16_t d_half, uint8_t *o)
{
    (void)c, (void)ne0, (void)d_half, (void)o;
    return -1;
}
int bnq_stat_sums_avx2(const float *w, const int8_t *codes, uint64_t n, float scale, bnq_stat_sums *p)
{
    (void)w, (void)codes, (void)n, (void)scale, (void)p;
    return -1;
}
size_t bnq_f32_to_f16_avx2(const float *x, size_t n, uint8_t *out)
{
    (void)x, (void)n, (void)out;
    return 0;
}
int bnq_pack_i2s_row_avx2(const int8_t *c, int64_t ne0, uint8_t *o)
{
    (void)c, (void)ne0, (void)o;
    return -1;
}
int bnq_unpack_hf_row_avx2(const uint8_t *packed, size_t C, size_t R, size_t r, int8_t *codes)
{
    (void)packed, (void)C, (void)R, (void)r, (void)codes;
    return -1;
}
int bnq_stat_hist_avx2(const float *w, uint64_t n, const bnq_hist_edges *h, uint64_t *hist)
{
    (void)w, (void)n, (void)h, (void)hist;
    return -1;
}
int bnq_stat_sums_hist_avx2(const float *w, const int8_t *codes, uint64_t n, float scale, const bnq_hist_edges *h,
                            bnq_stat_sums *sums, uint64_t *hist)
{
    (void)w, (void)codes, (void)n, (void)scale, (void)h, (void)sums, (void)hist;
    return -1;
}

#endif
