/*
 * synth.h - a complete GGUF model of a given shape with random weights, for
 * benchmarks and tests (bn-synth): every tensor the runtime binds, from the
 * architecture table (arch.h) in its file order, the hyperparameter keys of
 * FORMATS.md §3 and, unless no_vocab, a small valid SentencePiece-style
 * tokenizer covering the vocabulary.
 *
 * Contract:
 *  1. The same parameters give the same bytes: the weights come from seed
 *     through bn_rng_next, whatever n_threads.
 *  2. Projections are ternary codes with scale 1/sqrt(fan-in) (packed as
 *     proj_type, or written as scale*code in a float type), norms 1 +- 0.25,
 *     everything else uniform in [-1, 1).
 *  3. bn_synth_check() refuses (BN_EINVAL, naming the fields) a shape the
 *     runtime could not run or a type that cannot hold the role;
 *     bn_synth_write() checks first, writes path atomically (gguf.h writer)
 *     and, per tensor written, calls progress (may be NULL).
 */
#ifndef BN_SYNTH_H
#define BN_SYNTH_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>

#include "bn/arch.h"
#include "bn/error.h"
#include "bn/gguf.h"

typedef struct {
    bn_arch arch;
    int n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab, n_ctx;
    bn_type proj_type; /* i2_s, tq2_0, tq1_0, f16, bf16 or f32 */
    bn_type embd_type; /* token_embd / output: f16, f32 or q8_0 */
    int untied;        /* write output.weight even when the architecture ties it */
    int no_vocab;      /* no tokenizer: a model driven by token ids only */
    uint64_t seed;
    int n_threads;     /* packing threads; 0: all cores */
} bn_synth_params;

/* bitnet-b1.58, I2_S projections, F16 embeddings, seed 1, the "tiny" shape. */
void bn_synth_params_default(bn_synth_params *p);

/* Shapes by name: "tiny" (256/512, 2 layers, 4/2 heads, 512 vocab, ctx 512) or
 * "2b" (BitNet-b1.58-2B: 2560/6912, 30 layers, 20/5 heads, 128256 vocab, ctx
 * 4096); only the shape fields change. BN_EINVAL naming both for another name. */
bn_status bn_synth_preset(const char *name, bn_synth_params *p, bn_error *err);

bn_status bn_synth_check(const bn_synth_params *p, bn_error *err);

typedef void (*bn_synth_progress_fn)(void *user, int i, int n); /* tensor i of n written */

bn_status bn_synth_write(const char *path, const bn_synth_params *p, bn_synth_progress_fn progress,
                         void *user, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
