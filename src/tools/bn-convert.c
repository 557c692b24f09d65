/* bn-convert - a Hugging Face BitNet checkpoint directory to GGUF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/convert.h"
#include "bn/quant.h"
#include "common/cli.h"
#include "common/convert_progress.h"
#include "common/opt.h"

static int method_fn(const char *v, void *p, char *msg, size_t cap)
{
    bn_quant_method m;
    if (bn_quant_method_from_name(v, &m) != 0) {
        snprintf(msg, cap, "unknown method '%s' (absmean, absmax, mse)", v);
        return -1;
    }
    *(int *)p = (int)m;
    return 0;
}

static int report_format_fn(const char *v, void *p, char *msg, size_t cap)
{
    bn_report_format f;
    if (bn_report_format_from_name(v, &f) != 0) {
        snprintf(msg, cap, "unknown format '%s' (text, json, csv, html)", v);
        return -1;
    }
    *(const char **)p = v;
    return 0;
}

int main(int argc, char **argv)
{
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    int quiet = 0;
    const bn_opt opts[] = {
        BN_O_FUNC(NULL, "--type", &o.proj_type, bn_opt_type, "T",
                  "projections: i2_s (default, bitnet.cpp), tq2_0, tq1_0\n"
                  "(llama.cpp), f16, f32"),
        BN_O_FUNC(NULL, "--embd-type", &o.embd_type, bn_opt_type, "T",
                  "token_embd/output: f16 (default), f32, q8_0, q6_k, q4_k"),
        BN_O_FUNC(NULL, "--method", &o.method, method_fn, "M",
                  "ternarization of latent weights: absmean (default,\n"
                  "BitNet's rule), absmax, mse"),
        BN_O_FLAG(NULL, "--allow-fallback", &o.allow_fallback,
                  "write projections whose rows the type cannot hold as F16\n(reported)"),
        BN_O_FLAG(NULL, "--vocab-only", &o.vocab_only, "tokenizer and hyperparameters only"),
        BN_O_STR(NULL, "--name", &o.name, "NAME", "general.name (default: the directory name)"),
        BN_O_STR(NULL, "--arch", &o.arch, "NAME",
                 "architecture when config.json cannot tell (falcon3: a\n"
                 "LlamaForCausalLM config; default: from config.json)"),
        BN_O_STR(NULL, "--report", &o.report_path, "FILE",
                 "per-tensor ternarization report (.txt .json .csv .html)"),
        BN_O_FUNC(NULL, "--report-format", &o.report_format, report_format_fn, "F",
                  "text|json|csv|html (default: from FILE's extension)"),
        BN_O_INT("-t", "--threads", &o.n_threads, 1, 1024, "N", "packing threads (default: all cores)"),
        BN_O_FLAG("-q", "--quiet", &quiet, "no progress and no summary"),
    };
    const bn_opt_spec spec = {
        "bn-convert",
        "usage: bn-convert HF_DIR OUT.gguf [options]\n"
        "\n"
        "Converts a Hugging Face BitNet b1.58 checkpoint (safetensors or PyTorch .bin, single or\n"
        "sharded; latent F32/F16/BF16 or offline-packed uint8 weights) to GGUF, tokenizer included.\n"
        "\n",
        opts, BN_OPT_N(opts), {&o.in_dir, &o.out_path}, 2, 2, NULL};
    int rc = bn_opt_parse(&spec, argc, argv);
    if (rc >= 0)
        return rc;
    if (!o.in_dir || !o.out_path)
        return bn_opt_fail(&spec, "expected HF_DIR OUT.gguf (see --help)");
    if (o.n_threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        o.n_threads = nc > 0 ? (int)nc : 1;
    }
    char tool[64], cmd[2048];
    snprintf(tool, sizeof tool, "bn-convert %s", BN_VERSION);
    o.report_tool = tool;
    o.report_command = bn_cli_command_line(argc, argv, cmd, sizeof cmd);
    bn_convert_progress pc;
    bn_convert_progress_attach(&pc, &o, "bn-convert", quiet);
    bn_cli_install_signal_cleanup();

    bn_convert_result r;
    bn_error err;
    bn_error_clear(&err);
    bn_status st = bn_convert_run(&o, &r, &err);
    bn_progress_done(&pc.p);
    if (st) {
        fprintf(stderr, "bn-convert: %s\n", err.msg);
        return bn_status_exit_code(st);
    }
    if (!quiet) {
        fprintf(stderr, "bn-convert: wrote %s: %zu tensors (", o.out_path, r.n_tensors);
        int first = 1;
        for (int t = 0; t < 64; t++)
            if (r.n_by_type[t]) {
                fprintf(stderr, "%s%zu %s", first ? "" : ", ", r.n_by_type[t], bn_type_name((uint32_t)t));
                first = 0;
            }
        fprintf(stderr, "%s), %.1f MB in, %.1f MB out, %.2f s, peak memory %.0f MB",
                first ? "tokenizer only" : "", (double)r.bytes_in / 1e6, (double)r.bytes_out / 1e6,
                r.seconds, bn_cli_peak_rss_mb());
        if (r.n_already_ternary)
            fprintf(stderr, "; %zu projections were already ternary (kept exactly)", r.n_already_ternary);
        if (r.n_fallback)
            fprintf(stderr, "; %zu projections written as F16 (--allow-fallback)", r.n_fallback);
        fputc('\n', stderr);
    }
    return 0;
}
