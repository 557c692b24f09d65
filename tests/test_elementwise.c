/* test_elementwise.c - the per-token float steps of elementwise.c (RMS norm
 * over a group of rows, ReLU², SiLU, the residual add) against the one-token
 * loops they replace, written out here independently, bit for bit: every row
 * count (whole groups of BN_NORM_ROWS and the rest), widths not a multiple
 * of the vector, strides wider than a row, in place or not, and the special
 * values (NaN, signed zeros, infinities, subnormals). On a CPU with AVX-512
 * this holds elementwise_avx512.c to the scalar loops. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "runtime/model_internal.h"
#include "testutil.h"

/* Bit-equal, or both NaN (a NaN's payload is not part of the contract). */
static int same(float a, float b)
{
    return tu_f32_bits(a) == tu_f32_bits(b) || (a != a && b != b);
}

/* ggml's RMS norm of one row: each square rounded to float, summed in double
 * in element order; the scale in float; then (x * scale) * w. */
static void ref_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++) {
        volatile float sq = x[i] * x[i];
        ss += (double)sq;
    }
    volatile float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) {
        volatile float p = x[i] * scale;
        out[i] = p * w[i];
    }
}

/* Values over many binades, so the double sum's order matters. */
static float wide(void)
{
    return (float)(tu_gauss() * ldexp(1.0, (int)(tu_rand32() % 24) - 12));
}

START_TEST(test_rmsnorm_rows)
{
    static const int widths[] = {1, 7, 15, 16, 17, 100, 2563};
    const float eps = 1e-5f;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        const int n = widths[wi], ld = n + 3, max_rows = 2 * BN_NORM_ROWS + 3;
        float *x = malloc(sizeof(float) * (size_t)(ld * max_rows)),
              *w = malloc(sizeof(float) * (size_t)n),
              *want = malloc(sizeof(float) * (size_t)(ld * max_rows)),
              *got = malloc(sizeof(float) * (size_t)(ld * max_rows));
        for (int i = 0; i < ld * max_rows; i++)
            x[i] = wide();
        for (int i = 0; i < n; i++)
            w[i] = (float)tu_gauss();
        for (int rows = 1; rows <= max_rows; rows++) {
            for (int r = 0; r < rows; r++)
                ref_rmsnorm(want + r * ld, x + r * ld, w, n, eps);
            /* into another buffer, then in place */
            memset(got, 0x7f, sizeof(float) * (size_t)(ld * max_rows));
            bnr_rmsnorm_rows(got, (size_t)ld, x, (size_t)ld, w, n, rows, eps);
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < n; i++)
                    ck_assert_msg(same(got[r * ld + i], want[r * ld + i]),
                                  "n %d, %d rows: row %d [%d] = %.9g, want %.9g", n, rows, r, i,
                                  got[r * ld + i], want[r * ld + i]);
            ck_assert_msg(tu_f32_bits(got[n]) == 0x7f7f7f7fu, "n %d: wrote past the row", n);
            memcpy(got, x, sizeof(float) * (size_t)(ld * max_rows));
            bnr_rmsnorm_rows(got, (size_t)ld, got, (size_t)ld, w, n, rows, eps);
            for (int r = 0; r < rows; r++)
                ck_assert_msg(memcmp(got + r * ld, want + r * ld, sizeof(float) * (size_t)n) == 0,
                              "n %d, %d rows in place: row %d differs", n, rows, r);
        }
        free(x);
        free(w);
        free(want);
        free(got);
    }
}
END_TEST

static float special(int i)
{
    static const float sp[] = {0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f,
                               1e30f, -1e30f, 1.0f, -1.0f};
    return i % 3 == 0 ? sp[(i / 3) % (sizeof sp / sizeof *sp)] : wide();
}

enum { N_ACT = 1000 };

/* op(g, u, n) on a copy of g must give want[0..n) and leave g past n alone. */
static void expect_op(const char *name, void (*op)(float *, const float *, size_t), int n,
                      const float *g, const float *u, const float *want)
{
    float got[N_ACT];
    memcpy(got, g, sizeof got);
    op(got, u, (size_t)n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(same(got[i], want[i]), "%s n %d [%d]: g %.9g u %.9g -> %.9g, want %.9g",
                      name, n, i, g[i], u[i], got[i], want[i]);
    for (int i = n; i < N_ACT; i++)
        ck_assert_msg(tu_f32_bits(got[i]) == tu_f32_bits(g[i]), "%s n %d: wrote [%d]", name, n, i);
}

START_TEST(test_ffn_activations)
{
    float g[N_ACT], u[N_ACT], want[N_ACT] = {0};
    for (int i = 0; i < N_ACT; i++) {
        g[i] = special(i);
        u[i] = special(i + 1);
    }
    for (int n = 0; n <= N_ACT; n += n < 40 ? 1 : 321) {
        /* ReLU²: "g > 0 ? g : 0" (NaN and -0 give +0), then (r * r) * u */
        for (int i = 0; i < n; i++) {
            float r = g[i] > 0.0f ? g[i] : 0.0f;
            volatile float rr = r * r;
            want[i] = rr * u[i];
        }
        expect_op("relu2", bnr_relu2_mul, n, g, u, want);
        /* SiLU gate: g / (1 + exp(-g)) * u */
        for (int i = 0; i < n; i++) {
            volatile float q = g[i] / (1.0f + bnr_exp(-g[i]));
            want[i] = q * u[i];
        }
        expect_op("silu", bnr_silu_mul, n, g, u, want);
        /* the residual add */
        for (int i = 0; i < n; i++)
            want[i] = g[i] + u[i];
        expect_op("add", bnr_add_into, n, g, u, want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rmsnorm_rows);
    tcase_add_test(tc, test_ffn_activations);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
