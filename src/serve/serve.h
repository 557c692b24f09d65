/*
 * serve.h - bn-serve's internals: an OpenAI-compatible HTTP server over one
 * model. Private to src/serve/ and src/tools/bn-serve.c (not part of libbn:
 * only bn-serve links libmicrohttpd).
 *
 * Contract:
 *  1. Threads. libmicrohttpd runs one thread per connection; those threads
 *     read and validate requests (api.c), tokenize, and wait for results. ONE
 *     scheduler thread (sched.c) owns the evaluation context: the model's
 *     thread pool is not reentrant (model.h 2).
 *  2. Continuous batching. The scheduler keeps n_slots sequences of one
 *     bn_ctx. Each step evaluates every running slot in one bn_ctx_eval_batch
 *     call: one token for each decoding slot plus at most `prefill_chunk`
 *     prompt tokens shared by the slots still reading their prompts, so a long
 *     prompt never stalls running streams for more than one chunk. Queued
 *     requests take free slots between steps. Beyond n_queue waiting requests
 *     a submission is refused (the HTTP layer answers 503 + Retry-After).
 *  3. Batch invariance. A slot's tokens come from its own bn_gen and logits
 *     row, and the runtime's results do not depend on the batch (model.h 5),
 *     so the same request and seed give the same text under any load.
 *  4. A job is shared by its connection thread and the scheduler (two
 *     references). A connection that goes away cancels its job; the scheduler
 *     frees the slot before its next step. Jobs past their deadline end with
 *     a timeout error; on shutdown the scheduler drains (finishes running and
 *     queued jobs) until a deadline, then fails what is left.
 */
#ifndef BN_SERVE_H
#define BN_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bn/chat.h"
#include "bn/error.h"
#include "bn/generate.h"
#include "bn/model.h"

/* ---- jobs and the scheduler (sched.c) ----------------------------------------- */

typedef enum { BN_JOB_QUEUED = 0, BN_JOB_RUNNING, BN_JOB_DONE } bn_job_state;

typedef struct bn_job {
    /* set before bn_sched_submit, then owned by the scheduler */
    int32_t *prompt;          /* (n_prompt) token ids */
    int n_prompt;
    bn_gen *gen;
    double deadline;          /* bn_now_seconds() by which the job must end */
    /* guarded by the scheduler's mutex */
    pthread_cond_t cond;      /* signalled when text, state or finish change */
    bn_job_state state;
    char *text;               /* (len) UTF-8 released so far; cap bytes allocated */
    size_t len, cap;
    int n_gen;                /* tokens generated */
    bn_finish finish;         /* != NONE once done without an error */
    int http_status;          /* != 0: failed with this status and err_msg */
    char err_msg[BN_ERROR_MSG_MAX];
    int cancelled;            /* the client went away */
    double t_submit, t_first, t_end; /* seconds; t_first: first generated token */
    int refs;
    struct bn_job *next;      /* queue link */
} bn_job;

typedef struct {
    int n_slots;              /* parallel sequences */
    int n_queue;              /* waiting requests at most */
    int n_ctx_slot;           /* positions per sequence */
    int prefill_chunk;        /* prompt tokens per step, shared by prefilling slots */
    bn_kv_type kv;
} bn_sched_opts;

typedef struct {
    uint64_t prompt_tokens;   /* evaluated prompt tokens, total */
    uint64_t gen_tokens;      /* generated tokens, total */
    uint64_t steps;           /* batched evaluation calls */
    int max_batch;            /* most sequences evaluated in one step */
    uint64_t jobs_done, jobs_failed, jobs_cancelled;
    int queued, busy, n_slots;
    double gen_tps;           /* generated tokens/s over the last 10 s */
    double prompt_tps;        /* prompt tokens/s over the last 10 s */
} bn_sched_stats;

typedef struct bn_sched bn_sched;

bn_status bn_sched_new(bn_model *m, const bn_sched_opts *o, bn_sched **out, bn_error *err);
/* Stops the thread if running (as bn_sched_drain with no time), frees everything. */
void bn_sched_free(bn_sched *s);

/* A new job with one reference for the caller; takes ownership of prompt and gen
 * (freed with the job, also on failure). NULL when out of memory. */
bn_job *bn_job_new(int32_t *prompt, int n_prompt, bn_gen *gen, double deadline);
/* Hand a job to the scheduler (it takes its own reference). 0 ok, -1 the queue
 * is full, -2 the server is draining. */
int bn_sched_submit(bn_sched *s, bn_job *j);
/* The client is gone: stop the job at the next step. */
void bn_sched_cancel(bn_sched *s, bn_job *j);
/* Drop the caller's reference. */
void bn_sched_release(bn_sched *s, bn_job *j);

/* Wait until the job has text beyond `have` bytes or is done, or `timeout_s`
 * passed. Copies up to cap (>= 4) bytes of new text to buf (*n), whole UTF-8
 * characters only (`have` must be a character boundary), returns the job's
 * state (DONE once every byte was handed out). Locks internally. */
bn_job_state bn_sched_wait(bn_sched *s, bn_job *j, size_t have, double timeout_s, char *buf,
                           size_t cap, size_t *n);
/* Snapshot of a finished job's results (locks). */
void bn_sched_result(bn_sched *s, bn_job *j, bn_finish *finish, int *n_gen, int *http_status,
                     char *msg, size_t msg_cap);

void bn_sched_stats_get(bn_sched *s, bn_sched_stats *st);

/* Refuse new jobs, finish the running and queued ones for up to `grace_s`
 * seconds, fail the rest, and join the thread. */
void bn_sched_drain(bn_sched *s, double grace_s);

/* ---- requests (api.c) ---------------------------------------------------------- */

/* An OpenAI-style error: HTTP status, message, type, offending parameter. */
typedef struct {
    int status;
    char message[BN_ERROR_MSG_MAX];
    const char *type;         /* "invalid_request_error", "server_error", ... */
    const char *param;        /* NULL: none */
    const char *code;         /* NULL: none */
} bn_api_error;

typedef struct {
    const bn_model *model;
    bn_chat_tpl tpl;
    int n_ctx_slot;
} bn_api_ctx;

typedef struct {
    int chat;                 /* /v1/chat/completions (1) or /v1/completions (0) */
    int stream;
    int include_usage;        /* stream_options.include_usage */
    bn_gen_params gp;         /* stop strings point into stop_buf */
    char *stop_buf[BN_GEN_MAX_STOP_STRS];
    int32_t *prompt;          /* (n_prompt) */
    int n_prompt;
} bn_api_req;

/* Parse and validate a completion request body, render the chat template,
 * tokenize, and check the prompt against the context. 0 ok, else -1 with e
 * filled (400 for the client's mistakes). */
int bn_api_parse_completion(const bn_api_ctx *ac, const char *body, size_t len, int chat,
                            bn_api_req *r, bn_api_error *e);
void bn_api_req_free(bn_api_req *r);

/* Fill e and return -1 (for `return bn_api_fail(e, 400, ...)`). */
int bn_api_fail(bn_api_error *e, int status, const char *type, const char *param,
                const char *fmt, ...) BN_PRINTF(5, 6);
/* {"error":{"message","type","param","code"}} as a malloc'd string. */
char *bn_api_error_json(const bn_api_error *e);

/* /tokenize and /detokenize bodies (llama-server's shapes) -> malloc'd JSON. */
char *bn_api_tokenize(const bn_api_ctx *ac, const char *body, size_t len, bn_api_error *e);
char *bn_api_detokenize(const bn_api_ctx *ac, const char *body, size_t len, bn_api_error *e);

/* 1 when s[0..n) is valid UTF-8 without NUL bytes. */
int bn_api_utf8_ok(const char *s, size_t n);

/* ---- responses (respond.c) ----------------------------------------------------- */

typedef struct {
    const char *id;           /* "chatcmpl-N" / "cmpl-N" */
    const char *model;        /* the served model's id */
    long long created;        /* unix seconds */
    int chat;
} bn_resp_meta;

/* OpenAI's name for a finish: "stop" or "length" (CONTEXT counts as length). */
const char *bn_resp_finish(bn_finish f);
/* A whole non-streamed response. */
char *bn_resp_full(const bn_resp_meta *m, const char *text, size_t len, bn_finish f,
                   int n_prompt, int n_gen);
/* One SSE event "data: {...}\n\n" of a stream: role_only for the opening chunk
 * of a chat stream, text for a content chunk, f != NONE for the closing one. */
char *bn_resp_chunk(const bn_resp_meta *m, int role_only, const char *text, size_t len,
                    bn_finish f);
/* An error inside a stream: "data: {"error": ...}\n\n". */
char *bn_resp_error_event(const bn_api_error *e);
/* The usage-only chunk of stream_options.include_usage. */
char *bn_resp_usage_chunk(const bn_resp_meta *m, int n_prompt, int n_gen);

/* ---- the server (http.c) -------------------------------------------------------- */

typedef struct {
    const char *model_path;
    const char *alias;        /* model id in responses; NULL: the file's basename */
    const char *host;         /* listen address (numeric IPv4/IPv6) */
    int port;                 /* 0: any free port (printed) */
    int n_ctx;                /* total KV positions, split across slots; <= 0: auto */
    int parallel;             /* slots */
    int queue;                /* waiting requests */
    int prefill_chunk;
    bn_model_opts mopts;
    bn_kv_type kv;
    const char *chat_template;/* NULL: the model's */
    const char *api_key;      /* NULL: no authentication */
    double timeout_s;         /* wall time of one request (queue + generation) */
    unsigned idle_timeout_s;  /* a connection silent this long is closed */
    unsigned header_timeout_s;/* request headers must arrive within this */
    double drain_s;           /* SIGTERM: time given to in-flight requests */
    size_t max_body;          /* request body bytes */
    unsigned max_conns;       /* concurrent connections */
    const char *port_file;    /* write the bound port here once listening */
} bn_srv_opts;

void bn_srv_opts_default(bn_srv_opts *o);

/* Start listening (the HTTP layer answers /health with 503 while the model
 * loads), load the model, serve until SIGTERM/SIGINT (which the caller must have
 * blocked in every thread), then drain. Returns the process exit code: 0 after
 * a clean shutdown, 2 bad input (model, options), 3 system failure; the reason
 * is printed by the caller from err. */
int bn_srv_run(const bn_srv_opts *o, bn_error *err);

/* The chat page (page.html, embedded at build time). */
extern const unsigned char bn_srv_page[];
extern const size_t bn_srv_page_len;

#endif
