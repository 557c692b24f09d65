/* sampler.c - repetition penalty, top-k, top-p, min-p, temperature, draw. */
#include "bn/sampler.h"
#include "bn/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;
    float logit;
} cand;

struct bn_sampler {
    bn_sampler_params p;
    int n_vocab;
    cand *cands;      /* (n_vocab) working set */
    float *probs;     /* (n_vocab) probabilities of the kept candidates */
    int32_t *hist;    /* ring of the last repeat_last_n accepted tokens */
    int32_t *count;   /* (n_vocab) occurrences in the ring; all 0 between samples */
    int hist_n;       /* tokens in the ring */
    int hist_pos;     /* next slot */
    uint64_t rng;     /* xorshift64* state, never 0 */
};

void bn_sampler_params_default(bn_sampler_params *p)
{
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->freq_penalty = 0.0f;
    p->presence_penalty = 0.0f;
    p->seed = 0x5eed;
}

bn_status bn_sampler_new(const bn_sampler_params *p, int n_vocab, bn_sampler **out,
                         bn_error *err)
{
    *out = NULL;
    if (n_vocab <= 0)
        return bn_error_set(err, BN_EINVAL, "sampler: vocabulary size %d is not positive", n_vocab);
    if (!isfinite(p->temp) || p->temp > 1e6f)
        return bn_error_set(err, BN_EINVAL, "sampler: temperature %g is not a finite value", p->temp);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return bn_error_set(err, BN_EINVAL, "sampler: top-p %g is not in [0, 1]", p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return bn_error_set(err, BN_EINVAL, "sampler: min-p %g is not in [0, 1]", p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return bn_error_set(err, BN_EINVAL, "sampler: repeat penalty %g is not a positive number",
                            p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > (1 << 20))
        return bn_error_set(err, BN_EINVAL, "sampler: repeat window %d is out of range [0, 1048576]",
                            p->repeat_last_n);
    if (!(p->freq_penalty >= -2.0f && p->freq_penalty <= 2.0f))
        return bn_error_set(err, BN_EINVAL, "sampler: frequency penalty %g is not in [-2, 2]",
                            p->freq_penalty);
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f))
        return bn_error_set(err, BN_EINVAL, "sampler: presence penalty %g is not in [-2, 2]",
                            p->presence_penalty);
    bn_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return bn_error_set(err, BN_ENOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    s->probs = malloc((size_t)n_vocab * sizeof *s->probs);
    s->hist = malloc(((size_t)p->repeat_last_n + 1) * sizeof *s->hist);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    if (!s->cands || !s->probs || !s->hist || !s->count) {
        bn_sampler_free(s);
        return bn_error_set(err, BN_ENOMEM, "sampler: out of memory for %d candidates", n_vocab);
    }
    s->rng = bn_rng_seed(p->seed);
    *out = s;
    return BN_OK;
}

void bn_sampler_free(bn_sampler *s)
{
    if (!s)
        return;
    free(s->cands);
    free(s->probs);
    free(s->hist);
    free(s->count);
    free(s);
}

void bn_sampler_accept(bn_sampler *s, int32_t token)
{
    int w = s->p.repeat_last_n;
    if (w == 0)
        return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % w;
    if (s->hist_n < w)
        s->hist_n++;
}

void bn_sampler_reset(bn_sampler *s)
{
    s->hist_n = 0;
    s->hist_pos = 0;
}

/* Descending logit, then ascending id: a total order. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit > y->logit)
        return -1;
    if (x->logit < y->logit)
        return 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int cand_before(const cand *x, const cand *y)
{
    return x->logit > y->logit || (x->logit == y->logit && x->id < y->id);
}

/* Move the k best of c[0..n) to the front, sorted. O(n log k) with a min-heap of k. */
static void top_k_sorted(cand *c, int n, int k)
{
    /* heap[0] is the worst of the kept k */
    for (int i = 0; i < n; i++) {
        cand x = c[i];
        int j;
        if (i < k) {
            j = i;
            while (j > 0) {
                int parent = (j - 1) / 2;
                if (!cand_before(&c[parent], &x))
                    break;
                c[j] = c[parent];
                j = parent;
            }
            c[j] = x;
        } else if (cand_before(&x, &c[0])) {
            j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, m = j;
                const cand *mv = &x;
                if (l < k && cand_before(mv, &c[l])) {
                    m = l;
                    mv = &c[l];
                }
                if (r < k && cand_before(mv, &c[r]))
                    m = r;
                if (m == j)
                    break;
                c[j] = c[m];
                j = m;
            }
            c[j] = x;
        }
    }
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
}

int32_t bn_sampler_sample(bn_sampler *s, const float *logits)
{
    const bn_sampler_params *p = &s->p;
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) {
        s->cands[i].id = i;
        /* NaN (from hostile weights) would break the total order: never pick it */
        s->cands[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    if (p->repeat_penalty != 1.0f || p->freq_penalty != 0.0f || p->presence_penalty != 0.0f) {
        /* count each token of the window, penalize each distinct one once, clear */
        for (int h = 0; h < s->hist_n; h++)
            if (s->hist[h] >= 0 && s->hist[h] < n)
                s->count[s->hist[h]]++;
        for (int h = 0; h < s->hist_n; h++) {
            int32_t t = s->hist[h];
            if (t < 0 || t >= n || s->count[t] == 0)
                continue;
            float *l = &s->cands[t].logit;
            *l = *l > 0.0f ? *l / p->repeat_penalty : *l * p->repeat_penalty;
            *l -= (float)s->count[t] * p->freq_penalty + p->presence_penalty;
            s->count[t] = 0;
        }
    }
    if (p->temp <= 0.0f) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (cand_before(&s->cands[i], &s->cands[best]))
                best = i;
        return s->cands[best].id;
    }

    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    top_k_sorted(s->cands, n, k);
    n = k;

    /* softmax over the sorted candidates (max first), in double */
    double sum = 0.0;
    float mx = s->cands[0].logit;
    for (int i = 0; i < n; i++) {
        s->probs[i] = expf(s->cands[i].logit - mx);
        sum += s->probs[i];
    }
    if (p->top_p < 1.0f) {
        double acc = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += s->probs[i] / sum;
            if (acc >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0.0f) {
        /* probs[0] is the top one (value 1 before normalization) */
        int keep = 1;
        while (keep < n && s->probs[keep] >= p->min_p * s->probs[0])
            keep++;
        n = keep;
    }
    /* temperature on the survivors, then draw */
    sum = 0.0;
    for (int i = 0; i < n; i++) {
        s->probs[i] = expf((s->cands[i].logit - mx) / p->temp);
        sum += s->probs[i];
    }
    double r = (double)bn_rng_float(&s->rng) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += s->probs[i];
        if (r < acc)
            return s->cands[i].id;
    }
    return s->cands[n - 1].id;
}
