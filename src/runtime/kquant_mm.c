/* kquant_mm.c - y = W x for a Q6_K or Q4_K weight (the head of a file written
 * with --embd-type q6_k / q4_k) and Q8_K activations, as ggml's
 * ggml_vec_dot_q{6,4}_K_q8_K computes it: the scalar reference sums and float
 * combination, the choice of SIMD versions, and the threaded product. The
 * contract is in kquant_internal.h. */
#include "kquant_internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bn/quant.h"

#define QK_K 256

int bnr_is_kquant(bn_type t) { return t == BN_TYPE_Q6_K || t == BN_TYPE_Q4_K; }

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void bnr_kq_bsum16(const int8_t *q, int64_t n, int16_t *bsum16)
{
    for (int64_t g = 0; g < n / 16; g++) {
        int s = 0;
        for (int i = 0; i < 16; i++)
            s += q[16 * g + i];
        bsum16[g] = (int16_t)s;
    }
}

/* ---- the reference sums (contract 1), element by element ------------------------ */

static int lane_of(int e) { return (e & 31) >> 2; } /* contract 1: e's lane in its block */

void bnr_kq_sums_q6k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M)
{
    (void)bsum16;
    (void)M;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 210;
        const int8_t *x = q + (size_t)b * QK_K, *sc = (const int8_t *)blk + 192;
        int32_t *s = S + (size_t)b * BNR_KQ_LANES;
        memset(s, 0, BNR_KQ_LANES * sizeof *s);
        for (int e = 0; e < QK_K; e++) {
            /* element e = 128 h + 32 quarter + l: 4 low bits from ql (quarters 0, 1
             * the low nibbles of bytes l and l + 32, quarters 2, 3 the high ones),
             * 2 high bits from qh[l] at bit 2 * quarter */
            int h = e / 128, quarter = e % 128 / 32, l = e % 32;
            const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
            int lo = ql[l + 32 * (quarter & 1)] >> (4 * (quarter >> 1)) & 15;
            int w = (lo | ((qh[l] >> (2 * quarter)) & 3) << 4) - 32;
            s[lane_of(e)] += sc[e / 16] * w * x[e];
        }
    }
}

void bnr_kq_sums_q4k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M)
{
    (void)bsum16;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 144;
        const int8_t *x = q + (size_t)b * QK_K;
        int32_t *s = S + (size_t)b * BNR_KQ_LANES, *mm = M + (size_t)b * BNR_KQ_MLANES;
        memset(s, 0, BNR_KQ_LANES * sizeof *s);
        memset(mm, 0, BNR_KQ_MLANES * sizeof *mm);
        for (int j = 0; j < 8; j++) { /* group j of 32: nibble j % 2 of qs[32 (j / 2) + l] */
            uint8_t sc, m;
            bn_kquant_scale_min_k4(j, blk + 4, &sc, &m);
            const uint8_t *qs = blk + 16 + 32 * (j / 2);
            int32_t xs = 0;
            for (int l = 0; l < 32; l++) {
                int w = j % 2 == 0 ? qs[l] & 15 : qs[l] >> 4;
                s[lane_of(32 * j + l)] += sc * w * x[32 * j + l];
                xs += x[32 * j + l];
            }
            mm[j / 2] += m * xs;
        }
    }
}

/* ---- the float combination (contract 2) ------------------------------------------- */

float bnr_kq_finish(bn_type t, const float *a, const float *c)
{
    float y = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    if (t == BN_TYPE_Q4_K)
        y += (c[0] + c[2]) + (c[1] + c[3]);
    return y;
}

/* One block's lanes into the accumulators a (8) and c (4): contract 2's loop body. */
static void combine_block(bn_type t, const uint8_t *blk, float dx, const int32_t *S,
                          const int32_t *M, float *a, float *c)
{
    const float *f16 = bnr_f16_table();
    float d = dx * f16[rd16(blk + (t == BN_TYPE_Q6_K ? 208 : 0))];
    for (int k = 0; k < BNR_KQ_LANES; k++)
        a[k] = fmaf(d, (float)S[k], a[k]);
    if (t == BN_TYPE_Q4_K) {
        float dmin = -(dx * f16[rd16(blk + 2)]);
        for (int i = 0; i < BNR_KQ_MLANES; i++)
            c[i] = fmaf(dmin, (float)M[i], c[i]);
    }
}

float bnr_kq_combine_basic(bn_type t, const uint8_t *row, const float *dx, const int32_t *S,
                          const int32_t *M, int nb)
{
    float a[BNR_KQ_LANES] = {0}, c[BNR_KQ_MLANES] = {0};
    size_t bb = t == BN_TYPE_Q6_K ? 210 : 144;
    for (int b = 0; b < nb; b++)
        combine_block(t, row + (size_t)b * bb, dx[b], S + (size_t)b * BNR_KQ_LANES,
                      M + (size_t)b * BNR_KQ_MLANES, a, c);
    return bnr_kq_finish(t, a, c);
}

float bnr_kq_dot_basic(bn_type t, const uint8_t *row, const int8_t *q, const int16_t *bsum16,
                      const float *dx, int nb)
{
    float a[BNR_KQ_LANES] = {0}, c[BNR_KQ_MLANES] = {0};
    size_t bb = t == BN_TYPE_Q6_K ? 210 : 144;
    for (int b = 0; b < nb; b++) { /* block by block: no scratch for the lanes */
        int32_t S[BNR_KQ_LANES], M[BNR_KQ_MLANES] = {0};
        const uint8_t *blk = row + (size_t)b * bb;
        if (t == BN_TYPE_Q6_K)
            bnr_kq_sums_q6k_basic(blk, q + (size_t)b * QK_K, bsum16 + 16 * b, 1, S, M);
        else
            bnr_kq_sums_q4k_basic(blk, q + (size_t)b * QK_K, bsum16 + 16 * b, 1, S, M);
        combine_block(t, blk, dx[b], S, M, a, c);
    }
    return bnr_kq_finish(t, a, c);
}

static pthread_once_t kq_once = PTHREAD_ONCE_INIT;
static int kq_avx2, kq_avx512;

static void kq_init(void)
{
    kq_avx2 = bnr_kq_avx2_available();
    kq_avx512 = bnr_kq_avx512_available();
}

bnr_kq_sums_fn bnr_kq_sums_for(bn_type t, const char *isa)
{
    pthread_once(&kq_once, kq_init);
    if (!isa)
        isa = kq_avx512 ? "avx512" : kq_avx2 ? "avx2" : "basic";
    int q6 = t == BN_TYPE_Q6_K;
    if (strcmp(isa, "avx512") == 0)
        return !kq_avx512 ? NULL : q6 ? bnr_kq_sums_q6k_avx512 : bnr_kq_sums_q4k_avx512;
    if (strcmp(isa, "avx2") == 0)
        return !kq_avx2 ? NULL : q6 ? bnr_kq_sums_q6k_avx2 : bnr_kq_sums_q4k_avx2;
    if (strcmp(isa, "basic") == 0)
        return q6 ? bnr_kq_sums_q6k_basic : bnr_kq_sums_q4k_basic;
    return NULL;
}

bnr_kq_dot_fn bnr_kq_dot_for(bn_type t)
{
    pthread_once(&kq_once, kq_init);
    if (!kq_avx512)
        return NULL;
    return t == BN_TYPE_Q6_K ? bnr_kq_dot_q6k_avx512 : bnr_kq_dot_q4k_avx512;
}

bnr_kq_combine_fn bnr_kq_combine_for(int basic)
{
    pthread_once(&kq_once, kq_init);
    return !basic && kq_avx2 ? bnr_kq_combine_avx2 : bnr_kq_combine_basic;
}

/* ---- the product ------------------------------------------------------------------ */

#define KQ_TOKENS 64  /* tokens per tile: 64 x 2560 int8 stay in L2 beside the rows */

typedef struct {
    const bn_weight *w;
    const bn_act *xq;
    const int16_t *bsum16; /* (n_tok, n_in / 16) */
    int32_t *lanes;        /* per worker: S (nb * 8) then M (nb * 4) */
    bnr_kq_dot_fn dot;     /* one pass when the CPU has it, else sums then combine */
    bnr_kq_sums_fn sums;
    bnr_kq_combine_fn combine;
    float *y;
    int rows_per_task;
} kq_job;

static void kq_task(void *ctx, int64_t task, int worker)
{
    const kq_job *j = ctx;
    const bn_weight *w = j->w;
    const bn_act *a = j->xq;
    const int nb = w->n_in / QK_K, n_tok = (int)a->n_tok;
    int r0 = (int)task * j->rows_per_task;
    int r1 = r0 + j->rows_per_task < w->n_out ? r0 + j->rows_per_task : w->n_out;
    int32_t *S = j->lanes + (size_t)worker * (size_t)nb * (BNR_KQ_LANES + BNR_KQ_MLANES);
    int32_t *M = S + (size_t)nb * BNR_KQ_LANES;
    for (int t0 = 0; t0 < n_tok; t0 += KQ_TOKENS) { /* hot loop: the row stays in L1 */
        int t1 = t0 + KQ_TOKENS < n_tok ? t0 + KQ_TOKENS : n_tok;
        for (int r = r0; r < r1; r++) {
            const uint8_t *row = w->data + (size_t)r * w->row_bytes;
            for (int t = t0; t < t1; t++) {
                const int8_t *q = a->q + (size_t)t * (size_t)a->ne0;
                const int16_t *bs = j->bsum16 + (size_t)t * (size_t)(a->ne0 / 16);
                const float *dx = a->scale + (size_t)t * nb;
                float *y = j->y + (size_t)t * w->n_out + r;
                if (j->dot) {
                    *y = j->dot(row, q, bs, dx, nb);
                } else {
                    j->sums(row, q, bs, nb, S, M);
                    *y = j->combine(w->type, row, dx, S, M, nb);
                }
            }
        }
    }
}

bn_status bnr_kq_matmul(const bn_model *m, const bn_weight *w, const bn_act *xq, float *y,
                       bn_error *err)
{
    if (xq->kind != BN_ACT_Q8K || xq->ne0 != w->n_in || w->n_in % QK_K || w->n_in > BN_KERNEL_MAX_K)
        return bn_error_set(err, BN_EINTERNAL, "tensor '%s': %s needs Q8_K activations of %d",
                            w->name, bn_type_name(w->type), w->n_in);
    int n_workers = bn_pool_threads(m->pool);
    size_t ng = (size_t)xq->n_tok * (size_t)(xq->ne0 / 16);
    size_t nl = (size_t)n_workers * (size_t)(w->n_in / QK_K) * (BNR_KQ_LANES + BNR_KQ_MLANES);
    /* a few kB per decode step: sizes bounded by BN_KERNEL_MAX_K and the pool */
    int16_t *bsum16 = malloc(ng * sizeof *bsum16);
    int32_t *lanes = malloc(nl * sizeof *lanes);
    if (!bsum16 || !lanes) {
        free(bsum16);
        free(lanes);
        return bn_error_set(err, BN_ENOMEM, "tensor '%s': out of memory for Q8_K sums", w->name);
    }
    for (int64_t t = 0; t < xq->n_tok; t++)
        bnr_kq_bsum16(xq->q + t * xq->ne0, xq->ne0, bsum16 + t * (xq->ne0 / 16));
    kq_job j = {.w = w, .xq = xq, .bsum16 = bsum16, .lanes = lanes,
                .dot = bnr_kq_dot_for(w->type), .sums = bnr_kq_sums_for(w->type, NULL), .combine = bnr_kq_combine_for(0), .y = y};
    int per = (w->n_out + 4 * n_workers - 1) / (4 * n_workers);
    j.rows_per_task = (per + 15) / 16 * 16;
    bn_pool_run(m->pool, kq_task, &j, (w->n_out + j.rows_per_task - 1) / j.rows_per_task);
    free(bsum16);
    free(lanes);
    return BN_OK;
}
