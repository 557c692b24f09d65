/*
 * basic.c - the reference kernel: one weight element at a time, addressed
 * straight from the layouts in FORMATS.md 2.1 and 2.2. Slow and obviously
 * correct; every other kernel is tested against it.
 */
#include "kern.h"

/* 2-bit code of element k (0 <= k < ne0) of an I2_S row: block k/128, byte
 * k%32 of the block, bit pair 7:6 / 5:4 / 3:2 / 1:0 for (k%128)/32 = 0..3. */
static int i2s_code(const uint8_t *row, int64_t k)
{
    uint8_t byte = row[(k / 128) * 32 + k % 32];
    int shift = 6 - 2 * (int)((k % 128) / 32);
    return (byte >> shift) & 3;
}

/* Trit (0..3) of element k (0 <= k < 256) of a TQ2_0 block: byte 32j + m,
 * bits 2l..2l+1, with j = k/128, l = (k%128)/32, m = k%32. */
static int tq2_trit(const uint8_t *blk, int k)
{
    int j = k / 128, l = (k % 128) / 32, m = k % 32;
    return (blk[32 * j + m] >> (2 * l)) & 3;
}

/* Trit (0..2) of element k of a TQ1_0 block: qs[0..31] hold k = m + 32n,
 * qs[32..47] hold 160 + m + 16n, qh[0..3] hold 240 + j + 4n. */
static int tq1_trit(const uint8_t *blk, int k)
{
    if (k < 160)
        return bn_kern_tq1_trit(blk[k % 32], k / 32);
    if (k < 240)
        return bn_kern_tq1_trit(blk[32 + (k - 160) % 16], (k - 160) / 16);
    return bn_kern_tq1_trit(blk[48 + (k - 240) % 4], (k - 240) / 4);
}

static void dot_i2s(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    for (int64_t t = t0; t < t1; t++) {
        const int8_t *q = x->q + t * x->ne0;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = bn_kern_row(w, r);
            int32_t s = 0;
            for (int64_t k = 0; k < w->ne0; k++)
                s += i2s_code(row, k) * q[k];
            *acc++ = s;
        }
    }
}

/* Shared by both TQ types: per 256-block sums of (trit - 1) * q. */
static void dot_tq(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                   int64_t t0, int64_t t1, int32_t *acc,
                   int (*trit)(const uint8_t *, int), size_t block_bytes)
{
    int64_t nb = w->ne0 / BN_QK;
    for (int64_t t = t0; t < t1; t++) {
        const int8_t *q = x->q + t * x->ne0;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = bn_kern_row(w, r);
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = row + (size_t)b * block_bytes;
                const int8_t *qb = q + b * BN_QK;
                int32_t s = 0;
                for (int k = 0; k < BN_QK; k++)
                    s += (trit(blk, k) - 1) * qb[k];
                *acc++ = s;
            }
        }
    }
}

static void dot_tq2(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    dot_tq(w, x, r0, r1, t0, t1, acc, tq2_trit, BN_TQ2_BLOCK_BYTES);
}

static void dot_tq1(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    dot_tq(w, x, r0, r1, t0, t1, acc, tq1_trit, BN_TQ1_BLOCK_BYTES);
}

static int always(void) { return 1; }

const bn_kernel bnr_kernel_basic = {
    .name = "basic",
    .desc = "scalar reference, one element at a time",
    .available = always,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq2,
    .dot_tq1 = dot_tq1,
};
