/*
 * tok_hf_json.c - Hugging Face tokenizer.json (model type BPE) into the
 * export's vocabulary: byte-level BPE ("gpt2": tokens, types, merges, the
 * pre-tokenizer name) or SentencePiece-style BPE with byte_fallback ("llama":
 * tokens, types, scores derived from the merges), as convert_hf_to_gguf.py
 * does for Llama-3 and Llama-2 checkpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/tok_internal.h"

static const char LLAMA3_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
static const char GPT2_REGEX_TAIL[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int is_str(const cJSON *j, const char *s)
{
    return cJSON_IsString(j) && j->valuestring && strcmp(j->valuestring, s) == 0;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

/* An id: an integral JSON number in [0, BN_TX_MAX_TOKENS). */
static int json_id(const cJSON *j, uint32_t *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double d = j->valuedouble;
    if (!(d >= 0 && d < BN_TX_MAX_TOKENS) || d != (double)(uint32_t)d)
        return -1;
    *out = (uint32_t)d;
    return 0;
}

int bnc_tx_json_is_spm(const cJSON *root)
{
    const cJSON *m = get(root, "model");
    return is_str(get(m, "type"), "BPE") && cJSON_IsTrue(get(m, "byte_fallback"));
}

/* ---- pre-tokenizer name ------------------------------------------------------ */

typedef struct {
    const char *regex[4];
    int n_regex;
    int bytelevel_regex; /* a ByteLevel pre-tokenizer with use_regex (GPT-2's regex) */
} pre_scan;

static void scan_pre(const cJSON *p, pre_scan *s)
{
    if (!cJSON_IsObject(p))
        return;
    const cJSON *type = get(p, "type");
    if (is_str(type, "Sequence")) {
        const cJSON *c;
        cJSON_ArrayForEach(c, get(p, "pretokenizers")) scan_pre(c, s);
    } else if (is_str(type, "Split")) {
        const cJSON *re = get(get(p, "pattern"), "Regex");
        const cJSON *str = get(get(p, "pattern"), "String");
        const char *r = cJSON_IsString(re) ? re->valuestring
                      : cJSON_IsString(str) ? str->valuestring : "(missing pattern)";
        if (s->n_regex < 4)
            s->regex[s->n_regex] = r;
        s->n_regex++;
    } else if (is_str(type, "ByteLevel")) {
        const cJSON *u = get(p, "use_regex");
        if (!cJSON_IsFalse(u))
            s->bytelevel_regex = 1;
    }
}

static bn_status detect_pre(bn_tokexport *t, const cJSON *root, const char *path, bn_error *err)
{
    pre_scan s = {{0}, 0, 0};
    scan_pre(get(root, "pre_tokenizer"), &s);
    int n = s.n_regex + s.bytelevel_regex;
    if (n == 0) {
        t->pre = "default";
        return BN_OK;
    }
    if (n == 1 && s.bytelevel_regex) {
        t->pre = "gpt-2";
        return BN_OK;
    }
    if (n == 1 && strcmp(s.regex[0], LLAMA3_REGEX) == 0) {
        t->pre = "llama-bpe";
        return BN_OK;
    }
    if (n == 1 && (strcmp(s.regex[0], GPT2_REGEX) == 0 || strcmp(s.regex[0], GPT2_REGEX_TAIL) == 0)) {
        t->pre = "gpt-2";
        return BN_OK;
    }
    const char *r = s.n_regex ? s.regex[0] : "ByteLevel";
    return bn_error_set(err, BN_EUNSUPPORTED,
                        "%s: pre_tokenizer: %d regex split(s), first '%.120s': not a pre-tokenizer "
                        "we implement (llama-bpe, gpt-2)", path, n, r);
}

/* ---- vocabulary -------------------------------------------------------------- */

static bn_status load_vocab(bn_tokexport *t, const cJSON *root, const char *path, int spm,
                            bn_error *err)
{
    const cJSON *model = get(root, "model");
    const cJSON *vocab = get(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return bn_error_set(err, BN_EINVAL, "%s: model.vocab is missing or not an object", path);
    const cJSON *added = get(root, "added_tokens");
    if (added && !cJSON_IsArray(added))
        return bn_error_set(err, BN_EINVAL, "%s: added_tokens is not an array", path);
    /* Size: one past the largest id anywhere. */
    uint32_t n = 0, id;
    const cJSON *c;
    cJSON_ArrayForEach(c, vocab)
    {
        if (json_id(c, &id) != 0)
            return bn_error_set(err, BN_EINVAL, "%s: model.vocab['%.64s']: id is not an integer in [0, %u)",
                                path, c->string ? c->string : "", BN_TX_MAX_TOKENS);
        if (id + 1 > n)
            n = id + 1;
    }
    int k = 0;
    cJSON_ArrayForEach(c, added)
    {
        if (json_id(get(c, "id"), &id) != 0 || !cJSON_IsString(get(c, "content")))
            return bn_error_set(err, BN_EINVAL, "%s: added_tokens[%d]: needs an integer id in [0, %u) "
                                "and a string content", path, k, BN_TX_MAX_TOKENS);
        if (id + 1 > n)
            n = id + 1;
        k++;
    }
    if (n == 0)
        return bn_error_set(err, BN_EINVAL, "%s: model.vocab is empty", path);
    bn_status st = bnc_tx_resize(t, n, err);
    if (st != BN_OK)
        return st;
    const cJSON *unk = get(model, "unk_token");
    cJSON_ArrayForEach(c, vocab)
    {
        json_id(c, &id);
        const char *s = c->string;
        size_t l = strlen(s);
        int32_t ty = TX_NORMAL;
        if (spm && l == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' &&
            strchr("0123456789ABCDEFabcdef", s[3]) && strchr("0123456789ABCDEFabcdef", s[4]) &&
            s[3] && s[4])
            ty = TX_BYTE;
        if (spm && cJSON_IsString(unk) && strcmp(unk->valuestring, s) == 0)
            ty = TX_UNKNOWN;
        if (bnc_tx_set(t, id, s, l, ty, "model.vocab", err) != BN_OK)
            return bn_error_prefix(err, "%s", path);
    }
    cJSON_ArrayForEach(c, added)
    {
        json_id(get(c, "id"), &id);
        const char *s = get(c, "content")->valuestring;
        size_t l = strlen(s);
        int special = cJSON_IsTrue(get(c, "special"));
        int32_t ty = special || bnc_tx_looks_special(s, l) ? TX_CONTROL : TX_USER;
        if (spm && t->type && t->tok[id] && t->type[id] == TX_UNKNOWN)
            ty = TX_UNKNOWN; /* the SentencePiece <unk> stays unknown, as in tokenizer.model */
        if (bnc_tx_set(t, id, s, l, ty, "added_tokens", err) != BN_OK)
            return bn_error_prefix(err, "%s", path);
        t->type[id] = ty;
    }
    return BN_OK;
}

/* ---- merges -------------------------------------------------------------------- */

/* Append a merge "left right". Pair-form parts may hold spaces: those are
 * written as U+0120, as convert_hf_to_gguf.py does. */
static bn_status add_merge(bn_tokexport *t, uint32_t i, const char *l, const char *r, int pair,
                           const char *path, bn_error *err)
{
    size_t ll = strlen(l), rl = strlen(r), cap = 2 * (ll + rl) + 2;
    char *m = malloc(cap);
    if (!m)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    size_t o = 0;
    for (int side = 0; side < 2; side++) {
        const char *s = side ? r : l;
        for (; *s; s++) {
            if (pair && *s == ' ') {
                m[o++] = (char)0xC4; /* U+0120 */
                m[o++] = (char)0xA0;
            } else {
                m[o++] = *s;
            }
        }
        if (!side)
            m[o++] = ' ';
    }
    m[o] = '\0';
    t->merge[i] = m;
    return BN_OK;
}

/* Check that left, right and left+right are tokens; returns the result's id. */
static bn_status check_merge(const bn_tokexport *t, uint32_t i, const char *l, const char *r,
                             const char *path, int32_t *res, bn_error *err)
{
    size_t ll = strlen(l), rl = strlen(r);
    if (bnc_tx_find(t, l, ll) < 0 || bnc_tx_find(t, r, rl) < 0)
        return bn_error_set(err, BN_EINVAL, "%s: model.merges[%u] '%.40s' '%.40s': names an unknown token",
                            path, i, l, r);
    char *cat = malloc(ll + rl + 1);
    if (!cat)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    memcpy(cat, l, ll);
    memcpy(cat + ll, r, rl + 1);
    *res = bnc_tx_find(t, cat, ll + rl);
    free(cat);
    if (*res < 0)
        return bn_error_set(err, BN_EINVAL, "%s: model.merges[%u] '%.40s' '%.40s': the merged token is not "
                            "in the vocabulary", path, i, l, r);
    return BN_OK;
}

static bn_status load_merges(bn_tokexport *t, const cJSON *root, const char *path, int spm,
                             bn_error *err)
{
    const cJSON *merges = get(get(root, "model"), "merges");
    if (!merges)
        merges = NULL;
    else if (!cJSON_IsArray(merges))
        return bn_error_set(err, BN_EINVAL, "%s: model.merges is not an array", path);
    int n = cJSON_GetArraySize(merges);
    if (n < 0 || (uint32_t)n > 4 * BN_TX_MAX_TOKENS)
        return bn_error_set(err, BN_ELIMIT, "%s: %d merges exceed the limit", path, n);
    if (!spm && n > 0) {
        t->merge = calloc((size_t)n, sizeof *t->merge);
        if (!t->merge)
            return bn_error_set(err, BN_ENOMEM, "%s: out of memory for %d merges", path, n);
    }
    /* SPM scores: minus the rank of the first merge that yields each token. */
    if (spm)
        for (uint32_t i = 0; i < t->n; i++)
            t->score[i] = t->type[i] == TX_NORMAL ? -(float)n : 0.0f;
    uint32_t i = 0;
    const cJSON *c;
    char *buf = NULL;
    bn_status st = BN_OK;
    cJSON_ArrayForEach(c, merges)
    {
        const char *l, *r;
        int pair = 0;
        free(buf);
        buf = NULL;
        if (cJSON_IsString(c)) {
            const char *s = c->valuestring;
            const char *sp = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!sp) {
                st = bn_error_set(err, BN_EINVAL, "%s: model.merges[%u] '%.60s': not two tokens separated by a space",
                                  path, i, s);
                break;
            }
            buf = strdup(s);
            if (!buf) {
                st = bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf[sp - s] = '\0';
            l = buf;
            r = buf + (sp - s) + 1;
        } else if (cJSON_IsArray(c) && cJSON_GetArraySize(c) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(c, 0)) && cJSON_IsString(cJSON_GetArrayItem(c, 1))) {
            l = cJSON_GetArrayItem(c, 0)->valuestring;
            r = cJSON_GetArrayItem(c, 1)->valuestring;
            pair = 1;
        } else {
            st = bn_error_set(err, BN_EINVAL, "%s: model.merges[%u]: neither \"a b\" nor [\"a\", \"b\"]", path, i);
            break;
        }
        int32_t res = -1;
        if ((st = check_merge(t, i, l, r, path, &res, err)) != BN_OK)
            break;
        if (spm) {
            if (t->type[res] == TX_NORMAL && t->score[res] < -(float)i)
                t->score[res] = -(float)i;
        } else if ((st = add_merge(t, i, l, r, pair, path, err)) != BN_OK) {
            break;
        }
        i++;
    }
    free(buf);
    /* On failure too: merge[0, i) are allocated and the free routine walks
     * n_merges of them. */
    if (!spm)
        t->n_merges = i;
    return st;
}

/* ---- post-processor and normalizer flags ----------------------------------------- */

/* TemplateProcessing: BOS first / EOS last in the single-sequence template. */
static void scan_post(bn_tokexport *t, const cJSON *p)
{
    if (!cJSON_IsObject(p))
        return;
    const cJSON *type = get(p, "type");
    if (is_str(type, "Sequence")) {
        const cJSON *c;
        cJSON_ArrayForEach(c, get(p, "processors")) scan_post(t, c);
        return;
    }
    if (!is_str(type, "TemplateProcessing"))
        return;
    const cJSON *single = get(p, "single");
    int n = cJSON_GetArraySize(single);
    if (!cJSON_IsArray(single) || n == 0)
        return;
    const cJSON *first = get(cJSON_GetArrayItem(single, 0), "SpecialToken");
    const cJSON *last = get(cJSON_GetArrayItem(single, n - 1), "SpecialToken");
    t->add_bos = first != NULL;
    t->add_eos = last != NULL;
    /* The template names the tokens: use them when no config does. */
    const cJSON *fid = get(first, "id"), *lid = get(last, "id");
    if (t->bos < 0 && cJSON_IsString(fid))
        t->bos = bnc_tx_find(t, fid->valuestring, strlen(fid->valuestring));
    if (t->eos < 0 && cJSON_IsString(lid))
        t->eos = bnc_tx_find(t, lid->valuestring, strlen(lid->valuestring));
}

/* SentencePiece-style: a Prepend("▁") normalizer or a Metaspace pre-tokenizer
 * that prepends means add_space_prefix. */
static int has_prefix_space(const cJSON *root)
{
    const cJSON *norm = get(root, "normalizer"), *c;
    const cJSON *list = is_str(get(norm, "type"), "Sequence") ? get(norm, "normalizers") : NULL;
    if (list) {
        cJSON_ArrayForEach(c, list) if (is_str(get(c, "type"), "Prepend") &&
                                        is_str(get(c, "prepend"), "\xE2\x96\x81")) return 1;
    } else if (is_str(get(norm, "type"), "Prepend") && is_str(get(norm, "prepend"), "\xE2\x96\x81")) {
        return 1;
    }
    const cJSON *pre = get(root, "pre_tokenizer");
    if (is_str(get(pre, "type"), "Metaspace")) {
        const cJSON *scheme = get(pre, "prepend_scheme");
        if (scheme)
            return is_str(scheme, "always") || is_str(scheme, "first");
        return !cJSON_IsFalse(get(pre, "add_prefix_space"));
    }
    return 0;
}

bn_status bnc_tx_from_hf_json(bn_tokexport *t, const cJSON *root, const char *path, int spm_ok,
                             bn_error *err)
{
    const cJSON *model = get(root, "model");
    if (!cJSON_IsObject(model))
        return bn_error_set(err, BN_EINVAL, "%s: 'model' is missing or not an object", path);
    const cJSON *type = get(model, "type");
    if (!is_str(type, "BPE"))
        return bn_error_set(err, BN_EUNSUPPORTED, "%s: model.type '%.40s' is not supported (only BPE)",
                            path, cJSON_IsString(type) ? type->valuestring : "(missing)");
    int spm = bnc_tx_json_is_spm(root);
    if (spm && !spm_ok)
        return bn_error_set(err, BN_EINTERNAL, "%s: SentencePiece-style tokenizer.json not expected here", path);
    t->spm = spm;
    bn_status st = load_vocab(t, root, path, spm, err);
    if (st == BN_OK) {
        /* Unfilled ids below the largest are holes: padding tokens, as llama.cpp. */
        uint32_t holes = 0;
        for (uint32_t i = 0; i < t->n; i++)
            holes += !t->tok[i];
        if (holes > BN_TX_MAX_PAD(t->n - holes))
            return bn_error_set(err, BN_EINVAL,
                                "%s: the largest id %u leaves %u ids unused for %u tokens defined "
                                "(at most that many plus 1024 are padded)",
                                path, t->n - 1, holes, t->n - holes);
        for (uint32_t i = 0; i < t->n && st == BN_OK; i++)
            if (!t->tok[i]) {
                char pad[32];
                int l = snprintf(pad, sizeof pad, "[PAD%u]", i);
                st = bnc_tx_set(t, i, pad, (size_t)l, TX_UNUSED, "padding", err);
            }
    }
    if (st == BN_OK)
        st = bnc_tx_index(t, path, err);
    if (st == BN_OK)
        st = load_merges(t, root, path, spm, err);
    if (st == BN_OK && !spm)
        st = detect_pre(t, root, path, err);
    if (st != BN_OK)
        return st;
    if (spm)
        t->add_space_prefix = has_prefix_space(root);
    scan_post(t, get(root, "post_processor"));
    return BN_OK;
}
