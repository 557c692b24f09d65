/*
 * lut.c - activation lookup-table kernel (the T-MAC / bitnet.cpp TL idea).
 *
 * Instead of multiplying, precompute for each small group of activations the
 * sum for EVERY possible weight pattern of that group, then let the packed
 * weight bits index those tables: one table is built per token and reused by
 * every row, so the per-row work is one load and one add per group.
 *
 *  - I2_S and TQ2_0 (g = 2): a nibble holds two 2-bit codes (lo, hi), so a
 *    16-entry table T[n] = f(n & 3) * x + f(n >> 2) * y serves it, with
 *    f(c) = c for I2_S (code sums, bitnet.cpp's sumi) and f(c) = c - 1 for
 *    TQ2_0 (ternary sums). Which activations x, y a nibble pairs with follows
 *    the layouts (FORMATS 2.1, 2.2; see build_nibble_tables).
 *  - TQ1_0 (g = 5 and 4): a qs byte holds five trits, a qh byte four; the
 *    tables have 3^5 = 243 and 3^4 = 81 entries, indexed by the trit pattern
 *    v = sum t_n 3^(4-n). The byte -> pattern map is computed per call with
 *    ggml's own decoder for all 256 bytes, so even bytes a packer never
 *    writes index exactly what the other kernels compute.
 *
 * Entries are int16: |entry| <= 2 * 3 * 128 = 768 (g = 2) and
 * <= 5 * 128 = 640 (g = 5); row sums are int32 as in kernels.h contract 2.
 * Tables are built for a chunk of blocks at a time in a fixed stack buffer
 * (TABLE_BYTES), then applied to every row of the call.
 */
#include "kern.h"

#define TABLE_BYTES (64 * 1024)

/* ---- g = 2 nibble tables (I2_S, TQ2_0) ---- */

static inline void nibble_table(int16_t *t, int x, int y, int ternary)
{
    for (int hi = 0; hi < 4; hi++)
        for (int lo = 0; lo < 4; lo++)
            t[hi * 4 + lo] = (int16_t)((lo - ternary) * x + (hi - ternary) * y);
}

/* Tables for block b of one token: 2 per byte (low nibble, high nibble). */
static void build_nibble_tables(bn_type type, const int8_t *q, int64_t b, int16_t *tab)
{
    if (type == BN_TYPE_I2_S) {
        /* byte g: bits 7:6 = c[g], 5:4 = c[g+32], 3:2 = c[g+64], 1:0 = c[g+96] */
        const int8_t *qb = q + 128 * b;
        for (int g = 0; g < 32; g++) {
            nibble_table(tab + (2 * g) * 16, qb[g + 96], qb[g + 64], 0);
            nibble_table(tab + (2 * g + 1) * 16, qb[g + 32], qb[g], 0);
        }
        return;
    }
    /* TQ2_0 byte 32j+m: bits 1:0 -> 128j+m, 3:2 -> +32, 5:4 -> +64, 7:6 -> +96 */
    const int8_t *qb = q + BN_QK * b;
    for (int j = 0; j < 2; j++)
        for (int m = 0; m < 32; m++) {
            const int8_t *e = qb + 128 * j + m;
            int byte = 32 * j + m;
            nibble_table(tab + (2 * byte) * 16, e[0], e[32], 1);
            nibble_table(tab + (2 * byte + 1) * 16, e[64], e[96], 1);
        }
}

/* I2_S: 32 bytes (64 tables) per 128-block; TQ2_0: 64 bytes per 256-block. */
static void dot_nibble(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                       int64_t t0, int64_t t1, int32_t *acc)
{
    int16_t tab[TABLE_BYTES / sizeof(int16_t)];
    const int i2s = w->type == BN_TYPE_I2_S;
    const int64_t len = i2s ? 128 : BN_QK, nblk = w->ne0 / len, nrows = r1 - r0;
    const int64_t spr = i2s ? 1 : nblk, bytes = i2s ? 32 : 64;
    const size_t bstride = i2s ? 32 : BN_TQ2_BLOCK_BYTES;
    const int64_t per_blk = 2 * bytes * 16; /* int16 entries per block */
    const int64_t chunk = (int64_t)(sizeof tab / sizeof tab[0]) / per_blk;

    for (int64_t t = t0; t < t1; t++) {
        const int8_t *q = x->q + t * x->ne0;
        int32_t *out = acc + (t - t0) * nrows * spr;
        if (i2s)
            for (int64_t r = 0; r < nrows; r++)
                out[r] = 0;
        for (int64_t c0 = 0; c0 < nblk; c0 += chunk) {
            const int64_t c1 = c0 + chunk < nblk ? c0 + chunk : nblk;
            for (int64_t b = c0; b < c1; b++)
                build_nibble_tables(w->type, q, b, tab + (b - c0) * per_blk);
            for (int64_t r = r0; r < r1; r++) {
                const uint8_t *row = bn_kern_row(w, r);
                for (int64_t b = c0; b < c1; b++) {
                    const uint8_t *p = row + b * bstride;
                    const int16_t *tb = tab + (b - c0) * per_blk;
                    int32_t s = 0;
                    for (int64_t i = 0; i < bytes; i++)
                        s += tb[(2 * i) * 16 + (p[i] & 15)] + tb[(2 * i + 1) * 16 + (p[i] >> 4)];
                    if (i2s)
                        out[r - r0] += s;
                    else
                        out[(r - r0) * spr + b] = s;
                }
            }
        }
    }
}

/* ---- g = 5 / g = 4 trit tables (TQ1_0) ---- */

#define TQ1_TAB (48 * 243 + 4 * 81) /* int16 entries per block */

/* Table over n activations a[0..n-1] (a[0] the most significant trit):
 * t[v] = sum_i (trit_i(v) - 1) * a[i], built one trit at a time. */
static void trit_table(int16_t *t, const int *a, int n)
{
    int size = 1;
    t[0] = 0;
    for (int i = 0; i < n; i++) {
        for (int v = size - 1; v >= 0; v--) {
            int16_t base = t[v];
            t[3 * v + 0] = (int16_t)(base - a[i]);
            t[3 * v + 1] = base;
            t[3 * v + 2] = (int16_t)(base + a[i]);
        }
        size *= 3;
    }
}

static void build_tq1_tables(const int8_t *qb, int16_t *tab)
{
    int a[5];
    for (int m = 0; m < 32; m++) {
        for (int n = 0; n < 5; n++)
            a[n] = qb[m + 32 * n];
        trit_table(tab + m * 243, a, 5);
    }
    for (int m = 0; m < 16; m++) {
        for (int n = 0; n < 5; n++)
            a[n] = qb[160 + m + 16 * n];
        trit_table(tab + (32 + m) * 243, a, 5);
    }
    for (int j = 0; j < 4; j++) {
        for (int n = 0; n < 4; n++)
            a[n] = qb[240 + j + 4 * n];
        trit_table(tab + 48 * 243 + j * 81, a, 4);
    }
}

static void dot_tq1(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    int16_t tab[TABLE_BYTES / sizeof(int16_t)];
    uint8_t idx5[256], idx4[256]; /* byte -> trit pattern, via ggml's decoder */
    for (int b = 0; b < 256; b++) {
        int v5 = 0, v4 = 0;
        for (int n = 0; n < 5; n++)
            v5 = v5 * 3 + bn_kern_tq1_trit((uint8_t)b, n);
        for (int n = 0; n < 4; n++)
            v4 = v4 * 3 + bn_kern_tq1_trit((uint8_t)b, n);
        idx5[b] = (uint8_t)v5;
        idx4[b] = (uint8_t)v4;
    }
    const int64_t nblk = w->ne0 / BN_QK, nrows = r1 - r0;
    const int64_t chunk = (int64_t)(sizeof tab / sizeof tab[0]) / TQ1_TAB;
    for (int64_t t = t0; t < t1; t++) {
        const int8_t *q = x->q + t * x->ne0;
        int32_t *out = acc + (t - t0) * nrows * nblk;
        for (int64_t c0 = 0; c0 < nblk; c0 += chunk) {
            const int64_t c1 = c0 + chunk < nblk ? c0 + chunk : nblk;
            for (int64_t b = c0; b < c1; b++)
                build_tq1_tables(q + BN_QK * b, tab + (b - c0) * TQ1_TAB);
            for (int64_t r = r0; r < r1; r++) {
                const uint8_t *row = bn_kern_row(w, r);
                for (int64_t b = c0; b < c1; b++) {
                    const uint8_t *p = row + b * BN_TQ1_BLOCK_BYTES;
                    const int16_t *tb = tab + (b - c0) * TQ1_TAB;
                    int32_t s = 0;
                    for (int m = 0; m < 48; m++)
                        s += tb[m * 243 + idx5[p[m]]];
                    for (int j = 0; j < 4; j++)
                        s += tb[48 * 243 + j * 81 + idx4[p[48 + j]]];
                    out[(r - r0) * nblk + b] = s;
                }
            }
        }
    }
}

static int always(void) { return 1; }

const bn_kernel bnr_kernel_lut = {
    .name = "lut",
    .desc = "activation lookup tables: g=2 nibble tables (I2_S, TQ2_0), 3^5/3^4 tables (TQ1_0)",
    .available = always,
    .dot_i2s = dot_nibble,
    .dot_tq2 = dot_nibble,
    .dot_tq1 = dot_tq1,
};
