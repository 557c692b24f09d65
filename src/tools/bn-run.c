/* bn-run - generate text with a BitNet / Llama GGUF model: one prompt, an
 * interactive chat, a llama-bench style benchmark, or a logits dump.
 * Generation and chat templates are the library's (generate.h, chat.h); this
 * file parses options, edits lines and prints. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "bn/chat.h"
#include "bn/error.h"
#include "bn/generate.h"
#include "bn/kernels.h"
#include "bn/model.h"
#include "bn/sampler.h"
#include "bn/tokenizer.h"
#include "bn/util.h"
#include "tools/common/cli.h"
#include "tools/common/run_bench.h"
#include "tools/common/run_profile.h"

typedef struct {
    const char *model;
    const char *prompt;
    const char *prompt_file;
    const char *ids;          /* "1,2,3": token ids instead of a prompt */
    const char *system;       /* chat system message */
    int n_predict;           /* -1: unlimited (chat default) */
    int n_ctx;
    int logits_n;             /* --logits N: print the last N positions' logits */
    int chat;
    const char *tpl;          /* --chat-template NAME, NULL: from the model */
    int bench, bench_pp, bench_tg, bench_reps; /* pp/tg 0: 512/128 cut to the context */
    int bench_depth;          /* --bench-depth N: KV positions filled before each test */
    const char *bench_fmt;    /* -o md|json|csv */
    int profile;              /* --profile: per-op times (run_profile.c), sizes of --bench-pp/tg */
    int quiet, verbose, ignore_eos;
    bn_model_opts mopts;
    bn_kv_type kv;
    bn_sampler_params sp;
} run_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bn-run MODEL.gguf [options]\n"
            "Run a BitNet b1.58 / Llama GGUF model.\n\n"
            "  -m, --model PATH       the model (or as the first argument)\n"
            "  -p, --prompt TEXT      prompt text\n"
            "  -f, --file PATH        read the prompt from a file\n"
            "  --ids LIST             comma-separated token ids instead of a prompt\n"
            "  -n, --n-predict N      tokens to generate (default 128, in --chat until end of turn;\n"
            "                         0: only evaluate)\n"
            "  --temp T               temperature (default 0.8; 0 = greedy)\n"
            "  --top-k N              (default 40; 0 = off)\n"
            "  --top-p P              (default 0.95; 1 = off)\n"
            "  --min-p P              (default 0.05; 0 = off)\n"
            "  --repeat-penalty R     (default 1.0 = off), over --repeat-last-n N (default 64)\n"
            "  --frequency-penalty F, --presence-penalty F   (default 0 = off; -2..2)\n"
            "  --ignore-eos           do not stop at the end-of-text / end-of-turn tokens\n"
            "  -s, --seed N           sampling seed (default 0x5eed)\n"
            "  -c, --ctx-size N       context length (default: prompt + n, at most the model's;\n"
            "                         --chat: the model's, at most 4096)\n"
            "  --kv f32|f16           KV cache type (default f32)\n"
            "  --chat                 interactive chat using the model's chat template\n"
            "  --chat-template NAME   bitnet, llama3, llama2, chatml, phi3, falcon3, zephyr or\n"
            "                         gemma (default: from the model's tokenizer.chat_template)\n"
            "  --system TEXT          system message for --chat\n"
            "  -v, --verbose          --chat: a speed line after every reply\n"
            "  --bench                benchmark: pp512 and tg128 tokens/s for every kernel\n"
            "                         (or the one given by --kernel)\n"
            "  --bench-pp N --bench-tg N --bench-reps N   benchmark sizes (512, 128, 1;\n"
            "                         pp and tg cut to the context by default)\n"
            "  --bench-depth N        start every test after N cached positions (llama-bench -d)\n"
            "  -o, --output md|json|csv   --bench output (default md; llama-bench's fields)\n"
            "  --profile              time each operation of a prefill batch (--bench-pp, default\n"
            "                         128) and of decode steps (--bench-tg, default 32)\n"
            "  --logits N             print the logits of the last N prompt positions and exit\n"
            "  --kernel NAME          ternary kernel (default: $BN_KERNEL or the fastest)\n"
            "  --act token|q8_k       activation quantization of ternary projections: per\n"
            "                         token as BitNet and bitnet.cpp (default), or llama.cpp's\n"
            "                         Q8_K per 256-block (TQ1_0/TQ2_0 models only)\n"
            "  -t, --threads N        threads (default: all cores)\n"
            "  -q, --quiet            no speed line, no banner\n"
            "  -h, --help, --version\n"
            "In --chat: /reset, /system TEXT, /help; Ctrl-C stops a reply, Ctrl-D or Ctrl-C at\n"
            "the prompt quits.\n"
            "Exit status: 0 success, 2 bad usage or input, 1 system failure.\n");
}

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "bn-run: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return -1;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bn-run: %s '%s' is not an integer in [%ld, %ld]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    long v;
    if (parse_long(opt, s, lo, hi, &v))
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *opt, const char *s, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bn-run: %s '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -1 on a usage error. */
static int parse_args(int argc, char **argv, run_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            bn_cli_print_version("bn-run");
            return 1;
        }
        if (!strcmp(a, "--chat")) {
            o->chat = 1;
            continue;
        }
        if (!strcmp(a, "--bench")) {
            o->bench = 1;
            continue;
        }
        if (!strcmp(a, "--profile")) {
            o->profile = 1;
            continue;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
            continue;
        }
        if (!strcmp(a, "--ignore-eos")) {
            o->ignore_eos = 1;
            continue;
        }
        if (a[0] != '-' || !a[1]) {
            if (o->model)
                return bad("unexpected argument '%s' (the model is '%s')", a, o->model);
            o->model = a;
            continue;
        }
        if (i + 1 >= argc)
            return bad("option '%s' %s (see --help)", a, "needs a value or is unknown");
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (o->model)
                rc = bad("two models given ('%s' and '%s')", o->model, v);
            o->model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
            o->prompt = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file"))
            o->prompt_file = v;
        else if (!strcmp(a, "--ids"))
            o->ids = v;
        else if (!strcmp(a, "--system"))
            o->system = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
            rc = parse_int(a, v, 0, 1 << 24, &o->n_predict);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx") || !strcmp(a, "--ctx-size"))
            rc = parse_int(a, v, 1, 1 << 24, &o->n_ctx);
        else if (!strcmp(a, "--logits"))
            rc = parse_int(a, v, 1, 1 << 24, &o->logits_n);
        else if (!strcmp(a, "--temp"))
            rc = parse_float(a, v, 0.0f, 1e6f, &o->sp.temp);
        else if (!strcmp(a, "--top-k"))
            rc = parse_int(a, v, 0, 1 << 24, &o->sp.top_k);
        else if (!strcmp(a, "--top-p"))
            rc = parse_float(a, v, 0.0f, 1.0f, &o->sp.top_p);
        else if (!strcmp(a, "--min-p"))
            rc = parse_float(a, v, 0.0f, 1.0f, &o->sp.min_p);
        else if (!strcmp(a, "--repeat-penalty"))
            rc = parse_float(a, v, 1e-3f, 1e3f, &o->sp.repeat_penalty);
        else if (!strcmp(a, "--frequency-penalty"))
            rc = parse_float(a, v, -2.0f, 2.0f, &o->sp.freq_penalty);
        else if (!strcmp(a, "--presence-penalty"))
            rc = parse_float(a, v, -2.0f, 2.0f, &o->sp.presence_penalty);
        else if (!strcmp(a, "--repeat-last-n"))
            rc = parse_int(a, v, 0, 1 << 20, &o->sp.repeat_last_n);
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            long s;
            rc = parse_long(a, v, 0, 0x7fffffffL, &s);
            o->sp.seed = (uint64_t)(rc ? 0 : s);
        } else if (!strcmp(a, "--bench-pp"))
            rc = parse_int(a, v, 1, 1 << 16, &o->bench_pp);
        else if (!strcmp(a, "--bench-tg"))
            rc = parse_int(a, v, 1, 1 << 16, &o->bench_tg);
        else if (!strcmp(a, "--bench-reps"))
            rc = parse_int(a, v, 1, 100, &o->bench_reps);
        else if (!strcmp(a, "--bench-depth"))
            rc = parse_int(a, v, 0, 1 << 24, &o->bench_depth);
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            o->bench_fmt = v;
            if (strcmp(v, "md") != 0 && strcmp(v, "json") != 0 && strcmp(v, "csv") != 0)
                rc = bad("-o '%s' is not md, json or csv%s", v, "");
        } else if (!strcmp(a, "--kernel"))
            o->mopts.kernel = v;
        else if (!strcmp(a, "--act")) {
            bn_error e;
            if (bn_actq_parse(v, &o->mopts.actq, &e))
                rc = bad("--act: %s%s", e.msg, "");
        }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            rc = parse_int(a, v, 1, BN_POOL_MAX_THREADS, &o->mopts.n_threads);
        else if (!strcmp(a, "--kv")) {
            if (!strcmp(v, "f32"))
                o->kv = BN_KV_F32;
            else if (!strcmp(v, "f16"))
                o->kv = BN_KV_F16;
            else
                rc = bad("--kv '%s' is not f32 or f16%s", v, "");
        } else if (!strcmp(a, "--chat-template")) {
            bn_error e;
            bn_chat_tpl t;
            if (bn_chat_tpl_parse(v, &t, &e))
                rc = bad("--chat-template: %s%s", e.msg, "");
            o->tpl = v;
        } else
            rc = bad("unknown option '%s'%s (see --help)", a, "");
        if (rc)
            return -1;
    }
    if (!o->model)
        return bad("no model given%s%s (usage: bn-run MODEL.gguf [options])", "", "");
    int sources = !!o->prompt + !!o->prompt_file + !!o->ids;
    if (sources > 1)
        return bad("give only one of -p, -f and --ids%s%s", "", "");
    if (!o->chat && !o->bench && !o->profile && sources == 0)
        return bad("no prompt: use -p TEXT, -f FILE, --ids LIST, --chat or --bench%s%s", "", "");
    if (o->bench_fmt && !o->bench)
        return bad("-o %s is an output format of --bench%s", o->bench_fmt, "");
    if (o->chat + o->bench + o->profile + (o->logits_n > 0) > 1)
        return bad("--chat, --bench, --profile and --logits exclude each other%s%s", "", "");
    return 0;
}

/* ---- prompt --------------------------------------------------------------------------- */

static bn_status parse_ids(const char *s, int n_vocab, bn_tokens *out, bn_error *err)
{
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= n_vocab)
            return bn_error_set(err, BN_EINVAL, "--ids: '%.20s' is not a token id in [0, %d)", p,
                                n_vocab);
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 64;
            int32_t *ids = realloc(out->ids, cap * sizeof *ids);
            if (!ids)
                return bn_error_set(err, BN_ENOMEM, "out of memory");
            out->ids = ids;
            out->cap = cap;
        }
        out->ids[out->n++] = (int32_t)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return bn_error_set(err, BN_EINVAL, "--ids: unexpected '%c' after id %ld", *p, v);
    }
    if (out->n == 0)
        return bn_error_set(err, BN_EINVAL, "--ids: no token ids");
    return BN_OK;
}

static bn_status prompt_tokens(const run_opts *o, const bn_model *m, bn_tokens *toks,
                               bn_error *err)
{
    if (o->ids)
        return parse_ids(o->ids, bn_model_hparams(m)->n_vocab, toks, err);
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    if (!tk)
        return bn_error_set(err, BN_EINVAL, "%s: the model has no tokenizer (use --ids)", o->model);
    char *text = NULL;
    size_t len;
    bn_status st;
    if (o->prompt_file) {
        if ((st = bn_read_file(o->prompt_file, (size_t)1 << 30, &text, &len, err)))
            return st;
    } else {
        text = strdup(o->prompt);
        len = strlen(o->prompt);
        if (!text)
            return bn_error_set(err, BN_ENOMEM, "out of memory");
    }
    st = bn_tokenizer_encode(tk, text, len, BN_TOK_ADD_SPECIAL | BN_TOK_PARSE_SPECIAL, toks, err);
    free(text);
    if (!st && toks->n == 0)
        st = bn_error_set(err, BN_EINVAL, "the prompt is empty");
    return st;
}

/* ---- generation ------------------------------------------------------------------------- */

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* Ctrl-C sets a flag instead of killing: a reply stops, the prompt quits. */
static void catch_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: a blocked read returns */
}

static int print_text(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return g_interrupted;
}

static void print_id(void *user, int32_t id)
{
    (void)user;
    printf(" %d", (int)id);
    fflush(stdout);
}

static void gen_params(const run_opts *o, const bn_model *m, bn_gen_params *gp)
{
    bn_gen_params_default(gp);
    gp->sampler = o->sp;
    gp->n_predict = o->n_predict;
    gp->ignore_eos = o->ignore_eos;
    if (!bn_model_tokenizer(m))
        gp->on_token = print_id;
}

static void print_speed(const bn_model *m, const bn_gen_result *r)
{
    fprintf(stderr,
            "bn-run: prompt %d tokens in %.2f s (%.2f t/s), generation %d tokens in %.2f s "
            "(%.2f t/s), kernel %s, %s activations, %d threads\n",
            r->n_prompt, r->prompt_s, r->prompt_s > 0 ? r->n_prompt / r->prompt_s : 0.0, r->n_gen,
            r->gen_s, r->gen_s > 0 ? r->n_gen / r->gen_s : 0.0, bn_model_kernel(m),
            bn_actq_name(bn_model_actq(m)), bn_model_n_threads(m));
}

/* -c beyond the training context is refused, not clamped or extended silently. */
static bn_status make_ctx(const run_opts *o, bn_model *m, int want, bn_ctx **c, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    if (o->n_ctx > hp->n_ctx_train)
        return bn_error_set(err, BN_EINVAL,
                            "-c %d is larger than the context the model was trained for (%s: "
                            "%s.context_length = %d)",
                            o->n_ctx, o->model, hp->arch_name, hp->n_ctx_train);
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = o->n_ctx ? o->n_ctx : (want < hp->n_ctx_train ? want : hp->n_ctx_train);
    cp.kv_type = o->kv;
    return bn_ctx_new(m, &cp, c, err);
}

static bn_status print_logits(const run_opts *o, bn_model *m, bn_ctx *c, const bn_tokens *toks,
                              bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    int n = (int)toks->n, k = o->logits_n < n ? o->logits_n : n;
    float *logits = malloc((size_t)n * (size_t)hp->n_vocab * sizeof *logits);
    if (!logits)
        return bn_error_set(err, BN_ENOMEM, "out of memory for %d x %d logits", n, hp->n_vocab);
    bn_status st = bn_ctx_eval(c, 0, toks->ids, n, 0, BN_LOGITS_ALL, logits, err);
    if (!st) {
        printf("# logits: %d positions x %d vocab\n", k, hp->n_vocab);
        for (int p = n - k; p < n; p++) {
            printf("%d %d", p, (int)toks->ids[p]);
            for (int v = 0; v < hp->n_vocab; v++)
                printf(" %.9g", logits[(size_t)p * hp->n_vocab + v]);
            printf("\n");
        }
    }
    free(logits);
    return st;
}

static bn_status run_prompt(const run_opts *o, bn_model *m, bn_error *err)
{
    bn_tokens toks = {0};
    bn_ctx *c = NULL;
    bn_status st = prompt_tokens(o, m, &toks, err);
    if (!st)
        st = make_ctx(o, m, (int)toks.n + o->n_predict, &c, err);
    if (!st && o->logits_n > 0)
        st = print_logits(o, m, c, &toks, err);
    else if (!st) {
        if (o->prompt && !o->quiet)
            fputs(o->prompt, stdout);
        bn_gen_params gp;
        gen_params(o, m, &gp);
        bn_gen_result r; /* Ctrl-C keeps its default here: it ends the process */
        st = bn_generate(c, 0, 0, toks.ids, (int)toks.n, &gp, print_text, NULL, &r, err);
        if (!st) {
            printf("\n");
            fflush(stdout);
            if (r.finish == BN_FINISH_CONTEXT)
                fprintf(stderr, "bn-run: context full: stopped after %d of %d tokens (the "
                        "context holds %d positions; -c, at most %d for this model)\n",
                        r.n_gen, o->n_predict, bn_ctx_params_get(c)->n_ctx,
                        bn_model_hparams(m)->n_ctx_train);
            if (!o->quiet)
                print_speed(m, &r);
        }
    }
    bn_ctx_free(c);
    bn_tokens_free(&toks);
    return st;
}

/* ---- chat --------------------------------------------------------------------------------- */

typedef struct {
    char *text;     /* (len) the reply so far */
    size_t len, cap;
    int32_t *ids;   /* (n) its tokens */
    int n, cap_ids;
    int oom;
} reply;

static int reply_text(void *user, const char *text, size_t len)
{
    reply *r = user;
    if (r->len + len > r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4096;
        while (cap < r->len + len)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) {
            r->oom = 1;
            return 1;
        }
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, text, len);
    r->len += len;
    return print_text(NULL, text, len);
}

static void reply_token(void *user, int32_t id)
{
    reply *r = user;
    if (r->n == r->cap_ids) {
        int cap = r->cap_ids ? 2 * r->cap_ids : 1024;
        int32_t *ids = realloc(r->ids, (size_t)cap * sizeof *ids);
        if (!ids) {
            r->oom = 1;
            return;
        }
        r->ids = ids;
        r->cap_ids = cap;
    }
    r->ids[r->n++] = id;
}

/* One line of input without its newline; NULL at the end (Ctrl-D) or on Ctrl-C. */
static char *read_line(int tty)
{
    if (tty) {
        if (g_interrupted)
            return NULL; /* Ctrl-C between the reply's end and the prompt */
        char *l = readline("> ");
        if (!l || g_interrupted) {
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

/* /reset, /system TEXT, /help. Returns 1 when line was a command. */
static int chat_command(const char *line, bn_chat_session *s, bn_status *st, bn_error *err)
{
    if (line[0] != '/')
        return 0;
    if (!strcmp(line, "/reset")) {
        bn_chat_session_reset(s);
        fprintf(stderr, "bn-run: conversation reset (the system prompt stays)\n");
    } else if (!strncmp(line, "/system", 7) && (line[7] == ' ' || !line[7])) {
        const char *t = line[7] ? line + 8 : "";
        *st = bn_chat_session_set_system(s, t, err);
        fprintf(stderr, "bn-run: %s; conversation reset\n",
                *t ? "system prompt set" : "system prompt removed");
    } else if (!strcmp(line, "/help")) {
        fprintf(stderr, "bn-run: /reset forgets the conversation, /system TEXT sets the system "
                        "prompt (and resets), /help; Ctrl-C stops a reply, Ctrl-D or Ctrl-C at "
                        "the prompt quits\n");
    } else {
        fprintf(stderr, "bn-run: unknown command '%s' (/help lists them)\n", line);
    }
    return 1;
}

static bn_status chat_template(const run_opts *o, const bn_model *m, bn_chat_tpl *t,
                               const char **how, bn_error *err)
{
    int from_model = 0;
    *how = "chosen with --chat-template";
    if (o->tpl)
        return bn_chat_tpl_parse(o->tpl, t, err);
    bn_status st = bn_chat_detect(m, t, &from_model, err);
    *how = from_model ? "from the model" : "the default: the model has no chat template";
    return st;
}

static bn_status run_chat(const run_opts *o, bn_model *m, bn_error *err)
{
    bn_chat_tpl tpl;
    const char *how;
    bn_ctx *c = NULL;
    bn_chat_session *s = NULL;
    bn_status st = chat_template(o, m, &tpl, &how, err);
    if (!st)
        st = bn_chat_session_new(m, tpl, &s, err);
    if (!st)
        st = bn_chat_session_set_system(s, o->system, err);
    if (!st)
        st = make_ctx(o, m, 4096, &c, err);
    if (st)
        goto out;
    int tty = isatty(0) && isatty(1), n_ctx = bn_ctx_params_get(c)->n_ctx;
    /* room kept for a reply when the conversation is shifted */
    int reserve = o->n_predict >= 0 ? o->n_predict + 1 : n_ctx / 4;
    catch_sigint();
    if (!o->quiet)
        fprintf(stderr, "bn-run: chatting with %s (template %s, %s; %d-token context). /help for "
                "commands; Ctrl-C stops a reply, Ctrl-D or Ctrl-C at the prompt quits.\n",
                o->model, bn_chat_tpl_name(tpl), how, n_ctx);
    bn_gen_params gp;
    gen_params(o, m, &gp);
    bn_gen_result total = {0};
    reply r = {0};
    char *line;
    for (int turn = 0; (line = read_line(tty)) != NULL; free(line)) {
        if (!line[0] || chat_command(line, s, &st, err)) {
            if (st)
                break;
            continue;
        }
        bn_chat_turn t;
        if ((st = bn_chat_session_user(s, line, n_ctx, reserve, &t, err)))
            break;
        if (t.n_dropped)
            fprintf(stderr, "bn-run: context full (%d positions): dropped the oldest %d "
                    "message(s), kept the system prompt and the latest turns\n", n_ctx,
                    t.n_dropped);
        r.len = 0;
        r.n = 0;
        gp.on_token = reply_token;
        gp.on_token_user = &r;
        gp.sampler.seed = o->sp.seed + (uint64_t)turn++; /* a fresh stream per turn */
        g_interrupted = 0;
        bn_gen_result res;
        st = bn_generate(c, 0, t.pos0, t.tokens, t.n, &gp, reply_text, &r, &res, err);
        g_interrupted = 0; /* a Ctrl-C that stopped the reply does not also quit */
        if (st)
            break;
        if (r.oom) {
            st = bn_error_set(err, BN_ENOMEM, "out of memory for a reply");
            break;
        }
        printf("\n");
        fflush(stdout);
        if (res.finish == BN_FINISH_CONTEXT)
            fprintf(stderr, "bn-run: context full (%d positions): the reply was cut; the next "
                    "turn drops the oldest turns\n", n_ctx);
        if ((st = bn_chat_session_reply(s, r.text ? r.text : "", r.len, r.ids, r.n, err)))
            break;
        if (o->verbose)
            print_speed(m, &res);
        total.n_prompt += res.n_prompt, total.n_gen += res.n_gen;
        total.prompt_s += res.prompt_s, total.gen_s += res.gen_s;
    }
    if (tty && !line && !st)
        fputc('\n', stdout); /* quit at the prompt: leave the shell a fresh line */
    free(line);
    free(r.text);
    free(r.ids);
    if (!st && !o->quiet && !o->verbose && total.n_prompt > 0)
        print_speed(m, &total);
out:
    bn_chat_session_free(s);
    bn_ctx_free(c);
    return st;
}

/* ---- bench (run_bench.c) ---------------------------------------------------------------------- */

static bn_status run_bench(const run_opts *o, bn_model *m, bn_error *err)
{
    bn_bench_opts b = {o->model, o->bench_pp, o->bench_tg, o->bench_reps, o->bench_depth,
                       o->n_ctx, o->kv,
                       !((o->mopts.kernel && *o->mopts.kernel) || getenv("BN_KERNEL")),
                       o->bench_fmt};
    return bn_bench_run(&b, m, stdout, err);
}

int main(int argc, char **argv)
{
    run_opts o = {.n_predict = -1, .bench_reps = 1};
    bn_model_opts_default(&o.mopts);
    bn_sampler_params_default(&o.sp);
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
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
            st = run_chat(&o, m, &err);
        else
            st = run_prompt(&o, m, &err);
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
