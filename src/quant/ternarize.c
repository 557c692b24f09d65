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

/* Every pass runs over fixed chunks of BNQ_CHUNK elements whose partial results
 * are combined in chunk order, so the result does not depend on the number of
 * threads (the chunks are what is parallel, not the order of the sums).
 *
 * The floats are in memory (w), or a bn_quant_source stores them there chunk by
 * chunk as the first pass (the scan) reaches them: that pass then reads each
 * chunk from cache right after it is converted, rather than the whole tensor
 * being converted first and read back; the floats, and so every result, are the
 * same. */

typedef struct {
    const float *w;             /* the tensor's floats (filled by the scan when src) */
    float *fill;                /* = w when src fills it, else NULL */
    const bn_quant_source *src; /* NULL: w is already filled */
} floats_in;

/* ---- pass 1: scan ------------------------------------------------------------------ */

typedef bnq_scan_part scan_part;

typedef struct {
    floats_in in;
    uint64_t n;
    scan_part *part; /* (n_chunks) */
} scan_ctx;

void bnq_scan_chunk_scalar(const float *w, uint64_t n, bnq_scan_part *out)
{
    scan_part p = {0.0, 0.0f, 0.0f, 0, -1};
    for (uint64_t i = 0; i < n; i++) {
        float x = w[i];
        if (!isfinite(x)) {
            p.bad = (int64_t)i;
            break;
        }
        float a = fabsf(x);
        p.abs_sum += (double)a;
        p.abs_max = fmaxf(p.abs_max, a);
        if (a != 0.0f) {
            if (p.mag == 0.0f)
                p.mag = a;
            else if (a != p.mag)
                p.mixed = 1;
        }
    }
    *out = p;
}

static bn_status scan_job(void *vc, int64_t c0, int64_t c1, bn_error *err)
{
    scan_ctx *c = vc;
    const int simd = bnq_have_avx2();
    const bn_quant_source *src = c->in.src;
    for (int64_t ch = c0; ch < c1; ch++) {
        uint64_t i0, i1;
        bnq_chunk(c->n, ch, &i0, &i1);
        scan_part *p = &c->part[ch];
        bn_status st;
        if (src && (st = src->read(src->ctx, i0, i1 - i0, c->in.fill + i0, err)))
            return st;
        const float *w = c->in.w + i0;
        if (!simd || bnq_scan_chunk_avx2(w, i1 - i0, p) != 0)
            bnq_scan_chunk_scalar(w, i1 - i0, p);
        if (p->bad >= 0)
            p->bad += (int64_t)i0;
    }
    return BN_OK;
}

typedef struct {
    double abs_sum;
    float abs_max;
    float ternary_s; /* > 0 iff every value is -s, 0 or +s */
    int64_t bad;
} scan_result;

static bn_status scan(const floats_in *in, uint64_t n, int n_threads, scan_result *r, bn_error *err)
{
    int64_t nc = bnq_n_chunks(n);
    scan_ctx c = {*in, n, malloc((size_t)(nc ? nc : 1) * sizeof(scan_part))};
    if (!c.part)
        return bn_error_set(err, BN_ENOMEM, "out of memory scanning %llu values", (unsigned long long)n);
    bn_status st = bnq_parallel_rows(nc, n_threads, scan_job, &c, err);
    memset(r, 0, sizeof *r);
    r->bad = -1;
    float mag = 0.0f;
    int mixed = 0;
    for (int64_t ch = 0; ch < nc && !st; ch++) {
        const scan_part *p = &c.part[ch];
        if (p->bad >= 0) {
            r->bad = p->bad;
            break;
        }
        r->abs_sum += p->abs_sum;
        r->abs_max = fmaxf(r->abs_max, p->abs_max);
        mixed |= p->mixed;
        if (p->mag != 0.0f) {
            if (mag == 0.0f)
                mag = p->mag;
            else if (p->mag != mag)
                mixed = 1;
        }
    }
    r->ternary_s = mixed ? 0.0f : mag;
    free(c.part);
    return st;
}

/* ---- pass 2: codes ----------------------------------------------------------------- */

typedef enum {
    RULE_SIGN,      /* code = sign(w) (already ternary) */
    RULE_ABSMEAN,   /* code = clamp(rintf(w * rs), -1, 1) */
    RULE_GT,        /* code = sign(w) if |w| > thr */
    RULE_BITS_GE    /* code = sign(w) if bits(|w|) >= u_min (mse) */
} code_rule;

typedef struct {
    uint64_t nz;       /* non-zero codes */
    double nz_abs;     /* Σ|w| over non-zero codes (used by absmax only; SIMD absmean leaves 0) */
    float zero_max;    /* max|w| over zero codes */
    double err2;       /* Σ (w - scale·code)² when asked for */
} code_part;

typedef struct {
    floats_in in;
    uint64_t n;
    int8_t *codes;     /* NULL: do not store (baseline error only) */
    code_rule rule;
    float rs, thr, scale;
    uint32_t u_min;
    int want_err;
    code_part *part;
    bnq_fuse *fuse;    /* per-chunk work after the codes (NULL: none) */
} code_ctx;

static int8_t absmean_code(float w, float rs)
{
    float q = rintf(w * rs);
    return (int8_t)(q > 1.0f ? 1 : q < -1.0f ? -1 : (int)q);
}

/* One chunk under one rule; the rule is a compile-time constant in each
 * instantiation below so the inner loop carries no switch. */
#define CODE_LOOP(EXPR)                                                                            \
    for (uint64_t i = i0; i < i1; i++) {                                                           \
        const float x = c->in.w[i];                                                                \
        const int8_t q = (EXPR);                                                                   \
        if (c->codes)                                                                              \
            c->codes[i] = q;                                                                       \
        if (q) {                                                                                   \
            p.nz++;                                                                                \
            p.nz_abs += (double)fabsf(x);                                                          \
        } else {                                                                                   \
            p.zero_max = fmaxf(p.zero_max, fabsf(x));                                              \
        }                                                                                          \
        if (c->want_err) {                                                                         \
            double e = (double)x - (double)(c->scale * (float)q);                                  \
            p.err2 += e * e;                                                                       \
        }                                                                                          \
    }

static bn_status code_job(void *vc, int64_t c0, int64_t c1, bn_error *err)
{
    (void)err;
    code_ctx *c = vc;
    const float rs = c->rs, thr = c->thr;
    const uint32_t u_min = c->u_min;
    for (int64_t ch = c0; ch < c1; ch++) {
        uint64_t i0, i1;
        bnq_chunk(c->n, ch, &i0, &i1);
        code_part p = {0, 0.0, 0.0f, 0.0};
        const float *w = c->in.w + i0;
        if (c->rule == RULE_ABSMEAN && c->codes && !c->want_err && bnq_have_avx2() &&
            bnq_absmean_codes_avx2(w, i1 - i0, rs, c->codes + i0, &p.nz, &p.zero_max) == 0) {
            c->part[ch] = p; /* nz_abs is absmax's alone: left 0 */
            if (c->fuse)
                c->fuse->chunk(c->fuse->ctx, ch, w);
            continue;
        }
        switch (c->rule) {
        case RULE_SIGN: CODE_LOOP(sign_code(x)) break;
        case RULE_ABSMEAN: CODE_LOOP(absmean_code(x, rs)) break;
        case RULE_GT: CODE_LOOP(fabsf(x) > thr ? sign_code(x) : 0) break;
        case RULE_BITS_GE: CODE_LOOP(abs_bits(x) >= u_min ? sign_code(x) : 0) break;
        }
        c->part[ch] = p;
        if (c->fuse)
            c->fuse->chunk(c->fuse->ctx, ch, w);
    }
    return BN_OK;
}
#undef CODE_LOOP

/* Apply a rule over all chunks; *sum gets the chunk partials combined in order. */
static bn_status apply_rule(code_ctx *c, int n_threads, code_part *sum, bn_error *err)
{
    int64_t nc = bnq_n_chunks(c->n);
    c->part = malloc((size_t)(nc ? nc : 1) * sizeof(code_part));
    if (!c->part)
        return bn_error_set(err, BN_ENOMEM, "out of memory ternarizing %llu values", (unsigned long long)c->n);
    bn_status st = bnq_parallel_rows(nc, n_threads, code_job, c, err);
    memset(sum, 0, sizeof *sum);
    for (int64_t ch = 0; ch < nc; ch++) {
        sum->nz += c->part[ch].nz;
        sum->nz_abs += c->part[ch].nz_abs;
        sum->zero_max = fmaxf(sum->zero_max, c->part[ch].zero_max);
        sum->err2 += c->part[ch].err2;
    }
    free(c->part);
    c->part = NULL;
    return st;
}

/* ---- absmean -------------------------------------------------------------------- */

/* The PyTorch reference, in every converter (1bitLLM utils_quant.py, microsoft/BitNet
 * utils/convert-hf-to-gguf-bitnet.py weight_quant, llama.cpp's BitnetModel):
 *     s = 1 / w.abs().mean().clamp(min=1e-5)       # float32
 *     q = (w * s).round().clamp(-1, 1)             # round half to even
 *     w_q = q / s
 * and bitnet.cpp's quantize_i2_s then stores max|w_q| = 1 / s as the scale. We mirror
 * these float32 operations: rs = 1.0f / m; code = clamp(rintf(w * rs), -1, 1);
 * scale = 1.0f / rs, which can differ from m by one ulp exactly as in the
 * reference. (The official pipeline also rounds w_q through an F16 file before
 * quantize_i2_s; we keep the float32 scale.)
 *
 * The mean: torch reduces float32 with a cascade of float32 partial sums, whose
 * error grows like eps·log(n); we sum |w| in double (error ~n·2^-53, far below a
 * float ulp) and round the mean to float once, i.e. the correctly rounded mean.
 * The two agree to within an ulp of m, and the codes only differ if some |w|·rs
 * sits within that ulp of 0.5 (tests compare against torch on 4M elements). */
static int absmean_rs(double abs_sum, uint64_t n, float *rs)
{
    float m = (float)(abs_sum / (double)n);
    int clamped = !(m >= 1e-5f);
    *rs = 1.0f / (clamped ? 1e-5f : m);
    return clamped;
}

double bnq_absmean_sum_err2(const float *w, uint64_t n, int n_threads)
{
    scan_result sr;
    const floats_in in = {w, NULL, NULL};
    if (n == 0 || scan(&in, n, n_threads, &sr, NULL) || sr.bad >= 0 || sr.ternary_s > 0.0f)
        return 0.0;
    code_ctx c = {.in = in, .n = n, .rule = RULE_ABSMEAN, .want_err = 1};
    absmean_rs(sr.abs_sum, n, &c.rs);
    c.scale = 1.0f / c.rs;
    code_part sum;
    if (apply_rule(&c, n_threads, &sum, NULL))
        return NAN;
    return sum.err2;
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

/* ---- entry point ------------------------------------------------------------------ */

bn_status bnq_ternarize_fused(const char *name, const float *w, const bnq_fill *fill, uint64_t n,
                              bn_quant_method m, int8_t *codes, bn_ternary_result *res, int n_threads,
                              bnq_fuse *fuse, bn_error *err)
{
    const char *nm = name ? name : "?";
    memset(res, 0, sizeof *res);
    if (n == 0)
        return bn_error_set(err, BN_EINVAL, "tensor '%s': no elements to ternarize", nm);
    if ((unsigned)m > BN_QM_MSE)
        return bn_error_set(err, BN_EINVAL, "tensor '%s': unknown method %d", nm, (int)m);
    const floats_in in = fill ? (floats_in){fill->w, fill->w, fill->src} : (floats_in){w, NULL, NULL};
    w = in.w;
    scan_result sr;
    bn_status st = scan(&in, n, n_threads, &sr, err);
    if (st)
        return bn_error_prefix(err, "tensor '%s'", nm);
    if (sr.bad >= 0) {
        float x = w[sr.bad];
        res->flags |= BN_QF_NAN_INF;
        return bn_error_set(err, BN_EINVAL, "tensor '%s': element %lld is %s; cannot ternarize", nm,
                            (long long)sr.bad, isnan(x) ? "NaN" : (x > 0 ? "+Inf" : "-Inf"));
    }
    code_ctx c = {.in = in, .n = n, .codes = codes};
    if (sr.ternary_s > 0.0f) {
        /* kept exactly, whatever the method */
        c.rule = RULE_SIGN;
        res->scale = sr.ternary_s;
        res->threshold = 0.5f * sr.ternary_s;
        res->flags |= BN_QF_ALREADY_TERNARY;
    } else if (m == BN_QM_ABSMEAN) {
        c.rule = RULE_ABSMEAN;
        if (absmean_rs(sr.abs_sum, n, &c.rs))
            res->flags |= BN_QF_SCALE_CLAMPED;
        res->scale = 1.0f / c.rs;
        res->threshold = 0.5f * res->scale;
    } else if (m == BN_QM_ABSMAX) {
        c.rule = RULE_GT;
        c.thr = 0.5f * sr.abs_max;
        res->threshold = c.thr;
    } else {
        double A;
        uint64_t k;
        if (bnq_mse_search(w, n, 0, &c.u_min, &A, &k, err) != BN_OK)
            return bn_error_prefix(err, "tensor '%s'", nm);
        c.rule = RULE_BITS_GE;
        if (k == 0)
            c.u_min = UINT32_MAX; /* nothing kept: every magnitude's bits are below */
        res->scale = k ? (float)(A / (double)k) : 0.0f;
    }
    if (fuse && codes && (m != BN_QM_ABSMAX || (res->flags & BN_QF_ALREADY_TERNARY))) {
        fuse->begin(fuse->ctx, res->scale, sr.abs_max); /* the scale is final */
        fuse->fused = 1;
        c.fuse = fuse;
    }
    code_part sum;
    if (apply_rule(&c, n_threads, &sum, err) != BN_OK)
        return bn_error_prefix(err, "tensor '%s'", nm);
    if (m == BN_QM_ABSMAX && !(res->flags & BN_QF_ALREADY_TERNARY))
        res->scale = sum.nz ? (float)(sum.nz_abs / (double)sum.nz) : 0.0f; /* refit: mean |W| of the kept */
    if (m == BN_QM_MSE && !(res->flags & BN_QF_ALREADY_TERNARY))
        res->threshold = sum.zero_max; /* the largest magnitude that became 0 */
    if ((double)sum.nz > 0.99 * (double)n)
        res->flags |= BN_QF_SIGN_LIKE;
    return BN_OK;
}

bn_status bn_ternarize_mt(const char *name, const float *w, uint64_t n, bn_quant_method m, int8_t *codes,
                          bn_ternary_result *res, int n_threads, bn_error *err)
{
    return bnq_ternarize_fused(name, w, NULL, n, m, codes, res, n_threads, NULL, err);
}

bn_status bn_ternarize(const char *name, const float *w, uint64_t n, bn_quant_method m,
                       int8_t *codes, bn_ternary_result *res, bn_error *err)
{
    return bn_ternarize_mt(name, w, n, m, codes, res, 1, err);
}
