/*
 * table.c - the architecture table (include/bn/arch.h): rows, tensor layouts,
 * roles and the types each role may have. Adding an architecture is one row
 * here; a new tensor layout is one array of bn_arch_tensor.
 */
#include "bn/arch.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- roles ------------------------------------------------------------------------ */

static const char *const ROLE_NAMES[BN_ROLE_COUNT] = {
    "attn_q",     "attn_k", "attn_v",      "attn_output", "ffn_gate",      "ffn_up",
    "ffn_down",   "other",  "token_embd",  "output",      "output_norm",   "attn_norm",
    "attn_sub_norm", "ffn_norm", "ffn_sub_norm",
};

const char *bn_role_name(bn_role r)
{
    return (unsigned)r < BN_ROLE_COUNT ? ROLE_NAMES[r] : "other";
}

bn_role_class bn_role_class_of(bn_role r)
{
    if (bn_role_is_proj(r))
        return BN_RCLASS_PROJ;
    switch (r) {
    case BN_ROLE_TOKEN_EMBD:
    case BN_ROLE_OUTPUT: return BN_RCLASS_EMBD;
    case BN_ROLE_OUTPUT_NORM:
    case BN_ROLE_ATTN_NORM:
    case BN_ROLE_ATTN_SUB_NORM:
    case BN_ROLE_FFN_NORM:
    case BN_ROLE_FFN_SUB_NORM: return BN_RCLASS_NORM;
    default: return BN_RCLASS_NONE;
    }
}

/* Projections: the three ternary types and the float types llama.cpp also runs;
 * embeddings and the head: float, Q8_0 or a K-quant (Q6_K, Q4_K); norms: F32 (llama.cpp reads them so). */
static const bn_type PROJ_TYPES[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0,
                                     BN_TYPE_F16,  BN_TYPE_BF16,  BN_TYPE_F32};
static const bn_type EMBD_TYPES[] = {BN_TYPE_F16, BN_TYPE_F32, BN_TYPE_Q8_0, BN_TYPE_Q6_K,
                                     BN_TYPE_Q4_K};
static const bn_type NORM_TYPES[] = {BN_TYPE_F32};

const bn_type *bn_role_types(bn_role r, size_t *n)
{
    switch (bn_role_class_of(r)) {
    case BN_RCLASS_PROJ: *n = sizeof PROJ_TYPES / sizeof PROJ_TYPES[0]; return PROJ_TYPES;
    case BN_RCLASS_EMBD: *n = sizeof EMBD_TYPES / sizeof EMBD_TYPES[0]; return EMBD_TYPES;
    case BN_RCLASS_NORM: *n = 1; return NORM_TYPES;
    default: *n = 0; return NULL;
    }
}

int bn_role_type_ok(bn_role r, bn_type t)
{
    size_t n;
    const bn_type *ty = bn_role_types(r, &n);
    for (size_t i = 0; i < n; i++)
        if (ty[i] == t)
            return 1;
    return 0;
}

/* ---- tensor layouts ------------------------------------------------------------------ */

#define GLOBAL(role, g, h, a, b) {role, g, h, a, b, 0}
#define LAYER(role, g, h, a, b) {role, g, h, a, b, 1}

/* The projections and their norms, shared by every layout. */
#define ATTN_PROJ                                                                          \
    LAYER(BN_ROLE_ATTN_Q, "attn_q", "self_attn.q_proj", BN_DIM_EMBD, BN_DIM_Q),            \
    LAYER(BN_ROLE_ATTN_K, "attn_k", "self_attn.k_proj", BN_DIM_EMBD, BN_DIM_KV),           \
    LAYER(BN_ROLE_ATTN_V, "attn_v", "self_attn.v_proj", BN_DIM_EMBD, BN_DIM_KV),           \
    LAYER(BN_ROLE_ATTN_OUTPUT, "attn_output", "self_attn.o_proj", BN_DIM_Q, BN_DIM_EMBD)
#define FFN_PROJ                                                                           \
    LAYER(BN_ROLE_FFN_GATE, "ffn_gate", "mlp.gate_proj", BN_DIM_EMBD, BN_DIM_FF),          \
    LAYER(BN_ROLE_FFN_UP, "ffn_up", "mlp.up_proj", BN_DIM_EMBD, BN_DIM_FF),                \
    LAYER(BN_ROLE_FFN_DOWN, "ffn_down", "mlp.down_proj", BN_DIM_FF, BN_DIM_EMBD)
#define EMBD GLOBAL(BN_ROLE_TOKEN_EMBD, "token_embd", "model.embed_tokens", BN_DIM_EMBD, BN_DIM_VOCAB)
#define HEAD                                                                               \
    GLOBAL(BN_ROLE_OUTPUT_NORM, "output_norm", "model.norm", BN_DIM_EMBD, BN_DIM_ONE),     \
    GLOBAL(BN_ROLE_OUTPUT, "output", "lm_head", BN_DIM_EMBD, BN_DIM_VOCAB)
#define ATTN_NORM LAYER(BN_ROLE_ATTN_NORM, "attn_norm", "input_layernorm", BN_DIM_EMBD, BN_DIM_ONE)
#define FFN_NORM \
    LAYER(BN_ROLE_FFN_NORM, "ffn_norm", "post_attention_layernorm", BN_DIM_EMBD, BN_DIM_ONE)

/* BitNet: a sub-norm before attn_output (over the attention output, Q wide)
 * and before ffn_down (FF wide); the two HF sources name them differently. */
#define BITNET_LAYOUT(attn_sub_hf, ffn_sub_hf)                                                 \
    EMBD, ATTN_NORM, ATTN_PROJ,                                                                \
        LAYER(BN_ROLE_ATTN_SUB_NORM, "attn_sub_norm", attn_sub_hf, BN_DIM_Q, BN_DIM_ONE),      \
        FFN_NORM, FFN_PROJ,                                                                    \
        LAYER(BN_ROLE_FFN_SUB_NORM, "ffn_sub_norm", ffn_sub_hf, BN_DIM_FF, BN_DIM_ONE), HEAD

static const bn_arch_tensor BITNET_1BITLLM[] = {
    BITNET_LAYOUT("self_attn.inner_attn_ln", "mlp.ffn_layernorm")};
static const bn_arch_tensor BITNET_2B4T[] = {
    BITNET_LAYOUT("self_attn.attn_sub_norm", "mlp.ffn_sub_norm")};

static const bn_arch_tensor LLAMA[] = {
    EMBD, ATTN_NORM, ATTN_PROJ, FFN_NORM, FFN_PROJ, HEAD,
};

#define TENSORS(a) (a), sizeof(a) / sizeof((a)[0])

/* Rows in the order config.json is matched against them. */
static const bn_arch_info ROWS[BN_ARCH_COUNT] = {
    {BN_ARCH_BITNET, "bitnet", "bitnet", "BitnetForCausalLM", 0, 0, BN_ROPE_NEOX, BN_FFN_SILU, 0,
     BN_HEAD_TIED, 1, 1, 1e-5, NULL, TENSORS(BITNET_1BITLLM)},
    {BN_ARCH_BITNET_B158, "bitnet-b1.58", "bitnet-b1.58", "BitNetForCausalLM", 0, 0, BN_ROPE_NEOX,
     BN_FFN_RELU2, 0, BN_HEAD_TIED, 0, 1, 1e-5, NULL, TENSORS(BITNET_2B4T)},
    {BN_ARCH_LLAMA, "llama", "llama", "LlamaForCausalLM", 1, 0, BN_ROPE_NORM, BN_FFN_SILU, 1,
     BN_HEAD_EITHER, 0, 0, 1e-6, NULL, TENSORS(LLAMA)},
    /* Falcon3-*-1.58bit: a Llama graph with offline-packed ternary weights and an
     * untied head; llama.cpp's converter writes it as "llama" with the "falcon3"
     * pre-tokenizer (a Llama-3 one). Its config.json is a Llama one, so it is
     * chosen by name (bn-convert --arch falcon3). */
    {BN_ARCH_FALCON3, "falcon3", "llama", "LlamaForCausalLM", 1, 1, BN_ROPE_NORM, BN_FFN_SILU, 1,
     BN_HEAD_UNTIED, 0, 0, 1e-6, "falcon3", TENSORS(LLAMA)},
};

const bn_arch_info *bn_arch_get(bn_arch a)
{
    return (unsigned)a < BN_ARCH_COUNT ? &ROWS[a] : NULL;
}

const char *bn_arch_name(bn_arch a)
{
    return (unsigned)a < BN_ARCH_COUNT ? ROWS[a].name : "?";
}

int bn_arch_from_name(const char *name, bn_arch *a)
{
    for (int i = 0; i < BN_ARCH_COUNT; i++)
        if (strcmp(name, ROWS[i].name) == 0) {
            *a = (bn_arch)i;
            return 0;
        }
    const bn_arch_info *r = bn_arch_from_gguf(name, strlen(name));
    if (!r)
        return -1;
    *a = r->id;
    return 0;
}

const bn_arch_info *bn_arch_from_gguf(const char *name, size_t len)
{
    for (int i = 0; i < BN_ARCH_COUNT; i++)
        if (strlen(ROWS[i].gguf_name) == len && memcmp(ROWS[i].gguf_name, name, len) == 0)
            return &ROWS[i];
    return NULL;
}

/* The name lists for messages, built once (pthread_once: messages may be
 * formatted on several threads). */
static char GGUF_NAMES[128], ROW_NAMES[128], HF_CLASSES[384];
static pthread_once_t LISTS_ONCE = PTHREAD_ONCE_INIT;

static void append(char *buf, size_t cap, const char *fmt, ...) BN_PRINTF(3, 4);
static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

static void build_lists(void)
{
    for (int i = 0; i < BN_ARCH_COUNT; i++) {
        const bn_arch_info *r = &ROWS[i];
        const char *sep = i ? ", " : "";
        append(ROW_NAMES, sizeof ROW_NAMES, "%s%s", sep, r->name);
        if (bn_arch_from_gguf(r->gguf_name, strlen(r->gguf_name)) == r)
            append(GGUF_NAMES, sizeof GGUF_NAMES, "%s%s", sep, r->gguf_name);
        if (r->hf_by_name_only)
            append(HF_CLASSES, sizeof HF_CLASSES, "%s%s by name (-> %s)", sep, r->name,
                   r->gguf_name);
        else
            append(HF_CLASSES, sizeof HF_CLASSES, "%s%s%s (-> %s)", sep, r->hf_class,
                   r->hf_needs_bitnet ? " with quantization_config.quant_method \"bitnet\"" : "",
                   r->gguf_name);
    }
}

const char *bn_arch_gguf_names(void)
{
    pthread_once(&LISTS_ONCE, build_lists);
    return GGUF_NAMES;
}

const char *bn_arch_names(void)
{
    pthread_once(&LISTS_ONCE, build_lists);
    return ROW_NAMES;
}

const char *bn_arch_hf_classes(void)
{
    pthread_once(&LISTS_ONCE, build_lists);
    return HF_CLASSES;
}

/* ---- enumeration -------------------------------------------------------------------- */

int64_t bn_arch_dim(bn_dim d, const bn_arch_dims *x)
{
    switch (d) {
    case BN_DIM_ONE: return 1;
    case BN_DIM_EMBD: return x->n_embd;
    case BN_DIM_FF: return x->n_ff;
    case BN_DIM_VOCAB: return x->n_vocab;
    case BN_DIM_Q: return x->n_head * x->head_dim;
    case BN_DIM_KV: return x->n_head_kv * x->head_dim;
    }
    return 0;
}

/* The layout: b global tensors, then p per layer, then the rest; the untied
 * head (BN_ROLE_OUTPUT) is the last entry of every layout. */
static void split(const bn_arch_info *a, size_t *b, size_t *p)
{
    size_t i = 0;
    while (i < a->n_tensors && !a->tensors[i].per_layer)
        i++;
    *b = i;
    while (i < a->n_tensors && a->tensors[i].per_layer)
        i++;
    *p = i - *b;
}

size_t bn_arch_n_tensors(const bn_arch_info *a, int64_t n_layer, int has_output)
{
    size_t b, p, n = a->n_tensors - (has_output ? 0 : 1);
    split(a, &b, &p);
    return n - p + (size_t)n_layer * p;
}

void bn_arch_tensor_at(const bn_arch_info *a, int64_t n_layer, int has_output, size_t i,
                       const bn_arch_tensor **t, int64_t *layer)
{
    size_t b, p;
    split(a, &b, &p);
    size_t body = (size_t)n_layer * p;
    *layer = -1;
    if (i < b) {
        *t = &a->tensors[i];
    } else if (i - b < body) {
        *layer = (int64_t)((i - b) / p);
        *t = &a->tensors[b + (i - b) % p];
    } else {
        *t = &a->tensors[b + p + (i - b - body)];
    }
    (void)has_output; /* the head is the last entry (contract 2), so it simply is not reached */
}

void bn_arch_gguf_tensor_name(const bn_arch_tensor *t, int64_t layer, char *buf, size_t cap)
{
    if (t->per_layer)
        snprintf(buf, cap, "blk.%lld.%s.weight", (long long)layer, t->gguf);
    else
        snprintf(buf, cap, "%s.weight", t->gguf);
}

void bn_arch_hf_tensor_name(const bn_arch_tensor *t, int64_t layer, char *buf, size_t cap)
{
    if (t->per_layer)
        snprintf(buf, cap, "model.layers.%lld.%s.weight", (long long)layer, t->hf);
    else
        snprintf(buf, cap, "%s.weight", t->hf);
}

/* ---- names to roles -------------------------------------------------------------------- */

/* If s starts with a decimal layer number followed by '.', parse it. */
static const char *parse_layer(const char *s, int *layer)
{
    if (!isdigit((unsigned char)*s))
        return NULL;
    long v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s++ - '0');
        if (v > 1000000)
            return NULL;
    }
    if (*s != '.')
        return NULL;
    *layer = (int)v;
    return s + 1;
}

/* rest == stem ".weight" */
static int stem_is(const char *rest, const char *stem)
{
    size_t len = strlen(stem);
    return strncmp(rest, stem, len) == 0 && strcmp(rest + len, ".weight") == 0;
}

bn_role bn_role_of_name(const char *name, int *layer)
{
    int l = -1, hf = 0;
    const char *rest = NULL;
    if (name && strncmp(name, "blk.", 4) == 0) {
        rest = parse_layer(name + 4, &l);
    } else if (name) {
        const char *p = strstr(name, "layers.");
        if (p && (p == name || p[-1] == '.')) {
            rest = parse_layer(p + 7, &l);
            hf = 1;
        }
    }
    if (layer)
        *layer = rest ? l : -1;
    for (int a = 0; a < BN_ARCH_COUNT && name; a++)
        for (size_t i = 0; i < ROWS[a].n_tensors; i++) {
            const bn_arch_tensor *t = &ROWS[a].tensors[i];
            if (t->per_layer && rest && stem_is(rest, hf ? t->hf : t->gguf))
                return t->role;
            if (!t->per_layer && (stem_is(name, t->gguf) || stem_is(name, t->hf)))
                return t->role;
        }
    return BN_ROLE_OTHER;
}

/* ---- the shape and type rule ------------------------------------------------------------ */

bn_status bn_arch_check_tensor(const bn_gguf_tensor *g, const bn_arch_tensor *t,
                               const bn_arch_dims *dims, bn_error *err)
{
    int64_t ne0 = bn_arch_dim(t->ne0, dims);
    int64_t ne1 = t->ne1 == BN_DIM_ONE ? 0 : bn_arch_dim(t->ne1, dims);
    uint32_t want_dims = t->ne1 == BN_DIM_ONE ? 1 : 2;
    /* an expected extent of 0 is unknown (its key was missing or bad): not checked */
    if (g->n_dims != want_dims || (ne0 && g->ne[0] != ne0) || (ne1 && g->ne[1] != ne1)) {
        char got[96];
        int len = snprintf(got, sizeof got, "[%lld", (long long)g->ne[0]);
        for (uint32_t d = 1; d < g->n_dims && len > 0 && (size_t)len < sizeof got; d++)
            len += snprintf(got + len, sizeof got - (size_t)len, ", %lld", (long long)g->ne[d]);
        if (len > 0 && (size_t)len < sizeof got)
            snprintf(got + len, sizeof got - (size_t)len, "]");
        if (want_dims == 2)
            return bn_error_set(err, BN_EINVAL, "tensor '%s' has shape %s, expected [%lld, %lld]",
                                g->name, got, (long long)ne0, (long long)ne1);
        return bn_error_set(err, BN_EINVAL, "tensor '%s' has shape %s, expected [%lld]", g->name,
                            got, (long long)ne0);
    }
    if (!bn_role_type_ok(t->role, g->type)) {
        size_t n;
        const bn_type *ty = bn_role_types(t->role, &n);
        char list[128] = "";
        size_t len = 0;
        for (size_t i = 0; i < n && len < sizeof list; i++) {
            int k = snprintf(list + len, sizeof list - len, "%s%s",
                             i == 0 ? "" : i + 1 == n ? " or " : ", ", bn_type_name(ty[i]));
            if (k < 0)
                break;
            len += (size_t)k;
        }
        return bn_error_set(err, BN_EUNSUPPORTED, "tensor '%s' has type %s, expected %s", g->name,
                            bn_type_name(g->type), list);
    }
    return BN_OK;
}
