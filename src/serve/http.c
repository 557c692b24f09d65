/* http.c - the HTTP side of bn-serve on libmicrohttpd: routes, authentication,
 * request bodies, streaming, slow clients, and the server's life from listen
 * to drain (serve.h).
 *
 * libmicrohttpd runs a thread per connection (at most max_conns), so a
 * handler may block while its job runs. While it waits it checks every
 * WAIT_S whether the peer closed the socket, so a client that goes away frees
 * its slot within one step. Slow clients are bounded three ways: the idle
 * timeout (libmicrohttpd's connection timeout), a header deadline enforced by
 * a watchdog thread (slowloris sends a byte now and then, which an idle
 * timeout never catches), and max_body.
 *
 * Error bodies. Every status we send carries OpenAI's error JSON, including
 * the ones libmicrohttpd would otherwise generate itself with its own HTML
 * (it has no hook for those bodies):
 *  - 408: libmicrohttpd's own timeouts close a connection without a word; the
 *    watchdog writes the 408 itself on a connection whose headers are late
 *    (nothing else writes on a connection still reading its headers), then
 *    half-closes it and closes it LINGER_S later.
 *  - 431 and 414: the connection's memory pool (POOL_BYTES) is much larger
 *    than the limits we enforce (MAX_HEADER_BYTES, MAX_URI_BYTES), so an
 *    oversized request reaches the handler and is refused there. Only a
 *    request whose headers overflow the pool itself still gets
 *    libmicrohttpd's 431 (with its HTML body); the connection is closed and
 *    the server carries on.
 *  - 505 (an HTTP version other than 1.0/1.1) and 400 for a request line
 *    that does not parse stay libmicrohttpd's: those clients do not speak the
 *    HTTP that a JSON body could be read by. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "bn/util.h"
#include "serve/serve.h"

#define WAIT_S 0.1          /* how often a waiting handler looks at its socket */
#define KEEPALIVE_S 5.0     /* an SSE comment when a stream is silent this long */
#define WATCHDOG_S 0.5
#define LINGER_S 1.0        /* a 408'd connection is closed this long after the 408 */
#define POOL_BYTES ((size_t)512 * 1024)   /* libmicrohttpd's memory per connection */
#define MAX_HEADER_BYTES (64 * 1024)      /* request header names + values */
#define MAX_HEADERS 512                   /* request header fields */
#define MAX_URI_BYTES (16 * 1024)         /* path + query arguments */

void bn_srv_opts_default(bn_srv_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->parallel = 4;
    o->queue = 64;
    o->prefill_chunk = 128;
    bn_model_opts_default(&o->mopts);
    o->kv = BN_KV_F32;
    o->timeout_s = 600;
    o->idle_timeout_s = 30;
    o->header_timeout_s = 10;
    o->drain_s = 30;
    o->max_body = 1 << 20;
    o->max_conns = 256;
}

/* ---- the server's state ------------------------------------------------------------- */

/* One TCP connection (libmicrohttpd's socket context), for the header watchdog. */
typedef struct conn {
    int fd;
    double t0;              /* when the current request's first byte could arrive */
    int in_request;         /* headers complete, handler called */
    int started;            /* a request line arrived, its headers have not */
    int served;             /* requests answered on this connection */
    double t_408;           /* when the watchdog sent a 408 (0: not yet) */
    struct conn *prev, *next;
} conn;

enum {
    C_200, C_400, C_401, C_404, C_405, C_408, C_413, C_414, C_431, C_500, C_501, C_503, C_504,
    C_OTHER, C_N
};
static const int code_of[C_N] = {200, 400, 401, 404, 405, 408, 413, 414, 431, 500, 501, 503, 504, 0};

typedef struct {
    bn_srv_opts o;
    char model_id[256];
    struct MHD_Daemon *d;
    bn_model *model;
    bn_sched *sched;
    bn_api_ctx ac;
    atomic_int ready;       /* the model is loaded */
    atomic_int draining;    /* SIGTERM received */
    atomic_int active;      /* requests between first call and completion */
    atomic_ullong ids;      /* response ids */
    atomic_ullong by_code[C_N];
    atomic_ullong completions, rejected;
    atomic_ullong ttft_us, ttft_n; /* time to first token, summed */
    pthread_mutex_t conns_mu;
    conn *conns;
    pthread_t watchdog;
    int watchdog_on;
    atomic_int watchdog_stop;
    char *resp_408;         /* the whole HTTP response the watchdog writes */
    size_t resp_408_len;
} server;

/* One request (libmicrohttpd's con_cls). refs: the request and, for a stream,
 * the response; whichever ends last frees it. */
typedef struct {
    server *srv;
    struct MHD_Connection *c;
    atomic_int refs;
    char *body;
    size_t len, cap;
    int too_big;
    /* a completion */
    bn_job *job;
    bn_resp_meta meta;
    char id[48];
    int n_prompt;
    int include_usage;
    int stream_stage;       /* 0 opening, 1 content, 2 closed */
    size_t have;            /* text bytes already handed to the client */
    char *out;              /* bytes of SSE events not yet sent */
    size_t out_len, out_off;
    double last_write;
} request;

static void request_unref(request *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->job) {
        bn_sched_cancel(r->srv->sched, r->job);
        bn_sched_release(r->srv->sched, r->job);
    }
    free(r->out);
    free(r->body);
    free(r);
}

/* ---- responses ---------------------------------------------------------------------- */

static void count_code(server *s, int status)
{
    int k = C_OTHER;
    for (int i = 0; i < C_OTHER; i++)
        if (code_of[i] == status)
            k = i;
    atomic_fetch_add(&s->by_code[k], 1);
}

/* Queue a whole body (copied). */
static enum MHD_Result reply(request *r, int status, const char *type, const char *body,
                             size_t len, const char *retry_after)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result rc = MHD_queue_response(r->c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    count_code(r->srv, status);
    return rc;
}

static enum MHD_Result reply_json(request *r, int status, char *json, const char *retry_after)
{
    if (!json)
        return reply(r, 500, "application/json",
                     "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                     "\"param\":null,\"code\":null}}",
                     86, NULL);
    enum MHD_Result rc = reply(r, status, "application/json", json, strlen(json), retry_after);
    free(json);
    return rc;
}

static enum MHD_Result reply_error(request *r, const bn_api_error *e, const char *retry_after)
{
    return reply_json(r, e->status, bn_api_error_json(e), retry_after);
}

static enum MHD_Result fail(request *r, int status, const char *type, const char *retry_after,
                            const char *fmt, ...) BN_PRINTF(5, 6);
static enum MHD_Result fail(request *r, int status, const char *type, const char *retry_after,
                            const char *fmt, ...)
{
    bn_api_error e = {.status = status, .type = type};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    return reply_error(r, &e, retry_after);
}

/* ---- the socket ---------------------------------------------------------------------- */

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* 1 when the peer closed its side (or the socket failed). */
static int peer_gone(struct MHD_Connection *c)
{
    int fd = conn_fd(c);
    if (fd < 0)
        return 1;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The idle timeout does not run while we compute: 0 while waiting, the real
 * value again whenever we have bytes for the client (which restarts it). */
static void idle_timeout(request *r, int on)
{
    MHD_set_connection_option(r->c, MHD_CONNECTION_OPTION_TIMEOUT,
                              on ? r->srv->o.idle_timeout_s : 0u);
}

/* ---- authentication ------------------------------------------------------------------ */

/* Constant time in the length of the key, whatever the client sends. */
static int key_matches(const char *given, const char *key)
{
    size_t gl = strlen(given), kl = strlen(key);
    unsigned char d = gl != kl;
    for (size_t i = 0; i < kl; i++)
        d |= (unsigned char)key[i] ^ (unsigned char)(i < gl ? given[i] : 0);
    return d == 0;
}

static int authorized(request *r)
{
    const char *key = r->srv->o.api_key;
    if (!key)
        return 1;
    const char *h = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) /* the scheme is case-insensitive */
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    return key_matches(h, key);
}

/* ---- GET routes ------------------------------------------------------------------------ */

static enum MHD_Result get_health(request *r)
{
    if (atomic_load(&r->srv->draining))
        return fail(r, 503, "unavailable_error", "1", "the server is shutting down");
    if (!atomic_load(&r->srv->ready))
        return fail(r, 503, "unavailable_error", "1", "loading model");
    static const char ok[] = "{\"status\":\"ok\"}";
    return reply(r, 200, "application/json", ok, sizeof ok - 1, NULL);
}

static enum MHD_Result get_models(request *r)
{
    server *s = r->srv;
    const bn_hparams *hp = bn_model_hparams(s->model);
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "{\"object\":\"list\",\"data\":[{\"id\":\"%s\",\"object\":\"model\","
                     "\"created\":%lld,\"owned_by\":\"bntk\",\"meta\":{\"n_vocab\":%d,"
                     "\"n_ctx_train\":%d,\"n_embd\":%d,\"n_layer\":%d,\"type\":\"%s\","
                     "\"n_ctx_slot\":%d,\"n_slots\":%d}}]}",
                     s->model_id, (long long)time(NULL), hp->n_vocab, hp->n_ctx_train,
                     hp->n_embd, hp->n_layer, bn_type_name(hp->proj_type), s->ac.n_ctx_slot,
                     s->o.parallel);
    return reply(r, 200, "application/json", buf, (size_t)n, NULL);
}

static void metric(char **p, size_t *left, const char *name, const char *type,
                   const char *help, const char *labels, double v)
{
    int n = snprintf(*p, *left, "# HELP %s %s\n# TYPE %s %s\n%s%s %.17g\n", name, help, name,
                     type, name, labels ? labels : "", v);
    if (n > 0 && (size_t)n < *left) {
        *p += n;
        *left -= (size_t)n;
    }
}

static enum MHD_Result get_metrics(request *r)
{
    server *s = r->srv;
    bn_sched_stats st;
    bn_sched_stats_get(s->sched, &st);
    char buf[8192], *p = buf;
    size_t left = sizeof buf;
    metric(&p, &left, "bntk_completion_requests_total", "counter",
           "Completion requests accepted into the queue.", NULL,
           (double)atomic_load(&s->completions));
    metric(&p, &left, "bntk_requests_rejected_total", "counter",
           "Completion requests refused because the queue was full.", NULL,
           (double)atomic_load(&s->rejected));
    int n = snprintf(p, left, "# HELP bntk_http_responses_total HTTP responses by status.\n"
                              "# TYPE bntk_http_responses_total counter\n");
    p += n;
    left -= (size_t)n;
    for (int i = 0; i < C_N; i++) {
        char lab[32];
        if (code_of[i])
            snprintf(lab, sizeof lab, "%d", code_of[i]);
        else
            snprintf(lab, sizeof lab, "other");
        n = snprintf(p, left, "bntk_http_responses_total{code=\"%s\"} %llu\n", lab,
                     (unsigned long long)atomic_load(&s->by_code[i]));
        if (n > 0 && (size_t)n < left) {
            p += n;
            left -= (size_t)n;
        }
    }
    metric(&p, &left, "bntk_prompt_tokens_total", "counter", "Prompt tokens evaluated.", NULL,
           (double)st.prompt_tokens);
    metric(&p, &left, "bntk_generated_tokens_total", "counter", "Tokens generated.", NULL,
           (double)st.gen_tokens);
    metric(&p, &left, "bntk_batch_steps_total", "counter",
           "Batched evaluation steps (one bn_ctx_eval_batch call each).", NULL,
           (double)st.steps);
    metric(&p, &left, "bntk_batch_sequences_max", "gauge",
           "Most sequences evaluated together in one step so far.", NULL, st.max_batch);
    metric(&p, &left, "bntk_jobs_finished_total", "counter", "Completions that finished.", NULL,
           (double)st.jobs_done);
    metric(&p, &left, "bntk_jobs_failed_total", "counter",
           "Completions that failed (timeout, shutdown, model error).", NULL,
           (double)st.jobs_failed);
    metric(&p, &left, "bntk_jobs_cancelled_total", "counter",
           "Completions whose client went away.", NULL, (double)st.jobs_cancelled);
    metric(&p, &left, "bntk_queue_depth", "gauge", "Requests waiting for a slot.", NULL,
           st.queued);
    metric(&p, &left, "bntk_slots_busy", "gauge", "Slots running a request.", NULL, st.busy);
    metric(&p, &left, "bntk_slots_total", "gauge", "Slots (--parallel).", NULL, st.n_slots);
    metric(&p, &left, "bntk_generated_tokens_per_second", "gauge",
           "Generated tokens per second over the last 10 s.", NULL, st.gen_tps);
    metric(&p, &left, "bntk_prompt_tokens_per_second", "gauge",
           "Prompt tokens per second over the last 10 s.", NULL, st.prompt_tps);
    unsigned long long tn = atomic_load(&s->ttft_n);
    n = snprintf(p, left,
                 "# HELP bntk_time_to_first_token_seconds From submission to the first "
                 "generated token.\n# TYPE bntk_time_to_first_token_seconds summary\n"
                 "bntk_time_to_first_token_seconds_sum %.6f\n"
                 "bntk_time_to_first_token_seconds_count %llu\n",
                 (double)atomic_load(&s->ttft_us) / 1e6, tn);
    if (n > 0 && (size_t)n < left)
        p += n;
    return reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, (size_t)(p - buf),
                 NULL);
}

/* ---- completions ---------------------------------------------------------------------- */

/* Test hooks: with VAR=PATH in the environment, the place that calls
 * test_gate(VAR) waits until PATH exists (at most GATE_S), so a test can hold
 * the server in a state without racing it:
 *  - BN_SERVE_TEST_LOAD_GATE: the model load (/health answers 503 meanwhile);
 *  - BN_SERVE_TEST_STREAM_GATE: a stream's first text, so that the text of
 *    many steps is waiting when the stream goes on (sent in pieces of at most
 *    4096 bytes, cut between characters). */
#define GATE_S 120.0
static void test_gate(const char *var)
{
    const char *gate = getenv(var);
    if (!gate || !*gate)
        return;
    double t0 = bn_now_seconds();
    while (access(gate, F_OK) != 0 && bn_now_seconds() - t0 < GATE_S) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void note_ttft(server *s, bn_job *j)
{
    if (j->t_first > 0) {
        atomic_fetch_add(&s->ttft_us, (unsigned long long)((j->t_first - j->t_submit) * 1e6));
        atomic_fetch_add(&s->ttft_n, 1);
    }
}

/* Append an SSE event (takes ev). 0 ok. */
static int push_event(request *r, char *ev)
{
    if (!ev)
        return -1;
    size_t n = strlen(ev);
    char *o = realloc(r->out, r->out_len + n);
    if (!o) {
        free(ev);
        return -1;
    }
    memcpy(o + r->out_len, ev, n);
    r->out = o;
    r->out_len += n;
    free(ev);
    return 0;
}

/* The events after the last text: the closing chunk (or an error event), the
 * usage chunk when asked for, and [DONE]. */
static int close_stream(request *r)
{
    server *s = r->srv;
    bn_finish f;
    int n_gen, status;
    char msg[BN_ERROR_MSG_MAX];
    bn_sched_result(s->sched, r->job, &f, &n_gen, &status, msg, sizeof msg);
    note_ttft(s, r->job);
    int rc;
    if (status) {
        bn_api_error e = {.status = status,
                          .type = status == 504 ? "timeout_error" : "server_error"};
        snprintf(e.message, sizeof e.message, "%s", msg);
        rc = push_event(r, bn_resp_error_event(&e));
    } else {
        rc = push_event(r, bn_resp_chunk(&r->meta, 0, NULL, 0, f));
        if (!rc && r->include_usage)
            rc = push_event(r, bn_resp_usage_chunk(&r->meta, r->n_prompt, n_gen));
    }
    if (!rc)
        rc = push_event(r, strdup("data: [DONE]\n\n"));
    r->stream_stage = 2;
    return rc;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    request *r = cls;
    (void)pos;
    for (;;) {
        if (r->out_off < r->out_len) {
            size_t n = r->out_len - r->out_off;
            if (n > max)
                n = max;
            memcpy(buf, r->out + r->out_off, n);
            r->out_off += n;
            if (r->out_off == r->out_len)
                r->out_off = r->out_len = 0;
            r->last_write = bn_now_seconds();
            idle_timeout(r, 1);
            return (ssize_t)n;
        }
        if (r->stream_stage == 2)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (r->stream_stage == 0) {
            r->stream_stage = 1;
            if (r->meta.chat && push_event(r, bn_resp_chunk(&r->meta, 1, "", 0, BN_FINISH_NONE)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            test_gate("BN_SERVE_TEST_STREAM_GATE");
            continue;
        }
        idle_timeout(r, 0);
        char text[4096];
        size_t n = 0;
        bn_job_state st = bn_sched_wait(r->srv->sched, r->job, r->have, WAIT_S, text,
                                        sizeof text, &n);
        if (n) {
            r->have += n;
            if (push_event(r, bn_resp_chunk(&r->meta, 0, text, n, BN_FINISH_NONE)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (st == BN_JOB_DONE) {
            if (close_stream(r))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (peer_gone(r->c)) {
            bn_sched_cancel(r->srv->sched, r->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (bn_now_seconds() - r->last_write > KEEPALIVE_S &&
            push_event(r, strdup(": keep-alive\n\n")))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls)
{
    request_unref(cls);
}

/* A non-streamed completion: wait here (this is the connection's own thread)
 * until the job is done or the client leaves. */
static enum MHD_Result wait_whole(request *r)
{
    server *s = r->srv;
    char *text = NULL;
    size_t len = 0;
    char chunk[4096];
    double last_look = bn_now_seconds();
    for (;;) {
        size_t n = 0;
        bn_job_state st = bn_sched_wait(s->sched, r->job, len, WAIT_S, chunk, sizeof chunk, &n);
        if (n) {
            char *t = realloc(text, len + n);
            if (!t) {
                free(text);
                return fail(r, 500, "server_error", NULL, "out of memory");
            }
            text = t;
            memcpy(text + len, chunk, n);
            len += n;
        }
        if (st == BN_JOB_DONE)
            break;
        /* every WAIT_S even while text keeps coming: a generating job hands
         * out text at every step, and its client may still have left */
        double now = bn_now_seconds();
        if (!n || now - last_look >= WAIT_S) {
            last_look = now;
            if (!peer_gone(r->c))
                continue;
            bn_sched_cancel(s->sched, r->job);
            free(text);
            return MHD_NO; /* nobody to answer */
        }
    }
    idle_timeout(r, 1);
    bn_finish f;
    int n_gen, status;
    char msg[BN_ERROR_MSG_MAX];
    bn_sched_result(s->sched, r->job, &f, &n_gen, &status, msg, sizeof msg);
    note_ttft(s, r->job);
    if (status) {
        free(text);
        return fail(r, status, status == 504 ? "timeout_error" : "server_error",
                    status == 503 ? "1" : NULL, "%s", msg);
    }
    char *body = bn_resp_full(&r->meta, text ? text : "", len, f, r->n_prompt, n_gen);
    free(text);
    return reply_json(r, 200, body, NULL);
}

static enum MHD_Result post_completion(request *r, int chat)
{
    server *s = r->srv;
    bn_api_req q;
    bn_api_error e;
    if (bn_api_parse_completion(&s->ac, r->body, r->len, chat, &q, &e))
        return reply_error(r, &e, NULL);
    bn_gen *gen = NULL;
    bn_error err;
    bn_error_clear(&err);
    bn_status gst = bn_gen_new(s->model, &q.gp, &gen, &err);
    if (gst) {
        bn_api_req_free(&q);
        return fail(r, gst == BN_ENOMEM ? 500 : 400,
                    gst == BN_ENOMEM ? "server_error" : "invalid_request_error", NULL, "%s",
                    err.msg);
    }
    r->n_prompt = q.n_prompt;
    r->include_usage = q.include_usage;
    int stream = q.stream;
    bn_job *j = bn_job_new(q.prompt, q.n_prompt, gen, bn_now_seconds() + s->o.timeout_s);
    q.prompt = NULL; /* the job owns it now (or freed it) */
    bn_api_req_free(&q);
    if (!j)
        return fail(r, 500, "server_error", NULL, "out of memory");
    int sub = bn_sched_submit(s->sched, j);
    if (sub) {
        bn_sched_release(s->sched, j);
        if (sub == -2)
            return fail(r, 503, "unavailable_error", "1", "the server is shutting down");
        atomic_fetch_add(&s->rejected, 1);
        return fail(r, 503, "unavailable_error", "1",
                    "the server is busy: %d slots and %d queued requests are in use; retry later",
                    s->o.parallel, s->o.queue);
    }
    atomic_fetch_add(&s->completions, 1);
    r->job = j;
    snprintf(r->id, sizeof r->id, "%s-%llu", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)atomic_fetch_add(&s->ids, 1) + 1);
    r->meta = (bn_resp_meta){r->id, s->model_id, (long long)time(NULL), chat};
    idle_timeout(r, 0);
    if (!stream)
        return wait_whole(r);
    r->last_write = bn_now_seconds();
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, r, stream_free);
    if (!resp)
        return fail(r, 500, "server_error", NULL, "out of memory");
    atomic_fetch_add(&r->refs, 1);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result rc = MHD_queue_response(r->c, 200, resp);
    MHD_destroy_response(resp);
    count_code(s, 200);
    return rc;
}

static enum MHD_Result post_tokens(request *r, int detok)
{
    bn_api_error e;
    char *out = detok ? bn_api_detokenize(&r->srv->ac, r->body, r->len, &e)
                      : bn_api_tokenize(&r->srv->ac, r->body, r->len, &e);
    if (!out)
        return reply_error(r, &e, NULL);
    return reply_json(r, 200, out, NULL);
}

/* ---- routing --------------------------------------------------------------------------- */

typedef enum {
    R_PAGE, R_HEALTH, R_MODELS, R_METRICS, R_CHAT, R_COMPLETIONS, R_TOKENIZE, R_DETOKENIZE,
    R_NONE
} route;

static const struct {
    const char *path;
    route r;
    int post;
} routes[] = {
    {"/", R_PAGE, 0},
    {"/index.html", R_PAGE, 0},
    {"/health", R_HEALTH, 0},
    {"/v1/health", R_HEALTH, 0},
    {"/v1/models", R_MODELS, 0},
    {"/models", R_MODELS, 0},
    {"/metrics", R_METRICS, 0},
    {"/v1/chat/completions", R_CHAT, 1},
    {"/chat/completions", R_CHAT, 1},
    {"/v1/completions", R_COMPLETIONS, 1},
    {"/completions", R_COMPLETIONS, 1},
    {"/tokenize", R_TOKENIZE, 1},
    {"/detokenize", R_DETOKENIZE, 1},
};

static int find_route(const char *url)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(url, routes[i].path))
            return (int)i;
    return -1;
}

static void mark_in_request(server *s, struct MHD_Connection *c, int on)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (!ci || !ci->socket_context)
        return;
    pthread_mutex_lock(&s->conns_mu);
    conn *k = ci->socket_context;
    k->in_request = on;
    k->started = 0;
    k->served += !on;
    k->t0 = bn_now_seconds();
    pthread_mutex_unlock(&s->conns_mu);
}

/* libmicrohttpd's URI log hook, called once a request line has arrived and
 * before its headers: from now on the header deadline is this request's. */
static void *request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    server *s = cls;
    (void)uri;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) {
        pthread_mutex_lock(&s->conns_mu);
        conn *k = ci->socket_context;
        k->started = 1;
        k->t0 = bn_now_seconds();
        pthread_mutex_unlock(&s->conns_mu);
    }
    return NULL; /* the handler makes the request on its first call */
}

typedef struct {
    size_t bytes;
    unsigned n;
} header_sum;

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    header_sum *h = cls;
    (void)kind;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    h->n++;
    return MHD_YES;
}

/* 431 / 414 for requests over our limits (serve.h's error bodies, above). */
static enum MHD_Result check_sizes(request *r, const char *url, int *done)
{
    header_sum h = {0, 0}, q = {strlen(url), 0};
    MHD_get_connection_values(r->c, MHD_HEADER_KIND, add_header, &h);
    MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, add_header, &q);
    *done = 1;
    if (h.bytes > MAX_HEADER_BYTES || h.n > MAX_HEADERS)
        return fail(r, 431, "invalid_request_error", NULL,
                    "the request headers are %zu bytes in %u fields; the server accepts at "
                    "most %d bytes in %d fields",
                    h.bytes, h.n, MAX_HEADER_BYTES, MAX_HEADERS);
    if (q.bytes > MAX_URI_BYTES)
        return fail(r, 414, "invalid_request_error", NULL,
                    "the request target is about %zu bytes; the server accepts at most %d",
                    q.bytes, MAX_URI_BYTES);
    *done = 0;
    return MHD_YES;
}

/* The first call, once the headers are in: everything that can be refused
 * before reading a body is refused here. */
static enum MHD_Result first_call(request *r, const char *url, const char *method, int *done)
{
    server *s = r->srv;
    enum MHD_Result sized = check_sizes(r, url, done);
    if (*done)
        return sized;
    *done = 1;
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST");
    int k = find_route(url);
    if (k < 0)
        return fail(r, 404, "invalid_request_error", NULL, "no such endpoint: %s %.200s",
                    method, url);
    if (routes[k].post ? !post : !get) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s", routes[k].post ? "POST" : "GET, HEAD");
        bn_api_error e = {.status = 405, .type = "invalid_request_error"};
        snprintf(e.message, sizeof e.message, "%s %.200s is not allowed; use %s", method, url,
                 msg);
        char *j = bn_api_error_json(&e);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            j ? strlen(j) : 0, j ? j : (void *)"", j ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            free(j);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, msg);
        enum MHD_Result rc = MHD_queue_response(r->c, 405, resp);
        MHD_destroy_response(resp);
        count_code(s, 405);
        return rc;
    }
    route rt = routes[k].r;
    /* The page holds no data and has to load before the user can type a key;
     * everything else but /health needs the key. */
    if (rt != R_HEALTH && rt != R_PAGE && !authorized(r))
        return fail(r, 401, "invalid_request_error", NULL,
                    "a valid API key is required: send 'Authorization: Bearer KEY'");
    if (rt == R_HEALTH)
        return get_health(r);
    if (rt == R_PAGE)
        return reply(r, 200, "text/html; charset=utf-8", (const char *)bn_srv_page,
                     bn_srv_page_len, NULL);
    if (atomic_load(&s->draining))
        return fail(r, 503, "unavailable_error", "1", "the server is shutting down");
    if (!atomic_load(&s->ready))
        return fail(r, 503, "unavailable_error", "1", "loading model");
    if (rt == R_MODELS)
        return get_models(r);
    if (rt == R_METRICS)
        return get_metrics(r);
    const char *cl = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || end == cl || v > s->o.max_body)
            return fail(r, 413, "invalid_request_error", NULL,
                        "the request body is larger than the server's --max-body of %zu bytes",
                        s->o.max_body);
    }
    *done = 0;
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    server *s = cls;
    (void)version;
    request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->c = c;
        atomic_init(&r->refs, 1);
        *con_cls = r;
        atomic_fetch_add(&s->active, 1);
        mark_in_request(s, c, 1);
        int done;
        enum MHD_Result rc = first_call(r, url, method, &done);
        if (done)
            r->too_big = -1; /* answered: ignore any body */
        return rc;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big)
            return MHD_YES;
        if (r->len + n > s->o.max_body) {
            r->too_big = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n)
                cap *= 2;
            if (cap > s->o.max_body)
                cap = s->o.max_body;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->too_big < 0)
        return MHD_YES; /* already answered */
    if (r->too_big)
        return fail(r, 413, "invalid_request_error", NULL,
                    "the request body is larger than the server's --max-body of %zu bytes",
                    s->o.max_body);
    switch (find_route(url) >= 0 ? routes[find_route(url)].r : R_NONE) {
    case R_CHAT:
        return post_completion(r, 1);
    case R_COMPLETIONS:
        return post_completion(r, 0);
    case R_TOKENIZE:
        return post_tokens(r, 0);
    case R_DETOKENIZE:
        return post_tokens(r, 1);
    default:
        return fail(r, 500, "server_error", NULL, "unrouted request");
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    request *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->job) /* the client is gone */
        bn_sched_cancel(s->sched, r->job);
    mark_in_request(s, c, 0);
    atomic_fetch_sub(&s->active, 1);
    request_unref(r);
}

/* ---- connections and the header watchdog ------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn *k = calloc(1, sizeof *k);
        if (!k)
            return;
        k->fd = conn_fd(c);
        k->t0 = bn_now_seconds();
        pthread_mutex_lock(&s->conns_mu);
        k->next = s->conns;
        if (s->conns)
            s->conns->prev = k;
        s->conns = k;
        pthread_mutex_unlock(&s->conns_mu);
        *socket_context = k;
    } else if (*socket_context) {
        conn *k = *socket_context;
        pthread_mutex_lock(&s->conns_mu);
        if (k->prev)
            k->prev->next = k->next;
        else
            s->conns = k->next;
        if (k->next)
            k->next->prev = k->prev;
        pthread_mutex_unlock(&s->conns_mu);
        free(k);
        *socket_context = NULL;
    }
}

/* The 408 the watchdog writes: a whole response, made once. */
static bn_status make_408(server *s, bn_error *err)
{
    bn_api_error e = {.status = 408, .type = "timeout_error"};
    snprintf(e.message, sizeof e.message,
             "the request headers did not arrive within the server's --header-timeout of %u s",
             s->o.header_timeout_s);
    char *body = bn_api_error_json(&e);
    size_t cap = body ? strlen(body) + 256 : 0;
    s->resp_408 = body ? malloc(cap) : NULL;
    if (s->resp_408) {
        int n = snprintf(s->resp_408, cap,
                         "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         strlen(body), body);
        s->resp_408_len = n > 0 ? (size_t)n : 0;
    }
    free(body);
    return s->resp_408 ? BN_OK : bn_error_set(err, BN_ENOMEM, "out of memory");
}

/* A connection whose request headers have not arrived within header_timeout_s
 * is refused: a request begun (or the first one of the connection) gets a 408
 * and a half-close, and the socket is shut down LINGER_S later so the client
 * can read the 408; an idle keep-alive connection is just shut down, as a
 * reply there could be taken for the answer to a request crossing it.
 * libmicrohttpd then closes the socket. The entry is removed before the socket
 * is closed, so the descriptor is still this connection's. */
static void *watchdog(void *arg)
{
    server *s = arg;
    while (!atomic_load(&s->watchdog_stop)) {
        struct timespec ts = {0, (long)(WATCHDOG_S * 1e9)};
        nanosleep(&ts, NULL);
        double now = bn_now_seconds();
        pthread_mutex_lock(&s->conns_mu);
        for (conn *k = s->conns; k; k = k->next) {
            if (k->in_request || k->fd < 0)
                continue;
            if (k->t_408 > 0) {
                if (now - k->t_408 >= LINGER_S) {
                    shutdown(k->fd, SHUT_RDWR);
                    k->fd = -1;
                }
                continue;
            }
            if (now - k->t0 <= s->o.header_timeout_s)
                continue;
            if (k->started || !k->served) {
                /* best effort, non-blocking: a client that does not read loses it */
                (void)send(k->fd, s->resp_408, s->resp_408_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                shutdown(k->fd, SHUT_WR);
                k->t_408 = now;
                count_code(s, 408);
            } else {
                shutdown(k->fd, SHUT_RDWR);
                k->fd = -1;
            }
        }
        pthread_mutex_unlock(&s->conns_mu);
    }
    return NULL;
}

/* ---- the server's life --------------------------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap; /* libmicrohttpd's notes on misbehaving clients are not ours to print */
}

static bn_status start_http(server *s, bn_error *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    bn_status st = make_408(s, err);
    if (st)
        return st;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s->o.host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->o.port);
    } else if (inet_pton(AF_INET6, s->o.host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->o.port);
        flags |= MHD_USE_IPv6;
    } else {
        return bn_error_set(err, BN_EINVAL,
                            "--host '%s' is not a numeric IPv4 or IPv6 address", s->o.host);
    }
    s->d = MHD_start_daemon(
        flags, (uint16_t)s->o.port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_URI_LOG_CALLBACK, request_line, s, MHD_OPTION_CONNECTION_TIMEOUT,
        s->o.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT, s->o.max_conns,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, POOL_BYTES,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)512 * 1024, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_END);
    if (!s->d)
        return bn_error_set(err, BN_EIO, "cannot listen on %s port %d: %s", s->o.host,
                            s->o.port, errno ? strerror(errno) : "libmicrohttpd failed");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    if (di)
        s->o.port = di->port;
    if (pthread_create(&s->watchdog, NULL, watchdog, s) == 0)
        s->watchdog_on = 1;
    return BN_OK;
}

static bn_status write_port_file(const char *path, int port, bn_error *err)
{
    bn_atomic_file *af;
    bn_status st = bn_atomic_open(path, &af, err);
    if (st)
        return st;
    fprintf(bn_atomic_stream(af), "%d\n", port);
    return bn_atomic_commit(af, err);
}

static bn_status load(server *s, bn_error *err)
{
    test_gate("BN_SERVE_TEST_LOAD_GATE");
    bn_status st = bn_model_load(s->o.model_path, &s->o.mopts, &s->model, err);
    if (st)
        return st;
    const bn_hparams *hp = bn_model_hparams(s->model);
    if (!bn_model_tokenizer(s->model))
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "%s: the model has no tokenizer (tokenizer.ggml.*); bn-serve needs one",
                            s->o.model_path);
    int from_model = 0;
    if (s->o.chat_template)
        st = bn_chat_tpl_parse(s->o.chat_template, &s->ac.tpl, err);
    else
        st = bn_chat_detect(s->model, &s->ac.tpl, &from_model, err);
    if (st)
        return st;
    /* -c is the whole cache, split across the slots, as llama-server's -c; by
     * default the model's training context (a slot never gets more than that) */
    int total = s->o.n_ctx > 0 ? s->o.n_ctx : hp->n_ctx_train > 0 ? hp->n_ctx_train : 4096;
    int per = total / s->o.parallel;
    if (per > hp->n_ctx_train && hp->n_ctx_train > 0)
        per = hp->n_ctx_train;
    if (per < 8)
        return bn_error_set(err, BN_EINVAL,
                            "-c %d over %d slots leaves %d positions per slot; at least 8 are "
                            "needed (raise -c or lower --parallel)",
                            total, s->o.parallel, per);
    s->ac.model = s->model;
    s->ac.n_ctx_slot = per;
    bn_sched_opts so = {s->o.parallel, s->o.queue, per, s->o.prefill_chunk, s->o.kv};
    st = bn_sched_new(s->model, &so, &s->sched, err);
    if (st)
        return st;
    fprintf(stderr,
            "bn-serve: %s: %d slots of %d positions, chat template %s (%s), kernel %s, %d "
            "threads\n",
            s->model_id, s->o.parallel, per, bn_chat_tpl_name(s->ac.tpl),
            s->o.chat_template ? "--chat-template" : from_model ? "from the model" : "default",
            bn_model_kernel(s->model), bn_model_n_threads(s->model));
    return BN_OK;
}

int bn_srv_run(const bn_srv_opts *o, bn_error *err)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    server *s = calloc(1, sizeof *s);
    if (!s) {
        bn_error_set(err, BN_ENOMEM, "out of memory");
        return 3;
    }
    s->o = *o;
    pthread_mutex_init(&s->conns_mu, NULL);
    const char *base = strrchr(o->model_path, '/');
    snprintf(s->model_id, sizeof s->model_id, "%s",
             o->alias ? o->alias : base ? base + 1 : o->model_path);
    for (char *p = s->model_id; *p; p++) /* the id goes into JSON unescaped */
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '_';

    bn_status st = start_http(s, err);
    if (!st) {
        fprintf(stderr, "bn-serve: listening on http://%s%s%s:%d/ (loading %s)\n",
                strchr(s->o.host, ':') ? "[" : "", s->o.host, strchr(s->o.host, ':') ? "]" : "",
                s->o.port, o->model_path);
        if (o->port_file)
            st = write_port_file(o->port_file, s->o.port, err);
    }
    if (!st)
        st = load(s, err);
    if (!st) {
        atomic_store(&s->ready, 1);
        fprintf(stderr, "bn-serve: ready\n");
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "bn-serve: %s: finishing in-flight requests (up to %.0f s)\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM", o->drain_s);
        atomic_store(&s->draining, 1);
        /* no new connections; requests on open ones get 503 */
        MHD_socket lfd = MHD_quiesce_daemon(s->d);
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
        double t0 = bn_now_seconds();
        bn_sched_drain(s->sched, o->drain_s);
        /* let handlers hand out what the scheduler finished */
        while (atomic_load(&s->active) > 0 && bn_now_seconds() - t0 < o->drain_s + 2) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (s->watchdog_on) {
        atomic_store(&s->watchdog_stop, 1);
        pthread_join(s->watchdog, NULL);
    }
    if (s->d)
        MHD_stop_daemon(s->d);
    bn_sched_free(s->sched);
    bn_model_free(s->model);
    pthread_mutex_destroy(&s->conns_mu);
    free(s->resp_408);
    free(s);
    if (!st)
        fprintf(stderr, "bn-serve: stopped\n");
    return st ? (st == BN_EIO || st == BN_ENOMEM ? 3 : 2) : 0;
}
