/*
 * model_eval.c - the runtime as a bn_evaluator (ppl.h): max_seq sequences of
 * n_ctx tokens evaluated together by bn_ctx_eval_batch, each from an empty
 * cache; and the evaluators of a bn-verify run (verify.h).
 */
#include <stdlib.h>

#include "bn/model.h"
#include "bn/verify.h"

bn_status bn_verify_check_ctx(const bn_model *m, int n_ctx, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    if (n_ctx > hp->n_ctx_train)
        return bn_error_set(err, BN_EINVAL,
                            "-c %d exceeds the model's context_length %d; use -c %d or less",
                            n_ctx, hp->n_ctx_train, hp->n_ctx_train);
    return BN_OK;
}

typedef struct {
    bn_evaluator ev;
    bn_ctx *ctx;
    int n_ctx;
    bn_seq_tokens *items; /* (max_seq) */
} model_eval;

static bn_status model_eval_run(bn_evaluator *ev, const int32_t *tokens, int n_seq, int n_ctx,
                                float *logits, bn_error *err)
{
    model_eval *me = ev->impl;
    if (n_seq < 1 || n_seq > ev->max_seq || n_ctx < 1 || n_ctx > me->n_ctx)
        return bn_error_set(err, BN_EINVAL,
                            "evaluator: %d sequences of %d tokens do not fit a context of %d x %d",
                            n_seq, n_ctx, ev->max_seq, me->n_ctx);
    bn_ctx_clear(me->ctx, -1);
    for (int s = 0; s < n_seq; s++) {
        me->items[s].seq_id = s;
        me->items[s].tokens = tokens + (size_t)s * (size_t)n_ctx;
        me->items[s].n = n_ctx;
        me->items[s].pos0 = 0;
    }
    return bn_ctx_eval_batch(me->ctx, me->items, n_seq, BN_LOGITS_ALL, logits, err);
}

static void model_eval_destroy(bn_evaluator *ev)
{
    model_eval *me = ev->impl;
    bn_ctx_free(me->ctx);
    free(me->items);
    free(me);
}

bn_status bn_verify_model_evaluator(bn_model *m, int n_ctx, int max_seq, bn_evaluator **out,
                                    bn_error *err)
{
    *out = NULL;
    const bn_hparams *hp = bn_model_hparams(m);
    if (n_ctx < 1 || n_ctx > hp->n_ctx_train)
        return bn_error_set(err, BN_EINVAL,
                            "%s: context size %d is outside 1..%d (the model's context_length)",
                            bn_gguf_path(bn_model_gguf(m)), n_ctx, hp->n_ctx_train);
    if (max_seq < 1)
        max_seq = 1;
    model_eval *me = calloc(1, sizeof *me);
    if (!me)
        return bn_error_set(err, BN_ENOMEM, "evaluator: out of memory");
    me->items = calloc((size_t)max_seq, sizeof *me->items);
    if (!me->items) {
        free(me);
        return bn_error_set(err, BN_ENOMEM, "evaluator: out of memory");
    }
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = n_ctx;
    cp.n_seq = max_seq;
    bn_status st = bn_ctx_new(m, &cp, &me->ctx, err);
    if (st) {
        free(me->items);
        free(me);
        return st;
    }
    me->n_ctx = n_ctx;
    me->ev.n_vocab = hp->n_vocab;
    me->ev.max_seq = max_seq;
    me->ev.eval = model_eval_run;
    me->ev.destroy = model_eval_destroy;
    me->ev.impl = me;
    *out = &me->ev;
    return BN_OK;
}

bn_status bn_verify_evaluators(bn_model *m, const bn_reference *ref, int n_ctx, int n_batch,
                               int n_threads, bn_evaluator **ev, bn_evaluator **base,
                               bn_error *err)
{
    *ev = *base = NULL;
    int n_thr = n_threads > 0 ? n_threads : bn_model_n_threads(m);
    int n_seq = ref ? n_thr : bn_ppl_n_seq(n_batch, n_ctx, bn_model_hparams(m)->n_vocab);
    bn_status st = ref ? bn_reference_evaluator(ref, n_thr, base, err) : BN_OK;
    if (!st)
        st = bn_verify_model_evaluator(m, n_ctx, n_seq, ev, err);
    if (st) {
        bn_evaluator_free(*base);
        *base = NULL;
    }
    return st;
}
