/* test_model.c - the runtime on models written by bn-synth (random ternary
 * weights):
 *  - the logits do not depend on how the tokens were fed: all at once, one by
 *    one through the KV cache, in small chunks, or batched with other
 *    sequences - bit for bit (forward.c's determinism contract);
 *  - nor on the thread count, nor on the kernel (every available one);
 *  - the W1.58A8 ternary path agrees with float math on the same weights
 *    within the error int8 activations allow;
 *  - malformed models and calls fail with a message naming the culprit.
 * Exact agreement with an independent PyTorch forward pass is tested on the
 * converted fixtures (scripts/reference_forward.py), not here. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/gguf.h"
#include "bn/kernels.h"
#include "bn/model.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* tq1_file_layout: bn_model_opts (1: TQ1_0 projections run from the file's bytes) */
static bn_model *load_as(const char *path, int threads, const char *kernel, int tq1_file_layout,
                         bn_actq actq)
{
    bn_model_opts o;
    bn_model_opts_default(&o);
    o.n_threads = threads;
    o.kernel = kernel;
    o.tq1_file_layout = tq1_file_layout;
    o.actq = actq;
    bn_model *m = NULL;
    bn_error e;
    bn_status st = bn_model_load(path, &o, &m, &e);
    ck_assert_msg(st == BN_OK, "load %s: %s", path, e.msg);
    return m;
}

static bn_model *load(const char *path, int threads, const char *kernel)
{
    return load_as(path, threads, kernel, 0, BN_ACTQ_TOKEN);
}

static bn_ctx *new_ctx(bn_model *m, int n_ctx, int n_seq, int n_batch, bn_kv_type kv)
{
    bn_ctx_params p;
    bn_ctx_params_default(&p);
    p.n_ctx = n_ctx;
    p.n_seq = n_seq;
    p.n_batch = n_batch;
    p.kv_type = kv;
    bn_ctx *c = NULL;
    bn_error e;
    ck_assert_msg(bn_ctx_new(m, &p, &c, &e) == BN_OK, "ctx: %s", e.msg);
    return c;
}

#define N_TOK 24
static const int32_t TOKS[N_TOK] = {1,   17,  300, 42,  511, 7,   260, 260, 99,  3,   128, 64,
                                    400, 401, 402, 0,   2,   77,  88,  99,  123, 456, 321, 5};

/* All logits of TOKS evaluated in one call: (N_TOK, n_vocab), malloc'd. */
static float *eval_all(bn_model *m, int n_batch, bn_kv_type kv)
{
    int V = bn_model_hparams(m)->n_vocab;
    float *lg = malloc((size_t)N_TOK * V * sizeof *lg);
    bn_ctx *c = new_ctx(m, 64, 1, n_batch, kv);
    bn_error e;
    ck_assert_msg(bn_ctx_eval(c, 0, TOKS, N_TOK, 0, BN_LOGITS_ALL, lg, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), N_TOK);
    bn_ctx_free(c);
    return lg;
}

static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof *a) == 0, "%s: element %zu: %.9g != %.9g",
                      what, i, a[i], b[i]);
}

/* ---- hyperparameters and binding ------------------------------------------------------------ */

START_TEST(test_hparams)
{
    const char *p = tu_synth("hp.gguf", "--no-vocab --arch bitnet-b1.58 --embd 256 --ff 384 "
                                     "--layers 3 --heads 8 --heads-kv 2 --vocab 300 --ctx 128");
    bn_model *m = load(p, 1, NULL);
    const bn_hparams *hp = bn_model_hparams(m);
    ck_assert_str_eq(hp->arch_name, "bitnet-b1.58");
    ck_assert_int_eq(hp->n_embd, 256);
    ck_assert_int_eq(hp->n_ff, 384);
    ck_assert_int_eq(hp->n_layer, 3);
    ck_assert_int_eq(hp->n_head, 8);
    ck_assert_int_eq(hp->n_head_kv, 2);
    ck_assert_int_eq(hp->head_dim, 32);
    ck_assert_int_eq(hp->n_rot, 32);
    ck_assert_int_eq(hp->n_vocab, 300);
    ck_assert_int_eq(hp->n_ctx_train, 128);
    ck_assert_int_eq(hp->rope, BN_ROPE_NEOX);
    ck_assert_int_eq(hp->act, BN_FFN_RELU2);
    ck_assert_int_eq(hp->has_sub_norms, 1);
    ck_assert_int_eq(hp->tied_output, 1);
    ck_assert_int_eq(hp->proj_type, BN_TYPE_I2_S);
    ck_assert_int_eq(hp->embd_type, BN_TYPE_F16);
    ck_assert_ptr_null(bn_model_tokenizer(m));
    ck_assert_ptr_nonnull(bn_model_gguf(m));
    bn_model_free(m);

    p = tu_synth("hp2.gguf", "--no-vocab --arch llama --untied --embd-type q8_0 --type tq2_0");
    m = load(p, 1, NULL);
    hp = bn_model_hparams(m);
    ck_assert_int_eq(hp->arch, BN_ARCH_LLAMA);
    ck_assert_int_eq(hp->rope, BN_ROPE_NORM);
    ck_assert_int_eq(hp->act, BN_FFN_SILU);
    ck_assert_int_eq(hp->has_sub_norms, 0);
    ck_assert_int_eq(hp->tied_output, 0);
    ck_assert_int_eq(hp->proj_type, BN_TYPE_TQ2_0);
    ck_assert_int_eq(hp->embd_type, BN_TYPE_Q8_0);
    bn_model_free(m);
}
END_TEST

/* ---- determinism: cache, chunks, batches, threads, kernels ----------------------------------- */

/* One by one through the cache == all at once, for both cache types. */
START_TEST(test_kv_cache_equals_full)
{
    static const bn_kv_type kvs[] = {BN_KV_F32, BN_KV_F16};
    const char *p = tu_synth("kv.gguf", "--no-vocab --heads 4 --heads-kv 2");
    bn_model *m = load(p, 2, NULL);
    int V = bn_model_hparams(m)->n_vocab;
    for (int k = 0; k < 2; k++) {
        float *full = eval_all(m, 512, kvs[k]);
        bn_ctx *c = new_ctx(m, 64, 1, 512, kvs[k]);
        float *one = malloc((size_t)V * sizeof *one);
        bn_error e;
        for (int i = 0; i < N_TOK; i++) {
            ck_assert_msg(bn_ctx_eval(c, 0, &TOKS[i], 1, i, BN_LOGITS_LAST, one, &e) == BN_OK,
                          "%s", e.msg);
            assert_same(one, full + (size_t)i * V, (size_t)V, "token by token");
        }
        /* rewind: re-evaluating the tail from position 10 gives the same rows */
        float *tail = malloc((size_t)(N_TOK - 10) * V * sizeof *tail);
        ck_assert(bn_ctx_eval(c, 0, TOKS + 10, N_TOK - 10, 10, BN_LOGITS_ALL, tail, &e) == BN_OK);
        assert_same(tail, full + (size_t)10 * V, (size_t)(N_TOK - 10) * V, "rewound tail");
        /* chunks of 5 tokens through a small batch == one chunk */
        float *chunked = eval_all(m, 5, kvs[k]);
        assert_same(chunked, full, (size_t)N_TOK * V, "n_batch 5");
        free(tail);
        free(chunked);
        free(one);
        free(full);
        bn_ctx_free(c);
    }
    bn_model_free(m);
}
END_TEST

/* Three sequences in one batch (matrix x matrix over all their tokens) ==
 * each sequence alone; LAST gives one row per sequence. */
START_TEST(test_multi_sequence_batch)
{
    const char *p = tu_synth("batch.gguf", "--no-vocab");
    bn_model *m = load(p, 2, NULL);
    int V = bn_model_hparams(m)->n_vocab;
    bn_seq_tokens items[3] = {{2, TOKS, 10, 0}, {0, TOKS + 5, 7, 0}, {1, TOKS + 3, 12, 0}};
    bn_ctx *c = new_ctx(m, 32, 3, 8, BN_KV_F32);
    float *all = malloc((size_t)29 * V * sizeof *all), *last = malloc((size_t)3 * V * sizeof *last);
    bn_error e;
    ck_assert_msg(bn_ctx_eval_batch(c, items, 3, BN_LOGITS_ALL, all, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_ctx_seq_len(c, 2), 10);
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), 7);
    ck_assert_int_eq(bn_ctx_seq_len(c, 1), 12);
    bn_ctx_clear(c, -1);
    ck_assert_int_eq(bn_ctx_seq_len(c, 1), 0);
    ck_assert(bn_ctx_eval_batch(c, items, 3, BN_LOGITS_LAST, last, &e) == BN_OK);
    size_t row = 0;
    for (int i = 0; i < 3; i++) {
        bn_ctx *solo = new_ctx(m, 32, 1, 512, BN_KV_F32);
        float *ref = malloc((size_t)items[i].n * V * sizeof *ref);
        ck_assert(bn_ctx_eval(solo, 0, items[i].tokens, items[i].n, 0, BN_LOGITS_ALL, ref, &e) ==
                  BN_OK);
        assert_same(all + row * V, ref, (size_t)items[i].n * V, "batched sequence");
        assert_same(last + (size_t)i * V, ref + (size_t)(items[i].n - 1) * V, (size_t)V,
                    "batched last");
        row += (size_t)items[i].n;
        free(ref);
        bn_ctx_free(solo);
    }
    free(all);
    free(last);
    bn_ctx_free(c);
    bn_model_free(m);
}
END_TEST

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Greedy decoding of 12 tokens: (tokens, last logits) for a thread count. */
static void greedy(bn_model *m, int32_t *out, float *last)
{
    int V = bn_model_hparams(m)->n_vocab;
    bn_ctx *c = new_ctx(m, 64, 1, 512, BN_KV_F32);
    bn_error e;
    ck_assert(bn_ctx_eval(c, 0, TOKS, 8, 0, BN_LOGITS_LAST, last, &e) == BN_OK);
    for (int i = 0; i < 12; i++) {
        out[i] = argmax(last, V);
        ck_assert(bn_ctx_eval(c, 0, &out[i], 1, 8 + i, BN_LOGITS_LAST, last, &e) == BN_OK);
    }
    bn_ctx_free(c);
}

START_TEST(test_threads_identical)
{
    static const char *types[] = {"i2_s", "tq1_0", "f16"};
    for (int ty = 0; ty < 3; ty++) {
        char args[128];
        snprintf(args, sizeof args, "--no-vocab --type %s --heads 4 --heads-kv 1", types[ty]);
        const char *p = tu_synth("thr.gguf", args);
        int32_t ref_tok[12], tok[12];
        float *ref = NULL;
        for (int t = 1; t <= 3; t++) {
            bn_model *m = load(p, t, NULL);
            int V = bn_model_hparams(m)->n_vocab;
            float *last = malloc((size_t)V * sizeof *last);
            greedy(m, tok, last);
            float *full = eval_all(m, 512, BN_KV_F32);
            if (t == 1) {
                memcpy(ref_tok, tok, sizeof tok);
                ref = full;
            } else {
                ck_assert_msg(memcmp(ref_tok, tok, sizeof tok) == 0, "%s: tokens differ at %d threads",
                              types[ty], t);
                assert_same(full, ref, (size_t)N_TOK * V, "threads");
                free(full);
            }
            free(last);
            bn_model_free(m);
        }
        free(ref);
    }
}
END_TEST

START_TEST(test_kernels_identical)
{
    static const char *types[] = {"i2_s", "tq2_0", "tq1_0"};
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    ck_assert_uint_ge(nk, 1);
    for (int ty = 0; ty < 3; ty++) {
        char args[64];
        snprintf(args, sizeof args, "--no-vocab --type %s", types[ty]);
        const char *p = tu_synth("kern.gguf", args);
        float *ref = NULL;
        int tested = 0;
        /* TQ1_0 both as repacked at load (the default) and from the file's bytes */
        for (int layout = 0; layout < (ty == 2 ? 2 : 1); layout++)
            for (size_t k = 0; k < nk; k++) {
                if (!ks[k]->available())
                    continue;
                bn_model *m = load_as(p, 2, ks[k]->name, layout, BN_ACTQ_TOKEN);
                ck_assert_str_eq(bn_model_kernel(m), ks[k]->name);
                float *lg = eval_all(m, 512, BN_KV_F32);
                if (!ref)
                    ref = lg;
                else {
                    assert_same(lg, ref, (size_t)N_TOK * bn_model_hparams(m)->n_vocab,
                                ks[k]->name);
                    free(lg);
                }
                tested++;
                bn_model_free(m);
            }
        ck_assert_int_ge(tested, 1);
        free(ref);
    }
}
END_TEST

/* TQ1_0 projections repacked as TQ2_0 at load (the default) against the file's
 * bytes: the same logits bit for bit, prefill and decode, both activation
 * kinds; the repacked bytes are 66/54 of the projections', and 0 for the file
 * layout and for a TQ2_0 file. */
START_TEST(test_tq1_repack_identical)
{
    const char *p = tu_synth("repack.gguf", "--no-vocab --type tq1_0 --heads 4 --heads-kv 2");
    for (int q = 0; q < 2; q++) {
        bn_actq actq = q ? BN_ACTQ_Q8K : BN_ACTQ_TOKEN;
        float *lg[2];
        int32_t tok[2][12];
        for (int layout = 0; layout < 2; layout++) {
            bn_model *m = load_as(p, 2, NULL, layout, actq);
            uint64_t proj = 0, n1 = 0;
            const bn_gguf *g = bn_model_gguf(m);
            for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++)
                if (bn_gguf_tensor_at(g, i)->type == BN_TYPE_TQ1_0) {
                    proj += bn_gguf_tensor_at(g, i)->nbytes;
                    n1++;
                }
            ck_assert_uint_gt(proj, 0);
            if (layout)
                ck_assert_uint_eq(bn_model_repacked_bytes(m), 0);
            else /* each tensor rounded up to 64 bytes */
                ck_assert_msg(bn_model_repacked_bytes(m) >= proj / 54 * 66 &&
                              bn_model_repacked_bytes(m) < proj / 54 * 66 + 64 * n1,
                              "repacked %llu bytes for %llu of TQ1_0",
                              (unsigned long long)bn_model_repacked_bytes(m),
                              (unsigned long long)proj);
            float *last = malloc((size_t)bn_model_hparams(m)->n_vocab * sizeof *last);
            greedy(m, tok[layout], last);
            free(last);
            lg[layout] = eval_all(m, 7, BN_KV_F32);
            if (layout)
                assert_same(lg[1], lg[0], (size_t)N_TOK * bn_model_hparams(m)->n_vocab,
                            q ? "repacked, q8_k" : "repacked, token");
            bn_model_free(m);
        }
        ck_assert_msg(memcmp(tok[0], tok[1], sizeof tok[0]) == 0, "greedy tokens differ");
        free(lg[0]);
        free(lg[1]);
    }
    bn_model *m = load(tu_synth("repack2.gguf", "--no-vocab --type tq2_0"), 1, NULL);
    ck_assert_uint_eq(bn_model_repacked_bytes(m), 0);
    bn_model_free(m);
}
END_TEST

/* Same codes, three encodings: I2_S and TQ2_0 through int8 activations, F32
 * weights through float math. They must agree to the int8 activation error
 * (and the fp16 rounding of TQ's block scale): same argmax almost everywhere
 * and a small relative difference. */
START_TEST(test_ternary_matches_float_math)
{
    const char *pf = tu_synth("f32.gguf", "--no-vocab --type f32 --seed 3");
    bn_model *mf = load(pf, 2, NULL);
    int V = bn_model_hparams(mf)->n_vocab;
    float *ref = eval_all(mf, 512, BN_KV_F32);
    static const char *types[] = {"i2_s", "tq2_0", "bf16"};
    for (int ty = 0; ty < 3; ty++) {
        char args[64];
        snprintf(args, sizeof args, "--no-vocab --type %s --seed 3", types[ty]);
        bn_model *m = load(tu_synth("q.gguf", args), 2, NULL);
        float *lg = eval_all(m, 512, BN_KV_F32);
        double maxd = 0, maxl = 0;
        int agree = 0;
        for (int t = 0; t < N_TOK; t++) {
            const float *a = lg + (size_t)t * V, *b = ref + (size_t)t * V;
            agree += argmax(a, V) == argmax(b, V);
            for (int v = 0; v < V; v++) {
                maxd = fmax(maxd, fabs((double)a[v] - b[v]));
                maxl = fmax(maxl, fabs((double)b[v]));
            }
        }
        ck_assert_msg(maxd <= 0.05 * maxl && agree >= N_TOK - 2,
                      "%s vs f32: max|d| %g (max|logit| %g), argmax agrees %d/%d", types[ty], maxd,
                      maxl, agree, N_TOK);
        ck_assert_msg(maxd > 0 || ty == 2, "%s: no difference at all from float math?", types[ty]);
        free(lg);
        bn_model_free(m);
    }
    free(ref);
    bn_model_free(mf);
}
END_TEST

/* The same embedding / output values stored as F32, F16 and Q8_0 (tied and
 * untied), with float projections so that nothing rounds activations: logits
 * agree to the storage rounding. */
START_TEST(test_embedding_types)
{
    static const char *untied[] = {"", "--untied "};
    for (int u = 0; u < 2; u++) {
        char args[128];
        snprintf(args, sizeof args, "--no-vocab --type f32 %s--embd-type f32 --seed 11", untied[u]);
        bn_model *mf = load(tu_synth("e32.gguf", args), 2, NULL);
        ck_assert_int_eq(bn_model_hparams(mf)->tied_output, !u);
        int V = bn_model_hparams(mf)->n_vocab;
        float *ref = eval_all(mf, 512, BN_KV_F32);
        static const char *types[] = {"f16", "q8_0"};
        for (int ty = 0; ty < 2; ty++) {
            snprintf(args, sizeof args, "--no-vocab --type f32 %s--embd-type %s --seed 11", untied[u],
                     types[ty]);
            bn_model *m = load(tu_synth("eq.gguf", args), 2, NULL);
            float *lg = eval_all(m, 512, BN_KV_F32);
            double maxd = 0, maxl = 0;
            for (size_t i = 0; i < (size_t)N_TOK * V; i++) {
                maxd = fmax(maxd, fabs((double)lg[i] - ref[i]));
                maxl = fmax(maxl, fabs((double)ref[i]));
            }
            ck_assert_msg(maxd > 0 && maxd <= 0.01 * maxl, "%s%s: max|d| %g, max|logit| %g",
                          untied[u], types[ty], maxd, maxl);
            free(lg);
            bn_model_free(m);
        }
        free(ref);
        bn_model_free(mf);
    }
}
END_TEST

/* ---- hostile models ------------------------------------------------------------------------- */

static void expect_load_error(const char *path, const char *needle1, const char *needle2)
{
    bn_model *m = NULL;
    bn_error e;
    bn_error_clear(&e);
    bn_status st = bn_model_load(path, NULL, &m, &e);
    ck_assert_msg(st != BN_OK, "%s loaded but should not", path);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(e.msg, needle1) && strstr(e.msg, needle2),
                  "message '%s' lacks '%s' / '%s'", e.msg, needle1, needle2);
    ck_assert_int_eq(bn_status_exit_code(st), 2);
}

START_TEST(test_hostile_models)
{
    const char *src = tu_synth("good.gguf", "--no-vocab --layers 2");
    const char *bad = tu_tmp("bad.gguf");
    struct {
        tu_gguf_mutation mu;
        const char *n1, *n2;
    } cases[] = {
        {{.drop_kv = "bitnet-b1.58.block_count"}, "block_count", "missing"},
        {{.i32_kv = "bitnet-b1.58.embedding_length"}, "embedding_length", "i32"},
        {{.arch = "gpt2"}, "gpt2", "not supported"},
        {{.drop_tensor = "blk.1.ffn_down.weight"}, "blk.1.ffn_down.weight", "missing"},
        {{.drop_tensor = "blk.0.attn_sub_norm.weight"}, "blk.0.attn_sub_norm.weight", "missing"},
        {{.drop_tensor = "output_norm.weight"}, "output_norm.weight", "missing"},
        {{.extra_tensor = 1}, "extra.weight", "unexpected"},
        {{.ff_override = 256}, "ffn_gate.weight", "shape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_gguf_mutate(src, bad, &cases[i].mu);
        expect_load_error(bad, cases[i].n1, cases[i].n2);
    }
    /* kernel names */
    bn_model_opts o;
    bn_model_opts_default(&o);
    o.kernel = "no-such-kernel";
    bn_model *m = NULL;
    bn_error e;
    ck_assert(bn_model_load(src, &o, &m, &e) != BN_OK);
    ck_assert_msg(strstr(e.msg, "no-such-kernel"), "%s", e.msg);
}
END_TEST

START_TEST(test_bad_eval_calls)
{
    bn_model *m = load(tu_synth("calls.gguf", "--no-vocab --vocab 300"), 1, NULL);
    bn_ctx *c = new_ctx(m, 16, 2, 512, BN_KV_F32);
    float *lg = malloc(300 * 20 * sizeof *lg);
    bn_error e;
    int32_t t[20] = {0};
    int32_t big = 300, neg = -1;
    ck_assert_int_ne(bn_ctx_eval(c, 0, &big, 1, 0, BN_LOGITS_LAST, lg, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "300"), "%s", e.msg);
    ck_assert_int_ne(bn_ctx_eval(c, 0, &neg, 1, 0, BN_LOGITS_LAST, lg, &e), BN_OK);
    ck_assert_int_ne(bn_ctx_eval(c, 2, t, 1, 0, BN_LOGITS_LAST, lg, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "sequence id 2"), "%s", e.msg);
    ck_assert_int_ne(bn_ctx_eval(c, 0, t, 1, 3, BN_LOGITS_LAST, lg, &e), BN_OK); /* gap */
    ck_assert_int_ne(bn_ctx_eval(c, 0, t, 17, 0, BN_LOGITS_ALL, lg, &e), BN_OK); /* > n_ctx */
    ck_assert_int_ne(bn_ctx_eval(c, 0, t, 0, 0, BN_LOGITS_ALL, lg, &e), BN_OK);
    ck_assert_int_ne(bn_ctx_eval(c, 0, t, 1, 0, BN_LOGITS_ALL, NULL, &e), BN_OK);
    bn_seq_tokens dup[2] = {{1, t, 2, 0}, {1, t, 2, 0}};
    ck_assert_int_ne(bn_ctx_eval_batch(c, dup, 2, BN_LOGITS_NONE, NULL, &e), BN_OK);
    ck_assert_msg(strstr(e.msg, "twice"), "%s", e.msg);
    /* nothing was cached by the failed calls; a good call still works */
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), 0);
    ck_assert_int_eq(bn_ctx_eval(c, 0, t, 16, 0, BN_LOGITS_NONE, NULL, &e), BN_OK);
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), 16);
    free(lg);
    bn_ctx_free(c);
    bn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_hparams);
    tcase_add_test(tc, test_kv_cache_equals_full);
    tcase_add_test(tc, test_multi_sequence_batch);
    tcase_add_test(tc, test_threads_identical);
    tcase_add_test(tc, test_kernels_identical);
    tcase_add_test(tc, test_tq1_repack_identical);
    tcase_add_test(tc, test_ternary_matches_float_math);
    tcase_add_test(tc, test_embedding_types);
    tcase_add_test(tc, test_hostile_models);
    tcase_add_test(tc, test_bad_eval_calls);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
