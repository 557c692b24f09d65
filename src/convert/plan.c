/*
 * plan.c - which tensors an architecture needs, under which names and shapes
 * (FORMATS.md §3), and the q/k row permutation of the llama architecture.
 */
#include "bn/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const PROJ_GGUF[BN_PROJ_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                     "ffn_gate", "ffn_up", "ffn_down"};
static const char *const PROJ_HF[BN_PROJ_COUNT] = {"self_attn.q_proj", "self_attn.k_proj",
                                                   "self_attn.v_proj", "self_attn.o_proj",
                                                   "mlp.gate_proj",    "mlp.up_proj",
                                                   "mlp.down_proj"};

const char *bn_proj_kind_name(bn_proj_kind k)
{
    return (unsigned)k < BN_PROJ_COUNT ? PROJ_GGUF[k] : "?";
}

typedef struct {
    bn_tensor_plan *v;
    size_t n, cap;
} plan_vec;

static void push(plan_vec *pv, const char *gguf, const char *hf, bn_tensor_role role, int layer,
                 bn_proj_kind proj, int64_t rows, int64_t cols)
{
    bn_tensor_plan *t = &pv->v[pv->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->gguf_name, sizeof t->gguf_name, "%s", gguf);
    snprintf(t->hf_name, sizeof t->hf_name, "%s", hf);
    t->role = role;
    t->layer = layer;
    t->proj = proj;
    t->rows = rows;
    t->cols = cols;
}

bn_status bn_plan_tensors(const bn_hfconfig *cfg, int has_output, bn_tensor_plan **out, size_t *n,
                          bn_error *err)
{
    *out = NULL;
    *n = 0;
    int sub_norms = cfg->arch != BN_ARCH_LLAMA;
    size_t per_layer = 2 + BN_PROJ_COUNT + (sub_norms ? 2 : 0);
    plan_vec pv = {0};
    pv.cap = 3 + (size_t)cfg->n_layer * per_layer;
    pv.v = calloc(pv.cap, sizeof *pv.v);
    if (!pv.v)
        return bn_error_set(err, BN_ENOMEM, "cannot allocate the tensor plan (%zu tensors)", pv.cap);

    const int64_t E = cfg->n_embd, F = cfg->n_ff, V = cfg->n_vocab;
    const int64_t Q = (int64_t)cfg->n_head * cfg->head_dim, KV = (int64_t)cfg->n_head_kv * cfg->head_dim;
    const int64_t proj_rows[BN_PROJ_COUNT] = {Q, KV, KV, E, F, F, E};
    const int64_t proj_cols[BN_PROJ_COUNT] = {E, E, E, Q, E, E, F};
    const char *attn_sub = cfg->arch == BN_ARCH_BITNET ? "self_attn.inner_attn_ln" : "self_attn.attn_sub_norm";
    const char *ffn_sub = cfg->arch == BN_ARCH_BITNET ? "mlp.ffn_layernorm" : "mlp.ffn_sub_norm";

    push(&pv, "token_embd.weight", "model.embed_tokens.weight", BN_ROLE_EMBD, -1, 0, V, E);
    char g[96], h[160];
    for (uint32_t l = 0; l < cfg->n_layer; l++) {
#define NAMES(gg, hh)                                                   \
    snprintf(g, sizeof g, "blk.%u.%s.weight", l, gg);                   \
    snprintf(h, sizeof h, "model.layers.%u.%s.weight", l, hh)
        NAMES("attn_norm", "input_layernorm");
        push(&pv, g, h, BN_ROLE_NORM, (int)l, 0, 1, E);
        for (int k = BN_PROJ_Q; k <= BN_PROJ_O; k++) {
            NAMES(PROJ_GGUF[k], PROJ_HF[k]);
            push(&pv, g, h, BN_ROLE_PROJ, (int)l, (bn_proj_kind)k, proj_rows[k], proj_cols[k]);
        }
        if (sub_norms) {
            NAMES("attn_sub_norm", attn_sub);
            push(&pv, g, h, BN_ROLE_NORM, (int)l, 0, 1, E);
        }
        NAMES("ffn_norm", "post_attention_layernorm");
        push(&pv, g, h, BN_ROLE_NORM, (int)l, 0, 1, E);
        for (int k = BN_PROJ_GATE; k < BN_PROJ_COUNT; k++) {
            NAMES(PROJ_GGUF[k], PROJ_HF[k]);
            push(&pv, g, h, BN_ROLE_PROJ, (int)l, (bn_proj_kind)k, proj_rows[k], proj_cols[k]);
        }
        if (sub_norms) {
            NAMES("ffn_sub_norm", ffn_sub);
            push(&pv, g, h, BN_ROLE_NORM, (int)l, 0, 1, F);
        }
#undef NAMES
    }
    push(&pv, "output_norm.weight", "model.norm.weight", BN_ROLE_NORM, -1, 0, 1, E);
    if (has_output)
        push(&pv, "output.weight", "lm_head.weight", BN_ROLE_OUTPUT, -1, 0, V, E);
    *out = pv.v;
    *n = pv.n;
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
