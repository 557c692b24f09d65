/*
 * check.c - structural validation of a GGUF for its architecture
 * (bn-verify --check). Unlike bn_model_load, which stops at the first problem,
 * this walks the whole file with the gguf.h reader and lists every problem,
 * with the loader's own rules (the architecture table, arch.h, and gguf.h's
 * content rules), so that whatever the loader refuses is reported here:
 *   - general.architecture a GGUF name of the table;
 *   - hyperparameter KVs with llama.cpp's exact types and the table's ranges
 *     (bn_arch_read_hparams, as the loader);
 *   - every tensor the architecture needs, with its shape and an accepted type
 *     (bn_arch_check_tensor, as the loader), and no tensor llama.cpp would not
 *     expect ("wrong number of tensors");
 *   - the tokenizer: model known, token count = vocabulary size, scores and
 *     token types aligned and valid, merges "a b" naming known tokens, special
 *     ids in range;
 *     and the runtime's tokenizer accepts it;
 *   - tensor contents: bn_gguf_check_tensor_data (I2_S tails and codes, TQ1_0,
 *     TQ2_0 and Q8_0 block scales; as the loader), no NaN/Inf in F32/F16/BF16
 *     tensors.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/arch.h"
#include "bn/check.h"
#include "bn/tokenizer.h"
#include "bn/util.h"
#include "util/strset.h"

#define MAX_PROBLEMS 1000 /* beyond this only a count is kept */

typedef struct {
    bn_check_report *r;
    size_t n_dropped;
    int oom;
    int contiguous; /* tensor infos form one array (tensor_index) */
    bn_arch_sink sink; /* the table's KV rules report here; counts the keys */
} checker;

static void problem(checker *c, const char *fmt, ...) BN_PRINTF(2, 3);
static void sink_problem(void *ctx, const char *msg);
static void problem(checker *c, const char *fmt, ...)
{
    if (c->oom)
        return;
    if (c->r->n >= MAX_PROBLEMS) {
        c->n_dropped++;
        return;
    }
    char buf[BN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (c->r->n == c->r->cap) {
        size_t cap = c->r->cap ? 2 * c->r->cap : 16;
        char **items = realloc(c->r->items, cap * sizeof *items);
        if (!items) {
            c->oom = 1;
            return;
        }
        c->r->items = items;
        c->r->cap = cap;
    }
    char *s = strdup(buf);
    if (!s) {
        c->oom = 1;
        return;
    }
    c->r->items[c->r->n++] = s;
}

static void sink_problem(void *ctx, const char *msg)
{
    problem(ctx, "%s", msg);
}

void bn_check_report_free(bn_check_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i]);
    free(r->items);
    memset(r, 0, sizeof *r);
}

/* ---- KVs ------------------------------------------------------------------ */

/* A KV of the exact type vt (the table's rule); NULL otherwise. */
static const bn_gguf_kv *kv_typed(checker *c, const bn_gguf *g, const char *key,
                                  bn_gguf_vtype vt, int required)
{
    return bn_arch_kv_typed(g, key, vt, required, &c->sink);
}

typedef struct {
    const bn_arch_info *arch; /* NULL: unknown */
    int64_t n_vocab;          /* from vocab_size, tokens or token_embd; 0 unknown */
    bn_arch_dims dims;
    int64_t n_layer;
} hparams;

static void check_general(checker *c, const bn_gguf *g)
{
    kv_typed(c, g, "general.alignment", BN_GGUF_U32, 0);
    kv_typed(c, g, "general.file_type", BN_GGUF_U32, 0);
    const bn_gguf_kv *kv = kv_typed(c, g, "general.quantization_version", BN_GGUF_U32, 0);
    if (kv && bn_gguf_kv_u32(kv) != 2)
        problem(c, "general.quantization_version = %u, llama.cpp writes 2",
                (unsigned)bn_gguf_kv_u32(kv));
    kv_typed(c, g, "general.name", BN_GGUF_STRING, 0);
}

/* general.architecture and {arch}.*: the loader's reader, every problem listed. */
static void check_hparams(checker *c, const bn_gguf *g, hparams *hp)
{
    bn_arch_hparams h;
    bn_arch_read_hparams(g, &h, &c->sink);
    hp->arch = h.arch;
    hp->n_vocab = h.n_vocab;
    hp->n_layer = h.n_layer;
    hp->dims = (bn_arch_dims){h.n_embd, h.n_ff, 0, h.n_head, h.n_head_kv, h.head_dim};
}

/* ---- tokenizer -------------------------------------------------------------- */

static int str_is(bn_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* The vocabulary as a set of its token texts (pointing into the mapped file):
 * membership compares the bytes, so no hash stands in for a text. */
static int vocab_set(const bn_gguf *g, const bn_gguf_kv *tokens, bnu_strset *set)
{
    if (bnu_strset_init(set, (size_t)tokens->arr_n))
        return -1;
    for (uint64_t i = 0; i < tokens->arr_n; i++) {
        bn_str t = bn_gguf_arr_str(g, tokens, i);
        if (bnu_strset_add(set, t.ptr, (size_t)t.len, (int64_t)i, NULL) < 0)
            return -1;
    }
    return 0;
}

/* Whether the bytes a[0..na) + b[0..nb) are a token; key has room for na + nb. */
static int in_vocab(const bnu_strset *set, char *key, const char *a, size_t na, const char *b,
                    size_t nb)
{
    memcpy(key, a, na);
    memcpy(key + na, b, nb);
    return bnu_strset_find(set, key, na + nb) >= 0;
}

/* Why merge m does not parse, or NULL: "left right", one space, both sides and
 * their concatenation tokens of the vocabulary. */
static const char *merge_problem(const bnu_strset *set, bn_str m, char *key)
{
    const char *sp = m.len ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
    if (!sp || sp + 1 >= m.ptr + m.len)
        return "is not \"left right\"";
    if (memchr(sp + 1, ' ', (size_t)(m.ptr + m.len - sp - 1)))
        return "has more than one space";
    size_t l = (size_t)(sp - m.ptr), r = (size_t)(m.len - l - 1);
    if (!in_vocab(set, key, m.ptr, l, "", 0) || !in_vocab(set, key, sp + 1, r, "", 0))
        return "names a token that is not in the vocabulary";
    if (!in_vocab(set, key, m.ptr, l, sp + 1, r))
        return "produces a token that is not in the vocabulary";
    return NULL;
}

static void check_merges(checker *c, const bn_gguf *g, const bn_gguf_kv *tokens,
                         const bn_gguf_kv *merges)
{
    bnu_strset set = {0};
    char *key = NULL;
    size_t longest = 0;
    for (uint64_t i = 0; i < merges->arr_n; i++) {
        size_t n = (size_t)bn_gguf_arr_str(g, merges, i).len;
        longest = n > longest ? n : longest;
    }
    if (!(key = malloc(longest + 1)) || vocab_set(g, tokens, &set)) {
        c->oom = 1;
        goto done;
    }
    uint64_t n_bad = 0, first_bad = 0;
    const char *why = NULL;
    for (uint64_t i = 0; i < merges->arr_n; i++) {
        const char *w = merge_problem(&set, bn_gguf_arr_str(g, merges, i), key);
        if (w && !n_bad++) {
            first_bad = i;
            why = w;
        }
    }
    if (n_bad) {
        char esc[96];
        bn_str m = bn_gguf_arr_str(g, merges, first_bad);
        bn_gguf_escape(m.ptr, m.len, esc, sizeof esc);
        problem(c, "tokenizer.ggml.merges: %llu of %llu merges do not parse; the first, #%llu "
                   "\"%s\", %s",
                (unsigned long long)n_bad, (unsigned long long)merges->arr_n,
                (unsigned long long)first_bad, esc, why);
    }
done:
    bnu_strset_free(&set);
    free(key);
}

static void check_special_id(checker *c, const bn_gguf *g, const char *key, int64_t n_tok)
{
    const bn_gguf_kv *kv = kv_typed(c, g, key, BN_GGUF_U32, 0);
    if (kv && n_tok > 0 && (int64_t)bn_gguf_kv_u32(kv) >= n_tok)
        problem(c, "%s = %u is outside the vocabulary of %lld tokens", key,
                (unsigned)bn_gguf_kv_u32(kv), (long long)n_tok);
}

static void check_tokenizer(checker *c, const bn_gguf *g, hparams *hp)
{
    const bn_gguf_kv *model = kv_typed(c, g, "tokenizer.ggml.model", BN_GGUF_STRING, 1);
    int is_bpe = 0;
    if (model) {
        bn_str m = bn_gguf_kv_str(model);
        if (str_is(m, "gpt2"))
            is_bpe = 1;
        else if (!str_is(m, "llama")) {
            char esc[64];
            bn_gguf_escape(m.ptr, m.len, esc, sizeof esc);
            problem(c, "tokenizer.ggml.model \"%s\" is not \"llama\" or \"gpt2\"", esc);
        }
    }
    const bn_gguf_kv *tokens = kv_typed(c, g, "tokenizer.ggml.tokens", BN_GGUF_ARRAY, 1);
    if (tokens && tokens->arr_type != BN_GGUF_STRING) {
        problem(c, "tokenizer.ggml.tokens is an array of %s, not of strings",
                bn_gguf_vtype_name(tokens->arr_type));
        tokens = NULL;
    }
    int64_t n_tok = tokens ? (int64_t)tokens->arr_n : 0;
    if (tokens && n_tok == 0)
        problem(c, "tokenizer.ggml.tokens is empty");
    if (tokens && hp->n_vocab && n_tok != hp->n_vocab)
        problem(c, "tokenizer.ggml.tokens has %lld tokens but the vocabulary size is %lld",
                (long long)n_tok, (long long)hp->n_vocab);
    if (!hp->n_vocab)
        hp->n_vocab = n_tok;

    const bn_gguf_kv *scores = kv_typed(c, g, "tokenizer.ggml.scores", BN_GGUF_ARRAY, 0);
    if (scores) {
        if (scores->arr_type != BN_GGUF_F32)
            problem(c, "tokenizer.ggml.scores is an array of %s, not of f32",
                    bn_gguf_vtype_name(scores->arr_type));
        else if (tokens && (int64_t)scores->arr_n != n_tok)
            problem(c, "tokenizer.ggml.scores has %llu entries for %lld tokens",
                    (unsigned long long)scores->arr_n, (long long)n_tok);
        else
            for (uint64_t i = 0; i < scores->arr_n; i++)
                if (!isfinite(bn_gguf_arr_f64(scores, i))) {
                    problem(c, "tokenizer.ggml.scores[%llu] is not finite",
                            (unsigned long long)i);
                    break;
                }
    }
    const bn_gguf_kv *types = kv_typed(c, g, "tokenizer.ggml.token_type", BN_GGUF_ARRAY, 0);
    if (types) {
        if (types->arr_type != BN_GGUF_I32)
            problem(c, "tokenizer.ggml.token_type is an array of %s, not of i32",
                    bn_gguf_vtype_name(types->arr_type));
        else if (tokens && (int64_t)types->arr_n != n_tok)
            problem(c, "tokenizer.ggml.token_type has %llu entries for %lld tokens",
                    (unsigned long long)types->arr_n, (long long)n_tok);
        else
            for (uint64_t i = 0; i < types->arr_n; i++) {
                int64_t t = bn_gguf_arr_i64(types, i);
                if (t < 1 || t > 6) {
                    problem(c, "tokenizer.ggml.token_type[%llu] = %lld is not a token type (1..6)",
                            (unsigned long long)i, (long long)t);
                    break;
                }
            }
    }
    const bn_gguf_kv *merges = kv_typed(c, g, "tokenizer.ggml.merges", BN_GGUF_ARRAY, is_bpe);
    if (merges && merges->arr_type != BN_GGUF_STRING)
        problem(c, "tokenizer.ggml.merges is an array of %s, not of strings",
                bn_gguf_vtype_name(merges->arr_type));
    else if (merges && tokens)
        check_merges(c, g, tokens, merges);
    if (is_bpe)
        kv_typed(c, g, "tokenizer.ggml.pre", BN_GGUF_STRING, 1);

    check_special_id(c, g, "tokenizer.ggml.bos_token_id", n_tok);
    check_special_id(c, g, "tokenizer.ggml.eos_token_id", n_tok);
    check_special_id(c, g, "tokenizer.ggml.unknown_token_id", n_tok);
    check_special_id(c, g, "tokenizer.ggml.padding_token_id", n_tok);
    kv_typed(c, g, "tokenizer.ggml.add_bos_token", BN_GGUF_BOOL, 0);
    kv_typed(c, g, "tokenizer.ggml.add_eos_token", BN_GGUF_BOOL, 0);
}

/* ---- tensors ------------------------------------------------------------------ */

/* Index of a tensor handed out by the reader: O(1) when the reader keeps its
 * infos in one array (checked once per file by tensors_contiguous), else a scan. */
static int tensors_contiguous(const bn_gguf *g)
{
    int64_t n = bn_gguf_n_tensors(g);
    const bn_gguf_tensor *t0 = n ? bn_gguf_tensor_at(g, 0) : NULL;
    for (int64_t i = 1; i < n; i++)
        if (bn_gguf_tensor_at(g, i) != t0 + i)
            return 0;
    return 1;
}

static int64_t tensor_index(const checker *c, const bn_gguf *g, const bn_gguf_tensor *t)
{
    if (c->contiguous)
        return t - bn_gguf_tensor_at(g, 0);
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++)
        if (bn_gguf_tensor_at(g, i) == t)
            return i;
    return 0;
}

/* Check one tensor of the table: presence (every entry but the untied head is
 * required), then the loader's shape and type rule. Marks it seen. */
static void expect_tensor(checker *c, const bn_gguf *g, unsigned char *seen,
                          const bn_arch_tensor *t, int64_t layer, const bn_arch_dims *dims)
{
    char name[BN_GGUF_MAX_NAME + 1];
    bn_arch_gguf_tensor_name(t, layer, name, sizeof name);
    const bn_gguf_tensor *gt = bn_gguf_find_tensor(g, name);
    if (!gt) {
        if (t->role != BN_ROLE_OUTPUT)
            problem(c, "required tensor '%s' is missing", name);
        return;
    }
    seen[tensor_index(c, g, gt)] = 1;
    c->r->n_tensors_checked++;
    bn_error e;
    if (bn_arch_check_tensor(gt, t, dims, &e) != BN_OK)
        problem(c, "%s", e.msg);
}

static void check_tensor_set(checker *c, const bn_gguf *g, const hparams *hp)
{
    int64_t nt = bn_gguf_n_tensors(g);
    unsigned char *seen = calloc(nt > 0 ? (size_t)nt : 1, 1);
    if (!seen) {
        c->oom = 1;
        return;
    }
    bn_arch_dims dims = hp->dims;
    dims.n_vocab = hp->n_vocab;
    size_t n = bn_arch_n_tensors(hp->arch, hp->n_layer, 1);
    for (size_t i = 0; i < n; i++) {
        const bn_arch_tensor *t;
        int64_t l;
        bn_arch_tensor_at(hp->arch, hp->n_layer, 1, i, &t, &l);
        expect_tensor(c, g, seen, t, l, &dims);
    }
    for (int64_t i = 0; i < nt; i++)
        if (!seen[i])
            problem(c, "tensor '%s' is not part of a %s model (llama.cpp refuses files with "
                       "unexpected tensors)",
                    bn_gguf_tensor_at(g, i)->name, hp->arch->gguf_name);
    free(seen);
}

/* ---- tensor contents ------------------------------------------------------------ */

static uint16_t rd_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void check_floats(checker *c, const bn_gguf_tensor *t)
{
    uint64_t n_bad = 0, first = 0;
    for (uint64_t i = 0; i < t->n_el; i++) {
        float v;
        if (t->type == BN_TYPE_F32)
            v = bn_gguf_f32le(t->data + 4 * i);
        else if (t->type == BN_TYPE_F16)
            v = bn_f16_to_f32(rd_u16(t->data + 2 * i));
        else
            v = bn_bf16_to_f32(rd_u16(t->data + 2 * i));
        if (!isfinite(v)) {
            if (!n_bad)
                first = i;
            n_bad++;
        }
    }
    if (n_bad)
        problem(c, "tensor '%s' holds %llu NaN/Inf values (first at element %llu)", t->name,
                (unsigned long long)n_bad, (unsigned long long)first);
}

static void check_contents(checker *c, const bn_gguf *g)
{
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        bn_error e;
        if (t->type == BN_TYPE_F32 || t->type == BN_TYPE_F16 || t->type == BN_TYPE_BF16)
            check_floats(c, t);
        else if (bn_gguf_check_tensor_data(t, &e) != BN_OK)
            problem(c, "%s", e.msg);
    }
}

bn_status bn_check_gguf(const bn_gguf *g, bn_check_report *r, bn_error *err)
{
    memset(r, 0, sizeof *r);
    checker c = {r, 0, 0, tensors_contiguous(g), {sink_problem, NULL, 0, 0}};
    c.sink.ctx = &c;
    hparams hp;
    memset(&hp, 0, sizeof hp);
    check_hparams(&c, g, &hp);
    check_general(&c, g);
    /* The vocabulary size: vocab_size if given, else the token count, else the
     * embedding's rows, so shapes can still be checked without a tokenizer. */
    size_t before = r->n;
    check_tokenizer(&c, g, &hp);
    /* what the runtime's tokenizer refuses beyond the checks above (the loader
     * reads it with this function) */
    bn_tokenizer *tok = NULL;
    bn_error te;
    if (r->n == before && bn_gguf_find_kv(g, "tokenizer.ggml.model") &&
        bn_tokenizer_from_gguf(g, &tok, &te) != BN_OK)
        problem(&c, "the tokenizer does not load: %s", te.msg);
    /* a byte-level vocabulary missing a byte token loads, but the encoder
     * refuses any text holding that byte (issue 13) */
    else if (tok && bn_tokenizer_check_bytes(tok, &te) != BN_OK)
        problem(&c, "%s", te.msg);
    bn_tokenizer_free(tok);
    if (!hp.n_vocab) {
        const bn_gguf_tensor *e = bn_gguf_find_tensor(g, "token_embd.weight");
        if (e && e->n_dims == 2)
            hp.n_vocab = e->ne[1];
    }
    if (hp.n_vocab > BN_ARCH_MAX_VOCAB)
        problem(&c, "the vocabulary of %lld tokens is more than the runtime's %d",
                (long long)hp.n_vocab, BN_ARCH_MAX_VOCAB);
    if (hp.arch)
        check_tensor_set(&c, g, &hp);
    check_contents(&c, g);
    if (c.n_dropped && !c.oom) {
        size_t keep = c.n_dropped;
        c.r->n--; /* make room for the summary line */
        char *last = c.r->items[c.r->n];
        free(last);
        problem(&c, "... and %zu more problems", keep + 1);
    }
    if (c.oom) {
        bn_check_report_free(r);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory while checking",
                            bn_gguf_path(g));
    }
    r->n_kv_checked = c.sink.n_keys;
    return BN_OK;
}
