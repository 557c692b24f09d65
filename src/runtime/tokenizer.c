/*
 * tokenizer.c - building a tokenizer: the token and merge hash tables, the
 * special-token list and the SPM character-pair set, validated from a
 * bn_vocab_desc. Encoding: tokenizer_encode.c; decoding and streaming:
 * tokenizer_decode.c; pre-tokenizers: tokenizer_pre.c; GGUF: tokenizer_gguf.c.
 */
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "runtime/tokenizer_internal.h"
#include "runtime/unicode.h"

#define MAX_TOKENS (1u << 24)        /* vocabularies beyond 16M tokens are refused */

/* ---- hashing -------------------------------------------------------------- */

uint64_t bnr_tok_hash(const char *s, size_t n)
{
    /* FNV-1a, then a final avalanche so the low bits used for slots mix well. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static size_t table_size(size_t n)
{
    size_t s = 16;
    while (s < n * 2)
        s <<= 1;
    return s;
}

int32_t bn_tokenizer_find(const bn_tokenizer *t, const char *text, size_t len)
{
    return (int32_t)bnu_strset_find(&t->tok_ids, text, len);
}

const bn_merge_slot *bnr_tok_merge_find(const bn_tokenizer *t, int32_t l, int32_t r)
{
    if (t->merge_mask == 0 || l < 0 || r < 0)
        return NULL;
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    size_t i = hash_u64(key) & t->merge_mask;
    for (;;) {
        const bn_merge_slot *s = &t->merge_slots[i];
        if (s->rank == UINT32_MAX)
            return NULL;
        if (s->key == key)
            return s;
        i = (i + 1) & t->merge_mask;
    }
}

/* ---- construction ----------------------------------------------------------- */

void bn_vocab_desc_init(bn_vocab_desc *d)
{
    memset(d, 0, sizeof *d);
    d->model = BN_TOKMODEL_SPM;
    d->pre = BN_TOKPRE_DEFAULT;
    d->bos_id = d->eos_id = d->unk_id = d->pad_id = -1;
    d->add_space_prefix = 1;
    d->ignore_merges = -1;
}

int bn_tok_pre_from_name(const char *name, bn_tok_pre *out)
{
    /* The names llama.cpp (llama-vocab.cpp) maps to these three regex sets. */
    static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3",
                                         "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                                         "jina-v5-nano", NULL};
    static const char *const gpt2[] = {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat",
                                       "jina-v2-es", "jina-v2-de", "jina-v2-code", "a.x-4.0",
                                       "mellum", "mpt", "olmo", "jais", "trillion",
                                       "granite-docling", NULL};
    if (name == NULL || name[0] == '\0' || strcmp(name, "default") == 0) {
        *out = BN_TOKPRE_DEFAULT;
        return 0;
    }
    for (int i = 0; llama3[i]; i++)
        if (strcmp(name, llama3[i]) == 0) {
            *out = BN_TOKPRE_LLAMA3;
            return 0;
        }
    for (int i = 0; gpt2[i]; i++)
        if (strcmp(name, gpt2[i]) == 0) {
            *out = BN_TOKPRE_GPT2;
            return 0;
        }
    return -1;
}

void bn_tokenizer_free(bn_tokenizer *t)
{
    if (!t)
        return;
    free(t->blob);
    free(t->tok_off);
    free(t->tok_len);
    free(t->scores);
    free(t->types);
    bnu_strset_free(&t->tok_ids);
    free(t->merge_slots);
    free(t->special);
    free(t->spm_pairs);
    free(t);
}

static size_t desc_len(const char *const *s, const size_t *lens, uint32_t i)
{
    return lens ? lens[i] : strlen(s[i]);
}

static bn_status build_tokens(bn_tokenizer *t, const bn_vocab_desc *v, bn_error *err)
{
    size_t total = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        if (!v->tokens[i])
            return bn_error_set(err, BN_EINVAL, "token %u: missing text", i);
        size_t l = desc_len(v->tokens, v->token_lens, i);
        if (l > UINT32_MAX || bn_add_ovf_size(total, l + 1, &total))
            return bn_error_set(err, BN_ELIMIT, "token %u: text of %zu bytes is too long", i, l);
    }
    size_t n = v->n_tokens;
    t->blob = malloc(total ? total : 1);
    t->tok_off = malloc(n * sizeof *t->tok_off + 1);
    t->tok_len = malloc(n * sizeof *t->tok_len + 1);
    t->scores = malloc(n * sizeof *t->scores + 1);
    t->types = malloc(n * sizeof *t->types + 1);
    if (!t->blob || !t->tok_off || !t->tok_len || !t->scores || !t->types ||
        bnu_strset_init(&t->tok_ids, n))
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory for %zu tokens", n);
    size_t off = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        size_t l = desc_len(v->tokens, v->token_lens, i);
        memcpy(t->blob + off, v->tokens[i], l);
        t->blob[off + l] = '\0';
        t->tok_off[i] = off;
        t->tok_len[i] = (uint32_t)l;
        off += l + 1;
        float s = v->scores ? v->scores[i] : 0.0f;
        if (s != s)
            return bn_error_set(err, BN_EINVAL, "token %u: score is NaN", i);
        t->scores[i] = s;
        int32_t ty = v->types ? v->types[i] : BN_TOKTYPE_NORMAL;
        if (ty < BN_TOKTYPE_NORMAL || ty > BN_TOKTYPE_BYTE)
            return bn_error_set(err, BN_EINVAL, "token %u: token_type %d is not in 1..6", i, ty);
        t->types[i] = ty;
        /* Duplicate texts: the last id wins, as in llama.cpp's token_to_id. */
        if (bnu_strset_put(&t->tok_ids, t->blob + t->tok_off[i], l, i))
            return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory for %zu tokens", n);
    }
    return BN_OK;
}

static bn_status build_merges(bn_tokenizer *t, const bn_vocab_desc *v, bn_error *err)
{
    if (v->n_merges == 0)
        return BN_OK;
    size_t slots = table_size(v->n_merges);
    t->merge_slots = malloc(slots * sizeof *t->merge_slots);
    if (!t->merge_slots)
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory for %u merges", v->n_merges);
    for (size_t i = 0; i < slots; i++)
        t->merge_slots[i].rank = UINT32_MAX;
    t->merge_mask = slots - 1;
    t->n_merges = v->n_merges;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    bn_status st = BN_OK;
    for (uint32_t m = 0; m < v->n_merges && st == BN_OK; m++) {
        if (!v->merges[m]) {
            st = bn_error_set(err, BN_EINVAL, "merge %u: missing text", m);
            break;
        }
        const char *s = v->merges[m];
        size_t l = desc_len(v->merges, v->merge_lens, m);
        /* "left right": split at the first space after the first byte. */
        const char *sp = l > 1 ? memchr(s + 1, ' ', l - 1) : NULL;
        if (!sp) {
            st = bn_error_set(err, BN_EINVAL, "merge %u '%.*s': no space separating two tokens", m,
                              (int)(l > 64 ? 64 : l), s);
            break;
        }
        size_t ll = (size_t)(sp - s), rl = l - ll - 1;
        int32_t li = bn_tokenizer_find(t, s, ll), ri = bn_tokenizer_find(t, sp + 1, rl);
        if (tmp_cap < ll + rl + 1) {
            free(tmp);
            tmp_cap = (ll + rl + 1) * 2;
            tmp = malloc(tmp_cap);
            if (!tmp) {
                st = bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
                break;
            }
        }
        memcpy(tmp, s, ll);
        memcpy(tmp + ll, sp + 1, rl);
        int32_t res = bn_tokenizer_find(t, tmp, ll + rl);
        if (li < 0 || ri < 0 || res < 0) {
            st = bn_error_set(err, BN_EINVAL, "merge %u '%.*s': %s is not a token", m,
                              (int)(l > 64 ? 64 : l), s,
                              li < 0 ? "the left part" : ri < 0 ? "the right part" : "the result");
            break;
        }
        uint64_t key = (uint64_t)(uint32_t)li << 32 | (uint32_t)ri;
        size_t h = hash_u64(key) & t->merge_mask;
        while (t->merge_slots[h].rank != UINT32_MAX && t->merge_slots[h].key != key)
            h = (h + 1) & t->merge_mask;
        if (t->merge_slots[h].rank == UINT32_MAX) { /* a repeated pair keeps its first rank */
            t->merge_slots[h].key = key;
            t->merge_slots[h].rank = m;
            t->merge_slots[h].result = res;
        }
    }
    free(tmp);
    return st;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bn_status build_specials(bn_tokenizer *t, bn_error *err)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->n_tokens; i++) {
        int ty = t->types[i];
        if ((ty == BN_TOKTYPE_CONTROL || ty == BN_TOKTYPE_UNKNOWN || ty == BN_TOKTYPE_USER_DEFINED) &&
            t->tok_len[i] > 0)
            n++;
    }
    t->special = malloc(n * sizeof *t->special + 1);
    if (!t->special)
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    n = 0;
    for (uint32_t i = 0; i < t->n_tokens; i++) {
        int ty = t->types[i];
        if ((ty == BN_TOKTYPE_CONTROL || ty == BN_TOKTYPE_UNKNOWN || ty == BN_TOKTYPE_USER_DEFINED) &&
            t->tok_len[i] > 0)
            t->special[n++] = (int32_t)i;
    }
    t->n_special = n;
    /* Longest first (llama.cpp tries special tokens in that order), then by
     * id: sort (inverted length, id) packed into one 64-bit key. */
    uint64_t *keys = malloc(n * sizeof *keys + 1);
    if (!keys)
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n; i++)
        keys[i] = (uint64_t)(UINT32_MAX - t->tok_len[t->special[i]]) << 32 | (uint32_t)t->special[i];
    qsort(keys, n, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < n; i++)
        t->special[i] = (int32_t)(uint32_t)keys[i];
    free(keys);
    return BN_OK;
}

/* Length of the SPM character at s[0, n): a UTF-8 sequence, or one byte when
 * the bytes are not valid UTF-8. llama.cpp splits by the lead byte alone,
 * which is the same on valid text but swallows the bytes after an invalid
 * lead (even part of a U+2581), so invalid input would not round-trip. */
uint32_t bnr_tok_spm_char_len(const char *s, size_t n)
{
    uint32_t cp;
    return (uint32_t)bnr_utf8_decode((const unsigned char *)s, n, &cp);
}

/* An SPM character (1..4 bytes, as split by bnr_tok_spm_char_len) packed into
 * 32 bits; distinct characters get distinct values because a multi-byte
 * character's first byte is non-zero. */
static uint32_t pack_char(const char *s, uint32_t n)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < n; i++)
        v = v << 8 | (unsigned char)s[i];
    return v;
}

uint64_t bnr_tok_pair_key(const char *a, uint32_t na, const char *b, uint32_t nb)
{
    /* +1 keeps the key non-zero (0 marks an empty slot). */
    return ((uint64_t)pack_char(a, na) << 32 | pack_char(b, nb)) + 1;
}

/* Insert into the open-addressing set, doubling it when half full: memory
 * follows the distinct pairs, not the vocabulary's total length (a config
 * that pads a tiny vocabulary to millions of "[PADn]" tokens has ~100). */
static bn_status pairs_insert(bn_tokenizer *t, uint64_t key, bn_error *err)
{
    if ((t->spm_pairs_n + 1) * 2 > t->spm_pairs_mask + 1) {
        size_t slots = (t->spm_pairs_mask + 1) * 2;
        uint64_t *nt = calloc(slots, sizeof *nt);
        if (!nt)
            return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
        for (size_t k = 0; k <= t->spm_pairs_mask; k++) {
            uint64_t v = t->spm_pairs[k];
            if (!v)
                continue;
            size_t i = hash_u64(v) & (slots - 1);
            while (nt[i] != 0)
                i = (i + 1) & (slots - 1);
            nt[i] = v;
        }
        free(t->spm_pairs);
        t->spm_pairs = nt;
        t->spm_pairs_mask = slots - 1;
    }
    size_t i = hash_u64(key) & t->spm_pairs_mask;
    while (t->spm_pairs[i] != 0 && t->spm_pairs[i] != key)
        i = (i + 1) & t->spm_pairs_mask;
    if (t->spm_pairs[i] == 0) {
        t->spm_pairs[i] = key;
        t->spm_pairs_n++;
    }
    return BN_OK;
}

int bnr_tok_spm_pair_possible(const bn_tokenizer *t, uint64_t key)
{
    size_t i = hash_u64(key) & t->spm_pairs_mask;
    for (;; i = (i + 1) & t->spm_pairs_mask) {
        if (t->spm_pairs[i] == key)
            return 1;
        if (t->spm_pairs[i] == 0)
            return 0;
    }
}

/* SPM merges are local: a merge across the boundary between two characters
 * can only happen if some token holds those two characters side by side. The
 * set of such pairs lets the encoder cut long texts into independent
 * segments (the result is the same; the merge queues stay small). */
static bn_status build_spm_pairs(bn_tokenizer *t, bn_error *err)
{
    size_t slots = 1024;
    t->spm_pairs = calloc(slots, sizeof *t->spm_pairs);
    if (!t->spm_pairs)
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    t->spm_pairs_mask = slots - 1;
    t->spm_pairs_n = 0;
    for (uint32_t i = 0; i < t->n_tokens; i++) {
        const char *s = t->blob + t->tok_off[i];
        uint32_t n = t->tok_len[i], off = 0, prev_off = 0, prev_len = 0;
        while (off < n) {
            uint32_t l = bnr_tok_spm_char_len(s + off, n - off);
            bn_status st;
            if (prev_len &&
                (st = pairs_insert(t, bnr_tok_pair_key(s + prev_off, prev_len, s + off, l), err)))
                return st;
            prev_off = off;
            prev_len = l;
            off += l;
        }
    }
    return BN_OK;
}

static bn_status check_special_id(const bn_tokenizer *t, const char *name, int32_t id, bn_error *err)
{
    if (id < -1 || (id >= 0 && (uint32_t)id >= t->n_tokens))
        return bn_error_set(err, BN_EINVAL, "%s %d is out of range for %u tokens", name, id,
                            t->n_tokens);
    return BN_OK;
}

bn_status bn_tokenizer_create(const bn_vocab_desc *v, bn_tokenizer **out, bn_error *err)
{
    *out = NULL;
    if (v->model != BN_TOKMODEL_SPM && v->model != BN_TOKMODEL_BPE)
        return bn_error_set(err, BN_EUNSUPPORTED, "tokenizer model %d is not SPM or BPE", (int)v->model);
    if (v->n_tokens == 0 || !v->tokens)
        return bn_error_set(err, BN_EINVAL, "tokenizer: the vocabulary has no tokens");
    if (v->n_tokens > MAX_TOKENS)
        return bn_error_set(err, BN_ELIMIT, "tokenizer: %u tokens exceed the limit of %u",
                            v->n_tokens, MAX_TOKENS);
    if (v->n_merges && !v->merges)
        return bn_error_set(err, BN_EINVAL, "tokenizer: %u merges announced but none given", v->n_merges);
    if (v->pre != BN_TOKPRE_DEFAULT && v->pre != BN_TOKPRE_LLAMA3 && v->pre != BN_TOKPRE_GPT2)
        return bn_error_set(err, BN_EUNSUPPORTED, "tokenizer: pre-tokenizer %d is unknown", (int)v->pre);
    bn_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    t->model = v->model;
    t->pre = v->pre;
    t->n_tokens = v->n_tokens;
    t->bos = v->bos_id;
    t->eos = v->eos_id;
    t->unk = v->unk_id;
    t->pad = v->pad_id;
    t->add_bos = v->add_bos != 0;
    t->add_eos = v->add_eos != 0;
    t->add_space_prefix = v->add_space_prefix != 0;
    t->strict_bytes = v->strict_bytes != 0;
    t->ignore_merges = v->ignore_merges >= 0 ? v->ignore_merges != 0
                                             : (v->model == BN_TOKMODEL_BPE && v->pre == BN_TOKPRE_LLAMA3);
    bn_status st = build_tokens(t, v, err);
    if (st == BN_OK && v->model == BN_TOKMODEL_BPE)
        st = build_merges(t, v, err);
    if (st == BN_OK)
        st = build_specials(t, err);
    if (st == BN_OK && v->model == BN_TOKMODEL_SPM)
        st = build_spm_pairs(t, err);
    if (st == BN_OK)
        st = check_special_id(t, "bos_token_id", t->bos, err);
    if (st == BN_OK)
        st = check_special_id(t, "eos_token_id", t->eos, err);
    if (st == BN_OK)
        st = check_special_id(t, "unknown_token_id", t->unk, err);
    if (st == BN_OK)
        st = check_special_id(t, "padding_token_id", t->pad, err);
    if (st != BN_OK) {
        bn_tokenizer_free(t);
        return st;
    }
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int32_t id;
        if (t->model == BN_TOKMODEL_SPM) {
            static const char hex[] = "0123456789ABCDEF";
            char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            id = bn_tokenizer_find(t, name, 6);
            if (id < 0) {
                buf[0] = (char)b;
                id = bn_tokenizer_find(t, buf, 1);
            }
        } else {
            size_t l = bnr_utf8_encode(bnr_gpt2_byte_cp((unsigned char)b), buf);
            id = bn_tokenizer_find(t, buf, l);
        }
        t->byte_tok[b] = id;
    }
    *out = t;
    return BN_OK;
}

bn_tok_model bn_tokenizer_model(const bn_tokenizer *t) { return t->model; }
bn_tok_pre bn_tokenizer_pre(const bn_tokenizer *t) { return t->pre; }
uint32_t bn_tokenizer_n_tokens(const bn_tokenizer *t) { return t->n_tokens; }
int32_t bn_tokenizer_bos(const bn_tokenizer *t) { return t->bos; }
int32_t bn_tokenizer_eos(const bn_tokenizer *t) { return t->eos; }
int bn_tokenizer_add_bos(const bn_tokenizer *t) { return t->add_bos; }
int bn_tokenizer_add_eos(const bn_tokenizer *t) { return t->add_eos; }

const char *bn_tokenizer_text(const bn_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n_tokens)
        return NULL;
    if (len)
        *len = t->tok_len[id];
    return t->blob + t->tok_off[id];
}

bn_tok_type bn_tokenizer_type(const bn_tokenizer *t, int32_t id)
{
    if (id < 0 || (uint32_t)id >= t->n_tokens)
        return (bn_tok_type)0;
    return (bn_tok_type)t->types[id];
}
