/* kquant_mm.c - y = W x for a Q6_K or Q4_K weight (the head of a file written
 * with --embd-type q6_k / q4_k) and Q8_K activations, as ggml's
 * ggml_vec_dot_q{6,4}_K_q8_K computes it: the scalar reference sums, the
 * float combination every kernel shares, and the threaded product. The
 * contract is in kquant_internal.h. */
#include "kquant_internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

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

void bnr_kq_sums_q6k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M)
{
    (void)bsum16;
    (void)M;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 210;
        const int8_t *x = q + (size_t)b * QK_K, *sc = (const int8_t *)blk + 192;
        int32_t s = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
            for (int quarter = 0; quarter < 4; quarter++) {
                for (int half16 = 0; half16 < 2; half16++) {
                    int g = 8 * h + 2 * quarter + half16; /* group of 16: element / 16 */
                    int32_t gs = 0;
                    for (int i = 0; i < 16; i++) {
                        int l = 16 * half16 + i;
                        int lo = quarter == 0   ? ql[l] & 15
                                 : quarter == 1 ? ql[l + 32] & 15
                                 : quarter == 2 ? ql[l] >> 4
                                                : ql[l + 32] >> 4;
                        int w = (lo | ((qh[l] >> (2 * quarter)) & 3) << 4) - 32;
                        gs += w * x[16 * g + i];
                    }
                    s += sc[g] * gs;
                }
            }
        }
        S[b] = s;
    }
}

void bnr_kq_sums_q4k_basic(const uint8_t *row, const int8_t *q, const int16_t *bsum16, int nb,
                          int32_t *S, int32_t *M)
{
    (void)bsum16;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 144;
        const int8_t *x = q + (size_t)b * QK_K;
        int32_t s = 0, mm = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            bn_kquant_scale_min_k4(j, blk + 4, &sc, &m);
            const uint8_t *qs = blk + 16 + 32 * (j / 2);
            int32_t gs = 0, xs = 0;
            for (int l = 0; l < 32; l++) {
                int w = j % 2 == 0 ? qs[l] & 15 : qs[l] >> 4;
                gs += w * x[32 * j + l];
                xs += x[32 * j + l];
            }
            s += sc * gs;
            mm += m * xs;
        }
        S[b] = s;
        M[b] = mm;
    }
}

float bnr_kq_combine(bn_type t, const uint8_t *row, const float *dx, const int32_t *S,
                    const int32_t *M, int nb)
{
    const float *f16 = bnr_f16_table();
    float acc = 0.0f;
    if (t == BN_TYPE_Q6_K) {
        for (int b = 0; b < nb; b++)
            acc += (f16[rd16(row + (size_t)b * 210 + 208)] * dx[b]) * (float)S[b];
        return acc;
    }
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 144;
        acc += (f16[rd16(blk)] * dx[b]) * (float)S[b];
        acc -= (f16[rd16(blk + 2)] * dx[b]) * (float)M[b];
    }
    return acc;
}

static pthread_once_t kq_once = PTHREAD_ONCE_INIT;
static int kq_avx512;

static void kq_init(void) { kq_avx512 = bnr_kq_avx512_available(); }

bnr_kq_sums_fn bnr_kq_sums_for(bn_type t, int basic)
{
    pthread_once(&kq_once, kq_init);
    int simd = !basic && kq_avx512;
    if (t == BN_TYPE_Q6_K)
        return simd ? bnr_kq_sums_q6k_avx512 : bnr_kq_sums_q6k_basic;
    return simd ? bnr_kq_sums_q4k_avx512 : bnr_kq_sums_q4k_basic;
}

/* ---- the product ------------------------------------------------------------------ */

#define KQ_TOKENS 64  /* tokens per tile: 64 x 2560 int8 stay in L2 beside the rows */
#define KQ_MAX_NB (BN_KERNEL_MAX_K / QK_K)

typedef struct {
    const bn_weight *w;
    const bn_act *xq;
    const int16_t *bsum16; /* (n_tok, n_in / 16) */
    bnr_kq_sums_fn sums;
    float *y;
    int rows_per_task;
} kq_job;

static void kq_task(void *ctx, int64_t task, int worker)
{
    (void)worker;
    const kq_job *j = ctx;
    const bn_weight *w = j->w;
    const bn_act *a = j->xq;
    const int nb = w->n_in / QK_K, n_tok = (int)a->n_tok;
    int r0 = (int)task * j->rows_per_task;
    int r1 = r0 + j->rows_per_task < w->n_out ? r0 + j->rows_per_task : w->n_out;
    int32_t S[KQ_MAX_NB], M[KQ_MAX_NB];
    for (int t0 = 0; t0 < n_tok; t0 += KQ_TOKENS) { /* hot loop: the row stays in L1 */
        int t1 = t0 + KQ_TOKENS < n_tok ? t0 + KQ_TOKENS : n_tok;
        for (int r = r0; r < r1; r++) {
            const uint8_t *row = w->data + (size_t)r * w->row_bytes;
            for (int t = t0; t < t1; t++) {
                j->sums(row, a->q + (size_t)t * (size_t)a->ne0,
                        j->bsum16 + (size_t)t * (size_t)(a->ne0 / 16), nb, S, M);
                j->y[(size_t)t * w->n_out + r] =
                    bnr_kq_combine(w->type, row, a->scale + (size_t)t * nb, S, M, nb);
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
    size_t ng = (size_t)xq->n_tok * (size_t)(xq->ne0 / 16);
    int16_t *bsum16 = malloc(ng * sizeof *bsum16); /* a few kB per decode step */
    if (!bsum16)
        return bn_error_set(err, BN_ENOMEM, "tensor '%s': out of memory for Q8_K sums", w->name);
    for (int64_t t = 0; t < xq->n_tok; t++)
        bnr_kq_bsum16(xq->q + t * xq->ne0, xq->ne0, bsum16 + t * (xq->ne0 / 16));
    kq_job j = {.w = w, .xq = xq, .bsum16 = bsum16, .sums = bnr_kq_sums_for(w->type, 0), .y = y};
    int n_workers = bn_pool_threads(m->pool);
    int per = (w->n_out + 4 * n_workers - 1) / (4 * n_workers);
    j.rows_per_task = (per + 15) / 16 * 16;
    bn_pool_run(m->pool, kq_task, &j, (w->n_out + j.rows_per_task - 1) / j.rows_per_task);
    free(bsum16);
    return BN_OK;
}
