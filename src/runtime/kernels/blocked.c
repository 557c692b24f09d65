/*
 * blocked.c - portable scalar kernel with register and cache blocking.
 *
 * For a group of ROWS rows and one weight block (128 elements for I2_S, 256
 * for TQ*), the packed bytes are decoded once into int8 values; that small
 * decoded tile (ROWS x 256 bytes, in L1) is then reused for every token of
 * the call, and the inner loop updates ROWS sums per activation load. The
 * inner loops have constant trip counts and plain int8 x int8 -> int32
 * arithmetic, which compilers vectorize on any target.
 *
 * Overflow: per (row, token) the int32 sums are bounded as in kernels.h
 * contract 2 (|c| <= 3, |q| <= 128, K <= 2^20); nothing narrower is used.
 */
#include "kern.h"

#define ROWS 4

/* Decoders: block b of a row -> int8 values (I2_S: codes 0..3; TQ*: trit - 1). */
static void decode_i2s(const uint8_t *restrict row, int64_t b, int8_t *restrict v)
{
    const uint8_t *p = row + b * 32;
    for (int g = 0; g < 32; g++) {
        v[g] = (int8_t)(p[g] >> 6);
        v[g + 32] = (int8_t)((p[g] >> 4) & 3);
        v[g + 64] = (int8_t)((p[g] >> 2) & 3);
        v[g + 96] = (int8_t)(p[g] & 3);
    }
}

static void decode_tq2(const uint8_t *restrict row, int64_t b, int8_t *restrict v)
{
    const uint8_t *qs = row + b * BN_TQ2_BLOCK_BYTES;
    for (int j = 0; j < 2; j++)
        for (int l = 0; l < 4; l++)
            for (int m = 0; m < 32; m++)
                v[128 * j + 32 * l + m] = (int8_t)(((qs[32 * j + m] >> (2 * l)) & 3) - 1);
}

static void decode_tq1(const uint8_t *restrict row, int64_t b, int8_t *restrict v)
{
    const uint8_t *qs = row + b * BN_TQ1_BLOCK_BYTES, *qh = qs + 48;
    for (int n = 0; n < 5; n++) {
        for (int m = 0; m < 32; m++)
            v[32 * n + m] = (int8_t)(bn_kern_tq1_trit(qs[m], n) - 1);
        for (int m = 0; m < 16; m++)
            v[160 + 16 * n + m] = (int8_t)(bn_kern_tq1_trit(qs[32 + m], n) - 1);
    }
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < 4; j++)
            v[240 + 4 * n + j] = (int8_t)(bn_kern_tq1_trit(qh[j], n) - 1);
}

/* ROWS dot products of LEN against one activation block. */
#define DEFINE_DOT(NAME, LEN)                                                          \
    static void NAME(const int8_t (*wv)[256], int nr, const int8_t *q, int32_t *out)  \
    {                                                                                  \
        if (nr == ROWS) {                                                              \
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                    \
            for (int k = 0; k < (LEN); k++) {                                          \
                int32_t a = q[k];                                                      \
                s0 += wv[0][k] * a;                                                    \
                s1 += wv[1][k] * a;                                                    \
                s2 += wv[2][k] * a;                                                    \
                s3 += wv[3][k] * a;                                                    \
            }                                                                          \
            out[0] = s0; out[1] = s1; out[2] = s2; out[3] = s3;                        \
            return;                                                                    \
        }                                                                              \
        for (int i = 0; i < nr; i++) {                                                 \
            int32_t s = 0;                                                             \
            for (int k = 0; k < (LEN); k++)                                            \
                s += wv[i][k] * q[k];                                                  \
            out[i] = s;                                                                \
        }                                                                              \
    }
DEFINE_DOT(dot128, 128)
DEFINE_DOT(dot256, 256)

static void dot_blocked(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                        int64_t t0, int64_t t1, int32_t *acc)
{
    const int i2s = w->type == BN_TYPE_I2_S;
    const int64_t len = i2s ? 128 : BN_QK, nblk = w->ne0 / len, nrows = r1 - r0;
    const int64_t spr = i2s ? 1 : nblk;
    void (*decode)(const uint8_t *, int64_t, int8_t *) =
        i2s ? decode_i2s : w->type == BN_TYPE_TQ2_0 ? decode_tq2 : decode_tq1;
    int8_t wv[ROWS][256];
    int32_t part[ROWS];

    if (i2s)
        for (int64_t i = 0; i < (t1 - t0) * nrows; i++)
            acc[i] = 0;
    for (int64_t rg = r0; rg < r1; rg += ROWS) {
        const int nr = (int)(r1 - rg < ROWS ? r1 - rg : ROWS);
        for (int64_t b = 0; b < nblk; b++) {
            for (int i = 0; i < nr; i++)
                decode(bn_kern_row(w, rg + i), b, wv[i]);
            for (int64_t t = t0; t < t1; t++) {
                const int8_t *q = x->q + t * x->ne0 + b * len;
                if (i2s)
                    dot128((const int8_t (*)[256])wv, nr, q, part);
                else
                    dot256((const int8_t (*)[256])wv, nr, q, part);
                int32_t *out = acc + ((t - t0) * nrows + (rg - r0)) * spr;
                for (int i = 0; i < nr; i++) {
                    if (i2s)
                        out[i] += part[i];
                    else
                        out[i * spr + b] = part[i];
                }
            }
        }
    }
}

static int always(void) { return 1; }

const bn_kernel bnr_kernel_blocked = {
    .name = "blocked",
    .desc = "portable scalar, 4-row register blocking, weight block decoded once per call",
    .available = always,
    .dot_i2s = dot_blocked,
    .dot_tq2 = dot_blocked,
    .dot_tq1 = dot_blocked,
};
