/* test_sampler.c - greedy choice, the truncation filters, the repetition
 * penalty, reproducibility, and the drawn distribution against exact
 * probabilities computed here in double. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bn/sampler.h"
#include "testutil.h"

static bn_sampler *make(float temp, int top_k, float top_p, float min_p, float pen, uint64_t seed,
                        int n_vocab)
{
    bn_sampler_params p;
    bn_sampler_params_default(&p);
    p.temp = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = pen;
    p.seed = seed;
    bn_sampler *s = NULL;
    bn_error e;
    ck_assert_msg(bn_sampler_new(&p, n_vocab, &s, &e) == BN_OK, "%s", e.msg);
    return s;
}

START_TEST(test_greedy)
{
    float lg[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, -INFINITY};
    bn_sampler *s = make(0.0f, 40, 0.95f, 0.05f, 1.0f, 1, 6);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 1); /* tie 1/3: lowest id */
    bn_sampler_free(s);
    /* NaN never wins, greedy or sampled */
    float nan_lg[3] = {NAN, 1.0f, NAN};
    bn_sampler *cold = make(0.0f, 0, 1.0f, 0.0f, 1.0f, 3, 3);
    ck_assert_int_eq(bn_sampler_sample(cold, nan_lg), 1);
    bn_sampler_free(cold);
    bn_sampler *hot = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 3, 3);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(bn_sampler_sample(hot, nan_lg), 1);
    bn_sampler_free(hot);
    /* top-k 1 is greedy too, at any temperature */
    s = make(5.0f, 1, 1.0f, 0.0f, 1.0f, 9, 6);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(bn_sampler_sample(s, lg), 1);
    bn_sampler_free(s);
}
END_TEST

START_TEST(test_repeat_penalty)
{
    float lg[4] = {2.0f, 1.9f, -0.5f, -0.6f};
    bn_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.5f, 1, 4);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 0);
    bn_sampler_accept(s, 0); /* 2.0 / 1.5 = 1.33 < 1.9 */
    bn_sampler_accept(s, 0); /* repeated in the window: penalized once */
    ck_assert_int_eq(bn_sampler_sample(s, lg), 1);
    bn_sampler_accept(s, 1); /* 1.9 / 1.5 = 1.27 < 1.33 */
    ck_assert_int_eq(bn_sampler_sample(s, lg), 0);
    ck_assert(lg[0] == 2.0f); /* the caller's logits are untouched */
    bn_sampler_reset(s);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 0);
    bn_sampler_free(s);
    /* negative logits are multiplied: -0.5 * 1.5 = -0.75 < -0.6 */
    float neg[2] = {-0.5f, -0.6f};
    s = make(0.0f, 0, 1.0f, 0.0f, 1.5f, 1, 2);
    bn_sampler_accept(s, 0);
    ck_assert_int_eq(bn_sampler_sample(s, neg), 1);
    bn_sampler_free(s);
}
END_TEST

/* OpenAI's frequency and presence penalties, after the repetition penalty. */
static bn_sampler *make_pen(float rep, float freq, float pres, int n_vocab)
{
    bn_sampler_params p;
    bn_sampler_params_default(&p);
    p.temp = 0.0f;
    p.repeat_penalty = rep;
    p.freq_penalty = freq;
    p.presence_penalty = pres;
    bn_sampler *s = NULL;
    bn_error e;
    ck_assert_msg(bn_sampler_new(&p, n_vocab, &s, &e) == BN_OK, "%s", e.msg);
    return s;
}

START_TEST(test_frequency_presence_penalty)
{
    float lg[3] = {1.0f, 0.5f, 0.3f};
    /* token 0 seen twice: 1.0 - 2 * 0.2 = 0.6 > 0.5; three times: 0.4 < 0.5 */
    bn_sampler *s = make_pen(1.0f, 0.2f, 0.0f, 3);
    bn_sampler_accept(s, 0);
    bn_sampler_accept(s, 0);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 0);
    bn_sampler_accept(s, 0);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 1);
    /* the scratch counts are cleared between samples: the same answer again */
    ck_assert_int_eq(bn_sampler_sample(s, lg), 1);
    bn_sampler_free(s);
    /* presence: once, whatever the count: 1.0 - 0.45 = 0.55 > 0.5; 0.55 penalty: 0.45 < 0.5 */
    s = make_pen(1.0f, 0.0f, 0.45f, 3);
    for (int i = 0; i < 5; i++)
        bn_sampler_accept(s, 0);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 0);
    bn_sampler_free(s);
    s = make_pen(1.0f, 0.0f, 0.55f, 3);
    bn_sampler_accept(s, 0);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 1);
    bn_sampler_free(s);
    /* order: repetition penalty first, 1.0 / 2 - 0.1 = 0.4 < 0.42 (the other order
     * would give (1.0 - 0.1) / 2 = 0.45 and keep token 0) */
    float lg2[2] = {1.0f, 0.42f};
    s = make_pen(2.0f, 0.0f, 0.1f, 2);
    bn_sampler_accept(s, 0);
    ck_assert_int_eq(bn_sampler_sample(s, lg2), 1);
    bn_sampler_free(s);
    /* negative penalties favour repeats */
    s = make_pen(1.0f, -0.3f, 0.0f, 3);
    bn_sampler_accept(s, 2);
    bn_sampler_accept(s, 2);
    bn_sampler_accept(s, 2);
    ck_assert_int_eq(bn_sampler_sample(s, lg), 2); /* 0.3 + 0.9 = 1.2 */
    bn_sampler_free(s);
}
END_TEST

/* Frequencies over many draws against exact probabilities. */
static void check_distribution(bn_sampler *s, const float *lg, int n, const double *want,
                               int draws)
{
    int *count = calloc((size_t)n, sizeof *count);
    for (int i = 0; i < draws; i++) {
        int32_t t = bn_sampler_sample(s, lg);
        ck_assert(t >= 0 && t < n);
        count[t]++;
    }
    for (int i = 0; i < n; i++) {
        double f = (double)count[i] / draws;
        /* 5 standard deviations of a binomial frequency */
        double tol = 5 * sqrt(want[i] * (1 - want[i]) / draws) + 1e-9;
        ck_assert_msg(fabs(f - want[i]) <= tol, "token %d: frequency %.4f, expected %.4f", i, f,
                      want[i]);
    }
    free(count);
}

START_TEST(test_distribution_and_filters)
{
    float lg[4] = {logf(4.0f), logf(3.0f), logf(2.0f), logf(1.0f)}; /* p = .4 .3 .2 .1 */
    bn_sampler *s = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 42, 4);
    double all[4] = {.4, .3, .2, .1};
    check_distribution(s, lg, 4, all, 40000);
    bn_sampler_free(s);
    /* top-k 2: renormalized .4/.7, .3/.7 */
    s = make(1.0f, 2, 1.0f, 0.0f, 1.0f, 43, 4);
    double k2[4] = {4.0 / 7, 3.0 / 7, 0, 0};
    check_distribution(s, lg, 4, k2, 40000);
    bn_sampler_free(s);
    /* top-p 0.65: .4 + .3 reaches it, the rest is cut */
    s = make(1.0f, 0, 0.65f, 0.0f, 1.0f, 44, 4);
    check_distribution(s, lg, 4, k2, 40000);
    bn_sampler_free(s);
    /* min-p 0.45: keep p >= .18 */
    s = make(1.0f, 0, 1.0f, 0.45f, 1.0f, 45, 4);
    double mp[4] = {4.0 / 9, 3.0 / 9, 2.0 / 9, 0};
    check_distribution(s, lg, 4, mp, 40000);
    bn_sampler_free(s);
    /* temperature 0.5 squares the odds: 16:9:4:1 */
    s = make(0.5f, 0, 1.0f, 0.0f, 1.0f, 46, 4);
    double t5[4] = {16.0 / 30, 9.0 / 30, 4.0 / 30, 1.0 / 30};
    check_distribution(s, lg, 4, t5, 40000);
    bn_sampler_free(s);
}
END_TEST

START_TEST(test_seed_reproducible)
{
    enum { V = 1000, N = 200 };
    float *lg = malloc(V * sizeof *lg);
    for (int i = 0; i < V; i++)
        lg[i] = sinf((float)i) * 3.0f;
    int32_t a[N], b[N], c[N];
    bn_sampler *s1 = make(1.0f, 100, 0.9f, 0.01f, 1.1f, 7, V);
    bn_sampler *s2 = make(1.0f, 100, 0.9f, 0.01f, 1.1f, 7, V);
    bn_sampler *s3 = make(1.0f, 100, 0.9f, 0.01f, 1.1f, 8, V);
    for (int i = 0; i < N; i++) {
        a[i] = bn_sampler_sample(s1, lg);
        b[i] = bn_sampler_sample(s2, lg);
        c[i] = bn_sampler_sample(s3, lg);
        bn_sampler_accept(s1, a[i]);
        bn_sampler_accept(s2, b[i]);
        bn_sampler_accept(s3, c[i]);
    }
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
    bn_sampler_free(s1);
    bn_sampler_free(s2);
    bn_sampler_free(s3);
    free(lg);
}
END_TEST

START_TEST(test_bad_params)
{
    bn_sampler_params p;
    bn_sampler *s = NULL;
    bn_error e;
    bn_sampler_params_default(&p);
    ck_assert_int_ne(bn_sampler_new(&p, 0, &s, &e), BN_OK);
    p.temp = NAN;
    ck_assert_int_ne(bn_sampler_new(&p, 10, &s, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "temperature"), "%s", e.msg);
    bn_sampler_params_default(&p);
    p.top_p = 1.5f;
    ck_assert_int_ne(bn_sampler_new(&p, 10, &s, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "top-p"), "%s", e.msg);
    bn_sampler_params_default(&p);
    p.min_p = -0.1f;
    ck_assert_int_ne(bn_sampler_new(&p, 10, &s, &e), BN_OK);
    bn_sampler_params_default(&p);
    p.repeat_penalty = 0.0f;
    ck_assert_int_ne(bn_sampler_new(&p, 10, &s, &e), BN_OK);
    bn_sampler_params_default(&p);
    p.repeat_last_n = -1;
    ck_assert_int_ne(bn_sampler_new(&p, 10, &s, &e), BN_OK);
    bn_sampler_params_default(&p);
    p.freq_penalty = 2.5f;
    ck_assert_int_ne(bn_sampler_new(&p, 10, &s, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "frequency penalty"), "%s", e.msg);
    bn_sampler_params_default(&p);
    p.presence_penalty = NAN;
    ck_assert_int_ne(bn_sampler_new(&p, 10, &s, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "presence penalty"), "%s", e.msg);
    ck_assert_ptr_null(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_add_test(tc, test_greedy);
    tcase_add_test(tc, test_repeat_penalty);
    tcase_add_test(tc, test_frequency_presence_penalty);
    tcase_add_test(tc, test_distribution_and_filters);
    tcase_add_test(tc, test_seed_reproducible);
    tcase_add_test(tc, test_bad_params);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
