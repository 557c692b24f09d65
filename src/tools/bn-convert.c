/* bn-convert - a Hugging Face BitNet checkpoint directory to GGUF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/convert.h"
#include "bn/quant.h"
#include "common/cli.h"
#include "common/convert_progress.h"

static void usage(FILE *f)
{
    fputs("usage: bn-convert HF_DIR OUT.gguf [options]\n"
          "\n"
          "Converts a Hugging Face BitNet b1.58 checkpoint (safetensors or PyTorch .bin, single or\n"
          "sharded; latent F32/F16/BF16 or offline-packed uint8 weights) to GGUF, tokenizer included.\n"
          "\n"
          "  --type T          projections: i2_s (default, bitnet.cpp), tq2_0, tq1_0 (llama.cpp), f16, f32\n"
          "  --embd-type T     token_embd/output: f16 (default), f32, q8_0, q6_k, q4_k\n"
          "  --method M        ternarization of latent weights: absmean (default, BitNet's rule), absmax, mse\n"
          "  --allow-fallback  write projections whose rows the type cannot hold as F16 (reported)\n"
          "  --vocab-only      tokenizer and hyperparameters only\n"
          "  --name NAME       general.name (default: the directory name)\n"
          "  --arch NAME       architecture when config.json cannot tell (falcon3: a\n"
          "                    LlamaForCausalLM config; default: from config.json)\n"
          "  --report FILE     per-tensor ternarization report (.txt .json .csv .html)\n"
          "  --report-format F text|json|csv|html (default: from FILE's extension)\n"
          "  -t, --threads N   packing threads (default: all cores)\n"
          "  -q, --quiet       no progress and no summary\n"
          "  -h, --help, --version\n"
          "\n"
          "Exit: 0 ok, 1 I/O failure, 2 bad input or usage.\n",
          f);
}

static int type_arg(const char *v, bn_type *t, const char *opt)
{
    if (bn_type_from_name(v, t) != 0) {
        fprintf(stderr, "bn-convert: %s: unknown type '%s'\n", opt, v);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    const char *pos[2];
    int n_pos = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG                                                                 \
    do {                                                                         \
        if (!v) {                                                                \
            fprintf(stderr, "bn-convert: %s needs a value (see --help)\n", a);    \
            return 2;                                                            \
        }                                                                        \
        i++;                                                                     \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            bn_cli_print_version("bn-convert");
            return 0;
        } else if (!strcmp(a, "--type")) {
            NEED_ARG;
            if (type_arg(v, &o.proj_type, a))
                return 2;
        } else if (!strcmp(a, "--embd-type")) {
            NEED_ARG;
            if (type_arg(v, &o.embd_type, a))
                return 2;
        } else if (!strcmp(a, "--method")) {
            NEED_ARG;
            bn_quant_method m;
            if (bn_quant_method_from_name(v, &m) != 0) {
                fprintf(stderr, "bn-convert: --method: unknown method '%s' (absmean, absmax, mse)\n", v);
                return 2;
            }
            o.method = (int)m;
        } else if (!strcmp(a, "--allow-fallback")) {
            o.allow_fallback = 1;
        } else if (!strcmp(a, "--vocab-only")) {
            o.vocab_only = 1;
        } else if (!strcmp(a, "--name")) {
            NEED_ARG;
            o.name = v;
        } else if (!strcmp(a, "--arch")) {
            NEED_ARG;
            o.arch = v;
        } else if (!strcmp(a, "--report")) {
            NEED_ARG;
            o.report_path = v;
        } else if (!strcmp(a, "--report-format")) {
            NEED_ARG;
            bn_report_format f;
            if (bn_report_format_from_name(v, &f) != 0) {
                fprintf(stderr, "bn-convert: --report-format: unknown format '%s' (text, json, csv, html)\n", v);
                return 2;
            }
            o.report_format = v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_ARG;
            long t;
            if (bn_cli_parse_int(v, 1, 1024, &t)) {
                fprintf(stderr, "bn-convert: %s: '%s' is not a thread count in 1..1024\n", a, v);
                return 2;
            }
            o.n_threads = (int)t;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "bn-convert: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "bn-convert: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
#undef NEED_ARG
    }
    if (n_pos != 2) {
        usage(stderr);
        return 2;
    }
    o.in_dir = pos[0];
    o.out_path = pos[1];
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
