/*
 * model.h - a BitNet b1.58 / Llama transformer loaded from GGUF, and evaluation
 * contexts (KV cache + scratch) that turn tokens into logits.
 *
 * Contract:
 *  1. bn_model_load() maps the GGUF (weights are used in place, zero copy),
 *     reads the hyperparameters of `general.architecture` (a GGUF name of the
 *     architecture table, arch.h: bitnet, bitnet-b1.58, llama; FORMATS.md §3)
 *     type-exactly, binds every tensor of the table's layout and checks its type
 *     and shape (bn_arch_check_tensor) and the content rules of quantized data
 *     (bn_gguf_check_tensor_data: I2_S scale > 0, zero tail, no 0b11 code; TQ
 *     and Q8_0 block scales). Anything missing, mis-typed, mis-shaped or bad
 *     fails with one sentence naming the file, key or tensor and the bad value;
 *     bn-verify --check applies the same functions and reports all of them.
 *       projections (attn_q/k/v/output, ffn_gate/up/down): I2_S, TQ2_0, TQ1_0,
 *                                                          F16, BF16, F32
 *       token_embd, output:                                F16, F32, Q8_0
 *       norms:                                             F32
 *     The tokenizer (tokenizer.ggml.*), when present, is built and validated too.
 *  2. A model is immutable after load and may be shared by several contexts, but
 *     one model runs one evaluation at a time: its thread pool is not reentrant.
 *  3. A context holds a KV cache for n_seq independent sequences of up to n_ctx
 *     positions each. bn_ctx_eval() appends tokens at positions pos0..pos0+n-1
 *     of one sequence; pos0 may be smaller than the sequence's length (the cache
 *     is truncated to pos0 first, e.g. to re-evaluate after an edit) but not
 *     larger. bn_ctx_eval_batch() does the same for several sequences at once:
 *     all their tokens go through each weight matrix together (matrix x matrix).
 *     When an evaluation fails, each of its sequences is left truncated to pos0.
 *  4. Logits are float32, row-major [token][n_vocab].
 *  5. Determinism: the result for a token depends only on the token, its
 *     sequence's cache and the kernel - not on the number of threads (work is
 *     split by output rows and heads, never inside a reduction) and not on how
 *     the tokens were batched (every dot product has one fixed summation order).
 *     Evaluating a sequence token by token with the cache gives the same bits as
 *     evaluating it in one call. With an F16 KV cache the same holds (K/V are
 *     rounded to F16 on store, whichever way they were computed).
 *  6. Every kernel yields the same integer accumulators (kernels.h), so logits are
 *     identical across kernels for ternary weights.
 *  7. Float order, fixed so that an independent implementation can reproduce
 *     every int8 activation code (scripts/reference_forward.py and the
 *     --reference forward of verify.h do, and are tested to): RMSNorm squares
 *     in float summed in double, scale = 1.0f / sqrtf((float)(sum/n) + eps),
 *     then (x*scale)*w; RoPE angles by repeated float multiplication, with
 *     pow/cos/sin in double rounded once; attention scores by one dot-product
 *     order (fmath.h) times 1.0f/sqrtf(hd), exp in double rounded once, the
 *     normalizer summed in double, the output summed over keys in float;
 *     SiLU g / (1 + exp(-g)) with the same exp.
 */
#ifndef BN_MODEL_H
#define BN_MODEL_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/arch.h"
#include "bn/gguf.h"


/* bn_rope_type and bn_ffn_act: arch.h (a row of the architecture table fixes them). */

typedef enum {
    BN_KV_F32 = 0,
    BN_KV_F16 = 1
} bn_kv_type;

typedef struct {
    bn_arch arch;
    const char *arch_name;  /* general.architecture: "bitnet", "bitnet-b1.58" or "llama" */
    int n_vocab;            /* rows of token_embd */
    int n_ctx_train;        /* {arch}.context_length */
    int n_embd;             /* model width */
    int n_ff;               /* FFN hidden width */
    int n_layer;
    int n_head;             /* query heads */
    int n_head_kv;          /* key/value heads (GQA: n_head % n_head_kv == 0) */
    int head_dim;           /* n_embd / n_head */
    int n_rot;              /* rope.dimension_count (<= head_dim, even) */
    float eps;              /* RMSNorm epsilon */
    float rope_base;        /* rope.freq_base, default 10000 */
    float rope_scale;       /* linear scaling factor (positions are divided by it), default 1 */
    bn_rope_type rope;
    bn_ffn_act act;
    int has_sub_norms;      /* attn_sub_norm / ffn_sub_norm present (bitnet archs) */
    int tied_output;        /* 1: logits use token_embd; 0: output.weight */
    bn_type proj_type;      /* type of the projections (all layers share one) */
    bn_type embd_type;      /* type of token_embd */
} bn_hparams;

/* How ternary projections quantize their input activations (FORMATS.md §4). */
typedef enum {
    BN_ACTQ_TOKEN = 0,      /* per-token int8 absmax (W1.58A8: BitNet's definition, the PyTorch
                               reference, bitnet.cpp), for every ternary type */
    BN_ACTQ_Q8K = 1         /* upstream llama.cpp for TQ1_0/TQ2_0: Q8_K, one int8 scale per
                               256-block (ggml_vec_dot_tq*_q8_K); only for TQ projections */
} bn_actq;

/* "token" / "q8_k"; bn_actq_parse: BN_EINVAL naming the bad name and the known ones. */
const char *bn_actq_name(bn_actq q);
bn_status bn_actq_parse(const char *name, bn_actq *out, bn_error *err);

typedef struct {
    int n_threads;          /* <= 0: number of online cores */
    const char *kernel;     /* ternary kernel name (kernels.h); NULL: $BN_KERNEL or the best */
    bn_actq actq;           /* activation quantization; default BN_ACTQ_TOKEN */
    int tq1_file_layout;    /* 1: run TQ1_0 projections from the file's bytes; 0 (default):
                               repack them into TQ2_0 at load (kernels.h, the same sums and
                               floats; faster kernels, 66/54 of their bytes in memory) */
} bn_model_opts;

typedef struct bn_model bn_model;

/* Fill opts with defaults (all cores, best kernel). */
void bn_model_opts_default(bn_model_opts *opts);

/* Map and load path. opts may be NULL (defaults). */
bn_status bn_model_load(const char *path, const bn_model_opts *opts, bn_model **out,
                        bn_error *err);
/* Load from an open GGUF; on success the model owns g (closed by bn_model_free),
 * on failure the caller still owns it. */
bn_status bn_model_load_gguf(bn_gguf *g, const bn_model_opts *opts, bn_model **out,
                             bn_error *err);
void bn_model_free(bn_model *m); /* NULL ok */

const bn_hparams *bn_model_hparams(const bn_model *m);
const bn_gguf *bn_model_gguf(const bn_model *m); /* metadata, tokenizer KVs, tensors */
/* The tokenizer built from the file's tokenizer.ggml.* keys at load (tokenizer.h),
 * or NULL when the file has none (tokenizer.ggml.model absent). */
typedef struct bn_tokenizer bn_tokenizer;
const bn_tokenizer *bn_model_tokenizer(const bn_model *m);
int bn_model_n_threads(const bn_model *m);
/* Name of the ternary kernel in use ("none" for a model without ternary weights). */
const char *bn_model_kernel(const bn_model *m);
/* Switch the ternary kernel (e.g. to compare kernels). BN_EINVAL for an unknown or
 * unavailable name; must not be called during an evaluation. */
bn_status bn_model_set_kernel(bn_model *m, const char *name, bn_error *err);
/* The activation quantization in use, and a switch to another one (BN_EINVAL, naming
 * the file and the projection type, for Q8K on projections that are not TQ1_0/TQ2_0);
 * must not be called during an evaluation. */
bn_actq bn_model_actq(const bn_model *m);
bn_status bn_model_set_actq(bn_model *m, bn_actq q, bn_error *err);
/* Bytes of the weights in the file (the size llama-bench reports). */
uint64_t bn_model_weight_bytes(const bn_model *m);
/* Bytes of the runtime layouts made at load (TQ1_0 projections repacked as TQ2_0,
 * bn_model_opts.tq1_file_layout); 0 when the kernels read the file's bytes. */
uint64_t bn_model_repacked_bytes(const bn_model *m);

/* ---- evaluation contexts ---------------------------------------------------- */

typedef struct {
    int n_ctx;              /* positions per sequence; <= 0: min(n_ctx_train, 4096) */
    int n_seq;              /* independent sequences; <= 0: 1 */
    int n_batch;            /* tokens per forward chunk (bounds scratch); <= 0: 512 */
    bn_kv_type kv_type;
} bn_ctx_params;

typedef struct bn_ctx bn_ctx;

void bn_ctx_params_default(bn_ctx_params *p);
bn_status bn_ctx_new(bn_model *m, const bn_ctx_params *p, bn_ctx **out, bn_error *err);
void bn_ctx_free(bn_ctx *c); /* NULL ok */

const bn_ctx_params *bn_ctx_params_get(const bn_ctx *c);
/* The model a context evaluates. */
bn_model *bn_ctx_model(const bn_ctx *c);

typedef enum {
    BN_LOGITS_NONE = 0,     /* only fill the cache */
    BN_LOGITS_LAST = 1,     /* logits of the last token of each sequence: [n_items][n_vocab] */
    BN_LOGITS_ALL = 2       /* logits of every token: [n_tokens][n_vocab] */
} bn_logits_mode;

/* Evaluate tokens[0..n) of sequence seq_id at positions pos0..pos0+n-1.
 * logits (may be NULL with BN_LOGITS_NONE): [n][n_vocab] for ALL, [n_vocab] for
 * LAST. Token ids are checked against n_vocab; positions against n_ctx. */
bn_status bn_ctx_eval(bn_ctx *c, int seq_id, const int32_t *tokens, int n, int pos0,
                      bn_logits_mode mode, float *logits, bn_error *err);

/* One sequence's share of a batch. */
typedef struct {
    int seq_id;
    const int32_t *tokens;
    int n;
    int pos0;
} bn_seq_tokens;

/* Evaluate several sequences together (distinct seq_ids). Logits rows follow the
 * items in order: for ALL, item 0's n rows, then item 1's, ...; for LAST, one
 * row per item. */
bn_status bn_ctx_eval_batch(bn_ctx *c, const bn_seq_tokens *items, int n_items,
                            bn_logits_mode mode, float *logits, bn_error *err);

/* Drop a sequence's cache (seq_id < 0: every sequence). */
void bn_ctx_clear(bn_ctx *c, int seq_id);
/* Number of cached positions of a sequence (0 for an unknown id). */
int bn_ctx_seq_len(const bn_ctx *c, int seq_id);

/* ---- profiling ---------------------------------------------------------------
 * A context can time each operation of its forward pass into a bn_profile the
 * caller owns (bn-run --profile). Off by default; while off no clock is read.
 * Times are wall seconds summed over calls; bytes are the weight (or KV) bytes
 * the operation reads, ops its multiply-accumulates x 2, both summed too, so
 * bytes / seconds is the bandwidth achieved and ops / seconds the throughput. */
typedef enum {
    BN_PROF_EMBD,           /* token embedding rows */
    BN_PROF_ATTN_NORM,
    BN_PROF_ACTQ,           /* int8 quantization of projection inputs */
    BN_PROF_ATTN_Q,         /* projections, by role */
    BN_PROF_ATTN_K,
    BN_PROF_ATTN_V,
    BN_PROF_ROPE,           /* RoPE of Q and K, and the K/V cache store */
    BN_PROF_ATTN,           /* scores, softmax, weighted values (bytes: KV read) */
    BN_PROF_ATTN_SUB_NORM,
    BN_PROF_ATTN_OUT,
    BN_PROF_FFN_NORM,
    BN_PROF_FFN_GATE,
    BN_PROF_FFN_UP,
    BN_PROF_FFN_ACT,        /* activation, gating and the FFN sub-norm */
    BN_PROF_FFN_DOWN,
    BN_PROF_RESIDUAL,       /* residual adds */
    BN_PROF_OUT_NORM,
    BN_PROF_HEAD,           /* output projection to the vocabulary */
    BN_PROF_SAMPLE,         /* filled by the caller: sampling runs outside a context */
    BN_PROF_N_OPS
} bn_prof_op;

typedef struct {
    double seconds;
    double calls;
    double bytes;
    double ops;
} bn_prof_stat;

typedef struct {
    bn_prof_stat op[BN_PROF_N_OPS];
} bn_profile;

/* Short row name of an operation ("attn_q", "head", ...); "?" out of range. */
const char *bn_prof_op_name(bn_prof_op op);
/* Accumulate into p from now on (p NULL: stop). p is not cleared here. */
void bn_ctx_set_profile(bn_ctx *c, bn_profile *p);

#pragma GCC visibility pop /* end of the exported API */

#endif
