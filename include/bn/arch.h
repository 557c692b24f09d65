/*
 * arch.h - the architecture table (FORMATS.md §3): for each architecture bntk
 * converts and runs, its names (bntk, GGUF, Hugging Face), its graph choices,
 * its hyperparameter keys with types and ranges, and its tensors with GGUF
 * name, HF name, role, shape as an expression of the hyperparameters and the
 * types allowed. The converter, the loader, bn-verify --check, bn-synth and the
 * quantization report all iterate this one table; nothing else lists an
 * architecture, a tensor or a key.
 *
 * Contract:
 *  1. bn_arch_get(a) is valid for every a < BN_ARCH_COUNT. Several rows may
 *     share a GGUF architecture (falcon3 is written as "llama", as llama.cpp's
 *     converter writes it); reading a GGUF picks the first row with that name
 *     (bn_arch_from_gguf), whose graph is by construction the same.
 *  2. bn_arch_tensor_at() enumerates a model's tensors in llama.cpp's file
 *     order: the global tensors before the first per-layer one, then every
 *     layer's, then the rest. The optional output head (BN_ROLE_OUTPUT) counts
 *     only when has_output.
 *  3. Shapes are GGUF ne order: ne0 is the input (contiguous) dimension;
 *     vectors have ne1 = BN_DIM_ONE and one dimension. PyTorch [rows, cols] =
 *     GGUF {ne1, ne0}.
 *  4. bn_arch_read_hparams() is the one reader of general.architecture and the
 *     {arch}.* keys: the loader refuses a file on its first problem, --check
 *     lists all of them, so what one refuses the other reports.
 *     bn_arch_check_tensor() is the one shape/type rule for a bound tensor.
 *  5. Adding an architecture: one row in src/arch/table.c (plus, if its graph
 *     differs, the difference in src/runtime/forward.c behind a row field).
 */
#ifndef BN_ARCH_H
#define BN_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/gguf.h"

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

typedef enum {
    BN_ARCH_BITNET = 0,      /* "bitnet": 1bitLLM BitnetForCausalLM, silu gate, sub-norms, NEOX rope */
    BN_ARCH_BITNET_B158 = 1, /* "bitnet-b1.58": BitNetForCausalLM (2B-4T), relu² gate, sub-norms, NEOX rope */
    BN_ARCH_LLAMA = 2,       /* "llama": LlamaForCausalLM + BitNet quantization, silu, NORM rope */
    BN_ARCH_FALCON3 = 3,     /* "falcon3": tiiuae Falcon3-*-1.58bit, written as GGUF "llama" */
    BN_ARCH_COUNT
} bn_arch;

typedef enum {
    BN_ROPE_NORM = 0, /* rotate adjacent pairs (2i, 2i+1) - llama */
    BN_ROPE_NEOX = 2  /* rotate pairs (i, i + n_rot/2) - bitnet */
} bn_rope_type;

typedef enum {
    BN_FFN_SILU = 0,  /* g = silu(gate) * up */
    BN_FFN_RELU2 = 1  /* g = relu(gate)^2 * up */
} bn_ffn_act;

/* The one role enum: what a tensor is in the graph. The seven projections come
 * first (statistics index arrays by them); BN_ROLE_OTHER groups everything the
 * statistics do not split out. */
typedef enum {
    BN_ROLE_ATTN_Q = 0,
    BN_ROLE_ATTN_K,
    BN_ROLE_ATTN_V,
    BN_ROLE_ATTN_OUTPUT,
    BN_ROLE_FFN_GATE,
    BN_ROLE_FFN_UP,
    BN_ROLE_FFN_DOWN,
    BN_ROLE_OTHER,           /* = BN_ROLE_N_PROJ */
    BN_ROLE_TOKEN_EMBD,
    BN_ROLE_OUTPUT,          /* untied head */
    BN_ROLE_OUTPUT_NORM,
    BN_ROLE_ATTN_NORM,
    BN_ROLE_ATTN_SUB_NORM,
    BN_ROLE_FFN_NORM,
    BN_ROLE_FFN_SUB_NORM,
    BN_ROLE_COUNT
} bn_role;
#define BN_ROLE_N_PROJ 7

/* How a role is stored: ternary projections, float matrices, F32 vectors. */
typedef enum { BN_RCLASS_PROJ = 0, BN_RCLASS_EMBD, BN_RCLASS_NORM, BN_RCLASS_NONE } bn_role_class;

static inline int bn_role_is_proj(bn_role r) { return (unsigned)r < BN_ROLE_N_PROJ; }
bn_role_class bn_role_class_of(bn_role r);
/* "attn_q", ..., "ffn_down", "other", "token_embd", "output", ..., "ffn_sub_norm" */
const char *bn_role_name(bn_role r);
/* Role and layer (-1 if none) of a GGUF (blk.N.attn_q.weight) or HF
 * (model.layers.N.self_attn.q_proj.weight) tensor name of any row;
 * BN_ROLE_OTHER for a name no row has. */
bn_role bn_role_of_name(const char *name, int *layer);

/* Types a role may have: *n entries, in the order messages list them. */
const bn_type *bn_role_types(bn_role r, size_t *n);
int bn_role_type_ok(bn_role r, bn_type t);

/* Symbols of shape expressions. */
typedef enum {
    BN_DIM_ONE = 0,
    BN_DIM_EMBD,             /* embedding_length */
    BN_DIM_FF,               /* feed_forward_length */
    BN_DIM_VOCAB,            /* vocab_size = rows of token_embd */
    BN_DIM_Q,                /* head_count * head_dim */
    BN_DIM_KV                /* head_count_kv * head_dim */
} bn_dim;

typedef struct {
    int64_t n_embd, n_ff, n_vocab, n_head, n_head_kv, head_dim;
} bn_arch_dims;

int64_t bn_arch_dim(bn_dim d, const bn_arch_dims *dims);

typedef struct {
    bn_role role;
    const char *gguf;        /* "token_embd"; per layer the stem: "attn_q" (blk.N.attn_q.weight) */
    const char *hf;          /* "model.embed_tokens"; per layer: "self_attn.q_proj" */
    bn_dim ne0, ne1;         /* GGUF ne; ne1 = BN_DIM_ONE for a vector */
    int per_layer;
} bn_arch_tensor;

typedef enum {
    BN_HEAD_TIED = 0,        /* logits use token_embd; a checkpoint's separate head is refused */
    BN_HEAD_EITHER,          /* output.weight when the checkpoint has a separate head */
    BN_HEAD_UNTIED           /* output.weight required */
} bn_head_rule;

typedef struct {
    bn_arch id;
    const char *name;        /* bntk's name: bn-synth --arch, bn-convert --arch */
    const char *gguf_name;   /* general.architecture and the key prefix */
    const char *hf_class;    /* config.json architectures[0] */
    int hf_needs_bitnet;     /* the class also names float models: require quantization_config
                                .quant_method "bitnet" */
    int hf_by_name_only;     /* its config.json cannot be told from an earlier row's: chosen
                                only when asked for by name */
    bn_rope_type rope;
    bn_ffn_act act;
    int permute_qk;          /* converter: HF q/k rows to NORM-rope order (FORMATS.md §3) */
    bn_head_rule head;
    int rope_scaling_linear; /* write rope.scaling.type "linear", factor 1 (upstream llama.cpp) */
    int has_sub_norms;
    double hf_eps_default;   /* rms_norm_eps when config.json has none */
    const char *bpe_pre;     /* tokenizer.ggml.pre for a BPE vocabulary (NULL: the exporter's) */
    const bn_arch_tensor *tensors;
    size_t n_tensors;
} bn_arch_info;

const bn_arch_info *bn_arch_get(bn_arch a);
const char *bn_arch_name(bn_arch a);
/* By bntk name ("falcon3") or GGUF name ("llama"): 0 and *a, or -1. */
int bn_arch_from_name(const char *name, bn_arch *a);
/* The row for a GGUF general.architecture of len bytes; NULL if none. */
const bn_arch_info *bn_arch_from_gguf(const char *name, size_t len);
/* "bitnet, bitnet-b1.58, llama" (distinct GGUF names) / "bitnet, ..., falcon3" (rows). */
const char *bn_arch_gguf_names(void);
const char *bn_arch_names(void);
/* The Hugging Face classes the rows accept, for messages:
 * "BitnetForCausalLM (-> bitnet), ..., falcon3 by name (-> llama)". */
const char *bn_arch_hf_classes(void);

/* Tensors of a model with n_layer layers; see contract 2. */
size_t bn_arch_n_tensors(const bn_arch_info *a, int64_t n_layer, int has_output);
void bn_arch_tensor_at(const bn_arch_info *a, int64_t n_layer, int has_output, size_t i,
                       const bn_arch_tensor **t, int64_t *layer);
/* "blk.3.attn_q.weight" / "model.layers.3.self_attn.q_proj.weight" (layer < 0: global). */
void bn_arch_gguf_tensor_name(const bn_arch_tensor *t, int64_t layer, char *buf, size_t cap);
void bn_arch_hf_tensor_name(const bn_arch_tensor *t, int64_t layer, char *buf, size_t cap);

/* The shape and type rule of one tensor: BN_OK, or BN_EINVAL (shape) /
 * BN_EUNSUPPORTED (type) with "tensor 'NAME' has shape [..], expected [..]" or
 * "tensor 'NAME' has type T, expected A, B or C". */
bn_status bn_arch_check_tensor(const bn_gguf_tensor *g, const bn_arch_tensor *t,
                               const bn_arch_dims *dims, bn_error *err);

/* ---- hyperparameters ------------------------------------------------------------ */

#define BN_ARCH_MAX_VOCAB (1 << 22) /* rows of token_embd the runtime accepts */

typedef struct {
    const bn_arch_info *arch; /* NULL when general.architecture is missing or unknown */
    int64_t n_ctx, n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_rot;
    int64_t n_vocab;          /* {arch}.vocab_size; 0 when absent */
    float eps, rope_base, rope_scale;
} bn_arch_hparams;

/* Receives each problem found, one sentence without the file name. */
typedef struct {
    void (*problem)(void *ctx, const char *msg);
    void *ctx;
    size_t n_problems;        /* counted by the reader */
    size_t n_keys;            /* keys looked up */
} bn_arch_sink;

/* The KV of key if it has exactly type vt (llama.cpp reads keys type-exactly);
 * NULL otherwise, with a problem if it has another type, or is missing and
 * required. Counts the key in s->n_keys. */
const bn_gguf_kv *bn_arch_kv_typed(const bn_gguf *g, const char *key, bn_gguf_vtype vt,
                                   int required, bn_arch_sink *s);

/* Read general.architecture and the {arch}.* hyperparameters with the table's
 * types, ranges and defaults, and their cross rules (head counts divide,
 * rope.dimension_count even and at most the head size, rope scaling none or
 * linear). Fields that could not be read are 0. */
void bn_arch_read_hparams(const bn_gguf *g, bn_arch_hparams *hp, bn_arch_sink *sink);

/* Write the {arch}.* keys of a row from hp (n_rot is written as
 * rope.dimension_count; n_vocab always), in the converter's order, and
 * rope.scaling linear 1.0 where the row asks for it. */
bn_status bn_arch_write_hparams(bn_gguf_writer *w, const bn_arch_info *a,
                                const bn_arch_hparams *hp, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
