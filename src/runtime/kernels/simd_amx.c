/*
 * simd_amx.c - AMX-INT8 kernel: I2_S sums on TDPBSUD / TDPBUSD tiles (16
 * rows x 64 columns x up to 16 columns of the other operand per instruction,
 * signed int8 activations times unsigned 2-bit codes, int32 accumulators
 * without saturation), in two layouts:
 *   - 17 tokens or more (prefill): A = 16 tokens of activations, B = 16
 *     weight rows packed by a gather (below), whole groups of 16 tokens;
 *   - 2..16 tokens (bn-serve's concurrent decode streams): A = 16 weight
 *     rows of codes, B = the call's tokens laid out once ("small path"), so
 *     every weight byte is read and decoded once per call whatever n is;
 *   - 1 token (decode) and TQ1_0 run the AVX-512 VNNI kernel, whose sums
 *     are the same; see dot_i2s_few for the measured thresholds.
 * TQ2_0 batches of 16 tokens or more use the first layout and keep one sum
 * per 256-block: 4 tile products per block, then the block's sum of q
 * subtracted and scattered to the sums' layout; fewer tokens run VNNI.
 *
 * Prefill tiles (one configuration, every tile 16 rows x 64 bytes):
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
 * stack (kernels.h contract 5); the small path's 44 KiB of activations,
 * 16 KiB of A tiles and 4 KiB of sums as well.
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
#define MIN_TOKENS 16   /* TQ2_0: below this the VNNI kernel runs the whole call */
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

/* ---- I2_S, 2..16 tokens: weights as the A tile ----
 *
 * With few tokens the A-activations / B-weights layout above would repack
 * every B tile (a gather from 16 rows) for a handful of tokens. So the small
 * path swaps the roles and uses TDPBUSD (A unsigned, B signed): A is 16
 * weight rows x 64 codes, B the activations in the VNNI layout, C[row][token]:
 *   A (tmm6, tmm7): 16 rows x 64 codes. The 32 bytes of I2_S block b of a
 *                   row, shifted right by 6 and 4 (low/high 256 bits of one
 *                   broadcast) and masked with 3, are the codes of columns
 *                   128b + 0..63 in order; by 2 and 0, of 128b + 64..127. So
 *                   an A tile row is one load, one variable shift and one
 *                   mask of one row's bytes, read once: no gather.
 *   B (tmm4, tmm5): 16 x (4 * nt) bytes, row kk = the 32-bit word of columns
 *                   4kk..4kk+3 of each token; laid out once per call for a
 *                   segment of columns (xp, at most XP_BYTES), shared by every
 *                   row of the call (a short K segment costs one extra pass
 *                   over the C sums, not over the weights).
 *   C (tmm0..3)   : int32 sums of 4 groups of 16 rows (a set of 64 rows) x nt
 *                   tokens; each group adds two tile products per block.
 * The tiles are configured with 4 * nt bytes per row for B and C, so one
 * product serves exactly the call's tokens. Bounds as above: a C lane gains
 * at most 64 * 3 * 128 < 2^15 per product. The next set's rows are
 * prefetched into L2 while a set runs (a set of 64 rows x 640 bytes starts
 * cold otherwise: 2560x6912 was 1.3x slower than 6912x2560 at equal bytes). */
#define SMALL_ROWS 64           /* rows per set: four C tiles */
#define XP_BYTES (44 * 1024)    /* activations laid out for one column segment */

static void load_cfg_small(int nt)
{
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = (uint16_t)(i < 6 ? 4 * nt : 64);
        cfg.rows[i] = 16;
    }
    _tile_loadconfig(&cfg);
}

/* In place: r[i] becomes column i of the 16 x 16 matrix of 32-bit words
 * whose rows were r[0..15] (unpack within 128-bit lanes, then move lanes). */
static void transpose16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int h = 0; h < 16; h += 8)
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_i32x4(r[h + i], r[h + 4 + i], 0x88);
            t[h + 4 + i] = _mm512_shuffle_i32x4(r[h + i], r[h + 4 + i], 0xdd);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_i32x4(t[i], t[8 + i], 0xdd);
    }
}

/* xp[g * nt + n] = the 32-bit word of columns c0 + 4g .. c0 + 4g + 3 of token
 * t0 + n, for the ncol columns from c0 (a multiple of 64). From 8 tokens on,
 * per 64 columns the tokens' 16 words (rows past nt zero) are transposed in
 * registers and each word row stored as nt words; fewer tokens copy word by
 * word, which is cheaper than the 64 shuffles of a transpose (hot-cache
 * bench: scalar faster at 2-4 tokens, equal at 8, 1.3x slower at 12-15). */
static void pack_act(const bn_act *x, int64_t t0, int nt, int64_t c0, int64_t ncol, int32_t *xp)
{
    const size_t ld = (size_t)x->ne0;
    const int8_t *q = x->q + (size_t)t0 * ld + c0;
    if (nt < 8) {
        for (int64_t g = 0; g < ncol / 4; g++)
            for (int n = 0; n < nt; n++)
                memcpy(&xp[g * nt + n], q + (size_t)n * ld + 4 * g, 4);
        return;
    }
    const __mmask16 k = (__mmask16)((1u << nt) - 1);
    __m512i r[16];
    for (int64_t c = 0; c < ncol; c += 64) {
        for (int n = 0; n < 16; n++)
            r[n] = n < nt ? _mm512_loadu_si512(q + (size_t)n * ld + c) : _mm512_setzero_si512();
        transpose16(r);
        int32_t *o = xp + (c / 4) * nt;
        for (int kk = 0; kk < 16; kk++)
            _mm512_mask_storeu_epi32(o + kk * nt, k, r[kk]);
    }
}

/* A tiles of block blk for the 64-row set from rb (nr rows; a short set
 * repeats its last row, whose sums are never used): out[2g] the codes of
 * columns 0..63 of the block for row group g, out[2g + 1] columns 64..127.
 * ng groups. */
static void pack_a(const bn_qmat *w, int64_t rb, int64_t nr, int ng, int64_t blk,
                   uint8_t (*out)[1024])
{
    const __m512i m3 = _mm512_set1_epi8(3);
    /* shift counts per 16-bit lane: low 256 bits / high 256 bits */
    const __m512i s_lo = _mm512_inserti64x4(_mm512_set1_epi32(0x00060006),
                                            _mm256_set1_epi32(0x00040004), 1);
    const __m512i s_hi = _mm512_inserti64x4(_mm512_set1_epi32(0x00020002),
                                            _mm256_setzero_si256(), 1);
    const uint8_t *base = bn_kern_row(w, rb) + 32 * (size_t)blk;
    for (int g = 0; g < ng; g++) {
        __m512i *lo = (__m512i *)out[2 * g], *hi = (__m512i *)out[2 * g + 1];
        for (int m = 0; m < 16; m++) {
            const int64_t r = 16 * g + m < nr ? 16 * g + m : nr - 1;
            const __m512i v = _mm512_broadcast_i64x4(
                _mm256_loadu_si256((const __m256i *)(base + (size_t)r * w->row_bytes)));
            _mm512_store_si512(lo + m, _mm512_and_si512(_mm512_srlv_epi16(v, s_lo), m3));
            _mm512_store_si512(hi + m, _mm512_and_si512(_mm512_srlv_epi16(v, s_hi), m3));
        }
    }
}

/* One tile product per group into C tile g: A from tmm 6 / 7, B tmm 4 / 5. */
#define SMALL_DP(g, a, b)                        \
    do {                                         \
        if ((g) == 0) _tile_dpbusd(0, a, b);     \
        else if ((g) == 1) _tile_dpbusd(1, a, b); \
        else if ((g) == 2) _tile_dpbusd(2, a, b); \
        else _tile_dpbusd(3, a, b);              \
    } while (0)

static void dot_i2s_small(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                          int64_t t0, int64_t t1, int32_t *acc)
{
    _Alignas(64) int32_t xp[XP_BYTES / 4];
    _Alignas(64) uint8_t apack[2][2 * SMALL_ROWS / 16][1024];
    _Alignas(64) int32_t cs[SMALL_ROWS / 16][16][16];
    const int nt = (int)(t1 - t0);
    const int64_t nrows = r1 - r0, nblk = w->ne0 / 128;
    /* column segments of whole blocks, as few as fit XP_BYTES, equal sizes */
    const int64_t per_seg = XP_BYTES / (128 * nt), nseg = (nblk + per_seg - 1) / per_seg;
    const int64_t seg_blk = (nblk + nseg - 1) / nseg;
    const size_t ldb = 4 * (size_t)nt;
    load_cfg_small(nt);
    for (int64_t b0 = 0; b0 < nblk; b0 += seg_blk) {
        const int64_t b1 = b0 + seg_blk < nblk ? b0 + seg_blk : nblk;
        pack_act(x, t0, nt, 128 * b0, 128 * (b1 - b0), xp);
        for (int64_t rb = r0; rb < r1; rb += SMALL_ROWS) {
            const int64_t nr = r1 - rb < SMALL_ROWS ? r1 - rb : SMALL_ROWS;
            const int ng = (int)((nr + 15) / 16);
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            /* the next 64 rows (inside the tensor; the next call's, past r1),
             * one cache line per row every other block, a set ahead */
            const int64_t pn = w->ne1 - (rb + SMALL_ROWS) < SMALL_ROWS ? w->ne1 - (rb + SMALL_ROWS)
                                                                       : SMALL_ROWS;
            const uint8_t *pf = pn > 0 ? bn_kern_row(w, rb + SMALL_ROWS) : NULL;
            for (int64_t blk = b0; blk < b1; blk++) {
                uint8_t (*ap)[1024] = apack[blk & 1];
                if (pf && !((blk - b0) & 1))
                    for (int64_t r = 0; r < pn; r++)
                        _mm_prefetch((const char *)(pf + (size_t)r * w->row_bytes + 32 * blk),
                                     _MM_HINT_T1);
                pack_a(w, rb, nr, ng, blk, ap);
                const int32_t *xb = xp + (size_t)(blk - b0) * 32 * (size_t)nt;
                _tile_loadd(4, xb, ldb);
                _tile_loadd(5, xb + 16 * nt, ldb);
                for (int g = 0; g < ng; g++) {
                    _tile_loadd(6, ap[2 * g], 64);
                    _tile_loadd(7, ap[2 * g + 1], 64);
                    SMALL_DP(g, 6, 4);
                    SMALL_DP(g, 7, 5);
                }
            }
            _tile_stored(0, cs[0], 64);
            _tile_stored(1, cs[1], 64);
            _tile_stored(2, cs[2], 64);
            _tile_stored(3, cs[3], 64);
            /* C[row][token] -> acc[token][row]: transposed 16 x 16 per group;
             * a later column segment adds to the earlier ones' sums */
            for (int g = 0; g < ng; g++) {
                const int64_t left = nr - 16 * g;
                const __mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                __m512i r[16];
                for (int m = 0; m < 16; m++)
                    r[m] = _mm512_load_si512(cs[g][m]);
                transpose16(r);
                for (int n = 0; n < nt; n++) {
                    int32_t *out = acc + (size_t)n * (size_t)nrows + (size_t)(rb - r0 + 16 * g);
                    if (b0)
                        r[n] = _mm512_add_epi32(r[n], _mm512_maskz_loadu_epi32(k, out));
                    _mm512_mask_storeu_epi32(out, k, r[n]);
                }
            }
        }
    }
    _tile_release();
}

/* Which code serves a call of n tokens (bench_kernels --batch and an A/B of
 * the paths alternating in one run, 2B shapes, weights streamed from DRAM,
 * 1 thread, medians of 7-9 reps on a loaded 2-vCPU machine, +-20 %):
 *   n = 1     the VNNI decode loop: it streams at ~95 % of the read
 *             bandwidth, the small tile path at about half of it
 *             (2560x2560: 0.26 vs 0.52 ms), since with one token the
 *             A-tile staging is all cost and no reuse;
 *   2..16     the small tile path: 2 tokens at least as fast as VNNI
 *             (0.50 vs 0.57 ms on 2560x2560, 1.4 vs 2.7 ms on 6912x2560),
 *             from 4 on 1.3-3x faster; at 16 faster than the 16-token
 *             tile path below too (0.33 vs 0.49, 1.6 vs 2.5 ms);
 *   17 and up whole groups of 16 on the A-activation tiles (each B tile
 *             packed once serves all of them: at 32 tokens level with the
 *             small path run twice, at 64 1.3-2x faster, at 128 1.6-2.6x),
 *             the rest of fewer than 16 by the rule above. */
#define SMALL_MAX 16

static void dot_i2s_few(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                        int64_t t0, int64_t t1, int32_t *acc)
{
    if (t1 - t0 == 1)
        bnr_kernel_avx512.dot_i2s(w, x, r0, r1, t0, t1, acc);
    else
        dot_i2s_small(w, x, r0, r1, t0, t1, acc);
}

static void dot_i2s(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                    int64_t t0, int64_t t1, int32_t *acc)
{
    const int64_t nrows = r1 - r0, full = t0 + (t1 - t0) / 16 * 16;
    if (t1 - t0 <= SMALL_MAX) {
        dot_i2s_few(w, x, r0, r1, t0, t1, acc);
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
        dot_i2s_few(w, x, r0, r1, full, t1, acc + (full - t0) * nrows);
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
    .desc = "AMX-INT8 tiles for I2_S batches of 2+ tokens and TQ2_0 of 16+ (16x16x64 "
            "per TDPBSUD/TDPBUSD); 1-token decode and TQ1_0 as avx512vnni",
    .available = amx_available,
    .dot_i2s = dot_i2s,
    .dot_tq2 = dot_tq2,
    .dot_tq1 = dot_tq1,
    .mv_tq2 = bnr_tq2_mv_avx512, /* decode runs as avx512vnni */
};

#else
typedef int bn_simd_amx_unused; /* not an x86-64 Linux build */
#endif
