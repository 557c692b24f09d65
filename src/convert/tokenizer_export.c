/*
 * tokenizer_export.c - an HF tokenizer directory to GGUF tokenizer KVs (see
 * bn/tokenizer_export.h): picks the source (tokenizer.json / tokenizer.model),
 * applies tokenizer_config.json, config.json and generation_config.json for
 * special tokens and flags, pads to the model's vocab_size, writes the KVs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/util.h"
#include "convert/spm_proto.h"
#include "convert/tok_internal.h"
#include "util/json_strict.h"

#define MAX_TOKENIZER_FILE ((size_t)512 << 20)
#define MAX_CONFIG_FILE ((size_t)64 << 20)

/* ---- token table ------------------------------------------------------------- */

bn_status bnc_tx_resize(bn_tokexport *t, uint32_t n, bn_error *err)
{
    if (n > BN_TX_MAX_TOKENS)
        return bn_error_set(err, BN_ELIMIT, "%u tokens exceed the limit of %u", n, BN_TX_MAX_TOKENS);
    if (n <= t->n)
        return BN_OK;
    char **tok = realloc(t->tok, n * sizeof *tok);
    if (tok)
        t->tok = tok;
    uint32_t *len = realloc(t->tok_len, n * sizeof *len);
    if (len)
        t->tok_len = len;
    float *score = realloc(t->score, n * sizeof *score);
    if (score)
        t->score = score;
    int32_t *type = realloc(t->type, n * sizeof *type);
    if (type)
        t->type = type;
    if (!tok || !len || !score || !type)
        return bn_error_set(err, BN_ENOMEM, "out of memory for %u tokens", n);
    for (uint32_t i = t->n; i < n; i++) {
        t->tok[i] = NULL;
        t->tok_len[i] = 0;
        t->score[i] = 0.0f;
        t->type[i] = TX_NORMAL;
    }
    t->n = n;
    return BN_OK;
}

bn_status bnc_tx_set(bn_tokexport *t, uint32_t id, const char *s, size_t len, int32_t type,
                    const char *src, bn_error *err)
{
    if (id >= t->n)
        return bn_error_set(err, BN_EINVAL, "%s: id %u is out of range for %u tokens", src, id, t->n);
    if (len > UINT32_MAX)
        return bn_error_set(err, BN_ELIMIT, "%s: token %u is too long", src, id);
    if (t->tok[id]) {
        if (t->tok_len[id] == len && memcmp(t->tok[id], s, len) == 0)
            return BN_OK;
        return bn_error_set(err, BN_EINVAL, "%s: id %u is both '%.40s' and '%.40s'", src, id,
                            t->tok[id], s);
    }
    char *c = malloc(len + 1);
    if (!c)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    memcpy(c, s, len);
    c[len] = '\0';
    t->tok[id] = c;
    t->tok_len[id] = (uint32_t)len;
    t->type[id] = type;
    return BN_OK;
}

bn_status bnc_tx_index(bn_tokexport *t, const char *src, bn_error *err)
{
    bnu_strset_free(&t->index);
    if (bnu_strset_init(&t->index, t->n))
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < t->n; i++) {
        if (!t->tok[i])
            return bn_error_set(err, BN_EINVAL, "%s: no token has id %u", src, i);
        int64_t j;
        int r = bnu_strset_add(&t->index, t->tok[i], t->tok_len[i], i, &j);
        if (r < 0)
            return bn_error_set(err, BN_ENOMEM, "out of memory");
        if (r > 0)
            return bn_error_set(err, BN_EINVAL, "%s: token '%.40s' appears twice (ids %u and %u)",
                                src, t->tok[i], (uint32_t)j, i);
    }
    return BN_OK;
}

int32_t bnc_tx_find(const bn_tokexport *t, const char *s, size_t len)
{
    return (int32_t)bnu_strset_find(&t->index, s, len);
}

static int starts_ends(const char *s, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return n >= la + lb && memcmp(s, a, la) == 0 && memcmp(s + n - lb, b, lb) == 0;
}

int bnc_tx_looks_special(const char *s, size_t n)
{
    static const char *const names[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0)
            return 1;
    return starts_ends(s, n, "<|", "|>") ||
           starts_ends(s, n, "<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || /* fullwidth bars */
           starts_ends(s, n, "<unused", ">");
}

/* ---- lifecycle and views ---------------------------------------------------------- */

void bn_tokexport_free(bn_tokexport *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->n; i++)
        free(t->tok[i]);
    for (uint32_t i = 0; i < t->n_merges; i++)
        free(t->merge[i]);
    free(t->tok);
    free(t->tok_len);
    free(t->score);
    free(t->type);
    free(t->merge);
    free(t->chat_template);
    bnu_strset_free(&t->index);
    free(t);
}

uint32_t bn_tokexport_vocab_size(const bn_tokexport *t) { return t->n; }
const char *bn_tokexport_model(const bn_tokexport *t) { return t->spm ? "llama" : "gpt2"; }
const char *bn_tokexport_pre(const bn_tokexport *t) { return t->spm ? NULL : t->pre; }

void bn_tokexport_rename_llama3_pre(bn_tokexport *t, const char *pre)
{
    if (!t->spm && t->pre && strcmp(t->pre, "llama-bpe") == 0)
        t->pre = pre;
}
uint32_t bn_tokexport_n_merges(const bn_tokexport *t) { return t->n_merges; }

const char *bn_tokexport_token(const bn_tokexport *t, uint32_t id, size_t *len)
{
    if (id >= t->n)
        return NULL;
    if (len)
        *len = t->tok_len[id];
    return t->tok[id];
}

float bn_tokexport_score(const bn_tokexport *t, uint32_t id) { return id < t->n ? t->score[id] : 0.0f; }
int32_t bn_tokexport_type(const bn_tokexport *t, uint32_t id) { return id < t->n ? t->type[id] : 0; }

int32_t bn_tokexport_special(const bn_tokexport *t, char which)
{
    switch (which) {
    case 'b': return t->bos;
    case 'e': return t->eos;
    case 'u': return t->unk;
    case 'p': return t->pad;
    default: return -1;
    }
}

/* ---- files ------------------------------------------------------------------------ */

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

/* Parse dir/name as JSON into *out; *out stays NULL when the file is absent. */
static bn_status read_json(const char *dir, const char *name, size_t max, cJSON **out, bn_error *err)
{
    *out = NULL;
    char *path = join(dir, name);
    if (!path)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    if (access(path, F_OK) != 0) {
        free(path);
        return BN_OK;
    }
    char *text = NULL;
    size_t len;
    bn_status st = bn_read_file(path, max, &text, &len, err);
    if (st == BN_OK && !strcmp(name, "tokenizer.json")) {
        /* the vocabulary's own checks name a duplicate token as a token */
        const char *end = NULL;
        *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
        if (!*out) {
            size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
            st = bn_error_set(err, BN_EINVAL, "%s: not valid JSON (near byte %zu)", path, at);
        }
    } else if (st == BN_OK) {
        st = bnu_json_parse_strict(path, text, len, out, err); /* configs: duplicate keys refused */
    }
    if (st == BN_OK && !cJSON_IsObject(*out)) {
        st = bn_error_set(err, BN_EINVAL, "%s: the top level is not a JSON object", path);
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(text);
    free(path);
    return st;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

/* ---- sources ------------------------------------------------------------------------ */

static bn_status from_spm_model(bn_tokexport *t, const char *dir, bn_error *err)
{
    char *path = join(dir, "tokenizer.model");
    if (!path)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    bn_mapped_file mf;
    bn_status st = bn_map_file(path, &mf, err);
    if (st != BN_OK) {
        free(path);
        return st;
    }
    bn_spm_model m;
    st = bnc_spm_parse(mf.data, mf.size, path, &m, err);
    if (st == BN_OK && m.model_type != 2)
        st = bn_error_set(err, BN_EUNSUPPORTED, "%s: SentencePiece model_type %d is not BPE (2); only "
                          "BPE vocabularies convert to the 'llama' tokenizer", path, m.model_type);
    if (st == BN_OK)
        st = bnc_tx_resize(t, m.n_pieces, err);
    for (uint32_t i = 0; st == BN_OK && i < m.n_pieces; i++) {
        st = bnc_tx_set(t, i, m.pieces[i].text, m.pieces[i].len, m.pieces[i].type, path, err);
        t->score[i] = m.pieces[i].score;
    }
    if (st == BN_OK)
        st = bnc_tx_index(t, path, err);
    if (st == BN_OK) {
        t->spm = 1;
        t->add_space_prefix = m.add_dummy_prefix;
        /* The trainer's ids, unless a config names the tokens later. */
        int32_t ids[4] = {m.unk_id, m.bos_id, m.eos_id, m.pad_id};
        int32_t *dst[4] = {&t->unk, &t->bos, &t->eos, &t->pad};
        for (int k = 0; k < 4; k++)
            *dst[k] = ids[k] >= 0 && (uint32_t)ids[k] < t->n ? ids[k] : -1;
    }
    if (m.pieces)
        bnc_spm_free(&m);
    bn_unmap_file(&mf);
    free(path);
    return st;
}

/* tokenizer_config.json added_tokens_decoder: {"id": {"content", "special"}}. */
static bn_status apply_added_decoder(bn_tokexport *t, const cJSON *tc, const char *path, bn_error *err)
{
    const cJSON *dec = get(tc, "added_tokens_decoder"), *c;
    if (!dec)
        return BN_OK;
    if (!cJSON_IsObject(dec))
        return bn_error_set(err, BN_EINVAL, "%s: added_tokens_decoder is not an object", path);
    cJSON_ArrayForEach(c, dec)
    {
        char *end;
        unsigned long id = strtoul(c->string, &end, 10);
        const cJSON *content = get(c, "content");
        if (*c->string == '\0' || *end != '\0' || id >= BN_TX_MAX_TOKENS || !cJSON_IsString(content))
            return bn_error_set(err, BN_EINVAL, "%s: added_tokens_decoder['%.32s']: needs a numeric id "
                                "and a string content", path, c->string);
        if (id >= t->n)
            return bn_error_set(err, BN_EINVAL, "%s: added_tokens_decoder: id %lu is beyond the %u tokens "
                                "of the vocabulary", path, id, t->n);
        size_t l = strlen(content->valuestring);
        if (t->tok_len[id] != l || memcmp(t->tok[id], content->valuestring, l) != 0)
            return bn_error_set(err, BN_EINVAL, "%s: added_tokens_decoder: id %lu is '%.40s' but the "
                                "vocabulary has '%.40s'", path, id, content->valuestring, t->tok[id]);
        if (t->type[id] == TX_UNKNOWN || t->type[id] == TX_BYTE)
            continue;
        t->type[id] = cJSON_IsTrue(get(c, "special")) || bnc_tx_looks_special(t->tok[id], l)
                          ? TX_CONTROL : TX_USER;
    }
    return BN_OK;
}

/* A token named by tokenizer_config.json: "text" or {"content": "text"}. */
static int32_t config_token(const bn_tokexport *t, const cJSON *v)
{
    if (cJSON_IsObject(v))
        v = get(v, "content");
    if (!cJSON_IsString(v))
        return -1;
    return bnc_tx_find(t, v->valuestring, strlen(v->valuestring));
}

/* An id from config.json / generation_config.json: a number or a list (first). */
static bn_status config_id(const bn_tokexport *t, const cJSON *v, const char *path, const char *key,
                           int32_t *out, bn_error *err)
{
    if (!v || cJSON_IsNull(v))
        return BN_OK;
    if (cJSON_IsArray(v))
        v = cJSON_GetArrayItem(v, 0);
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!cJSON_IsNumber(v) || !isfinite(d) || d != floor(d)) /* no cast before the range */
        return bn_error_set(err, BN_EINVAL, "%s: %s is not an integer id", path, key);
    if (d < 0 || d >= t->n)
        return bn_error_set(err, BN_EINVAL, "%s: %s %.0f is out of range for %u tokens", path, key, d, t->n);
    if (*out < 0)
        *out = (int32_t)d;
    return BN_OK;
}

static bn_status apply_configs(bn_tokexport *t, const cJSON *tc, const cJSON *cc, const cJSON *gc,
                               const char *dir, bn_error *err)
{
    static const char *const names[4] = {"bos", "eos", "unk", "pad"};
    int32_t *dst[4] = {&t->bos, &t->eos, &t->unk, &t->pad};
    char key[32];
    /* tokenizer_config.json names the tokens: that wins over trainer ids. */
    for (int k = 0; k < 4 && tc; k++) {
        snprintf(key, sizeof key, "%s_token", names[k]);
        const cJSON *v = get(tc, key);
        if (!v || cJSON_IsNull(v))
            continue;
        int32_t id = config_token(t, v);
        if (id < 0)
            return bn_error_set(err, BN_EINVAL, "%s/tokenizer_config.json: %s names a token that is not "
                                "in the vocabulary", dir, key);
        *dst[k] = id;
    }
    const cJSON *cfgs[2] = {cc, gc};
    const char *cfg_names[2] = {"config.json", "generation_config.json"};
    for (int f = 0; f < 2; f++) {
        if (!cfgs[f])
            continue;
        for (int k = 0; k < 4; k++) {
            if (k == 2)
                continue; /* no unk_token_id in these files */
            snprintf(key, sizeof key, "%s_token_id", names[k]);
            bn_status st = config_id(t, get(cfgs[f], key), cfg_names[f], key, dst[k], err);
            if (st != BN_OK)
                return bn_error_prefix(err, "%s", dir);
        }
    }
    for (int k = 0; k < 2 && tc; k++) {
        snprintf(key, sizeof key, "add_%s_token", names[k]);
        const cJSON *v = get(tc, key);
        if (cJSON_IsBool(v))
            *(k == 0 ? &t->add_bos : &t->add_eos) = cJSON_IsTrue(v);
    }
    /* chat_template: a string, or a list of {name, template} (the "default" one). */
    const cJSON *ct = get(tc, "chat_template"), *c;
    const char *tmpl = NULL;
    if (cJSON_IsString(ct)) {
        tmpl = ct->valuestring;
    } else if (cJSON_IsArray(ct)) {
        cJSON_ArrayForEach(c, ct) if (cJSON_IsString(get(c, "name")) &&
                                      strcmp(get(c, "name")->valuestring, "default") == 0 &&
                                      cJSON_IsString(get(c, "template"))) tmpl =
            get(c, "template")->valuestring;
    }
    if (tmpl) {
        t->chat_template = strdup(tmpl);
        if (!t->chat_template)
            return bn_error_set(err, BN_ENOMEM, "out of memory");
    }
    return BN_OK;
}

/* config.json vocab_size > tokens: pad with unused [PADn] tokens. */
static bn_status pad_vocab(bn_tokexport *t, const cJSON *cc, const char *dir, bn_error *err)
{
    const cJSON *v = get(cc, "vocab_size");
    if (!v)
        return BN_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!cJSON_IsNumber(v) || !(d >= 1 && d <= BN_TX_MAX_TOKENS) || d != floor(d))
        return bn_error_set(err, BN_EINVAL, "%s/config.json: vocab_size is not an integer in [1, %u]",
                            dir, BN_TX_MAX_TOKENS);
    uint32_t want = (uint32_t)d;
    if (want < t->n)
        return bn_error_set(err, BN_EINVAL, "%s/config.json: vocab_size %u is smaller than the "
                            "tokenizer's %u tokens", dir, want, t->n);
    if (want - t->n > BN_TX_MAX_PAD(t->n))
        return bn_error_set(err, BN_EINVAL, "%s/config.json: vocab_size %u would pad the "
                            "tokenizer's %u tokens with %u unused ones (at most that many plus 1024)",
                            dir, want, t->n, want - t->n);
    uint32_t old = t->n;
    bn_status st = bnc_tx_resize(t, want, err);
    for (uint32_t i = old; st == BN_OK && i < want; i++) {
        char pad[32];
        int l = snprintf(pad, sizeof pad, "[PAD%u]", i);
        st = bnc_tx_set(t, i, pad, (size_t)l, TX_UNUSED, "padding", err);
    }
    if (st == BN_OK && want != old)
        st = bnc_tx_index(t, "config.json vocab_size padding", err);
    return st;
}

bn_status bn_tokexport_load(const char *hf_dir, bn_tokexport **out, bn_error *err)
{
    *out = NULL;
    bn_tokexport *t = calloc(1, sizeof *t);
    if (!t)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    t->bos = t->eos = t->unk = t->pad = -1;
    t->add_bos = t->add_eos = t->add_space_prefix = -1;
    t->pre = "default";
    cJSON *tj = NULL, *tc = NULL, *cc = NULL, *gc = NULL;
    char *tj_path = join(hf_dir, "tokenizer.json"), *tm_path = join(hf_dir, "tokenizer.model");
    bn_status st = tj_path && tm_path ? BN_OK : bn_error_set(err, BN_ENOMEM, "out of memory");
    if (st == BN_OK)
        st = read_json(hf_dir, "tokenizer.json", MAX_TOKENIZER_FILE, &tj, err);
    if (st == BN_OK)
        st = read_json(hf_dir, "tokenizer_config.json", MAX_CONFIG_FILE, &tc, err);
    if (st == BN_OK)
        st = read_json(hf_dir, "config.json", MAX_CONFIG_FILE, &cc, err);
    if (st == BN_OK)
        st = read_json(hf_dir, "generation_config.json", MAX_CONFIG_FILE, &gc, err);
    if (st == BN_OK) {
        int have_model = access(tm_path, F_OK) == 0;
        /* Byte-level tokenizer.json first; a SentencePiece tokenizer.model is
         * preferred over a SentencePiece-style tokenizer.json, as llama.cpp. */
        if (tj && !bnc_tx_json_is_spm(tj))
            st = bnc_tx_from_hf_json(t, tj, tj_path, 0, err);
        else if (have_model)
            st = from_spm_model(t, hf_dir, err);
        else if (tj)
            st = bnc_tx_from_hf_json(t, tj, tj_path, 1, err);
        else
            st = bn_error_set(err, BN_ENOTFOUND, "%s: neither tokenizer.json nor tokenizer.model", hf_dir);
    }
    if (st == BN_OK && tc) {
        st = apply_added_decoder(t, tc, "tokenizer_config.json", err);
        if (st != BN_OK)
            bn_error_prefix(err, "%s", hf_dir);
    }
    if (st == BN_OK)
        st = pad_vocab(t, cc, hf_dir, err);
    if (st == BN_OK)
        st = apply_configs(t, tc, cc, gc, hf_dir, err);
    cJSON_Delete(tj);
    cJSON_Delete(tc);
    cJSON_Delete(cc);
    cJSON_Delete(gc);
    free(tj_path);
    free(tm_path);
    if (st != BN_OK) {
        bn_tokexport_free(t);
        return st;
    }
    *out = t;
    return BN_OK;
}

/* ---- GGUF ------------------------------------------------------------------------- */

#define K "tokenizer.ggml."

bn_status bn_tokexport_write_kvs(const bn_tokexport *t, bn_gguf_writer *w, bn_error *err)
{
    bn_status st = bn_gguf_set_str(w, K "model", t->spm ? "llama" : "gpt2", err);
    if (st == BN_OK && !t->spm)
        st = bn_gguf_set_str(w, K "pre", t->pre, err);
    size_t *lens = malloc((size_t)t->n * sizeof *lens + 1);
    if (!lens)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < t->n; i++)
        lens[i] = t->tok_len[i];
    if (st == BN_OK)
        st = bn_gguf_set_arr_str(w, K "tokens", (const char *const *)t->tok, lens, t->n, err);
    free(lens);
    if (st == BN_OK && t->spm)
        st = bn_gguf_set_arr(w, K "scores", BN_GGUF_F32, t->score, t->n, err);
    if (st == BN_OK)
        st = bn_gguf_set_arr(w, K "token_type", BN_GGUF_I32, t->type, t->n, err);
    if (st == BN_OK && !t->spm)
        st = bn_gguf_set_arr_str(w, K "merges", (const char *const *)t->merge, NULL, t->n_merges, err);
    static const char *const id_keys[4] = {K "bos_token_id", K "eos_token_id", K "unknown_token_id",
                                           K "padding_token_id"};
    const int32_t ids[4] = {t->bos, t->eos, t->unk, t->pad};
    for (int k = 0; k < 4 && st == BN_OK; k++)
        if (ids[k] >= 0)
            st = bn_gguf_set_u32(w, id_keys[k], (uint32_t)ids[k], err);
    if (st == BN_OK && t->add_bos >= 0)
        st = bn_gguf_set_bool(w, K "add_bos_token", t->add_bos, err);
    if (st == BN_OK && t->add_eos >= 0)
        st = bn_gguf_set_bool(w, K "add_eos_token", t->add_eos, err);
    if (st == BN_OK && t->spm && t->add_space_prefix == 0)
        st = bn_gguf_set_bool(w, K "add_space_prefix", 0, err);
    if (st == BN_OK && t->chat_template)
        st = bn_gguf_set_str(w, "tokenizer.chat_template", t->chat_template, err);
    return st;
}
