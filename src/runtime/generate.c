/* generate.c - one sequence's generation state (sampling, stops, streamed text)
 * and the blocking loop over a context (generate.h).
 *
 * Text path of one step:
 *   token -> bn_tokenizer_piece (control tokens: nothing)
 *         -> bn_tok_stream (complete UTF-8 characters only)
 *         -> hold[] (text not yet released)
 *         -> released: everything before the first stop string, minus the
 *            longest tail of hold that is a proper prefix of some stop string.
 * Because every released piece ends outside any possible stop-string start,
 * a stop string is always found whole inside hold, and nothing from its
 * first byte on ever leaves. */
#include "bn/generate.h"
#include "bn/tokenizer.h"
#include "bn/util.h"
#include "util/utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STOP_IDS 64 /* model stop tokens + caller's stop ids, after dedup */
#define MODEL_STOP_CAP 16

struct bn_gen {
    const bn_tokenizer *tk;   /* NULL: a model without a tokenizer (no text) */
    int n_vocab;
    bn_sampler *smp;
    int n_predict;
    int32_t *stops;           /* (n_stops) stop token ids */
    int n_stops;
    char **stop_strs;         /* (n_stop_strs) NUL-terminated copies */
    size_t *stop_lens;
    int n_stop_strs;
    bn_tok_stream ts;
    char *piece;              /* (piece_cap) one token's bytes */
    size_t piece_cap;
    char *hold;               /* (hold_cap) text not yet released */
    size_t hold_len, hold_cap;
    char *out;                /* (hold_cap) the text released by the last step */
    int n_gen;
    bn_finish finish;
};

const char *bn_finish_name(bn_finish f)
{
    switch (f) {
    case BN_FINISH_STOP: return "stop";
    case BN_FINISH_LENGTH: return "length";
    case BN_FINISH_CONTEXT: return "context";
    case BN_FINISH_ABORT: return "abort";
    default: return "";
    }
}

void bn_gen_params_default(bn_gen_params *p)
{
    memset(p, 0, sizeof *p);
    bn_sampler_params_default(&p->sampler);
    p->n_predict = -1;
}

static int add_unique(int32_t *ids, int n, int cap, int32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return n;
    if (n < cap)
        ids[n++] = id;
    return n;
}

int bn_gen_stop_tokens(const bn_model *m, int32_t *ids, int cap)
{
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    int n = 0;
    if (!tk || cap <= 0)
        return 0;
    int32_t n_tok = (int32_t)bn_tokenizer_n_tokens(tk);
    if (bn_tokenizer_eos(tk) >= 0)
        n = add_unique(ids, n, cap, bn_tokenizer_eos(tk));
    /* Explicit end-of-turn ids of the file, when in range (out-of-range ones are
     * the loader's business: ignoring them here never adds a wrong stop). */
    static const char *const keys[] = {"tokenizer.ggml.eot_token_id",
                                       "tokenizer.ggml.eom_token_id"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        uint32_t v;
        if (bn_gguf_get_u32(bn_model_gguf(m), keys[k], &v, NULL) == BN_OK && v < (uint32_t)n_tok)
            n = add_unique(ids, n, cap, (int32_t)v);
    }
    /* End-of-turn tokens by text, whatever their type, as llama.cpp finds them. */
    static const char *const eot[] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>",
                                      "<|im_end|>", "<|end|>",    "<end_of_turn>",
                                      "<|endoftext|>"};
    for (size_t i = 0; i < sizeof eot / sizeof eot[0]; i++) {
        int32_t id = bn_tokenizer_find(tk, eot[i], strlen(eot[i]));
        if (id >= 0)
            n = add_unique(ids, n, cap, id);
    }
    return n;
}

void bn_gen_free(bn_gen *g)
{
    if (!g)
        return;
    bn_sampler_free(g->smp);
    free(g->stops);
    if (g->stop_strs)
        for (int i = 0; i < g->n_stop_strs; i++)
            free(g->stop_strs[i]);
    free(g->stop_strs);
    free(g->stop_lens);
    free(g->piece);
    free(g->hold);
    free(g->out);
    free(g);
}

static bn_status check_params(const bn_model *m, const bn_gen_params *p, bn_error *err)
{
    int n_vocab = bn_model_hparams(m)->n_vocab;
    if (p->n_stop_ids < 0 || p->n_stop_ids > MAX_STOP_IDS - MODEL_STOP_CAP ||
        (p->n_stop_ids > 0 && !p->stop_ids))
        return bn_error_set(err, BN_EINVAL, "generate: %d stop token ids (at most %d)",
                            p->n_stop_ids, MAX_STOP_IDS - MODEL_STOP_CAP);
    for (int i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] < 0 || p->stop_ids[i] >= n_vocab)
            return bn_error_set(err, BN_EINVAL, "generate: stop token id %d is not in [0, %d)",
                                (int)p->stop_ids[i], n_vocab);
    if (p->n_stop_strs < 0 || p->n_stop_strs > BN_GEN_MAX_STOP_STRS ||
        (p->n_stop_strs > 0 && !p->stop_strs))
        return bn_error_set(err, BN_EINVAL, "generate: %d stop strings (at most %d)",
                            p->n_stop_strs, BN_GEN_MAX_STOP_STRS);
    if (p->n_stop_strs > 0 && !bn_model_tokenizer(m))
        return bn_error_set(err, BN_EINVAL,
                            "generate: stop strings need a model with a tokenizer");
    for (int i = 0; i < p->n_stop_strs; i++) {
        const char *s = p->stop_strs[i];
        size_t len = s ? strnlen(s, BN_GEN_MAX_STOP_LEN + 1) : 0;
        if (len == 0 || len > BN_GEN_MAX_STOP_LEN)
            return bn_error_set(err, BN_EINVAL,
                                "generate: stop string %d is %s (1 to %d bytes)", i,
                                len ? "too long" : "empty", BN_GEN_MAX_STOP_LEN);
        if (bnu_utf8_valid_prefix(s, len) != len)
            return bn_error_set(err, BN_EINVAL, "generate: stop string %d is not valid UTF-8", i);
    }
    return BN_OK;
}

bn_status bn_gen_new(const bn_model *m, const bn_gen_params *p, bn_gen **out, bn_error *err)
{
    *out = NULL;
    bn_status st = check_params(m, p, err);
    if (st)
        return st;
    bn_gen *g = calloc(1, sizeof *g);
    if (!g)
        return bn_error_set(err, BN_ENOMEM, "generate: out of memory");
    g->tk = bn_model_tokenizer(m);
    g->n_vocab = bn_model_hparams(m)->n_vocab;
    g->n_predict = p->n_predict;
    if ((st = bn_sampler_new(&p->sampler, g->n_vocab, &g->smp, err)))
        goto fail;
    g->stops = malloc(MAX_STOP_IDS * sizeof *g->stops);
    if (!g->stops)
        goto oom;
    if (!p->ignore_eos)
        g->n_stops = bn_gen_stop_tokens(m, g->stops, MODEL_STOP_CAP);
    for (int i = 0; i < p->n_stop_ids; i++)
        g->n_stops = add_unique(g->stops, g->n_stops, MAX_STOP_IDS, p->stop_ids[i]);
    if (p->n_stop_strs > 0) {
        g->stop_strs = calloc((size_t)p->n_stop_strs, sizeof *g->stop_strs);
        g->stop_lens = calloc((size_t)p->n_stop_strs, sizeof *g->stop_lens);
        if (!g->stop_strs || !g->stop_lens)
            goto oom;
        for (int i = 0; i < p->n_stop_strs; i++) {
            g->stop_lens[i] = strlen(p->stop_strs[i]);
            g->stop_strs[i] = strdup(p->stop_strs[i]);
            g->n_stop_strs = i + 1;
            if (!g->stop_strs[i])
                goto oom;
        }
    }
    /* A piece is never longer than the token's stored text (SPM U+2581 and
     * <0xNN>, BPE's byte map all shrink), so the longest text bounds every step. */
    size_t max_piece = 16;
    if (g->tk) {
        uint32_t n = bn_tokenizer_n_tokens(g->tk);
        for (uint32_t i = 0; i < n; i++) {
            size_t len = 0;
            if (bn_tokenizer_text(g->tk, (int32_t)i, &len) && len > max_piece)
                max_piece = len;
        }
    }
    if (max_piece > ((size_t)1 << 20))
        max_piece = (size_t)1 << 20; /* bn_tokenizer_piece truncates; no real token is 1 MiB */
    g->piece_cap = max_piece;
    g->hold_cap = BN_GEN_MAX_STOP_LEN + 3 * (max_piece + 4) + 8;
    g->piece = malloc(g->piece_cap);
    g->hold = malloc(g->hold_cap);
    g->out = malloc(g->hold_cap);
    if (!g->piece || !g->hold || !g->out)
        goto oom;
    bn_tok_stream_init(&g->ts);
    *out = g;
    return BN_OK;
oom:
    st = bn_error_set(err, BN_ENOMEM, "generate: out of memory");
fail:
    bn_gen_free(g);
    return st;
}

void bn_gen_accept_prompt(bn_gen *g, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bn_sampler_accept(g->smp, ids[i]);
}

int bn_gen_n_generated(const bn_gen *g) { return g->n_gen; }
bn_finish bn_gen_finish_reason(const bn_gen *g) { return g->finish; }

static int is_stop(const bn_gen *g, int32_t id)
{
    for (int i = 0; i < g->n_stops; i++)
        if (g->stops[i] == id)
            return 1;
    return 0;
}

/* Earliest start of a whole stop string in hold, or -1. */
static long find_stop(const bn_gen *g)
{
    long best = -1;
    for (int s = 0; s < g->n_stop_strs; s++) {
        size_t n = g->stop_lens[s];
        for (size_t i = 0; i + n <= g->hold_len && (best < 0 || (long)i < best); i++)
            if (!memcmp(g->hold + i, g->stop_strs[s], n)) {
                best = (long)i;
                break;
            }
    }
    return best;
}

/* Length of the longest tail of hold that is a proper prefix of a stop string. */
static size_t held_tail(const bn_gen *g)
{
    size_t best = 0;
    for (int s = 0; s < g->n_stop_strs; s++) {
        size_t n = g->stop_lens[s];
        size_t k = n - 1 < g->hold_len ? n - 1 : g->hold_len;
        for (; k > best; k--)
            if (!memcmp(g->hold + g->hold_len - k, g->stop_strs[s], k)) {
                best = k;
                break;
            }
    }
    return best;
}

/* Move hold[0, n) to out; the rest of hold moves to its front. */
static void release(bn_gen *g, size_t n, bn_gen_step *st)
{
    memcpy(g->out, g->hold, n);
    memmove(g->hold, g->hold + n, g->hold_len - n);
    g->hold_len -= n;
    st->text = g->out;
    st->len = n;
}

bn_status bn_gen_next(bn_gen *g, const float *logits, bn_gen_step *out, bn_error *err)
{
    memset(out, 0, sizeof *out);
    out->text = g->out;
    if (g->finish != BN_FINISH_NONE)
        return bn_error_set(err, BN_EINVAL, "generate: the generation already ended (%s)",
                            bn_finish_name(g->finish));
    if (g->n_predict >= 0 && g->n_gen >= g->n_predict) {
        bn_gen_finish(g, BN_FINISH_LENGTH, out); /* n_predict 0: nothing to sample */
        return BN_OK;
    }
    for (int v = 0; v < g->n_vocab; v++)
        if (!isfinite(logits[v]))
            return bn_error_set(err, BN_EINVAL,
                                "generate: the logits of generated token %d hold %s at vocabulary "
                                "id %d (the model's weights are broken)",
                                g->n_gen, isnan(logits[v]) ? "NaN" : "an infinity", v);
    int32_t id = bn_sampler_sample(g->smp, logits);
    bn_sampler_accept(g->smp, id);
    g->n_gen++;
    out->token = id;
    out->evaluate = 1;
    if (is_stop(g, id)) {
        bn_gen_finish(g, BN_FINISH_STOP, out);
        out->token = id;
        out->evaluate = 1;
        return BN_OK;
    }
    if (g->tk) {
        long n = bn_tokenizer_piece(g->tk, id, 0, g->piece, g->piece_cap);
        if (n > (long)g->piece_cap)
            n = (long)g->piece_cap;
        if (n > 0)
            g->hold_len += bn_tok_stream_feed(&g->ts, g->piece, (size_t)n, g->hold + g->hold_len);
    }
    long at = find_stop(g);
    if (at >= 0) {
        g->hold_len = (size_t)at; /* the stop string and all after it are dropped */
        release(g, (size_t)at, out);
        g->finish = out->finish = BN_FINISH_STOP;
        return BN_OK;
    }
    release(g, g->hold_len - held_tail(g), out);
    if (g->n_predict >= 0 && g->n_gen >= g->n_predict) {
        /* the rest of hold (and a cut character, as U+FFFD) goes out with this step */
        g->hold_len += bn_tok_stream_flush(&g->ts, g->hold + g->hold_len);
        memcpy(g->out + out->len, g->hold, g->hold_len);
        out->len += g->hold_len;
        g->hold_len = 0;
        g->finish = out->finish = BN_FINISH_LENGTH;
    }
    return BN_OK;
}

void bn_gen_finish(bn_gen *g, bn_finish f, bn_gen_step *out)
{
    memset(out, 0, sizeof *out);
    out->token = -1;
    if (g->finish != BN_FINISH_NONE) {
        out->text = g->out;
        out->finish = g->finish;
        return;
    }
    /* A stop token ends the text where it stands: what was held back for a
     * stop string that never came is text, as is a cut character (U+FFFD). */
    g->hold_len += bn_tok_stream_flush(&g->ts, g->hold + g->hold_len);
    release(g, g->hold_len, out);
    g->finish = out->finish = f;
}

/* ---- the blocking loop -------------------------------------------------------------- */

static int emit(bn_gen_text_fn on_text, void *user, const bn_gen_step *s)
{
    if (!on_text || (s->len == 0 && s->finish == BN_FINISH_NONE))
        return 0;
    return on_text(user, s->text, s->len);
}

bn_status bn_generate(bn_ctx *c, int seq_id, int pos0, const int32_t *prompt, int n_prompt,
                      const bn_gen_params *p, bn_gen_text_fn on_text, void *user,
                      bn_gen_result *res, bn_error *err)
{
    memset(res, 0, sizeof *res);
    const bn_model *m = bn_ctx_model(c);
    int n_ctx = bn_ctx_params_get(c)->n_ctx;
    if (pos0 < 0 || pos0 > bn_ctx_seq_len(c, seq_id))
        return bn_error_set(err, BN_EINVAL,
                            "generate: position %d is beyond the %d cached positions of sequence %d",
                            pos0, bn_ctx_seq_len(c, seq_id), seq_id);
    if (n_prompt < 1 || !prompt)
        return bn_error_set(err, BN_EINVAL, "generate: the prompt is empty");
    if (n_prompt > n_ctx - pos0)
        return bn_error_set(err, BN_ELIMIT,
                            "the prompt (%d tokens at position %d) does not fit the context of %d",
                            n_prompt, pos0, n_ctx);
    bn_gen *g = NULL;
    bn_status st = bn_gen_new(m, p, &g, err);
    if (st)
        return st;
    float *logits = malloc((size_t)bn_model_hparams(m)->n_vocab * sizeof *logits);
    if (!logits) {
        bn_gen_free(g);
        return bn_error_set(err, BN_ENOMEM, "generate: out of memory for the logits");
    }
    double t0 = bn_now_seconds();
    st = bn_ctx_eval(c, seq_id, prompt, n_prompt, pos0, BN_LOGITS_LAST, logits, err);
    res->prompt_s = bn_now_seconds() - t0;
    if (st)
        goto out;
    res->n_prompt = n_prompt;
    bn_gen_accept_prompt(g, prompt, (size_t)n_prompt);
    int pos = pos0 + n_prompt;
    t0 = bn_now_seconds();
    bn_gen_step s;
    for (;;) {
        if (pos >= n_ctx) {
            bn_gen_finish(g, BN_FINISH_CONTEXT, &s);
            emit(on_text, user, &s);
            break;
        }
        if ((st = bn_gen_next(g, logits, &s, err)))
            break;
        if (p->on_token && s.evaluate)
            p->on_token(p->on_token_user, s.token);
        int stop = emit(on_text, user, &s);
        /* the token goes into the cache even when it ends the generation, so a
         * later turn continues after it (contract 5) */
        bn_logits_mode mode = s.finish != BN_FINISH_NONE || stop ? BN_LOGITS_NONE : BN_LOGITS_LAST;
        if (s.evaluate) {
            if ((st = bn_ctx_eval(c, seq_id, &s.token, 1, pos, mode, logits, err)))
                break;
            pos++;
        }
        if (s.finish != BN_FINISH_NONE)
            break;
        if (stop) {
            bn_gen_finish(g, BN_FINISH_ABORT, &s);
            break; /* the caller asked to stop: no more callbacks */
        }
    }
    res->gen_s = bn_now_seconds() - t0;
    res->n_gen = bn_gen_n_generated(g);
    res->finish = bn_gen_finish_reason(g);
out:
    free(logits);
    bn_gen_free(g);
    return st;
}
