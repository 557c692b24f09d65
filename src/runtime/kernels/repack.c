/*
 * repack.c - runtime layouts of ternary weights (kernels.h "runtime
 * layouts"): TQ1_0 blocks rewritten as TQ2_0 blocks with the same trits
 * and the same fp16 d bytes.
 *
 * TQ1_0 (FORMATS.md 2.2) keeps five trits a byte as base-3 digits: qs[m]
 * (m < 32) holds elements m + 32n, qs[32 + m] (m < 16) elements
 * 160 + m + 16n, qh[j] elements 240 + j + 4n (n = 0..3), trit n of byte b
 * being ((uint8)(b * 3^n) * 3) >> 8 - the decode every kernel uses. TQ2_0
 * keeps element 128j + 32l + m in bits 2l of qs[32j + m]. So, with f(b) the
 * five 2-bit trits of b (trit n at bits 2n):
 *   qs2[m]      = f(qs1[m]) & 0xff                      elements m + 32l
 *   qs2[32 + m] = trit 4 of qs1[m]                      element 128 + m
 *               | (m < 16: trits 0, 2, 4 of qs1[32 + m]  elements 160/192/224 + m;
 *                  else:   trits 1, 3 of qs1[16 + m]     elements 176/208 + m - 16,
 *                          trit (m - 16) / 4 of qh[m % 4] element 240 + m - 16) << 2, 4, 6
 * Every byte of a TQ1_0 block decodes to trits 0..2, so the TQ2_0 block
 * never holds the 0b11 field, and its sums are the TQ1_0 block's exactly.
 */
#include "kern.h"

/* f(b): the five trits of b, trit n at bits 2n..2n+1 (10 bits). */
static void trit_table(uint16_t t[256])
{
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    for (int b = 0; b < 256; b++) {
        uint16_t v = 0;
        for (int n = 0; n < 5; n++)
            v |= (uint16_t)((((uint8_t)(b * pow3[n])) * 3 >> 8) << (2 * n));
        t[b] = v;
    }
}

static inline uint8_t trit(const uint16_t t[256], uint8_t b, int n)
{
    return (uint8_t)(t[b] >> (2 * n) & 3);
}

static void block_tq1_to_tq2(const uint16_t t[256], const uint8_t *in, uint8_t *out)
{
    const uint8_t *qs = in, *qh = in + 48;
    for (int m = 0; m < 32; m++)
        out[m] = (uint8_t)t[qs[m]];
    for (int m = 0; m < 16; m++)
        out[32 + m] = (uint8_t)(trit(t, qs[m], 4) | trit(t, qs[32 + m], 0) << 2 |
                                trit(t, qs[32 + m], 2) << 4 | trit(t, qs[32 + m], 4) << 6);
    for (int m = 16; m < 32; m++)
        out[32 + m] = (uint8_t)(trit(t, qs[m], 4) | trit(t, qs[16 + m], 1) << 2 |
                                trit(t, qs[16 + m], 3) << 4 | trit(t, qh[m % 4], (m - 16) / 4) << 6);
    out[64] = in[52]; /* d, byte for byte */
    out[65] = in[53];
}

void bn_qmat_tq1_to_tq2_rows(const bn_qmat *src, int64_t r0, int64_t r1, uint8_t *dst)
{
    uint16_t t[256];
    trit_table(t);
    const int64_t nb = src->ne0 / BN_QK;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *in = src->data + (size_t)r * src->row_bytes;
        uint8_t *out = dst + (size_t)r * (size_t)nb * BN_TQ2_BLOCK_BYTES;
        for (int64_t b = 0; b < nb; b++)
            block_tq1_to_tq2(t, in + b * BN_TQ1_BLOCK_BYTES, out + b * BN_TQ2_BLOCK_BYTES);
    }
}
