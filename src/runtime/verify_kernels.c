/*
 * verify_kernels.c - the kernel self-test (bn-verify --kernels), after
 * SQLite's bitvec test: drive every kernel and the plain "basic" one with the
 * same inputs and compare. Three stages per kernel:
 *   1. the integer sums on each ternary matrix of the model, with random int8
 *      activations (8 tokens, fixed seed);
 *   2. the same on odd shapes: 1, 3, 17 and 33 rows, 1..5 blocks per row, with
 *      random packed bytes - hostile codes (I2_S 0b11, TQ2_0 trit 3) included,
 *      since every kernel promises the same sums for any bytes;
 *   3. the model's logits for the first n tokens, bit for bit.
 * Throughput: weight bytes of the model's matrices streamed per second by one
 * thread for one token (matrix x vector, the decode case).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bn/kernels.h"
#include "bn/model.h"
#include "bn/util.h"
#include "bn/verify.h"

#define ACT_TOKENS 8

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random activations: n_tok rows of ne0 floats in [-2, 2), quantized per token
 * (I2_S) or as Q8_K (TQ*, as ggml pairs them). */
static bn_status make_act(bn_act *a, bn_type wt, int64_t ne0, uint64_t *seed, bn_error *err)
{
    bn_act_kind kind = wt == BN_TYPE_I2_S ? BN_ACT_TOKEN : BN_ACT_Q8K;
    bn_status st = bn_act_init(a, kind, ACT_TOKENS, ne0, err);
    if (st)
        return st;
    float *x = malloc((size_t)ne0 * ACT_TOKENS * sizeof *x);
    if (!x) {
        bn_act_free(a);
        return bn_error_set(err, BN_ENOMEM, "kernels: out of memory");
    }
    for (int64_t i = 0; i < ne0 * ACT_TOKENS; i++)
        x[i] = (float)((double)(rng_next(seed) >> 11) / 9007199254740992.0 * 4.0 - 2.0);
    st = bn_act_quantize(a, x, ACT_TOKENS, err);
    free(x);
    if (st)
        bn_act_free(a);
    return st;
}

/* Compare kernel k against basic on one matrix; adds to *n_sums / *n_bad. */
static bn_status compare_one(const bn_kernel *basic, const bn_kernel *k, const bn_qmat *w,
                             uint64_t *seed, uint64_t *n_sums, uint64_t *n_bad, bn_error *err)
{
    bn_act a;
    bn_status st = make_act(&a, w->type, w->ne0, seed, err);
    if (st)
        return st;
    size_t n = (size_t)ACT_TOKENS * (size_t)w->ne1 * (size_t)bn_qmat_sums_per_row(w);
    int32_t *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    if (!ref || !got)
        st = bn_error_set(err, BN_ENOMEM, "kernels: out of memory");
    if (!st)
        st = bn_kernel_matmul_int(basic, w, &a, 0, w->ne1, ref, err);
    if (!st) {
        memset(got, 0x5a, n * sizeof *got); /* a kernel that skips a sum cannot match by luck */
        st = bn_kernel_matmul_int(k, w, &a, 0, w->ne1, got, err);
    }
    if (!st) {
        *n_sums += n;
        for (size_t i = 0; i < n; i++)
            *n_bad += ref[i] != got[i];
    }
    free(ref);
    free(got);
    bn_act_free(&a);
    return st;
}

/* Random packed bytes of an odd-shaped matrix with valid scales. */
static bn_status make_odd(bn_type t, int64_t ne0, int64_t ne1, uint64_t *seed, uint8_t **buf,
                          bn_qmat *w, bn_error *err)
{
    size_t row = bn_type_row_bytes(t, ne0);
    size_t size = row * (size_t)ne1 + (t == BN_TYPE_I2_S ? BN_I2_S_TAIL : 0);
    uint8_t *b = malloc(size);
    if (!b)
        return bn_error_set(err, BN_ENOMEM, "kernels: out of memory");
    for (size_t i = 0; i < size; i++)
        b[i] = (uint8_t)rng_next(seed);
    if (t == BN_TYPE_I2_S) {
        float s = 0.75f;
        memset(b + size - BN_I2_S_TAIL, 0, BN_I2_S_TAIL);
        memcpy(b + size - BN_I2_S_TAIL, &s, sizeof s);
    } else {
        size_t bb = bn_type_block_bytes(t);
        uint16_t d = bn_f32_to_f16(0.5f);
        for (size_t off = bb - 2; off < size; off += bb) {
            b[off] = (uint8_t)d;
            b[off + 1] = (uint8_t)(d >> 8);
        }
    }
    bn_status st = bn_qmat_init(w, t, b, size, ne0, ne1, err);
    if (st) {
        free(b);
        return st;
    }
    *buf = b;
    return BN_OK;
}

static bn_status odd_shapes(const bn_kernel *basic, const bn_kernel *k, bn_kernel_check *kc,
                            bn_error *err)
{
    static const bn_type types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    static const int64_t rows[] = {1, 3, 17, 33};
    uint64_t seed = 0x6b65726e656c73ull;
    for (size_t ti = 0; ti < 3; ti++)
        for (int64_t blocks = 1; blocks <= 5; blocks += 2)
            for (size_t ri = 0; ri < 4; ri++) {
                bn_type t = types[ti];
                int64_t ne0 = blocks * (t == BN_TYPE_I2_S ? BN_QK_I2_S : BN_QK_TQ);
                uint8_t *buf = NULL;
                bn_qmat w;
                bn_status st = make_odd(t, ne0, rows[ri], &seed, &buf, &w, err);
                if (!st)
                    st = compare_one(basic, k, &w, &seed, &kc->n_sums, &kc->n_mismatch, err);
                free(buf);
                if (st)
                    return st;
                kc->n_matrices++;
            }
    return BN_OK;
}

/* Stage 1 and the throughput figure. */
static bn_status model_matrices(const bn_model *m, const bn_kernel *basic, const bn_kernel *k,
                                bn_kernel_check *kc, bn_error *err)
{
    const bn_gguf *g = bn_model_gguf(m);
    uint64_t seed = 0x6d6f64656cull;
    uint64_t bytes = 0;
    double secs = 0.0;
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        if (!bn_type_is_ternary(t->type) || t->n_dims != 2)
            continue;
        bn_qmat w;
        bn_status st = bn_qmat_init(&w, t->type, t->data, (size_t)t->nbytes, t->ne[0], t->ne[1],
                                    err);
        if (!st)
            st = compare_one(basic, k, &w, &seed, &kc->n_sums, &kc->n_mismatch, err);
        if (st)
            return bn_error_prefix(err, "tensor '%s'", t->name);
        kc->n_matrices++;

        /* one token, float output, repeated until ~5 ms per matrix */
        bn_act a;
        if ((st = make_act(&a, t->type, w.ne0, &seed, err)))
            return st;
        a.n_tok = 1;
        float *y = malloc((size_t)w.ne1 * sizeof *y);
        if (!y) {
            bn_act_free(&a);
            return bn_error_set(err, BN_ENOMEM, "kernels: out of memory");
        }
        double t0 = bn_now_seconds(), el = 0.0;
        int reps = 0;
        do {
            st = bn_kernel_matmul(k, &w, &a, 0, w.ne1, y, w.ne1, err);
            reps++;
            el = bn_now_seconds() - t0;
        } while (!st && el < 0.005);
        free(y);
        bn_act_free(&a);
        if (st)
            return st;
        bytes += (uint64_t)reps * (uint64_t)(w.row_bytes * (size_t)w.ne1);
        secs += el;
    }
    kc->gbps = secs > 0 ? (double)bytes / secs / 1e9 : 0.0;
    return BN_OK;
}

/* Stage 3: logits of tokens[0..n) with the model's current kernel. */
static bn_status run_logits(bn_model *m, const int32_t *tokens, int n, float *logits,
                            bn_error *err)
{
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = n;
    cp.n_seq = 1;
    bn_ctx *c;
    bn_status st = bn_ctx_new(m, &cp, &c, err);
    if (st)
        return st;
    st = bn_ctx_eval(c, 0, tokens, n, 0, BN_LOGITS_ALL, logits, err);
    bn_ctx_free(c);
    return st;
}

bn_status bn_verify_kernels(bn_model *m, const int32_t *tokens, int n_tokens,
                            bn_kernel_check **out, size_t *n_out, bn_error *err)
{
    *out = NULL;
    *n_out = 0;
    const bn_hparams *hp = bn_model_hparams(m);
    if (n_tokens < 0 || n_tokens > hp->n_ctx_train)
        return bn_error_set(err, BN_EINVAL, "kernels: %d tokens is outside 0..%d (context_length)",
                            n_tokens, hp->n_ctx_train);
    size_t nk;
    const bn_kernel *const *list = bn_kernel_list(&nk);
    if (nk == 0 || strcmp(list[0]->name, "basic") != 0)
        return bn_error_set(err, BN_EINTERNAL, "kernels: the kernel table does not start with basic");
    const bn_kernel *basic = list[0];

    char saved[32];
    snprintf(saved, sizeof saved, "%s", bn_model_kernel(m));
    int has_ternary = strcmp(saved, "none") != 0;

    bn_kernel_check *res = calloc(nk, sizeof *res);
    int32_t *toks = n_tokens ? malloc((size_t)n_tokens * sizeof *toks) : NULL;
    size_t nl = (size_t)n_tokens * (size_t)hp->n_vocab;
    float *ref = nl ? malloc(nl * sizeof *ref) : NULL, *got = nl ? malloc(nl * sizeof *got) : NULL;
    bn_status st = BN_OK;
    if (!res || (n_tokens && (!toks || !ref || !got))) {
        st = bn_error_set(err, BN_ENOMEM, "kernels: out of memory");
        goto done;
    }
    uint64_t seed = 0x746f6b656e73ull;
    for (int i = 0; i < n_tokens; i++)
        toks[i] = tokens ? tokens[i] : (int32_t)(rng_next(&seed) % (uint64_t)hp->n_vocab);

    for (size_t i = 0; i < nk && !st; i++) {
        const bn_kernel *k = list[i];
        bn_kernel_check *kc = &res[i];
        snprintf(kc->name, sizeof kc->name, "%s", k->name);
        snprintf(kc->desc, sizeof kc->desc, "%s", k->desc ? k->desc : "");
        kc->available = k->available ? k->available() : 0;
        if (!kc->available)
            continue;
        st = model_matrices(m, basic, k, kc, err);
        if (!st)
            st = odd_shapes(basic, k, kc, err);
        if (st || !n_tokens || !has_ternary)
            continue;
        st = bn_model_set_kernel(m, k->name, err);
        if (!st)
            st = run_logits(m, toks, n_tokens, i == 0 ? ref : got, err);
        if (st)
            break;
        kc->logits_checked = n_tokens;
        if (i == 0) {
            kc->logits_identical = 1;
            continue;
        }
        kc->logits_identical = memcmp(ref, got, nl * sizeof *ref) == 0;
        for (size_t j = 0; j < nl; j++) {
            double d = fabs((double)ref[j] - (double)got[j]);
            if (d > kc->max_logit_diff || isnan(d))
                kc->max_logit_diff = isnan(d) ? INFINITY : d;
        }
    }
    if (has_ternary) {
        bn_error e2;
        bn_status st2 = bn_model_set_kernel(m, saved, &e2);
        if (!st && st2) {
            st = st2;
            if (err)
                *err = e2;
        }
    }
done:
    free(toks);
    free(ref);
    free(got);
    if (st) {
        free(res);
        return st;
    }
    *out = res;
    *n_out = nk;
    return BN_OK;
}
