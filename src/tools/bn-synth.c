/* bn-synth - write a complete GGUF model of a given shape with random ternary
 * (or float) weights, for benchmarks and tests. The model is the library's
 * (bn/synth.h); this file holds the options and the progress line. */
#include <stdio.h>

#include "bn/error.h"
#include "bn/synth.h"
#include "common/cli.h"
#include "common/opt.h"
#include "common/progress.h"

static const char *const PROJ_NAMES[] = {"i2_s", "tq2_0", "tq1_0", "f16", "bf16", "f32", NULL};
static const int PROJ_TYPES[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0,
                                 BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_F32};
static const char *const EMBD_NAMES[] = {"f16", "f32", "q8_0", "q6_k", "q4_k", NULL};
static const int EMBD_TYPES[] = {BN_TYPE_F16, BN_TYPE_F32, BN_TYPE_Q8_0, BN_TYPE_Q6_K, BN_TYPE_Q4_K};

static int preset_fn(const char *v, void *p, char *msg, size_t cap)
{
    bn_error e;
    if (bn_synth_preset(v, p, &e)) {
        snprintf(msg, cap, "%s", e.msg);
        return -1;
    }
    return 0;
}

static int arch_fn(const char *v, void *p, char *msg, size_t cap)
{
    if (bn_arch_from_name(v, p) == 0)
        return 0;
    snprintf(msg, cap, "'%s' is not one of %s", v, bn_arch_names());
    return -1;
}

static void on_tensor(void *user, int i, int n)
{
    bn_progress_count(user, (size_t)i, (size_t)n, "tensors", 0, NULL);
}

int main(int argc, char **argv)
{
    bn_synth_params p;
    bn_synth_params_default(&p);
    const char *out = NULL;
    int quiet = 0, proj = p.proj_type, embd = p.embd_type;
    long seed = (long)p.seed;
    const bn_opt opts[] = {
        BN_O_STR("-o", "--output", &out, "PATH", "output file (written atomically)"),
        BN_O_FUNC(NULL, "--preset", &p, preset_fn, "NAME",
                  "2b (BitNet-b1.58-2B shapes: 2560/6912, 30 layers, 20/5\n"
                  "heads, 128256 vocab) or tiny (256/512, 2 layers, 4/2\n"
                  "heads, 512 vocab; the default)"),
        BN_O_FUNC(NULL, "--arch", &p.arch, arch_fn, "NAME",
                  "bitnet-b1.58 (default), bitnet, llama or falcon3\n"
                  "(written as llama, with output.weight)"),
        BN_O_INT(NULL, "--embd", &p.n_embd, 1, 1 << 16, "N", "embedding width"),
        BN_O_INT(NULL, "--ff", &p.n_ff, 1, 1 << 18, "N", "feed-forward width"),
        BN_O_INT(NULL, "--layers", &p.n_layer, 1, 1024, "N", "blocks"),
        BN_O_INT(NULL, "--heads", &p.n_head, 1, 1024, "N", "attention heads"),
        BN_O_INT(NULL, "--heads-kv", &p.n_head_kv, 1, 1024, "N", "key/value heads"),
        BN_O_INT(NULL, "--vocab", &p.n_vocab, 3 + 256, 1 << 22, "N", "vocabulary size"),
        BN_O_INT(NULL, "--ctx", &p.n_ctx, 1, 1 << 24, "N", "context_length"),
        BN_O_ENUM(NULL, "--type", &proj, PROJ_NAMES, PROJ_TYPES, "projection type (default i2_s)"),
        BN_O_ENUM(NULL, "--embd-type", &embd, EMBD_NAMES, EMBD_TYPES,
                  "token embedding / output type (default f16)"),
        BN_O_FLAG(NULL, "--untied", &p.untied, "write a separate output.weight"),
        BN_O_FLAG(NULL, "--no-vocab", &p.no_vocab, "write no tokenizer (a model driven by token ids only)"),
        BN_O_LONG("-s", "--seed", &seed, 0, 0x7fffffffL, "N", "random seed (default 1)"),
        BN_O_INT("-t", "--threads", &p.n_threads, 0, 256, "N", "packing threads (default: all cores)"),
        BN_O_FLAG("-q", "--quiet", &quiet, "no progress on stderr"),
    };
    const bn_opt_spec spec = {"bn-synth", "usage: bn-synth -o OUT.gguf [options]\n"
                              "Write a GGUF model with random ternary weights (for benchmarks and tests).\n\n",
                              opts, BN_OPT_N(opts), {NULL}, 0, 0, NULL};
    int rc = bn_opt_parse(&spec, argc, argv);
    if (rc >= 0)
        return rc;
    if (!out)
        return bn_opt_fail(&spec, "no output file (-o PATH)");
    p.proj_type = (bn_type)proj;
    p.embd_type = (bn_type)embd;
    p.seed = (uint64_t)seed;
    bn_error err;
    bn_error_clear(&err);
    if (bn_synth_check(&p, &err))
        return bn_opt_fail(&spec, "%s", err.msg);
    bn_cli_install_signal_cleanup();
    bn_progress pr;
    bn_progress_init(&pr, "bn-synth", quiet);
    bn_status st = bn_synth_write(out, &p, on_tensor, &pr, &err);
    bn_progress_done(&pr);
    if (st) {
        fprintf(stderr, "bn-synth: %s\n", err.msg); /* library messages name the file */
        return bn_status_exit_code(st);
    }
    return 0;
}
