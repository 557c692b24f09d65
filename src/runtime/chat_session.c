/* chat_session.c - a conversation kept in one KV-cache sequence (chat.h,
 * contract 5): re-render the whole conversation each turn, evaluate from the
 * first token that differs from what the cache holds, and drop the oldest
 * turns (never the system message) when the context would overflow. */
#include "bn/chat.h"
#include "bn/tokenizer.h"
#include "util/grow.h"

#include <stdlib.h>
#include <string.h>

struct bn_chat_session {
    const bn_model *m;
    const bn_tokenizer *tk;
    bn_chat_tpl tpl;
    bn_chat_texts tx;
    bn_chat_msg *msgs;   /* (n_msgs) owned role literals and content copies */
    size_t n_msgs, cap_msgs;
    int has_system;      /* msgs[0] is the system message */
    bn_tokens cache;     /* the tokens the caller's cache holds, in order */
    bn_tokens full;      /* the last rendered conversation, tokenized */
};

static void drop_msgs(bn_chat_session *s, size_t from, size_t count)
{
    if (count == 0)
        return;
    for (size_t i = from; i < from + count; i++)
        free((char *)s->msgs[i].content);
    memmove(s->msgs + from, s->msgs + from + count,
            (s->n_msgs - from - count) * sizeof *s->msgs);
    s->n_msgs -= count;
}

static bn_status push_msg(bn_chat_session *s, const char *role, const char *text, size_t len,
                          bn_error *err)
{
    if (bnu_grow((void **)&s->msgs, &s->cap_msgs, s->n_msgs + 1, sizeof *s->msgs, 16))
        return bn_error_set(err, BN_ENOMEM, "chat: out of memory for %zu messages", s->n_msgs + 1);
    char *c = malloc(len + 1);
    if (!c)
        return bn_error_set(err, BN_ENOMEM, "chat: out of memory for a message of %zu bytes", len);
    memcpy(c, text, len);
    c[len] = 0;
    s->msgs[s->n_msgs].role = role;
    s->msgs[s->n_msgs].content = c;
    s->n_msgs++;
    return BN_OK;
}

bn_status bn_chat_session_new(const bn_model *m, bn_chat_tpl t, bn_chat_session **out,
                              bn_error *err)
{
    *out = NULL;
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    if (!tk)
        return bn_error_set(err, BN_EINVAL, "%s: a chat needs a model with a tokenizer",
                            bn_gguf_path(bn_model_gguf(m)));
    if ((unsigned)t >= BN_CHAT_COUNT)
        return bn_error_set(err, BN_EINVAL, "chat template %d is not a known family", (int)t);
    bn_chat_session *s = calloc(1, sizeof *s);
    if (!s)
        return bn_error_set(err, BN_ENOMEM, "chat: out of memory");
    s->m = m;
    s->tk = tk;
    s->tpl = t;
    bn_status st = bn_chat_texts_of(m, &s->tx, err);
    if (st) {
        free(s);
        return st;
    }
    *out = s;
    return BN_OK;
}

void bn_chat_session_free(bn_chat_session *s)
{
    if (!s)
        return;
    drop_msgs(s, 0, s->n_msgs);
    free(s->msgs);
    bn_tokens_free(&s->cache);
    bn_tokens_free(&s->full);
    free(s);
}

void bn_chat_session_reset(bn_chat_session *s)
{
    size_t keep = s->has_system ? 1 : 0;
    drop_msgs(s, keep, s->n_msgs - keep);
}

bn_status bn_chat_session_set_system(bn_chat_session *s, const char *system, bn_error *err)
{
    drop_msgs(s, 0, s->n_msgs);
    s->has_system = 0;
    if (!system || !*system)
        return BN_OK;
    bn_status st = push_msg(s, "system", system, strlen(system), err);
    if (!st)
        s->has_system = 1;
    return st;
}

size_t bn_chat_session_n_messages(const bn_chat_session *s) { return s->n_msgs; }

/* Render and tokenize the whole conversation into s->full. */
static bn_status tokenize_all(bn_chat_session *s, bn_error *err)
{
    char *text;
    size_t len;
    bn_status st = bn_chat_render(&s->tx, s->tpl, s->msgs, s->n_msgs, 1, &text, &len, err);
    if (st)
        return st;
    s->full.n = 0;
    st = bn_tokenizer_encode(s->tk, text, len, BN_TOK_ADD_SPECIAL | BN_TOK_PARSE_SPECIAL,
                             &s->full, err);
    free(text);
    return st;
}

bn_status bn_chat_session_user(bn_chat_session *s, const char *text, int n_ctx, int reserve,
                               bn_chat_turn *out, bn_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_ctx < 2)
        return bn_error_set(err, BN_EINVAL, "chat: a context of %d positions is too small", n_ctx);
    if (reserve < 1)
        reserve = 1;
    if (reserve > n_ctx / 2)
        reserve = n_ctx / 2;
    bn_status st = push_msg(s, "user", text, strlen(text), err);
    if (st)
        return st;
    size_t first = s->has_system ? 1 : 0;
    for (;;) {
        if ((st = tokenize_all(s, err)))
            goto fail;
        if ((int)s->full.n <= n_ctx - reserve)
            break;
        if (s->n_msgs - first <= 1) {
            if ((int)s->full.n <= n_ctx - 1)
                break; /* the newest turn alone: it fits, with less room to answer */
            st = bn_error_set(err, BN_ELIMIT,
                              "a message of %zu tokens (with the chat template%s) does not fit "
                              "the context of %d (-c)",
                              s->full.n, s->has_system ? " and the system prompt" : "", n_ctx);
            goto fail;
        }
        /* the oldest turn: a user message and the reply after it */
        size_t k = s->n_msgs - first > 2 && !strcmp(s->msgs[first + 1].role, "assistant") ? 2 : 1;
        drop_msgs(s, first, k);
        out->n_dropped += (int)k;
    }
    size_t same = 0;
    while (same < s->cache.n && same < s->full.n && s->cache.ids[same] == s->full.ids[same])
        same++;
    if (same == s->full.n)
        same--; /* re-evaluate the last token: its logits start the reply */
    s->cache.n = same;
    if ((st = bn_tokens_append(&s->cache, s->full.ids + same, s->full.n - same, err)))
        goto fail;
    out->tokens = s->full.ids + same;
    out->n = (int)(s->full.n - same);
    out->pos0 = (int)same;
    return BN_OK;
fail:
    /* the conversation stays as it was before this turn (minus dropped turns) */
    if (s->n_msgs > first && !strcmp(s->msgs[s->n_msgs - 1].role, "user"))
        drop_msgs(s, s->n_msgs - 1, 1);
    return st;
}

bn_status bn_chat_session_reply(bn_chat_session *s, const char *text, size_t len,
                                const int32_t *ids, int n, bn_error *err)
{
    if (n < 0)
        return bn_error_set(err, BN_EINVAL, "chat: %d reply tokens", n);
    bn_status st = push_msg(s, "assistant", text, len, err);
    if (!st)
        st = bn_tokens_append(&s->cache, ids, (size_t)n, err);
    return st;
}
