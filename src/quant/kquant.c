/*
 * kquant.c - the K-quant packers for embeddings and the head: Q6_K and Q4_K
 * (FORMATS.md §2.3), byte for byte those of ggml's reference quantizers
 * (quantize_row_q6_K_ref, quantize_row_q4_K_ref: what llama-quantize runs for
 * --token-embedding-type / --output-tensor-type without an importance matrix),
 * and their dequantizers.
 *
 * Exactness. The reference is a search over float candidates; a different
 * rounding anywhere picks another scale and other bytes. So every float
 * operation here is the reference's, in its order. Which multiply-adds are
 * fused depends on how the reference was BUILT, so there are two variants:
 *  - fused (BN_KQ_FMA, the default): bitnet.cpp's build (clang -march=native;
 *    clang's default -ffp-contract=on fuses `a += b * c` and `a * b + c`
 *    written as one expression): fmaf() at exactly those places;
 *  - plain (BN_KQ_PLAIN): upstream llama.cpp's (ggml-base is compiled with gcc
 *    and no -march, so nothing is fused).
 * Both are checked against the engines' own llama-quantize (fixtures/kquant).
 * fmaf is exactly rounded, so the result does not depend on whether the CPU
 * has an FMA unit; on x86-64 the search is also compiled for FMA CPUs
 * (target_clones) only for speed. Two
 * more details carry the bytes: nearest_int() is ggml's magic-number rounding
 * (round half to even for |x| < 2^22, the reference's own domain), and fp16
 * conversion rounds to nearest even (bn_f32_to_f16, as F16C's cvtss2sh).
 *
 * Block layouts (QK_K = 256 elements, little-endian):
 *   Q6_K 210 bytes: ql[128] qh[64] scales[16] (int8) d (fp16);
 *        x = d * scales[j] * (q - 32), j = element / 16, q in 0..63.
 *   Q4_K 144 bytes: d dmin (fp16) scales[12] (6-bit scale/min pairs) qs[128];
 *        x = d * sc[j] * q - dmin * m[j], j = element / 32, q in 0..15.
 */
#include "bn/quant.h"

#include <math.h>
#include <string.h>

#include "bn/gguf.h"
#include "quant/quant_internal.h"

/* The FMAs are written out; nothing else may be fused. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define KQ_CLONES __attribute__((target_clones("fma", "default")))
#else
#define KQ_CLONES
#endif

#define QK_K 256
#define GROUP_MAX_EPS 1e-15f /* ggml's all-zero threshold for a group */

/* ggml's nearest_int: add 1.5 * 2^23 so the integer lands in the low mantissa
 * bits (round to nearest even), then read it back. Defined for |f| <= 2^22 - 1;
 * outside that it returns what the reference returns (the same bit trick). */
static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* a * b + c as the reference build computes it: fused (one rounding) where the
 * compiler contracted it, two roundings where it did not. */
static inline float kq_fma(int fused, float a, float b, float c) { return fused ? fmaf(a, b, c) : a * b + c; }

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* ---- Q6_K ----------------------------------------------------------------- */

/* make_qx_quants(n, nmax, x, L, rmse_type 1, no weights): the scale of one
 * group that best fits x with integers in [-nmax, nmax-1] under weights x²,
 * trying iscale = -(nmax + 0.1 is)/max for is in -9..9. L gets l + nmax. */
KQ_CLONES static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int fused)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx = kq_fma(fused, w * x[i], (float)l, sumlx);
        suml2 = kq_fma(fused, w * (float)l, (float)l, suml2);
    }
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -kq_fma(fused, 0.1f, (float)is, (float)nmax) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx = kq_fma(fused, w * x[i], (float)l, sumlx);
            suml2 = kq_fma(fused, w * (float)l, (float)l, suml2);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* One 256-element block -> 210 bytes (quantize_row_q6_K_ref). */
static void q6k_block(const float *x, uint8_t *out, int fused)
{
    int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ib++) {
        float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, fused);
        scales[ib] = scale;
        if (fabsf(scale) > max_abs_scale) {
            max_abs_scale = fabsf(scale);
            max_scale = scale;
        }
    }
    uint8_t *ql = out, *qh = out + 128, *sc = out + 192, *dp = out + 208;
    if (max_abs_scale < GROUP_MAX_EPS) {
        memset(out, 0, 210); /* d = +0 */
        return;
    }
    float iscale = -128.f / max_scale;
    uint16_t dh = bn_f32_to_f16(1 / iscale);
    put_u16(dp, dh);
    for (int ib = 0; ib < QK_K / 16; ib++)
        sc[ib] = (uint8_t)(int8_t)imin(127, nearest_int(iscale * scales[ib]));
    float df = bn_f16_to_f32(dh);
    for (int j = 0; j < QK_K / 16; j++) {
        float d = df * (float)(int8_t)sc[j];
        if (d == 0.f)
            continue; /* the group keeps make_qx_quants' levels */
        for (int ii = 0; ii < 16; ii++) {
            int l = imax(-32, imin(31, nearest_int(x[16 * j + ii] / d)));
            L[16 * j + ii] = (int8_t)(l + 32);
        }
    }
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            uint8_t q1 = (uint8_t)L[j + l], q2 = (uint8_t)L[j + l + 32];
            uint8_t q3 = (uint8_t)L[j + l + 64], q4 = (uint8_t)L[j + l + 96];
            ql[l] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
            ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
            qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
        }
        ql += 64;
        qh += 32;
    }
}

void bn_dequant_row_q6_k(const uint8_t *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++) {
        const uint8_t *ql = src, *qh = src + 128, *sc = src + 192;
        float d = bn_f16_to_f32(get_u16(src + 208));
        float *y = dst + b * QK_K;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int is = 8 * h + l / 16;
                int q1 = (ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4;
                int q2 = (ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4;
                int q3 = (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4;
                int q4 = (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4;
                /* ggml's order: (d * scale) * q */
                y[l] = d * (float)(int8_t)sc[is] * (float)(q1 - 32);
                y[l + 32] = d * (float)(int8_t)sc[is + 2] * (float)(q2 - 32);
                y[l + 64] = d * (float)(int8_t)sc[is + 4] * (float)(q3 - 32);
                y[l + 96] = d * (float)(int8_t)sc[is + 6] * (float)(q4 - 32);
            }
            ql += 64;
            qh += 32;
            y += 128;
        }
        src += 210;
    }
}

/* ---- Q4_K ----------------------------------------------------------------- */

/* make_qkx2_quants(n, nmax, x, weights, L, &min, Laux, rmin, rdelta, nstep,
 * use_mad false): an affine fit x ~ scale * L - min with L in [0, nmax],
 * least weighted squares over iscale = (rmin + rdelta is + nmax)/(max - min),
 * is = 0..nstep. Returns the scale; *the_min gets -min (>= 0). */
KQ_CLONES static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights,
                                        uint8_t *L, float *the_min, uint8_t *Laux, float rmin,
                                        float rdelta, int nstep, int fused)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x = kq_fma(fused, w, x[i], sum_x);
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_mad = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = kq_fma(fused, scale, (float)L[i], min) - x[i];
        diff = diff * diff;
        best_mad = kq_fma(fused, weights[i], diff, best_mad);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (kq_fma(fused, rdelta, (float)is, rmin) + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            float w = weights[i], fl = (float)l;
            sum_l = kq_fma(fused, w, fl, sum_l);
            sum_l2 = kq_fma(fused, w * fl, fl, sum_l2);
            sum_xl = kq_fma(fused, w * fl, x[i], sum_xl);
        }
        float D = kq_fma(fused, sum_w, sum_l2, -(sum_l * sum_l));
        if (D > 0) {
            float this_scale = kq_fma(fused, sum_w, sum_xl, -(sum_x * sum_l)) / D;
            float this_min = kq_fma(fused, sum_l2, sum_x, -(sum_l * sum_xl)) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; i++) {
                float diff = kq_fma(fused, this_scale, (float)Laux[i], this_min) - x[i];
                diff = diff * diff;
                mad = kq_fma(fused, weights[i], diff, mad);
            }
            if (mad < best_mad) {
                memcpy(L, Laux, (size_t)n);
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* The 6-bit scale and min of group j from the 12 packed bytes (get_scale_min_k4). */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

void bn_kquant_scale_min_k4(int j, const uint8_t *scales12, uint8_t *sc, uint8_t *m)
{
    scale_min_k4(j, scales12, sc, m);
}

/* One 256-element block -> 144 bytes (quantize_row_q4_K_ref). */
KQ_CLONES static void q4k_block(const float *x, uint8_t *out, int fused)
{
    uint8_t L[QK_K], Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 = kq_fma(fused, x[32 * j + l], x[32 * j + l], sum_x2);
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f,
                                     0.1f, 20, fused);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    uint8_t *sc = out + 4, *qs = out + 16;
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        /* the reference stores nearest_int's value in a uint8_t, then caps it */
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    uint16_t dh = bn_f32_to_f16(max_scale / 63.f), mh = bn_f32_to_f16(max_min / 63.f);
    put_u16(out, dh);
    put_u16(out + 2, mh);
    float df = bn_f16_to_f32(dh), mf = bn_f16_to_f32(mh);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t s, m;
        scale_min_k4(j, sc, &s, &m);
        float d = df * (float)s;
        if (d == 0.f)
            continue; /* the group keeps make_qkx2_quants' levels */
        float dm = mf * (float)m;
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t)imax(0, imin(15, nearest_int((x[32 * j + ii] + dm) / d)));
    }
    for (int j = 0; j < QK_K; j += 64) {
        for (int l = 0; l < 32; l++)
            qs[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        qs += 32;
    }
}

void bn_dequant_row_q4_k(const uint8_t *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++) {
        float d = bn_f16_to_f32(get_u16(src)), dmin = bn_f16_to_f32(get_u16(src + 2));
        const uint8_t *sc = src + 4, *q = src + 16;
        float *y = dst + b * QK_K;
        for (int j = 0; j < QK_K; j += 64) {
            uint8_t s, m;
            scale_min_k4(j / 32, sc, &s, &m);
            float d1 = d * (float)s, m1 = dmin * (float)m;
            scale_min_k4(j / 32 + 1, sc, &s, &m);
            float d2 = d * (float)s, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                y[j + l] = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                y[j + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
            q += 32;
        }
        src += 144;
    }
}

/* ---- rows ----------------------------------------------------------------- */

void bnq_kquant_row(bn_type t, const float *x, int64_t n, int fused, uint8_t *out)
{
    for (int64_t b = 0; b < n / QK_K; b++) {
        if (t == BN_TYPE_Q6_K)
            q6k_block(x + b * QK_K, out + (size_t)b * 210, fused);
        else
            q4k_block(x + b * QK_K, out + (size_t)b * 144, fused);
    }
}
