/*
 * kern.h - private pieces shared by the kernel files: the one float epilogue,
 * fp16 decoding, weight-layout helpers and the kernel table entries.
 *
 * Every kernel computes integer sums (kernels.h contract 2); the float
 * epilogue below is the only place those sums become floats, so kernels whose
 * integers agree produce identical floats bit for bit.
 *
 * No contraction: a fused multiply-add would round (float)S_b * d_b + acc
 * once instead of twice and change the last bit. GCC in ISO C mode (-std=c11,
 * as the Makefile builds) defaults to -ffp-contract=off and Clang obeys the
 * pragma below; bn_kern_epi_tq_step (the one multiply-add) additionally
 * forces the product through a volatile so even -ffp-contract=fast builds
 * give the same bits. The test suite recomputes the epilogue with every
 * rounding forced and compares bit for bit; it fails under contraction.
 */
#ifndef BN_KERN_H
#define BN_KERN_H

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <stdint.h>
#include <string.h>
#include "bn/kernels.h"

#define BN_TQ2_BLOCK_BYTES 66   /* qs[64], d */
#define BN_TQ1_BLOCK_BYTES 54   /* qs[48], qh[4], d */
#define BN_QK 256               /* TQ block (elements) */

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN). */
static inline float bn_kern_f16(const uint8_t *p)
{
    uint32_t h = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | man << 13;
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalize */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- streaming prefetch (decode) ----
 * A decode step reads every weight once, from DRAM, with little work per
 * byte, so the weights must be asked for well before they are used. The
 * decode kernels request the byte BN_KERN_PF_AHEAD past the one they read,
 * into L2 (__builtin_prefetch locality 2: prefetcht1 on x86, PLDL2KEEP on
 * AArch64), one request per cache line. Measured on Zen 4 (1 thread, an
 * I2_S row-pair kernel over 512 MiB of 2560-wide rows): 8.6 GB/s with
 * prefetcht0 2.5 KB ahead, 21-25 GB/s with prefetcht1 5-20 KB ahead, and
 * prefetcht0 that far ahead gains nothing. end: one past the tensor's last
 * byte; no request leaves the tensor. */
#define BN_KERN_PF_AHEAD 16384

static inline void bn_kern_prefetch(const uint8_t *p, const uint8_t *end)
{
    if ((size_t)(end - p) > BN_KERN_PF_AHEAD)
        __builtin_prefetch(p + BN_KERN_PF_AHEAD, 0, 2);
}

/* One past the last byte of w's rows. */
static inline const uint8_t *bn_kern_end(const bn_qmat *w)
{
    return w->data + (size_t)w->ne1 * w->row_bytes;
}

/* bn_kern_f16 of every half, indexed by its bits: filled by the matmul
 * wrappers (dispatch.c) before their first call, so a block scale costs one
 * load instead of a branchy decode once per 256 weights. */
extern float bnr_kern_f16_table[1 << 16];

/* Block scale of TQ block b of a row: the fp16 in the block's last 2 bytes,
 * through the table (the same floats as bn_kern_f16, NaN payloads too). */
static inline float bn_kern_tq_d(const bn_qmat *w, const uint8_t *row, int64_t b)
{
    size_t bb = w->type == BN_TYPE_TQ2_0 ? BN_TQ2_BLOCK_BYTES : BN_TQ1_BLOCK_BYTES;
    const uint8_t *p = row + (size_t)b * bb + bb - 2;
    return bnr_kern_f16_table[p[0] | p[1] << 8];
}

static inline const uint8_t *bn_kern_row(const bn_qmat *w, int64_t r)
{
    return w->data + (size_t)r * w->row_bytes;
}

/* ---- the epilogue (kernels.h contract 3) ---- */

/* I2_S, per-token activations: bitnet.cpp's order of operations. */
static inline float bn_kern_epi_i2s(int32_t sumi_codes, int32_t sum_q, float sa, float s_w)
{
    float v = (float)sumi_codes - (float)sum_q;
    v = v / sa;
    return v * s_w;
}

/* One TQ block folded into the running float sum; d is d_b (per-token act)
 * or d_b * dx_b (Q8_K act). Two roundings: product, then sum. The volatile
 * makes that hold under any -ffp-contract setting (once per 256-block, so
 * it costs nothing measurable); it is the only multiply-add in the module. */
static inline float bn_kern_epi_tq_step(float acc, int32_t sumi, float d)
{
    volatile float p = (float)sumi * d;
    return acc + p;
}

/* ---- TQ1_0 trit decoding (FORMATS 2.2) ---- */

/* Trit n (0 = most significant) of a base-3 fixed-point byte: 0, 1 or 2. */
static inline int bn_kern_tq1_trit(uint8_t b, int n)
{
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t u = (uint8_t)(b * pow3[n]);
    return (u * 3) >> 8;
}

/* ---- the kernels (defined in basic.c, blocked.c, lut.c, simd_*.c) ---- */

extern const bn_kernel bnr_kernel_basic;
extern const bn_kernel bnr_kernel_blocked;
extern const bn_kernel bnr_kernel_lut;
#if defined(__x86_64__)
extern const bn_kernel bnr_kernel_avx2;
extern const bn_kernel bnr_kernel_avx512;
/* simd_avx512.c: its mv_tq2, which the amx kernel shares for decode. */
void bnr_tq2_mv_avx512(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1, float *y);
#endif
#if defined(__x86_64__) && defined(__linux__)
extern const bn_kernel bnr_kernel_amx;
#endif
#if defined(__aarch64__)
extern const bn_kernel bn_kernel_neon;
#endif

/* actquant_avx512.c: bn_act_quantize_row_token and _q8k with AVX-512 (same bytes). */
int bnr_act_avx512_available(void);
void bnr_act_row_token_avx512(const float *x, int64_t n, int8_t *q, float *sa,
                                  int32_t *sum, int32_t *bsum);
void bnr_act_row_q8k_avx512(const float *x, int64_t n, int8_t *q, float *d, int32_t *sum,
                            int32_t *bsum);

#endif
