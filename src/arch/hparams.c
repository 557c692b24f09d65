/*
 * hparams.c - the {arch}.* hyperparameter keys of the table: one reader that
 * both the loader (first problem refuses the file) and bn-verify --check (every
 * problem listed) use, and the writer the converter and bn-synth use.
 */
#include "bn/arch.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Caps that keep scratch and cache sizes sane before anything is allocated; far
 * above every released BitNet/Llama shape. */
#define MAX_CTX (INT64_C(1) << 24)
#define MAX_EMBD (INT64_C(1) << 16)
#define MAX_FF (INT64_C(1) << 18)
#define MAX_LAYER 1024
#define MAX_HEAD 1024

typedef enum { DEF_NONE, DEF_CONST, DEF_HEAD_COUNT, DEF_HEAD_DIM } def_kind;

/* The fields of bn_arch_hparams a key fills. */
typedef enum {
    F_VOCAB, F_CTX, F_EMBD, F_LAYER, F_FF, F_HEAD, F_HEAD_KV, F_ROT, /* int64_t */
    F_EPS, F_ROPE_BASE                                              /* float */
} field;

static int64_t *int_field(bn_arch_hparams *hp, field f)
{
    switch (f) {
    case F_VOCAB: return &hp->n_vocab;
    case F_CTX: return &hp->n_ctx;
    case F_EMBD: return &hp->n_embd;
    case F_LAYER: return &hp->n_layer;
    case F_FF: return &hp->n_ff;
    case F_HEAD: return &hp->n_head;
    case F_HEAD_KV: return &hp->n_head_kv;
    case F_ROT: return &hp->n_rot;
    default: return NULL;
    }
}

static float *float_field(bn_arch_hparams *hp, field f)
{
    return f == F_EPS ? &hp->eps : f == F_ROPE_BASE ? &hp->rope_base : NULL;
}

/* One key: u32 in [lo, hi], or f32 in the open interval (lo, hi). In the
 * converter's write order. */
typedef struct {
    const char *suffix;
    bn_gguf_vtype type;
    def_kind def;
    double def_value;
    double lo, hi;
    field f;
} kv_spec;

static const kv_spec KEYS[] = {
    {"vocab_size", BN_GGUF_U32, DEF_CONST, 0, 1, BN_ARCH_MAX_VOCAB, F_VOCAB},
    {"context_length", BN_GGUF_U32, DEF_NONE, 0, 1, (double)MAX_CTX, F_CTX},
    {"embedding_length", BN_GGUF_U32, DEF_NONE, 0, 1, (double)MAX_EMBD, F_EMBD},
    {"block_count", BN_GGUF_U32, DEF_NONE, 0, 1, MAX_LAYER, F_LAYER},
    {"feed_forward_length", BN_GGUF_U32, DEF_NONE, 0, 1, (double)MAX_FF, F_FF},
    {"attention.head_count", BN_GGUF_U32, DEF_NONE, 0, 1, MAX_HEAD, F_HEAD},
    {"attention.head_count_kv", BN_GGUF_U32, DEF_HEAD_COUNT, 0, 1, MAX_HEAD, F_HEAD_KV},
    {"rope.dimension_count", BN_GGUF_U32, DEF_HEAD_DIM, 0, 2, (double)MAX_EMBD, F_ROT},
    {"attention.layer_norm_rms_epsilon", BN_GGUF_F32, DEF_NONE, 0, 0, 1, F_EPS},
    {"rope.freq_base", BN_GGUF_F32, DEF_CONST, 10000, 1, INFINITY, F_ROPE_BASE},
};

static void problem(bn_arch_sink *s, const char *fmt, ...) BN_PRINTF(2, 3);
static void problem(bn_arch_sink *s, const char *fmt, ...)
{
    char buf[BN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->n_problems++;
    if (s->problem)
        s->problem(s->ctx, buf);
}

const bn_gguf_kv *bn_arch_kv_typed(const bn_gguf *g, const char *key, bn_gguf_vtype vt,
                                  int required, bn_arch_sink *s)
{
    const bn_gguf_kv *kv = bn_gguf_find_kv(g, key);
    s->n_keys++;
    if (!kv) {
        if (required)
            problem(s, "required key '%s' (%s) is missing", key, bn_gguf_vtype_name(vt));
        return NULL;
    }
    if (kv->type != vt) {
        problem(s, "key '%s' has type %s, llama.cpp reads it as %s", key,
                bn_gguf_vtype_name(kv->type), bn_gguf_vtype_name(vt));
        return NULL;
    }
    return kv;
}

static const bn_arch_info *read_arch(const bn_gguf *g, bn_arch_sink *s)
{
    const bn_gguf_kv *kv = bn_arch_kv_typed(g, "general.architecture", BN_GGUF_STRING, 1, s);
    if (!kv)
        return NULL;
    bn_str name = bn_gguf_kv_str(kv);
    const bn_arch_info *a = bn_arch_from_gguf(name.ptr, name.len);
    if (!a) {
        char esc[64];
        bn_gguf_escape(name.ptr, name.len, esc, sizeof esc);
        problem(s, "general.architecture \"%s\" is not supported (one of %s)", esc,
                bn_arch_gguf_names());
    }
    return a;
}

/* One key of KEYS; its field stays 0 when absent without a default, or bad. */
static void read_key(const bn_gguf *g, const bn_arch_info *a, const kv_spec *k,
                     bn_arch_hparams *hp, bn_arch_sink *s)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", a->gguf_name, k->suffix);
    const bn_gguf_kv *kv = bn_arch_kv_typed(g, key, k->type, k->def == DEF_NONE, s);
    /* absent or mis-typed (reported): the default, if the key has one and is absent */
    if (!kv && (k->def == DEF_NONE || bn_gguf_find_kv(g, key)))
        return;
    double v = kv                           ? (k->type == BN_GGUF_U32 ? (double)bn_gguf_kv_u32(kv)
                                                                      : (double)bn_gguf_kv_f32(kv))
               : k->def == DEF_HEAD_COUNT ? (double)hp->n_head
               : k->def == DEF_HEAD_DIM   ? (double)hp->head_dim
                                          : k->def_value;
    if (k->type == BN_GGUF_U32) {
        if (kv && (v < k->lo || v > k->hi)) {
            problem(s, "key '%s' = %.0f is outside %.0f..%.0f", key, v, k->lo, k->hi);
            return;
        }
        *int_field(hp, k->f) = (int64_t)v;
    } else {
        if (kv && !(isfinite(v) && v > k->lo && v < k->hi)) {
            if (isinf(k->hi))
                problem(s, "key '%s' = %g is not a finite number above %g", key, v, k->lo);
            else
                problem(s, "key '%s' = %g is not a finite number in (%g, %g)", key, v, k->lo, k->hi);
            return;
        }
        *float_field(hp, k->f) = (float)v;
    }
}

/* Rope scaling: only "none" and "linear" exist for these models. */
static void read_rope_scaling(const bn_gguf *g, const bn_arch_info *a, bn_arch_hparams *hp,
                              bn_arch_sink *s)
{
    char key[128];
    hp->rope_scale = 1.0f;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a->gguf_name);
    const bn_gguf_kv *kv = bn_arch_kv_typed(g, key, BN_GGUF_STRING, 0, s);
    int linear = 0;
    if (kv) {
        bn_str t = bn_gguf_kv_str(kv);
        linear = t.len == 6 && memcmp(t.ptr, "linear", 6) == 0;
        if (!linear && !(t.len == 4 && memcmp(t.ptr, "none", 4) == 0)) {
            char esc[48];
            bn_gguf_escape(t.ptr, t.len, esc, sizeof esc);
            problem(s, "key '%s' = \"%s\": rope scaling type is not supported (none, linear)",
                    key, esc);
        }
    }
    snprintf(key, sizeof key, "%s.rope.scaling.factor", a->gguf_name);
    kv = bn_arch_kv_typed(g, key, BN_GGUF_F32, 0, s);
    if (kv) {
        float f = bn_gguf_kv_f32(kv);
        if (!(isfinite(f) && f > 0.0f))
            problem(s, "key '%s' = %g is not finite and positive", key, (double)f);
        else if (linear)
            hp->rope_scale = f;
    }
}

void bn_arch_read_hparams(const bn_gguf *g, bn_arch_hparams *hp, bn_arch_sink *s)
{
    memset(hp, 0, sizeof *hp);
    hp->arch = read_arch(g, s);
    const bn_arch_info *a = hp->arch;
    if (!a)
        return;
    const size_t n_keys = sizeof KEYS / sizeof KEYS[0];
    for (size_t i = 0; i < n_keys; i++) {
        /* the head size, the default and bound of rope.dimension_count */
        if (!strcmp(KEYS[i].suffix, "rope.dimension_count") && hp->n_embd && hp->n_head) {
            if (hp->n_embd % hp->n_head)
                problem(s, "key '%s.embedding_length' = %lld is not a multiple of head_count %lld",
                        a->gguf_name, (long long)hp->n_embd, (long long)hp->n_head);
            else
                hp->head_dim = hp->n_embd / hp->n_head;
        }
        read_key(g, a, &KEYS[i], hp, s);
    }
    if (hp->n_head && hp->n_head_kv && hp->n_head % hp->n_head_kv)
        problem(s, "key '%s.attention.head_count' = %lld is not a multiple of head_count_kv %lld",
                a->gguf_name, (long long)hp->n_head, (long long)hp->n_head_kv);
    if (hp->n_rot && hp->head_dim && (hp->n_rot > hp->head_dim || hp->n_rot % 2)) {
        problem(s, "key '%s.rope.dimension_count' = %lld must be even and at most the head size %lld",
                a->gguf_name, (long long)hp->n_rot, (long long)hp->head_dim);
        hp->n_rot = 0;
    }
    read_rope_scaling(g, a, hp, s);
}

bn_status bn_arch_write_hparams(bn_gguf_writer *w, const bn_arch_info *a,
                                const bn_arch_hparams *hp, bn_error *err)
{
    char key[128];
    bn_status st = BN_OK;
    bn_arch_hparams v = *hp; /* the accessors take a mutable struct */
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0] && !st; i++) {
        const kv_spec *k = &KEYS[i];
        snprintf(key, sizeof key, "%s.%s", a->gguf_name, k->suffix);
        if (k->type == BN_GGUF_U32)
            st = bn_gguf_set_u32(w, key, (uint32_t)*int_field(&v, k->f), err);
        else
            st = bn_gguf_set_f32(w, key, *float_field(&v, k->f), err);
    }
    if (!st && a->rope_scaling_linear) {
        snprintf(key, sizeof key, "%s.rope.scaling.type", a->gguf_name);
        if (!(st = bn_gguf_set_str(w, key, "linear", err))) {
            snprintf(key, sizeof key, "%s.rope.scaling.factor", a->gguf_name);
            st = bn_gguf_set_f32(w, key, 1.0f, err);
        }
    }
    return st;
}
