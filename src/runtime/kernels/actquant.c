/*
 * actquant.c - float activations -> int8 with scales (kernels.h contract 4).
 *
 * Rounding: rintf() in the default round-to-nearest mode is round half to
 * even, the rule of both bitnet.cpp's per-token quantizer and ggml's
 * nearest_int(). The product x*scale is rounded to float32 on its own
 * statement before rintf sees it; there is no addition for a compiler to fuse
 * it with (ggml's nearest_int adds 1.5*2^23, which an FMA could swallow; we
 * deliberately do not use that trick), so no -ffp-contract flag is needed.
 * The test suite includes products that are exact .5 ties only after float32
 * rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bn/util.h"
#include "kern.h"

/* round_half_even(p) clamped to int8; NaN -> 0. Clamping before rintf is
 * exact: every p >= 127 rounds to >= 127 and every p <= -128 to <= -128. */
static inline int8_t round_clamp_i8(float p)
{
    if (!(p == p))
        return 0;
    if (p >= 127.0f)
        return 127;
    if (p <= -128.0f)
        return -128;
    return (int8_t)rintf(p);
}

static void group_sums(const int8_t *q, int64_t n, int32_t *sum, int32_t *bsum)
{
    int32_t total = 0;
    for (int64_t g = 0; g < n / BN_ACT_GROUP; g++) {
        int32_t s = 0;
        for (int i = 0; i < BN_ACT_GROUP; i++)
            s += q[g * BN_ACT_GROUP + i];
        bsum[g] = s;
        total += s;
    }
    *sum = total;
}

/* The scalar form of the per-token rule; actquant_avx512.c gives the same bytes. */
static void row_token_scalar(const float *x, int64_t n, int8_t *q, float *sa, int32_t *sum,
                             int32_t *bsum)
{
    /* bitnet.cpp: the max starts at 1e-5 and is taken in double. NaN never
     * compares greater, so it cannot become the max. */
    double a = 0.00001;
    for (int64_t i = 0; i < n; i++) {
        double v = fabs((double)x[i]);
        if (v > a)
            a = v;
    }
    const float s = (float)(127.0 / a);
    for (int64_t i = 0; i < n; i++) {
        float p = x[i] * s;
        q[i] = round_clamp_i8(p);
    }
    *sa = s;
    group_sums(q, n, sum, bsum);
}

void bn_act_quantize_row_token(const float *x, int64_t n, int8_t *q, float *sa,
                               int32_t *sum, int32_t *bsum)
{
#if defined(__x86_64__)
    if (bnr_act_avx512_available()) {
        bnr_act_row_token_avx512(x, n, q, sa, sum, bsum);
        return;
    }
#endif
    row_token_scalar(x, n, q, sa, sum, bsum);
}

/* The scalar form of ggml's Q8_K rule; actquant_avx512.c gives the same bytes. */
static void row_q8k_scalar(const float *x, int64_t n, int8_t *q, float *d, int32_t *sum,
                           int32_t *bsum)
{
    for (int64_t b = 0; b < n / BN_QK; b++) {
        const float *xb = x + b * BN_QK;
        int8_t *qb = q + b * BN_QK;
        float amax = 0.0f, m = 0.0f; /* m: the signed element of largest |x|, first wins */
        for (int j = 0; j < BN_QK; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                m = xb[j];
            }
        }
        if (amax == 0.0f) {
            d[b] = 0.0f;
            memset(qb, 0, BN_QK);
            continue;
        }
        const float iscale = -127.0f / m;
        for (int j = 0; j < BN_QK; j++) {
            float p = iscale * xb[j];
            qb[j] = round_clamp_i8(p);
        }
        d[b] = 1.0f / iscale;
    }
    group_sums(q, n, sum, bsum);
}

void bn_act_quantize_row_q8k(const float *x, int64_t n, int8_t *q, float *d,
                             int32_t *sum, int32_t *bsum)
{
#if defined(__x86_64__)
    if (bnr_act_avx512_available()) {
        bnr_act_row_q8k_avx512(x, n, q, d, sum, bsum);
        return;
    }
#endif
    row_q8k_scalar(x, n, q, d, sum, bsum);
}

bn_status bn_act_init(bn_act *a, bn_act_kind kind, int64_t cap_tok, int64_t ne0, bn_error *err)
{
    memset(a, 0, sizeof *a);
    if (kind != BN_ACT_TOKEN && kind != BN_ACT_Q8K)
        return bn_error_set(err, BN_EINVAL, "activations: unknown kind %d", (int)kind);
    int64_t blk = kind == BN_ACT_Q8K ? BN_QK : BN_ACT_GROUP;
    if (ne0 < blk || ne0 % blk != 0 || ne0 > BN_KERNEL_MAX_K)
        return bn_error_set(err, BN_EINVAL,
                            "activations: row length %lld is not a positive multiple of %lld "
                            "up to %lld", (long long)ne0, (long long)blk,
                            (long long)BN_KERNEL_MAX_K);
    if (cap_tok < 1)
        return bn_error_set(err, BN_EINVAL, "activations: token capacity %lld < 1",
                            (long long)cap_tok);
    size_t nq, nq_pad, nscale = (size_t)(kind == BN_ACT_Q8K ? ne0 / BN_QK : 1);
    size_t ngroups = (size_t)(ne0 / BN_ACT_GROUP), n_sc, n_bs;
    if (bn_mul_ovf_size((size_t)cap_tok, (size_t)ne0, &nq) ||
        bn_add_ovf_size(nq, 63, &nq_pad) ||
        bn_mul_ovf_size((size_t)cap_tok, nscale * sizeof(float), &n_sc) ||
        bn_mul_ovf_size((size_t)cap_tok, ngroups * sizeof(int32_t), &n_bs))
        return bn_error_set(err, BN_ELIMIT, "activations: %lld tokens x %lld overflow size_t",
                            (long long)cap_tok, (long long)ne0);
    nq_pad &= ~(size_t)63;
    a->q = aligned_alloc(64, nq_pad);
    a->scale = calloc(1, n_sc);
    a->sum = calloc((size_t)cap_tok, sizeof(int32_t));
    a->bsum = calloc(1, n_bs);
    if (!a->q || !a->scale || !a->sum || !a->bsum) {
        bn_act_free(a);
        return bn_error_set(err, BN_ENOMEM, "activations: out of memory for %lld tokens x %lld",
                            (long long)cap_tok, (long long)ne0);
    }
    memset(a->q, 0, nq_pad);
    a->kind = kind;
    a->ne0 = ne0;
    a->cap_tok = cap_tok;
    a->n_tok = 0;
    return BN_OK;
}

void bn_act_free(bn_act *a)
{
    if (!a)
        return;
    free(a->q);
    free(a->scale);
    free(a->sum);
    free(a->bsum);
    memset(a, 0, sizeof *a);
}

static bn_status check_quantize(const bn_act *a, int64_t n_tok, bn_error *err)
{
    if (!a->q)
        return bn_error_set(err, BN_EINVAL, "activations: not initialized");
    if (n_tok < 1 || n_tok > a->cap_tok)
        return bn_error_set(err, BN_EINVAL, "activations: %lld tokens, capacity is %lld",
                            (long long)n_tok, (long long)a->cap_tok);
    return BN_OK;
}

/* Token t of x into a (its rows of q, scale, sum, bsum). */
static void quantize_token(bn_act *a, const float *x, int64_t t)
{
    int64_t ng = a->ne0 / BN_ACT_GROUP, nsc = a->kind == BN_ACT_Q8K ? a->ne0 / BN_QK : 1;
    const float *xt = x + t * a->ne0;
    int8_t *qt = a->q + t * a->ne0;
    if (a->kind == BN_ACT_TOKEN)
        bn_act_quantize_row_token(xt, a->ne0, qt, &a->scale[t], &a->sum[t], a->bsum + t * ng);
    else
        bn_act_quantize_row_q8k(xt, a->ne0, qt, a->scale + t * nsc, &a->sum[t], a->bsum + t * ng);
}

bn_status bn_act_quantize(bn_act *a, const float *x, int64_t n_tok, bn_error *err)
{
    bn_status st = check_quantize(a, n_tok, err);
    if (st)
        return st;
    for (int64_t t = 0; t < n_tok; t++)
        quantize_token(a, x, t);
    a->n_tok = n_tok;
    return BN_OK;
}

typedef struct {
    bn_act *a;
    const float *x;
} quant_job;

static void quantize_task(void *ctx, int64_t t, int worker)
{
    (void)worker;
    const quant_job *j = ctx;
    quantize_token(j->a, j->x, t);
}

bn_status bn_act_quantize_par(bn_act *a, bn_pool *pool, const float *x, int64_t n_tok,
                              bn_error *err)
{
    bn_status st = check_quantize(a, n_tok, err);
    if (st)
        return st;
    quant_job j = {a, x};
    bn_pool_run(pool, quantize_task, &j, n_tok);
    a->n_tok = n_tok;
    return BN_OK;
}
