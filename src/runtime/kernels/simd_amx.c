/*
 * simd_amx.c - AMX-INT8 kernel: I2_S sums of 16 tokens x 16 rows x 64
 * columns per TDPBSUD tile instruction (16K multiply-adds, signed int8
 * activations times unsigned 2-bit codes, int32 accumulators without
 * saturation), for batches of 16 tokens or more; fewer tokens (decode) and
 * the TQ types run the AVX-512 VNNI kernel, whose sums are the same.
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
    amx_ok = bn_kernel_avx512.available();
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
        bn_kernel_avx512.dot_i2s(w, x, r0, r1, t0, t1, acc);
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
        bn_kernel_avx512.dot_i2s(w, x, r0, r1, full, t1, acc + (full - t0) * nrows);
}

static void dot_tq2(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    bn_kernel_avx512.dot_tq2(w, x, r0, r1, t0, t1, acc);
}

static void dot_tq1(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    bn_kernel_avx512.dot_tq1(w, x, r0, r1, t0, t1, acc);
}

const bn_kernel bn_kernel_amx = {
    .name = "amx",
    .desc = "AMX-INT8 tiles for I2_S batches of 16+ tokens (16x16x64 per TDPBSUD); "
            "decode and TQ as avx512vnni",
    .available = amx_available,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq2,
    .dot_tq1 = dot_tq1,
};

#else
typedef int bn_simd_amx_unused; /* not an x86-64 Linux build */
#endif
