/* bn-run - generate text with a BitNet / Llama GGUF model: one prompt, an
 * interactive chat, a llama-bench style benchmark, or a logits dump.
 * Generation and chat templates are the library's (generate.h, chat.h), the
 * prompt and chat front end tools/common/run_gen.c; this file holds the
 * options, line editing and the choice of what to run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "bn/error.h"
#include "bn/kernels.h"
#include "bn/model.h"
#include "bn/threadpool.h"
#include "tools/common/opt.h"
#include "tools/common/run_bench.h"
#include "tools/common/run_profile.h"
#include "tools/common/run_gen.h"

static const char *const KV_NAMES[] = {"f32", "f16", NULL};
static const int KV_VALUES[] = {BN_KV_F32, BN_KV_F16};
static const char *const FMT_NAMES[] = {"md", "json", "csv", NULL};

/* -1 to run, else the exit code. */
static int parse_args(int argc, char **argv, bn_run_opts *o)
{
    long seed = (long)o->sp.seed;
    int kv = BN_KV_F32, fmt = -1;
    const bn_opt opts[] = {
        BN_O_MODEL(&o->model),
        BN_O_STR("-p", "--prompt", &o->prompt, "TEXT", "prompt text"),
        BN_O_STR("-f", "--file", &o->prompt_file, "PATH", "read the prompt from a file"),
        BN_O_STR(NULL, "--ids", &o->ids, "LIST", "comma-separated token ids instead of a prompt"),
        BN_O_INT("-n", "--n-predict", &o->n_predict, 0, 1 << 24, "N",
                 "tokens to generate (default 128, in --chat until end of\n"
                 "turn; 0: only evaluate)"),
        BN_O_FLOAT(NULL, "--temp", &o->sp.temp, 0.0, 1e6, "T", "temperature (default 0.8; 0 = greedy)"),
        BN_O_INT(NULL, "--top-k", &o->sp.top_k, 0, 1 << 24, "N", "(default 40; 0 = off)"),
        BN_O_FLOAT(NULL, "--top-p", &o->sp.top_p, 0.0, 1.0, "P", "(default 0.95; 1 = off)"),
        BN_O_FLOAT(NULL, "--min-p", &o->sp.min_p, 0.0, 1.0, "P", "(default 0.05; 0 = off)"),
        BN_O_FLOAT(NULL, "--repeat-penalty", &o->sp.repeat_penalty, 1e-3, 1e3, "R",
                   "(default 1.0 = off), over --repeat-last-n tokens"),
        BN_O_INT(NULL, "--repeat-last-n", &o->sp.repeat_last_n, 0, 1 << 20, "N", "(default 64)"),
        BN_O_FLOAT(NULL, "--frequency-penalty", &o->sp.freq_penalty, -2.0, 2.0, "F", "(default 0 = off)"),
        BN_O_FLOAT(NULL, "--presence-penalty", &o->sp.presence_penalty, -2.0, 2.0, "F", "(default 0 = off)"),
        BN_O_FLAG(NULL, "--ignore-eos", &o->ignore_eos, "do not stop at the end-of-text / end-of-turn tokens"),
        BN_O_LONG("-s", "--seed", &seed, 0, 0x7fffffffL, "N", "sampling seed (default 0x5eed)"),
        {.s = "-c", .l = "--ctx-size", .alias = "--ctx", .kind = BN_OPT_INT, .p = &o->n_ctx, .lo = 1,
         .hi = 1 << 24, .arg = "N",
         .help = "context length (default: prompt + n, at most the model's;\n"
                 "--chat: the model's, at most 4096)"},
        BN_O_ENUM(NULL, "--kv", &kv, KV_NAMES, KV_VALUES, "KV cache type (default f32)"),
        BN_O_FLAG(NULL, "--chat", &o->chat, "interactive chat using the model's chat template"),
        BN_O_FUNC(NULL, "--chat-template", &o->tpl, bn_opt_chat_template, "NAME",
                  "bitnet, llama3, llama2, chatml, phi3, falcon3, zephyr or\n"
                  "gemma (default: from the model's tokenizer.chat_template)"),
        BN_O_STR(NULL, "--system", &o->system, "TEXT", "system message for --chat"),
        BN_O_FLAG("-v", "--verbose", &o->verbose, "--chat: a speed line after every reply"),
        BN_O_FLAG(NULL, "--bench", &o->bench,
                  "benchmark: pp512 and tg128 tokens/s for every kernel\n(or the one given by --kernel)"),
        BN_O_INT(NULL, "--bench-pp", &o->bench_pp, 1, 1 << 16, "N", "prompt tokens (default 512, cut to the context)"),
        BN_O_INT(NULL, "--bench-tg", &o->bench_tg, 1, 1 << 16, "N", "generated tokens (default 128, cut to the context)"),
        BN_O_INT(NULL, "--bench-reps", &o->bench_reps, 1, 100, "N", "repetitions (default 1)"),
        BN_O_INT(NULL, "--bench-depth", &o->bench_depth, 0, 1 << 24, "N",
                 "start every test after N cached positions (llama-bench -d)"),
        BN_O_FLAG(NULL, "--profile", &o->profile,
                  "time each operation of a prefill batch (--bench-pp, default\n"
                  "128) and of decode steps (--bench-tg, default 32)"),
        {.s = "-o", .l = "--output-format", .alias = "--output", .kind = BN_OPT_ENUM, .p = &fmt,
         .choices = FMT_NAMES, .help = "--bench output (default md; llama-bench's fields)"},
        BN_O_INT(NULL, "--logits", &o->logits_n, 1, 1 << 24, "N",
                 "print the logits of the last N prompt positions and exit"),
        BN_O_FUNC(NULL, "--kernel", &o->mopts.kernel, bn_opt_kernel, "NAME",
                  "ternary kernel (default: $BN_KERNEL or the fastest)"),
        BN_O_FUNC(NULL, "--act", &o->mopts.actq, bn_opt_actq, "token|q8_k",
                  "activation quantization of ternary projections: per\n"
                  "token as BitNet and bitnet.cpp (default), or llama.cpp's\n"
                  "Q8_K per 256-block (TQ1_0/TQ2_0 models only)"),
        BN_O_FLAG(NULL, "--no-repack", &o->mopts.tq1_file_layout,
                  "run TQ1_0 projections from the file's bytes, not repacked\n"
                  "as TQ2_0 at load (the same results; slower, 54/66 the memory)"),
        BN_O_INT("-t", "--threads", &o->mopts.n_threads, 1, BN_POOL_MAX_THREADS, "N",
                 "threads (default: all cores)"),
        BN_O_FLAG("-q", "--quiet", &o->quiet, "no speed line, no banner"),
    };
    const bn_opt_spec spec = {"bn-run", "usage: bn-run MODEL.gguf [options]\n"
                              "Run a BitNet b1.58 / Llama GGUF model.\n\n",
                              opts, BN_OPT_N(opts), {&o->model}, 1, 1,
                              "In --chat: /reset, /system TEXT, /help; Ctrl-C stops a reply, Ctrl-D or Ctrl-C at\n"
                              "the prompt quits.\n"};
    int rc = bn_opt_parse(&spec, argc, argv);
    if (rc >= 0)
        return rc;
    o->sp.seed = (uint64_t)seed;
    o->kv = (bn_kv_type)kv;
    o->bench_fmt = fmt >= 0 ? FMT_NAMES[fmt] : NULL;
    if (!o->model)
        return bn_opt_fail(&spec, "no model given (usage: bn-run MODEL.gguf [options])");
    int sources = !!o->prompt + !!o->prompt_file + !!o->ids;
    if (sources > 1)
        return bn_opt_fail(&spec, "give only one of -p, -f and --ids");
    if (!o->chat && !o->bench && !o->profile && sources == 0)
        return bn_opt_fail(&spec, "no prompt: use -p TEXT, -f FILE, --ids LIST, --chat or --bench");
    if (o->bench_fmt && !o->bench)
        return bn_opt_fail(&spec, "-o %s is an output format of --bench", o->bench_fmt);
    if (o->chat + o->bench + o->profile + (o->logits_n > 0) > 1)
        return bn_opt_fail(&spec, "--chat, --bench, --profile and --logits exclude each other");
    return -1;
}

/* One line of input without its newline; NULL at the end (Ctrl-D) or on Ctrl-C. */
static char *read_line(int tty)
{
    if (tty) {
        if (bn_run_interrupted)
            return NULL; /* Ctrl-C between the reply's end and the prompt */
        char *l = readline("> ");
        if (!l || bn_run_interrupted) {
            free(l);
            return NULL;
        }
        if (*l)
            add_history(l);
        return l;
    }
    char *l = NULL;
    size_t cap = 0;
    ssize_t n = getline(&l, &cap, stdin);
    if (n < 0) {
        free(l);
        return NULL;
    }
    while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
        l[--n] = 0;
    return l;
}

static bn_status run_bench(const bn_run_opts *o, bn_model *m, bn_error *err)
{
    bn_bench_opts b = {o->model, o->bench_pp, o->bench_tg, o->bench_reps, o->bench_depth,
                       o->n_ctx, o->kv,
                       !((o->mopts.kernel && *o->mopts.kernel) || getenv("BN_KERNEL")),
                       o->bench_fmt};
    return bn_bench_run(&b, m, stdout, err);
}

int main(int argc, char **argv)
{
    bn_run_opts o = {.n_predict = -1, .bench_reps = 1};
    bn_model_opts_default(&o.mopts);
    bn_sampler_params_default(&o.sp);
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.n_predict < 0 && !o.chat)
        o.n_predict = 128;
    bn_error err;
    bn_error_clear(&err);
    bn_model *m = NULL;
    bn_status st = bn_model_load(o.model, &o.mopts, &m, &err);
    if (!st) {
        if (o.bench)
            st = run_bench(&o, m, &err);
        else if (o.profile)
            st = bn_profile_run(&(bn_profile_opts){o.bench_pp, o.bench_tg, o.n_ctx, o.kv, &o.sp},
                                m, stdout, &err);
        else if (o.chat)
            st = bn_run_chat(&o, m, read_line, &err);
        else
            st = bn_run_prompt(&o, m, &err);
        /* errors of generation name the model (e.g. non-finite logits) */
        if (st && !strncmp(err.msg, "generate:", 9))
            bn_error_prefix(&err, "%s", o.model);
    }
    bn_model_free(m);
    if (st) {
        fflush(stdout);
        fprintf(stderr, "bn-run: %s\n", err.msg);
        return bn_status_exit_code(st);
    }
    return 0;
}
