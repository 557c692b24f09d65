/* test_arch.c - the architecture table (include/bn/arch.h): its invariants, the
 * role names, the falcon3 row end to end (a synthetic Falcon3-*-1.58bit
 * checkpoint, fixtures/tiny-falcon3 from scripts/make_falcon3_fixture.py:
 * converts, passes --check, loads, and gives the PyTorch reference's logits),
 * and that the loader and bn-verify --check share their rules: every file the
 * loader refuses, --check reports, with the same words. */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/arch.h"
#include "bn/convert.h"
#include "bn/model.h"
#include "bn/verify.h"
#include "testutil.h"

/* ---- the table ---------------------------------------------------------------------- */

START_TEST(test_table_invariants)
{
    for (int a = 0; a < BN_ARCH_COUNT; a++) {
        const bn_arch_info *r = bn_arch_get((bn_arch)a);
        ck_assert_int_eq(r->id, a);
        ck_assert_str_eq(bn_arch_name((bn_arch)a), r->name);
        bn_arch id;
        ck_assert_int_eq(bn_arch_from_name(r->name, &id), 0);
        ck_assert_int_eq(id, a);
        /* reading the GGUF name gives a row with the same graph */
        const bn_arch_info *g = bn_arch_from_gguf(r->gguf_name, strlen(r->gguf_name));
        ck_assert_ptr_nonnull(g);
        ck_assert_int_eq(g->rope, r->rope);
        ck_assert_int_eq(g->act, r->act);
        ck_assert_int_eq(g->has_sub_norms, r->has_sub_norms);
        ck_assert_ptr_eq(g->tensors, r->tensors);
        /* globals, then one contiguous run of per-layer entries, then globals; the
         * untied head last; every role at most once; sub-norms iff has_sub_norms */
        int seen[BN_ROLE_COUNT] = {0}, runs = 0;
        for (size_t i = 0; i < r->n_tensors; i++) {
            const bn_arch_tensor *t = &r->tensors[i];
            ck_assert_int_lt(t->role, BN_ROLE_COUNT);
            ck_assert_int_ne(t->role, BN_ROLE_OTHER);
            ck_assert_int_eq(seen[t->role]++, 0);
            ck_assert_int_ne(bn_role_class_of(t->role), BN_RCLASS_NONE);
            ck_assert_int_eq(t->ne1 == BN_DIM_ONE, bn_role_class_of(t->role) == BN_RCLASS_NORM);
            if (t->per_layer && (i == 0 || !r->tensors[i - 1].per_layer))
                runs++;
            int global = t->role == BN_ROLE_TOKEN_EMBD || t->role == BN_ROLE_OUTPUT ||
                         t->role == BN_ROLE_OUTPUT_NORM;
            ck_assert_int_eq(t->per_layer, !global);
        }
        ck_assert_int_eq(runs, 1);
        ck_assert_int_eq(r->tensors[r->n_tensors - 1].role, BN_ROLE_OUTPUT);
        for (int p = 0; p < BN_ROLE_N_PROJ; p++)
            ck_assert_int_eq(seen[p], 1);
        ck_assert_int_eq(seen[BN_ROLE_ATTN_SUB_NORM], r->has_sub_norms);
        ck_assert_int_eq(seen[BN_ROLE_FFN_SUB_NORM], r->has_sub_norms);
        /* the counts the converter and loader used to hard-code */
        size_t per_layer = r->has_sub_norms ? 11 : 9;
        ck_assert_uint_eq(bn_arch_n_tensors(r, 30, 0), 2 + 30 * per_layer);
        ck_assert_uint_eq(bn_arch_n_tensors(r, 30, 1), 3 + 30 * per_layer);
    }
    /* several rows share "llama": reading it gives the llama row */
    ck_assert_int_eq(bn_arch_from_gguf("llama", 5)->id, BN_ARCH_LLAMA);
    ck_assert_ptr_null(bn_arch_from_gguf("gpt2", 4));
    ck_assert_str_eq(bn_arch_gguf_names(), "bitnet, bitnet-b1.58, llama");
    ck_assert_str_eq(bn_arch_names(), "bitnet, bitnet-b1.58, llama, falcon3");
    const bn_arch_info *f = bn_arch_get(BN_ARCH_FALCON3);
    ck_assert_str_eq(f->gguf_name, "llama");
    ck_assert_int_eq(f->head, BN_HEAD_UNTIED);
    ck_assert_str_eq(f->bpe_pre, "falcon3");
}
END_TEST

START_TEST(test_enumeration_and_shapes)
{
    const bn_arch_info *a = bn_arch_get(BN_ARCH_BITNET_B158);
    /* the 2B-4T shapes: E 2560, FF 6912, 20 heads of 128, 5 KV heads */
    bn_arch_dims d = {2560, 6912, 128256, 20, 5, 128};
    static const char *const order[] = {
        "token_embd.weight",          "blk.0.attn_norm.weight",   "blk.0.attn_q.weight",
        "blk.0.attn_k.weight",        "blk.0.attn_v.weight",      "blk.0.attn_output.weight",
        "blk.0.attn_sub_norm.weight", "blk.0.ffn_norm.weight",    "blk.0.ffn_gate.weight",
        "blk.0.ffn_up.weight",        "blk.0.ffn_down.weight",    "blk.0.ffn_sub_norm.weight",
        "blk.1.attn_norm.weight"};
    char name[96];
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const bn_arch_tensor *t;
        int64_t l;
        bn_arch_tensor_at(a, 30, 0, i, &t, &l);
        bn_arch_gguf_tensor_name(t, l, name, sizeof name);
        ck_assert_str_eq(name, order[i]);
    }
    size_t n = bn_arch_n_tensors(a, 30, 0);
    const bn_arch_tensor *t;
    int64_t l;
    bn_arch_tensor_at(a, 30, 0, n - 1, &t, &l);
    ck_assert_int_eq(t->role, BN_ROLE_OUTPUT_NORM);
    ck_assert_int_eq(l, -1);
    bn_arch_tensor_at(a, 30, 1, n, &t, &l);
    ck_assert_int_eq(t->role, BN_ROLE_OUTPUT);
    bn_arch_hf_tensor_name(t, l, name, sizeof name);
    ck_assert_str_eq(name, "lm_head.weight");
    /* attn_sub_norm is as wide as the attention output (heads x head_dim) */
    bn_arch_tensor_at(a, 30, 0, 6, &t, &l);
    ck_assert_int_eq(t->role, BN_ROLE_ATTN_SUB_NORM);
    bn_arch_dims gqa = {2048, 8192, 1000, 8, 4, 384}; /* Q = 3072 != E */
    ck_assert_int_eq(bn_arch_dim(t->ne0, &gqa), 3072);
    bn_arch_tensor_at(a, 30, 0, 3, &t, &l); /* attn_k: [E, KV] */
    ck_assert_int_eq(bn_arch_dim(t->ne0, &d), 2560);
    ck_assert_int_eq(bn_arch_dim(t->ne1, &d), 640);
    bn_arch_hf_tensor_name(t, 7, name, sizeof name);
    ck_assert_str_eq(name, "model.layers.7.self_attn.k_proj.weight");
    /* the 1bitLLM source names the sub-norms differently, same GGUF names */
    a = bn_arch_get(BN_ARCH_BITNET);
    bn_arch_tensor_at(a, 2, 0, 6, &t, &l);
    bn_arch_hf_tensor_name(t, l, name, sizeof name);
    ck_assert_str_eq(name, "model.layers.0.self_attn.inner_attn_ln.weight");
}
END_TEST

START_TEST(test_role_names)
{
    int l;
    ck_assert_int_eq(bn_role_of_name("blk.12.attn_output.weight", &l), BN_ROLE_ATTN_OUTPUT);
    ck_assert_int_eq(l, 12);
    ck_assert_int_eq(bn_role_of_name("blk.3.attn_norm.weight", &l), BN_ROLE_ATTN_NORM);
    ck_assert_int_eq(l, 3);
    ck_assert_int_eq(bn_role_of_name("model.layers.4.mlp.ffn_layernorm.weight", &l),
                     BN_ROLE_FFN_SUB_NORM);
    ck_assert_int_eq(bn_role_of_name("model.layers.4.self_attn.attn_sub_norm.weight", &l),
                     BN_ROLE_ATTN_SUB_NORM);
    ck_assert_int_eq(bn_role_of_name("token_embd.weight", &l), BN_ROLE_TOKEN_EMBD);
    ck_assert_int_eq(l, -1);
    ck_assert_int_eq(bn_role_of_name("lm_head.weight", &l), BN_ROLE_OUTPUT);
    ck_assert_int_eq(bn_role_of_name("output_norm.weight", &l), BN_ROLE_OUTPUT_NORM);
    ck_assert_int_eq(bn_role_of_name("blk.1.attn_q.weight_scale", &l), BN_ROLE_OTHER);
    ck_assert_int_eq(bn_role_of_name("rope_freqs.weight", &l), BN_ROLE_OTHER);
    ck_assert_str_eq(bn_role_name(BN_ROLE_FFN_DOWN), "ffn_down");
    ck_assert_str_eq(bn_role_name(BN_ROLE_OTHER), "other");
    ck_assert(bn_role_type_ok(BN_ROLE_ATTN_Q, BN_TYPE_I2_S));
    ck_assert(!bn_role_type_ok(BN_ROLE_ATTN_NORM, BN_TYPE_F16));
    ck_assert(bn_role_type_ok(BN_ROLE_OUTPUT, BN_TYPE_Q8_0));
    ck_assert(!bn_role_type_ok(BN_ROLE_TOKEN_EMBD, BN_TYPE_I2_S));
}
END_TEST

/* ---- falcon3, converter to runtime ------------------------------------------------------ */

static const char *convert_falcon3(const char *arch, bn_type t, const char *tag)
{
    char rel[128];
    snprintf(rel, sizeof rel, "falcon3-%s-%s.gguf", tag, bn_type_name(t));
    const char *out = tu_keep(tu_tmp(rel));
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    o.in_dir = tu_keep(tu_root("fixtures/tiny-falcon3"));
    o.out_path = out;
    o.proj_type = t;
    o.arch = arch;
    bn_convert_result r;
    bn_error e;
    ck_assert_msg(bn_convert_run(&o, &r, &e) == BN_OK, "%s", e.msg);
    ck_assert_uint_eq(r.n_already_ternary, 14); /* packed: unpacked exactly, never re-quantized */
    return out;
}

static void expect_str_kv(const bn_gguf *g, const char *key, const char *want)
{
    bn_str s;
    bn_error e;
    ck_assert_msg(bn_gguf_get_str(g, key, &s, &e) == BN_OK, "%s: %s", key, e.msg);
    ck_assert_msg(s.len == strlen(want) && !memcmp(s.ptr, want, s.len), "%s is '%.*s', want '%s'",
                  key, (int)s.len, s.ptr, want);
}

static void falcon3_logits(bn_type t, const char *ref_file)
{
    const char *path = convert_falcon3("falcon3", t, "f3");
    bn_gguf *g;
    bn_error e;
    ck_assert_msg(bn_gguf_open(path, &g, &e) == BN_OK, "%s", e.msg);
    /* as llama.cpp's converter writes a Falcon3 model */
    expect_str_kv(g, "general.architecture", "llama");
    expect_str_kv(g, "tokenizer.ggml.pre", "falcon3");
    ck_assert_ptr_nonnull(bn_gguf_find_tensor(g, "output.weight"));
    ck_assert_ptr_null(bn_gguf_find_tensor(g, "blk.0.attn_sub_norm.weight"));
    bn_check_report rep;
    ck_assert_int_eq(bn_check_gguf(g, &rep, &e), BN_OK);
    ck_assert_msg(rep.n == 0, "--check: %s", rep.n ? rep.items[0] : "");
    ck_assert_uint_eq(rep.n_tensors_checked, 21);
    bn_check_report_free(&rep);

    bn_model *m;
    ck_assert_msg(bn_model_load_gguf(g, NULL, &m, &e) == BN_OK, "%s", e.msg);
    const bn_hparams *hp = bn_model_hparams(m);
    ck_assert_int_eq(hp->arch, BN_ARCH_LLAMA);
    ck_assert_int_eq(hp->rope, BN_ROPE_NORM);
    ck_assert_int_eq(hp->tied_output, 0);
    ck_assert_int_eq(hp->head_dim, 128);
    ck_assert_int_eq(hp->n_head_kv, 1);

    cJSON *meta = tu_read_json(tu_root("fixtures/reference/tiny-falcon3/logits.json"));
    ck_assert_ptr_nonnull(meta);
    const cJSON *jids = cJSON_GetObjectItem(meta, "token_ids");
    int n_pos = cJSON_GetArraySize(jids);
    int32_t *ids = malloc((size_t)n_pos * sizeof *ids);
    for (int i = 0; i < n_pos; i++)
        ids[i] = (int32_t)cJSON_GetArrayItem(jids, i)->valuedouble;
    char rel[128];
    snprintf(rel, sizeof rel, "fixtures/reference/tiny-falcon3/%s", ref_file);
    size_t nb;
    float *want = (float *)tu_read(tu_root(rel), &nb);
    ck_assert_ptr_nonnull(want);
    int V = hp->n_vocab;
    ck_assert_uint_eq(nb, (size_t)n_pos * (size_t)V * sizeof(float));

    float *got = tu_eval_all(m, ids, n_pos);
    /* the bundled models' bound (test_model_reference.c): every int8 code agrees */
    char what[64];
    snprintf(what, sizeof what, "tiny-falcon3 %s", bn_type_name(t));
    double worst = tu_compare_logits(got, want, n_pos, V, 1e-5, what);
    fprintf(stderr, "tiny-falcon3 %s: worst |delta| %.2e of max|logit|\n", bn_type_name(t), worst);
    free(got);
    free(want);
    free(ids);
    cJSON_Delete(meta);
    bn_model_free(m);
}

START_TEST(test_falcon3_i2s) { falcon3_logits(BN_TYPE_I2_S, "logits-i2s.f32"); }
END_TEST

START_TEST(test_falcon3_tq2) { falcon3_logits(BN_TYPE_TQ2_0, "logits-tq2.f32"); }
END_TEST

/* Without --arch the same checkpoint is a llama one: the same tensors, the
 * pre-tokenizer under its generic name. */
START_TEST(test_falcon3_vs_llama)
{
    const char *a = convert_falcon3("falcon3", BN_TYPE_I2_S, "a");
    const char *b = convert_falcon3(NULL, BN_TYPE_I2_S, "b");
    bn_gguf *ga, *gb;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open(a, &ga, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_open(b, &gb, &e), BN_OK);
    expect_str_kv(gb, "general.architecture", "llama");
    expect_str_kv(gb, "tokenizer.ggml.pre", "llama-bpe");
    ck_assert_int_eq(bn_gguf_n_tensors(ga), bn_gguf_n_tensors(gb));
    for (int64_t i = 0; i < bn_gguf_n_tensors(ga); i++) {
        const bn_gguf_tensor *x = bn_gguf_tensor_at(ga, i), *y = bn_gguf_tensor_at(gb, i);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_uint_eq(x->nbytes, y->nbytes);
        ck_assert_msg(!memcmp(x->data, y->data, x->nbytes), "%s differs", x->name);
    }
    bn_gguf_close(ga);
    bn_gguf_close(gb);
}
END_TEST

/* falcon3 by name: only for its HF class and quantization, and only untied. */
START_TEST(test_falcon3_refusals)
{
    bn_hfconfig cfg;
    bn_error e;
    ck_assert_int_eq(bn_hfconfig_load(tu_root("fixtures/tiny-b158"), &cfg, &e), BN_OK);
    ck_assert_int_eq(bn_hfconfig_select(&cfg, "falcon3", "tiny-b158", &e), BN_EUNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "LlamaForCausalLM") && strstr(e.msg, "BitNetForCausalLM"), "%s",
                  e.msg);
    ck_assert_int_eq(bn_hfconfig_select(&cfg, "no-such-arch", "x", &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "falcon3"), "%s", e.msg); /* lists the known ones */

    /* a tied checkpoint is not a falcon3 one */
    const char *dir = tu_keep(tu_tmp("falcon3-tied"));
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"tie_word_embeddings\": false/"
             "\"tie_word_embeddings\": true/' '%s/config.json'",
             dir, tu_root("fixtures/tiny-falcon3"), dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL), 0);
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    o.in_dir = dir;
    o.out_path = tu_tmp("falcon3-tied.gguf");
    o.arch = "falcon3";
    bn_convert_result r;
    ck_assert_int_ne(bn_convert_run(&o, &r, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "untied"), "%s", e.msg);
    ck_assert(!tu_exists(o.out_path));
}
END_TEST

/* ---- the loader and --check share their rules ------------------------------------------- */

/* The loader refuses path naming `needle` (exit 2); --check lists a problem with
 * the same words. */
static void both_refuse(const char *path, const char *needle)
{
    bn_model *m = NULL;
    bn_error e;
    bn_error_clear(&e);
    bn_status st = bn_model_load(path, NULL, &m, &e);
    ck_assert_msg(st != BN_OK, "the loader accepted a file with %s", needle);
    ck_assert_int_eq(bn_status_exit_code(st), 2);
    ck_assert_msg(strstr(e.msg, needle), "loader: '%s' lacks '%s'", e.msg, needle);

    bn_gguf *g;
    ck_assert_msg(bn_gguf_open(path, &g, &e) == BN_OK, "%s", e.msg);
    bn_check_report r;
    ck_assert_int_eq(bn_check_gguf(g, &r, &e), BN_OK);
    int found = 0;
    for (size_t i = 0; i < r.n; i++)
        found |= strstr(r.items[i], needle) != NULL;
    ck_assert_msg(found, "--check did not report '%s' (%zu problems%s%s)", needle, r.n,
                  r.n ? ", first: " : "", r.n ? r.items[0] : "");
    bn_check_report_free(&r);
    bn_gguf_close(g);
}

START_TEST(test_loader_and_check_agree)
{
    const char *i2s = tu_synth("agree-i2s.gguf", "--layers 2");
    const char *tq2 = tu_synth("agree-tq2.gguf", "--layers 2 --type tq2_0");
    const char *bad = tu_keep(tu_tmp("agree-bad.gguf"));
    /* the good files: both accept */
    const char *good[] = {i2s, tq2};
    for (int i = 0; i < 2; i++) {
        bn_model *m;
        bn_error e;
        ck_assert_msg(bn_model_load(good[i], NULL, &m, &e) == BN_OK, "%s", e.msg);
        bn_model_free(m);
        bn_gguf *g;
        ck_assert_int_eq(bn_gguf_open(good[i], &g, &e), BN_OK);
        bn_check_report r;
        ck_assert_int_eq(bn_check_gguf(g, &r, &e), BN_OK);
        ck_assert_msg(r.n == 0, "%s", r.n ? r.items[0] : "");
        bn_check_report_free(&r);
        bn_gguf_close(g);
    }
    const float neg = -0.5f;
    uint8_t negb[4];
    memcpy(negb, &neg, 4);
    struct {
        const char *src;
        tu_gguf_mutation mu;
        const char *needle;
    } cases[] = {
        /* issue 13: rope scaling the runtime does not implement */
        {i2s, {.set_str_key = "bitnet-b1.58.rope.scaling.type", .set_str_val = "yarn"},
         "rope scaling type is not supported"},
        {i2s, {.set_f32_key = "bitnet-b1.58.rope.scaling.factor", .f32_val = -2.0f},
         "rope.scaling.factor"},
        /* issue 13: I2_S data the runtime used to run */
        {i2s, {.patch_tensor = "blk.0.attn_q.weight", .patch_at = -32, .n_patch = 4,
               .patch_bytes = {negb[0], negb[1], negb[2], negb[3]}}, "I2_S scale -0.5"},
        {i2s, {.patch_tensor = "blk.1.ffn_down.weight", .patch_at = 5, .n_patch = 1,
               .patch_bytes = {0x30}}, "unused I2_S code 0b11"},
        {i2s, {.patch_tensor = "blk.0.attn_k.weight", .patch_at = -3, .n_patch = 1,
               .patch_bytes = {7}}, "I2_S tail byte 29"},
        /* a negative TQ2_0 block scale (fp16 -1.0 in the last two bytes of block 0) */
        {tq2, {.patch_tensor = "blk.0.ffn_up.weight", .patch_at = 64, .n_patch = 2,
               .patch_bytes = {0x00, 0xbc}}, "block 0 has scale -1"},
        /* hyperparameters: one reader, one set of ranges */
        {i2s, {.set_u32_key = "bitnet-b1.58.rope.dimension_count", .u32_val = 63},
         "rope.dimension_count"},
        {i2s, {.set_u32_key = "bitnet-b1.58.attention.head_count_kv", .u32_val = 3},
         "head_count_kv"},
        {i2s, {.set_u32_key = "bitnet-b1.58.block_count", .u32_val = 5000}, "block_count"},
        {i2s, {.set_f32_key = "bitnet-b1.58.attention.layer_norm_rms_epsilon", .f32_val = NAN},
         "layer_norm_rms_epsilon"},
        {i2s, {.set_str_key = "general.architecture", .set_str_val = "gpt2"}, "gpt2"},
        /* the tokenizer the runtime cannot load */
        {i2s, {.set_str_key = "tokenizer.ggml.model", .set_str_val = "t5"}, "t5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_gguf_mutate(cases[i].src, bad, &cases[i].mu);
        both_refuse(bad, cases[i].needle);
    }
}
END_TEST

/* bn-synth writes any row from the table: falcon3 as llama with its head. */
START_TEST(test_synth_rows)
{
    const char *path = tu_synth("synth-falcon3.gguf", "--arch falcon3 --layers 1 --no-vocab");
    bn_model *m;
    bn_error e;
    ck_assert_msg(bn_model_load(path, NULL, &m, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_model_hparams(m)->arch, BN_ARCH_LLAMA);
    ck_assert_int_eq(bn_model_hparams(m)->tied_output, 0);
    ck_assert_int_eq(bn_model_hparams(m)->has_sub_norms, 0);
    bn_check_report r;
    ck_assert_int_eq(bn_check_gguf(bn_model_gguf(m), &r, &e), BN_OK);
    /* no tokenizer: its two required keys are the only problems --check lists */
    ck_assert_uint_eq(r.n, 2);
    ck_assert_ptr_nonnull(strstr(r.items[0], "tokenizer.ggml.model"));
    ck_assert_ptr_nonnull(strstr(r.items[1], "tokenizer.ggml.tokens"));
    bn_check_report_free(&r);
    bn_model_free(m);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' -q -o '%s' --arch gpt2", tu_build("bn-synth"),
             tu_tmp("synth-gpt2.gguf"));
    ck_assert_int_eq(tu_run(cmd, &out), 2);
    ck_assert_msg(out && strstr(out, "bitnet, bitnet-b1.58, llama, falcon3"), "%s", out);
    free(out);
}
END_TEST

static Suite *arch_suite(void)
{
    Suite *s = suite_create("arch");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_table_invariants);
    tcase_add_test(tc, test_enumeration_and_shapes);
    tcase_add_test(tc, test_role_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("falcon3");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_falcon3_i2s);
    tcase_add_test(tc, test_falcon3_tq2);
    tcase_add_test(tc, test_falcon3_vs_llama);
    tcase_add_test(tc, test_falcon3_refusals);
    tcase_add_test(tc, test_synth_rows);
    suite_add_tcase(s, tc);
    tc = tcase_create("agree");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_loader_and_check_agree);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tu_run_suite(arch_suite());
}
