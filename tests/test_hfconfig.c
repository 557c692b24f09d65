/* test_hfconfig.c - config.json parsing, the tensor plan and the q/k permutation. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/convert.h"
#include "testutil.h"

/* microsoft/bitnet-b1.58-2B-4T config.json (the fields that matter). */
static const char *CFG_2B4T =
    "{\"architectures\": [\"BitNetForCausalLM\"], \"model_type\": \"bitnet\","
    " \"hidden_act\": \"relu2\", \"hidden_size\": 2560, \"intermediate_size\": 6912,"
    " \"max_position_embeddings\": 4096, \"num_attention_heads\": 20, \"num_hidden_layers\": 30,"
    " \"num_key_value_heads\": 5, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0,"
    " \"tie_word_embeddings\": true, \"vocab_size\": 128256, \"bos_token_id\": 128000,"
    " \"eos_token_id\": 128001, \"quantization_config\": {\"quant_method\": \"bitnet\","
    " \"linear_class\": \"autobitlinear\", \"quantization_mode\": \"offline\"}}";

static const char *CFG_1BIT =
    "{\"architectures\": [\"BitnetForCausalLM\"], \"model_type\": \"llama\", \"hidden_act\": \"silu\","
    " \"hidden_size\": 1536, \"intermediate_size\": 4096, \"num_attention_heads\": 16,"
    " \"num_hidden_layers\": 24, \"vocab_size\": 32002, \"max_position_embeddings\": 2048,"
    " \"rms_norm_eps\": 1e-05}";

static const char *CFG_LLAMA =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 4096, \"intermediate_size\": 14336,"
    " \"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"num_hidden_layers\": 32,"
    " \"vocab_size\": 128256, \"rope_theta\": 500000.0, \"eos_token_id\": [128001, 128009],"
    " \"tie_word_embeddings\": false, \"quantization_config\": {\"quant_method\": \"bitnet\"}}";

static bn_status parse(const char *s, bn_hfconfig *c, bn_error *e)
{
    return bn_hfconfig_parse(s, strlen(s), "config.json", c, e);
}

START_TEST(test_2b4t)
{
    bn_hfconfig c;
    bn_error e;
    ck_assert_int_eq(parse(CFG_2B4T, &c, &e), BN_OK);
    ck_assert_int_eq(c.arch, BN_ARCH_BITNET_B158);
    ck_assert_str_eq(c.gguf_arch, "bitnet-b1.58");
    ck_assert_int_eq(c.act, BN_FFN_RELU2);
    ck_assert_uint_eq(c.n_embd, 2560);
    ck_assert_uint_eq(c.n_ff, 6912);
    ck_assert_uint_eq(c.n_head, 20);
    ck_assert_uint_eq(c.n_head_kv, 5);
    ck_assert_uint_eq(c.head_dim, 128);
    ck_assert_uint_eq(c.n_vocab, 128256);
    ck_assert_float_eq(c.rope_theta, 500000.0f);
    ck_assert_float_eq(c.rms_eps, 1e-5f);
    ck_assert_int_eq(c.tie_embeddings, 1);
    ck_assert_int_eq(c.offline_packed, 1);
    ck_assert_int_eq(c.bos_id, 128000);
}
END_TEST

START_TEST(test_1bitllm_defaults)
{
    bn_hfconfig c;
    bn_error e;
    ck_assert_int_eq(parse(CFG_1BIT, &c, &e), BN_OK);
    ck_assert_int_eq(c.arch, BN_ARCH_BITNET);
    ck_assert_str_eq(c.gguf_arch, "bitnet");
    ck_assert_int_eq(c.act, BN_FFN_SILU);
    ck_assert_uint_eq(c.n_head_kv, 16); /* defaults to num_attention_heads */
    ck_assert_float_eq(c.rope_theta, 10000.0f);
    ck_assert_int_eq(c.tie_embeddings, -1);
    ck_assert_int_eq(c.offline_packed, 0);
}
END_TEST

START_TEST(test_llama_bitnet)
{
    bn_hfconfig c;
    bn_error e;
    ck_assert_int_eq(parse(CFG_LLAMA, &c, &e), BN_OK);
    ck_assert_int_eq(c.arch, BN_ARCH_LLAMA);
    ck_assert_int_eq(c.eos_id, 128001);
    ck_assert_int_eq(c.tie_embeddings, 0);
    ck_assert_float_eq(c.rms_eps, 1e-6f);
}
END_TEST

static void expect_fail(const char *json, bn_status st, const char *needle)
{
    bn_hfconfig c;
    bn_error e;
    bn_error_clear(&e);
    ck_assert_int_eq(parse(json, &c, &e), st);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
    ck_assert_ptr_nonnull(strstr(e.msg, "config.json"));
}

START_TEST(test_rejections)
{
    expect_fail("{\"architectures\": [\"MistralForCausalLM\"]}", BN_EUNSUPPORTED, "BitNetForCausalLM");
    expect_fail("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64}", BN_EUNSUPPORTED,
                "quant_method");
    expect_fail("{\"hidden_size\": 64}", BN_EUNSUPPORTED, "architectures");
    expect_fail("[1,2]", BN_EINVAL, "object");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"", BN_EINVAL, "JSON");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"hidden_act\": \"gelu\"}", BN_EUNSUPPORTED,
                "gelu");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64.5,"
                " \"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 2}",
                BN_EINVAL, "hidden_size");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"vocab_size\": -3}", BN_EINVAL, "vocab_size");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"vocab_size\": 10}", BN_EINVAL, "hidden_size");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
                " \"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 3}",
                BN_EINVAL, "multiple");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
                " \"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
                " \"num_key_value_heads\": 3}",
                BN_EINVAL, "num_key_value_heads");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
                " \"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
                " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}",
                BN_EUNSUPPORTED, "llama3");
    expect_fail("{\"architectures\": [\"BitNetForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
                " \"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
                " \"rms_norm_eps\": -1}",
                BN_EINVAL, "rms_norm_eps");
}
END_TEST

/* Issue 13: values that would not survive into the GGUF and JSON that Python
 * would read differently are refused, naming the key. */
START_TEST(test_strict_values)
{
    static const struct {
        const char *from, *to, *needle;
    } cases[] = {
        {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e-50", "'rms_norm_eps' = 1e-50 does not survive"},
        {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e-39", "'rms_norm_eps' = 1e-39"},
        {"\"hidden_size\": 2560,", "\"hidden_size\": 2560, \"hidden_size\": 2048,", "key 'hidden_size' appears twice"},
        {"\"linear_class\"", "\"quant_method\": \"x\", \"linear_class\"", "key 'quant_method' appears twice in object 'quantization_config'"},
        {"\"model_type\": \"bitnet\"", "\"model_type\": \"bit\\u0000net\"", "escaped NUL"},
        {"\"model_type\": \"bitnet\"", "\"model_type\": \"bit\tnet\"", "raw control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[4096];
        const char *at = strstr(CFG_2B4T, cases[i].from);
        ck_assert_ptr_nonnull(at);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - CFG_2B4T), CFG_2B4T, cases[i].to,
                 at + strlen(cases[i].from));
        bn_hfconfig c;
        bn_error e;
        bn_error_clear(&e);
        ck_assert_int_eq(parse(buf, &c, &e), BN_EINVAL);
        ck_assert_msg(strstr(e.msg, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, e.msg,
                      cases[i].needle);
        ck_assert_msg(!strncmp(e.msg, "config.json: ", 13), "case %zu: '%s' does not name the file", i, e.msg);
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%s {}", CFG_2B4T);
    bn_hfconfig c;
    bn_error e;
    ck_assert_int_eq(parse(buf, &c, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "data after the JSON document") != NULL, "%s", e.msg);
    /* the smallest normal f32 survives, and an escaped backslash before u0000 is not a NUL */
    snprintf(buf, sizeof buf, "%s", CFG_2B4T);
    char *eps = strstr(buf, "1e-05");
    memcpy(eps, "2e-38", 5);
    ck_assert_msg(parse(buf, &c, &e) == BN_OK, "%s", e.msg);
    ck_assert(c.rms_eps > 0);
    const char *bs = strstr(CFG_2B4T, "\"bitnet\",");
    snprintf(buf, sizeof buf, "%.*s\"bit\\\\u0000net\",%s", (int)(bs - CFG_2B4T), CFG_2B4T, bs + 9);
    ck_assert_msg(parse(buf, &c, &e) == BN_OK, "%s", e.msg);
}
END_TEST

START_TEST(test_plan_b158)
{
    bn_hfconfig c;
    bn_error e;
    ck_assert_int_eq(parse(CFG_2B4T, &c, &e), BN_OK);
    bn_tensor_plan *p;
    size_t n;
    ck_assert_int_eq(bn_plan_tensors(&c, 0, &p, &n, &e), BN_OK);
    ck_assert_uint_eq(n, 1 + 30 * 11 + 1);
    ck_assert_str_eq(p[0].gguf_name, "token_embd.weight");
    ck_assert_int_eq(p[0].rows, 128256);
    /* layer 0: attn_norm, q, k, v, o, attn_sub_norm, ffn_norm, gate, up, down, ffn_sub_norm */
    ck_assert_str_eq(p[2].gguf_name, "blk.0.attn_q.weight");
    ck_assert_str_eq(p[2].hf_name, "model.layers.0.self_attn.q_proj.weight");
    ck_assert_int_eq(p[3].rows, 640); /* 5 KV heads of 128 */
    ck_assert_int_eq(p[3].cols, 2560);
    ck_assert_str_eq(p[6].hf_name, "model.layers.0.self_attn.attn_sub_norm.weight");
    ck_assert_str_eq(p[10].gguf_name, "blk.0.ffn_down.weight");
    ck_assert_int_eq(p[10].cols, 6912);
    ck_assert_str_eq(p[11].hf_name, "model.layers.0.mlp.ffn_sub_norm.weight");
    ck_assert_int_eq(p[11].cols, 6912);
    ck_assert_str_eq(p[n - 1].gguf_name, "output_norm.weight");
    free(p);
}
END_TEST

START_TEST(test_plan_llama_untied)
{
    bn_hfconfig c;
    bn_error e;
    ck_assert_int_eq(parse(CFG_LLAMA, &c, &e), BN_OK);
    bn_tensor_plan *p;
    size_t n;
    ck_assert_int_eq(bn_plan_tensors(&c, 1, &p, &n, &e), BN_OK);
    ck_assert_uint_eq(n, 1 + 32 * 9 + 2);
    ck_assert_str_eq(p[n - 1].gguf_name, "output.weight");
    ck_assert_str_eq(p[n - 1].hf_name, "lm_head.weight");
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_null(strstr(p[i].gguf_name, "sub_norm"));
    free(p);
}
END_TEST

START_TEST(test_permute_qk)
{
    /* 2 heads of head_dim 4, one byte per row: rows h*4 + {0,1,2,3} = (p=0,i=0),(p=0,i=1),(p=1,i=0),(p=1,i=1)
     * become (i=0,p=0),(i=0,p=1),(i=1,p=0),(i=1,p=1) = src rows 0,2,1,3 within each head. */
    const uint8_t src[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    uint8_t dst[8];
    ck_assert_int_eq(bn_permute_qk_rows(src, dst, 2, 4, 1, NULL), BN_OK);
    const uint8_t want[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    ck_assert_int_eq(memcmp(dst, want, 8), 0);
    ck_assert_int_eq(bn_permute_qk_rows(src, dst, 2, 3, 1, NULL), BN_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hfconfig");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_2b4t);
    tcase_add_test(tc, test_1bitllm_defaults);
    tcase_add_test(tc, test_llama_bitnet);
    tcase_add_test(tc, test_strict_values);
    tcase_add_test(tc, test_rejections);
    tcase_add_test(tc, test_plan_b158);
    tcase_add_test(tc, test_plan_llama_untied);
    tcase_add_test(tc, test_permute_qk);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
