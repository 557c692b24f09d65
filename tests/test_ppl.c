/* test_ppl.c - perplexity (FORMATS.md §6) against hand-computed values and
 * KL-divergence statistics, over fake evaluators whose logits are known. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "bn/gguf.h"
#include "bn/model.h"
#include "bn/verify.h"
#include "testutil.h"
/* ---- NLL and KLD by hand ------------------------------------------------------- */

START_TEST(test_nll_hand)
{
    /* logsumexp(0, 0, ln 2) = ln 4; NLL of token 2 = ln 4 - ln 2 = ln 2 */
    float lg[3] = {0.0f, 0.0f, (float)log(2.0)};
    ck_assert_double_eq_tol(bn_nll(lg, 3, 2), log(2.0), 1e-7);
    ck_assert_double_eq_tol(bn_nll(lg, 3, 0), log(4.0), 1e-6);
    /* shift invariance with large logits (no overflow) */
    float big[3] = {1000.0f, 1000.0f, 1000.0f};
    ck_assert_double_eq_tol(bn_nll(big, 3, 1), log(3.0), 1e-9);
}
END_TEST

START_TEST(test_kld_hand)
{
    /* base p = (1/2, 1/2), test p = (3/4, 1/4):
     * KLD = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3); top-1 both 0 (first on ties);
     * target 1: dp = 1/4 - 1/2 = -1/4; dNLL = ln 4 - ln 2 = ln 2 */
    float base[2] = {0.0f, 0.0f};
    float test[2] = {(float)log(3.0), 0.0f};
    bn_kld_stats s;
    bn_kld_init(&s);
    ck_assert_int_eq(bn_kld_add(&s, base, test, 2, 1, NULL), BN_OK);
    bn_kld_result r;
    bn_kld_finish(&s, &r);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_double_eq_tol(r.kld_mean, 0.5 * log(4.0 / 3.0), 1e-7);
    ck_assert(r.top1 == 1.0);
    ck_assert_double_eq_tol(r.mean_dp, -0.25, 1e-7);
    ck_assert_double_eq_tol(r.rms_dp, 0.25, 1e-7);
    ck_assert_double_eq_tol(r.ln_ppl_ratio, log(2.0), 1e-7);
    ck_assert_double_eq_tol(r.ppl_ratio, 2.0, 1e-6);
    ck_assert_double_eq_tol(r.ppl_base, 2.0, 1e-6);
    ck_assert_double_eq_tol(r.ppl_test, 4.0, 1e-6);

    /* second position: test argmax differs -> top1 = 1/2, err = sqrt(.25/1) */
    float t2[2] = {0.0f, 1.0f};
    ck_assert_int_eq(bn_kld_add(&s, base, t2, 2, 0, NULL), BN_OK);
    bn_kld_finish(&s, &r);
    ck_assert(r.top1 == 0.5);
    ck_assert_double_eq_tol(r.top1_err, 0.5, 1e-12);
    double p0 = 1.0 / (1.0 + exp(1.0));
    double kld2 = 0.5 * log(0.5 / p0) + 0.5 * log(0.5 / (1.0 - p0));
    ck_assert_double_eq_tol(r.kld_mean, (0.5 * log(4.0 / 3.0) + kld2) / 2, 1e-7);
    ck_assert_double_eq_tol(r.kld_max, kld2 > 0.5 * log(4.0 / 3.0) ? kld2 : 0.5 * log(4.0 / 3.0),
                            1e-7);
    double dp2 = p0 - 0.5;
    ck_assert_double_eq_tol(r.rms_dp, sqrt((0.0625 + dp2 * dp2) / 2), 1e-7);

    bn_error e;
    ck_assert_int_eq(bn_kld_add(&s, base, test, 2, 2, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "target token 2"));
    float nan_row[2] = {NAN, 0.0f};
    ck_assert_int_eq(bn_kld_add(&s, base, nan_row, 2, 0, &e), BN_EINVAL);
}
END_TEST

/* ---- perplexity over fake evaluators ----------------------------------------------- */

typedef struct {
    bn_evaluator ev;
    int kind;              /* 0 uniform, 1 position-dependent */
    int32_t bos;           /* expected first token of every sequence, -1: none */
    const int32_t *text;   /* the original tokens, to check what the evaluator sees */
    int n_ctx;
    int chunk;             /* chunks seen so far */
    int bad;               /* set when the tokens handed over were wrong */
} fake_eval;

static bn_status fake_run(bn_evaluator *ev, const int32_t *tokens, int n_seq, int n_ctx,
                          float *logits, bn_error *err)
{
    (void)err;
    fake_eval *f = ev->impl;
    int V = ev->n_vocab;
    for (int s = 0; s < n_seq; s++, f->chunk++) {
        const int32_t *tk = tokens + (size_t)s * n_ctx;
        const int32_t *orig = f->text + (size_t)f->chunk * n_ctx;
        if (f->bos >= 0 && tk[0] != f->bos)
            f->bad = 1;
        if (memcmp(tk + 1, orig + 1, (size_t)(n_ctx - 1) * sizeof *tk) != 0)
            f->bad = 1;
        for (int j = 0; j < n_ctx; j++) {
            float *row = logits + ((size_t)s * n_ctx + j) * V;
            for (int i = 0; i < V; i++)
                row[i] = 0.0f;
            if (f->kind == 1 && j + 1 < n_ctx)
                row[tk[j + 1]] = 0.01f * (float)j; /* p(target) grows with the position */
        }
    }
    return BN_OK;
}

static void fake_init(fake_eval *f, int kind, int V, int max_seq, const int32_t *text,
                      int32_t bos, int n_ctx)
{
    memset(f, 0, sizeof *f);
    f->ev.n_vocab = V;
    f->ev.max_seq = max_seq;
    f->ev.eval = fake_run;
    f->ev.impl = f;
    f->kind = kind;
    f->text = text;
    f->bos = bos;
    f->n_ctx = n_ctx;
}


START_TEST(test_ppl_uniform)
{
    const int V = 50, n_ctx = 16;
    size_t n = 16 * 5 + 7; /* 5 chunks, remainder dropped */
    int32_t *text = tu_token_text(n, V);
    fake_eval f;
    fake_init(&f, 0, V, 2, text, -1, n_ctx);
    bn_ppl_params p;
    bn_ppl_params_init(&p);
    p.n_ctx = n_ctx;
    bn_ppl_result r;
    ck_assert_int_eq(bn_ppl_run(&f.ev, text, n, &p, &r, NULL), BN_OK);
    ck_assert_int_eq(r.n_chunks, 5);
    ck_assert_uint_eq(r.n_scored, 5 * (n_ctx - 1 - n_ctx / 2)); /* 7 per chunk */
    ck_assert_double_eq_tol(r.ppl, (double)V, 1e-9);
    /* llama.cpp's error formula, mean(x^2) - mean(x)^2, leaves rounding noise */
    ck_assert_double_eq_tol(r.ppl_err, 0.0, 1e-4);
    ck_assert_int_eq(f.bad, 0);
    free(text);
}
END_TEST

/* The expected value, computed from the definition in FORMATS.md §6. */
static double expected_positional(int V, int n_ctx, int n_chunks, double *err)
{
    double s = 0, s2 = 0;
    int cnt = 0;
    for (int c = 0; c < n_chunks; c++)
        for (int j = n_ctx / 2; j <= n_ctx - 2; j++) {
            double a = (double)(0.01f * (float)j);
            double nll = log((double)(V - 1) + exp(a)) - a;
            s += nll;
            s2 += nll * nll;
            cnt++;
        }
    double m = s / cnt;
    double ppl = exp(m);
    *err = ppl * sqrt((s2 / cnt - m * m) / (cnt - 1));
    return ppl;
}

START_TEST(test_ppl_positions_bos_grouping)
{
    const int V = 40, n_ctx = 32;
    size_t n = 32 * 7;
    int32_t *text = tu_token_text(n, V);
    double want_err, want = expected_positional(V, n_ctx, 6, &want_err);
    double got[3];
    for (int g = 0; g < 3; g++) {
        int max_seq = g == 0 ? 1 : g == 1 ? 4 : 7;
        fake_eval f;
        fake_init(&f, 1, V, max_seq, text, 3, n_ctx);
        bn_ppl_params p;
        bn_ppl_params_init(&p);
        p.n_ctx = n_ctx;
        p.max_chunks = 6;
        p.add_bos = 1;
        p.bos_id = 3;
        bn_ppl_result r;
        ck_assert_int_eq(bn_ppl_run(&f.ev, text, n, &p, &r, NULL), BN_OK);
        ck_assert_int_eq(f.bad, 0);
        ck_assert_int_eq(f.chunk, 6);
        ck_assert_int_eq(r.n_chunks, 6);
        ck_assert_double_eq_tol(r.ppl, want, want * 1e-12);
        ck_assert_double_eq_tol(r.ppl_err, want_err, want_err * 1e-9);
        got[g] = r.ppl;
    }
    /* grouping never changes the value */
    ck_assert(got[0] == got[1] && got[1] == got[2]);
    free(text);
}
END_TEST

static int n_progress;
static double last_progress;
static bn_status count_chunks(void *user, const bn_ppl_progress *pr, bn_error *err)
{
    (void)user;
    (void)err;
    n_progress++;
    last_progress = pr->ppl;
    return BN_OK;
}

START_TEST(test_ppl_kld_against_itself)
{
    const int V = 30, n_ctx = 8;
    size_t n = 8 * 4;
    int32_t *text = tu_token_text(n, V);
    fake_eval f, b;
    fake_init(&f, 1, V, 3, text, -1, n_ctx);
    fake_init(&b, 1, V, 2, text, -1, n_ctx);
    bn_ppl_params p;
    bn_ppl_params_init(&p);
    p.n_ctx = n_ctx;
    p.base = &b.ev;
    p.on_chunk = count_chunks;
    n_progress = 0;
    bn_ppl_result r;
    ck_assert_int_eq(bn_ppl_run(&f.ev, text, n, &p, &r, NULL), BN_OK);
    ck_assert_int_eq(n_progress, 4);
    ck_assert_double_eq(last_progress, r.ppl);
    ck_assert_int_eq(r.has_kld, 1);
    ck_assert_uint_eq(r.kld.n, r.n_scored);
    ck_assert_double_eq_tol(r.kld.kld_mean, 0.0, 1e-12);
    ck_assert(r.kld.top1 == 1.0);
    ck_assert_double_eq_tol(r.kld.ppl_ratio, 1.0, 1e-12);
    ck_assert_double_eq_tol(r.kld.ppl_test, r.ppl, 1e-9);
    free(text);
}
END_TEST

START_TEST(test_ppl_bad_input)
{
    const int V = 30;
    int32_t *text = tu_token_text(100, V);
    fake_eval f;
    fake_init(&f, 0, V, 1, text, -1, 64);
    bn_ppl_params p;
    bn_ppl_params_init(&p);
    p.n_ctx = 64;
    bn_ppl_result r;
    bn_error e;
    /* 100 tokens < 2 * 64 */
    ck_assert_int_eq(bn_ppl_run(&f.ev, text, 100, &p, &r, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "at least 128 tokens"));
    p.n_ctx = 16;
    text[50] = V; /* out of the vocabulary */
    ck_assert_int_eq(bn_ppl_run(&f.ev, text, 100, &p, &r, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "token 50"));
    text[50] = 0;
    p.add_bos = 1;
    p.bos_id = V + 5;
    ck_assert_int_eq(bn_ppl_run(&f.ev, text, 100, &p, &r, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "BOS"));
    free(text);
}
END_TEST
int main(void)
{
    Suite *s = suite_create("ppl");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_nll_hand);
    tcase_add_test(tc, test_kld_hand);
    tcase_add_test(tc, test_ppl_uniform);
    tcase_add_test(tc, test_ppl_positions_bos_grouping);
    tcase_add_test(tc, test_ppl_kld_against_itself);
    tcase_add_test(tc, test_ppl_bad_input);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
