/*
 * ppl.h - perplexity as llama.cpp's llama-perplexity computes it and the
 * KL-divergence statistics of its --kl-divergence mode, over any evaluator
 * (the runtime, bn_verify_model_evaluator, or the float reference of
 * reference.h). Library code never prints to its own streams: results come
 * back in structs and through callbacks; the report writers at the end turn
 * one bn_ppl_report into text or JSON, so the two cannot disagree.
 *
 * Perplexity (normative; ../shared/specs/FORMATS.md §6):
 *  1. The whole text is tokenized as one string: one trailing newline
 *     stripped, BOS/EOS as the vocabulary adds them (bn_ppl_tokenize).
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
 *     runtime runs them together, matrix x matrix; bn_ppl_n_seq is the policy
 *     that sizes the group); results do not depend on the grouping, because
 *     every chunk starts from an empty cache and the runtime's results do not
 *     depend on batching (model.h, contract 5).
 *
 * KL divergence (llama-perplexity --kl-divergence): at the same scored positions
 * a second "base" evaluator gives reference logits; per position
 *   KLD = sum_i p_base_i (log p_base_i - log p_test_i),
 *   top-1 agreement = argmax(base) == argmax(test),
 *   dp = p_test(target) - p_base(target),
 * and the means, RMS dp, and PPL(test)/PPL(base) = exp(mean(NLL_test - NLL_base))
 * with their standard errors.
 */
#ifndef BN_PPL_H
#define BN_PPL_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "bn/error.h"
#include "bn/tokenizer.h"

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

/* ---- the text (step 1) and the batch (step 5) -------------------------------- */

#define BN_PPL_TEXT_MAX_BYTES ((size_t)1 << 30) /* largest text file read */
#define BN_PPL_LOGITS_BUDGET ((size_t)512 << 20) /* bytes of logits per pass, at most */

/* Step 1 over text[0..len): one trailing '\n' dropped, then bn_tokenizer_encode
 * with BN_TOK_ADD_SPECIAL (llama-perplexity's common_tokenize(add_special)).
 * *out (zero-initialised, or an earlier result, which is released) gets the
 * ids; release it with bn_tokens_free. */
bn_status bn_ppl_tokenize(const bn_tokenizer *tok, const char *text, size_t len, bn_tokens *out,
                          bn_error *err);
/* The same over a whole file (at most BN_PPL_TEXT_MAX_BYTES); errors name PATH. */
bn_status bn_ppl_tokenize_file(const bn_tokenizer *tok, const char *path, bn_tokens *out,
                               bn_error *err);

/* Chunks of n_ctx evaluated together for a batch of n_batch tokens (-b):
 * n_batch / n_ctx, at least 1, and fewer while their logits (n_ctx x n_vocab
 * floats each) would pass BN_PPL_LOGITS_BUDGET. */
int bn_ppl_n_seq(int n_batch, int n_ctx, int n_vocab);

/* Step 2: the chunks a text of n_tokens yields (max_chunks <= 0: no cap). */
int bn_ppl_n_chunks(size_t n_tokens, int n_ctx, int max_chunks);

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
    struct bn_evaluator *base; /* optional: reference logits for KL statistics */
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
/* The tokenizer's BOS rule (step 3): add_bos and bos_id from the vocabulary. */
void bn_ppl_params_set_bos(bn_ppl_params *p, const bn_tokenizer *tok);
/* Run FORMATS.md §6 over tokens[0..n_tokens) with ev (see the contract above). */
bn_status bn_ppl_run(bn_evaluator *ev, const int32_t *tokens, size_t n_tokens,
                     const bn_ppl_params *p, bn_ppl_result *res, bn_error *err);

/* ---- the runtime as an evaluator ---------------------------------------------- */

typedef struct bn_model bn_model; /* model.h */

/* A context of n_ctx tokens must fit the model: BN_EINVAL "-c N exceeds the
 * model's context_length L; use -c L or less" otherwise (N is what -c asked). */
bn_status bn_verify_check_ctx(const bn_model *m, int n_ctx, bn_error *err);

/* An evaluator over a loaded model: a context of max_seq sequences of n_ctx
 * positions; each eval clears the cache and runs the sequences together with
 * bn_ctx_eval_batch. BN_EINVAL when n_ctx exceeds the model's context_length. */
bn_status bn_verify_model_evaluator(bn_model *m, int n_ctx, int max_seq, bn_evaluator **out,
                                    bn_error *err);

/* ---- reports: one struct, written as text and as JSON (docs/ci.md) -------------- */

/* A perplexity run (ref_dir NULL: bn-verify --perplexity) or a comparison with
 * the float reference (bn-verify --reference), as it is reported. */
typedef struct {
    const char *file;          /* the text */
    size_t n_text_tokens;      /* its tokens (step 1) */
    int n_ctx, max_chunks;     /* bn_ppl_params' */
    int n_batch, n_seq;        /* -b and the chunks run together (bn_ppl_n_seq) */
    const char *kernel;        /* the runtime's settings: bn_model_kernel(), */
    const char *activations;   /*   bn_actq_name(bn_model_actq()), */
    int n_threads;             /*   bn_model_n_threads() */
    const char *ref_dir;       /* --reference: the checkpoint directory, else NULL */
    const char *ref_mode;      /*   "quantized" or "latent" */
    const bn_ppl_result *res;  /* NULL until the run has succeeded */
    const double *chunk_ppl;   /* (n_chunk_ppl) running PPL after each chunk done so far */
    int n_chunk_ppl;
} bn_ppl_report;

/* The lines printed before the run ("== perplexity: FILE (...)" and
 * llama-perplexity's "calculating perplexity over N chunks, ..."). */
void bn_ppl_report_header(const bn_ppl_report *r, FILE *f);
/* The result's lines (r->res must be set): llama-perplexity's "Final
 * estimate: PPL = ..." and a summary, or the KLD table of --reference. */
void bn_ppl_report_text(const bn_ppl_report *r, FILE *f);
/* The "perplexity" (or "reference") object of bn-verify --json; before a
 * successful run, only what is known (chunk_ppl so far). NULL: out of memory. */
struct cJSON *bn_ppl_report_json(const bn_ppl_report *r);

#pragma GCC visibility pop /* end of the exported API */

#endif
