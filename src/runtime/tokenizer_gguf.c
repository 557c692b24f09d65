/*
 * tokenizer_gguf.c - a tokenizer from GGUF metadata (FORMATS.md §5), with
 * llama.cpp's defaults for keys that are absent.
 */
#include <stdlib.h>
#include <string.h>

#include "bn/tokenizer.h"
#include "runtime/tokenizer_internal.h"
#include "runtime/unicode.h"

#define K "tokenizer.ggml."

/* A string array KV as pointer/length arrays (pointing into the mapping). */
static bn_status str_array(const bn_gguf *g, const char *key, const char ***strs, size_t **lens,
                           uint32_t *n, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_gguf_get_arr(g, key, BN_GGUF_STRING, &kv, err);
    if (st != BN_OK)
        return st;
    if (kv->arr_n > (1u << 24))
        return bn_error_set(err, BN_ELIMIT, "%s: %llu entries exceed the limit of %u", key,
                            (unsigned long long)kv->arr_n, 1u << 24);
    *n = (uint32_t)kv->arr_n;
    *strs = malloc(*n * sizeof **strs + 1);
    *lens = malloc(*n * sizeof **lens + 1);
    if (!*strs || !*lens)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", key);
    for (uint32_t i = 0; i < *n; i++) {
        bn_str s = bn_gguf_arr_str(g, kv, i);
        (*strs)[i] = s.ptr;
        (*lens)[i] = (size_t)s.len;
    }
    return BN_OK;
}

/* Optional per-token array of elem_type: *out NULL when absent; one entry per
 * token when present. */
static bn_status opt_array(const bn_gguf *g, const char *key, bn_gguf_vtype elem_type, uint32_t n,
                           const bn_gguf_kv **out, bn_error *err)
{
    *out = NULL;
    if (!bn_gguf_find_kv(g, key))
        return BN_OK;
    bn_status st = bn_gguf_get_arr(g, key, elem_type, out, err);
    if (st == BN_OK && (*out)->arr_n != n)
        st = bn_error_set(err, BN_EINVAL, "%s: %llu entries for %u tokens", key,
                          (unsigned long long)(*out)->arr_n, n);
    return st;
}

/* Optional integer id: absent keeps *out; any integer type is accepted. */
static bn_status opt_id(const bn_gguf *g, const char *key, int32_t *out, bn_error *err)
{
    const bn_gguf_kv *kv = bn_gguf_find_kv(g, key);
    if (!kv)
        return BN_OK;
    int64_t v;
    if (bn_gguf_kv_as_i64(kv, &v) != 0)
        return bn_error_set(err, BN_ETYPE, "%s: expected an integer, found %s", key,
                            bn_gguf_vtype_name(kv->type));
    if (v < -1 || v > INT32_MAX)
        return bn_error_set(err, BN_EINVAL, "%s: id %lld is out of range", key, (long long)v);
    *out = (int32_t)v;
    return BN_OK;
}

/* Every other special id (eot, eom, sep, cls, mask, the fim_* ids, ...): an
 * integer naming a token of the vocabulary (-1: none), like bos and eos. The
 * runtime does not use them all, but a file that holds a wrong one is wrong. */
static bn_status check_other_ids(const bn_gguf *g, uint32_t n, bn_error *err)
{
    static const char suffix[] = "_token_id";
    static const char *const known[] = {K "bos_token_id", K "eos_token_id", K "unknown_token_id",
                                        K "padding_token_id"}; /* read and checked by the loader */
    const size_t ls = sizeof suffix - 1, lk = sizeof K - 1;
    for (int64_t i = 0; i < bn_gguf_n_kv(g); i++) {
        const bn_gguf_kv *kv = bn_gguf_kv_at(g, i);
        size_t len = strlen(kv->key);
        if (len <= lk + ls || memcmp(kv->key, K, lk) != 0 || strcmp(kv->key + len - ls, suffix) != 0)
            continue;
        int is_known = 0;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++)
            is_known |= !strcmp(kv->key, known[k]);
        if (is_known)
            continue;
        int64_t v;
        if (kv->type == BN_GGUF_BOOL || bn_gguf_kv_as_i64(kv, &v) != 0)
            return bn_error_set(err, BN_ETYPE, "key '%s' has type %s, expected an integer token id",
                                kv->key, bn_gguf_vtype_name(kv->type));
        if (v != -1 && (v < 0 || v >= (int64_t)n))
            return bn_error_set(err, BN_EINVAL, "key '%s' = %lld is out of range for %u tokens",
                                kv->key, (long long)v, n);
    }
    return BN_OK;
}

/* A byte-level BPE vocabulary spells every text with its 256 byte tokens; one
 * missing loses that byte of any text holding it. The encoder refuses such text
 * (never drops it); bn-verify --check reports the file with this message. */
bn_status bn_tokenizer_check_bytes(const bn_tokenizer *t, bn_error *err)
{
    if (t->model != BN_TOKMODEL_BPE)
        return BN_OK;
    for (int b = 0; b < 256; b++)
        if (t->byte_tok[b] < 0) {
            char ch[4];
            size_t l = bnr_utf8_encode(bnr_gpt2_byte_cp((unsigned char)b), ch);
            return bn_error_set(err, BN_EINVAL, K "tokens: the byte-level vocabulary has no token "
                                "for byte 0x%02X ('%.*s'); text holding that byte cannot be "
                                "encoded", b, (int)l, ch);
        }
    return BN_OK;
}

static bn_status opt_bool(const bn_gguf *g, const char *key, int *out, bn_error *err)
{
    if (!bn_gguf_find_kv(g, key))
        return BN_OK;
    return bn_gguf_get_bool(g, key, out, err);
}

bn_status bn_tokenizer_from_gguf(const bn_gguf *g, bn_tokenizer **out, bn_error *err)
{
    *out = NULL;
    bn_vocab_desc d;
    bn_vocab_desc_init(&d);
    bn_str model, pre = {"default", 7};
    bn_status st = bn_gguf_get_str(g, K "model", &model, err);
    if (st != BN_OK)
        return st;
    if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) {
        d.model = BN_TOKMODEL_SPM;
        d.bos_id = 1; /* llama.cpp's defaults for SentencePiece vocabularies */
        d.eos_id = 2;
        d.unk_id = 0;
        d.add_bos = 1;
        d.add_space_prefix = 1;
    } else if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) {
        d.model = BN_TOKMODEL_BPE;
        d.strict_bytes = 1; /* a file's vocabulary never drops text */
        d.add_space_prefix = 0;
    } else {
        return bn_error_set(err, BN_EUNSUPPORTED,
                            K "model '%.*s' is not supported (only 'llama' and 'gpt2')",
                            (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    if (bn_gguf_find_kv(g, K "pre") && (st = bn_gguf_get_str(g, K "pre", &pre, err)) != BN_OK)
        return st;
    if (d.model == BN_TOKMODEL_BPE) {
        char name[64];
        int ok = pre.len < sizeof name && !memchr(pre.ptr, '\0', (size_t)pre.len);
        if (ok) {
            memcpy(name, pre.ptr, (size_t)pre.len);
            name[pre.len] = '\0';
            ok = bn_tok_pre_from_name(name, &d.pre) == 0;
        }
        if (!ok)
            return bn_error_set(err, BN_EUNSUPPORTED, K "pre '%.*s' is not a pre-tokenizer we implement",
                                (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
        d.add_bos = d.pre == BN_TOKPRE_LLAMA3; /* as llama.cpp for Llama-3 vocabularies */
    }

    const char **tokens = NULL, **merges = NULL;
    size_t *tok_lens = NULL, *merge_lens = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    uint32_t n = 0;
    if ((st = str_array(g, K "tokens", &tokens, &tok_lens, &n, err)) != BN_OK)
        goto done;
    d.n_tokens = n;
    d.tokens = tokens;
    d.token_lens = tok_lens;
    const bn_gguf_kv *kv;
    if ((st = opt_array(g, K "scores", BN_GGUF_F32, n, &kv, err)) != BN_OK)
        goto done;
    if (kv) {
        scores = malloc(n * sizeof *scores + 1);
        if (!scores) {
            st = bn_error_set(err, BN_ENOMEM, K "scores: out of memory");
            goto done;
        }
        for (uint32_t i = 0; i < n; i++)
            scores[i] = (float)bn_gguf_arr_f64(kv, i);
        d.scores = scores;
    }
    if ((st = opt_array(g, K "token_type", BN_GGUF_I32, n, &kv, err)) != BN_OK)
        goto done;
    if (kv) {
        types = malloc(n * sizeof *types + 1);
        if (!types) {
            st = bn_error_set(err, BN_ENOMEM, K "token_type: out of memory");
            goto done;
        }
        for (uint32_t i = 0; i < n; i++) {
            int64_t v = bn_gguf_arr_i64(kv, i);
            if (v < BN_TOKTYPE_NORMAL || v > BN_TOKTYPE_BYTE) {
                st = bn_error_set(err, BN_EINVAL, K "token_type[%u] = %lld is not in 1..6", i,
                                  (long long)v);
                goto done;
            }
            types[i] = (int32_t)v;
        }
        d.types = types;
    }
    if (d.model == BN_TOKMODEL_BPE) {
        if ((st = str_array(g, K "merges", &merges, &merge_lens, &d.n_merges, err)) != BN_OK)
            goto done;
        d.merges = merges;
        d.merge_lens = merge_lens;
    }
    if ((st = opt_id(g, K "bos_token_id", &d.bos_id, err)) != BN_OK ||
        (st = opt_id(g, K "eos_token_id", &d.eos_id, err)) != BN_OK ||
        (st = opt_id(g, K "unknown_token_id", &d.unk_id, err)) != BN_OK ||
        (st = opt_id(g, K "padding_token_id", &d.pad_id, err)) != BN_OK ||
        (st = opt_bool(g, K "add_bos_token", &d.add_bos, err)) != BN_OK ||
        (st = opt_bool(g, K "add_eos_token", &d.add_eos, err)) != BN_OK ||
        (st = opt_bool(g, K "add_space_prefix", &d.add_space_prefix, err)) != BN_OK)
        goto done;
    /* A default id that the vocabulary cannot hold is simply absent. */
    if (d.bos_id >= (int32_t)n && !bn_gguf_find_kv(g, K "bos_token_id"))
        d.bos_id = -1;
    if (d.eos_id >= (int32_t)n && !bn_gguf_find_kv(g, K "eos_token_id"))
        d.eos_id = -1;
    if (d.unk_id >= (int32_t)n && !bn_gguf_find_kv(g, K "unknown_token_id"))
        d.unk_id = -1;
    if ((st = bn_tokenizer_create(&d, out, err)) == BN_OK && (st = check_other_ids(g, n, err)) != BN_OK) {
        bn_tokenizer_free(*out);
        *out = NULL;
    }
done:
    free(tokens);
    free(tok_lens);
    free(merges);
    free(merge_lens);
    free(scores);
    free(types);
    return st;
}
