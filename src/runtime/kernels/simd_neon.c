/*
 * simd_neon.c - aarch64 kernel with the dot-product extension: vdotq_s32
 * adds four int8 x int8 products into each int32 lane (no int16 stage, no
 * saturation). Per call a lane gains at most 4 * 3 * 128 = 1536; totals obey
 * kernels.h contract 2.
 *
 * I2_S multiplies the codes 0..3 (bitnet.cpp's code sums); TQ types decode
 * straight to trit - 1 (signed dot, so no block-sum correction is needed).
 * Decoded blocks sit in registers (16 x 16 bytes) and serve every token of
 * the call. The file is compiled for armv8.2-a+dotprod via a target pragma;
 * neon_available() checks HWCAP_ASIMDDP before anything here runs.
 */
#if defined(__aarch64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif

#include <arm_neon.h>
#include <sys/auxv.h>
#include "kern.h"

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

#define TOKS 4

static void dot_i2s(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    const uint8x16_t m3 = vdupq_n_u8(3);
    const int64_t nblk = w->ne0 / 128, nrows = r1 - r0;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = bn_kern_row(w, r);
        for (int64_t tc = t0; tc < t1; tc += TOKS) {
            const int nt = (int)(t1 - tc < TOKS ? t1 - tc : TOKS);
            int32x4_t a[TOKS];
            for (int i = 0; i < TOKS; i++)
                a[i] = vdupq_n_s32(0);
            for (int64_t b = 0; b < nblk; b++) {
                int8x16_t c[8]; /* c[2j + h] pairs with q[32j + 16h .. +15] */
                for (int h = 0; h < 2; h++) {
                    uint8x16_t v = vld1q_u8(row + 32 * b + 16 * h);
                    c[0 + h] = vreinterpretq_s8_u8(vshrq_n_u8(v, 6));
                    c[2 + h] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 4), m3));
                    c[4 + h] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 2), m3));
                    c[6 + h] = vreinterpretq_s8_u8(vandq_u8(v, m3));
                }
                for (int i = 0; i < nt; i++) {
                    const int8_t *q = x->q + (tc + i) * x->ne0 + 128 * b;
                    for (int k = 0; k < 8; k++)
                        a[i] = vdotq_s32(a[i], c[k], vld1q_s8(q + 16 * k));
                }
            }
            for (int i = 0; i < nt; i++)
                acc[(tc + i - t0) * nrows + (r - r0)] = vaddvq_s32(a[i]);
        }
    }
}

/* TQ2_0: qs[32j + 16h + m'] bits 2l.. -> element 128j + 32l + 16h + m'. */
static inline void decode_tq2(const uint8_t *blk, int8x16_t c[16])
{
    const uint8x16_t m3 = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    for (int j = 0; j < 2; j++)
        for (int h = 0; h < 2; h++) {
            uint8x16_t v = vld1q_u8(blk + 32 * j + 16 * h);
            c[8 * j + 0 + h] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m3)), one);
            c[8 * j + 2 + h] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 2), m3)), one);
            c[8 * j + 4 + h] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 4), m3)), one);
            c[8 * j + 6 + h] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 6)), one);
        }
}

/* trit - 1 of each byte times its power of 3: u = (uint8)(b * p), t = (u*3) >> 8. */
static inline int8x16_t trits(uint8x16_t v, uint8x16_t pow)
{
    const uint8x8_t three = vdup_n_u8(3);
    uint8x16_t u = vmulq_u8(v, pow);
    uint8x8_t lo = vshrn_n_u16(vmull_u8(vget_low_u8(u), three), 8);
    uint8x8_t hi = vshrn_n_u16(vmull_u8(vget_high_u8(u), three), 8);
    return vsubq_s8(vreinterpretq_s8_u8(vcombine_u8(lo, hi)), vdupq_n_s8(1));
}

/* TQ1_0: qs[m] trit n -> m + 32n; qs[32+m] trit n -> 160 + m + 16n;
 * qh[j] trit n -> 240 + j + 4n. */
static inline void decode_tq1(const uint8_t *blk, int8x16_t c[16])
{
    static const uint8_t p3[5] = {1, 3, 9, 27, 81};
    static const uint8_t qh_pow[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t a0 = vld1q_u8(blk), a1 = vld1q_u8(blk + 16), b = vld1q_u8(blk + 32);
    for (int n = 0; n < 5; n++) {
        uint8x16_t p = vdupq_n_u8(p3[n]);
        c[2 * n] = trits(a0, p);
        c[2 * n + 1] = trits(a1, p);
        c[10 + n] = trits(b, p);
    }
    uint32_t qh;
    memcpy(&qh, blk + 48, 4);
    c[15] = trits(vreinterpretq_u8_u32(vdupq_n_u32(qh)), vld1q_u8(qh_pow));
}

static void dot_tq(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                   int64_t t0, int64_t t1, int32_t *acc)
{
    const int tq2 = w->type == BN_TYPE_TQ2_0;
    const size_t bb = tq2 ? BN_TQ2_BLOCK_BYTES : BN_TQ1_BLOCK_BYTES;
    const int64_t nb = w->ne0 / BN_QK, nrows = r1 - r0;
    int8x16_t c[16];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = bn_kern_row(w, r);
        for (int64_t b = 0; b < nb; b++) {
            if (tq2)
                decode_tq2(row + b * bb, c);
            else
                decode_tq1(row + b * bb, c);
            for (int64_t t = t0; t < t1; t++) {
                const int8_t *q = x->q + t * x->ne0 + b * BN_QK;
                int32x4_t s = vdupq_n_s32(0);
                for (int k = 0; k < 16; k++)
                    s = vdotq_s32(s, c[k], vld1q_s8(q + 16 * k));
                acc[((t - t0) * nrows + (r - r0)) * nb + b] = vaddvq_s32(s);
            }
        }
    }
}

static int neon_available(void)
{
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}

const bn_kernel bn_kernel_neon = {
    .name = "neon",
    .desc = "NEON dotprod (vdotq_s32), blocks decoded once per call",
    .available = neon_available,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq,
    .dot_tq1 = dot_tq,
};

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int bn_simd_neon_unused; /* not an aarch64 build */
#endif
