/*
 * stats.c - quantization error statistics of one tensor (W vs s·T), tensor
 * kind/layer from GGUF or Hugging Face names, and the per-tensor
 * "ternarize + statistics" entry point used by bn-convert and bn-quant.
 * Every sum is accumulated in double, in a fixed order (chunks of BNQ_CHUNK,
 * BNQ_STAT_LANES partial sums in each) that the SIMD code (quant_avx2.c) keeps,
 * so the figures do not depend on threads or the instruction set.
 */
#include "bn/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "quant/quant_internal.h"

/* ---- tensor kinds ---------------------------------------------------------------- */

bn_role bn_quant_kind_of(const char *name, int *layer)
{
    bn_role r = bn_role_of_name(name, layer);
    return bn_role_is_proj(r) ? r : BN_ROLE_OTHER;
}

/* ---- metrics ------------------------------------------------------------------- */

void bnq_derive(uint64_t n, double sum_w2, double sum_err2, double sum_q2, double sum_wq, double *mse,
                double *rmse, double *nmse, double *snr_db, double *cosine)
{
    *mse = n ? sum_err2 / (double)n : 0.0;
    *rmse = sqrt(*mse);
    *nmse = sum_w2 > 0.0 ? sum_err2 / sum_w2 : 0.0; /* = mse / mean(W²) */
    *snr_db = sum_err2 > 0.0 ? 10.0 * log10(sum_w2 / sum_err2) : INFINITY;
    if (sum_w2 > 0.0 && sum_q2 > 0.0)
        *cosine = sum_wq / sqrt(sum_w2 * sum_q2);
    else
        *cosine = (sum_w2 == 0.0 && sum_q2 == 0.0) ? 1.0 : 0.0;
}

static void set_identity(bn_quant_stats *st, const char *name, uint32_t n_dims, const int64_t *ne)
{
    memset(st, 0, sizeof *st);
    snprintf(st->name, sizeof st->name, "%s", name ? name : "?");
    st->n_dims = n_dims;
    st->n = 1;
    for (int d = 0; d < 4; d++) {
        st->ne[d] = d < (int)n_dims ? ne[d] : 1;
        st->n *= (uint64_t)st->ne[d];
    }
    st->kind = bn_quant_kind_of(st->name, &st->layer);
}

static bn_status check_shape(const char *name, uint32_t n_dims, const int64_t *ne, uint64_t *n,
                             bn_error *err)
{
    const char *nm = name ? name : "?";
    if (n_dims < 1 || n_dims > 4)
        return bn_error_set(err, BN_EINVAL, "tensor '%s': %u dimensions (1..4 allowed)", nm, n_dims);
    uint64_t p = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return bn_error_set(err, BN_EINVAL, "tensor '%s': dimension %u is %lld", nm, d, (long long)ne[d]);
        if (bn_mul_ovf_u64(p, (uint64_t)ne[d], &p) || p > SIZE_MAX)
            return bn_error_set(err, BN_ELIMIT, "tensor '%s': element count overflows", nm);
    }
    *n = p;
    return BN_OK;
}

typedef struct {
    bnq_stat_sums s;
    uint64_t hist[BN_QSTAT_BINS];
} stat_part;

typedef struct {
    const float *w;
    const int8_t *codes;
    uint64_t n;
    float scale;
    double unit, hist_max; /* histogram of |w| / unit over [0, hist_max) */
    bnq_hist_edges edges;  /* the same bins for the SIMD histogram */
    int pass;              /* 1: sums; 2: histogram */
    stat_part *part;
} stat_ctx;

void bnq_stat_sums_scalar(const float *w, const int8_t *codes, uint64_t n, float scale, bnq_stat_sums *out)
{
    enum { L = BNQ_STAT_LANES };
    double sw2[L] = {0}, se2[L] = {0}, sq2[L] = {0}, swq[L] = {0};
    bnq_stat_sums p = {0};
    for (uint64_t i = 0; i < n; i++) {
        double x = (double)w[i];
        /* the dequantized value exactly as a runtime computes it: float scale * code */
        double q = (double)(scale * (float)codes[i]);
        double e = x - q;
        sw2[i % L] += x * x;
        se2[i % L] += e * e;
        sq2[i % L] += q * q;
        swq[i % L] += x * q;
        p.maxe = fmax(p.maxe, fabs(e));
        p.maxw = fmax(p.maxw, fabs(x));
        p.neg += codes[i] < 0;
        p.zero += codes[i] == 0;
        p.pos += codes[i] > 0;
    }
    for (int k = 0; k < L; k++) {
        p.sw2 += sw2[k];
        p.se2 += se2[k];
        p.sq2 += sq2[k];
        p.swq += swq[k];
    }
    *out = p;
}

void bnq_stat_hist_scalar(const float *w, uint64_t n, double unit, double hist_max, uint64_t *hist)
{
    for (uint64_t i = 0; i < n; i++) {
        double pos = fabs((double)w[i]) / unit / hist_max * BN_QSTAT_BINS;
        /* compare before converting: a huge ratio (or NaN) must not reach the int cast */
        hist[pos >= 0 && pos < BN_QSTAT_BINS ? (int)pos : BN_QSTAT_BINS - 1]++;
    }
}

static int hist_bin(uint32_t u, double unit, double hist_max)
{
    float a;
    memcpy(&a, &u, 4);
    double pos = (double)a / unit / hist_max * BN_QSTAT_BINS;
    return pos >= 0 && pos < BN_QSTAT_BINS ? (int)pos : BN_QSTAT_BINS - 1;
}

void bnq_hist_edges_init(bnq_hist_edges *h, double unit, double hist_max)
{
    h->edge[0] = 0;
    h->edge[BN_QSTAT_BINS] = 0x7fffffffu;
    for (int b = 1; b < BN_QSTAT_BINS; b++) {
        uint32_t lo = 0, hi = 0x7f800000u; /* the first finite-or-Inf pattern in bin >= b */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (hist_bin(mid, unit, hist_max) >= b)
                hi = mid;
            else
                lo = mid + 1;
        }
        h->edge[b] = lo;
    }
    h->k = (float)(BN_QSTAT_BINS / (unit * hist_max));
}

/* Chunk ch: pass 1 (sums), 2 (histogram) or 3 (both, when the histogram's range
 * is known before the sums: bn_quant_tensor_mt's fused pass). */
static void stat_chunk(stat_ctx *c, int64_t ch, int pass, const float *w /* the chunk's */)
{
    const int simd = bnq_have_avx2();
    uint64_t i0, i1;
    bnq_chunk(c->n, ch, &i0, &i1);
    stat_part *p = &c->part[ch];
    if (pass == 3) {
        memset(p->hist, 0, sizeof p->hist);
        if (simd && bnq_stat_sums_hist_avx2(w, c->codes + i0, i1 - i0, c->scale, &c->edges, &p->s, p->hist) == 0)
            return;
    }
    if (pass & 1)
        if (!simd || bnq_stat_sums_avx2(w, c->codes + i0, i1 - i0, c->scale, &p->s) != 0)
            bnq_stat_sums_scalar(w, c->codes + i0, i1 - i0, c->scale, &p->s);
    if (pass & 2) {
        memset(p->hist, 0, sizeof p->hist);
        if (!simd || bnq_stat_hist_avx2(w, i1 - i0, &c->edges, p->hist) != 0)
            bnq_stat_hist_scalar(w, i1 - i0, c->unit, c->hist_max, p->hist);
    }
}

static bn_status stat_job(void *vc, int64_t c0, int64_t c1, bn_error *err)
{
    (void)err;
    stat_ctx *c = vc;
    for (int64_t ch = c0; ch < c1; ch++)
        stat_chunk(c, ch, c->pass, c->w + (uint64_t)ch * BNQ_CHUNK);
    return BN_OK;
}

/* |W| in units of the scale (of max|W| if the scale is 0), over a range that
 * shows the threshold and the bulk: [0, clamp(max ratio, 1.5, 4)). */
static void hist_range(stat_ctx *c, double scale, double maxw)
{
    c->unit = scale > 0 ? scale : (maxw > 0 ? maxw : 1.0);
    double top = maxw / c->unit;
    c->hist_max = top < 1.5 ? 1.5 : top > 4.0 ? 4.0 : top;
    bnq_hist_edges_init(&c->edges, c->unit, c->hist_max);
}

static bnq_stat_sums sums_total(const stat_ctx *c, int64_t nc)
{
    bnq_stat_sums t = {0};
    for (int64_t ch = 0; ch < nc; ch++) {
        const bnq_stat_sums *p = &c->part[ch].s;
        t.sw2 += p->sw2;
        t.se2 += p->se2;
        t.sq2 += p->sq2;
        t.swq += p->swq;
        t.maxe = fmax(t.maxe, p->maxe);
        t.maxw = fmax(t.maxw, p->maxw);
        t.neg += p->neg;
        t.zero += p->zero;
        t.pos += p->pos;
    }
    return t;
}

static void stats_begin(bn_quant_stats *st, const char *name, uint32_t n_dims, const int64_t *ne,
                        const bn_ternary_result *res, bn_quant_method m)
{
    set_identity(st, name, n_dims, ne);
    st->method = m;
    st->scale = res->scale;
    st->threshold = res->threshold;
    st->flags = res->flags;
}

/* Everything but the histogram from the sums; then the histogram's bins. */
static void stats_finish(bn_quant_stats *st, const stat_ctx *c, int64_t nc, const bnq_stat_sums *t,
                         const bn_ternary_result *res, bn_quant_method m, int n_threads)
{
    st->n_neg = t->neg;
    st->n_zero = t->zero;
    st->n_pos = t->pos;
    st->sum_w2 = t->sw2;
    st->sum_err2 = t->se2;
    st->sum_q2 = t->sq2;
    st->sum_wq = t->swq;
    st->max_abs_err = t->maxe;
    bnq_derive(c->n, t->sw2, t->se2, t->sq2, t->swq, &st->mse, &st->rmse, &st->nmse, &st->snr_db, &st->cosine);
    st->sum_err2_absmean = (m == BN_QM_ABSMEAN || (res->flags & BN_QF_ALREADY_TERNARY))
                               ? t->se2
                               : bnq_absmean_sum_err2(c->w, c->n, n_threads);
    st->nmse_absmean = t->sw2 > 0.0 ? st->sum_err2_absmean / t->sw2 : 0.0;
    st->hist_max = c->hist_max;
    for (int64_t ch = 0; ch < nc; ch++)
        for (int b = 0; b < BN_QSTAT_BINS; b++)
            st->hist[b] += c->part[ch].hist[b];
}

bn_status bnq_stats_compute(bn_quant_stats *st, const char *name, uint32_t n_dims, const int64_t *ne,
                            const float *w, const int8_t *codes, const bn_ternary_result *res,
                            bn_quant_method m, int n_threads, bn_error *err)
{
    uint64_t n;
    bn_status s = check_shape(name, n_dims, ne, &n, err);
    if (s)
        return s;
    stats_begin(st, name, n_dims, ne, res, m);
    int64_t nc = bnq_n_chunks(n);
    stat_ctx c = {.w = w, .codes = codes, .n = n, .scale = res->scale, .pass = 1,
                  .part = calloc((size_t)nc, sizeof(stat_part))};
    if (!c.part)
        return bn_error_set(err, BN_ENOMEM, "tensor '%s': out of memory for statistics", st->name);
    if ((s = bnq_parallel_rows(nc, n_threads, stat_job, &c, err)) == BN_OK) {
        bnq_stat_sums t = sums_total(&c, nc);
        hist_range(&c, (double)res->scale, t.maxw);
        c.pass = 2;
        if ((s = bnq_parallel_rows(nc, n_threads, stat_job, &c, err)) == BN_OK)
            stats_finish(st, &c, nc, &t, res, m, n_threads);
    }
    free(c.part);
    return s;
}

/* The fused statistics: ternarize.c calls begin once the scale is final (with
 * max|W| from its scan: the same as pass 1's maxw) and chunk after the codes of
 * each chunk, whose floats are still in cache. */
static void fuse_begin(void *vc, float scale, float abs_max)
{
    stat_ctx *c = vc;
    c->scale = scale;
    hist_range(c, (double)scale, (double)abs_max);
}

static void fuse_chunk(void *vc, int64_t ch, const float *w) { stat_chunk(vc, ch, 3, w); }

bn_status bn_quant_stats_compute(bn_quant_stats *st, const char *name, uint32_t n_dims,
                                 const int64_t *ne, const float *w, const int8_t *codes,
                                 const bn_ternary_result *res, bn_quant_method m,
                                 bn_error *err)
{
    return bnq_stats_compute(st, name, n_dims, ne, w, codes, res, m, 1, err);
}

/* bn_quant_tensor_mt and _fill: the floats at w, or filled into fill->w. */
static bn_status quant_tensor(const char *name, const float *w, const bnq_fill *fill, uint32_t n_dims,
                              const int64_t *ne, bn_quant_method m, int8_t *codes, bn_ternary_result *res,
                              bn_quant_stats *st, int n_threads, bn_error *err)
{
    uint64_t n;
    memset(res, 0, sizeof *res);
    bn_status s = check_shape(name, n_dims, ne, &n, err);
    if (s)
        return s;
    if (fill)
        w = fill->w;
    int64_t nc = bnq_n_chunks(n);
    stat_ctx c = {.w = w, .codes = codes, .n = n};
    bnq_fuse fuse = {fuse_begin, fuse_chunk, &c, 0};
    if (st && codes && !(c.part = calloc((size_t)nc, sizeof(stat_part))))
        return bn_error_set(err, BN_ENOMEM, "tensor '%s': out of memory for statistics", name ? name : "?");
    s = bnq_ternarize_fused(name, w, fill, n, m, codes, res, n_threads, c.part ? &fuse : NULL, err);
    if (s) {
        if (st && (res->flags & BN_QF_NAN_INF)) {
            set_identity(st, name, n_dims, ne);
            st->method = m;
            st->flags = res->flags;
            st->mse = st->rmse = st->nmse = st->max_abs_err = NAN;
            st->snr_db = st->cosine = st->nmse_absmean = NAN;
        }
    } else if (st && fuse.fused) {
        stats_begin(st, name, n_dims, ne, res, m);
        bnq_stat_sums t = sums_total(&c, nc);
        stats_finish(st, &c, nc, &t, res, m, n_threads);
    } else if (st) {
        s = bnq_stats_compute(st, name, n_dims, ne, w, codes, res, m, n_threads, err);
    }
    free(c.part);
    return s;
}

bn_status bn_quant_tensor_mt(const char *name, const float *w, uint32_t n_dims, const int64_t *ne,
                             bn_quant_method m, int8_t *codes, bn_ternary_result *res, bn_quant_stats *st,
                             int n_threads, bn_error *err)
{
    return quant_tensor(name, w, NULL, n_dims, ne, m, codes, res, st, n_threads, err);
}

bn_status bn_quant_tensor_fill(const char *name, const bn_quant_source *src, float *w, uint32_t n_dims,
                               const int64_t *ne, bn_quant_method m, int8_t *codes, bn_ternary_result *res,
                               bn_quant_stats *st, int n_threads, bn_error *err)
{
    const bnq_fill fill = {src, w};
    return quant_tensor(name, NULL, &fill, n_dims, ne, m, codes, res, st, n_threads, err);
}

bn_status bn_quant_tensor(const char *name, const float *w, uint32_t n_dims, const int64_t *ne,
                          bn_quant_method m, int8_t *codes, bn_ternary_result *res,
                          bn_quant_stats *st, bn_error *err)
{
    return bn_quant_tensor_mt(name, w, n_dims, ne, m, codes, res, st, 1, err);
}
