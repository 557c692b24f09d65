/* verify_run.c - bn-verify's sections (verify_run.h). */
#include "verify_run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bn/gguf.h"
#include "bn/model.h"
#include "bn/tokenizer.h"
#include "bn/util.h"
#include "bn/verify.h"
#include "json_out.h"
#include "ppl_progress.h"

static FILE *out_text; /* stdout, or stderr when --json - takes stdout */

/* ---- sections: each prints its text and adds its JSON, both from one result ------- */

static int json_oom; /* a JSON emitter ran out of memory: the document is incomplete */

static void json_add(cJSON *root, const char *key, cJSON *item)
{
    if (!item || !cJSON_AddItemToObject(root, key, item)) {
        cJSON_Delete(item);
        json_oom = 1;
    }
}

/* The tokens of one text file (ppl.h step 1), kept for the sections that share it. */
static struct {
    const char *path;
    bn_tokens toks;
} tok_cache;

static int tokens_of(const char *path, const bn_tokenizer *tok, const bn_tokens **out)
{
    if (!tok_cache.path || strcmp(tok_cache.path, path) != 0) {
        bn_error err;
        tok_cache.path = NULL;
        if (bn_ppl_tokenize_file(tok, path, &tok_cache.toks, &err)) {
            fprintf(stderr, "bn-verify: %s\n", err.msg);
            return 2;
        }
        tok_cache.path = path;
    }
    *out = &tok_cache.toks;
    return 0;
}

static int section_check(const options *o, cJSON *root)
{
    bn_error err;
    bn_gguf *g;
    bn_check_report r;
    if (bn_gguf_open(o->model, &g, &err)) {
        fprintf(stderr, "bn-verify: %s\n", err.msg);
        return 2;
    }
    bn_status st = bn_check_gguf(g, &r, &err);
    bn_gguf_close(g);
    if (st) {
        fprintf(stderr, "bn-verify: %s\n", err.msg);
        return 2;
    }
    bn_check_report_text(&r, o->model, out_text);
    json_add(root, "check", bn_check_report_json(&r));
    if (r.n)
        fprintf(stderr, "bn-verify: %s: %zu problem%s found by --check\n", o->model, r.n,
                r.n == 1 ? "" : "s");
    int rc = r.n ? 1 : 0;
    bn_check_report_free(&r);
    return rc;
}

/* The model run of --kernels uses the first --tokens N tokens of the text when
 * one is given (and the model has a tokenizer), else a fixed pseudo-random
 * sequence; at most context_length of them. */
static int section_kernels(const options *o, bn_model *m, cJSON *root)
{
    bn_kernels_report kr = {NULL, 0, o->n_tokens, NULL};
    const bn_tokenizer *tok = bn_model_tokenizer(m);
    const bn_tokens *toks = NULL;
    if (o->data_file && tok) {
        int rc = tokens_of(o->data_file, tok, &toks);
        if (rc)
            return rc;
        kr.token_file = toks->ids ? o->data_file : NULL;
        if ((size_t)kr.n_tokens > toks->n)
            kr.n_tokens = (int)toks->n;
    }
    if (kr.n_tokens > bn_model_hparams(m)->n_ctx_train)
        kr.n_tokens = bn_model_hparams(m)->n_ctx_train;
    bn_error err;
    bn_kernel_check *kc;
    if (bn_verify_kernels(m, toks ? toks->ids : NULL, kr.n_tokens, &kc, &kr.n, &err)) {
        fprintf(stderr, "bn-verify: --kernels: %s\n", err.msg);
        return bn_status_exit_code(err.code);
    }
    kr.k = kc;
    bn_kernels_report_text(&kr, out_text);
    json_add(root, "kernels", bn_kernels_report_json(&kr));
    size_t bad = bn_kernels_report_n_failed(&kr);
    free(kc);
    if (bad)
        fprintf(stderr, "bn-verify: --kernels: %zu kernel%s disagree with basic\n", bad,
                bad == 1 ? "" : "s");
    return bad ? 1 : 0;
}

/* --perplexity (is_ref 0) or --reference (1): the text through bn_ppl_run with
 * llama-perplexity's running output; *res is the result when 0 is returned. */
static int section_ppl(const options *o, bn_model *m, cJSON *root, int is_ref, bn_ppl_result *res)
{
    const char *file = is_ref ? o->data_file : o->ppl_file;
    const bn_tokenizer *tok = bn_model_tokenizer(m);
    bn_error err;
    bn_reference *ref = NULL;
    const bn_tokens *toks;
    int rc;
    if (!tok) {
        fprintf(stderr, "bn-verify: %s has no tokenizer (tokenizer.ggml.*); cannot tokenize %s\n",
                o->model, file);
        return 2;
    }
    if (bn_verify_check_ctx(m, o->n_ctx, &err)) {
        fprintf(stderr, "bn-verify: %s\n", err.msg);
        return 2;
    }
    if (is_ref && bn_reference_load_for(o->ref_dir, o->ref_mode, m, o->model, &ref, &err)) {
        fprintf(stderr, "bn-verify: --reference: %s\n", err.msg);
        return 2;
    }
    double t_tok = bn_now_seconds();
    if (!is_ref && !o->quiet)
        fprintf(out_text, "perplexity: tokenizing the input ..\n");
    if ((rc = tokens_of(file, tok, &toks))) {
        bn_reference_free(ref);
        return rc;
    }
    if (!is_ref && !o->quiet)
        fprintf(out_text, "perplexity: tokenization took %.3f ms\n", 1e3 * (bn_now_seconds() - t_tok));
    bn_evaluator *ev, *base;
    bn_status st = bn_verify_evaluators(m, ref, o->n_ctx, o->n_batch, o->n_threads, &ev, &base,
                                        &err);
    bn_ppl_report rep = {file, toks->n, o->n_ctx, o->n_chunks, o->n_batch, ev ? ev->max_seq : 0,
                         bn_model_kernel(m), bn_actq_name(bn_model_actq(m)), bn_model_n_threads(m),
                         is_ref ? o->ref_dir : NULL, bn_ref_mode_name(o->ref_mode), NULL, NULL, 0};
    bn_ppl_progress_ctx pc;
    bn_ppl_progress_start(&pc, out_text, is_ref ? "reference" : "perplexity", o->quiet);
    bn_ppl_params pp;
    bn_ppl_params_init(&pp);
    pp.n_ctx = o->n_ctx;
    pp.max_chunks = o->n_chunks;
    bn_ppl_params_set_bos(&pp, tok);
    pp.base = base;
    pp.on_chunk = bn_ppl_progress_on_chunk;
    pp.on_pass = bn_ppl_progress_on_pass;
    pp.user = &pc;
    if (!st) {
        bn_ppl_report_header(&rep, out_text);
        st = bn_ppl_run(ev, toks->ids, toks->n, &pp, res, &err);
    }
    bn_ppl_progress_end(&pc);
    bn_evaluator_free(ev);
    bn_evaluator_free(base);
    bn_reference_free(ref);
    rep.res = st ? NULL : res;
    rep.chunk_ppl = pc.vals;
    rep.n_chunk_ppl = pc.n_vals;
    json_add(root, is_ref ? "reference" : "perplexity", bn_ppl_report_json(&rep));
    bn_ppl_progress_free(&pc);
    if (st) { /* non-finite logits are the model's fault, not the text's */
        if (is_ref)
            fprintf(stderr, "bn-verify: --reference: %s%s%s\n", res->nonfinite ? o->model : "",
                    res->nonfinite ? ": " : "", err.msg);
        else
            fprintf(stderr, "bn-verify: %s: %s\n", res->nonfinite ? o->model : file, err.msg);
        return bn_status_exit_code(st);
    }
    bn_ppl_report_text(&rep, out_text);
    return 0;
}

/* The gates that are set, each printed (a failure on stderr). */
static void run_gates(const options *o, const bn_ppl_result *ppl, const bn_ppl_result *ref,
                      bn_gates *gt)
{
    bn_gate_limits lim = {o->max_ppl, o->max_kld, o->min_top1, o->max_ppl_ratio};
    bn_gates_eval(&lim, ppl, ref, gt);
    for (int i = 0; i < gt->n; i++) {
        char line[160];
        bn_gate_text(&gt->g[i], line, sizeof line);
        if (gt->g[i].pass)
            fprintf(out_text, "%s\n", line);
        else
            fprintf(stderr, "bn-verify: %s\n", line);
    }
}

/* ---- inputs and the run --------------------------------------------------------------- */

/* Every file named on the command line is there before any check runs, so a
 * typo is the first thing reported, not a context-length problem. */
static int inputs_exist(const options *o)
{
    const char *files[][2] = {{"--perplexity", o->ppl_file}, {"--data", o->data_file}};
    struct stat st;
    for (size_t i = 0; i < 2; i++) {
        const char *f = files[i][1];
        if (f && stat(f, &st) != 0) {
            fprintf(stderr, "bn-verify: %s %s: %s\n", files[i][0], f, strerror(errno));
            return 2;
        }
        if (f && !S_ISREG(st.st_mode)) {
            fprintf(stderr, "bn-verify: %s %s: not a regular file (a text file is expected)\n",
                    files[i][0], f);
            return 2;
        }
    }
    if (o->ref_dir && (stat(o->ref_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "bn-verify: --reference %s: not a directory (the Hugging Face checkpoint "
                        "directory the model was converted from is expected)\n", o->ref_dir);
        return 2;
    }
    return 0;
}

static int worst(int a, int b)
{
    return a > b ? a : b;
}

/* Load the model once for every section that runs it; then the gates. */
static int run_model(const options *o, cJSON *root, bn_gates *gt)
{
    bn_model_opts mo;
    bn_model_opts_default(&mo);
    mo.n_threads = o->n_threads;
    mo.kernel = o->kernel;
    mo.actq = o->actq;
    bn_model *m = NULL;
    bn_error err;
    bn_status st = bn_model_load(o->model, &mo, &m, &err);
    if (!st && o->ref_dir)
        st = bn_reference_check_model(o->ref_dir, m, o->model, &err);
    if (st) {
        fprintf(stderr, "bn-verify: %s%s\n", o->ref_dir && m ? "--reference: " : "", err.msg);
        bn_model_free(m);
        return bn_status_exit_code(st);
    }
    int rc = 0;
    bn_ppl_result ppl = {0}, ref = {0};
    if (o->do_kernels)
        rc = worst(rc, section_kernels(o, m, root));
    if (rc < 2 && o->ppl_file)
        rc = worst(rc, section_ppl(o, m, root, 0, &ppl));
    if (rc < 2 && o->ref_dir)
        rc = worst(rc, section_ppl(o, m, root, 1, &ref));
    if (rc < 2)
        run_gates(o, o->ppl_file ? &ppl : NULL, o->ref_dir ? &ref : NULL, gt);
    bn_model_free(m);
    return rc;
}


int verify_run(const options *o, FILE *text, cJSON *root)
{
    out_text = text;
    bn_gates gt = {0};
    int rc = inputs_exist(o);
    if (rc == 0 && o->do_check)
        rc = section_check(o, root);
    /* A file that fails --check is not run: the runtime would refuse it anyway. */
    if (rc == 0 && (o->do_kernels || o->ppl_file || o->ref_dir))
        rc = run_model(o, root, &gt);
    json_add(root, "gates", bn_gates_json(&gt));
    if (rc < 2 && gt.n_failed)
        rc = worst(rc, 1);
    bn_tokens_free(&tok_cache.toks);
    tok_cache.path = NULL;
    return rc;
}

int verify_json_complete(void)
{
    return !json_oom;
}
