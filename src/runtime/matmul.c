/* matmul.c - y = W x for a batch of tokens, dispatching between ternary weights
 * (int8 activations + the kernels of kernels.h) and float weights (F32, F16,
 * BF16, Q8_0: decode a row once, dot it with every token in float32).
 *
 * Both paths split the OUTPUT ROWS across the pool and compute each (token,
 * row) value with one fixed summation order, so results do not depend on the
 * thread count or on how many tokens share a call. */
#include "model_internal.h"
#include "kquant_internal.h"

/* Float results must not depend on the compiler: no fused multiply-adds. GCC
 * already keeps ISO C's rule under -std=c11; clang needs to be told. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "bn/quant.h"

/* ---- float rows ------------------------------------------------------------- */

static float f16_table[1 << 16];
static int use_avx2;        /* matmul_avx2.c computes the same values, faster */
static int use_avx512;      /* matmul_avx512.c: the float GEMM, same values again */
static pthread_once_t float_once = PTHREAD_ONCE_INIT;

static void float_init(void)
{
    for (uint32_t h = 0; h < (1u << 16); h++)
        f16_table[h] = bn_f16_to_f32((uint16_t)h);
    use_avx2 = bnr_avx2_available();
    use_avx512 = bnr_avx512_available();
}

const float *bnr_f16_table(void)
{
    pthread_once(&float_once, float_init);
    return f16_table;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void bnr_weight_row_f32(const bn_weight *w, int row, float *out)
{
    const uint8_t *p = w->data + (size_t)row * w->row_bytes;
    int n = w->n_in;
    switch (w->type) {
    case BN_TYPE_F32:
        memcpy(out, p, (size_t)n * sizeof *out); /* the mapping may be unaligned */
        break;
    case BN_TYPE_F16:
        pthread_once(&float_once, float_init);
        if (use_avx2) {
            bnr_f16_row_avx2(p, out, n);
            break;
        }
        for (int i = 0; i < n; i++)
            out[i] = f16_table[rd16(p + 2 * i)];
        break;
    case BN_TYPE_BF16:
        for (int i = 0; i < n; i++)
            out[i] = bn_bf16_to_f32(rd16(p + 2 * i));
        break;
    case BN_TYPE_Q8_0:
        /* blocks of 34 bytes: fp16 d, then 32 int8; x = d * q */
        pthread_once(&float_once, float_init);
        for (int b = 0; b < n / BN_QK_Q8_0; b++) {
            const uint8_t *blk = p + (size_t)b * 34;
            float d = f16_table[rd16(blk)];
            for (int j = 0; j < BN_QK_Q8_0; j++)
                out[b * BN_QK_Q8_0 + j] = d * (float)(int8_t)blk[2 + j];
        }
        break;
    case BN_TYPE_Q6_K: bn_dequant_row_q6_k(p, out, n); break; /* embedding lookup: */
    case BN_TYPE_Q4_K: bn_dequant_row_q4_k(p, out, n); break; /* ggml's get_rows */
    default: /* ternary rows are never decoded here (load checks the types) */
        memset(out, 0, (size_t)n * sizeof *out);
        break;
    }
}

/* Dot product in a fixed order: 8 interleaved partial sums, combined pairwise,
 * then the tail; matmul_avx2.c does exactly this with one 8-lane register. */
float bnr_dot(const float *a, const float *b, int n)
{
    pthread_once(&float_once, float_init);
    if (use_avx2)
        return bnr_dot_avx2(a, b, n);
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void bnr_dot_rows(const float *q, const float *rows, size_t stride, int n_rows, int n,
                    float *out)
{
    pthread_once(&float_once, float_init);
    if (use_avx512) {
        bnr_dot_rows_avx512(q, rows, stride, n_rows, n, out);
        return;
    }
    for (int i = 0; i < n_rows; i++)
        out[i] = bnr_dot(q, rows + (size_t)i * stride, n);
}

void bnr_axpy(float *y, float w, const float *v, int n)
{
    pthread_once(&float_once, float_init);
    if (use_avx512) {
        bnr_axpy_avx512(y, w, v, n);
        return;
    }
    for (int d = 0; d < n; d++)
        y[d] += w * v[d];
}

void bnr_exp_rows(float *v, int n)
{
    pthread_once(&float_once, float_init);
    if (use_avx512) {
        bnr_exp_rows_avx512(v, n);
        return;
    }
    for (int i = 0; i < n; i++)
        v[i] = bnr_exp(v[i]);
}

void bnr_dot_rows_f16(const float *q, const uint16_t *rows, size_t stride, int n_rows, int n,
                        float *out)
{
    pthread_once(&float_once, float_init);
    if (use_avx512) {
        bnr_dot_rows_f16_avx512(q, rows, stride, n_rows, n, out);
        return;
    }
    for (int r = 0; r < n_rows; r++) { /* bnr_dot's scalar order on converted halves */
        const uint16_t *h = rows + (size_t)r * stride;
        float acc[8] = {0};
        int i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += q[i + j] * f16_table[h[i + j]];
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; i < n; i++)
            s += q[i] * f16_table[h[i]];
        out[r] = s;
    }
}

void bnr_axpy_f16(float *y, float w, const uint16_t *v, int n)
{
    pthread_once(&float_once, float_init);
    if (use_avx512) {
        bnr_axpy_f16_avx512(y, w, v, n);
        return;
    }
    for (int d = 0; d < n; d++)
        y[d] += w * f16_table[v[d]];
}

/* ---- scratch ------------------------------------------------------------------ */

#define MAX_ACTS 8 /* distinct (input width, kind): n_embd, q_dim, n_ff */
#define GEMM_ROWS 8     /* rows per packed block of the float GEMM (4 pairs) */
#define GEMM_TOKENS 64  /* tokens per tile: 64 x n_in floats stay in L2 */

struct bn_mm_scratch {
    int max_tok;
    int n_workers;
    int max_in;
    float *rowbuf;          /* (n_workers, max_in) decoded float rows */
    float *packbuf;         /* (n_workers, GEMM_ROWS * max_in) row pairs for the float GEMM */
    int xi_tok;             /* tokens per tile of xibuf: min(max_tok, GEMM_TOKENS) */
    float *xibuf;           /* (n_workers, xi_tok * max_in) a token tile interleaved by 8
                             * for bnr_gemm_f16_avx512 */
    bn_act acts[MAX_ACTS];  /* per input width and kind, cap max_tok tokens */
    int n_acts;
    /* current input (bnr_mm_set_input) */
    const float *x;         /* (n_tok, n_in) */
    int n_tok, n_in;
    bn_act *xq;             /* quantized x, NULL until a ternary weight needs it */
    bn_prof_stat *actq_prof;/* bnr_mm_set_profile: time of the quantizations, or NULL */
};

bn_status bnr_mm_scratch_new(const bn_model *m, int max_tok, int max_in, bn_mm_scratch **out,
                            bn_error *err)
{
    *out = NULL;
    bn_mm_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return bn_error_set(err, BN_ENOMEM, "out of memory for matmul scratch");
    s->max_tok = max_tok;
    s->max_in = max_in;
    s->n_workers = bn_pool_threads(m->pool);
    s->rowbuf = malloc((size_t)s->n_workers * (size_t)max_in * sizeof *s->rowbuf);
    s->packbuf = malloc((size_t)s->n_workers * GEMM_ROWS * (size_t)max_in * sizeof *s->packbuf);
    s->xi_tok = max_tok < GEMM_TOKENS ? max_tok : GEMM_TOKENS;
    s->xibuf = malloc((size_t)s->n_workers * (size_t)s->xi_tok * (size_t)max_in * sizeof *s->xibuf);
    if (!s->rowbuf || !s->packbuf || !s->xibuf) {
        free(s->rowbuf);
        free(s->packbuf);
        free(s->xibuf);
        free(s);
        return bn_error_set(err, BN_ENOMEM, "out of memory for matmul scratch");
    }
    *out = s;
    return BN_OK;
}

void bnr_mm_scratch_free(bn_mm_scratch *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_acts; i++)
        bn_act_free(&s->acts[i]);
    free(s->rowbuf);
    free(s->packbuf);
    free(s->xibuf);
    free(s);
}

void bnr_mm_set_input(bn_mm_scratch *s, const float *x, int n_tok, int n_in)
{
    s->x = x;
    s->n_tok = n_tok;
    s->n_in = n_in;
    s->xq = NULL;
}

void bnr_mm_set_profile(bn_mm_scratch *s, bn_prof_stat *actq)
{
    s->actq_prof = actq;
}

/* Quantize the current input (per token, FORMATS.md §4, or Q8_K), once per input. */
static bn_status quantized_input(bn_mm_scratch *s, bn_pool *pool, bn_act_kind kind,
                                 bn_act **out, bn_error *err)
{
    if (!s->xq || s->xq->kind != kind) {
        bn_act *a = NULL;
        for (int i = 0; i < s->n_acts; i++)
            if (s->acts[i].ne0 == s->n_in && s->acts[i].kind == kind)
                a = &s->acts[i];
        if (!a) {
            if (s->n_acts == MAX_ACTS)
                return bn_error_set(err, BN_EINTERNAL, "matmul: more than %d input widths",
                                    MAX_ACTS);
            a = &s->acts[s->n_acts];
            bn_status st = bn_act_init(a, kind, s->max_tok, s->n_in, err);
            if (st)
                return st;
            s->n_acts++;
        }
        double t0 = s->actq_prof ? bn_now_seconds() : 0.0;
        bn_status st = bn_act_quantize_par(a, pool, s->x, s->n_tok, err);
        if (st)
            return st;
        if (s->actq_prof) {
            s->actq_prof->seconds += bn_now_seconds() - t0;
            s->actq_prof->calls += 1;
            s->actq_prof->bytes += (double)s->n_tok * s->n_in * sizeof(float);
        }
        s->xq = a;
    }
    *out = s->xq;
    return BN_OK;
}

/* ---- the product ---------------------------------------------------------------- */

typedef struct {
    const bn_model *m;
    bn_mm_scratch *s;
    const bn_weight *w;
    const bn_act *xq;       /* ternary path */
    float *y;               /* (n_tok, n_out) */
    int rows_per_task;
    int failed;             /* a kernel call failed (under lock); err holds the first */
    bn_error err;
    pthread_mutex_t lock;
} mm_job;

/* xi[(s * n_tok + t) * 8 + j] = x[t * n + 8 s + j] for s < n8 / 8: the
 * input layout of bnr_gemm_f16_avx512 (n_tok x n8 floats, at most 0.7 MB for
 * the 2B head, against the 657 MB of rows it is multiplied with). */
static void interleave8(const float *x, int n, int n_tok, int n8, float *xi)
{
    for (int s = 0; s < n8 / 8; s++)
        for (int t = 0; t < n_tok; t++)
            memcpy(xi + ((size_t)s * n_tok + t) * 8, x + (size_t)t * n + 8 * (size_t)s,
                   8 * sizeof *xi);
}

/* F16 rows [r0, r1) x every token (the head, from decode to prefill): tiles
 * of at most GEMM_TOKENS tokens (balanced: 65 = 33 + 32), each interleaved
 * once into this worker's buffer (it stays in L2); then every block of
 * GEMM_ROWS rows is read once per tile, in place, and converted in registers
 * for all the tile's tokens (bnr_gemm_f16_avx512: no pack, prefetched a
 * block ahead); the n_in % 8 tail is added here after the lanes, as bnr_dot
 * does. */
static void f16_rows(const mm_job *j, int worker, int r0, int r1)
{
    const bn_weight *w = j->w;
    const bn_mm_scratch *s = j->s;
    const int n = w->n_in, n8 = n - n % 8, n_tok = s->n_tok;
    float *xi = s->xibuf + (size_t)worker * (size_t)s->xi_tok * (size_t)s->max_in;
    float out[GEMM_TOKENS * GEMM_ROWS];
    const int n_tiles = (n_tok + GEMM_TOKENS - 1) / GEMM_TOKENS;
    for (int k = 0, t0 = 0; k < n_tiles; k++) {
        const int nt = (n_tok - t0) / (n_tiles - k);
        interleave8(s->x + (size_t)t0 * n, n, nt, n8, xi);
        for (int rb = r0; rb < r1; rb += GEMM_ROWS) {
            const int nr = r1 - rb < GEMM_ROWS ? r1 - rb : GEMM_ROWS;
            const uint8_t *next = rb + 2 * GEMM_ROWS <= w->n_out
                                      ? w->data + (size_t)(rb + GEMM_ROWS) * w->row_bytes
                                      : NULL;
            bnr_gemm_f16_avx512(w->data + (size_t)rb * w->row_bytes, w->row_bytes, nr, n8, xi,
                                  nt, out, GEMM_ROWS, next);
            for (int i = 0; i < nr; i++) {
                const uint8_t *p = w->data + (size_t)(rb + i) * w->row_bytes;
                float tail[8] = {0}; /* n_in % 8 halves of the row */
                for (int c = n8; c < n; c++)
                    tail[c - n8] = f16_table[rd16(p + 2 * c)];
                for (int t = 0; t < nt; t++) {
                    const float *xt = s->x + (size_t)(t0 + t) * n;
                    float v = out[t * GEMM_ROWS + i];
                    for (int c = n8; c < n; c++)
                        v += tail[c - n8] * xt[c];
                    j->y[(size_t)(t0 + t) * w->n_out + rb + i] = v;
                }
            }
        }
        t0 += nt;
    }
}

/* Other float rows (F32, BF16, Q8_0) [r0, r1) x every token through
 * matmul_avx512.c's packed GEMM: blocks of GEMM_ROWS rows are decoded and
 * packed once per tile of GEMM_TOKENS tokens;
 * the n_in % 8 tail is added here, after the lanes, as bnr_dot does. */
static void float_rows_gemm(const mm_job *j, int worker, int r0, int r1)
{
    const bn_weight *w = j->w;
    bn_mm_scratch *s = j->s;
    const int n = w->n_in, n8 = n - n % 8, n_tok = s->n_tok;
    float *pack = s->packbuf + (size_t)worker * GEMM_ROWS * (size_t)s->max_in;
    float *row = s->rowbuf + (size_t)worker * (size_t)s->max_in;
    float tail[GEMM_ROWS][8], out[GEMM_TOKENS * GEMM_ROWS];
    for (int t0 = 0; t0 < n_tok; t0 += GEMM_TOKENS) {
        int nt = n_tok - t0 < GEMM_TOKENS ? n_tok - t0 : GEMM_TOKENS;
        const float *x = s->x + (size_t)t0 * n;
        for (int rb = r0; rb < r1; rb += GEMM_ROWS) {
            int nr = r1 - rb < GEMM_ROWS ? r1 - rb : GEMM_ROWS, np = (nr + 1) / 2;
            for (int i = 0; i < 2 * np; i++) {
                int r = rb + (i < nr ? i : nr - 1); /* an odd block repeats its last row */
                float *dst = pack + (size_t)(i / 2) * 2 * n8 + (i % 2) * 8;
                bnr_weight_row_f32(w, r, row);
                for (int st = 0; st < n8 / 8; st++)
                    memcpy(dst + 16 * (size_t)st, row + 8 * st, 8 * sizeof *row);
                for (int k = n8; k < n; k++)
                    tail[i][k - n8] = row[k];
            }
            bnr_gemm_pairs_avx512(pack, np, n8, x, (size_t)n, nt, out, GEMM_ROWS);
            for (int t = 0; t < nt; t++) {
                const float *xt = x + (size_t)t * n;
                for (int i = 0; i < nr; i++) {
                    float v = out[t * GEMM_ROWS + i];
                    for (int k = n8; k < n; k++)
                        v += tail[i][k - n8] * xt[k];
                    j->y[(size_t)(t0 + t) * w->n_out + rb + i] = v;
                }
            }
        }
    }
}

static void mm_task(void *ctx, int64_t task, int worker)
{
    mm_job *j = ctx;
    const bn_weight *w = j->w;
    int r0 = (int)task * j->rows_per_task;
    int r1 = r0 + j->rows_per_task < w->n_out ? r0 + j->rows_per_task : w->n_out;
    if (j->xq) {
        bn_error e;
        if (bn_kernel_matmul(j->m->kernel, &w->q, j->xq, r0, r1, j->y, w->n_out, &e)) {
            pthread_mutex_lock(&j->lock);
            if (!j->failed)
                j->err = e;
            j->failed = 1;
            pthread_mutex_unlock(&j->lock);
        }
        return;
    }
    if (use_avx512 && w->type == BN_TYPE_F16) {
        f16_rows(j, worker, r0, r1);
        return;
    }
    if (use_avx512) {
        float_rows_gemm(j, worker, r0, r1);
        return;
    }
    /* float weights: decode each row once, use it for every token (hot loop) */
    float *row = j->s->rowbuf + (size_t)worker * (size_t)j->s->max_in;
    const float *x = j->s->x;
    int n_tok = j->s->n_tok, n_in = w->n_in;
    for (int r = r0; r < r1; r++) {
        bnr_weight_row_f32(w, r, row);
        for (int t = 0; t < n_tok; t++)
            j->y[(size_t)t * w->n_out + r] = bnr_dot(row, x + (size_t)t * n_in, n_in);
    }
}

bn_status bnr_matmul(const bn_model *m, bn_mm_scratch *s, const bn_weight *w, float *y,
                    bn_error *err)
{
    if (w->n_in != s->n_in || s->n_tok < 1 || s->n_tok > s->max_tok || w->n_in > s->max_in)
        return bn_error_set(err, BN_EINTERNAL,
                            "matmul: tensor '%s' takes %d inputs, got %d tokens of %d", w->name,
                            w->n_in, s->n_tok, s->n_in);
    pthread_once(&float_once, float_init); /* use_avx512 below */
    mm_job j = {.m = m, .s = s, .w = w, .y = y};
    if (bnr_is_kquant(w->type)) { /* a Q6_K/Q4_K head: Q8_K input, kquant_mm.c */
        bn_act *xq = NULL;
        bn_status st = quantized_input(s, m->pool, BN_ACT_Q8K, &xq, err);
        return st ? st : bnr_kq_matmul(m, w, xq, y, err);
    }
    if (bn_type_is_ternary(w->type)) {
        bn_act *xq = NULL;
        bn_act_kind kind = m->actq == BN_ACTQ_Q8K && w->type != BN_TYPE_I2_S ? BN_ACT_Q8K
                                                                               : BN_ACT_TOKEN;
        bn_status st = quantized_input(s, m->pool, kind, &xq, err);
        if (st)
            return st;
        j.xq = xq;
    }
    /* ~4 tasks per worker so uneven rows balance; rows in multiples of 16 */
    int per = (w->n_out + 4 * s->n_workers - 1) / (4 * s->n_workers);
    per = (per + 15) / 16 * 16;
    j.rows_per_task = per;
    pthread_mutex_init(&j.lock, NULL);
    bn_pool_run(m->pool, mm_task, &j, (w->n_out + per - 1) / per);
    pthread_mutex_destroy(&j.lock);
    if (j.failed) {
        if (err)
            *err = j.err;
        return bn_error_prefix(err, "tensor '%s'", w->name);
    }
    return BN_OK;
}
