/* run_gen.c - see run_gen.h. */
#include "run_gen.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/chat.h"
#include "bn/generate.h"
#include "bn/tokenizer.h"
#include "bn/util.h"

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
        bn_status st = bn_tokens_push(out, (int32_t)v, err);
        if (st)
            return st;
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

static bn_status prompt_tokens(const bn_run_opts *o, const bn_model *m, bn_tokens *toks,
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

volatile sig_atomic_t bn_run_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    bn_run_interrupted = 1;
}

void bn_run_catch_sigint(void)
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
    return bn_run_interrupted;
}

static void print_id(void *user, int32_t id)
{
    (void)user;
    printf(" %d", (int)id);
    fflush(stdout);
}

static void gen_params(const bn_run_opts *o, const bn_model *m, bn_gen_params *gp)
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
static bn_status make_ctx(const bn_run_opts *o, bn_model *m, int want, bn_ctx **c, bn_error *err)
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

static bn_status print_logits(const bn_run_opts *o, bn_model *m, bn_ctx *c, const bn_tokens *toks,
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

bn_status bn_run_prompt(const bn_run_opts *o, bn_model *m, bn_error *err)
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
    bn_tokens ids;  /* its tokens */
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
    bn_error err;
    if (bn_tokens_push(&r->ids, id, &err))
        r->oom = 1;
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

static bn_status chat_template(const bn_run_opts *o, const bn_model *m, bn_chat_tpl *t,
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

bn_status bn_run_chat(const bn_run_opts *o, bn_model *m, bn_run_read_line read_line, bn_error *err)
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
    bn_run_catch_sigint();
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
        r.ids.n = 0;
        gp.on_token = reply_token;
        gp.on_token_user = &r;
        gp.sampler.seed = o->sp.seed + (uint64_t)turn++; /* a fresh stream per turn */
        bn_run_interrupted = 0;
        bn_gen_result res;
        st = bn_generate(c, 0, t.pos0, t.tokens, t.n, &gp, reply_text, &r, &res, err);
        bn_run_interrupted = 0; /* a Ctrl-C that stopped the reply does not also quit */
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
        if ((st = bn_chat_session_reply(s, r.text ? r.text : "", r.len, r.ids.ids, (int)r.ids.n, err)))
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
    bn_tokens_free(&r.ids);
    if (!st && !o->quiet && !o->verbose && total.n_prompt > 0)
        print_speed(m, &total);
out:
    bn_chat_session_free(s);
    bn_ctx_free(c);
    return st;
}

