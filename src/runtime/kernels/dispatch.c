/*
 * dispatch.c - the kernel table, argument checking, the shared float
 * epilogue, and the row-parallel driver.
 *
 * The kernels (basic.c, blocked.c, ...) only produce integer sums for a tile
 * of rows x tokens. run_tile() below turns those sums into floats with the
 * single epilogue of kern.h, so a kernel cannot get the floats wrong without
 * getting the integers wrong, and the integers are what the tests compare.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bn/util.h"
#include "kern.h"
#if defined(__x86_64__)
#include <emmintrin.h> /* SSE2: part of every x86-64 CPU */
#endif

/* ---- weights ---- */

bn_status bn_qmat_init(bn_qmat *w, bn_type type, const void *data, size_t size,
                       int64_t ne0, int64_t ne1, bn_error *err)
{
    memset(w, 0, sizeof *w);
    int64_t blk;
    size_t per_blk, tail = 0;
    switch (type) {
    case BN_TYPE_I2_S:  blk = 128; per_blk = 32; tail = 32; break;
    case BN_TYPE_TQ2_0: blk = BN_QK; per_blk = BN_TQ2_BLOCK_BYTES; break;
    case BN_TYPE_TQ1_0: blk = BN_QK; per_blk = BN_TQ1_BLOCK_BYTES; break;
    default:
        return bn_error_set(err, BN_EUNSUPPORTED, "ternary matmul: weight type %d is not "
                            "I2_S, TQ2_0 or TQ1_0", (int)type);
    }
    if (ne0 < blk || ne0 % blk != 0 || ne0 > BN_KERNEL_MAX_K)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: ne0 %lld is not a positive "
                            "multiple of %lld up to %lld", (long long)ne0, (long long)blk,
                            (long long)BN_KERNEL_MAX_K);
    if (ne1 < 1)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: ne1 %lld < 1", (long long)ne1);
    size_t row_bytes = (size_t)(ne0 / blk) * per_blk, need;
    if (bn_mul_ovf_size(row_bytes, (size_t)ne1, &need) || bn_add_ovf_size(need, tail, &need))
        return bn_error_set(err, BN_EINVAL, "ternary matmul: %lld x %lld overflows size_t",
                            (long long)ne1, (long long)ne0);
    if (size != need)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: %s tensor [%lld x %lld] needs %zu "
                            "bytes, got %zu", type == BN_TYPE_I2_S ? "I2_S" :
                            type == BN_TYPE_TQ2_0 ? "TQ2_0" : "TQ1_0",
                            (long long)ne1, (long long)ne0, need, size);
    if (!data)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: NULL weight data");
    w->type = type;
    w->data = data;
    w->ne0 = ne0;
    w->ne1 = ne1;
    w->row_bytes = row_bytes;
    w->scale = 1.0f;
    if (type == BN_TYPE_I2_S)
        w->scale = bn_i2s_tail_scale(w->data, (uint64_t)ne0 * (uint64_t)ne1);
    return BN_OK;
}

int64_t bn_qmat_sums_per_row(const bn_qmat *w)
{
    return w->type == BN_TYPE_I2_S ? 1 : w->ne0 / BN_QK;
}

/* ---- F16 block scales (kern.h bn_kern_tq_d) ---- */

float bnr_kern_f16_table[1 << 16];
static pthread_once_t f16_table_once = PTHREAD_ONCE_INIT;

static void f16_table_init(void)
{
    for (uint32_t h = 0; h < (1u << 16); h++) {
        const uint8_t b[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
        bnr_kern_f16_table[h] = bn_kern_f16(b);
    }
}

/* ---- the table ---- */

static const bn_kernel *const all_kernels[] = {
    &bnr_kernel_basic,
    &bnr_kernel_blocked,
    &bnr_kernel_lut,
#if defined(__x86_64__)
    &bnr_kernel_avx2,
    &bnr_kernel_avx512,
#endif
#if defined(__x86_64__) && defined(__linux__)
    &bnr_kernel_amx,
#endif
#if defined(__aarch64__)
    &bn_kernel_neon,
#endif
};

const bn_kernel *const *bn_kernel_list(size_t *n)
{
    *n = sizeof all_kernels / sizeof all_kernels[0];
    return all_kernels;
}

/* SIMD kernels, fastest first. The default is the first available one, or
 * the blocked scalar kernel on a CPU with none of them. */
static const bn_kernel *const simd_kernels[] = {
#if defined(__x86_64__) && defined(__linux__)
    /* AMX tiles for I2_S calls of 2 tokens or more and TQ2_0 of 16 or more,
     * the VNNI kernel below for the rest, so amx is never slower than it.
     * Per token count, 2B shapes, weights streamed, 1 thread (bench_kernels
     * --batch; the choice and its numbers in simd_amx.c dot_i2s_few): at 1
     * token both run VNNI; 2 tokens level or 1.5x faster; 4..16 tokens
     * 1.3-3x; 32-128 tokens 2-5x. */
    &bnr_kernel_amx,
#endif
#if defined(__x86_64__)
    &bnr_kernel_avx512,
    &bnr_kernel_avx2,
#endif
#if defined(__aarch64__)
    &bn_kernel_neon,
#endif
    NULL,
};

static const bn_kernel *best_simd(void)
{
    for (size_t i = 0; simd_kernels[i]; i++)
        if (simd_kernels[i]->available())
            return simd_kernels[i];
    return NULL;
}

bn_status bn_kernel_get(const char *name, const bn_kernel **out, bn_error *err)
{
    *out = NULL;
    if (!name)
        return bn_error_set(err, BN_EINVAL, "kernel name missing");
    if (strcmp(name, "simd") == 0) {
        *out = best_simd();
        if (!*out)
            return bn_error_set(err, BN_EUNSUPPORTED, "kernel 'simd': this CPU has no "
                                "supported SIMD extension");
        return BN_OK;
    }
    char known[256] = "simd";
    for (size_t i = 0; i < sizeof all_kernels / sizeof all_kernels[0]; i++) {
        const bn_kernel *k = all_kernels[i];
        if (strcmp(name, k->name) == 0) {
            if (!k->available())
                return bn_error_set(err, BN_EUNSUPPORTED, "kernel '%s' is not supported by "
                                    "this CPU", name);
            *out = k;
            return BN_OK;
        }
        size_t len = strlen(known);
        snprintf(known + len, sizeof known - len, ", %s", k->name);
    }
    return bn_error_set(err, BN_ENOTFOUND, "unknown kernel '%s' (known: %s)", name, known);
}

bn_status bn_kernel_best(const bn_kernel **out, bn_error *err)
{
    const char *env = getenv("BN_KERNEL");
    if (env && *env) {
        bn_status st = bn_kernel_get(env, out, err);
        if (st)
            bn_error_prefix(err, "BN_KERNEL");
        return st;
    }
    *out = best_simd();
    if (!*out)
        *out = &bnr_kernel_blocked;
    return BN_OK;
}

/* ---- matmul ---- */

static bn_dot_fn dot_for(const bn_kernel *k, bn_type t)
{
    return t == BN_TYPE_I2_S ? k->dot_i2s : t == BN_TYPE_TQ2_0 ? k->dot_tq2 : k->dot_tq1;
}

static bn_status check_args(const bn_kernel *k, const bn_qmat *w, const bn_act *x,
                            int64_t r0, int64_t r1, bn_error *err)
{
    pthread_once(&f16_table_once, f16_table_init); /* kern.h bn_kern_tq_d */
    if (!k || !w || !w->data || !x || !x->q)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: NULL kernel, weights or activations");
    if (x->ne0 != w->ne0)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: activations have %lld columns, "
                            "weights %lld", (long long)x->ne0, (long long)w->ne0);
    if (x->n_tok < 1 || x->n_tok > x->cap_tok)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: %lld activation tokens",
                            (long long)x->n_tok);
    if (w->type == BN_TYPE_I2_S && x->kind != BN_ACT_TOKEN)
        return bn_error_set(err, BN_EUNSUPPORTED, "ternary matmul: I2_S weights need per-token "
                            "activations, not Q8_K");
    if (r0 < 0 || r1 > w->ne1 || r0 >= r1)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: row range [%lld, %lld) outside "
                            "[0, %lld)", (long long)r0, (long long)r1, (long long)w->ne1);
    return BN_OK;
}

#define TILE_SUMS 16384 /* int32 sums per tile: 64 KiB of stack */
#define DECODE_TILE_BYTES 16384 /* weight bytes per decode tile of TQ rows: within L1 */

#if defined(__x86_64__)
/* TQ epilogue, four rows in the four lanes of an SSE vector, for every token
 * of the tile: per lane exactly the scalar operations of bn_kern_epi_tq_step
 * in the same block order (convert, multiply, add, each rounded once; the
 * product passes an empty asm, so no setting can fuse it; Q8_K's d * dx
 * is the same one multiply), but one instruction serves four rows and their
 * chains run side by side. For a batch, the four rows' block scales are
 * decoded once for all tokens (at most 4096 blocks a row); for one token they
 * are decoded inside the chain, as the decode epilogue always did. Returns
 * the first row left for the scalar loop. */
static inline __m128 rows4_d(const bn_qmat *w, const uint8_t *const row[4], int64_t k)
{
    return _mm_setr_ps(bn_kern_tq_d(w, row[0], k), bn_kern_tq_d(w, row[1], k),
                       bn_kern_tq_d(w, row[2], k), bn_kern_tq_d(w, row[3], k));
}

static int64_t epilogue_tq_rows4(const bn_qmat *w, const bn_act *x, int64_t a, int64_t b,
                                 int64_t t0, int64_t t1, const int32_t *acc, float *y,
                                 int64_t ldy)
{
    const int64_t nb = w->ne0 / BN_QK, n = b - a;
    __m128 d[BN_KERNEL_MAX_K / BN_QK];
    int64_t r = a;
    for (; r + 3 < b; r += 4) {
        const uint8_t *row[4];
        for (int i = 0; i < 4; i++)
            row[i] = bn_kern_row(w, r + i);
        if (t1 - t0 > 1)
            for (int64_t k = 0; k < nb; k++)
                d[k] = rows4_d(w, row, k);
        for (int64_t t = t0; t < t1; t++) {
            const int32_t *s = acc + ((t - t0) * n + (r - a)) * nb; /* row r + i at s + i nb */
            __m128 v = _mm_setzero_ps();
            for (int64_t k = 0; k < nb; k++) {
                __m128 dk = t1 - t0 > 1 ? d[k] : rows4_d(w, row, k);
                if (x->kind == BN_ACT_Q8K)
                    dk = _mm_mul_ps(dk, _mm_set1_ps(x->scale[t * nb + k]));
                const __m128 sf = _mm_cvtepi32_ps(
                    _mm_setr_epi32(s[k], s[nb + k], s[2 * nb + k], s[3 * nb + k]));
                __m128 p = _mm_mul_ps(sf, dk);
                __asm__("" : "+x"(p)); /* the product as a register no compiler can fuse */
                v = _mm_add_ps(v, p);
            }
            if (x->kind != BN_ACT_Q8K)
                v = _mm_div_ps(v, _mm_set1_ps(x->scale[t]));
            _mm_storeu_ps(y + t * ldy + r, v);
        }
    }
    return r;
}
#endif

/* The sums of a tile (rows [a, b) x tokens [t0, t1), layout of bn_dot_fn)
 * into y through the epilogue of kern.h, per value bn_kern_epi_i2s or the
 * chain of bn_kern_epi_tq_step: I2_S over a token's rows (four a vector on
 * x86); TQ with each row's block scales decoded once for all tokens (at most
 * 4096 blocks a row). */
static void epilogue_tile(const bn_qmat *w, const bn_act *x, int64_t a, int64_t b, int64_t t0,
                          int64_t t1, const int32_t *acc, float *y, int64_t ldy)
{
    const int64_t n = b - a;
    if (w->type == BN_TYPE_I2_S) {
        for (int64_t t = t0; t < t1; t++) {
            const int32_t *s = acc + (t - t0) * n, sum = x->sum[t];
            const float sa = x->scale[t], sw = w->scale;
            float *yt = y + t * ldy + a;
            int64_t r = 0;
#if defined(__x86_64__)
            /* four rows a vector: per lane the convert, subtract, divide and
             * multiply of bn_kern_epi_i2s, each rounded once as there */
            const __m128 fq = _mm_set1_ps((float)sum), va = _mm_set1_ps(sa),
                         vw = _mm_set1_ps(sw);
            for (; r + 3 < n; r += 4) {
                __m128 v = _mm_sub_ps(_mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(s + r))),
                                      fq);
                _mm_storeu_ps(yt + r, _mm_mul_ps(_mm_div_ps(v, va), vw));
            }
#endif
            for (; r < n; r++)
                yt[r] = bn_kern_epi_i2s(s[r], sum, sa, sw);
        }
        return;
    }
    const int64_t nb = w->ne0 / BN_QK;
    float d[BN_KERNEL_MAX_K / BN_QK];
    int64_t r = a;
#if defined(__x86_64__)
    r = epilogue_tq_rows4(w, x, a, b, t0, t1, acc, y, ldy);
#endif
    for (; r < b; r++) {
        const uint8_t *row = bn_kern_row(w, r);
        for (int64_t k = 0; k < nb; k++)
            d[k] = bn_kern_tq_d(w, row, k);
        for (int64_t t = t0; t < t1; t++) {
            const int32_t *s = acc + ((t - t0) * n + (r - a)) * nb;
            float v = 0.0f;
            if (x->kind == BN_ACT_Q8K) {
                const float *dx = x->scale + t * nb;
                for (int64_t k = 0; k < nb; k++)
                    v = bn_kern_epi_tq_step(v, s[k], d[k] * dx[k]);
            } else {
                for (int64_t k = 0; k < nb; k++)
                    v = bn_kern_epi_tq_step(v, s[k], d[k]);
                v = v / x->scale[t];
            }
            y[t * ldy + r] = v;
        }
    }
}

/* Rows [r0, r1) x all tokens, tiled so one tile's sums fit TILE_SUMS: up to
 * cap/64 tokens (a weight block decoded once serves them all), in multiples
 * of 16 from 16 on (the amx kernel's token groups), and as many rows as then
 * fit (a token's lookup tables or activations serve them all). */
static void run_matmul(const bn_kernel *k, const bn_qmat *w, const bn_act *x,
                       int64_t r0, int64_t r1, float *y, int64_t ldy)
{
    if (x->n_tok == 1 && w->type == BN_TYPE_TQ2_0 && k->mv_tq2) {
        k->mv_tq2(w, x, r0, r1, y);
        return;
    }
    int32_t acc[TILE_SUMS];
    const bn_dot_fn dot = dot_for(k, w->type);
    const int64_t spr = bn_qmat_sums_per_row(w), cap = TILE_SUMS / spr;
    int64_t tt = cap / 64 < 1 ? 1 : cap / 64;
    if (tt < 16 && cap >= 16 * 16)
        tt = 16; /* whole 16-token groups for the amx kernel, 16+ rows still fit */
    tt = tt >= 16 ? tt / 16 * 16 : tt;
    if (tt > x->n_tok)
        tt = x->n_tok;
    int64_t rr = cap / tt;
    if (spr == 1 && rr >= 64)
        rr = rr / 64 * 64; /* I2_S: whole 64-row sets of the amx small-batch path */
    /* Decode of TQ rows: tiles of about DECODE_TILE_BYTES, so the epilogue
     * reads the block scales while the rows are still in L1. */
    if (tt == 1 && spr > 1 && rr * (int64_t)w->row_bytes > DECODE_TILE_BYTES)
        rr = DECODE_TILE_BYTES / (int64_t)w->row_bytes < 4 ? 4
             : DECODE_TILE_BYTES / (int64_t)w->row_bytes;
    for (int64_t t0 = 0; t0 < x->n_tok; t0 += tt) {
        int64_t t1 = t0 + tt < x->n_tok ? t0 + tt : x->n_tok;
        for (int64_t a = r0; a < r1; a += rr) {
            int64_t b = a + rr < r1 ? a + rr : r1;
            dot(w, x, a, b, t0, t1, acc);
            epilogue_tile(w, x, a, b, t0, t1, acc, y, ldy);
        }
    }
}

bn_status bn_kernel_matmul(const bn_kernel *k, const bn_qmat *w, const bn_act *x,
                           int64_t r0, int64_t r1, float *y, int64_t ldy, bn_error *err)
{
    bn_status st = check_args(k, w, x, r0, r1, err);
    if (st)
        return st;
    if (!y || ldy < w->ne1)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: output stride %lld < %lld rows",
                            (long long)ldy, (long long)w->ne1);
    run_matmul(k, w, x, r0, r1, y, ldy);
    return BN_OK;
}

bn_status bn_kernel_matmul_int(const bn_kernel *k, const bn_qmat *w, const bn_act *x,
                               int64_t r0, int64_t r1, int32_t *acc, bn_error *err)
{
    bn_status st = check_args(k, w, x, r0, r1, err);
    if (st)
        return st;
    if (!acc)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: NULL output");
    dot_for(k, w->type)(w, x, r0, r1, 0, x->n_tok, acc);
    return BN_OK;
}

/* ---- row-parallel driver ---- */

typedef struct {
    const bn_kernel *k;
    const bn_qmat *w;
    const bn_act *x;
    float *y;
    int64_t ldy, chunk;
} par_ctx;

static void par_task(void *vctx, int64_t task, int worker)
{
    (void)worker;
    const par_ctx *c = vctx;
    int64_t r0 = task * c->chunk, r1 = r0 + c->chunk < c->w->ne1 ? r0 + c->chunk : c->w->ne1;
    run_matmul(c->k, c->w, c->x, r0, r1, c->y, c->ldy);
}

bn_status bn_kernel_matmul_par(const bn_kernel *k, bn_pool *pool, const bn_qmat *w,
                               const bn_act *x, float *y, int64_t ldy, bn_error *err)
{
    bn_status st = check_args(k, w, x, 0, w ? w->ne1 : 1, err);
    if (st)
        return st;
    if (!y || ldy < w->ne1)
        return bn_error_set(err, BN_EINVAL, "ternary matmul: output stride %lld < %lld rows",
                            (long long)ldy, (long long)w->ne1);
    /* About 4 chunks per thread for balance, in multiples of 16 rows so the
     * blocked kernels see whole row groups and neighbours rarely share a
     * cache line of y. */
    int64_t nt = bn_pool_threads(pool), chunk = (w->ne1 + 4 * nt - 1) / (4 * nt);
    chunk = (chunk + 15) / 16 * 16;
    par_ctx c = {k, w, x, y, ldy, chunk};
    bn_pool_run(pool, par_task, &c, (w->ne1 + chunk - 1) / chunk);
    return BN_OK;
}
