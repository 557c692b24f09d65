/* run_bench.c - bn-run --bench (see run_bench.h). Each test first evaluates,
 * with --bench-depth D, D untimed positions of context, then one untimed
 * warm-up batch like its repetitions (as llama-bench's warm-up: ppN all N
 * tokens, tgN one token, so the mapped weights and every page of KV cache and
 * scratch the test writes are faulted in before the clock starts); then it
 * times reps repetitions that each start back at position D (the cache truncated
 * there): ppN evaluates N pseudo-random tokens as one batch with the last
 * token's logits, tgN N single-token evaluations with logits. Field names of the JSON and CSV
 * forms follow llama-bench where they mean the same thing. */
#include "run_bench.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bn/gguf.h"
#include "bn/kernels.h"
#include "bn/util.h"
#include "cli.h"

/* Each JSON record opens with docs/json.md's header (tool, version, schema, input)
 * and keeps llama-bench's fields after it, so the array stays llama-bench's shape. */
#define BN_BENCH_JSON_SCHEMA 1

typedef struct {
    const char *kernel;
    int pp;                 /* 1: ppN, 0: tgN */
    int n;
    double *ns;             /* (reps) nanoseconds per repetition */
} bench_result;

static bn_status bench_test(const bn_bench_opts *o, bn_model *m, int n_ctx, int pp, int n,
                            double *ns, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    const int d = o->depth, nt = d > n ? d : n;
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = o->n_ctx > 0 ? n_ctx : d + n; /* d + n positions hold the test; no more KV */
    cp.kv_type = o->kv;
    bn_ctx *c = NULL;
    int32_t *toks = malloc((size_t)nt * sizeof *toks);
    float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    bn_status st = toks && logits ? BN_OK : bn_error_set(err, BN_ENOMEM, "bench: out of memory");
    if (!st)
        st = bn_ctx_new(m, &cp, &c, err);
    uint64_t r = 12345;
    for (int i = 0; i < nt && !st; i++)
        toks[i] = (int32_t)(bn_rng_next(&r) % (uint64_t)hp->n_vocab);
    if (!st && d > 0) /* the context the tests start from */
        st = bn_ctx_eval(c, 0, toks, d, 0, BN_LOGITS_NONE, NULL, err);
    if (!st) /* the warm-up: one repetition's batch (all of ppN, one token of tgN) */
        st = bn_ctx_eval(c, 0, toks, pp ? n : 1, d, BN_LOGITS_LAST, logits, err);
    for (int rep = 0; rep < o->reps && !st; rep++) {
        if (d == 0)
            bn_ctx_clear(c, 0);
        double t0 = bn_now_seconds(); /* below, pos0 = d truncates the cache to the depth */
        if (pp)
            st = bn_ctx_eval(c, 0, toks, n, d, BN_LOGITS_LAST, logits, err);
        else
            for (int i = 0; i < n && !st; i++)
                st = bn_ctx_eval(c, 0, &toks[i], 1, d + i, BN_LOGITS_LAST, logits, err);
        ns[rep] = (bn_now_seconds() - t0) * 1e9;
    }
    bn_ctx_free(c);
    free(toks);
    free(logits);
    return st;
}

/* mean and sample standard deviation of n values */
static void stats(const double *v, int n, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

static void human_size(double bytes, char *buf, size_t n)
{
    if (bytes >= 1073741824.0)
        snprintf(buf, n, "%.2f GiB", bytes / 1073741824.0);
    else
        snprintf(buf, n, "%.2f MiB", bytes / 1048576.0);
}

static void human_count(double v, char *buf, size_t n)
{
    if (v >= 1e9)
        snprintf(buf, n, "%.2f B", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, n, "%.2f M", v / 1e6);
    else
        snprintf(buf, n, "%.2f K", v / 1e3);
}

/* A CSV field: quoted, embedded quotes doubled (RFC 4180). */
static void csv_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

typedef struct {
    char type[96];          /* "bitnet-b1.58 I2_S" (+ " (q8_k)") */
    double size, params;
    int threads;
} model_desc;

static void print_row(const bn_bench_opts *o, const model_desc *d, const bench_result *r,
                      FILE *out, cJSON *arr)
{
    double *ts = malloc((size_t)o->reps * sizeof *ts);
    if (!ts)
        return;
    for (int i = 0; i < o->reps; i++)
        ts[i] = r->n / (r->ns[i] / 1e9);
    double ts_mean, ts_sd, ns_mean, ns_sd;
    stats(ts, o->reps, &ts_mean, &ts_sd);
    stats(r->ns, o->reps, &ns_mean, &ns_sd);
    const char *fmt = o->format ? o->format : "md";
    if (!strcmp(fmt, "md")) {
        char sz[32], pa[32], dp[32] = "";
        human_size(d->size, sz, sizeof sz);
        human_count(d->params, pa, sizeof pa);
        if (o->depth > 0)
            snprintf(dp, sizeof dp, " @ d%d", o->depth);
        fprintf(out, "| %s | %s | %s | %s | %d | %s%d%s | %.2f ± %.2f |\n", d->type, sz, pa,
                r->kernel, d->threads, r->pp ? "pp" : "tg", r->n, dp, ts_mean, ts_sd);
    } else if (!strcmp(fmt, "csv")) {
        csv_str(out, o->model_path);
        fputc(',', out);
        csv_str(out, d->type);
        fprintf(out, ",%.0f,%.0f,", d->size, d->params);
        csv_str(out, r->kernel);
        fprintf(out, ",%d,%d,%d,%.0f,%.0f,%.6f,%.6f\n", d->threads, r->pp ? r->n : 0,
                r->pp ? 0 : r->n, ns_mean, ns_sd, ts_mean, ts_sd);
    } else {
        cJSON *j = bn_cli_json_doc("bn-run", BN_BENCH_JSON_SCHEMA, o->model_path);
        cJSON *sn = cJSON_CreateArray(), *st = cJSON_CreateArray();
        if (!j || !sn || !st) {
            cJSON_Delete(j);
            cJSON_Delete(sn);
            cJSON_Delete(st);
            free(ts);
            return;
        }
        cJSON_AddStringToObject(j, "model_filename", o->model_path);
        cJSON_AddStringToObject(j, "model_type", d->type);
        cJSON_AddNumberToObject(j, "model_size", d->size);
        cJSON_AddNumberToObject(j, "model_n_params", d->params);
        cJSON_AddStringToObject(j, "kernel", r->kernel);
        cJSON_AddNumberToObject(j, "n_threads", d->threads);
        cJSON_AddNumberToObject(j, "n_prompt", r->pp ? r->n : 0);
        cJSON_AddNumberToObject(j, "n_gen", r->pp ? 0 : r->n);
        cJSON_AddNumberToObject(j, "n_depth", o->depth);
        cJSON_AddNumberToObject(j, "avg_ns", round(ns_mean));
        cJSON_AddNumberToObject(j, "stddev_ns", round(ns_sd));
        cJSON_AddNumberToObject(j, "avg_ts", ts_mean);
        cJSON_AddNumberToObject(j, "stddev_ts", ts_sd);
        for (int i = 0; i < o->reps; i++) {
            cJSON_AddItemToArray(sn, cJSON_CreateNumber(round(r->ns[i])));
            cJSON_AddItemToArray(st, cJSON_CreateNumber(ts[i]));
        }
        cJSON_AddItemToObject(j, "samples_ns", sn);
        cJSON_AddItemToObject(j, "samples_ts", st);
        cJSON_AddItemToArray(arr, j);
    }
    free(ts);
}

bn_status bn_bench_run(const bn_bench_opts *o, bn_model *m, FILE *out, bn_error *err)
{
    const char *fmt = o->format ? o->format : "md";
    if (strcmp(fmt, "md") != 0 && strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0)
        return bn_error_set(err, BN_EINVAL, "bench: output format '%s' is not md, json or csv", fmt);
    if (o->reps < 1)
        return bn_error_set(err, BN_EINVAL, "bench: --bench-reps %d < 1", o->reps);
    const bn_hparams *hp = bn_model_hparams(m);
    int n_ctx = o->n_ctx > 0 ? o->n_ctx : hp->n_ctx_train;
    if (o->depth < 0 || o->depth >= n_ctx)
        return bn_error_set(err, BN_EINVAL, "bench: --bench-depth %d leaves no room in the "
                            "context of %d positions (-c)", o->depth, n_ctx);
    int room = n_ctx - o->depth; /* positions left after the depth */
    int pp = o->pp > 0 ? o->pp : (room < 512 ? room : 512);
    int tg = o->tg > 0 ? o->tg : (room < 128 ? room : 128);
    if (pp > room || tg > room)
        return bn_error_set(err, BN_EINVAL, "bench: --bench-%s %d%s exceeds the context of %d "
                            "positions (-c)", pp > room ? "pp" : "tg", pp > room ? pp : tg,
                            o->depth ? " after --bench-depth" : "", n_ctx);

    model_desc d;
    snprintf(d.type, sizeof d.type, "%s %s%s", hp->arch_name, bn_type_name(hp->proj_type),
             bn_model_actq(m) == BN_ACTQ_Q8K ? " (q8_k)" : "");
    d.size = (double)bn_model_weight_bytes(m);
    d.params = 0;
    for (int64_t i = 0; i < bn_gguf_n_tensors(bn_model_gguf(m)); i++)
        d.params += (double)bn_gguf_tensor_at(bn_model_gguf(m), i)->n_el;
    d.threads = bn_model_n_threads(m);

    double *ns = malloc((size_t)o->reps * sizeof *ns);
    cJSON *arr = !strcmp(fmt, "json") ? cJSON_CreateArray() : NULL;
    if (!ns || (!strcmp(fmt, "json") && !arr)) {
        free(ns);
        cJSON_Delete(arr);
        return bn_error_set(err, BN_ENOMEM, "bench: out of memory");
    }
    if (!strcmp(fmt, "md")) {
        fprintf(out, "| model | size | params | kernel | threads | test | t/s |\n");
        fprintf(out, "| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    } else if (!strcmp(fmt, "csv")) {
        fprintf(out, "model_filename,model_type,model_size,model_n_params,kernel,n_threads,"
                     "n_prompt,n_gen,avg_ns,stddev_ns,avg_ts,stddev_ts\n");
    }
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    bn_status st = BN_OK;
    for (size_t k = 0; k < (o->all_kernels ? nk : 1) && !st; k++) {
        if (o->all_kernels) {
            if (!ks[k]->available())
                continue;
            if ((st = bn_model_set_kernel(m, ks[k]->name, err)))
                break;
        }
        for (int p = 1; p >= 0 && !st; p--) {
            bench_result r = {bn_model_kernel(m), p, p ? pp : tg, ns};
            if ((st = bench_test(o, m, n_ctx, p, r.n, ns, err)))
                break;
            print_row(o, &d, &r, out, arr);
            fflush(out);
        }
    }
    if (arr && !st) {
        char *s = cJSON_Print(arr);
        if (s)
            fprintf(out, "%s\n", s);
        free(s);
    }
    cJSON_Delete(arr);
    free(ns);
    return st;
}
