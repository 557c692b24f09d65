/* test_model_reference.c - the runtime against the independent PyTorch reference
 * (scripts/reference_forward.py -> fixtures/reference/<model>/): the bundled models
 * converted by bn-convert (I2_S, TQ2_0, TQ1_0, F16), evaluated by the runtime, must
 * give the reference's logits at every position of the reference prompt, and its
 * greedy generation. F16 projections run in float (no int8 step), as llama.cpp runs them.
 *
 * Tolerance (issue 7): the same argmax at every position and max |Δ| <= 1e-3 ·
 * max|logit| at every position - and, stricter, 1e-5: the reference reproduces
 * the runtime's float order wherever a value feeds an int8 activation
 * quantization (RMSNorm's float squares summed in double, the attention sums,
 * exp/cos/sin/pow in double rounded once, the TQ block epilogue), so every
 * int8 activation code agrees and only the output head's summation order
 * differs (measured: worst 6e-7 on every variant). A difference above 1e-5
 * means a code flipped: a value within a double ulp of a rounding boundary
 * (~1e-9 per activation), or the two orders have drifted apart. */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/convert.h"
#include "bn/model.h"
#include "testutil.h"


static cJSON *load_json(const char *path)
{
    cJSON *j = tu_read_json(path);
    ck_assert_msg(j != NULL, "cannot read or parse %s", path);
    return j;
}

static const char *convert(const char *model, bn_type t)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s.%s.gguf", model, bn_type_name(t));
    const char *out = tu_keep(tu_tmp(rel));
    char in[512];
    snprintf(in, sizeof in, "fixtures/%s", model);
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    o.in_dir = tu_keep(tu_root(in));
    o.out_path = out;
    o.proj_type = t;
    bn_convert_result r;
    bn_error e;
    ck_assert_msg(bn_convert_run(&o, &r, &e) == BN_OK, "%s", e.msg);
    return out;
}

static int32_t *json_ids(const cJSON *arr, int *n)
{
    *n = cJSON_GetArraySize(arr);
    int32_t *ids = malloc((size_t)*n * sizeof *ids);
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return ids;
}

static void compare_logits_act(const char *model, bn_type t, bn_actq actq, const char *ref_file)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/reference/%s/logits.json", model);
    cJSON *meta = load_json(tu_root(rel));
    int n_pos;
    int32_t *ids = json_ids(cJSON_GetObjectItem(meta, "token_ids"), &n_pos);
    snprintf(rel, sizeof rel, "fixtures/reference/%s/%s", model, ref_file);
    size_t nb;
    float *want = (float *)tu_read(tu_root(rel), &nb);
    ck_assert_ptr_nonnull(want);

    bn_model *m;
    bn_error e;
    bn_model_opts mo;
    bn_model_opts_default(&mo);
    mo.actq = actq;
    ck_assert_msg(bn_model_load(convert(model, t), &mo, &m, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_model_actq(m), actq);
    int V = bn_model_hparams(m)->n_vocab;
    ck_assert_uint_eq(nb, (size_t)n_pos * (size_t)V * sizeof(float));
    float *got = tu_eval_all(m, ids, n_pos);

    char what[128];
    snprintf(what, sizeof what, "%s %s %s", model, bn_type_name(t), bn_actq_name(actq));
    double worst = tu_compare_logits(got, want, n_pos, V, 1e-5, what);
    fprintf(stderr, "%s %s %s: worst |delta| %.2e of max|logit|\n", model, bn_type_name(t),
            bn_actq_name(actq), worst);
    free(got);
    free(want);
    free(ids);
    bn_model_free(m);
    cJSON_Delete(meta);
}

static void compare_logits(const char *model, bn_type t, const char *ref_file)
{
    compare_logits_act(model, t, BN_ACTQ_TOKEN, ref_file);
}

START_TEST(test_b158_i2s) { compare_logits("tiny-b158", BN_TYPE_I2_S, "logits-i2s.f32"); }
END_TEST
START_TEST(test_b158_tq2) { compare_logits("tiny-b158", BN_TYPE_TQ2_0, "logits-tq2.f32"); }
END_TEST
START_TEST(test_b158_tq1) { compare_logits("tiny-b158", BN_TYPE_TQ1_0, "logits-tq2.f32"); }
END_TEST
/* TQ files as upstream llama.cpp evaluates them (Q8_K activations per 256-block).
 * The two activation schemes differ by ~1e-2 of max|logit| on these models, so
 * each reference tells them apart. */
START_TEST(test_b158_tq2_q8k) { compare_logits_act("tiny-b158", BN_TYPE_TQ2_0, BN_ACTQ_Q8K, "logits-tq2-q8k.f32"); }
END_TEST
START_TEST(test_b158_tq1_q8k) { compare_logits_act("tiny-b158", BN_TYPE_TQ1_0, BN_ACTQ_Q8K, "logits-tq2-q8k.f32"); }
END_TEST
START_TEST(test_bitnet_pt_tq2_q8k) { compare_logits_act("tiny-bitnet-pt", BN_TYPE_TQ2_0, BN_ACTQ_Q8K, "logits-tq2-q8k.f32"); }
END_TEST

/* q8_k is refused for projections llama.cpp does not evaluate that way, by name. */
START_TEST(test_q8k_refused_for_i2s)
{
    bn_model_opts mo;
    bn_model_opts_default(&mo);
    mo.actq = BN_ACTQ_Q8K;
    bn_model *m = NULL;
    bn_error e;
    ck_assert_int_eq(bn_model_load(convert("tiny-b158", BN_TYPE_I2_S), &mo, &m, &e), BN_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(e.msg, "I2_S") && strstr(e.msg, "q8_k"), "%s", e.msg);
    bn_actq q;
    ck_assert_int_eq(bn_actq_parse("q8_k", &q, &e), BN_OK);
    ck_assert_int_eq(q, BN_ACTQ_Q8K);
    ck_assert_int_eq(bn_actq_parse("Q8K", &q, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "'Q8K'") && strstr(e.msg, "token, q8_k"), "%s", e.msg);
}
END_TEST

START_TEST(test_b158_f16) { compare_logits("tiny-b158", BN_TYPE_F16, "logits-f16.f32"); }
END_TEST
START_TEST(test_bitnet_pt_f16) { compare_logits("tiny-bitnet-pt", BN_TYPE_F16, "logits-f16.f32"); }
END_TEST
START_TEST(test_bitnet_pt_i2s) { compare_logits("tiny-bitnet-pt", BN_TYPE_I2_S, "logits-i2s.f32"); }
END_TEST
START_TEST(test_bitnet_pt_tq2) { compare_logits("tiny-bitnet-pt", BN_TYPE_TQ2_0, "logits-tq2.f32"); }
END_TEST

/* Greedy generation from the reference prompt reproduces the reference's tokens. */
static void greedy(const char *model)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/reference/%s/generate.json", model);
    cJSON *g = load_json(tu_root(rel));
    int n_prompt, n_gen;
    int32_t *prompt = json_ids(cJSON_GetObjectItem(g, "prompt_ids"), &n_prompt);
    int32_t *want = json_ids(cJSON_GetObjectItem(g, "generated_ids"), &n_gen);
    bn_model *m;
    bn_error e;
    ck_assert_msg(bn_model_load(convert(model, BN_TYPE_I2_S), NULL, &m, &e) == BN_OK, "%s", e.msg);
    int V = bn_model_hparams(m)->n_vocab;
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = n_prompt + n_gen;
    bn_ctx *c;
    ck_assert_int_eq(bn_ctx_new(m, &cp, &c, &e), BN_OK);
    float *logits = malloc((size_t)V * sizeof *logits);
    ck_assert_int_eq(bn_ctx_eval(c, 0, prompt, n_prompt, 0, BN_LOGITS_LAST, logits, &e), BN_OK);
    for (int i = 0; i < n_gen; i++) {
        int32_t best = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[best])
                best = v;
        ck_assert_msg(best == want[i], "%s: generated token %d is %d, reference %d", model, i, best, want[i]);
        ck_assert_int_eq(bn_ctx_eval(c, 0, &best, 1, n_prompt + i, BN_LOGITS_LAST, logits, &e), BN_OK);
    }
    free(logits);
    free(prompt);
    free(want);
    bn_ctx_free(c);
    bn_model_free(m);
    cJSON_Delete(g);
}

START_TEST(test_b158_generation) { greedy("tiny-b158"); }
END_TEST
START_TEST(test_bitnet_pt_generation) { greedy("tiny-bitnet-pt"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("model_reference");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_b158_i2s);
    tcase_add_test(tc, test_b158_tq2);
    tcase_add_test(tc, test_b158_tq1);
    tcase_add_test(tc, test_b158_tq2_q8k);
    tcase_add_test(tc, test_b158_tq1_q8k);
    tcase_add_test(tc, test_bitnet_pt_tq2_q8k);
    tcase_add_test(tc, test_q8k_refused_for_i2s);
    tcase_add_test(tc, test_b158_f16);
    tcase_add_test(tc, test_bitnet_pt_f16);
    tcase_add_test(tc, test_bitnet_pt_i2s);
    tcase_add_test(tc, test_bitnet_pt_tq2);
    tcase_add_test(tc, test_b158_generation);
    tcase_add_test(tc, test_bitnet_pt_generation);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
