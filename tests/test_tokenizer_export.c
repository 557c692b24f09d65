/* test_tokenizer_export.c - HF tokenizer directories to GGUF tokenizer KVs:
 * the real Llama-3 and Llama-2 tokenizer.json files and a SentencePiece
 * tokenizer.model fixture, each written to a GGUF, loaded by the runtime
 * tokenizer and checked against ids that Hugging Face / sentencepiece
 * produced; metadata compared with llama.cpp's own vocab GGUFs; malformed
 * inputs rejected with a message. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bn/gguf.h"
#include "bn/tokenizer.h"
#include "bn/tokenizer_export.h"
#include "convert/spm_proto.h"
#include "testutil.h"

/* Export hf_dir into a vocab-only GGUF at gguf_path and load it back. */
static bn_tokenizer *export_and_load(const char *hf_dir, const char *gguf_path, bn_tokexport **tx_out)
{
    bn_error e;
    bn_tokexport *tx = NULL;
    ck_assert_msg(bn_tokexport_load(hf_dir, &tx, &e) == BN_OK, "%s", e.msg);
    bn_gguf_writer *w;
    ck_assert_msg(bn_gguf_writer_open(gguf_path, 0, &w, &e) == BN_OK, "%s", e.msg);
    ck_assert_msg(bn_tokexport_write_kvs(tx, w, &e) == BN_OK, "%s", e.msg);
    ck_assert_msg(bn_gguf_writer_finish(w, &e) == BN_OK, "%s", e.msg);
    bn_gguf *g;
    ck_assert_msg(bn_gguf_open(gguf_path, &g, &e) == BN_OK, "%s", e.msg);
    bn_tokenizer *t;
    ck_assert_msg(bn_tokenizer_from_gguf(g, &t, &e) == BN_OK, "%s", e.msg);
    bn_gguf_close(g);
    if (tx_out)
        *tx_out = tx;
    else
        bn_tokexport_free(tx);
    return t;
}

static void show_mismatch(void *ctx, size_t index, const char *text, size_t len, const int32_t *want,
                          size_t n_want, const int32_t *got, size_t n_got)
{
    (void)ctx;
    fprintf(stderr, "string %zu '%.*s': expected %zu ids, got %zu:", index, (int)len, text, n_want, n_got);
    for (size_t i = 0; i < n_got; i++)
        fprintf(stderr, " %d%s", got[i], i < n_want && want[i] == got[i] ? "" : "*");
    fputc('\n', stderr);
}

static void expect_vocab_test(const bn_tokenizer *t, const char *inp, const char *out, size_t n_expected)
{
    bn_error e;
    size_t n, bad;
    ck_assert_msg(bn_tokenizer_vocab_test(t, inp, out, show_mismatch, NULL, &n, &bad, &e) == BN_OK,
                  "%s", e.msg);
    ck_assert_uint_eq(n, n_expected);
    ck_assert_uint_eq(bad, 0);
}

START_TEST(test_llama3_conformance)
{
    bn_tokexport *tx;
    bn_tokenizer *t = export_and_load(tu_shared("data/tokenizers/llama3"), tu_tmp("llama3.gguf"), &tx);
    ck_assert_str_eq(bn_tokexport_model(tx), "gpt2");
    ck_assert_str_eq(bn_tokexport_pre(tx), "llama-bpe");
    ck_assert_uint_eq(bn_tokexport_vocab_size(tx), 128256);
    ck_assert_uint_eq(bn_tokexport_n_merges(tx), 280147);
    ck_assert_int_eq(bn_tokexport_type(tx, 127999), 1);
    ck_assert_int_eq(bn_tokexport_type(tx, 128000), 3);
    ck_assert_int_eq(bn_tokexport_type(tx, 128255), 3);
    ck_assert_int_eq(bn_tokexport_special(tx, 'b'), 128000);
    ck_assert_int_eq(bn_tokexport_special(tx, 'e'), 128001);
    bn_tokexport_free(tx);
    ck_assert_int_eq(bn_tokenizer_pre(t), BN_TOKPRE_LLAMA3);
    bn_gguf *g;
    bn_error e;
    bn_str ct, pre;
    ck_assert_int_eq(bn_gguf_open(tu_tmp("llama3.gguf"), &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_get_str(g, "tokenizer.chat_template", &ct, &e), BN_OK);
    ck_assert(ct.len > 100 && memcmp(ct.ptr, "{% set loop_messages", 20) == 0);
    ck_assert_int_eq(bn_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &e), BN_OK);
    ck_assert(pre.len == 9 && memcmp(pre.ptr, "llama-bpe", 9) == 0);
    ck_assert_ptr_null(bn_gguf_find_kv(g, "tokenizer.ggml.add_bos_token")); /* not in the sources */
    bn_gguf_close(g);
    expect_vocab_test(t, tu_shared("data/tokenizer-tests/ggml-vocab-llama-bpe.gguf.inp"),
                      tu_shared("data/tokenizer-tests/ggml-vocab-llama-bpe.gguf.out"), 46);
    bn_tokenizer_free(t);
}
END_TEST

START_TEST(test_llama2_json_conformance)
{
    bn_tokexport *tx;
    bn_tokenizer *t = export_and_load(tu_shared("data/tokenizers/llama2"), tu_tmp("llama2.gguf"), &tx);
    ck_assert_str_eq(bn_tokexport_model(tx), "llama");
    expect_vocab_test(t, tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf.inp"),
                      tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf.out"), 46);
    /* the KV names and types of FORMATS.md §5 */
    static const struct {
        const char *key;
        bn_gguf_vtype type, elem;
    } kvs[] = {
        {"tokenizer.ggml.model", BN_GGUF_STRING, 0},      {"tokenizer.ggml.tokens", BN_GGUF_ARRAY, BN_GGUF_STRING},
        {"tokenizer.ggml.scores", BN_GGUF_ARRAY, BN_GGUF_F32}, {"tokenizer.ggml.token_type", BN_GGUF_ARRAY, BN_GGUF_I32},
        {"tokenizer.ggml.bos_token_id", BN_GGUF_U32, 0},  {"tokenizer.ggml.eos_token_id", BN_GGUF_U32, 0},
        {"tokenizer.ggml.unknown_token_id", BN_GGUF_U32, 0}, {"tokenizer.ggml.add_bos_token", BN_GGUF_BOOL, 0},
        {"tokenizer.ggml.add_eos_token", BN_GGUF_BOOL, 0},
    };
    bn_gguf *g;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open(tu_tmp("llama2.gguf"), &g, &e), BN_OK);
    for (size_t i = 0; i < sizeof kvs / sizeof *kvs; i++) {
        const bn_gguf_kv *kv = bn_gguf_find_kv(g, kvs[i].key);
        ck_assert_msg(kv != NULL, "%s missing", kvs[i].key);
        ck_assert_int_eq(kv->type, kvs[i].type);
        if (kv->type == BN_GGUF_ARRAY)
            ck_assert_int_eq(kv->arr_type, kvs[i].elem);
    }
    ck_assert_ptr_null(bn_gguf_find_kv(g, "tokenizer.ggml.merges"));
    ck_assert_ptr_null(bn_gguf_find_kv(g, "tokenizer.ggml.pre"));
    ck_assert_ptr_null(bn_gguf_find_kv(g, "tokenizer.ggml.add_space_prefix")); /* true: the default */
    bn_gguf_close(g);

    /* The reason for derived scores: llama.cpp's placeholder -1000 for every
     * token turns SPM into leftmost merging and loses the conformance. */
    uint32_t n = bn_tokexport_vocab_size(tx);
    const char **toks = malloc(n * sizeof *toks);
    size_t *lens = malloc(n * sizeof *lens);
    float *scores = malloc(n * sizeof *scores);
    int32_t *types = malloc(n * sizeof *types);
    ck_assert(toks && lens && scores && types);
    for (uint32_t i = 0; i < n; i++) {
        toks[i] = bn_tokexport_token(tx, i, &lens[i]);
        scores[i] = -1000.0f;
        types[i] = bn_tokexport_type(tx, i);
    }
    bn_vocab_desc d;
    bn_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = toks;
    d.token_lens = lens;
    d.scores = scores;
    d.types = types;
    d.unk_id = 0;
    bn_tokenizer *flat;
    ck_assert_int_eq(bn_tokenizer_create(&d, &flat, &e), BN_OK);
    size_t n_str, bad;
    ck_assert_int_eq(bn_tokenizer_vocab_test(flat, tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf.inp"),
                                             tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf.out"),
                                             NULL, NULL, &n_str, &bad, &e), BN_OK);
    ck_assert_uint_gt(bad, 10);
    bn_tokenizer_free(flat);
    free(toks);
    free(lens);
    free(scores);
    free(types);
    bn_tokenizer_free(t);
    bn_tokexport_free(tx);
}
END_TEST

START_TEST(test_spm_model_conformance)
{
    bn_tokenizer *t = export_and_load(tu_root("fixtures/tokenizers/spm-tiny"), tu_tmp("spm.gguf"), NULL);
    expect_vocab_test(t, tu_root("fixtures/tokenizers/spm-tiny/vocab-test.inp"),
                      tu_root("fixtures/tokenizers/spm-tiny/vocab-test.out"), 21);
    bn_tokenizer_free(t);
}
END_TEST

/* Our export of the Llama-2 tokenizer.json against llama.cpp's GGUF of the
 * same vocabulary (converted from the original tokenizer.model). */
START_TEST(test_llama2_matches_llamacpp_gguf)
{
    bn_error e;
    bn_tokexport *tx;
    ck_assert_msg(bn_tokexport_load(tu_shared("data/tokenizers/llama2"), &tx, &e) == BN_OK, "%s", e.msg);
    bn_gguf *g;
    ck_assert_msg(bn_gguf_open(tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf"), &g, &e) == BN_OK,
                  "%s", e.msg);
    const bn_gguf_kv *toks, *types;
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.tokens", BN_GGUF_STRING, &toks, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.token_type", BN_GGUF_I32, &types, &e), BN_OK);
    ck_assert_uint_eq(bn_tokexport_vocab_size(tx), toks->arr_n);
    for (uint32_t i = 0; i < toks->arr_n; i++) {
        bn_str want = bn_gguf_arr_str(g, toks, i);
        size_t len;
        const char *got = bn_tokexport_token(tx, i, &len);
        ck_assert_msg(len == want.len && memcmp(got, want.ptr, len) == 0, "token %u differs", i);
        ck_assert_msg(bn_tokexport_type(tx, i) == bn_gguf_arr_i64(types, i), "token %u: type %d, llama.cpp %lld",
                      i, bn_tokexport_type(tx, i), (long long)bn_gguf_arr_i64(types, i));
    }
    uint32_t id;
    int flag;
    ck_assert_int_eq(bn_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &id, &e), BN_OK);
    ck_assert_int_eq(bn_tokexport_special(tx, 'b'), (int32_t)id);
    ck_assert_int_eq(bn_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id, &e), BN_OK);
    ck_assert_int_eq(bn_tokexport_special(tx, 'e'), (int32_t)id);
    ck_assert_int_eq(bn_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &id, &e), BN_OK);
    ck_assert_int_eq(bn_tokexport_special(tx, 'u'), (int32_t)id);
    ck_assert_int_eq(bn_tokexport_special(tx, 'p'), -1);
    ck_assert_int_eq(bn_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag, &e), BN_OK);
    ck_assert_int_eq(flag, 1);
    /* Scores differ by design (see tokenizer_export.h 2a) but order the same
     * merges: the two that build "▁t" (-1 in llama.cpp) and "er" (-2). */
    ck_assert(bn_tokexport_score(tx, 260) > bn_tokexport_score(tx, 261));
    ck_assert(bn_tokexport_score(tx, 261) > bn_tokexport_score(tx, 1000));
    bn_gguf_close(g);
    bn_tokexport_free(tx);
}
END_TEST

static const char *const EDGE[] = {
    "e\xCC\x81 a\xCC\x88\xCC\x81 combining marks",
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
    "family \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",
    "nbsp\xC2\xA0" "em\xE2\x80\x83" "ideo\xE3\x80\x80" "end",
    "crlf\r\nline\r\n\r\n  indented\r\n",
    "invalid \xFF\xFE bytes \x80 lone \xC3 cut \xE2\x82 cut3",
    "                                    spaces",
    "1234567890123456789012345678901234567890",
};

START_TEST(test_llama3_roundtrip)
{
    bn_tokenizer *t = export_and_load(tu_shared("data/tokenizers/llama3"), tu_tmp("llama3rt.gguf"), NULL);
    size_t len;
    char *text = (char *)tu_read(tu_shared("data/wikitext-2/wiki.test.raw"), &len);
    ck_assert_ptr_nonnull(text);
    bn_error e;
    size_t lines = 0;
    for (size_t a = 0; a <= len; lines++) {
        const char *nl = a < len ? memchr(text + a, '\n', len - a) : NULL;
        size_t b = nl ? (size_t)(nl - text) : len;
        const char *s = text + a;
        size_t n = b - a;
        if (lines >= 4000 && lines - 4000 < sizeof EDGE / sizeof *EDGE) { /* edge cases in the same loop */
            s = EDGE[lines - 4000];
            n = strlen(s);
        } else {
            a = b + 1;
        }
        bn_tokens v = {0};
        ck_assert_int_eq(bn_tokenizer_encode(t, s, n, 0, &v, &e), BN_OK);
        char *out;
        size_t olen;
        ck_assert_int_eq(bn_tokenizer_decode(t, v.ids, v.n, 0, &out, &olen, &e), BN_OK);
        ck_assert_msg(olen == n && memcmp(out, s, n) == 0, "line %zu does not round-trip", lines);
        free(out);
        bn_tokens_free(&v);
    }
    ck_assert_uint_gt(lines, 4000);
    /* special tokens and BOS (no add_bos_token key: Llama-3 vocabularies add BOS) */
    bn_tokens v = {0};
    const char *s = "<|begin_of_text|>hi<|eot_id|>";
    ck_assert_int_eq(bn_tokenizer_encode(t, s, strlen(s), BN_TOK_PARSE_SPECIAL, &v, &e), BN_OK);
    ck_assert_uint_eq(v.n, 3);
    ck_assert_int_eq(v.ids[0], 128000);
    ck_assert_int_eq(v.ids[2], 128009);
    v.n = 0;
    ck_assert_int_eq(bn_tokenizer_encode(t, "hi", 2, BN_TOK_ADD_SPECIAL, &v, &e), BN_OK);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_int_eq(v.ids[0], 128000);
    bn_tokens_free(&v);
    free(text);
    bn_tokenizer_free(t);
}
END_TEST

START_TEST(test_spm_proto_fields)
{
    size_t len;
    uint8_t *data = tu_read(tu_root("fixtures/tokenizers/spm-tiny/tokenizer.model"), &len);
    ck_assert_ptr_nonnull(data);
    bn_spm_model m;
    bn_error e;
    ck_assert_msg(bnc_spm_parse(data, len, "tokenizer.model", &m, &e) == BN_OK, "%s", e.msg);
    ck_assert_uint_eq(m.n_pieces, 400);
    ck_assert_int_eq(m.model_type, 2);
    ck_assert_int_eq(m.byte_fallback, 1);
    ck_assert_int_eq(m.add_dummy_prefix, 1);
    ck_assert_int_eq(m.unk_id, 0);
    ck_assert_int_eq(m.bos_id, 1);
    ck_assert_int_eq(m.eos_id, 2);
    ck_assert_int_eq(m.pad_id, -1);
    ck_assert_int_eq(m.pieces[0].type, 2);
    ck_assert_int_eq(m.pieces[1].type, 3);
    ck_assert(m.pieces[3].len == 5 && memcmp(m.pieces[3].text, "<sep>", 5) == 0);
    ck_assert_int_eq(m.pieces[3].type, 3);
    ck_assert(m.pieces[4].len == 6 && memcmp(m.pieces[4].text, "<tool>", 6) == 0);
    ck_assert_int_eq(m.pieces[4].type, 4);
    ck_assert(m.pieces[5].len == 6 && memcmp(m.pieces[5].text, "<0x00>", 6) == 0);
    ck_assert_int_eq(m.pieces[5].type, 6);
    ck_assert(m.pieces[300].score < m.pieces[299].score);
    bnc_spm_free(&m);

    /* Every truncation and thousands of byte flips: rejected with a message or
     * parsed, never a crash or a read outside the buffer (ASan build). */
    uint8_t *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 97)) {
        memcpy(copy, data, cut);
        bn_status st = bnc_spm_parse(copy, cut, "cut", &m, &e);
        if (st == BN_OK)
            bnc_spm_free(&m);
        else
            ck_assert(e.msg[0] != '\0');
    }
    uint32_t x = 12345;
    for (int k = 0; k < 3000; k++) {
        memcpy(copy, data, len);
        for (int f = 0; f < 4; f++) {
            x = x * 1664525u + 1013904223u;
            copy[(x >> 8) % len] ^= (uint8_t)(1u << (x & 7));
        }
        bn_status st = bnc_spm_parse(copy, len, "flipped", &m, &e);
        if (st == BN_OK)
            bnc_spm_free(&m);
        else
            ck_assert(e.msg[0] != '\0');
    }
    free(copy);
    free(data);
}
END_TEST

START_TEST(test_spm_model_user_defined)
{
    bn_tokexport *tx;
    bn_tokenizer *t = export_and_load(tu_root("fixtures/tokenizers/spm-tiny"), tu_tmp("spm2.gguf"), &tx);
    ck_assert_str_eq(bn_tokexport_model(tx), "llama");
    ck_assert_ptr_null(bn_tokexport_pre(tx));
    ck_assert_int_eq(bn_tokexport_type(tx, 4), 4);
    ck_assert_int_eq(bn_tokexport_special(tx, 'b'), 1);
    bn_tokens v = {0};
    bn_error e;
    ck_assert_int_eq(bn_tokenizer_encode(t, "x<tool>", 7, 0, &v, &e), BN_OK);
    ck_assert_int_eq(v.ids[v.n - 1], 4);
    bn_tokens_free(&v);
    bn_tokexport_free(tx);
    bn_tokenizer_free(t);
}
END_TEST

/* Small well-formed sources: id gaps and config vocab_size are padded with
 * unused [PADn] tokens; pair-form merges keep spaces as U+0120; a
 * TemplateProcessing post-processor sets add_bos; configs name specials. */
START_TEST(test_small_sources)
{
    const char *dir = tu_tmp("small");
    mkdir(dir, 0755);
    char path[4096];
    const char *tj = "{\"added_tokens\": [{\"id\": 5, \"content\": \"<|x|>\", \"special\": false}],"
                     " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
                     " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\":"
                     " {\"id\": \"<|x|>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}]},"
                     " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b c\": 1, \"ab c\": 3},"
                     " \"merges\": [[\"a\", \"b c\"]]}}";
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    ck_assert_int_eq(tu_write(path, tj, strlen(tj)), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    ck_assert_int_eq(tu_write(path, "{\"vocab_size\": 8, \"eos_token_id\": [3, 0]}", 41), 0);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    const char *tc = "{\"chat_template\": [{\"name\": \"tool\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"D\"}]}";
    ck_assert_int_eq(tu_write(path, tc, strlen(tc)), 0);
    bn_tokexport *tx;
    bn_error e;
    ck_assert_msg(bn_tokexport_load(dir, &tx, &e) == BN_OK, "%s", e.msg);
    ck_assert_uint_eq(bn_tokexport_vocab_size(tx), 8);
    ck_assert_str_eq(bn_tokexport_pre(tx), "gpt-2");
    size_t len;
    ck_assert_str_eq(bn_tokexport_token(tx, 2, &len), "[PAD2]");
    ck_assert_int_eq(bn_tokexport_type(tx, 2), 5);
    ck_assert_str_eq(bn_tokexport_token(tx, 7, &len), "[PAD7]");
    ck_assert_int_eq(bn_tokexport_type(tx, 5), 3); /* looks special: <|...|> */
    ck_assert_int_eq(bn_tokexport_special(tx, 'b'), 5);
    ck_assert_int_eq(bn_tokexport_special(tx, 'e'), 3);
    ck_assert_uint_eq(bn_tokexport_n_merges(tx), 1);
    /* write and read back the KVs */
    bn_gguf_writer *w;
    const char *gp = tu_tmp("small.gguf");
    ck_assert_int_eq(bn_gguf_writer_open(gp, 0, &w, &e), BN_OK);
    ck_assert_msg(bn_tokexport_write_kvs(tx, w, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
    bn_gguf *g;
    ck_assert_int_eq(bn_gguf_open(gp, &g, &e), BN_OK);
    const bn_gguf_kv *kv;
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.merges", BN_GGUF_STRING, &kv, &e), BN_OK);
    bn_str m = bn_gguf_arr_str(g, kv, 0);
    ck_assert(m.len == 6 && memcmp(m.ptr, "a b\xC4\xA0" "c", 6) == 0);
    ck_assert_ptr_null(bn_gguf_find_kv(g, "tokenizer.ggml.scores"));
    int flag;
    ck_assert_int_eq(bn_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag, &e), BN_OK);
    ck_assert_int_eq(flag, 1);
    ck_assert_int_eq(bn_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &flag, &e), BN_OK);
    ck_assert_int_eq(flag, 0);
    bn_str ct;
    ck_assert_int_eq(bn_gguf_get_str(g, "tokenizer.chat_template", &ct, &e), BN_OK);
    ck_assert(ct.len == 1 && ct.ptr[0] == 'D');
    uint32_t id;
    ck_assert_int_eq(bn_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id, &e), BN_OK);
    ck_assert_uint_eq(id, 3);
    ck_assert_int_eq(bn_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &id, &e), BN_ENOTFOUND);
    bn_gguf_close(g);
    bn_tokexport_free(tx);
}
END_TEST

/* tests/corpus/tokenizer/: each directory is a malformed HF tokenizer. */
START_TEST(test_corpus_rejected)
{
    static const struct {
        const char *dir;
        bn_status st;
        const char *needle;
    } cases[] = {
        {"bad_json", BN_EINVAL, "tokenizer.json: not valid JSON"},
        {"top_array", BN_EINVAL, "not a JSON object"},
        {"wordpiece", BN_EUNSUPPORTED, "model.type 'WordPiece'"},
        {"vocab_id_negative", BN_EINVAL, "model.vocab['a']"},
        {"vocab_id_huge", BN_EINVAL, "model.vocab['a']"},
        {"vocab_id_fraction", BN_EINVAL, "model.vocab['a']"},
        {"dup_id", BN_EINVAL, "id 0 is both 'a' and 'b'"},
        {"dup_token", BN_EINVAL, "token 'a' appears twice"},
        {"merge_unknown", BN_EINVAL, "model.merges[0] 'a' 'x': names an unknown token"},
        {"merge_no_result", BN_EINVAL, "merged token is not in the vocabulary"},
        {"merge_bad_form", BN_EINVAL, "model.merges[0]: neither"},
        {"merge_no_space", BN_EINVAL, "model.merges[0] 'ab'"},
        {"merges_not_array", BN_EINVAL, "model.merges is not an array"},
        {"unknown_regex", BN_EUNSUPPORTED, "'\\d+'"},
        {"added_conflict", BN_EINVAL, "added_tokens: id 0 is both"},
        {"added_bad", BN_EINVAL, "added_tokens[0]"},
        {"vocab_too_small", BN_EINVAL, "vocab_size 2 is smaller"},
        {"vocab_size_pad", BN_EINVAL, "vocab_size 4000000 would pad"},
        {"vocab_id_sparse", BN_EINVAL, "the largest id 5000 leaves 4998 ids unused for 3 tokens"},
        {"config_bos_range", BN_EINVAL, "bos_token_id 99 is out of range"},
        {"config_bad_json", BN_EINVAL, "config.json: not valid JSON"},
        {"config_bos_unknown", BN_EINVAL, "bos_token names a token"},
        {"decoder_mismatch", BN_EINVAL, "id 1 is 'zz'"},
        {"empty_dir", BN_ENOTFOUND, "neither tokenizer.json nor tokenizer.model"},
        {"proto_garbage", BN_EINVAL, "tokenizer.model: varint longer than 10 bytes"},
        {"proto_truncated", BN_EINVAL, "tokenizer.model: length runs past the end"},
        {"proto_unigram", BN_EUNSUPPORTED, "model_type 1 is not BPE"},
        {"proto_group", BN_EINVAL, "unsupported wire type"},
        {"proto_bad_type", BN_EINVAL, "piece type 9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/corpus/tokenizer/%s", cases[i].dir);
        bn_tokexport *tx = (bn_tokexport *)1;
        bn_error e;
        bn_error_clear(&e);
        bn_status st = bn_tokexport_load(tu_root(rel), &tx, &e);
        ck_assert_msg(st == cases[i].st, "%s: status %d (%s), expected %d", cases[i].dir, st, e.msg,
                      cases[i].st);
        ck_assert_ptr_null(tx);
        ck_assert_msg(strstr(e.msg, cases[i].needle) != NULL, "%s: '%s' lacks '%s'", cases[i].dir, e.msg,
                      cases[i].needle);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tokenizer_export");
    TCase *tc = tcase_create("export");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_llama3_conformance);
    tcase_add_test(tc, test_llama2_json_conformance);
    tcase_add_test(tc, test_spm_model_conformance);
    tcase_add_test(tc, test_llama2_matches_llamacpp_gguf);
    tcase_add_test(tc, test_llama3_roundtrip);
    tcase_add_test(tc, test_spm_proto_fields);
    tcase_add_test(tc, test_spm_model_user_defined);
    tcase_add_test(tc, test_small_sources);
    tcase_add_test(tc, test_corpus_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
