/* run_bench.h - bn-run --bench: llama-bench-style prompt processing (ppN, one
 * batch, logits of the last token) and generation (tgN, one token per call)
 * throughput of a loaded model, as a markdown table, JSON or CSV. Mains only. */
#ifndef BN_RUN_BENCH_H
#define BN_RUN_BENCH_H

#include <stdio.h>
#include "bn/error.h"
#include "bn/model.h"

typedef struct {
    const char *model_path; /* for the model_filename field */
    int pp, tg;             /* tokens; 0 = 512 / 128, cut to the context */
    int reps;               /* timed repetitions per test (>= 1) */
    int depth;              /* KV depth: positions filled (untimed) before each test */
    int n_ctx;              /* context (-c); 0 = the model's training context */
    bn_kv_type kv;
    int all_kernels;        /* 1: every available kernel in turn; 0: the model's */
    const char *format;     /* "md" (default, NULL), "json" or "csv" */
} bn_bench_opts;

/* Runs the tests and prints them to out. BN_EINVAL naming the option when pp
 * or tg (after depth positions) exceed the context, or for an unknown format.
 * With a depth, tests are named as llama-bench's -d: "tg32 @ d4096". */
bn_status bn_bench_run(const bn_bench_opts *o, bn_model *m, FILE *out, bn_error *err);

#endif
