/*
 * tokenizer_encode.c - the two encoders, following llama.cpp's
 * llm_tokenizer_spm / llm_tokenizer_bpe sessions so that ids agree to the
 * last one: special-token partition, SPM score-driven merging (cut into
 * independent segments), byte-level BPE by merge rank with a per-call word
 * cache.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer_internal.h"
#include "runtime/unicode.h"
#include "util/grow.h"

#define MAX_TEXT ((size_t)1 << 30) /* one encode call: 1 GiB of text */

void bn_tokens_free(bn_tokens *v)
{
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

bn_status bn_tokens_append(bn_tokens *v, const int32_t *ids, size_t n, bn_error *err)
{
    if (n > SIZE_MAX - v->n ||
        bnu_grow((void **)&v->ids, &v->cap, v->n + n, sizeof *v->ids, 256))
        return bn_error_set(err, BN_ENOMEM, "out of memory for %zu more tokens", n);
    if (n)
        memcpy(v->ids + v->n, ids, n * sizeof *ids);
    v->n += n;
    return BN_OK;
}

bn_status bn_tokens_push(bn_tokens *v, int32_t id, bn_error *err)
{
    if (v->n < v->cap) { /* the common case, per token of an encode */
        v->ids[v->n++] = id;
        return BN_OK;
    }
    return bn_tokens_append(v, &id, 1, err);
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
    return bnu_grow(p, cap, need, elem, 64);
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
    return bn_tokens_push(e->out, id, NULL) ? enc_fail(e, BN_ENOMEM, "out of memory") : 0;
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
            if (bn_tokens_push(e->out, id, NULL))
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
        size_t l = bnr_tok_spm_char_len(text + off, len - off);
        e->syms[n] = (sym){n - 1, n + 1, (uint32_t)off, (uint32_t)l, -1};
        if (n > 0) {
            const sym *p = &e->syms[n - 1];
            uint64_t key = bnr_tok_pair_key(text + p->off, p->n, text + off, (uint32_t)l);
            if (!e->t->spm_unsegmented && !bnr_tok_spm_pair_possible(e->t, key)) {
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
    size_t need = 3 * len + 3; /* each ' ' may become 3 bytes */
    if (need > INT32_MAX) /* symbol indices are int32 */
        return enc_fail(e, BN_ELIMIT, "SentencePiece text fragment too long (over 700 MB)");
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
    const bn_merge_slot *m = bnr_tok_merge_find(e->t, e->syms[l].id, e->syms[r].id);
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
        o += bnr_utf8_encode(bnr_gpt2_byte_cp((unsigned char)w[i]), e->buf + o);
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
            return bn_tokens_push(e->out, id, NULL) ? enc_fail(e, BN_ENOMEM, "out of memory") : 0;
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
        L->id = bnr_tok_merge_find(t, b.lid, b.rid)->result;
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
            if (bn_tokens_push(e->out, s->id, NULL))
                return enc_fail(e, BN_ENOMEM, "out of memory");
            continue;
        }
        /* A byte whose GPT-2 character is not a token (only an unmerged single
         * byte can get here): llama.cpp tries each byte of the character's
         * UTF-8 as a one-byte token and drops those that are not. We map it
         * the same way; a strict vocabulary (every one read from a file)
         * refuses a byte that would be dropped: text is never lost silently. */
        char ch[4];
        unsigned char b = (unsigned char)w[s->off];
        size_t cl = bnr_utf8_encode(bnr_gpt2_byte_cp(b), ch);
        int32_t ids[4];
        for (size_t j = 0; j < cl; j++)
            if ((ids[j] = bn_tokenizer_find(t, ch + j, 1)) < 0 && t->strict_bytes) {
                e->st = bn_error_set(e->err, BN_EINVAL, "tokenizer: byte 0x%02X of the text has "
                                     "no token in the byte-level vocabulary", b);
                return 1;
            }
        for (size_t j = 0; j < cl; j++)
            if (ids[j] >= 0 && bn_tokens_push(e->out, ids[j], NULL))
                return enc_fail(e, BN_ENOMEM, "out of memory");
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
    uint64_t h = bnr_tok_hash(w, n);
    size_t j = h & (e->n_slots - 1);
    for (;; j = (j + 1) & (e->n_slots - 1)) {
        cache_slot *s = &e->slots[j];
        if (s->word_len == UINT32_MAX)
            break;
        if (s->hash == h && s->word_len == n && memcmp(e->words + s->word_off, w, n) == 0) {
            for (uint32_t k = 0; k < s->ids_n; k++)
                if (bn_tokens_push(e->out, e->cids.ids[s->ids_off + k], NULL))
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
        if (bn_tokens_push(&e->cids, e->out->ids[k], NULL))
            return enc_fail(e, BN_ENOMEM, "out of memory");
    e->slots[j] = s;
    e->n_used++;
    return 0;
}

static int bpe_fragment(enc *e, const char *text, size_t len)
{
    int rc = bnr_pretok_split(e->t->pre, text, len, on_word, e);
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
            if (bn_tokens_push(e->out, id, NULL))
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
    if (add && t->add_bos && t->bos >= 0 && bn_tokens_push(out, t->bos, NULL))
        return bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    int prev_special = 1;
    if (len > 0 && encode_range(&e, text, len, 0, flags, &prev_special) && e.st == BN_OK)
        e.st = bn_error_set(err, BN_EINTERNAL, "tokenizer: encoding stopped without a reason");
    if (e.st == BN_OK && add && t->add_eos && t->eos >= 0 && bn_tokens_push(out, t->eos, NULL))
        e.st = bn_error_set(err, BN_ENOMEM, "tokenizer: out of memory");
    free(e.syms);
    free(e.h.a);
    free(e.buf);
    free(e.slots);
    free(e.words);
    bn_tokens_free(&e.cids);
    return e.st;
}
