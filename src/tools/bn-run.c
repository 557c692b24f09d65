/* bn-run - generate text with a BitNet / Llama GGUF model: one prompt, an
 * interactive chat, a llama-bench style benchmark, or a logits dump. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/error.h"
#include "bn/kernels.h"
#include "bn/model.h"
#include "bn/sampler.h"
#include "bn/tokenizer.h"
#include "bn/util.h"
#include "tools/common/cli.h"


typedef enum { TPL_AUTO, TPL_LLAMA3, TPL_BITNET } chat_tpl;

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
    chat_tpl tpl;
    int bench, bench_pp, bench_tg, bench_reps;
    int quiet;
    bn_model_opts mopts;
    bn_kv_type kv;
    bn_sampler_params sp;
} run_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bn-run MODEL.gguf [options]\n"
            "Run a BitNet b1.58 / Llama GGUF model.\n\n"
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
            "  --seed N               sampling seed (default 0x5eed)\n"
            "  -c, --ctx N            context length (default: prompt + n, at most the model's)\n"
            "  --kv f32|f16           KV cache type (default f32)\n"
            "  --chat                 interactive chat using the model's chat template\n"
            "  --chat-template NAME   llama3 or bitnet (default: from the model)\n"
            "  --system TEXT          system message for --chat\n"
            "  --bench                benchmark: pp512 and tg128 tokens/s for every kernel\n"
            "                         (or the one given by --kernel)\n"
            "  --bench-pp N --bench-tg N --bench-reps N   benchmark sizes (512, 128, 1)\n"
            "  --logits N             print the logits of the last N prompt positions and exit\n"
            "  --kernel NAME          ternary kernel (default: $BN_KERNEL or the fastest)\n"
            "  --act token|q8_k       activation quantization of ternary projections: per\n"
            "                         token as BitNet and bitnet.cpp (default), or llama.cpp's\n"
            "                         Q8_K per 256-block (TQ1_0/TQ2_0 models only)\n"
            "  -t, --threads N        threads (default: all cores)\n"
            "  -q, --quiet            no speed line\n"
            "  -h, --help, --version\n"
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
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
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
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
            o->prompt = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file"))
            o->prompt_file = v;
        else if (!strcmp(a, "--ids"))
            o->ids = v;
        else if (!strcmp(a, "--system"))
            o->system = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
            rc = parse_int(a, v, 0, 1 << 24, &o->n_predict);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx"))
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
        else if (!strcmp(a, "--repeat-last-n"))
            rc = parse_int(a, v, 0, 1 << 20, &o->sp.repeat_last_n);
        else if (!strcmp(a, "--seed")) {
            long s;
            rc = parse_long(a, v, 0, 0x7fffffffL, &s);
            o->sp.seed = (uint64_t)(rc ? 0 : s);
        } else if (!strcmp(a, "--bench-pp"))
            rc = parse_int(a, v, 1, 1 << 16, &o->bench_pp);
        else if (!strcmp(a, "--bench-tg"))
            rc = parse_int(a, v, 1, 1 << 16, &o->bench_tg);
        else if (!strcmp(a, "--bench-reps"))
            rc = parse_int(a, v, 1, 100, &o->bench_reps);
        else if (!strcmp(a, "--kernel"))
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
            if (!strcmp(v, "llama3"))
                o->tpl = TPL_LLAMA3;
            else if (!strcmp(v, "bitnet"))
                o->tpl = TPL_BITNET;
            else
                rc = bad("--chat-template '%s' is not llama3 or bitnet%s", v, "");
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
    if (!o->chat && !o->bench && sources == 0)
        return bad("no prompt: use -p TEXT, -f FILE, --ids LIST, --chat or --bench%s%s", "", "");
    if (o->chat + o->bench + (o->logits_n > 0) > 1)
        return bad("--chat, --bench and --logits exclude each other%s%s", "", "");
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

/* Stop tokens: EOS, and the end-of-turn tokens of chat vocabularies. */
typedef struct {
    int32_t ids[4];
    int n;
} stop_set;

static void stop_init(stop_set *s, const bn_tokenizer *tk)
{
    s->n = 0;
    if (!tk)
        return;
    if (bn_tokenizer_eos(tk) >= 0)
        s->ids[s->n++] = bn_tokenizer_eos(tk);
    static const char *eot[] = {"<|eot_id|>", "<|end_of_text|>", "<|im_end|>"};
    for (size_t i = 0; i < sizeof eot / sizeof eot[0]; i++) {
        int32_t id = bn_tokenizer_find(tk, eot[i], strlen(eot[i]));
        if (id >= 0 && id != s->ids[0] && s->n < 4)
            s->ids[s->n++] = id;
    }
}

static int is_stop(const stop_set *s, int32_t id)
{
    for (int i = 0; i < s->n; i++)
        if (s->ids[i] == id)
            return 1;
    return 0;
}

static void emit(const bn_tokenizer *tk, bn_tok_stream *ts, int32_t id)
{
    char piece[256], out[3 * (256 + 4)];
    if (!tk) {
        printf(" %d", (int)id);
        fflush(stdout);
        return;
    }
    long n = bn_tokenizer_piece(tk, id, 0, piece, sizeof piece);
    if (n < 0)
        return;
    if ((size_t)n > sizeof piece)
        n = sizeof piece; /* longer tokens do not exist in real vocabularies */
    size_t w = bn_tok_stream_feed(ts, piece, (size_t)n, out);
    fwrite(out, 1, w, stdout);
    fflush(stdout);
}

typedef struct {
    double prompt_s, gen_s;
    int prompt_n, gen_n;
} timing;

/* Evaluate toks at pos (updated) and generate until n tokens, a stop token or
 * the end of the context. Generated tokens, including the stop token, go into
 * the cache. */
static bn_status generate(bn_ctx *c, const bn_model *m, bn_sampler *smp, const stop_set *stops,
                          const int32_t *toks, int n_toks, int n_gen, int *pos, float *logits,
                          timing *tm, bn_error *err)
{
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    int n_ctx = bn_ctx_params_get(c)->n_ctx;
    if (*pos + n_toks > n_ctx)
        return bn_error_set(err, BN_ELIMIT, "the prompt (%d tokens at position %d) does not fit "
                            "the context of %d", n_toks, *pos, n_ctx);
    double t0 = bn_now_seconds();
    bn_status st = bn_ctx_eval(c, 0, toks, n_toks, *pos, BN_LOGITS_LAST, logits, err);
    if (st)
        return st;
    tm->prompt_s += bn_now_seconds() - t0;
    tm->prompt_n += n_toks;
    *pos += n_toks;
    for (int i = 0; i < n_toks; i++)
        bn_sampler_accept(smp, toks[i]);
    bn_tok_stream ts;
    bn_tok_stream_init(&ts);
    t0 = bn_now_seconds();
    for (int g = 0; g < n_gen && *pos < n_ctx; g++) {
        int32_t id = bn_sampler_sample(smp, logits);
        bn_sampler_accept(smp, id);
        int stop = is_stop(stops, id);
        if (!stop)
            emit(tk, &ts, id);
        if ((st = bn_ctx_eval(c, 0, &id, 1, *pos, BN_LOGITS_LAST, logits, err)))
            return st;
        (*pos)++;
        tm->gen_n++;
        if (stop)
            break;
    }
    char tail[4] = {0};
    fwrite(tail, 1, bn_tok_stream_flush(&ts, tail), stdout);
    tm->gen_s += bn_now_seconds() - t0;
    return BN_OK;
}

static void print_timing(const run_opts *o, const bn_model *m, const timing *tm)
{
    if (o->quiet)
        return;
    fprintf(stderr,
            "\nbn-run: prompt %d tokens in %.2f s (%.2f t/s), generation %d tokens in %.2f s "
            "(%.2f t/s), kernel %s, %s activations, %d threads\n",
            tm->prompt_n, tm->prompt_s, tm->prompt_s > 0 ? tm->prompt_n / tm->prompt_s : 0.0,
            tm->gen_n, tm->gen_s, tm->gen_s > 0 ? tm->gen_n / tm->gen_s : 0.0,
            bn_model_kernel(m), bn_actq_name(bn_model_actq(m)), bn_model_n_threads(m));
}

static bn_status make_ctx(const run_opts *o, bn_model *m, int want, bn_ctx **c, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = o->n_ctx ? o->n_ctx : (want < hp->n_ctx_train ? want : hp->n_ctx_train);
    cp.kv_type = o->kv;
    return bn_ctx_new(m, &cp, c, err);
}

static bn_status run_prompt(const run_opts *o, bn_model *m, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    bn_tokens toks = {0};
    bn_ctx *c = NULL;
    bn_sampler *smp = NULL;
    float *logits = NULL;
    bn_status st = prompt_tokens(o, m, &toks, err);
    if (st)
        goto out;
    if ((st = make_ctx(o, m, (int)toks.n + o->n_predict, &c, err)))
        goto out;
    if (o->logits_n > 0) {
        int n = (int)toks.n, k = o->logits_n < n ? o->logits_n : n;
        logits = malloc((size_t)n * (size_t)hp->n_vocab * sizeof *logits);
        if (!logits) {
            st = bn_error_set(err, BN_ENOMEM, "out of memory for %d x %d logits", n, hp->n_vocab);
            goto out;
        }
        if ((st = bn_ctx_eval(c, 0, toks.ids, n, 0, BN_LOGITS_ALL, logits, err)))
            goto out;
        printf("# logits: %d positions x %d vocab\n", k, hp->n_vocab);
        for (int p = n - k; p < n; p++) {
            printf("%d %d", p, (int)toks.ids[p]);
            for (int v = 0; v < hp->n_vocab; v++)
                printf(" %.9g", logits[(size_t)p * hp->n_vocab + v]);
            printf("\n");
        }
        goto out;
    }
    logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    if (!logits) {
        st = bn_error_set(err, BN_ENOMEM, "out of memory");
        goto out;
    }
    if ((st = bn_sampler_new(&o->sp, hp->n_vocab, &smp, err)))
        goto out;
    stop_set stops;
    stop_init(&stops, bn_model_tokenizer(m));
    timing tm = {0};
    int pos = 0;
    if (o->prompt && !o->quiet)
        fputs(o->prompt, stdout);
    st = generate(c, m, smp, &stops, toks.ids, (int)toks.n, o->n_predict, &pos, logits, &tm, err);
    if (!st) {
        printf("\n");
        print_timing(o, m, &tm);
    }
out:
    free(logits);
    bn_sampler_free(smp);
    bn_ctx_free(c);
    bn_tokens_free(&toks);
    return st;
}

/* ---- chat --------------------------------------------------------------------------------- */

static chat_tpl detect_template(const bn_model *m)
{
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    bn_str s;
    if (bn_gguf_get_str(bn_model_gguf(m), "tokenizer.chat_template", &s, NULL) == BN_OK) {
        for (uint64_t i = 0; i + 7 <= s.len; i++)
            if (!memcmp(s.ptr + i, "User: ", 6) || !memcmp(s.ptr + i, "Assistant: ", 7))
                return TPL_BITNET;
        for (uint64_t i = 0; i + 19 <= s.len; i++)
            if (!memcmp(s.ptr + i, "<|start_header_id|>", 19))
                return TPL_LLAMA3;
    }
    if (tk && bn_tokenizer_find(tk, "<|start_header_id|>", 19) >= 0)
        return TPL_LLAMA3;
    return TPL_BITNET;
}

/* One message in the template's format; BOS is not text here (the tokenizer
 * adds it at the start of a conversation). eot ends a BitNet-format turn:
 * <|eot_id|> when the vocabulary has it (2B-4T), else the EOS text. */
static int chat_format(chat_tpl tpl, const char *eot, char *buf, size_t cap, const char *role,
                       const char *msg, int add_assistant)
{
    if (tpl == TPL_LLAMA3)
        return snprintf(buf, cap, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>%s",
                        role, msg,
                        add_assistant ? "<|start_header_id|>assistant<|end_header_id|>\n\n" : "");
    return snprintf(buf, cap, "%s: %s%s%s", !strcmp(role, "system") ? "System" : "User", msg, eot,
                    add_assistant ? "Assistant: " : "");
}

/* The chat's turn-end text: <|eot_id|>, else the EOS token's text. */
static void chat_eot(const bn_tokenizer *tk, char *out, size_t cap)
{
    size_t len = 0;
    const char *t = bn_tokenizer_find(tk, "<|eot_id|>", 10) >= 0
                        ? "<|eot_id|>"
                        : bn_tokenizer_text(tk, bn_tokenizer_eos(tk), &len);
    if (t && !len)
        len = strlen(t);
    snprintf(out, cap, "%.*s", t ? (int)(len < cap ? len : cap - 1) : 0, t ? t : "");
}

/* The tokens of one user turn (with the system message at the start of a
 * conversation, and BOS there if the vocabulary adds it). */
static bn_status chat_turn(const run_opts *o, const bn_tokenizer *tk, chat_tpl tpl,
                           const char *eot, const char *line, int start, char **buf,
                           bn_tokens *toks, bn_error *err)
{
    size_t cap = strlen(line) + (o->system ? strlen(o->system) : 0) + 2 * strlen(eot) + 256;
    char *nb = realloc(*buf, cap);
    if (!nb)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    *buf = nb;
    int off = 0;
    if (start && o->system)
        off = chat_format(tpl, eot, nb, cap, "system", o->system, 0);
    chat_format(tpl, eot, nb + off, cap - (size_t)off, "user", line, 1);
    toks->n = 0;
    unsigned flags = BN_TOK_PARSE_SPECIAL | (start ? BN_TOK_ADD_SPECIAL : 0);
    return bn_tokenizer_encode(tk, nb, strlen(nb), flags, toks, err);
}

static bn_status run_chat(const run_opts *o, bn_model *m, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    if (!tk)
        return bn_error_set(err, BN_EINVAL, "%s: --chat needs a model with a tokenizer", o->model);
    chat_tpl tpl = o->tpl != TPL_AUTO ? o->tpl : detect_template(m);
    char eot[64];
    chat_eot(tk, eot, sizeof eot);
    bn_ctx *c = NULL;
    bn_sampler *smp = NULL;
    float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    char *line = NULL, *buf = NULL;
    size_t line_cap = 0;
    bn_tokens toks = {0};
    bn_status st = logits ? BN_OK : bn_error_set(err, BN_ENOMEM, "out of memory");
    if (!st)
        st = make_ctx(o, m, hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096, &c, err);
    if (!st)
        st = bn_sampler_new(&o->sp, hp->n_vocab, &smp, err);
    if (st)
        goto out;
    stop_set stops;
    stop_init(&stops, tk);
    timing tm = {0};
    int pos = 0, interactive = isatty(0), n_ctx = bn_ctx_params_get(c)->n_ctx;
    int n_gen = o->n_predict >= 0 ? o->n_predict : 1 << 24; /* a turn ends at EOT by default */
    for (;;) {
        if (interactive) {
            fputs("\n> ", stdout);
            fflush(stdout);
        }
        ssize_t len = getline(&line, &line_cap, stdin);
        if (len < 0)
            break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        if ((st = chat_turn(o, tk, tpl, eot, line, pos == 0, &buf, &toks, err)))
            break;
        if (pos > 0 && pos + (int)toks.n + 1 > n_ctx) {
            /* the context is full: start over with this message */
            fprintf(stderr, "bn-run: context full (%d positions): starting a new conversation\n",
                    n_ctx);
            bn_ctx_clear(c, 0);
            bn_sampler_reset(smp);
            pos = 0;
            if ((st = chat_turn(o, tk, tpl, eot, line, 1, &buf, &toks, err)))
                break;
        }
        if ((int)toks.n + 1 > n_ctx) {
            st = bn_error_set(err, BN_ELIMIT, "a message of %zu tokens does not fit the context "
                              "of %d (-c)", toks.n, n_ctx);
            break;
        }
        if ((st = generate(c, m, smp, &stops, toks.ids, (int)toks.n, n_gen, &pos, logits, &tm,
                           err)))
            break;
        printf("\n");
        fflush(stdout);
    }
    if (!st)
        print_timing(o, m, &tm);
out:
    free(line);
    free(buf);
    free(logits);
    bn_tokens_free(&toks);
    bn_sampler_free(smp);
    bn_ctx_free(c);
    return st;
}

/* ---- bench ----------------------------------------------------------------------------------- */

static bn_status bench_one(const run_opts *o, bn_model *m, int pp, double *out, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    int n = pp ? o->bench_pp : o->bench_tg;
    bn_ctx *c = NULL;
    int32_t *toks = malloc((size_t)n * sizeof *toks);
    float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    bn_status st = toks && logits ? BN_OK : bn_error_set(err, BN_ENOMEM, "out of memory");
    if (!st)
        st = make_ctx(o, m, n + 1, &c, err);
    uint64_t r = 12345;
    for (int i = 0; i < n && !st; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((r >> 33) % (uint64_t)hp->n_vocab);
    }
    /* warm-up, untimed: faults the mapped weights in, as llama-bench does */
    if (!st)
        st = bn_ctx_eval(c, 0, toks, 1, 0, BN_LOGITS_LAST, logits, err);
    for (int rep = 0; rep < o->bench_reps && !st; rep++) {
        bn_ctx_clear(c, 0);
        double t0 = bn_now_seconds();
        if (pp)
            st = bn_ctx_eval(c, 0, toks, n, 0, BN_LOGITS_LAST, logits, err);
        else
            for (int i = 0; i < n && !st; i++)
                st = bn_ctx_eval(c, 0, &toks[i], 1, i, BN_LOGITS_LAST, logits, err);
        out[rep] = n / (bn_now_seconds() - t0);
    }
    bn_ctx_free(c);
    free(toks);
    free(logits);
    return st;
}

static bn_status run_bench(const run_opts *o, bn_model *m, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    double *rates = malloc((size_t)o->bench_reps * sizeof *rates);
    if (!rates)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    double params = 0;
    for (int64_t i = 0; i < bn_gguf_n_tensors(bn_model_gguf(m)); i++)
        params += (double)bn_gguf_tensor_at(bn_model_gguf(m), i)->n_el;
    printf("| model | size | params | kernel | threads | test | t/s |\n");
    printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    bn_status st = BN_OK;
    /* every available kernel, or only the one chosen with --kernel / BN_KERNEL */
    int chosen = (o->mopts.kernel && *o->mopts.kernel) || getenv("BN_KERNEL");
    for (size_t k = 0; k < nk && !st; k++) {
        if (chosen ? k > 0 : !ks[k]->available())
            continue;
        if (!chosen && (st = bn_model_set_kernel(m, ks[k]->name, err)))
            break;
        for (int pp = 1; pp >= 0 && !st; pp--) {
            if ((st = bench_one(o, m, pp, rates, err)))
                break;
            double mean = 0, var = 0;
            for (int i = 0; i < o->bench_reps; i++)
                mean += rates[i] / o->bench_reps;
            for (int i = 0; i < o->bench_reps; i++)
                var += (rates[i] - mean) * (rates[i] - mean);
            double sd = o->bench_reps > 1 ? sqrt(var / (o->bench_reps - 1)) : 0.0;
            printf("| %s %s | %.2f GiB | %.2f B | %s%s | %d | %s%d | %.2f ± %.2f |\n",
                   hp->arch_name, bn_type_name(hp->proj_type),
                   bn_model_weight_bytes(m) / 1073741824.0, params / 1e9, bn_model_kernel(m),
                   bn_model_actq(m) == BN_ACTQ_Q8K ? " (q8_k)" : "",
                   bn_model_n_threads(m), pp ? "pp" : "tg", pp ? o->bench_pp : o->bench_tg,
                   mean, sd);
            fflush(stdout);
        }
    }
    free(rates);
    return st;
}

int main(int argc, char **argv)
{
    run_opts o = {.n_predict = -1, .bench_pp = 512, .bench_tg = 128, .bench_reps = 1};
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
        else if (o.chat)
            st = run_chat(&o, m, &err);
        else
            st = run_prompt(&o, m, &err);
    }
    bn_model_free(m);
    if (st) {
        fflush(stdout);
        fprintf(stderr, "bn-run: %s\n", err.msg);
        return bn_status_exit_code(st);
    }
    return 0;
}
