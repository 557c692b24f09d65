/* kvcache.c - keys and values of every layer for n_seq sequences of n_ctx
 * positions, stored F32 or F16. Layout (n_layer, n_seq, n_head_kv, n_ctx,
 * head_dim): the keys (or values) of one KV head of one sequence are one
 * contiguous block of n_ctx rows, so attention streams a head's rows in order
 * and reads each row whole (attention.c). F16 stores round to nearest even;
 * reads convert exactly. */
#include "model_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A cache block of n bytes. From 2 MiB on it is aligned to 2 MiB and asks for
 * transparent huge pages: a decode step at depth streams hundreds of MB of
 * it, and with 4 KiB pages every 16 rows of a head are a new TLB entry. */
#define HUGE_PAGE ((size_t)2 << 20)
static void *cache_alloc(size_t n)
{
    if (n < HUGE_PAGE)
        return malloc(n ? n : 1);
    if (n > SIZE_MAX - HUGE_PAGE)
        return NULL;
    const size_t r = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, r);
#ifdef MADV_HUGEPAGE
    if (p)
        (void)madvise(p, r, MADV_HUGEPAGE); /* a hint: without THP the pages stay small */
#endif
    return p;
}

bn_status bnr_kv_init(bn_kvcache *kv, bn_kv_type type, int n_layer, int n_seq, int n_ctx,
                     int n_head_kv, int head_dim, bn_error *err)
{
    memset(kv, 0, sizeof *kv);
    size_t elt = type == BN_KV_F16 ? 2 : 4, n;
    if (bn_mul_ovf_size((size_t)n_layer, (size_t)n_seq, &n) ||
        bn_mul_ovf_size(n, (size_t)n_ctx, &n) || bn_mul_ovf_size(n, (size_t)n_head_kv, &n) ||
        bn_mul_ovf_size(n, (size_t)head_dim, &n) || bn_mul_ovf_size(n, elt, &n))
        return bn_error_set(err, BN_ELIMIT,
                            "KV cache of %d layers x %d sequences x %d positions x %d x %d "
                            "overflows",
                            n_layer, n_seq, n_ctx, n_head_kv, head_dim);
    kv->k = cache_alloc(n);
    kv->v = cache_alloc(n);
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
    kv->n_head_kv = n_head_kv;
    kv->head_dim = head_dim;
    return BN_OK;
}

void bnr_kv_free(bn_kvcache *kv)
{
    free(kv->k);
    free(kv->v);
    free(kv->len);
    memset(kv, 0, sizeof *kv);
}

/* Element index of (l, seq, kvh, pos = 0, 0). */
static size_t at(const bn_kvcache *kv, int l, int seq, int kvh)
{
    return (((size_t)l * (size_t)kv->n_seq + (size_t)seq) * (size_t)kv->n_head_kv +
            (size_t)kvh) * (size_t)kv->n_ctx * (size_t)kv->head_dim;
}

void bnr_kv_store(bn_kvcache *kv, int l, int seq, int pos, const float *k, const float *v)
{
    const size_t hd = (size_t)kv->head_dim, row = (size_t)pos * hd;
    for (int h = 0; h < kv->n_head_kv; h++) {
        size_t i = at(kv, l, seq, h) + row;
        const float *kh = k + (size_t)h * hd, *vh = v + (size_t)h * hd;
        if (kv->type == BN_KV_F32) {
            memcpy((float *)kv->k + i, kh, hd * sizeof *kh);
            memcpy((float *)kv->v + i, vh, hd * sizeof *vh);
            continue;
        }
        uint16_t *kd = (uint16_t *)kv->k + i, *vd = (uint16_t *)kv->v + i;
        for (size_t j = 0; j < hd; j++) {
            kd[j] = bn_f32_to_f16(kh[j]);
            vd[j] = bn_f32_to_f16(vh[j]);
        }
    }
}

const void *bnr_kv_head_k(const bn_kvcache *kv, int l, int seq, int kvh)
{
    size_t i = at(kv, l, seq, kvh);
    return kv->type == BN_KV_F32 ? (const void *)((const float *)kv->k + i)
                                 : (const void *)((const uint16_t *)kv->k + i);
}

const void *bnr_kv_head_v(const bn_kvcache *kv, int l, int seq, int kvh)
{
    size_t i = at(kv, l, seq, kvh);
    return kv->type == BN_KV_F32 ? (const void *)((const float *)kv->v + i)
                                 : (const void *)((const uint16_t *)kv->v + i);
}
