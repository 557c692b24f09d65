/* test_pack.c - the packers and unpackers of src/quant: golden bytes from
 * ../shared/golden/ternary (gguf-py), FORMATS.md's I2_S worked example, round
 * trips, and the Hugging Face offline-packed uint8 layout. */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/quant.h"
#include "quant/quant_internal.h"
#include "testutil.h"

static void *read_shared(const char *rel, size_t *n)
{
    void *p = tu_read(tu_shared(rel), n);
    ck_assert_msg(p != NULL, "cannot read %s", tu_shared(rel));
    return p;
}

/* ---- packers: golden bytes --------------------------------------------------------- */

START_TEST(test_golden_bytes)
{
    size_t n;
    char *man = read_shared("golden/ternary/MANIFEST.json", &n);
    cJSON *root = cJSON_Parse(man);
    ck_assert_ptr_nonnull(root);
    cJSON *cases = cJSON_GetObjectItem(root, "cases"), *c;
    int checked = 0;
    cJSON_ArrayForEach(c, cases)
    {
        char path[512];
        const char *input = cJSON_GetObjectItem(c, "input")->valuestring;
        cJSON *ne = cJSON_GetObjectItem(c, "shape_ne");
        int64_t ne0 = (int64_t)cJSON_GetArrayItem(ne, 0)->valuedouble;
        int64_t rows = (int64_t)cJSON_GetArrayItem(ne, 1)->valuedouble;
        snprintf(path, sizeof path, "golden/ternary/%s", input);
        size_t xn;
        float *x = read_shared(path, &xn);
        ck_assert_uint_eq(xn, (size_t)(ne0 * rows) * 4);
        cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItem(c, "outputs"))
        {
            bn_type t;
            ck_assert_int_eq(bn_type_from_name(o->string, &t), 0);
            snprintf(path, sizeof path, "golden/ternary/%s", o->valuestring);
            size_t gn;
            uint8_t *g = read_shared(path, &gn);
            size_t sz;
            bn_error e;
            ck_assert_int_eq(bn_quant_packed_size(t, ne0, rows, &sz, &e), BN_OK);
            ck_assert_uint_eq(sz, gn);
            for (int threads = 1; threads <= 3; threads += 2) {
                uint8_t *out = calloc(1, sz);
                ck_assert_int_eq(bn_pack_f32(t, x, ne0, rows, out, sz, threads, &e), BN_OK);
                ck_assert_msg(memcmp(out, g, sz) == 0, "%s as %s (%d threads) differs from gguf-py", input,
                              o->string, threads);
                free(out);
            }
            /* row ranges assemble the same bytes */
            uint8_t *out = calloc(1, sz);
            ck_assert_int_eq(bn_pack_f32_rows(t, x, ne0, 1, rows, out, &e), BN_OK);
            ck_assert_int_eq(bn_pack_f32_rows(t, x, ne0, 0, 1, out, &e), BN_OK);
            ck_assert_int_eq(memcmp(out, g, sz), 0);
            free(out);
            free(g);
            checked++;
        }
        free(x);
    }
    ck_assert_int_eq(checked, 15);
    cJSON_Delete(root);
    free(man);
}
END_TEST

/* FORMATS.md §2.1 worked example: one row of 128, w[k] = (k%3)-1, scale 0.5. */
START_TEST(test_i2s_worked_example)
{
    int8_t codes[128];
    for (int k = 0; k < 128; k++)
        codes[k] = (int8_t)(k % 3 - 1);
    uint8_t want[64] = {0};
    static const uint8_t cyc[3] = {0x24, 0x49, 0x92};
    for (int g = 0; g < 32; g++)
        want[g] = cyc[g % 3];
    want[32 + 3] = 0x3f; /* 0.5f = 0x3f000000, little-endian */
    ck_assert_int_eq(want[31], 0x49);
    uint8_t out[64];
    memset(out, 0xAA, sizeof out);
    bn_error e;
    size_t sz;
    ck_assert_int_eq(bn_quant_packed_size(BN_TYPE_I2_S, 128, 1, &sz, &e), BN_OK);
    ck_assert_uint_eq(sz, 64);
    ck_assert_int_eq(bn_pack_ternary(BN_TYPE_I2_S, codes, 0.5f, 128, 1, out, sz, 1, &e), BN_OK);
    ck_assert_int_eq(memcmp(out, want, 64), 0);

    float back[128];
    ck_assert_int_eq(bn_unpack_f32(BN_TYPE_I2_S, out, 64, 128, 1, back, 1, &e), BN_OK);
    for (int k = 0; k < 128; k++)
        ck_assert_float_eq(back[k], 0.5f * (float)codes[k]);
    float s;
    ck_assert_int_eq(bn_packed_ternary_scale(BN_TYPE_I2_S, out, 64, 128, 1, &s, &e), BN_OK);
    ck_assert_float_eq(s, 0.5f);
}
END_TEST

/* Codes -> I2_S / TQ1_0 / TQ2_0 -> codes is the identity; dequantized values are
 * scale * code (TQ: the fp16-rounded scale). TQ bytes from codes equal the float
 * packer's bytes of scale * codes (quant.h contract 2). */
START_TEST(test_ternary_roundtrip)
{
    const int64_t ne0 = 512, rows = 6;
    const size_t n = (size_t)(ne0 * rows);
    int8_t *codes = malloc(n), *back = malloc(n);
    float *w = malloc(n * 4), *deq = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        codes[i] = (int8_t)(tu_rand32() % 3) - 1;
    memset(codes + 2 * ne0 + 256, 0, 256); /* an all-zero TQ block: d = 0 */
    const float scale = 0.0137f;
    for (size_t i = 0; i < n; i++)
        w[i] = scale * (float)codes[i];
    const bn_type types[3] = {BN_TYPE_I2_S, BN_TYPE_TQ1_0, BN_TYPE_TQ2_0};
    bn_error e;
    for (int ti = 0; ti < 3; ti++) {
        bn_type t = types[ti];
        size_t sz;
        ck_assert_int_eq(bn_quant_packed_size(t, ne0, rows, &sz, &e), BN_OK);
        uint8_t *p = malloc(sz);
        ck_assert_int_eq(bn_pack_ternary(t, codes, scale, ne0, rows, p, sz, 4, &e), BN_OK);
        ck_assert_int_eq(bn_unpack_ternary_rows(t, p, sz, ne0, rows, 0, rows, back, &e), BN_OK);
        ck_assert_int_eq(memcmp(codes, back, n), 0);
        /* a row range lands at the start of the output */
        ck_assert_int_eq(bn_unpack_ternary_rows(t, p, sz, ne0, rows, 3, 5, back, &e), BN_OK);
        ck_assert_int_eq(memcmp(codes + 3 * ne0, back, (size_t)(2 * ne0)), 0);
        ck_assert_int_eq(bn_unpack_f32(t, p, sz, ne0, rows, deq, 2, &e), BN_OK);
        float s_eff = t == BN_TYPE_I2_S ? scale : bn_f16_to_f32(bn_f32_to_f16(scale));
        for (size_t i = 0; i < n; i++)
            ck_assert_float_eq(deq[i], s_eff * (float)codes[i]);
        float s;
        ck_assert_int_eq(bn_packed_ternary_scale(t, p, sz, ne0, rows, &s, &e), BN_OK);
        ck_assert_float_eq(s, s_eff);
        if (t != BN_TYPE_I2_S) {
            uint8_t *q = malloc(sz);
            ck_assert_int_eq(bn_pack_f32(t, w, ne0, rows, q, sz, 1, &e), BN_OK);
            ck_assert_int_eq(memcmp(p, q, sz), 0);
            free(q);
        }
        free(p);
    }
    free(codes);
    free(back);
    free(w);
    free(deq);
}
END_TEST

/* Dequantizing the golden files: F16/BF16 repack to the same bytes, Q8_0 is within
 * half a step of the input, TQ of ternary inputs gives the inputs up to fp16(d). */
START_TEST(test_dequant_golden)
{
    size_t xn, gn;
    float *x = read_shared("golden/ternary/gauss_2x768.f32", &xn);
    const int64_t ne0 = 768, rows = 2;
    float *y = malloc(xn);
    bn_error e;
    static const char *ext[2] = {"f16", "bf16"};
    static const bn_type ty[2] = {BN_TYPE_F16, BN_TYPE_BF16};
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "golden/ternary/gauss_2x768.%s", ext[i]);
        uint8_t *g = read_shared(path, &gn);
        ck_assert_int_eq(bn_unpack_f32(ty[i], g, gn, ne0, rows, y, 1, &e), BN_OK);
        uint8_t *again = malloc(gn);
        ck_assert_int_eq(bn_pack_f32(ty[i], y, ne0, rows, again, gn, 1, &e), BN_OK);
        ck_assert_int_eq(memcmp(g, again, gn), 0);
        for (size_t k = 0; k < xn / 4; k++)
            ck_assert(fabsf(y[k] - x[k]) <= fabsf(x[k]) * (i ? 1.0f / 256 : 1.0f / 2048) + 1e-7f);
        free(again);
        free(g);
    }
    uint8_t *q = read_shared("golden/ternary/gauss_2x768.q8_0", &gn);
    ck_assert_int_eq(bn_unpack_f32(BN_TYPE_Q8_0, q, gn, ne0, rows, y, 1, &e), BN_OK);
    for (int64_t b = 0; b < ne0 * rows / 32; b++) {
        float amax = 0;
        for (int k = 0; k < 32; k++)
            amax = fmaxf(amax, fabsf(x[b * 32 + k]));
        for (int k = 0; k < 32; k++)
            ck_assert(fabsf(y[b * 32 + k] - x[b * 32 + k]) <= amax / 127 * 0.5f * 1.01f + amax * 1e-3f);
    }
    free(q);
    free(x);
    free(y);

    float *tx = read_shared("golden/ternary/ternary_4x512.f32", &xn);
    float *ty2 = malloc(xn);
    uint8_t *t1 = read_shared("golden/ternary/ternary_4x512.tq1_0", &gn);
    ck_assert_int_eq(bn_unpack_f32(BN_TYPE_TQ1_0, t1, gn, 512, 4, ty2, 1, &e), BN_OK);
    for (size_t k = 0; k < xn / 4; k++)
        ck_assert(fabsf(ty2[k] - tx[k]) <= fabsf(tx[k]) / 2048);
    free(t1);
    free(tx);
    free(ty2);
}
END_TEST

START_TEST(test_file_types)
{
    /* llama.h: LLAMA_FTYPE_ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32,
     * MOSTLY_TQ1_0 36, MOSTLY_TQ2_0 37; bitnet.cpp's I2_S file: 40 */
    ck_assert_uint_eq(bn_quant_file_type(BN_TYPE_F32), 0);
    ck_assert_uint_eq(bn_quant_file_type(BN_TYPE_F16), 1);
    ck_assert_uint_eq(bn_quant_file_type(BN_TYPE_Q8_0), 7);
    ck_assert_uint_eq(bn_quant_file_type(BN_TYPE_BF16), 32);
    ck_assert_uint_eq(bn_quant_file_type(BN_TYPE_TQ1_0), 36);
    ck_assert_uint_eq(bn_quant_file_type(BN_TYPE_TQ2_0), 37);
    ck_assert_uint_eq(bn_quant_file_type(BN_TYPE_I2_S), 40);
    ck_assert_uint_eq(bn_quant_file_type((bn_type)2), UINT32_MAX);
}
END_TEST

START_TEST(test_unpack_rejects)
{
    bn_error e;
    uint8_t buf[64 + 66] = {0};
    float f[256];
    int8_t c[256];
    size_t sz;
    /* I2_S needs ne0 % 128 == 0; TQ needs 256 */
    ck_assert_int_eq(bn_quant_packed_size(BN_TYPE_I2_S, 100, 1, &sz, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "100"));
    ck_assert_int_eq(bn_quant_packed_size(BN_TYPE_TQ2_0, 128, 1, &sz, &e), BN_EINVAL);
    ck_assert_int_eq(bn_quant_packed_size((bn_type)7, 128, 1, &sz, &e), BN_EUNSUPPORTED);
    /* wrong size */
    ck_assert_int_eq(bn_unpack_f32(BN_TYPE_I2_S, buf, 63, 128, 1, f, 1, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "63"));
    /* code 0b11 */
    memset(buf, 0x55, 32);
    buf[5] = 0x57;
    ck_assert_int_eq(bn_unpack_ternary_rows(BN_TYPE_I2_S, buf, 64, 128, 1, 0, 1, c, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "0b11"));
    ck_assert_int_eq(bn_unpack_f32(BN_TYPE_I2_S, buf, 64, 128, 1, f, 1, &e), BN_EINVAL);
    /* NaN tail scale */
    buf[5] = 0x55;
    const float nan = NAN;
    memcpy(buf + 32, &nan, 4);
    ck_assert_int_eq(bn_unpack_f32(BN_TYPE_I2_S, buf, 64, 128, 1, f, 1, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "scale"));
    /* TQ2_0 field value 3 */
    memset(buf, 0x55, 64);
    buf[10] = 0xff;
    ck_assert_int_eq(bn_unpack_ternary_rows(BN_TYPE_TQ2_0, buf, 66, 256, 1, 0, 1, c, &e), BN_EINVAL);
    /* TQ blocks with different scales are not one per-tensor scale */
    uint8_t two[132] = {0};
    uint16_t h1 = bn_f32_to_f16(0.5f), h2 = bn_f32_to_f16(0.25f);
    memcpy(two + 64, &h1, 2);
    memcpy(two + 66 + 64, &h2, 2);
    float s;
    ck_assert_int_eq(bn_packed_ternary_scale(BN_TYPE_TQ2_0, two, 132, 256, 2, &s, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "block 1"));
    /* rows outside the tensor, codes out of range, floats into I2_S */
    ck_assert_int_eq(bn_unpack_ternary_rows(BN_TYPE_TQ2_0, two, 132, 256, 2, 1, 3, c, &e), BN_EINVAL);
    int8_t bad[128] = {0};
    bad[77] = 2;
    ck_assert_int_eq(bn_pack_ternary_rows(BN_TYPE_I2_S, bad, 1.0f, 128, 0, 1, buf, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "column 77"));
    ck_assert_int_eq(bn_pack_f32_rows(BN_TYPE_I2_S, f, 128, 0, 1, buf, &e), BN_EINVAL);
    ck_assert_int_eq(bn_pack_ternary_rows(BN_TYPE_Q8_0, bad, 1.0f, 128, 0, 1, buf, &e), BN_EINVAL);
    /* NaN into a block format */
    for (int k = 0; k < 256; k++)
        f[k] = 1.0f;
    f[200] = NAN;
    ck_assert_int_eq(bn_pack_f32_rows(BN_TYPE_TQ1_0, f, 256, 0, 1, buf, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "column 200"));
}
END_TEST

/* Random bytes into every unpacker: a value or a clean BN_EINVAL, never a crash
 * (the ASan build runs this too); ternary codes that come out are in {-1,0,1}. */
START_TEST(test_unpack_random_bytes)
{
    static const bn_type types[] = {BN_TYPE_F32, BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_Q8_0,
                                    BN_TYPE_TQ1_0, BN_TYPE_TQ2_0, BN_TYPE_I2_S};
    const int64_t ne0 = 256, rows = 3;
    float *f = malloc((size_t)(ne0 * rows) * 4);
    int8_t *c = malloc((size_t)(ne0 * rows));
    for (int round = 0; round < 200; round++)
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            bn_type t = types[ti];
            size_t sz;
            bn_error e;
            ck_assert_int_eq(bn_quant_packed_size(t, ne0, rows, &sz, &e), BN_OK);
            uint8_t *p = malloc(sz);
            for (size_t i = 0; i < sz; i++)
                p[i] = (uint8_t)tu_rand32();
            bn_status st = bn_unpack_f32(t, p, sz, ne0, rows, f, 2, &e);
            ck_assert(st == BN_OK || st == BN_EINVAL);
            if (bn_type_is_ternary(t)) {
                st = bn_unpack_ternary_rows(t, p, sz, ne0, rows, 0, rows, c, &e);
                ck_assert(st == BN_OK || st == BN_EINVAL);
                if (st == BN_OK)
                    for (int64_t i = 0; i < ne0 * rows; i++)
                        ck_assert(c[i] >= -1 && c[i] <= 1);
                float s;
                st = bn_packed_ternary_scale(t, p, sz, ne0, rows, &s, &e);
                ck_assert(st == BN_OK || st == BN_EINVAL);
            }
            /* one byte short, one byte long */
            ck_assert_int_eq(bn_unpack_f32(t, p, sz - 1, ne0, rows, f, 1, &e), BN_EINVAL);
            free(p);
        }
    free(f);
    free(c);
}
END_TEST

/* HF offline packing: byte [r, c] holds output rows r, r+R, r+2R, r+3R in bits
 * 1:0, 3:2, 5:4, 7:6 as code + 1. Built here from the definition, then unpacked. */
START_TEST(test_hf_unpack)
{
    enum { R = 3, IN = 5 };
    int8_t codes[4 * R][IN], back[4 * R][IN];
    uint8_t packed[R][IN];
    for (int o = 0; o < 4 * R; o++)
        for (int c = 0; c < IN; c++)
            codes[o][c] = (int8_t)(tu_rand32() % 3) - 1;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < IN; c++) {
            unsigned b = 0;
            for (int q = 0; q < 4; q++)
                b |= (unsigned)(codes[r + q * R][c] + 1) << (2 * q);
            packed[r][c] = (uint8_t)b;
        }
    bn_error e;
    ck_assert_int_eq(bn_unpack_hf_bitnet_u8("w", &packed[0][0], R, IN, &back[0][0], &e), BN_OK);
    ck_assert_int_eq(memcmp(codes, back, sizeof codes), 0);
    /* one concrete byte: 0b10_01_00_10 -> rows r: +1, r+R: -1, r+2R: 0, r+3R: +1 */
    uint8_t one = 0x92;
    int8_t four[4];
    ck_assert_int_eq(bn_unpack_hf_bitnet_u8("w", &one, 1, 1, four, &e), BN_OK);
    ck_assert_int_eq(four[0], 1);
    ck_assert_int_eq(four[1], -1);
    ck_assert_int_eq(four[2], 0);
    ck_assert_int_eq(four[3], 1);
    packed[1][2] = 0x3c; /* bits 3:2 = 3 */
    ck_assert_int_eq(bn_unpack_hf_bitnet_u8("model.layers.0.mlp.up_proj.weight", &packed[0][0], R, IN,
                                            &back[0][0], &e),
                     BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "up_proj"));
    ck_assert_ptr_nonnull(strstr(e.msg, "[1, 2]"));
    float s;
    ck_assert_int_eq(bn_hf_weight_scale_to_scale("w", 4.0f, &s, &e), BN_OK);
    ck_assert_float_eq(s, 0.25f);
    ck_assert_int_eq(bn_hf_weight_scale_to_scale("w", 0.0f, &s, &e), BN_EINVAL);
    ck_assert_int_eq(bn_hf_weight_scale_to_scale("w", NAN, &s, &e), BN_EINVAL);
}
END_TEST
Suite *pack_suite(void)
{
    Suite *s = suite_create("pack");
    TCase *pk = tcase_create("packers");
    tcase_add_test(pk, test_golden_bytes);
    tcase_add_test(pk, test_i2s_worked_example);
    tcase_add_test(pk, test_ternary_roundtrip);
    tcase_add_test(pk, test_dequant_golden);
    tcase_add_test(pk, test_unpack_rejects);
    tcase_add_test(pk, test_file_types);
    tcase_add_test(pk, test_hf_unpack);
    tcase_add_test(pk, test_unpack_random_bytes);
    suite_add_tcase(s, pk);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tu_run_suite(pack_suite());
}
