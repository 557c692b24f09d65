/*
 * ternarize.c - per-tensor ternarization W ≈ s·T, T in {-1, 0, +1}.
 *
 *  absmean  BitNet b1.58's rule, bit-compatible with the PyTorch reference.
 *  absmax   s0 = max|W|, T = sign(W)·[|W| > s0/2], s refit to mean |W| over T != 0.
 *  mse      the (Δ, s) pair minimising ||W - s·T||² with T = sign(W)·[|W| > Δ];
 *           exact, in O(n) passes plus a sort of a few histogram buckets.
 *
 * Before any method, a tensor whose values are all in {-s, 0, s} for one s > 0
 * is recognised as already ternary and kept exactly (codes = sign, scale = s).
 */
#include "bn/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

const char *bn_quant_method_name(bn_quant_method m)
{
    switch (m) {
    case BN_QM_ABSMEAN: return "absmean";
    case BN_QM_ABSMAX: return "absmax";
    case BN_QM_MSE: return "mse";
    }
    return "?";
}

int bn_quant_method_from_name(const char *name, bn_quant_method *m)
{
    static const bn_quant_method all[] = {BN_QM_ABSMEAN, BN_QM_ABSMAX, BN_QM_MSE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (name && strcmp(name, bn_quant_method_name(all[i])) == 0) {
            *m = all[i];
            return 0;
        }
    return -1;
}

static const struct {
    uint32_t flag;
    const char *name;
} flag_names[] = {
    {BN_QF_ALREADY_TERNARY, "already-ternary"},
    {BN_QF_SIGN_LIKE, "sign-like"},
    {BN_QF_SCALE_CLAMPED, "scale-clamped"},
    {BN_QF_NAN_INF, "nan-inf"},
};
#define N_FLAGS (sizeof flag_names / sizeof flag_names[0])

const char *bn_quant_flags_str(uint32_t flags, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < N_FLAGS; i++)
        if (flags & flag_names[i].flag) {
            int w = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", flag_names[i].name);
            if (w < 0 || (size_t)w >= cap - len)
                break;
            len += (size_t)w;
        }
    if (len == 0)
        snprintf(buf, cap, "-");
    return buf;
}

int bn_quant_flags_parse(const char *s, uint32_t *flags)
{
    uint32_t f = 0;
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        size_t i;
        for (i = 0; i < N_FLAGS; i++)
            if (strlen(flag_names[i].name) == len && strncmp(s, flag_names[i].name, len) == 0)
                break;
        if (i == N_FLAGS)
            return -1;
        f |= flag_names[i].flag;
        s = e ? e + 1 : s + len;
    }
    *flags = f;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static uint32_t abs_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u & 0x7fffffffu;
}

static int8_t sign_code(float x) { return (int8_t)((x > 0.0f) - (x < 0.0f)); }

/* 1 (and *s) if every value is -s, 0 or +s for one s > 0. */
static int detect_ternary(const float *w, uint64_t n, float *s)
{
    float mag = 0.0f;
    for (uint64_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (a == 0.0f)
            continue;
        if (mag == 0.0f)
            mag = a;
        else if (a != mag)
            return 0;
    }
    *s = mag;
    return mag > 0.0f;
}

/* ---- absmean -------------------------------------------------------------------- */

/* The PyTorch reference, in every converter (1bitLLM utils_quant.py, microsoft/BitNet
 * utils/convert-hf-to-gguf-bitnet.py weight_quant, llama.cpp's BitnetModel):
 *     s = 1 / w.abs().mean().clamp(min=1e-5)       # float32
 *     q = (w * s).round().clamp(-1, 1)             # round half to even
 *     w_q = q / s
 * and bitnet.cpp's quantize_i2_s then stores max|w_q| = 1 / s as the scale. We mirror
 * these float32 operations: rs = 1.0f / m; code = clamp(rintf(w * rs)); scale =
 * 1.0f / rs (which can differ from m by one ulp, exactly as in the reference).
 * (The official pipeline additionally rounds w_q through an F16 file before
 * quantize_i2_s; we keep the float32 scale.)
 *
 * The mean: torch reduces float32 with a cascade of float32 partial sums, whose
 * error grows like eps·log(n); we sum |w| in double (error ~n·2^-53, far below a
 * float ulp) and round the mean to float once, i.e. the correctly rounded mean.
 * The two agree to within an ulp of m, and the codes only differ if some |w|·rs
 * sits within that ulp of 0.5. */
/* rs = 1 / max(mean|W|, 1e-5) in float32; returns 1 if the floor engaged. */
static int absmean_rs(const float *w, uint64_t n, float *rs)
{
    double sum = 0.0;
    for (uint64_t i = 0; i < n; i++)
        sum += fabs((double)w[i]);
    float m = (float)(sum / (double)n);
    int clamped = !(m >= 1e-5f);
    *rs = 1.0f / (clamped ? 1e-5f : m);
    return clamped;
}

static int8_t absmean_code(float w, float rs)
{
    float q = rintf(w * rs);
    return (int8_t)(q > 1.0f ? 1 : q < -1.0f ? -1 : (int)q);
}

static void absmean(const float *w, uint64_t n, int8_t *codes, bn_ternary_result *res)
{
    float rs;
    if (absmean_rs(w, n, &rs))
        res->flags |= BN_QF_SCALE_CLAMPED;
    for (uint64_t i = 0; i < n; i++)
        codes[i] = absmean_code(w[i], rs);
    res->scale = 1.0f / rs;
    res->threshold = 0.5f * res->scale;
}

double bnq_absmean_sum_err2(const float *w, uint64_t n)
{
    float rs, s;
    if (n == 0)
        return 0.0;
    if (detect_ternary(w, n, &s))
        return 0.0;
    absmean_rs(w, n, &rs);
    const float scale = 1.0f / rs;
    double e2 = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        double e = (double)w[i] - (double)(scale * (float)absmean_code(w[i], rs));
        e2 += e * e;
    }
    return e2;
}

/* ---- absmax --------------------------------------------------------------------- */

static void absmax(const float *w, uint64_t n, int8_t *codes, bn_ternary_result *res)
{
    float mx = 0.0f;
    for (uint64_t i = 0; i < n; i++)
        mx = fmaxf(mx, fabsf(w[i]));
    float thr = 0.5f * mx;
    double sum = 0.0;
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (a > thr) {
            codes[i] = sign_code(w[i]);
            sum += a;
            k++;
        } else {
            codes[i] = 0;
        }
    }
    res->scale = k ? (float)(sum / (double)k) : 0.0f;
    res->threshold = thr;
}

/* ---- mse ------------------------------------------------------------------------ */

/* For T = sign(W)·[|W| > Δ] with k non-zero codes and A = Σ_{T≠0} |W|, the best s
 * is A/k and the error is ΣW² - A²/k. So the best Δ keeps the k largest magnitudes
 * maximising f(k) = A_k²/k, over the k at which the magnitude changes.
 *
 * Exact search without sorting n floats: bucket the magnitudes by their top float
 * bits (monotone in the value) with count and sum per bucket. f at every bucket
 * boundary is then exact. Inside a bucket with values <= hi, including j of its c
 * values gives f <= g(j) = (A0 + j·hi)²/(k0 + j), which is convex in j, so the
 * bucket's bound is max(g(1), g(c-1)). Only buckets whose bound beats the best
 * boundary can hold the optimum; their values are gathered, sorted and scanned.
 * The inclusion rule is expressed as "abs bits >= u_min", exact either way. */
#define MSE_SHIFT 11                       /* 2^20 buckets over 31 magnitude bits */
#define MSE_NB (1u << (31 - MSE_SHIFT))

typedef struct {
    uint32_t u_min; /* smallest included magnitude's bits (0: nothing included) */
    double A;       /* Σ included |W| */
    uint64_t k;     /* included count */
} mse_choice;

static double mse_f(double A, uint64_t k) { return k ? A * A / (double)k : 0.0; }

static int cmp_desc_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Scan magnitudes sorted descending (bits), starting from prefix (k0, A0); update best. */
static void mse_scan_sorted(const uint32_t *v, size_t m, uint64_t k0, double A0, double *best_f,
                            mse_choice *best)
{
    double A = A0;
    for (size_t i = 0; i < m; i++) {
        A += (double)bits_float(v[i]);
        if (i + 1 < m && v[i + 1] == v[i])
            continue; /* a threshold cannot split equal magnitudes */
        double f = mse_f(A, k0 + i + 1);
        if (f > *best_f) {
            *best_f = f;
            best->u_min = v[i];
            best->A = A;
            best->k = k0 + i + 1;
        }
    }
}

static bn_status mse_small(const float *w, uint64_t n, mse_choice *best, bn_error *err)
{
    uint32_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return bn_error_set(err, BN_ENOMEM, "out of memory sorting %llu magnitudes", (unsigned long long)n);
    size_t m = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u = abs_bits(w[i]);
        if (u)
            v[m++] = u;
    }
    qsort(v, m, sizeof *v, cmp_desc_u32);
    double best_f = 0.0;
    mse_scan_sorted(v, m, 0, 0.0, &best_f, best);
    free(v);
    return BN_OK;
}

static bn_status mse_buckets(const float *w, uint64_t n, mse_choice *best, bn_error *err)
{
    uint64_t *cnt = calloc(MSE_NB, sizeof *cnt);
    double *sum = calloc(MSE_NB, sizeof *sum);
    uint64_t *k0 = malloc(MSE_NB * sizeof *k0);
    double *A0 = malloc(MSE_NB * sizeof *A0);
    uint8_t *cand = calloc(MSE_NB, 1);
    uint32_t *v = NULL;
    bn_status st = BN_OK;
    if (!cnt || !sum || !k0 || !A0 || !cand) {
        st = bn_error_set(err, BN_ENOMEM, "out of memory for the mse histogram");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u = abs_bits(w[i]);
        if (u) {
            cnt[u >> MSE_SHIFT]++;
            sum[u >> MSE_SHIFT] += (double)bits_float(u);
        }
    }
    /* Boundaries, from the largest bucket down. */
    double best_f = 0.0, A = 0.0;
    uint64_t k = 0;
    for (uint32_t b = MSE_NB; b-- > 0;) {
        k0[b] = k;
        A0[b] = A;
        if (!cnt[b])
            continue;
        k += cnt[b];
        A += sum[b];
        double f = mse_f(A, k);
        if (f > best_f) {
            best_f = f;
            best->u_min = b << MSE_SHIFT;
            best->A = A;
            best->k = k;
        }
    }
    /* Buckets that might hide a better split. */
    size_t n_cand = 0;
    for (uint32_t b = 0; b < MSE_NB; b++) {
        if (cnt[b] < 2)
            continue;
        double hi = (double)bits_float((b << MSE_SHIFT) | ((1u << MSE_SHIFT) - 1));
        double g1 = mse_f(A0[b] + hi, k0[b] + 1);
        double g2 = mse_f(A0[b] + (double)(cnt[b] - 1) * hi, k0[b] + cnt[b] - 1);
        if (g1 > best_f || g2 > best_f) {
            cand[b] = 1;
            n_cand += cnt[b];
        }
    }
    if (n_cand) {
        v = malloc(n_cand * sizeof *v);
        if (!v) {
            st = bn_error_set(err, BN_ENOMEM, "out of memory for %zu mse candidates", n_cand);
            goto out;
        }
        size_t m = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint32_t u = abs_bits(w[i]);
            if (u && cand[u >> MSE_SHIFT])
                v[m++] = u;
        }
        qsort(v, m, sizeof *v, cmp_desc_u32);
        for (size_t i = 0; i < m;) {
            uint32_t b = v[i] >> MSE_SHIFT;
            size_t j = i;
            while (j < m && v[j] >> MSE_SHIFT == b)
                j++;
            mse_scan_sorted(v + i, j - i, k0[b], A0[b], &best_f, best);
            i = j;
        }
    }
out:
    free(cnt);
    free(sum);
    free(k0);
    free(A0);
    free(cand);
    free(v);
    return st;
}

bn_status bnq_mse_search(const float *w, uint64_t n, int force_buckets, uint32_t *u_min, double *A,
                         uint64_t *k, bn_error *err)
{
    mse_choice best = {0, 0.0, 0};
    bn_status st = (n > (1u << 20) || force_buckets) ? mse_buckets(w, n, &best, err)
                                                       : mse_small(w, n, &best, err);
    *u_min = best.u_min;
    *A = best.A;
    *k = best.k;
    return st;
}

static bn_status mse(const float *w, uint64_t n, int8_t *codes, bn_ternary_result *res, bn_error *err)
{
    uint32_t u_min;
    double A;
    uint64_t k;
    bn_status st = bnq_mse_search(w, n, 0, &u_min, &A, &k, err);
    if (st)
        return st;
    float excluded_max = 0.0f;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u = abs_bits(w[i]);
        if (k && u >= u_min) {
            codes[i] = sign_code(w[i]);
        } else {
            codes[i] = 0;
            excluded_max = fmaxf(excluded_max, fabsf(w[i]));
        }
    }
    res->scale = k ? (float)(A / (double)k) : 0.0f;
    res->threshold = excluded_max;
    return BN_OK;
}

/* ---- entry point ------------------------------------------------------------------ */

bn_status bn_ternarize(const char *name, const float *w, uint64_t n, bn_quant_method m,
                       int8_t *codes, bn_ternary_result *res, bn_error *err)
{
    const char *nm = name ? name : "?";
    memset(res, 0, sizeof *res);
    if (n == 0)
        return bn_error_set(err, BN_EINVAL, "tensor '%s': no elements to ternarize", nm);
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(w[i])) {
            res->flags |= BN_QF_NAN_INF;
            return bn_error_set(err, BN_EINVAL, "tensor '%s': element %llu is %s; cannot ternarize", nm,
                                (unsigned long long)i, isnan(w[i]) ? "NaN" : (w[i] > 0 ? "+Inf" : "-Inf"));
        }
    float s;
    bn_status st = BN_OK;
    if (detect_ternary(w, n, &s)) {
        for (uint64_t i = 0; i < n; i++)
            codes[i] = sign_code(w[i]);
        res->scale = s;
        res->threshold = 0.5f * s;
        res->flags |= BN_QF_ALREADY_TERNARY;
    } else {
        switch (m) {
        case BN_QM_ABSMEAN: absmean(w, n, codes, res); break;
        case BN_QM_ABSMAX: absmax(w, n, codes, res); break;
        case BN_QM_MSE: st = mse(w, n, codes, res, err); break;
        default: return bn_error_set(err, BN_EINVAL, "tensor '%s': unknown method %d", nm, (int)m);
        }
        if (st)
            return bn_error_prefix(err, "tensor '%s'", nm);
    }
    uint64_t nz = 0;
    for (uint64_t i = 0; i < n; i++)
        nz += codes[i] != 0;
    if ((double)nz > 0.99 * (double)n)
        res->flags |= BN_QF_SIGN_LIKE;
    return BN_OK;
}
