/*
 * sampler.h - next-token choice from a row of logits.
 *
 * Contract:
 *  1. Order of operations, as llama.cpp's default chain: penalties over the
 *     last repeat_last_n accepted tokens - for each distinct token seen c times
 *     there, the repetition penalty (logit > 0 divided by it, otherwise
 *     multiplied), then logit -= c * frequency_penalty + presence_penalty
 *     (OpenAI's definitions, llama.cpp's order) - then top-k, top-p (smallest prefix of the sorted
 *     distribution whose mass reaches p), min-p (drop tokens whose probability is
 *     below min_p times the top one), temperature, and a draw.
 *  2. temp <= 0 is greedy: the argmax after the penalties (lowest id on
 *     ties). Greedy never consumes random numbers.
 *  3. Draws come from a private 64-bit generator seeded by `seed`: the same seed,
 *     logits and history give the same tokens on every machine.
 *  4. Candidates are ordered by logit, then by id, so ties never depend on qsort.
 *     NaN logits count as -infinity.
 */
#ifndef BN_SAMPLER_H
#define BN_SAMPLER_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>
#include "bn/error.h"

typedef struct {
    float temp;            /* <= 0: greedy */
    int top_k;             /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off */
    int repeat_last_n;     /* history window for the penalties */
    float freq_penalty;    /* 0: off; [-2, 2] as OpenAI's frequency_penalty */
    float presence_penalty;/* 0: off; [-2, 2] as OpenAI's presence_penalty */
    uint64_t seed;
} bn_sampler_params;

typedef struct bn_sampler bn_sampler;

/* llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05, penalty 1 over 64,
 * frequency and presence penalties 0. */
void bn_sampler_params_default(bn_sampler_params *p);

/* Checks the parameters (finite, in range) and allocates scratch for n_vocab. */
bn_status bn_sampler_new(const bn_sampler_params *p, int n_vocab, bn_sampler **out,
                         bn_error *err);
void bn_sampler_free(bn_sampler *s); /* NULL ok */

/* Choose a token from logits[n_vocab] (read only). Does not record it. */
int32_t bn_sampler_sample(bn_sampler *s, const float *logits);
/* Record a token in the penalty history (prompt tokens too, as llama.cpp does). */
void bn_sampler_accept(bn_sampler *s, int32_t token);
/* Forget the history (the generator state is kept). */
void bn_sampler_reset(bn_sampler *s);

#pragma GCC visibility pop /* end of the exported API */

#endif
