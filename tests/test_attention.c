/* test_attention.c - attention over the KV cache (attention.c,
 * attention_avx512.c) against the order model_internal.h documents, written
 * out here independently: per (token, head) the scores by bnr_dot's order
 * (8 lanes over i = j mod 8, combined ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)),
 * then the tail), times 1/sqrtf(head_dim), minus their maximum, bnr_exp,
 * summed in double in increasing position, each times (float)(1/sum), and
 * the values summed in float in increasing position from +0.
 *
 * Every value must match bit for bit:
 *  - the inner loops, portable and AVX-512 (when the CPU has it), on odd
 *    query / key counts, head sizes with a tail, column ranges that are not
 *    multiples of 16, each query with its own causal length, F32 and F16 rows;
 *  - the whole attention of a chunk that mixes two sequences, whatever the
 *    plan (tiles of 1 .. max tokens, or the split plan that cuts keys and
 *    columns across threads), the thread count, or whether a token comes
 *    alone or with the others - for head counts with and without GQA, one KV
 *    head for 32 query heads, and both cache types. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "runtime/model_internal.h"
#include "testutil.h"

/* Random values with awkward members: zeros of both signs, tiny and large
 * magnitudes, exact cancellations (finite: no NaN payloads to compare). */
static float awkward(void)
{
    uint32_t r = tu_rand32();
    switch (r % 16) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return (float)tu_gauss() * 1e-30f;
    case 3: return (float)tu_gauss() * 1e4f;
    case 4: return 1.0f;
    case 5: return -1.0f;
    default: return (float)tu_gauss();
    }
}

/* A float that F16 holds exactly (so F16 rows and their F32 twins agree). */
static float f16_exact(float f)
{
    return bn_f16_to_f32(bn_f32_to_f16(f));
}

static void assert_bits(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(tu_f32_bits(got[i]) == tu_f32_bits(want[i]), "%s: element %zu: %.9g != %.9g",
                      what, i, got[i], want[i]);
}

/* ---- the inner loops ------------------------------------------------------------------- */

/* s[i][j] = bnr_dot(q[i], k[j]) for F32 and F16 keys, both forms. */
START_TEST(test_scores)
{
    static const int ns[] = {1, 7, 8, 13, 64, 74, 128};
    static const int nqs[] = {1, 2, 3, 4, 5, 16, 33};
    static const int nks[] = {1, 5, 8, 9, 17, 40};
    const int simd = bnr_att_avx512_available();
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof nqs / sizeof *nqs; b++)
            for (size_t c = 0; c < sizeof nks / sizeof *nks; c++) {
                const int n = ns[a], nq = nqs[b], nk = nks[c];
                const size_t ldk = (size_t)n + 3; /* rows not contiguous */
                float *q = malloc(sizeof(float) * nq * n), *k = malloc(sizeof(float) * nk * ldk);
                uint16_t *kh = malloc(sizeof(uint16_t) * nk * ldk);
                float *want = malloc(sizeof(float) * nq * nk), *got = malloc(sizeof(float) * nq * nk);
                float *scr = malloc(sizeof(float) * bnr_att_scores_scratch(nq, n));
                const float *qp[33];
                float *sp[33];
                for (int i = 0; i < nq * n; i++)
                    q[i] = awkward();
                for (size_t i = 0; i < nk * ldk; i++) {
                    k[i] = f16_exact(awkward());
                    kh[i] = bn_f32_to_f16(k[i]);
                }
                for (int i = 0; i < nq; i++) {
                    qp[i] = q + (size_t)i * n;
                    sp[i] = got + (size_t)i * nk;
                    for (int j = 0; j < nk; j++)
                        want[i * nk + j] = tu_ref_dot(qp[i], k + j * ldk, n);
                }
                for (int f16 = 0; f16 < 2; f16++)
                    for (int form = 0; form < 1 + simd; form++) {
                        char what[96];
                        snprintf(what, sizeof what, "scores %s %s n %d nq %d nk %d",
                                 form ? "avx512" : "c", f16 ? "f16" : "f32", n, nq, nk);
                        memset(got, 0x7f, sizeof(float) * nq * nk);
                        (form ? bnr_att_scores_avx512 : bnr_att_scores_c)(
                            qp, nq, f16 ? (const void *)kh : (const void *)k, f16, ldk, nk, n, sp,
                            scr);
                        assert_bits(got, want, (size_t)nq * nk, what);
                    }
                free(q);
                free(k);
                free(kh);
                free(want);
                free(got);
                free(scr);
            }
}
END_TEST

/* out[i][d] += w[i][p] v[p][d] over each query's own length, columns [d0, d1). */
START_TEST(test_weighted_values)
{
    static const int hds[] = {16, 32, 74, 128, 200};
    static const int nqs[] = {1, 2, 3, 4, 5, 7, 16};
    const int simd = bnr_att_avx512_available();
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
        for (size_t b = 0; b < sizeof nqs / sizeof *nqs; b++) {
            const int hd = hds[a], nq = nqs[b], np = 45;
            const int ranges[][2] = {{0, hd}, {0, hd / 2}, {hd / 2, hd}, {3, hd - 5}, {16, 48 < hd ? 48 : hd}};
            float *v = malloc(sizeof(float) * np * hd), *w = malloc(sizeof(float) * nq * np);
            uint16_t *vh = malloc(sizeof(uint16_t) * np * hd);
            float *want = malloc(sizeof(float) * nq * hd), *got = malloc(sizeof(float) * nq * hd);
            const float *wp[16];
            float *op[16];
            int len[16];
            for (int i = 0; i < np * hd; i++) {
                v[i] = f16_exact(awkward());
                vh[i] = bn_f32_to_f16(v[i]);
            }
            for (int i = 0; i < nq * np; i++)
                w[i] = awkward();
            for (int i = 0; i < nq; i++) { /* a causal fringe, and one query with no keys */
                len[i] = i == 5 ? 0 : np - 9 + (i * 7) % 10;
                wp[i] = w + (size_t)i * np;
                op[i] = got + (size_t)i * hd;
            }
            for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
                const int d0 = ranges[r][0], d1 = ranges[r][1];
                for (int i = 0; i < nq * hd; i++)
                    want[i] = (float)(i % 5) - 2.0f; /* accumulated into, not overwritten */
                for (int i = 0; i < nq; i++)
                    for (int d = d0; d < d1; d++) {
                        float acc = want[i * hd + d];
                        for (int p = 0; p < len[i]; p++)
                            acc = acc + wp[i][p] * v[p * hd + d];
                        want[i * hd + d] = acc;
                    }
                for (int f16 = 0; f16 < 2; f16++)
                    for (int form = 0; form < 1 + simd; form++) {
                        char what[96];
                        snprintf(what, sizeof what, "pv %s %s hd %d nq %d cols [%d, %d)",
                                 form ? "avx512" : "c", f16 ? "f16" : "f32", hd, nq, d0, d1);
                        for (int i = 0; i < nq * hd; i++)
                            got[i] = (float)(i % 5) - 2.0f;
                        (form ? bnr_att_pv_avx512 : bnr_att_pv_c)(
                            wp, len, nq, f16 ? (const void *)vh : (const void *)v, f16, (size_t)hd,
                            d0, d1, op);
                        assert_bits(got, want, (size_t)nq * hd, what);
                    }
            }
            free(v);
            free(vh);
            free(w);
            free(want);
            free(got);
        }
}
END_TEST

/* The softmax's exponents: the vector maximum may pick the other zero of a
 * +0/-0 tie, the exponents must not change. */
START_TEST(test_exp_row)
{
    if (!bnr_att_avx512_available())
        return;
    enum { N = 999 };
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    for (int pass = 0; pass < 6; pass++) {
        for (int n = 1; n <= N; n += (n < 40 ? 1 : 97)) {
            for (int i = 0; i < n; i++) {
                a[i] = pass == 0   ? awkward()
                       : pass == 1 ? (i % 2 ? 0.0f : -0.0f) /* the maximum is a zero tie */
                       : pass == 2 ? (i % 3 ? -INFINITY : (float)tu_gauss())
                       : pass == 3 ? -(float)(tu_rand32() % 100) /* integer ties */
                       : pass == 4 ? (float)tu_gauss() * 300.0f /* far below the maximum */
                                   : (i == n / 2 ? 0.0f : -0.0f) * (float)tu_gauss();
                b[i] = a[i];
            }
            const float scale = pass == 3 ? 1.0f : 0.125f;
            float mx = -INFINITY; /* attention.c's portable form, spelled out */
            for (int i = 0; i < n; i++) {
                b[i] = b[i] * scale;
                mx = b[i] > mx ? b[i] : mx;
            }
            for (int i = 0; i < n; i++)
                b[i] = bnr_exp(b[i] - mx);
            bnr_att_exp_row_avx512(a, n, scale);
            char what[64];
            snprintf(what, sizeof what, "exp row pass %d n %d", pass, n);
            assert_bits(a, b, (size_t)n, what);
        }
    }
    free(a);
    free(b);
}
END_TEST

/* ---- the attention of a chunk ------------------------------------------------------------ */

typedef struct {
    int n_head, n_head_kv, hd;
} shape;

/* One chunk: sequence 1 resumes at position 7 (its 7 earlier positions cached
 * before), sequence 0 starts at 0; then keys and values for every position. */
typedef struct {
    shape sh;
    int n_tok, n_ctx;
    int seq[400], pos[400];
    float *q;               /* (n_tok, n_head * hd) */
    float *k[2], *v[2];     /* per sequence (n_ctx, n_head_kv * hd), F16-exact */
} chunk;

static void make_chunk(chunk *c, shape sh, int n0, int n1)
{
    memset(c, 0, sizeof *c);
    c->sh = sh;
    c->n_ctx = 320;
    for (int i = 0; i < n1; i++) {
        c->seq[c->n_tok] = 1;
        c->pos[c->n_tok++] = 7 + i;
    }
    for (int i = 0; i < n0; i++) {
        c->seq[c->n_tok] = 0;
        c->pos[c->n_tok++] = i;
    }
    const size_t qd = (size_t)sh.n_head * sh.hd, kvd = (size_t)sh.n_head_kv * sh.hd;
    c->q = malloc(sizeof(float) * c->n_tok * qd);
    for (size_t i = 0; i < c->n_tok * qd; i++)
        c->q[i] = (float)tu_gauss() * 2.0f;
    for (int s = 0; s < 2; s++) {
        c->k[s] = malloc(sizeof(float) * c->n_ctx * kvd);
        c->v[s] = malloc(sizeof(float) * c->n_ctx * kvd);
        for (size_t i = 0; i < c->n_ctx * kvd; i++) {
            c->k[s][i] = f16_exact((float)tu_gauss());
            c->v[s][i] = f16_exact(awkward());
        }
    }
}

static void free_chunk(chunk *c)
{
    free(c->q);
    for (int s = 0; s < 2; s++) {
        free(c->k[s]);
        free(c->v[s]);
    }
}

/* The documented attention of every token of the chunk, from the plain arrays. */
static float *ref_attention(const chunk *c)
{
    const shape sh = c->sh;
    const int hd = sh.hd, qd = sh.n_head * hd, kvd = sh.n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *out = malloc(sizeof(float) * c->n_tok * qd), *s = malloc(sizeof(float) * c->n_ctx);
    for (int t = 0; t < c->n_tok; t++)
        for (int h = 0; h < sh.n_head; h++) {
            const int kvh = h / (sh.n_head / sh.n_head_kv), n = c->pos[t] + 1;
            const float *q = c->q + (size_t)t * qd + h * hd;
            const float *K = c->k[c->seq[t]] + kvh * hd, *V = c->v[c->seq[t]] + kvh * hd;
            float mx = -INFINITY;
            for (int p = 0; p < n; p++) {
                s[p] = tu_ref_dot(q, K + (size_t)p * kvd, hd) * scale;
                if (s[p] > mx)
                    mx = s[p];
            }
            double sum = 0.0;
            for (int p = 0; p < n; p++) {
                s[p] = bnr_exp(s[p] - mx);
                sum += s[p];
            }
            const float inv = (float)(1.0 / sum);
            for (int d = 0; d < hd; d++) {
                float acc = 0.0f;
                for (int p = 0; p < n; p++)
                    acc = acc + s[p] * inv * V[(size_t)p * kvd + d];
                out[(size_t)t * qd + h * hd + d] = acc;
            }
        }
    free(s);
    return out;
}

static void check_shape(shape sh, int n0, int n1)
{
    chunk c;
    make_chunk(&c, sh, n0, n1);
    bn_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.n_head = sh.n_head;
    hp.n_head_kv = sh.n_head_kv;
    hp.head_dim = sh.hd;
    float *want = ref_attention(&c);
    const size_t qd = (size_t)sh.n_head * sh.hd, n_out = c.n_tok * qd;
    float *got = malloc(sizeof(float) * n_out);
    bn_error e;
    for (int kt = 0; kt < 2; kt++) {
        bn_kvcache kv;
        ck_assert_msg(bnr_kv_init(&kv, kt ? BN_KV_F16 : BN_KV_F32, 2, 2, c.n_ctx, sh.n_head_kv,
                                  sh.hd, &e) == BN_OK, "%s", e.msg);
        const size_t kvd = (size_t)sh.n_head_kv * sh.hd;
        for (int s = 0; s < 2; s++)
            for (int p = 0; p < c.n_ctx; p++) /* layer 1 is the one read; layer 0 is noise */
                for (int l = 0; l < 2; l++)
                    bnr_kv_store(&kv, l, s, p, c.k[s] + (l ? p : c.n_ctx - 1 - p) * kvd,
                                 c.v[s] + (l ? p : (p * 5) % c.n_ctx) * kvd);
        for (int nt = 1; nt <= 3; nt++) {
            bn_pool *pool = NULL;
            if (nt > 1)
                ck_assert(bn_pool_create(nt, &pool, &e) == BN_OK);
            bnr_att *a;
            ck_assert_msg(bnr_att_new(&hp, c.n_ctx, c.n_tok, nt, &a, &e) == BN_OK, "%s", e.msg);
            const int max_tile = sh.n_head / sh.n_head_kv >= 16 ? 1 : 16 / (sh.n_head / sh.n_head_kv);
            for (int plan = 0; plan < 2 + max_tile; plan++) {
                /* 0: auto; 1: split; 2..: tiles of plan - 1 tokens */
                bnr_att_set_plan(a, plan == 0 ? BNR_ATT_AUTO : plan == 1 ? BNR_ATT_SPLIT
                                                                          : BNR_ATT_TILES,
                                 plan >= 2 ? plan - 1 : max_tile);
                char what[128];
                snprintf(what, sizeof what, "heads %d/%d hd %d kv %s threads %d plan %d",
                         sh.n_head, sh.n_head_kv, sh.hd, kt ? "f16" : "f32", nt, plan);
                memset(got, 0xff, sizeof(float) * n_out);
                bnr_attention(a, pool, &kv, 1, c.q, c.seq, c.pos, c.n_tok, got);
                assert_bits(got, want, n_out, what);
            }
            /* each token alone */
            bnr_att_set_plan(a, BNR_ATT_AUTO, max_tile);
            memset(got, 0xff, sizeof(float) * n_out);
            for (int t = 0; t < c.n_tok; t++)
                bnr_attention(a, pool, &kv, 1, c.q + t * qd, c.seq + t, c.pos + t, 1,
                              got + t * qd);
            assert_bits(got, want, n_out, "token by token");
            bnr_att_free(a);
            bn_pool_destroy(pool);
        }
        bnr_kv_free(&kv);
    }
    free(got);
    free(want);
    free_chunk(&c);
}

START_TEST(test_gqa) { check_shape((shape){8, 2, 64}, 37, 20); }
END_TEST
START_TEST(test_no_gqa_tail) { check_shape((shape){4, 4, 74}, 30, 9); }
END_TEST
START_TEST(test_2b_heads_long) { check_shape((shape){20, 5, 128}, 300, 3); }
END_TEST
START_TEST(test_odd_group) { check_shape((shape){6, 1, 32}, 40, 11); }
END_TEST
START_TEST(test_wide_group) { check_shape((shape){32, 1, 16}, 25, 4); }
END_TEST

int main(void)
{
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_scores);
    tcase_add_test(tc, test_weighted_values);
    tcase_add_test(tc, test_exp_row);
    tcase_add_test(tc, test_gqa);
    tcase_add_test(tc, test_no_gqa_tail);
    tcase_add_test(tc, test_2b_heads_long);
    tcase_add_test(tc, test_odd_group);
    tcase_add_test(tc, test_wide_group);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
