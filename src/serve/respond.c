/* respond.c - OpenAI response bodies: whole completions and the chunks of a
 * server-sent-event stream (serve.h). Every string goes through cJSON, so text
 * is escaped however the model cut it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "serve/serve.h"

const char *bn_resp_finish(bn_finish f)
{
    return f == BN_FINISH_STOP ? "stop" : "length";
}

/* cJSON strings are NUL-terminated: a copy of text[0..len) (NUL bytes, which a
 * model can emit as a byte token, become spaces). */
static cJSON *text_item(const char *text, size_t len)
{
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++)
        s[i] = text[i] ? text[i] : ' ';
    s[len] = 0;
    cJSON *it = cJSON_CreateString(s);
    free(s);
    return it;
}

static cJSON *envelope(const bn_resp_meta *m, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "model", m->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "bntk");
    return o;
}

static void add_usage(cJSON *o, int n_prompt, int n_gen)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    if (!u)
        return;
    cJSON_AddNumberToObject(u, "prompt_tokens", n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", n_prompt + n_gen);
}

static char *print(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* The envelope with one choice {"index": 0} (*c) and the text item (*t) for the
 * caller to place; NULL, with everything freed, when out of memory. */
static cJSON *one_choice(const bn_resp_meta *m, const char *object, const char *text, size_t len,
                         cJSON **c, cJSON **t)
{
    cJSON *o = envelope(m, object);
    cJSON *choices = o ? cJSON_AddArrayToObject(o, "choices") : NULL;
    *c = cJSON_CreateObject();
    *t = text_item(text, len);
    if (!choices || !*c || !*t) {
        cJSON_Delete(o);
        cJSON_Delete(*c);
        cJSON_Delete(*t);
        return NULL;
    }
    cJSON_AddItemToArray(choices, *c);
    cJSON_AddNumberToObject(*c, "index", 0);
    return o;
}

char *bn_resp_full(const bn_resp_meta *m, const char *text, size_t len, bn_finish f,
                   int n_prompt, int n_gen)
{
    cJSON *c, *t;
    cJSON *o = one_choice(m, m->chat ? "chat.completion" : "text_completion", text, len, &c, &t);
    if (!o)
        return NULL;
    if (m->chat) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", t);
    } else {
        cJSON_AddItemToObject(c, "text", t);
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", bn_resp_finish(f));
    add_usage(o, n_prompt, n_gen);
    return print(o);
}

/* "data: JSON\n\n" (takes json) */
static char *sse_of(char *j)
{
    if (!j)
        return NULL;
    size_t n = strlen(j);
    char *s = malloc(n + 9);
    if (s) {
        memcpy(s, "data: ", 6);
        memcpy(s + 6, j, n);
        memcpy(s + 6 + n, "\n\n", 3);
    }
    free(j);
    return s;
}

static char *sse(cJSON *o)
{
    return sse_of(print(o));
}

char *bn_resp_chunk(const bn_resp_meta *m, int role_only, const char *text, size_t len,
                    bn_finish f)
{
    cJSON *c, *t;
    cJSON *o = one_choice(m, m->chat ? "chat.completion.chunk" : "text_completion",
                          text ? text : "", text ? len : 0, &c, &t);
    if (!o)
        return NULL;
    if (m->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (role_only)
            cJSON_AddStringToObject(d, "role", "assistant");
        if (role_only || f == BN_FINISH_NONE)
            cJSON_AddItemToObject(d, "content", t);
        else
            cJSON_Delete(t);
    } else {
        cJSON_AddItemToObject(c, "text", t);
    }
    cJSON_AddNullToObject(c, "logprobs");
    if (f == BN_FINISH_NONE)
        cJSON_AddNullToObject(c, "finish_reason");
    else
        cJSON_AddStringToObject(c, "finish_reason", bn_resp_finish(f));
    return sse(o);
}

char *bn_resp_error_event(const bn_api_error *e)
{
    return sse_of(bn_api_error_json(e));
}

char *bn_resp_usage_chunk(const bn_resp_meta *m, int n_prompt, int n_gen)
{
    cJSON *o = envelope(m, m->chat ? "chat.completion.chunk" : "text_completion");
    if (o) {
        cJSON_AddArrayToObject(o, "choices");
        add_usage(o, n_prompt, n_gen);
    }
    return sse(o);
}
