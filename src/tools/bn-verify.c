/*
 * bn-verify - check a converted BitNet GGUF: structure (--check), kernel
 * equivalence (--kernels), perplexity as llama-perplexity computes it
 * (--perplexity) and agreement with a float reference forward pass over the
 * source checkpoint (--reference), with CI gates. This main parses flags,
 * calls libbn (verify.h) and prints; docs/ci.md documents the --json fields.
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
#include "common/opt.h"
#include "common/progress.h"

#define TEXT_MAX_BYTES ((size_t)1 << 30)
#define LOGITS_BUDGET ((size_t)512 << 20) /* bytes of logits per batch, at most */

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

static const char *const REF_MODES[] = {"quantized", "latent", NULL};
static const int REF_MODE_VALUES[] = {BN_REF_QUANTIZED, BN_REF_LATENT};

/* 0 run, 1 exit 0 (help/version), -1 usage error. */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->n_ctx = 512;
    o->n_batch = 2048;
    o->n_tokens = 16;
    o->max_ppl = o->max_kld = o->min_top1 = o->max_ppl_ratio = NAN;
    int ref_mode = BN_REF_QUANTIZED;
    const bn_opt opts[] = {
        BN_O_SECTION("modes (combinable; each prints a section and adds to --json):"),
        BN_O_FLAG(NULL, "--check", &o->do_check, "structural validation of the file for its architecture"),
        BN_O_FLAG(NULL, "--kernels", &o->do_kernels,
                  "every available kernel against basic: integer sums on the\n"
                  "model's matrices and odd shapes, then logits"),
        BN_O_INT(NULL, "--tokens", &o->n_tokens, 0, 1 << 20, "N",
                 "--kernels: tokens of the model run per kernel (default 16)"),
        BN_O_STR(NULL, "--perplexity", &o->ppl_file, "FILE",
                 "perplexity of FILE as llama-perplexity computes it"),
        BN_O_STR(NULL, "--reference", &o->ref_dir, "HF_DIR",
                 "compare with a float forward pass over the checkpoint"),
        BN_O_STR(NULL, "--data", &o->data_file, "FILE",
                 "text for --reference (default: the --perplexity FILE)"),
        BN_O_ENUM(NULL, "--reference-mode", &ref_mode, REF_MODES, REF_MODE_VALUES,
                  "quantized (default: same ternarization and int8\n"
                  "activations in float) or latent (unquantized weights)"),
        BN_O_SECTION("\noptions:"),
        BN_O_MODEL(&o->model),
        BN_O_INT("-c", "--ctx-size", &o->n_ctx, 4, 1 << 20, "N",
                 "tokens per chunk (default 512; at most context_length)"),
        BN_O_INT(NULL, "--chunks", &o->n_chunks, 1, INT32_MAX, "N", "evaluate at most N chunks (default all)"),
        BN_O_INT("-b", "--batch-size", &o->n_batch, 1, 1 << 24, "N",
                 "tokens per batch: N / n_ctx chunks run together\n(default 2048)"),
        BN_O_INT("-t", "--threads", &o->n_threads, 1, BN_POOL_MAX_THREADS, "N",
                 "threads, 1.." BN_OPT_STR(BN_POOL_MAX_THREADS) " (default: all cores, at most\n"
                 BN_OPT_STR(BN_POOL_MAX_THREADS) ")"),
        BN_O_FUNC(NULL, "--kernel", &o->kernel, bn_opt_kernel, "K",
                  "ternary kernel (basic, blocked, lut, avx2, ..., simd)"),
        BN_O_FUNC(NULL, "--act", &o->actq, bn_opt_actq, "token|q8_k",
                  "activations of ternary matmuls: per token as BitNet and\n"
                  "bitnet.cpp (default), or Q8_K per 256-block as upstream\n"
                  "llama.cpp evaluates TQ1_0/TQ2_0 files"),
        {.l = "--json", .kind = BN_OPT_OPTSTR, .p = &o->json_path, .arg = "FILE", .dflt = "-",
         .help = "machine-readable results on stdout, or into FILE\n(docs/ci.md)"},
        BN_O_FLAG("-q", "--quiet", &o->quiet, "no per-chunk progress"),
        BN_O_SECTION("\ngates (exit 1 naming each failed gate):"),
        BN_O_DOUBLE(NULL, "--max-ppl", &o->max_ppl, 0, INFINITY, "X",
                    "perplexity (of --perplexity, else --reference) <= X"),
        BN_O_DOUBLE(NULL, "--max-kld", &o->max_kld, 0, INFINITY, "X",
                    "mean KL divergence to the reference <= X (nats)"),
        BN_O_DOUBLE(NULL, "--min-top1", &o->min_top1, 0, 100, "P",
                    "top-1 agreement with the reference >= P percent"),
        BN_O_DOUBLE(NULL, "--max-ppl-ratio", &o->max_ppl_ratio, 0, INFINITY, "R",
                    "PPL(model) / PPL(reference) <= R"),
        BN_O_SECTION(""),
    };
    const bn_opt_spec spec = {"bn-verify", "usage: bn-verify MODEL.gguf [modes] [options]\n\n", opts,
                              BN_OPT_N(opts), {&o->model}, 1, 1, NULL};
    int rc = bn_opt_parse(&spec, argc, argv);
    if (rc >= 0)
        return rc == 0 ? 1 : -1;
    o->ref_mode = (bn_ref_mode)ref_mode;
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

/* ---- gates ----------------------------------------------------------------------- */

typedef struct {
    cJSON *arr;
    int n_failed;
} gates;

static void gate(gates *g, const char *name, double value, double threshold, int is_max)
{
    if (isnan(threshold))
        return;
    int pass = is_max ? value <= threshold : value >= threshold;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "value", value);
    cJSON_AddNumberToObject(o, "threshold", threshold);
    cJSON_AddBoolToObject(o, "pass", pass);
    cJSON_AddItemToArray(g->arr, o);
    if (!pass) {
        g->n_failed++;
        fprintf(stderr, "bn-verify: gate %s failed: %.6g %s %.6g\n", name, value,
                is_max ? ">" : "<", threshold);
    } else {
        fprintf(out_text, "gate %s passed: %.6g %s %.6g\n", name, value, is_max ? "<=" : ">=",
                threshold);
    }
}

/* ---- sections ---------------------------------------------------------------------- */

static int section_check(const options *o, cJSON *root)
{
    bn_error err;
    bn_gguf *g;
    if (bn_gguf_open(o->model, &g, &err)) {
        fprintf(stderr, "bn-verify: %s\n", err.msg);
        return 2;
    }
    bn_check_report r;
    bn_status st = bn_check_gguf(g, &r, &err);
    if (st) {
        bn_gguf_close(g);
        fprintf(stderr, "bn-verify: %s\n", err.msg);
        return 2;
    }
    fprintf(out_text, "== check: %s\n", o->model);
    cJSON *j = cJSON_AddObjectToObject(root, "check");
    cJSON_AddBoolToObject(j, "ok", r.n == 0);
    cJSON_AddNumberToObject(j, "tensors_checked", (double)r.n_tensors_checked);
    cJSON_AddNumberToObject(j, "keys_checked", (double)r.n_kv_checked);
    cJSON *pr = cJSON_AddArrayToObject(j, "problems");
    for (size_t i = 0; i < r.n; i++) {
        fprintf(out_text, "  problem: %s\n", r.items[i]);
        cJSON_AddItemToArray(pr, cJSON_CreateString(r.items[i]));
    }
    if (r.n)
        fprintf(stderr, "bn-verify: %s: %zu problem%s found by --check\n", o->model, r.n,
                r.n == 1 ? "" : "s");
    else
        fprintf(out_text, "  ok: %zu tensors, %lld keys, %zu checks passed\n",
                (size_t)bn_gguf_n_tensors(g), (long long)bn_gguf_n_kv(g),
                r.n_tensors_checked + r.n_kv_checked);
    int rc = r.n ? 1 : 0;
    bn_check_report_free(&r);
    bn_gguf_close(g);
    return rc;
}

static int tokenize_file(const char *path, const bn_tokenizer *tok, const bn_tokens **out);

/* The model run of --kernels uses the first --tokens N tokens of the text when
 * one is given (and the model has a tokenizer), else a fixed pseudo-random
 * sequence. */
static int section_kernels(const options *o, bn_model *m, cJSON *root)
{
    bn_error err;
    bn_kernel_check *kc;
    size_t n;
    const int32_t *ids = NULL;
    int n_tok = o->n_tokens;
    const bn_tokenizer *tok = bn_model_tokenizer(m);
    if (o->data_file && tok) {
        const bn_tokens *toks;
        int rc = tokenize_file(o->data_file, tok, &toks);
        if (rc)
            return rc;
        ids = toks->ids;
        if ((size_t)n_tok > toks->n)
            n_tok = (int)toks->n;
    }
    if (n_tok > bn_model_hparams(m)->n_ctx_train)
        n_tok = bn_model_hparams(m)->n_ctx_train;
    if (bn_verify_kernels(m, ids, n_tok, &kc, &n, &err)) {
        fprintf(stderr, "bn-verify: --kernels: %s\n", err.msg);
        return bn_status_exit_code(err.code);
    }
    cJSON *j = cJSON_AddObjectToObject(root, "kernels");
    cJSON_AddNumberToObject(j, "tokens", n_tok);
    cJSON_AddStringToObject(j, "token_source", ids ? o->data_file : "pseudo-random");
    cJSON *arr = cJSON_AddArrayToObject(j, "kernels");
    int bad = 0;
    fprintf(out_text, "== kernels (against basic; %d model tokens from %s)\n", n_tok,
            ids ? o->data_file : "a pseudo-random sequence");
    fprintf(out_text, "  %-12s %-9s %8s %10s %10s %-8s %8s\n", "kernel", "available", "matrices",
            "sums", "mismatch", "logits", "GB/s");
    for (size_t i = 0; i < n; i++) {
        const bn_kernel_check *k = &kc[i];
        int ok = !k->available ||
                 (k->n_mismatch == 0 && (!k->logits_checked || k->logits_identical));
        bad += !ok;
        const char *lg = !k->available ? "-" : !k->logits_checked ? "n/a"
                         : k->logits_identical ? "same" : "DIFFER";
        if (k->available)
            fprintf(out_text, "  %-12s %-9s %8llu %10llu %10llu %-8s %8.2f%s\n", k->name, "yes",
                    (unsigned long long)k->n_matrices, (unsigned long long)k->n_sums,
                    (unsigned long long)k->n_mismatch, lg, k->gbps, ok ? "" : "  FAIL");
        else
            fprintf(out_text, "  %-12s %-9s %8s %10s %10s %-8s %8s\n", k->name, "no", "-", "-",
                    "-", lg, "-");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", k->name);
        cJSON_AddStringToObject(e, "description", k->desc);
        cJSON_AddBoolToObject(e, "available", k->available);
        cJSON_AddNumberToObject(e, "matrices", (double)k->n_matrices);
        cJSON_AddNumberToObject(e, "sums", (double)k->n_sums);
        cJSON_AddNumberToObject(e, "mismatches", (double)k->n_mismatch);
        cJSON_AddNumberToObject(e, "logits_tokens", k->logits_checked);
        cJSON_AddBoolToObject(e, "logits_identical", k->logits_identical);
        cJSON_AddNumberToObject(e, "max_logit_diff", k->max_logit_diff);
        cJSON_AddNumberToObject(e, "gb_per_s", k->gbps);
        cJSON_AddBoolToObject(e, "ok", ok);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddBoolToObject(j, "ok", bad == 0);
    free(kc);
    if (bad)
        fprintf(stderr, "bn-verify: --kernels: %d kernel%s disagree with basic\n", bad,
                bad == 1 ? "" : "s");
    return bad ? 1 : 0;
}

/* The tokens of one text file, kept for the sections that share it. */
static struct {
    const char *path;
    bn_tokens toks;
} tok_cache;

/* Read FILE, strip one trailing newline, tokenize as one string with the
 * vocabulary's BOS/EOS rules (llama-perplexity's common_tokenize(add_special)).
 * *out points into the cache; it stays valid until free_tokens(). */
static int tokenize_file(const char *path, const bn_tokenizer *tok, const bn_tokens **out)
{
    if (tok_cache.path && !strcmp(tok_cache.path, path)) {
        *out = &tok_cache.toks;
        return 0;
    }
    bn_tokens_free(&tok_cache.toks);
    tok_cache.path = NULL;
    bn_error err;
    char *text;
    size_t len;
    if (bn_read_file(path, TEXT_MAX_BYTES, &text, &len, &err)) {
        fprintf(stderr, "bn-verify: %s\n", err.msg);
        return 2;
    }
    if (len && text[len - 1] == '\n')
        len--;
    bn_status st = bn_tokenizer_encode(tok, text, len, BN_TOK_ADD_SPECIAL, &tok_cache.toks, &err);
    free(text);
    if (st) {
        fprintf(stderr, "bn-verify: %s: %s\n", path, err.msg);
        bn_tokens_free(&tok_cache.toks);
        return 2;
    }
    tok_cache.path = path;
    *out = &tok_cache.toks;
    return 0;
}

static void free_tokens(void)
{
    bn_tokens_free(&tok_cache.toks);
    tok_cache.path = NULL;
}

/* What llama-perplexity prints (the pass time and ETA after the first pass,
 * "[i]ppl," per chunk), plus a live line on a terminal (progress.h). When the
 * text goes to the same terminal, the "[i]ppl," values would be overwritten
 * by the live line, so they are kept and printed when the run ends. */
typedef struct {
    const options *o;
    cJSON *chunks;
    bn_progress prog;
    int defer;        /* hold the per-chunk values until the end */
    double *vals;     /* (n_vals) held values */
    int n_vals, cap;
} progress_ctx;

static void progress_start(progress_ctx *pc, const options *o, cJSON *chunks, const char *what)
{
    memset(pc, 0, sizeof *pc);
    pc->o = o;
    pc->chunks = chunks;
    bn_progress_init(&pc->prog, what, o->quiet);
    pc->defer = pc->prog.enabled && isatty(fileno(out_text));
}

static void on_pass(void *user, int chunk0, int n_seq, int n_chunks)
{
    progress_ctx *pc = user;
    if (chunk0 == 0)
        bn_progress_step(&pc->prog, "evaluating chunk%s 1%s%d of %d (the first pass sets the ETA)",
                         n_seq > 1 ? "s" : "", n_seq > 1 ? "-" : "", n_seq > 1 ? n_seq : 1, n_chunks);
}

static void print_values(progress_ctx *pc)
{
    for (int i = 0; i < pc->n_vals; i++)
        fprintf(out_text, "[%d]%.4f,", i + 1, pc->vals[i]);
    if (pc->n_vals)
        fprintf(out_text, "\n");
    pc->n_vals = 0;
}

static void progress_end(progress_ctx *pc)
{
    bn_progress_done(&pc->prog);
    if (!pc->o->quiet)
        print_values(pc);
    free(pc->vals);
    pc->vals = NULL;
}

static bn_status on_chunk(void *user, const bn_ppl_progress *p, bn_error *err)
{
    progress_ctx *pc = user;
    if (pc->chunks)
        cJSON_AddItemToArray(pc->chunks, cJSON_CreateNumber(p->ppl));
    if (pc->o->quiet)
        return BN_OK;
    if (p->chunk == 1) { /* the callbacks of a pass come after it: seconds is the first pass */
        int passes = (p->n_chunks + p->n_seq - 1) / (p->n_seq > 0 ? p->n_seq : 1);
        char eta[16];
        bn_progress_done(&pc->prog);
        fprintf(out_text, "perplexity: %.2f seconds per pass - ETA %s\n", p->seconds,
                bn_progress_duration(p->seconds * passes, eta, sizeof eta));
        fflush(out_text);
    }
    if (pc->defer) {
        if (pc->n_vals == pc->cap) {
            int nc = pc->cap ? 2 * pc->cap : 64;
            double *nv = realloc(pc->vals, (size_t)nc * sizeof *nv);
            if (!nv)
                return bn_error_set(err, BN_ENOMEM, "out of memory for chunk values");
            pc->vals = nv;
            pc->cap = nc;
        }
        pc->vals[pc->n_vals++] = p->ppl;
    } else {
        fprintf(out_text, "[%d]%.4f,", p->chunk, p->ppl);
        if (p->chunk == p->n_chunks)
            fprintf(out_text, "\n");
        fflush(out_text);
    }
    bn_progress_count(&pc->prog, (size_t)p->chunk, (size_t)p->n_chunks, "chunks", p->tok_per_s, "tokens/s");
    return BN_OK;
}

static int n_seq_for(const options *o, int n_vocab)
{
    int n_seq = o->n_batch / o->n_ctx;
    if (n_seq < 1)
        n_seq = 1;
    size_t per_seq = (size_t)o->n_ctx * (size_t)n_vocab * sizeof(float);
    while (n_seq > 1 && (size_t)n_seq * per_seq > LOGITS_BUDGET)
        n_seq--;
    return n_seq;
}

static int check_ctx(const options *o, const bn_model *m)
{
    const bn_hparams *hp = bn_model_hparams(m);
    if (o->n_ctx > hp->n_ctx_train) {
        fprintf(stderr,
                "bn-verify: -c %d exceeds the model's context_length %d; use -c %d or less\n",
                o->n_ctx, hp->n_ctx_train, hp->n_ctx_train);
        return 2;
    }
    return 0;
}

static int section_ppl(const options *o, bn_model *m, cJSON *root, double *ppl_out)
{
    const bn_tokenizer *tok = bn_model_tokenizer(m);
    if (!tok) {
        fprintf(stderr, "bn-verify: %s has no tokenizer (tokenizer.ggml.*); cannot tokenize %s\n",
                o->model, o->ppl_file);
        return 2;
    }
    int rc = check_ctx(o, m);
    if (rc)
        return rc;
    const bn_tokens *toks;
    double t_tok = bn_now_seconds();
    if (!o->quiet)
        fprintf(out_text, "perplexity: tokenizing the input ..\n");
    if ((rc = tokenize_file(o->ppl_file, tok, &toks)))
        return rc;
    if (!o->quiet)
        fprintf(out_text, "perplexity: tokenization took %.3f ms\n", 1e3 * (bn_now_seconds() - t_tok));
    bn_error err;
    bn_evaluator *ev = NULL;
    const bn_hparams *hp = bn_model_hparams(m);
    bn_status st = bn_verify_model_evaluator(m, o->n_ctx, n_seq_for(o, hp->n_vocab), &ev, &err);
    cJSON *j = cJSON_AddObjectToObject(root, "perplexity");
    progress_ctx pc;
    progress_start(&pc, o, cJSON_AddArrayToObject(j, "chunk_ppl"), "perplexity");
    bn_ppl_params pp;
    bn_ppl_params_init(&pp);
    pp.n_ctx = o->n_ctx;
    pp.max_chunks = o->n_chunks;
    pp.add_bos = bn_tokenizer_add_bos(tok);
    pp.bos_id = bn_tokenizer_bos(tok);
    pp.on_chunk = on_chunk;
    pp.on_pass = on_pass;
    pp.user = &pc;
    bn_ppl_result res = {0};
    if (!st) {
        size_t n_chunk = toks->n / (size_t)o->n_ctx;
        if (o->n_chunks > 0 && (size_t)o->n_chunks < n_chunk)
            n_chunk = (size_t)o->n_chunks;
        fprintf(out_text, "== perplexity: %s (%zu tokens, kernel %s, %s activations, %d threads)\n",
                o->ppl_file, toks->n, bn_model_kernel(m), bn_actq_name(bn_model_actq(m)),
                bn_model_n_threads(m));
        fprintf(out_text,
                "perplexity: calculating perplexity over %zu chunks, n_ctx=%d, batch_size=%d, "
                "n_seq=%d\n",
                n_chunk, o->n_ctx, o->n_batch, ev->max_seq);
        st = bn_ppl_run(ev, toks->ids, toks->n, &pp, &res, &err);
    }
    progress_end(&pc);
    bn_evaluator_free(ev);
    if (st) {
        /* non-finite logits are the model's fault, not the text's */
        fprintf(stderr, "bn-verify: %s: %s\n", res.nonfinite ? o->model : o->ppl_file, err.msg);
        return bn_status_exit_code(st);
    }
    fprintf(out_text, "Final estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_err);
    fprintf(out_text, "  %d chunks, %llu scored tokens, %.2f s, %.1f tokens/s\n", res.n_chunks,
            (unsigned long long)res.n_scored, res.seconds, res.tok_per_s);
    cJSON_AddStringToObject(j, "file", o->ppl_file);
    cJSON_AddNumberToObject(j, "n_ctx", res.n_ctx);
    cJSON_AddNumberToObject(j, "chunks", res.n_chunks);
    cJSON_AddNumberToObject(j, "tokens", (double)res.n_tokens);
    cJSON_AddNumberToObject(j, "scored", (double)res.n_scored);
    cJSON_AddNumberToObject(j, "nll_mean", res.nll_mean);
    cJSON_AddNumberToObject(j, "ppl", res.ppl);
    cJSON_AddNumberToObject(j, "ppl_err", res.ppl_err);
    cJSON_AddNumberToObject(j, "seconds", res.seconds);
    cJSON_AddNumberToObject(j, "tokens_per_second", res.tok_per_s);
    cJSON_AddStringToObject(j, "kernel", bn_model_kernel(m));
    cJSON_AddStringToObject(j, "activations", bn_actq_name(bn_model_actq(m)));
    cJSON_AddNumberToObject(j, "threads", bn_model_n_threads(m));
    *ppl_out = res.ppl;
    return 0;
}

static int section_reference(const options *o, bn_model *m, cJSON *root, gates *gt,
                             double *ppl_out)
{
    const bn_tokenizer *tok = bn_model_tokenizer(m);
    if (!tok) {
        fprintf(stderr, "bn-verify: %s has no tokenizer (tokenizer.ggml.*); cannot tokenize %s\n",
                o->model, o->data_file);
        return 2;
    }
    int rc = check_ctx(o, m);
    if (rc)
        return rc;
    const bn_hparams *hp = bn_model_hparams(m);
    bn_error err;
    bn_reference *ref;
    int embd_round = o->ref_mode == BN_REF_QUANTIZED ? (int)hp->embd_type : -1;
    if (bn_reference_load(o->ref_dir, o->ref_mode, embd_round, &ref, &err)) {
        fprintf(stderr, "bn-verify: --reference: %s\n", err.msg);
        return 2;
    }
    if (bn_reference_n_vocab(ref) != hp->n_vocab) {
        fprintf(stderr, "bn-verify: --reference: %s has a vocabulary of %d, %s of %d\n",
                o->ref_dir, bn_reference_n_vocab(ref), o->model, hp->n_vocab);
        bn_reference_free(ref);
        return 2;
    }
    const bn_tokens *toks;
    if ((rc = tokenize_file(o->data_file, tok, &toks))) {
        bn_reference_free(ref);
        return rc;
    }
    int n_thr = o->n_threads > 0 ? o->n_threads : bn_model_n_threads(m);
    bn_evaluator *ev = NULL, *base = NULL;
    bn_status st = bn_reference_evaluator(ref, n_thr, &base, &err);
    if (!st)
        st = bn_verify_model_evaluator(m, o->n_ctx, n_thr, &ev, &err);
    const char *mode = o->ref_mode == BN_REF_QUANTIZED ? "quantized" : "latent";
    cJSON *j = cJSON_AddObjectToObject(root, "reference");
    progress_ctx pc;
    progress_start(&pc, o, NULL, "reference");
    bn_ppl_params pp;
    bn_ppl_params_init(&pp);
    pp.n_ctx = o->n_ctx;
    pp.max_chunks = o->n_chunks;
    pp.add_bos = bn_tokenizer_add_bos(tok);
    pp.bos_id = bn_tokenizer_bos(tok);
    pp.base = base;
    pp.on_chunk = on_chunk;
    pp.on_pass = on_pass;
    pp.user = &pc;
    bn_ppl_result res = {0};
    if (!st) {
        fprintf(out_text, "== reference: %s (%s mode) on %s (%zu tokens, n_ctx %d)\n",
                o->ref_dir, mode, o->data_file, toks->n, o->n_ctx);
        st = bn_ppl_run(ev, toks->ids, toks->n, &pp, &res, &err);
    }
    progress_end(&pc);
    bn_evaluator_free(ev);
    bn_evaluator_free(base);
    bn_reference_free(ref);
    if (st) {
        fprintf(stderr, "bn-verify: --reference: %s%s%s\n", res.nonfinite ? o->model : "",
                res.nonfinite ? ": " : "", err.msg);
        return bn_status_exit_code(st);
    }
    const bn_kld_result *k = &res.kld;
    fprintf(out_text, "  positions:        %llu (%d chunks)\n", (unsigned long long)k->n,
            res.n_chunks);
    fprintf(out_text, "  PPL(model):       %10.4f +/- %.5f\n", k->ppl_test, k->ppl_test_err);
    fprintf(out_text, "  PPL(reference):   %10.4f +/- %.5f\n", k->ppl_base, k->ppl_base_err);
    fprintf(out_text, "  PPL ratio:        %10.6f +/- %.6f\n", k->ppl_ratio, k->ppl_ratio_err);
    fprintf(out_text, "  Mean KLD:         %10.6f +/- %.6f (max %.6f)\n", k->kld_mean, k->kld_err,
            k->kld_max);
    fprintf(out_text, "  Same top p:       %10.3f +/- %.3f %%\n", 100 * k->top1,
            100 * k->top1_err);
    fprintf(out_text, "  RMS Δp:           %10.3f +/- %.3f %%\n", 100 * k->rms_dp,
            100 * k->rms_dp_err);
    cJSON_AddStringToObject(j, "dir", o->ref_dir);
    cJSON_AddStringToObject(j, "mode", mode);
    cJSON_AddStringToObject(j, "file", o->data_file);
    cJSON_AddNumberToObject(j, "n_ctx", res.n_ctx);
    cJSON_AddNumberToObject(j, "chunks", res.n_chunks);
    cJSON_AddNumberToObject(j, "positions", (double)k->n);
    cJSON_AddNumberToObject(j, "ppl", k->ppl_test);
    cJSON_AddNumberToObject(j, "ppl_err", k->ppl_test_err);
    cJSON_AddNumberToObject(j, "ppl_reference", k->ppl_base);
    cJSON_AddNumberToObject(j, "ppl_reference_err", k->ppl_base_err);
    cJSON_AddNumberToObject(j, "ppl_ratio", k->ppl_ratio);
    cJSON_AddNumberToObject(j, "ppl_ratio_err", k->ppl_ratio_err);
    cJSON_AddNumberToObject(j, "ln_ppl_ratio", k->ln_ppl_ratio);
    cJSON_AddNumberToObject(j, "ln_ppl_ratio_err", k->ln_ppl_ratio_err);
    cJSON_AddNumberToObject(j, "kld_mean", k->kld_mean);
    cJSON_AddNumberToObject(j, "kld_err", k->kld_err);
    cJSON_AddNumberToObject(j, "kld_max", k->kld_max);
    cJSON_AddNumberToObject(j, "top1", k->top1);
    cJSON_AddNumberToObject(j, "top1_err", k->top1_err);
    cJSON_AddNumberToObject(j, "rms_dp", k->rms_dp);
    cJSON_AddNumberToObject(j, "rms_dp_err", k->rms_dp_err);
    cJSON_AddNumberToObject(j, "seconds", res.seconds);
    gate(gt, "max-kld", k->kld_mean, o->max_kld, 1);
    gate(gt, "min-top1", 100 * k->top1, o->min_top1, 0);
    gate(gt, "max-ppl-ratio", k->ppl_ratio, o->max_ppl_ratio, 1);
    *ppl_out = k->ppl_test;
    return 0;
}

/* --json FILE against every input (model, texts, the reference directory's
 * files), before anything is read: 0 ok, 2 refused. */
static int plan_json(const options *o, bn_outset **outs)
{
    bn_error err;
    const char *inputs[4] = {o->model, o->ppl_file, o->data_file, o->ref_dir};
    const char *json = o->json_path && strcmp(o->json_path, "-") != 0 ? o->json_path : NULL;
    if (bn_outset_plan(outs, inputs, 4, &json, 1, &err)) {
        fprintf(stderr, "bn-verify: %s\n", err.msg);
        return 2;
    }
    return 0;
}

static int write_json(const options *o, bn_outset *outs, cJSON *root)
{
    char *s = cJSON_Print(root);
    if (!s) {
        fprintf(stderr, "bn-verify: out of memory formatting JSON\n");
        return 1;
    }
    int rc = 0;
    if (!strcmp(o->json_path, "-")) {
        printf("%s\n", s);
    } else {
        bn_error err;
        bn_atomic_file *af;
        bn_status st = bn_atomic_open_in(outs, o->json_path, &af, &err);
        if (st) {
            fprintf(stderr, "bn-verify: %s\n", err.msg);
            rc = bn_status_exit_code(st);
        } else {
            fprintf(bn_atomic_stream(af), "%s\n", s);
            if (bn_atomic_commit(af, &err) || bn_outset_commit(outs, &err)) {
                fprintf(stderr, "bn-verify: %s\n", err.msg);
                rc = 1;
            }
        }
    }
    free(s);
    return rc;
}

/* Every file named on the command line is there before any check runs, so a
 * typo is the first thing reported, not a context-length problem. */
static int inputs_exist(const options *o)
{
    const char *files[][2] = {{"--perplexity", o->ppl_file}, {"--data", o->data_file}};
    for (size_t i = 0; i < 2; i++) {
        struct stat st;
        const char *f = files[i][1];
        if (!f)
            continue;
        if (stat(f, &st) != 0) {
            fprintf(stderr, "bn-verify: %s %s: %s\n", files[i][0], f, strerror(errno));
            return 2;
        }
        if (!S_ISREG(st.st_mode)) {
            fprintf(stderr, "bn-verify: %s %s: not a regular file (a text file is expected)\n",
                    files[i][0], f);
            return 2;
        }
    }
    struct stat st;
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

int main(int argc, char **argv)
{
    options o;
    int pr = parse_args(argc, argv, &o);
    if (pr)
        return pr > 0 ? 0 : 2;
    out_text = o.json_path && !strcmp(o.json_path, "-") ? stderr : stdout;
    bn_outset *outs = NULL;
    if (plan_json(&o, &outs)) {
        bn_outset_free(outs);
        return 2;
    }

    cJSON *root = bn_cli_json_doc("bn-verify", 1, o.model); /* docs/json.md */
    if (!root) {
        fprintf(stderr, "bn-verify: out of memory\n");
        return 3;
    }
    gates gt = {cJSON_CreateArray(), 0};
    int rc = inputs_exist(&o);

    if (rc == 0 && o.do_check)
        rc = section_check(&o, root);
    /* A file that fails --check is not run: the runtime would refuse it anyway. */
    if (rc == 0 && (o.do_kernels || o.ppl_file || o.ref_dir)) {
        bn_model_opts mo;
        bn_model_opts_default(&mo);
        mo.n_threads = o.n_threads;
        mo.kernel = o.kernel;
        mo.actq = o.actq;
        bn_model *m = NULL;
        bn_error err;
        if (bn_model_load(o.model, &mo, &m, &err) ||
            (o.ref_dir && bn_reference_check_model(o.ref_dir, m, o.model, &err))) {
            fprintf(stderr, "bn-verify: %s%s\n", o.ref_dir && m ? "--reference: " : "", err.msg);
            bn_model_free(m);
            rc = 2;
        } else {
            double ppl = NAN, ppl_ref = NAN;
            if (o.do_kernels)
                rc = worst(rc, section_kernels(&o, m, root));
            if (rc < 2 && o.ppl_file)
                rc = worst(rc, section_ppl(&o, m, root, &ppl));
            if (rc < 2 && o.ref_dir)
                rc = worst(rc, section_reference(&o, m, root, &gt, &ppl_ref));
            if (rc < 2)
                gate(&gt, "max-ppl", isnan(ppl) ? ppl_ref : ppl, o.max_ppl, 1);
            bn_model_free(m);
        }
    }
    cJSON_AddItemToObject(root, "gates", gt.arr);
    if (rc < 2 && gt.n_failed)
        rc = worst(rc, 1);
    cJSON_AddBoolToObject(root, "ok", rc == 0);
    cJSON_AddNumberToObject(root, "exit_code", rc);
    if (o.json_path)
        rc = worst(rc, write_json(&o, outs, root));
    bn_outset_free(outs);
    cJSON_Delete(root);
    free_tokens();
    return rc;
}
