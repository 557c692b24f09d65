/*
 * convert.h - Hugging Face BitNet checkpoints to GGUF: config.json, the
 * architecture and tensor-name maps, and the streaming conversion pipeline.
 *
 * Contract:
 *  1. bn_hfconfig_parse() accepts exactly the Hugging Face classes of the
 *     architecture table (arch.h, FORMATS.md §3) and refuses anything else,
 *     listing what is supported; a row its config.json cannot name (falcon3)
 *     is chosen with bn_hfconfig_select().
 *     Every number is checked to be an integer in range; nothing is guessed
 *     silently (defaults are those of the Hugging Face config classes).
 *  2. bn_convert_run() never writes a wrong file quietly: every tensor the
 *     architecture needs must be present with the shape the config implies,
 *     unknown tensors are an error, a row length the chosen type cannot hold
 *     is an error unless allow_fallback (then F16, reported per tensor).
 *  3. It streams: one tensor is read, converted and written at a time, so peak
 *     memory follows the largest tensor, not the model. Output is atomic
 *     (temp file beside OUT, rename on success); the input is never written.
 */
#ifndef BN_CONVERT_H
#define BN_CONVERT_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/arch.h"
#include "bn/gguf.h"

typedef struct {
    bn_arch arch;              /* the row of the architecture table (arch.h) */
    const char *gguf_arch;     /* its GGUF name: "bitnet", "bitnet-b1.58", "llama" */
    char hf_arch[64];          /* architectures[0] as found */
    bn_ffn_act act;
    uint32_t n_vocab;          /* vocab_size */
    uint32_t n_embd;           /* hidden_size */
    uint32_t n_ff;             /* intermediate_size */
    uint32_t n_layer;          /* num_hidden_layers */
    uint32_t n_head;           /* num_attention_heads */
    uint32_t n_head_kv;        /* num_key_value_heads (default n_head) */
    uint32_t head_dim;         /* head_dim or n_embd / n_head */
    uint32_t n_ctx;            /* max_position_embeddings */
    float rms_eps;             /* rms_norm_eps */
    float rope_theta;          /* rope_theta (default 10000) */
    int tie_embeddings;        /* -1 absent (decided by lm_head presence), 0, 1 */
    int offline_packed;        /* quantization_config.quant_method == "bitnet" */
    int64_t bos_id, eos_id;    /* -1 when absent (first element if a list) */
} bn_hfconfig;

/* Parse config.json text (len bytes; name is used in messages). */
bn_status bn_hfconfig_parse(const char *json, size_t len, const char *name, bn_hfconfig *cfg,
                            bn_error *err);
/* Read and parse DIR/config.json. */
bn_status bn_hfconfig_load(const char *dir, bn_hfconfig *cfg, bn_error *err);

/* One tensor of the output file, in write order. */
typedef struct {
    char gguf_name[BN_GGUF_MAX_NAME + 1];
    char hf_name[160];
    bn_role role;              /* arch.h */
    int layer;                 /* -1 for global tensors */
    int64_t rows, cols;        /* PyTorch [rows, cols] = GGUF ne {cols, rows}; norms: rows 1 */
} bn_tensor_plan;

/* The full list of tensors an architecture needs, in llama.cpp's order: the
 * rows of the architecture table (arch.h) for cfg->arch. *out is malloc'd
 * (caller frees); has_output selects an untied head. */
bn_status bn_plan_tensors(const bn_hfconfig *cfg, int has_output, bn_tensor_plan **out,
                          size_t *n, bn_error *err);

/* Re-target a parsed config to the row named arch (bn_arch_from_name), whose
 * config.json cannot be told apart (falcon3 from llama): its HF class and
 * quantization must be the row's. name is used in messages. */
bn_status bn_hfconfig_select(bn_hfconfig *cfg, const char *arch, const char *name, bn_error *err);

/* Row permutation llama.cpp applies to q/k for NORM rope (LlamaForCausalLM):
 * dst row (h, i, p) <- src row (h, p, i) with heads of head_dim rows,
 * i < head_dim/2, p in {0,1}. rows = n_heads * head_dim, each row `row_bytes`. */
bn_status bn_permute_qk_rows(const void *src, void *dst, int64_t n_heads, int64_t head_dim,
                             size_t row_bytes, bn_error *err);

/* ---- the pipeline ------------------------------------------------------------ */

struct bn_outset; /* util.h */

typedef struct {
    const char *in_dir;        /* Hugging Face model directory */
    const char *arch;          /* a row of the architecture table by name (arch.h), for a
                                  config.json that cannot name it (falcon3); NULL: from
                                  config.json */
    const char *out_path;      /* OUT.gguf; NULL: nothing is written (report-only run) */
    bn_type proj_type;         /* I2_S (default), TQ2_0, TQ1_0, F16, F32 */
    bn_type embd_type;         /* F16 (default), F32, Q8_0 */
    int method;                /* a bn_quant_method (absmean default) */
    int allow_fallback;        /* row length the type cannot hold -> F16, reported */
    int vocab_only;            /* tokenizer + hyperparameters only */
    const char *name;          /* general.name; NULL = directory base name */
    int n_threads;             /* packing threads; 0 = cores */
    size_t slice_bytes;        /* embeddings/output/norms stream in slices of whole rows of
                                  about this many bytes of f32; 0 = 32 MiB */
    const char *report_path;   /* per-tensor ternarization report (atomic file), or NULL */
    struct bn_quant_report *report; /* or: add each projection's statistics to this
                                       caller-owned report (quant.h) and write nothing */
    const char *report_format; /* text|json|csv|html; NULL = from the extension */
    const char *report_tool;   /* the HTML report's header: "bn-convert 0.1.0", the command */
    const char *report_command; /* line (bn_quant_report_set_meta); NULL: not shown */
    struct bn_outset *outputs; /* the caller's output set (util.h): the GGUF and report
                                  join it and the caller commits; NULL = the run has its
                                  own, with in_dir as input, committed on success */
    /* progress callback (mains print; the library never does): tensor i of n */
    void (*progress)(void *user, size_t i, size_t n, const char *name, uint64_t bytes_in,
                     uint64_t bytes_out);
    /* per-tensor notices (fallback to F16, lossless already-ternary, ...) */
    void (*notice)(void *user, const char *msg);
    /* optional: the step under way before tensors flow ("reading config.json", ...) */
    void (*stage)(void *user, const char *what);
    /* optional: once the plan is known: n tensors, bytes_in of checkpoint data
     * they will read (the progress callback's bytes_in counts up to it) */
    void (*planned)(void *user, size_t n, uint64_t bytes_in);
    void *user;
} bn_convert_opts;

typedef struct {
    size_t n_tensors;
    size_t n_by_type[64];      /* tensors written per ggml type id (< 64) */
    size_t n_fallback;         /* projections written as F16 because of --allow-fallback */
    size_t n_already_ternary;  /* projections found exactly ternary (lossless) */
    uint64_t bytes_in, bytes_out;
    double seconds;
} bn_convert_result;

void bn_convert_opts_init(bn_convert_opts *o);
bn_status bn_convert_run(const bn_convert_opts *o, bn_convert_result *res, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
