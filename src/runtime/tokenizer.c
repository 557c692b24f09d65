/*
 * tokenizer.c - vocabulary tables and the two encoders (SentencePiece and
 * byte-level BPE), following llama.cpp's llm_tokenizer_spm / _bpe sessions so
 * that ids agree to the last one. Decoding and streaming: tokenizer_decode.c.
 */
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "runtime/tokenizer_internal.h"
#include "runtime/unicode.h"

#define MAX_TOKENS (1u << 24)        /* vocabularies beyond 16M tokens are refused */
#define MAX_TEXT ((size_t)1 << 31)   /* one encode call: 2 GiB of text */

/* ---- hashing -------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
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
    size_t i = hash_bytes(text, len) & t->tok_mask;
    for (;;) {
        uint32_t v = t->tok_slots[i];
        if (v == 0)
            return -1;
        uint32_t id = v - 1;
        if (t->tok_len[id] == len && memcmp(t->blob + t->tok_off[id], text, len) == 0)
            return (int32_t)id;
        i = (i + 1) & t->tok_mask;
    }
}

static const bn_merge_slot *merge_find(const bn_tokenizer *t, int32_t l, int32_t r)
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
                                         "falcon-h1", "pixtral", "midm-2.0", "lfm2", NULL};
    static const char *const gpt2[] = {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat",
                                       "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
                                       "mpt", "olmo", "jais", NULL};
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
    free(t->tok_slots);
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
    size_t n = v->n_tokens, slots = table_size(n);
    t->blob = malloc(total ? total : 1);
    t->tok_off = malloc(n * sizeof *t->tok_off + 1);
    t->tok_len = malloc(n * sizeof *t->tok_len + 1);
    t->scores = malloc(n * sizeof *t->scores + 1);
    t->types = malloc(n * sizeof *t->types + 1);
    t->tok_slots = calloc(slots, sizeof *t->tok_slots);
    if (!t->blob || !t->tok_off || !t->tok_len || !t->scores || !t->types || !t->tok_slots)
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory for %zu tokens", n);
    t->tok_mask = slots - 1;
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
        size_t h = hash_bytes(t->blob + off - l - 1, l) & t->tok_mask;
        for (;;) {
            uint32_t s2 = t->tok_slots[h];
            if (s2 == 0 || (t->tok_len[s2 - 1] == l &&
                            memcmp(t->blob + t->tok_off[s2 - 1], t->blob + t->tok_off[i], l) == 0)) {
                t->tok_slots[h] = i + 1;
                break;
            }
            h = (h + 1) & t->tok_mask;
        }
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
static uint32_t spm_char_len(const char *s, size_t n)
{
    uint32_t cp;
    return (uint32_t)bn_utf8_decode((const unsigned char *)s, n, &cp);
}

/* An SPM character (1..4 bytes, as split by spm_char_len) packed into
 * 32 bits; distinct characters get distinct values because a multi-byte
 * character's first byte is non-zero. */
static uint32_t pack_char(const char *s, uint32_t n)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < n; i++)
        v = v << 8 | (unsigned char)s[i];
    return v;
}

static uint64_t pair_key(const char *a, uint32_t na, const char *b, uint32_t nb)
{
    /* +1 keeps the key non-zero (0 marks an empty slot). */
    return ((uint64_t)pack_char(a, na) << 32 | pack_char(b, nb)) + 1;
}

static void pairs_insert(bn_tokenizer *t, uint64_t key)
{
    size_t i = hash_u64(key) & t->spm_pairs_mask;
    while (t->spm_pairs[i] != 0 && t->spm_pairs[i] != key)
        i = (i + 1) & t->spm_pairs_mask;
    t->spm_pairs[i] = key;
}

static int spm_pair_possible(const bn_tokenizer *t, uint64_t key)
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
    size_t n_pairs = 0;
    for (uint32_t i = 0; i < t->n_tokens; i++)
        n_pairs += t->tok_len[i];
    size_t slots = table_size(n_pairs + 1);
    t->spm_pairs = calloc(slots, sizeof *t->spm_pairs);
    if (!t->spm_pairs)
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    t->spm_pairs_mask = slots - 1;
    for (uint32_t i = 0; i < t->n_tokens; i++) {
        const char *s = t->blob + t->tok_off[i];
        uint32_t n = t->tok_len[i], off = 0, prev_off = 0, prev_len = 0;
        while (off < n) {
            uint32_t l = spm_char_len(s + off, n - off);
            if (prev_len)
                pairs_insert(t, pair_key(s + prev_off, prev_len, s + off, l));
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
            size_t l = bn_utf8_encode(bn_gpt2_byte_cp((unsigned char)b), buf);
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

/* ---- encoding ------------------------------------------------------------- */

void bn_tokens_free(bn_tokens *v)
{
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

static int tokens_push(bn_tokens *v, int32_t id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof *v->ids)
            return -1;
        int32_t *p = realloc(v->ids, cap * sizeof *p);
        if (!p)
            return -1;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

/* A symbol of a merge session: a run of bytes of the session's text. */
typedef struct {
    int32_t prev, next; /* neighbours, -1 at the ends */
    uint32_t off, n;    /* bytes [off, off + n); n == 0 once merged away */
    int32_t id;         /* BPE: token of the bytes (-1 if none); SPM: unused */
} sym;

/* A candidate merge of symbols left and right. SPM orders by score (highest
 * first), BPE by rank (lowest first); ties go to the leftmost pair. */
typedef struct {
    float score;        /* SPM */
    uint32_t rank;      /* BPE */
    int32_t left, right;
    uint32_t size;      /* SPM: bytes of the pair when queued */
    int32_t lid, rid;   /* BPE: ids of the pair when queued */
} bigram;

typedef struct {
    bigram *a;
    size_t n, cap;
    int spm;
} heap;

static int big_before(const heap *h, const bigram *x, const bigram *y)
{
    if (h->spm) {
        if (x->score != y->score)
            return x->score > y->score;
    } else if (x->rank != y->rank) {
        return x->rank < y->rank;
    }
    return x->left < y->left;
}

static int heap_push(heap *h, const bigram *b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bigram *p = realloc(h->a, cap * sizeof *p);
        if (!p)
            return -1;
        h->a = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!big_before(h, b, &h->a[parent]))
            break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = *b;
    return 0;
}

static bigram heap_pop(heap *h)
{
    bigram top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && big_before(h, &h->a[c + 1], &h->a[c]))
            c++;
        if (!big_before(h, &h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0)
        h->a[i] = last;
    return top;
}

/* Word cache of one encode call (BPE): word bytes -> ids. */
typedef struct {
    uint64_t hash;
    uint32_t word_off, word_len; /* in cache words */
    uint32_t ids_off, ids_n;     /* in cache ids */
} cache_slot;

typedef struct {
    const bn_tokenizer *t;
    bn_tokens *out;
    bn_error *err;
    bn_status st;
    sym *syms;
    size_t syms_cap;
    heap h;
    char *buf;                   /* SPM escaped text / BPE mapped word */
    size_t buf_cap;
    cache_slot *slots;           /* open addressing; word_len == UINT32_MAX: empty */
    size_t n_slots, n_used;
    char *words;
    size_t words_n, words_cap;
    bn_tokens cids;              /* cached id lists */
} enc;

#define CACHE_MAX_WORD 256

static int enc_fail(enc *e, bn_status st, const char *what)
{
    e->st = bn_error_set(e->err, st, "tokenizer: %s", what);
    return 1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    if (c > SIZE_MAX / elem)
        return -1;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Fallback for bytes that no merge covers: the byte token, else UNK. */
static int push_byte(enc *e, unsigned char b)
{
    int32_t id = e->t->byte_tok[b] >= 0 ? e->t->byte_tok[b] : e->t->unk;
    if (id < 0) {
        e->st = bn_error_set(e->err, BN_EINVAL,
                             "tokenizer: byte 0x%02X has no token and the vocabulary has no UNK", b);
        return 1;
    }
    return tokens_push(e->out, id) ? enc_fail(e, BN_ENOMEM, "out of memory") : 0;
}

static int spm_try_add(enc *e, const char *text, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return 0;
    uint32_t n = e->syms[l].n + e->syms[r].n;
    int32_t id = bn_tokenizer_find(e->t, text + e->syms[l].off, n);
    if (id < 0)
        return 0;
    bigram b = {.score = e->t->scores[id], .left = l, .right = r, .size = n};
    return heap_push(&e->h, &b) ? enc_fail(e, BN_ENOMEM, "out of memory") : 0;
}

/* llama.cpp's llm_tokenizer_spm_session on the symbols [lo, hi) of text. */
static int spm_segment(enc *e, const char *text, int32_t lo, int32_t hi)
{
    e->syms[lo].prev = -1;
    e->syms[hi - 1].next = -1;
    e->h.n = 0;
    e->h.spm = 1;
    for (int32_t i = lo + 1; i < hi; i++)
        if (spm_try_add(e, text, i - 1, i))
            return 1;
    while (e->h.n > 0) {
        bigram b = heap_pop(&e->h);
        sym *L = &e->syms[b.left], *R = &e->syms[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size)
            continue; /* outdated: one side was merged elsewhere */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0)
            e->syms[R->next].prev = b.left;
        if (spm_try_add(e, text, L->prev, b.left) || spm_try_add(e, text, b.left, L->next))
            return 1;
    }
    for (int32_t i = lo; i >= 0; i = e->syms[i].next) {
        const sym *s = &e->syms[i];
        int32_t id = bn_tokenizer_find(e->t, text + s->off, s->n);
        if (id >= 0) {
            if (tokens_push(e->out, id))
                return enc_fail(e, BN_ENOMEM, "out of memory");
            continue;
        }
        for (uint32_t j = 0; j < s->n; j++)
            if (push_byte(e, (unsigned char)text[s->off + j]))
                return 1;
    }
    return 0;
}

/* SPM on text[0, len) (already escaped): split into characters, cut where no token can span two neighbours, merge
 * each segment. */
static int spm_session(enc *e, const char *text, size_t len)
{
    if (len == 0)
        return 0;
    if (grow((void **)&e->syms, &e->syms_cap, len, sizeof *e->syms))
        return enc_fail(e, BN_ENOMEM, "out of memory");
    int32_t n = 0, lo = 0;
    for (size_t off = 0; off < len; n++) {
        size_t l = spm_char_len(text + off, len - off);
        e->syms[n] = (sym){n - 1, n + 1, (uint32_t)off, (uint32_t)l, -1};
        if (n > 0) {
            const sym *p = &e->syms[n - 1];
            uint64_t key = pair_key(text + p->off, p->n, text + off, (uint32_t)l);
            if (!e->t->spm_unsegmented && !spm_pair_possible(e->t, key)) {
                if (spm_segment(e, text, lo, n))
                    return 1;
                lo = n;
            }
        }
        off += l;
    }
    return spm_segment(e, text, lo, n);
}

/* One SPM raw-text fragment: optional ' ' prefix, ' ' -> U+2581. */
static int spm_fragment(enc *e, const char *text, size_t len, int prefix)
{
    size_t need = 3 * len + 3;
    if (grow((void **)&e->buf, &e->buf_cap, need, 1))
        return enc_fail(e, BN_ENOMEM, "out of memory");
    size_t o = 0;
    if (prefix) {
        memcpy(e->buf, "\xE2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(e->buf + o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            e->buf[o++] = text[i];
        }
    }
    return spm_session(e, e->buf, o);
}

static int bpe_try_add(enc *e, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return 0;
    const bn_merge_slot *m = merge_find(e->t, e->syms[l].id, e->syms[r].id);
    if (!m)
        return 0;
    bigram b = {.rank = m->rank, .left = l, .right = r, .lid = e->syms[l].id, .rid = e->syms[r].id};
    return heap_push(&e->h, &b) ? enc_fail(e, BN_ENOMEM, "out of memory") : 0;
}

/* The GPT-2 unicode spelling of w into e->buf; returns its length. */
static size_t bpe_map_word(enc *e, const char *w, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += bn_utf8_encode(bn_gpt2_byte_cp((unsigned char)w[i]), e->buf + o);
    return o;
}

/* llama.cpp's llm_tokenizer_bpe_session on one pre-tokenized word. The word's
 * symbols start as its raw bytes: each byte is one GPT-2 character. */
static int bpe_word(enc *e, const char *w, size_t n)
{
    const bn_tokenizer *t = e->t;
    if (t->ignore_merges) {
        if (grow((void **)&e->buf, &e->buf_cap, 2 * n, 1))
            return enc_fail(e, BN_ENOMEM, "out of memory");
        int32_t id = bn_tokenizer_find(t, e->buf, bpe_map_word(e, w, n));
        if (id >= 0)
            return tokens_push(e->out, id) ? enc_fail(e, BN_ENOMEM, "out of memory") : 0;
    }
    if (grow((void **)&e->syms, &e->syms_cap, n, sizeof *e->syms))
        return enc_fail(e, BN_ENOMEM, "out of memory");
    int32_t ns = (int32_t)n;
    for (int32_t i = 0; i < ns; i++)
        e->syms[i] = (sym){i - 1, i + 1 < ns ? i + 1 : -1, (uint32_t)i, 1,
                           t->byte_tok[(unsigned char)w[i]]};
    e->h.n = 0;
    e->h.spm = 0;
    for (int32_t i = 1; i < ns; i++)
        if (bpe_try_add(e, i - 1, i))
            return 1;
    while (e->h.n > 0) {
        bigram b = heap_pop(&e->h);
        sym *L = &e->syms[b.left], *R = &e->syms[b.right];
        if (L->n == 0 || R->n == 0 || L->id != b.lid || R->id != b.rid)
            continue;
        L->n += R->n;
        L->id = merge_find(t, b.lid, b.rid)->result;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0)
            e->syms[R->next].prev = b.left;
        if (bpe_try_add(e, L->prev, b.left) || bpe_try_add(e, b.left, L->next))
            return 1;
    }
    for (int32_t i = ns > 0 ? 0 : -1; i >= 0; i = e->syms[i].next) {
        const sym *s = &e->syms[i];
        if (s->id >= 0) {
            if (tokens_push(e->out, s->id))
                return enc_fail(e, BN_ENOMEM, "out of memory");
            continue;
        }
        /* A byte whose GPT-2 character is not a token (only an unmerged single
         * byte can get here): llama.cpp tries each byte of the character's
         * UTF-8 as a one-byte token and drops those that are not. */
        char ch[4];
        size_t cl = bn_utf8_encode(bn_gpt2_byte_cp((unsigned char)w[s->off]), ch);
        for (size_t j = 0; j < cl; j++) {
            int32_t id = bn_tokenizer_find(t, ch + j, 1);
            if (id >= 0 && tokens_push(e->out, id))
                return enc_fail(e, BN_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int cache_grow(enc *e)
{
    size_t n = e->n_slots ? e->n_slots * 2 : 4096;
    cache_slot *s = malloc(n * sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        s[i].word_len = UINT32_MAX;
    for (size_t i = 0; i < e->n_slots; i++) {
        if (e->slots[i].word_len == UINT32_MAX)
            continue;
        size_t j = e->slots[i].hash & (n - 1);
        while (s[j].word_len != UINT32_MAX)
            j = (j + 1) & (n - 1);
        s[j] = e->slots[i];
    }
    free(e->slots);
    e->slots = s;
    e->n_slots = n;
    return 0;
}

/* Pre-tokenized word callback: cached BPE of the word. */
static int on_word(void *ctx, const char *w, size_t n)
{
    enc *e = ctx;
    if (n > CACHE_MAX_WORD || e->words_n > UINT32_MAX - CACHE_MAX_WORD || e->cids.n > UINT32_MAX / 2)
        return bpe_word(e, w, n);
    if (e->n_used * 2 >= e->n_slots && cache_grow(e))
        return enc_fail(e, BN_ENOMEM, "out of memory");
    uint64_t h = hash_bytes(w, n);
    size_t j = h & (e->n_slots - 1);
    for (;; j = (j + 1) & (e->n_slots - 1)) {
        cache_slot *s = &e->slots[j];
        if (s->word_len == UINT32_MAX)
            break;
        if (s->hash == h && s->word_len == n && memcmp(e->words + s->word_off, w, n) == 0) {
            for (uint32_t k = 0; k < s->ids_n; k++)
                if (tokens_push(e->out, e->cids.ids[s->ids_off + k]))
                    return enc_fail(e, BN_ENOMEM, "out of memory");
            return 0;
        }
    }
    size_t before = e->out->n;
    if (bpe_word(e, w, n))
        return 1;
    if (grow((void **)&e->words, &e->words_cap, e->words_n + n, 1))
        return enc_fail(e, BN_ENOMEM, "out of memory");
    cache_slot s = {h, (uint32_t)e->words_n, (uint32_t)n, (uint32_t)e->cids.n,
                    (uint32_t)(e->out->n - before)};
    memcpy(e->words + e->words_n, w, n);
    e->words_n += n;
    for (size_t k = before; k < e->out->n; k++)
        if (tokens_push(&e->cids, e->out->ids[k]))
            return enc_fail(e, BN_ENOMEM, "out of memory");
    e->slots[j] = s;
    e->n_used++;
    return 0;
}

static int bpe_fragment(enc *e, const char *text, size_t len)
{
    int rc = bn_pretok_split(e->t->pre, text, len, on_word, e);
    if (rc < 0)
        return enc_fail(e, BN_ENOMEM, "out of memory");
    return rc;
}

/* First occurrence of s[0, sl) (sl >= 1) in h[0, hl), or NULL. */
static const char *find_bytes(const char *h, size_t hl, const char *s, size_t sl)
{
    while (hl >= sl) {
        const char *p = memchr(h, s[0], hl - sl + 1);
        if (!p)
            return NULL;
        if (memcmp(p, s, sl) == 0)
            return p;
        hl -= (size_t)(p - h) + 1;
        h = p + 1;
    }
    return NULL;
}

/* Split text at the special tokens special[k..] (each one's occurrences, left
 * to right, longest tokens first, as llama.cpp's tokenizer_st_partition) and
 * encode the raw pieces in order. *prev_special: the last thing emitted was a
 * special token (or nothing), so an SPM fragment gets its space prefix. */
static int encode_range(enc *e, const char *text, size_t len, size_t k, unsigned flags,
                        int *prev_special)
{
    const bn_tokenizer *t = e->t;
    for (; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!(flags & BN_TOK_PARSE_SPECIAL) && t->types[id] != BN_TOKTYPE_USER_DEFINED)
            continue;
        const char *s = t->blob + t->tok_off[id];
        size_t sl = t->tok_len[id];
        const char *hit = find_bytes(text, len, s, sl);
        if (!hit)
            continue;
        size_t pos = 0;
        while (hit) {
            size_t at = (size_t)(hit - text);
            if (at > pos && encode_range(e, text + pos, at - pos, k + 1, flags, prev_special))
                return 1;
            if (tokens_push(e->out, id))
                return enc_fail(e, BN_ENOMEM, "out of memory");
            *prev_special = 1;
            pos = at + sl;
            hit = find_bytes(text + pos, len - pos, s, sl);
        }
        if (pos < len && encode_range(e, text + pos, len - pos, k + 1, flags, prev_special))
            return 1;
        return 0;
    }
    int rc;
    if (t->model == BN_TOKMODEL_SPM)
        rc = spm_fragment(e, text, len, t->add_space_prefix && *prev_special);
    else
        rc = bpe_fragment(e, text, len);
    *prev_special = 0;
    return rc;
}

bn_status bn_tokenizer_encode(const bn_tokenizer *t, const char *text, size_t len,
                              unsigned flags, bn_tokens *out, bn_error *err)
{
    if (len > MAX_TEXT)
        return bn_error_set(err, BN_ELIMIT, "tokenizer: %zu bytes of text exceed the limit of %zu",
                            len, MAX_TEXT);
    enc e = {.t = t, .out = out, .err = err, .st = BN_OK};
    int add = (flags & BN_TOK_ADD_SPECIAL) != 0;
    if (add && t->add_bos && t->bos >= 0 && tokens_push(out, t->bos))
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    int prev_special = 1;
    if (len > 0 && encode_range(&e, text, len, 0, flags, &prev_special) && e.st == BN_OK)
        e.st = bn_error_set(err, BN_EINTERNAL, "tokenizer: encoding stopped without a reason");
    if (e.st == BN_OK && add && t->add_eos && t->eos >= 0 && tokens_push(out, t->eos))
        e.st = bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    free(e.syms);
    free(e.h.a);
    free(e.buf);
    free(e.slots);
    free(e.words);
    bn_tokens_free(&e.cids);
    return e.st;
}
