/* test_convert_fixtures.c - bn-convert on the bundled models, checked against the
 * independent PyTorch side (fixtures/reference/<model>/quant.json, written by
 * scripts/reference_forward.py): every projection's ternary codes (sha256 of the
 * int8 codes, HF [out, in] order) and its scale, in every output type; and the
 * latent and offline-packed exports of the same model give identical tensors. */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/convert.h"
#include "bn/gguf.h"
#include "bn/quant.h"
#include "bn/sha256.h"
#include "testutil.h"


static void convert(const char *model, const char *out, bn_type t)
{
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    o.in_dir = model;
    o.out_path = out;
    o.proj_type = t;
    o.n_threads = 2;
    bn_convert_result r;
    bn_error e;
    bn_error_clear(&e);
    ck_assert_msg(bn_convert_run(&o, &r, &e) == BN_OK, "%s (%s): %s", model, bn_type_name(t), e.msg);
}

static cJSON *load_json(const char *path)
{
    cJSON *j = tu_read_json(path);
    ck_assert_msg(j != NULL, "cannot read or parse %s", path);
    return j;
}

static float hex_f32(const char *hex)
{
    return tu_f32_from_bits((uint32_t)strtoul(hex, NULL, 16));
}

/* Codes and scale of one GGUF tensor, whatever its type. */
static void tensor_codes(const bn_gguf_tensor *t, int8_t *codes, float *scale)
{
    bn_error e;
    int64_t cols = t->ne[0], rows = t->ne[1];
    size_t n = (size_t)(cols * rows);
    if (bn_type_is_ternary(t->type)) {
        ck_assert_int_eq(bn_unpack_ternary_rows(t->type, t->data, t->nbytes, cols, rows, 0, rows, codes, &e), BN_OK);
        ck_assert_int_eq(bn_packed_ternary_scale(t->type, t->data, t->nbytes, cols, rows, scale, &e), BN_OK);
        return;
    }
    float *f = malloc(n * sizeof *f);
    ck_assert_int_eq(bn_unpack_f32(t->type, t->data, t->nbytes, cols, rows, f, 1, &e), BN_OK);
    float s = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(f[i]) > s)
            s = fabsf(f[i]);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(f[i] == 0 || fabsf(f[i]) == s, "%s: element %zu (%g) is not 0 or +-%g", t->name, i, f[i], s);
        codes[i] = (int8_t)(f[i] > 0 ? 1 : f[i] < 0 ? -1 : 0);
    }
    *scale = s;
    free(f);
}

static void check_against_torch(const char *model)
{
    char path[4096];
    snprintf(path, sizeof path, "fixtures/reference/%s/quant.json", model);
    cJSON *ref = load_json(tu_root(path));
    const cJSON *tensors = cJSON_GetObjectItem(ref, "tensors");
    ck_assert_int_gt(cJSON_GetArraySize(tensors), 0);
    snprintf(path, sizeof path, "fixtures/%s", model);
    const char *dir = tu_keep(tu_root(path));
    const bn_type types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_F16, BN_TYPE_F32};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        snprintf(path, sizeof path, "%s.%s.gguf", model, bn_type_name(types[ti]));
        const char *out = tu_keep(tu_tmp(path));
        convert(dir, out, types[ti]);
        bn_gguf *g;
        bn_error e;
        ck_assert_msg(bn_gguf_open(out, &g, &e) == BN_OK, "%s", e.msg);
        int checked = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, tensors) {
            const char *name = cJSON_GetObjectItem(it, "gguf")->valuestring;
            const bn_gguf_tensor *t = bn_gguf_find_tensor(g, name);
            ck_assert_msg(t != NULL, "%s: %s missing", out, name);
            ck_assert_int_eq(t->type, types[ti]);
            size_t n = (size_t)t->n_el;
            int8_t *codes = malloc(n);
            float scale;
            tensor_codes(t, codes, &scale);
            uint8_t dig[BN_SHA256_SIZE];
            char hex[BN_SHA256_HEX_SIZE];
            bn_sha256(codes, n, dig);
            bn_sha256_hex(dig, hex);
            ck_assert_msg(strcmp(hex, cJSON_GetObjectItem(it, "codes_sha256")->valuestring) == 0,
                          "%s %s %s: codes differ from PyTorch's", model, bn_type_name(types[ti]), name);
            float want = hex_f32(cJSON_GetObjectItem(it, "scale_f32_hex")->valuestring);
            if (types[ti] == BN_TYPE_I2_S || types[ti] == BN_TYPE_F32) {
                /* within 1 ulp of torch's float32 scale (the mean's reduction order) */
                int64_t d = (int64_t)tu_f32_bits(scale) - (int64_t)tu_f32_bits(want);
                ck_assert_msg(d >= -1 && d <= 1, "%s %s: scale %.9g vs torch %.9g", name, bn_type_name(types[ti]),
                              scale, want);
            } else {
                /* TQ and F16 store the scale as fp16 */
                float w16 = bn_f16_to_f32(bn_f32_to_f16(want));
                float lo = bn_f16_to_f32(bn_f32_to_f16(nextafterf(want, 0)));
                float hi = bn_f16_to_f32(bn_f32_to_f16(nextafterf(want, INFINITY)));
                ck_assert_msg(scale == w16 || scale == lo || scale == hi, "%s: fp16 scale %.9g vs %.9g", name,
                              scale, w16);
            }
            free(codes);
            checked++;
        }
        ck_assert_int_eq(checked, cJSON_GetArraySize(tensors));
        bn_gguf_close(g);
    }
    cJSON_Delete(ref);
}

START_TEST(test_tiny_b158_matches_torch) { check_against_torch("tiny-b158"); }
END_TEST

START_TEST(test_tiny_b158_packed_matches_torch) { check_against_torch("tiny-b158-packed"); }
END_TEST

START_TEST(test_tiny_bitnet_pt_matches_torch) { check_against_torch("tiny-bitnet-pt"); }
END_TEST

START_TEST(test_latent_and_packed_identical)
{
    const bn_type types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0};
    for (size_t ti = 0; ti < 2; ti++) {
        const char *a = tu_keep(tu_tmp("lat.gguf")), *b = tu_keep(tu_tmp("pk.gguf"));
        convert(tu_root("fixtures/tiny-b158"), a, types[ti]);
        convert(tu_root("fixtures/tiny-b158-packed"), b, types[ti]);
        bn_gguf *ga, *gb;
        bn_error e;
        ck_assert_int_eq(bn_gguf_open(a, &ga, &e), BN_OK);
        ck_assert_int_eq(bn_gguf_open(b, &gb, &e), BN_OK);
        ck_assert_int_eq(bn_gguf_n_tensors(ga), bn_gguf_n_tensors(gb));
        for (int64_t i = 0; i < bn_gguf_n_tensors(ga); i++) {
            const bn_gguf_tensor *x = bn_gguf_tensor_at(ga, i), *y = bn_gguf_find_tensor(gb, x->name);
            ck_assert_ptr_nonnull(y);
            ck_assert_int_eq(x->type, y->type);
            ck_assert_uint_eq(x->nbytes, y->nbytes);
            ck_assert_msg(memcmp(x->data, y->data, x->nbytes) == 0, "%s: %s differs", bn_type_name(types[ti]), x->name);
        }
        bn_gguf_close(ga);
        bn_gguf_close(gb);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("convert_fixtures");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_tiny_b158_matches_torch);
    tcase_add_test(tc, test_tiny_b158_packed_matches_torch);
    tcase_add_test(tc, test_tiny_bitnet_pt_matches_torch);
    tcase_add_test(tc, test_latent_and_packed_identical);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
