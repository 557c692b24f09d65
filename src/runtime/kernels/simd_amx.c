/*
 * simd_amx.c - AMX-INT8 kernel: I2_S sums of 16 tokens x 16 rows x 64
 * columns per TDPBSUD tile instruction (16K multiply-adds, signed int8
 * activations times unsigned 2-bit codes, int32 accumulators without
 * saturation), for I2_S and TQ2_0 batches of 16 tokens or more; fewer
 * tokens (decode) and TQ1_0 run the AVX-512 VNNI kernel, whose sums are the
 * same. TQ2_0 keeps one sum per 256-block: 4 tile products per block, then
 * the block's sum of q subtracted and scattered to the sums' layout.
 *
 * Tiles (one configuration, every tile 16 rows x 64 bytes):
 *   A (tmm4, tmm5): 16 tokens x 64 activations, straight from bn_act.q
 *                   (row stride ne0, no copy);
 *   B (tmm6, tmm7): 16 weight rows x 64 codes in the VNNI layout TDPBSUD
 *                   wants: tile row kk holds, for each weight row n, the
 *                   codes of columns 4kk..4kk+3 as one 32-bit word;
 *   C (tmm0..3)   : int32 sums, C[token][row], 2 token groups x 2 row groups.
 * I2_S stores element 128b + 32j + i of a row in bits 7-2j..6-2j of byte i
 * of its 32-byte block b, so the four codes of columns 4kk..4kk+3 (same j)
 * sit in the same bit pair of four consecutive bytes: one 32-bit word of
 * the row shifted right by 6-2j and masked with 0x03030303. Packing a B tile
 * is therefore a gather of that word from 16 rows, a shift and a mask.
 *
 * Bounds: each int32 lane gains at most 64 * 128 * 3 < 2^15 per tile
 * product, and the totals are kernels.h contract 2's. Packed B segments
 * (32 KiB) and the C sums of up to 256 tokens x 32 rows (32 KiB) live on the
 * stack (kernels.h contract 5).
 *
 * Linux hands out the AMX tile-data state only on request
 * (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), once per process);
 * the kernel is available only when CPUID reports AMX-TILE and AMX-INT8,
 * the OS enables the tile state in XCR0 and that request succeeds. Each call
 * loads the tile configuration on its own thread and releases the tiles on
 * return.
 */
#if defined(__x86_64__) && defined(__linux__)

#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "kern.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define MIN_TOKENS 16   /* below this the VNNI kernel runs the whole call */
#define SEG_CHUNKS 16   /* 64-column chunks per packed B segment (1024 columns) */
#define SUPER_TOK 256   /* tokens whose C sums one pass keeps (16 groups) */

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;

static int amx_ok;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return;
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) /* AMX-TILE, AMX-INT8 */
        return;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) /* OSXSAVE: XCR0 readable */
        return;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3) != 3) /* XTILECFG and XTILEDATA enabled by the OS */
        return;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
        return;
    amx_ok = bnr_kernel_avx512.available();
}

static int amx_available(void)
{
    pthread_once(&amx_once, amx_probe);
    return amx_ok;
}

static void load_cfg(void)
{
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    _tile_loadconfig(&cfg);
}

/* B tiles for rows [rb, rb + 32) (a short block, nr < 32 rows, repeats its
 * last row; those sums are never used) and chunks [c0, c0 + nc), c0 and nc
 * even: out[(c - c0) * 2 + g] is the 1 KiB tile of row group g. */
static void pack_b(const bn_qmat *w, int64_t rb, int64_t nr, int64_t c0, int nc,
                   uint8_t (*out)[1024])
{
    const __m512i m = _mm512_set1_epi32(0x03030303);
    const uint8_t *base = bn_kern_row(w, rb);
    for (int g = 0; g < 2; g++) {
        int32_t idx[16]; /* byte offsets of the 16 rows from row rb: < 32 * 2^18 */
        for (int n = 0; n < 16; n++)
            idx[n] = (int32_t)((size_t)(g * 16 + n < nr ? g * 16 + n : nr - 1) * w->row_bytes);
        const __m512i vidx = _mm512_loadu_si512(idx);
        for (int ci = 0; ci < nc; ci += 2) {
            const int64_t blk = (c0 + ci) / 2;
            __m512i *b0 = (__m512i *)out[ci * 2 + g], *b1 = (__m512i *)out[(ci + 1) * 2 + g];
            for (int wd = 0; wd < 8; wd++) { /* word wd: bytes 4wd..4wd+3 of the block */
                __m512i v = _mm512_i32gather_epi32(vidx, base + 32 * blk + 4 * wd, 1);
                _mm512_storeu_si512(b0 + wd, _mm512_and_si512(_mm512_srli_epi32(v, 6), m));
                _mm512_storeu_si512(b0 + 8 + wd, _mm512_and_si512(_mm512_srli_epi32(v, 4), m));
                _mm512_storeu_si512(b1 + wd, _mm512_and_si512(_mm512_srli_epi32(v, 2), m));
                _mm512_storeu_si512(b1 + 8 + wd, _mm512_and_si512(v, m));
            }
        }
    }
}

/* Sums of tokens [ts, ts + 16 * ng) x rows [rb, rb + min(32, r1 - rb)). */
static void amx_block(const bn_qmat *w, const bn_act *x, int64_t rb, int64_t nr, int64_t ts,
                      int ng, int32_t (*cs)[16][32])
{
    _Alignas(64) uint8_t bpack[SEG_CHUNKS * 2][1024];
    const int64_t nchunks = w->ne0 / 64;
    const size_t lda = (size_t)x->ne0;
    for (int64_t c0 = 0; c0 < nchunks; c0 += SEG_CHUNKS) {
        const int nc = (int)(nchunks - c0 < SEG_CHUNKS ? nchunks - c0 : SEG_CHUNKS);
        pack_b(w, rb, nr, c0, nc, bpack);
        for (int g = 0; g < ng; g += 2) {
            const int pair = g + 1 < ng;
            const int8_t *qa = x->q + (size_t)(ts + 16 * g) * lda + 64 * (size_t)c0;
            if (c0 == 0) {
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
            } else {
                _tile_loadd(0, &cs[g][0][0], 128);
                _tile_loadd(1, &cs[g][0][16], 128);
                if (pair) {
                    _tile_loadd(2, &cs[g + 1][0][0], 128);
                    _tile_loadd(3, &cs[g + 1][0][16], 128);
                }
            }
            if (pair) {
                for (int c = 0; c < nc; c++) {
                    _tile_loadd(4, qa + 64 * c, lda);
                    _tile_loadd(5, qa + 16 * lda + 64 * c, lda);
                    _tile_loadd(6, bpack[2 * c], 64);
                    _tile_loadd(7, bpack[2 * c + 1], 64);
                    _tile_dpbsud(0, 4, 6);
                    _tile_dpbsud(1, 4, 7);
                    _tile_dpbsud(2, 5, 6);
                    _tile_dpbsud(3, 5, 7);
                }
            } else {
                for (int c = 0; c < nc; c++) {
                    _tile_loadd(4, qa + 64 * c, lda);
                    _tile_loadd(6, bpack[2 * c], 64);
                    _tile_loadd(7, bpack[2 * c + 1], 64);
                    _tile_dpbsud(0, 4, 6);
                    _tile_dpbsud(1, 4, 7);
                }
            }
            _tile_stored(0, &cs[g][0][0], 128);
            _tile_stored(1, &cs[g][0][16], 128);
            if (pair) {
                _tile_stored(2, &cs[g + 1][0][0], 128);
                _tile_stored(3, &cs[g + 1][0][16], 128);
            }
        }
    }
}

static void dot_i2s(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    const int64_t nrows = r1 - r0, full = t0 + (t1 - t0) / 16 * 16;
    if (t1 - t0 < MIN_TOKENS) {
        bnr_kernel_avx512.dot_i2s(w, x, r0, r1, t0, t1, acc);
        return;
    }
    _Alignas(64) int32_t cs[SUPER_TOK / 16][16][32];
    load_cfg();
    for (int64_t ts = t0; ts < full; ts += SUPER_TOK) {
        const int ng = (int)((full - ts < SUPER_TOK ? full - ts : SUPER_TOK) / 16);
        for (int64_t rb = r0; rb < r1; rb += 32) {
            const int64_t nr = r1 - rb < 32 ? r1 - rb : 32;
            amx_block(w, x, rb, nr, ts, ng, cs);
            for (int g = 0; g < ng; g++)
                for (int m = 0; m < 16; m++) {
                    int32_t *out = acc + (ts + 16 * g + m - t0) * nrows + (rb - r0);
                    memcpy(out, cs[g][m], (size_t)nr * sizeof *out);
                }
        }
    }
    _tile_release();
    if (full < t1) /* the last tokens, fewer than 16 */
        bnr_kernel_avx512.dot_i2s(w, x, r0, r1, full, t1, acc + (full - t0) * nrows);
}

/* ---- TQ2_0 ---- */

/* B tiles of TQ2_0 block blk for rows [rb, rb + 32): out[h * 2 + g] holds
 * chunk h (columns 64h..64h+63 of the block) of row group g. qs[32j + m]
 * bits 2l..2l+1 hold element 128j + 32l + m, so chunk 2j + hh takes the bit
 * pairs l = 2hh (tile rows 0..7) and 2hh + 1 (rows 8..15) of the 8 words of
 * qs half j. */
static void pack_b_tq2(const bn_qmat *w, int64_t rb, int64_t nr, int64_t blk,
                       uint8_t (*out)[1024])
{
    const __m512i m = _mm512_set1_epi32(0x03030303);
    const uint8_t *base = bn_kern_row(w, rb) + (size_t)blk * BN_TQ2_BLOCK_BYTES;
    for (int g = 0; g < 2; g++) {
        int32_t idx[16];
        for (int n = 0; n < 16; n++)
            idx[n] = (int32_t)((size_t)(g * 16 + n < nr ? g * 16 + n : nr - 1) * w->row_bytes);
        const __m512i vidx = _mm512_loadu_si512(idx);
        for (int j = 0; j < 2; j++) {
            __m512i *b0 = (__m512i *)out[(2 * j) * 2 + g], *b1 = (__m512i *)out[(2 * j + 1) * 2 + g];
            for (int wd = 0; wd < 8; wd++) {
                __m512i v = _mm512_i32gather_epi32(vidx, base + 32 * j + 4 * wd, 1);
                _mm512_storeu_si512(b0 + wd, _mm512_and_si512(v, m));
                _mm512_storeu_si512(b0 + 8 + wd, _mm512_and_si512(_mm512_srli_epi32(v, 2), m));
                _mm512_storeu_si512(b1 + wd, _mm512_and_si512(_mm512_srli_epi32(v, 4), m));
                _mm512_storeu_si512(b1 + 8 + wd, _mm512_and_si512(_mm512_srli_epi32(v, 6), m));
            }
        }
    }
}

/* Per-block sums: tile sums of codes x q minus the block's sum of q (bsum),
 * scattered to acc's layout (block index innermost) 16 rows at a time. */
static void tq2_store(const bn_act *x, int32_t (*cs)[32], int64_t t, int ntok, int64_t blk,
                      int32_t *dst, int64_t nrows, int64_t nb, int64_t nr)
{
    const int64_t ng = x->ne0 / BN_ACT_GROUP;
    const __m512i step = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                                             5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32((int)nb));
    for (int mm = 0; mm < ntok; mm++) {
        const int32_t *bs = x->bsum + (t + mm) * ng + 2 * blk;
        const __m512i sub = _mm512_set1_epi32(bs[0] + bs[1]);
        int32_t *row0 = dst + (int64_t)mm * nrows * nb;
        for (int g = 0; g < 2 && g * 16 < nr; g++) {
            const int64_t left = nr - g * 16;
            const __mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512i v = _mm512_sub_epi32(_mm512_loadu_si512(&cs[mm][16 * g]), sub);
            _mm512_mask_i32scatter_epi32(row0 + g * 16 * nb, k, step, v, 4);
        }
    }
}

static void dot_tq2(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    const int64_t nrows = r1 - r0, full = t0 + (t1 - t0) / 16 * 16, nb = w->ne0 / BN_QK;
    if (t1 - t0 < MIN_TOKENS) {
        bnr_kernel_avx512.dot_tq2(w, x, r0, r1, t0, t1, acc);
        return;
    }
    _Alignas(64) uint8_t bpack[8][1024];
    _Alignas(64) int32_t cs[32][32];
    const size_t lda = (size_t)x->ne0;
    load_cfg();
    for (int64_t rb = r0; rb < r1; rb += 32) {
        const int64_t nr = r1 - rb < 32 ? r1 - rb : 32;
        for (int64_t blk = 0; blk < nb; blk++) {
            pack_b_tq2(w, rb, nr, blk, bpack);
            for (int64_t t = t0; t < full; t += 32) {
                const int pair = t + 16 < full;
                const int8_t *qa = x->q + (size_t)t * lda + (size_t)blk * BN_QK;
                _tile_zero(0);
                _tile_zero(1);
                if (pair) {
                    _tile_zero(2);
                    _tile_zero(3);
                }
                for (int h = 0; h < 4; h++) {
                    _tile_loadd(4, qa + 64 * h, lda);
                    _tile_loadd(6, bpack[2 * h], 64);
                    _tile_loadd(7, bpack[2 * h + 1], 64);
                    _tile_dpbsud(0, 4, 6);
                    _tile_dpbsud(1, 4, 7);
                    if (pair) {
                        _tile_loadd(5, qa + 16 * lda + 64 * h, lda);
                        _tile_dpbsud(2, 5, 6);
                        _tile_dpbsud(3, 5, 7);
                    }
                }
                _tile_stored(0, &cs[0][0], 128);
                _tile_stored(1, &cs[0][16], 128);
                if (pair) {
                    _tile_stored(2, &cs[16][0], 128);
                    _tile_stored(3, &cs[16][16], 128);
                }
                tq2_store(x, cs, t, pair ? 32 : 16, blk,
                          acc + ((t - t0) * nrows + (rb - r0)) * nb + blk, nrows, nb, nr);
            }
        }
    }
    _tile_release();
    if (full < t1)
        bnr_kernel_avx512.dot_tq2(w, x, r0, r1, full, t1, acc + (full - t0) * nrows * nb);
}

static void dot_tq1(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    bnr_kernel_avx512.dot_tq1(w, x, r0, r1, t0, t1, acc);
}

const bn_kernel bnr_kernel_amx = {
    .name = "amx",
    .desc = "AMX-INT8 tiles for I2_S / TQ2_0 batches of 16+ tokens (16x16x64 per "
            "TDPBSUD); decode and TQ1_0 as avx512vnni",
    .available = amx_available,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq2,
    .dot_tq1 = dot_tq1,
};

#else
typedef int bn_simd_amx_unused; /* not an x86-64 Linux build */
#endif
