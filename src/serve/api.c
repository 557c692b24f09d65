/* api.c - OpenAI request bodies in, validated generation parameters and prompt
 * tokens out (serve.h); llama-server's /tokenize and /detokenize.
 *
 * Rules: unknown fields are ignored; a known field of the wrong type, out of
 * range, or a string that is not UTF-8 is a 400 naming the field; null means
 * "not given" (as OpenAI's SDKs send it). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bn/tokenizer.h"
#include "bn/util.h"
#include "util/utf8.h"
#include "serve/serve.h"

#define MAX_MESSAGES 4096

int bn_api_fail(bn_api_error *e, int status, const char *type, const char *param,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = NULL;
    return -1;
}

/* s[0..n) as a NUL-terminated string of valid UTF-8 (malloc'd), NUL bytes
 * turned into spaces: cJSON copies a string's bytes into its JSON as they
 * are, up to the first NUL. */
static char *clean_utf8(const char *s, size_t n)
{
    size_t o;
    char *out = bn_tok_utf8_copy(s, n, &o);
    for (size_t i = 0; out && i < o; i++)
        if (!out[i])
            out[i] = ' ';
    return out;
}

char *bn_api_error_json(const bn_api_error *e)
{
    cJSON *root = cJSON_CreateObject(), *o = cJSON_CreateObject();
    /* messages quote what the client sent (a path, a method) and may end in a
     * character that vsnprintf cut */
    char *msg = clean_utf8(e->message, strnlen(e->message, sizeof e->message));
    if (!root || !o || !msg) {
        cJSON_Delete(root);
        cJSON_Delete(o);
        free(msg);
        return NULL;
    }
    cJSON_AddItemToObject(root, "error", o);
    cJSON_AddStringToObject(o, "message", msg);
    free(msg);
    cJSON_AddStringToObject(o, "type", e->type ? e->type : "server_error");
    if (e->param)
        cJSON_AddStringToObject(o, "param", e->param);
    else
        cJSON_AddNullToObject(o, "param");
    if (e->code)
        cJSON_AddStringToObject(o, "code", e->code);
    else
        cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

int bn_api_utf8_ok(const char *s, size_t n)
{
    return memchr(s, 0, n) == NULL && bnu_utf8_valid_prefix(s, n) == n;
}

static int bad_request(bn_api_error *e, const char *param, const char *fmt, ...) BN_PRINTF(3, 4);
static int bad_request(bn_api_error *e, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->status = 400;
    e->type = "invalid_request_error";
    e->param = param;
    e->code = NULL;
    return -1;
}

/* The body as a JSON object (e cleared first). */
static cJSON *parse_object(const char *body, size_t len, bn_api_error *e)
{
    memset(e, 0, sizeof *e);
    if (!len) {
        bad_request(e, NULL, "the request body is empty; expected a JSON object");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t off = end && end >= body ? (size_t)(end - body) : 0;
        bad_request(e, NULL, "the request body is not valid JSON (error near byte %zu)", off);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        bad_request(e, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* A field, or NULL when absent or null. */
static const cJSON *field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int get_bool(const cJSON *o, const char *name, int *out, bn_api_error *e)
{
    const cJSON *v = field(o, name);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return bad_request(e, name, "'%s' must be a boolean", name);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_num(const cJSON *o, const char *name, double lo, double hi, float *out,
                   bn_api_error *e)
{
    const cJSON *v = field(o, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return bad_request(e, name, "'%s' must be a number", name);
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi)
        return bad_request(e, name, "'%s' is %g; it must be in [%g, %g]", name, d, lo, hi);
    *out = (float)d;
    return 0;
}

static int get_int(const cJSON *o, const char *name, double lo, double hi, long long *out,
                   int *given, bn_api_error *e)
{
    const cJSON *v = field(o, name);
    if (given)
        *given = 0;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return bad_request(e, name, "'%s' must be an integer", name);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return bad_request(e, name, "'%s' must be an integer, not %g", name, d);
    if (d < lo || d > hi)
        return bad_request(e, name, "'%s' is %g; it must be an integer in [%.0f, %.0f]", name, d,
                           lo, hi);
    *out = (long long)d;
    if (given)
        *given = 1;
    return 0;
}

static int check_str(const cJSON *v, const char *param, bn_api_error *e)
{
    if (!bn_api_utf8_ok(v->valuestring, strlen(v->valuestring)))
        return bad_request(e, param, "'%s' is not valid UTF-8 text", param);
    return 0;
}

/* ---- sampling and stopping ----------------------------------------------------------- */

static int parse_stop(const cJSON *o, bn_api_req *r, bn_api_error *e)
{
    const cJSON *v = field(o, "stop");
    if (!v)
        return 0;
    const cJSON *one = cJSON_IsString(v) ? v : NULL;
    if (!one && !cJSON_IsArray(v))
        return bad_request(e, "stop", "'stop' must be a string or an array of strings");
    int n = one ? 1 : cJSON_GetArraySize(v);
    if (n > BN_GEN_MAX_STOP_STRS)
        return bad_request(e, "stop", "'stop' has %d strings; at most %d are allowed", n,
                           BN_GEN_MAX_STOP_STRS);
    for (int i = 0; i < n; i++) {
        const cJSON *s = one ? one : cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(s))
            return bad_request(e, "stop", "'stop'[%d] must be a string", i);
        if (check_str(s, "stop", e))
            return -1;
        size_t l = strlen(s->valuestring);
        if (!l || l > BN_GEN_MAX_STOP_LEN)
            return bad_request(e, "stop", "'stop'[%d] has %zu bytes; it must have 1 to %d", i, l,
                               BN_GEN_MAX_STOP_LEN);
        r->stop_buf[r->gp.n_stop_strs] = strdup(s->valuestring);
        if (!r->stop_buf[r->gp.n_stop_strs])
            return bn_api_fail(e, 500, "server_error", NULL, "out of memory");
        r->gp.n_stop_strs++;
    }
    r->gp.stop_strs = (const char *const *)r->stop_buf;
    return 0;
}

static int parse_sampling(const cJSON *o, bn_api_req *r, bn_api_error *e)
{
    bn_gen_params_default(&r->gp);
    bn_sampler_params *sp = &r->gp.sampler;
    long long v;
    int given;
    /* max_tokens (OpenAI), max_completion_tokens (its newer name), n_predict (llama) */
    static const char *const max_names[] = {"max_tokens", "max_completion_tokens", "n_predict"};
    r->gp.n_predict = -1;
    for (int i = 0; i < 3; i++) {
        if (get_int(o, max_names[i], i == 2 ? -1 : 0, 1 << 30, &v, &given, e))
            return -1;
        if (given)
            r->gp.n_predict = (int)v;
    }
    if (get_num(o, "temperature", 0, 100, &sp->temp, e) || get_num(o, "top_p", 0, 1, &sp->top_p, e) ||
        get_num(o, "min_p", 0, 1, &sp->min_p, e) ||
        get_num(o, "repeat_penalty", 1e-3, 100, &sp->repeat_penalty, e) ||
        get_num(o, "frequency_penalty", -2, 2, &sp->freq_penalty, e) ||
        get_num(o, "presence_penalty", -2, 2, &sp->presence_penalty, e))
        return -1;
    if (get_int(o, "top_k", 0, 1 << 30, &v, &given, e))
        return -1;
    if (given)
        sp->top_k = (int)v;
    if (get_int(o, "repeat_last_n", 0, 1 << 20, &v, &given, e))
        return -1;
    if (given)
        sp->repeat_last_n = (int)v;
    /* seed: any 64-bit integer; exact up to 2^53 (JSON numbers are doubles) */
    if (get_int(o, "seed", -9007199254740992.0, 9007199254740992.0, &v, &given, e))
        return -1;
    if (given)
        sp->seed = (uint64_t)v;
    else { /* unseeded requests differ, as OpenAI's do */
        static _Atomic unsigned long long counter;
        sp->seed = (uint64_t)(bn_now_seconds() * 1e9) ^ (0x9E3779B97F4A7C15ull * ++counter);
    }
    if (get_int(o, "n", 1, 1, &v, &given, e)) {
        snprintf(e->message, sizeof e->message, "'n' must be 1: one choice per request");
        return -1;
    }
    if (get_bool(o, "ignore_eos", &r->gp.ignore_eos, e) || get_bool(o, "stream", &r->stream, e))
        return -1;
    const cJSON *so = field(o, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so))
            return bad_request(e, "stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &r->include_usage, e))
            return -1;
    }
    return parse_stop(o, r, e);
}

/* ---- prompts ------------------------------------------------------------------------ */

/* A message's content: a string, or OpenAI's array of parts of which only
 * {"type":"text","text":...} carry text. malloc'd. */
static char *message_content(const cJSON *c, int i, bn_api_error *e)
{
    if (!c)
        return strdup("");
    if (cJSON_IsString(c)) {
        if (!bn_api_utf8_ok(c->valuestring, strlen(c->valuestring))) {
            bad_request(e, "messages", "messages[%d].content is not valid UTF-8 text", i);
            return NULL;
        }
        return strdup(c->valuestring);
    }
    if (!cJSON_IsArray(c)) {
        bad_request(e, "messages", "messages[%d].content must be a string or an array of parts",
                    i);
        return NULL;
    }
    size_t len = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, c)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsObject(p) || !cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0 ||
            !cJSON_IsString(x)) {
            bad_request(e, "messages",
                        "messages[%d].content: only parts {\"type\":\"text\",\"text\":STRING} are "
                        "supported",
                        i);
            return NULL;
        }
        if (!bn_api_utf8_ok(x->valuestring, strlen(x->valuestring))) {
            bad_request(e, "messages", "messages[%d].content is not valid UTF-8 text", i);
            return NULL;
        }
        len += strlen(x->valuestring);
    }
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    cJSON_ArrayForEach(p, c)
    {
        const char *x = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        size_t l = strlen(x);
        memcpy(s + o, x, l);
        o += l;
    }
    s[o] = 0;
    return s;
}

/* messages -> the template's text (malloc'd). */
static char *render_chat(const bn_api_ctx *ac, const cJSON *root, bn_api_error *e)
{
    const cJSON *ms = field(root, "messages");
    if (!ms) {
        bad_request(e, "messages", "'messages' is required");
        return NULL;
    }
    if (!cJSON_IsArray(ms)) {
        bad_request(e, "messages", "'messages' must be an array");
        return NULL;
    }
    int n = cJSON_GetArraySize(ms);
    if (n < 1 || n > MAX_MESSAGES) {
        bad_request(e, "messages", "'messages' has %d entries; it must have 1 to %d", n,
                    MAX_MESSAGES);
        return NULL;
    }
    bn_chat_msg *msgs = calloc((size_t)n, sizeof *msgs);
    char **contents = calloc((size_t)n, sizeof *contents);
    char *out = NULL;
    int ok = msgs && contents;
    if (!ok)
        bn_api_fail(e, 500, "server_error", NULL, "out of memory");
    for (int i = 0; ok && i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(ms, i);
        const cJSON *role = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "role") : NULL;
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            ok = !bad_request(e, "messages", "messages[%d] must be an object with a string 'role'",
                              i);
            break;
        }
        const char *r = role->valuestring;
        if (!strcmp(r, "developer")) /* OpenAI's newer name for the system role */
            r = "system";
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0) {
            ok = !bad_request(e, "messages",
                              "messages[%d].role must be system, user or assistant", i);
            break;
        }
        contents[i] = message_content(field(m, "content"), i, e);
        if (!contents[i]) {
            if (!e->status)
                bn_api_fail(e, 500, "server_error", NULL, "out of memory");
            ok = 0;
            break;
        }
        msgs[i] = (bn_chat_msg){r, contents[i]};
    }
    if (ok) {
        bn_error err;
        bn_error_clear(&err);
        size_t len;
        bn_status st = bn_chat_format(ac->model, ac->tpl, msgs, (size_t)n, 1, &out, &len, &err);
        if (st) {
            out = NULL;
            if (st == BN_ENOMEM)
                bn_api_fail(e, 500, "server_error", NULL, "%s", err.msg);
            else
                bad_request(e, "messages", "%s", err.msg);
        }
    }
    for (int i = 0; contents && i < n; i++)
        free(contents[i]);
    free(contents);
    free(msgs);
    return out;
}

static int tokenize(const bn_api_ctx *ac, const char *text, unsigned flags, bn_tokens *toks,
                    const char *param, bn_api_error *e)
{
    const bn_tokenizer *tk = bn_model_tokenizer(ac->model);
    if (!tk)
        return bn_api_fail(e, 501, "not_supported_error", NULL,
                           "the model has no tokenizer: send token ids");
    bn_error err;
    bn_error_clear(&err);
    if (bn_tokenizer_encode(tk, text, strlen(text), flags, toks, &err))
        return bad_request(e, param, "%s", err.msg);
    return 0;
}

/* A token-id array (llama-server accepts them as prompts and for /detokenize). */
static int token_array(const bn_api_ctx *ac, const cJSON *a, const char *param, bn_tokens *t,
                       bn_api_error *e)
{
    int n = cJSON_GetArraySize(a);
    int V = bn_model_hparams(ac->model)->n_vocab;
    t->ids = malloc(((size_t)n + 1) * sizeof *t->ids);
    if (!t->ids)
        return bn_api_fail(e, 500, "server_error", NULL, "out of memory");
    t->cap = (size_t)n + 1;
    t->n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        double d = cJSON_IsNumber(x) ? x->valuedouble : -1;
        if (!cJSON_IsNumber(x) || d != floor(d) || d < 0 || d >= V)
            return bad_request(e, param, "'%s'[%zu] must be a token id in [0, %d)", param, t->n,
                               V);
        t->ids[t->n++] = (int32_t)d;
    }
    return 0;
}

static int completion_prompt(const bn_api_ctx *ac, const cJSON *root, bn_tokens *toks,
                             bn_api_error *e)
{
    const cJSON *p = field(root, "prompt");
    if (!p)
        return bad_request(e, "prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsString(p)) {
        if (check_str(p, "prompt", e))
            return -1;
        return tokenize(ac, p->valuestring, BN_TOK_ADD_SPECIAL | BN_TOK_PARSE_SPECIAL, toks,
                        "prompt", e);
    }
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0 && cJSON_IsNumber(cJSON_GetArrayItem(p, 0)))
        return token_array(ac, p, "prompt", toks, e);
    return bad_request(e, "prompt",
                       "'prompt' must be a string, an array of one string, or an array of token ids");
}

int bn_api_parse_completion(const bn_api_ctx *ac, const char *body, size_t len, int chat,
                            bn_api_req *r, bn_api_error *e)
{
    memset(r, 0, sizeof *r);
    memset(e, 0, sizeof *e);
    r->chat = chat;
    cJSON *root = parse_object(body, len, e);
    if (!root)
        return -1;
    bn_tokens toks = {0};
    int rc = parse_sampling(root, r, e);
    const cJSON *model = field(root, "model");
    if (!rc && model && !cJSON_IsString(model))
        rc = bad_request(e, "model", "'model' must be a string");
    if (!rc && chat) {
        char *text = render_chat(ac, root, e);
        rc = text ? tokenize(ac, text, BN_TOK_ADD_SPECIAL | BN_TOK_PARSE_SPECIAL, &toks,
                             "messages", e)
                  : -1;
        free(text);
    } else if (!rc) {
        rc = completion_prompt(ac, root, &toks, e);
    }
    cJSON_Delete(root);
    if (!rc && toks.n == 0)
        rc = bad_request(e, chat ? "messages" : "prompt", "the prompt has no tokens");
    /* room for the prompt and at least one generated token */
    if (!rc && toks.n + 1 > (size_t)ac->n_ctx_slot) {
        rc = bad_request(e, chat ? "messages" : "prompt",
                         "the prompt has %zu tokens; the context of a slot holds %d (the prompt "
                         "and at least one generated token must fit; see -c and --parallel)",
                         toks.n, ac->n_ctx_slot);
        e->code = "context_length_exceeded";
    }
    if (rc) {
        bn_tokens_free(&toks);
        bn_api_req_free(r);
        return -1;
    }
    r->prompt = toks.ids;
    r->n_prompt = (int)toks.n;
    return 0;
}

void bn_api_req_free(bn_api_req *r)
{
    for (int i = 0; i < BN_GEN_MAX_STOP_STRS; i++)
        free(r->stop_buf[i]);
    free(r->prompt);
    memset(r, 0, sizeof *r);
}

/* ---- /tokenize and /detokenize ------------------------------------------------------- */

char *bn_api_tokenize(const bn_api_ctx *ac, const char *body, size_t len, bn_api_error *e)
{
    cJSON *root = parse_object(body, len, e);
    if (!root)
        return NULL;
    const cJSON *c = field(root, "content");
    int add_special = 0, parse_special = 1, with_pieces = 0;
    bn_tokens toks = {0};
    char *out = NULL;
    int rc = 0;
    if (!c || !cJSON_IsString(c))
        rc = bad_request(e, "content", "'content' must be a string");
    if (!rc)
        rc = check_str(c, "content", e);
    if (!rc)
        rc = get_bool(root, "add_special", &add_special, e) ||
             get_bool(root, "parse_special", &parse_special, e) ||
             get_bool(root, "with_pieces", &with_pieces, e);
    if (!rc)
        rc = tokenize(ac, c->valuestring,
                      (add_special ? BN_TOK_ADD_SPECIAL : 0) |
                          (parse_special ? BN_TOK_PARSE_SPECIAL : 0),
                      &toks, "content", e);
    cJSON_Delete(root);
    if (rc) {
        bn_tokens_free(&toks);
        return NULL;
    }
    const bn_tokenizer *tk = bn_model_tokenizer(ac->model);
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "tokens");
    for (size_t i = 0; a && i < toks.n; i++) {
        if (!with_pieces) {
            cJSON_AddItemToArray(a, cJSON_CreateNumber(toks.ids[i]));
            continue;
        }
        /* llama-server: the piece as a string when it is valid UTF-8, else its bytes */
        char buf[256];
        long pl = bn_tokenizer_piece(tk, toks.ids[i], BN_TOK_RENDER_SPECIAL, buf, sizeof buf);
        size_t l = pl < 0 ? 0 : (size_t)pl < sizeof buf ? (size_t)pl : sizeof buf;
        cJSON *it = cJSON_CreateObject();
        cJSON_AddNumberToObject(it, "id", toks.ids[i]);
        if (bn_api_utf8_ok(buf, l)) {
            char s[257];
            memcpy(s, buf, l);
            s[l] = 0;
            cJSON_AddStringToObject(it, "piece", s);
        } else {
            cJSON *bytes = cJSON_AddArrayToObject(it, "piece");
            for (size_t k = 0; k < l; k++)
                cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)buf[k]));
        }
        cJSON_AddItemToArray(a, it);
    }
    out = a ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    bn_tokens_free(&toks);
    if (!out)
        bn_api_fail(e, 500, "server_error", NULL, "out of memory");
    return out;
}

char *bn_api_detokenize(const bn_api_ctx *ac, const char *body, size_t len, bn_api_error *e)
{
    cJSON *root = parse_object(body, len, e);
    if (!root)
        return NULL;
    const cJSON *t = field(root, "tokens");
    bn_tokens toks = {0};
    int rc = 0;
    const bn_tokenizer *tk = bn_model_tokenizer(ac->model);
    if (!t || !cJSON_IsArray(t))
        rc = bad_request(e, "tokens", "'tokens' must be an array of token ids");
    else if (!tk)
        rc = bn_api_fail(e, 501, "not_supported_error", NULL, "the model has no tokenizer");
    if (!rc)
        rc = token_array(ac, t, "tokens", &toks, e);
    cJSON_Delete(root);
    char *text = NULL, *out = NULL;
    size_t tl = 0;
    if (!rc) {
        bn_error err;
        bn_error_clear(&err);
        if (bn_tokenizer_decode(tk, toks.ids, toks.n, 0, &text, &tl, &err))
            rc = bad_request(e, "tokens", "%s", err.msg);
    }
    bn_tokens_free(&toks);
    if (rc)
        return NULL;
    /* a token sequence may cut a character: the JSON string carries U+FFFD instead */
    char *clean = clean_utf8(text, tl);
    if (clean) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "content", clean);
        out = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
    }
    free(clean);
    free(text);
    if (!out)
        bn_api_fail(e, 500, "server_error", NULL, "out of memory");
    return out;
}
