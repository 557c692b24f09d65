/*
 * verify.h - what bn-verify measures: perplexity as llama.cpp's llama-perplexity
 * computes it, KL-divergence statistics against a base model, structural checks
 * of a GGUF file, and the kernel self-test. Library code never prints: results
 * come back in structs and through callbacks; bn-verify formats them.
 *
 * Perplexity (normative; ../shared/specs/FORMATS.md §6):
 *  1. The caller tokenizes the whole text as one string (one trailing newline
 *     stripped, BOS if the vocabulary adds it) and hands the ids over.
 *  2. n_chunk = floor(n_tokens / n_ctx), capped by max_chunks; chunk i is tokens
 *     [i*n_ctx, (i+1)*n_ctx); the remainder is dropped; fewer than 2*n_ctx
 *     tokens is an error (llama.cpp's rule).
 *  3. Every chunk is evaluated from an empty cache. With add_bos the first token
 *     of every chunk is REPLACED by bos_id.
 *  4. Positions first = n_ctx/2 .. n_ctx-2 are scored: the logits at position j
 *     predict token j+1, NLL = logsumexp(logits) - logit[target], summed in
 *     double. PPL = exp(mean NLL), error = PPL*sqrt((mean(NLL^2) - mean(NLL)^2)
 *     / (count - 1)).
 *  5. Chunks go to the evaluator in groups of up to max_seq sequences (the
 *     runtime runs them together, matrix x matrix); results do not depend on
 *     the grouping, because every chunk starts from an empty cache and the
 *     runtime's results do not depend on batching (model.h, contract 5).
 *
 * KL divergence (llama-perplexity --kl-divergence): at the same scored positions
 * a second "base" evaluator gives reference logits; per position
 *   KLD = sum_i p_base_i (log p_base_i - log p_test_i),
 *   top-1 agreement = argmax(base) == argmax(test),
 *   dp = p_test(target) - p_base(target),
 * and the means, RMS dp, and PPL(test)/PPL(base) = exp(mean(NLL_test - NLL_base))
 * with their standard errors.
 */
#ifndef BN_VERIFY_H
#define BN_VERIFY_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/gguf.h"

/* ---- evaluators ------------------------------------------------------------- */

/* Anything that turns sequences of n_ctx tokens (each from an empty cache) into
 * logits: the runtime (bn_verify_model_evaluator) or the float reference
 * (bn_reference_evaluator). */
typedef struct bn_evaluator {
    int n_vocab;  /* logits per position */
    int max_seq;  /* most sequences per eval call (>= 1) */
    /* tokens: [n_seq][n_ctx]; logits: [n_seq][n_ctx][n_vocab], every position. */
    bn_status (*eval)(struct bn_evaluator *ev, const int32_t *tokens, int n_seq, int n_ctx,
                      float *logits, bn_error *err);
    void (*destroy)(struct bn_evaluator *ev); /* frees ev itself; may be NULL */
    void *impl;
} bn_evaluator;

void bn_evaluator_free(bn_evaluator *ev); /* NULL ok */

/* ---- KL-divergence statistics ----------------------------------------------- */

typedef struct {
    uint64_t n;                       /* positions added */
    uint64_t n_same_top;              /* argmax(test) == argmax(base) */
    double sum_kld, sum_kld2;         /* nats */
    double kld_max;
    double sum_dp, sum_dp2, sum_dp4;         /* dp = p_test(target) - p_base(target), probability */
    double sum_nll_base, sum_nll_base2;
    double sum_nll_test, sum_nll_test2;
    double sum_dnll, sum_dnll2;       /* NLL_test - NLL_base = ln(p_base/p_test) at target */
} bn_kld_stats;

typedef struct {
    uint64_t n;
    double kld_mean, kld_err, kld_max;   /* nats */
    double top1, top1_err;               /* fraction in [0, 1] */
    double rms_dp, rms_dp_err;           /* probability units (x100 for %) */
    double mean_dp, mean_dp_err;
    double ppl_base, ppl_base_err;
    double ppl_test, ppl_test_err;
    double ln_ppl_ratio, ln_ppl_ratio_err; /* mean(NLL_test - NLL_base) */
    double ppl_ratio, ppl_ratio_err;     /* PPL(test) / PPL(base) */
} bn_kld_result;

void bn_kld_init(bn_kld_stats *s);
/* Add one position: both logit rows (n_vocab floats) and the true next token.
 * BN_EINVAL for a target out of range or non-finite logits. */
bn_status bn_kld_add(bn_kld_stats *s, const float *logits_base, const float *logits_test,
                     int n_vocab, int32_t target, bn_error *err);
/* Means and standard errors; fields of an empty accumulator are 0 (n = 0). */
void bn_kld_finish(const bn_kld_stats *s, bn_kld_result *r);

/* NLL of target under logits (n_vocab floats): logsumexp - logit[target], in double. */
double bn_nll(const float *logits, int n_vocab, int32_t target);

/* ---- perplexity ------------------------------------------------------------- */

typedef struct {
    int chunk;          /* chunks done so far (1-based count) */
    int n_chunks;
    double ppl;         /* running estimate over all positions scored so far */
    double ppl_err;
    uint64_t n_scored;
    double seconds;     /* since the start */
    double tok_per_s;   /* evaluated tokens (n_ctx per chunk) per second */
    int n_seq;          /* chunks evaluated together per pass (batch) */
} bn_ppl_progress;

typedef struct {
    int n_ctx;          /* chunk length (required, >= 4) */
    int max_chunks;     /* <= 0: every full chunk */
    int add_bos;        /* replace the first token of each chunk by bos_id */
    int32_t bos_id;
    bn_evaluator *base; /* optional: reference logits for KL statistics */
    /* optional: after each chunk, in order; a non-OK return stops the run */
    bn_status (*on_chunk)(void *user, const bn_ppl_progress *p, bn_error *err);
    /* optional: before each pass evaluates chunks [chunk0, chunk0 + n_seq) of n_chunks */
    void (*on_pass)(void *user, int chunk0, int n_seq, int n_chunks);
    void *user;
} bn_ppl_params;

typedef struct {
    int n_ctx;
    int n_chunks;
    uint64_t n_tokens;      /* input tokens */
    uint64_t n_scored;      /* positions scored = n_chunks * (n_ctx - 1 - n_ctx/2) */
    double nll_mean;        /* nats */
    double ppl, ppl_err;
    double seconds;
    double tok_per_s;       /* n_chunks * n_ctx / seconds */
    int has_kld;
    bn_kld_result kld;      /* when params.base was set */
    int nonfinite;          /* set (also on failure) when the tested evaluator's logits were
                               not finite: the model is at fault, not the text */
} bn_ppl_result;

void bn_ppl_params_init(bn_ppl_params *p);
/* Run FORMATS.md §6 over tokens[0..n_tokens) with ev (see the contract above). */
bn_status bn_ppl_run(bn_evaluator *ev, const int32_t *tokens, size_t n_tokens,
                     const bn_ppl_params *p, bn_ppl_result *res, bn_error *err);

/* ---- structural check -------------------------------------------------------- */

/* Every problem found, one sentence each (naming key/tensor and the bad value). */
typedef struct {
    char **items;       /* (n) malloc'd strings */
    size_t n, cap;
    size_t n_tensors_checked;
    size_t n_kv_checked;
} bn_check_report;

void bn_check_report_free(bn_check_report *r);

/* Validate an open GGUF for its general.architecture (FORMATS.md §1-5): required
 * KVs with llama.cpp's exact types, every required tensor with the right shape
 * and an accepted type, no stray tensors, the tokenizer present and consistent,
 * finite positive ternary scales, I2_S tails, no NaN/Inf in float tensors.
 * Problems go into r (the report may be non-empty on BN_OK); the return value
 * is non-OK only for allocation failure. */
bn_status bn_check_gguf(const bn_gguf *g, bn_check_report *r, bn_error *err);

/* ---- the runtime as an evaluator ---------------------------------------------- */

typedef struct bn_model bn_model; /* model.h */

/* An evaluator over a loaded model: a context of max_seq sequences of n_ctx
 * positions; each eval clears the cache and runs the sequences together with
 * bn_ctx_eval_batch. BN_EINVAL when n_ctx exceeds the model's context_length. */
bn_status bn_verify_model_evaluator(bn_model *m, int n_ctx, int max_seq, bn_evaluator **out,
                                    bn_error *err);

/* ---- kernel self-test (CONVENTIONS.md: the SQLite bitvec idea) ----------------- */

typedef struct {
    char name[32];
    char desc[96];
    int available;            /* this CPU runs it */
    uint64_t n_matrices;      /* matrices compared (model's own + odd shapes) */
    uint64_t n_sums;          /* integer sums compared against basic */
    uint64_t n_mismatch;      /* sums that differ */
    int logits_checked;       /* tokens whose logits were compared (0: no model run) */
    int logits_identical;     /* 1 when every logit equals basic's bit for bit */
    double max_logit_diff;
    double gbps;              /* weight bytes streamed per second, one thread */
} bn_kernel_check;

/* Run every kernel compiled in against "basic": integer sums on each ternary
 * matrix of the model and on odd shapes (random packed bytes, random int8
 * activations, fixed seed), then the first n_tokens of tokens (or of a fixed
 * pseudo-random sequence when tokens is NULL) through the model with each
 * kernel; logits must be identical. The model's kernel is restored after.
 * *out: malloc'd array of *n entries, basic first. */
bn_status bn_verify_kernels(bn_model *m, const int32_t *tokens, int n_tokens,
                            bn_kernel_check **out, size_t *n, bn_error *err);

/* ---- float reference forward pass over a Hugging Face checkpoint -------------- */

typedef enum {
    BN_REF_QUANTIZED = 0, /* absmean ternary weights + per-token int8 activations, in float */
    BN_REF_LATENT = 1     /* the checkpoint's weights as they are, float activations */
} bn_ref_mode;

typedef struct bn_reference bn_reference;

/* Read DIR (config.json + weights) with the checkpoint readers and the
 * converter's tensor plan. embd_round: a bn_type (F16, BF16, F32, Q8_0) the
 * embedding is rounded through, as the GGUF stores it, or -1 to keep it as read. */
bn_status bn_reference_load(const char *hf_dir, bn_ref_mode mode, int embd_round,
                            bn_reference **out, bn_error *err);
void bn_reference_free(bn_reference *r); /* NULL ok */
int bn_reference_n_vocab(const bn_reference *r);
int bn_reference_n_ctx_train(const bn_reference *r);
/* Before any weights are read: DIR/config.json must describe the model m was
 * converted from (architecture, layers, widths, heads, vocabulary). BN_EINVAL
 * names the first difference as config.json and GGUF call it; `name` is m's file. */
bn_status bn_reference_check_model(const char *hf_dir, const bn_model *m, const char *name,
                                   bn_error *err);
/* Logits [n][n_vocab] of tokens[0..n) at positions 0..n-1 (empty cache). */
bn_status bn_reference_forward(const bn_reference *r, const int32_t *tokens, int n,
                               float *logits, bn_error *err);
/* An evaluator running up to n_threads sequences at once, one per thread. The
 * reference must outlive it. */
bn_status bn_reference_evaluator(const bn_reference *r, int n_threads, bn_evaluator **out,
                                 bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
