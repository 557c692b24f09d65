/*
 * reference.h - an independent float forward pass over the Hugging Face
 * checkpoint a GGUF was converted from (bn-verify --reference), as a
 * bn_evaluator (ppl.h) for the KL-divergence comparison with the runtime.
 */
#ifndef BN_REFERENCE_H
#define BN_REFERENCE_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>
#include "bn/error.h"
#include "bn/ppl.h"

typedef enum {
    BN_REF_QUANTIZED = 0, /* absmean ternary weights + per-token int8 activations, in float */
    BN_REF_LATENT = 1     /* the checkpoint's weights as they are, float activations */
} bn_ref_mode;

/* "quantized" or "latent". */
const char *bn_ref_mode_name(bn_ref_mode mode);

typedef struct bn_reference bn_reference;

/* Read DIR (config.json + weights) with the checkpoint readers and the
 * converter's tensor plan. embd_round: a bn_type (F16, BF16, F32, Q8_0) the
 * embedding is rounded through, as the GGUF stores it, or -1 to keep it as read. */
bn_status bn_reference_load(const char *hf_dir, bn_ref_mode mode, int embd_round,
                            bn_reference **out, bn_error *err);
/* bn_reference_load for comparing with m (`name`: m's file): in QUANTIZED mode
 * the embedding is rounded through m's embedding type, as the GGUF stores it;
 * BN_EINVAL when the vocabulary sizes differ. */
bn_status bn_reference_load_for(const char *hf_dir, bn_ref_mode mode, const bn_model *m,
                                const char *name, bn_reference **out, bn_error *err);
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
