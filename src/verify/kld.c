/*
 * kld.c - per-position NLL and the KL-divergence statistics of
 * llama-perplexity --kl-divergence (ppl.h). Everything in double.
 */
#include <math.h>
#include <string.h>

#include "bn/ppl.h"

/* log(sum exp(x)) of a row, shifted by its max for range. */
static double row_logsumexp(const float *x, int n, int *argmax)
{
    int am = 0;
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) {
            mx = x[i];
            am = i;
        }
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += exp((double)x[i] - (double)mx);
    if (argmax)
        *argmax = am;
    return (double)mx + log(s);
}

double bn_nll(const float *logits, int n_vocab, int32_t target)
{
    return row_logsumexp(logits, n_vocab, NULL) - (double)logits[target];
}

void bn_kld_init(bn_kld_stats *s)
{
    memset(s, 0, sizeof *s);
}

static int row_finite(const float *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

bn_status bn_kld_add(bn_kld_stats *s, const float *base, const float *test, int n_vocab,
                     int32_t target, bn_error *err)
{
    if (n_vocab < 1 || target < 0 || target >= n_vocab)
        return bn_error_set(err, BN_EINVAL, "kld: target token %d outside the vocabulary of %d",
                            (int)target, n_vocab);
    if (!row_finite(base, n_vocab) || !row_finite(test, n_vocab))
        return bn_error_set(err, BN_EINVAL, "kld: non-finite logits at position %llu",
                            (unsigned long long)s->n);
    int am_b, am_t;
    double lse_b = row_logsumexp(base, n_vocab, &am_b);
    double lse_t = row_logsumexp(test, n_vocab, &am_t);
    double kld = 0.0;
    for (int i = 0; i < n_vocab; i++) {
        double lb = (double)base[i] - lse_b, lt = (double)test[i] - lse_t;
        kld += exp(lb) * (lb - lt);
    }
    double nll_b = lse_b - (double)base[target];
    double nll_t = lse_t - (double)test[target];
    double dp = exp(-nll_t) - exp(-nll_b);
    double dn = nll_t - nll_b;

    s->n++;
    s->n_same_top += (uint64_t)(am_b == am_t);
    s->sum_kld += kld;
    s->sum_kld2 += kld * kld;
    if (s->n == 1 || kld > s->kld_max)
        s->kld_max = kld;
    s->sum_dp += dp;
    s->sum_dp2 += dp * dp;
    s->sum_dp4 += dp * dp * dp * dp;
    s->sum_nll_base += nll_b;
    s->sum_nll_base2 += nll_b * nll_b;
    s->sum_nll_test += nll_t;
    s->sum_nll_test2 += nll_t * nll_t;
    s->sum_dnll += dn;
    s->sum_dnll2 += dn * dn;
    return BN_OK;
}

/* Mean and standard error of the mean from a sum and a sum of squares. */
static void mean_err(double sum, double sum2, uint64_t n, double *mean, double *se)
{
    double m = sum / (double)n;
    double var = sum2 / (double)n - m * m;
    *mean = m;
    *se = (n > 1 && var > 0.0) ? sqrt(var / (double)(n - 1)) : 0.0;
}

void bn_kld_finish(const bn_kld_stats *s, bn_kld_result *r)
{
    memset(r, 0, sizeof *r);
    r->n = s->n;
    if (s->n == 0)
        return;
    uint64_t n = s->n;
    mean_err(s->sum_kld, s->sum_kld2, n, &r->kld_mean, &r->kld_err);
    r->kld_max = s->kld_max;

    double p = (double)s->n_same_top / (double)n;
    r->top1 = p;
    r->top1_err = n > 1 ? sqrt(p * (1.0 - p) / (double)(n - 1)) : 0.0;

    mean_err(s->sum_dp, s->sum_dp2, n, &r->mean_dp, &r->mean_dp_err);
    /* RMS dp; its error propagates the standard error of mean(dp^2):
     * d sqrt(m) = dm / (2 sqrt(m)). */
    double ms, ms_err;
    mean_err(s->sum_dp2, s->sum_dp4, n, &ms, &ms_err);
    r->rms_dp = sqrt(ms);
    r->rms_dp_err = r->rms_dp > 0.0 ? ms_err / (2.0 * r->rms_dp) : 0.0;

    double mb, eb, mt, et;
    mean_err(s->sum_nll_base, s->sum_nll_base2, n, &mb, &eb);
    mean_err(s->sum_nll_test, s->sum_nll_test2, n, &mt, &et);
    r->ppl_base = exp(mb);
    r->ppl_base_err = r->ppl_base * eb;
    r->ppl_test = exp(mt);
    r->ppl_test_err = r->ppl_test * et;
    mean_err(s->sum_dnll, s->sum_dnll2, n, &r->ln_ppl_ratio, &r->ln_ppl_ratio_err);
    r->ppl_ratio = exp(r->ln_ppl_ratio);
    r->ppl_ratio_err = r->ppl_ratio * r->ln_ppl_ratio_err;
}
