/* test_tokenizer.c - the runtime tokenizer: Unicode tables and pre-tokenizer
 * splits (expected words derived by hand from the regexes), llama.cpp's
 * conformance ids for its SentencePiece and GPT-2 vocab GGUFs, round trips of
 * every line of wiki.test.raw, Unicode and invalid-UTF-8 edge cases, special
 * tokens, decoding and streaming, and hostile vocabularies / GGUFs.
 * The Llama-3 conformance and round trip live in test_tokenizer_export.c (the
 * GGUF is built there from tokenizer.json). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "bn/gguf.h"
#include "bn/tokenizer.h"
#include "runtime/tokenizer_internal.h"
#include "runtime/unicode.h"
#include "util/utf8.h"
#include "testutil.h"

static bn_tokenizer *load(const char *name)
{
    bn_error e;
    bn_gguf *g;
    char rel[256];
    snprintf(rel, sizeof rel, "data/tokenizer-tests/%s", name);
    ck_assert_msg(bn_gguf_open(tu_shared(rel), &g, &e) == BN_OK, "%s", e.msg);
    bn_tokenizer *t;
    ck_assert_msg(bn_tokenizer_from_gguf(g, &t, &e) == BN_OK, "%s", e.msg);
    bn_gguf_close(g);
    return t;
}

static bn_tokens enc(const bn_tokenizer *t, const char *s, size_t n, unsigned flags)
{
    bn_tokens v = {0};
    bn_error e;
    ck_assert_msg(bn_tokenizer_encode(t, s, n, flags, &v, &e) == BN_OK, "%s", e.msg);
    return v;
}

/* decode(encode(s)) == s, and every id is in range. */
static void roundtrip(const bn_tokenizer *t, const char *s, size_t n)
{
    bn_tokens v = enc(t, s, n, 0);
    for (size_t i = 0; i < v.n; i++)
        ck_assert(v.ids[i] >= 0 && (uint32_t)v.ids[i] < bn_tokenizer_n_tokens(t));
    char *out;
    size_t len;
    bn_error e;
    ck_assert_msg(bn_tokenizer_decode(t, v.ids, v.n, 0, &out, &len, &e) == BN_OK, "%s", e.msg);
    ck_assert_msg(len == n && memcmp(out, s, n) == 0, "round trip of '%.*s' gave '%s'", (int)n, s, out);
    free(out);
    bn_tokens_free(&v);
}

/* ---- Unicode --------------------------------------------------------------------- */

START_TEST(test_unicode_classes)
{
    static const struct {
        uint32_t cp;
        int cls;
    } cases[] = {
        {'a', BN_UC_LETTER},   {'Z', BN_UC_LETTER},   {0x00E9, BN_UC_LETTER}, {0x4E00, BN_UC_LETTER},
        {0x05D0, BN_UC_LETTER}, {0x02B0, BN_UC_LETTER}, /* Lm */
        {'7', BN_UC_NUMBER},   {0x0663, BN_UC_NUMBER}, {0x216B, BN_UC_NUMBER}, /* Nl */
        {0x00BD, BN_UC_NUMBER}, /* No */
        {' ', BN_UC_SPACE},    {'\t', BN_UC_SPACE},    {'\n', BN_UC_SPACE},    {'\r', BN_UC_SPACE},
        {0x0B, BN_UC_SPACE},   {0x85, BN_UC_SPACE},    {0xA0, BN_UC_SPACE},    {0x1680, BN_UC_SPACE},
        {0x2003, BN_UC_SPACE}, {0x2028, BN_UC_SPACE},  {0x202F, BN_UC_SPACE},  {0x3000, BN_UC_SPACE},
        {',', BN_UC_PUNCT},    {'_', BN_UC_PUNCT},     {0x3002, BN_UC_PUNCT},  {0x2014, BN_UC_PUNCT},
        {'$', BN_UC_OTHER},    {'+', BN_UC_OTHER},     {0x0301, BN_UC_OTHER},  {0x200B, BN_UC_OTHER},
        {0x200D, BN_UC_OTHER}, {0x1F600, BN_UC_OTHER}, {0xE000, BN_UC_OTHER},  {0x0378, BN_UC_OTHER},
        {0x10FFFF, BN_UC_OTHER}, {0x110000, BN_UC_OTHER}, {BN_UC_INVALID_BASE + 0xFF, BN_UC_OTHER},
        {0x20000, BN_UC_LETTER}, /* CJK extension B: a <..., First>/<..., Last> range */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ck_assert_msg(bn_uc_class(cases[i].cp) == cases[i].cls, "U+%04X: class %d, expected %d",
                      cases[i].cp, bn_uc_class(cases[i].cp), cases[i].cls);
}
END_TEST

START_TEST(test_utf8)
{
    uint32_t cp;
    ck_assert_uint_eq(bnr_utf8_decode((const unsigned char *)"\xE2\x82\xAC", 3, &cp), 3);
    ck_assert_uint_eq(cp, 0x20AC);
    ck_assert_uint_eq(bnr_utf8_decode((const unsigned char *)"\xF0\x9F\x98\x80", 4, &cp), 4);
    ck_assert_uint_eq(cp, 0x1F600);
    /* truncated, bad continuation, lone continuation, 0xFF: one invalid byte each */
    ck_assert_uint_eq(bnr_utf8_decode((const unsigned char *)"\xE2\x82", 2, &cp), 1);
    ck_assert_uint_eq(cp, BN_UC_INVALID_BASE + 0xE2);
    ck_assert_uint_eq(bnr_utf8_decode((const unsigned char *)"\xE2\x41\x41", 3, &cp), 1);
    ck_assert_uint_eq(bnr_utf8_decode((const unsigned char *)"\x80", 1, &cp), 1);
    ck_assert_uint_eq(cp, BN_UC_INVALID_BASE + 0x80);
    ck_assert_uint_eq(bnr_utf8_decode((const unsigned char *)"\xFF", 1, &cp), 1);
    char buf[4];
    for (uint32_t c = 0; c < 0x110000; c += 0x101) {
        size_t l = bnr_utf8_encode(c, buf);
        ck_assert_uint_eq(bnr_utf8_decode((const unsigned char *)buf, l, &cp), l);
        ck_assert_uint_eq(cp, c);
    }
    /* strict checking used by the stream: overlongs and surrogates refused */
    ck_assert_int_eq(bnu_utf8_char((const unsigned char *)"\xC0\x80", 2), -1);
    ck_assert_int_eq(bnu_utf8_char((const unsigned char *)"\xED\xA0\x80", 3), -1);
    ck_assert_int_eq(bnu_utf8_char((const unsigned char *)"\xF4\x90\x80\x80", 4), -1);
    ck_assert_int_eq(bnu_utf8_char((const unsigned char *)"\xF0\x9F", 2), 0);
    ck_assert_int_eq(bnu_utf8_char((const unsigned char *)"\xF0\x9F\x98\x80", 4), 4);
}
END_TEST

START_TEST(test_gpt2_byte_map)
{
    int seen[0x144] = {0};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = bnr_gpt2_byte_cp((unsigned char)b);
        ck_assert_uint_lt(cp, 0x144);
        ck_assert_int_eq(seen[cp], 0);
        seen[cp] = 1;
        ck_assert_int_eq(bnr_gpt2_cp_byte(cp), b);
    }
    ck_assert_uint_eq(bnr_gpt2_byte_cp(' '), 0x120);  /* 'Ġ' */
    ck_assert_uint_eq(bnr_gpt2_byte_cp('\n'), 0x10A); /* 'Ċ' */
    ck_assert_uint_eq(bnr_gpt2_byte_cp(0xAD), 0x143);
    ck_assert_uint_eq(bnr_gpt2_byte_cp('!'), '!');
    ck_assert_int_eq(bnr_gpt2_cp_byte(0x144), -1);
    ck_assert_int_eq(bnr_gpt2_cp_byte(0x20), -1);
}
END_TEST

/* ---- pre-tokenizers ------------------------------------------------------------------ */

typedef struct {
    char buf[1024];
    size_t n;
} joined;

static int collect(void *ctx, const char *w, size_t n)
{
    joined *j = ctx;
    if (j->n)
        j->buf[j->n++] = '|';
    memcpy(j->buf + j->n, w, n);
    j->n += n;
    j->buf[j->n] = '\0';
    return 0;
}

static void expect_split(bn_tok_pre pre, const char *text, const char *want)
{
    joined j = {{0}, 0};
    ck_assert_int_eq(bnr_pretok_split(pre, text, strlen(text), collect, &j), 0);
    ck_assert_msg(strcmp(j.buf, want) == 0, "pre %d: '%s' split as '%s', expected '%s'", (int)pre, text,
                  j.buf, want);
}

START_TEST(test_pretok_llama3)
{
    bn_tok_pre p = BN_TOKPRE_LLAMA3;
    expect_split(p, "Hello world", "Hello| world");
    expect_split(p, "Hello  world", "Hello| | world");
    expect_split(p, "I'M don't", "I|'M| don|'t");
    expect_split(p, "12345 67", "123|45| |67");
    expect_split(p, "a\r\n\r\nb", "a|\r\n\r\n|b");
    expect_split(p, "x   \n  y", "x|   \n| | y");
    expect_split(p, "(hello)", "(hello|)");
    expect_split(p, "$100!!\n", "$|100|!!\n");
    expect_split(p, "a\xC2\xA0" "b", "a|\xC2\xA0" "b");        /* NBSP is \s, not \r\n: joins the letters */
    expect_split(p, "e\xCC\x81x", "e|\xCC\x81x");              /* a combining mark is not \p{L} */
    expect_split(p, "\xE6\x97\xA5\xE6\x9C\xAC 5", "\xE6\x97\xA5\xE6\x9C\xAC| |5");
    expect_split(p, "end  ", "end|  ");
    expect_split(p, "a\xFF" "b", "a|\xFF" "b");                /* an invalid byte is "other" */
}
END_TEST

START_TEST(test_pretok_gpt2)
{
    bn_tok_pre p = BN_TOKPRE_GPT2;
    expect_split(p, "Hello world", "Hello| world");
    expect_split(p, "I'M don't", "I|'|M| don|'t");
    expect_split(p, "12345 123abc", "12345| 123|abc");
    expect_split(p, "a  b", "a| | b");
    expect_split(p, "a  ", "a|  ");
    expect_split(p, " ?!x", " ?!|x");
    expect_split(p, "a\r\n\r\nb", "a|\r\n\r|\n|b");
}
END_TEST

START_TEST(test_pretok_default)
{
    bn_tok_pre p = BN_TOKPRE_DEFAULT;
    expect_split(p, "a+b=12345", "a|+|b|=|123|45");
    expect_split(p, "hello, world", "hello|,| world");
    expect_split(p, "x 1234567", "x| |123|456|7");
}
END_TEST

START_TEST(test_pre_names)
{
    bn_tok_pre p;
    ck_assert_int_eq(bn_tok_pre_from_name("llama-bpe", &p), 0);
    ck_assert_int_eq(p, BN_TOKPRE_LLAMA3);
    ck_assert_int_eq(bn_tok_pre_from_name("falcon3", &p), 0);
    ck_assert_int_eq(p, BN_TOKPRE_LLAMA3);
    ck_assert_int_eq(bn_tok_pre_from_name("mpt", &p), 0);
    ck_assert_int_eq(p, BN_TOKPRE_GPT2);
    ck_assert_int_eq(bn_tok_pre_from_name("olmo", &p), 0);
    ck_assert_int_eq(p, BN_TOKPRE_GPT2);
    ck_assert_int_eq(bn_tok_pre_from_name(NULL, &p), 0);
    ck_assert_int_eq(p, BN_TOKPRE_DEFAULT);
    ck_assert_int_eq(bn_tok_pre_from_name("qwen2", &p), -1);
}
END_TEST

/* ---- llama.cpp conformance ------------------------------------------------------------ */

static void show_mismatch(void *ctx, size_t index, const char *text, size_t len, const int32_t *want,
                          size_t n_want, const int32_t *got, size_t n_got)
{
    (void)ctx;
    (void)want;
    (void)got;
    fprintf(stderr, "string %zu '%.*s': expected %zu ids, got %zu\n", index, (int)len, text, n_want, n_got);
}

static void conformance(const char *name)
{
    char inp[256], out[256];
    snprintf(inp, sizeof inp, "data/tokenizer-tests/%s.inp", name);
    snprintf(out, sizeof out, "data/tokenizer-tests/%s.out", name);
    bn_tokenizer *t = load(name);
    bn_error e;
    size_t n, bad;
    char inp_path[4096];
    snprintf(inp_path, sizeof inp_path, "%s", tu_shared(inp));
    ck_assert_msg(bn_tokenizer_vocab_test(t, inp_path, tu_shared(out), show_mismatch, NULL, &n, &bad, &e) == BN_OK,
                  "%s", e.msg);
    ck_assert_uint_eq(n, 46);
    ck_assert_uint_eq(bad, 0);
    bn_tokenizer_free(t);
}

START_TEST(test_conformance_llama_spm) { conformance("ggml-vocab-llama-spm.gguf"); }
END_TEST

START_TEST(test_conformance_gpt2) { conformance("ggml-vocab-gpt-2.gguf"); }
END_TEST

/* The vocab-test reader itself must notice a wrong expectation. */
START_TEST(test_vocab_test_detects_mismatch)
{
    bn_tokenizer *t = load("ggml-vocab-gpt-2.gguf");
    const char *inp = tu_tmp("vt.inp"), *out = tu_tmp("vt.out"), *bad_out = tu_tmp("vt_bad.out");
    const char text[] = "Hello world\n__ggml_vocab_test__\n\n__ggml_vocab_test__\n";
    ck_assert_int_eq(tu_write(inp, text, sizeof text - 1), 0);
    ck_assert_int_eq(tu_write(out, " 15496 995\n\n", 12), 0);
    size_t n, bad;
    bn_error e;
    ck_assert_msg(bn_tokenizer_vocab_test(t, inp, out, NULL, NULL, &n, &bad, &e) == BN_OK, "%s", e.msg);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(bad, 0);
    ck_assert_int_eq(tu_write(out, " 15496 996\n\n", 12), 0);
    ck_assert_int_eq(bn_tokenizer_vocab_test(t, inp, out, NULL, NULL, &n, &bad, &e), BN_OK);
    ck_assert_uint_eq(bad, 1);
    ck_assert_int_eq(tu_write(bad_out, " 15496 x\n", 9), 0);
    ck_assert_int_eq(bn_tokenizer_vocab_test(t, inp, bad_out, NULL, NULL, &n, &bad, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "vt_bad.out:1"));
    ck_assert_int_eq(tu_write(bad_out, " 15496 995\n", 11), 0); /* one line for two strings */
    ck_assert_int_eq(bn_tokenizer_vocab_test(t, inp, bad_out, NULL, NULL, &n, &bad, &e), BN_EINVAL);
    bn_tokenizer_free(t);
}
END_TEST

/* ---- round trips and edge cases ---------------------------------------------------------- */

static void roundtrip_wiki(const char *name)
{
    bn_tokenizer *t = load(name);
    size_t len;
    char *text = (char *)tu_read(tu_shared("data/wikitext-2/wiki.test.raw"), &len);
    ck_assert_ptr_nonnull(text);
    size_t lines = 0;
    for (size_t a = 0; a < len;) {
        const char *nl = memchr(text + a, '\n', len - a);
        size_t b = nl ? (size_t)(nl - text) : len;
        roundtrip(t, text + a, b - a);
        lines++;
        a = b + 1;
    }
    ck_assert_uint_gt(lines, 4000);
    free(text);
    bn_tokenizer_free(t);
}

START_TEST(test_roundtrip_wiki_spm) { roundtrip_wiki("ggml-vocab-llama-spm.gguf"); }
END_TEST

START_TEST(test_roundtrip_wiki_gpt2) { roundtrip_wiki("ggml-vocab-gpt-2.gguf"); }
END_TEST

/* Strings every tokenizer must take and give back byte for byte. */
static const char *const EDGE[] = {
    "e\xCC\x81 a\xCC\x88\xCC\x81 combining marks",
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE4\xB8\xAD\xE6\x96\x87 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
    "family \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 thumbs \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
    "nbsp\xC2\xA0" "em\xE2\x80\x83" "ideo\xE3\x80\x80" "nnbsp\xE2\x80\xAF" "zwsp\xE2\x80\x8B" "end",
    "crlf\r\nline\r\n\r\n  indented\r\n",
    "tabs\t\t\tand\x0B" "vt\x0C" "ff",
    "\xEF\xBB\xBF" "BOM first",
    "invalid \xFF\xFE bytes \x80 lone \xC3 cut \xE2\x82 cut3 \xF0\x9F\x98 cut4",
    "overlong \xC0\xAF surrogate \xED\xA0\x80 big \xF4\x90\x80\x80",
    "nul \0 inside",
    " leading space",
    "trailing spaces   ",
};

static void edge_cases(const bn_tokenizer *t)
{
    for (size_t i = 0; i < sizeof EDGE / sizeof *EDGE; i++) {
        size_t n = strlen(EDGE[i]);
        if (strncmp(EDGE[i], "nul ", 4) == 0)
            n = 13; /* through the embedded NUL */
        roundtrip(t, EDGE[i], n);
    }
    /* long runs: 3000 spaces, 3000 digits, 3000 letters without a space */
    char *big = malloc(3000);
    ck_assert_ptr_nonnull(big);
    const char fill[3] = {' ', '7', 'q'};
    for (int k = 0; k < 3; k++) {
        memset(big, fill[k], 3000);
        roundtrip(t, big, 3000);
    }
    /* every byte value, in a row */
    for (int i = 0; i < 256; i++)
        big[i] = (char)i;
    roundtrip(t, big, 256);
    /* random bytes, biased towards UTF-8 lead/continuation bytes and spaces */
    static const unsigned char pool[] = {' ', ' ', 'a', '1', '\n', '\r', 0x80, 0xBF, 0xC3, 0xE2, 0xF0, 0xFF, 0x00, '<', 's', '>'};
    uint64_t rs = 2463534242u;
    for (int k = 0; k < 300; k++) {
        size_t n = (size_t)(bn_rng_next(&rs) % 64);
        for (size_t i = 0; i < n; i++) {
            uint32_t x = (uint32_t)(bn_rng_next(&rs) >> 32);
            big[i] = (char)((x & 256) ? pool[x % sizeof pool] : (unsigned char)x);
        }
        roundtrip(t, big, n);
    }
    free(big);
}

START_TEST(test_edge_cases_spm)
{
    bn_tokenizer *t = load("ggml-vocab-llama-spm.gguf");
    edge_cases(t);
    bn_tokenizer_free(t);
}
END_TEST

START_TEST(test_edge_cases_gpt2)
{
    bn_tokenizer *t = load("ggml-vocab-gpt-2.gguf");
    edge_cases(t);
    bn_tokenizer_free(t);
}
END_TEST

/* Digits: llama-spm splits them one per token (its vocabulary has no
 * multi-digit pieces); invalid bytes become <0xNN> byte tokens. */
START_TEST(test_spm_specifics)
{
    bn_tokenizer *t = load("ggml-vocab-llama-spm.gguf");
    bn_tokens v = enc(t, "\xFF", 1, 0);
    /* "▁" then <0xFF> (id 3 + 0xFF) */
    ck_assert_uint_eq(v.n, 2);
    ck_assert_int_eq(v.ids[0], 29871);
    ck_assert_int_eq(v.ids[1], 3 + 0xFF);
    bn_tokens_free(&v);
    v = enc(t, "1234", 4, 0);
    ck_assert_uint_eq(v.n, 5);
    bn_tokens_free(&v);
    bn_tokenizer_free(t);
}
END_TEST

/* The segmented SPM encoder equals merging each fragment whole. */
START_TEST(test_spm_segments_equal_reference)
{
    bn_tokenizer *t = load("ggml-vocab-llama-spm.gguf");
    size_t len;
    char *text = (char *)tu_read(tu_shared("data/wikitext-2/wiki.test.raw"), &len);
    ck_assert_ptr_nonnull(text);
    if (len > 200000)
        len = 200000;
    bn_tokens a = enc(t, text, len, 0);
    t->spm_unsegmented = 1;
    bn_tokens b = enc(t, text, len, 0);
    ck_assert_uint_eq(a.n, b.n);
    ck_assert_int_eq(memcmp(a.ids, b.ids, a.n * sizeof *a.ids), 0);
    for (size_t i = 0; i < sizeof EDGE / sizeof *EDGE; i++) {
        bn_tokens x = enc(t, EDGE[i], strlen(EDGE[i]), 0);
        t->spm_unsegmented = 0;
        bn_tokens y = enc(t, EDGE[i], strlen(EDGE[i]), 0);
        t->spm_unsegmented = 1;
        ck_assert_uint_eq(x.n, y.n);
        ck_assert_int_eq(memcmp(x.ids, y.ids, x.n * sizeof *x.ids), 0);
        bn_tokens_free(&x);
        bn_tokens_free(&y);
    }
    bn_tokens_free(&a);
    bn_tokens_free(&b);
    free(text);
    bn_tokenizer_free(t);
}
END_TEST

/* ---- special tokens, decoding, streaming ---------------------------------------------- */

static int contains(const bn_tokens *v, int32_t id)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->ids[i] == id)
            return 1;
    return 0;
}

START_TEST(test_special_tokens_gpt2)
{
    bn_tokenizer *t = load("ggml-vocab-gpt-2.gguf");
    const char *s = "a<|endoftext|>b";
    bn_tokens v = enc(t, s, strlen(s), BN_TOK_PARSE_SPECIAL);
    ck_assert_uint_eq(v.n, 3);
    ck_assert_int_eq(v.ids[0], 64);
    ck_assert_int_eq(v.ids[1], 50256);
    ck_assert_int_eq(v.ids[2], 65);
    bn_tokens_free(&v);
    v = enc(t, s, strlen(s), 0);
    ck_assert(!contains(&v, 50256));
    ck_assert_uint_gt(v.n, 3);
    bn_tokens_free(&v);
    /* no add_bos_token key and the GPT-2 pre-tokenizer: no BOS is added */
    v = enc(t, "hi", 2, BN_TOK_ADD_SPECIAL);
    ck_assert(!contains(&v, 50256));
    bn_tokens_free(&v);
    char buf[32];
    ck_assert_int_eq(bn_tokenizer_piece(t, 50256, 0, buf, sizeof buf), 0);
    ck_assert_int_eq(bn_tokenizer_piece(t, 50256, BN_TOK_RENDER_SPECIAL, buf, sizeof buf), 13);
    ck_assert_int_eq(memcmp(buf, "<|endoftext|>", 13), 0);
    ck_assert_int_eq(bn_tokenizer_piece(t, 50257, 0, buf, sizeof buf), -1);
    ck_assert_int_eq(bn_tokenizer_piece(t, -1, 0, buf, sizeof buf), -1);
    /* truncation: the full length comes back, only cap bytes are written */
    int32_t id = bn_tokenizer_find(t, "\xC4\xA0the", 5); /* "Ġthe" */
    ck_assert_int_ge(id, 0);
    memset(buf, 'X', sizeof buf);
    ck_assert_int_eq(bn_tokenizer_piece(t, id, 0, buf, 2), 4);
    ck_assert_int_eq(memcmp(buf, " tX", 3), 0);
    bn_tokenizer_free(t);
}
END_TEST

START_TEST(test_special_and_decode_spm)
{
    bn_tokenizer *t = load("ggml-vocab-llama-spm.gguf");
    ck_assert_int_eq(bn_tokenizer_bos(t), 1);
    ck_assert_int_eq(bn_tokenizer_eos(t), 2);
    ck_assert_int_eq(bn_tokenizer_add_bos(t), 1);
    bn_tokens v = enc(t, "<s>Hello", 8, BN_TOK_PARSE_SPECIAL);
    ck_assert_int_eq(v.ids[0], 1);
    ck_assert_uint_eq(v.n, 2); /* "▁Hello": a space prefix follows a special token */
    bn_tokens_free(&v);
    v = enc(t, "<s>Hello", 8, 0);
    ck_assert(!contains(&v, 1));
    bn_tokens_free(&v);

    v = enc(t, "Hello world", 11, BN_TOK_ADD_SPECIAL);
    ck_assert_int_eq(v.ids[0], 1);
    char *out;
    size_t len;
    bn_error e;
    ck_assert_int_eq(bn_tokenizer_decode(t, v.ids, v.n, 0, &out, &len, &e), BN_OK);
    ck_assert_str_eq(out, "Hello world");
    free(out);
    ck_assert_int_eq(bn_tokenizer_decode(t, v.ids, v.n, BN_TOK_KEEP_SPACE, &out, &len, &e), BN_OK);
    ck_assert_str_eq(out, " Hello world");
    free(out);
    int32_t with_eos[3] = {v.ids[1], 2, 99999};
    ck_assert_int_eq(bn_tokenizer_decode(t, with_eos, 2, BN_TOK_RENDER_SPECIAL, &out, &len, &e), BN_OK);
    ck_assert_str_eq(out, "Hello</s>");
    free(out);
    ck_assert_int_eq(bn_tokenizer_decode(t, with_eos, 3, 0, &out, &len, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "99999"));
    ck_assert_ptr_null(out);
    bn_tokens_free(&v);
    /* an empty text is no tokens at all, with or without BOS */
    v = enc(t, "", 0, 0);
    ck_assert_uint_eq(v.n, 0);
    bn_tokens_free(&v);
    bn_tokenizer_free(t);
}
END_TEST

static size_t feed(bn_tok_stream *s, const char *p, size_t n, char *out)
{
    return bn_tok_stream_feed(s, p, n, out);
}

START_TEST(test_stream)
{
    bn_tok_stream s;
    bn_tok_stream_init(&s);
    char out[64];
    /* "€" cut into three pieces comes out whole, once */
    ck_assert_uint_eq(feed(&s, "a\xE2", 2, out), 1);
    ck_assert_int_eq(out[0], 'a');
    ck_assert_uint_eq(feed(&s, "\x82", 1, out), 0);
    ck_assert_uint_eq(feed(&s, "\xAC" "b", 2, out), 4);
    ck_assert_int_eq(memcmp(out, "\xE2\x82\xAC" "b", 4), 0);
    ck_assert_uint_eq(bn_tok_stream_flush(&s, out), 0);
    /* bytes that can never be valid: U+FFFD each */
    ck_assert_uint_eq(feed(&s, "\xFF" "x", 2, out), 4);
    ck_assert_int_eq(memcmp(out, "\xEF\xBF\xBD" "x", 4), 0);
    /* a broken sequence: the lead byte becomes U+FFFD, what follows is kept */
    ck_assert_uint_eq(feed(&s, "\xE2\x82", 2, out), 0);
    size_t n = feed(&s, "z", 1, out);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(memcmp(out, "\xEF\xBF\xBD\xEF\xBF\xBDz", 7), 0);
    /* an incomplete character at the end */
    ck_assert_uint_eq(feed(&s, "\xF0\x9F\x98", 3, out), 0);
    ck_assert_uint_eq(bn_tok_stream_flush(&s, out), 3);
    ck_assert_uint_eq(bn_tok_stream_flush(&s, out), 0);

    /* Streaming token by token reproduces the decoded text of valid UTF-8. */
    bn_tokenizer *t = load("ggml-vocab-gpt-2.gguf");
    const char *text = EDGE[2];
    bn_tokens v = enc(t, text, strlen(text), 0);
    char acc[512];
    size_t o = 0;
    bn_tok_stream_init(&s);
    for (size_t i = 0; i < v.n; i++) {
        char piece[64], buf[3 * (64 + 4)];
        long l = bn_tokenizer_piece(t, v.ids[i], 0, piece, sizeof piece);
        ck_assert(l >= 0 && l <= (long)sizeof piece);
        size_t k = bn_tok_stream_feed(&s, piece, (size_t)l, buf);
        memcpy(acc + o, buf, k);
        o += k;
    }
    o += bn_tok_stream_flush(&s, acc + o);
    ck_assert_uint_eq(o, strlen(text));
    ck_assert_int_eq(memcmp(acc, text, o), 0);
    bn_tokens_free(&v);
    bn_tokenizer_free(t);
}
END_TEST

/* bn_tok_utf8_copy: a whole buffer through one stream, NUL-terminated. */
START_TEST(test_utf8_copy)
{
    size_t n = 99;
    char *u = bn_tok_utf8_copy("a\xE2\x82\xAC\xFF" "b\xF0\x9F\x98", 9, &n);
    ck_assert_ptr_nonnull(u);
    /* valid characters kept, a stray byte and a cut-off character each U+FFFD */
    ck_assert_uint_eq(n, 1 + 3 + 3 + 1 + 3);
    ck_assert_int_eq(memcmp(u, "a\xE2\x82\xAC\xEF\xBF\xBD" "b\xEF\xBF\xBD", n + 1), 0);
    free(u);
    u = bn_tok_utf8_copy("", 0, &n);
    ck_assert_ptr_nonnull(u);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(u[0], '\0');
    free(u);
    /* the worst case fills the buffer the function sizes: every byte a U+FFFD */
    char bad[300];
    memset(bad, 0xFF, sizeof bad);
    u = bn_tok_utf8_copy(bad, sizeof bad, NULL);
    ck_assert_ptr_nonnull(u);
    ck_assert_uint_eq(strlen(u), 3 * sizeof bad);
    free(u);
}
END_TEST

/* ---- synthetic vocabularies --------------------------------------------------------------- */

/* A tiny byte-level vocabulary: a b c Ġ ab abc <tool>(user) <|ctl|>(control). */
static const char *const TINY[] = {"a", "b", "c", "\xC4\xA0", "ab", "abc", "<tool>", "<|ctl|>"};
static const int32_t TINY_TYPES[] = {1, 1, 1, 1, 1, 1, 4, 3};
static const char *const TINY_MERGES[] = {"a b", "ab c"};

static void tiny_desc(bn_vocab_desc *d)
{
    bn_vocab_desc_init(d);
    d->model = BN_TOKMODEL_BPE;
    d->pre = BN_TOKPRE_GPT2;
    d->n_tokens = 8;
    d->tokens = TINY;
    d->types = TINY_TYPES;
    d->n_merges = 2;
    d->merges = TINY_MERGES;
}

START_TEST(test_tiny_bpe)
{
    bn_vocab_desc d;
    tiny_desc(&d);
    bn_tokenizer *t;
    bn_error e;
    ck_assert_msg(bn_tokenizer_create(&d, &t, &e) == BN_OK, "%s", e.msg);
    bn_tokens v = enc(t, "abcab", 5, 0);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_int_eq(v.ids[0], 5);
    ck_assert_int_eq(v.ids[1], 4);
    bn_tokens_free(&v);
    /* user-defined tokens are matched even without BN_TOK_PARSE_SPECIAL */
    v = enc(t, "ab<tool>c", 9, 0);
    ck_assert_uint_eq(v.n, 3);
    ck_assert_int_eq(v.ids[0], 4);
    ck_assert_int_eq(v.ids[1], 6);
    ck_assert_int_eq(v.ids[2], 2);
    bn_tokens_free(&v);
    /* control tokens only with it; bytes without a token are dropped, as llama.cpp */
    v = enc(t, "a<|ctl|>", 8, 0);
    ck_assert(!contains(&v, 7));
    bn_tokens_free(&v);
    v = enc(t, "a<|ctl|>", 8, BN_TOK_PARSE_SPECIAL);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_int_eq(v.ids[1], 7);
    bn_tokens_free(&v);
    /* " ab": the space is 'Ġ' */
    v = enc(t, " ab", 3, 0);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_int_eq(v.ids[0], 3);
    ck_assert_int_eq(v.ids[1], 4);
    bn_tokens_free(&v);
    bn_tokenizer_free(t);
}
END_TEST

static void expect_bad(const bn_vocab_desc *d, bn_status want, const char *needle)
{
    bn_tokenizer *t = (bn_tokenizer *)1;
    bn_error e;
    bn_error_clear(&e);
    ck_assert_int_eq(bn_tokenizer_create(d, &t, &e), want);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
}

START_TEST(test_hostile_vocab)
{
    bn_vocab_desc d;
    tiny_desc(&d);
    d.n_tokens = 0;
    expect_bad(&d, BN_EINVAL, "no tokens");
    int32_t types[8];
    memcpy(types, TINY_TYPES, sizeof types);
    types[2] = 9;
    tiny_desc(&d);
    d.types = types;
    expect_bad(&d, BN_EINVAL, "token 2: token_type 9");
    const char *const nospace[] = {"ab"};
    tiny_desc(&d);
    d.merges = nospace;
    d.n_merges = 1;
    expect_bad(&d, BN_EINVAL, "merge 0 'ab'");
    const char *const unknown[] = {"a b", "a z"};
    d.merges = unknown;
    d.n_merges = 2;
    expect_bad(&d, BN_EINVAL, "merge 1 'a z'");
    const char *const nores[] = {"b c"};
    d.merges = nores;
    d.n_merges = 1;
    expect_bad(&d, BN_EINVAL, "the result is not a token");
    tiny_desc(&d);
    d.bos_id = 8;
    expect_bad(&d, BN_EINVAL, "bos_token_id 8");
    float scores[8] = {0};
    scores[3] = 0.0f / 0.0f;
    tiny_desc(&d);
    d.scores = scores;
    expect_bad(&d, BN_EINVAL, "token 3: score is NaN");
    /* SPM without byte tokens nor UNK: a byte that no token covers is an error at encode */
    bn_vocab_desc s;
    bn_vocab_desc_init(&s);
    const char *const spm[] = {"\xE2\x96\x81", "x"};
    s.n_tokens = 2;
    s.tokens = spm;
    bn_tokenizer *t;
    bn_error e;
    ck_assert_int_eq(bn_tokenizer_create(&s, &t, &e), BN_OK);
    bn_tokens v = {0};
    ck_assert_int_eq(bn_tokenizer_encode(t, "xy", 2, 0, &v, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "0x79"));
    bn_tokens_free(&v);
    bn_tokenizer_free(t);
}
END_TEST

/* Fuzzing found a tokenizer.json whose one id of 3,000,000 made the exporter fill 3 million
 * "[PADn]" holes; the SPM character-pair set was then sized by the vocabulary's total length
 * (a 1 GiB table). It grows with the distinct pairs instead: here ~100, for 200k tokens. */
START_TEST(test_spm_pairs_follow_distinct_pairs)
{
    enum { N = 200000 };
    char **toks = malloc(N * sizeof *toks);
    for (int i = 0; i < N; i++) {
        toks[i] = malloc(24);
        snprintf(toks[i], 24, "[PAD%d]", i);
    }
    bn_vocab_desc s;
    bn_vocab_desc_init(&s);
    s.n_tokens = N;
    s.tokens = (const char *const *)toks;
    bn_tokenizer *t;
    bn_error e;
    ck_assert_msg(bn_tokenizer_create(&s, &t, &e) == BN_OK, "%s", e.msg);
    ck_assert_uint_le(t->spm_pairs_n, 200);
    ck_assert_uint_le(t->spm_pairs_mask + 1, 1024);
    /* every pair of every token is still in the set */
    ck_assert(bnr_tok_spm_pair_possible(t, bnr_tok_pair_key("D", 1, "1", 1)));
    ck_assert(bnr_tok_spm_pair_possible(t, bnr_tok_pair_key("9", 1, "]", 1)));
    ck_assert(!bnr_tok_spm_pair_possible(t, bnr_tok_pair_key("]", 1, "[", 1)));
    bn_tokenizer_free(t);
    for (int i = 0; i < N; i++)
        free(toks[i]);
    free(toks);
}
END_TEST

/* ---- hostile GGUF metadata ---------------------------------------------------------------- */

enum { G_NO_MODEL, G_BERT, G_TOKENS_U32, G_SCORES_SHORT, G_TYPE_7, G_NO_MERGES, G_PRE_FOO,
       G_BOS_RANGE, G_BOS_STRING, G_OK };

static bn_status gguf_case(int which, bn_error *e)
{
    const char *path = tu_tmp("hostile.gguf");
    bn_gguf_writer *w;
    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, e), BN_OK);
    const char *const toks[] = {"a", "b", "ab"};
    const char *const merges[] = {"a b"};
    float scores[3] = {0, 0, 0};
    int32_t types[3] = {1, 1, which == G_TYPE_7 ? 7 : 1};
    uint32_t u[3] = {1, 2, 3};
    if (which != G_NO_MODEL)
        ck_assert_int_eq(bn_gguf_set_str(w, "tokenizer.ggml.model", which == G_BERT ? "bert" : "gpt2", e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_str(w, "tokenizer.ggml.pre", which == G_PRE_FOO ? "foo" : "gpt-2", e), BN_OK);
    if (which == G_TOKENS_U32)
        ck_assert_int_eq(bn_gguf_set_arr(w, "tokenizer.ggml.tokens", BN_GGUF_U32, u, 3, e), BN_OK);
    else
        ck_assert_int_eq(bn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3, e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "tokenizer.ggml.scores", BN_GGUF_F32, scores,
                                     which == G_SCORES_SHORT ? 2 : 3, e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "tokenizer.ggml.token_type", BN_GGUF_I32, types, 3, e), BN_OK);
    if (which != G_NO_MERGES)
        ck_assert_int_eq(bn_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1, e), BN_OK);
    if (which == G_BOS_RANGE)
        ck_assert_int_eq(bn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 3, e), BN_OK);
    if (which == G_BOS_STRING)
        ck_assert_int_eq(bn_gguf_set_str(w, "tokenizer.ggml.bos_token_id", "1", e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, e), BN_OK);
    bn_gguf *g;
    ck_assert_msg(bn_gguf_open(path, &g, e) == BN_OK, "%s", e->msg);
    bn_tokenizer *t = NULL;
    bn_status st = bn_tokenizer_from_gguf(g, &t, e);
    bn_gguf_close(g);
    if (st == BN_OK) {
        bn_tokens v = {0};
        ck_assert_int_eq(bn_tokenizer_encode(t, "ab", 2, 0, &v, e), BN_OK);
        ck_assert_uint_eq(v.n, 1);
        ck_assert_int_eq(v.ids[0], 2);
        bn_tokens_free(&v);
    }
    bn_tokenizer_free(t);
    return st;
}

START_TEST(test_hostile_gguf)
{
    static const struct {
        int which;
        bn_status st;
        const char *needle;
    } cases[] = {
        {G_NO_MODEL, BN_ENOTFOUND, "tokenizer.ggml.model"},
        {G_BERT, BN_EUNSUPPORTED, "'bert'"},
        {G_TOKENS_U32, BN_ETYPE, "tokenizer.ggml.tokens"},
        {G_SCORES_SHORT, BN_EINVAL, "scores: 2 entries for 3 tokens"},
        {G_TYPE_7, BN_EINVAL, "token_type[2] = 7"},
        {G_NO_MERGES, BN_ENOTFOUND, "tokenizer.ggml.merges"},
        {G_PRE_FOO, BN_EUNSUPPORTED, "pre 'foo'"},
        {G_BOS_RANGE, BN_EINVAL, "bos_token_id 3"},
        {G_BOS_STRING, BN_ETYPE, "bos_token_id"},
    };
    bn_error e;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bn_error_clear(&e);
        bn_status st = gguf_case(cases[i].which, &e);
        ck_assert_msg(st == cases[i].st, "case %zu: status %d (%s), expected %d", i, st, e.msg, cases[i].st);
        ck_assert_msg(strstr(e.msg, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, e.msg,
                      cases[i].needle);
    }
    ck_assert_int_eq(gguf_case(G_OK, &e), BN_OK);
}
END_TEST

/* Issue 13: every *_token_id is range- and type-checked like bos/eos; a
 * byte-level vocabulary read from a file never drops a byte of the text. */
enum { S_EOT_RANGE, S_EOM_STRING, S_EOT_BOOL, S_EOT_OK };

static bn_status special_case(int which, bn_tokenizer **out, bn_error *e)
{
    const char *path = tu_tmp("special.gguf");
    bn_gguf_writer *w;
    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, e), BN_OK);
    const char *const toks[] = {"a", "b", "ab"};
    const char *const merges[] = {"a b"};
    ck_assert_int_eq(bn_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_str(w, "tokenizer.ggml.pre", "gpt-2", e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3, e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1, e), BN_OK);
    if (which == S_EOT_RANGE)
        ck_assert_int_eq(bn_gguf_set_u32(w, "tokenizer.ggml.eot_token_id", 3, e), BN_OK);
    if (which == S_EOM_STRING)
        ck_assert_int_eq(bn_gguf_set_str(w, "tokenizer.ggml.eom_token_id", "2", e), BN_OK);
    if (which == S_EOT_BOOL)
        ck_assert_int_eq(bn_gguf_set_bool(w, "tokenizer.ggml.eot_token_id", 1, e), BN_OK);
    if (which == S_EOT_OK)
        ck_assert_int_eq(bn_gguf_set_u32(w, "tokenizer.ggml.eot_token_id", 2, e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, e), BN_OK);
    bn_gguf *g;
    ck_assert_msg(bn_gguf_open(path, &g, e) == BN_OK, "%s", e->msg);
    *out = NULL;
    bn_status st = bn_tokenizer_from_gguf(g, out, e);
    bn_gguf_close(g);
    return st;
}

START_TEST(test_special_ids_and_bytes)
{
    bn_tokenizer *t;
    bn_error e;
    ck_assert_int_eq(special_case(S_EOT_RANGE, &t, &e), BN_EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(e.msg, "'tokenizer.ggml.eot_token_id' = 3 is out of range for 3 tokens"), "%s", e.msg);
    ck_assert_int_eq(special_case(S_EOM_STRING, &t, &e), BN_ETYPE);
    ck_assert_msg(strstr(e.msg, "'tokenizer.ggml.eom_token_id' has type string"), "%s", e.msg);
    ck_assert_int_eq(special_case(S_EOT_BOOL, &t, &e), BN_ETYPE);
    ck_assert_int_eq(special_case(S_EOT_OK, &t, &e), BN_OK);
    /* "ab" encodes; 'c' has no byte token in this file: refused, not dropped */
    bn_tokens v = {0};
    ck_assert_int_eq(bn_tokenizer_encode(t, "ab", 2, 0, &v, &e), BN_OK);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_int_eq(bn_tokenizer_encode(t, "abc", 3, 0, &v, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "byte 0x63") != NULL, "%s", e.msg);
    ck_assert_int_eq(bn_tokenizer_check_bytes(t, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "no token for byte 0x00") != NULL, "%s", e.msg);
    bn_tokens_free(&v);
    bn_tokenizer_free(t);
    /* a complete byte-level vocabulary passes the byte check */
    t = load("ggml-vocab-gpt-2.gguf");
    ck_assert_int_eq(bn_tokenizer_check_bytes(t, &e), BN_OK);
    /* --vocab-test: an input without a single separated string tested nothing */
    const char *inp = tu_tmp("vt0.inp"), *out = tu_tmp("vt0.out");
    ck_assert_int_eq(tu_write(inp, "no separator here\n", 18), 0);
    ck_assert_int_eq(tu_write(out, "", 0), 0);
    size_t n, bad;
    ck_assert_int_eq(bn_tokenizer_vocab_test(t, inp, out, NULL, NULL, &n, &bad, &e), BN_EINVAL);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(e.msg, "nothing to test") != NULL, "%s", e.msg);
    bn_tokenizer_free(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *u = tcase_create("unicode");
    tcase_add_test(u, test_unicode_classes);
    tcase_add_test(u, test_utf8);
    tcase_add_test(u, test_gpt2_byte_map);
    tcase_add_test(u, test_pretok_llama3);
    tcase_add_test(u, test_pretok_gpt2);
    tcase_add_test(u, test_pretok_default);
    tcase_add_test(u, test_pre_names);
    suite_add_tcase(s, u);
    TCase *c = tcase_create("conformance");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, test_conformance_llama_spm);
    tcase_add_test(c, test_conformance_gpt2);
    tcase_add_test(c, test_vocab_test_detects_mismatch);
    tcase_add_test(c, test_roundtrip_wiki_spm);
    tcase_add_test(c, test_roundtrip_wiki_gpt2);
    tcase_add_test(c, test_edge_cases_spm);
    tcase_add_test(c, test_edge_cases_gpt2);
    tcase_add_test(c, test_spm_specifics);
    tcase_add_test(c, test_spm_segments_equal_reference);
    suite_add_tcase(s, c);
    TCase *a = tcase_create("api");
    tcase_add_test(a, test_special_tokens_gpt2);
    tcase_add_test(a, test_special_and_decode_spm);
    tcase_add_test(a, test_stream);
    tcase_add_test(a, test_utf8_copy);
    tcase_add_test(a, test_tiny_bpe);
    tcase_add_test(a, test_hostile_vocab);
    tcase_add_test(a, test_spm_pairs_follow_distinct_pairs);
    tcase_add_test(a, test_hostile_gguf);
    tcase_add_test(a, test_special_ids_and_bytes);
    suite_add_tcase(s, a);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
