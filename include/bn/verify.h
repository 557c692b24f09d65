/*
 * verify.h - what bn-verify measures, one header per module:
 *   ppl.h           perplexity as llama-perplexity computes it, KL divergence,
 *                   the text and batch rules, the runtime as an evaluator;
 *   check.h         the structural check of a GGUF (--check);
 *   kernel_check.h  every kernel against basic (--kernels);
 *   reference.h     the float reference forward pass (--reference);
 * and, here, the CI gates over their results. Every result has a text and a
 * JSON writer fed by the same struct, so the two cannot disagree.
 */
#ifndef BN_VERIFY_H
#define BN_VERIFY_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include "bn/check.h"
#include "bn/kernel_check.h"
#include "bn/ppl.h"
#include "bn/reference.h"

/* ---- the evaluators of one run ------------------------------------------------ */

/* What bn-verify evaluates: without ref (--perplexity), the model with
 * bn_ppl_n_seq(n_batch, n_ctx, n_vocab) sequences per pass; with ref
 * (--reference), the reference (*base) and the model, n_threads sequences
 * each (<= 0: the model's thread count), the reference running one sequence
 * per thread. On failure *ev and *base are NULL. */
bn_status bn_verify_evaluators(bn_model *m, const bn_reference *ref, int n_ctx, int n_batch,
                               int n_threads, bn_evaluator **ev, bn_evaluator **base,
                               bn_error *err);

/* ---- gates ------------------------------------------------------------------ */

/* Thresholds a run must meet; NAN: the gate is not set. */
typedef struct {
    double max_ppl;       /* perplexity (of --perplexity, else of --reference) <= */
    double max_kld;       /* mean KL divergence to the reference <= (nats) */
    double min_top1;      /* top-1 agreement with the reference >= (percent) */
    double max_ppl_ratio; /* PPL(model) / PPL(reference) <= */
} bn_gate_limits;

void bn_gate_limits_init(bn_gate_limits *l); /* every gate unset */

typedef struct {
    const char *name;     /* "max-ppl", "max-kld", "min-top1", "max-ppl-ratio" */
    double value, threshold;
    int is_max;           /* value <= threshold passes; else value >= threshold */
    int pass;
} bn_gate;

typedef struct {
    bn_gate g[4];         /* (n) in evaluation order */
    int n, n_failed;
} bn_gates;

/* The gates that are set, in this order: max-kld, min-top1, max-ppl-ratio over
 * ref's KL statistics (when ref is not NULL), then max-ppl over ppl's
 * perplexity, or ref's when ppl is NULL. A gate whose result is missing is
 * evaluated on NAN and fails. */
void bn_gates_eval(const bn_gate_limits *l, const bn_ppl_result *ppl, const bn_ppl_result *ref,
                   bn_gates *out);
/* "gate NAME passed: V <= T" or "gate NAME failed: V > T" into buf. */
const char *bn_gate_text(const bn_gate *g, char *buf, size_t cap);
/* The "gates" array of bn-verify --json; NULL when out of memory. */
struct cJSON *bn_gates_json(const bn_gates *g);

#pragma GCC visibility pop /* end of the exported API */

#endif
