/*
 * bn-verify - check a converted BitNet GGUF: structure (--check), kernel
 * equivalence (--kernels), perplexity as llama-perplexity computes it
 * (--perplexity) and agreement with a float reference forward pass over the
 * source checkpoint (--reference), with CI gates. This main parses flags,
 * calls libbn (verify.h: the checks, the rules, the gates, and each result's
 * text and JSON) and prints; docs/ci.md documents the --json fields.
 *
 * Exit: 0 all requested checks and gates pass; 1 a check or gate failed;
 * 2 bad usage or input (unreadable file, malformed GGUF, -c too large, ...);
 * 3 an I/O or system failure (a write that failed, out of memory).
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
#include "common/opt.h"
#include "common/verify_run.h"



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

int main(int argc, char **argv)
{
    options o;
    int pr = parse_args(argc, argv, &o);
    if (pr)
        return pr > 0 ? 0 : 2;
    FILE *out_text = o.json_path && !strcmp(o.json_path, "-") ? stderr : stdout;
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
    int rc = verify_run(&o, out_text, root);
    cJSON_AddBoolToObject(root, "ok", rc == 0);
    cJSON_AddNumberToObject(root, "exit_code", rc);
    if (o.json_path) {
        int jrc = bn_cli_json_write("bn-verify", o.json_path, outs, verify_json_complete() ? root : NULL);
        rc = jrc > rc ? jrc : rc;
    }
    bn_outset_free(outs);
    cJSON_Delete(root);
    return rc;
}
