/* testcheck.c - the parts of testutil that need cJSON or Check (see
 * testutil.h). A file of its own so that testutil.c builds without them, as
 * check-arm's static cross build of the kernel suite needs. */
#include "testutil.h"

#include "bn/gguf.h"
#include "bn/model.h"

#include <cJSON.h>
#include <check.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *tu_read_json(const char *path)
{
    size_t n;
    char *s = (char *)tu_read(path, &n);
    if (!s)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(s, n);
    free(s);
    return j;
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

double tu_compare_logits(const float *got, const float *want, int n_pos, int n_vocab, double tol,
                         const char *what)
{
    float maxabs = 0;
    for (size_t i = 0; i < (size_t)n_pos * (size_t)n_vocab; i++)
        maxabs = fmaxf(maxabs, fabsf(want[i]));
    double worst = 0;
    for (int p = 0; p < n_pos; p++) {
        const float *a = got + (size_t)p * n_vocab, *b = want + (size_t)p * n_vocab;
        int am = 0, bm = 0;
        double d = 0;
        for (int v = 0; v < n_vocab; v++) {
            if (a[v] > a[am])
                am = v;
            if (b[v] > b[bm])
                bm = v;
            d = fmax(d, fabs((double)a[v] - b[v]));
        }
        ck_assert_msg(am == bm, "%s: argmax differs at position %d (%d vs %d)", what, p, am, bm);
        ck_assert_msg(d <= tol * maxabs,
                      "%s: max |delta| %.3g at position %d exceeds %g * max|logit| (%.3g)", what, d,
                      p, tol, tol * maxabs);
        worst = fmax(worst, d / maxabs);
    }
    return worst;
}

float *tu_eval_all(bn_model *m, const int32_t *ids, int n_pos)
{
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = n_pos;
    bn_ctx *c;
    bn_error e;
    ck_assert_msg(bn_ctx_new(m, &cp, &c, &e) == BN_OK, "%s", e.msg);
    float *got = malloc((size_t)n_pos * (size_t)bn_model_hparams(m)->n_vocab * sizeof *got);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(bn_ctx_eval(c, 0, ids, n_pos, 0, BN_LOGITS_ALL, got, &e) == BN_OK, "%s", e.msg);
    bn_ctx_free(c);
    return got;
}

const char *tu_synth(const char *name, const char *args)
{
    const char *path = tu_keep(tu_tmp(name));
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -q -o '%s' %s", tu_build("bn-synth"), path, args);
    char *out = NULL;
    int rc = tu_run(cmd, &out);
    ck_assert_msg(rc == 0, "bn-synth %s failed (%d): %s", args, rc, out ? out : "");
    free(out);
    return path;
}

void tu_assert_same_tensors(const char *a, const char *b, const char *what)
{
    bn_gguf *ga, *gb;
    bn_error e;
    ck_assert_msg(bn_gguf_open(a, &ga, &e) == BN_OK, "%s", e.msg);
    ck_assert_msg(bn_gguf_open(b, &gb, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_gguf_n_tensors(ga), bn_gguf_n_tensors(gb));
    for (int64_t i = 0; i < bn_gguf_n_tensors(ga); i++) {
        const bn_gguf_tensor *x = bn_gguf_tensor_at(ga, i), *y = bn_gguf_find_tensor(gb, x->name);
        ck_assert_msg(y != NULL, "%s: %s is missing", what, x->name);
        ck_assert_int_eq(x->type, y->type);
        ck_assert_uint_eq(x->nbytes, y->nbytes);
        ck_assert_msg(memcmp(x->data, y->data, x->nbytes) == 0, "%s: %s differs", what, x->name);
    }
    bn_gguf_close(ga);
    bn_gguf_close(gb);
}

static int key_is(const char *k, const char *want) { return want && !strcmp(k, want); }

static bn_status mutate_kv(bn_gguf_writer *w, const bn_gguf *g, const bn_gguf_kv *kv,
                           const tu_gguf_mutation *mu, bn_error *e)
{
    const char *k = kv->key;
    if (mu->i32_kv && !strcmp(k, mu->i32_kv))
        return bn_gguf_set_i32(w, k, (int32_t)bn_gguf_kv_u32(kv), e);
    if (mu->arch && !strcmp(k, "general.architecture"))
        return bn_gguf_set_str(w, k, mu->arch, e);
    if (mu->ff_override && strstr(k, ".feed_forward_length"))
        return bn_gguf_set_u32(w, k, mu->ff_override, e);
    return bn_gguf_copy_kv(w, g, kv, e);
}

void tu_gguf_mutate(const char *src, const char *dst, const tu_gguf_mutation *mu)
{
    bn_gguf *g;
    bn_error e;
    ck_assert_msg(bn_gguf_open(src, &g, &e) == BN_OK, "%s", e.msg);
    bn_gguf_writer *w;
    ck_assert(bn_gguf_writer_open(dst, bn_gguf_alignment(g), &w, &e) == BN_OK);
    for (int64_t i = 0; i < bn_gguf_n_kv(g); i++) {
        const bn_gguf_kv *kv = bn_gguf_kv_at(g, i);
        if (key_is(kv->key, mu->drop_kv) || !strcmp(kv->key, "general.alignment") ||
            key_is(kv->key, mu->set_str_key) || key_is(kv->key, mu->set_f32_key) ||
            key_is(kv->key, mu->set_u32_key))
            continue;
        ck_assert_msg(mutate_kv(w, g, kv, mu, &e) == BN_OK, "%s: %s", kv->key, e.msg);
    }
    if (mu->set_str_key)
        ck_assert(bn_gguf_set_str(w, mu->set_str_key, mu->set_str_val, &e) == BN_OK);
    if (mu->set_f32_key)
        ck_assert(bn_gguf_set_f32(w, mu->set_f32_key, mu->f32_val, &e) == BN_OK);
    if (mu->set_u32_key)
        ck_assert(bn_gguf_set_u32(w, mu->set_u32_key, mu->u32_val, &e) == BN_OK);
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        if (!key_is(t->name, mu->drop_tensor))
            ck_assert(bn_gguf_add_tensor(w, t->name, t->n_dims, t->ne, t->type, &e) == BN_OK);
    }
    int64_t ne4[1] = {4};
    if (mu->extra_tensor)
        ck_assert(bn_gguf_add_tensor(w, "extra.weight", 1, ne4, BN_TYPE_F32, &e) == BN_OK);
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        if (key_is(t->name, mu->drop_tensor))
            continue;
        uint8_t *d = malloc(t->nbytes);
        ck_assert_ptr_nonnull(d);
        memcpy(d, t->data, t->nbytes);
        if (key_is(t->name, mu->patch_tensor)) {
            int64_t at = mu->patch_at < 0 ? (int64_t)t->nbytes + mu->patch_at : mu->patch_at;
            memcpy(d + at, mu->patch_bytes, (size_t)mu->n_patch);
        }
        ck_assert(bn_gguf_writer_write(w, d, (size_t)t->nbytes, &e) == BN_OK);
        free(d);
    }
    float four[4] = {1, 2, 3, 4};
    if (mu->extra_tensor)
        ck_assert(bn_gguf_writer_write(w, four, sizeof four, &e) == BN_OK);
    ck_assert_msg(bn_gguf_writer_finish(w, &e) == BN_OK, "%s", e.msg);
    bn_gguf_close(g);
}

bn_model *tu_synth_load(const char *name, const char *args)
{
    const char *path = tu_synth(name, args);
    bn_model *m;
    bn_error e;
    ck_assert_msg(bn_model_load(path, NULL, &m, &e) == BN_OK, "%s", e.msg);
    return m;
}
