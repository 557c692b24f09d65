/* elementwise.c - the per-token float steps of a layer: RMS norm, the gated
 * FFN activations (ReLU², SiLU) and the residual add, for a group of tokens.
 *
 * Each value is computed with the operations and order of the one-token C
 * loops they replace, so results do not depend on how tokens are grouped or
 * on the instruction set; what changes is how much runs side by side:
 *   - rmsnorm_rows sums up to BN_NORM_ROWS rows' squares at once, each row in
 *     its own sequential double chain (ggml's order: each square in float,
 *     summed in double from the first element), so a row's sum is the chain
 *     of one row and the add latency is shared by eight rows instead of paid
 *     by each;
 *   - the elementwise loops use elementwise_avx512.c where AVX-512 is present
 *     (the same IEEE operations per element, sixteen at a time). */
#include "model_internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <pthread.h>

static int use_avx512;
static pthread_once_t ew_once = PTHREAD_ONCE_INIT;

static void ew_init(void) { use_avx512 = bnr_avx512_available(); }

/* out[i] = x[i] * scale * w[i], two rounded products in that order. */
static void scale_mul(float *out, const float *x, float scale, const float *w, int n)
{
    int i = use_avx512 ? bnr_scale_mul_avx512(out, x, scale, w, n) : 0;
    for (; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

static float norm_scale(double ss, int n, float eps)
{
    return 1.0f / sqrtf((float)(ss / n) + eps);
}

void bnr_rmsnorm_rows(float *out, size_t ldo, const float *x, size_t ldx, const float *w,
                      int n, int n_rows, float eps)
{
    pthread_once(&ew_once, ew_init);
    int r = 0;
    for (; r + BN_NORM_ROWS <= n_rows; r += BN_NORM_ROWS) {
        const float *x0 = x + r * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx,
                    *x4 = x3 + ldx, *x5 = x4 + ldx, *x6 = x5 + ldx, *x7 = x6 + ldx;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0;
        for (int i = 0; i < n; i++) { /* eight independent chains, one per row */
            s0 += (double)(x0[i] * x0[i]);
            s1 += (double)(x1[i] * x1[i]);
            s2 += (double)(x2[i] * x2[i]);
            s3 += (double)(x3[i] * x3[i]);
            s4 += (double)(x4[i] * x4[i]);
            s5 += (double)(x5[i] * x5[i]);
            s6 += (double)(x6[i] * x6[i]);
            s7 += (double)(x7[i] * x7[i]);
        }
        const double ss[BN_NORM_ROWS] = {s0, s1, s2, s3, s4, s5, s6, s7};
        for (int k = 0; k < BN_NORM_ROWS; k++)
            scale_mul(out + (r + k) * ldo, x + (r + k) * ldx, norm_scale(ss[k], n, eps), w, n);
    }
    for (; r < n_rows; r++) {
        const float *xr = x + r * ldx;
        double ss = 0.0;
        for (int i = 0; i < n; i++)
            ss += (double)(xr[i] * xr[i]);
        scale_mul(out + r * ldo, xr, norm_scale(ss, n, eps), w, n);
    }
}

void bnr_relu2_mul(float *g, const float *u, size_t n)
{
    pthread_once(&ew_once, ew_init);
    size_t i = use_avx512 ? bnr_relu2_mul_avx512(g, u, n) : 0;
    for (; i < n; i++) {
        float r = g[i] > 0.0f ? g[i] : 0.0f;
        g[i] = r * r * u[i];
    }
}

void bnr_silu_mul(float *g, const float *u, size_t n)
{
    float e[256]; /* exp(-g) of one stretch, through the exact vector exp */
    for (size_t i0 = 0; i0 < n; i0 += 256) {
        int m = n - i0 < 256 ? (int)(n - i0) : 256;
        for (int j = 0; j < m; j++)
            e[j] = -g[i0 + j];
        bnr_exp_rows(e, m);
        for (int j = 0; j < m; j++)
            g[i0 + j] = g[i0 + j] / (1.0f + e[j]) * u[i0 + j];
    }
}

void bnr_add_into(float *x, const float *y, size_t n)
{
    pthread_once(&ew_once, ew_init);
    size_t i = use_avx512 ? bnr_add_into_avx512(x, y, n) : 0;
    for (; i < n; i++)
        x[i] += y[i];
}
