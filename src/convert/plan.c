/*
 * plan.c - the converter's view of the architecture table (arch.h): the
 * tensors a checkpoint must hold and the GGUF must get, a row chosen by name,
 * and the q/k row permutation of NORM-rope architectures.
 */
#include "bn/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bn_status bn_plan_tensors(const bn_hfconfig *cfg, int has_output, bn_tensor_plan **out, size_t *n,
                          bn_error *err)
{
    *out = NULL;
    *n = 0;
    const bn_arch_info *a = bn_arch_get(cfg->arch);
    if (!a)
        return bn_error_set(err, BN_EINVAL, "tensor plan: architecture %d is not in the table",
                            (int)cfg->arch);
    const bn_arch_dims dims = {cfg->n_embd, cfg->n_ff, cfg->n_vocab, cfg->n_head, cfg->n_head_kv,
                               cfg->head_dim};
    size_t count = bn_arch_n_tensors(a, cfg->n_layer, has_output);
    bn_tensor_plan *v = calloc(count, sizeof *v);
    if (!v)
        return bn_error_set(err, BN_ENOMEM, "cannot allocate the tensor plan (%zu tensors)", count);
    for (size_t i = 0; i < count; i++) {
        const bn_arch_tensor *t;
        int64_t l;
        bn_arch_tensor_at(a, cfg->n_layer, has_output, i, &t, &l);
        bn_tensor_plan *p = &v[i];
        bn_arch_gguf_tensor_name(t, l, p->gguf_name, sizeof p->gguf_name);
        bn_arch_hf_tensor_name(t, l, p->hf_name, sizeof p->hf_name);
        p->role = t->role;
        p->layer = (int)l;
        /* PyTorch [rows, cols] = GGUF {ne1, ne0} */
        p->rows = bn_arch_dim(t->ne1, &dims);
        p->cols = bn_arch_dim(t->ne0, &dims);
    }
    *out = v;
    *n = count;
    return BN_OK;
}

bn_status bn_hfconfig_select(bn_hfconfig *cfg, const char *arch, const char *name, bn_error *err)
{
    bn_arch id;
    if (bn_arch_from_name(arch, &id) != 0)
        return bn_error_set(err, BN_EINVAL, "unknown architecture '%s' (known: %s)", arch,
                            bn_arch_names());
    const bn_arch_info *a = bn_arch_get(id);
    if (strcmp(a->hf_class, cfg->hf_arch) != 0 || (a->hf_needs_bitnet && !cfg->offline_packed))
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "%s: architecture %s reads %s%s checkpoints; this one is %s%s", name,
                            a->name, a->hf_class,
                            a->hf_needs_bitnet ? " (quant_method \"bitnet\")" : "", cfg->hf_arch,
                            cfg->offline_packed ? " (quant_method \"bitnet\")" : "");
    cfg->arch = id;
    cfg->gguf_arch = a->gguf_name;
    return BN_OK;
}

bn_status bn_permute_qk_rows(const void *src, void *dst, int64_t n_heads, int64_t head_dim,
                             size_t row_bytes, bn_error *err)
{
    if (n_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0)
        return bn_error_set(err, BN_EINVAL, "q/k permutation: head_dim %lld must be positive and even",
                            (long long)head_dim);
    const uint8_t *s = src;
    uint8_t *d = dst;
    const int64_t half = head_dim / 2;
    for (int64_t hd = 0; hd < n_heads; hd++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t p = 0; p < 2; p++) {
                int64_t to = hd * head_dim + i * 2 + p;
                int64_t from = hd * head_dim + p * half + i;
                memcpy(d + (size_t)to * row_bytes, s + (size_t)from * row_bytes, row_bytes);
            }
    return BN_OK;
}
