/* run_profile.h - bn-run --profile: where the time of a prefill batch and of a
 * decode step goes, per operation of the forward pass (model.h's bn_profile),
 * with each one's share of the wall time and the bandwidth or throughput it
 * reached. Mains only. */
#ifndef BN_RUN_PROFILE_H
#define BN_RUN_PROFILE_H

#include <stdio.h>
#include "bn/error.h"
#include "bn/model.h"
#include "bn/sampler.h"

typedef struct {
    int pp;                 /* prefill batch in tokens; 0: min(128, context / 2) */
    int tg;                 /* decode steps after it; 0: min(32, what the context leaves) */
    int n_ctx;              /* context (-c); 0 = the model's training context */
    bn_kv_type kv;
    const bn_sampler_params *sp; /* the sampler timed after each decode step */
} bn_profile_opts;

/* Evaluates one untimed token (the mapping faulted in), then a prefill batch of
 * pp tokens and tg decode steps with their sampling, and prints one table for
 * each: per operation its calls per step, milliseconds per step, share of the
 * step's wall time (an "other" row holds what no operation covers, so the
 * shares sum to 100 %), GB/s of the bytes it reads and GOPS. BN_EINVAL naming
 * the option when pp + tg exceed the context. */
bn_status bn_profile_run(const bn_profile_opts *o, bn_model *m, FILE *out, bn_error *err);

#endif
