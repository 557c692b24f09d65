/* run_gen.h - bn-run's front end to the library's generation (bn/generate.h,
 * bn/chat.h): the prompt from -p, -f or --ids, the context-size rule, one
 * prompt (or --logits) and the interactive chat loop. Line input comes from
 * the caller, so line editing (libedit) stays in bn-run.c. Mains only. */
#ifndef BN_RUN_GEN_H
#define BN_RUN_GEN_H

#include <signal.h>

#include "bn/error.h"
#include "bn/model.h"
#include "bn/sampler.h"

typedef struct {
    const char *model;
    const char *prompt;
    const char *prompt_file;
    const char *ids;          /* "1,2,3": token ids instead of a prompt */
    const char *system;       /* chat system message */
    int n_predict;            /* -1: unlimited (chat default) */
    int n_ctx;                /* 0: prompt + n_predict, at most the model's */
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
} bn_run_opts;

/* Set by SIGINT once bn_run_catch_sigint() is installed: a reply stops, the
 * prompt quits (no SA_RESTART, so a blocked read returns). */
extern volatile sig_atomic_t bn_run_interrupted;
void bn_run_catch_sigint(void);

/* One line of input without its newline (malloc'd), NULL at the end or on
 * Ctrl-C; tty: stdin and stdout are a terminal. */
typedef char *(*bn_run_read_line)(int tty);

/* The prompt (or --logits) run: text to stdout, the speed line to stderr. */
bn_status bn_run_prompt(const bn_run_opts *o, bn_model *m, bn_error *err);

/* --chat: turns read with read_line until it returns NULL. */
bn_status bn_run_chat(const bn_run_opts *o, bn_model *m, bn_run_read_line read_line, bn_error *err);

#endif
