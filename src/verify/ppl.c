/*
 * ppl.c - perplexity exactly as llama.cpp's llama-perplexity computes it
 * (FORMATS.md §6; the contract is in ppl.h), over any bn_evaluator, with
 * optional KL-divergence statistics against a second evaluator; and the rules
 * around it: how the text becomes tokens and how many chunks go per pass.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bn/ppl.h"
#include "bn/util.h"

void bn_evaluator_free(bn_evaluator *ev)
{
    if (ev && ev->destroy)
        ev->destroy(ev);
}

void bn_ppl_params_init(bn_ppl_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_ctx = 512;
    p->bos_id = -1;
}

void bn_ppl_params_set_bos(bn_ppl_params *p, const bn_tokenizer *tok)
{
    p->add_bos = bn_tokenizer_add_bos(tok);
    p->bos_id = bn_tokenizer_bos(tok);
}

/* ---- step 1: the text; step 5: the batch ----------------------------------- */

bn_status bn_ppl_tokenize(const bn_tokenizer *tok, const char *text, size_t len, bn_tokens *out,
                          bn_error *err)
{
    bn_tokens_free(out);
    if (len && text[len - 1] == '\n')
        len--;
    bn_status st = bn_tokenizer_encode(tok, text, len, BN_TOK_ADD_SPECIAL, out, err);
    if (st)
        bn_tokens_free(out);
    return st;
}

bn_status bn_ppl_tokenize_file(const bn_tokenizer *tok, const char *path, bn_tokens *out,
                               bn_error *err)
{
    char *text;
    size_t len;
    bn_tokens_free(out);
    bn_status st = bn_read_file(path, BN_PPL_TEXT_MAX_BYTES, &text, &len, err);
    if (st)
        return st;
    st = bn_ppl_tokenize(tok, text, len, out, err);
    free(text);
    if (st)
        bn_error_prefix(err, "%s", path);
    return st;
}

int bn_ppl_n_seq(int n_batch, int n_ctx, int n_vocab)
{
    int n_seq = n_ctx > 0 ? n_batch / n_ctx : 1;
    if (n_seq < 1)
        n_seq = 1;
    size_t per_seq = (size_t)(n_ctx > 0 ? n_ctx : 1) * (size_t)(n_vocab > 0 ? n_vocab : 1) *
                     sizeof(float);
    while (n_seq > 1 && (size_t)n_seq * per_seq > BN_PPL_LOGITS_BUDGET)
        n_seq--;
    return n_seq;
}

int bn_ppl_n_chunks(size_t n_tokens, int n_ctx, int max_chunks)
{
    size_t n = n_ctx > 0 ? n_tokens / (size_t)n_ctx : 0;
    int n_chunk = n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
    return max_chunks > 0 && max_chunks < n_chunk ? max_chunks : n_chunk;
}

/* ---- the run ------------------------------------------------------------------ */

/* Running totals of the scored NLLs. */
typedef struct {
    double sum, sum2;
    uint64_t n;
} nll_acc;

static void acc_estimate(const nll_acc *a, double *ppl, double *err)
{
    double mean = a->sum / (double)a->n;
    double var = a->sum2 / (double)a->n - mean * mean;
    *ppl = exp(mean);
    *err = (a->n > 1 && var > 0.0) ? *ppl * sqrt(var / (double)(a->n - 1)) : 0.0;
}

/* Score positions first..n_ctx-2 of one evaluated chunk (logits [n_ctx][n_vocab]). */
static bn_status score_chunk(const float *logits, const float *base_logits, const int32_t *chunk,
                             int n_ctx, int n_vocab, nll_acc *acc, bn_kld_stats *kld,
                             int *nonfinite, bn_error *err)
{
    int first = n_ctx / 2;
    for (int j = first; j < n_ctx - 1; j++) {
        const float *row = logits + (size_t)j * (size_t)n_vocab;
        int32_t target = chunk[j + 1];
        for (int i = 0; i < n_vocab; i++)
            if (!isfinite(row[i])) {
                *nonfinite = 1;
                return bn_error_set(err, BN_EINVAL,
                                    "the model computes a non-finite logit (%g) for token id %d at "
                                    "position %d (after text token %d): its weights hold NaN or "
                                    "Inf, or overflow", (double)row[i], i, j, (int)chunk[j]);
            }
        double nll = bn_nll(row, n_vocab, target);
        acc->sum += nll;
        acc->sum2 += nll * nll;
        acc->n++;
        if (base_logits) {
            bn_status st = bn_kld_add(kld, base_logits + (size_t)j * (size_t)n_vocab, row,
                                      n_vocab, target, err);
            if (st)
                return st;
        }
    }
    return BN_OK;
}

static bn_status check_params(const bn_evaluator *ev, const int32_t *tokens, size_t n_tokens,
                              const bn_ppl_params *p, bn_error *err)
{
    if (!ev || !ev->eval || ev->n_vocab < 1 || ev->max_seq < 1)
        return bn_error_set(err, BN_EINVAL, "perplexity: invalid evaluator");
    if (p->n_ctx < 4)
        return bn_error_set(err, BN_EINVAL, "perplexity: context size %d is too small (need >= 4)",
                            p->n_ctx);
    if (n_tokens / 2 < (size_t)p->n_ctx)
        return bn_error_set(err, BN_EINVAL,
                            "perplexity: you need at least %d tokens to evaluate perplexity "
                            "with a context of %d (the text has %zu)",
                            2 * p->n_ctx, p->n_ctx, n_tokens);
    if (p->add_bos && (p->bos_id < 0 || p->bos_id >= ev->n_vocab))
        return bn_error_set(err, BN_EINVAL, "perplexity: BOS id %d outside the vocabulary of %d",
                            (int)p->bos_id, ev->n_vocab);
    if (p->base && (p->base->n_vocab != ev->n_vocab || !p->base->eval || p->base->max_seq < 1))
        return bn_error_set(err, BN_EINVAL,
                            "kl-divergence: the base model has %d logits per position, the "
                            "tested one %d",
                            p->base->n_vocab, ev->n_vocab);
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= ev->n_vocab)
            return bn_error_set(err, BN_EINVAL,
                                "perplexity: token %zu has id %d outside the vocabulary of %d", i,
                                (int)tokens[i], ev->n_vocab);
    return BN_OK;
}

bn_status bn_ppl_run(bn_evaluator *ev, const int32_t *tokens, size_t n_tokens,
                     const bn_ppl_params *p, bn_ppl_result *res, bn_error *err)
{
    memset(res, 0, sizeof *res);
    bn_status st = check_params(ev, tokens, n_tokens, p, err);
    if (st)
        return st;
    const int n_ctx = p->n_ctx, n_vocab = ev->n_vocab;
    int n_chunk = bn_ppl_n_chunks(n_tokens, n_ctx, p->max_chunks);

    int group = ev->max_seq;
    if (p->base && p->base->max_seq < group)
        group = p->base->max_seq;
    size_t n_logits, n_bytes;
    if (bn_mul_ovf_size((size_t)group * (size_t)n_ctx, (size_t)n_vocab, &n_logits) ||
        bn_mul_ovf_size(n_logits, sizeof(float), &n_bytes))
        return bn_error_set(err, BN_ELIMIT, "perplexity: logits buffer of %d x %d x %d overflows",
                            group, n_ctx, n_vocab);
    float *logits = malloc(n_bytes);
    float *base_logits = p->base ? malloc(n_bytes) : NULL;
    int32_t *batch = malloc((size_t)group * (size_t)n_ctx * sizeof *batch);
    if (!logits || !batch || (p->base && !base_logits)) {
        st = bn_error_set(err, BN_ENOMEM, "perplexity: cannot allocate %zu bytes of logits",
                          n_bytes);
        goto done;
    }

    nll_acc acc = {0};
    bn_kld_stats kld;
    bn_kld_init(&kld);
    double t0 = bn_now_seconds();
    for (int c0 = 0; c0 < n_chunk; c0 += group) {
        int n_seq = n_chunk - c0 < group ? n_chunk - c0 : group;
        for (int s = 0; s < n_seq; s++) {
            int32_t *dst = batch + (size_t)s * (size_t)n_ctx;
            memcpy(dst, tokens + (size_t)(c0 + s) * (size_t)n_ctx, (size_t)n_ctx * sizeof *dst);
            if (p->add_bos)
                dst[0] = p->bos_id;
        }
        if (p->on_pass)
            p->on_pass(p->user, c0, n_seq, n_chunk);
        st = ev->eval(ev, batch, n_seq, n_ctx, logits, err);
        if (!st && p->base)
            st = p->base->eval(p->base, batch, n_seq, n_ctx, base_logits, err);
        if (st) {
            bn_error_prefix(err, "perplexity: chunk %d", c0 + 1);
            goto done;
        }
        for (int s = 0; s < n_seq; s++) {
            size_t off = (size_t)s * (size_t)n_ctx * (size_t)n_vocab;
            /* Targets come from the original text: the BOS replacement only
             * touches position 0, which is never a target. */
            st = score_chunk(logits + off, p->base ? base_logits + off : NULL,
                             tokens + (size_t)(c0 + s) * (size_t)n_ctx, n_ctx, n_vocab, &acc,
                             &kld, &res->nonfinite, err);
            if (st) {
                bn_error_prefix(err, "perplexity: chunk %d", c0 + s + 1);
                goto done;
            }
            if (p->on_chunk) {
                bn_ppl_progress pr = {0};
                pr.chunk = c0 + s + 1;
                pr.n_chunks = n_chunk;
                acc_estimate(&acc, &pr.ppl, &pr.ppl_err);
                pr.n_scored = acc.n;
                pr.seconds = bn_now_seconds() - t0;
                pr.tok_per_s = pr.seconds > 0 ? (double)(c0 + n_seq) * n_ctx / pr.seconds : 0.0;
                pr.n_seq = group;
                st = p->on_chunk(p->user, &pr, err);
                if (st)
                    goto done;
            }
        }
    }
    res->n_ctx = n_ctx;
    res->n_chunks = n_chunk;
    res->n_tokens = n_tokens;
    res->n_scored = acc.n;
    res->nll_mean = acc.sum / (double)acc.n;
    acc_estimate(&acc, &res->ppl, &res->ppl_err);
    res->seconds = bn_now_seconds() - t0;
    res->tok_per_s = res->seconds > 0 ? (double)n_chunk * n_ctx / res->seconds : 0.0;
    if (p->base) {
        res->has_kld = 1;
        bn_kld_finish(&kld, &res->kld);
    }
done:
    free(logits);
    free(base_logits);
    free(batch);
    return st;
}
