/* kvcache.c - keys and values of every layer for n_seq sequences of n_ctx
 * positions, stored F32 or F16. Layout (n_layer, n_seq, n_ctx, kv_dim): one
 * position of one layer is a contiguous kv_dim vector, so a head is a slice. */
#include "model_internal.h"

#include <stdlib.h>
#include <string.h>

bn_status bnr_kv_init(bn_kvcache *kv, bn_kv_type type, int n_layer, int n_seq, int n_ctx,
                     int kv_dim, bn_error *err)
{
    memset(kv, 0, sizeof *kv);
    size_t elt = type == BN_KV_F16 ? 2 : 4, n;
    if (bn_mul_ovf_size((size_t)n_layer, (size_t)n_seq, &n) ||
        bn_mul_ovf_size(n, (size_t)n_ctx, &n) || bn_mul_ovf_size(n, (size_t)kv_dim, &n) ||
        bn_mul_ovf_size(n, elt, &n))
        return bn_error_set(err, BN_ELIMIT,
                            "KV cache of %d layers x %d sequences x %d positions x %d overflows",
                            n_layer, n_seq, n_ctx, kv_dim);
    kv->k = malloc(n ? n : 1);
    kv->v = malloc(n ? n : 1);
    kv->len = calloc((size_t)n_seq, sizeof *kv->len);
    if (!kv->k || !kv->v || !kv->len) {
        bnr_kv_free(kv);
        return bn_error_set(err, BN_ENOMEM, "out of memory for a KV cache of 2 x %zu MiB",
                            n >> 20);
    }
    kv->type = type;
    kv->n_layer = n_layer;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->kv_dim = kv_dim;
    return BN_OK;
}

void bnr_kv_free(bn_kvcache *kv)
{
    free(kv->k);
    free(kv->v);
    free(kv->len);
    memset(kv, 0, sizeof *kv);
}

/* Element index of (l, seq, pos, 0). */
static size_t at(const bn_kvcache *kv, int l, int seq, int pos)
{
    return (((size_t)l * (size_t)kv->n_seq + (size_t)seq) * (size_t)kv->n_ctx + (size_t)pos) *
           (size_t)kv->kv_dim;
}

void bnr_kv_store(bn_kvcache *kv, int l, int seq, int pos, const float *k, const float *v)
{
    size_t i = at(kv, l, seq, pos);
    if (kv->type == BN_KV_F32) {
        memcpy((float *)kv->k + i, k, (size_t)kv->kv_dim * sizeof *k);
        memcpy((float *)kv->v + i, v, (size_t)kv->kv_dim * sizeof *v);
        return;
    }
    uint16_t *kd = (uint16_t *)kv->k + i, *vd = (uint16_t *)kv->v + i;
    for (int j = 0; j < kv->kv_dim; j++) {
        kd[j] = bn_f32_to_f16(k[j]);
        vd[j] = bn_f32_to_f16(v[j]);
    }
}

static const float *read(const bn_kvcache *kv, const void *base, int l, int seq, int pos,
                         int off, int n, float *tmp)
{
    size_t i = at(kv, l, seq, pos) + (size_t)off;
    if (kv->type == BN_KV_F32)
        return (const float *)base + i;
    const float *tab = bnr_f16_table();
    const uint16_t *h = (const uint16_t *)base + i;
    for (int j = 0; j < n; j++)
        tmp[j] = tab[h[j]];
    return tmp;
}

const float *bnr_kv_k(const bn_kvcache *kv, int l, int seq, int pos, int off, int n, float *tmp)
{
    return read(kv, kv->k, l, seq, pos, off, n, tmp);
}

const float *bnr_kv_v(const bn_kvcache *kv, int l, int seq, int pos, int off, int n, float *tmp)
{
    return read(kv, kv->v, l, seq, pos, off, n, tmp);
}

const uint16_t *bnr_kv_k_f16(const bn_kvcache *kv, int l, int seq, int pos, int off)
{
    return (const uint16_t *)kv->k + at(kv, l, seq, pos) + (size_t)off;
}

const uint16_t *bnr_kv_v_f16(const bn_kvcache *kv, int l, int seq, int pos, int off)
{
    return (const uint16_t *)kv->v + at(kv, l, seq, pos) + (size_t)off;
}
