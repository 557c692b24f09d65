/*
 * json.c - bn-verify's results as JSON (docs/ci.md documents the fields). Each
 * emitter reads the struct its text twin (text.c) reads, so the text and the
 * JSON cannot disagree. Every emitter returns a new object, or NULL when out
 * of memory.
 */
#include <cJSON.h>

#include "bn/verify.h"

/* Adders that remember a failed allocation in *ok, so an emitter checks once. */
static void num(cJSON *o, const char *key, double v, int *ok)
{
    *ok &= cJSON_AddNumberToObject(o, key, v) != NULL;
}

static void str(cJSON *o, const char *key, const char *v, int *ok)
{
    *ok &= cJSON_AddStringToObject(o, key, v) != NULL;
}

static void flag(cJSON *o, const char *key, int v, int *ok)
{
    *ok &= cJSON_AddBoolToObject(o, key, v) != NULL;
}

static cJSON *finish(cJSON *o, int ok)
{
    if (ok)
        return o;
    cJSON_Delete(o);
    return NULL;
}

cJSON *bn_check_report_json(const bn_check_report *r)
{
    cJSON *j = cJSON_CreateObject(), *pr;
    int ok = j != NULL;
    if (!ok)
        return NULL;
    flag(j, "ok", r->n == 0, &ok);
    num(j, "tensors_checked", (double)r->n_tensors_checked, &ok);
    num(j, "keys_checked", (double)r->n_kv_checked, &ok);
    ok &= (pr = cJSON_AddArrayToObject(j, "problems")) != NULL;
    for (size_t i = 0; ok && i < r->n; i++) {
        cJSON *s = cJSON_CreateString(r->items[i]);
        ok &= s != NULL && cJSON_AddItemToArray(pr, s);
    }
    return finish(j, ok);
}

static cJSON *kernel_json(const bn_kernel_check *k)
{
    cJSON *e = cJSON_CreateObject();
    int ok = e != NULL;
    if (!ok)
        return NULL;
    str(e, "name", k->name, &ok);
    str(e, "description", k->desc, &ok);
    flag(e, "available", k->available, &ok);
    num(e, "matrices", (double)k->n_matrices, &ok);
    num(e, "sums", (double)k->n_sums, &ok);
    num(e, "mismatches", (double)k->n_mismatch, &ok);
    num(e, "logits_tokens", k->logits_checked, &ok);
    flag(e, "logits_identical", k->logits_identical, &ok);
    num(e, "max_logit_diff", k->max_logit_diff, &ok);
    num(e, "gb_per_s", k->gbps, &ok);
    flag(e, "ok", bn_kernel_check_ok(k), &ok);
    return finish(e, ok);
}

cJSON *bn_kernels_report_json(const bn_kernels_report *r)
{
    cJSON *j = cJSON_CreateObject(), *arr;
    int ok = j != NULL;
    if (!ok)
        return NULL;
    num(j, "tokens", r->n_tokens, &ok);
    str(j, "token_source", r->token_file ? r->token_file : "pseudo-random", &ok);
    ok &= (arr = cJSON_AddArrayToObject(j, "kernels")) != NULL;
    for (size_t i = 0; ok && i < r->n; i++) {
        cJSON *e = kernel_json(&r->k[i]);
        ok &= e != NULL && cJSON_AddItemToArray(arr, e);
    }
    flag(j, "ok", bn_kernels_report_n_failed(r) == 0, &ok);
    return finish(j, ok);
}

static void reference_json(cJSON *j, const bn_ppl_report *r, int *ok)
{
    const bn_kld_result *k = &r->res->kld;
    str(j, "dir", r->ref_dir, ok);
    str(j, "mode", r->ref_mode, ok);
    str(j, "file", r->file, ok);
    num(j, "n_ctx", r->res->n_ctx, ok);
    num(j, "chunks", r->res->n_chunks, ok);
    num(j, "positions", (double)k->n, ok);
    num(j, "ppl", k->ppl_test, ok);
    num(j, "ppl_err", k->ppl_test_err, ok);
    num(j, "ppl_reference", k->ppl_base, ok);
    num(j, "ppl_reference_err", k->ppl_base_err, ok);
    num(j, "ppl_ratio", k->ppl_ratio, ok);
    num(j, "ppl_ratio_err", k->ppl_ratio_err, ok);
    num(j, "ln_ppl_ratio", k->ln_ppl_ratio, ok);
    num(j, "ln_ppl_ratio_err", k->ln_ppl_ratio_err, ok);
    num(j, "kld_mean", k->kld_mean, ok);
    num(j, "kld_err", k->kld_err, ok);
    num(j, "kld_max", k->kld_max, ok);
    num(j, "top1", k->top1, ok);
    num(j, "top1_err", k->top1_err, ok);
    num(j, "rms_dp", k->rms_dp, ok);
    num(j, "rms_dp_err", k->rms_dp_err, ok);
    num(j, "seconds", r->res->seconds, ok);
}

static void perplexity_json(cJSON *j, const bn_ppl_report *r, int *ok)
{
    const bn_ppl_result *res = r->res;
    str(j, "file", r->file, ok);
    num(j, "n_ctx", res->n_ctx, ok);
    num(j, "chunks", res->n_chunks, ok);
    num(j, "tokens", (double)res->n_tokens, ok);
    num(j, "scored", (double)res->n_scored, ok);
    num(j, "nll_mean", res->nll_mean, ok);
    num(j, "ppl", res->ppl, ok);
    num(j, "ppl_err", res->ppl_err, ok);
    num(j, "seconds", res->seconds, ok);
    num(j, "tokens_per_second", res->tok_per_s, ok);
    str(j, "kernel", r->kernel, ok);
    str(j, "activations", r->activations, ok);
    num(j, "threads", r->n_threads, ok);
}

cJSON *bn_ppl_report_json(const bn_ppl_report *r)
{
    cJSON *j = cJSON_CreateObject();
    int ok = j != NULL;
    if (!ok)
        return NULL;
    if (!r->ref_dir) { /* the running estimates first: they exist before the run ends */
        cJSON *arr = cJSON_AddArrayToObject(j, "chunk_ppl");
        ok &= arr != NULL;
        for (int i = 0; ok && i < r->n_chunk_ppl; i++) {
            cJSON *v = cJSON_CreateNumber(r->chunk_ppl[i]);
            ok &= v != NULL && cJSON_AddItemToArray(arr, v);
        }
    }
    if (ok && r->res) {
        if (r->ref_dir)
            reference_json(j, r, &ok);
        else
            perplexity_json(j, r, &ok);
    }
    return finish(j, ok);
}

cJSON *bn_gates_json(const bn_gates *g)
{
    cJSON *arr = cJSON_CreateArray();
    int ok = arr != NULL;
    for (int i = 0; ok && i < g->n; i++) {
        cJSON *o = cJSON_CreateObject();
        ok &= o != NULL && cJSON_AddItemToArray(arr, o);
        if (!ok) {
            cJSON_Delete(o);
            break;
        }
        str(o, "name", g->g[i].name, &ok);
        num(o, "value", g->g[i].value, &ok);
        num(o, "threshold", g->g[i].threshold, &ok);
        flag(o, "pass", g->g[i].pass, &ok);
    }
    return arr ? finish(arr, ok) : NULL;
}
