/*
 * model_internal.h - the structures behind bn_model / bn_ctx, shared by
 * model.c (loading), matmul.c (projections), kvcache.c, attention.c and forward.c.
 * Not a public header: nothing outside src/runtime includes it.
 */
#ifndef BN_MODEL_INTERNAL_H
#define BN_MODEL_INTERNAL_H

#include <stdint.h>
#include "bn/model.h"
#include "bn/kernels.h"
#include "runtime/fmath.h"
#include "bn/threadpool.h"
#include "bn/tokenizer.h"
#include "bn/util.h"

/* A weight matrix in the mapping: n_out rows of n_in contiguous elements
 * (GGUF ne = [n_in, n_out]; a PyTorch [out, in] weight). y = W x. */
typedef struct {
    const char *name;       /* GGUF tensor name (owned by the gguf handle) */
    bn_type type;
    int n_in;               /* ne[0] */
    int n_out;              /* ne[1] */
    const uint8_t *data;    /* packed bytes in the mapping */
    uint64_t nbytes;
    size_t row_bytes;       /* bytes of one packed row (I2_S: n_in / 4) */
    float scale;            /* I2_S per-tensor scale (tail); 1 otherwise */
    bn_qmat q;              /* kernel view of a ternary weight (type I2_S / TQ*) */
} bn_weight;

typedef struct {
    float *attn_norm;       /* (n_embd) */
    float *attn_sub_norm;   /* (n_head * head_dim), NULL without sub-norms */
    float *ffn_norm;        /* (n_embd) */
    float *ffn_sub_norm;    /* (n_ff), NULL without sub-norms */
    bn_weight wq;           /* (n_head * head_dim, n_embd) */
    bn_weight wk;           /* (n_head_kv * head_dim, n_embd) */
    bn_weight wv;           /* (n_head_kv * head_dim, n_embd) */
    bn_weight wo;           /* (n_embd, n_head * head_dim) */
    bn_weight wgate;        /* (n_ff, n_embd) */
    bn_weight wup;          /* (n_ff, n_embd) */
    bn_weight wdown;        /* (n_embd, n_ff) */
} bn_layer;

struct bn_model {
    bn_gguf *g;             /* owns the mapping every weight points into */
    bn_hparams hp;
    bn_layer *layers;       /* (n_layer) */
    bn_weight tok_embd;     /* (n_vocab, n_embd) */
    bn_weight output;       /* (n_vocab, n_embd); == tok_embd when tied */
    float *output_norm;     /* (n_embd) */
    bn_tokenizer *tok;      /* NULL when the file has no tokenizer */
    bn_pool *pool;
    int n_threads;
    const bn_kernel *kernel;/* ternary kernel (kernels.h) */
    bn_actq actq;           /* activation quantization of ternary projections */
    int has_ternary;        /* any projection is I2_S / TQ* */
    uint8_t *repack;        /* TQ1_0 projections as TQ2_0 (model.c repack_tq1), or NULL */
    uint64_t repack_bytes;
};

/* ---- matmul.c ---------------------------------------------------------------- */

/* Y[t][r] = sum_k W[r][k] X[t][k] for t in [0, n_tok), r in [0, n_out).
 * X: (n_tok, n_in) float32 set by bnr_mm_set_input (kept by pointer: it must not
 * change until the next set_input), Y: (n_tok, n_out) float32. Ternary weights
 * quantize X to int8 (per token, FORMATS.md §4, or Q8_K for TQ weights when the
 * model's actq says so; once per input, shared by every weight that reads it)
 * and run the model's kernel; float weights (F32, F16,
 * BF16, Q8_0) decode a row once and dot it with every token. Rows are split
 * across the pool; every dot product has a fixed order. */
typedef struct bn_mm_scratch bn_mm_scratch;
bn_status bnr_mm_scratch_new(const bn_model *m, int max_tok, int max_in, bn_mm_scratch **out,
                            bn_error *err);
void bnr_mm_scratch_free(bn_mm_scratch *s);
void bnr_mm_set_input(bn_mm_scratch *s, const float *x, int n_tok, int n_in);
/* Time every input quantization into *actq from now on (NULL: stop). */
void bnr_mm_set_profile(bn_mm_scratch *s, bn_prof_stat *actq);
bn_status bnr_matmul(const bn_model *m, bn_mm_scratch *s, const bn_weight *w, float *y,
                    bn_error *err);

/* One row of an embedding-type weight (F32/F16/BF16/Q8_0) as floats. */
void bnr_weight_row_f32(const bn_weight *w, int row, float *out);


/* ---- kvcache.c ----------------------------------------------------------------- */

typedef struct {
    bn_kv_type type;
    int n_layer, n_seq, n_ctx, n_head_kv, head_dim;
    void *k;                /* (n_layer, n_seq, n_head_kv, n_ctx, head_dim) F32 or F16 */
    void *v;                /* same */
    int *len;               /* (n_seq) cached positions */
} bn_kvcache;

bn_status bnr_kv_init(bn_kvcache *kv, bn_kv_type type, int n_layer, int n_seq, int n_ctx,
                     int n_head_kv, int head_dim, bn_error *err);
void bnr_kv_free(bn_kvcache *kv);
/* Store k/v (n_head_kv * head_dim floats each, head after head) of layer l at
 * (seq, pos); F16 rounds to nearest even. */
void bnr_kv_store(bn_kvcache *kv, int l, int seq, int pos, const float *k, const float *v);
/* The keys (values) of KV head kvh of layer l, sequence seq: n_ctx rows of
 * head_dim floats (F32) or halves (F16), row p at p * head_dim elements. */
const void *bnr_kv_head_k(const bn_kvcache *kv, int l, int seq, int kvh);
const void *bnr_kv_head_v(const bn_kvcache *kv, int l, int seq, int kvh);

/* ---- attention.c ---------------------------------------------------------------- */

/* Causal attention of a chunk of tokens over the cache. For token t, head h
 * (KV head h / (n_head / n_head_kv)) and the n = pos[t] + 1 cached keys K and
 * values V of sequence seq[t], in this order and no other:
 *   s[p] = bnr_dot(q, K[p], head_dim) * (1.0f / sqrtf(head_dim))     (p < n)
 *   m = max s[p];  e[p] = bnr_exp(s[p] - m)
 *   S = e[0] + e[1] + ... in double, in increasing p;  w[p] = e[p] * (float)(1 / S)
 *   out[d] = ((+0 + w[0] V[0][d]) + w[1] V[1][d]) + ... in float, increasing p,
 *            a rounded product then a rounded add
 * (src/verify/reference.c and scripts/reference_forward.py compute the same).
 * The order is each query's own, so results depend neither on which tokens
 * share a call nor on the threads. Queries are tiled (tokens of one sequence
 * x the heads of one KV head) so each cached row is read once per tile. */
typedef struct bnr_att bnr_att;
enum { BNR_ATT_AUTO, BNR_ATT_TILES, BNR_ATT_SPLIT }; /* plans (attention.c), for tests */
/* Scratch for contexts of n_ctx positions, batches of n_batch, n_workers threads. */
bn_status bnr_att_new(const bn_hparams *hp, int n_ctx, int n_batch, int n_workers,
                      bnr_att **out, bn_error *err);
void bnr_att_free(bnr_att *a);
/* out (n_tok, n_head * head_dim) = attention of q (same shape) at seq/pos
 * (n_tok each) over layer l of kv, whose rows of these tokens are stored. */
void bnr_attention(bnr_att *a, bn_pool *pool, const bn_kvcache *kv, int layer, const float *q,
                   const int *seq, const int *pos, int n_tok, float *out);
/* Force a plan and tokens per tile (clamped to what was allocated): tests. */
void bnr_att_set_plan(bnr_att *a, int plan, int tile_tok);
/* Bytes of K and V the last call read (each tile's keys once): the profile. */
double bnr_att_kv_bytes(const bnr_att *a);

/* The inner loops. scores: s[i][j] = bnr_dot(q[i], key j, n) for i < nq,
 * j < nk, key j at k + j * ldk elements (F32, or F16 when f16), with
 * bnr_att_scores_scratch(nq, n) floats of scratch. pv: out[i][d] +=
 * w[i][p] * V[p][d] for p < len[i] in increasing p, d in [d0, d1), V[p] at
 * v + p * ldv elements. _c: portable; _avx512: the same bits, only when
 * bnr_att_avx512_available() (attention_avx512.c). */
size_t bnr_att_scores_scratch(int nq, int n);
void bnr_att_scores_c(const float *const *q, int nq, const void *k, int f16, size_t ldk, int nk,
                        int n, float *const *s, float *scratch);
void bnr_att_pv_c(const float *const *w, const int *len, int nq, const void *v, int f16,
                    size_t ldv, int d0, int d1, float *const *out);
int bnr_att_avx512_available(void);
void bnr_att_scores_avx512(const float *const *q, int nq, const void *k, int f16, size_t ldk,
                             int nk, int n, float *const *s, float *scratch);
void bnr_att_pv_avx512(const float *const *w, const int *len, int nq, const void *v, int f16,
                         size_t ldv, int d0, int d1, float *const *out);
/* Softmax pieces of one row of n scores: exp_row s[p] = bnr_exp(s[p] * scale - m),
 * m the largest s[p] * scale; scale_row s[p] *= f (attention.c's portable forms). */
void bnr_att_exp_row_avx512(float *s, int n, float scale);
void bnr_att_scale_row_avx512(float *s, int n, float f);

/* ---- shared float helpers (matmul.c) ------------------------------------------- */

/* F16 bits -> float for all 65536 values (built once, thread-safe). */
const float *bnr_f16_table(void);
/* bnr_dot, bnr_exp: fmath.h */

/* matmul_avx2.c: the same two primitives with AVX2/F16C, bit-identical results;
 * only called when bnr_avx2_available() (0 on builds without those ISAs). */
int bnr_avx2_available(void);
void bnr_f16_row_avx2(const uint8_t *src, float *dst, int n);
float bnr_dot_avx2(const float *a, const float *b, int n);

/* matmul_avx512.c: the float-weight GEMM, bit-identical to bnr_dot per
 * (token, row); only called when bnr_avx512_available(). A pack holds
 * n_pairs row pairs of n8 (a multiple of 8) floats each, interleaved by 8
 * (pair p at pack + p * 2 * n8); out[t * ldo + i] gets row i's combined lanes
 * for token t of x (n_tok rows of stride ldx), the tail still to add. */
int bnr_avx512_available(void);
void bnr_gemm_pairs_avx512(const float *pack, int n_pairs, int n8, const float *x, size_t ldx,
                             int n_tok, float *out, int ldo);
/* Tokens against n_rows <= 8 consecutive F16 rows starting at w, read
 * in place and converted in registers (no pack): out[t * ldo + i] = the
 * combined lanes of row i for token t (the tail still to add), as the GEMM
 * gives them. xi: the n_tok tokens' first n8 values interleaved by 8, token
 * t's values [8s, 8s + 8) at xi + (s * n_tok + t) * 8. next: the 8 rows read
 * after these, prefetched (NULL: none; all 8 must exist). */
void bnr_gemm_f16_avx512(const uint8_t *w, size_t row_bytes, int n_rows, int n8,
                           const float *xi, int n_tok, float *out, int ldo, const uint8_t *next);
void bnr_dot_rows_avx512(const float *q, const float *rows, size_t stride, int n_rows, int n,
                           float *out);
void bnr_axpy_avx512(float *y, float w, const float *v, int n);
void bnr_exp_rows_avx512(float *v, int n);
void bnr_dot_rows_f16_avx512(const float *q, const uint16_t *rows, size_t stride, int n_rows,
                               int n, float *out);
void bnr_axpy_f16_avx512(float *y, float w, const uint16_t *v, int n);
/* bnr_dot_rows and bnr_axpy over F16 keys / values (the F16 KV cache),
 * each half converted exactly first: the same floats as converting the rows
 * with bnr_f16_table and calling the F32 forms. */
void bnr_dot_rows_f16(const float *q, const uint16_t *rows, size_t stride, int n_rows, int n,
                        float *out);
void bnr_axpy_f16(float *y, float w, const uint16_t *v, int n);
/* v[i] = bnr_exp(v[i]) for i < n (the softmax of attention): the same
 * floats, 8 at a time where AVX-512 is available. */
void bnr_exp_rows(float *v, int n);
/* y[d] += w * v[d] for d < n, each a rounded product then a rounded sum (the
 * weighted sum of values in attention): the AVX-512 form when available. */
void bnr_axpy(float *y, float w, const float *v, int n);
/* out[i] = bnr_dot(q, rows + i * stride, n), i < n_rows (attention scores
 * over consecutive cached keys): the AVX-512 form when available. */
void bnr_dot_rows(const float *q, const float *rows, size_t stride, int n_rows, int n,
                    float *out);

/* ---- elementwise steps of a layer (elementwise.c); each value as the
 * one-token C loop computes it, whatever the grouping or instruction set ---- */

#define BN_NORM_ROWS 8 /* rows whose square sums bnr_rmsnorm_rows runs side by side */
/* out row r = x row r * (1 / sqrt(mean(x²) + eps)) * w for r < n_rows rows of
 * n (strides ldo, ldx in floats; out may be x): ggml's RMS norm, each square
 * in float summed in double in element order. */
void bnr_rmsnorm_rows(float *out, size_t ldo, const float *x, size_t ldx, const float *w,
                      int n, int n_rows, float eps);
/* g[i] = max(g[i], 0)² * u[i] (ReLU², NaN -> 0), i < n. */
void bnr_relu2_mul(float *g, const float *u, size_t n);
/* g[i] = g[i] / (1 + bnr_exp(-g[i])) * u[i] (SiLU gate), i < n. */
void bnr_silu_mul(float *g, const float *u, size_t n);
/* x[i] += y[i], i < n. */
void bnr_add_into(float *x, const float *y, size_t n);
/* The AVX-512 forms (elementwise_avx512.c): each does the leading whole
 * vectors and returns how many elements that was; the caller does the rest. */
int bnr_scale_mul_avx512(float *out, const float *x, float scale, const float *w, int n);
size_t bnr_relu2_mul_avx512(float *g, const float *u, size_t n);
size_t bnr_add_into_avx512(float *x, const float *y, size_t n);

#endif
