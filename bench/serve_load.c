/* serve_load.c - one round of N concurrent streamed completions against an
 * OpenAI-compatible server on loopback (bn-serve or llama-server), for
 * scripts/bench_serve.sh. A benchmark driver, not a test; figures go in
 * closing notes.
 *
 *   serve_load --url http://127.0.0.1:PORT --streams N [--prompt-tokens 33]
 *              [--gen 32] [--vocab 128256] [--round R]
 *
 * Every stream sends a prompt of token ids (the same length for every stream,
 * different ids per stream and round, so both servers see exactly the same
 * tokens and no prompt cache helps), asks for --gen tokens with ignore_eos and
 * greedy sampling, and records when its first text arrived and when it ended.
 * The streams start together (a barrier). Prints one JSON line: aggregate
 * generated tokens/s (all streams' tokens over the round's wall time) and the
 * median and maximum time to first token. Token counts come from the server
 * (OpenAI's usage chunk, or llama-server's tokens_predicted); a server that
 * reports none is counted as having produced --gen. Every read has a timeout
 * (SO_RCVTIMEO), so a round always ends. Exit 0, 1 when a stream failed, 2
 * bad usage. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cJSON.h>

#include "bench_util.h"

#define IO_TIMEOUT_S 600
#define MAX_STREAMS 256

typedef struct {
    struct sockaddr_in addr;
    char host[64];
    int streams, prompt_tokens, gen, vocab, round;
} opts;

typedef struct {
    const opts *o;
    int index;
    pthread_barrier_t *start;
    /* results */
    double t0, t_first, t1;   /* seconds (CLOCK_MONOTONIC) */
    int n_gen, n_prompt;      /* -1: the server did not say */
    char err[256];
} stream;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the response: headers, chunked framing, SSE lines -------------------------------- */

typedef struct {
    stream *s;
    char *head;               /* header bytes until the blank line */
    size_t head_len;
    int in_body, chunked, status;
    /* chunked framing: 0 size line, 1 data, 2 the CRLF after data, 3 done */
    int ch_state;
    size_t ch_left;
    char ch_line[32];
    size_t ch_line_len;
    char *line;               /* the SSE line being assembled */
    size_t line_len, line_cap;
    int done;                 /* data: [DONE] seen */
} reader;

static int on_event(reader *r, const char *data)
{
    stream *s = r->s;
    if (!strcmp(data, "[DONE]")) {
        r->done = 1;
        return 0;
    }
    cJSON *j = cJSON_Parse(data);
    if (!j) {
        snprintf(s->err, sizeof s->err, "an event that is not JSON: %.80s", data);
        return -1;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e) {
        char *t = cJSON_PrintUnformatted(e);
        snprintf(s->err, sizeof s->err, "error event: %.200s", t ? t : "?");
        free(t);
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    if (cJSON_IsNumber(ct))
        s->n_gen = ct->valueint;
    if (cJSON_IsNumber(pt))
        s->n_prompt = pt->valueint;
    /* llama-server's native stream: {"content", "stop", "tokens_predicted", ...} */
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(j, "tokens_predicted");
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(j, "tokens_evaluated");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stop")) && cJSON_IsNumber(tp)) {
        s->n_gen = tp->valueint;
        if (cJSON_IsNumber(te))
            s->n_prompt = te->valueint;
    }
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    const cJSON *text = ch ? cJSON_GetObjectItemCaseSensitive(ch, "text")
                           : cJSON_GetObjectItemCaseSensitive(j, "content");
    if (s->t_first == 0 && cJSON_IsString(text) && text->valuestring[0])
        s->t_first = now_s();
    cJSON_Delete(j);
    return 0;
}

/* Body bytes after the chunked framing is taken off. */
static int body_bytes(reader *r, const char *p, size_t n)
{
    for (size_t i = 0; i < n && !r->done; i++) {
        if (p[i] != '\n') {
            if (r->line_len + 2 > r->line_cap) {
                size_t cap = r->line_cap ? r->line_cap * 2 : 4096;
                char *l = realloc(r->line, cap);
                if (!l) {
                    snprintf(r->s->err, sizeof r->s->err, "out of memory");
                    return -1;
                }
                r->line = l;
                r->line_cap = cap;
            }
            r->line[r->line_len++] = p[i];
            continue;
        }
        if (r->line_len && r->line[r->line_len - 1] == '\r')
            r->line_len--;
        if (!r->line)
            continue;
        r->line[r->line_len] = 0;
        int rc = r->line_len > 6 && !strncmp(r->line, "data: ", 6) ? on_event(r, r->line + 6) : 0;
        r->line_len = 0;
        if (rc)
            return rc;
    }
    return 0;
}

static int unchunk(reader *r, const char *p, size_t n)
{
    if (!r->chunked)
        return body_bytes(r, p, n);
    size_t i = 0;
    while (i < n && r->ch_state != 3) {
        if (r->ch_state == 0) { /* "HEX[;ext]\r\n" */
            char c = p[i++];
            if (c != '\n') {
                if (r->ch_line_len + 1 < sizeof r->ch_line)
                    r->ch_line[r->ch_line_len++] = c;
                continue;
            }
            r->ch_line[r->ch_line_len] = 0;
            r->ch_line_len = 0;
            char *end;
            r->ch_left = (size_t)strtoull(r->ch_line, &end, 16);
            if (end == r->ch_line) {
                snprintf(r->s->err, sizeof r->s->err, "bad chunk size line '%s'", r->ch_line);
                return -1;
            }
            r->ch_state = r->ch_left ? 1 : 3;
        } else if (r->ch_state == 1) {
            size_t k = n - i < r->ch_left ? n - i : r->ch_left;
            if (body_bytes(r, p + i, k))
                return -1;
            i += k;
            r->ch_left -= k;
            if (!r->ch_left) {
                r->ch_state = 2;
                r->ch_left = 2;
            }
        } else { /* the CRLF after a chunk's data */
            i++;
            if (--r->ch_left == 0)
                r->ch_state = 0;
        }
    }
    return 0;
}

static int head_bytes(reader *r, const char *p, size_t n, size_t *used)
{
    *used = 0;
    while (*used < n) {
        char *h = realloc(r->head, r->head_len + 2);
        if (!h)
            return -1;
        r->head = h;
        r->head[r->head_len++] = p[(*used)++];
        r->head[r->head_len] = 0;
        if (r->head_len >= 4 && !memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4)) {
            r->in_body = 1;
            const char *sp = strchr(r->head, ' '); /* "HTTP/1.1 200 OK" */
            r->status = sp ? (int)strtol(sp + 1, NULL, 10) : 0;
            for (char *l = strstr(r->head, "\r\n"); l; l = strstr(l + 2, "\r\n"))
                if (!strncasecmp(l + 2, "transfer-encoding:", 18) && strstr(l + 2, "chunked"))
                    r->chunked = 1;
            return 0;
        }
        if (r->head_len > 65536)
            return -1;
    }
    return 0;
}

/* ---- one stream ------------------------------------------------------------------------ */

static char *request_body(const opts *o, int index)
{
    cJSON *b = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(b, "prompt");
    /* distinct prompts per stream and round, fixed length, clear of the special ids */
    long seed = 1 + index + 1000L * o->round;
    for (int k = 0; k < o->prompt_tokens; k++)
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)((seed * 7919 + k * 104729L) %
                                                              (o->vocab - 300) + 256)));
    cJSON_AddNumberToObject(b, "max_tokens", o->gen);
    cJSON_AddNumberToObject(b, "temperature", 0);
    cJSON_AddTrueToObject(b, "ignore_eos");
    cJSON_AddTrueToObject(b, "stream");
    cJSON_AddTrueToObject(cJSON_AddObjectToObject(b, "stream_options"), "include_usage");
    cJSON_AddFalseToObject(b, "cache_prompt");
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return s;
}

static int run_stream(stream *s)
{
    const opts *o = s->o;
    char *body = request_body(o, s->index);
    if (!body) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return -1;
    }
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                      "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      o->host, strlen(body));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {IO_TIMEOUT_S, 0};
    reader r = {.s = s};
    int rc = -1;
    s->t0 = now_s();
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) ||
        connect(fd, (const struct sockaddr *)&o->addr, sizeof o->addr)) {
        snprintf(s->err, sizeof s->err, "connect: %s", strerror(errno));
        goto out;
    }
    if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
        send(fd, body, strlen(body), MSG_NOSIGNAL) != (ssize_t)strlen(body)) {
        snprintf(s->err, sizeof s->err, "send: %s", strerror(errno));
        goto out;
    }
    char buf[16384];
    while (!r.done && r.ch_state != 3) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            snprintf(s->err, sizeof s->err, "recv: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        size_t used = 0;
        if (!r.in_body && head_bytes(&r, buf, (size_t)n, &used)) {
            snprintf(s->err, sizeof s->err, "bad response headers");
            goto out;
        }
        if (r.in_body && r.status != 200) {
            snprintf(s->err, sizeof s->err, "HTTP %d: %.*s", r.status, (int)((size_t)n - used),
                     buf + used);
            goto out;
        }
        if (r.in_body && unchunk(&r, buf + used, (size_t)n - used))
            goto out;
    }
    if (!r.done && !s->err[0] && s->n_gen < 0)
        snprintf(s->err, sizeof s->err, "the stream ended without data: [DONE]");
    rc = s->err[0] ? -1 : 0;
out:
    s->t1 = now_s();
    if (fd >= 0)
        close(fd);
    free(body);
    free(r.head);
    free(r.line);
    return rc;
}

static void *stream_main(void *arg)
{
    stream *s = arg;
    pthread_barrier_wait(s->start);
    run_stream(s);
    return NULL;
}

/* ---- main ---------------------------------------------------------------------------- */

static int int_arg(const char *name, const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        fprintf(stderr, "serve_load: %s '%s' is not an integer in [%d, %d]\n", name, v, lo, hi);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int parse_url(const char *url, opts *o)
{
    char ip[48] = "";
    const char *h = !strncmp(url, "http://", 7) ? url + 7 : NULL;
    const char *colon = h ? strchr(h, ':') : NULL;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon && (size_t)(colon - h) < sizeof ip)
        memcpy(ip, h, (size_t)(colon - h));
    if (!colon || !end || (*end && strcmp(end, "/") != 0) || port <= 0 || port > 65535 ||
        inet_pton(AF_INET, ip, &o->addr.sin_addr) != 1) {
        fprintf(stderr, "serve_load: --url '%s' is not http://IPv4:PORT\n", url);
        return -1;
    }
    o->addr.sin_family = AF_INET;
    o->addr.sin_port = htons((uint16_t)port);
    snprintf(o->host, sizeof o->host, "%s:%ld", ip, port);
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {.streams = 1, .prompt_tokens = 33, .gen = 32, .vocab = 128256};
    int have_url = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "serve_load: %s needs a value\n", a);
            return 2;
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--url"))
            bad = parse_url(v, &o), have_url = 1;
        else if (!strcmp(a, "--streams"))
            bad = int_arg(a, v, 1, MAX_STREAMS, &o.streams);
        else if (!strcmp(a, "--prompt-tokens"))
            bad = int_arg(a, v, 1, 4096, &o.prompt_tokens);
        else if (!strcmp(a, "--gen"))
            bad = int_arg(a, v, 1, 4096, &o.gen);
        else if (!strcmp(a, "--vocab"))
            bad = int_arg(a, v, 512, 1 << 24, &o.vocab);
        else if (!strcmp(a, "--round"))
            bad = int_arg(a, v, 0, 1000000, &o.round);
        else {
            fprintf(stderr, "serve_load: unknown option '%s'\n", a);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (!have_url) {
        fprintf(stderr, "usage: serve_load --url http://127.0.0.1:PORT --streams N "
                        "[--prompt-tokens 33] [--gen 32] [--vocab 128256] [--round R]\n");
        return 2;
    }
    stream *s = calloc((size_t)o.streams, sizeof *s);
    pthread_t *th = calloc((size_t)o.streams, sizeof *th);
    pthread_barrier_t start;
    if (!s || !th || pthread_barrier_init(&start, NULL, (unsigned)o.streams)) {
        fprintf(stderr, "serve_load: out of memory\n");
        return 1;
    }
    for (int i = 0; i < o.streams; i++) {
        s[i] = (stream){.o = &o, .index = i, .start = &start, .n_gen = -1, .n_prompt = -1};
        if (pthread_create(&th[i], NULL, stream_main, &s[i])) {
            fprintf(stderr, "serve_load: cannot start %d threads\n", o.streams);
            return 1; /* the started ones wait at the barrier: exit ends them */
        }
    }
    for (int i = 0; i < o.streams; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    double t0 = s[0].t0, t1 = s[0].t1;
    long tokens = 0;
    int counted = 0, n_prompt = -1;
    double ttft[MAX_STREAMS] = {0};
    for (int i = 0; i < o.streams; i++) {
        if (s[i].err[0]) {
            char msg[300];
            snprintf(msg, sizeof msg, "stream %d: %s", i, s[i].err);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "error", msg);
            char *t = cJSON_PrintUnformatted(e);
            printf("%s\n", t ? t : "{\"error\":\"out of memory\"}");
            free(t);
            cJSON_Delete(e);
            return 1;
        }
        t0 = s[i].t0 < t0 ? s[i].t0 : t0;
        t1 = s[i].t1 > t1 ? s[i].t1 : t1;
        tokens += s[i].n_gen >= 0 ? s[i].n_gen : o.gen;
        counted += s[i].n_gen >= 0;
        if (s[i].n_prompt >= 0)
            n_prompt = s[i].n_prompt;
        ttft[i] = (s[i].t_first ? s[i].t_first : s[i].t1) - s[i].t0;
    }
    qsort(ttft, (size_t)o.streams, sizeof ttft[0], bench_cmp_double);
    int m = o.streams;
    double med = m % 2 ? ttft[m / 2] : (ttft[m / 2 - 1] + ttft[m / 2]) / 2;
    double wall = t1 - t0;
    printf("{\"streams\":%d,\"tokens\":%ld,\"wall_s\":%.4f,\"agg_tps\":%.3f,"
           "\"ttft_median_s\":%.4f,\"ttft_max_s\":%.4f,\"counted\":%d,\"prompt_tokens\":%d}\n",
           o.streams, tokens, wall, wall > 0 ? (double)tokens / wall : 0.0, med, ttft[m - 1],
           counted, n_prompt);
    free(s);
    free(th);
    return 0;
}
