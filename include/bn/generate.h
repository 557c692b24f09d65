/*
 * generate.h - text generation for one sequence: sampling, stop conditions and
 * streamed UTF-8 text, shared by bn-run and bn-serve.
 *
 * Contract:
 *  1. A bn_gen is the generation state of ONE sequence: its sampler (sampler.h),
 *     its stop set, the detokenizer stream, the stop-string hold-back and the
 *     counters. It owns no context: the caller evaluates (bn_ctx_eval, or
 *     bn_ctx_eval_batch for many sequences in one step, as a server does) and
 *     hands the logits of the sequence's last position to bn_gen_next(). So a
 *     sequence's tokens depend only on its prompt, its parameters and the model,
 *     never on what it was batched with (model.h 5, sampler.h 3).
 *  2. Stops. A sampled token ends the generation (BN_FINISH_STOP) when it is in
 *     the stop set: the model's EOS and its end-of-turn tokens (bn_gen_stop_tokens:
 *     <|eot_id|>, <|eom_id|>, <|end_of_text|>, <|im_end|>, <|end|>, <end_of_turn>,
 *     when the vocabulary has them), plus params.stop_ids; ignore_eos drops the
 *     model's own set. A stop token produces no text. Stop strings (OpenAI's
 *     `stop`) end it too: text that could still become a stop string is held
 *     back, and nothing from the first stop string on is ever released.
 *     BN_FINISH_LENGTH when n_predict tokens were generated; the caller reports
 *     BN_FINISH_CONTEXT when the context is full.
 *  3. Text. Every piece released is complete, valid UTF-8 (bn_tok_stream); an
 *     incomplete character at the end becomes U+FFFD. Control tokens produce no
 *     text. The concatenation of the pieces of a generation equals the decode of
 *     its tokens with BN_TOK_KEEP_SPACE (a continuation keeps its leading space),
 *     up to the stop string, however the text was cut.
 *  4. Logits that hold NaN or an infinity fail bn_gen_next with BN_EINVAL naming
 *     the generated token index: a broken model never produces garbage text.
 *  5. bn_generate() is the blocking loop for one sequence of a context: it
 *     evaluates the prompt at pos0 (at most the cached length of seq_id: the
 *     cache is truncated to pos0 first, so a chat re-evaluates from the first
 *     token that differs from an earlier turn), then samples, streams
 *     each piece to on_text and evaluates each accepted token, so the cache
 *     ends holding the prompt, every generated token and the stop token
 *     (a later turn continues after it). It stops with BN_FINISH_CONTEXT when
 *     the context has no room for another token. on_text returning nonzero
 *     stops with BN_FINISH_ABORT (Ctrl-C in a chat; that token is still
 *     cached); that is not an error.
 */
#ifndef BN_GENERATE_H
#define BN_GENERATE_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/model.h"
#include "bn/sampler.h"

typedef enum {
    BN_FINISH_NONE = 0,    /* still generating */
    BN_FINISH_STOP = 1,    /* a stop token or stop string */
    BN_FINISH_LENGTH = 2,  /* n_predict tokens */
    BN_FINISH_CONTEXT = 3, /* the context is full */
    BN_FINISH_ABORT = 4    /* the caller stopped it */
} bn_finish;

/* "stop", "length", "context", "abort" ("" for NONE). OpenAI reports CONTEXT as
 * "length". */
const char *bn_finish_name(bn_finish f);

#define BN_GEN_MAX_STOP_STRS 16
#define BN_GEN_MAX_STOP_LEN 256 /* bytes per stop string */

typedef struct {
    bn_sampler_params sampler;     /* sampler.h; defaults: llama.cpp's */
    int n_predict;                 /* new tokens at most; < 0: until a stop or the context */
    const int32_t *stop_ids;       /* (n_stop_ids) extra stop tokens; copied by bn_gen_new */
    int n_stop_ids;
    const char *const *stop_strs;  /* (n_stop_strs) NUL-terminated, non-empty; copied */
    int n_stop_strs;
    int ignore_eos;                /* 1: only stop_ids, stop_strs and n_predict stop it */
    /* bn_generate only (may be NULL): called with every sampled token, the stop
     * token too, before its text goes to on_text (e.g. to print ids of a model
     * without a tokenizer, or to keep the tokens of a reply). */
    void (*on_token)(void *user, int32_t token);
    void *on_token_user;
} bn_gen_params;

void bn_gen_params_default(bn_gen_params *p);

typedef struct bn_gen bn_gen;

/* Checks the parameters (sampler ranges, stop strings at most
 * BN_GEN_MAX_STOP_STRS of at most BN_GEN_MAX_STOP_LEN bytes, stop ids in the
 * vocabulary), builds the stop set from the model's tokenizer and allocates
 * everything a step needs (bn_gen_next does not allocate). */
bn_status bn_gen_new(const bn_model *m, const bn_gen_params *p, bn_gen **out, bn_error *err);
void bn_gen_free(bn_gen *g); /* NULL ok */

/* Record prompt tokens in the repetition-penalty history (as llama.cpp does). */
void bn_gen_accept_prompt(bn_gen *g, const int32_t *ids, size_t n);

typedef struct {
    int32_t token;      /* the sampled token (the stop token when finish == STOP by token) */
    int evaluate;       /* 1: feed `token` to the model before the next call */
    const char *text;   /* UTF-8 released by this step, not NUL-terminated; valid until */
    size_t len;         /*   the next bn_gen_next / bn_gen_free */
    bn_finish finish;   /* != NONE: the generation ended with this step (text holds the
                           rest of the held-back text) */
} bn_gen_step;

/* Sample the next token from logits[n_vocab] (the sequence's last position) and
 * advance the state. After finish != NONE, further calls fail with BN_EINVAL. */
bn_status bn_gen_next(bn_gen *g, const float *logits, bn_gen_step *out, bn_error *err);

/* End a generation from outside (context full, client gone): releases the
 * held-back text (stop-string prefixes are released as they stand; an
 * incomplete character as U+FFFD) into *out with finish = f. */
void bn_gen_finish(bn_gen *g, bn_finish f, bn_gen_step *out);

int bn_gen_n_generated(const bn_gen *g);
bn_finish bn_gen_finish_reason(const bn_gen *g);

/* The model's own stop tokens (contract 2), at most cap of them; returns how
 * many were written. */
int bn_gen_stop_tokens(const bn_model *m, int32_t *ids, int cap);

/* ---- the blocking loop (contract 5) ---------------------------------------- */

/* Called with each released piece (len may be 0 only at the end); nonzero stops. */
typedef int (*bn_gen_text_fn)(void *user, const char *text, size_t len);

typedef struct {
    int n_prompt, n_gen;        /* tokens evaluated from the prompt, tokens generated */
    double prompt_s, gen_s;     /* wall seconds of the prompt and of generation */
    bn_finish finish;
} bn_gen_result;

bn_status bn_generate(bn_ctx *c, int seq_id, int pos0, const int32_t *prompt, int n_prompt,
                      const bn_gen_params *p, bn_gen_text_fn on_text, void *user,
                      bn_gen_result *res, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
