/*
 * bn-verify - check a converted BitNet GGUF: structure (--check), kernel
 * equivalence (--kernels), perplexity as llama-perplexity computes it
 * (--perplexity) and agreement with a float reference forward pass over the
 * source checkpoint (--reference), with CI gates. This main parses flags,
 * calls libbn (verify.h: the checks, the rules, the gates, and each result's
 * text and JSON) and prints; docs/ci.md documents the --json fields.
 *
 * Exit: 0 all requested checks and gates pass; 1 a check or gate failed;
 * 2 bad usage or input (unreadable file, malformed GGUF, -c too large, ...).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "bn/gguf.h"
#include "bn/kernels.h"
#include "bn/model.h"
#include "bn/threadpool.h"
#include "bn/tokenizer.h"
#include "bn/util.h"
#include "bn/verify.h"
#include "tools/common/cli.h"
#include "common/json_out.h"
#include "common/ppl_progress.h"

typedef struct {
    const char *model;
    const char *ppl_file;
    const char *ref_dir;
    const char *data_file;
    const char *json_path;
    const char *kernel;
    bn_actq actq;
    bn_ref_mode ref_mode;
    int do_check, do_kernels;
    int n_ctx, n_chunks, n_batch, n_threads, n_tokens;
    int quiet;
    double max_ppl, max_kld, min_top1, max_ppl_ratio; /* NAN: gate not set */
} options;

static FILE *out_text; /* stdout, or stderr when --json - takes stdout */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bn-verify MODEL.gguf [modes] [options]\n"
            "\n"
            "modes (combinable; each prints a section and adds to --json):\n"
            "  --check                 structural validation of the file for its architecture\n"
            "  --kernels               every available kernel against basic: integer sums on the\n"
            "                          model's matrices and odd shapes, then logits\n"
            "    --tokens N            tokens of the model run per kernel (default 16)\n"
            "  --perplexity FILE       perplexity of FILE as llama-perplexity computes it\n"
            "  --reference HF_DIR      compare with a float forward pass over the checkpoint\n"
            "    --data FILE           text for --reference (default: the --perplexity FILE)\n"
            "    --reference-mode M    quantized (default: same ternarization and int8\n"
            "                          activations in float) or latent (unquantized weights)\n"
            "\n"
            "options:\n"
            "  -c, --ctx-size N        tokens per chunk (default 512; at most context_length)\n"
            "  --chunks N              evaluate at most N chunks (default all)\n"
            "  -b, --batch-size N      tokens per batch: N / n_ctx chunks run together (default 2048)\n"
            "  -t, --threads N         threads, 1..%d (default: all cores, at most %d)\n"
            "  --kernel K              ternary kernel (basic, blocked, lut, avx2, ..., simd)\n"
            "  --act token|q8_k        activations of ternary matmuls: per token as BitNet and\n"
            "                          bitnet.cpp (default), or Q8_K per 256-block as upstream\n"
            "                          llama.cpp evaluates TQ1_0/TQ2_0 files\n"
            "  --json FILE             machine-readable results (- for stdout; docs/ci.md)\n"
            "  -q, --quiet             no per-chunk progress\n"
            "\n"
            "gates (exit 1 naming each failed gate):\n"
            "  --max-ppl X             perplexity (of --perplexity, else --reference) <= X\n"
            "  --max-kld X             mean KL divergence to the reference <= X (nats)\n"
            "  --min-top1 P            top-1 agreement with the reference >= P percent\n"
            "  --max-ppl-ratio R       PPL(model) / PPL(reference) <= R\n"
            "\n"
            "  -h, --help, --version\n"
            "exit: 0 ok, 1 a check or gate failed, 2 bad usage or input\n",
            BN_POOL_MAX_THREADS, BN_POOL_MAX_THREADS);
}

static int parse_int(const char *flag, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "bn-verify: %s needs an integer in %ld..%ld, got '%s'\n", flag, lo, hi,
                s ? s : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_num(const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !isfinite(v) || v < 0) {
        fprintf(stderr, "bn-verify: %s needs a finite non-negative number, got '%s'\n", flag,
                s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

/* 0 run, 1 exit 0 (help/version), -1 usage error. */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->n_ctx = 512;
    o->n_batch = 2048;
    o->n_tokens = 16;
    o->max_ppl = o->max_kld = o->min_top1 = o->max_ppl_ratio = NAN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                                    \
    do {                                                                           \
        if (!v) {                                                                  \
            fprintf(stderr, "bn-verify: %s needs a value\n", a);                   \
            return -1;                                                             \
        }                                                                          \
        i++;                                                                       \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--version")) {
            bn_cli_print_version("bn-verify");
            return 1;
        } else if (!strcmp(a, "--check")) {
            o->do_check = 1;
        } else if (!strcmp(a, "--kernels")) {
            o->do_kernels = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--perplexity")) {
            NEEDV();
            o->ppl_file = v;
        } else if (!strcmp(a, "--reference")) {
            NEEDV();
            o->ref_dir = v;
        } else if (!strcmp(a, "--data")) {
            NEEDV();
            o->data_file = v;
        } else if (!strcmp(a, "--json")) {
            NEEDV();
            o->json_path = v;
        } else if (!strcmp(a, "--kernel")) {
            NEEDV();
            o->kernel = v;
        } else if (!strcmp(a, "--act")) {
            NEEDV();
            bn_error e;
            if (bn_actq_parse(v, &o->actq, &e)) {
                fprintf(stderr, "bn-verify: --act: %s\n", e.msg);
                return -1;
            }
        } else if (!strcmp(a, "--reference-mode")) {
            NEEDV();
            if (!strcmp(v, "quantized"))
                o->ref_mode = BN_REF_QUANTIZED;
            else if (!strcmp(v, "latent"))
                o->ref_mode = BN_REF_LATENT;
            else {
                fprintf(stderr, "bn-verify: --reference-mode must be quantized or latent, got '%s'\n",
                        v);
                return -1;
            }
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            NEEDV();
            if (parse_int(a, v, 4, 1 << 20, &o->n_ctx))
                return -1;
        } else if (!strcmp(a, "--chunks")) {
            NEEDV();
            if (parse_int(a, v, 1, INT32_MAX, &o->n_chunks))
                return -1;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            NEEDV();
            if (parse_int(a, v, 1, 1 << 24, &o->n_batch))
                return -1;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEEDV();
            if (parse_int(a, v, 1, BN_POOL_MAX_THREADS, &o->n_threads))
                return -1;
        } else if (!strcmp(a, "--tokens")) {
            NEEDV();
            if (parse_int(a, v, 0, 1 << 20, &o->n_tokens))
                return -1;
        } else if (!strcmp(a, "--max-ppl")) {
            NEEDV();
            if (parse_num(a, v, &o->max_ppl))
                return -1;
        } else if (!strcmp(a, "--max-kld")) {
            NEEDV();
            if (parse_num(a, v, &o->max_kld))
                return -1;
        } else if (!strcmp(a, "--min-top1")) {
            NEEDV();
            if (parse_num(a, v, &o->min_top1))
                return -1;
            if (o->min_top1 > 100) {
                fprintf(stderr, "bn-verify: --min-top1 is a percentage (0..100), got '%s'\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--max-ppl-ratio")) {
            NEEDV();
            if (parse_num(a, v, &o->max_ppl_ratio))
                return -1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "bn-verify: unknown option '%s' (see --help)\n", a);
            return -1;
        } else if (!o->model) {
            o->model = a;
        } else {
            fprintf(stderr, "bn-verify: unexpected argument '%s' (one model per run)\n", a);
            return -1;
        }
#undef NEEDV
    }
    if (!o->model) {
        fprintf(stderr, "bn-verify: no MODEL.gguf given (see --help)\n");
        return -1;
    }
    if (!o->do_check && !o->do_kernels && !o->ppl_file && !o->ref_dir) {
        fprintf(stderr, "bn-verify: nothing to do: give --check, --kernels, --perplexity FILE "
                        "and/or --reference HF_DIR\n");
        return -1;
    }
    if (o->ref_dir && !o->data_file && !o->ppl_file) {
        fprintf(stderr, "bn-verify: --reference needs text: --data FILE or --perplexity FILE\n");
        return -1;
    }
    if (!o->ref_dir && (!isnan(o->max_kld) || !isnan(o->min_top1) || !isnan(o->max_ppl_ratio))) {
        fprintf(stderr, "bn-verify: --max-kld, --min-top1 and --max-ppl-ratio need --reference\n");
        return -1;
    }
    if (!isnan(o->max_ppl) && !o->ppl_file && !o->ref_dir) {
        fprintf(stderr, "bn-verify: --max-ppl needs --perplexity or --reference\n");
        return -1;
    }
    if (o->kernel) {
        bn_error e;
        const bn_kernel *k;
        if (bn_kernel_get(o->kernel, &k, &e)) {
            fprintf(stderr, "bn-verify: --kernel: %s\n", e.msg);
            return -1;
        }
        if (!o->do_kernels && !o->ppl_file && !o->ref_dir) {
            fprintf(stderr, "bn-verify: --kernel %s has nothing to run: --check reads the file "
                            "without running the model (use it with --perplexity or --reference)\n",
                    o->kernel);
            return -1;
        }
    }
    if (o->data_file == NULL)
        o->data_file = o->ppl_file;
    return 0;
}

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
    if (bn_model_load(o->model, &mo, &m, &err) ||
        (o->ref_dir && bn_reference_check_model(o->ref_dir, m, o->model, &err))) {
        fprintf(stderr, "bn-verify: %s%s\n", o->ref_dir && m ? "--reference: " : "", err.msg);
        bn_model_free(m);
        return 2;
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

int main(int argc, char **argv)
{
    options o;
    int pr = parse_args(argc, argv, &o);
    if (pr)
        return pr > 0 ? 0 : 2;
    out_text = o.json_path && !strcmp(o.json_path, "-") ? stderr : stdout;
    bn_outset *outs = NULL;
    const char *inputs[4] = {o.model, o.ppl_file, o.data_file, o.ref_dir};
    if (bn_cli_json_plan("bn-verify", o.json_path, inputs, 4, &outs)) {
        bn_outset_free(outs);
        return 2;
    }
    cJSON *root = bn_cli_json_doc("bn-verify", 1, o.model); /* docs/json.md */
    if (!root) {
        fprintf(stderr, "bn-verify: out of memory\n");
        return 3;
    }
    bn_gates gt = {0};
    int rc = inputs_exist(&o);
    if (rc == 0 && o.do_check)
        rc = section_check(&o, root);
    /* A file that fails --check is not run: the runtime would refuse it anyway. */
    if (rc == 0 && (o.do_kernels || o.ppl_file || o.ref_dir))
        rc = run_model(&o, root, &gt);
    json_add(root, "gates", bn_gates_json(&gt));
    if (rc < 2 && gt.n_failed)
        rc = worst(rc, 1);
    cJSON_AddBoolToObject(root, "ok", rc == 0);
    cJSON_AddNumberToObject(root, "exit_code", rc);
    if (o.json_path)
        rc = worst(rc, bn_cli_json_write("bn-verify", o.json_path, outs, json_oom ? NULL : root));
    bn_outset_free(outs);
    cJSON_Delete(root);
    bn_tokens_free(&tok_cache.toks);
    return rc;
}
