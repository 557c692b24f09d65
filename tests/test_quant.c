/* test_quant.c - packers (golden bytes), unpackers, ternarization methods,
 * statistics and the report. References: ../shared/golden/ternary (gguf-py
 * bytes) and fixtures/quant (scripts/quant_reference.py: PyTorch / NumPy). */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/quant.h"
#include "quant/quant_internal.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static double unif(void) { return (rnd() + 0.5) / 4294967296.0; }
static float gauss(void) { return (float)(sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif())); }

static int64_t ulp_diff(float a, float b)
{
    int32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return llabs((long long)x - (long long)y);
}

static void *read_shared(const char *rel, size_t *n)
{
    void *p = tu_read(tu_shared(rel), n);
    ck_assert_msg(p != NULL, "cannot read %s", tu_shared(rel));
    return p;
}

static void *read_fixture(const char *rel, size_t *n)
{
    void *p = tu_read(tu_root(rel), n);
    ck_assert_msg(p != NULL, "cannot read %s", tu_root(rel));
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
        codes[i] = (int8_t)(rnd() % 3) - 1;
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
                p[i] = (uint8_t)rnd();
            bn_status st = bn_unpack_f32(t, p, sz, ne0, rows, f, 2, &e);
            ck_assert(st == BN_OK || st == BN_EINVAL);
            if (t == BN_TYPE_TQ1_0 || t == BN_TYPE_TQ2_0 || t == BN_TYPE_I2_S) {
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
            codes[o][c] = (int8_t)(rnd() % 3) - 1;
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

/* ---- methods on hand-computed examples ---------------------------------------------- */

static void check_codes(const int8_t *got, const int8_t *want, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "code %d: got %d want %d", i, got[i], want[i]);
}

START_TEST(test_absmean_hand)
{
    /* mean|W| = (0.4+0.1+0.05+0.3+0.9+0+0.6+0.25)/8 = 2.6/8 = 0.325.
     * W/s = 1.23, -0.31, 0.15, -0.92, 2.77, 0, -1.85, 0.77
     *  ->    1,    0,    0,    -1,   1(clamped), 0, -1, 1 */
    const float w[8] = {0.4f, -0.1f, 0.05f, -0.3f, 0.9f, 0.0f, -0.6f, 0.25f};
    const int8_t want[8] = {1, 0, 0, -1, 1, 0, -1, 1};
    int8_t c[8];
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("t", w, 8, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    check_codes(c, want, 8);
    ck_assert_int_le(ulp_diff(r.scale, 0.325f), 1);
    ck_assert_uint_eq(r.flags, 0);

    /* Round half to even, as torch.round: mean = (2+1+0.5+0.5)/4 = 1, so rs = 1 and
     * 0.5 -> 0 (half away from zero would give 1), 2 -> 2 -> clamped to 1. */
    const float w2[4] = {2.0f, -1.0f, 0.5f, -0.5f};
    const int8_t want2[4] = {1, -1, 0, 0};
    ck_assert_int_eq(bn_ternarize("t", w2, 4, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    check_codes(c, want2, 4);
    ck_assert_float_eq(r.scale, 1.0f);
}
END_TEST

START_TEST(test_absmax_hand)
{
    /* max|W| = 0.8, threshold 0.4: |W| > 0.4 for 0.8, 0.5, -0.45, -0.8, 0.41
     * (0.39 and 0.1 and 0.2 drop); scale = (0.8+0.5+0.45+0.8+0.41)/5 = 2.96/5 = 0.592. */
    const float w[8] = {0.8f, -0.2f, 0.5f, -0.45f, 0.1f, -0.8f, 0.39f, 0.41f};
    const int8_t want[8] = {1, 0, 1, -1, 0, -1, 0, 1};
    int8_t c[8];
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("t", w, 8, BN_QM_ABSMAX, c, &r, &e), BN_OK);
    check_codes(c, want, 8);
    ck_assert_int_le(ulp_diff(r.scale, 0.592f), 1);
    ck_assert_float_eq(r.threshold, 0.4f);
}
END_TEST

START_TEST(test_mse_hand)
{
    /* Magnitudes 3, 2, 1, 0: keeping the top k gives f(k) = (Σ)²/k = 9, 12.5, 12.
     * Best k = 2: s = 2.5, Δ = 1 (largest dropped), error = 0.25+0.25+1 = 1.5. */
    const float w[4] = {3.0f, -2.0f, 1.0f, 0.0f};
    const int8_t want[4] = {1, -1, 0, 0};
    int8_t c[4];
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("t", w, 4, BN_QM_MSE, c, &r, &e), BN_OK);
    check_codes(c, want, 4);
    ck_assert_float_eq(r.scale, 2.5f);
    ck_assert_float_eq(r.threshold, 1.0f);
    /* Ties cannot be split: magnitudes 1, 1, 0.2, 0.1: k = 1 is not allowed;
     * f(2) = 2, f(3) = 2.2²/3 = 1.61, f(4) = 2.3²/4 = 1.32 -> k = 2, s = 1. */
    const float w2[4] = {1.0f, 1.0f, 0.2f, -0.1f};
    const int8_t want2[4] = {1, 1, 0, 0};
    ck_assert_int_eq(bn_ternarize("t", w2, 4, BN_QM_MSE, c, &r, &e), BN_OK);
    check_codes(c, want2, 4);
    ck_assert_float_eq(r.scale, 1.0f);
    bn_quant_stats st;
    int64_t ne[1] = {4};
    ck_assert_int_eq(bn_quant_stats_compute(&st, "t", 1, ne, w2, c, &r, BN_QM_MSE, &e), BN_OK);
    /* error = 0.2² + 0.1² = 0.05 (in float: the inputs are float) */
    ck_assert_double_eq_tol(st.sum_err2, (double)0.2f * 0.2f + (double)0.1f * 0.1f, 1e-15);
}
END_TEST

/* ---- methods and statistics vs the PyTorch / NumPy reference -------------------------- */

static void rel_eq(double got, double want, double tol, const char *what, const char *ctx)
{
    double d = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
    ck_assert_msg(d < tol, "%s %s: got %.17g want %.17g (rel %.3g)", ctx, what, got, want, d);
}

START_TEST(test_vs_reference)
{
    size_t n;
    char *txt = read_fixture("fixtures/quant/reference.json", &n);
    cJSON *root = cJSON_Parse(txt);
    ck_assert_ptr_nonnull(root);
    cJSON *c;
    int checked = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
    {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        cJSON *ne = cJSON_GetObjectItem(c, "ne");
        int64_t shape[2] = {(int64_t)cJSON_GetArrayItem(ne, 0)->valuedouble,
                            (int64_t)cJSON_GetArrayItem(ne, 1)->valuedouble};
        char path[256];
        snprintf(path, sizeof path, "fixtures/quant/%s.f32", name);
        size_t wn;
        float *w = read_fixture(path, &wn);
        ck_assert_uint_eq(wn, (size_t)(shape[0] * shape[1]) * 4);
        cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "methods"))
        {
            bn_quant_method meth;
            ck_assert_int_eq(bn_quant_method_from_name(m->string, &meth), 0);
            snprintf(path, sizeof path, "fixtures/quant/%s.%s.i8", name, m->string);
            size_t cn;
            int8_t *want = read_fixture(path, &cn);
            ck_assert_uint_eq(cn, wn / 4);
            int8_t *got = malloc(cn);
            bn_ternary_result r;
            bn_quant_stats st;
            bn_error e;
            char ctx[128];
            snprintf(ctx, sizeof ctx, "%s/%s", name, m->string);
            ck_assert_int_eq(bn_quant_tensor(name, w, 2, shape, meth, got, &r, &st, &e), BN_OK);
            for (size_t i = 0; i < cn; i++)
                ck_assert_msg(got[i] == want[i], "%s: code %zu got %d want %d", ctx, i, got[i], want[i]);
            uint32_t bits = (uint32_t)cJSON_GetObjectItem(m, "scale_bits")->valuedouble;
            float ws;
            memcpy(&ws, &bits, 4);
            ck_assert_msg(ulp_diff(r.scale, ws) <= 1, "%s: scale %.9g vs %.9g", ctx, (double)r.scale,
                          (double)ws);
            ck_assert_uint_eq(st.n_neg, (uint64_t)cJSON_GetObjectItem(m, "n_neg")->valuedouble);
            ck_assert_uint_eq(st.n_zero, (uint64_t)cJSON_GetObjectItem(m, "n_zero")->valuedouble);
            ck_assert_uint_eq(st.n_pos, (uint64_t)cJSON_GetObjectItem(m, "n_pos")->valuedouble);
            /* the reference uses its own scale: recompute our stats with it when
             * the two differ by an ulp so the comparison is like for like */
            if (r.scale != ws) {
                r.scale = ws;
                ck_assert_int_eq(bn_quant_stats_compute(&st, name, 2, shape, w, got, &r, meth, &e), BN_OK);
            }
            rel_eq(st.mse, cJSON_GetObjectItem(m, "mse")->valuedouble, 1e-6, "mse", ctx);
            rel_eq(st.rmse, cJSON_GetObjectItem(m, "rmse")->valuedouble, 1e-6, "rmse", ctx);
            rel_eq(st.nmse, cJSON_GetObjectItem(m, "nmse")->valuedouble, 1e-6, "nmse", ctx);
            rel_eq(st.cosine, cJSON_GetObjectItem(m, "cosine")->valuedouble, 1e-6, "cosine", ctx);
            rel_eq(st.max_abs_err, cJSON_GetObjectItem(m, "max_abs_err")->valuedouble, 1e-6, "max_abs_err", ctx);
            cJSON *snr = cJSON_GetObjectItem(m, "snr_db");
            if (cJSON_IsNumber(snr))
                rel_eq(st.snr_db, snr->valuedouble, 1e-6, "snr_db", ctx);
            /* the absmean baseline every method reports */
            double base = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "methods"), "absmean"),
                                              "nmse")->valuedouble;
            rel_eq(st.nmse_absmean, base, 1e-6, "nmse_absmean", ctx);
            if (strcmp(name, "tiny_8x128") == 0 && meth == BN_QM_ABSMEAN)
                ck_assert(st.flags & BN_QF_SCALE_CLAMPED);
            else
                ck_assert(!(st.flags & BN_QF_SCALE_CLAMPED));
            checked++;
            free(got);
            free(want);
        }
        free(w);
    }
    ck_assert_int_eq(checked, 9);
    cJSON_Delete(root);
    free(txt);
}
END_TEST

/* The generator of scripts/quant_reference.py hashed(): exact float32 values. */
static void hashed_weights(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)((uint64_t)i * 2654435761u);
        w[i] = (float)((double)((int64_t)(h >> 16) - 32768) * 0x1p-20);
    }
}

/* 4M elements against torch: codes (by count and an index-weighted checksum) and
 * the scale, at a size where float32 and double means could part ways. */
START_TEST(test_absmean_large_vs_torch)
{
    size_t len;
    char *txt = read_fixture("fixtures/quant/reference.json", &len);
    cJSON *root = cJSON_Parse(txt);
    cJSON *ref = cJSON_GetObjectItem(root, "hashed_2048x2048");
    ck_assert_ptr_nonnull(ref);
    const size_t n = 2048 * 2048;
    float *w = malloc(n * 4);
    int8_t *c = malloc(n);
    hashed_weights(w, n);
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("hashed", w, n, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    uint32_t bits = (uint32_t)cJSON_GetObjectItem(ref, "scale_bits")->valuedouble;
    float want;
    memcpy(&want, &bits, 4);
    ck_assert_int_le(ulp_diff(r.scale, want), 1);
    int64_t sum = 0, neg = 0, zero = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (int64_t)c[i] * (int64_t)(i % 1000003 + 1);
        neg += c[i] < 0;
        zero += c[i] == 0;
        pos += c[i] > 0;
    }
    ck_assert_int_eq(neg, (int64_t)cJSON_GetObjectItem(ref, "n_neg")->valuedouble);
    ck_assert_int_eq(zero, (int64_t)cJSON_GetObjectItem(ref, "n_zero")->valuedouble);
    ck_assert_int_eq(pos, (int64_t)cJSON_GetObjectItem(ref, "n_pos")->valuedouble);
    ck_assert_int_eq(sum, (int64_t)cJSON_GetObjectItem(ref, "checksum")->valuedouble);
    free(w);
    free(c);
    cJSON_Delete(root);
    free(txt);
}
END_TEST

static double nmse_of(const float *w, uint64_t n, bn_quant_method m)
{
    int8_t *c = malloc(n);
    bn_ternary_result r;
    bn_quant_stats st;
    bn_error e;
    int64_t ne[1] = {(int64_t)n};
    ck_assert_int_eq(bn_quant_tensor("g", w, 1, ne, m, c, &r, &st, &e), BN_OK);
    free(c);
    return st.nmse;
}

/* On Gaussian weights the exact MSE fit beats absmean, which beats absmax; the
 * histogram search (large tensors) agrees with the exhaustive sort. */
START_TEST(test_mse_gaussian)
{
    const uint64_t n = 300000;
    float *w = malloc(n * 4);
    for (uint64_t i = 0; i < n; i++)
        w[i] = 0.02f * gauss();
    double a = nmse_of(w, n, BN_QM_ABSMEAN), b = nmse_of(w, n, BN_QM_ABSMAX), m = nmse_of(w, n, BN_QM_MSE);
    ck_assert_msg(m < a && a < b, "nmse mse %g absmean %g absmax %g", m, a, b);
    /* For a unit Gaussian, the optimal threshold keeps ~|x| > 0.61σ: NMSE ~ 0.19. */
    ck_assert(m > 0.17 && m < 0.21);

    uint32_t u1, u2;
    double A1, A2;
    uint64_t k1, k2;
    bn_error e;
    ck_assert_int_eq(bnq_mse_search(w, n, 0, &u1, &A1, &k1, &e), BN_OK);
    ck_assert_int_eq(bnq_mse_search(w, n, 1, &u2, &A2, &k2, &e), BN_OK);
    double f1 = A1 * A1 / (double)k1, f2 = A2 * A2 / (double)k2;
    ck_assert_msg(fabs(f1 - f2) <= 1e-12 * f1, "sort f %.17g vs buckets f %.17g (k %llu vs %llu)", f1, f2,
                  (unsigned long long)k1, (unsigned long long)k2);
    ck_assert(llabs((long long)k1 - (long long)k2) <= 2);
    free(w);
}
END_TEST

/* Threads change nothing: codes, scale and every statistic are bit-identical. */
START_TEST(test_threads_identical)
{
    const uint64_t n = 1000 * 333; /* not a multiple of the chunk */
    float *w = malloc(n * 4);
    int8_t *c1 = malloc(n), *c2 = malloc(n);
    for (uint64_t i = 0; i < n; i++)
        w[i] = 0.01f * gauss();
    int64_t ne[2] = {1000, 333};
    for (int m = 0; m < 3; m++)
        for (int th = 2; th <= 5; th += 3) {
            bn_ternary_result r1, r2;
            bn_quant_stats s1, s2;
            bn_error e;
            ck_assert_int_eq(bn_quant_tensor_mt("x", w, 2, ne, (bn_quant_method)m, c1, &r1, &s1, 1, &e), BN_OK);
            ck_assert_int_eq(bn_quant_tensor_mt("x", w, 2, ne, (bn_quant_method)m, c2, &r2, &s2, th, &e), BN_OK);
            ck_assert_int_eq(memcmp(c1, c2, n), 0);
            ck_assert_int_eq(memcmp(&r1, &r2, sizeof r1), 0);
            ck_assert_int_eq(memcmp(&s1, &s2, sizeof s1), 0);
        }
    w[n - 3] = INFINITY; /* the NaN/Inf check is chunked too: still found, same index */
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize_mt("x", w, n, BN_QM_ABSMEAN, c1, &r, 4, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "element 332997 is +Inf"));
    free(w);
    free(c1);
    free(c2);
}
END_TEST

/* Latent weights saved after quantization (s·T) are kept exactly by every method. */
START_TEST(test_already_ternary)
{
    const uint64_t n = 4096;
    float *w = malloc(n * 4);
    int8_t *t = malloc(n), *c = malloc(n);
    const float s = 0.0371f;
    for (uint64_t i = 0; i < n; i++) {
        t[i] = (int8_t)(rnd() % 3) - 1;
        w[i] = s * (float)t[i];
    }
    int64_t ne[2] = {256, 16};
    for (int m = 0; m < 3; m++) {
        bn_ternary_result r;
        bn_quant_stats st;
        bn_error e;
        ck_assert_int_eq(bn_quant_tensor("blk.0.attn_q.weight", w, 2, ne, (bn_quant_method)m, c, &r, &st, &e),
                         BN_OK);
        ck_assert(st.flags & BN_QF_ALREADY_TERNARY);
        ck_assert_int_eq(memcmp(c, t, n), 0);
        ck_assert_float_eq(r.scale, s);
        ck_assert_double_eq(st.nmse, 0.0);
        ck_assert_double_eq(st.max_abs_err, 0.0);
        ck_assert_double_eq_tol(st.cosine, 1.0, 1e-12);
        ck_assert(isinf(st.snr_db));
    }
    /* one value off by an ulp: no longer ternary */
    w[17] = nextafterf(w[17] == 0 ? s : w[17], 1.0f);
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("x", w, n, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    ck_assert(!(r.flags & BN_QF_ALREADY_TERNARY));
    free(w);
    free(t);
    free(c);
}
END_TEST

START_TEST(test_nan_inf_and_flags)
{
    float w[256];
    for (int i = 0; i < 256; i++)
        w[i] = (i % 2 ? 1.0f : -1.0f) * (1.0f + 0.01f * (float)(i % 7));
    int8_t c[256];
    bn_ternary_result r;
    bn_quant_stats st;
    bn_error e;
    int64_t ne[1] = {256};
    ck_assert_int_eq(bn_quant_tensor("blk.3.ffn_up.weight", w, 1, ne, BN_QM_ABSMEAN, c, &r, &st, &e), BN_OK);
    ck_assert(st.flags & BN_QF_SIGN_LIKE);
    ck_assert(!(st.flags & BN_QF_ALREADY_TERNARY));

    w[100] = NAN;
    ck_assert_int_eq(bn_quant_tensor("blk.3.ffn_up.weight", w, 1, ne, BN_QM_MSE, c, &r, &st, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "blk.3.ffn_up.weight"));
    ck_assert_ptr_nonnull(strstr(e.msg, "NaN"));
    ck_assert_ptr_nonnull(strstr(e.msg, "100"));
    ck_assert(st.flags & BN_QF_NAN_INF);
    ck_assert_str_eq(st.name, "blk.3.ffn_up.weight");
    ck_assert_int_eq(st.layer, 3);
    w[100] = -INFINITY;
    ck_assert_int_eq(bn_ternarize("x", w, 256, BN_QM_ABSMAX, c, &r, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "-Inf"));
    ck_assert_int_eq(bn_ternarize("x", w, 0, BN_QM_ABSMAX, c, &r, &e), BN_EINVAL);

    uint32_t f;
    char buf[96];
    ck_assert_int_eq(bn_quant_flags_parse("sign-like,nan-inf", &f), 0);
    ck_assert_uint_eq(f, BN_QF_SIGN_LIKE | BN_QF_NAN_INF);
    ck_assert_str_eq(bn_quant_flags_str(f, buf, sizeof buf), "sign-like,nan-inf");
    ck_assert_str_eq(bn_quant_flags_str(0, buf, sizeof buf), "-");
    ck_assert_int_eq(bn_quant_flags_parse("sign-like,bogus", &f), -1);
    bn_quant_method m;
    ck_assert_int_eq(bn_quant_method_from_name("mse", &m), 0);
    ck_assert_int_eq(m, BN_QM_MSE);
    ck_assert_int_eq(bn_quant_method_from_name("MSE", &m), -1);
}
END_TEST

/* Extreme but finite inputs: no overflow in the statistics, every element in the
 * histogram (UBSan checks the bin arithmetic). */
START_TEST(test_extreme_values)
{
    float w[512];
    int8_t c[512];
    for (int i = 0; i < 512; i++)
        w[i] = (i % 2 ? 1e-38f : -3e-39f) * (float)(1 + i % 5);
    w[7] = 3.0e38f;
    w[8] = -3.0e38f;
    int64_t ne[1] = {512};
    for (int m = 0; m < 3; m++) {
        bn_ternary_result r;
        bn_quant_stats st;
        bn_error e;
        ck_assert_int_eq(bn_quant_tensor("x", w, 1, ne, (bn_quant_method)m, c, &r, &st, &e), BN_OK);
        ck_assert(isfinite(st.sum_w2) && isfinite(st.nmse) && isfinite(st.cosine));
        uint64_t total = 0;
        for (int b = 0; b < BN_QSTAT_BINS; b++)
            total += st.hist[b];
        ck_assert_uint_eq(total, 512);
        ck_assert(isfinite(r.scale) && r.scale > 0);
    }
}
END_TEST

START_TEST(test_kind_names)
{
    int l;
    ck_assert_int_eq(bn_tensor_kind_of("blk.12.attn_output.weight", &l), BN_KIND_ATTN_OUTPUT);
    ck_assert_int_eq(l, 12);
    ck_assert_int_eq(bn_tensor_kind_of("blk.0.ffn_down.weight", &l), BN_KIND_FFN_DOWN);
    ck_assert_int_eq(bn_tensor_kind_of("model.layers.7.self_attn.k_proj.weight", &l), BN_KIND_ATTN_K);
    ck_assert_int_eq(l, 7);
    ck_assert_int_eq(bn_tensor_kind_of("model.layers.30.mlp.gate_proj.weight", &l), BN_KIND_FFN_GATE);
    ck_assert_int_eq(l, 30);
    ck_assert_int_eq(bn_tensor_kind_of("blk.3.attn_norm.weight", &l), BN_KIND_OTHER);
    ck_assert_int_eq(l, 3);
    ck_assert_int_eq(bn_tensor_kind_of("token_embd.weight", &l), BN_KIND_OTHER);
    ck_assert_int_eq(l, -1);
    ck_assert_int_eq(bn_tensor_kind_of("blk.x.attn_q.weight", &l), BN_KIND_OTHER);
    ck_assert_int_eq(bn_tensor_kind_of("blk.1.attn_q.weight_scale", &l), BN_KIND_OTHER);
    ck_assert_int_eq(bn_tensor_kind_of("model.layers.2.self_attn.q_proj.weight_scale", &l), BN_KIND_OTHER);
    ck_assert_str_eq(bn_tensor_kind_name(BN_KIND_FFN_UP), "ffn_up");
}
END_TEST

/* ---- report ------------------------------------------------------------------------ */

static const char *kinds[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

/* 2 layers x 7 kinds of Gaussian weights, a token embedding, and a NaN tensor. */
static bn_quant_report *sample_report(void)
{
    bn_quant_report *r;
    bn_error e;
    ck_assert_int_eq(bn_quant_report_new("sample <model>", &r, &e), BN_OK);
    const int64_t ne[2] = {256, 8};
    float w[2048];
    int8_t c[2048];
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 7; k++) {
            for (int i = 0; i < 2048; i++)
                w[i] = (0.5f + (float)k) * gauss();
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, kinds[k]);
            bn_ternary_result res;
            bn_quant_stats st;
            ck_assert_int_eq(bn_quant_tensor(name, w, 2, ne, l ? BN_QM_MSE : BN_QM_ABSMEAN, c, &res, &st, &e),
                             BN_OK);
            ck_assert_int_eq(bn_quant_report_add(r, &st, &e), BN_OK);
        }
    bn_ternary_result res;
    bn_quant_stats st;
    ck_assert_int_eq(bn_quant_tensor("token_embd.weight", w, 2, ne, BN_QM_ABSMEAN, c, &res, &st, &e), BN_OK);
    ck_assert_int_eq(bn_quant_report_add(r, &st, &e), BN_OK);
    w[5] = NAN;
    ck_assert_int_eq(bn_quant_tensor("blk.1.attn_q.weight", w, 2, ne, BN_QM_ABSMEAN, c, &res, &st, &e),
                     BN_EINVAL);
    ck_assert_int_eq(bn_quant_report_add(r, &st, &e), BN_OK);
    return r;
}

static char *render(const bn_quant_report *r, bn_report_format f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    bn_error e;
    ck_assert_int_eq(bn_quant_report_write(r, f, m, &e), BN_OK);
    fclose(m);
    return buf;
}

START_TEST(test_report_summary)
{
    bn_quant_report *r = sample_report();
    ck_assert_uint_eq(bn_quant_report_count(r), 16);
    ck_assert_int_eq(bn_quant_report_n_layers(r), 2);
    bn_quant_summary s, k, l0, l1;
    bn_quant_report_total(r, &s);
    ck_assert_uint_eq(s.n_tensors, 16);
    ck_assert_uint_eq(s.n, 15 * 2048); /* the NaN tensor has no statistics */
    ck_assert(s.flags & BN_QF_NAN_INF);
    /* element-weighted: Σ err² / Σ W², not the mean of the NMSEs */
    double se = 0, sw = 0;
    for (size_t i = 0; i < 15; i++) {
        se += bn_quant_report_at(r, i)->sum_err2;
        sw += bn_quant_report_at(r, i)->sum_w2;
    }
    ck_assert_double_eq_tol(s.nmse, se / sw, 1e-15);
    bn_quant_report_by_kind(r, BN_KIND_ATTN_Q, &k);
    ck_assert_uint_eq(k.n_tensors, 3);
    ck_assert_uint_eq(k.n, 2 * 2048);
    bn_quant_report_by_layer(r, 0, &l0);
    bn_quant_report_by_layer(r, 1, &l1);
    ck_assert_uint_eq(l0.n_tensors, 7);
    ck_assert_uint_eq(l1.n_tensors, 8);
    ck_assert(l1.nmse < l0.nmse); /* layer 1 used mse, layer 0 absmean */
    /* the absmean baseline: layer 0 is absmean itself, layer 1 beats it */
    ck_assert_double_eq(l0.gain_db, 0.0);
    ck_assert_double_eq(l0.nmse_absmean, l0.nmse);
    ck_assert(l1.gain_db > 1.0 && l1.nmse_absmean > l1.nmse);

    /* gates */
    ck_assert_uint_eq(bn_quant_report_gate(r, -1, 0, NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ck_assert_uint_eq(bn_quant_report_gate(r, -1, BN_QF_NAN_INF, m), 1);
    fclose(m);
    ck_assert_ptr_nonnull(strstr(buf, "blk.1.attn_q.weight: flagged nan-inf"));
    free(buf);
    /* a limit every tensor passes except the NaN one */
    ck_assert_uint_eq(bn_quant_report_gate(r, 1.0, 0, NULL), 1);
    ck_assert_uint_eq(bn_quant_report_gate(r, 0.0, 0, NULL), 16);
    bn_quant_report_free(r);
}
END_TEST

START_TEST(test_report_formats)
{
    bn_quant_report *r = sample_report();

    char *json = render(r, BN_REPORT_JSON);
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "title")->valuestring, "sample <model>");
    cJSON *ts = cJSON_GetObjectItem(root, "tensors");
    ck_assert_int_eq(cJSON_GetArraySize(ts), 16);
    cJSON *t0 = cJSON_GetArrayItem(ts, 0);
    const bn_quant_stats *s0 = bn_quant_report_at(r, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(t0, "name")->valuestring, "blk.0.attn_q.weight");
    ck_assert_double_eq_tol(cJSON_GetObjectItem(t0, "nmse")->valuedouble, s0->nmse, 1e-12 * s0->nmse);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(t0, "scale")->valuedouble, s0->scale, 1e-7 * s0->scale);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t0, "hist")), BN_QSTAT_BINS);
    ck_assert_int_eq(cJSON_GetObjectItem(t0, "layer")->valueint, 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(ts, 15), "nmse")));
    cJSON *bk = cJSON_GetObjectItem(root, "by_kind");
    for (int k = 0; k < 7; k++)
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(bk, kinds[k]));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(bk, "other"));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "by_layer")), 2);
    bn_quant_summary tot;
    bn_quant_report_total(r, &tot);
    ck_assert_double_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "total"), "n")->valuedouble, (double)tot.n);
    cJSON_Delete(root);
    free(json);

    char *csv = render(r, BN_REPORT_CSV);
    int lines = 0;
    for (char *p = csv; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 17);
    ck_assert(strncmp(csv, "name,ne0,ne1,", 13) == 0);
    ck_assert_ptr_nonnull(strstr(csv, "\nblk.0.ffn_down.weight,256,8,1,1,ffn_down,0,absmean,"));
    free(csv);

    char *text = render(r, BN_REPORT_TEXT);
    ck_assert_ptr_nonnull(strstr(text, "total"));
    ck_assert_ptr_nonnull(strstr(text, "NMSE per layer and kind"));
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1)
        ck_assert_msg(nl - p <= 120, "text line of %d columns: %.*s", (int)(nl - p), (int)(nl - p), p);
    free(text);

    bn_error e;
    ck_assert_int_eq(bn_quant_report_set_focus(r, "blk.9.attn_q.weight", &e), BN_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "blk.9.attn_q.weight"));
    ck_assert_int_eq(bn_quant_report_set_focus(r, "blk.1.ffn_up.weight", &e), BN_OK);
    char *html = render(r, BN_REPORT_HTML);
    ck_assert_ptr_nonnull(strstr(html, "Distribution of |W| / s: blk.1.ffn_up.weight"));
    int charts = 0;
    for (char *p = html; (p = strstr(p, "<svg class=\"kind-chart\"")); p++)
        charts++;
    ck_assert_int_eq(charts, 7);
    ck_assert_ptr_nonnull(strstr(html, "<svg class=\"hist\""));
    ck_assert_ptr_null(strstr(html, "http"));
    ck_assert_ptr_null(strstr(html, "src="));
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_nonnull(strstr(html, "sample &lt;model&gt;"));
    ck_assert_ptr_nonnull(strstr(html, "</html>"));
    free(html);
    bn_quant_report_free(r);

    bn_report_format f;
    ck_assert_int_eq(bn_report_format_from_name("html", &f), 0);
    ck_assert_int_eq(f, BN_REPORT_HTML);
    ck_assert_int_eq(bn_report_format_from_name("xml", &f), -1);
}
END_TEST

/* An empty report (a model with no projections) still renders in every format. */
START_TEST(test_report_empty)
{
    bn_quant_report *r;
    bn_error e;
    ck_assert_int_eq(bn_quant_report_new("", &r, &e), BN_OK);
    for (int f = 0; f < 4; f++) {
        char *out = render(r, (bn_report_format)f);
        ck_assert(strlen(out) > 0);
        if (f == BN_REPORT_JSON) {
            cJSON *root = cJSON_Parse(out);
            ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "tensors")), 0);
            ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "total"), "n")->valueint, 0);
            cJSON_Delete(root);
        }
        if (f == BN_REPORT_HTML)
            ck_assert_ptr_null(strstr(out, "<svg"));
        free(out);
    }
    ck_assert_uint_eq(bn_quant_report_gate(r, 0.0, ~0u, NULL), 0);
    bn_quant_report_free(r);
}
END_TEST

/* ---- bn-quant end to end --------------------------------------------------------- */

/* A tiny `bitnet` GGUF as llama.cpp's converter writes with --outtype f32: 2 layers,
 * hidden 256, FFN 512, vocab 64, Gaussian weights (one projection stored as F16 and
 * one as BF16 to exercise decoding). with_nan puts a NaN into blk.1.ffn_down; odd
 * gives blk.0.attn_q rows of 320, which no ternary type can pack. Also used by
 * tests/cli/quant.sh through `test_quant --write-model PATH [--nan|--odd]`. */
typedef struct {
    const char *name;
    int64_t ne0, ne1; /* ne1 0: 1-D */
    bn_type type;
} model_tensor;

static int model_tensors(model_tensor *out, int odd)
{
    int n = 0;
    out[n++] = (model_tensor){"token_embd.weight", 256, 64, BN_TYPE_F32};
    out[n++] = (model_tensor){"output_norm.weight", 256, 0, BN_TYPE_F32};
    static char names[2][11][40];
    static const char *per[11] = {"attn_norm", "attn_q",   "attn_k", "attn_v",  "attn_output", "attn_sub_norm",
                                  "ffn_norm",  "ffn_gate", "ffn_up", "ffn_down", "ffn_sub_norm"};
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 11; k++) {
            snprintf(names[l][k], sizeof names[l][k], "blk.%d.%s.weight", l, per[k]);
            int64_t ne0 = strcmp(per[k], "ffn_down") ? 256 : 512;
            if (odd && l == 0 && k == 1)
                ne0 = 320; /* not a multiple of the I2_S (128) or TQ (256) block */
            int64_t ne1 = strstr(per[k], "norm") ? 0 : (!strcmp(per[k], "ffn_gate") || !strcmp(per[k], "ffn_up")) ? 512 : 256;
            bn_type t = (l == 1 && k == 3) ? BN_TYPE_F16 : (l == 0 && k == 8) ? BN_TYPE_BF16 : BN_TYPE_F32;
            out[n++] = (model_tensor){names[l][k], ne0, ne1, t};
        }
    return n;
}

static void model_values(const model_tensor *mt, float *w, size_t n, int with_nan)
{
    for (size_t i = 0; i < n; i++)
        w[i] = mt->ne1 ? 0.02f * gauss() : 1.0f + 0.01f * gauss();
    if (with_nan && !strcmp(mt->name, "blk.1.ffn_down.weight"))
        w[n / 2] = NAN;
}

static bn_status write_model(const char *path, int with_nan, int odd, bn_error *e)
{
    rng_state = 0x243f6a8885a308d3ull;
    model_tensor mt[32];
    int n = model_tensors(mt, odd);
    bn_gguf_writer *w;
    bn_status st = bn_gguf_writer_open(path, 0, &w, e);
    if (st)
        return st;
    if ((st = bn_gguf_set_str(w, "general.architecture", "bitnet", e)) ||
        (st = bn_gguf_set_str(w, "general.name", "bntk quant test", e)) ||
        (st = bn_gguf_set_u32(w, "general.file_type", 0, e)) ||
        (st = bn_gguf_set_u32(w, "bitnet.block_count", 2, e)) ||
        (st = bn_gguf_set_u32(w, "bitnet.embedding_length", 256, e)) ||
        (st = bn_gguf_set_f32(w, "bitnet.attention.layer_norm_rms_epsilon", 1e-5f, e)))
        goto fail;
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {mt[i].ne0, mt[i].ne1};
        if ((st = bn_gguf_add_tensor(w, mt[i].name, mt[i].ne1 ? 2 : 1, ne, mt[i].type, e)))
            goto fail;
    }
    for (int i = 0; i < n; i++) {
        int64_t rows = mt[i].ne1 ? mt[i].ne1 : 1;
        size_t cnt = (size_t)(mt[i].ne0 * rows), sz;
        float *v = malloc(cnt * 4);
        model_values(&mt[i], v, cnt, with_nan);
        if ((st = bn_quant_packed_size(mt[i].type, mt[i].ne0, rows, &sz, e)) == BN_OK) {
            uint8_t *p = malloc(sz);
            st = bn_pack_f32(mt[i].type, v, mt[i].ne0, rows, p, sz, 1, e);
            if (!st)
                st = bn_gguf_writer_write(w, p, sz, e);
            free(p);
        }
        free(v);
        if (st)
            goto fail;
    }
    return bn_gguf_writer_finish(w, e);
fail:
    bn_gguf_writer_abort(w);
    return st;
}

/* Quantize with the real tool, then read the output back: file_type, types,
 * codes equal to bn_ternarize on the input, scales, embeddings and norms. */
START_TEST(test_bn_quant_tool)
{
    static const struct {
        const char *arg;
        bn_type t;
        uint32_t ftype;
    } ty[3] = {{"i2_s", BN_TYPE_I2_S, 40}, {"tq2_0", BN_TYPE_TQ2_0, 37}, {"tq1_0", BN_TYPE_TQ1_0, 36}};
    bn_error e;
    const char *in = tu_tmp("quant_tool_in.gguf");
    ck_assert_int_eq(write_model(in, 0, 0, &e), BN_OK);
    bn_gguf *gi;
    ck_assert_int_eq(bn_gguf_open(in, &gi, &e), BN_OK);
    for (int k = 0; k < 3; k++) {
        char out[512], cmd[2048];
        snprintf(out, sizeof out, "%s", tu_tmp(ty[k].arg));
        snprintf(cmd, sizeof cmd, "%s %s %s --type %s -t 3 --quiet", tu_build("bn-quant"), in, out, ty[k].arg);
        char *log = NULL;
        int rc = tu_run(cmd, &log);
        ck_assert_msg(rc == 0, "%s -> %d: %s", cmd, rc, log ? log : "");
        free(log);
        bn_gguf *go;
        ck_assert_int_eq(bn_gguf_open(out, &go, &e), BN_OK);
        uint32_t ft;
        ck_assert_int_eq(bn_gguf_get_u32(go, "general.file_type", &ft, &e), BN_OK);
        ck_assert_uint_eq(ft, ty[k].ftype);
        ck_assert_int_eq(bn_gguf_get_u32(go, "general.quantization_version", &ft, &e), BN_OK);
        ck_assert_uint_eq(ft, 2);
        bn_str arch;
        ck_assert_int_eq(bn_gguf_get_str(go, "general.architecture", &arch, &e), BN_OK);
        ck_assert(arch.len == 6 && memcmp(arch.ptr, "bitnet", 6) == 0);
        ck_assert_int_eq(bn_gguf_n_tensors(go), bn_gguf_n_tensors(gi));
        int projections = 0;
        for (int64_t i = 0; i < bn_gguf_n_tensors(gi); i++) {
            const bn_gguf_tensor *a = bn_gguf_tensor_at(gi, i), *b = bn_gguf_tensor_at(go, i);
            ck_assert_str_eq(a->name, b->name);
            ck_assert_int_eq(a->ne[0], b->ne[0]);
            ck_assert_int_eq(a->ne[1], b->ne[1]);
            int64_t rows = (int64_t)(a->n_el / (uint64_t)a->ne[0]);
            float *w = malloc(a->n_el * 4), *y = malloc(a->n_el * 4);
            ck_assert_int_eq(bn_unpack_f32(a->type, a->data, a->nbytes, a->ne[0], rows, w, 1, &e), BN_OK);
            int layer;
            if (bn_tensor_kind_of(a->name, &layer) != BN_KIND_OTHER) {
                projections++;
                ck_assert_int_eq(b->type, ty[k].t);
                int8_t *want = malloc(a->n_el), *got = malloc(a->n_el);
                bn_ternary_result r;
                ck_assert_int_eq(bn_ternarize(a->name, w, a->n_el, BN_QM_ABSMEAN, want, &r, &e), BN_OK);
                ck_assert_int_eq(bn_unpack_ternary_rows(b->type, b->data, b->nbytes, b->ne[0], rows, 0, rows, got, &e),
                                 BN_OK);
                ck_assert_msg(memcmp(want, got, a->n_el) == 0, "%s codes differ", a->name);
                float s;
                ck_assert_int_eq(bn_packed_ternary_scale(b->type, b->data, b->nbytes, b->ne[0], rows, &s, &e), BN_OK);
                ck_assert_float_eq(s, ty[k].t == BN_TYPE_I2_S ? r.scale : bn_f16_to_f32(bn_f32_to_f16(r.scale)));
                free(want);
                free(got);
            } else if (!strcmp(a->name, "token_embd.weight")) {
                ck_assert_int_eq(b->type, BN_TYPE_F16);
                ck_assert_int_eq(bn_unpack_f32(b->type, b->data, b->nbytes, b->ne[0], rows, y, 1, &e), BN_OK);
                for (uint64_t j = 0; j < a->n_el; j++)
                    ck_assert_float_eq(y[j], bn_f16_to_f32(bn_f32_to_f16(w[j])));
            } else {
                ck_assert_int_eq(b->type, BN_TYPE_F32);
                ck_assert_int_eq(memcmp(a->data, b->data, a->nbytes), 0);
            }
            free(w);
            free(y);
        }
        ck_assert_int_eq(projections, 14);
        bn_gguf_close(go);
    }
    bn_gguf_close(gi);
}
END_TEST

Suite *quant_suite(void)
{
    Suite *s = suite_create("quant");
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
    TCase *me = tcase_create("methods");
    tcase_set_timeout(me, 60);
    tcase_add_test(me, test_absmean_hand);
    tcase_add_test(me, test_absmax_hand);
    tcase_add_test(me, test_mse_hand);
    tcase_add_test(me, test_vs_reference);
    tcase_add_test(me, test_absmean_large_vs_torch);
    tcase_add_test(me, test_mse_gaussian);
    tcase_add_test(me, test_already_ternary);
    tcase_add_test(me, test_threads_identical);
    tcase_add_test(me, test_nan_inf_and_flags);
    tcase_add_test(me, test_kind_names);
    tcase_add_test(me, test_extreme_values);
    suite_add_tcase(s, me);
    TCase *rp = tcase_create("report");
    tcase_add_test(rp, test_report_summary);
    tcase_add_test(rp, test_report_formats);
    tcase_add_test(rp, test_report_empty);
    suite_add_tcase(s, rp);
    TCase *tl = tcase_create("tool");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, test_bn_quant_tool);
    suite_add_tcase(s, tl);
    return s;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--write-model")) {
        bn_error e;
        const char *variant = argc >= 4 ? argv[3] : "";
        if (write_model(argv[2], !strcmp(variant, "--nan"), !strcmp(variant, "--odd"), &e)) {
            fprintf(stderr, "test_quant: %s\n", e.msg);
            return 2;
        }
        return 0;
    }
    SRunner *sr = srunner_create(quant_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
